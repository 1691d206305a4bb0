"""Job specification: the validated, typed form of a job file (pydantic only).

A job file has the sections ``model``, ``training``, ``parallel``, ``cluster``, ``data``,
``constraints`` (and optionally ``serving``, ``evaluation``, ``checkpoint``, ``tabular``,
``campaign``) — see DESIGN.md. Every section is a pydantic model; every validation failure
becomes one ``InputError`` naming the field (``model.layers: must be a positive integer``), which
the CLI prints as one line with exit code 2. Reading files, presets, Hugging Face configs and
filled-in defaults are ``planner.spec.load`` and ``planner.spec.hf``.
"""
from __future__ import annotations

import functools
import math
import re
import typing
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hardware_catalog.bounds import range_error
from hardware_catalog.errors import clip, from_validation, one_of
from hardware_catalog.files import (YAML12_BOOLS, YAML_SPACE, QuotedText, is_python_only_number, is_yaml12_number,
                                     yaml12_float, yaml12_number)
from hardware_catalog.bounds import RATE_FLOOR
from planner import defaults as D
from planner import vocab as V
from planner.errors import InputError
from planner.layout import check_fields
from planner.spec.training_stack import named_open_section
from planner.units import count_of, fmt_given

# --------------------------------------------------------------------------------------------
# Registries: the vocabulary of the job file, kept as data.
# --------------------------------------------------------------------------------------------

#: training.tokens' ceiling (1e17: ~4,000x Llama 3's 15T): also what the Chinchilla default may reach (spec.load)
MAX_TOKENS = 1e17
MAX_REASONABLE = {  # bounds that catch typos ("layers: 3200000") without limiting real models
    "layers": 10_000,
    "hidden": 1 << 20,
    "heads": 1 << 14,
    "vocab": 1 << 24,
    "seq_len": 1 << 24,
    "gpus": 1 << 20,
}

#: the slowest rate a job field takes. A bandwidth, request rate or vCPU share only above 0 let ``1e-300`` through:
#: ``cluster.inter_node_gbps: 1e-300`` estimated a 7e299 s step (2.7e299 years, a 300-digit GPU-hour count and
#: numpy's overflow warning on stderr) and ``data.storage_gbps: 1e-300`` simulated 4e299 s steps (QA 36). The floors
#: sit far below any real link, store or host (1 Mb/s, 1 MB/s, a request per 1,000 s, a hundredth of a vCPU per
#: GPU), where the slowest one gives finite times: `simulate` of ResNet-50 at each floor runs in seconds.
MIN_RATE = {  # (the catalog's speed columns share the floor: hardware_catalog.bounds.RATE_FLOOR)
    "gbps": RATE_FLOOR,  # Gb/s (network, storage read and write): 1 Mb/s
    "GBps": RATE_FLOOR,  # GB/s per GPU (cluster.intra_node_gbps): 1 MB/s
    "requests_per_s": RATE_FLOOR,
    "vcpus_per_gpu": 0.01,
    # serving.qps: a request every ~11.6 days; at 1e-20 the simulated arrivals sit 1e20 s out, where a 10 ms decode
    # step is lost in the float, and every option but the largest "missed the targets" (qps 1e-300: $1.5e304 per
    # million requests, 4 of 5 options "do not work")
    "qps": 1e-6,
    # tabular.measured_rows_per_s (rows x trees per second, a core or a GPU): ``cpu_per_core: 1e-300`` overflowed
    # to an infinite time (numpy's overflow warning on stderr, every instance "never for $inf", "+nan% cost":
    # fuzz46); at the floor the schema's largest job (1e12 rows x 1e6 trees x 1e6 runs) takes a finite 1e27 s
    "rows_per_s": RATE_FLOOR,
}

#: the smallest and largest host RAM of one node a job states (``cluster.host_ram_gib``, GiB). Only "more than 0" until
#: QA 103: ``host_ram_gib: 1e-300`` took a 1e-292-byte host limit and planned an offload that "does not fit" it. 1 GiB
#: sits far below any GPU host (the catalog's smallest, instances.csv ``ram_gib``, is 16 GiB); the top is the catalog
#: column's own bound (hardware_catalog.catalog ``InstanceRow.ram_gib``: at most 1e6 GiB)
HOST_RAM_GIB = (1.0, 1e6)

#: the fastest request rate a serving job states (serving.qps) or a replayed trace brings (requests / last arrival):
#: a trace of two requests 1e-300 s apart was sized for 2e300 QPS and refused with a 300-digit rate (fuzz46)
MAX_QPS = 1e9

#: the most tokens one request's prompt or output holds (serving.prompt_tokens / output_tokens and a trace's
#: cells): 16 Mi, past every context window modelled (MAX_REASONABLE["seq_len"]); a trace cell of 30 digits was
#: an internal error (OverflowError) and one of 2^63 - 1 wrote numpy's cast warning beside its refusal (fuzz46)
MAX_REQUEST_TOKENS = 1 << 24


def _takes(annotation, kinds) -> bool:
    if annotation in kinds:
        return True
    return any(_takes(a, kinds) for a in typing.get_args(annotation))


class Strict(BaseModel):
    """The base of every job section's model: unknown keys, booleans given as numbers and non-finite numbers are
    refused, and numeric text is read by one rule (``_number_text``). Public: the workloads' own sections
    (planner/workloads ``tabular``, ``campaign``) subclass it, so their fields are refused as the job's are."""
    # allow_inf_nan=False: ``.inf``/``.nan`` in YAML (or NaN in JSON) are refused with the field
    # named; an infinite evaluation set or budget would otherwise surface as an internal error
    # defer_build (imp53): a model's validator is built on its first use, not at this module's import, where pydantic
    # built all 21; the job's validator holds every section's schema, so a section never validated by itself (serving,
    # on-prem, MoE on a training job) is never built alone: a training job builds 5-6, ~5 CPU ms less a command (with
    # the calibration profile's models). Validation is the same schema either way.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_as_numbers(cls, data):
        """``global_batch: true`` is a typo, not 1: pydantic's lax mode would read it as 1."""
        if isinstance(data, dict):
            for k, v in data.items():
                f = cls.model_fields.get(k) if isinstance(k, str) else None
                if isinstance(v, bool) and f is not None and _takes(f.annotation, (int, float)) \
                        and not _takes(f.annotation, (bool,)):
                    raise ValueError(f"{k}: must be a number, not {str(v).lower()}")
            # a field that takes numbers only (not text too: a name keeps what it was given) reads its text by
            # ``_number_text``; a list of numbers (moe.dense_layers) each item
            numeric = {k: not _takes(f.annotation, (float,)) for k, v in data.items()
                       if isinstance(v, (str, list)) and isinstance(k, str) and (f := cls.model_fields.get(k)) is not None
                       and _takes(f.annotation, (int, float)) and not _takes(f.annotation, (str,))}  # k: whole numbers only
            fixed = {k: [_number_text(k, x, whole) for x in data[k]] if isinstance(data[k], list)
                     else _number_text(k, data[k], whole) for k, whole in numeric.items()}
            if fixed:
                data = {**data, **fixed}
            _strict_bools(cls, data)
        return data


def _number_text(field: str, value: Any, whole: bool) -> Any:
    """A numeric field's ``value`` where it is text: YAML 1.2's numbers that YAML 1.1 (PyYAML) reads as text (``steps:
    1e5``, ``qps: 1e-9``: its floats need a dot and a signed exponent; ``-.5``, ``0o17``) are the numbers YAML 1.2
    reads (hardware_catalog.files ``yaml12_number``, the rule catalog overrides share), so a refusal quotes the number
    ("got 1e-09", not "got '1e-9'") and an integer field takes a whole one. Other text that YAML reads as a finite
    number unquoted is a quoted number (``power_limit_w: "500"``, JSON's ``"global_batch": "512"``, and since fuzz45
    ``"1e5"``: the loaders mark it, ``files.QuotedText``): text in YAML and JSON alike, which pydantic's lax mode read
    as the number without a word, as it read ``"false"`` as a bool (qa68); refused, naming the field and the remedy
    (qa69). A job file is typed by its author, so a number is written as one; a catalog override's CSV cell is text by
    nature and keeps reading numbers (``hardware_catalog.catalog._Row``). Text Python reads as a number and YAML does
    not (``６４``, ``٦٤``, ``6_4``, a no-break space around digits) is refused as no YAML number: until fuzz45 it was
    called quoted, with the remedy "write the number unquoted" that still reads text. Text that is no number
    (``"abc"``, ``nan``) is left to the field's own check and its words.

    >>> _number_text("steps", "1e4", whole=True), _number_text("qps", "abc", whole=False)
    (10000, 'abc')
    >>> _number_text("power_limit_w", "500", whole=False)
    Traceback (most recent call last):
    ...
    ValueError: power_limit_w: must be a number, got the text '500' (quoted: write the number unquoted)
    >>> _number_text("global_batch", "６４", whole=True)
    Traceback (most recent call last):
    ...
    ValueError: global_batch: must be a number, got the text '６４' (YAML reads it as text: write the number in the digits 0-9, unquoted)
    """
    number = value if isinstance(value, QuotedText) else yaml12_number(value, whole=whole)
    if not isinstance(number, str):
        return number
    text = number.strip(YAML_SPACE)  # (YAML's white space only: a no-break space is text to it)
    if is_yaml12_number(text) and math.isfinite(yaml12_float(text)):
        raise ValueError(f"{field}: must be a number, got the text {clip(str(number))} (quoted: write the number unquoted)")
    if is_python_only_number(number):  # (Python's reading: what pydantic's lax mode would take)
        raise ValueError(f"{field}: must be a number, got the text {clip(str(number))} (YAML reads it as text: write the "
                         "number in the digits 0-9, unquoted)")
    return number


def _strict_bools(cls, data: dict) -> None:
    """A bool field takes YAML 1.2's ``true`` / ``false`` only (hardware_catalog.files ``YAML12_BOOLS``: the loader
    reads YAML 1.1's ``yes`` / ``no`` / ``on`` / ``off`` as text): pydantic's lax mode read the text ``"false"``,
    ``"off"``, ``"n"``, ``"0"`` and the numbers 0 / 1 as booleans, so a quoted ``"false"`` passed as false and ``on``
    as true without a word (qa68). Refused with the spellings taken, as a numeric field refuses ``true``."""
    for k, v in data.items():
        f = cls.model_fields.get(k) if isinstance(k, str) else None
        if v is not None and not isinstance(v, bool) and f is not None and _takes(f.annotation, (bool,)) \
                and not _takes(f.annotation, (int, float, str)):
            raise ValueError(f"{k}: must be true or false, got {v!r} (YAML 1.2's spellings, unquoted: "
                             f"{', '.join(YAML12_BOOLS)})")


class MoESpec(Strict):
    experts: int = Field(gt=0, le=4096)
    top_k: int = Field(gt=0, le=64)
    shared_experts: int = Field(0, ge=0, le=64)
    #: width of the shared expert(s) (total): at most 64 shared experts at ffn_hidden's limit. The widths below had no
    #: ceiling until fuzz48: a config.json's 2^63 reached the Chinchilla default as an internal error, 10^29 an
    #: OverflowError in the parameter count
    shared_ffn_hidden: Optional[int] = Field(None, gt=0, le=64 << 22)
    shared_expert_gate: bool = False  # Qwen2-MoE: sigmoid gate (h x 1) on the shared expert
    layer_freq: int = Field(1, ge=1, le=MAX_REASONABLE["layers"])  # every k-th layer is MoE (1 = all)
    capacity_factor: float = Field(1.0, gt=0, le=16)
    # --- current MoE families (planner/spec/hf.py maps them; counts in planner/spec/params.py)
    first_dense: int = Field(0, ge=0, le=MAX_REASONABLE["layers"])  # DeepSeek first_k_dense_replace: leading dense layers
    dense_layers: list[int] = Field(default_factory=list)  # Qwen mlp_only_layers / Llama-4 non-MoE layers
    router_bias: bool = False  # gpt-oss: the router linear has a bias (E)
    norm_topk_prob: bool = True  # renormalise the top-k weights (no parameters, no FLOPs)
    groups: int = Field(1, ge=1, le=4096)  # DeepSeek n_group: group-limited routing (experts in groups; experts' limit)
    topk_groups: int = Field(1, ge=1, le=4096)  # DeepSeek topk_group: groups (nodes) a token may reach
    imbalance: float = Field(1.0, ge=1.0, le=64)  # busiest expert's load / mean load (stated)
    #: how the token's k experts are spread (vocab.MOE_ROUTING): "round_robin" is NeMo AutoModel's benchmark gate
    #: (k consecutive experts per token, every expert the same load); it changes which ranks and nodes a token
    #: reaches, so the dispatch's bytes under DeepEP's per-node / per-GPU deduplication (moe.dispatch_bytes)
    #: -- and, the gate having no weight, that no router GEMM runs and no router parameter exists
    #: (params.GATELESS_ROUTINGS)
    routing: V.MOE_ROUTING.literal = "learned"
    dropless: bool = True  # no token dropped (Megatron --moe-token-dispatcher dropless); else capacity_factor
    #: with a capacity factor, every expert's input padded to its capacity (Megatron-Core
    #: ``--moe-pad-expert-input-to-capacity``): each expert computes exactly capacity_factor x the mean load
    pad_to_capacity: bool = False
    all_experts_compute: bool = False  # Llama-4 HF kernel: every expert runs on every token
    #: the router's score function: DeepSeek-V3 / Kimi-K2 (``scoring_func: sigmoid``) score experts
    #: with a sigmoid and pick the top-k after adding a per-expert balancing bias that is a buffer
    #: updated outside the optimizer (``topk_method: noaux_tc``, ``e_score_correction_bias``; DeepSeek-V3
    #: report §2.1.2): no parameters, negligible FLOPs; it matters to the launch spec
    #: (Megatron-Core ``moe_router_score_function`` / ``moe_router_enable_expert_bias``)
    score_function: V.ROUTER_SCORE.literal = "softmax"
    expert_bias: bool = False  # auxiliary-loss-free balancing bias (requires score_function sigmoid)
    #: LatentMoE (Nemotron 3 Super / Ultra; Megatron-Core ``moe_latent_size``, HF NemotronH
    #: ``moe_latent_size``): the routed experts read and write a latent width l < hidden. The MoE layer
    #: projects its input h -> l (``fc1_latent_proj``) after the router and before the token dispatch,
    #: and l -> h (``fc2_latent_proj``) after the combine, so the tokens cross the EP all-to-all at
    #: width l; the router and the shared experts stay at the full width (megatron/core/transformer/
    #: moe/moe_layer.py ``router_and_preprocess`` / ``combine``; both projections are TELinear
    #: ``parallel_mode="duplicated"``: not split over TP, each rank projects its sequence shard)
    latent_size: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["hidden"])

    @model_validator(mode="after")
    def _k_le_e(self):
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        if self.imbalance > self.experts / self.top_k:
            # a token picks an expert at most once, so the busiest expert takes at most every token: T rows of
            # the mean T k / E, a load of E / k (Mixtral's 8 experts, top-2: at most 4x the mean)
            raise ValueError(f"imbalance: {self.imbalance:g} is above experts / top_k = {self.experts / self.top_k:g}, "
                             "the busiest expert's load when every token picks it (a token picks an expert at most once)")
        if self.expert_bias and self.score_function != "sigmoid":
            # Megatron-Core TransformerConfig: "Expert bias for aux-loss-free routing only supports sigmoid score function."
            raise ValueError("expert_bias needs score_function: sigmoid")
        if self.dropless and self.capacity_factor != MoESpec.model_fields["capacity_factor"].default:
            # Megatron-Core: a capacity factor *is* token dropping (dropless is moe_expert_capacity_factor
            # None); kept with dropless it would be silently ignored (moe.expert_load). The default itself
            # passes: a dumped job (model_dump writes every field) must load again
            raise ValueError("capacity_factor: needs dropless: false (a capacity factor drops tokens)")
        if self.pad_to_capacity and self.dropless:
            # Megatron-Core: moe_pad_expert_input_to_capacity needs moe_expert_capacity_factor (token dropping)
            raise ValueError("pad_to_capacity needs dropless: false (a capacity factor)")
        return self


