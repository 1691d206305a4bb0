"""The vectorised core on any batch of candidates the search can hand it (fuzz42).

``memory_per_gpu`` and ``step_time`` take a batch of candidates (planner.layout.Candidates) and give each row its
numbers. The search hands them whatever a step of it leaves: a chunk's rows a stack variant runs
(planner.search.recommend ``_search_chunk``: ``StackVariant.rows``), the full-recompute rows again at block N = 1
(``with_block_one``), the probes of ``smallest_block_recompute`` / ``smallest_uniform_group`` (a subset at one
``rn`` / ``rg`` each, empty when no row is left), the rows that fit (``cv.take(fits)``: one, or none). Here a batch is
drawn the same way -- a preset of the catalog (dense, MoE, MLA, hybrid Mamba, encoder, vision), a stack, an
instance, the space ``planner.search.space`` builds for it, a variant's rows -- and then cut: an empty or one-row
subset, a random one, the block-one extension, a probe, or two subsets of different settings (other fixed parallel
fields, other GPU limits) one after the other. Each batch must give:

- every per-row output one value per row (an array of the batch's length, or one value for every row);
- finite, non-negative numbers (the model documents no per-row refusal as NaN or inf: a row it cannot run is
  refused before it, by the layout and stack rules the search applies, which this test applies too);
- each row the numbers it gets alone (bit for bit, or within 1e-12 relative, as tests/test_step_time_batch.py
  holds the fixed cases): a term computed per distinct key and gathered back must not read another row.

Found by it (fixed at their root, each a crash on a batch the search hands): an empty batch of a model with
several layer kinds (DeepSeek-V3, Kimi-K2, the hybrids) raised ``max() arg is an empty sequence`` in
memory_activations.stage_kind_bytes, and a DualPipeV row at pp 1 (test_speed42's random layouts) the same in
memory_activations._layout_kind_shares.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.hardware.options import option_from_instance
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.pipeline import chunk_layers
from planner.model.step_time import LayerMemo, step_time
from planner.model import physics, stack_rules
from planner.search.recommend import (launchable_uniform_groups, picks_block_recompute, picks_uniform_recompute,
                                      with_block_one)
from planner.search.space import space_for, stack_groups
from planner.spec import load_job_dict
from planner.spec.presets import PRESETS
from planner.vocab import RECOMPUTE
from hardware_catalog import load_catalog

#: one instance of each platform and size class the search meets: 8-GPU H100 / A100 / B200 nodes, one L4, AMD's
#: MI300X, Gaudi 2 (Intel's Megatron fork), a TPU v5e slice (MaxText)
INSTANCES = ("aws:p5.48xlarge", "aws:p4de.24xlarge", "aws:p6-b200.48xlarge", "aws:g6.xlarge",
             "runpod:8x_MI300X_SECURE", "shadeform:denvr_Gaudi2x8", "gcp:tpu-v5litepod-8")
#: None: the job leaves the stack open (the platform's own on a TPU or Gaudi)
STACK_NAMES = (None, "megatron-core", "torchtitan", "deepspeed", "hf-trainer", "megatron-bridge", "nemo-automodel",
               "llm-foundry", "fsdp")
#: the other settings a batch's second half is drawn from: fixed parallel fields (each a pipeline, schedule, ZeRO or
#: CP the open search may not pick together) and another GPU limit
OTHER = ({"parallel": {"pp": 2, "vpp": 2}}, {"parallel": {"schedule": "gpipe"}}, {"parallel": {"zero": 3}},
         {"parallel": {"cp": 2}}, {"parallel": {"sequence_parallel": False}}, {"constraints": {"max_gpus": 16}},
         {"parallel": {"pp": 4}})
FULL = RECOMPUTE.code["full"]
MAX_ROWS = 40  # rows a drawn subset takes at most (each row is also evaluated alone)


@lru_cache(maxsize=None)
def _hw(key: str):
    return option_from_instance(load_catalog().instance(key))


def _raw(preset, stack, seq, gb, precision, extra=None) -> dict:
    t = {"seq_len": seq, "global_batch": gb, "tokens": 1e10}
    if stack:
        t["framework"] = {"name": stack}
    if precision:
        t["precision"] = precision
    raw = {"model": {"preset": preset}, "training": t, "constraints": {"max_gpus": 64}}
    for k, v in (extra or {}).items():
        raw[k] = {**raw.get(k, {}), **v}
    return raw


@lru_cache(maxsize=256)
def _setting(preset, stack, inst, seq, gb, precision, other: int | None = None):
    """(group job, variants, the space as the search hands it to the variants) of one setting, or None where the
    job, its stack or its space is refused (an input error: not this test's subject)."""
    hw = _hw(inst)
    try:
        job = load_job_dict(_raw(preset, stack, seq, gb, precision, None if other is None else OTHER[other]))
        grp = next(g for g in stack_groups(job, [hw.gpu]) if not g.refused)
        if grp.variants:
            physics.datasheet_peak(hw.gpu, grp.variants[0].stack.recipe.peak)  # recommend's _groups_here
        c = space_for(grp.job, hw)
    except (InputError, StopIteration):  # (NoPeakError is an InputError)
        return None
    if grp.job.parallel.sequence_parallel is None:  # recommend._search_option: off where the stack refuses it
        osp = stack_rules.open_sp(grp.variants[0].stack, grp.job.model, grp.job.training, c)
        if osp.off.any():
            c = replace(c, sp=osp.sp)
    return grp.job, grp.variants, c


def _subset(rng, c: Candidates, size: int) -> Candidates:
    """``size`` rows of ``c`` (fewer where it has fewer), in a random order."""
    return c.take(rng.permutation(len(c))[:min(size, len(c))])


def _probe(rng, job, var, cv: Candidates, how: str) -> Candidates:
    """The full-recompute rows of ``cv`` as recommend's partial-recompute probes hand them (``_memory_at``): at a
    block N in [1, the chunk's layers] or at a uniform group Megatron-Core runs on the row's split."""
    full = np.flatnonzero((cv.rc == FULL) & (cv.rn == 0) & (cv.rg == 0))
    p = cv.take(full)
    if how == "rn":
        top = chunk_layers(job.model.layers, p.pp, p.chunks).astype(np.int64)
        p.rn = 1 + (rng.random(len(p)) * np.maximum(top, 1)).astype(np.int64)
        return p
    _, runs = launchable_uniform_groups(job.model, p, var.stack)
    ok = np.flatnonzero(runs.any(axis=1))
    p = p.take(ok)
    p.rg = np.array([rng.choice(np.flatnonzero(r)) for r in runs[ok]], dtype=np.int64)
    return p


def _bits(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64)).view(np.uint64)


