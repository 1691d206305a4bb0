"""Launch specs (planner/present/emit.py): every format parses, and its numbers are the plan's numbers."""
import shlex

import pytest
import yaml

from planner.present.emit import emit_launch_spec, launch_plan
from planner.errors import InputError
from planner.workloads.training import estimate_job
from planner.spec import load_job_dict


def _plan(parallel, model=None, training=None, cluster=None):
    job = load_job_dict({
        "model": model or {"preset": "llama3-70b"},
        "training": training or {"seq_len": 8192, "global_batch": 512, "micro_batch": 2,
                                 "recompute": "selective", "tokens": 1e12},
        "parallel": parallel,
        "cluster": cluster or {"instance": "aws:p5.48xlarge", "nodes": 16},
    })
    return job, estimate_job(job)


def _argv(text: str) -> list[str]:
    """The torchrun command of a shell snippet, as argv (comments and continuations dropped)."""
    return [t for t in shlex.split(text, comments=True) if t.strip()]


def _flags(argv: list[str]) -> dict:
    """--name value / --name=value pairs; bare switches map to True."""
    out, i = {}, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
        elif a.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and not nxt.startswith("--"):
                out[a] = nxt
                i += 1
            else:
                out[a] = True
        i += 1
    return out


MEGA = {"tp": 8, "pp": 4, "vpp": 2, "cp": 1, "zero": 1, "sequence_parallel": True}


def test_torchrun_megatron_flags_match_plan():
    job, best = _plan(MEGA)
    cfg = best["config"]
    argv = _argv(emit_launch_spec(job, best, "torchrun"))
    f = _flags(argv)
    assert argv[argv.index("torchrun") - 1] == "CUDA_DEVICE_MAX_CONNECTIONS=1"
    assert int(f["--nnodes"]) == 16 and int(f["--nproc-per-node"]) == 8
    assert int(f["--tensor-model-parallel-size"]) == cfg["tp"] == 8
    assert int(f["--pipeline-model-parallel-size"]) == cfg["pp"] == 4
    # 80 layers / (pp 4 x vpp 2) = 10 layers per virtual stage
    assert int(f["--num-layers-per-virtual-pipeline-stage"]) == 80 // (4 * 2)
    assert int(f["--context-parallel-size"]) == 1
    assert f["--sequence-parallel"] is True and f["--use-distributed-optimizer"] is True
    assert int(f["--micro-batch-size"]) == 2 and int(f["--global-batch-size"]) == 512
    assert f["--recompute-granularity"] == "selective"
    assert int(f["--num-query-groups"]) == 8 and int(f["--num-layers"]) == 80
    assert int(f["--train-iters"]) == int(best["cost"]["steps"])
    assert "--expert-model-parallel-size" not in f  # dense model


def test_moe_cp_full_recompute_flags():
    job, best = _plan({"tp": 2, "pp": 1, "cp": 2, "ep": 8, "zero": 1},
                      model={"preset": "mixtral-8x7b"},
                      training={"seq_len": 32768, "global_batch": 64, "micro_batch": 1,
                                "recompute": "full", "tokens": 1e11})
    f = _flags(_argv(emit_launch_spec(job, best, "torchrun:megatron")))
    assert int(f["--expert-model-parallel-size"]) == 8 and int(f["--num-experts"]) == 8
    assert int(f["--context-parallel-size"]) == 2
    assert f["--recompute-granularity"] == "full" and f["--recompute-method"] == "uniform"
    assert "--num-layers-per-virtual-pipeline-stage" not in f


def test_style_follows_the_stack_and_can_be_forced():
    """The megatron-core stack runs Megatron: its ZeRO-3 plan is emitted as Megatron's FSDP2
    (--use-torch-fsdp2); the torchtitan stack's as torchtitan; either style can be forced."""
    job, best = _plan({"tp": 2, "pp": 1, "zero": 3})
    assert launch_plan(job, best).style == "megatron"
    f2 = _flags(_argv(emit_launch_spec(job, best, "torchrun")))
    assert f2["--use-torch-fsdp2"] is True and int(f2["--tensor-model-parallel-size"]) == 2
    titan = {"seq_len": 8192, "global_batch": 512, "micro_batch": 2, "recompute": "selective", "tokens": 1e12,
             "framework": "torchtitan"}
    job, best = _plan({"tp": 2, "pp": 1, "zero": 3}, training=titan)
    assert launch_plan(job, best).style == "fsdp"
    f = _flags(_argv(emit_launch_spec(job, best, "torchrun")))
    assert int(f["--parallelism.data_parallel_shard_degree"]) == best["config"]["dp"] == 64
    assert int(f["--parallelism.data_parallel_replicate_degree"]) == 1
    assert int(f["--parallelism.tensor_parallel_degree"]) == 2
    assert f["--parallelism.fsdp_reshard_after_forward"] == "always"
    assert int(f["--training.local_batch_size"]) == 2 and "activation-checkpoint:selective" in _argv(emit_launch_spec(job, best, "torchrun"))
    # a torchtitan ZeRO-0 plan is still torchtitan's (replicated), not Megatron's
    job, best = _plan({"tp": 8, "pp": 1, "zero": 0}, training=titan)
    assert launch_plan(job, best).style == "fsdp"
    assert launch_plan(job, best, "megatron").style == "megatron"  # forced


