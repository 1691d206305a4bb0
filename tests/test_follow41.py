"""follow41: what this session's helpers noticed and left alone, fixed. Each test fails on the code before:
- power41: ``simulate`` said the power limit only in the plan's name, recommend's table not at all, and serve's
  assumption line spoke of MFU, which serving does not report (README "GPUs held at a power limit");
- cost41: a user's ``onprem:`` instance row at an internal rate below the cloud floor was refused, with no word of
  what to do, and a TPU row's floor was given "$/GPU-h" (hardware_catalog/README.md "Price floors");
- qa61: ``report -o /proc/r.md`` named the chart folder; a real-time serve job off spot was warned of the spot price
  it never showed; a job's ``constraints.regions`` was not said beside the price;
- launch41: the JobSet of a multi-rack NVL72 plan restarted nothing on a failure, the PyTorchJob without end
  (docs/launch_notes.md "NVL72 racks on Kubernetes")."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import answered, flat, refused, write_job
from hardware_catalog import load_catalog
from planner.errors import InputError
from planner.hardware.platform import device_noun
from planner.outputs import write_outputs
from planner.present.emit import K8S_RESTARTS

POWER = ("GPUs at 500 W of H100-SXM-80GB's rated 700 W (cluster.power_limit_w): sustained clock 0.894x")
TRAIN = {"model": {"preset": "llama3-8b"},
         "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e11},
         "parallel": {"tp": 2, "pp": 1, "zero": 1},
         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"p99_latency_ms": 60, "ttft_ms": 3000, "qps": 40, "prompt_tokens": 2000, "output_tokens": 300,
                     "precision": "bf16"},
         "cluster": {"instance": "aws:p5.48xlarge"}}


def _job(tmp_path, base: dict, name: str, **sections) -> Path:
    job = {k: dict(v) for k, v in base.items()}
    for section, fields in sections.items():
        job.setdefault(section, {}).update(fields)
    return write_job(tmp_path, job, name)


# ---- power41's leftovers


def test_simulate_says_the_power_limit_as_estimate_does(cli, tmp_path):
    """The simulated run at 500 W carries estimate's assumption line (text and --json notes) and its hardware record
    the limit, the rated one and the clock; it had the wattage in the plan's name alone."""
    job = _job(tmp_path, TRAIN, "pl.yaml", cluster={"power_limit_w": 500})
    sim = answered(cli("simulate", job, "--json", "--steps", "20", "--no-answers"))
    assert [n for n in sim["notes"] if n.startswith(POWER)], sim["notes"]
    hw = sim["hardware"]
    assert (hw["power_limit_w"], hw["rated_power_limit_w"]) == (500.0, 700.0) and hw["clock_at_power_limit"] < 0.9
    code, out, err = cli("simulate", job, "--steps", "20", "--no-answers")
    assert code == 0, err
    assert POWER in flat(out)
    plain = answered(cli("simulate", _job(tmp_path, TRAIN, "full.yaml"), "--json", "--steps", "20", "--no-answers"))
    assert not [n for n in plain["notes"] if "cluster.power_limit_w" in n]


def test_recommend_table_names_the_wattage_beside_each_hardware(cli, tmp_path):
    """Each ranked row's hardware cell reads "aws:p5.48xlarge at 500 W", as the recommended line under it."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e11},
                               "cluster": {"power_limit_w": 500},
                               "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 16}})
    code, out, err = cli("recommend", job, "--no-simulate", "--top", "2")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│ 1 │") or line.startswith("│ 2 │")]
    assert rows and all("aws:p5.48xlarge at 500 W" in r for r in rows), out


def test_serving_power_line_leaves_mfu_out(cli, tmp_path):
    """Serving reports no MFU: its power-limit line ends at the HBM clause; training's keeps the MFU one."""
    res = answered(cli("serve", _job(tmp_path, SERVE, "s.yaml", cluster={"power_limit_w": 500}), "--json",
                       "--no-simulate"))
    (line,) = [a for a in res["assumptions"] if a.startswith(POWER)]
    assert line.endswith("HBM bandwidth kept") and "MFU" not in line


