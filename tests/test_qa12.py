"""QA pass 12: defects found in serve, report, estimate (fine-tuning) and catalog overrides, each with
the check that failed before its fix."""
from __future__ import annotations

import io
import json

from rich.console import Console


def _text(fn, *args, width: int = 100, **kw) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    fn(con, *args, **kw)
    return con.file.getvalue()


def _serve(job: dict, simulate: bool = False):
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    return plan_serving(load_job_dict(job), simulate=simulate)


def test_offline_serving_on_a_bare_gpu_prints_no_nan():
    """`planner serve` of an offline job on a bare GPU (no price) said "costs $nan per million requests"."""
    from planner.present.serving import render_serving

    plan = _serve({"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8},
                   "serving": {"mode": "batch", "requests": 1e6, "prompt_tokens": 1000, "output_tokens": 300}})
    assert "nan" not in plan["why"].lower(), plan["why"]
    assert "no price" in plan["why"]
    text = _text(render_serving, plan)
    assert "nan" not in text.lower()


def test_realtime_serving_without_prices_does_not_describe_a_missing_column():
    from planner.present.serving import render_serving

    plan = _serve({"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8},
                   "serving": {"p99_latency_ms": 40, "qps": 5, "prompt_tokens": 1000, "output_tokens": 300}})
    text = _text(render_serving, plan, width=200)
    assert "$/1M req batch" not in text  # the caption of a column no row fills (and the table left out)


def test_offline_serving_on_spot_says_the_price_is_spot():
    """constraints.spot: an offline job's $/1M requests are spot prices; neither the table nor the
    recommendation said so (only the JSON's offline_price)."""
    from planner.present.serving import render_serving

    plan = _serve({"model": {"preset": "llama3-8b"},
                   "serving": {"mode": "batch", "requests": 5e6, "prompt_tokens": 2048, "output_tokens": 256,
                               "precision": "fp8", "kv_precision": "fp8"},
                   "constraints": {"clouds": ["aws"], "gpus": ["L40S-48GB"], "spot": True}})
    assert plan["best"]["offline_price"] == "spot"
    assert "spot price" in plan["why"], plan["why"]
    assert "$/1M req batch: at the spot price" in _text(render_serving, plan, width=200)
