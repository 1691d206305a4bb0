"""End-to-end fuzz of the CLI (hypothesis): random job sections, catalog rows, profile fields and
output paths. Every run must end in one of two ways:

* exit 0, and what ``--json`` printed is strict JSON (no NaN/Infinity) — or the file asked for;
* exit 2 and one line on stderr, ``error: <field>: <message>``;

never a traceback, never ``internal error`` (exit 1), no file left behind that the user did not ask
for, and the user's files untouched unless one is the named target. Work is bounded by the
planner's stated limits (README "Limits and bad input"), checked here by the size of what is printed and
by a hang guard far above any run's normal length (an infinite loop, not slowness, trips it); the
subprocess runs at the end also cap the address space.

In-process runs call ``planner.cli.main`` (the console entry point, so usage errors take the same
one-line path as a user's) with stdout/stderr captured; the example counts keep the whole file
around a minute on a loaded 2-vCPU machine. Examples are derandomised (a fixed seed per test), so
a failure reproduces; set ``FUZZ_EXAMPLES`` to run more, ``FUZZ_RANDOM=1`` for fresh examples."""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

hyp = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT, gpu_profile_dict, invoke_main  # noqa: E402
from planner.vocab import RECOMPUTE_MODULES as RECOMPUTE_MODULE_NAMES  # noqa: E402

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))  # fresh random examples instead of the fixed sequence
ERROR_LINE = re.compile(r"^error: \S[^\n]*?: \S")
HANG_S = 120  # an example normally takes well under a second: this only catches a run that never ends
MAX_OUT = 4_000_000  # bytes printed by one run (a campaign once printed 4.7 GB)


def fuzz_settings(n):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=list(HealthCheck))


class Hang(BaseException):  # (not Exception: the CLI's catch-all must not turn it into an "internal error")
    pass


def _alarm(*_):
    raise Hang()


def run_cli(*args, cwd=None):
    """``planner <args>`` in-process through the console entry point (``conftest.invoke_main``), failed past
    ``HANG_S`` seconds: (exit code, stdout, stderr)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        return invoke_main(*args, cwd=cwd)
    except Hang:
        pytest.fail(f"planner {' '.join(map(str, args))} ran past {HANG_S} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_outcome(code, out, err, json_out=True):
    event(f"exit {code}" + (f" ({err.split(':')[1].strip()})" if code == 2 and err.count(":") > 1 else ""))
    assert "Traceback" not in out + err, err[-2000:]
    assert len(out) < MAX_OUT
    if code == 0:
        if json_out:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in --json output"))
        return None
    assert code == 2, (code, err[-1000:])
    line = err.strip()
    assert "\n" not in line and ERROR_LINE.match(line), repr(err[-1000:])
    assert len(line) < 500
    assert "\x1b" not in line and "\x07" not in line
    return line


def refused_on(code, out, err, field, *said) -> str:
    """A CLI run ``run_cli`` returned that must be a bad-input refusal on ``field``: exit 2, no traceback, the one line
    ``error: <field>: <message>`` (``ERROR_LINE``) naming ``field`` and holding each of ``said`` (returned)."""
    line = err.strip()
    assert code == 2 and "Traceback" not in err and "\n" not in line and ERROR_LINE.match(line), (code, err[-1000:])
    assert line.split(": ")[1] == field, line
    for w in said:
        assert w in line, line
    return line


def stray(folder, allowed=()):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name not in allowed and not any(p.is_relative_to(folder / a) for a in allowed))


def job_file(tmp_path_factory, folder: str, job, fmt: str = "yaml"):
    """A drawn job written as ``job.<fmt>`` into a fresh folder of its own (``stray`` checks what else a command
    leaves there): the file's path."""
    p = tmp_path_factory.mktemp(folder) / f"job.{fmt}"
    p.write_text(dump(job, fmt))
    return p


# ---------------------------------------------------------------------------- values and jobs
NASTY_TEXT = st.lists(st.sampled_from(list("ab1 [/]<>&*_`|\\:\"'-.") + ["\x1b", "\x07", "\n", "\t", "\u202e",
                                                                       "é", "\x00", "[bold]", "[/bold]", "\x1b]0;t\x07"]),
                      max_size=8).map("".join)
