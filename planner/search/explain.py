"""Words for numbers: what limits a configuration, and advice where a known pitfall applies."""
from __future__ import annotations

from math import gcd

from planner import defaults as D
from planner.hardware.nvlink import group_link_share, topology_gpus
from planner.model.comm import ep_domain_members
from planner.model.moe import dispatcher_domain, dispatcher_refusal
from planner.model.offload import HOST_RAM_USABLE
from planner.spec import JobSpec
from planner.units import device_of, fmt_count, fmt_pct, fmt_share, fmt_usd
from planner.vocab import CUDA_GRAPH_IMPL

LABELS = {
    "compute_gemm": "GEMM compute",
    "compute_attention": "attention compute",
    "compute_memory_bound": "memory-bound kernels (norms, activations, softmax, loss)",
    "comm_tp": "exposed tensor-parallel all-reduce",
    "comm_cp": "exposed context-parallel K/V exchange",
    "comm_ep": "expert-parallel all-to-all",
    "comm_pp": "pipeline point-to-point sends",
    "comm_zero3": "exposed ZeRO-3/FSDP parameter gathers",
    "comm_dp": "exposed data-parallel gradient reduce and parameter all-gather",
    "bubble": "pipeline bubble",
    "optimizer": "optimizer step",
    # (until stack48 the table left this part out: an offloading plan's rows did not add up to its step)
    "offload": "exposed copies to and from host memory (offload)",
    "data_stall": "data-loading stall",
}
COMM_LINK = {"comm_tp": "intra", "comm_cp": "intra", "comm_ep": "inter", "comm_pp": "inter",
             "comm_zero3": "inter", "comm_dp": "inter"}



#: (group size, rank stride) of the collectives whose rings a mesh node prices on their members' links
#: (planner.model.comm ``group_intra_bw``), read from a plan's layout
MESH_GROUPS = {"comm_tp": lambda cfg: (cfg.get("tp", 1), 1),
               "comm_dp": lambda cfg: (cfg.get("dp", 1), cfg.get("tp", 1) * cfg.get("cp", 1))}

def expert_grid(cfg) -> int:
    """Ranks of one expert grid: etp x ep consecutive ranks (etp innermost), as planner.model.moe."""
    return (cfg.get("etp") or cfg.get("tp", 1)) * cfg.get("ep", 1)


def group_span(top: str, cfg) -> int | None:
    """Consecutive ranks that one group of the collective behind ``top`` spans, in Megatron's rank order
    (planner.model.comm: tp innermost, then cp; the expert grid etp x ep, ``expert_grid``): TP tp ranks, CP
    tp x cp (a CP group strides over the TP ranks), EP etp x ep. The group stays on NVLink when this fits a
    node, else it crosses the network. None for the collectives that always span the DP / PP groups."""
    tp = cfg.get("tp", 1)
    return {"comm_tp": tp, "comm_cp": tp * cfg.get("cp", 1), "comm_ep": expert_grid(cfg)}.get(top)


#: the parts of the step the GPU spends computing (``LABELS``' compute_*), in a compute-bound verdict's words
COMPUTE_PARTS = {"compute_gemm": "GEMMs", "compute_attention": "attention",
                 "compute_memory_bound": "memory-bound kernels"}


