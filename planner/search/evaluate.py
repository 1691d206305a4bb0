"""A batch of candidates to numbers (memory, step time), and one row of it to a typed ``Plan``."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner import defaults as D
from planner.hardware.options import HardwareOption, quote_record, racks_billed
from planner.hardware.platform import device_noun
from planner.layout import V_SPLIT, Candidates, split_vpp
from planner.units import fmt_given
from planner.model.cost import cost_summary, total_steps
from planner.model.evaluation import job_eval
from planner.model.finetune import base_math_peak, base_math_precision, base_weights, on_stack, training_step_flops
from planner.model.flops import attention_span, cp_attention_span, selective_kw
from planner.model.comm import hierarchical_cp_a2a
from planner.model.activations_hf import hf_experts_note
from planner.model.moe import hf_ep_plan_note
from planner.model import offload, physics
from planner.model.memory import PEAK_STAGES, memory_per_gpu, rank_memory, rank_memory_row
from planner.model.pipeline import PLAIN_SPLIT, chunk_layers, rebuilt_layers, split_runtime, stage_layer_split
from planner.model.stacks import (CP_EXCHANGE_WORDS, OFFLOAD_KINDS, OPTIONS, PLAN_NEEDS, Stack, asked_zero, job_uses,
                                   cp_comm_mix, default_stack_mode, from_training, holds, layout_uses)
from planner.model.stack_kernels import fused_attention
from planner.model.step_time import BREAKDOWN_KEYS, step_time
from planner.results import MEMORY_PARTS, Hardware, Layout, Memory, Plan, StepBreakdown
from planner.search.explain import advice, bottleneck_line, option_value
from planner.search.space import open_micro_batches
from planner.spec import JobSpec
from planner.spec.params import count_params
from planner.spec.schema import has_shared_experts
from planner.spec.training_stack import stack_named
from planner.vocab import RECOMPUTE


def memory_limit(job: JobSpec, hw: HardwareOption) -> tuple[float, float]:
    """(bytes a plan may use, headroom share): a plan fits when its most loaded rank, whose total
    already holds the CUDA context, NCCL buffers and fragmentation (planner.model.memory ``other``),
    needs at most HBM x (1 - constraints.memory_headroom)."""
    head = job.constraints.memory_headroom
    head = D.MEMORY_HEADROOM if head is None else head
    return hw.gpu.memory_bytes * (1 - head), head


def fits_memory(job: JobSpec, hw: HardwareOption, mem: dict, limit: float | None = None):
    """Rows whose most loaded rank fits the GPU (``memory_limit``) and whose offloaded state fits
    the node's host RAM (planner.model.offload.host_fits) and whose state swapped to NVMe (DeepSpeed ZeRO-Infinity)
    fits the node's local NVMe (planner.model.offload.nvme_fits)."""
    limit = memory_limit(job, hw)[0] if limit is None else limit
    fits = (mem["total"] <= limit) & offload.host_fits(mem["host"], hw)
    return fits & offload.nvme_fits(mem["nvme"], hw) if "nvme" in mem else fits


def evaluate(job: JobSpec, c: Candidates, hw: HardwareOption, stack: Stack | None = None, whatifs: bool = False,
             **time_kw) -> dict:
    """Memory + time arrays for a batch of candidates on one hardware option, under ``stack``
    (default: the job's ``training.framework``). ``whatifs`` (one row, no step-time overrides: a plan whose advice is
    shown): the row's layout what-ifs (``layout_changes``) are priced in the same memory and step-time calls, one batch
    with the row first (``whatif``, which ``alternatives`` reads); the arrays returned are the row's alone."""
    stack = stack or from_training(job.training, model=job.model)
    alone = len(c) == 1 and not time_kw
    changes = layout_changes(job, c, hw, stack, 0) if whatifs and alone else None
    batch = with_changes(c, changes) if changes else c
    # one row (a plan: estimate's, each plan recommend shows): its rank classes in the same call (``ranks``), which
    # ``row_result`` reads for ``memory_per_rank`` where it made a second memory call on the row until speed53 (the
    # columns both give are the same bits: tests/test_speed44.py)
    mem = memory_per_gpu(job.model, job.training, batch, stack=stack, gpu=hw.gpu.name, ranks=len(c) == 1)
    st = step_time(job.model, job.training, batch, hw, framework=stack, **time_kw)
    fits = fits_memory(job, hw, mem)
    # ``alone``: one row under no step-time overrides, so its step is the base ``option_alternatives`` would
    # re-evaluate (the same call on the same row): ``row_result`` hands it on instead (a recommend plan's 1 of ~6 calls)
    ev = dict(mem=mem, time=st, fits=fits, stack=stack, alone=alone)
    if changes is None:
        return ev
    # the what-ifs apart (each row priced as in its own call: the same bits, tests/test_speed54.py), the row's own
    # arrays its first row: until speed54 ``alternatives`` priced the row again with its what-ifs, two calls more
    whatif = dict(changes=changes, total=mem["total"], step=st["step_time_s"], fits=fits)
    return dict(ev, mem=_first_row(mem, len(batch)), time=_first_row(st, len(batch)), fits=fits[:1], whatif=whatif)


def _first_row(arrays: dict, n: int) -> dict:
    """``arrays``' per-row arrays (length ``n``) cut to their first row; anything else as it is."""
    return {k: v[:1] if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == n else v for k, v in arrays.items()}


