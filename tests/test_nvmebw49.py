"""nvmebw49: the NVMe rate of DeepSpeed ZeRO-Infinity's swap as an input (``training.framework.nvme_stripe`` /
``nvme_gbps``) and the catalog's drives (``local_nvme_drives``).

DeepSpeed takes one ``nvme_path``: one drive's ~3 GB/s read and write (DeepSpeed#2034) by default, the drives' sum
under a RAID-0 stripe over the node's drives (p4d.24xlarge: 8 x 1000 GB, AWS DescribeInstanceTypes via SkyPilot's
catalog), or a measured node rate. Hand-derived as tests/test_nvme49.py: Llama 3 8B with the optimizer offloaded to
NVMe, no overlap_comm, adds the rank's P / 8 parameters x 32 B (16 B read, 12 B written, 4 B of gradient written) at
the rank's share (one eighth) of the node's rate. Every test fails on the code before nvmebw49: the two fields are
refused there as unknown, the catalog has no ``local_nvme_drives``, and no NVMe rate line is printed.
"""
import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.validate_offload import estimate
from hardware_catalog.catalog import load_catalog
from planner.cli import app
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.spec.schema import ModelSpec

P8 = count_params(ModelSpec(**PRESETS["llama3-8b"])).total


def _job(instance="p4d.24xlarge", **fw):
    return {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 4096, "global_batch": 16, "micro_batch": 1, "precision": "bf16",
                         "recompute": "full", "optimizer": "adamw",
                         "framework": {"name": "deepspeed", "optimizer_offload": True, "offload_device": "nvme",
                                       "overlap_grad_reduce": False, **fw}},
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3},
            "cluster": {"instance": instance, "nodes": 1}}


def _swap_s(node_bps):
    """The optimizer swap's seconds a step at ``node_bps`` a node, shared by the node's 8 ranks."""
    return P8 / 8 * 32 / (node_bps / 8)


def _nvme_line(res):
    lines = [a for a in res["assumptions"] if a.startswith("training.framework.offload_device: nvme")]
    assert len(lines) == 1, res["assumptions"]
    return lines[0]


def test_catalog_drive_counts_are_the_sourced_ones():
    """The AWS rows' counts are DescribeInstanceTypes' LocalDiskCount (SkyPilot's v9 catalog); the drives x their size
    make the row's local_nvme_tb; ND H100 v5 has no settled count and stays blank (one drive's rate)."""
    inst = load_catalog().instances
    got = {n: inst[f"aws:{n}"].local_nvme_drives for n in ("p4d.24xlarge", "p5.48xlarge", "p5.4xlarge",
                                                            "p3dn.24xlarge", "p3.16xlarge")}
    assert got == {"p4d.24xlarge": 8, "p5.48xlarge": 8, "p5.4xlarge": 1, "p3dn.24xlarge": 2, "p3.16xlarge": None}
    assert inst["azure:Standard_ND96isr_H100_v5"].local_nvme_drives is None
    assert inst["azure:Standard_ND96isr_H200_v5"].local_nvme_drives == 8
    for i in inst.values():  # a drive count only with drives, and named in the row's source
        if i.local_nvme_drives is not None:
            assert i.local_nvme_bytes and ("LocalDiskCount" in i.source or "NVMe disks" in i.source), i.key


def test_stripe_over_the_drives_divides_the_swap_by_their_count():
    """One drive (the default, and nvme_stripe: one) prices the swap at 3 GB/s a node; a stripe over p4d's 8 drives at
    24 GB/s: the swap's seconds fall 8x, the rest of the step is the same."""
    base, one, drives = (estimate(_job(**fw)) for fw in ({}, {"nvme_stripe": "one"}, {"nvme_stripe": "drives"}))
    cpu = estimate(_job(offload_device="cpu"))
    assert base["step_time_s"] == one["step_time_s"]
    assert base["step_time_s"] - cpu["step_time_s"] == pytest.approx(_swap_s(3e9), rel=1e-6)
    assert drives["step_time_s"] - cpu["step_time_s"] == pytest.approx(_swap_s(24e9), rel=1e-6)
    assert "one drive" in _nvme_line(base) and "3 GB/s" in _nvme_line(base) and "DeepSpeed#2034" in _nvme_line(base)
    assert "nvme_stripe: drives" in _nvme_line(base) and "8 drives" in _nvme_line(base)
    assert "24 GB/s" in _nvme_line(drives) and "8 drives (catalog local_nvme_drives)" in _nvme_line(drives)


