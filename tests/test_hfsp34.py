"""hfsp34: tensor parallelism on the HF model code has no sequence parallelism (docs/qa_log.md "QA 43", hfstack34's
left list). transformers' TP plans shard the linears (colwise / rowwise, an all-reduce after each rowwise layer) and
name no norm; DeepSpeed's AutoTP swaps the nn.Linear layers only (Stack.tp_sequence_parallel, rule hf-tp-sp). Each
test fails on the code before the change, which priced Megatron's sequence parallelism at TP > 1 on these stacks.
transformers is not installed on this machine: the activation shares are checked against the fused-kernel table the
planner derives them from, not against a real run."""
from __future__ import annotations

import json

from conftest import write_job

DENSE_TP = """
model: {preset: llama3.1-8b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 64, precision: bf16, dataset_samples: 50000,
           mean_example_tokens: 700, packing: packed, epochs: 1, framework: %s}
parallel: {tp: %d, dp: %d, zero: 3%s}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""


def _estimate(cli, tmp_path, name, framework="hf-trainer", tp=2, sp=""):
    job = DENSE_TP % (framework, tp, 8 // tp, sp)
    code, text, err = cli("estimate", write_job(tmp_path, job, name=name), "--json")
    return code, (json.loads(text) if code == 0 else None), err


def test_hf_trainer_tp_runs_without_sequence_parallelism(cli, tmp_path):
    """Left open, sequence parallelism is off at TP 2 on the HF Trainer and said so; the elementwise work (norms,
    residual adds on the whole T x h rows) is priced on every rank: Llama-3.1-8B full fine-tune at TP2 DP4 ZeRO-3 on
    one p5.48xlarge, memory-bound time 0.774 s -> 1.154 s a step."""
    code, out, err = _estimate(cli, tmp_path, "open.yaml")
    assert code == 0, err
    assert out["config"]["sp"] is False
    assert any("sequence_parallel defaulted to false at TP 2" in a and "hf-tp-sp" in a for a in out["assumptions"])
    # the same layout on megatron-core keeps SP, and its elementwise share over TP
    code, mc, err = _estimate(cli, tmp_path, "mc.yaml", framework="megatron-core")
    assert code == 0, err
    assert mc["config"]["sp"] is True


def test_deepspeed_autotp_has_no_sequence_parallelism(cli, tmp_path):
    """DeepSpeed's AutoTP on the HF model code (LinearLayer / LinearAllreduce for each nn.Linear, norms whole)."""
    code, out, err = _estimate(cli, tmp_path, "ds.yaml", framework="deepspeed")
    assert code == 0, err
    assert out["config"]["sp"] is False


def test_sequence_parallelism_asked_of_the_hf_trainer_is_refused(cli, tmp_path):
    code, out, err = _estimate(cli, tmp_path, "sp.yaml", sp=", sequence_parallel: true")
    assert code == 2, (code, out and out["config"])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: parallel.sequence_parallel:"), err
    assert "Traceback" not in err


def test_hf_tp_keeps_the_whole_residual_stream_and_logits(cli, tmp_path):
    """A TP rank of the HF code keeps the norm inputs, the column layers' inputs and the residual stream whole: of a
    Llama-3.1-8B layer's saves at 4,096 tokens it keeps 59.8% at TP2 (50% with SP), all of them under gradient
    checkpointing (the layer input); lm_head is colwise_gather_output, so the logits are whole at any TP."""
    from planner.model.memory_activations import hf_tp_share
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["llama3.1-8b"])
    assert abs(float(hf_tp_share(m, 4096, 1, 2, False, 0)) - 0.5975) < 1e-3
    assert abs(float(hf_tp_share(m, 4096, 1, 2, True, 0)) - 0.5) < 1e-9
    assert float(hf_tp_share(m, 4096, 1, 2, False, 2)) == 1.0
    assert float(hf_tp_share(m, 4096, 1, 1, False, 0)) == 1.0
    code, tp1, err = _estimate(cli, tmp_path, "tp1.yaml", tp=1)
    assert code == 0, err
    code, tp2, err = _estimate(cli, tmp_path, "tp2.yaml", tp=2)
    assert code == 0, err
    assert tp1["config"]["micro_batch"] == tp2["config"]["micro_batch"]
    l1, l2 = tp1["memory_per_gpu_bytes"]["logits"], tp2["memory_per_gpu_bytes"]["logits"]
    assert abs(l2 - l1) <= 1e-6 * l1, (l1, l2)
    a1, a2 = tp1["memory_per_gpu_bytes"]["activations"], tp2["memory_per_gpu_bytes"]["activations"]
    assert a2 > 0.55 * a1, (a1, a2)  # not halved


def test_the_shared_expert_follows_the_tp_plan_under_expert_parallelism():
    """transformers 5.23 keeps the TP plan on every module but the routed experts under EP (distributed/mixin.py
    ``_resolve_parallel_plans``; hfep52): DeepSeek-V3's shared experts (``colwise`` / ``rowwise`` in its
    base_model_tp_plan) run 1/4 of their GEMMs at TP4 EP4 as at TP4 EP1, as DeepSpeed's and Megatron-Core's do.
    From hfsp34 until hfep52 an older revision's EP plan (applied alone) held them whole on every rank."""
    import numpy as np

    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["deepseek-v3"])
    sw = m.moe.shared_ffn_hidden or m.moe.shared_experts * m.ffn_hidden
    links = (400e9, 50e9, 5e-6, 10e-6)
    T = np.array([8192.0])

    def shared_widths(stack, tp, etp, ep):
        seen = []

        def gemm(M, N, K, groups=None, **kw):
            seen.append((float(np.max(M)), float(np.max(N)), float(np.max(K))))
            return 1e-3, 2e-3

        moe_mech.moe_layer(m, T, np.array([tp]), np.array([etp]), np.array([ep]), 8.0, 2.0, gemm, stack, links)
        return seen[-1][2]  # the shared expert's down projection: K = its width on this rank

    hf = STACKS["hf-trainer"]
    assert shared_widths(hf, 4.0, 1.0, 4.0) == sw / 4
    assert shared_widths(hf, 4.0, 4.0, 1.0) == sw / 4
    # DeepSpeed's EP is AutoEP (dsep35): AutoTP splits the AutoEP layer's shared experts over TP
    # (module_inject/auto_tp.py AutoTP._replace_autoep_shared_experts); until dsep35 priced as transformers' ep_plan
    assert shared_widths(STACKS["deepspeed"], 4.0, 1.0, 4.0) == sw / 4
    assert shared_widths(STACKS["megatron-core"], 4.0, 1.0, 4.0) == sw / 4
