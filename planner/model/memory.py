"""Memory per GPU: model states, activations, logits and the rest, for the most loaded rank.

Model states (bytes per parameter), as data in ``PRECISION_CONVENTIONS`` and ``OPTIMIZER_STATE``:

* ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054, §3 and Fig. 1): with 16-bit weights and
  gradients and Adam's K = 12 bytes (fp32 master + two fp32 moments), a replica holds
  2 + 2 + 12 = 16 bytes/param; ZeRO-1 shards the optimizer (4 + 12/N), ZeRO-2 also the gradients
  (2 + 14/N), ZeRO-3 everything (16/N). ``weights='megatron', grad_dtype='same'`` reproduces this
  exactly (tests/test_memory.py); Megatron's default keeps fp32 gradient buffers (main_grad),
  ``grad_dtype='fp32'``, giving 18 bytes/param (Megatron ``compute_weight_and_optimizer_memory``).
* PyTorch AMP (``weights='amp'``): fp32 weights and gradients, optimizer moments, and the 16-bit
  copies autocast makes of each weight and autograd keeps for backward (+2 bytes/param).
* FSDP FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2; ZeRO-3 also holds the gathered 16-bit weights
  of the layers in flight (the current one and one prefetched).
* Sharding group: ZeRO shards over data-parallel x context-parallel ranks (Megatron's distributed
  optimizer group); expert weights over the expert-data-parallel group (dp*cp/ep).

Pipeline stages: layers are split ceil(L/pp) on the most loaded stage; the first stage also
holds the embeddings, the last the final norm, LM head (a second copy when tied and pp > 1) and the
logits/loss buffers. Under 1F1B the first stage keeps min(pp, m) micro-batches of activations in
flight, interleaving multiplies that by 1 + (pp-1)/(pp*v) (Narayanan et al. 2021 §2.2; Megatron's
memory estimator), GPipe keeps all m. Both the first and the last stage are evaluated and the
larger is reported.

``other``: CUDA context and allocator reserve, NCCL communicator buffers per process group in
use, and a fragmentation allowance on the dynamic (activation) part.
"""
from __future__ import annotations

import numpy as np

from planner.model.activations import (layer_activation_bytes, logits_bytes, loss_transient_bytes,
                                 recompute_working_set)
from planner.layout import Candidates, distinct_rows
from planner.spec.params import count_params
from planner.defaults import ADAPTER_BYTES
from planner.model.finetune import (adapter_params, frozen_base, frozen_layer_activation_bytes,
                                    frozen_storage_bytes)
from planner.model import offload
from planner.model.stacks import from_training
from planner.spec import ModelSpec, TrainingSpec

GiB = 2**30

# bytes per parameter: weights held on the GPU, gradients (accumulation buffer), master copy
PRECISION_CONVENTIONS = {
    #            weights, grads(fp32 buffer), grads(same dtype), master
    ("fp32", "amp"): (4, 4, 4, 0),
    ("fp32", "megatron"): (4, 4, 4, 0),
    ("fp32", "pure"): (4, 4, 4, 0),
    ("bf16", "amp"): (4 + 2, 4, 4, 0),  # fp32 weights + autocast's 16-bit copy kept for backward
    ("bf16", "megatron"): (2, 4, 2, 4),
    ("bf16", "pure"): (2, 2, 2, 0),
    ("fp16", "amp"): (4 + 2, 4, 4, 0),
    ("fp16", "megatron"): (2, 4, 2, 4),
    ("fp16", "pure"): (2, 2, 2, 0),
    # FP8 (Transformer Engine): bf16 weights + fp32 master, plus the cached fp8 weight copy
    ("fp8", "amp"): (4 + 1, 4, 4, 0),
    ("fp8", "megatron"): (2 + 1, 4, 2, 4),
    ("fp8", "pure"): (2 + 1, 2, 2, 0),
}

# optimizer state bytes per parameter, excluding any fp32 master copy (TM101; bitsandbytes docs)
OPTIMIZER_STATE = {
    "adamw": 8.0,  # two fp32 moments
    "adam": 8.0,
    "adam8bit": 2.0,  # two int8 moments (block-wise quantised; block scales are negligible)
    "lion": 4.0,  # one fp32 momentum
    "sgd": 0.0,
    "sgd_momentum": 4.0,
    "adafactor": None,  # factored second moment: rows + cols per matrix, see _adafactor_bytes
}

ACT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 2}  # fp8 GEMMs still keep 16-bit activations

