"""mem45: the HF code's walked step under TP / CP / bf16-gathered weights -- the pieces session 44 left.

(1) With ``weight_casts=False`` (FSDP's / DeepSpeed ZeRO-3's bf16-gathered weights) autocast makes no copy of an
expert's slice either (torch aten/src/ATen/autocast_mode.cpp ``cached_cast`` casts only where the dtype differs), yet
the eager expert loop's backward freed one per expert: the MoE phase's moments were up to two experts' bf16 copies
short. (2) The tensors outside the blocks -- the final norm's saves and the head's input, the ids and labels, the
gradient the head's backward hands the final norm -- are whole on every TP rank (transformers' ``lm_head`` plan is a
column split of a replicated input), but sat in the layers' part at ``hf_tp_share``."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS


@pytest.mark.parametrize("preset", ("mixtral-8x7b", "qwen3-30b-a3b"))
def test_bf16_weights_make_no_expert_copies_to_free(preset):
    """Autocast over fp32 weights (``weight_casts`` True) against bf16-gathered ones (False): at every moment of the
    backward the two walks differ by exactly their weight-sized parts (the copies), none in the layers' part. Before
    mem45 the False walk freed each expert's slice copies it never made: Mixtral's moments 2 x 352 MB short."""
    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    for gc, keep, impl in itertools.product((False, True), (False, True), ("eager", "sdpa")):
        _, cast = AH.hf_step_walk(m, mt, 512, 1, "amp_bf16", impl, gc, keep, True)
        _, bf16 = AH.hf_step_walk(m, mt, 512, 1, "amp_bf16", impl, gc, keep, False)
        assert cast.shape == bf16.shape
        # (the backward's moments: under checkpointing the forward has two, the second the larger of two working
        # sets whose late copies differ, so the walks can pick different ones there)
        back = slice(2 if gc else 1, None)
        level = cast[back, 0] - bf16[back, 0]
        wsized = cast[back, 2] - bf16[back, 2]
        assert np.abs(level - wsized).max() <= 1e-12 * cast[:, 0].max()
