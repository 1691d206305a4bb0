"""speed41: the HF-stack memory pass's fixed cost -- each block's liveness walk recorded once per kind of block and
replayed (activations_hf ``_Tape``), the saved-tensor rows computed once per kind of block, the HF table read once per
(micro-batch, checkpointing) of a memory call. Every figure must be the one the block-by-block walk gives."""
from __future__ import annotations

import functools
import itertools
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import resolve
from planner.spec import ModelSpec, load_job
from planner.spec.hf import hf_config_to_fields
from planner.spec.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
FLOPS = json.loads((ROOT / "tests" / "data" / "hf_flops.json").read_text())["families"]


def _bits(s) -> tuple:
    """A result's fields as their 64-bit patterns (== would take -0.0 for 0.0)."""
    return tuple(struct.pack("<d", float(v)) for v in s.__dict__.values())


def _family(fam: str) -> tuple[ModelSpec, str]:
    fields = hf_config_to_fields(FLOPS[fam]["resolved_config"])
    if fam == "llama4_text":
        fields["moe"]["all_experts_compute"] = True
    return ModelSpec(**fields), FLOPS[fam]["resolved_config"]["model_type"]


#: every family's recorded config (local and global layers, dense and MoE blocks, MLA, sinks, post-norms) and two
#: presets whose blocks are not all alike (Gemma 3's sliding / global pattern, Qwen3-MoE)
MODELS = [_family(f) for f in sorted(FLOPS)] + [
    (ModelSpec(**PRESETS[p]), AH.hf_model_type(ModelSpec(**PRESETS[p]))) for p in ("gemma3-12b", "qwen3-30b-a3b")]


@pytest.mark.parametrize("m,mt", MODELS, ids=[mt for _, mt in MODELS])
def test_replayed_walk_is_the_block_by_block_walk(monkeypatch, m, mt):
    """``hf_step_memory`` with each block's walk replayed equals, bit for bit, the walk of every block in turn
    (``_blocks_backward(replay=False)``, the code before speed41) over precisions, attention kernels, checkpointing,
    kept gradients, weight casts, Liger's loss and the held output."""
    cases = list(itertools.product(((64, 2), (128, 1)), ("bf16", "amp_bf16", "fp32"), ("eager", "sdpa"),
                                   (False, True), (True, False), (True, False), (False, True), (True, False)))
    fast = [AH.hf_step_memory(m, mt, s, b, p, i, gc, kg, wc, fce, held)
            for (s, b), p, i, gc, kg, wc, fce, held in cases]
    monkeypatch.setattr(AH, "_blocks_backward", functools.partial(AH._blocks_backward, replay=False))
    slow = [AH.hf_step_memory(m, mt, s, b, p, i, gc, kg, wc, fce, held)
            for (s, b), p, i, gc, kg, wc, fce, held in cases]
    assert [_bits(x) for x in fast] == [_bits(x) for x in slow]


def test_tape_rounds_as_the_walk_does():
    """A recorded sequence with a restart from an earlier level (``start`` in ``_block_backward``), operands that
    round (0.1, 1e16, ints past 2^53, -0.0), replayed from several start levels: level and peak bit for bit those of
    the same ops on a ``_Walk``."""
    def block(w):
        w.level += 0.1 + 3
        w.op(1e16, 0.3)
        start = w.level
        w.op(2 ** 53 + 1, 0.7)
        w.op(-0.0, 1e16 + 2)
        w.level = start + 0.2 - 1e-3 - (2 ** 60 + 3)
        w.op(0.1)
        w.level -= 0.1

    tape = AH._Tape()
    block(tape)
    for start in (0.0, 0.1, 1e15 + 0.5, -3.3, 2 ** 62):
        ref, got = AH._Walk(start), AH._Walk(start)
        for _ in range(3):  # consecutive blocks, each from where the last left the level
            block(ref)
            tape.replay(got)
        assert struct.pack("<dd", ref.level, ref.peak) == struct.pack("<dd", got.level, got.peak)


