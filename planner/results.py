"""Typed results passed between modules: a plan, its cost, step and memory breakdowns, a
recommendation; a serving plan and its options, a tabular (GBDT) plan, a campaign comparison.

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
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import cached_property
from typing import Any, Optional

import numpy as np

from planner.units import fmt_time, ordinal
from planner.vocab import ON_DEMAND, SERVE_ALL2ALL, SERVE_OVERLAP


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


#: the parts a rank's memory is split into, in the order its records hold them and reports list them (planner.model
#: .memory): ``Memory`` (the most loaded rank) and ``RankTotal`` (each pipeline rank class) carry each, and ``total``
#: their sum. Written once for the memory model's per-rank rows, the search's ``Memory`` and the memory table and chart
MEMORY_PARTS = ("weights", "grads", "optimizer", "activations", "logits", "other")


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
    #: "first" | "middle" | "last": the rank class holding ``total`` (memory.PEAK_STAGES; RankMemory.peak_stage's;
    #: "middle" since mem43b, where a middle rank peaks and it read "first")
    most_loaded_stage: str
    limit: Optional[float] = None  # capacity x (1 - headroom): what a plan may use
    headroom: Optional[float] = None  # the required free share of the GPU's memory
    margin: Optional[float] = None  # capacity - total: bytes left free on the most loaded rank
    host: float = 0.0  # bytes per GPU offloaded to host RAM (planner.model.offload)
    host_limit: Optional[float] = None  # bytes per GPU of host RAM a plan may fill (offload.host_limit)
    #: the HF model code's walked step (memory_activations._hf_walk_arrays): autograd's ``.grad`` tensors are in ``activations``,
    #: ``grads`` holds the stack's own buffers only (none for one HF Trainer process: a full fine-tune read "grads 0.00")
    grads_in_activations: bool = False
    #: bytes of ``other`` that are the MoE token dispatcher's own buffers (DeepEP / HybridEP, allocated once:
    #: planner.model.memory ``moe_comm_buffers``); 0 for the all-to-all dispatcher and dense models
    comm_buffers: float = 0.0


@dataclass(frozen=True)
class RankTotal(Record):
    """One pipeline rank's memory, bytes per GPU: its own states, activations with its own rebuild, logits / loss
    where it holds the head, and ``other`` (planner.model.memory ``rank_class_rows``)."""

    rank: Optional[int]  # the pipeline rank (None: DualPipeV's fullest rank past 0, whose index is not kept)
    stage: str  # "first" (rank 0) | "middle" (the one of ranks 1 .. pp - 2 that peaks) | "last"
    weights: float
    grads: float
    optimizer: float
    activations: float
    logits: float
    other: float
    total: float


@dataclass(frozen=True)
class RankMemory(Record):
    """Which pipeline rank holds the peak and by how much (planner.model.memory ``rank_memory``): ``ranks`` rank 0,
    the middle rank that peaks (where pp > 2; mem43b: each at its own micro-batches in flight) and the last, each
    its own states beside its own activations; ``peak`` is the memory model's total (``Memory.total``, what the
    search fits: since mem43 the same per-rank peak; until then a ``paired`` total with the heaviest rank's states
    beside another rank's activations, and its ``over_count``)."""

    ranks: tuple[RankTotal, ...]
    peak_rank: Optional[int]
    peak_stage: str
    peak: float


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
    #: Megatron-Core's per-module selective recompute (training.recompute_modules), when the job
    #: sets it; in the JSON only then
    recompute_modules: Optional[tuple[str, ...]] = None
    #: hybrid sharded data parallelism: ZeRO's shard group's DP degree when below dp (``parallel.dp_shard``;
    #: dp / dp_shard replicas); None: ZeRO over the whole DP group. In the JSON only when set
    dp_shard: Optional[int] = None
    #: ZeRO-2/3 run as Megatron-FSDP (the stack option ``megatron_fsdp``: ``optim_grads`` / ``optim_grads_params``)
    #: rather than the stack's own ZeRO; in the JSON only when True
    megatron_fsdp: bool = False
    #: partial full recompute (training.recompute_method / recompute_num_layers, Megatron --recompute-method
    #: block|uniform --recompute-num-layers N); None: every layer checkpointed (full) or no full recompute.
    #: In the JSON only when set
    recompute_method: Optional[str] = None
    recompute_num_layers: Optional[int] = None
    #: the job's explicit Megatron-Core pipeline layout (stack option ``pp_layout``), in the JSON only when set, and the
    #: decoder layers the priced split puts on each pipeline rank (its virtual stages summed: planner.model.pipeline
    #: ``stage_layer_split``; the job's layout, else the split the stack launches: ``split_runtime``), in the JSON
    #: wherever PP > 1
    pp_layout: Optional[str] = None
    rank_layers: Optional[tuple[int, ...]] = None
    #: "megatron" where the plan runs Megatron's own split because the balanced one (the default, stack option
    #: ``pp_split``) did not fit; in the JSON only when set
    pp_split: Optional[str] = None
    #: Megatron-Core's ``--cp-comm-type`` the plan priced (stack option ``cp_comm_type``, the job's or the one recommend
    #: chose); in the JSON only at CP > 1 on the stacks that have it
    cp_comm_type: Optional[str] = None
    #: micro-batches per run of the pipeline schedule where the loop runs it once per gradient-accumulation step (stack
    #: option ``pp_pass_microbatches``: torchtitan's / NeMo AutoModel's local_batch_size over the micro-batch, the job's
    #: or the one recommend chose); in the JSON only at PP > 1 where set
    pp_pass_microbatches: Optional[int] = None

    def keys(self) -> list[str]:
        return [k for k in super().keys() if (k != "pp_layout" or self.pp_layout is not None)
                and (k != "rank_layers" or self.rank_layers is not None) and (k != "pp_split" or self.pp_split is not None)
                and (k != "recompute_modules" or self.recompute_modules is not None)
                and (k not in ("recompute_method", "recompute_num_layers") or self.recompute_method is not None)
                and (k != "dp_shard" or self.dp_shard is not None) and (k != "megatron_fsdp" or self.megatron_fsdp)
                and (k != "cp_comm_type" or self.cp_comm_type is not None)
                and (k != "pp_pass_microbatches" or self.pp_pass_microbatches is not None)]


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
    network_assumed: bool = False  # inter_node_gbps is assumed: not stated by the job nor sourced for the instance
    network_reference: bool = False  # ... and it is the GPU's reference fabric, not the default for an unknown one
    multi_node: bool = True  # the catalog lets this hardware form a multi-node cluster
    #: a bare-GPU cluster's reference (planner.hardware.options.reference_network): the catalog instance or
    #: reference system (``planner catalog systems``) whose network, host RAM and, for a system, node size
    #: stand in where the job does not state them; None for an instance or a GPU with neither
    reference_system: Optional[str] = None
    #: GPUs one OS host holds when a node is a larger NVLink domain (a bare GB200 / GB300 cluster: 72-GPU racks of
    #: 4-GPU trays); launch specs count hosts; None: a host is a node
    gpus_per_host: Optional[int] = None
    #: on a rack-scale NVLink system (GB200 / GB300 NVL72): the Slurm ``--segment`` (trays) whose GPUs,
    #: ``gpus_per_node``, are the plan's NVLink domain, the rack's GPUs, and those of each rack no segment uses (paid:
    #: planner.hardware.options ``rack_segment``); None elsewhere
    segment_trays: Optional[int] = None
    rack_gpus: Optional[int] = None
    idle_gpus_per_rack: Optional[int] = None
    #: the racks such a plan rents, whole (planner.hardware.options ``racks_billed``): its cost pays them all
    racks_billed: Optional[int] = None
    #: the provider rate that priced a bare-GPU plan where the job gave none (planner.hardware.options
    #: ``system_rate``: a reference system's ``system_prices.csv`` row; gbprice42): provider, system, region,
    #: usd_per_system_hour, price_date, read (first-hand or a second-hand copy), source; None elsewhere
    price_quote: Optional[dict] = None
    #: where the plan has no price, why, where the search for a rate is recorded (a reference system's
    #: ``System.no_price_why``: GB300 NVL72; cost43); None elsewhere
    no_price_why: Optional[str] = None
    #: the fabric the inter-node bandwidth was priced on (``HardwareOption.network_fabric``: efa, infiniband, roce,
    #: ethernet...; a bare GPU's reference row's where it was assumed: cost43); None where no row says
    network_fabric: Optional[str] = None
    #: what text calls one accelerator: "GPU", or "chip" for TPUs and Trainium (planner.hardware.platform.device_noun);
    #: the JSON's counts keep their names (``gpus``, ``gpus_per_node``) whatever the device
    device: str = "GPU"
    #: the power limit the GPUs are held at (W: the job's ``cluster.power_limit_w``, in a search the lower of it and
    #: the part's rated limit; planner.hardware.power), the part's rated limit, and the clock the limit leaves over
    #: the part's own at its rated limit (planner.model.physics ``power_clock``); None / 1 where the job sets none
    power_limit_w: Optional[float] = None
    rated_power_limit_w: Optional[float] = None
    clock_at_power_limit: float = 1.0


