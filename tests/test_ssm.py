"""Hybrid Mamba-Transformer models (ModelSpec.hybrid_pattern, planner/model/ssm.py).

Truth: tests/data/hf_ssm_truth.json, made once by tests/make_hf_ssm_truth.py with transformers'
NemotronH (meta-device parameter counts of the published Nemotron 3 Nano config.json; FlopCounterMode
on tiny random NemotronH models through the mixer's PyTorch path). The tests need neither torch nor
transformers.
"""
import json

import numpy as np
import pytest

from planner.model.activations import block_saved_tensors, layer_activation_bytes, mean_layer_activation_bytes
from planner.model.flops import (attention_core_flops, linear_flops_per_token, mamba_conv_flops, mamba_proj_macs,
                                 ssd_flops, step_flops)
from planner.spec import ModelSpec, load_hf_config
from planner.spec.hf import hf_config_to_fields
from planner.spec.params import count_params, mamba_params
from planner.spec.presets import PRESETS
from conftest import EXAMPLES, answered, refused

from pathlib import Path

DATA = Path(__file__).parent / "data"
TRUTH = json.loads((DATA / "hf_ssm_truth.json").read_text())
NANO_CFG = DATA / "hf_configs_ssm" / "nemotron-3-nano-30b-a3b.json"


def nano():
    return ModelSpec(**PRESETS["nemotron-3-nano-30b-a3b"])


def test_nano_params_match_hf_and_the_published_count():
    """Exact against transformers' NemotronH built from the published config.json, per layer kind
    too; and the published size: NVIDIA's Nemotron 3 Nano report / model card, "31.6B total
    parameters, 3.2B active (3.6B including embeddings)"."""
    rec = TRUTH["params"]["nemotron-3-nano-30b-a3b"]
    for m in (nano(), ModelSpec(**load_hf_config(NANO_CFG))):
        pc = count_params(m)
        assert pc.total == rec["params"] == 31_577_937_344
        assert round(pc.total / 1e9, 1) == 31.6
        assert round((pc.active - pc.embedding - pc.lm_head) / 1e9, 1) == 2.9  # layers only
        assert round((pc.active - pc.embedding) / 1e9, 1) == 3.2  # the "3.2B active" (head counted)
        assert round(pc.active / 1e9, 1) == 3.6  # "3.6B including embeddings"
    m = nano()
    kinds = rec["per_layer_kind"]
    assert mamba_params(m) + m.hidden == kinds["linear_attention"]
    assert count_params(m).moe_layer == kinds["moe"]


def test_nemotron_h_56b_params_from_the_published_shapes():
    """The nemotron-h-56b preset against its config.json (nvidia/Nemotron-H-56B-Base-8K), counted here by hand from
    the HF NemotronH modules' weight shapes (not through planner.spec.params): 54 Mamba-2 mixers (in_proj to
    2 d_inner + 2 groups d_state + heads, depthwise conv1d with bias, dt_bias / A_log / D, gated RMSNorm, out_proj),
    54 squared-ReLU MLPs (up + down), 10 GQA attention blocks (64 heads / 8 KV of 128), one RMSNorm per block, the
    final norm, untied 131072-token embedding and head: 56.3B, the model card's "56B model parameters"."""
    m = ModelSpec(**PRESETS["nemotron-h-56b"])
    p = m.hybrid_pattern
    assert (len(p), p.count("M"), p.count("-"), p.count("*")) == (118, 54, 54, 10)  # "54 Mamba-2, 54 MLP, 10 attention"
    h, di, g, n, nh, f, v = 8192, 256 * 64, 8, 256, 256, 32768, 131072
    conv = di + 2 * g * n
    mamba = h * (2 * di + 2 * g * n + nh) + conv * 4 + conv + 3 * nh + di + di * h
    attn = h * 64 * 128 * 2 + 2 * h * 8 * 128
    total = 54 * (mamba + h) + 54 * (2 * h * f + h) + 10 * (attn + h) + h + 2 * v * h
    assert count_params(m).total == total == 56_324_350_464
    assert round(total / 1e9) == 56