def row_result(job: JobSpec, c: Candidates, hw: HardwareOption, ev: dict, i: int, catalog=None,
               spot: bool = False, advise: bool = True) -> Plan:
    """Row i of an evaluated batch as a typed ``Plan`` (the estimate JSON contract). ``advise`` False: no ``advice``
    (its stack what-ifs re-evaluate the row once an option tried; its layout what-ifs are ``ev``'s own, from
    ``evaluate(whatifs=True)``, else priced here in one more batch), for a plan whose advice no output shows
    (recommend's per-stack best)."""
    m, t = job.model, job.training
    pc = count_params(m)
    st, mem = ev["time"], ev["mem"]
    step = float(st["step_time_s"][i])
    nodes = int(c.nodes[i])
    cfg = c.row(i)
    if cfg.get("dp_shard") == cfg["dp"]:  # ZeRO over the whole DP group: no HSDP (Layout.dp_shard None)
        cfg["dp_shard"] = None
    stack = ev.get("stack") or from_training(t, model=m)
    cfg.update(micro_batch=cfg.pop("mb"), num_microbatches=float(st["num_microbatches"][i]),
               offload=offload_label(stack), megatron_fsdp=bool(stack.megatron_fsdp and cfg["zero"] >= 2))
    if getattr(stack, "pp_layout", None) is not None:  # the job's own layout, and what it puts on each rank
        cfg.update(pp_layout=stack.pp_layout, rank_layers=tuple(stage_layer_split(
            m.layers, int(c.pp[i]), int(c.vpp[i]), split_runtime(stack, m))))
    elif int(c.pp[i]) > 1 and m.is_transformer:  # the split the plan priced and --emit launches, in every output
        cfg.update(rank_layers=tuple(stage_layer_split(m.layers, int(c.pp[i]), int(c.vpp[i]), split_runtime(stack, m))))
        if getattr(stack, "pp_split", None) in PLAIN_SPLIT.values():  # the stack's own (the balanced one did not fit)
            cfg.update(pp_split=stack.pp_split)
    run = getattr(stack, "pp_pass_microbatches", None)  # the runs it priced and --emit launches (not one run of the step)
    if int(c.pp[i]) > 1 and run is not None and run < cfg["num_microbatches"]:
        cfg.update(pp_pass_microbatches=int(run))
    if int(c.cp[i]) > 1 and getattr(stack, "cp_comm_types", ()) and m.is_transformer:  # the exchange it priced
        cfg.update(cp_comm_type=stack.cp_comm_type)
    if cfg["recompute"] == "selective" and getattr(t, "recompute_modules", None):
        cfg["recompute_modules"] = tuple(t.recompute_modules)
    if cfg["recompute"] == "full" and cfg["recompute_method"] is None and getattr(t, "recompute_method", None):
        # the job's method on a row that checkpoints every layer (N left open for recommend, and the row fit without
        # a partial split: rn = rg = 0) is that method at every layer: uniform groups of 1, a block of the whole stage
        # chunk -- the same step and memory (pipeline.recomputed_fraction, memory_activations._partial_recompute_saves). The plan
        # said neither, so its layout written back beside the job's recompute_method was refused by estimate
        # ("recompute_num_layers: required with recompute_method uniform"; session 34, tests/test_plan_agreement.py)
        cfg["recompute_method"] = t.recompute_method
        cfg["recompute_num_layers"] = 1 if t.recompute_method == "uniform" else \
            int(chunk_layers(m.layers, int(c.pp[i]), int(c.vpp[i])))
    breakdown = {k: float(st[k][i]) for k in BREAKDOWN_KEYS}
    breakdown["compute"] = breakdown["compute_gemm"] + breakdown["compute_attention"] + breakdown["compute_memory_bound"]
    limit, head = memory_limit(job, hw)
    memory = Memory(**{k: float(mem[k][i]) for k in MEMORY_PARTS}, total=float(mem["total"][i]),
                    capacity=float(hw.gpu.memory_bytes), most_loaded_stage=PEAK_STAGES[int(mem["stage"][i])],
                    limit=limit, headroom=head, margin=float(hw.gpu.memory_bytes) - float(mem["total"][i]),
                    host=float(mem["host"][i]), host_limit=float(offload.host_limit(hw)),
                    grads_in_activations=bool(mem["grads_walked"][i]) if "grads_walked" in mem else False,
                    comm_buffers=float(mem["comm_buffers"][i]) if "comm_buffers" in mem else 0.0)
    # the recompute HFU counts (pipeline.rebuilt_layers, as step_time's hfu): layer SAC's layers rebuilt whole
    rc_hw, f_rc = rebuilt_layers(c.rc[i], c.rn[i], m.layers or 1, c.pp[i],
                                 V_SPLIT if split_vpp(c)[i] == V_SPLIT else int(c.chunks[i]),
                                 stack.layer_sac_every if m.is_transformer else 0,
                                 split_runtime(stack, m) if m.is_transformer and m.layers else None)
    t_on = on_stack(t, stack)  # a frozen base's adapters are the plan's stack's (finetune.expert_adapters)
    flops_at = lambda span: training_step_flops(  # noqa: E731
        m, t_on, t.seq_len, t.global_batch, int(rc_hw), fused_attention(stack, m, t),
        micro_batch=int(c.mb[i]),  # lora: peft's per-call FLOPs per micro-batch
        attn_span=span, full_fraction=float(f_rc), **selective_kw(stack, t, m))
    fl = flops_at(attention_span(t, stack.doc_masking))
    row_span = float(cp_attention_span(t, stack, c.cp[i]))
    if row_span > attention_span(t, stack.doc_masking):  # CP without per-example masks: HFU counts the whole row
        fl = dict(fl, hardware=flops_at(row_span)["hardware"])
    ram = offload.host_ram(hw)  # one node's host RAM: the simulator's dataset-cache answer sizes the cache by it
    plan = Plan(
        model=m.name,
        throughput_unit="tokens" if m.is_transformer else "samples",
        # the model as its config names it (``ParamCount.nominal``: a weightless gate's routers included), not the
        # parameters priced below
        params=int(pc.nominal[0]), params_active=int(pc.nominal[1]), params_mtp=int(pc.mtp),
        # which pipeline rank holds the peak (the chosen plan alone: its states priced per rank class)
        memory_per_rank=(rank_memory_row(mem, c, i) if "middle_rank" in mem else  # (``evaluate`` on one row)
                         rank_memory(m, t, c.take(np.array([i])), stack=stack, gpu=hw.gpu.name)[0]),
        flops_per_step=float(fl["model"]), hw_flops_per_step=float(fl["hardware"]),
        step_time_s=step,
        tokens_per_s=float(st["tokens_per_s"][i]),
        tokens_per_s_per_gpu=float(st["tokens_per_s_per_gpu"][i]),
        padding_share=t.padding_share(m.is_transformer),  # tokens_per_s counts positions, padding included
        mfu=float(st["mfu"][i]), hfu=float(st["hfu"][i]),
        fits=bool(ev["fits"][i]),
        memory_per_gpu_bytes=memory,
        breakdown_s=StepBreakdown(**breakdown),
        config=Layout(**cfg),
        hardware=Hardware(name=hw.name, cloud=hw.cloud, gpu=hw.gpu.name, gpus_per_node=hw.gpus_per_node,
                          nodes=nodes, gpus=int(c.gpus[i]),
                          inter_node_gbps=hw.inter_node_bw * 8 / 1e9, intra_node_gbps_per_gpu=hw.intra_bw / 1e9,
                          price_ondemand_usd_hr=hw.price_ondemand, price_spot_usd_hr=hw.price_spot,
                          network_assumed=hw.network_assumed, network_reference=hw.network_reference,
                          multi_node=hw.multi_node, reference_system=hw.reference.key if hw.reference else None,
                          gpus_per_host=hw.gpus_per_host, device=device_noun(hw.gpu), segment_trays=hw.segment_trays,
                          rack_gpus=hw.rack_gpus, idle_gpus_per_rack=hw.idle_gpus_per_rack if hw.rack_gpus else None,
                          racks_billed=racks_billed(nodes, hw.segments_per_rack) if hw.rack_gpus else None,
                          power_limit_w=hw.power_limit_w, rated_power_limit_w=hw.gpu.power_limit_w,
                          clock_at_power_limit=physics.power_clock(hw), price_quote=quote_record(hw.price_quote),
                          no_price_why=hw.no_price_why or None, network_fabric=hw.network_fabric),
        detail=dict(
            t_fwd_mb=float(st["t_fwd_mb"][i]), t_bwd_mb=float(st["t_bwd_mb"][i]),
            t_dp_comm=float(st["t_dp_comm"][i]), t_optimizer=float(st["t_optimizer"][i] + st["offload"][i]),
            # offload copies: a step tail for the simulator (activation offload runs at pp = 1 only, so no
            # bubble moves); the DP time beyond the bucketed reduce (step_time's t_dp_tail), its buckets and
            # whether it overlaps: the simulator composes the step the analytic model does
            t_dp_tail=float(st["t_dp_tail"][i]), dp_buckets=int(st["dp_buckets"][i]),
            t_pp_p2p=float(st["t_pp_p2p"][i]), t_pp_hop=float(st["t_pp_hop"][i]),
            # the parameter gather each stage's first forward waits on (step_time ``pg_lead``; 0 on most plans)
            t_pp_lead=float(st["t_pp_lead"][i]),
            # what the 1F1B bubble's pp - 1 pacing-stage times exceed the lighter stages' own by (step_time
            # ``fill_excess``): the simulator's list schedule runs those stages lighter
            t_pp_fill_excess=float(st["t_pp_fill_excess"][i]),
            # the micro-batches of one schedule run where the stack runs several a step (Stack.pp_pass_microbatches)
            # and the exposed sync a held FSDP stage pays after each but the last (step_time ``run_sync``): the
            # simulator plays the same runs
            **({"pp_pass_microbatches": int(cfg["pp_pass_microbatches"]),
                "t_pp_run_sync": float(st["t_pp_run_sync"][i])} if cfg.get("pp_pass_microbatches") else {}),
            # the ZeRO-3 gather of comm_zero3 paid once a step, not per micro-batch (step_time ``raf_fwd``)
            t_zero3_step=float(st["t_zero3_step"][i]),
            # the backward the bucketed DP reduce hides under (step_time ``t_dp_hides``: the interleaved schedule's
            # per-chunk reduce hides under more than the last backward)
            t_dp_hides=float(st["t_dp_hides"][i]),
            num_microbatches=float(st["num_microbatches"][i]),
            pp=int(c.pp[i]), vpp=int(c.vpp[i]), dp=int(c.dp[i]), schedule=cfg["schedule"],
            micro_batch=int(c.mb[i]), global_batch=t.global_batch, seq_len=t.seq_len,
            gpus_per_node=hw.gpus_per_node, nodes=nodes, vcpus_per_node=hw.vcpus_per_node,
            host_ram_bytes=ram[0], host_ram_source=ram[1],
            step_time_s=step, overlap_grad_reduce=bool(st["overlap_grad_reduce"][i]),
            # Megatron's explicit interleaved micro-batch group size (Stack.microbatch_group_size): the schedule
            # the simulator list-schedules; absent at the default
            **({"vpp_group": int(stack.microbatch_group_size)}
               if getattr(stack, "microbatch_group_size", None) is not None and int(c.vpp[i]) > 1 else {}),
        ),
        cost=cost_summary(job, step, nodes, hw.gpus_per_node, hw.price_ondemand, hw.price_spot,
                          catalog, hw.gpu.name, hw.instance.key if hw.instance is not None else None,
                          evaluation=row_eval(job, st, c, hw, i), quote=quote_record(hw.price_quote)),
    )
    return replace(plan, bottleneck=bottleneck_line(plan, hw),
                   advice=tuple(advice(job, plan, hw, ev.get("stack"), alternatives(
                       job, c, hw, stack, i, step, base=step if ev.get("alone") and ev.get("stack") is stack else None,
                       whatif=ev.get("whatif") if ev.get("stack") is stack else None)))
                   if advise else (),
                   stack=stack_record(job, ev.get("stack"), ev.get("searched", ()), int(c.zero[i])))