SCALAR = st.one_of(
    st.integers(-3, 10), st.integers(-(2**64), 2**64), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 8, 1024, 1e9, 1e12, 1e30, -1, 0.5, 1e-300, 1e300]), st.booleans(), st.none(),
    NASTY_TEXT, st.sampled_from(["bf16", "fp8", "aws", "H100", "A100", "shards", "files", "object_store", "1e9", "abc"]),
)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(st.sampled_from(["a", "hours", "gpu"]), SCALAR, max_size=2))

BASE_JOB = {
    "model": {"preset": "gpt2"},
    "training": {"seq_len": 1024, "global_batch": 32, "micro_batch": 4, "tokens": 1e9},
    "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
    "parallel": {"tp": 1, "pp": 1, "dp": 8},
}
SECTIONS = {
    "model": ["preset", "name", "layers", "hidden", "heads", "kv_heads", "vocab", "family", "moe", "params",
              "fwd_flops_per_sample", "hf_config", "max_positions", "position"],
    "training": ["seq_len", "global_batch", "micro_batch", "tokens", "steps", "epochs", "dataset_samples", "precision",
                 "recompute", "optimizer", "weights"],
    "parallel": ["tp", "pp", "dp", "cp", "ep", "vpp", "zero", "schedule", "sequence_parallel"],
    "cluster": ["gpu", "instance", "gpus_per_node", "nodes", "inter_node_gbps", "price_usd_hr"],
    "data": ["storage", "format", "sample_bytes", "dataset_samples", "shard_mb", "decode_ms_per_sample",
             "workers_per_gpu", "prefetch_factor", "vcpus_per_gpu", "cache_fraction", "read_fraction",
             "storage_gbps", "request_latency_ms"],
    "evaluation": ["every_steps", "samples", "holdout_fraction", "full_every"],
    "checkpoint": ["every_steps", "write_gbps", "asynchronous", "mtbf_hours_per_node", "restart_minutes"],
    "constraints": ["budget_usd", "deadline_hours", "max_gpus", "min_gpus", "clouds", "gpus", "instances", "spot",
                    "objective", "regions"],
    "serving": ["qps", "p99_latency_ms", "ttft_ms", "max_batch", "prompt_tokens", "output_tokens", "mode", "precision"],
    "campaign": ["experiments_per_week", "weeks", "preprocess", "cache", "invalidation_rate", "train"],
    "tabular": ["library", "rows", "features", "trees", "depth", "early_stopping"],
}
# plausible values per field, so that many examples get past validation into the models
PLAUSIBLE = {
    "preset": ["gpt2", "llama3-8b", "resnet50", "bert-base"], "name": ["m", "x[/]y", "<b>\x1b[31m</b>"],
    "layers": [2, 12, 80], "hidden": [256, 768, 8192], "heads": [4, 8, 64], "vocab": [1000, 50257],
    "seq_len": [128, 1024, 8192], "global_batch": [8, 32, 64, 256], "micro_batch": [1, 2, 4, 8],
    "tokens": [1e6, 1e9, 1e12], "steps": [10, 1000], "precision": ["bf16", "fp32", "fp8", "fp16"],
    "recompute": ["none", "selective", "full"], "tp": [1, 2, 8], "pp": [1, 2, 4], "dp": [1, 2, 8], "zero": [0, 1, 3],
    "schedule": ["1f1b", "interleaved"], "vpp": [1, 2], "gpu": ["A100-SXM-80GB", "H100", "A100"],
    "instance": ["aws:p4d.24xlarge", "aws:p5.48xlarge"], "gpus_per_node": [1, 8], "nodes": [1, 2, 4, 1024],
    "price_usd_hr": [10.0, 32.77], "storage": ["local_nvme", "object_store", "nfs"], "format": ["files", "shards"],
    "sample_bytes": [1e5, 1e12], "decode_ms_per_sample": [0, 5.0, 1e6], "workers_per_gpu": [0, 1, 8, 1024],
    "prefetch_factor": [1, 2, 1024], "cache_fraction": [0, 0.5, 1], "every_steps": [0, 5, 100, 1 << 40],
    "samples": [0, 1000, 1e15], "mtbf_hours_per_node": [1e-7, 0.01, 1000.0], "restart_minutes": [0, 10],
    "budget_usd": [100.0, 1e6], "deadline_hours": [1.0, 1000.0], "max_gpus": [8, 64], "min_gpus": [1, 16],
    "clouds": [["aws"], ["gcp", "azure"]], "objective": ["cost", "time", "tokens_per_dollar"], "spot": [True, False],
    "qps": [1.0, 100.0], "p99_latency_ms": [50.0, 200.0], "max_batch": [1, 64], "mode": ["realtime", "batch"],
    "experiments_per_week": [1, 10, 10000], "weeks": [1, 520], "invalidation_rate": [0.0, 0.15, 1.0],
    "preprocess": [{"hours": 6, "usd_per_hour": 3.0, "output_gb": 400}], "train": [{"hours": 2, "usd": 50}],
    "rows": [1e4, 2e6], "features": [10, 50], "trees": [100, 500], "depth": [4, 8], "library": ["xgboost", "lightgbm"],
}


