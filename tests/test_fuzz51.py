"""Hostile input on sessions 48-50's new inputs (fuzz51), end to end through the CLI in-process: ``model.output_head`` /
``num_labels``, the ``dle-bert`` / ``dle-convnets`` stacks and their rules, ``cluster.fabric`` on TPUs and one node,
the stack options ``ce_chunk_size``, ``cuda_graph_scope``, ``pp_layout``, ``moe_dispatcher`` and ``nvme_gbps``,
expert-parallel serving's fields under a fixed fleet, and the ``report`` shell; under ``estimate``, a small
``recommend``, ``serve`` and ``report``.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left in the job's folder but what was asked for).

Found by it (fixed at the root, pinned below; docs/qa_log.md "QA fuzz51"): a fixed fleet's screen read at exactly its
capacity (``serving.replicas: 2`` of a tiny MoE model on an 8-L4 node, 2,048-token prompts) ended in ``internal error
(ZeroDivisionError): float division by zero``, exit 1: ``occupancy_distribution`` took ``lam x W_c / c``, rounded to
0.9999999999999999, for a steady state whose wait ``occupancy_wait`` divided by ``c / W_c - lam``, exactly 0."""
from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import TINY_DENSE, TINY_MOE, check_outcome, fuzz_settings, job_file, run_cli, stray  # noqa: E402

from planner.workloads.serving_queue import occupancy_wait  # noqa: E402


# ------------------------------------------------------------------------ pinned: a queue read at its capacity
def test_a_slot_queue_at_exactly_its_capacity_waits_without_end():
    """lam == c / W_c in floats: lam x W_c / c reads 0.9999999999999999, so the old test took it for a steady state and
    divided by c / W_c - lam = 0 (ZeroDivisionError); at capacity the M/M/c wait is unbounded: (1, inf)."""
    lam, w = 724.3237675084883, 0.1767165537592275  # the fixed fleet's rate and full-batch time in service below
    assert 128 / w - lam == 0.0 and lam * w / 128 < 1.0
    assert occupancy_wait(lam, [w] * 128, 0.5) == (1.0, math.inf)


def test_a_fixed_fleet_screened_at_its_capacity_is_answered(tmp_path):
    """``serve`` of this job ended in ``internal error (ZeroDivisionError): float division by zero``, exit 1, until
    fuzz51 (the screen's replica-count search read the queue at exactly its capacity)."""
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_MOE, "cluster": {"gpu": "L4", "gpus_per_node": 8, "nodes": 1},
                             "serving": {"p99_latency_ms": 2000.0, "prompt_tokens": 2048, "output_tokens": 16,
                                         "replicas": 2}}))
    code, out, err = run_cli("serve", p, "--no-simulate", "--top", "2", "--json")
    assert code == 0 and "Traceback" not in err, err[-1000:]
    assert json.loads(out, parse_constant=pytest.fail)["options"]
    assert stray(tmp_path, {p.name}) == []