class MLASpec(Strict):
    """DeepSeek-V2/V3 multi-head latent attention (transformers ``modeling_deepseek_v3.py``
    ``DeepseekV3Attention``): q = q_b(norm(q_a(x))) (or q_proj(x) when ``q_lora_rank`` is None),
    [c_kv, k_pe] = kv_a_proj_with_mqa(x), [k_nope, v] = kv_b(norm(c_kv)), heads of
    qk_nope+qk_rope dims for scores and v_head_dim for values."""

    # the ranks at most the hidden width's limit, the head dims head_dim's (no ceiling until fuzz48: MoESpec)
    q_lora_rank: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["hidden"])
    kv_lora_rank: int = Field(gt=0, le=MAX_REASONABLE["hidden"])
    qk_nope_head_dim: int = Field(gt=0, le=4096)
    qk_rope_head_dim: int = Field(gt=0, le=4096)
    v_head_dim: int = Field(gt=0, le=4096)


class RopeScalingSpec(Strict):
    """A RoPE model's frequency scaling (HF config.json ``rope_scaling``; transformers 5.x ``rope_parameters``):
    ``type`` and ``factor``; the llama3 type's band (``low_freq_factor``, ``high_freq_factor``), the context it
    was trained at (``original_max_positions``: ``original_max_position_embeddings``) and YaRN's ramp bounds
    (``beta_fast``, ``beta_slow``) and attention temperature (``mscale``, ``mscale_all_dim``: DeepSeek-V2/V3 and
    Kimi-K2 configs; Peng et al. 2023, "YaRN", arXiv 2309.00071, sec. 3.2-3.4). Nothing here moves step time or
    memory (a few multiplies per rotary frequency); the launch scripts carry it (planner.present.emit
    ``megatron_rope_flags``)."""

    type: V.ROPE_SCALING.literal
    factor: float = Field(gt=0, le=1e6)
    low_freq_factor: Optional[float] = Field(None, gt=0)
    high_freq_factor: Optional[float] = Field(None, gt=0)
    original_max_positions: Optional[int] = Field(None, gt=0, le=1 << 24)
    beta_fast: Optional[float] = Field(None, gt=0, le=1e4)
    beta_slow: Optional[float] = Field(None, gt=0, le=1e4)
    mscale: Optional[float] = Field(None, ge=0, le=1e3)
    mscale_all_dim: Optional[float] = Field(None, ge=0, le=1e3)


class MambaSpec(Strict):
    """The Mamba-2 mixer of a hybrid model's "M" layers (Dao & Gu 2024, "Transformers are SSMs",
    arXiv 2405.21060; Megatron-Core megatron/core/ssm/mamba_mixer.py ``MambaMixer``; HF
    ``NemotronHMamba2Mixer``): ``heads`` SSM heads of ``head_dim`` channels (d_inner = heads x
    head_dim; None: ``expand`` x hidden / head_dim, as MambaMixer when ``mamba_num_heads`` is
    unset), ``groups`` B/C groups shared by heads/groups heads each (``n_groups``), state size
    ``d_state`` (``ssm_state_size`` / ``mamba_state_dim``), depthwise causal conv of ``d_conv`` taps
    over x, B and C, the SSD chunk length ``chunk_size``."""

    d_state: int = Field(128, gt=0, le=4096)
    groups: int = Field(8, gt=0, le=1024)
    head_dim: int = Field(64, gt=0, le=4096)
    heads: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["heads"])
    d_conv: int = Field(4, gt=0, le=64)
    expand: int = Field(2, gt=0, le=16)
    chunk_size: int = Field(128, gt=0, le=4096)


@functools.lru_cache(maxsize=256)
def _moe_ids(layers: int, first_dense: int, layer_freq: int, dense: tuple) -> tuple[int, ...]:
    """``ModelSpec.moe_layer_ids`` of a plain MoE stack, cached by value: the time and memory models ask for it
    tens of times per call, and a search makes hundreds of calls (a Python loop over the layers each time)."""
    skip = set(dense)
    return tuple(i for i in range(layers) if i >= first_dense and (i + 1) % layer_freq == 0 and i not in skip)


@functools.lru_cache(maxsize=256)
def _pattern_moe_ids(pattern: str) -> tuple[int, ...]:
    """``ModelSpec.moe_layer_ids`` of a hybrid pattern (its "E" layers), cached as ``_moe_ids``."""
    return tuple(i for i, c in enumerate(pattern) if c == "E")


def has_local_rope(position, local_layers, sliding_window) -> bool:
    """Whether a model has sliding-window RoPE layers, the only layers ``rope_local_base_freq`` applies to (Gemma 3's
    local layers): the model's check of that field and the job loader's dropping of a preset's value read it."""
    return position == "rope" and bool(local_layers) and bool(sliding_window)


def has_shared_experts(model) -> bool:
    """Whether ``model`` has MoE shared experts (what ``training.framework.moe_shared_expert_overlap`` overlaps)."""
    moe = getattr(model, "moe", None)
    return moe is not None and bool(getattr(moe, "shared_experts", 0))


class ModelSpec(Strict):
    """A model's architecture. Transformer fields for decoder/encoder/moe; three numbers for generic.

    ``ffn_hidden`` is the per-branch width of a gated MLP (Llama's ``intermediate_size``) and the
    per-expert width for MoE.
    """

    name: str = "custom"
    family: V.FAMILY.literal = "decoder"
    layers: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["layers"])
    hidden: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["hidden"])
    heads: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["heads"])
    kv_heads: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["heads"])
    head_dim: Optional[int] = Field(None, gt=0, le=4096)
    ffn_hidden: Optional[int] = Field(None, gt=0, le=1 << 22)
    vocab: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["vocab"])
    mlp: V.MLP.literal = "swiglu"
    norm: V.NORM.literal = "rmsnorm"
    tied_embeddings: bool = False
    qkv_bias: bool = False  # bias on q/k/v projections (Qwen2, GPT-2, BERT)
    linear_bias: bool = False  # bias on attention-out and MLP linears (GPT-2, BERT)
    position: V.POSITION.literal = "rope"
    max_positions: Optional[int] = Field(None, gt=0, le=1 << 24)  # learned position table size
    #: the longest sequence (prompt + generated tokens) the published model takes: its config.json's
    #: ``max_position_embeddings`` (``n_positions`` for GPT-2), which vLLM takes as the default
    #: ``max_model_len`` and refuses longer requests against (vllm/config ``_get_and_verify_max_len``);
    #: learned positions: the table size. None = not stated (serving then checks nothing)
    context_length: Optional[int] = Field(None, gt=0, le=1 << 24)
    #: RoPE base, the HF config.json ``rope_theta`` (Megatron-LM ``--rotary-base``, default 10000). None = not
    #: stated: a launch takes its launcher's default, which its script header says
    rope_theta: Optional[float] = Field(None, gt=1, le=1e12)
    #: the sliding-window (local) layers' own RoPE base where it is not ``rope_theta``: Gemma 3's HF
    #: ``rope_local_base_freq`` (Gemma3TextConfig default 10000, against ``rope_theta`` 1,000,000 on the global
    #: layers; transformers 5.x: ``rope_parameters.sliding_attention.rope_theta``). It changes no step time or
    #: memory (the rotation costs the same at any base), only what a launch trains. None = every layer at
    #: ``rope_theta``
    rope_local_base_freq: Optional[float] = Field(None, gt=1, le=1e12)
    #: long-context RoPE scaling (HF ``rope_scaling``), None = none
    rope_scaling: Optional[RopeScalingSpec] = None
    #: the norms' epsilon, HF ``rms_norm_eps`` / ``layer_norm_eps`` / ``layer_norm_epsilon`` (Megatron-LM
    #: ``--norm-epsilon``, default 1e-5). None = not stated (the launcher's default)
    norm_eps: Optional[float] = Field(None, gt=0, lt=1)
    type_vocab: int = Field(0, ge=0, le=1024)  # BERT token-type embeddings
    mlm_head: bool = False  # BERT MLM head: dense h*h + norm + decoder bias
    #: the output head (vocab.OUTPUT_HEAD): "lm", the vocabulary projection over the head's positions; "classifier",
    #: transformers' ``BertForSequenceClassification`` (pooler dense + tanh on the [CLS] token, dropout, a
    #: ``num_labels``-wide linear; planner.spec.params ``head_positions``). A classifier has no vocabulary head, so it
    #: clears ``mlm_head`` and ``tied_embeddings`` (a preset's MLM head is replaced, not added to)
    output_head: V.OUTPUT_HEAD.literal = "lm"
    #: the classifier's labels (transformers ``config.num_labels``; 1 is its regression, an MSE loss on (b, 1));
    #: None with a classifier: planner.defaults.NUM_LABELS
    num_labels: Optional[int] = Field(None, ge=1, le=MAX_REASONABLE["vocab"])  # more labels than any vocabulary: a typo
    moe: Optional[MoESpec] = None
    #: the Hugging Face ``config.json`` ``model_type`` the model's code is (set by ``hf_config`` and the MoE presets):
    #: which transformers plans the HF-code stacks run (planner.model.moe ``HF_EP_PLANS`` on the routed experts,
    #: ``HF_TP_PLANS``' whole parts). None = not stated
    hf_model_type: Optional[str] = Field(None, min_length=1, max_length=64)
    # --- current families (Qwen3, DeepSeek-V2/V3, Llama 4, Gemma 2/3, gpt-oss, OLMo 2, Phi-3)
    qk_norm: V.QK_NORM.literal = "none"  # per-head or full q/k RMSNorm (parameters: see params.py)
    layer_norms: int = Field(2, ge=0, le=8)  # norms per layer: 2 (pre-attn, pre-MLP); Gemma 2/3: 4
    dense_ffn_hidden: Optional[int] = Field(None, gt=0, le=1 << 22)  # dense layers of an MoE model
    mla: Optional[MLASpec] = None  # multi-head latent attention (DeepSeek-V2/V3, Kimi-K2)
    attention_sinks: bool = False  # gpt-oss: one learned sink logit per head
    #: gpt-oss ``swiglu_limit``: the GLU's inputs are clamped (gate <= limit, linear in [-limit, limit])
    glu_clamp: Optional[float] = Field(None, gt=0)
    sliding_window: Optional[int] = Field(None, gt=0, le=1 << 24)  # local layers' window (tokens)
    local_layers: int = Field(0, ge=0)  # how many layers use the sliding window / chunked attention
    local_attention: V.LOCAL_ATTENTION.literal = "sliding"  # what the local layers' window means
    mtp_layers: int = Field(0, ge=0, le=16)  # DeepSeek-V3 multi-token-prediction modules (depths)
    #: the MTP depths share one module's weights (Megatron-Core ``mtp_use_repeated_layer``; Nemotron 3
    #: Super / 3.5 Lightning: ``mtp_num_layers`` 2 forward passes of the one MTP block the checkpoint
    #: holds, ``num_nextn_predict_layers`` 1): compute per depth, parameters once
    mtp_repeated: bool = False
    #: hybrid models (Nemotron-H, Nemotron 3, Jamba-like, pure Mamba-2): one character per layer as
    #: Megatron-Core's ``hybrid_override_pattern`` (vocab.HYBRID_LAYER: M Mamba-2, * attention, - MLP,
    #: E MoE); each layer is one norm + one mixer, so ``layers`` is the pattern's length
    hybrid_pattern: Optional[str] = Field(None, min_length=1, max_length=MAX_REASONABLE["layers"])
    mamba: Optional[MambaSpec] = None  # the "M" layers' mixer (required when the pattern has M)
    # generic models (CNNs, anything not a transformer): the three numbers the planner needs
    params: Optional[float] = Field(None, gt=0, le=1e15)
    fwd_flops_per_sample: Optional[float] = Field(None, gt=0, le=1e21)
    activation_bytes_per_sample: Optional[float] = Field(None, ge=0, le=1e15)
    input_bytes_per_sample: Optional[float] = Field(None, ge=0, le=1e12)
    #: elements of every convolution's input plus output per sample (forward): the tensors cuDNN
    #: transposes around a tensor-core convolution when they are NCHW (step_time.nchw_transpose_bytes)
    conv_io_elems_per_sample: Optional[float] = Field(None, ge=0, le=1e14)
    #: parameter tensors (an eager optimizer launches its kernels per tensor: Stack.optimizer_tensor_ops)
    param_tensors: Optional[int] = Field(None, ge=0, le=10**8)

    @model_validator(mode="after")
    def _consistent(self):
        self._check_output_head()
        if self.family == "generic":
            missing = [f for f in ("params", "fwd_flops_per_sample") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"generic model needs {', '.join(missing)}")
            return self
        if self.hybrid_pattern is not None:
            self._check_hybrid()
        if self.mtp_repeated and not self.mtp_layers:
            raise ValueError("mtp_repeated: the depths share one MTP module's weights; give mtp_layers")
        for f in ("layers", "hidden", "heads", "vocab"):
            if getattr(self, f) is None:
                raise ValueError(f"{f}: required for a {self.family} model")
        if self.family == "moe" and self.moe is None:
            raise ValueError("moe: family 'moe' needs moe: {experts, top_k}")
        if self.moe is not None and self.family != "moe":
            self.__dict__["family"] = "moe"
        if self.kv_heads is None:
            self.__dict__["kv_heads"] = self.heads
        if self.head_dim is None:
            if self.hidden % self.heads:
                raise ValueError(
                    f"heads: hidden ({self.hidden}) is not divisible by heads ({self.heads}); "
                    "give head_dim explicitly if the model really uses that"
                )
            self.__dict__["head_dim"] = self.hidden // self.heads
        if self.heads % self.kv_heads:
            raise ValueError(f"kv_heads: heads ({self.heads}) not divisible by kv_heads ({self.kv_heads})")
        if self.ffn_hidden is None:
            gated = self.mlp in ("swiglu", "geglu")
            # Llama convention: 2/3 * 4h rounded up to a multiple of 256
            self.__dict__["ffn_hidden"] = (
                256 * math.ceil(int(8 * self.hidden / 3) / 256) if gated else 4 * self.hidden
            )
        if self.position == "learned" and self.max_positions is None:
            raise ValueError("max_positions: required when position is 'learned'")
        if self.position != "rope" and (self.rope_theta is not None or self.rope_scaling is not None):
            # a base for rotary embeddings the model does not apply would reach no launch line
            raise ValueError(f"rope_theta: the model has no RoPE (position {self.position}); drop rope_theta / "
                             "rope_scaling or set position: rope")
        if self.rope_local_base_freq is not None and not has_local_rope(self.position, self.local_layers,
                                                                        self.sliding_window):
            # a local base with no local layer to apply it to would reach a launch note about nothing
            raise ValueError("rope_local_base_freq: the model has no sliding-window RoPE layers (position: rope, "
                             "sliding_window and local_layers set); drop it or set them")
        if self.position == "learned":
            if self.context_length is not None and self.context_length > self.max_positions:
                raise ValueError(f"context_length: {self.context_length} exceeds the {self.max_positions} learned "
                                 "positions (max_positions)")
            if self.context_length is None:
                self.__dict__["context_length"] = self.max_positions
        if self.mamba is not None and self.mamba.heads is None and (self.mamba.expand * self.hidden) % self.mamba.head_dim:
            # mamba_ssm Mamba2: ``assert self.d_inner % self.headdim == 0`` (d_inner = expand x d_model); a
            # head_dim above d_inner would leave no head at all
            raise ValueError(f"model.mamba.head_dim: {self.mamba.head_dim} does not divide expand x hidden "
                             f"({self.mamba.expand * self.hidden}); give mamba.heads or another head_dim")
        if self.mamba is not None and self.mamba_heads % self.mamba.groups:
            # MambaMixer: "nheads must be evenly divisible by ngroups"
            raise ValueError(f"mamba: {self.mamba_heads} Mamba heads are not divisible by its "
                             f"{self.mamba.groups} groups")
        return self

    def _check_output_head(self):
        """A classifier head where transformers has the one priced (``BertForSequenceClassification``: an encoder);
        ``num_labels`` only with it. The classifier replaces the vocabulary head: no MLM transform, nothing tied."""
        if self.output_head != "classifier":
            if self.num_labels is not None:
                raise ValueError("num_labels: the labels of a classifier head; set output_head: classifier or drop it")
            return
        if self.family != "encoder":
            # a decoder's sequence classifier (transformers' LlamaForSequenceClassification: a bias-free ``score``
            # on the last non-pad token, no pooler) is another head; a generic model's head is in its own numbers
            raise ValueError(f"output_head: classifier is modelled for encoders (transformers' "
                             f"BertForSequenceClassification); this model is a {self.family} model")
        if self.num_labels is None:
            self.__dict__["num_labels"] = D.NUM_LABELS
        self.__dict__["mlm_head"] = False
        self.__dict__["tied_embeddings"] = False

    def _check_hybrid(self):
        """The pattern's rules (Megatron-Core mamba_hybrid_layer_allocation.py ``_allocate_override``:
        valid symbols, length = num_layers) and the sections its layers need."""
        pat = self.hybrid_pattern
        bad = sorted(set(pat) - set(V.HYBRID_LAYER.names))
        if bad:
            raise ValueError(f"hybrid_pattern: {bad[0]!r} is not a layer symbol; use M (Mamba-2), * (attention), "
                             "- (MLP), E (MoE)")
        if self.layers is not None and self.layers != len(pat):
            raise ValueError(f"layers: {self.layers} but hybrid_pattern has {len(pat)} layers")
        self.__dict__["layers"] = len(pat)
        if "M" in pat and self.mamba is None:
            self.__dict__["mamba"] = MambaSpec()
        if "M" not in pat and self.mamba is not None:
            raise ValueError("mamba: given but hybrid_pattern has no M layer")
        if "E" in pat and self.moe is None:
            raise ValueError("moe: hybrid_pattern has E layers; give moe: {experts, top_k}")
        if self.moe is not None and "E" not in pat:
            raise ValueError("moe: given but hybrid_pattern has no E layer")
        if self.moe is not None and (self.moe.first_dense or self.moe.dense_layers or self.moe.layer_freq != 1):
            raise ValueError("moe: a hybrid model places its MoE layers by hybrid_pattern (E), not by "
                             "first_dense / dense_layers / layer_freq")
        # MTP of a hybrid model: Megatron-Core builds each MTP depth from ``mtp_hybrid_override_pattern``;
        # the one modelled is "*E" (Nemotron 3 Super / Lightning recipes: an attention layer and an MoE
        # layer, as a DeepSeek-V3 MTP transformer block), so the model needs both kinds
        if self.mtp_layers and not ("*" in pat and "E" in pat):
            raise ValueError("mtp_layers: a hybrid model's MTP block is modelled as '*E' (attention + MoE): "
                             "the pattern needs * and E layers")
        if self.family == "encoder":
            # the Mamba-2 scan is causal and Megatron-Core's MambaModel is a causal LM: no bidirectional hybrid
            raise ValueError("family: hybrid (hybrid_pattern) models are decoders (Megatron-Core MambaModel)")
        if self.local_layers:
            raise ValueError("local_layers: not modelled for hybrid models")
        if "*" not in pat and self.heads is None:
            # no attention layer: the attention fields are unused; one head keeps the derived shapes defined
            self.__dict__["heads"] = 1

    # ---- hybrid layers -------------------------------------------------------------------
    @property
    def hybrid(self) -> bool:
        return self.hybrid_pattern is not None

    def kind_layers(self, kind: str) -> int:
        """Layers of one hybrid kind (vocab.HYBRID_LAYER); a plain transformer layer holds an
        attention ("*") and an MLP ("-" dense or "E" MoE) and no Mamba mixer."""
        if self.hybrid:
            return self.hybrid_pattern.count(kind)
        return {"M": 0, "*": self.layers, "E": self.moe_layers}.get(kind, self.layers - self.moe_layers)

    @property
    def attention_layers(self) -> int:
        """Layers with an attention block: every layer, or the hybrid pattern's "*" layers."""
        return self.kind_layers("*")

    @property
    def mamba_layers(self) -> int:
        return self.kind_layers("M") if self.hybrid else 0

    @property
    def mamba_heads(self) -> int:
        """Mamba-2 heads: ``mamba.heads``, else expand x hidden / head_dim (MambaMixer)."""
        a = self.mamba
        return a.heads or a.expand * self.hidden // a.head_dim

    @property
    def mamba_inner(self) -> int:
        """d_inner = heads x head_dim (MambaMixer, ``mamba_num_heads`` given or not)."""
        return self.mamba_heads * self.mamba.head_dim

    # ---- derived shapes ------------------------------------------------------------------
    @property
    def is_transformer(self) -> bool:
        return self.family != "generic"

    @property
    def gated(self) -> bool:
        return self.mlp in ("swiglu", "geglu")

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def moe_layers(self) -> int:
        if self.moe is None:
            return 0
        return len(self.moe_layer_ids)

    @property
    def moe_layer_ids(self) -> tuple[int, ...]:
        """Indices of the MoE layers: layer i is MoE unless i < first_dense, i is in
        dense_layers, or (i + 1) is not a multiple of layer_freq (Qwen2/3-MoE's
        ``decoder_sparse_step`` test in transformers ``modeling_qwen3_moe.py``; Llama-4's
        ``interleave_moe_layer_step`` gives the same indices)."""
        if self.moe is None:
            return ()
        if self.hybrid:
            return _pattern_moe_ids(self.hybrid_pattern)
        e = self.moe
        return _moe_ids(self.layers, e.first_dense, e.layer_freq, tuple(e.dense_layers))

    @property
    def dense_width(self) -> int:
        """Width of the dense (non-MoE) layers' MLP: ``dense_ffn_hidden``, else ``ffn_hidden``."""
        return self.dense_ffn_hidden or self.ffn_hidden

    @property
    def mlp_up_factor(self) -> int:
        """fc1's output columns per unit of MLP width f: gate and up side by side in a gated MLP
        (SwiGLU, GeGLU: 2), else 1 (Shazeer 2020, "GLU Variants Improve Transformer", eq. 5-6)."""
        return 2 if self.gated else 1

    @property
    def mlp_act_factor(self) -> int:
        """Elements the MLP's activation pass moves per unit of MLP width f when it runs as its own
        kernel: a gated MLP reads gate and up and writes their product (3), else read and write (2)."""
        return 3 if self.gated else 2

    @property
    def expert_io(self) -> int:
        """The width the routed experts read and write (and the dispatch carries): ``moe.latent_size``
        under LatentMoE, else ``hidden``."""
        return (self.moe.latent_size if self.moe is not None else None) or self.hidden

    @property
    def causal(self) -> bool:
        return self.family in ("decoder", "moe")


