"""speed59: ``pipeline.accumulator_states`` replays one rank's interleaved order as arrays (``_interleaved_ops``)
where it built every stage's op list (``stage_orders``, each stage rebuilding the virtual forward and backward
orders) and walked the rank's in Python; ``stage_orders`` builds the virtual orders once; and
``memory_activations._stacked_inflight`` fills its padded stack in place. The same values, bit for bit
(``benchmarks/recommend_json_diff.py --every``); these tests hold them to the old code's replays."""
import itertools

import numpy as np
import pytest

from planner.model import memory_activations as MA
from planner.model import pipeline as P


def _old_accumulator_states(pp, m, vpp, rank, group=None):
    """The replay as it stood before speed59: every stage's list built, ``sum(held)`` over the chunks each op."""
    if m * vpp > P.ACCUMULATOR_REPLAY_OPS:
        return None
    held, seen, live, out = [0] * vpp, [0] * vpp, 0, set()
    for kind, _, chunk in P.stage_orders("interleaved", pp, m, vpp, group=group)[rank]:
        if kind == "F":
            held[chunk] += 1
        else:
            held[chunk] -= 1
            seen[chunk] += 1
            live += (seen[chunk] == 1) - (seen[chunk] == m)
        out.add((sum(held), live))
    return np.array(sorted(out), dtype=np.float64)


def test_interleaved_ops_are_the_ranks_stage_order():
    """Each op's kind and chunk as ``stage_orders("interleaved", ...)[rank]`` lists them (micro-batch groups of the
    default size and set ones, m below, at and past pp, the depths vpp58 searches)."""
    for pp, m, v, group in itertools.product((2, 3, 4, 8), (1, 2, 3, 5, 8, 13, 16, 40), (2, 3, 5, 8, 10),
                                             (None, 2, 4)):
        orders = P.stage_orders("interleaved", pp, m, v, 0, group)
        for r in range(pp):
            fwd, chunk = P._interleaved_ops(pp, m, v, r, group)
            assert fwd.tolist() == [k == "F" for k, _, _ in orders[r]], (pp, m, v, r, group)
            assert chunk.tolist() == [c for _, _, c in orders[r]], (pp, m, v, r, group)


def test_accumulator_states_match_the_full_replay():
    """The interleaved depths vpp58 searches (5, 8, 10) beside 2 and 3, ranks first to last, m below and past pp."""
    P.accumulator_states.cache_clear()
    for pp, m, v, group in itertools.product((2, 3, 4, 8), (1, 2, 4, 7, 8, 16, 32), (2, 3, 5, 8, 10), (None, 4)):
        for r in range(pp):
            got, want = P.accumulator_states(pp, m, v, r, group), _old_accumulator_states(pp, m, v, r, group)
            if want is None:
                assert got is None
                continue
            assert got.shape == want.shape and got.tobytes() == want.tobytes(), (pp, m, v, r, group)
            assert not got.flags.writeable


def test_accumulator_states_builds_no_op_list(monkeypatch):
    """The replay reads arrays, not ``stage_orders``' tuples of every stage (fails before speed59: it built all pp
    stages' lists, each rebuilding the virtual orders, then walked one in Python)."""
    built = []
    monkeypatch.setattr(P, "stage_orders", lambda *a, **k: built.append(a) or [])
    P.accumulator_states.cache_clear()
    try:
        got = P.accumulator_states(8, 16, 5, 3)
    finally:
        P.accumulator_states.cache_clear()
    assert built == [] and got is not None and len(got) > 1


def _old_stacked(pp, v, rank, group, paired, ms):
    hs = [P.chunk_inflight_paired(pp, mm, v, rank, group) if paired else P.chunk_inflight(pp, mm, v, rank, group)
          for mm in ms]
    top = max(h.shape[0] for h in hs)
    return np.stack([np.concatenate([h, np.repeat(h[:1], top - h.shape[0], axis=0)]) for h in hs])


def test_stacked_inflight_pads_each_vector_list_with_its_first():
    """The padded stack equals the concatenation it replaced, in dtype, shape and bits, read-only (a contract:
    passes before speed59 too)."""
    MA._stacked_inflight.cache_clear()
    for pp, v, paired in itertools.product((2, 4, 8), (2, 5, 10), (0, 1)):
        for ms in ((pp,), (pp, 2 * pp, 4 * pp), (4 * pp, pp), (1, 7, 13)):
            for rank in (0, pp // 2, pp - 1):
                got, want = MA._stacked_inflight(pp, v, rank, None, paired, ms), _old_stacked(pp, v, rank, None,
                                                                                           paired, ms)
                assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
                assert not got.flags.writeable
                # the padding rows are the list's first vector, so the max over the states is each list's own
                for i, mm in enumerate(ms):
                    assert (got[i].max(axis=0) == _old_stacked(pp, v, rank, None, paired, (mm,))[0].max(axis=0)).all()
