"""The serving, tabular and campaign answers are frozen typed results (planner/results.py) whose
JSON is the one scripts already read: the same keys, in the same order, with the same value types,
for every state an option can end in. The key lists below are that contract (taken from the
dict-based planner's output); the numbers are not pinned here — tests/test_serving.py,
test_tabular.py and test_campaign.py check them."""
from __future__ import annotations

import dataclasses
import json
import numbers
import typing

import pytest

from planner.results import (CampaignCurve, CampaignPlan, CampaignScenario, LatencyPoint, Record, ServingOption,
                             ServingPlan, ServingSimulation, ServingTargets, TabularOption, TabularPlan)
from planner.spec import load_job_dict
from planner.workloads.serving import plan_serving
from planner.workloads.serving_settings import SimSettings
from conftest import EXAMPLES, answered

SERVING_PLAN = ["model", "params", "mode", "precision", "precisions", "kv_precision", "weights_gib",
                "kv_bytes_per_token", "targets", "best", "options", "rejected", "simulated", "simulation",
                "definitions", "assumptions", "why", "ranking", "kv_bytes_per_sequence", "accuracy", "caveats",
                "budget", "offline_budget", "compute_rate", "engine", "engine_version"]
_HEAD = ["hardware", "gpu", "tp", "gpus_per_node", "weights_gib_per_gpu"]
_LLM_HEAD = _HEAD + ["kv_mib_per_token_per_gpu", "kv_capacity_tokens", "batch_memory_limit", "price_usd_hr",
                     "price_spot_usd_hr", "fits"]
_LLM_SIZED = ["tpot_batch1_ms", "ttft_batch1_ms", "compute_dtype", "reachable_tflops", "meets_latency", "batch", "tpot_ms", "ttft_ms",
              "bound", "tokens_per_s_per_replica", "requests_per_s_per_replica", "token_budget", "batch_offline",
              "requests_per_s_offline", "tokens_per_s_offline", "token_budget_offline"]
_FOR_QPS = ["replicas", "nodes", "gpus", "usd_per_hr", "utilisation", "usd_per_million_requests"]
#: an LLM option sized for a QPS: the requests in flight its TPOT is stated at (``screen_concurrency``), before it
_LLM_AT_QPS = [k for k in _LLM_SIZED if k != "tpot_ms"]
_LLM_AT_QPS.insert(_LLM_AT_QPS.index("batch") + 1, "concurrency")
#: how its token budget was chosen (serve45: "fewest replicas" by the screen, "simulated" by the simulation)
_LLM_AT_QPS.insert(_LLM_AT_QPS.index("token_budget") + 1, "token_budget_by")
_LLM_AT_QPS.insert(_LLM_AT_QPS.index("concurrency") + 1, "tpot_ms")
_PRICED = ["usd_per_million_requests_full", "usd_per_million_requests_offline", "offline_price"]
#: every layout of a serving option's JSON, by the state the option ended in
OPTION_LAYOUTS = {
    # a rejected option ends with the date of the rate it would be costed at too (price_dates; prices39)
    "llm does not fit": _LLM_HEAD + ["reason", "precision", "price_dates", "price_basis"],
    "llm misses the latency target": _LLM_HEAD + ["tpot_batch1_ms", "ttft_batch1_ms", "compute_dtype",
                                                   "reachable_tflops", "meets_latency", "reason", "precision", "price_dates", "price_basis"],
    # what set its replicas (serving_budget.fleet_bound, budget35) after how it was sized
    # an option that meets the targets ends with the date of the rate it is costed at (price_dates; QA 55b) and what
    # that rate is (price_basis: on-demand, or the job's cluster.price_usd_hr; QA 61)
    "llm sized for the QPS": _LLM_HEAD + _LLM_AT_QPS + _FOR_QPS + _PRICED + ["precision", "sized_by", "bound_by",
                                                                          "price_dates", "price_basis"],
    "llm simulated for the QPS": _LLM_HEAD + _LLM_AT_QPS + _FOR_QPS + _PRICED + ["precision", "analytic_replicas",
                                                                              "simulated", "sized_by", "bound_by",
                                                                              "price_dates", "price_basis"],
    # an offline job of requests: the replicas it runs on (its nodes filled, or a deadline / GPU floor / cap's;
    # offline47: without a limit it had none, one replica) and the hours they take
    "llm offline": _LLM_HEAD + _LLM_SIZED + _PRICED + ["offline_node_hours", "offline_usd", "offline_replicas",
                                                       "offline_hours", "precision", "sized_by", "price_dates",
                                                       "price_basis"],
    "llm offline simulated": _LLM_HEAD + _LLM_SIZED + _PRICED + ["offline_node_hours", "offline_usd",
                                                                 "offline_replicas", "offline_hours", "precision",
                                                                 "simulated", "sized_by", "price_dates", "price_basis"],
    # meets the targets but breaks a job constraint (max_gpus, budget_usd): the constraint, then why
    "llm over a constraint": _LLM_HEAD + _LLM_AT_QPS + _FOR_QPS + _PRICED + ["precision", "price_dates", "price_basis",
                                                                           "constraint_broken", "reason"],
    "llm offline over a constraint": _LLM_HEAD + _LLM_SIZED + _PRICED + ["offline_node_hours", "offline_usd",
                                                                        "offline_replicas", "offline_hours", "precision",
                                                                        "price_dates", "price_basis", "constraint_broken", "reason"],
    "generic sized for the QPS": _HEAD + ["batch_memory_limit", "price_usd_hr", "price_spot_usd_hr", "compute_dtype",
                                          "reachable_tflops", "fits", "tpot_batch1_ms", "meets_latency", "batch", "tpot_ms", "ttft_ms",
                                          "bound", "requests_per_s_per_replica", "batch_offline",
                                          "requests_per_s_offline"] + _FOR_QPS + _PRICED + ["precision", "sized_by",
                                                                                            "price_dates", "price_basis"],
}
TABULAR_PLAN = ["kind", "library", "rows", "features", "trees_cap", "depth", "runs", "trees_expected",
                "trees_saved_by_early_stopping", "objective", "best", "why", "ranked", "rejected", "memory_host_gib",
                "memory_gpu_gib", "cpu_rate_source", "gpu_rate_source", "assumptions", "spot", "max_bin",
                "accuracy"]
