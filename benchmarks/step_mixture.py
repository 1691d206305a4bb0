"""The analytic mixture of engine steps (``lumped_parts``: the share f of steps that carry prompt tokens, the step that
carries them, the decode-only step) term by term against the SimPy serving simulation's steps (capgap34). Per point a
backlog of ``capacity_backlog(B)`` requests keeps B slots busy (lognormal lengths, cv 0.5, seed 0); every step the
simulation times is recorded (prompt tokens, decodes, their context, seconds) and its middle 60% by time compared:

* f: the share of steps with prompt tokens;
* lumped: the mean step with prompt tokens, its mean prompt tokens and decodes (simulated / analytic);
* bare: the mean decode-only step; the decodes' mean context (simulated / P + O (1 + cv^2) / 2);
* mean: the mean step (``lumped_iteration``), and the throughput B / (O x step) against ``_capacity``.

Points: llama3.1-8b on one H100 (p5.4xlarge) at B = 64, 128 / 128, 2,000 / 128, 500 / 500 tokens, budget 2,048; with
``--rag`` QA 42's RAG job (Llama-3.1-70B fp8, kv fp8, 16,000 / 300 tokens) on B200 TP4 at B = 8 / 25 and TP8 at 30 /
37. The findings are in README's serving section ("The lumped step is the mean over its prompts' spread").

    PYTHONPATH=$PWD python benchmarks/step_mixture.py [--rag]   (~10 s; --rag ~30 s)
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from hardware_catalog import load_catalog
from planner.simulate.serving import ArrivalSpec, simulate_serving
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget
from planner.workloads.serving import _capacity, _options, _sim_config, capacity_backlog
from planner.workloads.serving_iteration import lumped_parts, option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, draw_workload, settings_for

H100 = {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "instances": ["p5.4xlarge"]}, "aws:p5.4xlarge"
B200 = {"instances": ["lambda:gpu_8x_b200_sxm6"]}, "lambda:gpu_8x_b200_sxm6"
POINTS = (("llama3.1-8b", 128, 128, None, H100, 1, 64), ("llama3.1-8b", 2000, 128, None, H100, 1, 64),
          ("llama3.1-8b", 500, 500, None, H100, 1, 64))
RAG = tuple(("llama3.1-70b", 16000, 300, "fp8", B200, tp, b) for tp, b in ((4, 8), (4, 25), (8, 30), (8, 37)))


class Recorder:
    """The option's IterationModel, recording every step the simulation times (decodes, context, prompt tokens,
    seconds; a decode span one row per step)."""

    def __init__(self, im):
        self._im, self.steps = im, []

    def __getattr__(self, k):
        return getattr(self._im, k)

    def time(self, decode_seqs=0.0, decode_ctx=0.0, prefill_tokens=0.0, *a, **kw):
        dt = self._im.time(decode_seqs, decode_ctx, prefill_tokens, *a, **kw)
        for d, c, t in np.broadcast(decode_seqs, decode_ctx, dt):
            self.steps.append((float(d), float(c), float(prefill_tokens), float(t)))
        return dt


def backlog_steps(model, prompt, output, precision, where, tp, B, budget=REALTIME_TOKEN_BUDGET):
    """(job, m, s, hw, im, sim, mid): a backlog of ``capacity_backlog(B)`` requests keeping B slots busy, simulated
    with every step recorded (``Recorder``), and the middle 60% of its steps by time, one row (decodes, their context,
    prompt tokens, seconds) a step. ``where``: (constraints, instance name), e.g. ``H100``."""
    cons, name = where
    serving = {"qps": 1.0, "prompt_tokens": prompt, "output_tokens": output}
    if precision:
        serving.update(precision=precision, kv_precision=precision)
    job = load_job_dict({"model": {"preset": model}, "serving": serving, "constraints": cons})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == name)
    im = option_iteration(m, s, hw, tp)
    sim = settings_for(job)
    wl = draw_workload(s, ArrivalSpec("burst", count=capacity_backlog(B)), sim, m.context_length, sim.seed)
    cfg = _sim_config(m, s, hw, tp, B, budget, 1, ServeTarget(None, None, None), sim, 0.0, im)
    rec = Recorder(im)
    simulate_serving(replace(cfg, replica=replace(cfg.replica, iteration=rec), drain_s=1e7), wl, monitor=False)
    st = np.array(rec.steps)
    end = np.cumsum(st[:, 3])
    return job, m, s, hw, im, sim, st[(end > 0.2 * end[-1]) & (end <= 0.8 * end[-1])]


def point(model, prompt, output, precision, where, tp, B, budget=REALTIME_TOKEN_BUDGET) -> dict:
    job, m, s, hw, im, sim, mid = backlog_steps(model, prompt, output, precision, where, tp, B, budget)
    lump = mid[:, 2] > 0
    f, lumped, bare = (float(x) for x in lumped_parts(im, s, B, budget))
    N = prompt
    return dict(name=f"{model} {prompt:,} / {output} TP{tp} B={B}", f=(lump.mean(), f),
                lumped=(mid[lump, 3].mean() * 1e3, lumped * 1e3), tokens=(mid[lump, 2].mean(), B / output * N / f),
                decodes=mid[lump, 0].mean(), bare=(mid[~lump, 3].mean() * 1e3, bare * 1e3),
                ctx=(mid[:, 1].sum() / mid[:, 0].sum(), prompt + output / 2 * (1 + s.length_cv ** 2)),
                mean=(mid[:, 3].mean() * 1e3, (f * lumped + (1 - f) * bare) * 1e3),
                rps=(_capacity(m, s, hw, tp, B, budget, sim, im), B / (output * (f * lumped + (1 - f) * bare))))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print("| point | f | lumped ms | prompt tok / lumped step | decodes in it | bare ms | decode ctx | mean ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in RAG if "--rag" in argv else POINTS:
        r = point(*p)
        print(f"| {r['name']} | {r['f'][0]:.3f} / {r['f'][1]:.3f} | {r['lumped'][0]:.2f} / {r['lumped'][1]:.2f} | "
              f"{r['tokens'][0]:,.0f} / {r['tokens'][1]:,.0f} | {r['decodes']:.1f} | "
              f"{r['bare'][0]:.2f} / {r['bare'][1]:.2f} | {r['ctx'][0]:,.0f} / {r['ctx'][1]:,.0f} | "
              f"{r['mean'][0]:.2f} / {r['mean'][1]:.2f} | {r['rps'][0]:.2f} / {r['rps'][1]:.2f} |", flush=True)
    print("(simulated / analytic; req/s: the simulated backlog's steady rate, _capacity / B / (O x mean step))")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
