"""Megatron-Core's per-module selective recompute (``training.recompute_modules``) in the activation
table (planner/model/activations.py, the module docstring's "Recompute modules") against what Megatron-Core 0.16.1
really keeps: tests/data/mcore_recompute_activations.json, written by
tests/make_mcore_recompute_activations.py (a tiny dense GPT and a tiny MoE GPT on the local spec, CPU,
TP=1; the script documents the CPU adaptations). These tests read the JSON only.

Dense layers: the table's per-layer bytes under every module set. MoE layers: what each module's
recompute removes (none minus the module), since the local spec's absolute MoE bytes include two
CPU/local-spec artifacts the table does not model (DotProductAttention expands the grouped K/V heads;
the RoPE cos/sin caches) and which cancel in the difference. The MoE truth also fixes the experts'
routing-weight placement: Megatron-Core keeps no expert output (``probs_in_experts``).

Not measurable on CPU (stand on the source, the activations docstring's "Recompute modules"): moe_act (grouped-GEMM
experts) and mla_up_proj (TE's fused MLA RoPE).
"""
import json
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.model.activations import NONE, SELECTIVE, layer_activation_bytes
from planner.model.stacks import recompute_modules, resolve
from planner.spec import ModelSpec, load_job_dict

DATA = json.loads((Path(__file__).parent / "data" / "mcore_recompute_activations.json").read_text())
DM, MM = DATA["dense"], DATA["moe"]
DENSE = ModelSpec(family="decoder", layers=DM["layers"], hidden=DM["hidden"], heads=DM["heads"], vocab=DM["vocab"],
                  ffn_hidden=DM["ffn_hidden"], mlp="gelu", norm="layernorm", qkv_bias=True, linear_bias=True,
                  position="learned", max_positions=DM["seq"])
MOE = ModelSpec(family="moe", layers=MM["layers"], hidden=MM["hidden"], heads=MM["heads"], kv_heads=MM["kv_heads"],
                vocab=MM["vocab"], ffn_hidden=MM["ffn"], mlp="swiglu", norm="layernorm", position="rope",
                moe=dict(experts=MM["experts"], top_k=MM["top_k"], shared_experts=1, shared_ffn_hidden=MM["shared_ffn"]))
ACT = {"fp32": 4, "bf16": 2}


def _id(r):
    c = r["case"]
    return f"{c['model']}-{c['precision']}-{'+'.join(c['modules']) if c['modules'] else 'none'}"


def table(c, probs_in_experts=True):
    moe = c["model"] == "moe"
    return float(layer_activation_bytes(
        MOE if moe else DENSE, DM["seq"], DM["micro_batch"], recompute=SELECTIVE if c["modules"] is not None else NONE,
        flash=False, act_bytes=ACT[c["precision"]], moe=moe, fp32_softmax=True, fused_glu=moe,
        modules=tuple(c["modules"] or ()), fused_norm=False, probs_in_experts=probs_in_experts))


def measured(model, precision, modules):
    return next(r["per_layer_bytes"] for r in DATA["cases"] if r["case"]["model"] == model
                and r["case"]["precision"] == precision and r["case"]["modules"] == modules)


def test_versions_recorded():
    assert DATA["versions"]["megatron-core"] == "0.16.1"
    assert len(DATA["cases"]) == 18


@pytest.mark.parametrize("r", [r for r in DATA["cases"] if r["case"]["model"] == "dense"], ids=_id)
def test_dense_layer_bytes_under_each_module_set(r):
    """Every module set on the dense GPT: exact in fp32 (but for selective's 4-byte int32 mask-type
    tensor), within 0.1 % in bf16 (CPU LayerNorm keeps bf16 mean/rstd, the table the GPU's fp32)."""
    got, want = table(r["case"]), r["per_layer_bytes"]
    if r["case"]["precision"] == "fp32":
        assert abs(got - want) <= 4, (got, want)
    assert abs(got / want - 1) < 0.002, (got, want)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("module", ["layernorm", "moe", "shared_experts"])
def test_moe_module_removes_what_megatron_frees(precision, module):
    """What each module's recompute removes from a MoE layer, table vs Megatron-Core (within 1 %):
    layernorm the two norms' outputs and statistics, moe everything the MoE layer keeps but its
    input (router, dispatch, experts, shared expert), shared_experts the shared expert's."""
    c_none = dict(model="moe", precision=precision, modules=None)
    c_mod = dict(model="moe", precision=precision, modules=[module])
    want = measured("moe", precision, None) - measured("moe", precision, [module])
    got = table(c_none) - table(c_mod)
    assert abs(got / want - 1) < 0.01, (got, want)


def test_megatron_keeps_no_expert_output():
    """Without ``probs_in_experts`` (an expert output kept for the combine's routing-weight multiply,
    as torchtitan and HF code keep it) the table would count top_k x h more per token than Megatron-Core
    0.16.1 keeps: the "moe" recompute would remove 18 % more than it does."""
    want = measured("moe", "bf16", None) - measured("moe", "bf16", ["moe"])
    c_none, c_moe = dict(model="moe", precision="bf16", modules=None), dict(model="moe", precision="bf16", modules=["moe"])
    old = table(c_none, False) - table(c_moe, False)
    assert old / want - 1 > 0.15
    extra = DM["seq"] * DM["micro_batch"] * MM["top_k"] * MM["hidden"] * 2
    assert table(c_none, False) - table(c_none, True) == extra


def test_default_modules_are_todays_selective():
    """recompute_modules left out = ["core_attn"] = the attention core (Korthikanti's selective)."""
    c = dict(model="dense", precision="bf16", modules=["core_attn"])
    plain = float(layer_activation_bytes(DENSE, DM["seq"], DM["micro_batch"], recompute=SELECTIVE, flash=False,
                                         act_bytes=2, fp32_softmax=True))
    assert table(c) == plain


def _job(training, model=None):
    return load_job_dict({"model": model or {"preset": "qwen3-30b-a3b"},
                          "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e9, **training},
                          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})


def test_recompute_modules_refused_where_megatron_refuses():
    """Only Megatron-Core stacks, only with recompute: selective, only modules the model has."""
    with pytest.raises(Exception, match="recompute_modules: only with recompute: selective"):
        _job({"recompute": "full", "recompute_modules": ["moe_act"]})
    with pytest.raises(Exception, match="recompute_modules"):
        _job({"recompute": "selective", "recompute_modules": ["attention"]})
    job = _job({"recompute": "selective", "recompute_modules": ["layernorm", "moe_act"]})
    assert recompute_modules(job.training, resolve("megatron-bridge"), job.model) == ("layernorm", "moe_act")
    with pytest.raises(InputError, match="not torchtitan") as e:
        recompute_modules(job.training, resolve("torchtitan"), job.model)
    assert e.value.field == "training.recompute_modules"
    with pytest.raises(InputError, match="mla_up_proj"):
        job = _job({"recompute": "selective", "recompute_modules": ["mla_up_proj"]})
        recompute_modules(job.training, resolve("megatron-core"), job.model)
    with pytest.raises(InputError, match="delayed"):
        job = _job({"recompute": "selective", "recompute_modules": ["moe_act"], "precision": "fp8"})
        recompute_modules(job.training, resolve("megatron-core", fp8_recipe="delayed"), job.model)
