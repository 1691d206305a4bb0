"""``planner recommend``: search hardware, node counts and parallel layouts; rank and explain.

The space, per hardware option (instance type or GPU): nodes x TP x PP x CP x EP x ZeRO x
micro-batch x recompute x interleaving. It is built as numpy columns (a Cartesian product cut by
divisibility masks), pruned by memory before the time model runs, then filtered by the
constraints (budget, deadline, GPU count). There is no Python loop per configuration: the only
loop is over hardware options (tens), each evaluated as one vectorised batch.

Rules that shape the space (Megatron-LM conventions): TP within a node and dividing the heads (and
the KV heads, or a multiple of them); PP dividing the layers; CP only for long sequences (>= 16k)
and dividing the sequence; EP dividing the experts and dp*cp; DP = GPUs / (TP*PP*CP); the global
batch a multiple of micro-batch x DP; interleaving (vpp) only with PP > 1 and layers divisible by
PP*vpp; sequence parallelism on whenever TP > 1.
"""
from __future__ import annotations

import time
from types import SimpleNamespace
import numpy as np
import pandas as pd

from planner import defaults as D
from planner.layout import Candidates, valid_mask
from planner.model.cost import total_steps, total_tokens
from planner.errors import InfeasibleError, InputError
from planner.workloads.training import evaluate, inputs_provenance, row_result
from planner.vocab import RECOMPUTE, SCHEDULE
from planner.hardware.options import HardwareOption, options_for_search
from planner.model.memory import memory_per_gpu
from planner.present.terminal import config_str, fmt_time, fmt_usd
from planner.spec import JobSpec
from planner.model.step_time import step_time



