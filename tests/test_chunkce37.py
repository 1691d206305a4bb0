"""NeMo AutoModel's other loss classes (``Stack.loss_fn``) and ``MaskedCrossEntropy`` under TP, as they run:
components/loss/masked_ce.py ``_ChunkedMaskedCESum`` (``chunk_size``), te_parallel_ce.py ``TEParallelCrossEntropy``
(TE's Triton kernel, in place), linear_ce.py ``FusedLinearCrossEntropy`` (Cut Cross-Entropy: no logits), and the
whole-logits gather (``logits.full_tensor()``) of the optimized TP plans' vocabulary-sharded head output. Each is
re-implemented here with the same torch calls (the Triton kernels as row- / vocabulary-block loops with the same
in-place writes and the same saved tensors) and measured on CPU: the allocator's running peak
(calibration.loop.cpu_alloc_peak), what autograd saves (``saved_tensors_hooks``) and the bytes each op moves
(a TorchDispatchMode)."""
import pytest

from planner.errors import InputError
from planner.model.activations import (CHUNK_CE_BYTES, LINEAR_CE_TOKEN_BYTES, LOSS_GATHERED_BYTES, LOSS_TRANSIENT_BYTES,
                                       loss_transient_bytes)
from planner.model.memory import memory_per_gpu
from planner.model.stack_rules import rules_for, rules_runtime
from planner.model.stacks import STACKS, holds, resolve
from planner.model.step_time import step_time
from planner.model.layer_ops import AUTOMODEL_CE_BYTES, CHUNKED_CE_OPS_PER_CHUNK
from planner.spec import TrainingSpec

from test_left19 import _job, _spec_flags
from test_memory_validation import _logits_case, _peak_bytes
from test_step_time import LLAMA, cands, hw_for
from te_cross_entropy_cpu import te_cross_entropy

AM = "nemo-automodel"


def _entry(code, tp_gt_1=False, act=2.0):
    b = LOSS_TRANSIENT_BYTES[code][1 if tp_gt_1 else 0]
    return b(act) if callable(b) else b


def _chunked_fn(torch):
    """masked_ce.py ``_ChunkedMaskedCESum`` (``inplace_grad`` False, the default), with ``torch.logsumexp`` spelled as
    ATen composes it (ReduceOps.cpp ``logsumexp_out_impl``: amax, subtract, exp, sum, log, add back), so that the op
    counter sees the passes the GPU runs."""

    class ChunkedSum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, labels, ignore_index, chunk_size):
            valid = labels != ignore_index
            safe = torch.where(valid, labels, torch.zeros_like(labels))
            total = torch.zeros((), dtype=torch.float32)
            for s in range(0, logits.shape[0], chunk_size):
                e = min(s + chunk_size, logits.shape[0])
                chunk = logits[s:e].float()
                m = torch.amax(chunk, dim=-1, keepdim=True)
                lse = torch.sum(torch.exp(chunk - m), dim=-1).log() + m.squeeze(-1)
                picked = chunk.gather(1, safe[s:e].unsqueeze(1)).squeeze(1)
                total = total + ((lse - picked) * valid[s:e]).sum()
            ctx.save_for_backward(logits, safe, valid)
            ctx.chunk_size = chunk_size
            return total

        @staticmethod
        def backward(ctx, grad_out):
            logits, safe, valid = ctx.saved_tensors
            cs = ctx.chunk_size
            grad = torch.empty_like(logits)
            for s in range(0, logits.shape[0], cs):
                e = min(s + cs, logits.shape[0])
                chunk = logits[s:e].float()
                g = torch.softmax(chunk, dim=-1)
                g.scatter_add_(1, safe[s:e].unsqueeze(1), torch.full((e - s, 1), -1.0, dtype=torch.float32))
                g = g * (valid[s:e].unsqueeze(1) * grad_out)
                grad[s:e] = g.to(grad.dtype)
            return grad, None, None, None

    return ChunkedSum


