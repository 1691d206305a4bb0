"""The serving simulation (planner/simulate/serving.py) against queueing theory, against the
analytic planner, and on the behaviours the planner relies on (tails grow with load, replicas
bring them back, KV exhaustion preempts)."""
import math

import numpy as np
import pytest

from planner.errors import InputError, TooLargeError
from planner.hardware.options import option_from_cluster
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      Workload, load_trace, make_workload, simulate_serving)
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_screen import replica_spec
from planner.workloads.serving_iteration import IterationModel, _llm_iteration

H100 = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))


def _linear(sec_per_token: float) -> IterationModel:
    """A step that costs ``sec_per_token`` per prompt token and nothing else (tp 1, no memory term)."""
    base = IterationModel.constant(0.0)
    return IterationModel(**{**base.__dict__, "lin_flops": 1.0, "flops_rate": 1.0 / sec_per_token})


def _batch1(im, blocks=10**6, budget=10**6):
    return ServingSimConfig(ReplicaSpec(im, blocks), EngineConfig(max_num_seqs=1, max_num_batched_tokens=budget))


def _llama8b(**serving):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "serving": {"p99_latency_ms": 100, **serving}})
    return job.model, job.serving


# ---------------------------------------------------------------------------------------------
# queueing theory
# ---------------------------------------------------------------------------------------------


def test_mm1_sojourn_time_distribution():
    """Batch 1, one-token outputs, exponential prompts costing 0.1 ms/token: service ~ Exp(mean
    0.1 s) -> M/M/1 with mu = 10, lambda = 7: sojourn ~ Exp(mu - lambda) and L_q = rho^2 / (1 - rho)."""
    lam, mu = 7.0, 10.0
    wl = make_workload(ArrivalSpec("poisson", rate=lam, duration_s=8000), LengthDist("exponential", 1000),
                       LengthDist("fixed", 1), seed=11)
    res = simulate_serving(_batch1(_linear(1e-4)), wl)
    assert res.unfinished == 0
    rate = mu - lam
    for q, got in ((0.5, res.e2e.p50), (0.9, res.e2e.p90), (0.99, res.e2e.p99)):
        assert got == pytest.approx(-math.log(1 - q) / rate, rel=0.08), q
    assert res.e2e.mean == pytest.approx(1 / rate, rel=0.06)
    rho = lam / mu
    assert np.mean(res.timeline["waiting"]) == pytest.approx(rho ** 2 / (1 - rho), rel=0.12)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait(rho):
    """Fixed prompts: deterministic service D = 0.1 s -> M/D/1, W = D + rho D / (2 (1 - rho))."""
    D = 0.1
    wl = make_workload(ArrivalSpec("poisson", rate=rho / D, duration_s=6000), LengthDist("fixed", 1000),
                       LengthDist("fixed", 1), seed=5)
    res = simulate_serving(_batch1(_linear(1e-4)), wl)
    assert res.e2e.mean == pytest.approx(D + rho * D / (2 * (1 - rho)), rel=0.05)
    assert res.e2e.p50 >= D - 1e-12  # nobody is served faster than D


def test_littles_law_with_batching():
    """L = lambda W for the whole service (queue + running), with continuous batching on."""
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", 20, 300), LengthDist("lognormal", 512, 0.5),
                       LengthDist("lognormal", 128, 0.5), seed=2)
    res = simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048),
                                            sample_s=0.05), wl)
    in_system = np.mean(res.timeline["waiting"] + res.timeline["running"])
    assert in_system == pytest.approx(20 * res.e2e.mean, rel=0.08)


# ---------------------------------------------------------------------------------------------
# agreement with the analytic model (same iteration function)
# ---------------------------------------------------------------------------------------------