CUDA_CONTEXT_BYTES = 0.75 * GiB  # CUDA context + cuBLAS/cuDNN workspaces + allocator reserve
NCCL_BYTES_PER_GROUP = 0.25 * GiB  # communicator buffers per process group of size > 1
FRAGMENTATION = 0.05  # caching-allocator fragmentation on the dynamic (activation) part


def model_state_bytes_per_param(training: TrainingSpec, hidden: int = 4096):
    """(weights, grads, master, optimizer) bytes per parameter for this precision convention."""
    w, g32, gsame, master = PRECISION_CONVENTIONS[(training.precision, training.weights)]
    g = g32 if training.grad_dtype == "fp32" else gsame
    opt = OPTIMIZER_STATE[training.optimizer]
    if opt is None:  # Adafactor keeps one fp32 value per row and per column of each matrix
        opt = 4.0 * 2.0 / hidden
    return float(w), float(g), float(master), float(opt)


def zero_bytes_per_param(zero, n, weights=2.0, grads=2.0, optimizer=12.0):
    """Bytes per parameter per GPU under ZeRO stage ``zero`` over ``n`` ranks (arrays welcome).
    With the defaults this is the ZeRO paper's 16 / 4+12/N / 2+14/N / 16/N."""
    zero = np.asarray(zero)
    n = np.asarray(n, dtype=np.float64)
    w = np.where(zero >= 3, weights / n, weights)
    g = np.where(zero >= 2, grads / n, grads)
    o = np.where(zero >= 1, optimizer / n, optimizer)
    return w + g + o


def stage_params(m: ModelSpec, c: Candidates):
    """Parameters on the first and last pipeline stage of each candidate, split into dense and
    expert parts, before any TP/EP/ZeRO division. Returns (first_dense, first_expert,
    last_dense, last_expert, layers_on_stage, largest_layer)."""
    pc = count_params(m)
    pp = c.pp.astype(np.float64)
    if not m.is_transformer:
        total = np.full(len(c), float(pc.total))
        z = np.zeros(len(c))
        return total, z, total, z, np.ones(len(c)), total
    L = m.layers
    layers = np.ceil(L / pp)  # most loaded stage
    moe_share = pc.n_moe_layers / L
    dense_per_layer = (1 - moe_share) * pc.dense_layer + moe_share * (pc.moe_layer - m.moe.experts * pc.expert if m.moe else 0)
    expert_per_layer = moe_share * (m.moe.experts * pc.expert if m.moe else 0)
    body_dense = layers * dense_per_layer
    body_expert = layers * expert_per_layer
    single = pp == 1
    emb = pc.embedding
    head = pc.lm_head + pc.final_norm + (m.vocab * m.hidden if (m.tied_embeddings) else 0)
    # pp == 1: one stage holds everything (tied head shares the embedding table)
    first_dense = body_dense + emb + np.where(single, pc.lm_head + pc.final_norm, 0.0)
    last_dense = body_dense + np.where(single, emb + pc.lm_head + pc.final_norm, head)
    largest = max(pc.dense_layer, pc.moe_layer)
    return first_dense, body_expert, last_dense, body_expert, layers, np.full(len(c), float(largest))


def inflight_microbatches(c: Candidates, m_micro):
    """Micro-batches whose activations the first stage holds at its peak."""
    pp = c.pp.astype(np.float64)
    m_micro = np.asarray(m_micro, dtype=np.float64)
    base = np.minimum(pp, m_micro)
    inter = base * (1 + (pp - 1) / (pp * np.maximum(c.vpp, 1)))
    return np.where(c.schedule == 2, m_micro, np.where(c.schedule == 1, inter, base))


