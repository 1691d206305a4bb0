"""Llama 3.1 405B on GB200 at PP 16, term by term (pp16mem38, 2026-12-05).

Megatron-Bridge's GB200 V2 configs (scripts/performance/configs/llama/llama31_workload_base_configs.py @0013c9a8:
FP8-CS TP 4 PP 16 VPP 4, MXFP8 / NVFP4 TP 4 PP 16 VPP 8, 256 GPUs, GBS 1536, micro-batch 1, no recompute, no
offload, no CUDA graphs, Megatron-FSDP off) on the Llama 3.1 405B recipe, which sets
``account_for_embedding_in_pipeline_split`` and ``account_for_loss_in_pipeline_split``: 126 layers + 2 over 64 (128)
virtual stages, 7 + 14 x 8 + 7 layers a rank. The planner priced the first stage's model states at ceil(126 / 16) = 8
layers *and* the embedding (2.1B parameters, 0.53B a TP rank), a rank that does not exist: rank 0 holds 7 layers and
the embedding (24.4B), rank 1 8 layers (25.5B). Every stage is now counted from the split it launches
(memory_stages ``_split_stage_params``), and the 16-bit end layers and embedding storage follow the rank "first" is
(``StageSplit.first_rank``). The activations were already rank 1's (8 layers x 77 chunk forwards of 2 layers = 154
layer-micro-batches at VPP 4), which the re-enactment below of Megatron-Core's interleaved order confirms.
"""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from planner.layout import Candidates
from planner.model.memory import GiB, memory_per_gpu
from planner.model.memory_stages import stage_layer_microbatches, stage_split
from planner.model.pipeline import pipeline_split
from planner.spec.params import count_params
from planner.vocab import SCHEDULE

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def rows():
    import validate

    d = pd.read_csv(validate.MBRIDGE_ALL_CSV)
    return [r for r in d.itertuples() if "_gb200_llama3.1-405b_" in r.id and int(r.pp) == 16]


def _case(r):
    import validate
    from hardware_catalog import load_catalog

    return validate.pr2_case(load_catalog(), r)


def _mem(case, stack=None):
    import validate

    st = validate.row_stack(case.stack, case.options) if stack is None else stack
    return memory_per_gpu(case.model, case.training, case.candidates, stack=st, gpu=case.hw.gpu.name)


def _cands(pp, vpp, tp=4):
    return Candidates(tp=np.array([tp]), pp=pp, dp=4, cp=1, ep=1, vpp=vpp, zero=1, mb=1, rc=0, sp=True,
                      schedule=SCHEDULE.code["interleaved" if vpp > 1 else "1f1b"], gpus_per_node=4, nodes=1)


def reenact_interleaved(chunk_layers, pp: int, rank: int, m: int, group: int | None = None) -> float:
    """Layer-micro-batches rank ``rank`` holds at its peak under Megatron-Core's interleaved 1F1B
    (pipeline_parallel/schedules.py ``forward_backward_pipelining_with_interleaving``), walked step by step:
    ``num_warmup_microbatches = (pp - rank - 1) * 2 + (v - 1) * microbatch_group_size_per_vp_stage`` chunk forwards
    (capped by the m v there are), then one forward and one backward per steady step, the forward of virtual
    micro-batch k on chunk ``(k % (g v)) // g`` and the backward on ``v - 1`` minus that (``get_model_chunk_id``),
    each forward adding its chunk's layers (``chunk_layers``, this rank's) and each backward freeing them."""
    v = len(chunk_layers)
    g = pp if group is None else group
    total = m * v
    warm = min((pp - rank - 1) * 2 + (v - 1) * g, total)

    def chunk(k):
        return (k % (g * v)) // g

    held = peak = 0.0
    for k in range(warm):
        held += chunk_layers[chunk(k)]
        peak = max(peak, held)
    for k in range(total - warm):
        held += chunk_layers[chunk(k + warm)]
        peak = max(peak, held)
        held -= chunk_layers[v - 1 - chunk(k)]
    return peak