@pytest.mark.parametrize("chunk", [64, 128])
def test_the_chunked_loss_peaks_match_the_table(chunk):
    """``MaskedCrossEntropy(chunk_size=n)``: the loop holds the 16-bit logits, the function saves them and its backward
    allocates their whole 16-bit gradient: 2 * act per logit (the table's entry + the saved 4 of logits_bytes; the
    whole-tensor path holds 14), plus one chunk's fp32 copy, softmax and product (CHUNK_CE_BYTES per chunk logit)."""
    torch = pytest.importorskip("torch")
    fn = _chunked_fn(torch)
    n, v, x, w, labels = _logits_case(torch)

    def step():
        logits = x @ w.t()
        loss = fn.apply(logits.view(-1, v), labels, -100, chunk)
        (loss / n).backward()

    want = n * v * (_entry("masked_ce_chunked") + 4) + chunk * v * CHUNK_CE_BYTES
    assert _entry("masked_ce_chunked") + 4 == 4.0
    assert _peak_bytes(step) == pytest.approx(want, rel=0.03)


def _counted(torch, fn_apply, n, v):
    """Bytes per logit each pass moves and its ops (non-view), over tensors with a vocabulary-wide last dim."""
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    views = {aten.view.default, aten._unsafe_view.default, aten.detach.default, aten.alias.default,
             aten.unsqueeze.default, aten.slice.Tensor, aten.squeeze.dim, aten.t.default, aten.expand.default}
    free = {aten.empty_like.default, aten.zeros.default, aten.zeros_like.default, aten.ones_like.default,
            aten.full.default}  # allocations: no traffic (one op each, counted as launched)
    per_token = {aten.gather.default, aten.scatter_add_.default}  # one logit a token (as cross_entropy_bytes)
    rec = {"fwd": [0.0, 0], "bwd": [0.0, 0]}
    phase = ["fwd"]

    def wide(t):
        return isinstance(t, torch.Tensor) and t.dim() == 2 and t.shape[-1] == v

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func in views:
                return out
            rec[phase[0]][1] += 1
            if func in free or func in per_token:
                return out
            b = sum(a.numel() * a.element_size() for a in args[1:] if wide(a))  # reads past the first argument
            if func is aten.copy_.default:  # dst written, src read
                b += args[0].numel() * args[0].element_size()
            else:
                b += args[0].numel() * args[0].element_size() if wide(args[0]) else 0
                b += out.numel() * out.element_size() if wide(out) else 0
            rec[phase[0]][0] += b
            return out

    logits = torch.randn(n, v, dtype=torch.bfloat16, requires_grad=True)
    labels = torch.randint(0, v, (n,))
    with Ops():
        loss = fn_apply(logits, labels)
        phase[0] = "bwd"
        (loss / n).backward()
    return {k: (b / (n * v), ops) for k, (b, ops) in rec.items()}


def test_the_chunked_loss_moves_the_bytes_and_launches_the_ops_priced():
    """layer_ops AUTOMODEL_CE_BYTES "masked_ce_chunked" and CHUNKED_CE_OPS_PER_CHUNK against the op-by-op count of the
    chunk loop: forward act + 28 bytes per logit, backward 4 act + 24 (the generic fused form prices 7 and 7)."""
    torch = pytest.importorskip("torch")
    fn = _chunked_fn(torch)
    n, v, cs = 64, 256, 16
    got = _counted(torch, lambda lg, lb: fn.apply(lg, lb, -100, cs), n, v)
    f, b = AUTOMODEL_CE_BYTES["masked_ce_chunked"]
    assert (got["fwd"][0], got["bwd"][0]) == (f(2.0), b(2.0)) == (30.0, 32.0)
    # the ops per chunk as priced: the count's growth from 2 to 4 chunks (the rest runs once per call: the masks, the
    # running total, the gradient buffer, the loss scale)
    half = _counted(torch, lambda lg, lb: fn.apply(lg, lb, -100, 2 * cs), n, v)
    assert tuple((got[p][1] - half[p][1]) / 2 for p in ("fwd", "bwd")) == CHUNKED_CE_OPS_PER_CHUNK


