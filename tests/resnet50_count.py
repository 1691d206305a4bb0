"""ResNet-50 v1.5 built from its published architecture (no torchvision needed) and a per-op count
of one training step on CPU: FLOPs of the convolutions / linear layer (``FlopCounterMode``) and the
bytes every other aten op reads and writes (a ``TorchDispatchMode``: each distinct input storage
once, each output once; views launch no kernel). The count is what eager PyTorch runs, op by op,
so it is the traffic of the unfused memory-bound kernels (batch-norm, ReLU, residual add, pooling,
their backward, the residual-gradient sum) at one pass per operand.

Architecture: He et al. 2016 ("Deep Residual Learning", Table 1, 50-layer: conv1 7x7/2 64, 3x3/2
max pool, bottleneck stages [3, 4, 6, 3] of widths 64/128/256/512 with expansion 4, global average
pool, 1000-way fc); v1.5 puts the stage's stride 2 on the 3x3 convolution, not the first 1x1
(NVIDIA DeepLearningExamples PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Model
overview"), as torchvision's ``Bottleneck`` does. Convolutions have no bias (batch-norm follows).

Run by hand to print the figures: ``python tests/resnet50_count.py``.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
GEMM_OPS = {aten.convolution.default, aten.convolution_backward.default, aten.addmm.default, aten.mm.default}


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.down is None else self.down(x)))


def resnet50(num_classes: int = 1000) -> nn.Module:
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = 4 * width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


class _Bytes(TorchDispatchMode):
    """Bytes read + written per aten op outside the GEMMs; views and metadata ops excluded."""

    def __init__(self):
        super().__init__()
        self.by_op = defaultdict(float)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in GEMM_OPS or getattr(func, "is_view", False) or func in (aten.detach.default,):
            return out
        b = 0.0
        # inputs read once each, outputs written once each: an in-place op (relu_) reads and writes
        for side in (tree_flatten((args, kwargs))[0], tree_flatten(out)[0]):
            seen = set()
            for t in side:
                if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
                    seen.add(t.untyped_storage().data_ptr())
                    b += t.numel() * t.element_size()
        name = func.overloadpacket.__name__
        self.by_op[name] += b
        return out


def count(batch: int = 1, dtype=torch.bfloat16, channels_last: bool = True) -> dict:
    """Per image: forward FLOPs, training-step GEMM FLOPs, and the memory-bound ops' bytes (fwd + bwd)
    with activations in ``dtype``; the per-op breakdown in ``by_op``."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = resnet50().to(dtype=dtype, memory_format=fmt)
    x = torch.randn(batch, 3, 224, 224, dtype=dtype).to(memory_format=fmt)
    target = torch.randint(0, 1000, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    io = [0]
    hooks = [mod.register_forward_hook(lambda mod, i, o: io.__setitem__(0, io[0] + i[0].numel() + o.numel()))
             for mod in model.modules() if isinstance(mod, nn.Conv2d)]
    fwd_mode, bwd_mode = _Bytes(), _Bytes()
    with FlopCounterMode(display=False) as fc:
        with fwd_mode:
            loss = loss_fn(model(x), target)
        fwd = fc.get_total_flops() / batch
        for h in hooks:
            h.remove()
        with bwd_mode:
            loss.backward()
    step_flops = fc.get_total_flops() / batch
    by_op = defaultdict(float)
    for mode in (fwd_mode, bwd_mode):
        for k, v in mode.by_op.items():
            by_op[k] += v / batch
    return dict(params=sum(p.numel() for p in model.parameters()),
                param_tensors=len(list(model.parameters())), fwd_flops_per_sample=fwd,
                step_flops_per_sample=step_flops, conv_io_elems_per_sample=io[0] / batch,
                membound_fwd_bytes_per_sample=sum(fwd_mode.by_op.values()) / batch,
                membound_bwd_bytes_per_sample=sum(bwd_mode.by_op.values()) / batch,
                by_op=dict(sorted(by_op.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    r = count()
    print({k: v for k, v in r.items() if k != "by_op"})
    for k, v in r["by_op"].items():
        print(f"{k:40s} {v / 1e6:10.2f} MB/img")
