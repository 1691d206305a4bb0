"""code42: a memory + step-time pair on one Candidates finds the pipeline stages' parameters (memory_stages ``stage_split``)
once, at the model-state key (memory_stages ``key_stage_split``, kept on the Candidates), and the step time's DP terms read
it at their own keys; until code42 each found it. The numbers are those of a pair on fresh copies of the rows, bit for
bit (tests/data/step_time_golden.npz did not move)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import planner.model.memory as M
import planner.model.memory_stages as MS
import planner.model.step_time as S
from hardware_catalog import load_catalog
from planner.hardware.options import option_from_instance
from planner.spec import load_job
from test_speed42 import _candidates

ROOT = Path(__file__).resolve().parents[1]


def _counted(monkeypatch) -> list:
    calls = []
    real = MS.stage_split
    counted = lambda *a, **k: calls.append(len(a[1])) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(MS, "stage_split", counted)
    monkeypatch.setattr(S, "stage_split", counted)
    return calls


@pytest.mark.parametrize("example,optimizer", [("llama3-70b", None), ("mixtral-8x7b", None), ("llama3-70b", "muon")])
def test_a_pair_finds_the_stage_split_once(monkeypatch, example, optimizer):
    job = load_job(ROOT / "examples" / f"{example}.yaml")
    t = job.training if optimizer is None else job.training.model_copy(update={"optimizer": optimizer})
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    c = _candidates(1_500, 6)
    fresh = lambda: c.take(np.arange(len(c)))  # noqa: E731 (a new Candidates, nothing kept)
    want_m, want_s = M.memory_per_gpu(job.model, t, fresh()), S.step_time(job.model, t, fresh(), hw)
    calls = _counted(monkeypatch)
    got_m, got_s = M.memory_per_gpu(job.model, t, c), S.step_time(job.model, t, c, hw)
    assert len(calls) == 1, calls
    S.step_time(job.model, t, c, hw)  # and a second step time on the same rows finds it kept
    assert len(calls) == 1, calls
    for want, got in ((want_m, got_m), (want_s, got_s)):
        assert want.keys() == got.keys()
        for k in want:
            assert np.asarray(want[k]).tobytes() == np.asarray(got[k]).tobytes(), k


def test_the_kept_split_is_found_again_for_a_new_column(monkeypatch):
    """A column of the key reassigned (a new pp) is a new key: the split is found afresh, not read stale."""
    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    m, t = job.model, job.training
    st = M.from_training(t, None, m)
    c = _candidates(400, 7)
    calls = _counted(monkeypatch)
    first = MS.key_stage_split(m, t, st, c)
    assert MS.key_stage_split(m, t, st, c) is first and len(calls) == 1
    c.pp = np.ones(len(c), dtype=np.int64)
    again = MS.key_stage_split(m, t, st, c)
    assert again is not first and len(calls) == 2 and len(again.first_dense) == len(c.distinct(*MS.STATE_KEY)[0][0])
