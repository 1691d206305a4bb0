"""Loading a job: YAML or JSON files (read with the limits of ``hardware_catalog.files``), a
bare model, a Hugging Face config.json, a preset; training defaults filled in and noted.

Example::

    >>> job = load_job_dict({"model": {"preset": "llama3-8b"}})
    >>> job.model.layers, job.training.seq_len
    (32, 4096)
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

from hardware_catalog import files as _files
from hardware_catalog.catalog import fold_name
from planner.errors import InputError, read_json_object
from planner.spec.params import count_params
from planner.spec.hf import (hf_config_notes, hf_config_path, hf_config_to_fields, hf_named, looks_like_hf_config,
                             read_hf_config)
from planner.spec.presets import PRESETS
from planner.spec.schema import MAX_TOKENS, JobSpec, ModelSpec, has_local_rope, has_shared_experts, validate_section
from planner.vocab import AUTO, FP8_RECIPE_CHOICE, MOE_ONLY_OPTIONS


def read_yaml(path: str | Path, field: str = "job") -> Any:
    """Read a YAML file with the limits of ``hardware_catalog.files`` (regular files only, size,
    nesting, alias expansion, duplicate keys); any failure is an InputError naming ``field``."""
    return _files.read_yaml(path, field)


def parse_yaml_text(text: str, field: str = "job", where: str = "input") -> Any:
    """YAML text (an upload) with the same limits as ``read_yaml``."""
    return _files.parse_yaml(text, field, where)


def override_fields(base: dict, raw: dict) -> dict:
    """The model fields of a preset or a Hugging Face config (``base``) with the job's own (``raw``) over them.
    A section the job gives as a mapping where the base has one too (``moe``, ``mla``, ``mamba``) overrides
    field by field: ``{preset: mixtral-8x7b, moe: {dropless: false, capacity_factor: 1.0}}`` is the preset's
    experts with token dropping, as the job file's MoE line reads (README "The job file"). Replacing the
    section whole refused that job (``model.moe.experts: Field required``) and, where the job restated only
    ``experts`` and ``top_k``, planned another model without a word: DeepSeek-V3 without its shared expert,
    group-limited routing and sigmoid scores. A non-mapping value (``moe: null``) still replaces, and so does a
    mapping of another kind (``SECTION_KINDS``)."""
    out = dict(base)
    for k, v in raw.items():
        kind = SECTION_KINDS.get(k)
        same_kind = kind is None or not isinstance(v, dict) or kind not in v or v[kind] == (out.get(k) or {}).get(kind)
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) and same_kind else v
    for k, applies in BASE_ONLY_FIELDS.items():
        # a base value the job's own fields leave nothing to apply to goes with them (``{preset: gemma3-12b,
        # local_layers: 0}`` was refused for the preset's local RoPE base); one the job sets itself is checked
        if k in out and k not in raw and not applies(out):
            del out[k]
    return out


#: sections whose fields belong to the kind one field names: section -> that field. A job's section of another kind
#: replaces the base's whole instead of merging over it: ``rope_scaling``'s fields are its type's (YaRN's ramp bounds
#: ``beta_fast`` / ``beta_slow``, temperature ``mscale`` / ``mscale_all_dim`` and the context it extended,
#: ``original_max_positions``; the llama3 band's ``low_freq_factor`` / ``high_freq_factor`` and its own context;
#: RopeScalingSpec). Until small31 ``{preset: deepseek-v2-lite, rope_scaling: {type: llama3, factor: 8}}`` kept the
#: YaRN's 4096 positions, betas and temperatures, so its llama3 band read as another band (the generic "not
#: carried" launch note instead of the llama3 one) and the plan showed a llama3 scaling with YaRN settings
SECTION_KINDS = {"rope_scaling": "type"}

#: fields of a preset / HF config that only mean something while other fields hold: name -> whether they do
BASE_ONLY_FIELDS = {
    "rope_local_base_freq": lambda f: has_local_rope(f.get("position", ModelSpec.model_fields["position"].default),
                                                     f.get("local_layers"), f.get("sliding_window")),
}


def beside_job(base_dir: Path, value: Any) -> Path:
    """A file a job names (``model.hf_config``, ``serving.trace``): relative to the job file's folder ``base_dir``,
    not to the working directory."""
    path = Path(str(value))
    return path if path.is_absolute() else base_dir / path


def job_files(path: str | Path) -> list[Path]:
    """The files loading the job at ``path`` reads, which no output option may replace (``outputs.output_target``'s
    inputs): the job (a model folder's config.json), its ``model.hf_config`` (a folder's config.json) and its
    ``serving.trace``. Until qa58 the outputs were checked against the path given alone, and ``simulate job.yaml
    --timeline config.json --force`` or ``recommend model_folder/ --csv model_folder/config.json --force`` replaced
    the config the job is planned from. A job that cannot be read names only itself: the load says why."""
    try:
        p = hf_config_path(path, "job")
        raw = read_json_object(p, "job") if p.suffix == ".json" else read_yaml(p)
    except InputError:
        return [Path(path)]
    files = [p]
    model, srv = (raw.get(k) if isinstance(raw, dict) else None for k in ("model", "serving"))
    named = {"model.hf_config": model.get("hf_config") if isinstance(model, dict) else None,
             "serving.trace": srv.get("trace") if isinstance(srv, dict) else None}
    for field, value in named.items():
        if isinstance(value, str) and value:
            try:
                target = beside_job(p.parent, value)
                files.append(hf_config_path(target, field) if field == "model.hf_config" else target)
            except (InputError, ValueError):  # a folder with no config.json, a NUL in the name: the load's error
                pass
    return files


def _resolve_model(raw: Any, base_dir: Path) -> tuple[dict, list[str], tuple | None]:
    """(ModelSpec fields, assumption lines, (config.json, the fields the job wrote over it) or None) of a job's
    ``model`` section: its fields, a preset's or a local Hugging Face config's, the job's own fields over them."""
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
            close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `planner presets`"
            raise InputError("model.preset", f"unknown preset {name!r}{hint}")
        return override_fields(PRESETS[name], raw), notes, None  # explicit fields override the preset
    if "hf_config" in raw:
        fields, hf_notes, cfg = read_hf_config(beside_job(base_dir, raw.pop("hf_config")))
        if "mtp_layers" in raw:
            hf_notes = [n for n in hf_notes if "mtp_layers" not in n]
        return override_fields(fields, raw), notes + hf_notes, (cfg, set(raw))
    return raw, notes, None


