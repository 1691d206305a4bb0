"""Hybrid sharded data parallelism (``parallel.dp_shard``): ZeRO over part of the DP group, replicas
all-reducing their gradient shards (planner.layout, planner.model.memory ``hsdp_groups``,
planner.model.step_time ``_dp_terms``, planner.search.space ``hsdp_rows``, planner.model.stack_rules)."""
from dataclasses import replace

import numpy as np
import pytest

from conftest import answered, refused, write_job
from hardware_catalog import load_catalog
from planner.hardware.options import option_from_cluster
from planner.layout import Candidates
from planner.model import stack_rules
from planner.model.memory import memory_per_gpu, model_state_bytes_per_param, zero_bytes_per_param
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.present.emit import emit_launch_spec
from planner.search.recommend import recommend
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.units import config_str

CLUSTER = {"gpu": "A100-80GB", "gpus_per_node": 8, "nodes": 16, "inter_node_gbps": 100}


def _job(parallel=None, framework="torchtitan", model="llama2-7b", **training):
    t = {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16", "recompute": "full",
         "tokens": 1e11, "framework": framework, **training}
    return load_job_dict({"model": {"preset": model}, "training": t, "parallel": parallel or {}, "cluster": CLUSTER})


def _rows(n=1, **kw):
    v = dict(tp=1, pp=1, dp=128, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
             nodes=16)
    v.update(kw)
    return Candidates(**{k: (np.asarray(x) if np.ndim(x) else np.full(n, x)) for k, x in v.items()})


@pytest.fixture(scope="module")
def hw():
    job = _job()
    return option_from_cluster(job.cluster, load_catalog(), None, job.training.precision)


