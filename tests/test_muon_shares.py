"""Muon's parameter classes (planner.model.optimizers ``layer_matrices`` / ``class_shares``) for every
preset model: each class's Muon share lies in [0, 1], and the Muon parameters of the model's layers are
its 2-D weights exactly -- against the Hugging Face modelling code's own parameters where
tests/data/hf_params.json has the model, and against a layer-by-layer walk of planner.spec.shapes for
every preset (hybrid Mamba, LatentMoE, MLA, dense, MoE). Needs neither torch nor transformers."""
import json
from pathlib import Path

import numpy as np
import pytest

from planner.model import optimizers
from planner.spec import ModelSpec, load_job_dict
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.spec.shapes import (attention_weights, latent_weights, macs, mamba_weights, mlp_weights,
                                 shared_expert_width)

DATA = Path(__file__).parent / "data"
HF = json.loads((DATA / "hf_params.json").read_text())["models"]
MODELS = {n: ModelSpec(**p) for n, p in PRESETS.items()}
LAYERED = sorted(n for n, m in MODELS.items() if m.is_transformer)
# the HF components holding a layer's 2-D weights (tests/make_hf_params.py ``category``): with no biases,
# sinks or router bias (all 1-D) they hold nothing else; norms are ``attention_norm`` / ``layer_norm``
HF_MATRICES = ("attention", "dense_mlp", "experts", "shared_experts", "router")


def _muon_layer_params(m: ModelSpec) -> float:
    """Muon parameters of all of the model's layers, as the optimizer term counts them."""
    dense, expert = optimizers.stage_muon_params(m, m.layers)
    return float(dense + expert)


def _walk_2d(m: ModelSpec) -> int:
    """Every 2-D weight of the layers, layer by layer from the pattern (not through the per-class shares)."""
    e = m.moe
    moe_block = 0
    if e is not None:
        moe_block = (m.hidden * e.experts + macs(latent_weights(m))
                     + e.experts * macs(mlp_weights(m, m.ffn_hidden, io=m.expert_io)))
        if e.shared_experts:
            moe_block += macs(mlp_weights(m, shared_expert_width(m))) + (m.hidden if e.shared_expert_gate else 0)
    mixer = {"*": macs(attention_weights(m)), "-": macs(mlp_weights(m, m.dense_width)),
             "M": macs(mamba_weights(m)), "E": moe_block}
    if m.hybrid:
        return sum(mixer[k] for k in m.hybrid_pattern)
    moe_ids = set(m.moe_layer_ids) if e is not None else set()
    return sum(mixer["*"] + (mixer["E"] if i in moe_ids else mixer["-"]) for i in range(m.layers))


@pytest.mark.parametrize("name", LAYERED)
def test_shares_are_fractions(name):
    """A class's Muon matrices are part of its parameters (Nemotron 3 Super had expert 4.0, moe_layer
    1.5 until 2026-12-04; Nemotron-H 8B dense_layer 1.61)."""
    m = MODELS[name]
    sh = optimizers.class_shares(m)
    assert all(0.0 <= v <= 1.0 for v in sh.values()), sh
    assert sh["dense_layer"] > 0.9 and (m.moe is None or min(sh["moe_layer"], sh["expert"]) > 0.9), sh


@pytest.mark.parametrize("name", LAYERED)
def test_muon_parameters_are_the_layers_2d_weights(name):
    m = MODELS[name]
    muon = _muon_layer_params(m)
    assert muon == pytest.approx(_walk_2d(m), rel=1e-12)
    # and the rest of the layers' parameters (norms, biases, Mamba's conv1d / A_log / D / dt_bias) is small
    rest = count_params(m).layers_total - muon
    assert 0 <= rest < 2e-3 * count_params(m).layers_total


def _hf_cases():
    for name in sorted(HF):
        m = load_job_dict(json.loads((DATA / "hf_configs" / f"{name}.json").read_text())).model
        if not (m.linear_bias or m.qkv_bias or m.attention_sinks or (m.moe is not None and m.moe.router_bias)
                or m.family == "encoder"):
            yield pytest.param(name, m, id=name)


@pytest.mark.parametrize("name,m", _hf_cases())
def test_muon_parameters_match_hf_2d_weights(name, m):
    """Against the HF code's parameters: a bias-free model's in-layer matrices (MLA's and the MoE's
    included) are what Muon updates; the norms are AdamW's."""
    comps = HF[name]["components"]
    assert _muon_layer_params(m) == pytest.approx(sum(comps.get(k, 0) for k in HF_MATRICES), rel=1e-12)


def test_hf_cases_cover_the_families():
    kinds = {HF[n]["model_type"] for n, _ in (p.values for p in _hf_cases())}
    assert {"llama", "mixtral", "deepseek_v3", "qwen3_moe", "llama4_text"} <= kinds


def test_nemotron_3_super_muon_memory(tmp_path, cli):
    """A Nemotron 3 Super (hybrid Mamba + LatentMoE) Muon job is estimated: with bf16 weights + fp32 master,
    Muon keeps 4 + 4 B per matrix parameter against AdamW's 4 + 8, so its optimizer memory is about 2/3 of
    AdamW's (it was refused for hybrid models before 2026-12-04; the shares then made it negative)."""
    def run(opt):
        p = tmp_path / f"{opt}.yaml"
        p.write_text("model: {preset: nemotron-3-super-120b-a12b}\n"
                     f"training: {{seq_len: 8192, global_batch: 512, optimizer: {opt}, recompute: selective, "
                     "tokens: 1.0e12, framework: megatron-core}\n"
                     "parallel: {tp: 2, pp: 4, cp: 1, ep: 8, zero: 1, sequence_parallel: true}\n"
                     "cluster: {instance: aws:p5.48xlarge, nodes: 16}\n")
        code, out, err = cli("estimate", p, "--json")
        assert code == 0, err
        return json.loads(out)

    mu, ad = run("muon"), run("adamw")
    ratio = mu["memory_per_gpu_bytes"]["optimizer"] / ad["memory_per_gpu_bytes"]["optimizer"]
    assert 8 / 12 <= ratio < 0.7
    assert mu["breakdown_s"]["optimizer"] > ad["breakdown_s"]["optimizer"]


def test_stage_fractions_are_fractions():
    """A hybrid stage can hold more "E" blocks than the mean: the expert share stays the class's (it was
    the mean-mix ratio, 1.05 on a Nemotron 3 Nano PP2 stage), the dense share is capped at 1."""
    m = MODELS["nemotron-3-nano-30b-a3b"]
    pc = count_params(m)
    e_block = m.moe.experts * pc.expert
    layers = np.array([26.0])
    fd, fe = optimizers.muon_fractions(m, np.array([1e6]), np.array([15 * e_block]), layers)
    assert float(fe[0]) == optimizers.class_shares(m)["expert"] and float(fd[0]) == 1.0
