"""SGLang's published two-batch overlap speed-ups against the serving iteration model's (tbo53).

Data: benchmarks/data/sglang_tbo.csv -- the SGLang team's large-scale EP post (lmsys.org/blog/2025-05-05-large-scale-ep,
"Ablation Study: Two-batch Overlap"): prefill on EP32 (4 H100 nodes, InfiniBand) +27% to +35% at the same tokens a
device; decode on EP72 (9 nodes, 2,000-token inputs) -27% at 32 tokens a device, +25.5% at 256 (22,310 output tokens/s
a node). Each row is priced as DeepSeek-V3 fp8 (fp8 KV) on ``IterationModel.build(..., "sglang", ep=True,
all2all="deepep")`` with and without ``overlap``: a prefill step of whole prompts of ``context_tokens``
(``tokens_per_rank`` of them a rank), a decode step of ``tokens_per_rank`` sequences a rank at ``context_tokens`` of
context. The speed-up is the step without over the step with. Not fitted: nothing here is tuned to these rows. Known
differences: the post runs EPLB (288 experts, 32 redundant; the planner 256 uniformly routed), and EP72 is not a
layout ``serve`` searches (``EP_SPAN_NODES``).

Run: ``python benchmarks/sglang_tbo.py``.
"""
from __future__ import annotations

import csv
from pathlib import Path

from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel
from planner.workloads.serving_memory import served_model

DATA = Path(__file__).resolve().parent / "data" / "sglang_tbo.csv"


def predicted(row: dict) -> tuple[float, float]:
    """(speed-up with TBO, output or input tokens/s a node with TBO) of one published row."""
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}, "cluster": {"gpu": row["gpu"]},
                                    "serving": {"p99_latency_ms": 100, "engine": "sglang"}}).model)
    ep, nodes = int(row["ep"]), int(row["nodes"])
    hw = option_from_cluster(ClusterSpec(gpu=row["gpu"], gpus_per_node=8, nodes=nodes, fabric="IB-NDR"))
    ims = [IterationModel.build(m, hw, ep, "fp8", "fp8", "sglang", ep=True, all2all="deepep", overlap=o)
           for o in (False, True)]
    n, ctx = float(row["tokens_per_rank"]), float(row["context_tokens"])
    if row["phase"] == "prefill":
        step = ims[0].prompt_prefill(0.0, ctx, ep * n / ctx)
    else:
        step = dict(decode_seqs=ep * n, decode_ctx=ep * n * ctx)
    off, on = (float(im.time(**step)) for im in ims)
    return off / on - 1.0, n * (ep / nodes) / on


def main() -> None:
    with open(DATA) as f:
        rows = list(csv.DictReader(f))
    print(f"{'phase':8} {'EP':>3} {'tokens/rank':>11}  {'published':>13}  {'predicted':>9}  {'tok/s/node TBO':>15}")
    for r in rows:
        s, tps = predicted(r)
        lo, hi = float(r["speedup_low"]), float(r["speedup_high"])
        pub = f"{lo:+.1%}" if lo == hi else f"{lo:+.0%} to {hi:+.0%}"
        tps_pub = f" (post {float(r['tbo_tokens_per_s_node']):,.0f})" if r["tbo_tokens_per_s_node"] else ""
        print(f"{r['phase']:8} {r['ep']:>3} {r['tokens_per_rank']:>11}  {pub:>13}  {s:>+9.1%}  {tps:>15,.0f}{tps_pub}")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
