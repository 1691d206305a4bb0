"""nvme49: DeepSpeed ZeRO-Infinity's NVMe offload (``training.framework.offload_device: nvme``).

Hand-derived from deepspeedai/DeepSpeed (planner.model.offload docstring "NVMe"): offload_config.py's defaults
(optimizer ``buffer_count`` 4, param ``buffer_count`` 5 x ``buffer_size`` 1e8, ``max_in_cpu`` 1e9; zero/config.py
``sub_group_size`` 1e9); the default ``PartitionedOptimizerSwapper`` reads the fp32 parameter, both moments and the fp32
gradient (16 B) and writes the state back (12 B) around the CPU step, the gradients (4 B) written in the backward;
each gather pass reads the swapped 16-bit partition ahead of its host-to-device copy, the slower paces it. The node's
NVMe: 3 GB/s read and write (one device: DeepSpeed #2034), shared by its 8 ranks. The host link of an A100-SXM
(p4d.24xlarge): PCIe Gen4 x16, 32 GB/s a direction nominal, at ``PCIE_EFF`` 0.8. Every test here sets
``offload_device``, a field the old schema refuses, so each fails on the code before nvme49.
"""
import copy

import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.validate_offload import estimate
from planner.cli import app
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.spec.schema import ModelSpec

P7, P8, P70 = (count_params(ModelSpec(**PRESETS[k])).total for k in ("llama2-7b", "llama3-8b", "llama3-70b"))
NVME = 3e9 / 8  # one rank's share of the node's NVMe
LINK = 32e9 * 0.8  # A100-SXM PCIe Gen4 x16 per direction x PCIE_EFF
GiB = 2**30


def _job(preset="llama3-70b", device="nvme", param=True, zero=3, instance="p4d.24xlarge", overlap=True, **over):
    j = {"model": {"preset": preset},
         "training": {"seq_len": 4096, "global_batch": 16, "micro_batch": 1, "precision": "bf16",
                      "recompute": "full", "optimizer": "adamw",
                      "framework": {"name": "deepspeed", "optimizer_offload": True, "param_offload": param,
                                    "offload_device": device, "overlap_grad_reduce": overlap}},
         "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": zero},
         "cluster": {"instance": instance, "nodes": 1}}
    j["training"].update(over)
    return j


def _offload(res):
    return res["breakdown_s"].get("offload", 0.0)


def test_70b_on_one_p4d_fits_with_nvme_not_with_host_ram():
    """Llama 3 70B, ZeRO-3 over one p4d.24xlarge (8 x A100 40 GB, 1,152 GiB RAM: 115.2 GiB a GPU may offload):
    to the CPU the rank's 8.8B-parameter shard puts master + moments + gradient + 16-bit partition on the host
    (148 GiB a GPU: no fit); to NVMe the host keeps only DeepSpeed's pinned buffers -- 4 x 1e9 fp32 elements for the
    optimizer, the first 1e9 16-bit parameters and 5 x 1e8 swap buffers: 19e9 B -- and the plan fits. The GPU is the
    same either way; the NVMe holds 16 B a parameter of the shard plus the 16-bit parameters past max_in_cpu."""
    cpu, nvme = (estimate(_job(device=d)) for d in ("cpu", "nvme"))
    mc, mn = cpu["memory_per_gpu_bytes"], nvme["memory_per_gpu_bytes"]
    assert not cpu["fits"] and mc["host"] > mc["host_limit"]
    assert nvme["fits"]
    assert mn["host"] == pytest.approx(4 * 1e9 * 4 + (1e9 + 5 * 1e8) * 2, rel=1e-9)
    assert mn["total"] == pytest.approx(mc["total"], rel=1e-12)
    assert mc["host"] - mn["host"] == pytest.approx(P70 / 8 * 18 - 19e9, rel=1e-6)


def test_optimizer_swap_adds_its_nvme_traffic_to_the_step():
    """Llama 3 8B, optimizer offload only, without overlap_comm (the gradients' writes exposed whole): the swap adds
    the state's read (16 B) and write (12 B) and the gradients' write (4 B) of the rank's P / 8 parameters at the
    rank's 3 / 8 GB/s: P / 8 x 32 B / (3e9 / 8) = 85.7 s; the CPU Adam step itself is unchanged."""
    cpu, nvme = (estimate(_job("llama3-8b", device=d, param=False, overlap=False)) for d in ("cpu", "nvme"))
    assert _offload(nvme) - _offload(cpu) == pytest.approx(P8 / 8 * 32 / NVME, rel=1e-6)
    assert nvme["breakdown_s"]["optimizer"] == cpu["breakdown_s"]["optimizer"]
    assert nvme["step_time_s"] - cpu["step_time_s"] == pytest.approx(P8 / 8 * 32 / NVME, rel=1e-6)


