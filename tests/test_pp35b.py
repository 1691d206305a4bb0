"""pp35b: the pipeline fill's costs pp35 left.

* Megatron-Core's distributed optimizer with ``--overlap-param-gather`` starts the step's parameter all-gather in each
  stage's own first forward (distributed_data_parallel.py ``_make_forward_pre_hook`` -> param_and_grad_buffer.py
  ``finish_param_sync``: "If current bucket's param AG has not been dispatched, dispatch it now (e.g., first AG bucket
  in first model chunk if ddp_config.align_param_gather is False)"), and ``align_param_gather`` is off without VPP
  (Megatron-LM ``validate_args``; NeMo / Megatron-Bridge set it only at PP > 1 with VPP > 1): on the 1F1B schedule
  every stage's first forward waits on it after its micro-batch arrives, pp waits on the fill's path where the
  estimate counted one (``Stack.param_gather_stage_lazy``, step_time ``t_pp_lead``, the simulator's list schedule
  ``t_lead``).
* NeMo AutoModel resharded after forward under PP: each warm-up forward gathers the stage again, the cool-down
  backwards find it gathered: m + 1 gathers a stage, one more on the pipeline's path than the composition held
  (m + pp against m + pp - 1 on 1F1B; step_time ``raf_fwd``, ``t_zero3_step``)."""
import copy

import pytest

from planner.model.pipeline import pipeline_timing, stage_orders
from planner.spec import load_job_dict


def _run(catalog, raw):
    from planner.workloads import Context, plan
    from planner.workloads.training import estimate_job

    est = estimate_job(load_job_dict(copy.deepcopy(raw)), catalog)
    sim = plan("simulate", load_job_dict(copy.deepcopy(raw)), Context(catalog=catalog, steps=20, answers=False)).result.result
    assert (sim.steady_step_time_s or sim.wall_s / 20) == pytest.approx(est.step_time_s, rel=1e-9)
    return est


@pytest.mark.parametrize("pp,m,p2p", [(2, 2, 0.0), (4, 8, 0.0), (4, 16, 0.05), (8, 8, 0.02), (8, 64, 0.0)])
def test_a_wait_before_every_stages_first_forward_costs_pp_of_them_on_1f1b(pp, m, p2p):
    """The list schedule pays ``t_lead`` on each stage's first forward: on the 1F1B schedule they are all on the fill's
    path, pp of them (the stage's first forward sends its output only after the wait and its compute)."""
    base = pipeline_timing(pp, m, 1, 1.0, 2.0, p2p).makespan
    lead = pipeline_timing(pp, m, 1, 1.0, 2.0, p2p, t_lead=0.3).makespan
    assert lead - base == pytest.approx(pp * 0.3, rel=1e-9)


LLAMA70 = {"model": {"preset": "llama3-70b"},
           "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "full", "tokens": 1e10,
                        "framework": "megatron-core"},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}}


def test_megatron_distributed_optimizer_gather_waits_in_every_stage_of_the_fill(catalog, monkeypatch):
    """Llama-3-70B TP4 PP4 DP4 ZeRO-1 on 8 p5.48xlarge, Megatron-Core: the first bucket's exposed gather (17.3 ms) is
    paid by each of the 4 stages' first forwards, not once: 20.048 -> 20.100 s; simulate list-schedules the same wait.
    With VPP 2 the interleaved schedule's aligned dispatch starts every stage's gathers together: once."""
    from dataclasses import replace

    from planner.model.stacks import STACKS

    par = {"tp": 4, "pp": 4, "dp": 4, "zero": 1}
    lazy = _run(catalog, {**LLAMA70, "parallel": par})
    lead = lazy.detail["t_pp_lead"]
    assert lead > 0.01
    monkeypatch.setitem(STACKS, "megatron-core", replace(STACKS["megatron-core"], param_gather_stage_lazy=False))
    once = _run(catalog, {**LLAMA70, "parallel": par})
    assert once.detail["t_pp_lead"] == 0.0
    assert lazy.step_time_s - once.step_time_s == pytest.approx(3 * lead, rel=1e-9)
    assert lazy.breakdown_s.comm_dp - once.breakdown_s.comm_dp == pytest.approx(3 * lead, rel=1e-9)
    monkeypatch.undo()
    vpp = _run(catalog, {**LLAMA70, "parallel": {**par, "vpp": 2}})
    assert vpp.detail["t_pp_lead"] == 0.0


