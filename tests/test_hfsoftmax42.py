"""transformers' eager softmax per model family (hfsoftmax42, 2026-12-05): one table, activations_hf.HF_EAGER_SOFTMAX,
read by the HF-code stacks' memory (what the softmax keeps: fp32 output or the scores' dtype, Gemma 2's tanh) and
their step time under ``attn_implementation="eager"`` (the bytes and kernels a score beyond a fused 16-bit softmax).
Until hfsoftmax42 the HF-code stacks' eager attention was priced as the fused default (8 / 14 B a score).

The truth is a CPU replica of each family's ops between the two GEMMs, counted with a TorchDispatchMode by the
score-sized tensors each op reads or writes (as tests/test_softmax43.py and tests/test_small32b.py count): in a 16-bit
model, and under autocast over fp32 weights, where RoPE's fp32 tables leave q and k fp32 (llama, Gemma 2) and the 4-D
mask is fp32. CUDA autocast puts ``softmax`` on its fp32 list (CPU autocast does not): BERT's replica writes that cast
out. No attention dropout (the job's ``dropout`` adds its bytes on every stack alike).
"""
from __future__ import annotations

import pytest

from planner.model import activations_hf as A
from planner.model import stacks

B, H, S, D = 2, 4, 64, 16
SCORES = B * H * S * S


def _llama(torch, softcap=None):
    """models/llama/modeling_llama.py ``eager_attention_forward`` (Gemma 2's with ``softcap``)."""
    def run(q, k, v, mask):
        w = torch.matmul(q, k.transpose(2, 3)) * D ** -0.5
        if softcap is not None:
            w = torch.tanh(w / softcap) * softcap
        w = w + mask
        w = torch.nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        return torch.matmul(torch.nn.functional.dropout(w, p=0.0, training=True), v)
    return run


def _gpt2(torch):
    """models/gpt2/modeling_gpt2.py ``GPT2Attention._attn``: the scale as a 0-d tensor in the scores' dtype, the causal
    mask, ``softmax`` in the scores' dtype, ``.type(value.dtype)``."""
    def run(q, k, v, mask):
        w = torch.matmul(q, k.transpose(-1, -2))
        w = w / torch.full([], D ** 0.5, dtype=w.dtype)
        w = torch.nn.functional.softmax(w + mask, dim=-1).type(v.dtype)
        return torch.matmul(w, v)
    return run


def _bert(torch):
    """models/bert/modeling_bert.py ``BertSelfAttention``: ``/ sqrt(head_size)``, no mask without padding, a softmax
    without a dtype -- which CUDA autocast runs in fp32 (written out here: CPU autocast leaves it 16-bit)."""
    def run(q, k, v, mask):
        w = torch.matmul(q, k.transpose(-1, -2)) / D ** 0.5
        if torch.is_autocast_enabled("cpu"):
            w = w.float()
        return torch.matmul(torch.nn.functional.softmax(w, dim=-1), v)
    return run


#: family -> (replica, whether autocast leaves q and k fp32: RoPE's fp32 cos / sin)
REPLICAS = {"llama": (_llama, True), "gemma2": (lambda t: _llama(t, softcap=50.0), True),
            "gpt2": (_gpt2, False), "bert": (_bert, False)}