def load_job_dict(raw: Any, base_dir: str | Path = ".") -> JobSpec:
    """Validate a parsed job document. Accepts a full job, a bare model, or an HF config dict."""
    base_dir = Path(base_dir)
    if raw is None:
        raise InputError("job", "the file is empty")
    if not isinstance(raw, dict):
        raise InputError("job", f"must be a mapping (got {type(raw).__name__})")
    assumptions: list[str] = []
    bare_cfg = None  # a config.json given as the job: its keys are the job's top level
    if looks_like_hf_config(raw):
        cfg = bare_cfg = raw
        raw = {"model": hf_config_to_fields(cfg, "model")}
        assumptions.append("model read from a Hugging Face config.json")
        assumptions += hf_config_notes(cfg)
    elif "model" not in raw and "tabular" in raw:
        return _validate_job(raw, assumptions)
    elif "model" not in raw:
        model_keys = set(ModelSpec.model_fields) | {"preset", "hf_config"}
        if raw and set(raw) <= model_keys:
            raw = {"model": raw}
            assumptions.append("file holds a bare model spec")
        else:
            unknown = sorted(set(raw) - set(JobSpec.model_fields))
            if "model_type" in raw:  # a config.json without the keys that mark one: "hidden_size: unknown section" said nothing
                raise InputError("vocab_size", "a Hugging Face config.json needs vocab_size (or architectures) besides "
                                               "model_type; is the file complete?")
            if unknown:
                sections = ", ".join(k for k in JobSpec.model_fields if k != "assumptions")  # the schema's own list
                raise InputError(unknown[0], f"unknown section (expected {sections})")
            raise InputError("model", "required section is missing")
    raw = dict(raw)
    srv = raw.get("serving")
    if isinstance(srv, dict) and isinstance(srv.get("trace"), str) and srv["trace"] \
            and not Path(srv["trace"]).is_absolute():
        # the schema's promise (serving.trace is relative to the job file, as model.hf_config is): it was read
        # relative to the working directory, so a job run from elsewhere could not find its own trace
        raw["serving"] = {**srv, "trace": str(beside_job(base_dir, srv["trace"]))}
    bare = isinstance(raw["model"], dict) and not ({"preset", "hf_config"} & set(raw["model"]))
    model_fields, notes, hf = _resolve_model(raw["model"], base_dir)
    assumptions += notes
    raw["model"] = model_fields
    _fp4_alias(raw, assumptions)
    try:
        job = _validate_job(raw, assumptions)
    except InputError as e:  # a field the config.json set is named by its key there
        if bare_cfg is not None:
            raise hf_named(e, bare_cfg, "") from None
        raise (hf_named(e, hf[0], "model.hf_config", hf[1]) if hf else e) from None
    if bare:
        _note_model_defaults(job.model, model_fields, job.assumptions)
    _fill_training_defaults(job, raw.get("training") or {}, job.assumptions)
    return job


