"""Right compute for tabular work: a gradient-boosting job planned on CPU and GPU instances alike,
chosen by $ and time — ``planner recommend job.yaml`` when the job has a ``tabular`` section.

    tabular:
      library: xgboost
      rows: 2.0e6
      features: 50
      trees: 500            # boosting rounds (the cap)
      depth: 8
      early_stopping: {patience: 50, best_iteration: [150, 350]}   # optional
      runs: 1               # e.g. hyper-parameter trials, each a full training

**CPU time** comes from a measured profile (``calibration/gbdt.py``, shipped as
``planner/hardware/profiles/gbdt-cpu.json``): one-thread seconds per tree
``a x rows x features x depth + b x rows + e x features x bins x 2^depth + c`` and per quantile sketch ``s x rows x features``
(cost model: Chen & Guestrin 2016 §4.1, O(K d ||x||_0) for K trees of depth d), divided by the
Amdahl speedup ``1 / ((1 - p) + p / cores)`` with the measured parallel fraction ``p``. Cores =
vCPUs / 2: cloud x86 vCPUs are hyper-threads (AWS, GCP and Azure document 2 vCPUs per physical
core), and histogram building gains little from the second thread of a core.

**GPU time** — no GPU was measured here, so it is a clearly labelled *prior*: XGBoost's GPU docs
("XGBoost GPU Support", Benchmarks: 1,000,000 rows x 50 columns, 0.75 train split, 500 rounds,
``gpu_hist`` 13.87 s on a Pascal Titan X; default depth 6) give
750,000 x 50 x 6 x 500 / 13.87 s = 8.1e9 row x feature x level updates per second. Histogram
building on GPU is bound by memory traffic and atomics, so the prior scales it by HBM bandwidth
(Titan X Pascal: 480 GB/s). Each tree also pays a fixed cost by level, node and (node, feature) — kernel
launches and host syncs per level, a histogram and a split search per node (``planner.model.gbdt.gpu_tree_fixed_s``,
fitted to a published XGBoost GPU sweep: 0.67 ms a tree at depth 5, 3.7 ms at depth 10 with 10 features) — and a
run copies its matrix to the GPU once for the quantile sketch (4 B a cell over the host link, ``gpu_sketch_s``).
XGBoost trains on one GPU per process (multi-GPU needs Dask), so only
one-GPU NVIDIA instances are candidates unless ``constraints.instances`` names others.

**Cost** = billed hours x price, billed per second with a 60 s minimum per run (AWS, GCP), so a
short job costs at least a minute of the instance: small jobs go to the cheapest instance. A measured rate
replaces either prior: ``measured_rows_per_s: {cpu_per_core: R, gpu: R}`` in rows x trees per
second at the job's features and depth.

**Memory**: the raw float32 matrix (4 B per cell) plus the quantised matrix (1 B per cell at
max_bin <= 256) and gradient pairs (8 B per row) in host RAM; on GPU what XGBoost 3.2 allocates on the device
(``planner.model.gbdt.gpu_memory_bytes``): the ELLPACK matrix at ceil(log2(bins)) bits a cell (8 at max_bin 256, 6 at
64; with ``missing_share`` above 0 a null bin, 9 bits, or when no row is complete global bin ids over the densest row's
cells: ``gbdt.ellpack_layout``), 32 B a row of gradients and row partition, and the node-histogram cache (16 B a bin
per node).

**Early stopping** (XGBoost ``early_stopping_rounds``): training stops ``patience`` rounds after
the best validation round, so a run trains ``min(trees, best_iteration + 1 + patience)`` trees
(checked against a real run in tests/test_tabular.py). When the best round is uncertain, give a
range ``[lo, hi]``: it is taken as uniform over that range and the expected trees trained is the
mean of ``min(trees, b + 1 + patience)`` over it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Optional, Union

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from planner.spec.schema import MIN_RATE, Strict

from planner.errors import InfeasibleError, InputError
from planner.hardware.options import select_instances
from planner.units import fmt_run_time, fmt_usd_cents as _usd
from planner.spec import validate_section
from planner.errors import read_json_object
from planner.model.cost import MIN_BILLED_S, billed_hours  # the one billing minimum
from planner.model.gbdt import (ellpack_layout, gpu_memory_bytes, gpu_sketch_s,  # the cost model, written once
                                gpu_tree_fixed_s, predict_tree_s)
from planner.results import TabularOption, TabularPlan
from hardware_catalog import load_catalog
from hardware_catalog.catalog import PCIE_X16_GBPS_PER_DIR

PROFILE_PATH = Path(__file__).resolve().parents[1] / "hardware" / "profiles" / "gbdt-cpu.json"
GPU_PRIOR_RATE = 750_000 * 50 * 6 * 500 / 13.87  # row*feature*level per s, Titan X Pascal (XGBoost docs)
GPU_PRIOR_HBM = 480e9  # Titan X Pascal memory bytes/s (GDDR5X)
GPU_PRIOR_SOURCE = ("prior: XGBoost docs 'XGBoost GPU Support' benchmark (1M x 50, 500 rounds, gpu_hist "
                    "13.87 s on Titan X Pascal), scaled by memory bandwidth; per-tree fixed cost (levels, nodes, "
                    "split evaluation) from a published XGBoost GPU sweep (EvoTrees.jl regressor-xgb-gpu.csv); "
                    "sketch: the matrix copied over the host link")
#: a GPU's host link where its catalog row gives none (an override's bare row): PCIe Gen4 x16, the most common link
#: of the catalog's one-GPU instances (every shipped NVIDIA row has its own)
HOST_LINK_FALLBACK_BPS = PCIE_X16_GBPS_PER_DIR[4] * 1e9
VCPUS_PER_CORE = 2
#: thread scaling used when the profile's own measurement cannot be extrapolated (fewer than
#: MIN_THREADS_MEASURED threads, or a speedup under 1.3x: a shared or SMT-sibling machine).
#: Prior: Amdahl p = 0.95 capped at 16 cores — XGBoost hist stops getting faster beyond ~16 cores
#: (kezhaozhang.github.io/2022/06/16/xgboost-gpu.html: 270k x 77 and 1M x 200 regressions on a
#: 36-core Xeon W-2295 are fastest at 16 cores); p itself is an assumption, not a measurement.
PRIOR_PARALLEL_FRACTION = 0.95
PRIOR_MAX_CORES = 16
MIN_THREADS_MEASURED = 4
BYTES_RAW, BYTES_BIN, BYTES_GRAD = 4.0, 1.0, 8.0


class EarlyStopping(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    patience: int = Field(gt=0, le=1_000_000)
    best_iteration: Union[float, list[float]]  # 0-based round of the best validation score, or [lo, hi]

    @model_validator(mode="after")
    def _range(self):
        b = self.best_iteration
        if isinstance(b, list):
            if len(b) != 2 or not (0 <= b[0] <= b[1]):
                raise ValueError("best_iteration: give one round or a range [lo, hi] with 0 <= lo <= hi")
        elif b < 0:
            raise ValueError("best_iteration: must be >= 0")
        return self


class MeasuredRates(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    cpu_per_core: Optional[float] = Field(None, ge=MIN_RATE["rows_per_s"])  # rows x trees per second on one core
    gpu: Optional[float] = Field(None, ge=MIN_RATE["rows_per_s"])  # rows x trees per second on one GPU


class TabularSpec(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    library: Literal["xgboost"] = "xgboost"
    rows: int = Field(gt=0, le=10**12)  # whole rows: 1.5 was planned as "2 rows" at 1.5 rows' cost (QA 37)
    features: int = Field(gt=0, le=1_000_000)
    trees: int = Field(gt=0, le=1_000_000)
    depth: int = Field(6, gt=0, le=32)
    max_bin: int = Field(256, gt=1, le=256)
    #: the share of the matrix's cells that are missing (NaN), taken as missing independently of each other: it picks
    #: XGBoost's GPU matrix layout (``gbdt.ellpack_layout``); below 1, as a matrix of only missing cells has no data
    missing_share: float = Field(0.0, ge=0.0, lt=1.0)
    runs: int = Field(1, gt=0, le=1_000_000)
    early_stopping: Optional[EarlyStopping] = None
    measured_rows_per_s: Optional[MeasuredRates] = None


def parse_tabular(raw: dict) -> TabularSpec:
    """Validate the job's ``tabular`` section (one-line errors naming the field)."""
    return validate_section(TabularSpec, raw, "tabular")


