"""The what-if app: ``streamlit run app.py``.

A thin shell: widgets and layout only. Jobs, uploads, the search, sensitivity sweeps and the
simulator timeline live in ``planner/interactive.py``; charts in ``planner/present/charts.py``; the
report in ``planner/present/report.py`` — the same code the CLI runs.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from planner.present import charts
from planner.present.serving import engine_words, rejected_words
from planner.present.terminal import accuracy_line, at_rate
from planner import interactive as wi
from planner.errors import InputError
from planner.results import ranked_hours, ranked_price
from planner.spec.presets import PRESETS
from planner.spec.schema import ArrivalsSpec, ClusterSpec, Disaggregation, TrainingSpec
from planner.units import count_of, device_of, fmt_time, fmt_usd, hardware_str
from planner import defaults as D
from planner.vocab import ARRIVALS, OBJECTIVE, OPTIMIZER, TRAINING_MODE

st.set_page_config(page_title="planner — what if", layout="wide")
GiB = 2**30
AUTO = "auto"
COL_W = 500  # chart width in a half-page column (altair sizes are fixed; the theme=None look matches the report)


def auto(v):
    return AUTO if v is None else str(v)


def table(frame, *notes):
    """A full-width table, then each of its notes that is set, one caption each."""
    # its numbers as the terminal writes them ("$28.3k", not "28284"; "-", not "None"), still sortable by value
    styled, right = wi.table_style(frame)
    # an empty cell of a numeric column drawn "-" (Streamlit draws "None" whatever the Styler says), the column still
    # numbers underneath, so it sorts by value
    st.dataframe(styled, hide_index=True, width="stretch", placeholder=wi.MISSING,
                 column_config={c: st.column_config.TextColumn(alignment="right") for c in right})
    for note in notes:
        if note:
            st.caption(note)


def chart(c, where=None):
    """An altair chart stretched to its column, its title in lines that a narrow column holds (``charts.wrapped_title``:
    at a 500 px window "3 simulated steps, ranks 0-1 of 2 — GPU busy 100.0% of the time" lost its end, app59)."""
    (where or st).altair_chart(charts.wrapped_title(c), width="stretch", theme=None)


def metric_rows(pairs, per_row: int = 3):
    """(label, value) metrics in rows of at most ``per_row``: a metric's value does not wrap (Streamlit cuts it with
    an ellipsis), and six to a row at 1,600 px read "71.4% / 6…" for MFU / HFU 71.4% / 67.7% and "memory per GPU (of
    76 GiB allowed)" lost its GiB (QA 44, measured in Chromium); a label whose value can be a long name (the serving
    view's hardware and TP) takes a row of its own."""
    for i in range(0, len(pairs), per_row):
        row = pairs[i:i + per_row]
        if len(row) == 1:
            st.metric(*row[0])
            continue
        for col, (label, value) in zip(st.columns(per_row), row):
            col.metric(label, value)


def dollars(text: str) -> str:
    """Text with $ amounts for Streamlit's markdown (captions too), which reads "$9.51k ($13.03/h" as LaTeX between
    its two $ signs and drew the figures in a math font."""
    return text.replace("$", "\\$")


def error_box(e: Exception):
    st.error(f"**{getattr(e, 'field', '') or 'input'}**: {getattr(e, 'message', str(e))}")


catalog = wi.cached_catalog()

# --------------------------------------------------------------------------------------------
# sidebar: where the job comes from, then every input
# --------------------------------------------------------------------------------------------
sb = st.sidebar
sb.header("Model")
preset = sb.selectbox("preset", list(PRESETS), index=list(PRESETS).index(wi.DEFAULT_PRESET), key="preset")
upload = sb.file_uploader("or upload a job YAML or a Hugging Face config.json", type=["yaml", "yml", "json"],
                          key="upload", help=f"parsed safely (yaml.safe_load), at most {wi.MAX_UPLOAD_BYTES // 2**20} MiB")
prof_upload = sb.file_uploader("calibration profile (optional, from `planner calibrate`)", type=["json"], key="profile_upload")

if upload is not None:
    data = upload.getvalue()
    source = ("upload", upload.name, hashlib.sha256(data).hexdigest())
    try:
        base = wi.parse_upload(upload.name, data)
    except InputError as e:
        st.title("planner — what if")
        st.error(f"Could not use **{upload.name}** — {e.field}: {e.message}")
        st.caption("Fix the file and upload it again, or remove it to go back to the preset.")
        st.stop()
    source_name = upload.name
else:
    source = ("preset", preset)
    base = wi.preset_base(preset)
    source_name = f"preset {preset}"

