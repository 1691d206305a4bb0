"""Typed results passed between modules: a plan, its cost, step and memory breakdowns, a
recommendation.

They are frozen dataclasses whose attribute names *are* the JSON contract of DESIGN.md
(``planner estimate --json``): ``to_json()`` gives that JSON object, and each result also reads
like it (``plan["cost"]["hours"]`` is ``plan.cost.hours``), so scripts written against the JSON
read the in-memory result the same way. A result is never changed in place; a later stage (the
simulator's re-ranking) makes a new one with ``dataclasses.replace``.

>>> c = Cost(steps=10.0, hours=2.0, days=2 / 24, gpu_hours=16.0, tokens=None, cost_ondemand_usd=20.0,
...          cost_spot_usd=8.0, usd_per_million_tokens=None)
>>> c.price(spot=True), c["hours"], c.to_json()["cost_ondemand_usd"]
(8.0, 2.0, 20.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

import numpy as np


def jsonable(x: Any) -> Any:
    """Plain JSON values: dataclasses and mappings to dicts, numpy scalars to numbers; a NaN or
    infinity (not JSON) to ``None``."""
    if isinstance(x, Record):
        return x.to_json()
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


class Record:
    """Read access by the JSON names (``r["hours"]``, ``r.get("buy")``, ``{**r}``) and ``to_json``.
    Fields listed in ``_not_json`` (e.g. a whole DataFrame) stay out of the JSON."""

    _not_json: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def items(self):
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_json(self) -> dict:
        return {k: jsonable(v) for k, v in self.items() if k not in self._not_json}


@dataclass(frozen=True)
class Memory(Record):
    """Bytes per GPU on the most loaded rank (planner.model.memory)."""

    weights: float
    grads: float
    optimizer: float
    activations: float
    logits: float
    other: float
    total: float
    capacity: float
    most_loaded_stage: str  # "first" | "last" pipeline stage
    usable: Optional[float] = None  # capacity minus the driver/context reserve
    limit: Optional[float] = None  # usable x (1 - headroom): what a plan may use
    headroom: Optional[float] = None  # the required free share of usable memory
    margin: Optional[float] = None  # usable - total: bytes left free on the most loaded rank
    host: float = 0.0  # bytes per GPU offloaded to host RAM (planner.model.offload)


@dataclass(frozen=True)
class StepBreakdown(Record):
    """Seconds of one step by cause (planner.model.step_time.BREAKDOWN_KEYS) and their compute sum."""

    compute_gemm: float
    compute_attention: float
    compute_memory_bound: float
    comm_tp: float
    comm_cp: float
    comm_ep: float
    comm_pp: float
    comm_zero3: float
    comm_dp: float
    bubble: float
    optimizer: float
    data_stall: float
    compute: float
    offload: float = 0.0  # exposed host-link copies of activation/optimizer offload


@dataclass(frozen=True)
class Layout(Record):
    """The parallel layout and batch settings of a plan."""

    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    vpp: int
    zero: int
    sp: bool
    schedule: str
    gpus_per_node: int
    nodes: int
    recompute: str
    micro_batch: int
    num_microbatches: float
    etp: int | None = None  # expert-tensor-parallel degree (tp unless the job sets parallel.etp)
    #: what the stack offloads to host memory: "none" | "optimizer" | "activation" |
    #: "optimizer+activation" (training.framework options, planner.model.offload)
    offload: str = "none"


@dataclass(frozen=True)
class Hardware(Record):
    name: str
    cloud: str
    gpu: str
    gpus_per_node: int
    nodes: int
    gpus: int
    inter_node_gbps: float
    intra_node_gbps_per_gpu: float
    price_ondemand_usd_hr: Optional[float]
    price_spot_usd_hr: Optional[float]
    network_assumed: bool = False  # inter_node_gbps is the default for an unknown fabric, not sourced
    multi_node: bool = True  # the catalog lets this hardware form a multi-node cluster


@dataclass(frozen=True)
class Cost(Record):
    """Time and money of a whole run (planner.model.cost.cost_summary)."""

    steps: float
    hours: float
    days: float
    gpu_hours: float
    tokens: Optional[float]
    cost_ondemand_usd: Optional[float]
    cost_spot_usd: Optional[float]
    usd_per_million_tokens: Optional[float]
    buy: Optional[dict] = None
    #: spot plans: expected cost and time with interruptions (planner.simulate.interruptions)
    spot_risk: Optional[dict] = None
    #: reserved / committed-use prices of the instance, each with the run's cost at it
    committed: tuple = ()

    def price(self, spot: bool) -> Optional[float]:
        """The run's cost at spot or on-demand prices (``None`` where no price is known); a spot
        plan with an interruption model costs its expected cost."""
        if spot and self.spot_risk:
            return self.spot_risk["expected_cost_usd"]
        return self.cost_spot_usd if spot else self.cost_ondemand_usd

    def keys(self) -> list[str]:  # "buy", "spot_risk", "committed" only where computed, as in the JSON
        return [k for k in super().keys() if (k != "buy" or self.buy is not None)
                and (k != "spot_risk" or self.spot_risk is not None) and (k != "committed" or self.committed)]


@dataclass(frozen=True)
class Simulated(Record):
    """The simulator's check of a plan (steady state after the loaders' warm-up)."""

    step_time_s: float
    analytic_step_time_s: float
    data_wait_share: float
    gpu_busy_share: float
    samples_per_s: float
    steps: int
    seed: int


@dataclass(frozen=True)
class Plan(Record):
    """One configuration and its numbers: the ``planner estimate --json`` contract."""

    model: str
    throughput_unit: str  # "tokens" | "samples"
    params: int
    params_active: int
    flops_per_step: float
    hw_flops_per_step: float
    step_time_s: float
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    mfu: float
    hfu: float
    fits: bool
    memory_per_gpu_bytes: Memory
    breakdown_s: StepBreakdown
    config: Layout
    hardware: Hardware
    detail: dict  # the per-micro-batch times the simulator starts from (SimConfig.from_estimate)
    cost: Cost
    bottleneck: str = ""
    advice: tuple[str, ...] = ()
    simulated: Optional[Simulated] = None
    assumptions: tuple[str, ...] = ()
    inputs: Optional[dict] = None
    #: the training stack the plan assumes: ``name``, every option's value, and ``searched`` (the
    #: options the job left open that ``recommend`` chose)
    stack: Optional[dict] = None

    def to_json(self) -> dict:
        out = super().to_json()
        if self.simulated is None:
            out.pop("simulated")
        if self.inputs is None:  # a ranked row of a search: its assumptions are the search's
            out.pop("assumptions")
            out.pop("inputs")
        return out


@dataclass(frozen=True)
class Recommendation(Record):
    """What ``planner recommend`` answers: the ranked plans, the winner and why."""

    objective: str
    spot: bool
    evaluated: int
    fits_memory: int
    feasible: int
    search_seconds: float
    configs_per_second: float
    best: Plan
    why: str
    ranked: tuple[Plan, ...]
    pareto: tuple[dict, ...]
    notes: tuple[str, ...]
    assumptions: tuple[str, ...]
    inputs: dict
    table: Any = field(default=None, repr=False)  # every feasible configuration (pandas), best first
    #: the assumptions that move the ranking (efficiency priors, fp8, network, spot), printed under it
    caveats: tuple[str, ...] = ()

    _not_json = ("table",)