def _evaluate(job, var, c, hw, memo):
    mem = memory_per_gpu(job.model, var.training, c, stack=var.stack, gpu=hw.gpu.name, memo=memo)
    st_ = step_time(job.model, var.training, c, hw, framework=var.stack, memo=memo)
    return {**{f"mem.{k}": v for k, v in mem.items()}, **{f"st.{k}": v for k, v in st_.items()}}


def _per_row(out: dict, n: int) -> dict:
    """The numeric per-row outputs, each broadcast to the batch's ``n`` rows (an output of another shape fails)."""
    rows = {}
    for k, v in out.items():
        a = np.asarray(v)
        if a.dtype.kind not in "fiub":
            continue
        assert a.ndim == 0 or a.shape == (n,), f"{k}: shape {a.shape} for a batch of {n} rows"
        rows[k] = np.broadcast_to(a, (n,))
    return rows


def _check_values(rows: dict, n: int):
    for k in ("mem.total", "st.step_time_s", "st.mfu"):
        assert np.shape(rows[k]) == (n,), k
    for k, a in rows.items():
        if a.dtype.kind != "f":
            continue
        assert np.isfinite(a).all(), f"{k}: row {np.flatnonzero(~np.isfinite(a))[0]} is {a[~np.isfinite(a)][0]!r}"
        assert (a >= 0).all(), f"{k}: row {np.flatnonzero(a < 0)[0]} is {a[a < 0][0]!r}"


