"""disaggep52: prefill-decode splits on expert-parallel (DP-attention) serving options, refused until then: the
screen's prefill queues are the DP engines' own (``serving_screen.disagg_size``), a request's KV is whole on its DP
rank (MLA's latent for DeepSeek) and leaves over that rank's own link, in the simulation too
(planner/simulate/serving.py ``hand_over``). Each test < 3 s."""
import functools
import math
from dataclasses import replace

import pytest

from hardware_catalog import load_catalog
from test_serveep49b import GPU, KV
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      make_workload, simulate_serving)
from planner.spec import load_job_dict
from planner.workloads import serving as serving_plan
from planner.workloads.serving import _disagg_option, _disaggregation, _options, disagg_words
from planner.workloads.serving_iteration import IterationModel, option_iteration
from planner.workloads.serving_memory import kv_bytes_per_token, served_model
from planner.workloads.serving_screen import ServeTarget, disagg_size, engine_seats, llm_option, prefill_batch
from planner.workloads.serving_settings import settings_for

EP = 4


def test_each_dp_rank_sends_its_own_requests_kv_over_its_own_link():
    """Four 2,000-token prompts at once on an EP4 prefill replica (one GPU's coefficients, KV 100 kB a token, whole on
    its rank): each DP engine prefills its own in one step, then each rank sends its prompt's KV whole (0.2 GB, 0.2 s
    at 1 GB/s) over its own GPU's link, all four at once, so every first token comes at the step + 0.2 s. Until
    disaggep52 one link a replica carried a quarter of it (``kv_bytes``, the rank's mean share) four times in a row:
    first tokens 0.05 s apart, the mean 0.075 s before the last."""
    im = IterationModel(**GPU, kv_bytes=KV / EP, tp=EP, ep=EP, tile_rows=128)
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=100_000),
                           engine=EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048),
                           disaggregate=(1, 1), kv_link_bw=1e9)
    wl = make_workload(ArrivalSpec("burst", count=EP), LengthDist("fixed", 2000), LengthDist("fixed", 8), seed=0)
    res = simulate_serving(cfg, wl)
    assert res.completed == EP
    step = float(im.time(**im.prompt_prefill(0.0, 2000.0, EP)))  # each engine's prompt, together
    assert res.ttft.p99 == pytest.approx(step + 2000 * KV / 1e9, rel=1e-6)
    assert res.ttft.mean == pytest.approx(res.ttft.p99, rel=1e-9)


def _job(model, qps, prompt, output, ttft_ms, tpot_ms, instance, **extra):
    sv = {"qps": qps, "p99_latency_ms": tpot_ms, "ttft_ms": ttft_ms, "prompt_tokens": prompt, "output_tokens": output,
          "length_cv": 0, "disaggregation": "auto", "expert_parallel": True, **extra}
    return load_job_dict({"model": {"preset": model}, "serving": sv, "cluster": {"instance": instance}})


def _ep_option(job, gpus):
    """(model, serving spec of the EP option, hw, its iteration model, its ServingOption row) of ``gpus`` EP GPUs."""
    m = served_model(job.model)
    hw = _options(job, load_catalog(), None)[0]
    s = job.serving  # (``expert_parallel: true``: the option's own spec, as the search makes it)
    im = option_iteration(m, s, hw, gpus)
    assert im.ep == gpus
    return m, s, hw, im


def test_the_screen_queues_prompts_at_the_dp_engines_and_moves_a_ranks_whole_kv():
    """DeepSeek-V3 (fp8, MLA: 61 x (512 + 64) latent values a token, fp8 KV) as EP16 over two p5.48xlarge nodes,
    4 QPS of 2,000 + 500 tokens, TTFT 2 s, TPOT 100 ms: a prompt's KV is its DP rank's whole latent cache, 2,000 x
    35,136 B = 67 MiB (the mean-rank share, 1/16 of it, until disaggep52), each DP engine a prefill queue of its own
    with ceil(64 / 16) = 4 seats; one replica holds the 4 QPS, and the split's two EP16 replicas span 4 nodes, so the
    KV crosses the NIC."""
    job = _job("deepseek-v3", 4, 2000, 500, 2000, 100, "p5.48xlarge", precision="fp8", kv_precision="fp8")
    m, s, hw, im = _ep_option(job, 16)
    size = disagg_size(m, s, hw, 16, ServeTarget(0.1, 2.0, 4.0), im, 64, budget=2048)
    whole = kv_bytes_per_token(m, "fp8")
    assert whole == 61 * (512 + 64) and size.kv_bytes == pytest.approx(2000 * whole)
    assert size.prefill_batch == prefill_batch(s, 2048, engine_seats(64, 16)) == 1
    assert (size.prefill, size.link) == (1, "NIC") and size.decode >= 1 and size.ttft_s <= 2.0
    assert size.kv_transfer_s == pytest.approx(2000 * whole / hw.inter_bw_per_gpu)


def test_more_dp_engines_take_more_prompts_a_step():
    """The prefill capacity counts the DP engines: at 40 QPS one prompt on each of the EP16 replica's 16 engines is a
    0.5 s step (the whole replica's work: the ranks step together), so one replica (16 queues) is unstable at 40 x
    0.5 = 20 Erlangs and two (32) hold it. Until disaggep52 a split took one replica-wide queue of
    ``prefill_batch`` prompts a step (refused on EP before that)."""
    job = _job("deepseek-v3", 40, 2000, 500, 2000, 100, "p5.48xlarge", precision="fp8", kv_precision="fp8")
    m, s, hw, im = _ep_option(job, 16)
    target = ServeTarget(0.1, 2.0, 40.0)
    size = disagg_size(m, s, hw, 16, target, im, 64, budget=2048)
    step = float(im.time(**im.prompt_prefill(0.0, 2000.0, 16)))  # one prompt on each of the 16 engines
    assert 16 < 40 * step < 32 and size.prefill == 2 and size.prefill_step_s == pytest.approx(step)
    assert disagg_size(m, s, hw, 16, target, im, 64, (1, size.decode), budget=2048).ttft_s == math.inf


