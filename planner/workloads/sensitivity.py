"""Sensitivity: one input of a plan varied (nodes, micro-batch, network, global batch, sequence
length, the GPUs' power limit), everything else held, each point one ``estimate`` — for the app and the report."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from pydantic import ValidationError

from hardware_catalog.errors import from_validation
from planner.errors import InputError, clip
from planner.results import jsonable
from planner.spec import JobSpec, load_job_dict
from planner.hardware.power import sweep_limits
from planner.search.space import job_for_plan
from planner.workloads.training import estimate_job, limits_met


# --------------------------------------------------------------------------------------------
def _nodes_values(row: dict) -> list:
    n = row["hardware"]["nodes"]
    return sorted({max(1, int(round(n * f))) for f in (0.125, 0.25, 0.5, 1, 2, 4, 8)})


def _set_nodes(j: JobSpec, v):
    j.cluster.nodes = int(v)
    j.parallel.dp = None  # data parallelism absorbs the change; tp/pp/cp stay


def _mb_values(row: dict) -> list:
    return [1, 2, 4, 8, 16, 32]


def _set_mb(j: JobSpec, v):
    j.training.micro_batch = int(v)


def _gbps_values(row: dict) -> list:
    g = row["hardware"]["inter_node_gbps"]
    return [g * f for f in (0.125, 0.25, 0.5, 1, 2, 4)]


def _set_gbps(j: JobSpec, v):
    j.cluster.inter_node_gbps = float(v)


def _around(row: dict) -> list:
    return []  # no fixed grid: sensitivity() takes a geometric range around the job's own value


def _set_gb(j: JobSpec, v):
    j.training.global_batch = int(v)




def _set_seq(j: JobSpec, v):
    j.training.seq_len = int(v)


def _power_values(row: dict) -> list:
    """The plan's GPU from its minimum power limit to its rated one (``power.sweep_limits``: an H100 SXM's 200, 300,
    ..., 700 W); a part without a rated limit is not swept (``power_sweeps``)."""
    hw = row["hardware"]
    return sweep_limits(hw["gpu"], hw["rated_power_limit_w"])


def _set_power(j: JobSpec, v):
    j.cluster.power_limit_w = float(v)  # held to the part's range by the loader (options.fixed_limit)


def _power_now(row: dict, j: JobSpec) -> float:
    hw = row["hardware"]
    return hw.get("power_limit_w") or hw["rated_power_limit_w"]


def power_sweeps(row: dict) -> bool:
    """Whether the power-limit sweep applies to ``row``'s plan: its GPU has a rated limit (a TPU row has none, so
    no clock law and no range to sweep)."""
    return bool(row["hardware"].get("rated_power_limit_w"))


#: the job section of each model a sweep assigns to (``Sweep.apply``), for its validation errors' field names
SECTION_OF = {"TrainingSpec": "training", "ClusterSpec": "cluster", "ParallelSpec": "parallel"}


@dataclass(frozen=True)
class Sweep:
    label: str
    values: Callable[[dict], list]
    apply: Callable[[JobSpec, Any], None]
    current: Callable[[dict, JobSpec], float]
    #: whether the sweep means something for a plan's row (the power limit: a part with a rated limit)
    applies: Callable[[dict], bool] = lambda row: True


SENSITIVITY = {
    "nodes": Sweep("nodes", _nodes_values, _set_nodes, lambda r, j: r["hardware"]["nodes"]),
    "micro_batch": Sweep("micro-batch", _mb_values, _set_mb, lambda r, j: r["config"]["micro_batch"]),
    "inter_node_gbps": Sweep("inter-node network (Gb/s per node)", _gbps_values, _set_gbps,
                             lambda r, j: r["hardware"]["inter_node_gbps"]),
    "global_batch": Sweep("global batch (sequences)", _around, _set_gb, lambda r, j: j.training.global_batch),
    "seq_len": Sweep("sequence length", _around, _set_seq, lambda r, j: j.training.seq_len),
    # the clock law's cost of a capped site (app41): each point the pinned plan at cluster.power_limit_w = v
    "power_limit_w": Sweep("power limit (W per GPU)", _power_values, _set_power, _power_now, power_sweeps),
}


def pinned_job(job: JobSpec, row: dict) -> JobSpec:
    """``job`` with every searched field fixed to a result row's configuration, so that
    ``estimate_job`` reproduces that row and one input can be varied from it."""
    j = job.model_copy(deep=True)
    cfg, hw = row["config"], row["hardware"]
    if hw["cloud"] != "-":
        j.cluster = j.cluster.model_copy(update=dict(instance=hw["name"], gpu=None, gpus_per_node=None))
    elif hw.get("segment_trays"):
        # an NVL72 rack's Slurm segment sets the node (its trays x 4 GPUs) and refuses a gpus_per_node beside it
        # (options.segment_gpus); the plan's own segment, which recommend searches where the job leaves it open.
        # QA 62: the node's 32 GPUs were pinned beside the job's segment 8, and every sensitivity row (the current
        # one too) was refused, which the report's risks read as "this layout cannot scale beyond 3 nodes"
        j.cluster = j.cluster.model_copy(update=dict(gpu=hw["gpu"], gpus_per_node=None, segment=hw["segment_trays"]))
    else:
        j.cluster = j.cluster.model_copy(update=dict(gpu=hw["gpu"], gpus_per_node=hw["gpus_per_node"]))
    j.cluster.nodes = hw["nodes"]
    for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero"):
        setattr(j.parallel, k, cfg[k])
    if cfg.get("etp") not in (None, cfg["tp"]):  # a searched expert-TP other than TP (left out, etp = tp)
        j.parallel.etp = cfg["etp"]
    # the plan's HSDP shard group (Layout.dp_shard; absent: ZeRO over the whole DP group): left out, the pinned job
    # sharded over all of DP, and Llama-3-70B LoRA on 2 x p4d at TP4 DP4 dp_shard 2 (recommend's plan, 59.4 s a step)
    # was swept from a 74.8 s one (session 34, tests/test_plan_agreement.py)
    j.parallel.dp_shard = cfg.get("dp_shard")
    j.parallel.sequence_parallel = cfg["sp"]
    j.parallel.schedule = cfg["schedule"]
    j.training.micro_batch = cfg["micro_batch"]
    j.training.recompute = cfg["recompute"]
    if cfg.get("recompute_modules"):  # a recompute list the search chose (planner.search.space)
        j.training.recompute_modules = list(cfg["recompute_modules"])
    if cfg.get("recompute_method"):  # a partial full recompute the search chose or the job set
        j.training.recompute_method = cfg["recompute_method"]
        j.training.recompute_num_layers = cfg["recompute_num_layers"]
    st = row.get("stack") or {}
    if st:  # the stack and the options the search chose (offload, reshard; framework auto: the stack) are the plan's
        j.training.framework = job_for_plan(j, st).training.framework
    return j


def _reloadable(j: JobSpec) -> dict:
    """A JobSpec as a document ``load_job_dict`` accepts again (model given by its fields)."""
    doc = j.model_dump(exclude_none=True, exclude={"assumptions"})
    return doc


def sensitivity(job: JobSpec, row: dict, what: str, catalog=None, profile=None, values=None) -> pd.DataFrame:
    """Step time, time to train, cost, MFU and memory of ``row``'s plan as input ``what`` takes
    each of ``values`` (default: a geometric range around the current value), all else held.

    Each point is one ``estimate_job`` call — the same model as the search, a handful of points.
    A value that makes the layout impossible (e.g. a global batch that micro-batch x DP no longer
    divides) is kept as a row with its reason in ``note`` and NaN numbers.

    ``meets_deadline`` and ``within_budget``: whether the row's ranked hours and cost are within the job's
    ``constraints.deadline_hours`` and ``budget_usd`` (``training.limits_met``), as the search filters its plans; ``fits``
    is memory alone (QA 83: llama3-70b.yaml's 64-node row fits at 309.4 d, past its 90-day deadline)."""
    if what not in SENSITIVITY:
        raise InputError("sensitivity", f"unknown input {clip(what)}; choose from {', '.join(SENSITIVITY)}")
    sw = SENSITIVITY[what]
    if not sw.applies(row):
        raise InputError("sensitivity", f"{sw.label} does not apply to {row['hardware']['gpu']}: its catalog row has "
                                        "no rated power limit")
    base = pinned_job(job, row)
    cur = sw.current(row, job)
    if values is None:
        values = sw.values(row)
        if not values:  # geometric around the job's own value
            values = sorted({max(1, int(round(cur * f))) for f in (0.25, 0.5, 1, 2, 4)})
    values = sorted(set(values) | {cur})
    rows = []
    for v in values:
        j = base.model_copy(deep=True)
        rec = dict(value=float(v), current=bool(math.isclose(v, cur, rel_tol=1e-9)), note="")
        try:
            sw.apply(j, v)
            j = load_job_dict(_reloadable(j))  # re-run the cross-field checks on the changed job
            r = estimate_job(j, catalog, profile)
        except (InputError, ValueError) as e:
            if isinstance(e, ValidationError):
                # a value the section's own validator refuses on assignment: its first problem in the loader's
                # words ("training: micro_batch (2) exceeds global_batch (1)"), not pydantic's multi-line text
                # with the model's repr and a URL, which the report's and the app's tables showed
                e = from_validation(e, SECTION_OF.get(e.title, ""), default="job")
            rec.update(step_time_s=np.nan, hours=np.nan, cost_ondemand_usd=np.nan, cost_spot_usd=np.nan,
                       mfu=np.nan, hfu=np.nan, mem_gib=np.nan, fits=False, meets_deadline=None, within_budget=None,
                       bottleneck="", note=str(e))
            rows.append(rec)
            continue
        c = r.cost
        # as the plan is ranked: a spot job's expected cost with interruptions (else the sticker), and with the job's
        # checkpoint pauses and node failures where its checkpoint section sets them (results.ranked_price)
        spot, od = c.price(True), c.price(False)
        met = limits_met(j, c)
        rec.update(step_time_s=r["step_time_s"], hours=c.hours_at(bool(j.constraints.spot)),
                   meets_deadline=met.deadline, within_budget=met.budget,
                   cost_ondemand_usd=od if od is not None else np.nan,
                   cost_spot_usd=spot if spot is not None else np.nan,
                   mfu=r["mfu"], hfu=r["hfu"], mem_gib=r["memory_per_gpu_bytes"]["total"] / 2**30, fits=r["fits"],
                   bottleneck=r["bottleneck"], gpus=r["hardware"]["gpus"],
                   breakdown=jsonable(r["breakdown_s"]))
        rows.append(rec)
    import pandas as pd  # (here: the sweep's table; a plan without one needs no pandas)

    return pd.DataFrame(rows)