# read before the serving view, which takes it as `planner serve --profile` does (it planned without it)
profile = None
if prof_upload is not None:
    try:
        profile = wi.cached_profile(prof_upload.getvalue(), prof_upload.name)
    except InputError as e:
        sb.error(f"profile ignored — {e.field}: {e.message}")

if "serving" in base:  # a serving job: the simulated sizing and its latency against offered load
    if st.session_state.get("_arrivals_source") != source:  # a new job starts the arrivals at its own shape
        for k, v in wi.arrivals_inputs(base).items():
            st.session_state[f"a_{k}"] = v
        st.session_state["_arrivals_source"] = source
    sb.header("Arrivals")
    sb.selectbox("arrivals", ARRIVALS.names, key="a_kind",
                 help="poisson: steady; mmpp: bursts at the same mean QPS (serving.arrivals)")
    flat = st.session_state["a_kind"] != "mmpp"
    # the job file's bounds; a value they refuse (a share of 0 or 1) is the loader's one-line error on the page
    sb.number_input("burst factor (x the rate between bursts)", min_value=1.0, format=wi.NUMBER_FORMAT, disabled=flat,
                    max_value=float(wi.schema_bound(ArrivalsSpec, "burst_factor")), key="a_burst_factor")
    sb.number_input("burst share of the time", min_value=0.0, max_value=1.0, step=0.05, format=wi.NUMBER_FORMAT, disabled=flat,
                    key="a_burst_share")
    sb.number_input("burst length, s", min_value=0.0, max_value=float(wi.schema_bound(ArrivalsSpec, "burst_s")), format=wi.NUMBER_FORMAT,
                    disabled=flat, key="a_burst_s")
    base = wi.with_arrivals(base, *(st.session_state[f"a_{k}"] for k in wi.ARRIVAL_FIELDS))
    # prefill-decode disaggregation (serving.disaggregation, pd51: a job file's only until app53), starting at the
    # job's own; a combination the job file refuses (an offline job, a generic model) is its one-line error on the page
    if st.session_state.get("_disagg_source") != source:
        for k, v in wi.disagg_inputs(base).items():
            st.session_state[f"d_{k}"] = v
        # a job that refuses any split (an offline job, a fixed fleet, a generic model) and sets none: the control
        # drawn disabled at off with the CLI's reason as its help (qa107: it was offered, every choice but off an
        # error). Decided once per job: a keyed widget whose disabled / help change between runs is a new widget
        st.session_state["_disagg_refused"] = wi.disagg_refusal(base) if st.session_state["d_mode"] == "off" else None
        st.session_state["_disagg_source"] = source
    sb.header("Prefill-decode split")
    no_split = st.session_state["_disagg_refused"]
    sb.selectbox("disaggregation", wi.DISAGG_CHOICES, key="d_mode", disabled=no_split is not None,
                 help=f"serving.disaggregation: {no_split}" if no_split else
                      "serving.disaggregation: off (colocated replicas), auto (the planner sizes a split) or "
                      f"{wi.DISAGG_SPLIT} (that many prefill-only and decode-only replicas); stated beside the "
                      "colocated plan, the prompt's KV handed over between them")
    whole = st.session_state["d_mode"] != wi.DISAGG_SPLIT
    c1, c2 = sb.columns(2)
    cap = wi.schema_bound(Disaggregation, "prefill")
    c1.number_input("prefill replicas", min_value=1, max_value=int(cap), step=1, key="d_prefill", disabled=whole)
    c2.number_input("decode replicas", min_value=1, max_value=int(cap), step=1, key="d_decode", disabled=whole)
    base = wi.with_disaggregation(base, *(st.session_state[f"d_{k}"] for k in ("mode", "prefill", "decode")))
    # two-batch overlap (serving.batch_overlap, tbo53: a job file's only until qa107), drawn where the job sizes an
    # expert-parallel option (the only replicas whose steps split); disabled, with why, on an engine without one
    overlap = wi.overlap_control(base)
    if overlap.drawn:
        if st.session_state.get("_overlap_source") != source:
            st.session_state["o_overlap"] = overlap.value
            st.session_state["_overlap_source"] = source
        sb.header("Two-batch overlap")
        sb.selectbox("batch overlap", wi.OVERLAP_CHOICES, key="o_overlap", disabled=overlap.refused is not None,
                     help=overlap.refused or "serving.batch_overlap: auto (each expert-parallel option sized with "
                     "and without it), none, or two_batch (SGLang --enable-two-batch-overlap, vLLM --enable-dbo: each "
                     "DP rank's step as two micro-batches, one's token exchange under the other's compute)")
        base = wi.with_batch_overlap(base, overlap.value if overlap.refused else st.session_state["o_overlap"])
    # the engine's release (serving.engine_version, srvrel54): a pinned image's kernels (vLLM <= 0.11.0 runs Hopper's
    # MXFP4 experts through Marlin); the text is the job file's, validated as the job file validates it
    if st.session_state.get("_release_source") != source:
        st.session_state["r_version"] = wi.engine_version_input(base)
        st.session_state["_release_source"] = source
    sb.header("Engine release")
    sb.text_input("engine release", key="r_version",
                  help="serving.engine_version: latest (the current release) or the release a pinned image runs, "
                       "0.10.2, 0.11.1rc1, 1.0.0")
    base = wi.with_engine_version(base, st.session_state["r_version"])
    st.title(f"planner — serving ({source_name})")
    bar = st.progress(0.0, text="simulating…")  # the serving plan simulates its sizes: 10-40 s the first time
    try:
        view = wi.serving_view(base, catalog, profile, progress=lambda k, n, what: bar.progress(min(k / max(n, 1), 1.0), text=what))
    except InputError as e:
        bar.empty()
        error_box(e)
        st.stop()
    bar.empty()
    res, s_job = view["plan"], view["job"]
    # the hardware and TP on a row of their own: "aws:g6e.xlarge TP1" read "aws:g6e.xlarge …" four to a row (QA 44)
    hw_metric, *numbers = wi.serving_metrics(view)
    metric_rows([hw_metric], per_row=1)
    metric_rows(numbers)
    st.caption(res.get("why", ""))
    for line in wi.overlap_lines(res):  # serve's "assumed:" line of the two-batch overlap it chose (tbo53)
        st.caption(line)
    if res.get("compute_rate"):  # the FLOP/s per GPU the answer is priced at, as `planner serve` prints it (serve40)
        st.caption("compute rate: " + "; ".join(res["compute_rate"]))
    if res.get("engine"):  # the engine and release priced, as `planner serve` prints it (srvrel54)
        st.caption("engine: " + engine_words(res))
    for c in res.get("constraints", ()):  # the job's limits the answer holds to, beside it (as `planner serve` prints them)
        st.caption(f"held to {c}")
    # a real-time fleet's month, year and likely range (`serve --json`'s budget), or an offline job's whole cost,
    # hours and range (its offline_budget)
    budget = wi.serving_budget(view)
    if budget:
        metric_rows(list(budget.metrics))
        st.caption(dollars(budget.line))
        if budget.buy:  # the fleet's nodes owned (serve's "buy:" line, `budget.buy`; until buy36 not on the page)
            st.caption(dollars(budget.buy))
        st.caption(dollars(budget.range))
    if view["curve"]:
        sv = s_job.serving
        chart(charts.latency_qps_chart(view["curve"], sv.ttft_ms, sv.p99_latency_ms, sv.qps))
        unstable = [p["qps"] for p in view["curve"] if p.get("unstable")]
        if unstable:  # not simulated (latency_vs_qps): said, not left as a gap in the lines
            st.caption(f"not plotted: {', '.join(f'{q:,.1f}' for q in unstable)} QPS is at or over the replicas' "
                       "saturated throughput (utilisation >= 1): the queue grows without bound, no finite p99")
        skipped = [p for p in view["curve"] if p.get("not_simulated")]
        if skipped:  # the curve's simulation bound (serving.SimBudget) was spent before these points
            qs = ", ".join(f"{p['qps']:,.1f}" for p in skipped)
            st.caption(f"not simulated: {qs} QPS, past the curve's "
                       f"simulation bound ({skipped[0]['not_simulated']})")
    split = wi.serving_split(view)
    if split:  # serving.disaggregation: the split beside the colocated fleet, and serve's "assumed:" lines of it
        st.subheader("prefill-decode split")
        metric_rows(list(split.metrics))
        sv = s_job.serving
        chart(charts.disagg_chart(split.split, res["best"].get("simulated"), sv.ttft_ms, sv.p99_latency_ms))
        for line in split.lines:
            st.caption(dollars(line))
    for line in wi.price_check_lines(res, catalog):  # a flagged rate the plan is priced at (serve's stderr line)
        st.warning(dollars(line))
    options = wi.serving_options(view)
    if not options.frame.empty:  # the options that meet the targets, best first: serve's "serving options" table (QA 83)
        st.subheader(options.title)
        table(options.frame, *(dollars(n) for n in options.notes))
    left_out = rejected_words(res)
    if left_out.lines:  # the options that miss the targets or a job limit, and why: serve's "does not work:" lines
        st.subheader("options that do not work")
        for line in left_out.lines:
            st.caption(dollars(line))
        if left_out.dated:  # how old their rates are (serve's "prices dated (options that do not work)" line)
            st.caption(dollars(left_out.dated))
    if budget and budget.risks:  # what moves the fleet and its bill, one line each with its number (the report's Risks)
        st.subheader("risks")
        st.markdown("\n".join(f"- {dollars(r)}" for r in budget.risks))
    with st.expander("assumptions"):  # what `planner serve` prints as "assumed:" lines (the page left them out)
        for a in list(res.get("assumptions", ())) + list(res.get("caveats", ())):
            st.markdown(f"- {a}")
        dated = wi.prices_dated_line(res.get("budget") or res.get("offline_budget"))
        if dated:  # how old the budget's prices are (serve's "prices dated:" line; prices38)
            st.markdown(f"- {dated}")
    # `planner report` of the serving job, as the training page's budget review (app59: the serving page had none)
    st.download_button("download the serving review (HTML)",
                       data=lambda: wi.serving_report_html(view, catalog, source_name),
                       file_name="serving-review.html", mime="text/html", key="serving_report")
    if view.get("bound"):  # one bound over the plan and its curve (the job's serving.plan_event_bound), always stated
        st.caption(f"simulation bound: {view['bound']} over the plan and its latency curve together "
                   f"({'serving.plan_event_bound' if view['bound_from'] != 'default' else 'the default'}; "
                   "the job's serving.plan_event_bound sets it)")
    st.stop()

