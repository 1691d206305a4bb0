"""The CUDA caching allocator under ``expandable_segments:True``, per stream, for replaying allocation traces (mem59).

benchmarks/allocator_replay.py models the default segments (a cudaMalloc a large request). torchtitan's launcher sets
``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`` (run_llama_train.sh in 2024; run_train.sh since), and CUDA
builds honour it, so the torchtitan 2024-12 H100 rows of benchmarks/validate_memory.py logged max_reserved of this
pool. Its rules, as c10/cuda/CUDACachingAllocator.cpp writes them (the 2024-2026 versions read the same here):

* one segment per (stream, pool): ``find_expandable_block`` searches ``pool->unmapped`` only for blocks of the
  request's stream, and makes a new ``ExpandableSegment(device, stream, segment_size, ...)`` otherwise; a virtual
  range of 1 1/8 the GPU's memory, mapped on demand in pages of ``segment_size`` (``kLargeBuffer`` 20 MiB in the
  large pool, ``kSmallBuffer`` 2 MiB in the small one: ``ExpandableSegment::map`` rounds the range to
  ``segmentLeft`` / ``segmentRight``);
* ``get_free_block``: the smallest free mapped block of the request's stream and pool at least the request
  (``pool.blocks.lower_bound``, ordered by stream, size, address), except that a block followed by the unmapped
  range counts as its ``expandable_size`` (its size plus the unmapped range), so a fitting block in the middle is
  preferred to the one at the top; with ``max_split_size`` set, a request under it takes no free block at or over
  it, and a request over it no block ``kLargeBuffer`` or more larger;
* no free block fits: ``try_allocate_expandable_block`` takes the lowest unmapped range of the stream's segment, the
  free block just below it included (``allocatable(c->prev)``), and maps only what the request lacks; so the pool
  grows by the request less the free block at the top, in whole pages;
* ``should_split``: with expandable segments any rest of 512 B or more is split off (default segments: more than
  1 MiB in the large pool); a freed block merges with free mapped neighbours (``try_merge_blocks``), so free bytes
  are contiguous unless an allocated block sits between them;
* reserved = the mapped bytes (``map_block`` raises ``reserved_bytes`` by the mapped range); pages are unmapped only by
  ``empty_cache`` or the release-and-retry before an out-of-memory error, neither modelled: max_reserved is the sum
  over (stream, pool) of each segment's highest mapped address.

So under expandable segments the pool's high-water mark is, per stream, the top of a best-fit heap -- a free hole
below the top serves a request only if it is large enough on its own -- and a stream's mapped pages never serve
another stream. The replay takes ``("alloc", key, bytes[, stream])`` / ``("free", key)`` events (``replay``);
``DefaultPerStream`` is the default segments' pool with the same per-stream split.

Checked against published behaviour (tests/test_mem59.py): pytorch/pytorch#193400's reproducer (reserved +2,760..2,780
MiB every 20 cycles with ``max_split_size_mb:128``, flat without), the devlog's 8 x 16 then 4 x 32 MiB case. Used for
the torchtitan 2024-12 rows' residues (mem59; docs/accuracy_log.md), coarse traces, indicative:

* ``pp_last_rank``, the 405B 1F1B last rank: ``step``'s 15.66 GiB merge finds a free range (the last backward has
  freed the stage's unsharded weights and fp32 accumulators) and maps nothing -- and the CP 1 row has the same sizes;
* ``tp_2d``, the 70B 2D step: plain TP's full-length row-parallel outputs fall in holes below the loss's top, so plain
  and async TP reserve the same.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from benchmarks.allocator_replay import (LARGE_BUFFER, MIN_BLOCK, SMALL_BUFFER, SMALL_SIZE, merge_neighbours,
                                         round_size)


@dataclass(eq=False)
class Span:
    """A block of one expandable segment: size, address, neighbours; ``mapped`` False only for the unmapped top."""

    size: int
    addr: int
    key: tuple
    prev: "Span | None" = field(default=None, repr=False)
    next: "Span | None" = field(default=None, repr=False)
    free: bool = True
    mapped: bool = True


@dataclass
class ExpandableAllocator:
    """``expandable_segments:True`` (module docstring); ``page`` the large pool's mapping granularity, ``max_split``
    ``max_split_size_mb`` in bytes (None: unset, the default)."""

    page: int = LARGE_BUFFER
    max_split: int | None = None
    free_blocks: dict = field(default_factory=dict)  # (stream, small) -> sorted [(size, addr, id, span)]
    tops: dict = field(default_factory=dict)  # (stream, small) -> the segment's unmapped span
    reserved: int = 0
    allocated: int = 0
    max_reserved: int = 0
    max_allocated: int = 0

    def _pool(self, key: tuple) -> list:
        if key not in self.tops:  # a new segment: its whole range unmapped; address ranges of segments kept apart
            self.tops[key] = Span(1 << 50, len(self.tops) << 50, key, mapped=False)
            self.free_blocks[key] = []
        return self.free_blocks[key]

    def _insert(self, s: Span) -> None:
        bisect.insort(self.free_blocks[s.key], (s.size, s.addr, id(s), s))

    def _remove(self, s: Span) -> None:
        pool = self.free_blocks[s.key]
        pool.pop(bisect.bisect_left(pool, (s.size, s.addr, id(s), s)))

    def _expandable_size(self, s: Span) -> int:
        return s.size + (s.next.size if s.next is not None and not s.next.mapped else 0)

    def _free_block(self, key: tuple, size: int) -> Span | None:
        """``get_free_block``: best fit, the top block counted at its expandable size, ``max_split_size``'s rules."""
        pool = self._pool(key)
        i = bisect.bisect_left(pool, (size, -1, -1, None))
        if i == len(pool):
            return None
        while i + 1 < len(pool) and self._expandable_size(pool[i + 1][3]) < self._expandable_size(pool[i][3]):
            i += 1
        s = pool[i][3]
        if self.max_split is not None and (size < self.max_split <= s.size
                                           or self.max_split <= size and s.size >= size + LARGE_BUFFER):
            return None
        self._remove(s)
        return s

    def _map(self, key: tuple, size: int, page: int) -> Span:
        """``try_allocate_expandable_block``: the free block below the unmapped top (if any) plus the pages it lacks."""
        top = self.tops[key]
        below = top.prev if top.prev is not None and top.prev.free else None
        need = size - (below.size if below is not None else 0)
        grow = page * -(-need // page)
        self.reserved += grow
        self.max_reserved = max(self.max_reserved, self.reserved)
        if below is not None:
            self._remove(below)
            below.size += grow
            s = below
        else:
            s = Span(grow, top.addr, key, prev=top.prev)
            if top.prev is not None:
                top.prev.next = s
        s.next, top.prev = top, s
        top.addr += grow
        return s

    def malloc(self, n: int, stream: int = 0) -> Span:
        size = round_size(n)
        small = size <= SMALL_SIZE
        key = (stream, small)
        s = self._free_block(key, size) or self._map(key, size, SMALL_BUFFER if small else self.page)
        if s.size - size >= MIN_BLOCK:  # ``should_split`` under expandable segments
            r = Span(s.size - size, s.addr + size, key, prev=s, next=s.next)
            s.next.prev = r
            s.next, s.size = r, size
            self._insert(r)
        s.free = False
        self.allocated += s.size
        self.max_allocated = max(self.max_allocated, self.allocated)
        return s

    def free(self, s: Span) -> None:
        s.free = True
        self.allocated -= s.size
        merge_neighbours(s, self._remove, lambda nb: nb.free and nb.mapped)  # the unmapped top never merges
        self._insert(s)

    def mapped(self, stream: int = 0) -> int:
        """The mapped bytes of ``stream``'s segments (both pools)."""
        return sum(t.addr - ((t.addr >> 50) << 50) for (st, _), t in self.tops.items() if st == stream)


@dataclass
class DefaultPerStream:
    """Default segments (benchmarks/allocator_replay.py ``CachingAllocator``) with one pool per stream: a block is
    cached for the stream it was allocated on (``get_free_block`` searches the request's stream only) -- what ROCm
    torch before pytorch/pytorch#177974 ran whatever ``expandable_segments`` said. Same interface as
    ``ExpandableAllocator``; reserved and allocated are the streams' sums, their peaks the sums' peaks."""

    streams: dict = field(default_factory=dict)
    max_reserved: int = 0
    max_allocated: int = 0

    def _pool(self, stream: int):
        from benchmarks.allocator_replay import CachingAllocator
        return self.streams.setdefault(stream, CachingAllocator())

    def _peaks(self) -> None:
        self.max_reserved = max(self.max_reserved, sum(a.reserved for a in self.streams.values()))
        self.max_allocated = max(self.max_allocated, sum(a.allocated for a in self.streams.values()))

    def malloc(self, n: int, stream: int = 0):
        b = self._pool(stream).malloc(n)
        b.stream = stream
        self._peaks()
        return b

    def free(self, b) -> None:
        self._pool(b.stream).free(b)
        self._peaks()

    def mapped(self, stream: int = 0) -> int:
        """The reserved bytes of ``stream``'s segments."""
        return self._pool(stream).reserved


def replay(events, alloc=None):
    """Run ``("alloc", key, bytes[, stream])`` / ``("free", key)`` events through ``alloc`` (a fresh
    ``ExpandableAllocator`` by default); returns it."""
    a, live = alloc if alloc is not None else ExpandableAllocator(), {}
    for ev in events:
        if ev[0] == "alloc":
            live[ev[1]] = a.malloc(ev[2], *ev[3:])
        elif ev[1] in live:
            a.free(live.pop(ev[1]))
    return a


# The 405B 1F1B row's last rank (torchtitan 2024-12: Llama 3.1 405B, TP 8 + SP, PP 8, FSDP 8, full recompute, 8
# micro-batches of 32,768 tokens, the last stage's 8 fp32 outputs kept and merged by ``step``; mem57, mem58), coarse:
# 16 layers; per layer its saved input on the sequence shard and a recompute working set; the stage's unsharded bf16
# weights gathered at the first forward (the all-gather buffer on a second stream) and kept, its fp32 accumulators made
# at the first backward and reduce-scattered at the last (the gradient shards on that stream); the loss parallel's
# fp32 logit-sized buffers; the merge's ``torch.cat`` after the last backward. Sizes in bytes.
_X, _G, _FF = 4096 * 16384 * 2, 32768 * 16384 * 2, 32768 * 6656 * 2  # SP-shard input, gathered input, FFN shard
_W = 398_000_000 * 2  # a layer's parameters at TP 8, bf16 (the accumulator twice it)
_LOGITS = 32768 * 16032 * 4  # a micro-batch's fp32 logits of the vocabulary shard: 1.96 GiB
_HEAD = 16032 * 16384 * 2
_TMP = (_G, _FF, _FF, _FF, _G)


def _forward(a, layers: int, params: list, first: bool) -> tuple:
    """One micro-batch's forward: saved inputs, the head's gathered input, the kept fp32 output, the loss's save."""
    saves = []
    for _ in range(layers):
        if first:
            ag = a.malloc(_W, 1)
            params.append(a.malloc(_W))
            a.free(ag)
        saves.append(a.malloc(_X))
        for t in [a.malloc(s) for s in _TMP]:
            a.free(t)
    saves += [a.malloc(_X), a.malloc(_G)]  # the final norm's output, the head's all-gathered input
    low = a.malloc(_LOGITS // 2)
    out = a.malloc(_LOGITS)
    a.free(low)
    tmp = [a.malloc(_LOGITS), a.malloc(_LOGITS)]
    lsm = a.malloc(_LOGITS)
    for t in tmp:
        a.free(t)
    return saves, out, lsm


def _backward(a, saves: list, lsm, accs: list, params: list, grads: list, last: bool) -> None:
    """The loss's and the head's backward, then each layer's: recompute, weight gradient into its accumulator, and at
    the last micro-batch the reduce-scatter (the input on the compute stream, the shard on stream 1) and the reshard."""
    tmp = [a.malloc(_LOGITS), a.malloc(_LOGITS)]
    g = a.malloc(_LOGITS)
    for t in tmp + [lsm]:
        a.free(t)
    gl = a.malloc(_LOGITS // 2)
    a.free(g)
    dx, dw = a.malloc(_G), a.malloc(_HEAD)
    if accs[-1] is None:
        accs[-1] = a.malloc(2 * _HEAD)
    for t in (dw, gl, saves.pop(), saves.pop()):
        a.free(t)
    d = a.malloc(_X)
    a.free(dx)
    for layer in reversed(range(len(saves))):
        ts, wg = [a.malloc(s) for s in _TMP + _TMP], a.malloc(_W)
        if accs[layer] is None:
            accs[layer] = a.malloc(2 * _W)
        for t in ts + [wg, saves[layer], d]:
            a.free(t)
        d = a.malloc(_X)
        if last:
            rs = a.malloc(2 * _W)
            a.free(accs[layer])
            grads.append(a.malloc(2 * _W // 8, 1))
            a.free(rs)
            a.free(params[layer])
    a.free(d)
    if last:
        a.free(accs[-1])


def pp_last_rank(steps: int = 3, micro_batches: int = 8, layers: int = 16) -> list:
    """Replay the last rank's steps; per step (reserved before the merge, reserved after it, max_allocated)."""
    a = ExpandableAllocator()
    fixed = [a.malloc(16 * 2**30)] + [a.malloc(_X) for _ in range(micro_batches)]  # states; receive buffers
    grads, kept, rows = [], [], []
    for _ in range(steps):
        for t in grads + kept:  # ``zero_grad`` and ``clear_runtime_states``
            a.free(t)
        grads, kept, params, accs = [], [], [], [None] * (layers + 1)
        for i in range(micro_batches):
            saves, out, lsm = _forward(a, layers, params, i == 0)
            kept.append(out)
            _backward(a, saves, lsm, accs, params, grads, i == micro_batches - 1)
        before = a.reserved
        a.free(a.malloc(micro_batches * _LOGITS))  # ``_merge_outputs``: its return discarded by train.py
        rows.append((before, a.reserved, a.max_allocated))
    del fixed
    return rows


# The 70B 2D rows (Llama 3.1 70B, FSDP 32 x TP 8 + SP, 16 x 8,192 tokens a rank, full recompute, float8 linears,
# torchtitan's loss parallel on fp32 logits of the vocabulary shard), coarse: per compiled block the forward's
# allocation order (norm, float8 cast, all-gathered input, q / k / v, rotary copies, attention output, float8 cast,
# the row-parallel output and its reduce-scattered shard, the residual; the same for the SwiGLU MLP). Plain TP
# materialises each row-parallel output at full sequence length (2 GiB) before the reduce-scatter; async TP's
# ``fused_matmul_reduce_scatter`` produces it chunk by chunk in SymmetricMemory, outside the pool.
_T, _H, _F, _Q, _KV, _V = 131072, 8192, 28672 // 8, 1024, 128, 128256 // 8
_XS = _T // 8 * _H * 2  # the sequence shard of one activation: 256 MiB
_P70 = 107_000_000 * 2  # a layer's unsharded bf16 parameters at TP 8


def _block(a, async_tp: bool):
    """One block's forward (or its recompute): every temporary freed, the output returned."""
    def run(seq):
        live = {}
        for op, name, n in seq:
            if op == "a":
                live[name] = a.malloc(n)
            else:
                a.free(live.pop(name))
        return live
    full = [] if async_tp else [("a", "full", _T * _H * 2)]
    rs = full + [("a", "part", _XS)] + ([] if async_tp else [("f", "full", 0)])
    attn = [("a", "n", _XS), ("a", "n8", _XS // 2), ("f", "n", 0), ("a", "g", _T * _H), ("f", "n8", 0),
            ("a", "q", _T * _Q * 2), ("a", "k", _T * _KV * 2), ("a", "v", _T * _KV * 2), ("f", "g", 0),
            ("a", "q2", _T * _Q * 2), ("a", "k2", _T * _KV * 2), ("f", "q", 0), ("f", "k", 0),
            ("a", "o", _T * _Q * 2), ("f", "q2", 0), ("f", "k2", 0), ("f", "v", 0), ("a", "o8", _T * _Q),
            ("f", "o", 0)] + rs[:1] + [("f", "o8", 0)] + rs[1:] + [("a", "h", _XS), ("f", "part", 0)]
    mlp = [("a", "n", _XS), ("a", "n8", _XS // 2), ("f", "n", 0), ("a", "g", _T * _H), ("f", "n8", 0),
           ("a", "w1", _T * _F * 2), ("a", "w3", _T * _F * 2), ("f", "g", 0), ("a", "s", _T * _F * 2),
           ("f", "w1", 0), ("f", "w3", 0), ("a", "s8", _T * _F), ("f", "s", 0)] + rs[:1] + [("f", "s8", 0)] + rs[1:]
    live = run(attn + mlp)
    out = a.malloc(_XS)
    for name in ("part", "h"):
        a.free(live.pop(name))
    return out


def _loss(a) -> None:
    """The head and loss parallel: 16-bit logits, their fp32 copy, the log-softmax forward and backward buffers."""
    n = _T * _V
    hin, low = a.malloc(_T * _H * 2), a.malloc(2 * n)
    up = a.malloc(4 * n)
    a.free(low)
    tmp = [a.malloc(4 * n), a.malloc(4 * n)]
    lsm = a.malloc(4 * n)
    for t in tmp + [up]:
        a.free(t)
    tmp = [a.malloc(4 * n) for _ in range(3)]
    g = a.malloc(4 * n)
    for t in tmp + [lsm]:
        a.free(t)
    gl = a.malloc(2 * n)
    for t in (g, gl, hin):
        a.free(t)


def tp_2d(async_tp: bool, steps: int = 2, layers: int = 80) -> ExpandableAllocator:
    """Replay the 70B 2D step: ``zero_grad``, the forward (each layer's weights all-gathered on stream 1), the loss,
    each layer's recompute and backward (a second pass of the block's temporaries, its gradient reduce-scattered to
    a shard on stream 2)."""
    a, grads = ExpandableAllocator(), []
    states = a.malloc(int(4.7 * 2**30))  # fp32 shards, moments
    for _ in range(steps):
        for g in grads:
            a.free(g)
        grads, saves = [], [a.malloc(_XS)]
        for _ in range(layers):
            ag, p = a.malloc(_P70, 1), a.malloc(_P70)
            a.free(ag)
            saves.append(_block(a, async_tp))
            a.free(p)
        _loss(a)
        d = a.malloc(_XS)
        for layer in reversed(range(layers)):
            ag, p = a.malloc(_P70, 1), a.malloc(_P70)
            a.free(ag)
            for _ in range(2):
                a.free(_block(a, async_tp))
            rs = a.malloc(2 * _P70)
            grads.append(a.malloc(2 * _P70 // 32, 2))
            for t in (rs, p, saves[layer + 1], d):
                a.free(t)
            d = a.malloc(_XS)
        a.free(d)
        a.free(saves[0])
    del states
    return a
