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
from conftest import answered

DATA = Path(__file__).parent / "data"
HF = json.loads((DATA / "hf_params.json").read_text())["models"]
MODELS = {n: ModelSpec(**p) for n, p in PRESETS.items()}
LAYERED = sorted(n for n, m in MODELS.items() if m.is_transformer)
# the HF components holding a layer's 2-D weights (tests/make_hf_params.py ``category``): with no biases,
# sinks or router bias (all 1-D) they hold nothing else; norms are ``attention_norm`` / ``layer_norm``
HF_MATRICES = ("attention", "dense_mlp", "experts", "shared_experts", "router")


def _muon_layer_params(m: ModelSpec) -> float:
    """Muon parameters of all of the model's layers, as the optimizer term counts them."""
    blocks = {k: n for k, n in optimizers.whole_model_blocks(m).items() if k != "mtp"}
    dense, expert = optimizers.stage_muon_params(m, blocks)
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
        return answered(cli("estimate", p, "--json"))

    mu, ad = run("muon"), run("adamw")
    ratio = mu["memory_per_gpu_bytes"]["optimizer"] / ad["memory_per_gpu_bytes"]["optimizer"]
    assert 8 / 12 <= ratio < 0.7
    assert mu["breakdown_s"]["optimizer"] > ad["breakdown_s"]["optimizer"]


@pytest.mark.parametrize("name", LAYERED)
def test_stage_fractions_are_fractions(name):
    """Every stage's Muon shares, read off the blocks it holds (memory_stages ``StageSplit``), lie in [0, 1] on PP 1-8,
    the expert share the class's (until 2026-12-04 the dense share was the mean mix over the stage, capped at 1, and
    the expert share that ratio too: 1.05 on a Nemotron 3 Nano PP2 stage holding more "E" blocks than the mean)."""
    from planner.layout import Candidates
    from planner.model.memory_stages import stage_split

    m = MODELS[name]
    pp = np.array([p for p in (1, 2, 4, 8) if p <= m.layers])
    one = np.ones_like(pp)
    sp = stage_split(m, Candidates.layouts(one, pp, one, one, one, 0 * one), blocks=True)
    for d, e, b in ((sp.first_dense, sp.first_expert, sp.first_blocks), (sp.last_dense, sp.last_expert, sp.last_blocks)):
        fd, fe = optimizers.muon_fractions(m, d, e, b)
        assert np.all((fd > 0) & (fd <= 1.0 + 1e-12)), (pp, fd)
        assert np.all(fe == np.where(e > 0, optimizers.class_shares(m)["expert"], 0.0))


def _moe_block_2d(m: ModelSpec) -> int:
    """2-D weights of one MoE layer less its routed experts (attention, router, shared expert), from the shapes."""
    e = m.moe
    return (macs(attention_weights(m)) + m.hidden * e.experts + macs(latent_weights(m))
            + macs(mlp_weights(m, shared_expert_width(m))) * (e.shared_experts > 0))


