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
    assert "costs at the spot price (constraints.spot)" in _text(render_serving, plan, width=200)


def test_catalog_override_price_is_said_and_sourced(cli, tmp_path):
    """A user's price file changed the prices used but nothing said so: the row kept the shipped
    SkyPilot source (the report's price table cited it for the user's price) and no command named the file."""
    from hardware_catalog import load_catalog

    f = tmp_path / "mine.csv"
    f.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,40\n")
    cat = load_catalog([f])
    assert cat.instance("aws:p5.48xlarge").price_ondemand == 40
    assert cat.instance("aws:p5.48xlarge").source.startswith("user override (mine.csv: price_ondemand_usd_hr)")
    assert cat.overrides == ["mine.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 40"]
    assert load_catalog().overrides == []
    code, out, err = cli("catalog", "instances", "--cloud", "aws", "--catalog", f)
    assert code == 0 and "40.00" in out
    assert "catalog override mine.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 40" in err
    code, out, err = cli("estimate", "examples/llama3-8b-estimate.yaml", "--catalog", f, "--json")
    assert code == 0 and json.loads(out)["hardware"]["price_ondemand_usd_hr"] == 40  # stdout stays JSON
    assert "catalog override mine.csv" in err


def test_catalog_override_bad_cells_read_as_one_clear_line(cli, tmp_path):
    cases = {"nan": "must be a finite number, got 'nan'",  # was "must be at most 100000.0 (absurd value)"
             "inf": "must be a finite number, got 'inf'",
             "": "is empty; give a value"}  # was "Input should be a valid number, got None"
    for cell, msg in cases.items():
        f = tmp_path / "p.csv"
        f.write_text(f"cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,{cell}\n")
        code, out, err = cli("catalog", "instances", "--catalog", f)
        assert code == 2 and out == "", (cell, out)
        assert err == f"error: catalog override p.csv: instances[0].price_ondemand_usd_hr: {msg}\n", err
    f.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge\n")  # a short row
    code, out, err = cli("catalog", "instances", "--catalog", f)
    assert code == 2 and err.endswith("price_ondemand_usd_hr: is empty; give a value\n"), err


