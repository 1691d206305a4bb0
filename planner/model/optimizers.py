"""Muon (``training.optimizer: muon``): which parameters it updates, the state it keeps, the
Newton-Schulz work of its step and how each stack distributes that work.

The optimizer (Keller Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024,
kellerjordan.github.io/posts/muon; Liu et al. 2025, "Muon is Scalable for LLM Training", arXiv
2502.16982, §2): each 2-D hidden weight matrix keeps one momentum buffer, and its update is the
momentum orthogonalised by ``NS_STEPS`` quintic Newton-Schulz iterations. For an s x l matrix
(s <= l: the implementations transpose so that s is the short side) one iteration is

    A = X X^T (2 s^2 l FLOPs);  B = b A + c A A (2 s^3);  X = a X + B X (2 s^2 l)

so ``ns_flops`` = steps (4 s^2 l + 2 s^3) (torch 2.13 ``torch/optim/_muon.py``
``_zeropower_via_newtonschulz``; Emerging-Optimizers ``muon_utils.newton_schulz_step``; torchtitan
0.3.0 ``flex_shard/dist_muon.py`` ``_estimate_muon_compute_cost`` counts the same "two s^2 l matmuls
and one s^3"), run in bf16 (torch casts to bf16; Megatron's ``muon_fp32_matmul_prec="medium"`` runs
``newton_schulz`` on a bf16 copy) at the GEMM rate of the shape (``Efficiency.gemm_time``).

Every other parameter -- embeddings, the output head, norms, biases, any 1-D tensor -- is updated
with AdamW (two moments): torch's Muon refuses non-2-D parameters and its docs send "bias, and
embedding" to AdamW; Megatron-Core 0.16.1 ``megatron/core/optimizer/muon.py``
``get_megatron_muon_optimizer`` puts a parameter in Muon iff it is 2-D and not
``is_embedding_or_output_parameter``, the rest in the chained Adam; Moonlight §2.2 likewise.
The router weight (E x h) and a shared-expert gate (1 x h) are 2-D hidden matrices: Muon.

State (``memory.OPTIMIZER_STATE``): the Muon matrices keep one fp32 momentum buffer (4 bytes:
torch ``state["momentum_buffer"] = zeros_like(p.grad)``; Megatron ``muon_init_state_fn``
``zeros_like(p.data)`` of the fp32 main parameter), the others AdamW's two fp32 moments (8 bytes);
both keep the fp32 master copy of the precision convention. ``class_shares`` gives the share of
each parameter class (dense layer, MoE layer less its experts, routed expert) that is Muon's; a pipeline
stage's Muon matrices are those of the blocks it holds (``block_matrices``: its dense and MoE layers, hybrid
blocks and MTP modules, counted on the split the plan launches by planner.model.memory_stages ``stage_split``), so a
stage with the embedding, the head, the MTP modules or DeepSeek's dense first layers has its own share.

How the stacks run it (``IMPLEMENTATIONS``, keyed by the runtime of planner.model.stack_rules):

* Megatron-Core (Megatron-Bridge's ``dist_muon``, Kimi-K2 recipe): ``--use-distributed-optimizer``
  is refused with Muon ("muon with dist optimizer is not supported", muon.py), so gradients stay
  DDP's and are **all-reduced**, not reduce-scattered. Data-parallel sharding is
  ``LayerWiseDistributedOptimizer`` (layer_wise_optimizer.py 0.16.1): whole parameters are dealt
  to the dp x cp ranks (experts to the expert-data-parallel ranks) ping-pong by size, each rank keeps
  master and state only for its own (ZeRO-1's memory) and runs Newton-Schulz only on them, then
  ``allgather_params`` all-gathers the updated 16-bit parameters inside ``step()`` -- not overlapped
  with the next forward (the Kimi-K2 recipe: ``overlap_param_gather = False  # Muon needs this to be
  False``). Without it (ZeRO-0) every rank orthogonalises every matrix. Tensor parallelism:
  ``muon_tp_mode = "blockwise"`` (OptimizerConfig default) orthogonalises each rank's own shard, no
  communication (``newton_schulz_tp`` with ``partition_dim=None``); ``linear_fc1`` holds gate and
  up as one [2f, h] matrix; ``linear_qkv`` is split into q, k, v (``muon_split_qkv=True``); each
  expert of the grouped MLP is its own parameter (``weight{i}``): one Newton-Schulz per expert matrix.
  Megatron-FSDP (ZeRO-2/3) and fp16 are refused (stack_rules).
* torchtitan 0.3.0 ``DistMuon`` (``torchtitan/distributed/flex_shard/dist_muon.py``): parameters
  stay FSDP2-sharded (ZeRO-2/3; it requires DTensor parameters), momentum sharded with them; before
  the update each dense matrix is moved whole to one owner rank (``Owned`` compute layout, owners
  balanced by Newton-Schulz cost) by a packed all-to-all of the fp32 shards and the result moved
  back by a second one (``_optimizer_reshard_runtime._execute_packed_all_to_all``); routed experts
  (``Shard(0)`` over the expert dimension) are orthogonalised where they lie. w1, w2, w3 are
  separate matrices. TP and PP are refused (stack_rules, its TODOs #3353 and #4102).

Other stacks are refused (``check_stack``): the Hugging Face code paths, llm-foundry, the legacy
Megatron-LM / Megatron-DeepSpeed and metaseq. (DeepSpeed has shipped a Muon of its own for ZeRO-1/2
since 2025, deepspeedai/DeepSpeed blogs/muon-optimizer, applied per parameter in ``get_flat_partition``;
it is not modelled.) Megatron-LM's later layer-wise optimizer (dev branch, 2026) also overlaps the
parameter all-gather with the forward; 0.16.1, which the Kimi-K2 rows ran, does not.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce

import numpy as np

from planner.model.stack_kernels import fp8_param_gather_on
from planner.spec import ModelSpec
from planner.spec.params import count_params, layer_kinds, mtp_modules
from planner.spec.shapes import attention_weights, latent_weights, mamba_weights, mlp_weights, shared_expert_width

#: quintic Newton-Schulz iterations (torch ``DEFAULT_NS_STEPS``; Megatron ``muon_num_ns_steps``)
NS_STEPS = 5
#: elementwise HBM bytes per Muon-updated parameter besides the Newton-Schulz GEMMs (torch 2.13
#: ``_single_tensor_muon`` on an fp32 master with fp32 gradient): momentum ``lerp_`` (read buffer and
#: gradient, write buffer: 12), the bf16 copy of the update (read 4, write 2), its norm and the
#: division by it (read 2; read 2, write 2), the scaled update (read 2, write 2), decoupled weight
#: decay ``mul_`` (read 4, write 4) and ``add_`` (read 4 + 2, write 4), the 16-bit model copy
#: (write 2)
MUON_ELEMENTWISE_BYTES = 12 + 6 + 2 + 4 + 4 + 8 + 10 + 2
#: eager ops per matrix outside the Newton-Schulz GEMMs (the list above), each a launch
MUON_OPS_PER_MATRIX = 9


@dataclass(frozen=True)
class Matrix:
    """A 2-D hidden weight: ``rows`` x ``cols`` (out x in), which dimension tensor parallelism
    splits (0: column-parallel, 1: row-parallel, None: replicated on every TP rank) and how many of
    it one layer of its class holds (``per_layer``: 1, or under ``hybrid_pattern`` the share of the
    non-MoE layers whose mixer it belongs to)."""
    rows: int
    cols: int
    tp_dim: int | None
    per_layer: float = 1.0

    @property
    def numel(self) -> float:
        return self.rows * self.cols * self.per_layer


#: the (out x in) weight dimension each TP split of planner.spec.shapes ``Weight`` divides: column-parallel the
#: output rows, row-parallel the input columns, replicated none
TP_DIM = {"tp": 0, "row": 1, "none": None}


def _matrices(weights) -> tuple[Matrix, ...]:
    """planner.spec.shapes weights as Muon's (out x in) matrices with their TP split."""
    return tuple(Matrix(w.n, w.k, TP_DIM[w.shard]) for w in weights)