@functools.lru_cache(maxsize=1)
def _deepseek():
    """DeepSeek-V3 fp8 (fp8 KV) on p5.48xlarge at 4 QPS of 2,000 + 500 tokens, TTFT 2 s, TPOT 100 ms,
    ``max_batch`` 512: the job, the model, the hardware and its two expert-parallel options (EP16, EP32: the model
    does not fit one node) as (row, iteration model) by GPUs, as the plan builds them (``llm_option``)."""
    job = _job("deepseek-v3", 4, 2000, 500, 2000, 100, "p5.48xlarge", precision="fp8", kv_precision="fp8",
               max_batch=512)
    m, hw = served_model(job.model), _options(job, load_catalog(), None)[0]
    rows = {}
    for g in (16, 32):
        im = option_iteration(m, job.serving, hw, g)
        rows[g] = (llm_option(m, job.serving, hw, g, TARGET, im), im)
    return job, m, hw, rows


TARGET = ServeTarget(0.1, 2.0, 4.0)


def test_an_all_expert_parallel_job_gets_a_split_stated_with_its_layout():
    """Every option expert-parallel (EP16, EP32): until disaggep52 ``serving.disaggregation`` was refused ("every
    option is an expert-parallel replica, whose split is not modelled"). Now ``auto`` picks the cheapest pair (EP16
    both sides: one EP16 replica decodes the 4 QPS, an EP32 one would rent twice the nodes) and states it as EP, its
    prefill steps per DP engine and its KV per rank; simulated over 20 s of arrivals."""
    job, m, hw, rows = _deepseek()
    options = [rows[16][0], rows[32][0]]
    where = [(hw, job.serving, rows[g][1]) for g in (16, 32)]
    assert _disagg_option(job.serving, options, where, TARGET, m) == (0, 0)
    sim = replace(settings_for(job), confirm_s=20, confirm_requests=100)
    d = _disaggregation(options[0], options[0], m, job.serving, hw, TARGET, rows[16][1], sim, True,
                        serving_plan.SimBudget())
    assert (d["layout"], d["decode_layout"], d["ep"]) == ("EP16", "EP16", 16)
    assert d["simulated"] is not None and d["gpus"] == (d["prefill"] + d["decode"]) * 16
    lines = disagg_words(d, hw.name)
    assert f"{d['prefill']} prefill + {d['decode']} decode EP16 replicas" in lines[0]
    assert "on each of a replica's 16 DP engines" in lines[1] and "its DP rank holds it whole" in lines[2]


def test_the_decode_replicas_run_their_own_layout_in_simulation():
    """A split whose decode replica is EP2 behind an EP4 prefill replica (``decode_replica``): each request, prefilled
    on one of four DP engines, is routed afresh to one of the decode replica's two, whose KV pools are its own
    (half its blocks each). Eight requests all finish, the decode engines' seats (``decode_engine``: 2 a DP engine)
    let at most 4 decode at once, so the last finish two rounds of 8 decode steps after the first."""
    pre = IterationModel(**GPU, kv_bytes=KV / EP, tp=EP, ep=EP, tile_rows=128)
    dec = IterationModel(**GPU, kv_bytes=KV / 2, tp=2, ep=2, tile_rows=128)
    cfg = ServingSimConfig(replica=ReplicaSpec(pre, num_blocks=100_000),
                           engine=EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048),
                           disaggregate=(1, 1), kv_link_bw=1e12,
                           decode_replica=ReplicaSpec(dec, num_blocks=2_000),
                           decode_engine=EngineConfig(max_num_seqs=2, max_num_batched_tokens=2048))
    wl = make_workload(ArrivalSpec("burst", count=8), LengthDist("fixed", 2000), LengthDist("fixed", 8), seed=0)
    res = simulate_serving(cfg, wl)
    assert res.completed == 8
    one = float(dec.time(decode_seqs=4, decode_ctx=4 * 2004))  # four decoding on the EP2 replica (2 an engine)
    assert res.e2e.p99 - res.e2e.p50 >= 7 * one * 0.9  # the second four waited for the first four's seats


def test_a_split_states_each_sides_layout():
    """Prefill on the EP16 option, decode on the EP32 one (``dec``, as ``_disagg_option`` pairs two EP options): the
    split says "1 prefill EP16 + 1 decode EP32 replicas", 48 GPUs on 2 + 4 nodes at the node rate, and the decode
    side is sized with the EP32 replica's steps (screen only here: the simulation's side is the test above)."""
    job, m, hw, rows = _deepseek()
    (p16, im16), (p32, im32) = rows[16], rows[32]
    d = _disaggregation(p16, p16, m, job.serving, hw, TARGET, im16, settings_for(job), False,
                        serving_plan.SimBudget(), (p32, job.serving, im32))
    assert (d["layout"], d["decode_layout"]) == ("EP16", "EP32")
    assert d["gpus"] == d["prefill"] * 16 + d["decode"] * 32
    assert d["usd_per_hr"] == pytest.approx((2 * d["prefill"] + 4 * d["decode"]) * p16.price_usd_hr)
    assert f"{d['prefill']} prefill EP16 + {d['decode']} decode EP32 replicas" in disagg_words(d, hw.name)[0]
    ctx = 2000 + 250
    assert d["decode_step_ms"] == pytest.approx(1e3 * float(im32.time(decode_seqs=d["decode_batch"],
                                                                      decode_ctx=d["decode_batch"] * ctx)))
