"""Hardware FLOPs (HFU) under Megatron-Core's per-module selective recompute
(``training.recompute_modules``): the backward re-runs exactly the forward matmuls of the listed
modules (planner.model.flops ``recompute_module_flops_per_token``), as the step time re-runs them
(planner.model.layer_ops ``_module_recompute``). Extra FLOPs are checked against hand counts from
the presets' dimensions (written out here, not taken from the planner's helpers); model FLOPs (MFU)
never change with the list."""
import pytest

from planner.model.flops import step_flops
from planner.spec import ModelSpec, load_job_dict
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job

SEQ, GB = 4096, 256
TOKENS = SEQ * GB
LLAMA = ModelSpec(**PRESETS["llama3-8b"])  # 32 layers, h 4096, q_dim 4096, SwiGLU ffn 14336
V2L = ModelSpec(**PRESETS["deepseek-v2-lite"])  # 27 layers (first dense), h 2048, MLA without q LoRA


def _hw(m, mods):
    return float(step_flops(m, SEQ, GB, "selective", modules=mods)["hardware"])


def test_preset_dims_the_hand_counts_assume():
    assert (LLAMA.layers, LLAMA.hidden, LLAMA.q_dim, LLAMA.ffn_hidden, LLAMA.mlp) == (32, 4096, 4096, 14336, "swiglu")
    e, a = V2L.moe, V2L.mla
    assert (V2L.layers, V2L.moe_layers, V2L.hidden, V2L.heads, V2L.ffn_hidden) == (27, 26, 2048, 16, 1408)
    assert (e.experts, e.top_k, e.shared_ffn_hidden, e.shared_expert_gate) == (64, 6, 2816, False)
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (None, 512, 128, 64, 128)


@pytest.mark.parametrize("m", [LLAMA, V2L], ids=["llama3-8b", "deepseek-v2-lite"])
def test_empty_list_is_no_recompute_and_default_is_the_attention_core(m):
    none = step_flops(m, SEQ, GB, "none")
    assert _hw(m, ()) == float(none["hardware"])
    assert _hw(m, ("core_attn",)) == float(step_flops(m, SEQ, GB, "selective")["hardware"])
    # Korthikanti's selective: the attention core forward, 4 s q_dim per token per layer in full; the
    # causal flash kernel that re-runs it computes half of the scores (hardware FLOPs are executed ones)
    if m is LLAMA:
        assert _hw(m, ("core_attn",)) - _hw(m, ()) == pytest.approx(2 * SEQ * 4096 * 32 * TOKENS, rel=1e-12)
        full = [float(step_flops(m, SEQ, GB, "selective", modules=x, causal_kernel=False)["hardware"])
                for x in (("core_attn",), ())]
        assert full[0] - full[1] == pytest.approx(4 * SEQ * 4096 * 32 * TOKENS, rel=1e-12)
    for mods in [(), ("core_attn",), ("mlp",), ("layernorm", "moe_act")]:
        assert step_flops(m, SEQ, GB, "selective", modules=mods)["model"] == none["model"]


def test_mlp_adds_the_dense_mlp_forward():
    assert _hw(LLAMA, ("mlp",)) - _hw(LLAMA, ()) == pytest.approx(2 * 3 * 4096 * 14336 * 32 * TOKENS, rel=1e-12)
    # DeepSeek-V2-Lite: the one dense layer's MLP (width 10944); MoE layers are not "mlp"
    assert _hw(V2L, ("mlp",)) - _hw(V2L, ()) == pytest.approx(2 * 3 * 2048 * 10944 * 1 * TOKENS, rel=1e-12)


