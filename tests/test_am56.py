"""am56: under PyTorch's non-reentrant checkpoint with early stop the whole-layer re-run ends at the last tensor the
backward reads. DeepEP's flex dispatcher unpermutes *before* its combine and ``FusedCombine`` saves nothing (NeMo
AutoModel's vendored components/moe/megatron/token_dispatcher.py and fused_a2a.py), and ``MoE.forward`` only adds the
shared experts' output after it: so the re-run repeats the dispatch and the experts but not the combine
(planner.model.moe ``COMBINE_UNSAVED``, ``rerun_combine_skip``). The all-to-all dispatcher unpermutes after its
combine (that unpermute saves its indices) and a LatentMoE block up-projects the combined rows (saving them): both
re-run it. The two step tests fail on the code before am56, which re-ran every combine under early stop."""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import moe as moe_mech
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec

from test_step_time import cands, hw_for


def _model(latent=None) -> ModelSpec:
    moe = dict(experts=64, top_k=8, routing="round_robin")
    if latent:
        moe["latent_size"] = latent
    return ModelSpec(family="moe", layers=4, hidden=2048, heads=16, ffn_hidden=1024, vocab=32000, moe=moe)


def _ep_seconds(catalog, model, dispatcher: str, early_stop: bool, rc: int = 2) -> float:
    """The step's exposed EP seconds on 16 GPUs (EP 16 over two nodes: the all-to-alls are on the critical path)."""
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16",
                     recompute="full" if rc == 2 else "none")
    c = cands(tp=1, pp=1, dp=16, ep=16, zero=3, nodes=2, rc=rc)
    fw = resolve("nemo-automodel", moe_dispatcher=dispatcher, recompute_early_stop=early_stop)
    return float(step_time(model, t, c, hw_for(catalog), framework=fw)["comm_ep"][0])


def test_early_stop_skips_the_deepep_combine_in_the_rerun(catalog):
    on, off = _ep_seconds(catalog, _model(), "deepep", True), _ep_seconds(catalog, _model(), "deepep", False)
    assert off > 0 and on < off
    # what is skipped is at most the re-run's own all-to-alls: a quarter of (dispatch + combine) x (forward, re-run)
    # + backward ... never more than the forward pass's exposed share (a third of the full-recompute total)
    assert off - on <= off / 3 + 1e-12


def test_the_alltoall_combine_and_a_latent_block_rerun_it(catalog):
    # the all-to-all dispatcher's unpermute after the combine saves its indices; a LatentMoE's fc2_latent_proj reads
    # and saves the combined rows: no skip either way
    for model, disp in ((_model(), "alltoall"), (_model(latent=512), "deepep")):
        assert _ep_seconds(catalog, model, disp, True) == pytest.approx(_ep_seconds(catalog, model, disp, False))
    # without a re-run nothing is skipped
    assert _ep_seconds(catalog, _model(), "deepep", True, rc=0) == pytest.approx(
        _ep_seconds(catalog, _model(), "deepep", False, rc=0))


def test_the_skip_is_the_combine_or_the_exposed_forward_whichever_is_less():
    fw = resolve("nemo-automodel", moe_dispatcher="deepep")
    a2a, ep_fwd = np.array([1.0, 1.0, 1.0]), np.array([2.0, 0.4, -0.1])  # (hidden less than a combine; over-hidden)
    assert np.allclose(moe_mech.rerun_combine_skip(fw, None, _model(), a2a, ep_fwd), [1.0, 0.4, 0.0])
    assert moe_mech.rerun_combine_skip(fw, None, _model(latent=512), a2a, ep_fwd) == 0.0
    assert moe_mech.rerun_combine_skip(resolve("nemo-automodel", moe_dispatcher="deepep", recompute_early_stop=False),
                                       None, _model(), a2a, ep_fwd) == 0.0
    assert np.all(moe_mech.rerun_combine_skip(resolve("nemo-automodel", moe_dispatcher="alltoall"), None, _model(),
                                              a2a, ep_fwd) == 0.0)