# A new source resets the inputs to its own values (the widgets read st.session_state).
if st.session_state.get("_source") != source:
    start = wi.inputs_from_job(wi.build_job(base, None), catalog)
    for k, v in start.as_dict().items():
        st.session_state[f"w_{k}"] = wi.widget_value(k, v)  # a selectbox's auto as the word (wi.AUTO_SELECTBOXES)
    st.session_state["w_tokens_b"] = (start.tokens or 0) / 1e9
    st.session_state["w_deadline_days"] = (start.deadline_hours or 0) / 24
    st.session_state["w_budget_musd"] = (start.budget_usd or 0) / 1e6
    st.session_state["w_inter_node_gbps"] = start.inter_node_gbps or 0.0
    st.session_state["w_host_ram_gib"] = start.host_ram_gib or 0.0
    st.session_state["w_lora_rank_n"] = start.lora_rank or D.LORA_RANK
    st.session_state["_fabric_own"] = st.session_state["w_fabric"]  # the job's own fabric: kept where it cannot be carried
    st.session_state["_topology_own"] = start.nvlink_topology  # the job's own wiring: kept where no control is drawn
    st.session_state["_source"] = source

s = st.session_state
sb.header("Training")
seqs = wi.takes_sequences(base)  # an image model's plan has no sequence length: its input is shown off, not ignored
sb.select_slider("sequence length", wi.with_value(wi.SEQ_LENS, s["w_seq_len"]), key="w_seq_len", disabled=not seqs,
                 help=None if seqs else "this model reads images (samples), not token sequences: no sequence length")
