"""cleanup54: a benchmark piped into ``head`` ends quietly (``script_args.closed_pipe_quiet``; until cleanup54 every
benchmark that prints printed a ``BrokenPipeError`` traceback), and NeMo AutoModel's weightless gate
(``FakeBalancedGate``, moe.routing "round_robin") holds no router parameter (``params.router_params``; until cleanup54
its E x h weight a layer was in the weights, gradients and optimizer state) while the model's nominal count
(``ParamCount.nominal``) still names the model."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params

ROOT = Path(__file__).resolve().parents[1]


def _through_closed_pipe(args):
    """``args`` run with stdout a pipe whose reader has already gone (``| head`` after its line): what it wrote to
    stderr and its exit status."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=w, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    finally:
        os.close(w)
    return p.stderr, p.returncode


def test_a_benchmark_through_a_closed_pipe_ends_quietly():
    """Fails on the code before cleanup54: ``BrokenPipeError: [Errno 32] Broken pipe`` and its traceback."""
    err, rc = _through_closed_pipe(["benchmarks/gbdt_fixed_cost.py"])
    assert (err, rc) == ("", 1)


@pytest.mark.parametrize("body", [
    "print('x' * 200_000)",  # the pipe refuses a write inside the block (more than a buffer of output)
    "print('row'); sys.exit(0)",  # the last buffered line meets it at the flush before the exit status is kept
], ids=["mid-output", "at-exit"])
def test_closed_pipe_quiet_both_ways(body):
    code = ("import sys\nfrom planner.present.script_args import closed_pipe_quiet\n"
            f"with closed_pipe_quiet():\n    {body}\n")
    assert _through_closed_pipe(["-c", code]) == ("", 1)


def test_every_benchmark_entry_runs_under_closed_pipe_quiet():
    """Each ``benchmarks/*.py`` with a ``__main__`` entry runs it inside ``closed_pipe_quiet`` (checked in the text, as
    tests/test_qa39d.py checks ``ScriptArgs``: running all 47 would take minutes). Fails on the old code (none did)."""
    missing = []
    for p in sorted((ROOT / "benchmarks").glob("*.py")):
        text = p.read_text()
        if '__name__ == "__main__"' not in text:
            continue  # a module the scripts import (parts_data.py, sim_admissions.py)
        entry = text.split('if __name__ == "__main__":', 1)[1]
        if not re.search(r"^    with closed_pipe_quiet\(\):$", entry, re.M):
            missing.append(p.name)
    assert missing == []


# ---- a weightless gate's router ------------------------------------------------------------------------------------
EXPERTS, HIDDEN, LAYERS = 16, 1024, 4


def _model(routing: str, **moe) -> ModelSpec:
    return ModelSpec(family="moe", layers=LAYERS, hidden=HIDDEN, heads=8, ffn_hidden=512, vocab=32000,
                     moe=dict(experts=EXPERTS, top_k=2, routing=routing, **moe))


@pytest.mark.parametrize("bias", [False, True])
def test_the_weightless_gate_builds_no_router(bias):
    """FakeBalancedGate holds no ``nn.Parameter`` (nemo_automodel/components/moe/layers.py, read 2026-12-07): the
    built count is the learned gate's less E x h (+ E bias) a MoE layer; the nominal count is the learned one's.
    Fails on the old code (the same total for both routings)."""
    rr, learned = count_params(_model("round_robin", router_bias=bias)), count_params(_model("learned", router_bias=bias))
    router = HIDDEN * EXPERTS + (EXPERTS if bias else 0)
    assert learned.total - rr.total == LAYERS * router
    assert rr.n_moe_layers == LAYERS and learned.active - rr.active == LAYERS * router
    assert rr.routers_absent == LAYERS * router and learned.routers_absent == 0
    assert rr.nominal == learned.nominal == (learned.total, learned.active)


def test_weights_grads_and_optimizer_follow_the_routing():
    """DDP, mixed precision: each of weights, gradients and optimizer state is lower by the routers' parameters x its
    bytes a parameter. Fails on the old code (equal states)."""
    from planner.layout import Candidates
    from planner.model.memory import memory_per_gpu, model_state_bytes_per_param

    t = TrainingSpec(seq_len=1024, global_batch=8, micro_batch=1, precision="bf16")
    c = Candidates(**{k: np.atleast_1d(v) for k, v in dict(
        tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0, gpus_per_node=8,
        nodes=1).items()})
    mem = {r: memory_per_gpu(_model(r), t, c) for r in ("round_robin", "learned")}
    w_b, g_b, master_b, opt_b = model_state_bytes_per_param(t)
    n = LAYERS * HIDDEN * EXPERTS
    for key, b in (("weights", w_b), ("grads", g_b), ("optimizer", master_b + opt_b)):
        assert float(mem["learned"][key][0] - mem["round_robin"][key][0]) == pytest.approx(n * b, rel=1e-9), key


def test_a_plan_and_the_token_default_name_the_model_not_the_built_count(catalog):
    """The count users read is the model's own (``ParamCount.nominal``): a plan's ``params`` / ``params_active`` and
    the Chinchilla token default (20 a parameter) keep the router a weightless gate does not build, while the priced
    count drops it. On the old code the first two hold (it counted the router everywhere) and the last fails."""
    from planner.search.recommend import recommend
    from planner.spec import load_job_dict

    model = dict(family="moe", layers=LAYERS, hidden=HIDDEN, heads=8, ffn_hidden=512, vocab=32000,
                 moe=dict(experts=EXPERTS, top_k=2, routing="round_robin"))
    job = load_job_dict({"model": model, "training": {"global_batch": 64, "seq_len": 1024},
                         "constraints": {"instances": ["p5.48xlarge"], "max_gpus": 8}})
    learned = count_params(_model("learned"))
    assert job.training.tokens == 20 * learned.total
    best = recommend(job, catalog, top=1).best
    assert (best.params, best.params_active) == (learned.total, learned.active)
    assert count_params(job.model).total == learned.total - LAYERS * HIDDEN * EXPERTS
