"""MoE step time (planner/model/moe.py composed in step_time): each mechanism moves the answer by
what its formula says; the expert-tensor-parallel rule refuses and accepts what Megatron-Core does."""
import dataclasses
from math import comb

import numpy as np
import pytest

from planner.errors import InputError
from planner.layout import check_layout, valid_mask
from planner.model import moe
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from planner.vocab import FP8_RECIPE
from aten_bytes import hbm_bytes
from test_step_time import cands, hw_for

QWEN3_235B = ModelSpec(**PRESETS["qwen3-235b-a22b"])
DSV3 = ModelSpec(**PRESETS["deepseek-v3"])
T4K = TrainingSpec(seq_len=4096, global_batch=256, micro_batch=1, precision="bf16")


# ------------------------------------------------------------------------------- routing geometry
@pytest.mark.parametrize("experts,top_k,nodes", [(128, 8, 2), (128, 8, 4), (256, 8, 8), (64, 6, 8)])
def test_node_hit_probability_matches_sampled_uniform_routing(experts, top_k, nodes):
    """1 - C(E - E/n, k)/C(E, k) is the chance that k distinct experts drawn uniformly (what
    forced-balanced routing does) touch a given node: checked against 20,000 sampled tokens."""
    rng = np.random.default_rng(0)
    picks = np.argsort(rng.random((20000, experts)), axis=1)[:, :top_k]
    node = picks // (experts // nodes)
    sampled = np.mean([(node == j).any(axis=1).mean() for j in range(nodes)])
    assert moe.node_hit_probability(experts, top_k, nodes)[0] == pytest.approx(sampled, abs=0.01)


def test_node_limited_routing_caps_the_nodes_a_token_reaches():
    """DeepSeek-V3 §2.1.2: 256 experts on 8 nodes, 8 groups, at most 4 groups per token -> at most
    4 of the 8 nodes: the hit probability is 4/8 (uniform routing alone would give 0.667)."""
    free = moe.node_hit_probability(256, 8, 8)[0]
    assert free == pytest.approx(1 - comb(224, 8) / comb(256, 8))
    assert moe.node_hit_probability(256, 8, 8, groups=8, topk_groups=4)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("nodes", [2, 4, 8])
