"""speed54: a plan's layout what-ifs (each lighter recompute, twice the micro-batch: ``evaluate.layout_changes``) are
priced in the plan's own memory and step-time calls (``evaluate(whatifs=True)``: one batch, the row first), where
``alternatives`` priced the row again with them, two calls more a plan. A row's numbers do not depend on the batch it
is priced in (tests/test_fuzz_core42.py), so the plan and its advice are the same to the bit: ``recommend --json`` /
``estimate --json`` byte-identical on every example (benchmarks/recommend_json_diff.py). And the suite's files are
handed to xdist's workers long ones first (tests/conftest.py ``pytest_collection_modifyitems``)."""
from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import planner.search.evaluate as ev_mod
import planner.workloads.training as training_mod
from planner.search.evaluate import alternatives, evaluate, memory_limit, with_changes
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

_JOBS = {
    # selective recompute, micro-batch fixed: recompute none and micro-batch 2 are its what-ifs
    "one stage": {"model": {"preset": "llama3-8b"},
                  "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                               "recompute": "selective", "tokens": 1e12},
                  "parallel": {"tp": 2, "pp": 1, "cp": 1, "zero": 1, "sequence_parallel": True},
                  "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}},
    # full recompute over a 1F1B pipeline: selective, none and micro-batch 2
    "PP4 full": {"model": {"preset": "llama3-8b"},
                 "training": {"seq_len": 4096, "global_batch": 128, "micro_batch": 1, "precision": "bf16",
                              "recompute": "full", "tokens": 1e11},
                 "parallel": {"tp": 2, "pp": 4, "cp": 1, "zero": 1, "sequence_parallel": True},
                 "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}},
}


def _estimated(catalog, monkeypatch, name):
    """``estimate_job`` on ``_JOBS[name]``: its plan, the (job, candidates, hardware, stack) it evaluated, and each
    memory / step-time call the plan's evaluation and advice made (its rows)."""
    seen, calls = [], []
    real_eval = training_mod.evaluate

    def spy(job, c, hw, *a, **k):
        seen.append((job, c, hw))
        return real_eval(job, c, hw, *a, **k)

    for fn in ("memory_per_gpu", "step_time"):
        real = getattr(ev_mod, fn)
        monkeypatch.setattr(ev_mod, fn, lambda m, t, c, *a, _f=real, _n=fn, **k: calls.append((_n, len(c))) or
                            _f(m, t, c, *a, **k))
    monkeypatch.setattr(training_mod, "evaluate", spy)
    plan = estimate_job(load_job_dict(_JOBS[name]), catalog)
    return plan, seen[0], calls


@pytest.mark.parametrize("name", list(_JOBS))
def test_the_plan_and_its_layout_whatifs_are_one_memory_and_one_step_time_call(catalog, monkeypatch, name):
    """The plan's row and its layout what-ifs are one memory call and one step-time call (then one step-time call
    per stack option tried, ``option_alternatives``); the old path priced the row, then the row again with its
    what-ifs."""
    plan, (job, c, hw), calls = _estimated(catalog, monkeypatch, name)
    stack = ev_mod.from_training(job.training, model=job.model)
    n = 1 + len(ev_mod.layout_changes(job, c, hw, stack, 0))
    assert n >= 3 if name == "PP4 full" else n >= 2
    assert [k for k in calls if k[0] == "memory_per_gpu" and k[1] > 1] == [("memory_per_gpu", n)]
    assert calls[:2] == [("memory_per_gpu", n), ("step_time", n)]
    assert all(k == ("step_time", 1) for k in calls[2:] if k[0] == "step_time"), calls
    assert any(a.startswith(("recompute=", "micro_batch=")) for a in plan.advice), plan.advice


@pytest.mark.parametrize("name", list(_JOBS))
def test_the_whatifs_priced_beside_the_row_are_the_ones_priced_apart(catalog, monkeypatch, name):
    """``evaluate(whatifs=True)``'s arrays are the row's alone, bit for bit; its what-if rows are each changed row
    priced alone; and the advice it gives is what ``alternatives`` prices on its own."""
    _, (job, c, hw), _ = _estimated(catalog, monkeypatch, name)
    monkeypatch.undo()
    stack = ev_mod.from_training(job.training, model=job.model)
    both, alone = evaluate(job, c, hw, whatifs=True), evaluate(job, c, hw)
    for part in ("mem", "time"):
        assert both[part].keys() == alone[part].keys()
        for k, v in alone[part].items():
            np.testing.assert_array_equal(both[part][k], v, err_msg=f"{part} {k}")  # (NaN where NaN)
    assert np.array_equal(both["fits"], alone["fits"]) and "whatif" not in alone
    w = both["whatif"]
    batch = with_changes(c, w["changes"])
    for k in range(len(batch)):
        one = batch.take(np.array([k]))
        mem = ev_mod.memory_per_gpu(job.model, job.training, one, stack=stack, gpu=hw.gpu.name)
        st = ev_mod.step_time(job.model, job.training, one, hw, framework=stack)
        assert float(mem["total"][0]) == float(w["total"][k]) and float(st["step_time_s"][0]) == float(w["step"][k])
        assert bool(w["fits"][k]) == bool(mem["total"][0] <= memory_limit(job, hw)[0])
    step = float(alone["time"]["step_time_s"][0])
    assert alternatives(job, c, hw, stack, 0, step, base=step, whatif=w) == alternatives(job, c, hw, stack, 0, step)


class _Item:
    """A collected test as ``conftest.pytest_collection_modifyitems`` reads it: its node id and its markers."""

    def __init__(self, nodeid: str, *marks: str):
        self.nodeid, self.marks = nodeid, marks

    def get_closest_marker(self, name):
        return name if name in self.marks else None


def test_an_xdist_worker_hands_out_the_long_files_first_then_by_test_count():
    """On an xdist worker (``config.workerinput``) the files with a ``slow`` or ``browser`` test come first, then the
    rest by test count (xdist's own order, which pyproject.toml's ``--no-loadscope-reorder`` turns off), each file's
    tests in their order; without xdist pytest's order stays. xdist's count order put the one-test, ~40 CPU s
    test_app_widgets.py 571st of 579 files, the other worker idle beside it."""
    from conftest import pytest_collection_modifyitems

    ids = ["a.py::t1", "a.py::t2", "b.py::t1", "c.py::t1", "c.py::t2", "c.py::t3", "d.py::t1", "e.py::t1"]
    marks = {"b.py::t1": ("slow",), "e.py::t1": ("browser",)}
    items = [_Item(i, *marks.get(i, ())) for i in ids]
    kept = list(items)
    pytest_collection_modifyitems(SimpleNamespace(), kept)
    assert kept == items  # no xdist: as collected
    pytest_collection_modifyitems(SimpleNamespace(workerinput={}), items)
    assert [i.nodeid for i in items] == ["b.py::t1", "e.py::t1", "c.py::t1", "c.py::t2", "c.py::t3", "a.py::t1",
                                         "a.py::t2", "d.py::t1"]
    opts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--no-loadscope-reorder" in opts["addopts"].split()
    widgets = (Path(__file__).parent / "test_app_widgets.py").read_text()
    assert "pytestmark = pytest.mark.slow" in widgets


#: the few-test files measured longest (CPU s on one core, `-n 0`: suite55, speed54): by test count alone they were
#: handed out among the suite's last ~150 files, where one of them at the end keeps a worker busy while the other idles
LONG_FEW_TEST_FILES = ("test_app41", "test_app51", "test_app52", "test_app53", "test_app_recompute", "test_qa83",
                       "test_qa107", "test_serve48b", "test_one_rank",
                       "test_fuzz_finetune_serving", "test_search_properties")


@pytest.mark.parametrize("name", LONG_FEW_TEST_FILES)
def test_the_long_files_with_few_tests_are_handed_out_first(name):
    """Each is marked ``slow`` as a whole (``pytestmark``), so ``pytest_collection_modifyitems`` puts it with the heavy
    files ahead of the count order (suite55: each of these has 1-7 tests and 9-20 CPU s)."""
    import ast

    tree = ast.parse((Path(__file__).parent / f"{name}.py").read_text())
    marks = [ast.unparse(n.value) for n in tree.body
             if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == ["pytestmark"]]
    assert marks == ["pytest.mark.slow"], (name, marks)
