"""torchtitan's per-op SAC: the bytes the planner keeps (``activations.op_sac_saved_tensors``) and the FLOPs it re-runs
(``flops.op_sac_recompute_flops_per_token``), both read off ``flops.op_sac_block``, against torch's real selective
checkpointing run with torchtitan's policy on tiny torchtitan-style dense and MoE blocks (tests/op_sac_truth.py: fused
and separate QKV, several sequence lengths, widths and micro-batches)."""
import pytest

torch = pytest.importorskip("torch")

from tests import op_sac_truth as T  # noqa: E402
from planner.model.activations import SELECTIVE, layer_activation_bytes, op_sac_saved_tensors  # noqa: E402
from planner.model.flops import op_sac_block, op_sac_recompute_flops_per_token, step_flops  # noqa: E402

CASES = list(T.CASES)


@pytest.mark.parametrize("case", CASES)
def test_op_sac_bytes_match_torch_sac(case):
    """Per-layer bytes the forward leaves alive under torch SAC with torchtitan's policy = the planner's op-SAC rows
    (0.5% allowed; exact on these shapes). Before the rows followed the policy, fused QKV was 3-12% low and MoE
    layers kept the attention-core table (+300-380%)."""
    kw = T.CASES[case]
    measured = T.per_layer_bytes(**kw)
    assert T.predicted(kw) == pytest.approx(measured, rel=0.005), (T.predicted(kw), measured)


def test_alive_storage_measure_equals_saved_tensors_hooks():
    """The truth's measure (storages alive after the forward) against ``saved_tensors_hooks`` (one count per storage)
    without checkpointing, where the hooks see every saved tensor: the two methods agree."""
    import torch.nn as nn

    kw = T.CASES["moe s128 h256 b2 fused, 1 shared"]

    def hooked(layers):
        torch.manual_seed(0)
        blocks = nn.ModuleList(T.Block(kw["h"], kw["heads"], kw["kv_heads"], kw["f"], kw["fused"], kw["moe"])
                               for _ in range(layers)).to(torch.bfloat16)
        s, d = kw["seq"], kw["h"] // kw["heads"]
        cos, sin = torch.ones(s, d, dtype=torch.bfloat16), torch.zeros(s, d, dtype=torch.bfloat16)
        x0 = torch.randn(kw["batch"], s, kw["h"], dtype=torch.bfloat16, requires_grad=True)
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            x = x0
            for blk in blocks:
                x = blk(x, cos, sin)
        skip = {t.untyped_storage().data_ptr() for t in (x0, cos, sin, *blocks.parameters())}
        return sum(n for p, n in seen.items() if p not in skip)

    by_hooks = (hooked(3) - hooked(1)) / 2
    assert T.per_layer_bytes(mode="none", **kw) == pytest.approx(by_hooks, rel=1e-9)


@pytest.mark.parametrize("case", ["dense s128 h256 b2 fused", "moe s128 h256 b2 unfused, 1 shared"])
def test_sac_cache_measure_equals_alive_storages(case):
    """The tensor-parallel check's measure (the SAC caches and the checkpoints' inputs) equals the storages alive
    after the forward on one rank, per layer: nothing else is kept under op SAC."""
    kw = T.CASES[case]
    assert (T.kept_bytes(3, measure="cache", **kw) - T.kept_bytes(1, measure="cache", **kw)
            == T.kept_bytes(3, **kw) - T.kept_bytes(1, **kw))


@pytest.mark.parametrize("name,world,sp,case", T.TP_CASES)
def test_op_sac_bytes_match_torch_sac_under_tp(name, world, sp, case):
    """torchtitan's TP plan (DTensor colwise/rowwise, sequence-parallel norms with SP) on two gloo ranks under the same
    SAC: the column-parallel outputs are split, the row-parallel mm's partial sum is the full width on each rank, and
    under SP the reduce-scatter outputs are kept too -- as the planner's rows say (exact). The truth is measured once
    (``python tests/op_sac_truth.py --write`` -> tests/data/op_sac_tp_truth.json: spawning the gloo ranks takes ~30 s
    a case); the single-rank cases above run live and use the same measure (test_sac_cache_measure_equals_alive_storages)."""
    kw = T.CASES[case]
    assert T.predicted(kw, world, sp) == pytest.approx(T.tp_truth()[name], rel=0.005)