TABULAR_OPTION = ["instance", "kind", "vcpus", "gpu", "ram_gib", "price_usd_hr", "seconds_per_run", "hours", "cost_usd",
                  "fits", "reason", "rate_source"]
CAMPAIGN = ["experiments", "weeks", "invalidation_rate", "preprocess_hours", "preprocess_usd", "fetch_hours", "fetch_usd",
            "train_hours", "train_usd", "no_cache", "cache", "chosen", "cache_wins_from_experiment", "cumulative",
            "savings_usd", "chosen_plan", "sources", "train_priced"]
SCENARIO = ["preprocess_runs", "cache_hits", "storage_usd", "cost_usd", "preprocess_usd", "train_usd",
            "iteration_gap_hours", "experiments_per_week_max", "experiments_per_week", "wall_hours_serial"]


def _types_ok(d: dict, cls) -> None:
    """Each JSON value has the type its field declares: an ``int`` field a JSON integer, a
    ``float`` one a number, ``Optional`` ones null too; a nested result is checked the same way."""
    hints = typing.get_type_hints(cls)
    for k, v in d.items():
        t = hints[k]
        args = typing.get_args(t)
        if type(None) in args:
            if v is None:
                continue
            t = next(a for a in args if a is not type(None))
        if t is int:
            assert isinstance(v, int) and not isinstance(v, bool), (k, v)
        elif t is float:
            assert isinstance(v, numbers.Real) and not isinstance(v, bool), (k, v)
        elif t in (str, bool, dict):
            assert isinstance(v, t), (k, v)
        elif isinstance(t, type) and issubclass(t, Record):
            _types_ok(v, t)
        else:  # tuple[X, ...]: a JSON list, its items checked where they are results
            assert typing.get_origin(t) is tuple and isinstance(v, list), (k, v)
            item = typing.get_args(t)[0]
            for x in v:
                if isinstance(item, type) and issubclass(item, Record):
                    _types_ok(x, item)
                else:
                    assert isinstance(x, numbers.Real if item is float else item), (k, x)


def _layout(row: dict) -> str:
    keys = list(row)
    hit = [name for name, layout in OPTION_LAYOUTS.items() if layout == keys]
    assert hit, f"an option with keys in an unknown order: {keys}"
    return hit[0]


@pytest.mark.parametrize("example, layouts", [
    ("serving-llama3-70b", {"llm does not fit", "llm sized for the QPS"}),
    ("serving-llama3-8b-chat", {"llm sized for the QPS", "llm misses the latency target"}),
    ("serving-batch-llama3-8b", {"llm offline"}),
    ("serving-resnet50", {"generic sized for the QPS"}),
])
def test_serving_json_keeps_its_keys_order_and_types(cli, example, layouts):
    d = answered(cli("serve", EXAMPLES / f"{example}.yaml", "--json", "--no-simulate"))
    assert list(d) == SERVING_PLAN
    # an offline job's size closes its targets (``ServingTargets.requests``; absent where the job has none)
    assert list(d["targets"]) == ["tpot_ms", "ttft_ms", "qps", "prompt_tokens", "output_tokens"] + (
        ["requests"] if d["mode"] == "batch" else [])
    assert d["simulated"] is False and d["simulation"] is None
    _types_ok(d, ServingPlan)  # and every option in it
    seen = {_layout(row) for row in d["options"] + d["rejected"]}
    assert layouts <= seen
    assert d["best"] == d["options"][0]