def value_for(field):
    good = PLAUSIBLE.get(field)
    return st.integers(0, 3).flatmap(lambda i: VALUE if (i == 0 or not good) else st.sampled_from(good))


@st.composite
def jobs(draw, kind):
    job = copy.deepcopy(BASE_JOB)
    if kind == "search":  # the cluster and layout left open
        job.pop("parallel")
        job["cluster"] = {}
        job["constraints"] = {"clouds": ["aws"], "gpus": ["A100"], "max_gpus": 16}
    elif kind == "serve":
        # a small simulated load (1 QPS of short requests: ~200 simulated requests a search run, not ~1,800 of
        # 512 + 256 tokens at 10 QPS): the same search, simulation and output path at a sixth of the time; the
        # drawn fields (qps, max_batch, prompt_tokens, ...) still replace these. One GPU type (L4: aws's 1- to
        # 8-GPU g6 instances), as the search kind's one: the same sizing path at about a fifth of the CPU of aws's
        # every type (suite48); a drawn constraints.gpus still replaces it
        job = {"model": {"preset": "llama3-8b"},
               "serving": {"qps": 1.0, "p99_latency_ms": 100.0, "prompt_tokens": 128, "output_tokens": 32},
               "constraints": {"clouds": ["aws"], "gpus": ["L4"]}}
    elif kind == "tabular":
        job = {"tabular": {"rows": 2e6, "features": 50, "trees": 500, "depth": 8}, "constraints": {"clouds": ["aws"]}}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        if draw(st.integers(0, 19)) == 0:  # a whole section replaced by nonsense
            job[section] = draw(VALUE)
            continue
        sec = job.setdefault(section, {})
        if not isinstance(sec, dict):
            continue
        field = draw(st.sampled_from(SECTIONS[section] + ["typo_field"]))
        sec[field] = draw(value_for(field))
    if draw(st.integers(0, 15)) == 0:
        job.pop("model", None)
    return job


def dump(job, fmt):
    return json.dumps(job) if fmt == "json" else yaml.safe_dump(job, allow_unicode=False)


COMMANDS = {
    "estimate": ("estimate", "{job}", "--json"),
    "recommend": ("recommend", "{job}", "--json", "--no-simulate", "--top", "3"),
    "simulate": ("simulate", "{job}", "--json", "--steps", "12", "--no-answers"),
    "simulate+answers": ("simulate", "{job}", "--json", "--steps", "12"),
    "serve": ("serve", "{job}", "--json", "--top", "2"),
}
KINDS = {"fixed": ["estimate", "simulate", "simulate", "simulate+answers", "recommend"], "search": ["recommend"],
         "serve": ["serve"], "tabular": ["recommend", "estimate"]}
CASES = st.sampled_from(["fixed", "fixed", "fixed", "search", "search", "serve", "tabular"]).flatmap(
    lambda k: st.tuples(jobs(k), st.sampled_from(KINDS[k])))


