"""Prefill-decode disaggregation in ``planner serve`` (pd51): the ``serving.disaggregation`` field, the screen's
split (``serving_screen.disagg_size``), its KV transfer by hand, and the simulation of the split agreeing with the
screen on a long-prompt / short-output job within the 25% the colocated TTFT tests hold (test_serving_ttft.py)."""
from dataclasses import replace

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.errors import InputError
from planner.simulate.serving import ArrivalSpec, LengthDist, make_workload, simulate_serving
from planner.spec import load_job_dict
from planner.workloads.serving import _options, _sim_config, plan_serving
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import kv_bytes_per_token, served_model, split_nodes
from planner.workloads.serving_screen import ServeTarget, disagg_size, kv_link
from planner.workloads.serving_settings import settings_for, sim_workload


def _job(disaggregation="auto", parallel=None, **serving):
    sv = {"qps": 4, "p99_latency_ms": 40, "ttft_ms": 1500, "prompt_tokens": 8000, "output_tokens": 64,
          "length_cv": 0, "disaggregation": disaggregation, **serving}
    return load_job_dict({"model": {"preset": "llama3-8b"}, "serving": sv, "cluster": {"instance": "p5.48xlarge"},
                          **({"parallel": parallel} if parallel else {})})


def _option(job, tp):
    m, s = served_model(job.model), job.serving
    hw = _options(job, load_catalog(), None)[0]
    return m, s, hw, option_iteration(m, s, hw, tp)


@pytest.mark.parametrize("value, split", [("off", None), ("AUTO", None), ({"prefill": 2, "decode": 3}, (2, 3))])
def test_the_field_takes_off_auto_and_a_split(value, split):
    d = _job(value).serving.disaggregation
    assert d.split == split and d.off == (value == "off") and d.auto == (value == "AUTO")


@pytest.mark.parametrize("value, serving, words", [
    ({"prefill": 0, "decode": 2}, {}, "serving.disaggregation.prefill: must be more than 0"),
    ({"prefill": 1.5, "decode": 2}, {}, "serving.disaggregation.prefill: must be a whole number"),
    ({"prefill": 1}, {}, "serving.disaggregation: a split names both its prefill and its decode"),
    ("sometimes", {}, "serving.disaggregation: one of off, auto or {prefill: P, decode: D}"),
    ("auto", {"qps": None}, "serving.disaggregation: the prefill and decode replicas are sized from the request rate"),
    ("auto", {"mode": "batch", "requests": 1000, "p99_latency_ms": None, "ttft_ms": None, "qps": None},
     "serving.disaggregation: an offline job has no TTFT or TPOT target"),
])
def test_the_field_refuses_in_one_line(value, serving, words):
    with pytest.raises(InputError) as e:
        _job(value, **serving)
    assert str(e.value).startswith(words) and "\n" not in str(e.value)


def test_a_generic_model_is_refused():
    job = load_job_dict({"model": {"preset": "resnet50"},
                         "serving": {"qps": 10, "p99_latency_ms": 50, "disaggregation": "auto"},
                         "cluster": {"instance": "p5.48xlarge"}})
    with pytest.raises(InputError, match="^serving.disaggregation: splits an LLM's prefill and decode"):
        plan_serving(job, simulate=False)


def test_kv_transfer_is_the_prompt_kv_over_the_link_by_hand():
    """8,000 prompt tokens x 128 KiB a token (Llama-3-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes) over TP
    ranks, each GPU its shard over its own link: NVLink where P + D replicas fit one 8-GPU node, else the NIC share
    (p5.48xlarge: 3,200 Gb/s over 8 GPUs at the catalog's efficiency)."""
    job = _job()
    for tp, split, link in ((1, (2, 1), "NVLink"), (4, (2, 1), "NIC")):
        m, s, hw, im = _option(job, tp)
        size = disagg_size(m, s, hw, tp, ServeTarget(0.04, 1.5, 4.0), im, 200, split)
        nbytes = 8000 * kv_bytes_per_token(m, "bf16") / tp
        rate = hw.intra_bw_eff if link == "NVLink" else hw.inter_node_bw * hw.eff.inter_bw / hw.gpus_per_node
        assert kv_bytes_per_token(m, "bf16") == 32 * 8 * 128 * 2 * 2
        assert size.link == link and kv_link(hw, split_nodes(2, tp, 1, tp, hw.gpus_per_node)) == (link, pytest.approx(rate))
        assert size.kv_bytes == pytest.approx(nbytes) and size.kv_transfer_s == pytest.approx(nbytes / rate)