def test_step_time_grows_with_the_swapped_bytes_over_the_bandwidth():
    """Llama 3 70B with both offloads, without overlap_comm (every gather pass' fetch exposed, as stack48): each of the
    2 micro-batches' 2 passes now waits for the NVMe read of the swapped 16-bit part, (P / 8 - 1e9) x 2 B at 3 / 8 GB/s,
    not the host-link copy of the whole partition; the step adds the optimizer swap (32 B a parameter) and the
    updated swapped part's write: 2 x 2 x (r - h) + s / bw + P / 8 x 32 / bw."""
    cpu, nvme = (estimate(_job(device=d, overlap=False)) for d in ("cpu", "nvme"))
    local = P70 / 8
    swapped = (local - 1e9) * 2
    r, h = swapped / NVME, local * 2 / LINK
    want = 2 * 2 * (r - h) + swapped / NVME + local * 32 / NVME
    assert _offload(nvme) - _offload(cpu) == pytest.approx(want, rel=1e-6)
    assert nvme["step_time_s"] > 10 * cpu["step_time_s"]  # one NVMe device: 1.3 TB of swap traffic a step


def test_parameters_within_max_in_cpu_stay_on_the_host():
    """Llama 2 7B's shard (0.84e9 parameters a rank) is within max_in_cpu: nothing of the parameters is swapped, the
    NVMe holds the optimizer's 16 B a parameter only, and the step differs from the CPU offload's by the optimizer
    swap alone."""
    cpu, nvme = (estimate(_job("llama2-7b", device=d, overlap=False)) for d in ("cpu", "nvme"))
    assert P7 / 8 < 1e9
    assert _offload(nvme) - _offload(cpu) == pytest.approx(P7 / 8 * 32 / NVME, rel=1e-6)
    assert nvme["memory_per_gpu_bytes"]["host"] == pytest.approx(4 * P7 / 8 * 4 + (P7 / 8 + 5e8) * 2, rel=1e-9)
    assert "offload_device=nvme" in next(a for a in nvme["assumptions"] if a.startswith("training stack:"))


def _cli(job, tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(app, ["estimate", str(path)])
    return res.exit_code, (res.stdout or "") + (res.stderr or "")


def _torchtitan():
    j = _job()
    j["training"]["framework"] = {"name": "torchtitan", "optimizer_offload": True, "offload_device": "nvme"}
    return j


def _no_offload():
    j = _job()
    j["training"]["framework"] = {"name": "deepspeed", "offload_device": "nvme"}
    return j


@pytest.mark.parametrize("job, why", [
    (_job(zero=2, param=False), "zero 3 only"),
    (_torchtitan(), "it runs on deepspeed"),
    (_no_offload(), "set one of them true"),
    (_job(device="disk"), "cpu, nvme"),
    # p3.16xlarge: no local NVMe in the catalog (local_nvme_tb 0)
    (_job("llama3-8b", instance="p3.16xlarge", precision="fp16"), "p3.16xlarge has no local NVMe"),
    # Llama 3.1 405B's 7.3 TB of swapped state a node over p3dn.24xlarge's 1.8 TB
    (_job("llama3.1-405b", instance="p3dn.24xlarge", precision="fp16"), "needs 7.29 TB of local NVMe; p3dn.24xlarge "
                                                                       "has 1.8 TB"),
])
def test_nvme_offload_refusals(job, why, tmp_path):
    """DeepSpeed swaps from ZeRO-3 only, on deepspeed only, for an offload that is on, to a node whose local NVMe
    holds the swapped state: one line, exit 2."""
    code, out = _cli(job, tmp_path)
    assert code == 2, out
    assert out.strip().startswith("error: training.framework.offload_device:") and len(out.strip().splitlines()) == 1
    assert why in out


def test_recommend_leaves_out_plans_the_local_nvme_cannot_hold(tmp_path):
    """The search keeps NVMe plans to the nodes whose local NVMe holds the swapped state: Llama 3 70B, ZeRO-3, both
    offloads on one p4d.24xlarge (8 TB) is recommended; with a catalog override giving p4d 1 TB, every layout needs
    1.25 TB a node and the refusal names the NVMe, not the GPU's memory."""
    job = _job()
    del job["training"]["micro_batch"]
    job["parallel"] = {"tp": 1, "pp": 1, "zero": 3}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(app, ["recommend", str(path)])
    assert res.exit_code == 0 and "off:optimizer+param" in res.stdout, res.stdout + (res.stderr or "")
    small = tmp_path / "small_nvme.csv"
    small.write_text("cloud,name,local_nvme_tb\naws,p4d.24xlarge,1\n")
    res = CliRunner().invoke(app, ["recommend", str(path), "--catalog", str(small)])
    out = (res.stdout or "") + (res.stderr or "")
    assert res.exit_code == 2, out
    assert "fits in GPU and local NVMe" in out and "needs 1.25 TB of local NVMe a node (1 TB)" in out
