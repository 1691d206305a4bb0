"""FSDP2 follow-ups (amroot, 2026-12-02): NeMo AutoModel's units outside the blocks (``Stack.fsdp2_root``), and
FSDP2 ``CPUOffloadPolicy``'s host copies (planner.model.offload ``fsdp2_copies_exposed``) on ZeRO-2 and on a frozen
base."""
from dataclasses import replace

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import stacks
from planner.model.memory import fsdp2_root_gather_params, memory_per_gpu
from planner.spec import load_job_dict
from planner.spec.params import count_params

LAYER8B = 218_112_000
EMB8B = 128_256 * 4096
HEAD8B = EMB8B + 4096  # LM head + final norm


def _mem(preset="llama3-8b", raf=True, root=None, **kw):
    job = load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "megatron", "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": {"name": "nemo-automodel"}}})
    st = stacks.resolve("nemo-automodel", reshard_after_forward=raf)  # an option set (a dense model's default is on)
    st = st if root is None else replace(st, fsdp2_root=root)
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8, nodes=1)
    base.update(kw)
    return job, memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}),
                               stack=st)


# --- 1. NeMo AutoModel's FSDP2 root: dense models' root unit, MoE models' own head unit ---

def test_automodel_root_by_model_kind():
    """distributed/parallelizer.py (dense): blocks per unit, then fully_shard(model, reshard_after_forward=False):
    the embedding, final norm and head gathered all step; moe/parallelizer.py apply_fsdp: embedding and head their
    own units (the "head" case)."""
    assert stacks.resolve("nemo-automodel").fsdp2_root == "embed_head|head"
    assert fsdp2_root_gather_params("embed_head|head", 10.0, 4.0, 3.0) == 10.0
    assert fsdp2_root_gather_params("embed_head|head", 10.0, 4.0, 3.0, moe=True) == 1.0


def test_automodel_dense_root_unit_in_memory():
    """Llama 3 8B, ZeRO-3 with reshard after forward on 8 GPUs: the two blocks in flight plus the whole root unit
    (2 x 128256 x 4096 + 4096 parameters, 1.96 GiB in bf16). Was the two blocks only."""
    _, m = _mem()
    assert m["weights"][0] == pytest.approx(2 * (2 * LAYER8B) + 2 * (EMB8B + HEAD8B))


def test_automodel_moe_head_unit_in_memory():
    """Mixtral 8x7B (a MoE model: moe/parallelizer.py): the head (131M parameters) is gathered beside the last block
    prefetched, which the blocks' window (2 x a 1.6B-parameter block) already covers: nothing more, where the dense
    path's root unit would add the embedding and head."""
    _, m = _mem("mixtral-8x7b")
    _, none = _mem("mixtral-8x7b", root="")
    assert m["weights"][0] == pytest.approx(none["weights"][0])
    _, root = _mem("mixtral-8x7b", root="embed_head")
    assert root["weights"][0] > m["weights"][0] + 2 * 2 * 32000 * 4096 * 0.99


# --- 2./3. FSDP2 CPUOffloadPolicy's copies (offload.fsdp2_copies_exposed) ---

def _titan70(zero, raf=True, seq=512, mode=None, name="torchtitan", **kw):
    from hardware_catalog import load_catalog

    from planner.workloads.training import estimate_job
    t = {"seq_len": seq, "global_batch": 64, "tokens": 1e9, "micro_batch": 1, "recompute": "full",
         "framework": {"name": name, "optimizer_offload": True, "reshard_after_forward": raf}}
    if mode:
        t["mode"] = mode
    job = load_job_dict({"model": {"preset": "llama3-70b"}, "training": t,
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                         "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": zero, **kw}})
    return job, estimate_job(job, load_catalog())


