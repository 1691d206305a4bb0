"""step42: a pipeline rank is priced by the layer kinds it holds (DeepSeek-V3's first three dense layers on the first
rank, MoE layers elsewhere: step_time ``pace_rank`` / ``rank_mix``), and each rank hides its own paired share of the
combined-1F1B all-to-all (``A2AShare.at``), not the first rank's."""

import numpy as np
import pytest

from planner.model import moe
from planner.model import pipeline as P
from planner.model import step_time as S
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

# Megatron-Core's own DeepSeek-V3 split on PP 16 (Megatron-Bridge recipes/deepseek/deepseek_v3.py
# _get_deepseek_v3_pipeline_layout (16, 1); the open_reports row's layout): embedding + 4 layers, 14 x 4, 1 + MTP + loss
DSV3_LAYOUT = "Et*4|(t*4|)*14tL"  # (the MTP layer "m" left out with the model's MTP module)


def _dsv3(moe_over=None):
    # no MTP module: the last rank (1 layer + the LM head and loss) is then lighter than a middle rank's 4 layers
    model = {"preset": "deepseek-v3", "mtp_layers": 0}
    if moe_over:
        model["moe"] = moe_over
    return load_job_dict({
        "model": model,
        "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "tokens": 1e12, "precision": "bf16",
                     "recompute": "full",
                     "framework": {"name": "megatron-core", "moe_dispatcher": "alltoall", 
                                   "pp_layout": DSV3_LAYOUT}},
        "parallel": {"tp": 1, "pp": 16, "ep": 8, "etp": 1, "dp": 8, "zero": 1},
        "cluster": {"gpu": "H100-SXM", "gpus_per_node": 8, "nodes": 16}})


def _pacing(monkeypatch, job):
    """(result, the pacing stage, the job's row among its stage keys)"""
    seen = []
    orig = S.pacing_stage

    def spy(m, fw, sk, lr):
        st = orig(m, fw, sk, lr)
        seen.append((st, int(sk.inv[0])))
        return st

    monkeypatch.setattr(S, "pacing_stage", spy)
    res = estimate_job(job)
    return (res,) + seen[-1]


def _pass(d, i=0):
    return float(np.ravel(d["fwd"] + d["bwd"])[i])


def test_rank_mix_counts_each_ranks_kinds_beyond_the_models_mix():
    """DeepSeek-V3's 61 layers (3 dense, 58 MoE) on the PP 16 layout: the first rank's 3 dense + 1 MoE are 171/61
    MoE layers fewer than 4 mean layers hold, each middle rank's 4 MoE 12/61 more; one rank holding every layer: 0."""
    counts = (4,) * 15 + (1,)
    moe_w = np.r_[np.zeros(3), np.ones(58)]
    got = S.rank_mix(61, counts, P.stage_ranks(16, 16), 16, moe_w)
    assert got[0] == pytest.approx(1 - 4 * 58 / 61) and got[1:15] == pytest.approx(np.full(14, 12 / 61))
    assert got[15] == pytest.approx(1 - 58 / 61)
    assert S.rank_mix(61, (61,), P.stage_ranks(1, 1), 1, moe_w).tolist() == [0.0]  # exact: no rounding residue


def test_dsv3_middle_rank_is_priced_at_four_moe_layers_not_four_mean_layers(monkeypatch):
    """The pacing rank of DeepSeek-V3 on the PP 16 layout holds 4 MoE layers: its layers take 4 x the MoE layer's
    pass (the same job with every layer MoE, ``first_dense`` 0, gives that layer as its mean layer), not 4 x the
    mixed model's mean layer (58/61 MoE), which until step42 priced every rank: the step moves by the per-stage sum's
    difference, m x 4 x (3/61) x (MoE - dense) a step before the bubble."""
    res, st, i = _pacing(monkeypatch, _dsv3())
    _, st_moe, j = _pacing(monkeypatch, _dsv3({"first_dense": 0}))
    assert list(res.config.rank_layers) == [4] * 15 + [1]
    assert float(st.nl[i]) == 4.0 and float(st.heads[i]) == 0.0  # a middle rank paces
    t_moe, t_mean = _pass(st_moe.lr.L, j), _pass(st.lr.L, i)
    rank = float(np.ravel(st.layers("fwd") + st.layers("bwd"))[i])
    assert rank == pytest.approx(4 * t_moe, rel=1e-9)
    assert rank - 4 * t_mean == pytest.approx(4 * 3 / 61 * (t_moe - _pass(st.lr.mix["-"][1], i)), rel=1e-6)
    assert rank > 4 * t_mean * 1.003  # the MoE layer is the heavier: the mean layer under-priced this rank


def test_each_rank_hides_its_own_paired_share():
    """Megatron-Core's warm-up on pipeline rank r of the interleaved schedule is 2 (pp - r - 1) + (vpp - 1) N forwards
    (schedules.py ``get_pp_rank_microbatches``), and one more with the overlap on (warm42): the rest are paired;
    DualPipeV's pairs per rank are counted off its schedule (pipeline ``dualpipev_orders``). Until step42 every rank
    was priced at rank 0's share."""
    pp, v, m = 4, 2, 8
    warm = [2 * (pp - r - 1) + (v - 1) * pp + 1 for r in range(pp)]
    assert moe.a2a_paired_share(pp, v, m, rank=np.arange(pp)).tolist() == pytest.approx([1 - w / (m * v) for w in warm])
    orders = P.dualpipev_orders(pp, m)
    pairs = [sum(op[0] == "X" for op in ops) / (2 * m) for ops in orders]
    assert moe.dualpipev_paired_share(pp, m, rank=np.arange(pp)).tolist() == pytest.approx(pairs)
    assert pairs[0] < pairs[-1]


def test_pacing_rank_hides_at_its_own_share(monkeypatch):
    """With the combined-1F1B overlap the step takes the pacing rank's own share of its all-to-all off (pace41's
    Qwen3-235B-A22B H100 FP8 job, TP2 PP8 VP4 EP32, GBS 8192: the last rank paces, whose warm-up is (vpp - 1) pp
    forwards against the first rank's 2 (pp - 1) more), and the step's exposed EP time is the pacing rank's."""
    import test_pace41 as Q
    res, st, i = _pacing(monkeypatch, Q._job())
    m_micro = Q.GB / Q.DP
    assert float(st.nl[i]) == 11.0 and float(st.heads[i]) == 1.0  # the last rank
    last = float(moe.a2a_paired_share(Q.PP, Q.VPP, m_micro, rank=Q.PP - 1))
    assert float(st.share[i]) == pytest.approx(last)
    assert last > float(moe.a2a_paired_share(Q.PP, Q.VPP, m_micro))  # rank 0's, which priced every rank before
