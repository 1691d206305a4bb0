"""FP8 parameter all-gather under Megatron-FSDP and Megatron-Core activation offload by layer count (fp8gather pass,
2026-12-03): each with the check that failed before its fix."""
from __future__ import annotations

import shlex
from types import SimpleNamespace

import numpy as np
import pytest

from planner.errors import InputError
from planner.hardware.options import option_from_cluster
from planner.model import offload, step_time
from planner.model.stacks import STACKS, from_training
from planner.model.stack_kernels import fp8_param_gather_on, fp8_weights_as_stored
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(framework: dict, zero=3, gpu="B200-SXM-180GB", nodes=8, precision="fp8", recompute="none", preset="llama3-70b"):
    return load_job_dict({"model": {"preset": preset},
                          "training": {"seq_len": 8192, "global_batch": 128, "micro_batch": 1, "precision": precision,
                                       "recompute": recompute, "tokens": 1e12,
                                       "framework": {"name": "megatron-core", **framework}},
                          "parallel": {"tp": 1, "pp": 1, "cp": 1, "zero": zero},
                          "cluster": {"gpu": gpu, "nodes": nodes, "gpus_per_node": 8}})


def _dp(job, zero):
    st = from_training(job.training)
    hw = option_from_cluster(job.cluster, None, None, job.training.precision)
    one = lambda x: np.array([x])
    dp = job.cluster.nodes * 8
    return st, step_time._dp_terms(job.model, job.training, hw, (one(1), one(1), one(1), one(dp), one(1), one(zero)),
                                   None, st, etp=one(1))


def test_zero3_gathers_at_the_width_memory_stores():
    """Megatron-FSDP under --fp8-param-gather: memory held FP8 weights (fp8_weights_as_stored) while ZeRO-3's
    per-unit gathers moved 16-bit ones. Now ZeRO-3's gather is ZeRO-1's FP8 parameter gather plus the per-unit
    latency; before, it was the 16-bit gather (about 1.9x the bytes for Llama 3 70B)."""
    job = _job({"megatron_fsdp": True})
    st, d3 = _dp(job, 3)
    assert fp8_weights_as_stored(st, job.training, 3) and fp8_param_gather_on(st, job.training, np.array([3]))[0]
    _, d1 = _dp(job, 1)  # the same group and parameters: its param_gather is the FP8-width gather (1 B / 2 B ends)
    assert d1["param_gather"][0] < 0.6 * d3["ag"][0]  # ag: the 16-bit gather
    # the per-unit latency hops, from a bf16 run of the same layout (which keeps the 16-bit gather)
    _, b3 = _dp(_job({"megatron_fsdp": True}, precision="bf16"), 3)
    lat = b3["ag3"][0] - b3["ag"][0]
    assert d3["ag3"][0] == pytest.approx(d1["param_gather"][0] + lat, rel=1e-9)


def test_offload_layers_transfer_time_from_its_formula():
    """--cpu-offloading-num-layers N: N layers' saved activations out in the forward and back in the backward over
    the host link, exposed beyond each pass. Before, every layer but three moved whatever the count."""
    st = STACKS["megatron-core"].with_options(activation_offload=True, activation_offload_layers=5)
    hw = option_from_cluster(_job({}).cluster, None, None, "fp8")
    job = _job({"activation_offload": True, "activation_offload_layers": 5})
    m, t = job.model, job.training
    c = SimpleNamespace(tp=np.array([1]), cp=np.array([1]), sp=np.array([0]), mb=np.array([1]), rc=np.array([0]))
    act_b = 2.0
    layer = offload.activation_layer_bytes(m, t, c, act_b, st)[0]
    bw = offload.host_link_bps(hw)
    moved = 5 * layer / bw
    fwd, bwd = 0.5 * moved, 2.0 * moved  # a forward shorter than the copies: exposed, the backward longer: hidden
    got = offload.activation_exposed_mb(st, m, t, c, hw, act_b, np.array([80.0]), np.array([fwd]), np.array([bwd]))
    assert got[0] == pytest.approx(moved - fwd, rel=1e-9)
    assert offload.offloaded_layers(80.0, st) == 5.0
    assert offload.resident_layers(80.0, st) == 75.0  # the 75 not offloaded (TE's OffloadSynchronizer, mbmem38)
    everything = STACKS["megatron-core"].with_options(activation_offload=True)
    assert offload.offloaded_layers(80.0, everything) == 79.0 and offload.resident_layers(80.0, everything) == 1.0


def test_c2c_superchips_take_their_host_link():
    """GB200 / GB300 have no PCIe host link in the catalog (NVLink-C2C to Grace): they fell back to Gen4's 32 GB/s."""
    hw = option_from_cluster(_job({}, gpu="GB200-B200", nodes=1).cluster, None, None, "fp8")
    assert offload.host_link_bps(hw) == pytest.approx(225e9 * offload.PCIE_EFF)


def test_offload_layers_refusals():
    """Megatron-Core refuses cpu_offloading_num_layers >= num_layers; the count needs the offload on; a stack
    without activation offload refuses the option."""
    with pytest.raises(InputError) as e:
        estimate_job(_job({"activation_offload": True, "activation_offload_layers": 80}))
    assert e.value.field == "training.framework.activation_offload_layers" and "last layer" in e.value.message
    assert estimate_job(_job({"activation_offload": True, "activation_offload_layers": 79}))  # num_layers - 1 runs
    with pytest.raises(InputError) as e:
        from_training(_job({"activation_offload_layers": 5}).training)
    assert e.value.field == "training.framework.activation_offload_layers"
    with pytest.raises(InputError):
        STACKS["torchtitan"].with_options(activation_offload_layers=5)


def test_emit_writes_the_offloaded_layer_count():
    from planner.present.emit import emit_launch_spec

    job = _job({"activation_offload": True, "activation_offload_layers": 5, "megatron_fsdp": False}, zero=1)
    best = estimate_job(job)
    f = shlex.split(emit_launch_spec(job, best, "torchrun:megatron"), comments=True)
    assert "--cpu-offloading" in f and f[f.index("--cpu-offloading-num-layers") + 1] == "5"
