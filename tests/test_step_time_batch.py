"""The vectorised core gives every candidate the numbers it gets evaluated alone, bit for bit.

step_time and memory_per_gpu group candidates by distinct keys (planner.layout.distinct_rows), compute per key
and gather back, and evaluate some terms only on the rows they apply to (step_time ``_on_rows``). The
reference path here is the plainest one: each candidate on its own (a one-row batch, where every key is its
own and every row subset is all or nothing). Any grouping, gathering or subsetting that mixes rows up, or
changes an operation's order, shows as a difference in some output bit.
"""
import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.layout import distinct_rows
from planner.model.memory import memory_per_gpu
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import load_job

from conftest import EXAMPLES
from make_step_time_golden import candidates


def _bits(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64)).view(np.uint64)


def _assert_rows_equal(batch: dict, rows: list, keys):
    for k in keys:
        whole = np.broadcast_to(batch[k], (len(rows),))
        alone = np.array([np.broadcast_to(r[k], (1,))[0] for r in rows])
        bad = np.flatnonzero(_bits(whole) != _bits(alone))
        assert not len(bad), f"{k}: row {bad[0]} is {whole[bad[0]]!r} in the batch, {alone[bad[0]]!r} alone"


@pytest.mark.parametrize("example,precision,stack", [
    ("llama3-70b", None, None),
    ("llama3-70b", "fp8", resolve("megatron-core", lp_bf16_layers=2)),  # 16-bit end layers: chunks in the key
    ("llama3-70b", None, "torchtitan"),  # FSDP held across pipeline stages
    ("llama3-70b", None, "hf-trainer"),  # unfused gradient accumulation, autocast weight casts
    ("mixtral-8x7b", None, None),  # MoE: EP, expert-TP, the combined-1F1B hiding term
    ("nemotron-3-nano-pretrain", None, None),  # hybrid Mamba/attention/MoE, fp8
])
def test_batch_matches_each_row_alone(catalog, example, precision, stack):
    job = load_job(EXAMPLES / f"{example}.yaml")
    if precision:
        job = job.model_copy(update={"training": job.training.model_copy(update={"precision": precision})})
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(48, np.random.default_rng(7), job.model.moe is not None)
    st = step_time(job.model, job.training, c, hw, framework=stack)
    mem = memory_per_gpu(job.model, job.training, c, stack=None if stack is None else resolve(stack))
    st_rows, mem_rows = [], []
    for i in range(len(c)):
        one = c.take(np.array([i]))
        st_rows.append(step_time(job.model, job.training, one, hw, framework=stack))
        mem_rows.append(memory_per_gpu(job.model, job.training, one, stack=None if stack is None else resolve(stack)))
    _assert_rows_equal(st, st_rows, [k for k in st if np.asarray(st[k]).dtype.kind == "f"])
    _assert_rows_equal(mem, mem_rows, [k for k in mem if np.asarray(mem[k]).dtype.kind in "fi"])
    # and a reordered batch gives each row the same numbers again
    perm = np.random.default_rng(8).permutation(len(c))
    st_p = step_time(job.model, job.training, c.take(perm), hw, framework=stack)
    _assert_rows_equal(st_p, [st_rows[i] for i in perm], ["step_time_s", "comm_dp", "comm_zero3", "bubble", "mfu"])