def test_full_batch_tpot_matches_the_analytic_step():
    """A backlog keeps all B slots busy. Decode-dominated (16-token prompts): the simulated median
    TPOT and throughput are the analytic steady-state iteration at batch B within 5%. Prefill-heavy
    (1024-token prompts): the simulation is slower than the analytic figure, never faster — the
    engine fills its token budget greedily, so prefill comes in compute-bound bursts instead of
    being spread evenly under the decodes' memory time (sum of maxima >= maximum of sums)."""
    B = 64
    for P, exact in ((16, True), (1024, False)):
        m, s = _llama8b(prompt_tokens=P, output_tokens=256)
        spec = replica_spec(m, s, H100, 1)
        wl = make_workload(ArrivalSpec("burst", count=1000), LengthDist("fixed", P), LengthDist("fixed", 256))
        res = simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=B, max_num_batched_tokens=512),
                                                drain_s=1e4), wl)
        assert res.unfinished == 0
        step = float(_llm_iteration(m, s, H100, 1, np.array([B]))["step"][0])
        rps = B / (256 * step)  # Little: B in flight, each for O iterations
        if exact:
            assert res.tpot.p50 == pytest.approx(step, rel=0.05)
            assert res.throughput_rps == pytest.approx(rps, rel=0.05)
        else:
            assert step < res.tpot.p50 < 1.5 * step
            assert res.throughput_rps < rps


# ---------------------------------------------------------------------------------------------
# behaviour the planner relies on
# ---------------------------------------------------------------------------------------------


def _chat(rate, replicas=1, seed=0, duration=150, **engine):
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", rate, duration), LengthDist("lognormal", 512, 0.6),
                       LengthDist("lognormal", 200, 0.6), seed=seed)
    eng = EngineConfig(**{"max_num_seqs": 32, "max_num_batched_tokens": 2048, **engine})
    return simulate_serving(ServingSimConfig(spec, eng, replicas=replicas, drain_s=30), wl)


def test_p99_rises_with_qps_explodes_near_saturation_and_replicas_bring_it_back():
    sat = _chat(1000, duration=3)  # a backlog: the replica's saturated throughput
    cap = sat.throughput_rps
    loads = (0.3, 0.6, 0.85, 1.3)
    ttft = [_chat(f * cap).ttft.p99 for f in loads]
    assert all(a < b for a, b in zip(ttft, ttft[1:])), ttft
    assert ttft[2] > 2 * ttft[0]
    over = _chat(1.3 * cap)
    assert over.unfinished > 0 or over.ttft.p99 > 20 * ttft[0]  # the queue grows without bound
    assert over.queue_max > 50
    two = _chat(1.3 * cap, replicas=2)
    assert two.unfinished == 0 and two.ttft.p99 < ttft[2]  # ~0.65 per replica


def test_kv_exhaustion_preempts_and_everything_still_finishes():
    m, s = _llama8b()
    full = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("burst", count=200), LengthDist("fixed", 256), LengthDist("fixed", 512), seed=1)
    eng = EngineConfig(max_num_seqs=128, max_num_batched_tokens=4096)
    roomy = simulate_serving(ServingSimConfig(full, eng), wl)
    assert roomy.preemptions == 0
    tight = ReplicaSpec(full.iteration, num_blocks=128 * 768 // 16 // 3)  # a third of what 128 seqs need
    for mode in ("recompute", "swap"):
        res = simulate_serving(ServingSimConfig(tight, EngineConfig(max_num_seqs=128, max_num_batched_tokens=4096,
                                                                    preemption=mode)), wl)
        assert res.preemptions > 0 and res.completed == 200
        t, eng_id, rid, kind = res.preemption_events[0]
        assert kind == mode and 0 < t < res.simulated_s
        assert res.timeline["preemptions"][-1] == res.preemptions  # preemptions show in the timeline
        assert res.kv_used_max <= 1.0 and res.kv_used_max > 0.9
        assert res.e2e.p50 > roomy.e2e.p50
    # with prefix caching off, every recompute re-prefills from token 0: more work, later finish
    cold = simulate_serving(ServingSimConfig(tight, EngineConfig(max_num_seqs=128, max_num_batched_tokens=4096,
                                                                 prefix_caching=False)), wl)
    warm = simulate_serving(ServingSimConfig(tight, EngineConfig(max_num_seqs=128, max_num_batched_tokens=4096)), wl)
    assert cold.preemptions > 0 and warm.preemptions > 0 and cold.completed == warm.completed == 200
    assert cold.simulated_s > warm.simulated_s


def test_chunked_prefill_protects_tpot_prefill_first_stalls_decodes():
    """Sarathi-Serve's point: with long prompts, prefill-first stalls running decodes for whole
    prefills (TPOT tail); chunked prefill bounds each iteration by the token budget, and a smaller
    budget gives a smaller TPOT tail."""
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", 4, 200), LengthDist("fixed", 6000), LengthDist("fixed", 200), seed=4)
    run = lambda **e: simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=64, **e)), wl)
    small, big = run(max_num_batched_tokens=512), run(max_num_batched_tokens=8192)
    first = run(max_num_batched_tokens=8192, policy="prefill_first")
    assert small.tpot.p99 < big.tpot.p99 < first.tpot.p99
    assert small.tpot.p99 < first.tpot.p99 / 3