@pytest.mark.parametrize("example, constraints, layouts", [
    ("serving-llama3-8b-chat", {"max_gpus": 2, "min_gpus": 2}, {"llm sized for the QPS", "llm over a constraint"}),
    ("serving-batch-llama3-8b", {"max_gpus": 4, "deadline_hours": 48},
     {"llm offline", "llm offline over a constraint"}),
])
def test_a_constrained_serving_json_adds_its_limits_last(cli, tmp_path, example, constraints, layouts):
    """The job's limits the plan holds to close the plan (``constraints``, absent without any); an option over one
    names it (``constraint_broken``) before its ``reason``."""
    import yaml

    job = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    job["constraints"] = {**job.get("constraints", {}), **constraints}
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(job))
    d = answered(cli("serve", p, "--json", "--no-simulate"))
    assert list(d) == SERVING_PLAN + ["constraints"] and len(d["constraints"]) == len(constraints)
    _types_ok(d, ServingPlan)
    assert layouts <= {_layout(row) for row in d["options"] + d["rejected"]}


def test_simulated_options_keep_their_layout():
    """The simulation adds ``analytic_replicas`` and ``simulated`` after ``precision`` (real-time)
    or ``simulated`` alone (offline); the settings it ran with are ``simulation``."""
    fast = SimSettings(search_s=60, search_requests=3000, confirm_s=120, confirm_requests=6000, candidates=1)
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "constraints": {"instances": ["aws:p5.48xlarge"]},
                         "serving": {"p99_latency_ms": 40, "ttft_ms": 800, "qps": 20, "prompt_tokens": 512,
                                     "output_tokens": 128, "max_batch": 128}})
    d = plan_serving(job, sim=fast).to_json()
    _types_ok(d, ServingPlan)
    assert _layout(d["best"]) == "llm simulated for the QPS"
    assert list(d["simulation"]) == ["arrivals", "trace", "length_cv", "margin", "seed", "search_s", "confirm_s",
                                     "deadline_hours", "event_bound", "plan_event_bound", "plan_event_bound_from",
                                     "plan_events", "plan_runs", "plan_bound_reached", "trace_prompt_tokens",
                                     "trace_output_tokens", "trace_shared_prefix_tokens", "trace_prompt_cv",
                                     "trace_output_cv", "burst_factor", "burst_share", "burst_s", "prompt_cv",
                                     "output_cv"]
    off = load_job_dict({"model": {"preset": "llama3-8b"}, "constraints": {"instances": ["aws:p5.48xlarge"]},
                         "serving": {"mode": "batch", "requests": 1e5, "prompt_tokens": 512, "output_tokens": 128,
                                     "max_batch": 64}})
    d = plan_serving(off, sim=SimSettings(candidates=1)).to_json()
    assert _layout(d["best"]) == "llm offline simulated"
    assert d["best"]["simulated"]["requests_per_s_per_replica"] > 0


def test_tabular_and_campaign_json_keep_their_keys_and_types(cli):
    d = answered(cli("recommend", EXAMPLES / "preprocess-campaign.yaml", "--json"))
    assert list(d) == TABULAR_PLAN + ["campaign"]
    _types_ok({k: v for k, v in d.items() if k != "campaign"}, TabularPlan)
    for r in d["ranked"] + d["rejected"]:
        assert list(r) == TABULAR_OPTION
    c = d["campaign"]
    assert list(c) == CAMPAIGN
    assert list(c["no_cache"]) == list(c["cache"]) == list(c["chosen_plan"]) == SCENARIO
    assert c["chosen_plan"] == c[c["chosen"]]
    assert list(c["cumulative"]) == ["experiments", "no_cache_usd", "cache_usd"]
    assert len(c["cumulative"]["experiments"]) == len(c["cumulative"]["cache_usd"]) > 1
    assert list(c["sources"]) == ["storage", "fetch", "preprocess"]  # preprocess: QA 41
    _types_ok(c, CampaignPlan)


