"""A job that leaves ``parallel.etp`` out runs its stack's expert-TP under expert parallelism
(``stack_rules.default_etp``): torchtitan never splits experts over TP with EP on, Megatron-Core takes
ETP = TP. Before, every stack took ETP = TP, so a torchtitan MoE job with TP 2 and EP 8 was refused by
torchtitan's own ``titan-etp`` rule although torchtitan runs exactly that layout."""

import pytest

from conftest import answered, refused, write_job


def _job(tmp_path, framework, **parallel):
    return write_job(tmp_path, {
        "model": {"preset": "mixtral-8x7b"},
        "training": {"seq_len": 4096, "global_batch": 1024, "precision": "bf16", "tokens": 1.0e12,
                     "framework": {"name": framework}},
        "parallel": {"tp": 2, "ep": 8, **parallel},
        "cluster": {"instance": "p5.48xlarge", "nodes": 4}})


@pytest.mark.parametrize("framework, etp", [("torchtitan", 1), ("megatron-core", 2)])
def test_etp_left_out_takes_the_stacks_default(cli, tmp_path, framework, etp):
    assert answered(cli("estimate", _job(tmp_path, framework), "--json"))["config"]["etp"] == etp


def test_the_default_is_said(cli, tmp_path):
    code, out, err = cli("estimate", _job(tmp_path, "torchtitan"))
    assert code == 0, err
    assert "parallel.etp defaulted to 1" in " ".join(out.split())


def test_an_explicit_etp_torchtitan_cannot_run_is_still_refused(cli, tmp_path):
    assert refused(cli("estimate", _job(tmp_path, "torchtitan", etp=2))).startswith("error: parallel.etp: torchtitan refuses")


def test_the_default_runs_the_layout_of_the_explicit_etp_1(cli, tmp_path):
    a = answered(cli("estimate", _job(tmp_path, "torchtitan"), "--json"))
    b = answered(cli("estimate", _job(tmp_path, "torchtitan", etp=1), "--json"))
    assert a["step_time_s"] == b["step_time_s"] and a["memory_per_gpu_bytes"] == b["memory_per_gpu_bytes"]