def test_catalog_override_note_does_not_break_the_one_line_error(cli, tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,40\n")
    code, out, err = cli("estimate", "examples/qlora-llama3.1-70b.yaml", "--catalog", f)  # no cluster: an error
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: cluster:"), err


def test_report_risks_keep_small_shares_apart():
    """The report's risks read "grows from 1% to 1% of the step" (0.6% -> 1.3%) and "the step takes +0%"
    (+0.4%): both to a tenth of a percent now."""
    import pandas as pd

    from planner.present.report import _network_risk, _next_bottleneck

    best = {"hardware": {"nodes": 8, "inter_node_gbps": 3200, "network_assumed": False, "multi_node": True},
            "step_time_s": 6.811, "breakdown_s": {"compute_gemm": 5.2, "comm_dp": 0.043}}
    sweep = pd.DataFrame({"value": [16.0], "step_time_s": [3.43], "note": [""],
                          "breakdown": [{"compute_gemm": 2.6, "comm_dp": 0.0446}]})
    text = _next_bottleneck(best, sweep)
    assert "grows from 0.6% to 1.3% of the step" in text, text
    net = pd.DataFrame({"value": [1600.0], "step_time_s": [6.84]})
    assert "the step takes +0.4% (6.84 s vs 6.81 s)" in _network_risk(best, {}, net)


def test_report_sensitivity_columns_have_one_unit():
    """The nodes sweep printed "895.3 ms" under "1.74 s" and "59.3 h" under "4.8 d"."""
    import pandas as pd

    from planner.present.report import _sensitivity_table

    df = pd.DataFrame({"value": [32.0, 64.0, 128.0], "current": [True, False, False], "gpus": [256, 512, 0],
                       "step_time_s": [1.74, 0.8953, float("nan")], "hours": [115.2, 59.3, float("nan")],
                       "cost_ondemand_usd": [2.0e5, 2.1e5, float("nan")], "cost_spot_usd": [6e4, 6.4e4, float("nan")],
                       "mfu": [0.55, 0.54, float("nan")], "hfu": [0.58, 0.57, float("nan")], "mem_gib": [66.1, 66.0, float("nan")],
                       "fits": [True, True, False], "note": ["", "", "global batch"]})
    rows = _sensitivity_table(df, "nodes").rows
    assert [r[2] for r in rows] == ["1.74 s", "0.90 s", "-"], rows
    assert [r[3] for r in rows] == ["4.8 d", "2.5 d", "-"], rows


def test_estimate_memory_and_step_tables_do_not_print_zero_for_small_parts(cli, tmp_path):
    """A rank-1 LoRA on q/v: the memory table read "grads 0.00" and "optimizer 0.00" (1.6 and 3.2 MiB),
    the step table "optimizer step 0.0%"."""
    import re

    job = tmp_path / "lora.yaml"
    with open(job, "w") as fh:
        fh.write("model: {preset: llama3-8b}\n"
                 "training: {mode: lora, lora: {rank: 1, alpha: 2, targets: [q_proj, v_proj]}, seq_len: 2048,\n"
                 "  global_batch: 16, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e8}\n"
                 "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 1, nodes: 1}\nparallel: {tp: 1, pp: 1}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    rows = dict(re.findall(r"^ (grads|optimizer)\s+│\s+(\S+)", out, re.M))
    assert rows and all(float(v) > 0 for v in rows.values()), rows
    assert not re.search(r"optimizer step .*\b0\.0%", out), out


def test_hfu_below_mfu_is_explained_where_it_is_shown():
    """estimate and the report printed "MFU / HFU 56.3% / 51.1%" bare: hardware FLOPs below model FLOPs read
    as a contradiction (HFU includes recompute); the causal kernel's skipped half is why."""
    from planner.search.explain import mfu_hfu

    assert "HFU below MFU: MFU counts causal attention in full" in mfu_hfu({"mfu": 0.563, "hfu": 0.511})
    assert mfu_hfu({"mfu": 0.265, "hfu": 0.391}) == "26.5% / 39.1%"
    assert mfu_hfu({"mfu": 0.5, "hfu": 0.5}) == "50.0% / 50.0%"


def test_default_max_batch_cap_is_said():
    """An MI300X (192 GB) replica of a 30B MoE stopped at batch 64 under a 40 ms TPOT target it met at
    22 ms, with KV room to spare: the default serving.max_batch capped it and nothing said so."""
    job = {"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8},
           "serving": {"p99_latency_ms": 40, "qps": 5, "prompt_tokens": 1000, "output_tokens": 300}}
    plan = _serve(job)
    assert plan["best"]["batch"] == 64
    assert any(a.startswith("serving.max_batch defaulted to 64: it caps the batch") for a in plan["assumptions"])
    job["serving"]["max_batch"] = 64  # the user's own cap: nothing to say
    assert not any("max_batch" in a for a in _serve(job)["assumptions"])


def test_serving_says_why_it_did_not_simulate():
    """Without serving.qps (or for a generic model) `planner serve` skipped its simulation and the rule line
    said "(not simulated)" as if --no-simulate had been given."""
    plan = _serve({"model": {"preset": "mixtral-8x7b"},
                   "serving": {"p99_latency_ms": 30, "prompt_tokens": 100, "output_tokens": 2000, "precision": "fp8"},
                   "constraints": {"clouds": ["gcp"], "gpus": ["TPU-v6e"]}}, simulate=True)
    assert not plan["simulated"]
    assert plan["ranking"].endswith("(not simulated: no serving.qps to simulate arrivals at)"), plan["ranking"]


def test_recommend_trade_off_keeps_a_small_cost_difference():
    """bare-model.yaml: "next best 1 x shadeform:denvr_Gaudi2x8 costs $290.88 (+0.4%) ... trade-off: 1 x
    shadeform:denvr_Gaudi2x8 finishes 3.8x sooner (33.1 h) for +0% cost"."""
    from planner.search.rank import _change

    assert _change(0.004) == "+0.4%" and _change(-0.002) == "-0.2%" and _change(0.07) == "+7%"


def test_offline_serving_report_states_its_costs():
    """The serving review of an offline job had no $ row in its Recommendation table (only real-time $/h and
    $/1M keys, unset offline); the risks printed "vs target 1000.0" without a unit."""
    from planner.present.report import build_serving_report
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "serving": {"mode": "batch", "requests": 5e6, "prompt_tokens": 2048, "output_tokens": 256,
                                     "precision": "fp8", "kv_precision": "fp8"},
                         "constraints": {"clouds": ["aws"], "gpus": ["L40S-48GB"], "spot": True}})
    plan = plan_serving(job, simulate=False)
    rep = build_serving_report(job, plan)
    table = rep.sections[0].blocks[1]
    cells = dict(table.rows)
    assert cells["$ per 1M requests (analytic, spot)"] == f"${plan['best']['usd_per_million_requests_offline']:.2f}"

    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 10, "prompt_tokens": 800,
                                     "output_tokens": 200},
                         "constraints": {"clouds": ["aws"], "gpus": ["L40S-48GB"]}})
    rep = build_serving_report(job, plan_serving(job, simulate=False))
    risks = next(s for s in rep.sections if s.title == "Risks").blocks[0][0]
    assert "vs target 1,000 ms" in risks and "vs target 50 ms" in risks, risks


