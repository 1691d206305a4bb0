"""Writes tests/data/fleet_truth56.json: the analytic answers (``plan_serving(..., simulate=False)``) of three fixed
fleets (``serving.replicas``), pinned from the screen before fleet56 made its bisection share one memo
(``serving_screen.ScreenMemo``), prefetch its QPS and retire cycling fixed points. tests/test_fleet56.py checks the
current screen answers them bit for bit. Run: ``python tests/make_fleet_truth56.py`` (only to re-pin on purpose)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.spec import load_job_dict  # noqa: E402
from planner.workloads.serving import plan_serving  # noqa: E402

TINY_MOE = {"name": "tiny-moe", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000, "moe": {"experts": 8, "top_k": 2}}
#: small fleets: a tiny MoE on L4s at its capacity (test_fuzz51's), its 8-GPU node, llama3-8b on 4 g6e.xlarge
FLEETS = {
    "tiny_moe_l4": {"model": TINY_MOE, "cluster": {"gpu": "L4", "gpus_per_node": 1, "nodes": 1},
                    "serving": {"p99_latency_ms": 2000.0, "prompt_tokens": 2048, "output_tokens": 16, "replicas": 2}},
    "tiny_moe_l4x8": {"model": TINY_MOE, "cluster": {"gpu": "L4", "gpus_per_node": 8, "nodes": 1},
                      "serving": {"p99_latency_ms": 50.0, "prompt_tokens": 128, "output_tokens": 16, "replicas": 2}},
    "llama3_8b_g6e": {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:g6e.xlarge"},
                      "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "replicas": 4, "prompt_tokens": 800,
                                  "output_tokens": 200, "max_batch": 256}},
}
#: the figures pinned per option: the QPS the fleet carries and what the screen states at it
FIELDS = ("hardware", "tp", "ep", "all2all", "overlap", "fleet_qps", "batch", "token_budget", "ttft_ms", "tpot_ms",
          "requests_per_s_per_replica", "concurrency", "meets_latency", "reason")


def answers(job: dict) -> list:
    res = plan_serving(load_job_dict(job), simulate=False)
    return [{k: o.get(k) for k in FIELDS} for o in res["options"] + res.get("rejected", [])]


if __name__ == "__main__":
    out = {name: answers(job) for name, job in FLEETS.items()}
    (ROOT / "tests" / "data" / "fleet_truth56.json").write_text(json.dumps(out, indent=1) + "\n")
