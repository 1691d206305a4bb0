"""Keep freed numpy temporaries in the process heap: the search's arrays are allocated and freed by the
hundred per call, and glibc's default policy hands most of them back to the kernel.

glibc malloc serves a request of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB, raised dynamically up to
32 MiB as such blocks are freed) with a fresh ``mmap`` and unmaps it on free, and returns the top of the heap
to the kernel once more than ``M_TRIM_THRESHOLD`` bytes (twice the mmap threshold) are free there (mallopt(3),
"M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD"). A vectorised evaluation of 10^5-10^6 candidates makes hundreds of
temporaries of 1-8 MB each; under the default policy most of them come from pages the kernel must map and
zero again (a page fault per 4 KiB page), which costs about as much as the arithmetic on them: on the 2-vCPU
VM of the README's "Speed" section the memory + step-time core ran at about half the rate it reaches when
the freed blocks stay in the heap (``benchmarks/bench_search.py``).

``keep_freed_memory`` raises both thresholds with ``mallopt`` so that blocks up to ``MMAP_THRESHOLD`` come
from the heap and up to ``TRIM_THRESHOLD`` of free heap stays mapped for reuse. It changes where memory comes
from, never a number the planner computes. The CLI (``planner.cli.main``) and the benchmark call it; a
program importing ``planner`` keeps its own allocator policy unless it calls it too. Elsewhere than glibc
(musl, macOS, Windows) it does nothing.

It also stops numpy advising the kernel to back its large arrays with transparent huge pages (``small_pages``):
numpy calls ``madvise(MADV_HUGEPAGE)`` on every array of 4 MiB or more (numpy's "Global state" page, "madvise
hugepage on Linux"), and where the kernel's policy is ``madvise`` (``/sys/kernel/mm/transparent_hugepage/enabled``,
the usual default) each 2 MiB page the heap grows into is then found and zeroed at its first touch. On the README's
2-vCPU VM that was the one-call line's missing half: one ``step_time`` call on 10^6 rows writes ~45 result columns of
8 MB into fresh heap, and took 0.67-1.32 s of system time in ~27,000 page faults under numpy's advice against
0.16-0.18 s in ~71,000 4 KiB faults without it (perf50, ``getrusage``), while a call that reuses freed heap
(every block of ``layout.in_blocks``, the search's chunks) is unchanged: its pages are already mapped.
"""
from __future__ import annotations

import ctypes
import os
import sys

#: mallopt parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap: glibc accepts at most HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit
#: (malloc.c ``do_set_mmap_threshold``), the size of a 4M-row float64 column
MMAP_THRESHOLD = 32 << 20
#: free heap kept mapped before glibc trims it
TRIM_THRESHOLD = 256 << 20

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set the glibc malloc thresholds above (once per process); True where they took effect."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if sys.platform.startswith("linux"):
        try:
            mallopt = ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):  # not glibc
            return _done
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        small_pages()
    return _done


def small_pages() -> bool:
    """Stop numpy's ``madvise(MADV_HUGEPAGE)`` on its large arrays for the rest of the process (see the module's
    docstring); True where numpy has the switch. numpy documents the setting as the environment variable
    ``NUMPY_MADVISE_HUGEPAGE``, read once at its import (too early for a program that imports ``planner``), and sets
    it at run time with ``_set_madvise_hugepage`` (numpy/_core/multiarray, added with the variable in numpy PR
    #15769 and still there in the pinned 2.4); a numpy without it keeps its advice. Where numpy is not imported yet
    (``planner --help``, ``planner catalog``: commands that never load it, test_cli_entry) the variable is set for
    its import instead, unless the user set it."""
    np = sys.modules.get("numpy")
    if np is None:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
        return True
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    switch = getattr(switch, "_set_madvise_hugepage", None)
    if switch is None:
        return False
    switch(False)
    return True
