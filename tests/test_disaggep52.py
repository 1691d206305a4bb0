"""disaggep52: prefill-decode splits on expert-parallel (DP-attention) serving options, refused until then: the
screen's prefill queues are the DP engines' own (``serving_screen.disagg_size``), a request's KV is whole on its DP
rank (MLA's latent for DeepSeek) and leaves over that rank's own link, in the simulation too
(planner/simulate/serving.py ``hand_over``). Each test < 3 s."""
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
from planner.workloads.serving_screen import ServeTarget, disagg_size, engine_seats, prefill_batch
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


def test_an_all_expert_parallel_job_gets_a_split_stated_with_its_layout():
    """DeepSeek-V3 with ``serving.expert_parallel: true`` on p5.48xlarge: every option is EP16 or EP32 (the model does
    not fit one node); until disaggep52 ``serving.disaggregation`` was refused ("every option is an expert-parallel
    replica, whose split is not modelled"). Now the split runs on the cheapest option's layout, stated as EP, its
    prefill steps per DP engine and its KV per rank; simulated over 20 s of arrivals."""
    job = _job("deepseek-v3", 4, 2000, 500, 2000, 100, "p5.48xlarge", precision="fp8", kv_precision="fp8")
    plan = serving_plan.plan_serving(job, simulate=False)
    assert all((o.ep or 1) > 1 for o in plan.options)
    m, hw = served_model(job.model), _options(job, load_catalog(), None)[0]
    where = [(hw, job.serving, option_iteration(m, job.serving, hw, o.tp)) for o in plan.options]
    j = _disagg_option(job.serving, plan.options, where, ServeTarget(0.1, 2.0, 4.0), m)
    row = plan.options[j]
    hw_, s, im = where[j]
    sim = replace(settings_for(job), confirm_s=20, confirm_requests=100)
    d = _disaggregation(row, plan.best, m, s, hw_, ServeTarget(0.1, 2.0, 4.0), im, sim, True,
                        serving_plan.SimBudget())
    assert d["layout"] == f"EP{row.ep}" and d["ep"] == row.ep == row.tp
    assert d["simulated"] is not None and d["gpus"] == (d["prefill"] + d["decode"]) * row.tp
    lines = disagg_words(d, row.hardware)
    assert f"decode EP{row.ep} replicas" in lines[0]
    assert f"on each of a replica's {row.ep} DP engines" in lines[1] and "its DP rank holds it whole" in lines[2]
