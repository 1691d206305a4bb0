"""Robustness and consistency sweep: every shipped model preset on every catalog GPU through ``estimate``,
a small ``recommend`` search per preset under ordinary constraints, and every job file in examples/ through
the CLI, with invariants checked on every result (in-process: library calls and typer's runner, no
subprocesses).

    PYTHONPATH=$PWD python benchmarks/sweep_consistency.py [--quick] [--verbose]

Checked on every plan (``check_plan``): no exception other than a one-line ``InputError`` (a refusal); every
number finite; 0 < MFU <= 1 and 0 < HFU <= 1, and HFU / MFU = hw_flops_per_step / flops_per_step; MFU
recomputed from the printed peak (model FLOPs / step time / GPUs / peak); ``fits`` exactly when the memory
total is within the limit, and the limit within the GPU's capacity; the memory parts add up to the total and
the breakdown's causes to the step time; tokens/s x step time = tokens per step, per-GPU rate x GPUs = the
rate; steps x step time = the hours (no evaluation section here), days = hours / 24, GPU-hours = hours x
GPUs; cost = hours x nodes x the node price (within 1e-9); $/1M tokens = cost / tokens; the layout's degrees
multiply to the GPUs and micro-batches x micro-batch x DP = the global batch; the JSON validates against the
typed results (``validate_json``: every non-optional field present, non-null and of its annotated type).

On every ``recommend`` answer (``check_recommendation``): the winner is ranked[0] and satisfies every
constraint of the job (max GPUs, deadline, budget, GPU list, fixed tp/pp, precision, framework); each ranked
plan agrees with its row of the feasible table (hardware, layout, step time, MFU, memory, hours, cost: the
misaligned-rows defect class); the table is sorted by the objective and every row fits and is within the
constraints; every table row's tokens/s x step time = tokens per step and cost = hours x nodes x price; and
the top plans re-planned by ``estimate`` with every searched field fixed give the same step time, memory and
cost.

The GPU subset for ``recommend`` (every preset on each): ``RECOMMEND_GPUS``. Prints a summary table; exit 1
when an invariant broke.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
import traceback
import typing
from collections import Counter, defaultdict
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hardware_catalog import load_catalog  # noqa: E402
from planner.errors import InputError  # noqa: E402
from planner.results import Cost, Hardware, Layout, Memory, Plan, StepBreakdown, jsonable  # noqa: E402
from planner.spec import load_job_dict  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.model.physics import datasheet_peak  # noqa: E402
from planner.workloads.training import estimate_job, recommend  # noqa: E402

CAT = load_catalog()

REL = 1e-9  # relative tolerance of "the same number computed two ways"
TEXT = True  # also render every result as the terminal does (--no-text: skip)
NODES = 4  # nodes of the estimate grid's clusters
NODE_PRICE = 20.0  # $/node-hour given to bare-GPU clusters, so every estimate has a cost to check
#: the GPUs each preset is searched on by recommend (one per vendor generation; the estimate grid takes all)
RECOMMEND_GPUS = ("H100-SXM-80GB", "A100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "MI300X-192GB", "L40S-48GB")


class Sweep:
    def __init__(self, verbose: bool = False):
        self.checked = Counter()  # configurations by kind
        self.refused = Counter()  # InputError refusals by kind
        self.refusal_msgs = Counter()
        self.broken = defaultdict(list)  # invariant -> [where: detail]
        self.invariants = Counter()  # invariant -> times checked
        self.verbose = verbose

    def ok(self, name: str, cond: bool, where: str, detail: str = "") -> bool:
        self.invariants[name] += 1
        if not cond:
            self.broken[name].append(f"{where}: {detail}")
            if self.verbose:
                print(f"BROKEN {name}: {where}: {detail}", file=sys.stderr)
        return cond

    def crash(self, kind: str, where: str, e: BaseException) -> None:
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        self.ok("no exception", False, where, f"{type(e).__name__}: {e} | {tb[-2].strip() if len(tb) > 1 else ''}")

    def attempt(self, kind: str, where: str, run, prefix: str = "", say: bool = False):
        """``run()``'s result, or None: a one-line refusal (InputError) is counted under ``kind`` with its message,
        numbers as N so alike ones group (``prefix`` before it; ``say``: printed too when verbose), and any other
        exception is recorded as a broken "no exception" invariant."""
        self.checked[kind] += 1
        try:
            return run()
        except InputError as e:
            if say and self.verbose:
                print(f"REFUSED {where}: {e.field}: {e.message}", file=sys.stderr)
            self.refused[kind] += 1
            self.refusal_msgs[re.sub(r"\d[\d.,]*", "N", f"{prefix}{e.field}: {e.message}")[:110]] += 1
        except Exception as e:  # noqa: BLE001
            self.crash(kind, where, e)
        return None


def close(a, b, rel=REL, abs_=1e-12) -> bool:
    return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)


def same(a, b, rel=REL) -> bool:
    """``close``, with "no number" (None or NaN: no price) equal only to itself."""
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    return na and nb or (not na and not nb and close(a, b, rel))


def _finite_walk(x, path=""):
    """Paths of non-finite floats in a result (before jsonable turns them into null)."""
    if is_dataclass(x) and not isinstance(x, type):
        for f in fields(x):
            if f.name in ("table",):
                continue
            yield from _finite_walk(getattr(x, f.name), f"{path}.{f.name}")
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _finite_walk(v, f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _finite_walk(v, f"{path}[{i}]")
    elif isinstance(x, float) and not math.isfinite(x):
        yield path
    elif hasattr(x, "dtype") and getattr(x, "shape", None) == () and not math.isfinite(float(x)):
        yield path


def _strict_json(x) -> bool:
    try:
        json.dumps(jsonable(x), allow_nan=False)
        return True
    except ValueError:
        return False


def validate_json(obj: dict, cls, path: str = "") -> list[str]:
    """Problems of a JSON object against a typed result class: a non-optional field missing or null, a
    number where the annotation says str, a non-number where it says float/int, nested records checked."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        if f.name in getattr(cls, "_not_json", ()):
            continue
        t = hints[f.name]
        where = f"{path}.{f.name}"
        if f.name not in obj:  # a key is left out where it does not apply (README): only fields with a default
            if f.default is MISSING and f.default_factory is MISSING:
                out.append(f"{where} missing")
            continue
        v = obj[f.name]
        args = typing.get_args(t)
        optional = type(None) in args
        base = [a for a in args if a is not type(None)] if args and typing.get_origin(t) in (typing.Union, getattr(__import__("types"), "UnionType", None)) else [t]
        if v is None:
            if not optional:
                out.append(f"{where} is null (type {t})")
            continue
        b = base[0] if len(base) == 1 else None
        if b is float and not isinstance(v, (int, float)) or b is float and isinstance(v, bool):
            out.append(f"{where} = {v!r} is not a number")
        elif b is int and (not isinstance(v, int) or isinstance(v, bool)):
            out.append(f"{where} = {v!r} is not an int")
        elif b is str and not isinstance(v, str):
            out.append(f"{where} = {v!r} is not a string")
        elif b is bool and not isinstance(v, bool):
            out.append(f"{where} = {v!r} is not a bool")
        elif isinstance(b, type) and is_dataclass(b):
            if not isinstance(v, dict):
                out.append(f"{where} is not an object")
            else:
                out += validate_json(v, b, where)
    return out


BAD_TEXT = re.compile(r"(?<![\w.-])(nan|NaN|inf|Infinity(?!\s+Fabric)|-inf)(?![\w-])")  # AMD's Infinity Fabric is a link


def check_text(s: Sweep, workload: str, result, where: str) -> None:
    """The terminal rendering of a result: no exception, no "nan"/"inf" printed."""
    import io

    from planner.present.safe import SafeConsole
    from planner.present.terminal import render
    from planner.workloads import Planned

    buf = io.StringIO()
    try:
        render(SafeConsole(file=buf, width=150, soft_wrap=False), Planned(workload, result), 10)
    except Exception as e:  # noqa: BLE001
        s.crash("render", where + " (text)", e)
        return
    m = BAD_TEXT.search(buf.getvalue())
    s.ok("text output prints no nan/inf", m is None, where,
         buf.getvalue()[max(0, m.start() - 150):m.end() + 50].replace("\n", " | ") if m else "")