@pytest.mark.parametrize("name,world,case", T.EP_CASES)
def test_op_sac_bytes_match_torch_sac_under_ep(name, world, case):
    """torchtitan's expert parallelism (``ExpertParallel``'s dispatch and combine: real ``all_to_all_single`` calls
    on two gloo ranks, the counts exchange, the expert-major permutation, the local experts' grouped mm) under op SAC
    with the MoE models' save list, which holds ``all_to_all_single``: the SAC caches keep both exchanges' outputs,
    top_k x h per token each on average over the ranks, and the counts exchange's output (one int64 per expert, the
    same functional op under no_grad), as the planner's rows say -- exact. Without the exchanges' rows the planner
    would be 42-50% low here; until 2026-12-03 the counts were left out (64 B a layer here). The storages alive
    after the forward also hold the expert-major permutation torchtitan keeps on the module (an index per routed
    row, int32 here, int64 in later torchtitan; not priced): within 0.5%."""
    kw = T.CASES[case]
    truth, alive = T.tp_truth()[name], T.tp_truth("alive_bytes_per_layer")[name]
    pred = T.predicted(kw, ep=world)
    assert pred == truth
    assert alive - truth == kw["seq"] * kw["batch"] * kw["moe"]["top_k"] * 4  # the permutation, int32 per routed row
    assert pred == pytest.approx(alive, rel=0.005)
    # the exchanges are all that EP adds: the single-rank block (no all-to-all) keeps the rest
    a2a = 2 * kw["seq"] * kw["batch"] * kw["moe"]["top_k"] * kw["h"] * 2
    assert truth - a2a - kw["moe"]["experts"] * 8 == T.per_layer_bytes(**kw)


@pytest.mark.parametrize("name,world,tp,ep,case", T.EPTP_CASES)
def test_op_sac_bytes_match_torch_sac_under_ep_and_tp(name, world, tp, ep, case):
    """Expert parallelism combined with tensor parallelism on four gloo ranks (data parallel 2 x TP 2 with sequence
    parallelism; EP 2 over the TP ranks or EP 4 over all, expert-TP 1): torchtitan's TP plan on the attention and
    the MoE block (``tp_plan``: the MoE's input all-gathered, its output a partial sum reduce-scattered, the shared
    experts' w2 left partial), the routed tokens split over the TP ranks (``ReordererSequenceParallel``) before
    ``ExpertParallel``'s exchanges. Per rank, mean over the ranks, the SAC caches and block inputs equal the
    planner's rows to the byte (0.5% allowed): the exchanges over the rank's 1/tp of the tokens, the counts
    exchange whole, and one reduce-scatter output for the MoE's output, shared experts or not -- until 2026-12-03
    the rows reduce-scattered the shared experts' w2 instead, so a block without shared experts missed it (-10%
    here). EP 2 and EP 4 keep the same (only the exchanges' partners differ). The storages alive after the forward
    add the permutation (an index per routed row the rank receives: int32 x top_k x its 1/tp of the tokens)."""
    kw = T.CASES[case]
    truth, alive = T.tp_truth()[name], T.tp_truth("alive_bytes_per_layer")[name]
    pred = T.predicted(kw, tp, True, ep=ep)
    assert pred == pytest.approx(truth, rel=0.005), (pred, truth)
    tokens = kw["seq"] * kw["batch"] / tp
    assert alive - truth == tokens * kw["moe"]["top_k"] * 4
    # against the same block measured on two ranks at EP 2 without TP: TP splits all it keeps but the row-parallel
    # partial sum (the shared experts' w2: under fused QKV wo is re-run, not kept) and the counts, and adds the two
    # reduce-scatter outputs (wo's and the MoE's), h / tp each
    ep_only = T.tp_truth()[f"{case} EP2"]
    h, counts = kw["h"], kw["moe"]["experts"] * 8
    row = kw["seq"] * kw["batch"] * 2 * h * (kw["moe"]["shared"] > 0)
    assert truth - counts - row == pytest.approx((ep_only - counts - row) / tp + 2 * tokens * h * 2)