def _hf_convention_fwd(m, b, s):
    """Forward FLOPs of the tiny NemotronH under FlopCounterMode, from the planner's helpers with the
    HF PyTorch path's conventions (flops.ssd_flops: B, C repeated per head, the pairwise chunk-state
    einsum, the sequence padded to whole chunks; conv1d with d_conv - 1 outputs more per sequence;
    eager attention: every score)."""
    T = b * s
    lin = linear_flops_per_token(m)
    conv_tok = m.mamba_layers * float(mamba_conv_flops(m, 1.0))
    out = T * (lin["attn_proj"] + lin["mlp"] + lin["logits"] + lin.get("mamba", 0.0) - conv_tok)
    out += m.mamba_layers * b * (float(mamba_conv_flops(m, s + m.mamba.d_conv - 1))
                                 + float(ssd_flops(m, s, scores_per_head=True, pairwise_states=True, padded=True)))
    return out + float(attention_core_flops(T, s, m.q_dim)) * m.attention_layers


@pytest.mark.parametrize("name", sorted(TRUTH["flops"]))
def test_forward_flops_match_flopcountermode(name):
    e = TRUTH["flops"][name]
    m = ModelSpec(**hf_config_to_fields(e["config"]))
    assert count_params(m).total == e["params"]
    for c in e["cases"]:
        assert _hf_convention_fwd(m, c["batch"], c["seq"]) == c["fwd"], (name, c["batch"], c["seq"])
        # the einsums and the conv are really in the truth (the scan is not free in it)
        assert c["fwd_by_op"]["aten.convolution"] > 0 and c["fwd_by_op"]["aten.bmm"] > 0


def test_kernel_ssd_convention_is_below_the_reference_path():
    """mamba_ssm's kernels score C B^T per group and pass states by a recurrence: fewer FLOPs than
    HF's per-head einsums; for Nemotron 3 Nano shapes the scan is a few % of the mixer."""
    m = nano()
    s = 8192
    kern, ref = float(ssd_flops(m, s)), float(ssd_flops(m, s, True, True, True))
    assert kern < ref
    assert 0.02 < kern / (2.0 * s * mamba_proj_macs(m)) < 0.08


def test_step_flops_count_the_scan_and_only_attention_layers():
    m = nano()
    f = step_flops(m, 8192, 1)
    lin = linear_flops_per_token(m)
    # 6 attention layers, not 52: 4 x s x q_dim x 6 per token
    assert float(f["attention_fwd"]) == pytest.approx(4 * 8192 * m.q_dim * 6 * 8192)
    assert float(f["ssd_fwd"]) == pytest.approx(23 * float(ssd_flops(m, 8192)))
    total = (lin["attn_proj"] + lin["mlp"] + lin["mamba"] + lin["logits"]) * 8192
    assert float(f["fwd"]) == pytest.approx(total + float(f["attention_fwd"]) + float(f["ssd_fwd"]))


def _dense_pair_model(hybrid: bool):
    base = dict(hidden=1024, heads=16, kv_heads=4, ffn_hidden=2816, vocab=32000, mlp="swiglu", position="rope")
    return ModelSpec(**base, hybrid_pattern="*-" * 8) if hybrid else ModelSpec(**base, layers=8)