def test_bursty_arrivals_have_worse_tails_than_poisson_at_the_same_rate():
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    eng = EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048)
    bursty = dict(burst_ratio=6, burst_share=0.2, burst_s=15)
    long = make_workload(ArrivalSpec("mmpp", rate=12, duration_s=30000, **bursty), LengthDist(), LengthDist(), seed=3)
    assert len(long) == pytest.approx(12 * 30000, rel=0.05)  # the mean rate is the stated rate
    out = {}
    for kind in ("poisson", "mmpp"):
        wl = make_workload(ArrivalSpec(kind, rate=12, duration_s=600, **bursty),
                           LengthDist("fixed", 512), LengthDist("fixed", 200), seed=3)
        out[kind] = simulate_serving(ServingSimConfig(spec, eng), wl)
    assert out["mmpp"].ttft.p99 > 1.5 * out["poisson"].ttft.p99


def test_pipeline_and_disaggregated_replicas_run_every_request():
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1, pp=2)
    wl = make_workload(ArrivalSpec("poisson", 10, 60), LengthDist("fixed", 512), LengthDist("fixed", 64), seed=0)
    pp = simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048)), wl)
    assert pp.engines == 2 and pp.completed == len(wl)
    single = replica_spec(m, s, H100, 1)
    dis = simulate_serving(ServingSimConfig(single, EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048),
                                            disaggregate=(1, 1)), wl)
    assert dis.engines == 2 and dis.completed == len(wl)
    # the decode replica never prefills: TPOT is the bare decode step, below the colocated one
    col = simulate_serving(ServingSimConfig(single, EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048)), wl)
    assert dis.tpot.p99 < col.tpot.p99


