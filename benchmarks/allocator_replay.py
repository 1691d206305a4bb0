"""Replay a training loop's allocations through the CUDA caching allocator's rules: how much of the pool is not allocated.

The HF Trainer BERT-large V100 rows of benchmarks/validate_memory.py (the transformers docs page "Efficient Training on
a Single GPU", torch 1.10, 2022) measure nvidia-smi: the CUDA context plus the caching allocator's pool. The planner
prices the pool as the live bytes plus a 5% reserve (planner.model.memory ``FRAGMENTATION``). This script checks both
halves without a GPU (bert52):

* the allocations: BERT-large as transformers 4.16's ``BertForSequenceClassification`` computes it
  (models/bert/modeling_bert.py: q / k / v linears, ``matmul`` scores, ``/ sqrt(d)``, ``+ mask``, softmax, dropout,
  ``matmul`` with v, output dense + dropout + LayerNorm, GELU MLP, pooler and 2-wide classifier) on the meta device,
  each storage's birth and death recorded (a TorchDispatchMode and ``weakref.finalize`` on the storage), dropout as
  CUDA runs it (``native_dropout``'s 1 B mask), the softmax keeping its input as torch < 1.11 did (``--torch111``: as
  today), the Trainer 4.16 loop (``clip_grad_norm_`` at 1.0, transformers' ``AdamW`` a parameter at a time, then
  ``model.zero_grad()`` zeroing in place), three optimizer steps;
* the pool: c10/cuda/CUDACachingAllocator.cpp's native rules (torch 1.x; the defaults today without
  ``expandable_segments``): requests rounded up to 512 B; up to 1 MiB from the small pool, cut from 2 MiB segments;
  1-10 MiB from 20 MiB segments; larger ones a segment of their size rounded to 2 MiB; the smallest free block that
  fits, split where the rest is >= 512 B (small) or > 1 MiB (large); a freed block merges with free neighbours in
  its own segment only; segments are never returned (the run stays under the V100's 16 GiB).

Run: ``python benchmarks/allocator_replay.py [--torch111]``: per page row its peak allocated and reserved GiB, and the
page's figure less the 1343 MiB context it measured. Result (bert52, torch 1.10's softmax): reserved 13.21 / 7.14 /
5.28 GiB against 13.29 / 7.17 / 5.31 on the page (batch 4; batch 1 x 4 accumulation; the same checkpointed), 0.12-0.18
GiB of each pool unallocated: 1.9 / 3.7 / 8.6% of the planner's dynamic part (9.28 / 3.27 / 1.40 GiB), no one share
(bert53). With the context the planner charges this runtime (planner.hardware.cuda_runtime ``EAGER_CONTEXT_BYTES``,
1.32 GiB): 14.52 / 8.46 / 6.60 GiB against 14.60 / 8.48 / 6.62, -0.5 / -0.2 / -0.3% (bert53).
"""
from __future__ import annotations

import bisect
import math
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.present.script_args import ScriptArgs  # noqa: E402

MiB, GiB = 2**20, 2**30
#: c10/cuda/CUDACachingAllocator.cpp constants: kMinBlockSize, kSmallSize, kSmallBuffer, kLargeBuffer, kMinLargeAlloc,
#: kRoundLarge
MIN_BLOCK, SMALL_SIZE, SMALL_BUFFER, LARGE_BUFFER, MIN_LARGE_ALLOC, ROUND_LARGE = 512, MiB, 2 * MiB, 20 * MiB, \
    10 * MiB, 2 * MiB


