"""hfmoe53: what transformers 5.23.0's MoE experts kernels run per layer -- the torch calls the host makes (forward),
the ATen kernels, the device-to-host syncs and the bytes the non-GEMM kernels move, forward and backward, for
``experts_implementation`` "eager" (the experts class's own loop over ``expert_hit``) and "grouped_mm"
(integrations/moe.py ``grouped_mm_experts_forward``), on the tiny Mixtral and Qwen3-MoE experts modules alone (the
router's top-k given, all experts hit). Two expert counts (4, 8) at the same routed rows separate what a layer runs
once from what it runs per expert. Run in an env with the ``truth`` extra (CPU, ~5 s):
``python tests/make_hf_experts_ops.py > tests/data/hf_experts_ops.json``.

Counting: a ``TorchFunctionMode`` counts the torch calls of the forward (the host's ops: each is one Python-to-ATen
dispatch); a ``TorchDispatchMode`` sees every ATen op of the forward and of the backward, classed as GEMMs (mm,
addmm, bmm, _grouped_mm), syncs (``nonzero``: its output's size is read on the host; ``_local_scalar_dense``: a
tensor read as a Python scalar -- both wait for the device on CUDA), views (no kernel) and the rest (a kernel each),
whose tensor arguments and outputs are summed as the bytes those kernels move (an upper bound: an op reading a view
reads only its elements, counted so)."""
import json

import torch
import transformers
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoConfig

GEMMS = {"mm", "addmm", "bmm", "_grouped_mm", "grouped_mm"}
SYNCS = {"nonzero", "_local_scalar_dense"}
VIEWS = {"view", "_unsafe_view", "t", "transpose", "permute", "select", "slice", "expand", "unsqueeze", "squeeze",
         "alias", "detach", "as_strided", "split", "split_with_sizes", "chunk", "unbind", "reshape", "_reshape_alias",
         "lift_fresh", "unfold", "diagonal", "narrow"}


def _bytes(x):
    return x.numel() * x.element_size() if isinstance(x, torch.Tensor) else 0


class Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = {"gemm": 0, "sync": 0, "view": 0, "kernel": 0}
        self.kernel_bytes = 0
        self.names = {}
        self.bytes = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__.rstrip("_")
        cls = "gemm" if name in GEMMS else "sync" if name in SYNCS else "view" if name in VIEWS else "kernel"
        self.n[cls] += 1
        self.names[name] = self.names.get(name, 0) + 1
        if cls == "kernel":
            flat = torch.utils._pytree.tree_leaves((args, kwargs, out))
            b = sum(_bytes(t) for t in flat)
            self.kernel_bytes += b
            self.bytes[name] = self.bytes.get(name, 0) + b
        return out


class Calls(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") not in ("__get__", "__set__", "dim", "size", "__len__", "__iter__"):
            self.n += 1
        return func(*args, **(kwargs or {}))


def experts_module(fam, experts, kernel):
    kw = {"mixtral": dict(hidden_size=64, intermediate_size=32, num_local_experts=experts),
          "qwen3_moe": dict(hidden_size=64, moe_intermediate_size=32, intermediate_size=128, num_experts=experts,
                            head_dim=16)}[fam]
    cfg = AutoConfig.for_model(fam, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                               num_experts_per_tok=2, vocab_size=128, **kw)
    cfg._experts_implementation = kernel
    mod = {"mixtral": "transformers.models.mixtral.modeling_mixtral",
           "qwen3_moe": "transformers.models.qwen3_moe.modeling_qwen3_moe"}[fam]
    cls = {"mixtral": "MixtralExperts", "qwen3_moe": "Qwen3MoeExperts"}[fam]
    m = getattr(__import__(mod, fromlist=[cls]), cls)(cfg)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return m, cfg


def run(fam, experts, kernel, tokens=64, top_k=2):
    torch.manual_seed(0)
    m, cfg = experts_module(fam, experts, kernel)
    x = torch.randn(tokens, cfg.hidden_size, requires_grad=True)
    # every expert hit, the same number of rows each: token t's k experts are (t + j * tokens / k) mod E
    idx = torch.stack([(torch.arange(tokens) + j * (tokens // top_k)) % experts for j in range(top_k)], dim=1)
    w = torch.softmax(torch.randn(tokens, top_k), dim=-1).requires_grad_()
    fwd, calls = Ops(), Calls()
    with calls, fwd:
        y = m(x, idx, w)
    bwd = Ops()
    with bwd:
        y.sum().backward()
    return {"torch_calls_fwd": calls.n, "fwd": fwd.n, "bwd": bwd.n, "fwd_kernel_bytes": fwd.kernel_bytes,
            "bwd_kernel_bytes": bwd.kernel_bytes, "fwd_ops": fwd.names, "bwd_ops": bwd.names,
            "fwd_bytes_by_op": fwd.bytes, "bwd_bytes_by_op": bwd.bytes}


out = {"transformers": transformers.__version__, "torch": torch.__version__, "tokens": 64, "top_k": 2,
       "hidden": 64, "expert_width": 32, "dtype": "float32", "cases": []}
for fam in ("mixtral", "qwen3_moe"):
    for kernel in ("eager", "grouped_mm"):
        for experts in (4, 8):
            out["cases"].append({"family": fam, "kernel": kernel, "experts": experts, **run(fam, experts, kernel)})
out["recorded"] = (f"{__import__('datetime').date.today()}, transformers {transformers.__version__}, "
                   f"torch {torch.__version__}, CPU, tests/make_hf_experts_ops.py")
print(json.dumps(out, indent=1))
