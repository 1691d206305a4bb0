"""Saved-activation truth: what a training forward of tiny Hugging Face models keeps for backward.

Run by hand (needs ``transformers``; the tests only read tests/data/hf_activations.json)::

    python tests/make_hf_activations.py      # 1-6 minutes on 2 CPU cores (768 cases)

For every family in make_hf_common.FAMILIES, every shape in SHAPES, three precisions and gradient
checkpointing off/on, one forward with labels (the loss's logits handling differs per family) and
its backward are run on CPU and measured (make_hf_common.training_step):

* ``saved_bytes``: bytes of the storages autograd saves for backward
  (``torch.autograd.graph.saved_tensors_hooks``), each storage counted once
  (``untyped_storage().data_ptr()``, full ``nbytes``), parameters excluded by storage identity,
  only those still alive when the forward ends (``saved_then_freed_bytes``: the others);
  ``by_dtype``, ``by_module`` (innermost nn.Module running when first saved; "" = outside any
  module), ``by_kind`` ("saved", or "checkpoint_inputs": the tensors a non-reentrant checkpointed
  block holds by reference — its args/kwargs — which saved_tensors_hooks cannot see);
  ``param_casts_bytes``: autocast's saved bf16 copies of fp32 weights (AMP only; not in saved_bytes);
* ``live_*``: tensor-level memory from a dispatch mode that tracks every storage created during the
  step (torch has no CPU allocator statistics): ``live_after_forward_bytes`` (everything the forward
  left alive: saved tensors, checkpoint inputs, logits, loss), ``live_peak_forward_bytes``,
  ``live_peak_fwd_bwd_bytes`` (includes the gradients and backward temporaries);
  ``grad_bytes``, ``logits_bytes``;
* for the ``bf16`` / no-checkpointing / first-shape case of each family and attention, the list of
  saved tensors ``[module, shape, dtype, nbytes, kind]`` (``tensors``), to fit a model per layer part.

Precisions: "fp32"; "bf16" = ``model.to(torch.bfloat16)`` (pure bf16); "amp_bf16" = fp32 weights
and ``torch.autocast("cpu", dtype=torch.bfloat16)``. Attention "eager" and, where the family
supports it, "sdpa" (CORE families first in the file). MoE experts run the per-expert eager loop;
``routing`` gives the tokens each expert got (the saved bytes of the experts follow it).

``--details`` (hfmem48; seconds) rewrites only the file's ``details`` block: GPU autocast's precisions on
llama (GQA, RMSNorm), gpt2 and bert (LayerNorm), eager and sdpa, shapes (1, 64) and (2, 128), no
checkpointing -- "amp_bf16_cuda" (fp32 weights) and "amp_bf16_w16_cuda" (bf16 weights: FSDP's
``MixedPrecision(param_dtype=bf16)`` under accelerate's autocast), both under CUDA autocast's op lists
(make_hf_common.CudaAutocastPolicy), beside "bf16" and CPU-autocast "amp_bf16" -- with the saved tensors of
block 0 by module (``block0``); and ``accelerate``: the HF Trainer's forward wrapped in accelerate's
``convert_outputs_to_fp32`` (an fp32 copy of the logits output) or not, the output dropped before backward
as the Trainer's ``compute_loss`` does. hfstep48 added gpt_oss (eager only) and llama4_text (their softmax without
a dtype under CUDA's lists) and, per case, the dropout masks (make_hf_common ``DROPOUT_MASK_FILLS``):
``dropout_masks`` (the saved masks' bytes in the CPU's dtype, their elements, block 0's by module) and ``live_gpu``
(the ``live_*`` counts with each mask at a GPU's 1 B an element).

``--flash`` (sdpa49; seconds) rewrites only the file's ``flash`` block: GPT-2 and BERT under sdpa with the attention
dropout at 0 (``FLASH_OVERRIDES``; the hidden-state dropouts stay at 0.1), so that the CPU's sdpa runs
``_scaled_dot_product_flash_attention_for_cpu`` -- which saves q, k, v, the output and the fp32 log-sum-exp, the
set a GPU's flash kernel saves with its dropout in-kernel -- instead of the math path the attention dropout forces
on CPU (``sdpa_ops``: the sdpa ops the forward dispatched); ``details``' precisions and shapes, no checkpointing,
with a padding mask (``padded``: the last row's last quarter of positions masked; transformers then passes a
(b, 1, s, s) mask, which the CPU flash kernel saves converted to q's dtype, as a GPU's mem-efficient kernel saves its
``attn_bias``) or without; and both under gradient checkpointing (CPU lists only: the recompute runs outside
``CudaAutocastPolicy``), each case as ``details``' (``dropout_masks``,
``live_gpu``, ``block0``).

``--padmask`` (padmask49; seconds) rewrites only the file's ``padmask`` block: llama, qwen2 and mistral (its tiny
config's window shorter than every seq: every layer already masked), eager and sdpa, "bf16" and CPU-autocast
"amp_bf16", ``details``' shapes, with ``flash``'s padding mask or without, gradient checkpointing off / on: masking_utils builds
sdpa a boolean (b, 1, s, s) mask where a row has padding (None otherwise: ``is_causal``), and eager an additive
mask in the dtype; ``sdpa_ops``, the saves (``saved_bytes``, ``live_*``) and block 0's by module. And
``fp32_layernorm``: GPT-2 and BERT in fp32, eager and sdpa, the same shapes, with ``details``' ``dropout_masks`` and
``live_gpu`` (a GPU's fp32 plan: 1 B masks where the CPU's are 4 B).

``--padfam`` (padfam50; seconds) rewrites only the file's ``padfam`` block: ``padmask``'s cases, "bf16" only, on
the RMSNorm families padmask49 left (``PADFAM_FAMILIES``: Gemma 2 -- eager only, transformers gives it no sdpa --
Gemma 3, OLMo 2, DeepSeek-V3's MLA, Mixtral, Qwen3-MoE); and ``fp32_fused``: ``flash``'s cases in fp32 (GPT-2 / BERT
with the attention dropout at 0, padded or not, checkpointing off / on), where the CPU flash kernel keeps the set a
GPU's mem-efficient kernel keeps for an fp32 q (flash takes 16-bit q only).

``--experts`` (hfmoe52; about a minute) rewrites only the ``experts`` block: the MoE families under transformers'
default experts kernel ``grouped_mm`` (``EXPERTS_FAMILIES``; the cases above run the eager per-expert loop), each
precision (CUDA autocast's lists too), checkpointing off / on, ``EXPERTS_SHAPES``; and Llama 4's refusal of it.
"""
from __future__ import annotations