class LoRASpec(Strict):
    """LoRA adapters (Hu et al. 2021; peft ``LoraConfig``): rank, alpha (the scale alpha/r costs
    nothing) and the linears adapted — ``qkvo``, ``all-linear`` (peft's: every linear of the
    blocks, not the output head) or module names (q_proj, k_proj, v_proj, o_proj, gate_proj,
    up_proj, down_proj, router, experts)."""

    rank: int = Field(16, gt=0, le=4096)
    alpha: float = Field(32.0, gt=0)
    targets: V.LORA_TARGETS.literal | list[str] = "all-linear"

    @field_validator("targets", mode="before")
    @classmethod
    def _one_module_is_a_list(cls, v):
        # a module name written alone (targets: q_proj) read "must be one of qkvo, all-linear, got 'q_proj'", which
        # named no way to adapt one module (QA 48); peft takes a string as a regex over the whole module path
        # (tuners_utils ``check_target_module_exists``: re.fullmatch), so "q_proj" alone would match nothing there either
        if isinstance(v, str) and V.LORA_TARGETS.canonical(v) not in V.LORA_TARGETS.names:
            raise ValueError(f"must be one of {', '.join(V.LORA_TARGETS.names)} or a list of module names (a single "
                             f"module is a list of one: [{v}])")
        return v