def memory_per_gpu(m: ModelSpec, t: TrainingSpec, c: Candidates, seq=None, global_batch=None, stack=None):
    """Memory of the most loaded rank of each candidate, as a dict of arrays (bytes):
    ``weights``, ``grads``, ``optimizer``, ``activations``, ``logits``, ``other``, ``total``,
    ``stage`` (0 = first pipeline stage is the most loaded, 1 = last), and ``host`` (bytes per GPU
    offloaded to host RAM, planner.model.offload) under ``stack`` (default: training.framework).

    Stacks that run the Hugging Face model code (``Stack.mixed_precision`` set: hf-trainer,
    deepspeed) take their activations from ``planner.model.activations_hf`` (what transformers'
    eager/sdpa code saves, measured per family), the others from the fused-kernel table; under
    ``mixed_precision: amp`` the weights follow the AMP convention (fp32 weights and gradients
    plus autocast's bf16 weight copies)."""
    st = from_training(t, stack)
    seq = t.seq_len if seq is None else seq
    gb = t.global_batch if global_batch is None else global_batch
    hf = _hf_code(m, t, st)
    if hf == "amp_bf16" and t.weights != "amp":
        t = t.model_copy(update={"weights": "amp"})
    w_b, g_b, master_b, opt_b = model_state_bytes_per_param(t, m.hidden or 4096)
    frozen = frozen_base(m, t)
    if frozen:  # lora/qlora: the base is stored only (finetune.py); adapters are added below
        adapter_opt_b = opt_b
        w_b, g_b, master_b, opt_b = frozen_storage_bytes(m, t) / count_params(m).total, 0.0, 0.0, 0.0
    act_b = ACT_BYTES[t.precision]
    tp = c.tp.astype(np.float64)

    # model states and group counts depend only on (pp, tp, dp, cp, ep, zero): computed once per
    # distinct key and gathered back (a search has millions of rows, a few thousand keys)
    (kpp, ktp, kdp, kcp, kep, kz, ketp), sinv = distinct_rows(c.pp, c.tp, c.dp, c.cp, c.ep, c.zero, c.etp)
    kc = Candidates.layouts(ktp, kpp, kdp, kcp, kep, kz)
    ktpf = ktp.astype(np.float64)
    dps = (kdp * kcp).astype(np.float64)  # ZeRO sharding group
    # expert grid etp x ep x edp over the stage's tp*cp*dp ranks (Megatron-Core parallel_state)
    edps = np.maximum(ktpf * dps / (ketp * kep), 1.0)  # expert data-parallel group
    f_dense, f_exp, l_dense, l_exp, k_layers, largest = stage_params(m, kc)

    def states(dense, expert):
        d = dense / ktpf
        e = expert / (ketp * kep)
        weights = np.where(kz >= 3, d / dps + e / edps, d + e) * w_b
        grads = np.where(kz >= 2, d / dps + e / edps, d + e) * g_b
        optim = np.where(kz >= 1, d / dps + e / edps, d + e) * (master_b + opt_b)
        # ZeRO-3 / FSDP gathers the current layer's weights and prefetches the next one; without
        # reshard_after_forward every layer stays gathered from its forward to its backward
        # (FSDP SHARD_GRAD_OP: ZeRO-2's weights at the end of the forward)
        if not st.reshard_after_forward:
            weights = np.where(kz >= 3, (d + e) * w_b, weights)
        weights = weights + np.where(kz >= 3, 2 * largest / ktpf * min(w_b, 2.0), 0.0)
        return weights[sinv], grads[sinv], optim[sinv]

    fw, fg, fo = states(f_dense, f_exp)
    lw, lg, lo = states(l_dense, l_exp)
    layers = k_layers[sinv]
    if frozen:  # fp32 adapters, their fp32 gradients and optimizer state, split like the layers
        ad = adapter_params(m, t) * layers / m.layers / tp
        fw, lw = fw + ad * ADAPTER_BYTES, lw + ad * ADAPTER_BYTES
        fg, lg = fg + ad * ADAPTER_BYTES, lg + ad * ADAPTER_BYTES
        fo, lo = fo + ad * adapter_opt_b, lo + ad * adapter_opt_b
    groups = sum((x > 1).astype(np.float64) for x in (ktp, kpp, kdp, kcp, kep))[sinv]
    host_f = host_l = 0.0
    if st.optimizer_offload and master_b + opt_b > 0:  # master + moments move to host RAM (model.offload)
        host_f, host_l = (offload.host_optimizer_bytes(x, master_b + opt_b) for x in (fo, lo))
        fo, lo = fo * 0.0, lo * 0.0

    m_micro = np.maximum(gb / (c.mb * c.dp), 1.0)
    if m.is_transformer:
        moe_share = m.moe_layers / m.layers
        # per-layer bytes depend only on (tp, cp, sp, mb, rc): computed once per distinct key and
        # gathered back to every candidate (a search has millions of rows, a few hundred keys)
        (ktp, kcp, ksp, kmb, krc), inv = distinct_rows(c.tp, c.cp, c.sp, c.mb, c.rc)
        kw = dict(tp=ktp, cp=kcp, sp=ksp.astype(bool), flash=t.flash_attention, dropout=t.dropout, act_bytes=act_b)
        per_layer = (1 - moe_share) * layer_activation_bytes(m, seq, kmb, recompute=krc, moe=False, **kw)
        rws = recompute_working_set(m, seq, kmb, recompute=krc, moe=False, **kw)
        if moe_share:
            per_layer = per_layer + moe_share * layer_activation_bytes(m, seq, kmb, recompute=krc, moe=True, **kw)
            rws = np.maximum(rws, recompute_working_set(m, seq, kmb, recompute=krc, moe=True, **kw))
        if frozen:  # lora/qlora: what peft on the HF model code saves (finetune.py)
            per_layer, rws = frozen_layer_activation_bytes(m, t, seq, kmb, krc, ktp * kcp)
        per_layer, rws = per_layer[inv], rws[inv]
        if hf:
            hf_layer, hf_rws, hf_logits = _hf_activation_arrays(m, t, c, seq, hf)
            if not frozen:  # a frozen base keeps its own set (above)
                per_layer, rws = hf_layer, hf_rws
        sp_div = np.where(c.sp, tp, 1.0)
        emb_out = seq * c.mb / c.cp * m.hidden * act_b / sp_div
        held = offload.resident_layers(layers, st)  # activation offload keeps a few layers
        host_f = host_f + (layers - held) * per_layer
        host_l = host_l + (layers - held) * per_layer
        first_act = held * per_layer * inflight_microbatches(c, m_micro) + emb_out + rws
        last_inflight = np.where(c.schedule == 2, m_micro, 1.0)
        last_act = held * per_layer * last_inflight + rws
        # saved by the output layer and loss, plus the transient logits at the loss (the step's peak)
        last_logits = (logits_bytes(m, seq, c.mb, c.tp, c.cp, act_b)
                       + loss_transient_bytes(m, seq, c.mb, c.tp, c.cp, act_b))
        if hf:
            last_logits = hf_logits
        first_logits = np.where(c.pp == 1, last_logits, 0.0)
    else:
        per_sample = m.activation_bytes_per_sample or 0.0
        scale = act_b / 4.0  # measured in fp32; autocast keeps most activations in 16 bits
        first_act = per_sample * scale * c.mb
        last_act = first_act
        first_logits = last_logits = np.zeros(len(c))

    def other(act):
        return CUDA_CONTEXT_BYTES + NCCL_BYTES_PER_GROUP * groups + FRAGMENTATION * act

    first_total = fw + fg + fo + first_act + first_logits + other(first_act + first_logits)
    last_total = lw + lg + lo + last_act + last_logits + other(last_act + last_logits)
    last = last_total > first_total
    pick = lambda a, b: np.where(last, b, a)  # noqa: E731
    act = pick(first_act, last_act)
    lg_ = pick(first_logits, last_logits)
    return dict(
        weights=pick(fw, lw), grads=pick(fg, lg), optimizer=pick(fo, lo), activations=act,
        logits=lg_, other=other(act + lg_), total=np.maximum(first_total, last_total),
        stage=last.astype(np.int8), host=pick(host_f, host_l) * np.ones(len(c)),
    )


