"""small32b leftovers. Each check fails on the code before."""
from __future__ import annotations

from conftest import answered, write_job


# ---- 1. weights: amp on Megatron-DeepSpeed: DeepSpeed's torch_autocast section over an fp32 module -------------------
def test_megatron_deepspeed_amp_reduces_fp32_gradients(tmp_path, cli):
    """``weights: amp`` on megatron-deepspeed is DeepSpeed's ``torch_autocast`` section (bf16 section off): the module
    stays fp32 and engine.py's ``communication_data_type`` falls through to float32, so the ZeRO-0 gradient all-reduce
    moves 4 B per gradient, not the bf16 engine's 2 B (Llama-2-7B TP2 PP2 DP4 on 2 p4d: comm_dp 0.022 -> 0.044 s).
    The casts stay priced (compute_memory_bound above weights megatron's)."""
    def job(weights, zero):
        return {"model": {"preset": "llama2-7b"},
                "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                             "weights": weights, "recompute": "none", "tokens": 1e10,
                             "framework": "megatron-deepspeed"},
                "parallel": {"tp": 2, "pp": 2, "zero": zero}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 2}}
    amp = answered(cli("estimate", write_job(tmp_path, job("amp", 0), "a.yaml"), "--json"))["breakdown_s"]
    meg = answered(cli("estimate", write_job(tmp_path, job("megatron", 0), "b.yaml"), "--json"))["breakdown_s"]
    assert abs(amp["comm_dp"] / meg["comm_dp"] - 2.0) < 0.05, (amp["comm_dp"], meg["comm_dp"])
    assert amp["compute_memory_bound"] > meg["compute_memory_bound"]  # the autocast casts


def test_fp32_module_has_no_bf16_optimizer_all_reduce():
    """The pipeline engine's BF16_Optimizer all-reduce (``grad_all_reduce="bf16"``) needs the bf16 section; under
    ``torch_autocast`` ZeRO-1 reduces through the ZeRO optimizer."""
    from planner.model.stacks import STACKS, all_reduces_grads, grad_reduce_bytes

    md = STACKS["megatron-deepspeed"]
    assert all_reduces_grads(md, "bf16") and not all_reduces_grads(md, "bf16", fp32_module=True)
    assert grad_reduce_bytes(md, "bf16", 4.0) == 2.0 and grad_reduce_bytes(md, "bf16", 4.0, fp32_module=True) == 4.0


# ---- 2. gpt-oss under the HF code: transformers' eager attention with the sink column, time and memory alike --------
def _oss_job(flash):
    return {"model": {"preset": "gpt-oss-20b"},
            "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "precision": "bf16", "recompute": "full",
                         "tokens": 1e9, "framework": "hf-trainer", "flash_attention": flash},
            "parallel": {"zero": 3}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


def test_hf_trainer_prices_gpt_oss_eager_attention(tmp_path, cli):
    """transformers' gpt-oss refuses sdpa and flash_attention_2 drops its sinks (``s_aux`` passed only to a kernel that
    takes it), so the HF Trainer trains it with ``eager_attention_forward``: full s x s scores plus the sink column.
    It was priced as causal FA2 with sdpa's saves (gpt-oss-20b, 8 x H100, ZeRO-3, 4K tokens, full recompute: 3.79 s a
    step, compute_attention 0.23 s); now 10.22 s, 6.70 s of it the eager attention, and flash_attention on or off is
    the same run, time and memory. (16.30 / 12.78 s until hffsdp47: at ZeRO-3 FSDP hands autocast bf16 weights, so
    the stream, the mask and the scores are bf16 -- ``Stack.fp32_stream`` -- not the fp32 autocast column.)"""
    on = answered(cli("estimate", write_job(tmp_path, _oss_job(True), "a.yaml"), "--json"))
    off = answered(cli("estimate", write_job(tmp_path, _oss_job(False), "b.yaml"), "--json"))
    assert on["step_time_s"] == off["step_time_s"]
    assert on["memory_per_gpu_bytes"]["activations"] == off["memory_per_gpu_bytes"]["activations"]
    assert on["hw_flops_per_step"] == off["hw_flops_per_step"]  # the plan's count: the full s x s eager scores
    assert on["breakdown_s"]["compute_attention"] > 3 * on["breakdown_s"]["compute_gemm"]  # the eager score passes
    assert 9.0 < on["step_time_s"] < 11.5, on["step_time_s"]