class FrameworkSpec(Strict):
    """``training.framework``: the training stack (planner.model.stacks.STACKS) and the options
    that change time or memory; an option left out takes the stack's own default, the name left out the stack the job
    runs with no section (``TrainingSpec._framework_name``: megatron-core, hf-trainer for QLoRA). ``name: auto``
    leaves the stack itself open: ``recommend`` searches the stacks of ``defaults.AUTO_FRAMEWORKS``
    (each with these options, where it has them) and ranks them together; ``estimate`` refuses it."""

    name: V.FRAMEWORK_CHOICE.literal = "megatron-core"
    compile: Optional[bool] = None
    tp_overlap: Optional[V.TP_OVERLAP.literal] = None
    overlap_grad_reduce: Optional[bool] = None
    overlap_param_gather: Optional[bool] = None
    reshard_after_forward: Optional[bool] = None
    #: "auto": ``recommend`` tries each recipe the stack offers (planner.search.space ``recipe_choices``)
    fp8_recipe: Optional[V.FP8_RECIPE_CHOICE.literal] = None
    selective: Optional[V.SELECTIVE_AC.literal] = None
    #: torchtitan layer SAC (selective: layer): checkpoint each n-th layer (activation_checkpoint.selective_ac_option)
    ac_freq: Optional[int] = Field(None, ge=1, le=1 << 16)
    #: torchtitan: q, k and v as one linear (0.3's FusedQKVLinear, the stack's default) or three (its 2024-25 Llama);
    #: per-op SAC re-runs every second mm of a block, so this moves its recompute (planner.model.flops)
    fused_qkv: Optional[bool] = None
    #: torchtitan-style DTensor TP: each column-parallel linear gathers its own sequence-parallel input (KempnerForge's
    #: plan) in place of one gather a block; planner.model.stacks Stack.tp_gather_per_linear
    tp_gather_per_linear: Optional[bool] = None
    #: torchtitan: DTensor loss parallel, the loss on the rank's vocabulary shard (on, torchtitan's default); false: the
    #: head's logits all-gathered and the loss run on the whole vocabulary (``--parallelism.disable_loss_parallel``,
    #: KempnerForge's plan); planner.model.stacks Stack.loss_parallel
    loss_parallel: Optional[bool] = None
    #: torchtitan-style loop: eager ``F.cross_entropy`` on the model's 16-bit logits outside the compiled model, the
    #: logits held through ``backward`` (KempnerForge's); planner.model.stacks Stack.loss_eager_16bit
    loss_eager_16bit: Optional[bool] = None
    #: Megatron-Core stacks (megatron-core, nemo, megatron-bridge): the interleaved schedule's aligned per-chunk
    #: parameter all-gather (``DistributedDataParallelConfig.align_param_gather``; None: on, Megatron-LM's CLI default
    #: and what NeMo 2 / Megatron-Bridge set at DP, PP and VP > 1); false: ``--no-align-param-gather`` or NeMo 1.x,
    #: whose gather hides under one micro-batch's forward of the stage (planner.model.stacks Stack.align_param_gather)
    align_param_gather: Optional[bool] = None
    #: Megatron-Core stacks: ``overlap_param_gather_with_optimizer_step`` (interleaved schedule): model chunk 0's
    #: parameter all-gather dispatched after its own optimizer step, under the other chunks' (None: off on every
    #: Megatron-Core stack: Megatron-LM's, Megatron-Bridge's and NeMo 2's 2025 callback's default; NeMo 2's and
    #: Megatron-Bridge's performance scripts set it at DP, PP and VP > 1); planner.model.stacks
    #: Stack.overlap_param_gather_with_optimizer_step
    overlap_param_gather_with_optimizer_step: Optional[bool] = None
    #: torchtitan-style DTensor TP: the token embedding left whole on every TP rank (KempnerForge's plan); planner.model.
    #: stacks Stack.tp_embedding_replicated
    tp_embedding_replicated: Optional[bool] = None
    activation_offload: Optional[bool] = None
    #: Megatron-Core --cpu-offloading-num-layers (planner.model.stacks Stack.activation_offload_layers)
    activation_offload_layers: Optional[int] = Field(None, gt=0, le=1 << 16)
    optimizer_offload: Optional[bool] = None
    #: deepspeed, ZeRO-3: zero_optimization.offload_param (device cpu), planner.model.stacks Stack.param_offload
    param_offload: Optional[bool] = None
    #: deepspeed, ZeRO-3: the device of offload_optimizer / offload_param (cpu, or nvme: ZeRO-Infinity's swap to local
    #: NVMe), planner.model.stacks Stack.offload_device
    offload_device: Optional[V.OFFLOAD_DEVICE.literal] = None
    #: deepspeed, offload_device nvme: the file system under nvme_path -- one drive (DeepSpeed's docs, the default) or a
    #: stripe over the node's drives (the catalog's local_nvme_drives); nvme_gbps: its measured read/write rate, GB/s a
    #: node, which both replace (planner.model.offload nvme_node_bps). Floored at MIN_RATE's 1 MB/s as every rate is:
    #: only "more than 0" until fuzz50, ``nvme_gbps: 1e-300`` estimated a 2.6e302 s step (numpy's overflow warning)
    nvme_stripe: Optional[V.NVME_STRIPE.literal] = None
    nvme_gbps: Optional[float] = Field(None, ge=MIN_RATE["GBps"], le=1e4)
    #: megatron-deepspeed: DeepSpeed's activation checkpointing on the recompute: full rows (--deepspeed-activation-
    #: checkpointing): each checkpointed layer input split over the TP group (--partition-activations) and / or kept in
    #: host memory (--checkpoint-in-cpu); planner.model.stacks Stack.partition_activations, Stack.cpu_checkpointing
    partition_activations: Optional[bool] = None
    cpu_checkpointing: Optional[bool] = None
    #: DeepSpeed stacks: zero_optimization.reduce_bucket_size, elements (None: DeepSpeed's 5e8)
    reduce_bucket_size: Optional[float] = Field(None, gt=0, le=1e12)
    #: MaxText's remat_policy (planner.model.stacks MAXTEXT_REMAT_POLICIES) on the recompute: full rows, and under
    #: custom the per-tensor locations (decoder_layer_input: offload, query_proj: device, ...; MAXTEXT_REMAT_TENSORS)
    remat_policy: Optional[V.REMAT_POLICY.literal] = None
    remat_tensors: Optional[dict[str, str]] = None
    #: MaxText's num_vocab_tiling (base.yml 1): the loss over the logits in this many tiles of the micro-batch's tokens
    num_vocab_tiling: Optional[int] = Field(None, ge=1, le=1 << 16)
    #: XLA's --xla_tpu_enable_ag_backward_pipelining (MaxText's HOST_OFFLOAD_FLAGS): the scanned backward holds the
    #: next layer's gathered weights beside the one in use (planner.model.stacks Stack.ag_backward_pipelining)
    ag_backward_pipelining: Optional[bool] = None
    mixed_precision: Optional[V.MIXED_PRECISION.literal] = None  # HF-code stacks: amp | bf16
    moe_dispatcher: Optional[V.MOE_DISPATCHER.literal] = None  # alltoall | deepep | hybridep
    moe_a2a_overlap: Optional[bool] = None  # Megatron-Core --overlap-moe-expert-parallel-comm
    #: non-reentrant torch.utils.checkpoint stops recomputing once the backward's tensors exist again
    #: (torchtitan activation_checkpoint.early_stop; torch >= 2.1 default when not passed)
    recompute_early_stop: Optional[bool] = None
    #: HF-code stacks: transformers' gradient_checkpointing_kwargs use_reentrant (torch's reentrant checkpoint: no
    #: early stop; TE fp8 layers re-run 16-bit); None: the stack's default (hf-trainer: transformers 5's False)
    use_reentrant: Optional[bool] = None
    #: Megatron-Core stacks: ZeRO-2/3 as Megatron-FSDP (--use-megatron-fsdp, optim_grads / optim_grads_params)
    megatron_fsdp: Optional[bool] = None
    #: Megatron-Core stacks: the experts' grouped MLP as one fused Transformer Engine op chain
    #: (Megatron-Bridge ``cutedsl_fused_grouped_mlp``), not TEGroupedMLP's eager activation and bias ops
    moe_fused_mlp: Optional[bool] = None
    #: HF-code stacks: the loss as Liger Kernel's fused linear cross-entropy (HF Trainer / TRL ``use_liger_kernel``:
    #: chunked, the logits never whole; planner.model.activations_hf ``liger_flce_bytes``); None: the stack's default
    fused_cross_entropy: Optional[bool] = None
    #: nemo-automodel: the loss upcasts the whole logits to fp32 (AutoModel ``loss_fn.fp32_upcast`` of
    #: ``MaskedCrossEntropy``, default true; false: cross-entropy on the 16-bit logits, as its benchmark configs run;
    #: planner.model.stacks Stack.ce_fp32_upcast); None: the stack's default
    ce_fp32_upcast: Optional[bool] = None
    #: nemo-automodel: the loss class of the recipe's ``loss_fn`` (masked_ce | masked_ce_chunked | linear_ce |
    #: te_parallel_ce; planner.model.stacks Stack.loss_fn); None: MaskedCrossEntropy, as its recipes ship, and
    #: ``recommend`` tries linear_ce where it does not fit (rec57)
    loss_fn: Optional[V.LOSS_FN.literal] = None
    #: nemo-automodel: ``MaskedCrossEntropy(chunk_size=...)``, the rows upcast at a time (loss_fn masked_ce_chunked)
    ce_chunk_size: Optional[int] = Field(None, ge=1, le=1 << 24)
    #: Megatron-Core stacks: the loss kernel (none: no --cross-entropy-loss-fusion; native: Megatron-Core's fused loss;
    #: te: --cross-entropy-fusion-impl te, Transformer Engine's parallel_cross_entropy; planner.model.stacks
    #: Stack.cross_entropy_fusion); None: native, the registry entry's (NeMo / Megatron-Bridge turn the fusion on)
    cross_entropy_fusion: Optional[V.CE_FUSION.literal] = None
    #: Megatron stacks (the Megatron-Core ones, megatron-lm): the weight gradient accumulated by the wgrad GEMM itself
    #: (Megatron's gradient_accumulation_fusion, on by default); false: ``--no-gradient-accumulation-fusion``, or a
    #: Megatron whose apex / TE fused wgrad kernel is missing, or the 2021 code that had none -- autograd adds each
    #: micro-batch's weight gradient in a pass of its own (planner.model.stacks Stack.gradient_accumulation_fusion)
    gradient_accumulation_fusion: Optional[bool] = None
    #: Megatron-Core stacks whose FP8 weights are stored as FP8 (megatron-core, nemo, megatron-bridge): Megatron's
    #: ``--fp8-param-gather`` (None: on, as NeMo / Megatron-Bridge configure it); false: the launch leaves it off (its
    #: default; Primus's), so the GPU holds 16-bit weights and TE's cached FP8 copy and the sharded optimizer / FSDP2
    #: gather 16-bit parameters (planner.model.stacks Stack.fp8_param_gather)
    fp8_param_gather: Optional[bool] = None
    #: torchtitan: FSDP2 all-gathers the float8 linears' weights in float8 (its float8 converter's
    #: ``enable_fsdp_float8_all_gather`` with ``precompute_float8_dynamic_scale_for_fsdp``; default off, as there);
    #: tensorwise only (torchtitan asserts against it with a ``recipe_name``), dropped without FSDP (ZeRO-0)
    #: (planner.model.stacks Stack.fsdp_float8_all_gather)
    fsdp_float8_all_gather: Optional[bool] = None
    #: HF-code stacks (hf-trainer, deepspeed): transformers' ``attn_implementation`` (eager | sdpa |
    #: flash_attention_2 | flash_attention_3 | flex_attention; planner.model.stack_kernels ``hf_attn_choice``); None: the one
    #: transformers picks (sdpa; eager for gpt-oss, or where training.flash_attention is off)
    attn_implementation: Optional[V.ATTN_IMPLEMENTATION.literal] = None
    #: HF-code stacks (hf-trainer, deepspeed), MoE models: transformers' ``experts_implementation`` (eager: the MoE
    #: class's per-expert loop | grouped_mm: torch's grouped GEMM over the rows sorted by expert;
    #: planner.model.activations_hf ``hf_experts_kernel``); None: the one transformers 5.23 picks (grouped_mm where the
    #: model's experts class takes the option -- every MoE family the planner maps but Llama 4, whose own bmm runs)
    experts_implementation: Optional[V.EXPERTS_IMPLEMENTATION.literal] = None
    #: Megatron-Core stacks: how context parallelism exchanges K/V (--cp-comm-type: p2p ring, all_gather, a2a Ulysses,
    #: a2a+p2p with a2a inside the NVLink domain; planner.model.stacks Stack.cp_comm_type); None: searched where CP > 1
    #: (p2p, Megatron-Core's default, where the search is not run); a list: one type a decoder layer (Megatron's
    #: ``--cp-comm-type p2p p2p a2a ...``), as many as the model's layers, each layer priced at its own
    # p2p | all_gather | a2a | a2a+p2p, or one a layer
    #: (an empty list is no type: Megatron's ``nargs='+'`` takes one at least; it was an internal error until fuzz48)
    cp_comm_type: Optional[Union[V.CP_COMM_TYPE.literal,
                                 typing.Annotated[list[V.CP_COMM_TYPE.literal], Field(min_length=1)]]] = None
    #: Megatron-Core stacks: Adam's state in Transformer Engine's FusedAdam at the dtypes below
    #: (--use-precision-aware-optimizer; planner.model.optimizers PrecisionAware); needs the distributed optimizer
    precision_aware_optimizer: Optional[bool] = None
    #: with precision_aware_optimizer: the dtype of Adam's first / second moment (--exp-avg-dtype / --exp-avg-sq-dtype)
    #: and of the master weights (--main-params-dtype); None: fp32, Megatron's default
    exp_avg_dtype: Optional[V.ADAM_STATE_DTYPE.literal] = None  # fp32 | fp16 | bf16 | fp8
    exp_avg_sq_dtype: Optional[V.ADAM_STATE_DTYPE.literal] = None  # fp32 | fp16 | bf16 | fp8
    main_params_dtype: Optional[V.MAIN_PARAMS_DTYPE.literal] = None  # fp32 | fp16
    #: Megatron-Core stacks: the shared experts on their own stream, fc1 beside the dispatch all-to-all and fc2 beside
    #: the combine (--moe-shared-expert-overlap; all-to-all dispatcher only, not with moe_a2a_overlap)
    moe_shared_expert_overlap: Optional[bool] = None
    #: Megatron-Core stacks: CUDA graphs (--cuda-graph-impl none | transformer_engine | local) and what they capture
    #: (--cuda-graph-scope: attn, mlp, moe, moe_router, moe_preprocess, mamba, full_iteration); planner.model.stacks
    cuda_graph_impl: Optional[V.CUDA_GRAPH_IMPL.literal] = None
    cuda_graph_scope: Optional[list[V.CUDA_GRAPH_SCOPE.literal]] = None
    #: fp8/fp4 training: transformer layers kept in 16 bits (Megatron --first-last-layers-bf16, the start + end counts)
    lp_bf16_layers: Optional[int] = Field(None, ge=0)
    #: fp8/fp4 training: the first transformer layers kept in 16 bits (Megatron --num-layers-at-start-in-bf16)
    lp_bf16_first_layers: Optional[int] = Field(None, ge=0)
    #: fp8/fp4 training: Megatron --first-last-layers-bf16; alone, Megatron-Core's 1 first + 1 last layer
    first_last_layers_bf16: Optional[bool] = None
    #: fp8/fp4 training: the MTP module kept in 16 bits (Megatron-Core keep_mtp_spec_in_bf16)
    lp_bf16_mtp: Optional[bool] = None
    #: generic models (CNNs): activations channels-last (NHWC, ``model.to(memory_format=torch.channels_last)``,
    #: the default); false: PyTorch's NCHW default, which pays cuDNN's layout transposes on tensor cores
    channels_last: Optional[bool] = None
    #: nemo-automodel: FSDP2 defers the reduce-scatter and the reshard after backward to the last micro-batch
    #: (AutoModel ``BackendConfig.enable_fsdp_optimizations``; planner.model.stacks Stack.fsdp_defer_sync)
    fsdp_defer_sync: Optional[bool] = None
    #: nemo-automodel: without PP, the FSDP2 gradient reduce-scatter on the last micro-batch only, the gathers
    #: unchanged (AutoModel ``distributed.defer_fsdp_grad_sync``, default true; planner.model.stacks
    #: Stack.defer_fsdp_grad_sync); hf-trainer: the Trainer's no_sync accumulation under FSDP1 or FSDP2, false being
    #: accelerate's ``sync_each_batch`` (default: on; left open, ``recommend`` tries false where on does not fit, on
    #: both stacks: rec56, rec57)
    defer_fsdp_grad_sync: Optional[bool] = None
    #: Megatron-Core stacks: the interleaved schedule's micro-batch group size
    #: (--microbatch-group-size-per-virtual-pipeline-stage); None: Megatron's default, pp
    microbatch_group_size: Optional[int] = Field(None, gt=0, le=1 << 20)
    #: micro-batches per run of the pipeline schedule where the loop runs it once per gradient-accumulation step
    #: (NeMo AutoModel: local_batch_size / pp_microbatch_size; torchtitan: local_batch_size /
    #: pipeline_parallel_microbatch_size); None: one run per optimizer step (recommend searches space.PASS_CHOICES)
    pp_pass_microbatches: Optional[int] = Field(None, gt=0, le=1 << 20)
    #: DeepSpeed stacks: the config's ``communication_data_type`` (the gradient reduce's dtype); None: DeepSpeed's
    #: default, the 16-bit training dtype (planner.model.stacks Stack.grad_comm_dtype)
    communication_data_type: Optional[V.COMM_DATA_TYPE.literal] = None
    #: megatron-deepspeed: DeepSpeed PipelineModule's partition_method (planner.model.pipeline PARTITION_METHODS);
    #: None: Megatron-DeepSpeed's own, type:transformer
    pp_partition_method: Optional[V.PP_PARTITION_METHOD.literal] = None
    #: Megatron-Core stacks: an explicit ``--pipeline-model-parallel-layout`` ("Et*4|(t*4|)*14tmL": E embedding, t
    #: decoder layer, m MTP layer, L loss, | stage boundary, (..)*n repetition); its stage count / pp is the vpp.
    #: None: the planner's own split (planner.model.pipeline ``pipeline_split``)
    pp_layout: Optional[str] = Field(None, min_length=1, max_length=4096)
    #: Megatron-Core stacks without pp_layout, torchtitan without less-layers: "balanced" the lightest pacing stage
    #: the stack accepts (planner.model.pipeline ``BalancedSplit`` / ``TitanSplit``), "megatron" Megatron's own
    #: split, "torchtitan" torchtitan's with both less-layers 0; None: balanced, the stack's own where the balanced
    #: one does not fit
    pp_split: Optional[V.PP_SPLIT.literal] = None
    #: torchtitan: ``pipeline_parallel_first_stage_less_layers`` / ``_last_stage_less_layers`` (torchtitan's default
    #: 1 for the one not set); None both: the planner's choice (planner.model.pipeline ``titan_less_layers``)
    pp_first_stage_less_layers: Optional[int] = Field(None, ge=0, le=1 << 16)
    pp_last_stage_less_layers: Optional[int] = Field(None, ge=0, le=1 << 16)
    #: how the CUDA runtime loads kernel modules (planner.model.stacks Stack.cuda_module_loading): eager for CUDA < 11.7
    #: or torch < 1.13, whose context holds every module (planner.hardware.cuda_runtime EAGER_CONTEXT_BYTES); None: lazy
    cuda_module_loading: Optional[V.CUDA_MODULE_LOADING.literal] = None
    #: the FSDP accelerate runs (the HF Trainer's ``fsdp_config["version"]`` / accelerate's ``fsdp_version``): 1
    #: (``FullyShardedDataParallel``, flat parameters) or 2 (``fully_shard``); None: the one that runs
    #: (planner.model.finetune ``fsdp_version``: 2, the HF Trainer's ``TrainingArguments`` default)
    fsdp_version: Optional[int] = Field(None, ge=1, le=2)
    #: the options a ``recommend`` search chose, as a plan's stack record lists them (``stack`` in the JSON): the
    #: record pasted back as a job's framework keeps it. Each must be set in this section (its value is timed as
    #: given; nothing is searched again -- an option left out is what ``recommend`` searches)
    searched: Optional[list[str]] = None

    @field_validator("remat_tensors", mode="before")
    @classmethod
    def _remat_tensors_fold(cls, v):
        # each tensor and location in any case, as remat_policy beside it (planner.vocab REMAT_TENSOR / REMAT_LOCATION);
        # a name that is none of them stays as written for the stack's refusal, which lists the names (QA 55)
        if not isinstance(v, dict):
            return v
        out = {}
        for k, x in v.items():
            name = V.REMAT_TENSOR.canonical(k)
            if name in out:  # two spellings of one tensor: the last would win unsaid
                twice = ", ".join(repr(j) for j in v if V.REMAT_TENSOR.canonical(j) == name)
                raise ValueError(f"{name} is given twice ({twice})")
            out[name] = V.REMAT_LOCATION.canonical(x)
        return out

    @field_validator("searched")
    @classmethod
    def _searched_are_set(cls, v, info):
        for k in v or ():
            if k not in cls.model_fields or k in ("name", "searched"):
                raise ValueError(f"{k!r} is not a training.framework option")
            if info.data.get(k) is None:
                raise ValueError(f"{k} is listed as searched but not set: a plan's stack record gives its value "
                                 f"(leave {k} out of both to have recommend search it)")
        return v

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, v):
        if v is not None and not isinstance(v, (str, dict, FrameworkSpec)):
            # a list or a number read "must be a section of fields" where a stack name is the usual form
            raise ValueError("must be a stack name (training.framework: torchtitan) or a section of its name and options "
                             f"({{name: torchtitan, compile: true}})")
        return {"name": v} if isinstance(v, str) else v