import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import torch
import transformers
from torch.utils._python_dispatch import TorchDispatchMode

from make_hf_common import FAMILIES, MOE, RoutingRecorder, batch, build, training_step

OUT = Path(__file__).parent / "data" / "hf_activations.json"
SHAPES = [(1, 64), (1, 128), (2, 64), (2, 128)]  # (batch, seq)
PRECISIONS = ["fp32", "bf16", "amp_bf16"]
CORE = ["llama", "mistral", "qwen2", "gpt2", "bert", "mixtral"]
SEED = 0


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "device": "cpu", "seed": SEED, "shapes": SHAPES, "precisions": PRECISIONS,
           "peak_memory_note": ("torch exposes no CPU allocator statistics (torch.cpu has none; "
                                "tracemalloc does not see torch's allocations): live_* are tensor-level "
                                "counts from a TorchDispatchMode, exact for tensor storages created during "
                                "the step, blind to allocator caching/fragmentation and to the parameters "
                                "and inputs (made before the step)"),
           "families": {}}
    for fam in list(CORE) + [f for f in FAMILIES if f not in CORE]:
        t0 = time.time()
        probe = build(fam, "eager", seed=SEED)
        entry = {"class": type(probe).__name__, "config": FAMILIES[fam],
                 "params": sum(p.numel() for p in probe.parameters()), "cases": [], "unsupported": {}}
        del probe
        for attn in ("eager", "sdpa"):
            for prec in PRECISIONS:
                for gc in (False, True):
                    for i, (b, s) in enumerate(SHAPES):
                        try:
                            model = build(fam, attn, seed=SEED)
                        except (ValueError, NotImplementedError) as e:
                            entry["unsupported"][attn] = f"{type(e).__name__}: {str(e).split('. ')[0]}"
                            break
                        rec = RoutingRecorder(model) if fam in MOE else None
                        keep = prec == "bf16" and not gc and i == 0
                        res = training_step(model, batch(fam, b, s, seed=SEED), prec, gc, keep_tensors=keep)
                        case = {"attn_implementation": model.config._attn_implementation,
                                "precision": prec, "gradient_checkpointing": gc,
                                "batch": b, "seq": s, "tokens": b * s, **res}
                        if rec:
                            # with checkpointing the blocks run twice (forward, recompute): first call only
                            case["routing"] = {k: v["tokens_per_expert"] if v["calls"] == 1 else
                                               f"{v['calls']} calls" for k, v in rec.records.items()}
                            rec.remove()
                        entry["cases"].append(case)
        if not entry["unsupported"]:
            del entry["unsupported"]
        out["families"][fam] = entry
        c = next(c for c in entry["cases"] if c["precision"] == "bf16" and not c["gradient_checkpointing"])
        g = next(c for c in entry["cases"] if c["precision"] == "bf16" and c["gradient_checkpointing"])
        print(f"{fam:12s} bf16 b{c['batch']} s{c['seq']}: saved {c['saved_bytes']:>9,d} B, with checkpointing "
              f"{g['saved_bytes']:>8,d} B, live after fwd {c['live_after_forward_bytes']:>9,d} B "
              f"({len(entry['cases'])} cases, {time.time() - t0:.1f}s)")
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


