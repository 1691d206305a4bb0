"""mem58: the last pipeline stage when ``step`` merges the outputs it keeps (``_merge_outputs``' ``torch.cat``):
memory_activations ``pp_merge_outputs``, memory ``pp_merge_parts``."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.model.memory import GiB, memory_per_gpu
from planner.model.memory_activations import pp_kept_outputs, pp_merge_outputs

TRUTH = json.loads((Path(__file__).parent / "data" / "pp_merge_truth.json").read_text())


def test_truth_merge_copies_the_kept_outputs_after_the_reshard():
    """The gloo 1F1B step under FSDP2 (bf16 params, fp32 reduce, no reshard after forward): at the last micro-batch's
    loss the last stage holds its unsharded bf16 parameters, its fp32 accumulators and all m outputs; at the merge
    neither the parameters nor the accumulators, the m outputs, and the merge makes a new tensor of their bytes."""
    last = TRUTH["ranks"]["1"]
    m, out = last["microbatches"], last["output_bytes"]
    loss = [e for e in last["moments"] if e["at"] == "loss"][-1]
    merge = next(e for e in last["moments"] if e["at"] == "merge")
    assert loss["unsharded_param_bytes"] == last["stage_param_bytes_bf16"] > 0
    assert loss["unsharded_grad_bytes"] == last["stage_param_bytes_fp32"]
    assert loss["kept_outputs"] == m == 4 and loss["kept_bytes"] == m * out
    assert merge["unsharded_param_bytes"] == 0 and merge["unsharded_grad_bytes"] == 0
    assert merge["kept_outputs"] == m and merge["kept_bytes"] == m * out
    assert last["merged_is_new"] and last["merged_bytes"] == m * out
    assert TRUTH["ranks"]["0"]["merged_bytes"] == 0  # the first stage returns nothing


def _row(rid):
    from benchmarks.validate_memory import DATA, titan_case
    from hardware_catalog import load_catalog
    r = next(r for r in pd.read_csv(DATA).itertuples() if r.id == rid)
    return titan_case(load_catalog(), r)


def test_merge_outputs_are_the_kept_twice_beside_the_receive_buffers():
    """The 405B 1F1B row (8 micro-batches of 32,768 tokens, TP 8 + SP): the kept fp32 logits twice (2 x 15.66 GiB)
    and the 8 forward receive buffers of the stage input (32,768 x 16,384 x 2 B / 8 = 128 MiB each); nothing where
    the stack keeps no outputs."""
    m, t, c, st = _row("titan24_t5_405b_1f1b")
    m_micro = np.array([8.0])
    act, logits = pp_merge_outputs(m, st, c, t.seq_len, m_micro, 2.0)
    kept = pp_kept_outputs(m, st, c, t.seq_len, m_micro)
    assert float(logits[0]) == pytest.approx(2 * float(kept[0])) and float(kept[0]) / GiB == pytest.approx(15.66, 1e-3)
    assert float(act[0]) == pytest.approx(8 * 32768 * 16384 * 2 / 8)
    assert pp_merge_outputs(m, replace(st, pp_kept_output_bytes=0.0), c, t.seq_len, m_micro, 2.0) == (0.0, 0.0)


@pytest.mark.parametrize("mult,merge_peaks", [(1, False), (4, True)])
def test_last_rank_peaks_at_the_later_moment(mult, merge_peaks):
    """At the rows' 8 micro-batches the step's own peak stays (the merge's moment ~25 GiB lower: the stage's bf16
    weights and fp32 accumulators are gone by then); at 32 the merge sets the last rank's total: the states at rest,
    the kept outputs twice as its logits, and no pool block past it."""
    m, t, c, st = _row("titan24_t5_405b_1f1b")
    t = t.model_copy(update={"global_batch": t.global_batch * mult})
    mem = memory_per_gpu(m, t, c, stack=st)
    kept = float(pp_kept_outputs(m, st, c, t.seq_len, np.array([8.0 * mult]))[0])
    if not merge_peaks:
        assert float(mem["logits"][0]) < 2 * kept and float(mem["weights"][0]) / GiB > 10
        return
    assert float(mem["logits"][0]) == pytest.approx(2 * kept)
    assert float(mem["weights"][0]) / GiB < 3 and float(mem["grads"][0]) / GiB < 6  # shards, not the stage whole
    assert float(mem["total_last"][0]) > kept * 2 and float(mem["pool_free_last"][0]) == 0.0