def test_tp_truth_covers_every_tp_case():
    """The stored truth was measured for exactly the TP, EP and EP + TP cases the module lists (a new case needs
    ``--write``)."""
    assert set(T.tp_truth()) == {name for name, *_ in T.TP_CASES + T.EP_CASES + T.EPTP_CASES}
    assert set(T.tp_truth("alive_bytes_per_layer")) == {name for name, *_ in T.EP_CASES + T.EPTP_CASES}


@pytest.mark.parametrize("case", T.MATH_CASES)
def test_op_sac_bytes_match_torch_sac_math_sdpa(case):
    """On torch's math SDPA path (no flash kernel) the policy sees bmm and softmax, none in the save list: the block
    keeps nothing of its attention core, as the planner's rows without flash say (exact)."""
    kw = T.CASES[case]
    measured = T.per_layer_bytes(**kw, flash=False)
    assert T.predicted(kw, flash=False) == pytest.approx(measured, rel=0.005), (T.predicted(kw, flash=False), measured)
    assert measured < T.per_layer_bytes(**kw)  # the flash kernel's output and log-sum-exp are what it drops


@pytest.mark.parametrize("flash", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_op_sac_recompute_flops_match_torch_sac(case, flash):
    """The FLOPs the backward re-runs under the same real SAC (FlopCounterMode over forward + backward, op SAC minus
    no checkpointing; the grouped-mm experts counted 2 M K N) = ``op_sac_recompute_flops_per_token`` per layer with
    flash; on the math SDPA path the attention core's bmms too, which ``step_flops`` adds (its hardware FLOPs,
    selective minus none, per layer). Until 2026-12-03 the math path's re-run was left out (the first 33.6 MFLOP a
    layer of ``dense s128 h256 b2``)."""
    import torch.nn as nn
    from functools import partial
    from torch.utils.checkpoint import checkpoint
    from torch.utils.flop_counter import FlopCounterMode

    def grouped_mm(a, b, *args, out_shape=None, **kwargs):
        return 2 * a[0] * a[1] * b[-1]

    kw = T.CASES[case]

    def total(op):
        torch.manual_seed(0)
        blk = T.Block(kw["h"], kw["heads"], kw["kv_heads"], kw["f"], kw["fused"], kw.get("moe")).to(torch.bfloat16)
        s, d = kw["seq"], kw["h"] // kw["heads"]
        cos, sin = torch.ones(s, d, dtype=torch.bfloat16), torch.zeros(s, d, dtype=torch.bfloat16)
        x = torch.randn(kw["batch"], s, kw["h"], dtype=torch.bfloat16, requires_grad=True)
        with T.sdpa_backend(flash), FlopCounterMode(display=False,
                                                     custom_mapping={torch.ops.aten._grouped_mm: grouped_mm}) as fc:
            y = (checkpoint(blk, x, cos, sin, use_reentrant=False, context_fn=partial(T.op_sac_context, blk)) if op
                 else blk(x, cos, sin))
            y.float().sum().backward()
        return fc.get_total_flops()

    m = T.spec_of(kw)
    per_layer = op_sac_recompute_flops_per_token(m, kw["fused"]) / m.layers * kw["seq"] * kw["batch"]
    hw = {rc: step_flops(m, kw["seq"], kw["batch"], rc, flash=flash, selective="op", fused_qkv=kw["fused"])["hardware"]
          for rc in ("none", "selective")}
    measured = total(True) - total(False)
    assert (hw["selective"] - hw["none"]) / m.layers == pytest.approx(measured, rel=1e-9)
    if flash:
        assert measured == pytest.approx(per_layer, rel=1e-9)
    else:  # the core's two bmms over the full score matrix (FlopCounterMode: 2 x 2 s^2 q_dim a micro-batch)
        assert measured - per_layer == pytest.approx(4 * kw["seq"] ** 2 * kw["h"] * kw["batch"], rel=1e-9)


def test_one_policy_saves_what_it_does_not_rerun():
    """Llama 3 8B-shaped block under 0.3's fused QKV: wqkv, w1, w2 saved, wo, w3 re-run; separate projections: wq,
    wv, w1, w2 saved; an MoE layer's router and experts keep nothing and re-run whole."""
    from planner.spec import ModelSpec

    m = ModelSpec(family="decoder", layers=32, hidden=4096, heads=32, kv_heads=8, vocab=128256, ffn_hidden=14336)
    fused = op_sac_block(m, fused_qkv=True)
    assert [x.name for x in fused.saved] == ["wqkv", "w1", "w2"] and [x.name for x in fused.rerun] == ["wo", "w3"]
    names = [t.name for t in op_sac_saved_tensors(m)]
    assert names == ["block.input", "wq.out", "wv.out", "w1.out", "w2.out", "sdpa.out", "sdpa.logsumexp",
                     "w2.reduce_scatter", "wo.reduce_scatter"]
    moe = ModelSpec(family="moe", layers=4, hidden=512, heads=8, vocab=1000, ffn_hidden=256,
                    moe=dict(experts=8, top_k=2))
    b = op_sac_block(moe, moe=True)
    assert [x.name for x in b.saved] == ["wq", "wv"] and b.forced_macs > 0
    # without flash the attention kernel is torch's math path (bmm, softmax): nothing of it saved
    no_flash = [t.name for t in op_sac_saved_tensors(m, flash=False)]
    assert "sdpa.out" not in no_flash and "sdpa.logsumexp" not in no_flash


def test_op_sac_tensor_parallel_rows():
    """Under TP a column-parallel output is split, a row-parallel mm's partial sum is not; under sequence parallelism
    the block input is the sequence shard and each row-parallel reduce-scatter output is kept (its sequence shard)."""
    from planner.spec import ModelSpec

    m = ModelSpec(family="decoder", layers=2, hidden=1024, heads=16, kv_heads=4, vocab=1000, ffn_hidden=2816)
    s, b = 512, 1

    def kept(**kw):
        return float(layer_activation_bytes(m, s, b, recompute=SELECTIVE, selective="op", fused_qkv=True, **kw))
    one, tp2, tp2sp = kept(), kept(tp=2), kept(tp=2, sp=True)
    h, q, kv, f, a = 1024, 1024, 256, 2816, 16
    tok = s * b * 2  # bf16
    assert one == pytest.approx(tok * (h + (q + 2 * kv) + f + h + q + a * 2))
    assert tp2 == pytest.approx(tok * (h + (q + 2 * kv) / 2 + f / 2 + h + q / 2 + a))
    assert tp2sp == pytest.approx(tp2 - tok * h / 2 + tok * (h / 2 + h / 2))  # wo's and w2's reduce-scatters


def test_op_sac_keeps_the_expert_parallel_all_to_all_outputs():
    """torchtitan's op-SAC save list holds ``_c10d_functional.all_to_all_single`` (its MoE models' token dispatch and
    combine under expert parallelism): an MoE layer at ep > 1 keeps both outputs, top_k copies of the rank's tokens
    each, over the TP rank's share of the tokens; at ep = 1 there is no all-to-all and nothing more is kept. Dense
    layers are unchanged. Until 2026-12-03 neither was counted (Mixtral 8x7B seq 4096 EP8: 4.6 GiB of activations
    where the exchanges alone keep 4 GiB). Measured at EP 2 on gloo: test_op_sac_bytes_match_torch_sac_under_ep."""
    from planner.spec import ModelSpec

    moe = ModelSpec(family="moe", layers=4, hidden=512, heads=8, vocab=1000, ffn_hidden=256,
                    moe=dict(experts=8, top_k=2))
    s, b, h, k = 256, 2, 512, 2

    def kept(ep, tp=1, is_moe=True):
        return float(layer_activation_bytes(moe, s, b, tp=tp, sp=tp > 1, recompute=SELECTIVE, selective="op",
                                            moe=is_moe, ep=ep))
    counts = 8 * 8  # the tokens-per-expert exchange: one int64 per expert, whole on every rank
    assert kept(8) - kept(1) == pytest.approx(2 * s * b * k * h * 2 + counts)
    assert kept(4, tp=2) - kept(1, tp=2) == pytest.approx(2 * s * b * k * h * 2 / 2 + counts)
    assert kept(8, is_moe=False) == kept(1, is_moe=False)


def test_op_sac_moe_block_reduce_scatters_its_output_once():
    """Under TP + SP an MoE block keeps one reduce-scatter output for the MoE's output (torchtitan's
    ``apply_moe_ep_tp``: the "moe" module's output a partial sum reduce-scattered once; the shared experts' w2 stays
    partial), shared experts or not, besides wo's; without SP none. Measured: test_op_sac_bytes_match_torch_sac_
    under_ep_and_tp."""
    from planner.spec import ModelSpec

    s, b, h = 256, 2, 512

    def rs_rows(shared):
        m = ModelSpec(family="moe", layers=4, hidden=h, heads=8, vocab=1000, ffn_hidden=256,
                      moe=dict(experts=8, top_k=2, shared_experts=shared))
        names = [t.name for t in op_sac_saved_tensors(m, moe=True) if t.shard == "rs"]
        sp_gain = (float(layer_activation_bytes(m, s, b, tp=2, sp=True, recompute=SELECTIVE, selective="op", moe=True))
                   - float(layer_activation_bytes(m, s, b, tp=2, sp=False, recompute=SELECTIVE, selective="op",
                                                  moe=True)))
        return names, sp_gain
    for shared in (0, 1):
        names, sp_gain = rs_rows(shared)
        assert names == ["wo.reduce_scatter", "moe.reduce_scatter"]
        # SP shards the block input (h/2 saved) and adds the two reduce-scatter outputs (h/2 each)
        assert sp_gain == pytest.approx(s * b * 2 * (-h / 2 + 2 * h / 2))


def test_memory_per_gpu_counts_the_all_to_all_outputs_only_under_op_sac():
    """Through the memory model: torchtitan (op SAC) Mixtral-shaped job at EP 8 vs EP 1 keeps 2 x top_k x h bytes per
    token and MoE layer more, and the counts exchange's experts x 8 bytes a layer; the Megatron attention-core
    selective table's saves do not move with ep."""
    import numpy as np

    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    def acts(framework, ep):
        job = load_job_dict({"model": {"preset": "mixtral-8x7b"},
                             "training": {"tokens": 1e9, "seq_len": 4096, "global_batch": 64, "precision": "bf16",
                                          "micro_batch": 1, "recompute": "selective",
                                          "framework": {"name": framework}},
                             "parallel": {"tp": 1, "pp": 1, "ep": ep, "zero": 3 if framework == "torchtitan" else 1},
                             "cluster": {"gpu": "H100-SXM-80GB", "nodes": 2}})
        return estimate_job(job).memory_per_gpu_bytes.activations
    m_layers, tokens, k, h = 32, 4096, 2, 4096
    # the peak holds every layer's keep but the one being rebuilt, which holds its whole no-recompute set instead
    # (activations.recompute_working_set): 31 of the 32 layers add the exchanges' outputs
    assert acts("torchtitan", 8) - acts("torchtitan", 1) == pytest.approx(
        (m_layers - 1) * (2 * tokens * k * h * 2 + 8 * 8), rel=1e-9)  # + the counts exchange, 8 experts x int64
    # (its saves do not; since a2aperm37 its all-to-all dispatcher's copies at EP > 1 are a transient, held once:
    # activations.moe_a2a_transient, 2 copies of the k x tokens routed rows)
    assert acts("megatron-core", 8) - acts("megatron-core", 1) == pytest.approx(2 * tokens * k * h * 2, rel=1e-9)
