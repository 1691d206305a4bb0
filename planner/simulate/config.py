"""The simulator's input: plain dataclasses, built from an analytic ``detail`` dict and a JobSpec.

``SimConfig.from_detail(detail, job)`` maps the estimator's per-configuration numbers (seconds
unless stated: ``t_fwd_mb``, ``t_bwd_mb``, ``t_dp_comm``, ``t_optimizer``, ``t_pp_p2p``,
``num_microbatches``, ``pp``, ``vpp``, ``dp``, ``schedule``, ``micro_batch``, ``global_batch``,
``seq_len``, ``gpus_per_node``, ``nodes``, ``vcpus_per_node``, ``step_time_s``,
``overlap_grad_reduce``) plus the job's ``data``, ``evaluation`` and ``checkpoint`` sections.
Hand-made configs are just as valid (tests build them directly).

Example::

    >>> cfg = SimConfig(pipeline=PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, pp=4, m=8))
    >>> round(cfg.pipeline.analytic_step_time(), 4)
    0.33
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from planner import defaults as D
from planner.errors import InputError
from planner.simulate.resources import STORAGE_PROFILES, StorageProfile
from planner.model.evaluation import eval_pass_s, eval_run, loader_workers, spread_zero3
from planner.model.pipeline import exposed_dp_comm, fill_exposure, run_microbatches, step_composition
from planner.model.memory import held_training, model_state_bytes_per_param, stored_weight_bytes
from planner.model.stacks import from_training
from planner.model.offload import HOST_RAM_USABLE
from planner.spec.params import count_params

GBIT = 1e9 / 8  # bytes/s per Gb/s
PIN_BW = 8e9  # pinned-memory staging copy, one thread (data_pipeline.md App. B assumption [U])
H2D_BW = 20e9  # effective PCIe Gen4 x16 host-to-device (data_pipeline.md §1.8: 20-25 GB/s [U])
D2H_BW = 20e9  # checkpoint snapshot GPU -> host, same link [U]
DDP_BUCKETS = 8  # default gradient buckets when the layer count is unknown (hand-made configs)
#: the breakdown terms (planner.model.step_time BREAKDOWN_KEYS) a layer's forward / backward pays inside the stage
#: times: the exposed tensor-, context- and expert-parallel communication
LAYER_COMM = ("comm_tp", "comm_cp", "comm_ep")


@dataclass
class PipelineConfig:
    """GPU work of one data-parallel replica: ``pp`` stages, ``m`` micro-batches per step.

    ``t_fwd_mb``/``t_bwd_mb``: one micro-batch through the slowest stage, TP/CP/EP comm included.
    ``t_pp_p2p``: a stage-to-stage send paid as a link delay between stages in the schedule.
    ``comm_in_stage``: the seconds of ``t_fwd_mb`` + ``t_bwd_mb`` that are communication already folded into the
    stage time -- the pipeline sends (the analytic model does this) and the exposed ZeRO-3/FSDP gathers
    (``from_detail``); only used to attribute time to "comm" (not "compute", nor the GPU's busy share).
    ``dp_buckets``: gradient buckets of the DP reduce (the analytic model uses one per layer).
    ``t_dp_tail``: DP time after the reduce that is not the bucketed reduce itself (the analytic
    model's ``t_dp_tail``: the reduce's hidden cost on the compute, the exposed ZeRO-1/2 parameter
    all-gather, ZeRO-2's per-micro-batch reduce-scatters), paid once per step as "comm".
    ``t_stage_lead``: seconds each stage's first forward waits before it computes (the ZeRO-1/2 parameter all-gather
    Megatron-Core's forward pre-hook starts there: the analytic model's ``t_pp_lead``), list-scheduled
    (planner.model.pipeline ``pipeline_timing`` ``t_lead``) and counted as "comm".
    ``jitter_cv``: per-rank per-step multiplicative noise on the compute (a straggler stalls the
    all-reduce: step = max over ranks). ``rank_slowdown``: fixed per-rank factors (1.0 = nominal).
    """

    t_fwd_mb: float
    t_bwd_mb: float
    pp: int = 1
    vpp: int = 1
    m: int = 1
    dp: int = 1
    schedule: str = "1f1b"
    t_pp_p2p: float = 0.0
    comm_in_stage: float = 0.0
    t_dp_comm: float = 0.0
    t_dp_tail: float = 0.0
    t_stage_lead: float = 0.0
    #: on the 1F1B schedule, how much the pp - 1 stages before the last (the LM head's, which paces) run under it
    #: a micro-batch, summed over them (step_time ``fill_excess``): the fill and drain at their own pace
    t_fill_excess: float = 0.0
    t_optimizer: float = 0.0
    overlap_grad_reduce: bool = True
    dp_buckets: int = DDP_BUCKETS
    micro_batch: int = 1  # samples per micro-batch per replica
    tokens_per_sample: int = 1  # 0: the samples are not token sequences (an image model: no tokens/s)
    jitter_cv: float = 0.0
    jitter_dist: str = "lognormal"  # lognormal | exponential (mean 1)
    rank_slowdown: tuple[float, ...] = ()
    #: Megatron's explicit interleaved micro-batch group size (``Stack.microbatch_group_size``, the detail's
    #: ``vpp_group``); None: its default pp / torch's rounds (planner.model.pipeline ``vpp_group_size``)
    vpp_group: Optional[int] = None
    #: the backward the bucketed DP reduce hides under (None: ``t_bwd_mb``): the stage's backward without the exposed
    #: ZeRO-3 gathers ``from_detail`` spreads into it, as the analytic composition hides it (``step_composition``'s
    #: ``exposed_dp_comm`` on the bare backward). Under the longer one an HSDP replica all-reduce hid more: Mixtral-8x7B
    #: on the HF Trainer, 2 x p5.48xlarge, ZeRO-3 dp_shard 4, simulated 2.3 ms (0.02%) under estimate (session 34)
    t_bwd_hides: Optional[float] = None
    #: micro-batches of one run of the pipeline schedule where the stack runs it once per gradient-accumulation step
    #: (``Stack.pp_pass_microbatches``: torchtitan's local batch over the micro-batch, NeMo AutoModel's option); None:
    #: one run a step. Each run fills and drains the pipeline (``pipeline.step_composition``' ``pass_m``); the
    #: simulator plays ``runs`` of them one after the other. Until sim55 it played one run of all ``m`` (a torchtitan
    #: Llama-3-8B PP4 plan of 32 micro-batches in passes of 1: simulated 2.29 s a step where estimate said 7.51 s)
    pp_pass_microbatches: Optional[int] = None
    #: the exposed DP sync after each run but the step's last (step_time ``run_sync``: torch.distributed.pipelining
    #: reduce-scatters and regathers a held FSDP stage per run), counted as "comm"
    t_run_sync: float = 0.0

    def __post_init__(self):
        if self.schedule != "interleaved":
            self.vpp = 1
            self.vpp_group = None
        if self.pp_pass_microbatches is not None and self.m % self.run_m:
            # the simulator plays whole runs; a stack without a divisibility rule (NeMo AutoModel's option: its loop's
            # check unread) lets estimate price m / pass fractional runs, which no list schedule plays
            raise InputError("training.framework.pp_pass_microbatches",
                             f"{self.pp_pass_microbatches} does not divide the {self.m} micro-batches a replica runs "
                             "a step: the simulator plays whole runs of the pipeline schedule")

    @property
    def run_m(self) -> int:
        """Micro-batches one run of the schedule holds (``pipeline.run_microbatches``)."""
        return int(run_microbatches(self.m, self.pp_pass_microbatches))

    @property
    def runs(self) -> int:
        """Runs of the pipeline schedule a step (1 unless ``pp_pass_microbatches`` splits it)."""
        return self.m // self.run_m

    @property
    def samples_per_step(self) -> int:
        return self.micro_batch * self.m * self.dp

    def analytic_step_time(self) -> float:
        """The analytic model's step for the same inputs (``planner.model.pipeline.step_composition``,
        which ``planner.model.step_time`` uses too), no data; the link p2p only as the interleaved schedule's
        warm-up / cool-down pays it (``pipeline.fill_exposure``, step_time's ``pp_fill``)."""
        inter = self.schedule == "interleaved"
        fill = 0.0
        if inter and self.pp > 1 and self.t_pp_p2p > 0:
            # the stage times hold the steady state's exposed sends already (t_send 0): only the warm-up / cool-down
            # path, at the link delay the list schedule pays, once per run of the schedule
            fill = self.runs * float(fill_exposure(self.pp, self.run_m, self.vpp, self.t_fwd_mb, self.t_bwd_mb,
                                                   self.t_pp_p2p, self.t_pp_p2p, 0.0, 1, 1, self.vpp_group)[0])
        comp = step_composition(self.m, self.pp, self.vpp, inter, self.t_fwd_mb, self.t_bwd_mb, self.t_dp_comm,
                                self.dp_buckets, self.overlap_grad_reduce, self.t_optimizer,
                                pass_m=self.pp_pass_microbatches, dualpipev=self.schedule == "dualpipev",
                                fill_excess=self.t_fill_excess)
        exposed = exposed_dp_comm(self.t_dp_comm, self.hides, self.dp_buckets, self.overlap_grad_reduce)
        # the stages' first-forward waits: on the 1F1B path once per stage (pipeline_timing with ``t_lead``: pp of them)
        lead = self.pp * self.t_stage_lead
        syncs = (self.runs - 1) * self.t_run_sync
        return float(comp["step"] - comp["exposed_dp"] + exposed + self.t_dp_tail + fill + lead + syncs)

    @property
    def hides(self) -> float:
        """The backward the bucketed DP reduce overlaps (``t_bwd_hides``, else ``t_bwd_mb``)."""
        return self.t_bwd_mb if self.t_bwd_hides is None else self.t_bwd_hides


@dataclass
class LoaderConfig:
    """PyTorch DataLoader semantics for one replica, plus the storage it reads from.

    Per-sample CPU cost is lognormal with mean ``decode_s`` and CV ``decode_cv`` (one core);
    a batch of B samples is one draw of the sum (moment-matched lognormal, mean B*decode_s,
    CV decode_cv/sqrt(B)) unless ``sample_level``. ``batch_time_dist='exponential'`` makes the
    whole batch time exponential (the M/M/1/K oracle).
    """

    workers: int = 4
    prefetch_factor: int = 2
    in_order: bool = True
    cores: Optional[float] = None  # CPU cores for this loader's workers; None = unlimited
    trainer_holds_core: bool = False  # the main process busy-spins a core while computing
    decode_s: float = 0.0  # CPU seconds per sample (decode + augment)
    decode_cv: float = 0.3
    batch_time_dist: str = "lognormal"  # lognormal | exponential | deterministic
    collate_s: float = 0.0  # fixed CPU seconds per batch (collate, IPC)
    sample_bytes: float = 2e5  # on storage
    device_bytes: float = 0.0  # per sample, copied host->device
    pin_memory: bool = True
    pin_bw: float = PIN_BW
    h2d_bw: float = H2D_BW
    h2d_overlap: bool = False  # copy on a side stream (prefetcher) instead of the compute stream
    storage: StorageProfile = field(default_factory=lambda: STORAGE_PROFILES["local_nvme"])
    format: str = "shards"  # files | shards
    shard_bytes: float = 256e6
    cache_fraction: float = 0.0
    read_fraction: float = 1.0
    dataset_samples: Optional[float] = None
    #: host RAM one node may give a dataset cache (``planner.model.offload.HOST_RAM_USABLE`` of the node's RAM,
    #: ``offload.host_ram``); the OS page cache is per node and shared by its loaders, so a cached fraction is
    #: this over the dataset's bytes. None: unknown (the cache answer then checks nothing)
    cache_ram_bytes: Optional[float] = None
    cache_ram_source: str = ""  # where the node's RAM figure comes from (an instance, or an assumption)

    def h2d_s(self, batch: int) -> float:
        return batch * self.device_bytes / self.h2d_bw if self.device_bytes else 0.0

    def storage_requests_per_sample(self) -> float:
        """Storage requests a consumed sample costs: its miss share (1 - ``cache_fraction``) times one request per
        file, or one per shard spread over the shard's samples (the loader opens a shard with one GET and streams
        its samples, ``Loader.fetch_plan``). The storage's request-rate cap over this is its sample ceiling
        (answers ``storage_ceiling``), and the consumed sample rate times it the run's request rate
        (engine ``storage_requests_per_s``)."""
        if self.storage.latency_s == 0 and self.storage.conn_bw >= 1e10 and self.cache_fraction == 0:
            return 0.0  # the data already in memory (Loader.fetch_plan): no request
        miss = max(0.0, 1.0 - self.cache_fraction)
        return miss * (1.0 if self.format == "files" else 1.0 / max(1.0, self.shard_bytes / self.sample_bytes))

    def storage_bytes_per_sample(self) -> float:
        """Storage bytes a consumed sample costs: its miss share (1 - ``cache_fraction``) times its bytes on storage,
        ``sample_bytes`` (a file is one sample; a shard is streamed whole, ``shard_bytes`` over its shard_bytes /
        sample_bytes samples), none for data already in memory -- the byte twin of ``storage_requests_per_sample``,
        and the consumed sample rate times it the run's storage read rate (engine ``storage_read_Bps``). Filtering at
        storage reads ``read_fraction`` of those bytes, as the loader reads them (``Loader.fetch_plan``) and the
        storage's ceiling counts them (answers ``storage_ceiling``): until qa26 this left it out, and a job reading
        a quarter of each sample reported 361 MB/s where its loaders read 90 MB/s."""
        if self.storage_requests_per_sample() == 0.0:
            return 0.0
        return max(0.0, 1.0 - self.cache_fraction) * self.sample_bytes * self.read_fraction

    def shards_total(self) -> Optional[int]:
        """Shards the dataset makes (``dataset_samples`` x ``sample_bytes`` / ``shard_bytes``, rounded up); None for
        individual files or an unknown dataset size."""
        if self.format != "shards" or not self.dataset_samples:
            return None
        return math.ceil(self.dataset_samples * self.sample_bytes / self.shard_bytes)

    def workers_reading(self, dp: int) -> int:
        """The workers of one replica's loader that read: shards are split across the workers of every replica
        (WebDataset's ``split_by_worker`` after ``split_by_node``), so at most ``shards_total // dp`` per replica hold
        one and the rest idle (at least one reads)."""
        n = self.shards_total()
        if self.workers <= 0 or n is None:
            return self.workers
        return max(1, min(self.workers, n // max(dp, 1)))

    def read_s_per_sample(self) -> float:
        """Mean seconds a loader worker spends reading one sample, on its own connection: ``Loader.fetch_plan`` /
        ``fetch_delay`` without the shared servers' queueing -- a miss costs the storage's latency per request
        (``storage_requests_per_sample``' share) and its filtered bytes over the per-connection bandwidth, a cache hit
        (or data already in memory) its bytes at RAM speed. A worker reads and then decodes, one after the other
        (data_pipeline.md §1.5: ``t_batch = sum(t_read + t_decode + t_aug) + t_collate``)."""
        from planner.simulate.resources import CACHE_PROFILE

        per = self.sample_bytes * self.read_fraction
        if self.storage_requests_per_sample() == 0.0:
            return per / CACHE_PROFILE.conn_bw
        hit = min(max(self.cache_fraction, 0.0), 1.0)
        return (hit * per / CACHE_PROFILE.conn_bw + (1.0 - hit) * per / self.storage.conn_bw
                + self.storage_requests_per_sample() * self.storage.latency_s)

    def pin_s(self, batch: int) -> float:
        return batch * self.device_bytes / self.pin_bw if (self.pin_memory and self.device_bytes) else 0.0


@dataclass
class EvalConfig:
    """Evaluation every ``every_steps``: forward-only over ``samples`` (whole job); every
    ``full_every``-th evaluation uses the full set, the others ``subset_fraction`` of it.
    ``tier_full_every`` is the tier the job proposes (answers.eval_tiering compares it)."""

    every_steps: int = 0
    samples: float = 0.0
    full_every: int = 1
    subset_fraction: float = 0.1
    tier_full_every: int = 10


@dataclass
class CheckpointConfig:
    """Checkpoint every ``every_steps``: ``bytes`` written at ``write_bw`` (aggregate, bytes/s).

    Blocking: training waits ``bytes/write_bw``. Asynchronous: it waits only for the snapshot
    (``bytes / n_gpus / d2h_bw``), then persists in the background; the next checkpoint waits for
    the previous persist (PyTorch DCP async_save, data_pipeline.md §1.10).
    """

    every_steps: int = 0
    bytes: float = 0.0
    write_bw: float = 20 * GBIT
    asynchronous: bool = False
    d2h_bw: float = D2H_BW
    n_gpus: int = 1

    def write_s(self) -> float:
        return self.bytes / self.write_bw

    def snapshot_s(self) -> float:
        """Per-GPU snapshot time; ``n_gpus`` may be an array (the search's candidates), then so is this."""
        n = max(self.n_gpus, 1) if np.ndim(self.n_gpus) == 0 else np.maximum(self.n_gpus, 1)
        return self.bytes / n / self.d2h_bw

    def pause_s(self, interval_s: Optional[float] = None) -> tuple[float, float]:
        """(seconds training is blocked per checkpoint, seconds more until it is durable).

        Blocking: (write, 0). Asynchronous: (snapshot, write) — and, in steady state with a
        checkpoint every ``interval_s`` of training, a persist longer than the interval makes the
        next save wait for it, so the pause grows by ``max(0, write - interval)``. ``interval_s`` (and
        ``n_gpus``) may be arrays: the search prices every candidate with this same formula."""
        if not self.asynchronous:
            return self.write_s(), 0.0
        if interval_s is None:
            late = 0.0
        elif np.ndim(interval_s) == 0:
            late = max(0.0, self.write_s() - interval_s)
        else:
            late = np.maximum(0.0, self.write_s() - np.asarray(interval_s, dtype=np.float64))
        return self.snapshot_s() + late, self.write_s()


@dataclass
class FailureConfig:
    """Node failures: exponential inter-arrival with rate ``nodes / mtbf_node_s``; each costs
    ``restart_s`` plus the work since the last durable checkpoint."""

    mtbf_node_s: Optional[float] = None
    nodes: int = 1
    restart_s: float = 600.0

    @property
    def enabled(self) -> bool:
        return self.mtbf_node_s is not None and self.mtbf_node_s > 0

    @property
    def mtbf_s(self) -> float:
        """The job's MTBF: per-node MTBF / nodes (``nodes`` may be an array)."""
        n = max(self.nodes, 1) if np.ndim(self.nodes) == 0 else np.maximum(self.nodes, 1)
        return self.mtbf_node_s / n


@dataclass
class SimConfig:
    pipeline: PipelineConfig
    loader: Optional[LoaderConfig] = None  # None: data never limits (pre-tokenised, in RAM)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    failures: FailureConfig = field(default_factory=FailureConfig)
    analytic_step_time_s: Optional[float] = None  # the estimator's figure, for comparison
    gpus_per_replica: int = 1  # tp * pp * cp: GPUs sharing one replica's loader (vCPU accounting)
    #: each replica's micro-batches reach its trainer in groups of this many (a divisor of ``pipeline.m``): one loader
    #: batch of ``group x micro_batch`` samples, waited for when the group's first forward starts; the pipeline
    #: schedule stays the exact one of ``m`` micro-batches. 1: every micro-batch its own loader batch. Set above 1
    #: only to bound a simulation's work (``engine.group_for``), and said with the result
    microbatch_group: int = 1

    def replace(self, **sections) -> "SimConfig":
        return replace(self, **sections)

    def eval_pass_s(self, samples: float) -> float:
        """Seconds of one evaluation pass over ``samples`` (``planner.model.evaluation.eval_pass_s``: forward-only
        micro-batches through the pipeline, loader-bound where the input pipeline decodes slower)."""
        p, ld = self.pipeline, self.loader
        return eval_pass_s(samples, p.dp, p.micro_batch, p.pp, p.t_fwd_mb,
                           ld.decode_s if ld is not None else 0.0, ld.workers if ld is not None else 1)

    def eval_run(self, steps) -> dict:
        """The evaluation passes of ``steps`` training steps as this config plays them
        (``planner.model.evaluation.eval_run``)."""
        e = self.evaluation
        return eval_run(steps, e.every_steps, e.samples, e.full_every, e.subset_fraction, self.eval_pass_s)

    # ------------------------------------------------------------------------------------
    @classmethod
    def from_estimate(cls, est: dict, job: Any = None) -> "SimConfig":
        """Build from a whole ``estimate_job``/``recommend`` row (uses ``detail`` and the
        ``breakdown_s`` terms that are not in ``detail``, such as exposed ZeRO-3 gathers)."""
        return cls.from_detail(est["detail"], job, breakdown=est.get("breakdown_s"), stack=est.get("stack"))

    @classmethod
    def from_detail(cls, detail: dict, job: Any = None, breakdown: Optional[dict] = None,
                    stack: Any = None) -> "SimConfig":
        """Build from the estimator's ``detail`` dict and a JobSpec (``job`` may be None).

        The analytic stage times already include the pipeline sends (``t_pp_p2p`` per direction,
        planner/model/step_time.py), so they are not added again as link delays; per-micro-batch exposed
        ZeRO-3 traffic (``breakdown["comm_zero3"] / m``) is added to the stage time, and both are attributed to "comm"
        (``comm_in_stage``), as estimate's breakdown lists them apart from the compute. ``stack``: the plan's
        stack (its ``stack`` record or a ``Stack``; None: the job's ``training.framework``), which sizes the
        checkpoint (``checkpoint_bytes``)."""
        d = detail  # the Plan's ``detail`` (one shape: from_estimate passes it)
        pp, dp = int(d.get("pp", 1)), int(d.get("dp", 1))
        m = max(1, int(round(float(d.get("num_microbatches", 1)))))
        mb = int(d.get("micro_batch", 1))
        seq = int(d.get("seq_len", 1) or 1)
        is_tf = True if job is None else job.model.is_transformer
        t_f, t_b = float(d["t_fwd_mb"]), float(d["t_bwd_mb"])
        # (less the gather paid once a step, in ``t_dp_tail``: step_time ``raf_fwd``)
        z3 = (float((breakdown or {}).get("comm_zero3", 0.0)) - float(d.get("t_zero3_step", 0.0))) / m
        t_f, t_b = spread_zero3(t_f, t_b, z3)  # over forward and backward in proportion (both wait on gathers)
        # the layers' own exposed TP / CP / EP communication, inside the stage times as in step_time (its breakdown:
        # per-micro-batch terms times m) and listed apart from the compute there: "comm" here too (qa66: Mixtral
        # TP2 EP8 on 4 p5.48xlarge read "compute 99.4%, GPU busy 99.6%" beside estimate's 17% all-to-all)
        layer_comm = sum(float((breakdown or {}).get(k, 0.0)) for k in LAYER_COMM) / m
        layers = getattr(job.model, "layers", None) if job is not None else None
        buckets = max(1, math.ceil(layers / pp)) if (is_tf and layers) else (1 if job is not None else DDP_BUCKETS)
        buckets = int(d.get("dp_buckets") or buckets)  # the analytic model's own (its slowest stage's layers)
        pipe = PipelineConfig(
            t_fwd_mb=t_f, t_bwd_mb=t_b, pp=pp,
            vpp=int(d.get("vpp", 1) or 1), m=m, dp=dp, schedule=str(d.get("schedule", "1f1b")),
            # the sends the stage times leave out (the overlapped interleaved schedule's warm-up / cool-down path,
            # step_time's ``t_pp_hop``) as the link delay: the list schedule pays pipeline.fill_exposure's path
            t_pp_p2p=float(d.get("t_pp_hop", 0.0)), comm_in_stage=2 * float(d.get("t_pp_p2p", 0.0)) + z3 + layer_comm,
            t_dp_comm=float(d.get("t_dp_comm", 0.0)), t_dp_tail=float(d.get("t_dp_tail", 0.0)),
            t_stage_lead=float(d.get("t_pp_lead", 0.0)), t_fill_excess=float(d.get("t_pp_fill_excess", 0.0)),
            t_optimizer=float(d.get("t_optimizer", 0.0)), dp_buckets=buckets,
            overlap_grad_reduce=bool(d.get("overlap_grad_reduce", True)), micro_batch=mb,
            tokens_per_sample=seq if is_tf else 0,
            vpp_group=int(d["vpp_group"]) if d.get("vpp_group") else None,
            # the reduce hides under the compute, not the gathers; under the interleaved schedule's per-chunk reduce
            # under the chunk backwards after each chunk's last (step_time's ``t_dp_hides``)
            t_bwd_hides=(float(d["t_dp_hides"]) if d.get("t_dp_hides") is not None
                         else float(d["t_bwd_mb"]) if z3 > 0 else None),
            pp_pass_microbatches=int(d["pp_pass_microbatches"]) if d.get("pp_pass_microbatches") else None,
            t_run_sync=float(d.get("t_pp_run_sync", 0.0)),
        )
        gpn, nodes = int(d.get("gpus_per_node", 8)), int(d.get("nodes", 1))
        n_gpus = gpn * nodes
        loader = None
        data = getattr(job, "data", None) if job is not None else None
        if data is not None:
            prof = storage_for(data, nodes)
            # a common choice: one worker per vCPU, one vCPU kept for the trainer (the search's evaluation pricing
            # counts the same workers: planner.model.evaluation.loader_workers)
            workers, cores = loader_workers(data.workers_per_gpu, data.vcpus_per_gpu, d.get("vcpus_per_node", 0),
                                            gpn, dp, nodes)
            dev_bytes = 0.0
            if job is not None:
                dev_bytes = job.model.input_bytes_per_sample or (8.0 * seq if is_tf else 0.0)
            loader = LoaderConfig(
                workers=workers, prefetch_factor=data.prefetch_factor, cores=cores,
                decode_s=data.decode_ms_per_sample / 1e3, decode_cv=data.decode_cv,
                sample_bytes=data.sample_bytes, device_bytes=dev_bytes, storage=prof,
                format=data.format, shard_bytes=data.shard_mb * 1e6,
                cache_fraction=data.cache_fraction, read_fraction=data.read_fraction,
                dataset_samples=data.dataset_samples or getattr(job.training, "dataset_samples", None),
                cache_ram_bytes=(float(d["host_ram_bytes"]) * HOST_RAM_USABLE if d.get("host_ram_bytes") else None),
                cache_ram_source=str(d.get("host_ram_source", "")),
            )
        ev = EvalConfig()
        e = getattr(job, "evaluation", None) if job is not None else None
        if e is not None:
            # the run as configured evaluates on the full set every time; eval_tiering compares
            # it with the job's tier (holdout_fraction, full_every)
            ev = EvalConfig(every_steps=e.every_steps, samples=e.samples, full_every=1,
                            subset_fraction=e.holdout_fraction, tier_full_every=e.full_every)
        c = getattr(job, "checkpoint", None) if job is not None else None
        ck, fl = checkpoint_sections(c, checkpoint_bytes(d, job, stack) if c is not None else 0.0, n_gpus, nodes)
        return cls(pipeline=pipe, loader=loader, evaluation=ev, checkpoint=ck, failures=fl,
                   analytic_step_time_s=d.get("step_time_s"), gpus_per_replica=max(n_gpus // max(dp, 1), 1))


#: storage kinds every node has its own of: their ``STORAGE_PROFILES`` bandwidth and request rate are one node's
NODE_LOCAL_STORAGE = ("local_nvme", "memory")
#: storage kinds whose ``STORAGE_PROFILES`` bandwidth is one node's: the node-local ones and the object store, whose
#: 100 Gb/s is AWS's single-instance S3 figure (its 5,500 GET/s is per prefix: one job-wide cap, not scaled)
PER_NODE_BANDWIDTH = NODE_LOCAL_STORAGE + ("object_store",)


def storage_for(data: Any, nodes: int = 1) -> StorageProfile:
    """The storage a job's ``data`` section reads from: its kind's defaults (``STORAGE_PROFILES``) with
    every figure the section gives. ``storage_stream_gbps`` (one reader's bandwidth, what ``calibrate --storage``
    measures: planner.hardware.data_rates) is each worker's connection; where the section leaves the aggregate
    (``storage_gbps``) to the kind's default it is raised to at least that one reader's rate, which the storage
    was seen to serve. A given aggregate stays as given.

    A node-local kind (``NODE_LOCAL_STORAGE``: each node reads its own NVMe or RAM copy) serves ``nodes`` x its
    default bandwidth and request rate: the simulator's one ``Storage`` is the whole job's. Until QA 50 a 32-node job
    on local NVMe read at one drive's 2 GB/s in all (ViT-B/16 on 32 x p5.48xlarge, 200 KB samples: 9,058 samples/s
    for 256 GPUs, 98% of the step waiting for data; now 251,165 samples/s, 39%). The object store's 100 Gb/s is
    likewise one instance's (``resources.STORAGE_PROFILES``' source): a 32-node video job (5 MB clips in 1 GB shards,
    80 ms decode) read S3 at 12.5 GB/s in all and was named storage-bound at 2,545 samples/s."""
    prof = STORAGE_PROFILES[data.storage]
    if data.storage in PER_NODE_BANDWIDTH and nodes > 1:
        prof = replace(prof, aggregate_bw=prof.aggregate_bw * nodes)
    if data.storage in NODE_LOCAL_STORAGE and nodes > 1:
        prof = replace(prof, max_requests_per_s=prof.max_requests_per_s * nodes)
    stream = getattr(data, "storage_stream_gbps", None)
    if stream is not None:
        prof = replace(prof, conn_bw=stream * GBIT, aggregate_bw=max(prof.aggregate_bw, stream * GBIT))
    if data.storage_gbps is not None:
        prof = replace(prof, aggregate_bw=data.storage_gbps * GBIT)
    if data.request_latency_ms is not None:
        prof = replace(prof, latency_s=data.request_latency_ms / 1e3)
    if data.max_requests_per_s is not None:
        prof = replace(prof, max_requests_per_s=data.max_requests_per_s)
    return prof


def checkpoint_sections(c: Any, ckpt_bytes: float, n_gpus, nodes) -> tuple[CheckpointConfig, FailureConfig]:
    """The simulator's checkpoint and failure settings from a job's ``checkpoint`` section ``c``
    (None: no checkpoints, no failures). ``n_gpus`` and ``nodes`` may be arrays (the search prices
    every candidate at once, ``planner.workloads.training.CheckpointOverhead``)."""
    if c is None:
        return CheckpointConfig(n_gpus=n_gpus), FailureConfig(nodes=nodes)
    ck = CheckpointConfig(every_steps=c.every_steps, bytes=ckpt_bytes, write_bw=c.write_gbps * GBIT,
                          asynchronous=c.asynchronous, n_gpus=n_gpus)
    fl = FailureConfig(mtbf_node_s=c.mtbf_hours_per_node * 3600 if c.mtbf_hours_per_node else None,
                       nodes=nodes, restart_s=c.restart_minutes * 60)
    return ck, fl


def plan_stack(stack: Any):
    """The ``Stack`` a plan ran on from its ``stack`` record (planner.search.evaluate ``stack_record``: the name and
    every option), a ``Stack`` as is, None for None."""
    if stack is None or not isinstance(stack, dict):
        return stack
    from planner.model.stacks import record_options, resolve

    return resolve(stack["name"], **record_options(stack))


def checkpoint_bytes(detail: dict, job: Any, stack: Any = None) -> float:
    """Model state written per checkpoint: weights + fp32 master + optimizer moments (gradients
    are not saved). Bytes per parameter come from planner.model.memory (ZeRO's 2+12 accounting).
    A LoRA / QLoRA run saves its adapters and their optimizer state, not the frozen base (peft's
    ``save_pretrained`` writes adapter_model.safetensors only, which the Hugging Face Trainer's
    checkpoint holds beside optimizer.pt; Megatron-Bridge's PEFT checkpoints hold the adapter
    parameters): sizing it as the whole model made a 70B QLoRA checkpoint 988 GB, a 395 s pause
    at 20 Gb/s, and the checkpoint answer advise one save per 21 hours. The adapters are fp32 with no
    master copy (``defaults.ADAPTER_BYTES`` + the optimizer's state, as ``memory_per_gpu`` holds them). The weights
    count as stored (``memory.stored_weight_bytes``): autocast's 16-bit copy and TE's cached FP8 copy are compute
    copies no checkpoint holds (counted until qa23: an fp8 run's checkpoint at 15 B a parameter instead of 2 + 4 + 8,
    an AMP run's at 14 instead of its fp32 weights and moments, 12), under the convention the stack holds
    (``memory.held_training``: a Hugging Face Trainer job left at ``weights: megatron`` was sized at 2 + 4 + 8 = 14 B
    a parameter until 2026-12-02, where the Trainer saves its fp32 weights and the moments, 12). The convention is
    the plan's ``stack`` (``plan_stack``; None: the job's ``training.framework``): under ``training.framework: auto``
    the job names no stack, and the size fell to the no-parameter fallback, 0 B for a preset (until 2026-12-02: a
    Llama-3-8B plan's checkpoint pauses free), and a plan the search put on the HF Trainer was sized as the job's.
    Megatron-Core's precision-aware optimizer (bf16 / fp8 moments, the master's 16-bit remainders on the GPU) changes
    nothing here: its distributed optimizer writes each state through TE FusedAdam's ``get_unscaled_state``, fp32, and
    the master whole (megatron/core/optimizer/distrib_optimizer.py ``_get_main_param_and_optimizer_states``)."""
    if "checkpoint_bytes" in detail:
        return float(detail["checkpoint_bytes"])
    try:
        from planner.model.finetune import frozen_base, on_stack, trainable_params

        t = held_training(job.model, job.training, plan_stack(stack))  # HF Trainer's AMP: fp32 weights, no master
        # AutoModel's MoE models: 16-bit parameters and moments, no master (Stack.params_16bit)
        st = from_training(job.training, plan_stack(stack), job.model)
        _w, _g, master, opt = model_state_bytes_per_param(t, job.model.hidden or 4096, st)
        w = stored_weight_bytes(t)  # not autocast's / TE's compute copies
        if frozen_base(job.model, job.training):  # fp32 adapters keep no master copy: weights + moments, as
            # memory_per_gpu holds them (defaults.ADAPTER_BYTES); 2 + 4 + 8 B sized a 70B QLoRA save at 14 B an adapter
            # the adapters of the plan's stack (left47b: Megatron-Core's fused linear_qkv / linear_fc1 have fewer)
            return float(trainable_params(job.model, on_stack(job.training, plan_stack(stack)))) * (D.ADAPTER_BYTES + opt)
        n = detail.get("params") or count_params(job.model).total
        return float(n) * (w + master + opt)
    except Exception:  # generic model without params: nothing to size the checkpoint from
        p = getattr(job.model, "params", None) if job is not None else None
        return float(p or 0.0) * 14.0
