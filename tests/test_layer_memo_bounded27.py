"""A search's ``LayerMemo`` holds one entry per distinct input, not one per call: the same memory and step-time
evaluation run again (as a search's chunks, probes and stack variants do) adds nothing. HF Trainer's autocast
(``memory.held_training``) hands ``memory_per_gpu`` a fresh copy of the training spec on every call; keyed by that
copy, the memo grew one entry a call and kept each copy alive."""
import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.model.memory import held_training, memory_per_gpu
from planner.model.stacks import from_training, resolve
from planner.model.step_time import LayerMemo, step_time
from planner.spec import load_job

from conftest import EXAMPLES
from make_step_time_golden import candidates


def _sizes(memo: LayerMemo) -> tuple[int, int]:
    return len(memo._values), len(memo._sets)


@pytest.mark.parametrize("example,stack", [
    ("llama3-70b", "hf-trainer"),  # autocast: held_training copies the spec (the case that grew)
    ("llama3-70b", "megatron-core"),
    ("nemotron-3-nano-pretrain", "megatron-core"),  # hybrid: the MTP block's own layer set
])
def test_repeated_evaluation_adds_no_memo_entries(catalog, example, stack):
    job = load_job(EXAMPLES / f"{example}.yaml")
    st = resolve(stack)
    if stack == "hf-trainer":  # the setup: this stack's held spec is a new object on every call
        held = [held_training(job.model, job.training, from_training(job.training, st)) for _ in range(2)]
        assert held[0] is not job.training and held[0] is not held[1]
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(40, np.random.default_rng(7), job.model.moe is not None)
    memo = LayerMemo()
    sizes, mems = [], []
    for _ in range(3):
        mems.append(memory_per_gpu(job.model, job.training, c, stack=st, memo=memo))
        step_time(job.model, job.training, c, hw, framework=st, memo=memo)
        sizes.append(_sizes(memo))
    assert sizes[0] == sizes[1] == sizes[2], sizes
    # and the memo's rows are still the right ones: every call the same numbers as one without the memo
    ref = memory_per_gpu(job.model, job.training, c, stack=st)
    for got in mems:
        for k, v in ref.items():
            if np.asarray(v).dtype.kind == "f":
                assert np.array_equal(np.asarray(got[k]), np.asarray(v)), k


def test_for_model_cache_is_bounded(monkeypatch):
    """``Stack.for_model`` keeps one object per (entry, options given, kind) so a search's LayerMemo keys stay stable,
    but no more than ``FOR_MODEL_KEPT`` of them: an app session that tries option after option does not grow it
    without end. The entry met most recently survives; the one met least recently is dropped."""
    from dataclasses import replace

    from planner.model import stacks
    from planner.model.stacks import resolve
    from planner.spec import load_job

    monkeypatch.setattr(stacks, "FOR_MODEL_KEPT", 3)
    monkeypatch.setattr(stacks, "_FOR_MODEL", stacks.OrderedDict())
    model = load_job(EXAMPLES / "llama3-70b.yaml").model
    base = resolve("megatron-core")
    variants = [replace(base, lp_bf16_layers=n) for n in range(1, 6)]
    first = variants[0].for_model(model)
    assert variants[0].for_model(model) is first  # kept: one object per entry
    for v in variants[1:]:
        v.for_model(model)
        variants[0].for_model(model)  # the first stays the most recently met
    assert len(stacks._FOR_MODEL) == 3
    assert variants[0].for_model(model) is first
    kept = {key[0] for key in stacks._FOR_MODEL}
    assert kept == {variants[0], variants[3], variants[4]}  # the least recently met (1, 2) dropped