def test_distinct_rows_match_a_sort():
    """distinct_rows against np.unique over the stacked rows: the same distinct rows in the same
    (lexicographic) order and the same inverse, for constant, boolean, narrow, wide (ranked) and very wide
    (sorted) columns."""
    rng = np.random.default_rng(5)
    n = 5000
    cols = [np.full(n, 3), rng.random(n) < 0.3, rng.choice([1, 2, 4, 8, 16], n), rng.integers(2, 40, n),
            rng.integers(0, 3000, n).astype(np.int32), rng.integers(0, 1 << 40, n) // (1 << 36)]
    for pick in ([0], [1, 2], [2, 3, 1], [4, 2], [0, 5, 1], [5, 4, 3, 2, 1, 0], [3, 0]):
        sub = [cols[j] for j in pick]
        keys, inv = distinct_rows(*sub)
        ref, ref_inv = np.unique(np.stack([np.asarray(x, dtype=np.int64) for x in sub], axis=1), axis=0,
                                 return_inverse=True)
        assert np.array_equal(np.stack(keys, axis=1), ref), pick
        assert np.array_equal(inv, ref_inv.ravel()), pick
        for k, x in zip(keys, sub):
            assert np.array_equal(k[inv], np.asarray(x, dtype=np.int64))
    wide = [rng.integers(0, 1 << 30, n), rng.integers(0, 1 << 30, n)]  # a code range beyond the presence table
    keys, inv = distinct_rows(*wide)
    assert all(np.array_equal(k[inv], x) for k, x in zip(keys, wide)) and len(keys[0]) == len({*zip(*wide)})


def test_matches_stored_reference(catalog):
    """step_time and memory_per_gpu on fixed candidate sets (tests/make_step_time_golden.py: dense, fp8 with
    16-bit end layers, FSDP, the HF stack, MoE, MTP, hybrid; two GPUs) against the outputs stored in
    tests/data/step_time_golden.npz. Equal to 1e-12 relative (exactly on the machine that made the file; the
    margin is for another CPU's libm); a number the model changes on purpose means regenerating the file."""
    from make_step_time_golden import OUT, evaluate_cases

    ref = np.load(OUT)
    got = evaluate_cases(catalog)
    assert sorted(got) == sorted(ref.files)
    for k in ref.files:
        a, b = ref[k], got[k]
        ok = np.isclose(b, a, rtol=1e-12, atol=0.0, equal_nan=True)
        assert ok.all(), f"{k}: row {np.flatnonzero(~ok)[0]} is {b[~ok][0]!r}, stored {a[~ok][0]!r}"


def _other_values(stack, field: str) -> list:
    """Every value of a stack option other than the one ``stack`` holds: a bool flipped, a choice (the job schema's
    ``Literal``) each other choice. A free option whose values the test could not enumerate fails here, so that a
    searched option of a new kind cannot join LAYER_FREE_STACK unchecked."""
    import typing

    from planner.spec.schema import FrameworkSpec

    now = getattr(stack, field)
    if isinstance(now, bool):
        return [not now]
    if field == "pp_pass_microbatches":  # an integer the search tries from a fixed set (titanpp54), or unset
        from planner.search.space import PASS_CHOICES
        return [v for v in (None, *PASS_CHOICES) if v != now]
    if field == "activation_offload_layers":  # an integer the search tries as shares of the layers (rec58), or unset
        from planner.search.space import offload_layer_counts
        return [v for v in (None, *offload_layer_counts(32)) if v != now]

    def literal(arg):  # a Literal, bare or inside Annotated (the vocabulary's choices carry a validator)
        if typing.get_origin(arg) is typing.Annotated:
            arg = typing.get_args(arg)[0]
        return typing.get_args(arg) if typing.get_origin(arg) is typing.Literal else ()

    choices = [a for arg in typing.get_args(FrameworkSpec.model_fields[field].annotation) for a in literal(arg)]
    assert choices, f"LAYER_FREE_STACK's {field} is neither a bool nor a choice: enumerate its values here"
    return [c for c in choices if c != now]


@pytest.mark.parametrize("example,precision,stack", [
    ("llama3-70b", "fp8", resolve("megatron-core", lp_bf16_layers=2)),  # two layer sets (recipe, 16-bit)
    ("llama3-70b", None, "torchtitan"),  # layer SAC shares in the key
    ("mixtral-8x7b", None, None),  # MoE: EP, expert-TP
    ("nemotron-3-nano-pretrain", None, None),  # hybrid: the MTP block's own layer set
    ("full-finetune-llama3.1-8b", None, "nemo-automodel"),  # its searched options (rec57: loss_fn read by the head)
])
def test_layer_memo_gives_each_call_its_own_numbers(catalog, example, precision, stack):
    """One LayerMemo over a search-like sequence of calls -- overlapping candidate sets, the stack options a
    search varies (LAYER_FREE_STACK) set to each of their values, instance types of one GPU that differ only in what LAYER_FREE_HW
    lists or in their network, and another GPU -- gives every call the bits it gets without the memo. A field
    wrongly listed as free (or a setting missing from the key) would hand a later call an earlier one's rows."""
    from dataclasses import replace

    from planner.model.stacks import from_training
    from planner.model.step_time import LAYER_FREE_STACK, LayerMemo

    job = load_job(EXAMPLES / f"{example}.yaml")
    if precision:
        job = job.model_copy(update={"training": job.training.model_copy(update={"precision": precision})})
    base = from_training(job.training, stack)
    stacks = [base] + [replace(base, **{f: v}) for f in LAYER_FREE_STACK for v in _other_values(base, f)]
    hws = [option_from_instance(catalog.instance(k)) for k in (
        "aws:p5.48xlarge", "azure:Standard_ND96isr_H100_v5", "gcp:a3-highgpu-8g", "aws:p5en.48xlarge")]
    hws.append(replace(hws[0], name="renamed", price_ondemand=1.0))
    rng = np.random.default_rng(11)
    moe = job.model.moe is not None
    sets = [candidates(40, rng, moe) for _ in range(2)]
    sets.append(sets[0].take(np.arange(10, 30)))  # keys met before
    memo = LayerMemo()
    calls = 0
    for hw in hws:
        for fw in stacks:
            for c in sets:
                got = step_time(job.model, job.training, c, hw, framework=fw, memo=memo)
                ref = step_time(job.model, job.training, c, hw, framework=fw)
                calls += 1
                for k, v in ref.items():
                    if np.asarray(v).dtype.kind == "f":
                        a, b = np.broadcast_to(v, (len(c),)), np.broadcast_to(got[k], (len(c),))
                        bad = np.flatnonzero(_bits(a) != _bits(b))
                        assert not len(bad), f"{hw.name} {k}: row {bad[0]} {b[bad[0]]!r} with the memo, {a[bad[0]]!r}"
    # the flipped stack options and the renamed option share the layer model's rows: fewer settings than calls (the
    # DP terms, also memoised, read the whole hardware option and the stack less DP_FREE_STACK: held above all the same)
    layer_sets = [s for s in memo._sets if s[0] != "step_time._dp_terms"]
    assert len(layer_sets) < calls / len(sets) and len(layer_sets) < len(memo._sets)