def candidates_eval(job: JobSpec, st: dict, c: Candidates, hw: HardwareOption) -> dict | None:
    """The job's evaluation passes over the run on every candidate (``planner.model.evaluation.job_eval``:
    arrays; None without an ``evaluation`` section): the search adds their ``seconds`` to each candidate's
    time to train, as ``row_result`` does to the plan's (the same call)."""
    return job_eval(job, total_steps(job), st["t_fwd_mb"], st["t_bwd_mb"], st["comm_zero3"], st["num_microbatches"],
                    c.dp, c.mb, c.pp, c.nodes, hw.gpus_per_node, hw.vcpus_per_node)


def row_eval(job: JobSpec, st: dict, c: Candidates, hw: HardwareOption, i: int) -> dict | None:
    """``candidates_eval`` of row ``i``, as plain numbers (``Cost.evaluation``)."""
    ev = candidates_eval(job, st, c, hw)
    if ev is None:
        return None
    return {k: (float(np.asarray(v).reshape(-1)[i] if np.ndim(v) else v) if k in ("mean_s", "seconds", "tier_seconds")
                else v) for k, v in ev.items()}


def layout_changes(job: JobSpec, c: Candidates, hw: HardwareOption, stack: Stack, i: int) -> list[tuple]:
    """Row ``i``'s layout what-ifs ``alternatives`` prices, as ``(field, value, the one-row candidates)``: each
    recompute setting lighter than its own (full -> selective -> none), and twice the micro-batch (where the job fixes
    it, or the search tried it: ``space.open_micro_batches``), kept where the layout rules on the changed field
    (``layout.LAYOUT_RULES`` that read it: the global batch must divide into micro-batches x DP) and the stack
    (``stack_rules``, ``offload.WHY_REFUSED``) accept it."""
    from planner.errors import InputError
    from planner.layout import LAYOUT_RULES
    from planner.model import stack_rules

    row = c.take([i])
    changes = [("recompute", RECOMPUTE.names[code], dict(rc=np.array([code])))
               for code in range(int(c.rc[i]) - 1, -1, -1)]
    # a job that leaves the micro-batch open is offered only one the search tried (it chose this one over it)
    if job.training.micro_batch or int(c.mb[i]) * 2 in open_micro_batches(job.model, job.training):
        changes.append(("micro_batch", int(c.mb[i]) * 2, dict(mb=row.mb * 2)))
    kept = []
    for field, value, cols in changes:
        alt = replace(row, **cols)
        try:
            stack_rules.check(stack, job.model, job.training, alt)
        except InputError:
            continue
        layout_ok = all(np.all(r.ok(alt, job.model, job.training)) for r in LAYOUT_RULES if set(r.needs) & set(cols))
        if layout_ok and all(bool(ok[0]) for ok in offload.valid_masks(stack, alt).values()):
            kept.append((field, value, alt))
    return kept


