"""Layouts NVIDIA and the torchtitan team really ran fit their GPUs under the planner's memory model.

Every row of the Megatron-family (NeMo 24.07 ``nemo2407_*``, Megatron-Bridge ``mbridge*``) and
torchtitan (``titan*``) sources of benchmarks/data/published_runs_2.csv is mapped to the planner's
inputs by benchmarks/validate.py (``pr2_case``: the same model, training settings, layout and stack
the step-time validation uses) and its most loaded rank (``memory_per_gpu``) must not exceed the
GPU's memory: the run happened. A planner that rejects the layouts real stacks run recommends worse
ones.

What each recipe set (the recompute is what the mapping uses unless said otherwise):

* torchtitan (the rows' own columns, from torchtitan's docs/benchmarks): op-level selective
  recompute (``selective_ac_option = "op"``) for the 8B FSDP rows, layer SAC where stated, full
  recompute for the CP, 2D, PP and 405B rows; FSDP2 over dp_shard x cp.
* NeMo 24.07 (NeMo-Framework-Launcher launcher_scripts/conf/training): Llama 3 8B/70B
  (llama/llama3_{8b,70b}.yaml) ``activations_checkpoint_granularity: null`` (no recompute, as the
  mapping), ``bias_activation_fusion: true``, mcore distributed optimizer / distributed_fused_adam;
  GPT-3 5B/20B/175B (gpt3/*_fp8_performance.yaml) ``activations_checkpoint_granularity: selective``,
  ``hidden_dropout: 0.1``, distributed_fused_adam with ``grad_sync_dtype: bf16`` -- the mapping has
  no recompute and no dropout for them (told to the lead, not changed: that launcher version's
  layouts differ from the rows'); Nemotron-340B (nemotron/nemotron_340b.yaml, the row's layout
  TP8 PP8 VPP12 mb1): ``activations_checkpoint_granularity: null`` (the row says "selective,
  inferred"; the mapping keeps the row's), ``mcore_distributed_optim`` with ``grad_sync_dtype:
  bf16`` (in the mapping: validate.NEMO_BF16_GRAD_REDUCE).
* Megatron-Bridge performance scripts (scripts/performance/configs/...): Llama 3 70B H100 FP8-CS
  TP4 PP8 VPP5, Llama 3.1 405B H100 TP8 PP8 CP2 VPP8 -- the base recipes set
  ``recompute_granularity = None`` (src/megatron/bridge/recipes/llama/llama3.py), no precision-aware
  optimizer (``use_precision_aware_optimizer = False``, fp32 main params and moments),
  ``grad_reduce_in_fp32 = False`` (llama3/llama31_llm_pretrain.py), FP8 current scaling with
  ``fp8_param_gather = True`` (utils/precision.py -> bf16_with_fp8_current_scaling_mixed); Qwen3
  235B/30B H100: no recompute in the presets (qwen3 workload_base_configs), bf16 gradient reduce;
  DeepSeek-V3 H100 1024 GPUs (deepseek/deepseek_llm_pretrain.py): ``recompute_granularity =
  "selective"``, ``recompute_modules = ["mla_up_proj", "mlp"]``, pipeline layout ``Et|(tt|)*30mL``,
  bf16 gradient reduce; GPT-OSS 120B (gpt_oss_workload_base_configs.py): H100 PP4 EP8 micro-batch 1,
  B200 EP64 micro-batch 4, both ``recompute_modules = ["layernorm", "moe_act"]``.

The DeepSeek-V3 and GPT-OSS rows run Megatron's per-module selective recompute
(``training.recompute_modules``, mapped by benchmarks/validate.py ``MBRIDGE_RECOMPUTE``). Rows the
planner cannot represent are strict xfails with the reason (``NOT_REPRESENTED``): none since overmem41,
which corrected the H100 GPT-OSS row's micro-batch to its recipe's 1 (published_runs_2.csv notes: the table's
MBS 4 / GA 2 are the B200 row's); at the printed 4 it is refused (``REFUSED``).
"""
import sys

import numpy as np
import pandas as pd
import pytest

from planner.layout import Candidates
from planner.model.memory import GiB, memory_per_gpu
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

SOURCES = ("titan", "nemo2407", "mbridge")