def test_te_parallel_ce_holds_only_the_logits():
    """TE's kernel as te_cross_entropy.py runs it, row by row: the online-softmax pass (max, sum), then the gradient
    written over the logits in place, the per-token fp32 ``loss_1d`` and ``m_d_X_y``; the backward scales in place
    and returns the logits' storage as their gradient. Peak per logit: the held 16-bit logits, act (2), against 14
    for the default whole-tensor loss."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)
    TECrossEntropy = te_cross_entropy(torch, n)  # a block of rows at a time, as the kernel's Triton programs

    # the logits as the loss gets them (the head's own backward, after the loss's, is the GEMM's and left out), made
    # before the measured window: a CPU bf16 matmul may hold a workspace beside its output (+0.25 B a logit on an
    # AVX-512 Xeon without native bf16; test_tece37 says the same), the matmul's, not the loss's
    logits = (x @ w.t()).detach().requires_grad_()

    def step():
        (TECrossEntropy.apply(logits, labels).sum() / n).backward()

    assert _entry("te_parallel_ce") + 4 == _entry("te_parallel_ce", tp_gt_1=True) + 4 == 2.0
    assert _peak_bytes(step) / (n * v) + 2 == pytest.approx(2.0, abs=0.15)  # + the logits already held


def test_linear_ce_saves_no_logit_and_accumulates_the_input_gradient_in_fp32():
    """Cut Cross-Entropy as cce.py runs it: the forward's log-sum-exp over vocabulary blocks of the head GEMM (the
    logits never whole), ``save_for_backward(e, c, bias, lse, ...)``; the backward recomputes each block, takes
    softmax - onehot and accumulates ``de`` in fp32 (``accum_e_fp32``, as linear_ce.py asks) and ``dc`` in the
    weight's dtype, then casts ``de`` back. Nothing per logit is saved or held: the peak is the fp32 accumulator and
    the gradients, not a multiple of the logits."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)
    h, vb = x.shape[1], 256

    class CCE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, e, c, targets):
            lse = torch.full((n,), float("-inf"))
            for s in range(0, v, vb):
                lse = torch.logaddexp(lse, torch.logsumexp((e @ c[s:s + vb].t()).float(), -1))
            neg = -(e.float() * c[targets].float()).sum(-1)
            ctx.save_for_backward(e, c, lse, targets)
            return (neg + lse).sum()

        @staticmethod
        def backward(ctx, go):
            e, c, lse, targets = ctx.saved_tensors
            de = torch.zeros_like(e, dtype=torch.float32)
            dc = torch.zeros_like(c)
            for s in range(0, v, vb):
                p = torch.exp((e @ c[s:s + vb].t()).float() - lse[:, None])
                hit = (targets >= s) & (targets < s + vb)
                p[hit, targets[hit] - s] -= 1.0
                p = (p * go).to(e.dtype)
                de += (p @ c[s:s + vb]).float()
                dc[s:s + vb] = p.t() @ e
            return de.to(e.dtype), dc, None

    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        loss = CCE.apply(x, w, labels)
    assert max(saved) < n * v / 4  # e, c, lse: no logit-sized tensor

    def step():
        (CCE.apply(x, w, labels) / n).backward()

    peak = _peak_bytes(step)
    assert _entry("linear_ce") + 4 == 0.0
    assert peak >= n * h * LINEAR_CE_TOKEN_BYTES
    assert peak / (n * v) < 1.0  # the whole-tensor upcast loss holds 14 a logit here
    del loss