def _moved(family, autocast):
    """(forward bytes, backward bytes, forward kernels, backward kernels) a score, the ops between the GEMMs."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    aten = torch.ops.aten
    skip = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default, aten.detach.default,
            aten.alias.default, aten._unsafe_view.default, aten.slice.Tensor, aten.transpose.int, aten.t.default,
            aten.permute.default, aten.bmm.default, aten.mm.default}
    n, phase = {"fwd": [0, 0], "bwd": [0, 0]}, [None]

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if phase[0] and func not in skip:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                b = sum(x.numel() * x.element_size() for x in ts if x.numel() == SCORES)
                n[phase[0]][0] += b
                n[phase[0]][1] += b > 0
            return out
    make, qk32 = REPLICAS[family]
    torch.manual_seed(0)
    qk_dt = torch.float32 if (autocast and qk32) else torch.bfloat16
    q, k = (torch.randn(B, H, S, D, dtype=qk_dt, requires_grad=True) for _ in range(2))
    v = torch.randn(B, H, S, D, dtype=torch.bfloat16, requires_grad=True)
    mask_dt = torch.float32 if autocast else torch.bfloat16
    mask = torch.triu(torch.full((S, S), float("-inf"), dtype=mask_dt), 1)[None, None].expand(B, 1, S, S)
    with Ops():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            phase[0] = "fwd"
            out = make(torch)(q, k, v, mask)
            phase[0] = None
        g = torch.randn_like(out)
        phase[0] = "bwd"
        out.backward(g)
        phase[0] = None
    return n["fwd"][0] / SCORES, n["bwd"][0] / SCORES, n["fwd"][1], n["bwd"][1]


@pytest.mark.parametrize("family", sorted(REPLICAS))
@pytest.mark.parametrize("autocast", [False, True])
def test_table_is_what_each_family_moves(family, autocast):
    """HF_EAGER_SOFTMAX's extra bytes and kernels are each family's ops less the fused default's softmax (4 / 6 B, one
    kernel each way: layer_ops.SCORE_BYTES_*). llama in a 16-bit model 28 / 28 B, 5 / 4 kernels."""
    f, b, kf, kb = _moved(family, autocast)
    form = A.HF_EAGER_SOFTMAX[family]
    assert form.extra_bytes[autocast] == (f - 4, b - 6)
    assert form.extra_ops[autocast] == (kf - 1, kb - 1)


def test_rmsnorm_decoders_run_llamas_softmax():
    """Families without an entry (mistral, qwen2, qwen3, mixtral, DeepSeek, OLMo 2, Phi-3, Gemma 3) run llama's
    ``eager_attention_forward``; gpt-oss and Llama 4 keep the softmax in the scores' dtype, unpriced here (gpt-oss:
    layer_ops.hf_sink_score_bytes)."""
    for fam in ("mistral", "qwen2", "qwen3", "mixtral", "deepseek_v3", "olmo2", "phi3", "gemma3_text"):
        assert A.hf_eager_softmax(fam) is A.HF_EAGER_SOFTMAX["llama"]
    for fam in ("gpt_oss", "llama4_text"):
        assert not A.hf_eager_softmax(fam).fp32_saved and A.hf_eager_softmax(fam).extra_bytes is None


def _llama_model():
    from planner.spec import ModelSpec
    return ModelSpec(name="llama-tiny", family="decoder", layers=2, hidden=64, heads=4, kv_heads=4, vocab=128,
                     ffn_hidden=172, position="rope")


def test_memory_reads_the_same_table(monkeypatch):
    """The eager saves read the entry's ``fp32_saved``: llama's fp32 softmax and its bf16 cast (6 B a score in a bf16
    model); the same family read as the scores' dtype keeps the softmax alone (2 B)."""
    m = _llama_model()
    seq, batch = 64, 1
    own = A.hf_saved_bytes(m, "llama", seq, batch, "bf16", "eager")
    monkeypatch.setitem(A.HF_EAGER_SOFTMAX, "llama", A.HF_EAGER_SOFTMAX["gpt2"])
    other = A.hf_saved_bytes(m, "llama", seq, batch, "bf16", "eager")
    assert own - other == (6 - 2) * m.layers * batch * m.heads * seq * seq


def _seconds(stack, model, flash=False, precision="bf16"):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    import pandas as pd
    from planner.spec import TrainingSpec
    hw = V.hw_option(V.load_catalog(), "H100-SXM-80GB", 8, 900.0)
    tr = TrainingSpec(seq_len=2048, global_batch=8, precision=precision, flash_attention=flash, dropout=False,
                      recompute="none")
    row = pd.DataFrame([dict(tp=1, pp=1, dp=8, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0)])
    return float(V.predict_group(model, tr, row, hw, framework=stack)[0])


@pytest.mark.parametrize("name", ["hf-trainer", "deepspeed"])
def test_hf_stacks_pay_their_familys_eager_softmax(name):
    """Eager attention on the HF-code stacks costs the family's softmax over the fused default (the same stack read
    as "unread", the reading before hfsoftmax42); a fused kernel (flash) moves nothing."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    model = V.gpt_model(8, 1024, 16, 50257, 2048).model_copy(update={"name": "llama-x", "position": "rope"})
    st = stacks.resolve(name)
    unread = stacks.replace(st, explicit_softmax="unread")
    assert _seconds(st, model) > _seconds(unread, model)
    assert _seconds(st, model, flash=True) == _seconds(unread, model, flash=True)


def test_bert_dle_rows_do_not_take_the_hf_rule(monkeypatch):
    """validate's BERT (DLE) rows run DLE's own TorchScript BERT, not transformers: their stack (``dle-bert``, hf-trainer
    as DLE launches it; acc50) reads "unread", where hf-trainer's "transformers" rule would price BERT's eager softmax
    (mean signed -9.2% -> -0.7% when the rows still ran on hf-trainer)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    assert stacks.resolve("hf-trainer").explicit_softmax == "transformers"
    assert stacks.resolve(V.BERT_DLE_STACK).explicit_softmax == "unread"
    cat = V.load_catalog()
    own = V.bert_dle(cat).predicted_s.tolist()
    monkeypatch.setitem(stacks.STACKS, V.BERT_DLE_STACK,
                        stacks.replace(stacks.STACKS[V.BERT_DLE_STACK], explicit_softmax="transformers"))
    hf = V.bert_dle(cat).predicted_s.tolist()
    assert len(own) == 10 and all(h > o for h, o in zip(hf, own))
