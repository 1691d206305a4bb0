"""stack48: DeepSpeed ZeRO-3 parameter offload (``offload_param``) as a deepspeed job option; the deepspeed stack's
recompute runs torch's checkpoint (transformers' ``gradient_checkpointing_enable``), with its early stop.

Hand-derived from deepspeedai/DeepSpeed deepspeed/runtime/zero (planner.model.offload docstring "Parameter
offload"): the rank's 16-bit partition (P / dp parameters x 2 B) leaves the GPU for a pinned host buffer
(stage3.py ``_create_param_groups_fp16_flat_cpu_memory``); each ZeRO-3 gather pass copies it in first
(partition_parameters.py ``param_ds_tensor.to(device)``, on the gathers' stream); the step's fp32 -> 16-bit copy
(``_reassign_or_swap_out_partitioned_parameters``) is host-to-host under optimizer offload (no copy back) and a copy
out after a GPU step. The host link: H100's PCIe Gen5 x16, 64 GB/s a direction nominal, at ``PCIE_EFF`` 0.8.
"""
import copy

import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.validate_offload import estimate
from planner.cli import app
from planner.model.step_time import BREAKDOWN_KEYS
from planner.search.explain import LABELS
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.spec.schema import ModelSpec
from test_offload47 import DS_JOB

P = count_params(ModelSpec(**PRESETS["llama3-8b"])).total
LINK = 64e9 * 0.8  # H100 PCIe Gen5 x16 per direction x PCIE_EFF
LAYERS = 32
GiB = 2**30


def _job(zero=3, gbs=64, overlap=True, **fw):
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = zero
    j["training"]["global_batch"] = gbs
    j["training"]["framework"] = {"name": "deepspeed", "overlap_grad_reduce": overlap, **fw}
    return j


def _offload(res):
    return res["breakdown_s"].get("offload", 0.0)


def test_param_offload_moves_the_zero3_partition_to_the_host():
    """Llama 3 8B ZeRO-3 on 8 H100 with optimizer offload: the weights lose the rank's 16-bit partition, P / 8 x
    2 B (1.870 GiB), and the host gains it; the gathered window stays (4.71 -> 2.84 GiB of weights)."""
    off, on = (estimate(_job(optimizer_offload=True, param_offload=p)) for p in (False, True))
    shard = P / 8 * 2.0
    m0, m1 = off["memory_per_gpu_bytes"], on["memory_per_gpu_bytes"]
    assert m0["weights"] - m1["weights"] == pytest.approx(shard, rel=1e-9)
    assert m1["host"] - m0["host"] == pytest.approx(shard, rel=1e-9)
    assert m1["weights"] / GiB == pytest.approx(2.84, abs=0.01)  # stage3_max_live_parameters' window + largest


def test_fetch_and_no_copy_back_with_both_offloads():
    """Hidden under the passes (overlap_comm), each micro-batch pays the first layer's fetch (fetch / L, as the first
    gather); the step no longer copies the 16-bit parameters back (the partition is the host's):
    offload(+param) - offload = m x f / L - f, f = P / 8 x 2 B / link (0.0392 s), m = 8 micro-batches."""
    off, on = (estimate(_job(optimizer_offload=True, param_offload=p)) for p in (False, True))
    f = P / 8 * 2.0 / LINK
    assert _offload(on) - _offload(off) == pytest.approx(8 * f / LAYERS - f, rel=1e-6)
    assert on["step_time_s"] - off["step_time_s"] == pytest.approx(8 * f / LAYERS - f, rel=1e-6)
    assert on["breakdown_s"]["comm_zero3"] == pytest.approx(off["breakdown_s"]["comm_zero3"], rel=1e-12)


def test_fetch_on_the_compute_stream_is_exposed_whole():
    """Without overlap_comm the gathers' stream is the default one (ds47b): both gather passes' fetches of every
    micro-batch are exposed, less the copy back the optimizer offload no longer makes: 8 x 2 x f - f."""
    off, on = (estimate(_job(overlap=False, optimizer_offload=True, param_offload=p)) for p in (False, True))
    f = P / 8 * 2.0 / LINK
    assert _offload(on) - _offload(off) == pytest.approx(8 * 2 * f - f, rel=1e-6)


