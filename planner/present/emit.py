"""Launch specs: the chosen plan as a ready torchrun command, sbatch script, SkyPilot task or
Kubernetes (Kubeflow ``PyTorchJob``) manifest — ``planner recommend job.yaml --emit FORMAT``.

The plan (``best`` from ``planner.search.recommend.recommend``: ``config``, ``hardware``, ``cost``) is
turned into one ``LaunchPlan`` — nodes, GPUs per node, the training program and its parallelism
flags — and each format only wraps that plan in its platform's syntax, so the numbers are written
once and every format carries the same ones.

Four launcher styles, one per training stack's runtime (planner.model.stack_rules: the Megatron-Core stacks
— megatron-core, nemo, megatron-bridge — are emitted as megatron, torchtitan as fsdp, nemo-automodel as automodel
(its recipe script and YAML with the layout as overrides: ``automodel_args``), plain torch DDP (pytorch-ddp,
dle-convnets) as script (the user's own ``$TRAIN_SCRIPT``: ``script_args``); any other stack by
its ZeRO stage, megatron for 0/1 and fsdp for 2/3 (the other where only it takes the plan); ``--emit torchrun:megatron`` / ``--emit torchrun:fsdp`` (``:automodel``, ``:script``)
forces one, and the plan is then checked against that launcher's rules):

* **megatron** — Megatron-LM ``pretrain_gpt.py`` flags (``megatron/training/arguments.py``):
  ``--tensor-model-parallel-size``, ``--pipeline-model-parallel-size``,
  ``--num-layers-per-virtual-pipeline-stage`` (interleaved 1F1B, Narayanan et al. 2021 §2.2),
  ``--context-parallel-size``, ``--expert-model-parallel-size``, ``--sequence-parallel``,
  ``--micro-batch-size``, ``--global-batch-size``, ``--recompute-granularity``/``-method``/
  ``-num-layers``/``-modules`` (``training.recompute_modules``), and ``--use-distributed-optimizer`` for ZeRO-1 (Megatron's distributed optimizer
  shards the optimizer state over the data-parallel ranks), ``--use-torch-fsdp2`` for ZeRO-3, or with the stack
  option ``megatron_fsdp`` ``--use-megatron-fsdp --data-parallel-sharding-strategy optim_grads|optim_grads_params``
  for ZeRO-2/3; the
  architecture incl. MoE (per-expert width, dense-layer pattern, shared experts) and MLA, and the RoPE base, llama3
  scaling and norm epsilon (``megatron_rope_flags``).
* **fsdp** — PyTorch FSDP2 via torchtitan (``torchtitan/config/job_config.py``):
  ``--parallelism.data_parallel_shard_degree`` (FSDP), ``..._replicate_degree`` (DDP/HSDP),
  ``--parallelism.tensor_parallel_degree``, ``pipeline_parallel_degree``, ``context_parallel_degree``,
  ``expert_parallel_degree``, ``--parallelism.fsdp_reshard_after_forward`` (``never`` = ZeRO-2 /
  SHARD_GRAD_OP, ``always`` = ZeRO-3 / FULL_SHARD), ``--training.local_batch_size`` (with PP the
  whole per-replica batch, which torchtitan splits into pipeline micro-batches: ``titan_local_batch``),
  ``activation-checkpoint:MODE`` (a subcommand in torchtitan 0.3: the recompute the plan priced, ``TITAN_AC``), and
  the options a ``$TITAN_CONFIG`` function may set otherwise (compile, async TP, sequence parallelism, CPU offload)
  written either way.

What the plan priced that no flag of the launcher sets is said in ``# note:`` lines of every format's header
(``launch_notes``): a plan timed for another stack's code than the launcher's, a recompute policy the launcher
lacks, torchtitan 0.3's float32-only reduce.

Every format and style is checked by the launchers' own code in tests/test_launch_parsers.py
(torchrun's parser, torchtitan's ConfigManager/ParallelDims/pipeline splitter, Megatron-Core's configs,
layer split, parallel groups and model build, SkyPilot's schemas, Kubernetes' OpenAPI schemas); plans a
launcher refuses (``stack_rules.RULES``: Megatron FSDP2 with PP/EP, torchtitan EP without FSDP ranks, ...)
are an ``--emit`` error, and the search never ranks them for the stack's own launcher.

Generic (non-transformer) models get a torchrun command for the user's own ``$TRAIN_SCRIPT`` with
the batch and FSDP sharding as conventional flags. Paths to data, tokenizer, container image and
checkpoints are left as ``$VARIABLES`` named in a comment at the top: the planner knows the layout,
not where the team keeps its data.
"""
from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field, replace

import yaml

from planner.errors import InputError, clip, one_of
from hardware_catalog.errors import MESSAGE_CHARS, fit_message
from hardware_catalog.fabric import TRANSPORT_FABRIC, LaunchFabric
from planner.model import stack_rules
from planner.model.comm import hierarchical_cp_a2a
from planner.model.optimizers import launch_args, stack_for
from planner.layout import V_SPLIT
from planner.model.pipeline import layout_counts, pipeline_split, split_runtime, titan_less_layers
from planner.model.stacks import (CAST_PRECISIONS, DS_CHECKPOINT_OPTIONS, OFFLOAD_KINDS, UPCAST_LOSS_FNS, cp_comm_layers,
                                  cuda_graph_parts, ds_torch_autocast_section, from_training, has_shared_experts,
                                  holds, remat_policy_run)
from planner.model.stack_kernels import fsdp_float8_gather_on, hf_attn_choice
from planner.search.space import is_auto, job_for_plan
from planner.present.safe import clean_line
from planner.results import ranked_hours, ranked_price
from planner.hardware.platform import platform_of
from planner.units import config_str, fmt_given, hardware_str, held_limit, fmt_time, fmt_usd
from planner.vocab import LOSS_FN, SELECTIVE_AC, Vocab
from planner.spec import JobSpec

#: ``--emit``'s launch spec formats and launcher styles, ``Vocab``s: any case and blanks, as the job file's enumerated
#: fields (``Vocab.canonical``; ``--emit " torchrun"`` was refused, QA 39c)
FORMATS = Vocab("torchrun", "slurm", "skypilot", "k8s")
STYLES = Vocab("megatron", "fsdp", "automodel", "script", "dle-bert")
MASTER_PORT = 29500
SLURM_TIME_HEADROOM = 1.15  # sbatch --time = plan hours x this (restarts, eval, checkpoints)
# A job without checkpoint.every_steps still gets a Megatron save about hourly: losing at most an hour
# of a multi-day run is a common choice, and the plan itself prices no checkpoints (set every_steps to plan them)
CHECKPOINT_DEFAULT_S = 3600

# catalog GPU name -> SkyPilot accelerator name (``sky show-gpus``)
SKYPILOT_ACCELERATOR = {
    "V100-SXM2-16GB": "V100", "V100-SXM2-32GB": "V100-32GB", "T4-16GB": "T4", "A10G-24GB": "A10G",
    "A10-24GB": "A10", "L4-24GB": "L4", "L40S-48GB": "L40S", "A100-SXM-40GB": "A100",
    "A100-SXM-80GB": "A100-80GB", "A100-PCIe-40GB": "A100", "A100-PCIe-80GB": "A100-80GB",
    "H100-SXM-80GB": "H100", "H100-PCIe-80GB": "H100", "H100-NVL-94GB": "H100-NVL",
    "H200-SXM-141GB": "H200", "B200-SXM-180GB": "B200", "GB200-B200": "GB200",
    "MI250X-128GB": "MI250X", "MI300X-192GB": "MI300X", "MI325X-256GB": "MI325X",
}
PRECISION_FLAGS = {  # Megatron-LM
    "bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": [],
    "fp8": ["--bf16", "--fp8-format", "hybrid"],  # Transformer Engine: E4M3 fwd, E5M2 grads
}
#: the FP8 format a recipe runs in where it is not hybrid: MXFP8 in E4M3 throughout, gradients included, as
#: Megatron-Bridge's ``bf16_with_mxfp8_mixed`` sets it (``fp8 = "e4m3"``) and TE's ``MXFP8BlockScaling`` defaults
#: (``fp8_format = Format.E4M3``; the per-32 E8M0 scales give E4M3 the gradients' range); block-wise FP8 in E4M3
#: throughout too, as DeepSeek-V3 trained (arXiv 2412.19437 §3.3.2: "we adopt the E4M3 format on all tensors") and TE's
#: ``Float8BlockScaling`` defaults (docs fp8_blockwise_scaling.rst: "E4M3 is used by default for both forward and
#: backward passes"; Megatron passes ``--fp8-format`` to the recipe as it is)
FP8_FORMAT = {"mxfp8": "e4m3", "blockwise": "e4m3"}
#: the name NeMo AutoModel's ``TEFp8Config.recipe`` gives each recipe it offers (stack_rules.FP8_RECIPES "automodel")
AUTOMODEL_TE_RECIPE = {"tensorwise": "current", "blockwise": "block", "mxfp8": "mxfp8"}
# ZeRO-3 in Megatron is ``--use-torch-fsdp2`` (what the megatron-core stack's ZeRO-3 means: planner.model.stack_rules).
# What Megatron and torchtitan refuse (FSDP2 with PP/EP/tied embeddings/fp16/optimizer offload, the MoE all-to-all
# overlap's limits, torchtitan EP without FSDP ranks, ...) is stack_rules.RULES, checked by ``check_stack_rules``;
# the rest of validate_args FSDP2 needs is written here: no gradient-accumulation fusion (on by default), a
# torch_dist/torch_dcp checkpoint, CUDA_DEVICE_MAX_CONNECTIONS not 1 (launch_plan).
MEGATRON_FSDP2_FLAGS = ["--use-torch-fsdp2", "--no-gradient-accumulation-fusion", "--ckpt-format", "torch_dist"]
# ZeRO-2/3 under the stack option megatron_fsdp: Megatron-FSDP's sharding strategy (Megatron-LM arguments.py
# --data-parallel-sharding-strategy, choices no_shard/optim/optim_grads/optim_grads_params) with --use-megatron-fsdp,
# --use-distributed-optimizer (its optimizer is the DistributedOptimizer class, megatron/core/optimizer/__init__.py
# ``if ddp_config.use_megatron_fsdp``; the Megatron-FSDP user guide lists it as required) and --ckpt-format
# fsdp_dtensor (validate_args: "Megatron FSDP only supports fsdp_dtensor checkpoint format"); CUDA_DEVICE_MAX_CONNECTIONS
# not 1 ("FSDP always requires ...", launch_plan). Gradient-accumulation fusion stays on, as the plan is timed
# (planner.model.stacks Stack.megatron_fsdp) and Megatron-Bridge's perf overrides run it: validate_args only warns
# "Please make sure your TransformerEngine support FSDP + gradient accumulation fusion" (the user guide's
# --no-gradient-accumulation-fusion is for a Transformer Engine without that support)
MEGATRON_MFSDP_STRATEGY = {2: "optim_grads", 3: "optim_grads_params"}


def megatron_fsdp_flags(zero: int) -> list[str]:
    """Megatron-LM flags for ZeRO-``zero`` (2 or 3) as Megatron-FSDP."""
    return ["--use-megatron-fsdp", "--data-parallel-sharding-strategy", MEGATRON_MFSDP_STRATEGY[zero],
            "--use-distributed-optimizer", "--ckpt-format", "fsdp_dtensor"]
#: the launcher style of each runtime whose rules a stack obeys (planner.model.stack_rules ``rules_runtime``): a stack
#: is emitted for the code it runs. Plain torch DDP (pytorch-ddp, dle-convnets: runtime ddp) wraps the user's own
#: model in the user's own script, so its launch is that script under torchrun (``script_args``); until QA 100 a
#: pytorch-ddp transformer plan was written as Megatron-LM's pretrain_gpt.py line, with a runtime-mismatch note. DLE
#: BERT (dle-bert) runs NVIDIA's own run_pretraining.py (``dle_bert_args``); until QA 102 it went by its ZeRO stage to
#: Megatron-LM's pretrain_gpt.py, a GPT trainer with none of its code (the note said so)
RUNTIME_STYLE = {"megatron": "megatron", "torchtitan": "fsdp", "automodel": "automodel", "ddp": "script",
                 "dle-bert": "dle-bert"}
STYLE_RUNTIME = {v: k for k, v in RUNTIME_STYLE.items()}
#: the header's "launcher style:" of a generic model's (a CNN's) fsdp-style launch, which is no torchtitan line (that
#: launcher runs transformers) but the user's ``$TRAIN_SCRIPT`` with the plan's FSDP sharding (``script_args``): it
#: read "fsdp" until QA 101, the name of the torchtitan launcher it does not run
GENERIC_FSDP_LABEL = "script, FSDP (your $TRAIN_SCRIPT with --fsdp-sharding-strategy)"
#: where a refused plan can go instead: the other style, and the hint that names it
OTHER_STYLE = {"megatron": "fsdp", "fsdp": "megatron", "automodel": "fsdp", "script": "fsdp", "dle-bert": "script"}
OTHER_STYLE_HINT = {s: f"change the plan, or use the {o} style (--emit FORMAT:{o})" for s, o in OTHER_STYLE.items()}
#: model features the plan has that Megatron-Core 0.16.1 has no flag or config field for: refused at --emit,
#: naming the feature. OLMo-2's q/k RMSNorm spans all heads (q_norm of heads x head_dim); Megatron's qk_layernorm
#: normalises each head (attention.py builds q_layernorm with hidden_size_per_attention_head). A router bias
#: without the other linears' biases: Megatron's router has a bias exactly when add_bias_linear
#: (transformer/moe/router.py), and --disable-bias-linear turns both off. Local attention layers Megatron places
#: by ``is_layer_window_attention`` (transformer/utils.py): every layer, or all but each N-th
#: (``--window-attn-skip-freq N``); a model whose local layers follow no such period is refused.
MEGATRON_LACKS = (
    ("full-width q/k norm (qk_norm: full)", lambda m: m.qk_norm == "full"),
    ("router bias without linear biases", lambda m: m.moe is not None and m.moe.router_bias and not m.linear_bias),
    ("chunked local attention (Llama 4's attention_chunk_size)",
     lambda m: m.sliding_window is not None and m.local_layers > 0 and m.local_attention == "chunked"),
    ("local-attention layer pattern (not every layer, nor all but every N-th)",
     lambda m: m.sliding_window is not None and 0 < m.local_layers and window_skip_freq(m) is False),
)


def window_skip_freq(m):
    """Megatron-Core's ``window_attn_skip_freq`` for a model with ``local_layers`` sliding-window
    layers of ``layers``: None when every layer is local; N when one layer in N is global and the
    global ones are layers N, 2N, ... (1-based, ``is_layer_window_attention``: local iff
    ``layer_number % N != 0``) — gpt-oss and Gemma 2 alternate from a local first layer (N = 2,
    HF ``layer_types``), Gemma 3 runs five local then one global (N = 6); False when the count
    fits no such period."""
    if m.local_layers >= m.layers:
        return None
    n_global = m.layers - m.local_layers
    if m.layers % n_global:
        return False
    return m.layers // n_global
TITAN_PRECISION = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "fp8": "bfloat16"}
FSDP_RESHARD = {0: None, 1: None, 2: "never", 3: "always"}  # ZeRO stage -> FSDP2 reshard policy


@dataclass
class LaunchPlan:
    """What every format needs: where, how many, and the per-process program with its flags."""

    name: str
    nodes: int
    gpus_per_node: int
    style: str
    program: list[str]  # argv after ``torchrun <launcher flags>``: script or ``-m module``, then flags
    env: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)  # $VAR -> what it should hold
    hours: float = float("nan")
    cloud: str = "-"
    instance: str | None = None
    gpu: str = ""
    vcpus_per_node: float | None = None
    spot: bool = False
    summary: str = ""
    #: what the plan priced that the launch line cannot set (``launch_notes``): one ``# note:`` comment line each in
    #: every format's header, so the user sets it by hand or knows the run differs from the plan
    notes: list[str] = field(default_factory=list)
    #: the inter-node transport the plan's instance reaches its priced bandwidth over (hardware_catalog.fabric), on a
    #: multi-node plan only: what the k8s and SkyPilot formats request for it; None: nothing to request
    fabric: LaunchFabric | None = None
    #: a vendor's fork's launch script (``FORK_LAUNCHERS``): run once, it launches every process itself; ``env`` holds
    #: the variables it reads and ``program`` is empty
    fork: str | None = None
    #: hosts (trays) of the Slurm ``--segment`` the plan's NVLink domain is (a GB200 / GB300 NVL72 plan,
    #: planner.hardware.options ``rack_segment``); None: no segment asked for
    segment: int | None = None
    #: hosts (trays) of one NVLink domain the plan was priced on where it spans several hosts (a GB200 / GB300 NVL72
    #: rack, or its ``--segment``) and the job has more than one host; None elsewhere (``nvlink_domain_notes``)
    nvlink_hosts: int | None = None
    #: the watts the plan holds every GPU at below its rated limit (``cluster.power_limit_w``, planner.units
    #: ``held_limit``) and that rated limit; None: the GPUs run at their rated limit, nothing to set
    power_limit_w: float | None = None
    rated_power_limit_w: float | None = None
    #: the GPUs' platform (planner.hardware.platform ``platform_of``): whether a launch can set the limit
    #: (``POWER_LIMIT_TOOLS``)
    platform: str | None = None


# ------------------------------------------------------------------------------- program flags
def _flag(name: str, value) -> list[str]:
    return [name, str(value)]


#: Megatron-Core's llama3-type RoPE band, fixed in megatron/core/models/common/embeddings/rotary_pos_embedding.py
#: ``RotaryEmbedding._apply_scaling`` (low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings
#: 8192, Llama 3.1's): Megatron-LM's ``--use-rope-scaling`` takes only the factor (``--rope-scaling-factor``)
MEGATRON_LLAMA3_BAND = {"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_positions": 8192}
#: Megatron-LM arguments.py defaults of the flags ``megatron_rope_flags`` writes: what an unstated value trains at
#: (``--mscale`` / ``--mscale-all-dim``: ``_add_mla_args``, float, defaults 1.0 / 0.0, copied onto
#: MLATransformerConfig by ``core_transformer_config_from_args``)
MEGATRON_ROPE_DEFAULTS = {"--rotary-base": 10000, "--norm-epsilon": 1e-5, "--mscale": 1.0, "--mscale-all-dim": 0.0}
#: YaRN on multi-latent attention, the one YaRN Megatron-LM's command line reaches (NVIDIA/Megatron-LM
#: megatron/training/arguments.py @000c4ac24f61 and @007562f9413e, read via the search index): ``--rope-type
#: {rope,yarn}`` ("MLA takes yarn by default"; ``core_transformer_config_from_args`` asserts ``rope_type == 'rope'``
#: for other attention) and ``_add_mla_args``' ``--rotary-scaling-factor`` (float, default 1.0 -- which overrides
#: MLATransformerConfig's 40, so without the flag a DeepSeek-V3 line trained YaRN at factor 1), ``--mscale``,
#: ``--mscale-all-dim``. RopeScalingSpec field -> flag.
MEGATRON_MLA_YARN_FLAGS = {"factor": "--rotary-scaling-factor", "mscale": "--mscale", "mscale_all_dim": "--mscale-all-dim"}
#: multi-latent attention without YaRN: plain RoPE said on the line. MLATransformerConfig's ``rope_type`` defaults to
#: "yarn" ("Default to yarn, options are rope and yarn", megatron/core/transformer/transformer_config.py, NVIDIA/
#: Megatron-LM via the search index and megatron-core 0.16.1), and ``core_transformer_config_from_args`` drops an
#: unset ``--rope-type``, so an unscaled MLA model's line ran YarnRotaryEmbedding at ``--rotary-scaling-factor``'s
#: default 1.0: the same frequencies and a 1.0 temperature (``_yarn_get_mscale`` is 1 at factor <= 1), plain RoPE
#: by arithmetic, but resting on that flag default (MLATransformerConfig's own is 40). ``--rope-type rope`` needs
#: ``--no-rope-fusion``: validate_args keeps ``apply_rope_fusion`` (default True) under ``--position-embedding-type
#: rope``, and MLATransformerConfig.__post_init__ raises "apply_rope_fusion for MLA only works with YARN RoPE."
#: The unfused rotation is a few elementwise kernels over q_pe / k_pe (qk_pos_emb_head_dim 64 a head), which the step
#: time does not charge either way (RoPE is not a timed op in planner.model)
MEGATRON_MLA_PLAIN_ROPE = ["--rope-type", "rope", "--no-rope-fusion"]
#: the YaRN settings no Megatron-LM flag sets: Megatron-Core MLATransformerConfig's defaults
#: (megatron/core/transformer/transformer_config.py, megatron-core 0.16.1: original_max_position_embeddings 4096,
#: beta_fast 32, beta_slow 1), what an MLA run trains at whatever the model says
MEGATRON_MLA_YARN_FIXED = {"original_max_positions": 4096, "beta_fast": 32.0, "beta_slow": 1.0}


#: Megatron-LM arguments.py ``_add_regularization_args``: ``--attention-dropout`` and ``--hidden-dropout``, type=float,
#: default 0.1 each (NVIDIA/Megatron-LM megatron/training/arguments.py, read via the search index), copied onto
#: TransformerConfig by ``core_transformer_config_from_args``. A plan without ``training.dropout`` prices no dropout
#: (no masks in planner.model.activations, no dropout kernels in step_time), and NVIDIA's own Llama 3 launch
#: (examples/llama/train_llama3_8b_h100_fp8.sh) passes 0.0 for both; until QA 75 the line passed neither, so the
#: run trained at 0.1 with masks and kernels the plan did not hold
MEGATRON_DROPOUT_FLAGS = ("--attention-dropout", "--hidden-dropout")


def _scaling_str(sc) -> str:
    return f"{sc.type} scaling, factor {sc.factor:g}"


def _megatron_yarn(m, sc) -> tuple[list[str], list[str]]:
    """(flags, notes) of a YaRN scaling for Megatron-LM (``MEGATRON_MLA_YARN_FLAGS``): an MLA model's factor and
    attention temperature as flags, a ramp bound or original context other than Megatron-Core's fixed ones
    (``MEGATRON_MLA_YARN_FIXED``) as a note. Standard attention has no YaRN flag: Megatron-Core's GPTModel builds
    ``position_embedding_type='yarn'`` from ``config.yarn_*`` attributes that TransformerConfig does not have
    (megatron-core 0.16.1; Megatron-Bridge's GPTModelProvider sets them) and arguments.py declares no ``--yarn-*``
    flag, so ``--position-embedding-type yarn`` would fail on the first attribute: a note says so."""
    if m.mla is None:
        return [], [f"the model's RoPE {_scaling_str(sc)} over {sc.original_max_positions or '?'} positions, is not "
                    "carried: Megatron-LM has no YaRN flags for standard attention (--rope-type yarn is multi-latent "
                    "attention's only; --position-embedding-type yarn reads yarn_* settings no flag sets, which "
                    "Megatron-Bridge's GPTModelProvider holds); the run trains unscaled RoPE unless the model code "
                    "sets it"]
    flags, notes = _flag("--rope-type", "yarn"), []
    for field, flag in MEGATRON_MLA_YARN_FLAGS.items():
        value = getattr(sc, field)
        if value is not None:
            flags += _flag(flag, value)
        else:
            notes.append(f"the model's YaRN {field} is not stated: Megatron-LM trains at {flag} "
                         f"{MEGATRON_ROPE_DEFAULTS[flag]:g}; set the model's")
    off = [f"{k} {getattr(sc, k):g} (Megatron-Core: {v:g})" for k, v in MEGATRON_MLA_YARN_FIXED.items()
           if getattr(sc, k) is not None and getattr(sc, k) != v]
    if off:
        notes.append(f"the model's YaRN {', '.join(off)} is not carried: no Megatron-LM flag sets it, "
                     "MLATransformerConfig's value trains unless the model code sets it")
    return flags, notes


