"""hfpeak56: the HF table's head and loss beside the last layer's rebuild by the one rule (``loss_beside_rebuild``).

The HF-code plans that are not walked (pp > 1, activation offload; a frozen base too, which kept the sum until
hfblk57: tests/test_hfblk57.py) read the HF table
(activations_hf ``hf_activations``): until hfpeak56 the last rank held the head's saves and the loss's transients
(``outside`` + ``logits_transient``) AND one block's rebuild (``recompute``), their sum. PyTorch's backward frees the
loss's and the head's buffers before the gradient reaches the last checkpointed block, whose rebuild starts there
(torch/csrc/autograd/engine.cpp ``call_function``; measured on CPU in tests/test_losspeak38.py: the sum 22-87 % over
the peak, the max within 1 %). So the table path now takes max(head, rebuild + what the head still holds): the
labels, the gradient handed to the residual stream, the logits where the loop holds them (``hf_head_held``) -- the
rule the other stacks' ``loss_logits`` and the walked HF step already follow."""
from __future__ import annotations

import pytest

import planner.model.activations_hf as AH
from planner.model import memory as M
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from test_hfwalk44 import _row


def _job(seq=8192):
    """Llama-3-8B under the HF Trainer, bf16, the eager loss (no Liger)."""
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": seq, "global_batch": 64, "tokens": 1e10, "precision": "bf16",
        "framework": {"name": "hf-trainer"}}})


def _report(job, monkeypatch, **row):
    """(the last rank's logits term, the stack): ``transformer_activations``' own ``last_logits`` (the report's
    ``logits`` is the peak rank's, rank 0's where that one peaks)."""
    st = from_training(job.training, model=job.model)
    kw = dict(tp=1, pp=2, dp=4, cp=1, zero=1, mb=1, rc=2)
    kw.update(row)
    got = []
    real = M.transformer_activations
    monkeypatch.setattr(M, "transformer_activations", lambda *a, **k: got.append(real(*a, **k)) or got[-1])
    M.memory_per_gpu(job.model, job.training, _row(1, **kw), stack=st)
    return float(got[-1].last_logits[0]), st


def _table(job, st, rc):
    m, t = job.model, M.held_training(job.model, job.training, st)
    hf = M._hf_code(job.model, job.training, st)
    from planner.model.memory_activations import _hf_activation_arrays
    return _hf_activation_arrays(m, t, _row(1, tp=1, pp=2, dp=4, cp=1, zero=1, mb=1, rc=rc), t.seq_len, hf, st)


def test_head_held_is_the_labels_and_the_streams_gradient():
    """What the head still holds at the last block's rebuild: int64 shifted labels (tok + 1) and the gradient the head
    hands the residual stream (bf16 here), plus the logits where the loop keeps them; BERT's labels are the input's."""
    m = _job().model
    tok = 8192
    assert AH.hf_head_held(m, "llama", 8192, 1, "bf16", 0.0) == 8 * (tok + 1) + 2 * m.hidden * tok
    assert AH.hf_head_held(m, "bert", 8192, 1, "bf16", 5.0) == 2 * m.hidden * tok + 5.0
    r = AH.hf_activations(m, 8192, 1, "bf16", "sdpa", True, "llama", output_held=True)
    assert r.head_held == AH.hf_head_held(m, "llama", 8192, 1, "bf16", 2.0 * 8192 * m.vocab)


def test_checkpointed_pp_rank_takes_the_larger_not_the_sum(monkeypatch):
    """pp 2, full recompute: the last rank's logits term is what the head and loss exceed one block's rebuild by (it
    was their whole figure, the sum); its activations drop by the rebuild's overlap with them."""
    job = _job()
    rep, st = _report(job, monkeypatch)
    _, rws, head, held = (float(x[0]) for x in _table(job, st, 2))
    assert 0.0 < rws < head  # Llama-3-8B at 8k: the loss (12 B a logit) outweighs one block's rebuild
    assert rep == pytest.approx(head - rws, rel=1e-9)  # old: head
    assert rep < head - 0.9 * rws
    assert held < head - rws


def test_rebuild_the_larger_leaves_the_held_tensors_alone(monkeypatch):
    """Where the rebuild outweighs the head (a 4,096-word vocabulary: the loss's 12 B a logit under one block's
    saves), the term is what the head still holds at the rebuild, not the head's figure on top of it."""
    job = load_job_dict({"model": {"preset": "llama3-8b", "vocab": 4096}, "training": {
        "seq_len": 2048, "global_batch": 64, "tokens": 1e10, "precision": "bf16", "framework": {"name": "hf-trainer"}}})
    rep, st = _report(job, monkeypatch)
    _, rws, head, held = (float(x[0]) for x in _table(job, st, 2))
    assert head < rws + held
    assert rep == pytest.approx(held, rel=1e-9)


def test_without_recompute_nothing_is_rebuilt(monkeypatch):
    """rc 0: no block is rebuilt, the term stays the head's whole figure (unchanged)."""
    job = _job()
    rep, st = _report(job, monkeypatch, rc=0)
    _, rws, head, _ = (float(x[0]) for x in _table(job, st, 0))
    assert rws == 0.0
    assert rep == pytest.approx(head, rel=1e-9)
