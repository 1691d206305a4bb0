"""Why the analytic replica throughput (``llm_option``: B / (O x iteration), Little's law at the mean lengths) is over
the simulated saturated one (``_capacity``: a burst backlog through the SimPy serving simulation) near capacity, broken
down on a few points (llama3.1-8b on one H100, p5.4xlarge TP1; max_num_seqs min(64, memory), budget 2,048, lognormal
lengths cv 0.5, seed 0). Per point it prints:

* analytic req/s at the step at the mean composition (``steady_iteration`` at B, the mean lengths), the screen's
  (``llm_option``: the step as the engine runs it, prompts in lumps, ``lumped_iteration``; cap33) and ``_capacity``
  (since drain33 the steady rate of a backlog of ``capacity_backlog`` = max(40 B, 500) requests: completions
  between its 20% and 80% finish quantiles);
* throughput over the whole run (its drain tail included) of a backlog of max(10 B, 500) requests (``_capacity``
  until drain33) and of the plan's (40 B);
* the same two backlogs measured from the steps run between 20% and 80% of the run's time: the decode tokens served
  over the mean decodes a request takes (no start-up, no drain tail);
* the simulated steady state's mean decoding sequences per step (time-weighted, vs B), the share of steps that carry
  prompt tokens, the mean step time, the analytic step (``steady_iteration`` at B) and the step at the simulated
  steady state's mean composition, the decodes' mean context and the prompt tokens a step (simulated / analytic).

The findings (cap32, drain33) are in ``llm_option``'s and ``_capacity``'s docstrings (planner/workloads/serving.py).

    PYTHONPATH=$PWD python benchmarks/capacity_gap.py   (~30 s)
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from hardware_catalog import load_catalog
from planner.simulate.serving import ArrivalSpec, simulate_serving
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget, llm_option
from planner.workloads.serving import _capacity, _options, _sim_config, capacity_backlog
from planner.workloads.serving_iteration import lumped_iteration, option_iteration, steady_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, draw_workload, settings_for

POINTS = ((128, 1), (128, 128), (2000, 1), (2000, 128), (8000, 128), (500, 500))


class Recorder:
    """The option's IterationModel, recording every step the simulation times (decodes, prompt tokens, seconds)."""

    def __init__(self, im):
        self._im, self.steps = im, []

    def __getattr__(self, k):
        return getattr(self._im, k)

    def time(self, decode_seqs=0.0, decode_ctx=0.0, prefill_tokens=0.0, prefill_ctx=0.0, *a, **kw):
        dt = self._im.time(decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, *a, **kw)
        for d, c, t in np.broadcast(decode_seqs, decode_ctx, dt):  # a decode span: one row per step
            self.steps.append((float(d), float(c), float(prefill_tokens), float(t), float(prefill_ctx)))
        return dt


