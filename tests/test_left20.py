"""Defects a QA pass on the money and catalog paths noticed and left alone (left2 pass, 2026-12-02): each with the
check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import write_job

P5 = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e11},
      "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}}


@pytest.mark.parametrize("field, key, value, words", [
    ("utilisation", "utilisation", 5, "must be between 0.01 and 1 (a fraction of owned hours), got 5"),
    ("server_price_usd", "server_price_hgx_h100_8gpu", 0, "must be above 0 and at most 1e+08 USD per node, got 0"),
    ("horizon_years", "amortisation_years", 50, "must be between 0.5 and 30 years, got 50"),
    ("power_price_usd_per_kwh", "power_price_usd_per_kwh", 11, "must be between 0 and 10 USD/kWh, got 11"),
])
def test_job_onprem_errors_speak_as_override_errors(cli, tmp_path, field, key, value, words):
    """A job's ``onprem:`` field out of range read pydantic's "Input should be less than or equal to 1, got 5" where
    the override row of the same key read "utilisation must be between 0.01 and 1, got 5": now both say the range
    and its unit in the same words (``hardware_catalog.bounds.range_text``)."""
    code, out, err = cli("estimate", write_job(tmp_path, {**P5, "onprem": {field: value}}))
    assert code == 2 and out == ""
    assert err.strip() == f"error: onprem.{field}: {words}"
    over = tmp_path / "o.yaml"
    over.write_text(f"onprem:\n  - {{key: {key}, value: {value}, source: me}}\n")
    code, out, err = cli("estimate", write_job(tmp_path, P5), "--catalog", over)
    assert code == 2
    assert err.strip() == f"error: catalog override o.yaml: onprem[0].value: {key} {words}"


def test_instances_table_heads_chip_prices_with_chip(cli, tmp_path, monkeypatch):
    """``planner catalog instances`` headed TPU and Trainium rows' price per accelerator "$/GPU-h"; the head now
    uses the rows' own noun (``planner.hardware.platform.device_noun``): "$/chip-h" alone, both on a mixed table."""
    monkeypatch.setenv("COLUMNS", "250")
    over = tmp_path / "t.yaml"
    over.write_text("instances:\n  - {cloud: mytpu, name: v6e-8, gpu: TPU-v6e, gpu_count: 8, price_ondemand_usd_hr: 20,"
                    " source: quote}\n  - {cloud: mytrn, name: trn2, gpu: Trainium2, gpu_count: 16,"
                    " price_ondemand_usd_hr: 40, source: quote}\n")
    for cloud, per in (("mytpu", "2.50"), ("mytrn", "2.50")):
        code, out, err = cli("catalog", "instances", "--cloud", cloud, "--catalog", over)
        assert code == 0, err
        assert "$/chip-h" in out and "GPU-h" not in out and per in out
    code, out, err = cli("catalog", "instances", "--cloud", "gcp")
    assert code == 0, err
    assert "$/GPU-h" in out and "or chip-h" in out
    code, out, err = cli("catalog", "instances", "--cloud", "aws")
    assert "$/GPU-h" in out and "chip" not in out


def test_report_onprem_table_lists_only_the_rows_the_plan_read(cli, tmp_path):
    """The report's assumptions table of on-prem parameters listed every catalog row but other HGX families' servers:
    ``accelerator_kit_price_gaudi3_8``, ``pue_industry_average`` and ``gpu_price_h100_sxm`` under an H100 plan, and
    ``pue`` though the job set it. It now lists the rows ``cost.onprem_inputs`` read (``onprem_catalog_keys``)."""
    job = write_job(tmp_path, {**P5, "onprem": {"pue": 1.2}})
    out_md = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", out_md, "--no-simulate")
    assert code == 0, err
    lines = out_md.read_text().splitlines()
    head = lines.index(next(x for x in lines if x.startswith("| on-prem parameter")))
    body = lines[head + 2:]
    keys = [x.split("|")[1].strip() for x in body[:next(i for i, x in enumerate(body) if not x.startswith("|"))]]
    assert keys == ["amortisation_years", "utilisation", "server_price_hgx_h100_8gpu", "server_power_kw_hgx_h100_8gpu",
                    "network_cost_share", "power_price_usd_per_kwh", "hosting_usd_per_kw_month",
                    "staff_share_per_year", "support_share_per_year", "residual_value_fraction"]


def test_override_spot_equal_to_ondemand_is_no_spot_price(cli, tmp_path):
    """An override row whose spot price equals its on-demand price was taken silently as a spot offer at no discount
    (a spot plan priced at it, "spot $18.1k" beside "$18.1k on-demand"), where the shipped catalog reads such rows
    (SkyPilot's RunPod MI300X, Azure ND/NC H100 v5: SpotPrice == Price) as no spot price; now the override's is read
    the same way, said in one line on stderr. Above on-demand stays an error."""
    from hardware_catalog import load_catalog

    over = tmp_path / "s.yaml"
    over.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_spot_usd_hr: 55.04}\n")
    cat = load_catalog([over])
    assert cat.instance("aws:p5.48xlarge").price_spot is None
    assert any("equals on-demand: read as no spot price" in n for n in cat.overrides)
    code, out, err = cli("estimate", write_job(tmp_path, P5), "--catalog", over)
    assert code == 0, err
    warn = [x for x in err.splitlines() if "equals on-demand" in x]
    assert len(warn) == 1 and warn[0].startswith("catalog override s.yaml: instance aws:p5.48xlarge: price_spot_usd_hr")
    assert "no spot rate" in out  # read "- spot" until QA 47
    over.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_spot_usd_hr: 60}\n")
    code, out, err = cli("estimate", write_job(tmp_path, P5), "--catalog", over)
    assert code == 2 and "exceeds on-demand" in err


