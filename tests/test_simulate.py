"""The discrete-event simulator (planner/simulate): exact oracles, determinism, bounded memory,
and the answers moving the right way (issue #5, issue #7 items 1 and 4)."""
from __future__ import annotations

import copy
import json
import math
import tracemalloc
from dataclasses import replace

import pytest
import yaml

from planner.workloads.training import estimate_job
from planner.simulate import (CheckpointConfig, EvalConfig, FailureConfig, LoaderConfig, PipelineConfig,
                              SimConfig, simulate)
from planner.simulate import answers as A
from planner.simulate.failures import expected_goodput, simulate_goodput, young_daly_interval_s
from planner.simulate.resources import STORAGE_PROFILES
from planner.spec import load_job, load_job_dict

from conftest import EXAMPLES, answered


# ---------------------------------------------------------------------------------------------
# exact oracles

def mm1k_idle(rho: float, c: int) -> float:
    """GPU idle share of a producer (rate lambda) feeding a consumer (rate mu) under DataLoader
    semantics with c credits: at most c batches outstanding *counting the one being built*
    (dataloader.py's ``tasks_outstanding``; data_pipeline.md §1.5), plus one on the GPU, so the
    system is M/M/1/K with K = c + 1 (a plain Store of capacity c with a blocked producer holding
    one would be K = c + 2, §1.11). The consumer is idle with probability
    P0 = (1 - rho) / (1 - rho^(K+1)), rho = lambda/mu (Kleinrock 1975 §3.6)."""
    K = c + 1
    if abs(rho - 1) < 1e-12:
        return 1 / (K + 1)
    return (1 - rho) / (1 - rho ** (K + 1))


@pytest.mark.parametrize("rho,prefetch", [(0.8, 1), (1.0, 2), (1.25, 1)])
def test_mm1k_oracle(rho, prefetch):
    """One worker with exponential batch times, prefetch_factor c, a GPU with exponential compute:
    the simulated data-wait share and throughput match M/M/1/K."""
    cfg = SimConfig(
        PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=0.0, micro_batch=1, jitter_cv=1.0, jitter_dist="exponential"),
        loader=LoaderConfig(workers=1, prefetch_factor=prefetch, decode_s=1.0 / rho, batch_time_dist="exponential",
                            storage=STORAGE_PROFILES["memory"], pin_memory=False, device_bytes=0.0),
    )
    res = simulate(cfg, steps=40_000, seed=1, steady_state=False)
    p0 = mm1k_idle(rho, prefetch)
    assert res.data["data_wait_share"] == pytest.approx(p0, abs=0.015)
    # throughput = mu (1 - P0) = 1 - P0 batches per second
    assert res.samples_per_s == pytest.approx(1 - p0, rel=0.03)


def _job(par: dict, nodes: int):
    d = yaml.safe_load((EXAMPLES / "llama3-8b-estimate.yaml").read_text())
    d["parallel"].update(par)
    d["cluster"]["nodes"] = nodes
    return load_job_dict(d)


@pytest.mark.parametrize("par,nodes", [({}, 2), ({"pp": 4}, 2), ({"pp": 4, "vpp": 2}, 2), ({"pp": 2}, 4)])
def test_data_never_limiting_equals_analytic(par, nodes):
    """No data section: the simulated step equals estimate_job's step within 1% (1F1B and
    interleaved, PP > 1, DP > 1)."""
    job = _job(par, nodes)
    est = estimate_job(job)
    assert est["detail"]["dp"] > 1
    res = simulate(SimConfig.from_estimate(est, job), steps=40, seed=0)
    assert res.step_time_s["mean"] == pytest.approx(est["step_time_s"], rel=0.01)
    assert res.step_time_s["p99"] == pytest.approx(est["step_time_s"], rel=0.01)
    assert res.time_by_cause_s["data"] == pytest.approx(0.0, abs=1e-6 * res.wall_s)


def test_deterministic_with_seed():
    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    a = simulate(cfg, steps=200, seed=7).to_dict()
    b = simulate(cfg, steps=200, seed=7).to_dict()
    c = simulate(cfg, steps=200, seed=8).to_dict()
    for d in (a, b, c):
        d.pop("runtime_s"), d.pop("events_per_s")
    assert a == b
    assert a["step_time_s"] != c["step_time_s"]