DETAIL_FAMILIES = ["llama", "gpt2", "bert", "gpt_oss", "llama4_text"]  # gpt-oss has no sdpa (attention sinks)
DETAIL_PRECISIONS = ["bf16", "amp_bf16", "amp_bf16_cuda", "amp_bf16_w16_cuda"]
DETAIL_SHAPES = [(1, 64), (2, 128)]


BLOCK0 = ("model.layers.0.", "transformer.h.0.", "bert.encoder.layer.0.")  # the decoders', GPT-2's, BERT's block 0


def _block0(rows) -> dict:
    """Bytes of block 0's storages by ``module|dtype`` (sorted) from ``(module, dtype, nbytes)`` rows."""
    out: dict = {}
    for mod, dtype, nb in rows:
        if mod.startswith(BLOCK0):
            out[f"{mod}|{dtype}"] = out.get(f"{mod}|{dtype}", 0) + nb
    return dict(sorted(out.items()))


def details() -> dict:
    """The ``details`` block (module docstring)."""
    from accelerate.utils import convert_outputs_to_fp32
    import accelerate

    cases = []
    for fam in DETAIL_FAMILIES:
        for attn in ("eager", "sdpa"):
            try:
                build(fam, attn, seed=SEED)
            except (ValueError, NotImplementedError):
                continue
            for prec in DETAIL_PRECISIONS:
                for b, s in DETAIL_SHAPES:
                    res = training_step(build(fam, attn, seed=SEED), batch(fam, b, s, seed=SEED), prec, False,
                                        keep_tensors=True, gpu_masks=True)
                    block0 = _block0((mod, dtype, nb) for mod, _, dtype, nb, _ in res.pop("tensors"))
                    masks = _block0((mod, dtype, nb) for mod, dtype, nb, _ in res["dropout_masks"])
                    drop = res.pop("dropout_masks")
                    res["dropout_masks"] = {"saved_bytes": sum(r[2] for r in drop), "elements": sum(r[3] for r in drop),
                                            "block0": masks}
                    cases.append({"family": fam, "attn_implementation": attn, "precision": prec, "batch": b,
                                  "seq": s, **res, "block0": block0})
    acc = []
    for fam in ("llama", "gpt2"):
        for wrapped in (False, True):
            res = training_step(build(fam, "eager", seed=SEED), batch(fam, 2, 128, seed=SEED), "amp_bf16_cuda", False,
                                output_held=False, wrap=convert_outputs_to_fp32 if wrapped else None, gpu_masks=True)
            acc.append({"family": fam, "attn_implementation": "eager", "precision": "amp_bf16_cuda", "batch": 2,
                        "seq": 128, "convert_outputs_to_fp32": wrapped,
                        **{k: res[k] for k in ("saved_bytes", "live_after_forward_bytes", "live_peak_forward_bytes",
                                               "live_peak_fwd_bwd_bytes", "logits_bytes", "grad_bytes", "live_gpu")}})
    return {"accelerate_version": accelerate.__version__, "cases": cases, "accelerate": acc}


#: the attention-probability dropout of each LayerNorm family's config, set to 0 for the ``flash`` block
FLASH_OVERRIDES = {"gpt2": {"attn_pdrop": 0.0}, "bert": {"attention_probs_dropout_prob": 0.0}}


