"""Training: ``estimate`` (one configuration the job names) and ``recommend`` (the search, then
the simulator's re-check of the top plans when the job has an input pipeline).

``estimate_job(job)`` resolves the parallel layout (defaults for what is left out, each noted),
checks it against the layout rules, and evaluates params, FLOPs, memory per rank, step time and
cost with the same vectorised functions the search uses (on a batch of one). A layout the training
stack refuses (planner.model.stack_rules) is an error naming the job field and the stack's rule.
"""
from __future__ import annotations

import functools
import math

from dataclasses import replace
from typing import NamedTuple, Optional

import numpy as np

from planner.errors import InputError, NoPeakError
from planner.hardware.data_rates import with_measured_data
from planner.hardware.options import HardwareOption, check_fixed_cluster, option_from_cluster, slice_hosts
from planner.layout import SP_WITHOUT_TP, Candidates, check_layout, sequence_parallel
from planner.model import accuracy, offload, physics, stack_rules
from planner.model.cost import buy_power_assumption, cost_summary, owned_at_wall_hours
from planner.model.finetune import check_targets
from planner.model.moe import dispatcher_refusal
from planner.model.pipeline import PLAIN_SPLIT, chunk_layers, split_left_open, split_runtime, stack_layout
from planner.model.stacks import (asked_zero, check_asked_zero, from_training, megatron_fsdp_low_zero, nvme_rate_given,
                                   recompute_split, resolve)
from planner.results import Plan, Recommendation, Simulated, checkpoint_words, evaluation_line, ranked_price
from planner.search.recommend import best_layout, recommend as search_plans, with_spot_risk
from planner.search.space import for_accelerator, for_schedule, is_auto, without_auto_recipe
from planner.search.evaluate import evaluate, inputs_provenance, option_notes, row_result, stack_assumption
from planner.search.explain import option_value
from planner.search.rank import cost_bucket, why
from planner.units import fmt_time, fmt_usd
from planner.vocab import JOB_RATE, RATE_NAMES, SPOT
from planner.spec import JobSpec
from planner.spec.load import wrote_fp4
from planner.spec.schema import INTERLEAVED_NEEDS_VPP
from planner.spec.training_stack import stack_name
from planner.vocab import RECOMPUTE
from hardware_catalog import load_catalog
from hardware_catalog.skypilot import spot_rate_words
from planner.simulate import SimConfig, simulate
from planner.simulate.failures import overhead_arrays, run_overhead
from planner.simulate.interruptions import SpotModel