def _mlp(m: ModelSpec, f: int, fused_fc1: bool, io: int | None = None) -> tuple[Matrix, ...]:
    """An MLP's matrices (planner.spec.shapes ``mlp_weights``, ``io`` its width in and out); ``fused_fc1``: a
    gated MLP's w1 and w3 as one 2f x io matrix (Megatron-Core's linear_fc1)."""
    *up, down = _matrices(mlp_weights(m, f, io=io))
    if fused_fc1 and len(up) > 1:
        up = [Matrix(sum(x.rows for x in up), up[0].cols, 0)]
    return (*up, down)


def _mixers(m: ModelSpec, fused_fc1: bool) -> dict[str, tuple[Matrix, ...]]:
    """The Muon matrices of each non-MoE mixer (vocab.HYBRID_LAYER symbols): "*" attention, "-" the dense
    MLP, "M" the Mamba-2 mixer's in_proj and out_proj (its conv1d weight is 3-D, A_log / D / dt_bias and
    the norm 1-D: AdamW's, as ``get_megatron_muon_optimizer`` splits them)."""
    return {"*": _matrices(attention_weights(m)), "-": _mlp(m, m.dense_width, fused_fc1),
            "M": _matrices(mamba_weights(m))}


def layer_matrices(m: ModelSpec, fused_fc1: bool = True) -> dict[str, tuple[Matrix, ...]]:
    """The Muon matrices of one layer of each parameter class of planner.spec.params ``ParamCount``:

    * ``dense_layer``: a non-MoE layer -- attention and the dense MLP; under ``hybrid_pattern`` the mean
      non-MoE block (``ParamCount.dense_layer`` is that mean): each mixer's matrices weighted by the share of
      the non-MoE blocks that are of its kind;
    * ``moe_layer``: an MoE layer less its routed experts -- the router (E x h, replicated on every TP rank),
      LatentMoE's latent projections (``latent_weights``, replicated), the shared experts (width ``hidden``)
      and their gate (1 x h), and the layer's attention except under ``hybrid_pattern``, where the "E" block
      holds no attention (its attention is a "*" block of its own, planner.spec.params ``count_params``);
    * ``expert``: one routed expert, an MLP of width ``ffn_hidden`` reading and writing ``ModelSpec.expert_io``
      (LatentMoE's latent width, else ``hidden``).

    Shapes and TP splits are planner.spec.shapes' (the ones planner.spec.params counts), q, k, v apart as
    Megatron's ``muon_split_qkv`` updates them; MLA's down-projections are replicated over TP (Megatron-Core
    ``linear_q_down_proj`` / ``linear_kv_down_proj``, parallel_mode "duplicated")."""
    mix = _mixers(m, fused_fc1)
    n_dense = m.layers - m.moe_layers
    if m.hybrid:
        dense = tuple(replace(x, per_layer=m.kind_layers(k) / n_dense) for k, ms in mix.items() if m.kind_layers(k)
                      for x in ms)
    else:
        dense = mix["*"] + mix["-"]
    out = {"dense_layer": dense, "moe_layer": (), "expert": ()}
    if m.moe is not None:
        e = m.moe
        other = () if m.hybrid else mix["*"]
        other += (Matrix(e.experts, m.hidden, None),) + _matrices(latent_weights(m))
        if e.shared_experts:
            other += _mlp(m, shared_expert_width(m), fused_fc1)
            if e.shared_expert_gate:
                other += (Matrix(1, m.hidden, None),)
        out["moe_layer"] = other
        out["expert"] = _mlp(m, m.ffn_hidden, fused_fc1, m.expert_io)
    return out