def test_fsdp2_zero2_offload_gathers_every_micro_batch():
    """torchtitan ZeRO-2 = fully_shard(reshard_after_forward=False): the post-backward hook frees the unsharded
    weights, so each of the 8 micro-batches' forwards gathers again and copies the fp32 shard in first
    (70.6B / 8 x 4 B over 51.2 GB/s = 0.69 s against a 0.14 s forward at seq 512). Priced as ZeRO-3 without reshard
    (step_time's fsdp_z2 rows enter fsdp2_copies_exposed as ZeRO-3 rows), not one gather per step:
    8 x (c - t_fwd) + (c - t_bwd) + 7 c = 9.51 s, where one gather a step would be 5.64 s."""
    job, z2 = _titan70(2)
    _, z3 = _titan70(3, raf=False)
    c = count_params(job.model).total / 8 * 4 / (64e9 * 0.8)
    tf, tb = z2.detail["t_fwd_mb"], z2.detail["t_bwd_mb"]
    assert c > tf and c > tb
    assert z2.breakdown_s.offload == pytest.approx(z3.breakdown_s.offload)
    assert z2.breakdown_s.offload == pytest.approx(8 * (c - tf) + (c - tb) + 7 * c, rel=0.01)


def test_fsdp2_lora_offload_copies_the_frozen_base_in():
    """Llama-3-70B LoRA, torchtitan ZeRO-3 (reshard after forward) on 8 H100, seq 512: CPUOffloadPolicy puts every
    parameter's shard on the host (FSDPParam._init_sharded_param), the frozen bf16 base's too, so each gather --
    the forward's and the backward's, per micro-batch -- copies it in (70.6B / 8 x 2 B over 51.2 GB/s = 0.34 s
    against a 0.14 s forward and a 0.30 s backward); only the adapters' fp32 gradients are copied out
    (post_backward reduces only parameters with a gradient). Was 0.014 s (the adapters' copies alone)."""
    from planner.model.finetune import adapter_params, frozen_storage_bytes

    job, r = _titan70(3, mode="lora")
    m, t = job.model, job.training
    total = count_params(m).total
    bw = 64e9 * 0.8
    assert frozen_storage_bytes(m, t) == pytest.approx(2 * total)  # the base in bf16
    c = adapter_params(m, t) / 8 * 4 / bw
    c_in = c + total / 8 * 2 / bw
    tf, tb = r.detail["t_fwd_mb"], r.detail["t_bwd_mb"]
    assert c_in > tb > tf
    want = 8 * (c_in - tf) + (c_in - tb) + 7 * ((c_in - tb) + c)
    assert r.breakdown_s.offload == pytest.approx(want, rel=0.01)
    assert r.breakdown_s.offload > 1.0


def test_fsdp2_copies_formula_frozen_bytes():
    """The base goes in with every gather and never out: one micro-batch, passes shorter than the copies."""
    from types import SimpleNamespace

    from planner.model import offload
    hw = SimpleNamespace(gpu=SimpleNamespace(host_bw=64e9))
    bw = 64e9 * offload.PCIE_EFF
    c, base = 1e7 * 4 / bw, 1e9 * 2 / bw
    got = float(offload.fsdp2_copies_exposed(hw, 1e7, 4.0, m_micro=2, gather_per_mb=True, gather_bwd=False,
                                             reduce_per_mb=True, t_fwd_mb=0.01, t_bwd_mb=0.01, frozen_bytes=2e9))
    assert got == pytest.approx(2 * (c + base - 0.01) + 0.0 + 1 * (0.0 + c))


def test_fsdp2_lora_offload_moves_the_base_shard_to_the_host():
    """The same job at seq 4096: CPUOffloadPolicy keeps the frozen base's bf16 shard (70.6B / 8 x 2 B = 16.4 GiB) on
    the host, not the GPU (it was counted on the GPU: weights 20.8 GiB, host 2.3 GiB)."""
    job, r = _titan70(3, mode="lora", seq=4096)
    mm = r.memory_per_gpu_bytes
    shard = count_params(job.model).total / 8 * 2
    assert mm.host > shard
    assert mm.weights < 5 * 2**30  # two layers gathered and the head, no base shard
