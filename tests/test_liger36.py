"""The loss's logits as the stacks compute them (task liger36): Liger Kernel's fused linear cross-entropy, HF Trainer's
``use_liger_kernel`` (``training.framework.fused_cross_entropy``): its chunk formula, what it saves and holds (a torch
re-implementation of its chunk loop measured on CPU: liger-kernel is not installed here), the QA 48 job it makes fit,
``recommend``'s fallback search, the stacks without it, the step time and the launch note."""
from __future__ import annotations

import json
import weakref

import pytest

from conftest import write_job

from planner.model.activations_hf import fused_ce_bytes, liger_chunk_tokens
from planner.model.layer_ops import cross_entropy_bytes

# QA 48's job: Llama-3.1-8B LoRA at 32,768 tokens on one H100 under the HF Trainer with gradient checkpointing
LORA_32K = """
model: {preset: llama3.1-8b}
training:
  mode: lora
  lora: {rank: 16, targets: all-linear}
  seq_len: SEQ
  global_batch: 8
  micro_batch: 1
  steps: 100
  precision: bf16
  recompute: full
  framework: {name: hf-trainer FUSED}
"""
ON_ONE_H100 = "cluster: {instance: lambda:gpu_1x_h100_sxm5, nodes: 1}\nparallel: {tp: 1, pp: 1, dp: 1}\n"
SEARCH_ONE_H100 = "constraints: {gpus: [H100-SXM-80GB], max_gpus: 1}\n"
GIB = 2.0 ** 30


def _llama():
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    return ModelSpec(**dict(PRESETS["llama3.1-8b"]))


#: the scenario's sequence: 40k since hfblk57 (32k until then; the eager loss's buffers priced beside the last
#: block's rebuild by the larger of the two, measured in tests/test_hfblk57.py, a frozen base's too, took the eager
#: 32k LoRA from 47.97 to 39.60 GiB of logits, 75.38 GiB in all: it fits one H100 without Liger)
SEQ = 40960


def _job(tmp_path, fused: str = "", seq: int = SEQ, where: str = ON_ONE_H100, name: str = "job.yaml"):
    text = LORA_32K.replace("SEQ", str(seq)).replace(" FUSED", f", fused_cross_entropy: {fused}" if fused else "")
    return write_job(tmp_path, text + where, name)


def test_chunk_rows_follow_liger_formula():
    """``inc_factor = cdiv(V, H)``, ``chunk_size = next_power_of_2(cdiv(BT, inc_factor))``, at most BT: the source's
    own worked example (BT = 4096 x 4, V = 32000, H = 4096 -> inc_factor 8, chunk 2048) and Llama-3 at 32k."""
    assert int(liger_chunk_tokens(32000, 4096, 4096 * 4)) == 2048
    assert int(liger_chunk_tokens(128256, 4096, 32768)) == 1024  # inc_factor 32: 32 chunks
    assert int(liger_chunk_tokens(128256, 4096, 1000)) == 32  # cdiv(1000, 32) = 32 rows
    assert int(liger_chunk_tokens(128256, 4096, 20)) == 1  # never more rows than tokens... nor fewer than one
    assert int(liger_chunk_tokens(1000, 64, 7)) == 1