def test_attention_mlp_blocks_equal_the_transformer_they_split(catalog):
    """A hybrid pattern of "*-" pairs is a transformer whose layers are split in two blocks: same
    parameters, FLOPs, activation memory (no recompute) and step time (pp 1) — the hybrid mixing
    (ssm.layer_shares, block_saved_tensors, the halved per-block norms / collectives / host ops)
    must reproduce the plain layer exactly."""
    from planner.model.step_time import BREAKDOWN_KEYS, step_time
    from planner.spec import TrainingSpec
    from test_step_time import cands, hw_for

    h, t = _dense_pair_model(True), _dense_pair_model(False)
    assert count_params(h).total == count_params(t).total
    assert float(step_flops(h, 4096, 8)["hardware"]) == pytest.approx(float(step_flops(t, 4096, 8)["hardware"]))
    kw = dict(tp=2, sp=True, flash=True)
    assert float(mean_layer_activation_bytes(h, 4096, 2, **kw)) * 2 == pytest.approx(
        float(mean_layer_activation_bytes(t, 4096, 2, **kw)))
    tr = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=2, precision="bf16", recompute="none")
    hw = hw_for(catalog)
    for fw in ("megatron-core", "torchtitan"):
        for c in (cands(tp=2, dp=4, mb=2, sp=True), cands(tp=1, dp=8, mb=2, rc=1), cands(tp=4, dp=2, mb=2, rc=2, cp=1)):
            a, b = step_time(h, tr, c, hw, framework=fw), step_time(t, tr, c, hw, framework=fw)
            # (not comm_dp: the gradient reduce's buckets are one per layer of the stage, and a block
            # is a layer: pipeline.exposed_dp_comm exposes a last bucket half the size)
            for k in ("t_fwd_mb", "t_bwd_mb") + tuple(k for k in BREAKDOWN_KEYS if k != "comm_dp"):
                assert float(a[k][0]) == pytest.approx(float(b[k][0]), rel=1e-9, abs=1e-15), (fw, k)
    # Megatron-Core's recompute_modules re-run per block: the MLP's TP collectives and the separate norms
    # of a "*-" pair are the transformer layer's (one norm per block, a block's collectives whole)
    for mods in (["mlp"], ["layernorm"], ["mlp", "layernorm", "core_attn"]):
        tr2 = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=2, precision="bf16", recompute="selective",
                           recompute_modules=mods)
        for c in (cands(tp=2, dp=4, mb=2, sp=True, rc=1), cands(tp=1, dp=8, mb=2, rc=1)):
            a, b = step_time(h, tr2, c, hw, framework="megatron-core"), step_time(t, tr2, c, hw, framework="megatron-core")
            for k in ("t_fwd_mb", "t_bwd_mb") + tuple(k for k in BREAKDOWN_KEYS if k != "comm_dp"):
                assert float(a[k][0]) == pytest.approx(float(b[k][0]), rel=1e-9, abs=1e-15), (mods, k)


def test_mamba_block_saves_what_the_mixer_keeps():
    """Megatron-Core's Mamba layer keeps its input, the norm's output and rstd, the in_proj output
    zxBCdt and the scan output (MambaSplitConv1dScanCombinedFn.save_for_backward), the gated norm's
    input and rstd and out_proj's input; full recompute keeps the block input only."""
    m = nano()
    rows = {r.name: r for r in block_saved_tensors(m, "M")}
    assert rows["mamba.zxbcdt"].per_token == 2 * 4096 + 2 * 8 * 128 + 64
    per_tok = float(layer_activation_bytes(m, 1, 1, kind="M"))
    assert per_tok == 2 * (2 * 2688 + 10304 + 3 * 4096) + 4 * (1 + 8)  # bf16 rows + fp32 rstds
    assert float(layer_activation_bytes(m, 1, 1, kind="M", recompute=2)) == 2 * 2688


def test_mamba_scan_is_memory_bound_at_nemotron_shapes():
    """The layout copies and the SSD/conv/norm kernels move ~200 KB per token per layer against ~3.5 MFLOP: at any GPU's
    bandwidth the bytes set the time (ssm.mamba_layer's roofline), not the FLOPs."""
    from planner.model.ssm import scan_bytes_per_token

    m = nano()
    b = float(scan_bytes_per_token(m, 1, 2.0))
    fl = float(ssd_flops(m, 8192)) / 8192 + float(mamba_conv_flops(m, 1.0))
    assert 1.8e5 < b < 2.2e5 and fl / b < 40  # well under any tensor-core GPU's ridge point (> 150 FLOP/B)