@dataclass(frozen=True)
class Cost(Record):
    """Time and money of a whole run (planner.model.cost.cost_summary)."""

    steps: float
    hours: float
    days: float
    gpu_hours: float
    tokens: Optional[float]  # the run's real tokens: a padded dataset's padding left out (cost.total_tokens)
    cost_ondemand_usd: Optional[float]
    cost_spot_usd: Optional[float]
    usd_per_million_tokens: Optional[float]
    buy: Optional[dict] = None
    #: spot plans: expected cost and time with interruptions (planner.simulate.interruptions)
    spot_risk: Optional[dict] = None
    #: reserved / committed-use prices of the instance, each with the run's cost at it
    committed: tuple = ()
    #: a padded dataset's share of row positions that are padding (TrainingSpec.padding_share; None: no padding):
    #: computed and timed, left out of ``tokens`` and so of $ per 1M tokens
    padding_share: Optional[float] = None
    #: the dates of the prices the cost used (``cost.price_dates`` summed up by ``hardware_catalog.catalog.oldest_price``:
    #: the oldest, its kind (exact, a ``not before`` bound, prices38, or a ``not after`` cap, prices39), its age in days
    #: (at most, for a bound; at least, for a cap), whether it is stale or may be, the stale, bounded, capped and undated
    #: ones); None where no price was used;
    #: before the job sections' records, which stay last
    price_dates: Optional[dict] = None
    #: the rate ``cost_ondemand_usd`` (and the buy comparison) is at: "on-demand", the catalog's, or
    #: "cluster.price_usd_hr", the job's own rate, which replaces it (planner.vocab.PRICE_BASIS; QA 60: it was
    #: labelled on-demand)
    price_basis: str = ON_DEMAND
    #: the rate ``usd_per_million_tokens`` (and recommend's ``cost.ranked``) is at, the figures the plan is ranked at:
    #: "spot" on a spot job with a spot price, else ``price_basis`` (planner.hardware.options.ranked_basis). Added beside
    #: ``price_basis`` in QA 75, which a spot search's rows read as the ranking's basis (the top level said "spot")
    ranked_price_basis: str = ON_DEMAND
    #: with the job's own rate: the catalog's on-demand rate of the instance (USD per node-hour), what the committed
    #: prices' ``ondemand_same_hours_usd`` and ``breakeven_busy`` are set against; None where the catalog has none
    #: (a bare GPU) or the cost is at the catalog's rate anyway
    catalog_ondemand_usd_hr: Optional[float] = None
    #: the catalog region the rates are for, where the job restricts ``constraints.regions`` (planner.model.cost
    #: ``price_region``); None otherwise
    price_region: Optional[str] = None
    #: the job's checkpoint section (cadence, MTBF): expected wall time and on-demand cost with its
    #: checkpoint pauses and node failures (planner.simulate.failures.run_overhead); ``hours`` and the
    #: costs above are the uninterrupted compute time. ``recommend`` ranks and filters on these
    #: expected figures (``price``/``hours_at``)
    checkpoint_failures: Optional[dict] = None
    #: the job's evaluation section: its passes over the run (planner.model.evaluation.eval_run: ``passes``,
    #: ``full_passes``, ``mean_s`` per pass, ``seconds``, ``hours``, ``share`` of the time to train, and
    #: ``tier_seconds``: the same run with the section's tier); ``hours`` and every cost above include them
    evaluation: Optional[dict] = None

    def price(self, spot: bool) -> Optional[float]:
        """The cost the plan is ranked at (``None`` where no price is known): see ``ranked_price``."""
        return ranked_price(self, spot)

    def with_spot_risk(self, risk: Optional[dict]) -> "Cost":
        """The cost of a spot plan with its interruption model (``planner.simulate.interruptions``):
        ``usd_per_million_tokens`` follows the expected cost the plan is ranked at, as the search
        table's ``usd_per_token`` and the cost column do (it stayed at the sticker spot price)."""
        if not risk:
            return replace(self, spot_risk=None)
        per_m = risk["expected_cost_usd"] / self.tokens * 1e6 if self.tokens else self.usd_per_million_tokens
        return replace(self, spot_risk=risk, usd_per_million_tokens=per_m)

    def hours_at(self, spot: bool) -> float:
        """Wall hours the plan is ranked at: see ``ranked_hours``."""
        return ranked_hours(self, spot)

    def keys(self) -> list[str]:  # "buy", "spot_risk", "committed", "price_region" only where set, as in the JSON
        return [k for k in super().keys() if (k != "buy" or self.buy is not None)
                and (k != "spot_risk" or self.spot_risk is not None) and (k != "committed" or self.committed)
                and (k != "checkpoint_failures" or self.checkpoint_failures is not None)
                and (k != "evaluation" or self.evaluation is not None)
                and (k != "price_dates" or self.price_dates is not None)
                and (k != "price_region" or self.price_region is not None)]