def test_stage_with_head_and_mtp_against_a_middle_stage():
    """DeepSeek-V3 on PP16 (Megatron's first/last split 2, 4 x 14, 3: the first three layers dense): the last stage
    holds 3 MoE layers, the head and the MTP module, whose eh_proj (h x 2h) and MoE block are Muon matrices
    (Megatron-Core marks only the embedding and output layer AdamW's); the heaviest middle stage 4 MoE layers. Each
    stage's Muon parameters and state bytes are its own blocks', by hand from the layer shapes (until 2026-12-04
    the MTP module's dense weights were AdamW's and every stage priced at the model's mean layer mix)."""
    from planner.layout import Candidates
    from planner.model.memory_stages import stage_split
    from planner.model.pipeline import pipeline_split

    m = MODELS["deepseek-v3"]
    h, e = m.hidden, m.moe
    counts = pipeline_split(m.layers, 16)[1]
    assert counts[-1] == 3 and max(counts[1:-1]) == 4 and m.moe.first_dense == 3
    sp = stage_split(m, Candidates.layouts(*(np.array([x]) for x in (1, 16, 1, 1, 1, 0))), blocks=True)
    last = {k: float(v[0]) for k, v in sp.last_blocks.items()}
    first = {k: float(v[0]) for k, v in sp.first_blocks.items()}
    assert last == {"dense": 0.0, "moe": 3.0, "mtp": 1.0} and first == {"dense": 0.0, "moe": 4.0, "mtp": 0.0}
    a = _moe_block_2d(m)
    expert_2d = macs(mlp_weights(m, m.ffn_hidden, io=m.expert_io))
    muon_last = 3 * a + (2 * h * h + a)  # three layers, then the MTP module: eh_proj + its MoE block
    dense_last, dense_first = float(sp.last_dense[0]), float(sp.first_dense[0])
    for blocks, dense, muon, n_moe in ((sp.last_blocks, dense_last, muon_last, 4),
                                       (sp.first_blocks, dense_first, 4 * a, 4)):
        md, me = optimizers.stage_muon_params(m, blocks)
        assert float(md[0]) == pytest.approx(muon, rel=1e-12)
        assert float(me[0]) == pytest.approx(n_moe * e.experts * expert_2d, rel=1e-12)
        # fp32 master + Muon's momentum (8 B) on the matrices, + AdamW's two moments (12 B) on the rest
        od, _ = optimizers.state_bytes(m, np.array([dense]), np.array([1.0]), blocks, 8.0, 12.0)
        assert float(od[0]) * dense == pytest.approx(8.0 * muon + 12.0 * (dense - muon), rel=1e-12)
    # the last stage's head (V x h) and final norm are AdamW's: a smaller Muon share than the middle stage's
    fd_last = optimizers.muon_fractions(m, sp.last_dense, sp.last_expert, sp.last_blocks)[0][0]
    fd_first = optimizers.muon_fractions(m, sp.first_dense, sp.first_expert, sp.first_blocks)[0][0]
    assert fd_last == pytest.approx(muon_last / dense_last) and fd_last < 0.6 < 0.99 < fd_first <= 1.0


def test_mtp_newton_schulz_is_a_moe_block_plus_eh_proj():
    """One MTP module's Newton-Schulz work (ZeRO-0, no split) is an MoE layer's -- its experts included -- plus
    the h x 2h eh_proj, per TP shard (column-parallel: h / tp rows); a hybrid's "*E" module adds an attention block."""
    from planner.hardware.efficiency import PRIORS

    impl = optimizers.IMPLEMENTATIONS["megatron"]
    for name, block in (("deepseek-v3", {"moe": 1.0}), ("nemotron-3-super-120b-a12b", {"*": 1.0, "E": 1.0})):
        m = MODELS[name]
        eff, tp = PRIORS["H100"], np.array([2.0])
        args = (tp, np.array([1.0]), np.array([8.0]), np.array([1.0]), np.array([1.0]), np.array([0]), 15e-6)

        def ns(blocks):
            return float(optimizers.stage_ns_time(m, impl, eff, 989e12, 3.35e12, blocks, *args)[0])

        launches = (3 * optimizers.NS_STEPS + optimizers.MUON_OPS_PER_MATRIX) * 15e-6
        eh = max(float(optimizers.ns_time(eff, m.hidden / 2, 2 * m.hidden, 989e12, 3.35e12)), launches)
        assert ns({"mtp": 1.0}) == pytest.approx(ns(block) + eh, rel=1e-12)
        assert ns({"mtp": 1.0}) > ns({k: 0.0 for k in block})


def test_layer_wise_split_floored_only_by_matrices_the_stage_holds():
    """Megatron's layer-wise Muon (ZeRO-1) deals whole matrices to the data-parallel ranks, so the busiest rank's
    Newton-Schulz is at least its largest matrix -- one the stage holds: DeepSeek-V3's last PP16 stage (3 MoE
    layers + MTP) has no dense layer, so the dense MLP's fused 36864 x 7168 fc1 does not bound it (until
    2026-12-04 it did: 0.187 s of optimizer step at EP64 where its own matrices give 0.156 s); stage 0 holds two.
    EP256: one expert of each MoE block per rank, so the experts' own Newton-Schulz stays below the fc1's."""
    from planner.hardware.efficiency import PRIORS

    m, eff = MODELS["deepseek-v3"], PRIORS["H100"]
    impl = optimizers.IMPLEMENTATIONS["megatron"]
    one = np.array([1.0])
    fc1 = float(optimizers.ns_time(eff, 2 * m.dense_width, m.hidden, 989e12, 3.35e12))

    def ns(blocks):
        return float(optimizers.stage_ns_time(m, impl, eff, 989e12, 3.35e12, blocks, one, one, np.array([256.0]),
                                              np.array([64.0]), one, np.array([1]), 15e-6)[0])

    assert ns({"dense": 0.0, "moe": 3.0, "mtp": 1.0}) < fc1 <= ns({"dense": 2.0, "moe": 0.0, "mtp": 0.0})
