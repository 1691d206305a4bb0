"""End-to-end robustness sweep of the CLI over ordinary, valid-looking constrained jobs (QA 108).

    PYTHONPATH=$PWD python benchmarks/cli_sweep.py [--runs 300] [--seed 108] [--verbose] [--all]
    PYTHONPATH=$PWD python benchmarks/cli_sweep.py --options [--limit 300] [--seed 108] [--verbose]

``--options`` (qa56) sweeps the stack options instead: every framework in the registry x every option it has x each
legal value (sampled to ``OPTION_VALUES_KEPT`` where the vocabulary is longer) and one illegal value, with the ZeRO
stage left open and fixed at 1, on one node of the stack's accelerator (``option_jobs``): estimate and recommend each,
one job in ten simulated, one in twenty reported (``report --out``). Besides the failures below it flags an illegal value
that is accepted (``accepted-illegal``), a legal one whose estimate is the baseline's (the option left out: the same
layout, step time and memory) without the option named anywhere in the assumptions (``unsaid``), and a report that
refused and left files or answered and wrote none (``half-written``). ``--limit`` jobs are run (each stack x option
at least once first), with progress every 25 jobs on stderr.

Every file in examples/ (and examples/hf/) is crossed with: every training stack its model admits (the
planner.model.stacks registry, screened by planner.model.stack_rules ``job_refusal``), the stack's options left open
or a few of them set (values from the registry's vocabularies), constraints (max_gpus, a fixed node count, budget,
deadline, GPU / instance / cloud restrictions, spot, precision bf16 / fp8, recompute, sequence length, micro-batch)
and, on serving jobs, the serving options (engine, batch_overlap, weight / KV quantization, disaggregation). Each job
is run in-process through the console entry point ``planner.cli.main`` -- ``recommend`` and ``estimate`` (--json),
``simulate`` (a short run), ``serve`` -- with ``PLANNER_DEBUG=1`` so that an internal error raises with its traceback
instead of becoming the one-line "internal error".

A run fails when it: runs past ``HANG_S`` (``hang``), raises (``raise``: the exception type and the innermost planner frame are the signature), prints
a traceback or "internal error" (``traceback``), exits with a code outside {0, 2} (``rc``), refuses with anything but
one line ``error: <field>: <message>`` (``error-line``), refuses with a message the cap cut in its middle (``cut``: an
ellipsis not closing a shortened aside, ``errors.cut_middle``'s last guard, where ``fit_message`` should have fitted it;
qa58), or exits 0 with a JSON that breaks DESIGN.md's contract: not
strict JSON, an estimate (or a recommendation's ``best``) without the contract's keys, or with a field the typed
``Plan`` says is a number / non-null that is not (``contract``; benchmarks/sweep_consistency ``validate_json``).

The full cross product is built deterministically; ``--runs`` of it are drawn with ``--seed`` (every example and every
(example, stack) pair at least once before the rest are drawn), so the same flags run the same jobs. Prints the counts
(runs, exit codes, failures by kind) and one line per distinct failure signature with a job that reproduces it;
exit 1 when any run failed.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from planner.errors import InputError  # noqa: E402
from planner.model import stack_rules  # noqa: E402
from planner.present.script_args import ScriptArgs  # noqa: E402 (usage errors as one line, exit 2)
from planner.model.stacks import OPTION_HOLDERS, OPTION_USES, OPTION_VALUES, RUNS_ON, STACKS, holds  # noqa: E402
from planner.results import Plan  # noqa: E402
from planner.spec import load_job_dict  # noqa: E402
from planner.vocab import FRAMEWORK, MOE_ONLY_OPTIONS  # noqa: E402
from sweep_consistency import validate_json  # noqa: E402

ERROR_LINE = re.compile(r"^error: [^:\n]+: .+$")
#: a message cut in its middle by InputError's last guard (an aside ``fit_message`` shortened ends "…)")
MIDDLE_CUT = re.compile(r"…(?!\))")
#: DESIGN.md "Contract": the keys ``planner estimate --json`` prints at least
CONTRACT_KEYS = ("params", "params_active", "flops_per_step", "hw_flops_per_step", "step_time_s", "tokens_per_s",
                 "tokens_per_s_per_gpu", "mfu", "hfu", "fits", "memory_per_gpu_bytes", "breakdown_s")
MEMORY_KEYS = ("total", "weights", "grads", "optimizer", "activations", "other")

#: valid values to set an option to where its vocabulary is not in the registry (OPTION_VALUES or the holder's list);
#: an option not here and without a vocabulary is a switch (bool) or left open
OPTION_EXAMPLES = {"activation_offload_layers": [1, 2], "ac_freq": [2], "num_vocab_tiling": [2, 4], "lp_bf16_layers": [1],
                   "lp_bf16_first_layers": [1], "ce_chunk_size": [1024], "reduce_bucket_size": [5e8],
                   "nvme_gbps": [3.0], "microbatch_group_size": [2], "pp_pass_microbatches": [2],
                   "attn_implementation": ["sdpa", "eager", "flash_attention_2"],
                   "experts_implementation": ["eager", "grouped_mm"], "remat_policy": ["full", "minimal"],
                   "communication_data_type": ["fp32", "bf16"], "pp_partition_method": ["parameters", "uniform"],
                   "pp_split": ["balanced"]}
#: options whose value is a structure (a layout string, a tensor map, a scope list): left open
SKIPPED_OPTIONS = {"pp_layout", "remat_tensors", "cuda_graph_scope", "cp_comm_type", "pp_first_stage_less_layers",
                   "pp_last_stage_less_layers"}

#: (a set without a GPU, instance or cloud list keeps the example's own: an open catalog search is minutes)
CONSTRAINTS = [
    {},
    {"max_gpus": 8},
    {"max_gpus": 64, "gpus": ["H100-SXM-80GB"]},
    {"max_gpus": 256, "deadline_hours": 720, "gpus": ["H100-SXM-80GB", "H200-SXM-141GB"]},
    {"budget_usd": 2.0e6, "max_gpus": 128},
    {"clouds": ["aws"], "spot": True, "max_gpus": 64},
    {"gpus": ["A100-SXM-80GB", "H200-SXM-141GB"], "max_gpus": 32},
    {"instances": ["aws:p5.48xlarge"], "max_gpus": 32},
    {"gpus": ["B200-SXM-180GB"], "max_gpus": 16, "objective": "time"},
    {"gpus": ["MI300X-192GB"], "max_gpus": 16},
]
#: the bare cluster a stack whose code runs on no NVIDIA GPU (planner.model.stacks ``RUNS_ON``) is planned on (the
#: catalog sells no Gaudi 3 or Trainium2 instance, and its TPU v5p slices are 512 chips)
PLATFORM_GPUS = {"gaudi": {"gpu": "Gaudi3-128GB", "gpus_per_node": 8, "nodes": 1},
                 "tpu": {"gpu": "TPU-v5p", "gpus_per_node": 4, "nodes": 2},
                 "neuron": {"gpu": "Trainium2", "gpus_per_node": 16, "nodes": 1}}
FIXED_CLUSTERS = [{"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
                  {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2},
                  {"instance": "aws:p4d.24xlarge", "nodes": 1}]
TRAINING = [{}, {"precision": "fp8"}, {"precision": "bf16"}, {"recompute": "full"}, {"recompute": "selective"},
            {"seq_len": 2048}, {"seq_len": 32768}, {"micro_batch": 2}, {"micro_batch": 1, "precision": "fp8",
                                                                         "recompute": "full"}]
SERVING = [{}, {"engine": "sglang"}, {"engine": "sglang", "batch_overlap": "two_batch"}, {"engine": "tensorrt-llm"},
           {"engine": "vllm", "batch_overlap": "none"}, {"precision": "fp8"}, {"precision": "int4"},
           {"kv_precision": "fp8"}, {"precision": "fp8", "kv_precision": "fp8", "engine": "sglang"},
           {"disaggregation": "auto"}, {"disaggregation": {"prefill": 1, "decode": 1}},
           {"engine": "sglang", "batch_overlap": "two_batch", "disaggregation": "auto"}]
#: session 53's paths, on every example whose model the stack admits: (stack, training changes, framework options,
#: parallel fields fixed, constraints): Megatron-FSDP under MXFP8 / full recompute / --fp8-param-gather, DeepSpeed's
#: AutoTP / AutoEP, FSDP2 LoRA at ZeRO-2, transformers' experts kernels, generic models on each
FOCUS = [
    ("megatron-core", {"precision": "fp8", "recompute": "full"},
     {"megatron_fsdp": True, "fp8_recipe": "mxfp8", "fp8_param_gather": True}, {}, {"gpus": ["B200-SXM-180GB"]}),
    ("megatron-core", {"precision": "fp8"}, {"megatron_fsdp": True, "fp8_param_gather": False}, {"zero": 3},
     {"gpus": ["H100-SXM-80GB"]}),
    ("megatron-bridge", {"precision": "fp8", "recompute": "selective"}, {"megatron_fsdp": True, "fp8_recipe": "mxfp8"},
     {}, {"gpus": ["B200-SXM-180GB"], "max_gpus": 64}),
    ("nemo", {"precision": "fp8"}, {"fp8_param_gather": True, "fp8_recipe": "delayed"}, {"zero": 1}, {}),
    ("megatron-lm", {"precision": "fp8", "recompute": "full"}, {"fp8_param_gather": True}, {}, {"max_gpus": 32}),
    ("deepspeed", {}, {}, {"tp": 2}, {"gpus": ["H100-SXM-80GB"], "max_gpus": 16}),
    ("deepspeed", {}, {"experts_implementation": "grouped_mm"}, {"ep": 8}, {"gpus": ["H100-SXM-80GB"], "max_gpus": 16}),
    ("deepspeed", {"precision": "fp32"}, {}, {"zero": 3}, {"gpus": ["A100-SXM-80GB"], "max_gpus": 16}),
    ("deepspeed", {}, {"experts_implementation": "eager"}, {}, {"max_gpus": 8}),
    ("hf-trainer", {"mode": "lora"}, {"fsdp_version": 2}, {"zero": 2}, {"max_gpus": 8}),
    ("hf-trainer", {"mode": "lora"}, {}, {"zero": 3}, {"max_gpus": 16}),
    ("hf-trainer", {}, {"experts_implementation": "grouped_mm"}, {}, {"max_gpus": 16}),
    ("hf-trainer", {"mode": "full_finetune"}, {"experts_implementation": "eager", "fsdp_version": 2}, {"ep": 4},
     {"max_gpus": 16}),
    ("nemo-automodel", {}, {"fsdp_defer_sync": True}, {}, {"max_gpus": 16}),
    ("torchtitan", {"precision": "fp8"}, {}, {"zero": 3}, {"gpus": ["H100-SXM-80GB"], "max_gpus": 16}),
    # every admitted stack ("*") at the states' sharded stages under fp8 with full recompute, and at ZeRO-2
    ("*", {"precision": "fp8", "recompute": "full"}, {}, {"zero": 3}, {"gpus": ["H100-SXM-80GB"], "max_gpus": 16}),
    ("*", {"recompute": "selective", "micro_batch": 2}, {}, {"zero": 2}, {"gpus": ["A100-SXM-80GB"], "max_gpus": 16}),
]
#: models the focus combos also run on (dense, MoE, encoder, generic): a job's model replaced by each
FOCUS_MODELS = [{"preset": "llama3-8b"}, {"preset": "qwen3-30b-a3b"}, {"preset": "mixtral-8x7b"},
                {"preset": "bert-base"}, {"preset": "resnet50"},
                {"name": "tiny-generic", "family": "generic", "params": 2.5e7, "fwd_flops_per_sample": 4.1e9,
                 "activation_bytes_per_sample": 1.0e8}]
#: MoE models served (the serving examples are dense): expert parallelism beside the serving options
SERVE_MOE = [{"preset": "qwen3-30b-a3b"}, {"preset": "mixtral-8x7b"}]
SERVE_GPUS = ["H100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB"]
SERVE_CONSTRAINTS = [{}, {"gpus": ["H100-SXM-80GB"]}, {"clouds": ["aws"], "spot": True}, {"max_gpus": 8},
                     {"gpus": ["L40S-48GB", "A100-SXM-80GB"]}]


def example_paths() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "hf").glob("*.json"))


def read_example(path: Path) -> dict:
    raw = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    if "model" not in raw and "tabular" not in raw and "serving" not in raw:  # a bare model or an HF config.json
        raw = {"model": {"hf_config": str(path)} if path.suffix == ".json" else raw}
    return raw


def option_values(stack, option: str) -> list:
    """Valid values of ``option`` on ``stack`` (empty: left open in the sweep)."""
    if option in SKIPPED_OPTIONS:
        return []
    listed = OPTION_HOLDERS.get(option, (None, None, None))[2]
    if listed is not None:
        return list(listed(stack))
    if option in OPTION_VALUES:
        return list(OPTION_VALUES[option])
    if option in OPTION_EXAMPLES:
        return OPTION_EXAMPLES[option]
    return [True, False] if isinstance(getattr(stack, option, None), bool) else []


def admitted_stacks(raw: dict, base: Path) -> list[str]:
    """The stacks whose code builds the job's model (stack_rules ``job_refusal`` None), in registry order."""
    try:
        job = load_job_dict(raw, base_dir=base)
    except InputError:
        return []
    out = []
    for name in FRAMEWORK.names:
        if stack_rules.job_refusal(STACKS[name], job.model, job.training) is None:
            out.append(name)
    return out