def resolve_single(job: JobSpec, hw: HardwareOption) -> tuple[Candidates, list[str]]:
    """The one configuration a job names, with defaults for what it leaves out (noted)."""
    p, t, cl, m = job.parallel, job.training, job.cluster, job.model
    notes = []
    stack = from_training(t, model=m)  # the job's stack: its defaults and rules below
    g = hw.gpus_per_node
    nodes = cl.nodes or 1
    if nodes > 1 and not hw.multi_node:
        raise InputError("cluster.nodes", f"{hw.name} cannot form a multi-node training cluster (no cluster fabric "
                                          f"in the catalog); nodes={nodes} needs a catalog override with cluster: true")
    if cl.nodes is None:
        notes.append("cluster.nodes defaulted to 1")
    total = nodes * g
    tp, pp, cp, ep, vpp = p.tp or 1, p.pp or 1, p.cp or 1, p.ep or 1, p.vpp or 1
    lay = stack_layout(t.framework, m)  # the job's option (framework "auto" included)
    if lay is not None:  # Megatron's rule: the layout's stages are pp x vpp, vpp implied where the job leaves it out
        if lay.vpp(pp) is None:
            raise InputError("training.framework.pp_layout", f"{lay.text!r} has {len(lay.stages)} virtual stages, "
                                                             f"not a multiple of parallel.pp {pp}")
        if p.vpp is None:
            vpp = lay.vpp(pp)
            if vpp > 1:
                notes.append(f"parallel.vpp {vpp}: implied by training.framework.pp_layout on pp {pp}")
    dp = p.dp or max(total // (tp * pp * cp), 1)
    mb = t.micro_batch or 1
    if t.micro_batch is None:
        notes.append("training.micro_batch defaulted to 1")
    # a dense model has no experts: its ETP is TP, as the search's rows carry it (a dense llama3-8b on DeepSpeed took
    # AutoTP's expert-TP 1 and estimated 8e-5 s off recommend's row of the same layout, session 35's CI)
    etp = p.etp or (stack_rules.default_etp(stack, tp, ep) if m.moe is not None else tp)
    if p.etp is None and m.moe is not None and etp != tp:
        if getattr(stack, "tp_splits_experts", True):
            notes.append(f"parallel.etp defaulted to {etp} (the stack's expert-TP under EP{ep})")
        elif ep > 1 and getattr(stack, "moe_ep_tp_fold", False):  # AutoEP: auto_ep_folding.py validate_folding_global
            notes.append(f"parallel.etp defaulted to {etp} (DeepSpeed's AutoEP keeps each expert whole: its "
                         "expert_tensor_parallel_size takes 1 only, rule ds-autotp-etp)")
        else:
            notes.append(f"parallel.etp defaulted to {etp} (DeepSpeed's AutoTP splits nn.Linear layers only: "
                         "transformers 5's 3-D experts are whole on every TP rank, rule ds-autotp-etp)")
    if cl.nodes is None:
        _check_default_node(g, tp * pp * cp, p.dp)
    # the layout checks see the ETP the plan runs (the stack's default under EP when the job leaves it out): with
    # p.etp they took Megatron's ETP = TP, and refused torchtitan's TP2 PP2 DP2 EP4 that recommend ranks (QA 43)
    check_layout(m, t, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, dp=dp, vpp=vpp, mb=mb, gpus=total)
    if p.schedule == "interleaved" and vpp == 1:  # (vpp 1 given: the job validator's; left out: here)
        raise InputError("parallel.vpp", f"{INTERLEAVED_NEEDS_VPP}; set parallel.vpp")
    # the job's schedule, else the stack's own (stack_rules.schedule_codes: GPipe on MaxText at pp > 1)
    schedule = int(stack_rules.schedule_codes(stack, p, pp, vpp))
    note = stack_rules.open_schedule_note(stack, p)
    if note and pp > 1:
        notes.append(note)
    zero = p.zero if p.zero is not None else stack_rules.default_zero(stack, dp, cp, pp)
    # an option the job sets that runs only from some stage on raises the default to it (stacks.asked_zero), where
    # a stage shards anything (more than one replica), as recommend searches only from there
    asked = {k: v for k, v in asked_zero(stack, m, t).items() if v > zero} if p.zero is None and dp * cp > 1 else {}
    if asked:
        zero = max(asked.values())
        why = ", ".join(f"training.framework.{k} {option_value(getattr(t.framework, k))} runs from ZeRO-{v} on"
                        for k, v in asked.items())
        notes.append(f"parallel.zero defaulted to {zero} ({why})")
    elif p.zero is None:
        notes.append(f"parallel.zero defaulted to {zero}")
    dp_shard = p.dp_shard or dp  # HSDP: the ZeRO shard group's DP degree; left out, the whole DP group
    if p.dp_shard is not None:
        check_layout(m, t, dp=dp, dp_shard=dp_shard, zero=zero)
    rc = t.recompute or "none"
    if t.recompute is None:
        notes.append("training.recompute defaulted to none")
    sp = bool(sequence_parallel(p.sequence_parallel, tp))
    if p.sequence_parallel and not sp:
        notes.append(SP_WITHOUT_TP)
    rn = rg = 0
    method, n_rc = recompute_split(t, stack, m)
    if method is not None:
        if rc != "full":
            raise InputError("training.recompute_num_layers" if t.recompute_num_layers else "training.recompute_method",
                             "only with recompute: full (estimate runs recompute none when it is left out)")
        if n_rc is None:
            raise InputError("training.recompute_num_layers", f"required with recompute_method {method} in estimate "
                                                              "(Megatron-Core has no default; recommend picks one)")
        chunk = int(chunk_layers(m.layers, pp, vpp))
        if n_rc >= chunk:  # Megatron-Core's loops clamp: every layer of the chunk (pipeline.recomputed_fraction)
            notes.append(f"training.recompute_num_layers {n_rc} covers all {chunk} layers of a pipeline stage"
                         f"{' chunk' if vpp > 1 else ''}: every layer is recomputed")
        # block: N layers per chunk re-run; uniform: every layer re-run, groups of N (Candidates.rn / rg)
        rn, rg = (n_rc, 0) if method == "block" else (0, n_rc)
    c = Candidates(
        tp=np.array([tp]), pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, mb=mb,
        rc=RECOMPUTE.code[rc], sp=sp, schedule=schedule,
        gpus_per_node=g, nodes=nodes, etp=etp, dp_shard=dp_shard, rn=rn, rg=rg,
    )
    if p.sequence_parallel is None:  # left open: off where the stack refuses it on, as recommend searches it
        osp = stack_rules.open_sp(stack, m, t, c)
        if osp.off.any():
            c = replace(c, sp=osp.sp)
            notes.append(f"parallel.sequence_parallel defaulted to false at TP {tp}: training stack "
                         f"{stack.name} refuses it on ({', '.join(osp.rules)})")
    return c, notes


def _check_default_node(gpus_per_node: int, model_ranks: int, dp: int | None) -> None:
    """A job that leaves cluster.nodes out is estimated on one node; where its fixed layout needs more GPUs than
    that node holds, the refusal blames the default, not the layout. Until QA 34 the layout rule's own words were
    said ("parallel: tp*pp*cp = 32 does not divide the 8 GPUs" for TP8 PP4 on an 8-GPU node) and never that the
    8 GPUs were a default, though a fitting job's output says "cluster.nodes defaulted to 1"."""
    need = model_ranks * (dp or 1)
    if gpus_per_node % model_ranks == 0 and (dp is None or need == gpus_per_node):
        return
    what = f"tp*pp*cp{'*dp' if dp else ''} = {need}"
    nodes = (need // gpus_per_node if need % gpus_per_node == 0 else None) if dp else \
        math.lcm(model_ranks, gpus_per_node) // gpus_per_node
    hint = f"set cluster.nodes, e.g. to {nodes} ({nodes * gpus_per_node} GPUs)" if nodes else \
        f"no whole number of {gpus_per_node}-GPU nodes holds {what} GPUs: change parallel.dp"
    raise InputError("cluster.nodes", f"left out: estimate takes 1 node ({gpus_per_node} GPUs), which {what} does "
                                      f"not fit; {hint}, or leave the layout to `planner recommend`")


def spot_model_for(job: JobSpec):
    """The interruption model of a spot job (``constraints.spot``), None otherwise: ``estimate`` and
    ``recommend`` price a spot plan the same way (expected cost and time with interruptions)."""
    if not (job.constraints.spot and job.model is not None):
        return None
    from planner.simulate.config import checkpoint_bytes  # the simulator's own checkpoint size
    return SpotModel(job, checkpoint_bytes({}, job), size_for=lambda stack: checkpoint_bytes({}, job, stack))


class CheckpointOverhead:
    """What the search calls to price a job's ``checkpoint`` section (cadence, node MTBF) on every
    candidate (injected by ``recommend``, as the spot model is: the search sits below the
    simulator): ``table(nodes, gpus, step_s, compute_hours)`` gives arrays of goodput and expected
    wall hours (``failures.overhead_arrays``, the formula ``run_overhead`` runs on one plan), and
    ``plan(p)`` the plan with ``Cost.checkpoint_failures`` (``with_checkpoint_failures``). ``None``
    from ``for_job`` where the job has no such section: the search is then as without one."""

    def __init__(self, job: JobSpec):
        from planner.simulate.config import checkpoint_bytes, checkpoint_sections  # the simulator's own size
        self.job = job
        self._sections = checkpoint_sections
        self._size = checkpoint_bytes
        self._bytes = {}  # per stack: the checkpoint size under the convention the stack holds

    def bytes_for(self, stack=None) -> float:
        """The checkpoint's bytes on ``stack`` (the variant the search times; None: the job's
        ``training.framework``), as the plan's (``SimConfig.from_estimate``, its ``stack``) will be sized."""
        key = None if stack is None else (stack.name, stack.mixed_precision)
        if key not in self._bytes:
            self._bytes[key] = self._size({}, self.job, stack)
        return self._bytes[key]

    @classmethod
    def for_job(cls, job: JobSpec):
        c = getattr(job, "checkpoint", None)
        if c is None or job.model is None or not (c.every_steps or c.mtbf_hours_per_node):
            return None
        return cls(job)

    def table(self, nodes, gpus, step_s, compute_hours, stack=None, eval_hours=0.0) -> dict:
        ck, fl = self._sections(self.job.checkpoint, self.bytes_for(stack), np.asarray(gpus), np.asarray(nodes))
        return overhead_arrays(ck, step_s, compute_hours, fl.mtbf_s if fl.enabled else np.inf,
                               fl.restart_s if fl.enabled else 0.0, eval_hours)

    def plan(self, plan: Plan) -> Plan:
        return with_checkpoint_failures(plan, self.job)


def with_checkpoint_failures(plan: Plan, job: JobSpec) -> Plan:
    """The plan with the expected time and on-demand cost of its checkpoint pauses and node failures
    (``Cost.checkpoint_failures``) when the job's ``checkpoint`` section sets a cadence or an MTBF: the
    simulator's model in closed form (``failures.run_overhead``), so that ``estimate``, ``recommend``
    and the report say what ``simulate`` would (they ignored the section: a 180 s blocking save every
    100 steps of 14 s cost 12.7% more time than they printed). ``buy`` and ``committed`` are re-priced at
    the expected wall hours (``cost.owned_at_wall_hours``): owned or committed nodes sit through the
    pauses and restarts too (they priced the uninterrupted hours while the headline held the overheads)."""
    if getattr(job, "checkpoint", None) is None or job.model is None:
        return plan
    c = plan.cost
    o = run_overhead(SimConfig.from_estimate(plan, job), plan.step_time_s, c.hours, eval_hours_of(c))
    if o is None:
        return plan
    # the write rate is the pause's other half: say when it is the schema's default, not the job's storage (QA 41)
    o["checkpoint_write_gbps_default"] = "write_gbps" not in job.checkpoint.model_fields_set
    od = plan.hardware.price_ondemand_usd_hr
    o["expected_cost_ondemand_usd"] = o["expected_hours"] * plan.hardware.nodes * od if od else None
    buy, committed = c.buy, c.committed
    if np.isfinite(o["expected_hours"]) and (buy or committed):  # owned / committed nodes sit through them too
        # committed prices are set against the catalog's on-demand rate, not the job's own (cost.cost_summary; QA 60)
        od_set = c.catalog_ondemand_usd_hr if c.price_basis == JOB_RATE else od
        buy, committed = owned_at_wall_hours(buy, committed, o["expected_hours"], plan.hardware.nodes, od_set,
                                             o["expected_cost_ondemand_usd"], f"with {checkpoint_words(o)}")
    c = replace(c, checkpoint_failures=o, buy=buy, committed=committed)
    # $ per 1M tokens at the price the plan is ranked at (cost.cost_summary, Cost.with_spot_risk): it stayed at the
    # uninterrupted on-demand rate (0.1812 for 4 x p5, Llama-3-8B, 100B tokens) beside the recommend table's and
    # the report's expected 0.1829 and the JSON's own cost.ranked
    usd = ranked_price(c, bool(getattr(job.constraints, "spot", False)))
    per_m = usd / c.tokens * 1e6 if usd is not None and c.tokens else c.usd_per_million_tokens
    return replace(plan, cost=replace(c, usd_per_million_tokens=per_m))


def eval_hours_of(cost) -> float:
    """The evaluation passes' hours inside a plan's time to train (``Cost.evaluation``; 0 without them): the
    checkpoint and failure model spreads them over the segments between saves (``failures.work_per_step_s``)."""
    ev = getattr(cost, "evaluation", None)
    return float(ev["hours"]) if ev else 0.0


def with_accuracy(plan: Plan, job: JobSpec) -> Plan:
    """The plan with the step-time model's error on published runs of its kind (``Plan.accuracy``:
    planner.model.accuracy): the range of step time, hours and cost real runs like it have fallen in,
    at the price the plan is quoted at (a spot plan: its expected spot cost and hours)."""
    if job.model is None:
        return plan
    band = accuracy.band_for(job.model, plan.hardware.gpu)
    if band is None:
        return plan
    spot = bool(job.constraints.spot)
    hours_for = None
    if plan.cost.checkpoint_failures and not (spot and plan.cost.spot_risk):
        # the range's ends re-priced at their step times: the pauses keep their seconds, failures follow wall time
        cfg, c = SimConfig.from_estimate(plan, job), plan.cost
        hours_for = lambda f: run_overhead(cfg, plan.step_time_s * f, c.hours * f,  # noqa: E731
                                           eval_hours_of(c) * f)["expected_hours"]
    acc = accuracy.apply_band(band, plan.step_time_s, plan.cost.hours_at(spot), plan.cost.price(spot),
                              quoted_basis(plan.cost, spot),
                              accuracy.coverage(band, job.model, plan.hardware.gpu, mode=job.training.mode),
                              data_stall_s=plan.breakdown_s.data_stall, hours_for=hours_for)
    return replace(plan, accuracy=dict(acc, slow_end_breaks=slow_end_breaks(acc, job.constraints),
                                       fast_end_breaks=slow_end_breaks(acc, job.constraints, end=0)))


def slow_end_breaks(acc: dict, con, end: int = 1) -> list[str]:
    """The job's deadline and budget the likely range's slow end (``accuracy.apply_band``: the step-time model's
    10th-percentile error on published runs) would break, in words; [] where it keeps both. The report's Risks said
    it since review34; until QA 70 ``recommend`` / ``estimate`` and ``--json`` did not: Llama-3.1-8B LoRA on 4 x
    p4de.24xlarge under a $95 budget read "$81.16 to $104.01" and "this plan uses $88.99 (94%)" with no word that a
    real run at the slow end is over the budget. ``end`` 0: those its fast end breaks too (``fast_end_breaks``: an
    ``estimate`` of a fixed plan that misses them whatever the model's error; until QA 86 such a plan, 75.8 d against
    a 10.0 d deadline, read "at the slow end the run would be beyond the 10.0 d deadline")."""
    hi_h, hi_c = acc["hours_range"][end], (acc["cost_usd_range"] or [None, None])[end]
    out = []
    if con.deadline_hours is not None and (hi_h is None or not hi_h <= con.deadline_hours):  # None / inf: never ends
        out.append(f"beyond the {fmt_time(con.deadline_hours * 3600)} deadline (constraints.deadline_hours)")
    if con.budget_usd is not None and hi_c is not None and hi_c > con.budget_usd:
        out.append(f"over the {fmt_usd(con.budget_usd)} budget (constraints.budget_usd)")
    return out


def quoted_basis(cost, spot: bool) -> str:
    """Which time and cost ``ranked_hours`` / ``ranked_price`` give for this plan, in words: the figures
    its likely range (``Plan.accuracy``) comes from."""
    if spot and cost.spot_risk:
        return "expected spot, with interruptions" + (" and node failures" if cost.spot_risk.get("node_failures")
                                                      is not None else "")
    time = f"with {checkpoint_words(cost.checkpoint_failures)}" if cost.checkpoint_failures else "uninterrupted"
    # the job's cluster.price_usd_hr is no on-demand price (QA 60): named as the rate it is
    return (f"{'spot' if spot else RATE_NAMES[cost.price_basis]}, " if cost.price(spot) is not None else "") + time


def left_out(job: JobSpec, simulated: bool, plan: Plan | None = None) -> tuple[str, ...]:
    """What the job describes that the quoted step time, time to train and cost leave out, in words: the input
    pipeline (``data``) where the simulator did not run (``estimate``, ``recommend --no-simulate``); and what
    they hold beside the training steps: the evaluation passes of ``plan`` (``evaluation_line``). ``estimate`` printed
    ResNet-50 from S3 files at 44.4 min and $40.68 with no word of its data section, while ``recommend``
    (the simulator: the GPUs wait for data 93% of each step) quoted the same plan at 10.0 h and $552.63."""
    out = []
    if job.data is not None and not simulated:
        out.append("the input pipeline keeps up: the job's data section is not simulated here, so the step time is the "
                   "GPUs' compute-bound one and a data-bound run takes longer; `planner simulate` runs this plan "
                   "through it and `planner recommend` (without --no-simulate) re-ranks its top plans with it")
    line = evaluation_line(plan.cost.evaluation if plan is not None else None)
    if line:
        out.append(line)
    for line in (unused_partial_recompute(job, plan), unused_remat_policy(job, plan)):
        if line:
            out.append(line)
    return tuple(out)


def unused_partial_recompute(job: JobSpec, plan: Plan | None) -> str:
    """The partial full recompute the job sets (``training.recompute_method`` / ``recompute_num_layers``) with
    ``training.recompute`` open, when the plan the search chose does not run full recompute: those fields apply to
    full recompute only, and ``recommend`` said nothing of them (a job with ``recompute_num_layers: 2`` got a
    recompute-none plan without a word). "" when they are used or not set."""
    t = job.training
    fields = [f"{k} {getattr(t, k)}" for k in ("recompute_method", "recompute_num_layers") if getattr(t, k, None)]
    if not fields or t.recompute is not None or plan is None or plan.config.recompute == "full":
        return ""
    return (f"training.{' and '.join(fields)} not used: {'it splits' if len(fields) == 1 else 'they split'} full "
            f"recompute, and the recommended plan runs "
            f"recompute {plan.config.recompute} (training.recompute is open, and the search found it "
            "better); set training.recompute: full to plan with them")


def unused_remat_policy(job: JobSpec, plan: Plan | None) -> str:
    """MaxText's ``training.framework.remat_policy`` (and its ``remat_tensors``) the job sets, when the plan does not
    run full recompute: the policy names what a layer under remat keeps (MaxText decoders.py ``get_remat_policy``),
    so a plan without recompute runs ``remat_policy: none`` (planner.model.stacks ``remat_policy_run``, the stack
    line and the launch keys) and the job's policy is not what was priced -- said, as ``unused_partial_recompute``
    says of Megatron's split. Since QA 70 the stack line names the policy the plan runs; a job that wrote
    ``remat_policy: custom`` with ``training.recompute`` open read ``remat_policy=none`` with no word why. "" when
    the policy is used, is ``none`` or is not set."""
    fw = job.training.framework
    policy = getattr(fw, "remat_policy", None) if fw is not None else None
    if policy in (None, "none") or plan is None or plan.config.recompute == "full":
        return ""
    why = ("training.recompute is left open: estimate runs none, recommend what its search ranks first"
           if job.training.recompute is None else
           f"the job sets training.recompute: {job.training.recompute}")
    return (f"training.framework.remat_policy {policy} not used: MaxText applies it to layers under remat "
            f"(training.recompute: full), and the plan runs recompute {plan.config.recompute} ({why}), which is "
            "MaxText's remat_policy none; set training.recompute: full to plan with it")


def _as_written(fn):
    """``fn(job, ...)`` whose refusal of a low-precision peak names what ``job`` wrote (physics ``as_written``:
    ``training.precision fp4`` or ``training.framework.fp8_recipe nvfp4``), and whose refusal of the nvfp4 recipe on
    a stack without it (stacks.OPTION_HOLDERS) names ``training.precision`` where the job wrote fp4, not a recipe
    (it read "training.framework.fp8_recipe: torchtitan has no nvfp4 fp8_recipe" for a job that set no recipe)."""
    @functools.wraps(fn)
    def run(job, *args, **kwargs):
        try:
            return fn(job, *args, **kwargs)
        except NoPeakError as e:
            raise physics.as_written(e, wrote_fp4(job)) from None
        except InputError as e:
            if wrote_fp4(job) and e.field == "training.framework.fp8_recipe":
                why = _fp8_refusal(job) or e.message
                raise InputError("training.precision", f"fp4 is the nvfp4 recipe, and {why}") from None
            raise
    return run


def _fp8_refusal(job: JobSpec) -> str | None:
    """Why the stack ``job`` names refuses low-precision training itself (a rule on ``training.precision`` that refuses
    every layout: stack_rules ``hf-bnb-fp8``, a bitsandbytes base's GEMMs take no recipe), None where only the recipe
    is missing. Said before the missing nvfp4 recipe, whose stacks may not run the job at all: an fp4 QLoRA job read
    "hf-trainer has no nvfp4 fp8_recipe (... nvfp4 runs on megatron-core ...)", and Megatron refuses QLoRA."""
    fw = job.training.framework
    rule = stack_rules.job_refusal(resolve(fw.name), job.model, job.training) if fw is not None else None
    # (what is refused without the source's quote: behind "fp4 is the nvfp4 recipe" the whole rule was cut mid-word)
    return (f"{stack_rules.RUNTIME_NAMES[rule.runtime]} refuses {rule.what}"
            if rule and rule.field == "training.precision" else None)


def _check_dispatcher(job: JobSpec, stack, hw, c) -> None:
    """Refuse the MoE token dispatcher the job names where the plan's hardware cannot run its library
    (planner.model.moe ``dispatcher_refusal``: HybridEP off SM90, a flex dispatcher's group across nodes over EFA),
    as recommend keeps it off that hardware (``_groups_here``, ``_variants_off``). Until moedisp47b estimate priced
    ``moe_dispatcher: hybridep`` on A100 and DeepEP's EP 16 across two p5.48xlarge nodes."""
    if job.model.moe is None or not job.model.is_transformer:
        return  # no token dispatcher is built (vocab MOE_ONLY_OPTIONS)
    why = dispatcher_refusal(stack.moe_dispatcher, hw, int(c.etp[0]), int(c.ep[0]))
    if why:
        raise InputError("training.framework.moe_dispatcher", why)


def _check_nvme(mem: dict, hw) -> None:
    """Refuse a plan whose state swapped to NVMe (``offload_device: nvme``, ``mem["nvme"]`` per GPU) the node's local
    NVMe (the catalog's ``local_nvme_tb``) cannot hold: DeepSpeed's swapper writes its files to ``nvme_path`` on each
    node (planner.model.offload ``nvme_fits``; the search leaves such plans out through ``evaluate.fits_memory``)."""
    if bool(offload.nvme_fits(mem.get("nvme", 0.0), hw).all()):
        return
    need = float(np.max(mem["nvme"])) * hw.gpus_per_node
    cap = offload.node_nvme(hw).capacity_bytes
    have = f"{hw.instance.name} has {cap / 1e12:g} TB" if cap else f"{hw.instance.name} has no local NVMe"
    raise InputError("training.framework.offload_device", f"nvme: the node's swapped state needs {need / 1e12:.2f} TB "
                                                          f"of local NVMe; {have}")


def _check_nvme_rate(stack) -> None:
    """Refuse ``nvme_stripe`` / ``nvme_gbps`` on a plan that swaps nothing to NVMe (``offload_device`` left at cpu):
    DeepSpeed reads ``nvme_path`` only under device nvme, so the rate would price nothing."""
    given = nvme_rate_given({k: getattr(stack, k) for k in ("nvme_stripe", "nvme_gbps") if k in stack.given_options})
    if given and not offload.swaps_to_nvme(stack):
        raise InputError(f"training.framework.{given[0]}", "describes the NVMe of offload_device: nvme; set it (with "
                                                           "optimizer_offload / param_offload) or leave this out")


@_as_written
def estimate_job(job: JobSpec, catalog=None, profile=None, **time_kw) -> Plan:
    """``planner estimate``: the one configuration the job names (defaults for what it leaves
    out, each noted), evaluated. ``profile``'s data-pipeline measurements fill the ``data`` fields the job
    leaves unset (``with_measured_data``)."""
    job = with_measured_data(job, profile)
    cat = catalog or load_catalog()
    hw = option_from_cluster(job.cluster, cat, profile, job.training.precision)
    check_fixed_cluster(job.cluster, job.constraints, hw, cat)
    job = for_accelerator(job, hw.gpu)  # a stack whose code runs on this accelerator (a TPU's, Trainium's)
    job = for_schedule(job)  # and the stack options its named schedule runs with (DualPipeV: no compile)
    c, notes = resolve_single(job, hw)
    stack = from_training(job.training, model=job.model)
    check_targets(job.model, job.training, stack_rules.RUNTIMES.get(stack.name))  # LoRA targets that adapt nothing
    for option, ok in offload.valid_masks(stack, c).items():
        if not ok.all():
            raise InputError(f"training.framework.{option}", offload.WHY_REFUSED[option])
    stack_rules.check(stack, job.model, job.training, c)  # what the stack refuses to run (its rules)
    _check_dispatcher(job, stack, hw, c)  # and where its MoE dispatcher's library runs (the search keeps it off)
    if stack.megatron_fsdp and int(c.zero[0]) < 2:  # asked for, but it would change nothing
        raise InputError("training.framework.megatron_fsdp", megatron_fsdp_low_zero(int(c.zero[0])))
    _check_nvme_rate(stack)
    check_asked_zero(stack, job.model, job.training, job.parallel.zero)  # an option its code refuses at this stage
    ev = evaluate(job, c, hw, whatifs=True, **time_kw)  # the plan's advice prices its what-ifs in the same calls
    _check_nvme(ev["mem"], hw)
    if (not bool(ev["fits"][0]) and stack.pp_split is None and int(c.pp[0]) > 1
            and split_left_open(split_runtime(stack, job.model))):  # the balanced split left open does not fit
        own = PLAIN_SPLIT[stack_rules.runtime(stack)]
        fallback = evaluate(job, c, hw, stack=replace(stack, pp_split=own), whatifs=True, **time_kw)
        if bool(fallback["fits"][0]):  # the stack's own split does: the plan runs that (recommend's fallback too)
            ev = fallback
            notes = list(notes) + [f"training.framework.pp_split: {stack_rules.RUNTIME_NAMES[own]}'s own pipeline split, the "
                                   "balanced one (the lightest pacing stage) does not fit"]
    out = row_result(job, c, hw, ev, 0, cat)
    spot_model = spot_model_for(job)
    if spot_model is not None:  # a spot job: the expected cost with interruptions, as recommend ranks the same plan
        out = with_spot_risk(out, hw, spot_model, cat)
    out = with_accuracy(with_checkpoint_failures(out, job), job)
    lay = best_layout(out)  # the plan's stage, PP, CP, EP, TP, recompute and GPU, as recommend's best plan says them
    power = physics.power_limit_words(hw, job.training.precision)  # GPUs held below their rated power limit
    spot = spot_rate_words([hw.instance]) if out.cost.ranked_price_basis == SPOT else ""  # which zone's rate (qa89)
    nvme = offload.nvme_rate_words(stack, hw)  # the NVMe rate a swapping plan was priced at
    out = replace(out, assumptions=tuple(job.assumptions) + tuple(notes) + tuple(hw.plan_notes(out.hardware.nodes))
                  + ((power,) if power else ()) + ((spot,) if spot else ()) + ((nvme,) if nvme else ())
                  + buy_power_line(out)
                  + (stack_assumption(job, layout=lay),) + left_out(job, simulated=False, plan=out)
                  + tuple(option_notes(job, stack, out.config)),
                  inputs=inputs_provenance(hw, job, layout=lay), advice=out.advice + constraints_broken(job, out))
    return out


def buy_power_line(plan: Plan | None) -> tuple[str, ...]:
    """The plan's buy figure's power assumption (``cost.buy_power_assumption``), for its ``assumed:`` lines, the
    report's assumptions and the JSON's; () without a buy figure."""
    w = buy_power_assumption(plan.cost.buy if plan is not None and plan.cost is not None else None)
    return (w,) if w else ()


class LimitsMet(NamedTuple):
    """Whether a plan's ranked cost and time are within the job's ``constraints.budget_usd`` and ``deadline_hours``:
    None where the job states no such limit or the plan has no price."""
    budget: Optional[bool]
    deadline: Optional[bool]


def limits_met(job: JobSpec, cost) -> LimitsMet:
    """The job's budget and deadline held to one plan's ``cost`` (a ``Cost``) at the figures the plan is quoted (and
    ``recommend`` ranks and filters) at: ``Cost.price`` / ``Cost.hours_at``, spot when the job asks for spot; the
    search keeps ``cost <= budget_usd`` and ``hours <= deadline_hours`` (``recommend._within_constraints``). Read by
    ``estimate``'s advice (``constraints_broken``) and the sensitivity sweeps' verdicts (QA 83)."""
    con, spot = job.constraints, bool(job.constraints.spot)
    usd, hours = cost.price(spot), cost.hours_at(spot)
    return LimitsMet(None if con.budget_usd is None or usd is None else bool(usd <= con.budget_usd),
                     None if con.deadline_hours is None else bool(hours <= con.deadline_hours))


def constraints_broken(job: JobSpec, plan: Plan) -> tuple[str, ...]:
    """The budget and deadline the one configuration ``estimate`` evaluates breaks (``limits_met``), each named:
    estimate does not search, and it printed a $207.2k plan under ``budget_usd: 1000`` and 78 days under
    ``deadline_hours: 1`` without a word (a fixed cluster that contradicts the other constraints is refused:
    ``check_fixed_cluster``)."""
    con, spot = job.constraints, bool(job.constraints.spot)
    met = limits_met(job, plan.cost)
    out = []
    if met.budget is False:
        out.append(f"constraints.budget_usd: this plan costs {fmt_usd(plan.cost.price(spot))}, over the "
                   f"{fmt_usd(con.budget_usd)} budget")
    if met.deadline is False:
        out.append(f"constraints.deadline_hours: this plan takes {fmt_time(plan.cost.hours_at(spot) * 3600)}, past the "
                   f"{fmt_time(con.deadline_hours * 3600)} deadline")
    if out:  # the last item says what to do about all of them
        out[-1] += " (estimate evaluates the configuration the job fixes; `planner recommend` searches within the constraints)"
    return tuple(out)


@_as_written
def recommend(job: JobSpec, catalog=None, profile=None, top: int = 10, simulate: bool = True,
              progress=None) -> Recommendation:
    """``planner recommend``: the search (``planner.search.recommend``), then, when the job has a
    data pipeline and ``simulate`` is on, the simulator's re-check of the shown plans. ``profile``'s
    data-pipeline measurements fill the ``data`` fields the job leaves unset (``with_measured_data``): the
    search's evaluation passes and the re-check read the same rates."""
    asked = with_measured_data(job, profile)  # (fp8_recipe auto: searched, planner.search.space.recipe_choices)
    job = without_auto_recipe(asked)  # the re-check and the notes: each plan's recipe is in its stack record
    spot_model = spot_model_for(job)
    if job.model is not None and not is_auto(job):  # LoRA targets that adapt nothing: refused before the search, as in
        # estimate (framework auto: per stack, planner.search.space.stack_groups)
        # (by name: a nameless section on a TPU holds the platform's stack's options, space.open_stack)
        check_targets(job.model, job.training, stack_rules.RUNTIMES.get(stack_name(job.training)))
    # the job's checkpoint pauses and node failures: priced on every candidate, ranked and filtered on
    rec = search_plans(asked, catalog, profile, top=top, progress=progress, spot_model=spot_model,
                       overhead=CheckpointOverhead.for_job(job))
    if not (simulate and job.data is not None):
        # the model's own error on runs of each plan's kind, on the time and cost it is ranked at
        ranked = tuple(with_accuracy(p, job) for p in rec.ranked)
        # the winner stays the first ranked plan, the same object (Recommendation: best is ranked[0])
        best = ranked[0] if ranked and rec.best is rec.ranked[0] else with_accuracy(rec.best, job)
        return replace(rec, ranked=ranked, best=best,
                       assumptions=rec.assumptions + buy_power_line(best) + left_out(job, simulated=False, plan=best),
                       views_note=views_note(job, None))
    ranked, note = rerank_with_simulator(job, list(rec.ranked), rec.objective, catalog, rec.spot, spot_model=spot_model)
    ranked = [with_accuracy(p, job) for p in ranked]
    if rec.stacks:  # framework auto: each stack's best plan was chosen before the data pipeline was simulated
        note = "; ".join(x for x in (note, "the training-stack comparison (stacks) is the analytic search's, before the "
                                           "simulator's re-check of the shown plans") if x)
    return replace(rec, ranked=tuple(ranked), best=ranked[0], notes=rec.notes + ((note,) if note else ()),
                   assumptions=rec.assumptions + buy_power_line(ranked[0]) + left_out(job, simulated=True, plan=ranked[0]),
                   views_note=views_note(job, ranked[0]),
                   why=why(ranked[0], ranked, rec.kept, rec.objective, rec.spot, feasible=rec.feasible))


def views_note(job: JobSpec, best: Plan | None) -> str:
    """What the comparison and scaling views (``--by``, ``--scaling``, ``compare``, the app's and the report's
    tables: rows of the analytic search's table) leave out for a job with a data pipeline: the input pipeline,
    which only the ranked plans were re-checked with (``best``: the re-ranked winner; None when the simulator
    did not run). "" when the job has no data section or its pipeline keeps up."""
    if job.data is None:
        return ""
    if best is None:
        return ("compute-bound figures: the job's data section (input pipeline) is not simulated here; "
                "`planner recommend` re-ranks its top plans with it")
    sim = best.simulated
    if sim is None or sim.data_wait_share <= 0.05:
        return ""
    return (f"compute-bound figures from the search's table: the input pipeline is not simulated in this view; "
            f"simulated, the recommended plan's step is {sim.step_time_s / sim.analytic_step_time_s:.1f}x the analytic one "
            f"({fmt_time(sim.step_time_s)} vs {fmt_time(sim.analytic_step_time_s)}: the GPUs wait for data "
            f"{sim.data_wait_share:.0%} of it), as the ranked plans show")


#: a simulated pipeline serving this share of its storage's ceiling (``answers.storage_ceiling``: aggregate
#: bandwidth and request-rate cap over the bytes and requests of a sample that misses the cache) is bound by the
#: storage; below it, by each replica's loader (workers, vCPUs, per-request latency). A stated cut, not a measurement.
STORAGE_BINDS = 0.9


def data_bound_line(cfg, res, wait: float, analytic: float, sim_step: float) -> str:
    """A data-bound plan's ``bottleneck``: the stall, then what binds and so what helps, from the simulated
    throughput against the storage's ceiling (``STORAGE_BINDS``). The storage is shared by the whole job, so more
    GPUs do not help once it binds; below it each data-parallel replica's own loader binds, and more GPUs (each
    replica with its loader) add throughput until the storage does. The line said "more GPUs do not" help either
    way: ResNet-50 reading files from S3 on one p5.48xlarge (3,190 images/s, 58% of S3's 5,500 requests/s) beside
    the same table's two nodes at 5,253 images/s, 1.6x faster."""
    from planner.simulate.answers import storage_ceiling

    head = (f"data pipeline: the GPUs wait for data {wait:.0%} of each step (simulated; analytic compute-bound step "
            f"{analytic * 1e3:,.4g} ms, simulated {sim_step * 1e3:,.4g} ms)")
    sps = res.steady_samples_per_s or res.samples_per_s
    ceiling = storage_ceiling(cfg.loader) if cfg.loader is not None else float("inf")
    shards = "shards, " if cfg.loader is not None and cfg.loader.format == "files" else ""
    ld, dp = cfg.loader, cfg.pipeline.dp
    if ld is not None and ld.workers_reading(dp) < ld.workers:
        # fewer shards than workers (``LoaderConfig.workers_reading``): the extra workers idle, so more of them, or more
        # replicas splitting the same shards, do not help (the line said both did, for ResNet-50 on 1 GB shards)
        return (f"{head} — the shard count binds ({ld.shards_total():,} shards over {dp} data-parallel replicas: "
                f"{ld.workers_reading(dp)} of each loader's {ld.workers} workers have a shard to read; {sps:,.0f} "
                "samples/s): smaller shards, caching or filtering help; more loader workers or GPUs do not")
    if math.isfinite(ceiling) and sps >= STORAGE_BINDS * ceiling:
        return (f"{head} — the storage binds ({sps:,.0f} of the {ceiling:,.0f} samples/s it can serve): {shards}"
                "caching or filtering help; more GPUs or loader workers do not")
    cap = (f", {sps / ceiling:.0%} of the {ceiling:,.0f} the storage can serve" if math.isfinite(ceiling) else "")
    return (f"{head} — each replica's loader binds ({sps:,.0f} samples/s{cap}): more loader workers/vCPUs per GPU, "
            f"{shards}caching or filtering help; more GPUs add throughput only with their own loaders"
            + (", until the storage binds" if math.isfinite(ceiling) else ""))


def rerank_with_simulator(job, ranked: list[Plan], objective, catalog=None, spot=False, steps=300, spot_model=None):
    """Re-rank plans by simulated step time (the job has a data pipeline).

    Each plan is simulated (planner.simulate, steady state after the loaders' warm-up); when the
    simulated step is longer than the analytic one, its step time, throughput, MFU and cost are
    recomputed from the simulated step, ``breakdown_s.data_stall`` holds the difference and
    ``simulated`` a summary. A plan whose GPUs wait for data (batches not ready, or host-to-device
    copies on the critical path) more than 5% of the step says so in ``bottleneck``."""
    data_bound, out = [], []
    for r in ranked:
        cfg = SimConfig.from_estimate(r, job)
        res = simulate(cfg, steps=steps, seed=0)
        sim_step = res.steady_step_time_s or res.step_time_s["mean"]
        wait = res.data.get("steady_data_wait_share")
        wait = res.data["data_wait_share"] if wait is None else wait
        analytic = r.step_time_s
        r = replace(r, simulated=Simulated(step_time_s=sim_step, analytic_step_time_s=analytic, data_wait_share=wait,
                                           gpu_busy_share=res.gpu_busy_share,
                                           samples_per_s=res.steady_samples_per_s or res.samples_per_s,
                                           steps=steps, seed=0))
        if sim_step > analytic * (1 + 1e-9):
            scale = sim_step / analytic
            hw = r.hardware
            r = replace(r, step_time_s=sim_step, breakdown_s=replace(r.breakdown_s, data_stall=sim_step - analytic),
                        tokens_per_s=r.tokens_per_s / scale, tokens_per_s_per_gpu=r.tokens_per_s_per_gpu / scale,
                        mfu=r.mfu / scale, hfu=r.hfu / scale,
                        cost=cost_summary(job, sim_step, hw.nodes, hw.gpus_per_node, hw.price_ondemand_usd_hr,
                                          hw.price_spot_usd_hr, catalog, hw.gpu,
                                          # the instance's committed prices too (they were dropped: "no committed
                                          # price for this instance" in the report of a data-bound plan)
                                          hw.name if hw.cloud != "-" else None,
                                          evaluation=r.cost.evaluation, quote=hw.price_quote))  # its passes' time: the forward, not the step
            if spot and spot_model is not None:  # the expected spot cost follows the simulated step
                r = replace(r, cost=r.cost.with_spot_risk(spot_model.risk_for_plan(
                    r, slice_hosts(catalog, hw.gpu, hw.network_fabric, hw.gpus_per_node))))
            r = with_checkpoint_failures(r, job)  # and so do the checkpoint pauses and failures
        if wait > 0.05:
            r = replace(r, bottleneck=data_bound_line(cfg, res, wait, analytic, sim_step))
            data_bound.append(r)
        out.append(r)

    def price(r):  # the ranked price: with the checkpoint pauses and node failures where the job sets them
        c = r.cost
        usd = c.price(spot)
        if objective == "tokens_per_dollar":
            return usd / c.tokens * 1e12 if usd and c.tokens else np.nan
        return np.nan if usd is None else usd

    # (a spot plan: its expected hours with interruptions, as the analytic search ranks it; they were the
    # uninterrupted hours here, so the simulator's re-rank could order spot plans differently from the search)
    # the cost tie groups are a set function (rank.cost_bucket): over the plans re-ranked together
    groups = cost_bucket([price(r) for r in out]) if objective != "time" else np.zeros(len(out))
    order = sorted(range(len(out)), key=lambda i: (float(groups[i]), out[i].cost.hours_at(spot)))
    out = [out[i] for i in order]
    note = None
    if data_bound:
        note = (f"data, not compute, is the bottleneck of {len(data_bound)} of the top {len(out)} plans "
                f"(simulated input pipeline); ranks and costs use the simulated step time")
    elif out:
        note = f"top {len(out)} plans re-checked with the simulator: the input pipeline keeps up"
    if note:  # `planner simulate` runs 1,000 steps by default: its step time differs by the simulation's length
        note += (f" ({steps:,} simulated steps, seed 0, steady state where reached; `planner simulate` runs "
                 f"--steps 1,000 by default, so its step time can differ by a few percent)")
    return out, note
