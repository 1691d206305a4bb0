"""autoep53b: the saves of DeepSpeed's AutoEP layer, per candidate; AutoTP leaves a dense model's norms whole.

At ``expert_parallel.autoep_size`` > 1 AutoEP swaps each transformers MoE block for its ``AutoEPMoELayer``
(deepspeedai/DeepSpeed master as stored: deepspeed/module_inject/auto_ep_layer.py ``AutoEPMoELayer._forward``,
``permute_by_local_expert``, ``unpermute_by_local_expert``, ``combine_from_routed``; deepspeed/moe/ep_experts.py
``_run_experts_grouped_mm``), so the job's ``experts_implementation`` does not run there. Until autoep53b the HF table
priced every row of a job with the job's kernel: an ``eager`` job's AutoEP rows kept the eager loop's saves.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import answered, write_job
from test_autoep53 import JOB  # Qwen3-30B-A3B full fine-tune, deepspeed, DP16 ZeRO-2, two p5.48xlarge

torch = pytest.importorskip("torch")

ALIGN = 8  # deepspeed/moe/ep_kernels.py TOKEN_GROUP_ALIGN_SIZE_M


def _autoep_block_saves(S: int, h: int, f: int, e_local: int) -> int:
    """Bytes autograd keeps (each storage once, ``saved_tensors_hooks``) for AutoEP's dispatch -> experts -> combine
    of ``S`` = T x top_k routed rows (top_k 2) in bf16, re-implemented from DeepSpeed's code at world size 1; the
    block's input ``x`` and the router's fp32 ``top_scores`` are leaves here (the block input and the router's rows)."""
    k = 2
    T = S // k
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, h, dtype=torch.bfloat16, generator=g).requires_grad_()
    top_scores = torch.rand(T, k, generator=g).requires_grad_()  # TokenChoiceTopKRouter: softmax in fp32
    selected = torch.stack([torch.arange(T) % e_local, (torch.arange(T) + 1) % e_local], 1)
    w1, w3 = (torch.randn(e_local, f, h, dtype=torch.bfloat16, generator=g).requires_grad_() for _ in range(2))
    w2 = torch.randn(e_local, h, f, dtype=torch.bfloat16, generator=g).requires_grad_()
    params = {p.data_ptr() for p in (w1, w2, w3, x, top_scores)}
    seen: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    class A2A(torch.autograd.Function):  # _AllToAllV: ctx keeps the split lists only
        @staticmethod
        def forward(ctx, t):
            return t.clone()

        @staticmethod
        def backward(ctx, gout):
            return gout.clone()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        token_indices_sorted = torch.argsort(selected.view(-1), stable=True)  # _forward
        routed_input = x[token_indices_sorted // k]  # routed_input = x[token_indices_for_compute // self.top_k]
        routed_input = A2A.apply(routed_input)
        counts = torch.bincount(selected.view(-1), minlength=e_local)
        # permute_by_local_expert: padded_max_len rows; generate_permute_indices (int32, -1 -> the zero row)
        max_len = ((S + e_local * ALIGN + ALIGN - 1) // ALIGN) * ALIGN
        m_sizes = torch.clamp_min((counts + ALIGN - 1) // ALIGN * ALIGN, ALIGN)
        perm = torch.full((max_len,), -1, dtype=torch.int32)
        start, write = 0, 0
        for e in range(e_local):
            c = int(counts[e])
            perm[write:write + c] = torch.arange(start, start + c, dtype=torch.int32)
            start, write = start + c, write + int(m_sizes[e])
        tokens_padded = torch.vstack((routed_input, routed_input.new_zeros((routed_input.shape[-1],))))
        xp = tokens_padded[perm, :]
        offsets = torch.cumsum(m_sizes, dim=0, dtype=torch.int32)  # _run_experts_grouped_mm
        hh = torch.nn.functional.silu(torch._grouped_mm(xp.to(xp.dtype), w1.to(xp.dtype).transpose(-2, -1),
                                                        offs=offsets))
        hh = hh * torch._grouped_mm(xp.to(xp.dtype), w3.to(xp.dtype).transpose(-2, -1), offs=offsets)
        out = torch._grouped_mm(hh, w2.to(xp.dtype).transpose(-2, -1), offs=offsets).type_as(xp)
        un = out.new_zeros((S + 1, out.shape[-1]))  # unpermute_by_local_expert
        un[perm, :] = out
        expert_output = A2A.apply(un[:-1])
        output = torch.zeros(T * k, h, dtype=expert_output.dtype)  # combine_from_routed, "post", weighted_sum
        output[token_indices_sorted] = expert_output
        output = output.reshape(T, k, h)
        output = (output * top_scores.reshape(T, k, 1).float()).sum(dim=1).to(expert_output.dtype)
    assert output.shape == (T, h)
    return sum(seen.values())


def test_autoep_saves_per_routed_row_match_its_code():
    """Per routed row (the difference of two sizes: the alignment padding is a layer's constant), AutoEP's block keeps
    20 B of indices + bf16 (2h + 4f): its separate w1 / w3 GEMMs read one routed input, silu's input and output,
    w3's output, w2's input, the combine's rows; the table's ``_routed_token_bytes`` for ``AUTOEP_EXPERTS`` says the
    same (transformers' grouped_mm row is 24 + ... B, the eager loop's another table)."""
    from planner.model.activations_hf import AUTOEP_EXPERTS, Router, _routed_token_bytes, hf_precision

    h, f, e_local = 16, 32, 2
    a, b = _autoep_block_saves(64, h, f, e_local), _autoep_block_saves(192, h, f, e_local)
    per_row = (b - a) / (192 - 64)
    want = _routed_token_bytes(hf_precision("bf16", AUTOEP_EXPERTS), Router(), h, f)
    assert per_row == pytest.approx(want, rel=1e-12)
    assert want != _routed_token_bytes(hf_precision("bf16", "eager"), Router(), h, f)


def test_autoep_rows_keep_autoeps_saves_whatever_the_job_kernel(cli, tmp_path):
    """Qwen3-30B-A3B full fine-tune on the deepspeed stack, DP16 ZeRO-2 on two p5.48xlarge: at EP8 an ``eager`` job's
    memory is AutoEP's, the same as a ``grouped_mm`` job's (82.40 GiB a GPU; until autoep53b 88.70, the eager loop's
    saves), and the stack line says AutoEP's GroupedExperts runs, not "experts_implementation=eager (as set)"; at EP 1
    transformers' block runs and the eager loop keeps more."""
    got = {}
    for kern in ("eager", "grouped_mm"):
        for ep in (1, 8):
            out = answered(cli("estimate", write_job(tmp_path, JOB % (kern, ep), name=f"{kern}{ep}.yaml"), "--json"))
            got[(kern, ep)] = out["memory_per_gpu_bytes"]["activations"]
    assert got[("eager", 8)] == pytest.approx(got[("grouped_mm", 8)], rel=1e-12)
    assert got[("eager", 8)] / 2**30 == pytest.approx(38.02, abs=0.01)
    assert got[("eager", 1)] > 1.1 * got[("grouped_mm", 1)]
    text = cli("estimate", write_job(tmp_path, JOB % ("eager", 8), name="text.yaml"))
    line = " ".join(text[1].split())
    assert "AutoEP's GroupedExperts" in line and "experts_implementation=eager (as set)" not in line


def test_key_experts_follow_the_candidate():
    """``hf_key_experts``: the deepspeed stack's rows at EP > 1 run AutoEP's kernel, its EP 1 rows and the HF
    Trainer's rows the job's."""
    from planner.model.activations_hf import AUTOEP_EXPERTS
    from planner.model.memory_activations import hf_key_experts
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    ep = np.array([1, 2, 8])
    assert hf_key_experts(m, STACKS["deepspeed"], ep) == ["grouped_mm", AUTOEP_EXPERTS, AUTOEP_EXPERTS]
    assert hf_key_experts(m, STACKS["hf-trainer"], ep) == ["grouped_mm"] * 3


def test_autotp_leaves_a_dense_models_norms_whole():
    """DeepSpeed's AutoTP swaps ``nn.Linear`` only (deepspeed/module_inject/auto_tp.py ``AutoTP.tp_parser``): on
    Llama-3-8B at TP2 its 65 RMSNorms (266,240 parameters) stay whole on each rank (until autoep53b over TP, as the
    MoE models' were until autoep53); TP 1 holds nothing extra; the HF Trainer's dense TP plan is unchanged."""
    from planner.model import moe as moe_mech
    from planner.model.memory_activations import hf_weight_shares
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    m, ds = ModelSpec(**PRESETS["llama3-8b"]), STACKS["deepspeed"]
    whole = moe_mech.hf_ep_whole_params(m, ds, np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    assert list(whole) == [0.0, 266_240, 266_240]
    total = count_params(m).total
    rest, _ = hf_weight_shares(m, ds, 2.0, 0)
    assert rest == pytest.approx((266_240 + (total - 266_240) / 2) / total, rel=1e-12)
    assert float(moe_mech.hf_ep_whole_params(m, STACKS["hf-trainer"], 2.0, 1.0)) == 0.0
