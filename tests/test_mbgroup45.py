"""mbgroup45: Megatron-Core's interleaved in-flight counts (``pipeline.chunk_inflight`` /
``chunk_inflight_paired``) keep only the schedule's turning states (``pipeline._turning_steps``), so an explicit
``training.framework.microbatch_group_size`` in the tens of thousands is bounded work. Until mbgroup45 the replay
kept one period of group x vpp distinct states and sorted them (``np.unique``): group 65,536 at PP8 VPP12 kept 327,696
states per rank and ``estimate`` took a minute (docs/qa_log.md "Fuzz 45", "QA 72").

The reference below is the whole replay, every steady step, written from Megatron-Core's schedules.py
(``get_schedule_table``: groups of ``group`` micro-batches, each through chunks 0..v-1, the last group the rest;
``get_pp_rank_microbatches``' warm-up; forward k + warm-up then backward k on chunk v - 1 - the table's; under the
MoE all-to-all overlap, combined_1f1b, one warm-up forward more and each steady forward / backward run as a pair)."""
import itertools

import numpy as np
import pytest
import yaml

from planner.model.pipeline import (_interleaved_replay, chunk_inflight, chunk_inflight_paired, vpp_group_size)


def _replay(pp, m, v, rank, group, paired):
    """Every state the schedule passes through: after each steady forward (plain), or before each steady pair with
    the pair's forward chunk last (paired); every forward in the warm-up: the state after it (paired: chunk -1)."""
    g = int(vpp_group_size(m, pp, group))
    table = [ch for lo in range(0, m, g) for ch in range(v) for _ in range(lo, min(lo + g, m))]
    total = m * v
    warm = min((pp - rank - 1) * 2 + (v - 1) * g + paired, total)
    held = [0] * v
    for k in range(warm):
        held[table[k]] += 1
    if warm == total:
        return [tuple(held) + ((-1,) if paired else ())]
    seen = []
    for k in range(total - warm):
        if paired:
            seen.append(tuple(held) + (table[k + warm],))
        held[table[k + warm]] += 1
        if not paired:
            seen.append(tuple(held))
        held[v - 1 - table[k]] -= 1
    return seen


def _best(states, w, one, paired):
    """The max over states of the weighted counts (memory_activations.chunk_activations' ``peak``: each chunk's bytes x its
    micro-batches, plus under the overlap one layer of the pair's forward chunk)."""
    s = np.asarray(states, dtype=np.int64)
    v = len(w)
    val = s[:, :v] @ w
    if paired:
        val = val + np.where(s[:, v] >= 0, one[s[:, v]], 0)
    return val.max()


def _grid():
    for pp, v in itertools.product((2, 3, 4, 5, 8), (2, 3, 4, 6)):
        for m in sorted({pp, pp + 1, 2 * pp, 2 * pp + 3, 3 * pp, 5 * pp + 2, 7 * pp}):
            groups = [None] + [g for g in sorted({pp, pp + 1, 2 * pp, 3 * pp, m}) if pp <= g <= m and
                               (m % g == 0 or m % g >= pp)]
            for group in groups:
                yield pp, m, v, group


GRID = list(_grid())


def test_the_turning_states_give_every_max_the_whole_replay_gives():
    """On every (pp, vpp, m, group, rank) of the grid (valid Megatron groups and the default: 1,972 cases, each
    plain and paired): the kept states are states of the whole replay, at the peak total, and for the per-chunk
    weights the memory prices (unit, negative, random whole numbers: every linear max and min, compared exactly)
    the max over them is the whole replay's max."""
    rng = np.random.default_rng(45)
    cases = 0
    for pp, m, v, group in GRID:
        unit = np.eye(v, dtype=np.int64)
        ws = list(unit) + list(-unit) + list(rng.integers(-99, 100, size=(6, v)))
        ones = [np.zeros(v, dtype=np.int64)] + list(rng.integers(0, 300, size=(3, v)))
        for rank, paired in itertools.product(range(pp), (0, 1)):
            ref = _replay(pp, m, v, rank, group, paired)
            of = chunk_inflight_paired if paired else chunk_inflight
            got = of(pp, m, v, rank, group)
            tops = {sum(s[:v]) for s in ref}
            assert len(tops) == 1 and set(got[:, :v].sum(axis=1)) == tops
            assert {tuple(int(x) for x in s) for s in got} <= set(ref), (pp, m, v, group, rank, paired)
            for w, one in itertools.product(ws, ones if paired else ones[:1]):
                assert _best(got, w, one, paired) == _best(ref, w, one, paired), (pp, m, v, group, rank, paired, w)
            cases += 1
    assert cases == 3944, cases


def test_a_group_in_the_tens_of_thousands_keeps_a_bounded_count_of_states():
    """The hostile case (group 65,536, 2^20 micro-batches, PP8 VPP12): the steps evaluated and the states kept are
    O(vpp), not the period's group x vpp (327,696 states before); its peak total is the warm-up + 1, and chunk 0 holds
    two whole groups at its fullest (the second group's chunk-0 forwards run while the first group's backwards are
    still on its later chunks, VPP >= 3)."""
    pp, m, v, g = 8, 1 << 20, 12, 65536
    for rank, extra in itertools.product((0, pp - 1), (0, 1)):
        k = _interleaved_replay(pp, m, v, rank, g, extra)[3]
        assert k.size <= 12 * (v + 2), k.size
    h = chunk_inflight.__wrapped__(pp, m, v, 0, g)
    assert h.shape[0] <= 6 * (v + 2) and set(h.sum(axis=1)) == {(pp - 1) * 2 + (v - 1) * g + 1}
    assert h[:, 0].max() == 2 * g
    assert chunk_inflight_paired.__wrapped__(pp, m, v, pp - 1, g).shape[0] <= 6 * (v + 2)


def test_the_hostile_job_plans(tmp_path):
    """``estimate`` on the hostile job: a plan, exit 0 (no refusal needed: the group is bounded by the micro-batches,
    as Megatron-Core's own check bounds it, and the work by vpp)."""
    import json

    from conftest import invoke_main
    job = {"model": {"preset": "gpt3-175b"},
           "training": {"seq_len": 2048, "global_batch": 1 << 20, "micro_batch": 1, "tokens": 1e9,
                        "framework": {"name": "megatron-core", "microbatch_group_size": 65536}},
           "cluster": {"gpu": "H100", "nodes": 1}, "parallel": {"pp": 8, "vpp": 12, "tp": 1, "dp": 1}}
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(job))
    code, out, err = invoke_main("estimate", p, "--json")
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert json.loads(out)
