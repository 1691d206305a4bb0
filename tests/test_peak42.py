"""peak42: which pipeline rank holds the peak (memory ``rank_memory``, ``results.RankMemory``), each rank class its
own states beside its own activations. Since mem43 the memory model's "first" stage is the larger of rank 0's and the
heaviest middle rank's own totals (``peak_rank_class``), so the search fits the printed peak; until then it paired the
heaviest rank's states with the peak of both ranks' activations. Until peak42 no output said which rank peaks."""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import memory as M
from planner.model import memory_stages as MS
from planner.search.explain import peak_rank_line
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.training import estimate_job

GiB = 2**30
DSV3_PP16 = "Et*4|(t*4|)*14tmL"  # Megatron-Bridge's DeepSeek-V3 PP16 layout (validate.MBRIDGE_RECIPE_LAYOUTS)


def _job(model, pp, layout=None, tp=1, ep=1, dp=8):
    fw = {"name": "megatron-core", **({"pp_layout": layout} if layout else {})}
    return load_job_dict({"model": model,
                          "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "full", "tokens": 1e11, "framework": fw},
                          "parallel": {"tp": tp, "pp": pp, "dp": dp, "ep": ep, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": max(tp * pp * dp // 8, 1)}})


def _ranks(j):
    plan = estimate_job(j)
    return plan, plan.memory_per_rank


def test_llama3_70b_pp8_peak_is_rank0_and_the_total():
    """Llama-3-70B's 80 layers on PP8 (10 a rank) at TP4: rank 0 holds the embedding (the heaviest states) and the
    most micro-batches in flight (the activations' peak), so the first stage's pairing is one rank's total: the
    peak is rank 0's and equals the memory model's total to the bit; the middle rank (1) holds less."""
    plan, r = _ranks(_job({"preset": "llama3-70b"}, 8, tp=4))
    assert [(x.rank, x.stage) for x in r.ranks] == [(0, "first"), (1, "middle"), (7, "last")]
    assert (r.peak_rank, r.peak_stage) == (0, "first")
    assert r.peak == plan.memory_per_gpu_bytes.total
    mid = r.ranks[1]
    assert mid.total < r.peak and mid.weights < r.ranks[0].weights  # no embedding on rank 1
    for x in r.ranks:
        assert x.total == pytest.approx(sum(x[k] for k in M.RANK_PARTS[:-1]), rel=1e-12)


def test_deepseek_v3_pp16_total_is_the_middle_ranks_own_not_paired():
    """DeepSeek-V3 on Megatron-Bridge's PP16 layout at EP 8: the middle ranks (4 MoE layers each) have the heaviest
    states, rank 0 (embedding, 3 dense + 1 MoE layer, 16 micro-batches in flight) the most activations. Until mem43
    the first stage priced rank 1's states beside rank 0's activations (0.287 GiB over rank 1's own total) and the
    search fitted that; now the memory model's total, what the search fits, is rank 1's own, part by part."""
    j = _job({"preset": "deepseek-v3"}, 16, DSV3_PP16, ep=8, dp=8)
    plan, r = _ranks(j)
    r0, mid, last = r.ranks
    assert (mid.rank, last.rank) == (1, 15) and (r.peak_rank, r.peak_stage) == (1, "middle")
    mem = plan.memory_per_gpu_bytes
    # ``mem`` is the plan's memory_per_gpu call (search.evaluate; since speed53 with the rank classes in the same call,
    # its columns the search path's bits, tests/test_speed44.py): it fits the same total
    assert mem.most_loaded_stage == "middle" and mem.total == r.peak == mid.total  # "first" until mem43b
    for k in M.RANK_PARTS[:-1]:  # every part the peak rank's own: its states beside its own activations
        assert mem[k] == mid[k]
    assert r0.activations - mid.activations > 0.25 * GiB / (1 + M.FRAGMENTATION)  # the pairing's 0.287 GiB
    # rank 0: the embedding and layers 0-3 (three dense, one MoE: its routed experts over EP 8), 2 B a weight
    dense, exp = MS.layer_params(j.model)
    own = count_params(j.model).embedding + dense[:4].sum() + exp[:4].sum() / 8
    assert r0.weights == pytest.approx(2.0 * own, rel=1e-9)
    assert "1 (middle)" in peak_rank_line(plan.to_json()) and "GiB over" not in peak_rank_line(plan.to_json())


def test_nemotron_h_pp8_peak_is_the_last_rank():
    """Nemotron-H 8B on PP8 (Megatron's 5, 7 x 6, 5 split): the last rank (the head, the loss) peaks, the memory
    model's total to the bit; rank 0 is its own five blocks and the embedding, where the hybrid's "first" priced the
    heaviest rank's blocks with the embedding beside them."""
    j = _job({"preset": "nemotron-h-8b"}, 8)
    plan, r = _ranks(j)
    assert (r.peak_rank, r.peak_stage) == (7, "last") and r.peak == plan.memory_per_gpu_bytes.total
    dense, exp = MS.layer_params(j.model)
    assert r.ranks[0].weights == pytest.approx(2.0 * (count_params(j.model).embedding + dense[:5].sum()), rel=1e-9)
    assert r.ranks[1].rank in range(1, 7)


@pytest.mark.parametrize("pp", [1, 2])
def test_no_middle_rank_on_one_or_two_stages(pp):
    """On one stage the one rank is the total; on two, rank 0 and the last are the memory model's own stages."""
    plan, r = _ranks(_job({"preset": "llama3-8b"}, pp))
    assert [x.stage for x in r.ranks] == ["first", "last"][:pp]
    assert r.peak == plan.memory_per_gpu_bytes.total
    assert (peak_rank_line(plan.to_json()) is None) == (pp == 1)


def test_memory_per_rank_in_the_json_and_the_search_columns_unchanged():
    """``memory_per_rank`` is additive in the estimate JSON; ``memory_per_gpu`` without ``ranks`` (the search's
    call) returns the columns it did."""
    j = _job({"preset": "llama3-70b"}, 8, tp=4)
    d = estimate_job(j).to_json()
    assert set(d["memory_per_rank"]) == {"ranks", "peak_rank", "peak_stage", "peak"}
    assert d["memory_per_rank"]["ranks"][1]["stage"] == "middle"
    from planner.layout import Candidates
    c = Candidates.layouts(np.array([4]), np.array([8]), np.array([8]), np.array([1]), np.array([1]), np.array([1]))
    assert not any(k.startswith(("rank0_", "middle_", "last_")) for k in M.memory_per_gpu(j.model, j.training, c))


def test_estimate_and_recommend_print_the_peak_rank(cli, tmp_path):
    """``estimate`` prints the "peak rank" row beside "fits" and ``recommend`` the line under "recommended:", for
    the DeepSeek-V3 PP16 plan (no "GiB over": the total is the peak rank's since mem43)."""
    spec = tmp_path / "ds.yaml"
    spec.write_text("model: {preset: deepseek-v3}\n"
                    "training: {seq_len: 4096, global_batch: 256, micro_batch: 1, precision: bf16, recompute: full,\n"
                    f"  tokens: 1.0e11, framework: {{name: megatron-core, pp_layout: '{DSV3_PP16}'}}}}\n"
                    "parallel: {tp: 1, pp: 16, dp: 8, ep: 8, zero: 1}\n"
                    "cluster: {gpu: H200-SXM-141GB, gpus_per_node: 8, nodes: 16}\n")
    code, out, err = cli("estimate", spec)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "peak rank" in line)
    assert "1 (middle)" in row and "GiB over" not in row
    code, out, err = cli("recommend", spec)
    assert code == 0, err
    assert any(line.startswith("peak rank: 1 (middle)") for line in out.splitlines()), out
