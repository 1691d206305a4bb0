"""Launch specs checked by the launchers' own code, not by our reading of them (README "Launch specs").

Every format (torchrun, slurm, skypilot, k8s) x style (megatron, fsdp) of plans with PP > 1
(1F1B and interleaved), CP > 1, EP > 1 (MoE), ZeRO-1/2/3 is handed to:

* torchrun's own argument parser (``torch.distributed.run.get_args_parser``) for the launcher line;
* torchtitan 0.3's ``ConfigManager`` (tyro) for the fsdp flags, then its ``ParallelDims`` (degrees
  multiply to the world size; the device mesh, EP included, is really built on a fake process
  group) and its pipeline splitter ``_get_pipeline_metadata`` (virtual stages per rank);
* Megatron-Core's config dataclasses for the megatron flags (``TransformerConfig`` whose
  ``__post_init__`` enforces heads/TP, GQA, SP, recompute, fp8 rules; ``DistributedDataParallelConfig``;
  ``OptimizerConfig``), its ``get_num_layers_to_build`` (layers per pipeline / virtual stage), its
  ``ConstantNumMicroBatchesCalculator``, its ``initialize_model_parallel`` run on a fake process group
  of the plan's world size (TP x PP x CP and expert groups must tile the world) and its MoE layer's
  expert split. Megatron-LM's argparse layer (``megatron/training/arguments.py``) is not on PyPI (the
  megatron-core wheel holds ``megatron/core`` only), so its flag names and the few ``validate_args``
  rules Megatron-Core does not enforce are mirrored below, each quoted from that file;
* SkyPilot 0.14's task and resources JSON schemas (``sky.utils.schemas``) and ``sky.Task.from_yaml_config``
  (without resources: building ``sky.Resources`` downloads the cloud catalogs);
* kubernetes-validate 1.37's offline OpenAPI schemas (strict) for the pod template of every replica:
  the Kubeflow ``PyTorchJob`` CRD schema is not shipped there, so the CRD envelope itself is not
  schema-checked;
* ``bash -n`` for every shell script (sbatch script, SkyPilot run, container command). No sbatch
  parser is on PyPI, so the ``#SBATCH`` lines are only checked by tests/test_emit.py.

The parsers come from the ``launchers`` extra (pyproject.toml; ``all`` includes it, so CI installs
it). Where they are not installed the tests skip, except under CI (``$CI``) or with
``PLANNER_REQUIRE_LAUNCHERS=1``, where a missing parser is an error.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import math
import importlib
import os
import re
import shlex
import shutil
import subprocess
import types
import warnings
from functools import lru_cache

import pytest
import yaml

from planner import defaults as D
from planner.errors import InputError
from planner.model.stacks import from_training
from planner.present.emit import emit_launch_spec
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

REQUIRED = bool(os.environ.get("CI") or os.environ.get("PLANNER_REQUIRE_LAUNCHERS"))


def need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip(f"{module} is not installed here: pip install -e '.[launchers]' (CI installs it with [all])")


@pytest.fixture(autouse=True, scope="module")
def _private_home(tmp_path_factory):
    """SkyPilot keeps state under ~/.sky (catalog cache, locks, a user hash): keep the tests' out of
    the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    yield
    mp.undo()


# ------------------------------------------------------------------------------------ plans
P5 = "aws:p5.48xlarge"
PRETRAIN = {"seq_len": 8192, "global_batch": 512, "micro_batch": 2, "recompute": "selective", "tokens": 1e12}
PLANS = {  # name -> (model, training, parallel, cluster)
    "pp4-vpp2-tp8-sp": ({"preset": "llama3-70b"}, PRETRAIN,
                        {"tp": 8, "pp": 4, "vpp": 2, "cp": 1, "zero": 1, "sequence_parallel": True}, {"instance": P5, "nodes": 16}),
    "pp4-vpp4-zero1": ({"preset": "llama3-70b"}, {**PRETRAIN, "global_batch": 1024, "micro_batch": 1, "recompute": "full"},
                       {"tp": 2, "pp": 4, "vpp": 4, "zero": 1}, {"instance": P5, "nodes": 8}),
    "cp2-ep8-moe": ({"preset": "mixtral-8x7b"}, {"seq_len": 32768, "global_batch": 64, "micro_batch": 1, "recompute": "full", "tokens": 1e11},
                    {"tp": 2, "pp": 1, "cp": 2, "ep": 8, "zero": 1}, {"instance": P5, "nodes": 16}),
    "pp2-ep8-qwen3moe-zero2": ({"preset": "qwen3-30b-a3b"}, {"seq_len": 4096, "global_batch": 512, "micro_batch": 1, "tokens": 1e11,
                                                          "framework": "torchtitan"},
                               {"tp": 1, "pp": 2, "ep": 8, "zero": 2}, {"instance": P5, "nodes": 4}),
    "zero3-tp2": ({"preset": "llama3-70b"}, PRETRAIN, {"tp": 2, "pp": 1, "zero": 3}, {"instance": P5, "nodes": 16}),
    "pp8-zero2": ({"preset": "llama3-70b"}, {**PRETRAIN, "global_batch": 1024, "micro_batch": 1, "recompute": "full",
                                             "framework": "torchtitan"},
                  {"tp": 2, "pp": 8, "zero": 2}, {"instance": P5, "nodes": 8}),
    # the plans below are refused by one launcher: made for the stack that runs them (planner.model.stack_rules;
    # estimate refuses a plan its own stack cannot run), emitted in both styles
    "pp4-vpp2-zero3": ({"preset": "llama3-70b"}, {**PRETRAIN, "global_batch": 1024, "micro_batch": 1, "recompute": "full",
                                                  "framework": "torchtitan"},
                       {"tp": 2, "pp": 4, "vpp": 2, "zero": 3}, {"instance": P5, "nodes": 8}),
    "pp2-vpp2-ep8-deepep-a2a-overlap": ({"preset": "qwen3-30b-a3b"},
                                        {"seq_len": 4096, "global_batch": 512, "micro_batch": 1, "tokens": 1e11,
                                         "framework": {"name": "megatron-core", "moe_dispatcher": "deepep",
                                                       "moe_a2a_overlap": True}},
                                        {"tp": 2, "pp": 2, "vpp": 2, "ep": 8, "etp": 1, "zero": 1}, {"instance": P5, "nodes": 4}),
    "ep8-tp2-etp1-zero2": ({"preset": "mixtral-8x7b"}, {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11,
                                                        "framework": "torchtitan"},
                           {"tp": 2, "pp": 1, "ep": 8, "etp": 1, "zero": 2}, {"instance": P5, "nodes": 4}),
    # refused by both launchers: planned for a stack without launcher rules here (llm-foundry; until QA 43 DeepSpeed,
    # whose HF model code runs EP = TP only: stack_rules hf-ep-tp)
    "ep8-tp2-etp2-zero3": ({"preset": "mixtral-8x7b"}, {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11,
                                                        "framework": "llm-foundry"},
                           {"tp": 2, "pp": 1, "ep": 8, "zero": 3}, {"instance": P5, "nodes": 4}),
    # layer counts PP does not divide (planner.layout accepts them; Megatron's uneven-split flags)
    "pp3-uneven": ({"preset": "llama3-8b"}, {**PRETRAIN, "global_batch": 64, "micro_batch": 1, "recompute": "full"},
                   {"tp": 8, "pp": 3, "zero": 1}, {"instance": P5, "nodes": 3}),
    # m = 66 micro-batches: a multiple of pp 3, which Megatron-Core's interleaved schedule needs (64 is refused)
    "pp3-vpp2-uneven": ({"preset": "llama3-8b"}, {**PRETRAIN, "global_batch": 66, "micro_batch": 1, "recompute": "full"},
                        {"tp": 8, "pp": 3, "vpp": 2, "zero": 1}, {"instance": P5, "nodes": 3}),
    "pp8-vpp8-405b-embedding-loss": ({"preset": "llama3.1-405b"}, {**PRETRAIN, "global_batch": 64, "micro_batch": 1,
                                                                 "recompute": "full"},
                                     {"tp": 8, "pp": 8, "vpp": 8, "zero": 1}, {"instance": P5, "nodes": 8}),
    "pp4-vpp4-61-layers-layout": ({"family": "decoder", "layers": 61, "hidden": 4096, "heads": 32, "kv_heads": 8,
                                   "ffn_hidden": 14336, "vocab": 128256},
                                  {**PRETRAIN, "global_batch": 64, "micro_batch": 1, "recompute": "full"},
                                  {"tp": 1, "pp": 4, "vpp": 4, "zero": 1}, {"instance": P5, "nodes": 2}),
    # torchtitan twins of ZeRO-1 plans (torchtitan has no ZeRO-1): CP and fp8 in the fsdp style
    "cp4-tp1-titan": ({"preset": "llama3-8b"}, {"seq_len": 32768, "global_batch": 64, "micro_batch": 1, "recompute": "full",
                                                "tokens": 1e11, "framework": "torchtitan"},
                      {"tp": 1, "pp": 1, "cp": 4, "zero": 3}, {"instance": P5, "nodes": 2}),
    "fp8-tp2-titan": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp8", "framework": "torchtitan"},
                      {"tp": 2, "pp": 1, "zero": 3}, {"instance": P5, "nodes": 2}),
    # torchtitan's tensorwise recipe (its Float8LinearConverter's recipe_name after 0.3.0, and in 2024-25: tfp59)
    "fp8-tensorwise-tp2-titan": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp8", "framework": {
        "name": "torchtitan", "fp8_recipe": "tensorwise"}}, {"tp": 2, "pp": 1, "zero": 3}, {"instance": P5, "nodes": 2}),
    # with FSDP2's float8 all-gather (fsdp8): the $TITAN_CONFIG note says how to set it (no 0.3.0 flag)
    "fp8-tensorwise-f8gather-titan": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp8", "framework": {
        "name": "torchtitan", "fp8_recipe": "tensorwise", "fsdp_float8_all_gather": True}},
        {"tp": 1, "pp": 1, "zero": 3}, {"instance": P5, "nodes": 2}),
    "cp4-tp1": ({"preset": "llama3-8b"}, {"seq_len": 32768, "global_batch": 64, "micro_batch": 1, "recompute": "full",
                                          "tokens": 1e11}, {"tp": 1, "pp": 1, "cp": 4, "zero": 1}, {"instance": P5, "nodes": 2}),
    "optimizer-offload-zero1": ({"preset": "llama3-8b"}, {**PRETRAIN, "framework": {"name": "megatron-core", "optimizer_offload": True}},
                                {"tp": 2, "pp": 1, "zero": 1}, {"instance": P5, "nodes": 2}),
    "optimizer-offload-zero3": ({"preset": "llama3-70b"}, {**PRETRAIN, "framework": {"name": "torchtitan", "optimizer_offload": True}},
                                {"tp": 2, "pp": 1, "zero": 3}, {"instance": P5, "nodes": 16}),
    "fp8-tp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp8"}, {"tp": 2, "pp": 1, "zero": 1}, {"instance": P5, "nodes": 2}),
    # the recipe and the 16-bit end layers (--fp8-recipe, --first-last-layers-bf16) and NVFP4 as TE's fp4 path
    "mxfp8-bf16-end-layers": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp8", "framework": {
        "name": "megatron-core", "fp8_recipe": "mxfp8", "lp_bf16_layers": 4}}, {"tp": 2, "pp": 2, "zero": 1},
        {"gpu": "B200", "nodes": 2}),
    "nvfp4-bf16-end-layers": ({"preset": "llama3-8b"}, {**PRETRAIN, "precision": "fp4", "framework": {
        "name": "megatron-core", "lp_bf16_layers": 4}}, {"tp": 2, "pp": 1, "zero": 1}, {"gpu": "B200", "nodes": 2}),
    # Megatron-FSDP (training.framework.megatron_fsdp): ZeRO-3 with PP and TP, ZeRO-2 with EP, which FSDP2 and the
    # distributed optimizer refuse (planner.model.stack_rules)
    "mfsdp-zero3-pp2-tp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "framework": {"name": "megatron-core", "megatron_fsdp": True}},
                            {"tp": 2, "pp": 2, "zero": 3}, {"instance": P5, "nodes": 2}),
    "mfsdp-zero2-ep8": ({"preset": "mixtral-8x7b"}, {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11,
                                                      "framework": {"name": "megatron-bridge", "megatron_fsdp": True}},
                        {"tp": 2, "pp": 1, "ep": 8, "etp": 1, "zero": 2}, {"instance": P5, "nodes": 4}),
    # Muon (planner.model.optimizers): Megatron's --optimizer dist_muon (ZeRO-1) / muon (ZeRO-0); torchtitan's
    # DistMuon is the fsdp style's (its config function sets it) and needs FSDP and no TP / PP
    "muon-zero1-tp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "optimizer": "muon"}, {"tp": 2, "pp": 1, "zero": 1},
                       {"instance": P5, "nodes": 2}),
    "muon-zero0-pp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "optimizer": "muon"}, {"tp": 1, "pp": 2, "zero": 0},
                       {"instance": P5, "nodes": 2}),
    # SGD and Lion (planner.model.optimizers RUNTIME_OPTIMIZERS): Megatron's --optimizer sgd --sgd-momentum / lion,
    # replicated (its distributed optimizer wraps Adam only); torchtitan builds neither
    "sgd-momentum-zero0-tp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "optimizer": "sgd_momentum"},
                               {"tp": 2, "pp": 1, "zero": 0}, {"instance": P5, "nodes": 2}),
    "lion-zero0-tp2": ({"preset": "llama3-8b"}, {**PRETRAIN, "optimizer": "lion", "framework": "megatron-bridge"},
                       {"tp": 2, "pp": 1, "zero": 0}, {"instance": P5, "nodes": 2}),
}
FORMATS = ("torchrun", "slurm", "skypilot", "k8s")
# Plans a style cannot express: the emitter must refuse them with an InputError on --emit naming why
REFUSED = {
    # Megatron-LM arguments.py validate_args: "--use-torch-fsdp2 is not supported with pipeline parallelism"
    ("pp4-vpp2-zero3", "megatron"): "pipeline",
    # torchtitan's EP borrows its ranks from FSDP (parallel_dims.py: efsdp = dp_shard x cp x tp / ep); a
    # ZeRO-0/1 plan has no FSDP ranks to lend
    ("cp2-ep8-moe", "fsdp"): "expert", ("pp2-vpp2-ep8-deepep-a2a-overlap", "fsdp"): "expert",
    # (the MoE all-to-all overlap with full recompute, which Megatron-Core refuses, is refused by estimate itself:
    # tests/test_stack_rules.py)
    # Megatron-LM: "--use-torch-fsdp2 is not supported with expert parallelism"; torchtitan (moe_sharding.py)
    # does not shard experts over TP when EP is on, and this plan's ETP is its TP (2)
    ("ep8-tp2-etp2-zero3", "megatron"): "expert parallelism", ("ep8-tp2-etp2-zero3", "fsdp"): "ETP2",
    # torchtitan _get_pipeline_metadata: 126 layers at ceil(126/64) = 2 per stage make 63 stages, not PP8 x VPP8
    ("pp8-vpp8-405b-embedding-loss", "fsdp"): "stages",
    # torchtitan has no ZeRO-1 (FSDP2 shards or replicates): the Megatron ZeRO-1 plans are not torchtitan's
    **{(n, "fsdp"): "ZeRO-1" for n in ("pp4-vpp2-tp8-sp", "pp4-vpp4-zero1", "pp4-vpp4-61-layers-layout", "cp4-tp1")},
    # fp8 recipes: torchtitan's rowwise is not among Transformer Engine's (planner.model.stack_rules FP8_RECIPES);
    # Megatron's default tensorwise is torchtitan's too (tfp59: it was refused as not 0.3.0's), so the Megatron
    # tensorwise plan is refused only for its ZeRO-1
    ("fp8-tp2", "fsdp"): "ZeRO-1", ("fp8-tp2-titan", "megatron"): "a recipe it does not offer",
    # torchtitan has no 16-bit first / last layer option (a Megatron-Core one: planner.model.stacks OPTION_HOLDERS)
    **{(n, "fsdp"): "Megatron-Core option|a recipe it does not offer|ZeRO-1" for n in ("mxfp8-bf16-end-layers", "nvfp4-bf16-end-layers")},
    # Megatron has no ZeRO-2: its distributed optimizer keeps whole gradient buffers (planner.model.stack_rules)
    **{(n, "megatron"): "ZeRO-2" for n in ("pp2-ep8-qwen3moe-zero2", "pp8-zero2", "ep8-tp2-etp1-zero2")},
    # torchtitan offloads the optimizer only with FSDP2 (CPUOffloadPolicy); a ZeRO-1 plan has no FSDP shards
    ("optimizer-offload-zero1", "fsdp"): "offload",
    # Megatron: --optimizer-cpu-offload needs the distributed optimizer, --use-torch-fsdp2 refuses it
    ("optimizer-offload-zero3", "megatron"): "optimizer offload",
    # torchtitan's DistMuon: no ZeRO-1 (torchtitan has none), no pipeline (planner.model.stack_rules titan-muon-*)
    ("muon-zero1-tp2", "fsdp"): "ZeRO-1", ("muon-zero0-pp2", "fsdp"): "Muon",
    # torchtitan's build_optimizers: Adam and AdamW (planner.model.stack_rules titan-optimizer)
    ("sgd-momentum-zero0-tp2", "fsdp"): "does not build", ("lion-zero0-tp2", "fsdp"): "does not build",
}


