"""QA pass 38: `planner recommend` under the constraints a user really sets, in combination -- fixed or open
parallel degrees, micro and global batch, each training stack with its options fixed or open, GPU and instance
filters, node and GPU limits, budget and deadline, spot -- on the example jobs and hand-written ones (MoE, hybrid
Mamba, layer counts that do not divide, a tiny model). Each defect with the check that failed before its fix, and
one cheap grid that holds every answer to its invariants (one-line refusals naming a field; every plan honours the
job; ``estimate`` of the winner says what ``recommend`` said; rows add up; the ranking follows its objective)."""
from __future__ import annotations

import pytest

from conftest import refused, write_job

L8 = {"preset": "llama3-8b"}
H100 = {"gpus": ["H100"], "clouds": ["aws"], "max_gpus": 64}


def _train(**kw) -> dict:
    return {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, **kw}


@pytest.mark.parametrize("training,parallel,fixed", [
    (_train(framework={"name": "megatron-core", "activation_offload": True}), {"pp": 2}, "parallel.pp: 2"),
    (_train(recompute="full", framework={"name": "megatron-core", "activation_offload": True}), {},
     "training.recompute: full"),
])
def test_a_fixed_activation_offload_its_fixed_fields_rule_out_is_refused_for_that(tmp_path, cli, training, parallel,
                                                                                   fixed):
    """``activation_offload: true`` beside ``parallel.pp: 2`` (or ``recompute: full``) was refused as "Megatron refuses
    ZeRO-3 (--use-torch-fsdp2) with pipeline parallelism" (with recompute full: an interleaved-schedule rule): the
    offload rule (pp 1, recompute none) dropped the other layouts without a count, so the only stack rule counted
    was blamed, one the job never asked for. ``estimate`` names the offload."""
    job = {"model": L8, "training": training, "parallel": parallel, "constraints": H100}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: training.framework.activation_offload: Megatron-Core's activation offload"), line
    assert fixed in line


def test_a_fixed_optimizer_offload_at_zero_0_over_replicas_is_refused_for_that(tmp_path, cli):
    """``optimizer_offload: true`` at ``parallel.zero: 0, dp: 8`` was blamed on the interleaved pipeline's micro-batch
    groups (parallel.vpp), a rule of layouts the job did not ask for."""
    job = {"model": L8, "training": _train(framework={"name": "megatron-core", "optimizer_offload": True}),
           "parallel": {"zero": 0, "dp": 8}, "constraints": H100}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: training.framework.optimizer_offload: an offloaded optimizer is a sharded one"), line
    # left open, the zero and replicas that run it are searched
    del job["parallel"]["dp"]
    code, out, err = cli("recommend", write_job(tmp_path, job, "open.yaml"), "--no-simulate", "--json")
    assert code == 0, err


@pytest.mark.parametrize("parallel,cluster,constraints,words", [
    ({"tp": 8, "pp": 16}, {}, {"gpus": ["H100"], "max_gpus": 64},
     "error: parallel: parallel.tp: 8, parallel.pp: 16 need a multiple of 128 GPUs (tp*pp*cp*dp), and no cluster "
     "searched has that: 1 to 64 GPUs (constraints.max_gpus: 64)"),
    ({"dp": 16}, {"nodes": 1}, {"gpus": ["H100"]},
     "error: parallel.dp: parallel.dp: 16 needs a multiple of 16 GPUs (tp*pp*cp*dp), and no cluster searched has "
     "that: 1, 8 GPUs (cluster.nodes: 1)"),
    ({"tp": 1, "pp": 1, "cp": 1, "dp": 4}, {}, {"gpus": ["H100"], "min_gpus": 64},
     "error: parallel.dp: parallel.tp: 1, parallel.pp: 1, parallel.cp: 1, parallel.dp: 4 need 4 GPUs (tp*pp*cp*dp), and no cluster searched has that: 64 to "),
])
def test_fixed_degrees_no_cluster_size_holds_name_the_limit(tmp_path, cli, parallel, cluster, constraints, words):
    """Fixed degrees that no searched cluster size could hold were blamed on one witness layout's size: TP 8 x PP 16
    under max_gpus 64 read "tp*pp*cp = 128 does not divide the 1 GPUs", dp 16 on one node "tp*pp*cp*dp = 16 but the
    cluster has 1 GPUs" (a one-GPU instance's first layout): neither said which limit the job set stood in the way."""
    job = {"model": {"preset": "llama3-70b" if "tp" in parallel and parallel["tp"] == 8 else "llama3-8b"},
           "training": _train(), "parallel": parallel, "cluster": cluster, "constraints": constraints}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith(words), line
