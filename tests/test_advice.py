"""Advice lines are computed, not rules of thumb: a lighter recompute setting or a larger micro-batch is offered
only where the same layout with it fits and is faster, with the numbers the plan would have."""
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _plan(preset, recompute, parallel, cluster, **training):
    t = dict(seq_len=2048, global_batch=256, micro_batch=1, precision="bf16", recompute=recompute, tokens=1e10)
    t.update(training)
    return estimate_job(load_job_dict({"model": {"preset": preset}, "training": t, "parallel": parallel,
                                       "cluster": cluster}))


def _lines(plan, field="recompute"):
    return [a for a in plan.advice if a.startswith(field + "=")]


def test_half_empty_full_recompute_that_needs_far_more_without_it_gets_no_recompute_advice():
    """GPT-3 175B under ZeRO-3 on 384 A100s: 40 GiB of 76 at full recompute, but ~1.2 TiB without it. The old rule
    ("45% of memory free: try recompute=none") advised a plan that cannot run."""
    p = _plan("gpt3-175b", "full", {"tp": 1, "pp": 1, "zero": 3},
              {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 48, "inter_node_gbps": 1600},
              global_batch=1536, micro_batch=2, framework="deepspeed")
    assert p.fits and p.memory_per_gpu_bytes.total < 0.55 * p.memory_per_gpu_bytes.capacity
    assert _lines(p) == []


def test_lighter_recompute_that_fits_is_offered_with_its_numbers():
    full = _plan("llama3-8b", "full", {"tp": 2, "pp": 1}, {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2},
                 seq_len=8192)
    none = _plan("llama3-8b", "none", {"tp": 2, "pp": 1}, {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2},
                 seq_len=8192)
    assert none.fits and none.step_time_s < full.step_time_s
    [line] = _lines(full)
    assert line.startswith("recompute=none also fits")
    assert f"{none.step_time_s:.4g} s per step instead of {full.step_time_s:.4g} s" in line
    saved = (none.memory_per_gpu_bytes.total - full.memory_per_gpu_bytes.total) / 2**30
    assert f"saves {saved:.1f} GiB per GPU" in line
    assert _lines(none) == []  # nothing lighter than none


def test_no_advice_when_the_lighter_setting_does_not_fit():
    """Llama-3-70B at TP 8 on one 80 GB node, seq 8192, micro-batch 2: fits only with full recompute."""
    p = _plan("llama3-70b", "full", {"tp": 8, "pp": 1, "zero": 1},
              {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}, seq_len=8192, micro_batch=2)
    none = _plan("llama3-70b", "none", {"tp": 8, "pp": 1, "zero": 1},
                 {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}, seq_len=8192, micro_batch=2)
    assert p.fits and not none.fits  # the case: a plan that fits only at full recompute
    assert not any(a.startswith("recompute=none") for a in p.advice)


def test_larger_micro_batch_is_offered_with_the_numbers_of_that_plan():
    """ZeRO-3 re-gathers the parameters per micro-batch: GPT-3 175B at micro-batch 2 on 384 A100s leaves memory
    for 4, which halves the gathers; the line quotes the micro-batch-4 plan's own memory and step."""
    kw = dict(global_batch=1536, framework="deepspeed")
    par, cl = {"tp": 1, "pp": 1, "zero": 3}, {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 48,
                                               "inter_node_gbps": 1600}
    p2 = _plan("gpt3-175b", "full", par, cl, micro_batch=2, **kw)
    p4 = _plan("gpt3-175b", "full", par, cl, micro_batch=4, **kw)
    assert p4.fits and p4.step_time_s < 0.99 * p2.step_time_s
    [line] = _lines(p2, "micro_batch")
    assert line.startswith(f"micro_batch=4 also fits ({p4.memory_per_gpu_bytes.total / 2**30:.1f} of 76.0 GiB")
    assert f"takes {p4.step_time_s:.4g} s per step instead of {p2.step_time_s:.4g} s" in line
    assert _lines(p4, "micro_batch") == []  # 1536 sequences / 384 GPUs = 4 each: micro-batch 8 is not a layout