def test_moe_modules_and_mla_up_projection():
    router, experts, shared = 2048 * 64, 6 * 3 * 2048 * 1408, 3 * 2048 * 2816
    base = _hw(V2L, ())
    assert _hw(V2L, ("moe",)) - base == pytest.approx(2 * (router + experts + shared) * 26 * TOKENS, rel=1e-12)
    assert _hw(V2L, ("shared_experts",)) - base == pytest.approx(2 * shared * 26 * TOKENS, rel=1e-12)
    # "moe" already re-runs the shared experts and the activation: nothing counted twice
    assert _hw(V2L, ("moe", "shared_experts", "moe_act")) == _hw(V2L, ("moe",))
    # no q LoRA: Megatron-Core's qkv_up_proj_and_rope_apply runs linear_q_proj (h x H*192) and
    # linear_kv_up_proj (512 x H*(128+128))
    up = 2048 * 16 * 192 + 512 * 16 * 256
    assert _hw(V2L, ("mla_up_proj",)) - base == pytest.approx(2 * up * 27 * TOKENS, rel=1e-12)
    assert _hw(V2L, ("layernorm", "moe_act")) == base  # elementwise only


def _plan(catalog, **training):
    t = {"seq_len": SEQ, "global_batch": GB, "tokens": 1e9, "micro_batch": 1, "framework": "megatron-core", **training}
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": t,
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}})
    return estimate_job(job, catalog)


def test_estimate_hfu_follows_the_module_list(catalog):
    """The estimate path (step_time's HFU and the plan's FLOPs): an empty list is recompute none,
    step time and HFU alike; "mlp" adds the dense MLP forward; MFU's FLOPs never move."""
    none = _plan(catalog, recompute="none")
    empty = _plan(catalog, recompute="selective", recompute_modules=[])
    mlp = _plan(catalog, recompute="selective", recompute_modules=["mlp"])
    core = _plan(catalog, recompute="selective", recompute_modules=["core_attn"])
    default = _plan(catalog, recompute="selective")
    assert empty.step_time_s == none.step_time_s
    assert empty.hfu == none.hfu and empty.hw_flops_per_step == none.hw_flops_per_step
    assert mlp.hw_flops_per_step - empty.hw_flops_per_step == pytest.approx(2 * 3 * 4096 * 14336 * 32 * TOKENS, rel=1e-12)
    assert (core.hfu, core.hw_flops_per_step) == (default.hfu, default.hw_flops_per_step)
    for p in (empty, mlp, core):
        assert p.flops_per_step == none.flops_per_step
        # step_time's HFU and the plan's hardware FLOPs agree: same FLOPs over the same seconds
        assert p.hfu / p.mfu == pytest.approx(p.hw_flops_per_step / p.flops_per_step, rel=1e-12)


def test_recomputed_gemms_never_beat_the_peak(catalog):
    """What each module re-runs in the step time (layer_ops._module_recompute) and in the hardware
    FLOPs is the same work: its extra FLOPs over its extra GEMM seconds is a rate no GPU exceeds
    (H100 SXM dense bf16: 989 TFLOP/s). DeepSeek-V2-Lite has no q LoRA, so mla_up_proj re-runs the
    whole q_proj (multi_latent_attention.py ``qkv_up_proj_and_rope_apply``): timing only kv_up
    would put that rate near 1.9 PFLOP/s."""
    def plan(mods):
        t = {"seq_len": SEQ, "global_batch": GB, "tokens": 1e9, "micro_batch": 1, "framework": "megatron-core",
             "recompute": "selective", "recompute_modules": mods}
        job = load_job_dict({"model": {"preset": "deepseek-v2-lite"}, "training": t,
                             "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                             "parallel": {"tp": 1, "pp": 1, "ep": 8, "zero": 1}})
        return estimate_job(job, catalog)

    base = plan([])
    peak = catalog.gpu(base.hardware.gpu).peak("bf16")
    assert peak == pytest.approx(989e12, rel=0.01)
    for mods in (["mla_up_proj"], ["shared_experts"], ["mlp"], ["moe"]):
        p = plan(mods)
        secs = (p.breakdown_s.compute_gemm - base.breakdown_s.compute_gemm) * base.hardware.gpus
        rate = (p.hw_flops_per_step - base.hw_flops_per_step) / secs
        assert 0.2 * peak < rate <= peak, (mods, rate / 1e12)