def megatron_rope_flags(m) -> tuple[list[str], list[str]]:
    """(flags, notes) of the model's RoPE base, scaling and norm epsilon for Megatron-LM (arguments.py, read via the
    search index: ``--rotary-base`` type=int default 10000, ``--norm-epsilon`` float default 1e-5,
    ``--use-rope-scaling`` store_true "as used in llama3.x" with ``--rope-scaling-factor`` float default 8; YaRN:
    ``_megatron_yarn``). Without them a Llama 3 (rope_theta 500,000) or Qwen3 (1,000,000, eps 1e-6) trained at the
    defaults. What no flag carries -- an unstated value, a non-integer base, a scaling other than Llama 3.1's band or
    an MLA model's YaRN -- is a note."""
    flags, notes = [], []
    if m.norm_eps is not None:
        flags += _flag("--norm-epsilon", m.norm_eps)
    else:
        notes.append(f"model.norm_eps is not stated: Megatron-LM trains at --norm-epsilon "
                     f"{MEGATRON_ROPE_DEFAULTS['--norm-epsilon']:g}; set the model's")
    if m.position != "rope":
        return flags, notes
    theta = m.rope_theta
    if theta is None:
        notes.append(f"model.rope_theta is not stated: Megatron-LM trains at --rotary-base "
                     f"{MEGATRON_ROPE_DEFAULTS['--rotary-base']}; set the model's")
    elif theta != int(theta):
        notes.append(f"rope_theta {theta:g} is not an integer, which Megatron-LM's --rotary-base (type=int) needs: "
                     "set the base in the model code")
    else:
        flags += _flag("--rotary-base", int(theta))
    if m.rope_local_base_freq is not None:
        # arguments.py has one --rotary-base for every layer (no local-layer base; Megatron-Bridge's
        # Gemma3ModelProvider holds rope_local_base_freq in model code): Gemma 3's five local layers in six trained at
        # the global 1,000,000 without a word until small30
        notes.append(f"the sliding-window layers' RoPE base {m.rope_local_base_freq:g} (rope_local_base_freq) is not "
                     f"carried: Megatron-LM's --rotary-base sets one base for every layer, so they train at "
                     f"{theta if theta is not None else MEGATRON_ROPE_DEFAULTS['--rotary-base']:g} unless the model "
                     "code sets theirs (Megatron-Bridge's Gemma3ModelProvider does)")
    sc = m.rope_scaling
    if sc is not None:
        band = all(getattr(sc, k) in (None, v) for k, v in MEGATRON_LLAMA3_BAND.items())
        if sc.type == "llama3" and band and m.mla is None:
            flags += ["--use-rope-scaling"] + _flag("--rope-scaling-factor", sc.factor)
        elif sc.type == "llama3" and band:
            # multi-latent attention builds its own RotaryEmbedding (megatron-core 0.16.1 multi_latent_attention.py,
            # rope_type "rope": qk_pos_emb_head_dim, rotary_percent, rotary_base -- no rope_scaling), and GPTModel
            # passes rope_scaling only to the one it builds "and not self.config.multi_latent_attention": the flag
            # would be read and ignored (until small30c it was written without a word)
            notes.append(f"the model's RoPE {_scaling_str(sc)}, is not carried: Megatron-Core's plain-RoPE path for "
                         "multi-latent attention (--rope-type rope) ignores --use-rope-scaling; the run trains "
                         "unscaled RoPE unless the model code sets it")
        elif sc.type == "yarn":
            yarn_flags, yarn_notes = _megatron_yarn(m, sc)
            flags, notes = flags + yarn_flags, notes + yarn_notes
        else:
            notes.append(f"the model's RoPE {_scaling_str(sc)}, is not carried: Megatron-LM's --use-rope-scaling is "
                         "Llama 3.1's llama3 band only (frequency factors 1 / 4 over 8192 positions); the run trains "
                         "unscaled RoPE unless the model code sets it")
    if m.mla is not None and (sc is None or sc.type != "yarn"):
        flags += MEGATRON_MLA_PLAIN_ROPE  # MLA's default is YaRN (MEGATRON_MLA_PLAIN_ROPE)
    return flags, notes


def config_rope_note(m, where: str) -> str | None:
    """The note of a launcher whose command line has no field for the RoPE base, scaling or norm epsilon (torchtitan
    0.3: the model args of the config function; NeMo AutoModel: the recipe's model config): the values to check."""
    vals = ([f"rope_theta {m.rope_theta:g}"] if m.position == "rope" and m.rope_theta is not None else []) \
        + ([f"sliding-window layers' rope_local_base_freq {m.rope_local_base_freq:g}"]
           if m.rope_local_base_freq is not None else []) \
        + ([_scaling_str(m.rope_scaling)] if m.position == "rope" and m.rope_scaling is not None else []) \
        + ([f"norm epsilon {m.norm_eps:g}"] if m.norm_eps is not None else [])
    return f"the model's {', '.join(vals)} are set in {where}, not by a flag: check it uses them" if vals else None


def _moe_flags(job: JobSpec, cfg: dict) -> list[str]:
    """The MoE execution the time model assumed for Megatron-Core (planner.model.moe): grouped
    expert GEMMs, the all-to-all dispatcher (Megatron-LM's default is allgather) or the flex
    dispatcher's DeepEP/HybridEP backend, the combined-1F1B all-to-all overlap and the shared-expert
    overlap (``--moe-shared-expert-overlap``, where the model has shared experts) when the job asks for
    them, and the expert-tensor-parallel degree when it is not TP."""
    st = from_training(job.training, model=job.model)  # the stack the plan was timed with (its rules: check_stack_rules)
    a = ["--moe-grouped-gemm"]
    if st.moe_dispatcher == "alltoall":
        a += _flag("--moe-token-dispatcher-type", "alltoall")
    else:
        a += _flag("--moe-token-dispatcher-type", "flex") + _flag("--moe-flex-dispatcher-backend", st.moe_dispatcher)
    if st.moe_a2a_overlap:
        a.append("--overlap-moe-expert-parallel-comm")
    if st.moe_shared_expert_overlap and has_shared_experts(job.model):
        a.append("--moe-shared-expert-overlap")
    if cfg.get("etp") is not None and cfg["etp"] != cfg["tp"]:
        a += _flag("--expert-tensor-parallel-size", cfg["etp"])
    return a


def _precision_flags(job: JobSpec) -> list[str]:
    """The precision the plan was timed in, as Megatron-LM spells it: ``PRECISION_FLAGS``, and under fp8 the
    stack's recipe (``--fp8-recipe`` tensorwise | delayed | blockwise | mxfp8, in ``FP8_FORMAT``'s format or hybrid;
    NVFP4 is TE's fp4 path instead: ``--fp4-format e2m1 --fp4-recipe nvfp4``, TransformerConfig refuses fp4 with fp8) and
    the layers the recipe leaves 16-bit
    (``--first-last-layers-bf16`` with both ``--num-layers-at-start-in-bf16`` and ``--num-layers-at-end-in-bf16``:
    the counts the plan was timed with, a 0 written out since Megatron-Core defaults each to 1)."""
    t = job.training
    if t.precision != "fp8":
        return list(PRECISION_FLAGS[t.precision])
    st = from_training(t)
    if st.fp8_recipe == "nvfp4":
        a = ["--bf16"] + _flag("--fp4-format", "e2m1") + _flag("--fp4-recipe", "nvfp4")
    else:
        a = (["--bf16"] + _flag("--fp8-format", FP8_FORMAT.get(st.fp8_recipe, "hybrid"))
             + _flag("--fp8-recipe", st.fp8_recipe))
    if st.first_last_layers_bf16:  # both counts written: Megatron-Core defaults each to 1 (stacks.LP16_DEFAULT_COUNTS)
        a += (["--first-last-layers-bf16"] + _flag("--num-layers-at-start-in-bf16", st.lp_bf16_first_layers)
              + _flag("--num-layers-at-end-in-bf16", st.lp_bf16_layers))
    if st.lp_bf16_mtp:  # the MTP module outside the low-precision autocast (the Super / Lightning launch scripts)
        a.append("--keep-mtp-spec-in-bf16")
    return a


def _numerics_flags(job: JobSpec, cfg: dict, a: list[str], gpu: str) -> list[str]:
    """What the plan priced that Megatron-LM does not do by default (``a``: the flags so far, for the optimizer):

    * the gradient buffer and DP reduce at ``training.grad_dtype`` (planner.model.memory
      ``model_state_bytes_per_param``; step_time's DP reduce bytes): "fp32" is ``--accumulate-allreduce-grads-in-fp32``
      (Megatron-LM validate_args forces it for --bf16, not for --fp16, whose default reduces in fp16), "same" under
      bf16 / fp8 is ``--grad-reduce-in-bf16`` (without it validate_args sets accumulate_allreduce_grads_in_fp32:
      "bfloat16 requires gradient accumulation and all-reduce to be done in fp32");
    * the fused cross-entropy (``Stack.ce_runs_unfused`` False: Megatron-Core as NeMo / Megatron-Bridge configure it,
      ``cross_entropy_loss_fusion``): ``--cross-entropy-loss-fusion`` (arguments.py: store_true, default off), and
      with ``Stack.cross_entropy_fusion`` "te" ``--cross-entropy-fusion-impl te`` (choices native, te; default
      native, which is left unsaid: Intel's core_r0.9.0 fork has no such flag);
    * Transformer Engine's userbuffers TP overlap where the plan hid the TP collectives under it
      (``Stack.tp_overlap`` "te" on a capable GPU with sequence parallelism: physics.tp_overlap_mode, step_time):
      ``--tp-comm-overlap`` (validate_args: "Tensor parallel communication/GEMM overlap can happen only when
      sequence parallelism is enabled");
    * the FP8 weights stored as FP8 (``Stack.fp8_weight_bytes``, weights "megatron": planner.model.memory prices
      2 bytes a parameter, NeMo / Megatron-Bridge's ``fp8_param_gather=True``): ``--fp8-param-gather``, which
      validate_args allows only "with distributed optimizer, torch fsdp2, megatron fsdp" — a plan without one
      (ZeRO-0) and an NVFP4 plan launch without it, and memory prices their 16-bit weights and cached copy
      (planner.model.stack_kernels ``fp8_param_gather_on``, the one rule for both)."""
    from planner.model.physics import tp_overlap_mode
    from planner.model.stack_kernels import fp8_param_gather_on

    t = job.training
    st = plan_stack(job, cfg)
    out: list[str] = []
    if t.precision in ("bf16", "fp16", "fp8"):
        if t.grad_dtype == "fp32":
            out.append("--accumulate-allreduce-grads-in-fp32")
        elif t.precision != "fp16":
            out.append("--grad-reduce-in-bf16")
    if not st.ce_runs_unfused:
        out.append("--cross-entropy-loss-fusion")
        if st.cross_entropy_fusion == "te":
            out += ["--cross-entropy-fusion-impl", "te"]
    if cfg["tp"] > 1 and cfg["sp"] and tp_overlap_mode(st.tp_overlap, gpu) == "te":
        out.append("--tp-comm-overlap")
    sharded_params = {"--use-distributed-optimizer", "--use-torch-fsdp2", "--use-megatron-fsdp"} & set(a)
    if sharded_params and fp8_param_gather_on(st, t, cfg["zero"]):  # what planner.model.memory priced
        out.append("--fp8-param-gather")
    return out


def _cuda_graph_flags(job: JobSpec) -> list[str]:
    """The CUDA graphs the plan was timed with (planner.model.stacks ``cuda_graph_parts``), as Megatron-Core 0.16.1's
    arguments.py spells them: ``--cuda-graph-impl`` none|local|transformer_engine and ``--cuda-graph-scope`` (nargs='+').
    A full-iteration graph of a dropless MoE was timed as Megatron-Core's later sync-free HybridEP path (per-rank
    capacity, paged stash), which 0.16.1 has no flag for: refused rather than launched without it."""
    st = from_training(job.training, model=job.model)
    if st.cuda_graph_impl == "none":
        return []
    moe = job.model.moe
    if "full_iteration" in st.cuda_graph_scope and moe is not None and moe.dropless:
        raise InputError("--emit", "a full-iteration CUDA graph of a dropless MoE needs the sync-free HybridEP path "
                                   "(moe_expert_rank_capacity_factor, moe_paged_stash), which Megatron-Core 0.16.1 has no flags for")
    cuda_graph_parts(st, job.model)  # what Megatron-Core refuses for this model
    a = _flag("--cuda-graph-impl", st.cuda_graph_impl)
    if st.cuda_graph_scope:
        a += ["--cuda-graph-scope", *st.cuda_graph_scope]
    return a


def megatron_group_flags(job: JobSpec, cfg: dict) -> list[str]:
    """The interleaved schedule's micro-batch group size the plan was priced at (the stack option
    ``microbatch_group_size``): ``--microbatch-group-size-per-virtual-pipeline-stage`` (Megatron-LM arguments.py,
    dest ``microbatch_group_size_per_vp_stage``), written only with VPP and when it is not Megatron's default, pp
    (ModelParallelConfig ``__post_init__``)."""
    g = getattr(from_training(job.training, model=job.model), "microbatch_group_size", None)
    if g is None or cfg["vpp"] <= 1 or cfg["pp"] <= 1 or g == cfg["pp"]:
        return []
    return _flag("--microbatch-group-size-per-virtual-pipeline-stage", g)


