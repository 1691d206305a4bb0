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
