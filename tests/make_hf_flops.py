"""FLOPs truth: count a real training step of tiny Hugging Face models with FlopCounterMode.

Run by hand (needs ``transformers``; the tests only read tests/data/hf_flops.json)::

    python tests/make_hf_flops.py            # ~1-2 minutes on 2 CPU cores

For every family in make_hf_common.FAMILIES (tiny random-weight configs that keep the family's
structure) and every shape in SHAPES, on CPU in fp32, with a fixed seed:

* ``fwd``: FLOPs of ``model(input_ids, labels=input_ids)`` (loss included) under
  ``torch.utils.flop_counter.FlopCounterMode``;
* ``fwd_bwd``: FLOPs of the same forward plus ``loss.backward()`` counted in one FlopCounterMode
  (``bwd`` = the difference); all parameters trainable;
* per-operator (``by_op``) and per-module (``by_module``, FlopCounterMode's own module names)
  breakdowns of both;
* for MoE families, the tokens the router actually sent to each expert, per MoE block
  (``routing``) — same weights and inputs, so the same routing in every case of a shape.

Attention implementations: "eager" always, "sdpa" where the family supports it. MoE experts run
with ``experts_implementation="eager"`` (a per-expert loop of F.linear); the library's default
("grouped_mm") calls ``aten._grouped_mm``, which FlopCounterMode does not count, so its totals
miss every expert FLOP — one ``experts_default`` case per MoE family records that gap.

What FlopCounterMode counts: matmul-like aten ops only (mm, addmm, bmm, baddbmm, convolution,
the CUDA SDPA kernels), 2 FLOPs per multiply-add. Not counted: elementwise ops, norms, softmax,
the cross-entropy, embeddings, and on CPU the fused ``aten._scaled_dot_product_flash_attention_for_cpu``
that "sdpa" dispatches to: so "sdpa" cases lack the QK^T and PV matmuls that "eager" cases have
(as bmm/matmul). Sliding-window / chunked layers compute the full masked score matrix in both
implementations on CPU (the window changes the mask, not the matmul shapes).
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from make_hf_common import FAMILIES, MOE, RoutingRecorder, batch, build

OUT = Path(__file__).parent / "data" / "hf_flops.json"
SHAPES = [(2, 64), (2, 256)]  # (batch, seq); both longer than the tiny window (32)
SEED = 0


def counts(fc: FlopCounterMode) -> tuple[int, dict, dict]:
    c = fc.get_flop_counts()
    by_op = {str(k): int(v) for k, v in sorted(c.get("Global", {}).items(), key=lambda kv: str(kv[0]))}
    by_module = {}
    for mod, ops in c.items():
        if mod == "Global":
            continue
        tot = int(sum(ops.values()))
        if tot:
            by_module[mod] = tot
    return int(fc.get_total_flops()), by_op, dict(sorted(by_module.items()))  # stable order


def one_case(family: str, attn: str, experts: str | None, b: int, s: int) -> dict:
    model = build(family, attn, experts, seed=SEED)
    inputs = batch(family, b, s, seed=SEED)
    rec = RoutingRecorder(model) if family in MOE else None
    with FlopCounterMode(display=False) as fc_f:
        out = model(**inputs)
    fwd, fwd_op, fwd_mod = counts(fc_f)
    routing = {k: v for k, v in rec.records.items()} if rec else None
    if rec:
        rec.remove()
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as fc_fb:
        out = model(**inputs)
        out.loss.backward()
    fb, fb_op, fb_mod = counts(fc_fb)
    case = {
        "attn_implementation": model.config._attn_implementation,
        "batch": b, "seq": s, "tokens": b * s,
        "fwd": fwd, "fwd_bwd": fb, "bwd": fb - fwd,
        "loss": round(float(out.loss), 6),
        "fwd_by_op": fwd_op, "fwd_bwd_by_op": fb_op,
        "fwd_by_module": fwd_mod, "fwd_bwd_by_module": fb_mod,
    }
    if family in MOE:
        case["experts_implementation"] = model.config._experts_implementation
        case["routing"] = routing
    return case


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "device": "cpu", "dtype": "float32", "seed": SEED, "shapes": SHAPES,
           "counter": "torch.utils.flop_counter.FlopCounterMode (matmul-like aten ops, 2 FLOPs/MAC)",
           "families": {}}
    for fam in FAMILIES:
        t0 = time.time()
        model = build(fam, "eager", "eager", seed=SEED)
        entry = {"class": type(model).__name__, "config": FAMILIES[fam],
                 "resolved_config": json.loads(model.config.to_json_string(use_diff=False)),
                 "params": sum(p.numel() for p in model.parameters()), "cases": [], "unsupported": {}}
        for attn in ("eager", "sdpa"):
            for b, s in SHAPES:
                try:
                    entry["cases"].append(one_case(fam, attn, "eager", b, s))
                except (ValueError, NotImplementedError) as e:  # e.g. no sdpa for gemma2 / gpt-oss
                    entry["unsupported"][attn] = f"{type(e).__name__}: {str(e).split('. ')[0]}"
                    break
        if fam in MOE:
            b, s = SHAPES[0]
            d = one_case(fam, "eager", None, b, s)  # the library's default experts implementation
            entry["experts_default"] = {k: d[k] for k in ("experts_implementation", "batch", "seq", "fwd",
                                                          "fwd_bwd", "fwd_by_op", "fwd_bwd_by_op")}
            if fam == "llama4_text":
                entry["notes"] = ["Llama4TextExperts runs every expert on every token (dense bmm over "
                                  "router-scaled copies of the input): expert FLOPs scale with num_experts, "
                                  "not top_k; routing.tokens_per_expert is what the router chose, "
                                  "computed_tokens_per_expert what was computed"]
        if not entry["unsupported"]:
            del entry["unsupported"]
        out["families"][fam] = entry
        c = entry["cases"][0]
        print(f"{fam:12s} {entry['class']:24s} params {entry['params']:>8,d}  fwd {c['fwd']:>12,d}  "
              f"fwd+bwd {c['fwd_bwd']:>12,d}  ({time.time() - t0:.1f}s)")
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