def test_trace_without_a_rate_is_refused(cli, tmp_path):
    """A trace whose arrivals are all at 0 s replayed "3.0e+09 QPS" and sized 396,780,142 replicas ($738.41M/h)."""
    t = tmp_path / "t.csv"
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,10\n0,100,10\n0,100,10\n")
    code, out, err = cli("serve", "examples/serving-llama3-8b-chat.yaml", "--trace", t)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: --trace: its 3 requests all arrive at 0 s"), err
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0.1,100,10\n")
    code, out, err = cli("serve", "examples/serving-llama3-8b-chat.yaml", "--trace", t)
    assert code == 2 and err.startswith("error: --trace: its one request gives no arrival rate"), err


def test_usd_past_a_billion():
    """$/h of a huge serving fleet printed "$1059.58M"."""
    from planner.units import fmt_usd

    assert fmt_usd(1.05958e9) == "$1.06B" and fmt_usd(9.99e8) == "$999.00M" and fmt_usd(2e12) == "$2.0e+12"
    # a value that rounds up to 1000 of its unit reads in the next one ("$1000.00M", "$1000.0k", "$1000.00" were)
    assert fmt_usd(999.996e6) == "$1.00B" and fmt_usd(999.994e6) == "$999.99M"
    assert fmt_usd(999_996.0) == "$1.00M" and fmt_usd(999.996) == "$1.00k" and fmt_usd(999.5) == "$999.50"
    assert fmt_usd(12.345) == "$12.35" and fmt_usd(1350.0) == "$1.35k" and fmt_usd(12_345.0) == "$12.3k"