def with_changes(row: Candidates, changes: list[tuple]) -> Candidates:
    """One batch: the one-row ``row`` first (the base the what-ifs' steps are scaled to), then each of
    ``layout_changes``' rows."""
    batch = row.take(np.zeros(len(changes) + 1, dtype=int))
    for f in ("rc", "mb"):  # new arrays: take fills a constant column read-only (layout.Candidates.take)
        col = np.array(getattr(batch, f))
        for k, (_, _, alt) in enumerate(changes, 1):
            col[k] = getattr(alt, f)[0]
        setattr(batch, f, col)
    return batch


def alternatives(job: JobSpec, c: Candidates, hw: HardwareOption, stack: Stack, i: int,
                 step: float, base: float | None = None, whatif: dict | None = None) -> tuple[dict, ...]:
    """Row ``i`` again with one setting changed (``layout_changes``), kept where it fits (``fits_memory``):
    ``{"field", "value", "total", "limit", "step_time_s"}`` each, the step scaled to the plan's own (same
    model and inputs, one setting changed); then its stack's options changed (``option_alternatives``). What
    ``explain.advice`` offers in place of rules of thumb on free memory: a plan half empty at full recompute may need
    30x its memory without it (GPT-3 175B, ZeRO-3).
    ``base``: row ``i``'s step under ``stack`` alone where the caller holds it (``option_alternatives``); ``whatif``:
    the layout what-ifs ``evaluate(whatifs=True)`` priced beside the row (row ``i`` must be that call's row), else
    priced here in one batch with the row."""
    row = c.take([i])
    limit = memory_limit(job, hw)[0]
    if whatif is None:
        changes = layout_changes(job, c, hw, stack, i)
        if not changes:
            return option_alternatives(job, row, hw, stack, step, base)
        batch = with_changes(row, changes)
        mem = memory_per_gpu(job.model, job.training, batch, stack=stack, gpu=hw.gpu.name)
        whatif = dict(changes=changes, total=mem["total"], fits=fits_memory(job, hw, mem, limit),
                      step=step_time(job.model, job.training, batch, hw, framework=stack)["step_time_s"])
    elif not whatif["changes"]:
        return option_alternatives(job, row, hw, stack, step, base)
    st, fits = whatif["step"], whatif["fits"]
    base = float(st[0])
    out = [dict(field=field, value=value, total=float(whatif["total"][k]), limit=limit,
                step_time_s=step * float(st[k]) / base if base > 0 else float(st[k]))
           for k, (field, value, _) in enumerate(whatif["changes"], 1) if bool(fits[k])]
    return tuple(out) + option_alternatives(job, row, hw, stack, step, base)


