"""srv44: the serving model's prefill pairs counted once, and the same way on both sides.

The analytic side (``serving_iteration.prefill_pairs``) counted a chunk of c tokens after p computed ones as
c x (p + c/2) pairs and the simulated engine step wrote its own c x p + c (c + 1) / 2. FlashAttention's causal mask,
aligned to the bottom right (flash_attn_func's docstring; vLLM's prefill kernel), keeps the diagonal: query i attends
to itself. Now both read ``prefill_pairs`` (the mask's count), and a local layer counts the same diagonal, so a window
over the whole prompt prices a local layer as a global one."""
from __future__ import annotations

import numpy as np
import pytest

from hardware_catalog import load_catalog
from planner.spec import load_job_dict
from planner.workloads.serving import _options
from planner.workloads.serving_iteration import IterationModel, option_iteration, prefill_pairs
from planner.workloads.serving_memory import served_model


def _mask(computed: int, tokens: int, window: int | None = None, chunked: bool = False) -> int:
    """Kept entries of the causal mask, bottom-right aligned: query row i (absolute position computed + i) keeps key
    j <= computed + i; a sliding window keeps the last ``window`` of those (flash's window_size (w - 1, 0)), a chunked
    layer only keys in the query's own ``window``-token chunk."""
    q = np.arange(computed, computed + tokens)[:, None]
    k = np.arange(computed + tokens)[None, :]
    keep = k <= q
    if window and chunked:
        keep &= (k // window) == (q // window)
    elif window:
        keep &= k > q - window
    return int(keep.sum())


def _im(preset: str) -> IterationModel:
    job = load_job_dict({"model": {"preset": preset}, "constraints": {"instances": ["aws:p5.48xlarge"]},
                         "serving": {"qps": 4, "p99_latency_ms": 100, "prompt_tokens": 2000, "output_tokens": 100}})
    m, s = served_model(job.model), job.serving
    return option_iteration(m, s, next(iter(_options(job, load_catalog(), None))), 1)


def test_the_simulation_reads_the_models_count():
    """The engine step calls ``IterationModel.prefill_pairs`` (the module's function), not a copy of its own."""
    assert IterationModel.prefill_pairs is prefill_pairs
    assert IterationModel.constant(0.01).prefill_pairs(3.0, 7.0) == _mask(3, 7) == 7 * 3 + 7 * 8 / 2


@pytest.mark.parametrize("computed,tokens", [(0, 1), (0, 300), (40, 9), (100, 60), (1000, 24)])
def test_local_pairs_are_the_sliding_mask(computed, tokens):
    """gemma2-9b's sliding layers (4,096-token window at full size; a small window here so the mask fits): exact,
    the diagonal included, before and past the window (until srv44 under by the diagonal's min(s, w) / 2)."""
    im = _im("gemma2-9b")
    small = IterationModel(**{**im.__dict__, "window": 64.0})
    assert float(small.local_pairs(float(computed), float(tokens))) == pytest.approx(
        _mask(computed, tokens, 64), rel=1e-12)


def test_a_window_over_the_prompt_counts_the_global_pairs():
    """A chunk wholly inside the window: a local layer attends to what a global one does (gemma2-9b, w 4,096)."""
    im = _im("gemma2-9b")
    assert im.window == 4096.0
    assert float(im.local_pairs(1000.0, 2000.0)) == pytest.approx(prefill_pairs(1000.0, 2000.0), rel=1e-15)


def test_chunked_pairs_are_exact_at_whole_chunks():
    """Llama 4's chunked local layers (each chunk a causal block of its own): exact at whole chunks."""
    im = IterationModel(**{**_im("gemma2-9b").__dict__, "window": 32.0, "local_kind": "chunked"})
    assert float(im.local_pairs(0.0, 128.0)) == _mask(0, 128, 32, chunked=True)
    assert float(im.local_pairs(0.0, 20.0)) == _mask(0, 20, 32, chunked=True)