def _peak_bytes(cfg, steps):
    tracemalloc.start()
    simulate(cfg, steps=steps, seed=0, steady_state=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_bounded_over_long_runs():
    """Timeline off: no per-step lists beyond bounded statistics — 8x the steps, same peak memory
    (the step-time reservoir holds at most 20,000 durations; both runs stay below it)."""
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, m=2, dp=2, micro_batch=4, jitter_cv=0.1),
                    loader=LoaderConfig(workers=2, decode_s=0.002, storage=STORAGE_PROFILES["memory"]))
    small, large = _peak_bytes(cfg, 1_000), _peak_bytes(cfg, 8_000)
    assert large < small * 1.3 + 200_000


# ---------------------------------------------------------------------------------------------
# answers move the right way

def _cpu_bound_cfg(workers=1):
    # 32 samples x 4 ms = 128 ms per batch on one core; the GPU takes 30 ms per batch
    return SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
                     loader=LoaderConfig(workers=workers, decode_s=0.004, decode_cv=0.2,
                                         storage=STORAGE_PROFILES["memory"], device_bytes=0.0))


def test_more_workers_remove_stall_until_gpu_binds():
    ans = A.workers_needed(_cpu_bound_cfg(), steps=300)
    rows = ans["rows"]
    rates = [r["samples_per_s"] for r in rows]
    assert all(b > a for a, b in zip(rates, rates[1:]))  # each worker helps...
    assert rows[0]["data_wait_share"] > 0.5 and rows[-1]["data_wait_share"] < 0.06
    assert ans["bound"] == "gpu"
    assert ans["workers_needed"] in (5, 6)  # first order: 128 / 30 = 4.3 -> 5, plus variance margin
    # ... until the GPU binds: more workers than needed give nothing more
    more = simulate(replace(_cpu_bound_cfg(), loader=replace(_cpu_bound_cfg().loader, workers=16)), steps=400)
    assert more.steady_samples_per_s == pytest.approx(rates[-1], rel=0.06)