def test_same_seed_same_answer_other_seed_differs():
    a, b, c = _chat(20, seed=7, duration=60), _chat(20, seed=7, duration=60), _chat(20, seed=8, duration=60)
    strip = lambda r: {k: v for k, v in r.summary().items() if k != "wall_s"}
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_goodput_counts_requests_within_both_slos():
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", 20, 120), LengthDist("fixed", 512), LengthDist("fixed", 128), seed=1)
    loose = simulate_serving(ServingSimConfig(spec, slo_ttft_s=100.0, slo_tpot_s=10.0), wl)
    assert loose.goodput == 1.0
    tight = simulate_serving(ServingSimConfig(spec, slo_ttft_s=1e-6, slo_tpot_s=10.0), wl)
    assert tight.goodput == 0.0 and tight.goodput_rps == 0.0


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def test_trace_file_and_bad_inputs(tmp_path):
    p = tmp_path / "trace.csv"
    p.write_text("prompt_tokens,output_tokens,arrival_s,user\n100,10,0.2,a\n50,5,0.0,b\n")
    wl = load_trace(p)
    assert wl.arrival_s.tolist() == [0.0, 0.2] and wl.output.tolist() == [5, 10]
    res = simulate_serving(_batch1(IterationModel.constant(0.01)), wl)
    assert res.completed == 2
    p.write_text("arrival_s,prompt_tokens\n0,1\n")
    with pytest.raises(InputError, match="output_tokens"):
        load_trace(p)
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,abc,1\n")
    with pytest.raises(InputError, match="line 2"):
        load_trace(p)
    with pytest.raises(InputError):
        load_trace(tmp_path)
    with pytest.raises(TooLargeError, match="too large"):
        make_workload(ArrivalSpec("poisson", rate=1e5, duration_s=3600), LengthDist(), LengthDist())
    with pytest.raises(InputError, match="arrival"):
        make_workload(ArrivalSpec("weibull"), LengthDist(), LengthDist())
    with pytest.raises(InputError, match="length"):
        make_workload(ArrivalSpec(), LengthDist("zipf"), LengthDist())
    im = IterationModel.constant(0.01)
    with pytest.raises(InputError, match="max_num_seqs"):
        simulate_serving(ServingSimConfig(ReplicaSpec(im, 100), EngineConfig(max_num_seqs=64, max_num_batched_tokens=32)), wl)
    with pytest.raises(InputError, match="policy"):
        simulate_serving(ServingSimConfig(ReplicaSpec(im, 100), EngineConfig(policy="lifo")), wl)
    with pytest.raises(InputError, match="KV cache"):
        simulate_serving(ServingSimConfig(ReplicaSpec(im, 3)), wl)  # 48 tokens < a 110-token request
    with pytest.raises(InputError, match="routing"):
        simulate_serving(ServingSimConfig(ReplicaSpec(im, 100), routing="sticky"), wl)
    empty = Workload(np.zeros(0), np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    with pytest.raises(InputError):
        simulate_serving(ServingSimConfig(ReplicaSpec(im, 100)), empty)


def test_published_serving_data_has_provenance_and_simulates():
    """benchmarks/data/serving_published.csv: every row names its source page and engine, and the
    validation script simulates every row to a finite prediction (the error table is a script's
    output, benchmarks/validate_serving.py, not a test assertion)."""
    import csv
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("validate_serving", root / "benchmarks" / "validate_serving.py")
    val = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(val)
    rows = list(csv.DictReader((root / "benchmarks" / "data" / "serving_published.csv").open()))
    assert len(rows) >= 15
    for row in rows:
        assert row["url"].startswith("https://") and row["engine"] and row["engine_version"] and row["gpu"]
        assert any(row[c] for c in val.METRICS)
    for row in rows[:: max(1, len(rows) // 5)]:
        p = val.predict(row)
        assert all(math.isfinite(p[c]) and p[c] > 0 for c in val.METRICS)


def test_closed_loop_clients():
    """max_concurrency C: a closed loop. C = 1 with a constant 10-iteration request serves one
    request per 0.1 s exactly; C = 4 on a batching engine keeps at most 4 in the system."""
    wl = make_workload(ArrivalSpec("burst", count=50), LengthDist("fixed", 1), LengthDist("fixed", 10))
    one = simulate_serving(ServingSimConfig(ReplicaSpec(IterationModel.constant(0.01), 1000),
                                            EngineConfig(max_num_seqs=8, max_num_batched_tokens=64),
                                            max_concurrency=1), wl)
    assert one.simulated_s == pytest.approx(50 * 0.1) and one.e2e.p99 == pytest.approx(0.1)
    four = simulate_serving(ServingSimConfig(ReplicaSpec(IterationModel.constant(0.01), 1000),
                                             EngineConfig(max_num_seqs=8, max_num_batched_tokens=64),
                                             max_concurrency=4, sample_s=0.005), wl)
    assert max(four.timeline["waiting"] + four.timeline["running"]) <= 4
    assert four.simulated_s < one.simulated_s / 3  # four in flight share each iteration
    with pytest.raises(InputError, match="client"):
        simulate_serving(ServingSimConfig(ReplicaSpec(IterationModel.constant(0.01), 1000), max_concurrency=0), wl)


def _flat(d: dict, pre="") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, pre + k + ".") if isinstance(v, dict) else {pre + k: v})
    return out


@pytest.mark.parametrize("engine,replicas,blocks", [
    (dict(max_num_seqs=1), 40, None),  # batch 1, ~70% busy: every decode is a span
    (dict(max_num_seqs=1, policy="prefill_first", max_num_batched_tokens=512), 16, None),  # overloaded: stops mid-span
    (dict(max_num_seqs=8, preemption="swap"), 2, 300),  # KV too small: spans, single steps and preemptions mix
    (dict(max_num_seqs=8), 2, 300),  # the same with recompute
    (dict(max_num_seqs=64), 2, None),  # never full: spans end at each arrival (interruptible)
    (dict(max_num_seqs=64, policy="prefill_first"), 1, None),
    (dict(max_num_seqs=64), 1, 600),  # KV-bound: the queue's head waits for blocks during spans
])
def test_fast_forwarded_decode_spans_give_the_step_by_step_answer(engine, replicas, blocks):
    """A full batch decodes untouched until its next finish, so those steps run as one event
    (Engine._decode_span). Against the step-by-step loop (``fast_forward=False``): the same request
    times, iterations, preemptions and timeline (KV occupancy included) up to the rounding of the
    clock, with fewer engine events."""
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    if blocks:
        spec = ReplicaSpec(spec.iteration, blocks)
    wl = make_workload(ArrivalSpec("poisson", 20, 60), LengthDist("lognormal", 512, 0.6, max=2048),
                       LengthDist("lognormal", 200, 0.6, max=800), seed=3)
    runs = [simulate_serving(ServingSimConfig(spec, EngineConfig(**{"max_num_batched_tokens": 2048, **engine,
                                                                     "fast_forward": ff}),
                                              replicas=replicas, warmup_s=10, drain_s=20), wl)
            for ff in (True, False)]
    fast, step = (_flat({k: v for k, v in r.summary().items() if k not in ("wall_s", "engine_events")})
                  for r in runs)
    assert fast.keys() == step.keys()
    for k in fast:
        assert fast[k] == pytest.approx(step[k], rel=1e-9, nan_ok=True), k
    for k in runs[0].timeline:
        np.testing.assert_allclose(runs[0].timeline[k], runs[1].timeline[k], rtol=1e-9)
    assert runs[1].engine_events == runs[1].iterations  # step by step: one event per iteration
    assert runs[0].engine_events < runs[0].iterations
    if engine["max_num_seqs"] == 1:
        assert runs[0].engine_events < runs[0].iterations / 20  # ~200 output tokens: ~2 events a request
    if engine["max_num_seqs"] == 64 and not blocks:
        # an event per prefill step, one per span that an arrival or finish ends: not one per step
        assert runs[0].engine_events < runs[0].iterations / 2, (runs[0].engine_events, runs[0].iterations)
    if blocks:
        assert runs[0].preemptions > 0
    if engine.get("policy") == "prefill_first" and engine["max_num_seqs"] == 1:
        assert runs[0].unfinished > 0  # the run stopped at the horizon, inside spans


def test_tpot_percentiles_leave_out_one_token_requests():
    """TPOT = (finish - first token) / (output - 1) exists only for requests with a second token (vllm bench
    serve appends a TPOT ``if output_len > 1``). Half the requests of this workload have one output token:
    they used to count as 0 ms and pulled p50 and the mean to 0. The others decode 10 tokens at 1 ms per
    iteration, alone (batch 1, arrivals 1 s apart): TPOT 1 ms at every percentile."""
    n = 200
    wl = Workload(np.arange(n, dtype=np.float64), np.full(n, 10, dtype=np.int64),
                  np.where(np.arange(n) % 2 == 0, 1, 11).astype(np.int64))
    res = simulate_serving(_batch1(IterationModel.constant(1e-3)), wl)
    assert res.unfinished == 0
    for v in (res.tpot.p50, res.tpot.p99, res.tpot.mean):
        assert v == pytest.approx(1e-3, rel=1e-6)
    ones = Workload(wl.arrival_s, wl.prompt, np.ones(n, dtype=np.int64))  # no TPOT at all: 0, not NaN
    assert simulate_serving(_batch1(IterationModel.constant(1e-3)), ones).tpot.p99 == 0.0


@pytest.mark.parametrize("cfg", [dict(disaggregate=(1, 2)), dict(replicas=2, pp=2)])
def test_spans_give_the_step_by_step_answer_disaggregated_and_pipelined(cfg):
    """Interruptible spans on disaggregated decode engines (requests arrive already prefilled) and on
    PP virtual engines: the step-by-step answer, in fewer engine events."""
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    spec = ReplicaSpec(spec.iteration, spec.num_blocks, cfg.get("pp", 1), 1e-5)
    wl = make_workload(ArrivalSpec("poisson", 10, 40), LengthDist("lognormal", 512, 0.6, max=2048),
                       LengthDist("lognormal", 200, 0.6, max=800), seed=5)
    runs = [simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=64, fast_forward=ff),
                                              replicas=cfg.get("replicas", 1), disaggregate=cfg.get("disaggregate"),
                                              warmup_s=5, drain_s=20), wl) for ff in (True, False)]
    fast, step = (_flat({k: v for k, v in r.summary().items() if k not in ("wall_s", "engine_events")})
                  for r in runs)
    for k in fast:
        assert fast[k] == pytest.approx(step[k], rel=1e-9, nan_ok=True), k
    assert runs[0].unfinished == 0 and runs[0].engine_events < runs[0].iterations / 3