def _numel(ms) -> float:
    return float(sum(x.numel for x in ms))


def class_parameters(m: ModelSpec) -> dict[str, float]:
    """Parameters of one layer of each class of ``layer_matrices``, all tensors (planner.spec.params):
    a (mean) non-MoE layer, an MoE layer less its routed experts, one routed expert."""
    pc = count_params(m)
    experts = m.moe.experts * pc.expert if m.moe is not None else 0
    return {"dense_layer": float(pc.dense_layer), "moe_layer": float(pc.moe_layer - experts),
            "expert": float(pc.expert)}


def class_shares(m: ModelSpec) -> dict[str, float]:
    """Share of each parameter class (``layer_matrices``) that Muon updates, the rest AdamW's (norms,
    biases, Mamba's conv1d and 1-D state parameters); 0 for a class the model lacks. Embeddings and the
    head: 0.

    Until 2026-12-04 the routed experts' matrices were read at ``hidden`` instead of LatentMoE's
    ``expert_io``, the latent projections were missing, a hybrid's "E" block was credited with an
    attention it does not hold and its non-MoE blocks were priced as attention + MLP whatever their kind:
    Nemotron 3 Super got shares expert 4.0, moe_layer 1.50, dense_layer 0.59; Nemotron-H 8B dense_layer 1.61."""
    n = class_parameters(m)
    return {k: _numel(ms) / n[k] if n[k] else 0.0 for k, ms in layer_matrices(m).items()}


def block_matrices(m: ModelSpec, fused_fc1: bool = True) -> dict[str, tuple[Matrix, ...]]:
    """The Muon matrices of one block of each kind a pipeline stage holds (planner.model.memory_stages ``StageSplit``):

    * the layer kinds of planner.spec.params ``layer_kinds``: "dense" (attention + dense MLP) and "moe" (an MoE
      layer less its routed experts: ``layer_matrices`` "moe_layer"), or a hybrid's "M", "*", "-" mixers
      (``_mixers``) and its "E" block;
    * "mtp": one multi-token-prediction module less its routed experts (planner.spec.params ``mtp_params``):
      ``eh_proj``, h x 2h, column-parallel (Megatron-Core gpt_layer_specs.py ``get_gpt_mtp_block_spec``:
      ``eh_proj=TEColumnParallelLinear``), and its transformer block -- an MoE layer where the model has them,
      else the (mean) non-MoE layer; a hybrid's "*E" pair. Megatron-Core marks only the word embedding and the
      output layer ``is_embedding_or_output_parameter`` (LanguageModule ``setup_embeddings_and_output_layer``),
      which the MTP modules share rather than own, so every 2-D weight of a module is Muon's
      (``get_megatron_muon_optimizer``) and only its norms (enorm, hnorm, the block's) are AdamW's. Until
      2026-12-04 the MTP modules' dense weights counted as AdamW's (their routed experts were Muon's already):
      DeepSeek-V3's module holds 0.336B of them (eh_proj 0.103B, its MoE layer's MLA, router and shared
      expert), 8 B of state a parameter instead of 4;
    * "expert": one routed expert (``layer_matrices``)."""
    lm, mix = layer_matrices(m, fused_fc1), _mixers(m, fused_fc1)
    out = {k: mix[k] for k in "M*-"} if m.hybrid else {"dense": mix["*"] + mix["-"]}
    if m.moe is not None:
        out["E" if m.hybrid else "moe"] = lm["moe_layer"]
    if m.mtp_layers:
        eh_proj = (Matrix(m.hidden, 2 * m.hidden, 0),)
        block = lm["moe_layer"] if m.moe is not None else lm["dense_layer"]
        out["mtp"] = eh_proj + (mix["*"] if m.hybrid else ()) + block
    out["expert"] = lm["expert"]
    return out


def stage_expert_blocks(m: ModelSpec, blocks: dict):
    """Blocks of a stage (``block_matrices`` kinds -> counts) that hold the model's routed experts: its MoE
    layers and, on an MoE model, its MTP modules (each one MoE block)."""
    if m.moe is None:
        return 0.0
    return blocks.get("E" if m.hybrid else "moe", 0.0) + blocks.get("mtp", 0.0)


