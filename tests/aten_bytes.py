"""HBM bytes of a chain of eager torch ops, counted op by op on real aten calls (shared by tests/test_moe_time.py's
eager expert ops and tests/test_auto55.py's AutoModel bias loops).

A TorchDispatchMode sums, for every op but views, the bytes of every tensor argument and output it touches (a 0-d
tensor counts nothing): forward over ``fn()``, backward over its output's ``backward`` seeded with a random gradient
made outside the count."""
import pytest

#: aten ops that only re-view their input (no HBM pass)
VIEWS = {"view", "_unsafe_view", "split", "split_with_sizes", "slice", "narrow", "chunk", "unsqueeze",
         "squeeze", "expand", "alias", "t", "transpose", "detach", "as_strided", "select", "unbind"}


def hbm_bytes(fn):
    """(forward, backward) bytes that the aten ops of ``fn()`` read and write."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    n = [0]

    def size(x):
        return x.numel() * x.element_size() if isinstance(x, torch.Tensor) and x.dim() > 0 else 0

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket.__name__ not in VIEWS:
                flat = list(args) + list((kwargs or {}).values())
                flat = [y for x in flat for y in (x if isinstance(x, (list, tuple)) else [x])]
                outs = out if isinstance(out, (list, tuple)) else [out]
                n[0] += sum(size(x) for x in flat) + sum(size(x) for x in outs)
            return out

    with Count():
        out = fn()
    fwd = n[0]
    grad = torch.randn_like(out)
    with Count():
        out.backward(grad)
    return fwd, n[0] - fwd