PEAK = re.compile(r"([\d,.]+) TFLOP/s per (?:GPU|chip|device|accelerator)")


def check_plan(s: Sweep, p: Plan, where: str, gb: int, seq: int | None, precision: str,
               node_price: float | None = None, spot: bool = False) -> None:
    """The invariants of one plan (see the module docstring)."""
    bad = list(_finite_walk(p))
    s.ok("finite numbers", not bad, where, ", ".join(bad[:5]))
    try:
        js = json.loads(json.dumps(jsonable(p), allow_nan=False))
        probs = validate_json(js, Plan)
        s.ok("JSON validates against typed Plan", not probs, where, "; ".join(probs[:5]))
    except Exception as e:  # noqa: BLE001
        s.ok("JSON validates against typed Plan", False, where, f"{type(e).__name__}: {e}")
    g = p.hardware.gpus
    s.ok("gpus = nodes x gpus_per_node", g == p.hardware.nodes * p.hardware.gpus_per_node, where,
         f"{g} vs {p.hardware.nodes}x{p.hardware.gpus_per_node}")
    c = p.config
    s.ok("tp*pp*dp*cp = gpus", c.tp * c.pp * c.dp * c.cp == g, where, f"{c.tp}*{c.pp}*{c.dp}*{c.cp} vs {g}")
    s.ok("microbatches*mb*dp = global batch", close(c.num_microbatches * c.micro_batch * c.dp, gb), where,
         f"{c.num_microbatches}*{c.micro_batch}*{c.dp} vs {gb}")
    s.ok("0 < MFU <= 1", 0 < p.mfu <= 1, where, f"mfu={p.mfu}")
    s.ok("0 < HFU <= 1", 0 < p.hfu <= 1, where, f"hfu={p.hfu}")
    s.ok("HFU/MFU = hw_flops/flops", close(p.hfu * p.flops_per_step, p.mfu * p.hw_flops_per_step, 1e-9), where,
         f"hfu={p.hfu} mfu={p.mfu} hw={p.hw_flops_per_step} model={p.flops_per_step}")
    if p.mfu > p.hfu:  # documented (causal kernels skip masked blocks); counted, not a defect
        s.invariants["(info) MFU > HFU: causal attention counted half in HFU"] += 1
    peak = datasheet_peak(CAT.gpu(p.hardware.gpu), {"fp4": "fp8"}.get(precision, precision))  # fp4: the fp8 path (README)
    s.ok("MFU = flops / (step x gpus x datasheet peak at the precision)",
         close(p.mfu, p.flops_per_step / (p.step_time_s * g * peak), 1e-9), where,
         f"mfu={p.mfu} recomputed={p.flops_per_step / (p.step_time_s * g * peak)}")
    m = PEAK.search((p.inputs or {}).get("peaks", ""))
    if p.inputs is not None and p.throughput_unit == "tokens" and s.ok(
            "inputs.peaks prints the peak MFU uses", m is not None, where, (p.inputs or {}).get("peaks", "")):
        s.ok("printed peak = the peak MFU uses", close(float(m.group(1).replace(",", "")) * 1e12, peak, 1e-3), where,
             f"{m.group(1)} vs {peak / 1e12}")
    mem = p.memory_per_gpu_bytes
    s.ok("memory parts sum to total",
         close(mem.weights + mem.grads + mem.optimizer + mem.activations + mem.logits + mem.other, mem.total, 1e-9),
         where, f"{mem}")
    lim = mem.limit if mem.limit is not None else mem.capacity
    s.ok("limit <= capacity", lim <= mem.capacity, where, f"limit={lim} capacity={mem.capacity}")
    s.ok("fits <=> total <= limit", p.fits == (mem.total <= lim * (1 + 1e-12)), where,
         f"fits={p.fits} total={mem.total / 2**30:.3f} GiB limit={lim / 2**30:.3f} GiB")
    if p.fits:
        s.ok("fits => memory <= GPU capacity", mem.total <= mem.capacity, where, f"{mem.total} > {mem.capacity}")
    s.ok("margin = capacity - total", mem.margin is None or close(mem.margin, mem.capacity - mem.total, 1e-9), where,
         f"margin={mem.margin}")
    b = p.breakdown_s
    causes = ("compute_gemm", "compute_attention", "compute_memory_bound", "comm_tp", "comm_cp", "comm_ep", "comm_pp",
              "comm_zero3", "comm_dp", "bubble", "optimizer", "data_stall", "offload")
    s.ok("breakdown parts >= 0", all(b[k] >= 0 for k in causes), where, str({k: b[k] for k in causes if b[k] < 0}))
    s.ok("breakdown causes sum to step time", close(sum(b[k] for k in causes), p.step_time_s, 1e-6), where,
         f"sum={sum(b[k] for k in causes)} step={p.step_time_s}")
    s.ok("compute = sum of compute_*", close(b.compute, b.compute_gemm + b.compute_attention + b.compute_memory_bound, 1e-9),
         where, f"{b.compute}")
    s.ok("step time > 0", p.step_time_s > 0, where, f"{p.step_time_s}")
    per_step = gb * (seq if p.throughput_unit == "tokens" else 1)
    s.ok("tokens/s x step time = tokens per step", close(p.tokens_per_s * p.step_time_s, per_step, 1e-9), where,
         f"{p.tokens_per_s} x {p.step_time_s} = {p.tokens_per_s * p.step_time_s} vs {per_step}")
    s.ok("per-GPU rate x GPUs = rate", close(p.tokens_per_s_per_gpu * g, p.tokens_per_s, 1e-9), where,
         f"{p.tokens_per_s_per_gpu} x {g} vs {p.tokens_per_s}")
    co = p.cost
    s.ok("steps, hours > 0", co.steps > 0 and co.hours > 0, where, f"steps={co.steps} hours={co.hours}")
    if co.evaluation is None:
        s.ok("hours x 3600 = steps x step time", close(co.hours * 3600, co.steps * p.step_time_s, 1e-9), where,
             f"{co.hours * 3600} vs {co.steps} x {p.step_time_s}")
    else:
        ev = co.evaluation
        s.ok("eval: hours x 3600 = steps x step time + eval seconds",
             close(co.hours * 3600, co.steps * p.step_time_s + ev["seconds"], 1e-9), where,
             f"{co.hours * 3600} vs {co.steps} x {p.step_time_s} + {ev['seconds']}")
        s.ok("eval: seconds = passes x mean_s = hours x 3600", close(ev["seconds"], ev["passes"] * ev["mean_s"], 1e-9)
             and close(ev["hours"] * 3600, ev["seconds"], 1e-9), where, str(ev))
        s.ok("eval: share = eval seconds / time to train", close(ev["share"], ev["seconds"] / (co.hours * 3600), 1e-9),
             where, str(ev))
    cf = co.checkpoint_failures
    if cf:
        s.ok("checkpoints: 0 < goodput = hours / expected hours <= 1",
             0 < cf["goodput"] <= 1 and close(cf["goodput"], co.hours / cf["expected_hours"], 1e-9), where, str(cf))
        if p.hardware.price_ondemand_usd_hr is not None and cf.get("expected_cost_ondemand_usd") is not None:
            s.ok("checkpoints: expected cost = expected hours x nodes x price",
                 close(cf["expected_cost_ondemand_usd"], cf["expected_hours"] * p.hardware.nodes * p.hardware.price_ondemand_usd_hr,
                       1e-9), where, str(cf))
    s.ok("days = hours / 24", close(co.days * 24, co.hours, 1e-9), where, f"{co.days} vs {co.hours}")
    s.ok("gpu_hours = hours x gpus", close(co.gpu_hours, co.hours * g, 1e-9), where, f"{co.gpu_hours} vs {co.hours} x {g}")
    if co.tokens is not None and p.throughput_unit == "tokens":
        s.ok("tokens = steps x tokens per step", close(co.tokens, co.steps * per_step, 1e-9), where,
             f"{co.tokens} vs {co.steps} x {per_step}")
    price = p.hardware.price_ondemand_usd_hr
    if node_price is not None:
        s.ok("hardware price = the job's node price", close(price, node_price), where, f"{price} vs {node_price}")
    if price is not None:
        s.ok("cost = hours x nodes x price", close(co.cost_ondemand_usd, co.hours * p.hardware.nodes * price, 1e-9), where,
             f"{co.cost_ondemand_usd} vs {co.hours} x {p.hardware.nodes} x {price}")
        s.ok("cost > 0", co.cost_ondemand_usd is not None and co.cost_ondemand_usd > 0, where, f"{co.cost_ondemand_usd}")
        if co.tokens:  # at the price the plan is ranked at: a spot plan's expected cost (README "Spot"), else the
            # sticker price over the expected hours where the job's checkpoints and failures add to them
            usd = (co.spot_risk["expected_cost_usd"] if co.spot_risk else
                   co.cost_spot_usd if spot and co.cost_spot_usd else co.cost_ondemand_usd)
            if not co.spot_risk and cf and math.isfinite(cf["expected_hours"]) and co.hours:
                usd = usd * cf["expected_hours"] / co.hours
            s.ok("$/1M tokens = cost / tokens", close(co.usd_per_million_tokens, usd / co.tokens * 1e6, 1e-9),
                 where, f"{co.usd_per_million_tokens} vs {usd / co.tokens * 1e6}")
    buy = co.buy
    if buy:
        hrs = cf["expected_hours"] if cf and math.isfinite(cf["expected_hours"]) else co.hours
        s.ok("buy: per-hour parts sum to the node-hour cost", close(sum(buy["per_hour"].values()), buy["node_hour_usd"], 1e-9),
             where, str(buy["per_hour"]))
        s.ok("buy: run cost = wall hours x nodes x node-hour cost",
             close(buy["run_cost_usd"], hrs * p.hardware.nodes * buy["node_hour_usd"], 1e-9), where,
             f"{buy['run_cost_usd']} vs {hrs} x {p.hardware.nodes} x {buy['node_hour_usd']}")
    for cm in co.committed or ():
        if cm.get("billed_hours") is not None and cm.get("price_usd_hr") is not None and cm.get("run_cost_usd") is not None:
            s.ok("committed: commitment = billed hours x nodes x price",
                 close(cm["commitment_usd"], cm["billed_hours"] * p.hardware.nodes * cm["price_usd_hr"], 1e-9), where, str(cm)[:200])
            s.ok("committed: run cost = run share x commitment", close(cm["run_cost_usd"], cm["run_share"] * cm["commitment_usd"], 1e-9)
                 and 0 < cm["run_share"] <= 1, where, str(cm)[:200])
            s.ok("committed: billed hours >= hours", cm["billed_hours"] >= co.hours * (1 - 1e-9), where,
                 f"{cm['billed_hours']} vs {co.hours}")
    s.ok("params_active <= params", 0 < p.params_active <= p.params, where, f"{p.params_active} / {p.params}")