def megatron_pipeline_split(layers: int, pp: int, vpp: int, mtp_layers: int = 0, pp_layout: str | None = None,
                            runtime="megatron") -> list[str]:
    """Megatron's flags for ``layers`` over PP x VPP stages, written from planner.model.pipeline ``pipeline_split``,
    the one split the memory and time models price: even, ``--num-layers-per-virtual-pipeline-stage``; uneven,
    ``--decoder-first/last-pipeline-num-layers`` (VPP then given as ``--num-virtual-stages-per-pipeline-rank``), the
    embedding and loss counted as layers (``--account-for-embedding-in-pipeline-split``,
    ``--account-for-loss-in-pipeline-split``: Llama-3.1-405B's 126 + 2 on PP8 x VPP8), or an explicit
    ``--pipeline-model-parallel-layout`` (DeepSeek-V3's 61 on PP4 x VPP4). Until 2026-12-02 this function chose the
    split itself and the memory model priced another (the even-or-first/last split of the ranks, VPP ignored).
    ``pp_layout``: the job's own layout (stack option ``pp_layout``), written as given; Megatron derives the VPP from
    its stage count, so no VPP flag goes with it. ``runtime``: the split the plan priced (planner.model.pipeline
    ``split_runtime``; a Megatron-Core stack with the split left open prices ``BalancedSplit``'s, whose ``balanced``
    form is written as ``--decoder-first/last-pipeline-num-layers``, or as a layout where its last stage holds no
    decoder layer)."""
    if pp_layout is not None:
        return _flag("--pipeline-model-parallel-layout", pp_layout)
    if pp == 1:
        return _flag("--num-layers-per-virtual-pipeline-stage", layers // vpp) if vpp > 1 else []
    form, counts = pipeline_split(layers, pp, vpp, runtime)
    stages = pp * vpp
    # --decoder-last-pipeline-num-layers must be > 0, and with VPP every rank's layers must divide vpp: the layout
    if form == "balanced" and (counts[-1] == 0 or vpp > 1):
        return _flag("--pipeline-model-parallel-layout", megatron_layout(layers, stages, mtp_layers, counts))
    if form == "even":
        return _flag("--num-layers-per-virtual-pipeline-stage", counts[0]) if vpp > 1 else []
    if form in ("first_last", "balanced"):
        first, last = sum(counts[0::pp]), sum(counts[pp - 1::pp])
        a = _flag("--decoder-first-pipeline-num-layers", first) + _flag("--decoder-last-pipeline-num-layers", last)
        return a + (_flag("--num-virtual-stages-per-pipeline-rank", vpp) if vpp > 1 else [])
    if form in ("embedding_loss", "embedding"):
        flags = ["--account-for-embedding-in-pipeline-split"]
        extra = 1
        if form == "embedding_loss":
            flags.append("--account-for-loss-in-pipeline-split")
            extra = 2
        return flags + (_flag("--num-layers-per-virtual-pipeline-stage", (layers + extra) // stages) if vpp > 1 else [])
    return _flag("--pipeline-model-parallel-layout", megatron_layout(layers, stages, mtp_layers))


def megatron_layout(layers: int, stages: int, mtp_layers: int = 0, counts: tuple[int, ...] | None = None) -> str:
    """Megatron-Core's ``pipeline_model_parallel_layout`` string (transformer/pipeline_parallel_layer_layout.py:
    virtual stages in layer order, ``|`` between them, ``E`` embedding first, ``t`` a decoder layer, ``m`` an MTP
    layer, ``L`` the loss last) of planner.model.pipeline ``layout_counts`` (every stage ceil(layers / stages) layers
    or one fewer, the fuller ones after the first), the MTP layers with the loss in the last stage (where Megatron
    requires them). ``counts``: the decoder layers of each virtual stage, where not ``layout_counts``'."""
    parts = ["t" * n for n in (counts or layout_counts(layers, stages))]
    parts[0] = "E" + parts[0]
    parts[-1] = parts[-1] + "m" * mtp_layers + "L"
    return "|".join(parts)


#: Megatron-LM ``--attention-backend`` (megatron/core/transformer/enums.py ``AttnBackend``: flash, fused, unfused, local,
#: auto) of the attention kernel a stack's plan is timed with (``Stack.attn_kernel``, planner.model.physics
#: ``ATTN_KERNELS``): ``cudnn`` is Transformer Engine's FusedAttention (cuDNN), ``fused``; the flash kernels
#: (FlashAttention-2/3 through TE) ``flash``. ``flash`` forces TE's FlashAttention backend (NVTE_FUSED_ATTN=0), so a
#: megatron-core plan, timed at cuDNN's rate (H100 0.545 / 0.52 of peak against FlashAttention-2's 0.34 / 0.33), ran
#: a kernel about 1.6x slower in attention than planned, and an MLA model (DeepSeek-V3, Kimi-K2: q/k head dim 192,
#: v 128) found no backend at all: TE's get_attention_backend (transformer_engine/pytorch/attention/
#: dot_product_attention/utils.py) disables FlashAttention when head_dim_qk != head_dim_v ("Disabling
#: FlashAttention as it does not support MLA.") and, with the others forced off, fails. Under ``auto`` TE itself
#: prefers FusedAttention on Hopper+ ("Disabling FlashAttention to give FusedAttention preference on Hopper+");
#: ``fused`` pins what the plan priced. A kernel the table does not name (the prior) keeps ``flash``.
MEGATRON_ATTENTION_BACKEND = {"cudnn": "fused", "fa2": "flash", "fa3": "flash"}


def megatron_attention_backend(stack) -> str:
    """Megatron-LM ``--attention-backend`` value for the attention kernel ``stack`` was timed with
    (``MEGATRON_ATTENTION_BACKEND``)."""
    return MEGATRON_ATTENTION_BACKEND.get(stack.attn_kernel, "flash")


def save_every_steps(job: JobSpec, step_time_s: float | None) -> int:
    """Steps between checkpoints: the job's ``checkpoint.every_steps``, else about one save per
    ``CHECKPOINT_DEFAULT_S`` of the plan's step time (Megatron refuses ``--save`` without an interval)."""
    ck = getattr(job, "checkpoint", None)
    if ck is not None and ck.every_steps:
        return int(ck.every_steps)
    if not step_time_s or not math.isfinite(step_time_s):
        return 1000
    return max(1, round(CHECKPOINT_DEFAULT_S / step_time_s))


def unpriced_save_note(job: JobSpec, every: int, steps: float, step_time_s: float | None, saves: bool) -> list[str]:
    """The ``# note:`` of a launch that saves checkpoints the plan did not price (qa66): without
    ``checkpoint.every_steps`` the Megatron, torchtitan, AutoModel and Gaudi launches still save every ``every`` steps
    (``save_every_steps``: about hourly), and each save pauses the run, while the plan's time and cost (the header's)
    hold no checkpoint (``planner.model.checkpoint`` prices them only from the job's section). ``saves``: the program
    writes a save interval (a generic model's user script gets none). A run of ``every`` steps or fewer saves
    nowhere before its end: no note."""
    ck = getattr(job, "checkpoint", None)
    if not saves or (ck is not None and ck.every_steps) or steps <= every:
        return []
    at = (f", about every {fmt_time(every * step_time_s)} at the plan's {fmt_time(step_time_s)} step"
          if step_time_s and math.isfinite(step_time_s) else "")
    return [f"this launch saves a checkpoint every {every:,} steps{at}, a pause the plan's time and cost above do not "
            "hold (the job has no checkpoint.every_steps); set checkpoint.every_steps (and write_gbps) to plan the "
            "saves, or change the interval here"]


def _interleaved_gather_flags(st, cfg: dict) -> list[str]:
    """The interleaved schedule's parameter all-gather dispatch the plan was timed with (step_time
    ``_interleaved_gather``), as Megatron-LM arguments.py spells it: ``--no-align-param-gather`` (store_false, dest
    align_param_gather: aligned without it) and ``--overlap-param-gather-with-optimizer-step`` (store_true). Both act
    on an interleaved plan only (PP > 1, VPP > 1; validate_args asserts the VPP for the second). Until review57 neither
    was written: a plan priced unaligned or with chunk 0's gather under the optimizer step launched Megatron's
    default. A stack without the switches (``holds``: a fork's Megatron) gets neither."""
    if cfg["pp"] <= 1 or cfg["vpp"] <= 1 or not holds(st, "align_param_gather"):
        return []
    return ((["--no-align-param-gather"] if not st.align_param_gather else [])
            + (["--overlap-param-gather-with-optimizer-step"]
               if getattr(st, "overlap_param_gather_with_optimizer_step", False) else []))


def megatron_args(job: JobSpec, cfg: dict, steps: float, save_every: int = 1000, gpu: str = "",
                  gpus_per_node: int = 8) -> list[str]:
    """Megatron-LM ``pretrain_gpt.py`` arguments for the plan (architecture + parallelism, and the numerics the plan
    priced: ``_numerics_flags``); ``gpu``: the plan's GPU (what TP overlap it gets); ``gpus_per_node``: its NVLink
    domain (a2a+p2p's a2a group, ``--hierarchical-context-parallel-sizes``)."""
    m, t = job.model, job.training
    a: list[str] = []
    a += _flag("--tensor-model-parallel-size", cfg["tp"])
    a += _flag("--pipeline-model-parallel-size", cfg["pp"])
    a += megatron_pipeline_split(m.layers, cfg["pp"], cfg["vpp"], m.mtp_layers, plan_stack(job, cfg).pp_layout,
                                 split_runtime(plan_stack(job, cfg), m))
    a += megatron_group_flags(job, cfg)
    a += _flag("--context-parallel-size", cfg["cp"])
    st = plan_stack(job, cfg)
    if cfg["cp"] > 1 and st.cp_comm_types and m.is_transformer:  # the exchange the plan priced (Stack.cp_kind)
        # one type, or one a layer (nargs='+': Megatron's per-layer list, stacks.cp_comm_layers)
        types = st.cp_comm_type if isinstance(st.cp_comm_type, tuple) else (st.cp_comm_type,)
        a += ["--cp-comm-type", *types]
        if "a2a+p2p" in types:  # Megatron asserts the sizes are given and multiply to CP (arguments.py)
            h = int(hierarchical_cp_a2a(cfg["cp"], cfg["tp"], gpus_per_node, m.heads or 1, m.kv_heads or m.heads or 1))
            a += ["--hierarchical-context-parallel-sizes", str(h), str(cfg["cp"] // h)]
    if m.moe is not None:
        a += _flag("--expert-model-parallel-size", cfg["ep"])
        a += _moe_flags(job, cfg)
    if cfg["sp"] and cfg["tp"] > 1:
        a.append("--sequence-parallel")
    a += _flag("--micro-batch-size", cfg["micro_batch"])
    a += _flag("--global-batch-size", t.global_batch)
    recompute = planned_recompute(plan_stack(job, cfg), cfg["recompute"])  # layer SAC every layer is full
    if recompute in SELECTIVE_AC:  # op and layer with a note (RECOMPUTE_NOTES)
        a += _flag("--recompute-granularity", "selective")
        # the plan's list (one recommend searched, planner.search.space.recompute_module_lists) or the job's;
        # Megatron-LM arguments.py: nargs='*' (default ["core_attn"])
        mods = cfg.get("recompute_modules") or t.recompute_modules
        if mods is not None:
            a += ["--recompute-modules", *mods]
    elif recompute == "full":
        # every layer's input kept, the layer recomputed in backward (the planner's "full": uniform 1), or only N
        # layers per stage (block) / groups of N (uniform): training.recompute_method / recompute_num_layers
        method, n = cfg.get("recompute_method") or "uniform", cfg.get("recompute_num_layers") or 1
        a += ["--recompute-granularity", "full", "--recompute-method", method, "--recompute-num-layers", str(n)]
    if cfg.get("megatron_fsdp") and cfg["zero"] >= 2:  # the stack option megatron_fsdp
        a += megatron_fsdp_flags(cfg["zero"])
    elif t.optimizer == "muon":
        # Muon (planner.model.optimizers): Megatron-LM arguments.py --optimizer choices adam/sgd/muon/dist_muon;
        # dist_muon is the layer-wise distributed optimizer (ZeRO-1's memory) without --use-distributed-optimizer
        # (megatron/core/optimizer/muon.py: "muon with dist optimizer is not supported."), muon every rank whole
        a += _flag("--optimizer", "dist_muon" if cfg["zero"] >= 1 else "muon")
    else:
        # the optimizer the plan priced (planner.model.optimizers RUNTIME_OPTIMIZERS: --optimizer sgd / lion, none for
        # Megatron's default adam); until optim36 every non-Muon plan launched Adam, whatever it priced
        a += launch_args("megatron", t.optimizer)
        if cfg["zero"] in (1, 2):
            a.append("--use-distributed-optimizer")
        elif cfg["zero"] == 3:
            a += MEGATRON_FSDP2_FLAGS
            if not cfg.get("reshard_after_forward", plan_stack(job, cfg).reshard_after_forward):
                # the plan keeps each unit gathered from forward to backward (stack option reshard_after_forward,
                # memory and step_time price it): Megatron-LM's torch FSDP2 reshards by default (training.py
                # get_model: TorchFullyShardedDataParallelConfig(reshard_after_forward=
                # args.torch_fsdp2_reshard_after_forward)); --torch-fsdp2-no-reshard-after-forward (store_false),
                # kept by the newer --torch-fsdp2-reshard-after-forward parser as the legacy spelling. Until
                # 2026-12-03 such a plan launched resharding
                a.append("--torch-fsdp2-no-reshard-after-forward")
    hsdp = cfg.get("dp_shard")
    if hsdp is not None and hsdp < cfg["dp"] and cfg["zero"] >= 1:
        # HSDP: the distributed optimizer (or Megatron-FSDP) sharded over dp_shard x cp ranks, dp / dp_shard
        # instances (Megatron-LM arguments.py --num-distributed-optimizer-instances; DistributedDataParallelConfig
        # num_distributed_optimizer_instances: the intra-instance group is contiguous DP x CP ranks)
        a += _flag("--num-distributed-optimizer-instances", cfg["dp"] // hsdp)
    st = stack_for(plan_stack(job, cfg), t)  # the stack the plan was timed with, as its optimizer runs it
    if not st.gradient_accumulation_fusion and "--no-gradient-accumulation-fusion" not in a:
        # the stack option gradient_accumulation_fusion: false, priced as an unfused pass a micro-batch
        # (Stack.grad_accum_pass); Megatron-LM arguments.py --no-gradient-accumulation-fusion (store_false, on
        # without it). Without the flag Megatron would fuse, or stop at ColumnParallelLinear where apex's
        # fused_weight_gradient_mlp_cuda is missing (core/tensor_parallel/layers.py: "you must turn off gradient
        # accumulation fusion")
        a.append("--no-gradient-accumulation-fusion")
    if cfg["dp"] > 1 and st.overlap_grad_reduce:
        a.append("--overlap-grad-reduce")  # the time model overlaps the DP reduce with backward (Stack option)
        if st.overlap_param_gather and cfg["zero"] >= 1 and "--use-distributed-optimizer" in a:
            # the time model hides the distributed optimizer's parameter all-gather under the next forward
            # (step_time: Stack.overlap_param_gather); without the flag Megatron gathers synchronously after
            # the step. Megatron-LM validate_args: needs the distributed optimizer and --overlap-grad-reduce
            a.append("--overlap-param-gather")
            a += _interleaved_gather_flags(st, cfg)
    offload = cfg.get("offload", "none")  # training.framework offload options (planner.model.offload)
    if "optimizer" in offload:  # HybridDeviceOptimizer, the whole optimizer on the CPU (arguments.py: needs the
        # precision-aware optimizer, which needs the distributed one)
        a += ([] if "--use-distributed-optimizer" in a else ["--use-distributed-optimizer"])
        a += ["--use-precision-aware-optimizer", "--optimizer-cpu-offload"] + _flag("--optimizer-offload-fraction", 1.0)
    elif st.precision_aware_optimizer:  # TE FusedAdam at the state dtypes the plan priced (optimizers.PrecisionAware;
        # its distributed optimizer, ZeRO-1, is written above: stack_rules mcore-pa-zero)
        a.append("--use-precision-aware-optimizer")
        for flag, dtype in (("--exp-avg-dtype", st.exp_avg_dtype), ("--exp-avg-sq-dtype", st.exp_avg_sq_dtype),
                            ("--main-params-dtype", st.main_params_dtype)):
            a += _flag(flag, dtype) if dtype != "fp32" else []  # fp32: Megatron's default
    if "activation" in offload:  # the job's layer count (Stack.activation_offload_layers), else every layer but the
        # last (TransformerConfig: fewer than num_layers); Megatron-LM arguments.py --cpu-offloading,
        # --cpu-offloading-num-layers (planner.model.offload ``offloaded_layers``, the count the plan was timed with)
        n = st.activation_offload_layers if st.activation_offload_layers is not None else m.layers - 1
        a += ["--cpu-offloading"] + _flag("--cpu-offloading-num-layers", n)
    a += _cuda_graph_flags(job)
    # architecture
    a += _flag("--num-layers", m.layers) + _flag("--hidden-size", m.hidden)
    a += _flag("--num-attention-heads", m.heads) + _flag("--ffn-hidden-size", m.dense_width)
    if m.mla is not None:  # DeepSeek multi-head latent attention (Megatron MLATransformerConfig)
        a.append("--multi-latent-attention")
        if m.mla.q_lora_rank:
            a += _flag("--q-lora-rank", m.mla.q_lora_rank)
        a += _flag("--kv-lora-rank", m.mla.kv_lora_rank) + _flag("--qk-head-dim", m.mla.qk_nope_head_dim)
        a += _flag("--qk-pos-emb-head-dim", m.mla.qk_rope_head_dim) + _flag("--v-head-dim", m.mla.v_head_dim)
    elif m.head_dim * m.heads != m.hidden:
        a += _flag("--kv-channels", m.head_dim)
    if m.kv_heads != m.heads:
        a += ["--group-query-attention"] + _flag("--num-query-groups", m.kv_heads)
    for feature, lacks in MEGATRON_LACKS:
        if lacks(m):
            raise InputError("--emit", f"Megatron-Core 0.16.1 cannot build {m.name}'s {feature}; the plan is timed for "
                                       "it, but no Megatron flag expresses it")
    if m.qk_norm == "head":  # Qwen3: RMSNorm over each head's q and k
        a.append("--qk-layernorm")
    if m.attention_sinks:  # gpt-oss: a learned sink logit per head (TransformerConfig.softmax_type)
        a += _flag("--softmax-type", "learnable")
    if m.sliding_window and m.local_layers:
        # TE/Megatron window (left, right): a query at i sees keys [i - left, i + right]; the HF window
        # counts the query itself (masking_utils.sliding_window_overlay: kv_idx > q_idx - window), so
        # left = window - 1 (as Megatron-Bridge's Gemma 2 provider writes (4095, 0) for HF's 4096)
        a += _flag("--window-size", f"{m.sliding_window - 1},0")
        freq = window_skip_freq(m)
        if freq is not None:
            a += _flag("--window-attn-skip-freq", freq)
    if m.mtp_layers:  # DeepSeek-V3 multi-token prediction modules (TransformerConfig.mtp_num_layers)
        a += _flag("--mtp-num-layers", m.mtp_layers)
    if m.moe is not None:
        e = m.moe
        a += _flag("--num-experts", e.experts) + _flag("--moe-router-topk", e.top_k)
        if e.top_k == 1:  # Megatron-Core TransformerConfig: "Please use --moe-router-pre-softmax when topk is 1."
            a.append("--moe-router-pre-softmax")
        a += _flag("--moe-ffn-hidden-size", m.ffn_hidden)  # per expert; --ffn-hidden-size is the dense layers'
        if m.moe_layers != m.layers and not m.hybrid:  # which layers are MoE, as Megatron's explicit 0/1 pattern
            # (a hybrid model's MoE layers are its pattern's E: --hybrid-override-pattern)
            moe = set(m.moe_layer_ids)
            a += _flag("--moe-layer-freq", "[" + ",".join("1" if i in moe else "0" for i in range(m.layers)) + "]")
        if e.shared_experts:
            a += _flag("--moe-shared-expert-intermediate-size", e.shared_ffn_hidden or e.shared_experts * m.ffn_hidden)
            if e.shared_expert_gate:
                a.append("--moe-shared-expert-gate")
        if e.groups > 1:  # DeepSeek group-limited routing
            a += _flag("--moe-router-num-groups", e.groups) + _flag("--moe-router-group-topk", e.topk_groups)
        if e.score_function != "softmax":  # DeepSeek-V3 / Kimi-K2: sigmoid scores
            a += _flag("--moe-router-score-function", e.score_function)
        if e.expert_bias:  # and the auxiliary-loss-free balancing bias (DeepSeek-V3 report §2.1.2)
            a.append("--moe-router-enable-expert-bias")
        if e.latent_size:  # LatentMoE (TransformerConfig.moe_latent_size; NVIDIA's Nemotron 3 Super scripts)
            a += _flag("--moe-latent-size", e.latent_size)
        if not e.dropless:  # token dropping at the capacity factor, padded where the plan was timed so (moe.expert_load)
            a += _flag("--moe-expert-capacity-factor", e.capacity_factor)
            if e.pad_to_capacity:
                a.append("--moe-pad-expert-input-to-capacity")
    if m.hybrid:
        a += _hybrid_flags(m)
    if m.gated:
        a.append("--swiglu")
    elif m.mlp == "relu2":  # Nemotron-H / Nemotron 3's squared ReLU (Megatron-LM arguments.py --squared-relu)
        a.append("--squared-relu")
    a += _flag("--normalization", "RMSNorm" if m.norm == "rmsnorm" else "LayerNorm")
    if m.position in ("rope", "none"):  # Megatron-LM's default is learned_absolute
        a += _flag("--position-embedding-type", m.position)
    a += megatron_rope_flags(m)[0]  # the notes: launch_notes
    if not m.tied_embeddings:
        a.append("--untie-embeddings-and-output-weights")
    if not m.linear_bias:
        a.append("--disable-bias-linear")
    if not t.dropout:  # the plan priced none: Megatron's 0.1 default would add masks and kernels
        a += [x for flag in MEGATRON_DROPOUT_FLAGS for x in _flag(flag, 0.0)]
    if m.qkv_bias:
        a.append("--add-qkv-bias")
    if m.position == "learned" and m.max_positions and t.seq_len > m.max_positions:
        # the learned table has max_positions rows: Megatron would build a longer one than the model priced
        raise InputError("training.seq_len", f"{t.seq_len} exceeds {m.name}'s {m.max_positions} learned positions")
    a += _flag("--seq-length", t.seq_len) + _flag("--max-position-embeddings", max(t.seq_len, m.max_positions or 0))
    a += _precision_flags(job)
    a += _numerics_flags(job, cfg, a, gpu)
    if t.flash_attention:
        a += _flag("--attention-backend", megatron_attention_backend(plan_stack(job, cfg)))
    a += _flag("--train-iters", int(steps))
    a += ["--data-path", "$DATA_PATH", "--tokenizer-type", "HuggingFaceTokenizer",
          "--tokenizer-model", "$TOKENIZER", "--save", "$CKPT_DIR", "--save-interval", str(save_every),
          "--load", "$CKPT_DIR"]
    # a hybrid model is Megatron-Core's MambaModel, built by pretrain_mamba.py (pretrain_gpt.py builds a GPTModel:
    # every layer attention + MLP, not the model the plan was timed for)
    return [f"$MEGATRON_DIR/{'pretrain_mamba.py' if m.hybrid else 'pretrain_gpt.py'}"] + a


#: MambaMixer's conv1d taps and SSD chunk length (megatron/core/ssm/mamba_mixer.py defaults): the Megatron-LM
#: hybrid launch scripts pass no flag for them (examples/post_training/modelopt/conf/nvidia/Nemotron-H-8B-Base-8K.sh,
#: NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.sh), so a launch can only build these
MEGATRON_MAMBA_FIXED = {"d_conv": 4, "chunk_size": 128}


def _hybrid_flags(m) -> list[str]:
    """A hybrid (Mamba) model's Megatron-LM flags, as NVIDIA's Nemotron-H / Nemotron 3 launch scripts write
    them (examples/post_training/modelopt/conf/nvidia/Nemotron-H-8B-Base-8K.sh): the layer pattern and the
    Mamba-2 mixer's heads, head width, B/C groups and state size."""
    a = m.mamba
    for field, fixed in MEGATRON_MAMBA_FIXED.items():
        if a is not None and getattr(a, field) != fixed:
            raise InputError("--emit", f"model.mamba.{field} {getattr(a, field)}: Megatron-LM's MambaMixer is built "
                                       f"with {fixed} and no launch flag sets it; the plan is timed for {m.name}'s")
    out = ["--is-hybrid-model"] + _flag("--hybrid-override-pattern", m.hybrid_pattern)
    if m.mtp_layers:  # the MTP depth's own pattern ("*E", schema) and shared weights, as the Super / Lightning
        # launch scripts pass them with --mtp-num-layers (TransformerConfig mtp_hybrid_override_pattern,
        # mtp_use_repeated_layer); Megatron-LM's newest arguments.py also reads them from a "/"-suffixed pattern
        out += _flag("--mtp-hybrid-override-pattern", "*E") + (["--mtp-use-repeated-layer"] if m.mtp_repeated else [])
        out += ["--mtp-spec", "megatron.core.models.mamba.mamba_layer_specs", "mamba_stack_spec"]  # as those scripts
    if a is not None:
        out += _flag("--mamba-num-heads", m.mamba_heads) + _flag("--mamba-head-dim", a.head_dim)
        out += _flag("--mamba-num-groups", a.groups) + _flag("--mamba-state-dim", a.d_state)
    return out


def titan_local_batch(global_batch: int, cfg: dict) -> int:
    """torchtitan's ``training.local_batch_size`` for the plan. torchtitan (trainer.py, 0.3.0)
    runs ``global / (local x dp)`` gradient-accumulation steps and, with PP, splits each local
    batch into ``local / pipeline_parallel_microbatch_size`` pipeline micro-batches. So without PP
    local = the micro-batch (accumulation does the rest); with PP local = the whole per-replica
    batch, ``global / dp`` = micro-batch x micro-batches per step (one pipeline pass, no
    accumulation), or the pipeline would see a single micro-batch and the schedule would be all bubble --
    unless the plan runs several smaller passes (``pp_pass_microbatches``, Stack.pp_pass_microbatches: the
    job's or the one recommend chose): local = micro-batch x the pass's micro-batches, and torchtitan
    accumulates ``global / (local x dp)`` of them. NeMo AutoModel's step scheduler reads it the same way."""
    if cfg["pp"] > 1:
        if global_batch % cfg["dp"] or (global_batch // cfg["dp"]) % cfg["micro_batch"]:
            raise InputError("training.global_batch", f"{global_batch} is not a multiple of DP{cfg['dp']} x "
                                                      f"micro-batch {cfg['micro_batch']}: torchtitan's pipeline needs it")
        m = global_batch // cfg["dp"] // cfg["micro_batch"]
        run = cfg.get("pp_pass_microbatches") or m
        if m % min(run, m):  # trainer.py: global_batch_size % (local_batch_size x dp) == 0, or it stops
            raise InputError("training.framework.pp_pass_microbatches",
                             f"{run} does not divide the step's {m} micro-batches (global {global_batch} / DP"
                             f"{cfg['dp']} / micro-batch {cfg['micro_batch']}): the loop runs whole passes")
        return cfg["micro_batch"] * min(run, m)
    return cfg["micro_batch"]


def planned_recompute(st, recompute: str) -> str:
    """What the plan's ``recompute`` (none / selective / full) re-runs on the stack ``st`` it was timed with: "none",
    "full", or under selective the stack's own kind (``Stack.selective``): "attention_core" (Megatron's, Korthikanti
    et al. 2022), "op" (torchtitan's per-op SAC) or "layer" (torchtitan layer SAC, each ``Stack.layer_sac_every``-th
    layer rebuilt whole); layer SAC every layer (``ac_freq`` 1) is "full" (planner.model.pipeline.recomputed_fraction
    counts every layer, as full recompute)."""
    if recompute != "selective":
        return recompute
    if st.selective == "layer" and st.layer_sac_every == 1:
        return "full"
    return st.selective


#: torchtitan 0.3's ``activation-checkpoint:MODE`` subcommand (torchtitan/distributed/activation_checkpoint.py
#: ``ActivationCheckpointingConfig``: ``selective`` = SelectiveAC, per-op SAC -- compute and communication outputs
#: saved but every second mm; ``full`` = FullAC; ``none``) for each ``planned_recompute``. 0.3 has no layer SAC (the
#: ``--activation_checkpoint.selective_ac_option <n>`` of torchtitan before 0.3, job_config.py ActivationCheckpoint,
#: default "2") and no attention-core-only policy: a layer-SAC plan launches as full AC, which keeps no more than
#: the plan priced (each layer's input only) and rebuilds more layers; both are said in a note (``RECOMPUTE_NOTES``).
#: Until 2026-12-03 every selective plan launched as ``selective``: a layer-SAC plan ran per-op SAC, another policy
#: with other memory and time than priced
TITAN_AC = {"none": "none", "full": "full", "op": "selective", "attention_core": "selective", "layer": "full"}
#: the tyro subcommand that selects it (ActivationCheckpointingConfig's ``tyro.conf.subcommand`` names), given last
TITAN_AC_SUBCOMMAND = "activation-checkpoint:"
#: what each launcher style runs for a ``planned_recompute`` it has no policy for, as a ``# note:`` line
#: (``{n}``: layer SAC's n, ``{stack}``: the plan's stack). Megatron's selective is the attention core (and
#: ``--recompute-modules``); torchtitan 0.3's and NeMo AutoModel's selective is per-op SAC (AUTOMODEL_AC)
_LAYER_SAC = ("the plan is layer SAC, one layer in {n} rebuilt (training.framework ac_freq {n}), which {runner} has "
              "no policy for: this line runs full activation checkpointing (every layer rebuilt: within the planned "
              "memory, slower than planned)")
RECOMPUTE_NOTES = {
    "fsdp": {"layer": _LAYER_SAC.format(n="{n}", runner="torchtitan 0.3") + "; for the planned run use torchtitan before "
                      "0.3 (--activation_checkpoint.mode selective --activation_checkpoint.selective_ac_option {n})",
             "attention_core": "the plan recomputes the attention core ({stack}'s selective recompute); torchtitan's "
                               "selective is per-op SAC, which keeps other tensors: its memory and time differ"},
    "automodel": {"layer": _LAYER_SAC.format(n="{n}", runner="NeMo AutoModel"),
                  "attention_core": "the plan recomputes the attention core ({stack}'s selective recompute); AutoModel's "
                                    "selective is per-op SAC, which keeps other tensors: its memory and time differ"},
    "megatron": {"op": "the plan is per-op SAC ({stack}'s selective recompute); Megatron's selective recomputes the "
                       "attention core (--recompute-modules): its memory and time differ",
                 "layer": "the plan is layer SAC, one layer in {n} rebuilt; Megatron's selective recomputes the "
                          "attention core: its memory and time differ"},
}


#: the user script's flag for each ZeRO stage plain torch DDP runs (stack rule ddp-zero: 0 and 1): ZeRO-1 is torch's
#: ``ZeroRedundancyOptimizer`` around the optimizer (torch/distributed/optim/zero_redundancy_optimizer.py: the
#: optimizer state sharded over the data-parallel ranks, the parameters synced after ``step()``)
DDP_ZERO_FLAGS = {0: [], 1: ["--zero-redundancy-optimizer"]}


def script_args(job: JobSpec, cfg: dict, steps: float, layout_flags: list[str]) -> list[str]:
    """The user's own training script (``$TRAIN_SCRIPT``) with the plan as flags in the planner's names -- the
    per-GPU micro-batch, the global batch, the gradient accumulation steps that make it (the plan's micro-batches a
    replica), the sequence length of a transformer, ``layout_flags`` (a generic model's FSDP sharding, a DDP plan's
    ZeroRedundancyOptimizer), the precision, the steps and the recompute: the launch of a generic model and of the
    plain-DDP stacks (``RUNTIME_STYLE`` ddp), whose code is the user's. The accumulation flag since QA 100."""
    t = job.training
    seq = _flag("--seq-len", t.seq_len) if job.model is not None and job.model.is_transformer else []
    return (["$TRAIN_SCRIPT"] + _flag("--micro-batch-size", cfg["micro_batch"])
            + _flag("--global-batch-size", t.global_batch)
            + _flag("--gradient-accumulation-steps", round(float(cfg["num_microbatches"]))) + seq + layout_flags
            + _flag("--precision", t.precision) + _flag("--steps", int(steps))
            + (["--activation-checkpointing"] if cfg["recompute"] != "none" else []))


#: what a dle-bert plan's fp16 passes to run_pretraining.py: --fp16 (the 21.11 script's --amp is the same switch:
#: ``args.fp16 = args.fp16 or args.amp``) and the gradient all-reduce after the accumulation, in float16, as
#: scripts/run_pretraining.sh runs it by default (allreduce_post_accumulation / _fp16 "true"); setup_training turns the
#: two off at one micro-batch a step. fp32 passes none
DLE_BERT_PRECISION_FLAGS = {"fp16": ["--fp16", "--allreduce_post_accumulation", "--allreduce_post_accumulation_fp16"],
                            "fp32": ["--allreduce_post_accumulation"]}


#: the DLE BERT the launch is written for, said in its header: the run_pretraining.py the rules and flags were read in
#: (planner.model.stack_rules ``_DLE_BERT``: the LDDL / FusedLAMBAMP script of the 21.11 tables), whose
#: ``--local_rank`` defaults to ``$LOCAL_RANK``, which torchrun sets. The older apex-based script (apex FusedLAMB, apex
#: DDP; NVIDIA/DeepLearningExamples @042e8724, read 2026-12-07) defaults ``--local_rank`` to -1 and reads
#: ``$LOCAL_RANK`` only under ``--use_env`` (``main``: ``if args.use_env and 'LOCAL_RANK' in os.environ``); at -1
#: ``setup_training`` starts no process group and each torchrun process wraps every GPU in DataParallel. Unsaid until
#: QA 103
DLE_BERT_TARGET = ("NVIDIA DeepLearningExamples' PyTorch/LanguageModeling/BERT folder (its container): the LDDL / "
                   "FusedLAMBAMP run_pretraining.py of its 21.11 tables, whose --local_rank defaults to $LOCAL_RANK, "
                   "which torchrun sets; an older apex-based copy reads it only with --use_env: add that flag, or it "
                   "runs each process on every GPU")


def dle_bert_args(job: JobSpec, cfg: dict, steps: float, save_every: int) -> list[str]:
    """NVIDIA DeepLearningExamples' BERT pre-training (stack ``dle-bert``) as its own script runs it:
    ``run_pretraining.py`` under torchrun with the flags its ``parse_arguments`` reads (PyTorch/LanguageModeling/BERT
    run_pretraining.py; scripts/run_pretraining.sh writes the same). ``--train_batch_size`` is a GPU's batch per
    optimizer step, which ``setup_training`` divides by ``--gradient_accumulation_steps`` into the micro-batch (the
    plan's micro-batch times its micro-batches a replica); ``--max_predictions_per_seq`` the masked positions the head
    runs on (``training.head_tokens_per_seq``, the script's default 80 where the job leaves it out);
    ``--checkpoint_activations`` its one recompute, whole layers; ``--local_rank`` defaults to $LOCAL_RANK, which
    torchrun sets. The data, the model's bert_config.json and the output folder are the user's."""
    t = job.training
    accum = round(float(cfg["num_microbatches"]))
    head = t.head_tokens_per_seq
    return (["$DLE_BERT_DIR/run_pretraining.py", "--do_train", "--input_dir", "$DATA_DIR", "--config_file",
             "$BERT_CONFIG", "--output_dir", "$CKPT_DIR"]
            + _flag("--train_batch_size", cfg["micro_batch"] * accum) + _flag("--gradient_accumulation_steps", accum)
            + _flag("--max_seq_length", t.seq_len) + (_flag("--max_predictions_per_seq", int(head)) if head else [])
            + _flag("--max_steps", int(steps)) + _flag("--num_steps_per_checkpoint", save_every)
            + DLE_BERT_PRECISION_FLAGS.get(t.precision, [])
            + (["--checkpoint_activations"] if cfg["recompute"] != "none" else []))


def fsdp_args(job: JobSpec, cfg: dict, steps: float, save_every: int = 1000) -> list[str]:
    """torchtitan (FSDP2 + TP/PP/CP/EP) arguments; for generic models, a user script's flags."""
    t = job.training
    reshard = FSDP_RESHARD[cfg["zero"]]
    if reshard == "always" and cfg.get("reshard_after_forward") is False:  # the plan's stack option
        reshard = "never"
    # under PP the plan was timed with the stage's weights kept gathered all step (Stack.pp_fsdp_unsharded:
    # torchtitan's "default" policy, ``reshard_after_forward = not pp_enabled``); "always" sets reshard_after_forward
    # True with PP too (parallelize.py apply_fsdp), a gather per micro-batch the plan did not price
    if reshard == "always" and cfg["pp"] > 1 and plan_stack(job, cfg).pp_fsdp_unsharded:
        reshard = "never"
    sharded = reshard is not None
    # HSDP (the plan's dp_shard below dp): FSDP over dp_shard ranks, replicated over dp / dp_shard (torchtitan's
    # 2-D mesh dp_replicate x dp_shard, parallel_dims.py; FSDP1 HYBRID_SHARD / _HYBRID_SHARD_ZERO2)
    dp_shard = cfg.get("dp_shard") or cfg["dp"]
    hsdp = sharded and dp_shard < cfg["dp"]
    if job.model is not None and not job.model.is_transformer:
        strategy = {0: "NO_SHARD", 1: "NO_SHARD", 2: "SHARD_GRAD_OP", 3: "FULL_SHARD"}[cfg["zero"]]
        if hsdp:
            strategy = {2: "_HYBRID_SHARD_ZERO2", 3: "HYBRID_SHARD"}[cfg["zero"]]
        return script_args(job, cfg, steps, _flag("--fsdp-sharding-strategy", strategy))
    # what torchtitan refuses (offloads without FSDP, EP without FSDP ranks, its expert-TP, uneven stages) was
    # checked by check_stack_rules (planner.model.stack_rules)
    shard = dp_shard if sharded else 1
    # torchtitan 0.3 (PyPI): the model and data come from a config_registry function of a module
    a = ["-m", "torchtitan.train", "--module", "$TITAN_MODULE", "--config", "$TITAN_CONFIG"]
    a += _flag("--parallelism.data_parallel_shard_degree", shard)
    a += _flag("--parallelism.data_parallel_replicate_degree", cfg["dp"] // shard)
    a += _flag("--parallelism.tensor_parallel_degree", cfg["tp"])
    if cfg["tp"] > 1:  # ParallelismConfig.enable_sequence_parallel (0.3: default True; a config function may turn it off)
        a.append("--parallelism.enable_sequence_parallel" if cfg["sp"] else "--parallelism.no_enable_sequence_parallel")
    a += _flag("--parallelism.pipeline_parallel_degree", cfg["pp"])
    local = titan_local_batch(t.global_batch, cfg)
    if cfg["pp"] > 1:
        # DualPipeV: torch's ScheduleDualPipeV, two stages a rank in a V (pipeline_module_split style "v"); its EP
        # overlap (pipeline_parallel_expert_parallel_overlap) is on by default and left so
        dual = cfg.get("schedule") == "dualpipev"
        a += _flag("--parallelism.pipeline_parallel_schedule",
                   "DualPipeV" if dual else "Interleaved1F1B" if cfg["vpp"] > 1 else "1F1B")
        a += _flag("--parallelism.pipeline_parallel_microbatch_size", cfg["micro_batch"])
        # the planned stages: without layers_per_stage torchtitan makes 2 stages per rank for any
        # interleaved schedule (pipeline_parallel.py pipeline_llm), and counts the embedding and output as
        # first/last "less layers" (default 1 each): the pair the plan priced (pipeline.titan_less_layers: the
        # job's, or the lightest pacing stage where it left them open, DualPipeV's by its V's ranks), and
        # the fullest stage's effective layers, so torchtitan builds exactly PP x VPP stages (stack_rules
        # "titan-pp-stages")
        stages = cfg["pp"] * (2 if dual else cfg["vpp"])
        less = titan_less_layers(job.model.layers, cfg["pp"], V_SPLIT if dual else cfg["vpp"],
                                 split_runtime(plan_stack(job, cfg), job.model))
        lps = int(stack_rules.titan_layers_per_stage(job.model.layers, stages, *less))
        a += _flag("--parallelism.pipeline_parallel_layers_per_stage", lps)
        a += _flag("--parallelism.pipeline_parallel_first_stage_less_layers", less[0])
        a += _flag("--parallelism.pipeline_parallel_last_stage_less_layers", less[1])
    a += _flag("--parallelism.context_parallel_degree", cfg["cp"])
    a += _flag("--parallelism.expert_parallel_degree", cfg["ep"])
    if sharded:
        a += _flag("--parallelism.fsdp_reshard_after_forward", reshard)
        # FSDP2 CPUOffloadPolicy (also moves the parameters); written either way, as every option a config function
        # ($TITAN_CONFIG, the flags' defaults) may set otherwise than the plan
        a.append("--training.enable_cpu_offload" if "optimizer" in cfg.get("offload", "none")
                 else "--training.no_enable_cpu_offload")
    a += _flag("--training.local_batch_size", local)
    a += _flag("--training.global_batch_size", t.global_batch)
    a += _flag("--training.seq_len", t.seq_len)
    a += _flag("--training.steps", int(steps))
    a += _flag("--training.mixed_precision_param", TITAN_PRECISION[t.precision])
    if sharded and t.grad_dtype == "same" and t.precision != "fp32":
        # the plan's 16-bit reduce-scatter (training.grad_dtype; step_time's DP bytes): FSDP2's reduce_dtype, float32
        # unless set (torchtitan config training.mixed_precision_reduce; versions whose Literal has only "float32"
        # refuse it at launch rather than run another reduce than the plan's)
        a += _flag("--training.mixed_precision_reduce", "bfloat16")
    st = plan_stack(job, cfg)
    if st.compile:  # the plan's kernels and loss were timed compiled (Stack.compile; torchtitan CompileConfig,
        # default off, components model + loss, comma-separated on its command line); async TP is a compile pass
        # (CompileConfig.__post_init__). Each written either way: torchtitan's own config functions set them
        # otherwise (deepseek_v3's and kimi_k2_7's compile the loss alone: CompileConfig(enable=True, components=["loss"]))
        a += ["--compile.enable"] + _flag("--compile.components", "model,loss")
        async_tp = cfg["tp"] > 1 and st.tp_overlap == "async_tp"
        a.append("--compile.enable_async_tensor_parallel" if async_tp else "--compile.no_enable_async_tensor_parallel")
    else:
        a.append("--compile.no_enable")
    # checkpoints as in the megatron style: torchtitan writes them under <dump_folder>/checkpoint
    a += _flag("--dump_folder", "$CKPT_DIR") + ["--checkpoint.enable"] + _flag("--checkpoint.interval", save_every)
    if cfg["pp"] > 1 or cfg["ep"] > 1:
        a.append("--training.disable_cuda_graphs")  # torchtitan 0.3 refuses CUDA graphs with PP (and most EP)
    # torchtitan 0.3 makes the activation-checkpoint mode a (tyro) subcommand, given last
    a.append(TITAN_AC_SUBCOMMAND + TITAN_AC[planned_recompute(st, cfg["recompute"])])
    return a


#: NeMo AutoModel's recipe entry point for pre-training (examples/llm_pretrain/pretrain.py:
#: ``parse_args_and_load_config`` then ``PretrainRecipeForNextTokenPrediction``), run from a checkout
AUTOMODEL_SCRIPT = "$AUTOMODEL_DIR/examples/llm_pretrain/pretrain.py"
#: the plan's recompute (``planned_recompute``) -> AutoModel ``distributed.activation_checkpointing`` (FSDP2Config:
#: ``True``/"full" wraps each block in torch's checkpoint, "selective" the per-op SAC policy the stack's
#: ``selective="op"`` prices); layer SAC and the attention core, which it has no policy for, as TITAN_AC with a note
AUTOMODEL_AC = {"none": "False", "full": "full", "op": "selective", "attention_core": "selective", "layer": "full"}


#: the class each AutoModel ``loss_fn`` option names (Stack.loss_fn; NVIDIA-NeMo/Automodel components/loss/)
AUTOMODEL_LOSS_TARGETS = {
    "masked_ce": "nemo_automodel.components.loss.masked_ce.MaskedCrossEntropy",
    "masked_ce_chunked": "nemo_automodel.components.loss.masked_ce.MaskedCrossEntropy",
    "linear_ce": "nemo_automodel.components.loss.linear_ce.FusedLinearCrossEntropy",
    "te_parallel_ce": "nemo_automodel.components.loss.te_parallel_ce.TEParallelCrossEntropy",
}
assert tuple(AUTOMODEL_LOSS_TARGETS) == LOSS_FN.names


def automodel_args(job: JobSpec, cfg: dict, steps: float, save_every: int = 1000) -> list[str]:
    """NeMo AutoModel arguments for the plan: its recipe script with ``--config $AUTOMODEL_CONFIG`` (the model, data
    and optimizer: the user's recipe YAML) and the layout as dotted overrides, which its config loader applies on top
    (components/config/_arg_parser.py ``parse_cli_argv``: ``--key.sub value`` -> ``ConfigNode.set_by_dotted``). Keys as
    the recipe YAML names them (recipes/_dist_setup.py ``parse_distributed_section``, components/distributed/config.py
    ``FSDP2Config``, examples/llm_pretrain/llama3_70b_pretrain.yaml; NVIDIA-NeMo/Automodel, read 2026-12-02):

    * ``step_scheduler.global_batch_size`` / ``local_batch_size`` (per data-parallel rank; with PP the rank's whole
      batch, split into ``distributed.pipeline.pp_microbatch_size`` micro-batches, train_ft.py ``_get_num_thd_chunks``,
      as torchtitan: ``titan_local_batch``), ``max_steps``, ``ckpt_every_steps``;
    * ``distributed.strategy`` fsdp2 (ZeRO-2/3: FSDP2 ``fully_shard``, ``reshard_after_forward`` False at ZeRO-2, the
      stack option at ZeRO-3, and the MoE parallelizer's ``distributed.moe.reshard_after_forward``) or ddp (ZeRO-0);
      ZeRO-1 has no AutoModel strategy and is refused;
    * ``distributed.dp_size`` (the whole data-parallel group) and, under HSDP, ``dp_replicate_size`` = dp / dp_shard;
      ``tp_size``, ``cp_size``, ``pp_size``, ``ep_size``, ``sequence_parallel``; ``distributed.pipeline.pp_schedule``
      (1f1b / interleaved1f1b), ``pp_microbatch_size``, ``layers_per_stage`` (the fullest stage's, as torchtitan);
    * ``distributed.activation_checkpointing`` (``AUTOMODEL_AC``) and ``defer_fsdp_grad_sync``: the stack option of
      that name (the loop's gradient sync on the last micro-batch only, default on, as FSDP2Config's), on also with
      ``fsdp_defer_sync``, whose ``MoEFSDPSyncMixin`` state ``get_sync_ctx`` would otherwise turn back on every
      micro-batch (written either way: releases before the switch always deferred); with ``fsdp_defer_sync`` on a MoE
      model, ``model.backend.enable_fsdp_optimizations`` (the benchmark configs' BackendConfig key, e.g.
      examples/benchmark/configs/nemotron_nano_v3_te_deepep.yaml);
    * ``loss_fn.fp32_upcast``: the ``ce_fp32_upcast`` the plan's logits were priced with (Stack.ce_fp32_upcast), for
      the ``MaskedCrossEntropy`` loss the entry prices (components/loss/masked_ce.py; the config names the loss);
      another ``loss_fn`` option (Stack.loss_fn) as ``loss_fn._target_`` (``AUTOMODEL_LOSS_TARGETS``), with
      ``loss_fn.chunk_size`` for the chunked loss and, for ``FusedLinearCrossEntropy``, ``model.output_hidden_states``
      (train_ft.py refuses the loss without it);
    * ``checkpoint.enabled`` / ``checkpoint_dir``."""
    t = job.training
    st = plan_stack(job, cfg)
    zero = cfg["zero"]
    if zero == 1:
        raise InputError("--emit", "NeMo AutoModel has no ZeRO-1: its data parallelism is FSDP2 (ZeRO-2/3) or DDP "
                                   "(ZeRO-0); plan with parallel.zero 0, 2 or 3")
    a = [AUTOMODEL_SCRIPT, "--config", "$AUTOMODEL_CONFIG"]
    a += _flag("--step_scheduler.global_batch_size", t.global_batch)
    a += _flag("--step_scheduler.local_batch_size", titan_local_batch(t.global_batch, cfg))
    a += _flag("--step_scheduler.max_steps", int(steps))
    a += _flag("--step_scheduler.ckpt_every_steps", save_every)
    a += _flag("--distributed.strategy", "fsdp2" if zero >= 2 else "ddp")
    a += _flag("--distributed.dp_size", cfg["dp"])
    dp_shard = cfg.get("dp_shard") or cfg["dp"]
    if zero >= 2 and dp_shard < cfg["dp"]:  # HSDP: FSDP2 over dp_shard ranks, dp / dp_shard replicas
        a += _flag("--distributed.dp_replicate_size", cfg["dp"] // dp_shard)
    for key, k in (("tp_size", "tp"), ("cp_size", "cp"), ("pp_size", "pp"), ("ep_size", "ep")):
        a += _flag(f"--distributed.{key}", cfg[k])
    if zero >= 2:
        a += _flag("--distributed.sequence_parallel", bool(cfg["sp"] and cfg["tp"] > 1))
        # as priced: under PP a dense model's stage stays gathered (Stack.dense_defaults, AutoModel's heuristic), which
        # ``true`` would override ("resharding everywhere, including pipeline-parallel layers")
        raf = replace(st, reshard_after_forward=bool(cfg.get("reshard_after_forward", st.reshard_after_forward)))
        reshard = zero == 3 and raf.raf_under_pp(cfg["pp"] > 1)
        a += _flag("--distributed.reshard_after_forward", bool(reshard))
        if job.model.moe is not None:
            a += _flag("--distributed.moe.reshard_after_forward", bool(reshard))
        a += _flag("--distributed.defer_fsdp_grad_sync", bool(st.defer_fsdp_grad_sync or st.fsdp_defer_sync))
        if st.fsdp_defer_sync and job.model.moe is not None:  # MoEFSDPSyncMixin's switch is the model's BackendConfig
            a += _flag("--model.backend.enable_fsdp_optimizations", True)
    a += _flag("--distributed.activation_checkpointing", AUTOMODEL_AC[planned_recompute(st, cfg["recompute"])])
    if st.loss == "masked_ce" and job.model.is_transformer:  # the loss's logits as priced (LOSS_TRANSIENT_BYTES)
        if st.loss_fn != "masked_ce":  # another loss class than the recipe YAML's MaskedCrossEntropy (Stack.loss_fn)
            a += _flag("--loss_fn._target_", AUTOMODEL_LOSS_TARGETS[st.loss_fn])
        if st.loss_fn in UPCAST_LOSS_FNS:
            a += _flag("--loss_fn.fp32_upcast", bool(st.ce_fp32_upcast))
        if st.loss_fn == "masked_ce_chunked":
            a += _flag("--loss_fn.chunk_size", int(st.ce_chunk_size))
        if st.loss_fn == "linear_ce":  # train_ft.py refuses it without: "requires the model to output hidden states"
            a += _flag("--model.output_hidden_states", True)
    if cfg["pp"] > 1:
        a += _flag("--distributed.pipeline.pp_schedule", "interleaved1f1b" if cfg["vpp"] > 1 else "1f1b")
        a += _flag("--distributed.pipeline.pp_microbatch_size", cfg["micro_batch"])
        lps = int(stack_rules.titan_layers_per_stage(job.model.layers, cfg["pp"] * cfg["vpp"]))
        a += _flag("--distributed.pipeline.layers_per_stage", lps)
    a += _flag("--checkpoint.enabled", True) + _flag("--checkpoint.checkpoint_dir", "$CKPT_DIR")
    return a


def plan_stack(job: JobSpec, cfg: dict):
    """The stack the plan was timed with: the job's, with the offloads the search chose."""
    st = from_training(job.training, model=job.model)
    off = cfg.get("offload", "none") or "none"
    st = replace(st, **{f"{k}_offload": k in off.split("+") for k in OFFLOAD_KINDS})
    if cfg.get("cp_comm_type") and st.cp_comm_types:  # the CP exchange recommend chose (Stack.cp_comm_type)
        st = replace(st, cp_comm_type=cp_comm_layers(cfg["cp_comm_type"]))  # (a per-layer list read back: a tuple)
    if cfg.get("pp_pass_microbatches"):  # the pass size recommend chose (Stack.pp_pass_microbatches)
        st = replace(st, pp_pass_microbatches=int(cfg["pp_pass_microbatches"]))
    if cfg.get("pp_split"):  # the stack's own pipeline split (Megatron's, torchtitan's), where the balanced one did not fit
        st = replace(st, pp_split=cfg["pp_split"])
    return replace(st, megatron_fsdp=bool(cfg["megatron_fsdp"])) if "megatron_fsdp" in cfg else st


def default_style(job: JobSpec, cfg: dict) -> str:
    """The launcher style of the plan's stack (``RUNTIME_STYLE``: the Megatron-Core stacks run Megatron,
    torchtitan runs torchtitan); for a stack with neither, megatron for ZeRO 0/1 and fsdp for 2/3. A generic model
    (a CNN) runs the user's script: under plain DDP's stacks the script style (its ZeRO-1 the
    ZeroRedundancyOptimizer flag the plan priced; until QA 101 the fsdp style's ``--fsdp-sharding-strategy NO_SHARD``,
    which shards nothing), else the fsdp style's script line with the sharding strategy (``GENERIC_FSDP_LABEL``)."""
    run = stack_rules.rules_runtime(from_training(job.training, model=job.model)) if job.model is not None else None
    if job.model is None or not job.model.is_transformer:
        return "script" if RUNTIME_STYLE.get(run) == "script" and not style_refusal(job, cfg, "script") else "fsdp"
    if run in RUNTIME_STYLE:
        return RUNTIME_STYLE[run]
    style = "fsdp" if cfg["zero"] >= 2 else "megatron"
    # neither launcher runs the plan's own code: the one that takes the plan, where the ZeRO stage's refuses it (a
    # Megatron-LM fp8 plan at ZeRO-3 was sent to torchtitan, which then had no tensorwise recipe, and refused with
    # "use the megatron style", which ran it)
    other = OTHER_STYLE[style]
    return other if style_refusal(job, cfg, style) and not style_refusal(job, cfg, other) else style


def style_refusal(job: JobSpec, cfg: dict, style: str) -> str | None:
    """The first rule of the code ``style``'s launcher runs that refuses the plan (the whole message: InputError cuts
    it), None where it runs the plan -- planner.model.stack_rules, the rules the search and ``estimate`` apply. A
    generic model is checked only by a runtime whose rules concern every model (``ANY_MODEL_RUNTIMES``: plain DDP's
    ZeRO-0/1 under the script style)."""
    run = STYLE_RUNTIME[style]
    if (job.model is None or not job.model.is_transformer) and run not in stack_rules.ANY_MODEL_RUNTIMES:
        return None
    hit = stack_rules.first_refusal(plan_stack(job, cfg), job.model, job.training, stack_rules.layout_of(cfg), run=run)
    return None if hit is None else hit[1]


#: room for the other style's reason when both styles refuse a plan (``check_stack_rules``): the first style's keeps
#: the rest of the one-line cap, ``MESSAGE_CHARS``
OTHER_REASON_CHARS = 110


def check_stack_rules(job: JobSpec, cfg: dict, style: str) -> None:
    """Refuse (``--emit``) a plan the style's launcher cannot run: the rules of the code it runs
    (planner.model.stack_rules, the same the search and ``estimate`` apply to the plan's own stack)."""
    msg = style_refusal(job, cfg, style)
    if msg is None:
        return
    other = OTHER_STYLE[style]
    # the hint must be true (a QLoRA plan was sent from each style to the other, which refuses it too) and must
    # survive the message cap (InputError keeps MESSAGE_CHARS): each rule's message is fitted to its share of the line
    # by the one rule (hardware_catalog.errors fit_message: its source citation and asides give way, not what is
    # refused). The other style's own reason is said too, short: "refuses it too" alone left the user guessing which
    # rule of the other launcher stood in the way
    why = style_refusal(job, cfg, other)
    hint = (OTHER_STYLE_HINT[style] if why is None else
            f"the {other} style refuses it too ({fit_message(why, OTHER_REASON_CHARS)}): no launch spec for this plan")
    raise InputError("--emit", f"{fit_message(msg, MESSAGE_CHARS - len(hint) - 2)}; {hint}")


#: What a fine-tuning plan (``training.mode``) needs from the launch that its layout flags do not say, per launcher
#: style: the emitted programs are the stacks' pre-training entry points. Megatron-LM's ``pretrain_gpt.py`` has no
#: adapters (LoRA runs through Megatron-Bridge's / NeMo's PEFT recipes on the same layout); torchtitan adds LoRA as a
#: model converter (pytorch/torchtitan PR #3264, merged 2026-05: ``LoRAConverter``) and starts a fine-tune from a
#: checkpoint (``checkpoint.initial_load_path``); NeMo AutoModel takes a ``peft`` section and the pretrained model's
#: name in its recipe YAML (examples/llm_finetune). Said beside the placeholder the user fills in, as the fp8 and
#: Muon notes are, so that the run is not silently a pre-training run of every weight.
FINETUNE_NOTES = {
    "megatron": {"lora": "the plan is LoRA: Megatron-LM's pretrain_gpt.py has no adapters; run this layout through "
                         "Megatron-Bridge's or NeMo's PEFT (LoRA) recipe, or every weight trains",
                 "full_finetune": "the plan fine-tunes: load the pretrained checkpoint (--pretrained-checkpoint, "
                                  "--finetune), or the run starts from random weights"},
    "fsdp": {"lora": "the plan is LoRA: pick one whose model has torchtitan's LoRA converter (PR #3264), or every "
                     "weight trains",
             "full_finetune": "the plan fine-tunes: set checkpoint.initial_load_path to the pretrained weights, or the "
                              "run starts from random weights"},
    "automodel": {"lora": "the plan is LoRA: give the config a peft section (as examples/llm_finetune/*peft*.yaml), "
                          "or every weight trains",
                  "full_finetune": "the plan fine-tunes: name the pretrained model in the config (as "
                                   "examples/llm_finetune/*.yaml), or the run starts from random weights"},
}


def finetune_note(job: JobSpec, style: str) -> str | None:
    """``FINETUNE_NOTES`` for this plan's ``training.mode`` (QLoRA reads as LoRA: the launch styles that accept it
    at all -- none today, stack_rules refuses QLoRA on each -- would need the same adapters), None for pre-training."""
    mode = getattr(job.training, "mode", None)
    mode = "lora" if mode == "qlora" else mode
    return FINETUNE_NOTES.get(style, {}).get(mode)


#: the fp8 recipe the plan priced as torchtitan's model converters offer it (torchtitan/components/quantization:
#: float8.py ``Float8LinearConverter.Config.recipe_name``, default rowwise; mx.py ``MXFP8LinearConverter``), said
#: beside $TITAN_CONFIG: no flag sets it (a torchtitan plan's recipe is one of these: stack_rules.FP8_RECIPES refuses
#: the rest). Tensorwise: main's ``Literal["tensorwise", "rowwise", "rowwise_with_gw_hp"]`` (@026c75f2) takes it;
#: 0.3.0's ``Literal["rowwise", "rowwise_with_gw_hp"]`` refuses it as a tyro override, and a config function that
#: sets it anyway passes with tyro's "annotated with type Literal[...]" warning into torchao's
#: ``Float8LinearConfig.from_recipe_name``, which has it (tried, tyro of the installed torchtitan 0.3.0)
TITAN_FP8 = {
    "rowwise": "pick one whose model has a Float8LinearConverter (recipe_name rowwise, as llama3_debugmodel_float8 "
               "does), or the run is bf16",
    "tensorwise": "pick one whose model has a Float8LinearConverter with recipe_name \"tensorwise\" (torchtitan after "
                  "0.3.0 types it; 0.3.0's Literal is rowwise | rowwise_with_gw_hp: set it in the config function, "
                  "not by a flag), or the run is rowwise or bf16",
    "mxfp8": "pick one whose model has an MXFP8LinearConverter (torchtitan/components/quantization/mx.py), or the run is bf16",
}
#: a torchtitan fp8 plan priced with FSDP2's float8 all-gather (``Stack.fsdp_float8_all_gather``; where it runs:
#: planner.model.stack_kernels ``fsdp_float8_gather_on``), said beside $TITAN_CONFIG: the 2025 ``Float8Converter``
#: (@ce5ace24, ``--float8.enable_fsdp_float8_all_gather --float8.precompute_float8_dynamic_scale_for_fsdp``) and main's
#: ``Float8LinearConverter.Config`` take the two switches only with ``recipe_name`` unset (tensorwise: with a name the
#: converter asserts); 0.3.0's converter has neither switch nor that path
TITAN_FP8_GATHER = ("; with FSDP2's float8 all-gather: leave its recipe_name unset (the tensorwise path) and set "
                    "enable_fsdp_float8_all_gather and precompute_float8_dynamic_scale_for_fsdp true (torchtitan's "
                    "2025 --float8.* flags, main's Float8LinearConverter.Config; 0.3.0 has neither), or the run "
                    "gathers 16-bit weights")
#: the stack a launcher style's own numbers come from: what to re-plan with when the plan's stack is another
STYLE_STACK = {"megatron": "megatron-core", "fsdp": "torchtitan", "automodel": "nemo-automodel", "script": "pytorch-ddp",
               "dle-bert": "dle-bert"}
#: where the model's RoPE settings live for a style that takes no flag for them (``config_rope_note``)
ROPE_CONFIG_WHERE = {"fsdp": "$TITAN_CONFIG's model args", "automodel": "the recipe's model config ($AUTOMODEL_CONFIG)",
                     "script": "your script's model ($TRAIN_SCRIPT)", "dle-bert": "$BERT_CONFIG"}


#: what a plan priced with the stack's fused linear cross-entropy (``Stack.fused_cross_entropy``) needs at launch, by
#: ``Stack.fused_ce_kernel``: the planner prices Liger's fused linear cross-entropy only, so the switch keeps Liger's
#: other default kernels (RoPE, RMSNorm, SwiGLU: liger_kernel/transformers/monkey_patch.py ``apply_liger_kernel_to_llama``
#: defaults) off through ``liger_kernel_config``, which transformers passes to ``_apply_liger_kernel_to_instance``
FUSED_CE_NOTES = {
    "liger": ("the plan's loss is Liger Kernel's fused linear cross-entropy (no whole logits): run it under HF Trainer "
              "with TrainingArguments(use_liger_kernel=True, liger_kernel_config={'rope': False, 'rms_norm': False, "
              "'swiglu': False}) (pip install liger-kernel); a launch whose loss materialises the logits needs their "
              "memory back"),
}


#: Megatron-DeepSpeed's flag for each of DeepSpeed's activation-checkpoint options (planner.model.stacks
#: ``DS_CHECKPOINT_OPTIONS``; megatron/arguments.py ``_add_activation_checkpoint_args``), which ``launch_notes`` names:
#: the emitter has no Megatron-DeepSpeed launcher (its styles run Megatron-Core, torchtitan, NeMo AutoModel)
DS_CHECKPOINT_FLAGS = {"partition_activations": "--partition-activations", "cpu_checkpointing": "--checkpoint-in-cpu"}


def launch_notes(job: JobSpec, cfg: dict, style: str) -> list[str]:
    """What the plan priced that the launch line cannot say, one ``# note:`` line each (``LaunchPlan.notes``):

    * a plan timed for another stack's code than the style runs (a DeepSpeed, HF Trainer or llm-foundry plan goes to
      the Megatron or torchtitan launcher by its ZeRO stage: ``default_style``; a style forced with ``--emit
      FORMAT:STYLE``): the launch's step time and memory are that launcher's, not the plan's;
    * recompute the style has no policy for (``RECOMPUTE_NOTES`` of ``planned_recompute``);
    * torchtitan: a reduce in bf16, which 0.3's ``training.mixed_precision_reduce`` (Literal["float32"]) refuses, so
      the line stops at launch; the early-stopping checkpoint, which 0.3's FullAC / SelectiveAC turn off
      (``early_stop=False``).
    Generic models run the user's script: none."""
    if job.model is None or not job.model.is_transformer:
        return []
    st, t = plan_stack(job, cfg), job.training
    notes = []
    run = STYLE_RUNTIME[style]
    if stack_rules.rules_runtime(st) != run:
        notes.append(f"the plan was priced for {st.name}'s code; this line runs {stack_rules.RUNTIME_NAMES[run]}, whose "
                     f"step time and memory differ: re-plan with training.framework {STYLE_STACK[style]} for this launch")
    recompute = planned_recompute(st, cfg["recompute"])
    note = RECOMPUTE_NOTES.get(style, {}).get(recompute)
    if note:
        notes.append(note.format(n=st.layer_sac_every, stack=st.name))
    if style == "megatron":
        notes += megatron_rope_flags(job.model)[1]
    else:  # torchtitan, AutoModel, the user's script: the model's config holds them
        note = config_rope_note(job.model, ROPE_CONFIG_WHERE[style])
        notes += [note] if note else []
    ds_flags = [DS_CHECKPOINT_FLAGS[k] for k in DS_CHECKPOINT_OPTIONS if getattr(st, k)]
    if ds_flags:  # DeepSpeed's checkpoint options the plan priced (planner.model.offload "DeepSpeed"): no such flags here
        notes.append(f"the plan's checkpoints run DeepSpeed's activation checkpointing: Megatron-DeepSpeed "
                     f"--deepspeed-activation-checkpointing {' '.join(ds_flags)} (the DeepSpeed config's "
                     f"activation_checkpointing section); {stack_rules.RUNTIME_NAMES[run]} has no such flags, so this "
                     f"line keeps the checkpoints whole on the GPU")
    if st.zero_states and st.mixed_precision == "amp" and t.precision in CAST_PRECISIONS:
        # the plan's AMP on DeepSpeed is its torch_autocast section (stacks.fp32_module_zero_rows), which no launcher
        # style here writes: say which config the plan priced (ds52b)
        notes.append(f"the plan's AMP is DeepSpeed's {ds_torch_autocast_section(t.precision)} with the bf16 / fp16 "
                     f"sections off (DeepSpeed >= 0.17: an fp32 module, nn.Linear gradients reduced in "
                     f"{t.precision}); {stack_rules.RUNTIME_NAMES[run]} has no DeepSpeed config")
    if st.fused_cross_entropy:  # the fused loss the plan priced is the stack's own switch (Stack.fused_ce_kernel)
        notes.append(FUSED_CE_NOTES[st.fused_ce_kernel])
    choice = hf_attn_choice(st, job.model, t)
    if choice is not None and st.attn_launch:  # the attention the plan priced on the HF model code (memory and time
        # alike), where a launch sets it (Stack.attn_launch: not DLE BERT's own attention)
        notes.append(f"the plan's attention is transformers' attn_implementation={choice!r}: "
                     f"{st.attn_launch.format(choice=choice)}; another implementation saves and runs other tensors")
    if style == "fsdp":
        sharded = FSDP_RESHARD[cfg["zero"]] is not None
        if sharded and t.grad_dtype == "same" and t.precision != "fp32":
            notes.append("the plan reduces gradients in bf16: torchtitan 0.3's training.mixed_precision_reduce takes "
                         "float32 only and refuses this line; plan with training.grad_dtype fp32, or run a torchtitan "
                         "that takes bfloat16")
        if st.recompute_early_stop and recompute != "none":
            notes.append("the plan's recompute stops early (recompute_early_stop); torchtitan 0.3 checkpoints with "
                         "early_stop=False, which rebuilds each layer whole")
    return notes


#: the launcher of each registry entry that is a vendor's fork (planner.model.stacks ``PORTS``): its script, run once,
#: which launches the trainer itself. Intel's Megatron-LM fork, HabanaAI/Megatron-LM @004966d2
#: examples/llama/pretrain_llama.sh: ``LAUNCHER_TYPE=${HL_LAUNCHER_TYPE:-mpirun}`` runs ``mpirun -n
#: NUM_NODES*DEVICES_PER_NODE`` python pretrain_gpt.py, one process per HPU, over ``-hostfile ${HOSTSFILE}`` (HL_HOSTSFILE,
#: else /etc/mpi/hostfile with ``slots=8`` appended, the MPI Operator's path) where HL_NUM_NODES > 1; the README
#: (examples/llama/README.md) launches every multi-node recipe that way, once, with HL_HOSTSFILE. Variables it reads
#: (name, script default): HL_NUM_NODES 1, HL_DEVICES_PER_NODE 8, HL_DP 2, HL_TP 2, HL_PP 2, HL_CP 1, HL_MICRO_BATCH 1,
#: HL_GBS, HL_SEQ_LEN, HL_TRAIN_ITERS, HL_SEQ_PARALLEL 1, HL_CKP_ACT 0 (1 --recompute-granularity=full
#: --recompute-method uniform, 2 selective), HL_USE_DISTRIBUTED_OPTIMIZER 1, HL_FP8 0 (Intel TE delayed scaling),
#: HL_SAVE_INTERVAL 2000, and the Llama-3.1 branch's HL_NUM_LAYERS / HL_HIDDEN_SIZE / HL_NUM_HEADS /
#: HL_NUM_QUERY_GROUPS / HL_FFN_HIDDEN_SIZE. It passes no --num-layers-per-virtual-pipeline-stage (a note says so
#: where the plan interleaves). The upstream Megatron-LM launch the emitter writes is not this code's (no
#: --fp8-recipe in core_r0.9.0).
FORK_LAUNCHERS = {"megatron-core-gaudi": "$MEGATRON_LM_ROOT/examples/llama/pretrain_llama.sh"}
FORK_CKP_ACT = {"none": 0, "full": 1, "selective": 2}
#: what the fork's launch leaves to the user: the script's data / tokenizer / checkpoint variables (examples/llama/
#: README.md "Training Script Settings": shared and writable across the nodes beyond 8 cards)
FORK_PLACEHOLDERS = {
    "MEGATRON_LM_ROOT": "a checkout of Intel's fork, github.com/HabanaAI/Megatron-LM (its PYTHONPATH too)",
    "HL_DATA_DIR_ROOT": "the tokenised dataset's folder (shared by all nodes)",
    "HL_DATA_FILE_PREFIX": "the dataset's .bin/.idx file prefix in that folder",
    "HL_TOKENIZER_MODEL": "a Hugging Face tokenizer path or name",
    "HL_CHECKPOINTS_DIR": "a shared checkpoint directory"}
#: SkyPilot's accelerator name of each Gaudi it catalogs: skypilot-org/skypilot-catalog catalogs/v8/shadeform/vms.csv
#: row ``denvr_Gaudi2x8,GAUDI2,8.0,...`` (read 2026-12-01, hardware_catalog instances.csv); no cloud SkyPilot knows
#: rents a Gaudi 3 (sky show-gpus -a lists only AWS dl1's first-generation "Gaudi HL-205")
SKYPILOT_GAUDI = {"Gaudi2-96GB": "GAUDI2"}
#: the Kubernetes resource the Intel Gaudi device plugin advertises (docs.habana.ai "Intel Gaudi Device Plugin for
#: Kubernetes"); Kubeflow's MPIJob (MPI Operator v2beta1) mounts the hostfile at /etc/mpi/hostfile, which the script reads
GAUDI_K8S_RESOURCE = "habana.ai/gaudi"


def fork_env(job: JobSpec, cfg: dict, steps: float, save_every: int, per_node: int) -> dict[str, str]:
    """The variables ``FORK_LAUNCHERS``' script reads for the plan's layout, model and length, all written (its
    defaults, DP=TP=PP=2, are no plan's)."""
    t, m = job.training, job.model
    rc = str(cfg.get("recompute", "none")).split("(")[0]
    env = {"HL_NUM_NODES": cfg["nodes"], "HL_DEVICES_PER_NODE": per_node, "HL_DP": cfg["dp"], "HL_TP": cfg["tp"],
           "HL_PP": cfg["pp"], "HL_CP": cfg["cp"], "HL_MICRO_BATCH": cfg["micro_batch"], "HL_GBS": t.global_batch,
           "HL_SEQ_LEN": t.seq_len, "HL_TRAIN_ITERS": int(steps),  # as megatron_args writes --train-iters
           "HL_SEQ_PARALLEL": int(bool(cfg.get("sp"))), "HL_CKP_ACT": FORK_CKP_ACT.get(rc, 1),
           "HL_USE_DISTRIBUTED_OPTIMIZER": int(cfg["zero"] >= 1), "HL_FP8": int(t.precision == "fp8"),
           "HL_SAVE_INTERVAL": save_every}
    if m is not None:  # the Llama-3.1 branch (HL_LLAMA_VER 3.1, its default) reads each dimension's override
        dims = {"HL_NUM_LAYERS": m.layers, "HL_HIDDEN_SIZE": m.hidden, "HL_NUM_HEADS": m.heads,
                "HL_NUM_QUERY_GROUPS": m.kv_heads or m.heads, "HL_FFN_HIDDEN_SIZE": m.ffn_hidden}
        env.update({k: v for k, v in dims.items() if v})
    return {k: str(v) for k, v in env.items()}


def fork_notes(cfg: dict) -> list[str]:
    """What the fork's script cannot be told: the plan's interleaving."""
    if cfg.get("vpp", 1) > 1:
        return [f"the plan interleaves {cfg['vpp']} virtual stages a rank; pretrain_llama.sh passes no "
                "--num-layers-per-virtual-pipeline-stage: add it to the script's CMD, or the run is not interleaved "
                "(a larger pipeline bubble than planned)"]
    return []


def maxtext_remat_keys(st, recompute: str) -> str:
    """MaxText's own config keys (train.py ``key=value`` overrides, MaxText/configs/base.yml) for the remat the plan
    was priced with: ``remat_policy=none`` without recompute, under full recompute the stack's policy (planner.model.stacks
    ``MAXTEXT_REMAT_POLICIES``; default ``full``) and, under ``custom``, each tensor the job set
    (``Stack.remat_tensors``)."""
    policy = remat_policy_run(st, recompute)  # the stack line's reading (QA 70)
    if policy is None:  # the planner's selective recompute is no MaxText policy: no keys to give
        return ""
    tensors = st.remat_tensors if policy == "custom" else ()
    return " ".join([f"remat_policy={policy}"] + [f"{k}={v}" for k, v in tensors])


def launch_plan(job: JobSpec, best: dict, style: str | None = None, catalog=None) -> LaunchPlan:
    """The plan every format renders. ``style`` None: the plan's stack's own (``default_style``). ``catalog``: the
    one the plan was searched in (its override files' instances and launch fabrics); None: the shipped one."""
    if is_auto(job) or best.get("stack"):  # training.framework auto (or open on a TPU / Trainium): the plan's stack
        job = job_for_plan(job, best.get("stack") or {})
    st = from_training(job.training, model=job.model)
    fork = FORK_LAUNCHERS.get(st.name)  # a vendor's fork launches through its own script, its variables the layout
    if not fork and not {"cuda", "rocm"} & set(st.platforms):  # the launch specs are torchrun launches of CUDA/ROCm code
        keys = maxtext_remat_keys(st, best["config"].get("recompute", "full")) if st.has_remat_policy else ""
        if st.has_remat_policy and st.num_vocab_tiling > 1:  # the loss's tiles, a MaxText key like the remat ones
            keys = " ".join(k for k in (keys, f"num_vocab_tiling={st.num_vocab_tiling}") if k)
        raise InputError("--emit", f"no launch spec for a {st.name} plan: the emitter writes torchrun launches of "
                                   "Megatron-LM / torchtitan (CUDA and ROCm code); launch it with its own trainer "
                                   "and the plan's layout" + (f" ({keys})" if keys else ""))
    cfg, hw, cost = best["config"], best["hardware"], best.get("cost", {})
    for opt in ("reshard_after_forward", "megatron_fsdp"):  # stack options the search may have chosen
        if (best.get("stack") or {}).get(opt) is not None:
            cfg = dict(cfg, **{opt: best["stack"][opt]})
    if "megatron_fsdp" not in cfg:
        cfg = dict(cfg, megatron_fsdp=from_training(job.training, model=job.model).megatron_fsdp)
    transformer = job.model is not None and job.model.is_transformer
    if fork and style is not None:  # the fork's one script is the launch: no torchrun program to style
        raise InputError("--emit", f"{st.name} launches through Intel's {FORK_LAUNCHERS[st.name].rsplit('/', 1)[-1]}, "
                                   f"which has no launcher styles: leave ':{style}' out")
    if fork:
        style = "fork"
    elif style is None:
        style = default_style(job, cfg)
    if not fork and style not in STYLES:
        raise InputError("--emit", "launcher style " + one_of(STYLES, style))
    if style in ("megatron", "automodel") and not transformer:
        raise InputError("--emit", f"the {style} style needs a transformer model; use fsdp")
    if not fork:
        check_stack_rules(job, cfg, style)
    steps = cost.get("steps") or (job.training.steps or 1)
    step_s = best.get("step_time_s") if hasattr(best, "get") else None
    every = save_every_steps(job, step_s)
    prog = ([] if fork
            else megatron_args(job, cfg, steps, every, hw.get("gpu", ""), int(hw.get("gpus_per_node") or 8))
            if style == "megatron"
            else automodel_args(job, cfg, steps, every) if style == "automodel"
            else script_args(job, cfg, steps, DDP_ZERO_FLAGS[cfg["zero"]]) if style == "script"
            else dle_bert_args(job, cfg, steps, every) if style == "dle-bert"
            else fsdp_args(job, cfg, steps, every))
    # Megatron-LM validate_args (before Blackwell): TP or CP needs CUDA_DEVICE_MAX_CONNECTIONS=1, and FSDP2
    # (ZeRO-3) and Megatron-FSDP (ZeRO-2/3 with megatron_fsdp) refuse that value
    fsdp = cfg["zero"] == 3 or (cfg["zero"] == 2 and cfg.get("megatron_fsdp"))
    env = ({"CUDA_DEVICE_MAX_CONNECTIONS": "1"}
           if style == "megatron" and (cfg["tp"] > 1 or cfg["cp"] > 1) and not fsdp else {})
    if fork:
        env = fork_env(job, cfg, steps, every, int(hw.get("gpus_per_host") or hw["gpus_per_node"]))
        ph = dict(FORK_PLACEHOLDERS)
    elif style == "megatron":
        ph = {"MEGATRON_DIR": "a Megatron-LM checkout", "DATA_PATH": "the tokenised dataset prefix",
              "TOKENIZER": "a Hugging Face tokenizer name or path", "CKPT_DIR": "a shared checkpoint directory"}
    elif style == "automodel":
        ph = {"AUTOMODEL_DIR": "a NeMo AutoModel checkout (github.com/NVIDIA-NeMo/Automodel)",
              "AUTOMODEL_CONFIG": (f"a recipe YAML with the model, data (sequences of {job.training.seq_len} tokens) and "
                                   "optimizer, as examples/llm_pretrain/*.yaml (flags below override its layout)"),
              "CKPT_DIR": "a shared checkpoint directory"}
        st = plan_stack(job, cfg)
        notes = []
        if job.training.precision == "fp8":  # a recipe section (components/quantization/fp8), not a layout flag
            te = AUTOMODEL_TE_RECIPE.get(st.fp8_recipe)
            notes.append(f"the plan is fp8 ({st.fp8_recipe}" + (f": TEFp8Config recipe {te}" if te else "")
                         + "): give the config its fp8 section, or the run is bf16")
        if st.moe_dispatcher != "alltoall":
            notes.append(f"the plan's MoE dispatcher is {st.moe_dispatcher}: set it in the config's model.backend")
        if st.compile:  # an option here (the nemo-automodel stack runs eager: Stack.compile False); no layout flag
            notes.append("the plan is compiled (training.framework compile): turn torch.compile on in the recipe, "
                         "or the run is eager")
        if "optimizer" in cfg.get("offload", "none"):
            notes.append("the plan offloads the optimizer: give distributed an offload_policy (FSDP2 CPUOffloadPolicy)")
        if cfg["zero"] >= 2 and job.training.grad_dtype == "same" and job.training.precision != "fp32":
            # FSDP2Config.mp_policy reduces in float32 unless the recipe's mp_policy says otherwise
            notes.append("the plan reduces gradients in bf16: give distributed an mp_policy with reduce_dtype bfloat16")
        if notes:
            ph["AUTOMODEL_CONFIG"] += "; " + "; ".join(notes)
    elif style == "dle-bert":  # NVIDIA's BERT script: the data and the model config are the user's
        ph = {"DLE_BERT_DIR": DLE_BERT_TARGET,
              "DATA_DIR": f"the pre-training shards (sequences of {job.training.seq_len} tokens with masked positions, as "
                          "its data scripts write them)" + (
                  "; the plan ran the MLM head on every position (training.head_tokens_per_seq not set), the script "
                  "runs it on --max_predictions_per_seq (default 80): set the field to the shards' count to plan that"
                  if job.training.head_tokens_per_seq is None else ""),
              "BERT_CONFIG": "the model's bert_config.json (its layers, hidden size, heads, vocabulary)",
              "CKPT_DIR": "a shared checkpoint directory"}
    elif style == "script":  # plain torch DDP: the user's script builds the model and wraps it
        ph = {"TRAIN_SCRIPT": "your training script, which wraps its model in torch DDP (flags below are the planner's "
                              "names for the layout)"}
    elif transformer:
        ph = {"TITAN_MODULE": "a torchtitan model module (llama3, deepseek_v3, ...)",
              "TITAN_CONFIG": "a config_registry function of that module with the model and data (flags below override it)",
              "CKPT_DIR": "a shared folder for checkpoints and logs"}
        if job.training.precision == "fp8":  # torchtitan 0.3 sets fp8 in the config's model converters, not by a flag
            recipe = plan_stack(job, cfg).fp8_recipe
            ph["TITAN_CONFIG"] += f"; the plan is fp8 ({recipe}): " + TITAN_FP8.get(recipe, TITAN_FP8["rowwise"])
            if bool(fsdp_float8_gather_on(plan_stack(job, cfg), job.training, cfg["zero"])):
                ph["TITAN_CONFIG"] += TITAN_FP8_GATHER
        if job.training.optimizer == "muon":  # likewise the optimizer: a config's OptimizersContainer, no flag
            ph["TITAN_CONFIG"] += ("; the plan uses Muon: pick one whose optimizer is DistMuon (torchtitan/distributed/"
                                   "flex_shard/dist_muon.py, as kimi_k2_7's config_registry does), or the run is AdamW")
    else:
        ph = {"TRAIN_SCRIPT": "your training script (flags below are the planner's names for the layout)"}
    note = finetune_note(job, style) if transformer and not fork else None
    if note:  # beside the placeholder that names what the program loads (the checkout / config it runs)
        key = next(iter(ph)) if style == "megatron" else ("AUTOMODEL_CONFIG" if style == "automodel" else "TITAN_CONFIG")
        ph[key] += "; " + note
    # a DNS-1123 label (k8s, SkyPilot, Slurm job names): ASCII letters and digits only
    name = "".join(ch if (ch.isascii() and ch.isalnum()) else "-" for ch in (job.model.name if job.model else "job").lower()).strip("-")
    inst = hw["name"].split(":", 1)[1] if ":" in hw["name"] else None
    price = hw.get("price_ondemand_usd_hr")
    # the time and cost the plan was ranked at (results.ranked_*): a spot launch (use_spot: true) was headed by
    # its uninterrupted on-demand "43.8 d, $299.2k" against recommend's "44.1 d, $33.8k" expected on spot
    on_spot = bool(job.constraints.spot and cost.get("cost_spot_usd") is not None)
    hours = ranked_hours(cost, on_spot) if "hours" in cost else float("nan")
    usd = ranked_price(cost, on_spot) if "hours" in cost else None
    summary = (f"{hardware_str(hw)}, {config_str(cfg)}; {fmt_time(hours * 3600)}, "
               + (f"{fmt_usd(usd)} " + ("expected on spot" if on_spot else "on-demand") if usd is not None
                  else "no price (bare GPU)"))
    # a launcher's node is an OS host: a plan's node that is a larger NVLink domain (GB200 NVL72: 72 GPUs on 18
    # trays of 4) launches as its hosts
    per_host = int(hw.get("gpus_per_host") or hw["gpus_per_node"])
    hosts = int(hw["nodes"]) * int(hw["gpus_per_node"]) // per_host
    if catalog is None:
        from hardware_catalog import load_catalog
        catalog = load_catalog()
    fab = fabric_of(hw, hosts, catalog.launch_fabrics)
    if fork:  # HCCL over the Gaudis' own RoCE ports, not NCCL: the NCCL fabric notes and requests are not its
        fab = None
    watts, platform = held_limit(hw), platform_of(catalog.gpus.get(hw["gpu"]))
    domain = int(hw["gpus_per_node"]) // per_host if hosts > 1 and int(hw["gpus_per_node"]) > per_host else None
    return LaunchPlan(
        notes=(fork_notes(cfg) if fork else
               launch_notes(job, cfg, style) + fabric_note(fab, hw.get("inter_node_gbps"))
               + unknown_fabric_note(fab, hw, hosts, catalog) + system_fabric_note(fab, hw, hosts, domain, catalog)
               + stated_fabric_note(hw, hosts, catalog))
               + unset_power_note(watts, platform, hw["gpu"]) + unpriced_save_note(job, every, steps, step_s, fork or transformer),
        fabric=fab, fork=fork, power_limit_w=watts, rated_power_limit_w=hw.get("rated_power_limit_w"),
        platform=platform,
        name=f"{name[:40] or 'job'}-train", nodes=hosts,
        gpus_per_node=per_host,
        # the expected hours it was ranked at: sbatch --time from the uninterrupted hours ignored the job's checkpoint
        # pauses and node failures (a run with a 7.5-minute save every 20 steps would be killed before its end)
        style=style if transformer or style != "fsdp" else GENERIC_FSDP_LABEL, program=prog, env=env, placeholders=ph,
        hours=float(hours),
        cloud=hw.get("cloud", "-"), instance=inst, gpu=hw["gpu"], segment=hw.get("segment_trays") if hosts > int(
            hw.get("segment_trays") or hosts) else None,  # one segment is the whole job: no flag
        nvlink_hosts=domain,
        vcpus_per_node=best.get("detail", {}).get("vcpus_per_node"), spot=bool(job.constraints.spot and price),
        summary=summary,
    )


# ------------------------------------------------------------------------------- the inter-node fabric
#: What NCCL needs in every node's image or container to run over the fabric the plan priced, per transport
#: (hardware_catalog.fabric TRANSPORTS): one ``# note:`` in every format's header on a multi-node plan. Without it
#: NCCL falls back to TCP sockets on the primary NIC, and the run is many times slower than the plan (QA 41).
#: aws-ofi-nccl (src/platform-aws.cpp ``platform_init``, read 2026-12-04) selects libfabric's efa provider itself
#: when FI_PROVIDER is unset and sets its own NCCL settings per instance type, so the launch exports no FI_* / NCCL_*
#: variable for EFA; the other transports' settings belong to the cluster's images and plugins named.
FABRIC_NOTES = {
    "efa": ("the plan priced {gbps} Gb/s of EFA between nodes: NCCL reaches it only through the aws-ofi-nccl plugin "
            "(libfabric's efa provider) in the image, which picks the provider and its NCCL settings itself "
            "(aws-ofi-nccl src/platform-aws.cpp); without it NCCL runs over TCP sockets (NCCL_DEBUG=INFO names "
            "NET/OFI, not NET/Socket)"),
    "infiniband": ("the plan priced {gbps} Gb/s of InfiniBand between nodes: NCCL's IB transport needs the nodes' "
                   "/dev/infiniband devices in the container (an RDMA device resource, IPC_LOCK, unlimited memlock); "
                   "without them NCCL runs over TCP sockets (NCCL_DEBUG=INFO names NET/IB, not NET/Socket)"),
    "gpudirect-tcpx": ("the plan priced {gbps} Gb/s over A3 High's GPUDirect-TCPX NICs: the nodes need GKE "
                       "multi-networking, the TCPX NCCL plugin and its receive-data-path sidecar (cloud.google.com/"
                       "kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx); without them NCCL runs over TCP "
                       "on the primary NIC"),
    "gpudirect-tcpxo": ("the plan priced {gbps} Gb/s over A3 Mega's GPUDirect-TCPXO NICs: the nodes need GKE "
                        "multi-networking, the TCPXO NCCL plugin and its receive-data-path sidecar (cloud.google.com/"
                        "kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx); without them NCCL runs over TCP "
                        "on the primary NIC"),
    "gpudirect-rdma": ("the plan priced {gbps} Gb/s of GPUDirect RDMA over RoCE: the nodes need the RDMA "
                       "multi-networking and Google's gIB NCCL plugin (AI Hypercomputer's A3 Ultra / A4 cluster "
                       "setup); without them NCCL runs over TCP on the primary NIC"),
}
#: the Kubernetes extended resource the EFA device plugin advertises a node's EFA devices as; a pod reaches only
#: those it requests (docs.aws.amazon.com/eks/latest/userguide/device-management-efa, read 2026-12-04)
EFA_RESOURCE = "vpc.amazonaws.com/efa"


def fabric_of(hw, nodes: int, fabrics: dict[str, LaunchFabric]) -> LaunchFabric | None:
    """The transport a launch of ``nodes`` hosts on ``hw`` must reach (None on one node: no inter-node traffic), from
    ``fabrics`` (``Catalog.launch_fabrics``: the shipped table and the user's override rows); None too where the plan
    priced the job's ``cluster.fabric`` of another family than the row's transport runs on (``TRANSPORT_FABRIC``):
    an Azure ND node's 8 ``rdma/ib`` HCAs and its NCCL topology file are not a RoCE network's, nor p5's 32 EFA
    devices an InfiniBand one's (``stated_fabric_note`` says what the spec leaves to the cluster)."""
    row = fabrics.get(hw["name"]) if nodes > 1 else None
    return None if row is None or restated_fabric(hw, row.transport) else row


def restated_fabric(hw, priced_on: str | None) -> str | None:
    """The fabric family of the job's ``cluster.fabric`` where it is not the one ``priced_on`` names (a launch row's
    transport, ``TRANSPORT_FABRIC``, or an instance row's ``fabric``): the plan's ``network_fabric`` is the stated
    link's (``HardwareOption.network_fabric``); None where the two agree or the plan names none."""
    family = hw.get("network_fabric")
    runs_on = TRANSPORT_FABRIC.get(priced_on or "", (priced_on,))
    return family if family and priced_on and family not in runs_on else None


def stated_fabric_note(hw, hosts: int, catalog) -> list[str]:
    """A multi-node launch on an instance whose network the job's ``cluster.fabric`` replaced with another family's:
    the spec requests none of the instance row's fabric devices (``fabric_of``), and says so, since a pod without the
    stated network's RDMA devices runs NCCL over TCP sockets."""
    inst = catalog.instances.get(hw["name"])
    family = restated_fabric(hw, inst.fabric if inst is not None else None) if hosts > 1 else None
    if family is None:
        return []
    return [f"the plan priced the job's cluster.fabric ({family}, {float(hw.get('inter_node_gbps') or 0):,.0f} Gb/s a "
            f"node), not {inst.key}'s {inst.fabric}: this spec requests none of the instance's {inst.fabric} devices "
            "and sets none of its NCCL settings; the pods need the nodes' own network devices (on Kubernetes the "
            "resource the cluster's device plugin names, with IPC_LOCK for RDMA) or NCCL crosses the nodes over TCP "
            "sockets (NCCL_DEBUG=INFO names NET/Socket)"]


#: instance fabrics (instances.csv ``fabric``) a launch needs nothing for: plain Ethernet is TCP, which NCCL's socket
#: transport runs without a request; a TPU slice is no torchrun launch
PLAIN_FABRICS = ("ethernet", "tpu-ici", "tpu-dcn", "none")


def unknown_fabric_note(fab: LaunchFabric | None, hw, nodes: int, catalog) -> list[str]:
    """A multi-node launch on a catalog instance priced on an RDMA fabric (efa, infiniband, roce) or on none stated,
    for which no launch fabric is known (no row in launch_fabric.csv or the user's override file): said, not emitted
    as a TCP-only spec without a word (fabric34: a user's p5-class instance launched with no EFA request)."""
    if fab is not None or nodes <= 1:
        return []
    inst = catalog.instances.get(hw["name"])
    if inst is None or inst.fabric in PLAIN_FABRICS or restated_fabric(hw, inst.fabric):  # (stated_fabric_note's)
        return []
    priced = (f"{inst.fabric} at {float(hw.get('inter_node_gbps') or 0):,.0f} Gb/s" if inst.fabric
              else f"an unstated fabric (the default {float(hw.get('inter_node_gbps') or 0):,.0f} Gb/s)")
    return [f"no launch fabric is known for {inst.key} (priced on {priced} between nodes): this spec requests no EFA, "
            "InfiniBand or RDMA device and sets no NCCL network plugin, so NCCL may run over TCP sockets on the "
            "primary NIC; give the instance a launch_fabric row in the --catalog file (cloud, instance, transport, "
            "devices, nccl_topo, source, read: hardware_catalog/data/launch_fabric.csv's columns)"]


def system_fabric_note(fab: LaunchFabric | None, hw, hosts: int, domain_hosts: int | None, catalog) -> list[str]:
    """A plan on a bare-GPU cluster taken as a reference system (``Hardware.reference_system``: DGX GB200 / GB300
    NVL72, Azure ND MI300X v5) that spans more than one of its nodes (NVLink domains): the plan priced the system's
    scale-out fabric between them (systems.csv ``network_gbps`` / ``fabric``, e.g. DGX GB200's 4 ConnectX-7 400G NICs
    a tray), but a reference system is no cloud's instance, so no device resource is sourced to request (no
    launch_fabric row; the catalog has no GB200 / GB300 instance row such as AWS p6e-gb200, whose EKS pods would
    request ``EFA_RESOURCE``): said, since a pod without the RDMA devices runs NCCL over TCP sockets (launch42)."""
    system = catalog.systems.get(hw.get("reference_system") or "")
    domains = hosts // (domain_hosts or 1)
    if fab is not None or system is None or domains <= 1 or system.fabric in PLAIN_FABRICS:
        return []
    return [f"the plan priced {float(hw.get('inter_node_gbps') or 0):,.0f} Gb/s of {system.fabric} out of each of its "
            f"{domains} {'NVLink domains' if domain_hosts else 'nodes'} ({system.key}'s scale-out NICs; `planner catalog "
            f"systems`): this spec requests no {system.fabric} device, as {system.key} is a reference system, not a "
            "cloud instance whose device resource is documented (the catalog has no instance row of it, such as AWS "
            f"p6e-gb200's {EFA_RESOURCE}); a container needs the nodes' RDMA devices (/dev/infiniband; on Kubernetes "
            "the resource the cluster's device plugin names, NVIDIA Network Operator's RDMA shared device or SR-IOV "
            "plugin, with IPC_LOCK), or NCCL crosses them over TCP sockets (NCCL_DEBUG=INFO names NET/Socket)"]


def fabric_note(fab: LaunchFabric | None, gbps) -> list[str]:
    """``FABRIC_NOTES`` for ``fab`` at the plan's inter-node ``gbps``, as a list of notes (none without a fabric)."""
    if fab is None:
        return []
    return [FABRIC_NOTES[fab.transport].format(gbps=f"{float(gbps or 0):,.0f}")]


#: Azure/aks-rdma-infiniband (read 2026-12-04): the SR-IOV device plugin's resource, one per HCA
#: (tests/scenarios/k8s/sriov/gpu/eight/eight.yaml: ``rdma/ib: 8`` beside ``nvidia.com/gpu: 8``), IPC_LOCK for an
#: unlimited locked-memory limit (tests/scenarios/k8s/rdma/base/rdma-device.yaml), the NCCL variables its tests set
#: (values.yaml ``ncclEnvVars``: NCCL_IB_DISABLE 0, NCCL_NET_GDR_LEVEL SYS) and the topology file mounted from a
#: ConfigMap ``nvidia-topology`` (key topo.xml) at /opt/nvidia-topology (templates/mpi-job.yaml ``NCCL_TOPO_FILE``)
IB_RESOURCE = "rdma/ib"
IB_ENV = {"NCCL_IB_DISABLE": "0", "NCCL_NET_GDR_LEVEL": "SYS"}
IB_TOPO_DIR = "/opt/nvidia-topology"
IB_TOPO_CONFIGMAP = "nvidia-topology"


#: What the Azure HPC image has NCCL read on an ND node (Azure/azhpc-images, read 2026-12-05): its
#: components/setup_sku_customizations.sh copies ``topology/*.xml`` to /opt/microsoft and runs, by VM size,
#: ``customizations/ndv4.sh`` (``standard_nd*v4``) or ``ndv5.sh`` (``standard_nd96is*_h[1-2]00_v5``: ND H100 v5 and
#: ND H200 v5), each of which writes /etc/nccl.conf with NCCL_IB_PCI_RELAXED_ORDERING=1, NCCL_TOPO_FILE (a link to
#: /opt/microsoft/ndv4-topo.xml or ndv5-topo.xml) and NCCL_IGNORE_CPU_AFFINITY=1. NCCL reads /etc/nccl.conf of the
#: file system it runs in, so a launch inside a container image loses them; the sbatch and torchrun specs export the
#: same three (an exported variable takes precedence over the file, with the same values on the bare image). The
#: k8s pods keep Azure/aks-rdma-infiniband's variables and ConfigMap (``IB_ENV``): AKS nodes need not run this image.
AZURE_HPC_TOPO_DIR = "/opt/microsoft"
AZURE_HPC_NCCL_CONF = (("NCCL_IB_PCI_RELAXED_ORDERING", "1"), ("NCCL_IGNORE_CPU_AFFINITY", "1"))


def host_fabric_env(plan: LaunchPlan) -> dict[str, str]:
    """The NCCL variables an sbatch / torchrun launch on an Azure ND node exports (``AZURE_HPC_NCCL_CONF`` and the
    row's topology file under /opt/microsoft); none for another fabric, one node, or a row without a topology file.
    Until azure35 these launches carried the InfiniBand note only."""
    fab = plan.fabric
    if fab is None or fab.transport != "infiniband" or not fab.nccl_topo:
        return {}
    return {**dict(AZURE_HPC_NCCL_CONF), "NCCL_TOPO_FILE": f"{AZURE_HPC_TOPO_DIR}/{fab.nccl_topo}"}


def host_fabric_notes(plan: LaunchPlan) -> list[str]:
    """What the exported ``host_fabric_env`` is, where it comes from and what it leaves out (sbatch / torchrun)."""
    env = host_fabric_env(plan)
    if not env:
        return []
    topo = plan.fabric.nccl_topo
    return [f"the NCCL_* exports are what the Azure HPC image's /etc/nccl.conf sets on a {plan.instance} "
            f"(Azure/azhpc-images customizations/{topo.split('-')[0]}.sh); in a container, mount the host's "
            f"{AZURE_HPC_TOPO_DIR} (NCCL_TOPO_FILE={env['NCCL_TOPO_FILE']}) and /dev/infiniband. Not set: UCX_* "
            "(HPC-X MPI's transport, not NCCL's under torchrun) and SHARP (NCCL_COLLNET_ENABLE with the image's "
            "nccl-rdma-sharp-plugins: no Microsoft source found that ND's fabric runs SHARP aggregation)"]


@dataclass(frozen=True)
class GkeNetworking:
    """What a GKE pod of a GPUDirect transport carries, from Google's manifests in GoogleCloudPlatform/
    container-engine-accelerators (read 2026-12-04), which the GKE guides apply: ``gpudirect-tcpx/nccl-test-latest.yaml``
    (A3 High), ``gpudirect-tcpxo/nccl-test-latest.yaml`` (A3 Mega), ``gpudirect-rdma/nccl-test.yaml`` (A3 Ultra, A4).
    ``networks``: the GPU NICs' interface names (``networking.gke.io/interfaces``; eth0 stays on the ``default``
    network); the GKE Network objects they attach are the cluster's, so the spec writes placeholders for them."""

    interfaces: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # the training container's variables
    mounts: tuple[tuple[str, str], ...]  # (volume, mountPath) in the training container
    volumes: tuple[tuple[str, str], ...]  # (volume, hostPath)
    daemon: str = ""  # the receive-data-path sidecar's container name ("" none)
    daemon_devices: tuple[str, ...] = ()  # devices.gke.io/container.<daemon> paths
    daemon_command: tuple[str, ...] = ()
    daemon_caps: tuple[str, ...] = ()
    daemon_mounts: tuple[tuple[str, str], ...] = ()
    prelude: str = ""  # a line the run script runs first
    ipc_lock: bool = False


_GPU_DEVS = tuple(f"/dev/nvidia{i}" for i in range(8)) + ("/dev/nvidiactl", "/dev/nvidia-uvm")
GKE_NETWORKING = {
    "gpudirect-tcpx": GkeNetworking(
        interfaces=tuple(f"eth{i}" for i in range(1, 5)),
        env=(("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64"),),
        mounts=(("tcpx-socket", "/tmp"), ("libraries", "/usr/local/nvidia/lib64")),
        volumes=(("libraries", "/home/kubernetes/bin/nvidia/lib64"), ("tcpx-socket", "/run/tcpx"),
                 ("sys", "/sys"), ("proc-sys", "/proc/sys")),
        daemon="tcpx-daemon", daemon_devices=_GPU_DEVS,
        daemon_command=("/tcpgpudmarxd/build/app/tcpgpudmarxd", "--gpu_nic_preset", "a3vm", "--gpu_shmem_type", "fd",
                        "--uds_path", "/run/tcpx", "--setup_param", "\\\"--verbose 128 2 0 \\\""),
        daemon_caps=("NET_ADMIN",),
        daemon_mounts=(("libraries", "/usr/local/nvidia/lib64"), ("tcpx-socket", "/run/tcpx"),
                       ("sys", "/hostsysfs"), ("proc-sys", "/hostprocsysfs")),
        ipc_lock=True),
    "gpudirect-tcpxo": GkeNetworking(
        interfaces=tuple(f"eth{i}" for i in range(1, 9)),
        env=(("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64"),
             ("NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY", "/dev/aperture_devices")),
        mounts=(("nvidia", "/usr/local/nvidia/lib64"), ("aperture-devices", "/dev/aperture_devices")),
        volumes=(("nvidia", "/home/kubernetes/bin/nvidia/lib64"), ("sys", "/sys"), ("proc-sys", "/proc/sys"),
                 ("aperture-devices", "/dev/aperture_devices")),
        daemon="tcpxo-daemon", daemon_devices=_GPU_DEVS + ("/dev/dmabuf_import_helper",),
        daemon_command=("/bin/sh", "-c", "set -ex\nchmod 755 /fts/entrypoint_rxdm_container.sh\n"
                        "/fts/entrypoint_rxdm_container.sh --num_hops=2 --num_nics=8 --uid= --alsologtostderr\n"),
        daemon_caps=("NET_ADMIN", "NET_BIND_SERVICE"),
        daemon_mounts=(("nvidia", "/usr/local/nvidia/lib64"), ("sys", "/hostsysfs"), ("proc-sys", "/hostprocsysfs"))),
    "gpudirect-rdma": GkeNetworking(
        interfaces=tuple(f"eth{i}" for i in range(2, 10)),
        env=(("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64"),),
        mounts=(("library-dir-host", "/usr/local/nvidia"), ("gib", "/usr/local/gib")),
        volumes=(("library-dir-host", "/home/kubernetes/bin/nvidia"), ("gib", "/home/kubernetes/bin/gib")),
        prelude="source /usr/local/gib/scripts/set_nccl_env.sh"),
}
#: the placeholder of the i-th GPU NIC's GKE Network (Google's manifests name them vpc1.. / rdma-0..; a cluster's own
#: names are whatever its multi-networking setup created)
GKE_NETWORK_PLACEHOLDER = "REPLACE_WITH_GKE_GPU_NETWORK_{}"
GKE_DAEMON_IMAGE = "REPLACE_WITH_{}_IMAGE"


@dataclass
class K8sFabric:
    """What each pod of a ``PyTorchJob`` adds for the plan's fabric (``k8s_fabric``)."""

    devices: dict = field(default_factory=dict)  # extended resources, in limits and requests
    notes: list[str] = field(default_factory=list)
    annotations: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    mounts: list[dict] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)
    sidecars: list[dict] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    prelude: str = ""


def k8s_fabric(plan: LaunchPlan) -> K8sFabric:
    """What each pod carries for the plan's fabric. EFA: the instance's EFA count (hardware_catalog/data/
    launch_fabric.csv), all of them, as the device plugin hands each device to one pod only. InfiniBand: ``rdma/ib``,
    one per HCA, IPC_LOCK, Azure/aks-rdma-infiniband's NCCL variables and its topology ConfigMap (``IB_*``). GCP's
    GPUDirect transports: GKE's multi-network annotations, the plugin's host volumes and variables and, for TCPX /
    TCPXO, the receive-data-path daemon beside the trainer (``GKE_NETWORKING``); the GKE Network names and the
    daemon's image tag are the cluster's, written as marked placeholders."""
    fab, out = plan.fabric, K8sFabric()
    if fab is None:
        return out
    if fab.transport == "efa" and fab.devices:
        out.devices = {EFA_RESOURCE: fab.devices}
        out.notes.append(f"each pod requests all {fab.devices} EFA devices of a {plan.instance} ({EFA_RESOURCE}): the "
                         "cluster must run the EFA device plugin (with the EFA DRA driver instead, replace the request "
                         "by a ResourceClaim)")
    elif fab.transport == "efa":
        out.notes.append(f"request every EFA device of a {plan.instance} node ({EFA_RESOURCE}: the node's allocatable "
                         "count, kubectl describe node) beside nvidia.com/gpu: the catalog has no sourced count for "
                         "it, and a pod without the request gets no EFA")
    elif fab.transport == "infiniband":
        out.capabilities = ["IPC_LOCK"]
        out.env = dict(IB_ENV)
        if fab.devices:
            out.devices = {IB_RESOURCE: fab.devices}
            out.notes.append(f"each pod requests the {fab.devices} InfiniBand HCAs of a {plan.instance} as "
                             f"{IB_RESOURCE}, the SR-IOV device plugin's name (Azure/aks-rdma-infiniband); with the "
                             "RDMA shared device plugin request rdma/shared_ib: 1 instead")
        else:
            out.notes.append(f"request the nodes' InfiniBand devices by the resource the cluster's RDMA device plugin "
                             f"names ({IB_RESOURCE}, one per HCA, with the SR-IOV device plugin; rdma/shared_ib: 1 with "
                             "the RDMA shared device plugin): the catalog has no sourced HCA count for it")
        if fab.nccl_topo:
            out.env["NCCL_TOPO_FILE"] = f"{IB_TOPO_DIR}/topo.xml"
            out.mounts.append({"name": IB_TOPO_CONFIGMAP, "mountPath": IB_TOPO_DIR})
            out.volumes.append({"name": IB_TOPO_CONFIGMAP, "configMap": {
                "name": IB_TOPO_CONFIGMAP, "items": [{"key": "topo.xml", "path": "topo.xml"}]}})
            out.notes.append(f"NCCL_TOPO_FILE reads ConfigMap {IB_TOPO_CONFIGMAP} (key topo.xml): create it from "
                             f"Azure/azhpc-images topology/{fab.nccl_topo} (the Azure HPC image's /opt/microsoft/"
                             f"{fab.nccl_topo})")
    elif fab.transport in GKE_NETWORKING:
        g = GKE_NETWORKING[fab.transport]
        nets = [{"interfaceName": "eth0", "network": "default"}] + [
            {"interfaceName": ifn, "network": GKE_NETWORK_PLACEHOLDER.format(i + 1)} for i, ifn in enumerate(g.interfaces)]
        out.annotations = {"networking.gke.io/default-interface": "eth0",
                           "networking.gke.io/interfaces": json.dumps(nets)}
        out.env = dict(g.env)
        out.mounts = [{"name": v, "mountPath": m} for v, m in g.mounts]
        out.volumes = [{"name": v, "hostPath": {"path": h}} for v, h in g.volumes]
        out.capabilities = ["IPC_LOCK"] if g.ipc_lock else []
        out.prelude = g.prelude
        what = {"gpudirect-tcpx": "GPUDirect-TCPX", "gpudirect-tcpxo": "GPUDirect-TCPXO",
                "gpudirect-rdma": "GPUDirect RDMA (gIB)"}[fab.transport]
        out.notes.append(f"the pods carry GKE's {what} networking (GoogleCloudPlatform/container-engine-accelerators' "
                         f"manifests): set each {GKE_NETWORK_PLACEHOLDER.format('N')} in networking.gke.io/interfaces to "
                         "the GKE Network of the cluster's N-th GPU NIC (Google's examples name them "
                         + ("rdma-0..rdma-7" if fab.transport == "gpudirect-rdma" else "vpc1..") + ")")
        if g.daemon:
            image = GKE_DAEMON_IMAGE.format(g.daemon.upper().replace("-", "_"))
            out.annotations[f"devices.gke.io/container.{g.daemon}"] = "".join(f"- path: {d}\n" for d in g.daemon_devices)
            out.sidecars.append({
                "name": g.daemon, "image": image, "command": list(g.daemon_command),
                "securityContext": {"capabilities": {"add": list(g.daemon_caps)}},
                "env": [{"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"}],
                "volumeMounts": [{"name": v, "mountPath": m} for v, m in g.daemon_mounts]})
            out.notes.append(f"set {image}: Google's {g.daemon} (tcpgpudmarxd-dev) image at the version of the "
                             f"cluster's NCCL {fab.transport.split('-')[1].upper()} plugin installer; the daemon runs "
                             "until the pod ends, so a finished trainer leaves the pod running until the job is deleted")
    return out


def skypilot_fabric(plan: LaunchPlan) -> tuple[str | None, list[str]]:
    """SkyPilot's ``network_tier`` for the plan's fabric, and notes. SkyPilot 0.14.1 ``network_tier: best``: on
    AWS it attaches the instance's EFA interfaces (sky/clouds/aws.py ``make_deploy_resources_variables``:
    ``_get_max_efa_interfaces``; more than one only with ``use_internal_ips``, else it warns and attaches one), on GCP
    it launches the GPUDirect image (sky/clouds/gcp.py); Azure refuses a custom network tier (sky/clouds/azure.py
    ``CUSTOM_NETWORK_TIER``)."""
    fab = plan.fabric
    if fab is None:
        return None, []
    if fab.transport == "efa" and plan.cloud == "aws":
        more = ("one" if fab.devices == 1 else
                f"all {fab.devices or 'of them'} only with use_internal_ips in SkyPilot's config, else one")
        return "best", [f"network_tier: best attaches the instance's EFA interfaces ({more})"]
    if fab.transport.startswith("gpudirect") and plan.cloud == "gcp":
        return "best", ["network_tier: best launches SkyPilot's GPUDirect image and NICs"]
    return None, [f"SkyPilot sets no {fab.transport} network on {plan.cloud} (no network_tier there): the nodes' image "
                  "must carry the drivers and NCCL reach the devices, as the note above says"]


# ------------------------------------------------------------------------------- the GPUs' power limit
#: The tool that holds a node's GPUs at a power limit, per platform (planner.hardware.platform). NVIDIA: ``nvidia-smi
#: -pl W`` sets every GPU of the node (no ``-i``) through NVML ``nvmlDeviceSetPowerManagementLimit``, which "Requires
#: root/admin permissions" and whose "Limit is not persistent across reboots or driver unloads. Enable persistent
#: mode to prevent driver from unloading" (NVML API reference); ``--query-gpu=power.limit`` reads the limit in force.
#: No scheduler sets it for a job: Slurm's ``--gpu-freq`` sets the GPUs' clocks, not their power limit (sbatch man
#: page), Kubernetes' device plugin neither; NVIDIA's admin path is DCGM's ``dcgmi config --set`` (the power limit is
#: among the properties it sets and ``--enforce`` re-applies; "generally requires administrative privileges": DCGM
#: docs, dcgmi config). A platform without an entry gets a note that the launch leaves the limit to the site.
POWER_LIMIT_TOOLS = {"cuda": "nvidia-smi"}
#: watts a GPU's limit in force may sit above the plan's before the check stops the job (nvidia-smi prints 2 decimals)
POWER_LIMIT_SLACK_W = 0.5


def unset_power_note(watts: float | None, platform: str | None, gpu: str) -> list[str]:
    """The note of a plan held at ``watts`` on a platform no launch here sets the limit on (``POWER_LIMIT_TOOLS``)."""
    if watts is None or platform in POWER_LIMIT_TOOLS:
        return []
    return [f"the plan holds every {gpu} at {fmt_given(watts)} W (cluster.power_limit_w): this launch does not set it (no "
            f"power-limit command is written for {platform or 'this platform'}); hold the devices there before the "
            "run (it needs root), or the step runs faster and draws more power than planned"]


#: every GPU's power limit in force, one line a GPU in index order (W, two decimals; ``nvidia-smi -pl`` takes
#: "integer and floating point numbers": nvidia-smi(1))
POWER_QUERY = "nvidia-smi --query-gpu=power.limit --format=csv,noheader,nounits"


def power_saved_file(plan: LaunchPlan) -> str:
    """Where a node keeps its GPUs' power limits from before the job (one line a GPU, ``POWER_QUERY``) until
    ``power_restore_body`` puts them back: the node's temporary directory (``$TMPDIR``, else /tmp), named by the job;
    a k8s pod's containers share ``K8S_POWER_DIR`` instead. A shell word, the variable left to expand."""
    return '"${TMPDIR:-/tmp}"/' + shlex.quote(f"planner-power-limit-{plan.name}")


def power_limit_body(plan: LaunchPlan, saved: str | None = None) -> str | None:
    """The shell line that holds one node's GPUs at the plan's limit: first it keeps the limits in force in
    ``saved`` (``power_saved_file``; kept where a file is there already, so a run that died before restoring
    leaves the limits from before it, not its own), then ``nvidia-smi -pl`` as root, else through ``sudo -n`` (no
    password prompt); where neither may, it reads every GPU's limit in force and fails (one line a GPU, on stderr)
    if any is above the plan's, so a limit the site's prolog set passes and a run the plan did not price does not
    start. None: no limit held, or no tool for the platform (``POWER_LIMIT_TOOLS``)."""
    if plan.power_limit_w is None or plan.platform not in POWER_LIMIT_TOOLS:
        return None
    w = f"{plan.power_limit_w:g}"
    f = saved or power_saved_file(plan)
    check = (f"awk -v w={w} '$1 > w + {POWER_LIMIT_SLACK_W:g} {{print \"error: GPU \" NR - 1 \" is held at \" $1 "
             f"\" W, above the planned \" w \" W (cluster.power_limit_w); nvidia-smi -pl needs root: have the site "
             f"set it (prolog) or plan without the limit\" > \"/dev/stderr\"; bad = 1}} END {{exit bad}}'")
    return (f"set -o pipefail; [ -s {f} ] || {POWER_QUERY} > {f} || rm -f {f}; "
            f"nvidia-smi -pl {w} 2>/dev/null || sudo -n nvidia-smi -pl {w} 2>/dev/null || "
            f"{POWER_QUERY} | {check}")


def power_restore_body(plan: LaunchPlan, saved: str | None = None) -> str | None:
    """The shell line that puts back, after the job, the limits ``power_limit_body`` kept: each GPU whose limit in
    force differs from the one kept is set back (``nvidia-smi -i I -pl W``, as root or by ``sudo -n``), and the
    file removed; one the user may not set back is named on stderr (a warning: the job's own exit status stands)
    and the file kept. A GPU the job did not change (the site's prolog held it) is left alone. Why: NVML's limit
    "is not persistent across reboots or driver unloads" and otherwise outlives the job, so the next job on the node
    would run at this plan's watts (cost43). None where ``power_limit_body`` is."""
    if power_limit_body(plan) is None:
        return None
    f = saved or power_saved_file(plan)
    warn = ('echo "warning: GPU $i stays held at ${now[$i]} W: setting back ${was[$i]} W needs root (nvidia-smi -pl); '
            'have the site reset it (epilog)" >&2')
    return (f"[ -s {f} ] || exit 0; mapfile -t was < {f}; mapfile -t now < <({POWER_QUERY}); left=0; "
            'for i in "${!was[@]}"; do [ "${now[$i]}" = "${was[$i]}" ] && continue; '
            'nvidia-smi -i "$i" -pl "${was[$i]}" >/dev/null 2>&1 || sudo -n nvidia-smi -i "$i" -pl "${was[$i]}" '
            f">/dev/null 2>&1 || {{ {warn}; left=1; }}; done; [ $left = 1 ] || rm -f {f}")


def power_limit_command(plan: LaunchPlan) -> str | None:
    """``power_limit_body`` as one command a shell script runs (``bash -c '...'``), or None."""
    body = power_limit_body(plan)
    return None if body is None else "bash -c " + shlex.quote(body)


def power_restore_trap(plan: LaunchPlan, run=lambda cmd: cmd) -> str:
    """The lines that make a shell script put the GPUs' limits back when it exits (``power_restore_body``), or ""
    with no limit to set: an EXIT trap, and TERM / INT turned into an exit so that it runs when the scheduler stops
    the script too (bash runs no EXIT trap when a signal it does not trap kills it). ``run``: how the script reaches
    every node (Slurm: an srun step; a shell launch: this node)."""
    body = power_restore_body(plan)
    if body is None:
        return ""
    cmd = run("bash -c " + shlex.quote(body))
    return (f"# put the GPUs' power limits from before this job back when it ends (they outlive it otherwise)\n"
            f"trap {shlex.quote(cmd)} EXIT\ntrap 'exit 143' TERM\ntrap 'exit 130' INT\n")


def power_limit_step(plan: LaunchPlan) -> str:
    """``power_limit_command`` as a shell script's lines that stop the node's run where it fails (torchrun's and
    SkyPilot's run scripts, before torchrun), after the trap that restores the limits on exit, or "" with no limit
    to set."""
    power = power_limit_command(plan)
    return power_restore_trap(plan) + power + " || exit 1\n" if power else ""


#: where each format runs ``power_limit_body``, for its header note
POWER_LIMIT_WHERE = {
    "slurm": "an srun step (one task a node) before training runs",
    "torchrun": "the line before torchrun runs, on each node,",
    "skypilot": "the run script runs, on each node before torchrun,",
    "k8s": "each pod's privileged init container (power-limit) runs",
}


#: how a user checks that the cluster's job CRD keeps the sidecar's ``restartPolicy``: a server-side dry run returns the
#: object as the API server would store it, after the CRD's structural schema has pruned the fields it does not list
#: (Kubernetes docs, "Extend the Kubernetes API with CustomResourceDefinitions", "Field pruning"; kubectl apply
#: ``--dry-run=server``); kubectl's server-side field validation (on by default since 1.27) refuses such a field as
#: unknown instead. Said in the header because Training Operator v1.8's PyTorchJob CRD could not be read (qa69):
#: the stored copies of kubeflow/training-operator manifests/base/crds/kubeflow.org_pytorchjobs.yaml are the v1.9 line
#: (c20bf65; kubeflow/trainer ee38ae8, both controller-gen v0.16.5, which list it) and an early one (04538cc,
#: controller-gen v0.6.0); v1.8's roadmap (kubeflow/trainer issue #1994) moved it to Kubernetes 1.27-1.29 (PR #2038,
#: K8s 1.28 support, merged 2024-03-28, before v1.8.0-rc.0), which suggests k8s.io/api >= v0.28, not checked here.
K8S_PRUNE_CHECK = ("`kubectl apply --dry-run=server -o yaml -f` this file prints restartPolicy: Always under "
                   "power-limit-restore where the CRD keeps it; where not, kubectl names it an unknown field or prints "
                   "the sidecar without it")


#: what runs ``power_restore_body`` in each format, and what it leaves to the site, for its header note
POWER_RESTORE_WHERE = {
    "slurm": ("the batch script's EXIT trap (TERM and INT trapped into an exit), by an srun step on every node,",
              " A job killed past its --time or by scancel (TERM, then KILL after KillWait) may end before that step "
              "starts: only the site's Epilog (slurm.conf: run as root on every node at the job's end) covers it."),
    "torchrun": ("the script's EXIT trap (TERM and INT trapped into an exit)", ""),
    "skypilot": ("the run script's EXIT trap (TERM and INT trapped into an exit)", ""),
    "k8s": ("a privileged sidecar, power-limit-restore (an init container with restartPolicy: Always; the kubelet "
            "sends it SIGTERM once the trainer has exited),",
            " The sidecar needs Kubernetes >= 1.29 (sidecar containers on by default) and a job operator built on "
            "k8s.io/api >= v0.28, whose CRD and Go types keep initContainers[].restartPolicy (Training Operator "
            "v1.9's PyTorchJob CRD does; v1.7-era builds, on k8s.io/api v0.26, do not; v1.8's CRD is unchecked: "
            f"{K8S_PRUNE_CHECK}): where the field is lost, "
            "the sidecar's startupProbe makes the API server refuse the pod ('startupProbe: Forbidden: may not be "
            "set for init containers without restartPolicy=Always', in the job's events) before any limit is set, "
            "instead of the pod waiting in Init."),
}


def power_limit_notes(plan: LaunchPlan, fmt: str) -> list[str]:
    """The header note of a launch that sets the plan's power limit (``power_limit_body``): where it runs, what it
    needs, what it leaves to the site."""
    if power_limit_body(plan) is None:
        return []
    w, rated = plan.power_limit_w, plan.rated_power_limit_w
    where, left = POWER_RESTORE_WHERE[fmt]
    k8s = (" The namespace must admit privileged pods (Pod Security Standards' privileged level); where it may not, "
           "an admin holds the nodes' GPUs there (DCGM: dcgmi config --set with its power limit, --enforce to "
           "re-apply) and the check passes." if fmt == "k8s" else "")
    # (the limit as given, ``fmt_given``: 699.6 W read "at 700 W (rated 700 W)" beside "nvidia-smi -pl 699.6" until fuzz44)
    return [f"the plan holds every {plan.gpu} at {fmt_given(w)} W (cluster.power_limit_w; rated "
            f"{f'{rated:,.0f}' if rated else '?'} W): {POWER_LIMIT_WHERE[fmt]} nvidia-smi -pl {w:g}, which needs root "
            "(NVML: 'Requires root/admin permissions'): as root, else by sudo -n; where neither may, it reads the "
            f"limit in force and stops the job if a GPU is above {fmt_given(w)} W (a limit the site's prolog set passes). "
            "The limit lasts until a reboot or driver unload (keep persistence mode on) and would outlive the job, "
            f"so {where} puts back each GPU's limit from before the job (kept in {'the pod' if fmt == 'k8s' else 'the node'}"
            "'s temporary directory) and names on stderr a GPU the user may not set back (the site resets it: "
            f"nvidia-smi -pl {f'{rated:g}' if rated else '<rated>'}).{left} Slurm has no job option for it (--gpu-freq "
            "sets clocks, not power)." + k8s]


# ------------------------------------------------------------------------------- formats
def _quote(arg: str) -> str:
    """Shell-quote, but leave ``$VAR`` references expandable."""
    if arg.startswith("$") and arg[1:].replace("_", "").isalnum():
        return f'"{arg}"'
    if "/" in arg and arg.startswith("$"):
        head, _, tail = arg.partition("/")
        return f'"{head}"/{shlex.quote(tail)}'
    return shlex.quote(arg)


def _lines(args: list[str], indent: str = "  ") -> str:
    """Flags grouped one per line (a flag with its value), joined with backslash continuations."""
    groups: list[list[str]] = []
    for a in args:
        # a tyro subcommand (torchtitan's ``activation-checkpoint:full``) is no flag's value: a line of its own
        if a.startswith("-") or not groups or a.startswith(TITAN_AC_SUBCOMMAND):
            groups.append([a])
        else:
            groups[-1].append(a)
    return (" \\\n" + indent).join(" ".join(_quote(x) for x in g) for g in groups)


def torchrun_args(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> list[str]:
    """``torchrun`` launcher flags (torch.distributed.run); one node uses ``--standalone``."""
    if plan.nodes == 1:
        return ["torchrun", "--standalone", "--nnodes=1", f"--nproc-per-node={plan.gpus_per_node}"]
    return ["torchrun", f"--nnodes={plan.nodes}", f"--nproc-per-node={plan.gpus_per_node}",
            f"--node-rank={node_rank}", f"--master-addr={master_addr}", f"--master-port={master_port}"]


def _header(plan: LaunchPlan, comment: str = "#", notes=()) -> str:
    """The spec's comment header; ``notes``: a format's own notes after the plan's (the fabric's requests, k8s /
    SkyPilot)."""
    lines = [f"planner plan: {plan.summary}", f"launcher style: {plan.style}"]
    lines += [f"set ${k}: {v}" for k, v in plan.placeholders.items()]
    lines += [f"note: {n}" for n in (*plan.notes, *notes)]
    return "\n".join(f"{comment} {clean_line(x)}" for x in lines)  # catalog names: one inert comment line


def _command(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> str:
    env = " ".join(f"{k}={v}" for k, v in {**plan.env, **host_fabric_env(plan)}.items())
    launcher = torchrun_args(plan, node_rank, master_addr, master_port)
    return (env + " " if env else "") + " ".join(launcher) + " \\\n  " + _lines(plan.program)


def nvlink_domain_notes(plan: LaunchPlan, fmt: str) -> list[str]:
    """What a launcher other than Slurm (whose ``--segment`` asks for it) must be given for the plan's NVLink domain
    that spans hosts (``LaunchPlan.nvlink_hosts``): the plan prices its collectives inside each domain at NVLink
    speed, which needs its hosts inside one rack's NVLink domain with IMEX channels (NVIDIA IMEX guide: multi-node
    NVLink memory sharing runs over IMEX channels); on Kubernetes a pod gets one only through a ComputeDomain of
    the NVIDIA DRA Driver for GPUs (kubernetes-sigs/dra-driver-nvidia-gpu README, "ComputeDomains": "guarantees
    MNNVL-reachability between pods that are in the CD"), which the k8s format writes (``emit_k8s``; until launch41
    this note asked the user to add them). QA 59: torchrun / SkyPilot / k8s specs of a 2-rack GB200 plan said
    nothing of it; a PyTorchJob without the claim runs its 32 pods' traffic over the network between trays while the
    plan's step time assumed NVLink."""
    n = plan.nvlink_hosts
    if not n:
        return []
    domains = plan.nodes // n
    head = (f"the plan is priced on {domains} NVLink domain{'s' if domains != 1 else ''} of {n} hosts "
            f"({n * plan.gpus_per_node} {plan.gpu}s each): ")
    if fmt == "k8s":  # the ComputeDomains themselves are written (emit_k8s): what the cluster must run for them
        job = ("one JobSet replicatedJob per domain (kubernetes-sigs/jobset's controller), node ranks "
               f"{n} x domain + JOB_COMPLETION_INDEX" if domains > 1 else "every pod of the PyTorchJob")
        return [head + f"each domain has its ComputeDomain ({COMPUTE_DOMAIN_API}, spec.numNodes {n}), the API DRA "
                f"driver release {COMPUTE_DOMAIN_DRIVER} serves (its main branch converts it to v1beta2), whose IMEX "
                f"channel its pods claim ({job}), held in one NVLink partition by a podAffinity on {CLIQUE_KEY}: the cluster "
                "must run the NVIDIA DRA Driver for GPUs with ComputeDomains (kubernetes-sigs/dra-driver-nvidia-gpu); "
                "without the channel NCCL crosses the trays over the network and the step is slower than planned"]
    return [head + f"launch each group of {n} consecutive node ranks on the hosts of one rack's NVLink domain, with "
            "the IMEX daemon up and its channel visible (/dev/nvidia-caps-imex-channels); otherwise NCCL crosses the "
            "trays over the network and the step is slower than planned"]


def emit_torchrun(plan: LaunchPlan) -> str:
    where = ("run once on the node" if plan.nodes == 1 else
             f"run on each of the {plan.nodes} nodes with NODE_RANK=0..{plan.nodes - 1} and MASTER_ADDR = node 0's address")
    return (_header(plan, notes=host_fabric_notes(plan) + nvlink_domain_notes(plan, "torchrun")
                    + power_limit_notes(plan, "torchrun")) + f"\n# {where}\n" + power_limit_step(plan)
            + _command(plan, "$NODE_RANK", "$MASTER_ADDR", str(MASTER_PORT)) + "\n")


def _slurm_time(hours: float) -> str:
    if not math.isfinite(hours):
        return "UNLIMITED"
    minutes = max(10, int(math.ceil(hours * SLURM_TIME_HEADROOM * 60)))
    d, rem = divmod(minutes, 24 * 60)
    return f"{d}-{rem // 60:02d}:{rem % 60:02d}:00"


def emit_slurm(plan: LaunchPlan) -> str:
    """An sbatch script: one task per node, each running torchrun for its node's GPUs."""
    sb = [f"--job-name={plan.name}", f"--nodes={plan.nodes}", "--ntasks-per-node=1",
          f"--gpus-per-node={plan.gpus_per_node}", "--exclusive", f"--time={_slurm_time(plan.hours)}"]
    if plan.vcpus_per_node:
        sb.append(f"--cpus-per-task={int(plan.vcpus_per_node)}")
    if plan.segment:  # the NVLink domain the plan was priced on (topology/block: each segment inside one rack)
        sb.append(f"--segment={plan.segment}")
    body = ["#!/bin/bash"] + [f"#SBATCH {s}" for s in sb] + [
            _header(plan, notes=host_fabric_notes(plan) + power_limit_notes(plan, "slurm")),
            f"# --time is the plan's expected {fmt_time(plan.hours * 3600)} (checkpoint pauses and failures included where "
            f"the job models them) x {SLURM_TIME_HEADROOM} headroom",
            "set -euo pipefail",
            'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            f"export MASTER_PORT={MASTER_PORT}"]
    body += [f"export {k}={v}" for k, v in {**plan.env, **host_fabric_env(plan)}.items()]
    power = power_limit_command(plan)
    if power:  # one task a node: every GPU of the node at the plan's limit before the training step starts, and
        # back at its limit from before when the script exits (an srun step on every node, from the EXIT trap)
        body.append(power_restore_trap(plan, lambda cmd: "srun --ntasks-per-node=1 " + cmd).rstrip("\n"))
        body.append("srun --ntasks-per-node=1 --kill-on-bad-exit=1 " + power)
    # single quotes: SLURM_NODEID must expand per task, on its own node
    launcher = torchrun_args(plan, "$SLURM_NODEID", "$MASTER_ADDR", "$MASTER_PORT")
    cmd = " ".join(launcher) + " " + " ".join(_quote(x) for x in plan.program)
    body.append("srun --kill-on-bad-exit=1 bash -c " + shlex.quote(cmd))
    return "\n".join(body) + "\n"


def _run_script(plan: LaunchPlan, node_rank: str, master_addr: str, master_port: str) -> str:
    env = "".join(f"export {k}={v}\n" for k, v in plan.env.items())
    return env + " ".join(torchrun_args(plan, node_rank, master_addr, master_port)) + " \\\n  " + _lines(plan.program) + "\n"


def _skypilot_resources(plan: LaunchPlan, accelerator: str) -> dict:
    """A SkyPilot task's ``resources``: the node's accelerators, and the plan's cloud, instance type and spot choice."""
    res: dict = {"accelerators": f"{accelerator}:{plan.gpus_per_node}"}
    if plan.cloud not in ("-", None):
        res["cloud"] = plan.cloud
    if plan.instance:
        res["instance_type"] = plan.instance
    res["use_spot"] = plan.spot
    return res


def emit_skypilot(plan: LaunchPlan) -> str:
    """A SkyPilot task YAML (``sky launch task.yaml``): resources, num_nodes, run script."""
    res = _skypilot_resources(plan, SKYPILOT_ACCELERATOR.get(plan.gpu, plan.gpu))
    tier, notes = skypilot_fabric(plan)
    if tier:
        res["network_tier"] = tier
    run = ('MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1)\n' + power_limit_step(plan)
           + _run_script(plan, "$SKYPILOT_NODE_RANK", "$MASTER_ADDR", str(MASTER_PORT)))
    task = {"name": plan.name, "num_nodes": plan.nodes, "resources": res,
            "envs": {k: "" for k in plan.placeholders}, "run": run}
    return (_header(plan, notes=list(notes) + nvlink_domain_notes(plan, "skypilot") + power_limit_notes(plan, "skypilot"))
            + "\n"
            + yaml.safe_dump(task, sort_keys=False, width=1000))


#: the NVIDIA DRA Driver for GPUs' ComputeDomain, the one way a pod reaches other pods' GPUs over multi-node NVLink
#: (IMEX channels). Fields from NVIDIA/k8s-dra-driver-gpu api/nvidia.com/resource/v1beta1/computedomain.go (@0a29b3da):
#: ``spec.numNodes`` (the domain's nodes: gates the pods until that many IMEX daemons joined when the driver runs
#: without ``IMEXDaemonsWithDNSNames``, else only sets the CD's Ready status) and ``spec.channel.resourceClaimTemplate
#: .name`` (the ResourceClaimTemplate the controller creates beside it); the pods claim that template, as the GPU
#: Operator's "Multi-Node NVLink support with the NVIDIA DRA Driver for GPUs" page (NVIDIA cloud-native-docs,
#: dra-cds, driver v25.3.0) writes its nvbandwidth MPIJob: ``resources.claims`` in the container and the pod's
#: ``resourceClaims[].resourceClaimTemplateName``. A CD does not place its pods: that page and CoreWeave's "IMEX with
#: DRA" guide put them in one NVLink partition by a required podAffinity on the node label ``nvidia.com/gpu.clique``
#: (GPU Feature Discovery's clique id), which ``CLIQUE_KEY`` writes.
#: Version (launch42): the driver's current release, 0.5.0 (2026-08-19: NVIDIA/aicr PR #2439, paired with GPU Operator
#: v26.7.0), ships the v1beta1 CRD, ``numNodes`` optional there (default 0, minimum 0: NVIDIA/aicr issue #2715 compares
#: its CRD with the GPU Operator's copy field by field, both v1beta1). v1beta2 exists on the repository's main only
#: (kubernetes-sigs/dra-driver-nvidia-gpu @3fe94879, PR #1005: api/nvidia.com/resource/v1beta2/computedomain.go): the
#: storage version, ``spec.numNodes`` removed (carried as the annotation ``resource.nvidia.com/computedomain-num-nodes``)
#: and ``channel.allocationMode`` kept, with v1beta1 still served ("deprecated: true") through a conversion webhook
#: (v1beta1/computedomain_conversion.go). So the spec writes v1beta1: every release applies it, and main converts it
#: with numNodes kept; a v1beta2 object would be refused by every released driver. ``numNodes`` stays the domain's
#: hosts: the CRD says a non-zero value only sets the CD's Ready status under ``IMEXDaemonsWithDNSNames`` (the
#: default) and must be the node count without it.
COMPUTE_DOMAIN_API = "resource.nvidia.com/v1beta1"
#: the DRA driver release whose CRD ``COMPUTE_DOMAIN_API`` was checked against, named in the k8s header
COMPUTE_DOMAIN_DRIVER = "0.5.0"
CLIQUE_KEY = "nvidia.com/gpu.clique"
#: the pod label the clique affinity selects one domain's pods by (a DNS-subdomain prefix and a name)
DOMAIN_LABEL = "planner/nvlink-domain"
DOMAIN_CLAIM = "compute-domain-channel"
#: JobSet (kubernetes-sigs/jobset, jobset.x-k8s.io/v1alpha2): the multi-domain k8s launch (``emit_k8s_domains``); with
#: ``network.enableDNSHostnames`` a pod is reached at ``<jobSet>-<replicatedJob>-<job index>-<pod index>.<subdomain>``,
#: the subdomain defaulting to the JobSet's name (kubernetes-sigs/jobset site/static/examples/simple/
#: jobset-with-network.yaml)
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
#: how many times either k8s launch restarts the whole job after a failure before it fails the run: Kubernetes' own
#: number of retries for a Job (batch/v1 ``spec.backoffLimit`` "defaults to 6": the Jobs page, "Pod backoff failure
#: policy"). A JobSet restarts by recreating every child Job (``spec.failurePolicy.maxRestarts``, kubernetes-sigs/jobset
#: api/jobset/v1alpha2/jobset_types.go: with no ``rules`` a failed Job takes the RestartJobSet action, counted against
#: maxRestarts; with no failurePolicy the first failed Job fails the JobSet). A PyTorchJob's ``restartPolicy:
#: OnFailure`` restarts a failed pod's container in place, without limit unless ``runPolicy.backoffLimit`` is set, and
#: that limit counts the container restarts summed over its running pods (kubeflow/training-operator
#: ``PastBackoffLimit``); a rank's failure fails its peers' collectives too, so each restart of the job restarts every
#: pod once: its limit is this x the pods. Until follow41 the JobSet restarted nothing and the PyTorchJob without end.
K8S_RESTARTS = 6


@dataclass(frozen=True)
class NvlinkDomain:
    """One NVLink domain of the plan as a k8s launch places it: its ComputeDomain and channel, its hosts, and the
    node rank of its first host (each domain holds ``hosts`` consecutive node ranks, as the plan priced them)."""

    key: str  # nvl0, nvl1, ...: the JobSet's replicatedJob
    name: str
    channel: str
    hosts: int
    first_rank: int


def nvlink_domains(plan: LaunchPlan) -> list[NvlinkDomain]:
    """The plan's NVLink domains that span hosts (``LaunchPlan.nvlink_hosts``), one ComputeDomain each."""
    n = plan.nvlink_hosts
    if not n:
        return []
    return [NvlinkDomain(f"nvl{d}", f"{plan.name}-nvl{d}", f"{plan.name}-nvl{d}-channel", n, d * n)
            for d in range(plan.nodes // n)]


def compute_domain(dom: NvlinkDomain) -> dict:
    """The ComputeDomain object of one NVLink domain (``COMPUTE_DOMAIN_API``)."""
    return {"apiVersion": COMPUTE_DOMAIN_API, "kind": "ComputeDomain", "metadata": {"name": dom.name},
            "spec": {"numNodes": dom.hosts, "channel": {"resourceClaimTemplate": {"name": dom.channel}}}}


def claim_domain(template: dict, dom: NvlinkDomain) -> dict:
    """``template`` (a pod template) with its domain's channel claimed by the trainer container and its pods held in
    one NVLink partition (``CLIQUE_KEY``) beside the other pods of the domain."""
    spec = template["spec"]
    spec["containers"][0]["resources"]["claims"] = [{"name": DOMAIN_CLAIM}]
    spec["resourceClaims"] = [{"name": DOMAIN_CLAIM, "resourceClaimTemplateName": dom.channel}]
    spec["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {DOMAIN_LABEL: dom.name}}, "topologyKey": CLIQUE_KEY}]}}
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), DOMAIN_LABEL: dom.name}
    return {"metadata": meta, "spec": spec}


#: the pod volume (an emptyDir) and its mount where the power-limit init container keeps the node's limits from
#: before the job (``power_limit_body``) for the restore sidecar (``k8s_power_containers``)
K8S_POWER_VOLUME = "power-limit"
K8S_POWER_DIR = "/planner-power-limit"
K8S_POWER_FILE = f"{K8S_POWER_DIR}/saved"
#: the file the restore sidecar writes once its SIGTERM trap is set; its startupProbe waits for it
K8S_POWER_ARMED = f"{K8S_POWER_DIR}/restore-armed"
#: the sidecar's startupProbe: checked every second, given 30 s to pass (the default 10 s period would hold the
#: next init container up to 10 s; the default 3 failures would restart a sidecar slow to start on a busy node)
K8S_ARMED_PROBE = {"exec": {"command": ["test", "-e", K8S_POWER_ARMED]}, "periodSeconds": 1, "failureThreshold": 30}


def k8s_restore_sidecar(plan: LaunchPlan, mount: list[dict]) -> dict:
    """``power-limit-restore``: a privileged sidecar (an init container with ``restartPolicy: Always``) that sets a
    SIGTERM trap running ``power_restore_body``, then marks itself armed (``K8S_POWER_ARMED``) and waits. Its
    startupProbe does two things. (1) Order: the kubelet starts the next init container only once a sidecar is
    "started", which with a startupProbe means the probe has passed (Kubernetes docs, "Sidecar Containers": "That
    status either becomes true because there is a process running in the container and no startup probe defined, or
    as a result of its startupProbe succeeding"), so ``power-limit`` sets no limit before the restore is armed.
    (2) No silent hang: a plain init container may carry no probe ("Regular init containers (in other words:
    excluding sidecar containers) do not support the lifecycle, livenessProbe, readinessProbe, or startupProbe
    fields", "Init Containers"; kubernetes/kubernetes@000f2605 pkg/apis/core/validation/validation.go
    ``validateInitContainers``: "may not be set for init containers without restartPolicy=Always"; releases before
    the field forbade probes on every init container). Where ``restartPolicy`` is lost -- a job CRD whose schema
    predates it prunes it, an operator built on k8s.io/api < v0.28 has no such Go field, an API server < 1.28 or with
    the SidecarContainers gate off drops it -- the API server refuses the pod and the operator reports why, where
    without the probe the sidecar ran as a plain init container that waits forever and the pod stayed in Init. It asks for no GPU (a sidecar's
    requests add to the main containers', so it would double the pod's GPUs): it reaches the node's GPUs through
    ``NVIDIA_VISIBLE_DEVICES=all``, which the NVIDIA container runtime honours ("all: all GPUs will be accessible",
    NVIDIA Container Toolkit docs, "Specialized Configurations with Docker"); the pod holds every GPU of its node, so
    they are the trainer's."""
    restore = "bash -c " + shlex.quote(power_restore_body(plan, K8S_POWER_FILE)) + "; exit 0"
    # the mark is removed first: a sidecar restarted in the same pod finds its last one in the emptyDir
    wait = f"rm -f {K8S_POWER_ARMED}; trap {shlex.quote(restore)} TERM; : > {K8S_POWER_ARMED}; sleep infinity & wait"
    return {"name": "power-limit-restore", "image": "REPLACE_WITH_TRAINING_IMAGE", "restartPolicy": "Always",
            "command": ["bash", "-c", wait], "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
            "startupProbe": yaml.safe_load(yaml.safe_dump(K8S_ARMED_PROBE)),
            "securityContext": {"privileged": True}, "volumeMounts": [dict(m) for m in mount]}


def k8s_power_containers(plan: LaunchPlan, vendor_gpu: str) -> list[dict]:
    """The pod's init containers that hold the node's GPUs at the plan's limit and put the limits from before back
    when the pod ends. Kubernetes has no job epilog; its end-of-pod hook is a sidecar: an init container with
    ``restartPolicy: Always`` runs beside the main containers and, once they have exited, gets SIGTERM (Kubernetes
    docs, "Sidecar Containers": on by default since v1.29; the kubelet stops sidecars after the main containers,
    kubernetes/kubernetes PR #120620). So, in order: ``power-limit-restore``, the sidecar (``k8s_restore_sidecar``),
    armed before anything is set; then ``power-limit``, a privileged regular init container that keeps the limits in
    the pod's emptyDir and sets the plan's (``power_limit_body``; its GPUs are the trainer's: a pod's request is the
    larger of its init and regular containers', so asking for them again costs nothing). Until k8s44 the sidecar came
    second, with no probe: a pod stopped between the two kept the limit, and a pruned restartPolicy hung the pod."""
    mount = [{"name": K8S_POWER_VOLUME, "mountPath": K8S_POWER_DIR}]
    return [k8s_restore_sidecar(plan, mount),
            {"name": "power-limit", "image": "REPLACE_WITH_TRAINING_IMAGE",
             "command": ["bash", "-c", power_limit_body(plan, K8S_POWER_FILE)], "securityContext": {"privileged": True},
             "resources": {"limits": {vendor_gpu: plan.gpus_per_node}}, "volumeMounts": mount}]


#: a Kubernetes label value: at most 63 characters, alphanumerics, ``-``, ``_`` and ``.``, beginning and ending with an
#: alphanumeric (kubernetes.io/docs/concepts/overview/working-with-objects/labels, "Syntax and character set";
#: apimachinery validation.IsValidLabelValue)
K8S_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def k8s_label_value(name: str) -> str:
    """``name`` as a label value the API server accepts, else a one-line refusal: the nodes' own
    ``node.kubernetes.io/instance-type`` label can never hold such a name, so a rewritten selector would match no node
    and the pods would stay Pending (a private catalog's instance named ``my box (a100)``)."""
    if K8S_LABEL_VALUE.fullmatch(name):
        return name
    raise InputError("--emit", f"instance {clip(name)} cannot be a Kubernetes label value (letters, digits, '-', '_', "
                               "'.', at most 63, alphanumeric at both ends), so no node's instance-type label matches "
                               "it; rename it in the catalog or emit another format")


def _k8s_pod(plan: LaunchPlan, fx: K8sFabric, script: str, env: list[dict], restart: str | None = None) -> dict:
    """One pod template: the trainer container holding the node's GPUs and the fabric's devices, ``/dev/shm``, the
    fabric's sidecars, volumes and annotations (``K8sFabric``); ``restart``: a Job's pod restartPolicy."""
    vendor_gpu = "amd.com/gpu" if plan.gpu.upper().startswith("MI") else "nvidia.com/gpu"
    devices = fx.devices
    container: dict = {
        "name": "pytorch", "image": "REPLACE_WITH_TRAINING_IMAGE",
        # a copy per replica: one shared list was dumped as a YAML anchor ("env: &id001" in the Master,
        # "env: *id001" in the Worker), which people read and edit as one more thing to decode
        "command": ["bash", "-c", script], "env": [dict(e) for e in env],
        # the fabric's devices (EFA, InfiniBand HCAs) in limits and requests, as the EKS and AKS examples write them
        "resources": ({"limits": {vendor_gpu: plan.gpus_per_node, **devices}, "requests": dict(devices)}
                      if devices else {"limits": {vendor_gpu: plan.gpus_per_node}}),
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}] + [dict(m) for m in fx.mounts],
    }
    if fx.capabilities:
        container["securityContext"] = {"capabilities": {"add": list(fx.capabilities)}}
    spec: dict = {
        "containers": [container] + [yaml.safe_load(yaml.safe_dump(c)) for c in fx.sidecars],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}] + [dict(v) for v in fx.volumes],
    }
    if power_limit_body(plan):
        spec["initContainers"] = k8s_power_containers(plan, vendor_gpu)
        spec["volumes"].append({"name": K8S_POWER_VOLUME, "emptyDir": {}})
    if restart:
        spec["restartPolicy"] = restart
    if plan.instance:
        spec["nodeSelector"] = {"node.kubernetes.io/instance-type": k8s_label_value(plan.instance)}
    if fx.annotations:  # GKE's multi-network annotations are the pod's, set before it is scheduled
        return {"metadata": {"annotations": dict(fx.annotations)}, "spec": spec}
    return {"spec": spec}


def _k8s_env(plan: LaunchPlan, fx: K8sFabric) -> list[dict]:
    return [{"name": k, "value": "REPLACE_ME"} for k in plan.placeholders] + [
        {"name": k, "value": v} for k, v in fx.env.items()]


def _k8s_docs(header: str, docs: list[dict]) -> str:
    """The header, then each object as its own YAML document (``kubectl apply -f`` creates them in order)."""
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=1000) for d in docs)
    return header + "\n# set the container image: REPLACE_WITH_TRAINING_IMAGE (and each REPLACE_ME)\n" + body


def emit_k8s(plan: LaunchPlan) -> str:
    """A Kubeflow Training Operator ``PyTorchJob``: one Master + (nodes-1) Workers, one pod per
    node holding all its GPUs; the operator sets MASTER_ADDR, MASTER_PORT and RANK (node rank). A plan whose NVLink
    domain spans hosts (GB200 / GB300 NVL72) gets its ComputeDomain before the job, claimed by every pod; one on
    several such domains launches as a JobSet (``emit_k8s_domains``)."""
    doms = nvlink_domains(plan)
    if len(doms) > 1:
        return emit_k8s_domains(plan, doms)
    fx = k8s_fabric(plan)
    script = (fx.prelude + "\n" if fx.prelude else "") + _run_script(plan, "$RANK", "$MASTER_ADDR", "$MASTER_PORT")
    env = _k8s_env(plan, fx)

    def replica(n: int) -> dict:
        pod = _k8s_pod(plan, fx, script, env)
        return {"replicas": n, "restartPolicy": "OnFailure", "template": claim_domain(pod, doms[0]) if doms else pod}

    replicas = {"Master": replica(1)}
    if plan.nodes > 1:
        replicas["Worker"] = replica(plan.nodes - 1)
    doc = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": plan.name},
           "spec": {"nprocPerNode": str(plan.gpus_per_node), "pytorchReplicaSpecs": replicas,
                    # K8S_RESTARTS restarts of the job, as the JobSet launch allows (its limit counts pod restarts)
                    "runPolicy": {"backoffLimit": K8S_RESTARTS * plan.nodes}}}
    header = _header(plan, notes=list(fx.notes) + nvlink_domain_notes(plan, "k8s") + power_limit_notes(plan, "k8s"))
    return _k8s_docs(header, [compute_domain(d) for d in doms] + [doc])


def emit_k8s_domains(plan: LaunchPlan, doms: list[NvlinkDomain]) -> str:
    """A plan on several multi-host NVLink domains: a PyTorchJob gives all its Workers one pod template, so its pods
    cannot claim different ComputeDomains. A JobSet can: one replicatedJob per domain (an Indexed Job of the domain's
    hosts, each pod claiming that domain's channel), node rank = the domain's first rank + ``JOB_COMPLETION_INDEX``
    (the Indexed Job's pod index, kubernetes.io "Indexed Job"), master = the first domain's first pod by its JobSet
    hostname (``JOBSET_API``)."""
    fx = k8s_fabric(plan)
    master = f"{plan.name}-{doms[0].key}-0-0.{plan.name}"
    script = (fx.prelude + "\n" if fx.prelude else "") + _run_script(
        plan, "$((RANK_BASE + JOB_COMPLETION_INDEX))", master, str(MASTER_PORT))

    def replicated(dom: NvlinkDomain) -> dict:
        env = _k8s_env(plan, fx) + [{"name": "RANK_BASE", "value": str(dom.first_rank)}]
        pod = claim_domain(_k8s_pod(plan, fx, script, env, restart="Never"), dom)
        job = {"parallelism": dom.hosts, "completions": dom.hosts, "completionMode": "Indexed", "backoffLimit": 0,
               "template": pod}
        return {"name": dom.key, "replicas": 1, "template": {"spec": job}}

    doc = {"apiVersion": JOBSET_API, "kind": "JobSet", "metadata": {"name": plan.name},
           "spec": {"network": {"enableDNSHostnames": True}, "replicatedJobs": [replicated(d) for d in doms],
                    # a failed Job (backoffLimit 0: any pod's failure) recreates them all, K8S_RESTARTS times at most
                    "failurePolicy": {"maxRestarts": K8S_RESTARTS}}}
    header = _header(plan, notes=list(fx.notes) + nvlink_domain_notes(plan, "k8s") + power_limit_notes(plan, "k8s"))
    return _k8s_docs(header, [compute_domain(d) for d in doms] + [doc])


# ------------------------------------------------------------------------------- a vendor's fork's launch
def _fork_hostfile_line(plan: LaunchPlan) -> str:
    """What the fork's script does with the processes, said once in each format."""
    n = plan.nodes * plan.gpus_per_node
    return (f"the fork's script launches mpirun -n {n} itself, one process per HPU"
            + ("" if plan.nodes == 1 else f", over the OpenMPI hostfile $HL_HOSTSFILE ({plan.nodes} lines "
                                          f"'HOST slots={plan.gpus_per_node}'; node 0's address first)")
            + ": run it once")


def _fork_run(plan: LaunchPlan) -> str:
    """The variables and the script, as the fork's README writes its recipes (``HL_...=... pretrain_llama.sh``)."""
    return "".join(f"export {k}={v}\n" for k, v in plan.env.items()) + f"bash {_quote(plan.fork)}\n"


def fork_torchrun(plan: LaunchPlan) -> str:
    """The shell launch: no torchrun, the fork's script under mpirun."""
    where = "run once on the node" if plan.nodes == 1 else "run once, on node 0, with $HL_HOSTSFILE set"
    return _header(plan, notes=[_fork_hostfile_line(plan)]) + f"\n# {where}\n" + _fork_run(plan)


def fork_slurm(plan: LaunchPlan) -> str:
    """An sbatch script: the batch step writes the allocation's hostfile and runs the script once; its mpirun starts
    the processes on every node (OpenMPI launches through Slurm inside an allocation). No --gpus-per-node: a Gaudi's
    gres name is the site's."""
    sb = [f"--job-name={plan.name}", f"--nodes={plan.nodes}", f"--ntasks-per-node={plan.gpus_per_node}",
          "--exclusive", f"--time={_slurm_time(plan.hours)}"]
    body = ["#!/bin/bash"] + [f"#SBATCH {x}" for x in sb] + [_header(plan, notes=[_fork_hostfile_line(plan)]),
            f"# --time is the plan's expected {fmt_time(plan.hours * 3600)} x {SLURM_TIME_HEADROOM} headroom",
            "set -euo pipefail"]
    if plan.nodes > 1:
        body += ['export HL_HOSTSFILE="$PWD/hostsfile.$SLURM_JOB_ID"',
                 f'scontrol show hostnames "$SLURM_JOB_NODELIST" | sed "s/$/ slots={plan.gpus_per_node}/" '
                 '> "$HL_HOSTSFILE"']
    return "\n".join(body) + "\n" + _fork_run(plan)


def fork_skypilot(plan: LaunchPlan) -> str:
    """A SkyPilot task whose node 0 writes the hostfile from SKYPILOT_NODE_IPS and runs the script (SkyPilot's own MPI
    example launches mpirun so); refused for a Gaudi SkyPilot has no accelerator name for."""
    acc = SKYPILOT_GAUDI.get(plan.gpu)
    if acc is None:
        raise InputError("--emit", f"SkyPilot has no accelerator name for {plan.gpu} (its catalogs list Gaudi 2 as "
                                   "GAUDI2 on Shadeform only): use --emit slurm, k8s or torchrun")
    res = _skypilot_resources(plan, acc)
    run = 'if [ "$SKYPILOT_NODE_RANK" != 0 ]; then exit 0; fi\n'
    if plan.nodes > 1:
        run += ('export HL_HOSTSFILE="$HOME/hostsfile"\n'
                f'echo "$SKYPILOT_NODE_IPS" | sed "s/$/ slots={plan.gpus_per_node}/" > "$HL_HOSTSFILE"\n')
    task = {"name": plan.name, "num_nodes": plan.nodes, "resources": res,
            "envs": {k: "" for k in plan.placeholders}, "run": run + _fork_run(plan)}
    return (_header(plan, notes=[_fork_hostfile_line(plan)]) + "\n"
            + yaml.safe_dump(task, sort_keys=False, width=1000))


def fork_k8s(plan: LaunchPlan) -> str:
    """A Kubeflow ``MPIJob`` (MPI Operator, kubeflow.org/v2beta1): one Launcher running the script, whose mpirun reads
    the operator's /etc/mpi/hostfile, and a Worker a node holding its HPUs (``habana.ai/gaudi``)."""
    # multi-node: the operator's hostfile already says 'slots=', which the script would append again had it to find it
    hostfile = {"HL_HOSTSFILE": "/etc/mpi/hostfile"} if plan.nodes > 1 else {}
    env = [{"name": k, "value": "REPLACE_ME"} for k in plan.placeholders] + [
        {"name": k, "value": v} for k, v in {**plan.env, **hostfile}.items()]
    hpus = {GAUDI_K8S_RESOURCE: plan.gpus_per_node}

    def container(cmd: list[str], devices: bool) -> dict:
        c: dict = {"name": "gaudi", "image": "REPLACE_WITH_TRAINING_IMAGE", "command": cmd,
                   "env": [dict(e) for e in env]}
        if devices:
            c["resources"] = {"limits": dict(hpus), "requests": dict(hpus)}
        return c

    launcher = container(["bash", "-c", f"bash {_quote(plan.fork)}"], False)
    # the workers run sshd for the launcher's mpirun, as the MPI Operator's examples do; one node too: the operator
    # points OpenMPI's default hostfile at them (OMPI_MCA_orte_default_hostfile, pkg/apis/kubeflow/v2beta1 constants)
    worker = container(["/usr/sbin/sshd", "-De"], True)
    replicas: dict = {"Launcher": {"replicas": 1, "template": {"spec": {"containers": [launcher]}}},
                      "Worker": {"replicas": plan.nodes, "template": {"spec": {"containers": [worker]}}}}
    doc = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": plan.name},
           "spec": {"slotsPerWorker": plan.gpus_per_node, "runPolicy": {"cleanPodPolicy": "Running"},
                    "mpiReplicaSpecs": replicas}}
    notes = [_fork_hostfile_line(plan).replace("$HL_HOSTSFILE", "/etc/mpi/hostfile (the operator's)")]
    return (_header(plan, notes=notes) + "\n# set the container image: REPLACE_WITH_TRAINING_IMAGE (and each REPLACE_ME)\n"
            + yaml.safe_dump(doc, sort_keys=False, width=1000))


FORK_EMITTERS = {"torchrun": fork_torchrun, "slurm": fork_slurm, "skypilot": fork_skypilot, "k8s": fork_k8s}
EMITTERS = {"torchrun": emit_torchrun, "slurm": emit_slurm, "skypilot": emit_skypilot, "k8s": emit_k8s}


def check_emit_format(fmt: str, alone_with: dict[str, bool] | None = None) -> tuple[str, str | None]:
    """``fmt`` (``torchrun|slurm|skypilot|k8s``, optionally ``:megatron``, ``:fsdp`` or ``:automodel``) as (kind,
    style), or the one-line refusal; the CLI asks before the search, so a typo (or an empty ``--emit ""``, which
    was taken as no --emit and printed the table) fails in a second, not after it. ``alone_with``: the other
    outputs given beside it (:func:`check_emit_alone`)."""
    kind, colon, style = str(fmt).partition(":")
    kind, style = FORMATS.canonical(kind), STYLES.canonical(style)
    if kind not in EMITTERS:
        raise InputError("--emit", one_of(FORMATS, fmt, " (optionally :megatron, :fsdp or :automodel)"))
    if colon and not style.strip():  # `--emit torchrun:$STYLE` with STYLE unset was taken as no style asked (QA 33)
        raise InputError("--emit", f"an empty launcher style after ':' in {clip(fmt)}: give one of {', '.join(STYLES)}, "
                                   "or leave ':' out for the plan's own")
    if style and style not in STYLES:
        raise InputError("--emit", "launcher style " + one_of(STYLES, style))
    check_emit_alone(alone_with or {})
    return kind, style or None


def check_emit_alone(others: dict[str, bool]) -> None:
    """The launch spec is printed alone: refuse ``--emit`` beside the other outputs ``others`` names as given
    (``{"--json": True, ...}``), which it would replace without a word."""
    also = [flag for flag, given in others.items() if given]
    if also:
        raise InputError("--emit", f"prints the launch spec alone, in place of the table {' and '.join(also)} "
                                   "would print: choose one (run the command twice for both)")


def emit_launch_spec(job: JobSpec, best: dict, fmt: str, catalog=None) -> str:
    """``fmt`` is ``torchrun|slurm|skypilot|k8s``, optionally ``:megatron`` or ``:fsdp``; ``catalog``: the one the plan
    was searched in (``launch_plan``)."""
    kind, style = check_emit_format(fmt)
    plan = launch_plan(job, best, style, catalog)
    return (FORK_EMITTERS if plan.fork else EMITTERS)[kind](plan)