def load_gbdt_profile(path: Path | None = None) -> dict:
    return read_json_object(path or PROFILE_PATH, "tabular.profile")


def expected_trees(spec: TabularSpec) -> float:
    """Trees actually trained per run under the patience rule (see module docstring)."""
    es = spec.early_stopping
    if es is None:
        return float(spec.trees)
    b = es.best_iteration
    grid = np.linspace(b[0], b[1], 1001) if isinstance(b, list) else np.array([float(b)])
    return float(np.mean(np.minimum(spec.trees, grid + 1 + es.patience)))


def amdahl(p: float, n):
    return 1.0 / ((1.0 - p) + p / np.asarray(n, dtype=np.float64))


def cpu_seconds(spec: TabularSpec, prof: dict, vcpus, trees: float):
    """Training seconds on ``vcpus`` (vectorised): sketch + trees x per-tree, / Amdahl speedup."""
    cores = np.maximum(np.asarray(vcpus, dtype=np.float64) / VCPUS_PER_CORE, 1.0)
    m = spec.measured_rows_per_s
    if m is not None and m.cpu_per_core:
        return spec.rows * trees / (m.cpu_per_core * cores), "measured (user: cpu_per_core, linear in cores)"
    R, F, D = spec.rows, spec.features, spec.depth

    # the job's max_bin: the split search's term scales with it (``design``); it was accepted and every job priced at
    # 256 bins, the profile's: 100k rows x 200 features at depth 10 and max_bin 32 was priced at 1.07 s a tree, 4.0x the
    # 0.27 s it models at 32 bins)
    t_tree = float(predict_tree_s(prof, R, F, D, spec.max_bin))
    t_sketch = prof["s_sketch_s_per_row_feature"] * R * F
    p, cap, how = scaling(prof)
    sp = amdahl(p, np.minimum(cores, cap))
    return (t_sketch + trees * t_tree) / sp, (f"measured 1-thread rate: calibration/gbdt.py (xgboost {prof['library_version']}, "
                                              f"{prof['measured_at']}); thread scaling: {how}")


