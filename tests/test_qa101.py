"""QA 101: small items noticed by QA 99 / QA 100 (docs/qa_log.md "QA 101"). Each test fails on the code before it."""
from __future__ import annotations

import pytest
from conftest import answered, write_job

from hardware_catalog.catalog import load_catalog


# -- 1. p3dn.24xlarge / p3 network: AWS publishes the bandwidth, the catalog read it as unsourced ------------------
@pytest.mark.parametrize("key, gbps, fabric, where", [
    ("aws:p3dn.24xlarge", 100, "efa", "optimizing-deep-learning-on-p3-and-p3dn-with-efa"),
    ("aws:p3.16xlarge", 25, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
    ("aws:p3.8xlarge", 10, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
])
def test_p3_family_network_is_the_published_one_and_clusters(key, gbps, fabric, where):
    row = load_catalog().instance(key)
    assert row.network_bw == pytest.approx(gbps * 1e9 / 8)
    assert (row.fabric, row.cluster) == (fabric, True)
    assert where in row.source and f"{gbps} Gbps" in row.network_source


# -- 2. every subcommand's help names what an option takes: "<str>" stood for paths, hours and event counts -----------
def test_no_option_help_says_str(cli):
    """``serve --help`` showed --trace, --deadline-hours and --plan-event-bound (and calibrate --storage, the choice
    options) as ``<str>``: options taken as text for the planner's own checks now carry a metavar."""
    from planner.cli import click_command

    group = click_command()
    names = [(n,) for n in group.commands if n != "catalog"]
    names += [("catalog", n) for n in group.commands["catalog"].commands]
    assert len(names) > 10
    for argv in names:
        code, out, _ = cli(*argv, "--help", env={"COLUMNS": "200"})
        assert code == 0, argv
        assert "<str>" not in out, (argv, [line for line in out.splitlines() if "<str>" in line])
    code, out, _ = cli("serve", "--help", env={"COLUMNS": "200"})
    for flag, metavar in (("--trace", "<path>"), ("--deadline-hours", "<hours>"), ("--plan-event-bound", "<int>")):
        assert next(line for line in out.splitlines() if flag in line).split(flag)[1].split()[0] == metavar, flag


# -- 3. one --top bound on every command that takes it ---------------------------------------------------------------
def test_report_top_takes_what_recommend_and_serve_take():
    """``report --top`` stopped at 100 where ``recommend --top`` and ``serve --top`` take 1,000: one bound,
    ``TOP_MAX``, for the three (read off the click parameters, not a run: a 1,000-row report is not a fast test)."""
    from planner.cli import click_command

    group = click_command()
    bounds = {}
    for name in ("recommend", "serve", "report"):
        top = next(p for p in group.commands[name].params if p.name == "top")
        bounds[name] = (top.min, top.max)
    assert len(set(bounds.values())) == 1, bounds
    from planner.defaults import TOP_MAX

    assert bounds["report"] == (1, TOP_MAX)


# -- 4. buy-vs-rent's power: every wall hour at the node's maximum draw, said beside the buy figure --------------------
TRAIN = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
         "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "bf16"},
         "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def test_buy_power_is_an_assumption_with_its_numbers(tmp_path, cli):
    """planner/model/cost.py charges an owned node's power every wall hour at its maximum draw (kW x PUE x $/kWh);
    no output said so. The plan's assumptions (``assumed:``, the report's, the JSON's) now do, with the figures."""
    d = answered(cli("estimate", write_job(tmp_path, TRAIN), "--json"))
    inp = {k: v["value"] for k, v in d["cost"]["buy"]["inputs"].items()}
    line = next(a for a in d["assumptions"] if a.startswith("buy: power"))
    assert "every wall hour owned, busy or idle" in line and "maximum draw" in line
    usd = inp["server_power_kw"] * inp["pue"] * inp["power_price_usd_per_kwh"]
    assert f"= {usd:.2f} $/node-h of wall time" in line, line


def test_a_jobs_own_node_power_is_said_as_given(tmp_path, cli):
    """A job's onprem.server_power_kw is the node as it runs (cost.capped_node_kw), said as given, not as a maximum."""
    job = dict(TRAIN, onprem={"server_power_kw": 6.5})
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    line = next(a for a in d["assumptions"] if a.startswith("buy: power"))
    assert "the job's onprem.server_power_kw" in line and "maximum draw" not in line and "6.5 kW" in line, line


# -- 5. the search table's tokens_per_s of a padded job: positions, with the real rate beside it ----------------------
PADDED = {"model": TRAIN["model"],
          "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e8, "precision": "bf16", "packing": "padded",
                       "mean_example_tokens": 512},
          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def test_a_padded_jobs_search_rows_give_the_real_rate(tmp_path, cli):
    """recommend --csv and the JSON's pareto rows gave a padded job's tokens_per_s (row positions, 75% padding here)
    unsaid, where the ranked plans carry real_tokens_per_s since QA 100: the table's rows now carry it too, the same
    figure for the same plan."""
    import csv

    out = tmp_path / "rows.csv"
    d = answered(cli("recommend", write_job(tmp_path, PADDED), "--no-simulate", "--top", "1", "--json", "--csv", out))
    rows = list(csv.DictReader(out.open()))
    assert rows and all(abs(float(r["real_tokens_per_s"]) - float(r["tokens_per_s"]) / 4)
                        <= 1e-6 * float(r["tokens_per_s"]) for r in rows)
    assert d["pareto"] and all("real_tokens_per_s" in r for r in d["pareto"])
    best = d["ranked"][0]
    same = [r for r in d["pareto"] if abs(r["tokens_per_s"] - best["tokens_per_s"]) < 1e-9 * best["tokens_per_s"]]
    assert same and abs(same[0]["real_tokens_per_s"] - best["real_tokens_per_s"]) < 1e-6 * best["real_tokens_per_s"]


def test_a_packed_jobs_search_rows_are_unchanged(tmp_path, cli):
    """Guard (passes on the old code too): packed rows have no padding and no real_tokens_per_s column."""
    out = tmp_path / "rows.csv"
    job = dict(PADDED, training=dict(PADDED["training"], packing="packed"))
    answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--top", "1", "--json", "--csv", out))
    assert "real_tokens_per_s" not in out.read_text().splitlines()[0].split(",")


# -- 6. a generic model's (CNN's) default launch is labelled by what it runs -----------------------------------------
RESNET = {"model": {"preset": "resnet50"},
          "training": {"global_batch": 256, "micro_batch": 32, "precision": "bf16", "optimizer": "sgd", "steps": 100},
          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}, "parallel": {"zero": 1}}


def _launch(cli, tmp_path, job) -> str:
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--emit", "torchrun")
    assert code == 0, err
    return out


def test_a_cnn_on_plain_ddp_launches_its_ddp_script(tmp_path, cli):
    """resnet50 at ZeRO-1 on pytorch-ddp: "launcher style: fsdp" over ``$TRAIN_SCRIPT ... --fsdp-sharding-strategy
    NO_SHARD`` (neither torchtitan nor the ZeRO-1 the plan priced); now the script style, ZeroRedundancyOptimizer."""
    out = _launch(cli, tmp_path, RESNET)
    assert "# launcher style: script\n" in out and "--zero-redundancy-optimizer" in out, out
    assert "fsdp" not in out.lower(), out


def test_a_sharded_cnn_launch_says_it_is_the_users_script(tmp_path, cli):
    """A ZeRO-3 CNN plan on a stack that shards (hf-trainer): the same script line with FULL_SHARD, labelled as the
    user's script with FSDP, not as the torchtitan launcher ("fsdp") it is not."""
    job = dict(RESNET, training=dict(RESNET["training"], framework="hf-trainer"), parallel={"zero": 3})
    out = _launch(cli, tmp_path, job)
    assert "# launcher style: fsdp\n" not in out, out
    from planner.present.emit import GENERIC_FSDP_LABEL

    assert f"# launcher style: {GENERIC_FSDP_LABEL}\n" in out and "--fsdp-sharding-strategy FULL_SHARD" in out, out
    assert "torchtitan" not in out
