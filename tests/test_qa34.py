"""QA pass 34: what a demanding user of the CLI hit -- each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import answered, one_error_line, write_job

LLM = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9},
       "parallel": {"tp": 1, "pp": 1, "cp": 1, "dp": 8, "zero": 1},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


# ---- 1. a layout too big for the one node estimate assumes blamed the layout, not the default -------------------------
# TP8 PP4 with cluster.nodes left out: "error: parallel: tp*pp*cp = 32 does not divide the 8 GPUs" -- which 8 GPUs?
# A job that fits says "cluster.nodes defaulted to 1"; one that does not never said it
@pytest.mark.parametrize("command", ["estimate", "simulate"])
@pytest.mark.parametrize("parallel, words", [
    ({"tp": 8, "pp": 4}, "tp*pp*cp = 32 does not fit; set cluster.nodes, e.g. to 4 (32 GPUs)"),
    ({"tp": 8, "pp": 4, "dp": 4}, "tp*pp*cp*dp = 128 does not fit; set cluster.nodes, e.g. to 16 (128 GPUs)"),
    ({"tp": 1, "pp": 1, "dp": 12}, "no whole number of 8-GPU nodes holds tp*pp*cp*dp = 12 GPUs"),
])
def test_a_layout_past_the_default_node_blames_the_default(tmp_path, cli, command, parallel, words):
    job = {**LLM, "model": {"preset": "llama3-70b"}, "training": {**LLM["training"], "global_batch": 384},
           "parallel": parallel, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}}
    code, out, err = cli(command, write_job(tmp_path, job))
    assert code == 2, out
    line = one_error_line(err)
    assert line.startswith("error: cluster.nodes: left out: estimate takes 1 node (8 GPUs), which "), line
    assert words in line, line


def test_a_layout_the_default_node_holds_is_still_estimated(tmp_path, cli):
    job = {**LLM, "parallel": {"tp": 2}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}}
    code, out, err = cli("estimate", write_job(tmp_path, job))
    assert code == 0, err
    assert "cluster.nodes defaulted to 1" in out


# ---- 2. the note of layouts a stack refuses cut its sources mid-parenthesis --------------------------------------------
# recommend with training.framework: auto said "... 14,913 pipeline parallelism (a transformers model is one nn.Module:
# no stage split) (accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp)" -- the source cut at the colon
# inside its own parenthesis
def test_the_refusal_note_cites_whole_parentheses(tmp_path, cli):
    from planner.model import stack_rules

    assert stack_rules.RULES  # every rule's citation head closes what it opens
    for r in stack_rules.RULES:
        assert r.cite.count("(") == r.cite.count(")"), (r.name, r.cite)
        assert r.source.startswith(r.cite)
    job = {**LLM, "training": {**LLM["training"], "framework": "auto"}, "parallel": {},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}, "constraints": {"max_gpus": 16}}
    plan = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json"))
    notes = [a for a in plan["assumptions"] if "layouts it refuses are excluded" in a]
    hf = [a for a in notes if "one nn.Module" in a]
    assert hf, notes
    assert "(accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp: no pipeline axis))" in hf[0], hf[0]
    for a in notes:
        assert a.count("(") == a.count(")"), a


# ---- 3. serve read no parallel field: a fixed TP was searched past, pp went unsaid ------------------------------------
SERVE = {"model": {"preset": "llama3-70b"},
         "serving": {"p99_latency_ms": 40, "ttft_ms": 800, "qps": 10, "prompt_tokens": 2000, "output_tokens": 300,
                     "precision": "fp8"},
         "cluster": {"instance": "aws:p5.48xlarge"}}


def test_serve_holds_a_fixed_tp(tmp_path, cli):
    plan = answered(cli("serve", write_job(tmp_path, {**SERVE, "parallel": {"tp": 4}}), "--no-simulate", "--json"))
    assert {o["tp"] for o in plan["options"]} == {4}, [o["tp"] for o in plan["options"]]  # it recommended TP2


@pytest.mark.parametrize("parallel, field", [({"tp": 4, "pp": 2}, "parallel.pp"), ({"dp": 2}, "parallel.dp"),
                                             ({"tp": 16}, "parallel.tp"), ({"zero": 3}, "parallel.zero")])
def test_serve_refuses_parallel_fields_it_cannot_run(tmp_path, cli, parallel, field):
    code, out, err = cli("serve", write_job(tmp_path, {**SERVE, "parallel": parallel}), "--no-simulate")
    assert code == 2, out
    assert one_error_line(err).startswith(f"error: {field}: "), err


def test_serve_takes_parallel_values_that_change_nothing(tmp_path, cli):
    code, out, err = cli("serve", write_job(tmp_path, {**SERVE, "parallel": {"pp": 1, "cp": 1}}), "--no-simulate")
    assert code == 0, err


# ---- 4. simulate of a spot job said nothing of spot: "goodput 100.0%" beside estimate's interruptions -----------------
def test_simulate_of_a_spot_job_says_interruptions_are_not_simulated(tmp_path, cli):
    job = {**LLM, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}, "parallel": {"tp": 1, "pp": 1, "zero": 1},
           "training": {**LLM["training"], "tokens": 1e11}, "constraints": {"spot": True}}
    path = write_job(tmp_path, job)
    risk = answered(cli("estimate", path, "--json"))["cost"]["spot_risk"]
    res = answered(cli("simulate", path, "--steps", "5", "--no-answers", "--json"))
    assert res["goodput"] == 1.0  # the simulated run is uninterrupted ...
    spot = [n for n in res["notes"] if n.startswith("constraints.spot: spot interruptions are not simulated")]
    assert spot and f"expected {risk['interruptions']:.1f} interruptions" in spot[0], res["notes"]  # ... and says so
    on_demand = answered(cli("simulate", write_job(tmp_path, {**job, "constraints": {}}, "od.yaml"), "--steps", "5",
                             "--no-answers", "--json"))
    assert not any("spot" in n for n in on_demand["notes"])


# ---- 5. a token budget that whole steps overshoot was trained and priced past it, unsaid ------------------------------
# tokens: 1e6 at 1,024 x 4,096: "1 step, 4.19M tokens", $0.76, and no word of the 4.2x
def test_tokens_rounded_up_to_whole_steps_are_said(tmp_path, cli):
    job = {**LLM, "training": {"seq_len": 4096, "global_batch": 1024, "tokens": 1e6},
           "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert d["cost"]["steps"] == 1 and d["cost"]["tokens"] == 4096 * 1024
    assert ("training.tokens 1,000,000 is 1 whole step of 4,194,304 tokens (global_batch 1,024 x seq_len 4,096): "
            "4,194,304 tokens trained and priced (+319%)") in d["assumptions"], d["assumptions"]
    job["training"]["tokens"] = 6e6
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert d["cost"]["steps"] == 2 and any(a.startswith("training.tokens 6,000,000 is 2 whole steps") and "(+40%)" in a
                                           for a in d["assumptions"]), d["assumptions"]
    job["training"]["tokens"] = 1e9  # 239 steps, 0.2% over: not worth a line
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert not any(a.startswith("training.tokens") for a in d["assumptions"])


# ---- 6. serve on a bare GPU said "ranked by $/h for the QPS, cheapest first" beside a table with no $ column ----------
def test_serve_of_unpriced_options_says_what_it_ranks_by(tmp_path, cli):
    job = {"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H200-SXM-141GB"},
           "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 20, "prompt_tokens": 800, "output_tokens": 200}}
    plan = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    assert all(o["usd_per_hr"] is None for o in plan["options"])
    assert plan["ranking"].startswith("ranked by the GPUs the QPS needs, fewest first (no option has a price"), plan["ranking"]
    assert "$" not in plan["ranking"] and "cheapest" not in plan["ranking"]
    gpus = [o["gpus"] for o in plan["options"]]
    assert gpus == sorted(gpus)  # the order the line states
    job["cluster"]["price_usd_hr"] = 30.0  # priced: the cost order, as before
    assert answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))["ranking"].startswith(
        "ranked by $/h for the QPS")


# ---- 7. a toy model's MFU printed "0.0% / 0.0%": a share that is not zero read as none ----------------------------------
def test_a_tiny_mfu_reads_under_a_tenth_of_a_percent(tmp_path, cli):
    from planner.search.explain import mfu_hfu
    from planner.units import fmt_pct

    assert fmt_pct(4e-5) == "<0.1%" and fmt_pct(0.004) == "0.4%" and fmt_pct(0.0) == "0.0%"  # recommend's MFU column
    assert mfu_hfu({"mfu": 4e-5, "hfu": 4e-5}) == "<0.1% / <0.1%"
    assert mfu_hfu({"mfu": 0.265, "hfu": 0.391}) == "26.5% / 39.1%"  # as before
    job = {"model": {"family": "decoder", "layers": 2, "hidden": 96, "heads": 3, "vocab": 1000},
           "training": {"seq_len": 128, "global_batch": 8, "tokens": 1e6},
           "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1, "gpus_per_node": 1}}
    code, out, err = cli("estimate", write_job(tmp_path, job))
    assert code == 0, err
    assert "<0.1% / <0.1%" in out and "0.0% / 0.0%" not in out


# ---- 8. the catalog's own CSV, edited and passed back with --catalog, was refused ---------------------------------------
# `planner catalog instances --csv > mine.csv`, a price edited, `--catalog mine.csv`: "instances[0].key: is not a known
# column"; the GPU table's "gpus[0].hbm_tbps: ..."; a CSV whose header names no table read "gpus[0].name: is required"
@pytest.mark.parametrize("table", ["gpus", "instances", "onprem"])
def test_the_catalogs_own_csv_reads_back_as_an_override(tmp_path, cli, table):
    code, out, err = cli("catalog", table, "--csv")
    assert code == 0, err
    path = tmp_path / f"my{table}.csv"
    path.write_text(out)
    code, out2, err = cli("catalog", table, "--csv", "--catalog", path)
    assert code == 0, err
    assert out2 == out  # restated: the catalog it prints is the same
    if table != "gpus":  # (the GPU table prints an empty intra-node figure as its PCIe fallback: "- -> 32" is true)
        assert "->" not in err, err  # no cell reads as changed ("cluster false -> False")


def test_an_edited_instance_price_from_the_catalog_csv_applies(tmp_path, cli):
    import csv
    import io
    code, out, err = cli("catalog", "instances", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    row = next(r for r in rows if r["key"] == "aws:p5.48xlarge")
    row["price_ondemand_usd_hr"] = "40"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path = tmp_path / "mine.csv"
    path.write_text(buf.getvalue())
    job = {**LLM, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}, "parallel": {"tp": 1, "pp": 1}}
    assert answered(cli("estimate", write_job(tmp_path, job), "--json", "--catalog", path))["hardware"][
        "price_ondemand_usd_hr"] == 40.0
    row["key"] = "aws:p5x"  # a key that is not its cloud:name is refused, not dropped unread
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())
    code, out, err = cli("estimate", write_job(tmp_path, job), "--catalog", path)
    assert code == 2 and "key: 'aws:p5x' is cloud:name" in one_error_line(err), err


def test_a_csv_naming_no_table_says_so(tmp_path, cli):
    path = tmp_path / "odd.csv"
    path.write_text("a,b\n1,2\n")
    code, out, err = cli("estimate", write_job(tmp_path, LLM), "--catalog", path)
    assert code == 2, out
    assert one_error_line(err).startswith("error: catalog override odd.csv: header: the columns (a, b) are none of the "
                                          "catalog's tables"), err


# ---- 9. a job price below the catalog's spot rate priced "spot" dearer than on-demand, unsaid --------------------------
# cluster: {instance: aws:p5.48xlarge, price_usd_hr: 10}: "$329.08 on-demand, $556.04 spot" and a spot job ranked at
# the $16.95 spot rate, above the job's own price, without a word
def test_a_job_price_below_the_spot_rate_is_said(tmp_path, cli):
    job = {**LLM, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1, "price_usd_hr": 10},
           "parallel": {"tp": 1, "pp": 1}}
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert d["cost"]["cost_spot_usd"] > d["cost"]["cost_ondemand_usd"]
    assert any(a.startswith("cluster.price_usd_hr 10 $/node-h replaces aws:p5.48xlarge's on-demand rate only: its "
                            "catalog spot rate, 16.9508 $/node-h, is above it") for a in d["assumptions"]), d["assumptions"]
    job["cluster"]["price_usd_hr"] = 40  # above the spot rate: nothing to say
    above = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert not any(a.startswith("cluster.price_usd_hr") for a in above["assumptions"])