sb.select_slider("global batch (sequences)" if seqs else "global batch (samples)",
                 wi.with_value(wi.GLOBAL_BATCHES, s["w_global_batch"]), key="w_global_batch")
if s["w_tokens"] is not None:
    # from one token to the job file's limit (``wi.schema_bound``), so an uploaded job's own count is kept
    sb.number_input("training tokens (billions)", min_value=1e-9, key="w_tokens_b", format=wi.NUMBER_FORMAT,
                    max_value=wi.schema_bound(TrainingSpec, "tokens") / 1e9)
c1, c2 = sb.columns(2)
c1.selectbox("precision", wi.PRECISIONS, key="w_precision")  # fp4 too (the loader's alias)
c2.selectbox("optimizer", OPTIMIZER.names, key="w_optimizer")
c1, c2 = sb.columns(2)
c1.selectbox("training mode", TRAINING_MODE.names, key="w_mode",
             help="pretrain / full_finetune train every weight; lora / qlora freeze the base (qlora: NF4)")
c2.number_input("LoRA rank", min_value=1, max_value=4096, key="w_lora_rank_n", disabled=s["w_mode"] not in ("lora", "qlora"))
# the job's own stack section while it is chosen; another stack at its defaults (wi.stack_section)
sb.selectbox("training stack", wi.STACK_CHOICES, key="w_framework",
             help="training.framework: default = the stack the planner picks for the model and mode (the assumptions "
                  "name it); auto = recommend searches the stacks")
