"""dup45: concepts that were written twice, now written once (duplicates D10, D20, D29).

* the parts of a rank's memory (``results.MEMORY_PARTS``): until dup45 the same tuple stood in planner.model.memory
  (``RANK_PARTS``), planner.search.evaluate (``MEMORY_KEYS``), planner.present.charts and planner.present.terminal;
* the list-scheduling sweep (planner.model.pipeline ``_sweep``): the 1F1B / interleaved and DualPipeV schedulers each
  carried their own copy;
* DeepSpeed AutoEP's "applies" and "not folded over TP" tests (planner.model.stack_rules ``_autoep``,
  ``_autoep_unfolded``), three rules' lambdas apiece.
"""
from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

import numpy as np
import pytest

from planner import results
from planner.model import memory, pipeline, stack_rules
from planner.present import charts, terminal
from planner.search import evaluate


def test_memory_parts_are_the_records_fields_and_read_from_one_place():
    parts = results.MEMORY_PARTS
    memory_fields = [f.name for f in fields(results.Memory)]
    rank_fields = [f.name for f in fields(results.RankTotal)]
    # the records hold the parts in this order, then their sum
    assert memory_fields[:len(parts) + 1] == [*parts, "total"]
    assert rank_fields[2:] == [*parts, "total"]
    assert memory.RANK_PARTS == (*parts, "total")
    assert charts.MEMORY_PARTS is parts and terminal.MEMORY_PARTS is parts
    assert not hasattr(evaluate, "MEMORY_KEYS")


def test_sweep_runs_each_ranks_ops_in_order_and_refuses_a_deadlock():
    ran = []
    done = set()

    def run_op(r, op):  # op = (name, the op it waits for or None)
        if op[1] is not None and op[1] not in done:
            return False
        ran.append((r, op[0]))
        done.add(op[0])
        return True

    pipeline._sweep([[("a", None), ("c", "b")], [("b", "a")]], run_op, "stuck")
    assert ran == [(0, "a"), (1, "b"), (0, "c")]
    with pytest.raises(pipeline._Deadlock, match="stuck"):
        pipeline._sweep([[("x", "y")], [("y", "x")]], run_op, "stuck")


@pytest.mark.parametrize("pp,m", [(4, 8), (8, 12)])
def test_1f1b_makespan_is_the_textbook_one(pp, m):
    """Uniform stages, no sends: 1F1B's step is (m + pp - 1)(t_f + t_b) (Narayanan et al. 2021 §2.2's bubble)."""
    t = pipeline._timing.__wrapped__("1f1b", pp, m, 1, 0.1, 0.2, 0.0, 0.1)
    assert t.makespan == pytest.approx((m + pp - 1) * 0.3)


def test_autoep_rules_share_their_tests():
    moe = SimpleNamespace(moe=object())
    assert stack_rules._autoep(SimpleNamespace(moe_ep_tp_fold=True), moe)
    assert not stack_rules._autoep(SimpleNamespace(moe_ep_tp_fold=True), SimpleNamespace(moe=None))
    assert not stack_rules._autoep(SimpleNamespace(), moe)
    c = SimpleNamespace(tp=np.array([1, 2, 2]), ep=np.array([4, 1, 2]))
    assert stack_rules._autoep_unfolded(c).tolist() == [True, True, False]