def scaling(prof: dict) -> tuple[float, float, str]:
    """(parallel fraction, core cap, description): measured when the profile can support it."""
    n, s = prof.get("threads_measured", 1), prof.get("speedup_at_threads", 1.0)
    if n >= MIN_THREADS_MEASURED and s >= 1.3:
        return prof["parallel_fraction"], math.inf, f"measured Amdahl p={prof['parallel_fraction']:.2f} on {n} threads"
    return (PRIOR_PARALLEL_FRACTION, PRIOR_MAX_CORES,
            f"prior Amdahl p={PRIOR_PARALLEL_FRACTION}, capped at {PRIOR_MAX_CORES} cores (profile measured "
            f"{s:.2f}x on {n} threads: too few to extrapolate)")


def gpu_seconds(spec: TabularSpec, hbm_bw, host_bw, trees: float):
    """Training seconds on one GPU (vectorised over parts): the quantile sketch once, then per tree the fixed cost
    (levels, nodes, split evaluation: ``gbdt.gpu_tree_fixed_s``) plus the row work at the prior's rate. The row term
    alone put a 1,000-row job at <0.001 s (QA 41); the per-tree fixed cost is what a small data set pays."""
    m = spec.measured_rows_per_s
    if m is not None and m.gpu:
        return np.full(np.shape(hbm_bw), spec.rows * trees / m.gpu), "measured (user: gpu)"
    rate = GPU_PRIOR_RATE * np.asarray(hbm_bw, dtype=np.float64) / GPU_PRIOR_HBM
    R, F, D = spec.rows, spec.features, spec.depth
    t_tree = float(gpu_tree_fixed_s(R, F, D)) + R * F * D / rate
    return gpu_sketch_s(R, F, host_bw) + trees * t_tree, GPU_PRIOR_SOURCE