def test_param_offload_alone_writes_the_updated_partition_back():
    """With the optimizer on the GPU: the first layer's fetch per micro-batch, plus the updated partition copied out
    after the GPU step (fp32 on the GPU into the host 16-bit buffer): m x f / L + f."""
    off, on = (estimate(_job(param_offload=p)) for p in (False, True))
    f = P / 8 * 2.0 / LINK
    assert _offload(off) == 0.0
    assert _offload(on) == pytest.approx(8 * f / LAYERS + f, rel=1e-6)
    assert "param_offload=on" in next(a for a in on["assumptions"] if a.startswith("training stack:"))


def _cli(job, tmp_path, cmd="estimate"):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    res = CliRunner().invoke(app, [cmd, str(path)])
    return res.exit_code, (res.stdout or "") + (res.stderr or "")


@pytest.mark.parametrize("job, why", [
    (_job(zero=2, param_offload=True), "zero 3 only"),
    ({**_job(), "training": {**_job()["training"], "framework": {"name": "torchtitan", "param_offload": True}}},
     "it runs on deepspeed"),
])
def test_param_offload_refused_off_zero3_and_off_deepspeed(job, why, tmp_path):
    """DeepSpeed reads offload_param at stage 3 only; stacks without the switch refuse it: one line, exit 2."""
    code, out = _cli(job, tmp_path)
    assert code == 2
    assert out.strip().startswith("error: training.framework.param_offload:") and len(out.strip().splitlines()) == 1
    assert why in out


def test_search_offloads_parameters_only_where_nothing_else_fits(tmp_path):
    """Left open, the offload is a fallback: Llama 3 8B on one A10 (24 GB) with the optimizer offloaded does not fit
    (16 GB of weights), and the search takes optimizer+param; on 8 H100 it fits without and stays off."""
    small = _job(gbs=16, optimizer_offload=True)
    small["parallel"] = {"tp": 1, "pp": 1, "dp": 1, "zero": 3}
    small["cluster"] = {"gpu": "A10-24GB", "gpus_per_node": 1, "nodes": 1}
    small["training"]["seq_len"] = 2048
    code, out = _cli(small, tmp_path, "recommend")
    assert code == 0, out
    assert "off:optimizer+param" in out
    code, out = _cli(_job(optimizer_offload=True), tmp_path, "recommend")
    assert code == 0, out
    assert "off:optimizer+param" not in out and "off:optimizer" in out


def test_every_breakdown_part_has_a_row():
    """The "where the step goes" table lists every part of the step: until stack48 the offload's seconds had no row,
    so an offloading plan's rows did not add up to its step."""
    assert set(BREAKDOWN_KEYS) <= set(LABELS)


def test_deepspeed_recompute_stops_early():
    """transformers' gradient_checkpointing_enable runs torch's non-reentrant checkpoint (transformers 5), which stops
    once the last tensor the backward reads is saved again: the MLP down projection is not re-run. Its share of the
    recomputed GEMM time is its share of the layer's linear parameters, h x ffn / (h x (2h + 2 kv_h) + 3 h x ffn)
    (Llama 3 8B: 0.269), within the GEMMs' shape efficiency (3%); use_reentrant: true re-runs it all."""
    j = _job(zero=0)
    j["parallel"]["zero"] = 0
    early = estimate(j)
    j["training"]["framework"]["use_reentrant"] = True
    whole = estimate(j)
    j["training"]["recompute"] = "none"
    j["training"]["framework"].pop("use_reentrant")
    none = estimate(j)
    g = {k: r["breakdown_s"]["compute_gemm"] for k, r in (("early", early), ("whole", whole), ("none", none))}
    h, ffn, kv = 4096, 14336, 1024
    share = h * ffn / (h * (2 * h + 2 * kv) + 3 * h * ffn)
    assert (g["whole"] - g["early"]) / (g["whole"] - g["none"]) == pytest.approx(share, rel=0.03)
    line = next(a for a in early["assumptions"] if a.startswith("training stack:"))
    assert "recompute_early_stop=on" in line and "use_reentrant=off" in line