@fuzz_settings(150)
@given(case=CASES, fmt=st.sampled_from(["yaml", "json"]))
def test_fuzz_job_sections(tmp_path_factory, case, fmt):
    job, cmd = case
    p = job_file(tmp_path_factory, "job", job, fmt)
    code, out, err = run_cli(*(a.format(job=p) for a in COMMANDS[cmd]))
    check_outcome(code, out, err)
    assert stray(p.parent, {p.name}) == []


# ---------------------------------------------------------------------------- training stacks and their options
# (its own strategy, not more fields in ``jobs``: that test's derandomised sequence is left as it was; drawn
# differently it reaches a ``planner serve`` job, max_batch 1 at 10 QPS, that simulated for ~3 minutes before decode
# spans; ~11 CPU s now, each run's work bounded and the bound stated: tests/test_serving_bounds.py)
# The job fields a training stack reads (training.framework's options, Megatron-Core's recompute_modules,
# packing, LoRA targets in Megatron's names, ZeRO-2/3 with and without Megatron-FSDP) and the GPUs by name
# and alias, drawn mostly from their real values so that most examples reach the models. A run that
# succeeds must also give sane numbers: a finite, positive step time, MFU and HFU in (0, 1], memory parts
# and step parts finite and not negative.
TINY_DENSE = {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000}
TINY_MOE = dict(TINY_DENSE, name="tiny-moe", moe={"experts": 8, "top_k": 2})
STACK_NAMES = ["megatron-core", "megatron-core", "nemo", "megatron-bridge", "megatron-lm", "megatron-deepspeed",
               "torchtitan", "deepspeed", "hf-trainer", "llm-foundry", "metaseq", "auto"]
STACK_GPUS = ["H800", "A800", "B300", "GB300", "H800-SXM-80GB", "A800-SXM-80GB", "B300-SXM-288GB", "GB300-B300",
              "h800-80gb", "A800-SXM4-80GB", "Blackwell-Ultra", "GB300-NVL72", "b300", "H100"]


def _mostly(good, bad):
    """A value from ``good`` three times in four, else from ``bad`` (nonsense the schema must refuse)."""
    return st.integers(0, 3).flatmap(lambda i: st.sampled_from(bad) if i == 0 else st.sampled_from(good))


STACK_OPTIONS = {
    "megatron_fsdp": _mostly([True, False], ["yes", 2]),
    "recompute_early_stop": _mostly([True, False], ["on"]),
    "moe_dispatcher": _mostly(["alltoall", "deepep", "hybridep"], ["flex", 3, None]),
    "moe_a2a_overlap": _mostly([True, False], ["sometimes"]),
    "fp8_recipe": _mostly(["tensorwise", "delayed", "rowwise", "mxfp8", "nvfp4"], ["fp4", "mxfp4"]),
    "mixed_precision": _mostly(["amp", "bf16"], ["fp16", 1]),
    "reshard_after_forward": _mostly([True, False], ["no"]),
}
MEAN_TOKENS = _mostly([1, 100, 1000, 2048, 2049, 1 << 24, 1.5], [0, -1, 0.5, 1e30, "NaN", "nan", "inf", "-inf", True])
LORA_TARGETS = st.one_of(
    st.sampled_from(["qkvo", "all-linear"]),
    st.lists(_mostly(["linear_qkv", "attention_qkv", "linear_proj", "linear_fc1", "linear_fc2", "q_proj", "v_proj",
                      "down_proj", "attention_dense", "mlp_fc1"], ["nope", "", 7]), max_size=4))


