"""planner: GPU capacity planner and training cost/throughput simulator."""
import os as _os
import sys as _sys

__version__ = "0.1.0"

#: the OpenBLAS thread count the planner runs numpy's linear algebra at, unless the user set one
BLAS_THREADS = "1"


def _numpy_on_one_blas_thread() -> None:
    """Load numpy with its OpenBLAS on one thread, where nothing loaded numpy before and the user set no count.

    The planner's matrices are small: the largest are the serving screen's join-the-shortest-queue chain
    (``workloads.serving_queue.jsq_wait_probability``: an inverse of up to ~160 x 160 a level, a few hundred levels).
    OpenBLAS splits such a matrix over every core and spins its threads between calls, and on a busy machine that
    cost more than the arithmetic: ``serve`` of the chat example at ``serving.max_batch: 1`` (131-278 one-slot
    replicas an option) took 49 s of CPU and 145 s of wall time on 2 loaded cores, 7.7 s and 20 s on one thread, the
    same bytes out (QA 64; the chain at 278 replicas 2.55 -> 0.10 s of CPU). OpenBLAS reads ``OPENBLAS_NUM_THREADS``
    once, when the library loads (OpenBLAS README, "Setting the number of threads using environment variables"), so
    the variable is set while numpy's own module runs and put back after it -- when something first imports numpy, not
    when planner is imported, so `planner --help` and `planner catalog` still load no numpy (tests/test_cli_entry.py): processes the planner starts (torch in
    ``planner calibrate``, a launcher) see the environment the user gave. A count the user set is kept; a process that
    imported numpy first (streamlit's, a notebook's) keeps the threads it has."""
    if "numpy" in _sys.modules or "OPENBLAS_NUM_THREADS" in _os.environ:
        return
    _sys.meta_path.insert(0, _OneBlasThreadFinder())


class _OneBlasThreadLoader:
    """numpy's own loader, run with ``OPENBLAS_NUM_THREADS`` set (numpy's __init__ loads OpenBLAS)."""

    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        if "OPENBLAS_NUM_THREADS" in _os.environ:  # the user's count, set since planner was imported
            return self.inner.exec_module(module)
        _os.environ["OPENBLAS_NUM_THREADS"] = BLAS_THREADS
        try:
            self.inner.exec_module(module)
        finally:
            del _os.environ["OPENBLAS_NUM_THREADS"]


class _OneBlasThreadFinder:
    """Finds numpy as the path finder does, once, and wraps its loader (importlib's meta path protocol)."""

    def find_spec(self, name, path=None, target=None):
        if name != "numpy":
            return None
        _sys.meta_path.remove(self)
        from importlib.machinery import PathFinder
        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _OneBlasThreadLoader(spec.loader)
        return spec


_numpy_on_one_blas_thread()