@lru_cache(maxsize=None)
def plan(name: str):
    model, training, parallel, cluster = PLANS[name]
    job = load_job_dict({"model": model, "training": training, "parallel": parallel, "cluster": cluster})
    best = estimate_job(job)
    return job, best


# ------------------------------------------------------------------------------------ shell
NODE0 = {"NODE_RANK": "0", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "SLURM_NODEID": "0",
         "SKYPILOT_NODE_RANK": "0", "RANK": "0"}  # what the platform sets on node 0


def bash_syntax_ok(script: str):
    """``bash -n``: the script parses as bash (nothing runs)."""
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the emitted scripts"
    r = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr


def command_of(script: str) -> tuple[dict, list[str]]:
    """The environment and the torchrun argv (node 0's values substituted, as its shell would)."""
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: NODE0.get(m.group(1), m.group(0)), script.replace("\\\n", ""))
    toks = shlex.split(text, comments=True)
    i = toks.index("torchrun")
    env = {}
    for t in toks[:i]:
        k, _, v = t.partition("=")
        if _ and re.fullmatch(r"\w+", k):
            env[k] = v
    return env, toks[i + 1:]


def script_of(fmt: str, text: str) -> str:
    """The shell script that runs torchrun, after the format's own checks."""
    if fmt == "torchrun":
        bash_syntax_ok(text)
        return text
    if fmt == "slurm":
        bash_syntax_ok(text)
        srun = next(line for line in text.splitlines() if line.startswith("srun "))
        exports = [line for line in text.splitlines() if line.startswith("export ") and "MASTER_ADDR" not in line]
        return "\n".join(exports) + "\n" + shlex.split(srun)[-1]
    if fmt == "skypilot":
        doc = yaml.safe_load(text)
        skypilot_accepts(doc)
        bash_syntax_ok(doc["run"])
        return doc["run"]
    if fmt == "k8s":
        doc = yaml.safe_load(text)
        scripts = k8s_accepts(doc)
        for s in scripts:
            bash_syntax_ok(s)
        assert len(set(scripts)) == 1, "every replica runs the same script"
        return scripts[0]
    raise AssertionError(fmt)


def exported(script: str) -> dict:
    return dict(re.findall(r"^export (\w+)=(\S*)$", script, flags=re.M))


# ------------------------------------------------------------------------------------ SkyPilot
def skypilot_accepts(doc: dict):
    """SkyPilot's own schema check (what ``sky launch`` runs first) and its Task parser."""
    need("sky")
    from sky.utils import common_utils, schemas

    common_utils.validate_schema(doc, schemas.get_task_schema(), "Invalid task YAML: ")
    common_utils.validate_schema(doc["resources"], schemas.get_resources_schema(), "Invalid resources YAML: ")
    import sky

    task = sky.Task.from_yaml_config({k: v for k, v in doc.items() if k != "resources"})
    assert task.num_nodes == doc["num_nodes"] and task.run == doc["run"]
    return task


# ------------------------------------------------------------------------------------ Kubernetes
K8S_VERSION = "1.37.0"


def k8s_accepts(doc: dict) -> list[str]:
    """Each replica's pod template, as a core/v1 PodTemplate, against the Kubernetes 1.37 OpenAPI
    schema (strict: unknown fields are errors). Returns each container's bash -c script."""
    kv = need("kubernetes_validate")
    assert doc["apiVersion"] == "kubeflow.org/v1" and doc["kind"] == "PyTorchJob"
    scripts = []
    for role, rep in doc["spec"]["pytorchReplicaSpecs"].items():
        assert role in ("Master", "Worker") and isinstance(rep["replicas"], int)
        assert rep["restartPolicy"] in ("Always", "OnFailure", "Never", "ExitCode")  # training-operator's RestartPolicy
        pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": doc["metadata"]["name"]},
               "template": rep["template"]}
        kv.validate(pod, K8S_VERSION, strict=True)
        c = rep["template"]["spec"]["containers"][0]
        assert c["command"][:2] == ["bash", "-c"]
        scripts.append(c["command"][2])
    return scripts


# ------------------------------------------------------------------------------------ torchrun
def torchrun_accepts(argv: list[str]):
    need("torch")
    from torch.distributed.run import get_args_parser

    return get_args_parser().parse_args(argv)


