"""QA pass 88: an ML engineer sizing an inference fleet and planning fine-tunes (docs/qa_log.md, "QA 88"). Each test
fails on the code before unless its docstring says otherwise."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from planner.spec import load_job_dict

#: Qwen3-30B-A3B served expert-parallel over one p5.48xlarge (vLLM --data-parallel-size 8 --enable-expert-parallel)
EP_JOB = {"model": {"preset": "qwen3-30b-a3b"},
          "serving": {"p99_latency_ms": 50, "ttft_ms": 2000, "qps": 20, "prompt_tokens": 1500, "output_tokens": 300,
                      "max_batch": 256, "expert_parallel": True,
                      # vLLM's default exchange: the layout reads "EP8" (serveep48b's DeepEP would read "EP8 deepep_low_latency")
                      "all2all_backend": "allgather_reducescatter"},
          "parallel": {"ep": 8},
          "cluster": {"instance": "aws:p5.48xlarge"}}


@pytest.fixture(scope="module")
def ep_plan():
    from planner.workloads.serving import plan_serving

    job = load_job_dict(EP_JOB)
    return job, plan_serving(job, simulate=False)


def test_an_expert_parallel_plan_is_named_ep_in_the_report_and_the_app(ep_plan):
    """Finding 1: the report's first line said "Serve 1 TP8 replica", its QPS-growth risk "the analytic screen of
    aws:p5.48xlarge TP8" and the app's hardware metric "aws:p5.48xlarge TP8" of an EP8 plan (``tp`` is the replica's
    GPUs in both layouts); serve's own line said EP8."""
    from planner.interactive import serving_metrics
    from planner.present.report import build_serving_report, serving_budget_risks
    from planner.results import jsonable

    job, plan = ep_plan
    best = jsonable(plan)["best"]
    assert (best["tp"], best["ep"]) == (8, 8) and "with EP8 (bf16)" in plan["why"]
    rep = build_serving_report(job, plan, with_charts=False)
    text = repr(rep)
    assert "Serve 1 EP8 replica on 1 x aws:p5.48xlarge" in text and "TP8" not in text
    assert "aws:p5.48xlarge EP8, not simulated" in " ".join(serving_budget_risks(jsonable(plan)["budget"], best))
    assert dict(serving_metrics({"plan": plan, "job": job}))["hardware"] == "aws:p5.48xlarge EP8"


def test_the_simulated_table_has_the_ep_column(ep_plan):
    """Finding 1: the simulated table had a TP column only, so an EP8 row read "TP 8" beside the options table's
    "TP 8 EP 8"; a dense model's rows ("-") leave the column out."""
    from planner.present.serving import render_simulated
    from planner.results import jsonable

    _, plan = ep_plan
    res = jsonable(plan)
    pct = {"p50": 10.0, "p90": 11.0, "p99": 12.0}
    sim = {"replicas": 1, "max_num_batched_tokens": 2048, "ttft_ms": pct, "tpot_ms": pct, "goodput": 1.0,
           "kv_used_max": 0.1, "queue_max": 1, "preemptions": 0}
    res["options"] = [dict(res["options"][0], simulated=sim, analytic_replicas=1)]

    def header(r):
        out = io.StringIO()
        render_simulated(Console(file=out, width=250), r)
        return next(line for line in out.getvalue().splitlines() if "hardware" in line)

    assert " EP " in header(res)
    res["options"] = [dict(res["options"][0], ep=None)]
    assert " EP " not in header(res)


def test_an_ep_fleet_over_max_gpus_is_refused_as_ep():
    """Finding 1: the refusal read "nearest: aws:p5.48xlarge TP8 (bf16): the fleet's 2 TP8 replicas take 16 GPUs"."""
    from planner.errors import InputError
    from planner.workloads.serving import plan_serving

    job = {**EP_JOB, "serving": {**{k: v for k, v in EP_JOB["serving"].items() if k != "qps"}, "replicas": 2},
           "constraints": {"max_gpus": 8}}
    with pytest.raises(InputError) as e:
        plan_serving(load_job_dict(job), simulate=False)
    assert "aws:p5.48xlarge EP8 (bf16): the fleet's 2 EP8 replicas take 16 GPUs, over max_gpus (8)" in str(e.value)


def _serve_job(engine: str, precision: str, gpus: list[str], model: str = "llama3.1-8b") -> dict:
    return {"model": {"preset": model},
            "serving": {"p99_latency_ms": 60, "ttft_ms": 1000, "qps": 5, "prompt_tokens": 1000, "output_tokens": 200,
                        "precision": precision, "engine": engine},
            "constraints": {"gpus": gpus, "clouds": ["aws", "gcp"]}}