def stage_muon_params(m: ModelSpec, blocks: dict):
    """Muon-updated (dense, expert) parameters of a pipeline stage holding ``blocks`` (kind -> count, arrays welcome:
    memory_stages ``StageSplit``; ``whole_model_blocks`` for every layer): the matrices of ``block_matrices`` per block,
    each MoE block's routed experts (embeddings, head and final norm are AdamW's)."""
    mats = block_matrices(m)
    dense = sum((np.asarray(n, dtype=np.float64) * _numel(mats[k]) for k, n in blocks.items()), np.float64(0.0))
    experts = m.moe.experts * _numel(mats["expert"]) if m.moe is not None else 0.0
    return dense, np.asarray(stage_expert_blocks(m, blocks), dtype=np.float64) * experts


def whole_model_blocks(m: ModelSpec) -> dict[str, float]:
    """The blocks of the whole model (every layer, and the MTP modules), as a one-stage ``StageSplit`` holds."""
    kinds = layer_kinds(m)
    out = {k: float(kinds.count(k)) for k in sorted(set(kinds))}
    if m.mtp_layers:
        out["mtp"] = float(mtp_modules(m))
    return out


def muon_fractions(m: ModelSpec, dense, expert, blocks: dict):
    """(dense, expert) shares of a stage's parameters that Muon updates, for ``dense`` / ``expert`` parameters
    (arrays, memory_stages ``StageSplit``) of a stage holding ``blocks``. Expert: ``class_shares``' exactly (a stage's
    expert parameters are routed experts, its own MoE layers' and the MTP modules', whatever their number).
    Dense: the stage's own blocks' Muon parameters (``stage_muon_params``) over its dense parameters, which also
    hold the AdamW ends (embedding, head, final norm). Until 2026-12-04 the numerator was the fullest stage's layer
    count at the model's mean mix of layer kinds, capped at 1, and left out the MTP modules: DeepSeek-V3 on PP16
    got dense shares 0.478 on stage 0 (the embedding and two dense layers; its blocks give 0.557) and 0.510 on the
    last (three MoE layers, the MTP module and the head; 0.528), at ZeRO-0 19.67 and 23.44 GiB of optimizer state
    per GPU (TP1 EP64) where they hold 19.05 and 23.32."""
    md, _ = stage_muon_params(m, blocks)
    dense = np.asarray(dense, dtype=np.float64)
    expert = np.asarray(expert, dtype=np.float64)
    fd = np.divide(md, dense, out=np.zeros_like(md + dense), where=dense > 0)
    fe = np.where(expert > 0, class_shares(m)["expert"], 0.0)
    return fd, fe


def state_bytes(m: ModelSpec, dense, expert, blocks: dict, muon_b: float, adam_b: float):
    """Optimizer-state bytes per parameter of a stage's (dense, expert) parameters (arrays) holding ``blocks``:
    Muon's ``muon_b`` on its matrices (``muon_fractions``), AdamW's ``adam_b`` on the rest."""
    fd, fe = muon_fractions(m, dense, expert, blocks)
    return fd * muon_b + (1 - fd) * adam_b, fe * muon_b + (1 - fe) * adam_b


def ns_flops(rows, cols, steps: int = NS_STEPS):
    """FLOPs of ``steps`` quintic Newton-Schulz iterations on a rows x cols matrix (module docstring)."""
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    s, l_ = np.minimum(rows, cols), np.maximum(rows, cols)
    return steps * (4.0 * s * s * l_ + 2.0 * s ** 3)


def ns_time(eff, rows, cols, peak, hbm_bw, steps: int = NS_STEPS):
    """GPU seconds of one matrix's Newton-Schulz at the shape's bf16 GEMM rate (vectorised):
    per iteration X X^T (s x s over l), A A (s x s over s), B X (s x l over s)."""
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    s, l_ = np.minimum(rows, cols), np.maximum(rows, cols)
    one = (eff.gemm_time(s, s, l_, peak, hbm_bw) + eff.gemm_time(s, s, s, peak, hbm_bw)
           + eff.gemm_time(s, l_, s, peak, hbm_bw))
    return steps * one


@dataclass(frozen=True)
class MuonImpl:
    """How a stack runs Muon (module docstring)."""
    source: str
    #: gate and up projections as one [2f, h] matrix (Megatron linear_fc1) or two (torchtitan w1, w3)
    fused_fc1: bool
    #: the gradient reduce is an all-reduce at every ZeRO stage it runs (Megatron's DDP under Muon)
    grad_all_reduce: bool
    #: the updated parameters' all-gather runs inside the optimizer step (no overlap with the forward)
    sync_param_gather: bool
    #: all-to-alls of the fp32 dense Muon shards per step (torchtitan: to the owner and back)
    redistributions: int
    #: ZeRO stage from which Newton-Schulz is split over the data-parallel ranks
    ns_split_zero: int


IMPLEMENTATIONS = {
    "megatron": MuonImpl("Megatron-Core 0.16.1 megatron/core/optimizer/muon.py, layer_wise_optimizer.py",
                         fused_fc1=True, grad_all_reduce=True, sync_param_gather=True, redistributions=0,
                         ns_split_zero=1),
    "torchtitan": MuonImpl("torchtitan 0.3.0 torchtitan/distributed/flex_shard/dist_muon.py (DistMuon)",
                           fused_fc1=False, grad_all_reduce=False, sync_param_gather=False, redistributions=2,
                           ns_split_zero=2),
}


def implementation(run: str | None) -> MuonImpl | None:
    """The Muon implementation of a runtime (planner.model.stack_rules.RUNTIMES), None if it has none."""
    return IMPLEMENTATIONS.get(run)


