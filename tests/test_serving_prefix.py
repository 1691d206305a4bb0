"""A prompt prefix every request shares (``serving.shared_prefix_tokens``: a system prompt, few-shot
examples) under the engine's prefix cache (vLLM automatic prefix caching, SGLang RadixAttention,
TensorRT-LLM KV cache reuse): the prefill computes only the new tokens, the prefix's whole blocks are
held once per replica (analytic memory and the simulation's block accounting), decode still reads
every sequence's whole KV. planner/workloads/serving_memory.py ``shared_prefix``; planner/simulate/serving.py
``Engine._share`` / ``_hit``."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from planner.cli import app
from planner.hardware.options import option_from_cluster
from planner.simulate.serving import (ArrivalSpec, BlockCost, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      Workload, make_workload, simulate_serving)
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_screen import ServeTarget, kv_free_bytes, llm_option, replica_spec
from planner.workloads.serving import plan_serving
from planner.workloads.serving_iteration import IterationModel, prefill_time
from planner.workloads.serving_memory import kv_bytes_per_sequence, kv_prefix_bytes, shared_prefix
from planner.workloads.serving_settings import settings_for
from conftest import answered, invoke_app

H100 = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
NO_TARGET = ServeTarget(None, None, None)


def _job(model=None, **serving):
    return load_job_dict({"model": model or {"preset": "llama3-8b"},
                          "serving": {"p99_latency_ms": 50, "max_batch": 4096, "prompt_tokens": 2560,
                                      "output_tokens": 256, **serving}})


# ---------------------------------------------------------------------------------------------
# analytic: prefill, KV bytes, batch
# ---------------------------------------------------------------------------------------------


def test_cached_tokens_are_whole_blocks_of_the_engine():
    """vLLM hashes full 16-token blocks, TensorRT-LLM reuses 32-token blocks, SGLang's radix tree any token."""
    for engine, want in (("vllm", 2048), ("tensorrt-llm", 2048), ("sglang", 2050)):
        assert shared_prefix(_job(shared_prefix_tokens=2050, engine=engine).serving) == want
    assert shared_prefix(_job(shared_prefix_tokens=2047, engine="tensorrt-llm").serving) == 2016
    assert shared_prefix(_job(shared_prefix_tokens=15).serving) == 0
    assert shared_prefix(_job().serving) == 0


def test_prefill_by_hand():
    """Llama-3-8B, 2,560-token prompts, 2,048 shared: 512 new tokens, each attending to the 2,048 cached
    keys and causally to the new ones, itself included: 512 x 2,048 + 512 x 513 / 2 = 1,179,904 (query, key) pairs
    (srv44: the diagonal counted, FlashAttention's causal mask), against 2,560 x 2,561 / 2 = 3,278,080 without.
    Their FLOPs: lin x tokens + attn x pairs."""
    job = _job(shared_prefix_tokens=2048)
    m, s = job.model, job.serving
    im = IterationModel.build(m, H100, 1, "bf16", "bf16", "vllm")
    pairs = 512 * 2048 + 512 * 513 / 2
    assert pairs == 1_179_904
    assert prefill_time(m, s, H100, 1) == float(im.time(prefill_tokens=512, prefill_ctx=pairs))
    base = _job()
    assert prefill_time(m, base.serving, H100, 1) == float(im.time(prefill_tokens=2560, prefill_ctx=2560 * 2561 / 2))
    flops = im.parts(prefill_tokens=512, prefill_ctx=pairs)["flops"]
    assert flops == pytest.approx(im.lin_flops * 512 + im.attn_flops * pairs)
    # compute-bound: the prefill time falls about as its FLOPs do (4.2x fewer here)
    f0 = im.parts(prefill_tokens=2560, prefill_ctx=2560 * 2561 / 2)["flops"]
    assert prefill_time(m, base.serving, H100, 1) / prefill_time(m, s, H100, 1) > 0.8 * f0 / flops