def point(prompt, output, model="llama3.1-8b", instance="p5.4xlarge", tp=1, batch=64):
    job = load_job_dict({"model": {"preset": model},
                         "serving": {"qps": 1.0, "prompt_tokens": prompt, "output_tokens": output},
                         "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "instances": [instance]}})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == f"aws:{instance}")
    im = option_iteration(m, s, hw, tp)
    row = llm_option(m, s, hw, tp, ServeTarget(None, None, None), im)
    B = min(batch, row.batch_memory_limit)
    sim = settings_for(job)
    an = B / (output * float(steady_iteration(im, s, B)["step"]))
    cap = _capacity(m, s, hw, tp, B, REALTIME_TOKEN_BUDGET, sim, im)
    lumped = B / (output * float(lumped_iteration(im, s, B, REALTIME_TOKEN_BUDGET)))
    out = dict(prompt=prompt, output=output, B=B, analytic=an, lumped=lumped, capacity=cap)
    for mult in (1, 4):  # the backlog _capacity ran until drain33 (10 per slot), and the plan's (40 per slot)
        n = int(min(2000, max(10 * B, 500))) if mult == 1 else capacity_backlog(B)
        wl = draw_workload(s, ArrivalSpec("burst", count=n), sim, m.context_length, sim.seed)
        cfg = _sim_config(m, s, hw, tp, B, REALTIME_TOKEN_BUDGET, 1, ServeTarget(None, None, None), sim, 0.0, im)
        rec = Recorder(im)
        cfg = replace(cfg, replica=replace(cfg.replica, iteration=rec), drain_s=1e7)
        res = simulate_serving(cfg, wl, monitor=False)
        st = np.array(rec.steps)
        t_end = np.cumsum(st[:, 3])
        tag = "" if mult == 1 else "x4"
        out[f"whole{tag}"] = res.throughput_rps
        lo, hi = 0.2 * t_end[-1], 0.8 * t_end[-1]
        w = (t_end > lo) & (t_end <= hi)
        dt = st[w, 3]
        # steady: requests served per second from the tokens the steps in [lo, hi] ran (the result has no finish times):
        # the decode tokens over the mean O - 1 decodes a request takes (its first token comes from its prefill); one
        # output token: the prompt tokens over the mean prompt
        dec_tokens = st[w, 0].sum()
        out[f"steady{tag}"] = dec_tokens / float(np.mean(wl.output - 1)) / dt.sum() if output > 1 else \
            st[w, 2].sum() / float(np.mean(wl.prompt)) / dt.sum()
        out[f"dec_mean{tag}"] = float((st[w, 0] * dt).sum() / dt.sum())  # time-weighted decoding sequences
        out[f"prefill_share{tag}"] = float((st[w, 2] > 0).mean())
        out[f"step_ms{tag}"] = float(dt.mean() * 1e3)
        # the step at the simulated steady state's mean composition (decodes, their context, prompt tokens and pairs):
        # its ratio to the mean simulated step is what the lumpiness of the prompt work adds (roofline: max per step)
        mean = st[w].mean(axis=0)
        out[f"step_at_mean_ms{tag}"] = float(im.time(mean[0], mean[1], mean[2], mean[4])) * 1e3
        out[f"an_step_ms{tag}"] = float(steady_iteration(im, s, B)["step"]) * 1e3
        out[f"lumped_step_ms{tag}"] = float(lumped_iteration(im, s, B, REALTIME_TOKEN_BUDGET)) * 1e3
        out[f"ctx{tag}"] = float(mean[1] / max(mean[0], 1e-9))
        out[f"ptok{tag}"] = float(mean[2])
        out[f"tail_share{tag}"] = float((t_end[-1] - t_end[w][-1]) / t_end[-1])
    return out, im, s


def main():
    print("| prompt | out | B | analytic req/s | lumped req/s | _capacity | whole run 10 B | whole run 40 B | steady 10 B | "
          "steady 40 B | "
          "decoding (of B) | steps with prefill | step ms | analytic step ms | lumped step ms | step at sim mean ms | "
          "decode ctx sim/analytic | prompt tok/step sim/analytic |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p, o in POINTS:
        r, _, _ = point(p, o)
        print(f"| {p:,} | {o} | {r['B']} | {r['analytic']:.2f} | {r['lumped']:.2f} | {r['capacity']:.2f} | "
              f"{r['whole']:.2f} | {r['wholex4']:.2f} | "
              f"{r['steady']:.2f} | {r['steadyx4']:.2f} | {r['dec_meanx4']:.1f} | {r['prefill_sharex4']:.0%} | "
              f"{r['step_msx4']:.2f} | {r['an_step_msx4']:.2f} | {r['lumped_step_msx4']:.2f} | "
              f"{r['step_at_mean_msx4']:.2f} | {r['ctxx4']:,.0f} / {p + o / 2:,.0f} | "
              f"{r['ptokx4']:,.0f} / {r['B'] * p / o:,.0f} |", flush=True)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