def _with_cluster_instance(job, cat):
    """The job's constraints with ``cluster.instance`` as the one instance searched: a tabular run is one
    instance, so a named one is the plan's hardware (it was silently ignored: ``cluster: {instance:
    aws:g5.xlarge}`` recommended lambda:gpu_1x_gh200). The other cluster fields (a bare GPU, node
    counts, prices, links) describe a training cluster and are refused in one line. The instance is looked up here,
    so an unknown one is refused as ``cluster.instance``, the field the job wrote (not the constraint it becomes)."""
    cl, con = job.cluster, job.constraints
    other = [k for k in type(cl).model_fields if k != "instance" and getattr(cl, k) is not None]
    if other:
        raise InputError(f"cluster.{other[0]}", "a tabular (GBDT) job runs on one catalog instance: name it with "
                                                "cluster.instance (or constraints.instances), nothing else")
    if not cl.instance:
        return con
    if con.instances:
        raise InputError("cluster.instance", "give cluster.instance or constraints.instances, not both")
    return con.model_copy(update={"instances": [cat.instance(cl.instance).key]})


#: how a GBDT run's instances are ranked, by ``constraints.objective`` (the other figure breaks ties). A GBDT run has no
#: tokens, so ``tokens_per_dollar`` is refused (``tabular_objective``): it was taken, ranked by cost, and the table's
#: title read "objective: tokens_per_dollar" until QA 37b
TABULAR_RANK = {"cost": lambda r: (r.cost_usd, r.hours), "time": lambda r: (r.hours, r.cost_usd)}


def tabular_objective(objective: str) -> str:
    """``objective`` when a tabular job can be ranked by it (``TABULAR_RANK``), else refused in one line naming those
    that apply."""
    if objective not in TABULAR_RANK:
        raise InputError("constraints.objective", f"{objective} ranks training plans by their tokens, and a tabular "
                                                  f"(GBDT) job has none: use one of {', '.join(TABULAR_RANK)}")
    return objective


