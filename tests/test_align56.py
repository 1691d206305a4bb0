"""Megatron-Core's aligned per-chunk parameter all-gather on the interleaved schedule (``align_param_gather``).

schedules.py dispatches chunks 0 and 1's ``start_param_sync`` at the step's start and chunk k + 1's at chunk k's first
forward, every PP stage together; each chunk's buckets go out at once in reverse layer order, so the first stage waits
for chunk 0's whole gather and each later chunk's gather hides under the pp chunk forwards before it
(pipeline.aligned_gather_exposed). Megatron-LM's CLI defaults to it, Megatron-Bridge / NeMo 2 set it at PP > 1 and
VP > 1; NeMo 1.x rows run without it (benchmarks/validate.py ``nemo1_run``). Together AI's DGX B200 Nemotron-4 340B
(TP 8 PP 4 VP 12, DP 8 over InfiniBand) paid 0.37 s of a 0.45 s gather under the one-forward window."""
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from planner.model import stacks
from planner.model.pipeline import aligned_gather_exposed
from test_acc41a import _row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import validate  # noqa: E402


def test_first_chunk_whole_then_what_the_pp_chunk_forwards_leave():
    # g = 1.2 / 12 = 0.1 a chunk, f = 0.6 / 12 = 0.05: pp 4 chunk forwards (0.2) hide each later chunk's gather
    assert float(aligned_gather_exposed(1.2, 0.6, 4, 12)) == pytest.approx(0.1)
    # g = 1.0, pp f = 0.4: chunk 0 whole, then 0.6 past each of the 11 later chunks' windows
    assert float(aligned_gather_exposed(12.0, 1.2, 4, 12)) == pytest.approx(1.0 + 11 * 0.6)
    # a deeper pipeline gives each later chunk more forwards to hide under
    assert float(aligned_gather_exposed(12.0, 1.2, 8, 12)) < float(aligned_gather_exposed(12.0, 1.2, 4, 12))


def test_megatron_core_aligns_and_hides_the_340b_gather(catalog):
    core = stacks.resolve("megatron-core")
    assert core.align_param_gather
    # (off: NeMo 1.x's own sync, the one-forward window; Megatron-Core's unaligned dispatch is align57's)
    on, off = _row(catalog, core), _row(catalog, replace(core, align_param_gather=False, apex_param_sync=True))
    gather = float(_row(catalog, replace(core, overlap_param_gather=False))["t_param_gather_exposed"][0])  # all exposed
    t_fwd = float(on["t_fwd_mb"][0])
    want = float(aligned_gather_exposed(gather, t_fwd, 4, 12))
    got = float(on["t_param_gather_exposed"][0])
    assert want <= got <= want * 1.05  # plus the hidden part's NCCL SM cost
    assert float(off["t_param_gather_exposed"][0]) == pytest.approx(gather - t_fwd, rel=0.05)  # one forward's window
    assert float(off["step_time_s"][0] - on["step_time_s"][0]) > 0.15
    # the 1F1B schedule (v = 1) has no aligned dispatch: the flag changes nothing there
    assert float(_row(catalog, core, vpp=1)["step_time_s"][0]) == pytest.approx(
        float(_row(catalog, replace(core, align_param_gather=False), vpp=1)["step_time_s"][0]))


@pytest.mark.parametrize("row, nemo1", [
    (SimpleNamespace(container="nvcr.io/nvidia/nemo:24.09 (NeMo Launcher, Megatron-Core GPT)", source="dgxc"), True),
    (SimpleNamespace(container="nvcr.io/nvidia/nemo:25.04.00 (NeMo 2, Megatron-Core)", source="dgxc"), False),
    (SimpleNamespace(source="NVIDIA/NeMo docs/source/performance/performance_summary.md, final version (commit "
                            "2fca28a0, NeMo 24.07 container; same numbers on docs.nvidia.com NeMo 24.12 user guide)"), True),
    (SimpleNamespace(container="Megatron-Bridge 26.02 (llmb-run)", source="together"), False),
])
def test_nemo1_rows_run_without_the_aligned_gather(row, nemo1):
    assert validate.nemo1_run(row) is nemo1
    assert "align_param_gather" in validate.ROW_STACK_FIELDS


def test_job_option_resolves_refuses_and_is_said():
    """``training.framework.align_param_gather`` is the job's switch on the Megatron-Core stacks (Megatron-LM's
    ``--no-align-param-gather``, NeMo 1.x's default): resolved onto the stack, said in the stack line where off on a
    pipeline, refused in one line on a stack without Megatron-Core's distributed optimizer."""
    from planner.errors import InputError
    from planner.spec.schema import FrameworkSpec

    assert FrameworkSpec(name="megatron-core", align_param_gather=False).align_param_gather is False
    off = stacks.resolve("megatron-bridge", align_param_gather=False)
    assert off.align_param_gather is False and stacks.resolve("nemo").align_param_gather
    assert "align_param_gather=off" in off.describe("bf16", recompute="full", pp=4)
    assert "align_param_gather" not in stacks.resolve("megatron-core").describe("bf16", recompute="full", pp=4)
    for name in ("torchtitan", "deepspeed", "megatron-lm"):
        with pytest.raises(InputError) as e:
            stacks.resolve(name, align_param_gather=True)  # (false there is what the stack does: accepted)
        assert e.value.field == "training.framework.align_param_gather"


def test_job_option_moves_the_interleaved_step(catalog):
    """The option reaches the step time: off, the 340B row's gather hides under one forward only."""
    on = _row(catalog, stacks.resolve("megatron-core"))
    off = _row(catalog, stacks.resolve("megatron-core", align_param_gather=False))
    assert float(off["step_time_s"][0] - on["step_time_s"][0]) > 0.15
