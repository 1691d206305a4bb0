"""DeepSpeed ZeRO-3's gathered parameters and FSDP2 CPU offload's per-unit copies, as the frameworks run them.

* DeepSpeed ZeRO-3 (planner.model.memory ``ds_zero3_live_elems``): deepspeed/runtime/zero/
  partitioned_param_coordinator.py gathers per submodule and prefetches whole parameters until
  ``stage3_max_live_parameters`` (default 1e9 elements) are available, the last one added overshooting the cap by up
  to one parameter; ``stage3_param_persistence_threshold`` (1e5) keeps the norms whole on every rank. Not the two
  whole layers FSDP holds.
"""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import ds_persistent_elems, ds_zero3_live_elems, largest_param_elems, memory_per_gpu
from planner.spec import load_job_dict
from planner.spec.params import count_params

#: Llama 3 8B / 70B: all parameters, one decoder layer, the LM head (128256 x hidden)
N8B, LAYER8B, HEAD8B = 8_030_261_248, 218_112_000, 128256 * 4096
LAYER70B, HEAD70B = 855_654_400, 128256 * 8192


def _job(framework, preset="llama3-8b", **fw):
    return load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 4096, "global_batch": 64, "optimizer": "adamw", "framework": {"name": framework, **fw}}})


def _cands(**kw):
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                nodes=1)
    base.update(kw)
    return Candidates(**{k: np.atleast_1d(v) for k, v in base.items()})


def _mem(job, **kw):
    return memory_per_gpu(job.model, job.training, _cands(**kw))


def test_largest_parameter_is_the_lm_head():
    assert largest_param_elems(_job("deepspeed").model, 1) == pytest.approx(HEAD8B)
    assert largest_param_elems(_job("deepspeed", "llama3-70b").model, 2) == pytest.approx(HEAD70B / 2)


def test_persistent_params_are_the_norms():
    """65 norms of 4096 (2 a layer + the final one) are under DeepSpeed's 1e5 threshold; none over it."""
    m = _job("deepspeed").model
    assert ds_persistent_elems(m, 1e5) == pytest.approx(65 * 4096)
    assert ds_persistent_elems(m, 1e3) == 0.0


def test_window_is_max_live_plus_one_parameter_capped_by_the_stage():
    assert ds_zero3_live_elems(N8B, HEAD8B, 1e9) == pytest.approx(1e9 + HEAD8B)
    assert ds_zero3_live_elems(5e8, HEAD8B, 1e9) == pytest.approx(5e8)


