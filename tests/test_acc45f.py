"""Sliding-window layers in the fused attention kernel's time (acc45f): the keys a causal block-skipping kernel
computes for a window-``w`` layer are ``w - w^2/2s`` a query (``flops.local_keys``), not half the window (the causal
halving applied to the full-count ``min(s, w)`` counted them as ``w/2``), and the layer's rows run at the rate of
the causal call whose per-query work they match (2w keys, ``layer_ops.window_call_keys``), not the full row's."""
import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.model import layer_ops, physics, step_time
from planner.model.flops import local_keys
from planner.model.stacks import resolve
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

SEQ = 4096


def _attn(catalog, m):
    t = TrainingSpec(seq_len=SEQ, global_batch=8)
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    fw = resolve(None)
    one = np.ones(1, dtype=np.int64)
    c = layer_ops.layer_context(m, t, hw, fw, one, one, one, one, one > 1, one, None)
    return layer_ops.attention_core(c, m, t, hw, fw, True, step_time.ssm.layer_shares(m)), c, hw, fw


def test_a_window_layer_costs_its_keys_at_the_short_call_rate(catalog):
    """Every layer windowed at 128 against every layer full: the ratio is the keys (126 of 2,048 a query) times the
    long call's rate over the 256-key call's -- 0.16, where the old price (w/2 keys at the long call's rate) was
    1/32."""
    m = ModelSpec(**PRESETS["gpt-oss-120b"])
    full, c, hw, fw = _attn(catalog, m.model_copy(update={"local_layers": 0}))
    win, *_ = _attn(catalog, m.model_copy(update={"local_layers": m.layers}))
    hd = m.head_dim
    kernel = physics.te_training_attention_kernel(fw.attn_kernel, hw.gpu.name, hd, hd)
    e_long = physics.attention_efficiency(kernel, hw.gpu.name, SEQ, c.eff.attn_fwd, c.eff.attn_bwd, head_dim=hd)
    e_win = physics.attention_efficiency(kernel, hw.gpu.name, 256.0, c.eff.attn_fwd, c.eff.attn_bwd, head_dim=hd)
    keys = float(local_keys(SEQ, 128, "sliding", True)) / (SEQ / 2)
    np.testing.assert_allclose(np.ravel(win.fwd / full.fwd), keys * e_long[0] / e_win[0], rtol=1e-9)
    np.testing.assert_allclose(np.ravel(win.bwd / full.bwd), keys * e_long[1] / e_win[1], rtol=1e-9)
    assert float(np.ravel(win.fwd / full.fwd)[0]) > 0.15


def test_alternating_layers_are_the_sum_of_their_kinds(catalog):
    """gpt-oss's 18 window + 18 full layers cost the mean of the all-window and all-full prices per layer: 0.58 of
    all-full (0.52 under the old price)."""
    m = ModelSpec(**PRESETS["gpt-oss-120b"])
    mixed, *_ = _attn(catalog, m)
    full, *_ = _attn(catalog, m.model_copy(update={"local_layers": 0}))
    win, *_ = _attn(catalog, m.model_copy(update={"local_layers": m.layers}))
    share = m.local_layers / m.layers
    np.testing.assert_allclose(np.ravel(mixed.fwd), np.ravel((1 - share) * full.fwd + share * win.fwd), rtol=1e-9)
    assert 0.57 < float(np.ravel(mixed.fwd / full.fwd)[0]) < 0.59