def usable_options(name: str, raw: dict, base: Path) -> list[str]:
    """The options stack ``name`` has and the job's model uses (OPTION_HOLDERS, OPTION_USES)."""
    st = STACKS[name]
    try:
        job = load_job_dict(raw, base_dir=base)
    except InputError:
        return []
    return [o for o in OPTION_HOLDERS if holds(st, o) and option_values(st, o)
            and OPTION_USES.get(o, lambda m, t: True)(job.model, job.training)]


def training_jobs(path: Path, raw: dict, rng: random.Random) -> list[tuple[str, str, dict, list]]:
    """(example, stack, job, commands) for a training example: each admitted stack open and with options set, under a
    drawn constraint set / fixed cluster and training change."""
    out = []
    fixed = "cluster" in raw and "parallel" in raw
    stacks = admitted_stacks(raw, path.parent) or [None]
    for name in stacks:
        for variant in ("open", "set", "set"):
            job = json.loads(json.dumps(raw))
            t = job.setdefault("training", {})
            if name is not None:
                fw = {"name": name}
                if variant == "set":
                    opts = usable_options(name, raw, path.parent)
                    for o in rng.sample(opts, min(len(opts), rng.randint(1, 4))):
                        fw[o] = rng.choice(option_values(STACKS[name], o))
                t["framework"] = fw
            t.update(rng.choice(TRAINING))
            if job["model"].get("preset") in ("resnet50", "vit-b16") or "fwd_flops_per_sample" in job["model"]:
                t.pop("seq_len", None)
            cmds = [["recommend", "--json", "--no-simulate"]]
            if fixed:
                cmds = [["estimate", "--json"], ["simulate", "--json", "--steps", "20", "--no-answers"], *cmds]
                if rng.random() < 0.3:  # the fixed plan alone, without the example's constraints
                    job.pop("constraints", None)
            platform = next((PLATFORM_GPUS[p] for p in RUNS_ON.get(name, ()) if p in PLATFORM_GPUS), None) \
                if name is not None and "cuda" not in RUNS_ON.get(name, ("cuda",)) else None
            if not fixed or platform or rng.random() < 0.5:  # a search: drop the fixed hardware and layout
                for k in ("cluster", "parallel"):
                    job.pop(k, None)
                cons = dict(rng.choice(CONSTRAINTS))
                mine = job.get("constraints", {})
                if not {"gpus", "instances", "clouds"} & set(cons):
                    cons = {"max_gpus": 64, **{k: v for k, v in mine.items() if k in ("gpus", "instances", "clouds")},
                            **cons} if {"gpus", "instances"} & set(mine) else {"gpus": ["A100-SXM-80GB"], **cons}
                job["constraints"] = {**{k: v for k, v in mine.items() if k not in ("gpus", "instances", "clouds")},
                                      **cons}
                if platform:  # its own accelerator, whatever the drawn list says
                    for k in ("gpus", "instances", "clouds", "max_gpus"):
                        job["constraints"].pop(k, None)
                    job["cluster"] = dict(platform)
                elif rng.random() < 0.3:
                    job["cluster"] = dict(rng.choice(FIXED_CLUSTERS))
                    for k in ("gpus", "instances"):  # the node is fixed: no list to choose from
                        job["constraints"].pop(k, None)
                cmds = [["recommend", "--json", "--no-simulate"]]
                if job.get("cluster") and rng.random() < 0.5:
                    cmds.append(["estimate", "--json"])
            out.append((path.name, name or "-", job, cmds))
    return out