def checkpoint_words(cf: Optional[dict]) -> str:
    """What a ``Cost.checkpoint_failures`` record adds to the time, in words: "checkpoint pauses and node
    failures", or only the one the job's section sets (a cadence without an MTBF has no failures; an
    MTBF without a cadence no pauses); "" without a record."""
    if not cf:
        return ""
    pauses = cf.get("checkpoint_every_steps") and not cf.get("checkpoint_beyond_run")  # a cadence past the run pauses never
    parts = (["checkpoint pauses"] if pauses else []) + (
        ["node failures"] if cf.get("job_mtbf_hours") is not None else [])
    return " and ".join(parts) or "checkpoint pauses and node failures"


def evaluation_line(ev: Optional[dict]) -> str:
    """The job's evaluation passes (``Cost.evaluation``), in words with their numbers: what the time to
    train and the cost hold beside the training steps ("" without an evaluation section). ``estimate``,
    ``recommend`` and ``report`` said "evaluation left out" and quoted training steps only, while
    ``simulate``'s wall time held the passes."""
    if not ev:
        return ""
    line = (f"evaluation: {ev['passes']:,} passes x {fmt_time(ev['mean_s'])} = {fmt_time(ev['seconds'])} "
            f"({ev['share']:.1%} of the run), in the time and cost (every {ev['every_steps']:,} steps, forward-only "
            f"over the full {ev['samples']:,.0f}-sample set, as `planner simulate` plays it")
    if ev.get("full_every", 1) > 1 and ev.get("tier_seconds") is not None:
        line += (f"; the tier, a {ev['holdout_fraction']:.0%} holdout with the full set every "
                 f"{ordinal(ev['full_every'])} pass, would take {fmt_time(ev['tier_seconds'])}")
    return line + ")"


def figures_include(cost, spot: bool) -> str:
    """What the figures a plan is ranked at (``ranked_hours`` / ``ranked_price``: the ``--csv``
    ``train_hours``/``cost``/``usd_per_token``, the JSON's ``ranked`` and the comparison rows'
    ``days``/``cost``) include, in words: "spot interruptions, checkpoint pauses[ and node failures]"
    for a spot plan with an interruption model, the job's checkpoint pauses and/or node failures
    (``checkpoint_words``) where its ``checkpoint`` section sets them, else "none (uninterrupted)";
    led by "evaluation passes" where the job's evaluation section put them in the time and cost
    (``Cost.evaluation``): the comparison rows' days held them while this said "none"."""
    risk = cost.get("spot_risk") if spot else None
    if risk:
        words = "spot interruptions, checkpoint pauses" + (" and node failures" if risk.get("node_failures")
                                                            is not None else "")
    else:
        words = checkpoint_words(cost.get("checkpoint_failures"))
    ev = cost.get("evaluation")
    if ev and ev.get("seconds", 0) > 0:
        return f"evaluation passes, {words}" if words else "evaluation passes (otherwise uninterrupted)"
    return words or "none (uninterrupted)"


def ranked_figures(cost, spot: bool) -> dict:
    """A plan's ranked time and cost with what they include and the rate they are at (``price_basis``: the cost's
    ``ranked_price_basis``; QA 75) (``Recommendation.to_json`` puts this in each ranked row's ``cost`` as
    ``ranked``; ``cost.hours`` and ``cost.cost_*_usd`` stay uninterrupted)."""
    usd = ranked_price(cost, spot)
    tokens = cost.get("tokens")
    return dict(hours=ranked_hours(cost, spot), cost_usd=usd,
                usd_per_million_tokens=usd / tokens * 1e6 if usd is not None and tokens else None,
                includes=figures_include(cost, spot), price_basis=cost.get("ranked_price_basis"))


def ranked_hours(cost, spot: bool) -> float:
    """Wall hours of a run as ``recommend`` ranks it (``cost``: a ``Cost`` or its JSON object): a spot
    plan's expected hours with interruptions (and the job's node failures) where modelled, else the
    expected hours with the job's checkpoint pauses and node failures (``checkpoint_failures``) where
    its ``checkpoint`` section sets them, else the uninterrupted compute hours."""
    risk = cost.get("spot_risk") if spot else None
    if risk:
        return risk["expected_hours"]
    cf = cost.get("checkpoint_failures")
    return cf["expected_hours"] if cf else cost["hours"]


