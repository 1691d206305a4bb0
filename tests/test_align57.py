"""Megatron-Core's unaligned interleaved parameter all-gather and ``overlap_param_gather_with_optimizer_step``.

Unaligned (``--no-align-param-gather``) nothing dispatches a chunk's gather before its first forward: the forward
pre-hook's ``finish_param_sync`` dispatches and waits, chunk 0 bucket by bucket under its own forward, every later
chunk one bucket (``disable_bucketing=(model_chunk_idx > 0)``) waited on whole, on each stage after micro-batch 0
arrives (pipeline.unaligned_gather_exposed). With ``overlap_param_gather_with_optimizer_step`` chunk 0's gather goes out
after its own optimizer's step, under the other chunks' (pipeline.optimizer_step_gather_head)."""
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from planner.errors import InputError
from planner.model import pipeline, stacks
from planner.model.pipeline import aligned_gather_exposed, optimizer_step_gather_head, unaligned_gather_exposed
from planner.spec.schema import FrameworkSpec
from test_acc41a import _row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import validate  # noqa: E402


def test_unaligned_waits_every_stage_for_each_chunk():
    # g = 12 / 12 = 1.0 a chunk, f = 1.2 / 12 = 0.1; chunk 0's 24 / 12 = 2 buckets: max(0.5, 0.9) = 0.9 exposed;
    # each of the 11 later chunks whole: pp (0.9 + 11) on the fill's path
    assert float(unaligned_gather_exposed(12.0, 1.2, 4, 12, 24)) == pytest.approx(4 * (0.9 + 11 * 1.0))
    # chunk 0 under the optimizer step (head 0.4): one wait of 0.6, the later chunks' as before
    assert float(unaligned_gather_exposed(12.0, 1.2, 4, 12, 24, head=0.4)) == pytest.approx(0.6 + 4 * 11 * 1.0)
    # aligned with the head: chunk 0's wait shrinks by it, the later chunks' windows stay
    assert float(aligned_gather_exposed(12.0, 1.2, 4, 12, 0.4)) == pytest.approx(0.6 + 11 * 0.6)
    assert float(aligned_gather_exposed(12.0, 1.2, 4, 12, 5.0)) == pytest.approx(11 * 0.6)
    assert float(optimizer_step_gather_head(1.2, 12)) == pytest.approx(1.1)  # the other 11 chunks' step


def _chunk_leads_makespan(pp, m, v, leads):
    """The interleaved list schedule with a wait on micro-batch 0 of chunk c (``leads[c]``) on every stage."""
    for extra in range(0, m * v + 1):
        try:
            orders = pipeline.stage_orders("interleaved", pp, m, v, extra, None)
            end, clock = {}, [0.0] * pp

            def run_op(s, op):
                kind, mb, c = op
                vs = c * pp + s
                if kind == "F":
                    dep = end.get(("F", mb, vs - 1)) if vs > 0 else 0.0
                    dur = 1.0 / v + (leads[c] if mb == 0 else 0.0)
                else:
                    dep = end.get(("B", mb, vs + 1)) if vs < pp * v - 1 else end.get(("F", mb, vs))
                    dur = 2.0 / v
                if dep is None:
                    return False
                clock[s] = max(clock[s], dep) + dur
                end[(kind, mb, vs)] = clock[s]
                return True

            pipeline._sweep(orders, run_op, "deadlock")
            return max(clock)
        except pipeline._Deadlock:
            continue


@pytest.mark.parametrize("pp, m, v", [(4, 16, 3), (2, 8, 4)])
def test_list_schedule_pays_every_stages_chunk_waits(pp, m, v):
    # what unaligned_gather_exposed's pp factor stands for: each stage's first-forward wait of every chunk on the path
    base = _chunk_leads_makespan(pp, m, v, [0.0] * v)
    leads = [0.03] + [0.05] * (v - 1)
    assert _chunk_leads_makespan(pp, m, v, leads) - base == pytest.approx(pp * sum(leads))


