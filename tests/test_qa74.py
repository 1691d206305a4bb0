"""QA 74 (docs/qa_log.md): a demanding user's walk through fine-tuning, MoE, long-context and multi-node plans. Each
test fails on the code before.

- The report's memory table left out what a plan offloads to host RAM (and the MoE dispatcher's buffers), which the
  terminal's table prints: QLoRA Llama-3.1-70B on 2 A100s with its optimizer offloaded read "optimizer states 0.00"
  and its 4.63 GiB a GPU on the host nowhere in the report.
- torchtitan's CP exchange moves the K/V expanded to the query heads (``Stack.repeats_kv_heads``): Llama-3.1-70B at
  CP8 TP8 and 128K tokens exchanges 8x the grouped K/V's bytes, a third of its step (0.95 of 2.9 min), and the
  stack line said only "K/V all-gathered before the kernel, exposed".
"""
from __future__ import annotations

import json

from planner.present.report import Table, _memory_section
from conftest import invoke_main

QLORA_OFFLOAD = """
model: {preset: llama3.1-70b}
training: {mode: qlora, lora: {rank: 64, alpha: 16, targets: all-linear}, seq_len: 8192, global_batch: 32,
           precision: bf16, dataset_samples: 20000, mean_example_tokens: 3000, packing: packed, epochs: 3,
           micro_batch: 1, recompute: full,
           framework: {name: hf-trainer, optimizer_offload: true, fused_cross_entropy: true}}
parallel: {tp: 1, pp: 1, dp: 2, zero: 2}
cluster: {instance: "runpod:2x_A100-80GB-SXM_SECURE", nodes: 1}
"""


def test_the_report_memory_table_says_what_is_offloaded_to_the_host(tmp_path):
    """The plan `recommend` picks for this QLoRA job (2 x A100 80GB, DP2 ZeRO-2, optimizer offloaded): the report's
    table now carries the terminal's row, outside the total."""
    job = tmp_path / "qlora.yaml"
    job.write_text(QLORA_OFFLOAD)
    code, out, err = invoke_main("estimate", job, "--json")
    assert code == 0, err
    plan = json.loads(out)
    host = plan["memory_per_gpu_bytes"]["host"]
    assert host > 4 * 2**30 and plan["memory_per_gpu_bytes"]["optimizer"] == 0  # Adam's state lives on the host
    table = next(b for b in _memory_section(plan, with_charts=False).blocks if isinstance(b, Table))
    rows = {r[0]: r for r in table.rows}
    row = rows["offloaded to host memory (not in the total)"]
    assert row[1] == f"{host / 2**30:.2f}" and row[2] == "-"
    assert table.rows[-1] is row  # below the total, which does not hold it
    code, out, err = invoke_main("estimate", job)
    assert code == 0 and "offloaded to host memory (not in the total)" in out


TT_128K = """
model: {preset: llama3.1-70b}
training: {seq_len: 131072, global_batch: 32, precision: bf16, tokens: 5.0e9, mode: full_finetune, recompute: full,
           framework: torchtitan}
parallel: {tp: 8, cp: 8, pp: 1, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 16}
"""


def test_torchtitan_cp_line_says_it_exchanges_the_expanded_kv(tmp_path):
    """The exchange is priced on 2 x q_dim / tp bytes a token (layer_ops.cp_comm's kv_width): 8x Llama-3.1-70B's
    grouped K/V; the stack line now says so, and a stack that exchanges the grouped heads (megatron-core) does not."""
    job = tmp_path / "tt.yaml"
    job.write_text(TT_128K)
    code, out, err = invoke_main("estimate", job, "--json")
    assert code == 0, err
    plan = json.loads(out)
    line = next(a for a in plan["assumptions"] if a.startswith("training stack: torchtitan"))
    assert "CP8 exchange: K/V all-gathered before the kernel" in line
    assert "K/V expanded to the query heads' width first (8x the grouped K/V's bytes" in line, line
    assert plan["breakdown_s"]["comm_cp"] > 0.25 * plan["step_time_s"]  # what the words explain
    job.write_text(TT_128K.replace("framework: torchtitan", "framework: megatron-core").replace("zero: 3", "zero: 1"))
    code, out, err = invoke_main("estimate", job, "--json")
    assert code == 0, err
    line = next(a for a in json.loads(out)["assumptions"] if a.startswith("training stack: megatron-core"))
    assert "CP8 exchange: K/V ring" in line and "expanded" not in line, line
