"""Pipeline schedules: per-stage operation orders and their exact timing by list scheduling.

A schedule is, for every pipeline stage, the ordered list of operations it runs in one training
step: ``("F", mb, chunk)`` or ``("B", mb, chunk)``. Timing is a longest-path recurrence over two
kinds of edges — program order on a stage, and the data dependency between neighbouring stages
(activation forward, gradient backward, each paying one point-to-point send ``t_p2p``):

    start(op) = max(end(previous op on this stage), end(producer op on the neighbour) + t_p2p)

With equal stages and ``t_p2p = 0`` this reproduces the textbook makespans

    GPipe / 1F1B : (m + p - 1) * (t_f + t_b)              (Narayanan et al. 2021, PipeDream-Flush)
    interleaved  : (m + (p - 1)/v) * (t_f + t_b)          (Narayanan et al. 2021 §2.2, Megatron-LM)

for m micro-batches, p stages and v model chunks per stage; t_f, t_b are whole-stage times of one
micro-batch (a chunk takes t_f/v and t_b/v). The interleaved order is Megatron-LM's
``forward_backward_pipelining_with_interleaving`` (warm-up ``(p - s - 1)*2 + (v - 1)*p`` forwards
on stage s, then one-forward-one-backward, then cool-down).

Example::

    >>> round(pipeline_timing(pp=4, m=8, vpp=1, t_f=1.0, t_b=2.0).makespan, 6)
    33.0
    >>> round(pipeline_timing(pp=4, m=8, vpp=2, t_f=1.0, t_b=2.0).makespan, 6)
    28.5
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from planner.layout import V_SPLIT, distinct_rows
from planner.npfast import select, where0
from planner.vocab import PP_PARTITION_METHOD, SCHEDULE



def vpp_group_size(m, pp, group=None):
    """Micro-batches a stage runs through one model chunk before the next under the interleaved schedule
    (vectorised): ``m // max(1, m // pp)`` -- torch.distributed.pipelining ``ScheduleInterleaved1F1B``'s
    ``microbatches_per_round`` (``number_of_rounds = max(1, n_microbatches // pp_group_size)``), and
    Megatron-Core's default ``microbatch_group_size_per_vp_stage`` = pp wherever Megatron runs the schedule
    (schedules.py refuses a final group of 1..pp-1 micro-batches, ``m % pp``; ``stack_rules`` "interleaved-m").
    Every group then holds at least pp micro-batches, or (torch, m < pp) the one group holds all m.

    ``group``: Megatron-Core's ``--microbatch-group-size-per-virtual-pipeline-stage`` set explicitly
    (``Stack.microbatch_group_size``), which Megatron runs as given: groups of ``group`` micro-batches and a final
    one of ``m % group`` (schedules.py ``get_schedule_table``), warm-up ``(v - 1) * group`` chunk forwards more
    (``get_pp_rank_microbatches``). It accepts pp <= group <= m with ``m % group`` 0 or >= pp (stack_rules
    "interleaved-m"), so every group again holds at least pp micro-batches. None: the default above."""
    m = np.asarray(m)
    if group is not None:
        return np.broadcast_to(np.asarray(group), m.shape).copy() if m.ndim else np.asarray(group)
    return m // np.maximum(1, m // pp)



def interleaved_warmup(pp, vpp, group, rank=0, a2a_overlap=False):
    """Warm-up chunk forwards of Megatron-Core's interleaved schedule on pipeline rank ``rank`` (vectorised), before
    the cap at the m v chunk forwards there are: ``(pp - rank - 1) * 2 + (vpp - 1) * group`` ("more forward passes
    for earlier stages, later stages can immediately start with 1F1B"), plus one with the combined-1F1B all-to-all
    overlap (``a2a_overlap``: ``overlap_moe_expert_parallel_comm``): "we schedule one extra micro-batch forward step
    before the 1f1b stages. This is needed to ensure the forward and backward computations are independent in all
    1f1b steps" (NVIDIA/Megatron-LM megatron/core/pipeline_parallel/schedules.py ``get_pp_rank_microbatches``, the
    interleaved branch, training only). ``group``: the micro-batch group size (``vpp_group_size``). The one count
    the step time's paired share (moe.a2a_paired_share), the memory's micro-batches in flight
    (memory_stages.inflight_microbatches, chunk_inflight) and the list schedule's order (``stage_orders``) read.

    Without the extra forward the last rank's first 1F1B step would pair micro-batch 0's forward of its last chunk with
    that micro-batch's own backward; with it every pair is of two micro-batches, and the list schedule with each
    pair run as one unit (both inputs in before it starts) ends at the same (pp - 1) / v bubble as the plain schedule
    (pp 2-16, v 2-4, m a multiple of pp: tests/test_warm42.py), so the bubble does not move."""
    return (pp - rank - 1) * 2 + (vpp - 1) * group + a2a_overlap

#: the pipeline split each stack launches where it is not Megatron's (``split_runtime``): the torchtitan runtime's, and
#: DeepSpeed's ``PipelineModule`` partition for the stacks that build one. Megatron-DeepSpeed's ``GPTModelPipe``
#: passes ``partition_method='type:transformer'`` (microsoft/Megatron-DeepSpeed megatron/model/gpt_model.py, every
#: stored version) unless the job sets another (``PARTITION_METHODS``); the HF-code ``deepspeed`` stack builds no
#: PipelineModule (it has no PP, stack_rules "hf-pp")
SPLIT_RUNTIMES = {"megatron-deepspeed": "deepspeed"}
#: DeepSpeed ``partition_method`` values a Megatron-DeepSpeed job may set (``Stack.pp_partition_method``; the
#: bigscience fork's ``--pp-partition-method``, which GPTModelPipe passes through: ``partition_method =
#: args.pp_partition_method`` when set) and the ``pipeline_split`` runtime of each. "type:transformer" (the default)
#: and "type:transformer+embedding" (DeepSpeed's regex ``type:transformer|embedding``, spelt without the bar a
#: config table cannot hold; BLOOM-176B's tr11 launch, 70 layers + 2 on PP12) weigh the specs whose name the regex
#: finds 1; "uniform" cuts the spec list into equal runs, every spec (the functions included) counted 1;
#: "parameters" (PipelineModule's own default) weighs each spec by its trainable parameters on the rank
#: (``gpt_model_pipe_specs``). All four: ``deepspeed_stage_layers``
PARTITION_METHODS = {"type:transformer": "deepspeed", "type:transformer+embedding": "deepspeed-embedding",
                     "uniform": "deepspeed-uniform", "parameters": "deepspeed-parameters"}
assert tuple(PARTITION_METHODS) == PP_PARTITION_METHOD.names
#: the DeepSpeed ``partition_method`` string of each DeepSpeed ``pipeline_split`` runtime
DEEPSPEED_METHODS = {"deepspeed": "type:transformer", "deepspeed-embedding": "type:transformer|embedding",
                     "deepspeed-uniform": "uniform", "deepspeed-parameters": "parameters"}


@dataclass(frozen=True)
class PipeSpec:
    """One entry of a DeepSpeed ``PipelineModule``'s layer-spec list, as ``_partition_layers`` sees it: the name its
    ``type:`` regex searches (``_find_layer_type``: a LayerSpec's class name, a function's ``__name__``), what it is,
    and its trainable parameters on one TP rank (``params``), which ``_count_layer_params`` counts by building it: a
    function holds none, and a ``TiedLayerSpec`` is built (and counted) again at each of its places."""
    name: str
    kind: str  # "function", "embedding" (EmbeddingPipe: the input embedding and the tied head), "transformer", "norm"
    sharded: int = 0  # parameters split over the TP ranks (column/row-parallel weights, their split biases)
    replicated: int = 0  # parameters every TP rank holds whole (norms, row-parallel biases, position embeddings)
    vocab: int = 0  # rows of a vocab-parallel table (``VocabParallelEmbedding``), padded per TP (``padded_vocab``)
    width: int = 0  # its columns (the hidden size)

    def params(self, tp: int = 1) -> int:
        """Trainable parameters one of ``tp`` tensor-parallel ranks holds of this spec."""
        return padded_vocab(self.vocab, tp) * self.width // tp + self.sharded // tp + self.replicated


def padded_vocab(vocab: int, tp: int = 1, divisible_by: int = 128) -> int:
    """Megatron's padded vocabulary (megatron/tokenizer/tokenizer.py ``_vocab_size_with_padding``): rounded up to a
    multiple of ``make_vocab_size_divisible_by`` (default 128) x the TP size, so each rank's table has equal rows."""
    multiple = divisible_by * tp
    return -(-vocab // multiple) * multiple if vocab else 0


def gpt_model_pipe_specs(layers: int, m=None) -> tuple[PipeSpec, ...]:
    """Megatron-DeepSpeed's ``GPTModelPipe`` layer specs (bigscience-workshop/Megatron-DeepSpeed megatron/model/
    gpt_model.py, the fork whose ``--pp-partition-method`` reaches PipelineModule; 16-bit training, as its launches
    run): ``_to_float16``, the ``EmbeddingPipe`` TiedLayerSpec, the transpose lambda, ``layers`` x
    ``ParallelTransformerLayerPipe``, the ``undo`` transpose, the final ``LayerNorm`` (``SyncLayerNorm``), the
    ``EmbeddingPipe`` TiedLayerSpec again as the head (``_logits_helper``), ``float16_to_fp32``: layers + 7 specs
    (the layers are specs 3 .. layers + 2 and the final norm ``layers + 4``, as a derived fork's checkpoint loader
    reads it: ``layer_{num_layers + 4}``). An untied model ends in microsoft/Megatron-DeepSpeed's ``LMHeadPipe``
    instead (its only untied head; the type: methods keep the fork's tied list, which has no other).

    Parameters per spec from ``m`` (planner.spec.params ``count_params``; zero without ``m``, enough for the ``type:``
    and ``uniform`` methods): the embedding's word table vocab-parallel (``padded_vocab`` rows over the TP ranks),
    its learned positions and token types whole on every rank (``torch.nn.Embedding``); a layer's norms and its two
    row-parallel biases (attention ``dense``, ``dense_4h_to_h``) whole, the rest split; the final norm whole. Not
    modelled: BLOOM's ``--embed-layernorm`` (2h, beside a 3.6B table) and a MoE layer's expert-parallel split (its
    experts are counted as TP-split). Hybrid models do not run on Megatron-DeepSpeed (stack_rules)."""
    fn = PipeSpec("_to_float16", "function"), PipeSpec("<lambda>", "function")
    if m is None or not getattr(m, "is_transformer", False):
        embed = head = PipeSpec("EmbeddingPipe", "embedding")
        norm = PipeSpec("LayerNorm", "norm")
        body = (PipeSpec("ParallelTransformerLayerPipe", "transformer"),) * layers
    else:
        from planner.spec.params import count_params, norm_params
        pc = count_params(m)
        h = m.hidden
        word = m.vocab * h
        embed = PipeSpec("EmbeddingPipe", "embedding", replicated=pc.embedding - word, vocab=m.vocab, width=h)
        head = embed if m.tied_embeddings else PipeSpec("LMHeadPipe", "head", sharded=pc.lm_head)
        norm = PipeSpec("LayerNorm", "norm", replicated=pc.final_norm)
        whole = m.layer_norms * norm_params(m) + (2 * h if m.linear_bias else 0)
        moe = set(m.moe_layer_ids) if m.moe is not None else set()
        per_layer = [pc.moe_layer if i in moe else pc.dense_layer for i in range(layers)]
        body = tuple(PipeSpec("ParallelTransformerLayerPipe", "transformer", sharded=int(p) - whole, replicated=whole)
                     for p in per_layer)
    return (fn[0], embed, fn[1]) + body + (PipeSpec("undo", "function"), norm, head,
                                           PipeSpec("float16_to_fp32", "function"))


@dataclass(frozen=True)
class DeepSpeedSplit:
    """A ``pipeline_split`` runtime for DeepSpeed's partition of a model's own specs (``gpt_model_pipe_specs`` with
    its parameters) on ``tp`` TP ranks: what "parameters" needs; the ``DEEPSPEED_METHODS`` strings stand for the
    parameterless spec list. Hashable (``pipeline_split`` caches on it)."""
    method: str  # DeepSpeed's partition_method
    specs: tuple[PipeSpec, ...]
    tp: int = 1

    @property
    def tp_dependent(self) -> bool:
        """Whether the split changes with the TP size: only the parameter counts do (vocab padding, whole norms)."""
        return self.method == "parameters"

    def at(self, tp) -> "DeepSpeedSplit":
        return replace(self, tp=int(tp)) if self.tp_dependent else self


#: Megatron-Core's layer characters in a ``--pipeline-model-parallel-layout`` string (transformer/
#: pipeline_parallel_layer_layout.py ``parse_str_to_list``, NVIDIA/Megatron-LM @00caa53a: ``char2layer_type``)
LAYOUT_CHARS = {"E": "embedding", "t": "decoder", "m": "mtp", "L": "loss"}
#: its unrolling, in its order: ``(...)*n`` (no nesting), then ``x*n``; commas are cosmetic. The count is ASCII digits
#: (re.ASCII): a str pattern's ``\d`` and ``int`` also read Arabic-Indic or full-width digits, so "t*٨" ran as eight
#: layers (QA 102); such a digit is refused by name (``parse_pp_layout``)
_LAYOUT_UNROLL = (re.compile(r"\(([^)]+)\)\*(\d+)", re.ASCII), re.compile(r"(.)\*(\d+)", re.ASCII))


#: the longest unrolled layout accepted: layers, MTP layers, E, L and stage marks (a 1,000-layer model on 1,024 virtual
#: stages is ~2,100); each repetition is refused before it is built
LAYOUT_MAX_CHARS = 8192


def parse_pp_layout(text: str) -> tuple[str, ...]:
    """Megatron-Core's ``parse_str_to_list`` (pipeline_parallel_layer_layout.py @00caa53a): the virtual stages of a
    ``--pipeline-model-parallel-layout`` string in layer order, each as its layer characters (``LAYOUT_CHARS``).
    Commas are dropped, ``(..)*n`` then ``x*n`` unrolled, and ``|`` separates stages (an empty stage stays).

    >>> parse_pp_layout("Ettt|(tt|)*2,m|L")
    ('Ettt', 'tt', 'tt', 'm', 'L')
    >>> [len(s) for s in parse_pp_layout("Et*4|(t*4|)*14tmL")][:2], len(parse_pp_layout("Et*4|(t*4|)*14tmL"))
    ([5, 4], 16)
    """
    def unroll(x):  # refused before it is built: "t*99999999999" asked for 100 GB of layout
        n = int(x.group(2))
        if len(x.group(1)) * n > LAYOUT_MAX_CHARS:
            raise ValueError(f"{x.group(0)[:40]!r} unrolls to {len(x.group(1)) * n:,} characters; a layout holds at "
                             f"most {LAYOUT_MAX_CHARS:,} layers and stage marks")
        return x.group(1) * n

    other = next((ch for ch in text if ch.isdigit() and not ch.isascii()), None)
    if other is not None:
        raise ValueError(f"{text!r}: {other!r} is no ASCII digit (a repetition count is written 0-9)")
    s = text.replace(",", "")
    for pattern in _LAYOUT_UNROLL:
        s = pattern.sub(unroll, s)
        if len(s) > LAYOUT_MAX_CHARS:
            raise ValueError(f"{text[:40]!r} unrolls to {len(s):,} characters; a layout holds at most "
                             f"{LAYOUT_MAX_CHARS:,} layers and stage marks")
    stages = tuple(s.split("|"))
    bad = sorted(set("".join(stages)) - set(LAYOUT_CHARS))
    if bad:
        raise ValueError(f"{text!r}: unknown layer character {bad[0]!r} (Megatron's are E embedding, t decoder "
                         f"layer, m MTP layer, L loss, | stage boundary, (..)*n and x*n repetition)")
    return stages


@dataclass(frozen=True)
class ExplicitLayout:
    """A ``pipeline_split`` runtime for an explicit ``--pipeline-model-parallel-layout`` (``Stack.pp_layout``): its
    virtual stages in layer order (``parse_pp_layout``); virtual stage s runs on rank s % pp, so the layout's stage
    count fixes pp x vpp (Megatron-Core ``PipelineParallelLayerLayout.__init__``: ``len(layout) % pp == 0``, vpp =
    ``len(layout) // pp``). Hashable (``pipeline_split`` caches on it)."""
    text: str
    stages: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "ExplicitLayout":
        return cls(text, parse_pp_layout(text))

    @property
    def counts(self) -> tuple[int, ...]:
        """decoder layers of each virtual stage"""
        return tuple(s.count("t") for s in self.stages)

    def structure_error(self) -> str | None:
        """What Megatron-Core's ``validate_layer_layout`` refuses whatever the model: the embedding first and the
        loss last, each exactly once, no decoder layer after an MTP layer; and what the planner does not price: MTP
        layers outside the loss's stage (Megatron's "standalone" MTP, on another rank than the head's)."""
        flat = "".join(self.stages)
        if not flat.startswith("E") or flat.count("E") != 1:
            return "the embedding E must come first, once"
        if not flat.endswith("L") or flat.count("L") != 1:
            return "the loss L must come last, once"
        if "m" in flat and "t" in flat[flat.index("m"):]:
            return "decoder layers must be placed before MTP layers"
        if any("m" in s for s in self.stages[:-1]):
            return "MTP layers outside the loss's stage (Megatron's standalone MTP) are not modelled: put them " \
                   "in the last stage, before L"
        return None

    def model_error(self, layers: int, mtp_layers: int = 0) -> str | None:
        """Megatron-Core ``validate_layer_layout``'s counts against the model: t the model's decoder layers, m its
        MTP layers (none on a model without MTP)."""
        flat = "".join(self.stages)
        if flat.count("t") != layers:
            return f"{self.text!r} places {flat.count('t')} decoder layers (t); the model has {layers}"
        if flat.count("m") != mtp_layers:
            return (f"{self.text!r} places {flat.count('m')} MTP layers (m); the model has "
                    + (f"{mtp_layers}" if mtp_layers else "none (model.mtp_layers)"))
        return None

    def vpp(self, pp: int) -> int | None:
        """The virtual stages per rank the layout implies on ``pp`` ranks, None where pp does not divide them."""
        return len(self.stages) // pp if len(self.stages) % pp == 0 else None


@dataclass(frozen=True)
class BalancedSplit:
    """A ``pipeline_split`` runtime for a Megatron-Core stack whose job leaves the split open: of the splits Megatron-Core
    accepts, the one whose pacing stage is lightest (``balanced_counts``), the ends' extra work weighed in mean layers.
    Megatron-Core runs any first / last stage count with the middle ranks even (``--decoder-first-pipeline-num-layers``
    / ``--decoder-last-pipeline-num-layers``: TransformerConfig ``num_layers_in_first/last_pipeline_stage``, "the
    remaining layers divided evenly among the middle stages"), and any per-stage count, an MTP layer ``m`` beside the
    loss included, through ``--pipeline-model-parallel-layout`` (transformer/pipeline_parallel_layer_layout.py);
    well-tuned recipes use both to take layers off the head's stage: Megatron-Bridge's DeepSeek-V3 PP16 layout
    ``Et*4|(t*4|)*14tmL`` (recipes/deepseek/deepseek_v3.py ``_get_deepseek_v3_pipeline_layout``), and Megatron-Core's
    own ``--account-for-loss-in-pipeline-split`` counts the loss as a layer. Hashable (``pipeline_split`` caches on it).

    ``head``: the last stage's LM head(s) and MTP modules in mean decoder layers of forward matmul FLOPs
    (planner.model.flops ``linear_flops_per_token``: ``logits`` + ``mtp`` over the layers' mean; the attention core,
    the cross-entropy and the head's 16-bit GEMMs under an fp8 recipe are not in it, so it understates a heavy head);
    ``embed_params`` / ``head_params``: the first stage's embedding and the last stage's head, MTP modules and final
    norm (a tied head's word table too: Megatron keeps a copy on the last stage) in mean layers of parameters.

    ``layer_flops`` / ``layer_params``: a model whose layers differ by kind (dense and MoE: DeepSeek-V3's first 3
    dense, Kimi K2's first; not a hybrid's blocks) as the running sums over its layers, in order, of each layer's
    forward matmul FLOPs and parameters in mean layers (split40): a rank's pace and parameters are then its own
    layers' sums, not its layer count -- a dense layer holds 0.05 (DeepSeek-V3) / 0.03 (Kimi K2) of a mean layer's
    parameters. None: every layer alike (the count)."""
    head: float
    embed_params: float
    head_params: float
    layer_flops: tuple[float, ...] | None = None
    layer_params: tuple[float, ...] | None = None

    @classmethod
    def of(cls, m) -> "BalancedSplit":
        """The weights of model ``m`` (once per model object: ``split_runtime`` runs on every evaluated batch, and the
        counts take ~1 ms)."""
        hit = _BALANCED.get(id(m))
        if hit is None or hit[0] is not m:
            if len(_BALANCED) >= 64:  # a long-lived process (the app) sees many jobs' models: no unbounded growth
                _BALANCED.clear()
            hit = _BALANCED[id(m)] = (m, cls._of(m))  # the model kept alive: its id is not reused while cached
        return hit[1]

    @classmethod
    def _of(cls, m) -> "BalancedSplit":
        from planner.model.flops import linear_flops_per_token
        from planner.spec.params import count_params
        fl = linear_flops_per_token(m)
        body = fl["attn_proj"] + fl["mlp"] + fl.get("mamba", 0.0)
        layer_f = body / max(m.layers, 1)
        pc = count_params(m)
        ends_p = pc.embedding + pc.lm_head + pc.mtp + pc.final_norm
        layer_p = max(pc.total - ends_p, 1) / max(m.layers, 1)
        tied = m.vocab * m.hidden if m.tied_embeddings else 0
        # rounded: a key of pipeline_split's cache, and no split flips on the last bits of a FLOP count
        return cls(round((fl["logits"] + fl.get("mtp", 0.0)) / layer_f, 3), round(pc.embedding / layer_p, 3),
                   round((pc.lm_head + pc.mtp + pc.final_norm + tied) / layer_p, 3), *_kind_sums(m))


def _kind_sums(m) -> tuple:
    """(FLOP, parameter) running sums over model ``m``'s layers, each layer in mean layers (``BalancedSplit``), where
    its layers are dense and MoE both (planner.spec.params ``layer_kinds``), else (None, None). A dense layer's
    forward matmuls are its attention projections and MLP (flops ``attention_proj_macs`` + ``dense_mlp_macs``), an MoE
    layer's the attention and its active experts and router (``moe_layer_macs``); parameters ``count_params``'
    ``dense_layer`` / ``moe_layer``."""
    from planner.model.flops import attention_proj_macs, dense_mlp_macs, moe_layer_macs
    from planner.spec.params import count_params, layer_kinds
    if m.hybrid or m.moe is None or not m.layers:
        return None, None
    lk = layer_kinds(m)
    if len(set(lk)) < 2:
        return None, None
    pc = count_params(m)
    attn = attention_proj_macs(m)
    fl = {"dense": attn + dense_mlp_macs(m), "moe": attn + moe_layer_macs(m)}
    pr = {"dense": pc.dense_layer, "moe": pc.moe_layer}

    def sums(w):
        mean = sum(w[k] for k in lk) / len(lk)
        out, acc = [0.0], 0.0
        for k in lk:
            acc += round(w[k] / mean, 3)
            out.append(round(acc, 3))
        return tuple(out)
    return sums(fl), sums(pr)


#: ``BalancedSplit.of``'s cache: id(model) -> (model, its weights)
_BALANCED: dict[int, tuple[object, BalancedSplit]] = {}


def stage_ranks(pp: int, stages: int, vpp: int = 1) -> np.ndarray:
    """The rank of each of a split's ``stages`` virtual stages (layer order): s % pp (Megatron-Core's interleaved
    placement, torchtitan's "loop" style), or under ``V_SPLIT`` (DualPipeV) the V, ``dualpipev_rank_of``.

    >>> stage_ranks(4, 8).tolist(), stage_ranks(4, 8, V_SPLIT).tolist()
    ([0, 1, 2, 3, 0, 1, 2, 3], [0, 1, 2, 3, 3, 2, 1, 0])
    """
    s = np.arange(stages)
    return np.where(s < pp, s, 2 * pp - 1 - s) if vpp == V_SPLIT else s % max(pp, 1)


def head_rank(pp: int, vpp: int = 1) -> int:
    """The rank that holds the last stage (the final norm, LM head and loss): the last, or under ``V_SPLIT`` rank 0,
    which also holds the first (the embedding)."""
    return 0 if vpp == V_SPLIT else pp - 1


def rank_sums(counts, pp: int, vpp: int = 1) -> np.ndarray:
    """A split's per-stage ``counts`` summed per rank (``stage_ranks``)."""
    return np.bincount(stage_ranks(pp, len(counts), vpp), np.asarray(counts, dtype=np.float64), minlength=pp)


def kind_weights(lk, names) -> np.ndarray:
    """(kinds x layers) 1 at each global layer of each kind of ``names``, ``lk`` the kind of each layer in order
    (planner.spec.params ``layer_kinds``): the rows ``stage_kind_layers`` / ``rank_kind_layers`` count."""
    return np.array([[x == q for x in lk] for q in names], dtype=np.float64).reshape(len(names), len(lk))


def stage_kind_layers(weights, counts) -> np.ndarray:
    """(kinds x virtual stages) each stage's layers of each kind: ``weights`` (kinds x layers, ``kind_weights``; or
    one kind's row) summed over each stage's run of ``counts`` (layer order: ``pipeline_split``), exact (integer
    running sums). The one count of a split's layer kinds: the step time's pacing rank (step_time ``rank_mix``),
    the memory model's stage parameters, blocks and activations (memory_stages ``_split_tables``,
    ``_layout_kind_shares``, ``_chunk_kind_table``) and each rank's rebuild (memory_activations ``stage_kind_rws``).

    >>> stage_kind_layers(kind_weights(("dense",) * 3 + ("moe",) * 5, ("dense", "moe")), (3, 3, 2)).tolist()
    [[3.0, 0.0, 0.0], [0.0, 3.0, 2.0]]
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    cs = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w, axis=1)], axis=1)
    ends = np.minimum(np.cumsum((0,) + tuple(int(x) for x in counts)), w.shape[1])
    return cs[:, ends[1:]] - cs[:, ends[:-1]]


def rank_kind_layers(weights, counts, pp: int, vpp: int = 1) -> np.ndarray:
    """(kinds x ranks) each rank's layers of each kind: ``stage_kind_layers`` summed over the rank's virtual stages
    (``stage_ranks``: chunk j of rank r is stage j pp + r; DualPipeV's V)."""
    on = stage_ranks(pp, len(counts), vpp)
    return np.stack([np.bincount(on, r, minlength=pp) for r in stage_kind_layers(weights, counts)])


def chunk_spread(ranks, pp: int, vpp: int) -> tuple[int, ...]:
    """Layers per virtual stage (chunk j of rank r is virtual stage j pp + r) of a split given per rank
    (``balanced_counts``' layout): each rank's layers spread over its ``vpp`` chunks as evenly as they go, the
    extra layers on its last chunks, except on the last rank, whose extra layers go on its first chunks (its last
    chunk, beside the LM head and loss, the lighter). Megatron-Core's interleaved order leaves a rank's earlier
    chunks holding the most micro-batches at its peak (``chunk_inflight``: rank 0 of PP4 VPP2 (7, 4) / (8, 3)), so
    the extra layers on the later chunks hold the fewest layer-micro-batches; Megatron's own layout does the same
    on rank 0, whose first virtual stage counts the embedding as a layer (``layout_counts``)."""
    v = max(int(vpp), 1)

    def at(s):
        r, j, n = s % pp, s // pp, int(ranks[s % pp])
        return n // v + ((j < n % v) if r == pp - 1 else (j >= v - n % v))
    return tuple(at(s) for s in range(pp * v))


@lru_cache(maxsize=256)
def _split_inflight(pp: int, vpp: int) -> tuple:
    """Per rank, the count vectors ``chunk_inflight`` gives its chunks at the schedule's steady state (as tuples,
    for ``split_cost``'s plain-Python sums): at m = 2 pp micro-batches (Megatron-Core's default group of pp), whose
    peak vectors (and so their weighted maxima) every m = k pp with k >= 2 shares (checked for pp 2..16, vpp 2..8,
    k 2..11: within full groups the counts repeat with period pp vpp, and the warm-up ends inside the second group).
    The split is chosen once per (layers, pp, vpp), before any row's m; the old even spread priced the same steady
    total, warm-up + 1."""
    return tuple(tuple(tuple(x) for x in chunk_inflight(pp, 2 * pp, vpp, r).tolist()) for r in range(pp))


def split_cost(counts, pp: int, w: BalancedSplit, vpp: int = 1, stages=None) -> tuple[float, float, float]:
    """(pace, in-flight layer-micro-batches, parameters) of a split ``counts`` (layers per rank, its chunks summed)
    in mean layers (``BalancedSplit``): the pace max(middle ranks, first, last + head) the step time charges the
    fullest rank (the embedding's lookup is no matmul), the most layer-micro-batches a rank holds (its layers x its
    micro-batches in flight, planner.model.memory_stages ``inflight_microbatches``: pp - r under 1F1B) and the
    most parameters (the embedding on the first rank, the head on the last: ``embed_params`` / ``head_params``).
    Interleaved (vpp > 1), each chunk's own layers (``stages``, layers per virtual stage; None: ``chunk_spread``)
    x the micro-batches that chunk holds, the largest over the rank's count vectors (``chunk_inflight`` at the steady
    state, ``_split_inflight``): the sum memory_activations.chunk_activations prices the launched split by. Until rcchunk39 every
    chunk held Megatron-Core's ``((pp - r - 1) * 2 + (vpp - 1) * pp + 1) / vpp`` micro-batches, the mean chunk's
    count (rank 0 of PP4 VPP2 holds (7, 4) or (8, 3), not 5.5 each), blind to which chunk a rank's extra layer is on.
    ``vpp`` ``V_SPLIT`` (DualPipeV): ``counts`` per rank of its V, the embedding and the head both on rank 0, and
    every rank pp + 1/2 micro-batches of its layers in flight (memory_stages ``inflight_microbatches``)."""
    if vpp == V_SPLIT:
        c = counts
        return (float(max(c[0] + w.head, max(c[1:], default=0))), float(max(c) * (pp + 0.5)),
                float(max(c[0] + w.embed_params + w.head_params, max(c[1:], default=0))))
    # plain Python: a few dozen ranks, called on every candidate split (numpy's per-call cost was 10x the arithmetic)
    c = counts
    if vpp == 1:
        act = max(n * (pp - r) for r, n in enumerate(c))
    else:
        st = chunk_spread(c, pp, vpp) if stages is None else stages
        act = max(max(sum(h_j * st[j * pp + r] for j, h_j in enumerate(h)) for h in hs)
                  for r, hs in enumerate(_split_inflight(pp, vpp)))
    f = p = c
    if w.layer_flops is not None and sum(c) == len(w.layer_flops) - 1:
        # each rank its own layers' FLOPs and parameters (dense and MoE layers apart), chunk by chunk in layer order
        f, p = [0.0] * pp, [0.0] * pp
        e = 0
        for s_, n in enumerate(c if vpp == 1 else st):
            f[s_ % pp] += w.layer_flops[e + n] - w.layer_flops[e]
            p[s_ % pp] += w.layer_params[e + n] - w.layer_params[e]
            e += n
    pace = max(max(f[:-1]), f[-1] + w.head)
    par = max(p[0] + w.embed_params, max(p[1:-1], default=0), p[-1] + w.head_params)
    return float(pace), float(act), float(par)


def lightest(options, pp: int, w: BalancedSplit, default, vpp: int = 1, default_stages=None):
    """Of ``options`` ((splits's tie-break key, layers per rank) pairs, vpp 1), the one whose pacing stage is lightest
    (``split_cost``), taken only where it is strictly lighter than ``default`` (the stack's own split of the same
    layers; ``default_stages`` its layers per virtual stage where interleaved) and needs no more memory than it in
    the terms a split moves: no rank more layer-micro-batches in flight
    and no rank more parameters than the default's fullest, so a layout whose default split fits still fits. Ties:
    the fewest layer-micro-batches on a rank, then the option's own key. Returns (key, counts) or None."""
    pace_d, act_max, par_max = split_cost(default, pp, w, vpp, default_stages)
    best = None
    for key, counts in options:
        pace, act, par = split_cost(counts, pp, w, vpp)
        if pace >= pace_d - 1e-9 or act > act_max + 1e-9 or par > par_max + 1e-9:
            continue
        rank = (pace, act, key)
        if best is None or rank < best[0]:
            best = (rank, (key, tuple(counts)))
    return None if best is None else best[1]


def rank_layer_cap(layers: int, pp: int) -> int:
    """The most decoder layers a pipeline rank may hold, ceil(layers / pp): Megatron's even split's fullest rank, the
    bound every other split here keeps to (``balanced_counts``, ``pipeline_split``'s first / last form, torchtitan's
    less-layers pairs) so the step's pace and the memory model's ends stay at most the even split's. ``chunk_layers``
    is its float form per virtual stage."""
    return -(-layers // pp)


def balanced_counts(layers: int, pp: int, w: BalancedSplit, default: tuple[int, ...],
                    vpp: int = 1) -> tuple[int, ...] | None:
    """Layers per virtual stage (pp >= 2, pp x vpp of them in layer order) of the lightest pacing stage among
    Megatron-Core's first / middle / last splits (``BalancedSplit``): ranks of first f, every middle m, last l layers
    (f + (pp - 2) m + l = layers; f >= 1, l >= 0, every rank at most ceil(layers / pp), the fullest share the step
    time's pace and the memory model's ends are bounded by), the pace max(f, m, l + head) in mean layers, chosen by
    ``lightest`` against ``default`` (Megatron's own split of these layers, ``pipeline_split``'s forms, per virtual
    stage). Ties: the fewest layer-micro-batches on a rank, then the fuller first rank. None: nothing lighter.

    With vpp > 1 each rank's layers are spread over its vpp chunks (``chunk_spread``: the extra layers on the later
    chunks, which hold the fewest micro-batches; on the last rank on the first, its last chunk, the head's, the
    lighter; until rcchunk39 the first chunks on every rank): Megatron-Core runs any decoder count per virtual stage, an empty one
    included, through ``--pipeline-model-parallel-layout`` (pipeline_parallel_layer_layout.py
    ``PipelineParallelLayerLayout``: only ``len(layout) % pp == 0``, vpp = len / pp; ``validate_layer_layout``: E
    first, L last, MTP in the last virtual stage of its rank), while ``--decoder-first/last-pipeline-num-layers``
    would need every rank's layers divisible by vpp.

    >>> balanced_counts(61, 16, BalancedSplit(4.2, 0.08, 0.3), (2,) + (4,) * 14 + (3,))[::15]  # DeepSeek-V3 PP16
    (3, 2)
    >>> c = balanced_counts(61, 4, BalancedSplit(4.3, 0.08, 1.1), layout_counts(61, 16), vpp=4)  # DeepSeek-V3 PP4 VPP4
    >>> tuple(sum(c[r::4]) for r in range(4)), c[0::4], c[3::4]  # ranks (Megatron's: 15, 16, 15, 15); rank 0's, the last's
    ((15, 16, 16, 14), (3, 4, 4, 4), (4, 4, 3, 3))

    (Rank 0's extra layer on its first chunk, (4, 4, 4, 3), would hold 76 layer-micro-batches at its peak
    (``split_cost``) against Megatron's (3, 4, 4, 4), 69, and the split would be refused; on its last, 69.)
    """
    v = max(int(vpp), 1)
    cap = rank_layer_cap(layers, pp)
    ranks_default = tuple(int(x) for x in np.bincount(np.arange(len(default)) % pp, default, minlength=pp))

    def options():
        for mid in (range(1, cap + 1) if pp > 2 else (0,)):
            for f in range(1, cap + 1):
                last = layers - f - (pp - 2) * mid
                if 0 <= last <= cap:
                    yield -f, (f,) + (mid,) * (pp - 2) + (last,)

    best = lightest(options(), pp, w, ranks_default, v, tuple(int(x) for x in default) if v > 1 else None)
    if best is None:
        return None
    return chunk_spread(best[1], pp, v)  # virtual stage s = chunk j of rank r (s = j pp + r)


def titan_counts(layers: int, stages: int, first_less: int = 1, last_less: int = 1) -> tuple[int, ...] | None:
    """Layers of each of ``stages`` stages torchtitan builds (torchtitan/distributed/pipeline_parallel.py
    ``generate_llm_fqn_per_model_part(num_stages, num_layers, input_weight, output_weight)``, pytorch/torchtitan
    @02ef790; ``input_weight`` / ``output_weight`` are ``pipeline_parallel_first_stage_less_layers`` /
    ``_last_stage_less_layers``, default 1 each, job_config.py Parallelism): the layers plus the two weights
    ("effective layers") split floor-evenly, the remainder one each to the FIRST stages (``stage_idx <
    extra_layers``), the first stage ``first_less`` layers short (it holds tok_embeddings), the last ``last_less``
    short (norm + output). None where torchtitan raises: more stages than effective layers, an empty share, or a
    weight above the smallest share. One stage holds every layer.

    >>> titan_counts(32, 4), titan_counts(32, 4, 0, 0), titan_counts(126, 8, 0, 2)
    ((8, 9, 8, 7), (8, 8, 8, 8), (16, 16, 16, 16, 16, 16, 16, 14))
    """
    if stages == 1:
        return (layers,)
    eff = layers + first_less + last_less
    per, extra = divmod(eff, stages)
    if per == 0 or first_less > per or last_less > per:
        return None
    counts = [per + (s < extra) for s in range(stages)]
    counts[0] -= first_less
    counts[-1] -= last_less
    return tuple(counts)


def titan_layers_per_stage(layers, stages, first_less=0, last_less=0):
    """torchtitan's ``pipeline_parallel_layers_per_stage`` for ``stages`` planned stages (vectorised): the fullest
    stage's effective layers, ceil((layers + first_less + last_less) / stages)."""
    return -(-(np.asarray(layers) + first_less + last_less) // np.maximum(stages, 1))


def titan_stages(layers, stages, first_less=0, last_less=0):
    """The stages torchtitan builds from ``titan_layers_per_stage`` (``pipeline_llm``: ``num_virtual_stages =
    ceil((num_layers + input_weight + output_weight) / layers_per_stage)``): the planned count, or fewer (9 layers in
    6 stages of 2: 5)."""
    eff = np.asarray(layers) + first_less + last_less
    return -(-eff // np.maximum(titan_layers_per_stage(layers, stages, first_less, last_less), 1))


@dataclass(frozen=True)
class TitanSplit:
    """A ``pipeline_split`` runtime for torchtitan's split (``titan_counts``): ``first_less`` / ``last_less`` its
    ``pipeline_parallel_first/last_stage_less_layers`` as the job sets them (stack options
    ``pp_first_stage_less_layers`` / ``pp_last_stage_less_layers``; one set, the other torchtitan's default 1), or
    both None: left open, the planner chooses (``titan_less_layers``) the pair whose pacing stage is lightest by
    ``weights`` (``BalancedSplit``: the LM head's and the embedding's weight in mean layers), as --emit writes it.
    Hashable (``pipeline_split`` caches on it)."""
    first_less: int | None = None
    last_less: int | None = None
    weights: BalancedSplit | None = None

    @property
    def open(self) -> bool:
        return self.first_less is None and self.last_less is None


@lru_cache(maxsize=4096)
def titan_less_layers(layers: int, pp: int, vpp: int, runtime) -> tuple[int, int]:
    """The (first, last) "less layers" torchtitan runs under ``runtime`` on pp x vpp stages: a fixed
    ``TitanSplit``'s pair, (0, 0) for the plain ``torchtitan`` runtime (the floor-even split, leftovers first), and
    for a ``TitanSplit`` left open at vpp 1 the pair whose split (``titan_counts``) ``lightest`` takes against the
    (0, 0) split (ties: the smaller pair), where torchtitan builds exactly pp stages from its
    ``layers_per_stage`` (``titan_stages``) and no rank holds more than ceil(layers / pp); else (0, 0).
    Qwen2.5-7B's 28 layers on PP8 (head 2.3 layers): 4 x 4, 3 x 4 -> (1, 2): 3, 4 x 6, 1, the pace 5.3 -> 4 layers;
    Llama-3.1-8B's 32 on PP4 (8 x 4) keeps them: every pair puts 9 on a rank."""
    if not isinstance(runtime, TitanSplit):
        return 0, 0
    if not runtime.open:
        return (1 if runtime.first_less is None else runtime.first_less,
                1 if runtime.last_less is None else runtime.last_less)
    if vpp not in (1, V_SPLIT) or pp < 2 or runtime.weights is None:
        return 0, 0
    if vpp == V_SPLIT:
        return _titan_less_v(layers, pp, runtime.weights)
    # no rank above ceil(L / pp), as ``balanced_counts``: the head's weight is in linear FLOPs, and a rank one layer
    # fuller pays its attention core and its gradients' reduce, which that weight leaves out (Llama-3-70B at 8k
    # tokens on PP4: 19, 21, 21, 19 priced up to 4.8% slower than 20 x 4)
    best = lightest(_titan_pairs(layers, pp, 1, rank_layer_cap(layers, pp) + 1), pp, runtime.weights,
                    titan_counts(layers, pp, 0, 0))
    return (0, 0) if best is None else best[0][1:]


def _titan_pairs(layers: int, pp: int, vpp: int, most: int):
    """The (first, last) less-layers pairs up to ``most`` each for which torchtitan builds exactly pp x ``vpp`` stages
    (``titan_counts``; its ``layers_per_stage`` in integers, once a pair) and no rank holds more than ceil(layers / pp),
    as ``((fl + ll, fl, ll), each rank's layers)`` for ``lightest``: the stages' counts at vpp 1, the V's rank sums
    (``rank_sums``) at ``V_SPLIT``, whose 2 pp stages it builds."""
    full = rank_layer_cap(layers, pp)
    stages = 2 * pp if vpp == V_SPLIT else pp
    for fl in range(most + 1):
        for ll in range(most + 1):
            counts = titan_counts(layers, stages, fl, ll)
            lps = -(-(layers + fl + ll) // stages)
            if counts is None or -(-(layers + fl + ll) // lps) != stages:
                continue
            ranks = tuple(int(x) for x in rank_sums(counts, pp, V_SPLIT)) if vpp == V_SPLIT else counts
            if max(ranks) <= full:
                yield (fl + ll, fl, ll), ranks


def _titan_less_v(layers: int, pp: int, w: BalancedSplit) -> tuple[int, int]:
    """``titan_less_layers`` of DualPipeV's V (``V_SPLIT``): torchtitan splits the layers over 2 pp stages
    (``generate_llm_fqn_per_model_part(num_stages=2 pp)``) and rank r runs stages r and 2 pp - 1 - r
    (``stage_ids_this_rank(style="v")``), so rank 0 holds the first stage's embedding and the last stage's head; the
    pair ``lightest`` takes by those ranks' sums (``split_cost`` at ``V_SPLIT``) against (0, 0), where torchtitan
    builds exactly 2 pp stages and no rank holds more than ceil(layers / pp)."""
    default = tuple(int(x) for x in rank_sums(titan_counts(layers, 2 * pp, 0, 0), pp, V_SPLIT))
    best = lightest(_titan_pairs(layers, pp, V_SPLIT, rank_layer_cap(layers, pp)), pp, w, default, V_SPLIT)
    return (0, 0) if best is None else best[0][1:]


#: the ``pp_split`` value of each runtime's own plain split, the fallback where the balanced one does not fit
PLAIN_SPLIT = {"megatron": "megatron", "torchtitan": "torchtitan"}


def split_left_open(runtime) -> bool:
    """Whether ``runtime`` is a split the planner chose for a job that left it open (Megatron-Core's
    ``BalancedSplit``, an open ``TitanSplit``): where it does not fit, the stack's own plain split is the fallback
    (stack option ``pp_split``: "megatron" / "torchtitan")."""
    return isinstance(runtime, BalancedSplit) or (isinstance(runtime, TitanSplit) and runtime.open)


def stack_layout(stack, m) -> ExplicitLayout | None:
    """The explicit layout ``stack`` sets (``Stack.pp_layout``), checked against the model ``m`` (``ExplicitLayout``
    ``structure_error`` / ``model_error``: one-line InputError on training.framework.pp_layout), or None."""
    from planner.errors import InputError
    text = getattr(stack, "pp_layout", None)
    if text is None:
        return None
    try:
        lay = ExplicitLayout.parse(text)
    except ValueError as e:
        raise InputError("training.framework.pp_layout", str(e)) from None
    problem = lay.structure_error() or lay.model_error(m.layers, int(getattr(m, "mtp_layers", 0) or 0))
    if problem:
        raise InputError("training.framework.pp_layout", problem)
    return lay


def runtime_at(runtime, tp):
    """``runtime`` as a row with ``tp`` TP ranks launches it (a ``DeepSpeedSplit``'s counts are per rank)."""
    return runtime.at(tp) if isinstance(runtime, DeepSpeedSplit) else runtime


def tp_dependent(runtime) -> bool:
    return isinstance(runtime, DeepSpeedSplit) and runtime.tp_dependent


def split_runtime(stack, m=None):
    """The pipeline split a stack launches (``pipeline_split``'s ``runtime``): ``torchtitan`` for the torchtitan
    runtime (planner.model.stack_rules ``RUNTIMES``), the ``PARTITION_METHODS`` runtime of the stack's
    ``pp_partition_method``, ``SPLIT_RUNTIMES``' entry, else ``megatron`` (every other stack is priced on
    Megatron's). "parameters" reads the model ``m``'s parameters: a ``DeepSpeedSplit`` at TP 1 (``runtime_at`` each
    row's TP); without ``m`` it cannot be priced (ValueError)."""
    from planner.model.stack_rules import runtime
    if stack is None:
        return "megatron"
    layout = getattr(stack, "pp_layout", None)
    if layout is not None:  # the job's explicit --pipeline-model-parallel-layout, whatever the stack's own split
        return ExplicitLayout.parse(layout)
    if runtime(stack) == "torchtitan":
        first, last = (getattr(stack, f"pp_{k}_stage_less_layers", None) for k in ("first", "last"))
        if m is None or not getattr(m, "is_transformer", False) or m.hybrid:
            return "torchtitan"
        if first is not None or last is not None:  # the job's own less-layers: torchtitan's split of them
            return TitanSplit(first, last)
        if getattr(stack, "pp_split", None) == "torchtitan":  # the plain split (the fallback where the open one misfits)
            return "torchtitan"
        return TitanSplit(weights=BalancedSplit.of(m))  # left open: the lightest pacing stage torchtitan builds
    if (runtime(stack) == "megatron" and getattr(stack, "pp_split", None) != "megatron" and m is not None
            and getattr(m, "is_transformer", False) and not m.hybrid):
        # the split left open on Megatron-Core: the lightest pacing stage it accepts (BalancedSplit)
        return BalancedSplit.of(m)
    method = getattr(stack, "pp_partition_method", None)
    if method is not None:
        name = PARTITION_METHODS[method]
        if name == "deepspeed-parameters":
            if m is None:
                raise ValueError("pp_partition_method parameters: the split needs the model's parameter counts")
            return DeepSpeedSplit(DEEPSPEED_METHODS[name], gpt_model_pipe_specs(m.layers, m))
        return name
    return SPLIT_RUNTIMES.get(getattr(stack, "name", stack), "megatron")


def is_deepspeed(runtime) -> bool:
    """Whether ``runtime`` is DeepSpeed ``PipelineModule``'s partition (a ``DEEPSPEED_METHODS`` name or a
    ``DeepSpeedSplit``): each stage holds its own run of the spec list, the embedding and the head included."""
    return isinstance(runtime, DeepSpeedSplit) or runtime in DEEPSPEED_METHODS


def deepspeed_partition_uniform(num_items: int, num_parts: int) -> list[int]:
    """deepspeed/runtime/utils.py ``partition_uniform``: ``num_items // num_parts`` items a part and the remainder
    one each to the first parts (``parts[i + 1:] += 1`` for i below the residual); with no more items than parts,
    ``min(p, num_items)``. Returns ``num_parts + 1`` indices.

    >>> deepspeed_partition_uniform(77, 12)[:7]  # 7 specs on the first five stages, then 6
    [0, 7, 14, 21, 28, 35, 41]
    """
    if num_items <= num_parts:
        return [min(p, num_items) for p in range(num_parts + 1)]
    chunk, residual = divmod(num_items, num_parts)
    return [p * chunk + min(p, residual) for p in range(num_parts + 1)]


def deepspeed_partition_balanced(weights, parts: int) -> list[int]:
    """Stage boundaries DeepSpeed's ``PipelineModule`` gives layer specs of ``weights`` on ``parts`` stages:
    deepspeed/runtime/utils.py ``partition_balanced`` (deepspeedai/DeepSpeed master @12e65a6, "use dynamic programming
    solve The Linear Partition Problem"): contiguous runs minimising the heaviest minus the lightest run, ties to the
    later cut (``if dp_cost[i, j] >= cost``); ``partition_uniform``'s ``min(p, n)`` where there are no more specs than
    stages. Returns ``parts + 1`` indices.

    >>> deepspeed_partition_balanced([0] + [1] * 11 + [0, 0], 5)  # 11 layers on 5 stages: 3, 2, 2, 2, 2
    [0, 4, 6, 8, 10, 14]
    """
    n, m = len(weights), parts
    if n <= m:  # DeepSpeed's own first check: "we can just do uniform partition"
        return deepspeed_partition_uniform(n, m)
    dp_max = np.full((n + 1, m + 1), np.inf)
    dp_min = np.full((n + 1, m + 1), np.inf)
    dp_cost = np.full((n + 1, m + 1), np.inf)
    position = np.zeros((n + 1, m + 1), dtype=int)
    prefix = np.concatenate([[0.0], np.cumsum(weights)])
    dp_max[0, 0] = dp_cost[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, min(i, m) + 1):
            run = prefix[i] - prefix[:i]  # the last run (k, i] for each cut k
            mx = np.maximum(dp_max[:i, j - 1], run)
            mn = np.minimum(dp_min[:i, j - 1], run)
            cost = mx - mn
            k = int(np.flatnonzero(cost <= cost.min())[-1])  # the ``>=`` update keeps the last cut among equals
            if np.isfinite(cost[k]):
                dp_cost[i, j], dp_max[i, j], dp_min[i, j], position[i, j] = cost[k], mx[k], mn[k], k
    out = [n]
    for j in range(m, 0, -1):
        out.append(int(position[out[-1], j]))
    return out[::-1]


def _type_weights(specs, pattern: str):
    """``type:<regex>``: 1 on the specs whose name the case-insensitive regex finds (``_find_layer_type``)."""
    rx = re.compile(pattern, re.IGNORECASE)
    return [1 if rx.search(s.name) else 0 for s in specs]


#: DeepSpeed ``_partition_layers``, by method (the part before any ``:``): the stage boundaries over the spec list
_PARTITIONERS = {
    "uniform": lambda specs, arg, tp, parts: deepspeed_partition_uniform(len(specs), parts),
    "parameters": lambda specs, arg, tp, parts: deepspeed_partition_balanced([s.params(tp) for s in specs], parts),
    "type": lambda specs, arg, tp, parts: deepspeed_partition_balanced(_type_weights(specs, arg), parts),
}


def deepspeed_stage_layers(runtime, layers: int, pp: int) -> tuple[int, ...]:
    """Transformer layers on each of ``pp`` stages as DeepSpeed's ``PipelineModule._partition_layers`` cuts
    ``runtime``'s spec list (a ``DeepSpeedSplit``, or a ``DEEPSPEED_METHODS`` name over ``gpt_model_pipe_specs``
    (layers)): "uniform" ``deepspeed_partition_uniform`` over the spec count, "parameters" and ``type:``
    ``deepspeed_partition_balanced`` over the spec weights.

    >>> deepspeed_stage_layers("deepspeed-uniform", 70, 12)  # 77 specs: 7 x 5, 6 x 7
    (4, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 2)
    """
    split = runtime if isinstance(runtime, DeepSpeedSplit) else \
        DeepSpeedSplit(DEEPSPEED_METHODS[runtime], gpt_model_pipe_specs(layers))
    kind, _, arg = split.method.partition(":")
    b = _PARTITIONERS[kind](split.specs, arg, split.tp, pp)
    return tuple(sum(s.kind == "transformer" for s in split.specs[b[i]:b[i + 1]]) for i in range(pp))


@lru_cache(maxsize=None)
def pipeline_split(layers: int, pp: int, vpp: int = 1, runtime="megatron") -> tuple[str, tuple[int, ...]]:
    """How ``layers`` decoder layers are placed on ``pp`` pipeline ranks x ``vpp`` model chunks: the one split the
    planner both launches (planner.present.emit ``megatron_pipeline_split`` writes its flags; the torchtitan launch
    its ``pipeline_parallel_layers_per_stage``) and prices (the memory model's per-rank layers ``stage_layer_split`` /
    ``stage_layer_ends``, the mixed MoE stages' parameters). Returns (form, layers of each of the pp x vpp virtual
    stages in layer order); virtual stage s runs on rank s % pp as its chunk s // pp (Megatron-Core's interleaved
    placement: transformer_block.py ``get_transformer_layer_offset``, ``offset = vp_stage * total_virtual_chunks +
    pp_rank * layers_per_virtual_rank``; torchtitan's looped schedules: ``pp_rank + s * pp_degree``).

    ``runtime`` ``torchtitan`` (form ``torchtitan``): torchtitan's ``generate_llm_fqn_per_model_part``
    (torchtitan/distributed/pipeline_parallel.py; ``generate_module_names_per_stage`` in the older pipeline.py) with
    the first/last "less layers" 0 that --emit writes: floor(layers / (pp vpp)) per stage and the leftover layers one
    each to the FIRST stages (``if stage_idx < extra_layers``), so rank 0 holds the fullest share: Llama-3.1-405B's
    126 layers on PP8 are 16 x 6, 15, 15 (Megatron's 15, 16 x 6, 15; torchtitan's own defaults, the embedding and
    the output weighted 1 each, give Megatron's). A ``TitanSplit`` (form ``torchtitan``, ``balanced`` where the
    planner's open choice moves layers, ``even``): ``titan_counts`` with its less-layers (``titan_less_layers``).

    ``runtime`` ``deepspeed`` and the other ``DEEPSPEED_METHODS`` names, or a ``DeepSpeedSplit`` (form ``deepspeed``,
    ``even`` where the stages come out equal; DeepSpeed's pipeline engine has no interleaved schedule: with VPP
    Megatron's forms below): Megatron-DeepSpeed's ``PipelineModule(partition_method=...)`` over GPTModelPipe's specs
    (``deepspeed_stage_layers``). ``type:transformer``: ``deepspeed_partition_balanced`` with weight 1 on the
    transformer layers -- the fuller stages first, the head's stage among the lighter: 11 layers on PP5 are 3, 2, 2,
    2, 2 (Megatron's 1, 3, 3, 3, 1); ``uniform``: the layers + 7 specs in equal runs, the ends' stages short of the
    functions and embeddings they hold (70 on PP12: 4, 7 x 4, 6 x 6, 2); ``parameters``: a heavy embedding leaves
    its stages fewer layers.

    ``runtime`` ``megatron``, the forms, first that fits:

    * ``even``: pp x vpp divides the layers (``--num-layers-per-virtual-pipeline-stage``);
    * ``first_last``: every middle rank the fullest share, ceil(layers / (pp vpp)) per chunk, the first and last ranks
      the rest, the first the smaller half rounded down to a multiple of vpp (``--decoder-first/last-pipeline-num-
      layers``; Megatron-Core TransformerConfig.__post_init__ "Uneven PP": the middle layers divide the middle ranks,
      with VPP the first, last and middle ranks' layers divide vpp; each rank's chunks are equal, ``get_transformer_
      layer_offset`` ``num_layers_in_first_pipeline_stage // vp_size``) -- taken only where both ends hold at least one
      layer per chunk and no rank more than ceil(layers / pp), the fullest rank planner.model.step_time
      ``slowest_stage`` paces the step by;
    * ``embedding_loss`` / ``embedding``: the embedding and the loss (or the embedding alone) count as a layer each
      and pp x vpp divides the sum (``--account-for-embedding-in-pipeline-split`` [``--account-for-loss-in-pipeline-
      split``]): every virtual stage (layers + extra) / (pp vpp), the first one (and the last) one layer short
      (Llama-3.1-405B's 126 on PP16 is 7 + 14 x 8 + 7, on PP8 x VPP8 ranks of 15, 16 x 6, 15);
    * ``layout``: an explicit ``--pipeline-model-parallel-layout`` (transformer/pipeline_parallel_layer_layout.py),
      every virtual stage floor(layers / (pp vpp)) layers and one more on virtual stages 1, 2, ... (the first holds
      the embedding): DeepSeek-V3's 61 on PP4 x VPP4 puts 15, 16, 15, 15 on the ranks.

    ``runtime`` a ``BalancedSplit`` (a Megatron-Core stack, the split left open): the ``megatron`` split above, or
    where ``balanced_counts`` finds a lighter pacing stage in no more memory, that one (form ``balanced``: ranks of
    first f, middle m, last l, launched at vpp 1 as ``--decoder-first/last-pipeline-num-layers`` or, with an empty
    last stage, and with VPP always, a ``--pipeline-model-parallel-layout``): DeepSeek-V3's 61 on PP16 are 3, 4 x 14, 2 (Megatron's 2, 4 x 14, 3 left two
    LM heads and the MTP layer beside 3 layers).

    ``runtime`` an ``ExplicitLayout`` (form ``explicit``): the job's own ``--pipeline-model-parallel-layout``
    (``Stack.pp_layout``), its decoder layers per virtual stage as written, where its stage count is pp x vpp.

    ``vpp`` ``V_SPLIT`` (DualPipeV, torchtitan's only): 2 pp stages in layer order, placed as a V
    (``stage_ranks``): torchtitan's split of 2 pp stages, its open less-layers pair chosen by the V's ranks
    (``titan_less_layers``).

    With pp 1 the one rank's layers are split into its vpp chunks the same way."""
    vpp = 2 if vpp == V_SPLIT and not isinstance(runtime, TitanSplit) else vpp  # only the open choice reads the V
    stages = pp * abs(vpp)
    if isinstance(runtime, ExplicitLayout):
        if len(runtime.stages) == stages:
            return "explicit", runtime.counts
        runtime = "megatron"  # a row the layout cannot run (stack_rules "mcore-pp-layout" refuses it)
    if isinstance(runtime, TitanSplit) and pp > 1:
        first, last = titan_less_layers(layers, pp, vpp, runtime)
        vpp = abs(vpp)
        counts = titan_counts(layers, stages, first, last)
        if counts is None:  # a pair torchtitan refuses on these stages (stack_rules "titan-pp-stages" refuses the row)
            first, last, counts = 0, 0, titan_counts(layers, stages, 0, 0)
        if counts is None:  # more stages than layers, which torchtitan refuses too (the same rule): the plain
            # runtime's floor-even split, its empty stages last, so that the rule has a split to refuse (fuzz42: the
            # rule's own split raised TypeError on Llama-3.1-405B's 126 layers at PP 64 x VPP 2 under torchtitan)
            return pipeline_split(layers, pp, vpp, "torchtitan")
        form = "even" if len(set(counts)) == 1 else "balanced" if runtime.open and (first or last) else "torchtitan"
        return form, counts
    if isinstance(runtime, BalancedSplit):
        form, counts = pipeline_split(layers, pp, vpp, "megatron")
        better = balanced_counts(layers, pp, runtime, counts, vpp) if pp > 1 else None
        return ("balanced", better) if better is not None else (form, counts)
    if is_deepspeed(runtime) and vpp == 1 and pp > 1:
        # PipelineModule's own partition of GPTModelPipe's specs, before the even case: the embedding, uniform and
        # parameters methods weigh more than the layers, so the layers dividing by pp need not give equal stages
        counts = deepspeed_stage_layers(runtime, layers, pp)
        return ("even" if len(set(counts)) == 1 else "deepspeed"), counts
    if layers % stages == 0:
        return "even", (layers // stages,) * stages
    if runtime == "torchtitan":
        per, extra = divmod(layers, stages)
        return "torchtitan", tuple(per + (s < extra) for s in range(stages))
    if pp > 1:
        chunk = -(-layers // stages)  # the fullest share per virtual stage
        full = chunk * vpp  # a middle rank's layers, a multiple of vpp
        rest = layers - full * (pp - 2)  # for the first and last ranks
        first = (rest // 2) // vpp * vpp
        last = rest - first
        cap = rank_layer_cap(layers, pp)
        if vpp <= first <= full and vpp <= last <= full and last % vpp == 0 and max(full if pp > 2 else 0, last) <= cap:
            per_rank = [first] + [full] * (pp - 2) + [last]
            return "first_last", tuple(per_rank[s % pp] // vpp for s in range(stages))
        for extra, form in ((2, "embedding_loss"), (1, "embedding")):
            if (layers + extra) % stages == 0:
                counts = [(layers + extra) // stages] * stages
                counts[0] -= 1
                if extra == 2:
                    counts[-1] -= 1
                return form, tuple(counts)
    return "layout", layout_counts(layers, stages)


def split_per_row(layers: int, pp, vpp=1, tp=1, runtime="megatron"):
    """``pipeline_split`` once per distinct row of the candidates' (pp, vpp[, tp]) columns (arrays, broadcast
    together): yields (rows, (pp, vpp, tp), counts), ``rows`` the mask of the rows with that key (shaped as the
    broadcast columns) and ``counts`` the split's layers per virtual stage. vpp below 1 counts as 1; tp is part of
    the key only where the split reads it (a TP-dependent ``DeepSpeedSplit``, at each row's TP via ``runtime_at``),
    elsewhere the key's tp is 1. The keys are found in numpy (``distinct_rows``: a Python set over every row cost
    more than the split itself); the memory model's stage parameters, the step time's pacing stage and the
    stack rules' empty-stage check all walk the splits this way.

    >>> [(r.tolist(), k, c) for r, k, c in split_per_row(11, np.array([5, 1, 5]))]
    [([False, True, False], (1, 1, 1), (11,)), ([True, False, True], (5, 1, 1), (1, 3, 3, 3, 1))]
    """
    keys, inv = split_keys(pp, vpp, tp, runtime)
    for i, (k, v, t) in enumerate(keys):  # each split as its rows are reached (a caller may stop early)
        yield inv == i, (k, v, t), pipeline_split(layers, k, v, runtime_at(runtime, t))[1]


def split_keys(pp, vpp=1, tp=1, runtime="megatron"):
    """``split_per_row``'s keys: (the distinct (pp, vpp, tp) rows as tuples, each row's index among them, shaped as
    the broadcast columns), for a caller that gathers by the index rather than masking the rows split by split
    (``memory_stages._split_stage_params``: a mask per split is a pass over every row per split)."""
    pp = np.asarray(pp)
    vpp = np.asarray(vpp)
    vpp = np.where(vpp == V_SPLIT, V_SPLIT, np.maximum(vpp, 1))  # DualPipeV's V kept (``V_SPLIT``)
    tp = np.asarray(tp) if tp_dependent(runtime) else np.ones((), dtype=np.int64)
    pp, vpp, tp = np.broadcast_arrays(pp, vpp, tp)
    keys, inv = distinct_rows(pp.ravel(), vpp.ravel(), tp.ravel())
    return list(zip(*(x.tolist() for x in keys))), inv.reshape(pp.shape)


def balanced_rows(layers: int, pp, vpp, runtime) -> np.ndarray:
    """Rows of the candidates' (pp, vpp) columns whose split under ``runtime`` is ``BalancedSplit``'s own (form
    ``balanced``, or an open ``TitanSplit``'s), not the stack's own: where that split (stack option ``pp_split:
    megatron`` / ``torchtitan``) is another plan. ``vpp`` ``V_SPLIT``: DualPipeV's V (``titan_less_layers``)."""
    vpp = np.asarray(vpp)
    pp, vpp = np.broadcast_arrays(np.asarray(pp), np.where(vpp == V_SPLIT, V_SPLIT, np.maximum(vpp, 1)))
    out = np.zeros(pp.shape, dtype=bool)
    if not split_left_open(runtime):
        return out
    keys, inv = distinct_rows(pp.ravel(), vpp.ravel())
    # per distinct (pp, vpp) whether its split is the balanced one, gathered to the rows (one pass, not one per key)
    flag = np.array([pipeline_split(layers, k, v, runtime)[0] == "balanced"
                     for k, v in zip(*(x.tolist() for x in keys))], dtype=bool)
    return flag[inv].reshape(pp.shape)


def lp16_layers(layers: int, counts, first: int = 0, last: int = 0, weights=None) -> np.ndarray:
    """Layers of each virtual stage (``counts``, in layer order: ``pipeline_split``) that Megatron-Core keeps 16-bit
    under the fp8/fp4 recipe: the global layers ``[0, first)`` and ``[L - last, L)``. Megatron-Core decides per
    layer by its global number (megatron/core/fp8_utils.py ``is_first_last_bf16_layer``: ``layer_no <
    num_bf16_layers_at_start`` or ``layer_no >= config.num_layers - num_bf16_layers_at_end``; "Since layer_no is a
    global layer index, additional checks on whether we are in the first or last pipeline-parallel rank are not
    needed"), so the first layers sit on the first virtual stage(s), the last on the last; a layer in both ranges
    counts once (``Stack.lp_bf16_first_layers``, ``lp_bf16_layers``; the step time's pacing rank and the memory
    model's first / last rank both read this).

    ``weights``: one number per global layer (a hybrid model's 0/1 of one block kind, a layer's parameters): each
    stage's kept layers' sum of them, not their count (None: 1 each).

    >>> lp16_layers(8, (2, 2, 2, 2), first=1, last=3).tolist()
    [1.0, 0.0, 1.0, 2.0]
    >>> lp16_layers(8, (4, 4), first=1, last=3, weights=np.arange(8.0)).tolist()  # layers 0 | 5, 6, 7
    [0.0, 18.0]
    """
    ends = np.cumsum((0,) + tuple(counts)).astype(np.float64)
    lo, hi = ends[:-1], np.minimum(ends[1:], layers)
    if weights is not None:  # the kept layers' weights summed over each stage's run of layers
        at = np.arange(layers)
        kept = np.where((at < first) | (at >= layers - last), np.asarray(weights, dtype=np.float64), 0.0)
        cs = np.concatenate(([0.0], np.cumsum(kept)))
        return cs[hi.astype(np.intp)] - cs[np.minimum(lo, hi).astype(np.intp)]
    cut = float(max(layers - last, 0))
    tail = np.clip(hi - np.maximum(lo, cut), 0.0, None)
    head = np.clip(np.minimum(hi, min(float(first), cut)) - lo, 0.0, None)
    return head + tail


def lp16_rank_layers(layers: int, pp, vpp=1, first: int = 0, last: int = 0, tp=1, runtime="megatron", weights=None,
                     first_rank=None):
    """(first rank's, last rank's) 16-bit layers (``lp16_layers``; with ``weights`` their sum of those) over the
    candidates' (pp, vpp) columns, the virtual stages summed per rank (virtual stage s on rank s % pp), on the split
    ``runtime`` launches. With pp 1 both are the one rank's. ``first_rank``: per candidate, the rank the "first"
    stage is (planner.model.memory_stages ``StageSplit.first_rank``, the heaviest before the last), else rank 0."""
    shape = np.broadcast(np.asarray(pp), np.asarray(vpp), np.asarray(tp)).shape
    r0, rl = np.zeros(shape), np.zeros(shape)
    if not (first or last):
        return r0, rl
    fr = None if first_rank is None else np.broadcast_to(np.asarray(first_rank, dtype=np.intp), shape)
    for rows, (k, v, _), counts in split_per_row(layers, pp, vpp, tp, runtime):
        per_rank = rank_sums(lp16_layers(layers, counts, first, last, weights), k, v)
        r0[rows], rl[rows] = (per_rank[0] if fr is None else per_rank[fr[rows]]), per_rank[-1]
    return r0, rl


def layout_counts(layers: int, stages: int) -> tuple[int, ...]:
    """Layers of each of ``stages`` virtual stages in ``pipeline_split``'s explicit-layout form: floor(layers /
    stages) each and one more on stages 1, 2, ... (stage 0 holds the embedding), so a rank holds at most
    ceil(layers / pp)."""
    q, r = divmod(layers, stages)
    counts = [q] * stages
    for i in range(r):
        counts[1 + i % max(stages - 1, 1)] += 1
    return tuple(counts)


def chunk_layers(layers: int, pp, vpp=1):
    """Layers of the fullest model chunk (virtual pipeline stage): ceil(layers / (pp vpp)), ``pipeline_split``'s
    fullest share, on the rank ``step_time.slowest_stage`` paces the step by (float arrays)."""
    return np.ceil(layers / (np.asarray(pp, dtype=np.float64) * np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)))


def recomputed_fraction(rc, rn, layers: int, pp=1, vpp=1, every=0):
    """The share of a rank's decoder layers that full recompute re-runs in the backward (and whose saved activations
    it drops to the layer input): the one definition step time, hardware FLOPs and memory read.

    ``every`` > 0: the stack's selective recompute is torchtitan's layer SAC (``Stack.selective`` "layer",
    ``activation_checkpoint.selective_ac_option = "<every>"``, ``Stack.ac_freq``), and on the selective rows (``rc`` 1)
    the share is that of the layers it checkpoints whole. torchtitan distributed/activation_checkpoint.py
    ``_apply_layer_sac`` counts the blocks it wraps on a rank (a module-level counter, from 1) and checkpoints those
    where ``count % ac_freq == 0``: floor(K / every) of a rank's K layers (K = ceil(layers / pp), the fullest rank,
    its chunks together: the counter runs on across them).

    ``rc``: recompute codes (only 2, full, recomputes layers whole); ``rn``: Megatron's ``--recompute-num-layers``
    under ``--recompute-method block``, 0 for every layer (uniform, or the planner's plain full). Megatron-Core
    transformer_block.py ``TransformerBlock._checkpointed_forward`` (block): per model chunk (a TransformerBlock holds
    one virtual stage's layers, ``num_layers_per_pipeline_rank``), layer ``l`` is checkpointed iff ``l <
    recompute_num_layers`` and the rest run plain; an N at or above the chunk's layers checkpoints every one (the
    loop clamps; TransformerConfig checks only that N is set). NeMo docs activation_recomputation.rst: "When training
    with the pipeline parallelism, recompute_num_layers indicates the layers per pipeline stage. When using virtual
    pipelining, recompute_num_layers specifies the number of layers per virtual pipeline stage." Priced on the
    fullest chunk (``chunk_layers``): min(N, chunk) / chunk.

    >>> float(recomputed_fraction(2, 5, 32)), float(recomputed_fraction(2, 0, 32)), float(recomputed_fraction(1, 5, 32))
    (0.15625, 1.0, 0.0)
    >>> float(recomputed_fraction(2, 3, 32, pp=4, vpp=2)), float(recomputed_fraction(2, 9, 32, pp=4))
    (0.75, 1.0)
    >>> float(recomputed_fraction(1, 0, 32, every=2)), float(recomputed_fraction(1, 0, 30, pp=2, every=2))
    (0.5, 0.4666666666666667)
    """
    rn = np.asarray(rn, dtype=np.float64)
    chunk = chunk_layers(layers, pp, vpp)
    rc = np.asarray(rc)
    out = np.where(rc == 2, np.where(rn > 0, np.minimum(rn, chunk) / np.maximum(chunk, 1.0), 1.0), 0.0)
    if every:
        rank = np.maximum(chunk_layers(layers, pp), 1.0)
        out = np.where(rc == 1, np.floor(rank / float(every)) / rank, out)
    return out


def fullest_chunk(layers: int, pp, vpp=1, runtime="megatron") -> np.ndarray:
    """Layers of the fullest model chunk (virtual stage) of the split each row launches (``split_per_row``, float
    arrays): ``chunk_layers``' ceil(layers / (pp vpp)) on the planner's own splits, more on an explicit layout that
    loads a stage above it (``Et*8|t*4L``: 8, not 6). Block recompute re-runs every layer only where its N reaches
    this (``rank_recomputed``)."""
    ppa = np.asarray(pp)
    out = np.zeros(np.broadcast(ppa, np.asarray(vpp)).shape)
    for rows, _, counts in split_per_row(layers, ppa, vpp, 1, runtime):
        out[rows] = max(counts)
    return out


def rank_recomputed(counts, pp: int, vpp: int, n) -> np.ndarray:
    """Layers each rank re-runs under Megatron's ``--recompute-method block --recompute-num-layers n`` on a split
    ``counts`` (layers per virtual stage, virtual stage s on rank ``stage_ranks``): each model chunk is its own
    TransformerBlock (transformer_block.py ``TransformerBlock.__init__``: ``num_layers_per_pipeline_rank =
    len(self.layers)``) whose ``_checkpointed_forward`` block loop (``for l in range(num_layers_per_pipeline_rank):
    if l < recompute_num_layers``) checkpoints its own first n layers, so a rank re-runs the sum over its chunks of
    min(n, chunk). Vectorised over ``n`` (rows x pp; a row's n 0 re-runs nothing). Chunks (4, 4, 3, 3) at n 2 re-run
    8 layers; the fullest chunk's share (``recomputed_fraction``: 2 / 4 of 14) priced 7.

    >>> rank_recomputed((4, 4, 3, 3), 1, 4, np.array([2, 0, 9])).tolist()
    [[8.0], [0.0], [14.0]]
    """
    n = np.asarray(n, dtype=np.float64)[..., None, None]
    c = np.asarray(counts, dtype=np.float64)
    per = np.minimum(n, c)  # (..., 1, stages)
    ranks = stage_ranks(pp, len(counts), vpp)
    out = np.zeros(per.shape[:-2] + (pp,))
    for r in range(pp):
        out[..., r] = per[..., 0, ranks == r].sum(axis=-1)
    return out


def rebuilt_layers(rc, rn, layers: int, pp=1, vpp=1, every=0, runtime=None):
    """What the hardware FLOPs (HFU) count as recomputed: ``(codes, share)`` for flops.step_flops' ``recompute`` and
    ``full_fraction``. The codes are ``rc`` with torchtitan layer SAC's selective rows (``every`` > 0) as full
    recompute, since the layers it checkpoints are rebuilt whole in the backward; the share is
    ``recomputed_fraction``'s (floor(K / every) of a rank's K layers under layer SAC, Megatron's block share under
    full). MFU counts none of it (model FLOPs, 3 x forward).

    ``runtime``: the split the rows launch (``pipeline_split``), where a block row's share is then the whole model's,
    as HFU counts it: the sum over every virtual stage of min(N, its layers) (each chunk its own first N,
    ``rank_recomputed``) over the layers (split40; before, the fullest chunk's min(N, C) / C: 94 layers on PP8 at N 5,
    5 / 12 where Megatron re-runs 40 of 94). ``vpp`` then the split's (``split_vpp``: DualPipeV's V).

    >>> codes, share = rebuilt_layers(1, 0, 32, every=4)
    >>> int(codes), float(share)
    (2, 0.25)
    >>> codes, share = rebuilt_layers(1, 0, 32)
    >>> int(codes), float(share)
    (1, 0.0)
    """
    rc = np.asarray(rc)
    codes = np.where((rc == 1) & (every > 0), 2, rc)
    share = recomputed_fraction(rc, rn, layers, pp, vpp, every)
    if runtime is None:
        return codes, share
    rc, rn, pp, vpp, share = np.broadcast_arrays(rc, np.asarray(rn), np.asarray(pp), np.asarray(vpp), share)
    block = (rc == 2) & (rn > 0)
    if not block.any():
        return codes, share
    share = np.array(share, dtype=np.float64)
    for rows, _, counts in split_per_row(layers, pp, vpp, 1, runtime):
        sel = rows & block
        if sel.any():
            share[sel] = np.minimum(rn[sel][:, None], np.asarray(counts)[None, :]).sum(axis=1) / float(sum(counts))
    return codes, share


def uniform_groups(layers: int, group: int, pp=1, vpp=1):
    """Megatron's ``--recompute-method uniform --recompute-num-layers g`` on the fullest chunk: (checkpointed inputs
    per layer, layers rebuilt at once). transformer_block.py ``_checkpointed_forward`` (uniform) checkpoints
    ``custom(l, l + g)`` for l = 0, g, 2g, ... below the chunk's layers: ceil(chunk / g) group inputs are kept, and
    the backward re-runs one whole group (min(g, chunk) layers) before differentiating it."""
    chunk = chunk_layers(layers, pp, vpp)
    g = np.minimum(np.asarray(group, dtype=np.float64), chunk)
    return np.ceil(chunk / g) / chunk, g


def stage_layer_split(layers: int, pp: int, vpp: int = 1, runtime="megatron") -> list[int]:
    """Decoder layers on each of ``pp`` pipeline ranks (all ``vpp`` chunks of a rank summed), as
    ``pipeline_split`` places them for ``runtime``: Megatron even where pp x vpp divides the layers, else the middle
    ranks the fullest share and the first and last the rest, the embedding and loss counted as layers, or an
    explicit layout; torchtitan the leftover layers on the first stages. The fullest rank holds ceil(layers / pp),
    the count planner.model.step_time ``slowest_stage`` paces the step by."""
    if pp <= 1:
        return [layers]
    vpp = V_SPLIT if vpp == V_SPLIT else max(int(vpp), 1)
    return [int(x) for x in rank_sums(pipeline_split(layers, pp, vpp, runtime)[1], pp, vpp)]


def stage_layer_ends(layers: int, pp, vpp=1, runtime="megatron", tp=1):
    """``stage_layer_split`` vectorised over ``pp`` and ``vpp`` (and ``tp``, which only a TP-dependent
    ``DeepSpeedSplit`` reads): (rank 0, rank 1, last rank) layers, as float arrays.
    Rank 1 holds the fullest share of the ranks between the ends (a Megatron layout's extra layers start at virtual
    stage 1; torchtitan's at stage 0, so its rank 1 holds no more than rank 0 and no less than the later ones)
    and, with the most micro-batches in flight of them (``memory_stages.inflight_microbatches`` falls with the rank), their
    activation peak; with pp <= 2 it is the last rank (pp 2) or rank 0 (pp 1)."""
    if tp_dependent(runtime):  # DeepSpeed's "parameters" counts a rank's own parameters: a split per TP size
        pp, vpp, tp = np.broadcast_arrays(np.asarray(pp), np.asarray(vpp), np.asarray(tp))
        out = tuple(np.zeros(pp.shape) for _ in range(3))
        for t in np.unique(tp):
            rows = tp == t
            for o, x in zip(out, _stage_layer_ends(layers, pp[rows], vpp[rows], runtime.at(t))):
                o[rows] = x
        return out
    return _stage_layer_ends(layers, pp, vpp, runtime)


def _stage_layer_ends(layers: int, pp, vpp, runtime):
    """``stage_layer_ends`` at one runtime (a TP-dependent one already at its TP)."""
    pp, vpp = np.broadcast_arrays(np.asarray(pp, dtype=np.intp), np.asarray(vpp, dtype=np.intp))
    vpp = np.where(vpp == V_SPLIT, 0, np.maximum(vpp, 1))  # 0: DualPipeV's V (``V_SPLIT``)
    top_v = int(np.max(vpp, initial=1)) + 1
    key = pp * top_v + vpp
    tab = np.zeros((int(np.max(key, initial=0)) + 1, 3))
    for kk in np.flatnonzero(np.bincount(key.ravel(), minlength=1)):  # the distinct (pp, vpp), no sort
        v = int(kk) % top_v or V_SPLIT
        s = stage_layer_split(layers, int(kk) // top_v, v, runtime)
        # under DualPipeV's V every rank holds pp + 1/2 micro-batches: the "rank 1" peak is the fullest other rank
        tab[kk] = s[0], (max(s[1:]) if v == V_SPLIT and len(s) > 1 else s[min(1, len(s) - 1)]), s[-1]
    out = tab[key]
    return out[..., 0], out[..., 1], out[..., 2]


def _virtual_order(m: int, pp: int, vpp: int, forward: bool, group: int | None = None) -> list[tuple[int, int]]:
    """(micro-batch, chunk) in the order a stage runs them: groups of ``vpp_group_size`` micro-batches (the
    last one the rest), each group through chunk 0, 1, ... (backward: chunks in reverse); Megatron-Core
    ``get_schedule_table``."""
    g = int(vpp_group_size(m, pp, group))
    out = []
    for g0 in range(0, m, g):
        group = range(g0, min(g0 + g, m))
        chunks = range(vpp) if forward else range(vpp - 1, -1, -1)
        out += [(mb, c) for c in chunks for mb in group]
    return out


def stage_orders(schedule: str, pp: int, m: int, vpp: int = 1,
                 extra_warmup: int = 0, group: int | None = None) -> list[list[tuple[str, int, int]]]:
    """Operation order on each stage for one step (list per stage of (kind, micro-batch, chunk)).

    ``extra_warmup`` adds forwards before the first backward of the interleaved schedule (``interleaved_warmup``'s
    ``a2a_overlap``: 1 is Megatron-Core's combined-1F1B order; ``_timing`` also adds them if the warm-up count
    deadlocks, which no group size of ``vpp_group_size`` does). ``group``:
    Megatron's explicit micro-batch group size (``vpp_group_size``), None its default / torch's rounds. The
    interleaved virtual orders, the same on every stage, are built once (speed59: each stage rebuilt them)."""
    schedule, vpp, virtual = _order_setup(schedule, pp, m, vpp, group)
    return [_stage_ops(schedule, pp, m, vpp, s, extra_warmup, group, virtual) for s in range(pp)]


def _order_setup(schedule: str, pp: int, m: int, vpp: int, group: int | None) -> tuple:
    """(schedule, vpp, (forward, backward) virtual orders or None) for ``_stage_ops``: the schedule checked, vpp 1
    off the interleaved schedule, the orders (``_virtual_order``) where it interleaves."""
    if schedule not in SCHEDULE:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULE)}")
    if schedule == "dualpipev":
        raise ValueError("DualPipeV's orders are dualpipev_orders (two stages a rank, overlapped pairs)")
    if schedule != "interleaved":
        vpp = 1
    if schedule == "gpipe" or vpp == 1:
        return schedule, vpp, None
    return schedule, vpp, ([("F", mb, c) for mb, c in _virtual_order(m, pp, vpp, True, group)],
                           [("B", mb, c) for mb, c in _virtual_order(m, pp, vpp, False, group)])


def _stage_ops(schedule: str, pp: int, m: int, vpp: int, s: int, extra_warmup: int, group: int | None,
               virtual) -> list[tuple[str, int, int]]:
    """Stage ``s``'s operation order (``stage_orders``), ``virtual`` the interleaved orders ``_order_setup`` built."""
    if schedule == "gpipe":
        return [("F", i, 0) for i in range(m)] + [("B", i, 0) for i in range(m)]
    if vpp == 1:  # 1F1B (PipeDream-Flush)
        warm = min(pp - s - 1, m)
        ops = [("F", i, 0) for i in range(warm)]
        f = warm
        for b in range(m):
            if f < m:
                ops.append(("F", f, 0))
                f += 1
            ops.append(("B", b, 0))
        return ops
    # Megatron interleaved
    total = m * vpp
    warm = min(interleaved_warmup(pp, vpp, int(vpp_group_size(m, pp, group)), s, extra_warmup), total)
    fwd, bwd = virtual
    ops = fwd[:warm]
    for k in range(total - warm):
        ops.append(fwd[warm + k])
        ops.append(bwd[k])
    ops += bwd[total - warm:]
    return ops


@lru_cache(maxsize=2048)
def chunk_inflight(pp: int, m: int, vpp: int, rank: int, group: int | None = None, extra: int = 0) -> np.ndarray:
    """Micro-batches each of pipeline rank ``rank``'s ``vpp`` model chunks holds at its peaks under the interleaved
    schedule: (states x vpp), one row per distinct count vector after a forward of the steady 1F1B phase at the
    schedule's turning steps (``_turning_steps``: every other steady state lies between two of them, so any
    weighted sum of the counts peaks at one of them; or, all forwards in the warm-up, the one after it), the rows
    whose total is the peak's (every other is a warm-up prefix of one of them, which holds no more on any chunk). A
    replay of Megatron-Core's order
    (pipeline_parallel/schedules.py ``forward_backward_pipelining_with_interleaving``): the
    ``get_pp_rank_microbatches`` warm-up ``(pp - rank - 1) * 2 + (vpp - 1) * group`` chunk forwards (``extra``
    more: the MoE all-to-all overlap's one, combined_1f1b), then forward k + warm-up and backward k alternating;
    forward k on chunk ``get_model_chunk_id(k, forward=True)``, the ``get_schedule_table`` chunk of virtual
    micro-batch k (groups of ``vpp_group_size`` micro-batches, each group through chunk 0, 1, ...), backward k
    on ``vpp - 1 -`` that (``_virtual_order``, the order ``stage_orders`` times). torch's
    ``ScheduleInterleaved1F1B`` runs the same counts and chunk order (its ``microbatches_per_round`` the group).
    The total is the warm-up count plus one, as ``memory_stages.inflight_microbatches`` prices it; the spread is not
    even: PP4 VPP2 m 8 rank 0 holds (7, 4) then (8, 3) chunk micro-batches, not 5.5 each; PP16 VPP8 m 64 rank 0
    31 to 32 on chunk 0 and the last rank 0 or 1 on its last chunk.

    >>> chunk_inflight(4, 8, 2, 0).tolist()
    [[7.0, 4.0], [8.0, 3.0]]
    """
    done, _, warm, k = _interleaved_replay(pp, m, vpp, rank, group, extra)
    # after forward warm + k, backwards 0 .. k - 1 done (every forward in the warm-up: all held before the first
    # backward)
    seen = done([m * vpp]) if k is None else done(warm + k + 1) - done(k)[:, ::-1]
    seen = np.unique(seen, axis=0)
    out = np.ascontiguousarray(seen[seen.sum(axis=1) == seen.sum(axis=1).max()])
    out.setflags(write=False)
    return out


def _interleaved_replay(pp: int, m: int, vpp: int, rank: int, group: int | None, extra: int) -> tuple:
    """Megatron-Core's interleaved order on rank ``rank`` (``chunk_inflight``): (``done(n)``, each chunk's forwards
    among the first n forward ops (rows x vpp; the backwards before backward op k are ``done(k)`` with the chunks
    reversed); ``chunk_of(i)``, forward op i's chunk; the warm-up count; the steady steps k whose states cover every
    count vector's weighted maxima, None where every forward is in the warm-up). Within the full groups the counts
    repeat with period g vpp, so one period and the steps from the last group on cover every vector, and of those
    only the turning steps (``_turning_steps``, O(vpp) of them) are kept. Both in closed form, at the steps asked
    only: until fuzz45 the whole (m vpp x vpp) table was built and summed, so a job's ``global_batch`` of 2^26
    at PP8 VPP12 (its limit, one micro-batch a replica each) asked 77 GB and was killed, and 10^6 took 48 s."""
    total = m * vpp
    g = int(vpp_group_size(m, pp, group))
    warm = min(interleaved_warmup(pp, vpp, g, rank, extra), total)
    full = (m // g) * g * vpp  # the forward ops of the full groups (g micro-batches through each chunk in turn)
    rest = m - (m // g) * g  # the last group's micro-batches
    c = np.arange(vpp)

    def done(n):
        n = np.asarray(n)[:, None]
        in_full = np.minimum(n, full)
        counts = (in_full // (g * vpp)) * g + np.clip(in_full % (g * vpp) - c * g, 0, g)
        return (counts + np.clip(n - full - c * max(rest, 1), 0, rest)).astype(np.float64)

    def chunk_of(i):
        return np.where(i < full, (i % max(g * vpp, 1)) // g, (i - full) // max(rest, 1))
    if warm == total:
        return done, chunk_of, warm, None
    steps = total - warm
    head, tail = min(g * vpp, steps), max(full - warm - g * vpp, 0)  # (the first period, the last group's steps)
    spans = ((0, steps),) if tail <= head else ((0, head), (tail, steps))
    k = np.unique(np.concatenate([_turning_steps(lo, hi, warm, g, full, rest, vpp) for lo, hi in spans]))
    return done, chunk_of, warm, k


def _turning_steps(lo: int, hi: int, warm: int, g: int, full: int, rest: int, vpp: int) -> np.ndarray:
    """The steady steps k in [lo, hi) at which ``_interleaved_replay``'s states turn: its first and last, and each
    k (and k - 1) where forward op k + o starts a run of one chunk's ops, o in (0, warm, warm + 1) (the backward
    k, the paired forward warm + k, the forward after the warm-up's warm + k + 1). Between two of them every
    state is done(k + o) - done(k) reversed with both ops inside one chunk's run, so the counts move by one
    fixed vector a step (and the pair's forward chunk holds): any weighted sum of a state's counts (the bytes
    ``memory_activations.chunk_activations`` and ``split_cost`` take the max of, with the pair's one layer) is linear in k
    there, its max at one end. So these O(vpp) states give every max the g x vpp states of a period give
    (mbgroup45: an explicit ``microbatch_group_size`` of 65,536 at PP8 VPP12 kept 327,696 states and the plan took a
    minute). Runs start every g ops in the full groups (``chunk_of``) and every ``rest`` ops in the last group."""
    out = [np.array([lo, hi - 1])]
    for o in (0, warm, warm + 1):
        a, b = lo + o, hi + o  # op indices whose run start moves a step in [lo, hi)
        runs = np.arange(-(-a // g) * g, min(b, full) + 1, g)
        last = full + np.arange(1, vpp) * rest if rest else np.zeros(0, dtype=np.int64)
        at = np.concatenate([runs, last[(last >= a) & (last <= b)]]) - o
        out += [at, at - 1]
    k = np.concatenate(out)
    return k[(k >= lo) & (k < hi)]


@lru_cache(maxsize=2048)
def chunk_inflight_paired(pp: int, m: int, vpp: int, rank: int, group: int | None = None) -> np.ndarray:
    """``chunk_inflight`` under Megatron-Core's combined 1F1B (the MoE all-to-all overlap,
    ``overlap_moe_expert_parallel_comm``): (states x (vpp + 1)), each row the micro-batches each chunk holds before a
    steady pair and, last, the chunk the pair's forward runs on (-1: every forward in the warm-up, no pair). The
    warm-up has the overlap's one extra forward (``interleaved_warmup``); then each steady step runs forward
    warm + k and backward k as one pair, layer by layer (models/common/model_chunk_schedule_plan.py
    ``TransformerModelChunkSchedulePlan.run``: "Phase 1: forward_layer[0] + backward_layer[3]" ..., each backward
    layer's state released after its phase, ``b_layer.release_state()``), so while the forward's chunk saves its
    layers 0 .. i the backward's has freed its top i: the rank holds the state before the pair and one layer more,
    not the forward's whole chunk beside the backward's (``chunk_inflight`` with ``extra`` 1, a chunk high by all but
    one of its layers). Only the turning states and the rows whose totals are the peak's are kept (as
    ``chunk_inflight``).

    >>> chunk_inflight_paired(4, 8, 2, 0).tolist()
    [[7.0, 4.0, 0.0], [8.0, 3.0, 1.0]]
    """
    done, chunk_of, warm, k = _interleaved_replay(pp, m, vpp, rank, group, 1)
    if k is None:
        seen = np.concatenate([done([m * vpp]), [[-1.0]]], axis=1)
    else:  # before pair k: forwards 0 .. warm + k - 1 and backwards 0 .. k - 1 done
        seen = np.concatenate([done(warm + k) - done(k)[:, ::-1], chunk_of(warm + k)[:, None].astype(np.float64)],
                              axis=1)
    seen = np.unique(seen, axis=0)
    held = seen[:, :-1].sum(axis=1)
    out = np.ascontiguousarray(seen[held == held.max()])
    out.setflags(write=False)
    return out


#: the most chunk forwards a step (m x vpp) ``accumulator_states`` replays; past it the memory keeps its sum (every
#: chunk's accumulators beside the peak's activations), an upper bound
ACCUMULATOR_REPLAY_OPS = 4096


@lru_cache(maxsize=2048)
def accumulator_states(pp: int, m: int, vpp: int, rank: int, group: int | None = None) -> np.ndarray | None:
    """(states x 2), read-only: after each forward and backward of rank ``rank``'s interleaved order
    (``stage_orders``, torch's ``ScheduleInterleaved1F1B`` order), the chunk micro-batches the rank holds and the
    number of its chunks whose FSDP2 gradient accumulators are alive, one row per distinct pair; None past
    ``ACCUMULATOR_REPLAY_OPS``. Under torch.distributed.pipelining a stage's FSDP2 backward runs with
    ``set_requires_gradient_sync(False)`` (stage.py ``backward_maybe_with_nosync``), so ``FSDPParamGroup.post_backward``
    upcasts each layer's first gradient of the step into ``unsharded_accumulated_grad`` (_fsdp_param.py
    ``to_accumulated_grad_if_needed``, the reduce dtype) and adds the later ones into it; at the stage's last backward
    (torch 2.5-2.7: ``if last_backward: run_post_backward(self.submod)`` in ``backward_maybe_with_nosync``; torch 2.13:
    the schedule's ``REDUCE_GRAD`` action, ``perform_reduce_grad``) it is reduce-scattered and freed. So a chunk's
    accumulators live from its first backward through its m-th. Measured (tests/make_fsdp_pp_grads_truth.py, gloo,
    torch 2.13): PP 2, 2 chunks a rank, 2 micro-batches: the last rank holds chunk 0's 2 micro-batches beside chunk 1's
    accumulators and frees those before chunk 0's appear, never both.

    >>> accumulator_states(2, 2, 2, 1).tolist()
    [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 1.0], [3.0, 0.0], [3.0, 1.0]]
    """
    if m * vpp > ACCUMULATOR_REPLAY_OPS:
        return None
    fwd, chunk = _interleaved_ops(pp, m, vpp, rank, group)
    held = np.cumsum(np.where(fwd, 1, -1))  # chunk micro-batches held after each op
    # each backward's count of its chunk's backwards so far: the accumulators are born at the first, freed at the m-th
    back = chunk[~fwd]
    seen = np.cumsum(back[:, None] == np.arange(vpp), axis=0)[np.arange(len(back)), back]
    step = np.zeros(len(fwd), dtype=np.int64)
    step[~fwd] = (seen == 1).astype(np.int64) - (seen == m)
    # the distinct (held, live) pairs in order, as one integer code (live is 0..vpp): a sort of ints, not of rows
    code = np.unique(held * (vpp + 1) + np.cumsum(step))
    arr = np.stack([code // (vpp + 1), code % (vpp + 1)], axis=1).astype(np.float64)
    arr.setflags(write=False)
    return arr


def _interleaved_ops(pp: int, m: int, vpp: int, rank: int, group: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(forward?, chunk) of each op of rank ``rank``'s interleaved order as arrays: ``stage_orders("interleaved",
    ...)[rank]``'s kinds and chunks (tests/test_speed59.py), built without the op tuples -- the warm-up's forwards,
    then forward and backward alternating, then the last backwards; the virtual orders ``_virtual_order``'s (groups
    of ``vpp_group_size`` micro-batches, each through chunk 0, 1, ...; backward the chunks in reverse)."""
    g = int(vpp_group_size(m, pp, group))
    full, rest = divmod(m, g)  # m // g whole groups, then one of the rest

    def order(chunks):
        return np.concatenate([np.tile(np.repeat(chunks, g), full), np.repeat(chunks, rest)])
    f_chunk, b_chunk = order(np.arange(vpp)), order(np.arange(vpp - 1, -1, -1))
    total = m * vpp
    warm = min(interleaved_warmup(pp, vpp, g, rank, 0), total)
    steady = total - warm
    chunk = np.concatenate([f_chunk[:warm], np.stack([f_chunk[warm:], b_chunk[:steady]], axis=1).ravel(),
                            b_chunk[steady:]])
    fwd = np.concatenate([np.ones(warm, dtype=bool), np.tile([True, False], steady), np.zeros(warm, dtype=bool)])
    return fwd, chunk


#: the schedules whose stages before the last run a micro-batch lighter (``pipeline_timing``' ``t_lighter``): 1F1B and
#: GPipe, whose fill crosses the lighter stages with micro-batch 0's forward and whose drain with the last backward,
#: the pacing stage busy in between (GPipe: all forwards, then all backwards; torch ``ScheduleGPipe``), as
#: ``step_composition`` takes ``fill_excess`` off both (its v = 1 rows). Until sim55 the list schedule ran GPipe's
#: stages at the pacing stage's time and ``planner simulate`` played a torchtitan Llama-3-8B GPipe PP4 step 1.6% over
#: estimate's
LIGHTER_FILL = ("1f1b", "gpipe")


@dataclass(frozen=True)
class PipelineTiming:
    makespan: float  # first forward start to last backward end, over all stages
    first_stage_fwd_start: tuple[float, ...]  # when stage 0 starts the forward of micro-batch i
    ideal: float  # m * (t_f + t_b): the busy time of one stage


def pipeline_timing(pp: int, m: int, vpp: int = 1, t_f: float = 1.0, t_b: float = 2.0,
                    t_p2p: float = 0.0, schedule: str | None = None,
                    t_f_first: float | None = None, group: int | None = None, t_lead: float = 0.0,
                    t_lighter: float = 0.0) -> PipelineTiming:
    """Exact timing of one step's schedule by list scheduling (see module docstring).

    ``t_f_first`` replaces the forward time of stage 0 (e.g. with a non-overlapped H2D copy added).
    ``group``: Megatron's explicit interleaved micro-batch group size (``vpp_group_size``).
    ``t_lead``: seconds every stage's first forward (micro-batch 0, chunk 0) waits before it computes, once the
    micro-batch has arrived: a collective that stage only starts then (the ZeRO-1/2 parameter all-gather's first
    bucket under Megatron-Core's unaligned ``--overlap-param-gather``: planner.model.step_time ``compose_step``).
    ``t_lighter``: on the 1F1B and GPipe schedules (``LIGHTER_FILL``), seconds a micro-batch (forward and backward,
    in their proportion) each stage but the last runs under ``t_f + t_b``: the last stage, with the LM head, paces
    and the others fill and drain (planner.model.step_time ``fill_excess`` / (pp - 1)).
    """
    schedule = schedule or ("interleaved" if vpp > 1 else "1f1b")
    inter = schedule == "interleaved"
    if schedule == "dualpipev":  # (dualpipev_orders: its own op order, two stages a rank)
        vpp = 1
    return _timing(schedule, pp, m, vpp if inter else 1, t_f, t_b, t_p2p,
                   t_f if t_f_first is None else t_f_first, None, group if inter and vpp > 1 else None, t_lead,
                   t_lighter if schedule in LIGHTER_FILL else 0.0)


def pipeline_ops(pp: int, m: int, vpp: int = 1, t_f: float = 1.0, t_b: float = 2.0, t_p2p: float = 0.0,
                 schedule: str | None = None, t_f_first: float | None = None,
                 group: int | None = None, t_lead: float = 0.0,
                 t_lighter: float = 0.0) -> list[list[tuple[str, int, float, float]]]:
    """Per stage, the (kind, micro-batch, start, end) of every operation of ``pipeline_timing``'s schedule (the
    simulator's per-micro-batch timeline): the same list scheduling, so the last end is its makespan."""
    schedule = schedule or ("interleaved" if vpp > 1 else "1f1b")
    inter = schedule == "interleaved"
    ops: list[list[tuple[str, int, float, float]]] = []
    _timing.__wrapped__(schedule, pp, m, vpp if inter else 1, t_f, t_b, t_p2p,
                        t_f if t_f_first is None else t_f_first, ops, group if inter and vpp > 1 else None, t_lead,
                        t_lighter if schedule in LIGHTER_FILL else 0.0)
    return ops


@lru_cache(maxsize=256)
def _timing(schedule, pp, m, vpp, t_f, t_b, t_p2p, t_f0, record=None, group=None, t_lead=0.0,
            t_lighter=0.0) -> PipelineTiming:
    if schedule == "dualpipev":  # torchtitan's only: no Megatron first-forward gather wait (t_lead is 0 there)
        if record is not None:
            record[:] = [[] for _ in range(pp)]
        return _dualpipev_schedule(pp, m, t_f, t_b, t_p2p, t_f0, record)
    for extra in range(0, m * vpp + 1):
        try:
            if record is not None:
                record[:] = [[] for _ in range(pp)]
            return _list_schedule(stage_orders(schedule, pp, m, vpp, extra, group), pp, m, vpp, t_f, t_b, t_p2p,
                                  t_f0, record, t_lead, t_lighter)
        except _Deadlock:
            if schedule != "interleaved":
                raise
    raise RuntimeError(f"schedule {schedule} deadlocked (pp={pp}, m={m}, vpp={vpp})")


class _Deadlock(RuntimeError):
    pass


def _sweep(orders, run_op, deadlock: str) -> None:
    """List scheduling's sweep, shared by ``_list_schedule`` and ``_dualpipev_schedule``: each rank runs its ops in
    its order, an op as soon as ``run_op(rank, op)`` finds its inputs there (it times the op and returns True; False
    where a producer has not run yet), and the ranks are swept until every op has run. A sweep in which no op runs is
    a deadlock (``_Deadlock`` with the message ``deadlock``: the interleaved schedule then retries with one more
    warm-up forward, ``_timing``)."""
    pos = [0] * len(orders)
    remaining = sum(len(o) for o in orders)
    while remaining:
        progressed = False
        for r, ops in enumerate(orders):
            while pos[r] < len(ops) and run_op(r, ops[pos[r]]):
                pos[r] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise _Deadlock(deadlock)


def _list_schedule(orders, pp, m, vpp, t_f, t_b, t_p2p, t_f0, record=None, t_lead=0.0, t_lighter=0.0) -> PipelineTiming:
    nvs = pp * vpp  # virtual stages: chunk c of stage s is virtual stage c*pp + s
    # the stages before the last, lighter by ``t_lighter`` a micro-batch (pipeline_timing), in the passes' proportion
    less_f, less_b = (t_lighter * x / (t_f + t_b) if t_f + t_b > 0 else 0.0 for x in (t_f, t_b))
    end: dict[tuple[str, int, int], float] = {}  # (kind, mb, virtual stage) -> end time
    clock = [0.0] * pp
    first_f = [0.0] * m

    def run_op(s, op) -> bool:
        kind, mb, c = op
        vs = c * pp + s
        if kind == "F":
            dep = end.get(("F", mb, vs - 1)) if vs > 0 else 0.0
            dur = (t_f0 if s == 0 else t_f) / vpp + (t_lead if mb == 0 and c == 0 else 0.0)
            dur -= less_f if s < pp - 1 else 0.0
        else:
            dep = end.get(("B", mb, vs + 1)) if vs < nvs - 1 else end.get(("F", mb, vs))
            dur = t_b / vpp - (less_b if s < pp - 1 else 0.0)
        if dep is None:
            return False
        link = t_p2p if (kind == "F" and vs > 0) or (kind == "B" and vs < nvs - 1) else 0.0
        start = max(clock[s], dep + link)
        if kind == "F" and s == 0 and c == 0:
            first_f[mb] = start
        clock[s] = start + dur
        end[(kind, mb, vs)] = clock[s]
        if record is not None:
            record[s].append((kind, mb, start, clock[s]))
        return True

    _sweep(orders, run_op, f"deadlocked (pp={pp}, m={m}, vpp={vpp})")
    return PipelineTiming(max(clock), tuple(first_f), m * (t_f + t_b))


@dataclass(frozen=True)
class FillGeometry:
    """The warm-up / cool-down path of the interleaved schedule, one row per pipeline (``fill_geometry``; 1-d float
    arrays): pp, v, micro-batches ``m``, the group size, the last group's size, the passes of pp sends the first and
    last groups add at vanishing sends (the list schedule's own count where the last group is under pp: ``odd``), and
    how many of a pass's pp - 1 links (``lin``) and its wrap from the last stage to the first (``wrap``) leave a node.
    ``sends`` counts them (``fill_sends``), ``exposure`` prices them at finite sends (``fill_exposure``)."""
    pp: np.ndarray
    v: np.ndarray
    m: np.ndarray
    group: np.ndarray
    last: np.ndarray
    passes: np.ndarray
    odd: np.ndarray
    lin: np.ndarray
    wrap: np.ndarray

    def take(self, idx) -> "FillGeometry":
        """The rows at ``idx`` (a search computes the geometry once per distinct pipeline and gathers it)."""
        return FillGeometry(*(getattr(self, k)[idx] for k in self.__dataclass_fields__))

    def sends(self):
        """(sends, crossing): ``fill_sends``."""
        pp, v, lin, wrap = self.pp, self.v, self.lin, self.wrap
        extra = (v - 1) * self.passes
        sends = np.where(pp > 1, (2 + extra) * (pp - 1) + extra, 0.0)
        crossing = np.where(pp > 1, (2 + extra) * lin + extra * wrap, 0.0)
        return sends, crossing

    def exposure(self, t_f, t_b, hop_in, hop_out, t_send, exposed=None):
        """``fill_exposure`` on these rows; ``exposed``: ``overlapped_sends_exposed`` at them, where the caller has
        it."""
        pp, v, gs, last, lin, wrap = self.pp, self.v, self.group, self.last, self.lin, self.wrap
        f, b = np.asarray(t_f, dtype=np.float64) / v, np.asarray(t_b, dtype=np.float64) / v
        path = lin * hop_out + (pp - 1 - lin) * hop_in
        pass_ = path + wrap * hop_out + (1 - wrap) * hop_in
        if exposed is None:
            exposed = overlapped_sends_exposed(pp, v, t_f, t_b, t_send)
        fill = (2 * path + (v - 1) * (np.maximum(pass_ - (gs - pp) * f, 0.0) + np.maximum(pass_ - (last - pp) * b, 0.0))
                - gs * (v - 1) * np.maximum(t_send - np.minimum(f, b), 0.0)
                - bubble_time(pp, self.m, v, exposed + 0.0 * pp, True))
        if self.odd.any():  # fill_sends' count where the last group is under pp
            fill = np.where(self.odd, 2 * path + (v - 1) * self.passes * pass_, fill)
        return np.where(pp > 1, fill, 0.0)


def fill_geometry(pp, m, vpp, stage_gpus, gpus_per_node, group=None) -> FillGeometry:
    """The rows of ``fill_sends`` / ``fill_exposure`` (vectorised; see ``fill_sends`` for the passes and links)."""
    pp, v, mm, s = np.broadcast_arrays(np.atleast_1d(np.asarray(pp, dtype=np.float64)),
                                       np.maximum(np.asarray(vpp, dtype=np.float64), 1.0),
                                       np.maximum(np.rint(np.asarray(m, dtype=np.float64)), 1.0),
                                       np.asarray(stage_gpus, dtype=np.float64))
    gs = np.minimum(vpp_group_size(mm, pp, group).astype(np.float64), mm)
    last = np.where(np.mod(mm, gs) > 0, np.mod(mm, gs), gs)
    passes = (gs <= pp).astype(np.float64) + (last <= pp)
    odd = last < pp
    if odd.any():  # the list schedule's own count, in passes (once per distinct schedule)
        po, mo, vo = pp[odd].astype(np.int64), mm[odd].astype(np.int64), v[odd].astype(np.int64)
        keys, inv = distinct_rows(po, mo, vo)
        n = np.array([_schedule_sends(a, b, c, group) for a, b, c in zip(*(k.tolist() for k in keys))])[inv]
        passes[odd] = (n - 2 * (po - 1)) / np.maximum(po * (vo - 1), 1.0)
    g = float(gpus_per_node)
    nodes = np.ceil(pp * s / g)
    lin = np.where(s >= g, pp - 1, np.maximum(nodes - 1, 0.0))
    wrap = (nodes > 1).astype(np.float64)
    return FillGeometry(pp, v, mm, gs, last, passes, odd, lin, wrap)


def fill_sends(pp, m, vpp, stage_gpus, gpus_per_node, group=None):
    """Sends the interleaved schedule cannot hide when they overlap the compute (Megatron-Core
    ``overlap_p2p_comm``), and how many of them leave a node (vectorised over rows; 1-d arrays out):
    ``(sends, crossing)``.

    In the steady state each send runs under another micro-batch's chunk, but the forward-only warm-up and
    the backward-only cool-down wait for theirs: the first micro-batch's forward pays the pp - 1 sends of one
    pass over the stages, the last one's backward the same, and a group of micro-batches no larger than pp
    (Megatron's default group is pp, ``vpp_group_size``) leaves no slot to hide the next chunk's pass behind,
    so the first group adds (v - 1) passes of pp sends (pp - 1 links and the wrap from the last stage back to
    the first) and so does the last group:

        sends = 2 (pp - 1) + (v - 1) pp (k_first + k_last),   k = 1 where the group holds <= pp micro-batches

    i.e. 2 (pp v - 1) at Megatron's default. ``pipeline_timing``'s list schedule pays exactly this many with
    any send shorter than a chunk (tests/test_pp_fill.py); for a last group under pp (which Megatron refuses,
    stack_rules "interleaved-m") the count is taken from it.

    Which sends leave a node: Megatron's rank order puts the pipeline outermost (stage s on ranks
    [s S, (s + 1) S), S = ``stage_gpus``): with S >= ``gpus_per_node`` every link does; otherwise the
    pipeline spans ``k = ceil(pp S / g)`` nodes, k - 1 of the pp - 1 links cross a node boundary and the wrap
    does when k > 1. ``crossing`` counts those sends among ``sends``, pass by pass."""
    return fill_geometry(pp, m, vpp, stage_gpus, gpus_per_node, group).sends()


def overlapped_sends_exposed(pp, vpp, t_f, t_b, t_send):
    """Per micro-batch, what the overlapped interleaved schedule's steady state exposes of its sends (vectorised):
    ``v x`` with ``x`` the growth of one chunk tick (a chunk forward and a chunk backward, ``f = t_f / v``,
    ``b = t_b / v``) under sends of ``p`` = ``t_send`` each:

        x = max(0,  (p - f)(v - 1) / v,  (p - f) - ((b - f) / 2 + (p - (f + b) / 2) / pp) / v)

    Megatron-Core ``forward_backward_pipelining_with_interleaving`` with ``overlap_p2p_comm`` posts each recv right
    after the chunk it follows and waits on it (``pp_pre_forward`` / ``pp_pre_backward``: ``recv_prev_wait_handles``
    / ``recv_next_wait_handles``, first in first out) just before the chunk that consumes that tensor; each send is
    waited on one chunk later (``send_next_wait_handle`` after the next chunk's send is posted). The recv waits are
    exactly the data edges of ``pipeline_timing``'s list schedule with ``t_p2p`` = p (a chunk starts at its input's
    producer's end + p); the send waits, a backward and a forward after their post, are not modelled, nor that a send
    cannot start before its peer posts the recv (NCCL's rendezvous; in the steady state the recv is posted a chunk
    before the matching send), nor the wait on every send before its output is freed that newer Megatron-Core adds
    under ``deallocate_pipeline_outputs`` (Megatron-LM PR #4047, after 26.02).

    The two terms are the mean chunk tick of the list schedule's two critical cycles past ``p = f`` (read off its
    slopes, 8..16 pp micro-batches, then checked as below): a micro-batch's backward passing the v chunks of its
    group, ``f + v b + (v - 1) p`` over v ticks (the wraps from stage 0 back to the last stage leave no slot under
    Megatron's default group of pp micro-batches), and, with longer sends, a cycle of 2 pp v ticks weighing
    ``(pp + 1) f + (2 pp v - pp + 1) b + (2 pp v - 2) p``. Up to ``p = f`` each send hides under the chunk between its
    post and its wait, and nothing is exposed. A backward shorter than its forward (a frozen base) mirrors it: f and b
    trade places (checked at b = 0.5 f and 0.8 f, exactly). Together with ``fill_exposure`` this is
    ``pipeline_timing``'s makespan exactly (1e-9) for pp 2..16, v 2..8, m >= 2 pp at Megatron's default group and b >= 2 f
    (tests/test_p2p_rule.py); otherwise within 10% up to p = 3 f (one group larger than pp, or m = pp: up to +10%, it
    overestimates; b < 2 f with m >= 8 pp: it underestimates, by up to 4.4% at b = f, where the list schedule keeps
    slowing over hundreds of micro-batches). The rule it replaced, ``max(0, 2 v p - (t_f + t_b))`` per micro-batch,
    exposed nothing until p = (f + b) / 2 and then 2 v per unit of p: over pp 2..16, v 2..8, m 4..256 (the groups
    Megatron accepts), p / f 0.05..3, b = 2 f (2,200 points) it was 0.72..1.39x the list schedule's step (median
    error past p = f 10.4%), this one is 1.000..1.067x (2,128 within 2%; the rest one group larger than pp, or m =
    pp, with p > f)."""
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    pp = np.asarray(pp, dtype=np.float64)
    f, b, p = np.asarray(t_f) / v, np.asarray(t_b) / v, np.asarray(t_send, dtype=np.float64)
    f, b = np.minimum(f, b), np.maximum(f, b)  # the schedule is its own mirror: the shorter chunk sets the knee
    back = (p - f) * (v - 1) / v
    long = (p - f) - ((b - f) / 2 + (p - (f + b) / 2) / np.maximum(pp, 1.0)) / v
    # nothing past a chunk's worth of send (both terms are <= 0 there; the test keeps rounding from leaving 1e-16)
    return np.where(p > f, v * np.maximum(np.maximum(back, long), 0.0), 0.0)


def fill_exposure(pp, m, vpp, t_f, t_b, hop_in, hop_out, t_send, stage_gpus, gpus_per_node, group=None):
    """What the overlapped interleaved schedule's warm-up and cool-down add to ``m`` steady micro-batches (with
    ``overlapped_sends_exposed`` in their stage times) and the bubble of the stage times without it (vectorised over
    rows): the first micro-batch's forward path and the last one's backward path, each pp - 1 sends (``path``),
    and, in the first and the last group of micro-batches, (v - 1) passes of pp sends (``path`` and the wrap,
    ``pass_``) less the slots the group has to spare -- G - pp chunk forwards in the first group of G, L - pp chunk
    backwards in the last of L:

        fill = 2 path + (v - 1) (max(0, pass_ - (G - pp) f) + max(0, pass_ - (L - pp) b))
               - G (v - 1) max(0, p - f) - bubble(overlapped_sends_exposed)

    the last two terms the steady exposure the warm-up / cool-down passes already hold (one pass of G sends per chunk
    wrap paid past ``p = min(f, b)``; the bubble of ``bubble_time`` has none of it). Where every send is shorter than a
    chunk forward and the groups hold pp micro-batches this is ``fill_sends``' 2 (pp v - 1) sends, each on its link;
    a group larger than pp hides a pass only as far as its spare slots last (``fill_sends`` counts none there, which
    holds only for sends far under a chunk: pp 8, v 4, m 9 at p = f / 4 pays 26 sends, not 14). ``t_send``: the
    steady state's send (``overlapped_sends_exposed``); ``hop_in`` / ``hop_out``: one send on NVLink / through the
    NIC (``fill_sends``' link split). A last group under pp (torch's rounds) keeps ``fill_sends``' count."""
    geo = fill_geometry(pp, m, vpp, stage_gpus, gpus_per_node, group)
    t_f, t_b, hop_in, hop_out, t_send = (np.broadcast_to(np.asarray(x, dtype=np.float64), geo.pp.shape)
                                         for x in (t_f, t_b, hop_in, hop_out, t_send))
    return geo.exposure(t_f, t_b, hop_in, hop_out, t_send)


@lru_cache(maxsize=4096)
def _schedule_sends(pp: int, m: int, vpp: int, group) -> float:
    """Sends on the critical path of the interleaved schedule (``pipeline_timing`` with a send of 1e-6 of a
    chunk's forward)."""
    eps = 1e-6
    base = pipeline_timing(pp, m, vpp, 1.0, 2.0, 0.0, group=group).makespan
    return round((pipeline_timing(pp, m, vpp, 1.0, 2.0, eps / vpp, group=group).makespan - base) / (eps / vpp))


def bubble_time(pp, m, vpp, t_stage, interleaved=True):
    """Pipeline bubble of one step, vectorised: ``(pp - 1) / v * t_stage`` (Narayanan et al. 2021
    §2.2: 1F1B/GPipe with v = 1, interleaved with v virtual stages). The interleaved schedule's groups
    (``vpp_group_size``) hold at least pp micro-batches when m >= pp, and then add nothing -- Megatron's
    explicit ``microbatch_group_size_per_vp_stage`` too, whose groups and final group it keeps >= pp (list
    scheduled for pp 2-8, v 2-4 and every group size it accepts: tests/test_mbgroup.py); with m < pp (one
    group, torch's ``ScheduleInterleaved1F1B``; Megatron-Core refuses it) micro-batch 0 waits for each of its
    chunks to cross all pp stages before its next, so the step is ``(pp + (m - 1)/v) t_stage``: a bubble of
    ``(pp - 1)/v + (pp - m)(v - 1)/v`` stage times -- what ``pipeline_timing`` gives by list scheduling.
    (Until 2026-12-02 Calculon's ``(v - 1)(pp - m mod pp)/(v pp)`` term for groups of exactly pp was added
    whenever ``m % pp``, a schedule neither stack runs: Megatron-Core refuses it, torch widens the groups.)"""
    pp = np.asarray(pp, dtype=np.float64)
    inter = np.asarray(interleaved, dtype=bool) & (np.asarray(vpp) > 1)
    if inter.ndim == 1 and all(np.shape(x) == inter.shape for x in (pp, m, vpp, t_stage)) and np.all(pp >= 1):
        # rows of one column each: the formula below only where the schedule interleaves; elsewhere v = 1 and
        # extra = 0, where it reads (pp - 1) / 1 + 0 = pp - 1 exactly (pp >= 1), so the rows get the same bits
        coef = pp - 1
        rows = np.flatnonzero(inter)
        if len(rows):
            p, v = pp[rows], np.maximum(np.asarray(vpp)[rows], 1).astype(np.float64)
            extra = np.maximum(p - np.asarray(m, dtype=np.float64)[rows], 0.0) * (v - 1)
            coef[rows] = (p - 1) / v + extra / v
        return coef * t_stage
    v = np.where(inter, np.maximum(vpp, 1), 1).astype(np.float64)
    extra = np.where(inter, np.maximum(pp - np.asarray(m, dtype=np.float64), 0.0) * (v - 1), 0.0)
    return ((pp - 1) / v + extra / v) * t_stage


def dualpipev_bubble(pp, t_f, t_b):
    """DualPipeV's bubble in one step (vectorised; ``t_f``, ``t_b``: a rank's forward and backward of one
    micro-batch, both its chunks; m >= 2 pp, which torch requires):

        bubble = (pp - 1) t_f + max(0, (pp - 1) t_b / 4 - pp t_f / 2)

    what ``_dualpipev_schedule`` gives by list scheduling torch's ``ScheduleDualPipeV`` order with equal stages and no
    sends, exactly (pp 2..16, m 2 pp..8 pp, t_b / t_f 0.5..6: tests/test_dualpipev.py), with W = t_b / 4 (a chunk's
    backward t_b / 2, half of it weight gradient: ``DUALPIPEV_W_SHARE``). At t_b = 2 t_f it is DeepSeek-V3's
    (report §3.2.1, Table 2; deepseek-ai/DualPipe README) ``(PP/2 - 1)(F&B + B - 3W)`` for its PP = 2 pp stages of
    chunks F = t_f / 2, B = t_b / 2, W = B / 2 and F&B = F + B (the pair's compute; the EP all-to-all it hides is taken
    off the stage times): (pp - 1)(t_f / 2 + t_b / 4) = (pp - 1) t_f, a third of 1F1B's (pp - 1)(t_f + t_b). Below
    2 t_f the list schedule stays at (pp - 1) t_f (the formula would fall below it); a backward longer than
    2 pp / (pp - 1) t_f (full recompute) adds the max term."""
    pp = np.asarray(pp, dtype=np.float64)
    t_f, t_b = np.asarray(t_f, dtype=np.float64), np.asarray(t_b, dtype=np.float64)
    return np.where(pp > 1, (pp - 1) * t_f + np.maximum(0.0, (pp - 1) * t_b / 4 - pp * t_f / 2), 0.0)


def analytic_makespan(pp: int, m: int, vpp: int, t_f: float, t_b: float) -> float:
    """First forward to last backward of one step: ``m (t_f + t_b) + bubble`` — with equal
    stages and no sends, what ``pipeline_timing`` computes by list scheduling."""
    return float(m * (t_f + t_b) + bubble_time(pp, m, vpp, t_f + t_b, vpp > 1))


def exposed_dp_comm(t_dp, t_bwd, buckets, overlap):
    """Exposed data-parallel gradient reduce, overlapped with the last micro-batch's backward
    (vectorised over arrays; floats in, float out).

    The reduce is cut into ``K`` equal buckets (one per layer of the stage); the first ``K-1`` run
    on the communication stream under the last backward (duration ``t_bwd``), the last bucket can
    only start when that backward ends. The reduce therefore ends at
    ``max(t_bwd_start + (K-1) c, t_bwd_end) + c`` with ``c = t_dp/K``, i.e. it is exposed for

        max(t_dp / K, t_dp - t_bwd)

    after the backward (PyTorch DDP's bucketed all-reduce, Li et al. VLDB 2020 §3.2.3; Megatron's
    ``--overlap-grad-reduce``). ``sync_end`` below evaluates the same chain with per-replica times
    (a slow replica delays both the overlappable buckets and the last one). Without overlap it is
    all exposed. ``overlap``: a bool, or one per row.
    """
    scalar = np.ndim(t_dp) == 0 and np.ndim(t_bwd) == 0 and np.ndim(buckets) == 0
    t_dp = np.asarray(t_dp, dtype=np.float64)
    if np.any(overlap):
        k = np.asarray(buckets, dtype=np.float64)
        out = select(np.asarray(overlap) & (k > 1), np.maximum(t_dp / np.maximum(k, 1), t_dp - t_bwd), t_dp)
    else:
        out = t_dp
    out = where0(t_dp > 0, out)
    return float(out) if scalar else out



def chunk_reduce_window(t_bwd, pp, vpp, interleaved, aligned):
    """The backward the step's bucketed DP gradient reduce hides under (``exposed_dp_comm``'s ``t_bwd``): one
    micro-batch's backward of the stage, or, where the interleaved schedule launches each model chunk's reduce when
    that chunk's last backward ends (``aligned``: ``Stack.align_grad_reduce``), ``t_bwd (1 + (v - 1) pp) / v``.

    Megatron-Core's interleaved 1F1B runs the last micro-batch group's backwards chunk by chunk, the last chunk first,
    pp backwards a chunk (schedules.py ``forward_backward_pipelining_with_interleaving``: ``get_model_chunk_id(...,
    forward=False)`` is ``v - 1 - (id % (pp v)) // pp``), and ``backward_step_helper`` calls ``grad_sync_func[chunk]``
    (the chunk's ``start_grad_sync``) at ``is_last_microbatch_for_model_chunk``, offset by the PP rank so every stage
    launches together; the first stage's reduce of chunk v - 1 so starts with its last backward (t_bwd / v) and has
    the (v - 1) pp chunk backwards after it to hide under. Megatron-LM sets ``grad_sync_func`` whenever the reduce is
    overlapped and ``--align-grad-reduce`` (formerly ``--delay-grad-reduce``) is on, its default (megatron/training/
    training.py; NeMo 1.x's Apex distributed Adam sets ``reduce_overlap_gradients`` under ``delay_grad_reduce``,
    default True, too). Without the interleaved schedule (or at v = 1) the window is the last backward alone."""
    t_bwd = np.asarray(t_bwd, dtype=np.float64)
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    pp = np.asarray(pp, dtype=np.float64)
    rows = np.asarray(aligned, dtype=bool) & np.asarray(interleaved, dtype=bool) & (pp > 1) & (v > 1)
    return np.where(rows, t_bwd * (1.0 + (v - 1.0) * pp) / v, t_bwd)


def aligned_gather_exposed(t_pg, t_fwd, pp, vpp, head=0.0):
    """Exposed seconds of the step's ZeRO-1/2 parameter all-gather (``t_pg``, the stage's) under Megatron-Core's
    aligned per-chunk dispatch (``align_param_gather``) on the interleaved schedule, ``t_fwd`` one micro-batch's
    forward of the stage (its v chunks):

        g + (v - 1) max(g - pp f, 0),   g = t_pg / v,  f = t_fwd / v

    The schedule dispatches chunks 0 and 1 at the step's start and chunk k + 1 when chunk k's first forward starts,
    offset by the PP rank so every stage launches together (megatron/core/pipeline_parallel/schedules.py
    ``forward_backward_pipelining_with_interleaving``: ``param_sync_func[0]`` / ``[1]`` up front, then
    ``forward_step_helper`` at ``is_first_microbatch_for_model_chunk(microbatch_id + pipeline_parallel_rank)``).
    ``param_sync_func`` is the chunk's ``DistributedDataParallel.start_param_sync``, which dispatches all its bucket
    groups at once in bucket order, and the buffer builds its buckets from the chunk's parameters in reverse
    ("to roughly follow backprop order", param_and_grad_buffer.py): the bucket a chunk's first forward waits on
    (``finish_param_sync`` from the forward pre-hook) is the last of its chunk to land, so the first stage waits for
    chunk 0's whole gather g. Each later chunk's gather runs behind the one before it and has the pp forwards of that
    chunk the first stage runs before it (the warm-up's micro-batch group) to hide under; the later stages start
    their first forwards later and wait less. Megatron-LM sets ``param_sync_func`` under ``--overlap-param-gather``
    with ``align_param_gather`` (its CLI default: ``--no-align-param-gather`` turns it off; megatron/training/
    training.py); Megatron-Bridge's ``CommOverlapConfig`` and NeMo 2's ``MegatronCommOverlapCallback`` set it at
    DP > 1, PP > 1 and VP > 1 (``_get_optimizer_overlap_cfgs``).

    ``head``: seconds chunk 0's gather ran before the step's first forward, which it hides under: its first term
    is then ``max(g - head, 0)`` (``optimizer_step_gather_head``, ``overlap_param_gather_with_optimizer_step``)."""
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    g = np.asarray(t_pg, dtype=np.float64) / v
    f = np.asarray(t_fwd, dtype=np.float64) / v
    first = np.maximum(g - np.asarray(head, dtype=np.float64), 0.0)
    return first + (v - 1.0) * np.maximum(g - np.asarray(pp, dtype=np.float64) * f, 0.0)


def optimizer_step_gather_head(t_opt, vpp):
    """Seconds of the optimizer step chunk 0's parameter all-gather hides under with Megatron-Core's
    ``overlap_param_gather_with_optimizer_step``: ``t_opt (v - 1) / v``, the other chunks' share of the step.

    megatron/core/optimizer/__init__.py ``get_megatron_optimizer`` builds two optimizers under the flag, model
    chunk 0's and the rest's (``overlap_param_gather_with_optimizer_step_flags = [True, False]``), and
    optimizer.py ``ChainedOptimizer.step_with_ready_grads`` calls ``model_chunks[0].start_param_sync(
    force_dispatch=True)`` right after the first one's step, so chunk 0's gather (one bucket: training.py
    ``disable_bucketing=(model_chunk_idx > 0) or overlap_param_gather_with_optimizer_step``) runs under the second's;
    DDP ``start_param_sync`` then skips chunk 0 in the schedule's ``param_sync_func`` and its forward pre-hook
    dispatches nothing next (distributed_data_parallel.py). Megatron-LM asserts VPP with it (``validate_args``)."""
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    return np.asarray(t_opt, dtype=np.float64) * (v - 1.0) / v


def unaligned_gather_exposed(t_pg, t_fwd, pp, vpp, buckets, head=None):
    """Exposed seconds on the step's path of the ZeRO-1/2 parameter all-gather (``t_pg``, the stage's) under
    Megatron-Core's UNALIGNED dispatch on the interleaved schedule (``--no-align-param-gather``), ``t_fwd`` one
    micro-batch's forward of the stage (its v chunks), ``buckets`` the stage's gather buckets:

        pp [w0 + (v - 1) g],   g = t_pg / v,  w0 = max(g / K0, g - f),  K0 = buckets / v,  f = t_fwd / v

    Without ``param_sync_func`` nothing dispatches a chunk's gather before its first forward: the forward pre-hook's
    ``finish_param_sync`` dispatches the bucket it needs "if not yet dispatched (e.g., first AG bucket in first
    model chunk if ddp_config.align_param_gather is False)", waits on it and dispatches the chunk's next bucket
    (param_and_grad_buffer.py; ``next_param_gather_bucket_group`` chains a chunk's own buckets only,
    distributed_data_parallel.py). Chunk 0 is bucketed: its first bucket is exposed and the rest hide under its own
    forward (``exposed_dp_comm``); every later chunk is one bucket (megatron/training/training.py, Megatron-Bridge
    and NeMo build DDP with ``disable_bucketing=(model_chunk_idx > 0)``), waited on whole at its first forward.
    Each stage pays its waits at its own first forwards, after micro-batch 0 has arrived, so the fill carries every
    stage's (the 1F1B case's ``Stack.param_gather_stage_lazy``); the interleaved list schedule (``pipeline_timing``
    with these waits on micro-batch 0 of every chunk) grows by exactly pp times one stage's waits.
    ``head`` (``optimizer_step_gather_head``): chunk 0's gather went out under the optimizer step, on every stage at
    once: one wait ``max(g - head, 0)``, not pp."""
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    pp = np.asarray(pp, dtype=np.float64)
    g = np.asarray(t_pg, dtype=np.float64) / v
    later = pp * (v - 1.0) * g
    if head is None:
        return pp * exposed_dp_comm(g, np.asarray(t_fwd, dtype=np.float64) / v,
                                    np.maximum(np.asarray(buckets, dtype=np.float64) / v, 1.0), True) + later
    return np.maximum(g - np.asarray(head, dtype=np.float64), 0.0) + later


def run_microbatches(m, pass_m):
    """Micro-batches one run of the pipeline schedule holds: ``m`` (the step's) where the loop runs the schedule once
    per optimizer step, else ``min(m, pass_m)`` where it runs it once per gradient-accumulation step over
    ``pass_m`` micro-batches (``Stack.pp_pass_microbatches``: NeMo AutoModel's ``pp_pass_microbatches``, torchtitan's
    ``local_batch_size / pipeline_parallel_microbatch_size``). The run is what fills and drains the pipeline
    (``step_composition``) and what torch.distributed.pipelining sizes its receive buffers and in-flight
    micro-batches by (its ``PipelineStage`` is built for the schedule's ``n_microbatches``: memory_stages
    ``recv_buffers``)."""
    if pass_m is None:
        return m
    return np.minimum(np.asarray(m, dtype=np.float64), float(pass_m))


def step_composition(m, pp, vpp, interleaved, t_fwd_mb, t_bwd_mb, t_dp, buckets, overlap,
                     t_optimizer, per_mb_exposed=0.0, pass_m=None, in_stage=0.0, dualpipev=False,
                     aligned_reduce=False, fill_excess=0.0, reduce_busy=0.0) -> dict:
    """One optimizer step from its parts (vectorised), the one composition the analytic model
    and the simulator's analytic check share:

        step = m (t_stage + per-micro-batch exposed comm) + bubble + exposed DP reduce + optimizer

    (Narayanan et al. 2021 §3; ``per_mb_exposed`` is e.g. ZeRO-3's exposed gathers). ``in_stage``: the part of
    ``per_mb_exposed`` that every micro-batch's pass through a stage waits on, the fill's and drain's too, so the
    bubble's stage time holds it: ZeRO-3 / FSDP gathered per micro-batch (each stage's forward pre-hook gathers its
    first unit after the micro-batch's input arrives and its collectives pace that pass: Megatron-FSDP's
    ``_pre_forward_param_unshard`` / ``_post_forward``), what the simulator's list schedule pays by spreading them
    into the stage times (simulate.config ``from_detail``). ``pass_m``:
    micro-batches per run of the schedule where the loop runs it once per gradient-accumulation step
    (``Stack.pp_pass_microbatches``): m / pass_m runs, each filling and draining the pipeline, i.e. m / pass_m bubbles
    of ``pass_m`` micro-batches. ``dualpipev``: the rows (a bool, or one per row) that run DualPipeV, whose bubble is
    ``dualpipev_bubble`` (``in_stage`` split between its forward and backward as the stage times are).
    ``aligned_reduce``: the interleaved schedule reduces chunk by chunk (``chunk_reduce_window``; its window returned
    as ``hides``, the backward the reduce hides under). ``fill_excess``: on the 1F1B schedule (v = 1), how much the
    bubble's pp - 1 pacing-stage times exceed the other stages' own (step_time ``fill_excess``: the fill and drain
    run at those stages' pace), taken off each run's bubble. ``reduce_busy``: seconds of that window the reduce's
    process group is busy with other collectives, taken off it (FSDP's backward gathers where the step's one
    reduce-scatter runs in the last backward: step_time ``compose_step``)."""
    steady = m * (t_fwd_mb + t_bwd_mb + per_mb_exposed)
    t_stage = t_fwd_mb + t_bwd_mb + in_stage
    run_m = run_microbatches(m, pass_m)
    runs = np.asarray(m, dtype=np.float64) / run_m  # (1 without pass_m)
    bubble = runs * bubble_time(pp, run_m, vpp, t_stage, interleaved)
    # the lighter stages' fill and drain: on 1F1B rows (v = 1) with a pipeline, once per run of the schedule
    one_f1b = (~np.asarray(interleaved, dtype=bool) | (np.asarray(vpp) <= 1)) & ~np.asarray(dualpipev, dtype=bool)
    fill = np.where(one_f1b & (np.asarray(pp) > 1), fill_excess, 0.0)
    if np.any(fill):
        bubble = bubble - runs * fill
    if np.any(dualpipev):  # once per run too (until sim55 once a step: a torchtitan pass of 8 at PP4 paid one of 4)
        bubble = np.where(dualpipev, runs * dualpipev_bubble(pp, t_fwd_mb + 0.5 * in_stage, t_bwd_mb + 0.5 * in_stage),
                          bubble)
    hides = np.maximum(chunk_reduce_window(t_bwd_mb, pp, vpp, interleaved, aligned_reduce) - reduce_busy, 0.0)
    exposed = exposed_dp_comm(t_dp, hides, buckets, overlap)
    return dict(steady=steady, bubble=bubble, exposed_dp=exposed, step=steady + bubble + exposed + t_optimizer,
                hides=hides, fill=fill)


def sync_end(bwd_start: float, bwd_end: float, t_dp: float, buckets: int, overlap: bool) -> float:
    """When the DP reduce ends, given the latest start (``bwd_start``) and end (``bwd_end``) of the
    last backward over all replicas (see ``exposed_dp_comm``; equal to ``bwd_end + exposed`` when
    every replica is identical)."""
    if t_dp <= 0:
        return bwd_end
    if not overlap or buckets <= 1:
        return bwd_end + t_dp
    c = t_dp / buckets
    return max(bwd_start + (buckets - 1) * c, bwd_end) + c


# ------------------------------------------------------------------------------------------------ DualPipeV
#: the share of a chunk's backward that is its weight gradient (the W of the zero-bubble split; the rest, I, is the
#: input gradient the previous stage waits for): a GEMM layer's dgrad and wgrad are one GEMM each of the forward's
#: size (Qi et al. 2023, "Zero Bubble Pipeline Parallelism" §2: T_B ~ T_W ~ T_F), so half of the backward
DUALPIPEV_W_SHARE = 0.5


def dualpipev_rank_of(vs: int, pp: int) -> int:
    """The rank that holds virtual stage ``vs`` of a V-shaped pipeline of 2 pp stages (torch.distributed.pipelining
    ``generate_stage_to_rank_mapping(pp, 2 pp, style="v")``; torchtitan ``pipeline_module_split`` ``stage_v_pairs``):
    rank r holds stages r and 2 pp - 1 - r, so rank 0 holds the first and the last (the embedding and the head)."""
    return vs if vs < pp else 2 * pp - 1 - vs


def dualpipev_orders(pp: int, m: int) -> list[list[tuple]]:
    """Each rank's operations in one step of torch.distributed.pipelining ``ScheduleDualPipeV``
    (``_calculate_single_rank_operations``, the 8 steps of deepseek-ai/DualPipe's dualpipev.py), as
    ``(kind, micro-batch, virtual stage)``: F forward, B full backward, I input-gradient backward (its weight
    gradient W queued and run later, first in first out), and ``("X", (mb_f, vs_f), (mb_b, vs_b))`` a forward and a
    full backward of the rank's two stages run as one overlapped action (``OVERLAP_F_B``). Rank r's stages are
    s0 = r and s1 = 2 pp - 1 - r (``dualpipev_rank_of``):

        1  2 (pp - r - 1) x F s0          2  (r + 1) x (F s0, F s1)      3  (pp - r - 1) x (I s1, W, F s1)
        4  m - 2 pp + r + 1 x (X(F s0, B s1), X(F s1, B s0))  (the last rank's first pair not overlapped)
        5  (pp - r - 1) x (B s1, X(F s1, B s0))               6  (r + 1) x (B|I s1, B|I s0), the zero-bubble split
                                                                from the middle on
        7  (pp - r - 1) x (W, B|I s0)                          8  (r + 1) x W

    torch raises unless m >= 2 pp (stack_rules "dualpipev-m")."""
    if m < 2 * pp:
        raise ValueError(f"DualPipeV needs at least 2 pp = {2 * pp} micro-batches, got {m}")
    orders = []
    for r in range(pp):
        s0, s1 = r, 2 * pp - 1 - r
        nxt = {}  # (stage, "F" | "I") -> next micro-batch (torch's counters; a full backward counts as an I)
        wq: list[tuple[int, int]] = []
        ops: list[tuple] = []

        def take(stage, kind):
            k = (stage, kind)
            mb = nxt.get(k, 0)
            nxt[k] = mb + 1
            return mb

        def fwd(stage):
            ops.append(("F", take(stage, "F"), stage))

        def bwd(stage, split=False):
            mb = take(stage, "I")
            ops.append(("I" if split else "B", mb, stage))
            if split:
                wq.append((mb, stage))

        def weight():
            if wq:
                mb, stage = wq.pop(0)
                ops.append(("W", mb, stage))

        def pair(fs, bs):
            ops.append(("X", (take(fs, "F"), fs), (take(bs, "I"), bs)))

        for _ in range((pp - r - 1) * 2):
            fwd(s0)
        for _ in range(r + 1):
            fwd(s0)
            fwd(s1)
        for _ in range(pp - r - 1):
            bwd(s1, True)
            weight()
            fwd(s1)
        for i in range(m - 2 * pp + r + 1):
            if i == 0 and r == pp - 1:  # "we don't overlap these two chunks to further reduce bubble size"
                fwd(s0)
                bwd(s1)
            else:
                pair(s0, s1)
            pair(s1, s0)
        for _ in range(pp - r - 1):
            bwd(s1)
            pair(s1, s0)
        zb = False
        for i in range(r + 1):
            if i == (r + 1) // 2 and r % 2 == 1:
                zb = True
            bwd(s1, zb)
            if i == (r + 1) // 2 and r % 2 == 0:
                zb = True
            bwd(s0, zb)
        for _ in range(pp - r - 1):
            weight()
            bwd(s0, zb)
        for _ in range(r + 1):
            weight()
        orders.append(ops)
    return orders


def _dualpipev_schedule(pp, m, t_f, t_b, t_p2p, t_f0, record=None) -> PipelineTiming:
    """List scheduling of ``dualpipev_orders`` (the module docstring's recurrence): a chunk is half a rank's layers,
    so a forward takes t_f / 2, a full backward t_b / 2, split into I and W by ``DUALPIPEV_W_SHARE``; an overlapped
    pair ("X") starts when both its inputs are there and takes the sum of its two (the EP all-to-all it hides is
    taken off the stage times before, as the combined-1F1B overlap is: step_time ``transformer_stage``). A send
    (``t_p2p``) is paid between stages on different ranks only: stage pp - 1 hands its output to stage pp on the
    same rank (the bottom of the V). ``t_f0``: the forward of stage 0 (the first rank's first chunk)."""
    nvs = 2 * pp
    f, b = t_f / 2, t_b / 2
    w = b * DUALPIPEV_W_SHARE
    end: dict[tuple[str, int, int], float] = {}  # ("F" | "B", mb, vs) -> end; "B" = the input gradient is out
    orders = dualpipev_orders(pp, m)
    clock = [0.0] * pp
    first_f = [0.0] * m
    rank_of = [dualpipev_rank_of(v, pp) for v in range(nvs)]

    def ready(kind, mb, vs):
        """When the input of (kind, mb, vs) is on its rank, or None if its producer has not run."""
        if kind == "F":
            if vs == 0:
                return 0.0
            e = end.get(("F", mb, vs - 1))
            return None if e is None else e + (t_p2p if rank_of[vs - 1] != rank_of[vs] else 0.0)
        if vs == nvs - 1:
            return end.get(("F", mb, vs))
        e = end.get(("B", mb, vs + 1))
        return None if e is None else e + (t_p2p if rank_of[vs + 1] != rank_of[vs] else 0.0)

    def dur(kind, vs):
        return {"F": t_f0 / 2 if vs == 0 else f, "B": b, "I": b - w, "W": w}[kind]

    def run_op(r, op) -> bool:
        parts = [("F",) + op[1], ("B",) + op[2]] if op[0] == "X" else [op]
        deps = [0.0 if k == "W" else ready("F" if k == "F" else "B", mb, vs) for k, mb, vs in parts]
        if any(d is None for d in deps):
            return False
        start = max([clock[r]] + deps)
        t = start
        for (k, mb, vs) in parts:
            t += dur(k, vs)
            if k != "W" and op[0] != "X":
                end[("F" if k == "F" else "B", mb, vs)] = t
            if k == "F" and vs == 0:
                first_f[mb] = start
            if record is not None:
                record[r].append(("F" if k == "F" else "B" if k in ("B", "I") else "W", mb, start, t))
        if op[0] == "X":  # the pair's outputs are there when the pair ends
            for (k, mb, vs) in parts:
                end[("F" if k == "F" else "B", mb, vs)] = t
        clock[r] = t
        return True

    _sweep(orders, run_op, f"DualPipeV deadlocked (pp={pp}, m={m})")
    return PipelineTiming(max(clock), tuple(first_f), m * (t_f + t_b))


@lru_cache(maxsize=1024)
def dualpipev_inflight(pp: int, m: int) -> tuple[float, ...]:
    """Per rank, the most micro-batches' activations DualPipeV holds at once, in units of the rank's layers (two
    chunks of half of them each): a chunk's forward saves them, its full backward (B) or its weight gradient (W, after
    the input gradient I) frees them (torch.distributed.pipelining ``_PipelineStageBase.backward_weight_one_chunk``
    runs W from the I's saved graph), counted along ``dualpipev_orders``. Rank 0 holds 2 pp chunks after its warm-up
    plus one: pp + 1/2, DeepSeek-V3's "PP + 1" for its PP = 2 pp stages (report Table 2, deepseek-ai/DualPipe
    README), against 1F1B's pp on rank 0."""
    out = []
    for ops in dualpipev_orders(pp, m):
        live = peak = 0
        for op in ops:
            parts = [("F",) + op[1], ("B",) + op[2]] if op[0] == "X" else [op]
            for kind, _, _ in parts:
                live += 1 if kind == "F" else -1 if kind in ("B", "W") else 0
                peak = max(peak, live)
        out.append(peak / 2)
    return tuple(out)
