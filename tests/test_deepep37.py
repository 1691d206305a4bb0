"""The MoE token dispatcher's own communication buffers are in the memory model (QA 51: DeepEP's NVLink + RDMA
buffers, about 0.75 GB a rank at EP 64, were nowhere in the breakdown; HybridEP's worst-case token buffers neither).
Each expected number is written out from the source formula (deepseek-ai/DeepEP csrc/config.hpp size hints,
csrc/hybrid_ep/buffer/intranode.cu / internode.cu allocations), not from the planner's own functions."""
import dataclasses

import numpy as np
import pytest
import yaml

from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

GiB = 2**30


def _job(dispatcher, preset="deepseek-v3", ep=64, pp=16, dp=128, nodes=256, gpu="H100-SXM-80GB", gpn=8, tp=1):
    return load_job_dict(yaml.safe_load(
        f"model: {{preset: {preset}}}\n"
        "training: {seq_len: 4096, global_batch: 15360, micro_batch: 1, precision: bf16, tokens: 1e12,"
        f" recompute: selective, framework: {{name: megatron-core, moe_dispatcher: {dispatcher}}}}}\n"
        f"parallel: {{tp: {tp}, pp: {pp}, ep: {ep}, etp: 1, dp: {dp}, zero: 1}}\n"
        # the network stated (400 Gb/s a GPU, the reference rows'): a bare cluster's is otherwise its reference
        # instance's, EFA on H100 / B200, which no flex dispatcher crosses (moedisp47b: estimate refuses it there)
        f"cluster: {{gpu: {gpu}, gpus_per_node: {gpn}, nodes: {nodes}, inter_node_gbps: {400 * gpn}}}\n"))