def test_simulated_first_token_waits_for_the_kv_transfer():
    """One request alone on a 1 + 1 split: TTFT = its prefill + its KV over the link (the client's first token comes
    from the decode replica); until pd51 the simulation stamped it at the prefill's end."""
    job = _job()
    m, s, hw, im = _option(job, 1)
    target = ServeTarget(0.04, 1.5, 4.0)
    size = disagg_size(m, s, hw, 1, target, im, 200, (1, 1))
    wl = make_workload(ArrivalSpec("burst", count=1), LengthDist("fixed", 8000, 0.0), LengthDist("fixed", 64, 0.0))
    cfg = _sim_config(m, s, hw, 1, 64, 8192, 1, target, settings_for(job), 0.0, im)
    slow = 1e9  # a slow link, so the transfer is most of the TTFT
    res = simulate_serving(replace(cfg, disaggregate=(1, 1), kv_link_bw=slow), wl, monitor=False)
    assert res.ttft.p50 == pytest.approx(size.prefill_s + size.kv_bytes / slow, rel=1e-6)


@pytest.mark.parametrize("tp", [1, 2])
def test_screen_split_agrees_with_its_simulation(tp):
    """Llama-3-8B, 8,000-token prompts and 64-token outputs at 4 QPS on p5.48xlarge: the screen's P:D (auto) and the
    p99 TTFT / TPOT it states, against the simulation of that split over 600 s (2,429 requests): within 25% (TP1:
    screen 1,287 / 12.0 ms, simulated 1,244 / 11.1; TP2: 1,479 / 6.5 against 1,257 / 6.1)."""
    job = _job()
    m, s, hw, im = _option(job, tp)
    target = ServeTarget(0.04, 1.5, 4.0)
    size = disagg_size(m, s, hw, tp, target, im, 200)
    assert size.ttft_s <= 1.5 and size.tpot_s <= 0.04 and size.prefill >= 1 and size.decode >= 1
    # fewer prefill replicas would not hold the TTFT target: the screen's P is the fewest
    assert size.prefill == 1 or disagg_size(m, s, hw, tp, target, im, 200,
                                            (size.prefill - 1, size.decode)).ttft_s > 1.5
    sim = settings_for(job)
    wl = sim_workload(s, 4.0, 600, 10_000, sim, 1, m)
    cfg = _sim_config(m, s, hw, tp, size.decode_batch, 8000, 1, target, sim, 5.0, im)
    res = simulate_serving(replace(cfg, disaggregate=(size.prefill, size.decode), kv_link_bw=size.link_bytes_per_s),
                           wl, monitor=False)
    assert size.ttft_s == pytest.approx(res.ttft.p99, rel=0.25)
    assert size.tpot_s == pytest.approx(res.tpot.p99, rel=0.25)


def test_plan_states_the_split_beside_the_colocated_fleet():
    """The analytic plan (no simulation) carries the split, its link and its $/h beside the colocated best's, and
    says them in its assumed lines; a fixed split runs on the recommended option as given."""
    plan = plan_serving(_job({"prefill": 2, "decode": 1}, parallel={"tp": 2}), simulate=False)
    d = plan.disaggregation
    assert (d["prefill"], d["decode"], d["tp"]) == (2, 1, plan.best.tp) and d["simulated"] is None
    assert d["colocated_usd_per_hr"] == plan.best.usd_per_hr and d["cheaper"]
    lines = [a for a in plan.assumptions if a.startswith("serving.disaggregation")]
    assert len(lines) == 3 and f"over {d['link']}" in lines[2] and "2 prefill + 1 decode" in lines[0]
    assert plan_serving(_job("off", parallel={"tp": 2}), simulate=False).disaggregation is None