def _hf_code(m: ModelSpec, t: TrainingSpec, stack=None) -> str | None:
    """The HF table's precision for a stack that runs transformers' model code, else None."""
    from planner.model.stacks import from_training

    fw = stack if stack is not None else from_training(t)
    if fw.mixed_precision is None or not m.is_transformer:
        return None
    if t.precision == "fp32":
        return "fp32"
    return "amp_bf16" if fw.mixed_precision == "amp" else "bf16"


def _hf_activation_arrays(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, precision: str):
    """Per-layer saves, recompute working set and the head's saves + logits/loss transients of
    the HF table (activations_hf.hf_activations) for each candidate. HF code has no selective
    recompute: "selective" plans keep everything, "full" is gradient checkpointing per block.
    The model code has no tensor/context parallelism of its own: a tp/cp split (rare on these
    stacks) divides the tokens' bytes evenly (first order)."""
    from planner.model.activations_hf import hf_activations

    impl = "sdpa" if t.flash_attention else "eager"
    (kmb, krc, ktp, kcp), inv = distinct_rows(c.mb, c.rc, c.tp, c.cp)
    rows = []
    for mb, rc, tp, cp in zip(kmb, krc, ktp, kcp):
        r = hf_activations(m, int(seq), int(mb), precision, impl, int(rc) == 2)
        div = float(tp) * float(cp)
        rows.append((r.per_layer / div, r.recompute / div, (r.outside + r.logits_transient) / div))
    arr = np.asarray(rows, dtype=np.float64)[inv]
    return arr[:, 0], arr[:, 1], arr[:, 2]
