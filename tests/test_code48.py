"""code48: loose ends of the last review. The shared experts' backward is in the MoE layer's (the ``bwd_shared`` field
beside it was written and never read, and is gone); one rule names the rate a plan is ranked and capped at
(``hardware.options.ranked_basis``: the price cap's lines had a copy that called a job's own ``cluster.price_usd_hr``
"its on-demand rate"); a GPU name or alias with ``:`` (gpu:count, cloud:name) is refused when the catalog is read."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import refused, write_job

from planner.hardware.options import ranked_basis
from planner.model import moe as moe_mech
from planner.model.stacks import resolve
from planner.spec import ModelSpec
from planner.vocab import JOB_RATE, ON_DEMAND, SPOT

PLANNER = Path(__file__).resolve().parents[1] / "planner"


def _moe_model(shared: int) -> ModelSpec:
    return ModelSpec(family="moe", layers=4, hidden=1024, heads=8, ffn_hidden=512, vocab=32000,
                     moe=dict(experts=16, top_k=2, shared_experts=shared, shared_ffn_hidden=1024 if shared else None))


def _layer(m: ModelSpec):
    def gemm(M, N, K, **kw):  # (forward, backward) seconds in proportion to the FLOPs: dgrad + wgrad = 2 x forward
        f = np.asarray(M, dtype=float) * N * K * 1e-15 * (kw.get("groups") or 1)
        return f, 2.0 * f
    one = np.array([1.0])
    return moe_mech.moe_layer(m, np.array([8192.0]), one, one, np.array([4.0]), 8.0, 2.0, gemm,
                              resolve("megatron-core"), (4e11, 5e10, 1e-6, 5e-6))


def test_the_shared_experts_backward_is_in_the_layers_backward():
    """Megatron-Core's ``SharedExpertMLP`` is an ``MLP`` whose backward autograd runs within the layer's: adding shared
    experts adds their fc1 / fc2 backward to ``bwd_mlp`` and their forward to ``fwd_mlp`` (the ``bwd_shared`` field
    code48 removed summed a term that was already there)."""
    with_, without = _layer(_moe_model(1)), _layer(_moe_model(0))
    assert float(np.ravel(with_.bwd_mlp - without.bwd_mlp)[0]) == pytest.approx(float(sum(np.ravel(x)[0] for x in with_.bwd_shared_fc)))
    assert float(np.ravel(with_.fwd_mlp - without.fwd_mlp)[0]) == pytest.approx(float(np.ravel(with_.fwd_shared)[0]))
    assert float(np.ravel(with_.fwd_shared)[0]) > 0


def test_every_moe_layer_time_is_read_by_the_step():
    """Each field of ``MoELayerTimes`` is read somewhere in planner/ (``.field``): a typed result carries no term the
    step leaves out unsaid. Fails on the code before: ``bwd_shared`` was written and never read."""
    code = "\n".join(p.read_text() for p in PLANNER.rglob("*.py"))
    unread = [f.name for f in dataclasses.fields(moe_mech.MoELayerTimes) if not re.search(rf"\.{f.name}\b", code)]
    assert unread == []


@pytest.mark.parametrize("spot, price, basis", [(False, None, ON_DEMAND), (False, 60.0, JOB_RATE), (True, None, SPOT),
                                                (True, 60.0, SPOT)])
def test_one_rule_names_the_rate_a_plan_is_ranked_at(spot, price, basis):
    assert ranked_basis(spot, price) == basis


def test_the_price_cap_names_the_jobs_own_rate(cli, tmp_path):
    """A fixed p5 at the job's $60 a node-hour under a 5 $/GPU-h cap: the refusal called the job's rate "its on-demand
    rate" (the price cap's own copy of the basis rule, ``rate_basis``, knew no job rate)."""
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 512, tokens: 1.0e10}\n"
                              "cluster: {instance: aws:p5.48xlarge, nodes: 2, price_usd_hr: 60}\n"
                              "constraints: {max_price_per_gpu_hour: 5}\n")
    assert refused(cli("estimate", job)) == (
        "error: constraints.max_price_per_gpu_hour: aws:p5.48xlarge rents at 7.5 $/GPU-h (the job's rate "
        "(cluster.price_usd_hr) per GPU billed), above 5 $/GPU-h")


GPU_HEAD = "name,aliases,vendor,memory_gib,hbm_bw_tbps,bf16_tflops,source\n"


@pytest.mark.parametrize("name, aliases, field, shown", [("H100:X", "hx", "name", "got 'H100:X'"),
                                                         ("H100X", "hx;h:y", "aliases", "'h:y' must not hold ':'")])
def test_a_gpu_name_or_alias_with_a_colon_is_refused(cli, tmp_path, name, aliases, field, shown):
    """An override GPU ``H100:X`` was listed and planned: ``--emit skypilot`` wrote ``accelerators: H100:X:8`` and a
    serving plan on it read as a catalog instance key (cloud ``H100``). Refused in one line, the row's column named."""
    over = tmp_path / "g.csv"
    over.write_text(GPU_HEAD + f"{name},{aliases},NVIDIA,80,3.35,989,q\n")
    err = refused(cli("catalog", "gpus", "--catalog", over))
    assert err.startswith(f"error: catalog override g.csv: gpus[0].{field}: ") and shown in err, err
    assert "it splits gpu:count and an instance's key cloud:name" in err


def test_an_override_gpu_without_a_colon_is_listed(cli, tmp_path):
    over = tmp_path / "g.csv"
    over.write_text(GPU_HEAD + "H100X,hx;h-y,NVIDIA,80,3.35,989,q\n")
    code, out, err = cli("catalog", "gpus", "--catalog", over, "--json")
    assert code == 0, err
    assert "H100X" in out