# ------------------------------------------------------------------------------------ fake world
@contextlib.contextmanager
def fake_world(world: int):
    """A process group of ``world`` ranks with this process as rank 0 and no communication
    (torch's "fake" backend): enough for Megatron and torchtitan to build their groups and meshes."""
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
    try:
        yield
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------------ Megatron
# Megatron-LM's pretrain_gpt.py flags the emitter may write: flag -> (argparse dest, kind). Names and
# kinds as in megatron/training/arguments.py (NVIDIA/Megatron-LM @000c4ac, read via the search index).
MEGATRON_FLAGS = {
    "--tensor-model-parallel-size": ("tensor_model_parallel_size", int),
    "--pipeline-model-parallel-size": ("pipeline_model_parallel_size", int),
    "--num-layers-per-virtual-pipeline-stage": ("num_layers_per_virtual_pipeline_stage", int),
    "--num-virtual-stages-per-pipeline-rank": ("num_virtual_stages_per_pipeline_rank", int),
    "--microbatch-group-size-per-virtual-pipeline-stage": ("microbatch_group_size_per_vp_stage", int),
    "--pipeline-model-parallel-layout": ("pipeline_model_parallel_layout", str),
    "--decoder-first-pipeline-num-layers": ("decoder_first_pipeline_num_layers", int),
    "--decoder-last-pipeline-num-layers": ("decoder_last_pipeline_num_layers", int),
    "--account-for-embedding-in-pipeline-split": ("account_for_embedding_in_pipeline_split", bool),
    "--account-for-loss-in-pipeline-split": ("account_for_loss_in_pipeline_split", bool),
    "--context-parallel-size": ("context_parallel_size", int),
    # arguments.py: ``--cp-comm-type`` nargs='+', type=str, default ["p2p"] (one type, or one per layer);
    # ``--hierarchical-context-parallel-sizes`` nargs='+', type=int (a2a+p2p: the sizes, their product CP)
    "--cp-comm-type": ("cp_comm_type", list),
    "--hierarchical-context-parallel-sizes": ("hierarchical_context_parallel_sizes", list),
    "--expert-model-parallel-size": ("expert_model_parallel_size", int),
    "--sequence-parallel": ("sequence_parallel", bool),
    "--micro-batch-size": ("micro_batch_size", int),
    "--global-batch-size": ("global_batch_size", int),
    "--recompute-granularity": ("recompute_granularity", str),
    "--recompute-method": ("recompute_method", str),
    "--recompute-num-layers": ("recompute_num_layers", int),
    # Megatron-LM megatron/training/arguments.py: ``--recompute-modules``, nargs='*', type=str, default None
    "--recompute-modules": ("recompute_modules", list),
    "--use-distributed-optimizer": ("use_distributed_optimizer", bool),
    # arguments.py: --optimizer type=str, default 'adam', choices adam/sgd/muon/dist_muon (Megatron-Core 0.16's Muon),
    # lion (Megatron-LM main after 0.16.1: choices adam, sgd, muon, dist_muon, lion, soap, adaptive_muon); --sgd-momentum
    # type=float, default 0.9
    "--optimizer": ("optimizer", lambda x: _choice(x, ("adam", "sgd", "muon", "dist_muon", "lion"))),
    "--sgd-momentum": ("sgd_momentum", float),
    "--use-torch-fsdp2": ("use_torch_fsdp2", bool),
    # arguments.py: --use-megatron-fsdp store_true; --data-parallel-sharding-strategy type=str, default 'no_shard',
    # choices no_shard/optim/optim_grads/optim_grads_params
    "--use-megatron-fsdp": ("use_megatron_fsdp", bool),
    "--data-parallel-sharding-strategy": ("data_parallel_sharding_strategy", lambda x: _choice(
        x, ("no_shard", "optim", "optim_grads", "optim_grads_params"))),
    "--no-gradient-accumulation-fusion": ("no_gradient_accumulation_fusion", bool),
    "--ckpt-format": ("ckpt_format", str),
    "--overlap-grad-reduce": ("overlap_grad_reduce", bool),
    "--overlap-param-gather": ("overlap_param_gather", bool),
    "--use-precision-aware-optimizer": ("use_precision_aware_optimizer", bool),
    # arguments.py validate_args maps the precision-aware optimizer's dtype strings through dtype_map
    # ({'fp32', 'bf16', 'fp16', 'fp8'}); TE's FusedAdam takes fp32 / fp16 master weights only
    "--exp-avg-dtype": ("exp_avg_dtype", lambda x: _choice(x, ("fp32", "bf16", "fp16", "fp8"))),
    "--exp-avg-sq-dtype": ("exp_avg_sq_dtype", lambda x: _choice(x, ("fp32", "bf16", "fp16", "fp8"))),
    "--main-params-dtype": ("main_params_dtype", lambda x: _choice(x, ("fp32", "fp16"))),
    "--optimizer-cpu-offload": ("optimizer_cpu_offload", bool),
    "--optimizer-offload-fraction": ("optimizer_offload_fraction", float),
    "--cpu-offloading": ("cpu_offloading", bool),
    "--cpu-offloading-num-layers": ("cpu_offloading_num_layers", int),
    "--num-layers": ("num_layers", int),
    "--hidden-size": ("hidden_size", int),
    "--num-attention-heads": ("num_attention_heads", int),
    "--ffn-hidden-size": ("ffn_hidden_size", int),
    "--kv-channels": ("kv_channels", int),
    "--group-query-attention": ("group_query_attention", bool),
    "--num-query-groups": ("num_query_groups", int),
    "--num-experts": ("num_experts", int),
    "--moe-router-topk": ("moe_router_topk", int),
    "--moe-ffn-hidden-size": ("moe_ffn_hidden_size", int),
    "--moe-layer-freq": ("moe_layer_freq", ast.literal_eval),  # Megatron's moe_freq_type: an int or a Python list
    "--moe-shared-expert-intermediate-size": ("moe_shared_expert_intermediate_size", int),
    "--moe-shared-expert-gate": ("moe_shared_expert_gate", bool),
    "--moe-router-pre-softmax": ("moe_router_pre_softmax", bool),
    "--moe-grouped-gemm": ("moe_grouped_gemm", bool),
    "--moe-token-dispatcher-type": ("moe_token_dispatcher_type", str),
    "--moe-flex-dispatcher-backend": ("moe_flex_dispatcher_backend", str),
    "--overlap-moe-expert-parallel-comm": ("overlap_moe_expert_parallel_comm", bool),
    "--moe-shared-expert-overlap": ("moe_shared_expert_overlap", bool),
    "--expert-tensor-parallel-size": ("expert_tensor_parallel_size", int),
    "--moe-router-num-groups": ("moe_router_num_groups", int),
    "--moe-router-group-topk": ("moe_router_group_topk", int),
    "--multi-latent-attention": ("multi_latent_attention", bool),
    "--q-lora-rank": ("q_lora_rank", int),
    "--kv-lora-rank": ("kv_lora_rank", int),
    "--qk-head-dim": ("qk_head_dim", int),
    "--qk-pos-emb-head-dim": ("qk_pos_emb_head_dim", int),
    "--v-head-dim": ("v_head_dim", int),
    "--qk-layernorm": ("qk_layernorm", bool),
    "--softmax-type": ("softmax_type", str),
    # arguments.py: --window-size type=tuple_type ("4095,0" -> (4095, 0)), --window-attn-skip-freq type=moe_freq_type
    "--window-size": ("window_size", lambda x: tuple(int(i) for i in x.strip("()").split(","))),
    "--window-attn-skip-freq": ("window_attn_skip_freq", ast.literal_eval),
    "--moe-router-score-function": ("moe_router_score_function", str),
    "--moe-router-enable-expert-bias": ("moe_router_enable_expert_bias", bool),
    "--mtp-num-layers": ("mtp_num_layers", int),
    "--swiglu": ("swiglu", bool),
    "--normalization": ("normalization", str),
    "--position-embedding-type": ("position_embedding_type", str),
    # arguments.py: --rotary-base type=int default 10000; --norm-epsilon type=float default 1e-5; --use-rope-scaling
    # store_true ("Apply rope scaling as used in llama3.x"), --rope-scaling-factor type=float default 8.0
    "--rotary-base": ("rotary_base", int),
    "--norm-epsilon": ("norm_epsilon", float),
    "--use-rope-scaling": ("use_rope_scaling", bool),
    "--rope-scaling-factor": ("rope_scaling_factor", float),
    # YaRN, multi-latent attention only (arguments.py @000c4ac24f61 and @007562f9413e): _add_training_args
    # --rope-type type=str default None choices ['rope', 'yarn'] ("MLA takes yarn by default"); _add_mla_args
    # --rotary-scaling-factor type=float default 1.0, --mscale type=float default 1.0, --mscale-all-dim type=float
    # default 0.0. No --yarn-* / --beta-fast / --original-max-position-embeddings flag exists in either.
    "--rope-type": ("rope_type", lambda v: _choice(v, ("rope", "yarn"))),
    # arguments.py: --no-rope-fusion action='store_false', dest='apply_rope_fusion' (default True)
    "--no-rope-fusion": ("no_rope_fusion", bool),
    "--rotary-scaling-factor": ("rotary_scaling_factor", float),
    "--mscale": ("mscale", float),
    "--mscale-all-dim": ("mscale_all_dim", float),
    "--untie-embeddings-and-output-weights": ("untie_embeddings_and_output_weights", bool),
    "--disable-bias-linear": ("disable_bias_linear", bool),
    # arguments.py _add_regularization_args: type=float, default 0.1 each; TransformerConfig fields of the same names
    "--attention-dropout": ("attention_dropout", float),
    "--hidden-dropout": ("hidden_dropout", float),
    "--add-qkv-bias": ("add_qkv_bias", bool),
    "--seq-length": ("seq_length", int),
    "--max-position-embeddings": ("max_position_embeddings", int),
    "--bf16": ("bf16", bool),
    "--fp16": ("fp16", bool),
    "--fp8-format": ("fp8", str),
    "--fp8-recipe": ("fp8_recipe", lambda v: _choice(v, ("tensorwise", "delayed", "mxfp8", "blockwise", "custom"))),
    "--fp4-format": ("fp4", str),
    "--fp4-recipe": ("fp4_recipe", lambda v: _choice(v, ("nvfp4", "custom"))),
    "--first-last-layers-bf16": ("first_last_layers_bf16", bool),
    "--num-layers-at-start-in-bf16": ("num_layers_at_start_in_bf16", int),
    "--num-layers-at-end-in-bf16": ("num_layers_at_end_in_bf16", int),
    "--attention-backend": ("attention_backend", str),
    # the numerics the plan priced (emit._numerics_flags): arguments.py store_true flags
    "--accumulate-allreduce-grads-in-fp32": ("accumulate_allreduce_grads_in_fp32", bool),
    "--grad-reduce-in-bf16": ("grad_reduce_in_bf16", bool),
    "--cross-entropy-loss-fusion": ("cross_entropy_loss_fusion", bool),
    "--cross-entropy-fusion-impl": ("cross_entropy_fusion_impl", lambda v: _choice(v, ("native", "te"))),
    "--tp-comm-overlap": ("tp_comm_overlap", bool),
    "--fp8-param-gather": ("fp8_param_gather", bool),
    # store_false into torch_fsdp2_reshard_after_forward (default True; training.py get_model passes it to
    # TorchFullyShardedDataParallelConfig); stored here under its own name, read by megatron_accepts' callers
    "--torch-fsdp2-no-reshard-after-forward": ("torch_fsdp2_no_reshard_after_forward", bool),
    "--train-iters": ("train_iters", int),
    "--data-path": ("data_path", str),
    "--tokenizer-type": ("tokenizer_type", str),
    "--tokenizer-model": ("tokenizer_model", str),
    "--save": ("save", str),
    "--save-interval": ("save_interval", int),
    "--load": ("load", str),
}
def _choice(value: str, choices: tuple) -> str:
    """argparse ``choices``: a value outside them is an error."""
    assert value in choices, f"invalid choice {value!r} (choose from {choices})"
    return value