def serving_jobs(path: Path, raw: dict, rng: random.Random) -> list[tuple[str, str, dict, list]]:
    """A serving example with each of ``SERVING``'s option sets (a generic model: as it is) under a drawn constraint
    set, served analytically and, one time in four, simulated."""
    out = []
    generic = raw["model"].get("preset") in ("resnet50",)
    for extra in SERVING[:1] if generic else SERVING:
        job = json.loads(json.dumps(raw))
        job["serving"].update(extra)
        job["constraints"] = {**{k: v for k, v in job.get("constraints", {}).items() if k not in ("gpus", "clouds")},
                              **rng.choice(SERVE_CONSTRAINTS)}
        cmds = [["serve", "--json", "--no-simulate"]] + ([["serve", "--json"]] if rng.random() < 0.25 else [])
        out.append((path.name, "serve:" + ",".join(f"{k}={v}" for k, v in extra.items()), job, cmds))
    return out


def focus_jobs(rng: random.Random) -> list[tuple[str, str, dict, list]]:
    """Session 53's paths (``FOCUS``) on each of ``FOCUS_MODELS`` the stack admits, each as a search and (where the
    parallel fields leave room) a fixed single-node estimate; MoE models served with each serving option."""
    out = []
    for model in FOCUS_MODELS:
        generic = model.get("preset") == "resnet50" or model.get("family") == "generic"
        base = {"model": model, "training": {"global_batch": 256, "tokens": 1e10} if not generic else
                {"global_batch": 1024, "steps": 1000}}
        if not generic:
            base["training"]["seq_len"] = 4096
        admitted = set(admitted_stacks(base, ROOT))
        label = model.get("preset") or model["name"]
        for stack, train, opts, par, cons in [(n, *f[1:]) for f in FOCUS for n in
                                              (sorted(admitted) if f[0] == "*" else [f[0]])]:
            if stack not in admitted:
                continue
            job = json.loads(json.dumps(base))
            job["training"].update(train, framework={"name": stack, **opts})
            if par:
                job["parallel"] = dict(par)
            job["constraints"] = dict(cons)
            out.append((f"focus:{label}", f"{stack}+{','.join(opts) or 'open'}", job, [["recommend", "--json", "--no-simulate"]]))
            fixed = json.loads(json.dumps(job))
            fixed.pop("constraints")
            fixed["cluster"] = {"gpu": (cons.get("gpus") or ["H100-SXM-80GB"])[0], "gpus_per_node": 8, "nodes": 1}
            out.append((f"focus:{label}", f"{stack}+{','.join(opts) or 'open'}+fixed", fixed,
                        [["estimate", "--json"], ["simulate", "--json", "--steps", "10", "--no-answers"]]))
    for model in SERVE_MOE:  # (an MoE's serve search is ~10x a dense one's: one GPU type, the analytic answer)
        for extra in SERVING:
            ep = rng.random() < 0.5
            serving = {"p99_latency_ms": 60, "ttft_ms": 2000, "qps": 8, "prompt_tokens": 1024,
                       "output_tokens": 256, "expert_parallel": ep, **extra}
            job = {"model": model, "serving": serving, "constraints": {"gpus": [rng.choice(SERVE_GPUS)]}}
            out.append((f"focus-serve:{model['preset']}", f"serve:ep={ep}:" + ",".join(
                f"{k}={v}" for k, v in extra.items()), job, [["serve", "--json", "--no-simulate"]]))
    return out