def option_alternatives(job: JobSpec, row: Candidates, hw: HardwareOption, stack: Stack,
                        step: float, base: float | None = None) -> tuple[dict, ...]:
    """The one-row plan ``row`` with one option of its stack changed (``explain.STACK_ADVICE``: the values to try, an
    option the stack has and the model uses), as ``alternatives``' entries (``field``: the option): the stack with it
    (``Stack.with_options``) is re-evaluated by the same step-time and memory model, kept where the stack, its rules
    (``stack_rules``) and its model code (a CUDA-graph scope) take it and the plan still fits, its step scaled to the
    plan's own. Memory is evaluated only for a value that saves ``explain.STACK_MIN_SAVING`` of the step. The MoE token
    dispatcher was the only one until advice48 (moedisp47: a DeepSeek-V3 plan at EP 64 on B200 spent 69% of its step
    in the all-to-all at 7.9% MFU and the advice named the share but not the option that took it to 12.3%, QA 81).
    ``base``: ``row``'s step under ``stack`` (``step_time``), where the caller evaluated it already (``evaluate``'s
    ``alone``); else evaluated here."""
    from planner.errors import InputError
    from planner.model import stack_rules
    from planner.model.stacks import OPTION_USES, holds
    from planner.search.explain import STACK_ADVICE, STACK_MIN_SAVING

    m, t = job.model, job.training
    if not m.is_transformer:  # the options price a transformer's layers (a generic model's step has none of them)
        return ()
    tries = [(k, v) for k, (values, _) in STACK_ADVICE.items()
             if holds(stack, k) and OPTION_USES.get(k, lambda m, t: True)(m, t) for v in values(stack, m, hw, row)]
    if not tries:
        return ()
    limit, out = memory_limit(job, hw)[0], []
    if base is None:
        base = float(step_time(m, t, row, hw, framework=stack)["step_time_s"][0])
    for option, value in tries:
        try:  # the stack's refusals: its options, its rules, and those its model code raises (a CUDA-graph scope)
            alt = stack.with_options(**{option: value})
            stack_rules.check(alt, m, t, row)
            st = float(step_time(m, t, row, hw, framework=alt)["step_time_s"][0])
            st = step * st / base if base > 0 else st
            if st >= (1 - STACK_MIN_SAVING) * step:
                continue
            mem = memory_per_gpu(m, t, row, stack=alt, gpu=hw.gpu.name)
        except InputError:
            continue
        if bool(fits_memory(job, hw, mem, limit)[0]):
            out.append(dict(field=option, value=value, total=float(mem["total"][0]), limit=limit, step_time_s=st))
    return tuple(out)


def offload_label(stack: Stack) -> str:
    """What ``stack`` offloads to host memory, for ``Layout.offload``."""
    parts = [k for k in OFFLOAD_KINDS if getattr(stack, f"{k}_offload")]
    return "+".join(parts) or "none"


def stack_record(job: JobSpec, stack: Stack | None = None, searched: tuple[str, ...] = (),
                 zero: int | None = None) -> dict:
    """The stack a plan assumes, for the JSON: its name, each option the stack has and the job uses
    (``Stack.options``: the record pasted back as the job's ``training.framework`` is the same stack) and the plan
    at ZeRO ``zero`` uses (``stacks.LAYOUT_USES``: no ``reshard_after_forward`` on a ZeRO-2 plan), and the
    options ``recommend`` searched because the job left them open (``planner.search.space.stack_variants``) -- those
    of them the record carries: a ZeRO-2 plan of a search that opened ``param_offload`` (ZeRO-3 only) does not use it,
    so its record neither states nor lists it (a reviewer pastes ``searched``'s values back as the job's stack); nor
    one the search left unset (rec58: ``activation_offload_layers`` beside an offload that is off), which the job
    refuses listed as searched yet null (schema ``_searched_are_set``): left out, it reads back as the stack's own."""
    stack = stack or from_training(job.training, model=job.model)
    opts = stack.options(job.model, job.training, zero)
    return dict(name=stack.name, **opts, searched=[k for k in searched if opts.get(k) is not None])