def bottleneck_line(res: dict, hw) -> str:
    """One line naming the largest cost besides computing, e.g. "exposed data-parallel gradient reduce on
    400 Gb/s network: 18% of the step" — or, where none reaches 5% of the step, that compute dominates, with its
    parts ("compute-bound: GEMMs 76%, attention 14%, memory-bound kernels 6% of the step; MFU 56%"). Until QA 99
    the largest non-GEMM part was named even where it was compute itself: "limits: attention compute: 14% of the
    step (GEMMs 76%)" on a plan 97% computing. A network that is the catalog's default for an unknown fabric
    (``options.network_assumption``) is called assumed right there."""
    bd = {k: v for k, v in res["breakdown_s"].items() if k in LABELS}
    step = res["step_time_s"]
    if step <= 0:
        return ""
    top = max((k for k in bd if k not in COMPUTE_PARTS), key=lambda k: bd[k], default=None)
    share = bd[top] / step if top else 0.0
    gemm_share = bd["compute_gemm"] / step
    if share < 0.05:
        parts = ", ".join(f"{word} {bd[k] / step:.0%}" for k, word in COMPUTE_PARTS.items()
                          if k in bd and bd[k] / step >= 0.005)
        return f"compute-bound: {parts} of the step; MFU {fmt_pct(res['mfu'])}"
    where = ""
    link = COMM_LINK.get(top)
    span = group_span(top, res["config"])
    if span is not None:  # the group fits in a node: NVLink, not the NIC (a CP group of 16 on 8-GPU nodes read NVLink)
        link = "intra" if span <= hw.gpus_per_node else "inter"
    if link:
        if link == "inter" and res["hardware"]["nodes"] > 1:
            where = f" on {hw.inter_node_bw * 8 / 1e9:.0f} Gb/s network"
            if hw.network_assumed and not hw.network_reference:  # the default for an unknown fabric: say so here
                where = (f" on an ASSUMED {hw.inter_node_bw * 8 / 1e9:.0f} Gb/s per-node network (no sourced fabric "
                         f"for {hw.gpu.name}; set cluster.inter_node_gbps)")
        elif link == "intra":
            where = f" over {hw.gpu.intra_node_link} ({hw.intra_bw / 1e9:.0f} GB/s per {device_of(res['hardware'])})"
            ring = MESH_GROUPS.get(top)
            if ring is not None and topology_gpus(hw.nvlink_topology) is not None:  # a mesh: the group's own links
                n, stride = ring(res["config"])
                links = group_link_share(hw.nvlink_topology, min(n, max(hw.gpus_per_node // stride, 1)), stride,
                                         hw.gpus_per_node)
                where = (f" over {hw.gpu.intra_node_link} ({hw.intra_bw * links / 1e9:.0f} of {hw.intra_bw / 1e9:.0f} "
                         f"GB/s per {device_of(res['hardware'])}: the group's links on the {hw.nvlink_topology})")
    cfg = res["config"]
    shard, dp = cfg.get("dp_shard"), cfg.get("dp", 1)
    if top in ("comm_zero3", "comm_dp") and shard and shard < dp and res["hardware"]["nodes"] > 1:
        # HSDP (parallel.dp_shard): the shard group's gathers / reduce-scatters stay on NVLink when it fits a node
        # (innermost in DP); only the replicas' gradient all-reduce crosses the network -- "on the network" alone
        # named the wrong link for the gathers
        inside = shard * cfg.get("tp", 1) * cfg.get("cp", 1) <= hw.gpus_per_node
        net = f"{hw.inter_node_bw * 8 / 1e9:.0f} Gb/s network"
        where = (f" (HSDP: shard groups of {shard} ranks {'over ' + hw.gpu.intra_node_link if inside else 'on the ' + net}, "
                 f"gradient all-reduce across {dp // shard} replicas on the {net})")
    return f"{LABELS[top]}{where}: {share:.0%} of the step (GEMMs {gemm_share:.0%})"


def host_misfit(mem: dict, noun: str = "GPU") -> str | None:
    """What an offloading plan puts in host memory beyond what it may (``Memory.host`` over ``host_limit``, the
    second half of ``evaluate.fits_memory``), as "131.4 GiB per GPU offloaded, 115.2 GiB allowed"; None where it
    fits. A plan within its GPU memory can fail here alone: estimate's fits line and advice then say so rather
    than blame the GPU. ``noun``: the accelerator's (``units.device_of``): a TPU's MaxText remat offload read "per
    GPU" until QA 54."""
    lim = mem.get("host_limit")
    if lim is None or mem.get("host", 0.0) <= lim:
        return None
    return f"{mem['host'] / 2**30:.1f} GiB per {noun} offloaded, {lim / 2**30:.1f} GiB allowed"


def misfit_lines(res: dict) -> list[str]:
    """Why a plan (its JSON, ``res``) does not fit: its GPU memory over the limit, and (an offloading plan) its host
    memory over what it may fill -- estimate's advice, and simulate's refusal of a plan that cannot start."""
    mem, out = res["memory_per_gpu_bytes"], []
    limit = mem.get("limit", mem["capacity"])  # fits is decided against the limit (capacity less the headroom)
    if mem["total"] > limit:
        out.append(f"does not fit: needs {mem['total'] / 2**30:.1f} GiB, {limit / 2**30:.1f} GiB allowed "
                   f"({mem['capacity'] / 2**30:.0f} GiB {device_of(res['hardware'])} memory less the headroom)")
    noun = device_of(res["hardware"])
    host = host_misfit(mem, noun)
    if host:
        d = res.get("detail", {})
        n = res["hardware"]["gpus_per_node"]
        # a node the catalog gives no RAM figure (offload.host_ram) says whose figure it is
        src = d.get("host_ram_source") or ""
        node = (f" ({HOST_RAM_USABLE:.0%} of the node's {d['host_ram_bytes'] / 2**30:,.0f} GiB RAM"
                + (f", {src}," if "assumed" in src else "") + f" over its {n} {noun}{'s' if n != 1 else ''})"
                if d.get("host_ram_bytes") else "")
        out.append(f"does not fit host memory: {host}{node}")
    return out


def advice(job: JobSpec, res: dict, hw, stack=None, alternatives=()) -> list[str]:
    """Known pitfalls that apply to this configuration. ``stack`` (planner.model.stacks.Stack): a launcher
    that pads the vocabulary itself (Megatron-LM, ``Stack.vocab_pad``) needs no advice to pad it.
    ``alternatives``: the plan with one setting changed, evaluated where it fits (``evaluate.alternatives``)."""
    m, cfg = job.model, res["config"]
    out = []
    pads_vocab = bool(getattr(stack, "vocab_pad", 0))
    if m.is_transformer:
        # a fine-tune's widths are its checkpoint's: only the vocabulary can grow (transformers
        # ``resize_token_embeddings(pad_to_multiple_of=...)``); until QA 86 a LoRA of gpt-oss-20b was told to
        # "pad hidden to 2944", which no released checkpoint allows
        tuned = job.training.mode != "pretrain"
        for name, val, mult in (("hidden", m.hidden, 128), ("head_dim", m.head_dim, 64),
                                ("vocab", m.vocab, 128), ("ffn_hidden", m.ffn_hidden, 128)):
            if val % mult and not (name == "vocab" and pads_vocab) and not (tuned and name != "vocab"):
                out.append(f"model.{name}={val} is not a multiple of {mult}: tensor-core tiles run "
                           f"partly empty (pad {name} to {((val + mult - 1) // mult) * mult})")
        tp = cfg["tp"]
        if (m.vocab // max(tp, 1)) % 64 and not pads_vocab:
            out.append(f"vocab/tp = {m.vocab / tp:.0f} is not a multiple of 64: pad the vocabulary")
    mem = res["memory_per_gpu_bytes"]
    out += alternative_lines(cfg, res["step_time_s"], mem["total"], alternatives)
    if not res["fits"]:
        out += misfit_lines(res)
    bd = res["breakdown_s"]
    out += high_mfu_lines(job, res, stack) + causal_count_lines(job, res, stack)
    out += finetune_lines(job, res, stack) + padding_lines(job) + moe_lines(job, res, hw, stack)
    if bd["bubble"] / res["step_time_s"] > 0.15:
        # only the changes this plan can make: no smaller micro-batch than 1, no "interleaving" for a plan that
        # already interleaves (it said both to a vpp-2, micro-batch-1 plan)
        more = " or ".join((["a smaller micro-batch"] if cfg["micro_batch"] > 1 else []) + ["a larger global batch"])
        out.append(f"pipeline bubble over 15%: more micro-batches ({more})"
                   + (" or interleaving (vpp > 1)" if cfg["vpp"] == 1 else "") + " shrink it")
    return out


#: what another MoE token dispatcher changes, after its alternative line (planner.model.moe ``DISPATCHERS``)
DISPATCHER_WHY = {d: f"{name} sends a token across the network once per destination node (the all-to-all once per "
                     "routed expert) and forwards it over NVLink" for d, name in (("deepep", "DeepEP"), ("hybridep", "HybridEP"))}


def _turn_on(option: str):
    """The values ``STACK_ADVICE`` tries for a switch: on, where the plan's stack runs it off."""
    return lambda st, m, hw, row: () if getattr(st, option) else (True,)


def _other_dispatchers(st, m, hw, row) -> tuple:
    """The MoE token dispatchers of the plan's stack (``Stack.moe_dispatchers``) other than its own that the GPU runs
    and whose group the fabric carries between nodes (planner.model.moe ``DISPATCHER_NEEDS``)."""
    if m.moe is None or not m.is_transformer:
        return ()
    return tuple(d for d in st.moe_dispatchers if d != st.moe_dispatcher
                 and not dispatcher_refusal(d, hw, int(row.etp[0]), int(row.ep[0])))


def _tp_overlaps(st, m, hw, row) -> tuple:
    """The TP overlaps the stack offers (``Stack.tp_overlaps``) where the plan runs none (the option's values, the
    holder table's: ``stacks.OPTION_HOLDERS``)."""
    return () if st.tp_overlap != "none" else tuple(v for v in st.tp_overlaps if v != "none")


#: The stack options advice re-evaluates a plan with (``evaluate.option_alternatives``), one table: per option, the
#: values to try on the plan's stack ``(stack, model, hardware option, one-row candidates) -> values``, each kept where
#: the stack has the option (``stacks.holds``), the model uses it (``stacks.OPTION_USES``), the stack and its rules
#: take it (``Stack.with_options``, ``stack_rules``) and the plan still fits; and, per value, what it changes. A line
#: is said where the model's step with it is ``STACK_MIN_SAVING`` shorter (``alternative_lines``). Until advice48 only
#: the dispatcher was tried (moedisp47): Qwen3-30B-A3B at EP 16 over two ND H100 v5 nodes spent 53% of its step in
#: the all-to-all and estimate named neither the overlap that takes its 9.50 s step to 7.23 s nor that the option
#: exists. CUDA graphs' own memory (static buffers, the capture's pool) is not modelled (``Stack.cuda_graph_impl``),
#: so their line says that the fit is without it.
STACK_ADVICE = {
    "moe_dispatcher": (_other_dispatchers, DISPATCHER_WHY),
    "moe_a2a_overlap": (_turn_on("moe_a2a_overlap"), {True: "Megatron-Core's combined 1F1B schedule "
                        "(--overlap-moe-expert-parallel-comm) runs one micro-batch's all-to-all under another's compute"}),
    "moe_shared_expert_overlap": (_turn_on("moe_shared_expert_overlap"), {True: "the shared experts run on a side "
                                  "stream beside the token dispatch and combine"}),
    "tp_overlap": (_tp_overlaps, {
        "te": "Transformer Engine's userbuffers split the sequence-parallel all-gather / reduce-scatter into chunks "
              "pipelined with the GEMM chunks (Megatron --tp-comm-overlap)",
        "async_tp": "PyTorch's async TP pipelines the TP collectives with the GEMM chunks (symmetric memory; needs "
                    "compile)"}),
    "overlap_grad_reduce": (_turn_on("overlap_grad_reduce"), {True: "the gradient reduce runs in buckets under the "
                                                                    "backward"}),
    "overlap_param_gather": (_turn_on("overlap_param_gather"), {True: "the parameter all-gather runs under the next "
                                                                      "step's forward"}),
    "reshard_after_forward": (lambda st, m, hw, row: (False,) if st.reshard_after_forward and int(row.zero[0]) >= 3
                              else (), {False: "each layer's gathered parameters stay from its forward to its backward: "
                                               "one all-gather fewer per micro-batch"}),
    "cuda_graph_impl": (lambda st, m, hw, row: CUDA_GRAPH_IMPL.names[1:] if st.cuda_graph_impl == "none" else (), {
        v: "CUDA graphs replay the captured layers' kernels with one launch (their own memory is not modelled)"
        for v in ("local", "transformer_engine")}),
    "compile": (_turn_on("compile"), {True: "torch.compile fuses each block's elementwise chains into a few kernels"}),
    "fused_cross_entropy": (_turn_on("fused_cross_entropy"), {True: "the fused linear cross-entropy never holds the "
                                                                    "whole logits"}),
}
#: the shortest step saving a stack option must give for its line (the layout's recompute and micro-batch: 1%)
STACK_MIN_SAVING = 0.02
#: the layout settings ``evaluate.alternatives`` changes, and the least share of the step each must save
LAYOUT_MIN_SAVING = {"recompute": 0.01, "micro_batch": 0.01}


def option_value(value) -> str:
    """A stack option's value as the job file spells it (YAML: ``true``, ``te``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def alternative_lines(cfg: dict, step: float, total: float, alternatives) -> list[str]:
    """Per setting (recompute, micro-batch, each ``STACK_ADVICE`` stack option), the fastest changed value that fits,
    in numbers: its memory and step time against the plan's (``total`` bytes, ``step`` seconds); none when it would
    not save its share of the step (``LAYOUT_MIN_SAVING``, ``STACK_MIN_SAVING``)."""
    out = []
    for field in (*LAYOUT_MIN_SAVING, *STACK_ADVICE):
        alts = sorted((a for a in alternatives if a["field"] == field), key=lambda a: a["step_time_s"])
        if not alts or alts[0]["step_time_s"] >= (1 - LAYOUT_MIN_SAVING.get(field, STACK_MIN_SAVING)) * step:
            continue
        a, saved = alts[0], total - alts[0]["total"]
        line = (f"{field}={option_value(a['value'])} also fits ({a['total'] / 2**30:.1f} of {a['limit'] / 2**30:.1f} "
                f"GiB allowed) and takes {a['step_time_s']:.4g} s per step instead of {step:.4g} s "
                f"({a['step_time_s'] / step - 1:+.0%})")
        if field == "recompute":
            line += (f": recompute={cfg['recompute']} "
                     f"{f'saves {-saved / 2**30:.1f} GiB per GPU' if saved < -0.05 * 2**30 else 'saves no memory'} here")
        if field in STACK_ADVICE:  # evaluate.option_alternatives: the plan's stack with this option set
            why = STACK_ADVICE[field][1].get(a["value"])
            line = "training.framework." + line + (f": {why}" if why else "")
        out.append(line)
    return out


#: the step-time model's two shares of peak, as table columns (header: the result's key): MFU, the model's FLOPs
#: (PaLM convention), and HFU, the FLOPs the kernels run (recompute included) -- planner.model.step_time ``mfu``,
#: ``hfu``, the pair ``planner estimate``'s "MFU / HFU" row prints
UTILISATION = {"MFU": "mfu", "HFU": "hfu"}


def utilisation_columns(rows, fmt) -> dict[str, list]:
    """The "MFU" and "HFU" columns of a table of plans, each share through ``fmt``: ``rows`` are mappings (the
    ranked plans, ``rank.scaling_view`` rows) or a frame (the search's table, the sensitivity sweep), read as its
    records. One helper for every table that shows them: the app's (``interactive.utilisation_columns``, percents
    with one decimal) and the budget-review report's (``units.fmt_pct``), which showed MFU alone until small30b.

    >>> utilisation_columns([{"mfu": 0.475, "hfu": 0.526}], lambda x: round(x * 100, 1))
    {'MFU': [47.5], 'HFU': [52.6]}
    """
    recs = rows.to_dict(orient="records") if hasattr(rows, "columns") else rows
    return {k: [fmt(r[c]) for r in recs] for k, c in UTILISATION.items()}


def searched_column(values: list, searched: bool) -> list | None:
    """Each row's ``values`` as a table column where the search chose them (``searched``) and they differ between
    the rows; None (no column) otherwise: a column of one value repeats the plan's ``assumed: training stack:``
    line, which names it. rec46b wrote it for the fp8 recipe (``fp8_recipe: auto``: Megatron-Core's delayed
    scaling beside torchtitan's rowwise); qa77 gave it the stack, whose rows recommend's ranked table, the report's
    alternatives and the app's tables ranked side by side with no word of which stack each ran.

    >>> searched_column(["rowwise", "mxfp8"], True), searched_column(["rowwise", "rowwise"], True)
    (['rowwise', 'mxfp8'], None)
    """
    return list(values) if searched and len(set(values)) > 1 else None


#: the searched stack columns of a table of plans: header -> (the key of a ranked plan's ``stack`` record, the key
#: of a view row, ``rank._rows``: present only in a search that chose it). The loss: hf-trainer's Liger fused linear
#: cross-entropy (``fused_cross_entropy``, searched where the eager loss's logits keep a plan from fitting); until QA 81
#: no table said which rows ran it: Llama-3.1-8B's full fine-tune on Lambda / RunPod ranked 8 x A100 at 75/76 GiB
#: with it beside an MI300X row without it, and the same layout without Liger needs 84.1 GiB. The dispatcher: the MoE
#: token dispatcher where the search tried several (moedisp47), and its all-to-all overlap (moedisp47b)
SEARCHED_COLUMNS = {"framework": ("name", "framework"), "fp8 recipe": ("fp8_recipe", "fp8_recipe"),
                    "loss": ("fused_cross_entropy", "fused_cross_entropy"),
                    "dispatcher": ("moe_dispatcher", "moe_dispatcher"),
                    "a2a overlap": ("moe_a2a_overlap", "moe_a2a_overlap"),
                    # accelerate's FSDP version where the search tried both (rec54): "-" on a row without FSDP (ZeRO-0/1)
                    "fsdp": ("fsdp_version", "fsdp_version")}
#: the words of a searched column's cells (the stack option's value -> the cell)
SEARCHED_CELLS = {"loss": {True: "Liger fused", False: "eager"}, "a2a overlap": {True: "on", False: "off"},
                  # (the HF Trainer's default version said so, as the stack line says it: hfcp54)
                  "fsdp": {1: "FSDP1", 2: "FSDP2"} | {D.TRAINER_FSDP_VERSION: f"FSDP{D.TRAINER_FSDP_VERSION} (default)"}}


def _searched_cell(head: str, value) -> str:
    """One cell of a searched column: the option's word (``SEARCHED_CELLS``), its value, or "-" where the row's stack
    has no such option."""
    if value is None:
        return "-"
    return SEARCHED_CELLS.get(head, {}).get(value, value) or "-"


def plan_searched_columns(plans: list[dict]) -> dict[str, list]:
    """``searched_column`` of ranked plans (``Plan.to_dict``), header -> cells, only the columns that differ. A
    plan's stack record (``evaluate.stack_record``) names its stack and recipe and lists ``fp8_recipe`` under
    ``searched`` where the search chose it; its stack name is not listed there, and needs not be: plans of several
    stacks come only from a search over them (``training.framework: auto``, or an open one over GPUs and TPUs,
    each platform's own stack: ``space.stack_groups``)."""
    stacks = [p.get("stack") or {} for p in plans]
    cols = {head: searched_column([_searched_cell(head, st.get(key)) for st in stacks],
                                  key == "name" or any(key in st.get("searched", ()) for st in stacks))
            for head, (key, _) in SEARCHED_COLUMNS.items()}
    return {head: c for head, c in cols.items() if c}


def view_searched_columns(rows: list[dict]) -> dict[str, list]:
    """``searched_column`` of comparison / scaling rows (``rank.best_per``, ``rank.scaling_view``), header ->
    cells, only the columns that differ: a row holds ``framework`` / ``fp8_recipe`` where the search chose it."""
    cols = {head: searched_column([_searched_cell(head, r.get(key)) for r in rows], any(key in r for r in rows))
            for head, (_, key) in SEARCHED_COLUMNS.items()}
    return {head: c for head, c in cols.items() if c}


def mfu_hfu_values(res: dict) -> str:
    """"MFU / HFU" as two shares, the figure the CLI's cell and the app's metric show. A share under a twentieth
    of a percent reads "<0.1%" (``units.fmt_share``): a 2-layer toy model's 0.004% printed "0.0% / 0.0%" until
    QA 34."""
    return f"{fmt_share(res['mfu'])} / {fmt_share(res['hfu'])}"


def hfu_below_mfu_note(res: dict) -> str:
    """Why HFU is below MFU, or "" where it is not. HFU below MFU reads as a contradiction (hardware FLOPs
    include recompute, so they are usually the larger); it happens when the causal kernel skips the masked half
    of attention that MFU counts in full (``causal_count_lines``)."""
    if res["hfu"] < res["mfu"] - 5e-4:
        return ("HFU below MFU: MFU counts causal attention in full, the PaLM convention; HFU counts what the "
                "kernels run, the masked half skipped")
    return ""


def throughput_words(res: dict) -> str:
    """The "throughput" cell of ``estimate`` and the report: the rate a second and per device, and on padded rows
    (``padding_share``) what it counts -- row positions, padding included (the hardware's rate, MFU's basis) -- beside
    the real tokens a second, which the time to train counts since QA 98 (until QA 100 the line said "tokens/s" of
    positions unsaid: Llama-3-8B 600-token examples padded to 2,048 read 57,512 tokens/s, 16,849 of them real)."""
    unit, noun = res.get("throughput_unit", "tokens"), device_of(res["hardware"])
    rate = f"{res['tokens_per_s']:,.0f} {unit}/s ({res['tokens_per_s_per_gpu']:,.0f} per {noun})"
    pad = res.get("padding_share") or 0.0
    if not pad:
        return rate
    return (f"{rate} of row positions, {pad:.0%} padding; {res['real_tokens_per_s']:,.0f} real {unit}/s "
            f"({res['real_tokens_per_s_per_gpu']:,.0f} per {noun})")


def most_loaded_words(res: dict, short: bool = False) -> str:
    """Which rank the memory figures are, for the memory table's caption ("most loaded rank: ...") and the chart's
    bar: the pipeline stage that peaks (``memory_per_gpu_bytes.most_loaded_stage``, memory.PEAK_STAGES) where the
    plan has stages, and at PP 1 what is true there: one stage, every rank holds every layer (a TP / CP / DP / EP
    share of each) and the same bytes. Until QA 100 a PP 1 plan read "first pipeline stage" of its one stage.
    ``short``: the chart's bar label. A result without its layout (``config``) keeps the stage's words."""
    pp = int((res.get("config") or {}).get("pp") or 0)
    if pp == 1:
        return "every rank (PP 1)" if short else "every rank alike (PP 1: one pipeline stage holds every layer)"
    stage = res["memory_per_gpu_bytes"].get("most_loaded_stage", "first")
    return f"{stage} stage" if short else f"{stage} pipeline stage"


def peak_rank_line(res: dict) -> str | None:
    """Which pipeline rank holds the peak and by how much, against what the plan may use ("peak rank: 1 (middle)
    50.1 GiB of 76.0 allowed"; the memory model's ``rank_memory``, whose peak is the memory line's total since
    mem43); None without a per-rank figure or on one pipeline rank."""
    r, mem = res.get("memory_per_rank"), res["memory_per_gpu_bytes"]
    if not r or len(r["ranks"]) < 2:
        return None
    gib = 2**30
    who = "past 0" if r["peak_rank"] is None else r["peak_rank"]
    room = (f"{mem['limit'] / gib:.1f} allowed" if mem.get("limit") is not None
            else f"{mem['capacity'] / gib:.0f} {device_of(res['hardware'])} memory")
    return f"peak rank: {who} ({r['peak_stage']}) {r['peak'] / gib:.1f} GiB of {room}"


def mfu_hfu(res: dict) -> str:
    """The "MFU / HFU" cell: the shares (``mfu_hfu_values``), and where HFU is below MFU, why
    (``hfu_below_mfu_note``)."""
    note = hfu_below_mfu_note(res)
    return mfu_hfu_values(res) + (f" ({note})" if note else "")


def high_mfu_lines(job: JobSpec, res: dict, stack=None) -> list[str]:
    """What an MFU at the top of published runs (``defaults.HIGH_MFU``) assumes, said beside it: the recompute, the
    attention kernel (``stack_kernels.fused_attention``, as the step time prices it) and where the collectives run (the
    nodes, TP and PP). The published runs that high share them: the FlashAttention-2 paper's A100 72.7% (arXiv:
    2307.08691 Table 1, README "MFU envelope") ran one node of DDP without activation checkpointing on fused
    kernels. Until qa65 the A100 Llama-3-8B plan printed 71% MFU with none of it said."""
    from planner.defaults import HIGH_MFU
    from planner.model.stacks import from_training
    from planner.model.stack_kernels import fused_attention

    m, t, cfg, hw = job.model, job.training, res["config"], res["hardware"]
    if not m.is_transformer or res["mfu"] < HIGH_MFU:
        return []
    stack = stack or from_training(t, model=m)
    rc = cfg["recompute"]
    attn = "a fused attention kernel" if fused_attention(stack, m, t) else "unfused attention"
    nodes = hw["nodes"]
    where = (f"{nodes} node{'s' if nodes != 1 else ''} of {hw['gpus_per_node']}"
             + (f", TP {cfg['tp']}" if cfg["tp"] > 1 else "") + (f", PP {cfg['pp']}" if cfg["pp"] > 1 else ""))
    return [f"MFU {res['mfu']:.0%} assumes {'no activation recompute' if rc == 'none' else f'{rc} recompute'}, {attn} "
            f"and {stack.name}'s other kernels as the training stack line lists them, on {where}: the published runs "
            f"at {HIGH_MFU:.0%}+ ran so (README \"MFU envelope\": the best A100 run 72.7%, one node, no recompute)"]


def causal_count_lines(job: JobSpec, res: dict, stack=None) -> list[str]:
    """MFU counts a causal model's attention in full (PaLM App. B; planner.model.flops), while its causal
    kernel skips the masked half: at long sequences that half is most of the step, and MFU passes what the
    GPU executes (Llama-3-8B at 1M tokens, CP 8: MFU 90%). HFU counts what the kernels execute (flops.
    step_flops' ``hardware``). Said, with the executed share of the model FLOPs (the same step_flops with
    ``causal_half``), where the masked half is a quarter or more of the model FLOPs (8B from ~32K tokens).

    Only where the plan's stack runs a fused kernel (``stack_kernels.fused_attention``, the rule the step time and HFU use):
    without one the full score matrix runs, masked half included, and nothing is skipped. Until QA 39b this read
    ``training.flash_attention`` alone, so gpt-oss on the Hugging Face stacks, which run its sink attention eagerly
    whatever that flag says (``stack_kernels.eager_sink_attention``), was told its causal kernel skipped half. ``stack``:
    the plan's (``advice``'s); else the one the plan's stack record names, else the job's."""
    m, t = job.model, job.training
    if not (m.is_transformer and m.causal):
        return []
    from planner.model.flops import step_flops
    from planner.model.stacks import from_training
    from planner.model.stack_kernels import fused_attention

    if stack is None:
        named = (res.get("stack") or {}).get("name")
        stack = from_training(t, named) if named else from_training(t)
    if not fused_attention(stack, m, t):
        return []
    rc = res["config"]["recompute"]
    full = step_flops(m, t.seq_len, t.global_batch, rc, True)
    half = step_flops(m, t.seq_len, t.global_batch, rc, True, causal_half=True)
    model = float(half["model"]) / float(full["model"])
    if model > 0.75:
        return []
    return [f"MFU {res['mfu']:.0%} counts causal attention in full (PaLM convention); the causal kernel skips "
            f"its masked half, {1 - model:.0%} of the model FLOPs here: about {res['mfu'] * model:.0%} of peak "
            f"is model work executed (HFU {res['hfu']:.0%} counts what the kernels run, recompute included)"]


def padding_lines(job: JobSpec) -> list[str]:
    """``training.packing: padded`` pays for every padded position (``cost.dataset_sequences``: one example a
    row): the time, tokens and throughput count the padding. Said, with the share and what packing would
    take, where the examples are shorter than the row (a full fine-tune of 1,000-token examples in 4,096-token
    rows read "1.64B tokens" for 0.4B of data, nothing saying 76% of the compute was padding)."""
    m, t = job.model, job.training
    if not (m.is_transformer and t is not None and t.packing == "padded" and t.mean_example_tokens
            and t.dataset_samples and t.mean_example_tokens < t.seq_len):
        return []
    pad = 1.0 - t.mean_example_tokens / t.seq_len
    return [f"training.packing padded: each ~{t.mean_example_tokens:,.0f}-token example is padded to a {t.seq_len:,}-token "
            f"row, so {pad:.0%} of the positions computed (and about that share of the time and cost) are padding; the "
            f"tokens and $ per 1M tokens count the real tokens only; packed "
            f"rows would take about {t.mean_example_tokens / t.seq_len:.2f}x the steps (training.packing: packed)"]


def finetune_lines(job: JobSpec, res: dict, stack=None) -> list[str]:
    """What a frozen base (lora/qlora) changes, in numbers (planner/model/finetune.py). The step's model FLOPs
    per parameter per token are set beside those of the same step training every weight (``flops.step_flops``
    over the same attention span, ``flops.attention_span`` of the plan's ``stack``): both hold the attention
    core, which a frozen base does not shrink. The line compared them with a bare 6 (6N, no attention), so a
    rank-16 LoRA of Llama-3.1-8B at 32K tokens read "10.2 FLOPs per parameter per token instead of 6", more
    than full training, whose step at that length is 12.0. Per *active* parameter (``count_params(m).active``, the
    weights a token runs through; the total for a dense model): a MoE's step divided by its total read "1.2 FLOPs
    per parameter per token, 94% of the 1.2" for a LoRA of Qwen3-30B-A3B, 30.5B parameters of which 3.35B run a
    token, where the 6N / 4N a practitioner checks the line against are per active parameter (QA 81)."""
    from planner.model.finetune import on_stack

    # the plan's stack decides the adapters (finetune.expert_adapters: Megatron-Core's fused modules); under
    # ``framework: auto`` the job names none (left47b: a dense LoRA's adapters differ by stack too)
    m, t = job.model, on_stack(job.training, stack)
    if not (m.is_transformer and t.mode in ("lora", "qlora")):
        return []
    from planner import defaults as D
    from planner.model.finetune import (adapter_params, base_weights, bnb_ignored_by_fsdp2, frozen_storage_bytes,
                                        fsdp_version, quantized_params, unmatched_targets)
    from planner.model.flops import attention_span, step_flops
    from planner.spec.params import count_params

    pc = count_params(m)
    n, a, active = pc.total, adapter_params(m, t), pc.active
    kind = base_weights(t)
    dq = " with double quantisation" if kind == "nf4" and t.double_quant else ""
    if stack is None:
        from planner.model.stacks import from_training
        stack = from_training(t)
    tokens = t.global_batch * t.seq_len
    full = float(step_flops(m, t.seq_len, t.global_batch, attn_span=attention_span(t, stack.doc_masking))["model"])
    # a bitsandbytes base quantises the nn.Linear layers only: the rest stays fp32 (peft's
    # prepare_model_for_kbit_training), which on a transformers 5.x MoE is the fused 3-D experts, most of the model:
    # gpt-oss-20b's QLoRA base read "stored as nf4 ...: 75.8 GiB (3.89 bytes/param)" with no word of why (QA 43)
    q = quantized_params(m, t)
    if kind in ("nf4", "int8") and q < n:
        rest = "the fused 3-D experts, routers, " if m.moe is not None and not D.QUANTIZE_FUSED_EXPERTS else ""
        dq += (f" on its {fmt_count(q)} nn.Linear parameters; the other {fmt_count(n - q)} ({rest}embedding, head, "
               "norms) fp32 (peft prepare_model_for_kbit_training)")
    stored = frozen_storage_bytes(m, t, stack)
    if stored < frozen_storage_bytes(m, t):  # the engine's module cast (finetune.engine_casts_module, lorads50b)
        dq += f", cast to {t.precision} by the engine{'s module cast (the packed weights stay)' if q < n else ''}"
    elif q < n and fsdp_version(stack) == 1 and res.get("config", {}).get("zero", 0) >= 2:
        # FSDP1 holds them in the quant storage's dtype (memory.fsdp1_bnb_storage_bytes; qlora54b)
        dq += (", under FSDP1 in the bnb_4bit_quant_storage dtype instead (one dtype a FlatParameter with the "
               "packed weights)")
    # the Trainer's default FSDP2 shards no quantised linear (finetune.bitsandbytes_layer_bytes; qlora54)
    whole = ("; FSDP2 (fsdp_version 2) leaves the quantised linears whole on every GPU (accelerate PR #3987): "
             "fsdp_version 1 with a float bnb_4bit_quant_storage shards them (FSDP-QLoRA)"
             if q < n and res.get("config", {}).get("zero", 0) >= 3 and bnb_ignored_by_fsdp2(stack) else "")
    miss = unmatched_targets(m, t)
    missed = (f"; {', '.join(miss)} {'matches' if len(miss) == 1 else 'match'} no module of {m.name or 'the model'}: "
              "only the other targets are adapted") if miss else ""
    mine = res["flops_per_step"]
    wgrad = _wgrad_words(m, t)
    return [
        f"{t.mode}: frozen base stored as {kind}{dq}: {stored / 2**30:.1f} GiB ({stored / n:.2f} bytes/param); "
        f"{fmt_count(a)} adapter parameters "
        f"(rank {t.lora.rank}, {t.lora.targets if isinstance(t.lora.targets, str) else ','.join(t.lora.targets)}; "
        f"{a / n:.2%} of {n / 1e9:.1f}B) carry the gradients and optimizer state{missed}{whole}",
        f"frozen base: backward computes input gradients only{wgrad}: {mine / tokens / active:.1f} FLOPs per "
        f"{'active ' if active < n else ''}parameter per token, {mine / full:.0%} of the {full / tokens / active:.1f} "
        "of training every weight on this step (attention included)",
    ]


def _wgrad_words(m, t) -> str:
    """How the stack's LoRA code meets a MoE's experts (finetune.EXPERT_ADAPTERS), in the frozen-base line: peft's
    ParamWrapper runs the fused experts / router on W + delta, whose full weight gradient is computed; Megatron-Bridge
    / NeMo 2 run an adapter per token and expert beside the frozen grouped GEMM (mlora47: priced as peft's until then)."""
    from planner.model.finetune import adapted, expert_adapters, full_weight_grads

    wg = full_weight_grads(m, t)
    if wg:
        return f" (but {', '.join(r.replace('_', ' ') for r in wg)}: a full weight gradient, {expert_adapters(t).source})"
    if m.moe is not None and any(mo and r and L.copies > 1 for mo, _, _, L, r in adapted(m, t)):
        return f" (the routed experts too: {expert_adapters(t).source})"
    return ""


def moe_lines(job: JobSpec, res: dict, hw, stack=None) -> list[str]:
    """Where the expert-parallel all-to-all runs and what it costs (``stack``: the plan's, for its dispatcher)."""
    m, cfg = job.model, res["config"]
    if not (m.is_transformer and m.moe is not None):
        return []
    ep, g, grid = cfg["ep"], hw.gpus_per_node, expert_grid(cfg)
    share = res["breakdown_s"]["comm_ep"] / res["step_time_s"]
    e = m.moe
    local = e.experts // max(ep, 1)
    out = capacity_lines(m, res)
    if ep == 1:
        if grid > 1 and share > 0:
            # ETP = TP > 1 at EP 1: each rank holds a 1/etp slice of every expert and the dispatcher all-gathers the
            # routed rows over the ETP group (reduce-scatter in the combine), booked as comm_ep; "no all-to-all"
            # alone sat beside 2.01 s of it in an 18.63 s step (Mixtral-8x7B TP4 EP1) until QA 51
            return out + [f"MoE: {e.experts} experts (top-{e.top_k}) on every rank (EP=1), each split over ETP={grid}: no "
                    f"all-to-all, but the routed rows' all-gather / reduce-scatter over the ETP group: "
                    f"{share:.0%} of the step"]
        return out + [f"MoE: {e.experts} experts (top-{e.top_k}) replicated on every rank (EP=1): no all-to-all"]
    disp = getattr(stack, "moe_dispatcher", "alltoall")
    g_disp = int(dispatcher_domain(disp, ep, grid // max(ep, 1), g))
    if g_disp < min(grid, g):  # DeepEP's 8-rank nodes, HybridEP's equal domains (moe.dispatcher_domain)
        why = ("DeepEP's kernels take every 8 ranks as a node (NUM_MAX_NVL_PEERS)" if disp == "deepep" else
               f"HybridEP needs equal domains: {g_disp} ranks a domain, gcd({grid}, {g})")
        return out + [f"MoE: EP={ep} ({local} of {e.experts} experts per rank), {disp} dispatch over "
                      f"{hw.gpu.intra_node_link} inside {g_disp}-GPU groups and each GPU's "
                      f"{hw.inter_node_bw / g * 8 / 1e9:.0f} Gb/s NIC between them ({why}): {share:.0%} of the step"
                      + straddle_note(grid, g, cfg)]
    note = straddle_note(grid, g, cfg)
    where = (f"inside one node over {hw.gpu.intra_node_link}" if grid <= g and not note
             else f"over {hw.gpu.intra_node_link} inside a node and each GPU's {hw.inter_node_bw / g * 8 / 1e9:.0f} Gb/s "
                  f"NIC across nodes" if grid <= g
             else f"across {grid // g} nodes on {hw.inter_node_bw * 8 / 1e9:.0f} Gb/s")
    return out + [f"MoE: EP={ep} ({local} of {e.experts} experts per rank), all-to-all {where}: "
            f"{share:.0%} of the step" + note + segment_note(grid, g, cfg, hw)]


def segment_note(grid: int, g: int, cfg, hw) -> str:
    """Why a plan runs in Slurm segments smaller than its NVL72 rack (planner.hardware.options ``rack_segment``):
    the expert grids tile the segment where whole racks would split some of them (``straddle_note`` at the rack's
    size). Empty on other hardware, on whole racks, and where the racks would split none."""
    rack = getattr(hw, "rack_gpus", None)
    if not rack or g >= rack or straddle_note(grid, g, cfg):
        return ""
    on_rack = straddle_note(grid, rack, cfg)
    if not on_rack:
        return ""
    return (f"; it runs in {g}-GPU Slurm segments (--segment={hw.segment_trays}, {hw.idle_gpus_per_rack} GPUs of each "
            f"{rack}-GPU rack idle), which these groups tile: on whole racks " + on_rack.split(" -- ", 1)[1].split(
                ", priced")[0].replace("node boundary", "rack boundary").replace("one node", "one rack"))



def capacity_lines(m, res: dict) -> list[str]:
    """What token dropping (``model.moe.dropless: false``) does to the plan's numbers, which nothing said: a
    capacity factor below 1 drops routed (token, expert) rows that then skip the experts, so the model FLOPs (MFU)
    and the step count only the kept rows (``flops.dropped_expert_flops_per_token``; Mixtral-8x22B at 0.5: 40% fewer
    model FLOPs a step, unsaid until QA 51); padding to capacity computes empty rows that HFU counts and MFU does not
    (``flops.padded_expert_flops_per_token``). Balanced routing; a stated imbalance drops more from the busiest
    experts (``moe.kept_rows``)."""
    e = m.moe
    if e is None or e.dropless:
        return []
    from planner.model.flops import dropped_expert_flops_per_token, padded_expert_flops_per_token, routed_expert_flops_per_token
    from planner.model.moe import kept_rows

    routed = routed_expert_flops_per_token(m)
    kept, drop, pad = kept_rows(e), dropped_expert_flops_per_token(m), padded_expert_flops_per_token(m)
    line = (f"MoE token dropping: capacity factor {e.capacity_factor:g}, each expert takes at most "
            f"{e.capacity_factor:g}x its mean load")
    if kept < 1.0:
        per_token = res["flops_per_step"] / max(res["step_time_s"] * res["tokens_per_s"], 1.0)  # model FLOPs a token
        drop = 3.0 * drop  # forward + backward (2 x) of the dropped rows, as the model FLOPs count the kept ones
        line += (f"; with balanced routing {1 - kept:.0%} of the routed (token, expert) rows are dropped and skip the "
                 f"experts: the model FLOPs and MFU count the kept rows only ({drop / (per_token + drop):.0%} fewer "
                 f"FLOPs a token than dropless)")
    elif e.imbalance > e.capacity_factor:
        line += f"; rows past it on the busiest experts (imbalance {e.imbalance:g}) are dropped"
    elif e.imbalance > 1:
        line += f"; the busiest expert (imbalance {e.imbalance:g}) stays under it: no row is dropped"
    else:
        line += "; with balanced routing no row is dropped"
    if pad:
        line += (f"; padded to capacity, the experts also compute {pad / routed:.0%} more rows of padding "
                 f"(in HFU, not MFU)")
    return [line]

def straddle_note(span: int, g: int, cfg) -> str:
    """Where groups of ``span`` consecutive ranks do not tile the node: Megatron's rank order lays them end to end over
    the job's tp x cp x dp x pp ranks, and a job larger than one node fills the nodes in order, so a group that starts
    at an offset its span does not fit in from there crosses into the next node (EP 64 on 72-GPU GB200 NVL72 domains:
    7 of every 9 groups, the worst with 8 ranks on one domain). Priced since ep40 (comm ``ep_domain_members``, moe
    ``ep_link_bytes``): the worst-placed rank reaches ep - c of its peers through its NIC, c the group's members on
    its domain; said here with c. Empty where the groups tile the nodes (8-GPU nodes, 64-GPU
    segments)."""
    total = cfg.get("tp", 1) * cfg.get("cp", 1) * cfg.get("dp", 1) * cfg.get("pp", 1)
    if span <= 1 or total <= g or g % span == 0 or span % g == 0:
        return ""
    offsets = range(0, total, span)
    cross = sum(1 for o in offsets if (o % g) + span > g) if span < g else len(offsets)
    worst = gcd(span, g)
    ep = cfg.get("ep", 1)
    fewest = int(ep_domain_members(ep, span // max(ep, 1), total, g)[0])
    return (f" -- {cross} of the {len(offsets)} {span}-rank groups cross a {g}-GPU node boundary in Megatron's rank "
            f"order (the worst with {worst} ranks on one node), priced: the worst-placed rank has {fewest} of its {ep} "
            f"EP peers on its node and reaches the other {ep - fewest} through its NIC; GPUs scheduled in blocks the "
            f"groups tile avoid it (cluster.gpus_per_node a multiple or a divisor of {span})")


#: the columns of the ``training.framework auto`` comparison (planner.search.rank.stack_comparison rows)
STACK_COLUMNS = ("stack", "best plan", "step s", "days", "cost", "vs chosen", "why not chosen", "limits")


def stack_table_cells(rows: list[dict], objective: str) -> tuple[tuple[str, ...], list[list[str]]]:
    """The stack comparison as a table: ``STACK_COLUMNS`` with the duration column named by its one unit
    (``units.duration_column``: a fixed "days" to one decimal printed a 40-minute fine-tune as "0.0"), and
    each row's cells (``stack_cells``)."""
    from planner.units import duration_column

    _, name, durations = duration_column([r["train_hours"] for r in rows if "step_time_s" in r])
    it = iter(durations)
    cells = []
    for r in rows:
        c = stack_cells(r, objective)
        if "step_time_s" in r:
            c[STACK_COLUMNS.index("days")] = next(it)
        cells.append(c)
    return tuple(name if c == "days" else c for c in STACK_COLUMNS), cells


def stack_cells(r: dict, objective: str) -> list[str]:
    """One stack's row of the comparison as plain text, for the terminal table and the report alike:
    its best plan, or '-' and the reason where it has none; the difference to the chosen plan, the
    objective's measure first (a tie within a percent shows its tenths); why it was not chosen (rank.why_lost:
    slower, costlier, refused, does not fit) and its best plan's bottleneck, each in its own column."""
    lost = r.get("lost") or r.get("reason", "")  # a --json written before QA 36b has no "lost"
    if "step_time_s" not in r:  # no plan: refused, or nothing fits / meets the constraints
        return [r["framework"], "-", "-", "-", "-", "-", lost, "-"]
    vs = r["vs_chosen"]
    keys = ("time", "cost") if objective == "time" else ("cost", "time")
    delta = "-" if r["chosen"] else ", ".join(
        f"{vs[k]:+.{1 if abs(vs[k]) < 0.01 else 0}%} {k}" for k in keys if vs.get(k) is not None)
    return [r["framework"], f"{r['nodes']} x {r['hardware']}, {r['layout']}", f"{r['step_time_s']:,.2f}",
            f"{r['train_hours'] / 24:,.1f}", fmt_usd(r["cost_usd"]) if r["cost_usd"] else "-", delta,
            "chosen" if r["chosen"] else lost, r["limits"]]