stack = wi.field_value(s["w_framework"], "framework")
# the chosen stack's options, as its registry entry lists them (wi.stack_controls; QA 90: only a job file set them),
# each starting at the job's own setting or the stack's default, again whenever the job or the stack changes; each
# offering the values the stack runs beside the options drawn last run (QA 95: NVMe offload once an offload is on)
# and (QA 96) the values that run at the sidebar's precision and TP / PP / CP / ZeRO (as its widgets hold them); the
# options of free numbers and lists as number and text inputs (YAML, as the job file), empty at the stack's default
fresh = s.get("_stack_options_of") != (source, stack)
# the sidebar's training tokens (None keeps the job's steps or epochs), read once for the stack's
# controls and the what-if (review57: one expression computed twice)
tokens = s["w_tokens_b"] * 1e9 if s["w_tokens"] is not None else None
# asked at the sidebar's training mode, which picks the default stack (QLoRA: the HF Trainer; app57)
stack_base = wi.with_mode(base, s["w_mode"], tokens)
stack_opts = wi.stack_controls(stack_base, stack, {} if fresh else {k: s[f"w_stackopt_{k}"] for k in s.get("_stack_drawn", ())
                                                              if f"w_stackopt_{k}" in s},
                               precision=s["w_precision"], parallel={k: s[f"w_{k}"] for k in ("tp", "pp", "cp", "zero")},
                               recompute=s["w_recompute"])
starts = {} if fresh else s.get("_stack_starts", {})
for c in stack_opts:
    key = f"w_stackopt_{c.option}"
    if fresh or wi.restarts(c, s.get(key, wi.NOT_DRAWN), starts.get(c.option, wi.NOT_DRAWN)):
        s[key] = c.value
    if c.kind == "number":  # the field's bounds; a value the job refuses is the loader's one line on the page
        sb.number_input(c.label, min_value=c.bounds[0], max_value=c.bounds[1], step=1 if c.integer else None,
                        format=None if c.integer else wi.NUMBER_FORMAT, key=key, help=c.help,
                        placeholder=c.placeholder)
    elif c.kind == "text":
        sb.text_input(c.label, key=key, help=c.help, placeholder=c.placeholder)
    else:
        sb.selectbox(c.label, c.choices, key=key, format_func=c.word, help=c.help)
s["_stack_options_of"], s["_stack_drawn"] = (source, stack), tuple(c.option for c in stack_opts)
s["_stack_starts"] = {c.option: c.value for c in stack_opts}
sb.header("Parallelism (auto = searched)")
sb.select_slider("micro-batch", wi.with_value(wi.MICRO_BATCHES, s["w_micro_batch"]), key="w_micro_batch", format_func=auto)
sb.select_slider("recompute", wi.RECOMPUTES, key="w_recompute", format_func=auto)
if wi.partial_recompute(wi.with_stack(stack_base, stack)):  # Megatron's --recompute-method / -num-layers
    full_rc = s["w_recompute"] in (None, "full")
    off = None if full_rc else "only with recompute full (or auto)"
    c1, c2 = sb.columns(2)
    c1.selectbox("recompute method", wi.auto_options(wi.RECOMPUTE_METHODS), key="w_recompute_method", disabled=not full_rc,
                 help=off or "block: the first N layers of each stage; uniform: groups of N layers; auto: searched")
    c2.selectbox("recompute layers (N)",
                 wi.auto_options(wi.with_value(wi.RECOMPUTE_LAYERS, wi.field_value(s.get("w_recompute_num_layers")))),
                 key="w_recompute_num_layers", disabled=not full_rc,
                 help=off or "Megatron --recompute-num-layers; auto: the smallest N that fits")
sb.select_slider("tensor parallel (TP)", wi.with_value(wi.TPS, s["w_tp"]), key="w_tp", format_func=auto)
sb.select_slider("pipeline parallel (PP)", wi.with_value(wi.PPS, s["w_pp"]), key="w_pp", format_func=auto)
sb.select_slider("context parallel (CP)", wi.with_value(wi.CPS, s["w_cp"]), key="w_cp", format_func=auto)
sb.select_slider("ZeRO stage (3 = FSDP)", wi.ZEROS, key="w_zero", format_func=auto)

sb.header("Hardware")
sb.multiselect("GPUs (none = all)", sorted(set(wi.gpu_choices(catalog)) | set(s["w_gpus"])), key="w_gpus")
sb.multiselect("clouds (none = all)", wi.cloud_choices(catalog), key="w_clouds")
insts = [wi.AUTO] + wi.instance_choices(catalog, s["w_gpus"], s["w_clouds"])
if s["w_instance"] not in insts:
    insts.append(s["w_instance"])
sb.selectbox("instance type", insts, key="w_instance")
instance = wi.field_value(s["w_instance"])  # None: searched
sb.selectbox("nodes", wi.auto_options(wi.with_value((None, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512), wi.field_value(s["w_nodes"]))),
             key="w_nodes")