def ranked_price(cost, spot: bool) -> Optional[float]:
    """The run's cost as ``recommend`` ranks it (``None`` where no price is known): a spot plan with an
    interruption model costs its expected cost; otherwise the spot or on-demand price for
    ``ranked_hours`` (the hours with checkpoint pauses and node failures where the job sets them)."""
    risk = cost.get("spot_risk") if spot else None
    if risk and "expected_cost_usd" in risk:
        return risk["expected_cost_usd"]
    usd = cost.get("cost_spot_usd") if spot else cost.get("cost_ondemand_usd")
    cf = cost.get("checkpoint_failures")
    if not cf or usd is None:
        return usd
    if not spot and cf.get("expected_cost_ondemand_usd") is not None:
        return cf["expected_cost_ondemand_usd"]
    return usd * cf["expected_hours"] / cost["hours"] if cost["hours"] else usd


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
    #: how far the step-time model has been on published runs of this kind (planner.model.accuracy.apply_band):
    #: the runs, the signed-error quantiles and the ranges of step time, hours and cost they imply; None where no
    #: run of any kind is in the table
    accuracy: Optional[dict] = None
    #: of ``params``, the multi-token-prediction modules' (DeepSeek-V3's depth: 11.61B of 682.64B); absent from the
    #: JSON where the model has none
    params_mtp: int = 0
    #: the per-rank memory of the plan (``RankMemory``: rank 0, the middle rank that peaks, the last), computed for
    #: the plans a command prints; None on a ranked row that was not (absent from the JSON then)
    memory_per_rank: Optional[RankMemory] = None
    #: the share of the rows' positions that are padding (``TrainingSpec.padding_share``: ``packing: padded`` rows of
    #: ``mean_example_tokens``): ``tokens_per_s`` counts row positions, padding included (the hardware's rate, MFU's
    #: basis), the real tokens a second are ``real_tokens_per_s``; absent from the JSON at 0 (QA 100)
    padding_share: float = 0.0

    @property
    def real_tokens_per_s(self) -> float:
        """Real tokens trained a second: the positions a second less the padding (``padding_share``)."""
        return self.tokens_per_s * (1.0 - self.padding_share)

    @property
    def real_tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_s_per_gpu * (1.0 - self.padding_share)

    def to_json(self) -> dict:
        out = super().to_json()
        if self.simulated is None:
            out.pop("simulated")
        if not self.params_mtp:
            out.pop("params_mtp", None)
        if self.padding_share:  # both rates where they differ: positions (above) and the real tokens
            out.update(real_tokens_per_s=self.real_tokens_per_s, real_tokens_per_s_per_gpu=self.real_tokens_per_s_per_gpu)
        else:
            out.pop("padding_share", None)
        if self.memory_per_rank is None:
            out.pop("memory_per_rank", None)
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
    #: what the outputs read of the ranked table (pandas, best first, indexed by rank): the first plan of each
    #: (hardware, node count, stack) and every Pareto-optimal plan (planner.search.recommend.RankedRows.kept_positions);
    #: bounded by those, not by the feasible plans
    kept: Any = field(default=None, repr=False)
    #: every feasible configuration, in rank order, without a table (planner.search.recommend.RankedRows): ``rows.blocks()``
    #: a block of the table at a time (``recommend --csv``), ``table`` all of it
    rows: Any = field(default=None, repr=False)
    #: the assumptions that move the ranking (efficiency priors, fp8, network, spot), printed under it
    caveats: tuple[str, ...] = ()
    #: ``training.framework: auto``: each stack searched, its best plan against the chosen one, or why it
    #: has none (planner.search.rank.stack_comparison); absent from the JSON when the job names its stack
    stacks: tuple[dict, ...] = ()
    #: each GPU ``constraints.gpus`` lists that has no ranked plan: ``{"gpu", "status" ("left out": not searched;
    #: "no plan": searched, none fits or meets the constraints), "reason"}`` (the ``constraints.gpus:`` caveat's line);
    #: absent from the JSON when empty
    no_plan: tuple[dict, ...] = ()
    #: what the ranked cost (the table's ``cost``, the ``--by`` / ``--scaling`` / ``compare`` rows' ``cost``) is
    #: priced at: "on-demand", "spot" or "cluster.price_usd_hr" (planner.vocab.PRICE_BASIS)
    price_basis: str = ON_DEMAND
    #: what the ranked time and cost (the table's ``train_hours``/``cost``, the view rows' ``days``/``cost``,
    #: each ranked row's ``cost.ranked``) include: ``figures_include`` of the best plan
    figures_include: str = "none (uninterrupted)"
    #: what the ``--by`` / ``--scaling`` / ``compare`` views (rows of the analytic search's ``table``) leave out
    #: that the ranked plans have: a data-bound job's input pipeline (the views quoted 44.4 min and $40.68 for
    #: the plan recommend ranks at 10.0 h and $552.63). Empty, and absent from the JSON, when there is nothing.
    views_note: str = ""
    #: each (hardware, node count) with plans that fit in memory but none within the constraints, and why:
    #: ``{"hardware", "nodes", "reason"}`` (planner.search.recommend._nodes_cut); ``--scaling`` says the winner's,
    #: in the text and as ``--json``'s ``scaling_left_out``
    nodes_cut: tuple[dict, ...] = ()

    _not_json = ("kept", "rows", "nodes_cut")

    @cached_property
    def table(self):
        """Every feasible configuration (pandas), best first: the whole ranked table, built on first use (~0.55 KB a
        plan, ``rows.frame()``); the outputs read ``kept`` and ``rows.blocks()`` instead."""
        return None if self.rows is None else self.rows.frame()

    def keys(self) -> list[str]:
        return [k for k in super().keys() if (k != "stacks" or self.stacks) and (k != "views_note" or self.views_note)
                and (k != "no_plan" or self.no_plan)]

    def to_json(self) -> dict:
        """The JSON, with each ranked plan's (and the best one's) ``cost.ranked``: the time and cost it is
        ranked at and what they include (``ranked_figures``)."""
        out = super().to_json()
        for plan, row in [(self.best, out["best"])] + list(zip(self.ranked, out["ranked"])):
            row["cost"]["ranked"] = jsonable(ranked_figures(plan.cost, self.spot))
        return out


# ------------------------------------------------------------------------------------------------
# Serving, tabular and campaign answers (planner.workloads.serving / tabular / campaign): the JSON of
# ``planner serve`` and of ``planner recommend`` on a tabular job, and the ``campaign`` comparison.
# ------------------------------------------------------------------------------------------------

class Sparse(Record):
    """A record whose JSON leaves out what was not worked out for it (a row that does not fit has
    no batch; an unpriced one no $): a ``None`` field is absent — ``"batch" not in row``,
    ``row["batch"]`` raises ``KeyError``, ``row.get("batch", "-")`` gives ``"-"`` — except the
    fields ``_present`` says are there, ``None`` or not, given the rest of the record."""

    def _present(self, name: str) -> bool:
        return getattr(self, name) is not None

    def keys(self) -> list[str]:
        return [k for k in super().keys() if k not in self._not_json and self._present(k)]

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default


