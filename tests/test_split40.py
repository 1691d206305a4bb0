"""Block recompute's step time counted chunk by chunk, and Megatron-Bridge's Qwen3-235B split (split40, 2026-12-05).

1. Megatron-Core builds each model chunk as its own TransformerBlock and checkpoints that chunk's first
   ``recompute_num_layers`` layers (transformer_block.py ``_checkpointed_forward``, block method: ``for l in
   range(self.num_layers_per_pipeline_rank): if l < self.config.recompute_num_layers``). The step time priced every
   layer of the pacing rank at the fullest chunk's share min(N, C) / C: chunks (4, 4, 3, 3) at N 2 re-ran 7 layers,
   Megatron re-runs 8. The counts below are that loop written out, not the planner's.
2. Megatron-Bridge's Qwen3-235B-A22B recipe sets ``account_for_embedding_in_pipeline_split`` and
   ``account_for_loss_in_pipeline_split`` and no layout (recipes/qwen/qwen3_235b_a22b.py ``model_config``; the later
   h100/qwen3_moe.py ``qwen3_235b_a22b_pretrain_256gpu_h100_bf16_config`` "Pipeline split accounting"), and its
   workload configs set none: validate.py's Qwen3-235B rows run that split.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.model.pipeline import rank_recomputed
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

LAYOUT = "Etttt|tttt|tttt|tttt|ttt|ttt|ttt|tttL"  # PP2 VPP4: each rank's chunks (4, 4, 3, 3)
CHUNKS = (4, 4, 3, 3)


def _megatron_rerun(chunks, n):
    """transformer_block.py's block loop over each chunk's own layers: the layers checkpointed (re-run)."""
    count = 0
    for layers_in_chunk in chunks:
        for layer in range(layers_in_chunk):
            if layer < n:
                count += 1
    return count


def _job(recompute, n=None, method="block", layout=LAYOUT, pp=2, vpp=4, layers=28):
    tr = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "recompute": recompute,
          "tokens": 1e10, "framework": {"name": "megatron-core", "pp_layout": layout}}
    if n:
        tr.update(recompute_method=method, recompute_num_layers=n)
    return load_job_dict({"model": {"preset": "llama3-8b", "layers": layers}, "training": tr,
                          "parallel": {"tp": 1, "pp": pp, "vpp": vpp, "dp": 4, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


def _gemm(job):
    return estimate_job(job).breakdown_s["compute_gemm"]


def test_rank_recomputed_is_the_block_loop():
    for n in range(0, 6):
        assert rank_recomputed(CHUNKS, 1, 4, np.array([n]))[0, 0] == _megatron_rerun(CHUNKS, n)


@pytest.mark.parametrize("n", [2, 3])
def test_block_recompute_step_counts_each_chunk(n):
    """The pacing rank's recomputed GEMM time is the layers Megatron re-runs (8 at N 2, 12 at N 3, of 14) x one
    layer's re-run forward: (full - none) x re-run / 14. Before: 7 and 10.5 layers."""
    none, full = _gemm(_job("none")), _gemm(_job("full"))
    want = none + (full - none) * _megatron_rerun(CHUNKS, n) / sum(CHUNKS)
    assert _gemm(_job("full", n)) == pytest.approx(want, rel=1e-9)


def test_hfu_counts_every_chunks_rerun():
    """HFU's recomputed FLOPs are the whole model's: both ranks' chunks (4, 4, 3, 3) at N 2 re-run 16 of the 28 layers
    (the block loop per chunk), not the fullest chunk's 2 / 4 of them."""
    hw = {a: estimate_job(_job(*a)).hw_flops_per_step for a in (("none",), ("full",), ("full", 2))}
    want = hw[("none",)] + (hw[("full",)] - hw[("none",)]) * 2 * _megatron_rerun(CHUNKS, 2) / 28
    assert hw[("full", 2)] == pytest.approx(want, rel=1e-9)