@pytest.mark.parametrize("preset,n_dp", [("llama3-8b", 8), ("llama3-8b", 64), ("llama3-70b", 8), ("llama3-70b", 64)])
def test_deepspeed_zero3_weights_are_the_shard_the_window_and_the_norms(preset, n_dp):
    """Weights of a DeepSpeed ZeRO-3 rank: its bf16 shard (2/N B a parameter) + the prefetch window (1e9 elements
    + the LM head, bf16) + the persistent norms whole (less the 1/N the shard already counts). The old rule held
    two whole layers: 8B 2 x 218M x 2 B = 0.87 GB where DeepSpeed holds 3.05 GB."""
    job = _job("deepspeed", preset)
    n = count_params(job.model).total
    head, layers = (HEAD8B, 32) if preset == "llama3-8b" else (HEAD70B, 80)
    h = 4096 if preset == "llama3-8b" else 8192
    persist = (2 * layers + 1) * h
    w = _mem(job, dp=n_dp, nodes=n_dp // 8)["weights"][0]
    assert w == pytest.approx(2 * n / n_dp + 2 * (1e9 + head) + 2 * persist * (1 - 1 / n_dp), rel=1e-6)


def _coordinator_peak(h, kv, f, V, L, bucket, live=1e9, reuse=1e9, persist=1e5):
    """Peak gathered elements of a re-enactment of DeepSpeed's ``PartitionedParameterCoordinator``
    (partitioned_param_coordinator.py: ``fetch_sub_module``'s fetch, trace-order prefetch under min(live -
    available, bucket), ``release_sub_module`` less the parameters reused within ``reuse`` elements) over a HF Llama
    module trace: forward, then per layer from the last its recomputed forward and its backward (each module's
    hook fires, containers without parameters too)."""
    params = {}

    def mod(name, *sizes):
        params[name] = [(f"{name}.{i}", n) for i, n in enumerate(sizes)]
        return name

    layers = [[mod(f"L{i}"), mod(f"L{i}.ln1", h), mod(f"L{i}.attn"), mod(f"L{i}.q", h * h), mod(f"L{i}.k", h * kv),
               mod(f"L{i}.v", h * kv), mod(f"L{i}.o", h * h), mod(f"L{i}.ln2", h), mod(f"L{i}.mlp"),
               mod(f"L{i}.gate", h * f), mod(f"L{i}.up", h * f), mod(f"L{i}.act"), mod(f"L{i}.down", f * h)]
              for i in range(L)]
    order = [mod("embed", V * h)] + [x for lay in layers for x in lay] + [mod("norm", h), mod("head", V * h)]
    order += ["head", "norm"] + [x for lay in reversed(layers) for x in lay + lay[::-1]] + ["embed"]
    size = {p: n for ps in params.values() for p, n in ps}
    queue = [(p, i) for i, name in enumerate(order) for p, _ in sorted(params[name])]
    qi, avail, n, peak, recent = 0, set(), 0, 0, {}
    for i, name in enumerate(order):
        ps = [p for p, _ in params[name] if size[p] > persist]
        for p in ps:
            if p not in avail:
                avail.add(p)
                n += size[p]
        for _ in [p for p, _ in params[name] if recent.get(p, -1) < i]:
            p, s = queue[qi]
            qi, recent[p] = qi + 1, s
        cap, got, new = min(live - n, bucket), 0, set()
        while qi < len(queue) and got < cap:
            p, s = queue[qi]
            qi, recent[p] = qi + 1, max(recent.get(p, -1), s)
            if size[p] > persist and p not in avail and p not in new:
                new.add(p)
                got += size[p]
        avail |= new
        n += sum(size[p] for p in new)
        peak = max(peak, n)
        rel, seen = {p for p in ps if recent.get(p, -1) <= i}, 0
        for later in order[i + 1:]:
            if seen >= reuse:
                break
            for p, k in params[later]:
                rel.discard(p)
                seen += k
        for p in rel & avail:
            avail.discard(p)
            n -= size[p]
    return peak


@pytest.mark.parametrize("bucket", [5e7, 0.9 * 4096 ** 2])
def test_window_matches_a_reenactment_of_the_coordinator(bucket):
    """Llama 3 8B at DeepSpeed's bucket (5e7) and the HF Trainer's "auto" (0.9 h^2): the re-enacted coordinator peaks
    at 1.515e9 elements (the LM head's turn), the planner's window 1.525e9 (an upper bound: the last prefetch
    rarely overshoots by a whole LM head)."""
    peak = _coordinator_peak(4096, 1024, 14336, 128256, 32, bucket, persist=1e5 if bucket == 5e7 else 40960)
    assert peak == pytest.approx(ds_zero3_live_elems(N8B, HEAD8B, 1e9), rel=0.02)
    assert peak <= ds_zero3_live_elems(N8B, HEAD8B, 1e9)


def test_fsdp_stacks_keep_two_layers():
    """FSDP (hf-trainer's accelerate FSDP, torchtitan's FSDP2) gathers per block: unchanged. torchtitan's FSDP2 holds
    its [norm, output] unit beside the last block too (memory.fsdp2_root_gather_params, "head"): the head less a layer."""
    w = _mem(_job("hf-trainer"))["weights"][0]
    w_ds = _mem(_job("deepspeed"))["weights"][0]
    assert w_ds - 2 * N8B / 8 > 3.0e9  # DeepSpeed's window
    m = _mem(_job("torchtitan"))
    head = HEAD8B + 4096  # the LM head and the final norm
    assert m["weights"][0] == pytest.approx((2 * LAYER8B + (head - LAYER8B)) * 2)
    assert w > 0


# --- FSDP2 CPUOffloadPolicy: host copies per all-gather and per reduce-scatter (planner.model.offload) ---

P5 = "aws:p5.48xlarge"


def _titan70(parallel, **fw):
    from planner.workloads.training import estimate_job

    from hardware_catalog import load_catalog
    t = {"seq_len": 4096, "global_batch": 64, "tokens": 1e9, "micro_batch": 1, "recompute": "full",
         "framework": {"name": "torchtitan", **fw}}
    job = load_job_dict({"model": {"preset": "llama3-70b"}, "training": t,
                         "cluster": {"instance": P5, "nodes": 1}, "parallel": parallel})
    return estimate_job(job, load_catalog())


def test_fsdp2_offload_copies_per_collective_exposed_where_they_accumulate():
    """Llama-3-70B, torchtitan ZeRO-3 on 8 H100 (p5: PCIe Gen5 x16, 64 GB/s x 0.8), 8 micro-batches: each gather
    copies the rank's fp32 shard in (70.6B / 8 x 4 B = 35 GB, 0.69 s), under the forward (1.1 s) and the backward
    (3.3 s); the first micro-batch's gradient copy out overlaps its backward, the 7 that accumulate copy
    synchronously: 7 x 0.69 s exposed. The old model priced one copy out beyond the last backward and one 16-bit
    copy in: 0.35 s."""
    on = _titan70({"tp": 1, "pp": 1, "dp": 8, "zero": 3}, optimizer_offload=True)
    local = count_params(_job("torchtitan", "llama3-70b").model).total / 8
    c = local * 4 / (64e9 * 0.8)
    assert on.detail["t_fwd_mb"] > c and on.detail["t_bwd_mb"] > c  # each copy hides under its pass
    assert on.breakdown_s.offload == pytest.approx(7 * c, rel=0.01)


def test_fsdp2_copies_formula():
    from types import SimpleNamespace

    from planner.model import offload
    hw = SimpleNamespace(gpu=SimpleNamespace(host_bw=64e9))
    bw = 64e9 * offload.PCIE_EFF
    c = 1e9 * 4 / bw  # 0.078 s
    one = lambda **kw: float(offload.fsdp2_copies_exposed(hw, 1e9, 4.0, **kw))
    # one micro-batch, copies shorter than the passes: all hidden
    assert one(m_micro=1, gather_per_mb=True, gather_bwd=True, reduce_per_mb=True, t_fwd_mb=1.0, t_bwd_mb=2.0) == 0.0
    # passes shorter than the copies: forward gathers m x (c - t_fwd), backward max(gather, reduce) - t_bwd
    got = one(m_micro=2, gather_per_mb=True, gather_bwd=True, reduce_per_mb=True, t_fwd_mb=0.05, t_bwd_mb=0.06)
    assert got == pytest.approx(2 * (c - 0.05) + (c - 0.06) + (c - 0.06) + c)
    # reduce once a step (a stage held gathered): no synchronous copies
    assert one(m_micro=4, gather_per_mb=False, gather_bwd=False, reduce_per_mb=False, t_fwd_mb=1.0,
               t_bwd_mb=2.0) == 0.0
