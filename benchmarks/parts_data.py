"""Loader for the sourced 'parts' measurements under benchmarks/data/parts/.

Each CSV holds published measurements of one kind (attention kernels, NCCL bandwidth,
GEMM/FP8, long-context, serving, XLA collective tables). See benchmarks/data/parts/README.md.

    from benchmarks.parts_data import load, FILES
    rows = load("nccl_bandwidth")          # list of dicts; numeric columns converted
"""
from __future__ import annotations

import csv
from pathlib import Path

PARTS_DIR = Path(__file__).resolve().parent / "data" / "parts"

# file stem -> (required columns, numeric columns)
FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "attention_kernels": (
        ("id", "gpu", "kernel", "precision", "direction", "causal", "head_dim", "seq_len", "tflops", "source", "provenance", "notes"),
        ("head_dim", "seq_len", "batch", "num_heads", "tflops"),
    ),
    "nccl_bandwidth": (
        ("id", "collective", "system", "gpu", "num_gpus", "num_nodes", "message_bytes", "busbw_gbps", "source", "provenance", "notes"),
        ("num_gpus", "num_nodes", "gpus_per_node", "message_bytes", "time_us", "algbw_gbps", "busbw_gbps", "busbw_inplace_gbps"),
    ),
    "fp8_gemm": (
        ("id", "kind", "gpu", "precision", "source", "provenance", "notes"),
        ("batch", "m", "n", "k", "tflops", "speedup_low", "speedup_high", "num_gpus"),
    ),
    "gemm_efficiency": (
        ("id", "gpu", "precision", "m", "n", "k", "tflops", "source", "provenance", "notes"),
        ("batch", "m", "n", "k", "tflops", "flops_per_s_raw"),
    ),
    "memory_bandwidth": (
        ("id", "gpu", "benchmark", "kernel", "dtype", "gbps", "datasheet_gbps", "source", "provenance", "notes"),
        ("array_bytes", "gbps", "datasheet_gbps"),
    ),
    "grouped_gemm": (
        ("id", "kind", "gpu", "kernel", "precision", "recipe", "groups", "m_per_group", "n", "k", "tflops", "source", "provenance", "notes"),
        ("groups", "m_per_group", "m_total", "n", "k", "time_ms", "tflops"),
    ),
    "long_context": (
        ("id", "workload", "model", "gpu", "metric", "value", "unit", "source", "provenance", "notes"),
        ("num_gpus", "seq_len_tokens", "global_batch_seqs", "tp", "pp", "dp", "cp", "value", "baseline_value", "efficiency_pct"),
    ),
    "serving": (
        ("id", "engine", "model", "gpu", "metric", "value", "unit", "source", "provenance", "notes"),
        ("num_gpus", "tp", "pp", "ep", "dp", "input_len", "output_len", "num_requests", "batch_size", "value"),
    ),
    "peak_memory": (
        ("id", "source", "provenance", "read_date", "model", "gpu", "num_gpus", "stack", "seq_len", "micro_batch",
         "tp", "pp", "dp", "precision", "recompute", "zero_or_fsdp", "measured_gib", "metric", "notes"),
        ("layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "seq_len", "global_batch_seqs", "micro_batch",
         "grad_accum", "tp", "pp", "dp", "cp", "num_gpus", "gpus_per_node", "measured_gib"),
    ),
    "moe_profiles": (
        ("id", "kind", "component", "gpu", "metric", "value", "unit", "source", "provenance", "read_date", "notes"),
        ("hidden", "ffn_hidden", "experts", "top_k", "tokens_per_rank", "ep", "num_gpus", "num_sms", "value", "value_high",
         "baseline_value", "time_ms", "fwd_ms"),
    ),
    "gpu_variability": (
        ("id", "gpu", "metric", "definition", "value", "unit", "source", "provenance", "notes"),
        ("num_gpus", "value", "sigma_pct_derived"),
    ),
    "ssd_kernels": (
        ("id", "gpu", "kernel", "implementation", "direction", "tokens", "heads", "head_dim", "groups", "d_state",
         "chunk_size", "metric", "value", "unit", "time_ms", "source", "provenance", "notes"),
        ("batch", "seq_len", "tokens", "heads", "head_dim", "groups", "d_state", "chunk_size", "value", "time_ms"),
    ),
    "offload": (
        ("id", "date", "stack", "offloaded", "model_json", "gpu", "num_gpus", "seq_len", "micro_batch", "global_batch",
         "precision", "recompute", "zero", "host_link", "cpu", "metric", "value", "unit", "quote", "assumptions",
         "source", "provenance", "read_date", "notes"),
        ("num_gpus", "gpus_per_node", "seq_len", "micro_batch", "global_batch", "zero", "value", "baseline_value",
         "host_ram_gib"),
    ),
    "fp8_expert_path": (
        ("id", "recipe", "arch", "pass", "tensor", "op", "priced", "planner_term", "source", "provenance", "read_date",
         "notes"),
        ("kernels_per_expert", "bytes_per_element"),
    ),
    "xla_collectives": (
        ("id", "gpu", "collective", "tensor_size_bytes", "xla_network_throughput_bytes_per_s", "throughput_gbps", "source", "provenance", "notes"),
        ("num_gpus", "num_nodes", "group_size", "num_groups", "shape_elements", "tensor_size_bytes",
         "xla_network_throughput_bytes_per_s", "throughput_gbps", "runtime_us_derived"),
    ),
}


def _num(text: str) -> float | int | None:
    if text == "":
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    return float(text)


def read_raw(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows exactly as stored (all strings)."""
    with open(PARTS_DIR / f"{name}.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def load(name: str) -> list[dict]:
    """Rows of one parts file with its numeric columns converted (empty cell -> None)."""
    _, numeric = FILES[name]
    _, rows = read_raw(name)
    out = []
    for row in rows:
        conv = dict(row)
        for col in numeric:
            if col in conv:
                conv[col] = _num(conv[col])
        out.append(conv)
    return out