def test_uneven_1f1b_rank_above_the_fullest_share():
    """1F1B (no VPP), an explicit layout whose first rank holds 8 layers of 12 (above ceil(12 / 2) = 6): at N 6
    Megatron re-runs 6 of rank 0's 8; the fullest-share rule (min(6, 6) / 6) re-ran all 8."""
    kw = dict(layout="Et*8|t*4L", vpp=1, layers=12)
    none, full = _gemm(_job("none", **kw)), _gemm(_job("full", **kw))
    assert _gemm(_job("full", 6, **kw)) == pytest.approx(none + (full - none) * 6 / 8, rel=1e-9)


def _accounted(layers, pp, vpp):
    """Megatron-Core ``get_num_layers_to_build`` with both accounting flags, written out: layers + 2 over the
    virtual stages, one less on the first (embedding) and on the last (loss)."""
    stages = pp * vpp
    per = (layers + 2) // stages
    assert (layers + 2) % stages == 0
    return tuple(per - (s == 0) - (s == stages - 1) for s in range(stages))


def test_qwen3_235b_rows_run_the_recipes_accounted_split():
    """validate.py's Qwen3-235B Megatron-Bridge rows carry the split their recipe's accounting builds: the three
    B200 PP8 VPP2 rows 5, 6 x 14, 5 per virtual stage (ranks 11, 12 x 6, 11), every other (PP, VPP) the same rule;
    before, no layout (the planner's open choice, which happened to give the same ranks)."""
    import sys

    import pandas as pd

    from conftest import ROOT
    from planner.model.pipeline import ExplicitLayout
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate

    rows = pd.read_csv(validate.MBRIDGE_ALL_CSV)
    rows = rows[rows["id"].str.contains("qwen3-235b")]
    b200 = rows[rows["id"].str.contains("_b200_") & (rows["pp"] == 8) & (rows["vpp"] == 2)]
    assert len(b200) == 3
    for r in rows.itertuples():
        pp, vpp = int(r.pp), int(r.vpp) if r.vpp == r.vpp else 1
        layout = validate.mbridge_pp_layout(r)
        if pp * vpp == 1:  # no pipeline: nothing to split
            assert layout is None
            continue
        assert layout is not None and ExplicitLayout.parse(layout).counts == _accounted(94, pp, vpp)
    r = next(b200.itertuples())
    assert validate.mbridge_pp_layout(r) == "Et*5|(t*6|)*14t*5L"
    assert validate.pr2_options(r, "megatron-core")["pp_layout"] == "Et*5|(t*6|)*14t*5L"


def test_1f1b_ranks_keep_their_own_first_n():
    """1F1B, 94 layers on PP8 (Megatron's 11, 12 x 6, 11), block N 5, a layer's saves 1 checkpointed and 3 whole:
    rank r keeps min(5, n_r) inputs and the rest whole, x its pp - r micro-batches -- rank 0 (5 + 6 x 3) x 8 = 184
    (over rank 1's (5 + 7 x 3) x 7 = 182), the last 5 + 6 x 3 = 23; the fullest rank's share 5 / 12 on every rank
    gave 190.7 and 23.8."""
    from planner.layout import Candidates
    from planner.model import memory_activations as MA
    from planner.model.pipeline import pipeline_split, split_runtime
    from planner.model.stacks import from_training
    from planner.vocab import SCHEDULE

    j = load_job_dict({"model": {"preset": "llama3-8b", "layers": 94},
                       "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                    "recompute": "full", "tokens": 1e11, "framework": {"name": "megatron-core"}},
                       "parallel": {"tp": 1, "pp": 8, "dp": 8, "zero": 1},
                       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 8}})
    m, st = j.model, from_training(j.training)
    n, full, none, mm = 5, 1.0, 3.0, 64.0
    c = Candidates(tp=np.array([1]), pp=8, dp=8, cp=1, ep=1, vpp=1, zero=1, mb=1, rc=2, sp=False,
                   schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=8, rn=np.array([n]))
    counts = pipeline_split(94, 8, 1, split_runtime(st, m))[1]
    assert counts == (11,) + (12,) * 6 + (11,)
    f = min(n, 12) / 12  # the mean layer's mix (memory_activations._partial_recompute_saves)
    one = np.array([1.0])
    got = MA.rank_activations(m, st, c, np.array([mm]), np.array([mm]), (f * full + (1 - f) * none) * one,
                              0 * one, 0 * one, None, lambda: ({"": full * one}, {"": none * one}))
    first, last = got.first, got.last
    walk = [(_megatron_rerun((c_r,), n) * full + (c_r - _megatron_rerun((c_r,), n)) * none) * (8 - r)
            for r, c_r in enumerate(counts)]
    assert walk[:2] == [184.0, 182.0] and walk[-1] == 23.0
    assert first[0] == pytest.approx(max(walk[:-1])) and last[0] == pytest.approx(walk[-1])