def round_size(n: int) -> int:
    """A request's block size: at least 512 B, a multiple of 512 (``round_size``)."""
    return MIN_BLOCK * max(1, -(-n // MIN_BLOCK))


def segment_size(n: int) -> int:
    """The segment cudaMalloc'd for a rounded request no cached block fits (``get_allocation_size``)."""
    if n <= SMALL_SIZE:
        return SMALL_BUFFER
    if n < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return ROUND_LARGE * -(-n // ROUND_LARGE)


@dataclass(eq=False)
class Block:
    """A block of a segment: its size, address, neighbours in the segment, pool, and whether it is free."""

    size: int
    addr: int
    small: bool
    prev: "Block | None" = None
    next: "Block | None" = None
    free: bool = True


@dataclass
class CachingAllocator:
    """The native allocator on one stream (module docstring); ``reserved`` and ``allocated`` with their peaks."""

    pools: dict = field(default_factory=lambda: {True: [], False: []})  # sorted (size, addr, block) of free blocks
    reserved: int = 0
    allocated: int = 0
    max_reserved: int = 0
    max_allocated: int = 0
    _top: int = 0

    def _insert(self, b: Block) -> None:
        bisect.insort(self.pools[b.small], (b.size, b.addr, id(b), b))

    def _remove(self, b: Block) -> None:
        pool = self.pools[b.small]
        pool.pop(bisect.bisect_left(pool, (b.size, b.addr, id(b), b)))

    def malloc(self, n: int) -> Block:
        size = round_size(n)
        small = size <= SMALL_SIZE
        pool = self.pools[small]
        i = bisect.bisect_left(pool, (size, -1, -1, None))  # best fit: the smallest free block that holds it
        if i < len(pool):
            b = pool.pop(i)[3]
        else:
            seg = segment_size(size)
            b = Block(seg, self._top, small)
            self._top += seg
            self.reserved += seg
            self.max_reserved = max(self.max_reserved, self.reserved)
        rest = b.size - size
        if rest >= MIN_BLOCK if small else rest > SMALL_SIZE:  # ``should_split``
            r = Block(rest, b.addr + size, small, prev=b, next=b.next)
            if b.next is not None:
                b.next.prev = r
            b.next, b.size = r, size
            self._insert(r)
        b.free = False
        self.allocated += b.size
        self.max_allocated = max(self.max_allocated, self.allocated)
        return b

    def free(self, b: Block) -> None:
        b.free = True
        self.allocated -= b.size
        merge_neighbours(b, self._remove)
        self._insert(b)


def merge_neighbours(b, remove, mergeable=lambda nb: nb.free) -> None:
    """``try_merge_blocks``: ``b`` (just freed) absorbs each ``mergeable`` neighbour of its segment, which ``remove``
    takes out of the free pool first."""
    for nb in (b.prev, b.next):
        if nb is None or not mergeable(nb):
            continue
        remove(nb)
        if nb is b.prev:
            b.addr, b.prev = nb.addr, nb.prev
            if nb.prev is not None:
                nb.prev.next = b
        else:
            b.next = nb.next
            if nb.next is not None:
                nb.next.prev = b
        b.size += nb.size


def replay(events) -> CachingAllocator:
    """Run ``("alloc", key, bytes)`` / ``("free", key)`` events through a fresh ``CachingAllocator``."""
    a, live = CachingAllocator(), {}
    for ev in events:
        if ev[0] == "alloc":
            live[ev[1]] = a.malloc(ev[2])
        elif ev[1] in live:
            a.free(live.pop(ev[1]))
    return a


def bert_trainer_events(micro_batch: int, accumulation: int, checkpointing: bool, torch111: bool = False,
                        steps: int = 3, seq: int = 512) -> list:
    """The allocation events of the page's BERT-large Trainer run (module docstring), fp32, on the meta device."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.checkpoint import checkpoint

    events, seen = [], set()

    def born(storage) -> None:
        key = storage._cdata
        if key in seen or storage.nbytes() == 0:
            return
        seen.add(key)
        events.append(("alloc", key, storage.nbytes()))
        weakref.finalize(storage, lambda k=key: (events.append(("free", k)), seen.discard(k)))

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    born(t.untyped_storage())
            return out

    class Softmax110(torch.autograd.Function):
        """torch < 1.11's ``SoftmaxBackward``: ``self`` kept beside the result."""

        @staticmethod
        def forward(ctx, x):
            y = torch.softmax(x, -1)
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return torch.ops.aten._softmax_backward_data(g, y, -1, x.dtype)

    softmax = (lambda x: torch.softmax(x, -1)) if torch111 else Softmax110.apply
    h, heads, ffn, layers, vocab = 1024, 16, 4096, 24, 30522

    def dropout(x):  # CUDA's dropout: native_dropout, a 1 B mask kept (F.dropout off CUDA keeps a float one)
        return torch.ops.aten.native_dropout(x, 0.1, True)[0]

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
            self.i, self.out = nn.Linear(h, ffn), nn.Linear(ffn, h)
            self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)

        def forward(self, x, mask):
            b = x.shape[0]
            split = lambda y: y.view(b, seq, heads, h // heads).permute(0, 2, 1, 3)  # noqa: E731
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            p = dropout(softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(h // heads) + mask))
            c = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous().view(b, seq, h)
            a = self.ln1(dropout(self.o(c)) + x)
            return self.ln2(dropout(self.out(F.gelu(self.i(a)))) + a)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.words, self.pos, self.types = nn.Embedding(vocab, h), nn.Embedding(512, h), nn.Embedding(2, h)
            self.ln, self.layers = nn.LayerNorm(h, eps=1e-12), nn.ModuleList(Layer() for _ in range(layers))
            self.pooler, self.classifier = nn.Linear(h, h), nn.Linear(h, 2)

        def forward(self, ids, attention):
            b = ids.shape[0]
            pos = torch.arange(seq, device=ids.device).unsqueeze(0).expand(b, seq)
            x = dropout(self.ln(self.words(ids) + self.pos(pos) + self.types(torch.zeros_like(ids))))
            mask = (1.0 - attention[:, None, None, :].to(x.dtype)) * -10000.0
            for layer in self.layers:
                x = checkpoint(layer, x, mask, use_reentrant=True) if checkpointing else layer(x, mask)
            return self.classifier(dropout(torch.tanh(self.pooler(x[:, 0]))))

    with torch.device("meta"):
        model = Bert()
    params = list(model.parameters())
    for p in params:  # model.to("cuda"): each parameter its own allocation, first
        born(p.untyped_storage())
    state = {}
    with Record():
        for _ in range(steps):
            for _ in range(accumulation):
                ids = torch.zeros(micro_batch, seq, dtype=torch.long, device="meta")
                labels = torch.zeros(micro_batch, dtype=torch.long, device="meta")
                loss = F.cross_entropy(model(ids, torch.ones_like(ids)), labels) / accumulation
                loss.backward()
                del loss, ids, labels
            with torch.no_grad():
                # Trainer 4.16: clip_grad_norm_(max_grad_norm 1.0) as torch 1.10 writes it, transformers' AdamW
                # (optimization.py: zeros_like states at the first step, one denom a parameter), model.zero_grad()
                total = torch.norm(torch.stack([torch.norm(p.grad, 2.0) for p in params]), 2.0)
                for p in params:
                    p.grad.mul_(1.0 / (total + 1e-6))
                del total
                for p in params:
                    if p not in state:
                        state[p] = (torch.zeros_like(p), torch.zeros_like(p))
                    m, v = state[p]
                    m.mul_(0.9).add_(p.grad, alpha=0.1)
                    v.mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
                    p.addcdiv_(m, v.sqrt().add_(1e-6), value=-1e-3)
                for p in params:
                    p.grad.zero_()  # torch < 2.0: set_to_none=False
    return events


#: the page's fp32 rows (benchmarks/data/parts/peak_memory.csv): id -> (micro-batch, accumulation, checkpointing)
ROWS = {"hfdoc_bertlarge_bs4": (4, 1, False), "hfdoc_bertlarge_bs1_ga4": (1, 4, False),
        "hfdoc_bertlarge_bs1_ga4_gc": (1, 4, True)}


def main(argv=None) -> None:
    import pandas as pd

    from benchmarks.validate_memory import DATA
    from planner.hardware.cuda_runtime import CUDA_RUNTIME_FIGURES, EAGER_CONTEXT_BYTES

    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--torch111", action="store_true", help="the softmax as torch >= 1.11 saves it (no input)")
    args = ap.parse_args(argv)
    page = pd.read_csv(DATA).set_index("id")["measured_gib"]
    for rid, (mb, ga, gc) in ROWS.items():
        a = replay(bert_trainer_events(mb, ga, gc, args.torch111))
        # the page's figure less the context it measured (``torch.ones((1,1)).to('cuda')``, nvidia-smi); the replay's
        # pool plus the context the planner charges this runtime (bert53)
        pool = page[rid] - CUDA_RUNTIME_FIGURES["eager_context_hf"].nbytes / GiB
        whole = (a.max_reserved + EAGER_CONTEXT_BYTES) / GiB
        print(f"{rid}: allocated {a.max_allocated / GiB:.3f} GiB, reserved {a.max_reserved / GiB:.3f} "
              f"(unallocated {(a.max_reserved - a.max_allocated) / GiB:.3f}); the page less its context {pool:.3f}; "
              f"reserved + the eager context {whole:.3f} against the page's {page[rid]:.3f} ({whole / page[rid] - 1:+.1%})")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