class TrainingSpec(Strict):
    seq_len: int = Field(4096, gt=0, le=MAX_REASONABLE["seq_len"])
    global_batch: int = Field(1024, gt=0, le=1 << 26)  # sequences (samples for generic models)
    micro_batch: Optional[int] = Field(None, gt=0, le=1 << 16)
    precision: V.PRECISION.literal = "bf16"

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_choices(cls, v):
        # the choices a job may write: the precisions and the loader's aliases (fp4), which pydantic's list left out;
        # this runs before the type's own folding (vocab.Vocab.canonical), so it folds first (BF16 is bf16)
        v = V.PRECISION.canonical(v)
        if isinstance(v, str) and v in V.PRECISION_ALIASES:  # a TrainingSpec built past the loader: the alias untaken
            raise ValueError(f"{v} is {V.PRECISION_ALIASES[v]}: write it in a job file (planner.spec.load), or give "
                             "precision fp8 with that recipe")
        if v not in V.PRECISION.names:
            aliases = ", ".join(f"{k} ({w})" for k, w in V.PRECISION_ALIASES.items())
            raise ValueError(f"must be one of {', '.join(V.PRECISION.names)} or {aliases}")
        return v

    # how weights are held: 'amp' = fp32 weights + autocast (PyTorch AMP); 'megatron' = 16-bit
    # weights + fp32 master copy in the optimizer; 'pure' = 16-bit weights only (no master)
    weights: V.WEIGHTS.literal = "megatron"
    grad_dtype: V.GRAD_DTYPE.literal = "fp32"  # gradient accumulation buffer dtype
    optimizer: V.OPTIMIZER.literal = "adamw"
    recompute: Optional[V.RECOMPUTE.literal] = None  # None: searched
    # what ``recompute: selective`` re-runs on the Megatron-Core stacks (Megatron ``--recompute-modules``);
    # None = ["core_attn"], the attention core (planner.model.stacks.recompute_modules)
    recompute_modules: Optional[list[V.RECOMPUTE_MODULES.literal]] = None
    # partial full recompute (Megatron ``--recompute-method`` / ``--recompute-num-layers``, only with
    # ``recompute: full`` on a stack with ``Stack.partial_recompute``): "block" re-runs the first N layers of
    # each pipeline stage (virtual stage when interleaved) and keeps the others' activations, "uniform"
    # checkpoints every group of N layers. None: every layer checkpointed on its own (uniform 1, the
    # planner's full); a method without N lets ``recommend`` pick the smallest block N that fits
    recompute_method: Optional[V.RECOMPUTE_METHOD.literal] = None
    recompute_num_layers: Optional[int] = Field(None, ge=1, le=1 << 16)
    flash_attention: bool = True
    dropout: bool = False
    # None: planner.defaults.FRAMEWORK (or FRAMEWORK_BY_MODE / _BY_OPTIMIZER), as is a section without a name
    # (``_framework_name``); name "auto": recommend searches the stacks
    framework: Optional[FrameworkSpec] = None
    tokens: Optional[float] = Field(None, gt=0, le=MAX_TOKENS)
    steps: Optional[int] = Field(None, gt=0, le=1 << 40)
    epochs: Optional[float] = Field(None, gt=0, le=1e6)
    dataset_samples: Optional[float] = Field(None, gt=0, le=1e15)
    # --- fine-tuning (planner/model/finetune.py)
    mode: V.TRAINING_MODE.literal = "pretrain"
    lora: Optional[LoRASpec] = None  # lora/qlora: adapters (default LoRASpec())
    base_weights: Optional[V.BASE_WEIGHTS.literal] = None  # frozen base storage; lora: bf16, qlora: nf4
    double_quant: bool = True  # QLoRA double quantisation of the NF4 block scales
    packing: V.SEQUENCE_PACKING.literal = "packed"
    # dataset: mean example length (packed: also the attention span on stacks that attend per example,
    # planner.model.flops.attention_span); an example holds at least one token, so a mean under 1 is a
    # typo (it made the packed row count, planner.model.cost, a sliver of the dataset)
    mean_example_tokens: Optional[float] = Field(None, ge=1, le=1 << 24)
    # BERT pre-training: positions per sequence the MLM head and its loss run on. None: every token
    # (Hugging Face BertForPreTraining). NVIDIA DeepLearningExamples' PyTorch BERT gathers the masked
    # positions first (modeling.py BertPreTrainingHeads ``sequence_output_is_dense``: index_select of
    # the labels != -1 rows; run_pretraining.py ``--no_dense_sequence_output`` defaults to off), so its
    # head sees max_predictions_per_seq positions (20 at seq 128, 80 at 512) at most
    head_tokens_per_seq: Optional[float] = Field(None, ge=1, le=1 << 24)  # whole positions: at least one

    def sequences_per_epoch(self, transformer: bool) -> float:
        """Sequences in one epoch of ``dataset_samples``: one per example when padded (each padded to seq_len: the
        compute of the padding is paid), examples x mean length / seq_len when packed (``packing``,
        ``mean_example_tokens``; examples longer than seq_len are truncated to it, a row holding whole examples),
        and when concatenated, with no truncation: the token stream is cut into seq_len rows, a long example
        running on into the next (until QA 43 it was truncated too: 1,000 examples of 9,000 tokens at seq_len 4,096
        made 1,000 rows, not 2,197); samples for a generic model."""
        n = float(self.dataset_samples)
        if transformer and self.packing == "concatenated" and self.mean_example_tokens:
            return n * self.mean_example_tokens / self.seq_len
        if transformer and self.packing == "packed" and self.mean_example_tokens:
            return n * min(self.mean_example_tokens, self.seq_len) / self.seq_len
        return n

    def padding_share(self, transformer: bool) -> float:
        """The share of a padded row's positions that are padding: 1 - min(mean_example_tokens, seq_len) / seq_len
        (``packing: padded``, one example a row, each padded to seq_len: ``sequences_per_epoch``); 0 for packed or
        concatenated rows, no mean example length, or a generic model. The padding is computed and timed, not
        trained on: a run's token count (``training.tokens``, planner.model.cost ``total_tokens``) is its real
        tokens, the positions less this share (until QA 98 only for a run of epochs: ``tokens: 1e8`` of 600-token
        examples padded to 2,048 was 763 steps, 71% of whose positions were padding, said as 100.01M tokens)."""
        if not (transformer and self.packing == "padded" and self.mean_example_tokens):
            return 0.0
        return max(0.0, 1.0 - float(self.mean_example_tokens) / self.seq_len)

    def real_tokens_per_step(self, transformer: bool) -> float:
        """Real tokens (samples for a generic model) one step trains on: global_batch rows of seq_len positions, less
        a padded row's padding (``padding_share``)."""
        return self.global_batch * (self.seq_len if transformer else 1) * (1.0 - self.padding_share(transformer))

    @model_validator(mode="after")
    def _one_duration(self):
        given = [f for f in ("tokens", "steps", "epochs") if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of tokens, steps or epochs, not {' and '.join(given)}")
        if self.epochs is not None and self.dataset_samples is None:
            raise ValueError("dataset_samples: required with epochs")
        if self.mode in ("lora", "qlora") and self.lora is None:
            self.__dict__["lora"] = LoRASpec()
        if self.lora is not None and self.mode not in ("lora", "qlora"):
            raise ValueError(f"lora: given with mode {self.mode!r}; set mode: lora or qlora")
        if self.base_weights is not None and self.mode not in ("lora", "qlora"):
            raise ValueError("base_weights: only frozen bases (mode lora or qlora) are stored quantised")
        if self.mode == "qlora" and self.base_weights not in (None, "nf4"):
            raise ValueError("base_weights: qlora keeps the base in nf4; use mode lora for bf16/int8")
        fw = self.framework
        for k in ("lp_bf16_layers", "lp_bf16_first_layers", "first_last_layers_bf16", "lp_bf16_mtp"):
            # which layers a low-precision recipe leaves 16-bit: nothing to leave in a 16/32-bit run (an fp4 job
            # arrives here as fp8 with the nvfp4 recipe: planner.spec.load._fp4_alias)
            if fw is not None and getattr(fw, k, None) and self.precision != "fp8":
                raise ValueError(f"training.framework.{k}: only with precision fp8 or fp4 (got {self.precision})")
        if self.recompute_modules is not None and self.recompute != "selective":
            raise ValueError(f"recompute_modules: only with recompute: selective (got {self.recompute or 'searched'})")
        for k in ("recompute_num_layers", "recompute_method"):
            # Megatron-Core TransformerConfig: recompute_num_layers "Must be None for 'selective'"; with no recompute
            # there is nothing to split. Left open, recommend searches full with them (planner.search.space)
            if getattr(self, k) is not None and self.recompute not in ("full", None):
                raise ValueError(f"{k}: only with recompute: full (got {self.recompute})")
        if self.micro_batch is not None and self.micro_batch > self.global_batch:
            raise ValueError(
                f"micro_batch ({self.micro_batch}) exceeds global_batch ({self.global_batch})"
            )
        return self

    @model_validator(mode="after")
    def _framework_name(self):
        # a section of options only runs the stack the job runs with no section (the training mode's or the optimizer's,
        # planner.spec.training_stack), named here once so every reader of framework.name agrees; FrameworkSpec's own
        # default took megatron-core: a QLoRA job with `framework: {compile: true}` was refused as Megatron's (fwname59).
        # "name" stays out of the section's fields_set: the job did not name it (training_stack.stack_named)
        # (a model without transformer layers: JobSpec._framework_name names it again, seeing the model)
        fw = named_open_section(self)
        if fw is not None:
            self.__dict__["framework"] = fw
        return self


#: why ``parallel.schedule: interleaved`` needs virtual stages (the job validator at ``vpp: 1``, estimate with vpp left
#: out: planner.workloads.training)
INTERLEAVED_NEEDS_VPP = "the interleaved schedule needs vpp > 1 (virtual pipeline stages per rank)"


class ParallelSpec(Strict):
    """Parallel degrees. Any field left out (None) is searched by ``planner recommend``."""

    tp: Optional[int] = Field(None, gt=0, le=1024)
    pp: Optional[int] = Field(None, gt=0, le=1024)
    dp: Optional[int] = Field(None, gt=0, le=1 << 20)
    cp: Optional[int] = Field(None, gt=0, le=1024)
    ep: Optional[int] = Field(None, gt=0, le=4096)
    etp: Optional[int] = Field(None, gt=0, le=1024)  # expert-tensor-parallel; None: tp (Megatron default)
    vpp: Optional[int] = Field(None, gt=0, le=128)
    zero: Optional[int] = Field(None, ge=0, le=3)  # 3 == FSDP FULL_SHARD, 2 == SHARD_GRAD_OP
    # hybrid sharded data parallelism (HSDP): the ZeRO sharding group's DP degree; None: the whole DP group.
    # dp / dp_shard replicas all-reduce their gradient shards (FSDP2 on a 2-D mesh, torchtitan
    # data_parallel_replicate_degree x data_parallel_shard_degree, DeepSpeed MiCS, FSDP1 HYBRID_SHARD)
    dp_shard: Optional[int] = Field(None, gt=0, le=1 << 20)
    sequence_parallel: Optional[bool] = None
    # left out (not in model_fields_set): the stack's own, resolved where the stack is known
    # (planner.model.stack_rules.schedule_codes: GPipe on MaxText at pp > 1)
    schedule: V.SCHEDULE.literal = "1f1b"

    @model_validator(mode="after")
    def _schedule_and_vpp(self):
        """Virtual stages (vpp > 1) are the interleaved schedule's (Narayanan et al. 2021 section 2.2.2; Megatron's
        ``--num-layers-per-virtual-pipeline-stage``); GPipe has none. Until QA 38 ``schedule: gpipe`` beside ``vpp: 2``
        was estimated as GPipe with vpp unused, and ``recommend`` of ``schedule: gpipe`` ranked interleaved plans;
        ``schedule: interleaved`` beside ``vpp: 1`` was a plan that interleaves nothing. (``interleaved`` with vpp
        left out: ``recommend`` searches vpp > 1, ``estimate`` refuses it: planner.workloads.training.)"""
        if self.schedule in ("gpipe", "dualpipev") and (self.vpp or 1) > 1:
            raise ValueError(f"vpp: vpp={self.vpp} needs the interleaved schedule (virtual pipeline stages); "
                             f"parallel.schedule is {self.schedule}, which has "
                             + ("none" if self.schedule == "gpipe" else "its own two stages a rank (leave vpp out)"))
        if self.schedule == "interleaved" and self.vpp == 1:
            raise ValueError(f"vpp: {INTERLEAVED_NEEDS_VPP}; vpp=1 is the 1f1b schedule")
        return self


class FabricSpec(Strict):
    """``cluster.fabric``: the cluster's inter-node network, in place of the instance's or reference system's
    (planner.hardware.options ``stated_fabric``). Either a catalog link by name (``link``; the field given as text,
    ``fabric: IB-NDR``, is that), or, for a network no catalog link describes, its figures: its line rate per
    direction per GPU (one NIC each, as DGX-class nodes) or per node, its family, and the per-step latency its
    collectives pay across nodes (the comm model's inter-node alpha; left out: the model's prior)."""
    link: Optional[str] = Field(None, min_length=1, max_length=100)  # `planner catalog links`: IB-NDR, RoCE-400, ...
    gbps_per_gpu: Optional[float] = Field(None, ge=MIN_RATE["gbps"], le=1e5)  # Gb/s per GPU (its NIC), per direction
    gbps_per_node: Optional[float] = Field(None, ge=MIN_RATE["gbps"], le=1e6)  # Gb/s per node, all its NICs
    family: Optional[V.NETWORK_FABRIC.literal] = None  # infiniband | roce | efa | ethernet
    latency_us: Optional[float] = Field(None, gt=0, le=1e4)  # µs a step across nodes (end-to-end NCCL alpha)

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data):
        """``fabric: IB-NDR`` is ``fabric: {link: IB-NDR}``."""
        if isinstance(data, str):
            return {"link": data}
        if not isinstance(data, (dict, FabricSpec)):
            raise ValueError(f"a catalog link's name (`planner catalog links`) or the network's figures "
                             "({gbps_per_gpu or gbps_per_node, family, latency_us})")  # (the input is quoted)
        return data

    @model_validator(mode="after")
    def _link_or_figures(self):
        figures = [k for k in ("gbps_per_gpu", "gbps_per_node", "family", "latency_us") if getattr(self, k) is not None]
        if self.link is not None:
            if figures:
                raise ValueError(f"{figures[0]}: give a catalog link (cluster.fabric: {self.link}) or the network's "
                                 "figures, not both")
            return self
        if (self.gbps_per_gpu is None) == (self.gbps_per_node is None):
            raise ValueError("gbps_per_gpu: give the network's rate as gbps_per_gpu (Gb/s per GPU, one NIC each) or "
                             "gbps_per_node (Gb/s per node), one of them (or name a catalog link: `planner catalog "
                             "links`)")
        if self.family is None:
            raise ValueError(f"family: the network's fabric family, one of {', '.join(V.NETWORK_FABRIC)}")
        return self