MEGATRON_DEFAULTS = {"optimizer": "adam", "sgd_momentum": 0.9, "data_parallel_sharding_strategy": "no_shard", "pipeline_model_parallel_layout": None, "num_virtual_stages_per_pipeline_rank": None, "decoder_first_pipeline_num_layers": None,
                     "decoder_last_pipeline_num_layers": None, "softmax_type": "vanilla", "window_size": None, "window_attn_skip_freq": None, "moe_router_score_function": "softmax", "mtp_num_layers": None, "optimizer_offload_fraction": 1.0, "cpu_offloading_num_layers": 0, "save": None, "save_interval": None, "position_embedding_type": "learned_absolute",
                     "rotary_base": 10000, "norm_epsilon": 1e-5, "rope_scaling_factor": 8.0,
                     "attention_dropout": 0.1, "hidden_dropout": 0.1,
                     "rotary_scaling_factor": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0, "attention_backend": None, "ckpt_format": "torch_dist", "num_layers_per_virtual_pipeline_stage": None, "fp8": None,
                     "recompute_granularity": None, "recompute_method": None, "recompute_num_layers": None,
                     "recompute_modules": None,
                     "num_query_groups": None, "num_experts": None, "moe_ffn_hidden_size": None, "kv_channels": None,
                     "expert_model_parallel_size": 1, "context_parallel_size": 1, "moe_layer_freq": 1,
                     "moe_shared_expert_intermediate_size": None, "moe_router_num_groups": None,
                     "moe_router_group_topk": None, "q_lora_rank": None, "kv_lora_rank": 512, "qk_head_dim": 128,
                     "qk_pos_emb_head_dim": 64, "v_head_dim": 128, "moe_token_dispatcher_type": "allgather",
                     "moe_flex_dispatcher_backend": "deepep", "expert_tensor_parallel_size": None}


def megatron_args(argv: list[str]) -> dict:
    """The flags as Megatron's argparse would store them; an unknown flag or a missing value fails."""
    a, i = {}, 0
    while i < len(argv):
        flag = argv[i]
        assert flag in MEGATRON_FLAGS, f"{flag} is not a Megatron-LM pretrain_gpt.py flag"
        dest, kind = MEGATRON_FLAGS[flag]
        if kind is bool:
            a[dest] = True
            i += 1
        elif kind is list:  # nargs='*': every value up to the next flag
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            a[dest] = list(argv[i + 1:j])
            i = j
        else:
            assert i + 1 < len(argv) and not argv[i + 1].startswith("--"), f"{flag} needs a value"
            a[dest] = kind(argv[i + 1])
            i += 2
    return {**MEGATRON_DEFAULTS, **{d: False for d, k in MEGATRON_FLAGS.values() if k is bool}, **a}