def stage_ns_time(m: ModelSpec, impl: MuonImpl, eff, peak, hbm_bw, blocks: dict, tp, etp, ep, dps, edps, zero,
                  launch_s):
    """Seconds of the Newton-Schulz work of the busiest rank of a stage holding ``blocks`` (memory_stages ``StageSplit``;
    vectorised over layouts): each block's matrices (``block_matrices``: its MTP modules' too).
    Matrices are orthogonalised per TP shard (Megatron blockwise); the routed experts of the stage's MoE blocks
    are spread over etp x ep; with ZeRO >= ``impl.ns_split_zero`` each data-parallel rank takes an
    equal share of whole matrices (dense over dp x cp, experts over the expert-data-parallel group),
    but no less than the largest one the stage holds. Each matrix also pays its eager launches (host-bound when
    its GPU work is shorter). Until 2026-12-04 a stage was its layer count at the model's mean mix, without the MTP
    module, and floored by the largest matrix of any kind: DeepSeek-V3's last PP16 stage (three MoE layers and the
    MTP module, TP1 EP64 on H100 x 1024, ZeRO-1) paid the dense layers' fused 36864 x 7168 fc1 it does not hold,
    a 0.187 s optimizer step where its own matrices give 0.156 s (ZeRO-0: 0.355 s, now 0.370 s with the MTP
    module's experts and eh_proj)."""
    mats = block_matrices(m, impl.fused_fc1)
    launches = (3 * NS_STEPS + MUON_OPS_PER_MATRIX) * launch_s

    def per_matrix(x: Matrix, split):
        r = x.rows / split if x.tp_dim == 0 else x.rows
        c = x.cols / split if x.tp_dim == 1 else x.cols
        return np.maximum(ns_time(eff, np.maximum(r, 1.0), np.maximum(c, 1.0), peak, hbm_bw), launches)

    def total(ms, split, count):
        ts = [per_matrix(x, split) for x in ms]
        return sum((t * x.per_layer for t, x in zip(ts, ms)), 0.0) * count, (reduce(np.maximum, ts) if ts else 0.0)

    per_kind = [total(mats[k], tp, np.asarray(n, dtype=np.float64)) for k, n in blocks.items()]
    dense = sum((t for t, _ in per_kind), 0.0)
    # the largest matrix of a kind the stage holds
    big_d = reduce(np.maximum, (big * (np.asarray(n) > 0) for (_, big), n in zip(per_kind, blocks.values())), 0.0)
    experts = (m.moe.experts / (etp * ep)) if m.moe is not None else 0.0
    e_tot, big_e = total(mats["expert"], etp, np.asarray(stage_expert_blocks(m, blocks), dtype=np.float64) * experts)
    split = np.asarray(zero) >= impl.ns_split_zero
    dense = np.where(split, np.maximum(dense / dps, big_d * (dense > 0)), dense)
    expert = np.where(split, np.maximum(e_tot / edps, big_e * (e_tot > 0)), e_tot)
    return dense + expert


def impl_for(stack, t) -> MuonImpl | None:
    """The Muon implementation job ``t`` runs on ``stack``: None unless ``training.optimizer`` is
    muon (a stack without one is refused before: ``check_stack``)."""
    from planner.model.stack_rules import runtime

    return implementation(runtime(stack)) if getattr(t, "optimizer", None) == "muon" else None


@dataclass(frozen=True)
class Builds:
    """The optimizers a runtime's code builds: ``launch`` maps each ``training.optimizer`` name it builds to the
    launch arguments that select it (empty: the launcher's default), ``source`` says where the code builds them."""
    launch: dict
    source: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.launch)


_MCORE_BUILD = ("Megatron-Core megatron/core/optimizer/__init__.py _get_megatron_optimizer_based_on_param_groups: "
                "config.optimizer 'adam' (TE FusedAdam, adam_w_mode=decoupled_weight_decay, default True), 'lion' "
                "(emerging_optimizers >= 0.2 Lion: Megatron-LM main after 0.16.1, commit 0044db1f, 2026, whose "
                "arguments.py --optimizer choices are adam, sgd, muon, dist_muon, lion, soap, adaptive_muon), 'sgd' "
                "(momentum=--sgd-momentum, default 0.9), else 'optimizer is not supported'; muon / dist_muon in muon.py")