def test_mamba_backward_bytes_cover_what_the_backward_must_touch():
    """ssm.SCAN_BWD_BYTES against an independent floor and the forward: the backward reads every tensor the
    mixer saved for it (activations.block_saved_tensors: zxBCdt, out_x, the gated norm's input; the
    in/out projections' inputs belong to the GEMMs), the incoming gradient of y, and writes the gradient of
    zxBCdt; it re-runs the conv and four forward SSD kernels, so it moves more than the saved-tensor floor
    plus those kernels' bytes, and more than the 2x of plain elementwise backward the old factor assumed."""
    from planner.model.ssm import LAYOUT_COPIES, SCAN_BWD_BYTES, SCAN_BYTES, scan_bytes_per_token

    m = nano()
    rows = {r.name: r for r in block_saved_tensors(m, "M")}
    saved = 2 * sum(rows[k].per_token for k in ("mamba.zxbcdt", "mamba.out_x", "mamba.gated_norm.input"))
    floor = saved + 2 * 4096 + 2 * rows["mamba.zxbcdt"].per_token  # + read dy, write dzxBCdt
    a = m.mamba
    widths = (m.mamba_inner, a.groups * a.d_state, m.mamba_heads, a.head_dim, a.d_state, a.chunk_size, a.groups, 2.0)
    rerun = sum(SCAN_BYTES[k](*widths) for k in ("conv1d", "chunk_cumsum", "bmm_chunk", "chunk_state", "state_passing"))
    for mb in (1, 4):
        f = float(scan_bytes_per_token(m, 1, 2.0, mb))
        b = float(scan_bytes_per_token(m, 1, 2.0, mb, SCAN_BWD_BYTES))
        assert b > floor + rerun and 2.0 * f < b < 4.0 * f
    assert set(LAYOUT_COPIES) <= set(SCAN_BYTES) & set(SCAN_BWD_BYTES)


def test_hf_call_drops_the_layout_copies_and_the_scan_s_gating(catalog):
    """ssm.MAMBA_CALLS["hf"] (the norm and out_proj weights passed to mamba_split_conv1d_scan_combined, NeMo
    AutoModel's / Hugging Face's call on (b l d) tensors): no layout copy at any micro-batch, no z-gated scan output
    forward nor ``_chunk_scan_bwd_dz`` backward; the gated norm reads z (forward) and writes dz and the recomputed
    output (backward). Per Nano layer and token, bf16: forward 2 (zxBCdt) + 2 (y) copies and 2 of the scan's z
    passes out, one z read in; the stack entry that calls it so prices the step's scan faster than Megatron-Core's."""
    from planner.model.ssm import SCAN_BWD_BYTES, SCAN_BWD_BYTES_HF, SCAN_BYTES_HF, scan_bytes_per_token

    m = nano()
    di, zx = 4096, 10304
    meg_f, hf_f = (float(scan_bytes_per_token(m, 1, 2.0, 4, t)) for t in (None, SCAN_BYTES_HF))
    assert meg_f - hf_f == 2 * 2 * (zx + di) + 2 * 2 * di - 2 * di
    meg_b, hf_b = (float(scan_bytes_per_token(m, 1, 2.0, 4, t)) for t in (SCAN_BWD_BYTES, SCAN_BWD_BYTES_HF))
    assert meg_b - hf_b == 2 * 2 * (zx + di) + 6 * 2 * di - 3 * 2 * di
    assert float(scan_bytes_per_token(m, 1, 2.0, 1, SCAN_BYTES_HF)) == hf_f  # no copies to skip at b = 1
    from dataclasses import replace

    from planner.model.stacks import resolve
    from planner.spec import TrainingSpec
    from test_step_time import cands, hw_for

    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=4, precision="bf16")
    c = cands(tp=1, pp=1, dp=8, ep=8, nodes=1, etp=1, mb=4, zero=3)
    am = resolve("nemo-automodel")
    from planner.model.step_time import step_time

    runs = {call: step_time(m, t, c, hw_for(catalog), framework=replace(am, mamba_call=call)) for call in ("megatron", "hf")}
    assert runs["hf"]["compute_attention"][0] < runs["megatron"]["compute_attention"][0]
    assert runs["hf"]["compute_gemm"][0] == runs["megatron"]["compute_gemm"][0]


