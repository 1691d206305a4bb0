"""Sanity checks for the sourced parts measurements (benchmarks/data/parts/*.csv)."""
import pytest

from benchmarks.parts_data import FILES, PARTS_DIR, load, read_raw
from conftest import FORBIDDEN

# numeric columns that must be present (non-empty) in every row
REQUIRED_NUMERIC = {
    "attention_kernels": ("tflops", "head_dim", "seq_len"),
    "nccl_bandwidth": ("busbw_gbps", "message_bytes", "num_gpus"),
    "fp8_gemm": (),
    "gemm_efficiency": ("tflops", "m", "n", "k"),
    "memory_bandwidth": ("gbps", "datasheet_gbps"),
    "grouped_gemm": ("tflops", "groups", "m_per_group", "n", "k"),
    "long_context": ("value",),
    "serving": ("value",),
    "xla_collectives": ("tensor_size_bytes", "xla_network_throughput_bytes_per_s"),
    "moe_profiles": ("value",),
    "gpu_variability": ("value",),
    "ssd_kernels": ("value", "time_ms", "tokens", "heads", "head_dim", "groups", "d_state", "chunk_size"),
    "offload": ("value", "num_gpus", "seq_len", "micro_batch", "global_batch"),
    "fp8_expert_path": (),
    "peak_memory": ("measured_gib", "num_gpus", "seq_len", "tp", "pp", "dp"),  # micro-batch: unstated for the PP rows
}


def test_every_csv_in_the_folder_is_known():
    on_disk = {p.stem for p in PARTS_DIR.glob("*.csv")}
    assert on_disk == set(FILES), on_disk ^ set(FILES)
    assert (PARTS_DIR / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(FILES))
def test_columns_present(name):
    header, rows = read_raw(name)
    required, numeric = FILES[name]
    assert not set(required) - set(header), set(required) - set(header)
    assert not set(numeric) - set(header), set(numeric) - set(header)
    assert len(header) == len(set(header))
    assert rows, f"{name} is empty"
    for row in rows:
        assert None not in row, f"{name}: row {row.get('id')} has more fields than the header"
        assert all(v is not None for v in row.values()), f"{name}: row {row.get('id')} has too few fields"


@pytest.mark.parametrize("name", sorted(FILES))
def test_ids_unique_and_text_fields_filled(name):
    _, rows = read_raw(name)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1][:5]
    for r in rows:
        assert r["id"].strip()
        assert r["source"].strip(), f"{name}:{r['id']} has no source"
        assert r["provenance"].strip(), f"{name}:{r['id']} has no provenance"
        assert r["read_date"].strip(), f"{name}:{r['id']} has no read_date"


@pytest.mark.parametrize("name", sorted(FILES))
def test_numbers_positive(name):
    rows = load(name)
    _, numeric = FILES[name]
    for r in rows:
        for col in numeric:
            v = r.get(col)
            if v is not None:
                assert isinstance(v, (int, float)), (name, r["id"], col, v)
                assert v > 0, (name, r["id"], col, v)
        for col in REQUIRED_NUMERIC[name]:
            assert r[col] is not None, (name, r["id"], col)


def test_fp8_rows_carry_a_measurement():
    for r in load("fp8_gemm"):
        if r["kind"] == "gemm":
            assert r["tflops"] is not None, r["id"]
        else:
            assert r["speedup_low"] is not None and r["speedup_high"] is not None, r["id"]
            assert r["speedup_low"] <= r["speedup_high"], r["id"]


def test_units_and_categories():
    for r in load("attention_kernels"):
        assert r["causal"] in {"true", "false", "unknown"}, r["id"]
        assert r["tflops"] < 2500, r["id"]  # TFLOP/s, not FLOP/s
    for r in load("nccl_bandwidth"):
        assert r["busbw_gbps"] < 2000, r["id"]  # GB/s
        assert r["message_bytes"] >= 1024 or r["message_bytes"] > 0
    for r in load("gemm_efficiency"):
        assert r["tflops"] < 3000, r["id"]
    for r in load("memory_bandwidth"):
        assert r["gbps"] < r["datasheet_gbps"], r["id"]  # GB/s, under the part's datasheet bandwidth
    for r in load("long_context"):
        if r["efficiency_pct"] is not None:
            assert r["efficiency_pct"] <= 100, r["id"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_forbidden_source(name):
    _, rows = read_raw(name)
    for r in rows:
        text = " ".join((r["source"], r["provenance"]))
        for pattern, what in FORBIDDEN:
            assert not pattern.search(text), f"{name}:{r['id']} cites a forbidden source ({what}): {text[:200]}"


def test_forbidden_patterns_catch_examples():
    examples = [
        "MLPerf Training v4.0 results",
        "NVIDIA/Megatron-LM README.md performance table",
        "MegaScale: Scaling LLM training (NSDI'24)",
        "The Llama 3 Herd of Models, Table 4",
        "Narayanan et al. 2021, Table 2",
        "pytorch/torchtitan benchmarks/asyncTP_llama3_h100_2025-06_torchtitan.md",
        "benchmarks/llama3_h200_202505_trainy.md",
    ]
    for text in examples:
        assert any(p.search(text) for p, _ in FORBIDDEN), text
    assert not any(p.search("NVIDIA/Megatron-LM issue #396") for p, _ in FORBIDDEN)