class _LiveBytes:
    """Live bytes of the tensors an op creates under a TorchDispatchMode, and their peak: each output's storage counted
    once, until the last reference to it goes (weakref finalizer)."""

    def __init__(self):
        self.live = self.peak = 0
        self.seen = set()

    def mode(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        outer = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if hasattr(t, "untyped_storage"):
                        st = t.untyped_storage()
                        try:
                            key = st.data_ptr()
                        except RuntimeError:  # an output without data (a functional collective's meta result)
                            continue
                        if key in outer.seen or st.nbytes() == 0:
                            continue
                        outer.seen.add(key)
                        outer.live += st.nbytes()
                        outer.peak = max(outer.peak, outer.live)
                        weakref.finalize(t, outer._free, key, st.nbytes())
                return out

        return Mode()

    def _free(self, key, n):
        self.seen.discard(key)
        self.live -= n


def _liger_loop(x, w, y, chunk):
    """Liger's ``fused_linear_cross_entropy_forward`` (mean reduction, no bias) in torch ops: per chunk the logits
    GEMM, the cross-entropy's gradient written over the chunk's logits, the input-gradient GEMM into ``grad_input``
    and the weight gradient accumulated into ``grad_weight``. Returns (loss, grad_input, grad_weight)."""
    import torch

    BT = x.shape[0]
    grad_input = torch.zeros_like(x)
    grad_weight = torch.zeros_like(w) if w.requires_grad else None
    loss_1d = torch.zeros(BT, dtype=torch.float32)
    for start in range(0, BT, chunk):
        xc, yc = x[start:start + chunk], y[start:start + chunk]
        logits = xc @ w.t()  # chunk x V, the input dtype
        # the kernel's first pass, max and sum in registers: here row by row, one fp32 row at a time
        lse = torch.stack([torch.logsumexp(row.float(), dim=0) for row in logits])
        loss_1d[start:start + chunk] = lse - logits.gather(1, yc[:, None]).squeeze(1).float()
        # second pass: softmax - one-hot, over the logits in place (the kernel's X_ptr store)
        logits.sub_(lse[:, None].to(logits.dtype)).exp_().div_(BT)
        logits.scatter_add_(1, yc[:, None], torch.full((len(yc), 1), -1.0 / BT, dtype=logits.dtype))
        grad_input[start:start + chunk] = logits @ w
        if grad_weight is not None:
            grad_weight.addmm_(logits.t(), xc)
        del logits, lse
    return loss_1d.sum() / BT, grad_input, grad_weight


class _FusedLCE:
    """``LigerFusedLinearCrossEntropyFunction``: the gradients made in the forward and saved for the backward."""

    @staticmethod
    def apply(x, w, y, chunk):
        import torch

        class F(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, w):
                with torch.no_grad():
                    loss, gi, gw = _liger_loop(x.detach(), w.detach().requires_grad_(w.requires_grad), y, chunk)
                ctx.save_for_backward(gi, gw)
                return loss

            @staticmethod
            def backward(ctx, g):
                gi, gw = ctx.saved_tensors
                return gi * g, (gw * g if gw is not None else None)

        return F.apply(x, w)


@pytest.mark.parametrize("head_trains", [True, False])
def test_fused_ce_bytes_match_a_torch_reimplementation(head_trains):
    """On a small head (V = 2,048, H = 128, 256 tokens, bf16): what the fused loss saves (saved_tensors_hooks)
    equals ``fused_ce_bytes``'s ``saved`` (grad_input 2 x H per token + the bf16 weight gradient where the head
    trains); the peak of what its forward creates beyond that is one chunk's logits and the fp32 loss_1d
    (``transient``) within the chunk's per-row temporaries; its gradients equal the eager loss's."""
    import torch
    V, H, BT = 2048, 128, 256
    m = _llama().model_copy(update={"vocab": V, "hidden": H})
    fc = fused_ce_bytes(m, "llama", BT, 1, "bf16", head_trains)
    chunk = int(liger_chunk_tokens(V, H, BT))
    assert chunk == 16  # inc_factor 16: 16 chunks
    torch.manual_seed(0)
    x = torch.randn(BT, H, dtype=torch.bfloat16, requires_grad=True)
    w = (torch.randn(V, H, dtype=torch.bfloat16) * 0.05).requires_grad_(head_trains)
    y = torch.randint(0, V, (BT,))
    saved = []

    def pack(t):
        saved.append(t.untyped_storage().nbytes())
        return t

    live = _LiveBytes()
    live.seen.update(t.untyped_storage().data_ptr() for t in (x, w, y))  # the inputs exist before the loss
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), live.mode():
        loss = _FusedLCE.apply(x, w, y, chunk)
    assert sum(saved) == fc.saved
    # beyond the saved gradients: one chunk's logits (2 B) and the loss_1d (4 B per token), plus this loop's one fp32
    # row of the first pass (the kernel's registers), the chunk's per-row statistics and the grad_input GEMM's
    # chunk x H output
    extra = live.peak - fc.saved
    assert fc.transient <= extra <= fc.transient + 2 * 4 * V + 4 * chunk * H, (extra, fc.transient)
    loss.backward()
    # the same gradients as the eager head + F.cross_entropy on fp32 logits
    x2 = x.detach().clone().requires_grad_(True)
    w2 = w.detach().clone().requires_grad_(head_trains)
    ref = torch.nn.functional.cross_entropy((x2 @ w2.t()).float(), y)
    ref.backward()
    assert torch.allclose(loss.float(), ref, rtol=2e-2)
    assert torch.allclose(x.grad.float(), x2.grad.float(), atol=2e-3)
    if head_trains:
        assert torch.allclose(w.grad.float(), w2.grad.float(), atol=2e-3)


