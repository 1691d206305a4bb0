"""The lumped step's prompt tokens are spread (capgap34): a step that carries prompts carries the next prompts of the
K slots that finished before it, K prompts of lognormal lengths, and the step is convex in its tokens (the roofline's
max of compute and memory, GEMM rows padded to whole 128-row tiles), so its mean is over the step at the mean tokens
(Jensen). ``lumped_parts`` takes the mean over the spread (``lump_cv``, ``lump_grid``); until capgap34 it priced the
mean tokens, and llama3.1-8b on one H100 at B = 64, 128 / 128 tokens read a lumped step of 10.17 ms where the
simulation's steps that carry prompts average 11.09, and a throughput 6% over the simulated backlog's (51.0 vs 47.96
req/s)."""
import numpy as np
import pytest

from benchmarks.step_mixture import H100, backlog_steps
from hardware_catalog import load_catalog
from planner.spec import load_job_dict
from planner.workloads import serving as sv
from planner.workloads.serving_iteration import (lump_cv, lump_grid, lumped_iteration, lumped_parts, option_iteration,
                                                 steady_iteration)
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, settings_for


def _h100(prompt, output):
    job = load_job_dict({"model": {"preset": "llama3.1-8b"},
                         "serving": {"qps": 1.0, "prompt_tokens": prompt, "output_tokens": output},
                         "constraints": H100[0]})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in sv._options(job, load_catalog(), None) if h.name == H100[1])
    return job, m, s, hw, option_iteration(m, s, hw, 1)


def _backlog_steps(prompt, output, B=64):
    """(job, m, s, hw, im, steps): the simulated steps (decodes, context, prompt tokens, seconds) of a backlog keeping
    B slots busy, its middle 60% by time (benchmarks/step_mixture.py's ``backlog_steps``, which prints these terms)."""
    job, m, s, hw, im, _, mid = backlog_steps("llama3.1-8b", prompt, output, None, H100, 1, B)
    return job, m, s, hw, im, mid


def test_the_lumped_step_is_the_mean_over_its_prompts_spread():
    """llama3.1-8b, one H100, B = 64, 128 / 128 tokens (lognormal, cv 0.5), a backlog keeping every slot busy (its
    middle 60% of steps): the analytic lumped step within 3% of the simulated steps that carry prompts (11.37 vs 11.09
    ms; the step at the mean tokens, what it was, 10.17, 8% under) and the mean step within 2% (10.31 vs 10.19; 9.80
    before)."""
    B = 64
    job, m, s, hw, im, mid = _backlog_steps(128, 128, B)
    mid = mid[:, [2, 3]]  # prompt tokens, seconds
    carry = mid[:, 0] > 0
    f, lumped, bare = (float(x) for x in lumped_parts(im, s, B, REALTIME_TOKEN_BUDGET))
    assert f == pytest.approx(carry.mean(), rel=0.03)
    assert lumped == pytest.approx(mid[carry, 1].mean(), rel=0.03)
    assert float(lumped_iteration(im, s, B, REALTIME_TOKEN_BUDGET)) == pytest.approx(mid[:, 1].mean(), rel=0.02)
    at_mean = float(steady_iteration(im, s, B, prefilling=B / f)["step"])  # the old lumped step: 8% under
    assert at_mean < 0.93 * mid[carry, 1].mean()


def test_the_decode_only_step_holds_the_length_biased_context():
    """500 / 500 tokens (lognormal, cv 0.5) at B = 64: a step finds the long requests in its slots in proportion to
    their length, a mean context of P + O (1 + cv^2) / 2 = 812 tokens (811 simulated), not P + O / 2 = 750; the
    decode-only step 12.07 ms as simulated (11.82, 2% under, before capgap34)."""
    job, m, s, hw, im, mid = _backlog_steps(500, 500)
    bare = float(lumped_parts(im, s, 64, REALTIME_TOKEN_BUDGET)[2])
    assert bare == pytest.approx(mid[mid[:, 2] == 0, 3].mean(), rel=0.005)


@pytest.mark.parametrize("prompt, output, rel", [(128, 128, 0.02), (500, 500, 0.025)])
def test_the_full_batch_throughput_is_the_simulated_backlogs(prompt, output, rel):
    """The analytic full-batch throughput B / (O x the mean step) against the simulated backlog's steady rate
    (``_capacity``), llama3.1-8b on one H100 at B = 64: 128 / 128 48.48 vs 47.96 req/s (51.0, 6% over, before
    capgap34); 500 / 500 9.50 vs 9.34 (9.63, 3% over)."""
    job, m, s, hw, im = _h100(prompt, output)
    sim = settings_for(job)
    an = 64 / (output * float(lumped_iteration(im, s, 64, REALTIME_TOKEN_BUDGET)))
    cap = sv._capacity(m, s, hw, 1, 64, REALTIME_TOKEN_BUDGET, sim, im)
    assert an == pytest.approx(cap, rel=rel)


def test_lump_spread_and_grid():
    """The random sum's spread: one prompt a lump where finishes are rare (the lengths' own cv), narrower as a lump
    holds more prompts; no spread (cv 0) gives the mean tokens, so the lumped step of a fixed lump is the step at
    them; the grid keeps the mean tokens exactly."""
    assert float(lump_cv(1e-9, 1e-9, 128, 0.5)) == pytest.approx(0.5)
    assert float(lump_cv(8.0, 1.0, 1, 0.5)) == pytest.approx(0.5 / np.sqrt(8.0))  # O = 1: K = p
    cv = np.array([[0.0, 0.3], [0.6, 1.2]])
    x, w = lump_grid(cv)
    assert x.shape == (2, 2, len(w)) and np.allclose((x * w).sum(axis=-1), 1.0)
    assert np.allclose(x[0, 0], 1.0)
    # vectorised over B as the scalar calls give it
    job, m, s, hw, im = _h100(500, 500)
    Bs = np.array([8.0, 32.0, 64.0])
    f, lumped, bare = lumped_parts(im, s, Bs, REALTIME_TOKEN_BUDGET)
    for i, b in enumerate(Bs):
        assert float(lumped[i]) == pytest.approx(float(lumped_parts(im, s, b, REALTIME_TOKEN_BUDGET)[1]), rel=1e-12)
