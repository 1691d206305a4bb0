"""Plain data parallelism runs no ZeRO-2/3: recommend ranked ResNet-50 plans "z3" on pytorch-ddp (the stack
torch.nn.parallel.DistributedDataParallel is), a layout the stack cannot run. stack_rules "ddp-zero" refuses it,
for every model (the rules of other runtimes concern transformers only)."""
from __future__ import annotations


import numpy as np
from types import SimpleNamespace

from conftest import answered, one_error_line, write_job

from planner.model import stack_rules
from planner.spec.presets import PRESETS
from planner.spec import ModelSpec
from planner.model.stacks import STACKS

CNN = {"model": {"preset": "resnet50"},
       "training": {"global_batch": 1024, "epochs": 1, "dataset_samples": 1281167, "precision": "bf16",
                    "optimizer": "sgd_momentum"},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def _cands(zero):
    z = np.asarray(zero)
    one = np.ones_like(z)
    return SimpleNamespace(tp=one, pp=one, dp=8 * one, cp=one, ep=one, etp=one, vpp=one, zero=z, mb=one, rc=0 * z)


def test_rule_refuses_zero2_and_3_on_both_ddp_stacks_for_a_cnn():
    m = ModelSpec(**PRESETS["resnet50"])
    for name in ("pytorch-ddp", "dle-convnets"):
        ok = stack_rules.valid_mask(STACKS[name], m, SimpleNamespace(precision="bf16"), _cands([0, 1, 2, 3]))
        assert ok.tolist() == [True, True, False, False], name


def test_recommend_ranks_no_zero2_or_3_plan_on_ddp(cli, tmp_path):
    job = {**CNN, "training": {**CNN["training"], "framework": "pytorch-ddp"}}
    job.pop("cluster")
    job["constraints"] = {"max_gpus": 16, "gpus": ["H100-SXM-80GB"]}
    ranked = answered(cli("recommend", write_job(tmp_path, job), "--json"))["ranked"]
    assert ranked and {p["config"]["zero"] for p in ranked} <= {0, 1}


def test_estimate_with_zero3_on_ddp_is_one_error_line(cli, tmp_path):
    job = {**CNN, "training": {**CNN["training"], "framework": "pytorch-ddp"}, "parallel": {"dp": 8, "zero": 3}}
    code, out, err = cli("estimate", write_job(tmp_path, job))
    assert code == 2 and not out
    assert one_error_line(err).startswith("error: parallel.zero: PyTorch DDP refuses ZeRO-2/3")