def peak_source(source: str) -> str:
    """Where a GPU row's peaks come from, short: its "compute:" clause where the row splits its sources, else its
    first clause (up to ";"); that clause's URL, or the clause itself clipped to 100 characters. The first word
    stood for it, so the A10G's "memory: AWS g5 GpuInfo ...; compute: NVIDIA A10 datasheet https://..." read
    "peaks from datasheet: A10G-24GB (memory:)", Gaudi 2's "(Intel,)".

    >>> peak_source("memory: AWS g5 GpuInfo 22888 MiB; compute: NVIDIA A10 datasheet https://www.nvidia.com/a10/")
    'https://www.nvidia.com/a10/'
    >>> peak_source("NVIDIA PCI device-id table entry 10de:2338 'H100 SXM5 96GB' (public driver tables); other")
    "NVIDIA PCI device-id table entry 10de:2338 'H100 SXM5 96GB' (public driver tables)"
    """
    import re

    clauses = [c.strip() for c in (source or "").split(";")]
    pick = next((c for c in clauses if c.lower().startswith("compute:")), clauses[0])
    url = re.search(r"https?://[^\s,;)'\"]+", pick)
    if url:
        return url.group(0).rstrip(".")
    return pick if len(pick) <= 100 else pick[:99] + "…"


def inputs_provenance(hw: HardwareOption, job: JobSpec | None = None, stack: Stack | None = None,
                      searched: tuple[str, ...] = (), layout: dict | None = None) -> dict:
    """Which inputs were measured (calibration profile) and which are datasheet priors, and the
    training stack the times assume."""
    from planner.hardware.profile import PROFILE_KEY, UNUSED_PREFIX

    src = hw.eff.sources
    measured = sorted(k for k, v in src.items() if k != "*" and str(v).startswith("measured"))
    profile_unused = [(k[len(UNUSED_PREFIX):], str(v)) for k, v in src.items() if k.startswith(UNUSED_PREFIX)]
    peaks = f"datasheet: {hw.gpu.name} ({peak_source(hw.gpu.source)})"
    if job is not None and job.model.is_transformer:
        # MFU's and HFU's denominator, the one step_time divides by (physics.datasheet_peak at training.precision),
        # so a reader can recompute MFU = model FLOPs per step / (step time x GPUs x peak) from the printed
        # figures: the value was not printed, and an fp8 job's MFU is against the FP8 peak, twice the bf16 one
        math = base_math_precision(job.training)  # the base's math (finetune.base_math_precision)
        peaks += (f"; MFU and HFU against its {math} peak, "
                  f"{base_math_peak(hw.gpu, job.training) / 1e12:,.1f} TFLOP/s per {device_noun(hw.gpu)}")
        if hw.power_limit_w:  # a power-capped option: the rate its GEMMs reach, below the peak MFU keeps
            peaks += (f"; at {fmt_given(hw.power_limit_w)} W (cluster.power_limit_w) its GEMMs reach "
                      f"{physics.reachable_peak(hw, math) / 1e12:,.1f} (sustained clock "
                      f"{physics.power_clock(hw):.3f}x)")
    out = dict(
        peaks=peaks,
        efficiencies_measured=measured,
        efficiencies_prior=src.get("*", "prior"),
    )
    if src.get(PROFILE_KEY):
        out["profile"] = src[PROFILE_KEY]  # the file, device and day of the measurements (QA 46)
    unused = _attention_rates_unused(hw, job, stack, measured)
    whys = [unused[1]] if unused else []
    whys += [f"{k}: {why}" for k, why in profile_unused]
    if whys:
        out["efficiencies_measured"] = [k for k in measured if not unused or k not in unused[0]]
        out["efficiencies_measured_unused"] = (list(unused[0]) if unused else []) + [k for k, _ in profile_unused]
        out["efficiencies_measured_unused_why"] = "; ".join(whys)
    if job is not None:
        out["training_stack"] = stack_assumption(job, stack, searched, layout)
    return out


def _attention_rates_unused(hw: HardwareOption, job: JobSpec | None, stack: Stack | None, measured: list[str]):
    """(the profile's measured attention rates the step does not use, why), or None. A flash kernel with published
    rates on this GPU family (physics.ATTN_KERNELS: cuDNN, FA3, FA2) is priced from them, whatever a profile measured
    (``calibrate`` times torch's sdpa, not the stack's kernel): until QA 36 the inputs line listed attn_fwd and attn_bwd
    as measured while 0.01 and 0.5 gave the same step."""
    from planner.hardware.efficiency import gpu_family
    from planner.model.physics import ATTN_KERNELS

    names = [k for k in ("attn_fwd", "attn_bwd") if k in measured]
    if not names or job is None or not (job.model.is_transformer and job.training.flash_attention):
        return None
    fw = stack or from_training(job.training, model=job.model)
    if gpu_family(hw.gpu.name) not in ATTN_KERNELS.get(fw.attn_kernel, {}):
        return None
    return names, (f"{fw.name}'s {fw.attn_kernel} attention kernel on {gpu_family(hw.gpu.name)} is priced from its "
                   "published rates (planner.model.physics.ATTN_KERNELS), not from the profile's sdpa measurement")