class ClusterSpec(Strict):
    gpu: Optional[str] = None
    instance: Optional[str] = None  # "aws:p5.48xlarge"
    gpus_per_node: Optional[int] = Field(None, gt=0, le=1024)
    nodes: Optional[int] = Field(None, gt=0, le=1 << 17)
    inter_node_gbps: Optional[float] = Field(None, ge=MIN_RATE["gbps"], le=1e6)  # per node, Gb/s (overrides)
    # the inter-node fabric, in place of the instance's or reference system's (planner.hardware.options
    # ``stated_fabric``): a catalog link by name (`planner catalog links`: IB-NDR, RoCE-400, ...), or its figures
    # (``FabricSpec``: {gbps_per_gpu: 400, family: roce, latency_us: 8}); not with inter_node_gbps
    fabric: Optional[FabricSpec] = None
    intra_node_gbps: Optional[float] = Field(None, ge=MIN_RATE["GBps"], le=1e5)  # per GPU per direction, GB/s
    # how the node's GPUs are wired (planner.hardware.nvlink): "switch" (NVSwitch: any group at the full per-GPU
    # rate), "hybrid-cube-mesh" (DGX-1 V100, p3.16xlarge: a group has only its members' NVLinks), "xgmi-full-mesh"
    # (8 MI300X / MI325X, one xGMI link a pair) or "nvlink4-quad-mesh" (a 4-GPU HGX H100 / H200 board, 6 NVLinks a
    # pair); left out: the instance row's, else the chip's platform's
    # (planner.hardware.nvlink ``default_topology``: MI300X / MI325X the xGMI mesh), else switch
    nvlink_topology: Optional[V.NVLINK_TOPOLOGY.literal] = None
    price_usd_hr: Optional[float] = Field(None, gt=0, le=1e5)  # per node, overrides the catalog
    # on a rack-scale NVLink system (GB200 / GB300 NVL72: 18 trays of 4 GPUs), the hosts (trays) of one Slurm
    # ``--segment``: the job's NVLink domain is that many trays; left out: estimate takes the whole rack, recommend
    # searches it (planner.hardware.options ``segment_sizes``); ``nodes`` still counts racks
    segment: Optional[int] = Field(None, gt=0, le=1024)
    # the power limit the GPUs are held at (W, ``nvidia-smi -pl``): a power-capped site's GPUs sustain a lower clock
    # (planner.model.physics.clock_fraction). Held to the part's own range where the catalog knows it
    # (planner.hardware.power: at most its rated limit, at least its minimum); in a search, each GPU runs at the
    # lower of this and its rated limit. Left out: every GPU at its catalog row's limit
    power_limit_w: Optional[float] = Field(None, gt=0, le=1e4)
    # the host RAM of one node (GiB), where the catalog has no figure or the job's nodes differ from it: what an
    # offloading plan may fill (planner.model.offload ``host_ram``; a bare GPU otherwise takes its reference
    # system's RAM per GPU, e.g. one V100 of a p3dn.24xlarge: 96 GiB). Left out: the instance's, else that assumption
    host_ram_gib: Optional[float] = Field(None, ge=HOST_RAM_GIB[0], le=HOST_RAM_GIB[1])

    @model_validator(mode="after")
    def _gpu_or_instance(self):
        if self.gpu and self.instance:
            raise ValueError("give cluster.gpu or cluster.instance, not both")
        if self.fabric is not None and self.inter_node_gbps:  # (a bare GPU's plan read inter_node_gbps and dropped
            # the fabric unsaid, where an instance's refused the pair in planner.hardware.options stated_fabric)
            raise ValueError("fabric: give cluster.fabric or cluster.inter_node_gbps (Gb/s per node), not both")
        return self


class DataSpec(Strict):
    """The input pipeline. Empty means "data never limits" (pre-tokenised text, say)."""

    storage: V.STORAGE.literal = "local_nvme"
    format: V.DATA_FORMAT.literal = "shards"
    sample_bytes: float = Field(2e5, gt=0, le=1e12)  # on-storage bytes per sample
    dataset_samples: Optional[float] = Field(None, gt=0, le=1e15)
    shard_mb: float = Field(256, gt=0, le=1e6)
    decode_ms_per_sample: float = Field(0.0, ge=0, le=1e6)  # CPU decode+augment, one core
    decode_cv: float = Field(0.3, ge=0, le=10)  # coefficient of variation of per-sample cost
    workers_per_gpu: Optional[int] = Field(None, ge=0, le=1024)
    prefetch_factor: int = Field(2, ge=1, le=1024)
    vcpus_per_gpu: Optional[float] = Field(None, ge=MIN_RATE["vcpus_per_gpu"], le=1024)
    cache_fraction: float = Field(0.0, ge=0, le=1)  # share of samples served from a local cache
    read_fraction: float = Field(1.0, gt=0, le=1)  # filtering at storage: share actually read
    storage_gbps: Optional[float] = Field(None, ge=MIN_RATE["gbps"], le=1e6)  # aggregate read bandwidth, Gb/s
    # one reader's read bandwidth (each loader worker's connection), Gb/s; what `calibrate --storage` measures
    storage_stream_gbps: Optional[float] = Field(None, ge=MIN_RATE["gbps"], le=1e6)
    request_latency_ms: Optional[float] = Field(None, ge=0, le=1e6)
    max_requests_per_s: Optional[float] = Field(None, ge=MIN_RATE["requests_per_s"], le=1e9)
    #: never read: the offline preprocessing stage is the ``campaign`` section's ``preprocess``
    #: (planner/workloads/campaign.py). Kept only to refuse it by name: it was accepted and ignored,
    #: so a job that set it was planned without its preprocessing and nothing said so
    preprocess: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _preprocess_is_campaign(self):
        if self.preprocess is not None:
            raise ValueError("preprocess: not read here; the preprocessing stage and its cache are the campaign "
                             "section's preprocess (README \"The preprocessing tax\")")
        return self


# Counts of steps are bounded by the largest run the planner models (training.steps <= 2^40);
# an evaluation or checkpoint cadence beyond that never fires, so it is a typo.
MAX_STEPS = 1 << 40


class EvaluationSpec(Strict):
    every_steps: int = Field(0, ge=0, le=MAX_STEPS)  # 0 = no evaluation
    samples: float = Field(0, ge=0, le=1e15)  # evaluation set size in samples (sequences), as dataset_samples
    # tiered evaluation: a stratified holdout of this share of the set at most evaluations, and the
    # full set every ``full_every``-th one (planner simulate compares it with full-set-every-time)
    holdout_fraction: float = Field(0.1, gt=0, le=1)
    full_every: int = Field(10, ge=1, le=1_000_000)


class CheckpointSpec(Strict):
    every_steps: int = Field(0, ge=0, le=MAX_STEPS)  # 0 = no checkpoints
    write_gbps: float = Field(20.0, ge=MIN_RATE["gbps"], le=1e6)  # aggregate storage write bandwidth, Gb/s
    asynchronous: bool = False
    mtbf_hours_per_node: Optional[float] = Field(None, gt=0, le=1e8)
    restart_minutes: float = Field(10.0, ge=0, le=1e5)


#: the longest deadline each deadline field takes, in hours (the shortest is anything above 0): a training run past
#: ~1,100 years or an offline batch past ~11 years is a typo. The one statement of the bounds: the job fields and
#: ``serve --deadline-hours`` (``planner.workloads.serving_settings.settings_for``) both check them with
#: ``deadline_error``.
DEADLINE_HOURS_MAX = {"constraints.deadline_hours": 1e7, "serving.deadline_hours": 1e5}
_HOURS_PER_YEAR = 8766.0  # 365.25 days


def deadline_error(value, field: str) -> Optional[str]:
    """Why ``value`` is no deadline for ``field`` (a ``DEADLINE_HOURS_MAX`` key), in the project's words, or None
    when it is one; text that is no number is refused here too, other types (true, a list) by the field's type check. Until 2026-12-03 these were
    pydantic ``Field`` bounds, and ``--deadline-hours 0`` read "Input should be greater than 0".

    >>> deadline_error(-1, "serving.deadline_hours")
    'must be more than 0 and at most 100,000 hours (about 11 years)'
    >>> deadline_error(float("nan"), "constraints.deadline_hours"), deadline_error(2.5, "serving.deadline_hours")
    ('must be more than 0 and at most 10,000,000 hours (about 1,141 years)', None)
    """
    if isinstance(value, str):  # YAML 1.1 reads ``1e300`` (no dot) as text, which the float field then takes
        # (not a number only Python reads: ``serve --deadline-hours ٢`` ran as 2 hours until QA 102, the one rule of
        # what a number looks like, hardware_catalog.files ``is_python_only_number``)
        try:
            if is_python_only_number(value):
                raise ValueError(value)
            value = float(value)
        except ValueError:
            return "must be a number of hours"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    hi = DEADLINE_HOURS_MAX[field]
    if math.isfinite(value) and 0 < value <= hi:
        return None
    # no "got": ``from_validation`` quotes the input after every message
    return f"must be more than 0 and at most {hi:,.0f} hours (about {hi / _HOURS_PER_YEAR:,.0f} years)"


def event_bound_value(value) -> int:
    """``value`` as a serving plan's simulation bound (``serving.plan_event_bound``, ``serve --plan-event-bound``): a
    whole number of engine events within ``defaults.PLAN_EVENT_BOUND_RANGE``, else ValueError in the project's words.
    Text is read as a number (YAML 1.1 reads ``1e6`` as text, and the flag arrives as text), so ``1e6`` is 1,000,000.

    >>> event_bound_value("2e5"), event_bound_value(3000.0)
    (200000, 3000)
    >>> event_bound_value(10)
    Traceback (most recent call last):
    ...
    ValueError: must be a whole number of engine events from 1,000 to 100,000,000
    """
    lo, hi = D.PLAN_EVENT_BOUND_RANGE
    why = f"must be a whole number of engine events from {lo:,} to {hi:,}"
    if isinstance(value, str):
        try:
            value = value.replace("_", "")
            if is_python_only_number(value):  # ``--plan-event-bound ٥٠٠٠`` ran as 5,000 until QA 102
                raise ValueError(value)
            value = float(value)
        except ValueError:
            raise ValueError(why) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise ValueError(why)  # (true, 2.5, inf: no count of events)
    if not lo <= value <= hi:
        raise ValueError(why)
    return int(value)


#: ``serving.engine_version`` when the job names none: the engine's current release
LATEST_RELEASE = "latest"

#: a release number as engines tag them (PEP 440's public versions without epoch or local part, which vLLM, SGLang
#: and TensorRT-LLM use: "0.10.2", "0.11.1rc1", "0.5.5.post1", "1.2.0rc1"; a leading "v", as git tags and image tags
#: write it, is read past): the release's numbers, then an optional pre-, post- or dev-release suffix
_RELEASE = re.compile(r"v?(?P<release>\d+(?:\.\d+){1,3})(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?")