class SdpaOps(TorchDispatchMode):
    """The names of the aten ``scaled_dot_product`` ops dispatched while active (the math path is composite: it shows
    as its matmuls and softmax, no such op)."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "scaled_dot_product" in func.name():
            self.names.add(func.name())
        return func(*args, **(kwargs or {}))


def flash() -> dict:
    """The ``flash`` block (module docstring)."""
    return {"cases": _flash_cases(DETAIL_PRECISIONS)}


def _flash_cases(precisions) -> list:
    """``flash``'s cases (module docstring) at ``precisions``; ``padfam``'s fp32 ones."""
    cases = []
    for fam, over in FLASH_OVERRIDES.items():
        for prec in precisions:
            for b, s in DETAIL_SHAPES:
                # (checkpointing's recompute runs in the backward, outside CudaAutocastPolicy: not under its lists)
                for padded, gc in ((False, False), (True, False)) + (((False, True), (True, True)) if "cuda" not in prec
                                                                     else ()):
                    ops = SdpaOps()
                    with ops:
                        res = training_step(build(fam, "sdpa", seed=SEED, overrides=over),
                                            _padded_batch(fam, b, s, padded), prec, gc,
                                            keep_tensors=True, gpu_masks=True)
                    block0 = _block0((mod, dtype, nb) for mod, _, dtype, nb, _ in res.pop("tensors"))
                    drop = res.pop("dropout_masks")
                    res["dropout_masks"] = {"saved_bytes": sum(r[2] for r in drop), "elements": sum(r[3] for r in drop)}
                    cases.append({"family": fam, "attn_implementation": "sdpa", "overrides": over, "precision": prec,
                                  "batch": b, "seq": s, "padded": padded, "gradient_checkpointing": gc,
                                  "sdpa_ops": sorted(ops.names), **res, "block0": block0})
    return cases


def _padded_batch(fam: str, b: int, s: int, padded: bool) -> dict:
    """``batch``'s inputs, with ``padded`` the last row's last quarter of positions masked (module docstring)."""
    inputs = batch(fam, b, s, seed=SEED)
    if padded:
        mask = torch.ones(b, s, dtype=torch.long)
        mask[-1, s - s // 4:] = 0
        inputs["attention_mask"] = mask
    return inputs


PADMASK_FAMILIES = ["llama", "qwen2", "mistral"]  # Llama's code path (GQA, RMSNorm); Qwen 2's q/k/v bias; a window
PADMASK_PRECISIONS = ["bf16", "amp_bf16"]


def _padded_cases(families, precisions) -> list:
    """``padmask``'s and ``padfam``'s cases: each family, eager and sdpa, each precision, ``DETAIL_SHAPES``, padded or
    not, gradient checkpointing off / on (module docstring)."""
    cases = []
    for fam in families:
        for attn in ("eager", "sdpa"):
            try:
                build(fam, attn, seed=SEED)
            except (ValueError, NotImplementedError):  # Gemma 2: no sdpa (its attention logit soft-capping)
                continue
            for prec in precisions:
                for (b, s), padded, gc in itertools.product(DETAIL_SHAPES, (False, True), (False, True)):
                    ops = SdpaOps()
                    with ops:
                        res = training_step(build(fam, attn, seed=SEED), _padded_batch(fam, b, s, padded), prec,
                                            gc, keep_tensors=True)
                    block0 = _block0((mod, dtype, nb) for mod, _, dtype, nb, _ in res.pop("tensors"))
                    cases.append({"family": fam, "attn_implementation": attn, "precision": prec, "batch": b,
                                  "seq": s, "padded": padded, "gradient_checkpointing": gc,
                                  "sdpa_ops": sorted(ops.names),
                                  **{k: res[k] for k in ("saved_bytes", "live_after_forward_bytes",
                                                         "live_peak_forward_bytes", "live_peak_fwd_bwd_bytes")},
                                  "block0": block0})
    return cases


def padmask() -> dict:
    """The ``padmask`` block (module docstring)."""
    cases = _padded_cases(PADMASK_FAMILIES, PADMASK_PRECISIONS)
    fp32 = []
    for fam in ("gpt2", "bert"):  # fp32 on a GPU: the dropout masks at 1 B (``details``' ``dropout_masks``)
        for attn in ("eager", "sdpa"):
            for b, s in DETAIL_SHAPES:
                res = training_step(build(fam, attn, seed=SEED), batch(fam, b, s, seed=SEED), "fp32", False,
                                    gpu_masks=True)
                drop = res.pop("dropout_masks")
                fp32.append({"family": fam, "attn_implementation": attn, "precision": "fp32", "batch": b, "seq": s,
                             "dropout_masks": {"saved_bytes": sum(r[2] for r in drop),
                                               "elements": sum(r[3] for r in drop)},
                             **{k: res[k] for k in ("saved_bytes", "live_after_forward_bytes",
                                                    "live_peak_fwd_bwd_bytes", "live_gpu")}})
    return {"cases": cases, "fp32_layernorm": fp32}


#: the RMSNorm families padmask49 left: Gemma 2 / 3 (post-norms, soft-capping, sliding layers), OLMo 2 (q/k norm over
#: all heads), MLA (DeepSeek-V3: unequal q / v head dims), MoE (Mixtral, Qwen3-MoE)
PADFAM_FAMILIES = ["gemma2", "gemma3_text", "olmo2", "deepseek_v3", "mixtral", "qwen3_moe"]


def padfam() -> dict:
    """The ``padfam`` block (module docstring)."""
    return {"cases": _padded_cases(PADFAM_FAMILIES, ["bf16"]), "fp32_fused": _flash_cases(["fp32"])}


#: hfmoe52: the MoE families whose experts class transformers 5.23 decorates with ``@use_experts_implementation``
#: (integrations/moe.py), run with ``experts_implementation="grouped_mm"`` -- what ``from_pretrained`` picks when the
#: job sets none (modeling_utils.py ``get_correct_experts_implementation``: ``"grouped_mm" if requested_experts is
#: None``) -- at each precision, checkpointing off / on; Llama 4 (``Llama4TextExperts``: its own bmm, no decorator)
#: refuses the option: the message is recorded
EXPERTS_FAMILIES = ["mixtral", "qwen3_moe", "gpt_oss", "deepseek_v3"]
EXPERTS_PRECISIONS = ["fp32", "bf16", "amp_bf16", "amp_bf16_cuda"]
EXPERTS_SHAPES = [(1, 64), (2, 128)]


def experts() -> dict:
    """The ``experts`` block (hfmoe52): ``cases`` of ``EXPERTS_FAMILIES`` under ``grouped_mm`` (eager attention) with
    ``training_step``'s counts and the saves by module; ``refused``: the families that raise on the option."""
    from make_peft_truth import _policy_through_backward

    cases, refused = [], {}
    for fam in EXPERTS_FAMILIES:
        for prec in EXPERTS_PRECISIONS:
            for gc in (False, True):
                for b, s in EXPERTS_SHAPES:
                    model = build(fam, "eager", experts="grouped_mm", seed=SEED)
                    assert model.config._experts_implementation == "grouped_mm"
                    with _policy_through_backward():  # CUDA's lists in the recompute too
                        res = training_step(model, batch(fam, b, s, seed=SEED), prec, gc, gpu_masks=True)
                    cases.append({"family": fam, "experts_implementation": "grouped_mm", "attn_implementation": "eager",
                                  "precision": prec, "gradient_checkpointing": gc, "batch": b, "seq": s,
                                  **{k: res[k] for k in ("saved_bytes", "by_module", "live_after_forward_bytes",
                                                         "live_peak_forward_bytes", "live_peak_fwd_bwd_bytes",
                                                         "grad_bytes", "live_gpu")}})
                print(f"experts {fam:12s} {prec:14s} gc {int(gc)}: saved {cases[-1]['saved_bytes']:,d} B")
    try:
        build("llama4_text", "eager", experts="grouped_mm", seed=SEED)
    except ValueError as e:
        refused["llama4_text"] = f"{type(e).__name__}: {e}"
    return {"cases": cases, "refused": refused}


#: the flags that rewrite one block of the file, the rest left as it is: flag -> (the block's key, its builder)
BLOCKS = {"--details": ("details", details), "--flash": ("flash", flash), "--padmask": ("padmask", padmask),
          "--padfam": ("padfam", padfam), "--experts": ("experts", experts)}


if __name__ == "__main__":
    flags = [f for f in BLOCKS if f in sys.argv[1:]]
    if not flags:
        main()
    for flag in flags:
        key, build_block = BLOCKS[flag]
        warnings.filterwarnings("ignore")
        transformers.logging.set_verbosity_error()
        torch.set_num_threads(2)
        data = json.loads(OUT.read_text())
        data[key] = build_block()
        OUT.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {key}:", len(data[key]["cases"]), "cases to", OUT)
