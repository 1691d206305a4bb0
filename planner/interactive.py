"""The what-if app's logic, kept out of ``app.py`` so that it is testable without a browser.

* ``WhatIf``: every input the app's sidebar sets, as one dataclass; ``inputs_from_job`` reads its
  defaults from a validated job (a preset or an upload), ``build_job`` turns a base job document
  plus those inputs back into a validated ``JobSpec`` — the same loader the CLI uses, so the app
  and ``planner recommend`` can never disagree about a job.
* ``parse_upload``: safe parsing of an uploaded job YAML or Hugging Face ``config.json``
  (size limit, the limits of ``hardware_catalog.files``, schema errors as ``InputError`` naming the field).
* ``search``: ``planner.search.recommend.recommend`` behind a small LRU, with a progress callback;
  ``cached_view``: the page's sweeps, timeline, charts and tables of its result, likewise.
* ``sensitivity``: time and cost of the chosen plan as one input varies, the others held.
* ``simulated_timeline``: a few simulated steps of the chosen plan as Gantt rows.
* cached loaders for the catalog and calibration profiles (Streamlit's ``cache_resource`` when
  running under Streamlit, ``functools.lru_cache`` otherwise).

    >>> base = preset_base("llama3-8b")
    >>> w = inputs_from_job(build_job(base, None))
    >>> job = build_job(base, w.replace(seq_len=2048, tp=2))
    >>> job.training.seq_len, job.parallel.tp
    (2048, 2)
"""
from __future__ import annotations

import copy
from dataclasses import replace
import dataclasses
import functools
import hashlib
import itertools
import json
import tempfile
import threading
import typing
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, NamedTuple, Optional

import numpy as np
import yaml
import pandas as pd

from planner.errors import InputError
from planner import defaults as D
from planner.workloads.sensitivity import SENSITIVITY, Sweep, pinned_job, sensitivity  # noqa: F401  (the app's API)
from planner.vocab import (FRAMEWORK_CHOICE, PRECISION, PRECISION_ALIASES, RECOMPUTE, RECOMPUTE_METHOD, SERVE_DISAGG,
                           SERVE_OVERLAP)
from planner.search.explain import plan_searched_columns, view_searched_columns
from planner.search.rank import hours_of
from planner.search.space import open_stack
from planner.hardware.platform import platform_of
from planner.results import ranked_price, replica_layout
from hardware_catalog import files as _files
from planner.spec import JobSpec, hf_config_to_fields, load_job_dict, parse_yaml_text
from planner.spec.schema import LATEST_RELEASE, FrameworkSpec
from planner.spec.training_stack import stack_named
from planner.spec.hf import hf_config_notes
from planner.spec.load import wrote_fp4
from planner.spec import ModelSpec, looks_like_hf_config
from hardware_catalog import load_catalog
from planner.hardware.profile import load_profile
from planner.model import physics
from planner.model import stack_rules
from planner.model.stacks import OPTION_HOLDERS, OPTION_VALUES, OPTIONS, from_training, searched_on
from planner.workloads.training import recommend
from planner.simulate import SimConfig, simulate
from planner.workloads.training import estimate_job
from planner.units import count_of, device_of, duration_unit, fmt_step_share, fmt_time, fmt_usd
from planner.units import config_str, hardware_str
from planner.present.charts import sweep_verdicts
from planner.present.report import build_report, build_serving_report, render_html
from planner.present.terminal import rate_name

MAX_UPLOAD_BYTES = 1 << 20  # a job file or config.json is a few kB; anything larger is a mistake
DEFAULT_PRESET = "llama3-8b"
# a preset's GPUs (``preset_base``): the training-class parts every big cloud rents; an uploaded job that names none
# is searched over every GPU, as the CLI searches it
DEFAULT_GPUS = ("H100-SXM-80GB", "H200-SXM-141GB", "A100-SXM-80GB")

# widget vocabularies (None = "auto": the field is left out, so the search chooses it)


def schema_bound(spec, name: str, which: str = "le") -> float:
    """The bound pydantic enforces on ``spec.name`` (``le`` or ``gt``): a number widget takes the job file's
    own range, so a job's value is never replaced by the widget's. Streamlit resets an out-of-range value to
    the widget's minimum without a word: an uploaded ``tokens: 2e14`` became 0.001 B tokens (one step, $0.43)."""
    return next(getattr(m, which) for m in spec.model_fields[name].metadata if getattr(m, which, None) is not None)


SEQ_LENS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
GLOBAL_BATCHES = tuple(2**k for k in range(3, 15))
#: None: searched; the rest, the micro-batches the search tries at the shortest sequence offered (defaults.micro_batches)
MICRO_BATCHES = (None, *D.micro_batches(SEQ_LENS[0]))
TPS = (None, *D.TP_DEGREES)
PPS = (None, 1, 2, 4, 8, 16)
CPS = (None, *D.CP_DEGREES)
ZEROS = (None, 0, 1, 2, 3)
RECOMPUTES = (None, *RECOMPUTE)
#: Megatron's --recompute-method under full recompute (None: recommend picks block or uniform, or every layer)
RECOMPUTE_METHODS = (None, *RECOMPUTE_METHOD)
#: --recompute-num-layers N (None: recommend picks the smallest N that fits)
RECOMPUTE_LAYERS = (None, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64)


def with_value(options: tuple, value) -> tuple:
    """``options`` plus ``value`` (kept sorted where it can be), so a widget can show a job's own
    value even when it is not one of the usual choices."""
    if value in options:
        return options
    head = tuple(o for o in options if o is None)
    rest = [o for o in options if o is not None] + [value]
    try:
        rest.sort()
    except TypeError:
        pass
    return head + tuple(rest)


#: the sidebar's decimal number inputs, as the browser draws them: four significant digits, no trailing zeros.
#: Streamlit's number_input formats in the browser with its sprintf.js fork (the bundled ``sprintfjs`` module), where
#: ``%g`` with no precision is ``String(parseFloat(v))``: every digit of a double, so the preset's 160.60522496
#: billion tokens read "160.60522496" (QA 77), and ``%0.2f`` (Streamlit's default) 1 h as "0.04" days (QA 58).
#: ``%.4g`` there is ``String(Number(v.toPrecision(4)))``: "160.6", "15000", "0.0004", "0.04167", "2" (toPrecision
#: alone draws "2.000" and "1.500e+4"). It changes only what is drawn: the value (and the job) keep every digit
#: until the user types another.
NUMBER_FORMAT = "%.4g"


#: a selectbox's "auto" (the field left to the search). Streamlit's selectbox writes a None value to the page as no
#: selection (``SelectboxSerde.serialize``: None -> no index) and draws its placeholder, so the sidebar's instance
#: type, nodes and recompute method / layers read "Choose an option" where they meant auto (QA 77, seen in Chromium;
#: the widget's value was None all along, so the job was right and AppTest's ``value`` said nothing: its ``index``
#: was None). Those selectboxes hold this word instead; the sliders, which draw None through ``format_func``, keep it.
AUTO = "auto"
#: the WhatIf fields the sidebar sets with a selectbox whose options include "auto"
AUTO_SELECTBOXES = ("instance", "nodes", "recompute_method", "recompute_num_layers")
#: the "training stack" selectbox's word for a job that leaves ``training.framework`` out (the loader's default stack
#: for its model and mode, which the assumptions' stack line names); its "auto" is the field's own value,
#: ``framework: auto``, recommend's search over the stacks
STACK_DEFAULT = "default"
STACK_CHOICES = (STACK_DEFAULT, *FRAMEWORK_CHOICE.names)
#: the node-wiring selectbox's word for a job that leaves ``cluster.nvlink_topology`` out (the instance row's, else the
#: chip's platform's, else a switch: planner.hardware.options ``node_topology``)
NODE_WIRING_DEFAULT = "node default"
#: each selectbox's word for a WhatIf None
NONE_WORDS = {**dict.fromkeys(AUTO_SELECTBOXES, AUTO), "framework": STACK_DEFAULT, "nvlink_topology": NODE_WIRING_DEFAULT}


def auto_options(options) -> tuple:
    """A selectbox's ``options`` with None ("auto") as the word ``AUTO``."""
    return tuple(AUTO if o is None else o for o in options)


def widget_value(field: str, value):
    """The sidebar widget's value for a WhatIf ``field``'s ``value``: ``AUTO`` for None where the field's widget is
    one of the ``AUTO_SELECTBOXES`` (``STACK_DEFAULT`` for the training stack's: ``NONE_WORDS``); the fabric control's
    word for a fabric (``fabric_widget``)."""
    if field == "fabric":
        return fabric_widget(value)
    return NONE_WORDS[field] if value is None and field in NONE_WORDS else value


#: the fabric control's words for no ``cluster.fabric`` (each instance's own network, or inter_node_gbps where set)
#: and for the job file's own figures (``cluster.fabric: {gbps_per_gpu: ..., family: ...}``, kept as the job has them)
INSTANCE_FABRIC = "instance default"
JOB_FABRIC = "the job file's figures"


def fabric_widget(value) -> str:
    """The fabric control's option for a WhatIf ``fabric``: a link's name as it is, ``INSTANCE_FABRIC`` for None,
    ``JOB_FABRIC`` for the job's figures (a mapping)."""
    return INSTANCE_FABRIC if value is None else JOB_FABRIC if isinstance(value, dict) else value


def fabric_choices(catalog, value: Optional[str] = None, gpus=(), instance: Optional[str] = None,
                   own: Optional[str] = None) -> tuple:
    """The fabric control's options: ``INSTANCE_FABRIC``, the catalog's inter-node links (``planner catalog links``:
    planner.hardware.options ``inter_node_links``) whose family the nodes of some accelerator the sidebar leaves
    (``left_gpus``: the instance's, else the GPUs chosen, else every one rented) can carry (planner.hardware.platform
    ``fabric_refusal``, the search's own test: ``options.fabric_instances``), and the control's ``value`` where it is
    none of them but the job's own (``own``, or its figures ``JOB_FABRIC``: the planner then refuses it in one line).
    Until app51 a TPU slice was offered every InfiniBand and RoCE link, each then refused on the page
    ("cluster.fabric: TPU-v6e: Google TPUs (XLA) carry no infiniband fabric")."""
    from planner.hardware.options import inter_node_links
    from planner.hardware.platform import fabric_refusal

    parts = left_gpus(catalog, gpus, instance)
    opts = (INSTANCE_FABRIC, *(k for k, r in inter_node_links(catalog).items()
                               if not parts or any(fabric_refusal(g, r["fabric"]) is None for g in parts)))
    return opts if value is None or value in opts or value not in (own, JOB_FABRIC) else (*opts, value)


def fabric_field(choice: str, base: dict):
    """The WhatIf ``fabric`` of the control's ``choice``: None for ``INSTANCE_FABRIC``, the job document ``base``'s own
    ``cluster.fabric`` for ``JOB_FABRIC``, else the link's name."""
    if choice == INSTANCE_FABRIC:
        return None
    return (base.get("cluster") or {}).get("fabric") if choice == JOB_FABRIC else choice


def field_value(value, field: Optional[str] = None):
    """The WhatIf value of a widget's ``value``: None for the field's ``NONE_WORDS`` word (``AUTO``, left to the search,
    without a field)."""
    return None if value == NONE_WORDS.get(field, AUTO) else value


@dataclass
class WhatIf:
    """Everything the sidebar sets. ``None`` means "auto" (searched) for parallel/cluster fields
    and "none" for constraints."""

    seq_len: int = 4096
    global_batch: int = 1024
    micro_batch: Optional[int] = None
    precision: str = "bf16"
    optimizer: str = "adamw"
    recompute: Optional[str] = None
    #: partial full recompute (training.recompute_method / recompute_num_layers): written only under recompute full
    #: or auto, on a stack that runs it (``partial_recompute``); None: searched
    recompute_method: Optional[str] = None
    recompute_num_layers: Optional[int] = None
    mode: str = "pretrain"  # planner.vocab.TRAINING_MODE (lora/qlora: frozen base + adapters)
    #: training.framework's stack (``vocab.FRAMEWORK_CHOICE``, "auto" searched); None: left out, the default stack
    framework: Optional[str] = None
    #: the stack's options as the sidebar sets them (``stack_controls``: option -> value, None: the stack's default, or
    #: searched; a ``TEXT_INPUT`` option's YAML text, "" unset); an option not here keeps the job's own setting
    stack_options: dict = field(default_factory=dict)
    lora_rank: Optional[int] = None  # None: the job's own, else planner.defaults.LORA_RANK
    tokens: Optional[float] = None  # training duration; None keeps the job's steps/epochs
    tp: Optional[int] = None
    pp: Optional[int] = None
    cp: Optional[int] = None
    zero: Optional[int] = None
    gpus: list[str] = field(default_factory=lambda: list(DEFAULT_GPUS))
    clouds: list[str] = field(default_factory=list)  # empty = every cloud
    instance: Optional[str] = None
    nodes: Optional[int] = None
    spot: bool = False
    max_gpus: int = D.MAX_GPUS
    budget_usd: Optional[float] = None
    deadline_hours: Optional[float] = None
    objective: str = "cost"
    inter_node_gbps: Optional[float] = None  # None: the catalog's figure per instance
    #: cluster.fabric: a catalog link's name, or the job's figures (a mapping); None: each instance's own network
    fabric: Optional[str | dict] = None
    #: cluster.power_limit_w, W per GPU (``power_limit_choices``); None: each GPU at its rated limit
    power_limit_w: Optional[float] = None
    #: cluster.segment, trays of an NVL72 rack's Slurm --segment (``segment_choices``); None: searched (16 and 18)
    segment: Optional[int] = None
    #: cluster.nvlink_topology (a control on a bare-GPU job, ``topology_choices``; elsewhere the job's own); None: the
    #: node's own wiring (the instance row's, else the chip's platform's, else a switch)
    nvlink_topology: Optional[str] = None
    #: cluster.host_ram_gib, one node's host RAM (GiB) an offloading plan may fill; None: the catalog's / assumed
    host_ram_gib: Optional[float] = None

    def replace(self, **kw) -> "WhatIf":
        return dataclasses.replace(self, **kw)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# jobs: presets, uploads, widgets
# --------------------------------------------------------------------------------------------
#: an uploaded config.json's assumption lines (``hf_config_notes``: e.g. DeepSeek's MTP modules left out), kept in
#: the base document beside the model fields it was turned into, which cannot carry them
UPLOAD_NOTES = "_upload_notes"


def _load(doc: dict) -> JobSpec:
    """``load_job_dict`` for the app's documents: an upload's ``UPLOAD_NOTES`` lead the job's assumptions, so the
    page says what `planner estimate config.json` says (the app dropped them: a DeepSeek-V3 config planned 671B
    without the line that its MTP module is left out)."""
    doc = dict(doc)
    notes = list(doc.pop(UPLOAD_NOTES, ()))
    job = load_job_dict(doc)
    job.assumptions = notes + [a for a in job.assumptions if a not in notes]
    return job


