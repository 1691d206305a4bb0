"""The logits counted once (logits40): the step time's LM head and the HF walk take their logits from
``activations.rank_logits`` (logit39 made it the owner for ``logits_bytes``, ``loss_transient_bytes`` and memory
``held_logit_bytes``), and torchtitan's compiled loss under loss parallel priced as a real compiled run holds it."""
import numpy as np
import pytest

from conftest import one_rank_group
from planner.hardware.options import option_from_instance
from planner.model import activations, activations_hf, layer_ops
from planner.model.activations import RankLogits, rank_logits
from planner.model.stacks import resolve
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS


def _tripled(real):
    def helper(*a, **kw):
        lg = real(*a, **kw)
        return RankLogits(lg.tokens * 3, lg.vocab, lg.tp)
    return helper


def test_the_head_positions_are_a_factor_of_the_count():
    """BERT's masked positions (``TrainingSpec.head_tokens_per_seq``): at most the sequence, x micro-batch / cp."""
    m = ModelSpec(**PRESETS["bert-large"])
    mb, tp, cp = np.array([1, 4, 2]), np.array([1, 2, 4]), np.array([1, 1, 2])
    lg = rank_logits(m, 128, mb, tp, cp, head_seq=20)
    np.testing.assert_array_equal(lg.tokens, 20.0 * mb / cp)
    np.testing.assert_array_equal(lg.shard, 20.0 * mb / cp * m.vocab / tp)
    np.testing.assert_array_equal(rank_logits(m, 128, mb, tp, cp, head_seq=500).tokens, 128.0 * mb / cp)
    np.testing.assert_array_equal(rank_logits(m, 128, mb, tp, cp, head_seq=None).tokens, 128.0 * mb / cp)


@pytest.mark.parametrize("preset,stack,head_seq", [("llama3-8b", None, None), ("llama3-8b", "torchtitan", None),
                                                   ("llama3-8b", "hf-trainer", None),
                                                   ("bert-large", "dle-bert", 20)])
def test_the_lm_head_takes_its_count_from_the_helper(catalog, monkeypatch, preset, stack, head_seq):
    """The head's GEMM and loss follow ``rank_logits``: with the helper's tokens tripled the head costs what it
    costs at three times the micro-batch (nothing else of the head reads the micro-batch); and the head's positions
    (BERT's masked ones) reach the helper. Until logits40 the head wrote T x V / tp itself."""
    m = ModelSpec(**PRESETS[preset])
    t = TrainingSpec(seq_len=128, global_batch=64, head_tokens_per_seq=head_seq)
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    fw = resolve(stack)
    tp, one = np.array([1, 2, 8, 8]), np.ones(4, dtype=np.int64)
    mb = np.array([1, 2, 1, 4])

    def head(micro_batch):
        c = layer_ops.layer_context(m, t, hw, fw, tp, one, one, micro_batch, tp > 1, tp, None)
        return layer_ops.lm_head(c, m, t, fw, ())

    seen = []
    real = layer_ops.rank_logits

    def spy(*a, **kw):
        seen.append(kw.get("head_seq"))
        return real(*a, **kw)

    monkeypatch.setattr(layer_ops, "rank_logits", spy)
    base = head(mb)
    assert seen == [head_seq]
    want = head(3 * mb)
    monkeypatch.setattr(layer_ops, "rank_logits", _tripled(real))
    got = head(mb)
    for g, w in ((got.fwd, want.fwd), (got.bwd, want.bwd), (got.gemm, want.gemm)):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    assert np.all(got.gemm > base.gemm)  # (the passes may be host-bound at these sizes; the GEMM is not)


@pytest.mark.parametrize("model_type,preset", [("llama", "llama3-8b"), ("gemma2", "llama3-8b"), ("gpt2", "gpt2-large"),
                                               ("bert", "bert-large")])
