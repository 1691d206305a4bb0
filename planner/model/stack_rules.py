"""What a training stack refuses to run: the layout limits each launcher enforces, as one table
(``RULES``) shared by the search (planner.search.space ``StackVariant.rows``), ``planner
estimate`` (planner.workloads.training ``estimate_job``) and the launch-spec emitter
(planner.present.emit). A plan the stack cannot start is not a plan.

Which code runs a stack (``RUNTIMES``): the Megatron-Core stacks (``megatron-core`` and the
launchers on it, ``nemo``, ``megatron-bridge``) run Megatron-LM's ``pretrain_gpt.py`` on
Megatron-Core; ``torchtitan`` runs torchtitan. The emitter writes each in its own launcher style
(megatron flags, torchtitan flags), and a style forced with ``--emit FORMAT:STYLE`` is checked
against the rules of the code that style runs. ``hf-trainer`` and ``deepspeed`` run the Hugging
Face model code (runtime ``hf``: no pipeline parallelism). The other stacks have no runtime here (no launcher
style) but rules of their own (``RULE_ONLY_RUNTIMES``): Megatron-DeepSpeed's PipelineModule split, plain DDP's
ZeRO-0/1, the legacy Megatron layers' lack of a bitsandbytes base, and for each (metaseq and llm-foundry's
Composer included) its fp8 row: the recipes its code offers (``FP8_RECIPES``), none where it has no fp8 path
(``NO_FP8_PATH``).

ZeRO-3 on the Megatron-Core stacks means Megatron's PyTorch-FSDP2 path, ``--use-torch-fsdp2``
(what planner.present.emit writes for it, and what tests/test_launch_parsers.py checks against
Megatron-Core 0.16.1): Megatron-LM ``megatron/training/arguments.py`` ``validate_args`` refuses it
with pipeline parallelism, expert parallelism, tied embeddings, fp16 and (through the
distributed optimizer it also refuses) the CPU-offloaded optimizer. With the stack option
``megatron_fsdp`` ZeRO-2/3 are instead Megatron's own sharded data parallelism, Megatron-FSDP
(``--use-megatron-fsdp --data-parallel-sharding-strategy optim_grads|optim_grads_params``): its
``validate_args`` branch refuses none of pipeline, expert or context parallelism, tied embeddings
or fp16 (Megatron-LM arguments.py ``if args.use_megatron_fsdp:`` asks only for the ``fsdp_dtensor``
checkpoint format and CUDA_DEVICE_MAX_CONNECTIONS not 1, which the emitter writes; Megatron-Bridge
docs/training/megatron-fsdp.md: "intended to work with tensor / pipeline / context / expert
parallelism, BF16 or FP16"), so the FSDP2 rules below do not apply to it; its own rows are
``mfsdp-*``.

These sit beside planner.layout ``LAYOUT_RULES`` (the checks every stack makes: world size, heads, experts,
batch divisibility), one layer up because they depend on the stack (planner.model.stacks). Every rule
quotes its source. Masks are vectorised over ``planner.layout.Candidates`` columns
(tp, pp, dp, cp, ep, etp, vpp, zero, rc); a rule's ``applies`` says whether it concerns the job at
all (its stack options, model, precision) and ``ok`` which layouts obey it (None: no layout does).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from hardware_catalog.errors import fit_message
from planner.errors import InputError
from planner.layout import V_SPLIT, micro_batches_per_replica, torch_rounds_ok
from planner.spec.schema import has_shared_experts
from planner.model.activations_hf import hf_experts_kernel, liger_patches
from planner.model.moe import AUTOEP_MODEL_TYPES, HF_NO_EP_PLAN, HF_NO_TP_PLAN, autoep_stack
from planner.model.stack_kernels import TE_RECOMPUTES
from planner.model.pipeline import run_microbatches, titan_layers_per_stage, titan_stages  # noqa: F401 (the rules'
# and --emit's)
from planner.vocab import RECOMPUTE, SCHEDULE

#: the code a training stack runs, whose rules apply to it
RUNTIMES = {"megatron-core": "megatron", "nemo": "megatron", "megatron-bridge": "megatron", "megatron-core-gaudi": "megatron",
            "torchtitan": "torchtitan",
            "hf-trainer": "hf", "deepspeed": "hf", "maxtext": "maxtext", "neuronx-distributed": "nxd",
            "nemo-automodel": "automodel"}
#: stacks with rules of their own but no runtime above (no launcher style, none of a runtime's other behaviour):
#: Megatron-DeepSpeed's PipelineModule split, plain DDP's ZeRO-0/1, each one's fp8 row (``rules_runtime``)
RULE_ONLY_RUNTIMES = {"megatron-deepspeed": "megatron-deepspeed", "megatron-lm": "megatron-lm",
                      "pytorch-ddp": "ddp", "dle-convnets": "ddp", "metaseq": "metaseq", "llm-foundry": "composer",
                      "dle-bert": "dle-bert"}
#: the runtime's name in messages ("Megatron refuses ...")
RUNTIME_NAMES = {"megatron": "Megatron", "torchtitan": "torchtitan", "hf": "the Hugging Face model code",
                 "maxtext": "MaxText", "nxd": "NeuronX Distributed", "automodel": "NeMo AutoModel",
                 "megatron-deepspeed": "Megatron-DeepSpeed", "megatron-lm": "Megatron-LM (2021-22)",
                 "ddp": "PyTorch DDP", "metaseq": "metaseq", "composer": "Composer (llm-foundry)",
                 "dle-bert": "DLE BERT's run_pretraining.py"}
#: NVIDIA DeepLearningExamples' PyTorch BERT (planner.model.stacks ``dle-bert``): what its pre-training script builds,
#: read in PyTorch/LanguageModeling/BERT/run_pretraining.py (the LDDL / FusedLAMBAMP version of the 21.11 tables, the
#: stored copy of 2022; read 2026-12-06): ``prepare_model_and_optimizer`` builds ``modeling.BertForPreTraining`` (MLM +
#: NSP heads) and nothing else, wraps it whole in torch DDP (``DDP(model, device_ids=[args.local_rank], ...,
#: bucket_cap_mb=...)``: no tensor, pipeline or context split, no FSDP / ZeRO), and its optimizer is
#: ``FusedLAMBAMP`` (no other choice); precision is ``--fp16`` / ``--amp`` (``args.fp16 = args.fp16 or args.amp``:
#: ``model.half()`` under ``--allreduce_post_accumulation_fp16``, else autocast to float16, with
#: ``torch.cuda.amp.GradScaler``) or fp32 without them: no bf16 or fp8 flag
_DLE_BERT = "DLE PyTorch/LanguageModeling/BERT run_pretraining.py prepare_model_and_optimizer"
_DLE_BERT_PRECISION = f"{_DLE_BERT}: --fp16 / --amp (float16 + GradScaler) or fp32; no bf16 or fp8 flag"
#: runtimes whose rules concern every model, not only transformers (plain data parallelism: a CNN's too)
ANY_MODEL_RUNTIMES = frozenset({"ddp"})
#: precisions Megatron's MoE runs in (fp8 runs with --bf16): grouped GEMM and EP refuse the rest
MEGATRON_MOE_PRECISIONS = ("bf16", "fp8")

_FULL = RECOMPUTE.code["full"]
_SELECTIVE = RECOMPUTE.code["selective"]


def _micro_per_replica(c, t):
    """global_batch / (micro_batch * dp) per row, or None where ``c`` has no micro-batch column."""
    if getattr(c, "mb", None) is None:
        return None
    return micro_batches_per_replica(c, t)


def _tiles_split(c, t, tiles: int):
    """Whether ``tiles`` split each row's tokens a chip (mb x seq / (tp x cp), rule maxtext-vocab-tiles); True where
    ``c`` has no micro-batch column (as ``_micro_per_replica``: the app's layouts with the micro-batch open, where
    words58 found the rule raising AttributeError once the sidebar set MaxText's tiles)."""
    if getattr(c, "mb", None) is None:
        return True
    return (np.asarray(c.mb) * t.seq_len) % (tiles * np.asarray(c.tp) * np.asarray(c.cp)) == 0


_DPV = "torch.distributed.pipelining schedules.py ScheduleDualPipeV"


def _dualpipev(c) -> np.ndarray:
    """The rows that run DualPipeV."""
    return _schedule(c) == SCHEDULE.code["dualpipev"]


def titan_less_pair(c, m, st):
    """The (first, last) torchtitan "less layers" of each row of ``c`` (planner.model.pipeline ``titan_less_layers``
    on the stack's split; arrays): the job's fixed pair, the planner's open choice per (pp, stages a rank), else 0."""
    from planner.model.pipeline import split_per_row, split_runtime, titan_less_layers
    runtime = split_runtime(st, m)
    first, last = np.zeros(len(c.pp), dtype=np.int64), np.zeros(len(c.pp), dtype=np.int64)
    # the stages a rank builds (DualPipeV's V: two, ``V_SPLIT``), as --emit writes the pair for
    for rows, (k, v, _), _ in split_per_row(m.layers or 0, c.pp, np.where(_dualpipev(c), V_SPLIT, c.vpp), 1, runtime):
        first[rows], last[rows] = titan_less_layers(m.layers or 0, k, v, runtime)
    return first, last


def _titan_stages_ok(c, m, t, st):
    """Rows whose pipeline torchtitan builds as planned: PP x VPP stages from the emitted layers_per_stage
    (``titan_stages``), and a less-layers pair ``generate_llm_fqn_per_model_part`` accepts (no weight above the
    smallest share, ``titan_counts``)."""
    layers, stages = m.layers or 0, _stages(c)
    first, last = titan_less_pair(c, m, st)
    share = (layers + first + last) // np.maximum(stages, 1)
    return (c.pp == 1) | ((titan_stages(layers, stages, first, last) == stages) & (share >= np.maximum(1, np.maximum(
        first, last))))


def _stages(c) -> np.ndarray:
    """Pipeline stages of each row: pp x vpp, 2 pp under DualPipeV (two a rank, a V)."""
    return np.asarray(c.pp) * np.where(_dualpipev(c), 2, np.asarray(c.vpp))


def _pp_pass_ok(c, m, t, st):
    """A pipeline run per accumulation step (``Stack.pp_pass_microbatches``) that divides the replica's micro-batches
    into whole runs, or a run as long as the step or longer (one run), or no pipeline; rows without a micro-batch
    column pass."""
    micro = _micro_per_replica(c, t)
    if micro is None or st.pp_pass_microbatches is None:
        return np.ones(len(c.pp), bool)
    return (c.pp == 1) | (micro <= st.pp_pass_microbatches) | (np.mod(micro, st.pp_pass_microbatches) == 0)


def _schedule_run(c, t, st):
    """Micro-batches of one run of each row's schedule (``pipeline.run_microbatches``: the replica's, or the stack's
    ``pp_pass_microbatches`` where it runs the schedule once per accumulation step); None without a micro-batch
    column (a layout's per-layout terms)."""
    micro = _micro_per_replica(c, t)
    return None if micro is None else run_microbatches(micro, getattr(st, "pp_pass_microbatches", None))


def _dualpipev_m_ok(c, m, t, st=None):
    """torch ``ScheduleDualPipeV``: at least 2 pp micro-batches (its stages) in a run of the schedule, which
    torchtitan builds for ``local_batch_size / microbatch_size`` of them (``pp_pass_microbatches``: a run per
    accumulation step), not the step's (until sim55 a pass of 4 at PP4 passed here); rows without a micro-batch column
    pass."""
    run = _schedule_run(c, t, st)
    if run is None:
        return np.ones(len(c.pp), bool)
    return ~_dualpipev(c) | (c.pp == 1) | (run >= 2 * c.pp)


def _interleaved_m_ok(c, t, group=None):
    """Megatron-Core's interleaved schedule at micro-batch group size N (``group``: the stack option
    ``microbatch_group_size``; None: Megatron's default pp): pp <= N <= m (schedules.py
    forward_backward_pipelining_with_interleaving, 'The number of contiguous micro-batches in a virtual pipeline
    stage should range in [PP, M]') and m % N 0 or >= pp (its 'remainder of M ... divided by N' RuntimeError). At
    N = pp that is m a multiple of pp."""
    m = _micro_per_replica(c, t)
    if m is None:
        return np.ones(len(c.tp), dtype=bool)
    pp = np.asarray(c.pp)
    n = pp if group is None else np.asarray(group)
    r = m % n
    return (np.asarray(c.vpp) == 1) | (pp == 1) | ((pp <= n) & (n <= m) & ((r == 0) | (r >= pp)))


def megatron_groups(m: int, pp: int) -> list[int]:
    """The micro-batch group sizes N (``microbatch_group_size``) at which Megatron-Core runs the interleaved
    schedule with m micro-batches per replica on pp ranks: pp <= N <= m, m % N 0 or >= pp (``_interleaved_m_ok``).
    m itself always qualifies once m >= pp (one group)."""
    return [n for n in range(pp, m + 1) if m % n == 0 or m % n >= pp]


def regroup_runs(c, t) -> np.ndarray:
    """Interleaved layouts (vpp > 1, pp > 1) that some ``microbatch_group_size`` runs on Megatron-Core: m >= pp,
    where N = m (one group) always qualifies (``megatron_groups``). What ``recommend`` says of the layouts rule
    "interleaved-m" refuses at the job's group size."""
    m = _micro_per_replica(c, t)
    pp = np.asarray(c.pp)
    inter = (np.asarray(c.vpp) > 1) & (pp > 1)
    return inter if m is None else inter & (m >= pp)


REGROUP_HINT = ("set training.framework.microbatch_group_size (Megatron-Core's --microbatch-group-size-per-virtual-"
                "pipeline-stage) to a size N with pp <= N <= m and m % N 0 or >= pp, e.g. N = m")


def _m_detail(c, t, group=None):
    m = _micro_per_replica(c, t)
    if m is None:
        return ""
    mi, pi = int(np.ravel(m)[0]), int(np.ravel(c.pp)[0])
    out = f"m = {mi} micro-batches on pp = {pi}" + (f", N = {group}" if group is not None else "")
    ok = megatron_groups(mi, pi)
    if ok and group not in ok:
        out += f"; microbatch_group_size {_group_list(ok)} runs it"
    return out


def _job_group(t):
    """The job's ``training.framework.microbatch_group_size`` (None: not set)."""
    return getattr(getattr(t, "framework", None), "microbatch_group_size", None)


def _group_list(ok: list[int]) -> str:
    """Group sizes for a message: the first few, then the largest."""
    head = ok if len(ok) <= 4 else ok[:3] + ["...", ok[-1]]
    return ", ".join(map(str, head[:-1])) + f" or {head[-1]}" if len(head) > 1 else str(head[0])


def _int8_base(t) -> bool:
    """The frozen base is bitsandbytes' int8 ``Linear8bitLt`` (planner.spec.training_stack.base_weights)."""
    from planner.model.finetune import base_weights, bitsandbytes_base
    return bitsandbytes_base(t) and base_weights(t) == "int8"


def _bnb(t) -> bool:
    """The frozen base is bitsandbytes layers (planner.spec.training_stack.bitsandbytes_base)."""
    from planner.model.finetune import bitsandbytes_base
    return bitsandbytes_base(t)
#: the low-precision recipes (planner.model.stack_kernels.RECIPES) each runtime's code offers for its linears.
#: Megatron: Transformer Engine's recipes as Megatron-LM passes them (``--fp8-recipe delayed|tensorwise|blockwise|
#: mxfp8``, ``--fp4-recipe nvfp4``; TE recipe.py DelayedScaling, Float8CurrentScaling, Float8BlockScaling,
#: MXFP8BlockScaling, NVFP4BlockScaling; megatron/core/fp8_utils.py ``get_fp8_recipe`` @6a6cd478: ``elif
#: config.fp8_recipe == Fp8Recipe.blockwise and is_te_min_version("2.3.0.dev0"): ... Float8BlockScaling(fp8_format=
#: fp8_format)``) -- no torchao rowwise. torchtitan: torchao's ``Float8Linear`` through
#: torchtitan/components/quantization/float8.py, whose recipes are torchao's ``Float8LinearConfig.from_recipe_name``
#: names: tensorwise and rowwise (rowwise_with_gw_hp is rowwise's kernels with a 16-bit weight-gradient GEMM, not
#: modelled apart). Tensorwise is in every torchtitan but the 0.3.0 release: the 2024 float8 flags
#: (config_manager.py ``--float8.enable_float8_linear``, dynamic = tensorwise scaling, the titan24 rows' code), the
#: 2025 ``Float8Converter`` (@ce5ace24: ``recipe_name`` None = "Float8 tensorwise scaled training", with
#: ``enable_fsdp_float8_all_gather`` / ``precompute_float8_dynamic_scale_for_fsdp``), and main's
#: ``Float8LinearConverter.Config.recipe_name: Literal["tensorwise", "rowwise", "rowwise_with_gw_hp"] = "rowwise"``
#: (@026c75f2, its ``enable_fsdp_float8_all_gather`` back beside it, default False); 0.3.0 alone has
#: ``Literal["rowwise", "rowwise_with_gw_hp"]`` (its launch, planner.present.emit ``TITAN_FP8``, says so). Default
#: rowwise, as 0.3.0 and main both set it (tfp59; until then tensorwise was refused, scale59's "Left" (a)). The
#: ``emulate`` path is a test mode; the 2024 flags' ``--float8.scaling_type_* delayed`` was torchao's own delayed
#: scaling, gone from the later converters (not TE's DelayedScaling: not admitted). And ``MXLinear`` (mx.py
#: ``MXFP8LinearConverter``, mxfp8); torchao's NVFP4 training is a prototype
#: (torchao/prototype/mx_formats/README.md: performance red) torchtitan does not expose, and so is its block-wise
#: FP8 training (torchao/prototype/blockwise_fp8_training, 1x128 / 128x128 Triton kernels): torchtitan's only
#: wiring of it, pytorch/torchtitan PR #1317 "[not for land] testing out float8 128_1_128_128 blockwise scaling"
#: (``DeepGemmFloat8Linear``), was closed unmerged -- no blockwise.
#: The HF code (HF Trainer / accelerate, DeepSpeed under accelerate): accelerate's FP8 backends
#: (usage_guides/low_precision_training: TransformerEngine with ``FP8RecipeKwargs`` -> DelayedScaling, MS-AMP,
#: torchao ``Float8LinearConfig`` tensorwise/rowwise) -- no MX or NVFP4 recipe
#: MaxText and NeuronX Distributed: their fp8 paths (MaxText's qwix/AQT quantization, Neuron's FP8 on Trainium2) are
#: not the TE/torchao recipes priced here: none modelled
#: NeMo AutoModel: TE through ``BackendConfig.te_fp8`` (models/common ``TEFp8Config.recipe``: "current" =
#: Float8CurrentScaling, "block" = Float8BlockScaling (``blockwise``), "mxfp8" = MXFP8BlockScaling)
#: Composer (llm-foundry's trainer): ``precision: amp_fp8`` is Transformer Engine's ``fp8_autocast`` with a
#: ``DelayedScaling`` recipe and nothing else (mosaicml/composer composer/core/precision.py ``get_precision_context``:
#: ``fp8_recipe = DelayedScaling(**precision_config)``, default ``Format.HYBRID``, ``amax_history_len`` 16, ``max``;
#: the same at commits 02c872e4 and d4c0aacf): delayed only
#: The runtimes of ``NO_FP8_PATH`` (the 2021-22 code bases, metaseq, plain DDP): none, their code has no fp8 path
FP8_RECIPES = {"megatron": ("tensorwise", "delayed", "blockwise", "mxfp8", "nvfp4"),
               "automodel": ("tensorwise", "blockwise", "mxfp8"),
               "torchtitan": ("rowwise", "tensorwise", "mxfp8"),
               "hf": ("tensorwise", "delayed", "rowwise"), "maxtext": (), "nxd": (), "composer": ("delayed",),
               "megatron-lm": (), "megatron-deepspeed": (), "metaseq": (), "ddp": (), "dle-bert": ()}
#: the runtimes whose code has no fp8 training path at all (not merely none modelled, as MaxText's and Neuron's), and
#: where their code says so: fp8 training on them is refused as "<stack> has no fp8 path (<this>)" (rule
#: "<runtime>-fp8-recipe"; each short enough for the one-line error, hardware_catalog.errors MESSAGE_CHARS). More:
#: * megatron-lm: the 2021-22 megatron/arguments.py ``_add_mixed_precision_args`` has --fp16 / --bf16 (as the
#:   Megatron-DeepSpeed fork of it, microsoft/Megatron-DeepSpeed 060fb402); Megatron-LM's fp8 flags came with its
#:   Transformer Engine layers in 2023, which the legacy ParallelTransformerLayer this stack prices is not
#: * megatron-deepspeed: its 2023 rebase has --fp8-e4m3 / --fp8-hybrid (TE DelayedScaling) in
#:   megatron/model/transformer.py ``ParallelTransformer`` with --transformer-impl transformer_engine, i.e. the
#:   GPTModel of --no-pipeline-parallel; the DeepSpeed pipeline engine this stack prices (rules of its PipelineModule
#:   split, gradients reduced after the last backward) builds GPTModelPipe from ``ParallelTransformerLayerPipe``, the
#:   local fp16/bf16 layer, and TE's TransformerLayer there refuses GQA ("Transformer_engine does not support GQA")
#: * ddp: torch.autocast's CUDA dtypes are float16 and bfloat16; fp8 training in PyTorch is a module swap of the
#:   linears (Transformer Engine, torchao Float8Linear) that neither convnet stack's code makes (the generic-model
#:   time priced a CNN's convolutions at the fp8 peak, which no autocast reaches)
NO_FP8_PATH = {
    "megatron-lm": "Megatron-LM 2021-22 megatron/arguments.py: --fp16 / --bf16 only; fp8 came with its 2023 "
                   "Transformer Engine layers",
    "megatron-deepspeed": "Megatron-DeepSpeed's TE fp8 runs only without its pipeline engine "
                          "(--no-pipeline-parallel); GPTModelPipe's ParallelTransformerLayerPipe is fp16/bf16",
    "metaseq": "metaseq/dataclass/configs.py CommonConfig: --fp16, --bf16, --memory-efficient-fp16 only",
    "ddp": "DDP with torch.autocast (float16 / bfloat16) + GradScaler; no Transformer Engine or torchao fp8 layers",
    "dle-bert": _DLE_BERT_PRECISION,
}
#: the 16-bit precision the refusal of fp8 points to where it is not bf16: DLE's BERT trains float16 only
#: (``dle-bert-bf16``)
NO_FP8_INSTEAD = {"dle-bert": "fp16"}
assert all(FP8_RECIPES[r] == () for r in NO_FP8_PATH)
#: a stack whose code offers fewer recipes than its runtime's row (a fork of an older release): its own row, read first
#: (planner.model.stacks ``fp8_recipes``). Intel's Megatron-LM fork (core_r0.9.0, Intel Transformer Engine) has
#: delayed scaling only: its arguments.py has --fp8-format / --fp8-margin / --fp8-interval / --fp8-amax-history-len /
#: --fp8-amax-compute-algo and no --fp8-recipe (upstream Core 0.12.0's), examples/llama/pretrain_llama.sh passes
#: those (HabanaAI/Megatron-LM @004966d2)
FP8_RECIPES_BY_STACK = {"megatron-core-gaudi": ("delayed",)}
assert all(set(v) <= set(FP8_RECIPES[RUNTIMES[k]]) for k, v in FP8_RECIPES_BY_STACK.items())


@dataclass(frozen=True)
class StackRule:
    """One thing a runtime refuses. ``applies(stack, model, training)`` (scalars) gates the rule
    on the job; ``ok(c, model, training)`` gives the layouts of candidates ``c`` that obey it, or
    is None when no layout does once the rule applies. ``field`` is the job field blamed,
    ``what`` the refusal in the planner's words, ``source`` the launcher's own words and file."""

    name: str
    runtime: str
    field: str
    what: str
    source: str
    applies: Callable
    ok: Callable | None = None
    #: the refusal with the plan's numbers (for --emit), else ``what``
    detail: Callable | None = None
    #: ``ok`` that also reads the resolved stack, ``(c, model, training, stack)`` (an option's value, not just
    #: whether the rule applies)
    ok_stack: Callable | None = None
    #: ``detail`` that also reads the resolved stack, ``(c, model, training, stack)``
    detail_stack: Callable | None = None
    #: the refusal as a whole sentence where it is not "<runtime> refuses <what> (<source>)": ``{name}`` is the stack's
    #: name (the runtime's where no stack is given), ``{source}`` the source (a runtime whose code has no fp8 path),
    #: ``{extra}`` the plan's numbers (``detail``)
    sentence: str | None = None
    #: the rule concerns every model, not only transformers (``rules_for``): what the code lacks whatever it trains
    #: (an fp8 path)
    any_model: bool = False

    def refused(self, c, model, training, stack=None) -> np.ndarray:
        """Rows of ``c`` this rule refuses (all False when it does not apply)."""
        n = len(c.tp)
        if self.ok_stack is not None:
            return ~np.broadcast_to(np.asarray(self.ok_stack(c, model, training, stack), dtype=bool), (n,))
        if self.ok is None:
            return np.ones(n, dtype=bool)
        return ~np.broadcast_to(np.asarray(self.ok(c, model, training), dtype=bool), (n,))

    @property
    def cite(self) -> str:
        """The source's head, for a one-line summary of many rules (``space.refusal_note``): the text before its first
        ':' or ';' outside parentheses. Until QA 34 the summary cut at the first ':' anywhere, inside a parenthesis
        too: rule "hf-pp" read "(accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp)", unclosed."""
        depth = 0
        for i, ch in enumerate(self.source):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and ch in ":;":
                return self.source[:i]
        return self.source

    def message(self, c=None, model=None, training=None, stack=None) -> str:
        extra = ""
        if c is not None and self.detail_stack is not None and stack is not None:
            extra = self.detail_stack(c, model, training, stack)
        elif c is not None and self.detail is not None:
            extra = self.detail(c, model, training)
        if self.sentence is not None:
            name = getattr(stack, "name", None) or RUNTIME_NAMES[self.runtime]
            return fit_message(self.sentence.format(name=name, source=self.source, extra=extra))
        # the source's quote, the last aside, gives way to what is refused and the plan's numbers (its hint, e.g. the
        # group sizes that run): InputError cuts an over-long message in its middle, which took the hint out (QA 64)
        return fit_message(f"{RUNTIME_NAMES[self.runtime]} refuses {self.what}{extra} ({self.source})")


def _te_torch_checkpoint(st) -> bool:
    """The stack's fp8 recipe runs Transformer Engine linears whose full recompute its checkpoint cannot run
    (stack_kernels.TE_RECOMPUTES ``runs`` "fails"; torch's reentrant checkpoint, ``Stack.use_reentrant``, runs them
    16-bit instead, hfckpt47): the ``te-fp8-torch-checkpoint`` rule applies."""
    rc = TE_RECOMPUTES.get(getattr(st, "te_amax_reduction", "") or "")
    return rc is not None and rc.refuses(st.fp8_recipe, "full", bool(getattr(st, "use_reentrant", False)))


def _moe(m) -> bool:
    return m is not None and getattr(m, "moe", None) is not None


def _hf_plans_lack(types):
    """A rule's ``applies``: an MoE model on a stack that runs transformers' own parallel plans (``Stack.hf_plans``)
    whose model type is one of ``types`` (a set of model types the pinned transformers gives no such plan)."""
    return lambda st, m, t: _moe(m) and getattr(st, "hf_plans", False) and getattr(m, "hf_model_type", None) in types


def _zero3(c):
    return c.zero >= 3


def _autoep(st, m) -> bool:
    """DeepSpeed's AutoEP on a MoE model (``Stack.moe_ep_tp_fold`` off transformers' own plans): the ``ds-autoep-*``
    rules apply."""
    return _moe(m) and autoep_stack(st)


def _autoep_unfolded(c):
    """Rows whose experts are not folded over tensor parallelism (TP 1 or EP 1): what AutoEP + AutoTP's
    ``validate_folding_global`` checks only where both are over 1 (deepspeed/module_inject/auto_ep_folding.py)."""
    return (c.tp == 1) | (c.ep == 1)


def _fsdp2(st) -> bool:
    """Megatron's ZeRO-2/3 is PyTorch FSDP2 / refused (not Megatron-FSDP: ``Stack.megatron_fsdp``); a fork with no
    ZeRO-3 path at all (``Stack.has_zero3``: Intel's core_r0.9.0) is ``megatron-fork-zero`` 's, not these rules'."""
    return not getattr(st, "megatron_fsdp", False) and getattr(st, "has_zero3", True)


def _dp_shard(c):
    """The ZeRO shard group's DP degree (``Candidates.dp_shard``; a layout without one: dp)."""
    s = getattr(c, "dp_shard", None)
    return c.dp if s is None else s


def _hsdp(c):
    """Hybrid sharded data parallelism: ZeRO over part of the DP group (dp_shard < dp)."""
    return _dp_shard(c) < c.dp


def _shard(c):
    """The FSDP shard degree: the shard group's DP ranks at ZeRO-2/3 (FSDP2, reshard never/always; ``dp_shard``, all
    of DP unless HSDP), none at ZeRO-0/1 (replicated) -- torchtitan's ``data_parallel_shard_degree`` (the rest
    ``data_parallel_replicate_degree``, planner.present.emit) and transformers 5.23's ``DistributedConfig.fsdp_size``
    (the rest ``dp_replicate_size``: distributed/fsdp.py ``apply_fully_sharded_data_parallelism`` shards over the
    ("dp_replicate", "fsdp") mesh, so a replicated row is ``fsdp_size`` 1)."""
    return np.where(c.zero >= 2, _dp_shard(c), 1)


def _zero_without(*stages):
    """A rule's check for a stack that has no such sharding: the layout's ZeRO stage is none of ``stages``, or its
    data-parallel group (DP x CP) is one rank, where no stage shards anything."""
    return lambda c, m, t: ~np.isin(c.zero, stages) | (c.dp * c.cp == 1)


def _hf_hsdp_ok(c, m, t, st):
    """Where the HF-code stacks shard over part of the DP group: ZeRO-3 (DeepSpeed MiCS ``mics_shard_size``;
    accelerate's FSDP ``HYBRID_SHARD``), and ZeRO-2 under the HF Trainer's FSDP (``_HYBRID_SHARD_ZERO2``)."""
    z = c.zero
    return ~_hsdp(c) | (z >= 3) | ((z == 2) & (getattr(st, "name", "") != "deepspeed"))


def _deepspeed_stage_layers(c, m, st):
    """(row groups, each group's stage layers) for the split ``st`` launches (planner.model.pipeline
    ``split_per_row`` on ``split_runtime``; the "parameters" partition at each row's TP): one entry per distinct
    (pp, vpp, tp), pp > 1."""
    from planner.model.pipeline import split_per_row, split_runtime
    vpp = getattr(c, "vpp", 1)
    return [(rows, counts) for rows, (k, _, _), counts in split_per_row(m.layers, c.pp, vpp, c.tp, split_runtime(st, m))
            if k > 1]


def _layout_stages(st) -> int:
    """virtual stages of the stack's explicit pipeline layout (planner.model.pipeline ``parse_pp_layout``)"""
    from planner.model.pipeline import parse_pp_layout
    return len(parse_pp_layout(st.pp_layout))


def _every_stage_has_a_layer(c, m, t, st):
    ok = np.ones(len(c.pp), dtype=bool)
    for rows, counts in _deepspeed_stage_layers(c, m, st):
        if min(counts) == 0:
            ok &= ~rows
    return ok


def _empty_stage_detail(c, m, t, st):
    """The refused split of row 0, and what to change."""
    pp, tp = int(np.asarray(c.pp)[0]), int(np.asarray(c.tp)[0])
    counts = next((counts for rows, counts in _deepspeed_stage_layers(c, m, st) if rows[0]), ())
    method = getattr(st, "pp_partition_method", None) or "type:transformer"
    return (f": {method} splits the {m.layers} layers {', '.join(map(str, counts))} (pp {pp}"
            + (f", tp {tp}" if method == "parameters" else "") + "); use a smaller pp or another method")


def _uniform_chunks(c, m, st):
    """(row groups, each group's non-empty model chunk sizes) of the split ``st`` launches (``split_per_row``)."""
    from planner.model.pipeline import split_per_row, split_runtime
    vpp = getattr(c, "vpp", 1)
    return [(rows, sorted({int(x) for x in counts if x > 0}))
            for rows, _, counts in split_per_row(m.layers, c.pp, vpp, c.tp, split_runtime(st, m))]


def _uniform_divides(c, m, t, st):
    """Rows whose every non-empty model chunk holds a whole number of the job's uniform groups."""
    g = int(t.recompute_num_layers)
    ok = np.ones(len(c.pp), dtype=bool)
    for rows, sizes in _uniform_chunks(c, m, st):
        if any(x % g for x in sizes):
            ok &= ~rows
    return ok


def _uniform_detail(c, m, t, st):
    """Row 0's chunk sizes and the groups that divide them all."""
    sizes = next((s for rows, s in _uniform_chunks(c, m, st) if rows[0]), [m.layers])
    fits = [g for g in range(2, max(sizes) + 1) if all(x % g == 0 for x in sizes)]
    return (f": chunks of {', '.join(map(str, sizes))} layers, groups of {int(t.recompute_num_layers)}; "
            + (f"recompute_num_layers {', '.join(map(str, fits))} divide them" if fits
               else "no group above 1 divides them"))


def _uniform_groups_rule(name: str, runtime: str, source: str) -> StackRule:
    """A job's uniform recompute group must divide each model chunk's layers (the loop's last group otherwise
    indexes past them: IndexError in the first forward; uniform40)."""
    return StackRule(name, runtime, "training.recompute_num_layers",
                     "recompute_method uniform with a group that does not divide a model chunk's layers", source,
                     lambda st, m, t: (t.recompute == "full" and getattr(t, "recompute_method", None) == "uniform"
                                       and (t.recompute_num_layers or 0) > 1),
                     ok_stack=_uniform_divides, detail_stack=_uniform_detail,
                     sentence="{name} stops at the first forward on recompute_method uniform with a group that does "
                              "not divide a model chunk's layers{extra} ({source})")


_FSDP2 = "Megatron-LM megatron/training/arguments.py validate_args"
_A2A = "Megatron-Core 0.16.1 TransformerConfig.__post_init__"
_MUON = "Megatron-Core 0.16.1 megatron/core/optimizer/muon.py"
_OPT_GATHER = "Megatron-LM megatron/training/arguments.py validate_args"
_MAMBA = "Megatron-Core 0.16.1 megatron/core/ssm/mamba_block.py"
_SHARED = "Megatron-Core 0.16.1 TransformerConfig.__post_init__"
_DISTMUON = "torchtitan 0.3.0 torchtitan/distributed/flex_shard/dist_muon.py"
_DISTMUON_CFG = "torchtitan 0.3.0 torchtitan/models/kimi_k2_7/config_registry.py _KimiTrainerConfig"

def _lp16_per_stage_rule(name: str, option: str, which: str, mcore_field: str) -> StackRule:
    """Megatron-Core's bound on one of its 16-bit layer counts under fp8/fp4 (``option``: the end or first layers,
    ``--num-layers-at-{end,start}-in-bf16``): at most a pipeline stage's layers (TransformerConfig.__post_init__)."""
    return StackRule(name, "megatron", f"training.framework.{option}",
                     f"more 16-bit {which} layers ({option}) than a pipeline stage holds",
                     f"Megatron-Core 0.16.1 TransformerConfig.__post_init__: '{mcore_field} (...) must be between "
                     "0 and number of layers per pipeline stage'",
                     lambda st, m, t: bool(getattr(st, option, 0)) and t.precision == "fp8",
                     ok_stack=lambda c, m, t, st: m.layers // c.pp >= getattr(st, option))


def _cp_runs(st, m, comm_type: str) -> bool:
    """Whether some layer of ``m`` runs Megatron-Core ``cp_comm_type`` ``comm_type`` on stack ``st``
    (stacks.cp_comm_mix: the one type, or a per-layer list's)."""
    from planner.model.stacks import cp_comm_mix
    return any(x == comm_type for x, _ in cp_comm_mix(st, m))


def _thd_rows(st, t) -> bool:
    """The rows reach the stack's attention as packed examples with their boundaries (Megatron-Core
    ``PackedSeqParams``, TE ``qkv_format="thd"``): packed examples shorter than a row on a stack that passes the
    boundaries (``Stack.doc_masking``; flops.attention_span, evaluate.packed_attention_note)."""
    return bool(getattr(st, "doc_masking", False) and t.flash_attention and t.packing == "packed"
                and t.mean_example_tokens and t.mean_example_tokens < t.seq_len)


def _head_positions_rule(name: str, runtime: str, why: str, source: str) -> StackRule:
    """``training.head_tokens_per_seq`` (an MLM head on the masked positions only) refused on a stack whose BERT code
    runs the head on every position (``Stack.head_on_masked_positions`` False): the step time's head and the memory's
    logits would price rows the code does not gather (head50b). ``why``: what the code does, in the refusal."""
    return StackRule(name, runtime, "training.head_tokens_per_seq",
                     f"an MLM head on the masked positions only ({why}: leave head_tokens_per_seq out, or use "
                     "dle-bert, whose head gathers them)", source,
                     lambda st, m, t: (t.head_tokens_per_seq is not None
                                       and getattr(st, "head_on_masked_positions", None) is False))


def _model_rule(name: str, runtime: str, what: str, refuses: Callable, source: str,
                stack: str | None = None) -> StackRule:
    """A model refused outright, at any layout, on a runtime whose code builds no such model: ``refuses(model)`` says
    which, ``what`` names them and what the code builds instead (the refusal), ``source`` where its model list is read.
    ``stack``: only that stack of the runtime (dle-convnets, not pytorch-ddp, on runtime ddp), named as the stack
    ("dle-convnets refuses"), not the runtime."""
    return StackRule(name, runtime, "training.framework", what, source,
                     lambda st, m, t: refuses(m) and (stack is None or getattr(st, "name", st) == stack),
                     sentence=None if stack is None else "{name} refuses " + what + " ({source})", any_model=True)


def _decoder_only_rule(name: str, runtime: str, code: str, source: str) -> StackRule:
    """Anything but a causal decoder refused on a runtime whose code builds causal decoders only (``_model_rule``;
    ``code``: what it builds): an encoder or an MLM head (BERT), and a model without transformer layers (family
    generic: ResNet-50, the job's own params + FLOPs). Until QA 103 (MaxText) and QA 104 (torchtitan, llm-foundry,
    metaseq) bert-large, and until QA 106 resnet50 (on torchtitan: 6.9 ms a step at micro-batch 16, exit 0), were
    estimated on them as runs their code cannot build."""
    return _model_rule(name, runtime, f"a model other than a causal decoder (an encoder or MLM head such as BERT, or "
                       f"a generic model): {code}; use a stack with its code (BERT: hf-trainer, dle-bert; a CNN: "
                       "pytorch-ddp, dle-convnets)",
                       lambda m: not getattr(m, "causal", False) or bool(getattr(m, "mlm_head", False)), source)


#: transformers' BERT heads (the HF model code, and NeMo AutoModel, which trains transformers' models): on every position
_HF_BERT_HEAD = ("transformers models/bert/modeling_bert.py BertForPreTraining.forward / BertForMaskedLM.forward: "
                 "self.cls(sequence_output) on the whole sequence output, the -100 labels ignored by CrossEntropyLoss "
                 "only")


def _cp_chunks_rule(name: str, runtime: str, source: str) -> StackRule:
    """A ring context parallelism that balances the causal work by cutting each row into 2 x cp chunks and giving rank
    r chunks r and 2 cp - 1 - r (``source``): the row must cut evenly into them. Ulysses (``Stack.cp_exchange``
    "a2a") cuts cp plain chunks (the generic layout rule). Until QA 49 Llama-3-8B at 32,772 tokens, CP4 (8,193 a
    rank, in halves of 4,096.5) was estimated on Megatron-Core and torchtitan."""
    return StackRule(name, runtime, "training.seq_len",
                     "a sequence length that does not cut into 2 x cp equal chunks (its causal load balancing gives "
                     "each context-parallel rank one early and one late chunk)", source,
                     lambda st, m, t: getattr(st, "cp_exchange", "p2p") != "a2a",
                     lambda c, m, t: (c.cp == 1) | (t.seq_len % (2 * c.cp) == 0),
                     lambda c, m, t: f": seq_len {t.seq_len} at CP{int(c.cp[0])} ({t.seq_len / (2 * c.cp[0]):g} "
                                     f"tokens a chunk)")


def _kv_heads_rule(name: str, stack: str, why: str, source: str) -> StackRule:
    """A stack whose tensor parallelism column-shards the k and v projections and views each rank's share as whole
    heads (``why``, ``source``): TP must divide the KV heads, no KV head shared between ranks."""
    return StackRule(name, stack, "parallel.tp", f"more TP ranks than KV heads ({why})", source,
                     lambda st, m, t: bool(m.is_transformer and m.kv_heads), lambda c, m, t: m.kv_heads % c.tp == 0)


#: The pipeline schedules each runtime's code runs (planner.vocab ``SCHEDULE`` names: "1f1b", "interleaved" = interleaved
#: 1F1B over virtual stages, "gpipe" = all forwards, then all backwards), with the source; ``()``: no pipeline at all
#: (pp must be 1). ``schedule_rules`` turns each row into its rules, so ``estimate`` refuses a schedule the code does not
#: run (``error: parallel.schedule: ...``), a pipeline where it has none (``error: parallel.pp: ...``), and ``recommend``
#: never searches either. Schedules the planner has no name for (ZeroBubble, looped BFS, MaxText's circular GPipe) are
#: not plannable anywhere; DualPipeV (dualpipe35) is torchtitan's only: DeepSeek's bidirectional DualPipe (2x the
#: parameters a rank) runs in no public stack (Megatron-LM PR #5254 closed unwired), so it is no schedule here. Until QA 38c maxtext, neuronx-distributed, metaseq, llm-foundry and plain DDP
#: planned every schedule (metaseq and llm-foundry at any pp, with no pipeline code), QA 38b having checked GPipe on the
#: Megatron codes, Megatron-DeepSpeed and the HF code only.
PIPELINE_SCHEDULES: dict[str, tuple[tuple[str, ...], str]] = {
    "megatron": (("1f1b", "interleaved"), "Megatron-Core pipeline_parallel/schedules.py get_forward_backward_func: "
                                          "no pipelining, 1F1B or interleaved 1F1B"),
    "megatron-lm": (("1f1b", "interleaved"), "Megatron-LM 2021-22 megatron/schedules.py get_forward_backward_func: no "
                                             "pipelining, 1F1B or interleaved 1F1B"),
    "megatron-deepspeed": (("1f1b",), "DeepSpeed deepspeed/runtime/pipe/engine.py PipelineEngine.train_batch: "
                                      "schedule.TrainSchedule (deepspeed/runtime/pipe/schedule.py: 'A schedule for "
                                      "training a batch using hybrid parallelism', 2 (micro_batches + stages - 1) steps "
                                      "of forwards and backwards alternating); no GPipe or interleaved option"),
    "torchtitan": (("1f1b", "interleaved", "gpipe", "dualpipev"), "torchtitan distributed/pipeline_parallel.py "
                                                      "build_pipeline_schedule: torch.distributed.pipelining "
                                                      "get_schedule_class(pipeline_parallel_schedule): 1F1B, "
                                                      "Interleaved1F1B, GPipe, LoopedBFS, InterleavedZeroBubble, "
                                                      "ZBVZeroBubble, DualPipeV"),
    "automodel": (("1f1b", "interleaved", "gpipe"), "NeMo AutoModel components/distributed/pipelining/functional.py "
                                                     "build_pipeline_schedule: torch.distributed.pipelining "
                                                     "get_schedule_class(pp_schedule), torch's schedules "
                                                     "(1F1B, Interleaved1F1B, GPipe, ...); not DualPipeV: "
                                                     "split_model_into_stages builds the V only for "
                                                     "ScheduleZBVZeroBubble ('style = \"v\" if schedule_class == "
                                                     "ScheduleZBVZeroBubble else \"loop\"'), so DualPipeV's V-mapped "
                                                     "stages would sit on the loop's ranks"),
    "nxd": (("1f1b", "interleaved"), "neuronx-distributed src/neuronx_distributed/pipeline/scheduler.py: "
                                     "Train1F1BSchedule and TrainInterleavedSchedule ('adopted from Megatron/Apex'), "
                                     "InferenceSchedule; no GPipe"),
    "maxtext": (("gpipe",), "MaxText src/maxtext/layers/pipeline.py Pipeline: a forward scan of num_pipeline_microbatches "
                            "x num_pipeline_repeats + stages - 1 iterations whose backward is JAX's transpose of the "
                            "scan, every forward before any backward (GPipe); num_pipeline_repeats > 1 is the same "
                            "over circular stages; no 1F1B"),
    "hf": ((), "accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp: no pipeline axis); DeepSpeed's pipeline "
               "engine needs the model rewritten as a PipelineModule of layers (deepspeed/runtime/pipe/module.py), "
               "which the HF Trainer integration does not do"),
    "ddp": ((), "torch.nn.parallel.DistributedDataParallel: one whole model replica per rank, no stage split"),
    "dle-bert": ((), f"{_DLE_BERT}: torch DDP over the whole BertForPreTraining, no stage split"),
    "metaseq": ((), "metaseq/dataclass/configs.py DistributedTrainingConfig: ddp_backend (pytorch_ddp, fully_sharded), "
                    "zero_sharding, model_parallel_size (Megatron tensor parallelism); no pipeline option (fairseq's "
                    "pipeline_model_parallel was not carried over)"),
    "composer": ((), "Composer Trainer parallelism_config: fsdp and tp only (llm-foundry scripts/train/train.py builds "
                     "no pipeline)"),
}
assert all(set(s) <= set(SCHEDULE.names) for s, _ in PIPELINE_SCHEDULES.values())
assert set(PIPELINE_SCHEDULES) == set(RUNTIMES.values()) | set(RULE_ONLY_RUNTIMES.values())  # every runtime has its row
#: a runtime's prefix in rule names
_RULE_PREFIX = {"megatron": "mcore", "megatron-deepspeed": "ds", "torchtitan": "titan"}
#: the schedules in words
_SCHEDULE_WORDS = {"1f1b": "1F1B", "interleaved": "interleaved 1F1B", "gpipe": "GPipe", "dualpipev": "DualPipeV"}
#: why a runtime has no pipeline, in the refusal's words (the source says where)
_NO_PIPELINE_WHY = {"hf": "a transformers model is one nn.Module: no stage split",
                    "ddp": "every rank holds the whole model", "metaseq": "FSDP and Megatron TP only",
                    "composer": "FSDP only", "dle-bert": "every rank holds the whole model"}


def stack_schedule(stack) -> str:
    """The pipeline schedule a stack runs where the job leaves ``parallel.schedule`` open: the first of its runtime's
    ``PIPELINE_SCHEDULES`` row (1f1b where the code runs it, GPipe on MaxText, whose pipeline runs nothing else),
    1f1b for a runtime without a pipeline or without rules. Until sched31 an open schedule was 1f1b on every stack,
    so a MaxText job with pp > 1 that named none was refused, and ``recommend`` on TPUs planned MaxText at pp 1 only."""
    runs = PIPELINE_SCHEDULES.get(rules_runtime(stack), ((), ""))[0]
    return runs[0] if runs else "1f1b"


def searches_dualpipev(stack) -> bool:
    """Whether ``recommend`` also tries DualPipeV where the job leaves ``parallel.schedule`` open: on a stack whose
    runtime runs it (torchtitan) with torch.compile off, which DualPipeV needs (rule "titan-dualpipev-compile"); with
    compile on every such layout would only be refused. A schedule the job names is searched as named."""
    if stack is None:
        return False
    run = rules_runtime(stack)
    return "dualpipev" in PIPELINE_SCHEDULES.get(run, ((), ""))[0] and not getattr(stack, "compile", False)


def interleaves(stack) -> bool:
    """Whether ``stack`` may run virtual pipeline stages under an open ``parallel.schedule``: vpp > 1 turns the open
    schedule interleaved (``schedule_codes``), which only a runtime whose ``PIPELINE_SCHEDULES`` row holds it runs.
    False for MaxText (GPipe only), Megatron-DeepSpeed (1F1B only) and the runtimes without a pipeline, so the search
    does not enumerate layouts their schedule rule then refuses (until small32 ``recommend`` of Llama-3-8B on v6e
    under MaxText built 9,870 vpp > 1 layouts only to refuse them); True for a stack without rules or none named
    (framework auto: each stack group's rules refuse its own)."""
    run = rules_runtime(stack)
    return run not in PIPELINE_SCHEDULES or "interleaved" in PIPELINE_SCHEDULES[run][0]


def schedule_codes(stack, parallel, pp, vpp) -> np.ndarray:
    """The schedule codes of rows ``pp`` x ``vpp`` for a job's ``parallel`` on ``stack``, the one place ``estimate``
    and ``recommend`` resolve it. The job's own (a field it wrote, pydantic ``model_fields_set``): kept, 1f1b with
    virtual stages being the interleaved schedule (Megatron's --num-layers-per-virtual-pipeline-stage). Left open:
    virtual stages are the interleaved schedule, a pipeline (pp > 1) runs the stack's own (``stack_schedule``), and
    pp 1 is no pipelining (1f1b: every runtime runs it, and the memory model prices GPipe as holding all
    micro-batches' activations, which a pp-1 MaxText run with gradient accumulation does not)."""
    pp, vpp = np.asarray(pp), np.asarray(vpp)
    inter = SCHEDULE.code["interleaved"]
    if "schedule" in parallel.model_fields_set:
        given = SCHEDULE.code[parallel.schedule]
        return np.where((vpp > 1) & (given == SCHEDULE.code["1f1b"]), inter, given)
    own = SCHEDULE.code[stack_schedule(stack)]
    return np.where(vpp > 1, inter, np.where(pp > 1, own, SCHEDULE.code["1f1b"]))


#: how ``open_schedule_note``'s line starts (``planner simulate`` repeats the estimate's among its notes)
OPEN_SCHEDULE = "parallel.schedule open: "


def open_schedule_note(stack, parallel) -> str | None:
    """The ``assumed:`` line of an open ``parallel.schedule`` on a stack whose own schedule is not 1f1b."""
    own = stack_schedule(stack)
    if "schedule" in parallel.model_fields_set or own == "1f1b":
        return None
    run = rules_runtime(stack)
    return (f"{OPEN_SCHEDULE}{_SCHEDULE_WORDS[own]} at pp > 1, the pipeline schedule "
            f"{RUNTIME_NAMES[run]} runs ({PIPELINE_SCHEDULES[run][1].split(':')[0]}); pp 1 runs no pipeline")


def _schedule(c) -> np.ndarray:
    """The rows' schedule codes; columns without one (a hand-built layout of the rules' callers' tests: plain DDP's rules
    concern every model, a CNN's layouts carry no schedule) are the 1f1b default, as ``layout_of`` reads a plan's."""
    return np.asarray(getattr(c, "schedule", SCHEDULE.code["1f1b"]))


def _schedule_name(c) -> str:
    return _SCHEDULE_WORDS[SCHEDULE.names[int(np.ravel(_schedule(c))[0])]]


def schedule_rules(run: str, runs: tuple[str, ...], source: str) -> tuple[StackRule, ...]:
    """The rules of one ``PIPELINE_SCHEDULES`` row. A runtime without a pipeline (``runs`` empty): pp 1 (rule
    ``<prefix>-pp``) and, at pp 1, no GPipe, which the planner prices as holding all m micro-batches' activations
    (planner.model.memory) where these codes run one micro-batch's forward and backward at a time. One with a pipeline:
    the schedules it runs; at pp 1 the default ``1f1b`` is no pipelining, which every runtime runs. A runtime running
    every schedule has no rule."""
    prefix = _RULE_PREFIX.get(run, run)
    codes = np.array([SCHEDULE.code[s] for s in runs], dtype=np.int64)
    if not runs:
        return (StackRule(f"{prefix}-pp", run, "parallel.pp", f"pipeline parallelism ({_NO_PIPELINE_WHY[run]})", source,
                          lambda st, m, t: True, lambda c, m, t: c.pp == 1),
                StackRule(f"{prefix}-schedule", run, "parallel.schedule", "a pipeline schedule (it has no pipeline)",
                          source, lambda st, m, t: True,
                          lambda c, m, t: (_schedule(c) == SCHEDULE.code["1f1b"]) | (np.asarray(c.pp) > 1),
                          detail=lambda c, m, t: f": {_schedule_name(c)} (leave parallel.schedule out)"),)
    if set(runs) == set(SCHEDULE.names):
        return ()
    words = " and ".join(_SCHEDULE_WORDS[s] for s in runs)
    use = " or ".join(runs)
    return (StackRule(f"{prefix}-schedule", run, "parallel.schedule", f"a pipeline schedule other than {words}", source,
                      lambda st, m, t: True,
                      lambda c, m, t: np.isin(_schedule(c), codes)
                      | ((np.asarray(c.pp) == 1) & (_schedule(c) == SCHEDULE.code["1f1b"])),
                      detail=lambda c, m, t: f": {_schedule_name(c)} (use parallel.schedule {use})"),)


#: the runtimes whose pipeline is torch.distributed.pipelining's schedules (``PIPELINE_SCHEDULES``), built for the
#: micro-batches of one run (``_schedule_run``): their constructors' checks (``torch_schedule_rules``)
TORCH_PIPELINING = ("torchtitan", "automodel")
_TORCH_SCHEDULES = "torch.distributed.pipelining schedules.py (torch 2.13)"


def _torch_1f1b_ok(c, m, t, st=None):
    """torch ``Schedule1F1B``: a run of at least pp micro-batches (its stages); rows without a micro-batch column
    pass."""
    run = _schedule_run(c, t, st)
    if run is None:
        return np.ones(len(c.pp), bool)
    return (_schedule(c) != SCHEDULE.code["1f1b"]) | (np.asarray(c.pp) == 1) | (run >= np.asarray(c.pp))


def _torch_rounds_ok(c, m, t, st=None):
    """torch ``ScheduleInterleaved1F1B`` for a run of the stack's ``pp_pass_microbatches`` (``layout.torch_rounds_ok``,
    which the layout's rule checks for the step's micro-batches: a run's may fail where the step's pass, 9 of 36);
    rows without a micro-batch column pass."""
    run = _schedule_run(c, t, st)
    if run is None:
        return np.ones(len(c.pp), bool)
    pp = np.asarray(c.pp)
    return (_schedule(c) != SCHEDULE.code["interleaved"]) | (pp == 1) | torch_rounds_ok(run, np.maximum(pp, 1))


def _run_words(c, t, st) -> str:
    run = int(np.ravel(_schedule_run(c, t, st))[0])
    return f"{run} micro-batches per {'schedule run' if getattr(st, 'pp_pass_microbatches', None) else 'replica'}"


def torch_schedule_rules(run: str) -> tuple[StackRule, ...]:
    """What torch.distributed.pipelining's schedule constructors refuse, for a runtime that builds them
    (``TORCH_PIPELINING``) for one run of ``_schedule_run`` micro-batches (the step's, or the stack's
    ``pp_pass_microbatches``): ``Schedule1F1B`` fewer than its pp stages ('Number of microbatches ... must be greater
    than or equal to the number of stages'), ``ScheduleInterleaved1F1B`` a count that is no multiple of its rounds
    ('Interleaved 1F1B requires the number of microbatches to be a multiple of the number of rounds': the layout's
    rule checks the step's, this one a pass's). Until sim55 neither was checked: a torchtitan PP4 1F1B plan in
    passes of 1 or 2 was priced."""
    prefix = _RULE_PREFIX.get(run, run)
    return (
        StackRule(f"{prefix}-1f1b-m", run, "training.global_batch", "1F1B with fewer micro-batches than its PP stages",
                  f"{_TORCH_SCHEDULES} Schedule1F1B.__init__: 'Number of microbatches ... must be greater than or "
                  "equal to the number of stages'", lambda st, m, t: True, ok_stack=_torch_1f1b_ok,
                  detail_stack=lambda c, m, t, st: f": {_run_words(c, t, st)} < PP{int(np.ravel(c.pp)[0])}"),
        StackRule(f"{prefix}-interleaved-rounds", run, "training.framework.pp_pass_microbatches",
                  "interleaved 1F1B over a schedule run that is no multiple of its rounds (max(1, run // pp))",
                  f"{_TORCH_SCHEDULES} ScheduleInterleaved1F1B.__init__: 'Interleaved 1F1B requires the number of "
                  "microbatches to be a multiple of the number of rounds'",
                  lambda st, m, t: st.pp_pass_microbatches is not None,
                  ok_stack=_torch_rounds_ok,
                  detail_stack=lambda c, m, t, st: f": {_run_words(c, t, st)} on PP{int(np.ravel(c.pp)[0])}"),
    )


def _token_drop_rule(name: str, stack: str, why: str, source: str) -> StackRule:
    """A stack whose MoE computes every routed token (``why``, ``source``): no capacity factor, so no token
    dropping."""
    return StackRule(name, stack, "model.moe.dropless", f"MoE token dropping (a capacity factor: {why})", source,
                     lambda st, m, t: _moe(m) and not m.moe.dropless)


def _zero1_rule(name: str, stack: str, dp: str, source: str) -> StackRule:
    """A stack whose data parallelism (``dp``, ``source``) either shards parameters too or shards nothing: no
    ZeRO-1."""
    return StackRule(name, stack, "parallel.zero",
                     f"ZeRO-1 (a sharded optimizer over replicated parameters): its data parallelism is {dp}", source,
                     lambda st, m, t: True, _zero_without(1))


#: optimizers Megatron's DistributedOptimizer does not wrap (rule "mcore-distopt-adam")
_NOT_DISTOPT = ("sgd", "sgd_momentum", "lion")
_DISTOPT_ADAM = ("Megatron-Core megatron/core/optimizer/distrib_optimizer.py DistributedOptimizer.__init__: 'Only Adam "
                 "and HybridDeviceOptimizer currently supported, due to checkpointing requirements.' (Megatron-LM "
                 "2022 megatron/optimizer/distrib_optimizer.py: 'Only Adam currently supported')")


_PA_CONFIG = "Megatron-Core megatron/core/optimizer/optimizer_config.py OptimizerConfig.__post_init__"


def _pa_low(st) -> bool:
    """A precision-aware optimizer dtype below fp32 is set on the stack (planner.model.optimizers PrecisionAware)."""
    return any(getattr(st, k, "fp32") != "fp32" for k in ("exp_avg_dtype", "exp_avg_sq_dtype", "main_params_dtype"))


def _optimizer_built_rule(name: str, run: str) -> StackRule:
    """Runtime ``run`` refuses an optimizer its code does not build (planner.model.optimizers RUNTIME_OPTIMIZERS)."""
    from planner.model.optimizers import RUNTIME_OPTIMIZERS

    b = RUNTIME_OPTIMIZERS[run]
    return StackRule(name, run, "training.optimizer", f"an optimizer its code does not build (it builds "
                     f"{', '.join(b.names)})", b.source, lambda st, m, t: t.optimizer not in b.names)


def _optimizer_offload_rule(name: str, stack: str, fsdp: str, source: str) -> StackRule:
    """A stack whose optimizer offload is an option of its FSDP (``fsdp``, ``source``): ZeRO-2/3 only."""
    return StackRule(name, stack, "training.framework.optimizer_offload",
                     f"optimizer offload without {fsdp} (ZeRO-2/3)", source,
                     lambda st, m, t: bool(st.optimizer_offload), lambda c, m, t: c.zero >= 2)


def _expert_tp_rule(name: str, stack: str, what: str, source: str, who: str) -> StackRule:
    """A stack that splits the routed experts over TP without EP and keeps each whole with EP (expert-TP 1): ``what``
    says how (the refusal's words), ``who`` names the stack in the figures ("torchtitan shards"). A stack whose TP
    leaves the experts whole (``Stack.tp_splits_experts`` False) has its own rule (``ds-autotp-etp``)."""
    etp = lambda c: np.where(c.ep > 1, 1, c.tp)  # noqa: E731 -- the one expert-TP the stack runs
    return StackRule(name, stack, "parallel.etp", what, source,
                     lambda st, m, t: _moe(m) and getattr(st, "tp_splits_experts", True),
                     lambda c, m, t: c.etp == etp(c),
                     lambda c, m, t: f": {who} experts over TP{int(etp(c)[0])} with EP{int(c.ep[0])}, the plan has "
                                     f"ETP{int(c.etp[0])}")


RULES: tuple[StackRule, ...] = (
    # ---- Megatron-Core stacks: ZeRO-3 is --use-torch-fsdp2
    # Megatron-Core's BERT runs its LM head over every position (Stack.head_on_masked_positions False, cpmem51): until
    # then the field was taken and the step time's head and the memory's logits ran on head_tokens_per_seq rows
    _head_positions_rule("mcore-head-positions", "megatron", "Megatron-Core's BERT runs its LM head on every position",
                         "Megatron-Core megatron/core/models/bert/bert_model.py BertModel.forward: "
                         "'hidden_states_after_lm_head = self.lm_head(hidden_states=hidden_states)', "
                         "'logits, _ = self.output_layer(hidden_states_after_lm_head, weight=output_weight)', "
                         "'loss = self.compute_language_model_loss(lm_labels, logits)' on the whole [s, b, h] output; "
                         "pretrain_bert.py loss_func applies loss_mask to the per-token loss after"),
    # sequence parallelism splits each CP rank's seq / cp tokens over TP (scatter_to_sequence_parallel_region after the
    # embedding); until QA 49 Llama-3-8B at 32,772 tokens ran TP8 with it (4,096.5 tokens a rank). An open
    # parallel.sequence_parallel runs without it there (open_sp)
    StackRule("mcore-sp-seq", "megatron", "parallel.sequence_parallel",
              "sequence parallelism where TP does not divide each context-parallel rank's seq_len / cp tokens (set "
              "sequence_parallel: false, or a sequence length that TP x CP divides)",
              "Megatron-Core megatron/core/tensor_parallel/mappings.py _split_along_first_dim: 'First dimension of the "
              "tensor should be divisible by tensor parallel size'",
              lambda st, m, t: True,
              lambda c, m, t: ~np.asarray(c.sp, dtype=bool) | (c.tp == 1) | ((t.seq_len // c.cp) % c.tp == 0),
              lambda c, m, t: f": {t.seq_len / c.cp[0]:g} tokens a CP rank over TP{int(c.tp[0])}"),
    _cp_chunks_rule("mcore-cp-chunks", "megatron",
                    "Megatron-LM megatron/training/utils.py get_batch_on_this_cp_rank: 'we split sequence into 2*CP "
                    "ranks', val.view(..., 2 * cp_size, val.shape[seq_dim] // (2 * cp_size), ...)"),
    # TE's Ulysses (cp_comm_type a2a, Stack.cp_kind "te_a2a") splits each TP rank's attention and KV heads over the
    # CP ranks (no KV repetition, unlike DeepSpeed's); until cpcomm36 no Megatron-Core job could choose it
    StackRule("mcore-cp-a2a-heads", "megatron", "training.framework.cp_comm_type",
              "cp_comm_type a2a at a CP degree that does not divide a TP rank's attention heads and KV heads (Ulysses "
              "splits the heads over the CP ranks; a2a+p2p or p2p do not)",
              "Transformer Engine pytorch/attention/dot_product_attention/context_parallel.py "
              "AttnFuncWithCPAndQKVOA2A.forward: 'The number of attention heads needs to be divisible by CP size!'",
              lambda st, m, t: _cp_runs(st, m, "a2a") and bool(m.is_transformer and m.heads),
              lambda c, m, t: (c.cp == 1) | (((m.heads // c.tp) % c.cp == 0)
                                             & (((m.kv_heads or m.heads) // c.tp) % c.cp == 0)),
              lambda c, m, t: f": CP{int(c.cp[0])} with {m.heads // int(c.tp[0])} heads and "
                              f"{(m.kv_heads or m.heads) // int(c.tp[0])} KV heads a TP{int(c.tp[0])} rank"),
    # a per-layer --cp-comm-type (cpmem37): Megatron-Core checks its length at CP > 1 only
    StackRule("mcore-cp-comm-layers", "megatron", "training.framework.cp_comm_type",
              "a per-layer cp_comm_type list whose length is not the model's layers",
              "Megatron-Core transformer/transformer_config.py TransformerConfig.__post_init__ (context_parallel_size "
              "> 1): 'Length of cp_comm_type (...) should equal to the total number of transformer layers (...)!'",
              lambda st, m, t: isinstance(getattr(st, "cp_comm_type", None), tuple)
              and len(st.cp_comm_type) != m.layers,
              lambda c, m, t: c.cp == 1,
              detail_stack=lambda c, m, t, st: f": {len(st.cp_comm_type)} types for {m.layers} layers at "
                                               f"CP{int(c.cp[0])}"),
    # TE's all-gather CP takes no packed (THD) rows: Megatron-Core hands TE PackedSeqParams (qkv_format "thd") for
    # packed examples (Stack.doc_masking, flops.attention_span); until cpmem37 such a job was priced
    StackRule("mcore-cp-allgather-thd", "megatron", "training.framework.cp_comm_type",
              "cp_comm_type all_gather on packed examples (training.packing: packed with mean_example_tokens under "
              "seq_len: the THD format, one variable-length kernel call per example)",
              "Transformer Engine pytorch/attention/dot_product_attention/context_parallel.py (@9c61cd7e) "
              "AttnFuncWithCPAndKVAllGather.forward: assert qkv_format != 'thd', f'{qkv_format} format is not "
              "supported!'",
              lambda st, m, t: _cp_runs(st, m, "all_gather") and _thd_rows(st, t),
              lambda c, m, t: c.cp == 1,
              lambda c, m, t: f": CP{int(c.cp[0])} on packed examples of ~{t.mean_example_tokens:,.0f} tokens "
                              f"(p2p takes them)"),
    StackRule("mcore-pp-layout", "megatron", "training.framework.pp_layout",
              "a pipeline whose ranks x virtual stages is not the explicit layout's stage count",
              "Megatron-Core transformer/pipeline_parallel_layer_layout.py PipelineParallelLayerLayout.__init__ "
              "(@00caa53a): 'pipeline_model_parallel_layout must be divisible by pipeline_model_parallel_size', "
              "virtual_pipeline_model_parallel_size = len(layout) // pipeline_model_parallel_size",
              lambda st, m, t: getattr(st, "pp_layout", None) is not None,
              ok_stack=lambda c, m, t, st: _layout_stages(st) == np.asarray(c.pp) * np.maximum(
                  np.asarray(getattr(c, "vpp", 1)), 1),
              detail_stack=lambda c, m, t, st: (
                  f": {st.pp_layout!r} has {_layout_stages(st)} virtual stages; pp {int(np.asarray(c.pp)[0])} x vpp "
                  f"{int(np.asarray(getattr(c, 'vpp', np.ones(1)))[0])} runs "
                  f"{int(np.asarray(c.pp)[0]) * int(np.asarray(getattr(c, 'vpp', np.ones(1)))[0])} (leave vpp out: "
                  f"the layout implies it)")),
    StackRule("fsdp2-pp", "megatron", "parallel.pp", "ZeRO-3 (Megatron's --use-torch-fsdp2) with pipeline parallelism",
              f"{_FSDP2}: '--use-torch-fsdp2 is not supported with pipeline parallelism'",
              lambda st, m, t: _fsdp2(st), lambda c, m, t: ~(_zero3(c) & (c.pp > 1))),
    StackRule("fsdp2-ep", "megatron", "parallel.ep", "ZeRO-3 (Megatron's --use-torch-fsdp2) with expert parallelism",
              f"{_FSDP2}: '--use-torch-fsdp2 is not supported with expert parallelism'",
              lambda st, m, t: _fsdp2(st), lambda c, m, t: ~(_zero3(c) & (c.ep > 1))),
    StackRule("fsdp2-tied", "megatron", "parallel.zero", "ZeRO-3 (Megatron's --use-torch-fsdp2) with tied embeddings",
              f"{_FSDP2}: '--use-torch-fsdp2 requires --untie-embeddings-and-output-weights'",
              lambda st, m, t: _fsdp2(st) and bool(getattr(m, "tied_embeddings", False)),
              lambda c, m, t: ~_zero3(c)),
    StackRule("fsdp2-fp16", "megatron", "parallel.zero", "ZeRO-3 (Megatron's --use-torch-fsdp2) in fp16",
              f"{_FSDP2}: '--use-torch-fsdp2 not supported with fp16 yet'",
              lambda st, m, t: _fsdp2(st) and t.precision == "fp16", lambda c, m, t: ~_zero3(c)),
    # the launch runs ZeRO-3 with --no-gradient-accumulation-fusion (stacks.LAYOUT_FORCES); a job that asks for the
    # fusion is told, not launched otherwise than it says (until qa68 its plan read "gradient_accumulation_fusion=on")
    StackRule("fsdp2-gaf", "megatron", "training.framework.gradient_accumulation_fusion",
              "gradient_accumulation_fusion: true with ZeRO-3 (Megatron's --use-torch-fsdp2 runs without it: leave "
              "the option out, or set parallel.zero below 3 or training.framework.megatron_fsdp: true)",
              f"{_FSDP2}: '--use-torch-fsdp2 is not supported with gradient accumulation fusion'",
              lambda st, m, t: _fsdp2(st) and st.has_grad_accum_fusion and st.gradient_accumulation_fusion
              and "gradient_accumulation_fusion" in st.given_options,
              lambda c, m, t: ~_zero3(c)),
    StackRule("fsdp2-optimizer-offload", "megatron", "training.framework.optimizer_offload",
              "optimizer offload with ZeRO-3 (--optimizer-cpu-offload needs MCore's distributed optimizer, which "
              "--use-torch-fsdp2 refuses)",
              f"{_FSDP2}: '--use-torch-fsdp2 is not supported with MCore's distributed optimizer'; "
              "'--optimizer-cpu-offload' requires --use-precision-aware-optimizer, which requires the distributed one",
              lambda st, m, t: _fsdp2(st) and bool(st.optimizer_offload), lambda c, m, t: ~_zero3(c)),
    StackRule("mcore-offload-layers", "megatron", "training.framework.activation_offload_layers",
              "activation offload of as many layers as the model has, or more (the last layer is never offloaded)",
              "Megatron-Core transformer_config.py TransformerConfig.__post_init__: 'CPU offloading can be done only "
              "for layers less than {num_layers}' (cpu_offloading_num_layers >= num_layers)",
              lambda st, m, t: (bool(st.activation_offload) and st.activation_offload_layers is not None
                                and st.activation_offload_layers >= m.layers)),
    StackRule("megatron-zero2", "megatron", "parallel.zero",
              # (short enough that the remedy at its end stays whole in the one-line refusal, hardware_catalog.errors
              # fit_message: at 304 characters it was cut, "training.framework.megatron_fsdp…")
              "ZeRO-2 (its distributed optimizer shards the optimizer state and fp32 main weights but keeps every "
              "rank's whole gradient buffer: ZeRO-1; sharded gradients come only with Megatron-FSDP's optim_grads "
              "strategy: training.framework.megatron_fsdp: true)",
              "Megatron-Core docs/source/api-guide/dist_optimizer.md and megatron/core/distributed/"
              "param_and_grad_buffer.py: the gradient buffer holds all of a rank's parameters' gradients",
              lambda st, m, t: _fsdp2(st), lambda c, m, t: c.zero != 2),
    StackRule("megatron-fork-zero", "megatron", "parallel.zero",
              "ZeRO-2/3 (Intel's Megatron-LM fork, core_r0.9.0, has neither --use-torch-fsdp2 nor Megatron-FSDP: its "
              "data parallelism is DDP or the distributed optimizer, ZeRO-0/1)",
              "HabanaAI/Megatron-LM @004966d2 megatron/training/arguments.py _add_distributed_args: "
              "--use-distributed-optimizer, no --use-torch-fsdp2",
              lambda st, m, t: not st.has_zero3, _zero_without(2, 3)),
    # ---- Megatron-Core stacks: HSDP (parallel.dp_shard < dp). The distributed optimizer (ZeRO-1) shards over part
    # of the DP group with --num-distributed-optimizer-instances = dp / dp_shard (DistributedDataParallelConfig
    # num_distributed_optimizer_instances; param_and_grad_buffer.py ``partial_distopt``: reduce-scatter in the
    # intra-instance group, all-reduce across instances), Megatron-FSDP likewise (its HSDP is enabled by the same
    # option, outer_dp_sharding_strategy no_shard); the --use-torch-fsdp2 path wraps a 1-D mesh
    StackRule("fsdp2-hsdp", "megatron", "parallel.dp_shard",
              "ZeRO-3 (Megatron's --use-torch-fsdp2) over part of the data-parallel group (HSDP: dp_shard < dp)",
              "Megatron-Core megatron/core/distributed/torch_fully_sharded_data_parallel.py (0.x releases): "
              "fully_shard(mesh=DeviceMesh.from_group(get_data_parallel_group(with_context_parallel=True))), a 1-D "
              "mesh over the whole DP x CP group; a later Megatron-LM revision builds a (replicate, shard) mesh "
              "from --num-distributed-optimizer-instances, not modelled; use training.framework.megatron_fsdp",
              lambda st, m, t: _fsdp2(st), lambda c, m, t: ~(_hsdp(c) & (c.zero >= 2))),
    # ---- Megatron-Core stacks: Muon (planner.model.optimizers; megatron/core/optimizer/muon.py 0.16.1)
    StackRule("muon-zero", "megatron", "parallel.zero",
              "Muon with ZeRO-2/3 (its data-parallel sharding is LayerWiseDistributedOptimizer over DDP's whole "
              "gradients: ZeRO-0/1)",
              f"{_MUON} get_megatron_muon_optimizer: 'muon with dist optimizer is not supported.'; Megatron-FSDP "
              "keeps gradients in its own sharded buffers, FSDP2 needs the distributed optimizer",
              lambda st, m, t: t.optimizer == "muon", lambda c, m, t: c.zero <= 1),
    StackRule("muon-hsdp", "megatron", "parallel.dp_shard",
              "Muon over part of the data-parallel group (HSDP: --num-distributed-optimizer-instances is an option of "
              "the distributed optimizer, which Muon refuses)",
              f"{_MUON} get_megatron_muon_optimizer: 'muon with dist optimizer is not supported.'",
              lambda st, m, t: t.optimizer == "muon", lambda c, m, t: ~_hsdp(c)),
    StackRule("muon-fp16", "megatron", "training.precision", "Muon in fp16",
              f"{_MUON} get_megatron_muon_optimizer: 'muon with fp16 is not supported.'",
              lambda st, m, t: t.optimizer == "muon" and t.precision == "fp16"),
    StackRule("muon-optimizer-offload", "megatron", "training.framework.optimizer_offload",
              "Muon with optimizer offload (--optimizer-cpu-offload needs the distributed optimizer, which Muon refuses)",
              f"{_MUON}: 'muon with dist optimizer is not supported.'; arguments.py: '--optimizer-cpu-offload' "
              "requires --use-precision-aware-optimizer, which requires the distributed optimizer",
              lambda st, m, t: t.optimizer == "muon" and bool(st.optimizer_offload)),
    # ---- Megatron-Core stacks: the optimizers its code builds (planner.model.optimizers RUNTIME_OPTIMIZERS). The
    # job's own stack is refused when it is resolved (optimizers.check_stack); these rules refuse a plan timed on
    # another stack at --emit (an HF Trainer 8-bit Adam plan written as a Megatron launch would run fp32 Adam)
    _optimizer_built_rule("mcore-optimizer", "megatron"),
    # DistributedOptimizer (ZeRO-1, Megatron-FSDP, HSDP) wraps Adam only: SGD and Lion run replicated (ZeRO-0) or
    # under torch FSDP2 (ZeRO-3, Float16OptimizerWithFloat16Params over the sharded parameters); SGD also with the
    # CPU offload's HybridDeviceOptimizer, whose GPU/CPU classes are Adam or SGD (Lion there would build SGD)
    StackRule("mcore-distopt-adam", "megatron", "parallel.zero",
              "SGD or Lion with its distributed optimizer (ZeRO-1, Megatron-FSDP, HSDP: it wraps Adam only)",
              _DISTOPT_ADAM,
              lambda st, m, t: (t.optimizer in _NOT_DISTOPT and not (st.optimizer_offload and t.optimizer != "lion")),
              ok_stack=lambda c, m, t, st: (c.zero == 0) | (_zero3(c) & _fsdp2(st) & ~_hsdp(c))),
    StackRule("mcore-lion-offload", "megatron", "training.framework.optimizer_offload",
              "Lion with optimizer offload (--optimizer-cpu-offload's HybridDeviceOptimizer builds Adam or SGD)",
              "Megatron-Core megatron/core/optimizer/__init__.py: 'gpu_optimizer_cls = Adam if config.optimizer == "
              "'adam' else SGD' under config.optimizer_cpu_offload",
              lambda st, m, t: t.optimizer == "lion" and bool(st.optimizer_offload)),
    # ---- Megatron-Core stacks: the optimizer-step parameter all-gather (Stack.overlap_param_gather_with_optimizer_step,
    # align57): validate_args' three asserts. Until review57 a job that set it with overlap_param_gather off, at ZeRO-0
    # or without the interleaved schedule was priced as if the option did nothing (step_time ``_interleaved_gather``
    # reads it on interleaved rows under the overlapped gather only; PLAN_NEEDS said "changes nothing" at VPP 1)
    StackRule("mcore-opt-gather-overlap", "megatron", "training.framework.overlap_param_gather_with_optimizer_step",
              "overlap_param_gather_with_optimizer_step without overlap_param_gather",
              f"{_OPT_GATHER}: 'Must use --overlap-param-gather-with-optimizer-step with --overlap-param-gather'",
              lambda st, m, t: bool(getattr(st, "overlap_param_gather_with_optimizer_step", False))
              and not st.overlap_param_gather),
    StackRule("mcore-opt-gather-vpp", "megatron", "parallel.vpp",
              "overlap_param_gather_with_optimizer_step without the interleaved schedule (PP > 1, VPP > 1)",
              f"{_OPT_GATHER}: '--overlap-param-gather-with-optimizer-step only supported with interleaved pipeline "
              "parallelism'",
              lambda st, m, t: bool(getattr(st, "overlap_param_gather_with_optimizer_step", False)),
              lambda c, m, t: (c.pp > 1) & (c.vpp > 1)),
    StackRule("mcore-opt-gather-zero", "megatron", "parallel.zero",
              "overlap_param_gather_with_optimizer_step without its distributed optimizer (ZeRO-0)",
              f"{_OPT_GATHER}: '--overlap-param-gather-with-optimizer-step only supported with distributed optimizer'",
              lambda st, m, t: bool(getattr(st, "overlap_param_gather_with_optimizer_step", False)),
              lambda c, m, t: c.zero >= 1),
    # ---- Megatron-Core stacks: the precision-aware optimizer (planner.model.optimizers PrecisionAware)
    StackRule("mcore-pa-zero", "megatron", "training.framework.precision_aware_optimizer",
              "the precision-aware optimizer without its distributed optimizer (ZeRO-1; not ZeRO-0, not ZeRO-3's "
              "FSDP2, not Megatron-FSDP)",
              f"{_PA_CONFIG}: '--use-precision-aware-optimizer only supported with distributed optimizer'; "
              "Megatron-Bridge scripts/performance/utils/overrides.py _set_megatron_fsdp_overrides: 'Disabling "
              "precision aware optimizer because it cannot work with FSDP together.'",
              lambda st, m, t: bool(st.precision_aware_optimizer) and not st.optimizer_offload,
              lambda c, m, t: c.zero == 1),
    StackRule("mcore-pa-optimizer", "megatron", "training.optimizer",
              "the precision-aware optimizer with an optimizer other than Adam / AdamW",
              f"{_PA_CONFIG}: '--use-precision-aware-optimizer only supported with adam'",
              lambda st, m, t: bool(st.precision_aware_optimizer) and t.optimizer not in ("adam", "adamw")),
    StackRule("mcore-pa-dtypes", "megatron", "training.framework.precision_aware_optimizer",
              "exp_avg_dtype, exp_avg_sq_dtype or main_params_dtype other than fp32 without "
              "precision_aware_optimizer: true",
              f"{_PA_CONFIG}: 'exp_avg_dtype can only be fp32 when not using precision-aware optimizer' (and the same "
              "for exp_avg_sq_dtype, main_params_dtype)",
              lambda st, m, t: _pa_low(st) and not st.precision_aware_optimizer and not st.optimizer_offload),
    StackRule("mcore-pa-offload-dtypes", "megatron", "training.framework.optimizer_offload",
              "optimizer offload with exp_avg_dtype, exp_avg_sq_dtype or main_params_dtype other than fp32 (the "
              "offloaded HybridDeviceOptimizer keeps torch AdamW's fp32 state)",
              "Megatron-Core megatron/core/optimizer/__init__.py: under config.optimizer_cpu_offload "
              "HybridDeviceOptimizer(..., cpu_optimizer_cls=CPUAdam, param_update_in_fp32=True, lr, weight_decay, "
              "betas, eps, bias_correction, fused) -- no state dtype passed",
              lambda st, m, t: _pa_low(st) and bool(st.optimizer_offload)),
    # ---- Megatron-Core stacks with megatron_fsdp: ZeRO-2/3 are Megatron-FSDP (optim_grads / optim_grads_params)
    StackRule("mfsdp-reshard", "megatron", "training.framework.reshard_after_forward",
              "ZeRO-3 (Megatron-FSDP's optim_grads_params) that keeps the gathered parameters from forward to "
              "backward (reshard_after_forward: false): it has no such switch",
              "Megatron-Core 0.16.1 megatron/core/distributed/fsdp/src/megatron_fsdp/megatron_fsdp.py: every FSDP "
              "unit's post-forward hook calls release_module_parameters and its pre-backward hook all-gathers it "
              "again; DistributedDataParallelConfig has no reshard option (--torch-fsdp2-no-reshard-after-forward "
              "is FSDP2's)",
              lambda st, m, t: getattr(st, "megatron_fsdp", False) and not st.reshard_after_forward,
              lambda c, m, t: ~_zero3(c)),
    StackRule("moe-precision", "megatron", "training.precision", "an MoE model in fp16/fp32 (Megatron's grouped-GEMM "
              "MoE and its expert parallelism need bf16 weights)",
              f"{_FSDP2}: 'Currently GroupedGEMM for MoE only supports bf16 dtype', "
              "'Expert parallelism is not supported with fp16 training'",
              lambda st, m, t: _moe(m) and t.precision not in MEGATRON_MOE_PRECISIONS),
    # ---- Megatron-Core: the combined-1F1B MoE all-to-all overlap (--overlap-moe-expert-parallel-comm)
    StackRule("a2a-overlap-ep", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) without expert parallelism",
              f"{_A2A}: 'overlap_moe_expert_parallel_comm is only supported with expert model parallelism'",
              lambda st, m, t: bool(st.moe_a2a_overlap) and _moe(m), lambda c, m, t: c.ep > 1),
    StackRule("a2a-overlap-pp-vpp", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) with PP > 1 but no virtual pipeline",
              f"{_A2A}: 'If enabling EP A2A overlap, virtual_pipeline_model_parallel_size must be specified when "
              "pipeline_model_parallel_size > 1'",
              lambda st, m, t: bool(st.moe_a2a_overlap) and _moe(m), lambda c, m, t: (c.pp == 1) | (c.vpp > 1)),
    StackRule("a2a-overlap-full-recompute", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) with full recomputation",
              f"{_A2A}: 'disable full recomputation when enabling overlap_moe_expert_parallel_comm'",
              lambda st, m, t: bool(st.moe_a2a_overlap) and _moe(m), lambda c, m, t: c.rc != _FULL),
    StackRule("a2a-overlap-fp32", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) in fp32 (it needs a bf16 or fp16 model)",
              f"{_A2A}: 'overlap_moe_expert_parallel_comm is only supported with bf16 or fp16 model'",
              lambda st, m, t: bool(st.moe_a2a_overlap) and _moe(m) and t.precision == "fp32"),
    StackRule("a2a-overlap-mtp", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) with multi-token prediction: one MTP layer and PP > 1 only",
              f"{_A2A}: 'MTP layernum only supports 1 when enabling overlap_moe_expert_parallel_comm', 'Pipeline "
              "model parallel size must be larger than 1 when enabling overlap_moe_expert_parallel_comm with MTP layer'",
              lambda st, m, t: bool(st.moe_a2a_overlap) and _moe(m) and getattr(m, "mtp_layers", 0) > 0,
              lambda c, m, t: (m.mtp_layers == 1) & (c.pp > 1)),
    # ---- Megatron-Core: the shared-expert overlap (--moe-shared-expert-overlap, the stack option
    # moe_shared_expert_overlap: planner.model.moe SHARED_STREAM_SCHEDULES)
    StackRule("shared-overlap-dispatcher", "megatron", "training.framework.moe_shared_expert_overlap",
              "the shared-expert overlap (moe_shared_expert_overlap) with the flex (DeepEP / HybridEP) dispatcher: "
              "its fc1 / fc2 hooks are the all-to-all dispatcher's",
              f"{_SHARED}: 'moe_shared_expert_overlap only works with alltoall token dispatcher'; moe/token_dispatcher.py "
              "MoEFlexTokenDispatcher.set_shared_experts: 'Shared expert overlap is not supported in Flex Token "
              "Dispatcher.' (Megatron-LM main @002526d8 lets TransformerConfig take flex; Megatron-Bridge's "
              "apply_flex_dispatcher_backend, training/flex_dispatcher_backend.py @183c5c02, turns the overlap off with "
              "DeepEP / HybridEP)",
              lambda st, m, t: bool(getattr(st, "moe_shared_expert_overlap", False)) and has_shared_experts(m)
              and st.moe_dispatcher != "alltoall"),
    # ---- the flex dispatcher (moe_dispatcher deepep / hybridep) exchanges over the experts' TP x EP group: with one
    # rank there it asserts (QA 54: Mixtral with hybridep was planned at EP 1, ETP 1, and emitted so)
    StackRule("mcore-flex-dispatcher-ep", "megatron", "training.framework.moe_dispatcher",
              "the flex dispatcher (deepep / hybridep) with one rank in the experts' TP x EP group",
              "Megatron-Core transformer/moe/token_dispatcher.py MoEFlexTokenDispatcher: 'Flex token dispatcher "
              "requires TPxEP > 1'",
              lambda st, m, t: _moe(m) and st.moe_dispatcher != "alltoall",
              lambda c, m, t: np.asarray(c.etp) * np.asarray(c.ep) > 1,
              lambda c, m, t: f": ETP{int(c.etp[0])} x EP{int(c.ep[0])}"),
    StackRule("shared-overlap-a2a-overlap", "megatron", "training.framework.moe_shared_expert_overlap",
              "the shared-expert overlap (moe_shared_expert_overlap) with the MoE all-to-all overlap (moe_a2a_overlap)",
              f"{_A2A}: 'disable moe_shared_expert_overlap when enabling overlap_moe_expert_parallel_comm' (Megatron-"
              "Bridge's set_moe_a2a_overlap_overrides turns it off)",
              lambda st, m, t: bool(getattr(st, "moe_shared_expert_overlap", False)) and _moe(m)
              and bool(st.moe_a2a_overlap)),
    StackRule("shared-overlap-recompute", "megatron", "training.recompute_modules",
              "the shared-expert overlap (moe_shared_expert_overlap) with shared_experts in recompute_modules",
              f"{_SHARED}: 'shared_experts recompute cannot work with --moe-shared-expert-overlap.'",
              lambda st, m, t: bool(getattr(st, "moe_shared_expert_overlap", False)) and has_shared_experts(m)
              and "shared_experts" in (getattr(t, "recompute_modules", None) or ()),
              lambda c, m, t: c.rc != _SELECTIVE),
    StackRule("shared-overlap-latent", "megatron", "training.framework.moe_shared_expert_overlap",
              "the shared-expert overlap (moe_shared_expert_overlap) with LatentMoE projections (model.moe.latent_size)",
              "Megatron-Core 0.16.1 megatron/core/transformer/moe/moe_layer.py MoELayer.preprocess: 'Shared expert "
              "overlap not supported when MoE latent projections are used.'",
              lambda st, m, t: bool(getattr(st, "moe_shared_expert_overlap", False)) and _moe(m)
              and bool(getattr(m.moe, "latent_size", None))),
    # ---- Megatron-Core: CUDA graphs (--cuda-graph-impl) and full recompute
    StackRule("cuda-graphs-full-recompute", "megatron", "training.recompute",
              "full recomputation with CUDA graphs (cuda_graph_impl)",
              "Megatron-LM megatron/training/arguments.py validate_args: 'recompute_granularity must not be full when "
              "CUDA Graphs are enabled'",
              lambda st, m, t: getattr(st, "cuda_graph_impl", "none") != "none", lambda c, m, t: c.rc != _FULL),
    # ---- Megatron-Core: 16-bit first / last layers under fp8 / fp4 (--first-last-layers-bf16)
    _lp16_per_stage_rule("lp-bf16-layers-per-stage", "lp_bf16_layers", "end", "num_layers_at_end_in_bf16"),
    _lp16_per_stage_rule("lp-bf16-first-layers-per-stage", "lp_bf16_first_layers", "first",
                         "num_layers_at_start_in_bf16"),
    # ---- Megatron-Core: the interleaved schedule's micro-batch groups (--microbatch-group-size-per-virtual-
    # pipeline-stage, the stack option microbatch_group_size, default pp; --emit writes it when set)
    StackRule("interleaved-m", "megatron", "parallel.vpp",
              "an interleaved pipeline whose m micro-batches per replica do not split into groups of "
              "microbatch_group_size N (default pp): pp <= N <= m, a last group of 0 or >= pp",
              "Megatron-Core megatron/core/pipeline_parallel/schedules.py forward_backward_pipelining_with_interleaving"
              ": 'The remainder of M (the total micro-batches) divided by N (number of contiguous micro-batches in a "
              "virtual pipeline stage) should be 0, or larger than or equal to the pipeline-parallel size', N = "
              "microbatch_group_size_per_vp_stage (default pp), and 'The number of contiguous micro-batches in a "
              "virtual pipeline stage should range in [PP, M]'",
              lambda st, m, t: True,
              ok_stack=lambda c, m, t, st: _interleaved_m_ok(c, t, getattr(st, "microbatch_group_size", None)),
              detail=lambda c, m, t: f" ({_m_detail(c, t, _job_group(t))})"),
    # ---- Megatron-Core: uniform recompute groups each model chunk's own layers (uniform40)
    _uniform_groups_rule("uniform-groups", "megatron",
                         "Megatron-Core megatron/core/transformer/transformer_block.py "
                         "TransformerBlock._checkpointed_forward: 'while layer_idx < self.num_layers_per_pipeline_rank:"
                         " ... custom(layer_idx, layer_idx + self.config.recompute_num_layers)', whose custom_forward "
                         "runs 'for index in range(start, end): layer = self._get_layer(index)' (self.layers[index]): "
                         "a last partial group indexes past the chunk's layers"),
    _uniform_groups_rule("megatron-lm-uniform-groups", "megatron-lm",
                         "Megatron-LM megatron/model/transformer.py ParallelTransformer._checkpointed_forward: 'while "
                         "l < self.num_layers: ... custom(l, l + self.recompute_num_layers)', custom_forward's 'for "
                         "index in range(start, end): layer = self._get_layer(index)' (self.layers[index])"),
    # ---- Megatron-Core: hybrid (Mamba) models run as MambaModel / MambaStack, not GPTModel
    StackRule("hybrid-vpp", "megatron", "parallel.vpp",
              "a virtual (interleaved) pipeline for a hybrid (Mamba) model",
              f"{_MAMBA}: MambaStack._select_layers_for_pipeline_parallel asserts 'The Mamba hybrid model does not "
              "currently support virtual/interleaved pipeline parallelism'",
              lambda st, m, t: bool(getattr(m, "hybrid", False)), lambda c, m, t: c.vpp == 1),
    StackRule("hybrid-a2a-overlap", "megatron", "training.framework.moe_a2a_overlap",
              "the MoE all-to-all overlap (moe_a2a_overlap) for a hybrid (Mamba) model: its combined-1F1B "
              "schedule plan is built by GPTModel only",
              f"{_MAMBA}: only models/gpt/gpt_model.py defines build_schedule_plan; MambaModel has none",
              lambda st, m, t: bool(st.moe_a2a_overlap) and bool(getattr(m, "hybrid", False))),
    StackRule("megatron-qlora", "megatron", "training.mode",
              "QLoRA (a bitsandbytes NF4 base: its PEFT adapts a 16-bit or FP8 base)",
              "NeMo 2 / Megatron-Bridge PEFT (LoRA, DoRA) wraps Megatron-Core's own linears; bitsandbytes "
              "Linear4bit is a Hugging Face model-code layer (peft prepare_model_for_kbit_training), run by the HF "
              "Trainer and by DeepSpeed ZeRO-1/2/3 (peft docs accelerate/deepspeed.md, bitsandbytes + LoRA table): "
              "planner.defaults.FRAMEWORK_BY_MODE",
              lambda st, m, t: getattr(t, "mode", None) == "qlora"),
    StackRule("megatron-bnb-base", "megatron", "training.base_weights",
              "a bitsandbytes base (nf4 / int8 under LoRA is QLoRA's peft + bitsandbytes code)",
              "as megatron-qlora: Megatron-Core PEFT adapts its own 16-bit or FP8 linears (planner.spec.training_stack "
              "bitsandbytes_base)",
              lambda st, m, t: getattr(t, "mode", None) == "lora" and _bnb(t)),
    # ---- the HF code: a bitsandbytes base's GEMMs run in its 16/32-bit compute dtype
    StackRule("hf-bnb-fp8", "hf", "training.precision",
              "fp8 training over a bitsandbytes (nf4 / int8) base: its GEMMs dequantise to bitsandbytes' 16/32-bit "
              "compute dtype, so no fp8 recipe reaches them (use precision bf16)",
              "bitsandbytes Linear4bit.forward: bnb.matmul_4bit(x, weight.t(), quant_state) in bnb_4bit_compute_dtype "
              "(float16 / bfloat16 / float32); Linear8bitLt: int8 matmul with fp16 outliers; accelerate's FP8 "
              "backends (Transformer Engine, torchao Float8Linear) swap 16-bit torch linears",
              lambda st, m, t: t.precision == "fp8" and _bnb(t)),
    # ---- every runtime: the low-precision recipe must be one its code has (FP8_RECIPES)
    # (a runtime with no recipe refuses fp8 training itself: it blamed training.framework.fp8_recipe, "a recipe it does
    # not offer (it has none modelled)", on a job that set precision fp8 and no recipe; QA 32)
    # (a runtime whose code has no fp8 path, NO_FP8_PATH, says so with that code's words, "<stack> has no fp8 path")
    *(StackRule(f"{run}-fp8-recipe", run, "training.framework.fp8_recipe" if FP8_RECIPES[run] else "training.precision",
                f"fp8 training with a recipe it does not offer (it has {', '.join(FP8_RECIPES[run])})" if FP8_RECIPES[run]
                else "fp8 training (no fp8 recipe of its code is modelled: use bf16)",
                NO_FP8_PATH.get(run, "planner.model.stack_rules FP8_RECIPES (sources there)"),
                lambda st, m, t, run=run: t.precision == "fp8" and st.fp8_recipe not in FP8_RECIPES[run],
                sentence=f"{{name}} has no fp8 path ({{source}}); use {NO_FP8_INSTEAD.get(run, 'bf16')}"
                if run in NO_FP8_PATH else None, any_model=True)
      for run in FP8_RECIPES),
    # ---- a Transformer Engine fp8 layer under torch's non-reentrant checkpoint (stack_kernels.TE_RECOMPUTES, fp8rc46)
    StackRule("te-fp8-torch-checkpoint", "hf", "training.recompute",
              "full recompute of TE fp8 layers: torch's non-reentrant checkpoint re-runs them 16-bit (use bf16, no "
              "recompute, or use_reentrant: true)",
              "TE base.py prepare_forward; torch CheckpointError, TransformerEngine #776",
              lambda st, m, t: t.precision == "fp8" and _te_torch_checkpoint(st),
              lambda c, m, t: c.rc != _FULL),
    # ---- NeMo AutoModel
    StackRule("automodel-moe-tp", "automodel", "parallel.tp",
              "tensor parallelism on its MoE models",
              "NVIDIA-NeMo/Automodel nemo_automodel/components/moe/parallelizer.py parallelize_model: "
              "'Tensor parallelism not supported for custom MoE models'",
              lambda st, m, t: _moe(m), lambda c, m, t: c.tp == 1),
    StackRule("automodel-linear-ce-tp", "automodel", "parallel.tp",
              "FusedLinearCrossEntropy (loss_fn: linear_ce) under tensor parallelism",
              "NVIDIA-NeMo/Automodel nemo_automodel/components/loss/linear_ce.py materialize_lm_weight: the LM-head "
              "DTensor's mesh must match the data-parallel gradient group, 'Tensor-parallel or hierarchical layouts "
              "need an explicit compatible loss path'",
              lambda st, m, t: getattr(st, "loss", "") == "masked_ce" and getattr(st, "loss_fn", "") == "linear_ce",
              lambda c, m, t: c.tp == 1),
    _zero1_rule("automodel-zero1", "automodel", "FSDP2 (ZeRO-2/3) or DDP (ZeRO-0)",
                "NVIDIA-NeMo/Automodel nemo_automodel/components/distributed/mesh.py STRATEGY_MAP (fsdp2, "
                "megatron_fsdp, ddp) and config.py FSDP2Config / DDPConfig"),
    _optimizer_offload_rule("automodel-optimizer-offload", "automodel", "FSDP2",
                            "NVIDIA-NeMo/Automodel nemo_automodel/components/distributed/config.py: "
                            "FSDP2Config.offload_policy (torch CPUOffloadPolicy) is an FSDP2 option; DDPConfig has "
                            "none"),
    # transformers' BERT heads on every position (Stack.head_on_masked_positions False): AutoModel trains the HF model
    # code, so until QA 104 the field was taken and the head priced on the masked rows only
    _head_positions_rule("automodel-head-positions", "automodel", "it trains transformers' BERT, whose heads run on "
                         "every position", _HF_BERT_HEAD),
    # ---- torchtitan 0.3
    # its models are causal decoders: until QA 104 bert-large was estimated on it
    _decoder_only_rule("titan-encoder", "torchtitan",
                       "every torchtitan model is a causal decoder trained on the next token",
                       "torchtitan torchtitan/models/__init__.py _supported_models (llama3, llama3_ft, deepseek_v3, "
                       "qwen3; llama4 and the rest under experiments are decoders too), components/loss.py "
                       "cross_entropy_loss on the shifted labels; no encoder or MLM model"),
    _cp_chunks_rule("titan-cp-chunks", "torchtitan", "PyTorch context_parallel, torch/distributed/tensor/experimental/_attention.py _RoundRobinLoadBalancer.shard (load balancing on by default, _cp_options.enable_load_balance): 'assert buffer.size()[seq_dim] % (cp_world_size * 2) == 0'"),
    StackRule("titan-ep-fsdp", "torchtitan", "parallel.ep",
              "expert parallelism without FSDP ranks to take it from",
              "torchtitan 0.3 torchtitan/distributed/parallel_dims.py: EP borrows its ranks from FSDP, "
              "efsdp = dp_shard x cp x tp / ep must be whole (dp_shard = 1 at ZeRO-0/1)",
              lambda st, m, t: True, lambda c, m, t: (c.ep == 1) | ((_shard(c) * c.cp * c.tp) % c.ep == 0),
              lambda c, m, t: f": dp_shard {int(_shard(c)[0])} x cp {int(c.cp[0])} x tp {int(c.tp[0])} is not a "
                              f"multiple of EP{int(c.ep[0])}"),
    _expert_tp_rule("titan-etp", "torchtitan",
                    "experts split over other ranks than it shards them (routed experts over TP without EP, not at "
                    "all with EP: expert-TP 1)",
                    "torchtitan 0.3 torchtitan/models/common/moe_sharding.py: with EP the expert weights lie on "
                    "dp_replicate x efsdp x ep", "torchtitan shards"),
    _optimizer_offload_rule("titan-optimizer-offload", "torchtitan", "FSDP",
                            "torchtitan 0.3 training.enable_cpu_offload: FSDP2's CPUOffloadPolicy, an option of "
                            "fully_shard"),
    _zero1_rule("titan-zero1", "torchtitan", "FSDP2 (ZeRO-2/3 by fsdp_reshard_after_forward) or replicated (ZeRO-0)",
                "torchtitan 0.3 ParallelismConfig: data_parallel_shard_degree (FSDP2 fully_shard), "
                "data_parallel_replicate_degree (DDP/HSDP), fsdp_reshard_after_forward"),
    _optimizer_built_rule("titan-optimizer", "torchtitan"),
    # ---- torchtitan 0.3: Muon is DistMuon (torchtitan/distributed/flex_shard/dist_muon.py)
    StackRule("titan-muon-fsdp", "torchtitan", "parallel.zero", "Muon without FSDP (DistMuon needs ZeRO-2/3)",
              f"{_DISTMUON} _validate_parameter_storage: 'DistMuon requires DTensor parameters'",
              lambda st, m, t: t.optimizer == "muon", lambda c, m, t: c.zero >= 2),
    StackRule("titan-muon-tp", "torchtitan", "parallel.tp", "Muon with tensor parallelism",
              f"{_DISTMUON_CFG}: 'Kimi DistMuon currently requires tensor_parallel_degree=1 ...: tensor parallelism "
              "can produce unsupported _StridedShard parameter layouts' (TODO #3353)",
              lambda st, m, t: t.optimizer == "muon", lambda c, m, t: c.tp == 1),
    StackRule("titan-muon-pp", "torchtitan", "parallel.pp", "Muon with pipeline parallelism",
              f"{_DISTMUON_CFG}: '... and pipeline_parallel_degree=1: pipeline parallelism gives each stage only a "
              "subset of the optimizer's parameter-group patterns' (TODO #4102)",
              lambda st, m, t: t.optimizer == "muon", lambda c, m, t: c.pp == 1),
    # torchtitan builds the float8 all-gather on the tensorwise path only (``recipe_name`` None); with a recipe name the
    # converter asserts (stack_kernels ``fsdp_float8_gather_on``), so a rowwise / mxfp8 plan that sets it is refused
    StackRule("titan-fp8-gather-recipe", "torchtitan", "training.framework.fsdp_float8_all_gather",
              "fsdp_float8_all_gather with an fp8 recipe other than tensorwise",
              "torchtitan torchtitan/components/quantization/float8.py (@ce5ace24, main): 'using "
              "`float8_config.enable_fsdp_float8_all_gather` together with `float8_config.recipe_name` is not "
              "supported'; only the tensorwise path builds Float8LinearConfig(enable_fsdp_float8_all_gather=...)",
              lambda st, m, t: (t.precision == "fp8" and bool(st.fsdp_float8_all_gather)
                                and st.fp8_recipe != "tensorwise")),
    StackRule("titan-activation-offload", "torchtitan", "training.framework.activation_offload",
              "activation offload (it has none)",
              "torchtitan 0.3 config: no activation offload option (Megatron-Core's --cpu-offloading has no counterpart)",
              lambda st, m, t: bool(st.activation_offload)),
    StackRule("titan-qlora", "torchtitan", "training.mode", "QLoRA (no NF4-quantised base)",
              "torchtitan's LoRA converter (pytorch/torchtitan PR #3264, merged 2026-05: LoRAConfig over any Linear, "
              "composes with Float8 / MXFP8) has no NF4-quantised base; QLoRA is still proposed in issue #2515",
              lambda st, m, t: getattr(t, "mode", None) == "qlora"),
    StackRule("titan-bnb-base", "torchtitan", "training.base_weights", "a bitsandbytes (nf4 / int8) base",
              "as titan-qlora (planner.spec.training_stack.bitsandbytes_base)",
              lambda st, m, t: getattr(t, "mode", None) == "lora" and _bnb(t)),
    StackRule("titan-pp-stages", "torchtitan", "parallel.pp",
              "a pipeline of other than PP x VPP stages (layers per stage ceil((layers + less layers) / stages) must give "
              "that many), or first/last less layers above the smallest stage's share",
              "torchtitan torchtitan/distributed/pipeline_parallel.py pipeline_llm: num_virtual_stages = "
              "ceil((layers + first/last 'less layers') / pipeline_parallel_layers_per_stage); "
              "generate_llm_fqn_per_model_part: no 'less layers' above the smallest stage's share",
              lambda st, m, t: True, ok_stack=_titan_stages_ok),
    StackRule("titan-pp-pass", "torchtitan", "training.framework.pp_pass_microbatches",
              "pipeline runs that do not divide the step's micro-batches (local_batch_size = micro-batch x the run)",
              "torchtitan 0.3 trainer.py: 'global batch size must be multiple of local batch size times data-parallel "
              "degree' (gradient_accumulation_steps = global / (local x dp))",
              lambda st, m, t: st.pp_pass_microbatches is not None, ok_stack=_pp_pass_ok),
    # ---- torchtitan's DualPipeV (torch.distributed.pipelining ScheduleDualPipeV)
    StackRule("titan-dualpipev-pp", "torchtitan", "parallel.pp", "DualPipeV without a pipeline (pp 1)",
              f"{_DPV}: a schedule of pipeline stages, two a rank (torchtitan builds none at pp 1)",
              lambda st, m, t: True, lambda c, m, t: ~_dualpipev(c) | (c.pp > 1)),
    StackRule("titan-dualpipev-m", "torchtitan", "training.global_batch",
              "DualPipeV with fewer micro-batches than its 2 PP stages",
              f"{_DPV}.__init__: 'DualPipeV requires at least as many microbatches as stages'",
              lambda st, m, t: True,
              detail=lambda c, m, t: (f": {int(_micro_per_replica(c, t)[0])} micro-batches per replica "
                                      f"< 2 x PP{int(c.pp[0])}"),
              ok_stack=_dualpipev_m_ok,
              detail_stack=lambda c, m, t, st: f": {_run_words(c, t, st)} < 2 x PP{int(np.ravel(c.pp)[0])}"),
    StackRule("titan-dualpipev-compile", "torchtitan", "training.framework.compile",
              "DualPipeV over torch.compile'd blocks (set compile: false)",
              f"{_DPV}.__init__ -> _check_torch_compile_compatibility: 'The DualPipeV schedule is not supported with "
              "stage modules that have used torch.compile' ('we dont support input/weight backward split with "
              "torch.compile'); torchtitan's apply_compile wraps every block",
              lambda st, m, t: bool(st.compile), lambda c, m, t: ~_dualpipev(c) | (c.pp == 1)),
    StackRule("titan-dualpipev-ac", "torchtitan", "training.recompute",
              "DualPipeV's EP overlap with activation checkpointing (recompute: none, or EP 1)",
              "torchtitan torchtitan/distributed/dual_pipe_v.py get_dual_pipe_v_flag: 'Expert Parallel with DualPipeV "
              "and Activation Checkpointing cannot be used together' (NotImplementedError, with "
              "pipeline_parallel_expert_parallel_overlap on, its default)",
              lambda st, m, t: bool(st.dualpipev_ep_overlap),
              lambda c, m, t: ~_dualpipev(c) | (c.pp == 1) | (c.ep == 1) | (c.rc == 0)),
    _token_drop_rule("titan-token-drop", "torchtitan", "its token-choice MoE computes every routed token",
                     "torchtitan 0.3 torchtitan/models/moe/moe.py MoEArgs (no capacity field; TokenChoiceTopKRouter's "
                     "num_tokens_per_expert histogram sizes the grouped GEMM)"),
    _kv_heads_rule("titan-kv-heads", "torchtitan", "its attention shards wk/wv column-wise and views each rank's "
                   "share as whole heads: no KV head is shared between ranks",
                   "torchtitan models/llama3/model/model.py Attention.forward: xk.view(bs, seqlen, -1, head_dim) on the "
                   "ColwiseParallel wk output; its model configs' update_from_config: 'tensor_parallel_degree (...) "
                   "must divide n_kv_heads (...)'"),
    # ---- stacks that run the Hugging Face model code (HF Trainer / accelerate, DeepSpeed ZeRO on HF models)
    _kv_heads_rule("hf-kv-heads", "hf", "k_proj/v_proj are column-sharded and viewed as whole heads",
                   "transformers tp_plan 'colwise' on k_proj/v_proj (e.g. models/llama/configuration_llama.py "
                   "base_model_tp_plan) with modeling_llama.py LlamaAttention: k_proj(...).view(*input_shape, -1, "
                   "head_dim)"),
    # the HF Trainer's CP is accelerate's torch backend (PyTorch context_parallel); the deepspeed stack's is Ulysses
    _cp_chunks_rule("hf-cp-chunks", "hf", "accelerate's torch context parallelism is PyTorch context_parallel, "
                    "torch/distributed/tensor/experimental/_attention.py _RoundRobinLoadBalancer.shard (load balancing on by default, _cp_options.enable_load_balance): 'assert buffer.size()[seq_dim] % (cp_world_size * 2) == 0'"),
    # the masked positions a BERT head runs on (Stack.head_on_masked_positions False: transformers' BERT heads run on
    # every position, so the step time's head on head_tokens_per_seq and the memory walk's on every position disagreed)
    _head_positions_rule("hf-head-positions", "hf", "transformers' BERT heads run on every position", _HF_BERT_HEAD),
    StackRule("hf-hsdp", "hf", "parallel.dp_shard",
              "ZeRO-1/2 over part of the data-parallel group (HSDP: dp_shard < dp; DeepSpeed shards stage 1/2 over "
              "the whole DP group, its MiCS and ZeRO++ hpZ partitions are stage-3 options; the HF Trainer's FSDP has "
              "HYBRID_SHARD and _HYBRID_SHARD_ZERO2, no ZeRO-1)",
              "DeepSpeed docs config-json 'mics_shard_size' and ZeRO++ tutorial 'zero_hpz_partition_size' (stage 3); "
              "torch.distributed.fsdp ShardingStrategy.HYBRID_SHARD / _HYBRID_SHARD_ZERO2",
              lambda st, m, t: True, ok_stack=_hf_hsdp_ok),
    # tensor parallelism over a bitsandbytes base: transformers shards a weight by slicing it at load (tp_plan
    # colwise/rowwise) and lets a quantizer shard its own tensors only through HfQuantizer.update_tp_plan, which its
    # bitsandbytes quantizers do not define; QLoRA planned TP 4-8 on the HF Trainer until QA 43
    StackRule("hf-bnb-tp", "hf", "parallel.tp",
              "tensor parallelism over a bitsandbytes (nf4 / int8) base (QLoRA shards with FSDP1 and a float "
              "bnb_4bit_quant_storage, or DeepSpeed ZeRO-3: use tp 1)",
              "transformers src/transformers/quantizers/quantizer_bnb_4bit.py Bnb4BitHfQuantizer: no update_tp_plan "
              "(quantizers/base.py HfQuantizer.update_tp_plan 'updates the tp plan for the scales', defined by the "
              "fp8 / mxfp4 / compressed-tensors quantizers only), create_quantized_param builds a whole Params4bit; "
              "peft docs accelerate/fsdp.md and deepspeed.md run QLoRA under FSDP and ZeRO-3",
              lambda st, m, t: _bnb(t), lambda c, m, t: c.tp == 1),
    # an int8 base sharded with the parameters: bitsandbytes keeps LLM.int8's quantised weight and scales on the
    # Int8Params object (CB, SCB) and the layer's state, which a sharding wrapper does not carry: planned until
    # loraamp49 (measured by lora48: tests/data/peft_truth.json ``stream`` int8_base_fsdp2). DeepSpeed's ZeRO-2
    # leaves the parameters whole (only the trainable adapters' gradients and state are partitioned)
    StackRule("hf-int8-sharded", "hf", "parallel.zero",
              "an int8 (bitsandbytes Linear8bitLt) base with sharded parameters (FSDP under the HF Trainer at "
              "ZeRO-2/3, DeepSpeed ZeRO-3: use ZeRO-0/1, DeepSpeed ZeRO-2, or an nf4 base)",
              "measured: peft 0.21.2 + bitsandbytes 0.50.2 under torch FSDP2 fully_shard, AttributeError: 'Parameter' "
              "object has no attribute 'CB' (tests/make_peft_truth.py stream); huggingface/peft issue 2833 'QLORA "
              "FSDP doesn't work with 8bit', huggingface/accelerate issue 1415 (FSDP with load_in_8bit: 'Integer "
              "parameters are unsupported')",
              lambda st, m, t: _int8_base(t),
              ok_stack=lambda c, m, t, st: c.zero < (3 if getattr(st, "name", "") == "deepspeed" else 2)),
    # expert parallelism: transformers 5.23's DistributedConfig lays the EP mesh over the FSDP x TP ranks; the HF
    # Trainer planned EP 2-16 at any TP until QA 43, EP = TP only (an older revision's all-reduce EP) until hfep52,
    # EP dividing DP x TP (the replicas counted, so EP > TP at ZeRO-0/1 or under HSDP) until qa105. A model sharded at
    # load (from_pretrained(distributed_config=...)) gets its data parallelism from transformers' FSDP2 alone (the
    # Trainer does not wrap it again, trainer.py), so a replicated row is fsdp_size 1: EP = TP there
    StackRule("hf-ep-tp", "hf", "parallel.ep",
              "expert parallelism that is not a multiple of TP or does not divide FSDP x TP (ZeRO-0/1 shards "
              "nothing: EP = TP)",
              "transformers 5.23.0 src/transformers/distributed/configuration_utils.py "
              "DistributedConfig._validate_mesh_config: '`ep_size` must be a multiple of `tp_size`.', '`ep_size` "
              "must divide `fsdp_size * tp_size`.'; dp_replicate_size: 'Parameters are sharded across `fsdp_size` "
              "devices and replicated `dp_replicate_size` times'; trainer.py: a model sharded at load time owns its "
              "placement and gradient reduction, 'so Accelerate must not wrap or shard it again'",
              lambda st, m, t: _moe(m) and getattr(st, "hf_plans", False),
              lambda c, m, t: (c.ep == 1) | ((c.ep % c.tp == 0) & ((_shard(c) * c.tp) % c.ep == 0)),
              lambda c, m, t: (f": EP{int(c.ep[0])} at TP{int(c.tp[0])}, ZeRO-{int(c.zero[0])} sharding over "
                               f"{int(np.asarray(_shard(c))[0])} of DP{int(c.dp[0])}")),
    _expert_tp_rule("hf-etp", "hf",
                    "experts split over other ranks than its plans split them (each expert whole on one rank with EP, "
                    "every expert over TP without: expert-TP 1 with EP, TP without)",
                    "transformers MoE configs: base_model_ep_plan 'layers.*.mlp.experts.gate_up_proj': 'grouped_gemm' "
                    "(whole experts per rank), base_model_tp_plan 'packed_colwise' / 'rowwise' on the experts (each "
                    "split over TP)", "transformers splits"),
    # DeepSpeed's AutoTP on transformers 5's MoE layers (Stack.tp_splits_experts False): the 3-D expert parameters are
    # no nn.Linear, so every TP rank holds and runs every expert; until hfep35 the deepspeed stack took the HF
    # Trainer's expert-TP = TP (experts priced split over TP, with an all-reduce of their partial outputs)
    StackRule("ds-autotp-etp", "hf", "parallel.etp",
              "experts split over tensor parallelism (its AutoTP splits nn.Linear layers only, and transformers 5 "
              "keeps a layer's experts as 3-D parameters, whole on every TP rank: expert-TP 1)",
              "DeepSpeed deepspeed/module_inject/auto_tp.py AutoTP.tp_parser / get_layers (isinstance(submodule, "
              "nn.Linear)); autotp_config.py AutoTPPresets.mixtral / deepseek_v2 (per-expert w1 / gate_proj linears); "
              "tp_plan_converter.py SUPPORTED_STYLES (colwise, colwise_rep, colwise_gather_output, rowwise)",
              lambda st, m, t: _moe(m) and not getattr(st, "tp_splits_experts", True), lambda c, m, t: c.etp == 1,
              lambda c, m, t: f": expert-TP {int(c.etp[0])} at TP{int(c.tp[0])}"),
    # transformers' TP on a family whose config has no base_model_tp_plan (moe HF_NO_TP_PLAN: gpt-oss): it would split
    # none of the layers; until dsep35 priced as if it split attention, the MLP and the experts
    StackRule("hf-no-tp-plan", "hf", "parallel.tp",
              "tensor parallelism without expert parallelism on a model type whose configuration has no "
              "base_model_tp_plan (it would split the LM head alone, every layer whole on every rank: use tp 1, or "
              "ep > 1 for its base_model_ep_plan)",
              "transformers 5.23.0 src/transformers/models/gpt_oss/configuration_gpt_oss.py: base_model_ep_plan "
              "only; modeling_gpt_oss.py GptOssForCausalLM._tp_plan: lm_head colwise_gather_output",
              _hf_plans_lack(HF_NO_TP_PLAN),
              lambda c, m, t: (c.tp == 1) | (c.ep > 1),
              lambda c, m, t: f": TP{int(c.tp[0])} EP{int(c.ep[0])} on {getattr(m, 'hf_model_type', None)}"),
    # transformers' EP on a family whose configuration has no base_model_ep_plan at the pinned version (moe
    # HF_NO_EP_PLAN: Llama 4); until hfmoe52 priced with a Llama 4 plan read from another revision
    StackRule("hf-no-ep-plan", "hf", "parallel.ep",
              "expert parallelism on a model type whose configuration has no base_model_ep_plan (transformers "
              "refuses ep_size > 1 for it; its experts shard with the tensor-parallel plan: use ep 1)",
              "transformers 5.23.0 src/transformers/models/llama4/configuration_llama4.py: 'No `base_model_ep_plan`: "
              "... They shard with the tensor-parallel plan above'; distributed/mixin.py _resolve_parallel_plans: "
              "'`ep_size=...` was requested, but ... has no `ep_plan`'",
              _hf_plans_lack(HF_NO_EP_PLAN),
              lambda c, m, t: c.ep == 1,
              lambda c, m, t: f": EP{int(c.ep[0])} on {getattr(m, 'hf_model_type', None)}"),
    # transformers' experts_implementation on an experts class that takes none (activations_hf HF_OWN_EXPERTS:
    # Llama 4's own bmm): from_pretrained raises for grouped_mm
    StackRule("hf-experts-own", "hf", "training.framework.experts_implementation",
              "experts_implementation grouped_mm on a model whose experts class runs its own kernel (Llama 4's "
              "torch.bmm over every expert: leave experts_implementation unset, or eager)",
              "transformers 5.23.0 modeling_utils.py get_correct_experts_implementation / _grouped_mm_can_dispatch: "
              "'does not support setting experts implementation' (models/llama4/modeling_llama4.py "
              "Llama4TextExperts has no @use_experts_implementation); recorded, tests/data/hf_activations.json "
              "experts.refused",
              lambda st, m, t: _moe(m) and getattr(st, "experts_implementation", None) == "grouped_mm" and (
                  hf_experts_kernel(m) == "eager")),
    # DeepSpeed-Ulysses splits the heads over the CP ranks (Stack.cp_exchange "a2a"); until QA 49 the deepspeed
    # stack planned Qwen2.5-7B (28 heads, 4 KV heads) at CP8, which UlyssesSPAttentionHF refuses at start-up
    StackRule("ds-ulysses-heads", "hf", "parallel.cp",
              "context parallelism whose degree does not divide the attention heads, or neither divides nor is "
              "divided by the KV heads (Ulysses splits the heads over the CP ranks)",
              "DeepSpeed deepspeed/runtime/sequence_parallel/ulysses_sp.py UlyssesSPAttentionHF.__init__: 'Attention "
              "head count {attn_head_count} is not divisible by SP size {self.world_size}'; 'KV attention head count "
              "... is not divisible by SP size ... or vice versa'",
              lambda st, m, t: getattr(st, "cp_exchange", None) == "a2a" and bool(m.is_transformer and m.heads),
              lambda c, m, t: (m.heads % c.cp == 0) & (((m.kv_heads or m.heads) % c.cp == 0)
                                                       | (c.cp % (m.kv_heads or m.heads) == 0)),
              lambda c, m, t: f": CP{int(c.cp[0])} with {m.heads} heads, {m.kv_heads or m.heads} KV heads",
              sentence="{name}'s Ulysses (ALST) context parallelism refuses a CP degree that does not divide the "
                       "attention heads, or neither divides nor is divided by the KV heads{extra} ({source})"),
    # DeepSpeed's EP is AutoEP (Stack.moe_ep_tp_fold): what its config validation refuses
    # (deepspeed/module_inject/auto_ep_folding.py validate_folding_global, called by auto_ep_config.py
    # validate_autoep_config) and the model types it has no preset for; until dsep35 the deepspeed stack took
    # transformers' EP rules (EP = TP)
    StackRule("ds-autoep-zero3", "hf", "parallel.zero",
              "ZeRO-3 with expert parallelism folded over tensor parallelism (AutoEP + AutoTP: ZeRO stage 0-2)",
              "DeepSpeed deepspeed/module_inject/auto_ep_folding.py validate_folding_global: 'AutoEP+AutoTP with ZeRO "
              "stage 3 is reserved for the separate ZeRO-3 composition lane. Use ZeRO stage 0, 1, or 2'",
              lambda st, m, t: _autoep(st, m),
              lambda c, m, t: _autoep_unfolded(c) | (c.zero < 3),
              lambda c, m, t: f": ZeRO-{int(c.zero[0])} at TP{int(c.tp[0])} EP{int(c.ep[0])}",
              # (the remedy outside the parentheses, the source the last aside: hardware_catalog.errors fit_message
              # lets the asides give way, the rest stays)
              sentence="{name}'s AutoEP refuses ZeRO-3 with expert parallelism folded over tensor parallelism{extra}; "
                       "use ZeRO stage 0-2 where TP > 1 and EP > 1 ({source})"),
    StackRule("ds-autoep-offload", "hf", "training.framework.optimizer_offload",
              "optimizer offload with expert parallelism folded over tensor parallelism (AutoEP + AutoTP)",
              "DeepSpeed deepspeed/module_inject/auto_ep_folding.py validate_folding_global: 'ZeRO optimizer/parameter "
              "offload with AutoEP+AutoTP folding is not validated yet. Disable offload'",
              lambda st, m, t: _autoep(st, m) and bool(st.optimizer_offload),
              lambda c, m, t: _autoep_unfolded(c),
              lambda c, m, t: f": TP{int(c.tp[0])} EP{int(c.ep[0])}",
              sentence="{name}'s AutoEP refuses optimizer offload with expert parallelism folded over tensor "
                       "parallelism (TP > 1 and EP > 1){extra} ({source})"),
    StackRule("ds-autoep-preset", "hf", "parallel.ep",
              "expert parallelism on a model type its AutoEP has no preset for (it detects no MoE layer and "
              "replaces none: use ep 1)",
              "DeepSpeed deepspeed/module_inject/auto_ep_presets/registry.py PRESET_MODELS (mixtral, qwen3_moe / "
              "qwen2_moe, qwen3_5_moe_text, deepseek_v2, deepseek_v3, llama4); auto_ep.py AutoEP.ep_parser: "
              "'AutoEP: no MoE layers detected in model.'",
              lambda st, m, t: _autoep(st, m) and getattr(m, "hf_model_type", None) not in AUTOEP_MODEL_TYPES,
              lambda c, m, t: c.ep == 1,
              lambda c, m, t: f": EP{int(c.ep[0])} on {getattr(m, 'hf_model_type', None) or 'this model'}",
              sentence="{name}'s AutoEP has no preset for this model type: it detects no MoE layer and replaces none, "
                       "so expert parallelism does not run{extra}; use ep 1 ({source})"),
    # TP on the HF model code shards the linears only (Stack.tp_sequence_parallel False): the norms and residual stream
    # stay whole on every rank and each row-parallel output is all-reduced. Until hfsp34 those stacks were priced
    # with Megatron's sequence parallelism at TP > 1 (reduce-scatter / all-gather, norms and dropout over TP)
    StackRule("hf-tp-sp", "hf", "parallel.sequence_parallel",
              "sequence parallelism (its tensor parallelism shards the linear layers only: the norms, dropout and "
              "residual stream stay whole on every TP rank and each row-parallel output is all-reduced; set "
              "sequence_parallel: false or leave it open)",
              "transformers integrations/tensor_parallel.py ParallelInterface 'rowwise': RowwiseParallel("
              "output_layouts=Replicate()), 'colwise': ColwiseParallel(input_layouts=Replicate()); the models' "
              "base_model_tp_plan / base_model_ep_plan (models/llama/configuration_llama.py, models/qwen3_moe/"
              "configuration_qwen3_moe.py) name no 'sequence_parallel' module; DeepSpeed deepspeed/module_inject/"
              "auto_tp.py AutoTP._replace: LinearAllreduce / LinearLayer for nn.Linear only",
              lambda st, m, t: not getattr(st, "tp_sequence_parallel", True),
              lambda c, m, t: ~np.asarray(c.sp, dtype=bool) | (c.tp == 1)),
    # the HF Trainer's own data parallelism (Stack.has_zero1 False): searched at ZeRO-1 until hfstack34, a plan its
    # launch (accelerate DDP, NO_SHARD) runs with the whole optimizer state on every rank
    # transformers' attention implementation (Stack.attn_implementation): gpt-oss trains only eagerly on the HF code
    StackRule("hf-attn-sinks", "hf", "training.framework.attn_implementation",
              "an attn_implementation other than eager on a model with attention sinks (gpt-oss): sdpa is refused at "
              "load, flash_attention_2/3 drop the sinks (another model), the flex path's sink rescale is not priced",
              "transformers models/gpt_oss/modeling_gpt_oss.py GptOssPreTrainedModel _supports_sdpa = False; "
              "modeling_flash_attention_utils.py _process_flash_attention_kwargs passes s_aux only to a kernel "
              "whose signature takes it (the vllm-flash-attn3 hub kernel, an inference fork)",
              lambda st, m, t: bool(m.attention_sinks) and getattr(st, "attn_implementation", None) not in (None,
                                                                                                          "eager")),
    StackRule("hf-liger-family", "hf", "training.framework.fused_cross_entropy",
              "Liger's fused linear cross-entropy (use_liger_kernel) on a GPT-2 / BERT model: Liger patches no such model",
              "liger_kernel/transformers/monkey_patch.py MODEL_TYPE_TO_APPLY_LIGER_FN (llama, mistral, mixtral, gemma, "
              "qwen2, qwen3, phi3, ...; no gpt2, no bert): _apply_liger_kernel_to_instance logs and applies nothing",
              lambda st, m, t: bool(getattr(st, "fused_cross_entropy", False)) and not liger_patches(m)),
    StackRule("hf-trainer-zero1", "hf", "parallel.zero",
              "ZeRO-1 (a sharded optimizer over replicated parameters): the HF Trainer's data parallelism is DDP "
              "(ZeRO-0) or FSDP (shard_grad_op ZeRO-2, full_shard ZeRO-3, hybrid_shard HSDP); its ZeRO-1 is "
              "DeepSpeed's: use the deepspeed stack",
              "transformers training_args.py FSDPOption (full_shard, shard_grad_op, hybrid_shard, hybrid_shard_zero2, "
              "no_shard, offload, auto_wrap); accelerate utils/dataclasses.py FullyShardedDataParallelPlugin "
              "sharding_strategy / reshard_after_forward; ZeRO stage 1 only through TrainingArguments.deepspeed "
              "(integrations/deepspeed.py HfTrainerDeepSpeedConfig)",
              lambda st, m, t: not getattr(st, "has_zero1", True), _zero_without(1)),
    # context parallelism under the HF Trainer is accelerate's torch backend, built on FSDP2: QLoRA Llama-3.1-8B at
    # 32K tokens was ranked at CP8 with plain DDP (ZeRO-0) until QA 43. (DeepSpeed's is ALST / Ulysses under ZeRO.)
    StackRule("hf-trainer-cp-fsdp", "hf", "parallel.cp",
              "context parallelism without FSDP (accelerate's torch context parallelism runs under FSDP2 only: "
              "ZeRO-2/3, where a bitsandbytes base stays whole on every rank, Stack.bnb_whole_at_zero3; its DeepSpeed "
              "ALST / Ulysses backend is the deepspeed stack's)",
              "accelerate docs/source/concept_guides/context_parallelism.md, Torch/FSDP2 backend: 'context "
              "parallelism only works if you use FullyShardedDataParallelPlugin or --use-fsdp with version set to 2 "
              "... If no FSDP2 is used, error will be raised'",
              lambda st, m, t: getattr(st, "name", "") == "hf-trainer", lambda c, m, t: (c.cp == 1) | (c.zero >= 2)),
    # ... and accelerate refuses it under FSDP1 outright (QA 103: fsdp_version 1 with CP 4 at ZeRO-3 was planned)
    StackRule("hf-trainer-cp-fsdp1", "hf", "training.framework.fsdp_version",
              "fsdp_version 1 with context parallelism (accelerate's torch context parallelism requires FSDP2: set 2, "
              "leave it out, or use cp 1)",
              "accelerate 1.15.0 state.py AcceleratorState.__init__: 'Using `cp_size>1` requires FSDP2, but the "
              "provided `fsdp_plugin` is using FSDP1.' (ValueError where parallelism_config.cp_enabled and "
              "fsdp_plugin.fsdp_version == 1)",
              lambda st, m, t: getattr(st, "name", "") == "hf-trainer" and getattr(st, "fsdp_version", None) == 1,
              lambda c, m, t: (c.cp == 1) | (c.zero < 2),
              lambda c, m, t: f" at CP{int(c.cp[0])}",
              sentence="1 cannot run context parallelism on {name}{extra}: accelerate's torch context parallelism "
                       "requires FSDP2 ({source}); set 2, leave it out, or use cp 1"),
    _token_drop_rule("hf-token-drop", "hf", "its sparse MoE blocks compute every routed token",
                     "transformers models/qwen3_moe/modeling_qwen3_moe.py Qwen3MoeSparseMoeBlock (likewise Mixtral, "
                     "DeepSeek-V3): 'for expert_idx in expert_hit' runs each expert on all its routed tokens; no "
                     "capacity in their configs"),
    # ---- plain PyTorch data parallelism (pytorch-ddp, dle-convnets): every rank keeps the whole model
    StackRule("ddp-zero", "ddp", "parallel.zero",
              "ZeRO-2/3 (DDP keeps whole parameters and gradients on every rank; ZeroRedundancyOptimizer shards "
              "the optimizer state only: ZeRO-1; ZeRO-2/3 is FSDP: name a stack that runs it)",
              "torch/nn/parallel/distributed.py DistributedDataParallel (bucketed all-reduce of whole gradients); "
              "torch/distributed/optim/zero_redundancy_optimizer.py ZeroRedundancyOptimizer (optimizer state only)",
              lambda st, m, t: True, lambda c, m, t: c.zero <= 1),
    # a whole replica per rank (QA 97: pytorch-ddp took TP 2 on a transformer, planned as Megatron's split)
    StackRule("ddp-tp", "ddp", "parallel.tp", "tensor parallelism (DDP replicates the whole model on every rank)",
              "torch 2.13 torch/nn/parallel/distributed.py DistributedDataParallel: 'data parallelism by synchronizing "
              "gradients across each model replica'; no layer is split across ranks",
              lambda st, m, t: True, lambda c, m, t: c.tp == 1),
    StackRule("ddp-cp", "ddp", "parallel.cp", "context parallelism (DDP replicates the whole model on every rank)",
              "torch 2.13 torch/nn/parallel/distributed.py DistributedDataParallel: each model replica runs the whole "
              "module on its own inputs; no sequence split of attention", lambda st, m, t: True,
              lambda c, m, t: c.cp == 1),
    # NVIDIA's ConvNets code builds image classifiers only: any model with transformer layers (decoder, MoE, encoder) is
    # refused; pytorch-ddp, the generic torch DDP on the same runtime, wraps whatever nn.Module the job's code is (BERT
    # with a masked-row head included: DLE's BERT is itself torch DDP). Until QA 104 bert-large and until QA 106
    # llama3-8b (15.7 s a step, exit 0) were estimated on dle-convnets as runs its main.py cannot build. A generic model
    # (params + FLOPs, e.g. the resnet50 preset) is the job's own description, taken as one of its classifiers
    _model_rule("ddp-convnets-model", "ddp", "a model with transformer layers (decoder, MoE or encoder): NVIDIA's "
                "ConvNets code builds image classifiers only (ResNet-50, ResNeXt, SE-ResNeXt, EfficientNet); use "
                "pytorch-ddp for the job's own code, or a stack with the model's code (megatron-core, torchtitan, "
                "hf-trainer)", lambda m: bool(getattr(m, "is_transformer", False)),
                "NVIDIA DeepLearningExamples PyTorch/Classification/ConvNets image_classification/models (resnet.py, "
                "efficientnet.py) and main.py --arch: image classifiers only", stack="dle-convnets"),
    # ---- MaxText (JAX): data parallelism is the mesh's data axis (ZeRO-0), fsdp axis (ZeRO-3) or
    # shard_optimizer_over_data (ZeRO-1); nothing shards gradients without the parameters
    StackRule("maxtext-zero2", "maxtext", "parallel.zero",
              "ZeRO-2 (its data parallelism is the mesh's data axis, ZeRO-0, with shard_optimizer_over_data ZeRO-1, "
              "or its fsdp axis, which shards parameters, gradients and optimizer state alike: ZeRO-3)",
              "MaxText configs/types.py ici_data_parallelism, ici_fsdp_parallelism, shard_optimizer_over_data",
              lambda st, m, t: True, _zero_without(2)),
    # MaxText's vocabulary tiling cuts the micro-batch's tokens into num_vocab_tiling equal tiles (vocabulary_tiling.py
    # ``vocab_tile_size = (batch_size * seq_len) // config.num_vocab_tiling`` then a reshape to (n, tile, emb)); its
    # config validation refuses what does not cut evenly. It checks ``per_device_batch_size`` (global batch / chips,
    # so a plan's micro-batch / (tp x cp): the tensor and context axes hold the same sequences), which may be
    # fractional: mb x seq / (tp x cp) must be a whole multiple of the tiles (QA 54: at TP 2 the micro-batch's 8,192
    # tokens are 4,096 a chip, and 8,192 tiles were accepted)
    StackRule("maxtext-vocab-tiles", "maxtext", "training.framework.num_vocab_tiling",
              "vocabulary tiles that do not divide a chip's tokens (per_device_batch_size x max_target_length)",
              "MaxText configs/types.py: 'Per device batch size times sequence length should be divisible by the "
              "number of vocab tiles.' (pyconfig.py validate_vocab_tiling)",
              # (a classifier head has none: Stack.vocab_tiles)
              lambda st, m, t: getattr(st, "num_vocab_tiling", 1) > 1 and st.vocab_tiles(m) > 1,
              ok_stack=lambda c, m, t, st: _tiles_split(c, t, st.num_vocab_tiling),
              detail_stack=lambda c, m, t, st: f": {int(np.asarray(c.mb).flat[0])} x {t.seq_len} tokens over "
                                               f"tp x cp = {int(np.asarray(c.tp).flat[0] * np.asarray(c.cp).flat[0])}"
                                               f" chips in {st.num_vocab_tiling} tiles"),
    # every MaxText model is a causal decoder: its layers are DecoderBlockType's (llama2, mistral, mixtral, deepseek,
    # gemma 1-4, qwen2/3, gpt3, gpt_oss, llama4, olmo3, simple) under layers/decoders.py ``Decoder``, trained on the
    # next-token loss; there is no encoder-only model and no MLM head. Until QA 103 bert-large on maxtext was
    # estimated (TPU v5p, 43% MFU) as a run MaxText cannot build
    _decoder_only_rule("maxtext-encoder", "maxtext",
                       "every MaxText model is a causal decoder trained on the next token",
                       "MaxText src/maxtext/common/common_types.py DecoderBlockType ('Decoder block types.': default, "
                       "llama2, mistral, mixtral, deepseek, gemma ... gemma4, qwen2, qwen3 ..., gpt3, gpt_oss, simple, "
                       "llama4, olmo3), the layers layers/decoders.py Decoder stacks; configs/types.py ModelName lists "
                       "no encoder"),
    # ---- NeuronX Distributed: TP, PP, DP and the ZeRO-1 optimizer
    # its BERT example trains transformers' BertForPreTraining (Stack.head_on_masked_positions False): until QA 106
    # head_tokens_per_seq was taken and the head priced on the masked rows only
    _head_positions_rule("nxd-head-positions", "nxd",
                         "its BERT is transformers' BertForPreTraining, whose heads run on every position",
                         "aws-neuron/neuronx-distributed examples/training/tp_dp_bert_hf_pretrain/"
                         "tp_dp_bert_large_hf_pretrain_hdf5.py get_model: BertForPreTraining(my_config) with "
                         "ColumnParallelLinear / RowParallelLinear attention, masked_lm_labels a full-length -100 "
                         "tensor; " + _HF_BERT_HEAD),
    StackRule("nxd-zero", "nxd", "parallel.zero", "ZeRO-2/3 (its data parallelism shards the optimizer state only: "
              "ZeRO-1, NeuronZero1Optimizer)",
              "AWS Neuron docs, NxD Core Distributed Strategies APIs: '3D parallelism: Tensor-Parallelism, "
              "Pipeline-Parallelism and Data-Parallelism. We also support Zero1 optimizer'",
              lambda st, m, t: True, _zero_without(2, 3)),
    # ---- Megatron-DeepSpeed: DeepSpeed's PipelineModule partition of GPTModelPipe (pipeline.deepspeed_stage_layers)
    StackRule("ds-vpp", "megatron-deepspeed", "parallel.vpp",
              "a virtual (interleaved) pipeline: DeepSpeed's pipeline engine runs one contiguous stage per rank",
              "DeepSpeed deepspeed/runtime/pipe/module.py PipelineModule._partition_layers (num_stages + 1 part "
              "boundaries: one contiguous run of layers per stage) and deepspeed/runtime/pipe/schedule.py "
              "TrainSchedule (1F1B over those stages; no interleaved schedule)",
              lambda st, m, t: True, lambda c, m, t: c.vpp == 1),
    # ZeRO-2/3 shard the gradients, which the pipeline engine accumulates whole over its micro-batches and reduces
    # itself; with one stage Megatron-DeepSpeed builds its plain GPTModel instead (--no-pipeline-parallel), where
    # ZeRO-2/3 run. Until pp35 a PP 2 ZeRO-3 Llama-3-8B plan on this stack was priced (9.42 s a step)
    StackRule("ds-zero-pp", "megatron-deepspeed", "parallel.zero",
              "ZeRO-2/3 with pipeline parallelism (its pipeline engine runs ZeRO-0/1 only)",
              "DeepSpeed deepspeed/runtime/pipe/engine.py PipelineEngine.__init__: assert "
              "zero_optimization_stage() < 2, 'ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism'",
              lambda st, m, t: True, lambda c, m, t: (c.zero < 2) | (c.pp == 1)),
    StackRule("ds-empty-stage", "megatron-deepspeed", "training.framework.pp_partition_method",
              "a pipeline stage without a transformer layer",
              "bigscience Megatron-DeepSpeed gpt_model.py GPTModelPipe: PP 'fails unless each stage has at least one "
              "transformer layer'",
              lambda st, m, t: True, ok_stack=_every_stage_has_a_layer, detail_stack=_empty_stage_detail),
    # ---- DeepSpeed (the deepspeed stack on the HF model code, Megatron-DeepSpeed's pipeline engine): ``weights: pure``
    # (16-bit weights, no fp32 master) is its ``bf16.bf16_master_weights_and_grads`` / ``fp16.
    # fp16_master_weights_and_grads`` (the master and the gradients in the model's dtype; ``bf16_optimizer_states``,
    # the moments too, is not the planner's pure, which keeps fp32 moments on these stacks), which its config refuses
    # below ZeRO-1: ZeRO-0 runs BF16_Optimizer / FP16_Optimizer, each holding fp32 masters (stacks.ZERO_STATES). Until
    # left47 a pure ZeRO-0 plan was priced without the master it cannot drop
    *(StackRule(f"{name}-pure-zero0", run, "training.weights",
                "16-bit weights without an fp32 master (weights pure) at ZeRO-0 (its bf16_master_weights_and_grads "
                "/ fp16_master_weights_and_grads run with ZeRO stage 1-3; its ZeRO-0 optimizers keep fp32 masters: "
                "use ZeRO >= 1, or weights megatron)",
                "DeepSpeed deepspeed/runtime/config.py DeepSpeedConfig._do_error_check: 'Bf16_master_weights_and_grads "
                "is only supported with ZeRO Stage 1, 2, or 3.' (and the Fp16_ one); bf16_optimizer.py BF16_Optimizer "
                "(fp32_groups_flat_partition), fp16/fused_optimizer.py FP16_Optimizer (fp32_groups_flat)",
                lambda st, m, t: bool(getattr(st, "zero_states", None)) and t.weights == "pure"
                and t.precision in ("bf16", "fp16"),
                lambda c, m, t: c.zero >= 1, lambda c, m, t: f": ZeRO-{int(c.zero[0])}")
      for name, run in (("ds", "hf"), ("megatron-ds", "megatron-deepspeed"))),
    # ---- the 2021-22 Megatron layers (megatron-lm, and Megatron-DeepSpeed's copy of them): the same reason as
    # megatron-qlora; both stacks planned QLoRA where the Megatron-Core stacks refuse it (QA pass 30)
    *(StackRule(f"{run}-{kind}", run, field, what,
                "the legacy Megatron layers (megatron/model/transformer.py ParallelTransformerLayer over "
                "ColumnParallelLinear / RowParallelLinear) hold their own 16-bit weights; bitsandbytes Linear4bit is "
                "a Hugging Face model-code layer (peft prepare_model_for_kbit_training), as megatron-qlora", applies)
      for run in ("megatron-lm", "megatron-deepspeed")
      for kind, field, what, applies in (
          ("qlora", "training.mode", "QLoRA (a bitsandbytes NF4 base)",
           lambda st, m, t: getattr(t, "mode", None) == "qlora"),
          ("bnb-base", "training.base_weights", "a bitsandbytes base (nf4 / int8 under LoRA is QLoRA's code)",
           lambda st, m, t: getattr(t, "mode", None) == "lora" and _bnb(t)))),
    # ---- the 2021-22 Megatron BERT (megatron-lm, and Megatron-DeepSpeed's copy of megatron/model/bert_model.py): the
    # LM head on every position (Stack.head_on_masked_positions False); until bert52 both took the field and priced
    # the head and its logits on the masked rows, which neither code gathers
    *(_head_positions_rule(f"{run}-head-positions", run, "the legacy Megatron BERT runs its LM head on every position",
                           "Megatron-LM (2021-22; microsoft/Megatron-DeepSpeed's copy the same) megatron/model/"
                           "bert_model.py post_language_model_processing: 'lm_logits = lm_head(lm_output, "
                           "logit_weights)' then 'mpu.vocab_parallel_cross_entropy(lm_logits.float(), lm_labels)' on "
                           "the whole output (BertLMHead.forward: dense, gelu, layernorm, parallel_lm_logits, no "
                           "gather); pretrain_bert.py loss_func: 'torch.sum(lm_loss_.view(-1) * "
                           "loss_mask.reshape(-1)) / loss_mask.sum()' masks the per-token loss after")
      for run in ("megatron-lm", "megatron-deepspeed")),
    # ---- parallelisms the 2021-22 codes never had: both planned a CP 4 long-context layout and megatron-lm an EP 8
    # Mixtral one (QA 36), where their launchers take no such degree
    # the 2022 distributed optimizer wraps Adam only (SGD runs replicated, ZeRO-0)
    StackRule("megatron-lm-distopt-adam", "megatron-lm", "parallel.zero",
              "SGD with its distributed optimizer (ZeRO-1: it wraps Adam only)", _DISTOPT_ADAM,
              lambda st, m, t: t.optimizer in ("sgd", "sgd_momentum"), lambda c, m, t: c.zero == 0),
    StackRule("megatron-lm-cp", "megatron-lm", "parallel.cp", "context parallelism",
              "Megatron-LM 2021-22 megatron/arguments.py has --tensor-model-parallel-size and "
              "--pipeline-model-parallel-size only; --context-parallel-size came with Megatron-Core's context_parallel "
              "package (docs/source/api-guide/context_parallel.rst: TE DotProductAttention's ring exchange), not the "
              "legacy megatron/model/transformer.py ParallelAttention",
              lambda st, m, t: True, lambda c, m, t: c.cp == 1),
    StackRule("megatron-lm-ep", "megatron-lm", "parallel.ep", "expert parallelism",
              "Megatron-LM 2021-22 megatron/arguments.py has no --expert-model-parallel-size: expert parallelism came "
              "with Megatron-Core's MoE (megatron/core/transformer/moe)",
              lambda st, m, t: True, lambda c, m, t: c.ep == 1),
    # megatron-lm planned Mixtral (top-2) and DeepSeek-style shared experts with EP 1 (QA 36b): its only MoE layer
    # is the legacy top-1 SwitchMLP, every expert a whole ParallelMLP on each TP group (no expert parallelism:
    # megatron-lm-ep); top-k routing, shared experts and EP came with Megatron-Core's MoE
    StackRule("megatron-lm-moe", "megatron-lm", "training.framework",
              "an MoE model with top-k > 1 or shared experts (its only MoE layer, SwitchMLP, routes each token to "
              "one expert: use megatron-core)",
              "Megatron-LM 2021-22 megatron/model/transformer.py SwitchMLP ('Routes input to one of N MLP experts': "
              "torch.max over the router softmax, each expert a ParallelMLP, --num-experts); top-k routers and "
              "shared experts came with Megatron-Core's MoE (megatron/core/transformer/moe/router.py TopKRouter)",
              lambda st, m, t: _moe(m) and (m.moe.top_k > 1 or m.moe.shared_experts > 0)),
    # SwitchMLP's experts are whole ParallelMLPs on the TP group, fed the rows one rank routed (moe.switch_mlp_layer)
    StackRule("megatron-lm-etp", "megatron-lm", "parallel.etp",
              "an expert-tensor-parallel degree other than TP (SwitchMLP's experts are ParallelMLPs split over the "
              "TP group, as the dense MLP)",
              "Megatron-LM 2021-22 megatron/model/transformer.py SwitchMLP: self.experts.append(ParallelMLP(...)), "
              "its ColumnParallelLinear / RowParallelLinear on the tensor-model-parallel group; --expert-tensor-"
              "parallel-size came with Megatron-Core's MoE",
              lambda st, m, t: _moe(m), lambda c, m, t: c.etp == c.tp),
    StackRule("megatron-lm-moe-sp", "megatron-lm", "parallel.sequence_parallel",
              "sequence parallelism with an MoE model (SwitchMLP routes each TP rank's own sequence shard, so its "
              "experts' sequence-parallel all-gathers would join row counts that differ from rank to rank; set "
              "sequence_parallel: false, or use megatron-core)",
              "Megatron-LM 2021-22 megatron/model/transformer.py SwitchMLP.forward: hidden_states[local_indices, :] "
              "with local_indices = (max_ind == expert_num).nonzero() per rank, into ColumnParallelLinear, whose "
              "sequence-parallel path all-gathers input.size(0) x world_size rows (megatron/mpu/layers.py "
              "LinearWithGradAccumulationAndAsyncCommunication, torch.distributed._all_gather_base)",
              lambda st, m, t: _moe(m), lambda c, m, t: ~np.asarray(c.sp, dtype=bool) | (c.tp == 1)),
    StackRule("megatron-lm-zero", "megatron-lm", "parallel.zero",
              "ZeRO-2/3 (its distributed optimizer shards the optimizer state and fp32 main weights only: ZeRO-1)",
              "Megatron-LM 2021-22 megatron/arguments.py --use-distributed-optimizer (megatron/optimizer/"
              "distrib_optimizer.py: grads reduce-scattered into a whole-size buffer, parameters all-gathered whole); "
              "no sharded-parameter data parallelism: Megatron-FSDP and --use-torch-fsdp2 came with Megatron-Core",
              lambda st, m, t: True, _zero_without(2, 3)),
    # weights: amp is fp32 weights under torch.autocast (Stack.autocasts): Megatron-Core runs it (ModelParallelConfig
    # enable_autocast, pipeline_parallel/schedules.py forward_step wraps the forward in torch.autocast(autocast_dtype);
    # Megatron-Bridge MixedPrecisionConfig autocast_enabled with bf16 off, so no Float16Module), the 2021-22 code has
    # no such path: until small32 megatron-lm under weights amp was priced with the casts of a run it cannot launch
    StackRule("megatron-lm-amp", "megatron-lm", "training.weights",
              "fp32 weights under torch autocast (weights amp: its 16-bit training casts the model itself, weights "
              "megatron; use megatron-core for an autocast run)",
              "Megatron-LM 2021-22 megatron/training.py get_model wraps the model in megatron/model/module.py "
              "Float16Module (module.half() / module.bfloat16()) under --fp16 / --bf16 and trains in fp32 without; "
              "megatron/schedules.py forward_step calls forward_step_func with no autocast context (Megatron-Core's "
              "pipeline_parallel/schedules.py added the config.enable_autocast one)",
              lambda st, m, t: t.weights == "amp" and t.precision in ("bf16", "fp16")),
    # ---- DLE BERT (stack dle-bert): torch DDP over BertForPreTraining, float16 or fp32 (_DLE_BERT); its optimizer,
    # FusedLAMBAMP, is planner.model.optimizers RUNTIME_OPTIMIZERS "dle-bert"
    StackRule("dle-bert-model", "dle-bert", "training.framework",
              "a model other than BERT (its script builds modeling.BertForPreTraining, an encoder with MLM + NSP "
              "heads, and nothing else)", f"{_DLE_BERT}: model = modeling.BertForPreTraining(config, ...)",
              lambda st, m, t: getattr(m, "family", None) != "encoder", any_model=True),
    StackRule("dle-bert-tp", "dle-bert", "parallel.tp", "tensor parallelism (torch DDP over the whole model)",
              f"{_DLE_BERT}: DDP(model, device_ids=[args.local_rank], ...), nn.Linear layers (modeling.py)",
              lambda st, m, t: True, lambda c, m, t: c.tp == 1),
    StackRule("dle-bert-cp", "dle-bert", "parallel.cp", "context parallelism (torch DDP over the whole model)",
              f"{_DLE_BERT}: DDP(model, ...) only, no sequence split of attention",
              lambda st, m, t: True, lambda c, m, t: c.cp == 1),
    StackRule("dle-bert-zero", "dle-bert", "parallel.zero",
              "ZeRO (torch DDP keeps whole parameters and gradients, and FusedLAMBAMP its whole state, on every rank: "
              "use zero 0)",
              f"{_DLE_BERT}: DDP(model, ...); FusedLAMBAMP(optimizer_grouped_parameters, lr=...), no "
              "ZeroRedundancyOptimizer or FSDP", lambda st, m, t: True, _zero_without(1, 2, 3)),
    StackRule("dle-bert-bf16", "dle-bert", "training.precision", "bf16 training (it trains float16 or fp32: use fp16)",
              _DLE_BERT_PRECISION, lambda st, m, t: t.precision == "bf16"),
    StackRule("dle-bert-attn", "dle-bert", "training.framework.attn_implementation",
              "an attention other than its own matmul + softmax (attn_implementation eager)",
              "DLE PyTorch/LanguageModeling/BERT modeling.py BertSelfAttention.forward: torch.matmul(query_layer, "
              "key_layer), / math.sqrt(attention_head_size), + attention_mask, softmax, dropout, torch.matmul",
              lambda st, m, t: getattr(st, "attn_implementation", None) != "eager"),
    StackRule("metaseq-cp", "metaseq", "parallel.cp", "context parallelism",
              "metaseq/dataclass/configs.py DistributedTrainingConfig: model_parallel_size (Megatron tensor parallelism) "
              "and FSDP data parallelism only, no sequence split of attention",
              lambda st, m, t: True, lambda c, m, t: c.cp == 1),
    # metaseq and llm-foundry's models are causal decoders: until QA 104 bert-large was estimated on both
    _decoder_only_rule("metaseq-encoder", "metaseq",
                       "every metaseq model is a decoder-only language model (OPT) trained on the next token",
                       "metaseq metaseq/models/transformer_lm.py @register_model('transformer_lm') "
                       "TransformerLanguageModel over transformer_decoder.py, its tasks (metaseq/tasks) language "
                       "modelling only; fairseq's RoBERTa / masked_lm not carried over"),
    _decoder_only_rule("composer-encoder", "composer", "llm-foundry trains causal LMs (MPT, HF causal LMs) and hf_t5",
                       "llm-foundry llmfoundry/models/__init__.py models.register: mpt_causal_lm, hf_causal_lm, hf_t5 "
                       "and inference-API wrappers; no BERT or MLM model"),
    # Megatron's model code builds transformer models only: until session 54 a generic model (ResNet-50, the job's own
    # params + FLOPs) was estimated on every Megatron stack (QA 108's sweep ran it on megatron-core at exit 0)
    *(_model_rule(f"{run}-generic", run, "a model without transformer layers (a generic model such as ResNet-50): "
                  "its code builds transformer models only; use pytorch-ddp or dle-convnets for a CNN, or describe "
                  "the model's transformer layers", lambda m: not getattr(m, "is_transformer", True),
                  "Megatron-LM megatron/core/models/ (gpt, bert, T5, mamba, retro, multimodal / vision: CLIP ViT), "
                  "megatron/legacy/model/vision/ (ViT, Swin, MiT backbones) and the pretrain_*.py entry points; Megatron-DeepSpeed and Megatron-LM 2021-22 megatron/model/ "
                  "(GPTModel, BertModel, T5Model): no convolutional network")
      for run in ("megatron", "megatron-lm", "megatron-deepspeed")),
    # ---- pipeline schedules and pipelines: PIPELINE_SCHEDULES, a row's rules by schedule_rules
    *(r for run, (runs, source) in PIPELINE_SCHEDULES.items() for r in schedule_rules(run, runs, source)),
    *(r for run in TORCH_PIPELINING for r in torch_schedule_rules(run)),
)
assert len({r.name for r in RULES}) == len(RULES)


#: The ZeRO stage ``estimate`` assumes for a runtime without ZeRO-1 when the job leaves ``parallel.zero`` out, (without
#: PP, with PP), where there is more than one data-parallel rank: torchtitan's own default, FSDP over the remaining
#: ranks (``data_parallel_shard_degree = -1``) with fsdp_reshard_after_forward "default", i.e. resharded after forward
#: (ZeRO-3) without PP and kept (ZeRO-2) with it; MaxText's default mesh puts the data-parallel devices on the fsdp
#: axis; NeMo AutoModel's default strategy is FSDP2 (components/distributed/mesh.py ``STRATEGY_MAP``, the
#: ``fsdp2`` entry; its reshard is the stack's ``reshard_after_forward``). Until QA 32 AutoModel took Megatron's ZeRO-1,
#: which its own rule ("automodel-zero1") refuses: every estimate of a job that left parallel.zero out was refused
FSDP_DEFAULT_ZERO = {"torchtitan": (3, 2), "maxtext": (3, 3), "automodel": (3, 3)}


#: The stage a Megatron-FSDP job runs when it leaves ``parallel.zero`` out: optim_grads_params (ZeRO-3), the
#: ``--data-parallel-sharding-strategy`` Megatron-LM's Megatron-FSDP user guide lists under "Required Configurations"
#: (docs/discussions/megatron-fsdp-user-guide/megatron-fsdp-user-guide.md), and what Megatron-Bridge's perf harness
#: sets with it (scripts/performance/utils/overrides.py ``_set_megatron_fsdp_overrides``). Below ZeRO-2 it changes nothing and is
#: refused (planner.model.stacks ``megatron_fsdp_low_zero``): until qa108 ``estimate`` defaulted such a job to the
#: distributed optimizer's ZeRO-1 and then refused the stage it had chosen itself ("at parallel.zero 1 it changes
#: nothing"), on a job that never set parallel.zero.
MFSDP_DEFAULT_ZERO = 3


def default_zero(stack, dp: int, cp: int, pp: int) -> int:
    """The ZeRO stage ``estimate`` assumes when the job leaves ``parallel.zero`` out: Megatron's distributed
    optimizer (ZeRO-1) with more than one replica of the optimizer state, DDP (ZeRO-0) on a stack without ZeRO-1
    (``Stack.has_zero1``), the runtime's FSDP default (``FSDP_DEFAULT_ZERO``), or Megatron-FSDP's
    (``MFSDP_DEFAULT_ZERO``) where the job asks for it.

    The replicas are the data-parallel x context-parallel ranks: Megatron-Core's distributed optimizer shards over
    the data-parallel group with the context-parallel ranks in it (Megatron-LM megatron/core/optimizer/__init__.py
    ``get_megatron_optimizer``: the dense parameters' optimizer built with ``data_parallel_group=intra_dp_cp_group``), as the
    memory model shards it (memory.py, "Sharding group") and the search counts one replica (space.py, ``dp * cp``).
    Until QA 62 the Megatron branch read ``dp`` alone: Llama-3-70B at 128K on TP8 PP2 CP8 (DP1) defaulted to
    ZeRO-0, 49.3 GiB of optimizer state a GPU where its distributed optimizer holds 6.2.

    >>> default_zero("megatron-core", dp=1, cp=8, pp=2), default_zero("megatron-core", dp=1, cp=1, pp=2)
    (1, 0)
    """
    if getattr(stack, "megatron_fsdp", False):  # a job that asks for Megatron-FSDP and leaves the stage to its launch
        return MFSDP_DEFAULT_ZERO
    row = FSDP_DEFAULT_ZERO.get(runtime(stack))
    # with one replica, the stage the stack's optimizer launches at (Stack.one_replica_zero: Megatron's offload and
    # precision-aware optimizer need its distributed optimizer, ZeRO-1, QA 45)
    one = int(getattr(stack, "one_replica_zero", 0))
    if row is None:  # a stack without ZeRO-1 (Stack.has_zero1: the HF Trainer) runs plain DDP by default
        return 1 if (dp * cp > 1 or one) and getattr(stack, "has_zero1", True) else 0
    return one if dp * cp <= 1 else row[pp > 1]


#: The expert-tensor-parallel degree a runtime runs under expert parallelism when the job leaves ``parallel.etp``
#: out; a runtime absent here takes Megatron-Core's default, ETP = TP (``--expert-tensor-parallel-size`` unset).
#: torchtitan 0.3 torchtitan/models/common/moe_sharding.py: with EP the expert weights lie on
#: dp_replicate x efsdp x ep, never split over TP (the ``titan-etp`` rule refuses anything else). The HF model code:
#: its ep_plan shards whole experts (``grouped_gemm``) over the TP mesh (rules ``hf-ep-tp``, ``hf-etp``).
ETP_UNDER_EP = {"torchtitan": 1, "hf": 1}


def default_etp(stack, tp: int, ep: int) -> int:
    """The ETP ``estimate`` assumes when the job leaves ``parallel.etp`` out: the runtime's ETP under expert
    parallelism (``ETP_UNDER_EP``), else TP (Megatron-Core's default).

    >>> default_etp("torchtitan", tp=2, ep=8), default_etp("torchtitan", tp=2, ep=1), default_etp("megatron-core", 2, 8)
    (1, 2, 2)
    """
    if not getattr(stack, "tp_splits_experts", True):  # DeepSpeed's AutoTP: experts whole on every TP rank
        return 1
    return ETP_UNDER_EP.get(runtime(stack), tp) if ep > 1 else tp


def runtime(stack) -> str | None:
    """The code a stack runs (``RUNTIMES``), None for a stack without rules."""
    return RUNTIMES.get(getattr(stack, "name", stack))


def rules_runtime(stack) -> str | None:
    """The runtime whose rules a stack obeys: its code's (``runtime``), else its own (``RULE_ONLY_RUNTIMES``)."""
    return runtime(stack) or RULE_ONLY_RUNTIMES.get(getattr(stack, "name", stack))


def rules_for(run: str | None, stack, model, training) -> tuple[StackRule, ...]:
    """The rules of runtime ``run`` that concern this job (stack options, model, precision): for a model without
    transformer layers only the ``any_model`` ones, unless the runtime's rules concern every model
    (``ANY_MODEL_RUNTIMES``)."""
    if run is None or model is None:
        return ()
    every = getattr(model, "is_transformer", False) or run in ANY_MODEL_RUNTIMES
    return tuple(r for r in RULES if r.runtime == run and (every or r.any_model) and r.applies(stack, model, training))


def refusals(stack, model, training, c, run: str | None = None) -> dict[str, np.ndarray]:
    """Per rule that concerns the job, the rows of candidates ``c`` it refuses (``run``: the
    runtime whose rules apply, default the stack's own)."""
    run = rules_runtime(stack) if run is None else run
    return {r.name: r.refused(c, model, training, stack) for r in rules_for(run, stack, model, training)}


#: the job field a rule blames when it refuses sequence parallelism on a layout (``open_sp``)
SP_FIELD = "parallel.sequence_parallel"


@dataclass(frozen=True)
class OpenSp:
    """Sequence parallelism per row for a job that leaves ``parallel.sequence_parallel`` open (``open_sp``):
    ``sp`` the rows' setting, ``off`` the rows turned off because the stack refuses it on, ``rules`` the rules
    that refused some row (their names, in ``RULES`` order)."""

    sp: np.ndarray
    off: np.ndarray
    rules: tuple[str, ...] = ()


def open_sp(stack, model, training, c) -> OpenSp:
    """Sequence parallelism for the rows of ``c`` when the job leaves ``parallel.sequence_parallel`` open: on wherever
    TP > 1 (``c.sp``, the default of the search and of ``estimate``: Megatron-Core's launchers turn it on with TP),
    except on the rows a rule of the stack refuses it on (field ``SP_FIELD``: ``megatron-lm-moe-sp``, SwitchMLP's
    per-rank routing), which run without it -- the stack's one runnable setting there, as an open stack option
    is searched (planner.search.space ``stack_variants``). A job that sets it on keeps the refusal: this is for
    the open field only. Until small30b every TP > 1 layout of an MoE model on megatron-lm was refused unless the
    job set ``sequence_parallel: false``."""
    sp = np.asarray(c.sp, dtype=bool)
    off = np.zeros(len(sp), dtype=bool)
    hit = []
    for r in rules_for(rules_runtime(stack), stack, model, training):
        if r.field != SP_FIELD:
            continue
        refused = r.refused(c, model, training, stack) & sp & ~off
        if refused.any():
            off |= refused
            hit.append(r.name)
    return OpenSp(sp=sp & ~off, off=off, rules=tuple(hit))


def valid_mask(stack, model, training, c, run: str | None = None) -> np.ndarray:
    """Rows of candidates ``c`` the stack runs (every rule of ``RULES`` that concerns it obeyed)."""
    ok = np.ones(len(c.tp), dtype=bool)
    for refused in refusals(stack, model, training, c, run).values():
        ok &= ~refused
    return ok


def job_refusal(stack, model, training) -> StackRule | None:
    """A rule that refuses every layout of the job (``ok`` None: precision, an option the runtime
    lacks): the first such, for an error before any search."""
    return next((r for r in rules_for(rules_runtime(stack), stack, model, training) if r.ok is None and r.ok_stack is None),
                None)


def first_refusal(stack, model, training, c, run: str | None = None):
    """(the rule, its whole message) for the first rule row 0 of ``c`` breaks, or None."""
    for r in rules_for(rules_runtime(stack) if run is None else run, stack, model, training):
        if r.refused(c, model, training, stack)[0]:
            return r, r.message(c, model, training, stack)
    return None


def check(stack, model, training, c, run: str | None = None, field: str | None = None) -> None:
    """Raise ``InputError`` for the first rule row 0 of ``c`` breaks (``field`` overrides the
    rule's field, e.g. ``--emit``)."""
    hit = first_refusal(stack, model, training, c, run)
    if hit is not None:
        raise InputError(field or hit[0].field, hit[1])


def layout_of(cfg: dict) -> SimpleNamespace:
    """A plan's ``config`` (results.Layout: tp, pp, dp, cp, ep, etp, vpp, zero, recompute, sp) as
    one-row candidate columns for the rules. ``sp`` is carried because a rule reads it (``megatron-lm-moe-sp``);
    until small30c it was not, and that rule raised AttributeError on a plan's columns instead of refusing."""
    tp = int(cfg["tp"])
    etp = cfg.get("etp")
    dp_shard = cfg.get("dp_shard")
    return SimpleNamespace(**{k: np.array([int(cfg.get(k, 1) or 1)]) for k in ("tp", "pp", "dp", "cp", "ep", "vpp")},
                           zero=np.array([int(cfg["zero"])]), rc=np.array([RECOMPUTE.code[cfg["recompute"]]]),
                           sp=np.array([bool(cfg["sp"])]),
                           # (the schedule: a torchtitan GPipe plan forced into megatron style is refused, rule mcore-schedule)
                           schedule=np.array([SCHEDULE.code[cfg.get("schedule") or "1f1b"]]),
                           **({"mb": np.array([int(cfg["micro_batch"])])} if cfg.get("micro_batch") else {}),
                           etp=np.array([tp if etp is None else int(etp)]),
                           dp_shard=np.array([int(cfg.get("dp", 1) or 1) if dp_shard is None else int(dp_shard)]))