def other_jobs(path: Path, raw: dict, rng: random.Random) -> list[tuple[str, str, dict, list]]:
    """A tabular or campaign example under a few constraint sets (no stack, no serving options)."""
    out = []
    for cons in ({}, {"max_gpus": 1}, {"clouds": ["aws"], "spot": True}, {"budget_usd": 100.0}):
        job = json.loads(json.dumps(raw))
        job["constraints"] = {**job.get("constraints", {}), **cons}
        out.append((path.name, "-", job, [["recommend", "--json"], ["estimate", "--json"]]))
    return out


def all_jobs(seed: int) -> list[tuple[str, str, dict, list]]:
    rng = random.Random(seed)
    jobs = []
    for path in example_paths():
        raw = read_example(path)
        if "serving" in raw and "training" not in raw:
            jobs += serving_jobs(path, raw, rng)
        elif "model" in raw:
            jobs += training_jobs(path, raw, rng)
        else:
            jobs += other_jobs(path, raw, rng)
    return jobs + focus_jobs(rng)


def draw(jobs: list, runs: int, seed: int) -> list:
    """``runs`` of ``jobs`` (0: all): one per (example, stack) first, then the rest, each drawn at random (fixed by
    ``seed``)."""
    rng = random.Random(seed + 1)
    seen, first, rest = set(), [], []
    for j in jobs:
        key = (j[0], j[1].split(":")[0])  # a serving job's options are drawn with the rest
        (rest if key in seen else first).append(j)
        seen.add(key)
    rng.shuffle(first)
    rng.shuffle(rest)
    return (first + rest)[:runs] if runs else first + rest