def _check_rows_alone(job, var, c, hw, rows: dict, pick, memo):
    """Rows ``pick`` of ``c``, each evaluated alone, against their numbers in the batch: bit for bit, or within
    1e-12 relative (another operation order in a reduction the batch takes; none seen)."""
    for i in pick:
        alone = _per_row(_evaluate(job, var, c.take(np.array([i])), hw, memo), 1)
        assert alone.keys() == rows.keys()
        for k, a in alone.items():
            x, y = rows[k][i], a[0]
            if _bits(x) == _bits(y):
                continue
            assert np.isclose(y, x, rtol=1e-12, atol=0.0), f"{k}: row {i} is {x!r} in the batch, {y!r} alone"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(preset=st.sampled_from(sorted(PRESETS)), stack=st.sampled_from(STACK_NAMES), inst=st.sampled_from(INSTANCES),
       seq=st.sampled_from([2048, 32768]), gb=st.sampled_from([16, 256]), precision=st.sampled_from([None, "fp8"]),
       how=st.sampled_from(["subset", "empty", "one", "block_one", "rn", "rg", "concat"]),
       size=st.sampled_from([1, 2, 5, MAX_ROWS]), other=st.integers(0, len(OTHER) - 1),
       variant=st.integers(0, 50), seed=st.integers(0, 2**32 - 1), memo=st.booleans())
def test_any_batch_gives_each_row_its_own_finite_numbers(preset, stack, inst, seq, gb, precision, how, size, other,
                                                         variant, seed, memo):
    got = _setting(preset, stack, inst, seq, gb, precision)
    assume(got is not None)
    job, variants, c = got
    hw = _hw(inst)
    rng = np.random.default_rng(seed)
    var = variants[variant % len(variants)]
    cv = c.take(np.flatnonzero(var.rows(c)))  # the rows the variant stands for (its stack's rules obeyed)
    if how == "empty":
        batch = cv.take(np.zeros(0, dtype=np.intp))
    elif how == "one":
        batch = _subset(rng, cv, 1)
    elif how == "subset":
        batch = _subset(rng, cv, size)
    elif how == "block_one":  # recommend._search_variant's memory pass: full rows again at N = 1
        assume(picks_block_recompute(job, var.stack))
        batch = with_block_one(_subset(rng, cv, size))
    elif how in ("rn", "rg"):
        assume((picks_block_recompute if how == "rn" else picks_uniform_recompute)(job, var.stack))
        batch = _subset(rng, _probe(rng, job, var, cv, how), size)
    else:  # two subsets of different settings, evaluated under this one's stack and training
        second = _setting(preset, stack, inst, seq, gb, precision, other)
        c2 = second[2] if second is not None else cv.take(np.zeros(0, dtype=np.intp))
        c2 = c2.take(np.flatnonzero(var.rows(c2)))
        batch = Candidates.concat([_subset(rng, cv, size), _subset(rng, c2, size)])
    n = len(batch)
    event(f"{how}, {'no' if n == 0 else 'one' if n == 1 else 'several'} rows")  # (--hypothesis-show-statistics)
    memo_ = LayerMemo() if memo else None
    rows = _per_row(_evaluate(job, var, batch, hw, memo_), n)
    _check_values(rows, n)
    pick = rng.permutation(n)[:4]  # a few rows alone (each is a pair of calls)
    _check_rows_alone(job, var, batch, hw, rows, pick, memo_)


def _empty() -> Candidates:
    z = np.zeros(0, dtype=np.int64)
    return Candidates(tp=z, pp=z, dp=z, cp=z, ep=z, vpp=z, zero=z, mb=z, rc=z, sp=np.zeros(0, dtype=bool), schedule=z,
                      gpus_per_node=z, nodes=z)