# -- the estimate grid ---------------------------------------------------------------------------------------

def _divisor(n: int, options=(8, 4, 2, 1), cap: int = 8) -> int:
    return next(o for o in options if n % o == 0 and o <= cap)


def preset_training(name: str) -> tuple[dict, int, int | None]:
    """Ordinary training settings for a preset: (training section, global batch, seq_len or None)."""
    spec = PRESETS[name]
    seq = min(4096, spec.get("max_positions") or 4096)
    gb = 256
    generic = spec.get("family") == "generic" or spec.get("params") is not None
    return dict(seq_len=seq, global_batch=gb, steps=2000), gb, (None if generic else seq)


def layouts(name: str, gpn: int) -> list[tuple[str, dict, dict]]:
    """(label, parallel, training extras) for a preset on a node of ``gpn`` GPUs."""
    spec = PRESETS[name]
    out = [("default", {}, {})]
    heads = spec.get("heads")
    if heads:
        tp = _divisor(heads, cap=gpn)
        layers = spec.get("layers") or len(spec.get("hybrid_pattern") or "")
        pp = 2 if layers and layers % 2 == 0 else 1
        par = dict(tp=tp, pp=pp, zero=1)
        if spec.get("moe"):  # experts over the data-parallel ranks, expert-tensor-parallel 1
            par.update(ep=_divisor(spec["moe"]["experts"], cap=max(gpn * NODES // (tp * pp), 1)), etp=1)
        out.append((f"tp{tp}pp{pp}", par, dict(micro_batch=2, recompute="selective")))
        out.append((f"tp{tp}pp{pp}-fp8-full", par, dict(micro_batch=1, recompute="full", precision="fp8")))
    return out


def stack_variants(name: str) -> list[tuple[str, dict, dict, dict]]:
    """(label, parallel, training extras, other job sections): each stack of the registry the planner has launch
    rules for, fine-tuning modes, fp16, context and virtual pipeline parallelism, an evaluation and a checkpoint
    section and a spot price: ordinary settings a user writes, on transformer presets."""
    spec = PRESETS[name]
    heads = spec.get("heads")
    if not heads:
        return []
    layers = spec.get("layers") or len(spec.get("hybrid_pattern") or "")
    tp2 = 2 if heads % 2 == 0 else 1
    moe = {"etp": 1} if spec.get("moe") else {}
    out = [
        ("torchtitan-z3", dict(tp=tp2, pp=1, zero=3, **moe), dict(framework="torchtitan", micro_batch=1, recompute="full"), {}),
        ("deepspeed-z2-fp16", dict(tp=1, pp=1, zero=2), dict(framework="deepspeed", micro_batch=1, recompute="full",
                                                             precision="fp16"), {}),
        ("hf-lora", dict(tp=1, pp=1, zero=0), dict(framework="hf-trainer", mode="lora", micro_batch=1, recompute="full"), {}),
        ("hf-qlora", dict(tp=1, pp=1, zero=0), dict(mode="qlora", micro_batch=1, recompute="full"), {}),
        ("mcore-full-ft-z1", dict(tp=tp2, pp=1, zero=1, **moe), dict(mode="full_finetune", micro_batch=1, recompute="selective"), {}),
        ("mcore-cp2-8k", dict(tp=tp2, cp=2, pp=1, zero=1, **moe), dict(seq_len=min(8192, spec.get("max_positions") or 8192),
                                                                   micro_batch=1, recompute="selective"), {}),
        ("mcore-eval-ckpt-spot", dict(tp=tp2, pp=1, zero=1, **moe), dict(micro_batch=1, recompute="full"),
         dict(evaluation=dict(every_steps=500, samples=2000), checkpoint=dict(every_steps=250, mtbf_hours_per_node=2000),
              constraints=dict(spot=True))),
    ]
    seq32 = min(32768, spec.get("max_positions") or 32768)
    out += [
        ("fp32-mb4", dict(tp=tp2, pp=1, zero=1, **moe), dict(precision="fp32", micro_batch=4, recompute="full"), {}),
        ("fp4", dict(tp=tp2, pp=1, zero=1, **moe), dict(precision="fp4", micro_batch=1, recompute="selective"), {}),
        ("seq32k-cp4", dict(tp=tp2, cp=4, pp=1, zero=1, **moe), dict(seq_len=seq32, global_batch=64, micro_batch=1,
                                                                    recompute="full"), {}),
        ("gpn4-z3-mfsdp", dict(tp=1, pp=1, zero=3, **moe), dict(framework=dict(name="megatron-core", megatron_fsdp=True),
                                                                micro_batch=1, recompute="full"), dict(cluster=dict(gpus_per_node=4))),
        ("titan-hsdp", dict(tp=1, pp=1, zero=3, dp_shard=8), dict(framework="torchtitan", micro_batch=1, recompute="full"), {}),
        ("muon-z1", dict(tp=tp2, pp=1, zero=1, **moe), dict(optimizer="muon", micro_batch=1, recompute="full"), {}),
        ("hf-adam8bit-padded", dict(tp=1, pp=1, zero=3), dict(framework="hf-trainer", optimizer="adam8bit", packing="padded",
                                                           mean_example_tokens=700, micro_batch=2, recompute="full"), {}),
        ("nemo-automodel", dict(tp=1, pp=1, zero=3), dict(framework="nemo-automodel", micro_batch=1, recompute="full"), {}),
        # Lion replicated: Megatron-Core's DistributedOptimizer (ZeRO-1) wraps Adam only (distrib_optimizer.py
        # "Only Adam and HybridDeviceOptimizer currently supported"; planner.model.stack_rules mcore-distopt-adam)
        ("megatron-bridge-lion", dict(tp=tp2, pp=1, zero=0, **moe), dict(framework="megatron-bridge", optimizer="lion",
                                                                          micro_batch=1, recompute="full"), {}),
        ("megatron-deepspeed-z1", dict(tp=tp2, pp=1, zero=1), dict(framework="megatron-deepspeed", micro_batch=1,
                                                                    recompute="full"), {}),
        ("llm-foundry-z3", dict(tp=1, pp=1, zero=3), dict(framework="llm-foundry", micro_batch=1, recompute="full"), {}),
        ("tokens-1e9", dict(tp=tp2, pp=1, zero=1, **moe), dict(steps=None, tokens=1e9, micro_batch=1, recompute="full"), {}),
        ("epochs-2", dict(tp=tp2, pp=1, zero=1, **moe), dict(steps=None, epochs=2, dataset_samples=300_000, micro_batch=1,
                                                           recompute="full"), {}),
    ]
    if layers % 4 == 0 and not spec.get("hybrid_pattern"):
        out.append(("mcore-pp2-vpp2", dict(tp=tp2, pp=2, vpp=2, zero=1, **moe), dict(micro_batch=1, recompute="selective"), {}))
    return out


def sweep_stacks(s: Sweep, cat, gpus: list[str], presets: list[str], labels=None) -> None:
    for name in presets:
        base_training, gb, _ = preset_training(name)
        for gpu in gpus:
            for label, par, extra, sections in stack_variants(name):
                if labels and label not in labels:
                    continue
                tr = {k: v for k, v in dict(base_training, **extra).items() if v is not None}
                where = f"estimate {name} {gpu} x{NODES} {label}"
                sections = dict(sections)
                job = dict(model={"preset": name}, training=tr, parallel=par,
                           cluster=dict(gpu=gpu, nodes=NODES, price_usd_hr=NODE_PRICE, **sections.pop("cluster", {})),
                           **sections)
                gb = tr["global_batch"]
                plan = s.attempt("stacks", where, lambda: estimate_job(load_job_dict(job), cat))
                if plan is None:
                    continue
                check_plan(s, plan, where, gb, tr["seq_len"], tr.get("precision", "bf16"), NODE_PRICE,
                           spot=bool(sections.get("constraints", {}).get("spot")))
                if TEXT:
                    check_text(s, "estimate", plan, where)


INSTANCE_PRESETS = ("gpt2", "llama3-8b", "mixtral-8x7b", "qwen3-30b-a3b", "nemotron-h-8b", "resnet50")


def sweep_instances(s: Sweep, cat, presets=INSTANCE_PRESETS) -> None:
    """Every catalog instance (priced: its own price checked) with a few presets, one and two nodes."""
    for key in cat.instances_df()["key"]:
        inst = cat.instance(key)
        for name in presets:
            base_training, gb, seq = preset_training(name)
            for nodes in (1, 2):
                for label, par, extra in layouts(name, max(int(inst.gpu_count or 1), 1))[:2]:
                    par = {k: v for k, v in par.items() if k != "pp" or nodes * (inst.gpu_count or 1) >= 2 * par.get("tp", 1)}
                    where = f"estimate {name} {key} x{nodes} {label}"
                    job = dict(model={"preset": name}, training=dict(base_training, **extra), parallel=par,
                               cluster=dict(instance=key, nodes=nodes))
                    plan = s.attempt("instances", where, lambda: estimate_job(load_job_dict(job), cat))
                    if plan is None:
                        continue
                    check_plan(s, plan, where, gb, seq, job["training"].get("precision", "bf16"), inst.price_ondemand)


def sweep_estimates(s: Sweep, cat, gpus: list[str], presets: list[str]) -> None:
    for name in presets:
        base_training, gb, seq = preset_training(name)
        for gpu in gpus:
            for nodes in (NODES,):
                for label, par, extra in layouts(name, 8):
                    where = f"estimate {name} {gpu} x{nodes} {label}"
                    job = dict(model={"preset": name}, training=dict(base_training, **extra), parallel=par,
                               cluster=dict(gpu=gpu, nodes=nodes, price_usd_hr=NODE_PRICE))
                    plan = s.attempt("estimate", where, lambda: estimate_job(load_job_dict(job), cat))
                    if plan is None:
                        continue
                    check_plan(s, plan, where, gb, seq, job["training"].get("precision", "bf16"), NODE_PRICE)
                    if TEXT:
                        check_text(s, "estimate", plan, where)


# -- the recommend grid ---------------------------------------------------------------------------------------

SCENARIOS = (
    # label, constraints, parallel, training extras, other job sections
    ("mcore-bf16", dict(max_gpus=64, deadline_hours=24 * 60, budget_usd=5e6), {}, dict(precision="bf16", framework="megatron-core"), {}),
    ("titan-tp2-pp1-fp8", dict(max_gpus=32, deadline_hours=24 * 120), dict(tp=2, pp=1), dict(precision="fp8", framework="torchtitan"), {}),
    ("ds-time", dict(max_gpus=16, budget_usd=2e6, objective="time"), dict(pp=1), dict(precision="bf16", framework="deepspeed"), {}),
    ("auto-spot-tok/$", dict(max_gpus=32, spot=True, objective="tokens_per_dollar", clouds=["aws", "gcp", "azure"]), {},
     dict(framework="auto"), {}),
    ("mcore-eval-ckpt-min16", dict(min_gpus=16, max_gpus=64, deadline_hours=24 * 90, budget_usd=1e7), dict(tp=2), {},
     dict(evaluation=dict(every_steps=500, samples=2000), checkpoint=dict(every_steps=250, mtbf_hours_per_node=2000))),
    # a bare-GPU cluster, unpriced (ranked by time) and priced by the job (cluster.price_usd_hr)
    ("bare-gpu-unpriced", dict(max_gpus=64), {}, {}, dict(cluster=dict(gpus_per_node=8))),
    ("bare-gpu-priced", dict(max_gpus=64, budget_usd=1e6), {}, {}, dict(cluster=dict(gpus_per_node=8, price_usd_hr=25.0))),
    # the whole catalog (no GPU list): TPUs, Trainium, Gaudi, AMD and every cloud; run on OPEN_PRESETS only
    ("open-catalog", dict(max_gpus=128, deadline_hours=24 * 60), {}, {}, {}),
)
OPEN_PRESETS = ("gpt2-xl", "llama3-8b", "mixtral-8x7b", "qwen3-30b-a3b", "gemma3-12b", "gpt-oss-20b", "nemotron-h-8b",
                "bert-large", "resnet50", "llama2-13b")


def _stack_options(stack: dict) -> dict:
    """A plan's stack record as a job's ``training.framework``: the name and the options a job can set again
    (``stacks.record_options``, as ``planner simulate`` of a saved plan reads it)."""
    from planner.model.stacks import record_options

    return {"name": stack["name"], **{k: (list(v) if isinstance(v, tuple) else v)
                                      for k, v in record_options(stack).items() if v != ()}}


def fixed_job(job: dict, p: Plan) -> dict:
    """The job with every field the search chose fixed to ``p``'s, for estimate."""
    c, hw = p.config, p.hardware
    par = dict(tp=c.tp, pp=c.pp, dp=c.dp, cp=c.cp, ep=c.ep, vpp=c.vpp, zero=c.zero, sequence_parallel=c.sp,
               schedule=c.schedule)
    if c.etp is not None:
        par["etp"] = c.etp
    if c.dp_shard is not None:
        par["dp_shard"] = c.dp_shard
    tr = dict(job["training"], micro_batch=c.micro_batch, recompute=c.recompute,
              framework=_stack_options(p.stack or {}) if p.stack else job["training"].get("framework"))
    if c.recompute_modules:
        tr["recompute_modules"] = list(c.recompute_modules)
    cl = dict(instance=hw.name, nodes=hw.nodes) if hw.cloud != "-" else dict(
        job.get("cluster", {}), gpu=hw.gpu, nodes=hw.nodes, gpus_per_node=hw.gpus_per_node)
    con = {k: v for k, v in job.get("constraints", {}).items() if k not in ("max_gpus", "gpus", "objective")}
    rest = {k: v for k, v in job.items() if k not in ("model", "training", "parallel", "cluster", "constraints")}
    return dict(model=job["model"], training=tr, parallel=par, cluster=cl, constraints=con, **rest)


TABLE_VS_PLAN = (("step_time_s", lambda p, spot: p.step_time_s), ("mfu", lambda p, spot: p.mfu),
                 ("tokens_per_s", lambda p, spot: p.tokens_per_s),
                 ("mem_gib", lambda p, spot: p.memory_per_gpu_bytes.total / 2**30),
                 ("train_hours", lambda p, spot: p.cost.hours_at(spot)))


def check_recommendation(s: Sweep, rec, job: dict, where: str, gb: int, seq: int | None, cat) -> None:
    import numpy as np

    t = rec.table
    try:
        js = json.loads(json.dumps(jsonable(rec), allow_nan=False))
        probs = validate_json(js["best"], Plan, ".best")
        s.ok("recommend JSON: strict, best validates against Plan", not probs, where, "; ".join(probs[:4]))
    except Exception as e:  # noqa: BLE001
        s.ok("recommend JSON: strict, best validates against Plan", False, where, f"{type(e).__name__}: {e}")
    con, par, tr = job.get("constraints", {}), job.get("parallel", {}), job["training"]
    best = rec.best
    s.ok("winner is ranked[0]", rec.ranked and rec.ranked[0] is best, where, "")
    s.ok("winner fits", best.fits, where, "")
    if "max_gpus" in con:
        s.ok("winner within max_gpus", best.hardware.gpus <= con["max_gpus"], where, f"{best.hardware.gpus}")
    if "deadline_hours" in con:
        s.ok("winner within deadline", best.cost.hours_at(rec.spot) <= con["deadline_hours"] * (1 + 1e-12), where,
             f"{best.cost.hours_at(rec.spot)}")
    if "budget_usd" in con:
        usd = best.cost.price(rec.spot)
        s.ok("winner within budget", usd is not None and usd <= con["budget_usd"] * (1 + 1e-12), where, f"{usd}")
    if "min_gpus" in con:
        s.ok("winner within min_gpus", best.hardware.gpus >= con["min_gpus"], where, f"{best.hardware.gpus}")
        s.ok("every table row within min_gpus", bool((rec.table["gpus"] >= con["min_gpus"]).all()), where, "")
    if "clouds" in con:
        s.ok("winner on a listed cloud", best.hardware.cloud in con["clouds"], where, best.hardware.cloud)
        s.ok("every table row on a listed cloud", bool(rec.table["cloud"].isin(con["clouds"]).all()), where, "")
    s.ok("evaluated >= fits_memory >= feasible > 0", rec.evaluated >= rec.fits_memory >= rec.feasible > 0, where,
         f"{rec.evaluated} {rec.fits_memory} {rec.feasible}")
    # the views: best per GPU / cloud / hardware is each group's first table row; scaling: one row per node count
    from planner.search.rank import best_per, scaling_view

    for by in ("gpu", "cloud", "hardware") + (("framework",) if tr.get("framework") == "auto" else ()):
        rows = best_per(rec.table, by, rec.price_basis, rec.figures_include)
        key = {"gpu": best.hardware.gpu, "cloud": best.hardware.cloud, "hardware": best.hardware.name,
               "framework": (best.stack or {}).get("name")}[by]
        s.ok(f"--by {by}: first row is the winner's", bool(rows) and rows[0].get(by) == key, where,
             f"{rows[0] if rows else None} vs {key}")
        s.ok(f"--by {by}: one row per {by}", len({r.get(by) for r in rows}) == len(rows), where, "")
        s.ok("views: JSON-strict through jsonable", _strict_json(rows), where, "")
        if rows and by == "gpu":  # each row's numbers are its group's first table row's
            first = rec.table.drop_duplicates("gpu").iloc[0]
            s.ok("--by gpu: row = its group's first table row (days, cost)",
                 close(rows[0]["days"] * 24, first["train_hours"], 1e-9) and same(rows[0]["cost"], first["cost"], 1e-9),
                 where, f"{rows[0]} vs {dict(first)}")
    # the Pareto rows: on the time-cost front of the whole table, and each one a table row
    hrs, cst = t["train_hours"].to_numpy(dtype=float), np.nan_to_num(t["cost"].to_numpy(dtype=float), nan=np.inf)
    for r in rec.pareto[:25]:
        dominated = bool(np.any((hrs <= r["train_hours"]) & (cst <= (r["cost"] if r["cost"] is not None else np.inf))
                                & ((hrs < r["train_hours"] * (1 - 1e-12)) | (cst < (r["cost"] or np.inf) * (1 - 1e-12)))))
        s.ok("pareto rows are not dominated", not dominated, where, f"{r['hardware']} n{r['nodes']} {r['train_hours']} h {r['cost']}")
    for st in rec.stacks:  # framework auto: each stack's row is its best table row, vs_chosen its ratio to the winner
        if st.get("status") in ("chosen", "feasible"):
            first = t[t["framework"] == st["framework"]].iloc[0]
            s.ok("stacks: row = that stack's first table row", close(st["cost_usd"] or 0, first["cost"] if math.isfinite(first["cost"]) else 0, 1e-9)
                 and close(st["train_hours"], first["train_hours"], 1e-9) and st["hardware"] == first["hardware"], where,
                 f"{st} vs {dict(first)}")
            bc = best.cost.price(rec.spot)
            if st["cost_usd"] and bc:
                s.ok("stacks: vs_chosen.cost = cost / winner's - 1", close(st["vs_chosen"]["cost"], st["cost_usd"] / bc - 1, 1e-9),
                     where, f"{st['vs_chosen']} {st['cost_usd']} {bc}")
            s.ok("stacks: vs_chosen.time = hours / winner's - 1",
                 close(st["vs_chosen"]["time"], st["train_hours"] / best.cost.hours_at(rec.spot) - 1, 1e-9), where,
                 f"{st['vs_chosen']} {st['train_hours']} {best.cost.hours_at(rec.spot)}")
    sc = scaling_view(rec.table, best.hardware.name, rec.price_basis, rec.figures_include)
    s.ok("--scaling: node counts ascending, distinct, holding the winner's",
         [r["nodes"] for r in sc] == sorted({r["nodes"] for r in sc}) and best.hardware.nodes in [r["nodes"] for r in sc],
         where, str([r["nodes"] for r in sc]))
    if rec.stacks:
        chosen = [r for r in rec.stacks if r.get("chosen")]
        s.ok("framework auto: one chosen stack, the winner's", len(chosen) == 1 and chosen[0].get("framework", chosen[0].get("name"))
             == (best.stack or {}).get("name"), where, str(chosen)[:300])
    if "gpus" in con:
        s.ok("winner's GPU in constraints.gpus", best.hardware.gpu in con["gpus"], where, best.hardware.gpu)
    for k in ("tp", "pp", "cp", "ep", "zero"):
        if k in par:
            s.ok(f"winner keeps fixed parallel.{k}", getattr(best.config, k) == par[k], where,
                 f"{getattr(best.config, k)} vs {par[k]}")
    fw = tr.get("framework")
    if fw and fw != "auto" and best.stack:
        s.ok("winner runs the job's framework", best.stack["name"] == fw, where, best.stack["name"])
    peaks = (rec.inputs or {}).get("peaks", "")
    if tr.get("precision") and tr["precision"] in ("bf16", "fp16", "fp32", "fp8") and best.throughput_unit == "tokens":
        m = re.search(r"against its (\w+) peak", peaks)
        s.ok("winner's MFU at the job's precision's peak", bool(m) and m.group(1) == tr["precision"], where, peaks)
    t = rec.table
    s.ok("len(table) = feasible", len(t) == rec.feasible, where, f"{len(t)} vs {rec.feasible}")
    s.ok("ranked <= table", len(rec.ranked) <= len(t), where, "")
    # the table is in rank order: by the objective's column
    col = {"cost": "cost", "time": "train_hours", "tokens_per_dollar": "usd_per_token"}[rec.objective]
    vals = t[col].to_numpy(dtype=float)

    fin = vals[np.isfinite(vals)]
    s.ok("table sorted by the objective (0.5% ties allowed)", bool(np.all(fin[1:] >= fin[:-1] * (1 - 0.0051))), where,
         f"first inversion at {int(np.argmax(fin[1:] < fin[:-1] * (1 - 0.0051)))}" if len(fin) > 1 else "")
    s.ok("every table row fits its limit", bool((t["mem_gib"] <= t["mem_limit_gib"] * (1 + 1e-9)).all()), where, "")
    if "max_gpus" in con:
        s.ok("every table row within max_gpus", bool((t["gpus"] <= con["max_gpus"]).all()), where, "")
    if "deadline_hours" in con:
        s.ok("every table row within deadline", bool((t["train_hours"] <= con["deadline_hours"] * (1 + 1e-12)).all()), where, "")
    if "budget_usd" in con:
        cst = t["cost"].to_numpy(dtype=float)
        s.ok("every table row within budget", bool(np.all(~np.isfinite(cst) | (cst <= con["budget_usd"] * (1 + 1e-12)))), where, "")
    for k in ("tp", "pp"):
        if k in par:
            s.ok(f"every table row keeps parallel.{k}", bool((t[k] == par[k]).all()), where, "")
    per_step = gb * (seq if best.throughput_unit == "tokens" else 1)
    rate = t["tokens_per_s"].to_numpy(dtype=float) * t["step_time_s"].to_numpy(dtype=float)
    s.ok("table: tokens/s x step time = tokens per step", bool(np.allclose(rate, per_step, rtol=1e-9)), where,
         f"max rel err {np.max(np.abs(rate / per_step - 1)):.3g}")
    s.ok("table: gpus = tp*pp*dp*cp", bool((t["tp"] * t["pp"] * t["dp"] * t["cp"] == t["gpus"]).all()), where, "")
    prices = {h: (cat.instance(h).price_spot if rec.spot else None) or cat.instance(h).price_ondemand
              for h in t["hardware"].unique() if ":" in str(h)}
    prices.update({h: job.get("cluster", {}).get("price_usd_hr", float("nan")) for h in t["hardware"].unique() if ":" not in str(h)})
    pr = t["hardware"].map(prices).to_numpy(dtype=float)
    want = t["train_hours"].to_numpy(dtype=float) * t["nodes"].to_numpy(dtype=float) * pr
    got = t["cost"].to_numpy(dtype=float)
    okp = np.isfinite(want)
    s.ok("table: cost = hours x nodes x price", bool(np.allclose(got[okp], want[okp], rtol=1e-9)), where,
         f"max rel err {np.max(np.abs(got[okp] / want[okp] - 1)) if okp.any() else 0:.3g}")
    # each ranked plan and its table row (the misaligned-rows defect class)
    shown = t.drop_duplicates(["hardware", "nodes"])  # ranked: the best layout per (hardware, nodes)
    s.ok("len(ranked) = distinct (hardware, nodes) shown", len(rec.ranked) == min(len(shown), len(rec.ranked)), where, "")
    for i, p in enumerate(rec.ranked):
        row = shown.iloc[i]
        w = f"{where} rank {i + 1}"
        check_plan(s, p, w, gb, seq, tr.get("precision", "bf16"), spot=rec.spot)
        c = p.config
        same_cfg = (row["hardware"] == p.hardware.name and int(row["nodes"]) == p.hardware.nodes
                and all(int(row[k]) == getattr(c, k) for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "micro_batch"))
                and row["recompute"] == c.recompute)
        s.ok("ranked plan = its table row (config)", same_cfg, w,
             f"row {row['hardware']} n{row['nodes']} tp{row['tp']} pp{row['pp']} dp{row['dp']} z{row['zero']} mb{row['micro_batch']} "
             f"{row['recompute']} vs plan {p.hardware.name} n{p.hardware.nodes} {c}")
        for k, get in TABLE_VS_PLAN:
            s.ok(f"ranked plan = its table row ({k})", close(row[k], get(p, rec.spot), 1e-6), w,
                 f"row {row[k]} vs plan {get(p, rec.spot)}")
        s.ok("ranked plan = its table row (cost)", close(row["cost"], p.cost.price(rec.spot), 1e-6) if p.cost.price(rec.spot)
             else not math.isfinite(float(row["cost"])), w, f"row {row['cost']} vs plan {p.cost.price(rec.spot)}")
    # the top plans re-planned by estimate with every searched field fixed
    for i, p in enumerate(rec.ranked[:3]):
        w = f"{where} rank {i + 1} re-estimated"
        fj = fixed_job(job, p)
        s.checked["re-estimate"] += 1
        try:
            e = estimate_job(load_job_dict(fj), cat)
        except InputError as ex:
            s.ok("estimate accepts the plan recommend chose", False, w, f"{ex.field}: {ex.message}")
            continue
        except Exception as ex:  # noqa: BLE001
            s.crash("re-estimate", w, ex)
            continue
        s.ok("estimate of the chosen plan: same step time", close(e.step_time_s, p.step_time_s, 1e-9), w,
             f"{e.step_time_s} vs {p.step_time_s}")
        s.ok("estimate of the chosen plan: same memory", close(e.memory_per_gpu_bytes.total, p.memory_per_gpu_bytes.total, 1e-9), w,
             f"{e.memory_per_gpu_bytes.total} vs {p.memory_per_gpu_bytes.total}")
        s.ok("estimate of the chosen plan: same cost", same(e.cost.price(rec.spot), p.cost.price(rec.spot), 1e-9), w,
             f"{e.cost.price(rec.spot)} vs {p.cost.price(rec.spot)}")
        s.ok("estimate of the chosen plan: same MFU/HFU", close(e.mfu, p.mfu, 1e-9) and close(e.hfu, p.hfu, 1e-9), w,
             f"{e.mfu}/{e.hfu} vs {p.mfu}/{p.hfu}")


def sweep_recommends(s: Sweep, cat, gpus: list[str], presets: list[str], scenarios=None) -> None:
    for name in presets:
        base_training, gb, seq = preset_training(name)
        base_training = dict(base_training)
        for label, con, par, extra, sections in SCENARIOS:
            if scenarios and label not in scenarios:
                continue
            par = dict(par)
            heads = PRESETS[name].get("heads")
            if "tp" in par and heads and heads % par["tp"]:
                par["tp"] = 1
            if not heads:  # a generic model: no tensor parallelism to fix
                par.pop("tp", None)
            open_catalog = label == "open-catalog"
            if open_catalog and name not in OPEN_PRESETS:
                continue
            for gpu in ([None] if open_catalog else gpus):
                where = f"recommend {name} {gpu or 'any GPU'} {label}"
                if "cluster" in sections:  # the GPU named by the cluster, not by constraints.gpus
                    job = dict(model={"preset": name}, training=dict(base_training, **extra), parallel=par, constraints=con,
                               **dict(sections, cluster=dict(sections["cluster"], gpu=gpu)))
                else:
                    job = dict(model={"preset": name}, training=dict(base_training, **extra), parallel=par,
                               constraints=dict(con, **({"gpus": [gpu]} if gpu else {})), **sections)
                rec = s.attempt("recommend", where, lambda: recommend(load_job_dict(job), cat, simulate=False), say=True)
                if rec is None:
                    continue
                check_recommendation(s, rec, job, where, gb, seq, cat)
                if TEXT:
                    check_text(s, "training", rec, where)


# -- recommend re-ranked by the simulator (jobs with a data section) -------------------------------------------

DATA_JOBS = (
    ("resnet50-objectstore-shards.yaml", None),
    ("resnet50-objectstore-files.yaml", None),
    ("vit-b16-objectstore-shards.yaml", None),
    ("llama3-8b object store + checkpoints", dict(
        model={"preset": "llama3-8b"}, training=dict(seq_len=4096, global_batch=256, steps=2000),
        cluster={"instance": "aws:p5.48xlarge"}, constraints=dict(max_gpus=64, deadline_hours=24 * 30),
        data=dict(storage="object_store", format="shards", sample_bytes=16000, decode_ms_per_sample=0.2),
        checkpoint=dict(every_steps=500, mtbf_hours_per_node=5000))),
    ("llama3-8b spot + data", dict(
        model={"preset": "llama3-8b"}, training=dict(seq_len=4096, global_batch=256, steps=2000),
        constraints=dict(max_gpus=32, spot=True, clouds=["aws", "gcp"], gpus=["H100-SXM-80GB", "A100-SXM-80GB"]),
        data=dict(storage="object_store", format="files", sample_bytes=16000, decode_ms_per_sample=2.0))),
)


def sweep_simulated(s: Sweep, cat) -> None:
    import yaml

    for label, job in DATA_JOBS:
        if job is None:
            job = yaml.safe_load((ROOT / "examples" / label).read_text())
        where = f"recommend+simulate {label}"
        s.checked["simulated"] += 1
        try:
            rec = recommend(load_job_dict(job), cat, simulate=True)
        except InputError as e:
            s.refused["simulated"] += 1
            s.refusal_msgs[f"{e.field}: {e.message}"[:110]] += 1
            continue
        except Exception as e:  # noqa: BLE001
            s.crash("simulated", where, e)
            continue
        tr = job.get("training", {})
        gb, seq = tr.get("global_batch", 1024), tr.get("seq_len", 4096)
        s.ok("winner is ranked[0]", rec.ranked and rec.ranked[0] is rec.best, where, "")
        for i, p in enumerate(rec.ranked):
            w = f"{where} rank {i + 1}"
            check_plan(s, p, w, gb, seq, tr.get("precision", "bf16"), spot=rec.spot)
            sim = p.simulated
            if s.ok("re-ranked plan carries its simulation", sim is not None, w, ""):
                s.ok("simulated: step time = max(analytic, simulated)",
                     close(p.step_time_s, max(sim.analytic_step_time_s, sim.step_time_s), 1e-9), w,
                     f"{p.step_time_s} vs {sim}")
        key = {"time": lambda p: p.cost.hours_at(rec.spot)}.get(rec.objective, lambda p: p.cost.price(rec.spot))
        vals = [key(p) for p in rec.ranked if key(p) is not None]
        s.ok("re-ranked plans sorted by the objective (0.5% ties allowed)",
             all(b >= a * (1 - 0.0051) for a, b in zip(vals, vals[1:])), where, str([round(v, 4) for v in vals]))


# -- serve: every preset on the recommend GPUs at three weight precisions (analytic) -----------------------------

SERVE_GPUS = RECOMMEND_GPUS + ("L4-24GB",)


def sweep_serving(s: Sweep, cat, gpus=SERVE_GPUS, presets=None) -> None:
    from planner.results import ServingOption
    from planner.workloads.serving import plan_serving

    for name in presets or list(PRESETS):
        generic = not PRESETS[name].get("heads")
        target = dict(p99_latency_ms=100 if not generic else 50, qps=20)
        if not generic:
            target.update(ttft_ms=2000, prompt_tokens=1000, output_tokens=200, max_batch=128)
        for gpu in gpus:
            where = f"serve {name} {gpu}"
            job = dict(model={"preset": name}, serving=target, constraints=dict(gpus=[gpu]))
            plan = s.attempt("serve", where, lambda: plan_serving(load_job_dict(job), cat, simulate=False,
                                                                 precisions=None if generic else ["bf16", "fp8", "int4"]),
                             prefix="serve ")
            if plan is None:
                continue
            bad = list(_finite_walk(plan))
            s.ok("serve: finite numbers", not bad, where, ", ".join(bad[:5]))
            s.ok("serve: best = options[0]", plan.options and plan.options[0] is plan.best, where, "")
            for i, o in enumerate(plan.options):
                w = f"{where} option {i + 1} ({o.hardware} tp{o.tp} {o.precision})"
                js = json.loads(json.dumps(jsonable(o), allow_nan=False))
                probs = [p for p in validate_json(js, ServingOption) if "missing" not in p]  # Sparse: absent = None
                s.ok("serve: option JSON validates against ServingOption", not probs, w, "; ".join(probs[:4]))
                s.ok("serve: option fits and meets latency", o.fits and o.meets_latency, w, str(o.reason))
                s.ok("serve: p99 TPOT within target", o.tpot_ms is not None and o.tpot_ms <= target["p99_latency_ms"] * (1 + 1e-9),
                     w, f"{o.tpot_ms}")
                if not generic:
                    s.ok("serve: p99 TTFT within target", o.ttft_ms is not None and o.ttft_ms <= target["ttft_ms"] * (1 + 1e-9),
                         w, f"{o.ttft_ms}")
                    s.ok("serve: tokens/s = requests/s x output tokens",
                         close(o.tokens_per_s_per_replica, o.requests_per_s_per_replica * target["output_tokens"], 1e-9), w,
                         f"{o.tokens_per_s_per_replica} vs {o.requests_per_s_per_replica}")
                s.ok("serve: 1 <= batch <= memory limit, max_batch", o.batch is not None and 1 <= o.batch <= o.batch_memory_limit
                     and (generic or o.batch <= target["max_batch"]), w, f"{o.batch} / {o.batch_memory_limit}")
                s.ok("serve: replicas carry the QPS (utilisation <= 1)",
                     o.replicas * o.requests_per_s_per_replica >= target["qps"] * (1 - 1e-9)
                     and close(o.utilisation, target["qps"] / (o.replicas * o.requests_per_s_per_replica), 1e-9), w,
                     f"{o.replicas} x {o.requests_per_s_per_replica} util {o.utilisation}")
                s.ok("serve: replicas are the fewest that carry the QPS",
                     (o.replicas - 1) * o.requests_per_s_per_replica < target["qps"], w, f"{o.replicas}")
                s.ok("serve: gpus = replicas x tp", o.gpus == o.replicas * o.tp, w, f"{o.gpus} {o.replicas} {o.tp}")
                if o.usd_per_hr is not None:
                    s.ok("serve: $/1M requests = $/h / (QPS x 3600) x 1e6",
                         close(o.usd_per_million_requests, o.usd_per_hr / (target["qps"] * 3600) * 1e6, 1e-9), w,
                         f"{o.usd_per_million_requests} vs {o.usd_per_hr}")
                    s.ok("serve: $/h = nodes x node price", close(o.usd_per_hr, o.nodes * o.price_usd_hr, 1e-9), w,
                         f"{o.usd_per_hr} vs {o.nodes} x {o.price_usd_hr}")
            costs = [o.usd_per_hr for o in plan.options if o.usd_per_hr is not None]
            s.ok("serve: options by $/h (ties within 0.5%)", all(b >= a * (1 - 0.0051) for a, b in zip(costs, costs[1:])),
                 where, str(costs[:8]))


# -- the examples through the CLI -------------------------------------------------------------------------------

def sweep_examples(s: Sweep) -> None:
    from typer.testing import CliRunner

    from planner.cli import app

    import tempfile

    runner = CliRunner()
    tmp = Path(tempfile.mkdtemp(prefix="sweep-"))
    paths = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "hf").glob("*.json"))
    for n, path in enumerate(paths):
        text = path.read_text()
        serving = "serving:" in text and "training:" not in text
        csv = tmp / f"{n}.csv"
        cmds = [["serve", "--json", "--no-simulate"]] if serving else [
            ["estimate", "--json"], ["recommend", "--json", "--no-simulate", "--by", "gpu", "--scaling"],
            ["recommend", "--no-simulate", "--csv", str(csv)], ["compare", "--json"],
            ["simulate", "--json", "--steps", "50"], ["report", "-o", str(tmp / f"{n}.md"), "--no-simulate"]]
        for cmd in cmds:
            where = f"cli {cmd[0]} examples/{path.name}"
            s.checked["cli"] += 1
            r = runner.invoke(app, [cmd[0], str(path), *cmd[1:]], catch_exceptions=True)
            if r.exception is not None and not isinstance(r.exception, SystemExit):
                s.crash("cli", where, r.exception)
                continue
            err = r.stderr.strip().splitlines()
            if r.exit_code == 2:
                s.refused["cli"] += 1
                s.ok("a refusal is one `error:` line", len(err) == 1 and err[0].startswith("error: "), where, r.stderr[:300])
                s.refusal_msgs[f"{cmd[0]}: " + (err[0] if err else "")[:100]] += 1
                continue
            if not s.ok("CLI exit 0 or 2", r.exit_code == 0, where, f"exit {r.exit_code}: {r.stderr[:300]}"):
                continue
            if "--csv" in cmd:
                import pandas as pd

                m = BAD_TEXT.search(r.stdout)
                s.ok("text output prints no nan/inf", m is None, where, r.stdout[max(0, m.start() - 150):m.end() + 50] if m else "")

                if s.ok("--csv wrote its file", csv.exists(), where, ""):
                    df = pd.read_csv(csv)
                    if "mem_gib" in df:
                        s.ok("--csv: every row fits", bool((df["mem_gib"] <= df["mem_limit_gib"] * (1 + 1e-9)).all()), where, "")
                    if "tokens_per_s" in df and "step_time_s" in df:
                        per = df["tokens_per_s"] * df["step_time_s"]
                        s.ok("--csv: tokens/s x step time constant (tokens per step)",
                             bool(((per / per.iloc[0] - 1).abs() < 1e-6).all()), where, f"{per.min()} .. {per.max()}")
                continue
            if cmd[0] in ("report", "simulate") or "--csv" in cmd:
                s.ok(f"CLI {cmd[0]} exit 0", r.exit_code == 0, where, r.stderr[:300])
                if cmd[0] == "report":
                    md = Path(cmd[cmd.index("-o") + 1])
                    if s.ok("report written", md.exists(), where, ""):
                        m = BAD_TEXT.search(md.read_text())
                        s.ok("report prints no nan/inf", m is None, where, md.read_text()[max(0, m.start() - 150):m.end() + 50] if m else "")
                    continue
            try:
                js = json.loads(r.stdout)
            except ValueError as e:
                s.ok("CLI JSON parses", False, where, str(e))
                continue
            s.ok("CLI JSON parses", True, where)
            if cmd[0] == "estimate" and "step_time_s" in js:
                probs = validate_json(js, Plan)
                s.ok("JSON validates against typed Plan", not probs, where, "; ".join(probs[:5]))
            if cmd[0] == "recommend" and "best" in js and isinstance(js["best"], dict) and "step_time_s" in js["best"]:
                probs = validate_json(js["best"], Plan, ".best")
                for i, rj in enumerate(js.get("ranked", [])):
                    probs += validate_json(rj, Plan, f".ranked[{i}]")
                s.ok("JSON validates against typed Plan", not probs, where, "; ".join(probs[:5]))
                s.ok("CLI JSON: best = ranked[0]", js["ranked"] and js["ranked"][0] == js["best"], where)


