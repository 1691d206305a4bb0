"""Truth for the output head as an input (head50): the tiny BERT of make_hf_common.py built twice from one config,
as transformers' ``BertForMaskedLM`` (the MLM head over every token) and as ``BertForSequenceClassification`` (pooler
= dense + tanh on the [CLS] token, dropout, classifier linear; the loss on (batch, num_labels)), both on CPU (fp32,
bf16, CPU autocast), eager attention. Per model, precision and shape: the parameter count, the forward and fwd + bwd
FLOPs (FlopCounterMode, in fp32) and one training step measured by make_hf_common.training_step (saved tensors
through saved_tensors_hooks, live tensor storages, gradients; the output dropped before backward, as the Trainer
does). Writes tests/data/head50.json, read by tests/test_head50.py.

Run: /tmp/venv-hfmem48/bin/python tests/make_head50.py   (transformers 5.23, torch 2.13, ~2 min)
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, BertForMaskedLM, BertForSequenceClassification

sys.path.insert(0, str(Path(__file__).parent))
from make_hf_common import FAMILIES, batch, training_step  # noqa: E402

OUT = Path(__file__).parent / "data" / "head50.json"
SHAPES = [(1, 64), (2, 128), (4, 128)]  # (batch, seq)
NUM_LABELS = [2, 5]
PRECISIONS = ["fp32", "bf16", "amp_bf16"]  # make_hf_activations.py's (CPU autocast for AMP)
SEED = 0


def _model(cls, num_labels: int):
    cfg = AutoConfig.for_model(**FAMILIES["bert"], num_labels=num_labels)
    torch.manual_seed(SEED)
    model = cls(cfg)
    model.config._attn_implementation = "eager"
    model.train()
    return model


def _inputs(head: str, b: int, s: int, num_labels: int) -> dict:
    x = batch("bert", b, s, seed=SEED)
    if head == "classifier":  # one label a sequence (the GLUE-style rows of the HF Trainer docs page)
        x["labels"] = torch.arange(b) % num_labels
    return x


def _flops(model, inputs) -> tuple[int, int]:
    with FlopCounterMode(display=False) as fc:
        out = model(**inputs)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    del out
    return fwd, fc.get_total_flops()


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__, "device": "cpu",
           "precisions": PRECISIONS, "flops_precision": "fp32", "attn_implementation": "eager",
           "config": FAMILIES["bert"], "seed": SEED, "cases": []}
    heads = [("lm", BertForMaskedLM, 2)] + [("classifier", BertForSequenceClassification, n) for n in NUM_LABELS]
    for head, cls, nl in heads:
        for (b, s), prec in [(sh, p) for p in PRECISIONS for sh in SHAPES]:
            model = _model(cls, nl)
            x = _inputs(head, b, s, nl)
            fwd, fwd_bwd = _flops(model, x)
            res = training_step(model, x, prec, False, output_held=False)
            case = {"head": head, "class": cls.__name__, "num_labels": nl if head == "classifier" else None,
                    "precision": prec, "batch": b, "seq": s, "params": sum(p.numel() for p in model.parameters()),
                    "fwd_flops": fwd, "fwd_bwd_flops": fwd_bwd,
                    **{k: res[k] for k in ("saved_bytes", "live_after_forward_bytes", "live_peak_forward_bytes",
                                           "live_peak_fwd_bwd_bytes", "grad_bytes", "logits_bytes")},
                    "saved_by_module": res["by_module"]}
            out["cases"].append(case)
            print(f"{cls.__name__:30s} nl={nl} {prec:8s} b{b} s{s}: params {case['params']:,} fwd {fwd:,} saved "
                  f"{case['saved_bytes']:,} peak {case['live_peak_fwd_bwd_bytes']:,}")
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