def replica_layout(option) -> str:
    """How a serving replica splits the model, as every line that names an option says it: "EP8" (expert parallel:
    ``ep`` > 1; "EP8 deepep_low_latency" where it exchanges tokens by other than vLLM's default all-gather, the
    ``all2all`` field; "EP16 deepep two_batch" where its steps split into two overlapped micro-batches, the ``overlap``
    field), else "TP8". ``option``: a :class:`ServingOption` or its JSON (a report, a chart and the app
    read the JSON), so the report, the charts, the app and the planner's own messages name an EP option alike (until
    QA 88 / serveep48b they printed "TP8" for EP8).

    >>> replica_layout({"tp": 8, "ep": 8}), replica_layout({"tp": 4, "ep": 1}), replica_layout({"tp": 2})
    ('EP8', 'TP4', 'TP2')
    """
    if (option.get("ep") or 1) <= 1:
        return f"TP{option['tp']}"
    backend, overlap = option.get("all2all"), option.get("overlap")
    return (f"EP{option.get('ep')}" + (f" {backend}" if backend not in (None, SERVE_ALL2ALL.names[0]) else "")
            + (f" {overlap}" if overlap not in (None, SERVE_OVERLAP.names[0]) else ""))


@dataclass(frozen=True, kw_only=True)
class ServingOption(Sparse):
    """One way to serve the model: a (hardware, GPUs per replica, precision) option with its batch,
    latency, replicas and $ — analytic, and where simulated re-sized by the simulation.

    Fields are filled as far as the option got: one that does not fit stops at ``fits``/``reason``,
    one that misses the latency target at ``meets_latency``/``reason``; replicas and $/h only for a
    QPS; the offline $ only with a price. The field order is the JSON's, the order the planner works
    the numbers out in, except two placements kept from the JSON scripts already read: a generic
    model's ``compute_dtype`` and ``reachable_tflops`` come before ``fits`` (known before memory is checked), and a
    simulated option's ``reason`` (why the simulation rejected it) after ``simulated``."""

    hardware: str
    gpu: str
    tp: int  # GPUs per replica (tensor parallel; an expert-parallel replica's GPUs, ``ep``)
    #: MoE LLMs: the expert-parallel ranks a replica's experts are spread over with data-parallel attention (= ``tp``,
    #: its GPUs; planner/workloads/serving_memory.py ``ReplicaSplit``), 1 where tensor parallelism splits them; absent
    #: for dense models
    ep: Optional[int] = None
    #: an expert-parallel option's token exchange, vLLM's ``--all2all-backend`` (``vocab.SERVE_ALL2ALL``;
    #: planner/workloads/serving_iteration.py ``EP_ALL2ALL``); absent on TP options and dense models
    all2all: Optional[str] = None
    #: an expert-parallel option's two-batch overlap (``vocab.SERVE_OVERLAP``: none, or two_batch -- SGLang
    #: ``--enable-two-batch-overlap`` / vLLM ``--enable-dbo``, planner/workloads/serving_iteration.py
    #: ``BATCH_OVERLAP``); absent on TP options and dense models
    overlap: Optional[str] = None
    gpus_per_node: int
    weights_gib_per_gpu: float
    #: LLMs: KV of one token with every layer keeping the whole context (``kv_bytes_per_token``)
    kv_mib_per_token_per_gpu: Optional[float] = None
    #: LLMs: tokens of KV the free memory holds — models with sliding-window / chunked layers: as
    #: sequences at the job's context (prompt + output), whose local layers keep only their window
    kv_capacity_tokens: Optional[int] = None
    #: models with sliding-window / chunked layers, and jobs with a shared prefix, only: one sequence's KV
    #: at the job's context as the engine keeps it (global layers the whole context, local layers the
    #: window; less the shared prefix's blocks, held once per replica)
    kv_mib_per_sequence_per_gpu: Optional[float] = None
    #: a job with ``serving.shared_prefix_tokens``: the prompt tokens the engine's prefix cache serves
    #: (whole blocks of the shared prefix) and their KV, held once per replica (the sequence's own KV,
    #: ``kv_mib_per_sequence_per_gpu``, is then the rest); absent otherwise
    prefix_cached_tokens: Optional[int] = None
    kv_mib_shared_prefix_per_gpu: Optional[float] = None
    batch_memory_limit: int
    price_usd_hr: Optional[float]  # on-demand, per node (instance)
    price_spot_usd_hr: Optional[float]
    fits: bool
    tpot_batch1_ms: Optional[float] = None  # generic models: p99 latency at batch 1
    ttft_batch1_ms: Optional[float] = None  # LLMs
    compute_dtype: Optional[str] = None  # the precision the GEMMs run in
    #: the per-GPU FLOP/s (TFLOP/s) of ``compute_dtype`` the option is priced at before the engine's efficiencies: the
    #: catalog peak at the sustained clock training prices too (``serving_iteration.compute_peak``; serve40)
    reachable_tflops: Optional[float] = None
    #: the power limit (W) the option's GPUs are held at (``cluster.power_limit_w``, in a search the lower of it and
    #: the part's rated limit: planner.hardware.power), which ``reachable_tflops`` and the buy figures read; in the
    #: JSON only where the job sets one
    power_limit_w: Optional[float] = None
    meets_latency: Optional[bool] = None
    reason: Optional[str] = None  # why it does not fit / meet the target
    # -- the largest batch meeting the target (Little's law gives the throughput at it)
    batch: Optional[int] = None
    #: a real-time job with a QPS: the requests in flight on a replica of the analytic size (Little's law,
    #: ``screen_concurrency``); ``tpot_ms`` is then the TPOT at that load, else at a full ``batch``
    concurrency: Optional[float] = None
    tpot_ms: Optional[float] = None  # generic models: p99 request latency; None (null) at serving.output_tokens 1
    ttft_ms: Optional[float] = None  # None for generic models
    bound: Optional[str] = None  # "memory" | "compute"
    tokens_per_s_per_replica: Optional[float] = None  # LLMs
    requests_per_s_per_replica: Optional[float] = None
    #: an LLM's token budget (vLLM ``max_num_batched_tokens``) the row's throughput, TTFT, TPOT and analytic replicas
    #: are stated at (serve45): the screen's (``serving_screen.budget_replicas``, the one needing the fewest replicas),
    #: the simulation's pick where simulated; ``token_budget_by`` says which ("fewest replicas" / "simulated"), None
    #: where the row is not sized for a QPS (2,048, vLLM V1's online default)
    token_budget: Optional[int] = None
    token_budget_by: Optional[str] = None
    batch_offline: Optional[int] = None  # the memory-limited batch, no latency target
    requests_per_s_offline: Optional[float] = None
    tokens_per_s_offline: Optional[float] = None  # LLMs
    #: LLMs: the token budget the offline figures are at, the fastest of ``serving_screen.OFFLINE_TOKEN_BUDGETS`` at
    #: ``batch_offline`` (``serving_screen.offline_token_budget``; 8,192 always until QA 67)
    token_budget_offline: Optional[int] = None
    #: a real-time LLM job with a QPS: the fewest replicas whose queued TTFT meets the target (``queue_replicas``),
    #: the analytic size before the ``min_gpus`` floor: not in the JSON (``replicas`` / ``analytic_replicas`` are)
    queue_replicas: Optional[int] = None
    #: the replicas the throughput the screen sized at needed, ceil(QPS / requests/s at the screen's budget; 2,048's
    #: until serve45), where the queue search started (``queue_replicas``' r0): ``serving_budget.fleet_bound`` reads
    #: it, a simulated row's throughput being re-stated at the simulation's budget (not in the JSON)
    throughput_replicas: Optional[int] = None
    #: the target whose queued p99 raised ``queue_replicas`` over ``throughput_replicas`` (``queue_replicas``): "ttft"
    #: or "tpot", None where it did not; ``serving_budget.fleet_bound`` reads it (not in the JSON)
    replicas_raised_by: Optional[str] = None
    #: what held a real-time LLM option's batch down (``llm_option``): "tpot" or "ttft" (the target's p99 at a larger
    #: batch is over it), else "memory" or "max_batch" (serving.max_batch); ``serving_budget.fleet_bound`` reads it
    batch_limit: Optional[str] = None
    #: a fixed fleet (``serving.replicas``): the highest QPS its ``replicas`` carry within the p99 targets and how it
    #: was found (``vocab.FLEET_QPS_BY``: the analytic screen's bisection, or confirmed in simulation); the row's $ per
    #: million requests and utilisation are at that QPS. Absent otherwise
    fleet_qps: Optional[float] = None
    fleet_qps_by: Optional[str] = None
    # -- sized for the QPS (simulated size where simulated)
    replicas: Optional[int] = None
    nodes: Optional[int] = None
    gpus: Optional[int] = None
    usd_per_hr: Optional[float] = None  # None where the hardware has no price
    utilisation: Optional[float] = None
    usd_per_million_requests: Optional[float] = None
    # -- $ per million requests at full utilisation and offline; an offline job's node-hours and $
    usd_per_million_requests_full: Optional[float] = None
    usd_per_million_requests_offline: Optional[float] = None
    offline_price: Optional[str] = None  # "spot" | "on-demand" | "cluster.price_usd_hr" (``vocab.RATE_NAMES``)
    offline_node_hours: Optional[float] = None
    offline_usd: Optional[float] = None
    #: an offline job of requests: the replicas it runs on (``ServingLimits.offline_replicas``: a deadline's or a GPU
    #: floor / cap's, their nodes filled; one node's worth without a limit, offline47) and the hours they take
    #: (analytic; the simulated backlog's are in ``simulated``)
    offline_replicas: Optional[int] = None
    offline_hours: Optional[float] = None
    precision: str  # weight precision
    analytic_replicas: Optional[int] = None  # the analytic size the simulation started from
    #: the simulator's answer (planner.simulate.serving's summary: percentiles in ms, a <= 200-point
    #: queue/KV timeline, preemptions, and how it was sized); None where no size passed
    simulated: Optional[dict] = None
    #: how an option that meets the targets was sized: "simulated" (confirmed in simulation) or
    #: "analytic" (not simulated); the plan ranks them by cost (``ServingPlan.ranking``)
    sized_by: Optional[str] = None
    #: a real-time LLM option with a QPS: what set its replicas, "throughput", "tpot" or "ttft"
    #: (``serving_budget.fleet_bound``): which likely range applies to it (``serving_budget.replica_range``)
    bound_by: Optional[str] = None
    #: the date of the rate the option's cost is at (``model.cost.rate_price_dates``: its instance's on-demand rate,
    #: an offline job's ``offline_price``), as compare's rows carry it; absent for a bare GPU (QA 55b: serve's
    #: options said no price's date, only the recommended one's budget did); a rejected option's too (prices39)
    price_dates: Optional[dict] = None
    #: what ``price_usd_hr`` (and the on-demand side of every serving $) is at (``hardware.options.rent_basis``): the
    #: instance's "on-demand" rate, or "cluster.price_usd_hr", the job's own rate, which replaces it (QA 61: serve
    #: called a $30 reserved rate "on-demand" in its month, buy, accuracy and offline lines, as estimate did until QA
    #: 60); absent for an option with no price (a bare GPU)
    price_basis: Optional[str] = None
    #: the job constraint this option breaks though it meets the targets ("constraints.max_gpus",
    #: "constraints.budget_usd"): not recommended, listed with the rejected ones, ``reason`` saying what the limit
    #: reaches; absent when none
    constraint_broken: Optional[str] = None
    generic: bool = False  # a generic model (``generic_option``), not an LLM: not in the JSON
    refined: bool = False  # the simulation sized it (``simulated`` is then in the JSON): not in the JSON
    #: an offline job over ``constraints.max_gpus``: the hours the GPUs the cap holds would take (``_over_cap``'s
    #: reason says them): not in the JSON
    offline_hours_at_cap: Optional[float] = None

    _not_json = ("generic", "refined", "offline_hours_at_cap", "queue_replicas", "throughput_replicas", "replicas_raised_by",
                 "batch_limit")

    @property
    def layout(self) -> str:
        """How a replica splits the model, as the plan's lines name it (``replica_layout``)."""
        return replica_layout(self)

    def _present(self, name: str) -> bool:
        if name in ("price_usd_hr", "price_spot_usd_hr"):
            return True
        if name == "power_limit_w":
            return self.power_limit_w is not None
        if name in ("ttft_ms", "tpot_ms"):  # None for a generic model's TTFT, an LLM's TPOT at one output token
            return self.batch is not None
        if name in ("usd_per_hr", "usd_per_million_requests"):  # None for unpriced hardware
            return self.replicas is not None
        if name == "simulated":
            return self.refined
        return super()._present(name)

    def keys(self) -> list[str]:
        ks = super().keys()
        for k in ("compute_dtype", "reachable_tflops") if self.generic else ():  # known before memory is checked
            if k in ks:
                ks.remove(k)
                ks.insert(ks.index("fits"), k)
        if (self.refined or self.constraint_broken) and "reason" in ks:  # the verdict after the figures it rests on
            ks.remove("reason")
            ks.append("reason")
        return ks