# ---- cost41's leftovers


def test_an_owned_row_below_the_floor_is_taken_and_said(cli, tmp_path):
    """An ``onprem`` row priced at its power alone (0.5 $/node-h for 8 H100s, 0.0625 $/GPU-h, under the 0.399 floor)
    loads, its catalog listing runs, and stderr says the rate was taken as an internal one."""
    cat = tmp_path / "own.csv"
    cat.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nonprem,h100x8,H100,8,0.5,power only\n")
    assert load_catalog([cat]).instance("onprem:h100x8").price_ondemand == 0.5
    code, out, err = cli("catalog", "instances", "--catalog", str(cat), "--cloud", "onprem")
    assert code == 0, err
    assert ("instance onprem:h100x8: price_ondemand_usd_hr 0.5 $/node-h is 0.0625 $/GPU-h" in flat(err)
            and "taken as an internal rate for owned hardware (cloud onprem)" in flat(err)), err


def test_a_cloud_row_below_the_floor_says_how_to_price_owned_hardware(cli, tmp_path):
    cat = tmp_path / "mine.csv"
    cat.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,h100x8,H100,8,0.5,quote\n")
    line = refused(cli("catalog", "instances", "--catalog", str(cat)))
    # the remedies outside parentheses stay whole; the asides ("(all 8 H100-SXM-80GB of the instance)", ...) give way
    # to the one-line cap (hardware_catalog.errors.fit_message; the 434-character refusal ran past it until fuzz43)
    assert "give the price per node-hour; for hardware you own at an internal rate, name its cloud onprem" in line, line
    assert len(line.split(": ", 3)[3]) <= 300, line  # (error: catalog override mine.csv: <field>: <message>)


def test_a_tpu_floor_is_in_chips(cli, tmp_path):
    """TPUs are counted in chips (the catalog's form_factor "TPU chip"): the floor says $/chip-h, not $/GPU-h."""
    cat = tmp_path / "tpu.csv"
    cat.write_text("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\ngcp,tpu-v5litepod-8,0.1,\n")
    line = refused(cli("catalog", "instances", "--catalog", str(cat)))
    assert "0.0125 $/chip-h on gcp:tpu-v5litepod-8's 8 TPU-v5e, below the floor of 0.12 $/chip-h" in line, line
    assert "GPU-h" not in line


def test_the_catalogs_unit_word_is_the_planners_device_noun():
    """One word per accelerator: the catalog's (from its form_factor) and the planner's (by vendor) agree on every
    shipped row, and TPUs and Trainium are chips."""
    gpus = load_catalog().gpus.values()
    assert all(g.unit_word == device_noun(g) for g in gpus)
    assert {g.unit_word for g in gpus if g.name.startswith(("TPU", "Trainium"))} == {"chip"}


# ---- qa61's leftovers


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a /proc that refuses new files")
def test_a_report_folder_that_cannot_be_made_names_the_report():
    """``report -o /proc/r.md``: the chart folder /proc/r_files cannot be made; the error names /proc/r.md, the path
    given, as ``-o /proc/r.html`` does."""
    with pytest.raises(InputError) as e:
        write_outputs({Path("/proc/r_files/chart.png"): b"png", Path("/proc/r.md"): "# r"}, "--out",
                      folders=[Path("/proc/r_files")])
    assert str(e.value).startswith("--out: /proc/r.md: ") and "r_files" not in str(e.value), str(e.value)


def _dated(price_dates: dict | None) -> set[str]:
    """Every price a ``price_dates`` summary lists (``oldest_price``)."""
    if not price_dates:
        return set()
    named = {price_dates.get("oldest_of") or ""}
    for v in price_dates.values():
        if isinstance(v, list):
            named |= {x["what"] for x in v if isinstance(x, dict)}
    return named - {""}