def test_340b_unaligned_exposes_more_and_nemo1_keeps_the_window(catalog):
    core = stacks.resolve("megatron-core")
    on = _row(catalog, core)
    off = _row(catalog, replace(core, align_param_gather=False))
    apex = _row(catalog, replace(core, align_param_gather=False, apex_param_sync=True))
    gather = float(_row(catalog, replace(core, overlap_param_gather=False))["t_param_gather_exposed"][0])
    t_fwd = float(on["t_fwd_mb"][0])
    # NeMo 1.x's Apex sync: one micro-batch's forward of the stage as the window (align56's "off")
    assert float(apex["t_param_gather_exposed"][0]) == pytest.approx(gather - t_fwd, rel=0.05)
    # unaligned: pp 4 times (chunk 0's exposed + 11 whole later chunks), past the gather itself
    got = float(off["t_param_gather_exposed"][0])
    assert got > 4 * gather * 11 / 12
    assert float(off["step_time_s"][0]) > float(apex["step_time_s"][0]) > float(on["step_time_s"][0])


def test_optimizer_step_overlap_hides_chunk_0(catalog):
    core = stacks.resolve("megatron-core")
    assert not core.overlap_param_gather_with_optimizer_step  # Megatron-LM's default
    on = _row(catalog, core)
    ov = _row(catalog, replace(core, overlap_param_gather_with_optimizer_step=True))
    saved = float(on["step_time_s"][0] - ov["step_time_s"][0])
    t_opt = float(on["t_optimizer"][0])
    assert 0.0 < saved <= t_opt * 11 / 12 + 1e-9
    # 1F1B: no chunks, nothing moves
    assert float(_row(catalog, core, vpp=1)["step_time_s"][0]) == pytest.approx(
        float(_row(catalog, replace(core, overlap_param_gather_with_optimizer_step=True), vpp=1)["step_time_s"][0]))


def test_job_option_resolved_said_and_refused():
    assert FrameworkSpec(name="nemo", overlap_param_gather_with_optimizer_step=True).overlap_param_gather_with_optimizer_step
    st = stacks.resolve("megatron-bridge", overlap_param_gather_with_optimizer_step=True)
    assert st.overlap_param_gather_with_optimizer_step
    assert "overlap_param_gather_with_optimizer_step=on" in st.describe("bf16", recompute="full", pp=4)
    assert "overlap_param_gather_with_optimizer_step" not in stacks.resolve("megatron-core").describe(
        "bf16", recompute="full", pp=4)
    with pytest.raises(InputError) as e:
        stacks.resolve("torchtitan", overlap_param_gather_with_optimizer_step=True)
    assert e.value.field == "training.framework.overlap_param_gather_with_optimizer_step"


@pytest.mark.parametrize("row, on", [
    # Together's NeMo 2 Nemotron-4 340B (TP 8 PP 4 VP 12, DP 8): NeMo 2's comm-overlap callback
    (SimpleNamespace(id="togetherbl_x", container="nvidia+nemo+25.07.01 (NeMo 2, dgxc-benchmarking)", source="t",
                     dp=8, pp=4, vpp=12), True),
    # Megatron-Bridge's performance overrides at DP, PP, VP > 1
    (SimpleNamespace(id="mbridgeall_x", container="", source="m", dp=2, pp=8, vpp=8), True),
    (SimpleNamespace(id="mbridgeall_x", container="", source="m", dp=2, pp=8, vpp=float("nan")), False),
    (SimpleNamespace(id="mbridgeall_x", container="", source="m", dp=1, pp=8, vpp=8), False),
    # NeMo 1.x launcher and Megatron-LM (tech reports): not set
    (SimpleNamespace(id="dgxc_2409_x", container="nvcr.io/nvidia/nemo:24.09 (NeMo Launcher)", source="dgxc",
                     dp=8, pp=8, vpp=12), False),
    (SimpleNamespace(id="techrep_x", container="", source="Megatron-LM", dp=16, pp=12, vpp=8), False),
    # "NeMo 24.07" is no NeMo 2 (a NeMo 1.0 launcher config)
    (SimpleNamespace(id="h200_x", container="nemo24.07 (NVIDIA NeMo 24.07, NeMo 1.0 launcher config)", source="h",
                     dp=2, pp=4, vpp=5), False),
])
def test_validation_rows_that_set_it(row, on):
    assert validate.perf_script_opt_gather(row) is on
    assert "apex_param_sync" in validate.ROW_STACK_FIELDS
