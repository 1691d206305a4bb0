"""A one-rank torch.distributed world (gloo, CPU) for the tests and for the truth scripts that measure Megatron-Core
on one rank (tests/make_mcore_glu_activations.py, its ``measure_one_rank`` also for make_mcore_qknorm_activations.py,
and make_mcore_recompute_activations.py). Until code42 the scripts set the world up by hand beside conftest's helper; this
module imports neither pytest nor torch at load, so a script run by hand imports it as the tests do (through
conftest)."""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Optional


@contextlib.contextmanager
def one_rank_group(rendezvous: Optional[Path] = None, megatron: bool = False):
    """torch.distributed's default group as one CPU rank (gloo, a file rendezvous under ``rendezvous``: a test's
    ``tmp_path``; None, a temporary folder removed on exit) for the ``with`` block; with ``megatron``, also
    Megatron-Core's ``parallel_state`` at TP = PP = 1 (``initialize_model_parallel(1, 1)``), the state its
    tensor-parallel layers and vocab-parallel losses read. Yields ``parallel_state`` (None without ``megatron``). Both
    are taken down on exit, also when ``initialize_model_parallel`` refuses, so the next test may init its own
    (conftest ``_take_down_process_groups`` is the net for tests that fail outside such a block). torch and
    megatron.core are imported here: tests ``pytest.importorskip`` them first."""
    with contextlib.ExitStack() as stack:
        where = Path(rendezvous) if rendezvous is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        yield from _group(where, megatron)


def _group(where: Path, megatron: bool):
    import torch.distributed as dist

    ps = None
    if megatron:
        from megatron.core import parallel_state as ps
    dist.init_process_group("gloo", init_method=f"file://{where / 'pg'}", rank=0, world_size=1)
    try:
        if ps is not None:
            ps.initialize_model_parallel(1, 1)
        yield ps
    finally:
        if ps is not None:
            ps.destroy_model_parallel()
        dist.destroy_process_group()