@dataclass(frozen=True)
class ServingTargets(Record):
    """What the job asks of the service (``serving`` section); None where not given (or offline)."""

    tpot_ms: Optional[float]
    ttft_ms: Optional[float]
    qps: Optional[float]
    prompt_tokens: int
    output_tokens: int
    #: tokens at the start of every prompt that every request shares (``serving.shared_prefix_tokens``);
    #: not in the JSON when 0
    shared_prefix_tokens: int = 0
    #: an offline job's size (``serving.requests``), on which its "$ for the job's requests" and replica-hours
    #: rest; not in the JSON when None (a real-time job, or an offline one without it)
    requests: Optional[float] = None
    #: a fixed fleet's replicas (``serving.replicas``), planned for the QPS it carries; not in the JSON when None
    replicas: Optional[int] = None

    def keys(self) -> list[str]:
        drop = {k for k, v in (("shared_prefix_tokens", self.shared_prefix_tokens), ("requests", self.requests),
                               ("replicas", self.replicas)) if not v}
        return [k for k in super().keys() if k not in drop]


@dataclass(frozen=True)
class ServingSimulation(Record):
    """The simulation settings a serving plan was confirmed with (planner.workloads.serving_settings.SimSettings)."""

    arrivals: str  # "poisson" | "mmpp" | "trace"
    trace: Optional[str]
    length_cv: float
    margin: float
    seed: int
    search_s: float
    confirm_s: float
    deadline_hours: Optional[float]
    #: engine events one simulation runs before it stops releasing requests (planner.simulate.serving.EVENT_BOUND);
    #: an option whose run it cut says so (``simulated.cut``)
    event_bound: int = 0
    #: engine events all of the plan's simulations run together (planner.workloads.serving.SimBudget): a run starts
    #: only while fewer have run, and gets at most the events left
    plan_event_bound: int = 0
    #: where that bound came from: "default" (planner.defaults.PLAN_EVENT_BOUND), "serving.plan_event_bound" (the job)
    #: or "--plan-event-bound" (the flag, over the job's)
    plan_event_bound_from: str = "default"
    #: engine events and runs the plan's simulations took (cached repeats not counted twice)
    plan_events: int = 0
    plan_runs: int = 0
    #: "" when the plan bound held; else what it left unsimulated (those options keep their analytic size)
    plan_bound_reached: str = ""
    #: a replayed trace's mean prompt and output tokens, which the analytic screen sized every option at (the
    #: simulation replays each request's own); None without a trace (QA 57: the screen used the job's lengths)
    trace_prompt_tokens: Optional[int] = None
    trace_output_tokens: Optional[int] = None
    #: with ``serving.shared_prefix_tokens``: the tokens of it a trace's request shares on average (each at most its
    #: prompt less one), which the screen took as the shared prefix; None otherwise
    trace_shared_prefix_tokens: Optional[int] = None
    #: a replayed trace's prompt and output length spreads (std / mean, ``simulate.serving.Workload.spread``), which
    #: the screen took in place of ``length_cv``; None without a trace (trace40: it took the job's 0.5)
    trace_prompt_cv: Optional[float] = None
    trace_output_cv: Optional[float] = None
    #: the mmpp burst shape simulated (``serving.arrivals``' burst_factor, burst_share, burst_s, the defaults where
    #: not given); None for Poisson arrivals or a trace (serve41: the record did not say which bursts were drawn)
    burst_factor: Optional[float] = None
    burst_share: Optional[float] = None
    burst_s: Optional[float] = None
    #: the prompt and output length spreads (std / mean) the simulated requests have: the job's
    #: (``serving.prompt_length_cv`` / ``output_length_cv``, else ``length_cv``) or a replayed trace's own
    prompt_cv: Optional[float] = None
    output_cv: Optional[float] = None