class Hang(Exception):
    """A run past ``HANG_S`` seconds."""


def _alarm(*_):
    raise Hang(f"ran past {HANG_S} s")


HANG_S = 300  # a run this long is a hang (the largest job here plans in ~10 s on one idle core)


def run_main(args: list[str]) -> tuple[int, str, str, BaseException | None]:
    """``planner <args>`` in-process through ``planner.cli.main``: (exit code, stdout, stderr, what it raised)."""
    from planner import cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["planner", *args]
    code, raised = 0, None
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # noqa: BLE001 (PLANNER_DEBUG=1: an internal error raises; the sweep records it)
        code, raised = -1, e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        sys.argv = argv
    return code, out.getvalue(), err.getvalue(), raised


def signature(e: BaseException) -> str:
    """The exception type and the innermost frame inside planner/ (where to fix it)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/planner/" in f.filename]
    at = f"{Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno} {frames[-1].name}" if frames else "?"
    return f"{type(e).__name__} at {at}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def contract_problems(cmd: str, js) -> list[str]:
    """DESIGN.md's contract on an estimate's JSON (and a recommendation's ``best`` plan)."""
    plan = js if cmd == "estimate" else js.get("best") if isinstance(js, dict) else None
    if not isinstance(plan, dict) or "step_time_s" not in plan:  # a tabular / campaign answer: its own shape
        return []
    probs = [f"{k} missing" for k in CONTRACT_KEYS if k not in plan]
    mem = plan.get("memory_per_gpu_bytes")
    if isinstance(mem, dict):
        probs += [f"memory_per_gpu_bytes.{k} missing" for k in MEMORY_KEYS if k not in mem]
    for k in ("step_time_s", "tokens_per_s", "mfu", "hfu"):
        v = plan.get(k)
        if isinstance(v, (int, float)) and not (math.isfinite(v) and v >= 0):
            probs.append(f"{k} = {v}")
    return probs + validate_json(plan, Plan)


def check(cmd: list[str], code: int, out: str, err: str, raised) -> tuple[str, str] | None:
    """(kind, detail) of a failed run, None where it kept the contract."""
    if isinstance(raised, Hang):
        return "hang", str(raised)
    if raised is not None:
        return "raise", signature(raised)
    if "Traceback" in out + err or "internal error" in out + err:
        return "traceback", (err.strip().splitlines() or [""])[-1][:200]
    if code not in (0, 2):
        return "rc", f"exit {code}: {err.strip()[:200]}"
    if code == 2:
        line = err.strip()
        if "\n" in line or not ERROR_LINE.match(line):
            return "error-line", line[:200]
        return ("cut", line.split(": ")[1] + ": " + line[:200]) if MIDDLE_CUT.search(line) else None
    if "--json" in cmd:
        try:
            js = json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"non-JSON constant {c}")))
        except ValueError as e:
            return "contract", f"not strict JSON: {e}"[:200]
        probs = contract_problems(cmd[0], js)
        if probs:
            return "contract", "; ".join(probs[:4])
    return None