def test_slurm_script():
    job, best = _plan(MEGA)
    text = emit_launch_spec(job, best, "slurm")
    sb = dict((line[len("#SBATCH "):] + "=").split("=")[:2] for line in text.splitlines() if line.startswith("#SBATCH "))
    assert "--exclusive" in sb
    assert sb["--nodes"] == "16" and sb["--gpus-per-node"] == "8" and sb["--ntasks-per-node"] == "1"
    days, hms = sb["--time"].split("-")
    h, m, _ = hms.split(":")
    limit_h = int(days) * 24 + int(h) + int(m) / 60
    assert best["cost"]["hours"] < limit_h <= best["cost"]["hours"] * 1.2 + 1 / 6
    srun = next(line for line in text.splitlines() if line.startswith("srun"))
    inner = shlex.split(srun)[-1]  # the bash -c payload
    f = _flags(_argv(inner))
    assert f["--node-rank"] == "$SLURM_NODEID" and int(f["--pipeline-model-parallel-size"]) == 4


def test_skypilot_yaml():
    job, best = _plan(MEGA)
    doc = yaml.safe_load(emit_launch_spec(job, best, "skypilot"))
    assert doc["num_nodes"] == 16
    assert doc["resources"]["accelerators"] == "H100:8"
    assert doc["resources"]["instance_type"] == "p5.48xlarge" and doc["resources"]["cloud"] == "aws"
    f = _flags(_argv(doc["run"]))
    assert int(f["--tensor-model-parallel-size"]) == 8 and f["--node-rank"] == "$SKYPILOT_NODE_RANK"
    assert set(doc["envs"]) == {"MEGATRON_DIR", "DATA_PATH", "TOKENIZER", "CKPT_DIR"}