def test_adding_gpus_to_io_bound_job_raises_cost_not_throughput():
    """Individual files from an object store: the request-rate cap binds, so doubling the data-
    parallel replicas (GPUs) leaves samples/s flat while GPU-hours per sample double."""
    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    rates = {}
    for dp in (16, 32):  # 2 and 4 nodes; the global batch stays 8,192
        c = replace(cfg, pipeline=replace(cfg.pipeline, dp=dp, m=max(cfg.pipeline.m * 8 // dp, 1)))
        r = simulate(c, steps=400, seed=0)
        rates[dp] = r.steady_samples_per_s or r.samples_per_s
    assert rates[32] == pytest.approx(rates[16], rel=0.05)
    assert rates[32] < 5_500 * 1.01  # S3's 5,500 GET/s per prefix binds
    gpu_s_per_sample = {dp: dp / rates[dp] for dp in rates}
    assert gpu_s_per_sample[32] > 1.8 * gpu_s_per_sample[16]


def test_storage_request_rate_never_exceeds_the_cap():
    """The reported storage request rate is what the store served: it used to count the loaders'
    bookings ahead of the clock (a prefetch's worth), so the files job, capped at S3's 5,500 GET/s,
    printed 5,578-5,813 requests/s in the workers and shard-size answers."""
    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    for workers in (23, 64):  # the configured loader, and one the request cap binds hard
        r = simulate(replace(cfg, loader=replace(cfg.loader, workers=workers)), steps=200, seed=0)
        rps = r.data["storage_requests_per_s"]
        assert rps <= 5_500 * (1 + 1e-9)
        # one GET per image: served requests match the images delivered, within the loaders' in-flight work
        assert rps == pytest.approx(r.samples_per_s, rel=0.05)
        assert r.data["storage_read_Bps"] == pytest.approx(rps * 110_000, rel=0.05)


def test_shards_cache_and_filtering_reduce_stall():
    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    base = simulate(cfg, steps=300, seed=0)
    ld = cfg.loader
    shards = simulate(replace(cfg, loader=replace(ld, format="shards")), steps=300, seed=0)
    cached = simulate(replace(cfg, loader=replace(ld, cache_fraction=0.5)), steps=300, seed=0)
    filtered = simulate(replace(cfg, loader=replace(ld, read_fraction=0.5, format="shards")), steps=300, seed=0)
    w = lambda r: r.data["steady_data_wait_share"]  # noqa: E731
    assert w(shards) < w(base) - 0.3
    assert w(cached) < w(base)
    assert w(filtered) <= w(shards) + 1e-9
    assert filtered.data["storage_bytes_read"] < shards.data["storage_bytes_read"]


def test_example_answers_files_vs_shards():
    files = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(files), files)
    sh = A.best_shard_size(cfg, steps=200)
    assert sh["files_vs_best"] < 0.3  # individual files: a fraction of what shards deliver
    assert sh["best_shard_mb"] in (4, 16, 64, 256)
    cache = A.cache_worth_it(cfg, steps=200)
    assert cache["worth_it"] and cache["speedup"] > 2
    wk = A.workers_needed(cfg, steps=200)
    assert wk["bound"] == "storage" and wk["workers_needed"] is None


def test_cache_answer_is_sized_by_the_nodes_ram():
    """12 M samples of 300 kB (3.6 TB raw, 21.6 TB decoded) on a g5.48xlarge (768 GiB RAM, 80% usable):
    the caches shrink to the 660 GB that fit (hit rate = that share), the configured whole-dataset
    cache is flagged, and the RAM figure names the instance it comes from."""
    raw = load_job(EXAMPLES / "resnet50-objectstore-files.yaml").model_dump()
    raw["cluster"] = {"instance": "aws:g5.48xlarge"}
    raw["data"].update(sample_bytes=300_000, dataset_samples=12_000_000, cache_fraction=1.0)
    raw["training"].update(dataset_samples=12_000_000, epochs=1)
    job = load_job_dict(raw)
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    cap = 768 * 2**30 * 0.8
    assert cfg.loader.cache_ram_bytes == pytest.approx(cap) and cfg.loader.cache_ram_source == "aws:g5.48xlarge"
    c = A.cache_worth_it(cfg, steps=120)
    configured, rawc, decoded = c["rows"]
    assert c["configured_fits"] is False and configured["cache_fraction"] == 1.0
    assert rawc["fits"] is False and rawc["cache_bytes"] == pytest.approx(cap)
    assert rawc["cache_fraction"] == pytest.approx(cap / 3.6e12)
    assert decoded["cache_fraction"] == pytest.approx(cap / (3.6e12 * A.DECODED_SIZE_FACTOR))
    assert "that fits" in rawc["variant"] and "that fits" in decoded["variant"]
    # a partial cache is slower than the (impossible) whole one the job configured
    assert rawc["samples_per_s"] < configured["samples_per_s"]


def test_cache_answer_without_ram_or_size_checks_nothing():
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
                    loader=LoaderConfig(workers=2, decode_s=0.004, decode_cv=0.0, dataset_samples=1e6))
    c = A.cache_worth_it(cfg, steps=100)
    assert c["cache_ram_bytes"] is None and all(r["fits"] is None for r in c["rows"])
    assert [r["cache_fraction"] for r in c["rows"]] == [0.0, 1.0, 1.0]
    small = replace(cfg, loader=replace(cfg.loader, cache_ram_bytes=1e12))  # 200 GB raw fits in 1 TB
    assert [r["fits"] for r in A.cache_worth_it(small, steps=100)["rows"]] == [True, True, False]


def test_vit_keeps_up_where_resnet_starves():
    """Same pipeline, ~4.3x the FLOPs per image: ViT-B/16 waits for data far less than ResNet-50."""
    out = {}
    for name in ("vit-b16-objectstore-shards", "resnet50-objectstore-shards"):
        job = load_job(EXAMPLES / f"{name}.yaml")
        cfg = A.data_only(SimConfig.from_estimate(estimate_job(job), job))
        out[name] = simulate(cfg, steps=300, seed=0).data["steady_data_wait_share"]
    assert out["vit-b16-objectstore-shards"] < out["resnet50-objectstore-shards"] - 0.15


def test_straggler_stalls_the_allreduce():
    p = PipelineConfig(t_fwd_mb=0.1, t_bwd_mb=0.2, m=4, dp=4, t_dp_comm=0.3, dp_buckets=8)
    even = simulate(SimConfig(p), steps=50)
    slow = simulate(SimConfig(replace(p, rank_slowdown=(1.0, 1.0, 1.0, 1.3))), steps=50)
    # even: 4 x 0.3 s + exposed reduce max(0.3/8, 0.3 - 0.2) = 1.3 s. Everyone waits for the slow
    # replica (4 x 0.39 = 1.56 s), then for the reduce it delays: max(0.3/8, 0.3 - 0.26) = 0.04 s
    assert even.step_time_s["mean"] == pytest.approx(1.3, rel=1e-9)
    assert slow.step_time_s["mean"] == pytest.approx(1.56 + 0.04, rel=1e-9)
    assert slow.time_by_cause_s["straggler"] > 0
    assert slow.gpu_busy_share < even.gpu_busy_share


def test_goodput_model_matches_closed_form():
    M, d, R = 36_000.0, 60.0, 600.0
    tau = young_daly_interval_s(d, M)
    for f in (0.5, 1.0, 2.0):
        sim = simulate_goodput(1.0, round(tau * f), d, 0.0, M, R, 3000 * M, seed=3)["goodput"]
        assert sim == pytest.approx(expected_goodput(round(tau * f), d, M, R), abs=0.004)


def test_checkpoint_interval_optimum_near_young_daly():
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.1, t_bwd_mb=0.2),
                    checkpoint=CheckpointConfig(every_steps=100, bytes=60e9, write_bw=1e9),
                    failures=FailureConfig(mtbf_node_s=8 * 3600.0, nodes=2, restart_s=300))
    ans = A.checkpoint_interval_sweep(cfg, step_s=0.3)
    yd = ans["young_daly_interval_s"]
    assert yd == pytest.approx(math.sqrt(2 * 60 * 4 * 3600))
    assert 0.6 * yd <= ans["best_interval_s"] <= 1.6 * yd
    assert ans["goodput_at_young_daly"] == pytest.approx(ans["best_goodput"], abs=0.005)
    assert ans["goodput_at_current"] < ans["best_goodput"] - 0.01  # every 30 s is far too often


