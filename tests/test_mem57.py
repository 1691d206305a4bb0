"""mem57: torch.distributed.pipelining's last stage keeps every micro-batch's output until the next step
(``output_chunks``; memory_activations ``pp_kept_outputs``, ``Stack.pp_kept_output_bytes``)."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.layout import Candidates
from planner.model import stacks
from planner.model.memory import GiB, memory_per_gpu
from planner.model.memory_activations import pp_kept_outputs
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

TRUTH = json.loads((Path(__file__).parent / "data" / "pp_outputs_truth.json").read_text())


def test_truth_last_stage_keeps_every_microbatch_output():
    """The gloo 1F1B step: the last micro-batch's loss runs beside all 8 outputs of the last stage, which stay after the
    step; ``return_outputs=False`` keeps none; the first stage keeps none either way."""
    last, first = TRUTH["ranks"]["1"], TRUTH["ranks"]["0"]
    kept = last["return_outputs"]
    m = kept["microbatches"]
    assert max(kept["held_at_loss"]) == kept["held_at_loss"][-1] == m == 8
    assert kept["held_bytes_at_loss"][-1] == m * kept["output_bytes"]  # fp32 outputs: 4 rows x 32 x 4 B each
    assert kept["held_after"] == m and kept["held_bytes_after"] == m * kept["output_bytes"]
    assert last["no_return_outputs"]["held_after"] == 0 and max(last["no_return_outputs"]["held_at_loss"]) == 0
    assert first["return_outputs"]["held_after"] == 0


def _case(pp, kept):
    m = ModelSpec(**PRESETS["llama3-8b"])
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=2, precision="bf16", weights="megatron",
                     grad_dtype="fp32", recompute="full")
    c = Candidates(tp=np.array([2]), pp=pp, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=2, rc=2, sp=True, schedule=0,
                   gpus_per_node=8, nodes=1)
    st = replace(stacks.resolve("torchtitan"), pp_kept_output_bytes=kept)
    return m, t, c, st


def test_kept_outputs_are_m_microbatches_of_the_vocab_shard():
    """m = 64 / 2 = 32 micro-batches of 2 x 4,096 tokens over the 128,256 / 2 vocabulary shard, 4 B a logit; none on
    one stage, none where the stack does not keep them (the default)."""
    m, t, c, st = _case(4, 4.0)
    got = pp_kept_outputs(m, st, c, 4096, np.array([32.0]))
    assert np.allclose(got, 32 * 2 * 4096 * (128256 / 2) * 4.0)
    m, t, c1, st = _case(1, 4.0)
    assert np.allclose(pp_kept_outputs(m, st, c1, 4096, np.array([32.0])), 0.0)
    assert pp_kept_outputs(m, stacks.resolve("torchtitan"), c, 4096, np.array([32.0])) == 0.0


def test_last_stage_total_carries_them():
    """In ``memory_per_gpu`` the last stage's total grows by the kept outputs and the allocator's reserve on them, at 2
    micro-batches, where the step's own moment is the peak (at more the merge's moment, where they are there twice:
    tests/test_mem58.py)."""
    m, t, c, st = _case(4, 4.0)
    t = t.model_copy(update={"global_batch": 4})
    on = memory_per_gpu(m, t, c, stack=st)
    off = memory_per_gpu(m, t, c, stack=replace(st, pp_kept_output_bytes=0.0))
    kept = 2 * 2 * 4096 * (128256 / 2) * 4.0
    grew = float(on["total_last"][0] - off["total_last"][0])
    assert kept <= grew <= kept * 1.06, (grew / GiB, kept / GiB)


@pytest.fixture(scope="module")
def titan_rows():
    from benchmarks.validate_memory import rows
    return rows().set_index("id")


def test_405b_pipeline_rows_peak_on_the_last_stage(titan_rows):
    """torchtitan 2024-12's 405B PP rows (validate_memory ``TITAN_PP_OUTPUTS``): 8 micro-batches of 32,768 tokens over
    the 128,256 / 8 shard, fp32: 15.66 GiB kept on the last stage, which now sets the 1F1B and CP 1 rows' peak (75.5
    GiB predicted, measured 82.5 and 75.3)."""
    from benchmarks.validate_memory import TITAN_PP_OUTPUTS
    assert TITAN_PP_OUTPUTS == {"titan24": 4.0}
    assert 8 * 32768 * 128256 / 8 * 4 / GiB == pytest.approx(15.66, abs=0.01)
    for rid in ("titan24_t5_405b_1f1b", "titan24_t6_405b_cp1_32768"):
        assert titan_rows.loc[rid, "predicted_gib"] == pytest.approx(75.5, abs=0.1)
    assert abs(titan_rows.loc["titan24_t6_405b_cp1_32768", "err"]) < 0.01
    # the non-PP rows are untouched (pp 1: nothing kept)
    assert titan_rows.loc["titan24_t1_8b_8_fsdp", "predicted_gib"] == pytest.approx(80.4, abs=0.05)
