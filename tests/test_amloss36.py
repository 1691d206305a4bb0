"""NeMo AutoModel's loss as it ships (``Stack.loss`` "masked_ce", ``Stack.ce_fp32_upcast``): components/loss/masked_ce.py
``MaskedCrossEntropy`` upcasts the whole logits to fp32 by default (``fp32_upcast=True``) and its benchmark configs turn
that off (``loss_fn.fp32_upcast: false``): cross-entropy on the 16-bit logits the model returns, which the loop keeps
alive through ``backward`` (recipes/llm/train_ft.py ``_forward_backward_step``). What each holds at its peak is
measured here on a real torch run of the same calls (CPU allocations, calibration.loop.cpu_alloc_peak)."""
import sys

import pandas as pd
import pytest

from planner.errors import InputError
from planner.model.activations import LOSS_TRANSIENT_BYTES
from planner.model.memory import FRAGMENTATION, memory_per_gpu
from planner.model.stacks import STACKS, holds, resolve
from planner.spec import TrainingSpec

from conftest import ROOT
from test_left19 import _job, _spec_flags
from test_memory_validation import _logits_case, _peak_bytes
from test_step_time import LLAMA, cands

sys.path.insert(0, str(ROOT / "benchmarks"))
AM = "nemo-automodel"


@pytest.mark.parametrize("upcast", [True, False])
def test_the_loss_peaks_match_the_table(upcast):
    """``MaskedCrossEntropy.forward`` without a mask or ``chunk_size``: ``logits.view(-1, V)``, ``.float()`` where
    ``fp32_upcast``, ``F.cross_entropy(..., reduction="sum")``; the loop holds the model's 16-bit logits (``out``)
    until ``backward`` returns. The measured peak per logit is the table's transient plus the saved 4 bytes of
    ``logits_bytes``: 14 with the upcast, 8 without (the old entry's generic cast_ce priced 10 for both)."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    n, v, x, w, labels = _logits_case(torch)

    def step():
        logits = x @ w.t()  # the model output the loop keeps (``out.logits``)
        flat = logits.view(-1, logits.size(-1))
        loss = F.cross_entropy(flat.float() if upcast else flat, labels, reduction="sum")
        loss.backward()

    key = "masked_ce" if upcast else "masked_ce_16bit"
    one = LOSS_TRANSIENT_BYTES[key][0](2)
    assert _peak_bytes(step) / (n * v) == pytest.approx(one + 4, rel=0.02)


def test_the_stack_prices_its_loss_and_only_automodel_has_the_switch():
    assert STACKS[AM].loss == "masked_ce" and STACKS[AM].ce_fp32_upcast is True
    assert STACKS[AM].loss_code == "masked_ce"
    assert resolve(AM, ce_fp32_upcast=False).loss_code == "masked_ce_16bit"
    for other in ("megatron-core", "torchtitan", "hf-trainer"):
        assert not holds(STACKS[other], "ce_fp32_upcast")
        with pytest.raises(InputError, match="ce_fp32_upcast"):
            resolve(other, ce_fp32_upcast=False)


def test_the_16bit_loss_holds_two_bytes_a_logit_less():
    """Llama-3-8B, 8 x 8192 tokens: the logits term falls by 2 bytes per logit (10 -> 8) with the upcast off and
    rises by 4 (10 -> 14) against the generic cast_ce with it on; the total by the same and the allocator's
    fragmentation allowance on it (memory.FRAGMENTATION); nothing else moves."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    mem = {f: memory_per_gpu(LLAMA, t, c, stack=resolve(AM, ce_fp32_upcast=f)) for f in (True, False)}
    logits = 8192 * LLAMA.vocab
    assert float(mem[True]["logits"][0]) - float(mem[False]["logits"][0]) == pytest.approx(6 * logits, rel=1e-6)
    grown = 6 * logits * (1 + FRAGMENTATION)
    assert float(mem[True]["total"][0]) - float(mem[False]["total"][0]) == pytest.approx(grown, rel=1e-6)
    assert float(mem[True]["activations"][0]) == float(mem[False]["activations"][0])


def test_the_launch_writes_the_upcast_as_priced():
    def val(f, k):
        return f[f.index(k) + 1]

    on = _spec_flags(_job({"framework": {"name": AM}}, {"tp": 1, "pp": 1, "zero": 3}))
    off = _spec_flags(_job({"framework": {"name": AM, "ce_fp32_upcast": False}}, {"tp": 1, "pp": 1, "zero": 3}))
    assert (val(on, "--loss_fn.fp32_upcast"), val(off, "--loss_fn.fp32_upcast")) == ("True", "False")


def test_the_automodel_rows_run_their_configs_loss(catalog):
    """Every linked benchmark config sets ``fp32_upcast: false``; the Llama 3 70B row (its config not linked; AutoModel's
    70B benchmark config names ``MaskedCrossEntropy`` with no argument) keeps the default."""
    import validate

    d = pd.read_csv(validate.AUTOMODEL_CSV).query("scored")
    for r in d.itertuples():
        case = validate.pr2_case(catalog, r)
        fw = validate.row_stack(case.stack, case.options)
        assert fw.loss_code == ("masked_ce" if "llama" in r.id else "masked_ce_16bit"), r.id
