"""Which torch checkpoint the HF Trainer runs, and Transformer Engine fp8 under a reentrant one (hfckpt47).

transformers' ``PreTrainedModel.gradient_checkpointing_enable`` fills ``gradient_checkpointing_kwargs`` when the caller
passes none (TrainingArguments' default is None): ``{"use_reentrant": True}`` through 4.x (PR #28538; 4.35 / 4.36
passed ``{}``, torch's own default True, issue #28536), ``{"use_reentrant": False}`` from 5.x (PR #43203). The
registry's hf-trainer is today's (non-reentrant); ``use_reentrant: true`` is the 4.x run. Under torch's reentrant
checkpoint the block's forward runs under ``no_grad`` inside accelerate's ``fp8_autocast`` (fp8), and the backward
re-runs it outside every autocast: TE's ``init_fp8_metadata`` reads ``is_fp8_enabled()`` False, the linears run and
save 16-bit, ``ctx.fp8`` is False and their backward is 16-bit; reentrant checkpointing compares no saved tensors, so
it runs (the non-reentrant one raises ``CheckpointError``: rule ``te-fp8-torch-checkpoint``, fp8rc46). Priced so: the
fp8 forward, a 16-bit recompute, a 16-bit backward, no backward amax reduction, no early stop.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from planner.errors import InputError
from planner.model import stack_kernels, stack_rules, stacks
from planner.model.layer_ops import layer_terms
from planner.model.step_time import pass_amax_allreduces
from planner.vocab import RECOMPUTE
# fp8rc46's dense layer, hardware, candidates and job: the refusal this file turns into a price is tested there
from test_fp8rc46 import DENSE, RULE, _cands, _hw, _job


def test_hf_trainer_defaults_to_transformers_5_non_reentrant():
    """hf-trainer holds the switch, off by default (transformers 5); of the other stacks only deepspeed (the HF model
    code, checkpointed by transformers too: stack48) checkpoints through ``gradient_checkpointing_enable``, and
    setting it elsewhere is refused on its field."""
    assert stacks.STACKS["hf-trainer"].use_reentrant is False
    assert ({k for k, s in stacks.STACKS.items() if s is not None and s.use_reentrant is not None}
            == {"hf-trainer", "deepspeed"})
    assert stacks.resolve("hf-trainer", use_reentrant=True).use_reentrant is True
    with pytest.raises(InputError) as e:
        stacks.resolve("megatron-core", use_reentrant=True)
    assert e.value.field == "training.framework.use_reentrant"


def test_reentrant_has_no_early_stop():
    """torch's ``_StopRecomputationError`` is the non-reentrant checkpoint's: early stop with ``use_reentrant: true``
    is refused; without it hf-trainer may set it."""
    with pytest.raises(InputError) as e:
        stacks.resolve("hf-trainer", use_reentrant=True, recompute_early_stop=True)
    assert e.value.field == "training.framework.recompute_early_stop" and "reentrant" in str(e.value)
    assert stacks.resolve("hf-trainer", recompute_early_stop=True).recompute_early_stop


def test_registry_says_what_a_reentrant_checkpoint_reruns():
    """accelerate's TE recipe: "fails" non-reentrant, "16bit" reentrant; its torchao recipes re-run fp8 either way;
    Megatron's and Composer's TE checkpoints have no reentrant torch variant (fp8 always)."""
    acc = stack_kernels.TE_RECOMPUTES["accelerate"]
    assert acc.runs_under("delayed", False) == "fails" and acc.runs_under("delayed", True) == "16bit"
    assert acc.runs_under("tensorwise", True) == "fp8"
    assert acc.refuses("delayed", "full") and not acc.refuses("delayed", "full", reentrant=True)
    assert all(stack_kernels.TE_RECOMPUTES[k].runs_under("delayed", True) == "fp8" for k in ("megatron", "composer"))
    hf = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    assert stack_kernels.te_recompute_runs(hf, "delayed") == "fails"
    assert stack_kernels.te_recompute_runs(stacks.resolve(hf, use_reentrant=True), "delayed") == "16bit"


def test_reentrant_te_fp8_full_recompute_runs():
    """The refusal stays for the non-reentrant default and goes with ``use_reentrant: true``; the message names the
    way out."""
    st = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    with pytest.raises(InputError) as e:
        stack_rules.check(st, DENSE, _job(), _cands("full"))
    assert "use_reentrant: true" in str(e.value) and "\n" not in str(e.value)
    re = stacks.resolve("hf-trainer", fp8_recipe="delayed", use_reentrant=True)
    assert RULE not in stack_rules.refusals(re, DENSE, _job(), _cands("full"))


def test_reentrant_reruns_and_backpropagates_16bit(catalog):
    """The layer's GEMM seconds under reentrant full recompute are the fp8 forward plus the 16-bit layer's recompute
    and backward: A = D + (E - C), with D the 16-bit-linear layer (``bf16_share`` 1) without recompute (its forward
    and backward), E - C the fp8 forward (E: recomputed in fp8, TE's own checkpoint's price; C: no recompute). The
    forward is E's; the backward between E's (fp8 re-run) and B's (the 16-bit-linear layer recomputed)."""
    hw, a = _hw(catalog), np.array([1])

    def terms(fw, rc, bf16_share=None):
        return layer_terms(DENSE, _job(recompute=rc), hw, fw, a, a, a, np.array([4]), np.array([False]),
                            np.array([RECOMPUTE.code[rc]]), 0.0, True, bf16_share=bf16_share)

    plain = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    re = stacks.resolve(plain, use_reentrant=True)
    A, B, D = terms(re, "full"), terms(plain, "full", bf16_share=1.0), terms(plain, "none", bf16_share=1.0)
    C, E = terms(plain, "none"), terms(plain, "full")
    assert float(A["gemm"][0]) == pytest.approx(float(D["gemm"][0] + E["gemm"][0] - C["gemm"][0]), rel=1e-9)
    assert float(A["fwd"][0]) == pytest.approx(float(E["fwd"][0]), rel=1e-12)
    assert float(E["bwd"][0]) < float(A["bwd"][0]) < float(B["bwd"][0])
    # without recompute the switch changes nothing: the backward is the fp8 forward's own
    assert float(terms(re, "none")["bwd"][0]) == pytest.approx(float(C["bwd"][0]), rel=1e-12)