def test_saved_rows_computed_once_per_kind_of_block():
    """``saved_rows`` gives the blocks of one kind (attention local or not, MoE or dense) one row object: Gemma 3's
    48 blocks have two kinds, Llama's one; the totals are the rows' sum."""
    for preset, kinds in (("gemma3-12b", 2), ("llama3-70b", 1), ("qwen3-30b-a3b", 1)):
        m = ModelSpec(**PRESETS[preset])
        blocks, _, rows = AH.saved_rows(m, AH.hf_model_type(m), 256, 2, "amp_bf16", "sdpa", False)
        assert len(rows) == m.layers and len({id(r) for r in rows}) == kinds


def test_hf_table_read_once_per_microbatch_and_checkpointing(monkeypatch):
    """A memory call under the HF Trainer stack reads ``hf_activations`` once per distinct (micro-batch,
    checkpointing, precision) of its candidates, not once per (micro-batch, recompute, tp, cp, sp) key (36 on this set,
    12 now: the amp table at ZeRO-0/1, the bf16 one where FSDP gathers bf16 weights at ZeRO-2/3, hffsdp47), and a second call on the same model and shapes reads it no more (``memory_activations._HF_TABLES``, kept as the
    walks are); both calls give the same bytes."""
    from planner.model import memory_activations as MA

    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    rng = np.random.default_rng(0)
    n = 2_000
    tp = rng.choice([1, 2, 4, 8], n)
    c = Candidates(tp=tp, pp=rng.choice([1, 2, 4], n), dp=np.full(n, 8), cp=1, ep=1, vpp=1, zero=rng.integers(0, 4, n),
                   mb=rng.choice([1, 2, 4], n), rc=rng.integers(0, 3, n), sp=tp > 1, schedule=0, gpus_per_node=8,
                   nodes=np.full(n, 8))
    stack = resolve("hf-trainer")
    calls = []
    orig = AH.hf_activations

    def counted(m, seq, batch, precision, impl, checkpointing, *a, **k):
        calls.append((batch, checkpointing, precision))
        return orig(m, seq, batch, precision, impl, checkpointing, *a, **k)

    monkeypatch.setattr(AH, "hf_activations", counted)
    monkeypatch.setattr(MA, "_HF_TABLES", {})
    first = memory_per_gpu(job.model, job.training, c, stack=stack)
    assert len(calls) == len(set(calls)) == 12
    again = memory_per_gpu(job.model, job.training, c, stack=stack)
    assert len(calls) == 12
    for k in first:
        assert np.asarray(first[k]).tobytes() == np.asarray(again[k]).tobytes(), k


def test_split_and_chunks_derived_once_per_columns():
    """``split_vpp`` and ``Candidates.chunks`` are computed once while ``vpp`` and ``schedule`` are the same arrays,
    read-only (a caller's write cannot reach the next caller), afresh when a column is reassigned, and equal to
    the computation from the columns; rows that are not Candidates are computed as before."""
    from types import SimpleNamespace

    from planner.layout import V_SPLIT, _chunks, _split_vpp, split_vpp
    from planner.vocab import SCHEDULE

    n = 50
    rng = np.random.default_rng(3)
    sched = rng.choice([SCHEDULE.code["1f1b"], SCHEDULE.code["interleaved"], SCHEDULE.code["dualpipev"]], n)
    c = Candidates(tp=np.ones(n, dtype=np.int64), pp=rng.choice([2, 4], n), dp=2, cp=1, ep=1, vpp=rng.choice([1, 2, 3], n), zero=0, mb=1, rc=0,
                   sp=False, schedule=sched, gpus_per_node=8, nodes=1)
    s, ch = split_vpp(c), c.chunks
    assert split_vpp(c) is s and c.chunks is ch
    assert not s.flags.writeable and not ch.flags.writeable
    assert np.array_equal(s, _split_vpp(c.vpp, c.schedule)) and np.array_equal(ch, _chunks(c.vpp, c.schedule))
    assert (s == V_SPLIT).sum() == (sched == SCHEDULE.code["dualpipev"]).sum()
    c.vpp = np.where(c.vpp == 3, 4, c.vpp)  # reassigned: computed afresh
    assert split_vpp(c) is not s and np.array_equal(split_vpp(c), _split_vpp(c.vpp, c.schedule))
    assert np.array_equal(c.chunks, _chunks(c.vpp, c.schedule)) and c.chunks.max() == 4
    rows = SimpleNamespace(vpp=np.array([0, 2]), schedule=np.array([SCHEDULE.code["dualpipev"], 0]))
    assert split_vpp(rows).tolist() == [V_SPLIT, 2]