def test_rebuild_peak_at_the_chunk_with_fewest_plain_layers():
    """Chunks (4, 4, 3, 3) at N 2: a 3-layer chunk frees 1 plain layer's saves before its first 2 are rebuilt, not the
    fullest chunk's 2, so a rebuild working set of 10 (a plain layer's saves 3, its own working set 2) adds
    max(2, 10 - 1 x 3) = 7; the fullest chunk's count gave max(2, 10 - 2 x 3) = 4."""
    from planner.layout import Candidates
    from planner.model import memory_activations as MA
    from planner.model.pipeline import split_runtime
    from planner.model.stacks import from_training
    from planner.vocab import SCHEDULE

    j = _job("full", 2)
    m, st = j.model, from_training(j.training)
    c = Candidates(tp=np.array([1]), pp=2, dp=4, cp=1, ep=1, vpp=4, zero=1, mb=1, rc=2, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=1, rn=np.array([2]))
    one = np.array([1.0])
    _, rws = MA._partial_recompute_saves(m, j.training, c, 1.0 * one, 10.0 * one, lambda: [3.0 * one, 2.0 * one],
                                         0, split_runtime(st, m))
    plain = min(c_ - _megatron_rerun((c_,), 2) for c_ in CHUNKS)
    assert plain == 1 and rws[0] == pytest.approx(max(2.0, 10.0 - plain * 3.0))


def test_split_weighs_dense_and_moe_layers_apart():
    """Kimi K2 (first layer dense, 60 MoE) on PP8 VPP3: rank 0's 8 layers hold 1 dense + 7 MoE layers' parameters,
    fewer than a middle rank's 8 MoE layers (count_params' own layers), so the lighter pace (8 x 7, 5) is taken;
    counted as 8 mean layers + the embedding it read above the default's fullest and kept (7, 8 x 6, 6)."""
    from planner.model.pipeline import BalancedSplit, pipeline_split, rank_sums
    from planner.spec.params import count_params, layer_kinds

    j = load_job_dict({"model": {"preset": "kimi-k2"},
                       "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                    "recompute": "full", "tokens": 1e11, "framework": {"name": "megatron-core"}},
                       "parallel": {"tp": 1, "pp": 8, "vpp": 3, "dp": 16, "ep": 16, "zero": 1},
                       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}})
    m = j.model
    pc, lk = count_params(m), layer_kinds(m)
    assert lk[0] == "dense" and set(lk[1:]) == {"moe"}

    def rank_params(stages):
        e, out = 0, [0] * 8
        for s, n in enumerate(stages):
            out[s % 8] += sum(pc.dense_layer if k == "dense" else pc.moe_layer for k in lk[e:e + n])
            e += n
        out[0] += pc.embedding
        out[-1] += pc.lm_head + pc.final_norm
        return out

    form, c = pipeline_split(61, 8, 3, BalancedSplit.of(m))
    assert form == "balanced" and rank_sums(c, 8, 3).astype(int).tolist() == [8] * 7 + [5]
    default = pipeline_split(61, 8, 3, "megatron")[1]
    assert max(rank_params(c)) <= max(rank_params(default))