def test_k8s_pytorchjob():
    job, best = _plan(MEGA)
    doc = yaml.safe_load(emit_launch_spec(job, best, "k8s"))
    assert doc["kind"] == "PyTorchJob"
    reps = doc["spec"]["pytorchReplicaSpecs"]
    assert reps["Master"]["replicas"] + reps["Worker"]["replicas"] == 16
    c = reps["Worker"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    f = _flags(_argv(c["command"][-1]))
    assert int(f["--global-batch-size"]) == 512 and int(f["--nnodes"]) == 16


def test_single_node_generic_model_and_bad_format():
    job, best = _plan({"zero": 0}, model={"preset": "resnet50"},
                      training={"global_batch": 256, "micro_batch": 32, "steps": 1000},
                      cluster={"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1})
    text = emit_launch_spec(job, best, "torchrun")
    argv = _argv(text)
    assert "--standalone" in argv and "$TRAIN_SCRIPT" in argv
    f = _flags(argv)
    # a ZeRO-0 plan on plain DDP (pytorch-ddp) is the user's DDP script (QA 101: until then the fsdp style's
    # --fsdp-sharding-strategy NO_SHARD line, labelled fsdp); the fsdp style, forced, still writes the strategy
    assert int(f["--micro-batch-size"]) == 32 and "--fsdp-sharding-strategy" not in f
    assert "# launcher style: script\n" in text
    assert _flags(_argv(emit_launch_spec(job, best, "torchrun:fsdp")))["--fsdp-sharding-strategy"] == "NO_SHARD"
    doc = yaml.safe_load(emit_launch_spec(job, best, "k8s"))
    assert "Worker" not in doc["spec"]["pytorchReplicaSpecs"]
    with pytest.raises(InputError, match="--emit"):
        emit_launch_spec(job, best, "docker")
    with pytest.raises(InputError, match="--emit"):
        emit_launch_spec(job, best, "torchrun:megatron")  # not a transformer


def test_cli_emit(cli):
    code, out, err = cli("recommend", "examples/llama3-8b-estimate.yaml", "--no-simulate", "--emit", "skypilot")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["num_nodes"] >= 1 and ":" in doc["resources"]["accelerators"]
    code, out, err = cli("recommend", "examples/llama3-8b-estimate.yaml", "--no-simulate", "--emit", "slurm")
    srun = next(line for line in out.splitlines() if line.startswith("srun"))  # one line, not wrapped
    assert srun.rstrip().endswith("'") and "--train-iters" in srun
    code, out, err = cli("recommend", "examples/llama3-8b-estimate.yaml", "--no-simulate", "--emit", "nope")
    assert code == 2 and "--emit" in err


def test_learned_positions_shorter_than_the_sequence_are_refused():
    """GPT-2 has 1024 learned positions: a 2048-token plan would make Megatron build a longer table
    than the model priced (tests/test_launch_parsers.py counts Megatron's parameters)."""
    job, best = _plan({"tp": 1, "pp": 1, "zero": 1}, model={"preset": "gpt2"},
                      training={"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9},
                      cluster={"instance": "aws:p5.48xlarge", "nodes": 1})
    with pytest.raises(InputError, match="1024 learned positions") as e:
        emit_launch_spec(job, best, "torchrun:megatron")
    assert e.value.field == "training.seq_len"


def test_megatron_uneven_pipeline_split():
    """Layer counts PP does not divide (the layout rules accept them) get Megatron's uneven-split flags:
    middle ranks the fullest share, first/last the rest, or the embedding and loss counted as layers."""
    from planner.present.emit import megatron_pipeline_split as split
    assert split(80, 4, 2) == ["--num-layers-per-virtual-pipeline-stage", "10"]
    assert split(80, 4, 1) == []
    # DeepSeek-V3's 61 layers on PP8: 6 middle ranks of 8, then 6 + 7
    assert split(61, 8, 1) == ["--decoder-first-pipeline-num-layers", "6", "--decoder-last-pipeline-num-layers", "7"]
    # 32 on PP3 x VPP2: first/last 10 would leave 12 on the middle rank (its share a multiple of VPP) where the time
    # model paces ceil(32 / 3) = 11 (qa21): the explicit layout, ranks of 10, 11, 11
    lay = split(32, 3, 2)
    assert lay[0] == "--pipeline-model-parallel-layout"
    per = [x.count("t") for x in lay[1].split("|")]
    assert [sum(per[r::3]) for r in range(3)] == [10, 11, 11]
    assert split(96, 6, 3)[0] == "--pipeline-model-parallel-layout"  # was first/last 12, middle 18 (> 16)
    # Llama-3.1-405B's 126 on PP8 x VPP8: 126 + embedding + loss = 128 = 64 stages of 2
    assert split(126, 8, 8) == ["--account-for-embedding-in-pipeline-split", "--account-for-loss-in-pipeline-split",
                                "--num-layers-per-virtual-pipeline-stage", "2"]
    # neither: an explicit layout, 61 layers in 8 stages of 7 or 8, MTP with the loss
    layout = split(61, 4, 2, mtp_layers=1)
    assert layout[0] == "--pipeline-model-parallel-layout"
    stages = layout[1].split("|")
    assert len(stages) == 8 and stages[0].startswith("E") and stages[-1].endswith("mL")
    assert sum(x.count("t") for x in stages) == 61 and {x.count("t") for x in stages} == {7, 8}


def test_a_bare_nvl72_cluster_launches_its_hosts_not_its_racks():
    """A bare GB200 cluster's node is the 72-GPU NVLink domain (its reference system, for the model), but a launcher's
    node is an OS host: the DGX GB200 compute tray of 4 GPUs. Two racks launch as 36 hosts x 4 processes; a job that
    states gpus_per_node launches as it says."""
    job, best = _plan({"tp": 8, "pp": 1}, model={"preset": "llama3-8b"},
                      training={"seq_len": 4096, "global_batch": 144, "tokens": 1e10}, cluster={"gpu": "GB200", "nodes": 2})
    assert best["hardware"]["gpus_per_node"] == 72 and best["hardware"]["gpus_per_host"] == 4
    plan = launch_plan(job, best)
    assert (plan.nodes, plan.gpus_per_node) == (36, 4)
    argv = _argv(emit_launch_spec(job, best, "torchrun"))
    assert "--nnodes=36" in argv and "--nproc-per-node=4" in argv
    job, best = _plan({"tp": 4, "pp": 1}, model={"preset": "llama3-8b"},
                      training={"seq_len": 4096, "global_batch": 128, "tokens": 1e10},
                      cluster={"gpu": "GB200", "nodes": 8, "gpus_per_node": 4})
    assert best["hardware"]["gpus_per_host"] is None and (launch_plan(job, best).nodes, launch_plan(job, best).gpus_per_node) == (8, 4)


def test_slurm_time_covers_checkpoint_pauses_and_failures():
    """sbatch --time came from the uninterrupted hours: a job whose blocking saves and node failures make it run
    longer than that was given too little time. It now comes from the expected hours the plan is ranked at."""
    from planner.results import ranked_hours

    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"seq_len": 8192, "global_batch": 256, "tokens": 2e10},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4},
                         "checkpoint": {"every_steps": 20, "write_gbps": 1.0, "mtbf_hours_per_node": 200}})
    best = estimate_job(job)
    expected, plain = ranked_hours(best["cost"], False), best["cost"]["hours"]
    assert expected > 1.3 * plain  # pauses and failures add a third or more
    sb = dict((line[len("#SBATCH "):] + "=").split("=")[:2]
              for line in emit_launch_spec(job, best, "slurm").splitlines() if line.startswith("#SBATCH "))
    days, hms = sb["--time"].split("-")
    h, m, _ = hms.split(":")
    limit_h = int(days) * 24 + int(h) + int(m) / 60
    assert expected < limit_h <= expected * 1.15 + 1 / 60