def test_every_block_comes_back_when_prefills_finish_beside_decodes():
    """A prefill that finished in a step that also decoded others entered decoding at that step: it finished a
    step early and, with its stored tokens a multiple of the block size, gave back a block it never took
    (40 Poisson requests around 300 prompt tokens left -2 blocks in use once idle; found by helper prefix).
    Prompts of exactly 320 tokens (20 blocks) make every such entry hit it."""
    from planner.simulate.serving import Workload

    im = IterationModel(lin_flops=2e9, attn_flops=1e5, dense_bytes=2e9, expert_bytes=0.0, moe_layers=0, experts=1,
                        top_k=1, kv_bytes=1e5, flops_rate=5e14, bytes_rate=2e12, act_bytes=8e3, layers=32, tp=1,
                        ar_bw=1e11, ar_alpha=8e-6, kernel_s=0.0)
    n = 40
    rng = np.random.default_rng(0)
    arrivals = np.cumsum(rng.exponential(0.05, n))
    wl = Workload(arrivals, np.full(n, 320, dtype=np.int64), np.full(n, 48, dtype=np.int64))
    res = simulate_serving(ServingSimConfig(ReplicaSpec(im, 100_000), EngineConfig(max_num_seqs=64),
                                            sample_s=0.01, drain_s=60.0), wl)
    assert res.unfinished == 0
    used = np.asarray(res.timeline["kv_used"])
    # idle between bursts: nothing held, nothing given back twice (the bug drove the idle pool below zero)
    assert (used == 0.0).any() and used.min() >= 0.0, used.min()


