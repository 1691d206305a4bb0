"""What a fully recomputed forward runs a Transformer Engine fp8 layer at, stack by stack (fp8rc46).

TE decides a module's precision per call (transformer_engine/pytorch/module/base.py ``prepare_forward``): in TE's
recompute phase (``activation_recompute_forward(recompute_phase=True)``, entered by TE's own checkpoint) the module
keeps its first forward's fp8 flag and scales; anywhere else ``init_fp8_metadata`` sets ``self.fp8 =
FP8GlobalStateManager.is_fp8_enabled()``, False in the backward, which every stack runs outside its ``fp8_autocast``.
Megatron-Core checkpoints fp8 blocks with TE's checkpoint (transformer_block.py ``checkpoint_handler``); Composer's
fp8 activation checkpointing is its ``te_checkpoint_wrapper`` (TE's checkpoint with TE's recompute contexts; its torch
``checkpoint_wrapper`` path "does not work with FP8 TE", mosaicml/composer PR #3156): both re-run in fp8, the whole
forward -- pinned. The HF Trainer checkpoints with torch.utils.checkpoint, non-reentrant: the TE linears re-run in
16-bit and save other tensors than the fp8 forward did, and torch raises CheckpointError (TransformerEngine issue
#776): accelerate's TE recipe (delayed) with full recompute is refused; its torchao recipes re-run in fp8 and are not.
"""
import numpy as np
import pytest

from planner.errors import InputError
from planner.hardware.options import HardwareOption, efficiency_for
from planner.layout import Candidates
from planner.model import stack_kernels, stack_rules, stacks
from planner.model.layer_ops import layer_terms
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import RECOMPUTE, SCHEDULE

DENSE = ModelSpec(name="d", layers=16, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)
RULE = "te-fp8-torch-checkpoint"


def _hw(catalog, gpu="H100-SXM-80GB"):
    g = catalog.gpu(gpu)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=400e9, intra_bw=g.intra_node_bw,
                          eff=efficiency_for(g))


def _cands(rc):
    one = np.array([1])
    return Candidates(tp=one, pp=one, dp=np.array([8]), cp=one, ep=one, vpp=one, zero=np.array([3]), mb=one,
                      rc=np.array([RECOMPUTE.code[rc]]), sp=np.array([False]),
                      schedule=np.array([SCHEDULE.code["1f1b"]]), gpus_per_node=np.array([8]), nodes=one)


def _job(precision="fp8", recompute="full"):
    return TrainingSpec(precision=precision, seq_len=2048, global_batch=64, recompute=recompute)


def test_registry_says_which_checkpoint_reruns_fp8():
    """One entry per TE integration: Megatron's and Composer's checkpoints re-run fp8, accelerate's torch checkpoint
    fails, for its TE recipe only (its tensorwise / rowwise are torchao's Float8Linear, which casts on every call)."""
    r = stack_kernels.TE_RECOMPUTES
    assert set(r) == set(stack_kernels.TE_AMAX_REDUCTIONS) == {"megatron", "composer", "accelerate"}
    assert {k: e.runs for k, e in r.items()} == {"megatron": "fp8", "composer": "fp8", "accelerate": "fails"}
    assert r["accelerate"].te_recipes == ("delayed",)
    assert r["accelerate"].refuses("delayed", "full")
    assert not r["accelerate"].refuses("tensorwise", "full") and not r["accelerate"].refuses("delayed", "selective")
    assert not any(r[k].refuses("delayed", "full") for k in ("megatron", "composer"))


def test_hf_trainer_te_fp8_full_recompute_is_refused():
    """The HF Trainer under accelerate's TE recipe with full recompute: refused with one line on
    ``training.recompute`` (before fp8rc46 it was priced, the recompute as an fp8 forward); without recompute, in
    bf16, or under its torchao recipes it runs."""
    st = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    with pytest.raises(InputError) as e:
        stack_rules.check(st, DENSE, _job(), _cands("full"))
    assert e.value.field == "training.recompute"
    assert "TE fp8 layers" in str(e.value) and "CheckpointError" in str(e.value) and "\n" not in str(e.value)
    assert not stack_rules.refusals(st, DENSE, _job(recompute="none"), _cands("none")).get(RULE, [False])[0]
    assert RULE not in stack_rules.refusals(st, DENSE, _job(precision="bf16"), _cands("full"))
    tw = stacks.resolve("hf-trainer", fp8_recipe="tensorwise")
    assert RULE not in stack_rules.refusals(tw, DENSE, _job(), _cands("full"))


@pytest.mark.parametrize("name", ["llm-foundry", "megatron-core"])
def test_te_checkpoint_stacks_are_not_refused(name):
    """llm-foundry (Composer's te_checkpoint_wrapper) and Megatron-Core (te_checkpoint) run fp8 full recompute."""
    st = stacks.resolve(name, fp8_recipe="delayed")
    assert RULE not in stack_rules.refusals(st, DENSE, _job(), _cands("full"))


def test_llm_foundry_recompute_is_the_whole_fp8_forward(catalog):
    """Pinned: llm-foundry's fp8 full recompute adds exactly one fp8 forward of the layer to its backward (TE's
    checkpoint re-runs the whole block in fp8: no 16-bit GEMMs, no early stop), and that forward is cheaper than the
    same layer's with 16-bit linears (``bf16_share`` 1), which a torch-checkpoint re-run would have cost."""
    fw = stacks.resolve("llm-foundry")
    assert fw.recipe.name == "delayed"
    hw = _hw(catalog)

    def terms(rc, bf16_share=None):
        a = np.array([1])
        return layer_terms(DENSE, _job(recompute=rc), hw, fw, a, a, a, np.array([4]), np.array([False]),
                            np.array([RECOMPUTE.code[rc]]), 0.0, True, bf16_share=bf16_share)

    none, full = terms("none"), terms("full")
    added = float(full["bwd"][0] - none["bwd"][0])
    assert added == pytest.approx(float(none["fwd"][0]), rel=1e-9)
    assert float(full["gemm"][0] - none["gemm"][0]) > 0
    sixteen = terms("none", bf16_share=1.0)
    assert float(none["fwd"][0]) < 0.8 * float(sixteen["fwd"][0])