# ----------------------------------------------------------------------------------------------- --options (qa56)
#: the models a stack's options are swept on: the first one the stack's code builds (stack_rules ``job_refusal``),
#: and the MoE model for the options only MoE layers use (``OPTION_USES``) -- each such option once more on the dense
#: model, where the output must say it changes nothing
OPTION_MODELS = [{"preset": "llama3-8b"}, {"preset": "bert-base"}, {"preset": "resnet50"}]
OPTION_MOE_MODEL = {"preset": "qwen3-30b-a3b"}
#: values for the structured options the --options sweep can set whole (the rest of ``SKIPPED_OPTIONS`` stay open)
OPTION_EXTRA = {"cp_comm_type": ["p2p", "a2a"], "cuda_graph_scope": [["attn"]], "pp_first_stage_less_layers": [1],
                "pp_last_stage_less_layers": [1]}
OPTION_VALUES_KEPT = 4  # legal values per option at most (sampled where a vocabulary is longer)
#: the ZeRO stages each option is also set at (a fixed stage below the one an option needs must be refused or said)
OPTION_STAGES = (None, 1)


def _illegal(stack, option: str, legal: list):
    """One value no stack offers for ``option``: a word where the option takes words or a number, -1 for a
    number, a word for a switch."""
    sample = legal[0] if legal else getattr(stack, option, None)
    if isinstance(sample, bool):
        return "maybe"
    return -1 if isinstance(sample, (int, float)) else "no-such-value"


def _option_model(name: str) -> tuple[dict, dict] | None:
    """(the base job, its MoE twin) of the first model and 16-bit precision stack ``name``'s code builds, else None."""
    st = STACKS[name]
    for model in OPTION_MODELS:
        for precision in ("bf16", "fp16"):
            base = _option_base(name, model)
            base["training"]["precision"] = precision
            job = load_job_dict(base, base_dir=ROOT)
            if stack_rules.job_refusal(st, job.model, job.training) is None:
                moe = _option_base(name, OPTION_MOE_MODEL)
                moe["training"]["precision"] = precision
                return base, moe
    return None


def _option_base(name: str, model: dict) -> dict:
    """The small fixed job an option is swept on: one node of the stack's accelerator, the layout left open."""
    generic = model.get("preset") == "resnet50"
    t = {"global_batch": 256, "steps": 50, "framework": {"name": name}} if generic else \
        {"global_batch": 64, "seq_len": 2048, "tokens": 1e9, "framework": {"name": name}}
    platform = next((PLATFORM_GPUS[p] for p in RUNS_ON.get(name, ()) if p in PLATFORM_GPUS), None) \
        if "cuda" not in RUNS_ON.get(name, ("cuda",)) else None
    return {"model": dict(model), "training": t,
            "cluster": dict(platform or {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1})}


def option_jobs(seed: int, stacks=None, options=None) -> list[tuple[str, str, dict, list, dict]]:
    """(stack, "option=value", job, commands, expect) for every stack (``stacks``: those only) x every option it has
    (``options``: those only) x each legal value (at most ``OPTION_VALUES_KEPT``, sampled), one illegal value, at
    each of ``OPTION_STAGES``; the fp8 options under fp8 and once under bf16, the MoE options on the MoE model and once
    on the dense one. ``expect``: "refused" (an illegal value), else the baseline job (the option left out) whose
    estimate a value that changes nothing must be said against."""
    rng, out = random.Random(seed), []
    for name in stacks or FRAMEWORK.names:
        models = _option_model(name)
        if models is None:
            continue
        dense, moe = models
        for option in options or [o for o in OPTION_HOLDERS.keys() | set(OPTION_USES) if holds(STACKS[name], o)]:
            out += _one_option(name, option, dense, moe, rng)
    return out