@pytest.mark.parametrize("preset,tp", [("llama3-8b", 1), ("gemma3-12b", 1), ("mixtral-8x7b", 2)])
def test_roofline_on_plain_floats_is_the_array_answer(preset, tp):
    """IterationModel.parts keeps plain numbers plain (planner.model.ew: the simulator calls it per step) and
    arrays arrays: one formula, the same float64 bits either way (MoE, local layers and TP all-reduce included)."""
    job = load_job_dict({"model": {"preset": preset}, "serving": {"p99_latency_ms": 100}})
    from planner.workloads.serving_memory import served_model
    im = IterationModel.build(served_model(job.model), H100, tp, "bf16", "bf16")
    rng = np.random.default_rng(0)
    n = rng.integers(0, 200, 64)
    ctx = (n * rng.integers(1, 9000, 64)).astype(np.float64)
    pt = rng.integers(0, 4096, 64)
    comp = rng.integers(0, 3000, 64)
    pc = pt * comp + pt * (pt + 1) / 2
    loc = im.local_pairs(comp, pt) if im.window else None
    arr = im.parts(n, ctx, pt, pc, loc, comp)
    for i in range(64):
        one = im.parts(int(n[i]), float(ctx[i]), int(pt[i]), float(pc[i]),
                       float(im.local_pairs(int(comp[i]), int(pt[i]))) if im.window else None, int(comp[i]))
        assert type(one["step"]) is float
        for k in ("step", "compute", "memory", "comm", "flops"):
            assert one[k] == arr[k][i], (k, i)