#: the words the stack line gives each fallback a search tried (planner.search.space ``is_fallback``), in the order it
#: lists them; the offloads share one word. Until words58 the line said "offload" on every search, MaxText's (which
#: offloads nothing) included, and named no pipeline fallback
FALLBACK_WORDS = {"optimizer_offload": "offload", "param_offload": "offload", "activation_offload": "offload",
                  "pp_split": "the stack's own pipeline split", "pp_pass_microbatches": "the smaller pipeline passes",
                  "fused_cross_entropy": "the fused cross-entropy",
                  "defer_fsdp_grad_sync": "the gradient sync each micro-batch", "loss_fn": "the linear cross-entropy",
                  "partition_activations": "the partitioned checkpoints",
                  "cpu_checkpointing": "the checkpoints in host memory", "num_vocab_tiling": "the loss tiles"}


def fallback_note(searched: tuple[str, ...]) -> str:
    """What the stack line says of the fallbacks among the ``searched`` options (space.stack_variants: each tried only
    where the plan does not fit without it; the NVMe twin only where host memory does not hold the CPU offload,
    space._with_nvme_twins), as " (...)", or "" where the search tried none."""
    late = list(dict.fromkeys(w for k, w in FALLBACK_WORDS.items() if k in searched))
    said = [(", ".join(late[:-1]) + " and " + late[-1] if len(late) > 1 else late[0])
            + " only for layouts that do not fit without it"] if late else []
    said += ["the NVMe only where host memory does not hold the CPU offload"] if "offload_device" in searched else []
    return f" ({', '.join(said)})" if said else ""


def stack_assumption(job: JobSpec, stack: Stack | None = None, searched: tuple[str, ...] = (),
                     layout: dict | None = None) -> str:
    """The training stack and options the step times assume, as one line for the output; for a
    search, ``stack`` is the best plan's and ``searched`` the options the search chose; ``layout`` the plan's
    ``config`` (its ZeRO stage and PP say how it reshards: ``Stack.reshard_label``) and GPU (whether its TP overlap
    runs there: ``Stack.tp_overlap_label``), as ``recommend.best_layout`` gives them."""
    fw = stack or from_training(job.training, model=job.model)
    mode = default_stack_mode(job.training)
    mode = mode if mode in D.FRAMEWORK_BY_MODE else None
    what = (f"training.mode {mode}" if mode == job.training.mode
            else f"a bitsandbytes base, training.base_weights {base_weights(job.training)}")
    opt = job.training.optimizer
    if not mode and fw.name == D.FRAMEWORK_BY_OPTIMIZER.get(opt):  # defaults.FRAMEWORK_BY_OPTIMIZER
        what, mode = f"training.optimizer {opt}, which {D.FRAMEWORK} does not build", opt
    # a section of options only names the default stack too (schema.TrainingSpec._framework_name): said as such
    where = "training.framework open" if job.training.framework is None else "training.framework.name left out"
    given = "" if stack_named(job.training) else (
        f" ({where}: the default stack for {what})" if mode else f" ({where}: the default stack)")
    zero, pp = (layout.get("zero"), layout.get("pp")) if layout else (None, None)
    # the searched options the plan uses at its ZeRO stage (``stacks.LAYOUT_USES``), as its JSON record lists them
    searched = tuple(k for k in searched if zero is None or layout_uses(fw, k, zero))
    chosen = (f"; searched, as training.framework leaves them open: {', '.join(searched)}{fallback_note(searched)}"
              if searched else "")
    recompute = (layout or {}).get("recompute") or job.training.recompute or "full"  # MaxText's remat policy (QA 70)
    return (fw.describe(job.training.precision, job.model.is_transformer, zero, pp, job.model.moe is not None,
                        has_shared_experts(job.model), recompute, (layout or {}).get("gpu"),
                        (layout or {}).get("tp") or job.parallel.tp,  # (None: TP open and no plan, overlap listed)
                        vocab_logits=fw.vocab_tiles(job.model) == fw.num_vocab_tiling, searched=searched)
            + given + chosen + cp_exchange_note(fw, int((layout or {}).get("cp") or job.parallel.cp or 1), job.model,
                                                int((layout or {}).get("tp") or job.parallel.tp or 1),
                                                int((layout or {}).get("gpus_per_node") or 8))
            + packed_attention_note(job.training, fw, int((layout or {}).get("cp") or 1))
            + hf_ep_plan_note(job.model, fw, int((layout or {}).get("ep") or 1), int((layout or {}).get("tp") or 1))
            + hf_experts_note(job.model, fw, int((layout or {}).get("ep") or job.parallel.ep or 1)))