def test_malformed_catalog_yaml_names_the_file_once(cli, tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text("gpus:\n  - {name: H100, memory_gib: 96\n")
    code, out, err = cli("catalog", "gpus", "--catalog", f)
    assert code == 2 and err.startswith("error: catalog override o.yaml: yaml: malformed YAML at line 3"), err


def test_next_best_on_other_hardware_is_named_as_such():
    """mixtral-8x7b report: "next best 8 x gcp:a3-highgpu-8g costs $523.4k (+68%)" above a table whose #2 is
    8 x aws:p5.48xlarge at $315.0k (+0.9%): the line compares with other hardware and now says so."""
    import pandas as pd

    from planner.search.rank import why

    def row(nodes, name, hours, cost):
        return {"hardware": {"nodes": nodes, "name": name}, "mfu": 0.51,
                "cost": {"hours": hours, "cost_spot_usd": None, "cost_ondemand_usd": cost}}
    best = row(4, "aws:p5.48xlarge", 1418.0, 312.1e3)
    ranked = [best, row(8, "aws:p5.48xlarge", 715.0, 315.0e3), row(8, "gcp:a3-highgpu-8g", 744.0, 523.4e3)]
    line = why(best, ranked, pd.DataFrame(), "cost", spot=False)
    assert "next best on other hardware 8 x gcp:a3-highgpu-8g costs $523.4k (+68%)" in line, line
    line = why(best, [best, ranked[2]], pd.DataFrame(), "cost", spot=False)  # the #2 itself: no qualifier
    assert "next best 8 x gcp:a3-highgpu-8g costs" in line, line


def test_catalog_links_numbers_are_thousands_separated(cli):
    code, out, err = cli("catalog", "links")
    assert code == 0 and "7,200" in out and "│ 7200 " not in out and "12.5" in out


def test_padded_fine_tune_says_how_much_is_padding(cli, tmp_path):
    """full-finetune-llama3.1-8b.yaml (packing: padded, 1,000-token examples, 4,096-token rows): "time to train
    5.4 h (6,250 steps, 1.64B tokens)" for 0.4B tokens of data, nothing saying 76% of it was padding."""
    job = tmp_path / "ff.yaml"
    text = open("examples/full-finetune-llama3.1-8b.yaml").read().split("constraints:")[0]
    job.write_text(text + "cluster: {instance: aws:p5.48xlarge, nodes: 1}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "training.packing padded: each ~1,000-token example is padded to a 4,096-token row, so 76% of the positions" \
        in flat, flat[-1500:]
    # (hfstack34) the run's tokens are its real ones: 0.4B, the padding excluded
    assert "real, padding excluded: 76% of the rows' positions" in flat, flat[:1500]
    job.write_text(text.replace("packing: padded", "packing: packed") + "cluster: {instance: aws:p5.48xlarge, nodes: 1}\n")
    code, out, err = cli("estimate", job)
    assert code == 0 and "packing padded" not in out


def test_mla_kv_cache_is_the_latent():
    """`planner serve` of deepseek-v3 printed "KV 2928 KiB/token in fp8": 128 heads of full K and V. MLA caches
    the latent (kv_lora_rank 512 + rope 64 per layer, 61 layers): 34 KiB in fp8 (DeepSeek-V2 §2.1.3)."""
    from planner.spec import load_job_dict
    from planner.workloads.serving_memory import kv_bytes_per_token

    m = load_job_dict({"model": {"preset": "deepseek-v3"}}).model
    assert kv_bytes_per_token(m, "fp8") == 61 * (512 + 64) == kv_bytes_per_token(m, "fp8", tp=8)
    assert kv_bytes_per_token(m, "bf16") == 2 * 61 * 576
    llama = load_job_dict({"model": {"preset": "llama3-8b"}}).model  # GQA unchanged: 2 x 32 x 8 x 128 x 2
    assert kv_bytes_per_token(llama, "bf16") == 131072


def test_serving_reason_names_a_tpu_chip():
    plan = _serve({"model": {"preset": "mixtral-8x7b"},
                   "serving": {"p99_latency_ms": 80, "qps": 10, "prompt_tokens": 2048, "output_tokens": 512},
                   "constraints": {"clouds": ["gcp"], "gpus": ["TPU-v6e"]}})
    reasons = [r["reason"] for r in plan["rejected"] if r["tp"] == 1]
    assert reasons and all("GiB/chip + KV" in r for r in reasons), reasons  # was "GiB/GPU" for TPU v6e


def test_report_cost_section_of_an_unpriced_bare_gpu(cli, tmp_path):
    """The report of a bare MI300X cluster said "On-demand: - (0.00 $/node-h x 4 nodes x 215 h)"."""
    job = tmp_path / "j.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 2.0e11}\n"
                   "cluster: {gpu: MI300X-192GB, gpus_per_node: 8, nodes: 4}\n")
    code, out, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    md = (tmp_path / "r.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- On-demand:"))
    assert "0.00 $/node-h" not in line and line.startswith("- On-demand: no price (a bare GPU cluster"), line


def test_accuracy_line_step_range_in_the_step_times_unit():
    """estimate of ResNet-50: "step time 189.1 ms" above "a real run like this takes 0.173 to 0.226 s per step"."""
    from planner.present.terminal import accuracy_line

    a = {"rows": 12, "runs": "generic-model runs", "sources": ["x"], "median_signed_err": -0.04,
         "p10_signed_err": -0.16, "p90_signed_err": 0.09, "step_time_s_range": [0.173, 0.226],
         "hours_range": [0.677, 0.883], "cost_usd_range": [37.22, 48.65], "hours": 0.74, "cost_usd": 40.68,
         "basis": "development data"}
    line = accuracy_line(a)
    assert "takes 173.0 ms to 226.0 ms per step" in line, line


def test_report_next_limit_of_a_capped_plan_gives_no_batch_advice():
    """qlora-llama3.1-70b (max_gpus: 1): "cannot scale beyond 1 node — at 2: ... exceeds constraints.max_gpus (1);
    a faster run needs a larger global batch or more TP/PP per replica": the cap is the job's own."""
    import pandas as pd

    from planner.present.report import _next_bottleneck

    best = {"hardware": {"nodes": 1}, "step_time_s": 32.8, "breakdown_s": {}}
    sweep = pd.DataFrame({"value": [2.0], "step_time_s": [float("nan")], "note": [
        "cluster.nodes: 2 nodes exceeds constraints.max_gpus (1)"]})
    text = _next_bottleneck(best, sweep)
    assert text.endswith("exceeds constraints.max_gpus (1) (the job's constraint)"), text
    sweep["note"] = ["training.global_batch: 16 is not a multiple of micro_batch*dp"]
    assert "a faster run needs a larger global batch" in _next_bottleneck(best, sweep)


