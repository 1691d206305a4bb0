"""A rough replay of torchtitan's Llama-3-8B FSDP-8 step through the caching allocator's default segments (mem56b).

Question: the torchao float8 README's MI300X rows (benchmarks/validate_memory.py, 2025-08, compiled blocks under per-op
SAC and a compiled loss) log ~3 GiB more max_reserved than the planner prices. Their torch (2.9 nightly, ROCm 6.4) ignored
torchtitan's ``expandable_segments:True`` (ROCm support: pytorch/pytorch#177974, 2026), so their pool ran on default
segments. How much of a pool like theirs do default segments leave unallocated?

The events (compute stream only: FSDP2's all-gather and reduce-scatter streams keep blocks of their own, of one size a
unit, and are left out), 8,192 tokens, bf16, at Llama 3 8B's sizes:

* forward, per block: the saves the compiled op-SAC block keeps (``SAVES``: its input, wq's and wv's outputs, the
  attention output, w1's output, the FFN norm's input; planner.model.activations prices 0.45 GiB a layer, these are 0.48)
  and its temporaries, allocated and freed (``FWD_TMP``);
* the LM head's 16-bit logits and the loss: compiled (the saved logits and their 16-bit gradient) or, for comparison,
  eager in torchtitan 2024's order (tests/test_mem56.py ``_loss_events``: fp32 copy, fp32 log-softmax, ``del pred``,
  the NLL and log-softmax gradients);
* backward, per block in reverse: the recomputed and flowing tensors (``BWD_TMP``) and the unsharded 16-bit weight
  gradients, freed with the block's saves;
* after the first step, AdamW's two fp32 moments per parameter shard (1/8), allocated while the step's freed blocks sit
  cached.

Run: ``python benchmarks/titan_pool_replay.py``. Result (mem56b, 2026-12-07), steady state from the second step:
compiled loss 26.89 GiB allocated, 28.25 reserved: 1.36 GiB unallocated, 7% of the 19.4 GiB of activations and logits
(the planner's reserve prices 5%, planner.model.memory ``FRAGMENTATION``); eager loss 3.45 GiB unallocated, of which
mem56's free 16-bit logits block is 1.96. So default segments explain ~0.4 GiB of the MI300X rows' 3 GiB in this
replay, not the rest (the streams left out could add more; not replayed). Indicative: the per-layer lists are
approximations, not a recording.

With FSDP2's streams (mem59, ``run(streams=True)``; ``alloc`` benchmarks/expandable_replay.py's ``DefaultPerStream``
or ``ExpandableAllocator``): the same compiled-loss step reserves 34.14 GiB on default segments and 32.77 on
expandable segments for 27.87 allocated -- 1.37 GiB apart, all on the compute stream (29.67 / 28.28); the all-gather
stream keeps ~1.0 GiB and the reduce-scatter stream 3.5 GiB (the fp32 gradient shards, freed by ``zero_grad``) mapped
under both. Since the H100 rows (expandable segments) sit within 0.5% with the planner's 5% reserve, the baseline for
the MI300X rows is the same step on expandable segments, not the 5%: default segments account for ~1.4 of their
~3.1 GiB in this replay, not the 0.4 above.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.allocator_replay import CachingAllocator, GiB  # noqa: E402

TOKENS, HIDDEN, FFN, KV, LAYERS, VOCAB = 8192, 4096, 14336, 1024, 32, 128256
X, F_, K = TOKENS * HIDDEN * 2, TOKENS * FFN * 2, TOKENS * KV * 2
SAVES = (X, X, K, X, F_, X)
FWD_TMP = (X, K, K, X, F_, F_, X)
BWD_TMP = (X, K, X, F_, F_, F_, X, X, K)
#: elements of wq, wk, wv, wo, w1, w2, w3
PARAMS = (HIDDEN * HIDDEN, HIDDEN * KV, HIDDEN * KV, HIDDEN * HIDDEN, HIDDEN * FFN, FFN * HIDDEN, HIDDEN * FFN)
FSDP = 8


def forward(a: CachingAllocator) -> list:
    """Every block's saves, each block's temporaries freed as it ends."""
    saves = []
    for _ in range(LAYERS):
        saves.append([a.malloc(s) for s in SAVES])
        for b in [a.malloc(s) for s in FWD_TMP]:
            a.free(b)
    return saves


def loss(a: CachingAllocator, eager: bool):
    """The logits and the loss up to the logits' gradient; returns the gradient's block."""
    n = TOKENS * VOCAB
    logits = a.malloc(2 * n)
    if not eager:  # compiled: the saved 16-bit logits beside their 16-bit gradient
        grad = a.malloc(2 * n)
        a.free(logits)
        return grad
    up, lsm = a.malloc(4 * n), a.malloc(4 * n)
    a.free(up)
    a.free(logits)
    d, e = a.malloc(4 * n), a.malloc(4 * n)
    a.free(d)
    a.free(lsm)
    grad = a.malloc(2 * n)
    a.free(e)
    return grad


def backward(a: CachingAllocator, saves: list, grad) -> None:
    """The head's backward, then each block's in reverse, freeing its saves."""
    dw_head, dh = a.malloc(VOCAB * HIDDEN * 2), a.malloc(X)
    a.free(grad)
    a.free(dw_head)
    for layer in reversed(range(LAYERS)):
        for b in [a.malloc(s) for s in BWD_TMP] + [a.malloc(p * 2) for p in PARAMS] + saves[layer]:
            a.free(b)
        nxt = a.malloc(X)
        a.free(dh)
        dh = nxt
    a.free(dh)


def optimizer_states(a: CachingAllocator) -> list:
    """AdamW's two fp32 moments per parameter shard (blocks, embedding and head)."""
    shards = [p * 4 // FSDP for p in PARAMS] * LAYERS + [VOCAB * HIDDEN * 4 // FSDP] * 2
    return [a.malloc(s) for s in shards for _ in range(2)]


#: a layer's and the embedding's / head's unsharded bf16 parameters: FSDP2's units (torchtitan 2025: the embedding
#: and ``[norm, output]`` units of their own, PR #1094)
UNIT, HEAD = sum(PARAMS) * 2, VOCAB * HIDDEN * 2


def forward_fsdp(a) -> tuple:
    """``forward`` with FSDP2's streams (mem59): each unit's all-gather output on the all-gather stream (1), copied
    out into its unsharded parameters on the compute stream and freed, the next unit's gathered ahead (prefetch);
    blocks resharded after their forward, the head unit kept (``reshard_after_forward=False``)."""
    saves, ag = [], a.malloc(HEAD, 1)
    emb = a.malloc(HEAD)
    a.free(ag)
    nxt = a.malloc(UNIT, 1)
    for layer in range(LAYERS):
        p = a.malloc(UNIT)
        a.free(nxt)
        nxt = a.malloc(UNIT if layer < LAYERS - 1 else HEAD, 1)
        saves.append([a.malloc(s) for s in SAVES])
        for b in [a.malloc(s) for s in FWD_TMP]:
            a.free(b)
        a.free(p)
    a.free(emb)
    head = a.malloc(HEAD)
    a.free(nxt)
    return saves, head


def backward_fsdp(a, saves: list, grad, head) -> list:
    """``backward`` with FSDP2's streams: each unit gathered again, its bf16 weight gradients copied into the fp32
    reduce-scatter input (compute stream, held until the next unit's reduce-scatter), the fp32 gradient shard made on
    the reduce-scatter stream (2) and kept as ``.grad`` until ``zero_grad``. Returns the shards."""
    dw_head, dh = a.malloc(HEAD), a.malloc(X)
    a.free(grad)
    rs = a.malloc(HEAD * 2)
    a.free(dw_head)
    grads = [a.malloc(HEAD * 2 // FSDP, 2)]
    a.free(head)
    for layer in reversed(range(LAYERS)):
        ag = a.malloc(UNIT, 1)
        p = a.malloc(UNIT)
        a.free(ag)
        for b in [a.malloc(s) for s in BWD_TMP] + saves[layer]:
            a.free(b)
        wg, nrs = [a.malloc(n * 2) for n in PARAMS], a.malloc(UNIT * 2)
        for b in wg + [rs, p]:
            a.free(b)
        grads.append(a.malloc(UNIT * 2 // FSDP, 2))
        rs, nxt = nrs, a.malloc(X)
        a.free(dh)
        dh = nxt
    a.free(dh)
    a.free(rs)
    return grads


def run(steps: int = 4, eager: bool = False, alloc=None, streams: bool = False, quiet: bool = False):
    """Replay ``steps`` steps through ``alloc`` (default segments on one stream by default; ``streams``: FSDP2's
    all-gather and reduce-scatter streams too, ``zero_grad`` freeing the shards at each step's start); print each
    step's peaks."""
    a, states, grads = alloc if alloc is not None else CachingAllocator(), [], []
    for step in range(steps):
        for g in grads:
            a.free(g)
        if streams:
            saves, head = forward_fsdp(a)
            grads = backward_fsdp(a, saves, loss(a, eager), head)
        else:
            backward(a, forward(a), loss(a, eager))
        if step == 0:
            states = optimizer_states(a)
        if not quiet:
            print(f"  step {step}: max_allocated {a.max_allocated / GiB:.2f} GiB, max_reserved "
                  f"{a.max_reserved / GiB:.2f} GiB, unallocated {(a.max_reserved - a.max_allocated) / GiB:.2f} GiB")
    del states
    return a


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ScriptArgs(description=__doc__.split("\n")[0]).parse_args(argv)
    from benchmarks.expandable_replay import DefaultPerStream, ExpandableAllocator
    for name, eager in (("compiled loss", False), ("eager loss", True)):
        print(name)
        run(eager=eager)
    for name, make in (("default segments", DefaultPerStream), ("expandable segments", ExpandableAllocator)):
        a = run(steps=3, alloc=make(), streams=True, quiet=True)
        print(f"{name}, FSDP2's streams, compiled loss: max_allocated {a.max_allocated / GiB:.2f} GiB, max_reserved "
              f"{a.max_reserved / GiB:.2f} GiB; compute stream {a.mapped(0) / GiB:.2f}, all-gather "
              f"{a.mapped(1) / GiB:.2f}, reduce-scatter {a.mapped(2) / GiB:.2f}")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