sb.select_slider("max GPUs", wi.with_value(tuple(2**k for k in range(0, 14)), s["w_max_gpus"]), key="w_max_gpus",
                 help=f"without a deadline or budget, plans over {D.HORIZON_HOURS / 24:.0f} days are left out")
# only the links the hardware left can carry (a TPU slice none, Trainium EFA: wi.fabric_choices); a choice the hardware
# no longer carries goes back to the instance's own network, the job's own is kept for the planner to refuse in one line
fabrics = wi.fabric_choices(catalog, s.get("w_fabric"), s["w_gpus"], instance, own=s.get("_fabric_own"))
if s.get("w_fabric") not in fabrics:
    s["w_fabric"] = wi.INSTANCE_FABRIC
sb.selectbox("inter-node fabric", fabrics, key="w_fabric",
             help="cluster.fabric: a catalog link (`planner catalog links`) in place of each instance's network, its "
                  "rate per NIC (one per GPU) or per node and its latency; instance default: the catalog's; only the "
                  "links the chosen accelerators' nodes carry")
fabric = wi.fabric_field(s["w_fabric"], base)
sb.number_input("inter-node network, Gb/s per node (0 = catalog)", min_value=0.0, step=100.0, key="w_inter_node_gbps",
                format=wi.NUMBER_FORMAT, max_value=wi.schema_bound(ClusterSpec, "inter_node_gbps"),
                disabled=fabric is not None, help=None if fabric is None else "the inter-node fabric sets it")
power = wi.power_limit_choices(catalog, s["w_gpus"], instance, s.get("w_power_limit_w"))
if power:  # the GPUs' own range (nvidia-smi -pl); none for TPUs alone
    sb.select_slider("power limit, W per GPU", power.options, key="w_power_limit_w",
                     format_func=lambda v: "rated" if v is None else f"{v:,.0f} W",
                     help=f"cluster.power_limit_w: each GPU at the lower of it and its rated limit ({power.ranges})")
segments = () if instance else wi.segment_choices(base, catalog)
if segments:  # an NVL72 rack: the Slurm --segment that is the job's NVLink domain
    sb.select_slider("NVL72 segment (trays of 4 GPUs)", wi.with_value(segments, s.get("w_segment")), key="w_segment",
                     format_func=auto, help="cluster.segment: auto searches the rack (18) and 16 trays; "
                                            "each segment pays its share of whole racks")
wirings = wi.WiringChoices() if instance else wi.topology_choices(base, catalog)
if wirings.options:  # a bare-GPU node that can be wired more than one way (a 4-GPU Hopper board: NVSwitch or the quad mesh)
    if s.get("w_nvlink_topology") == wirings.default:  # a job naming its node's own wiring: that is the default entry
        s["w_nvlink_topology"] = wi.widget_value("nvlink_topology", None)
    sb.selectbox("NVLink wiring", [wi.widget_value("nvlink_topology", v) for v in wirings.options],
                 key="w_nvlink_topology", format_func=wirings.label,
                 help="cluster.nvlink_topology: node default: the chip's platform's wiring, else NVSwitch; a mesh "
                      "gives a group only its members' links")
# the job file's bounds (cluster.host_ram_gib); 0 leaves it to the catalog row or the reference system's RAM per GPU
sb.number_input("host RAM per node, GiB (0 = catalog)", min_value=0.0, step=64.0, key="w_host_ram_gib",
                format=wi.NUMBER_FORMAT, max_value=float(wi.schema_bound(ClusterSpec, "host_ram_gib")),
                help="cluster.host_ram_gib: what an offloading plan may fill, shared by the node's GPUs")
sb.header("Budget")
sb.checkbox("spot instances", key="w_spot")
# not Streamlit's default "%0.2f": a $400 fine-tune's budget (0.0004 $M) read "0.00" beside "0 = none", and a
# 1 h deadline "0.04" days (QA 58); nor a bare "%g", every digit in the browser (wi.NUMBER_FORMAT, QA 80)
sb.number_input("budget, $M (0 = none)", min_value=0.0, step=0.1, key="w_budget_musd", format=wi.NUMBER_FORMAT)
sb.number_input("deadline, days (0 = none)", min_value=0.0, step=1.0, key="w_deadline_days", format=wi.NUMBER_FORMAT)
sb.selectbox("objective", OBJECTIVE.names, key="w_objective")

