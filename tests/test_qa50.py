"""QA 50: data pipeline, checkpoints and failures at scale (docs/qa_log.md "QA 50")."""
from rich.text import Text

from planner.present.simulation import format_answers


def _cache_line(ans):
    return " ".join(p.plain for p in format_answers(ans) if isinstance(p, Text) and p.plain.startswith("caching"))


def test_cache_answer_of_unknown_dataset_size_prints_no_question_mark():
    """A token-budgeted LLM job gives no data.dataset_samples: the caches are unsized. The line read
    "raw samples cached in RAM: 1.00x (? of host RAM per node)" beside the node's known 1,759 GB, and never said the
    variants took the whole dataset as cached."""
    rows = [{"variant": "as configured", "samples_per_s": 118.0, "cache_bytes": None},
            {"variant": "raw samples cached in RAM", "samples_per_s": 118.0, "cache_bytes": None},
            {"variant": "decoded samples cached in RAM", "samples_per_s": 118.0, "cache_bytes": None}]
    ans = {"cache": {"worth_it": False, "rows": rows, "raw_dataset_bytes": None, "cache_ram_bytes": 1.759e12,
                     "cache_ram_source": "aws:p5.48xlarge", "configured_fits": None}}
    line = _cache_line(ans)
    assert "?" not in line
    assert "dataset size unknown" in line and "1,759 GB per node" in line


NVME_JOB = """model: {preset: vit-b16}
training: {global_batch: 8192, micro_batch: 32, precision: bf16, optimizer: adamw, recompute: none, epochs: 1,
           dataset_samples: 1000000}
parallel: {tp: 1, pp: 1, zero: 1}
cluster: {instance: aws:p5.48xlarge, nodes: 32}
data: {storage: local_nvme, format: shards, shard_mb: 64, sample_bytes: 200000, decode_ms_per_sample: 0.5,
       vcpus_per_gpu: 12}
"""


def test_node_local_storage_scales_with_the_nodes(cli, tmp_path):
    """Each of 32 nodes reads its own NVMe: the job's read rate is 32 drives' (2 GB/s each), not one drive's. Before
    QA 50 the job read 1.8 GB/s in all: 9,058 samples/s for 256 H100s, 98% of the step waiting for data."""
    from conftest import answered

    p = tmp_path / "nvme.yaml"
    p.write_text(NVME_JOB)
    d = answered(cli("simulate", str(p), "--steps", "40", "--no-answers", "--json"))
    assert d["data"]["storage_read_Bps"] > 8e9, d["data"]
    assert d["samples_per_s"] > 50_000


def test_storage_for_scales_only_node_local_kinds():
    from types import SimpleNamespace

    from planner.simulate.config import storage_for
    from planner.simulate.resources import STORAGE_PROFILES

    def data(kind, gbps=None):
        return SimpleNamespace(storage=kind, storage_stream_gbps=None, storage_gbps=gbps, request_latency_ms=None,
                               max_requests_per_s=None)

    nv = storage_for(data("local_nvme"), 4)
    assert nv.aggregate_bw == 4 * STORAGE_PROFILES["local_nvme"].aggregate_bw
    assert nv.max_requests_per_s == 4 * STORAGE_PROFILES["local_nvme"].max_requests_per_s
    s3 = storage_for(data("object_store"), 4)  # 100 Gb/s per instance; 5,500 GET/s per prefix stays job-wide
    assert s3.aggregate_bw == 4 * STORAGE_PROFILES["object_store"].aggregate_bw
    assert s3.max_requests_per_s == STORAGE_PROFILES["object_store"].max_requests_per_s
    assert storage_for(data("network_fs"), 4) == STORAGE_PROFILES["network_fs"]  # one shared filesystem
    assert storage_for(data("local_nvme", gbps=10), 4).aggregate_bw == 10e9 / 8  # a given aggregate stays