def test_nvme_gbps_states_the_node_rate():
    """A measured 12 GB/s a node replaces the drives' figure: the swap at 12e9 / 8 a rank, named as given."""
    res, cpu = estimate(_job(nvme_gbps=12)), estimate(_job(offload_device="cpu"))
    assert res["step_time_s"] - cpu["step_time_s"] == pytest.approx(_swap_s(12e9), rel=1e-6)
    assert "12 GB/s" in _nvme_line(res) and "nvme_gbps, as given" in _nvme_line(res)


def test_stripe_on_a_row_without_a_drive_count_takes_one_drive():
    """ND H100 v5 has local NVMe but no sourced drive count: nvme_stripe drives prices one drive, and says so."""
    one, drives = (estimate(_job("Standard_ND96isr_H100_v5", **fw)) for fw in ({}, {"nvme_stripe": "drives"}))
    assert drives["step_time_s"] == one["step_time_s"]
    assert "gives no drive count" in _nvme_line(drives) and "3 GB/s" in _nvme_line(drives)


def _cli(job, tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(app, ["estimate", str(path)])
    return res.exit_code, ((res.stdout or "") + (res.stderr or "")).strip()


def _torchtitan():
    j = _job()
    j["training"]["framework"] = {"name": "torchtitan", "optimizer_offload": True, "nvme_stripe": "drives"}
    return j


@pytest.mark.parametrize("job, field, why", [
    (_job(offload_device=None, nvme_stripe="drives"), "nvme_stripe", "describes the NVMe of offload_device: nvme"),
    (_job(offload_device="cpu", nvme_gbps=10), "nvme_gbps", "this job offloads to cpu"),
    (_job(nvme_stripe="drives", nvme_gbps=10), "nvme_gbps", "give one of them"),
    (_job(nvme_stripe="raid"), "nvme_stripe", "one, drives"),
    (_job(nvme_gbps=0), "nvme_gbps", "must be at least 0.001"),
    (_torchtitan(), "nvme_stripe", "it runs on deepspeed"),
])
def test_nvme_rate_refusals(job, field, why, tmp_path):
    """The rate describes the NVMe of offload_device nvme, on a stack that swaps to it, stated one way: one line,
    exit 2."""
    if job["training"]["framework"].get("offload_device", "") is None:
        del job["training"]["framework"]["offload_device"]
    code, out = _cli(job, tmp_path)
    assert code == 2 and len(out.splitlines()) == 1, out
    assert out.startswith(f"error: training.framework.{field}:") and why in out, out


def test_recommend_prices_its_nvme_twins_at_the_stated_stripe(tmp_path):
    """Llama 3 70B ZeRO-3 on one p4d with the device left open: the CPU offload does not fit host memory, so the plan
    is the NVMe twin (nvme49 / QA 93), which keeps the job's nvme_stripe: its swap at 8 drives' 24 GB/s, the same step
    as estimate of that plan (166 s; one drive: 1,008 s)."""
    job = {"model": {"preset": "llama3-70b"},
           "training": {"seq_len": 4096, "global_batch": 16, "micro_batch": 1, "precision": "bf16",
                        "recompute": "full", "optimizer": "adamw",
                        "framework": {"name": "deepspeed", "nvme_stripe": "drives"}},
           "parallel": {"tp": 1, "pp": 1, "zero": 3}, "cluster": {"instance": "p4d.24xlarge", "nodes": 1}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(app, ["recommend", str(path), "--json"])
    assert res.exit_code == 0, (res.stdout or "") + (res.stderr or "")
    best = yaml.safe_load(res.stdout)["best"]
    assert best["stack"]["offload_device"] == "nvme" and best["stack"]["nvme_stripe"] == "drives"
    fixed = {**job["training"]["framework"], "optimizer_offload": True, "param_offload": True, "offload_device": "nvme"}
    est = estimate({**job, "training": {**job["training"], "framework": fixed}, "parallel": {**job["parallel"], "dp": 8}})
    assert best["step_time_s"] == pytest.approx(est["step_time_s"], rel=1e-9)
    assert est["step_time_s"] < 0.2 * estimate({**job, "training": {**job["training"], "framework": {
        **fixed, "nvme_stripe": "one"}}, "parallel": {**job["parallel"], "dp": 8}})["step_time_s"]
