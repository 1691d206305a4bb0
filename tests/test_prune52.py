"""Which middle pipeline rank a group index names is the row's own (prune52): ``memory_activations._middle_splits``
decides ``_middle_reps``' pruning per row (its split and its own partial recompute), so a batched memory call gives
each row the bits of its own one-row call, whatever rows share the call. Until prune52 one row of block recompute
turned the pruning off for the whole call while ``middle_activations`` re-priced each further group on a subset of
the rows without it, where the pruning came back on: the group named one rank in the call and another in the subset
that priced it."""
from functools import lru_cache

import numpy as np
from hypothesis import given, settings, strategies as S

from planner.layout import Candidates
from planner.model import memory_activations as MA
from planner.model.memory import memory_per_gpu
from planner.model.stacks import resolve
from planner.spec import load_job

from conftest import EXAMPLES

#: a layout column set: (pp, vpp, rc, rn, rg, tp, mb). DeepSeek-V3's 61 layers split unevenly at these pp and vpp,
#: where pruning drops middle ranks (``_middle_reps``): PP 15 VPP 5 and PP 30 VPP 3 (1, 2, 4) -> (1, 4), a group index
#: that shifts; PP 15 and 30 at VPP 1 (1, 2) -> (1,), one that goes; PP 4 none
ROW = S.tuples(S.sampled_from([4, 15, 30]), S.sampled_from([1, 3, 5]), S.sampled_from([0, 1, 2]),
               S.sampled_from([0, 0, 1, 2, 3]), S.sampled_from([1, 1, 2]), S.sampled_from([1, 8]),
               S.sampled_from([1, 2]))


@lru_cache(maxsize=None)
def _job(example: str):
    return load_job(EXAMPLES / example)


def _rows(rows) -> Candidates:
    pp, vpp, rc, rn, rg, tp, mb = (np.array(x) for x in zip(*rows))
    n = len(pp)
    rn, rg = np.where(rc == 2, rn, 0), np.where((rc == 2) & (rn == 0), rg, 1)  # block N or uniform g: full only
    ones = np.ones(n, dtype=np.int64)
    return Candidates(tp=tp, pp=pp, dp=ones, cp=ones, ep=ones, vpp=vpp, zero=ones, mb=mb, rc=rc, rn=rn, rg=rg,
                      sp=np.ones(n, dtype=bool), schedule=(vpp > 1).astype(np.int64), gpus_per_node=8, nodes=pp * tp)


def _bits(x, n: int):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))).view(np.uint64)


def _each_row_as_alone(example: str, c: Candidates, ranks: bool):
    """every numeric per-row output of one memory call on ``c`` equals, bit for bit, that of each row's own call"""
    job = _job(example)
    st = resolve("megatron-core")
    got = memory_per_gpu(job.model, job.training, c, stack=st, ranks=ranks)
    keys = [k for k, v in got.items() if np.asarray(v).dtype.kind in "fiub"]
    for i in range(len(c)):
        one = memory_per_gpu(job.model, job.training, c.take(np.array([i])), stack=st, ranks=ranks)
        for k in keys:
            assert _bits(np.broadcast_to(got[k], (len(c),))[i], 1) == _bits(one[k], 1), (example, i, k, ranks)


def test_a_block_recompute_row_leaves_another_rows_middle_rank_its_own():
    """DeepSeek-V3 (megatron-core): a PP 15 VPP 5 row beside a PP 4 block-recompute row. The PP 15 VPP 5 split's
    middle ranks that can peak are (1, 2, 4) unpruned and (1, 4) pruned; old code priced its group 1 as rank 2's
    states with rank 4's activations (the subset ``middle_activations`` re-priced had no block-recompute row): its
    middle total 0.23 GiB and its middle rank (4, not 1) off its own call's."""
    c = _rows([(15, 5, 0, 0, 1, 8, 1), (15, 1, 0, 0, 1, 8, 1), (15, 5, 1, 0, 1, 8, 1), (4, 1, 2, 2, 1, 8, 1)])
    for ranks in (True, False):
        _each_row_as_alone("deepseek-v3-pretrain.yaml", c, ranks)
    # the case is one where the group index can shift: the split's lists, and each row's own in the call
    m, st = _job("deepseek-v3-pretrain.yaml").model, resolve("megatron-core")
    splits, lay = MA._middle_splits(m, st, c)
    assert [(s[0], s[1], s[3], MA.split_middle_reps(m, st, *s)) for s in (splits[i] for i in lay)] == [
        (15, 5, True, (1, 4)), (15, 1, True, (1,)), (15, 5, True, (1, 4)), (4, 1, False, (1,))]
    assert MA.split_middle_reps(m, st, *splits[lay[0]][:3], False) == (1, 2, 4)
    assert MA.middle_rank_of(m, st, c, 1)[0].tolist() == [4, -1, 4, -1]


def test_rows_of_one_state_key_keep_their_own_middle_ranks():
    """Two DeepSeek-V3 rows of one model-state key (PP 30 VPP 3, TP 1, ...) apart in recompute: uniform full
    recompute (no pruning: middle ranks (1, 2, 4)) and selective (pruned: (1, 4)). Group 1 is rank 2 on the first and
    rank 4 on the second; ``memory.rank_class_rows`` priced each group's states once per state key, at the key's one
    rank, so the first row's rank 2 took rank 4's states (its middle rank 4, not 1; its middle total 1.3 GB over its
    own call's) until prune52 priced one pass per rank a key's rows take."""
    c = _rows([(30, 3, 2, 0, 2, 1, 1), (30, 3, 1, 0, 1, 1, 1)])
    m, st = _job("deepseek-v3-pretrain.yaml").model, resolve("megatron-core")
    assert MA.middle_rank_of(m, st, c, 1)[0].tolist() == [2, 4]
    for ranks in (True, False):
        _each_row_as_alone("deepseek-v3-pretrain.yaml", c, ranks)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(S.lists(ROW, min_size=2, max_size=4))
def test_one_call_on_mixed_layouts_gives_each_row_its_own_calls_bits(rows):
    """Random few-row batches of DeepSeek-V3 on uneven pipeline splits (PP up to 30, VPP up to 5) with and without
    block / uniform recompute: each row's memory (every output; with ``ranks`` the middle rank's breakdown and rank
    too) is its own one-row call's, bit for bit. (On the old code about one draw in seven fails: the shifting splits
    beside a block-recompute row of a split with one middle group.)"""
    for ranks in (True, False):
        _each_row_as_alone("deepseek-v3-pretrain.yaml", _rows(rows), ranks)