def test_states_are_the_zero_formula_at_the_shard_group():
    """Optimizer, gradients (ZeRO >= 1, >= 2) are the ZeRO paper's shares at n = dp_shard x cp; ZeRO-3's
    weights equal the full-DP ZeRO-3 weights of a DP group of dp_shard ranks."""
    job = _job(weights="megatron", grad_dtype="same", framework="megatron-core")
    w, g, master, opt = model_state_bytes_per_param(job.training)
    n_params = count_params(job.model).total
    for cp in (1, 2):
        n = 8 * cp
        mem = memory_per_gpu(job.model, job.training, _rows(3, zero=[1, 2, 3], dp=64 // cp, dp_shard=8, cp=cp))
        per = zero_bytes_per_param(np.array([1, 2, 3]), n, 0.0, 0.0, master + opt)
        np.testing.assert_allclose(mem["optimizer"], per * n_params, rtol=1e-12)
        np.testing.assert_allclose(mem["grads"], np.array([g, g / n, g / n]) * n_params, rtol=1e-12)
        np.testing.assert_allclose(mem["weights"][:2], w * n_params, rtol=1e-12)
        small = memory_per_gpu(job.model, job.training, _rows(1, zero=3, dp=8, cp=cp))
        assert mem["weights"][2] == small["weights"][0]
    full = memory_per_gpu(job.model, job.training, _rows(1, zero=3, dp=64))
    assert full["optimizer"][0] < mem["optimizer"][2]  # sharded over 8 x cp ranks, not 64


def test_dp_shard_equal_to_dp_is_todays_model(hw):
    """dp_shard = dp (or left out) reproduces every memory and step-time array exactly."""
    rng = np.random.default_rng(0)
    n = 400
    tp, pp = rng.choice([1, 2, 4, 8], n), rng.choice([1, 2, 4], n)
    dp = 128 // (tp * pp)
    kw = dict(tp=tp, pp=pp, dp=dp, zero=rng.integers(0, 4, n), mb=rng.choice([1, 2], n), rc=rng.integers(0, 3, n),
              sp=tp > 1)
    for fw in ("torchtitan", "megatron-core", "deepspeed"):
        job = _job(framework=fw)
        a, b = _rows(n, **kw), _rows(n, **kw, dp_shard=dp)
        for f in (lambda c: memory_per_gpu(job.model, job.training, c), lambda c: step_time(job.model, job.training, c, hw)):
            x, y = f(a), f(b)
            for k in x:
                assert np.array_equal(np.asarray(x[k]), np.asarray(y[k])), (fw, k)


def test_hsdp_moves_zero3_gathers_onto_nvlink_and_adds_the_replica_all_reduce(hw):
    job = _job(framework="deepspeed")  # MiCS: the replica all-reduce once per step
    full, hsdp = (step_time(job.model, job.training, _rows(1, dp_shard=s), hw) for s in (128, 8))
    assert hsdp["comm_zero3"][0] < 0.2 * full["comm_zero3"][0]
    assert full["t_dp_comm"][0] == 0.0 < hsdp["t_dp_comm"][0]  # ZeRO-3: only HSDP has a per-step DP reduce
    # the replica all-reduce crosses nodes: more replicas (nodes) cost more, a larger shard group less
    more = step_time(job.model, job.training, _rows(1, dp=256, nodes=32, dp_shard=8), hw)
    assert more["t_dp_comm"][0] > hsdp["t_dp_comm"][0]
    wider = step_time(job.model, job.training, _rows(1, dp_shard=16), hw)
    assert wider["t_dp_comm"][0] < hsdp["t_dp_comm"][0]
    # FSDP2 (torchtitan) all-reduces after every micro-batch's reduce-scatter: in comm_zero3, not the step's reduce
    tt = _job()
    st = resolve("torchtitan")
    per_mb, per_step = (step_time(tt.model, tt.training, _rows(1, dp_shard=8), hw,
                                  framework=replace(st, hsdp_all_reduce_per_microbatch=f)) for f in (True, False))
    assert per_mb["t_dp_comm"][0] == 0.0 < per_step["t_dp_comm"][0]
    assert per_mb["comm_zero3"][0] > per_step["comm_zero3"][0]
    # ZeRO-1/2 (Megatron's partial distributed optimizer): reduce-scatter in the group plus the all-reduce across
    mjob = _job(framework="megatron-core")
    z1 = [step_time(mjob.model, mjob.training, _rows(1, zero=1, dp_shard=s), hw) for s in (128, 8, 1)]
    assert z1[1]["t_dp_comm"][0] != z1[0]["t_dp_comm"][0]
    assert z1[1]["t_dp_comm"][0] < z1[2]["t_dp_comm"][0]  # a 1-rank shard group: a whole-gradient all-reduce


@pytest.mark.parametrize("parallel,framework,words", [
    ({"zero": 3, "dp_shard": 3}, "torchtitan", "dp_shard=3 must divide dp=128"),
    ({"zero": 3, "dp_shard": 256}, "torchtitan", "dp_shard=256 must divide dp=128"),
    ({"zero": 0, "dp_shard": 8}, "torchtitan", "needs parallel.zero >= 1"),
    ({"zero": 3, "dp_shard": 8}, "megatron-core", "Megatron refuses ZeRO-3 (Megatron's --use-torch-fsdp2) over part"),
    ({"zero": 2, "dp_shard": 8}, "deepspeed", "refuses ZeRO-1/2 over part of the data-parallel group"),
])
def test_bad_values_are_one_error_line(cli, tmp_path, parallel, framework, words):
    job = {"model": {"preset": "llama2-7b"}, "cluster": CLUSTER, "parallel": {"tp": 1, "pp": 1, **parallel},
           "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "framework": framework}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: parallel.dp_shard: ") and words in line, line


def test_accepted_where_the_stack_runs_it():
    """Megatron's distributed optimizer (ZeRO-1) and Megatron-FSDP take --num-distributed-optimizer-instances;
    torchtitan's FSDP2 runs a 2-D mesh; DeepSpeed's MiCS is ZeRO-3."""
    job = _job()
    for fw, opts, zero in (("megatron-core", {}, 1), ("megatron-core", {"megatron_fsdp": True}, 3),
                           ("torchtitan", {}, 2), ("torchtitan", {}, 3), ("deepspeed", {}, 3), ("hf-trainer", {}, 2)):
        st = resolve(fw, **opts)
        assert stack_rules.valid_mask(st, job.model, job.training, _rows(1, zero=zero, dp_shard=8))[0], (fw, opts, zero)


def test_config_str_shows_the_shard_group():
    cfg = dict(tp=1, pp=1, dp=128, zero=3, micro_batch=1, recompute="none")
    assert config_str(cfg) == "TP1 PP1 DP128 z3 mb1"
    assert config_str(dict(cfg, dp_shard=8)) == "TP1 PP1 DP128 z3/8 mb1"
    assert config_str(dict(cfg, dp_shard=128)) == "TP1 PP1 DP128 z3 mb1"


def test_search_proposes_hsdp_where_it_wins_and_emits_it():
    """A 7B model under DeepSpeed ZeRO-3 on 16 nodes at 100 Gb/s, 8 micro-batches: full-DP ZeRO-3 gathers the
    weights across nodes every micro-batch; MiCS-style sharding within the node gathers on NVLink and all-reduces
    once per step."""
    job = _job({"tp": 1, "pp": 1, "zero": 3}, framework="deepspeed")
    rec = recommend(job, top=1)
    best = rec.best.to_json()
    assert best["config"]["dp_shard"] == 8 and "z3/8" in config_str(best["config"])
    df = rec.table
    full = df[df["dp_shard"] == df["dp"]]
    assert len(full) and full["step_time_s"].min() > 1.5 * rec.best.step_time_s
    text = emit_launch_spec(job, best, "torchrun")
    assert "--parallelism.data_parallel_shard_degree 8" in text
    assert "--parallelism.data_parallel_replicate_degree 16" in text
    # on one node there is nothing to replicate: no HSDP row, and the table has no dp_shard column
    one = recommend(load_job_dict({**job.model_dump(exclude_none=True), "cluster": dict(CLUSTER, nodes=1)}), top=1)
    assert "dp_shard" not in one.table.columns and "dp_shard" not in one.best.to_json()["config"]


def test_limits_line_names_hsdp_links(cli, tmp_path):
    """An HSDP plan's limits line said its ZeRO-3 gathers ran "on 3200 Gb/s network"; the shard group fits a node, so
    they run over NVLink and only the replicas' gradient all-reduce crosses the network."""
    job = tmp_path / "hsdp.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1.0e+10, "
                   "framework: torchtitan}\nparallel: {tp: 1, pp: 1, zero: 3, dp_shard: 8}\n"
                   "cluster: {instance: aws:p5.48xlarge, nodes: 4}\n")
    line = answered(cli("estimate", job, "--json"))["bottleneck"]
    assert "HSDP: shard groups of 8 ranks over NVLink4, gradient all-reduce across 4 replicas on the 3200 Gb/s network" in line
