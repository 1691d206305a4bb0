"""GPU autocast's tensors in the HF code (hfmem48), against real ``transformers`` runs recorded in
tests/data/hf_activations.json ``details`` (tests/make_hf_activations.py ``--details``: tiny llama, gpt2 and bert
on CPU under CUDA autocast's op lists, ``make_hf_common.CudaAutocastPolicy``; saved_tensors_hooks, one count per
storage). No torch or transformers needed here.

* RMSNorm and GQA ``repeat_kv`` (llama, eager and sdpa): the tensors are the same under CUDA's lists as under CPU
  autocast's, and over bf16 weights (FSDP) the same as pure bf16's: the planner's "amp_bf16" / "bf16" tables hold.
* LayerNorm families (GPT-2, BERT): CUDA autocast runs ``layer_norm`` in fp32 on an fp32 copy of its input,
  casts GPT-2's tanh-GELU ``torch.pow`` up and returns the dtype-less softmax in fp32; the plan's table
  (``hf_table_precision``) is "amp_bf16_cuda" / "amp_bf16_w16_cuda" for them.
* accelerate's ``convert_outputs_to_fp32``: an fp32 copy of the logits at the end of the forward, not on the peak.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations_hf import hf_saved_bytes, hf_step_memory, hf_table_precision
from test_families import FLOPS, _spec
from test_hfstep48 import gpu_saved

DETAILS = json.loads((Path(__file__).parent / "data" / "hf_activations.json").read_text())["details"]
#: the recorded precision -> what a plan of the HF Trainer with ``mixed_precision: amp`` runs: DDP (fp32 stream), FSDP
PLAN = {"amp_bf16_cuda": True, "amp_bf16_w16_cuda": False}


def _case(c):
    fam = c["family"]
    return _spec(FLOPS[fam]), FLOPS[fam]["resolved_config"]["model_type"]


def _plan_precision(c, mt):
    return hf_table_precision("amp_bf16", PLAN[c["precision"]], mt) if c["precision"] in PLAN else c["precision"]


@pytest.mark.parametrize("fam", ["llama", "gpt2", "bert"])
def test_gpu_autocast_saves_match_transformers(fam):
    """Every recorded case (eager / sdpa x bf16, CPU AMP, GPU AMP over fp32 and bf16 weights x two shapes): the
    saved bytes of the table a plan reads within 1% (exact today); the GPU-list cases with a GPU's 1 B dropout masks
    (test_hfstep48 ``gpu_saved``). Before hfmem48 the plan read "amp_bf16" / "bf16" for GPT-2 / BERT too: GPT-2
    eager (2, 128) -14.5% under DDP, -27.5% under FSDP; BERT -24.7% / -35.3% (of the CPU-mask saves)."""
    cases = [c for c in DETAILS["cases"] if c["family"] == fam]
    assert len(cases) == 16
    for c in cases:
        m, mt = _case(c)
        p = hf_saved_bytes(m, mt, c["seq"], c["batch"], _plan_precision(c, mt), c["attn_implementation"], False)
        truth = gpu_saved(c) if c["precision"] in PLAN else c["saved_bytes"]
        assert p == pytest.approx(truth, rel=0.01), (c["attn_implementation"], c["precision"], c["seq"])


@pytest.mark.parametrize("fam", ["gpt2", "bert"])
def test_gpu_autocast_walk_within_5_percent(fam):
    """The walked step (``hf_step_memory``) at the plan's table: the tensors left after the forward and the step's
    peak (gradients in the weights' dtype, no autocast weight copies over bf16 weights) within 5% of the recorded
    ``live_gpu`` (1 B dropout masks, test_hfstep48) at (2, 128); before hfmem48 (the plan on "amp_bf16" / "bf16")
    the peak was 12-25% short of the CPU-mask ``live_*`` on GPT-2, up to 36% on BERT."""
    for c in DETAILS["cases"]:
        if c["family"] != fam or c["precision"] not in PLAN or c["batch"] != 2:
            continue
        m, mt = _case(c)
        st = hf_step_memory(m, mt, c["seq"], c["batch"], _plan_precision(c, mt), c["attn_implementation"], False)
        assert st.after_forward == pytest.approx(c["live_gpu"]["after_forward"], rel=0.05), c["precision"]
        assert st.peak_step == pytest.approx(c["live_gpu"]["peak_fwd_bwd"], rel=0.05), c["precision"]


def test_layernorm_families_take_the_cuda_tables():
    """The plan's table key: the RMSNorm decoders keep hffsdp47's (amp on an fp32 stream, bf16 on FSDP's bf16
    one), GPT-2 / BERT the GPU-autocast tables."""
    assert [hf_table_precision("amp_bf16", s, "llama") for s in (True, False)] == ["amp_bf16", "bf16"]
    for mt in ("gpt2", "bert"):
        assert [hf_table_precision("amp_bf16", s, mt) for s in (True, False)] == ["amp_bf16_cuda", "amp_bf16_w16_cuda"]
        assert hf_table_precision("bf16", False, mt) == "bf16_cuda"  # a GPU's 1 B dropout masks (hfstep48)


@pytest.mark.parametrize("fam", ["llama", "gpt2"])
def test_accelerate_fp32_logits_copy_is_not_on_the_peak(fam):
    """accelerate (accelerator.py ``prepare_model``: ``model.forward = convert_outputs_to_fp32(autocast(forward))``)
    returns an fp32 copy of the bf16 logits: recorded, it adds 2 B a logit to what the forward leaves (the bf16
    logits freed, their fp32 copy kept until ``compute_loss`` drops the output) and nothing to the peak, which the
    loss's upcast sets first; the planner's peak (output dropped before backward, ``output_held=False``) within 5%."""
    runs = {r["convert_outputs_to_fp32"]: r for r in DETAILS["accelerate"] if r["family"] == fam}
    plain, wrapped = runs[False], runs[True]
    m, mt = _spec(FLOPS[fam]), FLOPS[fam]["resolved_config"]["model_type"]
    n_logits = wrapped["batch"] * wrapped["seq"] * m.vocab
    assert wrapped["live_after_forward_bytes"] - plain["live_after_forward_bytes"] == 2 * n_logits
    assert wrapped["live_peak_fwd_bwd_bytes"] == plain["live_peak_fwd_bwd_bytes"]
    st = hf_step_memory(m, mt, wrapped["seq"], wrapped["batch"], hf_table_precision("amp_bf16", True, mt), "eager",
                        False, output_held=False)
    assert st.peak_step == pytest.approx(wrapped["live_gpu"]["peak_fwd_bwd"], rel=0.05)  # 1 B dropout masks
    # the copy's moment (saved + log-softmax + fp32 logits) stays below the loss's forward (+ bf16 logits and upcast)
    assert wrapped["live_after_forward_bytes"] < wrapped["live_peak_forward_bytes"]