@dataclass(frozen=True)
class ServingPlan(Record):
    """What ``planner serve`` answers: every option, the ones meeting the targets best first."""

    model: str
    params: int
    mode: str  # "realtime" | "batch"
    precision: str
    precisions: tuple[str, ...]  # the precisions searched
    kv_precision: Optional[str]  # LLMs
    weights_gib: float
    #: LLMs, one GPU holding every KV head, every layer keeping the whole context (a model with
    #: sliding-window / chunked layers keeps less: the options' ``kv_mib_per_sequence_per_gpu``)
    kv_bytes_per_token: Optional[float]
    targets: ServingTargets
    best: ServingOption
    options: tuple[ServingOption, ...]  # meet the targets, best first
    rejected: tuple[ServingOption, ...]
    simulated: bool
    simulation: Optional[ServingSimulation]
    definitions: str
    assumptions: tuple[str, ...]
    why: str
    ranking: str = ""  # how ``options`` are ordered, one line (printed under the table)
    #: a model with sliding-window / chunked layers: the KV one sequence at the job's full context (prompt +
    #: output) keeps on one GPU holding every KV head, as the engine keeps it (None for every other model)
    kv_bytes_per_sequence: Optional[float] = None
    #: the plan's likely range in words (``serving_budget.budget_accuracy``: a real-time plan with a QPS and a price, since
    #: review34) and how far the serving model has been on held-out published runs of models like this one (models
    #: with local attention layers: ``serving.LOCAL_ATTENTION_HELD_OUT``); "" where neither is known
    accuracy: str = ""
    #: what can change the answer, one line each (printed as "moves the ranking:"): GPUs the job's
    #: constraints.gpus names that were left out, and why
    caveats: tuple[str, ...] = ()
    #: a real-time plan with a QPS and a price: what the fleet costs a month and a year (730 h a month), the replica
    #: count's likely range and the monthly cost it implies, and what moves them (QPS growth, longer prompts, spot)
    #: (``serving_budget.serving_budget``); None otherwise
    budget: Optional[dict] = None
    #: an offline job with serving.requests and a price: what the whole job costs, how long it takes on the plan's
    #: replicas, $ per 1M requests / output tokens / tokens, and the likely range (``serving_budget.offline_budget``);
    #: None otherwise
    offline_budget: Optional[dict] = None
    #: serving.disaggregation (pd51): the prefill-decode split of the recommended option, screened and simulated, and
    #: its $/h beside the colocated fleet's (planner/workloads/serving.py ``_disaggregation``); None when off
    disaggregation: Optional[dict] = None
    #: the compute rate each GPU of ``options`` is priced at, recommended first, one line each
    #: (``serving_iteration.rate_words``: "GB200-B200 2,349 TFLOP/s bf16 (0.940 of the quoted 2,500: sustained
    #: clock)"), printed beside the answer as "compute rate:" (serve40)
    compute_rate: tuple[str, ...] = ()
    #: LLMs: the engine priced (serving.engine) and its release (serving.engine_version: "latest", the current
    #: release's kernels, or the release number the job pinned); None for a generic model
    engine: Optional[str] = None
    engine_version: Optional[str] = None
    #: the job's limits the plan holds to (constraints.max_gpus / min_gpus / budget_usd, an offline job's deadline),
    #: one line each, printed beside the answer; absent from the JSON when the job sets none
    constraints: tuple[str, ...] = ()

    def keys(self) -> list[str]:
        return [k for k in super().keys() if (k != "constraints" or self.constraints)
                and (k != "disaggregation" or self.disaggregation is not None)]