#: the optimizers each runtime's code builds, where it builds a fixed few (planner.model.stack_rules ``rules_runtime``
#: -> ``Builds``); a runtime not here takes the job's optimizer: the HF Trainer's ``optim`` (transformers
#: training_args.py ``OptimizerNames``: adamw_torch, adamw_bnb_8bit, lion_32bit, adafactor, sgd), DeepSpeed any
#: client torch optimizer beside its own (Adam, AdamW, Lamb, OneBitAdam, Lion), NeMo AutoModel any
#: ``optimizer._target_`` class, PyTorch DDP the script's. Megatron's "adam" is AdamW (decoupled weight decay) and at
#: weight decay 0 Adam: both names launch it. State bytes per parameter: planner.model.memory ``OPTIMIZER_STATE``
#: (Lion's one fp32 ``exp_avg``, SGD's ``momentum_buffer`` only with momentum)
RUNTIME_OPTIMIZERS = {
    "megatron": Builds({"adamw": (), "adam": (), "sgd": ("--optimizer", "sgd", "--sgd-momentum", "0.0"),
                        "sgd_momentum": ("--optimizer", "sgd", "--sgd-momentum", "0.9"),
                        "lion": ("--optimizer", "lion"),
                        # dist_muon at ZeRO-1 (planner.present.emit megatron_args)
                        "muon": ("--optimizer", "muon")}, _MCORE_BUILD),
    "megatron-lm": Builds({"adamw": (), "adam": (), "sgd": ("--optimizer", "sgd", "--sgd-momentum", "0.0"),
                           "sgd_momentum": ("--optimizer", "sgd", "--sgd-momentum", "0.9")},
                          "Megatron-LM 2021-22 megatron/arguments.py --optimizer choices ['adam', 'sgd'] "
                          "(--sgd-momentum default 0.9); megatron/optimizer/__init__.py get_megatron_optimizer builds "
                          "apex FusedAdam or SGD"),
    "megatron-deepspeed": Builds({"adamw": (), "adam": ()},
                                 "microsoft/Megatron-DeepSpeed megatron/optimizer/__init__.py get_megatron_optimizer: "
                                 "torch.optim.AdamW whatever --optimizer says (its adam / sgd branch is commented "
                                 "out; --cpu-optimizer asserts 'CPU offloading is for Adam'), handed to "
                                 "deepspeed.initialize"),
    # torchtitan 0.3 sets the optimizer in the config function's OptimizersContainer, no flag (emit's TITAN_CONFIG
    # note names DistMuon); Adam and AdamW keep the same state and step
    "torchtitan": Builds({"adamw": (), "adam": (), "muon": ()},
                         "torchtitan/components/optimizer.py build_optimizers: optimizer_classes = {Adam, AdamW}, any "
                         "other name raises NotImplementedError('Optimizer ... not added'); Muon from "
                         "experiments/dion_optimizer"),
    # the YAML key optimizer.name
    "composer": Builds({"adamw": ("optimizer.name", "decoupled_adamw"), "lion": ("optimizer.name", "decoupled_lionw")},
                       "llm-foundry llmfoundry/optim/__init__.py: optimizers.register decoupled_adamw, "
                       "decoupled_lionw, clip_lion, adalr_lion (and in later releases adamw, muon); build_optimizer "
                       "looks the name up in that registry"),
    # DLE's BERT builds LAMB only, which training.optimizer has no name for: adamw prices it (the same fp32 master and
    # m / v state; LAMB's extra per-tensor norm pass is < 0.1% of its step, benchmarks/validate.py BERT_DLE_STACK)
    "dle-bert": Builds({"adamw": ()},
                       "DLE PyTorch/LanguageModeling/BERT run_pretraining.py: optimizer = FusedLAMBAMP(...), no other; "
                       "LAMB is priced as adamw, its fp32 master and m / v state"),
}


def builds(stack) -> Builds | None:
    """What the code of ``stack`` (a Stack or its name) builds, None where it takes any optimizer."""
    from planner.model.stack_rules import rules_runtime

    return RUNTIME_OPTIMIZERS.get(rules_runtime(stack))


def builds_optimizer(stack, opt: str | None) -> bool:
    """``stack``'s code builds optimizer ``opt`` (``RUNTIME_OPTIMIZERS``; Muon also needs an ``IMPLEMENTATIONS``
    row)."""
    from planner.model.stack_rules import runtime

    b = builds(stack)
    if opt == "muon" and implementation(runtime(stack)) is None:
        return False
    return b is None or opt is None or opt in b.names


def launch_args(run: str, opt: str) -> list[str]:
    """The launch arguments runtime ``run``'s launcher takes for optimizer ``opt`` (``RUNTIME_OPTIMIZERS``; [] for its
    default). An optimizer it does not build is refused before (``check_stack``; stack_rules mcore-optimizer,
    titan-optimizer)."""
    return list(RUNTIME_OPTIMIZERS[run].launch[opt])


def building_stacks(opt: str) -> tuple[str, ...]:
    """The stacks ``framework: auto`` searches (defaults.AUTO_FRAMEWORKS) whose code builds ``opt``."""
    from planner import defaults as D

    return tuple(n for n in D.AUTO_FRAMEWORKS if builds_optimizer(n, opt))


def check_stack(stack, t) -> None:
    """Refuse an optimizer the stack's code does not build (``RUNTIME_OPTIMIZERS``; QA 48: adam8bit, Lion, Adafactor
    and SGD were priced on torchtitan, whose ``build_optimizers`` raises for them; optim36: adam8bit and Adafactor on
    the Megatron stacks, whose launch ran fp32 Adam, 8 bytes of state a parameter where the plan priced 2 or fewer)
    and Muon on a stack without an implementation here (one line, InputError, naming the stacks that build it)."""
    from planner.errors import InputError
    from planner.model.stack_rules import RUNTIMES

    opt = getattr(t, "optimizer", None)
    name = getattr(stack, "name", stack)
    if opt == "muon" and impl_for(stack, t) is None:
        ok = ", ".join(n for n, r in RUNTIMES.items() if r in IMPLEMENTATIONS)
        # DeepSpeed ships a ZeRO-1/2 Muon of its own (blogs/muon-optimizer), not modelled here
        raise InputError("training.optimizer", f"Muon is modelled on {ok} (planner.model.optimizers), "
                                               f"not on {name}")
    b = builds(stack)
    if b is not None and opt not in b.names:
        others = building_stacks(opt)
        hint = f" ({', '.join(others)} build{'s' if len(others) == 1 else ''} it)" if others else ""
        raise InputError("training.optimizer", f"{name} builds {', '.join(b.names)} only, not {opt}{hint} ({b.source})")


