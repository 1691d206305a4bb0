"""MaxText's vocabulary tiling (``num_vocab_tiling``, src/MaxText/vocabulary_tiling.py): the loss scans the tokens in
n tiles and saves no logit, so the vocab-wide bytes are one tile's; the backward re-runs each tile's head GEMM and
loss. The Gemma3 12B tpu-recipes set 16 (mxlogits37)."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputError
from planner.layout import Candidates
from planner.model import stacks
from planner.model.activations import logits_bytes, loss_transient_bytes
from planner.model.memory import memory_per_gpu
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from planner.vocab import RECOMPUTE, SCHEDULE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
GIB = 1024 ** 3


def gemma3_case(chips=256, mb=1, seq=32768):
    m = ModelSpec(**dict(PRESETS["gemma3-12b"], name="g3"))
    t = TrainingSpec(seq_len=seq, global_batch=chips * mb, micro_batch=mb, precision="bf16", weights="amp",
                     grad_dtype="same", optimizer="adamw", flash_attention=True, dropout=False, recompute="full")
    c = Candidates(tp=np.array([1]), pp=1, dp=chips, cp=1, ep=1, vpp=1, zero=3, mb=mb, rc=RECOMPUTE.code["full"],
                   sp=False, schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=1)
    return m, t, c


def test_tiles_divide_the_vocab_wide_bytes_only():
    """Gemma3 12B at 32K, one sequence: the untiled loss's fp32 logits, 32,768 x 262,208 x 4 B = 32.0 GiB; 16 tiles
    hold one tile's, 2.0 GiB; the hidden rows (the final norm's input and output, the tiled loss's residual) stay."""
    m, *_ = gemma3_case()
    one = float(logits_bytes(m, 32768, 1))
    tiled = float(logits_bytes(m, 32768, 1, vocab_tiles=16))
    vocab = 32768 * m.vocab * 4.0
    assert one - tiled == pytest.approx(vocab * 15 / 16)
    assert tiled - vocab / 16 == pytest.approx(32768 * (m.hidden * 2 * 2 + 4))
    st = stacks.resolve("maxtext")
    assert float(loss_transient_bytes(m, 32768, 1, loss=st.loss_code, vocab_tiles=16)) == pytest.approx(
        float(loss_transient_bytes(m, 32768, 1, loss=st.loss_code)) / 16)


def test_gemma3_recipe_fits_the_v6e_chip_with_its_tiles():
    m, t, c = gemma3_case()
    full = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", remat_policy="custom"))
    tiled = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", remat_policy="custom", num_vocab_tiling=16))
    assert float(full["total"][0]) / GIB > 32 > float(tiled["total"][0]) / GIB
    # the tiles' own term: the logits' excess over the layer's rebuild (mxmem38), 15 / 16 of the vocab-wide bytes
    # less; with tiles the rebuild is the larger and the term 0
    shed = 32768 * m.vocab * 4.0 * 15 / 16
    assert float(full["logits"][0]) > 0.0
    assert float(tiled["logits"][0]) == pytest.approx(max(float(full["logits"][0]) - shed, 0.0), abs=1.0)
    assert float(full["activations"][0]) == pytest.approx(float(tiled["activations"][0]))


def test_the_backward_re_runs_the_tiles_head_gemm(v6e):
    """vocabulary_tiling.py ``_bwd_scan_body``: jax.vjp of each tile's logits and loss: one more head forward."""
    m, t, c = gemma3_case()
    base = step_time(m, t, c, v6e, framework=stacks.resolve("maxtext"))
    tiled = step_time(m, t, c, v6e, framework=stacks.resolve("maxtext", num_vocab_tiling=16))
    gained = float(tiled["step_time_s"][0] - base["step_time_s"][0])
    head_gemm = 2.0 * 32768 * m.hidden * m.vocab / v6e.gpu.peak_flops["bf16"]  # at the peak: a floor
    assert gained > head_gemm


@pytest.fixture(scope="module")
def v6e():
    import validate
    cat = validate.load_catalog()
    return validate.hw_option(cat, "TPU-v6e", 8, validate.MAXTEXT_ICI_GBPS_PER_CHIP * 8)


def test_the_recipes_rows_map_their_vocab_tiling():
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV)
    got = {r.id: validate.maxtext_case(r, 8)[3].num_vocab_tiling for r in d.itertuples()}
    assert {i for i, n in got.items() if n == 16} == {"maxtext_v6e_gemma3-12b_256", "maxtext_v6e_gemma3-12b_2x256",
                                                      "maxtext_v6e_gemma3-12b_4x256"}
    assert {n for i, n in got.items() if "gemma3" not in i} == {1}  # base.yml's default


def test_stack_line_and_refusals():
    assert "num_vocab_tiling=16" in stacks.resolve("maxtext", num_vocab_tiling=16).describe("bf16")
    assert "num_vocab_tiling" not in stacks.resolve("maxtext").describe("bf16")
    with pytest.raises(InputError) as e:
        stacks.resolve("megatron-core", num_vocab_tiling=4)
    assert "MaxText vocabulary tiling" in str(e.value)
    with pytest.raises(InputError) as e:
        stacks.resolve("maxtext", num_vocab_tiling=0)
    assert "training.framework.num_vocab_tiling" in str(e.value)
