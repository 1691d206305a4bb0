"""Launch specs: the chosen plan as a ready torchrun command, sbatch script, SkyPilot task or
Kubernetes (Kubeflow ``PyTorchJob``) manifest — ``planner recommend job.yaml --emit FORMAT``.

The plan (``best`` from ``planner.search.recommend.recommend``: ``config``, ``hardware``, ``cost``) is
turned into one ``LaunchPlan`` — nodes, GPUs per node, the training program and its parallelism
flags — and each format only wraps that plan in its platform's syntax, so the numbers are written
once and every format carries the same ones.

Two launcher styles (``--emit torchrun:megatron`` / ``--emit torchrun:fsdp`` to force one):

* **megatron** — Megatron-LM ``pretrain_gpt.py`` flags (``megatron/training/arguments.py``):
  ``--tensor-model-parallel-size``, ``--pipeline-model-parallel-size``,
  ``--num-layers-per-virtual-pipeline-stage`` (interleaved 1F1B, Narayanan et al. 2021 §2.2),
  ``--context-parallel-size``, ``--expert-model-parallel-size``, ``--sequence-parallel``,
  ``--micro-batch-size``, ``--global-batch-size``, ``--recompute-granularity``/``-method``/
  ``-num-layers``, and ``--use-distributed-optimizer`` for ZeRO-1 (Megatron's distributed optimizer
  shards the optimizer state over the data-parallel ranks). Chosen by default for ZeRO 0/1.
* **fsdp** — PyTorch FSDP2 via torchtitan (``torchtitan/config/job_config.py``):
  ``--parallelism.data_parallel_shard_degree`` (FSDP), ``..._replicate_degree`` (DDP/HSDP),
  ``--parallelism.tensor_parallel_degree``, ``pipeline_parallel_degree``, ``context_parallel_degree``,
  ``expert_parallel_degree``, ``--parallelism.fsdp_reshard_after_forward`` (``never`` = ZeRO-2 /
  SHARD_GRAD_OP, ``always`` = ZeRO-3 / FULL_SHARD), ``--training.local_batch_size`` (with PP the
  whole per-replica batch, which torchtitan splits into pipeline micro-batches: ``titan_local_batch``),
  ``activation-checkpoint:MODE`` (a subcommand in torchtitan 0.3). Chosen by default for ZeRO 2/3.
  Checked by torchtitan 0.3's own ``ConfigManager`` in tests/test_budget_review.py where installed.

Generic (non-transformer) models get a torchrun command for the user's own ``$TRAIN_SCRIPT`` with
the batch and FSDP sharding as conventional flags. Paths to data, tokenizer, container image and
checkpoints are left as ``$VARIABLES`` named in a comment at the top: the planner knows the layout,
not where the team keeps its data.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field

import yaml

from planner.errors import InputError, clip
from planner.model.stacks import from_training
from planner.present.safe import clean_line
from planner.units import config_str, fmt_time, fmt_usd
from planner.spec import JobSpec

FORMATS = ("torchrun", "slurm", "skypilot", "k8s")
STYLES = ("megatron", "fsdp")
MASTER_PORT = 29500
SLURM_TIME_HEADROOM = 1.15  # sbatch --time = plan hours x this (restarts, eval, checkpoints)

# catalog GPU name -> SkyPilot accelerator name (``sky show-gpus``)
SKYPILOT_ACCELERATOR = {
    "V100-SXM2-16GB": "V100", "V100-SXM2-32GB": "V100-32GB", "T4-16GB": "T4", "A10G-24GB": "A10G",
    "A10-24GB": "A10", "L4-24GB": "L4", "L40S-48GB": "L40S", "A100-SXM-40GB": "A100",
    "A100-SXM-80GB": "A100-80GB", "A100-PCIe-40GB": "A100", "A100-PCIe-80GB": "A100-80GB",
    "H100-SXM-80GB": "H100", "H100-PCIe-80GB": "H100", "H100-NVL-94GB": "H100-NVL",
    "H200-SXM-141GB": "H200", "B200-SXM-180GB": "B200", "GB200-B200": "GB200",
    "MI250X-128GB": "MI250X", "MI300X-192GB": "MI300X", "MI325X-256GB": "MI325X",
}
PRECISION_FLAGS = {  # Megatron-LM
    "bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": [],
    "fp8": ["--bf16", "--fp8-format", "hybrid"],  # Transformer Engine: E4M3 fwd, E5M2 grads
}
TITAN_PRECISION = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "fp8": "bfloat16"}
FSDP_RESHARD = {0: None, 1: None, 2: "never", 3: "always"}  # ZeRO stage -> FSDP2 reshard policy


@dataclass
class LaunchPlan:
    """What every format needs: where, how many, and the per-process program with its flags."""

    name: str
    nodes: int
    gpus_per_node: int
    style: str
    program: list[str]  # argv after ``torchrun <launcher flags>``: script or ``-m module``, then flags
    env: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)  # $VAR -> what it should hold
    hours: float = float("nan")
    cloud: str = "-"
    instance: str | None = None
    gpu: str = ""
    vcpus_per_node: float | None = None
    spot: bool = False
    summary: str = ""


# ------------------------------------------------------------------------------- program flags
def _flag(name: str, value) -> list[str]:
    return [name, str(value)]


def _moe_flags(job: JobSpec, cfg: dict) -> list[str]:
    """The MoE execution the time model assumed for Megatron-Core (planner.model.moe): grouped
    expert GEMMs, the all-to-all dispatcher (Megatron-LM's default is allgather) or the flex
    dispatcher's DeepEP/HybridEP backend, the combined-1F1B all-to-all overlap when the job
    asks for it, and the expert-tensor-parallel degree when it is not TP."""
    st = from_training(job.training)  # the stack the plan was timed with
    a = ["--moe-grouped-gemm"]
    if st.moe_dispatcher == "alltoall":
        a += _flag("--moe-token-dispatcher-type", "alltoall")
    else:
        a += _flag("--moe-token-dispatcher-type", "flex") + _flag("--moe-flex-dispatcher-backend", st.moe_dispatcher)
    if st.moe_a2a_overlap:
        a.append("--overlap-moe-expert-parallel-comm")
    if cfg.get("etp") is not None and cfg["etp"] != cfg["tp"]:
        a += _flag("--expert-tensor-parallel-size", cfg["etp"])
    return a


def megatron_args(job: JobSpec, cfg: dict, steps: float) -> list[str]:
    """Megatron-LM ``pretrain_gpt.py`` arguments for the plan (architecture + parallelism)."""
    m, t = job.model, job.training
    a: list[str] = []
    a += _flag("--tensor-model-parallel-size", cfg["tp"])
    a += _flag("--pipeline-model-parallel-size", cfg["pp"])
    if cfg["vpp"] > 1:
        a += _flag("--num-layers-per-virtual-pipeline-stage", m.layers // (cfg["pp"] * cfg["vpp"]))
    a += _flag("--context-parallel-size", cfg["cp"])
    if m.moe is not None:
        a += _flag("--expert-model-parallel-size", cfg["ep"])
        a += _moe_flags(job, cfg)
    if cfg["sp"] and cfg["tp"] > 1:
        a.append("--sequence-parallel")
    a += _flag("--micro-batch-size", cfg["micro_batch"])
    a += _flag("--global-batch-size", t.global_batch)
    if cfg["recompute"] == "selective":
        a += _flag("--recompute-granularity", "selective")
    elif cfg["recompute"] == "full":
        # every layer's input kept, the layer recomputed in backward (the planner's "full")
        a += ["--recompute-granularity", "full", "--recompute-method", "uniform", "--recompute-num-layers", "1"]
    if cfg["zero"] in (1, 2):
        a.append("--use-distributed-optimizer")
    elif cfg["zero"] == 3:
        a.append("--use-torch-fsdp2")
    if cfg["dp"] > 1:
        a.append("--overlap-grad-reduce")  # the time model assumes the DP reduce overlaps backward
    # architecture
    a += _flag("--num-layers", m.layers) + _flag("--hidden-size", m.hidden)
    a += _flag("--num-attention-heads", m.heads) + _flag("--ffn-hidden-size", m.ffn_hidden)
    if m.head_dim * m.heads != m.hidden:
        a += _flag("--kv-channels", m.head_dim)
    if m.kv_heads != m.heads:
        a += ["--group-query-attention"] + _flag("--num-query-groups", m.kv_heads)
    if m.moe is not None:
        a += _flag("--num-experts", m.moe.experts) + _flag("--moe-router-topk", m.moe.top_k)
    if m.gated:
        a.append("--swiglu")
    a += _flag("--normalization", "RMSNorm" if m.norm == "rmsnorm" else "LayerNorm")
    if m.position == "rope":
        a += _flag("--position-embedding-type", "rope")
    if not m.tied_embeddings:
        a.append("--untie-embeddings-and-output-weights")
    if not m.linear_bias:
        a.append("--disable-bias-linear")
    if m.qkv_bias:
        a.append("--add-qkv-bias")
    a += _flag("--seq-length", t.seq_len) + _flag("--max-position-embeddings", max(t.seq_len, m.max_positions or 0))
    a += PRECISION_FLAGS[t.precision]
    if t.flash_attention:
        a += _flag("--attention-backend", "flash")
    a += _flag("--train-iters", int(steps))
    a += ["--data-path", "$DATA_PATH", "--tokenizer-type", "HuggingFaceTokenizer",
          "--tokenizer-model", "$TOKENIZER", "--save", "$CKPT_DIR", "--load", "$CKPT_DIR"]
    return ["$MEGATRON_DIR/pretrain_gpt.py"] + a


def titan_local_batch(global_batch: int, cfg: dict) -> int:
    """torchtitan's ``training.local_batch_size`` for the plan. torchtitan (trainer.py, 0.3.0)
    runs ``global / (local x dp)`` gradient-accumulation steps and, with PP, splits each local
    batch into ``local / pipeline_parallel_microbatch_size`` pipeline micro-batches. So without PP
    local = the micro-batch (accumulation does the rest); with PP local = the whole per-replica
    batch, ``global / dp`` = micro-batch x micro-batches per step (one pipeline pass, no
    accumulation), or the pipeline would see a single micro-batch and the schedule would be all bubble."""
    if cfg["pp"] > 1:
        if global_batch % cfg["dp"] or (global_batch // cfg["dp"]) % cfg["micro_batch"]:
            raise InputError("training.global_batch", f"{global_batch} is not a multiple of DP{cfg['dp']} x "
                                                      f"micro-batch {cfg['micro_batch']}: torchtitan's pipeline needs it")
        return global_batch // cfg["dp"]
    return cfg["micro_batch"]


def fsdp_args(job: JobSpec, cfg: dict, steps: float) -> list[str]:
    """torchtitan (FSDP2 + TP/PP/CP/EP) arguments; for generic models, a user script's flags."""
    t = job.training
    reshard = FSDP_RESHARD[cfg["zero"]]
    sharded = reshard is not None
    if job.model is not None and not job.model.is_transformer:
        strategy = {0: "NO_SHARD", 1: "NO_SHARD", 2: "SHARD_GRAD_OP", 3: "FULL_SHARD"}[cfg["zero"]]
        return (["$TRAIN_SCRIPT"] + _flag("--micro-batch-size", cfg["micro_batch"])
                + _flag("--global-batch-size", t.global_batch) + _flag("--fsdp-sharding-strategy", strategy)
                + _flag("--precision", t.precision) + _flag("--steps", int(steps))
                + (["--activation-checkpointing"] if cfg["recompute"] != "none" else []))
    # torchtitan 0.3 (PyPI): the model and data come from a config_registry function of a module
    a = ["-m", "torchtitan.train", "--module", "$TITAN_MODULE", "--config", "$TITAN_CONFIG"]
    a += _flag("--parallelism.data_parallel_shard_degree", cfg["dp"] if sharded else 1)
    a += _flag("--parallelism.data_parallel_replicate_degree", 1 if sharded else cfg["dp"])
    a += _flag("--parallelism.tensor_parallel_degree", cfg["tp"])
    a += _flag("--parallelism.pipeline_parallel_degree", cfg["pp"])
    local = titan_local_batch(t.global_batch, cfg)
    if cfg["pp"] > 1:
        a += _flag("--parallelism.pipeline_parallel_schedule", "Interleaved1F1B" if cfg["vpp"] > 1 else "1F1B")
        a += _flag("--parallelism.pipeline_parallel_microbatch_size", cfg["micro_batch"])
    a += _flag("--parallelism.context_parallel_degree", cfg["cp"])
    a += _flag("--parallelism.expert_parallel_degree", cfg["ep"])
    if sharded:
        a += _flag("--parallelism.fsdp_reshard_after_forward", reshard)
    a += _flag("--training.local_batch_size", local)
    a += _flag("--training.global_batch_size", t.global_batch)
    a += _flag("--training.seq_len", t.seq_len)
    a += _flag("--training.steps", int(steps))
    a += _flag("--training.mixed_precision_param", TITAN_PRECISION[t.precision])
    if cfg["pp"] > 1 or cfg["ep"] > 1:
        a.append("--training.disable_cuda_graphs")  # torchtitan 0.3 refuses CUDA graphs with PP (and most EP)
    # torchtitan 0.3 makes the activation-checkpoint mode a (tyro) subcommand, given last
    a.append(f"activation-checkpoint:{cfg['recompute']}")
    return a


def launch_plan(job: JobSpec, best: dict, style: str | None = None) -> LaunchPlan:
    """The plan every format renders. ``style`` None picks megatron for ZeRO 0/1, fsdp for 2/3."""
    cfg, hw, cost = best["config"], best["hardware"], best.get("cost", {})
    transformer = job.model is not None and job.model.is_transformer
    if style is None:
        style = "fsdp" if (cfg["zero"] >= 2 or not transformer) else "megatron"
    if style not in STYLES:
        raise InputError("--emit", f"launcher style must be one of {', '.join(STYLES)} (got {clip(style)})")
    if style == "megatron" and not transformer:
        raise InputError("--emit", "the megatron style needs a transformer model; use fsdp")
    steps = cost.get("steps") or (job.training.steps or 1)
    prog = megatron_args(job, cfg, steps) if style == "megatron" else fsdp_args(job, cfg, steps)
    env = {"CUDA_DEVICE_MAX_CONNECTIONS": "1"} if style == "megatron" and cfg["tp"] > 1 else {}
    if style == "megatron":
        ph = {"MEGATRON_DIR": "a Megatron-LM checkout", "DATA_PATH": "the tokenised dataset prefix",
              "TOKENIZER": "a Hugging Face tokenizer name or path", "CKPT_DIR": "a shared checkpoint directory"}
    elif transformer:
        ph = {"TITAN_MODULE": "a torchtitan model module (llama3, deepseek_v3, ...)",
              "TITAN_CONFIG": "a config_registry function of that module with the model and data (flags below override it)"}
    else:
        ph = {"TRAIN_SCRIPT": "your training script (flags below are the planner's names for the layout)"}
    # a DNS-1123 label (k8s, SkyPilot, Slurm job names): ASCII letters and digits only
    name = "".join(ch if (ch.isascii() and ch.isalnum()) else "-" for ch in (job.model.name if job.model else "job").lower()).strip("-")
    inst = hw["name"].split(":", 1)[1] if ":" in hw["name"] else None
    price = hw.get("price_ondemand_usd_hr")
    summary = (f"{hw['nodes']} x {hw['name']} ({hw['gpus']} x {hw['gpu']}), "
               f"{config_str(cfg)}; {fmt_time(cost.get('hours', float('nan')) * 3600)}, "
               f"{fmt_usd(cost.get('cost_ondemand_usd'))} on-demand")
    return LaunchPlan(
        name=f"{name[:40] or 'job'}-train", nodes=int(hw["nodes"]), gpus_per_node=int(hw["gpus_per_node"]),
        style=style, program=prog, env=env, placeholders=ph, hours=float(cost.get("hours", float("nan"))),
        cloud=hw.get("cloud", "-"), instance=inst, gpu=hw["gpu"],
        vcpus_per_node=best.get("detail", {}).get("vcpus_per_node"), spot=bool(job.constraints.spot and price),
        summary=summary,
    )


# ------------------------------------------------------------------------------- formats
def _quote(arg: str) -> str:
    """Shell-quote, but leave ``$VAR`` references expandable."""
    if arg.startswith("$") and arg[1:].replace("_", "").isalnum():
        return f'"{arg}"'
    if "/" in arg and arg.startswith("$"):
        head, _, tail = arg.partition("/")
        return f'"{head}"/{shlex.quote(tail)}'
    return shlex.quote(arg)


def _lines(args: list[str], indent: str = "  ") -> str:
    """Flags grouped one per line (a flag with its value), joined with backslash continuations."""
    groups: list[list[str]] = []
    for a in args:
        if a.startswith("-") or not groups:
            groups.append([a])
        else:
            groups[-1].append(a)
    return (" \\\n" + indent).join(" ".join(_quote(x) for x in g) for g in groups)


def torchrun_args(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> list[str]:
    """``torchrun`` launcher flags (torch.distributed.run); one node uses ``--standalone``."""
    if plan.nodes == 1:
        return ["torchrun", "--standalone", "--nnodes=1", f"--nproc-per-node={plan.gpus_per_node}"]
    return ["torchrun", f"--nnodes={plan.nodes}", f"--nproc-per-node={plan.gpus_per_node}",
            f"--node-rank={node_rank}", f"--master-addr={master_addr}", f"--master-port={master_port}"]


def _header(plan: LaunchPlan, comment: str = "#") -> str:
    lines = [f"planner plan: {plan.summary}", f"launcher style: {plan.style}"]
    lines += [f"set ${k}: {v}" for k, v in plan.placeholders.items()]
    return "\n".join(f"{comment} {clean_line(x)}" for x in lines)  # catalog names: one inert comment line


def _command(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> str:
    env = " ".join(f"{k}={v}" for k, v in plan.env.items())
    launcher = torchrun_args(plan, node_rank, master_addr, master_port)
    return (env + " " if env else "") + " ".join(launcher) + " \\\n  " + _lines(plan.program)


def emit_torchrun(plan: LaunchPlan) -> str:
    where = ("run once on the node" if plan.nodes == 1 else
             f"run on each of the {plan.nodes} nodes with NODE_RANK=0..{plan.nodes - 1} and MASTER_ADDR = node 0's address")
    return (_header(plan) + f"\n# {where}\n"
            + _command(plan, "$NODE_RANK", "$MASTER_ADDR", str(MASTER_PORT)) + "\n")


def _slurm_time(hours: float) -> str:
    if not math.isfinite(hours):
        return "UNLIMITED"
    minutes = max(10, int(math.ceil(hours * SLURM_TIME_HEADROOM * 60)))
    d, rem = divmod(minutes, 24 * 60)
    return f"{d}-{rem // 60:02d}:{rem % 60:02d}:00"


def emit_slurm(plan: LaunchPlan) -> str:
    """An sbatch script: one task per node, each running torchrun for its node's GPUs."""
    sb = [f"--job-name={plan.name}", f"--nodes={plan.nodes}", "--ntasks-per-node=1",
          f"--gpus-per-node={plan.gpus_per_node}", "--exclusive", f"--time={_slurm_time(plan.hours)}"]
    if plan.vcpus_per_node:
        sb.append(f"--cpus-per-task={int(plan.vcpus_per_node)}")
    body = ["#!/bin/bash"] + [f"#SBATCH {s}" for s in sb] + [_header(plan),
            f"# --time is the plan's {fmt_time(plan.hours * 3600)} x {SLURM_TIME_HEADROOM} headroom",
            "set -euo pipefail",
            'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            f"export MASTER_PORT={MASTER_PORT}"]
    body += [f"export {k}={v}" for k, v in plan.env.items()]
    # single quotes: SLURM_NODEID must expand per task, on its own node
    launcher = torchrun_args(plan, "$SLURM_NODEID", "$MASTER_ADDR", "$MASTER_PORT")
    cmd = " ".join(launcher) + " " + " ".join(_quote(x) for x in plan.program)
    body.append("srun --kill-on-bad-exit=1 bash -c " + shlex.quote(cmd))
    return "\n".join(body) + "\n"


def _run_script(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> str:
    env = "".join(f"export {k}={v}\n" for k, v in plan.env.items())
    return env + " ".join(torchrun_args(plan, node_rank, master_addr, master_port)) + " \\\n  " + _lines(plan.program) + "\n"


def emit_skypilot(plan: LaunchPlan) -> str:
    """A SkyPilot task YAML (``sky launch task.yaml``): resources, num_nodes, run script."""
    acc = SKYPILOT_ACCELERATOR.get(plan.gpu, plan.gpu)
    res: dict = {"accelerators": f"{acc}:{plan.gpus_per_node}"}
    if plan.cloud not in ("-", None):
        res["cloud"] = plan.cloud
    if plan.instance:
        res["instance_type"] = plan.instance
    res["use_spot"] = plan.spot
    run = ('MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1)\n'
           + _run_script(plan, "$SKYPILOT_NODE_RANK", "$MASTER_ADDR", str(MASTER_PORT)))
    task = {"name": plan.name, "num_nodes": plan.nodes, "resources": res,
            "envs": {k: "" for k in plan.placeholders}, "run": run}
    return _header(plan) + "\n" + yaml.safe_dump(task, sort_keys=False, width=1000)


def emit_k8s(plan: LaunchPlan) -> str:
    """A Kubeflow Training Operator ``PyTorchJob``: one Master + (nodes-1) Workers, one pod per
    node holding all its GPUs; the operator sets MASTER_ADDR, MASTER_PORT and RANK (node rank)."""
    vendor_gpu = "amd.com/gpu" if plan.gpu.upper().startswith("MI") else "nvidia.com/gpu"
    script = _run_script(plan, "$RANK", "$MASTER_ADDR", "$MASTER_PORT")
    env = [{"name": k, "value": "REPLACE_ME"} for k in plan.placeholders]

    def replica(n: int) -> dict:
        spec: dict = {
            "containers": [{
                "name": "pytorch", "image": "REPLACE_WITH_TRAINING_IMAGE",
                "command": ["bash", "-c", script], "env": env,
                "resources": {"limits": {vendor_gpu: plan.gpus_per_node}},
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
            }],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        }
        if plan.instance:
            spec["nodeSelector"] = {"node.kubernetes.io/instance-type": plan.instance}
        return {"replicas": n, "restartPolicy": "OnFailure", "template": {"spec": spec}}

    replicas = {"Master": replica(1)}
    if plan.nodes > 1:
        replicas["Worker"] = replica(plan.nodes - 1)
    doc = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": plan.name},
           "spec": {"nprocPerNode": str(plan.gpus_per_node), "pytorchReplicaSpecs": replicas}}
    return _header(plan) + "\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


EMITTERS = {"torchrun": emit_torchrun, "slurm": emit_slurm, "skypilot": emit_skypilot, "k8s": emit_k8s}


def emit_launch_spec(job: JobSpec, best: dict, fmt: str) -> str:
    """``fmt`` is ``torchrun|slurm|skypilot|k8s``, optionally ``:megatron`` or ``:fsdp``."""
    kind, _, style = str(fmt).lower().partition(":")
    if kind not in EMITTERS:
        raise InputError("--emit", f"must be one of {', '.join(FORMATS)} (optionally :megatron or :fsdp), got {clip(fmt)}")
    return EMITTERS[kind](launch_plan(job, best, style or None))