def option_notes(job: JobSpec, stack: Stack, layout, searched: bool = False) -> list[str]:
    """What the output says of the options ``training.framework`` sets that the plan (its ``Layout``: zero, dp, cp, pp,
    vpp, tp, recompute) does not run as set (qa56: until then each was dropped without a word): one the job's model or
    precision does not use (``stacks.OPTION_USES``; the ones planner.spec.load already notes are not said twice), one
    the plan has no pipeline, CP or TP split or recompute for (``stacks.PLAN_NEEDS``), one that runs only from a ZeRO stage
    above the plan's (``stacks.asked_zero``: the stage fixed lower, or one replica, where no stage shards anything),
    and, on a search that left ``parallel.zero`` open (``searched``), the stage it searched from."""
    t, m = job.training, job.model
    fw = t.framework
    if fw is None:
        return []
    said = " ".join(job.assumptions)
    config = {k: getattr(layout, k, None) for k in ("zero", "dp", "cp", "pp", "vpp", "tp", "recompute")}
    given = [k for k in OPTIONS if getattr(fw, k, None) is not None and holds(stack, k)
             and f"training.framework.{k} " not in said]
    out = [f"training.framework.{k} {option_value(getattr(fw, k))} changes nothing: {m.name} at training.precision "
           f"{t.precision} does not use it" for k in given if not job_uses(k, m, t)]
    out += [f"training.framework.{k} {option_value(getattr(fw, k))} changes nothing: the plan has no {PLAN_NEEDS[k][0]}"
             for k in given if job_uses(k, m, t) and k in PLAN_NEEDS and not PLAN_NEEDS[k][1](config)]
    zero, replicas = config.get("zero"), (config.get("dp") or 1) * (config.get("cp") or 1)
    for k, stage in asked_zero(stack, m, t).items():
        if zero is not None and zero < stage:
            why = (f"parallel.zero {zero}, as the job fixes it" if job.parallel.zero is not None
                   else "one data-parallel replica: no stage shards anything")
            out.append(f"training.framework.{k} {option_value(getattr(fw, k))} changes nothing at ZeRO-{zero} ({why}): it "
                       f"runs from ZeRO-{stage} on")
        elif searched and job.parallel.zero is None:
            out.append(f"parallel.zero: searched from ZeRO-{stage} on where there is more than one replica, as "
                       f"training.framework.{k} {option_value(getattr(fw, k))} runs only there")
    return out


def cp_exchange_note(fw: Stack, cp: int, model=None, tp: int = 1, gpus_per_node: int = 8) -> str:
    """How the stack's context parallelism exchanges K/V (``Stack.cp_kind``), said at CP > 1: the step prices it
    hidden or exposed by it (QA 49: a CP plan's stack line did not say); on Megatron-Core the ``cp_comm_type`` it
    runs (cpcomm36), and a2a+p2p's ``--hierarchical-context-parallel-sizes`` (comm.hierarchical_cp_a2a)."""
    if cp <= 1:
        return ""
    mix = cp_comm_mix(fw, model)
    if len(mix) > 1:  # a per-layer --cp-comm-type: each type's words with its share of the (attention) layers
        return f"; CP{cp} exchange per layer: " + "; ".join(
            f"{share:.0%} of the layers {_cp_words(replace(fw, cp_comm_type=t), cp, model, tp, gpus_per_node)}"
            for t, share in mix)
    if mix:  # one type: a hybrid's mixed list may run one type on every attention layer (per_cp_type)
        fw = replace(fw, cp_comm_type=mix[0][0])
    return f"; CP{cp} exchange: {_cp_words(fw, cp, model, tp, gpus_per_node)}"


def _cp_words(fw: Stack, cp: int, model, tp: int, gpus_per_node: int) -> str:
    """``CP_EXCHANGE_WORDS`` of one exchange kind, with a2a+p2p's hierarchical sizes, and where the stack expands
    grouped K/V heads before the attention call (``Stack.repeats_kv_heads``: torchtitan's ``repeat_kv`` before SDPA)
    the expanded bytes it moves (``layer_ops.cp_comm``'s ``kv_width``): torchtitan's Llama-3.1-70B at CP8 TP8 and
    128K tokens exchanges 8x the grouped K/V, a third of its step, which its line did not say until QA 74."""
    kind = CP_EXCHANGE_WORDS[fw.cp_kind]  # (the TE entries name the cp_comm_type)
    if fw.cp_kind == "te_a2a_p2p" and model is not None:
        a = int(hierarchical_cp_a2a(cp, tp, gpus_per_node, model.heads or 1, model.kv_heads or model.heads or 1))
        kind += f", hierarchical sizes {a} x {cp // a}"
    if (fw.repeats_kv_heads and model is not None and fw.cp_kind not in ("a2a", "te_a2a")
            and model.kv_dim and model.q_dim > model.kv_dim):  # the all-to-all kinds move the grouped heads
        kind += (f", on K/V expanded to the query heads' width first ({model.q_dim / model.kv_dim:g}x the grouped "
                 "K/V's bytes: the stack repeats the K/V heads before the attention call)")
    return kind


def packed_attention_note(t, fw: Stack, cp: int = 1) -> str:
    """What packed rows mean for the attention (``flops.attention_span``), said beside the stack:
    per example where the stack hands its varlen flash kernel the example boundaries, else over the
    whole row -- also at CP > 1 where the stack's context parallelism drops the masks (``flops.cp_attention_span``:
    the HF Trainer's, accelerate's torch CP, SDPA with a causal mask only). Empty when the rows are not packed
    examples shorter than a row."""
    if t.packing != "packed" or not t.mean_example_tokens or t.mean_example_tokens >= t.seq_len:
        return ""
    span = attention_span(t, fw.doc_masking)
    if span < t.seq_len and float(np.max(cp_attention_span(t, fw, cp))) > span:
        return (f"; packed rows at CP{cp} attend over the whole {t.seq_len:,}-token row, not per example (~{span:,.0f} "
                f"tokens): {fw.name}'s context parallelism (accelerate's torch backend) runs SDPA with a causal mask "
                "only, so each example also attends to the ones before it in its row; priced over the whole row")
    if span < t.seq_len:
        return (f"; packed rows attend per example (~{span:,.0f} of {t.seq_len:,} tokens: {fw.name} passes example "
                "boundaries to a variable-length flash kernel; training.packing: concatenated if your data "
                "loader lets examples attend across the row)")
    return f"; packed rows attend over the whole row ({fw.name} has no per-example attention masking here)"