def test_campaign_on_a_training_estimate(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text((EXAMPLES / "llama3-8b-estimate.yaml").read_text()
                   + "campaign: {experiments_per_week: 3, weeks: 2, preprocess: {hours: 2, usd_per_hour: 5}}\n")
    d = answered(cli("estimate", job, "--json"))
    assert list(d)[-1] == "campaign" and list(d["campaign"]) == CAMPAIGN
    assert d["campaign"]["train_hours"] == pytest.approx(d["cost"]["hours"])


#: a training plan's ``cost.evaluation`` (the job's evaluation section: planner.model.evaluation.job_eval, with
#: its hours and share of the run from cost_summary), last in ``cost``, only where the job has the section
EVALUATION = ["every_steps", "samples", "passes", "mean_s", "seconds", "holdout_fraction", "full_every", "tier_seconds",
              "hours", "share"]


def test_a_training_cost_holds_its_evaluation_last_and_only_with_the_section(cli):
    cost = answered(cli("estimate", EXAMPLES / "llama3-8b-eval.yaml", "--json"))["cost"]
    assert list(cost)[-1] == "evaluation" and list(cost["evaluation"]) == EVALUATION
    ev = cost["evaluation"]
    assert all(isinstance(ev[k], int) for k in ("every_steps", "passes", "full_every"))
    assert all(isinstance(ev[k], float) for k in EVALUATION if k not in ("every_steps", "passes", "full_every"))
    assert cost["hours"] == pytest.approx(ev["hours"] / ev["share"])
    assert "evaluation" not in answered(cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml", "--json"))["cost"]


def _option(**kw) -> ServingOption:
    base = dict(hardware="aws:p5.48xlarge", gpu="H100-SXM-80GB", tp=1, gpus_per_node=8, weights_gib_per_gpu=15.0,
                kv_mib_per_token_per_gpu=0.125, kv_capacity_tokens=4e5, batch_memory_limit=256, price_usd_hr=None,
                price_spot_usd_hr=None, fits=True, precision="bf16")
    return ServingOption(**{**base, **kw})


def test_a_serving_option_reads_like_its_json():
    o = _option(tpot_batch1_ms=8.0, ttft_batch1_ms=60.0, compute_dtype="bf16", meets_latency=True, batch=64,
                tpot_ms=30.0, ttft_ms=300.0, bound="memory", tokens_per_s_per_replica=2000.0,
                requests_per_s_per_replica=10.0, batch_offline=256, requests_per_s_offline=20.0,
                tokens_per_s_offline=4000.0, replicas=2, nodes=1, gpus=2, usd_per_hr=None, utilisation=0.9,
                usd_per_million_requests=None)
    assert {**o} == o.to_json()
    # not worked out: absent, as in the JSON; worked out but None (no price): present
    assert "reason" not in o and o.get("reason", "-") == "-"
    with pytest.raises(KeyError):
        o["reason"]
    assert "usd_per_hr" in o and o["usd_per_hr"] is None and o.get("usd_per_hr", "-") is None
    assert "price_usd_hr" in o
    assert "generic" not in o.to_json() and "refined" not in o.to_json()
    # a generic model's compute dtype is known before memory is checked: it precedes ``fits``
    g = _option(generic=True, kv_mib_per_token_per_gpu=None, kv_capacity_tokens=None, compute_dtype="bf16",
                fits=False, reason="too big")
    assert list(g.to_json())[list(g.to_json()).index("fits") - 1] == "compute_dtype"
    # the simulation's rejection comes after what it simulated (None where no size passed)
    r = dataclasses.replace(o, refined=True, simulated=None, meets_latency=False, reason="simulated p99s miss")
    assert list(r.to_json())[-2:] == ["simulated", "reason"] and r.to_json()["simulated"] is None


def test_results_are_frozen():
    o = _option(fits=False, reason="too big")
    scenario = CampaignScenario(*range(10))
    tab = TabularOption("aws:c7i.large", "cpu", 2, None, 4.0, 0.1, 10.0, 0.01, 0.01, True, None, "measured")
    results = [
        o,
        ServingTargets(50.0, 1000.0, 40.0, 800, 200),
        ServingSimulation("poisson", None, 0.5, 0.1, 0, 180.0, 600.0, None),
        LatencyPoint(1.0, {"p99": 100.0}, {"p99": 20.0}, {"p99": 2000.0}, 1.0, 0, 0.5),
        ServingPlan("m", 1, "realtime", "bf16", ("bf16",), "bf16", 1.0, 1.0, ServingTargets(1.0, 1.0, 1.0, 1, 1),
                    o, (o,), (), False, None, "", (), ""),
        tab,
        TabularPlan("tabular", "xgboost", 1.0, 1, 1, 1, 1, 1.0, 0.0, "cost", tab, "", (tab,), (), 1.0, 1.0, None, None, ()),
        scenario,
        CampaignCurve((1.0,), (2.0,), (3.0,)),
        CampaignPlan(1.0, 1.0, 0.0, 1.0, 1.0, 0.1, 0.1, 1.0, 1.0, scenario, scenario, "cache", None,
                     CampaignCurve((1.0,), (2.0,), (3.0,)), 0.0, scenario, {}),
    ]
    for res in results:
        name = dataclasses.fields(res)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(res, name, None)
        json.dumps(res.to_json(), allow_nan=False)
    with pytest.raises(TypeError):
        next(r for r in results if isinstance(r, ServingPlan))["options"][0] = o  # a tuple: no stage swaps a row in place