@st.composite
def stack_jobs(draw):
    moe = draw(st.booleans())
    fw = {"name": draw(st.sampled_from(STACK_NAMES))}
    for k in draw(st.lists(st.sampled_from(sorted(STACK_OPTIONS)), max_size=3, unique=True)):
        fw[k] = draw(STACK_OPTIONS[k])
    t = {"seq_len": 2048, "global_batch": 64, "tokens": 1e9, "framework": fw if fw.keys() != {"name"} or draw(
        st.booleans()) else fw["name"]}
    if draw(st.booleans()):
        t["precision"] = draw(st.sampled_from(["bf16", "bf16", "fp8", "fp4", "fp16", "fp32"]))
    if draw(st.integers(0, 2)):
        t["recompute"] = draw(st.sampled_from(["none", "selective", "selective", "full"]))
    if draw(st.integers(0, 2)) == 0:  # Megatron-Core's list: with recompute selective, mostly
        t["recompute"] = draw(_mostly(["selective"], ["full", "none"]))
        t["recompute_modules"] = draw(st.one_of(
            st.lists(_mostly(list(RECOMPUTE_MODULE_NAMES), ["attn", 1]), max_size=3), st.sampled_from(["core_attn", 5])))
    if draw(st.booleans()):
        t["packing"] = draw(_mostly(["packed", "padded"], ["pack", None]))
    if draw(st.booleans()):
        t["mean_example_tokens"] = draw(MEAN_TOKENS)
    if draw(st.integers(0, 2)) == 0:
        t["mode"] = draw(st.sampled_from(["lora", "lora", "qlora", "full_finetune"]))
        if draw(st.booleans()):
            t["lora"] = {"targets": draw(LORA_TARGETS), "rank": 8}
    job = {"model": dict(TINY_MOE if moe else TINY_DENSE), "training": t,
           "cluster": {"gpu": draw(st.sampled_from(STACK_GPUS)), "gpus_per_node": 8, "nodes": 1}}
    if draw(st.integers(0, 2)):  # a fixed layout; else left to the search (estimate fills in defaults)
        tp, pp = draw(st.sampled_from([(1, 1), (2, 1), (1, 2), (2, 2)]))
        p = {"tp": tp, "pp": pp, "dp": 8 // (tp * pp)}
        if moe and draw(st.booleans()):
            p["ep"] = draw(st.sampled_from([2, 4, 8]))
        job["parallel"] = p
    if draw(st.booleans()):
        job.setdefault("parallel", {})["zero"] = draw(st.sampled_from([0, 1, 2, 3, 3]))
    return job


def assert_sane(plan):
    """A plan's numbers are physical: a finite positive step and throughput, MFU/HFU in (0, 1],
    finite non-negative step and memory parts (the memory margin may be negative: a plan that
    does not fit)."""
    assert math.isfinite(plan["step_time_s"]) and plan["step_time_s"] > 0, plan["step_time_s"]
    assert math.isfinite(plan["tokens_per_s"]) and plan["tokens_per_s"] > 0, plan["tokens_per_s"]
    for k in ("mfu", "hfu"):
        assert 0 < plan[k] <= 1, (k, plan[k])
    for k, v in plan["breakdown_s"].items():
        assert math.isfinite(v) and v >= 0, (k, v)
    for k, v in plan["memory_per_gpu_bytes"].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "margin":
            assert math.isfinite(v) and v >= 0, (k, v)


def estimate_holds(job, keep=(), cwd=None) -> None:
    """``planner estimate job --json`` ends as ``check_outcome`` requires, a plan it gives is sane, and nothing but the
    job and ``keep`` is left in its folder."""
    code, out, err = run_cli("estimate", job, "--json", cwd=cwd)
    check_outcome(code, out, err)
    if code == 0:
        assert_sane(json.loads(out))
    assert stray(job.parent, {job.name, *keep}) == []


def answer_plans(res: dict) -> list:
    """The plans of a ``--json`` answer: ``estimate``'s one plan, ``recommend``'s best and ranked ones."""
    return [res["best"], *res["ranked"]] if "ranked" in res else [res]


STACK_COMMANDS = {"estimate --json": ("estimate", "{job}", "--json"), "estimate": ("estimate", "{job}"),
                  "recommend": ("recommend", "{job}", "--json", "--no-simulate", "--top", "3")}


@fuzz_settings(200)
@given(job=stack_jobs(), cmd=st.sampled_from(sorted(STACK_COMMANDS)))
def test_fuzz_training_stack_options(tmp_path_factory, job, cmd):
    p = job_file(tmp_path_factory, "stack", job)
    code, out, err = run_cli(*(a.format(job=p) for a in STACK_COMMANDS[cmd]))
    check_outcome(code, out, err, json_out=cmd != "estimate")
    if code == 0 and cmd != "estimate":
        for plan in answer_plans(json.loads(out)):
            assert_sane(plan)
    assert stray(p.parent, {p.name}) == []


# ---------------------------------------------------------------------------- catalog rows
INSTANCE_COLUMNS = ["cloud", "name", "gpu", "gpu_count", "vcpus", "ram_gib", "network_gbps", "price_ondemand_usd_hr",
                    "price_spot_usd_hr", "region", "fabric", "cluster"]
GPU_COLUMNS = ["name", "memory_gib", "hbm_bw_tbps", "bf16_tflops", "fp32_tflops", "intra_node_gbps_per_dir", "vendor",
               "aliases"]


def _csv_rows(name):
    with open(ROOT / "hardware_catalog" / "data" / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@fuzz_settings(60)
@given(which=st.sampled_from(["instances", "gpus"]), fmt=st.sampled_from(["csv", "yaml"]),
       edits=st.lists(st.tuples(st.integers(0, 11), st.one_of(st.sampled_from([1, 8, 2.5, 100, "", "aws", "A100-SXM-80GB",
                                                                                  "[/]x", "p9.fake"]), SCALAR)),
                      min_size=1, max_size=2),
       dup=st.sampled_from([False, False, True]), enc=st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]),
       cmd=st.sampled_from(["estimate", "catalog"]))