def plan_tabular(job, catalog=None, profile_path: Path | None = None) -> TabularPlan:
    """Every catalog instance (CPU-only and one-GPU) with time, $ and memory fit; ranked."""
    spec = parse_tabular(job.tabular)
    tabular_objective(job.constraints.objective)  # before the search
    cat = catalog or load_catalog()
    prof = load_gbdt_profile(profile_path)
    con = _with_cluster_instance(job, cat)
    insts = select_instances(cat, con, gpu_names=[], gpu_only=False, what="instance")
    if not con.instances:
        insts = [i for i in insts if not i.is_gpu or i.gpu_count == 1]  # xgboost uses one GPU
    # XGBoost's GPU backend is CUDA: no TPUs; AMD (ROCm) builds are not the release wheels. An instance the job names
    # and this leaves out is said (QA 41: `instances: [..., gcp:tpu-v6e-8]` dropped the TPU without a word)
    no_cuda = [i for i in insts if i.is_gpu and i.gpu.vendor != "NVIDIA"]
    insts = [i for i in insts if not i.is_gpu or i.gpu.vendor == "NVIDIA"]
    no_cuda_words = (f"{', '.join(i.key for i in no_cuda[:5])}{' ...' if len(no_cuda) > 5 else ''} "
                     f"({', '.join(sorted({i.gpu.name for i in no_cuda}))}): XGBoost's GPU backend is CUDA (NVIDIA "
                     "GPUs only)") if no_cuda else ""
    if not insts:
        if no_cuda and con.instances:
            raise InputError("constraints.instances" if not job.cluster.instance else "cluster.instance",
                             f"no instance named can run the job: {no_cuda_words}; name a CPU or NVIDIA GPU instance")
        raise InputError("constraints", "no instance in the catalog matches the constraints")
    trees = expected_trees(spec)
    cells = spec.rows * spec.features
    host_need = cells * (BYTES_RAW + BYTES_BIN) + spec.rows * BYTES_GRAD
    gpu_need = gpu_memory_bytes(spec.rows, spec.features, spec.depth, spec.max_bin, spec.missing_share)
    rows = []
    by_key = {i.key: i for i in insts}
    cpu = [i for i in insts if not i.is_gpu]
    gpu = [i for i in insts if i.is_gpu]
    if cpu:
        secs, src = cpu_seconds(spec, prof, [i.vcpus or 1 for i in cpu], trees)
        for i, s in zip(cpu, np.atleast_1d(secs)):
            rows.append(_row(i, "cpu", float(s), src, host_need, None, spec, con.spot))
    if gpu:
        secs, src = gpu_seconds(spec, [i.gpu.hbm_bw for i in gpu],
                                [i.gpu.host_bw or HOST_LINK_FALLBACK_BPS for i in gpu], trees)
        for i, s in zip(gpu, np.atleast_1d(secs)):
            rows.append(_row(i, "gpu", float(s), src, host_need, gpu_need, spec, con.spot))
    ok = [r for r in rows if r.fits]
    if not ok:
        raise InfeasibleError("tabular.rows", f"the data ({host_need / 2**30:.1f} GiB in RAM) fits no instance")
    if con.deadline_hours is not None:
        ok = [r for r in ok if r.hours <= con.deadline_hours] or _none(ok, "constraints.deadline_hours", "hours", con.deadline_hours)
    if con.budget_usd is not None:
        ok = [r for r in ok if r.cost_usd <= con.budget_usd] or _none(ok, "constraints.budget_usd", "cost_usd", con.budget_usd)
    ok.sort(key=TABULAR_RANK[con.objective])
    best = ok[0]
    # a named multi-GPU instance is timed on one of its GPUs and billed whole: said, as the cost depends on it (QA 41:
    # aws:p4d.24xlarge ranked at $21.96/h for one A100's time, its 7 other GPUs idle, unsaid)
    multi = [r for r in ok if r.kind == "gpu" and (by_key[r.instance].gpu_count or 1) > 1]
    multi_words = ((f"XGBoost trains on one GPU per process (several need Dask, not modelled): "
                    + ", ".join(f"{r.instance} uses 1 of its {by_key[r.instance].gpu_count:.0f} GPUs" for r in multi[:5])
                    + (" ..." if len(multi) > 5 else "") + ", billed for the whole instance",) if multi else ())
    fastest = min(ok, key=lambda r: r.hours)
    best_other = next((r for r in ok if r.kind != best.kind), None)
    why = f"{best.instance} ({best.kind.upper()}): {fmt_run_time(best.hours)} for {_usd(best.cost_usd)}"
    if best_other:
        why += (f"; best {best_other.kind.upper()} option {best_other.instance} takes {fmt_run_time(best_other.hours)} "
                f"for {_usd(best_other.cost_usd)} ({best_other.cost_usd / best.cost_usd - 1:+.0%} cost)")
    if fastest is not best:
        why += f"; fastest is {fastest.instance} ({fmt_run_time(fastest.hours)}, {_usd(fastest.cost_usd)})"
    return TabularPlan(
        kind="tabular", library=spec.library, rows=spec.rows, features=spec.features, trees_cap=spec.trees,
        depth=spec.depth, max_bin=spec.max_bin, runs=spec.runs, trees_expected=trees, trees_saved_by_early_stopping=spec.trees - trees,
        objective=con.objective, best=best, why=why, ranked=tuple(ok),
        rejected=tuple(r for r in rows if not r.fits),
        memory_host_gib=host_need / 2**30, memory_gpu_gib=gpu_need / 2**30,
        cpu_rate_source=next((r.rate_source for r in rows if r.kind == "cpu"), None),
        gpu_rate_source=next((r.rate_source for r in rows if r.kind == "gpu"), None),
        assumptions=((f"CPU cores = vCPUs / {VCPUS_PER_CORE} (hyper-threads); per-core speed as on the calibration "
                      "machine",) if cpu else ())
        + (f"billing per second with a {MIN_BILLED_S:.0f} s minimum per run; instance start-up and "
                     "data loading from storage not included",)
        + multi_words
        + ((gpu_matrix_note(spec),) if gpu else ())
        + ((f"left out: {no_cuda_words}",) if no_cuda and con.instances else ())
        # the $/h column was spot rates (a tenth of on-demand) and nothing said so
        + (("prices: spot rates (constraints.spot), only instances with one; interruptions are not modelled "
            "(an interrupted run restarts)",) if con.spot else ())
        + _early_stop_note(spec, trees),
        spot=bool(con.spot),
        accuracy=tabular_accuracy(spec, best, trees, prof if cpu else None),
    )