def test_layout_copies_are_no_ops_for_one_sequence():
    """Megatron-Core's ``rearrange(t, "l b d -> b l d").contiguous()`` (MambaMixer._ssm_training, and back for
    y) copies only for b > 1: PyTorch treats a permuted view with a size-1 dimension as contiguous
    (ssm.LAYOUT_COPIES; the scan bytes drop them at micro-batch 1)."""
    torch = pytest.importorskip("torch")
    einops = pytest.importorskip("einops")
    from planner.model.ssm import scan_bytes_per_token

    for b, copies in ((1, False), (2, True)):
        t = torch.zeros(16, b, 8)
        out = einops.rearrange(t, "l b d -> b l d").contiguous()
        assert (out.data_ptr() != t.data_ptr()) is copies
    m = nano()
    drop = float(scan_bytes_per_token(m, 1, 2.0, 2)) - float(scan_bytes_per_token(m, 1, 2.0, 1))
    assert drop == 2 * 2 * (10304 + 4096)  # read + write of zxBCdt and of y, bf16


def test_nemotron_job_estimates_end_to_end(cli):
    d = answered(cli("estimate", EXAMPLES / "nemotron-3-nano-pretrain.yaml", "--json"))
    assert d["params"] == 31_577_937_344
    assert 0 < d["mfu"] < 0.6 and d["step_time_s"] > 0
    assert d["fits"]  # the recipe's layout runs on 80 GB H100s (bf16 gradients, its recompute modules)
    # Megatron-Bridge's tables print 14,336-14,890 tokens/s/GPU for this layout: the planner within a factor 1.5
    assert 14_336 / 1.5 < d["tokens_per_s_per_gpu"] < 14_890 * 1.5
    assert d["breakdown_s"]["compute_attention"] > 0  # the attention layers and the Mamba scans


@pytest.mark.parametrize("model,field,fragment", [
    ("{hybrid_pattern: 'M*Q', hidden: 256, heads: 4, vocab: 1000}", "model.hybrid_pattern", "'Q' is not a layer symbol"),
    ("{hybrid_pattern: 'M*-', layers: 4, hidden: 256, heads: 4, vocab: 1000}", "model.layers", "hybrid_pattern has 3"),
    ("{hybrid_pattern: 'M*E', hidden: 256, heads: 4, vocab: 1000}", "model.moe", "E layers"),
    ("{hybrid_pattern: 'M*-', hidden: 256, heads: 4, vocab: 1000, mamba: {heads: 6, groups: 4}}", "model.mamba",
     "not divisible"),
    ("{hybrid_pattern: '*-', hidden: 256, heads: 4, vocab: 1000, mamba: {heads: 8}}", "model.mamba", "no M layer"),
    ("{hybrid_pattern: '', hidden: 256, heads: 4, vocab: 1000}", "model.hybrid_pattern", "at least 1"),
])
def test_bad_patterns_are_one_line_errors(tmp_path, cli, model, field, fragment):
    p = tmp_path / "job.yaml"
    p.write_text(f"model: {model}\ncluster: {{gpu: H100, nodes: 1}}\n")
    line = refused(cli("estimate", p))
    assert field in line and fragment in line, line


@pytest.mark.parametrize("training,field", [
    ("{mode: lora, tokens: 1.0e+9}", "training.mode"),
    ("{framework: torchtitan}", "training.framework"),
    ("{framework: auto}", "training.framework"),
    ("{framework: megatron-lm}", "training.framework"),
    ("{framework: {name: megatron-core, moe_a2a_overlap: true}}", "training.framework.moe_a2a_overlap"),
])
def test_unmodelled_hybrid_combinations_are_one_line_errors(tmp_path, cli, training, field):
    """What the hybrid model is not priced for (LoRA, stacks without Mamba
    layers here, a stack search that would time them) is refused, not mispriced."""
    p = tmp_path / "job.yaml"
    p.write_text(f"model: {{preset: nemotron-3-nano-30b-a3b}}\ntraining: {training}\nparallel: {{ep: 8, pp: 1}}\n"
                 "cluster: {gpu: H100, nodes: 2}\n")
    line = refused(cli("estimate", p))
    assert line.startswith(f"error: {field}:"), line


