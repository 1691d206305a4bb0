"""app53: which ``training.framework`` options the what-if app drew no control for move the step time or the memory
per GPU by more than 2% on the app's presets (the bar an option had to pass to get a sidebar control,
planner/interactive.py ``STACK_OPTION_LABELS``).

Each (preset, stack that holds the option and the job uses it: ``Stack.options(model, training)``) is estimated
(``estimate_job``) at one fixed layout -- aws:p5.48xlarge (gcp:tpu-v6e-8 for MaxText), 1 node under 15B parameters, 4
nodes at TP8 under 120B, else 16 nodes TP8 PP4; MoE: EP8 (EP16 past 120B, 32 nodes); ZeRO-1, else the first of 3 / 0
the stack takes -- under bf16, recompute full and fp8, every value of the option against the stack's own. An option
stops after three presets that move (enough to decide). ~10 min on one core for all options.

    PYTHONPATH=. python benchmarks/stack_option_effects.py [option ...]
"""
from __future__ import annotations

import copy
import sys

from hardware_catalog import load_catalog
from planner.errors import InputError
from planner.model.stacks import OPTION_VALUES, from_training
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.vocab import FRAMEWORK_CHOICE
from planner.workloads.training import estimate_job

#: the options without an app control before app53 (``stacks.OPTIONS`` less the app's labels and typed inputs)
OPTIONS = ("partition_activations", "cpu_checkpointing", "recompute_early_stop", "moe_fused_mlp",
           "first_last_layers_bf16", "lp_bf16_mtp", "channels_last", "fsdp_defer_sync", "defer_fsdp_grad_sync",
           "communication_data_type", "fused_qkv", "moe_shared_expert_overlap", "attn_implementation",
           "precision_aware_optimizer", "exp_avg_dtype", "exp_avg_sq_dtype", "main_params_dtype", "remat_policy",
           "ag_backward_pipelining", "gradient_accumulation_fusion")
CONTEXTS = {"bf16": {}, "recompute full": {"recompute": "full"}, "fp8": {"precision": "fp8"}}
#: an option that applies beside another only (the precision-aware optimizer's state dtypes)
BESIDE = {o: {"precision_aware_optimizer": True} for o in ("exp_avg_dtype", "exp_avg_sq_dtype", "main_params_dtype")}
THRESHOLD = 0.02
CATALOG = load_catalog()


def _doc(preset: str, stack: str, options: dict, context: dict) -> dict:
    return {"model": {"preset": preset}, "training": {"framework": {"name": stack, **options}, **context}}


def _layout(doc: dict, stack: str) -> tuple[int, dict]:
    m = load_job_dict(copy.deepcopy(doc)).model
    b = count_params(m).total / 1e9
    nodes, par = (1, {}) if b < 15 else (4, {"tp": 8}) if b < 120 else (16, {"tp": 8, "pp": 4})
    if m.moe is not None:
        par["ep"] = 8 if b < 120 else 16
        if b < 120:
            par.pop("tp", None)
        nodes = 32 if b >= 120 else max(nodes, 2 if b > 30 else 1)
    if stack == "nemo-automodel":
        par["tp"] = 1  # (its MoE models refuse TP)
    return nodes, par


def estimate(preset: str, stack: str, options: dict, context: dict, zero=None) -> tuple[float, float, int]:
    """(step time s, memory per GPU bytes, ZeRO stage) at the fixed layout; ``zero``: the reference's stage."""
    doc = _doc(preset, stack, options, context)
    nodes, par = _layout(doc, stack)
    doc["cluster"] = {"instance": "gcp:tpu-v6e-8" if stack == "maxtext" else "aws:p5.48xlarge", "nodes": nodes}
    err = None
    for z in (zero,) if zero is not None else (1, 3, 0):
        doc["parallel"] = {**par, "zero": z}
        try:
            r = estimate_job(load_job_dict(copy.deepcopy(doc)), CATALOG)
        except InputError as e:
            err = e
            continue
        return r["step_time_s"], r["memory_per_gpu_bytes"]["total"], z
    raise err


def holders(option: str):
    """(preset, stack) pairs whose stack holds ``option`` and whose job uses it."""
    for preset in PRESETS:
        for stack in FRAMEWORK_CHOICE.names:
            if stack == "auto":
                continue
            try:
                job = load_job_dict(_doc(preset, stack, {}, {}))
                if option in from_training(job.training, model=job.model).options(job.model, job.training):
                    yield preset, stack
            except InputError:
                continue


def main(options) -> None:
    for option in options:
        rows = []
        for preset, stack in holders(option):
            if len({r[0] for r in rows if max(abs(r[4]), abs(r[5])) > THRESHOLD}) >= 3:
                break
            for cname, ctx in CONTEXTS.items():
                try:
                    ref = estimate(preset, stack, dict(BESIDE.get(option, {})), ctx)
                except InputError:
                    continue
                for v in OPTION_VALUES.get(option, (True, False)):
                    try:
                        got = estimate(preset, stack, {**BESIDE.get(option, {}), option: v}, ctx, zero=ref[2])
                    except InputError:
                        continue
                    rows.append((preset, stack, cname, v, got[0] / ref[0] - 1, got[1] / ref[1] - 1))
        moved = [r for r in rows if max(abs(r[4]), abs(r[5])) > THRESHOLD]
        top = max(rows, key=lambda r: max(abs(r[4]), abs(r[5])), default=None)
        print(f"{option}: {len(rows)} estimates, {len(moved)} over 2% on {len({r[0] for r in moved})} presets"
              + (f"; largest {top[0]} on {top[1]} ({top[2]}, {top[3]}): step {top[4]:+.1%}, memory {top[5]:+.1%}"
                 if top else ""), flush=True)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main(sys.argv[1:] or OPTIONS)