w = wi.WhatIf(
    seq_len=s["w_seq_len"], global_batch=s["w_global_batch"], micro_batch=s["w_micro_batch"],
    precision=s["w_precision"], optimizer=s["w_optimizer"], recompute=s["w_recompute"],
    # (absent where the stack has no such inputs: Streamlit drops a widget's key when it is not drawn)
    recompute_method=wi.field_value(s.get("w_recompute_method")),
    recompute_num_layers=wi.field_value(s.get("w_recompute_num_layers")),
    mode=s["w_mode"], framework=stack, stack_options={c.option: s[f"w_stackopt_{c.option}"] for c in stack_opts},
    lora_rank=int(s["w_lora_rank_n"]) if s["w_mode"] in ("lora", "qlora") else None,
    tokens=tokens,
    tp=s["w_tp"], pp=s["w_pp"], cp=s["w_cp"], zero=s["w_zero"], gpus=s["w_gpus"], clouds=s["w_clouds"],
    instance=instance, nodes=wi.field_value(s["w_nodes"]), spot=s["w_spot"], max_gpus=s["w_max_gpus"],
    budget_usd=s["w_budget_musd"] * 1e6 or None, deadline_hours=s["w_deadline_days"] * 24 or None,
    objective=s["w_objective"], inter_node_gbps=s["w_inter_node_gbps"] or None, fabric=fabric,
    power_limit_w=s.get("w_power_limit_w") if power else None, segment=s.get("w_segment") if segments else None,
    # (no control: on an instance or a search the job's own wiring stays, for the planner to apply or refuse in one line)
    nvlink_topology=(wi.field_value(s.get("w_nvlink_topology"), "nvlink_topology") if wirings.options
                     else s["_topology_own"]),
    host_ram_gib=s["w_host_ram_gib"] or None,
)

# --------------------------------------------------------------------------------------------
# main: search, then the recommendation and its charts
# --------------------------------------------------------------------------------------------
st.title("planner — what if")
try:
    job = wi.build_job(base, w)
except InputError as e:
    error_box(e)
    st.stop()
st.caption(wi.source_caption(source_name, job))

bar = st.progress(0.0, text="searching…")
try:
    rec = wi.search(job, catalog, profile, top=10,
                    progress=lambda k, n, name: bar.progress(min(k / max(n, 1), 1.0), text=f"searching {name} ({k}/{n})"))
except InputError as e:
    bar.empty()
    error_box(e)
    pinned = wi.cached_view(wi.estimate_if_pinned, job, catalog, profile)  # (once per job, as the search: app57)
    if pinned is not None:
        st.subheader("the configuration as set")
        as_set, why = wi.pinned_layout(job, pinned)  # its recompute named: the error's nearest may use another
        st.caption(f"{hardware_str(pinned['hardware'])}, {as_set} ({why})")
        chart(wi.cached_view(charts.memory_chart, pinned, title=f"memory per GPU as set: {as_set}"))
        chart(wi.cached_view(charts.breakdown_chart, pinned, title=f"where the step time goes as set: {as_set}"))
    st.stop()
bar.empty()

best, spot = rec["best"], rec["spot"]
cost = best["cost"]
mem = best["memory_per_gpu_bytes"]
hw = best["hardware"]
st.success(wi.headline(rec))
for cv in rec.get("caveats", ()):
    st.warning(f"moves the ranking: {wi.app_caveat(cv)}")
# the time and cost the plan is ranked at, as the recommendation line, the CLI's table and the likely range quote them:
# expected with spot interruptions and the job's checkpoint pauses and node failures where modelled (results.ranked_*)
expected = bool((spot and cost.get("spot_risk")) or cost.get("checkpoint_failures"))
mfu = wi.mfu_shown(job, best)  # the CLI's "MFU / HFU" and its words on what MFU counts
metric_rows([
    ("time to train" + (" (expected)" if expected else ""), fmt_time(ranked_hours(cost, spot) * 3600)),
    # the job's cluster.price_usd_hr named as its own rate, not on-demand (QA 60)
    ("cost " + ("(spot" if spot else f"({at_rate(cost)}") + (", expected)" if expected else ")"),
     fmt_usd(ranked_price(cost, spot))),
    ("step time", fmt_time(best["step_time_s"])),
    ("MFU / HFU", mfu.value),
    (f"memory per {device_of(hw)} (of {(mem.get('limit') or mem['capacity']) / GiB:.0f} GiB allowed)", f"{mem['total'] / GiB:.1f} GiB"),
    (f"{device_of(hw)}s", f"{hw['gpus']:,}"),  # "chips" for TPUs and Trainium, as the CLI says
])
for n in mfu.notes:  # under the metrics, beside the MFU figure: long-context MFU passes what the GPU executes
    st.caption(n)
for line in wi.price_lines(best):  # spot's range, checkpoints, buy and committed prices: recommend's lines (QA 82)
    st.caption(dollars(line))