def test_capacity_block_is_aws_only(cli, tmp_path):
    """A ``capacity-block`` commitment was accepted for any cloud and billed by AWS EC2 Capacity Blocks' rules (whole
    days to 14 days, whole weeks to 182, AWS's 256-instance limit): a gcp row is now refused, naming the term."""
    from hardware_catalog import load_catalog
    from planner.errors import InputError

    over = tmp_path / "c.yaml"
    over.write_text("commitments:\n  - {cloud: gcp, instance: a3-highgpu-8g, term: capacity-block, price_usd_hr: 50,"
                    " source: quote}\n")
    with pytest.raises(InputError) as e:
        load_catalog([over])
    assert e.value.field == "commitments[0].term" and "AWS EC2 Capacity Blocks" in e.value.message
    code, out, err = cli("estimate", write_job(tmp_path, {**P5, "cluster": {"instance": "gcp:a3-highgpu-8g", "nodes": 4}}),
                         "--catalog", over)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: catalog override c.yaml: commitments[0].term: capacity-block is AWS EC2 Capacity Blocks")
    over.write_text("commitments:\n  - {cloud: AWS, instance: p4de.24xlarge, term: capacity-block, price_usd_hr: 20,"
                    " source: quote}\n")
    assert any(c.term == "capacity-block" for c in load_catalog([over]).commitments_for("aws:p4de.24xlarge"))


AWS_VMS = """InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch
p5.48xlarge,H100,8.0,192.0,2048.0,"{'Gpus': []}",60.0,20.5,us-east-1,use1-az1,x86_64,ssd,True,3800.0,8.0
p5.48xlarge,H100,8.0,192.0,2048.0,"{'Gpus': []}",60.0,18.25,us-east-1,use1-az2,x86_64,ssd,True,3800.0,8.0
p5.48xlarge,H100,8.0,192.0,2048.0,"{'Gpus': []}",62.0,17.0,us-west-2,usw2-az1,x86_64,ssd,True,3800.0,8.0
m5.large,,,2.0,8.0,,0.096,0.04,us-east-1,use1-az1,x86_64
p5e.48xlarge,H200,8.0,192.0,2048.0,,,20.76,us-east-1,use1-az1,x86_64
"""
GCP_VMS = """InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice
a2-highgpu-8g,96.0,680.0,,,,us-central1,us-central1-a,3.5,1.2
,,,A100,8,{},us-central1,us-central1-a,23.47126,12.3192
,,,tpu-v5p-8,,{},us-east5,us-east5-a,8.4,2.1
"""


def test_skypilot_catalog_csv_reprices_catalog_instances(cli, tmp_path):
    """A SkyPilot ``vms.csv`` given as an override was read as a GPU table ("gpus[0].name: is required"). It is now
    read as price overrides of the catalog's instances: the rows of the instance's catalog region (p5.48xlarge in
    us-east-1: on demand 60, spot the lowest zone's 18.25; the us-west-2 row is another region's), AWS v9's extra
    local-disk cells allowed; instance types the catalog lacks are named, not dropped silently."""
    from hardware_catalog import load_catalog

    vms = tmp_path / "vms.csv"
    vms.write_text(AWS_VMS)
    cat = load_catalog([vms])
    p5 = cat.instance("aws:p5.48xlarge")
    assert (p5.price_ondemand, p5.price_spot) == (60.0, 18.25)
    assert "user override (vms.csv: price_ondemand_usd_hr, price_spot_usd_hr" in p5.source
    said = "\n".join(cat.overrides)
    assert "read as a SkyPilot catalog (5 rows, 3 instance types): 1 catalog instance repriced" in said
    assert "2 instance types not in the catalog, not read: m5.large, p5e.48xlarge" in said
    code, out, err = cli("estimate", write_job(tmp_path, P5), "--catalog", vms)
    assert code == 0, err
    assert "catalog override vms.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 60" in err

    gcp = tmp_path / "gcp.csv"  # GCP's composite rows: host (vCPU + RAM) + its GPUs' own row, as SkyPilot adds them
    gcp.write_text(GCP_VMS)
    cat = load_catalog([gcp])
    a2 = cat.instance("gcp:a2-highgpu-8g")
    assert a2.price_ondemand == pytest.approx(3.5 + 23.47126) and a2.price_spot == pytest.approx(1.2 + 12.3192)
    # a TPU slice the catalog has no instance for is named as such (left3: catalog TPU slices are now repriced)
    assert any("1 TPU slice not in the catalog, not read: tpu-v5p-8" in n for n in cat.overrides)


def test_skypilot_catalog_csv_missing_columns_is_one_line(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("InstanceType,Price\np5.48xlarge,60\n")
    code, out, err = cli("catalog", "instances", "--catalog", bad)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "a SkyPilot catalog CSV" in err and "Region, SpotPrice, AcceleratorName, AcceleratorCount missing" in err