@pytest.mark.parametrize("vpp,rank1,rank0", [(4, 154, 127), (8, 141, 112)])
def test_reenacted_schedule_puts_the_peak_on_rank_1_whose_states_are_priced(rows, vpp, rank1, rank0):
    """The 405B's split (7 + 14 x 8 + 7; chunk 0 of rank 0 one layer short, at VPP 8 none) under the schedule's own
    order at m = 1536 / 4 = 384: rank 1 holds the most layer-micro-batches (154 at VPP 4, 141 at VPP 8; rank 0 127 /
    112, the rest falling with the rank), as ``stage_layer_microbatches`` prices it; the first stage's weights,
    gradients and optimizer state are then rank 1's 8 layers (25.5B, 6.38B a TP rank, 1 + 2 + 12 / 4 B each under
    FP8-CS with ``--fp8-param-gather``), 35.63 GiB, not 8 layers and the embedding (39.05 GiB before, its 16-bit
    table at 2 B); MXFP8 41.57 (44.99 before)."""
    r = next(r for r in rows if ("fp8cs" if vpp == 4 else "mxfp8") in r.id)
    case = _case(r)
    model, c = case.model, case.candidates
    assert (int(c.pp[0]), int(c.vpp[0]), int(c.tp[0]), int(c.dp[0])) == (16, vpp, 4, 4)
    form, counts = pipeline_split(model.layers, 16, vpp, "megatron")
    assert form == "embedding_loss"
    per_rank = [reenact_interleaved([counts[j * 16 + k] for j in range(vpp)], 16, k, 384) for k in range(16)]
    assert int(np.argmax(per_rank)) == 1 and per_rank[1] == rank1 and per_rank[0] == rank0
    assert all(per_rank[k] >= per_rank[k + 1] for k in range(1, 15))
    _, lm1, _, _ = stage_layer_microbatches(model.layers, c, 384.0)
    assert float(lm1[0]) == rank1
    # FP8-CS: 1 B weights (fp8 param gather, no transposed copy on GB200); MXFP8: 2 (its column-wise copy kept);
    # 2 B gradients (grad_reduce_in_fp32 False), 12 / 4 B of distributed optimizer at DP 4
    mem = _mem(case)
    states = float(mem["weights"][0] + mem["grads"][0] + mem["optimizer"][0])
    want = 8 * count_params(model).dense_layer / 4 * ((1 if vpp == 4 else 2) + 2 + 12 / 4)
    assert states == pytest.approx(want, rel=1e-9), (states / GiB, want / GiB)


def test_stage_split_counts_each_end_from_the_split():
    """Llama 3.1 405B at PP 16: "first" is rank 1 (8 layers, no embedding), "last" rank 15 (7 layers and the head)
    at VPP 1 / 4 / 8; an even split (80 layers on PP 8) keeps rank 0 with 10 layers and the embedding."""
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    import validate

    d = pd.read_csv(validate.MBRIDGE_ALL_CSV)
    m = _case(next(r for r in d.itertuples() if "_gb200_llama3.1-405b_" in r.id)).model
    pc = count_params(m)
    for vpp in (1, 4, 8):
        s = stage_split(m, _cands(16, vpp))
        assert int(s.first_rank[0]) == 1, vpp
        assert float(s.first_dense[0]) == pytest.approx(8 * pc.dense_layer), vpp
        assert float(s.last_dense[0]) == pytest.approx(7 * pc.dense_layer + pc.lm_head + pc.final_norm), vpp
        assert float(s.layers[0]) == 8
    m70 = ModelSpec(**PRESETS["llama3-70b"])
    pc70 = count_params(m70)
    s = stage_split(m70, _cands(8, 1))
    assert int(s.first_rank[0]) == 0
    assert float(s.first_dense[0]) == pytest.approx(10 * pc70.dense_layer + pc70.embedding)


def test_kept_16bit_layers_and_embedding_storage_follow_the_first_rank(rows):
    """Under ``--first-last-layers-bf16`` the 16-bit layer 0 sits on rank 0, not on rank 1 whose states "first"
    prices: keeping it adds nothing to the first stage's weights (0.74 GiB before: layer 0's 0.80B a TP rank at
    2 B, not 1), and the 16-bit embedding's extra byte is not charged either. The step time's FP8 parameter
    all-gather likewise moves rank 1's 8 layers at 1 B."""
    from planner.model.stacks import resolve
    from planner.model.step_time import fp8_param_gather_bytes

    case = _case(next(r for r in rows if "fp8cs" in r.id))
    plain = resolve("megatron-core", fp8_recipe="tensorwise")
    kept = resolve("megatron-core", fp8_recipe="tensorwise", first_last_layers_bf16=True)
    w_plain, w_kept = (float(_mem(case, st)["weights"][0]) for st in (plain, kept))
    pc = count_params(case.model)
    assert w_kept == pytest.approx(w_plain, rel=1e-12)
    assert w_plain == pytest.approx(8 * pc.dense_layer / 4 * 1.0, rel=1e-9)
    f = 8 * pc.dense_layer
    # (the last stage left empty here: its head moves at 2 B whatever the first is)
    d, _ = fp8_param_gather_bytes(case.model, np.array([16]), (np.array([f]), 0.0, np.array([0.0]), 0.0), 1.0, 2.0,
                                  first_rank=np.array([1]))
    assert float(d[0]) == pytest.approx(f)


def test_405b_gb200_pp16_rows_before_and_after(rows):
    """GiB of the GB200's 173.0 (before -> after): FP8-CS VPP 4 (7 rows) 179.67 -> 176.25, MXFP8 VPP 8 (5)
    174.77 -> 171.34 (fits), NVFP4 VPP 8 (5) 167.64 -> 163.73, NVFP4 VPP 4 (26.02.01, 1) 178.22 -> 174.30."""
    want = {("fp8cs", 4): 176.25, ("mxfp8", 8): 171.34, ("nvfp4", 8): 163.73, ("nvfp4", 4): 174.30}
    seen = {}
    for r in rows:
        key = (r.id.split("_")[-2], int(r.vpp))
        total = float(_mem(_case(r))["total"][0]) / GiB
        assert total == pytest.approx(want[key], abs=0.05), (r.id, total)
        seen[key] = seen.get(key, 0) + 1
    assert seen == {("fp8cs", 4): 7, ("mxfp8", 8): 5, ("nvfp4", 8): 5, ("nvfp4", 4): 1}
