"""fuzz46c: a serving trace's refusals name the cell they refuse (fuzz46b's left-alones), and the benchmarks'
admission hook (benchmarks/sim_admissions.py) sees each admission once, at its step, with the run's times as arrays.
docs/qa_log.md "Fuzz 46c"."""
import sys

import numpy as np
import pytest

from conftest import ROOT
from planner.errors import InputError, TooLargeError
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      load_trace, make_workload)
from planner.workloads.serving_iteration import IterationModel

HEADER = "arrival_s,prompt_tokens,output_tokens\n"


def _refusal(tmp_path, rows, error=InputError):
    p = tmp_path / "t.csv"
    p.write_text(HEADER + rows)
    with pytest.raises(error) as e:
        load_trace(p)
    return str(e.value)


# QA 39's words ("arrival_s must be a number and token counts integers") named the line but not the cell
@pytest.mark.parametrize("rows, place", [
    ("0.1,100,10\n0.2,x,10\n", "line 3: arrival_s must be a number and token counts integers, got prompt_tokens 'x'"),
    ("abc,100,10\n", "line 2: arrival_s must be a number and token counts integers, got arrival_s 'abc'"),
    ("0.1,100,\n", "line 2: arrival_s must be a number and token counts integers, got output_tokens ''"),
    ("0.1,100\n", "line 2: arrival_s must be a number and token counts integers, got no output_tokens cell (the "
                  "row has fewer cells than the header has columns)"),
])
def test_a_trace_cell_that_is_no_number_is_named_in_the_refusal(tmp_path, rows, place):
    assert place in _refusal(tmp_path, rows)


# a decimal past int()'s 4,300-digit limit reads as its float, inf: the refusal said "prompt_tokens inf"
@pytest.mark.parametrize("cell, shown", [
    ("9" * 5000, "prompt_tokens of 5,000 digits is over 16,777,216 tokens"),
    (" 1e400", "prompt_tokens '1e400' is over 16,777,216 tokens"),
    ("9" * 400, "prompt_tokens 1e+400 is over 16,777,216 tokens"),  # an int: its scientific form, as before
    ("16777217", "prompt_tokens 16,777,217 is over 16,777,216 tokens"),
], ids=["5000-digits", "1e400", "400-digits", "limit+1"])
def test_a_token_count_over_the_limit_is_shown_as_written_not_as_inf(tmp_path, cell, shown):
    words = _refusal(tmp_path, f"0.1,{cell},10\n", TooLargeError)
    assert f"line 2: {shown}, serving.prompt_tokens's limit" in words, words
    assert " inf " not in words


# ---------------------------------------------------------------------------------------------
# benchmarks/sim_admissions.simulate_with_admissions
# ---------------------------------------------------------------------------------------------

def _tiny(blocks, preemption="recompute"):
    """A replica whose step costs 0.1 ms per prompt token (tests/test_serving_sim.py's ``_linear``), 4 slots, and
    ``blocks`` 16-token KV blocks: 40 hold four 100-token prompts but not their 300-token outputs, so requests are
    preempted and come back; 30 Poisson requests (a few ms to run)."""
    base = IterationModel.constant(0.0)
    im = IterationModel(**{**base.__dict__, "lin_flops": 1.0, "flops_rate": 1e4})
    cfg = ServingSimConfig(ReplicaSpec(im, blocks), EngineConfig(max_num_seqs=4, max_num_batched_tokens=512,
                                                                 preemption=preemption))
    wl = make_workload(ArrivalSpec("poisson", rate=40, duration_s=1), LengthDist("fixed", 100),
                       LengthDist("fixed", 300), seed=1)
    return cfg, wl


@pytest.fixture
def hook():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # (conftest restores sys.path after the test)
    import sim_admissions
    return sim_admissions.simulate_with_admissions


@pytest.mark.parametrize("blocks, preemption", [(10 ** 6, "recompute"), (40, "recompute"), (40, "swap")])
def test_the_admission_hook_sees_each_admission_once_at_its_step(hook, blocks, preemption):
    """Every request is admitted, and each return after a preemption is an admission too: the hook is called
    len(wl) + preemptions times, a request's first call between its send and its first token. It wrapped
    Engine._start, which the engine calls also to probe the queue's head: 703 calls for 30 requests and 673
    preemptions at 40 blocks, a request's first up to steps before it was admitted."""
    cfg, wl = _tiny(blocks, preemption)
    calls = []
    st = hook(cfg, wl, lambda engine, r: calls.append((r.rid, engine.env.now)))
    if blocks == 40:
        assert st.preemptions > 0  # (the case the returns are counted in)
    assert len(calls) == len(wl) + st.preemptions
    first = {}
    for rid, t in calls:
        first.setdefault(rid, t)
    ids = np.arange(len(wl))  # the benchmarks index the times by arrays of request ids
    adm = np.array([first[int(i)] for i in ids])
    assert isinstance(st.first, np.ndarray) and isinstance(st.sent, np.ndarray) and isinstance(st.finish, np.ndarray)
    assert np.all(st.sent[ids] <= adm) and np.all(adm < st.first[ids]) and np.all(st.first[ids] <= st.finish[ids])


def test_the_admission_hook_leaves_the_simulator_as_it_was_however_the_run_ends(hook):
    import planner.simulate.serving as simserve

    E = simserve.Engine
    before = (E._prefills, E._preempt_newest, E._start, simserve.Stats)
    cfg, wl = _tiny(40)
    hook(cfg, wl, lambda engine, r: None)
    assert (E._prefills, E._preempt_newest, E._start, simserve.Stats) == before

    def fail(engine, r):
        raise RuntimeError("the hook's own error")

    with pytest.raises(RuntimeError, match="the hook's own error"):
        hook(cfg, wl, fail)
    assert (E._prefills, E._preempt_newest, E._start, simserve.Stats) == before
