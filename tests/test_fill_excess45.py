"""acc45e: on the 1F1B schedule the stages that do not pace fill and drain the pipeline at their own pace.

With one stage heavier than the others (the last, which holds the LM head and loss), the step of m micro-batches is
``m t_max + sum of the other stages' t``: micro-batch 0's forward crosses the lighter stages once, the last backward
crosses them once, and only the pacing stage is busy in between. The analytic bubble was ``(pp - 1) t_max``
(``pipeline.bubble_time``), which overstates it by ``(pp - 1) t_max - sum of the others`` (step_time
``fill_excess``). Both schedules the model prices give the smaller step: Megatron's 1F1B order (the planner's own list
scheduler, ``pipeline_timing``) and DeepSpeed's ``TrainSchedule`` (deepspeed/runtime/pipe/schedule.py, replayed
below with blocking rendezvous sends, as its engine runs them)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.model.pipeline import pipeline_timing, step_composition
from planner.model.step_time import fill_excess


def _trainschedule(s: int, stages: int, m: int) -> list[tuple[str, int]]:
    """One stage's commands of DeepSpeed's ``TrainSchedule.steps`` (schedule.py: ``_step_to_micro_batch`` and the
    even / odd step ids, sends of the previous micro-batch before the receive, then the pass)."""
    def mb_of(step):
        if step % 2 == s % 2:  # a forward step
            return (step - s % 2) // 2 - s // 2, True
        if step % 2 == 0:  # even step, odd stage: backward
            return step // 2 - stages + (s + 1) // 2, False
        return (step - 1) // 2 - stages + 1 + s // 2, False
    ok = lambda i: 0 <= i < m  # noqa: E731
    cmds, prev = [], -1
    for step in range(2 * (m + stages - 1)):
        mb, fwd = mb_of(step)
        if fwd:
            cmds += [("SG", prev)] if ok(prev) and s > 0 else []
            cmds += [("RA", mb)] if ok(mb) and s > 0 else []
        else:
            cmds += [("RG", mb)] if ok(mb) and s < stages - 1 else []
            cmds += [("SA", prev)] if ok(prev) and s < stages - 1 else []
        cmds += [("F" if fwd else "B", mb)] if ok(mb) else []
        prev = mb
    return cmds


def _deepspeed_makespan(f, b, m):
    """Rendezvous replay: a send and its receive complete together, when the later of the two stages reaches it."""
    stages = len(f)
    cmds = [_trainschedule(s, stages, m) for s in range(stages)]
    peer = {"SA": ("RA", 1), "RA": ("SA", -1), "SG": ("RG", -1), "RG": ("SG", 1)}
    pos, clock, posted = [0] * stages, [0.0] * stages, {}
    while any(pos[s] < len(cmds[s]) for s in range(stages)):
        moved = False
        for s in range(stages):
            while pos[s] < len(cmds[s]):
                kind, mb = cmds[s][pos[s]]
                if kind in ("F", "B"):
                    clock[s] += f[s] if kind == "F" else b[s]
                    pos[s], moved = pos[s] + 1, True
                    continue
                pk, d = peer[kind]
                if (pk, mb, s + d) in posted:
                    clock[s] = clock[s + d] = max(clock[s], posted.pop((pk, mb, s + d)))
                    pos[s], pos[s + d], moved = pos[s] + 1, pos[s + d] + 1, True
                    continue
                if (kind, mb, s) not in posted:
                    posted[(kind, mb, s)], moved = clock[s], True
                break
        assert moved, "deadlock"
    return max(clock)


CASES = [(2, 2), (4, 2), (4, 16), (8, 8), (16, 32)]


@pytest.mark.parametrize("pp,m", CASES)
def test_both_schedules_fill_at_the_lighter_stages_pace(pp, m):
    """Stages of 1 + 3 (forward + backward), the last 1.5 + 4: Megatron's 1F1B list schedule and DeepSpeed's
    TrainSchedule both give m t_last + (pp - 1) t_other, which the composition now gives (it gave (m + pp - 1) t_last)."""
    f, b = [1.0] * (pp - 1) + [1.5], [3.0] * (pp - 1) + [4.0]
    t_last, t_other = 5.5, 4.0
    want = m * t_last + (pp - 1) * t_other
    light = t_last - t_other
    assert pipeline_timing(pp, m, 1, 1.5, 4.0, t_lighter=light).makespan == pytest.approx(want, rel=1e-12)
    assert _deepspeed_makespan(f, b, m) == pytest.approx(want, rel=1e-12)
    pace = np.array([[t_other] * (pp - 1) + [t_last]])
    excess = fill_excess(pace, (np.arange(1), np.array([pp - 1])))
    assert excess.tolist() == pytest.approx([(pp - 1) * light])
    comp = step_composition(m, pp, 1, False, 1.5, 4.0, 0.0, 1, False, 0.0, fill_excess=excess)
    assert comp["step"] == pytest.approx([want], rel=1e-12)


def test_interleaved_and_dualpipev_bubbles_are_left_as_they_were():
    """The formula is the 1F1B schedule's; the interleaved and DualPipeV rows keep their own bubble."""
    base = step_composition(8, 4, 2, True, 1.0, 2.0, 0.0, 1, False, 0.0)
    got = step_composition(8, 4, 2, True, 1.0, 2.0, 0.0, 1, False, 0.0, fill_excess=1.0)
    assert got["step"] == base["step"] and float(got["fill"]) == 0.0
    base = step_composition(16, 4, 1, False, 1.0, 2.0, 0.0, 1, False, 0.0, dualpipev=True)
    got = step_composition(16, 4, 1, False, 1.0, 2.0, 0.0, 1, False, 0.0, dualpipev=True, fill_excess=1.0)
    assert got["step"] == base["step"]