def test_tensorrt_llm_is_not_planned_where_it_does_not_run():
    """Finding 2: ``engine: tensorrt-llm`` ranked TPU v5e / v6e, V100 and (at fp8) A100 / A10G options, none of which
    TensorRT-LLM runs (NVIDIA GPUs only; Ampere and newer; FP8 from Ada, SM89: its Support Matrix). They are left out
    and said so; the H100 stays."""
    from planner.workloads.serving import plan_serving

    plan = plan_serving(load_job_dict(_serve_job("tensorrt-llm", "fp8", ["H100-SXM-80GB", "A100-SXM-80GB", "TPU-v5e",
                                                                          "V100-SXM2-32GB"])), simulate=False)
    gpus = {o.gpu for o in [*plan["options"], *plan["rejected"]]}
    assert gpus == {"H100-SXM-80GB"}
    said = [a for a in plan["assumptions"] if a.startswith("left out (serving.engine)")]
    assert any("tensorrt-llm runs fp8 from compute capability 8.9: A100-SXM-80GB (8.0)" in a for a in said)
    assert any("tensorrt-llm runs on NVIDIA GPUs (CUDA) only: TPU-v5e (Google TPUs (XLA))" in a for a in said)
    assert any("tensorrt-llm runs from compute capability 8.0: V100-SXM2-32GB (7.0)" in a for a in said)


@pytest.mark.parametrize("engine, precision, gpus, runs", [
    ("vllm", "fp8", ["A100-SXM-80GB"], True),      # Marlin's weight-only FP8 (SM80+)
    ("vllm", "fp8", ["T4-16GB"], False),           # no FP8 kernel below SM80
    ("tensorrt-llm", "bf16", ["A100-SXM-80GB"], True),
    ("vllm", "bf16", ["V100-SXM2-32GB"], True),    # vLLM: compute capability 7.0 and up
])
def test_an_engine_runs_what_its_docs_say(engine, precision, gpus, runs, cli, tmp_path):
    """Finding 2: where no GPU asked for runs the engine at the precision, serve answers in one line naming why (exit
    2); before, vLLM fp8 on a T4 was planned. The accepted rows fail on neither code."""
    import yaml

    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(_serve_job(engine, precision, gpus)))
    code, out, err = cli("serve", p, "--no-simulate", "--json", "--top", "1")
    if runs:
        assert code == 0, err
    else:
        assert code == 2 and err.strip() == ("error: serving.engine: it runs no option here: vllm runs fp8 from compute "
                                             "capability 8.0: T4-16GB (7.5) (another serving.engine or "
                                             "serving.precision, or other GPUs: constraints.gpus)"), err


def _finetune(max_gpus: int) -> dict:
    return {"model": {"preset": "qwen2.5-0.5b"},
            "training": {"mode": "qlora", "lora": {"rank": 16, "alpha": 32, "targets": "all-linear"}, "seq_len": 1024,
                         "global_batch": 8, "precision": "bf16", "optimizer": "adamw", "steps": 100},
            "constraints": {"gpus": ["L4-24GB", "A10G-24GB"], "clouds": ["aws"], "max_gpus": max_gpus}}


def test_single_node_notes_are_one_line_and_none_under_a_one_node_cap(catalog):
    """Finding 3: a QLoRA on one GPU (max_gpus 1) printed "note: aws:g5.xlarge: single node only -- the catalog gives
    it no multi-node cluster fabric" once per shown instance (8 lines for the QLoRA of Llama-3.1-8B over L4 / A10G),
    though no plan under the cap could take a second node. Under the cap there is none; with room for more nodes the
    instances share one line."""
    from planner.workloads.training import recommend

    capped = recommend(load_job_dict(_finetune(1)), catalog)
    assert not [n for n in capped["notes"] if "single node only" in n]
    wide = recommend(load_job_dict(_finetune(16)), catalog)
    lines = [n for n in wide["notes"] if "single node only" in n]
    assert len(lines) == 1 and "aws:g5.xlarge (fabric ethernet)" in lines[0] and "gives them" in lines[0], lines


def test_the_report_reads_an_ep_replica_and_a_fixed_fleets_load(ep_plan):
    """Finding 4: the serving review's headline table said "tensor parallel per replica 8" of an EP8 plan (it runs
    no tensor parallelism) and "utilisation (analytic) at 30.6 requests/s (serving.qps)" of a fixed fleet
    (``serving.replicas``), which has no serving.qps: the rate is the most the fleet carries."""
    from planner.present.report import build_serving_report
    from planner.workloads.serving import plan_serving

    job, plan = ep_plan
    text = repr(build_serving_report(job, plan, with_charts=False))
    assert "expert parallel per replica" in text and "tensor parallel per replica" not in text
    fleet = load_job_dict({"model": {"preset": "qwen2.5-0.5b"},
                           "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "replicas": 2, "prompt_tokens": 800,
                                       "output_tokens": 200},
                           "cluster": {"instance": "aws:g6e.xlarge"}})
    text = repr(build_serving_report(fleet, plan_serving(fleet, simulate=False), with_charts=False))
    assert "(the most the fixed fleet carries within the targets)" in text and "(serving.qps)" not in text