#: rows whose recipe the planner's inputs cannot express, and why (strict xfail: a change that makes
#: them fit without representing the recipe must say so here)
NOT_REPRESENTED: dict[str, str] = {}


def _cases():
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    d = pd.read_csv(validate.PR2_CSV)
    out = []
    for r in d.itertuples():
        if validate.pr2_source(r.id) in SOURCES:
            out.append((r.id, validate.pr2_case(cat, r)))
    return out


CASES = _cases()


def _memory(case, **layout):
    """The most loaded rank's bytes of ``case``, with layout fields replaced (``layout``)."""
    c = case.candidates
    if layout:
        fields = {k: getattr(c, k) for k in c.__dataclass_fields__}
        fields.update({k: np.full(len(c), v, dtype=fields[k].dtype) for k, v in layout.items()})
        c = Candidates(**fields)
    import validate

    st = validate.row_stack(case.stack, case.options)  # the row's own code version (its fp8 recipe, ...)
    return memory_per_gpu(case.model, case.training, c, stack=st, gpu=case.hw.gpu.name)


def _id(x):
    return x[0]


def test_every_development_row_is_checked():
    assert len(CASES) == 55  # 29 torchtitan + 12 NeMo 24.07 + 14 Megatron-Bridge


def test_gpt_oss_rows_run_their_recipes_expert_parallel_size():
    """The GPT-OSS 120B rows map to the EP their workload config sets, not the 25.11 table's printed EP 8 for both
    (mb53): H100 ``GPT_OSS_120B_H100_BF16_BASE_CONFIG`` keeps the base EP 8 (PP 4); B200
    ``GPT_OSS_120B_B200_BF16_BASE_CONFIG`` sets ``expert_model_parallel_size=64`` at the row's GBS 512 / MBS 4 in every
    stored version (scripts/performance/configs/gpt_oss/workload_base_configs.py @6b296ac1,
    gpt_oss_workload_base_configs.py ``..._B200_BF16_V1`` @1e7adfa9 / @07eea52d). EP 64 spans the 8 DGX nodes: the
    all-to-all leaves NVLink for InfiniBand, which is what its 8213 tokens/s/GPU (the 26.02 table's EP 64 print of the
    layout: 8047; the EP 8 prints from 26.02.01: 13045-13722) shows."""
    cases = dict(CASES)
    assert int(cases["mbridge2511_h100_gpt_oss_120b_64"].candidates.ep[0]) == 8
    assert int(cases["mbridge2511_b200_gpt_oss_120b_64"].candidates.ep[0]) == 64


@pytest.mark.parametrize("rid,case", [
    pytest.param(rid, case, marks=pytest.mark.xfail(strict=True, reason=NOT_REPRESENTED[rid]))
    if rid in NOT_REPRESENTED else (rid, case) for rid, case in CASES], ids=[c[0] for c in CASES])
def test_published_layout_fits_its_gpu(rid, case):
    mem = _memory(case)
    total, cap = float(mem["total"][0]), float(case.hw.gpu.memory_bytes)
    assert total <= cap, f"{rid}: {total / GiB:.1f} GiB > {cap / GiB:.1f} GiB"


#: layouts the recipes could not have run: the same rows without the recompute their recipe used
#: (rc 0), or with twice the micro-batch. Each must exceed the GPU -- the planner still refuses
#: what does not fit. (Why each cannot fit, independently of the model: full recompute or SAC is
#: what these recipes chose at a cost of ~1/3 more compute, which no tuned recipe pays without
#: need; the Megatron-Bridge Llama recipes use micro-batch 1 at 8192 tokens on H100 for these
#: sizes, and 2 only on the 180-288 GB Blackwell parts.)
REFUSED = {
    "titan24_t4_70b_2d": dict(rc=0),
    "titan24_t5_405b_1f1b": dict(rc=0),
    "titan_doc_405b_128_none": dict(rc=0),
    "titan_doc_a100_l3_70b_full": dict(rc=0),
    "titan_doc_a100_l2_70b_full": dict(rc=0),
    "titan_doc_a100_l2_70b_sac_op": dict(rc=0),
    "titan24_t2_8b_cp1_32768": dict(rc=0),
    "mbridge2511_h100_llama3_70b_64": dict(mb=2),
    "mbridge2511_h100_llama3p1_405b_1024": dict(mb=2),
    "mbridge260401_h100_qwen3_235b_a22b_256": dict(mb=2),
    # the table's misprinted micro-batch (the B200 row's 4; its recipe runs 1 on H100): 97 GiB at it
    "mbridge2511_h100_gpt_oss_120b_64": dict(mb=4),
}