def test_node_hit_probability_matches_sampled_group_limited_routing(nodes):
    """Megatron-Core's ``group_limited_topk`` (moe_utils.py) on forced-balanced random logits: each of 8 contiguous
    groups scored by the sum of its top k / group_topk experts, the top 4 groups kept, the top 8 experts among them.
    A node holding 256 / n experts is reached as often as the planner says -- at 4 nodes (2 groups a node) 0.786, the
    chance the node holds one of the 4 chosen groups, not the 0.90 of uniform routing the former cap let through."""
    rng = np.random.default_rng(0)
    t, e, g, gk, k = 20000, 256, 8, 4, 8
    s = rng.random((t, e))
    group_score = np.sort(s.reshape(t, g, -1), axis=-1)[:, :, -(k // gk):].sum(-1)
    keep = np.zeros((t, g), bool)
    np.put_along_axis(keep, np.argsort(-group_score, axis=1)[:, :gk], True, axis=1)
    picks = np.argsort(-np.where(np.repeat(keep, e // g, axis=1), s, -np.inf), axis=1)[:, :k]
    node = picks // (e // nodes)
    sampled = np.mean([(node == j).any(axis=1).mean() for j in range(nodes)])
    assert moe.node_hit_probability(e, k, nodes, groups=g, topk_groups=gk)[0] == pytest.approx(sampled, abs=0.01)


def test_dispatch_bytes_alltoall_sends_every_copy_dedup_sends_one_per_node():
    """Megatron's all-to-all sends k copies per token, (ep - g)/ep of them off the node; DeepEP /
    HybridEP send one copy per remote node reached (DeepSeek-V3 §3.2.2)."""
    tok, k, h, b = 4096, 8, 2048, 2.0
    nvl, nic = moe.dispatch_bytes(tok, k, h, b, np.array([8.0, 16.0]), 8, False, 128)
    row = tok * h * b
    assert nic[0] == 0 and nvl[0] == pytest.approx(row * k * 7 / 8)  # one node: no NIC traffic
    assert nic[1] == pytest.approx(row * k * 8 / 16) and nvl[1] == pytest.approx(row * k * 7 / 16)
    _, nic_d = moe.dispatch_bytes(tok, k, h, b, np.array([16.0]), 8, True, 128)
    p = moe.node_hit_probability(128, 8, 2)[0]
    assert nic_d[0] == pytest.approx(row * p)  # one remote node, reached with probability p
    assert nic_d[0] / nic[1] == pytest.approx(p / 4)  # 4 copies per token -> at most 1


def _fake_balanced_gate(tokens, experts, top_k):
    """NeMo AutoModel's FakeBalancedGate.forward, in numpy: arange(T k).view(T, k) % E."""
    return np.arange(tokens * top_k).reshape(tokens, top_k) % experts


@pytest.mark.parametrize("experts,top_k,blocks", [(512, 22, 64), (512, 22, 8), (128, 6, 8), (256, 8, 8), (32, 4, 8),
                                                  (128, 4, 64)])
def test_round_robin_blocks_counts_the_fake_gate_s_ranks_and_nodes(experts, top_k, blocks):
    """The mean number of contiguous expert ranges (ranks: E/ep experts, nodes: E/n) that the gate's rows
    touch, counted on the gate's own output over 4096 tokens."""
    idx = _fake_balanced_gate(4096, experts, top_k) // (experts // blocks)
    counted = np.mean([len(set(row)) for row in idx])
    assert moe.round_robin_blocks(experts, top_k, blocks) == pytest.approx(counted, rel=0.01)


def test_round_robin_dispatch_reaches_few_nodes_and_gpus():
    """Nemotron 3 Super on 64 GPUs (512 experts, top-22, 8 per GPU, 8 nodes): the gate's 22 consecutive
    experts sit on 3-4 GPUs of one or two nodes, where learned (uniform) routing reaches ~7.6 nodes; DeepEP's
    per-node / per-GPU deduplication sends accordingly fewer bytes. One node (Nano, 8 GPUs): no NIC bytes."""
    tok, k, E, h, b = 8192, 22, 512, 1024, 2.0
    row = tok * h * b
    nvl_l, nic_l = moe.dispatch_bytes(tok, k, h, b, np.array([64.0]), 8, True, E)
    nvl_r, nic_r = moe.dispatch_bytes(tok, k, h, b, np.array([64.0]), 8, True, E, routing="round_robin")
    idx = _fake_balanced_gate(tok, E, k)
    nodes, gpus = np.mean([len(set(r)) for r in idx // 64]), np.mean([len(set(r)) for r in idx // 8])
    assert nic_r[0] == pytest.approx(row * nodes * 7 / 8, rel=0.01)
    assert nvl_r[0] == pytest.approx(row * gpus * 7 / 8, rel=0.01)
    assert nic_r[0] < nic_l[0] / 4 and nvl_r[0] < nvl_l[0]
    _, nic_one = moe.dispatch_bytes(tok, 6, 2688, b, np.array([8.0]), 8, True, 128, routing="round_robin")
    assert nic_one[0] == 0
    # the all-to-all dispatcher sends every (token, expert) copy whatever the routing
    a = moe.dispatch_bytes(tok, k, h, b, np.array([64.0]), 8, False, E)
    r = moe.dispatch_bytes(tok, k, h, b, np.array([64.0]), 8, False, E, routing="round_robin")
    assert a[0][0] == r[0][0] and a[1][0] == r[1][0]


# ------------------------------------------------------------------------------- EP / ETP layouts
def test_expert_shapes_etp_keeps_the_work_and_moves_it_between_m_and_n():
    """ETP = TP is the pre-folding layout (tokens per expert T ep k / E on a 1/tp weight slice);
    ETP = 1 gives each rank 1/tp of the tokens on full-width experts: the same FLOPs."""
    T, tp, ep, E, k = 4096.0, 2.0, 8.0, 64, 4
    local, tok, div = moe.expert_shapes(T, tp, tp, ep, E, k, 1.0)
    assert tok == pytest.approx(T * ep * k / E) and div == tp
    local1, tok1, div1 = moe.expert_shapes(T, tp, 1.0, ep, E, k, 1.0)
    assert local1 == local and tok1 == pytest.approx(tok / tp) and div1 == 1.0
    assert local1 * tok1 / div1 == pytest.approx(local * tok / div)


def _megatron_accepts(world, tp, pp, cp, ep, etp):
    """Megatron-Core parallel_state.initialize_model_parallel: world % (tp*pp*cp) == 0 and
    decoder world % (etp*ep*pp) == 0 (else RuntimeError 'not divisible by
    expert_tensor_model_pipeline_parallel size')."""
    return world % (tp * pp * cp) == 0 and world % (etp * ep * pp) == 0


@pytest.mark.parametrize("tp,pp,dp,ep,etp", [
    (2, 8, 16, 32, 1),   # Qwen3-235B-A22B H100 recipe (256 GPUs): EP spans the TP ranks
    (2, 8, 64, 64, 1),   # DeepSeek-V3 H100 recipe (1024 GPUs)
    (2, 8, 16, 32, 2),   # the same with ETP = TP: 512 expert ranks per stage > 32
    (4, 1, 2, 4, 2), (4, 1, 2, 8, 1), (4, 1, 2, 8, 2), (1, 2, 8, 8, 1), (8, 1, 1, 8, 1), (8, 1, 1, 4, 4),
])
def test_ep_etp_rule_is_megatron_cores(tp, pp, dp, ep, etp):
    world = tp * pp * dp
    ok = _megatron_accepts(world, tp, pp, 1, ep, etp)
    v = dict(tp=tp, pp=pp, dp=dp, cp=1, ep=ep, etp=etp, vpp=1, mb=1, gpus=world)
    assert bool(valid_mask(type("V", (), {k: np.array([x]) for k, x in v.items()}), QWEN3_235B, T4K)[0]) == ok
    if ok:
        check_layout(QWEN3_235B, T4K, **v)
    else:
        with pytest.raises(InputError) as e:
            check_layout(QWEN3_235B, T4K, **v)
        assert e.value.field == "parallel.ep"


def test_etp_default_is_tp_and_keeps_the_old_rule():
    """Without etp the rule is ep | dp*cp (ETP defaults to TP, Megatron-LM arguments.py)."""
    check_layout(QWEN3_235B, T4K, tp=2, pp=1, dp=4, cp=1, ep=4, gpus=8)
    with pytest.raises(InputError):
        check_layout(QWEN3_235B, T4K, tp=2, pp=1, dp=4, cp=1, ep=8, gpus=8)
    check_layout(QWEN3_235B, T4K, tp=2, pp=1, dp=4, cp=1, ep=8, etp=1, gpus=8)


def test_etp_refused_on_dense_models_and_when_it_does_not_split_the_expert():
    dense = ModelSpec(name="d", layers=4, hidden=1024, heads=8, ffn_hidden=4096, vocab=1000)
    with pytest.raises(InputError, match="no experts"):
        check_layout(dense, T4K, etp=2)
    with pytest.raises(InputError, match="expert width"):
        check_layout(QWEN3_235B, T4K, etp=7)


# ------------------------------------------------------------------------------- step time
def _qwen(catalog, ep=32, etp=1, **stack):
    """Qwen3-235B-A22B on 256 H100s as its Megatron-Bridge H100 recipe lays it out."""
    c = cands(tp=2, pp=8, dp=16, ep=ep, vpp=4, schedule=1, sp=True, nodes=32, etp=etp)
    t = TrainingSpec(seq_len=4096, global_batch=2048, micro_batch=1, precision="bf16")
    return step_time(QWEN3_235B, t, c, hw_for(catalog), framework=resolve("megatron-core", **stack))


def test_a2a_overlap_hides_at_most_the_all_to_all(catalog):
    off = _qwen(catalog)
    on = _qwen(catalog, moe_a2a_overlap=True)
    saved = off["step_time_s"][0] - on["step_time_s"][0]
    assert 0 < saved <= off["comm_ep"][0]
    # without the overlap a 12-layer rank paces (ranks 11, 12 x 6, 11 + head); with it the last rank, which hides
    # none of the head (pace41: the pacing rank is the slowest after each rank hides its own all-to-all): the step
    # saves less than the ep breakdown drops, whose 12 -> 11 layers also shed a layer's all-to-all (until pace41 the
    # 12-layer rank was kept and the two were equal)
    assert 0.8 * (off["comm_ep"][0] - on["comm_ep"][0]) < saved < off["comm_ep"][0] - on["comm_ep"][0]
    share = float(moe.a2a_paired_share(8, 4, on["num_microbatches"][0]))
    # Megatron-Core's warm-up with the overlap: 2 (pp - 1) + (v - 1) pp and one extra forward (warm42)
    assert share == pytest.approx(1 - (2 * 7 + 3 * 8 + 1) / (128 * 4))


def test_a2a_overlap_hidden_phase_by_phase():
    """Each all-to-all hides under the compute beside it, on the SMs the dispatcher leaves."""
    slow = moe.A2A_COMM_SMS / (132 - moe.A2A_COMM_SMS)
    assert moe.a2a_overlap_hidden(1.0, 2, 2, 2, 2, 132) == pytest.approx(4 * (1 - slow))
    assert moe.a2a_overlap_hidden(1.0, 0.5, 0, 0, 0, 132) == pytest.approx(0.5 * (1 - slow))
    assert float(moe.a2a_paired_share(1, 1, 8)) == pytest.approx(7 / 8)


def test_dedup_dispatcher_cuts_cross_node_time(catalog):
    a = _qwen(catalog)
    d = _qwen(catalog, moe_dispatcher="deepep")
    assert d["comm_ep"][0] < 0.5 * a["comm_ep"][0]  # 8 copies per token -> ~3 remote nodes


def test_etp_equal_tp_adds_the_token_all_gather(catalog):
    """ETP = TP = 2: the dispatched tokens are all-gathered over the ETP pair and reduce-scattered
    back (token_dispatcher.py); ETP = 1 has no such collective. Model FLOPs are the same."""
    e1 = _qwen(catalog, ep=32, etp=1)
    e2 = _qwen(catalog, ep=16, etp=2)
    assert e2["comm_ep"][0] > 0 and e1["model_flops"][0] == e2["model_flops"][0]


def test_mtp_module_costs_about_one_layer_and_a_head_on_the_last_stage(catalog):
    """DeepSeek-V3 §2.2: one MTP module = projection + one transformer block + the shared head
    and its loss; with pp = 1 the step grows by about (layer + head) per micro-batch."""
    c = cands(tp=1, pp=1, dp=64, ep=64, nodes=8, etp=1)
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16")
    no = step_time(DSV3.model_copy(update=dict(mtp_layers=0)), t, c, hw_for(catalog))
    one = step_time(DSV3, t, c, hw_for(catalog))
    grow = one["step_time_s"][0] - no["step_time_s"][0]
    per_layer = (no["t_fwd_mb"][0] + no["t_bwd_mb"][0]) / DSV3.layers
    assert per_layer < grow < 3 * per_layer


def _qwen_space_job(**parallel):
    """A one-node Qwen3-30B-A3B job on H100 with everything but the given parallel fields fixed."""
    from planner.spec import load_job_dict

    return load_job_dict(dict(
        model={"preset": "qwen3-30b-a3b"},
        training={"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "none"},
        parallel={"pp": 1, "cp": 1, "vpp": 1, "zero": 0, **parallel},
        cluster={"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}))


def _space(catalog, job):
    from planner.hardware.options import option_from_cluster
    from planner.search.space import space_for

    return space_for(job, option_from_cluster(job.cluster, catalog, None, "bf16"))


def test_search_keeps_the_jobs_etp_and_its_wider_ep(catalog):
    """A job fixing parallel.etp searches only that etp, and its EP as Megatron-Core allows it
    (etp*ep divides tp*cp*dp): etp = 1 reaches ep 8 > dp*cp = 4 on TP2, etp = 2 stops at ep 4."""
    one = _space(catalog, _qwen_space_job(tp=2, etp=1))
    two = _space(catalog, _qwen_space_job(tp=2, etp=2))
    assert set(one.etp.tolist()) == {1} and max(one.ep.tolist()) == 8
    assert set(two.etp.tolist()) == {2} and max(two.ep.tolist()) == 4


def test_search_tries_etp_tp_and_1_for_moe_when_open(catalog):
    """parallel.etp left open on an MoE model: both ETP = TP (Megatron-LM's default) and ETP = 1
    (Megatron-Bridge's MoE recipes) are tried, each with the EP it allows; the open space is exactly
    the union of the two fixed ones; TP 1 is tried once (ETP 1 = TP), so no layout repeats."""
    free = _space(catalog, _qwen_space_job(tp=2))
    assert {(int(a), int(b)) for a, b in zip(free.tp, free.etp)} == {(2, 2), (2, 1)}
    assert max(free.ep[free.etp == 2].tolist()) == 4 and max(free.ep[free.etp == 1].tolist()) == 8
    assert len(free) == len(_space(catalog, _qwen_space_job(tp=2, etp=1))) + len(_space(catalog, _qwen_space_job(tp=2, etp=2)))
    anytp = _space(catalog, _qwen_space_job())
    pairs = {(int(a), int(b)) for a, b in zip(anytp.tp, anytp.etp)}
    assert (1, 1) in pairs and {(t, t) for t in (2, 4, 8)} <= pairs and {(t, 1) for t in (2, 4, 8)} <= pairs
    assert pairs <= {(t, t) for t in (1, 2, 4, 8)} | {(t, 1) for t in (2, 4, 8)}
    rows = np.stack([anytp.tp, anytp.etp, anytp.ep, anytp.dp, anytp.zero, anytp.mb, anytp.rc])
    assert np.unique(rows, axis=1).shape[1] == len(anytp)


def test_search_gives_a_dense_model_no_etp_axis(catalog):
    """A dense model has no experts to split: its etp column is tp on every row and no layout is
    tried twice (an ETP axis would double the rows); the same space as one job fixing each tp."""
    from planner.spec import load_job_dict

    def job(**par):
        return load_job_dict(dict(model={"preset": "llama3-8b"},
                                  training={"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "none"},
                                  parallel={"pp": 1, "cp": 1, "vpp": 1, "zero": 0, **par},
                                  cluster={"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}))

    c = _space(catalog, job())
    assert (c.etp == c.tp).all() and set(c.tp.tolist()) == {1, 2, 4, 8}
    rows = np.stack([c.tp, c.dp, c.zero, c.mb, c.rc])
    assert np.unique(rows, axis=1).shape[1] == len(c)
    assert len(c) == sum(len(_space(catalog, job(tp=t))) for t in (1, 2, 4, 8))


def _titan_mixtral(**parallel):
    from planner.spec import load_job_dict

    return load_job_dict(dict(model={"preset": "mixtral-8x7b"},
                              training={"seq_len": 4096, "global_batch": 256, "tokens": 2e10, "framework": "torchtitan"},
                              parallel=parallel,
                              constraints={"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "max_gpus": 64}))


def test_torchtitan_moe_with_tp_finds_expert_parallel_rows_at_etp_1(catalog):
    """torchtitan shards experts with EP over no TP (stack_rules 'titan-etp': ETP 1 with EP): with
    TP 2 fixed and etp open, the search now has feasible EP rows, every one at ETP 1, and a
    plan with EP carries ETP 1 into its config (shown as 'ETP1'); fixing etp = 2 leaves none."""
    from planner.units import config_str
    from planner.workloads.training import recommend

    res = recommend(_titan_mixtral(tp=2), catalog, top=20, simulate=False)
    table = res["table"]
    moe_rows = table[table["ep"] > 1]
    assert len(moe_rows) and (moe_rows["etp"] == 1).all() and (table["tp"] == 2).all()
    assert (table.loc[table["ep"] == 1, "etp"] == 2).all()  # without EP torchtitan splits experts over TP
    plan = next(r for r in res["ranked"] if r["config"]["ep"] > 1)
    assert plan["config"]["etp"] == 1 and "ETP1" in config_str(plan["config"])
    # the views built from the table (recommend --by, the scaling view, the chart) name it too
    from planner.present.charts import candidates_frame
    from planner.search.rank import best_per, scaling_view

    assert "ETP1" in config_str(best_per(table[table["ep"] > 1], "gpu")[0])
    assert any("ETP1" in config_str(r) for r in scaling_view(table, plan["hardware"]["name"]))
    assert candidates_frame(table)["layout"].str.contains("ETP1").any()
    fixed = recommend(_titan_mixtral(tp=2, etp=2), catalog, top=5, simulate=False)
    assert (fixed["table"]["ep"] == 1).all()


def test_pinned_plan_keeps_its_searched_etp(catalog):
    """A ranked plan at ETP 1 pinned for a sensitivity sweep (workloads.sensitivity.pinned_job)
    is estimated at ETP 1 again: the same step time, not ETP = TP's."""
    from planner.workloads.sensitivity import pinned_job
    from planner.workloads.training import estimate_job, recommend

    job = _titan_mixtral(tp=2)
    res = recommend(job, catalog, top=20, simulate=False)
    plan = next(r for r in res["ranked"] if r["config"]["etp"] != r["config"]["tp"])
    pinned = pinned_job(job, plan.to_json())
    assert pinned.parallel.etp == 1
    assert estimate_job(pinned, catalog)["step_time_s"] == pytest.approx(plan["step_time_s"], rel=1e-9)


def test_grouped_gemm_pads_each_experts_rows_to_whole_tiles(catalog):
    """65 tokens on an expert cost what 128 do (two 64-row tiles); groups add up expert by expert."""
    from planner.hardware.options import efficiency_for

    eff = efficiency_for(catalog.gpu("H100-SXM-80GB"))
    t = lambda g, m: float(moe.grouped_gemm_time(eff, g, m, 4096, 2048, 989e12, 3.35e12, 2.0))  # noqa: E731
    assert t(1, 65) == pytest.approx(t(1, 128), rel=1e-6)
    assert t(8, 4096) == pytest.approx(8 * t(1, 4096))
    assert t(1, 65) / 65 > 1.8 * t(1, 128) / 128  # per token: nearly twice the cost


def test_dispatcher_sync_costs_its_host_ops_per_moe_layer_forward(catalog, monkeypatch):
    """Megatron-Core's dropless dispatch reads the token counts on the host (token_dispatcher.py
    ``_maybe_dtoh_and_synchronize``): each MoE layer forward (and a recomputed one, not the
    backward) leaves the GPU idle for ``MOE_SYNC_OPS`` host ops; padded (capacity-factor)
    dispatch has static shapes and no sync; a stack without Megatron-Core's MoE layer none."""
    core, hf = resolve("megatron-core"), resolve("hf-trainer")
    assert moe.dispatch_sync_s(core, True, 15e-6) == pytest.approx(moe.MOE_SYNC_OPS * 15e-6)
    assert moe.dispatch_sync_s(core, False, 15e-6) == 0.0 and moe.dispatch_sync_s(hf, True, 15e-6) == 0.0
    on = _qwen(catalog)
    monkeypatch.setattr(moe, "MOE_SYNC_OPS", 0.0)
    off = _qwen(catalog)
    launch = hw_for(catalog).eff.launch_s
    # pp 8 x vpp 4 of 94 layers: 12 layers on the busiest stage, all MoE, GPU-bound passes
    grow_fwd = on["t_fwd_mb"][0] - off["t_fwd_mb"][0]
    assert grow_fwd == pytest.approx(12 * 2.0 * launch, rel=1e-6)
    assert on["t_bwd_mb"][0] == pytest.approx(off["t_bwd_mb"][0], rel=1e-9)
    # the breakdown still adds up to the step
    from planner.model.step_time import BREAKDOWN_KEYS
    assert sum(on[k][0] for k in BREAKDOWN_KEYS) == pytest.approx(on["step_time_s"][0], rel=1e-6)


def test_post_sync_exposure_is_the_host_past_the_sync_beyond_the_gpu():
    """moe.post_sync_exposed_s: from the dispatcher's device-to-host sync on the host has no lead, so what its ops
    there take beyond the GPU's work there is GPU idle: max(0, host - GPU). The ops past the sync are the block's
    less the router's and the preprocess's (MOE_GRAPH_OPS), on Megatron-Core's MoE layer only: NeMo AutoModel
    (grouped GEMMs and a DeepEP sync of its own, another layer) and HF Trainer have none."""
    assert moe.post_sync_exposed_s(3e-3, 1e-3) == pytest.approx(2e-3)
    assert moe.post_sync_exposed_s(1e-3, 3e-3) == 0.0
    np.testing.assert_allclose(moe.post_sync_exposed_s(np.array([1e-3, 2e-3]), 1.5e-3), [0.0, 0.5e-3])
    # the combine (its 2 host ops, its all-to-all's GPU time) launched after the experts: host 1.0 ms past the sync,
    # 0.03 ms of it the combine's; GPU 1.2 ms, 0.4 ms of it the combine all-to-all -> the experts' 0.97 ms of host
    # launches against the 0.8 ms queued before the combine: 0.17 ms idle where bound (1) alone gave none
    assert moe.post_sync_exposed_s(1e-3, 1.2e-3, 0.03e-3, 0.4e-3) == pytest.approx(0.17e-3)
    # a combine quicker than its own launches: bound (1) holds (never below the old bound)
    assert moe.post_sync_exposed_s(1.5e-3, 1.2e-3, 0.03e-3, 0.01e-3) == pytest.approx(0.3e-3)
    assert moe.post_sync_exposed_s(1e-3, 2e-3, 0.03e-3, 0.4e-3) == 0.0
    router_and_preprocess = sum(moe.MOE_GRAPH_OPS.values())
    assert router_and_preprocess == 6.0
    for name in ("megatron-core", "megatron-bridge", "nemo"):
        assert moe.post_sync_host_ops(40.0, resolve(name)) == pytest.approx(40.0 - router_and_preprocess)
    assert moe.post_sync_host_ops(4.0, resolve("megatron-core")) == 0.0
    assert moe.post_sync_host_ops(40.0, resolve("nemo-automodel")) == 0.0
    assert moe.post_sync_host_ops(40.0, resolve("hf-trainer")) == 0.0


def test_post_sync_exposure_moves_the_host_paced_dropless_layer_only(catalog, monkeypatch):
    """Qwen3-30B-A3B on 8 B200s at EP 8 (16 local experts), MXFP8, one 4096-token micro-batch, the attention,
    router and preprocess in TE CUDA graphs (Megatron-Bridge's B200 recipe): past the sync the block's host ops
    (the grouped GEMMs' per-expert set-up: 2 x 16 x 24.75 us) outlast the GPU's experts and all-to-alls, so each
    MoE layer forward idles the GPU for the difference and the step grows. At 8 sequences a micro-batch the GPU's
    work past the sync is longer and the step does not move; padded capacity (no sync) and NeMo AutoModel do not move
    either. The same layer without graphs, host-bound as a whole, grows by less: max(host, GPU + idle) - max(host,
    GPU), at most the idle (since moe56b the combine all-to-all's GPU time no longer hides under the host's expert
    launches, so GPU + idle, the combine and the next layer's attention after the host's last expert launch, now
    outlasts the host's attention dispatch there too)."""
    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    hw = hw_for(catalog, "B200-SXM-180GB")
    graphs = dict(cuda_graph_impl="transformer_engine", cuda_graph_scope=("attn", "moe_router", "moe_preprocess"))

    def step(mb, fw="megatron-core", model=m, **kw):
        t = TrainingSpec(seq_len=4096, global_batch=64 * mb, micro_batch=mb, precision="fp8")
        kw = {**(graphs if fw == "megatron-core" else {}), **kw}
        return step_time(model, t, cands(tp=1, pp=1, dp=8, ep=8, etp=1, mb=mb), hw,
                         framework=resolve(fw, fp8_recipe="mxfp8", **kw))
    padded = m.model_copy(update={"moe": m.moe.model_copy(update=dict(dropless=False, capacity_factor=1.0,
                                                                          pad_to_capacity=True))})
    runs = lambda: (step(1), step(8), step(1, model=padded), step(1, "nemo-automodel", moe_dispatcher="deepep"),  # noqa: E731
                    step(1, cuda_graph_impl="none", cuda_graph_scope=()))
    on = runs()
    monkeypatch.setattr(moe, "post_sync_exposed_s", lambda h, g, *combine: 0.0 * np.asarray(h))
    off = runs()
    # one exposure per MoE layer forward: 48 layers a micro-batch, each rank's micro-batches one after another
    grow = on[0]["t_fwd_mb"][0] - off[0]["t_fwd_mb"][0]
    launch = hw.eff.launch_s
    host_past = (2 * 16 * moe.TE_GROUPED_GEMM_PER_EXPERT_S["block"] / launch + moe.MOE_HOST_OPS_GROUPED - 6) * launch
    # (the GPU's work past the sync includes the experts' per-expert quantize launches, split_quantize_kernels:
    # 2 x 16 kernel gaps a layer forward, so the idle left is small but not zero)
    assert 0.0 < grow < 48 * host_past
    n = on[0]["num_microbatches"][0]
    assert n == 8 and on[0]["step_time_s"][0] == pytest.approx(off[0]["step_time_s"][0] + n * grow, rel=1e-6)
    for a, b in zip(on[1:4], off[1:4]):
        assert a["step_time_s"][0] == pytest.approx(b["step_time_s"][0], rel=1e-9)
    eager_grow = on[4]["t_fwd_mb"][0] - off[4]["t_fwd_mb"][0]
    assert 0.0 < eager_grow <= grow * (1 + 1e-9)


def test_combine_all_to_all_is_not_hidden_under_the_host_past_the_sync(catalog, monkeypatch):
    """moe.post_sync_exposed_s (moe56b): past the dropless dispatcher's sync the host launches the experts' GEMMs one
    by one, then the combine all-to-all, which reads their output. In a host-paced layer (Qwen3-30B-A3B on 8 B200s at
    EP 8, 16 local experts, MXFP8, micro-batch 1: the host's per-expert set-up outlasts the GPU's experts) the combine
    therefore starts after the host's last expert launch: making every all-to-all d slower adds d to each MoE layer
    forward (the combine's own d; the dispatch's d hides under the host's expert launches, as before). Until moe56b the
    exposure counted both all-to-alls against the host, so the same change added 2d of all-to-all and took up to 2d
    of idle back (0.2d here). Where the layer is not host-paced (micro-batch 8) the forward grows by both, 2d."""
    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    hw = hw_for(catalog, "B200-SXM-180GB")
    fw = resolve("megatron-core", fp8_recipe="mxfp8", cuda_graph_impl="transformer_engine",
                 cuda_graph_scope=("attn", "moe_router", "moe_preprocess"))

    def fwd(mb):
        t = TrainingSpec(seq_len=4096, global_batch=64 * mb, micro_batch=mb, precision="fp8")
        return step_time(m, t, cands(tp=1, pp=1, dp=8, ep=8, etp=1, mb=mb), hw, framework=fw)["t_fwd_mb"][0]
    before = fwd(1), fwd(8)
    d = 20e-6
    real = moe.moe_layer
    monkeypatch.setattr(moe, "moe_layer", lambda *a, **k: dataclasses.replace(real(*a, **k), a2a=real(*a, **k).a2a + d))
    after = fwd(1), fwd(8)
    layers = m.layers
    assert after[0] - before[0] == pytest.approx(layers * d, rel=1e-3)
    assert after[1] - before[1] == pytest.approx(2 * layers * d, rel=1e-3)


def test_megatron_launch_flags_run_the_moe_the_plan_was_timed_with():
    """The emitted Megatron-LM flags select what the time model assumed: grouped expert GEMMs,
    the all-to-all dispatcher (Megatron-LM's default would be allgather) or DeepEP through the
    flex dispatcher, the combined-1F1B overlap, and --expert-tensor-parallel-size when etp != tp."""
    from planner.present.emit import emit_launch_spec
    from test_emit import _argv, _flags, _plan

    tr = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e11}
    plain = _plan({"tp": 2, "pp": 1, "ep": 8, "zero": 1}, model={"preset": "qwen3-30b-a3b"}, training=tr)
    f = _flags(_argv(emit_launch_spec(*plain, "torchrun:megatron")))
    assert f["--moe-grouped-gemm"] is True and f["--moe-token-dispatcher-type"] == "alltoall"
    assert "--expert-tensor-parallel-size" not in f and "--overlap-moe-expert-parallel-comm" not in f
    tr2 = dict(tr, framework={"name": "megatron-core", "moe_dispatcher": "deepep", "moe_a2a_overlap": True})
    # (an InfiniBand cluster: DeepEP's EP 16 group leaves the node, which it cannot over p5's EFA, moedisp47b)
    job, best = _plan({"tp": 2, "pp": 1, "ep": 16, "etp": 1, "zero": 1}, model={"preset": "qwen3-30b-a3b"}, training=tr2,
                      cluster={"instance": "azure:Standard_ND96isr_H100_v5", "nodes": 16})
    f = _flags(_argv(emit_launch_spec(job, best, "torchrun:megatron")))
    assert f["--moe-token-dispatcher-type"] == "flex" and f["--moe-flex-dispatcher-backend"] == "deepep"
    assert f["--overlap-moe-expert-parallel-comm"] is True and int(f["--expert-tensor-parallel-size"]) == 1
    assert int(f["--expert-model-parallel-size"]) == 16 and best["config"]["etp"] == 1
    assert "--moe-expert-capacity-factor" not in f  # dropless
    moe_cf = {**PRESETS["qwen3-30b-a3b"]["moe"], "dropless": False, "capacity_factor": 1.25, "pad_to_capacity": True}
    job, best = _plan({"tp": 2, "pp": 1, "ep": 8, "zero": 1}, model={"preset": "qwen3-30b-a3b", "moe": moe_cf},
                      training=tr)
    f = _flags(_argv(emit_launch_spec(job, best, "torchrun:megatron")))
    assert float(f["--moe-expert-capacity-factor"]) == 1.25 and f["--moe-pad-expert-input-to-capacity"] is True


def test_bottleneck_line_places_the_all_to_all_where_the_expert_grid_is():
    """The EP all-to-all runs over NVLink when the expert grid (etp x ep ranks) fits in a node, over
    the NIC otherwise: the limits line names that link (it used to say 'network' for both)."""
    from types import SimpleNamespace

    from planner.search.explain import bottleneck_line

    hw = SimpleNamespace(gpus_per_node=8, inter_node_bw=400e9 / 8, intra_bw=450e9, network_assumed=False,
                         gpu=SimpleNamespace(intra_node_link="NVLink4"))
    bd = dict(compute_gemm=6.0, comm_ep=3.0)

    def line(ep, etp):
        res = dict(breakdown_s=bd, step_time_s=10.0, mfu=0.3, hardware=dict(nodes=4),
                   config=dict(tp=4, etp=etp, ep=ep))
        return bottleneck_line(res, hw)

    assert "NVLink4" in line(8, 1) and "network" not in line(8, 1)
    assert "Gb/s network" in line(8, 4)  # 32 ranks: across nodes


# ------------------------------------------------------------------------------- eager expert ops
def test_clamped_glu_eager_bytes_are_what_pytorch_runs():
    """moe.EAGER_EXPERT_BYTES["clamp"] (16 / 30 bytes per element of f, forward / backward) against
    the aten ops PyTorch itself runs for Megatron-LM's eager clamp (fused_bias_geglu.py
    ``weighted_bias_quick_geglu_impl``: chunk, clamp(max), clamp(min, max), cat) and its autograd
    backward, in bf16, counted op by op by a dispatch mode."""
    torch = pytest.importorskip("torch")
    rows, f = 64, 96
    x = torch.randn(rows, 2 * f, dtype=torch.bfloat16, requires_grad=True)

    def chain():
        x_glu, x_linear = x.chunk(2, -1)
        return torch.cat((x_glu.clamp(min=None, max=7.0), x_linear.clamp(min=-7.0, max=7.0)), -1)

    fwd, bwd = hbm_bytes(chain)
    want_f, want_b = moe.EAGER_EXPERT_BYTES["clamp"]
    assert fwd == pytest.approx(want_f * rows * f, rel=0.02)
    assert bwd == pytest.approx(want_b * rows * f, rel=0.1)


def test_expert_bias_loop_bytes_are_what_pytorch_runs():
    """moe.EAGER_EXPERT_BYTES["bias"] (12 / 16 bytes per element of h) against the aten ops of
    Megatron-Core's TEGroupedMLP._apply_bias (per local expert ``t + b * p`` over the expert's rows,
    concatenated, bf16 probabilities) and its autograd backward (bias and probability gradients)."""
    torch = pytest.importorskip("torch")
    experts, per, h = 4, 32, 96
    t = torch.randn(experts * per, h, dtype=torch.bfloat16, requires_grad=True)
    b = [torch.randn(h, dtype=torch.bfloat16, requires_grad=True) for _ in range(experts)]
    p = torch.rand(experts * per, 1, dtype=torch.bfloat16, requires_grad=True)
    split = [per] * experts

    def loop():
        y = torch.cat([ti + bi * pi for ti, bi, pi in zip(torch.split(t, split), b, torch.split(p, split))])
        return y.view(t.shape).to(t.dtype)

    fwd, bwd = hbm_bytes(loop)
    rows = experts * per
    want_f, want_b = moe.EAGER_EXPERT_BYTES["bias"]
    assert fwd == pytest.approx(want_f * rows * h, rel=0.05)
    assert bwd == pytest.approx(want_b * rows * h, rel=0.1)


def test_eager_expert_ops_only_where_tegroupedmlp_runs_them(catalog):
    """gpt-oss (clamped GLU, expert biases) on Megatron-Core's TEGroupedMLP pays the eager ops and
    one stream sync per activation call; the same model with the fused grouped MLP
    (``moe_fused_mlp``), a stack without the grouped MLP, or a model without the clamp and biases
    pays nothing, and the step grows by exactly the HBM time of the counted bytes."""
    oss = ModelSpec(**PRESETS["gpt-oss-120b"])
    core = resolve("megatron-core")
    e = moe.eager_expert_ops(oss, core, 1000.0, 2880.0, 16)
    assert float(e.fwd_bytes) == pytest.approx(1000 * (16 * 2880 + 12 * 2880))
    assert float(e.bwd_bytes) == pytest.approx(1000 * (30 * 2880 + 16 * 2880))
    assert e.syncs == 1.0 and float(e.host_ops) == pytest.approx(5 + 5 + 2 * 16)
    for m, st in ((oss, resolve("megatron-core", moe_fused_mlp=True)), (oss, resolve("hf-trainer")),
                  (QWEN3_235B, core)):
        z = moe.eager_expert_ops(m, st, 1000.0, 2880.0, 16)
        assert float(z.fwd_bytes) == 0.0 and float(z.bwd_bytes) == 0.0 and z.syncs == 0.0
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16")
    c = cands(tp=[1], pp=1, dp=8, ep=8, gpus_per_node=8)
    on = step_time(oss, t, c, hw, framework=core)
    off = step_time(oss, t, c, hw, framework=resolve("megatron-core", moe_fused_mlp=True))
    # 36 MoE layers on the one stage, each over T * top_k = 16,384 routed rows (ep 8, 16 local experts)
    e = moe.eager_expert_ops(oss, core, 4096 * 4, 2880.0, 16)
    mem = lambda b: float(hw.eff.memory_time(b, hw.gpu.hbm_bw))  # noqa: E731
    sync = moe.MOE_SYNC_OPS * hw.eff.launch_s
    assert on["t_fwd_mb"][0] - off["t_fwd_mb"][0] == pytest.approx(36 * (mem(e.fwd_bytes) + sync), rel=1e-6)
    assert on["t_bwd_mb"][0] - off["t_bwd_mb"][0] == pytest.approx(36 * mem(e.bwd_bytes), rel=1e-6)


# ------------------------------------------------------------------------------- capacity factor
@pytest.mark.parametrize("cf,imbalance,ep,tp,etp", [(1.0, 1.0, 8, 1, 1), (1.5, 1.0, 8, 1, 1), (1.25, 1.3, 16, 2, 1),
                                                   (2.0, 1.0, 4, 2, 2)])
def test_padded_capacity_is_megatron_cores_expert_input(cf, imbalance, ep, tp, etp):
    """Padded to capacity, each local expert computes capacity * tp_size * ep_size rows (Megatron-Core
    MoEAlltoAllTokenDispatcher.preprocess with drop_and_pad; its tp_size is the expert-TP group's),
    capacity = get_capacity(T k, E, cf) of the T / tp tokens a sequence-parallel rank routes: the model's
    rows per expert match the real function whatever the stated imbalance (cf = 1.5 pads 1.5x the
    balanced load; an unpadded capacity would cap at the imbalance)."""
    get_capacity = pytest.importorskip("megatron.core.transformer.moe.moe_utils").get_capacity
    e = QWEN3_235B.moe.model_copy(update=dict(dropless=False, capacity_factor=cf, pad_to_capacity=True,
                                              imbalance=imbalance))
    T = 4096 * 2  # a micro-batch of 2 sequences on each attention rank of the tp group (SP: T / tp each)
    _, rows, _ = moe.expert_shapes(T, tp, etp, ep, e.experts, e.top_k, moe.expert_load(e))
    truth = get_capacity(num_tokens=T // tp * e.top_k, num_experts=e.experts, capacity_factor=cf) * etp * ep
    assert rows == pytest.approx(truth, rel=1e-3)
    unpadded = e.model_copy(update=dict(pad_to_capacity=False))
    assert moe.expert_load(unpadded) == min(imbalance, cf)
    assert moe.expert_load(e.model_copy(update=dict(dropless=True, pad_to_capacity=False))) == imbalance


@pytest.mark.parametrize("cf", [1.0, 1.25, 2.0])
def test_padded_capacity_saves_the_padding_rows(cf):
    """Padded to capacity, the experts' saved activations hold every expert's full capacity: the routed
    rows (fc1 output, activation, dispatched input, expert output) are Megatron-Core's ``get_capacity``
    x experts over the T k routed tokens of dropless routing; the per-token router tensors do not grow."""
    from planner.model.activations import layer_saved_tensors

    get_capacity = pytest.importorskip("megatron.core.transformer.moe.moe_utils").get_capacity
    base = QWEN3_235B
    padded = base.model_copy(update={"moe": base.moe.model_copy(update=dict(dropless=False, capacity_factor=cf,
                                                                          pad_to_capacity=True))})
    def rows(m):
        return {r.name: r.per_token for r in layer_saved_tensors(m, 4096.0, flash=True, dropout=False, moe=True)}
    d, p = rows(base), rows(padded)
    T, e = 8192, base.moe
    truth = get_capacity(num_tokens=T * e.top_k, num_experts=e.experts, capacity_factor=cf) * e.experts / (T * e.top_k)
    routed = [n for n in d if (n.startswith("mlp.") and n != "mlp.input") or n in ("moe.dispatched_input", "moe.expert_out")]
    assert len(routed) >= 4
    for n in routed:
        assert p[n] / d[n] == pytest.approx(truth, rel=1e-3), n
    for n in ("moe.router_probs", "moe.routing_indices", "moe.routing_weights", "mlp.input"):
        assert p[n] == d[n], n
    unpadded = base.model_copy(update={"moe": padded.moe.model_copy(update=dict(pad_to_capacity=False))})
    assert rows(unpadded) == d  # dropping keeps at most the routed rows


def test_pad_to_capacity_needs_a_capacity_factor():
    """Megatron-Core refuses --moe-pad-expert-input-to-capacity without --moe-expert-capacity-factor:
    a dropless MoESpec cannot pad."""
    with pytest.raises(ValueError, match="pad_to_capacity"):
        ModelSpec(**{**PRESETS["qwen3-30b-a3b"], "moe": {**PRESETS["qwen3-30b-a3b"]["moe"], "pad_to_capacity": True}})


def test_padded_capacity_runs_without_the_dispatcher_sync(catalog):
    """The tokendrop recipe (capacity 1.0, padded) computes the balanced load and drops the dropless
    dispatcher's device-to-host sync (static shapes: ``cuda_sync_point = "no_sync"``): its step is the
    force-balanced dropless step less the sync, and a padded capacity factor of 1.5 costs more."""
    base = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    def step(**upd):
        m = base.model_copy(update={"moe": base.moe.model_copy(update=upd)}) if upd else base
        return float(step_time(m, T4K, cands(tp=1, pp=1, dp=8, ep=8, etp=1), hw_for(catalog, "H100"),
                               framework=resolve("megatron-core"))["step_time_s"][0])
    dropless, td = step(), step(dropless=False, capacity_factor=1.0, pad_to_capacity=True)
    assert td < dropless
    assert step(dropless=False, capacity_factor=1.5, pad_to_capacity=True) > td
    # the same balanced load without padding keeps the sync (the splits still reach the host): it costs
    # what dropless balanced routing costs, and padding saves exactly one sync per MoE layer pass
    balanced = step(imbalance=1.0)
    unpadded = step(dropless=False, capacity_factor=1.0, pad_to_capacity=False, imbalance=1.0)
    assert unpadded == pytest.approx(balanced, rel=1e-12)
    assert unpadded > td


# ------------------------------------------------------------------------------- multi-stream grouped GEMM host
def test_grouped_gemm_host_cost_follows_the_gemms_scaling():
    """Block-scaled recipes (MXFP8, NVFP4) pay TE PR #3134's SM100 per-expert set-up, 16-bit and per-tensor fp8
    GEMMs at most what TE 2.7's measured bf16 multi-stream time leaves (PR #2045): at 8 local experts and any
    per-op host time, one forward's two projections cost 16 x the per-expert figure; every recipe the
    vocabulary names has a scaling; fused grouped MLPs and stacks without TEGroupedMLP pay none."""
    core = resolve("megatron-core")
    assert set(moe.GROUPED_GEMM_SCALING) == set(FP8_RECIPE.names)
    block, tensor = moe.TE_GROUPED_GEMM_PER_EXPERT_S["block"], moe.TE_GROUPED_GEMM_PER_EXPERT_S["tensor"]
    for launch in (10e-6, 15e-6, 20e-6):
        for recipe, per_expert in ((None, tensor), ("tensorwise", tensor), ("delayed", tensor),
                                   ("mxfp8", block), ("nvfp4", block)):
            assert moe.grouped_gemm_host_ops(core, 8, launch, recipe) * launch == pytest.approx(16 * per_expert)
    assert tensor < block / 2
    assert moe.grouped_gemm_host_ops(resolve("megatron-core", moe_fused_mlp=True), 8, 15e-6, "nvfp4") == 0.0
    assert moe.grouped_gemm_host_ops(resolve("hf-trainer"), 8, 15e-6) == 0.0


def test_grouped_gemm_host_cost_moves_only_host_bound_passes(catalog, monkeypatch):
    """Qwen3-30B-A3B on 8 B200s at EP 8 (16 local experts, 96 expert GEMMs per layer pass): one 4096-token
    micro-batch leaves the GPU with less work per layer than the host's per-expert cuBLASLt set-up, so the
    step grows; at 8 sequences per micro-batch the GPU bounds every pass and the step does not move."""
    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    hw = hw_for(catalog, "B200-SXM-180GB")
    def step(mb):
        t = TrainingSpec(seq_len=4096, global_batch=64 * mb, micro_batch=mb, precision="fp8")
        return float(step_time(m, t, cands(tp=1, pp=1, dp=8, ep=8, etp=1, mb=mb), hw,
                               framework=resolve("megatron-core", fp8_recipe="mxfp8"))["step_time_s"][0])
    on1, on8 = step(1), step(8)
    monkeypatch.setattr(moe, "TE_GROUPED_GEMM_PER_EXPERT_S", {"block": 0.0, "tensor": 0.0})
    off1, off8 = step(1), step(8)
    # +18% (it was +24% before moe41: the router's GPU kernels raised the GPU side the host set-up is compared with)
    assert on1 > 1.15 * off1
    assert on8 == pytest.approx(off8, rel=1e-3)


# ------------------------------------------------------------------------ all-to-all chunk sort
def test_chunk_sort_bytes_are_what_megatrons_unfused_sort_runs():
    """moe.chunk_sort_bytes against the aten ops of Megatron-Core's unfused ``sort_chunks_by_idxs``
    (moe_utils.py: ``torch.split`` by the per-(source rank, local expert) counts, ``torch.cat`` in the
    new order), run as the all-to-all dispatcher runs it: sorted by local expert after the dispatch
    (``sort_input_by_local_experts``) and back before the combine (``restore_output_by_local_experts``),
    bf16 rows, counted op by op by a dispatch mode (forward)."""
    torch = pytest.importorskip("torch")
    ep, local, per, h = 4, 3, 8, 64
    experts = ep * local
    rows = experts * per  # each source rank sends ``per`` rows to each expert
    x = torch.randn(rows, h, dtype=torch.bfloat16, requires_grad=True)
    idx = torch.arange(experts)
    sort_in, restore = idx.reshape(-1, local).T.ravel(), idx.reshape(local, -1).T.ravel()
    counts = [per] * experts

    def sort(t, order):
        chunks = torch.split(t, counts, dim=0)
        return torch.cat([chunks[i] for i in order.tolist()], dim=0)

    fwd, _ = hbm_bytes(lambda: sort(sort(x, sort_in), restore))
    top_k = 2  # rows = tokens x top_k on this rank
    want = moe.chunk_sort_bytes(rows / top_k, top_k, h, 2.0, local, dedup=False)
    assert fwd == pytest.approx(float(want), rel=0.01)


def test_chunk_sort_only_for_the_all_to_all_dispatcher_with_several_local_experts():
    """The sort happens where the rank holds more than one expert and tokens came through Megatron's
    all-to-all: none with one local expert (``num_local_experts > 1``) or for the flex dispatchers (DeepEP /
    HybridEP permute once, locally); without EP too (dispatch_postprocess tests only the local experts: the
    sort is then an identity permutation, still a copy). Where it happens, one sort reads and
    writes every row the rank received: the all-to-all's bytes (moe.dispatch_bytes, every copy sent,
    this rank's own share included) twice over, for the sort and the unsort; with ETP, the etp ranks' rows."""
    T, k, h, b = 4096.0, 8, 2048, 2.0
    assert float(moe.chunk_sort_bytes(T, k, h, b, 1, dedup=False)) == 0.0
    assert float(moe.chunk_sort_bytes(T, k, h, b, 128, dedup=False)) == pytest.approx(2 * 2 * T * k * h * b)
    assert float(moe.chunk_sort_bytes(T, k, h, b, 16, dedup=True)) == 0.0
    ep = 16
    nvl, nic = moe.dispatch_bytes(T, k, h, b, ep, 8, False, 128)
    received = float(nvl + nic) * ep / (ep - 1)  # what leaves the rank, plus the share it keeps
    assert float(moe.chunk_sort_bytes(T, k, h, b, 8, dedup=False)) == pytest.approx(2 * 2 * received)
    # expert-tensor parallelism: the sort runs after the ETP all-gather, on the etp ranks' rows together
    assert float(moe.chunk_sort_bytes(T, k, h, b, 8, dedup=False, etp=2)) == pytest.approx(2 * 2 * 2 * received)


def test_chunk_sort_slows_the_all_to_all_moe_layer_by_its_bytes(catalog, monkeypatch):
    """Qwen3-30B-A3B at EP 8 (16 local experts) on Megatron-Core's all-to-all dispatcher, GPU-bound
    (8 sequences per micro-batch): the step is longer than the same step without the chunk sort by the
    sort's HBM time, forward and backward (x BWD_MEMBOUND_FACTOR), per MoE layer and micro-batch."""
    from planner.model.layer_ops import BWD_MEMBOUND_FACTOR

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    t = TrainingSpec(seq_len=4096, global_batch=256, precision="bf16")
    hw = hw_for(catalog, "B200-SXM-180GB")
    c = cands(tp=[1], pp=1, dp=8, ep=8, mb=8, zero=1, gpus_per_node=8)
    fw = resolve("megatron-core", moe_dispatcher="alltoall")
    with_sort = step_time(m, t, c, hw, framework=fw)
    sort_b = float(moe.chunk_sort_bytes(8 * 4096.0, 8, m.hidden, 2.0, 16, dedup=False))
    monkeypatch.setattr(moe, "chunk_sort_bytes", lambda *a, **k: 0.0)
    without = step_time(m, t, c, hw, framework=fw)
    passes = float(with_sort["num_microbatches"][0]) * m.moe_layers
    want = passes * (1 + BWD_MEMBOUND_FACTOR) * sort_b / (hw.gpu.hbm_bw * hw.eff.hbm)
    got = float(with_sort["step_time_s"][0] - without["step_time_s"][0])
    assert got == pytest.approx(want, rel=0.02)


# ------------------------------------------------------------------------------- HybridEP's extras
def test_hybridep_probability_rows_match_the_design_docs_buffers():
    """moe.prob_row_bytes against deepseek-ai/DeepEP docs/Hybrid-EP_Implementation.md §4.2's worked example
    (EP64, 256 experts, BF16, hidden 7168, 4096 tokens per rank, max_tokens = 262,144): the intra-node prob
    buffer is "262,144 x 256 x 4B ~256 MB" on MNNVL (64 ranks in one NVLink domain) and "262,144 x 32 x 4B
    ~32 MB" with 8 ranks x 8 nodes, beside a "262,144 x 7168 x 2B ~3.5 GB" token buffer: one float per expert
    of the NVLink domain per token row. The all-to-all and DeepEP dispatchers carry none."""
    max_tokens = 4096 * 64
    assert max_tokens * moe.prob_row_bytes("hybridep", 256, 64, 64) == 256 * 2**20
    assert max_tokens * moe.prob_row_bytes("hybridep", 256, 64, 8) == 32 * 2**20
    assert max_tokens * 7168 * 2 == pytest.approx(3.5 * 2**30)
    assert moe.prob_row_bytes("alltoall", 256, 64, 64) == moe.prob_row_bytes("deepep", 256, 64, 64) == 0.0


def test_hybridep_gathers_its_routing_map_once_per_forward(monkeypatch):
    """The routing-map all-gather of moe.dispatch_extra_time is the ``[num_tokens * group_size, num_experts]``
    torch.bool ``global_routing_map`` of DeepEP's hybrid_ep_buffer.py: GPT-OSS-120B on 64 GB200 (MBS 4 x seq 4096
    = 16,384 tokens, 128 experts) gathers 16,384 x 64 x 128 bytes = 128 MiB, of which each rank receives 63/64
    over NVLink; no per-hop latency (the all-to-all dispatcher's own count all-gather pays the same one). The
    probability rows (probabilities off here) and the other dispatchers add nothing."""
    monkeypatch.setitem(moe.PROB_ROW_BYTES_PER_EXPERT, "hybridep", 0.0)
    bw = 720e9
    for alpha in (0.0, 8e-6):
        t = moe.dispatch_extra_time("hybridep", 16384.0, 128, 4, 64.0, 64.0, 1, 72, (bw, 50e9, alpha, alpha))
        assert np.ravel(t)[0] == pytest.approx(63 / 64 * 128 * 2**20 / bw)
    for d in ("alltoall", "deepep"):
        assert moe.dispatch_extra_time(d, 16384.0, 128, 4, 64.0, 64.0, 1, 72, (bw, 50e9, 8e-6, 8e-6)) == 0.0


def test_hybridep_extras_are_charged_once_per_layer_without_overlap(catalog, monkeypatch):
    """Without the all-to-all overlap every second of moe.dispatch_extra_time is exposed: on one rank (no data
    or pipeline parallelism beyond EP) the step grows by layers x micro-batches x the layer's extras over the
    same layout with them zeroed (GPT-OSS-120B, EP 8 on one DGX B200)."""
    m = ModelSpec(**PRESETS["gpt-oss-120b"])
    t = TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16")
    hw = hw_for(catalog, "B200-SXM-180GB")
    c = cands(dp=8, ep=8, zero=1)
    fw = resolve("megatron-core", moe_dispatcher="hybridep")
    with_extras = float(step_time(m, t, c, hw, framework=fw)["step_time_s"][0])
    extra = np.ravel(moe.dispatch_extra_time("hybridep", 4096.0, m.moe.experts, m.moe.top_k,
                                             8.0, 8.0, 1, 8, (hw.intra_bw_eff, hw.inter_bw_per_gpu, 0.0, 0.0),
                                             load=moe.expert_load(m.moe)))[0]
    monkeypatch.setitem(moe.ROUTING_MAP_GATHER_BYTES, "hybridep", 0.0)
    monkeypatch.setitem(moe.PROB_ROW_BYTES_PER_EXPERT, "hybridep", 0.0)
    bare = float(step_time(m, t, c, hw, framework=fw)["step_time_s"][0])
    assert extra > 0
    assert with_extras - bare == pytest.approx(m.moe_layers * extra, rel=1e-3)


def test_routing_map_gather_does_not_grow_with_the_experts_load():
    """The routing map is one row per routed token (tokens x experts bools), whatever the busiest expert's load:
    a stated imbalance grows only the probability rows that ride with the token rows."""
    links = (600e9, 50e9, 0.0, 0.0)
    base = moe.dispatch_extra_time("hybridep", 4096.0, 128, 8, 64.0, 64.0, 1, 72, links)
    heavy = moe.dispatch_extra_time("hybridep", 4096.0, 128, 8, 64.0, 64.0, 1, 72, links, load=2.0)
    saved = dict(moe.ROUTING_MAP_GATHER_BYTES)
    try:
        moe.ROUTING_MAP_GATHER_BYTES["hybridep"] = 0.0
        probs = moe.dispatch_extra_time("hybridep", 4096.0, 128, 8, 64.0, 64.0, 1, 72, links)
        probs2 = moe.dispatch_extra_time("hybridep", 4096.0, 128, 8, 64.0, 64.0, 1, 72, links, load=2.0)
    finally:
        moe.ROUTING_MAP_GATHER_BYTES.update(saved)
    assert probs2 == pytest.approx(2 * probs)
    assert heavy - base == pytest.approx(probs2 - probs)  # the gather's share did not move


def test_a2a_overlap_hides_hybridep_extras_in_the_forward_dispatch_phase():
    """moe.a2a_overlap_hidden puts ``extra`` beside the backward MLP (forward-dispatch phase): hidden up to it."""
    slow = moe.A2A_COMM_SMS / (132 - moe.A2A_COMM_SMS)
    assert moe.a2a_overlap_hidden(1.0, 2, 2, 2, 2, 132, extra=0.5) == pytest.approx(4.5 * (1 - slow))
    assert moe.a2a_overlap_hidden(1.0, 2, 2, 2, 1.2, 132, extra=0.5) == pytest.approx(4.2 * (1 - slow))


# ------------------------------------------------------------------------------- fused grouped MLP
def test_fused_mlp_bytes_are_the_activation_pass_and_the_cast_read():
    """TE's fused grouped MLP (moe.fused_mlp_bytes) under MXFP8 removes the routed experts' activation pass
    (read fc1's 2f outputs, write f: 3f 16-bit elements per routed row), adds back the dgrad epilogue's read of
    the saved fc1 output (2f), and cuts the 16-bit read (2 B per element: TE's MXFP8 quantize kernel reads its
    input once for both orientations) of fc2's input cast and of fc1's output-gradient cast. Only with
    ``moe_fused_mlp`` on a grouped-GEMM stack, under a recipe the fuser takes (MXFP8; bf16 and the other fp8
    recipes run the ops unfused; NVFP4 not modelled)."""
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    f = q.ffn_hidden
    fused = resolve("megatron-core", moe_fused_mlp=True)
    b = moe.fused_mlp_bytes(q, fused, "mxfp8", 1000.0, 2.0)
    assert float(b.act_fwd) == pytest.approx(1000 * 3 * f * 2)
    assert float(b.bwd_epilogue) == pytest.approx(1000 * 2 * f * 2)
    assert b.cast_cut == 2.0
    for st, rec in ((resolve("megatron-core"), "mxfp8"), (fused, None), (fused, "tensorwise"), (fused, "nvfp4"),
                    (resolve("hf-trainer"), "mxfp8")):
        z = moe.fused_mlp_bytes(q, st, rec, 1000.0, 2.0)
        assert float(z.act_fwd) == 0.0 and float(z.bwd_epilogue) == 0.0 and z.cast_cut == 0.0


def test_fused_mlp_step_saves_exactly_the_named_passes(catalog):
    """On B200 under MXFP8, Qwen3-30B-A3B with the fused grouped MLP runs faster than without by exactly the HBM
    time of the passes ``fused_mlp_bytes`` names: forward, the activation over T k routed rows and the 16-bit
    read of fc2's input cast over the busiest expert's rows; backward, twice the activation
    (layer_ops.BWD_MEMBOUND_FACTOR) less the epilogue's read of fc1's saved output, plus the 16-bit read of
    fc1's output-gradient cast (2f wide); and the unfused path's per-expert quantize launches
    (``moe.split_quantize_kernels``: one kernel per local expert for each GEMM's input forward and output gradient
    backward, at ``kernel_gap_s``), which the fused path's grouped quantize does not pay. Under bf16 the option changes
    nothing (the fuser needs MXFP8 / NVFP4)."""
    from planner.model.layer_ops import BWD_MEMBOUND_FACTOR
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    hw = hw_for(catalog, "B200-SXM-180GB", launch_s=0.0)  # no host time: the option's host ops drop out too
    c = cands(tp=[1], pp=1, dp=8, ep=8, gpus_per_node=8)
    seq, f, k = 4096, q.ffn_hidden, q.moe.top_k
    mem = lambda b: float(hw.eff.memory_time(b, hw.gpu.hbm_bw))  # noqa: E731
    t = TrainingSpec(seq_len=seq, global_batch=64, micro_batch=1, precision="fp8")
    opts = dict(fp8_recipe="mxfp8", moe_dispatcher="hybridep")
    on = step_time(q, t, c, hw, framework=resolve("megatron-core", moe_fused_mlp=True, **opts))
    off = step_time(q, t, c, hw, framework=resolve("megatron-core", **opts))
    local, tok, _ = moe.expert_shapes(seq, 1, 1, 8, q.moe.experts, k, moe.expert_load(q.moe))
    busy = local * tok  # the rows the grouped GEMMs (and their casts) see
    act = seq * k * 3 * f * 2.0
    split = 2 * local * hw.eff.kernel_gap_s  # fc1 and fc2 quantise expert by expert when unfused
    reads = moe.FUSED_MLP_CAST_READS["mxfp8"]  # the cast's one 16-bit read: 2 B per element
    want_f = mem(act) + mem(busy * f * reads) + split
    want_b = BWD_MEMBOUND_FACTOR * mem(act) - mem(seq * k * 2 * f * 2.0) + mem(busy * 2 * f * reads) + split
    n = q.moe_layers
    assert off["t_fwd_mb"][0] - on["t_fwd_mb"][0] == pytest.approx(n * want_f, rel=1e-6)
    assert off["t_bwd_mb"][0] - on["t_bwd_mb"][0] == pytest.approx(n * want_b, rel=1e-6)
    assert on["step_time_s"][0] < off["step_time_s"][0]
    tb = TrainingSpec(seq_len=seq, global_batch=64, micro_batch=1, precision="bf16")
    same = [float(step_time(q, tb, c, hw, framework=resolve("megatron-core", moe_dispatcher="hybridep", **x))["step_time_s"][0])
            for x in ({}, {"moe_fused_mlp": True})]
    assert same[0] == same[1]


# ------------------------------------------------------------------ per-expert quantisation (split_quantize)
def test_split_quantize_kernels_follow_te_per_recipe_and_stack():
    """TE GroupedLinear's ``split_quantize`` (pytorch/csrc/extensions/cast.cpp): one fused multi-cast kernel only
    for delayed scaling, else a quantizer call per expert -- MXFP8 one kernel, per-tensor current scaling three
    (amax, scale, cast); NVFP4 with the Hadamard transform runs grouped kernels. Only Megatron-Core's unfused
    TEGroupedMLP: the fused grouped MLP quantises with one grouped launch, other stacks' experts are not TE's."""
    mc = resolve("megatron-core")
    want = {"mxfp8": 1.0, "tensorwise": 3.0, "delayed": 0.0, "nvfp4": 0.0, None: 0.0}
    for rec, n in want.items():
        st = resolve("megatron-core", fp8_recipe=rec) if rec else mc
        assert moe.split_quantize_kernels(st, rec) == n, rec
    assert moe.split_quantize_kernels(resolve("megatron-core", fp8_recipe="mxfp8", moe_fused_mlp=True), "mxfp8") == 0.0
    assert moe.split_quantize_kernels(resolve("nemo-automodel", fp8_recipe="tensorwise"), "tensorwise") == 0.0


@pytest.mark.parametrize("recipe,per_cast", [("mxfp8", 1), ("tensorwise", 3)])
def test_split_quantize_launches_cost_a_kernel_gap_each(catalog, recipe, per_cast):
    """Qwen3-30B-A3B at EP 8 (16 local experts) on B200, unfused TEGroupedMLP: what the GPU's per-kernel gap adds to
    a micro-batch's forward under the fp8 recipe beyond what it adds under bf16 is exactly the split quantize
    launches -- per MoE layer, each local expert's fc1 and fc2 input cast (``per_cast`` kernels each; Megatron-Core
    caches the expert weights' casts after the first micro-batch) -- and the backward the same for the two output
    gradients. Host time off (launch_s 0): GPU-bound, so the gaps add as they are."""
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    c = cands(tp=[1], pp=1, dp=8, ep=8, gpus_per_node=8)
    gap = 5e-6

    def gap_cost(precision, rec):
        t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision=precision)
        st = resolve("megatron-core", fp8_recipe=rec, moe_dispatcher="hybridep")
        r = [step_time(q, t, c, hw_for(catalog, "B200-SXM-180GB", launch_s=0.0, kernel_gap_s=g), framework=st)
             for g in (0.0, gap)]
        return (r[1]["t_fwd_mb"][0] - r[0]["t_fwd_mb"][0]), (r[1]["t_bwd_mb"][0] - r[0]["t_bwd_mb"][0])

    lp, bf = gap_cost("fp8", recipe), gap_cost("bf16", "tensorwise")
    local = q.moe.experts // 8
    want = q.moe_layers * 2 * local * per_cast * gap
    assert lp[0] - bf[0] == pytest.approx(want, rel=1e-6)
    assert lp[1] - bf[1] == pytest.approx(want, rel=1e-6)


# ------------------------------------------------------------------ shared experts on their own stream
def _shared_stream(catalog, preset, on, rc=0):
    """One 16-GPU EP-16 DeepEP job on ``nemo-automodel`` with the shared-expert stream on or off (Stack field)."""
    from dataclasses import replace

    m = ModelSpec(**PRESETS[preset])
    c = cands(dp=16, ep=16, zero=3, nodes=2, rc=rc)
    st = replace(resolve("nemo-automodel", moe_dispatcher="deepep"), moe_shared_stream=on)
    return step_time(m, T4K, c, hw_for(catalog), framework=st)


def test_shared_stream_hidden_is_the_shorter_side_on_the_sms_left():
    """Each pass hides the shorter of its dispatch + combine and its shared-expert GEMMs, those slowed by the
    dispatcher's SMs (as the combined-1F1B overlap counts them)."""
    keep = 1 - moe.A2A_COMM_SMS / (132 - moe.A2A_COMM_SMS)
    assert moe.shared_stream_hidden(1.0, 3.0, 2.0, 132) == pytest.approx(2.0 * keep)  # all-to-alls shorter
    assert moe.shared_stream_hidden(1.0, 0.3, 0.2, 132) == pytest.approx(0.5 * keep)  # shared GEMMs shorter
    assert moe.shared_stream_hidden(1.0, 0.0, 0.0, 132) == 0.0


@pytest.mark.parametrize("rc", [0, 2])
def test_shared_stream_hides_only_ep_time_of_models_with_shared_experts(catalog, rc):
    """AutoModel's MoE.forward runs the shared experts on ``_shared_experts_stream``: DeepSeek-V3 (one shared
    expert) saves EP time and nothing else, at most what was exposed; Qwen3-235B (none) is unchanged."""
    off, on = (_shared_stream(catalog, "deepseek-v3", x, rc) for x in (False, True))
    saved = off["step_time_s"][0] - on["step_time_s"][0]
    assert 0 < saved < off["comm_ep"][0]
    assert off["comm_ep"][0] - on["comm_ep"][0] == pytest.approx(saved, rel=1e-6)
    assert on["compute_gemm"][0] == off["compute_gemm"][0]
    q_off, q_on = (_shared_stream(catalog, "qwen3-235b-a22b", x, rc) for x in (False, True))
    assert q_on["step_time_s"][0] == q_off["step_time_s"][0]


def test_shared_stream_is_automodels():
    from planner.model.stacks import STACKS

    assert STACKS["nemo-automodel"].moe_shared_stream
    assert not any(STACKS[s].moe_shared_stream for s in ("megatron-core", "torchtitan", "megatron-bridge"))


# ------------------------------------------------------------------ the router's own kernels (moe.router_kernels)
def test_router_kernels_are_the_megatron_guide_counts_per_dispatcher():
    """Megatron-LM's DeepSeek-V3 GB200 guide: 31 router kernels a layer forward with ``--moe-router-fusion``, 17 for
    the router and preprocess with the flex dispatcher's fused preprocess (HybridEP as DeepEP); only Megatron-Core's
    MoE layer -- no count was found for the other stacks' routers, which stay at 0."""
    want = {"alltoall": 31.0, "deepep": 17.0, "hybridep": 17.0}
    for disp, n in want.items():
        assert moe.router_kernels(resolve("megatron-core", moe_dispatcher=disp)) == n, disp
    assert moe.router_kernels(resolve("nemo-automodel", moe_dispatcher="deepep")) == 0.0
    assert moe.router_kernels(resolve("torchtitan")) == 0.0


@pytest.mark.parametrize("disp", ["alltoall", "hybridep"])
def test_router_kernels_cost_a_kernel_gap_each_forward_and_twice_backward(catalog, monkeypatch, disp):
    """Qwen3-30B-A3B at EP 8 on B200 (bf16, host time off): what the GPU's per-kernel gap adds to a micro-batch's
    forward is the dense layer's ``kernels_layer`` plus, per MoE layer, the router's kernels -- exactly
    ``moe_layers x router_kernels x gap`` more than with the router count set to 0, and twice that in the backward
    (as ``kernels_layer``)."""
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    c = cands(tp=[1], pp=1, dp=8, ep=8, gpus_per_node=8)
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16")
    st = resolve("megatron-core", moe_dispatcher=disp)
    gap = 5e-6

    def gap_cost():
        r = [step_time(q, t, c, hw_for(catalog, "B200-SXM-180GB", launch_s=0.0, kernel_gap_s=g), framework=st)
             for g in (0.0, gap)]
        return (r[1]["t_fwd_mb"][0] - r[0]["t_fwd_mb"][0]), (r[1]["t_bwd_mb"][0] - r[0]["t_bwd_mb"][0])

    with_router = gap_cost()
    monkeypatch.setattr(moe, "MOE_ROUTER_KERNELS", {})
    without = gap_cost()
    want = q.moe_layers * {"alltoall": 31.0, "hybridep": 17.0}[disp] * gap
    assert with_router[0] - without[0] == pytest.approx(want, rel=1e-6)
    assert with_router[1] - without[1] == pytest.approx(2 * want, rel=1e-6)