def stack_for(stack, t):
    """``stack`` as it runs job ``t``'s optimizer: Megatron-Core's layer-wise Muon all-gathers the
    updated parameters inside ``step()`` (the Kimi-K2 recipe: ``overlap_param_gather = False  # Muon
    needs this to be False``), so the stack's ``overlap_param_gather`` is off -- said so in every
    output -- and a job asking for it on is refused (one line, InputError)."""
    from dataclasses import replace

    from planner.errors import InputError

    check_stack(stack, t)
    impl = impl_for(stack, t)
    if impl is None or not impl.sync_param_gather or not stack.overlap_param_gather:
        return stack
    spec = getattr(t, "framework", None)
    if getattr(spec, "overlap_param_gather", None):
        raise InputError("training.framework.overlap_param_gather",
                         f"Muon on {stack.name} all-gathers the parameters inside the optimizer step; "
                         "it cannot overlap them with the next forward (Megatron-Bridge's Kimi-K2 recipe sets it off)")
    return replace(stack, overlap_param_gather=False)


def step_terms(m: ModelSpec, impl: MuonImpl, hw, blocks: dict, tp, etp, ep, dps, edps, zero, stage_dense, stage_expert,
               adam_bytes: float):
    """Seconds of Muon's optimizer step on the busiest rank of a stage holding ``blocks`` (memory_stages ``StageSplit``;
    vectorised over the distinct layouts of step_time._dp_terms): the elementwise pass over the
    rank's parameters (Muon's matrices at ``MUON_ELEMENTWISE_BYTES``, the rest at AdamW's
    ``adam_bytes``), the Newton-Schulz GEMMs (``stage_ns_time``), and the stack's redistribution of
    the dense Muon shards to their owners and back (fp32, over the dp x cp sharding group at ZeRO-2/3).
    ``stage_dense`` / ``stage_expert``: the stage's parameters per TP / expert-TP x EP rank."""
    from planner.model import physics
    from planner.model.comm import collective_time, group_intra_bw

    eff = hw.eff
    fd, fe = muon_fractions(m, stage_dense * tp, stage_expert * etp * ep, blocks)
    md, me = fd * stage_dense, fe * stage_expert
    zero = np.asarray(zero)
    shard = zero >= 1
    local_muon = np.where(shard, md / dps + me / edps, md + me)
    local = np.where(shard, stage_dense / dps + stage_expert / edps, stage_dense + stage_expert)
    ew = eff.memory_time(local_muon * MUON_ELEMENTWISE_BYTES + (local - local_muon) * adam_bytes, hbm_bw=hw.gpu.hbm_bw)
    ns = stage_ns_time(m, impl, eff, physics.reachable_peak(hw, "bf16"), hw.gpu.hbm_bw, blocks, tp, etp, ep, dps,
                       edps, zero, eff.launch_s)
    a2a = 0.0
    if impl.redistributions:
        one = collective_time("all_to_all", 4.0 * md / dps, dps, tp, float(hw.gpus_per_node),
                              group_intra_bw(hw, dps, tp, "all_to_all"),
                              hw.inter_bw_per_gpu, eff.intra_alpha_s, eff.inter_alpha_s)
        a2a = np.where(zero >= 2, impl.redistributions * one, 0.0)
    return ew + ns + a2a


# ---- Megatron-Core's precision-aware optimizer (``--use-precision-aware-optimizer``)
#: bytes per element of each state dtype Transformer Engine's FusedAdam keeps (fp8: its uint8 state, one fp32 scale per
#: tensor, negligible; transformer_engine/pytorch/optimizers/fused_adam.py ``exp_avg_dtype`` "torch.uint8 represents
#: FP8")
STATE_DTYPE_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0}
#: HBM bytes per element of the copies FusedAdam.step makes of a state kept below fp32 (fused_adam.py ``step``: each
#: such state is unscaled into an fp32 temporary before ``multi_tensor_adam`` and written back after it,
#: ``get_unscaled_state`` / ``_apply_scale``): bf16 ``.float()`` (read 2, write 4), then ``copy_(unscaled.bfloat16())``
#: (read 4, write 2; read 2, write 2); fp16 ``.float()`` and ``mul_(scale)`` (2 + 4, 4 + 4), then ``aminmax`` (4),
#: ``mul_(rscale)`` (4 + 4) and ``copy_`` (4 + 2); fp8 the Float8Tensor's ``.float()`` (1 + 4), then ``aminmax`` (4)
#: and the quantising ``copy_`` (4 + 1). An fp32 state is the kernel's own operand: no copy.
STATE_COPY_BYTES = {"fp32": 0.0, "bf16": 6.0 + 10.0, "fp16": 14.0 + 18.0, "fp8": 5.0 + 9.0}


