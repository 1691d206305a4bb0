"""perf50b: the MoE dispatcher twins (``recommend._try_dispatchers``: the stack's other ``moe_dispatcher`` /
``moe_a2a_overlap`` values on each option's best layouts) share the search's DP rows: ``step_time.DP_FREE_STACK``
names both fields, which ``_dp_terms`` and its stage split never read, so the twins of one variant compute the DP
terms once where each computed its own. Each twin's call still gets the bits it gets alone, and a small search that
tries the dispatchers ranks the same table with the shared rows as with one DP setting per whole stack."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from conftest import EXAMPLES, dp_memo_searches, trace_dp_reads, write_job
from hardware_catalog import load_catalog
from make_step_time_golden import candidates
from planner.hardware.options import option_from_instance
from planner.model import step_time as S
from planner.model.stacks import Stack, from_training
from planner.spec import load_job

#: the twins of Megatron-Core's default (all-to-all, no overlap) that a search tries (space.dispatcher_choices)
TWINS = (("alltoall", True), ("deepep", False), ("hybridep", False), ("deepep", True), ("hybridep", True))


def _bits(x, n):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))).view(np.uint64)


def test_dispatcher_twins_share_dp_rows_each_with_its_own_bits(catalog):
    """Mixtral-8x7B on Megatron-Core under its default dispatcher and each twin, one memo, two candidate sets: every
    float output is bit for bit the memo-less call's (a shared row that mixed the twins' numbers would differ), and
    the DP terms take one setting for all six stacks (before: one per stack, six)."""
    job = load_job(EXAMPLES / "mixtral-8x7b.yaml")
    base = from_training(job.training, "megatron-core")
    stacks = [base] + [replace(base, moe_dispatcher=d, moe_a2a_overlap=o) for d, o in TWINS]
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    rng = np.random.default_rng(50)
    sets = [candidates(40, rng, True) for _ in range(2)]
    memo = S.LayerMemo()
    for fw in stacks:
        for c in sets:
            got = S.step_time(job.model, job.training, c, hw, framework=fw, memo=memo)
            ref = S.step_time(job.model, job.training, c, hw, framework=fw)
            for k, v in ref.items():
                if np.asarray(v).dtype.kind == "f":
                    bad = np.flatnonzero(_bits(got[k], len(c)) != _bits(v, len(c)))
                    assert not len(bad), f"{fw.moe_dispatcher}/{fw.moe_a2a_overlap} {k}: row {bad[0]} differs"
    twin = S.step_time(job.model, job.training, sets[0], hw, framework=stacks[2])["step_time_s"]
    assert not np.array_equal(twin, S.step_time(job.model, job.training, sets[0], hw, framework=base)["step_time_s"])
    dp_sets = [s for s in memo._sets if s[0] == "step_time._dp_terms"]
    assert len(dp_sets) == 1, len(dp_sets)


def test_dp_terms_read_neither_dispatcher_field(catalog, monkeypatch):
    """Every Stack field the DP terms read (``_dp_terms`` and its stage split, every callee), traced over MoE rows
    under DeepEP with the all-to-all overlap on: neither ``moe_dispatcher`` nor ``moe_a2a_overlap`` (the soundness of
    sharing the rows; test_speed47b traces the default dispatcher)."""
    job = load_job(EXAMPLES / "mixtral-8x7b.yaml")
    read = trace_dp_reads(monkeypatch, (Stack,))
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(60, np.random.default_rng(5), True)
    for d in ("deepep", "hybridep"):
        fw = replace(from_training(job.training, "megatron-core"), moe_dispatcher=d, moe_a2a_overlap=True)
        S.step_time(job.model, job.training, c, hw, framework=fw)
    assert read, "the trace sees no read"
    assert not read & {"moe_dispatcher", "moe_a2a_overlap"}, read & {"moe_dispatcher", "moe_a2a_overlap"}


def test_dispatcher_search_as_the_whole_stack_key(tmp_path, monkeypatch):
    """A small search that tries the dispatchers (Qwen3-30B-A3B on Megatron-Core, one node of 8 H100s)
    ranks the same table and plans with the twins' DP rows shared as with one DP setting per stack but for activation
    offload (the key before perf50b); fewer DP terms computed."""
    p = tmp_path / "acme.csv"
    p.write_text("cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,price_spot_usd_hr,"
                 "region,source\n"
                 "acme,node-0,H100-SXM-80GB,8,infiniband,true,3200,24.0,,region-0,acme quote\n")
    cat = load_catalog([p])
    job = load_job(write_job(tmp_path, "model: {preset: qwen3-30b-a3b}\n"
                                       "training: {seq_len: 4096, global_batch: 64, precision: bf16, tokens: 1.0e10,\n"
                                       "           framework: {name: megatron-core}}\n"
                                       "constraints: {clouds: [acme], max_gpus: 8}\n"))
    shared, whole, n_shared, n_whole = dp_memo_searches(monkeypatch, job, cat, DP_FREE_STACK=("activation_offload",))
    assert "moe_dispatcher" in shared.table and shared.table["moe_dispatcher"].nunique() > 1  # the twins were tried
    pd.testing.assert_frame_equal(shared.table, whole.table, check_exact=True)
    assert shared.best == whole.best and shared.ranked == whole.ranked and shared.pareto == whole.pareto
    assert n_shared < n_whole, (n_shared, n_whole)