def test_hybrid_has_no_virtual_pipeline(tmp_path, cli):
    """Megatron-Core's MambaStack asserts no virtual pipeline: estimate refuses vpp 2 in one line, and
    recommend, with the pipeline open, plans none (while a GPT of the same size gets interleaved plans)."""
    import json

    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: nemotron-h-8b}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1.0e10}\n"
                 "parallel: {pp: 2, vpp: 2}\ncluster: {gpu: H100, nodes: 2}\n")
    code, out, err = cli("estimate", p)
    assert code == 2 and err.strip().startswith("error: parallel.vpp:") and "Mamba" in err, (out, err)
    p.write_text("model: {preset: nemotron-h-8b}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1.0e10}\n"
                 "parallel: {pp: 4}\ncluster: {gpu: H100, nodes: 2}\n")
    d = answered(cli("recommend", p, "--json"))
    assert d["best"]["config"]["vpp"] == 1 and all(r["config"]["vpp"] == 1 for r in d["ranked"])
    assert d["pareto"] and all(r["vpp"] == 1 for r in d["pareto"])
    p.write_text(p.read_text().replace("nemotron-h-8b", "llama3-8b"))
    assert answered(cli("recommend", p, "--json"))["best"]["config"]["vpp"] > 1  # the search does interleave GPTs here


def test_tp_must_divide_the_mamba_heads_and_groups(tmp_path, cli):
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: nemotron-3-nano-30b-a3b}\nparallel: {tp: 16}\ncluster: {gpu: H100, nodes: 2}\n")
    code, _, err = cli("estimate", p)
    assert code == 2 and "parallel.tp" in err and "Mamba" in err, err


def test_latent_moe_params_match_hf_and_the_published_count():
    """Nemotron 3 Super (LatentMoE: experts in ``moe_latent_size``, HF NemotronHMoE fc1/fc2_latent_proj):
    exact against transformers' NemotronH at the published shape (meta device), through the preset and
    through the HF mapper; the name's "120B-A12B" (no MTP: transformers builds none); the preset's one
    repeated MTP block ("*E": an attention and an MoE layer, eh_proj 2h^2, three norms) on top."""
    rec = TRUTH["params"]["nemotron-3-super-120b-a12b"]
    m = ModelSpec(**PRESETS["nemotron-3-super-120b-a12b"])
    assert count_params(ModelSpec(**hf_config_to_fields(rec["config"]))).total == rec["params"] == 120_668_687_360
    pc = count_params(m)
    assert pc.total - pc.mtp == rec["params"]
    no_mtp = count_params(m.model_copy(update={"mtp_layers": 0}))
    assert round(no_mtp.total / 1e9) == 121 and round((no_mtp.active - no_mtp.embedding) / 1e9) == 12
    h = m.hidden
    e_block = count_params(m.model_copy(update={"mtp_layers": 0})).moe_layer
    attn_block = 2 * h * (32 * 128) + 2 * h * (2 * 128) + h  # Wq, Wo, Wk, Wv; its RMSNorm
    assert pc.mtp == 3 * h + 2 * h * h + attn_block + e_block  # mtp_repeated: one module for 2 depths
    # the latent width cuts every routed expert to l/h of its width: 2 x l x f instead of 2 x h x f
    assert pc.expert == 2 * 1024 * 2688