def test_serving_table_small_costs_and_large_rates_read_right():
    """serving-resnet50.yaml: "$/1M req $0.07", "$/1M req batch $0.02" (two decimals of $0.0216) and
    "req/s/replica 10340.99"."""
    from planner.present.serving import render_serving
    from planner.spec import load_job

    from planner.workloads.serving import plan_serving

    plan = plan_serving(load_job("examples/serving-resnet50.yaml"), simulate=False)
    text = _text(render_serving, plan, width=200)
    row = next(x for x in text.splitlines() if x.startswith("│  1 │"))
    cells = [c.strip() for c in row.split("│")]
    assert any(c.startswith("$0.0") and len(c) == 7 for c in cells), cells  # "$0.0216", not "$0.02"
    assert any("," in c and c.replace(",", "").isdigit() for c in cells), cells  # "10,341"


def test_serving_report_options_of_a_cnn():
    """serving-resnet50 report: the Options table's $/1M read "0.02" (of $0.0216) and its latency column was
    headed "TPOT ms" for a model with no tokens."""
    from planner.present.report import build_serving_report
    from planner.spec import load_job
    from planner.workloads.serving import plan_serving

    job = load_job("examples/serving-resnet50.yaml")
    rep = build_serving_report(job, plan_serving(job, simulate=False))
    opts = next(s for s in rep.sections if s.title == "Options").blocks[0]
    assert "p99 ms" in opts.columns and "TPOT ms" not in opts.columns
    usd = [r[opts.columns.index("$/1M req")] for r in opts.rows]
    assert all(len(u) >= 5 for u in usd if u.startswith("0.")), usd  # "0.0745", not "0.07"


def test_spot_risk_line_says_time_as_the_report_does():
    """The spot risk line read "44.1 days" beside the report's "44.1 d" (fmt_time) elsewhere."""
    from planner.present.report import _spot_risk_line

    r = {"expected_cost_usd": 1.2e6, "expected_hours": 44.1 * 24, "interruptions": 3.0, "overhead": 0.05,
         "cost_low_usd": 1.1e6, "cost_high_usd": 1.4e6}
    from planner.present import report

    causes = report.spot_causes
    try:
        report.spot_causes = lambda _r: "interruptions"
        line = _spot_risk_line(r)
    finally:
        report.spot_causes = causes
    assert line.startswith("expected $1.20M and 44.1 d with 3.0 interruptions") and " days" not in line


def test_missing_override_file_is_named_once(cli, tmp_path):
    """A missing --catalog file was named twice: "catalog override nope.csv: file: /…/nope.csv: file not found"."""
    missing = tmp_path / "nope.csv"
    code, out, err = cli("catalog", "gpus", "--catalog", missing)
    assert code == 2 and err.strip() == "error: catalog override nope.csv: file: file not found (no such file or directory)", err


def test_offline_serving_has_no_latency_target_to_meet(cli):
    """An offline (mode: batch) job has no latency target: its options table said "53 meet the targets" and the
    report's Options table "meets latency yes"."""
    from conftest import EXAMPLES

    code, out, err = cli("serve", EXAMPLES / "serving-batch-llama3-8b.yaml", "--no-simulate")
    assert code == 0, err
    assert "meet the targets" not in out and "serving options (" in out and " run, " in out


def test_serving_assumptions_are_printed_as_text_not_markup():
    """`planner serve` printed its assumption lines into rich markup unescaped (estimate, recommend and the tabular
    plan escape theirs): a name holding "[bold]...[/bold]" lost its brackets and restyled the line. One printer now
    marks them all (planner.present.safe.print_marked)."""
    from dataclasses import replace

    from planner.present.serving import render_serving

    # one cloud's H100s: the printer is the point, not the catalog (5.5 -> 0.3 s; suite49)
    plan = _serve({"model": {"preset": "llama3-8b"},
                   "serving": {"p99_latency_ms": 50, "qps": 5, "prompt_tokens": 1000, "output_tokens": 200},
                   "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}})
    plan = replace(plan, assumptions=plan.assumptions + ("model from ./[bold]odd[/bold]/config.json",))
    assert "assumed: model from ./[bold]odd[/bold]/config.json" in _text(render_serving, plan, width=200)