#: what each ELLPACK layout stores, said in the GPU matrix's assumption line (``gpu_matrix_note``)
GPU_MATRIX_WORDS = {
    "dense": "no missing values; give tabular.missing_share if the data has some",
    "relatively dense": "feature-local bin ids and a null bin: {share}, so some row is complete",
    "sparse": "global bin ids, {symbols:,} symbols, over {stride:,} of {features:,} features a row, the densest row's: "
              "{share}",
}


def gpu_matrix_note(spec: TabularSpec) -> str:
    """The assumption line for the GPU matrix: the ELLPACK layout ``gbdt.ellpack_layout`` picks for the job's
    ``missing_share`` and its bits a cell, said beside the GPU memory it sets."""
    lay = ellpack_layout(spec.rows, spec.features, spec.max_bin, spec.missing_share)
    words = GPU_MATRIX_WORDS[lay.kind].format(
        share=f"{spec.missing_share:.3g} of cells missing, independently of each other", symbols=lay.symbols,
        stride=lay.row_stride, features=spec.features)
    return f"GPU matrix: XGBoost's ELLPACK {lay.kind}, {lay.bits} bits a cell ({words})"


#: the CPU profile's 1-thread rate against real xgboost at sizes it was not fitted on, predicted / measured - 1:
#: ``python -m calibration.gbdt --check planner/hardware/profiles/gbdt-cpu.json`` on a quiet machine, 3 held-out sizes
#: (50,000 x 32 x depth 6 +0.8%, 120,000 x 24 x 5 -5.5%, 30,000 x 100 x 7 -6.1%; README "Tabular"); the least and most
CPU_PROFILE_ERROR = (-0.061, 0.008)
CPU_PROFILE_CHECKED = 3
#: the GPU time's per-tree fixed cost (``gbdt.gpu_tree_fixed_s``) against the EvoTrees.jl XGBoost GPU sweep
#: extrapolated to 0 rows, predicted / measured - 1 at 10 and 100 features, depth 5 and 10
#: (``python benchmarks/gbdt_fixed_cost.py``): the least and most of the 4
GPU_FIXED_COST_ERROR = (-0.10, 0.09)


def _part(x: float) -> str:
    """A share of a run's time: 99.7%, 0.3%, 42% (the fixed cost of a 78-hour run read "0% of the time")."""
    return f"{x:.0%}" if 0.1 <= x <= 0.9 else f"{x:.1%}"


def tabular_accuracy(spec: TabularSpec, best: TabularOption, trees: float, prof: Optional[dict]) -> dict:
    """How far the recommended instance's time is known to be off, and the time and cost range that implies. A real
    run takes predicted / (1 + e), e the rate's measured signed error (predicted / measured - 1):

    * CPU on the shipped profile: ``CPU_PROFILE_ERROR`` (its 1-thread rate at held-out sizes); the thread scaling is
      measured only where the profile can support it (``scaling``), else a prior with no error known -- said;
    * GPU: only a prior stands for the row work (one published benchmark scaled by memory bandwidth, no measured
      error), so no range; the per-tree fixed cost's known error (``GPU_FIXED_COST_ERROR``) and its share of the time
      are said;
    * a rate the job measured itself (``tabular.measured_rows_per_s``): its own error, unknown here, so no range.

    The cost range is the time range's at the billed hours (a run under the 60 s minimum is billed the minimum)."""
    out = dict(kind=best.kind, hours=best.hours, cost_usd=best.cost_usd, hours_range=None, cost_usd_range=None)
    src = best.rate_source or ""
    if src.startswith("measured (user"):
        return {**out, "prior_only": False, "basis": "the rate is the job's own measurement (tabular.measured_rows_per_s): "
                                                      "its error is not known here, so no range"}
    if best.kind == "cpu":
        lo_e, hi_e = CPU_PROFILE_ERROR
        bill = lambda h: spec.runs * billed_hours(h / spec.runs) * best.price_usd_hr  # noqa: E731
        hr = [best.hours / (1 + hi_e), best.hours / (1 + lo_e)]
        threads = "measured Amdahl" in src
        return {**out, "prior_only": False, "hours_range": hr, "cost_usd_range": [bill(h) for h in hr],
                "basis": (f"the CPU profile's 1-thread rate ran {abs(lo_e):.1%} under to {hi_e:.1%} over real xgboost at "
                          f"{CPU_PROFILE_CHECKED} sizes it was not fitted on (calibration/gbdt.py --check, a quiet machine; "
                          "with other jobs on the machine runs took 1.6-1.9x longer)")
                         + ("" if threads else f"; the thread scaling is a {scaling(prof)[2]}, its error not "
                                                   "measured: the range is the 1-thread rate's")}
    fixed = trees * float(gpu_tree_fixed_s(spec.rows, spec.features, spec.depth)) / best.seconds_per_run
    lo_e, hi_e = GPU_FIXED_COST_ERROR
    return {**out, "prior_only": True, "fixed_cost_share": fixed,
            "basis": (f"only a prior stands for the GPU time: its row work ({_part(1 - fixed)} of the time) is one published "
                      "benchmark (XGBoost docs, Titan X Pascal) scaled by memory bandwidth, with no measured error, so no "
                      f"range is given; the per-tree fixed cost ({_part(fixed)} of the time) is within {abs(lo_e):.0%} under "
                      f"to {hi_e:.0%} over the EvoTrees.jl XGBoost GPU sweep (benchmarks/gbdt_fixed_cost.py); give "
                      "tabular.measured_rows_per_s.gpu from a run of your own to replace the prior")}


