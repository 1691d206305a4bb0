"""hftab44: the HF table path (rows not walked: a frozen base, pp > 1, activation offload) splits the head's
weight-sized bytes as the walked step does.

memory_activations ``_hf_activation_arrays`` divided the head's whole figure (``outside`` + ``logits_transient`` of
``activations_hf.hf_activations``) by cp. With Liger's fused linear cross-entropy that figure holds weight-sized
bytes: the saved head-weight gradient where the head trains, and under autocast with a frozen head (LoRA) the head
weight's 16-bit cast that autocast does not cache (``FusedCEBytes.saved_weight`` / ``transient_weight``). Context
parallelism shards the sequence, not the weights (accelerate docs/source/concept_guides/context_parallelism.md), so a
CP rank holds them whole; a TP rank holds its share of the weights (``hf_grad_share``): ``hf_rank_peak``'s one rule
(hfcp44), now at both sites."""
from __future__ import annotations

import pytest

import planner.model.activations_hf as AH
from planner.model import memory as M
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from test_hfwalk44 import _row

GPU = "H100-SXM-80GB"


def _lora_job(fused: bool = True):
    """Llama-3-8B LoRA under the HF Trainer (autocast over the fp32 model: ``base_weights: fp32``; since QA 86 a bf16
    base, the default, streams bf16 and autocast has no head weight to cast), 8,192 tokens, Liger's loss on or off."""
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 8192, "global_batch": 64, "tokens": 1e10, "precision": "bf16",
        "mode": "lora", "base_weights": "fp32", "lora": {"rank": 16, "targets": "all-linear"},
        "framework": {"name": "hf-trainer", "fused_cross_entropy": fused}}})


def _logits(job, **row) -> float:
    """The table's head figure at the row (``_hf_activation_arrays``' third array). Until hfblk57 it was the report's
    logits on these frozen-base rows; since then the report takes what it exceeds the last block's rebuild by
    (``loss_beside_rebuild``, as on the trained rows), so the head's own split is read where it is made."""
    from planner.model.memory_activations import _hf_activation_arrays

    st = from_training(job.training, model=job.model)
    kw = dict(tp=1, dp=8, cp=1, zero=0, mb=1, rc=2)
    kw.update(row)
    m, t = job.model, M.held_training(job.model, job.training, st)
    hf = M._hf_code(m, job.training, st)
    return float(_hf_activation_arrays(m, t, _row(1, **kw), t.seq_len, hf, st)[2][0])


def test_frozen_head_cast_is_in_the_table_as_weight_sized():
    """The table's head figure names its weight-sized part: a frozen head under autocast, the 16-bit cast of the
    V x h head weight (2 B each); a training head, its gradient in the parameters' dtype; the eager loss, none."""
    m = _lora_job().model
    cast = AH.fused_ce_bytes(m, "llama", 8192, 1, "amp_bf16", head_trains=False)
    assert cast.transient_weight == 2.0 * m.vocab * m.hidden and cast.saved_weight == 0.0
    r = AH.hf_activations(m, 8192, 1, "amp_bf16", "sdpa", True, "llama", fused_ce=True, head_trains=False)
    assert r.head_weight == 2.0 * m.vocab * m.hidden
    r = AH.hf_activations(m, 8192, 1, "bf16", "sdpa", True, "llama", fused_ce=True, head_trains=True)
    assert r.head_weight == 2.0 * m.vocab * m.hidden  # the bf16 head's gradient
    assert AH.hf_activations(m, 8192, 1, "amp_bf16", "sdpa", True, "llama").head_weight == 0.0


def test_cp2_lora_row_keeps_the_head_cast_whole():
    """A frozen base is not walked: its logits come from the table. At CP2 the tokens' part of the head halves and
    the head weight's cast (0.98 GiB for Llama-3-8B) stays whole; before hftab44 all of it halved (CP1 / 2). The eager loss's head,
    tokens' bytes only, still halves."""
    job = _lora_job()
    cast = 2.0 * job.model.vocab * job.model.hidden
    one, two = _logits(job, cp=1), _logits(job, cp=2)
    assert one > cast
    assert two == pytest.approx((one - cast) / 2 + cast, rel=1e-12)
    assert two > one / 2 + 0.99 * cast / 2  # the old rule: one / 2
    eager = _lora_job(fused=False)  # without Liger the table's head holds no weight-sized byte: CP2 is CP1 / 2
    assert _logits(eager, cp=2) == pytest.approx(_logits(eager, cp=1) / 2, rel=1e-12)


def test_tp2_lora_row_holds_its_share_of_the_head_cast():
    """A TP rank's head cast is the cast of its shard of the weight (``hf_grad_share``: 1 / tp under the Llama TP
    plan), as in the walked step; the tokens' part stays whole (the gathered logits). Before, the cast was whole."""
    job = _lora_job()
    cast = 2.0 * job.model.vocab * job.model.hidden
    one, tp2 = _logits(job, tp=1, dp=8), _logits(job, tp=2, dp=4)
    assert tp2 == pytest.approx(one - cast / 2, rel=1e-12)