def test_fuzz_catalog_rows(tmp_path_factory, which, fmt, edits, dup, enc, cmd):
    d = tmp_path_factory.mktemp("cat")
    rows = _csv_rows(f"{which}.csv")
    row = dict(next(r for r in rows if (r.get("gpu") or r["name"]).startswith("A100")))
    cols = INSTANCE_COLUMNS if which == "instances" else GPU_COLUMNS
    for i, v in edits:
        row[cols[i % len(cols)]] = v
    out_rows = [row, dict(row)] if dup else [row]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
        w.writeheader()
        for r in out_rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        data = buf.getvalue()
        cat = d / f"{which}.csv"
    else:
        data = yaml.safe_dump({which: out_rows}, allow_unicode=True)
        cat = d / "cat.yaml"
    try:
        cat.write_bytes(data.encode(enc))
    except UnicodeEncodeError:
        cat.write_bytes(data.encode("utf-8"))
    job = d / "job.yaml"
    job.write_text(dump(BASE_JOB, "yaml"))
    if cmd == "estimate":
        code, out, err = run_cli("estimate", job, "--json", "--catalog", cat)
        check_outcome(code, out, err)
    else:
        code, out, err = run_cli("catalog", which, "--catalog", cat, "--csv")
        check_outcome(code, out, err, json_out=False)
        if code == 0:
            assert list(csv.reader(io.StringIO(out)))
    assert stray(d, {cat.name, job.name}) == []