for line in wi.price_check_lines(rec, catalog):  # a rate outside the catalog's price checks: recommend's stderr line
    st.warning(dollars(line))
held = wi.power_line(rec)
if held:  # the GPUs held below their rated limit: the clock the step time is at, beside it
    st.caption(held)
# "1 configuration evaluated" for a fixed layout, as the report's search row says it (QA 63: "1 configurations")
st.caption(f"limits: {best['bottleneck']} · {count_of(rec['evaluated'], 'configuration')} evaluated, {rec['feasible']:,} feasible "
           f"in {rec['search_seconds']:.2f} s")
if best.get("accuracy"):  # the model's own error on published runs of this kind (planner.model.accuracy)
    st.info(accuracy_line(best["accuracy"]))

left, right = st.columns(2)
# views of the (cached) search result: made once per plan, not on every rerun (wi.cached_view)
chart(wi.cached_view(charts.memory_chart, best, width=COL_W), left)
chart(wi.cached_view(charts.breakdown_chart, best, width=COL_W), left)
chart(wi.cached_view(charts.cost_time_chart, rec["kept"], best, spot, width=COL_W - 90), right)
if rec.get("views_note"):  # a data-bound job: the chart's points are the analytic search's compute-bound ones
    right.caption(rec["views_note"])

st.subheader("simulated timeline")
tl = wi.cached_view(wi.simulated_timeline, job, best, steps=3, profile=profile)
if tl["ok"]:
    chart(wi.cached_view(charts.timeline_chart, tl["timeline"], tl["gpu_busy_share"],
          title=f"3 simulated steps, ranks 0-{tl['ranks_shown'] - 1} of {tl['ranks_total']}"))
    st.caption(wi.causes_caption(tl["time_by_cause_s"], tl["steps"], best["step_time_s"]))
else:
    st.info(tl["message"])

st.subheader("sensitivity")
what = st.radio("vary", wi.sweeps_for(best), horizontal=True, key="sens_input",
                format_func=lambda k: wi.SENSITIVITY[k].label)
sens = wi.cached_view(wi.sensitivity, job, best, what, catalog, profile)
if sens["step_time_s"].notna().any():
    # each panel a chart of its own, stretched to the column (a vconcat keeps its fixed width: cut at 500 px, app59);
    # the title a caption, which wraps
    panels = wi.cached_view(charts.sensitivity_panels, sens, wi.SENSITIVITY[what].label, spot, cost.get("price_basis"),
                            job.constraints.deadline_hours, job.constraints.budget_usd)
    st.caption(panels.title)
    for panel in (panels.time, panels.cost):
        chart(panel)
unpriced = wi.cached_view(wi.unpriced_caption, rec)  # said under each table with cost cells, so an empty cell is not read as $0
# under the tables with a spot $ column (the sweep's rows are the recommended hardware's): "None" there is no spot offer
no_spot = wi.no_spot_caption(rec["ranked"])
views_note = rec.get("views_note")  # a data-bound job: these views are compute-bound, the ranked plans simulated
# a data-bound plan: each row is estimate_job's compute-bound figure
table(wi.cached_view(wi.sensitivity_display, sens, wi.SENSITIVITY[what].label, wi.rent_column(cost)),
      wi.sensitivity_caption(best), unpriced,
      wi.no_spot_caption([best]))

st.subheader("scaling (layout re-optimised at each node count)")
table(wi.cached_view(wi.scaling_display, rec), unpriced, views_note, wi.scaling_caption(rec))
st.subheader("best plan per GPU type")
table(wi.cached_view(wi.comparison_display, rec, "gpu"), views_note, unpriced)

st.subheader("top alternatives")
table(wi.cached_view(wi.ranked_display, rec), unpriced, no_spot)

st.download_button("download the budget-review report (HTML)",
                   data=lambda: wi.report_html(job, rec, catalog, profile, source_name),
                   file_name="budget-review.html", mime="text/html", key="report")

with st.expander("assumptions and inputs"):
    inp = rec["inputs"]
    st.markdown(f"- peaks: {inp['peaks']}\n- measured efficiencies: {', '.join(inp['efficiencies_measured']) or 'none'}"
                f"\n- everything else: {inp['efficiencies_prior']}")
    for a in list(rec["assumptions"]) + list(rec["notes"]):
        st.markdown(f"- {a}")
    dated = wi.prices_dated_line(cost)
    if dated:  # how old the best plan's prices are (estimate's "prices dated" row; prices38)
        st.markdown(f"- {dated}")
    for a in best.get("advice", []):
        if a not in mfu.notes:  # already said beside the MFU figure
            st.markdown(f"- advice: {a}")