def _one_option(name: str, option: str, dense: dict, moe: dict, rng: random.Random) -> list:
    st = STACKS[name]
    legal = OPTION_EXTRA.get(option) or option_values(st, option)
    if not legal:
        return []
    legal = rng.sample(legal, OPTION_VALUES_KEPT) if len(legal) > OPTION_VALUES_KEPT else legal
    moe_only = option in MOE_ONLY_OPTIONS or option in ("fsdp_defer_sync", "moe_shared_expert_overlap")
    fp8 = option in ("fp8_recipe", "fp8_param_gather")
    own = dense["training"]["precision"]
    bases = [(moe if moe_only else dense, "fp8" if fp8 else own)]
    bases += [(dense, own)] if moe_only or fp8 else []
    out = []
    for base, precision in bases:
        for zero in OPTION_STAGES:
            for value, expect in [(v, "ok") for v in legal] + [(_illegal(st, option, legal), "refused")]:
                job = json.loads(json.dumps(base))
                job["training"]["precision"] = precision
                job["training"]["framework"][option] = value
                if zero is not None:
                    job["parallel"] = {"zero": zero}
                cmds = [["estimate", "--json"], ["recommend", "--json", "--no-simulate", "--top", "1"]]
                cmds += [["simulate", "--json", "--steps", "5", "--no-answers"]] if rng.random() < 0.1 else []
                cmds += [["report", "--top", "1", "--out"]] if rng.random() < 0.05 else []
                base_job = json.loads(json.dumps(job))
                del base_job["training"]["framework"][option]
                label = f"{option}={value}@{precision}" + (f",zero={zero}" if zero is not None else "") + \
                    f",{base['model'].get('preset')}"
                out.append((name, label, job, cmds, {"expect": expect, "base": base_job, "option": option,
                                                    "default": getattr(st, option, None), "value": value}))
    return out


def _estimate_key(js: dict) -> tuple:
    """What an estimate's plan is: its layout, step time and memory (an option that moves none changed nothing)."""
    mem = js.get("memory_per_gpu_bytes") or {}
    return (json.dumps(js.get("config"), sort_keys=True), round(js.get("step_time_s") or 0.0, 9),
            round(mem.get("total", 0.0) if isinstance(mem, dict) else 0.0))


def check_option_run(cmd: list[str], code: int, out: str, err: str, raised, meta: dict, baseline) -> tuple | None:
    """``check``, then the --options contract: an illegal value refused (exit 2, ``error: <field>: ...``), a legal
    value whose estimate is the baseline's (``_estimate_key``) named somewhere in the output's assumptions."""
    bad = check(cmd, code, out, err, raised)
    if bad or cmd[0] != "estimate":
        return bad
    if meta["expect"] == "refused":
        return None if code == 2 else ("accepted-illegal", f"{meta['option']}={meta['value']!r} accepted")
    if code != 0 or baseline is None or meta["value"] == meta["default"]:
        return None
    js = json.loads(out)
    text = " ".join(js.get("assumptions", []))  # named, or its value in the stack line ("cuda_graph=local")
    said = meta["option"] in text or f"={meta['value']}" in text
    if not said and _estimate_key(js) == baseline:
        return "unsaid", f"{meta['option']}={meta['value']!r} changes nothing and the output does not say so"
    return None


def _baseline(job: dict, tmp: Path, cache: dict):
    """The estimate key (``_estimate_key``) of ``job`` (an option left out), once per job; None where it is refused."""
    key = json.dumps(job, sort_keys=True)
    if key not in cache:
        path = tmp / f"base-{len(cache)}.yaml"
        path.write_text(yaml.safe_dump(job, sort_keys=False))
        code, out, _, _ = run_main(["estimate", str(path), "--json"])
        cache[key] = _estimate_key(json.loads(out)) if code == 0 else None
    return cache[key]


def _half_written(cmd: list[str], code: int, target: Path) -> tuple[str, str] | None:
    """A report that refused and left files, or that answered and left none (``report --out``)."""
    left = sorted(p.name for p in target.parent.iterdir()) if target.parent.exists() else []
    if code != 0 and left:
        return "half-written", f"exit {code} left {', '.join(left[:3])}"
    if code == 0 and not target.exists():
        return "half-written", "exit 0 and no report written"
    return None


