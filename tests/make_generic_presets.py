"""Measure the generic vision presets (ResNet-50, ViT-B/16 at 224x224) with torchvision's models:
parameters, forward FLOPs per sample (``FlopCounterMode``: 2 per multiply-add) and the bytes
autograd saves per sample for the backward, in fp32 and under bf16 autocast. Writes
tests/data/generic_presets.json; the fp32 activation bytes go into planner/spec/presets.py by hand.

Run by hand (needs torchvision; the tests only read the JSON)::

    python tests/make_generic_presets.py

Saved bytes are counted once per storage (``saved_tensors_hooks``), leaving out parameters,
buffers, the input images and, under autocast, the bf16 copies of the weights (autocast's weight
cache: weights, not activations).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

try:
    import torchvision  # noqa: F401
except RuntimeError:
    # a CUDA build of torchvision next to a CPU torch: its C ops (nms, ...) cannot load, which the
    # models do not need; declare the two schemas its fake-kernel registration expects, retry
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import sys

    for k in [k for k in sys.modules if k.startswith("torchvision")]:
        del sys.modules[k]
    import torchvision  # noqa: F401
from torchvision import models

import sys as _sys

_sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calibration.reference_models import register_cpu_flash_flops  # noqa: E402

register_cpu_flash_flops()  # ViT's attention runs the CPU flash kernel

OUT = Path(__file__).parent / "data" / "generic_presets.json"
BATCH = 2


def _is_weight_cast(t, params) -> bool:
    """A bf16 copy of a parameter (autocast's weight cache), or a view/transpose of one."""
    fn = t.grad_fn
    for _ in range(4):  # through t(), view, expand, ... back to the cast
        if fn is None:
            return False
        if fn.name().startswith("ToCopyBackward"):
            nxt = fn.next_functions[0][0]
            return nxt is not None and any(getattr(nxt, "variable", None) is p for p in params)
        if len(fn.next_functions) != 1:
            return False
        fn = fn.next_functions[0][0]
    return False


def saved_bytes_per_sample(model, x, autocast: bool) -> float:
    params = list(model.parameters())
    skip = {t.untyped_storage().data_ptr() for t in [*params, *model.buffers(), x]}
    storages = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in skip and not _is_weight_cast(t, params):
            storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(x)
    del out
    return sum(storages.values()) / x.shape[0]


def measure(name, ctor):
    torch.manual_seed(0)
    model = ctor().train()
    x = torch.randn(BATCH, 3, 224, 224)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    rec = {
        "params": sum(p.numel() for p in model.parameters()),
        "fwd_flops_per_sample": fc.get_total_flops() / BATCH,
        "activation_bytes_per_sample_fp32": saved_bytes_per_sample(model, x, autocast=False),
        "activation_bytes_per_sample_bf16_autocast": saved_bytes_per_sample(model, x, autocast=True),
        "input_bytes_per_sample": 3 * 224 * 224 * 4,
    }
    print(name, rec)
    return rec


def main():
    out = {"torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
           "image": [3, 224, 224], "batch": BATCH, "models": {
               "resnet50": measure("resnet50", models.resnet50),
               "vit-b16": measure("vit-b16", models.vit_b_16)}}
    OUT.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