def test_hybrid_mtp_needs_attention_and_moe_layers(tmp_path, cli):
    """The hybrid MTP block modelled is "*E" (Megatron-Bridge's Nemotron 3 recipes): a pattern without
    attention or MoE layers is refused in one line."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: nemotron-h-8b, mtp_layers: 1}\ncluster: {gpu: H100, nodes: 1}\n")
    line = refused(cli("estimate", p))
    assert "mtp_layers" in line, line


def test_latent_moe_block_flops_match_megatron_bridge_formula():
    """One LatentMoE block's forward FLOPs per token against Megatron-Bridge's own counter
    (training/utils/flop_utils.py ``moe_layer_flops`` with ``moe_latent_size``, not gated): routed
    4 l f k + the projections 4 h l + shared 4 h f_s (its router is not counted there; here h E)."""
    from planner.model.flops import moe_block_macs

    m = ModelSpec(**PRESETS["nemotron-3-super-120b-a12b"])
    h, l, f, k, fs = 4096, 1024, 2688, 22, 5376
    b = moe_block_macs(m)
    assert 2 * (b["experts"] + b["latent_proj"] + b["shared_experts"]) == 4 * l * f * k + 4 * h * l + 4 * h * fs
    assert b["router"] == h * 512


def test_pure_mamba2_params_match_transformers_mamba2():
    """A pure Mamba-2 stack ("M" x 64) against transformers' own Mamba2 class (a separate implementation
    of the mixer, modeling_mamba2.py) at the state-spaces/mamba2-2.7b shape: exact, and the published 2.7B."""
    rec = TRUTH["params"]["mamba2-2.7b"]
    c = rec["config"]
    m = ModelSpec(hybrid_pattern="M" * c["num_hidden_layers"], hidden=c["hidden_size"], vocab=c["vocab_size"],
                  tied_embeddings=True, position="none",
                  mamba=dict(heads=c["num_heads"], head_dim=c["head_dim"], groups=c["n_groups"], d_state=c["state_size"],
                             d_conv=c["conv_kernel"], expand=c["expand"]))
    assert count_params(m).total == rec["params"]
    assert round(rec["params"] / 1e9, 1) == 2.7


@pytest.mark.parametrize("preset", ["nemotron-h-8b", "nemotron-3-nano-30b-a3b"])
def test_hybrid_pipeline_stages_hold_their_own_blocks(preset):
    """Megatron-Core splits the pattern evenly over PP stages (MambaStack._select_layers_for_pipeline_parallel):
    at PP 2 the two stages' parameters add up to the whole model (counted by parameter count, not by a
    mean block), the stages differ where the pattern is uneven, and ZeRO-3's gather buffer is the largest
    block (a Mamba or MoE block, above the mean layer)."""
    from planner.layout import Candidates
    from planner.model.memory_stages import stage_params

    m = ModelSpec(**PRESETS[preset])
    pc = count_params(m)
    c = Candidates.layouts(np.array([1, 1]), np.array([1, 2]), np.array([8, 4]), np.array([1, 1]), np.array([1, 1]),
                           np.array([1, 1]))
    fd, fe, ld, le, layers, largest = stage_params(m, c)
    assert fd[0] + fe[0] == pytest.approx(pc.total) and ld[0] + le[0] == pytest.approx(pc.total)
    assert fd[1] + fe[1] + ld[1] + le[1] == pytest.approx(pc.total)  # no tied head in these models
    assert layers[1] == m.layers // 2
    half = m.hybrid_pattern[: m.layers // 2]
    assert fe[1] == pytest.approx(half.count("E") * m.moe.experts * pc.expert if m.moe else 0.0)
    mean_layer = (pc.total - pc.embedding - pc.lm_head - pc.final_norm) / m.layers
    assert largest[0] > mean_layer
    h = m.hidden  # each block: its mixer and one RMSNorm weight (h)
    mlp_block = (3 if m.gated else 2) * h * m.dense_width + h if m.kind_layers("-") else 0
    assert largest[0] == max(mamba_params(m) + h, mlp_block, pc.moe_layer)


def test_hybrid_recompute_rebuilds_one_block_at_a_time():
    """Each hybrid layer is its own checkpointed block: full recompute rebuilds the largest block, not a
    whole transformer layer -- for "*-" pairs that is the larger half of the transformer's layer."""
    from planner.model.activations import FULL, recompute_working_set

    h, t = _dense_pair_model(True), _dense_pair_model(False)
    kw = dict(tp=2, sp=True, flash=True, recompute=FULL)
    halves = [float(recompute_working_set(h, 4096, 2, kind=k, **kw)) for k in ("*", "-")]
    whole = float(recompute_working_set(t, 4096, 2, **kw))
    assert sum(halves) == pytest.approx(whole)  # the two blocks' tables split the layer's
    assert 0 < max(halves) < whole