def main(argv=None) -> int:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a slice: 6 presets, 6 GPUs, no examples")
    ap.add_argument("--verbose", action="store_true", help="print each broken invariant as it happens")
    ap.add_argument("--presets", help="comma-separated preset names (default: all)")
    ap.add_argument("--variants", help="comma-separated estimate stack-variant labels (default: all)")
    ap.add_argument("--scenarios", help="comma-separated recommend scenario labels (default: all)")
    ap.add_argument("--only", choices=("estimate", "stacks", "instances", "simulated", "serve", "recommend", "examples"), action="append")
    ap.add_argument("--no-text", action="store_true", help="skip rendering each result as terminal text")
    a = ap.parse_args(argv)
    global TEXT
    TEXT = not a.no_text
    cat = CAT
    gpus = list(cat.gpus_df()["name"])
    presets = list(PRESETS)
    rgpus = list(RECOMMEND_GPUS)
    if a.quick:
        presets = ["gpt2", "llama3-8b", "mixtral-8x7b", "deepseek-v2-lite", "nemotron-h-8b", "resnet50"]
        gpus = list(RECOMMEND_GPUS)
        rgpus = ["H100-SXM-80GB"]
    if a.presets:
        presets = a.presets.split(",")
    only = set(a.only or ("estimate", "stacks", "instances", "simulated", "serve", "recommend", "examples")) - ({"examples"} if a.quick and not a.only else set())
    s = Sweep(verbose=a.verbose)
    times = {}
    for part, fn, args in (("estimate", sweep_estimates, (s, cat, gpus, presets)),
                           ("stacks", sweep_stacks, (s, cat, rgpus, presets, a.variants and a.variants.split(","))),
                           ("instances", sweep_instances, (s, cat)),
                           ("simulated", sweep_simulated, (s, cat)),
                           ("serve", sweep_serving, (s, cat, SERVE_GPUS, presets)),
                           ("recommend", sweep_recommends, (s, cat, rgpus, presets, a.scenarios and a.scenarios.split(","))),
                           ("examples", sweep_examples, (s,))):
        if part in only:
            t0 = time.perf_counter()
            fn(*args)
            times[part] = time.perf_counter() - t0
    print(f"sweep: {len(presets)} presets x {len(gpus)} GPUs (estimate), x {len(rgpus)} GPUs x {len(SCENARIOS)} "
          f"scenarios (recommend: {', '.join(rgpus)}), {len(list((ROOT / 'examples').glob('*.yaml')))} examples")
    print(f"{'part':<12}{'configs':>9}{'refused':>9}{'seconds':>10}")
    for part in ("estimate", "stacks", "instances", "simulated", "serve", "recommend", "re-estimate", "cli"):
        key = {"cli": "examples"}.get(part, part)
        print(f"{part:<12}{s.checked[part]:>9,}{s.refused[part]:>9,}{times.get(key, float('nan')):>10.1f}")
    print(f"\n{'invariant':<62}{'checked':>9}{'broken':>8}")
    for name in sorted(s.invariants):
        print(f"{name[:61]:<62}{s.invariants[name]:>9,}{len(s.broken.get(name, [])):>8,}")
    if s.refusal_msgs:
        print("\nrefusals (one-line InputError), most common:")
        for msg, n in s.refusal_msgs.most_common(12):
            print(f"{n:>6}  {msg}")
    if s.broken:
        print("\nbroken (first 3 of each):")
        for name, items in s.broken.items():
            print(f"- {name}: {len(items)}")
            for it in items[:3]:
                print(f"    {it[:400]}")
    return 1 if s.broken else 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
