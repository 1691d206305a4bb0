"""Hostile but schema-valid serving input after session 45's serving changes (fuzz45b): ``planner serve
--no-simulate`` end to end with prompt / output tokens at 1 and past the model's context, ``max_batch`` 1 and 65,536
(the field's limit), QPS 1e-6 (the floor) to 1e9 (the limit), bursty arrivals (``serving.arrivals: {kind: mmpp}``) at
the accepted shape's corners (README "serving": ``burst_factor`` 1 to 1,000, ``burst_share`` in (0, 1), ``burst_s``
in (0, 86,400]; ``ArrivalsSpec``), and TTFT / TPOT targets from 1e-6 ms to 1e7 ms (the fields' limit). These drive
serve45's ``fill_path`` / ``fill_reach`` / ``overload_wait_scale``, srvcap45's ``budget_batch`` and srvq45's
``budget_decodes`` / ``time_in_service`` / ``llm_ttft``.

Every run ends as tests/test_fuzz_cli.py's ``check_outcome`` requires (exit 0 with strict JSON, or one line
``error: <field>: <message>``, exit 2) and the table output carries no ``nan`` / ``inf`` where a number is promised.

Found by it (fixed at the root, pinned below): ``jsq_wait_probability`` solved its join-the-shortest-queue chain at
every load, and at low load the chain keeps every idle count (~R^2 / 4 phases over 2R levels): 512 one-slot replicas
at 10-50% busy took 2.5-5.7 s a call, and a bursty job at ``max_batch: 1`` (mmpp 1,000x, a 0.1% share, 1 s bursts,
40 QPS) asked ~200 such loads, 83 s for one ``serve --no-simulate``. The pooled queue's Erlang C bounds the chain's
value from above, and under ``JSQ_NEGLIGIBLE_WAIT`` (1e-12) it is taken instead: 11 s.

QPS 1e6 (bursty or not) is left out of the drawn jobs: a fleet of ~10^4 replicas screens for 20-50 s on a loaded
2-core machine (each of ~900 screen points runs ``screen_concurrency``'s fixed point); 12-15 CPU s since srvspeed46
priced the counts ``least_meeting`` may ask next in one vectorised pass; bounded, not a hang (docs/qa_log.md
"Fuzz 45b", docs/serving_notes.md "srvspeed46")."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import ERROR_LINE, check_outcome, fuzz_settings, job_file, run_cli, stray  # noqa: E402

from planner.workloads import serving_queue as Q  # noqa: E402

#: a number the table promises, written as a float's special: what a plan must never print
SPECIAL = re.compile(r"(?<![A-Za-z])(nan|inf|infinity)(?![A-Za-z])", re.IGNORECASE)

SHAPES = [{"burst_factor": f, "burst_share": sh, "burst_s": s}
          for f in (1, 1000) for sh in (1e-9, 0.001, 0.5, 0.999999) for s in (1e-9, 1, 86400)]


@st.composite
def hostile_serving(draw):
    s = {"prompt_tokens": draw(st.sampled_from([1, 2, 800, 7000, 8191, 1 << 24])),
         "output_tokens": draw(st.sampled_from([1, 2, 200, 4000, 1 << 24])),
         "max_batch": draw(st.sampled_from([1, 2, 256, 1 << 16])),
         "qps": draw(st.sampled_from([1e-6, 0.01, 40, 1e3])),
         "p99_latency_ms": draw(st.sampled_from([1e-6, 5, 50, 1e7]))}
    if draw(st.booleans()):
        s["ttft_ms"] = draw(st.sampled_from([1e-6, 1, 1000, 1e7]))
    if draw(st.booleans()):
        s["arrivals"] = {"kind": "mmpp", **draw(st.sampled_from(SHAPES))}
    if draw(st.integers(0, 3)) == 0:
        s["length_cv"] = draw(st.sampled_from([0, 4]))
    return {"model": {"preset": "llama3-8b"}, "serving": s,
            "constraints": {"clouds": ["aws"], "gpus": draw(st.sampled_from([["H100-SXM-80GB"], ["L4-24GB"],
                                                                              ["H100-SXM-80GB", "L4-24GB"]]))}}


def _serve(tmp_path_factory, job, *flags):
    p = job_file(tmp_path_factory, "serve45b", job)
    code, out, err = run_cli("serve", p, "--top", "3", "--no-simulate", *flags)
    assert stray(p.parent, {p.name}) == []
    return code, out, err


@fuzz_settings(24)
@given(job=hostile_serving())
def test_fuzz_hostile_serving_plans_or_refuses(tmp_path_factory, job):
    """A plan (strict JSON, its options meeting the targets) or one line naming a field; never a traceback, never a
    special where a number is promised."""
    code, out, err = _serve(tmp_path_factory, job, "--json")
    check_outcome(code, out, err)
    if code != 0:
        return
    s = job["serving"]
    for o in json.loads(out)["options"]:
        assert 1 <= o["batch"] <= s["max_batch"], o
        assert o["replicas"] * o["requests_per_s_per_replica"] >= s["qps"] * (1 - 1e-9), o
        if s.get("ttft_ms"):
            assert o["ttft_ms"] is not None and 0 < o["ttft_ms"] <= s["ttft_ms"] * (1 + 1e-9), o


@pytest.mark.parametrize("serving", [
    {"qps": 40, "max_batch": 1, "arrivals": {"kind": "mmpp", "burst_factor": 1000, "burst_share": 0.001,
                                             "burst_s": 1}},
    {"qps": 1e-6, "ttft_ms": 1e7, "p99_latency_ms": 1e7,
     "arrivals": {"kind": "mmpp", "burst_factor": 1000, "burst_share": 0.999999, "burst_s": 1e-9}},
    {"qps": 40, "output_tokens": 1, "prompt_tokens": 1,
     "arrivals": {"kind": "mmpp", "burst_factor": 1000, "burst_share": 1e-9, "burst_s": 86400}},
    {"qps": 1e9, "max_batch": 1},
], ids=["mb1-burst1000", "qps-floor-burst", "one-token", "qps-limit-mb1"])
def test_hostile_serving_table_has_no_specials(tmp_path_factory, serving):
    """The text table too: a plan or a refusal, no ``nan`` / ``inf`` (an unbounded TTFT is said in words)."""
    job = {"model": {"preset": "llama3-8b"}, "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB", "L4-24GB"]},
           "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "prompt_tokens": 800, "output_tokens": 200,
                       "max_batch": 256, **serving}}
    code, out, err = _serve(tmp_path_factory, job)
    assert "Traceback" not in out + err and code in (0, 2), (code, err[-2000:])
    assert code == 0 or ("\n" not in err.strip() and ERROR_LINE.match(err.strip())), err  # (check_outcome: @given only)
    assert not SPECIAL.search(out + err), SPECIAL.search(out + err)


def test_jsq_wait_at_low_load_takes_the_pooled_bound_without_the_chain(monkeypatch):
    """At 512 one-slot replicas 30% busy the chain (2R levels, up to R / 2 phases each) was solved for a P(wait) of
    2e-114, 3-6 s a call; the pooled queue's Erlang C (2.2e-114, an upper bound) is now the answer and the chain is not
    built (``np.linalg.inv`` never called). Where the wait matters (90% busy) the chain still answers, under the bound."""
    def no_chain(*_):
        raise AssertionError("the JSQ chain was solved for a negligible wait")

    monkeypatch.setattr(Q.np.linalg, "inv", no_chain)
    for R, rho in ((512, 0.3), (256, 0.5), (4000, 0.8), (64, 0.1)):
        v = Q.jsq_wait_probability.__wrapped__(R, R * rho)
        assert v == float(Q.erlang_c(R, R * rho)) < Q.JSQ_NEGLIGIBLE_WAIT, (R, rho, v)
    monkeypatch.undo()
    v = Q.jsq_wait_probability.__wrapped__(128, 0.9 * 128)
    assert 0.0 < v < float(Q.erlang_c(128, 0.9 * 128)) and np.isclose(v, 0.0446, rtol=0.01), v


class _CountingRng:
    """A numpy Generator that fails past 10,000 draw calls: the per-sojourn loop of a 1e-9 s burst shape."""

    def __init__(self, seed):
        self.rng, self.calls = np.random.default_rng(seed), 0

    def __getattr__(self, name):
        def draw(*args, **kwargs):
            self.calls += 1
            assert self.calls < 10_000, "a draw per sojourn: the loop is not bounded"
            return getattr(self.rng, name)(*args, **kwargs)
        return draw


@pytest.mark.parametrize("share", [0.999999, 0.5, 0.01])
def test_mmpp_arrivals_at_nanosecond_bursts_are_drawn_in_blocks(share):
    """``serving.arrivals: {kind: mmpp, burst_factor: 1000, burst_share: 0.999999, burst_s: 1e-9}`` made ``planner
    serve`` (simulated) draw one loop pass per sojourn, ~10^11 of them (killed past 150 s at 6 GB); whole cycles are now
    drawn as blocks (``_mmpp_lumped``) in a few array calls, the mean rate kept and the times sorted within the run."""
    from planner.simulate.serving import ArrivalSpec, _mmpp

    a = ArrivalSpec("mmpp", rate=40.0, duration_s=2000.0, burst_ratio=1000, burst_share=share, burst_s=1e-9)
    t = _mmpp(a, _CountingRng(0))
    assert abs(len(t) / 80_000 - 1) < 0.02 and np.all(np.diff(t) >= 0) and 0 <= t[0] and t[-1] < 2000.0


def test_simulated_serve_at_nanosecond_bursts_finishes(tmp_path_factory):
    """The CLI case fuzz45b found (simulated, the plan's event bound at 20,000): a plan, not a run past minutes."""
    job = {"model": {"preset": "llama3-8b"}, "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB", "L4-24GB"]},
           "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 1, "output_tokens": 1,
                       "max_batch": 256, "arrivals": {"kind": "mmpp", "burst_factor": 1000, "burst_share": 0.999999,
                                                      "burst_s": 1e-9}}}
    p = job_file(tmp_path_factory, "serve45b", job)
    code, out, err = run_cli("serve", p, "--json", "--top", "3", "--plan-event-bound", "20000")
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert json.loads(out)["options"]