def test_the_hf_walk_takes_its_count_from_the_helper(monkeypatch, model_type, preset):
    """Every vocabulary-wide tensor of the HF walk (the loss's log-softmax, Gemma 2's soft-cap tanh, the logits, the
    upcast, the loss's two gradients, Liger's chunk) is the helper's count x its bytes per logit: with the helper's
    vocabulary tripled each grows by twice itself and nothing else moves (the parameters' V x h are not logits).
    Until logits40 the walk wrote tokens x V about eight times inline."""
    m = ModelSpec(**PRESETS[preset])
    seq, batch = 64, 2
    n = seq * batch * m.vocab  # logits of the micro-batch
    a = 2  # bf16 logits
    bert = model_type == "bert"
    base = activations_hf.hf_step_memory(m, model_type, seq, batch, "amp_bf16", output_held=False)
    parts = activations_hf.hf_saved_parts(m, model_type, seq, batch, "bf16")
    fused = activations_hf.fused_ce_bytes(m, model_type, seq, batch, "bf16")

    def tripled(*args, **kw):
        lg = activations.rank_logits(*args, **kw)
        return RankLogits(lg.tokens, lg.vocab * 3, lg.tp)

    monkeypatch.setattr(activations_hf, "rank_logits", tripled)
    got = activations_hf.hf_step_memory(m, model_type, seq, batch, "amp_bf16", output_held=False)
    assert got.logits - base.logits == pytest.approx(2 * a * n)
    assert got.loss_transient - base.loss_transient == pytest.approx(2 * 2 * 4 * n)  # two fp32 gradients (amp)
    assert got.vocab - base.vocab == pytest.approx(2 * base.vocab)
    assert got.saved - base.saved == pytest.approx(2 * 4 * n + (2 * a * n if model_type == "gemma2" else 0))
    got_parts = activations_hf.hf_saved_parts(m, model_type, seq, batch, "bf16")
    saved_lsm = (a if bert else 4) * n + (a * n if model_type == "gemma2" else 0)  # pure bf16: BERT's in the dtype
    assert got_parts[0] == parts[0]
    assert got_parts[1] - parts[1] == pytest.approx(2 * saved_lsm)
    if model_type not in activations_hf.LAYERNORM_FAMILIES:
        got_fused = activations_hf.fused_ce_bytes(m, model_type, seq, batch, "bf16")
        assert got_fused.eager_saved - fused.eager_saved == pytest.approx(2 * saved_lsm)
        assert got_fused.saved == fused.saved
        chunk = activations_hf.liger_chunk_tokens(m.vocab, m.hidden, seq * batch)
        assert got_fused.transient - fused.transient == pytest.approx(2 * a * chunk * m.vocab)


def test_torchtitans_compiled_loss_under_loss_parallel(tmp_path):
    """LOSS_TRANSIENT_BYTES["torch_ce_compiled"] with TP against the real thing: torchtitan's ``cross_entropy_loss``
    (components/loss.py: ``F.cross_entropy(pred.flatten(0, 1).float(), labels.flatten(0, 1), reduction="sum",
    ignore_index=-100)``) under ``torch.compile``, on the head's vocabulary-sharded DTensor inside ``loss_parallel()``
    (1-rank gloo mesh, CPU Inductor), ``del pred`` before ``backward`` as train.py does. The allocator's peak per logit
    is the table's entry + the saved 4: 10 B at bf16 (12 at fp32, measured the same way by hand: the compile takes
    ~12 s a dtype); the eager loss-parallel figure the table kept until logits40 (16 at bf16) is off by 6."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor.parallel import loss_parallel

    from test_memory_validation import _compiled_peak_bytes

    act, dtype = 2.0, "bfloat16"
    n, h, v = 256, 16, 2048
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, n, h, dtype=getattr(torch, dtype), generator=g, requires_grad=True)
    w = torch.randn(v, h, dtype=getattr(torch, dtype), generator=g, requires_grad=True)
    labels = torch.randint(0, v, (1, n), generator=g)
    loss_fn = torch.compile(lambda pred, lab: F.cross_entropy(pred.flatten(0, 1).float(), lab.flatten(0, 1),
                                                              reduction="sum", ignore_index=-100), dynamic=False)
    with one_rank_group(tmp_path):
        mesh = init_device_mesh("cpu", (1,))

        def step():
            with loss_parallel():
                pred = DTensor.from_local(x @ w.t(), mesh, [Shard(-1)])
                loss = loss_fn(pred, labels) / n
                del pred
                loss.backward()

        many = activations.LOSS_TRANSIENT_BYTES["torch_ce_compiled"][1]
        assert _compiled_peak_bytes(step, leaves=(x, w)) / (n * v) == pytest.approx(many(act) + 4, abs=0.1)