def _early_stop_note(spec: TabularSpec, trees: float) -> tuple[str, ...]:
    """The line a job with early stopping gets when it saves no tree (``expected_trees``): a best round that
    reaches the budget once ``patience`` rounds follow it means every tree trains, which the plan said nowhere
    (the header reads "N trees" as for a job without early stopping)."""
    es = spec.early_stopping
    if es is None or round(spec.trees - trees) > 0:
        return ()
    b = es.best_iteration
    best = f"{b[0]:,.0f}-{b[1]:,.0f}" if isinstance(b, list) else f"{b:,.0f}"
    return (f"early stopping saves no tree: best round {best} + 1 + patience {es.patience:,} reaches the "
            f"{spec.trees:,}-tree budget, so every tree trains",)


def _none(rows, field, key, limit):
    """No instance within the deadline (``key`` hours) or the budget (``cost_usd``): the nearest, in words and
    units, as the training search says it ("no instance meets 0.0001; nearest: ... with hours=0.000411")."""
    best = min(rows, key=lambda r: r[key])
    if key == "hours":
        raise InfeasibleError(field, f"no instance finishes within the deadline ({fmt_run_time(limit)}); fastest: "
                                     f"{best.instance} takes {fmt_run_time(best.hours)} for {_usd(best.cost_usd)}")
    raise InfeasibleError(field, f"no instance fits the budget ({_usd(limit)}); cheapest: {best.instance} costs "
                                 f"{_usd(best.cost_usd)} ({fmt_run_time(best.hours)})")


def _row(inst, kind, seconds, src, host_need, gpu_need, spec, spot) -> TabularOption:
    price = inst.price(spot) or inst.price_ondemand
    fits_host = inst.ram_bytes is None or host_need <= inst.ram_bytes
    fits_gpu = gpu_need is None or gpu_need <= inst.gpu.memory_bytes
    hours = seconds * spec.runs / 3600.0
    billed_h = spec.runs * billed_hours(seconds / 3600.0)
    reason = None if fits_host and fits_gpu else (
        f"needs {host_need / 2**30:.1f} GiB RAM, has {inst.ram_bytes / 2**30:.0f}" if not fits_host
        # the GPU's memory at the need's precision: an L40S's 44.7 GiB read "has 45" beside "needs 44.8" (gbdt46)
        else f"needs {gpu_need / 2**30:.1f} GiB GPU memory, has {inst.gpu.memory_bytes / 2**30:.1f}")
    return TabularOption(instance=inst.key, kind=kind, vcpus=inst.vcpus, gpu=inst.gpu.name if inst.is_gpu else None,
                         ram_gib=inst.ram_bytes / 2**30 if inst.ram_bytes else None, price_usd_hr=price,
                         seconds_per_run=seconds, hours=hours, cost_usd=billed_h * price, fits=fits_host and fits_gpu,
                         reason=reason, rate_source=src)
