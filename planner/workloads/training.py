"""One configuration, fully specified, to its numbers: the ``planner estimate`` JSON contract.

``estimate_job(job)`` resolves the parallel layout (defaults for what is left out, each noted),
checks it is possible, and evaluates params, FLOPs, memory per rank, step time and cost with the
same vectorised functions the search uses (on a batch of one).
"""
from __future__ import annotations

import numpy as np

from planner.layout import Candidates, check_layout
from planner.model.cost import cost_summary
from planner.search.explain import bottleneck_line, advice
from planner.model.flops import step_flops
from planner.vocab import RECOMPUTE, SCHEDULE
from planner.hardware.options import HardwareOption, option_from_cluster
from planner.model.memory import memory_per_gpu
from planner.spec.params import count_params
from planner.spec import JobSpec
from planner.errors import InputError
from planner.model.step_time import BREAKDOWN_KEYS, step_time

MEMORY_KEYS = ("weights", "grads", "optimizer", "activations", "logits", "other")


def resolve_single(job: JobSpec, hw: HardwareOption) -> tuple[Candidates, list[str]]:
    """The one configuration a job names, with defaults for what it leaves out (noted)."""
    p, t, cl, m = job.parallel, job.training, job.cluster, job.model
    notes = []
    g = hw.gpus_per_node
    nodes = cl.nodes or 1
    if cl.nodes is None:
        notes.append("cluster.nodes defaulted to 1")
    total = nodes * g
    tp, pp, cp, ep, vpp = p.tp or 1, p.pp or 1, p.cp or 1, p.ep or 1, p.vpp or 1
    dp = p.dp or max(total // (tp * pp * cp), 1)
    mb = t.micro_batch or 1
    if t.micro_batch is None:
        notes.append("training.micro_batch defaulted to 1")
    check_layout(m, t, tp=tp, pp=pp, cp=cp, ep=ep, dp=dp, vpp=vpp, mb=mb, gpus=total)
    schedule = p.schedule
    if vpp > 1 and schedule == "1f1b":
        schedule = "interleaved"
    zero = p.zero if p.zero is not None else (1 if dp > 1 else 0)
    if p.zero is None:
        notes.append(f"parallel.zero defaulted to {zero}")
    rc = t.recompute or "none"
    if t.recompute is None:
        notes.append("training.recompute defaulted to none")
    sp = p.sequence_parallel if p.sequence_parallel is not None else tp > 1
    c = Candidates(
        tp=np.array([tp]), pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, mb=mb,
        rc=RECOMPUTE.code[rc], sp=sp, schedule=SCHEDULE.code[schedule],
        gpus_per_node=g, nodes=nodes,
    )
    return c, notes


def evaluate(job: JobSpec, c: Candidates, hw: HardwareOption, **time_kw) -> dict:
    """Memory + time arrays for a batch of candidates on one hardware option."""
    mem = memory_per_gpu(job.model, job.training, c)
    st = step_time(job.model, job.training, c, hw, **time_kw)
    fits = mem["total"] <= hw.gpu.memory_bytes
    return dict(mem=mem, time=st, fits=fits)


def row_result(job: JobSpec, c: Candidates, hw: HardwareOption, ev: dict, i: int, catalog=None,
               spot: bool = False) -> dict:
    """The JSON contract for row i of an evaluated batch."""
    m, t = job.model, job.training
    pc = count_params(m)
    st, mem = ev["time"], ev["mem"]
    step = float(st["step_time_s"][i])
    nodes = int(c.nodes[i])
    cfg = c.row(i)
    cfg.update(micro_batch=cfg.pop("mb"), num_microbatches=float(st["num_microbatches"][i]))
    breakdown = {k: float(st[k][i]) for k in BREAKDOWN_KEYS}
    breakdown["compute"] = breakdown["compute_gemm"] + breakdown["compute_attention"] + breakdown["compute_memory_bound"]
    memd = {k: float(mem[k][i]) for k in MEMORY_KEYS}
    memd["total"] = float(mem["total"][i])
    memd["capacity"] = float(hw.gpu.memory_bytes)
    memd["most_loaded_stage"] = "last" if mem["stage"][i] else "first"
    fl = step_flops(m, t.seq_len, t.global_batch, int(c.rc[i]), t.flash_attention)
    out = dict(
        model=m.name,
        throughput_unit="tokens" if m.is_transformer else "samples",
        params=int(pc.total), params_active=int(pc.active),
        flops_per_step=float(fl["model"]), hw_flops_per_step=float(fl["hardware"]),
        step_time_s=step,
        tokens_per_s=float(st["tokens_per_s"][i]),
        tokens_per_s_per_gpu=float(st["tokens_per_s_per_gpu"][i]),
        mfu=float(st["mfu"][i]), hfu=float(st["hfu"][i]),
        fits=bool(ev["fits"][i]),
        memory_per_gpu_bytes=memd,
        breakdown_s=breakdown,
        config=cfg,
        hardware=dict(name=hw.name, cloud=hw.cloud, gpu=hw.gpu.name, gpus_per_node=hw.gpus_per_node,
                      nodes=nodes, gpus=int(c.gpus[i]),
                      inter_node_gbps=hw.inter_node_bw * 8 / 1e9, intra_node_gbps_per_gpu=hw.intra_bw / 1e9,
                      price_ondemand_usd_hr=hw.price_ondemand, price_spot_usd_hr=hw.price_spot),
        detail=dict(
            t_fwd_mb=float(st["t_fwd_mb"][i]), t_bwd_mb=float(st["t_bwd_mb"][i]),
            t_dp_comm=float(st["t_dp_comm"][i]), t_optimizer=float(st["t_optimizer"][i]),
            t_pp_p2p=float(st["t_pp_p2p"][i]), num_microbatches=float(st["num_microbatches"][i]),
            pp=int(c.pp[i]), vpp=int(c.vpp[i]), dp=int(c.dp[i]), schedule=cfg["schedule"],
            micro_batch=int(c.mb[i]), global_batch=t.global_batch, seq_len=t.seq_len,
            gpus_per_node=hw.gpus_per_node, nodes=nodes, vcpus_per_node=hw.vcpus_per_node,
            step_time_s=step, overlap_grad_reduce=True,
        ),
        cost=cost_summary(job, step, nodes, hw.gpus_per_node, hw.price_ondemand, hw.price_spot,
                          catalog, hw.gpu.name),
    )
    out["bottleneck"] = bottleneck_line(out, hw)
    out["advice"] = advice(job, out, hw)
    return out


def inputs_provenance(hw: HardwareOption) -> dict:
    """Which inputs were measured (calibration profile) and which are datasheet priors."""
    src = hw.eff.sources
    measured = sorted(k for k, v in src.items() if k != "*" and str(v).startswith("measured"))
    return dict(
        peaks=f"datasheet: {hw.gpu.name} ({hw.gpu.source.split(' ')[0]})",
        efficiencies_measured=measured,
        efficiencies_prior=src.get("*", "prior"),
    )


def estimate_job(job: JobSpec, catalog=None, profile=None, **time_kw) -> dict:
    from hardware_catalog import load_catalog

    if job.model is None:  # a tabular (GBDT) job: no neural training step to estimate or simulate
        raise InputError("tabular", "estimate and simulate model neural training steps; "
                                    "plan a tabular job with `planner recommend`")
    cat = catalog or load_catalog()
    hw = option_from_cluster(job.cluster, cat, profile, job.training.precision)  # by_dtype fits of that precision
    c, notes = resolve_single(job, hw)
    ev = evaluate(job, c, hw, **time_kw)
    out = row_result(job, c, hw, ev, 0, cat)
    out["assumptions"] = list(job.assumptions) + notes + hw.notes
    out["inputs"] = inputs_provenance(hw)
    return out