# ---------------------------------------------------------------------------- profile fields
PROFILE = json.loads((ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_text())
FITTED = sorted(PROFILE["fitted"]) + ["by_dtype.bf16.gemm_max", "by_dtype.fp64", "by_dtype.bf16.attn_fwd", "typo"]


PROFILE_PLAUSIBLE = st.one_of(st.floats(0.01, 1.0), st.floats(1e-7, 1e-3), st.floats(1e8, 1e12), st.sampled_from([1.2, 2, 0]))


def profile_value(field):
    leaf = field.split(".")[-1]
    if leaf in ("gemm_max", "hbm", "attn_fwd", "attn_bwd"):
        good = st.floats(0.05, 1.0)
    elif leaf.endswith("_s") or leaf == "decode_s_per_sample":
        good = st.floats(1e-7, 1e-2)
    elif leaf.endswith("_bw") or leaf.endswith("busbw") or leaf == "gbdt_rows_per_s":
        good = st.floats(1e8, 1e12)
    else:
        good = PROFILE_PLAUSIBLE
    return st.integers(0, 3).flatmap(lambda i: VALUE if i == 0 else good)


PROFILE_EDIT = st.sampled_from(FITTED).flatmap(lambda f: st.tuples(st.just(f), profile_value(f)))


@fuzz_settings(80)
@given(edits=st.lists(PROFILE_EDIT, min_size=1, max_size=3),
       device=st.one_of(st.none(), NASTY_TEXT),
       gpu=st.integers(0, 11).map(lambda i: [None, "H100", "nope", "[/]"][i] if i < 4 else "A100-SXM-80GB"),
       version=st.integers(0, 11).map(lambda i: [0, "1", None][i] if i < 3 else 1))
def test_fuzz_profile_fields(tmp_path_factory, edits, device, gpu, version):
    d = tmp_path_factory.mktemp("prof")
    # a catalog GPU's label on a profile measured on that GPU (the CPU example's own fingerprint is refused under one)
    prof = copy.deepcopy(PROFILE) if gpu is None else gpu_profile_dict()
    prof["schema_version"] = version
    prof["fingerprint"]["catalog_gpu"] = gpu
    if device is not None:  # after the GPU's own name, so a profile measured on the A100 keeps being one
        prof["fingerprint"]["device_name"] = (prof["fingerprint"]["device_name"] + " " + device) if gpu else device
    for path, v in edits:
        node, *rest = path.split(".")
        if not rest:
            prof["fitted"][node] = v
            continue
        cur = prof["fitted"].setdefault(node, {})
        if not isinstance(cur, dict):
            continue
        for k in rest[:-1]:
            cur = cur.setdefault(k, {}) if isinstance(cur.get(k, {}), dict) else {}
        cur[rest[-1]] = v
    p = d / "profile.json"
    p.write_text(json.dumps(prof))  # NaN/Infinity written as JSON's non-standard tokens: refused on read
    job = d / "job.yaml"
    job.write_text(dump(BASE_JOB, "yaml"))
    code, out, err = run_cli("estimate", job, "--json", "--profile", p)
    check_outcome(code, out, err)
    assert stray(d, {p.name, job.name}) == []


# ---------------------------------------------------------------------------- output paths
SEARCH_JOB = {"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
              "constraints": {"clouds": ["aws"], "gpus": ["A100"], "max_gpus": 8}}
TARGETS = st.sampled_from(["out.csv", "sub/out.csv", "existing.csv", "adir", "", "/dev/null", "link.csv", "dangling.csv",
                           "out.json", "t.txt", "fifo", ".", "adir/", "x" * 300 + ".csv", "existing.csv/x.csv"])


@fuzz_settings(40)
@given(flag=st.sampled_from(["--csv", "--timeline", "-o"]), target=TARGETS, good_job=st.booleans())
def test_fuzz_output_paths(tmp_path_factory, flag, target, good_job):
    d = tmp_path_factory.mktemp("out")
    (d / "existing.csv").write_text("user data\n")
    (d / "adir").mkdir()
    (d / "adir" / "keep.txt").write_text("keep")
    os.symlink(d / "existing.csv", d / "link.csv")
    os.symlink(d / "missing" / "x.csv", d / "dangling.csv")
    os.mkfifo(d / "fifo")
    job = d / "job.yaml"
    job.write_text(dump(SEARCH_JOB if flag != "--timeline" else BASE_JOB, "yaml"))
    if not good_job:
        job.write_text(job.read_text().replace("gpt2", "gpt-nope"))
    if flag == "-o":  # the report (slow with charts): its own suffixes
        target = target.replace(".csv", ".md").replace(".json", ".html")
    elif flag == "--timeline":
        target = target.replace(".csv", ".json") if target.endswith("link.csv") is False and "out" in target else target
    before = {p: p.read_bytes() for p in (d / "existing.csv", d / "adir" / "keep.txt")}
    path = target if target.startswith("/") or target == "" else str(d / target)
    cmd = {"--csv": ("recommend", job, "--no-simulate", "--csv", path),
           "--timeline": ("simulate", job, "--steps", "5", "--no-answers", "--timeline", path),
           "-o": ("report", job, "--no-simulate", "-o", path)}[flag]
    code, out, err = run_cli(*cmd, cwd=d)
    check_outcome(code, out, err, json_out=False)
    written = set()
    if code == 0 and path not in ("", "/dev/null"):
        t = os.path.realpath(path)
        written = {t} | ({os.path.splitext(t)[0] + "_files"} if flag == "-o" else set())
    for p, data in before.items():
        if str(p) not in written:
            assert p.read_bytes() == data, p  # the user's files are untouched unless named
    assert (d / "adir" / "keep.txt").read_text() == "keep"
    leftovers = [x for x in d.rglob("*") if ".tmp" in x.name]
    assert leftovers == []
    if code != 0:
        expect = {"existing.csv", "adir", "adir/keep.txt", "link.csv", "dangling.csv", "fifo", "job.yaml"}
        assert set(stray(d)) == expect  # a failure leaves nothing behind


# ---------------------------------------------------------------------------- true subprocesses
SUBPROCESS_CASES = [
    ("model: {preset: '[/]'}\n", "estimate", ()),
    ("model: {preset: gpt2, name: \"\\e]0;pwned\\a\"}\ntraining: {global_batch: true}\n", "estimate", ()),
    ("model: {hf_config: nope.json}\n", "estimate", ()),
    ("tabular: {rows: 1000, features: 4}\n", "simulate", ()),
    (None, "estimate", ()),  # a binary file as the job
    # an integer int() will not read (over 4,300 digits since CPython 3.11): "internal error (ValueError)" until QA 64
    ("model: {preset: gpt2}\ntraining: {global_batch: " + "7" * 4301 + "}\n", "estimate", ()),
]


@pytest.mark.parametrize("text,cmd,extra", SUBPROCESS_CASES)
def test_subprocess_errors_are_one_line_without_traceback(tmp_path, text, cmd, extra):
    job = tmp_path / "job.yaml"
    if text is None:
        job.write_bytes(b"\x00\xff\xfe" * 200)
    else:
        job.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="150")
    env.pop("PLANNER_DEBUG", None)
    pre = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
           "import sys; from planner.cli import main; sys.argv[0] = 'planner'; main()")
    r = subprocess.run([sys.executable, "-c", pre, cmd, str(job), *extra], capture_output=True, text=True,
                       timeout=HANG_S, cwd=tmp_path, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stdout + r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and ERROR_LINE.match(line), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]