@dataclass(frozen=True)
class LatencyPoint(Record):
    """Simulated latency of one serving option at one offered QPS (``serving.latency_vs_qps``, the
    app's latency-vs-QPS chart): percentiles in ms (p50, p90, p99, mean; None where requests did
    not finish)."""

    qps: float
    ttft_ms: dict
    tpot_ms: dict
    e2e_ms: dict
    goodput: Optional[float]
    unfinished: Optional[int]  # requests still running or queued when the run ended (None: not simulated, unstable)
    utilisation: Optional[float]  # QPS / (replicas x simulated saturated throughput), when known
    #: the offered load is at or over the replicas' saturated throughput (utilisation >= 1): the queue grows without
    #: bound, so the point is not simulated (its latencies are None: no finite p99 describes it)
    unstable: bool = False
    #: "" for a simulated point; else where the curve's simulation bound stood when this point was skipped
    #: (``serving.SimBudget``: its runs together ran the bound's engine events), its latencies None
    not_simulated: str = ""


@dataclass(frozen=True)
class TabularOption(Record):
    """One instance for a GBDT job: time and $ of its runs, and whether the data fits."""

    instance: str
    kind: str  # "cpu" | "gpu"
    vcpus: Optional[float]
    gpu: Optional[str]
    ram_gib: Optional[float]
    price_usd_hr: float
    seconds_per_run: float
    hours: float  # all runs
    cost_usd: float  # all runs, billed (60 s minimum per run)
    fits: bool
    reason: Optional[str]  # why it does not fit
    rate_source: str


@dataclass(frozen=True)
class TabularPlan(Record):
    """What ``planner recommend`` answers for a job with a ``tabular`` section."""

    kind: str  # "tabular"
    library: str
    rows: float
    features: int
    trees_cap: int
    depth: int
    runs: int
    trees_expected: float
    trees_saved_by_early_stopping: float
    objective: str
    best: TabularOption
    why: str
    ranked: tuple[TabularOption, ...]  # fit and meet the constraints, best first
    rejected: tuple[TabularOption, ...]  # do not fit
    memory_host_gib: float
    memory_gpu_gib: float
    cpu_rate_source: Optional[str]
    gpu_rate_source: Optional[str]
    assumptions: tuple[str, ...]
    spot: bool = False  # constraints.spot: $/h and costs are spot rates (said in the table title and assumptions)
    max_bin: int = 256  # tabular.max_bin: histogram bins per feature (the split search's cost scales with it)
    #: the recommended instance's likely time and cost range from the rate's measured error, or where only a prior
    #: stands, what is known of it and no range (``tabular.tabular_accuracy``)
    accuracy: Optional[dict] = None


@dataclass(frozen=True)
class CampaignScenario(Record):
    """A campaign run one way (re-run preprocessing every experiment, or cache its artifact)."""

    preprocess_runs: float  # expected
    cache_hits: float
    storage_usd: float
    cost_usd: float
    preprocess_usd: float  # runs and artifact fetches
    train_usd: Optional[float]  # None: the training plan has no price (cost_usd then leaves training out)
    iteration_gap_hours: float  # from a change to its result
    experiments_per_week_max: float
    experiments_per_week: float
    wall_hours_serial: float


@dataclass(frozen=True)
class CampaignCurve(Record):
    """Expected cumulative $ after each of (at most ``campaign.CURVE_POINTS``) experiment counts."""

    experiments: tuple[float, ...]
    no_cache_usd: tuple[float, ...]
    cache_usd: tuple[float, ...]


@dataclass(frozen=True)
class CampaignPlan(Record):
    """The preprocessing-tax comparison a ``campaign`` section adds to a plan."""

    experiments: float
    weeks: float
    invalidation_rate: float
    preprocess_hours: float
    preprocess_usd: float  # one run
    fetch_hours: float  # one artifact fetch
    fetch_usd: float
    train_hours: float  # one experiment
    train_usd: Optional[float]  # None: unpriced (train_priced false)
    no_cache: CampaignScenario
    cache: CampaignScenario
    chosen: str  # "cache" | "no_cache"
    cache_wins_from_experiment: Optional[int]
    cumulative: CampaignCurve
    savings_usd: float
    chosen_plan: CampaignScenario
    sources: dict  # where the storage price and fetch bandwidth come from ("storage", "fetch")
    train_priced: bool = True  # False: the training plan has no price; totals leave training out