def _r128(x):
    return -(-x // 128) * 128


def test_deepep_buffer_is_the_size_hints_megatron_allocates():
    """DeepSeek-V3 (hidden 7,168 -> hidden_bytes 14,336) at EP 64 with 20 SMs (10 channels), 8 NVLink peers and 8
    RDMA ranks: the NVL recv tokens 288 (both configs), the RDMA recv 128 aligned to the send tokens 28 / 20 -> 140;
    per-token metadata 128 int64 + 128 float + 128 float scales + 8 (SourceMeta)."""
    from planner.model.moe import deepep_buffer_bytes

    meta = 128 * 8 + 128 * 4 + 128 * 4 + 8
    nvl = _r128(10 * 8 * (2 * 8 + 3) * 4 + 10 * 8 * 288 * (14336 + meta)) + 32 * 2**20
    rdma = _r128(10 * 8 * (8 * 2 + 2) * 2 * 4 + 2 * 10 * 8 * 140 * (14336 + meta + 16) + 2**20)
    got = deepep_buffer_bytes(7168, np.array([64, 8, 1]))
    assert got[0][0] == nvl and got[1][0] == rdma
    assert (got[0][0] + got[1][0]) / GiB == pytest.approx(0.726, abs=1e-3)  # QA 51's "about 0.75 GB"
    # EP 8: one node, NVLink only (256 recv tokens), no RDMA buffer; a group of one has no dispatcher
    assert got[0][1] == _r128(10 * 8 * 5 * 4 + 10 * 8 * 256 * (14336 + meta)) + 32 * 2**20 and got[1][1] == 0
    assert got[0][2] == 0 and got[1][2] == 0


def test_hybridep_buffer_is_sized_for_every_token_on_one_rank():
    """Qwen3-235B-A22B (hidden 4,096, 128 experts) at EP 32 on 8-GPU nodes, 4,096 tokens a rank: R = 8, N = 4,
    4 local experts. NVLink: T x 32 rows of 2h + 4 E R + 4 h/128 bytes; RDMA: the dispatch's own rows, its
    (N-1) inter-node rows, and the combine's two (N-1) token + prob buffers."""
    from planner.model.moe import hybridep_buffer_bytes

    t, h, e, r, n = 4096, 4096, 4, 8, 4
    nvl = t * r * n * (2 * h + 4 * e * r + 4 * (h // 128))
    rdma = (t * (2 * h + 4 * e * r * n + 4 * (h // 128)) + t * (n - 1) * (2 * h + 4 * e * r + 4 * (h // 128))
            + 2 * t * (n - 1) * (2 * h + 4 * e * r))
    got = hybridep_buffer_bytes(h, t, 32, 8, 4)
    assert float(got[0]) == nvl and float(got[1]) == rdma
    # fewer than 512 tokens a rank: sized for 512 (HybridEPBuffer's floor); one node: no RDMA buffers
    small = hybridep_buffer_bytes(h, 100, 8, 8, 16)
    assert float(small[0]) == 512 * 8 * (2 * h + 4 * 16 * 8 + 4 * 32) and float(small[1]) == 0.0


def test_estimate_counts_the_dispatcher_buffers_in_other():
    """DeepSeek-V3 TP1 PP16 EP64 on 256 x 8 H100: the all-to-all dispatcher holds no buffer of its own; DeepEP's
    0.73 GiB and HybridEP's 4.81 GiB are in ``other`` (and the total), named in ``comm_buffers``. Until deepep37 all
    three read the same total. The step time does not move (no time term changes). Since a2aperm37 the all-to-all
    dispatcher's plan holds its permute / all-to-all copies as a transient (0.88 GiB here) the others do not."""
    from planner.model.activations import moe_a2a_transient
    from planner.model.memory import FRAGMENTATION

    plans = {d: estimate_job(_job(d)) for d in ("alltoall", "deepep", "hybridep")}
    a2a = plans["alltoall"].memory_per_gpu_bytes
    assert a2a.comm_buffers == 0.0
    for d, want in (("deepep", 0.726), ("hybridep", 4.81)):
        mem = plans[d].memory_per_gpu_bytes
        assert mem.comm_buffers / GiB == pytest.approx(want, abs=0.01)
        # the all-to-all dispatcher's unsaved copies are an activation transient the flex dispatchers do not hold
        # (a2aperm37, activations.moe_a2a_transient), its allocator fragmentation in ``other`` with them
        dact = mem.activations + mem.logits - a2a.activations - a2a.logits
        assert -dact == pytest.approx(moe_a2a_transient(_job(d).model, 4096, 1, 1, 1, 64, 2), rel=1e-9)
        assert mem.other - a2a.other == pytest.approx(mem.comm_buffers + FRAGMENTATION * dact, rel=1e-9)
        assert mem.total - a2a.total == pytest.approx(mem.comm_buffers + (1 + FRAGMENTATION) * dact, rel=1e-9)
    assert plans["deepep"].step_time_s == pytest.approx(estimate_job(_job("deepep")).step_time_s, rel=1e-12)


def test_buffers_are_outside_the_allocator_and_follow_the_micro_batch():
    """The buffers are cudaMalloc / NVSHMEM / IPC allocations (``outside_allocator``); HybridEP's grow with the
    rank's tokens (micro-batch x seq / (cp x tp)), DeepEP's do not."""
    from planner.layout import Candidates
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import from_training

    job = _job("hybridep")
    one = lambda **k: Candidates(**{f: np.array([v]) for f, v in {  # noqa: E731
        **dict(tp=1, pp=16, dp=128, cp=1, ep=64, vpp=1, zero=1, mb=1, rc=1, sp=False, schedule=0, gpus_per_node=8,
               nodes=256, etp=1), **k}.items()})
    base = from_training(job.training, model=job.model)
    a2a = memory_per_gpu(job.model, job.training, one(), stack=dataclasses.replace(base, moe_dispatcher="alltoall"))
    for d in ("hybridep", "deepep"):
        st = dataclasses.replace(base, moe_dispatcher=d)
        m1 = memory_per_gpu(job.model, job.training, one(), stack=st)
        m2 = memory_per_gpu(job.model, job.training, one(mb=2), stack=st)
        assert m1["comm_buffers"][0] > 0
        assert m1["outside_allocator"][0] - a2a["outside_allocator"][0] == pytest.approx(m1["comm_buffers"][0])
        if d == "hybridep":
            assert m2["comm_buffers"][0] == pytest.approx(2 * m1["comm_buffers"][0], rel=1e-9)
        else:
            assert m2["comm_buffers"][0] == m1["comm_buffers"][0]


def test_dense_model_and_alltoall_hold_no_dispatcher_buffer():
    """Llama-3-8B with ``moe_dispatcher: deepep`` (the stack accepts it; the model has no MoE) and Qwen3-235B-A22B
    on the all-to-all dispatcher: 0."""
    dense = estimate_job(load_job_dict(yaml.safe_load(
        "model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, micro_batch: 1, tokens: 1e9,"
        " framework: {name: megatron-core, moe_dispatcher: deepep}}\nparallel: {tp: 1, pp: 1, dp: 8}\n"
        "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}\n")))
    assert dense.memory_per_gpu_bytes.comm_buffers == 0.0
    q = estimate_job(_job("alltoall", preset="qwen3-235b-a22b", ep=32, pp=8, dp=64, nodes=64, gpu="H200-SXM-141GB"))
    assert q.memory_per_gpu_bytes.comm_buffers == 0.0
