"""Error table of the serving simulation against published serving measurements no one here made.

Data: benchmarks/data/serving_published.csv (one row per published run, with its URL, the commit
of the page we copied it from, engine and version, model architecture, GPU, precision, lengths,
request rate, and the reported throughput and TTFT/TPOT percentiles).

* gpustack-h100 / gpustack-a100 — GPUStack "performance lab" pages for Qwen3-14B on one H100 SXM
  and one A100 (vLLM 0.11.0 baseline; SGLang 0.5.5.post1 FP8 and TensorRT-LLM 1.2.0rc1 as the
  pages' optimised configurations), measured with ``vllm bench serve`` on its random dataset
  (fixed input/output lengths) with every request sent at t = 0 (request rate inf).
* vllm-ci-h200 — vLLM's nightly performance benchmark (Buildkite build 9515), latency tests on
  H200: one batch of 8 requests of 32 input + 128 output tokens (Llama-3.1-8B TP1, Llama-3-70B
  TP4, Mixtral-8x7B TP2), end-to-end latency only (the p50 and p99 columns hold E2E).

Each row is simulated with the planner's own models and nothing fitted: the model architecture
from the row, the GPU's catalog peaks and the shipped efficiency prior
(planner.hardware.efficiency.PRIORS), ``replica_spec`` for the KV blocks (90% of HBM, as vLLM's
gpu_memory_utilization default), and the engine's documented scheduler defaults (:data:`ENGINES`).
The workload is the row's: ``num_prompts`` requests of ``input_len`` + ``output_len`` tokens
arriving together.

Run: ``python benchmarks/validate_serving.py [--csv out.csv]``. Prints one line per row and, per
source, the median and p90 absolute percentage error of throughput (requests/s), of the p50
latencies (TTFT, TPOT and E2E p50 pooled, where published) and of the p99 latencies (same);
then the same without rows whose output is <= 8 tokens (there the measured TPOT is host-side
overhead — HTTP, detokenisation of 1000 concurrent streams — which the model has no term for).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.hardware.options import option_from_cluster  # noqa: E402
from planner.simulate.serving import EngineConfig, ServingSimConfig, Workload, simulate_serving  # noqa: E402
from planner.spec import ClusterSpec, load_job_dict  # noqa: E402
from planner.workloads.serving import replica_spec  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "serving_published.csv"

#: each engine's scheduler defaults for the row's server command, keyed (engine, GPU prefix);
#: "*" is any GPU.
ENGINES = {
    # vllm/engine/arg_utils.py get_batch_defaults (v0.11): OPENAI_API_SERVER on a >= 70 GiB GPU
    # that is not an A100: max_num_batched_tokens 8192, max_num_seqs 1024; otherwise 2048 / 256.
    # V1 scheduler: chunked prefill on, recompute preemption.
    ("vllm", "H100"): EngineConfig(max_num_seqs=1024, max_num_batched_tokens=8192, policy="chunked"),
    ("vllm", "H200"): EngineConfig(max_num_seqs=1024, max_num_batched_tokens=8192, policy="chunked"),
    ("vllm", "A100"): EngineConfig(max_num_seqs=256, max_num_batched_tokens=2048, policy="chunked"),
    # SGLang runtime: a new prefill batch whenever one can be formed (prefill first), prompts
    # chunked at chunked_prefill_size 8192 on 80 GB GPUs; max running requests taken as 1024 (its
    # default is derived from the KV pool; an assumption).
    ("sglang", "*"): EngineConfig(max_num_seqs=1024, max_num_batched_tokens=8192, policy="prefill_first"),
    # trtllm-serve (PyTorch backend): max_num_tokens 8192, max_batch_size 2048, in-flight batching
    # with --enable_chunked_prefill as the row's command line says.
    ("tensorrt-llm", "*"): EngineConfig(max_num_seqs=2048, max_num_batched_tokens=8192, policy="chunked"),
}


def engine_for(engine: str, gpu: str) -> EngineConfig:
    for key in ((engine, gpu.split("-")[0]), (engine, "*")):
        if key in ENGINES:
            return ENGINES[key]
    raise KeyError(f"no scheduler defaults for {engine} on {gpu}")


def _model(row: dict) -> dict:
    """``preset=NAME`` or ``key=int;key=int;...`` (a decoder's architecture)."""
    kv = dict(x.split("=") for x in row["arch"].split(";"))
    if "preset" in kv:
        return {"preset": kv["preset"]}
    return {"name": row["model"], "family": "decoder", **{k: int(v) for k, v in kv.items()}}


def predict(row: dict) -> dict:
    """Simulate one published run; the predicted throughput and percentiles (ms)."""
    n, P, O = int(row["num_prompts"]), int(row["input_len"]), int(row["output_len"])
    job = load_job_dict({"model": _model(row),
                         "serving": {"p99_latency_ms": 1000, "precision": row["precision"],
                                     "kv_precision": row["kv_precision"], "prompt_tokens": P, "output_tokens": O}})
    gpus = int(row["gpus"])
    hw = option_from_cluster(ClusterSpec(gpu=row["gpu"], gpus_per_node=max(gpus, 1)))
    spec = replica_spec(job.model, job.serving, hw, int(row["tp"]))
    if row["request_rate"] != "inf":
        raise ValueError("only request rate inf rows are in the data so far")
    wl = Workload(np.zeros(n), np.full(n, P), np.full(n, O))
    conc = int(row["max_concurrency"]) if row["max_concurrency"] else None  # closed loop of clients
    res = simulate_serving(ServingSimConfig(spec, engine_for(row["engine"], row["gpu"]), drain_s=1e7,
                                            max_concurrency=conc), wl)
    return dict(req_per_s=res.throughput_rps, ttft_p50_ms=res.ttft.p50 * 1e3, ttft_p99_ms=res.ttft.p99 * 1e3,
                tpot_p50_ms=res.tpot.p50 * 1e3, tpot_p99_ms=res.tpot.p99 * 1e3, e2e_p50_ms=res.e2e.p50 * 1e3,
                e2e_p99_ms=res.e2e.p99 * 1e3, preemptions=res.preemptions, wall_s=res.wall_s)


def ape(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas


METRICS = ("req_per_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "e2e_p50_ms", "e2e_p99_ms")
GROUPS = {"throughput": ("req_per_s",), "p50": ("ttft_p50_ms", "tpot_p50_ms", "e2e_p50_ms"),
          "p99": ("ttft_p99_ms", "tpot_p99_ms", "e2e_p99_ms")}


def summarise(rows: list[dict], title: str):
    print(f"\n{title}")
    print(f"{'source':<16} {'rows':>4}  " + "  ".join(f"{g + ' med/p90 %':>20}" for g in GROUPS))
    by = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r)
    by["all"] = rows
    for src, rs in by.items():
        cells = []
        for cols in GROUPS.values():
            e = np.array([r["err_" + c] for r in rs for c in cols if r["err_" + c] is not None]) * 100
            cells.append(f"{np.median(e):>9.0f} / {np.percentile(e, 90):>6.0f}" if len(e) else f"{'-':>18}")
        print(f"{src:<16} {len(rs):>4}  " + "  ".join(f"{c:>20}" for c in cells))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", type=Path, help="write per-row predictions and errors here")
    args = ap.parse_args(argv)
    rows = list(csv.DictReader(DATA.open()))
    out = []
    t0 = time.perf_counter()
    print(f"{'source':<14} {'engine':<13} {'gpu':<14} {'prec':<5} {'in/out':>10} {'n':>5}  "
          f"{'req/s meas/pred':>16} {'TTFT p50 s':>14} {'TTFT p99 s':>14} {'TPOT p50 ms':>14} {'TPOT p99 ms':>14} "
          f"{'E2E p50 ms':>14} {'E2E p99 ms':>14}")
    for row in rows:
        p = predict(row)
        rec = dict(row)
        for c in METRICS:  # blank = not published for this run
            rec["pred_" + c] = p[c]
            rec["err_" + c] = ape(p[c], float(row[c])) if row[c] else None
        rec["sim_wall_s"] = p["wall_s"]
        out.append(rec)
        f = lambda c, k=1.0: f"{float(row[c]) * k:.1f}/{p[c] * k:.1f}" if row[c] else "-"
        print(f"{row['source']:<14} {row['engine']:<13} {row['gpu']:<14} {row['precision']:<5} "
              f"{row['input_len'] + '/' + row['output_len']:>10} {row['num_prompts']:>5}  {f('req_per_s'):>16} "
              f"{f('ttft_p50_ms', 1e-3):>14} {f('ttft_p99_ms', 1e-3):>14} {f('tpot_p50_ms'):>14} {f('tpot_p99_ms'):>14} "
              f"{f('e2e_p50_ms'):>14} {f('e2e_p99_ms'):>14}")
    wall = time.perf_counter() - t0
    summarise(out, "absolute % error, all rows")
    summarise([r for r in out if int(r["output_len"]) > 8], "absolute % error, rows with > 8 output tokens")
    print(f"\n{len(out)} runs simulated in {wall:.1f} s wall ({sum(int(r['num_prompts']) for r in out):,} requests)")
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)


if __name__ == "__main__":
    main()