def test_a_real_time_job_off_spot_dates_no_spot_price(cli, tmp_path):
    """Off spot, the fleet's prices are on-demand: its budget dates the on-demand rate and not the spot one (whose
    what-if carries its own date, for --json and the report); on spot, the table's "$/1M req batch" is at the spot
    rate, which the budget dates too."""
    off = answered(cli("serve", _job(tmp_path, SERVE, "off.yaml"), "--json", "--no-simulate"))["budget"]
    assert "aws:p5.48xlarge on-demand" in _dated(off["price_dates"])
    assert "aws:p5.48xlarge spot" not in _dated(off["price_dates"]), off["price_dates"]
    assert _dated(off["spot"]["price_dates"]) == {"aws:p5.48xlarge spot"}
    on = answered(cli("serve", _job(tmp_path, SERVE, "on.yaml", constraints={"spot": True}), "--json",
                      "--no-simulate"))["budget"]
    assert "aws:p5.48xlarge spot" in _dated(on["price_dates"])


def test_the_region_a_price_is_for_is_said_where_the_job_restricts_regions(cli, tmp_path):
    """``constraints.regions: [us-east-1]``: estimate's cost row, recommend's line and serve's month say the prices
    are us-east-1's (the catalog's region of aws:p5.48xlarge); a job without regions says nothing of it."""
    where = "in us-east-1 (constraints.regions)"
    job = _job(tmp_path, TRAIN, "r.yaml", constraints={"regions": ["us-east-1"]})
    assert answered(cli("estimate", job, "--json"))["cost"]["price_region"] == "us-east-1"
    code, out, err = cli("estimate", job)
    assert code == 0 and f"prices {where}" in flat(out), err
    assert "price_region" not in answered(cli("estimate", _job(tmp_path, TRAIN, "n.yaml"), "--json"))["cost"]
    rec = _job(tmp_path, TRAIN, "rec.yaml", cluster={"nodes": None},
               constraints={"regions": ["us-east-1"], "instances": ["aws:p5.48xlarge"], "max_gpus": 16})
    code, out, err = cli("recommend", rec, "--no-simulate", "--top", "1")
    assert code == 0 and where in flat(out.split("recommended:")[1]), err
    code, out, err = cli("serve", _job(tmp_path, SERVE, "s.yaml", constraints={"regions": ["us-east-1"]}),
                         "--no-simulate")
    assert code == 0 and f"prices {where}" in flat(out.split("per month:")[1]), err


# ---- launch41's leftover

RACKS = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.0e11}
cluster: {gpu: GB200, nodes: %d, price_usd_hr: 300}
"""


def _k8s(cli, tmp_path, racks: int) -> dict:
    code, out, err = cli("recommend", str(write_job(tmp_path, RACKS % racks, f"r{racks}.yaml")), "--no-simulate",
                         "--emit", "k8s")
    assert code == 0, err
    return list(yaml.safe_load_all(out))[-1]


def test_both_k8s_launches_restart_the_job_alike(cli, tmp_path):
    """Two racks launch as a JobSet: a failed Job recreates all of them, at most K8S_RESTARTS times
    (``failurePolicy.maxRestarts``; it had no failurePolicy, so the first failure failed the run). One rack launches
    as a PyTorchJob, whose limit counts its pods' container restarts: K8S_RESTARTS x its 16 pods (it had none, so a
    crashing job restarted without end)."""
    js = _k8s(cli, tmp_path, 2)
    assert js["kind"] == "JobSet" and js["spec"]["failurePolicy"] == {"maxRestarts": K8S_RESTARTS}
    assert all(rj["template"]["spec"]["backoffLimit"] == 0 for rj in js["spec"]["replicatedJobs"])
    pj = _k8s(cli, tmp_path, 1)
    pods = sum(r["replicas"] for r in pj["spec"]["pytorchReplicaSpecs"].values())
    assert pj["kind"] == "PyTorchJob" and pj["spec"]["runPolicy"] == {"backoffLimit": K8S_RESTARTS * pods} and pods == 16