def test_kv_bytes_by_hand():
    """Llama-3-8B bf16: 2 x 32 layers x 8 KV heads x 128 x 2 B = 131,072 B a token. A 2,816-token
    sequence (2,560 + 256) keeps its own 768 tokens (96 MiB); the 2,048 shared tokens' 256 MiB are held
    once per replica; the memory-limited batch is (free - 256 MiB) // 96 MiB."""
    job = _job(shared_prefix_tokens=2048)
    m, s = job.model, job.serving
    assert kv_bytes_per_sequence(m, "bf16", 2816, shared=2048) == 768 * 131072 == 96 * 2**20
    assert kv_prefix_bytes(m, "bf16", 2048) == 256 * 2**20
    free = kv_free_bytes(m, s, H100, 1)
    o = llm_option(m, s, H100, 1, NO_TARGET)
    assert o.batch_memory_limit == int((free - 256 * 2**20) // (96 * 2**20))
    assert o.prefix_cached_tokens == 2048 and o.kv_mib_shared_prefix_per_gpu == 256
    assert o.kv_mib_per_sequence_per_gpu == 96
    # capacity: tokens of sequences at the job's context (each counting the prefix it reads)
    assert o.kv_capacity_tokens == pytest.approx((free - 256 * 2**20) / (96 * 2**20) * 2816, abs=1)
    # TP2: half the KV heads per GPU, so half the bytes of both
    assert kv_prefix_bytes(m, "bf16", 2048, tp=2) == 128 * 2**20


def test_local_layers_share_only_the_global_layers_prefix():
    """8 layers, 6 sliding (256 tokens): the 2 global layers' prefix is held once, the sliding layers keep
    their window per sequence (the prefix's part of it included: an upper bound)."""
    m = _job({"preset": "llama3-8b", "layers": 8, "sliding_window": 256, "local_layers": 6}).model
    layer = 4096  # one layer's KV of one token (bf16, 8 heads of 128)
    assert kv_bytes_per_sequence(m, "bf16", 2816, shared=2048) == (2 * 768 + 6 * 256) * layer
    assert kv_bytes_per_sequence(m, "bf16", 2816) == (2 * 2816 + 6 * 256) * layer
    assert kv_prefix_bytes(m, "bf16", 2048) == 2 * 2048 * layer


def test_shared_prefix_lowers_ttft_and_raises_the_batch():
    """The chat job with a 2,048-token system prompt against the same job without it, on one H100."""
    a = llm_option(*(lambda j: (j.model, j.serving))(_job()), H100, 1, ServeTarget(0.05, None, None))
    b = llm_option(*(lambda j: (j.model, j.serving))(_job(shared_prefix_tokens=2048)), H100, 1,
                   ServeTarget(0.05, None, None))
    assert b.ttft_batch1_ms < 0.5 * a.ttft_batch1_ms
    assert b.batch_memory_limit > 3 * a.batch_memory_limit
    assert b.batch > a.batch  # the prefill share of every iteration shrinks too
    assert a.kv_mib_per_sequence_per_gpu is None and a.prefix_cached_tokens is None


def test_default_zero_is_unchanged():
    """shared_prefix_tokens: 0 (the default) gives the same numbers bit for bit as a job without it."""
    m = _job().model
    a = llm_option(m, _job().serving, H100, 2, ServeTarget(0.05, None, None))
    b = llm_option(m, _job(shared_prefix_tokens=0).serving, H100, 2, ServeTarget(0.05, None, None))
    assert a == b
    free = kv_free_bytes(m, _job().serving, H100, 2)
    assert a.kv_capacity_tokens == math.floor(free / (131072 / 2))  # the old expression, exactly (whole tokens)
    assert a.batch_memory_limit == min(int(free // (131072 / 2 * 2816)), 4096)
    assert replica_spec(m, _job().serving, H100, 1).shared_prefix == 0


# ---------------------------------------------------------------------------------------------
# the simulation's blocks
# ---------------------------------------------------------------------------------------------


def _spec(num_blocks=1000, prefix=64, blocks=BlockCost()):
    return ReplicaSpec(IterationModel.constant(0.01), num_blocks=num_blocks, shared_prefix=prefix, blocks=blocks)


def test_blocks_in_use_are_the_prefix_once_plus_each_sequence_own():
    """One request first (its prefill computes the 64-token prefix: 4 blocks of 16, which become the
    engine's), then 8 at once: each prompt of 90 tokens starts after the prefix and its 26 new tokens
    and 5 outputs stay in 2 blocks of its own. With 8 running: 4 + 8 x 2 = 20 blocks in use (the old
    rule, every sequence its whole 6 blocks: 48)."""
    n = 9
    wl = Workload(np.array([0.0] + [1.0] * 8), np.full(n, 90, dtype=np.int64), np.full(n, 5, dtype=np.int64))
    res = simulate_serving(ServingSimConfig(_spec(), EngineConfig(max_num_seqs=8, max_num_batched_tokens=1024),
                                            sample_s=0.001), wl)
    assert res.unfinished == 0
    tl = res.timeline
    used = np.rint(tl["kv_used"] * 1000).astype(int)
    full = tl["running"] == 8
    assert full.any()
    assert set(used[full].tolist()) == {4 + 8 * 2}
    # between the first request's finish and the others' arrival: only the prefix blocks, kept cached
    gap = (tl["t"] > 0.2) & (tl["t"] < 0.99)
    assert gap.any() and set(used[gap].tolist()) == {4}
    # the first request prefilled all 90 tokens, the others 26 each: less time to first token
    without = simulate_serving(ServingSimConfig(_spec(prefix=0), EngineConfig(max_num_seqs=8, max_num_batched_tokens=1024),
                                                sample_s=0.001), wl)
    assert set(np.rint(without.timeline["kv_used"][without.timeline["running"] == 8] * 1000).astype(int).tolist()) == {48}


def test_prefill_after_a_hit_computes_the_new_tokens_only():
    """With a real iteration model a cache hit shortens the prefill: TTFT of the requests after the
    first falls (Llama-3-8B on one H100, 2,560-token prompts, 2,048 shared)."""
    job = _job(shared_prefix_tokens=2048)
    spec = replica_spec(job.model, job.serving, H100, 1)
    spec0 = replica_spec(job.model, _job().serving, H100, 1)
    assert spec.shared_prefix == 2048 and spec0.shared_prefix == 0 and spec.num_blocks == spec0.num_blocks
    wl = Workload(np.arange(6) * 10.0, np.full(6, 2560, dtype=np.int64), np.full(6, 8, dtype=np.int64))
    cfg = EngineConfig(max_num_seqs=8, max_num_batched_tokens=8192)
    a = simulate_serving(ServingSimConfig(spec0, cfg), wl)
    b = simulate_serving(ServingSimConfig(spec, cfg), wl)
    assert b.ttft.p50 < 0.5 * a.ttft.p50
    assert b.ttft.p99 == pytest.approx(a.ttft.p99)  # the first request computed the whole prompt


@pytest.mark.parametrize("engine,blocks,cost", [
    (dict(max_num_seqs=64), None, BlockCost()),
    (dict(max_num_seqs=64, policy="prefill_first", max_num_batched_tokens=4096), None, BlockCost()),
    (dict(max_num_seqs=64), None, BlockCost(1, 3, 256)),  # local layers: the global unit shared
    (dict(max_num_seqs=64), 400, BlockCost()),  # KV-bound: preemptions (recompute, prefix cache hits)
    (dict(max_num_seqs=64, preemption="swap"), 400, BlockCost()),
    (dict(max_num_seqs=64), 500, BlockCost(1, 3, 256)),
])
def test_every_block_comes_back_and_spans_agree(engine, blocks, cost):
    """Under load (preemptions where the pool is small) every request finishes, the fast-forwarded
    spans give the step-by-step answer, and at the end only the prefix blocks are in use.

    The prompts are odd: a sequence that enters decode at a block boundary (its stored tokens a
    multiple of 16) in a step that also decodes others gives back one block more than it took — an
    off-by-one of the engine's decode aggregates (``_enter_decode``: the entry step counted as its
    first decode step) that predates the prefix cache and shows without it too. A preemption can still
    put a sequence there (prompt + generated tokens; swap has its own slack), so the runs with
    preemptions only check that the prefix blocks are never given back."""
    spec = ReplicaSpec(IterationModel.constant(0.01), num_blocks=blocks or 100_000, shared_prefix=512, blocks=cost)
    wl = make_workload(ArrivalSpec("poisson", 20, 30), LengthDist("lognormal", 300, 0.6, max=1000),
                       LengthDist("lognormal", 100, 0.6, max=400), seed=3)
    # the prompts start with the 512-token prefix; one more request long after the rest, so the
    # monitor samples the pool while nothing runs
    late = wl.span_s + 200.0
    wl = Workload(np.append(wl.arrival_s, late), np.append((wl.prompt | 1) + 512, 601), np.append(wl.output, 10))
    runs = [simulate_serving(ServingSimConfig(spec, EngineConfig(**{"max_num_batched_tokens": 2048, **engine,
                                                                     "fast_forward": ff}),
                                              drain_s=600, sample_s=0.5), wl) for ff in (True, False)]
    for r in runs:
        assert r.unfinished == 0
        tl = r.timeline
        idle = (tl["t"] > late - 50) & (tl["t"] < late)
        assert idle.any() and np.all(tl["running"][idle] == 0)
        held = np.rint(tl["kv_used"][idle] * (blocks or 100_000)).astype(int)
        prefix = cost.global_units * 512 // 16  # the prefix blocks only
        assert len(set(held.tolist())) == 1
        if not blocks:
            assert r.preemptions == 0 and held[0] == prefix
        else:
            assert 0 < held[0] <= prefix, (held[0], r.preemptions)
    a, b = (r.summary() for r in runs)
    for k in ("ttft_ms", "tpot_ms", "preemptions", "iterations", "kv_used_max"):
        assert a[k] == pytest.approx(b[k], rel=1e-9), k
    if blocks:  # KV-bound (the local layers' decode grows by a global block per 16 tokens: admission-bound)
        assert runs[0].kv_used_max > 0.8
        assert runs[0].preemptions > 0 or cost.local_units


# ---------------------------------------------------------------------------------------------
# the serve command
# ---------------------------------------------------------------------------------------------


def _write(tmp_path, **serving):
    p = tmp_path / "job.yaml"
    s = {"p99_latency_ms": 50, "prompt_tokens": 2560, "output_tokens": 256, "max_batch": 4096, **serving}
    p.write_text("model: {preset: llama3-8b}\ncluster: {instance: aws:p5.48xlarge}\nserving: " + json.dumps(s) + "\n")
    return p


@pytest.mark.parametrize("prefix", [2560, 3000])
def test_prefix_not_shorter_than_the_prompt_is_refused(tmp_path, prefix):
    from typer.testing import CliRunner
    r = CliRunner().invoke(app, ["serve", str(_write(tmp_path, shared_prefix_tokens=prefix)), "--no-simulate"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: serving.shared_prefix_tokens: "), r.output
    assert "Traceback" not in r.output


def test_serve_states_the_prefix_and_its_numbers(tmp_path):
    from typer.testing import CliRunner
    runner = CliRunner()
    out = answered(invoke_app("serve", _write(tmp_path, shared_prefix_tokens=2048), "--json", "--no-simulate"))
    line = [a for a in out["assumptions"] if a.startswith("prefix caching:")]
    assert len(line) == 1
    assert ("2,048 of 2,560 prompt tokens shared by every request (vLLM automatic prefix caching): prefilled once, "
            "its 128 KV 16-token blocks held once per replica; decode still reads them per sequence") in line[0]
    assert out["targets"]["shared_prefix_tokens"] == 2048
    tp1 = next(o for o in out["options"] if o["tp"] == 1)
    assert tp1["prefix_cached_tokens"] == 2048 and tp1["kv_mib_shared_prefix_per_gpu"] == 256
    term = runner.invoke(app, ["serve", str(_write(tmp_path, shared_prefix_tokens=2048)), "--no-simulate"],
                         env={"COLUMNS": "400"})
    assert term.exit_code == 0 and "prefix caching: 2,048 of 2,560 prompt tokens" in term.output
    # without the field: no line, no new JSON keys
    js0 = answered(invoke_app("serve", _write(tmp_path), "--json", "--no-simulate"))
    assert not any(a.startswith("prefix caching") for a in js0["assumptions"])
    assert "shared_prefix_tokens" not in js0["targets"]
    assert all("prefix_cached_tokens" not in o for o in js0["options"])
    # a prefix shorter than one block: said, nothing reused
    js1 = answered(invoke_app("serve", _write(tmp_path, shared_prefix_tokens=10), "--json", "--no-simulate"))
    assert any("less than one 16-token block" in a for a in js1["assumptions"])


def test_plan_with_a_shared_prefix_simulates():
    """End to end: the simulated plan with a 2,048-token system prompt needs no more replicas than without.

    Only the cheapest analytic option of each is simulated (``candidates=1``, as tests/test_serve43.py's plan): the
    default four gave the same best, p5.48xlarge TP8 x 1 (8 GPUs), p50 TTFT 31.9 / 7.6 ms, at 3.5x the CPU time
    (9.0 / 10.0 s a plan against 2.6 / 2.7 s; suite44b), and what is checked is one plan's simulation beside the
    other's, not the choice among options."""
    base = {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 20, "max_batch": 512, "prompt_tokens": 2560,
            "output_tokens": 256}
    jobs = [load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
                           "serving": {**base, **extra}}) for extra in ({}, {"shared_prefix_tokens": 2048})]
    plans = [plan_serving(job, sim=replace(settings_for(job), candidates=1)) for job in jobs]
    a, b = (p.best for p in plans)
    assert a.simulated and b.simulated and b.meets_latency
    assert b.simulated["ttft_ms"]["p50"] < a.simulated["ttft_ms"]["p50"]
    assert b.gpus <= a.gpus
    assert math.isfinite(b.simulated["tpot_ms"]["p99"])


@pytest.mark.parametrize("disaggregate", [None, (1, 1)])
def test_short_prompts_share_their_whole_blocks_and_decode_replicas_hold_their_own(disaggregate):
    """A trace's prompts may be shorter than the prefix (half are here): each shares the prefix's whole
    blocks before its last token. Disaggregated, the prefill replica holds the prefix blocks once and the
    decode replica keeps every sequence's whole prompt. Idle, only the prefill side's 32 blocks are held."""
    wl = make_workload(ArrivalSpec("poisson", 20, 30), LengthDist("lognormal", 600, 0.8, max=2000),
                       LengthDist("lognormal", 100, 0.6, max=400), seed=5)
    late = wl.span_s + 200
    wl = Workload(np.append(wl.arrival_s, late), np.append(wl.prompt | 1, 601), np.append(wl.output, 10))
    assert 0.3 < np.mean(wl.prompt < 513) < 0.7
    spec = ReplicaSpec(IterationModel.constant(0.01), num_blocks=100_000, shared_prefix=512)
    r = simulate_serving(ServingSimConfig(spec, EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048),
                                          drain_s=600, sample_s=0.5, disaggregate=disaggregate), wl)
    assert r.unfinished == 0
    tl = r.timeline
    idle = (tl["t"] > late - 50) & (tl["t"] < late)
    engines = 2 if disaggregate else 1
    assert set(np.rint(tl["kv_used"][idle] * 100_000 * engines).astype(int).tolist()) == {32}
