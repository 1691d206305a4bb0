"""emitfork37: ``--emit`` of a plan on Intel's Gaudi Megatron fork writes the fork's launch in every format.

gaudi37 answered every ``--emit`` of a ``megatron-core-gaudi`` plan with a one-line refusal naming the fork's
examples/llama/pretrain_llama.sh (``error: --emit: megatron-core-gaudi is Intel's fork; launch: HL_NUM_NODES=1 ...``,
exit 2). Now torchrun / slurm / k8s write the script's HL_ variables (HabanaAI/Megatron-LM @004966d2) and run it once
(it launches mpirun, one process per HPU); SkyPilot writes it where it has a name for the Gaudi (GAUDI2) and refuses
in one line where it has none (Gaudi 3).
"""
from __future__ import annotations

import yaml

from conftest import refused, write_job

#: Llama-3-8B fp8 on Gaudi 2 (the gaudi37 job): one shadeform:denvr_Gaudi2x8, TP1 PP2 DP4 v4
GAUDI2 = {"model": {"preset": "llama3-8b"},
          "training": {"seq_len": 8192, "global_batch": 128, "tokens": 1e9, "precision": "fp8"},
          "constraints": {"gpus": ["Gaudi2-96GB"]}}
#: Llama-3-70B on 4 bare Gaudi 3 boxes: TP4 PP2 DP4
GAUDI3 = {"model": {"preset": "llama3-70b"},
          "training": {"seq_len": 8192, "global_batch": 512, "tokens": 1e9, "framework": {"name": "megatron-core"}},
          "cluster": {"gpu": "Gaudi3", "gpus_per_node": 8, "nodes": 4}}


def _emit(cli, tmp_path, job, fmt) -> str:
    code, out, err = cli("recommend", str(write_job(tmp_path, job)), "--emit", fmt, "--no-simulate")
    assert code == 0, err
    return out


def _exports(text: str) -> dict[str, str]:
    return dict(line[len("export "):].split("=", 1) for line in text.splitlines() if line.startswith("export HL_"))


def test_torchrun_format_runs_the_forks_script_once_with_the_plans_layout(cli, tmp_path):
    """The one-node Gaudi 2 plan: the script's variables (layout, length, model) and one run of the script, no
    torchrun (the script launches mpirun -n 8); the interleaving the script cannot pass is a comment line."""
    out = _emit(cli, tmp_path, GAUDI2, "torchrun")
    env = _exports(out)
    assert {k: env[k] for k in ("HL_NUM_NODES", "HL_DEVICES_PER_NODE", "HL_DP", "HL_TP", "HL_PP", "HL_GBS",
                                "HL_SEQ_LEN", "HL_FP8", "HL_NUM_LAYERS", "HL_NUM_QUERY_GROUPS")} == {
        "HL_NUM_NODES": "1", "HL_DEVICES_PER_NODE": "8", "HL_DP": "4", "HL_TP": "1", "HL_PP": "2", "HL_GBS": "128",
        "HL_SEQ_LEN": "8192", "HL_FP8": "1", "HL_NUM_LAYERS": "32", "HL_NUM_QUERY_GROUPS": "8"}, env
    assert int(env["HL_DP"]) * int(env["HL_TP"]) * int(env["HL_PP"]) * int(env["HL_CP"]) == 8  # the script's check
    assert out.rstrip().endswith('bash "$MEGATRON_LM_ROOT"/examples/llama/pretrain_llama.sh'), out
    assert "torchrun " not in out and "pretrain_gpt.py" not in out, out
    assert "mpirun -n 8" in out and "--num-layers-per-virtual-pipeline-stage" in out, out


def test_slurm_format_writes_the_allocations_hostfile_and_runs_the_script_once(cli, tmp_path):
    out = _emit(cli, tmp_path, GAUDI3, "slurm")
    assert out.startswith("#!/bin/bash\n#SBATCH --job-name=") and "#SBATCH --nodes=4" in out, out
    assert 'sed "s/$/ slots=8/" > "$HL_HOSTSFILE"' in out and "export HL_HOSTSFILE=" in out, out
    assert out.count("pretrain_llama.sh\n") == 1 and "srun" not in out, out
    env = _exports(out)
    assert (env["HL_NUM_NODES"], env["HL_TP"], env["HL_PP"], env["HL_DP"]) == ("4", "4", "2", "4"), env


def test_k8s_format_is_an_mpijob_requesting_habana_gaudi(cli, tmp_path):
    out = _emit(cli, tmp_path, GAUDI3, "k8s")
    doc = yaml.safe_load(out)
    assert (doc["apiVersion"], doc["kind"], doc["spec"]["slotsPerWorker"]) == ("kubeflow.org/v2beta1", "MPIJob", 8)
    workers = doc["spec"]["mpiReplicaSpecs"]["Worker"]
    assert workers["replicas"] == 4
    assert workers["template"]["spec"]["containers"][0]["resources"]["limits"] == {"habana.ai/gaudi": 8}
    launcher = doc["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert "pretrain_llama.sh" in launcher["command"][-1]
    env = {e["name"]: e["value"] for e in launcher["env"]}
    assert env["HL_HOSTSFILE"] == "/etc/mpi/hostfile" and env["HL_NUM_NODES"] == "4", env


def test_skypilot_names_gaudi2_and_refuses_gaudi3_in_one_line(cli, tmp_path):
    doc = yaml.safe_load(_emit(cli, tmp_path, GAUDI2, "skypilot"))
    assert doc["resources"]["accelerators"] == "GAUDI2:8" and "pretrain_llama.sh" in doc["run"], doc
    line = refused(cli("recommend", str(write_job(tmp_path, GAUDI3)), "--emit", "skypilot", "--no-simulate"))
    assert line.startswith("error: --emit: SkyPilot has no accelerator name for Gaudi3-128GB"), line


def test_a_launcher_style_on_the_fork_is_one_line(cli, tmp_path):
    line = refused(cli("recommend", str(write_job(tmp_path, GAUDI2)), "--emit", "torchrun:fsdp", "--no-simulate"))
    assert "megatron-core-gaudi launches through Intel's pretrain_llama.sh, which has no launcher styles" in line, line


def test_the_launchers_own_checks_accept_each_fork_spec(cli, tmp_path, monkeypatch):
    """bash -n on every script, SkyPilot 0.14's task / resources schemas, and each MPIJob pod template against the
    Kubernetes OpenAPI schema (strict), as tests/test_launch_parsers.py checks the other stacks' specs."""
    from test_launch_parsers import K8S_VERSION, bash_syntax_ok, need, skypilot_accepts

    for job in (GAUDI2, GAUDI3):
        bash_syntax_ok(_emit(cli, tmp_path, job, "torchrun"))
        bash_syntax_ok(_emit(cli, tmp_path, job, "slurm"))
        doc = yaml.safe_load(_emit(cli, tmp_path, job, "k8s"))
        kv = need("kubernetes_validate")
        for rep in doc["spec"]["mpiReplicaSpecs"].values():
            kv.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": doc["metadata"]["name"]},
                         "template": rep["template"]}, K8S_VERSION, strict=True)
            bash_syntax_ok(" ".join(rep["template"]["spec"]["containers"][0]["command"][2:]) or "true")
    doc = yaml.safe_load(_emit(cli, tmp_path, GAUDI2, "skypilot"))
    monkeypatch.setenv("HOME", str(tmp_path))  # SkyPilot's state (~/.sky) out of the user's home
    skypilot_accepts(doc)
    bash_syntax_ok(doc["run"])
