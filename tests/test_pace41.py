"""pace41: the pipeline's pacing rank is the slowest after the combined-1F1B all-to-all overlap hides each rank's own
EP exchange (step_time ``pacing_stage``), not the slowest before it."""

import numpy as np

from planner.model import moe
from planner.model import step_time as S
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

# Megatron-Bridge's Qwen3-235B-A22B H100 FP8 recipe (benchmarks/data/published_runs_2.csv
# mbridge260401_h100_qwen3_235b_a22b_256: TP2 PP8 VP4 EP32, GBS 8192, the validate.py row's layout and overlap)
LAYOUT = "Et*2|(t*3|)*30t*2L"
PP, VPP, DP, GB = 8, 4, 16, 8192


def _job():
    return load_job_dict({
        "model": {"preset": "qwen3-235b-a22b"},
        "training": {"seq_len": 4096, "global_batch": GB, "micro_batch": 1, "tokens": 1e12, "precision": "fp8",
                     "recompute": "selective",
                     "framework": {"name": "megatron-core", "moe_dispatcher": "alltoall", "moe_a2a_overlap": True,
                                   "fp8_recipe": "tensorwise", "pp_layout": LAYOUT}},
        "parallel": {"tp": 2, "pp": PP, "vpp": VPP, "ep": 32, "etp": 1, "dp": DP, "zero": 1},
        "cluster": {"gpu": "H100-SXM", "gpus_per_node": 8, "nodes": 32}})


def _captured(monkeypatch):
    seen = []
    orig = S.pacing_stage

    def spy(m, fw, sk, lr):
        st = orig(m, fw, sk, lr)
        seen.append(st)
        return st

    monkeypatch.setattr(S, "pacing_stage", spy)
    res = estimate_job(_job())
    return res, seen[-1]


def test_pacing_rank_is_the_slowest_after_each_rank_hides_its_all_to_all(monkeypatch):
    """Layout ``Et*2|(t*3|)*30t*2L`` on PP 8 VP 4: ranks 1-6 hold 12 MoE layers, the last 11 and the LM head and
    loss. Before the overlap a 12-layer rank is the slower; the overlap hides a share of each layer's all-to-all and
    none of the head, so after it the last rank is: it paces the step. Until pace41 the rank was picked before the
    overlap (a 12-layer rank, whose exposed time is below the last rank's)."""
    res, st = _captured(monkeypatch)
    lr = st.lr
    assert not lr.kept and lr.K == 0.0  # no 16-bit kept layers, no MTP: layers and the head only
    share = moe.a2a_paired_share(PP, VPP, GB / DP)  # Megatron-Core's paired share of the micro-batches
    assert 0.0 < share < 1.0
    L = lr.L
    t_layer = (L["fwd"] + L["bwd"] - share * L["ep_hide"]).ravel()[0]
    t_head = (L["head_fwd"] + L["head_bwd"]).ravel()[0]
    ranks = np.asarray(res.config.rank_layers, dtype=float)
    assert ranks.tolist() == [11.0] + [12.0] * 6 + [11.0]
    exposed = ranks * t_layer + np.eye(PP)[-1] * t_head  # each rank's time a micro-batch after the overlap
    before = ranks * (L["fwd"] + L["bwd"]).ravel()[0] + np.eye(PP)[-1] * t_head
    assert np.argmax(before) != PP - 1 and np.argmax(exposed) == PP - 1  # the case the fix is about
    assert st.nl.ravel()[0] == 11.0 and st.heads.ravel()[0] == 1.0  # the last rank paces