def test_eager_sink_attention_only_on_hf_code():
    """The rule is the HF code's (``mixed_precision`` set): torchtitan and AutoModel keep their FlexAttention kernel and
    sink rescale, and a model without sinks keeps sdpa / flash."""
    from planner.model.activations_hf import hf_attn_impl
    from planner.model.stacks import STACKS
    from planner.model.stack_kernels import eager_sink_attention
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    oss, llama = ModelSpec(**PRESETS["gpt-oss-20b"]), ModelSpec(**PRESETS["llama3-8b"])
    assert eager_sink_attention(STACKS["hf-trainer"], oss) and eager_sink_attention(STACKS["deepspeed"], oss)
    assert not any(eager_sink_attention(STACKS[s], oss) for s in ("torchtitan", "nemo-automodel", "megatron-core"))
    assert not eager_sink_attention(STACKS["hf-trainer"], llama)
    assert hf_attn_impl(oss, True) == "eager" and hf_attn_impl(llama, True) == "sdpa"


def test_hf_sink_score_bytes_match_real_ops():
    """layer_ops.HF_SINK_SCORE_BYTES are what transformers' gpt-oss ``eager_attention_forward`` moves per score around
    its two GEMMs (models/gpt_oss/modeling_gpt_oss.py @ 00d4b3d2), counted with a TorchDispatchMode on real torch ops:
    every op but views and the GEMMs, by the score-sized tensors it reads or writes, under CPU autocast (the HF
    Trainer's bf16=True over an fp32 model: the fp32 mask promotes the scores) and in a bf16 model."""
    import pytest
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from planner.model.layer_ops import hf_sink_score_bytes

    aten = torch.ops.aten
    skip = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default, aten.detach.default,
            aten.alias.default, aten._unsafe_view.default, aten.slice.Tensor, aten.transpose.int, aten.t.default,
            aten.permute.default, aten.bmm.default, aten.mm.default}
    b, H, s, hd = 2, 4, 64, 16
    S = b * H * s * s
    n, phase, counting = {"fwd": 0, "bwd": 0}, ["fwd"], [False]

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if counting[0] and func not in skip:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                n[phase[0]] += sum(x.numel() * x.element_size() for x in ts if x.numel() in (S, S // s * (s + 1)))
            return out

    for autocast in (True, False):
        n.update(fwd=0, bwd=0)
        dt = torch.float32 if autocast else torch.bfloat16
        q, k, v = (torch.randn(b, H, s, hd, dtype=dt, requires_grad=True) for _ in range(3))
        sinks = torch.nn.Parameter(torch.randn(H, dtype=dt))
        mask = torch.triu(torch.full((s, s), float("-inf"), dtype=dt), 1)[None, None].expand(b, 1, s, s)
        with Ops():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                counting[0], phase[0] = True, "fwd"
                w = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5
                w = w + mask
                c = torch.cat([w, sinks.reshape(1, -1, 1, 1).expand(b, -1, s, -1)], dim=-1)
                c = c - c.max(dim=-1, keepdim=True).values
                p = F.softmax(c, dim=-1, dtype=c.dtype)
                o = torch.matmul(F.dropout(p[..., :-1], p=0.0, training=True), v)
                counting[0] = False
            g = torch.randn_like(o)
            counting[0], phase[0] = True, "bwd"
            o.backward(g)
            counting[0] = False
        f, bw = hf_sink_score_bytes(autocast, s)
        assert (f, bw) == pytest.approx((n["fwd"] / S, n["bwd"] / S), rel=1e-12), (autocast, n)