# ---------------------------------------------------------------------------- option values
OPTION_VALUE = st.one_of(NASTY_TEXT, st.sampled_from(["torchrun", "slurm", "skypilot", "k8s", "torchrun:fsdp",
                                                      "k8s:megatron", "slurm:nope", "aws", "gcp", "cost", "time",
                                                      "0", "-1", "3", "1e9", "99999999999", ""]))


@fuzz_settings(40)
@given(which=st.sampled_from(["--emit", "--cloud", "--objective", "--top", "--steps", "--seed"]), value=OPTION_VALUE)
def test_fuzz_option_values(tmp_path_factory, which, value):
    d = tmp_path_factory.mktemp("opt")
    job = d / "job.yaml"
    job.write_text(dump(SEARCH_JOB if which in ("--emit", "--objective", "--top") else BASE_JOB, "yaml"))
    cmd = {"--emit": ("recommend", job, "--no-simulate", "--emit", value),
           "--cloud": ("catalog", "instances", "--cloud", value, "--csv"),
           "--objective": ("recommend", job, "--no-simulate", "--json", "--objective", value),
           "--top": ("recommend", job, "--no-simulate", "--json", "--top", value),
           "--steps": ("simulate", job, "--json", "--no-answers", "--steps", value),
           "--seed": ("simulate", job, "--json", "--no-answers", "--steps", "5", "--seed", value)}[which]
    code, out, err = run_cli(*cmd)
    check_outcome(code, out, err, json_out=which not in ("--emit", "--cloud"))
    if code == 0 and which == "--emit":
        assert "\x1b" not in out and "\x07" not in out
    assert stray(d, {job.name}) == []