@pytest.mark.parametrize("rid", sorted(REFUSED))
def test_layouts_that_cannot_fit_are_still_refused(rid):
    case = dict(CASES)[rid]
    assert float(_memory(case)["total"][0]) <= case.hw.gpu.memory_bytes  # the run itself fits
    mem = _memory(case, **REFUSED[rid])
    total, cap = float(mem["total"][0]), float(case.hw.gpu.memory_bytes)
    assert total > cap, f"{rid} {REFUSED[rid]}: {total / GiB:.1f} GiB fits {cap / GiB:.1f} GiB"


def _megatron_rank0_chunks(pp, v, m, a2a):
    """Model chunks of micro-batches rank 0 holds at its peak, counted the way Megatron-Core's
    schedules do (pipeline_parallel/schedules.py): 1F1B warms up ``pp - rank - 1`` forwards; the
    interleaved schedule ``(pp - rank - 1) * 2 + (v - 1) * pp`` (group size pp) chunk forwards,
    one more under ``overlap_moe_expert_parallel_comm``, all of them when m == pp; then one more
    forward before the first backward; never more than the m * v there are. Under the overlap that steady
    forward runs combined with a backward, layer by layer (Megatron-Core combined_1f1b.py), so it holds one layer,
    not a chunk: ``inflight_microbatches`` leaves it out and ``memory_stages.combined_pair_layers`` adds the layer (mem43)."""
    total = m * v
    if v == 1:
        warm = min(pp - 1, total)
    elif m == pp:
        warm = total
    else:
        warm = min((pp - 1) * 2 + (v - 1) * pp + (1 if a2a else 0), total)
    return min(warm + (0 if a2a else 1), total)


@pytest.mark.parametrize("pp,v", [(2, 1), (4, 1), (8, 1), (2, 2), (4, 5), (8, 4), (8, 8), (8, 12)])
@pytest.mark.parametrize("a2a", [False, True])
def test_first_stage_holds_megatrons_warmup_microbatches(pp, v, a2a):
    from planner.model.memory_stages import inflight_microbatches
    from planner.vocab import SCHEDULE

    for m in (pp, 2 * pp, 64):
        c = Candidates.layouts(np.array([1]), np.array([pp]), np.array([1]), np.array([1]), np.array([1]),
                               np.array([1]))
        c = Candidates(**{**{k: getattr(c, k) for k in c.__dataclass_fields__}, "vpp": np.array([v]),
                          "schedule": np.array([SCHEDULE.code["interleaved" if v > 1 else "1f1b"]])})
        got = float(inflight_microbatches(c, m, a2a and v > 1)[0])  # in micro-batches of the stage
        assert got == pytest.approx(_megatron_rank0_chunks(pp, v, m, a2a and v > 1) / v), (pp, v, m, a2a)


def test_the_search_limit_admits_the_published_layouts():
    """The search's limit (HBM x (1 - defaults.MEMORY_HEADROOM); the context, NCCL buffers and
    fragmentation are in the plan's total) admits the published layouts the planner can represent:
    51 of 55 at the 5% default (the other four, at 96-99% of HBM, are recipes tuned to fill the
    GPU: three NeMo 24.07 rows and the B200 GPT-OSS row, whose layernorm + moe_act recompute fits it
    at 96.7%; the H100 GPT-OSS row, at its recipe's micro-batch 1 since overmem41, at 63%). The earlier
    limit (a 1 GiB context reserve the plan already counts, 10% free) admitted 48 of 54."""
    from planner import defaults as D

    rows = [(rid, case) for rid, case in CASES if rid not in NOT_REPRESENTED]
    assert len(rows) == 55
    admitted = [rid for rid, case in rows
                if float(_memory(case)["total"][0]) <= case.hw.gpu.memory_bytes * (1 - D.MEMORY_HEADROOM)]
    assert len(admitted) >= 51, sorted(set(r for r, _ in rows) - set(admitted))