def run_options(args) -> int:
    """``--options``: every stack x option x value (``option_jobs``), ``--limit`` of them (each stack and option at
    least once first), with progress every 25 runs on stderr."""
    jobs = [j for j in option_jobs(args.seed) if args.only in f"{j[0]} {j[1]}"]  # --only: a stack or option=value
    rng = random.Random(args.seed + 1)
    seen, first, rest = set(), [], []
    for j in jobs:
        (rest if (j[0], j[4]["option"]) in seen else first).append(j)
        seen.add((j[0], j[4]["option"]))
    rng.shuffle(rest)
    todo = (first + rest)[:args.limit] if args.limit else first + rest
    tmp = Path(tempfile.mkdtemp(prefix="cli-sweep-options-"))
    kinds, codes, sigs, cache, n, t0 = Counter(), Counter(), defaultdict(list), {}, 0, time.perf_counter()
    for i, (stack, label, job, cmds, meta) in enumerate(todo):
        path = tmp / f"{i}.yaml"
        path.write_text(yaml.safe_dump(job, sort_keys=False))
        baseline = _baseline(meta["base"], tmp, cache) if meta["expect"] == "ok" else None
        for cmd in cmds:
            argv = [cmd[0], str(path), *cmd[1:]]
            target = tmp / f"report-{i}" / "r.md"
            argv += [str(target)] if cmd[0] == "report" else []
            code, out, err, raised = run_main(argv)
            n += 1
            codes[code] += 1
            bad = check_option_run(cmd, code, out, err, raised, meta, baseline) or (
                _half_written(cmd, code, target) if cmd[0] == "report" else None)
            if bad:
                kinds[bad[0]] += 1
                sigs[bad].append(f"planner {' '.join(argv)}  ({stack}, {label})")
            if args.verbose:
                print(f"{i:4d} {cmd[0]:9s} {stack:20s} {label:50s} rc={code} {bad or ''}", flush=True)
        if (i + 1) % 25 == 0:
            print(f"  ... {i + 1}/{len(todo)} jobs, {n} runs, {sum(kinds.values())} failures, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"cli_sweep --options: {len(todo)} of {len(jobs)} jobs, {n} runs in {time.perf_counter() - t0:.0f} s; exit "
          f"codes {dict(sorted(codes.items()))}; failures {sum(kinds.values())}"
          + (f" ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})" if kinds else ""))
    for (kind, detail), where in sorted(sigs.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(where):3d} x {kind}: {detail}\n        e.g. {where[0]}")
    return 1 if kinds else 0


def main() -> int:
    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300, help="jobs to run (0: all)")
    ap.add_argument("--seed", type=int, default=108)
    ap.add_argument("--only", default="", help="only the jobs whose example name holds this text (e.g. focus)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--options", action="store_true", help="every stack x option x value instead (qa56)")
    ap.add_argument("--limit", type=int, default=300, help="--options: jobs to run (0: all)")
    args = ap.parse_args()
    os.environ["PLANNER_DEBUG"] = "1"
    if args.options:
        return run_options(args)
    jobs = draw([j for j in all_jobs(args.seed) if args.only in j[0]], args.runs, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="cli-sweep-"))
    codes, kinds, per_cmd, refusals = Counter(), Counter(), Counter(), Counter()
    sigs: dict[tuple[str, str], list] = defaultdict(list)
    t0, n = time.perf_counter(), 0
    for i, (example, stack, job, cmds) in enumerate(jobs):
        path = tmp / f"{i}.yaml"
        path.write_text(yaml.safe_dump(job, sort_keys=False))
        for cmd in cmds:
            n += 1
            per_cmd[cmd[0]] += 1
            code, out, err, raised = run_main([cmd[0], str(path), *cmd[1:]])
            codes[code] += 1
            bad = check(cmd, code, out, err, raised)
            if code == 2:
                refusals[err.split(": ")[1] if err.count(": ") >= 2 else err.strip()[:40]] += 1
            if args.verbose:
                said = bad or (err.strip()[:160] if code == 2 else "")
                print(f"{i:4d} {cmd[0]:9s} {example:30s} {stack:40s} rc={code} {said}", flush=True)
            if bad:
                kinds[bad[0]] += 1
                sigs[bad].append((example, stack, cmd[0], str(path)))
    took = time.perf_counter() - t0
    print(f"cli_sweep: {len(jobs)} jobs, {n} runs ({', '.join(f'{k} {v}' for k, v in sorted(per_cmd.items()))}) in "
          f"{took:.0f} s; exit codes {dict(sorted(codes.items()))}; failures {sum(kinds.values())}"
          + (f" ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})" if kinds else ""))
    print("  refusals by field: " + ", ".join(f"{k} {v}" for k, v in refusals.most_common(8)))
    for (kind, detail), where in sorted(sigs.items(), key=lambda kv: -len(kv[1])):
        ex, st, cmd, p = where[0]
        print(f"  {len(where):3d} x {kind}: {detail}\n        e.g. planner {cmd} {p}  ({ex}, {st})")
    return 1 if kinds else 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