@pytest.mark.parametrize("layers,pp", [(52, 3), (52, 5), (88, 3), (88, 8), (52, 4)])
def test_hybrid_stages_follow_the_launched_split(layers, pp):
    """Where pp does not divide a hybrid model's layers, memory counts the stages --emit launches
    (``--decoder-first/last-pipeline-num-layers``, which MambaStack honours): every layer on one stage, none
    dropped (layers // pp per stage would leave the rest unbuilt)."""
    from planner.model.pipeline import stage_layer_split
    from planner.present.emit import megatron_pipeline_split

    sizes = stage_layer_split(layers, pp)
    assert sum(sizes) == layers and len(sizes) == pp and max(sizes) == -(-layers // pp)
    flags = megatron_pipeline_split(layers, pp, 1)
    if layers % pp:
        f = dict(zip(flags[::2], flags[1::2]))
        assert (int(f["--decoder-first-pipeline-num-layers"]), int(f["--decoder-last-pipeline-num-layers"])) == \
            (sizes[0], sizes[-1])
    else:
        assert flags == [] and len(set(sizes)) == 1


@pytest.mark.parametrize("preset", ["nemotron-3-super-120b-a12b", "deepseek-v3"])
def test_mtp_modules_are_in_the_last_stages_memory(preset):
    """The MTP modules (``ParamCount.mtp``: DeepSeek-V3's one depth, Super's repeated "*E" block) are weights
    like any other: on one stage every parameter the model counts, at PP 2 the last stage holds them (and the
    experts of their MoE blocks are expert parameters) with the MTP modules' copy of the word embedding (untied
    both: V x h, ``mtp_embedding_copy``, small30b)."""
    from planner.layout import Candidates
    from planner.model.memory_stages import mtp_embedding_copy, mtp_stage_params, stage_params

    m = ModelSpec(**PRESETS[preset])
    pc = count_params(m)
    assert pc.mtp > 0
    one = np.array([1, 1])
    c = Candidates.layouts(one, np.array([1, 2]), np.array([8, 4]), one, one, one)
    fd, fe, ld, le, _, _ = stage_params(m, c)
    assert fd[0] + fe[0] == pytest.approx(pc.total)
    no_mtp = stage_params(m.model_copy(update={"mtp_layers": 0, "mtp_repeated": False}), c)
    d, e = mtp_stage_params(m, pc)
    assert not m.tied_embeddings and mtp_embedding_copy(m) == m.vocab * m.hidden
    assert ld[1] - no_mtp[2][1] == pytest.approx(d + m.vocab * m.hidden) and le[1] - no_mtp[3][1] == pytest.approx(e)
    assert e > 0
    assert fd[1] == pytest.approx(no_mtp[0][1]) and fe[1] == pytest.approx(no_mtp[1][1])


def test_mtp_depth_saves_a_layers_activations_on_the_last_stage():
    """DeepSeek-V3's MTP depth runs a transformer layer after the decoder on the last stage and saves its
    activations like one: at PP 2 (the last stage the most loaded with and without it; at PP 4 the first stage,
    which holds the embedding and Megatron's larger share of the 61 layers, is the most loaded without MTP) the
    activations grow by one mean layer's worth per in-flight micro-batch (one micro-batch here), not by nothing."""
    from planner.model.activations import mean_layer_activation_bytes, stack_table_kw
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import from_training
    from planner.spec import TrainingSpec
    from test_step_time import cands

    m = ModelSpec(**PRESETS["deepseek-v3"])
    t = TrainingSpec(seq_len=4096, global_batch=2, micro_batch=1, precision="bf16", recompute="none")  # one micro-batch
    c = cands(tp=8, pp=2, dp=2, ep=8, etp=1, mb=1, sp=True)
    with_mtp = memory_per_gpu(m, t, c)
    without = memory_per_gpu(m.model_copy(update={"mtp_layers": 0}), t, c)
    assert int(with_mtp["stage"][0]) == 1 and int(without["stage"][0]) == 1
    st = from_training(t)
    one = float(mean_layer_activation_bytes(m, 4096.0, 1, tp=8, cp=1, sp=True, flash=True, act_bytes=2.0,
                                            recompute=0, **stack_table_kw(st, "bf16")))
    assert float(with_mtp["activations"][0] - without["activations"][0]) == pytest.approx(one, rel=0.02)