def megatron_validate_args(a: dict, world: int) -> dict:
    """The rules of Megatron-LM's ``validate_args`` (megatron/training/arguments.py) that Megatron-Core
    does not enforce itself, quoted; returns the derived args (data-parallel and virtual-pipeline sizes)."""
    tp, pp, cp = a["tensor_model_parallel_size"], a["pipeline_model_parallel_size"], a["context_parallel_size"]
    # parallel_state.initialize_model_parallel: "world_size (...) is not divisible by ..." (it runs later, on a
    # fake world; the data-parallel size is needed first)
    assert world % (tp * pp * cp) == 0, f"world_size ({world}) is not divisible by {tp * pp * cp}"
    dp = world // (tp * pp * cp)
    # validate_args: "if args.hierarchical_context_parallel_sizes: assert np.prod(...) == args.context_parallel_size"
    # and "assert 'a2a+p2p' in args.cp_comm_type"
    if a.get("hierarchical_context_parallel_sizes"):
        sizes = [int(x) for x in a["hierarchical_context_parallel_sizes"]]
        assert math.prod(sizes) == cp and "a2a+p2p" in (a.get("cp_comm_type") or []), (sizes, cp, a.get("cp_comm_type"))
    # core_transformer_config_from_args: an unset --rope-type is popped (the config class's default: MLA's "yarn");
    # "Common attention only support rope_type=\"rope\""
    # validate_args: "if args.position_embedding_type != 'rope': args.apply_rope_fusion = False"
    a["apply_rope_fusion"] = not a["no_rope_fusion"] and a["position_embedding_type"] == "rope"
    if a.get("rope_type") is None:
        a.pop("rope_type", None)
    else:
        assert a["multi_latent_attention"] or a["rope_type"] == "rope", \
            f'Common attention only support rope_type="rope", but got {a["rope_type"]}.'
    # the pipeline split, as validate_args checks it ("Uneven virtual pipeline parallelism" and the lines after)
    first, last = a["decoder_first_pipeline_num_layers"], a["decoder_last_pipeline_num_layers"]
    counted = a["num_layers"] + a["account_for_embedding_in_pipeline_split"] + a["account_for_loss_in_pipeline_split"]
    vpp = None
    layout = a["pipeline_model_parallel_layout"]
    assert (a["num_layers_per_virtual_pipeline_stage"] is not None) + (a["num_virtual_stages_per_pipeline_rank"] is not None) \
        + (layout is not None) <= 1, "No more than one of the following arguments can be set at the same time"
    if layout is not None:  # "Parse the input flattened layout to a list and get the vpp size"
        from megatron.core.transformer.pipeline_parallel_layer_layout import PipelineParallelLayerLayout

        stages = PipelineParallelLayerLayout.get_num_stages_from_str(layout)
        assert stages % pp == 0, "The length of pipeline_model_parallel_layout must be divisible by pipeline_model_parallel_size"
        vpp = stages // pp
    elif a["num_layers_per_virtual_pipeline_stage"] is not None or a["num_virtual_stages_per_pipeline_rank"] is not None:
        # overlap_p2p_comm is on by default: "When interleaved schedule is used, pipeline-model-parallel size should be greater than 1"
        assert pp > 1, "When interleaved schedule is used, pipeline-model-parallel size should be greater than 1"
        if a["num_virtual_stages_per_pipeline_rank"] is None:
            assert first is None and last is None, "please use --num-virtual-stages-per-pipeline-rank to specify virtual " \
                                                   "pipeline parallel degree when enable uneven pipeline parallelism"
            assert counted % pp == 0, "number of layers of the model must be divisible pipeline model parallel size"
            assert (counted // pp) % a["num_layers_per_virtual_pipeline_stage"] == 0, \
                "number of layers per pipeline stage must be divisible by number of layers per virtual pipeline stage"
            vpp = counted // pp // a["num_layers_per_virtual_pipeline_stage"]
        else:
            vpp = a["num_virtual_stages_per_pipeline_rank"]
    elif first is None and last is None and layout is None:
        assert counted % pp == 0, "Number of layers should be divisible by the pipeline-model-parallel size"
    vpp = None if vpp == 1 else vpp
    assert a["micro_batch_size"] > 0 and a["global_batch_size"] > 0 and a["train_iters"] > 0
    if a["overlap_param_gather"]:  # validate_args: "--overlap-param-gather only supported with distributed optimizer"
        assert a["use_distributed_optimizer"], "--overlap-param-gather only supported with distributed optimizer"
        assert a["overlap_grad_reduce"], "Must use --overlap-param-gather with --overlap-grad-reduce"
    if a["tp_comm_overlap"]:  # validate_args
        assert a["sequence_parallel"], \
            "Tensor parallel communication/GEMM overlap can happen only when sequence parallelism is enabled"
    if a["fp8_param_gather"]:  # validate_args
        assert a["use_distributed_optimizer"] or a["use_torch_fsdp2"] or a["use_megatron_fsdp"], \
            "--fp8-param-gather only supported with distributed optimizer, torch fsdp2, megatron fsdp, or inference mode"
    if a["grad_reduce_in_bf16"]:  # validate_args: the bf16 branch's "if args.grad_reduce_in_bf16"
        assert a["bf16"] and not a["accumulate_allreduce_grads_in_fp32"]
    if a["use_distributed_optimizer"] and not a["optimizer_cpu_offload"]:
        # distrib_optimizer.py DistributedOptimizer.__init__ (the offload's HybridDeviceOptimizer passes it, Adam or SGD)
        assert a["optimizer"] in ("adam", "muon", "dist_muon"), \
            "Only Adam and HybridDeviceOptimizer currently supported, due to checkpointing requirements."
    if a["optimizer_cpu_offload"]:  # optimizer/__init__.py: 'gpu_optimizer_cls = Adam if ... 'adam' else SGD'
        assert a["optimizer"] in ("adam", "sgd")
    if a["optimizer"] in ("muon", "dist_muon"):  # Megatron-Core 0.16.1 optimizer/muon.py get_megatron_muon_optimizer
        assert not a["use_distributed_optimizer"], "muon with dist optimizer is not supported."
    if a["use_torch_fsdp2"]:
        assert pp == 1, "--use-torch-fsdp2 is not supported with pipeline parallelism"
        assert a["expert_model_parallel_size"] == 1, "--use-torch-fsdp2 is not supported with expert parallelism"
        assert not a["use_distributed_optimizer"], "--use-torch-fsdp2 is not supported with MCore's distributed optimizer"
        assert a["no_gradient_accumulation_fusion"], "--use-torch-fsdp2 is not supported with gradient accumulation fusion"
        assert a["ckpt_format"] in ("torch_dist", "torch_dcp"), "--use-torch-fsdp2 requires --ckpt-format torch_dist or torch_dcp"
        assert a["untie_embeddings_and_output_weights"], "--use-torch-fsdp2 requires --untie-embeddings-and-output-weights"
        assert not a["fp16"], "--use-torch-fsdp2 not supported with fp16 yet"
        assert a["env"].get("CUDA_DEVICE_MAX_CONNECTIONS") != "1", \
            "FSDP always requires CUDA_DEVICE_MAX_CONNECTIONS value large than one"
    if a["use_megatron_fsdp"]:  # validate_args, the ``if args.use_megatron_fsdp:`` block
        assert a["env"].get("CUDA_DEVICE_MAX_CONNECTIONS") != "1", \
            "FSDP always requires CUDA_DEVICE_MAX_CONNECTIONS value large than one"
        assert a["ckpt_format"] == "fsdp_dtensor", "Megatron FSDP only supports fsdp_dtensor checkpoint format"
    if a["ckpt_format"] == "fsdp_dtensor":
        assert a["use_megatron_fsdp"], "--ckpt-format fsdp_dtensor is only tested with Megatron FSDP."
    if a["fp16"]:
        assert not a["bf16"]
    if a["save"] is not None:
        assert a["save_interval"] is not None and a["save_interval"] > 0  # "if args.save is not None: assert args.save_interval ..."
    if cp > 1:
        assert a["seq_length"] % (2 * cp) == 0, "seq-length should be a multiple of 2 * context-parallel-size"
    assert a["max_position_embeddings"] >= a["seq_length"], "max_position_embeddings must be >= seq_length"
    if a["moe_grouped_gemm"]:
        assert a["bf16"], "Currently GroupedGEMM for MoE only supports bf16 dtype."
    if a["expert_model_parallel_size"] > 1:
        assert a["num_experts"] and a["num_experts"] % a["expert_model_parallel_size"] == 0, \
            "Number of experts should be a multiple of expert model parallel_size."
        assert not a["fp16"], "Expert parallelism is not supported with fp16 training."
    # before Blackwell (get_device_arch_version() < 10; every plan here is H100): TP or CP without FSDP or
    # the MoE all-to-all overlap "require setting the environment variable CUDA_DEVICE_MAX_CONNECTIONS to 1"
    if (tp > 1 or cp > 1) and not a["use_torch_fsdp2"] and not a["use_megatron_fsdp"] \
            and not a["overlap_moe_expert_parallel_comm"]:
        assert a["env"].get("CUDA_DEVICE_MAX_CONNECTIONS") == "1", \
            "Using tensor model parallelism or context parallelism require setting CUDA_DEVICE_MAX_CONNECTIONS to 1"
    return {"dp": dp, "vpp": vpp}


def megatron_accepts(script: str, argv: list[str], world: int, env: dict) -> dict:
    """Megatron-Core builds its configs and parallel groups from the flags (see the module docstring)."""
    need("megatron.core")
    import torch
    import torch.nn.functional as F
    from megatron.core import parallel_state as ps
    from megatron.core.distributed import DistributedDataParallelConfig
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.num_microbatches_calculator import ConstantNumMicroBatchesCalculator
    from megatron.core.optimizer import OptimizerConfig
    from megatron.core.transformer import MLATransformerConfig, TransformerConfig
    from megatron.core.transformer.enums import AttnBackend
    from megatron.core.transformer.transformer_block import get_num_layers_to_build

    assert script.endswith("/pretrain_gpt.py"), script
    a = megatron_args(argv)
    a["env"] = env
    derived = megatron_validate_args(a, world)
    dtype = torch.bfloat16 if a["bf16"] else torch.float16 if a["fp16"] else torch.float32
    # megatron/training/arguments.py core_transformer_config_from_args: same-named fields copied, plus these
    config_class = MLATransformerConfig if a["multi_latent_attention"] else TransformerConfig
    kw = {f.name: a[f.name] for f in dataclasses.fields(config_class) if f.name in a}
    if not a["multi_latent_attention"]:
        # the fused RoPE of standard attention is Transformer Engine's, CUDA-only and absent here (its config check
        # would refuse every RoPE line on this CPU); MLA's is checked: MLATransformerConfig refuses it off YaRN
        kw.pop("apply_rope_fusion", None)
    kw.update(virtual_pipeline_model_parallel_size=derived["vpp"], num_moe_experts=a["num_experts"],
              num_layers_in_first_pipeline_stage=a["decoder_first_pipeline_num_layers"],
              num_layers_in_last_pipeline_stage=a["decoder_last_pipeline_num_layers"],
              params_dtype=dtype, pipeline_dtype=dtype, add_bias_linear=not a["disable_bias_linear"],
              layernorm_epsilon=a["norm_epsilon"],
              attention_backend=AttnBackend[a["attention_backend"]] if a["attention_backend"] else AttnBackend.auto,
              num_query_groups=a["num_query_groups"] if a["group_query_attention"] else None)
    # core_transformer_config_from_args: "if len(args.cp_comm_type) == 1: kw_args['cp_comm_type'] = args.cp_comm_type[0]"
    comm = a.get("cp_comm_type") or ["p2p"]
    if len(comm) == 1:
        kw["cp_comm_type"] = comm[0]
    if a.get("hierarchical_context_parallel_sizes") is not None and "hierarchical_context_parallel_sizes" in kw:
        kw["hierarchical_context_parallel_sizes"] = [int(x) for x in a["hierarchical_context_parallel_sizes"]]
    if a["swiglu"]:
        kw.update(gated_linear_unit=True, activation_func=F.silu, bias_activation_fusion=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = config_class(**kw)  # __post_init__: Megatron's own config rules
        DistributedDataParallelConfig(use_distributed_optimizer=a["use_distributed_optimizer"],
                                      overlap_grad_reduce=a["overlap_grad_reduce"],
                                      overlap_param_gather=a["overlap_param_gather"],
                                      use_megatron_fsdp=a["use_megatron_fsdp"],
                                      data_parallel_sharding_strategy=a["data_parallel_sharding_strategy"])
        # OptimizerConfig asks Transformer Engine's version for the precision-aware optimizer; TE is CUDA-only
        # and absent here, where Megatron's probe compares None: answer "older" (it only drops an option)
        from unittest import mock

        with mock.patch("megatron.core.optimizer.optimizer_config.is_te_min_version", lambda *_a, **_k: False):
            OptimizerConfig(use_distributed_optimizer=a["use_distributed_optimizer"], bf16=a["bf16"], fp16=a["fp16"],
                            params_dtype=dtype, use_precision_aware_optimizer=a["use_precision_aware_optimizer"],
                            optimizer_cpu_offload=a["optimizer_cpu_offload"],
                            optimizer_offload_fraction=a["optimizer_offload_fraction"])
    pp, vpp = cfg.pipeline_model_parallel_size, cfg.virtual_pipeline_model_parallel_size or 1
    if cfg.pipeline_model_parallel_layout is not None:  # Megatron's layout, parsed: decoder layers per [rank][virtual stage]
        from megatron.core.transformer.enums import LayerType

        rows = cfg.pipeline_model_parallel_layout.layout
        assert len(rows) == pp and all(len(row) == vpp for row in rows)
        per_chunk = [stage.count(LayerType.decoder) for row in rows for stage in row]
    else:
        per_chunk = [get_num_layers_to_build(cfg, vp_stage=v if vpp > 1 else None, pp_rank=r) for r in range(pp) for v in range(vpp)]
    # every layer built once, and no virtual stage fuller than the plan's fullest, ceil(layers / (PP x VPP))
    assert sum(per_chunk) == cfg.num_layers and max(per_chunk) <= -(-cfg.num_layers // (pp * vpp)), per_chunk
    uneven = cfg.num_layers_in_first_pipeline_stage is not None or cfg.account_for_embedding_in_pipeline_split \
        or cfg.pipeline_model_parallel_layout is not None
    if a["num_layers_per_virtual_pipeline_stage"] is not None and not uneven:
        assert get_num_layers_to_build(cfg, vp_stage=0, pp_rank=0) == a["num_layers_per_virtual_pipeline_stage"]
    micro = ConstantNumMicroBatchesCalculator(a["global_batch_size"], a["micro_batch_size"], derived["dp"], False, 0).get()
    positions = GPTModel.__init__.__annotations__["position_embedding_type"]
    assert a["position_embedding_type"] in getattr(positions, "__args__", ()), a["position_embedding_type"]
    with fake_world(world):
        try:
            ps.initialize_model_parallel(tensor_model_parallel_size=cfg.tensor_model_parallel_size,
                                         pipeline_model_parallel_size=pp,
                                         virtual_pipeline_model_parallel_size=cfg.virtual_pipeline_model_parallel_size,
                                         context_parallel_size=cfg.context_parallel_size,
                                         expert_model_parallel_size=cfg.expert_model_parallel_size,
                                         create_gloo_process_groups=False)
            dp = ps.get_data_parallel_world_size()
            if cfg.num_moe_experts:
                from megatron.core.process_groups_config import ProcessGroupCollection
                from megatron.core.transformer.moe.moe_layer import BaseMoELayer

                probe = type("ExpertSplitProbe", (BaseMoELayer,), {"forward": lambda self, h: h})
                layer = probe(cfg, pg_collection=ProcessGroupCollection.use_mpu_process_groups())  # num_experts % EP
                local_experts = layer.num_local_experts
            else:
                local_experts = None
        finally:
            ps.destroy_model_parallel()
    assert dp == derived["dp"]
    return {"cfg": cfg, "args": a, "dp": dp, "microbatches": micro, "local_experts": local_experts}


def megatron_model_params(cfg, a: dict, vocab: int, inspect=None) -> int:
    """Parameters of the model Megatron-Core builds from these flags (pretrain_gpt.py's GPTModel with
    the decoder block spec, on the meta device, one rank: no memory is allocated); ``inspect(model)`` is called on
    it (its rotary embedding's frequencies are real: use_cpu_initialization builds them on the CPU)."""
    import torch
    from megatron.core import parallel_state as ps
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec, get_gpt_mtp_block_spec
    from megatron.core.models.gpt.gpt_model import GPTModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = dataclasses.replace(cfg, tensor_model_parallel_size=1, pipeline_model_parallel_size=1,
                                  virtual_pipeline_model_parallel_size=None, context_parallel_size=1,
                                  expert_model_parallel_size=1, expert_tensor_parallel_size=1, sequence_parallel=False,
                                  use_cpu_initialization=True, perform_initialization=False,
                                  # how tokens move and experts run, not what parameters exist; the all-to-all
                                  # dispatcher and grouped GEMMs open CUDA streams when built, which CPU torch has not
                                  moe_token_dispatcher_type="allgather", moe_grouped_gemm=False,
                                  overlap_moe_expert_parallel_comm=False, moe_shared_expert_overlap=False)
        with fake_world(1):
            ps.initialize_model_parallel(create_gloo_process_groups=False)
            try:
                spec = get_gpt_decoder_block_spec(one, use_transformer_engine=False, normalization=one.normalization)
                # pretrain_gpt.py: the MTP block spec from the decoder's when --mtp-num-layers is set
                mtp = get_gpt_mtp_block_spec(one, spec, use_transformer_engine=False) if one.mtp_num_layers else None
                with torch.device("meta"):
                    model = GPTModel(one, spec, vocab_size=vocab, max_sequence_length=a["max_position_embeddings"],
                                     share_embeddings_and_output_weights=not a["untie_embeddings_and_output_weights"],
                                     position_embedding_type=a["position_embedding_type"], mtp_block_spec=mtp,
                                     rotary_base=a["rotary_base"], rope_scaling=a["use_rope_scaling"],
                                     rope_scaling_factor=a["rope_scaling_factor"])
                if inspect is not None:
                    inspect(model)
                return sum(p.numel() for p in model.parameters())
            finally:
                ps.destroy_model_parallel()


# ------------------------------------------------------------------------------------ torchtitan
def titan_probe_module():
    """A config_registry for ConfigManager's ``--module``: torchtitan 0.3's ``Trainer.Config`` cannot be
    imported without triton (trainer.py -> models/common/moe.py -> minimal_async_ep/kernels.py imports
    triton; CPU torch has none), so the probe holds the Trainer.Config sections the emitted flags set,
    with their real torchtitan types, and Trainer.Config.__post_init__'s rules on them. That these are
    Trainer.Config's field names and types is checked against trainer.py's source (``ast``)."""
    import sys
    from dataclasses import field

    from torchtitan.components.checkpoint import CheckpointManager
    from torchtitan.components.checkpointer.base import BaseCheckpointManager
    from torchtitan.config.configs import CompileConfig, ParallelismConfig, TrainingConfig
    from torchtitan.distributed.activation_checkpoint import ActivationCheckpointingConfig, SelectiveAC

    name = "planner_titan_probe"
    if name in sys.modules:
        return name

    def post_init(self):  # torchtitan/trainer.py (0.3.0) Trainer.Config.__post_init__, quoted
        p, t = self.parallelism, self.training
        if p.pipeline_parallel_microbatch_size <= 0:
            raise ValueError("parallelism.pipeline_parallel_microbatch_size must be greater than 0.")
        if p.pipeline_parallel_degree > 1 and t.local_batch_size % p.pipeline_parallel_microbatch_size != 0:
            raise ValueError("training.local_batch_size must be evenly divisible by "
                             "parallelism.pipeline_parallel_microbatch_size when pipeline parallelism is enabled.")
        if not t.disable_cuda_graphs and p.pipeline_parallel_degree > 1:  # _validate_cuda_graphs
            raise ValueError("CUDA graphs do not support pipeline parallelism yet. Set --training.disable_cuda_graphs.")
        if not t.disable_cuda_graphs and p.expert_parallel_degree > 1:
            # with EP only token dispatchers without CPU sync may be graphed (it depends on the model's
            # dispatcher): the emitter turns graphs off rather than depend on it
            raise ValueError("CUDA graphs support only expert parallel token dispatcher configurations "
                             "without CPU synchronization. ... or set --training.disable_cuda_graphs.")

    # real type objects (this file's annotations are strings, which tyro would resolve here)
    config = dataclasses.make_dataclass("Config", [
        ("hf_assets_path", str, field(default="./tests/assets/tokenizer")),  # read by ConfigManager._validate_config
        ("dump_folder", str, field(default="./outputs")),
        ("checkpoint", BaseCheckpointManager.Config, field(default_factory=CheckpointManager.Config)),
        ("training", TrainingConfig, field(default_factory=TrainingConfig)),
        ("parallelism", ParallelismConfig, field(default_factory=ParallelismConfig)),
        ("compile", CompileConfig, field(default_factory=CompileConfig)),  # __post_init__: async TP needs compile
        ("activation_checkpoint", ActivationCheckpointingConfig, field(default_factory=SelectiveAC.Config)),
    ], namespace={"__post_init__": post_init})
    module = types.ModuleType(name)
    module.probe = config

    def probe_contrary():
        """A config function that sets, otherwise than the defaults, what a plan prices: torchtitan's own
        deepseek_v3 / kimi_k2_7 functions compile the loss alone; SP off, CPU offload on, full AC."""
        from torchtitan.distributed.activation_checkpoint import FullAC
        c = config()
        return dataclasses.replace(
            c, compile=CompileConfig(enable=True, components=["loss"]),
            parallelism=dataclasses.replace(c.parallelism, enable_sequence_parallel=False),
            training=dataclasses.replace(c.training, enable_cpu_offload=True), activation_checkpoint=FullAC.Config())

    module.probe_contrary = probe_contrary
    sys.modules[name] = module
    return name


def test_titan_probe_has_trainer_config_fields():
    """The probe's sections are torchtitan 0.3 Trainer.Config's, by name and type (trainer.py source)."""
    import ast
    import importlib.util

    need("torchtitan.config")  # importing torchtitan.trainer needs triton: read its source instead
    src = open(os.path.join(os.path.dirname(importlib.util.find_spec("torchtitan").origin), "trainer.py")).read()
    trainer = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    config = next(n for n in trainer.body if isinstance(n, ast.ClassDef) and n.name == "Config")
    fields = {n.target.id: (ast.unparse(n.annotation), ast.unparse(n.value)) for n in config.body if isinstance(n, ast.AnnAssign)}
    assert fields["training"][0] == "TrainingConfig" and fields["parallelism"][0] == "ParallelismConfig"
    assert fields["compile"] == ("CompileConfig", "field(default_factory=CompileConfig)")
    assert fields["activation_checkpoint"] == ("ActivationCheckpointingConfig", "field(default_factory=SelectiveAC.Config)")
    assert fields["checkpoint"] == ("BaseCheckpointManager.Config", "field(default_factory=CheckpointManager.Config)")
    assert fields["dump_folder"][0] == "str" and "hf_assets_path" in fields
    # and the imports they name are the ones the probe uses
    assert "from torchtitan.config.configs import" in src and "ActivationCheckpointingConfig," in src


def titan_accepts(argv: list[str], world: int, num_layers: int, config: str = "probe") -> dict:
    """torchtitan 0.3 parses the flags over the config function ``config`` of the probe module, builds its device
    mesh and splits the pipeline. Kept per argv: the four launch formats of a plan carry the same torchtitan flags
    (test_the_launchers_accept_the_emitted_spec parsed each four times, ~60 ms a parse), and a refusal is raised
    again each call (``lru_cache`` keeps no exception)."""
    return _titan_parse(tuple(argv), world, num_layers, config)


@lru_cache(maxsize=None)
def _titan_parse(argv: tuple[str, ...], world: int, num_layers: int, config: str) -> dict:
    manager = need("torchtitan.config.manager")
    from torch.distributed.pipelining.schedules import get_schedule_class
    from torchtitan.distributed.parallel_dims import ParallelDims
    from torchtitan.distributed.pipeline_parallel import _get_pipeline_metadata

    probe = titan_probe_module()
    argv = [{"$TITAN_MODULE": probe, "$TITAN_CONFIG": config}.get(x, x) for x in argv]
    cfg = manager.ConfigManager().parse_args(argv)
    p, t = cfg.parallelism, cfg.training
    with fake_world(world):
        dims = ParallelDims.from_config(p, world)  # asserts dp_replicate x dp_shard x cp x tp x pp == world
        dims.build_mesh()  # the EP mesh too: efsdp = dp_shard x cp x tp / ep must be whole
    stages = None
    if p.pipeline_parallel_degree > 1:
        get_schedule_class(p.pipeline_parallel_schedule)
        stages, *_ = _get_pipeline_metadata(dims, p, types.SimpleNamespace(layers=[None] * num_layers))
    dp = p.data_parallel_shard_degree * p.data_parallel_replicate_degree
    # torchtitan trainer.py (0.3.0) Trainer.__init__: "global batch size must be a multiple of local
    # batch size times data-parallel degree"; accumulation = global / (local x dp)
    assert t.global_batch_size % (t.local_batch_size * dp) == 0
    accumulation = t.global_batch_size // (t.local_batch_size * dp)
    micro = accumulation * t.local_batch_size // p.pipeline_parallel_microbatch_size if p.pipeline_parallel_degree > 1 \
        else accumulation
    return {"cfg": cfg, "dims": dims, "virtual_stages": stages, "microbatches": micro}


# ------------------------------------------------------------------------------------ the test
CASES = [(n, s, f) for n in PLANS for s in ("megatron", "fsdp") for f in FORMATS]


@pytest.mark.parametrize("name,style,fmt", CASES, ids=[f"{n}-{s}-{f}" for n, s, f in CASES])
def test_the_launchers_accept_the_emitted_spec(name, style, fmt):
    job, best = plan(name)
    c, hw = best.config, best.hardware
    world = hw["nodes"] * hw["gpus_per_node"]
    if (name, style) in REFUSED:
        with pytest.raises(InputError, match=REFUSED[(name, style)]) as e:
            emit_launch_spec(job, best, f"{fmt}:{style}")
        assert e.value.field == "--emit"
        return
    text = emit_launch_spec(job, best, f"{fmt}:{style}")
    script = script_of(fmt, text)
    env, argv = command_of(script)
    env.update(exported(script))
    run = torchrun_accepts(argv)
    assert int(run.nnodes) * int(run.nproc_per_node) == world == c.tp * c.pp * c.cp * c.dp
    if style == "megatron":
        assert not run.module
        got = megatron_accepts(run.training_script, run.training_script_args, world, env)
        cfg = got["cfg"]
        assert (cfg.tensor_model_parallel_size, cfg.pipeline_model_parallel_size, cfg.context_parallel_size, got["dp"]) \
            == (c.tp, c.pp, c.cp, c.dp)
        assert (cfg.virtual_pipeline_model_parallel_size or 1) == c.vpp
        assert cfg.expert_model_parallel_size == c.ep and cfg.sequence_parallel == bool(c.sp and c.tp > 1)
        if job.model.moe is not None:
            assert got["local_experts"] == job.model.moe.experts // c.ep
    else:
        assert run.module and run.training_script == "torchtitan.train"
        got = titan_accepts(run.training_script_args, world, job.model.layers)
        p = got["cfg"].parallelism
        assert (p.tensor_parallel_degree, p.pipeline_parallel_degree, p.context_parallel_degree, p.expert_parallel_degree) \
            == (c.tp, c.pp, c.cp, c.ep)
        assert p.data_parallel_shard_degree * p.data_parallel_replicate_degree == c.dp
        if c.pp > 1:
            assert got["virtual_stages"] == c.pp * c.vpp  # the planned (virtual) stages, not torchtitan's default of 2
        ck = got["cfg"].checkpoint
        assert ck.enable and ck.interval > 0 and got["cfg"].dump_folder == "$CKPT_DIR"
        if job.training.precision == "fp8":  # torchtitan 0.3 takes fp8 from the config function, not a flag
            assert "Float8LinearConverter" in text
            recipe = from_training(job.training, model=job.model).fp8_recipe
            assert f"the plan is fp8 ({recipe})" in text and (recipe != "tensorwise" or 'recipe_name "tensorwise"' in text)
            gather = bool(from_training(job.training, model=job.model).fsdp_float8_all_gather)
            assert ("enable_fsdp_float8_all_gather" in text) == gather
    assert got["microbatches"] == best.detail["num_microbatches"]
    if style == "megatron":  # the sharding the plan was timed with: Megatron-FSDP's strategy for its ZeRO stage
        mfsdp = bool((best.get("stack") or {}).get("megatron_fsdp")) and c.zero >= 2
        a = got["args"]
        assert a["use_megatron_fsdp"] == mfsdp and a["use_torch_fsdp2"] == (c.zero == 3 and not mfsdp)
        assert a["data_parallel_sharding_strategy"] == ({2: "optim_grads", 3: "optim_grads_params"}[c.zero]
                                                        if mfsdp else "no_shard")


@pytest.mark.parametrize("preset,seq_len", [("llama3-8b", 4096), ("gpt2", 1024), ("gemma2-9b", 4096), ("mixtral-8x7b", 4096),
                                             ("gemma3-12b", 4096), ("qwen3-30b-a3b", 4096)])
def test_megatron_builds_the_planned_model(preset, seq_len):
    """The flags describe the model the planner priced: Megatron-Core builds it (dense with RoPE or learned
    positions, tied embeddings and biases, Gemma's extra norms, MoE with shared experts, top-1 routing,
    q/k norms) and its parameter count is the plan's."""
    job = load_job_dict({"model": {"preset": preset}, "training": {"seq_len": seq_len, "global_batch": 64, "micro_batch": 1,
                                                                   "tokens": 1e9}, "parallel": {"tp": 1, "pp": 1, "zero": 1},
                         "cluster": {"instance": P5, "nodes": 1}})
    best = estimate_job(job)
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    got = megatron_accepts(run.training_script, run.training_script_args, 8, env)
    assert megatron_model_params(got["cfg"], got["args"], job.model.vocab) == pytest.approx(best.params, rel=1e-3)


@pytest.mark.parametrize("preset,theta,eps,scaled", [("llama3-8b", 500000, 1e-5, False), ("qwen3-8b", 1e6, 1e-6, False),
                                                     ("llama3.1-8b", 500000, 1e-5, True), ("mistral-7b", 10000, 1e-5, False)])
def test_megatron_trains_the_models_rope_base_and_norm_epsilon(preset, theta, eps, scaled):
    """The model Megatron-Core builds from the flags rotates at the model's RoPE base (config.json rope_theta), Llama
    3.1's with its llama3 scaling, and normalises with its epsilon (rms_norm_eps): until 2026-12-03 the script had no
    --rotary-base / --norm-epsilon, so a Llama 3 or Qwen3 trained at Megatron-LM's 10000 and 1e-5."""
    import torch

    job = load_job_dict({"model": {"preset": preset}, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                                   "tokens": 1e9}, "parallel": {"tp": 1, "pp": 1, "zero": 1},
                         "cluster": {"instance": P5, "nodes": 1}})
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, estimate_job(job), "torchrun:megatron")))
    run = torchrun_accepts(argv)
    got = megatron_accepts(run.training_script, run.training_script_args, 8, env)
    assert got["cfg"].layernorm_epsilon == eps
    seen = {}
    megatron_model_params(got["cfg"], got["args"], job.model.vocab, inspect=lambda m: seen.update(
        inv=m.rotary_pos_emb.inv_freq.clone(), scale=m.rotary_pos_emb._apply_scaling))
    d = job.model.head_dim
    plain = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    want = seen["scale"](plain, factor=job.model.rope_scaling.factor) if scaled else plain
    assert torch.allclose(seen["inv"], want) and (not scaled or not torch.allclose(seen["inv"], plain))