def preset_base(name: str) -> dict:
    """A preset's starting document: the model, searched over the app's ``DEFAULT_GPUS`` (a preset is no job: it
    names no GPUs of its own, and the three training-class parts keep the first page's search short)."""
    return {"model": {"preset": name}, "constraints": {"gpus": list(DEFAULT_GPUS)}}


def parse_upload(name: str, data: bytes) -> dict:
    """A job document from an uploaded file, validated. Returns the *base* document (model
    resolved to fields where it came from a config.json) that ``build_job`` merges inputs into.
    Every problem is an ``InputError`` naming the field; nothing here can raise anything else."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError("upload", f"{name} is {len(data) / 2**20:.1f} MiB; a job file or config.json "
                         f"is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    text = _files.decode_text(data, "upload", name)
    # the same limits as files read by the CLI: nesting, alias expansion, duplicate keys
    raw = _files.parse_json(text, "upload", name) if name.lower().endswith(".json") else \
        _files.parse_yaml(text, "upload", name)
    if raw is None:
        raise InputError("upload", f"{name} is empty")
    if not isinstance(raw, dict):
        raise InputError("upload", f"{name} must hold a mapping (got {type(raw).__name__})")
    base = _normalise(raw)
    job = _load(copy.deepcopy(base))  # validate now, so the error names the upload's field
    if job.model is None:  # a tabular (GBDT) job: the page's search, charts and caption all need a model
        raise InputError("upload", f"{name} is a tabular (GBDT) job, which the app does not plan (it plans a "
                                   f"model's training or serving): run `planner recommend {name}`")
    return base


def _normalise(raw: dict) -> dict:
    """A full job document from a full job, a bare model or an HF config dict."""
    if looks_like_hf_config(raw):  # its notes ride beside the fields (``UPLOAD_NOTES``), as `planner` prints them
        return {"model": hf_config_to_fields(raw, "model"),
                UPLOAD_NOTES: ["model read from a Hugging Face config.json", *hf_config_notes(raw)]}
    if "model" not in raw:
        model_keys = set(ModelSpec.model_fields) | {"preset"}
        if raw and set(raw) <= model_keys:
            raw = {"model": raw}
    model = raw.get("model")
    if isinstance(model, dict) and "hf_config" in model:
        # an upload has no folder: a path in it would point into the server's file system
        raise InputError("model.hf_config", "an uploaded job cannot refer to a local file; upload the config.json itself")
    serving = raw.get("serving")
    if isinstance(serving, dict) and serving.get("trace") is not None:
        # the same for a request trace: ``trace: /etc/passwd`` was read from the server (its first line named in
        # the error), and a relative one from the app's working folder
        raise InputError("serving.trace", "an uploaded job cannot refer to a local file; replay the trace with "
                                          "`planner serve job.yaml --trace F.csv`, or drop it to simulate arrivals")
    return copy.deepcopy(raw)


def takes_sequences(base: dict) -> bool:
    """Whether the job's model reads token sequences, so that the sequence-length input means something: a
    ResNet-50 job showed "sequence length 4096" in the sidebar, and moving it changed no figure of the plan."""
    return bool(_load(copy.deepcopy(base)).model.is_transformer)


def partial_recompute(base: dict) -> bool:
    """Whether the job's stack checkpoints only some layers under full recompute (``Stack.partial_recompute``:
    Megatron's --recompute-method / --recompute-num-layers) on a transformer: where the app shows those inputs. A
    search over stacks (``framework: auto``) has no one stack to ask; a search over fp8 recipes (``fp8_recipe: auto``)
    has its stack, asked at its default recipe (``search.space.without_auto_recipe``, the search's base variant):
    ``from_training`` refuses the recipe search, as ``estimate`` does, and the inputs vanished from a Megatron-Core
    job with ``fp8_recipe: auto`` under recompute full though its plan was ``rc:full(block N)`` (rec46b)."""
    from planner.search.space import is_auto, without_auto_recipe
    try:  # a stack the job cannot run (the sidebar's choice): no such inputs; build_job names the field
        job = _load(copy.deepcopy(base))
    except InputError:
        return False
    if not job.model.is_transformer or is_auto(job):
        return False
    try:
        return bool(from_training(without_auto_recipe(job).training).partial_recompute)
    except InputError:
        return False


#: the sidebar's training precisions: the schema's and what the loader takes for them (``vocab.PRECISION_ALIASES``:
#: fp4, NVFP4). Until qa89 fp4 was no choice: a job that wrote it showed fp8, and the page rebuilt it as plain fp8 (the
#: loader's nvfp4 recipe lived only in the loaded job, not in the file the sidebar writes over), its plan at FP8
#: GEMMs and no word of the NVFP4 the file asked for
PRECISIONS = (*PRECISION.names, *PRECISION_ALIASES)


def inputs_from_job(job: JobSpec, catalog=None) -> WhatIf:
    """The sidebar's starting values: the job's own, with the app's defaults where it is silent. A job that names
    ``cluster.instance`` (and no ``constraints.gpus``) starts with that instance's GPU (``catalog``'s row; none
    without a catalog): the app's three default GPUs were written into constraints.gpus beside it, and every job on
    an instance of another GPU (p4d's A100-SXM-40GB, a TPU slice, MI300X) was refused on upload, "constraints.gpus:
    the cluster's A100-SXM-40GB is not one of them" (QA 54), though ``planner estimate`` plans it. A job that names
    no GPU at all starts with none chosen, every GPU searched, as ``planner recommend`` and ``planner report`` search
    it: the app's ``DEFAULT_GPUS`` were written in, and llama2-13b-spot.yaml read 2 x aws:p5en.48xlarge for $86.6k
    on the page, 2 x aws:p6-b300.48xlarge for $33.8k in the report of the same file (QA 82; a preset's own
    document names the defaults, ``preset_base``)."""
    t, p, cl, con = job.training, job.parallel, job.cluster, job.constraints
    gpus = list(con.gpus) if con.gpus else [cl.gpu] if cl.gpu else (
        _instance_gpu(catalog, cl.instance) if cl.instance else [])
    return WhatIf(
        seq_len=t.seq_len, global_batch=t.global_batch, micro_batch=t.micro_batch,
        # fp4 as written (PRECISIONS): the rebuilt job is then the loader's nvfp4 one again
        precision="fp4" if wrote_fp4(job) else t.precision, optimizer=t.optimizer, recompute=t.recompute, tokens=t.tokens,
        recompute_method=t.recompute_method, recompute_num_layers=t.recompute_num_layers,
        mode=t.mode, lora_rank=t.lora.rank if t.lora is not None else None,
        # a section of options only names no stack (the default one, spec.training_stack): the selectbox's default
        framework=t.framework.name if stack_named(t) else None,
        tp=p.tp, pp=p.pp, cp=p.cp, zero=p.zero,
        gpus=gpus, clouds=list(con.clouds or []), instance=cl.instance, nodes=cl.nodes, spot=con.spot,
        max_gpus=con.max_gpus or D.MAX_GPUS, budget_usd=con.budget_usd,
        deadline_hours=con.deadline_hours, objective=con.objective, inter_node_gbps=cl.inter_node_gbps,
        power_limit_w=cl.power_limit_w, segment=cl.segment, fabric=_job_fabric(cl.fabric, catalog),
        nvlink_topology=cl.nvlink_topology, host_ram_gib=cl.host_ram_gib,
    )


def _job_fabric(fabric, catalog):
    """A job's ``cluster.fabric`` as the WhatIf holds it: a link's name as the catalog spells it (the control's option;
    the name as written where no link matches, for the planner to refuse), the figures as a mapping, or None."""
    if fabric is None:
        return None
    if fabric.link is None:
        return fabric.model_dump(exclude_none=True)
    from planner.hardware.options import inter_node_links

    links = inter_node_links(catalog) if catalog is not None else {}
    return next((k for k in links if k.casefold() == fabric.link.strip().casefold()), fabric.link)


def _instance_gpu(catalog, instance: str) -> list[str]:
    """[the GPU of catalog instance ``instance``], or [] (no GPU constraint) without a catalog or for a name it does
    not know (the search refuses that one in its own words)."""
    if catalog is None:
        return []
    try:
        return [catalog.instance(instance).gpu.name]
    except InputError:
        return []


def _set(section: dict, key: str, value) -> None:
    if value is None:
        section.pop(key, None)
    else:
        section[key] = value


def build_job(base: dict, w: Optional[WhatIf]) -> JobSpec:
    """``base`` with the inputs ``w`` written over it, validated by the CLI's own loader."""
    doc = copy.deepcopy(base)
    if w is None:
        return _load(doc)
    for s in ("training", "parallel", "cluster", "constraints"):
        doc[s] = dict(doc.get(s) or {})
    t, p, cl, con = doc["training"], doc["parallel"], doc["cluster"], doc["constraints"]
    for k in ("seq_len", "global_batch", "micro_batch", "precision", "optimizer", "recompute"):
        _set(t, k, getattr(w, k))
    _set(t, "framework", stack_section((base.get("training") or {}).get("framework"), w.framework,
                                       with_mode(base, w.mode, w.tokens)))
    # which layers full recompute checkpoints: only where it can mean something (the controls are off elsewhere)
    # (asked at the sidebar's mode: a QLoRA job's default stack is not a pretraining job's, app57)
    partial = w.recompute in (None, "full") and partial_recompute(with_stack(with_mode(base, w.mode, w.tokens), w.framework))
    for k in ("recompute_method", "recompute_num_layers"):
        _set(t, k, getattr(w, k) if partial else None)
    _write_mode(t, w.mode, w.lora_rank)
    _write_tokens(t, w.tokens)
    for k in ("tp", "pp", "cp", "zero"):
        _set(p, k, getattr(w, k))
    if w.tp is None or w.pp is None or w.cp is None or w.nodes is None:
        p.pop("dp", None)  # dp follows from the GPU count and the other degrees
    _set(cl, "nodes", w.nodes)
    _set(cl, "fabric", w.fabric)
    # a named fabric is the network: the job's Gb/s per node would be refused beside it (the app greys that input out)
    _set(cl, "inter_node_gbps", None if w.fabric is not None else w.inter_node_gbps)
    _set(cl, "power_limit_w", w.power_limit_w)
    # an NVL72 segment only on the job's bare rack GPU: an instance replaces it (the control is shown only there)
    _set(cl, "segment", None if w.instance else w.segment)
    _set(cl, "nvlink_topology", w.nvlink_topology)
    _set(cl, "host_ram_gib", w.host_ram_gib)
    if w.instance:
        cl.pop("gpu", None)
        cl.pop("gpus_per_node", None)
        cl["instance"] = w.instance
    else:
        cl.pop("instance", None)
        if not cl.get("gpu"):
            cl.pop("gpus_per_node", None)
    _set(con, "gpus", list(w.gpus) or None)
    _set(con, "clouds", list(w.clouds) or None)
    con["spot"] = bool(w.spot)
    con["max_gpus"] = int(w.max_gpus)
    _set(con, "budget_usd", w.budget_usd or None)
    _set(con, "deadline_hours", w.deadline_hours or None)
    con["objective"] = w.objective
    if w.stack_options:  # on the job as set: which stack, and which options it uses, follow from the rest
        _set(t, "framework", with_stack_options(doc, w.stack_options))
    return _load_as_defaulted(doc, (base.get("training") or {}))


#: the training fields the loader fills in where a job leaves them out, each with its "defaulted" assumption line
#: (``spec.load._fill_training_defaults``); the sidebar starts at those values and ``build_job`` writes them back
DEFAULTED = ("seq_len", "global_batch", "tokens", "precision", "optimizer")


def _load_as_defaulted(doc: dict, given: dict) -> JobSpec:
    """``_load(doc)``, leaving out each ``DEFAULTED`` field the base job did not give (``given``: its training section)
    while the loader's own default is still the sidebar's value: the page and its report then say what
    `planner recommend` says of the same file. QA 87: the sidebar wrote every such value back, so a preset's page and
    the report downloaded from it never said that its 161B tokens were the Chinchilla default, nor that gpt3-175b's
    4,096-token sequence was "the default" past its 2,048-position table (`planner report` on the same model says
    both). A field whose default moved (global_batch follows seq_len) or was changed stays written, as set."""
    t = doc["training"]
    omitted = {k: t[k] for k in DEFAULTED if k in t and k not in given}
    while omitted:
        trial = copy.deepcopy(doc)
        for k in omitted:
            del trial["training"][k]
        try:
            job = _load(trial)
        except InputError:  # no default to fall back on (a fine-tune's length): the fields as written
            break
        moved = [k for k, v in omitted.items() if not _same_value(getattr(job.training, k), v)]
        if not moved:
            return job
        for k in moved:
            del omitted[k]
    return _load(doc)


def _same_value(a, b) -> bool:
    """Whether a loaded field equals the sidebar's value: the token count comes back through "billions" (x 1e9 of
    x / 1e9), a float's last bit apart."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


def stack_section(given, name: Optional[str], doc: Optional[dict] = None):
    """``training.framework`` for the sidebar's training stack ``name`` (None: left out): the job's own section
    ``given`` while it names that stack, its options kept (a section without a name, the default stack's, while ``name``
    is None: fwname59; it was read as megatron-core's; or while ``name`` is the stack that section runs in job document
    ``doc``, ``nameless_stack``: fwname59b, where picking it by name dropped the options); another stack by its bare
    name, at that stack's defaults (the first stack's options may not apply; the assumptions' stack line lists what
    the plan runs). Until QA 87 the stack, which moves the step time and memory of every plan
    (planner.model.stacks), could be set only by an upload."""
    own = given.get("name") if isinstance(given, dict) else given
    if name is None:  # the default stack: a section of options only runs on it (schema ``_framework_name``), kept whole
        return copy.deepcopy(given) if isinstance(given, dict) and own is None else None
    if isinstance(given, dict) and own is None and doc is not None and nameless_stack(doc) == name:
        return {**copy.deepcopy(given), "name": name}
    try:
        same = own is not None and FRAMEWORK_CHOICE.canonical(own) == name
    except (TypeError, ValueError):
        same = False
    return copy.deepcopy(given) if same else name


def nameless_stack(doc: dict) -> Optional[str]:
    """The stack job document ``doc``'s ``training.framework`` section without a name runs: the job's default stack
    (planner.search.space ``open_stack``, the rule the job's validators name it by), on its accelerators' platform where
    they are all of one (a TPU's: maxtext); None where the document is refused."""
    try:
        job = _load(doc)
    except (InputError, ValueError):
        return None
    cat = cached_catalog()  # (read from disk once a process, as the page's other reads)
    names = list(job.constraints.gpus or ()) + ([job.cluster.gpu] if job.cluster.gpu else []) + (
        _instance_gpu(cat, job.cluster.instance) if job.cluster.instance else [])
    try:
        plats = {platform_of(cat.gpu(g)) for g in names}
    except (InputError, KeyError):  # a GPU the catalog does not know: the search refuses it in its own words
        plats = set()
    return open_stack(job, plats.pop() if len(plats) == 1 else None)


def _write_mode(training: dict, mode: str, lora_rank: Optional[int] = None) -> None:
    """The training mode (and a LoRA job's rank) written into a job's ``training`` section, as the sidebar sets it."""
    training["mode"] = mode
    if mode in ("lora", "qlora"):
        if lora_rank is not None:
            training["lora"] = dict(training.get("lora") or {}, rank=lora_rank)
        if mode == "qlora" and training.get("base_weights") not in (None, "nf4"):
            training.pop("base_weights")
    else:  # a frozen base's settings mean nothing when every weight trains
        training.pop("lora", None)
        training.pop("base_weights", None)


def _write_tokens(training: dict, tokens: Optional[float]) -> None:
    """The sidebar's training tokens (None: the job's own length) written into a job's ``training`` section."""
    if tokens is not None:
        for k in ("steps", "epochs", "dataset_samples"):
            training.pop(k, None)
        training["tokens"] = float(tokens)


def with_mode(base: dict, mode: Optional[str], tokens: Optional[float] = None) -> dict:
    """``base`` at the sidebar's training ``mode`` (None: its own) and ``tokens`` (a fine-tune needs its length), for
    the questions asked of its stack before the job is built (``stack_controls``, ``partial_recompute``): the mode
    picks the default stack (QLoRA runs on the HF Trainer's bitsandbytes path, pretraining on Megatron-Core), and
    until app57 the sidebar drew a QLoRA job the pretraining stack's options, its "TP communication overlap: te" then
    refused by the job it built."""
    doc = copy.deepcopy(base)
    doc["training"] = dict(doc.get("training") or {})
    if mode is not None:
        _write_mode(doc["training"], mode)
    _write_tokens(doc["training"], tokens)
    return doc


def with_stack(base: dict, name: Optional[str]) -> dict:
    """``base`` with the sidebar's training stack ``name`` in place of its own (``stack_section``), for the questions
    asked of the stack before the job is built (``partial_recompute``)."""
    doc = copy.deepcopy(base)
    training = dict(doc.get("training") or {})
    _set(training, "framework", stack_section(training.get("framework"), name, base))
    if training or "training" in doc:
        doc["training"] = training
    return doc


#: the training-stack options the sidebar sets (QA 90: until then only an uploaded job file could), by option
#: (``stacks.OPTIONS``) with its label, in the order drawn. Each is drawn where the chosen stack has it and the job
#: uses it (``Stack.options(model, training)``, the list a plan's stack record takes: the MoE dispatcher and overlap
#: on a model with MoE layers only), its choices the stack's (``stacks.OPTION_HOLDERS``' offered values, else the
#: option's vocabulary ``stacks.OPTION_VALUES``, else on / off), "auto" first where the search tries it on the job as
#: the sidebar sets it (planner.search.space ``searched_options``, nemo58). CUDA graphs, the pipeline split, the loss
#: and the NVMe offload since QA 95 (a job file only before); a value the stack takes only beside another option
#: (``offload_device: nvme`` with an offload on, ``loss_fn: masked_ce_chunked`` with ``ce_chunk_size``) is not offered
#: (QA 96: nor one refused at the sidebar's ZeRO stage or precision, ``_runs``). Options of free numbers, lists or
#: text are inputs since QA 96 (``TYPED_OPTIONS``).
STACK_OPTION_LABELS = {
    "compile": "torch.compile", "tp_overlap": "TP communication overlap",
    "overlap_grad_reduce": "overlap gradient reduce", "overlap_param_gather": "overlap parameter all-gather",
    "reshard_after_forward": "FSDP reshard after forward (ZeRO-3)", "megatron_fsdp": "Megatron-FSDP",
    "fp8_recipe": "fp8 recipe", "selective": "selective recompute",
    "activation_offload": "activation offload", "optimizer_offload": "optimizer offload",
    "param_offload": "parameter offload", "offload_device": "offload device (nvme: ZeRO-Infinity)",
    "nvme_stripe": "NVMe stripe (nvme_path over one drive / the node's drives)",
    "cuda_graph_impl": "CUDA graphs", "pp_split": "pipeline split", "pp_partition_method": "pipeline partition method",
    "loss_fn": "loss class", "ce_fp32_upcast": "loss fp32 upcast", "fused_cross_entropy": "fused linear cross-entropy",
    "cross_entropy_fusion": "cross-entropy fusion", "moe_dispatcher": "MoE token dispatcher",
    "moe_a2a_overlap": "MoE all-to-all overlap",
    # (app51: no control until then, a job file's only)
    "cp_comm_type": "context-parallel communication (--cp-comm-type)", "mixed_precision": "mixed precision (model code)",
    "use_reentrant": "reentrant activation checkpoint (use_reentrant)",
    # (QA 100: ctx51's option, a job file's only until then; CUDA stacks, OPTION_HOLDERS)
    "cuda_module_loading": "CUDA kernel module loading (eager: CUDA < 11.7 / torch < 1.13)",
    # (app52: session 52's option, a job file's only until then; the HF-code stacks, MoE models: OPTION_USES)
    "experts_implementation": "MoE experts kernel (transformers experts_implementation)",
    # (app53: a job file's only until then; each moves the step time or memory per GPU by more than 2% at one layout
    # on some preset, docs/qa_log.md "app53"; fused_qkv, lp_bf16_mtp, communication_data_type and
    # ag_backward_pipelining move neither by 2% on any and stay a job file's)
    "gradient_accumulation_fusion": "gradient-accumulation fusion (--no-gradient-accumulation-fusion: off)",
    "moe_fused_mlp": "MoE fused grouped MLP (TE op fuser)",
    "moe_shared_expert_overlap": "MoE shared-expert overlap",
    "first_last_layers_bf16": "16-bit first / last layers under fp8",
    "precision_aware_optimizer": "precision-aware optimizer (--use-precision-aware-optimizer)",
    "exp_avg_dtype": "Adam exp_avg dtype (precision-aware optimizer)",
    "exp_avg_sq_dtype": "Adam exp_avg_sq dtype (precision-aware optimizer)",
    "main_params_dtype": "master-weight dtype (precision-aware optimizer)",
    "partition_activations": "partition checkpointed activations over TP (--partition-activations)",
    "cpu_checkpointing": "checkpointed activations in CPU memory (--checkpoint-in-cpu)",
    "recompute_early_stop": "recompute early stop (non-reentrant checkpoint)",
    "attn_implementation": "attention kernel (transformers attn_implementation)",
    "remat_policy": "MaxText remat policy",
    "channels_last": "channels-last memory format (a convnet's)",
    "defer_fsdp_grad_sync": "FSDP2 gradient sync on the last micro-batch only",
    "fsdp_defer_sync": "deferred FSDP2 gradient sync of the MoE layers",
}
#: a stack option control's words for its values: None is the search's choice ("auto") or, for an option not
#: searched, the stack's default for the model's kind (``Stack.kind_default``)
OPTION_WORDS = {True: "on", False: "off"}
STACK_KIND_DEFAULT = "stack default"
#: what a number input's stack default runs where the stack holds None for it and its code takes a count of the
#: model's own (rec59, words58's leftover: the empty input said "stack default" without the count): Megatron-Core
#: without ``--cpu-offloading-num-layers`` offloads every layer's activations but the last (planner.model.offload
#: ``offloaded_layers``)
UNSET_COUNT_WORDS = {"activation_offload_layers":
                     lambda m: f"all but the last layer, {max(m.layers - 1, 0)}" if m.layers else "all but the last layer"}


#: the choices that leave a stack option unset (searched, or the stack kind's own value): strings, never None, since
#: Streamlit draws a selectbox whose value is None as no selection ("Choose an option": QA 77's rule for the sidebar)
UNSET_CHOICES = (AUTO, STACK_KIND_DEFAULT)


#: a training-stack option that is no choice, by how the sidebar takes it (``option_input``): a number input, or a
#: text input read as YAML, as the job file reads it (a list, a mapping, a free string)
NUMBER_INPUT, TEXT_INPUT = "number", "text"


def option_input(option: str) -> Optional[str]:
    """How the sidebar takes the training-stack option ``option`` (``stacks.OPTIONS``) when it is no choice, from its
    ``training.framework`` field (planner.spec.schema ``FrameworkSpec``): ``NUMBER_INPUT`` for an int or a float
    (``nvme_gbps``, ``ce_chunk_size``), ``TEXT_INPUT`` for a list, a mapping or a free string (``cuda_graph_scope``,
    ``remat_tensors``, ``pp_layout``); None for a switch or a vocabulary (the selectboxes, ``STACK_OPTION_LABELS``) and
    for a value that is one name or a list of them (``cp_comm_type``); None for a name that is no field (the job
    loader refuses it on its field)."""
    field = FrameworkSpec.model_fields.get(option)
    if field is None:
        return None
    ann = field.annotation
    kinds = [a for a in typing.get_args(ann) if a is not type(None)] if typing.get_origin(ann) is typing.Union else [ann]
    if len(kinds) != 1:
        return None
    kind = kinds[0]
    if kind in (int, float):
        return NUMBER_INPUT
    return TEXT_INPUT if kind is str or typing.get_origin(kind) in (list, dict) else None


#: the stack options the sidebar takes as typed values (QA 96: until then a job file's only), in the registry's order:
#: every option of ``stacks.OPTIONS`` whose field ``option_input`` reads as a number or text
TYPED_OPTIONS = tuple(o for o in OPTIONS if option_input(o))


def option_range(option: str) -> tuple:
    """(least, greatest) value of a number option as its ``FrameworkSpec`` field bounds it (None: unbounded), the
    number input's range, so the widget never replaces a job's own value. An integer's ``gt`` is its least value
    plus one; a float's ``gt`` is drawn as its least (Streamlit's bounds are inclusive), which the loader then
    refuses in one line, as the job file's."""
    f = FrameworkSpec.model_fields[option]
    integer = int in (typing.get_args(f.annotation) or (f.annotation,))
    lo = hi = None
    for m in f.metadata:
        if getattr(m, "ge", None) is not None:
            lo = m.ge
        elif getattr(m, "gt", None) is not None:
            lo = m.gt + 1 if integer else float(m.gt)
        if getattr(m, "le", None) is not None:
            hi = m.le if integer else float(m.le)
    return lo, hi


def yaml_text(value) -> str:
    """``value`` as one line of YAML, as a job file writes it (``[attn, mlp]``); "" for None."""
    if value is None:
        return ""
    value = list(value) if isinstance(value, tuple) else value  # (a Stack holds its lists as tuples)
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16, sort_keys=False).strip().removesuffix(
        "...").strip()


def typed_value(option: str, value):
    """The option value of a sidebar input: a text input's YAML parsed as the job file parses it (``parse_yaml_text``;
    empty: None, the stack's default), refused in one line on the option's field; a number or a choice as it is."""
    if option_input(option) != TEXT_INPUT or not isinstance(value, str):
        return value
    if not value.strip():
        return None
    return parse_yaml_text(value, f"training.framework.{option}", "the sidebar's text")


@dataclass(frozen=True)
class StackControl:
    """One training-stack option as the sidebar draws it (``stack_controls``): a selectbox of ``choices``, or (``kind``
    ``NUMBER_INPUT`` / ``TEXT_INPUT``, ``option_input``) a number input over ``bounds`` or a text input of YAML."""

    option: str
    label: str
    choices: tuple  # the values offered; ``AUTO``: searched, ``STACK_KIND_DEFAULT``: the stack's kind default
    default: object  # the stack's own value (``AUTO`` where searched, ``STACK_KIND_DEFAULT`` where its kind's)
    value: object  # the start value: the job's own setting where its section names this stack, else ``default``
    kind: str = "select"
    bounds: tuple = (None, None)  # a number input's (least, greatest) (``option_range``)
    integer: bool = False  # a number input of whole numbers
    #: the search tries this option's values on the job as the sidebar sets it (``_searched_here``), so leaving it
    #: unset is "auto"; else unset runs the stack's default, ``stack_value`` (None: its kind's)
    searched: bool = False
    stack_value: object = None

    def word(self, value) -> str:
        """A choice as the selectbox writes it."""
        if isinstance(value, tuple):  # a job file's per-layer list (cp_comm_type), in runs: "per layer: 16 x p2p, ..."
            return "per layer: " + ", ".join(f"{len(list(run))} x {v}" for v, run in itertools.groupby(value))
        if value is None or value in UNSET_CHOICES:
            if self.searched:
                return AUTO
            return STACK_KIND_DEFAULT + ("" if self.stack_value is None else f" ({self.word(self.stack_value)})")
        return OPTION_WORDS.get(value, str(value)) if isinstance(value, bool) else str(value)

    @property
    def placeholder(self) -> str:
        """What an empty number / text input shows: "auto" where the search tries the option's values on the job
        (``searched``), else the stack's default it runs (its YAML for a text input). Until words58 it was the stack's
        value either way: MaxText's empty ``num_vocab_tiling`` read "1" (base.yml's one tile) where the search tries
        1, 2, 4, 8 and 16 tiles, the help alone saying so."""
        if self.searched or self.default in UNSET_CHOICES:
            return self.word(None)
        return yaml_text(self.default) if self.kind == TEXT_INPUT else self.word(self.default)

    @property
    def help(self) -> str:
        """The control's tooltip: the job field it writes and the stack's default."""
        if self.kind != "select":  # what the option is (the registry's words), and what empty leaves
            what = (OPTION_HOLDERS.get(self.option) or (None, self.option))[1]
            said = (yaml_text(self.default) if self.default not in UNSET_CHOICES
                    else None if self.stack_value is None else self.word(self.stack_value))
            return (f"training.framework.{self.option}: {what}" + ("; YAML, as in a job file" if self.kind == TEXT_INPUT
                                                                    else "")
                    + ("; empty: the search tries its values" if self.searched
                       else f"; empty: the stack's default{f' ({said})' if said else ''}"))
        own = self.default if self.stack_value is None else self.stack_value
        return (f"training.framework.{self.option}; " + ("auto: the search tries each" if self.searched
                                                         else f"the stack's default: {self.word(own)}"))


def _stack_defaults(doc: dict):
    """(job, the stack it runs with none of its options set, that stack's option values for the job) of ``doc``, or
    None where it names no one stack to ask (``framework: auto``) or is refused (``build_job`` names the field)."""
    from planner.search.space import is_auto, without_auto_recipe

    try:
        job = without_auto_recipe(_load(copy.deepcopy(doc)))
        if is_auto(job):
            return None
        fw = job.training.framework
        bare = job.training if fw is None else job.training.model_copy(update={"framework": type(fw)(name=fw.name)})
        st = from_training(bare, model=job.model)
    except InputError:
        return None
    return job, st, st.options(job.model, job.training)


def _set_stack(doc: dict):
    """The stack ``doc``'s job runs with its options as set (``from_training``), or None where the job is refused or
    names no one stack."""
    try:
        job = _load(copy.deepcopy(doc))
        return from_training(job.training, model=job.model)
    except InputError:
        return None


def _takes(st, option: str, value) -> bool:
    """Whether stack ``st`` (its other options as set) runs ``option`` at ``value`` (``Stack.with_options`` does not
    refuse it): DeepSpeed's ``offload_device: nvme`` only with an offload on, NeMo AutoModel's chunked loss only with
    its chunk size."""
    try:
        st.with_options(**{option: value})
    except InputError:
        return False
    return True


#: the data-parallel degrees the filter tries where the sidebar leaves DP open (always, but on a job that fixes every
#: other degree and the nodes): DP follows from the GPU count, which no stack rule reads; the rules tell one replica from
#: more (ZeRO with nothing to shard, ``dp x cp == 1``; the micro-batches a replica runs)
_OPEN_DP = (1, 2)


def _layout_rows(job: JobSpec, stack) -> SimpleNamespace:
    """Layouts of ``job`` on ``stack`` as the stack rules' candidate columns: its fixed degrees, ZeRO stage and
    recompute as set, each open degree over the values the search tries (planner.search.space ``open_degrees``: TP by
    the heads, PP by the layers, CP from ``D.LONG_SEQ`` tokens, EP by the experts, ETP = TP or 1, virtual stages where
    the stack interleaves; no node count bounds them), DP over ``_OPEN_DP``, ZeRO 0-3 and every recompute where open,
    sequence parallelism and the schedule as the search sets them (``layout.sequence_parallel``,
    ``stack_rules.schedule_codes``). Until app51 each open degree was tried at 1 and 2 only, and with one virtual stage:
    an option a rule allows only at a degree past 2 or with virtual stages (Megatron-Core's MoE all-to-all overlap at a
    fixed PP 4: ``moe_a2a_overlap`` needs interleaving there, rule a2a-overlap-pp-vpp) was not offered, though the
    search runs it. The deeper interleavings only at the pp they split, as the search pairs them (``vpp_kept``; until
    vpp59 every one at every pp)."""
    from planner.layout import sequence_parallel
    from planner.search.space import open_degrees

    p, t = job.parallel, job.training
    deg = open_degrees(job)
    rows = _rows((tuple(deg["tp_etp"]), *(tuple(deg[k]) for k in ("pp", "cp")), (p.dp,) if p.dp else _OPEN_DP,
                  *(tuple(deg[k]) for k in ("ep", "vpp")), (p.zero,) if p.zero is not None else ZEROS[1:],
                  (RECOMPUTE.code[t.recompute],) if t.recompute is not None else tuple(RECOMPUTE.code.values())),
                 tuple(sorted(deg["vpp_more"].items())))
    n = len(rows.tp)
    return SimpleNamespace(**vars(rows), sp=sequence_parallel(p.sequence_parallel, rows.tp),
                           schedule=stack_rules.schedule_codes(stack, p, rows.pp, rows.vpp),
                           **({"mb": np.full(n, t.micro_batch)} if t.micro_batch else {}))


@functools.lru_cache(maxsize=64)
def _rows(axes: tuple, vpp_more: tuple = ()) -> SimpleNamespace:
    """``_layout_rows``' columns for the values of each axis ((tp, etp) pairs, pp, cp, dp, ep, vpp, zero, recompute
    code), every combination one row (``dp_shard`` = dp: no hybrid shard group) but a deeper interleaving at a pp it
    does not split (``vpp_more``: ``open_degrees``' as (pp, depths) items; planner.search.space ``vpp_kept``)."""
    from planner.search.space import vpp_kept

    cols = [np.asarray(a, dtype=np.int64).ravel() for a in np.meshgrid(
        np.arange(len(axes[0])), *axes[1:], indexing="ij")]
    kept = vpp_kept(dict(vpp_more), cols[1], cols[5])
    pair, pp, cp, dp, ep, vpp, zero, rc = (c[kept] for c in cols)
    tp_etp = np.asarray(axes[0], dtype=np.int64).reshape(-1, 2)
    return SimpleNamespace(tp=tp_etp[pair, 0], etp=tp_etp[pair, 1], pp=pp, cp=cp, dp=dp, ep=ep, vpp=vpp, zero=zero,
                           rc=rc, dp_shard=dp)


@functools.lru_cache(maxsize=4096)
def _runs_key(key: str) -> bool:
    """``_runs`` of a document written as JSON (the cache's key: a page rerun asks the same questions again)."""
    from planner.search.space import job_stack, stack_variants

    try:
        job = _load(json.loads(key))
        base = job_stack(job)  # the search's own refusals before any layout
    except InputError:
        return False
    rows, m, t = _layout_rows(job, base), job.model, job.training
    # the stack as set first; its searched options' other variants only where it runs no row (building them all
    # costs the search's whole product of options, ~0.1 s a value on an MoE model)
    return bool(stack_rules.valid_mask(base, m, t, rows).any()
                or any(stack_rules.valid_mask(v.stack, m, t, rows).any() for v in stack_variants(job)[1:]))


def _runs(doc: dict) -> bool:
    """Whether the job ``doc`` runs on some layout its sidebar leaves open: the search's checks of the whole job
    (planner.search.space ``stack_variants``), then the stack rules (``stack_rules.valid_mask``) over the layouts of
    ``_layout_rows`` with each variant of its searched options -- the ZeRO stage and precision as the sidebar sets
    them (QA 96: the controls' filter read neither, so e.g. optimizer offload was offered at ZeRO-3 on Megatron-Core,
    which its FSDP2 refuses, and refused on the page)."""
    return _runs_key(json.dumps(doc, sort_keys=True, default=str))


def _filter_doc(doc: dict, precision: Optional[str], parallel: Optional[dict], recompute: Optional[str] = None) -> dict:
    """``doc`` with the sidebar's precision, recompute (None: the job's) and layout degrees (``parallel``: tp, pp, cp,
    zero; None: open) written in, as ``build_job`` writes them, for ``_runs``."""
    out = copy.deepcopy(doc)
    out["training"] = dict(out.get("training") or {})
    for k, v in (("precision", precision), ("recompute", recompute)):
        if v is not None:
            out["training"][k] = v
    if parallel is not None:
        out["parallel"] = dict(out.get("parallel") or {})
        for k, v in parallel.items():
            _set(out["parallel"], k, v)
        if any(v is None for v in parallel.values()):
            out["parallel"].pop("dp", None)
    return out


#: a control's value or start value where it was not drawn (``restarts``)
NOT_DRAWN = object()


def restarts(control: StackControl, held=NOT_DRAWN, last_start=NOT_DRAWN) -> bool:
    """Whether the sidebar's stack-option ``control`` takes its start value (``control.value``) this run: drawn anew
    (``held``, its value as the page holds it, ``NOT_DRAWN``), holding a value its choices no longer offer, or left
    at last run's start value (``last_start``) where that start moved: the input follows the job until it is set.
    Until app57 a start that moved was not followed: the fp8 recipe first drawn at fp4 (nvfp4) stayed nvfp4 when
    the precision went to fp8, and gpt2's page at fp8 on H100s read "nvfp4 needs FP4 tensor cores" for a recipe
    nobody chose."""
    if held is NOT_DRAWN or (control.choices and held not in control.choices):
        return True
    return last_start is not NOT_DRAWN and held == last_start and control.value != last_start


def stack_controls(base: dict, name: Optional[str], options: Optional[dict] = None, precision: Optional[str] = None,
                   parallel: Optional[dict] = None, recompute: Optional[str] = None) -> tuple[StackControl, ...]:
    """The controls of the training stack ``name`` (the sidebar's; None: the job's default stack) for the job ``base``:
    each ``STACK_OPTION_LABELS`` option the stack has and the job uses with more than one choice, starting at the job's
    own setting where its ``training.framework`` names that stack (``stack_section`` keeps it), else at the stack's
    default; then each ``TYPED_OPTIONS`` option the stack has and the job, with the sidebar's ``options``, uses (a
    number or text input, empty at the stack's default). A value is offered where the stack, with the job's and the
    sidebar's ``options`` (``with_stack_options``) set, runs it (``_takes``; QA 95: nvme offered beside no offload was
    refused on the page) at the sidebar's ``precision`` and ``parallel`` degrees (tp, pp, cp, zero; ``_runs``, QA 96)
    and its ``recompute`` (app53: DeepSpeed's activation-checkpointing options apply under recompute full only).
    None where the stack is searched (``framework: auto``) or refused."""
    # the sidebar's precision read for which options the job uses too (an fp8 recipe at fp8 only: OPTION_USES)
    doc = _filter_doc(with_stack(base, name), precision, None, recompute)
    got = _stack_defaults(doc)
    if got is None:
        return ()
    job, st, defaults = got
    # the sidebar's options written in; where they are refused, its choices alone: a typed input's value is refused on
    # its own field (build_job), and the selectboxes still offer what runs beside the rest
    full = _written(doc, options or {})
    alone = _written(doc, {k: v for k, v in (options or {}).items() if not option_input(k)})
    doc = next((d for d in (full, alone) if d is not None and _set_stack(d) is not None), doc)
    as_set = _set_stack(doc)
    trial = _filter_doc(doc, None, parallel)
    # the sidebar's settings as they stand must run for a value's refusal to be that value's (else the page names why)
    judged = as_set is not None and _runs(trial)
    # a value that runs only beside the typed inputs as given (the chunked loss with a chunk size), though they are
    # refused without it
    beside = _filter_doc(full, None, parallel) if full is not None and full is not doc else None

    def runs_value(option: str, value) -> bool:
        if _takes(as_set, option, value) and (not judged or _runs(_with_option(trial, option, value))):
            return True
        return beside is not None and _runs(_with_option(beside, option, value))

    fw, out = job.training.framework, []
    searched_here = _searched_here(trial, job)
    for option, label in STACK_OPTION_LABELS.items():
        if option not in defaults:
            continue
        # an unset choice wherever the stack's search could vary the option (``searched_on``: the sidebar then writes
        # no explicit default by itself, which ``with_stack_options`` would keep, and with it the stack's name), "auto"
        # where the search tries it on the job as the sidebar sets it (nemo58), else the stack's default
        registry = searched_on(st, option)
        searched = registry and searched_here(option)
        unset = AUTO if searched else STACK_KIND_DEFAULT
        default = unset if registry or defaults[option] is None else defaults[option]
        offered = (OPTION_HOLDERS.get(option) or (None, None, None))[2]
        values = tuple(offered(st)) if offered is not None else OPTION_VALUES.get(option, (True, False))
        own = _choice(getattr(fw, option, None) if fw is not None else None)
        if as_set is not None:  # (the stack's own value and the job's stay: the control starts at one of them)
            values = tuple(v for v in values if v in (defaults[option], own) or runs_value(option, v))
        choices = tuple(dict.fromkeys(((unset,) if default == unset else ()) + values
                                      + (() if own is None else (own,))))
        if len(choices) > 1:  # one choice is no input (Megatron-Core's selective recompute: attention_core only)
            out.append(StackControl(option, label, choices, default, default if own is None else own,
                                    searched=searched, stack_value=defaults[option]))
    uses = _uses(doc, defaults)
    for option in TYPED_OPTIONS:
        if option not in uses:
            continue
        kind, own = option_input(option), getattr(fw, option, None) if fw is not None else None
        default = defaults.get(option, uses.get(option))
        start = yaml_text(own) if kind == TEXT_INPUT else own
        words = UNSET_COUNT_WORDS.get(option) if default is None else None  # (the count the stack's None runs)
        out.append(StackControl(option, option, (), STACK_KIND_DEFAULT if default is None else default, start, kind,
                                option_range(option) if kind == NUMBER_INPUT else (None, None),
                                int in typing.get_args(FrameworkSpec.model_fields[option].annotation),
                                searched_on(st, option) and searched_here(option),
                                default if words is None else words(job.model)))
    return tuple(out)


def _searched_here(doc: dict, job: JobSpec) -> Callable[[str], bool]:
    """Whether the search tries an option's values where the job ``doc`` (the sidebar's settings written in) leaves it
    unset: the options its variants vary (planner.search.space ``stack_variants`` -> ``searched_options``, what
    ``recommend`` says it searched) for ``doc`` with that option taken out of its ``training.framework`` (what the
    control's unset choice runs), or for ``job`` (the job as given) where ``doc`` is refused. Until nemo58 the controls
    read the stack's registry alone (``stacks.searched_on``) and said "auto" where the search keeps the stack's default:
    NeMo AutoModel's ``defer_fsdp_grad_sync`` under PP, at ZeRO-1 or beside its MoE ``fsdp_defer_sync``, its
    ``loss_fn`` on a masked-LM head (review57)."""
    as_given = functools.cache(lambda: _searched_of(job))  # (asked once a page, not once a control)

    def searched(option: str) -> bool:
        got = _searched_key(json.dumps(_without_option(doc, option), sort_keys=True, default=str))
        return option in (as_given() if got is None else got)
    return searched


@functools.lru_cache(maxsize=1024)
def _searched_key(key: str) -> Optional[tuple]:
    """``_searched_of`` the job document written as JSON (None where it is refused), cached as ``_runs_key``: a page
    rerun asks the same question of each control."""
    try:
        return _searched_of(_load(json.loads(key)), refused=None)
    except InputError:
        return None


def _searched_of(job: JobSpec, refused=()) -> Optional[tuple]:
    """The options ``recommend`` varies on ``job`` (planner.search.space ``searched_options`` of its
    ``stack_variants``), ``refused`` where the search refuses the job before any layout."""
    from planner.search.space import searched_options, stack_variants

    try:
        return searched_options(stack_variants(job))
    except InputError:
        return refused


def _without_option(doc: dict, option: str) -> dict:
    """``doc`` with ``training.framework.option`` left out (the section kept otherwise)."""
    section = (doc.get("training") or {}).get("framework")
    if not isinstance(section, dict) or option not in section:
        return doc
    return {**doc, "training": {**doc["training"], "framework": {k: v for k, v in section.items() if k != option}}}


def _choice(value):
    """A job's option value as a selectbox choice: a list (a per-layer ``cp_comm_type``) as a tuple, which a choice must
    be (hashable); ``with_stack_options`` writes it back as the job file's list."""
    return tuple(value) if isinstance(value, list) else value


def _uses(doc: dict, defaults: dict) -> dict:
    """The options the job ``doc`` (the sidebar's options written in) uses on its stack (``Stack.options``), by option
    with the stack's value: NVMe's rate once the sidebar turns the NVMe offload on; ``defaults`` where it is refused."""
    try:
        job = _load(copy.deepcopy(doc))
        return from_training(job.training, model=job.model).options(job.model, job.training)
    except InputError:
        return defaults


def _written(doc: dict, options: dict) -> Optional[dict]:
    """``doc`` with the sidebar's stack ``options`` written into its ``training.framework`` (``with_stack_options``),
    or None where a text input's YAML is malformed."""
    try:
        return {**doc, "training": {**doc["training"], "framework": with_stack_options(doc, options)}}
    except InputError:
        return None


def _with_option(doc: dict, option: str, value) -> dict:
    """``doc`` with its ``training.framework`` section setting ``option`` to ``value`` (``with_stack_options``)."""
    out = copy.deepcopy(doc)
    out["training"] = {**out["training"], "framework": with_stack_options(out, {option: value})}
    return out


def with_stack_options(doc: dict, options: dict):
    """``doc``'s ``training.framework`` with the sidebar's stack ``options`` written over it (``stack_controls``): an
    option at the stack's default (or searched, None) is left out, so a job whose options the sidebar leaves alone is
    the job as given, and its section stays out (the default stack) unless an option is set. A text input's YAML is
    parsed as the job file's (``typed_value``; malformed: InputError on the option's field)."""
    section = (doc.get("training") or {}).get("framework")
    got = _stack_defaults(doc)
    if got is None:
        return section
    _, st, defaults = got
    out = dict(section) if isinstance(section, dict) else {"name": section or st.name}
    for option, value in options.items():
        if isinstance(value, str) and value in UNSET_CHOICES:  # (the sidebar's unset choice: the option left out)
            value = None
        value = typed_value(option, value)
        value = list(value) if isinstance(value, tuple) else value  # (a per-layer list held as a choice: ``_choice``)
        # an explicit default is kept wherever the stack's search could vary it (``searched_on``, the registry: a
        # superset of one job's ``searched_options``; where this job's search does not, it runs the same plan)
        _set(out, option, None if value == defaults.get(option) and not searched_on(st, option) else value)
    if section is None and set(out) == {"name"}:
        return None
    return out["name"] if set(out) == {"name"} and not isinstance(section, dict) else out


def source_caption(name: str, job: JobSpec) -> str:
    """The line under the page's title: where the job came from, its model, and how many assumption lines the job
    carries ("preset llama3-8b: llama3-8b · 5 assumptions (see 'assumptions and inputs' below)"). It read "1 defaults
    filled in" for the QLoRA example, whose one line says its last step holds the dataset's remainder: a count of
    every line the loader adds, defaults or not (QA 87)."""
    n = len(job.assumptions or ())
    said = f" · {count_of(n, 'assumption')} (see 'assumptions and inputs' below)" if n else ""
    return f"{name}: {job.model.name}{said}"


def job_key(job: JobSpec) -> str:
    """A stable hash of a job (for caches)."""
    return hashlib.sha256(job.model_dump_json().encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# cached loaders
# --------------------------------------------------------------------------------------------
def _cache_resource(fn):
    """Streamlit's process-wide resource cache under Streamlit, an LRU elsewhere (tests, report)."""
    try:
        from streamlit import runtime

        if runtime.exists():
            import streamlit as st

            return st.cache_resource(show_spinner=False)(fn)
    except ImportError:
        pass
    return functools.lru_cache(maxsize=16)(fn)


@functools.lru_cache(maxsize=1)
def _catalog_loader():
    @_cache_resource
    def load(extra: tuple = ()):
        return load_catalog(list(extra) or None)

    return load


def cached_catalog(extra: tuple = ()):
    """The hardware catalog, read from disk once per process."""
    return _catalog_loader()(tuple(extra))


@functools.lru_cache(maxsize=1)
def _profile_loader():
    @_cache_resource
    def load(data: bytes, name: str):
        if len(data) > 32 * MAX_UPLOAD_BYTES:
            raise InputError("profile", f"{name} is larger than {32 * MAX_UPLOAD_BYTES // 2**20} MiB")
        # load_profile validates a file; give it one, so uploads get the CLI's exact checks
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "profile.json"
            path.write_bytes(data)
            try:
                prof = load_profile(path, "profile")
            except InputError as e:
                raise InputError(e.field, e.message.replace(str(path), name)) from None
            prof._source = name  # the upload's name, not the temporary file's
            return prof

    return load


def cached_profile(data: bytes, name: str = "profile.json"):
    """A calibration profile from uploaded bytes, validated once per distinct file."""
    return _profile_loader()(bytes(data), name)


def gpu_choices(catalog) -> list[str]:
    """GPU names that some cloud instance in the catalog carries (what a search can rent)."""
    return sorted({i.gpu.name for i in catalog.instances.values() if i.is_gpu})


def cloud_choices(catalog) -> list[str]:
    return sorted({i.cloud for i in catalog.instances.values()})


def instance_choices(catalog, gpus: list[str], clouds: list[str]) -> list[str]:
    return sorted(i.key for i in catalog.instances.values() if i.is_gpu
                  and (not gpus or i.gpu.name in gpus) and (not clouds or i.cloud in clouds))


@dataclass(frozen=True)
class PowerChoices:
    """The power-limit control's values (W; None first: each GPU at its rated limit) over the GPUs the inputs leave
    (``power_limit_choices``), and the range each of them accepts, for the control's help."""
    options: tuple
    ranges: str


def power_limit_choices(catalog, gpus: list[str], instance: Optional[str], value: Optional[float] = None) -> Optional[PowerChoices]:
    """The limits the sidebar offers for ``cluster.power_limit_w``: from the lowest minimum to the highest rated limit
    of the GPUs the inputs leave (the instance's, else the GPUs chosen, else every GPU the catalog rents) in 25 W
    steps (planner.hardware.power ``limit_range`` / ``limit_steps``), with the job's own ``value`` kept (a limit the
    GPUs cannot take is then refused by the planner, in one line naming the field). None where no such GPU has a
    rated limit (TPUs: no clock law to apply)."""
    from planner.hardware.power import limit_range, limit_steps, power_floor

    parts = left_gpus(catalog, gpus, instance)
    span = limit_range(parts)
    if span is None:
        return None
    opts = (None, *limit_steps(*span))
    ranges = "; ".join(f"{g.name} {power_floor(g)[0]:,.0f}-{g.power_limit_w:,.0f} W" for g in parts if g.power_limit_w)
    return PowerChoices(with_value(opts, value) if value is not None else opts, ranges)


def left_gpus(catalog, gpus, instance: Optional[str]) -> list:
    """The catalog GPUs the sidebar's hardware inputs leave: the ``instance``'s, else the ``gpus`` chosen, else every GPU
    the catalog rents (``gpu_choices``); a name the catalog does not know is left out (the search refuses it)."""
    names = _instance_gpu(catalog, instance) if instance else list(gpus) or gpu_choices(catalog)
    return [g for g in map(functools.partial(_known_gpu, catalog), dict.fromkeys(names)) if g is not None]


def _known_gpu(catalog, name: str):
    """The catalog's GPU ``name``, or None for a name it does not know (an uploaded constraints.gpus: the search
    refuses it in its own words, naming the field)."""
    try:
        return catalog.gpu(name)
    except InputError:
        return None


def segment_choices(base: dict, catalog) -> tuple:
    """The NVL72 segment sizes (trays) the sidebar offers where the job's hardware is a rack-scale NVLink system
    (``cluster.gpu`` GB200 / GB300 with its rack as the node: planner.hardware.options ``rack_trays``): None
    (searched: the rack and 16 trays, ``search_segments``) and 1 to the rack's trays; () elsewhere (the control is
    not shown, and a segment there is refused)."""
    from planner.hardware.options import rack_trays

    cl = _load(copy.deepcopy(base)).cluster
    if not cl.gpu or cl.instance or _known_gpu(catalog, cl.gpu) is None:  # (an unknown GPU: the search says so)
        return ()
    trays = rack_trays(catalog, cl.gpu, cl.gpus_per_node)
    return (None, *range(1, trays + 1)) if trays else ()


class WiringChoices(NamedTuple):
    """The NVLink-wiring control's options (``topology_choices``): ``options`` the WhatIf values -- None (the node's
    own wiring) first, then each other wiring the planner builds -- and ``default`` the wiring None resolves to."""
    options: tuple = ()
    default: str = ""

    def label(self, word: str) -> str:
        """The control's text for a widget ``word`` (``widget_value``): the node default named with its wiring
        ("switch (node default)"), every other wiring as itself."""
        return f"{self.default} ({NODE_WIRING_DEFAULT})" if word == NODE_WIRING_DEFAULT else word


def topology_choices(base: dict, catalog) -> WiringChoices:
    """The node wirings (``cluster.nvlink_topology``, ``vocab.NVLINK_TOPOLOGY``) the sidebar offers where the job's
    hardware is a bare GPU (``cluster.gpu``, its ``gpus_per_node``): None (the node's own wiring, ``default``: the
    chip's platform's, else a switch) and each other wiring the planner builds that node with
    (planner.hardware.options ``option_from_cluster``, whose ``node_topology`` refuses a mesh of links the GPU does
    not have or of fewer GPUs than the node's: nvlink4-quad-mesh on 4 or fewer NVLink4 Hopper GPUs only); no options
    where that leaves one wiring, or on an instance or a search (the control is not shown). Until qa105 the node's
    own wiring was offered twice, as "node default" and by name ("switch" on a 4 x H200 node)."""
    from planner.hardware.options import option_from_cluster
    from planner.vocab import NVLINK_TOPOLOGY

    cl = _load(copy.deepcopy(base)).cluster
    if not cl.gpu or cl.instance or _known_gpu(catalog, cl.gpu) is None:  # (an unknown GPU: the search says so)
        return WiringChoices()

    def builds(name: Optional[str]) -> Optional[str]:
        try:
            return option_from_cluster(cl.model_copy(update={"nvlink_topology": name}), catalog).nvlink_topology
        except InputError:
            return None

    default = builds(None)
    others = tuple(t for t in NVLINK_TOPOLOGY.names if t != default and (t == cl.nvlink_topology or builds(t)))
    return WiringChoices((None, *others), default or "") if others else WiringChoices()


# --------------------------------------------------------------------------------------------
# search, with a small cache (the app reruns its script on every widget change)
# --------------------------------------------------------------------------------------------
class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, k, v):
        self[k] = v
        self.move_to_end(k)
        while len(self) > self.size:
            self.popitem(last=False)


#: the app's searches, newest last: 8 (the default page's one is ~60 MB of candidate tables, pickled); public so that
#: tests/conftest.py keeps the default page's entry between app test modules
SEARCHES = _LRU(8)


class _Refused(NamedTuple):
    """A search's refusal as ``SEARCHES`` keeps it (``search``)."""

    error: InputError


def search(job: JobSpec, catalog=None, profile=None, top: int = 10, simulate: bool = True,
           progress: Optional[Callable[[int, int, str], None]] = None) -> dict:
    """``recommend`` for the app: same result, cached on the job, catalog and profile (the search
    never changes the job, so no copy is needed). A refusal is cached too, and raised again: until app57 a page
    where nothing fits searched again on every rerun (the llama3-8b preset under a $1 budget: 1.4 CPU-s a rerun
    with nothing changed, against 0.2 for a plan)."""
    key = (job_key(job), id(catalog), id(profile), top, simulate)
    if key in SEARCHES:
        hit = SEARCHES[key]
        if isinstance(hit, _Refused):  # its traceback reset, so that it does not grow rerun by rerun
            raise hit.error.with_traceback(None)
        return hit
    try:
        res = recommend(job, catalog, profile, top=top, simulate=simulate, progress=progress)
    except InputError as e:
        SEARCHES.put(key, _Refused(e))
        raise
    SEARCHES.put(key, res)
    return res


#: the page's views of a plan (sensitivity sweep, timeline, charts, tables), one entry per view and input
_VIEWS = _LRU(128)  # ~12 views a plan: the views of the 8 searches ``SEARCHES`` keeps, and a few sweeps more
_VIEWS_LOCK = threading.Lock()
_PLAIN = (str, int, float, bool, type(None))


def _arg_key(a):
    """How ``cached_view`` tells one argument from another: a job by its content (the app builds a new ``JobSpec`` on
    every rerun), a plain value by its value, anything else (the cached search's rec, its rows and table, a cached
    sweep's frame, the catalog, a profile) by identity -- the entry holds the argument, so the id is not reused."""
    if isinstance(a, JobSpec):
        return ("job", job_key(a))
    if isinstance(a, _PLAIN) or (isinstance(a, tuple) and all(isinstance(x, _PLAIN) for x in a)):
        return ("value", type(a).__name__, a)
    return ("id", id(a))


def cached_view(fn: Callable, *args, **kw):
    """``fn(*args, **kw)``, answered from a small LRU when the same arguments come again (``_arg_key``).

    Streamlit reruns the whole script on every widget change: a change that leaves the job as it was (the
    sensitivity radio, a widget moved back, a rerun) redid the sensitivity sweep, the simulated timeline and five
    altair charts, about half of an unchanged rerun's CPU. The search is cached on the job (``search``) and returns
    the same rec, so a view of its rows keyed on their identity is the same view. The app treats what it gets as
    read-only, as it does the cached rec."""
    key = (fn, tuple(_arg_key(a) for a in args), tuple(sorted((k, _arg_key(v)) for k, v in kw.items())))
    with _VIEWS_LOCK:  # Streamlit runs each browser session's script in its own thread
        hit = _VIEWS.get(key)
        if hit is not None:
            _VIEWS.move_to_end(key)
            return hit[0]
    out = fn(*args, **kw)
    with _VIEWS_LOCK:
        _VIEWS.put(key, (out, args, kw))  # the arguments kept alive: an id in the key is never another object's
    return out


# --------------------------------------------------------------------------------------------
# the simulator's timeline
# --------------------------------------------------------------------------------------------
KIND_LABELS = {"fwd_bwd": "forward+backward", "optimizer": "optimizer", "dp_reduce": "data-parallel reduce",
               "load": "data load", "data_wait": "waiting for data", "eval": "evaluation",
               "checkpoint": "checkpoint", "ckpt_persist": "checkpoint persist",
               "failure_restart": "failure restart"}
RESOURCE_LABELS = {"gpu": "GPU", "data": "data", "comm": "comm"}


def _activity(kind: str) -> tuple[str, str]:
    if kind in KIND_LABELS:
        return KIND_LABELS[kind], kind
    if kind[:1] in "FB" and kind[1:].isdigit():  # per micro-batch ops: F3 = forward of micro-batch 3
        return ("forward" if kind[0] == "F" else "backward"), f"micro-batch {kind[1:]}"
    return kind, kind


def simulated_timeline(job: JobSpec, row: dict, steps: int = 3, max_ranks: int = 8,
                       seed: int = 0, profile=None) -> dict:
    """A few simulated steps of ``row``'s plan as Gantt rows (lane, activity, start, end) for the
    first ``max_ranks`` ranks, with the GPU-busy share and time by cause. Returns
    ``{"ok": False, "message": ...}`` when the simulator cannot run this plan, so that the app
    shows a sentence rather than failing. ``profile``: the search's, whose data rates the plan was
    re-checked with (``with_measured_data``), so the timeline plays the same loader."""
    from planner.hardware.data_rates import with_measured_data

    job = with_measured_data(job, profile)
    try:
        cfg = SimConfig.from_detail(row["detail"], job, stack=row.get("stack"))  # the checkpoint on the plan's stack
        per_mb = row["config"]["pp"] > 1 and row["detail"]["num_microbatches"] <= 64
        res = simulate(cfg, steps=steps, seed=seed, timeline=True, microbatch_timeline=per_mb,
                       timeline_max=50_000)
    except Exception as e:  # noqa: BLE001 — a plan the simulator cannot model is reported, not raised
        return dict(ok=False, message=f"simulator could not run this plan: {e.__class__.__name__}: {e}")
    rows = []
    for rank, resource, kind, start, end in res.timeline or []:
        if rank >= max_ranks:
            continue
        act, det = _activity(kind)
        who = "all ranks" if rank < 0 else f"rank {rank}"
        rows.append(dict(lane=f"{who} · {RESOURCE_LABELS.get(resource, resource)}", rank=rank,
                         activity=act, detail=det, start=float(start), end=float(end)))
    tl = pd.DataFrame(rows, columns=["lane", "rank", "activity", "detail", "start", "end"])
    tl = tl.sort_values(["rank", "lane", "start"], key=lambda s: s.where(s != -1, 10**9) if s.name == "rank" else s)
    return dict(ok=not tl.empty, message="" if not tl.empty else "the simulator recorded no events",
                timeline=tl, gpu_busy_share=float(res.gpu_busy_share),
                time_by_cause_s={k: float(v) for k, v in res.time_by_cause_s.items() if v and v > 1e-9},
                step_time_s=res.step_time_s, steps=steps, ranks_shown=min(max_ranks, int(row["config"]["dp"]) * int(row["config"]["pp"])),
                ranks_total=int(row["hardware"]["gpus"]) // max(int(row["config"]["tp"]) * int(row["config"]["cp"]), 1))


# --------------------------------------------------------------------------------------------
# what the app shows when the search finds nothing, tables for people, the report download
# --------------------------------------------------------------------------------------------
def estimate_if_pinned(job: JobSpec, catalog=None, profile=None) -> Optional[dict]:
    """When the search finds nothing (say, nothing fits), the estimate of the configuration the
    inputs name — if they name one (an instance or GPU, and a node count) — so that the app can
    show *why* (memory over capacity). None when the inputs leave the hardware open."""
    cl = job.cluster
    if not (cl.instance or cl.gpu) or cl.nodes is None:
        return None
    try:
        return estimate_job(job, catalog, profile)
    except InputError:
        return None


def pinned_layout(job: JobSpec, pinned: dict) -> tuple[str, str]:
    """The layout ``estimate_if_pinned`` ran, its recompute always named, and why that recompute: after a no-fit
    search the page showed the estimate at the job's recompute (auto runs none: 1,275.0 GiB for Llama-3-70B on one
    p4de at TP1/PP1/ZeRO-0) under the search's error naming its nearest at rc:full (1,193.4 GiB), and neither chart
    said which (QA 44). ("TP1 PP1 DP8 z0 mb1, recompute none", "recompute auto: ...")"""
    cfg = pinned["config"]
    rc = (cfg.get("recompute") if isinstance(cfg, dict) else getattr(cfg, "recompute", None)) or "none"
    layout = config_str(cfg)  # (rc:none is left out of it: said in words after it)
    why = ("training.recompute as set" if job.training.recompute is not None else
           "recompute auto: `planner estimate` runs none; the search above tried each, and its nearest names its own")
    return f"{layout}, recompute {rc}", why


def _duration(hours) -> tuple[str, list]:
    """A column of times to train in one unit a table can still sort by: the unit ``units.duration_unit``
    gives its longest entry, as the terminal's and the report's columns (``fmt_hours_column``) -- minutes
    under two hours, hours under three days, days under 1,000, then years ("days 0.0" for a 30-minute run
    said nothing; the app switched to days at 48 h where the terminal switched at 72 h)."""
    h = pd.Series(hours, dtype=float)
    finite = h[np.isfinite(h)]  # a spot plan that never finishes (inf) does not set the column's unit
    scale, _, name = duration_unit(float(finite.max()) if len(finite) else 0.0)
    # not rounded: ``table_style`` writes each cell in the terminal's decimals (``duration_cell``); rounded here first,
    # a 0.0318-day row read "0.030" where the report and recommend say "0.032" (QA 87)
    return f"{name} to train", (h * scale).tolist()


def _dollars(x) -> list:
    """A $ column's values as they are: ``table_style`` writes each with ``fmt_usd``, the terminal's cents under $1k
    and three figures above. QA 87: rounded here to whole dollars above a $100 column maximum, the sweep's current row
    of the QLoRA example read "$114.00" (and its spot job "$183.00" / "$144.00") beside "$113.90" ("$182.67" /
    "$143.62") for the same plan in the metric and the top alternatives."""
    return pd.Series(x, dtype=float).tolist()


#: the app's count columns (whole numbers, thousands separated, as the terminal's tables print them)
COUNT_COLUMNS = ("#", "nodes", "GPUs", "chips", "accelerators")


def _cell_format(col: str, unit_of_duration: Optional[str]):
    """The terminal's cell format for one of the app's numeric columns, or None for a column shown as it is."""
    from planner.units import duration_cell, fmt_step_s

    def num(f):  # a missing value stays "-" (Styler's na_rep covers NaN; a None in an object column too); a label
        # such as the sensitivity sweep's "128 (current)" in its input's column stays as written
        return lambda x: x if isinstance(x, str) else "-" if x is None or x != x else f(x)
    if col.endswith("$"):  # "on-demand $", "spot $", "cost $": fmt_usd, as recommend's "cost" column
        return num(fmt_usd)
    if col == "step s":
        return num(fmt_step_s)
    if col.endswith(" %") or col == "mem GiB":
        return num(lambda x: f"{x:,.1f}")
    if unit_of_duration is not None:
        return lambda x: x if isinstance(x, str) else duration_cell(x, unit_of_duration)
    if col in COUNT_COLUMNS:
        return num(lambda x: f"{int(x):,}")
    return None


#: an empty cell in the app's tables, as the terminal writes it (``table_style``; the app's ``st.dataframe`` placeholder)
MISSING = "-"


def table_style(frame: pd.DataFrame):
    """One of the app's tables with its numbers written as the terminal writes them (``fmt_usd``, ``fmt_step_s``,
    the duration column's unit decimals, counts thousands-separated) and an empty cell as "-": (a Styler, the
    columns to right-align). A numeric column stays a number underneath (its display values are the Styler's), so a
    click on its header sorts by value, an empty cell among them too: Streamlit draws a missing value as "None"
    whatever the Styler says (measured in Chromium, streamlit 1.67), so the app's ``st.dataframe`` is given
    ``placeholder=MISSING`` (budget35; until then such a column was sent as strings and sorted as text, "$9.8k" above
    "$10.1k"). A column of labels, such as the sweep's "8 (current)", is sent as the terminal's strings
    (right-aligned, as numbers are). Streamlit's default dropped trailing zeros, so a $ column read "28284" beside
    "29100.77" where the terminal prints "$28.3k" and "$29.1k", and drew "None" in an empty spot $ cell (QA 44)."""
    out = frame.copy()
    fmts, right = {}, []
    for col in frame.columns:
        name = str(col)
        f = _cell_format(name, name[:-len(" to train")] if name.endswith(" to train") else None)
        if f is None:
            continue
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = [f(v) for v in out[col]]
            right.append(col)
        else:
            fmts[col] = f
    return out.style.format(fmts, na_rep=MISSING), right


def utilisation_columns(rows) -> dict:
    """The "MFU %" and "HFU %" columns of the app's tables from rows' (or a frame's) ``mfu`` and ``hfu``, the
    step-time model's two shares (step_time: model FLOPs and hardware FLOPs, recompute included, over the step
    at peak) that ``planner estimate``'s "MFU / HFU" row prints. Until small30 the tables showed MFU alone, so a
    full-recompute plan's extra forward was visible only in the metric of the recommended plan (llama3-8b
    on one 8 x H100 node at recompute full, Megatron-Core: MFU 47.5%, HFU 52.6%); a percent with one decimal,
    as "MFU %" was. The columns are ``explain.utilisation_columns``', which the report's tables show too."""
    from planner.search.explain import utilisation_columns as columns

    cols = columns(rows, lambda x: round(float(x) * 100, 1))
    if isinstance(rows, pd.DataFrame):  # a frame's columns keep its index (the app's frames are built from Series)
        return {f"{k} %": pd.Series(v, index=rows.index, dtype=float) for k, v in cols.items()}
    return {f"{k} %": v for k, v in cols.items()}


def rent_column(cost) -> str:
    """The header of a table's rent column: "on-demand $", or the job's own rate's where it gives one
    (``Cost.price_basis`` "cluster.price_usd_hr"; QA 60: its $30 reserved rate sat under "on-demand $")."""
    name = rate_name(cost)
    return "on-demand $" if name == "on-demand" else f"{name} $"


def ranked_cost_column(rec: dict) -> str:
    """The header of the one cost column of the views of the search's table (scaling, best plan per GPU): the figure
    it ranks on, "spot $" (expected, with interruptions: the alternatives' spot column) for a spot search, else
    ``rent_column``. It read "cost $": llama2-13b-spot.yaml's 2-node row $33.8k there beside "on-demand $" $299.2k
    in the alternatives below (the report's scaling caption says "expected spot cost"; QA 82)."""
    return "spot $" if rec.get("spot") else rent_column(rec["best"]["cost"])


def sensitivity_display(df: pd.DataFrame, label: str, rent: str = "on-demand $") -> pd.DataFrame:
    """The sensitivity frame in people's units; ``rent``: the rent column's header (``rent_column``). Its verdicts are
    the report's (``charts.sweep_verdicts``): "fits memory", and "meets deadline" / "within budget" where the job
    states them (QA 83: the column read "fits", llama3-70b's 64-node row "fits yes" at 309.4 d past its 90 days)."""
    dur, hours = _duration(df["hours"])
    return pd.DataFrame({
        label: [f"{v:g}" + (" (current)" if c else "") for v, c in zip(df["value"], df["current"])],
        # seconds, as the other tables' "step s": each row in its own unit read "99.13 s" above "3.3 min"; as it is,
        # written by ``table_style`` (``fmt_step_s``: three figures): rounded to the ms first, a 10.2 ms step read
        # "0.0100" where recommend prints "0.0102" (QA 87)
        "step s": df["step_time_s"],
        dur: hours,
        rent: _dollars(df["cost_ondemand_usd"]),
        "spot $": _dollars(df["cost_spot_usd"]),
        **utilisation_columns(df),  # "MFU %": was "MFU" over 54.3, a percent without its unit
        "mem GiB": df["mem_gib"].round(1),
        **sweep_verdicts(df),
        "note": df["note"],
    })


def ranked_display(rec: dict) -> pd.DataFrame:
    rows = []
    # a spot plan at its expected time and cost with interruptions, as the search ranks it and the report quotes it
    dur, hours = _duration([hours_of(r, rec["spot"]) for r in rec["ranked"]])
    # the count column in the rows' own noun, as the report's alternatives: "chips" for TPU / Trainium rows alone,
    # "accelerators" for a mix (it read "GPUs" over TPU slices)
    nouns = {device_of(r["hardware"]) for r in rec["ranked"]}
    count_col = f"{nouns.pop()}s" if len(nouns) == 1 else ("accelerators" if nouns else "GPUs")
    util = utilisation_columns(rec["ranked"])
    # each plan's stack and fp8 recipe, where the search chose them and they differ, as recommend's table (qa77)
    searched = plan_searched_columns(rec["ranked"])
    rent = rent_column(rec["best"]["cost"]) if rec.get("best") else "on-demand $"  # one rate for the whole search
    for i, (r, h) in enumerate(zip(rec["ranked"], hours), 1):
        c, m = r["cost"], r["memory_per_gpu_bytes"]
        # both prices for the hours beside them (results.ranked_price, as the report's alternatives): the on-demand
        # column held the uninterrupted cost beside the days with the job's checkpoint pauses and node failures
        rows.append({"#": i, "hardware": r["hardware"]["name"], "nodes": r["hardware"]["nodes"],
                     count_col: r["hardware"]["gpus"], "layout": config_str(r["config"]),
                     **{k: v[i - 1] for k, v in searched.items()}, "step s": r["step_time_s"], **{k: v[i - 1] for k, v in util.items()},
                     "mem GiB": round(m["total"] / 2**30, 1), dur: h,
                     rent: ranked_price(c, False), "spot $": ranked_price(c, True)})
    df = pd.DataFrame(rows)
    if rows:  # None (an unpriced option: a bare GPU, or no spot price) stays empty: round(None) raised here
        for col in (rent, "spot $"):
            df[col] = pd.Series(df[col], dtype=float).round(2)
    return df


def unpriced_caption(rec: dict) -> str:
    """The line the app prints under its tables when a plan has no price, so an empty cost cell is read as
    "no price in the catalog", not as free or as an error ("" when every plan is priced)."""
    from planner.search.rank import best_per

    plans = [rec["best"], *rec.get("ranked", ())]
    bare = {p["hardware"]["name"] for p in plans if p["cost"]["cost_ondemand_usd"] is None}
    if rec.get("kept") is not None:  # the per-GPU comparison and the scaling view read the table's kept rows
        bare |= {r["hardware"] for r in best_per(rec["kept"], "gpu") if not (r["cost"] == r["cost"])}
    bare = sorted(bare)
    if not bare:
        return ""
    # a reference system the search found no citable rate for says why (``System.no_price_why``: GB300 NVL72), as
    # the CLI's "no price" note does, so the app does not read as if the catalog merely forgot it
    why = {p["hardware"]["name"]: p["hardware"]["no_price_why"] for p in plans if p["hardware"].get("no_price_why")}
    whys = "".join(f"; {name}: {why[name]}" for name in bare if name in why)
    return (f"empty cost cells: no price for {', '.join(bare)} (a bare GPU or a reference system the catalog "
            f"does not price{whys}); set cluster.price_usd_hr (per node) or pass a priced catalog row to cost it")


def no_spot_caption(plans: list[dict]) -> str:
    """The line under the tables with a "spot $" column (top alternatives, sensitivity) when a priced plan there has
    no spot price, so the empty cell (Streamlit draws "None") is read as "no spot offer in the catalog", as the
    report's "Spot: no spot price in the catalog for this instance." says (QA 44: the default preset's top
    alternatives showed "None" under spot $ for runpod and lambda instances, unexplained). ``plans``: the table's rows
    (the ranked plans; the recommended one for the sensitivity sweep of its hardware). "" when every priced plan has
    one (a plan without any price is ``unpriced_caption``'s)."""
    names = sorted({p["hardware"]["name"] for p in plans
                    if p["cost"]["cost_ondemand_usd"] is not None and p["cost"].get("cost_spot_usd") is None})
    if not names:
        return ""
    return f"empty spot $ cells: the catalog has no spot price for {', '.join(names)} (on-demand only)"


#: CLI options a shared caveat names, as the app's own views that show the same (the app has no --by / --scaling)
APP_VIEWS = {"`--by gpu` shows": 'the "best plan per GPU type" table below shows'}


def app_caveat(text: str) -> str:
    """A recommendation caveat as the app shows it: the CLI options it names replaced by the app's views.

    >>> app_caveat("x is single-node only; `--by gpu` shows the multi-node alternatives")
    'x is single-node only; the "best plan per GPU type" table below shows the multi-node alternatives'
    """
    for cli, view in APP_VIEWS.items():
        text = text.replace(cli, view)
    return text


@dataclass(frozen=True)
class MfuShown:
    """The app's MFU metric: ``value`` the CLI's "MFU / HFU" shares, ``notes`` what MFU counts where it matters."""
    value: str
    notes: tuple[str, ...]


def mfu_shown(job: JobSpec, best: dict) -> MfuShown:
    """MFU and HFU as ``planner estimate``'s "MFU / HFU" row shows them (explain.mfu_hfu_values), with the CLI's
    own words for what MFU counts: its causal-count advice where the masked half of attention is a quarter or
    more of the model FLOPs (explain.causal_count_lines; llama3-8b at 131072 tokens, MFU 60% / HFU 51%), else its
    HFU-below-MFU note where that applies (explain.hfu_below_mfu_note). The app showed MFU alone, up to ~80% at
    long context, with neither until session 28."""
    from planner.search.explain import causal_count_lines, hfu_below_mfu_note, mfu_hfu_values

    notes = causal_count_lines(job, best) or [n for n in (hfu_below_mfu_note(best),) if n]
    return MfuShown(mfu_hfu_values(best), tuple(notes))


def sensitivity_caption(best: dict) -> str:
    """What the sensitivity rows leave out for a data-bound plan (``report.analytic_caveat``, the report's words
    under its own sensitivity tables): each row is an ``estimate_job``, compute-bound, beside metrics from the
    simulated step. "" when the plan was not re-timed by the simulator. The app's sensitivity table showed the
    ResNet-50 files job's "1 (current)" row at 44.4 minutes under a "time to train 10.0 h" metric, saying nothing."""
    from planner.present.report import analytic_caveat

    c = analytic_caveat(best)
    return f"{c[0].upper()}{c[1:]}" if c else ""


def causes_caption(time_by_cause_s: dict, steps: Optional[int] = None, ranked_step_s: Optional[float] = None) -> str:
    """The simulated timeline's time by cause, each as its share of the simulated time (``units.fmt_step_share``, the
    share column of ``planner simulate``'s "where the time goes"), the time itself said once: one number format. QA 83:
    three significant figures each read "compute 5.53, optimizer 0.000941" (and ``.3g`` before qa11 "data 15" beside
    "optimizer 0.000952"). With ``steps`` and the step the plan is ranked at (``ranked_step_s``),
    a timeline whose loaders start cold says so where its steps run more than 5% longer: the first batches pay
    their whole build with nothing prefetched, so the ResNet-50 files job's 3 steps showed data 15.0 s (5.19 s a
    step) under a 2.57 s step metric, the steady state, and nothing said why."""
    total = sum(time_by_cause_s.values())
    text = (f"time by cause, of {fmt_time(total)} simulated: "
            + ", ".join(f"{k} {fmt_step_share(v / total)}" for k, v in time_by_cause_s.items()))
    if steps and ranked_step_s and time_by_cause_s.get("data"):
        per_step = total / steps
        if per_step > 1.05 * ranked_step_s:
            text += (f"; the first {steps} steps from cold loaders ({fmt_time(per_step)} a step: the first batches are "
                     f"built with nothing prefetched), where the plan's {fmt_time(ranked_step_s)} step is the steady state")
    return text


def power_line(rec: dict) -> Optional[str]:
    """The recommended plan's power-limit assumption (``physics.power_limit_words``, which ``recommend`` adds to its
    assumptions: "GPUs at 500 W of H100-SXM-80GB's rated 700 W (cluster.power_limit_w): sustained clock 0.894x ..."),
    said beside the answer; None where its GPUs run at their rated limit."""
    limit = rec["best"]["hardware"].get("power_limit_w")
    if not limit:
        return None
    return physics.power_limit_line(rec["assumptions"])


def sweeps_for(row: dict) -> list[str]:
    """The sensitivity inputs that apply to ``row``'s plan (``Sweep.applies``: the power limit needs a GPU with a
    rated limit)."""
    return [k for k, sw in SENSITIVITY.items() if sw.applies(row)]


def headline(rec: dict) -> str:
    """The app's recommendation line (markdown): the hardware as every output names it (``units.hardware_str``)
    and why. The app spelt it ``{nodes} x {name} ({gpus} x {gpu})``, which for a bare-GPU cluster read
    "2 x H100-SXM-80GB (16 x H100-SXM-80GB)" -- two GPUs -- and "2048" without its thousands separator."""
    best = rec["best"]
    return f"**{hardware_str(best['hardware'])}**, {config_str(best['config'])} — {rec['why']}"


def report_html(job: JobSpec, rec: dict, catalog=None, profile=None, name: str = "job") -> str:
    """The budget-review report of what the app shows, as one self-contained HTML file."""
    return render_html(build_report(job, rec, catalog, profile, job_name=name))


def serving_report_html(view: dict, catalog=None, name: str = "job") -> str:
    """The serving review of what the serving page shows (``serving_view``'s plan), as `planner report` writes it for a
    serving job (``build_serving_report``, the rates held to the catalog planned on); until app59 the serving page
    offered no report."""
    return render_html(build_serving_report(view["job"], view["plan"], job_name=name, catalog=catalog or cached_catalog()))


# --------------------------------------------------------------------------------------------
# serving jobs: the simulated answer and its latency against offered load
# --------------------------------------------------------------------------------------------
#: offered load as multiples of the job's QPS for the latency-vs-QPS view (up to saturation)
QPS_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.15)
_SERVING_VIEWS = _LRU(4)


#: the serving page's arrivals inputs (``serving.arrivals``: planner.spec.schema ``ArrivalsSpec``)
ARRIVAL_FIELDS = ("kind", "burst_factor", "burst_share", "burst_s")


def arrivals_inputs(base: dict) -> dict:
    """The serving job's ``serving.arrivals`` as the page's inputs start (its own shape, else the defaults: Poisson,
    and the mmpp shape ``planner.defaults.MMPP_BURST_*`` should the kind be switched)."""
    a = _load(copy.deepcopy(base)).serving.arrivals
    return {k: getattr(a, k) for k in ARRIVAL_FIELDS}


def with_arrivals(base: dict, kind: str, burst_factor: float, burst_share: float, burst_s: float) -> dict:
    """``base`` with ``serving.arrivals`` set from the page (serve41's shape: a burst ``burst_factor`` x the rate
    between for a ``burst_share`` of the time, ``burst_s`` seconds each); Poisson arrivals carry no shape (the schema
    refuses one beside them). Validated where the view loads it: a bad value is one error naming the field."""
    doc = copy.deepcopy(base)
    doc["serving"] = dict(doc.get("serving") or {})
    shape = dict(burst_factor=burst_factor, burst_share=burst_share, burst_s=burst_s) if kind == "mmpp" else {}
    doc["serving"]["arrivals"] = {"kind": kind, **shape}
    return doc


#: the serving page's prefill-decode disaggregation choices (``serving.disaggregation``, pd51): the job file's words
#: (``vocab.SERVE_DISAGG``: off, auto) and ``DISAGG_SPLIT``, its ``{prefill: P, decode: D}`` (the page's two counts)
DISAGG_SPLIT = "prefill + decode"
DISAGG_CHOICES = (*SERVE_DISAGG.names, DISAGG_SPLIT)


def disagg_inputs(base: dict) -> dict:
    """The serving job's ``serving.disaggregation`` as the page's inputs start: its mode (``DISAGG_CHOICES``) and
    its split's replicas (one of each where it names none, should the mode be switched to a split)."""
    d = _load(copy.deepcopy(base)).serving.disaggregation
    mode = "off" if d.off else "auto" if d.auto else DISAGG_SPLIT
    return {"mode": mode, "prefill": d.prefill or 1, "decode": d.decode or 1}


def engine_version_input(base: dict) -> str:
    """The serving page's engine-release input as it starts: the job's own ``serving.engine_version`` as written, else
    ``latest`` (a value the job file refuses is shown as given; the view answers it with the loader's one line)."""
    v = (base.get("serving") or {}).get("engine_version")
    return LATEST_RELEASE if v is None else str(v)


def with_engine_version(base: dict, text: str) -> dict:
    """``base`` with ``serving.engine_version`` set from the page's text (blank: ``latest``). Validated where the view
    loads it, by the job file's rule (planner.spec.schema ``release_text``): anything but ``latest`` or a release
    number is its one-line error on the page."""
    doc = copy.deepcopy(base)
    doc["serving"] = dict(doc.get("serving") or {})
    doc["serving"]["engine_version"] = text.strip() or LATEST_RELEASE
    return doc


def disagg_refusal(base: dict) -> Optional[str]:
    """Why the job file refuses a prefill-decode split (``serving.disaggregation`` set), as the message `planner serve`
    prints after ``error: serving.disaggregation:``, or None: the loader's (an offline job, a fixed fleet) or
    ``serve``'s (a generic model, ``split_refusal``). A job that fails to load for another reason: None (the view
    shows that line)."""
    from planner.workloads.serving import split_refusal
    from planner.workloads.serving_memory import served_model

    try:
        job = _load(with_disaggregation(base, "auto", 1, 1))
    except InputError as e:
        return e.message if e.field == "serving.disaggregation" else None
    m = served_model(job.model)
    return split_refusal(m) if m is not None else None


def with_disaggregation(base: dict, mode: str, prefill: int, decode: int) -> dict:
    """``base`` with ``serving.disaggregation`` set from the page: ``off`` leaves the field out (the job as given
    where it set none), ``auto`` the word, ``DISAGG_SPLIT`` ``{prefill, decode}``. Validated where the view loads it:
    a combination the job file refuses (an offline job, a fixed fleet, a generic model) is its one-line error."""
    doc = copy.deepcopy(base)
    doc["serving"] = dict(doc.get("serving") or {})
    if mode == DISAGG_SPLIT:
        doc["serving"]["disaggregation"] = {"prefill": int(prefill), "decode": int(decode)}
    elif mode == "off":
        doc["serving"].pop("disaggregation", None)
    else:
        doc["serving"]["disaggregation"] = mode
    return doc


#: the serving page's two-batch overlap choices (``serving.batch_overlap``, tbo53): ``AUTO`` leaves the field out
#: (``serve`` sizes each expert-parallel option with and without it where the engine runs it) and the job file's words
#: (``vocab.SERVE_OVERLAP``: none, two_batch)
OVERLAP_CHOICES = (AUTO, *SERVE_OVERLAP.names)


class OverlapControl(NamedTuple):
    """The serving page's two-batch overlap control for a job: ``value`` its start (the job's own, else ``AUTO``);
    ``drawn``: the job sizes an expert-parallel option (``serving.serving_splits``: an MoE model, EP not turned off),
    the only replicas whose steps split; ``refused``: why the job's engine cannot run it (``overlap_refusal``: the
    control is drawn disabled with it as its help), else None."""
    value: str
    drawn: bool
    refused: Optional[str]


def overlap_control(base: dict) -> OverlapControl:
    """``OverlapControl`` of serving job ``base``. A job the loader or ``serving_splits`` refuses draws no control
    (the view shows that one line)."""
    from planner.workloads.serving import serving_splits
    from planner.workloads.serving_iteration import BATCH_OVERLAP, overlap_refusal
    from planner.workloads.serving_memory import served_model

    try:
        job = _load(copy.deepcopy(base))
        drawn = any(ep for _, ep in serving_splits(job, served_model(job.model)))
    except InputError:
        return OverlapControl(AUTO, False, None)
    s = job.serving
    # the engine has none, or the job's own exchange is one it does not run it over (a searched exchange: some do)
    refused = overlap_refusal(s.engine, s.all2all_backend) if s.engine not in BATCH_OVERLAP or s.all2all_backend else None
    return OverlapControl(s.batch_overlap or AUTO, drawn, refused)


def with_batch_overlap(base: dict, value: str) -> dict:
    """``base`` with ``serving.batch_overlap`` set from the page: ``AUTO`` leaves the field out (searched), none /
    two_batch the word. Validated where the view loads it (``serve``'s one-line refusals)."""
    doc = copy.deepcopy(base)
    doc["serving"] = dict(doc.get("serving") or {})
    doc["serving"].pop("batch_overlap", None)
    if value != AUTO:
        doc["serving"]["batch_overlap"] = value
    return doc


def overlap_lines(plan: dict) -> list[str]:
    """`planner serve`'s ``assumed:`` lines of the two-batch overlap it chose (``serving._overlap_note``: only where
    the job left ``serving.batch_overlap`` out and both were sized), as the plan's assumptions hold them."""
    return [a for a in plan.get("assumptions", ()) if a.startswith("serving.batch_overlap")]


@dataclass(frozen=True)
class ServingSplit:
    """The serving plan's prefill-decode split (``ServingPlan.disaggregation``) as the page shows it: ``metrics``
    (label, value) -- the two sides and their replicas, the GPUs, the KV hand-over link and the $/h beside the
    colocated fleet's -- and ``lines``, `planner serve`'s ``assumed:`` lines of it (``disagg_words``, the CLI's own)."""
    metrics: tuple[tuple[str, str], ...]
    lines: tuple[str, ...]
    split: dict


def serving_split(view: dict) -> Optional[ServingSplit]:
    """The serving view's split (``serving_split``'s ``ServingSplit``), or None where the job leaves
    ``serving.disaggregation`` off."""
    from planner.workloads.serving import disagg_words, split_misses

    d = view["plan"].get("disaggregation")
    if not d:
        return None
    usd = lambda x: "-" if x is None else f"${x:,.2f}/h"  # noqa: E731 -- no price: said as the CLI's "no price"
    metrics = (("prefill replicas", f"{d['prefill']:,} x {d['layout']}"),
               ("decode replicas", f"{d['decode']:,} x {d['decode_layout']}"),
               ("GPUs (split / colocated)", f"{d['gpus']:,} / {d['colocated_replicas'] * d['colocated_tp']:,}"),
               ("KV hand-over", f"{d['link']}, {d['kv_transfer_ms']:,.1f} ms"),
               ("$/h split / colocated", f"{usd(d['usd_per_hr'])} / {usd(d['colocated_usd_per_hr'])}"),
               # a simulated split that misses the targets is no cheaper fleet (its line under the metrics says so)
               ("cheaper", (d.get("cheaper") or "no price") + (" (split misses)" if split_misses(d) else "")))
    return ServingSplit(metrics, tuple(disagg_words(d, d["hardware"])), d)


def serving_view(base: dict, catalog=None, profile=None, factors=QPS_FACTORS,
                 progress: Optional[Callable[[int, int, str], None]] = None) -> dict:
    """``planner serve`` for the app: the plan (a ``results.ServingPlan``, simulation on) and, for its
    recommended size, the simulated p50/p99 TTFT and TPOT at each offered QPS (``factors`` x the job's QPS).
    ``progress(done, total, what)`` follows the plan's simulations (``plan_serving``). The plan and its curve run
    under one simulation bound, the job's ``serving.plan_event_bound`` (``budget_for``): the curve gets what the plan
    left (each had a bound of its own, so the app ran up to twice what the job allowed); ``bound`` says where it
    stands after both (``SimBudget.words``)."""
    from planner.workloads.serving import budget_for, latency_vs_qps, plan_serving
    from planner.workloads.serving_settings import settings_for

    job = _load(copy.deepcopy(base))
    cat = catalog or cached_catalog()
    # the app reruns its script on every widget change: a serving job's plan and curve simulate for ~10-40 s,
    # so an unchanged job, catalog and profile are answered from the cache as ``search`` answers a training job
    key = (job_key(job), id(cat), id(profile), tuple(factors))
    if key in _SERVING_VIEWS:
        return _SERVING_VIEWS[key]
    sim = settings_for(job)
    runs = budget_for(sim)  # the plan's runs and the curve's, bounded together
    res = plan_serving(job, cat, profile, sim=sim, progress=progress, runs=runs)
    best = res["best"]
    points = []
    qps = job.serving.qps
    if qps and best.get("simulated"):
        quick = replace(sim, search_s=60.0, search_requests=3_000)  # a quick curve, not the sizing run
        points = latency_vs_qps(job, best, [qps * f for f in factors], quick, cat, profile, runs=runs)
    view = dict(job=job, plan=res, curve=points, bound=runs.words(), bound_from=sim.plan_event_bound_from)
    _SERVING_VIEWS.put(key, view)
    return view

class ServingOptions(NamedTuple):
    """The serving page's table of the options that meet the targets: `planner serve`'s title, cells and the lines
    under its table (``present.serving.options_table`` and ``options_notes``, the terminal's own)."""
    title: str
    frame: pd.DataFrame
    notes: list[str]


def serving_options(view: dict) -> ServingOptions:
    """`planner serve`'s "serving options" table for the serving view's plan, its cells as the terminal writes them
    (QA 83: the page gave the winner, its curve and the options that do not work, never the ones that do); a plan
    without options (a hardware-metric job) has an empty frame."""
    from planner.present.serving import options_notes, options_table

    res = view["plan"]
    if not res.get("options"):
        return ServingOptions("", pd.DataFrame(), [])
    opts = options_table(res)
    return ServingOptions(opts.title, pd.DataFrame(opts.rows, columns=opts.cols), options_notes(res))


def serving_metrics(view: dict) -> list[tuple[str, str]]:
    """The serving view's headline numbers as (label, value), as ``planner serve`` says them: real-time, the
    simulated replicas, p99 TTFT / TPOT and $ per million requests; offline (``mode: batch``), the simulated
    backlog's requests/s per replica, p50 TPOT and $ per million (a backlog's TTFT is its queue, not a latency;
    the real-time $ was shown as "-")."""
    from planner.present.serving import usd_per_million
    from planner.workloads.serving import NO_TPOT

    best = view["plan"]["best"]
    sim = best.get("simulated") or {}
    hw = ("hardware", f"{best['hardware']} {replica_layout(best)}")
    if view["job"].serving.mode == "batch":
        rps = sim.get("requests_per_s_per_replica", best.get("requests_per_s_offline"))
        usd = sim.get("usd_per_million_requests", best.get("usd_per_million_requests_offline"))
        tpot = (sim.get("tpot_ms") or {}).get("p50")
        return [hw, ("requests/s per replica", f"{rps:,.2f}" if rps is not None else "-"),
                ("p50 TPOT", f"{tpot:,.1f} ms" if tpot is not None else "-"), ("$ per 1M requests", usd_per_million(usd))]
    ttft, tpot = (sim.get("ttft_ms") or {}).get("p99"), (sim.get("tpot_ms") or {}).get("p99")
    if ttft is None and tpot is None:  # analytic only
        ttft, tpot = best.get("ttft_ms"), best.get("tpot_ms")
    # one output token: no TPOT (workloads.serving.NO_TPOT), the TTFT still said;
    # a generic model (a CNN: no KV cache, no tokens) has one request latency, held in tpot_ms, which `planner serve`
    # prints as "p99 ms"; the page read "p99 TTFT / TPOT -" for the ResNet-50 example's 19.9 ms until QA 44
    llm = view["plan"].get("kv_bytes_per_token") is not None
    if llm:
        latency = ("p99 TTFT / TPOT", "-" if ttft is None else f"{ttft:,.0f} / {tpot:,.1f} ms" if tpot is not None
                   else f"{ttft:,.0f} ms / {NO_TPOT}")
    else:
        latency = ("p99 latency", f"{tpot:,.1f} ms" if tpot is not None else "-")
    # the replicas the plan deploys: the simulated count raised to constraints.min_gpus (``workloads.serving._resize``);
    # the simulated one read 1 beside `planner serve`'s 2 for a floor of 8 GPUs of TP4 until QA 42. None without
    # serving.qps: no count to size ("None" was shown)
    replicas = best.get("replicas") if best.get("replicas") is not None else sim.get("replicas")
    # $ per million in `planner serve`'s cell format (three significant figures under $1: "$0.0745", which read "$0.075")
    return [hw, ("replicas", f"{replicas:,}" if replicas is not None else "-"), latency,
            ("$ per 1M requests", usd_per_million(sim.get("usd_per_million_requests") or best.get("usd_per_million_requests")))]


@dataclass(frozen=True)
class ServingBudget:
    """The serving view's month and year (``serve --json``'s ``budget``): ``metrics`` (label, value), ``line``
    ``planner serve``'s "per month:" words, ``range`` the likely range as the report's cost section says it, and
    ``risks`` the report's Risks lines with their numbers (QPS growth, prompt length, spot, the model's accuracy), and
    ``buy`` the fleet's nodes owned (``planner serve``'s "buy:" words, ``serving_budget.fleet_buy``; "" where no server
    price is known: until buy36 the app never showed it)."""
    metrics: tuple[tuple[str, str], ...]
    line: str
    range: str
    risks: tuple[str, ...]
    buy: str = ""


def serving_budget(view: dict) -> Optional[ServingBudget]:
    """What a budget line needs from a real-time serving plan, in the CLI's and the report's words and formatters
    (``present.serving.budget_words``, ``serving_budget.range_cell`` / ``serving_budget_risks``): until app34 the page showed
    $ per hour and per million requests only, where `planner serve` prints "per month: $9.51k ($13.03/h x 730 h,
    on-demand), per year $114.1k" and a likely range of 6 to 10 replicas, $8.15k to $13.6k a month. None where
    the plan has no budget (offline, no QPS, no price)."""
    from planner.present.report import serving_budget_risks
    from planner.workloads.serving_budget import range_cell
    from planner.present.serving import budget_rate, budget_words

    res = view["plan"]
    ob = res.get("offline_budget")
    if ob:  # an offline job has no month: the whole job's $ and hours (budget35; the page showed no $ for it)
        return _offline_budget_view(ob, res)
    b = res.get("budget")
    if not b:
        return None
    hpm = b["hours_per_month"]
    rate = budget_rate(b)  # the job's cluster.price_usd_hr is no on-demand price (QA 61)
    metrics = [(f"$ per month ({hpm:,.0f} h, {rate})", fmt_usd(b["usd_per_month"])),
               (f"$ per year ({hpm * 12:,.0f} h, {rate})", fmt_usd(b["usd_per_year"]))]
    if b["replicas_range"]:  # a generic model has no range, only its reason (said in ``range``)
        lo, hi = b["usd_per_month_range"]
        metrics.append(("likely range, $ a month", f"{fmt_usd(lo)} to {fmt_usd(hi)}"))
    words = f"likely range (model error): {range_cell(b)}" + (f": {b['range_basis']}" if b["replicas_range"] else "")
    risks = serving_budget_risks(b, res["best"]) + ([f"Model accuracy: {res['accuracy']}."] if res.get("accuracy") else [])
    return ServingBudget(tuple(metrics), f"per month: {budget_words(b)}", words, tuple(risks), _buy_line(b.get("buy")))


def price_lines(best: dict) -> tuple[str, ...]:
    """What ``planner recommend`` prints under its table of the winner's other prices and expected figures, in its
    words (``present.terminal``): spot's interruptions and their range, the job's checkpoint pauses and node
    failures, the run on owned nodes and at committed prices (neither ranked on). The page showed none of them, though
    its "prices dated" line named them: llama3-70b.yaml's read "oldest 2024 (aws:p5.48xlarge capacity-block
    commitment)", whose $18.80M the page never gave, and the report's buy figure ($9.08M on owned nodes for the
    run's 934 h) was nowhere on it (QA 82)."""
    from planner.present.terminal import (CKPT_RANKED, CKPT_SPOT, at_rate, buy_words, checkpoint_line,
                                          committed_words, spot_line)

    cost, hw = best["cost"], best["hardware"]
    risk, ckpt = cost.get("spot_risk"), cost.get("checkpoint_failures")
    return tuple(line for line in (
        spot_line(risk) if risk else "",
        checkpoint_line(ckpt, CKPT_SPOT if risk else CKPT_RANKED, spot=bool(risk), rate=at_rate(cost)) if ckpt else "",
        f"buy instead (not ranked on): {buy_words(cost, hw)}" if cost.get("buy") else "",
        f"committed (not ranked on): {committed_words(cost['committed'], hw, cost)}" if cost.get("committed") else "",
    ) if line)


def price_check_lines(result: dict, catalog=None) -> tuple[str, ...]:
    """The CLI's "price check:" lines (``present.terminal.result_price_check_lines``) for a training or serving result
    priced from the page's ``catalog``: a rate outside the catalog's price checks, marked ``!`` in ``planner catalog
    instances``. Until qa89 the page priced p6-b300's spot plan (one zone's reading at 0.112 of on-demand) without a
    word where ``recommend`` says it on stderr. The page lists a real-time fleet's spot what-if among its risks
    (``serving_budget``: ``report.serving_budget_risks``' "Spot:" line), so its rate is checked too (``spot_whatif``;
    QA 94: the page said nothing of p6-b300's flagged spot rate behind it)."""
    from hardware_catalog.price_checks import flagged_rates
    from planner.present.terminal import result_price_check_lines

    return tuple(result_price_check_lines(flagged_rates(catalog or cached_catalog()), result, spot_whatif=True))


def prices_dated_line(priced: Optional[dict]) -> Optional[str]:
    """The "prices dated" words (``present.terminal.price_dates_words``) of a plan's cost, serving budget or offline
    budget, for the page's assumptions: how old the prices behind its $ are, a ``not before`` bound said as one
    (prices38; until then the page said no price's date). None where nothing was priced."""
    from planner.present.terminal import price_dates_words

    p = (priced or {}).get("price_dates")
    return f"prices dated: {price_dates_words(p)}" if p else None


def _buy_line(buy: Optional[dict]) -> str:
    """The serving view's owned-fleet line: ``planner serve``'s "buy:" words (``present.serving.buy_words``)."""
    from planner.present.serving import buy_words

    return f"buy: {buy_words(buy)}" if buy else ""


def _offline_budget_view(ob: dict, res: dict) -> ServingBudget:
    """An offline job's whole cost (``serving_budget.offline_budget``) as the serving view shows it: the job's $, the
    hours its replicas take, $ per 1M output tokens (the view's metrics have $ per 1M requests), the likely range;
    the risks as the report's."""
    from planner.present.serving import offline_words, usd_per_million
    from planner.units import fmt_run_time

    metrics = [(f"$ for the job ({ob['price']})", fmt_usd(ob["usd"])),
               (f"finishes in ({ob['replicas']:,} replica{'s' if ob['replicas'] != 1 else ''})",
                fmt_run_time(ob["hours"])),
               ("$ per 1M output tokens", usd_per_million(ob["usd_per_million_output_tokens"]))]
    if ob["hours_range"]:
        (hl, hh), (ul, uh) = ob["hours_range"], ob["usd_range"]
        metrics.append(("likely range, $ for the job", f"{fmt_usd(ul)} to {fmt_usd(uh)}"))
        words = (f"likely range (model error): {fmt_run_time(hl)} to {fmt_run_time(hh)}, {fmt_usd(ul)} to "
                 f"{fmt_usd(uh)}: {ob['range_basis']}")
    else:
        words = f"likely range (model error): {ob['range_basis']}"
    risks = [f"Model accuracy: {res['accuracy']}."] if res.get("accuracy") else []
    sp = ob.get("spot")
    if sp:
        lo, hi = sp["reclaims_range"]
        risks.append(f"Spot: {sp['reclaims']:.2f} reclaims expected over the {fmt_run_time(ob['hours'])} run "
                     f"({lo:.2f} to {hi:.2f}), each a node gone ~{sp['capacity_wait_minutes']:.0f} min; not in the $ "
                     f"({sp['source']}).")
    return ServingBudget(tuple(metrics), f"job cost: {offline_words(ob)}", words, tuple(risks), _buy_line(ob.get("buy")))


def scaling_display(rec) -> pd.DataFrame:
    """The winner's hardware at each node count with the layout re-optimised (not held), in
    people's units — the app's scaling view (``recommend --scaling``, the report's Scaling)."""
    from planner.search.rank import scaling_view
    from planner.units import config_str

    rows = scaling_view(rec["kept"], rec["best"]["hardware"]["name"])
    dur, hours = _duration([r["days"] * 24 for r in rows])
    cost = ranked_cost_column(rec)
    util = utilisation_columns(rows)
    searched = view_searched_columns(rows)  # each count's stack and fp8 recipe, where searched and they differ (qa77)
    return pd.DataFrame([{"nodes": r["nodes"], "layout": config_str(r), **{k: v[i] for k, v in searched.items()},
                          "step s": r["step_time_s"],
                          **{k: v[i] for k, v in util.items()}, dur: h, cost: round(r["cost"], 2)}
                         for i, (r, h) in enumerate(zip(rows, hours))])


def scaling_caption(rec) -> str:
    """What the scaling view leaves out: the winner's node counts with no plan within the constraints and why
    (``rank.scaling_left_out_note``, recommend --scaling's "note: scaling:" line); "" when none. The app's view
    showed 8 and 16 nodes as if nothing else had been tried until QA 60."""
    from planner.search.rank import scaling_left_out_note

    return scaling_left_out_note(rec.get("nodes_cut") or (), rec["best"]["hardware"]["name"])


def comparison_display(rec, by: str = "gpu") -> pd.DataFrame:
    """The best plan per GPU type (or cloud), side by side (``planner compare``)."""
    from planner.search.rank import best_per
    from planner.units import config_str

    rows = best_per(rec["kept"], by)
    dur, hours = _duration([r["days"] * 24 for r in rows])
    cost = ranked_cost_column(rec)
    util = utilisation_columns(rows)
    searched = view_searched_columns(rows)  # each row's stack and fp8 recipe, where searched and they differ (qa77)
    return pd.DataFrame([{by: r[by], "hardware": r["hardware"], "nodes": r["nodes"], "layout": config_str(r),
                          **{k: v[i] for k, v in searched.items() if k != by},
                          "step s": r["step_time_s"],  # as `planner compare` and the scaling table
                          **{k: v[i] for k, v in util.items()}, dur: h, cost: round(r["cost"], 2)}
                         for i, (r, h) in enumerate(zip(rows, hours))])