def test_fused_ce_bytes_against_the_eager_head_at_llama_scale():
    """Llama-3.1-8B at 32,768 tokens under HF Trainer's AMP (fp32 stream): the eager head and loss save the bf16
    head input and the fp32 log-softmax (32k x (2 x 4096 + 4 x 128,256) = 15.9 GiB); the fused one the fp32
    grad_input (0.5 GiB) and, for a frozen head, nothing else, and holds one 1,024-row chunk of bf16 logits
    (0.245 GiB) plus the frozen head's uncached bf16 cast (0.98 GiB)."""
    m = _llama()
    fc = fused_ce_bytes(m, "llama", 32768, 1, "amp_bf16", head_trains=False)
    assert fc.eager_saved == 32768 * (2 * 4096 + 4 * 128256)
    assert fc.saved == 32768 * 4 * 4096
    assert fc.transient == 2 * 1024 * 128256 + 4 * 32768 + 2 * 128256 * 4096
    full = fused_ce_bytes(m, "llama", 32768, 1, "amp_bf16", head_trains=True)
    assert full.saved - fc.saved == 4 * 128256 * 4096  # the fp32 head's weight gradient, made in the forward


def test_qa48_lora_at_32k_fits_with_the_fused_loss(cli, tmp_path):
    """QA 48: at 40k (``SEQ``) 47.14 GiB of logits and loss beyond the last block's rebuild (47.47 until lora58, whose
    rebuild holds the down adapter's scaled output gradient, made before the recompute, and a later layer's saves
    rather than the layers' mean: 0.33 GiB more at 40k; 49.50 until hfblk57b, whose
    rebuild holds the frozen block's frames at its recompute's stop, 2.03 GiB more at 40k; hfblk57; at 32k 47.97
    until then, the head priced whole beside the rebuild: 56.05 until hfloss37, which frees the logits before the
    Trainer's backward; 48.22 until QA 86, which gives a LoRA's bf16 frozen base a bf16 stream under DDP, so the final
    norm's 32k x 4,096 input is bf16, 0.25 GiB less), 90.14 GiB in all, no fit on one H100; with
    ``fused_cross_entropy: true``
    the logits term is the chunk, the head's cast and the loss's saves (< 3 GiB) and the plan fits; the step time
    moves by the loss pass only (< 1%)."""
    code, out, err = cli("estimate", _job(tmp_path), "--json")
    assert code == 0, err
    eager = json.loads(out)
    code, out, err = cli("estimate", _job(tmp_path, "true", name="fused.yaml"), "--json")
    assert code == 0, err
    fused = json.loads(out)
    assert eager["memory_per_gpu_bytes"]["logits"] / GIB == pytest.approx(47.14, abs=0.01)
    assert not eager["fits"] and fused["fits"]
    assert fused["memory_per_gpu_bytes"]["logits"] < 3 * GIB
    # 40.98 of 90.14 GiB (40.63 until lora58, 38.50 until hfblk57b: the rebuild, which the fused plan's peak is,
    # +0.35 and +2.03 GiB at 40k)
    assert fused["memory_per_gpu_bytes"]["total"] < 0.46 * eager["memory_per_gpu_bytes"]["total"]
    assert fused["step_time_s"] == pytest.approx(eager["step_time_s"], rel=0.01)
    assert fused["stack"]["fused_cross_entropy"] is True and eager["stack"]["fused_cross_entropy"] is False
    assert any("fused_cross_entropy=on (liger)" in a for a in fused["assumptions"]), fused["assumptions"]