def test_reentrant_backward_reduces_no_amax(catalog):
    """Delayed scaling's backward amax all-reduce comes from the first fp8 module's ``ctx`` (set only under
    ``ctx.fp8``): a backward built from the 16-bit re-run has none; the forward's autocast exit still reduces."""
    t = _job()
    plain = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    re = stacks.resolve(plain, use_reentrant=True)
    hw = _hw(catalog)
    f0, b0 = pass_amax_allreduces(t, _cands("full"), hw, SimpleNamespace(fw=plain, n=1, g=8.0))
    f1, b1 = pass_amax_allreduces(t, _cands("full"), hw, SimpleNamespace(fw=re, n=1, g=8.0))
    assert float(f1[0]) == float(f0[0]) > 0 and float(b0[0]) > 0 and float(b1[0]) == 0.0
    f2, b2 = pass_amax_allreduces(_job(recompute="none"), _cands("none"), hw, SimpleNamespace(fw=re, n=1, g=8.0))
    assert float(b2[0]) == float(b0[0])


def test_stack_line_says_which_checkpoint():
    """The "training stack:" line names the checkpoint where the plan recomputes, on the stack that holds it."""
    hf = stacks.STACKS["hf-trainer"]
    assert "use_reentrant=off" in hf.describe("bf16", recompute="full")
    assert "use_reentrant=on" in stacks.resolve("hf-trainer", use_reentrant=True).describe("fp8", recompute="full")
    assert "use_reentrant" not in hf.describe("bf16", recompute="none")
    assert "use_reentrant" not in stacks.STACKS["torchtitan"].describe("bf16", recompute="full")