def _note_model_defaults(m: ModelSpec, given: dict, notes: list[str]) -> None:
    """Say which architecture fields of a model given field by field were filled in by ModelSpec: the MLP
    width (Llama's 8/3 x hidden rounded up to 256 for a gated MLP, ``ModelSpec``), the MLP kind and the
    untied output head move the parameter count and FLOPs (examples/bare-model.yaml: 5632 x 3 matrices of
    its 1.29B parameters' 45.1M per layer, and a 103M head) and were not printed (DESIGN.md: nothing
    silently assumed)."""
    if not m.is_transformer or (m.hybrid and not ({"-", "E"} & set(m.hybrid_pattern))):
        return
    said = []
    if "ffn_hidden" not in given:
        rule = "8/3 x hidden rounded up to a multiple of 256" if m.gated else "4 x hidden"
        said.append(f"model.ffn_hidden defaulted to {m.ffn_hidden} ({rule})")
    if "mlp" not in given:
        said.append(f"model.mlp to {m.mlp}")
    if "tied_embeddings" not in given:
        said.append(f"model.tied_embeddings to {str(m.tied_embeddings).lower()}")
    if said:
        notes.append(", ".join(said))


def _fp4_alias(raw: dict, assumptions: list[str]) -> None:
    """``training.precision: fp4`` is how people say NVFP4 training (Blackwell; NVIDIA's NVFP4
    recipe in Transformer Engine): the linear GEMMs in FP4, everything else as in FP8 training. The
    planner models it as the fp8 path with the ``nvfp4`` recipe (planner.model.stack_kernels.RECIPES:
    the FP4 peak, its quantisation bytes), so the job is rewritten to that and says so; a
    framework that names another low-precision recipe contradicts it."""
    t = raw.get("training")
    # folded as the schema folds its enumerated values (vocab.Vocab.canonical): FP4 is fp4
    if not isinstance(t, dict) or not isinstance(t.get("precision"), str) or fold_name(t["precision"]) != "fp4":
        return
    fw = t.get("framework")
    if fw is not None and not isinstance(fw, (str, dict)):
        raw["training"] = {**t, "precision": "fp8"}  # so that the schema names the bad framework
        return
    fw = {"name": fw} if isinstance(fw, str) else dict(fw or {})
    # ``auto`` (a search over recipes) has one fp4 recipe to try: nvfp4 (planner.search.space ``recipe_choices``)
    if FP8_RECIPE_CHOICE.canonical(fw.get("fp8_recipe")) not in (None, "nvfp4", AUTO):
        raise InputError("training.framework.fp8_recipe",
                         f"{fw['fp8_recipe']!r} contradicts training.precision fp4 (use nvfp4 or precision fp8)")
    fw["fp8_recipe"] = "nvfp4"
    raw["training"] = {**t, "precision": "fp8", "framework": fw}
    assumptions.append(FP4_NOTE)