def test_checkpoints_and_failures_in_the_step_engine():
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.1, t_bwd_mb=0.2),
                    checkpoint=CheckpointConfig(every_steps=50, bytes=10e9, write_bw=1e9),
                    failures=FailureConfig(mtbf_node_s=200.0, nodes=1, restart_s=20))
    r = simulate(cfg, steps=2000, seed=0)
    assert r.failures > 0 and r.lost_steps > 0
    assert r.time_by_cause_s["checkpoint"] == pytest.approx(10 * (2000 // 50) * (1 + 0), rel=0.5)
    assert r.goodput < 0.9
    assert r.wall_s == pytest.approx(sum(r.time_by_cause_s.values()))


def test_eval_tiering_saves_time():
    job = load_job(EXAMPLES / "resnet50-eval-cadence.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    t = A.eval_tiering(cfg, steps=400)
    assert t["eval_share_full"] > 0.03
    assert t["eval_share_tiered"] < t["eval_share_full"] / 2
    assert 0 < t["wall_saving_share"] < t["eval_share_full"]
    # evaluating more often costs a larger share
    more = A.eval_tiering(replace(cfg, evaluation=replace(cfg.evaluation, every_steps=20)), steps=400)
    assert more["eval_share_full"] > t["eval_share_full"]
    # the job's tier (evaluation.holdout_fraction, full_every) is what gets compared: a larger
    # holdout and more frequent full passes save less
    assert (cfg.evaluation.subset_fraction, cfg.evaluation.tier_full_every) == (0.1, 10)
    job2 = job.model_copy(update={"evaluation": job.evaluation.model_copy(
        update={"holdout_fraction": 0.5, "full_every": 2})})
    cfg2 = SimConfig.from_estimate(estimate_job(job2), job2)
    assert A.eval_tiering(cfg2, steps=400)["wall_saving_share"] < t["wall_saving_share"]


# ---------------------------------------------------------------------------------------------
# CLI

def test_cli_simulate_json_and_timeline(cli, tmp_path):
    tl = tmp_path / "tl.csv"
    d = answered(cli("simulate", str(EXAMPLES / "resnet50-objectstore-shards.yaml"), "--steps", "120", "--json",
                     "--timeline", str(tl), "--no-answers"))
    assert d["steps"] == 120 and d["step_time_s"]["mean"] > 0 and "time_by_cause_s" in d
    lines = tl.read_text().splitlines()
    assert lines[0] == "rank,resource,kind,start,end" and len(lines) > 100
    tj = tmp_path / "tl.json"
    code, so, se = cli("simulate", str(EXAMPLES / "llama3-8b-estimate.yaml"), "--steps", "5", "--timeline", str(tj),
                       "--no-answers")
    assert code == 0, se
    assert json.loads(tj.read_text())[0].keys() == {"rank", "resource", "kind", "start", "end"}


def test_cli_simulate_answers(cli):
    code, so, se = cli("simulate", str(EXAMPLES / "resnet50-eval-cadence.yaml"), "--steps", "100")
    assert code == 0, se
    for text in ("loader workers:", "caching:", "shards:", "evaluation:", "saves"):
        assert text in so


def test_cli_evaluation_answer_names_the_jobs_own_tier(cli, tmp_path):
    """The evaluation answer printed "a stratified 10% holdout with the full set every 10th
    evaluation" whatever the job's evaluation.holdout_fraction / full_every said."""
    doc = yaml.safe_load((EXAMPLES / "resnet50-eval-cadence.yaml").read_text())
    doc["evaluation"].update(holdout_fraction=0.25, full_every=3)
    # without its data section the job asks only the evaluation question (the loader's workers, caching and
    # shard answers, 98% of the run's CPU time, are test_cli_simulate_answers' on the example as shipped)
    del doc["data"]
    job = tmp_path / "tier.yaml"
    job.write_text(yaml.safe_dump(doc))
    code, so, se = cli("simulate", str(job), "--steps", "100")
    assert code == 0, se
    line = " ".join(so[so.index("evaluation:"):].split())
    assert "a stratified 25% holdout with the full set every 3rd evaluation" in line, line
    assert "10th" not in line


@pytest.mark.parametrize("args,field", [
    (["--timeline", "out.txt"], "--timeline"),
    (["--timeline", "/nonexistent-dir/x.csv"], "--timeline"),
])
def test_cli_simulate_bad_input(cli, tmp_path, args, field):
    code, so, se = cli("simulate", str(EXAMPLES / "llama3-8b-estimate.yaml"), "--steps", "5", *args)
    assert code == 2
    assert f"error: {field}" in se and "Traceback" not in so + se
    assert len(se.strip().splitlines()) == 1


def test_cli_simulate_bad_job(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: resnet50}\ndata: {decode_ms_per_sample: -1}\n")
    code, so, se = cli("simulate", str(bad))
    assert code == 2 and "data.decode_ms_per_sample" in se
    code, so, se = cli("simulate", str(EXAMPLES / "llama3-8b-estimate.yaml"), "--steps", "0")
    assert code == 2


def test_recommend_says_data_bound(catalog):
    from planner.workloads.training import recommend

    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    res = recommend(job, catalog, top=3)
    assert any("data, not compute" in n for n in res["notes"])
    best = res["best"]
    assert "data pipeline" in best["bottleneck"] and best["simulated"]["data_wait_share"] > 0.5
    assert best["step_time_s"] == pytest.approx(best["simulated"]["step_time_s"])
    # more nodes do not make the I/O-bound job faster in proportion: 4 nodes cost more than 1
    by_nodes = {r["hardware"]["nodes"]: r for r in res["ranked"]}
    if 1 in by_nodes and 4 in by_nodes:
        assert by_nodes[4]["cost"]["cost_ondemand_usd"] > 1.5 * by_nodes[1]["cost"]["cost_ondemand_usd"] * 0.9
        assert by_nodes[4]["cost"]["hours"] > by_nodes[1]["cost"]["hours"] / 4 * 1.5


def test_goodput_of_a_cycle_far_longer_than_the_mtbf_is_zero_not_an_overflow(cli, tmp_path):
    """qa2: the app died with 'math range error' (and `planner recommend` with an internal error) on
    a spot job whose candidates include steps of hours on a 0.001 Gb/s network: exp(c / MTBF)
    overflowed in the goodput formula. Such a cycle almost never completes: goodput 0, the plan's
    expected spot time and cost infinite (ranked last), and no numpy warning on the terminal."""
    import warnings

    import numpy as np

    from planner.simulate.interruptions import SpotRate, spot_expectation

    assert expected_goodput(1e9, 10.0, 3600.0, 600.0) == 0.0
    assert 0 < expected_goodput(3600.0, 10.0, 3600.0 * 700 / 1.01, 600.0) < 1  # just under the cut: finite
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = spot_expectation(SpotRate(1.0, 1.0, 1.0, 0.0, "test"), np.array([1e6, 10.0]), np.array([8, 8]),
                             np.array([1e6, 1.0]), 10.0, 60.0, 600.0, every_steps=1)
    assert np.isinf(e["hours"][0]) and np.isinf(e["cost"][0]) and np.isfinite(e["hours"][1])
    job = tmp_path / "spot.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 131072, global_batch: 8192, tokens: 1.0e6}\n"
                   # one GPU type: its multi-node plans are the hours-long steps (all of AWS: ~10x the search)
                   "cluster: {inter_node_gbps: 0.001}\nconstraints: {spot: true, clouds: [aws], gpus: [H100]}\n")
    assert answered(cli("recommend", job, "--json"))["best"]["cost"]["spot_risk"]["expected_cost_usd"] > 0


@pytest.mark.parametrize("steps, wall", [("1", " s"), ("100000000", " d")])
def test_cli_simulate_wall_is_a_readable_duration(cli, steps, wall):
    """The wall line printed '1.27e+04 h' for 1e8 steps and '0.000488 h' for one."""
    code, so, se = cli("simulate", str(EXAMPLES / "resnet50-eval-cadence.yaml"), "--steps", steps, "--no-answers")
    assert code == 0, se
    line = next(l for l in so.splitlines() if l.strip().startswith("wall"))
    assert line.rstrip().endswith(wall) and "e+" not in line and "0.000" not in line, line


def test_image_model_simulation_has_no_tokens_per_second():
    """An image model's simulation JSON said tokens_per_s = samples_per_s (1 "token" per image); it is null now,
    and a transformer's is samples/s x its sequence length."""
    job = load_job(EXAMPLES / "resnet50-objectstore-shards.yaml")
    r = simulate(A.data_only(SimConfig.from_estimate(estimate_job(job), job)), steps=60, seed=0)
    assert r.tokens_per_s is None and r.samples_per_s > 0
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=4, tokens_per_sample=2048))
    r = simulate(cfg, steps=20)
    assert r.tokens_per_s == pytest.approx(r.samples_per_s * 2048)


def test_answer_tables_mark_the_jobs_own_row():
    """The workers and storage-format tables did not say which row was the job's own: the configured worker
    count (23, off the grid) joins the grid and both tables mark "(configured)"."""
    from rich.console import Console

    from planner.present.simulation import format_answers

    job = load_job(EXAMPLES / "resnet50-objectstore-shards.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    w, sh = A.workers_needed(cfg, steps=120), A.best_shard_size(cfg, steps=120)
    assert cfg.loader.workers == 23 and 23 in [r["workers"] for r in w["rows"]]
    assert sh["configured_shard_mb"] == 256
    con = Console(record=True, width=120)
    for part in format_answers({"workers": w, "shards": sh}):
        con.print(part)
    text = con.export_text()
    assert "23 (configured)" in text and "256 MB shards (configured)" in text
    assert text.count("(configured)") == 2