def test_short_and_long_spans_time_their_steps_alike(monkeypatch):
    """A decode span of at most SCALAR_SPAN steps times them on plain floats, a longer one on an array: the
    same answer, bit for bit, whichever way every span goes."""
    import planner.simulate.serving as sim
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", 20, 60), LengthDist("lognormal", 512, 0.6, max=2048),
                       LengthDist("lognormal", 200, 0.6, max=800), seed=3)
    out = []
    for limit in (0, 10**9):
        monkeypatch.setattr(sim, "SCALAR_SPAN", limit)
        res = simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048),
                                                replicas=2, warmup_s=10), wl)
        out.append(({k: v for k, v in res.summary().items() if k != "wall_s"}, res.timeline))
    assert out[0][0] == out[1][0]
    for k in out[0][1]:
        assert np.array_equal(out[0][1][k], out[1][1][k])


def test_a_search_run_stops_once_a_p99_is_sure_to_miss():
    """simulate_serving(miss=...): the run stops as soon as enough measured requests missed a threshold that
    the p99 must exceed it (MissWatch); a run that passes runs, and answers, as without it. Overloaded (one
    replica, 2x its capacity): a TTFT miss stops it early, in fewer iterations, and the whole run misses
    too; a TPOT threshold it cannot meet stops it; thresholds it meets leave it whole."""
    m, s = _llama8b()
    spec = replica_spec(m, s, H100, 1)
    wl = make_workload(ArrivalSpec("poisson", 30, 120), LengthDist("lognormal", 1024, 0.6, max=4096),
                       LengthDist("lognormal", 300, 0.6, max=1000), seed=2)
    cfg = ServingSimConfig(spec, EngineConfig(max_num_seqs=16, max_num_batched_tokens=2048), warmup_s=10)
    whole = simulate_serving(cfg, wl)
    assert not whole.meets(1.0, None) and not whole.stopped_early
    cut = simulate_serving(cfg, wl, miss=(1.0, None))
    assert cut.stopped_early and not cut.meets(1.0, None)
    assert cut.iterations < whole.iterations / 2 and cut.simulated_s < whole.simulated_s
    tpot = simulate_serving(cfg, wl, miss=(None, 1e-4))  # 0.1 ms a token: every request misses it
    assert tpot.stopped_early and tpot.iterations < whole.iterations / 2 and not whole.meets(None, 1e-4)
    # thresholds the whole run meets (its own p99s): never stopped, the same answer
    light = ServingSimConfig(spec, EngineConfig(max_num_seqs=16, max_num_batched_tokens=2048), replicas=4, warmup_s=10)
    full = simulate_serving(light, wl)
    kept = simulate_serving(light, wl, miss=(full.ttft.p99, full.tpot.p99))
    assert full.meets(full.ttft.p99, full.tpot.p99) and not kept.stopped_early
    drop = ("wall_s", "engine_events")
    assert {k: v for k, v in kept.summary().items() if k not in drop} == \
        {k: v for k, v in full.summary().items() if k not in drop}
