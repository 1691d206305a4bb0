"""The search space: every parallel layout of a job on one hardware option, as numpy columns.

Per hardware option (instance type or GPU): nodes x (TP, ETP) x PP x CP x EP x vpp x ZeRO x
micro-batch x recompute (and, on the Megatron-Core stacks, the selective-recompute module lists:
``stack_variants``) — a Cartesian product of the values each open field may take (``planner.defaults``),
cut by the layout rules (``planner.layout.LAYOUT_RULES``), enumerated in bounded chunks.

Which values are tried (Megatron-LM conventions): TP within a node and dividing the heads (and the
KV heads, or a multiple of them); PP dividing the layers; CP only for long sequences and dividing
the sequence; EP dividing the experts; DP = GPUs / (TP*PP*CP); sequence parallelism on whenever
TP > 1; expert-tensor parallelism, when an MoE job leaves ``parallel.etp`` open, both ETP = TP
(Megatron-LM's default) and ETP = 1 (every Megatron-Bridge MoE recipe's
``expert_tensor_parallel_size=1``; torchtitan's only ETP with EP) — one axis of distinct (TP, ETP)
pairs, so TP 1 is tried once. Two prunings that are not validity rules: ZeRO with one replica is
ZeRO-0, and TP*CP beyond 8 nodes is never sensible.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field, fields, replace
from itertools import product
from types import SimpleNamespace
from typing import Iterator

import numpy as np

from hardware_catalog.errors import fit_message
from planner import defaults as D
from planner.errors import InfeasibleError, InputError, TooLargeError
from planner.hardware.options import HardwareOption, device_count
from planner.hardware.platform import PLATFORMS, platform_of
from planner.layout import Candidates, check_layout, sequence_parallel, split_vpp, valid_mask
from planner.model import offload, stack_rules
from planner.model.pipeline import PLAIN_SPLIT, balanced_rows, split_runtime, stack_layout
from planner.model.activations import SELECTIVE, mean_layer_activation_bytes, stack_table_kw
from planner.model.activations_hf import liger_patches
from planner.model.finetune import check_targets, frozen_base
from planner.model.memory import ACT_BYTES, accumulates_unsharded, allocator_reserve
from planner.model.stacks import (DEFAULT_RECOMPUTE_MODULES, DS_CHECKPOINT_OPTIONS, RECIPE_AUTO, RUNS_ON, SEARCHED,
                                  STACKS, Stack,
                                  asked_zero, check_asked_zero, check_platform, cuda_graph_parts, fp8_recipes,
                                  from_training, holds, megatron_fsdp_low_zero, open_options, port_of, recompute_modules,
                                  searched_on)
from planner.model.stack_kernels import attn_implementation_refusal
from planner.spec import JobSpec
from planner.spec.schema import hybrid_stack_refusal
from planner.spec.training_stack import default_stack_mode, default_stack_name, stack_name, stack_named
from planner.vocab import FP8_RECIPE, RECOMPUTE, SCHEDULE

#: rows of the Cartesian product built at once (10 int64 columns: ~84 MB a chunk)
CHUNK_ROWS = 1 << 20
#: layouts on one hardware option beyond which a search is refused ("too large"): at the measured
#: ~1M configurations/s this is a minute per option; fixing a few parallel fields cuts it by orders
MAX_SPACE_ROWS = 64 * CHUNK_ROWS
#: ``StackVariant.rows`` runs the rules on the rows its column tests leave taken apart (``Candidates.take``) where
#: they are at most this share of the chunk, else over the whole chunk (a take of most rows costs more than the
#: rules it saves)
SPARSE_TAKE = 0.25


def _divisors(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def pp_degrees(layers: int) -> list[int]:
    """Pipeline degrees tried: divisors of the layer count among ``PP_DEGREES``; when the count
    has fewer than ``D.MIN_EVEN_PP_CHOICES`` such divisors (DeepSeek-V3's 61 layers is prime),
    also uneven splits — Megatron-Core's ``--decoder-first/last-pipeline-num-layers`` give the
    end stages fewer layers; the memory and time models charge the fullest stage, ceil(L/pp).
    Always also the degrees that divide the layers plus two: Megatron-Core's
    ``--account-for-embedding-in-pipeline-split`` and ``--account-for-loss-in-pipeline-split`` count the
    embedding and the loss as a layer each (megatron/core/transformer/transformer_block.py
    ``get_num_layers_to_build``), so Llama-3.1-405B's 126 layers run on PP 8 or 16 (128 / 16 = 8; the
    end stages build 7), as planner.layout accepts, step_time.slowest_stage times and present.emit writes."""
    even = [d for d in _divisors(layers, 64) if d in D.PP_DEGREES]
    if len(even) >= D.MIN_EVEN_PP_CHOICES:
        acct = [d for d in D.PP_DEGREES if 1 < d <= layers and (layers + 2) % d == 0]
        return sorted(set(even) | set(acct))
    return [d for d in D.PP_DEGREES if d <= layers and (math.ceil(layers / d) * (d - 1) < layers)]


def odd_gpu_pps(layers: int, gpus: int, global_batch: int) -> list[int]:
    """The uneven pipeline degrees (``D.PP_DEGREES``, split as ``pp_degrees``' uneven ones) that take the odd factor of
    a fixed cluster's ``gpus`` when the global batch lacks it: every layout's tp x pp x cp x dp is the GPU count and dp
    divides the batch, so 3 x 8 GPUs at 512 sequences plan only with pp a multiple of 3. Without them recommend refused
    3 x aws:p5.48xlarge for Llama-3-8B ("global_batch=512 is not a multiple of micro_batch*dp = 1*24 ... no layout the
    job's fixed fields allow is valid") where `parallel.pp: 3` planned TP8 PP3 (split 10/11/11; QA 58).

    >>> odd_gpu_pps(32, 24, 512), odd_gpu_pps(32, 24, 480), odd_gpu_pps(32, 16, 512)
    ([3, 6], [], [])
    """
    odd = gpus // (gpus & -gpus)
    if odd == 1 or global_batch % odd == 0:
        return []
    return [d for d in D.PP_DEGREES if d % odd == 0 and d <= layers and math.ceil(layers / d) * (d - 1) < layers]


def _node_counts(p, g: int, max_gpus: int) -> list[int]:
    """The node counts searched on ``g``-GPU nodes: ``defaults.node_counts``, each rounded up to the multiple of nodes
    that the job's fixed model-parallel degrees need (tp x pp x cp must divide the GPUs, planner.layout): with
    ``parallel.pp: 5`` on 8-GPU nodes only multiples of 5 nodes can hold a layout, which none of 1, 2, 3, 4, 6, 8, ...
    but the rare 48 is, so the search found (almost) nothing and blamed the job's fixed fields.

    >>> from types import SimpleNamespace as NS
    >>> _node_counts(NS(tp=None, pp=5, cp=None), 8, 512)
    [5, 10, 15, 20, 25, 35, 50]
    >>> _node_counts(NS(tp=2, pp=4, cp=None), 8, 32)  # 8 GPUs already hold TP 2 x PP 4: the plain counts
    [1, 2, 3, 4]
    """
    fixed = (p.tp or 1) * (p.pp or 1) * (p.cp or 1)
    step = fixed // math.gcd(fixed, g)
    most = max_gpus // g
    return sorted({-(-n // step) * step for n in D.node_counts(most) if -(-n // step) * step <= most})


#: the vpp values each ``parallel.schedule`` runs (the rest is the 1f1b default: vpp > 1 turns it interleaved, as
#: Megatron's --num-layers-per-virtual-pipeline-stage does)
SCHEDULE_VPP = {"1f1b": lambda v: True, "gpipe": lambda v: v == 1, "interleaved": lambda v: v > 1,
                "dualpipev": lambda v: v == 1}  # DualPipeV's two stages a rank are its own, not vpp


def open_micro_batches(m, t) -> tuple[int, ...]:
    """The micro-batches the search tries for a job that leaves ``training.micro_batch`` open: a transformer's
    by sequence length (``defaults.micro_batches``), a generic model's ``GENERIC_SMALL_MICRO_BATCHES`` +
    ``GENERIC_MICRO_BATCHES``. One list for the search's axis and the advice's larger micro-batch
    (``evaluate.alternatives``), so the advice never offers one the search could not try."""
    return D.micro_batches(t.seq_len) if m.is_transformer else D.GENERIC_SMALL_MICRO_BATCHES + D.GENERIC_MICRO_BATCHES


def open_degrees(job: JobSpec, g: int | None = None) -> dict[str, list]:
    """The (tp, etp) pairs (``_tp_etp_pairs``), pp, cp, ep and vpp values the search tries for ``job`` on nodes of
    ``g`` GPUs, the job's own where it fixes one (``_grid``'s layout axes). ``g`` None: no node to bound them (TP up to
    ``D.TP_DEGREES``' largest, no odd pipeline factor of a fixed node count): the degrees the app's stack controls try
    where its sidebar leaves them open (planner.interactive ``_layout_rows``)."""
    m, t, p, cl = job.model, job.training, job.parallel, job.cluster
    if not m.is_transformer:  # no tensor, pipeline, context or expert split of a generic model
        etps = [p.etp] if p.etp else [None]
        return dict(tp_etp=_tp_etp_pairs([1], etps), pp=[1], cp=[1], ep=[1], vpp=[1], vpp_more={})
    tps = [p.tp] if p.tp else [d for d in D.TP_DEGREES if (g is None or d <= g) and m.heads % d == 0
                               and (m.kv_heads % d == 0 or d % m.kv_heads == 0)]
    pps = [p.pp] if p.pp else pp_degrees(m.layers)
    if not p.pp and cl.nodes and g is not None:
        # the job's own node count: PP takes an odd factor of its GPUs the batch lacks
        pps = sorted(set(pps) | set(odd_gpu_pps(m.layers, cl.nodes * g, t.global_batch)))
    long_seq = t.seq_len >= D.LONG_SEQ
    cps = [p.cp] if p.cp else ([d for d in D.CP_DEGREES if t.seq_len % d == 0] if long_seq else [1])
    # ETP: the job's, else for MoE both TP (Megatron's default) and 1; None here means "= TP"
    etps = [p.etp] if p.etp else ([None, 1] if m.moe else [None])
    eps = [p.ep] if p.ep else ([d for d in D.EP_DEGREES if m.moe.experts % d == 0] if m.moe else [1])
    # the job's schedule holds: GPipe has no virtual stages, the interleaved schedule has them (vpp > 1): until
    # QA 38 `schedule: gpipe` was searched as interleaved wherever vpp > 1, and `interleaved` at vpp 1 (no pipeline)
    vpps = [p.vpp] if p.vpp else [v for v in D.VPP if SCHEDULE_VPP[p.schedule](v)]
    if not p.vpp and "schedule" not in p.model_fields_set and not stack_rules.interleaves(
            None if is_auto(job) else from_training(t)):  # an open schedule the stack never interleaves
        vpps = [1]
    lay = stack_layout(t.framework, m)  # the job's option (framework "auto" included)
    # the deeper interleavings a pipeline degree splits evenly, where the vpp axis is open and interleaves
    more = {k: more_vpps(m.layers, k) for k in pps} if not p.vpp and lay is None and any(v > 1 for v in vpps) else {}
    if lay is not None:  # a fixed layout: only the pp that divide its stages, vpp the rest (Megatron's rule)
        pps = [k for k in ([p.pp] if p.pp else range(1, len(lay.stages) + 1)) if lay.vpp(k)]
        if not pps:
            raise InputError("training.framework.pp_layout", f"{lay.text!r} has {len(lay.stages)} virtual "
                                                             f"stages, not a multiple of parallel.pp {p.pp}")
        vpps = [p.vpp] if p.vpp else sorted({lay.vpp(k) for k in pps})
    vpps = sorted(set(vpps).union(*more.values()))
    return dict(tp_etp=_tp_etp_pairs(tps, etps), pp=pps, cp=cps, ep=eps, vpp=vpps,
                vpp_more={k: v for k, v in more.items() if v})


def more_vpps(layers: int, pp: int) -> tuple[int, ...]:
    """The interleaving depths beyond ``D.VPP`` the search tries at pipeline degree ``pp``: those whose pp x vpp
    virtual stages split ``layers`` evenly as Megatron-Core launches a split (planner.model.pipeline
    ``pipeline_split``: ``even``, layers / (pp vpp) a chunk, ``--num-layers-per-virtual-pipeline-stage``; or
    ``embedding`` / ``embedding_loss``, the embedding and the loss counted as a layer each,
    ``--account-for-embedding-in-pipeline-split`` [``--account-for-loss-in-pipeline-split``]), each chunk at least
    ``D.VPP_MIN_CHUNK_LAYERS`` layers, a depth of 1-layer chunks only below ``D.VPP_THIN_PER_PP`` x pp, the
    ``D.VPP_MORE`` shallowest. The depths NVIDIA's recipes run (Megatron-Bridge scripts/performance/configs/llama:
    Llama-3-70B PP 4 VPP 5 on H100 / B200 / GB200 and its GB200 SFT PP 8 VPP 10, Llama-3.1-405B PP 8 VPP 8 on H100
    / B200 / GB200 and PP 16 VPP 8 on GB200 / B200): Llama-3-70B's 80 layers at PP 4 try VPP 5 and 10, at PP 8 VPP
    5 and 10 (1-layer chunks); Llama-3.1-405B's 126 at PP 8 VPP 8 (128 / 64), at PP 16 VPP 8 (128 / 128: the first
    and the last chunk hold the embedding and the loss alone). Uneven depths stay the ones ``D.VPP`` holds
    (``first_last`` / ``layout`` splits): a rank's chunks then differ by a layer, which an even depth beside them
    rarely loses to.

    >>> more_vpps(80, 4), more_vpps(80, 8), more_vpps(126, 8), more_vpps(126, 16), more_vpps(32, 4), more_vpps(80, 1)
    ((5, 10), (5, 10), (8,), (8,), (), ())
    """
    if pp <= 1:
        return ()

    def tried(v: int) -> bool:
        # the chunk of the one form that splits (pp x vpp >= 6 divides at most one of layers, +1, +2), 0 where none
        chunk = next(((layers + extra) // (pp * v) for extra in (0, 1, 2) if (layers + extra) % (pp * v) == 0), 0)
        return chunk >= max(D.VPP_MIN_CHUNK_LAYERS, 1) and (chunk > 1 or v < D.VPP_THIN_PER_PP * pp)

    return tuple(v for v in range(3, (layers + 2) // pp + 1) if v not in D.VPP and tried(v))[:D.VPP_MORE]


def vpp_kept(more: dict, pp, vpp) -> np.ndarray:
    """Per (pp, vpp) pair (arrays, broadcast together): whether the search tries it, every ``D.VPP`` depth of the
    axis at every pp and each deeper one (``open_degrees``' ``vpp_more``: ``more_vpps``) only at the pp it splits.
    The one rule for the pairs the search's grid expands (``_grid_chunks``) and the layouts the app's controls and
    an empty search's rule are judged on (planner.interactive ``_layout_rows``, ``rule_broken_everywhere``): until
    vpp59 those two took the vpp axis as a product, every deeper depth at every pp.

    >>> vpp_kept({4: (5, 10), 8: (5,)}, np.array([4, 8, 8, 2]), np.array([10, 10, 2, 5])).tolist()
    [True, False, True, False]
    """
    pp, vpp = np.asarray(pp), np.asarray(vpp)
    deeper = sorted(set().union(*more.values())) if more else []
    kept = ~np.isin(vpp, deeper) | np.zeros(np.shape(pp), dtype=bool)  # (the pair's broadcast shape)
    for k, vs in more.items():
        kept |= (pp == k) & np.isin(vpp, vs)
    return kept


def _tp_etp_pairs(tps, etps) -> list[tuple[int, int]]:
    """TP and ETP as one axis of distinct (tp, etp) pairs (an etp of None: = TP): ETP 1 at TP 1 is ETP = TP, tried
    once."""
    return list(dict.fromkeys((d, d if e is None else e) for d in tps for e in etps))


def _grid(job: JobSpec, hw: HardwareOption):
    """The axes of ``hw``'s layout product (nodes, (tp, etp) pair, pp, cp, ep, vpp, zero, micro-batch,
    recompute) with the (tp, etp) pairs, from the job's fixed fields and the search defaults."""
    m, t, p, cl, con = job.model, job.training, job.parallel, job.cluster, job.constraints
    g = hw.gpus_per_node
    max_gpus = con.max_gpus or D.MAX_GPUS
    min_gpus = con.min_gpus or 1
    if hw.max_gpus and not cl.nodes and hw.max_gpus < max_gpus:  # one TPU slice: no more chips than it holds
        if hw.max_gpus < min_gpus:
            raise InputError("constraints.min_gpus", f"min_gpus={min_gpus} exceeds the largest {hw.name} slice "
                                                     f"({hw.max_gpus} chips); " + (hw.past_max_hint or
                                                     "for multislice training over the data-center network name a "
                                                     "TPU slice row with fabric tpu-dcn (`planner catalog instances`)"))
        max_gpus = hw.max_gpus
    if cl.nodes:  # the fixed node count held to the GPU caps on each searched instance, as check_fixed_cluster holds
        # a fixed instance's: under max_gpus 1 with cluster.nodes 1, recommend planned 1 x p6-b300.48xlarge (8 GPUs),
        # a plan `estimate` of its own layout refused (session 34, tests/test_plan_agreement.py)
        n = cl.nodes * g
        broken = con.cluster_gpus_broken(n, f"{cl.nodes:,} node{'' if cl.nodes == 1 else 's'} x "
                                            f"{device_count(hw.gpu, g)} = {device_count(hw.gpu, n)} of {hw.name}",
                                         billed=hw.billed_gpus(cl.nodes))
        if broken:
            raise InputError("cluster.nodes", broken)
    def within(n: int) -> bool:  # max_gpus caps the GPUs billed (whole NVL72 racks), min_gpus those run on (cost42)
        return min_gpus <= n * g and hw.billed_gpus(n) <= max_gpus

    nodes = [cl.nodes] if cl.nodes else [n for n in D.node_counts(max_gpus // g) if within(n)]
    fitting = [n for n in _node_counts(p, g, max_gpus) if within(n)]
    if not cl.nodes and hw.multi_node and fitting:  # else the plain counts, whose layout rule then says what breaks
        nodes = fitting
    if not cl.nodes and hw.segments_per_rack > 1:
        # NVL72 segments of a smaller size (cluster.segment <= 9 trays): only counts that fill whole racks, which is
        # what is rented and billed (hardware.options.racks_billed); 3 segments of 8 trays paid for 1.5 racks
        nodes = [n for n in nodes if n % hw.segments_per_rack == 0]
    if not hw.multi_node:  # no cluster fabric in the catalog: one node only
        if cl.nodes and cl.nodes > 1:
            raise InputError("cluster.nodes", f"{hw.name} cannot form a multi-node training cluster (no cluster "
                                              f"fabric in the catalog); nodes={cl.nodes} needs one")
        nodes = [n for n in nodes if n == 1]
        if not nodes and g > max_gpus:  # the one node is too big (a 512-chip TPU slice under max_gpus 64)
            raise InputError("constraints.max_gpus", f"max_gpus={max_gpus} is smaller than {hw.name}, which is "
                                                     f"single-node only ({device_count(hw.gpu, g)})")
        if not nodes:
            raise InputError("constraints.min_gpus", f"{hw.name} is single-node only ({device_count(hw.gpu, g)}), "
                                                     f"below min_gpus={min_gpus}")
    if not nodes and hw.billed_gpus(1) > max_gpus:
        rack = f", billed as its whole {hw.rack_gpus}-GPU rack" if hw.billed_gpus(1) > g else ""
        raise InputError("constraints.max_gpus", f"max_gpus={max_gpus} is smaller than one {hw.name} node "
                                                 f"({device_count(hw.gpu, g)}{rack})")
    if not nodes:  # one node fits, but no node count searched lands within the limits ("max_gpus=1048576 is smaller
        # than one gcp:tpu-v5p-1024 node (512 chips)" was said of min_gpus 1,000,000, past 1,024 nodes)
        counts = D.node_counts(max_gpus // g)
        if min_gpus > max_gpus:  # only under the default limit (the job's own max_gpus below min_gpus is refused earlier)
            raise InputError("constraints.min_gpus", f"min_gpus={min_gpus:,} is above the search's default limit of "
                                                     f"{max_gpus:,} GPUs (defaults.MAX_GPUS); set constraints.max_gpus")
        raise InputError("constraints.min_gpus", (
            f"no node count searched of {hw.name} ({device_count(hw.gpu, g)} each: "
            f"{', '.join(f'{n:,}' for n in counts[:8])}, ... {counts[-1]:,} nodes, up to max_gpus={max_gpus:,}"
            f"{'' if con.max_gpus else ', the default'}) lands within min_gpus={min_gpus:,} and max_gpus={max_gpus:,}"))
    deg = open_degrees(job, g)
    pairs, pps, cps, eps, vpps = (deg[k] for k in ("tp_etp", "pp", "cp", "ep", "vpp"))
    if m.is_transformer:
        rcs = [RECOMPUTE.code[t.recompute]] if t.recompute else [0, 1, 2]
    else:
        rcs = [RECOMPUTE.code[t.recompute]] if t.recompute else [0, 2]
    mbs = [t.micro_batch] if t.micro_batch else list(open_micro_batches(m, t))
    zeros = [p.zero] if p.zero is not None else [0, 1, 2, 3]
    tp_of, etp_of = (np.array([q[k] for q in pairs], dtype=np.int64) for k in (0, 1))
    # recompute last: a layout's recompute rows are adjacent, and space_chunks keeps them in one chunk
    axes = [np.asarray(a, dtype=np.int64) for a in (nodes, np.arange(len(pairs)), pps, cps, eps, vpps, zeros, mbs, rcs)]
    return axes, tp_of, etp_of


def empty_reason(job: JobSpec, hw: HardwareOption):
    """Why ``space_chunks`` leaves nothing on ``hw``: the first layout rule (planner.layout.LAYOUT_RULES, the
    ones ``estimate`` applies) that the product's first layout breaks, as an ``InputError`` naming its field;
    None when that layout breaks none (it was pruned, not invalid). Only asked when every layout failed, so
    the first one is as good a witness as any: a search over a fixed TP 16 on one 8-GPU node said "no
    configuration fits in GPU memory" where estimate said "tp*pp*cp = 16 does not divide the 8 GPUs"."""
    try:
        axes, tp_of, etp_of = _grid(job, hw)
    except InputError as e:
        return e
    if any(len(a) == 0 for a in axes):
        return None
    n_, pair, pp, cp, ep, vpp, _zero, mb, _rc = (int(a[0]) for a in axes)
    tp, gpus = int(tp_of[pair]), n_ * hw.gpus_per_node
    layout = dict(tp=tp, pp=pp, cp=cp, ep=ep, vpp=vpp, mb=mb, gpus=gpus,
                  etp=int(etp_of[pair]) if (job.parallel.etp or job.model.moe is not None) else None)
    if gpus % (tp * pp * cp) == 0:
        layout["dp"] = job.parallel.dp or gpus // (tp * pp * cp)
        if job.parallel.dp_shard:  # the HSDP rules (skipped without it: dp_shard 3 at dp 1 was blamed on max_gpus)
            layout.update(dp_shard=job.parallel.dp_shard, zero=_zero)
    try:
        check_layout(job.model, job.training, **layout)
    except InputError as e:
        return e
    return None


def rule_broken_everywhere(job: JobSpec, opts) -> InputError | None:
    """The layout rule (planner.layout.LAYOUT_RULES) that every layout the job's fixed fields allow breaks, on every
    hardware option within the GPU limits, as an ``InputError`` naming its field (a witness layout's message);
    None when no one rule does (each layout breaks another, or one was pruned, not invalid). Asked before
    ``empty_reason``'s witness, which is the first layout of one option and so named what that layout happened to
    break: ``parallel.dp: 3`` at a global batch of 512 was "tp*pp*cp*dp = 3 but the cluster has 1 GPUs (on
    aws:g6.xlarge ...)" where no option's layouts could take 512 in 3 replicas. The recompute axis is left out
    (no rule reads it) and ZeRO is kept only where the job fixes ``dp_shard`` (the only rules that read it); a deeper
    interleaving only at the pp it splits (``_kept_product``: vpp59; it was the whole product until then)."""
    from planner.layout import LAYOUT_RULES

    m, t, p = job.model, job.training, job.parallel
    always: set[int] | None = None  # the rules every layout so far breaks
    witness: dict[int, SimpleNamespace] = {}
    seen = set()
    counts: set[int] = set()  # the cluster sizes searched (GPUs), over every option
    for hw in opts:
        try:
            axes, tp_of, etp_of = _grid(job, hw)
        except InputError:
            continue  # outside the GPU limits: empty_reason names those
        n_, pair, pp, cp, ep, vpp, zero, mb, _rc = axes
        zero = zero if p.dp_shard else zero[:1]
        key = (hw.gpus_per_node, *(tuple(a.tolist()) for a in (n_, pair, pp, cp, ep, vpp, zero, mb)),
               tuple(tp_of.tolist()), tuple(etp_of.tolist()))
        if key in seen:
            continue
        seen.add(key)
        cols = _kept_product(job, hw.gpus_per_node, (n_, pair, pp, cp, ep, vpp, zero, mb))
        if cols is None:
            return None  # nothing to ask, or too many to ask here: the witness answers
        nodes, pr, pp_, cp_, ep_, vpp_, zero_, mb_ = cols
        tp = tp_of[pr]
        gpus = nodes * hw.gpus_per_node
        counts.update(int(x) for x in np.unique(gpus))
        dp = np.full_like(tp, p.dp) if p.dp else np.maximum(gpus // (tp * pp_ * cp_), 1)
        v = SimpleNamespace(tp=tp, pp=pp_, dp=dp, cp=cp_, ep=ep_, vpp=vpp_, mb=mb_, gpus=gpus, zero=zero_,
                            dp_shard=np.full_like(tp, p.dp_shard) if p.dp_shard else None,
                            etp=etp_of[pr] if (p.etp or m.moe is not None) else None)
        broken = set()
        for i, r in enumerate(LAYOUT_RULES):
            if any(getattr(v, k, None) is None for k in r.needs):
                continue
            ok = np.broadcast_to(np.asarray(r.ok(v, m, t), dtype=bool), tp.shape)
            if not ok.any():
                broken.add(i)
                witness.setdefault(i, SimpleNamespace(**{k: (x if x is None else x[0]) for k, x in vars(v).items()}))
        always = broken if always is None else always & broken
        if not always:
            return None
    if not always:
        return None
    r = LAYOUT_RULES[min(always)]
    w = witness[min(always)]
    if "gpus" in r.needs:  # a GPU-count rule: the witness's one cluster size is not why (see _sizes_refusal)
        return _sizes_refusal(job, r.field, counts)
    return InputError(r.field, r.message(w, m, t))


def _kept_product(job: JobSpec, g: int, axes) -> list[np.ndarray] | None:
    """``rule_broken_everywhere``'s layouts: the columns of the product of ``axes`` (nodes, (tp, etp) pair, pp, cp,
    ep, vpp, zero, micro-batch) in its order, less the deeper interleavings at the pp they do not split, as the
    search's grid (``vpp_kept``); None where the product is empty or more than ``CHUNK_ROWS`` rows remain."""
    shape = tuple(len(a) for a in axes)
    if 0 in shape:
        return None
    pairs = vpp_kept(open_degrees(job, g)["vpp_more"], axes[2][:, None], axes[5][None, :])  # (pp, vpp)
    if int(pairs.sum()) * math.prod(shape) // (shape[2] * shape[5]) > CHUNK_ROWS:
        return None
    idx = np.unravel_index(np.flatnonzero(np.broadcast_to(
        pairs[None, None, :, None, None, :, None, None], shape).ravel()), shape)
    return [np.asarray(a)[i] for a, i in zip(axes, idx)]


def _sizes_refusal(job: JobSpec, field: str, counts: set[int]) -> InputError:
    """The GPU-count rules (tp*pp*cp divides the GPUs, tp*pp*cp*dp is the GPUs: planner.layout.LAYOUT_RULES) broken
    by every layout on every option, as the fixed degrees against the cluster sizes searched (``counts``) and the job's limits
    that set them. The witness layout's own size was no answer: ``parallel: {tp: 8, pp: 16}`` under ``max_gpus: 64``
    read "tp*pp*cp = 128 does not divide the 1 GPUs", and ``parallel.dp: 16`` on ``cluster.nodes: 1`` "the cluster has
    1 GPUs" (both a one-GPU instance's first layout), naming neither max_gpus nor the one node."""
    p, con, cl = job.parallel, job.constraints, job.cluster
    fixed = [f"parallel.{k}: {v}" for k in ("tp", "pp", "cp", "dp") if (v := getattr(p, k)) is not None]
    product = math.prod(getattr(p, k) or 1 for k in ("tp", "pp", "cp", "dp"))
    need = (f"{product:,} GPUs" if all(getattr(p, k) for k in ("tp", "pp", "cp", "dp"))
            else f"a multiple of {product:,} GPUs")
    sizes = sorted(counts)
    shown = ", ".join(f"{n:,}" for n in sizes) if len(sizes) <= 6 else f"{sizes[0]:,} to {sizes[-1]:,}"
    limits = [f"{k}: {v:,}" for k, v in (("cluster.nodes", cl.nodes), ("constraints.min_gpus", con.min_gpus),
                                          ("constraints.max_gpus", con.max_gpus)) if v is not None]
    why = "; ".join(limits) if limits else f"the search's default limit, defaults.MAX_GPUS {D.MAX_GPUS:,}"
    return InputError(field, f"{', '.join(fixed) or 'the parallel degrees'} need{'s' if len(fixed) == 1 else ''} {need} (tp*pp*cp*dp), and no cluster "
                             f"searched has that: {shown} GPUs ({why})")


def space_chunks(job: JobSpec, hw: HardwareOption, chunk_rows: int = CHUNK_ROWS) -> Iterator[Candidates]:
    """Every layout on ``hw`` allowed by the job's fixed fields and the layout rules, in chunks:
    the Cartesian product of the axes is enumerated ``chunk_rows`` flat indices at a time
    (``np.unravel_index``), so memory stays bounded however large the product (a big MoE's
    nodes x TP x PP x CP x EP x ZeRO x micro-batch x recompute x vpp runs to millions of rows).

    A chunk holds whole layouts: every recompute setting of a layout (the last axis) in the same chunk, so
    ``chunk_rows`` is rounded down to a multiple of that axis. The search reads a layout's rows together
    (``recommend.smallest_block_recompute`` leaves a full-recompute row at every layer where the same layout fits
    without recompute): with 2^20 rows a chunk and three recompute settings, a boundary split a layout's rows, and
    the answer (the rows, ``feasible``) depended on where the chunks fell (llama3-8b-auto at 1,000 rows a chunk:
    11,968 feasible, at 999: 11,966; tests/test_search_determinism.py)."""
    axes, tp_of, etp_of = _grid(job, hw)
    shape = tuple(len(a) for a in axes)
    total = int(np.prod(shape, dtype=np.float64))
    if total == 0:
        raise InfeasibleError("parallel", "the fixed parallel fields leave no layout to search")
    if total > MAX_SPACE_ROWS:
        raise TooLargeError("constraints", f"{total:,} layouts on {hw.name} (limit {MAX_SPACE_ROWS:,}); fix some "
                                           "parallel fields or set constraints.max_gpus")
    yield from _grid_chunks(job, hw.gpus_per_node, axes, tp_of, etp_of, chunk_rows)


def space_key(job: JobSpec, hw: HardwareOption) -> tuple:
    """What ``space_chunks`` reads of ``hw``: its GPUs per node and its layout grid (``_grid``'s axes and (tp, etp)
    pairs), as a hashable value. The chunks are built from those and the job alone (``_grid_chunks`` and
    ``_layouts`` take no option), so two options with the same key have the same chunks: the search builds them
    once (planner.search.recommend ``SearchMemo.chunks``; the app preset's 67 options have 11 distinct spaces).
    Raises what ``_grid`` raises (an option outside the job's GPU limits)."""
    axes, tp_of, etp_of = _grid(job, hw)
    return (int(hw.gpus_per_node), *(tuple(a.tolist()) for a in axes), tuple(tp_of.tolist()), tuple(etp_of.tolist()))


def _grid_chunks(job: JobSpec, g: int, axes, tp_of, etp_of, chunk_rows: int) -> Iterator[Candidates]:
    """``space_chunks``' chunks of the grid ``axes`` on nodes of ``g`` GPUs (no option read: ``space_key``)."""
    shape = tuple(len(a) for a in axes)
    chunk_rows = max(chunk_rows - chunk_rows % shape[-1], shape[-1]) if shape[-1] else chunk_rows
    # Only the (nodes, tp, pp, cp) heads whose tp*pp*cp divides the GPUs (``_layouts`` drops the rest: DP would not be
    # whole) are expanded over the other axes, in the product's own order, so the rows and their order are those of the
    # whole product. A 65K-token Nemotron-3-Nano over every instance under max_gpus 1,024: 69.3M product rows, 41.9M
    # of them whole-DP, 8.1M valid. The heads run to the vpp axis so that a deeper interleaving is expanded only at
    # the pp it splits (``vpp_kept``; vpp58)
    n_ax, pair_ax, pp_ax, cp_ax, ep_ax, vpp_ax = axes[:6]
    at = np.meshgrid(*(np.arange(len(a)) for a in axes[:6]), indexing="ij")
    whole = (n_ax * g)[at[0]] % (tp_of[pair_ax][at[1]] * pp_ax[at[2]] * cp_ax[at[3]]) == 0
    kept = np.flatnonzero((whole & vpp_kept(open_degrees(job, g)["vpp_more"], pp_ax[at[2]], vpp_ax[at[5]])).ravel())
    tail = int(np.prod(shape[6:], dtype=np.int64))
    for start in range(0, len(kept) * tail, chunk_rows):
        v = np.arange(start, min(start + chunk_rows, len(kept) * tail))
        idx = np.unravel_index(kept[v // tail] * tail + v % tail, shape)
        n_, pair, *rest = (a[i] for a, i in zip(axes, idx))
        c = _layouts(job, g, [n_, tp_of[pair], etp_of[pair], *rest])
        if len(c):
            yield c


def space_for(job: JobSpec, hw: HardwareOption) -> Candidates:
    """The whole space on ``hw`` as one batch (for small spaces and tests)."""
    parts = list(space_chunks(job, hw))
    if not parts:
        return _layouts(job, hw.gpus_per_node, [np.zeros(0, dtype=np.int64)] * 10)
    return Candidates.concat(parts)


def one_replica_zeros(job: JobSpec) -> int:
    """The highest ZeRO stage a layout with one replica (DP x CP = 1) is searched at: 0, where ZeRO shards nothing, or
    1 where a stack the job may run offloads its optimizer only at ZeRO-1 (``Stack.optimizer_offload_zero``: Megatron's
    distributed optimizer, which its launch writes: QA 45) and the job leaves that offload on or open, or sets
    Megatron's precision-aware optimizer (``Stack.one_replica_zero``)."""
    t = job.training
    if is_auto(job):
        return 1 if (getattr(t.framework, "optimizer_offload", None) is not False
                     or getattr(t.framework, "precision_aware_optimizer", None)) else 0
    st = from_training(t)
    may = st.optimizer_offload or ("optimizer_offload" in open_options(t) and "optimizer" in st.offloads)
    return max(int(st.optimizer_offload_zero) if may else 0, st.one_replica_zero)


def one_replica_twins(c: Candidates, z_from: int, z_to: int) -> np.ndarray:
    """Per row of ``c``: for a row with one replica (DP x CP = 1) at ZeRO ``z_to``, the index of the same layout at
    ZeRO ``z_from`` (-1 where there is none, and on every other row). An offload variant's one-replica rows are at
    another stage than its parent's (``StackVariant.one_replica_zero``), and it is tried only where its twin did not
    fit (planner.search.recommend)."""
    cols = [np.broadcast_to(np.asarray(getattr(c, f.name)), (len(c),)) for f in fields(c)
            if f.name != "zero" and getattr(c, f.name) is not None and np.ndim(getattr(c, f.name)) <= 1]
    one = (np.asarray(c.dp) * np.asarray(c.cp) == 1)
    out = np.full(len(c), -1, dtype=np.int64)
    src, dst = np.flatnonzero(one & (c.zero == z_from)), np.flatnonzero(one & (c.zero == z_to))
    if not len(src) or not len(dst):
        return out
    # rows grouped by their other columns, vectorised (one sort): a dict of row tuples cost ~4 ms a call, half of a
    # search once cpcomm36's variants multiplied the calls
    rows = np.concatenate((src, dst))
    # (every column is a bool, integer or float; float64 holds them exactly: the layout axes are small integers)
    keys = np.column_stack([x[rows].astype(np.float64) for x in cols] or [np.zeros(len(rows))])
    grp = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    twin = np.full(int(grp.max()) + 1, -1, dtype=np.int64)
    np.maximum.at(twin, grp[:len(src)], src)  # the last source row of a group, as a dict over them kept
    out[dst] = twin[grp[len(src):]]
    return out


def _layouts(job: JobSpec, g: int, grid) -> Candidates:
    """The valid rows of one chunk of the product on nodes of ``g`` GPUs, with DP filled in."""
    m, t, p = job.model, job.training, job.parallel
    n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc = grid
    gpus = n_ * g
    # DP fills the GPUs the other axes leave (p.dp, when fixed, must be exactly that)
    dp = np.where(gpus % (tp * pp * cp) == 0, gpus // np.maximum(tp * pp * cp, 1), 0)
    if p.dp:
        dp = np.where(dp == p.dp, dp, 0)
    ok = dp >= 1
    dp = np.maximum(dp, 1)
    # ETP is checked as a given value when the job sets it or the model has experts to split; a
    # dense model's column is only tp (Megatron's default), which its rules leave unchecked
    given_etp = etp if (p.etp or m.moe is not None) else None
    ok &= valid_mask(SimpleNamespace(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, mb=mb, gpus=gpus, etp=given_etp), m, t)
    if not m.is_transformer and not t.micro_batch:
        # a generic model's small micro-batches only as the replica's whole share (D.GENERIC_SMALL_MICRO_BATCHES)
        ok &= (mb >= D.GENERIC_MICRO_BATCHES[0]) | (mb * dp == t.global_batch)
    # pruning, not validity: choices that equal or lose to one already in the space
    if p.zero is None:  # ZeRO with one replica is ZeRO-0 (a stage the job fixes is kept: it is its layout), or the
        # stage an optimizer offload launches at (Stack.optimizer_offload_zero); each variant keeps its own (StackVariant)
        ok &= ~((zero > one_replica_zeros(job)) & (dp * cp == 1))
    if m.is_transformer:
        ok &= tp * cp <= max(g, 1) * 8  # TP*CP beyond 8 nodes is never sensible
    n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp = (x[ok] for x in (n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp))
    dp_shard = dp
    if p.dp_shard is not None:  # the job's shard group: rows where it tiles DP (and ZeRO shards, if it is below)
        keep = (dp % p.dp_shard == 0) & ((dp == p.dp_shard) | (zero >= 1))
        n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp = (x[keep] for x in (n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc,
                                                                            dp))
        dp_shard = np.full(len(dp), p.dp_shard, dtype=np.int64)
    elif m.is_transformer:
        # HSDP (``hsdp_rows``): each ZeRO row on more than one node also with ZeRO sharded over one node's DP ranks
        extra = hsdp_rows(tp, cp, dp, zero, g)
        if extra.any():
            cols = [np.concatenate([x, x[extra]]) for x in (n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp)]
            dp_shard = np.concatenate([dp, (g // (tp * cp))[extra]])
            n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp = cols
    # the job's schedule, else its stack's own (framework auto: recommend re-resolves each stack group's)
    stack = None if is_auto(job) else from_training(t)
    sched = stack_rules.schedule_codes(stack, p, pp, vpp)
    if m.is_transformer and "schedule" not in p.model_fields_set and stack_rules.searches_dualpipev(stack):
        # an open schedule on torchtitan with compile off: each pipeline of one stage a rank also as DualPipeV
        two = (pp > 1) & (vpp == 1)
        if two.any():
            n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp, dp_shard = (
                np.concatenate([x, x[two]]) for x in (n_, tp, etp, pp, cp, ep, vpp, zero, mb, rc, dp,
                                                      np.broadcast_to(dp_shard, dp.shape)))
            sched = np.concatenate([sched, np.full(int(two.sum()), SCHEDULE.code["dualpipev"], sched.dtype)])
    sp = sequence_parallel(p.sequence_parallel, tp)
    # the job's block recompute of N layers per stage, or uniform groups of N, on its full-recompute rows (left
    # open, recommend picks them: planner.search.recommend.smallest_block_recompute / smallest_uniform_group)
    full_n = np.where(rc == RECOMPUTE.code["full"], t.recompute_num_layers or 0, 0)
    uniform = t.recompute_method == "uniform"
    return Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, mb=mb, rc=rc, sp=sp,
                      schedule=sched, gpus_per_node=g, nodes=n_, etp=etp, dp_shard=dp_shard,
                      rn=0 if uniform else full_n, rg=full_n if uniform else 0)


def hsdp_rows(tp, cp, dp, zero, gpus_per_node):
    """Rows the search also tries as hybrid sharded data parallelism: ZeRO-3 sharded over the DP ranks of one
    node, ``g // (tp x cp)`` (the shard group is innermost in DP, so it is those ranks: its gathers and
    reduce-scatters stay on NVLink) and replicated across nodes (torchtitan's ``data_parallel_shard_degree`` = the
    node's ranks, ``data_parallel_replicate_degree`` = the nodes; DeepSpeed MiCS with ``mics_shard_size`` = a node;
    the FSDP docs' HYBRID_SHARD "shard within a node, replicate across nodes"). Only where that group holds two or
    more ranks and is a proper divisor of dp; dp_shard in {dp, one node's DP ranks} keeps the growth to the ZeRO-3
    rows on more than one node (the stack's rules then drop what it cannot run). ZeRO-1/2 are left to a job that
    sets ``parallel.dp_shard`` (the search grew by a third with them, benchmarks/bench_search.py): ZeRO-1's one
    reduce-scatter and all-gather per step move the same bytes per NIC as HSDP's replica all-reduce (2 (n-1)/n of
    the gradient shard either way), so it gains only ring latency while its optimizer state grows by dp / dp_shard;
    ZeRO-3 gathers the weights twice and reduce-scatters every micro-batch, which HSDP keeps on NVLink."""
    local = gpus_per_node // np.maximum(tp * cp, 1)
    return (zero >= 3) & (gpus_per_node % np.maximum(tp * cp, 1) == 0) & (local >= 2) & (local < dp) & (dp % np.maximum(local, 1) == 0)


# ------------------------------------------------------------------------------ stack options
@dataclass(frozen=True)
class StackVariant:
    """One combination of the stack options the search tries (``stacks.SEARCHED`` left open by
    the job): the resolved ``stack``, the searched options' ``values``, and ``parents``, the
    variants with the same values but one offload fewer. Offload only adds time
    (planner.model.offload: host copies and a CPU optimizer step, never less work on the GPU),
    so a row is tried with an offload only where none of its parents fits: the rest are
    dominated, not lost."""

    stack: Stack
    values: dict
    parents: tuple[int, ...] = ()
    #: the least ZeRO stage of the rows this variant differs from the base on: 3 where reshard_after_forward
    #: differs (only ZeRO-3 gathers), 2 where megatron_fsdp does (ZeRO-0/1 are DDP / the distributed optimizer
    #: either way); 0 otherwise
    min_zero: int = 0
    #: the least ZeRO stage of its rows with more than one replica where an option the job sets runs as set
    #: (``stacks.asked_zero``: ``reshard_after_forward`` ZeRO-3, ``fsdp_version`` 2, ``fp8_param_gather`` 1); with one
    #: replica no stage shards anything and the row keeps its own (``one_replica_zero``); 0 where the job fixes the stage
    asked_zero: int = 0
    #: the least PP of the rows it differs from the base on: 2 for the stack's own pipeline split (``pp_split``)
    min_pp: int = 0
    #: the least CP of the rows it differs from the base on: 2 for another ``cp_comm_type`` (no exchange at CP1)
    min_cp: int = 0
    #: the most PP of the rows it differs from the base on: 1 for syncing each micro-batch (``defer_fsdp_grad_sync``
    #: off: the loop's sync switch acts without PP only; under PP torch pipelining's hooks decide, Stack
    #: ``pp_fsdp_unsharded``); None: any
    max_pp: int | None = None
    #: the ZeRO stage of its rows with one replica (DP x CP = 1), where the stages shard nothing and the search keeps
    #: one: 0, or ``Stack.optimizer_offload_zero`` with optimizer offload (the stage its launch writes); None: the job
    #: fixes ``parallel.zero``
    one_replica_zero: int | None = None
    #: the variant ``could_fit`` screens it against: the same values without offload (None: this
    #: one), for a recompute list without offload the same combination under the default list
    root: int | None = None
    #: a searched Megatron-Core ``recompute_modules`` list (``recompute_module_lists``): the variant
    #: stands for the selective-recompute rows with that list (``training`` carries it); None: the
    #: job's own (Megatron's default ["core_attn"] when the job leaves it open)
    modules: tuple[str, ...] | None = None
    #: the memory terms this variant can take off its root's (``could_fit``); None: its offloads'
    frees: tuple[str, ...] | None = None
    #: a link of a fallback chain (``pp_pass_microbatches``' sizes): the rows its parents left that it does not run on
    #: (``pass_rows``: a pass that does not divide the step) count as its misfits, so the next link is tried there
    relay: bool = False
    #: the job's model and training, for the stack's own rules (planner.model.stack_rules)
    model: object = field(default=None, compare=False, repr=False)
    training: object = field(default=None, compare=False, repr=False)

    def could_fit(self, root_mem: dict, limit: float) -> np.ndarray:
        """Rows (of the root's evaluated batch) that can fit with this variant, from the root's
        memory: what it can take off the GPU (``frees``) is at most the optimizer state (optimizer
        offload) and the activations with their fragmentation allowance (activation offload, or a
        recompute list against the default one: a list changes the activations only; the fused
        cross-entropy: the activations and the logits). A necessary
        condition, so the memory model runs only on rows with a chance."""
        return could_free(root_mem, self.screen_frees(), limit)

    def screen_frees(self) -> tuple[str, ...]:
        """The memory terms this variant can take off its root's (``could_fit``): ``frees`` where set, else its
        options'."""
        # a fused cross-entropy changes the loss's saves (in the activations term where the HF step is walked) and
        # its logits: at most both come off
        fused = self.stack.fused_cross_entropy or self.values.get("loss_fn") == "linear_ce"  # (AutoModel's, rec57)
        # MaxText's loss tiles (rec58) shrink the loss's logits and buffers only (the logits term: checked on 80,000
        # random rows of Llama-3-8B / 70B at one and 16 tiles)
        loss = fused or self.values.get("num_vocab_tiling", 1) > 1
        # DeepSpeed's checkpointing (rec58): the checkpointed inputs split over TP or sent to the host
        ds = any(self.values.get(k) for k in DS_CHECKPOINT_OPTIONS)
        # syncing each micro-batch (the HF Trainer's ``sync_each_batch``, searched off its deferred root) holds no
        # unsharded gradient between them: at most the gradients come off
        synced = self.values.get("defer_fsdp_grad_sync") is False
        return self.frees if self.frees is not None else tuple(
            k for k, on in (("optimizer", self.stack.optimizer_offload),
                            ("activations", self.stack.activation_offload or fused or ds), ("logits", loss),
                            ("weights", self.stack.param_offload), ("grads", synced)) if on)

    def refusals(self, c: Candidates) -> dict[str, np.ndarray]:
        """Per rule of the stack (planner.model.stack_rules), the rows of ``c`` it refuses."""
        return stack_rules.refusals(self.stack, self.model, self.training, c)

    def rows(self, c: Candidates, refused: dict | None = None, within: np.ndarray | None = None) -> np.ndarray:
        """Rows of ``c`` this variant is a distinct, runnable plan for: the offload rules
        (planner.model.offload) and the stack's own (planner.model.stack_rules) obeyed. ``refused``:
        ``self.refusals(c)`` where the caller has it already; ``within`` (not with ``refused``): only these rows of
        ``c`` can be (a child variant's: where its parents did not fit), every other row is False.

        Every test is a row's own, so they run on the rows that can pass: only ``within``'s, taken apart where they are
        few (``SPARSE_TAKE``), and the rules (offload, the stack's, the split) only on the rows the column tests
        (ZeRO, PP, CP, the one-replica stage, the recompute code) leave. Run over every row of the chunk for each of
        the 288 variants of a DeepSeek-V3 search, they were most of its time (speed37)."""
        n = len(c)
        if within is not None:
            on = np.flatnonzero(within)
            if len(on) <= n * SPARSE_TAKE:
                ok = np.zeros(n, dtype=bool)
                if len(on):
                    ok[on] = self._rows(c.take(on), None)
                return ok
        ok = self._rows(c, refused)
        if within is not None:
            ok &= within
        return ok

    def _rows(self, c: Candidates, refused: dict | None) -> np.ndarray:
        """``rows`` over every row of ``c``: the column tests first, the rules on the rows they leave."""
        n = len(c)
        ok = np.ones(n, dtype=bool)
        if self.min_zero:
            ok &= c.zero >= self.min_zero
        if self.asked_zero:
            ok &= (c.zero >= self.asked_zero) | (c.dp * c.cp == 1)
        if self.min_pp:
            ok &= c.pp >= self.min_pp
        if self.min_cp:
            ok &= c.cp >= self.min_cp
        if self.max_pp is not None:
            ok &= c.pp <= self.max_pp
        if self.values.get("pp_pass_microbatches") is not None:  # a searched pass (the job's own: rule titan-pp-pass)
            ok &= pass_rows(c, self.training.global_batch, self.values["pp_pass_microbatches"])
        if self.one_replica_zero is not None:
            ok &= (c.dp * c.cp > 1) | (c.zero == self.one_replica_zero)
        if self.modules is not None:
            ok &= c.rc == SELECTIVE
        if refused is not None:  # the base: its refusals over the whole chunk, from the caller
            for mask in refused.values():
                ok &= ~mask
        on = np.flatnonzero(ok)
        if not len(on):
            return ok
        sub, whole = (c, True) if len(on) > n * SPARSE_TAKE else (c.take(on), False)
        keep = np.array(np.broadcast_to(offload.valid_mask(self.stack, sub), (len(sub),)))
        for mask in (self.refusals(sub).values() if refused is None else ()):
            keep &= ~np.broadcast_to(mask, (len(sub),))
        if self.min_pp:  # the stack's own split: only where it differs from the balanced one (the same plan elsewhere)
            keep &= balanced_rows(self.model.layers, sub.pp, split_vpp(sub),
                                  split_runtime(replace(self.stack, pp_split=None), self.model))
        if whole:
            ok &= keep
        else:
            ok[on] = keep
        return ok


#: the fallback options (beside the offloads) whose variants ``StackVariant.could_fit`` screens against their root, the
#: same combination at every fallback's first value: what each can take off is a memory term of the root's (the fused
#: cross-entropy -- the HF Trainer's Liger loss, NeMo AutoModel's ``loss_fn: linear_ce`` -- its logits and
#: activations, the sync each micro-batch its held gradients, DeepSpeed's checkpointing the activations, MaxText's
#: loss tiles the logits: rec58)
SCREENED_FALLBACKS = ("fused_cross_entropy", "defer_fsdp_grad_sync", "loss_fn", "partition_activations",
                      "cpu_checkpointing", "num_vocab_tiling")

def could_free(mem: dict, frees: tuple[str, ...], limit: float, at: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``mem`` (a memory call's columns; ``at``: those rows of them only) whose most loaded rank, less the
    ``frees`` terms (the activations and logits with their fragmentation allowance, ``allocator_reserve``), is within
    ``limit``: a necessary condition for a variant that can take off at most those terms to fit."""
    if at is not None:  # (the columns read, not the whole call's)
        mem = {k: mem[k][at] for k in ("total", *frees)}
    free = sum(mem[k] + (allocator_reserve(mem[k]) if k in ("activations", "logits") else 0.0) for k in frees)
    return mem["total"] - free <= limit


#: the fallback axes beside the offloads (every ``*_offload`` axis is one too: ``is_fallback``): a variant at another
#: value than the axis's first is tried only where its parent does not fit or, a chain's link, does not run
#: (``stack_variants``); the stack line names the ones a search tried (planner.search.evaluate ``fallback_note``)
FALLBACKS = ("pp_split", "pp_pass_microbatches", *SCREENED_FALLBACKS)


def is_fallback(option: str) -> bool:
    """Whether ``stack_variants`` tries ``option``'s other values only where the plan does not fit without them."""
    return option.endswith("_offload") or option in FALLBACKS


#: the tile counts (MaxText ``num_vocab_tiling``) recommend tries where the job leaves it open, beside base.yml's one
#: tile: powers of two up to the 16 of the Gemma3 tpu-recipes; a chain of fallbacks, each only where the one before
#: does not fit or does not run (the tiles must split the rank's tokens: stack_rules maxtext-vocab-tiles)
VOCAB_TILE_CHOICES = (2, 4, 8, 16)


#: the shares of the model's layers whose activations recommend offloads (Megatron-Core ``--cpu-offloading-num-layers``)
#: before its default count, every layer but the last, where the job leaves ``activation_offload_layers`` open: fewer
#: layers copy less (planner.model.offload ``offloaded_layers``: the step's host copies scale with them) and hold more,
#: so a chain (off, a quarter, a half, three quarters, all but the last), each tried only where the one before does not
#: fit. Megatron-Bridge's Llama 3 70B performance recipes set such counts per GPU (5, 20, 30, 40 of 80: the Stack
#: field's docstring)
OFFLOAD_LAYER_SHARES = (0.25, 0.5, 0.75)


def offload_layer_counts(layers: int) -> tuple[int, ...]:
    """The layer counts ``OFFLOAD_LAYER_SHARES`` give a model of ``layers`` layers: whole, at least 2 (a count of 1
    would read as True in the search's axis) and below the default's ``layers - 1``, each once."""
    return tuple(dict.fromkeys(k for k in (round(layers * f) for f in OFFLOAD_LAYER_SHARES) if 2 <= k < layers - 1))


def offload_count_options(values: dict, axes: dict) -> dict:
    """A variant's option values with the activation offload axis's count link (an int: ``offload_layer_counts``) as
    the stack takes it -- ``activation_offload`` on with ``activation_offload_layers`` that count -- and, where the axis
    has count links, ``activation_offload_layers`` named on every variant (None: the default count), so the search's
    table has its column (planner.search.recommend ``SEARCHED_ONLY_COLUMNS``)."""
    if len(axes.get("activation_offload", ())) <= 2:
        return values
    k = values["activation_offload"]
    layers = None if isinstance(k, bool) else k
    return {**values, "activation_offload": k is not False, "activation_offload_layers": layers}


#: the pass sizes (micro-batches per run of the pipeline schedule, Stack.pp_pass_microbatches) recommend tries where the
#: job leaves the option open, beside the whole step: powers of two, so on the power-of-two PP degrees a bounded set of
#: multiples of PP down to PP itself (pass_rows keeps a size on a row only where it is one); 5 values, each only on the
#: rows where the whole-step pass does not fit
PASS_CHOICES = (64, 32, 16, 8, 4)


def pass_rows(c: Candidates, global_batch: int, pass_m: int) -> np.ndarray:
    """Rows of ``c`` a pipeline pass of ``pass_m`` micro-batches is a distinct plan that runs: PP > 1, the step's
    micro-batches (global / (micro-batch x DP)) more than one pass and a whole number of them (torchtitan trainer.py
    0.3: ``global_batch_size % (local_batch_size * dp) == 0``, else it stops; planner.present.emit
    ``titan_local_batch``), and the pass a multiple of PP (the interleaved schedules need their micro-batches in whole
    rounds of PP, torch pipelining's ``ScheduleInterleaved1F1B``; fewer than PP is all bubble)."""
    m = global_batch / (np.asarray(c.mb) * np.asarray(c.dp))
    pp = np.asarray(c.pp)
    return (pp > 1) & (m > pass_m) & (np.mod(m, pass_m) == 0) & (np.mod(pass_m, pp) == 0)


def job_stack(job: JobSpec) -> Stack:
    """The stack ``job`` runs with its options as set, as its code runs this model (``from_training``: AutoModel's
    dense parallelizer, ``Stack.for_model``), after the checks no layout can pass (``stack_variants``' first step;
    also the app's stack controls, planner.interactive ``_runs``): a rule that refuses the whole job
    (``stack_rules.job_refusal``), an offload its fixed fields rule out, Megatron-FSDP below ZeRO-2."""
    m, t, p = job.model, job.training, job.parallel
    base = from_training(t, model=m)
    whole = stack_rules.job_refusal(base, m, t)  # a rule no layout of the job can obey
    if whole is not None:
        raise InputError(whole.field, whole.message(stack=base))
    _check_fixed_offloads(base, p, t)
    if base.megatron_fsdp and p.zero is not None and p.zero < 2:  # estimate's words (workloads.training)
        raise InputError("training.framework.megatron_fsdp", megatron_fsdp_low_zero(p.zero))
    check_asked_zero(base, m, t, p.zero)  # an option whose stack stops below the stage it needs
    return base


def stack_variants(job: JobSpec, recipes: bool = False) -> list[StackVariant]:
    """The stack option combinations to search, the job's own (base) stack first. Which options:
    those in ``stacks.SEARCHED`` the job leaves open and the stack implements
    (``Stack.offloads``), where they can change a plan: optimizer offload (under LoRA/QLoRA's frozen
    base it moves the adapters' state: memory.memory_per_gpu), activation offload for transformers where
    Megatron-Core allows it (pp = 1, no recompute), reshard_after_forward when the job fixes ZeRO-3,
    megatron_fsdp on the Megatron-Core stacks when the job leaves ZeRO open or fixes 2/3, the fused linear
    cross-entropy on the stacks that have one (HF Trainer's Liger) for a model it patches, as a fallback;
    Megatron-DeepSpeed's DeepSpeed checkpointing on the full-recompute rows and MaxText's loss tiles (a chain of
    counts), fallbacks too (rec58).
    A small outer product (at most 2 x 2 x 2 x 2), evaluated variant by variant on whole chunks; then the
    same combinations once more for each Megatron-Core ``recompute_modules`` list searched
    (``recompute_module_lists``), on the selective-recompute rows (``_with_module_lists``). ``recipes``: the job set
    ``training.framework.fp8_recipe: auto`` (``recipe_auto``; ``job`` has it cleared, ``without_auto_recipe``): each
    recipe ``recipe_choices`` keeps is an axis value, the stack's default first (not a fallback: every one is tried
    on every row, on the GPUs with its GEMM peak: planner.search.recommend ``_variants_off``)."""
    m, t, p = job.model, job.training, job.parallel
    base = job_stack(job)
    asked = max(asked_zero(base, m, t).values(), default=0) if p.zero is None else 0
    open_ = set(open_options(t)) & set(SEARCHED)
    axes = {}
    if recipes and t.precision == "fp8":  # the job's fp8_recipe: auto (outermost: the base's recipe first)
        axes["fp8_recipe"] = recipe_choices(base, m, t)[0]
    # the MoE token dispatcher left open where the stack offers several: each one the job's stack runs (the default
    # first); the GPUs and fabrics each needs are planner.search.recommend's (_variants_off, moe.DISPATCHER_NEEDS)
    if "moe_dispatcher" in open_ and holds(base, "moe_dispatcher"):
        tried = dispatcher_choices(base, m, t)[0]
        if len(tried) > 1:
            axes["moe_dispatcher"] = tried
    if "moe_a2a_overlap" in open_ and holds(base, "moe_a2a_overlap"):  # the combined-1F1B overlap, as the dispatchers
        tried = a2a_overlap_choices(base, m, t)[0]
        if len(tried) > 1:
            axes["moe_a2a_overlap"] = tried
    # ZeRO-3 without resharding after forward is FSDP's SHARD_GRAD_OP, i.e. ZeRO-2, which the
    # layout search tries anyway when parallel.zero is open (on the stacks that have ZeRO-2; the
    # Megatron ones refuse it, stack_rules "megatron-zero2"): searched only when the job fixes zero: 3
    open_ = {k for k in open_ if holds(base, k)}  # an option the stack has no switch for is not tried
    if "reshard_after_forward" in open_ and p.zero == 3:
        axes["reshard_after_forward"] = (base.reshard_after_forward, not base.reshard_after_forward)
    # Megatron-FSDP trades memory for communication as the offloads do: its ZeRO-2 shards the gradients the
    # distributed optimizer keeps whole, at a reduce-scatter per micro-batch, and its ZeRO-3 runs the layouts
    # FSDP2 refuses (PP, EP, tied embeddings: planner.model.stack_rules); which wins depends on the layout
    if ("megatron_fsdp" in open_ and base.has_megatron_fsdp and m.is_transformer
            and (p.zero is None or p.zero >= 2)):
        axes["megatron_fsdp"] = (base.megatron_fsdp, not base.megatron_fsdp)
    # accelerate's FSDP version left open (the HF Trainer's fsdp_config ``version``): the Trainer's default first, the
    # other on the ZeRO-2/3 rows only (StackVariant.min_zero: below them the Trainer runs DDP, no FSDP to choose). Not a
    # fallback: the versions differ in memory both ways -- FSDP1 shards a QLoRA base's Params4bit that FSDP2 leaves
    # whole on every rank (finetune.bnb_ignored_by_fsdp2, qlora54), FSDP2 keeps no 16-bit flat shard beside the fp32
    # one (fsdp2_dp) -- and in time (FSDP1's no_sync accumulation, fsdp1_no_sync); the stack's rules refuse the rows
    # one version cannot run (hf-trainer-cp-fsdp1: accelerate's CP under FSDP2 only)
    if "fsdp_version" in open_ and len(base.fsdp_versions) > 1 and (p.zero is None or p.zero >= 2):
        axes["fsdp_version"] = (base.fsdp_version,) + tuple(v for v in base.fsdp_versions if v != base.fsdp_version)
    if "optimizer_offload" in open_ and "optimizer" in base.offloads:
        axes["optimizer_offload"] = (False, True)
    # DeepSpeed's parameter offload: a fallback as the other offloads are (it only adds host-link time), on ZeRO-3 rows
    # (StackVariant.min_zero; offload.valid_masks), where the job leaves ZeRO open or fixes 3
    if "param_offload" in open_ and "param" in base.offloads and (p.zero is None or p.zero == 3):
        axes["param_offload"] = (False, True)
    # the fused linear cross-entropy (HF Trainer's use_liger_kernel, off as the stack ships it): a fallback as the
    # offloads are, tried only where the eager loss's logits keep a plan from fitting (its time is the same GEMMs)
    if "fused_cross_entropy" in open_ and liger_patches(m) and not base.fused_cross_entropy:
        axes["fused_cross_entropy"] = (False, True)
    # the loop's gradient accumulation left open (``defer_fsdp_grad_sync``: the HF Trainer's, accelerate's
    # ``sync_each_batch`` negated; NeMo AutoModel's ``FSDP2Config.defer_fsdp_grad_sync``): the stack's default first --
    # the sync on a step's last micro-batch, which holds the whole model's unsharded gradient until then
    # (planner.model.memory ``accumulates_unsharded``) -- then the sync each micro-batch (a reduce-scatter every
    # micro-batch, nothing held), a fallback as the offloads are: tried only where the deferred plan does not fit, on
    # ZeRO-2/3 rows (StackVariant.min_zero: below them the loop runs DDP / no FSDP sync to defer) without PP
    # (StackVariant.max_pp: under PP torch pipelining's own hooks defer, whatever the option). AutoModel's MoE
    # ``fsdp_defer_sync`` (``enable_fsdp_optimizations``) holds the same gradients whatever this option: not with it
    if ("defer_fsdp_grad_sync" in open_ and searched_on(base, "defer_fsdp_grad_sync") and accumulates_unsharded(base)
            and not base.fsdp_defer_sync and (p.zero is None or p.zero >= 2) and (p.pp or 1) == 1):
        axes["defer_fsdp_grad_sync"] = (True, False)
    # NeMo AutoModel's loss class left open: the recipes' ``MaskedCrossEntropy`` first (its fp32 upcast of the whole
    # logits), then ``FusedLinearCrossEntropy`` (Cut Cross-Entropy: no logits, the head GEMM re-run in its backward),
    # a fallback as the HF Trainer's Liger loss is, tried only where the masked loss keeps a plan from fitting; refused
    # under TP by the stack's rule (automodel-linear-ce-tp). Not where the job sets ``ce_fp32_upcast`` (an argument
    # FusedLinearCrossEntropy does not take), and only on a causal LM's vocabulary logits (AutoModel's LLM recipes: not
    # an encoder's masked-LM head, not a classifier head)
    if ("loss_fn" in open_ and base.loss_fn == "masked_ce" and "ce_fp32_upcast" in open_options(t)
            and m.causal and m.output_head != "classifier"):
        axes["loss_fn"] = ("masked_ce", "linear_ce")
    # Megatron-DeepSpeed's DeepSpeed checkpointing left open (rec58): each a fallback as the offloads are, on the
    # full-recompute rows only (offload.valid_masks: the layers deepspeed.checkpointing.checkpoint wraps) --
    # partition_activations keeps each checkpointed input's 1/tp slice (an all-gather before its recompute),
    # cpu_checkpointing puts it in host memory (blocking copies); both on only where neither alone fits
    if m.is_transformer and t.recompute in (None, "full"):
        for k in DS_CHECKPOINT_OPTIONS:
            if k in open_ and not getattr(base, k):
                axes[k] = (False, True)
    # MaxText's loss tiling left open (rec58): one tile (base.yml's), then VOCAB_TILE_CHOICES, a chain as the pipeline
    # pass is: each count tried only where the one before does not fit or does not run (its tiles must split the
    # rank's tokens: stack_rules maxtext-vocab-tiles), its price the same at any count above one (the head re-run)
    if ("num_vocab_tiling" in open_ and base.num_vocab_tiling == 1 and m.is_transformer
            and m.output_head != "classifier"):  # (a classifier head makes no vocabulary logits to tile: QA 102)
        axes["num_vocab_tiling"] = (1,) + VOCAB_TILE_CHOICES
    if ("activation_offload" in open_ and "activation" in base.offloads and m.is_transformer
            and (p.pp or 1) == 1 and t.recompute in (None, "none")):
        # off, then (rec58) OFFLOAD_LAYER_SHARES of the layers where the job leaves their count open and fixes
        # recompute none, then Megatron's default count (all but the last): a chain, each count only where the one
        # before does not fit. With recompute open the search's recompute rows are the memory lever beside the
        # offload: there the chain cost Llama-3-70B's example search 1.20 -> 1.60 CPU s for the same answer
        counts = t.recompute == "none" and "activation_offload_layers" in open_ and base.activation_offload_layers is None
        axes["activation_offload"] = (False,) + (offload_layer_counts(m.layers) if counts else ()) + (True,)
    # the pipeline split left open on Megatron-Core / torchtitan: the balanced split (pipeline.BalancedSplit /
    # TitanSplit), and the stack's own only where that does not fit (a fallback as the offloads are: the balanced
    # split is never slower where both fit)
    own = PLAIN_SPLIT.get(stack_rules.runtime(base))
    if ("pp_split" in open_ and own is not None and m.is_transformer and not m.hybrid and base.pp_layout is None
            and base.pp_first_stage_less_layers is None and base.pp_last_stage_less_layers is None
            and (p.pp is None or p.pp > 1)):
        axes["pp_split"] = ("balanced", own)
    # Megatron-Core's --cp-comm-type left open where the job can run CP: its four exchanges (the stack's own, p2p, first);
    # the others only on CP > 1 rows (StackVariant.min_cp), where TE's rules (stack_rules mcore-cp-a2a-heads) allow
    if "cp_comm_type" in open_ and m.is_transformer and (p.cp is None or p.cp > 1):
        axes["cp_comm_type"] = (base.cp_comm_type,) + tuple(v for v in base.cp_comm_types if v != base.cp_comm_type)
    # the pipeline pass left open where the loop runs the schedule once per accumulation step (torchtitan, NeMo
    # AutoModel: Stack.has_pp_pass): one pass over the step's micro-batches first (the fewest bubbles, FSDP syncs),
    # then PASS_CHOICES -- a fallback as the offloads are, tried only where the whole-step pass does not fit (its
    # receive buffers and, GPipe's, its micro-batches in flight grow with the pass: memory_activations), on the rows
    # whose step it divides into several passes of a multiple of PP (StackVariant.pass_rows)
    if "pp_pass_microbatches" in open_ and m.is_transformer and (p.pp is None or p.pp > 1):
        axes["pp_pass_microbatches"] = (None,) + PASS_CHOICES
    names = list(axes)
    # the fallback options and their first choice: a variant with another value is tried only where its parent,
    # the same combination at the first choice, does not fit
    first = {n: axes[n][0] for n in names if is_fallback(n)}  # (each axis lists it first)
    # a chain of fallback values: each one's parent is the value before it, not the first (pp_pass_microbatches: a
    # smaller pass is never cheaper than a larger one that fits -- more bubbles and FSDP syncs, pipeline.step_composition
    # -- and never needs more memory, so each is tried only where the larger does not fit or does not run: ``relay``)
    chained = {"pp_pass_microbatches", "num_vocab_tiling", "activation_offload"}
    prev = {k: dict(zip(axes[k][1:], axes[k][:-1])) for k in chained if k in axes}
    out, index = [], {}
    for vals in product(*axes.values()):  # fallbacks vary fastest: parents precede their children
        values = dict(zip(names, vals))
        index[vals] = len(out)
        parents = tuple(index[tuple((prev[k][v] if k in prev else first[k]) if n == k else v
                                    for n, v in zip(names, vals))]
                        for k in first if values[k] != first[k])
        root = index[tuple(first.get(n, v) if (n.endswith("_offload") or n in SCREENED_FALLBACKS) else v
                           for n, v in zip(names, vals))]
        # the stack's own split can hold any rank's memory (no could_fit screen): tried wherever its parent misfits
        plain = values.get("pp_split") in PLAIN_SPLIT.values()
        # a smaller pass takes receive buffers and in-flight micro-batches off, terms could_fit does not split out
        passed = values.get("pp_pass_microbatches") is not None
        screened = bool(parents) and not plain and not passed
        # a link of either chain: the rows it does not run on (a pass or tiles that do not divide) go on to the next
        relay = passed or values.get("num_vocab_tiling", 1) > 1
        values = offload_count_options(values, axes)
        vst = base.with_options(**values) if values else base
        out.append(StackVariant(
            stack=vst, values=values, parents=parents,
            one_replica_zero=None if p.zero is not None else vst.one_replica_zero,
            root=root if screened else None, model=m, training=t, min_pp=2 if plain else 0, relay=relay, asked_zero=asked,
            min_cp=2 * (values.get("cp_comm_type", base.cp_comm_type) != base.cp_comm_type),
            max_pp=1 if values.get("defer_fsdp_grad_sync") is False else None,
            # Megatron-FSDP at ZeRO-2/3 only, searched or fixed (estimate refuses it below: it changes nothing there);
            # until QA 38 a job's own megatron_fsdp: true ranked ZeRO-0/1 plans that estimate then refused
            min_zero=max([3 * (values.get("reshard_after_forward", base.reshard_after_forward) != base.reshard_after_forward),
                          2 * (values.get("defer_fsdp_grad_sync") is False),
                          2 * (values.get("fsdp_version", base.fsdp_version) != base.fsdp_version),
                          2 * bool(values.get("megatron_fsdp", base.megatron_fsdp)),
                          3 * bool(values.get("param_offload", base.param_offload))])))
    return _with_module_lists(_with_nvme_twins(out, t), recompute_module_lists(job))


def _with_nvme_twins(variants: list[StackVariant], t) -> list[StackVariant]:
    """``variants`` and, where the job leaves ``training.framework.offload_device`` open on a stack that can swap to
    NVMe (DeepSpeed ZeRO-Infinity, ``Stack.offload_devices``; nvme49), each variant with an offload on once more with
    its offloads on ``nvme``: the same GPU memory (planner.model.offload: the swap holds the host's share, not the
    GPU's), less host RAM, NVMe traffic beside every step, so it is tried only on the rows where its CPU twin (its one
    parent) does not fit, on ZeRO-3 (DeepSpeed's swappers are stage3.py's), and only on instances with local NVMe
    (planner.search.recommend ``_variants_off``). Until QA 93 a ZeRO-3 plan host RAM refused was refused, the NVMe
    never tried unless the job named it."""
    base = variants[0].stack
    if "offload_device" not in open_options(t) or "nvme" not in base.offload_devices or base.offload_device != "cpu":
        return variants
    twins = [replace(v, stack=v.stack.with_options(offload_device="nvme"),
                     values={**v.values, "offload_device": "nvme"}, parents=(i,),
                     root=i if v.root is None else v.root, min_zero=3)
             for i, v in enumerate(variants) if v.stack.optimizer_offload or v.stack.param_offload]
    return variants + twins


def _check_fixed_offloads(stack: Stack, p, t) -> None:
    """Refuse an offload the job switches on (``training.framework``) that its own fixed fields rule out
    (planner.model.offload ``WHY_REFUSED``: activation offload at pp > 1 or with recompute, optimizer offload at ZeRO-0
    over several replicas), in ``estimate``'s words. Each field the job leaves open takes the value that runs it
    (pp 1, recompute none, the highest ZeRO, one replica). Before QA 38 these layouts were dropped without a tally:
    ``activation_offload: true`` beside ``parallel.pp: 2`` was refused as "Megatron refuses ZeRO-3 with pipeline
    parallelism", the only stack rule counted, which the job never asked for."""
    one = SimpleNamespace(pp=np.array([p.pp or 1]), rc=np.array([RECOMPUTE.code[t.recompute or "none"]]), zero=np.array([3 if p.zero is None else p.zero]),
                          dp=np.array([p.dp or 1]), cp=np.array([p.cp or 1]))
    for option, ok in offload.valid_masks(stack, one).items():
        if not ok.all():
            fixed = ", ".join(f"{k}: {v}" for k, v in (("parallel.pp", p.pp), ("training.recompute", t.recompute),
                                                        ("parallel.zero", p.zero), ("parallel.dp", p.dp),
                                                        ("parallel.cp", p.cp)) if v is not None)
            raise InputError(f"training.framework.{option}", f"{offload.WHY_REFUSED[option]}; the job fixes {fixed}")


@dataclass(frozen=True)
class StackGroup:
    """One training stack a search covers: ``job`` with that stack in ``training.framework`` and its
    ``variants`` (``stack_variants``), or, for a stack ``training.framework: auto`` could not use,
    ``refused``, the one-line reason (its rule, an option it lacks). A job that names its stack (or
    leaves it to the default) is one group: the job itself."""

    name: str
    job: JobSpec
    variants: tuple = ()
    refused: str | None = None


def recipe_auto(job: JobSpec) -> bool:
    """The job leaves the fp8 recipe to the search (``training.framework.fp8_recipe: auto``)."""
    fw = getattr(job.training, "framework", None)
    return fw is not None and getattr(fw, "fp8_recipe", None) == RECIPE_AUTO


def without_auto_recipe(job: JobSpec) -> JobSpec:
    """``job`` with ``fp8_recipe: auto`` cleared: each stack at its default recipe, the base variant of the search
    (``stack_variants(job, recipes=True)`` adds the others); ``job`` itself where it does not set auto."""
    if not recipe_auto(job):
        return job
    fw = job.training.framework.model_copy(update={"fp8_recipe": None})
    return job.model_copy(update={"training": job.training.model_copy(update={"framework": fw})})


def recipe_choices(base: Stack, m, t) -> tuple[tuple[str, ...], dict[str, str]]:
    """The fp8 recipes a ``fp8_recipe: auto`` search tries on stack ``base`` (its default first), and why each other
    one is left out, before any GPU: one its code does not offer (``stacks.fp8_recipes``: planner.model.stack_rules
    ``FP8_RECIPES``, e.g. llm-foundry's Composer runs delayed scaling only), nvfp4 (``training.precision: fp4``'s
    recipe, FP4 GEMMs: the fp8 search keeps to FP8), or one the stack refuses for this job (``Stack.with_options``,
    Megatron-Core's recompute lists under delayed scaling, a job-wide stack rule). The GPU refusals (MXFP8 below
    Blackwell, blockwise off Hopper / Blackwell: physics ``LOW_PRECISION_PEAKS``) are per hardware option, in
    planner.search.recommend. Each recipe kept is priced by the step-time and memory model as it stands."""
    if t.precision != "fp8":
        return (), {}
    offered = fp8_recipes(base)
    return _tried_and_left(base.fp8_recipe, FP8_RECIPE.names, lambda r: (
        f"not in {base.name}'s code, stack_rules FP8_RECIPES" if r not in offered else
        "training.precision fp4's recipe" if r == "nvfp4" else _recipe_refusal(base, m, t, r)))


def dispatcher_choices(base: Stack, m, t) -> tuple[tuple[str, ...], dict[str, str]]:
    """The MoE token dispatchers a search tries on stack ``base`` where the job leaves ``moe_dispatcher`` open (its
    default first), and why each other one the stack offers is left out for this job before any hardware
    (``Stack.with_options``: a CUDA-graph scope it refuses; a job-wide stack rule: the shared-expert overlap the job
    sets, the flex dispatcher's). None but the default for a model without MoE layers (Megatron-Core builds no token
    dispatcher there, vocab ``MOE_ONLY_OPTIONS``). Which GPUs and fabrics run each: planner.model.moe
    ``DISPATCHER_NEEDS``, applied per hardware option by planner.search.recommend."""
    if m.moe is None or not m.is_transformer:
        return (base.moe_dispatcher,), {}
    return _tried_and_left(base.moe_dispatcher, base.moe_dispatchers,
                           lambda d: _option_refusal(base, m, t, moe_dispatcher=d))


def a2a_overlap_choices(base: Stack, m, t) -> tuple[tuple[bool, ...], dict[bool, str]]:
    """The values of the MoE all-to-all overlap (``moe_a2a_overlap``) a search tries on stack ``base`` where the job
    leaves it open (off, the stack's default, first), and why on is left out for this job before any layout
    (``_option_refusal``: fp32, a hybrid model, the shared-expert overlap the job sets; planner.model.stack_rules
    ``a2a-overlap-*``). Its layout rules (EP > 1, PP 1 or interleaved, no full recompute, MTP at PP > 1) are the
    variant's (``StackVariant.rows``). Off only for a model without MoE layers."""
    if m.moe is None or not m.is_transformer or base.moe_a2a_overlap:
        return (base.moe_a2a_overlap,), {}
    why = _option_refusal(base, m, t, moe_a2a_overlap=True)
    return ((False,), {True: why}) if why else ((False, True), {})


def _tried_and_left(default, values, refusal) -> tuple[tuple, dict]:
    """The values of one stack option a search tries, ``default`` first, and why each other one of ``values`` is left
    out (``refusal(value)``: the reason, or None to try it): the one walk of ``recipe_choices`` and
    ``dispatcher_choices`` (code48: each wrote it)."""
    tried, left = [default], {}
    for v in values:
        if v == default:
            continue
        why = refusal(v)
        if why:
            left[v] = why
        else:
            tried.append(v)
    return tuple(tried), left


def _option_refusal(base: Stack, m, t, **opts) -> str | None:
    """Why ``base`` with ``opts`` refuses this job outright (its option checks, the CUDA-graph scope it refuses for this
    model, a job-wide stack rule), or None."""
    try:
        st = base.with_options(**opts)
        cuda_graph_parts(st, m)  # e.g. moe captured with a flex dispatcher (stacks.cuda_graph_parts)
    except InputError as e:
        return e.message
    rule = stack_rules.job_refusal(st, m, t)
    return rule.message(stack=st) if rule is not None else None


def _recipe_refusal(base: Stack, m, t, recipe: str) -> str | None:
    """Why ``base`` refuses this job with ``recipe`` (its option checks, the recompute list, a job-wide rule), or None."""
    try:
        st = base.with_options(fp8_recipe=recipe)
    except InputError as e:
        return e.message
    if (why := _list_refusal(t, st, m)) is not None:
        return why
    rule = stack_rules.job_refusal(st, m, t)
    return rule.message(stack=st) if rule is not None else None


def _list_refusal(training, stack: Stack, m) -> str | None:
    """Why Megatron-Core refuses ``training``'s ``recompute_modules`` list on ``stack`` for model ``m``
    (``stacks.recompute_modules``, TransformerConfig's rules: no MLA, no MoE, moe_act / layernorm under FP8 delayed
    scaling, ...), or None where it runs it."""
    try:
        recompute_modules(training, stack, m, training.precision)
    except InputError as e:
        return e.message
    return None


def is_auto(job: JobSpec) -> bool:
    """The job leaves the training stack itself open (``training.framework: auto``)."""
    fw = getattr(job.training, "framework", None)
    return fw is not None and fw.name == "auto"


def stack_job(job: JobSpec, name: str) -> JobSpec:
    """``job`` on stack ``name``, with the options an ``auto`` framework gave (the rest stay open)."""
    fw = job.training.framework.model_copy(update={"name": name})
    return job.model_copy(update={"training": job.training.model_copy(update={"framework": fw})})


def open_stack(job: JobSpec, platform: str | None) -> str:
    """The stack a job whose ``training.framework`` is open (left out, or a section without a name) runs on
    ``platform``: the job's default stack (planner.spec.training_stack ``default_stack_name``: the training mode's,
    plain PyTorch DDP for a model without transformer layers, the optimizer's, else ``defaults.FRAMEWORK``), the one
    rule the job's validators name a nameless section by; the training mode's wherever it runs (else refused), any
    other where its code runs there, else the platform's (``defaults.FRAMEWORK_BY_PLATFORM``: maxtext on TPUs,
    neuronx-distributed on Trainium)."""
    default = default_stack_name(job.training, job.model is None or job.model.is_transformer) or D.FRAMEWORK
    if default_stack_mode(job.training) in D.FRAMEWORK_BY_MODE or platform is None or platform in RUNS_ON[default]:
        return default
    return D.FRAMEWORK_BY_PLATFORM.get(platform, default)


def for_schedule(job: JobSpec) -> JobSpec:
    """``job`` as the pipeline schedule it names runs: DualPipeV on a stack whose compile default is on (torchtitan's
    entry, after its published configs) runs with torch.compile off where the job leaves ``compile`` open --
    torch.distributed.pipelining ``ScheduleDualPipeV`` refuses compiled stage modules
    (``_check_torch_compile_compatibility``), and torchtitan's own default is off (torchtitan 0.3.0
    config/configs.py ``CompileConfig.enable: bool = False``) -- with an assumption line saying so; a job that sets
    ``compile: true`` is still refused (stack_rules ``titan-dualpipev-compile``). Until scale59 the open option took
    the entry's compile-on default and a torchtitan DeepSeek-V3 job naming ``schedule: dualpipev`` was refused for it."""
    fw = job.training.framework
    if job.parallel.schedule != "dualpipev" or fw is None or fw.compile is not None \
            or not from_training(job.training).compile:
        return job
    training = job.training.model_copy(update={"framework": fw.model_copy(update={"compile": False})})
    note = (f"training stack {fw.name}: compile off (left open), as DualPipeV runs: torch.distributed.pipelining "
            "refuses compiled stage modules")
    return job.model_copy(update={"training": training, "assumptions": list(job.assumptions) + [note]})


def named_stack_job(job: JobSpec, name: str) -> JobSpec:
    """``job`` with ``training.framework`` named ``name`` (its other stack options left open)."""
    from planner.spec.schema import FrameworkSpec

    fw = job.training.framework.model_copy(update={"name": name}) if job.training.framework else FrameworkSpec(name=name)
    return job.model_copy(update={"training": job.training.model_copy(update={"framework": fw})})


def non_transformer_note(job: JobSpec) -> str:
    """The assumption line of an open ``training.framework`` on a model without transformer layers, which runs on
    plain PyTorch DDP (``defaults.FRAMEWORK_NON_TRANSFORMER``), not the LLM stacks' default."""
    return (f"training.framework open for {job.model.name}, a model without transformer layers: plain PyTorch DDP + AMP "
            f"({D.FRAMEWORK_NON_TRANSFORMER}, the settings the ResNet-50 validation rows run), not {D.FRAMEWORK}; "
            "name another with training.framework")


def platform_note(gpu, name: str, names: tuple[str, ...] = ()) -> str:
    """The assumption line of an open ``training.framework`` run on its platform's stack (``names``: every
    accelerator of that platform it was run on, where a search had several)."""
    plat = platform_of(gpu)
    if port_of(D.FRAMEWORK, plat) == name:  # the default's own code there is a vendor's fork (stacks.PORTS)
        return (f"training.framework open on {', '.join(names or (gpu.name,))} ({PLATFORMS[plat]}): {D.FRAMEWORK} there "
                f"is {name}, {STACKS[name].fork}, with that code's options only (planner.model.stacks PORTS); name "
                "another with training.framework")
    return (f"training.framework open on {', '.join(names or (gpu.name,))} ({PLATFORMS[plat]}): its platform's stack {name}, not "
            f"{D.FRAMEWORK} (Megatron-Core / Transformer Engine / NCCL are CUDA and ROCm code; planner.model.stacks "
            "RUNS_ON); name another with training.framework")


def for_accelerator(job: JobSpec, gpu) -> JobSpec:
    """``job`` as it runs on accelerator ``gpu``: a named stack whose code does not run there is refused
    (``stacks.check_platform``: one line naming those that do), and so is an ``attn_implementation`` whose kernel
    package has no kernels for it (``stack_kernels.attn_implementation_refusal``: flash_attention_3 off CUDA compute
    capability 8.x / 9.0, flash_attention_2 below 8.0 or off CUDA / ROCm); an open ``training.framework`` becomes the
    platform's stack (``open_stack``), with an assumption line saying so, where the default's code does not
    run there. ``training.framework: auto`` is left to ``stack_groups``."""
    if is_auto(job):
        return job
    fw = job.training.framework
    if stack_named(job.training):  # (a section without a name is open: the platform's stack where the default's
        port = port_of(fw.name, platform_of(gpu))  # code does not run, as with no section; fwname59b)
        if port != fw.name:  # the name means the vendor's fork there (stacks.PORTS): its options, said
            return with_port(job, gpu, port)
        check_platform(fw.name, gpu)
        why = attn_implementation_refusal(getattr(fw, "attn_implementation", None), gpu)  # its kernel package's GPUs
        if why:
            raise InputError("training.framework.attn_implementation", why)
        return job
    name = open_stack(job, platform_of(gpu))
    mode = D.FRAMEWORK_BY_MODE.get(getattr(job.training, "mode", None))
    check_platform(name, gpu, "training.mode" if mode else "training.framework")
    why = open_stack_refusal(job, gpu)
    if why:
        raise InputError("training.framework", why)
    if name == stack_name(job.training):  # (not built: a nameless section's options are the stack's it becomes)
        return job
    j = named_stack_job(job, name)
    if name == D.FRAMEWORK_NON_TRANSFORMER and not job.model.is_transformer:  # the model's default, not the platform's
        return j.model_copy(update={"assumptions": list(job.assumptions) + [non_transformer_note(job)]})
    return j.model_copy(update={"assumptions": list(job.assumptions) + [platform_note(gpu, name)]})


def port_note(gpu, name: str, port: str, names: tuple[str, ...] = ()) -> str:
    """The assumption line of a stack named on a platform where its name means a vendor's fork (stacks ``PORTS``)."""
    return (f"training.framework {name} on {', '.join(names or (gpu.name,))} ({PLATFORMS[platform_of(gpu)]}) is {port}: "
            f"{STACKS[port].fork}, with that code's options only (planner.model.stacks PORTS)")


def port_refusal(e: InputError, name: str, port: str, gpus) -> InputError:
    """``e``, what fork ``port`` refuses of a job that named ``name`` on accelerators ``gpus``, saying first which code
    the job's name means there: the job named ``name``, not the fork (QA 53: "megatron-core-gaudi has no
    precision-aware optimizer ... (it runs on megatron-core, ...)" read as a refusal of the very stack it named)."""
    head = f"{name} on {', '.join(gpus)} is {port}, {STACKS[port].fork.split(' (')[0]}"
    if e.message.startswith(f"{port} "):  # "<port> has no ...": one sentence, inside the message's length limit
        return InputError(e.field, f"{head}, which{e.message[len(port):]}")
    return InputError(e.field, f"{head}: {e.message}")


def with_port(job: JobSpec, gpu, port: str, names: tuple[str, ...] = ()) -> JobSpec:
    """``job`` with its named stack replaced by ``port``, the fork its name means on ``gpu``'s platform, the job's
    options kept (one the fork lacks is refused in one line when the stack is built: ``stacks.check_option``) and an
    assumption line saying so."""
    j = named_stack_job(job, port)
    name = job.training.framework.name
    try:
        from_training(j.training)  # refuse an option the fork has not (training.framework.<option>: ...) here
    except InputError as e:
        raise port_refusal(e, name, port, names or (gpu.name,)) from None
    note = port_note(gpu, name, port, names)
    return j.model_copy(update={"assumptions": list(job.assumptions) + [note]})


def open_stack_refusal(job: JobSpec, gpu) -> str | None:
    """Why the stack an open ``training.framework`` becomes on accelerator ``gpu`` (``open_stack``) cannot run the job's
    model (``schema.hybrid_stack_refusal``: a hybrid model on MaxText), None when it can or the framework is not open.
    A named stack is held to it when the job is read; the platform's stack was not: Nemotron-H 8B on gcp was planned
    on tpu-v6e-8 under MaxText, and estimate of that plan's layout written back refused it (session 34)."""
    if stack_named(job.training) or job.model is None:
        return None
    plat = platform_of(gpu)
    name = open_stack(job, plat)
    why = hybrid_stack_refusal(job.model, name)
    if why is None:
        return None
    return f"left open, it is the platform's stack on {gpu.name}{f' ({PLATFORMS[plat]})' if plat else ''}: {why}"


def stack_runs_on(name: str, gpu) -> bool:
    """Stack ``name``'s code runs on accelerator ``gpu`` (an accelerator of unknown platform: assumed so)."""
    plat = platform_of(gpu)
    return plat is None or plat in RUNS_ON.get(name, (plat,))


def _built_groups(jobs: dict, check=lambda name, job: None, reword=lambda name, e: e, recipes: bool = False):
    """One ``StackGroup`` per stack name -> job of ``jobs``, each built and checked alone (``check``, then its
    variants: ``stack_variants``); a stack that refuses its job is kept with its reason (``reword``: the refusal as
    the group says it), for the comparison. Returns the groups and the refusals, in order."""
    out, errors = [], []
    for name, j in jobs.items():
        try:
            check(name, j)
            out.append(StackGroup(name, j, tuple(stack_variants(j, recipes))))
        except InputError as e:
            e = reword(name, e)
            errors.append(e)
            out.append(StackGroup(name, j, refused=f"{e.field}: {e.message}"))
    return out, errors


def stack_groups(job: JobSpec, gpus=(), recipes: bool = False) -> list[StackGroup]:
    """The stacks to search: the job's own, or for ``training.framework: auto`` each of
    ``defaults.AUTO_FRAMEWORKS`` with the job's options, built and checked alone (``stack_variants``:
    its rules, its options; ``finetune.check_targets``: LoRA targets its model code has). A stack that
    refuses the job is kept with its reason, for the comparison; when every one does, the first
    refusal is the error. ``gpus``: the accelerators searched. Where one of them runs none of those stacks'
    code (a TPU, Trainium), its platform's stack (``defaults.FRAMEWORK_BY_PLATFORM``) is searched as well --
    for ``auto`` beside the others, for an open ``training.framework`` as that platform's default (one group
    per platform's stack, each searched only on the accelerators it runs on: planner.search.recommend). ``recipes``:
    each stack's fp8 recipes are searched too (``stack_variants``; the job's ``fp8_recipe: auto``, cleared)."""
    plats = list(dict.fromkeys(p for p in (platform_of(g) for g in gpus) if p is not None))
    if not is_auto(job):
        if not stack_named(job.training) and plats:  # left out, or a section without a name
            # (a platform's stack that cannot run the model is no group: its accelerators are left out, saying why:
            # open_stack_refusal)
            names = [n for n in dict.fromkeys(open_stack(job, p) for p in plats)
                     if hybrid_stack_refusal(job.model, n) is None] or [stack_name(job.training)]
            if names != [stack_name(job.training)]:
                return [StackGroup(n, named_stack_job(job, n), tuple(stack_variants(named_stack_job(job, n), recipes)))
                        for n in names]
        if stack_named(job.training) and plats:
            # a stack named where its name means a vendor's fork (stacks.PORTS: megatron-core on Gaudi is Intel's
            # fork): one group per code base, each searched only on the accelerators it runs on (as above)
            # A fork that refuses an option the job sets is a refused group: its accelerators are left out saying
            # why and the others searched (QA 53: precision_aware_optimizer over H100 and Gaudi 2 failed the whole
            # search on the Gaudi fork's refusal); when every group refuses, the first refusal is the error.
            name = job.training.framework.name
            names = list(dict.fromkeys(port_of(name, p) for p in plats))
            if names != [name]:
                def reword(n, e):  # a fork's refusal says first which code the job's name means there
                    here = dict.fromkeys(g.name for g in gpus if platform_of(g) in RUNS_ON[n])
                    return port_refusal(e, name, n, here) if n != name else e
                out, errors = _built_groups({n: named_stack_job(job, n) if n != name else job for n in names},
                                            reword=reword, recipes=recipes)
                if len(errors) == len(out):
                    raise errors[0]
                return out
        return [StackGroup(from_training(job.training).name, job, tuple(stack_variants(job, recipes)))]
    if not job.model.is_transformer:  # the registry's stacks differ in how they run transformer layers only
        raise InputError("training.framework", "auto compares stacks by their transformer layers (planner.model.stacks); "
                                               "for this model they time alike: name the stack or leave it out")
    # (and the forks the auto stacks run as there: Megatron-Core on Gaudi is Intel's fork, stacks.PORTS)
    names = list(D.AUTO_FRAMEWORKS) + [D.FRAMEWORK_BY_PLATFORM[p] for p in plats if p in D.FRAMEWORK_BY_PLATFORM
                                       and not any(p in RUNS_ON[n] for n in D.AUTO_FRAMEWORKS)] \
        + [port_of(n, p) for n in D.AUTO_FRAMEWORKS for p in plats if port_of(n, p) != n]

    def check(name, j):
        if plats and not any(p in RUNS_ON[name] for p in plats):
            runs = ", ".join(PLATFORMS[p] for p in RUNS_ON[name])
            raise InputError("training.framework", f"{name} runs on {runs}, none of which the search has")
        check_targets(j.model, j.training, stack_rules.RUNTIMES.get(name))

    out, errors = _built_groups({n: stack_job(job, n) for n in dict.fromkeys(names)}, check=check, recipes=recipes)
    if all(g.refused for g in out):
        # the field leads the line already: "error: training.framework: training.framework auto: ..." said it twice
        # the stacks auto compares lead the line (an error keeps 300 characters): a job whose options only a stack
        # outside them takes (loss_fn: nemo-automodel) read "no stack runs this job" (QA 53)
        raise InputError(errors[0].field, f"framework auto compares {', '.join(g.name for g in out)} only and none runs "
                                      f"this job; name the stack (training.framework.name) "
                                      f"({'; '.join(f'{g.name}: {g.refused}' for g in out)})")
    return out


def job_for_plan(job: JobSpec, stack: dict) -> JobSpec:
    """``job`` as a plan runs it: on the plan's stack (``Plan.stack``: its name, options, and the
    options the search chose) -- for ``training.framework: auto`` the stack the search picked."""
    if not (stack.get("searched") or is_auto(job) or (stack.get("name") and stack["name"] != from_training(job.training).name)):
        return job  # (an open framework timed on its platform's stack, space.for_accelerator, takes that stack's name)
    from planner.spec.schema import FrameworkSpec

    fw = job.training.framework or FrameworkSpec(name=stack["name"])
    fw = fw.model_copy(update={"name": stack["name"], **{k: stack[k] for k in stack.get("searched", ()) if k in stack}})
    return job.model_copy(update={"training": job.training.model_copy(update={"framework": fw})})


def recompute_module_lists(job: JobSpec) -> tuple[tuple[str, ...], ...]:
    """The Megatron-Core ``recompute_modules`` lists ``recommend`` tries besides the default
    ["core_attn"] (``defaults.RECOMPUTE_MODULE_LISTS``, the lists NVIDIA's recipes run): only when
    the job leaves ``training.recompute`` open on a stack with per-module recompute
    (``Stack.module_recompute``), for a transformer whose layers' activations the lists change (a
    LoRA/QLoRA frozen base keeps peft's own set); only lists Megatron-Core accepts for this model,
    stack and precision (``stacks.recompute_modules``, TransformerConfig's rules) and whose every
    module frees memory on this model (the activation table, ``activations``' docstring "Recompute modules":
    "mlp" needs dense layers, "layernorm" a norm that is a separate module) -- a module that frees
    nothing only adds time."""
    m, t = job.model, job.training
    base = from_training(t)
    if t.recompute is not None or not base.module_recompute or not m.is_transformer or frozen_base(m, t):
        return ()
    kw = dict(recompute=SELECTIVE, flash=t.flash_attention, dropout=t.dropout, act_bytes=ACT_BYTES[t.precision],
              **{k: v for k, v in stack_table_kw(base, t.precision).items() if k != "modules"})

    def kept(mods):  # bytes one (mean) layer keeps per token under selective recompute of ``mods``
        return float(mean_layer_activation_bytes(m, t.seq_len, 1, modules=mods, **kw))

    out = []
    for mods in D.RECOMPUTE_MODULE_LISTS:
        if _list_refusal(t.model_copy(update={"recompute_modules": list(mods)}), base, m) is not None:
            continue  # Megatron-Core refuses it here
        if all(kept((x,)) < kept(()) for x in mods):
            out.append(tuple(mods))
    return tuple(out)


def _with_module_lists(variants: list[StackVariant], lists) -> list[StackVariant]:
    """``variants`` (the stack-option combinations, Megatron's default list) and, for each searched
    ``recompute_modules`` list, the same combinations on the selective rows with that list. A list
    re-runs at least what each of its sub-lists re-runs (planner.model.step_time: each module's
    forward once more), so it is slower wherever a sub-list fits: its parents are the same
    combination under its largest sub-lists (and, as before, one offload fewer), and it is tried
    only on rows where none of them fits."""
    if not lists:
        return variants
    t = variants[0].training
    blocks = [DEFAULT_RECOMPUTE_MODULES, *lists]  # sub-lists first (defaults.RECOMPUTE_MODULE_LISTS' order)
    at = {(0, k): k for k in range(len(variants))}  # (list, combination) -> index in the output
    out = list(variants)
    for b, mods in enumerate(blocks[1:], start=1):
        subs = [i for i, s in enumerate(blocks[:b]) if set(s) < set(mods)]
        largest = [i for i in subs if not any(set(blocks[i]) < set(blocks[j]) for j in subs)]
        training = t.model_copy(update={"recompute_modules": list(mods)})
        for k, v in enumerate(variants):
            if v.stack.activation_offload:  # Megatron-Core offloads activations without recompute only
                continue
            if _list_refusal(training, v.stack, v.model) is not None:  # a searched recipe's (FP8 delayed scaling)
                continue
            at[b, k] = len(out)
            parents = (tuple(at[b, q] for q in v.parents if (b, q) in at)
                       + tuple(at[i, k] for i in largest if (i, k) in at))
            # screened against the same combination under the default list (no offload) or, with an
            # offload, against this list without it
            root, frees = (at[0, k], ("activations",)) if v.root is None else (at[b, v.root], None)
            out.append(replace(v, training=training, modules=mods, parents=parents, root=root, frees=frees))
    return out


def variant_job(job: JobSpec, variant: StackVariant) -> JobSpec:
    """``job`` as ``variant`` runs it: with the searched recompute list in its training."""
    return job if variant.modules is None else job.model_copy(update={"training": variant.training})


def module_lists_note(variants: list[StackVariant]) -> str | None:
    """The recompute lists the search tried, as one line for the output's assumptions."""
    lists = list(dict.fromkeys(v.modules for v in variants if v.modules is not None))
    if not lists:
        return None
    shown = ", ".join("[" + ", ".join(x) + "]" for x in [DEFAULT_RECOMPUTE_MODULES, *lists])
    # "on megatron-core plans": a search over GPUs and TPUs gives its MaxText (TPU) plans no module lists
    return (f"training.recompute open on {variants[0].stack.name} plans: selective recompute searched over Megatron-Core "
            f"recompute_modules {shown} (the lists Megatron-Bridge/NeMo recipes run that Megatron-Core accepts and "
            "that free memory on this model; a longer list only where its sub-lists do not fit)")


def _regroup_part(regroup: int) -> str:
    """What a Megatron micro-batch group size would run of the layouts rule "interleaved-m" refused (``regroup``:
    how many of them have m >= pp, planner.model.stack_rules ``regroup_runs``)."""
    return f" ({regroup:,} of them would run: {stack_rules.REGROUP_HINT})" if regroup else ""


def refusal_note(stack: Stack, counts: dict[str, int], total: int, regroup: int = 0) -> str | None:
    """The layouts the search left out because the stack refuses them (``counts``: rows per rule
    name, each row under the first rule it breaks, so they sum to ``total``: rows refused by any, of the job's own
    stack variant), as one line for the output's assumptions; ``regroup``: the interleaved layouts among those
    counted under "interleaved-m" that a Megatron micro-batch group size (``microbatch_group_size``) would run.
    Until QA 36b a layout was counted under every rule it broke: on a Megatron-Core search whose Megatron-FSDP
    variant ran the ZeRO-3 layouts, every one left out broke "interleaved-m", whose count equalled the total, while
    the ZeRO rules counted only layouts that broke it too."""
    hit = {k: v for k, v in counts.items() if v}
    if not hit or not total:
        return None
    by_name = {r.name: r for r in stack_rules.RULES}
    parts = "; ".join(f"{v:,} {by_name[k].what} ({by_name[k].cite})"
                      + (_regroup_part(regroup) if k == "interleaved-m" else "") for k, v in hit.items())
    # a layout can break several rules (an interleaved ZeRO-3 pipeline): said where more than one rule is counted
    by_rule = "by rule, each layout under the first it breaks" if len(hit) > 1 else "by rule"
    return (f"training stack {stack.name}: {total:,} layouts it refuses are excluded (planner.model.stack_rules; "
            f"{by_rule}) — {parts}")


def sp_off_note(stack: Stack, rows: int, rules: tuple[str, ...]) -> str:
    """The assumption line of a search that ran ``rows`` layouts without sequence parallelism, which the job left
    open, because the stack's ``rules`` refuse it on them (``stack_rules.open_sp``)."""
    by_name = {r.name: r for r in stack_rules.RULES}
    why = "; ".join(f"{by_name[k].what} ({by_name[k].cite})" for k in rules)
    return (f"parallel.sequence_parallel open: {rows:,} TP > 1 layouts searched with it off, which training stack "
            f"{stack.name} refuses on ({', '.join(rules)}: {why})")


#: the rules a refusal lists where no one rule refused every layout (``refusal_error``)
REFUSAL_TOP_RULES = 3


def refusal_error(stack: Stack, counts: dict[str, int], total: int, regroup: int = 0) -> InputError | None:
    """When the stack refused every layout (``counts``: rows per rule name, each row under every rule it breaks;
    ``total``: the rows refused by any): the error naming the rule that made the job impossible -- the rule that
    refused every one of them, on its field (and, for the interleaved micro-batch groups, the group size that would
    run ``regroup`` of them); where several each refused all, every one of them (each must change); where none did,
    the ``REFUSAL_TOP_RULES`` that refused most, with their counts. Until QA 95 it named the most frequent rule
    alone, the first in rule order on a tie: an int8 LoRA base at ZeRO-3 and TP 2 read ``parallel.tp``, whose hint
    (tp 1) then met the int8 rule's ``parallel.zero``."""
    hit = {k: v for k, v in counts.items() if v}
    if not hit:
        return None
    rules = [r for r in stack_rules.RULES if r.name in hit]
    whole = [r for r in rules if hit[r.name] >= total]
    if len(whole) == 1:
        rule = whole[0]
        extra = (f" ({regroup:,} of them run with training.framework.microbatch_group_size set, e.g. to m)"
                 if regroup and rule.name == "interleaved-m" else "")
        # fitted again with its lead (``fit_message``): the rule's message fills the cap alone, and the cap then cut
        # the whole in its middle ("ZeRO-2/3 by fsdp_reshard_after_forw…mConfig: ...", until qa58)
        return InputError(rule.field, fit_message(f"the training stack {stack.name} refuses every layout left{extra}: "
                                                  f"{rule.message(stack=stack)}"))
    if whole:
        fields = " and ".join(dict.fromkeys(r.field for r in whole))
        return InputError(whole[0].field, fit_message(
            f"the training stack {stack.name} refuses every layout left under each of {len(whole)} rules (change "
            f"{fields}; rules {', '.join(r.name for r in whole)}): " + "; ".join(f"{r.field}: {r.what}" for r in whole)))
    top = sorted(rules, key=lambda r: -hit[r.name])[:REFUSAL_TOP_RULES]  # stable: rule order on a tie
    counted = ", ".join(f"{hit[r.name]:,} on {r.field} (rule {r.name})" for r in top)
    return InputError(top[0].field, fit_message(f"the training stack {stack.name} refuses every layout left ({total:,}), "
                                                f"no one rule all of them; most by: {counted}; {top[0].field}: {top[0].what}"))


def searched_options(variants: list[StackVariant]) -> tuple[str, ...]:
    """The option names a list of variants searches (the base's, then those only later variants have: a searched
    ``offload_device``, ``_with_nvme_twins``)."""
    return tuple(dict.fromkeys(k for v in variants for k in v.values))