def _v():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    return V


def test_vtrain_pp4_rows_pay_the_head_once_in_the_bubble():
    """vTrain's 12 x 1024 GPT on 4 A100 stages (3 layers each, the last with the 50,257-word head: Megatron-DeepSpeed's
    ``type:transformer`` split), micro-batch 8, 2 micro-batches: the bubble is 3 stage times of the lighter stages,
    i.e. (pp - 1) x the pacing stage's time less 3 heads; the record carries what it took off for the simulator."""
    from planner.spec import TrainingSpec
    from planner.model.step_time import step_time
    V = _v()
    hw = V.hw_option(V.load_catalog(), "A100-SXM-80GB", 8, 800.0)
    model = V.gpt_model(12, 1024, 16, 50257, 1024)
    tr = TrainingSpec(seq_len=1024, global_batch=16, precision="fp16", weights="megatron", grad_dtype="same",
                      flash_attention=False, dropout=True, recompute="full")
    rows = pd.DataFrame([dict(tp=1, pp=4, dp=1, vpp=1, zero=0, mb=8, rc=2, sp=False, schedule=0),
                         dict(tp=1, pp=1, dp=4, vpp=1, zero=0, mb=2, rc=2, sp=False, schedule=0)])
    c = V.Candidates(tp=rows.tp.to_numpy(int), pp=rows.pp.to_numpy(int), dp=rows.dp.to_numpy(int), cp=1, ep=1,
                     vpp=rows.vpp.to_numpy(int), zero=rows.zero.to_numpy(int), mb=rows.mb.to_numpy(int),
                     rc=rows.rc.to_numpy(int), sp=rows.sp.to_numpy(bool), schedule=rows.schedule.to_numpy(int),
                     gpus_per_node=8, nodes=1)
    r = step_time(model, tr, c, hw, framework="megatron-deepspeed")
    t_stage = r["t_fwd_mb"] + r["t_bwd_mb"]
    taken = r["t_pp_fill_excess"]
    assert taken[1] == 0.0 and r["bubble"][1] == 0.0  # no pipeline, nothing to fill
    assert 0.15 * 3 * t_stage[0] < taken[0] < 0.5 * 3 * t_stage[0]  # the head: a large share of the last stage
    assert r["bubble"][0] == pytest.approx(3 * t_stage[0] - taken[0], rel=1e-12)
