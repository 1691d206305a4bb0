"""Sweep 19 (benchmarks/sweep_consistency.py): every shipped preset on every catalog GPU through estimate, stack and
mode variants, every instance, recommend under ordinary constraints and every example through the CLI, with the
plan invariants checked on each — the defects it found, each with the check that failed before its fix, and a
small slice of the sweep itself."""
from __future__ import annotations

import math
import sys

from conftest import ROOT, answered, write_job

BARE_GPU = {"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "steps": 100},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}}


def _finite(x) -> bool:
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, list):
        return all(_finite(v) for v in x)
    return not isinstance(x, float) or math.isfinite(x)


def test_recommend_json_views_of_an_unpriced_cluster_are_json(cli, tmp_path):
    """A bare-GPU cluster has no price, so its plans' cost is NaN in the search table. ``recommend --json --by gpu``
    (and ``--scaling``) put the view rows into the JSON without ``jsonable`` and stopped with "error: internal
    error (ValueError): Out of range float values are not JSON compliant", exit 1 (examples/nemotron-3-nano-pretrain.yaml
    did); ``compare --json`` of the same job printed ``"cost": null``. The rows' cost is now null there too."""
    job = write_job(tmp_path, BARE_GPU)
    js = answered(cli("recommend", job, "--json", "--no-simulate", "--by", "gpu", "--scaling"))
    assert js["by"][0]["cost"] is None and js["scaling"][0]["cost"] is None
    assert js["by"][0]["days"] > 0 and _finite(js)


def test_sweep_slice_holds_every_invariant():
    """A tiny slice of the sweep (2 presets x 2 GPUs through estimate; one recommend with its re-estimates):
    every invariant holds."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import sweep_consistency as sw

    s = sw.Sweep()
    sw.sweep_estimates(s, sw.CAT, ["H100-SXM-80GB", "MI300X-192GB"], ["llama3-8b", "mixtral-8x7b"])
    sw.sweep_recommends(s, sw.CAT, ["H100-SXM-80GB"], ["llama3-8b"], ["titan-tp2-pp1-fp8"])
    assert s.checked["estimate"] == 12 and s.checked["recommend"] == 1 and s.checked["re-estimate"] == 3
    assert not s.broken, {k: v[:2] for k, v in s.broken.items()}


def test_bubble_advice_offers_only_changes_the_plan_can_make():
    """GPT-2 at PP 3 with an interleaved schedule (vpp 2) and micro-batch 1 spends a third of its step in the pipeline
    bubble; the advice said "more micro-batches (smaller micro-batch or larger global batch) or interleaving (vpp > 1)
    shrink it" — the plan already interleaves, and its micro-batch cannot get smaller. It now names only the larger
    global batch; a plan without interleaving and with micro-batch 2 still hears of both."""
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    def bubble_advice(parallel, mb, global_batch):
        job = load_job_dict({"model": {"preset": "gpt2"},
                             "training": {"seq_len": 1024, "global_batch": global_batch, "micro_batch": mb, "steps": 100,
                                          "recompute": "none"},
                             "parallel": dict(parallel, tp=1, pp=3, zero=1),
                             "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 3}})
        plan = estimate_job(job)
        assert plan.breakdown_s.bubble / plan.step_time_s > 0.15
        return [a for a in plan.advice if a.startswith("pipeline bubble")]

    # 3 micro-batches per replica (DP 8): Megatron's interleaved schedule needs a multiple of pp (qa21)
    (interleaved,) = bubble_advice({"vpp": 2}, 1, 24)
    assert "vpp > 1" not in interleaved and "smaller micro-batch" not in interleaved
    assert "larger global batch" in interleaved
    (plain,) = bubble_advice({}, 2, 16)
    assert "interleaving (vpp > 1)" in plain and "smaller micro-batch" in plain


def test_spot_table_overhead_column_holds_checkpoint_pauses_without_a_spot_price(cli, tmp_path):
    """A spot job on a cluster priced only on-demand (``cluster.price_usd_hr``) has no spot model, so it is ranked on
    its checkpoint pauses alone; the table's "+time vs compute" column (captioned "expected wall time over the
    uninterrupted compute time, from checkpoint pauses, spot interruptions") printed "-" on every row while the
    checkpoint line said "+131.4% time" and the time column held it. The cell is now that overhead."""
    job = write_job(tmp_path, dict(BARE_GPU, cluster=dict(BARE_GPU["cluster"], price_usd_hr=20.0),
                                   constraints={"spot": True, "max_gpus": 64}, checkpoint={"every_steps": 50}))
    code, out, err = cli("recommend", job, "--no-simulate", "--top", "3")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│ ") and line.split("│")[1].strip().isdigit()]
    assert len(rows) == 3
    for row, plan in zip(rows, answered(cli("recommend", job, "--no-simulate", "--top", "3", "--json"))["ranked"]):
        cf = plan["cost"]["checkpoint_failures"]
        assert row.split("│")[-2].strip() == f"+{cf['overhead']:.1%}"