def release_text(value) -> str:
    """``serving.engine_version`` as a job gives it, checked: ``latest`` or a release number (:data:`_RELEASE`); a
    YAML number (``1.0``, ``0.10`` read as 0.1) is refused with the quoting it needs, since its digits are lost."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("a release is text: YAML read this one as a number, losing its digits (0.10 is 0.1); quote "
                         f"it (\"0.10.2\", \"1.0.0\") or give {LATEST_RELEASE}")
    if not isinstance(value, str) or not (value.strip().lower() == LATEST_RELEASE
                                          or _RELEASE.fullmatch(value.strip())):
        raise ValueError(f"not a release: give {LATEST_RELEASE} or a release number such as 0.10.2, 0.11.1rc1 or "
                         "1.0.0")
    text = value.strip()
    return LATEST_RELEASE if text.lower() == LATEST_RELEASE else text.removeprefix("v")


#: each engine's first release (``serving.engine`` -> its release numbers): the earliest version its package index
#: lists (``pip index versions vllm / sglang / tensorrt-llm``, read 2026-12-07: vllm 0.0.1, sglang 0.1.3,
#: tensorrt-llm 0.5.0). A pinned ``engine_version`` before it is no release of the engine (qa59: ``0.0.0`` was taken and
#: priced by the oldest rule), so it is refused; one after the newest rule is a later release, priced by that rule
#: (``ServingEfficiency.at_release``).
FIRST_RELEASE = {"vllm": (0, 0, 1), "sglang": (0, 1, 3), "tensorrt-llm": (0, 5, 0)}


def release_before_first(engine: str, version: str) -> Optional[str]:
    """Why ``version`` is no release of ``engine`` (older than :data:`FIRST_RELEASE`'s), or None.

    >>> release_before_first("vllm", "0.0.0").split(" (")[0]
    'serving.engine_version: 0.0.0 is no vllm release: its releases begin at 0.0.1'
    >>> release_before_first("tensorrt-llm", "0.5.0") is None, release_before_first("sglang", "latest") is None
    (True, True)
    """
    first, have = FIRST_RELEASE.get(engine), engine_release(version)
    if first is None or have is None or have >= first:
        return None
    dotted = lambda r: ".".join(map(str, r))  # noqa: E731
    modelled = ", ".join(f"{e} from {dotted(r)}" for e, r in FIRST_RELEASE.items())
    return (f"serving.engine_version: {version} is no {engine} release: its releases begin at {dotted(first)} "
            f"({modelled}); give a release or {LATEST_RELEASE}")


def engine_release(version: str) -> Optional[tuple[int, ...]]:
    """The release numbers of ``version`` (a tuple of ints, compared as ``ServingEfficiency.at_release`` compares
    them), or None for ``latest`` and for text that is no release number (a published run's "not stated", a CI build
    number). A pre-, post- or dev-release counts as its release: "0.11.1rc1" is (0, 11, 1) -- an engine's release
    candidates are cut from the release branch, with the changes the release ships.

    >>> engine_release("0.11.1rc1"), engine_release("v0.10.2"), engine_release("latest"), engine_release("9515")
    ((0, 11, 1), (0, 10, 2), None, None)
    """
    found = _RELEASE.fullmatch(str(version).strip())
    return tuple(int(p) for p in found["release"].split(".")) if found else None


def _deadline_in_bounds(value, field: str):
    """A deadline field's validator: ``deadline_error``'s message, or the value for the type check."""
    why = deadline_error(value, field)
    if why:
        raise ValueError(why)
    return value


class ConstraintsSpec(Strict):
    budget_usd: Optional[float] = Field(None, gt=0, le=1e13)  # above world GDP: a typo
    deadline_hours: Optional[float] = None  # bounds: DEADLINE_HOURS_MAX (_deadline_in_bounds)
    #: the most GPUs a plan rents: the GPUs billed, whole racks on a GB200 / GB300 NVL72 (a 64-GPU segment rents its
    #: 72-GPU rack; planner.hardware.options ``HardwareOption.billed_gpus``, cost42), else the nodes' GPUs
    max_gpus: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["gpus"])
    #: the fewest GPUs a plan runs on (its layout's world size; a rack's idle GPUs do not count)
    min_gpus: Optional[int] = Field(None, gt=0, le=MAX_REASONABLE["gpus"])
    #: the dearest rate per GPU-hour a plan may rent at, held to the rate it is priced at (the spot rate where ``spot``,
    #: else on-demand or ``cluster.price_usd_hr``), per GPU billed (an NVL72 rack's rate over its 72 GPUs);
    #: ``hardware.options.price_cap_broken`` (cost42). Finite: ``.inf`` is no cap, leave it out
    max_price_per_gpu_hour: Optional[float] = Field(None, gt=0, allow_inf_nan=False)
    clouds: Optional[list[str]] = None
    regions: Optional[list[str]] = None
    gpus: Optional[list[str]] = None  # restrict the GPU types searched
    instances: Optional[list[str]] = None  # restrict the instance types searched
    spot: bool = False
    objective: V.OBJECTIVE.literal = "cost"
    #: share of the GPU's memory a plan must leave free (its total already counts the CUDA context,
    #: NCCL buffers and fragmentation); None = planner.defaults.MEMORY_HEADROOM
    memory_headroom: Optional[float] = Field(None, ge=0, lt=1)
    #: the user's own spot interruption rate: interruptions per node per day (None = the catalog's
    #: hardware_catalog/data/interruptions.csv for the cloud and GPU)
    spot_interruptions_per_node_day: Optional[float] = Field(None, ge=0, le=1e4)

    _deadline_bounds = field_validator("deadline_hours", mode="before")(
        lambda v: _deadline_in_bounds(v, "constraints.deadline_hours"))

    def cluster_gpus_broken(self, gpus: int, what: str, floor: bool = True,
                            billed: Optional[int] = None) -> Optional[str]:
        """Why a fixed cluster of ``gpus`` GPUs (``what`` says how they were counted) breaks ``max_gpus``, or
        (``floor``) ``min_gpus``; None when it does not. The one statement of the rule: the job's own cross-checks
        count ``nodes x cluster.gpus_per_node`` against the cap only (``serve`` sizes the nodes itself),
        ``hardware.options.check_fixed_cluster`` counts an instance's GPUs from the catalog. ``billed``: the GPUs
        the cluster rents where that is more than it runs on (whole NVL72 racks: ``HardwareOption.billed_gpus``),
        which is what the cap holds (cost42); the floor counts ``gpus``."""
        rented = gpus if billed is None else billed
        if self.max_gpus is not None and rented > self.max_gpus:
            if rented == gpus:
                return f"{what} exceeds constraints.max_gpus ({self.max_gpus:,})"
            return (f"{what}, billed as {rented:,} GPUs (whole racks), exceeds constraints.max_gpus "
                    f"({self.max_gpus:,}), which counts the GPUs billed")
        if floor and self.min_gpus is not None and gpus < self.min_gpus:
            return f"{what} is below constraints.min_gpus ({self.min_gpus:,})"
        return None


class ArrivalsSpec(Strict):
    """``serving.arrivals``: how the simulation draws requests at ``serving.qps`` -- ``kind`` poisson, or mmpp (a
    two-state Markov-modulated Poisson process, planner/simulate/serving.py ``_mmpp``) whose bursts run at
    ``burst_factor`` x the rate between them for a ``burst_share`` of the time, ``burst_s`` seconds each on average
    (the mean held at serving.qps). A bare word (``arrivals: mmpp``) is the kind at the default shape
    (planner.defaults.MMPP_BURST_*: 4x, 25%, 10 s, the planner's choice, not a measurement)."""

    kind: V.ARRIVALS.literal = "poisson"
    burst_factor: float = Field(D.MMPP_BURST_FACTOR, ge=1, le=1000)  # 1: no burst (Poisson at the mean)
    burst_share: float = Field(D.MMPP_BURST_SHARE, gt=0, lt=1)
    burst_s: float = Field(D.MMPP_BURST_S, gt=0, le=86400)

    @model_validator(mode="before")
    @classmethod
    def _word(cls, data):
        """``arrivals: mmpp`` (the form before trace40) is ``{kind: mmpp}``; a word outside the kinds is refused as
        ``serving.arrivals``, the field it was given as."""
        if not isinstance(data, str):
            return data
        if V.ARRIVALS.canonical(data) not in V.ARRIVALS:
            raise ValueError(one_of(V.ARRIVALS, data).rsplit(", got ", 1)[0])  # from_validation adds the value
        return {"kind": data}

    @model_validator(mode="after")
    def _shape_needs_mmpp(self):
        given = sorted(self.model_fields_set - {"kind"})
        if given and self.kind != "mmpp":
            # a burst shape beside Poisson arrivals would be ignored unsaid
            raise ValueError(f"{given[0]}: applies to bursty arrivals (serving.arrivals.kind: mmpp); this job's "
                             f"are {self.kind}")
        return self


#: the most replicas ``serving.replicas`` takes: MAX_QPS's fleets are 10^4-10^6 replicas (README "Serving", bounds)
MAX_FLEET_REPLICAS = 1 << 24
#: the most replicas a side of a prefill-decode split takes (``serving.disaggregation``'s {prefill, decode}, and the
#: screen's ``auto`` sizing, planner.workloads.serving_screen ``disagg_size``): each is an engine of its own in the
#: split's simulation (planner.workloads.serving ``_disagg_run``), which is not sliced as a colocated fleet is
#: (``_fleet_slice``: the split's two queues have their own replica counts). 2^24 + 2^24 replicas ran out of memory
#: in ``serve`` until fuzz52; 4,096 + 4,096 simulate in ~14 s. A service past it is the colocated plan's scale
MAX_DISAGG_REPLICAS = 4096


class Disaggregation(Strict):
    """Prefill-decode disaggregation of a real-time service (pd51): prefill-only and decode-only replicas, the prompt's
    KV moved between them (vLLM ``--kv-transfer-config`` with NixlConnector / LMCache, SGLang ``--disaggregation-mode
    prefill|decode``, NVIDIA Dynamo; DistServe, Zhong et al. OSDI 2024; Splitwise, Patel et al. ISCA 2024). The job
    writes ``off``, ``auto`` (the screen sizes the split, ``serving_screen.disagg_size``) or ``{prefill: P, decode:
    D}`` (that many replicas of each); a bare word becomes this section (``_word``)."""

    prefill: Optional[int] = Field(None, gt=0, le=MAX_DISAGG_REPLICAS)
    decode: Optional[int] = Field(None, gt=0, le=MAX_DISAGG_REPLICAS)
    auto: bool = False

    @model_validator(mode="before")
    @classmethod
    def _word(cls, v):
        if isinstance(v, str):
            word = V.SERVE_DISAGG.canonical(v)
            if word not in V.SERVE_DISAGG.names:
                raise ValueError(f"one of {', '.join(V.SERVE_DISAGG.names)} or {{prefill: P, decode: D}} (replicas of "
                                 "each)")
            return {"auto": word == "auto"}
        return v

    @model_validator(mode="after")
    def _both(self):
        if (self.prefill is None) != (self.decode is None):
            raise ValueError("a split names both its prefill and its decode replicas: {prefill: P, decode: D}")
        if self.auto and self.prefill is not None:
            raise ValueError("auto sizes the split itself; give auto or {prefill: P, decode: D}, not both")
        return self

    @property
    def off(self) -> bool:
        return not self.auto and self.prefill is None

    @property
    def split(self) -> Optional[tuple[int, int]]:
        """(P, D) where the job fixed them; None for off and auto."""
        return None if self.prefill is None else (self.prefill, self.decode)


class ServingSpec(Strict):
    """Inference targets (planner/workloads/serving.py). For LLMs ``p99_latency_ms`` is the p99 time per
    output token (TPOT) and ``ttft_ms`` the p99 time to first token; for generic models
    ``p99_latency_ms`` is the p99 latency of one request."""

    p99_latency_ms: Optional[float] = Field(None, gt=0, le=1e7)
    ttft_ms: Optional[float] = Field(None, gt=0, le=1e7)
    qps: Optional[float] = Field(None, ge=MIN_RATE["qps"], le=MAX_QPS)
    # a fixed fleet (replicas one already runs): ``planner serve`` answers the highest QPS each option's
    # ``replicas`` replicas carry within the p99 targets, in place of sizing replicas for ``qps``
    # (planner/workloads/serving.py ``fleet_row``); real-time only, and not with ``qps``
    replicas: Optional[int] = Field(None, gt=0, le=MAX_FLEET_REPLICAS)
    max_batch: int = Field(64, gt=0, le=1 << 16)
    precision: V.SERVE_PRECISION.literal = "bf16"  # weights (and GEMM inputs)
    kv_precision: V.KV_PRECISION.literal = "bf16"  # KV-cache entries
    engine: V.SERVE_ENGINE.literal = "vllm"  # whose iteration efficiency (planner.model.serving_efficiency)
    # the engine's release (a pinned image): "latest" (the current release's kernels) or a release number, "0.10.2",
    # "0.11.1rc1" (``ServingEfficiency.at_release``: vLLM up to 0.11.0 runs Hopper's MXFP4 experts through Marlin);
    # ``engine_release`` reads it
    engine_version: str = LATEST_RELEASE
    prompt_tokens: int = Field(512, gt=0, le=MAX_REQUEST_TOKENS)
    output_tokens: int = Field(256, gt=0, le=MAX_REQUEST_TOKENS)
    # tokens at the start of every prompt that every request shares (a system prompt, few-shot examples):
    # the engine's prefix cache prefills them once and keeps their whole KV blocks once per replica
    # (planner/workloads/serving_memory.py ``shared_prefix``); must be < prompt_tokens
    shared_prefix_tokens: int = Field(0, ge=0, le=MAX_REQUEST_TOKENS)
    mode: V.SERVE_MODE.literal = "realtime"  # batch = offline: throughput, no latency target
    # offline job size (requests): at least one; above 0 took 1e-300 requests, priced at $5.5e302 per million (QA 36);
    # a whole number (``5.0e6`` reads as 5,000,000): until qa59 ``2.5`` was taken, its plan reading "2.5 requests" in
    # its header, batch 3 in its sizing and "$0.0036 for 2 requests" in its cost
    requests: Optional[int] = Field(None, ge=1, le=10**15)
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1.0)  # vLLM's default share of HBM
    # MoE models: a replica's experts spread over its GPUs with data-parallel attention (vLLM
    # ``--data-parallel-size N --enable-expert-parallel``; planner/workloads/serving_memory.py ``ReplicaSplit``):
    # None = searched beside tensor parallelism, true = expert-parallel options only, false = tensor-parallel only
    expert_parallel: Optional[bool] = None
    # an expert-parallel replica's token exchange (vLLM ``--all2all-backend``, or SGLang's ``deepep``: its
    # ``--moe-a2a-backend deepep --deepep-mode auto``; serving_iteration.py ``EP_ALL2ALL``):
    # None = each backend the hardware runs searched, set = that one (refused where no option's GPU runs it)
    all2all_backend: Optional[V.SERVE_ALL2ALL.literal] = None
    # an expert-parallel replica's two-batch overlap (SGLang ``--enable-two-batch-overlap``, vLLM ``--enable-dbo``;
    # serving_iteration.py ``BATCH_OVERLAP``): None = searched (off, and on where the engine runs it over the option's
    # exchange), none / two_batch = that one (two_batch refused where the engine cannot run it)
    batch_overlap: Optional[V.SERVE_OVERLAP.literal] = None
    # the simulation that confirms the size (planner/simulate/serving.py; CLI flags override these)
    arrivals: ArrivalsSpec = Field(default_factory=ArrivalsSpec)  # or a bare kind: poisson | mmpp
    trace: Optional[str] = None  # CSV of arrival_s,prompt_tokens,output_tokens (relative to the job file)
    length_cv: float = Field(0.5, ge=0, le=4)  # spread of prompt/output lengths around their means
    # the prompts' / outputs' own spread where they differ (None: length_cv); a replayed trace sets both from its
    # requests (simulate.serving.Workload.spread) for the analytic screen, as the simulation replays them (trace40)
    prompt_length_cv: Optional[float] = Field(None, ge=0, le=4)
    output_length_cv: Optional[float] = Field(None, ge=0, le=4)
    margin: float = Field(0.10, ge=0, lt=1)  # simulated p99s must sit this far under the targets
    deadline_hours: Optional[float] = None  # offline jobs: finish within; bounds: DEADLINE_HOURS_MAX
    # engine events all of the plan's simulations (and the app's latency curve) run together (SimBudget); bounds:
    # defaults.PLAN_EVENT_BOUND_RANGE
    plan_event_bound: int = D.PLAN_EVENT_BOUND
    # prefill-decode disaggregation (pd51): off, auto (the screen sizes P:D and states it beside the colocated plan),
    # or {prefill: P, decode: D} replicas (planner/workloads/serving_screen.py ``disagg_size``)
    disaggregation: Disaggregation = Field(default_factory=Disaggregation)

    _deadline_bounds = field_validator("deadline_hours", mode="before")(
        lambda v: _deadline_in_bounds(v, "serving.deadline_hours"))
    _event_bound = field_validator("plan_event_bound", mode="before")(event_bound_value)
    _release = field_validator("engine_version", mode="before")(lambda v: release_text(v))

    @property
    def engine_release(self) -> Optional[tuple[int, ...]]:
        """``engine_version``'s release number (None: the current release)."""
        return engine_release(self.engine_version)

    @property
    def prompt_cv(self) -> float:
        """The prompt lengths' spread the screen and the simulation take: ``prompt_length_cv``, else ``length_cv``."""
        return self.length_cv if self.prompt_length_cv is None else self.prompt_length_cv

    @property
    def output_cv(self) -> float:
        """The output lengths' spread: ``output_length_cv``, else ``length_cv``."""
        return self.length_cv if self.output_length_cv is None else self.output_length_cv

    @model_validator(mode="after")
    def _fixed_fleet(self):
        """``replicas`` asks what a fleet carries: a QPS beside it would be a second answer, and an offline job's
        replicas follow its requests and deadline."""
        if self.replicas is not None and self.qps is not None:
            # (count_of: "a fixed fleet of 1 replicas" until qa58)
            raise ValueError(f"serving.replicas: a fixed fleet of {count_of(self.replicas, 'replica')} is planned for "
                             "the highest QPS it carries within the targets; leave serving.qps out (or serving.replicas, "
                             "to size replicas for the QPS)")
        if self.replicas is not None and self.mode == "batch":
            raise ValueError("serving.replicas: a fixed fleet is planned for the QPS it carries in real time; an "
                             "offline job's replicas follow serving.requests and its deadline (constraints.max_gpus "
                             "caps them)")
        return self

    @model_validator(mode="after")
    def _a_release_of_the_engine(self):
        why = release_before_first(self.engine, self.engine_version)
        if why:
            raise ValueError(why)
        return self

    @model_validator(mode="after")
    def _disaggregated_realtime(self):
        """A prefill-decode split protects a real-time service's TPOT from prefills; it needs a QPS to size P:D at."""
        if self.disaggregation.off:
            return self
        if self.mode == "batch":
            raise ValueError("serving.disaggregation: an offline job has no TTFT or TPOT target to split prefill and "
                             "decode for; leave it off (or mode: realtime)")
        if self.qps is None:
            raise ValueError("serving.disaggregation: the prefill and decode replicas are sized from the request rate; "
                             "give serving.qps (a fixed fleet, serving.replicas, is planned colocated)")
        return self

    @model_validator(mode="after")
    def _prefix_within_prompt(self):
        if self.shared_prefix_tokens and self.shared_prefix_tokens >= self.prompt_tokens:
            # every request adds at least one token of its own (vLLM recomputes a fully cached prompt's last token)
            raise ValueError(f"serving.shared_prefix_tokens: {self.shared_prefix_tokens:,} must be less than "
                             f"serving.prompt_tokens ({self.prompt_tokens:,}): every request has at least one token "
                             "of its own")
        return self


#: the serving fields of an offline (``mode: batch``) job only: a real-time service has no end (QA 39)
OFFLINE_ONLY_SERVING = ("requests", "deadline_hours")


#: the parallel degrees that split a transformer (its layers, heads, sequence, experts): a generic model (CNNs and
#: other non-transformers, given by params and FLOPs per sample) takes none of them, only data parallelism
GENERIC_MODEL_SPLITS = ("tp", "pp", "cp", "ep", "etp", "vpp")

#: the training fields that say how examples fill a row of seq_len tokens (``TrainingSpec.sequences_per_epoch``,
#: ``padding_share``, planner.model.flops ``attention_span``), with what each is: a generic model's global_batch
#: counts samples, which nothing packs or pads, so until QA 98 a resnet50 job took ``packing: padded`` and
#: ``mean_example_tokens: 600`` and priced the same steps without a word; a value other than the field's default is
#: refused there
TOKEN_ROW_FIELDS = {"packing": "how examples fill a row of seq_len tokens",
                    "mean_example_tokens": "the mean example length in tokens"}

#: each job ``onprem:`` field by the catalog key it replaces, whose range (``hardware_catalog.bounds``) it takes
ONPREM_KEYS = {"horizon_years": "amortisation_years", "utilisation": "utilisation",
               "server_price_usd": "server_price_", "server_power_kw": "server_power_kw_",
               "network_cost_share": "network_cost_share", "power_price_usd_per_kwh": "power_price_usd_per_kwh",
               "pue": "pue", "hosting_usd_per_kw_month": "hosting_usd_per_kw_month",
               "staff_share_per_year": "staff_share_per_year", "support_share_per_year": "support_share_per_year",
               "residual_value_fraction": "residual_value_fraction"}


class OnpremSpec(Strict):
    """Buy instead of rent: the on-prem TCO inputs of this job (each left out = the catalog's
    ``hardware_catalog/data/onprem.csv`` value, or a catalog override file's ``onprem:`` row)."""

    horizon_years: Optional[float] = None  # amortisation period
    utilisation: Optional[float] = None  # share of owned hours doing useful work
    server_price_usd: Optional[float] = None  # one node of this GPU (all its GPUs)
    server_power_kw: Optional[float] = None  # one node, max
    network_cost_share: Optional[float] = None  # fabric/switches/storage, share of server capex
    power_price_usd_per_kwh: Optional[float] = None
    pue: Optional[float] = None
    hosting_usd_per_kw_month: Optional[float] = None
    staff_share_per_year: Optional[float] = None  # share of server capex per year
    support_share_per_year: Optional[float] = None
    residual_value_fraction: Optional[float] = None  # resale share at the end

    @model_validator(mode="after")
    def _ranges(self):
        """Each field in the range of the catalog key it replaces, refused in the words an override file's row
        is (``hardware_catalog.bounds.range_error``: "must be between 0.01 and 1 (a fraction of owned hours),
        got 5"); until 2026-12-02 these were pydantic ``Field`` bounds, "Input should be less than or equal to 1"."""
        for name, key in ONPREM_KEYS.items():
            value = getattr(self, name)
            why = None if value is None else range_error(key, value, name)
            if why:
                raise ValueError(f"{name}: {why.removeprefix(name + ' ')}")
        return self


#: the stacks whose hybrid (``hybrid_pattern``) models are modelled: the Mamba mixer is priced as Megatron-Core runs it
#: (mamba_ssm's fused kernels, MambaMixer's saved tensors); NeMo AutoModel's NemotronV3Mamba2Mixer calls the same fused
#: kernel (models/nemotron_v3/layers.py: mamba_ssm ``mamba_split_conv1d_scan_combined``, mamba_ssm's gated
#: ``rmsnorm_fn``); the HF-code stacks' per-op tables, torchtitan and MaxText have no hybrid layers here, and the legacy
#: megatron-lm stack (2021-22 Megatron-LM) predates megatron/core/ssm
HYBRID_STACKS = ("megatron-core", "nemo", "megatron-bridge", "nemo-automodel")


def hybrid_stack_refusal(model, name: str | None) -> str | None:
    """Why stack ``name`` cannot run ``model`` (a hybrid model on a stack outside ``HYBRID_STACKS``), None when it can
    (None: the default stack). The job's validator says it of a named stack; ``planner.search.space`` of the stack an
    open ``training.framework`` becomes on a TPU or Trainium (``open_stack``), which no validator sees."""
    if model is None or not model.hybrid or name is None or name in HYBRID_STACKS:
        return None
    return (f"{name} is not modelled for hybrid (hybrid_pattern) models; use a Megatron-Core stack "
            "(megatron-core, nemo, megatron-bridge) or nemo-automodel")


class JobSpec(Strict):
    model: Optional[ModelSpec] = None  # required unless the job is a tabular (non-neural) workload
    training: TrainingSpec = TrainingSpec()
    parallel: ParallelSpec = ParallelSpec()
    cluster: ClusterSpec = ClusterSpec()
    data: Optional[DataSpec] = None
    evaluation: Optional[EvaluationSpec] = None
    checkpoint: Optional[CheckpointSpec] = None
    constraints: ConstraintsSpec = ConstraintsSpec()
    serving: Optional[ServingSpec] = None
    onprem: Optional[OnpremSpec] = None  # buy-vs-rent inputs (planner.model.cost.owned_node_hour_cost)
    # non-neural workloads and experiment campaigns: validated by planner.workloads.tabular / planner.workloads.campaign
    tabular: Optional[dict[str, Any]] = None
    campaign: Optional[dict[str, Any]] = None
    # human-readable notes on every default the loader filled in (never silently assumed)
    assumptions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _framework_name(self):
        # a section of options only on a model without transformer layers (a ResNet, a generic model) runs plain PyTorch
        # DDP, as the job with no section does (training_stack.default_stack_name); TrainingSpec's validator, which does
        # not see the model, named the LLM default: `framework: {channels_last: false}` on ResNet-50 was refused as
        # megatron-core's (fwname59b). Runs before the checks below, which read framework.name
        if self.model is not None and not self.model.is_transformer:
            fw = named_open_section(self.training, transformer=False)
            if fw is not None:
                self.__dict__["training"] = self.training.model_copy(update={"framework": fw})
        return self

    @model_validator(mode="after")
    def _cross_checks(self):
        m, p = self.model, self.parallel
        cl, con = self.cluster, self.constraints
        if con.min_gpus and con.max_gpus and con.min_gpus > con.max_gpus:
            raise ValueError(f"constraints.min_gpus: {con.min_gpus} exceeds constraints.max_gpus ({con.max_gpus})")
        fw = self.training.framework
        if fw is not None and fw.channels_last is not None and m is not None and m.is_transformer:
            # the memory format of a convnet's activations (step_time.nchw_transpose_bytes); a transformer's layers have
            # no convolution to run in it, so the option was accepted and changed nothing
            raise ValueError(f"training.framework.channels_last: {f'model {m.name}' if m.name else 'the model'} has "
                             "transformer layers, no "
                             "convolutions; channels_last sets a convnet's memory format: leave it out")
        if cl.nodes:
            # a fixed cluster outside the GPU caps is a contradiction, not a plan of nodes x gpus
            gpus = cl.nodes * (cl.gpus_per_node or 1)
            # (count_of: "1 nodes x 8 GPUs" was printed for a one-node cluster over max_gpus)
            what = (f"{count_of(cl.nodes, 'node')} x {count_of(cl.gpus_per_node, 'GPU')} = {count_of(gpus, 'GPU')}"
                    if cl.gpus_per_node else count_of(cl.nodes, "node"))
            broken = con.cluster_gpus_broken(gpus, what, floor=False)
            if broken:
                raise ValueError(f"cluster.nodes: {broken}")
        # (a bare cluster.gpu with a budget and no cluster.price_usd_hr is held where its hardware is known:
        # planner.hardware.options ``check_fixed_cluster``, since a reference system's provider rate can price it;
        # gbprice42)
        d, t = self.data, self.training
        if d is not None and d.dataset_samples and t.dataset_samples and d.dataset_samples != t.dataset_samples:
            # one dataset: training.dataset_samples sets the run's epochs, data.dataset_samples (taken first) sizes the
            # simulator's caches; 1 beside ImageNet's 1,281,167 read "caching: worth it -- 0.000110 GB of host RAM per
            # node" for a run that reads 141 GB an epoch (QA 37)
            raise ValueError(f"data.dataset_samples: {fmt_given(d.dataset_samples)} differs from training.dataset_samples "
                             f"({fmt_given(t.dataset_samples)}); both count the one dataset the run reads: give it once")
        if m is None:
            if self.tabular is None:
                raise ValueError("model: required section is missing")
            return self
        if self.tabular is not None:  # recommend planned the tabular part and estimate the model, each silently
            raise ValueError("tabular: a job is a tabular (GBDT) workload or a model's training, not both; "
                             "drop the model section or the tabular one")
        fw = self.training.framework
        if fw is not None and getattr(fw, "lp_bf16_mtp", None) and not m.mtp_layers:
            raise ValueError("training.framework.lp_bf16_mtp: the model has no MTP module (model.mtp_layers)")
        for k in ("lp_bf16_layers", "lp_bf16_first_layers", "first_last_layers_bf16"):
            if fw is not None and getattr(fw, k, None) and not m.is_transformer:
                raise ValueError(f"training.framework.{k}: counts transformer layers; this model has none")
        if self.training.head_tokens_per_seq is not None and not m.mlm_head:
            runs_on = "the [CLS] token (output_head: classifier)" if m.output_head == "classifier" else "every token"
            # the positions BERT's MLM head gathers (step_time T_head); a causal LM's head and loss run on every
            # position, so on llama3-8b the field was taken and moved MFU from 54% to 58% at 2 positions (QA 36)
            raise ValueError("training.head_tokens_per_seq: the positions an MLM head (BERT, model.mlm_head) runs on; "
                             f"{f'model {m.name}' if m.name else 'the model'} has no MLM head: its head runs on "
                             f"{runs_on}, so leave it out")
        if m.hybrid and self.training.mode in ("lora", "qlora"):
            raise ValueError(f"training.mode: {self.training.mode} is not modelled for hybrid (hybrid_pattern) models")
        # (Muon on a hybrid model: planner.model.optimizers ``layer_matrices`` holds the Mamba mixer's in/out
        # projections and the "E" block's router, latent projections and shared experts since 2026-12-04)
        fwn = self.training.framework.name if self.training.framework is not None else None
        why = hybrid_stack_refusal(m, fwn)
        if why:
            raise ValueError(f"training.framework: {why}")
        if m.hybrid and self.serving is not None:
            raise ValueError("serving: hybrid (hybrid_pattern) models are not modelled for serving (no KV cache "
                             "in the Mamba layers, their state instead)")
        s = self.serving
        # a real-time job's requests and deadline were dropped without a word, where `serve --deadline-hours` on it is
        # refused (QA 39): the same words here (the job, not ServingSpec alone: a field's bounds are checked without a mode)
        for f in OFFLINE_ONLY_SERVING if s is not None and s.mode == "realtime" else ():
            if f in s.model_fields_set and getattr(s, f) is not None:
                raise ValueError(f"serving.{f}: applies to offline jobs (serving.mode: batch); this job is realtime, "
                                 "sized for serving.qps")
        # (an encoder is refused for serving with its own message: planner.workloads.serving)
        if (s is not None and m.context_length and m.family != "encoder"
                and s.prompt_tokens + s.output_tokens > m.context_length):
            # vLLM refuses a request whose prompt + max_tokens exceeds max_model_len ("This model's maximum
            # context length is ... tokens"); a plan for it would size replicas for requests no engine serves.
            # The larger of the two is blamed: `output_tokens: 1000000` beside 800 prompt tokens named
            # serving.prompt_tokens until QA 39
            field = "output_tokens" if s.output_tokens > s.prompt_tokens else "prompt_tokens"
            raise ValueError(f"serving.{field}: {s.prompt_tokens:,} prompt + {s.output_tokens:,} output tokens "
                             f"exceed {m.name}'s {m.context_length:,}-token context (model.context_length)")
        if m.is_transformer:
            check_fields(m, self.training, p)  # the layout rules the job's fixed fields already break
        else:
            for k, what in TOKEN_ROW_FIELDS.items():
                # the default itself passes: a dumped job (model_dump writes every field) must load again
                if getattr(self.training, k) != TrainingSpec.model_fields[k].default:
                    raise ValueError(f"training.{k}: {what}; {m.name} is a generic model (params and FLOPs per "
                                     "sample), whose global_batch and dataset_samples count samples, not tokens: "
                                     f"leave training.{k} out")
            # a generic model (params and FLOPs per sample, no layers or heads) is planned with data parallelism
            # only (planner.search.space._grid); a fixed tp was an internal error in estimate (the heads rule read
            # model.heads = None), cp was planned as if it split a sequence, and recommend dropped them unsaid
            for k in GENERIC_MODEL_SPLITS if p is not None else ():
                v = getattr(p, k, None)
                if v is not None and v > 1:
                    raise ValueError(f"parallel.{k}: {k}={v} splits transformer layers, heads, sequences or experts; "
                                     f"{m.name} is a generic model (params and FLOPs per sample), planned with data "
                                     f"parallelism only: leave parallel.{k} out or set it to 1")
        return self


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def validate_section(model_cls, raw, field: str):
    """Validate a free-form job section (``tabular``, ``campaign``) with its own pydantic model, or the whole job
    (``JobSpec``, ``field`` ""); the first problem is one InputError naming ``field.<path>`` (``<path>`` alone for
    the whole job)."""
    try:
        return model_cls.model_validate(raw)
    except ValidationError as e:
        raise _first_error(e, field, model_cls) from None


#: other tools' names for job fields, so an unknown key written as a launcher writes it is answered with the field it
#: stands for (offered only where that section has the field): Megatron-LM's arguments (megatron/training/arguments.py
#: ``--seq-length``, ``--micro-batch-size``, ``--global-batch-size``, ``--tensor-model-parallel-size``, ...), the HF
#: Trainer's ``per_device_train_batch_size`` and ``max_seq_length``, torchtitan's ``[training] seq_len`` /
#: ``local_batch_size`` and ``[parallelism]`` degrees, and serving's rate names; vLLM's engine arguments
#: (vllm/engine/arg_utils.py ``EngineArgs``: ``max_num_seqs``, ``kv_cache_dtype``) and ``vllm bench serve``'s
#: (``--num-prompts``, ``--random-input-len``, ``--random-output-len``), and the TPOT / TTFT names its report prints
#: (QA 85: ``tpot_ms`` was answered "did you mean ttft_ms?", the other target; the TPOT's is ``p99_latency_ms``)
FIELD_SYNONYMS = {
    "seq_length": "seq_len", "sequence_length": "seq_len", "max_seq_length": "seq_len", "max_seq_len": "seq_len",
    "micro_batch_size": "micro_batch", "per_device_train_batch_size": "micro_batch", "local_batch_size": "micro_batch",
    "global_batch_size": "global_batch", "batch_size": "global_batch",
    "tensor_model_parallel_size": "tp", "tensor_parallel_degree": "tp",
    "pipeline_model_parallel_size": "pp", "pipeline_parallel_degree": "pp",
    "context_parallel_size": "cp", "context_parallel_degree": "cp",
    "expert_model_parallel_size": "ep", "expert_parallel_degree": "ep", "expert_tensor_parallel_size": "etp",
    "virtual_pipeline_model_parallel_size": "vpp", "data_parallel_shard_degree": "dp_shard",
    "requests_per_s": "qps", "requests_per_second": "qps", "rps": "qps", "request_rate": "qps",
    "tpot_ms": "p99_latency_ms", "p99_tpot_ms": "p99_latency_ms", "tpot_p99_ms": "p99_latency_ms",
    "p99_ttft_ms": "ttft_ms", "ttft_p99_ms": "ttft_ms",
    "max_num_seqs": "max_batch", "kv_cache_dtype": "kv_precision", "num_prompts": "requests",
    "input_len": "prompt_tokens", "random_input_len": "prompt_tokens", "input_tokens": "prompt_tokens",
    "output_len": "output_tokens", "random_output_len": "output_tokens",
}


def _first_error(exc: ValidationError, prefix: str = "", root=None) -> InputError:
    """``root``: the model class validated (an unknown field is answered with the known one it resembles or stands
    for: ``FIELD_SYNONYMS``)."""
    return from_validation(exc, prefix, default="job", root=root, synonyms=FIELD_SYNONYMS)