def test_megatron_accepts_the_planned_mla_model():
    """DeepSeek-V2-Lite: multi-head latent attention, shared experts, a leading dense layer, in Megatron-Core's
    MLATransformerConfig. Not built: MLASelfAttention needs CUDA even on the meta device."""
    job = load_job_dict({"model": {"preset": "deepseek-v2-lite"}, "training": {"seq_len": 4096, "global_batch": 64,
                                                                               "micro_batch": 1, "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
    best = estimate_job(job)
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 8, env)["cfg"]
    m = job.model
    assert cfg.multi_latent_attention and cfg.q_lora_rank is None and cfg.kv_lora_rank == m.mla.kv_lora_rank
    assert (cfg.qk_head_dim, cfg.qk_pos_emb_head_dim, cfg.v_head_dim) == \
        (m.mla.qk_nope_head_dim, m.mla.qk_rope_head_dim, m.mla.v_head_dim)
    assert cfg.moe_layer_freq == [0] + [1] * (m.layers - 1) and cfg.num_moe_experts == m.moe.experts
    assert (cfg.ffn_hidden_size, cfg.moe_ffn_hidden_size, cfg.moe_shared_expert_intermediate_size) == \
        (m.dense_ffn_hidden, m.ffn_hidden, m.moe.shared_ffn_hidden)


@pytest.mark.parametrize("preset", ["deepseek-v3", "deepseek-v2-lite", "kimi-k2"])
def test_megatron_trains_the_mla_models_yarn(preset):
    """An MLA model's YaRN reaches MLATransformerConfig (the fields MultiLatentAttention hands YarnRotaryEmbedding):
    until 2026-12-04 no YaRN flag was written and arguments.py's --rotary-scaling-factor default 1.0 replaced the
    config's 40, so DeepSeek-V3 trained YaRN at factor 1 and mscale_all_dim 0. A setting no flag reaches (Kimi-K2's
    beta_fast 1 against Megatron-Core's fixed 32) is the header's note."""
    job, cfg = _megatron_config_of(preset)
    sc = job.model.rope_scaling
    assert cfg.rope_type == "yarn" and cfg.rotary_base == job.model.rope_theta
    assert (cfg.rotary_scaling_factor, cfg.mscale, cfg.mscale_all_dim) == (sc.factor, sc.mscale, sc.mscale_all_dim)
    fixed = {"original_max_positions": cfg.original_max_position_embeddings, "beta_fast": cfg.beta_fast,
             "beta_slow": cfg.beta_slow}
    s = emit_launch_spec(job, estimate_job(job), "torchrun:megatron")
    for name, got in fixed.items():
        said = f"YaRN {name} {getattr(sc, name):g} (Megatron-Core: {got:g}) is not carried"
        assert (getattr(sc, name) == got) == (said not in s), (name, got)


def test_megatron_trains_an_unscaled_mla_model_at_plain_rope():
    """An MLA model without RoPE scaling: MLATransformerConfig's rope_type defaults to "yarn" and an unset --rope-type
    is dropped, so the line ran YaRN at --rotary-scaling-factor's default 1.0 (plain RoPE by arithmetic, resting on
    that default). It now says --rope-type rope, with --no-rope-fusion, without which MLATransformerConfig refuses
    the line ("apply_rope_fusion for MLA only works with YARN RoPE.")."""
    from planner.spec.presets import PRESETS

    def line(model: dict) -> str:
        job = load_job_dict({"model": model, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                          "tokens": 1e9},
                             "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
        return emit_launch_spec(job, estimate_job(job), "torchrun:megatron")

    s = line(dict(PRESETS["deepseek-v2-lite"], name="mla-plain", rope_scaling=None))
    assert "  --rope-type rope " in s and "  --no-rope-fusion " in s and "--rotary-scaling-factor" not in s
    env, argv = command_of(script_of("torchrun", s))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 8, env)["cfg"]
    assert cfg.multi_latent_attention and cfg.rope_type == "rope" and not cfg.apply_rope_fusion
    fused = [x for x in run.training_script_args if x != "--no-rope-fusion"]
    with pytest.raises(ValueError, match="apply_rope_fusion for MLA only works with YARN RoPE"):
        megatron_accepts(run.training_script, fused, 8, env)
    # a YaRN MLA model keeps Megatron's fused RoPE (no --no-rope-fusion on its line)
    yarn = line({"preset": "deepseek-v2-lite"})
    assert "  --rope-type yarn " in yarn and "--no-rope-fusion" not in yarn


def test_megatron_refuses_yarn_on_standard_attention():
    """Why gpt-oss's YaRN is a note, not a flag: --rope-type yarn without --multi-latent-attention is refused, and
    Megatron-Core's GPTModel reads position_embedding_type 'yarn' from config attributes TransformerConfig lacks."""
    need("megatron.core")
    from megatron.core.transformer import TransformerConfig

    with pytest.raises(AssertionError, match="Common attention only support"):
        megatron_validate_args({**megatron_args(["--tensor-model-parallel-size", "1", "--pipeline-model-parallel-size",
                                                 "1", "--num-layers", "2", "--rope-type", "yarn"]), "env": {}}, 8)
    assert not [f.name for f in dataclasses.fields(TransformerConfig) if f.name.startswith("yarn_")]
    job, _ = _megatron_config_of("gpt-oss-20b")
    s = emit_launch_spec(job, estimate_job(job), "torchrun:megatron")
    assert "  --rope-type" not in s and "Megatron-LM has no YaRN flags for standard attention" in s


def _megatron_config_of(preset: str):
    job = load_job_dict({"model": {"preset": preset}, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                                   "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
    best = estimate_job(job)
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    return job, megatron_accepts(run.training_script, run.training_script_args, 8, env)["cfg"]


def test_megatron_accepts_the_planned_model_features():
    """Model features with a Megatron-Core field reach its config: DeepSeek-V3's MTP layers
    (``mtp_num_layers``), gpt-oss's attention sinks (``softmax_type="learnable"``) and router bias (the
    router has one exactly when ``add_bias_linear``). Not built: MLA and the learnable softmax offset
    allocate on CUDA even on the meta device."""
    job, cfg = _megatron_config_of("deepseek-v3")
    assert cfg.mtp_num_layers == job.model.mtp_layers == 1 and cfg.multi_latent_attention
    # the sigmoid router with the auxiliary-loss-free expert bias (config.json scoring_func / topk_method)
    assert cfg.moe_router_score_function == "sigmoid" and cfg.moe_router_enable_expert_bias
    job, cfg = _megatron_config_of("gpt-oss-20b")
    assert cfg.softmax_type == "learnable" and job.model.attention_sinks
    assert cfg.add_bias_linear and job.model.moe.router_bias
    # 128-token windows on HF's even layers (layer_types): Megatron's own placement rule, layer by layer
    from megatron.core.transformer.utils import is_layer_window_attention

    assert cfg.window_size == (127, 0)
    local = [is_layer_window_attention(cfg.window_size, cfg.window_attn_skip_freq, i + 1) for i in range(cfg.num_layers)]
    assert local == [i % 2 == 0 for i in range(cfg.num_layers)] and sum(local) == job.model.local_layers
    job, cfg = _megatron_config_of("gemma3-12b")  # five local layers, then a global one
    local = [is_layer_window_attention(cfg.window_size, cfg.window_attn_skip_freq, i + 1) for i in range(cfg.num_layers)]
    assert cfg.window_size == (1023, 0) and local == [(i + 1) % 6 != 0 for i in range(cfg.num_layers)]
    job, cfg = _megatron_config_of("qwen3-30b-a3b")  # none of them
    assert cfg.mtp_num_layers is None and cfg.softmax_type == "vanilla" and not cfg.add_bias_linear
    assert cfg.window_size is None and cfg.moe_router_score_function == "softmax"


@pytest.mark.parametrize("preset,modules", [("qwen3-30b-a3b", ["layernorm", "moe_act"]),
                                             ("deepseek-v3", ["mla_up_proj", "mlp"]), ("llama3-8b", []),
                                             # every list recommend searches (planner.search.space
                                             # recompute_module_lists), on a model with MoE, MLA and dense layers
                                             *(("deepseek-v3", list(x)) for x in D.RECOMPUTE_MODULE_LISTS)])
def test_megatron_accepts_the_planned_recompute_modules(preset, modules):
    """``training.recompute_modules`` reaches Megatron-Core's config as ``--recompute-granularity selective
    --recompute-modules ...`` (nargs='*': an empty list recomputes nothing), and TransformerConfig's
    __post_init__ accepts it (moe_act needs the grouped GEMM the flags turn on, mla_up_proj MLA)."""
    job = load_job_dict({"model": {"preset": preset}, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                                   "tokens": 1e9, "recompute": "selective",
                                                                   "recompute_modules": modules},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
    best = estimate_job(job)
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 8, env)["cfg"]
    assert cfg.recompute_granularity == "selective" and cfg.recompute_modules == modules


def test_megatron_refuses_model_features_it_lacks():
    """OLMo-2's q/k norm spans all heads; Megatron-Core's qk_layernorm is per head: refused at --emit,
    naming the feature, not emitted as another model."""
    job = load_job_dict({"model": {"preset": "olmo2-7b"}, "training": {"seq_len": 4096, "global_batch": 64,
                                                                      "micro_batch": 1, "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
    with pytest.raises(InputError, match="full-width q/k norm") as e:
        emit_launch_spec(job, estimate_job(job), "torchrun:megatron")
    assert e.value.field == "--emit"
    # Llama 4's chunked attention (a query sees its own chunk only) is no sliding window, and Megatron-Core
    # 0.16.1 has no chunked attention: refused, not emitted as full or sliding attention
    job = load_job_dict({"model": {"preset": "llama4-scout"}, "training": {"seq_len": 4096, "global_batch": 64,
                                                                          "micro_batch": 1, "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1}, "cluster": {"instance": P5, "nodes": 1}})
    with pytest.raises(InputError, match="chunked local attention"):
        emit_launch_spec(job, estimate_job(job), "torchrun:megatron")


# ------------------------------------------------------------------------------------ they can fail
def _megatron_case(name="pp4-vpp2-tp8-sp", fmt="torchrun"):
    job, best = plan(name)
    env, argv = command_of(script_of(fmt, emit_launch_spec(job, best, f"{fmt}:megatron")))
    run = torchrun_accepts(argv)
    return run, env, best.hardware["nodes"] * best.hardware["gpus_per_node"]


def _replace(argv, flag, value):
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


@pytest.mark.parametrize("flag,value,error", [
    ("--pipeline-model-parallel-size", "3", "divisible"),         # 80 layers, 128 GPUs: not by 3
    ("--num-attention-heads", "60", "num_attention_heads"),        # 60 heads over TP8: TransformerConfig refuses
    ("--num-layers-per-virtual-pipeline-stage", "3", "divisible"),  # 20 layers per stage, not by 3
    ("--global-batch-size", "500", "global batch size"),            # not a multiple of mb 2 x DP4
])
def test_megatron_rejects_a_broken_spec(flag, value, error):
    run, env, world = _megatron_case()
    with pytest.raises((AssertionError, ValueError, RuntimeError), match=error):
        megatron_accepts(run.training_script, _replace(run.training_script_args, flag, value), world, env)
    with pytest.raises(AssertionError, match="CUDA_DEVICE_MAX_CONNECTIONS"):  # TP8 without it: validate_args refuses
        megatron_accepts(run.training_script, run.training_script_args, world, {})
    with pytest.raises(AssertionError, match="not a Megatron-LM"):
        megatron_accepts(run.training_script, run.training_script_args + ["--tensor-parallel-size", "8"], world, env)


def test_megatron_fsdp2_rules_reject_cuda_max_connections_1():
    job, best = plan("zero3-tp2")
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    with pytest.raises(AssertionError, match="CUDA_DEVICE_MAX_CONNECTIONS"):
        megatron_accepts(run.training_script, run.training_script_args, 128, {**env, "CUDA_DEVICE_MAX_CONNECTIONS": "1"})


def _titan_plan(framework, recompute="selective", parallel=None):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {**PRETRAIN, "recompute": recompute,
                                                                        "framework": framework},
                         "parallel": parallel or {"tp": 2, "pp": 1, "zero": 3}, "cluster": {"instance": P5, "nodes": 2}})
    return job, estimate_job(job)


def _titan_parsed(job, best, fmt="torchrun", config="probe"):
    text = emit_launch_spec(job, best, f"{fmt}:fsdp")
    env, argv = command_of(script_of(fmt, text))
    world = best.hardware["nodes"] * best.hardware["gpus_per_node"]
    return text, titan_accepts(torchrun_accepts(argv).training_script_args, world, job.model.layers, config)["cfg"]


TITAN_AC_CASES = [  # framework options, recompute -> torchtitan 0.3's policy class, a note naming it (or None)
    ("torchtitan", "selective", "SelectiveAC", None),  # the torchtitan stack's selective is per-op SAC
    ({"name": "torchtitan", "selective": "layer", "ac_freq": 1}, "selective", "FullAC", None),  # every layer: full
    ({"name": "torchtitan", "selective": "layer", "ac_freq": 2}, "selective", "FullAC", "ac_freq 2"),
    ({"name": "torchtitan", "selective": "layer", "ac_freq": 4}, "selective", "FullAC", "selective_ac_option 4"),
    ("torchtitan", "full", "FullAC", None),
    ("torchtitan", "none", None, None),
]


@pytest.mark.parametrize("framework,recompute,policy,note", TITAN_AC_CASES)
def test_torchtitan_runs_the_planned_activation_checkpointing(framework, recompute, policy, note):
    """The policy torchtitan 0.3 builds from the emitted line (its ActivationCheckpointingConfig subcommand, parsed by
    ConfigManager; the probe's config function sets Trainer.Config's default, SelectiveAC) is the recompute the plan priced: per-op SAC for the
    torchtitan stack's selective, full AC for layer SAC every layer. Layer SAC every n > 1 layers, which 0.3 has no
    policy for, launches as full AC with a ``# note:`` in every format's header saying so. (Until 2026-12-03 each
    selective plan launched as per-op SAC.)"""
    job, best = _titan_plan(framework, recompute)
    for fmt in FORMATS:
        text, cfg = _titan_parsed(job, best, fmt)
        got = cfg.activation_checkpoint
        assert (type(got).__qualname__.split(".")[0] if got is not None else None) == policy
        notes = [ln for ln in text.splitlines() if ln.startswith("# note:")]
        if note is None:
            assert not any("SAC" in n for n in notes)
        else:
            assert any(note in n and "full activation checkpointing" in n for n in notes)


@pytest.mark.parametrize("compile_", [True, False])
def test_torchtitan_line_overrides_what_the_config_function_sets(compile_):
    """The config function ($TITAN_CONFIG) gives every default the flags do not: one that compiles the loss alone,
    turns SP off and offloads to the CPU must still launch the plan's compile (model and loss, async TP with TP),
    sequence parallelism and no offload."""
    job, best = _titan_plan({"name": "torchtitan", "compile": compile_}, parallel={"tp": 2, "pp": 1, "zero": 3,
                                                                                  "sequence_parallel": True})
    _, cfg = _titan_parsed(job, best, config="probe_contrary")
    assert cfg.compile.enable == compile_
    if compile_:
        assert cfg.compile.components == ["model", "loss"] and cfg.compile.enable_async_tensor_parallel
    assert cfg.parallelism.enable_sequence_parallel and not cfg.training.enable_cpu_offload


@pytest.mark.parametrize("framework,zero,note", [("deepspeed", 3, "deepspeed's code"), ("deepspeed", 1, "deepspeed's code"),
                                                 ("torchtitan", 3, None), ("megatron-core", 1, None)])
def test_a_plan_for_another_stack_says_whose_numbers_the_launch_has(framework, zero, note):
    """A plan timed for a stack without a launcher here (DeepSpeed) goes to the Megatron or torchtitan launcher by its
    ZeRO stage: the header says the launch's time and memory are that launcher's; a stack's own launcher says nothing."""
    job, best = _titan_plan(framework, parallel={"tp": 1, "pp": 1, "zero": zero})
    text = emit_launch_spec(job, best, "torchrun")
    priced = [ln for ln in text.splitlines() if ln.startswith("# note:") and "was priced for" in ln]
    assert (priced[0] if priced else None) is None if note is None else note in priced[0]


@pytest.mark.parametrize("reshard", [True, False])
def test_megatron_fsdp2_keeps_the_planned_reshard(reshard):
    """A megatron-core ZeRO-3 plan (torch FSDP2) with the stack option reshard_after_forward false is priced with
    each unit kept gathered from forward to backward (more memory, no backward gather): the line Megatron accepts
    says --torch-fsdp2-no-reshard-after-forward, without which Megatron-LM reshards (its default)."""
    job, best = _titan_plan({"name": "megatron-core", "reshard_after_forward": reshard})
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    got = megatron_accepts(run.training_script, run.training_script_args, 16, env)
    assert got["args"]["use_torch_fsdp2"]
    assert got["args"]["torch_fsdp2_no_reshard_after_forward"] == (not reshard)


def test_torchtitan_rejects_a_broken_spec():
    job, best = plan("pp8-zero2")
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:fsdp")))
    args = torchrun_accepts(argv).training_script_args
    with pytest.raises(AssertionError, match="Invalid parallel dims"):
        titan_accepts(_replace(args, "--parallelism.tensor_parallel_degree", "3"), 64, 80)
    with pytest.raises(ValueError, match="divisible"):  # 80 layers / 3 per stage: 27 stages over PP8
        titan_accepts(_replace(args, "--parallelism.pipeline_parallel_layers_per_stage", "3"), 64, 80)
    with pytest.raises(SystemExit):  # tyro: unknown flag
        titan_accepts(args + ["--parallelism.tensor_paralel_degree", "2"], 64, 80)


def test_torchrun_skypilot_k8s_and_bash_reject_broken_specs():
    job, best = plan("pp4-vpp2-tp8-sp")
    with pytest.raises(SystemExit):
        torchrun_accepts(["--nnodes=2", "--gpus-per-node=8", "train.py"])
    sky_doc = yaml.safe_load(emit_launch_spec(job, best, "skypilot"))
    for broken in ({**sky_doc, "resources": {**sky_doc["resources"], "acclerators": "H100:8"}},
                   {**sky_doc, "num_nodes": "sixteen"}):
        with pytest.raises(ValueError, match="Invalid"):
            skypilot_accepts(broken)
    k8s_doc = yaml.safe_load(emit_launch_spec(job, best, "k8s"))
    c = k8s_doc["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    c["volumeMount"] = c.pop("volumeMounts")  # misspelt field: strict schema refuses
    kv = need("kubernetes_validate")
    with pytest.raises(kv.ValidationError):
        k8s_accepts(k8s_doc)
    with pytest.raises(AssertionError):
        bash_syntax_ok("torchrun --nnodes=2 'unterminated \\\n  train.py\n")


@pytest.mark.parametrize("instance", ["azure:Standard_ND96isr_H100_v5", "gcp:a3-highgpu-8g", "gcp:a3-megagpu-8g",
                                      "gcp:a3-ultragpu-8g"])
def test_the_fabric_pods_pass_the_kubernetes_schema(instance):
    """fabric34: the AKS InfiniBand requests and GKE's annotations, sidecars and host volumes keep each pod template a
    valid core/v1 one (strict), and the training container's script (the gIB prelude too) parses as bash."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256,
                         "micro_batch": 1, "recompute": "selective", "tokens": 1e11},
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": instance, "nodes": 2}})
    doc = yaml.safe_load(emit_launch_spec(job, estimate_job(job), "k8s"))
    for script in k8s_accepts(doc):
        bash_syntax_ok(script)