def test_automodel_resharded_stage_gathers_in_each_warmup_forward(catalog):
    """NeMo AutoModel, Llama-3-8B PP2 DP8 ZeRO-3 on 2 p5.48xlarge, resharded after forward: 33 exposed gathers a step
    (m = 32 micro-batches' backwards in the composition, plus the one the warm-up adds on the pipeline's path), 8.692
    -> 8.698 s; simulate agrees (the extra gather in its step tail). Kept gathered (the default): none."""
    raw = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "full", "tokens": 1e10,
                        "framework": {"name": "nemo-automodel", "reshard_after_forward": True}},
           "parallel": {"tp": 1, "cp": 1, "pp": 2, "dp": 8, "zero": 3},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
    est = _run(catalog, raw)
    m = est.detail["num_microbatches"]
    per = est.detail["t_zero3_step"]
    assert per > 0 and est.breakdown_s.comm_zero3 == pytest.approx((m + 1) * per, rel=1e-12)
    raw["training"]["framework"]["reshard_after_forward"] = False
    kept = _run(catalog, raw)
    assert kept.detail["t_zero3_step"] == 0.0 == kept.breakdown_s.comm_zero3
    # the count it rests on: the list schedule with a gather on exactly the operations that gather has one more on its
    # path than the composition holds (m in the steady state, one in each of the bubble's stage times:
    # pipeline.step_composition ``in_stage``) -- m + pp on 1F1B, and so on the interleaved schedule at v = 2, m >= 2 pp
    from planner.model.pipeline import bubble_time

    for schedule, pp, mm, v in [("1f1b", 2, int(m), 1), ("1f1b", 4, 16, 1), ("1f1b", 8, 8, 1),
                                ("interleaved", 2, 8, 2), ("interleaved", 4, 16, 2)]:
        held = mm + bubble_time(pp, mm, v, 1.0, schedule == "interleaved")
        assert _gathers_on_path(schedule, pp, mm, v) == pytest.approx(held + 1, abs=1e-9)
        assert held + 1 == pytest.approx(mm + pp) or schedule == "interleaved"


def _gathers_on_path(schedule, pp, m, v):
    """The makespan's gathers when every forward after a forward and every backward after a forward gathers (a stage
    resharded after forward whose reshard after backward pipelining skips), by the schedule's list scheduling."""
    def run(g):
        for extra in range(m * v + 1):
            orders = stage_orders(schedule, pp, m, v, extra, None)
            end, pos, clock, last = {}, [0] * pp, [0.0] * pp, {}
            left = sum(len(o) for o in orders)
            while left:
                moved = False
                for s in range(pp):
                    while pos[s] < len(orders[s]):
                        kind, mb, c = orders[s][pos[s]]
                        vs = c * pp + s
                        if kind == "F":
                            dep, dur = (end.get(("F", mb, vs - 1)) if vs else 0.0), 1.0 / v
                        else:
                            dep = end.get(("B", mb, vs + 1)) if vs < pp * v - 1 else end.get(("F", mb, vs))
                            dur = 2.0 / v
                        if dep is None:
                            break
                        dur += g / v if last.get((s, c)) != "B" else 0.0
                        clock[s] = max(clock[s], dep) + dur
                        end[(kind, mb, vs)], last[(s, c)] = clock[s], kind
                        pos[s], left, moved = pos[s] + 1, left - 1, True
                if not moved:
                    break
            if not left:
                return max(clock)
        raise AssertionError("deadlock")
    return (run(0.1) - run(0.0)) / 0.1
