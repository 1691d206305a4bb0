"""Job specification: the validated, typed form of a job file.

A job file (YAML) has the sections ``model``, ``training``, ``parallel``, ``cluster``, ``data``,
``constraints`` (and optionally ``serving``, ``evaluation``, ``checkpoint``) — see DESIGN.md. Every
section is a pydantic model; every validation failure becomes one ``InputError`` naming the field
(``model.layers: must be a positive integer``), which the CLI prints as one line with exit code 2.

The ``model`` section is exactly one of: ``preset: NAME``, ``hf_config: path/config.json``, or
explicit fields. A file holding only a model (bare model fields, or a Hugging Face config.json) is a
valid job: training defaults are filled in and reported in ``JobSpec.assumptions``.

Example::

    >>> job = load_job_dict({"model": {"preset": "llama3-8b"}})
    >>> job.model.layers, job.training.seq_len
    (32, 4096)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hardware_catalog import files as _files
from hardware_catalog.errors import from_validation
from planner import vocab as V
from planner.errors import InputError, read_json_object
from planner.layout import check_fields

# --------------------------------------------------------------------------------------------
# Registries: the vocabulary of the job file, kept as data.
# --------------------------------------------------------------------------------------------

MAX_REASONABLE = {  # bounds that catch typos ("layers: 3200000") without limiting real models
    "layers": 10_000,
    "hidden": 1 << 20,
    "heads": 1 << 14,
    "vocab": 1 << 24,
    "seq_len": 1 << 24,
    "gpus": 1 << 20,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MoESpec(_Strict):
    experts: int = Field(gt=0, le=4096)
    top_k: int = Field(gt=0, le=64)
    shared_experts: int = Field(0, ge=0, le=64)
    shared_ffn_hidden: Optional[int] = Field(None, gt=0)  # width of the shared expert(s) (total)
    shared_expert_gate: bool = False  # Qwen2-MoE: sigmoid gate (h x 1) on the shared expert
    layer_freq: int = Field(1, ge=1)  # every k-th layer is MoE (1 = all)
    capacity_factor: float = Field(1.0, gt=0, le=16)

    @model_validator(mode="after")
    def _k_le_e(self):
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        return self


class ModelSpec(_Strict):
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
    type_vocab: int = Field(0, ge=0, le=1024)  # BERT token-type embeddings
    mlm_head: bool = False  # BERT MLM head: dense h*h + norm + decoder bias
    moe: Optional[MoESpec] = None
    # generic models (CNNs, anything not a transformer): the three numbers the planner needs
    params: Optional[float] = Field(None, gt=0, le=1e15)
    fwd_flops_per_sample: Optional[float] = Field(None, gt=0, le=1e21)
    activation_bytes_per_sample: Optional[float] = Field(None, ge=0, le=1e15)
    input_bytes_per_sample: Optional[float] = Field(None, ge=0, le=1e12)

    @model_validator(mode="after")
    def _consistent(self):
        if self.family == "generic":
            missing = [f for f in ("params", "fwd_flops_per_sample") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"generic model needs {', '.join(missing)}")
            return self
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
        return self

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
        return self.layers // self.moe.layer_freq

    @property
    def causal(self) -> bool:
        return self.family in ("decoder", "moe")


class TrainingSpec(_Strict):
    seq_len: int = Field(4096, gt=0, le=MAX_REASONABLE["seq_len"])
    global_batch: int = Field(1024, gt=0, le=1 << 26)  # sequences (samples for generic models)
    micro_batch: Optional[int] = Field(None, gt=0, le=1 << 16)
    precision: V.PRECISION.literal = "bf16"
    # how weights are held: 'amp' = fp32 weights + autocast (PyTorch AMP); 'megatron' = 16-bit
    # weights + fp32 master copy in the optimizer; 'pure' = 16-bit weights only (no master)
    weights: V.WEIGHTS.literal = "megatron"
    grad_dtype: V.GRAD_DTYPE.literal = "fp32"  # gradient accumulation buffer dtype
    optimizer: V.OPTIMIZER.literal = "adamw"
    recompute: Optional[V.RECOMPUTE.literal] = None  # None: searched
    flash_attention: bool = True
    dropout: bool = False
    tokens: Optional[float] = Field(None, gt=0, le=1e17)
    steps: Optional[int] = Field(None, gt=0, le=1 << 40)
    epochs: Optional[float] = Field(None, gt=0, le=1e6)
    dataset_samples: Optional[float] = Field(None, gt=0, le=1e15)

    @model_validator(mode="after")
    def _one_duration(self):
        given = [f for f in ("tokens", "steps", "epochs") if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of tokens, steps or epochs, not {' and '.join(given)}")
        if self.epochs is not None and self.dataset_samples is None:
            raise ValueError("dataset_samples: required with epochs")
        if self.micro_batch is not None and self.micro_batch > self.global_batch:
            raise ValueError(
                f"micro_batch ({self.micro_batch}) exceeds global_batch ({self.global_batch})"
            )
        return self


class ParallelSpec(_Strict):
    """Parallel degrees. Any field left out (None) is searched by ``planner recommend``."""

    tp: Optional[int] = Field(None, gt=0, le=1024)
    pp: Optional[int] = Field(None, gt=0, le=1024)
    dp: Optional[int] = Field(None, gt=0, le=1 << 20)
    cp: Optional[int] = Field(None, gt=0, le=1024)
    ep: Optional[int] = Field(None, gt=0, le=4096)
    vpp: Optional[int] = Field(None, gt=0, le=128)
    zero: Optional[int] = Field(None, ge=0, le=3)  # 3 == FSDP FULL_SHARD, 2 == SHARD_GRAD_OP
    sequence_parallel: Optional[bool] = None
    schedule: V.SCHEDULE.literal = "1f1b"


class ClusterSpec(_Strict):
    gpu: Optional[str] = None
    instance: Optional[str] = None  # "aws:p5.48xlarge"
    gpus_per_node: Optional[int] = Field(None, gt=0, le=1024)
    nodes: Optional[int] = Field(None, gt=0, le=1 << 17)
    inter_node_gbps: Optional[float] = Field(None, gt=0, le=1e6)  # per node, Gb/s (overrides)
    intra_node_gbps: Optional[float] = Field(None, gt=0, le=1e5)  # per GPU per direction, GB/s
    price_usd_hr: Optional[float] = Field(None, gt=0, le=1e5)  # per node, overrides the catalog

    @model_validator(mode="after")
    def _gpu_or_instance(self):
        if self.gpu and self.instance:
            raise ValueError("give cluster.gpu or cluster.instance, not both")
        return self


class DataSpec(_Strict):
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
    vcpus_per_gpu: Optional[float] = Field(None, gt=0, le=1024)
    cache_fraction: float = Field(0.0, ge=0, le=1)  # share of samples served from a local cache
    read_fraction: float = Field(1.0, gt=0, le=1)  # filtering at storage: share actually read
    storage_gbps: Optional[float] = Field(None, gt=0, le=1e6)  # aggregate read bandwidth, Gb/s
    request_latency_ms: Optional[float] = Field(None, ge=0, le=1e6)
    max_requests_per_s: Optional[float] = Field(None, gt=0, le=1e9)
    preprocess: Optional[dict[str, Any]] = None  # offline stage (issue: preprocessing tax)


class EvaluationSpec(_Strict):
    every_steps: int = Field(0, ge=0)  # 0 = no evaluation
    samples: float = Field(0, ge=0)  # evaluation set size in samples (sequences)
    # tiered evaluation: a stratified holdout of this share of the set at most evaluations, and the
    # full set every ``full_every``-th one (planner simulate compares it with full-set-every-time)
    holdout_fraction: float = Field(0.1, gt=0, le=1)
    full_every: int = Field(10, ge=1, le=1_000_000)


class CheckpointSpec(_Strict):
    every_steps: int = Field(0, ge=0)  # 0 = no checkpoints
    write_gbps: float = Field(20.0, gt=0, le=1e6)  # aggregate storage write bandwidth, Gb/s
    asynchronous: bool = False
    mtbf_hours_per_node: Optional[float] = Field(None, gt=0, le=1e8)
    restart_minutes: float = Field(10.0, ge=0, le=1e5)


class ConstraintsSpec(_Strict):
    budget_usd: Optional[float] = Field(None, gt=0)
    deadline_hours: Optional[float] = Field(None, gt=0)
    max_gpus: Optional[int] = Field(None, gt=0)
    min_gpus: Optional[int] = Field(None, gt=0)
    clouds: Optional[list[str]] = None
    regions: Optional[list[str]] = None
    gpus: Optional[list[str]] = None  # restrict the GPU types searched
    instances: Optional[list[str]] = None  # restrict the instance types searched
    spot: bool = False
    objective: V.OBJECTIVE.literal = "cost"


class ServingSpec(_Strict):
    """Inference targets (planner/serving.py). For LLMs ``p99_latency_ms`` is the p99 time per
    output token (TPOT) and ``ttft_ms`` the p99 time to first token; for generic models
    ``p99_latency_ms`` is the p99 latency of one request."""

    p99_latency_ms: Optional[float] = Field(None, gt=0, le=1e7)
    ttft_ms: Optional[float] = Field(None, gt=0, le=1e7)
    qps: Optional[float] = Field(None, gt=0, le=1e9)
    max_batch: int = Field(64, gt=0, le=1 << 16)
    precision: V.SERVE_PRECISION.literal = "bf16"  # weights (and GEMM inputs)
    kv_precision: V.KV_PRECISION.literal = "bf16"  # KV-cache entries
    prompt_tokens: int = Field(512, gt=0, le=1 << 24)
    output_tokens: int = Field(256, gt=0, le=1 << 24)
    mode: V.SERVE_MODE.literal = "realtime"  # batch = offline: throughput, no latency target
    requests: Optional[float] = Field(None, gt=0, le=1e15)  # offline job size (requests)
    gpu_memory_utilization: float = Field(0.90, gt=0, le=1.0)  # vLLM's default share of HBM


class JobSpec(_Strict):
    model: Optional[ModelSpec] = None  # required unless the job is a tabular (non-neural) workload
    training: TrainingSpec = TrainingSpec()
    parallel: ParallelSpec = ParallelSpec()
    cluster: ClusterSpec = ClusterSpec()
    data: Optional[DataSpec] = None
    evaluation: Optional[EvaluationSpec] = None
    checkpoint: Optional[CheckpointSpec] = None
    constraints: ConstraintsSpec = ConstraintsSpec()
    serving: Optional[ServingSpec] = None
    # non-neural workloads and experiment campaigns: validated by planner.workloads.tabular / planner.workloads.campaign
    tabular: Optional[dict[str, Any]] = None
    campaign: Optional[dict[str, Any]] = None
    # human-readable notes on every default the loader filled in (never silently assumed)
    assumptions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self):
        m, p = self.model, self.parallel
        if m is None:
            if self.tabular is None:
                raise ValueError("model: required section is missing")
            return self
        if m.is_transformer:
            check_fields(m, self.training, p)  # the layout rules the job's fixed fields already break
        return self


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def validate_section(model_cls, raw, field: str):
    """Validate a free-form job section (``tabular``, ``campaign``) with its own pydantic model;
    the first problem is one InputError naming ``field.<path>``."""
    try:
        return model_cls.model_validate(raw)
    except ValidationError as e:
        raise _first_error(e, field) from None


def _first_error(exc: ValidationError, prefix: str = "") -> InputError:
    return from_validation(exc, prefix, default="job")


def read_yaml(path: str | Path, field: str = "job") -> Any:
    """Read a YAML file with the limits of ``hardware_catalog.files`` (regular files only, size,
    nesting, alias expansion, duplicate keys); any failure is an InputError naming ``field``."""
    return _files.read_yaml(path, field)


def parse_yaml_text(text: str, field: str = "job", where: str = "input") -> Any:
    """YAML text (an upload) with the same limits as ``read_yaml``."""
    return _files.parse_yaml(text, field, where)


def load_hf_config(path: str | Path, field: str = "model.hf_config") -> dict:
    """Read a local Hugging Face ``config.json`` (never downloaded) into ModelSpec fields."""
    cfg = read_json_object(path, field)
    return hf_config_to_fields(cfg, field)


def hf_config_to_fields(cfg: dict, field: str = "model.hf_config") -> dict:
    """Map a Hugging Face config dict to ModelSpec fields. Supported ``model_type``s are listed in
    ``HF_MAPPERS``; the mapping of each was checked against the HF modelling code's parameter count
    (tests/data/hf_params.json, made by tests/make_hf_params.py)."""
    mtype = cfg.get("model_type")
    mapper = HF_MAPPERS.get(mtype)
    if mapper is None:
        raise InputError(
            field, f"unsupported model_type {mtype!r}; supported: {', '.join(sorted(HF_MAPPERS))}"
        )
    try:
        out = mapper(cfg)
    except KeyError as e:
        raise InputError(field, f"config.json lacks {e.args[0]!r} needed for model_type {mtype}") from None
    out.setdefault("name", cfg.get("_name_or_path") or mtype)
    return out


def _llama_like(cfg: dict, qkv_bias: bool = False) -> dict:
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    return dict(
        family="decoder", layers=cfg["num_hidden_layers"], hidden=h, heads=nh,
        kv_heads=cfg.get("num_key_value_heads") or nh, head_dim=cfg.get("head_dim") or h // nh,
        ffn_hidden=cfg["intermediate_size"], vocab=cfg["vocab_size"],
        mlp="swiglu" if cfg.get("hidden_act", "silu") in ("silu", "swish") else "geglu",
        norm="rmsnorm", tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias or bool(cfg.get("attention_bias", False)), position="rope",
        # Llama's attention_bias puts a bias on q,k,v *and* o_proj, mlp_bias on the three MLP
        # linears; ModelSpec's linear_bias means o_proj + MLP, so it is exact when both are set
        # (or neither) and off by the o_proj bias (h per layer) when only one is
        linear_bias=bool(cfg.get("mlp_bias", False)),
    )


def _mixtral(cfg: dict) -> dict:
    out = _llama_like(cfg)
    out.update(family="moe", moe=dict(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"]))
    return out


def _qwen2_moe(cfg: dict) -> dict:
    if cfg.get("decoder_sparse_step", 1) != 1 or cfg.get("mlp_only_layers"):
        # the dense layers would use intermediate_size, the MoE ones moe_intermediate_size;
        # ModelSpec has one ffn_hidden, so refuse rather than miscount
        raise InputError("model.hf_config", "qwen2_moe with dense layers (decoder_sparse_step != 1 "
                         "or mlp_only_layers) is not supported")
    out = _llama_like(cfg, qkv_bias=True)
    out.update(
        family="moe", ffn_hidden=cfg["moe_intermediate_size"],
        moe=dict(
            experts=cfg["num_experts"], top_k=cfg["num_experts_per_tok"], shared_experts=1,
            shared_ffn_hidden=cfg["shared_expert_intermediate_size"], shared_expert_gate=True,
        ),
    )
    return out


def _gpt2(cfg: dict) -> dict:
    h = cfg["n_embd"]
    return dict(
        family="decoder", layers=cfg["n_layer"], hidden=h, heads=cfg["n_head"],
        ffn_hidden=cfg.get("n_inner") or 4 * h, vocab=cfg["vocab_size"], mlp="gelu",
        norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
        position="learned", max_positions=cfg["n_positions"],
    )


def _bert(cfg: dict) -> dict:
    h = cfg["hidden_size"]
    return dict(
        family="encoder", layers=cfg["num_hidden_layers"], hidden=h,
        heads=cfg["num_attention_heads"], ffn_hidden=cfg["intermediate_size"],
        vocab=cfg["vocab_size"], mlp="gelu", norm="layernorm", tied_embeddings=True,
        qkv_bias=True, linear_bias=True, position="learned",
        max_positions=cfg["max_position_embeddings"], type_vocab=cfg.get("type_vocab_size", 2),
        mlm_head=True,
    )


HF_MAPPERS = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": lambda c: _llama_like(c, qkv_bias=True),
    "qwen3": _llama_like,
    "gpt2": _gpt2,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe,
    "bert": _bert,
}


def _resolve_model(raw: Any, base_dir: Path) -> tuple[dict, list[str]]:
    from planner.spec.presets import PRESETS  # local import: presets import spec

    notes: list[str] = []
    if not isinstance(raw, dict):
        raise InputError("model", "must be a mapping of fields, a preset or an hf_config")
    raw = dict(raw)
    sources = [k for k in ("preset", "hf_config") if k in raw]
    if len(sources) > 1:
        raise InputError("model", "give preset or hf_config, not both")
    if "preset" in raw:
        name = str(raw.pop("preset")).lower()
        if name not in PRESETS:
            import difflib

            close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; see `planner presets`"
            raise InputError("model.preset", f"unknown preset {name!r}{hint}")
        base = dict(PRESETS[name])
        base.update(raw)  # explicit fields override the preset
        return base, notes
    if "hf_config" in raw:
        path = Path(str(raw.pop("hf_config")))
        if not path.is_absolute():
            path = base_dir / path
        base = load_hf_config(path)
        base.update(raw)
        return base, notes
    return raw, notes


def _looks_like_hf_config(d: dict) -> bool:
    return "model_type" in d and ("architectures" in d or "vocab_size" in d)


def load_job_dict(raw: Any, base_dir: str | Path = ".") -> JobSpec:
    """Validate a parsed job document. Accepts a full job, a bare model, or an HF config dict."""
    base_dir = Path(base_dir)
    if raw is None:
        raise InputError("job", "the file is empty")
    if not isinstance(raw, dict):
        raise InputError("job", f"must be a mapping (got {type(raw).__name__})")
    assumptions: list[str] = []
    if _looks_like_hf_config(raw):
        raw = {"model": hf_config_to_fields(raw, "model")}
        assumptions.append("model read from a Hugging Face config.json")
    elif "model" not in raw and "tabular" in raw:
        return _validate_job(raw, assumptions)
    elif "model" not in raw:
        model_keys = set(ModelSpec.model_fields) | {"preset", "hf_config"}
        if raw and set(raw) <= model_keys:
            raw = {"model": raw}
            assumptions.append("file holds a bare model spec")
        else:
            unknown = sorted(set(raw) - set(JobSpec.model_fields))
            if unknown:
                raise InputError(unknown[0], "unknown section (expected model, training, parallel, cluster, data, constraints)")
            raise InputError("model", "required section is missing")
    raw = dict(raw)
    model_fields, notes = _resolve_model(raw["model"], base_dir)
    assumptions += notes
    raw["model"] = model_fields
    job = _validate_job(raw, assumptions)
    _fill_training_defaults(job, raw.get("training") or {}, job.assumptions)
    return job


def _validate_job(raw: dict, assumptions: list[str]) -> JobSpec:
    for section in ("training", "parallel", "cluster", "constraints", "data", "evaluation", "checkpoint",
                    "serving", "tabular", "campaign"):
        if section in raw and raw[section] is not None and not isinstance(raw[section], dict):
            raise InputError(section, f"must be a mapping (got {type(raw[section]).__name__})")
    try:
        job = JobSpec.model_validate(raw)
    except ValidationError as e:
        raise _first_error(e) from None
    job.assumptions = assumptions
    return job


def _fill_training_defaults(job: JobSpec, given: dict, notes: list[str]) -> None:
    """Fill what a bare-model job leaves out, and say so (DESIGN.md: nothing silently assumed)."""
    t, m = job.training, job.model
    if "seq_len" not in given and m.is_transformer:
        notes.append(f"training.seq_len defaulted to {t.seq_len}")
    if "global_batch" not in given:
        if m.is_transformer:
            # ~4M tokens per step, a common choice for models of 1B+ parameters
            gb = max(1, int(2**22 // t.seq_len))
            t.global_batch = gb
            notes.append(f"training.global_batch defaulted to {gb} sequences (~4M tokens per step)")
        else:
            t.global_batch = 1024
            notes.append("training.global_batch defaulted to 1024 samples")
    if t.tokens is None and t.steps is None and t.epochs is None:
        if m.is_transformer:
            from planner.model.params import count_params

            n = count_params(m).total
            t.tokens = float(20 * n)  # Chinchilla compute-optimal: ~20 tokens per parameter
            notes.append(
                f"training.tokens defaulted to the Chinchilla compute-optimal 20 x params = {t.tokens:.3g}"
            )
        else:
            t.steps = 10_000
            notes.append("training.steps defaulted to 10000")
    for f, v in (("precision", t.precision), ("optimizer", t.optimizer)):
        if f not in given:
            notes.append(f"training.{f} defaulted to {v}")


def load_job(path: str | Path) -> JobSpec:
    """Load and validate a job file: YAML, or a Hugging Face config.json."""
    p = Path(path)
    if p.suffix == ".json":
        raw = read_json_object(p, "job")
    else:
        raw = read_yaml(p)
    return load_job_dict(raw, base_dir=p.parent)
