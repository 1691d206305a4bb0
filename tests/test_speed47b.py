"""The DP terms' memo shared across stack variants (speed47b): ``step_time``'s ``_dp_terms`` rows are keyed by the
stack less ``DP_FREE_STACK`` and the training spec less ``DP_FREE_TRAINING`` (activation offload, the recompute list),
so a search's variants that differ only there compute them once. Every call still gets the bits it gets without the
memo, the DP terms read neither field, and a small search's table and plans are those of the whole-stack key."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import EXAMPLES, dp_memo_searches, trace_dp_reads, write_job
from hardware_catalog import load_catalog
from make_step_time_golden import candidates
from planner.hardware.options import option_from_instance
from planner.model import step_time as S
from planner.model.stacks import Stack, from_training
from planner.spec import TrainingSpec, load_job


def _bits(x, n):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))).view(np.uint64)


def _variants(example: str):
    """The job, its Megatron-Core stack with each offload flipped, and its training with two recompute lists."""
    job = load_job(EXAMPLES / f"{example}.yaml")
    base = from_training(job.training, "megatron-core")
    stacks = [base, replace(base, activation_offload=True), replace(base, optimizer_offload=True),
              replace(base, activation_offload=True, optimizer_offload=True)]
    trainings = [job.training] + [job.training.model_copy(update={"recompute_modules": mods})
                                  for mods in (["core_attn", "mlp"], ["mlp"])]
    return job, stacks, trainings


@pytest.mark.parametrize("example", ["llama3-70b", "mixtral-8x7b"])
def test_dp_memo_gives_each_variant_its_own_numbers(catalog, example):
    """One memo over every (stack, recompute list) pair, two candidate sets each: each call's every float output is
    bit for bit the memo-less call's; the DP terms take one setting per optimizer-offload value (the whole-stack key
    took one per pair)."""
    job, stacks, trainings = _variants(example)
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    rng = np.random.default_rng(47)
    sets = [candidates(40, rng, job.model.moe is not None) for _ in range(2)]
    memo = S.LayerMemo()
    for fw in stacks:
        for t in trainings:
            for c in sets:
                got = S.step_time(job.model, t, c, hw, framework=fw, memo=memo)
                ref = S.step_time(job.model, t, c, hw, framework=fw)
                for k, v in ref.items():
                    if np.asarray(v).dtype.kind == "f":
                        bad = np.flatnonzero(_bits(got[k], len(c)) != _bits(v, len(c)))
                        assert not len(bad), f"{k}: row {bad[0]} differs with the memo"
    dp_sets = [s for s in memo._sets if s[0] == "step_time._dp_terms"]
    assert len(dp_sets) == 2, len(dp_sets)


@pytest.mark.parametrize("example,stack", [("llama3-70b", "megatron-core"), ("mixtral-8x7b", "megatron-core"),
                                           ("llama3-70b", "torchtitan"), ("llama3-70b", "hf-trainer")])
def test_dp_terms_read_no_free_field(catalog, monkeypatch, example, stack):
    """Every field the DP terms read (``_dp_terms`` and its stage split, every callee, properties included), traced
    over a candidate set: none of ``DP_FREE_STACK`` or ``DP_FREE_TRAINING``."""
    job = load_job(EXAMPLES / f"{example}.yaml")
    read = trace_dp_reads(monkeypatch, (Stack, TrainingSpec))
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(60, np.random.default_rng(3), job.model.moe is not None)
    fw = replace(from_training(job.training, stack), activation_offload=True)
    t = job.training.model_copy(update={"recompute_modules": ["mlp"]}) if fw.module_recompute else job.training
    S.step_time(job.model, t, c, hw, framework=fw)
    assert "params_16bit" in read or "optimizer" in read  # the trace sees the DP terms' reads
    assert not read & (set(S.DP_FREE_STACK) | set(S.DP_FREE_TRAINING)), read


def test_search_as_the_whole_stack_key(tmp_path, monkeypatch):
    """A small search whose rows need offloads and recompute lists (Llama-3-70B on at most 16 H100s) ranks the same
    table and plans with the DP memo shared across variants as with one setting per whole stack; fewer DP terms
    computed."""
    p = tmp_path / "acme.csv"
    p.write_text("cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,price_spot_usd_hr,"
                 "region,source\n"
                 "acme,node-0,H100-SXM-80GB,8,infiniband,true,3200,24.0,,region-0,acme quote\n"
                 "acme,node-1,A100-SXM4-80GB,8,infiniband,true,1600,12.0,,region-1,acme quote\n")
    cat = load_catalog([p])
    job = load_job(write_job(tmp_path, "model: {preset: llama3-70b}\n"
                                       "training: {seq_len: 4096, global_batch: 64, precision: bf16, tokens: 1.0e10}\n"
                                       "constraints: {clouds: [acme], max_gpus: 16}\n"))
    shared, whole, n_shared, n_whole = dp_memo_searches(monkeypatch, job, cat, DP_FREE_STACK=(), DP_FREE_TRAINING=())
    assert len(shared.table) > 50
    pd.testing.assert_frame_equal(shared.table, whole.table, check_exact=True)
    assert shared.best == whole.best and shared.ranked == whole.ranked and shared.pareto == whole.pareto
    assert n_shared < n_whole, (n_shared, n_whole)