@dataclass(frozen=True)
class PrecisionAware:
    """What Megatron-Core's precision-aware optimizer keeps and moves, per parameter of a rank's optimizer shard.

    Megatron-Core (megatron/core/optimizer/__init__.py ``_get_megatron_optimizer_based_on_param_groups``, Megatron-LM
    main 2026) builds Transformer Engine's FusedAdam with ``exp_avg_dtype`` / ``exp_avg_sq_dtype``; where
    ``use_precision_aware_optimizer_no_fp8_or_ds_fp8`` holds (optimizer_config.py ``__post_init__``: main params not
    fp32, or no fp8 recipe / the delayed one, or the CPU offload) also ``master_weights=True,
    master_weight_dtype=main_params_dtype, use_decoupled_grad=True``: TE keeps the master copy, and with
    ``store_param_remainders`` (OptimizerConfig default True, TE >= 2.1) and bf16 parameters (not FP8-stored ones)
    only the 16 low bits of the fp32 master (an int16 state: fused_adam.py "Whole FP32 master can be reconstructed from BF16 params plus the
    trailing remainder bits"). Otherwise (an fp8 recipe other than delayed with fp32 main params) Megatron's
    distributed optimizer keeps its own fp32 master, 4 bytes, as without the option.

    ``master`` and ``optimizer`` replace planner.model.memory ``model_state_bytes_per_param``'s master and optimizer
    bytes (sharded by the distributed optimizer as before). The step (``step_bytes``) is TE's
    ``multi_tensor_adam`` (or ``_param_remainder``) pass -- the gradient read, the 16-bit parameter read and
    written, the master and both moments read and written at fp32 inside the kernel -- plus, per state kept below
    fp32, the fp32 temporary FusedAdam unscales it into and the write-back (``STATE_COPY_BYTES``): bf16 moments make
    the step move more bytes, not fewer. Those temporaries (4 bytes per element of each such state, the whole shard of
    a param group at once) live during the step only, when the activations are freed: not a peak term.
    """
    exp_avg: str
    exp_avg_sq: str
    main_params: str
    te_master: bool
    remainders: bool

    @property
    def master(self) -> float:
        if not self.te_master:
            return 4.0
        return 2.0 if self.remainders else STATE_DTYPE_BYTES[self.main_params]

    @property
    def optimizer(self) -> float:
        return STATE_DTYPE_BYTES[self.exp_avg] + STATE_DTYPE_BYTES[self.exp_avg_sq]

    def step_bytes(self, grad_bytes: float) -> float:
        """HBM bytes per parameter of one optimizer step (class docstring); ``grad_bytes``: the gradient buffer's
        dtype (``training.grad_dtype``), which FusedAdam reads as the ``decoupled_grad``."""
        copies = STATE_COPY_BYTES[self.exp_avg] + STATE_COPY_BYTES[self.exp_avg_sq]
        if not self.te_master:
            # Megatron's fp32 master and fp32 main gradient (``shard_model_grad.float()``) are the kernel's operands,
            # the 16-bit model copy written from the master after it (read 4, write 2)
            return 4.0 + 2.0 * (4.0 + 4.0 + 4.0) + 6.0 + copies
        # TE's master: the int16 remainders (2 bytes) beside the bf16 parameter, or the fp32 master, or an fp16 one
        # through its fp32 temporary
        master = 2.0 if self.remainders else 4.0
        if self.main_params != "fp32":
            copies += STATE_COPY_BYTES[self.main_params]
        return grad_bytes + 2.0 * 2.0 + 2.0 * (master + 4.0 + 4.0) + copies


def precision_aware(stack, t) -> PrecisionAware | None:
    """The precision-aware optimizer job ``t`` runs on ``stack`` (``PrecisionAware``), None where the stack option is
    off -- or, with it off, NeMo 1.x's Apex DistributedFusedAdam (``Stack.apex_param_remainders``), which keeps the same
    state: fp32 moments and the master as the bf16 parameters' 16-bit remainders. Under ``--optimizer-cpu-offload`` the state lives in host memory (planner.model.offload) and these dtypes do not
    apply (the HybridDeviceOptimizer is built without them: stack_rules ``mcore-pa-offload-dtypes``)."""
    if getattr(stack, "optimizer_offload", False):
        return None
    prec = getattr(t, "precision", "bf16")
    if not getattr(stack, "precision_aware_optimizer", False):
        # NeMo 1.x's Apex DistributedFusedAdam (Stack.apex_param_remainders): fp32 moments, the master as the bf16
        # parameter's 16-bit remainders where the model is bf16 (bf16, or fp8 through TE over bf16 weights: NeMo 1.x's
        # ``fp8_params`` stores them whole, ``store_params = True``); its remainder kernel moves what TE's does
        if not getattr(stack, "apex_param_remainders", False) or prec not in ("bf16", "fp8"):
            return None
        if prec == "fp8" and bool(fp8_param_gather_on(stack, t, 1)):
            return None
        return PrecisionAware("fp32", "fp32", "fp32", True, True)
    recipe = getattr(stack, "fp8_recipe", None) if prec == "fp8" else None
    te_master = stack.main_params_dtype != "fp32" or recipe in (None, "delayed")
    # the remainders need bf16 parameters (fused_adam.py: ``self.store_param_remainders and p.dtype ==
    # torch.bfloat16``): bf16 training, and fp8 whose weights stay bf16 -- not FP8-stored ones (--fp8-param-gather,
    # at the ZeRO-1 the option runs at: Float8Tensor parameters keep a whole fp32 master), not fp16
    bf16_params = prec == "bf16" or (prec == "fp8" and not bool(fp8_param_gather_on(stack, t, 1)))
    remainders = te_master and stack.main_params_dtype == "fp32" and bf16_params
    return PrecisionAware(stack.exp_avg_dtype, stack.exp_avg_sq_dtype, stack.main_params_dtype, te_master, remainders)