#: the assumption line of a job that wrote ``training.precision: fp4`` (``_fp4_alias``), by which ``wrote_fp4`` knows it
FP4_NOTE = ("training.precision fp4: NVFP4 linears (the fp8 path with fp8_recipe nvfp4: FP4 GEMMs at the GPU's FP4 "
            "peak, attention and the rest as in FP8 training)")


def wrote_fp4(job) -> bool:
    """The job wrote ``training.precision: fp4`` (the loader made it fp8 with ``fp8_recipe: nvfp4`` and said so):
    a refusal of the FP4 peak names that field (planner.model.physics ``as_written``)."""
    return FP4_NOTE in (getattr(job, "assumptions", None) or ())


def _validate_job(raw: dict, assumptions: list[str]) -> JobSpec:
    for section in ("training", "parallel", "cluster", "constraints", "data", "evaluation", "checkpoint",
                    "serving", "tabular", "campaign"):
        if section in raw and raw[section] is not None and not isinstance(raw[section], dict):
            raise InputError(section, f"must be a mapping (got {type(raw[section]).__name__})")
    job = validate_section(JobSpec, raw, "")  # the whole job: its first problem named by its own path
    job.assumptions = assumptions
    return job


def _fill_training_defaults(job: JobSpec, given: dict, notes: list[str]) -> None:
    """Fill what a bare-model job leaves out, and say so (DESIGN.md: nothing silently assumed)."""
    t, m = job.training, job.model
    if t.mode in ("lora", "qlora") and not m.is_transformer:
        # the adapters go on a transformer block's linears (``training.lora.targets``: qkvo or all-linear, peft's
        # target_modules; planner.model.finetune prices them per block): a model of no blocks has none to adapt. Until
        # fuzz50 a LoRA of resnet50 was priced as a full fine-tune under the LoRA label, and a QLoRA ended in
        # "internal error (TypeError)" (finetune._layers of a model without layers), exit 1
        raise InputError("training.mode", f"{t.mode} adapts a transformer's linear layers (training.lora.targets); "
                         f"{m.name} has no transformer layers: use mode pretrain or full_finetune")
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
        if t.mode != "pretrain" and job.serving is None:
            # Chinchilla's 20 tokens per parameter sizes a pre-training run; a fine-tune's length is its
            # dataset's (it made an 8B LoRA a 161B-token, 26-day job)
            raise InputError("training.tokens", f"a fine-tune (mode {t.mode}) needs its length: give training.tokens, "
                             "training.steps, or training.epochs with training.dataset_samples")
        if m.is_transformer:
            n = count_params(m).nominal[0]  # the model's own count, a weightless gate's routers included
            if 20 * n > MAX_TOKENS:  # (assigned past the field's limit, pydantic raised: an internal error until fuzz48)
                raise InputError("training.tokens", f"the default, Chinchilla's 20 tokens a parameter, is {20 * n:.3g} "
                                 f"tokens for this {n:.3g}-parameter model, over the field's limit {MAX_TOKENS:.0e}: "
                                 "give training.tokens or training.steps")
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
    ctx = m.context_length
    if t.mode != "pretrain" and ctx and t.seq_len > ctx and job.serving is None:
        # fine-tuning a published model past the context it was trained for needs position scaling
        # (RoPE scaling / YaRN, or a longer learned table): the planner prices the sequence as given
        notes.append(f"training.seq_len {t.seq_len:,} is beyond {m.name}'s {ctx:,}-token context "
                     f"(model.context_length): a {t.mode} that long needs "
                     f"{'RoPE scaling' if m.position == 'rope' else 'a longer position table'}, priced here as "
                     "plain attention over the sequence")
    elif m.position == "learned" and m.max_positions and t.seq_len > m.max_positions and job.serving is None:
        # a learned position table has one row per position: a sequence past it has no position to look up (GPT-2's
        # wpe, BERT's position_embeddings), so the run needs a longer table (QA 40: gpt2 was planned at the default
        # 4,096 tokens without a word). Priced as given; the table's parameters are model.max_positions'
        notes.append(f"training.seq_len {t.seq_len:,}{'' if 'seq_len' in given else ' (the default)'} is past "
                     f"{m.name}'s learned position table ({m.max_positions:,} positions, model.max_positions): the run "
                     f"needs a {t.seq_len:,}-row table; priced with the {m.max_positions:,}-row one's parameters")
    if t.epochs is not None:
        # an epoch smaller than one global batch has no full step: the step the planner times trains on
        # global_batch sequences, so 100 examples at a global batch of 1,024 were priced as 1,024 (4.2M tokens)
        seqs = t.sequences_per_epoch(m.is_transformer)
        if seqs < t.global_batch:
            unit = "sequences" if m.is_transformer else "samples"
            packed = (f" ({t.dataset_samples:,.0f} examples packed to {t.seq_len:,} tokens)"
                      if seqs != t.dataset_samples else "")
            raise InputError("training.global_batch", f"{t.global_batch:,} {unit}"
                             + ("" if "global_batch" in given else " (the default)")
                             + f" is more than one epoch of the dataset, {seqs:,.4g} {unit}{packed}: every step would "
                             f"be a partial one; set training.global_batch to at most {max(1, int(seqs)):,}")
        if m.is_transformer and not t.mean_example_tokens:
            # each example is then one whole seq_len row (sequences_per_epoch): the length that sizes the run, which a
            # packed dataset of short examples shrinks many times over, was assumed unsaid (QA 43)
            notes.append(f"training.dataset_samples: {t.dataset_samples:,.0f} examples, each taken as one whole "
                         f"{t.seq_len:,}-token row (no training.mean_example_tokens): give the mean example length to "
                         "price shorter examples, packed or padded")
        elif m.is_transformer and t.mean_example_tokens > t.seq_len and t.packing != "concatenated":
            # packed and padded rows hold one example at most seq_len long (sequences_per_epoch): the rest of each is
            # not trained, which cuts the run's tokens unsaid (QA 43). So does TRL's default packing, SFTConfig
            # packing_strategy "bfd" (trl/data_utils.py pack_dataset -> _pack_bfd with on_seq_length_overflow
            # "truncate"; earlier releases ``pc.list_slice(column, 0, seq_length)``). Its "bfd_split" cuts an example
            # into seq_len fragments, each attending to itself (position_ids restart per fragment): all tokens trained,
            # a full fragment attends over its whole row, as "concatenated" (TRL's "wrapped", _pack_wrapped) prices
            notes.append(f"training.mean_example_tokens {t.mean_example_tokens:,.0f} is more than seq_len "
                         f"{t.seq_len:,}: each example is truncated to {t.seq_len:,} tokens ("
                         f"{1 - t.seq_len / t.mean_example_tokens:.0%} of the dataset's tokens not trained, as TRL's "
                         "default packing_strategy 'bfd' truncates; training.packing: concatenated splits examples "
                         "across rows instead, as TRL's 'bfd_split' and 'wrapped' do)")
        last = t.epochs * seqs % t.global_batch  # the last step's share of a global batch (0: whole steps)
        if last >= 0.5:
            unit = "sequences" if m.is_transformer else "samples"
            notes.append(f"training: the last step holds the dataset's remainder, {last:,.0f} of {t.global_batch:,} "
                         f"{unit}: timed as a full step, only its real {'tokens' if m.is_transformer else 'samples'} counted")
    if t.tokens is not None and t.steps is None:
        # every step trains a whole global batch (cost.total_steps rounds up), so a budget that whole steps overshoot
        # is trained and priced past what was asked: 1M tokens at the default 1,024 x 4,096 were one step of 4.19M,
        # unsaid. Said, not refused (the epoch twin is refused, QA 28): the app's token widget reaches 1M tokens
        unit = "tokens" if m.is_transformer else "samples"
        per = t.real_tokens_per_step(m.is_transformer)  # less a padded row's padding (TrainingSpec.padding_share)
        steps = math.ceil(t.tokens / per)
        pad = t.padding_share(m.is_transformer)
        if pad:  # the padding is timed and priced, not counted as trained: until QA 98 it was, unsaid
            notes.append(f"training.tokens {t.tokens:,.0f} counts real tokens: padded rows (training.packing: padded, "
                         f"training.mean_example_tokens {t.mean_example_tokens:,.0f} of seq_len {t.seq_len:,}) are "
                         f"{pad:.0%} padding, so a step of {t.global_batch * t.seq_len:,} positions trains {per:,.0f} "
                         f"tokens and the run takes {steps:,} steps, the padding computed and priced")
        if steps * per >= 1.01 * t.tokens:  # more than 1% over: said (a large budget rounds up by a fraction of a step)
            shape = (f"global_batch {t.global_batch:,}" + (f" x seq_len {t.seq_len:,}" if m.is_transformer else "")
                     + (f" less {pad:.0%} padding" if pad else "") + ("" if "global_batch" in given else ", the default"))
            notes.append(f"training.tokens {t.tokens:,.0f} is {steps:,} whole step{'s' if steps > 1 else ''} of "
                         f"{per:,.0f} {unit} ({shape}): {steps * per:,.0f} {unit} trained and priced "
                         f"(+{steps * per / t.tokens - 1:.0%})")
    recipe = getattr(t.framework, "fp8_recipe", None)
    if recipe and t.precision != "fp8":  # named, but a 16/32-bit run has no fp8 GEMMs for it to scale
        notes.append(f"training.framework.fp8_recipe {recipe} changes nothing: training.precision is {t.precision} "
                     "(set precision fp8 to use it)")
    for option, (default, what) in MOE_ONLY_OPTIONS.items():
        value = getattr(t.framework, option, None)
        if value not in (None, default) and m.moe is None:  # said, not refused: as the two notes here and below
            notes.append(f"training.framework.{option} {str(value).lower()} changes nothing: {m.name} has no MoE "
                         f"layers ({what})")
    tiles = getattr(t.framework, "num_vocab_tiling", None)
    if tiles is not None and tiles > 1 and m.output_head == "classifier":
        # MaxText tiles the (batch x seq) rows of a vocabulary's logits; a classifier's are num_labels wide on one
        # [CLS] position a sequence: said, not refused, as the options above (Stack.vocab_tiles prices 1 tile)
        notes.append(f"training.framework.num_vocab_tiling {tiles} changes nothing: {m.name}'s head is a classifier "
                     f"({m.num_labels} labels on the [CLS] token, model.output_head), no vocabulary logits to tile")
    if getattr(t.framework, "moe_shared_expert_overlap", None) and not has_shared_experts(m):
        # Megatron-Core takes the flag and overlaps nothing (moe_layer.py hands the dispatcher shared experts only
        # where the model has them): said, not refused
        notes.append(f"training.framework.moe_shared_expert_overlap changes nothing: {m.name} has no shared experts")


def load_job(path: str | Path) -> JobSpec:
    """Load and validate a job file: YAML, or a Hugging Face config.json or model folder (its config.json only:
    ``hf_config_path``)."""
    p = hf_config_path(path, "job")
    if p.suffix == ".json":
        raw = read_json_object(p, "job")
    else:
        raw = read_yaml(p)
    job = load_job_dict(raw, base_dir=p.parent)
    if p != Path(path):  # a model folder: say which of its files the plan is made of
        job.assumptions.insert(0, f"model folder {Path(path)}: only its config.json is read (no weights, tokenizer or "
                                  "generation config)")
    return job