@pytest.mark.parametrize("code, upcast", [("masked_ce", True), ("masked_ce_16bit", False)])
def test_masked_ce_under_tp_runs_on_the_whole_gathered_logits(code, upcast):
    """``MaskedCrossEntropy.forward`` on the vocabulary-sharded DTensor the optimized TP plans return: ``.float()``
    (fp32 shard) where upcast, ``full_tensor()`` (the all-gather: emulated by concatenating the other ranks' shards,
    which arrive without autograd history), ``F.cross_entropy`` on the whole; the loop holds its 16-bit shard. Peak
    per logit of the whole vocabulary at TP 2: the shard's act / 2 + 12 (upcast: the fp32 log-softmax, NLL gradient
    and log-softmax gradient of every logit) or + 3 act (16-bit) -- the table's per-shard entry and the saved 4 per
    shard logit, plus LOSS_GATHERED_BYTES. Priced per shard before (act + 12 per shard logit: 7 per whole logit)."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    n, v, x, w, labels = _logits_case(torch)
    tp = 2
    g = torch.Generator().manual_seed(1)
    ws = w[: v // tp]  # this rank's vocabulary shard of the head

    def step():
        shard = x @ ws.t()  # the model output the loop keeps (``out.logits``, the local shard)
        local = shard.float() if upcast else shard
        others = torch.randn(n, v - v // tp, generator=g, dtype=local.dtype)
        whole = torch.cat([local, others], dim=-1)  # logits.full_tensor()
        del local, others
        loss = F.cross_entropy(whole, labels, reduction="sum")
        del whole  # MaskedCrossEntropy.forward returns: its local ``logits`` dies
        (loss / n).backward()

    per_whole = (4 + _entry(code, tp_gt_1=True)) / tp + LOSS_GATHERED_BYTES[code](2.0)
    assert per_whole == (13.0 if upcast else 7.0)
    assert _peak_bytes(step) / (n * v) == pytest.approx(per_whole, rel=0.04)


def test_the_logits_term_per_loss_fn_and_the_tp_gather():
    """Llama-3-8B, 8 x 8192 tokens, FSDP 8, full recompute, per GPU: the logits term falls from 14 bytes a logit (the
    default) to 4 + a 1,024-row chunk (masked_ce_chunked), 2 (te_parallel_ce) and 0 + 4H + 4 a token (linear_ce);
    under TP 2 the default holds the gathered whole (act / 2 + 12 a logit, was act + 12 a shard logit)."""
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    mem = {k: float(memory_per_gpu(LLAMA, t, c, stack=resolve(AM, **o))["logits"][0])
           for k, o in {"masked_ce": {}, "chunked": dict(loss_fn="masked_ce_chunked", ce_chunk_size=1024),
                        "te": dict(loss_fn="te_parallel_ce"), "linear": dict(loss_fn="linear_ce")}.items()}
    logits, V, H = 8192 * LLAMA.vocab, LLAMA.vocab, LLAMA.hidden
    assert mem["masked_ce"] - mem["chunked"] == pytest.approx(10 * logits - 1024 * V * CHUNK_CE_BYTES, rel=1e-9)
    assert mem["masked_ce"] - mem["te"] == pytest.approx(12 * logits, rel=1e-9)
    assert mem["te"] - mem["linear"] == pytest.approx(2 * logits - 8192 * (H * LINEAR_CE_TOKEN_BYTES + 4), rel=1e-9)
    tok = 8192.0
    two = loss_transient_bytes(LLAMA, 8192, 1, tp=2, loss="masked_ce")
    assert float(two) == pytest.approx(tok * V / 2 * (2 - 4) + tok * V * 12, rel=1e-12)
    # te_parallel_ce keeps the shard under TP (to_local; its kernel all-gathers 3 numbers a token)
    assert float(loss_transient_bytes(LLAMA, 8192, 1, tp=2, loss="te_parallel_ce")) == pytest.approx(tok * V / 2 * -2)


def test_the_time_of_each_loss(catalog):
    """linear_ce re-runs the head GEMM in its backward and moves no logit through HBM; te_parallel_ce moves 3 + 2
    act a logit, fewer than the generic 14 in all; the chunk loop moves 5 act + 52 and launches 20 ops a chunk."""
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    hw = hw_for(catalog, "H100-SXM-80GB")
    r = {k: step_time(LLAMA, t, c, hw, framework=resolve(AM, **o)) for k, o in
         {"masked_ce": {}, "te": dict(loss_fn="te_parallel_ce"), "linear": dict(loss_fn="linear_ce"),
          "chunked": dict(loss_fn="masked_ce_chunked", ce_chunk_size=1024),
          "chunked_small": dict(loss_fn="masked_ce_chunked", ce_chunk_size=64)}.items()}
    step = {k: float(v["step_time_s"][0]) for k, v in r.items()}
    assert step["te"] < step["masked_ce"] < step["linear"]
    # more chunks, more launches (hidden behind the GPU's work here: the host dispatch overlaps it)
    assert step["masked_ce"] < step["chunked"] <= step["chunked_small"]
    assert float(r["linear"]["t_fwd_mb"][0]) < float(r["masked_ce"]["t_fwd_mb"][0])
    assert float(r["linear"]["t_bwd_mb"][0]) > float(r["masked_ce"]["t_bwd_mb"][0])


def test_the_option_its_refusals_and_the_stack_line():
    assert STACKS[AM].loss_fn == "masked_ce" and STACKS[AM].loss_code == "masked_ce"
    assert resolve(AM, loss_fn="masked_ce_chunked", ce_chunk_size=512).loss_code == "masked_ce_chunked"
    assert resolve(AM, loss_fn="linear_ce").loss_code == "linear_ce"
    assert resolve(AM, loss_fn="te_parallel_ce").loss_code == "te_parallel_ce"
    line = resolve(AM, loss_fn="masked_ce_chunked", ce_chunk_size=512).describe()
    assert "loss_fn=masked_ce_chunked (chunk_size 512)" in line and "ce_fp32_upcast=on" in line
    assert "ce_fp32_upcast" not in resolve(AM, loss_fn="linear_ce").describe()
    for opts, field in ((dict(loss_fn="masked_ce_chunked"), "ce_chunk_size"), (dict(ce_chunk_size=8), "ce_chunk_size"),
                        (dict(loss_fn="masked_ce_chunked", ce_chunk_size=8, ce_fp32_upcast=False), "ce_fp32_upcast"),
                        (dict(loss_fn="linear_ce", ce_fp32_upcast=True), "ce_fp32_upcast"),
                        (dict(loss_fn="cut_ce"), "loss_fn")):
        with pytest.raises(InputError, match=field):
            resolve(AM, **opts)
    for other in ("megatron-core", "torchtitan", "hf-trainer"):
        assert not holds(STACKS[other], "loss_fn")
        with pytest.raises(InputError, match="loss_fn"):
            resolve(other, loss_fn="linear_ce")


def test_linear_ce_with_tp_is_refused_as_automodel_refuses_it():
    st = resolve(AM, loss_fn="linear_ce")
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    rule = next(r for r in rules_for(rules_runtime(st), st, LLAMA, t) if r.name == "automodel-linear-ce-tp")
    assert rule.refused(cands(tp=2, pp=1, dp=4, zero=3, nodes=1), LLAMA, t, st).all()
    assert not rule.refused(cands(tp=1, pp=1, dp=8, zero=3, nodes=1), LLAMA, t, st).any()
    assert not any(r.name == "automodel-linear-ce-tp" for r in rules_for(rules_runtime(st), resolve(AM), LLAMA, t))


def test_the_launch_names_the_loss_priced():
    def flags(fw):
        f = _spec_flags(_job({"framework": {"name": AM, **fw}}, {"tp": 1, "pp": 1, "zero": 3}))
        return {k: f[i + 1] for i, k in enumerate(f) if k.startswith("--loss_fn") or k.startswith("--model.output")}

    assert flags({}) == {"--loss_fn.fp32_upcast": "True"}
    assert flags({"loss_fn": "masked_ce_chunked", "ce_chunk_size": 2048}) == {
        "--loss_fn._target_": "nemo_automodel.components.loss.masked_ce.MaskedCrossEntropy",
        "--loss_fn.fp32_upcast": "True", "--loss_fn.chunk_size": "2048"}
    assert flags({"loss_fn": "linear_ce"}) == {
        "--loss_fn._target_": "nemo_automodel.components.loss.linear_ce.FusedLinearCrossEntropy",
        "--model.output_hidden_states": "True"}
    assert flags({"loss_fn": "te_parallel_ce"}) == {
        "--loss_fn._target_": "nemo_automodel.components.loss.te_parallel_ce.TEParallelCrossEntropy"}


def test_the_tp_gather_is_timed(catalog):
    """Under TP 2 the default loss waits on ``full_tensor()``'s all-gather of the fp32 logits (the upcast precedes it)
    and passes over the whole vocabulary; TE's loss stays on its shard. The forward difference is the two loss passes'
    memory time plus that all-gather, exactly."""
    from planner.model.comm import collective_time

    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    c = cands(tp=2, pp=1, dp=4, zero=3, nodes=1)
    hw = hw_for(catalog, "H100-SXM-80GB")
    r = {k: step_time(LLAMA, t, c, hw, framework=resolve(AM, **o)) for k, o in
         {"masked_ce": {}, "te": dict(loss_fn="te_parallel_ce")}.items()}
    T, V = 8192.0, LLAMA.vocab
    mem = hw.eff.memory_time(T * V * 7.0, hw.gpu.hbm_bw) - hw.eff.memory_time(T * V / 2 * 6.0, hw.gpu.hbm_bw)
    ag = collective_time("all_gather", T * V * 4.0, 2, 1, float(hw.gpus_per_node), hw.intra_bw_eff,
                         hw.inter_bw_per_gpu, hw.eff.intra_alpha_s, hw.eff.inter_alpha_s)
    assert float(ag) > 0
    d = float(r["masked_ce"]["t_fwd_mb"][0]) - float(r["te"]["t_fwd_mb"][0])
    assert d == pytest.approx(float(mem + ag), rel=1e-6)