def test_recommend_switches_the_fused_loss_on_only_where_it_makes_the_plan_fit(cli, tmp_path):
    """Left open on the HF Trainer, ``fused_cross_entropy`` is a fallback as the offloads are: at 40k (``SEQ``)
    the only plan on one H100 uses it (and says it was searched); at 4k, where the eager loss fits, it stays off (the stack's
    default, HF ``use_liger_kernel=False``); set false, 40k finds no plan."""
    code, out, err = cli("recommend", _job(tmp_path, where=SEARCH_ONE_H100), "--json", "--no-simulate")
    assert code == 0, err
    best = json.loads(out)["best"]
    assert best["stack"]["fused_cross_entropy"] is True
    assert "fused_cross_entropy" in best["stack"]["searched"]
    code, out, err = cli("recommend", _job(tmp_path, seq=4096, where=SEARCH_ONE_H100), "--json", "--no-simulate")
    assert code == 0, err
    assert json.loads(out)["best"]["stack"]["fused_cross_entropy"] is False
    code, out, err = cli("recommend", _job(tmp_path, "false", where=SEARCH_ONE_H100), "--json", "--no-simulate")
    assert code == 2 and "no configuration fits" in err, (code, err)


def test_stacks_without_a_chunked_loss_refuse_the_switch(cli, tmp_path):
    """Megatron-Core's --cross-entropy-loss-fusion and torchtitan's loss both run on whole logits: the switch set
    there is one ``error:`` line naming the stack that has it."""
    for name in ("megatron-core", "torchtitan"):
        text = LORA_32K.replace("SEQ", "4096").replace("hf-trainer FUSED", f"{name}, fused_cross_entropy: true")
        text = text.replace("  mode: lora\n  lora: {rank: 16, targets: all-linear}\n", "")
        code, out, err = cli("estimate", write_job(tmp_path, text + ON_ONE_H100, f"{name}.yaml"))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (name, err)
        assert lines[0].startswith("error: training.framework.fused_cross_entropy: ") and "hf-trainer" in err, err


def test_cross_entropy_bytes_of_the_fused_kernel():
    """Liger's cross-entropy kernel reads a chunk's logits twice and writes their gradient once, in the forward: 3 x
    2 B per bf16 logit against the generic loss's 2 + 12."""
    assert cross_entropy_bytes(2.0, False, True) == (6.0, 0.0)
    assert sum(cross_entropy_bytes(2.0, False)) == 14.0


def test_emit_says_how_to_switch_it_on(cli, tmp_path):
    """The launch spec of a plan priced with the fused loss says how HF Trainer turns on only that kernel."""
    code, out, err = cli("recommend", _job(tmp_path, where=SEARCH_ONE_H100), "--emit", "torchrun")
    assert code == 0, err
    assert "use_liger_kernel=True" in out and "'rms_norm': False" in out, out


def test_a_model_liger_does_not_patch_refuses_it(cli, tmp_path):
    """GPT-2 has no Liger patch (``MODEL_TYPE_TO_APPLY_LIGER_FN``): the switch set is one ``error:`` line; left open,
    ``recommend`` never tries it there."""
    text = LORA_32K.replace("SEQ", "1024").replace("llama3.1-8b", "gpt2-xl")
    text = text.replace("  mode: lora\n  lora: {rank: 16, targets: all-linear}\n", "")
    code, out, err = cli("estimate", write_job(tmp_path, text.replace(" FUSED", ", fused_cross_entropy: true")
                                               + ON_ONE_H100, "gpt2.yaml"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "training.framework.fused_cross_entropy" in err, err
    assert "GPT-2 / BERT" in err, err
    code, out, err = cli("recommend", write_job(tmp_path, text.replace(" FUSED", "") + SEARCH_ONE_H100, "g2.yaml"),
                         "--json", "--no-simulate")
    assert code == 0, err
    assert "fused_cross_entropy" not in json.loads(out)["best"]["stack"]["searched"]