def test_empty_batch_on_every_preset():
    """An empty batch (recommend's probes when no row is left) gives every preset empty outputs, on three stacks, with
    and without a search's LayerMemo. Before fuzz42: DeepSeek-V3, Kimi-K2 and the Nemotron hybrids (several layer
    kinds) raised ``max() arg is an empty sequence`` in memory_activations.stage_kind_bytes; the HF stacks ``np.max`` of an empty
    array in step_time._candidate_flops; torchtitan's (and any CP-ring) attention IndexError in
    comm.torch_ring_columns; and a memo met first on no rows returned no term (KeyError in memory_activations.layer_saves)."""
    hw = _hw("aws:p5.48xlarge")
    for preset in sorted(PRESETS):
        for stack in (None, "hf-trainer", "torchtitan"):
            try:
                job = load_job_dict(_raw(preset, stack, 2048, 256, None))
                grp = next(g for g in stack_groups(job, [hw.gpu]) if not g.refused)
            except InputError:
                continue  # (a stack that cannot run the preset: its rules refuse it -- BERT on torchtitan, QA 104)
            for memo in (None, LayerMemo()):
                rows = _per_row(_evaluate(grp.job, grp.variants[0], _empty(), hw, memo), 0)
                assert rows["mem.total"].shape == (0,) and rows["st.step_time_s"].shape == (0,), (preset, stack)


def test_dualpipev_at_pp1_row():
    """A DualPipeV row with no pipeline (pp 1: the V's two stages on rank 0; the stack rules refuse it on torchtitan,
    test_speed42's random layouts hand it to the model) gives DeepSeek-V3's memory finite numbers, as the 1F1B row
    does: memory_activations._layout_kind_shares raised ``max() arg is an empty sequence`` (no rank past 0) before fuzz42."""
    from planner.vocab import SCHEDULE

    job = load_job_dict(_raw("deepseek-v3", None, 4096, 256, None))
    row = {k: np.array([x]) for k, x in dict(tp=8, pp=1, dp=8, cp=1, ep=8, vpp=1, zero=1, mb=1, rc=2, sp=True,
                                             gpus_per_node=8, nodes=8).items()}
    v = Candidates(**row, schedule=np.array([SCHEDULE.code["dualpipev"]]))
    one = Candidates(**row, schedule=np.array([SCHEDULE.code["1f1b"]]))
    mem_v, mem_1 = memory_per_gpu(job.model, job.training, v), memory_per_gpu(job.model, job.training, one)
    assert np.isfinite(mem_v["total"]).all() and mem_v["total"][0] > 0
    assert np.isfinite(mem_1["total"]).all() and mem_1["total"][0] > 0


def test_titan_split_with_more_stages_than_layers_is_refused_not_raised():
    """Llama-3.1-405B's 126 layers on torchtitan at PP 64 x VPP 2 (128 stages, searched under max_gpus 64): the
    stack's rule titan-pp-stages refuses the row (torchtitan builds no empty stage); the split it reads
    (pipeline.pipeline_split under the open TitanSplit) raised TypeError on it before fuzz42, and so did
    ``planner recommend`` of such a job ("internal error (TypeError): 'NoneType' object is not iterable")."""
    job, variants, c = _setting("llama3.1-405b", "torchtitan", "aws:p5.48xlarge", 2048, 16, None)
    over = np.asarray(c.pp * c.chunks > job.model.layers)
    assert over.any()
    refused = variants[0].refusals(c)
    assert refused["titan-pp-stages"][over].all()
    assert not variants[0].rows(c)[over].any()


def test_a_stack_keeping_16bit_layers_on_a_model_without_layers_keeps_none():
    """Found by the test above (mem43b's run): a stack that keeps fp8-recipe layers 16-bit (``lp_bf16_layers``) on a
    model without transformer layers (ResNet-50: ``layers`` None) raised TypeError in ``lp16_counts``
    (min(2, None)); the job file refuses the option there, the core's callers may still pass such a stack."""
    import dataclasses

    from planner.model import stacks
    from planner.model.step_time import lp16_counts
    from planner.spec import load_job_dict

    def model(preset):
        return load_job_dict({"model": {"preset": preset}, "training": {"global_batch": 256, "tokens": 1e9}}).model

    fw = dataclasses.replace(stacks.STACKS["megatron-core"], lp_bf16_layers=2, lp_bf16_first_layers=1)
    cnn = model("resnet50")
    assert cnn.layers is None
    assert lp16_counts(fw, cnn, "fp8") == (0, 0)
    assert lp16_counts(fw, model("llama3-8b"), "fp8") == (1, 2)