def _divisors(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def space_for(job: JobSpec, hw: HardwareOption) -> Candidates:
    """Every layout on ``hw`` allowed by the job's fixed fields and the divisibility rules."""
    m, t, p, cl, con = job.model, job.training, job.parallel, job.cluster, job.constraints
    g = hw.gpus_per_node
    max_gpus = con.max_gpus or D.MAX_GPUS
    min_gpus = con.min_gpus or 1
    nodes = [cl.nodes] if cl.nodes else [n for n in D.NODE_COUNTS if min_gpus <= n * g <= max_gpus]
    if not nodes:
        raise InputError("constraints.max_gpus", f"max_gpus={max_gpus} is smaller than one {hw.name} node ({g} GPUs)")
    if m.is_transformer:
        tps = [p.tp] if p.tp else [d for d in D.TP_DEGREES if d <= g and m.heads % d == 0
                                   and (m.kv_heads % d == 0 or d % m.kv_heads == 0)]
        pps = [p.pp] if p.pp else [d for d in _divisors(m.layers, 64) if d in D.PP_DEGREES]
        long_seq = t.seq_len >= D.LONG_SEQ
        cps = [p.cp] if p.cp else ([d for d in D.CP_DEGREES if t.seq_len % d == 0] if long_seq else [1])
        eps = [p.ep] if p.ep else ([d for d in D.EP_DEGREES if m.moe.experts % d == 0] if m.moe else [1])
        vpps = [p.vpp] if p.vpp else list(D.VPP)
        mbs = [t.micro_batch] if t.micro_batch else list(D.MICRO_BATCHES)
        rcs = [RECOMPUTE.code[t.recompute]] if t.recompute else [0, 1, 2]
    else:
        tps = pps = cps = eps = vpps = [1]
        mbs = [t.micro_batch] if t.micro_batch else list(D.GENERIC_MICRO_BATCHES)
        rcs = [RECOMPUTE.code[t.recompute]] if t.recompute else [0, 2]
    zeros = [p.zero] if p.zero is not None else [0, 1, 2, 3]
    axes = [np.asarray(a, dtype=np.int64) for a in (nodes, tps, pps, cps, eps, vpps, zeros, mbs, rcs)]
    grid = np.stack([x.ravel() for x in np.meshgrid(*axes, indexing="ij")])  # the Cartesian product
    if grid.size == 0:
        raise InfeasibleError("parallel", "the fixed parallel fields leave no layout to search")
    n_, tp, pp, cp, ep, vpp, zero, mb, rc = grid
    gpus = n_ * g
    # DP fills the GPUs the other axes leave (p.dp, when fixed, must be exactly that)
    dp = np.where(gpus % (tp * pp * cp) == 0, gpus // np.maximum(tp * pp * cp, 1), 0)
    if p.dp:
        dp = np.where(dp == p.dp, dp, 0)
    ok = dp >= 1
    dp = np.maximum(dp, 1)
    ok &= valid_mask(SimpleNamespace(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, mb=mb, gpus=gpus), m, t)
    # pruning, not validity: choices that equal or lose to one already in the space
    ok &= ~((zero > 0) & (dp * cp == 1))  # ZeRO with one replica is ZeRO-0
    if m.is_transformer:
        ok &= tp * cp <= max(g, 1) * 8  # TP*CP beyond 8 nodes is never sensible
    grid = grid[:, ok]
    dp = dp[ok]
    n_, tp, pp, cp, ep, vpp, zero, mb, rc = grid
    sp = tp > 1 if p.sequence_parallel is None else np.full(len(tp), p.sequence_parallel)
    sched = np.where(vpp > 1, SCHEDULE.code["interleaved"], SCHEDULE.code[p.schedule])
    return Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, mb=mb, rc=rc, sp=sp,
                      schedule=sched, gpus_per_node=g, nodes=n_)


def pareto_mask(time_s: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Rows no other row beats on both time and cost (the time-vs-cost Pareto front)."""
    order = np.lexsort((cost, time_s))
    best = np.minimum.accumulate(cost[order])
    front_sorted = np.r_[True, cost[order][1:] < best[:-1]]
    mask = np.zeros(len(time_s), dtype=bool)
    mask[order[front_sorted]] = True
    return mask


COST_TIE = D.COST_TIE


def cost_bucket(usd):
    """Costs on a log grid of COST_TIE steps, so a plan that is 2x faster for +0.1% is not ranked
    behind the slower one by a rounding difference (prices are quoted to the cent, times are not)."""
    usd = np.asarray(usd, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usd > 0, np.floor(np.log(usd) / np.log1p(COST_TIE)), np.inf)


def _rank_key(df: pd.DataFrame, objective: str):
    if objective == "time":
        return ["train_hours", "cost"]
    if objective == "tokens_per_dollar":
        return ["usd_per_token_bucket", "train_hours"]
    return ["cost_bucket", "train_hours"]


def recommend(job: JobSpec, catalog=None, profile=None, top: int = 10, simulate: bool = True,
              progress=None) -> dict:
    """Search, rank, explain. Returns ``ranked`` (top rows in the estimate JSON contract),
    ``best``, ``why``, ``pareto``, counts, timing and ``table`` (a DataFrame of every feasible
    configuration, best first)."""
    from hardware_catalog import load_catalog

    t0 = time.perf_counter()
    cat = catalog or load_catalog()
    con = job.constraints
    opts = options_for_search(job.cluster, con, job.training.precision, cat, profile)
    steps = total_steps(job)
    tokens = total_tokens(job)
    frames = []
    batches: dict[int, Candidates] = {}  # keyed by the option's index k, like the frames' ``opt`` column
    evaluated = 0
    closest_mem = None  # (overflow ratio, description) of the nearest-to-fitting layout
    too_big = []  # options whose single node already exceeds constraints.max_gpus
    for k, hw in enumerate(opts):
        if progress:
            progress(k, len(opts), hw.name)
        try:
            c = space_for(job, hw)
        except InputError as e:
            if e.field != "constraints.max_gpus":
                raise
            too_big.append(e)  # e.g. a 5120-chip TPU pod under max_gpus=512: skip, not fail
            continue
        evaluated += len(c)
        if len(c) == 0:
            continue
        mem = memory_per_gpu(job.model, job.training, c)
        fits = mem["total"] <= hw.gpu.memory_bytes
        if not fits.any():
            i = int(np.argmin(mem["total"]))
            ratio = mem["total"][i] / hw.gpu.memory_bytes
            if closest_mem is None or ratio < closest_mem[0]:
                closest_mem = (ratio, f"{c.nodes[i]} x {hw.name} with {config_str({**c.row(i), 'micro_batch': int(c.mb[i])})} "
                                      f"needs {mem['total'][i] / 2**30:.1f} GiB of {hw.gpu.memory_bytes / 2**30:.0f} GiB per GPU")
            continue
        c = c.take(np.flatnonzero(fits))
        st = step_time(job.model, job.training, c, hw)
        price = hw.price(con.spot)
        hours = steps * st["step_time_s"] / 3600.0
        cost = hours * c.nodes * (price if price is not None else np.nan)
        mem_total = mem["total"][fits]
        frames.append(pd.DataFrame(dict(
            opt=k, idx=np.arange(len(c)), hardware=hw.name, cloud=hw.cloud, gpu=hw.gpu.name,
            nodes=c.nodes, gpus=c.gpus, tp=c.tp, pp=c.pp, dp=c.dp, cp=c.cp, ep=c.ep, vpp=c.vpp,
            zero=c.zero, micro_batch=c.mb, recompute=RECOMPUTE.decode(c.rc),
            step_time_s=st["step_time_s"], mfu=st["mfu"], tokens_per_s=st["tokens_per_s"],
            mem_gib=mem_total / 2**30, mem_capacity_gib=hw.gpu.memory_bytes / 2**30,
            train_hours=hours, cost=cost, usd_per_token=cost / tokens,
        )))
        batches[k] = c
    if progress:
        progress(len(opts), len(opts), "done")
    if not frames and too_big and len(too_big) == len(opts):
        raise too_big[0]
    if not frames:
        hint = f"; nearest: {closest_mem[1]}" if closest_mem else ""
        raise InfeasibleError("memory", "no configuration fits in GPU memory" + hint
                              + " — allow more GPUs (constraints.max_gpus), recompute, or a larger-memory GPU")
    df = pd.concat(frames, ignore_index=True)
    n_fit = len(df)
    if df["cost"].isna().all() and con.objective != "time":
        job.constraints.objective = "time"
    notes = []
    keep = np.ones(len(df), dtype=bool)
    if con.deadline_hours is None and con.budget_usd is None:
        # without a deadline "cheapest" drifts to tiny clusters running for years; say so and cap
        keep &= (df["train_hours"] <= D.HORIZON_HOURS).to_numpy()
        job.assumptions.append(f"no deadline or budget given: plans longer than {D.HORIZON_HOURS / 24:.0f} days "
                               "are excluded (set constraints.deadline_hours)")
        if not keep.any():
            keep[:] = True
    if con.budget_usd is not None:
        keep &= ~(df["cost"] > con.budget_usd).to_numpy()
    if con.deadline_hours is not None:
        keep &= (df["train_hours"] <= con.deadline_hours).to_numpy()
    if not keep.any():
        parts = []
        if con.budget_usd is not None:
            i = df["cost"].idxmin()
            parts.append(f"cheapest fitting plan costs {fmt_usd(df.at[i, 'cost'])} ({df.at[i, 'nodes']} x {df.at[i, 'hardware']}, "
                         f"{fmt_time(df.at[i, 'train_hours'] * 3600)}) vs budget {fmt_usd(con.budget_usd)}")
        if con.deadline_hours is not None:
            i = df["train_hours"].idxmin()
            parts.append(f"fastest plan takes {fmt_time(df.at[i, 'train_hours'] * 3600)} ({df.at[i, 'nodes']} x {df.at[i, 'hardware']}, "
                         f"{fmt_usd(df.at[i, 'cost'])}) vs deadline {con.deadline_hours:g} h")
        field = "constraints.budget_usd" if con.budget_usd is not None else "constraints.deadline_hours"
        raise InfeasibleError(field, "no configuration meets the constraints; nearest: " + "; ".join(parts))
    df = df[keep]
    objective = job.constraints.objective
    df = df.assign(cost_bucket=cost_bucket(df["cost"]), usd_per_token_bucket=cost_bucket(df["usd_per_token"] * 1e12))
    df = df.sort_values(_rank_key(df, objective), na_position="last", kind="stable").reset_index(drop=True)
    df = df.drop(columns=["cost_bucket", "usd_per_token_bucket"])
    front = pareto_mask(df["train_hours"].to_numpy(), np.nan_to_num(df["cost"].to_numpy(), nan=np.inf))
    df["pareto"] = front

    # the displayed top N: best layout per (hardware, nodes), so rows are real alternatives
    shown = df.drop_duplicates(["hardware", "nodes"]).head(top)
    ranked = [_full_row(job, opts, batches, r, cat, con.spot) for r in shown.itertuples()]
    sim_note = None
    if simulate and job.data is not None:
        ranked, sim_note = _rerank_with_simulator(job, ranked, objective, cat, con.spot)
        if sim_note:
            notes.append(sim_note)
    best = ranked[0]
    why = _why(best, ranked, df, objective, con.spot)
    pareto_rows = df[df["pareto"]].drop_duplicates(["hardware", "nodes"]).head(25)
    elapsed = time.perf_counter() - t0
    hw_best = opts[int(shown.iloc[0]["opt"])]
    shown_hw = {r["hardware"]["name"] for r in ranked}
    notes += [n for o in opts if o.name in shown_hw for n in o.notes]
    return dict(
        objective=objective, spot=con.spot, evaluated=int(evaluated), fits_memory=int(n_fit),
        feasible=int(len(df)), search_seconds=elapsed, configs_per_second=evaluated / max(elapsed, 1e-9),
        best=best, why=why, ranked=ranked,
        pareto=pareto_rows.drop(columns=["opt", "idx"]).to_dict(orient="records"),
        notes=notes, assumptions=list(job.assumptions), inputs=inputs_provenance(hw_best),
        table=df.drop(columns=["opt", "idx"]),
    )


def _full_row(job, opts, batches, r, cat, spot):
    hw = opts[int(r.opt)]
    c = batches[int(r.opt)].take(np.array([int(r.idx)]))
    ev = evaluate(job, c, hw)
    return row_result(job, c, hw, ev, 0, cat, spot)


def _cost_of(row: dict, spot: bool):
    c = row["cost"]
    return c["cost_spot_usd"] if spot else c["cost_ondemand_usd"]


def _why(best: dict, ranked: list[dict], df: pd.DataFrame, objective: str, spot: bool) -> str:
    """Why the winner wins, against the best alternative on other hardware — and, when another
    plan is much faster for a little more money (or much cheaper for a little more time), that
    trade-off, since a person choosing would want it."""
    hours = best["cost"]["hours"]
    cost = _cost_of(best, spot)
    alt = next((r for r in ranked[1:] if r["hardware"]["name"] != best["hardware"]["name"]), None)
    alt = alt or (ranked[1] if len(ranked) > 1 else None)
    base = f"{fmt_time(hours * 3600)} for {fmt_usd(cost)} at {best['mfu']:.0%} MFU"
    if alt is None:
        return f"only feasible option: {base}"
    a_cost, a_hours = _cost_of(alt, spot), alt["cost"]["hours"]
    alt_name = f"{alt['hardware']['nodes']} x {alt['hardware']['name']}"
    if objective == "time":
        why = f"fastest: {base}; next best {alt_name} takes {fmt_time(a_hours * 3600)} ({(a_hours / hours - 1):+.0%})"
        cheaper = [r for r in ranked[1:] if _cost_of(r, spot) and cost and _cost_of(r, spot) < 0.8 * cost
                   and r["cost"]["hours"] < 1.15 * hours]
        if cheaper:
            r = cheaper[0]
            why += (f"; trade-off: {r['hardware']['nodes']} x {r['hardware']['name']} costs "
                    f"{(_cost_of(r, spot) / cost - 1):+.0%} for {(r['cost']['hours'] / hours - 1):+.0%} time")
        return why
    if not (cost and a_cost):
        return base
    why = (f"cheapest: {base}; next best {alt_name} costs {fmt_usd(a_cost)} ({(a_cost / cost - 1):+.0%}) "
           f"and takes {fmt_time(a_hours * 3600)}")
    faster = [r for r in ranked[1:] if _cost_of(r, spot) and _cost_of(r, spot) <= 1.10 * cost
              and r["cost"]["hours"] <= hours / 1.5]
    if faster:
        r = max(faster, key=lambda r: hours / r["cost"]["hours"])
        why += (f"; trade-off: {r['hardware']['nodes']} x {r['hardware']['name']} finishes "
                f"{hours / r['cost']['hours']:.1f}x sooner ({fmt_time(r['cost']['hours'] * 3600)}) for "
                f"{(_cost_of(r, spot) / cost - 1):+.0%} cost")
    return why


def _rerank_with_simulator(job, ranked, objective, catalog=None, spot=False, steps=300):
    """Re-rank the shown rows by simulated step time when the job has a data pipeline.

    Each row is simulated (planner.simulate, steady state after the loaders' warm-up); when the
    simulated step is longer than the analytic one, its step time, throughput, MFU and cost are
    recomputed from the simulated step, ``breakdown_s["data_stall"]`` holds the difference and
    ``simulated`` a summary. A row whose GPUs wait for data (batches not ready, or host-to-device
    copies on the critical path) more than 5% of the step says so in ``bottleneck``."""
    from planner.model.cost import cost_summary
    from planner.simulate import SimConfig, simulate

    data_bound = []
    for r in ranked:
        res = simulate(SimConfig.from_estimate(r, job), steps=steps, seed=0)
        sim_step = res.steady_step_time_s or res.step_time_s["mean"]
        wait = res.data.get("steady_data_wait_share")
        wait = res.data["data_wait_share"] if wait is None else wait
        analytic = r["step_time_s"]
        r["simulated"] = dict(step_time_s=sim_step, analytic_step_time_s=analytic, data_wait_share=wait,
                              gpu_busy_share=res.gpu_busy_share, samples_per_s=res.steady_samples_per_s or res.samples_per_s,
                              steps=steps, seed=0)
        if sim_step > analytic * (1 + 1e-9):
            scale = sim_step / analytic
            r["breakdown_s"]["data_stall"] = sim_step - analytic
            r["step_time_s"] = sim_step
            for k in ("tokens_per_s", "tokens_per_s_per_gpu", "mfu", "hfu"):
                r[k] /= scale
            hw = r["hardware"]
            r["cost"] = cost_summary(job, sim_step, hw["nodes"], hw["gpus_per_node"], hw["price_ondemand_usd_hr"],
                                     hw["price_spot_usd_hr"], catalog, hw["gpu"])
        if wait > 0.05:
            data_bound.append(r)
            r["bottleneck"] = (f"data pipeline: the GPUs wait for data {wait:.0%} of each step (simulated; "
                               f"analytic compute-bound step {analytic * 1e3:,.4g} ms, simulated {sim_step * 1e3:,.4g} ms)"
                               " — more loader workers/vCPUs, caching, sharding or filtering help; more GPUs do not")

    def key(r):
        c = r["cost"]
        if objective == "time":
            return (c["hours"],)
        usd = c["cost_spot_usd"] if spot else c["cost_ondemand_usd"]
        if objective == "tokens_per_dollar":
            return (float(cost_bucket(usd / c["tokens"] * 1e12)) if usd and c.get("tokens") else np.inf, c["hours"])
        return (float(cost_bucket(usd)) if usd is not None else np.inf, c["hours"])

    ranked = sorted(ranked, key=key)
    note = None
    if data_bound:
        note = (f"data, not compute, is the bottleneck of {len(data_bound)} of the top {len(ranked)} plans "
                "(simulated input pipeline); ranks and costs use the simulated step time")
    elif ranked:
        note = f"top {len(ranked)} plans re-checked with the simulator: the input pipeline keeps up"
    return ranked, note
