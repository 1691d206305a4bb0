"""The serving iteration model: the time of one LLM engine step on a TP group as a function of the
batch composition (``IterationModel``: a roofline of FLOPs and HBM bytes, two TP all-reduces per
layer as vLLM's custom all-reduce runs them, a GPU-side gap per kernel and the engine's host time),
and its analytic uses: the steady-state iteration at batch B (``steady_iteration``, ``_llm_iteration``),
TPOT as the simulation measures one request (``llm_tpot``) and one prompt prefilled alone
(``prefill_time``). Sources are in each docstring and in planner/workloads/serving.py's module
docstring. The serving planner (planner/workloads/serving.py) and the serving simulation
(planner/simulate/serving.py, through ``ReplicaSpec.iteration``) both time steps with
:meth:`IterationModel.time`; there is no second copy.

Reads the weight and KV bytes from planner/workloads/serving_memory.py; imports nothing from
planner/workloads/serving.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from statistics import NormalDist
from typing import Callable, Optional

import numpy as np

from planner.errors import InputError
from planner.units import fmt_given
from planner.model import ew
from planner.model.comm import NCCL_LL_BASE_S, NCCL_LL_HOP_S, group_intra_bw, ring_time
from planner.model.moe import (DEEPEP_NUM_SMS, DISPATCHER_NEEDS, MOE_SYNC_OPS, DispatcherNeeds, comm_sm_slowdown,
                               dispatch_bytes as moe_dispatch_bytes)
from planner.model.flops import (attention_flops_per_token, decode_score_dim, linear_flops_per_token, local_keys,
                                 score_dim)
from planner.model.physics import attention_head_dim_rel, datasheet_peak, derived_fp8_peak, reachable_peak
from planner.model.serving_efficiency import (TILE_ROWS, WEIGHT_ONLY_TILE_ROWS, ServingEfficiency,
                                              engine_efficiency, job_efficiency)
from planner.simulate.serving import request_tpot
from planner.spec import ServingSpec
from planner.spec.params import count_params
from planner.workloads.serving_memory import (ReplicaSplit, kv_bytes_per_token, mla_kv_b_params, mxfp4_expert_pad,
                                              quantised_weight_bytes, replica_split, routed_expert_params,
                                              shared_prefix, tp_replicated_params, weight_bytes_per_gpu)

#: tiles of slack in ``IterationModel.parts``' GEMM-row padding: a token count within this of a tile edge is on it. The
#: screen's steps carry mean token counts, and where the budget binds a lumped step's B decodes and budget - B prompt
#: tokens sum to the budget in exact arithmetic but not always in floats (``lumped_parts``: (p / f) x N / O for the room):
#: 512.0000000000001 tokens were padded to 576 rows, not 512, and the RAG job's (llama3-8b, 6,000 / 150 tokens, 8 QPS)
#: g6e.xlarge lumped step at budget 512 read 56.2 ms at 8 replicas against 50.8 at 7 and 9, its p99 TPOT 60.0 against
#: 53.0 / 52.3 (serve46). An engine step's tokens are integers, so this moves no simulated step.
TILE_SLACK = 1e-9
#: the catalog peak the GEMMs run at; int4 is weight-only (bf16 math)
COMPUTE_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "int8": "int8", "int4": "bf16", "mxfp4": "bf16"}
ACTIVATION_BYTES_BF16 = 2.0  # activations between layers and in TP all-reduces (bf16)
#: kernels per decoder layer in a decode iteration, counted from vLLM's LlamaDecoderLayer:
#: input norm, qkv proj, rotary, attention, o proj, all-reduce, post-attn norm, gate_up proj,
#: SiluAndMul, down proj, all-reduce
KERNELS_PER_LAYER = 11
#: bytes a token's routing adds to an expert-parallel dispatch, per chosen expert: its expert id (int32) and
#: weight (fp32), gathered beside the hidden state (vllm/distributed/device_communicators/all2all.py
#: ``AgRsAll2AllManager.dispatch``: ``all_gatherv([hidden_states, topk_weights, topk_ids])``)
ROUTING_BYTES_PER_CHOICE = 8.0


def tp_allreduce_time(nbytes, tp: int, bw: float, alpha: float):
    """Inference TP all-reduce inside one node, as vLLM's custom all-reduce runs it
    (csrc/custom_all_reduce.cuh): one-stage (each rank reads its tp-1 peers' buffers: one
    latency, (tp-1) x N bytes) for small buffers, two-stage (reduce-scatter + all-gather:
    2 latencies, 2 (tp-1)/tp x N) for large ones — whichever is faster. Decode messages are a
    few KB, so latency, not NCCL's 2 (tp-1)-step ring, sets the cost."""
    nbytes = ew.f64(nbytes)
    if tp <= 1:
        return 0.0 if ew.plain(nbytes) else np.zeros_like(nbytes)
    one = (tp - 1) * nbytes / bw + alpha
    two = 2 * (tp - 1) / tp * nbytes / bw + 2 * alpha
    return ew.minimum(one, two)


def replica_link_bw(hw, tp: int, pp: int = 1) -> tuple[float, float]:
    """(TP bytes/s, PP bytes/s): the per-GPU, per-direction node-link rates a serving replica of ``tp`` x ``pp`` GPUs
    on hardware option ``hw`` gets for its TP group's collectives (the per-layer all-reduce, an expert-parallel
    replica's all-gather / reduce-scatter exchange: NCCL / RCCL rings and vLLM's custom all-reduce, which reads each
    peer's buffer over that pair's link) and for its stage-to-stage sends. vLLM numbers a replica's ranks TP-innermost
    (vllm/distributed/parallel_state.py ``initialize_model_parallel``: the TP groups are consecutive ranks, a PP
    group's ranks ``tp`` apart), so the TP group is ``tp`` ranks at stride 1 ("ring" shape) and the PP ring ``pp``
    ranks at stride ``tp`` ("p2p": its slowest send), both priced by training's ``planner.model.comm.group_intra_bw``:
    a switched node's full rate (``hw.intra_bw_eff``, unchanged), a meshed node's the links the group's members share
    (an MI300X / MI325X TP-2 pair one of seven xGMI links, TP 4 three, TP 8 all seven; a DGX-1 V100 pair one or two
    of six NVLinks). DeepEP's all-to-all (the other ``EP_ALL2ALL`` entry) needs compute capability 9.0, which no
    meshed node here has, so the ring's rate is the exchange's on every mesh. Until meshserve49 every serving group
    was priced at the whole node's rate."""
    return float(group_intra_bw(hw, tp, 1, "ring")), float(group_intra_bw(hw, pp, tp, "p2p"))


def ep_exchange_time(tokens, ranks: int, top_k: int, act_bytes: float, bw: float, per_node: Optional[int] = None,
                     nic_bw: float = 0.0, inter_alpha: float = 0.0):
    """Seconds of one MoE layer's token exchange on an expert-parallel replica of ``ranks`` data-parallel attention
    ranks (``serving_memory.ReplicaSplit``) carrying ``tokens`` tokens in all, as vLLM's default
    ``--all2all-backend allgather_reducescatter`` runs it (vllm/distributed/device_communicators/all2all.py
    ``AgRsAll2AllManager``): dispatch = an all-gather over the DP group (``all_gatherv``, NCCL) of every rank's hidden
    states (``act_bytes`` a token) and top-k expert ids and weights (``ROUTING_BYTES_PER_CHOICE`` each), so every rank
    runs its local experts on the tokens of the whole replica routed to them; combine = a reduce-scatter
    (``reduce_scatterv``) of the experts' outputs back to each token's rank. Each a ring of n - 1 steps: NCCL's
    latency for it over NVLink (planner.model.comm ``NCCL_LL_BASE_S`` + (n - 1) ``NCCL_LL_HOP_S``, NVIDIA/nccl
    src/graph/tuning.cc: 10.8 us at n = 8; a decode step's messages are a few hundred KB, so latency is most of it)
    + (n - 1) / n x N / B (the ring's bytes, planner.model.comm's module docstring; N = tokens x bytes a token). The
    bytes do not grow with top-k (every rank gets every token once); DeepEP's low-latency all-to-all sends each
    token only to its k experts' ranks (``deepep_ll_exchange_time``). Vectorised over ``tokens``.

    A replica over k = ranks / ``per_node`` nodes (vLLM's wide EP, ``--data-parallel-size`` across nodes with
    ``--data-parallel-size-local`` a node's GPUs, serveep49) runs each ring as planner.model.comm prices a ring across
    nodes: the ring inside the node on the whole buffer over NVLink ((g - 1) / g x N / B), the ring across the k nodes
    on N / g a GPU at its NIC share ``nic_bw`` (``comm.ring_time``: (k - 1) / k x N / g / nic), and NCCL's flat-ring
    latency, n - k NVLink hops and k - 1 network ones at the comm model's ``inter_alpha`` (NVIDIA/nccl
    src/graph/tuning.cc ``nInterSteps = nNodes - 1``; planner.model.comm's module docstring). At k = 1 the one-node
    price above.

    >>> round(ep_exchange_time(64.0, 8, 8, 14336.0, 4.5e11) * 1e6, 2)  # 64 tokens of DeepSeek-V3 over 8 GPUs
    25.18
    >>> round(float(ep_exchange_time(64.0, 16, 8, 14336.0, 4.5e11, 8, 4e10, 1.5e-5)) * 1e6, 2)  # over two 8-GPU nodes
    66.45
    """
    if ranks <= 1:
        return 0.0 if ew.plain(tokens) else np.zeros_like(ew.f64(tokens))
    g = ranks if not per_node or per_node >= ranks else per_node
    k = ranks // g
    latency = NCCL_LL_BASE_S["ring"] + (ranks - k) * NCCL_LL_HOP_S["nvlink"]["ring"] + (k - 1) * inter_alpha
    per_token = 2.0 * act_bytes + top_k * ROUTING_BYTES_PER_CHOICE  # gathered in, and combined back
    nbytes = ew.f64(tokens) * per_token
    t = 2.0 * latency + (g - 1) / g * nbytes / bw
    if k > 1:
        t = t + ring_time("all_gather", nbytes / g, k, nic_bw, 0.0)
    return t


@lru_cache(maxsize=None)
def normal_max_moments(n: int) -> tuple[float, float]:
    """(E[Z], E[Z^2]) of Z, the largest of ``n`` independent standard normals: the integrals of x and x^2 d(Phi(x)^n)
    by quadrature on a 0.005 grid (Tippett, Biometrika 17, 1925; tabulated by Harter, Biometrika 48, 1961: E Z 0.5642
    at n = 2, 1.0294 at 4, 1.4236 at 8; Teichroew, Ann. Math. Statist. 27, 1956, the second moments: 1 at n = 2).
    (0, 1) for n <= 1.

    >>> [tuple(round(v, 4) for v in normal_max_moments(n)) for n in (1, 2, 4, 8)]
    [(0.0, 1.0), (0.5642, 1.0), (1.0294, 1.5513), (1.4236, 2.3995)]
    """
    if n <= 1:
        return 0.0, 1.0
    x = np.linspace(-12.0, 12.0, 4801)
    mass = np.diff(np.array([NormalDist().cdf(v) for v in x]) ** n)
    mid = (x[1:] + x[:-1]) / 2.0
    return float(np.sum(mid * mass)), float(np.sum(mid * mid * mass))


def expected_max_count(mean, var, one_less_rho, kappa3, n: int):
    """The expected largest of ``n`` exchangeable counts of mean ``mean``, variance ``var``, correlation rho (given as
    1 - rho) and third central moment ``kappa3``: mean + sqrt(var (1 - rho)) E Z + the Cornish-Fisher skewness term
    sigma gamma / 6 (E Z^2 - 1) (Cornish & Fisher, Revue de l'Institut International de Statistique 5, 1937: a quantile
    z moves to z + gamma (z^2 - 1) / 6; Z the largest of n standard normals, ``normal_max_moments``; an exchangeable
    normal vector is a common part plus independent ones of variance var (1 - rho)), gamma = kappa3 / sigma^3 held to
    [-1, 1], where the expansion holds (a count near a bound, a rare expert's, is far more skewed than that, and its
    term would not shrink with its spread). Vectorised."""
    e1, e2 = normal_max_moments(n)
    sd = ew.maximum(var, 0.0) ** 0.5
    gamma = ew.minimum(ew.maximum(ew.div0(kappa3, sd * sd * sd), -1.0), 1.0)
    return mean + (ew.maximum(var * one_less_rho, 0.0)) ** 0.5 * e1 + sd * gamma / 6.0 * (e2 - 1.0)


def busiest_rank_pairs(tokens, ranks: int, experts: int, top_k: int):
    """The expected routed (token, expert) pairs on the busiest of ``ranks`` expert-parallel ranks, E / ranks experts
    each, when ``tokens`` tokens each pick ``top_k`` distinct experts uniformly (a balanced router; a trained one is
    more uneven, which EPLB exists for: DeepSeek's EPLB README, "the load of different experts may vary depending on
    the current workload, it is important to keep the load of different GPUs balanced"; vLLM's ``--enable-eplb`` is
    off by default). A decode step waits for that rank: the DP ranks step together (vLLM's Data Parallel Deployment
    page) and its experts' grouped GEMMs run the pairs routed to it. Per token the count a rank gets is hypergeometric
    (k draws of E, E / n on the rank: p = 1 / n), variance k p (1 - p)(E - k) / (E - 1), third central moment that x
    (1 - 2p)(E - 2k) / (E - 2); over T tokens T times each, the ranks' counts summing to T k (correlation -1 / (n - 1)),
    so ``expected_max_count``, at most T x min(k, E / n) (every token's pairs on one rank). DeepSeek-V3 (256 experts,
    top-8) over EP8, against seeded random routings (3,000 a size): 2.57 on the busiest rank at one token (drawn 2.57;
    2.40 without the skewness term), 6.97 at 4 (6.98), 21.78 at 16 (21.82), 75.40 at 64 (75.34); 64 experts top-4: 1.64
    at one token (1.59). Vectorised over ``tokens``.

    >>> round(float(busiest_rank_pairs(64.0, 8, 256, 8)), 1), busiest_rank_pairs(5.0, 1, 8, 2)
    (75.4, 10.0)
    """
    mean = tokens * top_k / ranks
    if ranks <= 1 or experts <= 2:
        return mean
    p = 1.0 / ranks
    var = tokens * top_k * p * (1.0 - p) * (experts - top_k) / (experts - 1)
    kappa3 = var * (1.0 - 2.0 * p) * (experts - 2.0 * top_k) / (experts - 2)
    busiest = expected_max_count(mean, var, ranks / (ranks - 1.0), kappa3, ranks)
    return ew.minimum(busiest, tokens * min(top_k, experts / ranks))


def busiest_rank_experts(tokens, ranks: int, experts: int, top_k: int):
    """The expected experts some token routes to on the busiest of ``ranks`` expert-parallel ranks (E / ranks = g
    experts each; uniform routing as ``busiest_rank_pairs``): a rank's weights read in a step are those experts'. A
    token misses a given expert with probability 1 - k / E, two given ones (E - k)(E - k - 1) / (E (E - 1)), three
    (E - k)(E - k - 1)(E - k - 2) / (E (E - 1)(E - 2)); to the T-th power q1, q2, q3 for T tokens. A rank's untouched
    count W (a sum of g exchangeable indicators) has E W = g q1, E W^2 = g q1 + g (g - 1) q2, E W^3 = g q1 + 3 g (g - 1)
    q2 + g (g - 1)(g - 2) q3, so its variance and third central moment; the touched count g - W has the same variance
    and the opposite skew, and its correlation between ranks follows from the variance of all E experts' (the same
    formula at g = E). ``expected_max_count``, at most g. DeepSeek-V3 over EP8, against seeded random routings (3,000 a
    size): 2.57 at one token (drawn 2.57; 2.31 as independent normals), 6.57 at 4 (6.55), 16.73 at 16 (16.74), 30.37 of
    32 at 64 (30.29). Vectorised over ``tokens``.

    >>> round(float(busiest_rank_experts(64.0, 8, 256, 8)), 1)
    30.4
    """
    g = experts / ranks
    q1 = (1.0 - top_k / experts) ** tokens
    mean = g * (1.0 - q1)
    if ranks <= 1 or experts <= 2:
        return mean
    q2 = ((experts - top_k) * (experts - top_k - 1.0) / (experts * (experts - 1.0))) ** tokens
    q3 = ((experts - top_k) * (experts - top_k - 1.0) * (experts - top_k - 2.0)
          / (experts * (experts - 1.0) * (experts - 2.0))) ** tokens

    def moments(size):  # (variance, third central moment) of the untouched count among ``size`` experts
        m1, m2 = size * q1, size * q1 + size * (size - 1.0) * q2
        m3 = size * q1 + 3.0 * size * (size - 1.0) * q2 + size * (size - 1.0) * (size - 2.0) * q3
        return m2 - m1 * m1, m3 - 3.0 * m1 * m2 + 2.0 * m1 * m1 * m1

    var, mu3 = moments(g)
    cov = (moments(float(experts))[0] - ranks * var) / (ranks * (ranks - 1.0))  # between two ranks' counts
    busiest = expected_max_count(mean, var, 1.0 - ew.div0(cov, var), -mu3, ranks)
    return ew.minimum(busiest, g)


def deepep_ll_kernel_time(tokens, ranks: int, experts: int, top_k: int, copy_bytes: float, bw: float,
                          per_node: Optional[int] = None, nic_bw: float = 0.0, inter_alpha: float = 0.0):
    """Seconds of one of DeepEP's low-latency kernels (``low_latency_dispatch`` or ``low_latency_combine``) on an
    expert-parallel replica of ``ranks`` GPUs carrying ``tokens`` tokens in all, ``copy_bytes`` a (token, expert) copy:
    each token is sent to the rank of each of its top-k experts, one copy a pair (DeepEP's buffer holds a slot per local
    expert), and the kernel ends when the busiest rank has its ``busiest_rank_pairs`` copies, (n - 1) / n of them from
    its peers over NVLink (``bw``); its fixed cost taken as one NCCL LL step over NVLink (planner.model.comm
    ``NCCL_LL_BASE_S`` + one ``NCCL_LL_HOP_S``: 7.2 us). Over k = ranks / ``per_node`` nodes the copies from the rank's
    own node's g - 1 peers, (g - 1) / n of them, come over NVLink and the (n - g) / n from other nodes over RDMA at the
    GPU's NIC share ``nic_bw``, the two at once (vLLM's ``DeepEPLLAll2AllManager`` builds its ``deep_ep.Buffer`` with
    ``allow_nvlink_for_low_latency_mode=True``, vllm/distributed/device_communicators/all2all.py; the slower link sets
    the time, as planner.model.comm ``a2a_time`` takes an all-to-all's two links), and the fixed cost adds one network
    latency (``inter_alpha``).

    Checked against DeepEP's own table (docs/legacy.md "Low-latency kernels", H800 with one CX7 400 Gb/s NIC a GPU, 128
    tokens a rank, DeepSeek-V3's shape; parts/moe_profiles.csv ``deepep_v1_ll_*``, benchmarks/deepep_ll.py): at EP 16
    .. 256 each kernel at 0.91-1.02x the published latency (dispatch 115 / 164 / 189 / 202 / 209 us against
    118 / 155 / 173 / 192 / 194; combine 203 / 297 / 345 / 371 / 385 against 195 / 273 / 314 / 369 / 360); at EP 8 (one
    node) 51 / 91 us against 77 / 114 (ll53). Vectorised over ``tokens``.

    >>> round(float(deepep_ll_kernel_time(128.0 * 64, 64, 256, 8, 7408.0, 1.6e11, 8, 4.25e10, 1.4e-5)) * 1e6)
    189
    """
    return _ll_kernels(tokens, ranks, experts, top_k, (copy_bytes,), bw, per_node, nic_bw, inter_alpha)[0]


def _ll_kernels(tokens, ranks: int, experts: int, top_k: int, copy_bytes: tuple, bw: float, per_node: Optional[int],
                nic_bw: float, inter_alpha: float) -> list:
    """``deepep_ll_kernel_time`` of one kernel for each of ``copy_bytes``: the busiest rank's pairs found once (the
    simulation prices an exchange, two kernels, every decode step)."""
    g = ranks if not per_node or per_node >= ranks else per_node
    latency = NCCL_LL_BASE_S["ring"] + NCCL_LL_HOP_S["nvlink"]["ring"] + (inter_alpha if g < ranks else 0.0)
    pairs = busiest_rank_pairs(tokens, ranks, experts, top_k)
    # the share of a rank's copies on its slowest link: NVLink's (g - 1) / n at ``bw``, or the NIC's (n - g) / n
    per_byte = (g - 1) / ranks / bw if g == ranks else max((g - 1) / ranks / bw, (ranks - g) / ranks / nic_bw)
    return [latency + pairs * nbytes * per_byte for nbytes in copy_bytes]


def deepep_ll_exchange_time(tokens, ranks: int, experts: int, top_k: int, dispatch_bytes: float, combine_bytes: float,
                            bw: float, per_node: Optional[int] = None, nic_bw: float = 0.0, inter_alpha: float = 0.0):
    """Seconds of one MoE layer's token exchange on an expert-parallel replica of ``ranks`` GPUs as vLLM's
    ``--all2all-backend deepep_low_latency`` runs it (vllm/model_executor/layers/fused_moe/deepep_ll_prepare_finalize.py
    ``DeepEPLLPrepareAndFinalize``: DeepEP's ``low_latency_dispatch`` then ``low_latency_combine``): the two kernels one
    after the other (``deepep_ll_kernel_time``), the tokens going at ``dispatch_bytes`` a copy (fp8 with a 4-byte scale
    per 128 channels where the model's weights are block fp8, the kernel's ``use_fp8``; else 16-bit) and the experts'
    outputs back at ``combine_bytes`` (16-bit). Unlike the all-gather the bytes grow with top-k and not with the
    replica's other tokens. DeepEP's internode kernels need NVSHMEM over InfiniBand / RoCE (``EP_ALL2ALL``'s ``needs``:
    not on EFA). Vectorised over ``tokens``.

    >>> round(float(deepep_ll_exchange_time(64.0, 8, 256, 8, 7168 + 7168 / 128 * 4, 2 * 7168, 4.5e11)) * 1e6, 2)
    17.59
    >>> round(float(deepep_ll_exchange_time(64.0, 16, 256, 8, 7392.0, 14336.0, 4.5e11, 8, 4e10, 1.5e-5)) * 1e6, 1)
    55.9
    """
    dispatch, combine = _ll_kernels(tokens, ranks, experts, top_k, (dispatch_bytes, combine_bytes), bw, per_node, nic_bw,
                                    inter_alpha)
    return dispatch + combine


def deepep_ll_kernels(im: "IterationModel", tokens) -> list:
    """(dispatch, combine) seconds of one MoE layer's DeepEP low-latency kernels on :class:`IterationModel` ``im`` for a
    step of ``tokens`` tokens (the replica's): ``deepep_ll_kernel_time`` at its copies' bytes and links."""
    return _ll_kernels(tokens, im.ep, im.experts, im.top_k, (im.dispatch_bytes, im.combine_bytes), im.ar_bw,
                       im.node_gpus, im.nic_bw, im.inter_alpha)


def deepep_normal_exchange_time(tokens, ranks: int, experts: int, top_k: int, dispatch_bytes: float,
                                combine_bytes: float, bw: float, per_node: Optional[int] = None, nic_bw: float = 0.0,
                                inter_alpha: float = 0.0, groups: int = 1, topk_groups: int = 1, sync_s: float = 0.0):
    """Seconds of one MoE layer's token exchange on an expert-parallel replica of ``ranks`` GPUs as DeepEP's normal
    (high-throughput) kernels run it: ``Buffer.dispatch`` then ``Buffer.combine`` (deepseek-ai/DeepEP README "Normal
    kernels": NVLink inside the node, RDMA across, "asymmetric-domain bandwidth forwarding"; DeepSeek-V3 report §3.2.2:
    a token crosses IB to each node holding one of its experts once, to the GPU of the same in-node index, and is then
    forwarded over NVLink; its node-limited routing, §2.1.2, sends a token to at most M = 4 nodes). Each rank sends its
    own ``tokens`` / ``ranks`` (the mean rank's) and the bytes are training's rule, planner.model.moe ``dispatch_bytes``
    with per-node deduplication: E[distinct remote nodes] = (n - 1)(1 - C(E - E/n, k) / C(E, k)) a token, capped by
    the group limit (``groups`` / ``topk_groups``: ``node_hit_probability``), and inside each node reached one copy to
    each GPU holding one of its experts. A row is ``dispatch_bytes`` going (fp8 + scales where the weights are block
    fp8: SGLang quantises before its normal dispatch) and ``combine_bytes`` back (16-bit); NVLink and the NIC run at
    once, the slower sets the time (planner.model.comm ``a2a_time``'s rule). Fixed cost: each kernel one NCCL LL step
    over NVLink (as ``deepep_ll_exchange_time``) and one network latency across nodes, plus ``sync_s``: normal-mode
    ``Buffer.dispatch`` has the CPU wait for the received-token count (DeepEP README "CPU-GPU synchronization";
    training's ``moe.MOE_SYNC_OPS`` host ops), which is also why decode steps, CUDA-graphed, run the low-latency kernels
    (``deepep_auto_exchange_time``). Vectorised over ``tokens``.

    >>> round(float(deepep_normal_exchange_time(64.0, 8, 256, 8, 7392.0, 14336.0, 4.5e11)) * 1e6, 2)  # vs LL's 17.59
    16.17
    >>> round(float(deepep_normal_exchange_time(16384.0, 32, 256, 8, 7392.0, 14336.0, 4.5e11, 8, 4e10, 1.5e-5,
    ...                                         8, 4)) * 1e3, 3)  # a DeepSeek-V3 prefill over 4 nodes; LL's: 1.767
    0.7
    """
    g = ranks if not per_node or per_node >= ranks else per_node
    latency = NCCL_LL_BASE_S["ring"] + NCCL_LL_HOP_S["nvlink"]["ring"] + (inter_alpha if g < ranks else 0.0)
    nvl, nic = _deduplicated_rows(ranks, g, experts, top_k, groups, topk_groups)
    row = ew.f64(tokens) / ranks * (dispatch_bytes + combine_bytes)  # a rank's own tokens, both ways
    t = row * nvl / bw
    if g < ranks:
        t = ew.maximum(t, row * nic / nic_bw)
    return 2.0 * latency + sync_s + t


@lru_cache(maxsize=None)
def _deduplicated_rows(ranks: int, per_node: int, experts: int, top_k: int, groups: int, topk_groups: int):
    """(NVLink, NIC) copies of one token a rank's normal-mode dispatch sends: planner.model.moe ``dispatch_bytes`` with
    per-node deduplication for a one-byte token (it is linear in the tokens and the row's bytes), cached per layout:
    the simulation prices a prompt step with it, where the rule's per-call combinatorics cost 0.14 ms."""
    nvl, nic = moe_dispatch_bytes(1.0, top_k, 1, 1.0, ranks, per_node, True, experts, groups, topk_groups)
    return float(np.asarray(nvl).reshape(-1)[0]), float(np.asarray(nic).reshape(-1)[0])


def deepep_auto_exchange_time(im: "IterationModel", tokens, prefill_tokens):
    """SGLang's ``--moe-a2a-backend deepep`` at its default ``--deepep-mode auto`` (sgl-project/sglang
    python/sglang/srt/layers/moe/utils.py ``DeepEPMode.resolve``: a batch with prompt (extend) tokens runs DeepEP's
    normal kernels, a decode-only one its low-latency ones; ``is_extend_in_batch`` is OR-reduced over the DP ranks, so
    one prefilling rank puts every rank of the step on the normal kernels, as the step's ``prefill_tokens`` here are the
    replica's; SGLang's large-scale EP post, lmsys.org/blog/2025-05-05-large-scale-ep: normal dispatch for prefill,
    low-latency for decode, which CUDA graphs need): ``deepep_normal_exchange_time`` on steps whose ``prefill_tokens``
    > 0, else ``deepep_ll_exchange_time``. Two-batch overlap (SGLang ``--enable-two-batch-overlap``, vLLM
    ``--enable-dbo``: server_args.py / ParallelConfig, both False by default) is not modelled: the exchange adds to the
    step, as at the engines' defaults (the post enables it: "27-35%" prefill throughput). Both kernels are priced at
    the mean rank's own tokens (the low-latency ones at the busiest receiver's pairs): a rank holding a whole prompt
    sends more than that, in every exchange alike (sgl52: not priced). Vectorised."""
    ll = deepep_ll_exchange_time(tokens, im.ep, im.experts, im.top_k, im.dispatch_bytes, im.combine_bytes, im.ar_bw,
                                 im.node_gpus, im.nic_bw, im.inter_alpha)
    normal = deepep_normal_exchange_time(tokens, im.ep, im.experts, im.top_k, im.dispatch_bytes, im.combine_bytes,
                                         im.ar_bw, im.node_gpus, im.nic_bw, im.inter_alpha, im.groups, im.topk_groups,
                                         im.normal_sync_s)
    return ew.where(ew.f64(prefill_tokens) > 0, normal, ll)


#: the hidden sizes vLLM's DeepEP low-latency kernels are compiled for; a model's is rounded up to the next
#: (vllm/model_executor/layers/fused_moe/prepare_finalize/deepep_ll.py ``SUPPORTED_HIDDEN_SIZES`` and
#: ``maybe_roundup_layer_hidden_size``), so a copy carries the rounded width and a wider model cannot run them
DEEPEP_LL_HIDDEN = (2048, 2560, 3072, 4096, 5120, 6144, 7168, 8192)


def deepep_ll_hidden(hidden: int) -> Optional[int]:
    """The width a DeepEP low-latency copy of a ``hidden``-wide token carries (``DEEPEP_LL_HIDDEN``), None over them.

    >>> deepep_ll_hidden(2048), deepep_ll_hidden(512), deepep_ll_hidden(2880), deepep_ll_hidden(12288)
    (2048, 2048, 3072, None)
    """
    return next((h for h in DEEPEP_LL_HIDDEN if h >= hidden), None)


@dataclass(frozen=True)
class All2All:
    """One token exchange an expert-parallel replica can run (``EP_ALL2ALL``): what the hardware needs for it
    (planner.model.moe ``DispatcherNeeds``, the training dispatchers' rule; None: NCCL, anywhere), the widest hidden
    size its kernels take (None: any), its seconds per MoE layer for a step's tokens (and its prompt tokens) on an
    :class:`IterationModel`, and the engines that offer it (None: every one the planner sizes)."""
    needs: Optional[DispatcherNeeds]
    seconds: Callable
    max_hidden: Optional[int] = None
    engines: Optional[tuple] = None
    owner: str = "vLLM"  # whose kernels' hidden-size limit ``max_hidden`` is, in the refusal
    # SMs its kernels hold on a step with prompt tokens while the other micro-batch of a two-batch overlap computes
    # (``IterationModel._overlapped``): DeepEP's normal kernels ``Buffer.num_sms``; the low-latency kernels none (their
    # hook mode, DeepEP README: "does not occupy any SM resource"; the post: decode communication kernels "either fully
    # utilize SMs (during send/receive) or none (during inflight waiting)")
    prompt_sms: int = 0

    def refusal(self, name: str, gpu, m, engine: Optional[str] = None) -> Optional[str]:
        """Why ``gpu`` cannot run this exchange for model ``m`` (on ``engine``, where given), or None."""
        if self.engine_refusal(name, engine):
            return self.engine_refusal(name, engine)
        if self.max_hidden is not None and m.hidden > self.max_hidden:
            return (f"{self.owner}'s {name} kernels are built for hidden sizes up to {self.max_hidden:,}; {m.name} has "
                    f"{m.hidden:,}")
        return self.needs.gpu_refusal(name, gpu) if self.needs is not None else None

    def engine_refusal(self, name: str, engine: Optional[str]) -> Optional[str]:
        """Why ``engine`` (``serving.engine``) does not offer this exchange, or None (None: any engine)."""
        if engine is None or self.engines is None or engine in self.engines:
            return None
        return f"{name} is {' / '.join(self.engines)}'s token exchange, not {engine}'s"

    def span_refusal(self, name: str, hw) -> Optional[str]:
        """Why a replica of this exchange cannot span the nodes of hardware option ``hw`` (its fabric,
        ``HardwareOption.network_fabric``), or None (NCCL runs over any; serveep49)."""
        return self.needs.fabric_refusal(name, hw.network_fabric) if self.needs is not None else None


#: vLLM's ``--all2all-backend`` choices the planner sizes (docs.vllm.ai "Expert Parallel Deployment", backend
#: selection guide), in ``vocab.SERVE_ALL2ALL``'s order: the default all-gather / reduce-scatter, anywhere; DeepEP's
#: low-latency kernels, Hopper and later with NVLink (DeepEP's setup.py builds SM80 without NVSHMEM, which its
#: low-latency kernels run on), across nodes over the fabrics DeepEP's RDMA runs on (training's DeepEP rule,
#: planner.model.moe ``DISPATCHER_NEEDS``: InfiniBand / RoCE, not EFA); SGLang's DeepEP in its default auto mode,
#: normal kernels for prompt steps and low-latency ones for decode steps (``deepep_auto_exchange_time``; SGLang only:
#: vLLM runs one DeepEP mode for every step), with the low-latency kernels' needs. pplx-kernels (vLLM's ``pplx``,
#: single-node in the v0.12 guide) is not sized.
_DEEPEP_LL_NEEDS = DispatcherNeeds("DeepEP", 90, DISPATCHER_NEEDS["deepep"].fabrics,
                                   "deepseek-ai/DeepEP README and setup.py: the low-latency kernels need NVSHMEM, built "
                                   "for SM90, and RDMA (InfiniBand / RoCE) across nodes")
EP_ALL2ALL = {
    "allgather_reducescatter": All2All(None, lambda im, tokens, prefill: ep_exchange_time(
        tokens, im.ep, im.top_k, im.act_bytes, im.ar_bw, im.node_gpus, im.nic_bw, im.inter_alpha)),
    "deepep_low_latency": All2All(
        _DEEPEP_LL_NEEDS,
        lambda im, tokens, prefill: deepep_ll_exchange_time(tokens, im.ep, im.experts, im.top_k, im.dispatch_bytes,
                                                            im.combine_bytes, im.ar_bw, im.node_gpus, im.nic_bw,
                                                            im.inter_alpha), max_hidden=DEEPEP_LL_HIDDEN[-1]),
    # (its decode steps run DeepEP's low-latency kernels, whose compiled hidden sizes SGLang calls as vLLM does)
    "deepep": All2All(_DEEPEP_LL_NEEDS, deepep_auto_exchange_time, max_hidden=DEEPEP_LL_HIDDEN[-1],
                      engines=("sglang",), owner="SGLang", prompt_sms=DEEPEP_NUM_SMS),
}


@dataclass(frozen=True)
class BatchOverlap:
    """One engine's two-batch overlap on an expert-parallel replica (``BATCH_OVERLAP``): every rank splits its step's
    tokens into two micro-batches and runs one's MoE dispatch / combine while the other computes (DeepSeek's
    profile-data design; lmsys.org/blog/2025-05-05-large-scale-ep "Two-batch Overlap"). ``flag``: the engine's switch
    (off by default in both); ``backends``: the token exchanges (``EP_ALL2ALL``) it runs over; ``decode_min`` /
    ``prompt_min``: the tokens a rank's decode-only step / step with prompt tokens needs before it splits; ``mixed``:
    whether a step in which some ranks prefill while others decode is split; ``prompt_backends``: the exchanges whose
    prompt steps it splits (None: every one of ``backends``); ``decode_windows``: on a decode-only step each of the
    low-latency kernels is hidden only behind the work its engine schedules while it is in flight
    (``IterationModel._decode_windows``), not behind the whole MoE layer's. Every DP rank must split for any to (the
    ranks step together): the least rank's tokens are tested."""
    flag: str
    backends: tuple
    source: str
    decode_min: int = 1
    prompt_min: int = 1
    mixed: bool = False
    prompt_backends: Optional[tuple] = None
    decode_windows: bool = False

    def refusal(self, engine: str, backend: Optional[str]) -> Optional[str]:
        """Why this engine's overlap cannot run on a replica exchanging tokens by ``backend`` (None: no EP), or None."""
        if backend is None:
            return f"{engine}'s {self.flag} splits an expert-parallel replica's steps; this option is tensor-parallel"
        if backend not in self.backends:
            return (f"{engine}'s {self.flag} runs over {' / '.join(self.backends)}, not {backend} ({self.source})")
        return None

    def splits(self, im: "IterationModel", o, decode_seqs, prefill_tokens, prefill_chunk=None):
        """Whether the engine splits a step of ``decode_seqs`` decodes and ``prefill_tokens`` prompt tokens (the
        replica's; ``prefill_chunk``: a prefilling engine's prompt tokens, None: one engine holds them all, as
        ``IterationModel._busiest`` reads them) on ``im``: True / False on plain numbers, a boolean array otherwise.
        Every rank must split: a rank's decodes are the least rank's floor(B / ep); ceil(T / c) engines prefill, each
        its chunk beside its decodes, the rest decode only (an idle rank: SGLang counts it a decode rank; vLLM runs a
        one-token dummy batch, under either threshold). A step with prompts splits where every prefilling rank holds
        ``prompt_min`` tokens and either every rank prefills or, where the engine splits mixed steps, the others hold
        ``decode_min`` decodes; SGLang's (not ``mixed``) only where every rank prefills and none decodes."""
        dec, pf = o.f64(decode_seqs), o.f64(prefill_tokens)
        per_dec = -o.ceil(-dec / im.ep - TILE_SLACK)  # the least rank's decodes, floor(B / ep)
        if prefill_chunk is None:  # one engine's prompt tokens: the other ranks decode or idle
            chunk, every = pf, im.ep <= 1
        else:
            c = o.f64(prefill_chunk)
            chunk, every = o.minimum(pf, c), o.ceil(ew.div0(pf, c) - TILE_SLACK) >= im.ep
        ok_decode = per_dec >= self.decode_min
        ok_prompt = (chunk + per_dec >= self.prompt_min) & (every | (ok_decode & self.mixed))
        if not self.mixed:  # a step whose ranks differ in mode (prefill beside decode) runs whole
            ok_prompt = ok_prompt & (dec <= 0)
        if self.prompt_backends is not None and im.all2all not in self.prompt_backends:
            ok_prompt = ok_prompt & False
        return ew.where(pf > 0, ok_prompt, ok_decode)


#: the two-batch overlaps the planner sizes, one an engine (``vocab.SERVE_OVERLAP`` "two_batch"). SGLang
#: ``--enable-two-batch-overlap`` (server_args.py, False by default; python/sglang/srt/two_batch_overlap.py
#: ``TboDPAttentionPreparer``: a decode batch is split at half its sequences, an extend one at half its tokens'
#: sum; the DP ranks' forward modes must agree (an idle rank counts as decode) and an extend batch whose DeepEP mode
#: resolves to low-latency is not split; no batch-size threshold ("TODO: may smartly disable TBO when batch size is
#: too small")): over its DeepEP (``deepep``, auto mode) and DeepEP's low-latency kernels, decode steps only there.
#: vLLM ``--enable-dbo`` (vllm/config/parallel.py ``enable_dbo`` False, ``dbo_decode_token_threshold`` 32,
#: ``dbo_prefill_token_threshold`` 512; vllm/v1/worker/ubatch_utils.py ``check_ubatch_thresholds``: a uniform-decode
#: step splits at >= 32 tokens, one with prompts at >= 512; vllm/config/vllm.py asserts the all2all backend is
#: deepep_low_latency or deepep_high_throughput, the second not sized here; dp_utils: the ranks split only together).
#: TensorRT-LLM: none sized.
BATCH_OVERLAP = {
    # (its decode steps run python/sglang/srt/operations_strategy.py ``_compute_moe_deepseek_blog_decode``: five stages
    # a layer, the second micro-batch two behind, so a dispatch is in flight over only a few small ops: ll53)
    "sglang": BatchOverlap("--enable-two-batch-overlap", ("deepep", "deepep_low_latency"),
                           "sglang two_batch_overlap.py: DeepEP's dispatch / combine overlapped",
                           decode_min=0, prompt_backends=("deepep",), decode_windows=True),
    "vllm": BatchOverlap("--enable-dbo", ("deepep_low_latency",),
                         "vllm/config/vllm.py: microbatching needs a DeepEP all2all backend",
                         decode_min=32, prompt_min=512, mixed=True),
}


def overlap_refusal(engine: str, backend: Optional[str]) -> Optional[str]:
    """Why ``engine`` cannot split an option exchanging tokens by ``backend`` into two overlapped micro-batches
    (``BATCH_OVERLAP``), or None."""
    if engine not in BATCH_OVERLAP:
        return f"{engine} has no two-batch overlap the planner sizes (SGLang and vLLM do)"
    return BATCH_OVERLAP[engine].refusal(engine, backend)


def compute_peak(hw, precision: str) -> tuple[float, str]:
    """(reachable FLOP/s per GPU, dtype) the GEMMs of hardware option ``hw`` run at; falls back to bf16/fp16 math
    (weight-only quant) where the catalog row has no peak for the precision. The rate is training's, from its one
    owner (planner.model.physics.reachable_peak): the catalog peak at the clock the part sustains at the option's
    power limit (``physics.clock_fraction``: GB200 / GB300 at 0.940 of their quoted peaks, the measured matmul
    ratio over the HGX B200; a power-capped part lower by the clock law). The clock is the GPU's, not the stack's:
    a vLLM or TensorRT-LLM GEMM runs on the same SMs at the same clock, so only the engine's efficiencies
    (planner.model.serving_efficiency) are serving's own. Until serve40 serving read the quoted peak
    (``gpu.peak_flops``), so GB200 served prefill 6% faster than training priced the same part. A part whose row
    quotes no FP8 peak but has FP8 tensor cores (H100 SXM 96 GB: ``physics.derived_fp8_peak``) computes fp8 at the
    peak training derives for it, 2x its 16-bit one, where serving took it for a part without FP8 (weight-only)."""
    d = _peak_dtype(hw.gpu, precision)
    if d is None:
        raise InputError("serving.precision", f"{hw.gpu.name} has {peak_refusal(hw.gpu, precision)[0]}")
    return reachable_peak(hw, d), d


def _peak_dtype(gpu, precision: str) -> Optional[str]:
    """The dtype ``compute_peak`` computes ``precision`` at on ``gpu``: the precision's own, else bf16, else fp16 (the
    first its catalog row has a peak for); None where it has none of them."""
    for d in _peak_order(precision):
        if d in gpu.peak_flops or (d == "fp8" and derived_fp8_peak(gpu) is not None):
            return d
    return None


def _peak_order(precision: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((COMPUTE_DTYPE[precision], "bf16", "fp16")))


def peak_refusal(gpu, precision: str) -> Optional[tuple[str, str]]:
    """Why no option on catalog accelerator ``gpu`` computes ``precision``: (the rule, the GPU's name) -- a caller
    names the GPUs one rule leaves out together, as ``engine_refusal``'s -- or None where ``compute_peak`` has a
    peak. A user's catalog row may quote no peak at all (every peak column is optional); until qa59 one such row
    among ``constraints.instances`` refused the whole ``serve`` ("NoPeak-GPU has no bf16, bf16 or fp16 peak") where
    ``recommend`` left it out and planned on the others."""
    if _peak_dtype(gpu, precision) is not None:
        return None
    order = _peak_order(precision)
    return f"no {', '.join(order[:-1])} or {order[-1]} peak in the catalog", gpu.name


def rate_words(hw, precision: str) -> str:
    """The compute rate a serving option of ``hw`` is priced at, in words, as serve prints it beside the answer:
    "GB200-B200 2,349 TFLOP/s bf16 (0.940 of the quoted 2,500: sustained clock)", "H100-SXM-80GB 989 TFLOP/s bf16
    (quoted peak)" (``compute_peak`` over the datasheet peak, ``physics.datasheet_peak``; a power limit the option
    runs at is named)."""
    rate, dtype = compute_peak(hw, precision)
    quoted = datasheet_peak(hw.gpu, dtype)
    limit = getattr(hw, "power_limit_w", None)
    what = "quoted" if dtype in hw.gpu.peak_flops else "derived"  # derived: 2x the 16-bit (physics.datasheet_peak)
    why = (f"{what} peak" + ("" if what == "quoted" else ", 2x the 16-bit") if rate >= quoted * (1.0 - 1e-9) else
           f"{rate / quoted:.3f} of the {what} {quoted / 1e12:,.0f}: sustained clock"
           + (f" at {fmt_given(limit)} W" if limit else ""))
    return f"{hw.gpu.name} {rate / 1e12:,.0f} TFLOP/s {dtype} ({why})"


def mla_context_upproj_flops(m) -> float:
    """FLOPs per cached context token of a prefill chunk that comes after computed tokens (an earlier chunk of
    the prompt, or a prefix-cache hit), whole model: multi-head latent attention prefills "compute friendly",
    an MHA over K and V up-projected from the cached latent, so vLLM re-projects every cached token through
    kv_b_proj for every chunk that attends to it (vllm/v1/attention/backends/mla/common.py
    ``_compute_prefill_context``: ``kv_b_proj`` of each workspace chunk of ``cache_kv_c``): 2 x kv_lora_rank x
    heads x (qk_nope_head_dim + v_head_dim) per attention layer — DeepSeek-V3 2.05 GFLOP a cached token, a 32K
    prompt in 2,048-token chunks re-projects 245,760 of them (~+10% of its prefill). 0 without MLA (K and V are
    cached as such)."""
    return 2.0 * mla_kv_b_params(m)


def prefill_pairs(computed, tokens):
    """(query, key) pairs of a causal prefill chunk of ``tokens`` new tokens after ``computed`` ones (a prefix-cache
    hit, earlier chunks of the prompt): tokens x (computed + (tokens + 1) / 2); a whole prompt of N alone
    N (N + 1) / 2. THE count of the serving model, analytic and simulated: :meth:`IterationModel.prompt_prefill`
    (``steady_iteration``, ``prefill_time``, ``llm_ttft``'s chunks and budget share, ``offline_run``) and the
    simulated engine step (planner/simulate/serving.py ``Engine.run``) give it to :meth:`IterationModel.time` as
    ``prefill_ctx``. Source: FlashAttention's causal mask with a prior context is "aligned to the bottom right corner
    of the attention matrix" (Dao-AILab/flash-attention, flash_attn/flash_attn_interface.py, ``flash_attn_func``'s
    docstring: with seqlen_q 2 and seqlen_k 5 the mask is [[1 1 1 1 0], [1 1 1 1 1]]), the kernel vLLM prefills a
    chunk after cached tokens through (vllm/v1/attention/backends/flash_attn.py, ``causal=True`` with the cached
    keys' ``seqused_k``), so the chunk's query i (0-based) attends computed + i + 1 keys, itself included:
    tokens x computed + tokens (tokens + 1) / 2 in all. Until srv44 the analytic side left the diagonal's tokens / 2
    out (c^2 / 2) and the simulation wrote its own c (c + 1) / 2. Vectorised.

    >>> prefill_pairs(0.0, 4096.0) == 4096 * 4097 / 2, prefill_pairs(1000.0, 100.0)
    (True, 105050.0)
    """
    return tokens * (computed + (tokens + 1.0) / 2.0)


@dataclass(frozen=True)
class IterationModel:
    """THE iteration-time model of one LLM engine step on a TP group, as a function of the batch
    composition. The analytic planner (``_llm_iteration``, ``prefill_time``) and the serving
    simulation (planner/simulate/serving.py) both call :meth:`time`; there is no second copy.

    A step runs ``prefill_tokens`` prompt tokens (chunks of one or more prompts) and one new token
    for each of ``decode_seqs`` running sequences. Roofline (Williams et al. 2009; Yuan et al. 2024
    §3): ``max(FLOPs / (peak x gemm_eff), bytes / (HBM x hbm_eff))`` + 2 TP all-reduces per layer
    (``tp_allreduce_time``) + a GPU-side gap per kernel (``KERNELS_PER_LAYER`` per layer):

    * FLOPs = lin x (decode_seqs + prefill_tokens) + attn_dec x decode_ctx + attn x prefill_ctx, all / tp,
      where lin = 2 x weights each token multiplies (``linear_flops_per_token``) and attn =
      4 x q_dim x layers per (query token, context token) pair (``attention_flops_per_token``); attn_dec
      the same at ``decode_score_dim`` (= attn but for MLA, which decodes absorbed over its latent); the
      linears every rank holds whole (``tp_replicated_params``: MLA down-projections, MoE routers) run on
      every rank, lin_rep x (tp - 1) more;
      ``decode_ctx`` = the sum of the decode sequences' contexts, ``prefill_ctx`` = the sum over
      prefill tokens of the context each attends to (a chunk of c tokens after p computed ones:
      c x (p + (c + 1)/2); a whole prompt of P: P (P + 1)/2, the causal half and its diagonal; ``prefill_pairs``);
    * bytes = the weights once per step (MoE: only the experts some token routes to,
      E x (1 - (1 - k/E)^tokens) per MoE layer) + kv x (decode_ctx + prefill_tokens) — the decode
      sequences' KV read and the new prefill KV written.

    An expert-parallel replica (``ep`` > 1: ``ep`` GPUs, data-parallel attention, ``serving_memory.ReplicaSplit``)
    takes the same step keywords for the whole replica (its ``ep`` DP ranks' sequences together) and times one rank
    with the replica's work spread evenly over them: FLOPs / ep (each rank's own tokens through the dense weights, its
    E / ep experts on the tokens of every rank routed to them), the GEMM rows padded per rank (ceil(tokens / ep /
    tile) tiles), ``dense_bytes`` the whole non-expert weights (every rank reads them), ``expert_bytes`` / ``kv_bytes``
    a rank's mean share, no replicated linears (a rank multiplies only its own tokens) and, in place of the TP
    all-reduces, one dispatch and one combine per MoE layer (``ep_exchange_time``). The step is the busiest rank's
    (``_busiest``, serveep48b): ceil(B / ep) of the B decodes (their attention and KV read), whole prompt chunks (one
    DP engine's own, serveep49b), and the expected maximum of the routed pairs and touched experts over the ranks
    (``busiest_rank_pairs``, ``busiest_rank_experts``); until serveep48b every rank was taken at the mean.

    Local (sliding-window / chunked) layers (``window`` set; ``attn_local`` of the attention FLOPs
    and ``kv_local`` of the KV bytes per token are theirs): a query there attends to at most w
    keys (``planner.model.flops.local_keys``, the rule training's ``attention_keys`` uses), so
    their share of the decode pairs and of the decode KV read is B x min(ctx, w) at the decode
    sequences' mean context (exact when every sequence is on the same side of w, an upper bound
    otherwise: min is concave), and their share of the prefill pairs is ``prefill_local_ctx``
    (the causal pairs inside the window; default min(prefill_ctx, prefill_tokens x w)).

    >>> im = IterationModel(lin_flops=2e9, attn_flops=1e5, dense_bytes=2e9, expert_bytes=0.0,
    ...                     moe_layers=0, experts=1, top_k=1, kv_bytes=1e5, flops_rate=5e14,
    ...                     bytes_rate=2e12, act_bytes=8e3, layers=32, tp=1, ar_bw=1e11,
    ...                     ar_alpha=8e-6, kernel_s=0.0)
    >>> round(float(im.time(decode_seqs=1, decode_ctx=1000)) * 1e3, 3)  # memory-bound decode (ms)
    1.05
    >>> round(float(im.time(prefill_tokens=4096, prefill_ctx=4096**2 / 2)) * 1e3, 2)  # compute-bound prefill
    18.06
    """

    lin_flops: float  # FLOPs per token through the weights, whole model (not / tp)
    attn_flops: float  # FLOPs per (query, context) token pair, whole model (not / tp)
    dense_bytes: float  # bytes of weights every step reads, per GPU (MoE: all but the experts)
    expert_bytes: float  # bytes of one expert of one MoE layer, per GPU
    moe_layers: int
    experts: int
    top_k: int
    kv_bytes: float  # KV-cache bytes per token per GPU
    flops_rate: float  # achieved FLOP/s per GPU (reachable peak x gemm_max)
    bytes_rate: float  # achieved HBM bytes/s per GPU (bandwidth x hbm)
    act_bytes: float  # all-reduced activation bytes per token (hidden x ACTIVATION_BYTES_BF16)
    layers: int
    tp: int
    ar_bw: float
    ar_alpha: float
    kernel_s: float  # kernel gaps per step: KERNELS_PER_LAYER x layers x gap
    dtype: str = "bf16"
    attn_rate: Optional[float] = None  # achieved attention-core FLOP/s per GPU (None: flops_rate)
    tile_rows: int = 1  # GEMM rows are padded to whole tiles of this many (serving_efficiency.TILE_ROWS)
    host_s: float = 0.0  # host/scheduler seconds per step (ServingEfficiency.host_s)
    window: Optional[float] = None  # the local layers' window / chunk (tokens); None: no local layers
    local_kind: str = "sliding"  # "sliding" | "chunked"
    attn_local: float = 0.0  # share of ``attn_flops`` (per pair at full context) in the local layers
    kv_local: float = 0.0  # share of ``kv_bytes`` in the local layers
    prior_flops: float = 0.0  # FLOPs per cached context token a prefill chunk up-projects (MLA), not / tp
    lin_flops_replicated: float = 0.0  # of lin_flops, through weights every TP rank holds whole (tp_replicated_params)
    attn_flops_decode: Optional[float] = None  # FLOPs per decode (query, context) pair (MLA: absorbed); None: attn_flops
    # the engine's max_model_len: the model's stated context (ModelSpec.context_length), which no request's prompt +
    # output exceeds (serving_settings.length_caps; the simulation draws within it); None: no stated context
    max_model_len: Optional[int] = None
    ep: int = 1  # the expert-parallel ranks (data-parallel attention) of the replica; 1: a TP replica
    routed_flops: float = 0.0  # of lin_flops, FLOPs per token through the routed experts (whole model, not / tp)
    all2all: str = "allgather_reducescatter"  # an EP replica's token exchange (``EP_ALL2ALL``)
    dispatch_bytes: float = 0.0  # bytes of one (token, expert) copy an all-to-all dispatch sends (DeepEP low latency)
    combine_bytes: float = 0.0  # and of one copy its combine sends back
    # an EP replica across nodes (serveep49): its GPUs on each node (0: one node), a GPU's achieved NIC bytes/s
    # (``HardwareOption.inter_bw_per_gpu``) and the comm model's inter-node latency (``Efficiency.inter_alpha_s``)
    node_gpus: int = 0
    nic_bw: float = 0.0
    inter_alpha: float = 0.0
    # DeepSeek-V3-style group-limited routing (``MoESpec.groups`` / ``topk_groups``: a token's experts in its chosen
    # groups only) and DeepEP normal mode's host sync a layer (``deepep_normal_exchange_time``)
    groups: int = 1
    topk_groups: int = 1
    normal_sync_s: float = 0.0
    batching: str = "chunked"  # the engine's step composition (``ServingEfficiency.batching``; ``lumped_parts``)
    overlap: Optional[BatchOverlap] = None  # an EP replica's two-batch overlap (``BATCH_OVERLAP``); None: off
    prompt_slow: float = 0.0  # its compute's slowdown beside a prompt step's exchange (``All2All.prompt_sms``)

    @classmethod
    def build(cls, m, hw, tp: int, precision: str, kv_precision: str, engine: str = "vllm",
              eff: Optional[ServingEfficiency] = None, ep: bool = False,
              all2all: Optional[str] = None, overlap: bool = False) -> "IterationModel":
        """The coefficients of model ``m`` on hardware option ``hw`` with ``tp`` GPUs per replica,
        served by ``engine`` (its :class:`~planner.model.serving_efficiency.ServingEfficiency`, or
        ``eff`` when given): GEMMs at the reachable bf16 peak (``compute_peak``: training's, at the sustained clock)
        x the engine's reachable FP8 speed-up (fp8 on a GPU with fp8 units) x the GPU's ``gemm_max``; attention at
        the reachable bf16 peak x ``attn_fwd`` x the
        engine kernel's rate at the model's head dim relative to 128 (``ServingEfficiency.attn_kernel``,
        planner.model.physics.attention_head_dim_rel: 0.77 for FA3 at head dim 64 on H100/H200, 1 elsewhere);
        HBM at the engine's achieved fraction. ``ep``: the ``tp`` GPUs are an expert-parallel replica
        (``serving_memory.ReplicaSplit``; MoE models only) exchanging tokens by ``all2all`` (``EP_ALL2ALL``; None:
        vLLM's default); a DeepEP dispatch copy is fp8 with a 4-byte scale per 128 channels where the weights are fp8
        (vLLM's ``use_fp8_dispatch`` with block-fp8 weights), else 16-bit, its combine 16-bit, both at the hidden
        size rounded up to the kernels' (``deepep_ll_hidden``). ``overlap``: the EP replica's steps split into two
        overlapped micro-batches as ``engine`` runs it (``BATCH_OVERLAP``; refused where it cannot: ``overlap_refusal``)."""
        se = eff or engine_efficiency(engine)
        sp = ReplicaSplit(tp, ep)
        if overlap and (why := overlap_refusal(engine, (all2all or "allgather_reducescatter") if sp.ep else None)):
            raise InputError("serving.batch_overlap", why)
        pc = count_params(m)
        wb = quantised_weight_bytes(precision, m.hidden)  # the experts are quantised linears
        # an MXFP4 expert as the engine's kernel stores and multiplies it (Marlin's padded dims; 1 elsewhere)
        pad = mxfp4_expert_pad(m, precision, se, hw.gpu, sp.expert_tp)
        peak, dtype = compute_peak(hw, precision)
        bf16 = compute_peak(hw, "bf16")[0]
        if dtype in ("fp8", "int8"):  # the engine's reachable speed-up, not the catalog's 2x
            peak = bf16 * min(se.fp8, peak / bf16)
        e = m.moe
        expert_total = routed_expert_params(m, pc)
        # weight-only kernels (int4; fp8 with no fp8 units) pad the batch to Marlin's 16-row tiles
        weight_only = precision not in ("bf16", "fp16") and dtype in ("bf16", "fp16")
        # attention at the engine kernel's rate for the model's head dim (physics.attention_head_dim_rel:
        # at head dim 64 an H100's exponentials bind as much as its matmuls; 1 at >= 128 and off Hopper)
        hd_rel = attention_head_dim_rel(se.attn_kernel, hw.gpu.name, score_dim(m) / m.heads)[0]
        n_local = m.local_layers if (m.sliding_window and m.mla is None) else 0
        local = dict(window=float(m.sliding_window), local_kind=m.local_attention,
                     attn_local=n_local / (m.attention_layers + m.mtp_layers),
                     kv_local=n_local / m.layers) if n_local else {}
        routed_flops = 2.0 * pc.n_moe_layers * e.top_k * pc.expert if e is not None else 0.0
        ll_width = float(deepep_ll_hidden(m.hidden) or m.hidden)  # a DeepEP low-latency copy's channels
        tp_bw = replica_link_bw(hw, tp)[0]  # the TP / EP group's links (a meshed node: its members' only)
        return cls(lin_flops=float(sum(linear_flops_per_token(m).values())) + routed_flops * (pad - 1.0),
                   attn_flops=float(attention_flops_per_token(m, 1.0)),
                   # a decode pair at the engine's decode score width (MLA: the absorbed MQA over the latent)
                   attn_flops_decode=float(attention_flops_per_token(m, 1.0)) * decode_score_dim(m) / score_dim(m),
                   dense_bytes=weight_bytes_per_gpu(m, precision, tp, ep=sp.ep) - expert_total * wb / tp,
                   # data-parallel attention: a rank multiplies only its own tokens, through weights it holds whole
                   lin_flops_replicated=0.0 if sp.ep else 2.0 * sum(tp_replicated_params(m)),
                   prior_flops=mla_context_upproj_flops(m),
                   expert_bytes=(pc.expert * wb * pad / tp) if e is not None else 0.0,
                   moe_layers=int(pc.n_moe_layers) if e is not None else 0,
                   experts=e.experts if e is not None else 1, top_k=e.top_k if e is not None else 1,
                   kv_bytes=kv_bytes_per_token(m, kv_precision, sp.attn_tp, sp.dp), flops_rate=peak * hw.eff.gemm_max * se.compute,
                   bytes_rate=hw.gpu.hbm_bw * se.hbm, act_bytes=m.hidden * ACTIVATION_BYTES_BF16,
                   layers=m.layers, tp=tp, ar_bw=tp_bw, ar_alpha=hw.eff.intra_alpha_s,
                   kernel_s=KERNELS_PER_LAYER * m.layers * getattr(hw.eff, "kernel_gap_s", 2e-6),
                   dtype=dtype, attn_rate=bf16 * hw.eff.attn_fwd * se.compute * hd_rel,
                   tile_rows=WEIGHT_ONLY_TILE_ROWS if weight_only else TILE_ROWS, host_s=se.host_s,
                   max_model_len=getattr(m, "context_length", None), ep=sp.dp, routed_flops=routed_flops * pad,
                   all2all=all2all or "allgather_reducescatter",
                   dispatch_bytes=(ll_width * (1.0 + 4.0 / 128) if precision == "fp8"
                                   else ll_width * ACTIVATION_BYTES_BF16),
                   combine_bytes=ll_width * ACTIVATION_BYTES_BF16,
                   node_gpus=min(tp, hw.gpus_per_node) if sp.ep and tp > hw.gpus_per_node else 0,
                   nic_bw=hw.inter_bw_per_gpu if sp.ep and tp > hw.gpus_per_node else 0.0,
                   inter_alpha=hw.eff.inter_alpha_s if sp.ep and tp > hw.gpus_per_node else 0.0,
                   groups=e.groups if e is not None else 1,
                   topk_groups=e.topk_groups if e is not None else 1,
                   normal_sync_s=MOE_SYNC_OPS * hw.eff.launch_s, batching=se.batching,
                   overlap=BATCH_OVERLAP[engine] if overlap else None,
                   prompt_slow=comm_sm_slowdown(hw.eff.sm_count, EP_ALL2ALL[all2all or "allgather_reducescatter"]
                                                .prompt_sms), **local)

    @classmethod
    def constant(cls, seconds: float) -> "IterationModel":
        """Every step takes ``seconds`` whatever the batch (for queueing-theory checks).

        >>> float(IterationModel.constant(0.02).time(decode_seqs=64, decode_ctx=1e5))
        0.02
        """
        return cls(lin_flops=0.0, attn_flops=0.0, dense_bytes=0.0, expert_bytes=0.0, moe_layers=0,
                   experts=1, top_k=1, kv_bytes=0.0, flops_rate=1.0, bytes_rate=1.0, act_bytes=0.0,
                   layers=1, tp=1, ar_bw=1.0, ar_alpha=0.0, kernel_s=float(seconds))

    #: ``prefill_pairs`` on the model, for the simulation's engine step (planner/simulate/serving.py sits before
    #: workloads in the import order and holds only the model): one count, not a second copy
    prefill_pairs = staticmethod(prefill_pairs)

    def local_pairs(self, computed, tokens):
        """(query, key) pairs one local layer computes prefilling ``tokens`` tokens after ``computed``
        ones (causal, inside the window): F(computed + tokens) - F(computed), F(s) = s x
        ``local_keys(s, causal)`` (s^2/2 up to w, s w - w^2/2 past it; chunked s min(s, w)/2) plus the diagonal
        ``prefill_pairs`` counts (each query attends to itself: FlashAttention's bottom-right causal mask, its
        ``window_size`` for sliding layers), min(s, w)/2 sliding and s/2 chunked (each chunk a causal block of its
        own), so a window over the whole prompt counts the global layers' ``prefill_pairs`` and F is exact for
        sliding layers (chunked: at whole chunks)."""
        def f(x):
            x = ew.f64(x)
            safe = ew.maximum(x, 1.0)
            diag = x / 2 if self.local_kind == "chunked" else ew.minimum(x, self.window) / 2
            return ew.where(x > 0, x * local_keys(safe, self.window, self.local_kind, causal_half=True) + diag, 0.0)
        return f(ew.f64(computed) + tokens) - f(computed)

    def prompt_prefill(self, computed, tokens, prompts=1.0) -> dict:
        """The prefill keywords of :meth:`time` / :meth:`parts` for ``prompts`` prompts' worth (a mean, may be
        fractional: B / O a steady step, Little's law) each prefilling ``tokens`` new tokens after ``computed``
        cached ones: their tokens, pairs (``prefill_pairs``), prior context (MLA re-projects it) and, with local
        layers, the local layers' pairs (:meth:`local_pairs`). One place for the prompt-prefill terms the analytic
        serving model gave in four (``steady_iteration``, ``prefill_time``, serving.py's ``offline_run`` and
        ``llm_ttft``, until serve43c); on an expert-parallel replica also ``prefill_chunk``, one prompt's ``tokens``
        (a prompt is one DP engine's: ``_busiest``). Vectorised."""
        out = dict(prefill_tokens=prompts * tokens, prefill_ctx=prompts * prefill_pairs(computed, tokens),
                   prefill_prior=prompts * computed)
        if self.ep > 1:  # one prompt's chunk is one DP engine's (``_busiest``)
            out["prefill_chunk"] = tokens
        if self.window:
            out["prefill_local_ctx"] = prompts * self.local_pairs(computed, tokens)
        return out

    def parts(self, decode_seqs=0.0, decode_ctx=0.0, prefill_tokens=0.0, prefill_ctx=0.0,
              prefill_local_ctx=None, prefill_prior=0.0, prefill_chunk=None) -> dict:
        """compute / memory / comm / kernels seconds and ``step`` (their roofline sum); arrays welcome.
        ``prefill_local_ctx``: the local layers' prefill pairs (:meth:`local_pairs`; models with
        local layers only). ``prefill_prior``: the computed tokens before each prefill chunk, summed over
        the chunks (MLA re-projects them: ``mla_context_upproj_flops``). ``prefill_chunk``: an expert-parallel replica's
        largest prompt chunk in the step, the most one DP engine takes of a prompt (``_busiest``; None: the step's
        prompt tokens are one engine's)."""
        step, t_compute, t_memory, t_comm, flops = self._terms(decode_seqs, decode_ctx, prefill_tokens, prefill_ctx,
                                                               prefill_local_ctx, prefill_prior, prefill_chunk,
                                                               want_flops=True)
        return dict(step=step, compute=t_compute, memory=t_memory, comm=t_comm, kernels=self.kernel_s,
                    host=self.host_s, flops=flops, dtype=self.dtype)

    def _terms(self, decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, prefill_local_ctx, prefill_prior,
               prefill_chunk=None, want_flops: bool = False, whole: bool = False) -> tuple:
        """(step, compute, memory, comm, flops) of :meth:`parts`: a tuple, so :meth:`time` (the simulator's call,
        once per engine step) builds no dict; ``flops`` (which the step does not need) None unless ``want_flops``.
        ``whole``: the step unsplit even where the replica's two-batch overlap would split it (``_overlapped``)."""
        # (the simulator calls this once per engine step or decode span: numpy's overhead on scalars was most of
        # the call, so plain numbers stay plain floats through planner.model.ew -- the same formula, the same values;
        # the operations picked once a call, ``ew.ops``, not tested per operation: srvspeed44)
        o = ew.ops(decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, prefill_prior,
                   0.0 if prefill_local_ctx is None else prefill_local_ctx, 0.0 if prefill_chunk is None else prefill_chunk)
        tokens = o.f64(decode_seqs) + o.f64(prefill_tokens)
        dec_pairs, pf_pairs = decode_ctx, prefill_ctx
        kv_ctx = decode_ctx
        if self.window:
            n = ew.f64(decode_seqs)
            mean = ew.div0(decode_ctx, n)
            dec_local = n * local_keys(mean, self.window, self.local_kind)
            pf_local = (ew.minimum(prefill_ctx, ew.f64(prefill_tokens) * self.window)
                        if prefill_local_ctx is None else prefill_local_ctx)
            dec_pairs = (1.0 - self.attn_local) * dec_pairs + self.attn_local * dec_local
            pf_pairs = (1.0 - self.attn_local) * pf_pairs + self.attn_local * pf_local
            kv_ctx = (1.0 - self.kv_local) * kv_ctx + self.kv_local * dec_local
        # GEMM rows padded to whole tiles (tile quantisation); empty steps cost nothing. A step's tokens are whole; the
        # screen's are means whose float sum can land an ulp past a tile edge (``TILE_SLACK``)
        # (an expert-parallel replica: each of its ``ep`` ranks pads its own share)
        rows = o.ceil(tokens / (self.ep * self.tile_rows) - TILE_SLACK) * self.tile_rows * self.ep
        dec_f = self.attn_flops if self.attn_flops_decode is None else self.attn_flops_decode
        lin = self.lin_flops + (self.tp - 1) * self.lin_flops_replicated  # replicated linears: on every rank
        prior = self.prior_flops * prefill_prior if self.prior_flops else 0.0  # MLA: the cached context re-projected
        flops = (lin * tokens + prior + self.attn_flops * pf_pairs + dec_f * dec_pairs) / self.tp if want_flops else None
        kv_new = prefill_tokens  # the prompt tokens whose KV the (mean) rank writes
        if self.ep > 1:  # the step waits for the busiest rank (``_busiest``): its decodes, prompt chunk and routed pairs
            dec_share, pf_share, rows_dense, expert_share, touched = self._busiest(o, decode_seqs, prefill_tokens,
                                                                                   prefill_chunk, tokens)
            dec_pairs, kv_ctx = dec_pairs * dec_share, kv_ctx * dec_share
            pf_pairs, prior, kv_new = pf_pairs * pf_share, prior * pf_share, kv_new * pf_share
            lin_rows = (lin - self.routed_flops) * rows_dense + self.routed_flops * rows * expert_share
        else:
            lin_rows = lin * rows
            touched = (self.experts * (1.0 - (1.0 - self.top_k / self.experts) ** tokens)) if self.moe_layers else 0.0
        attn = self.attn_flops * pf_pairs + dec_f * dec_pairs
        t_compute = ((lin_rows + prior) / self.flops_rate + attn / (self.attn_rate or self.flops_rate)) / self.tp
        weights = self.dense_bytes + (self.moe_layers * self.expert_bytes * touched if self.moe_layers else 0.0)
        nbytes = weights + self.kv_bytes * (kv_ctx + kv_new)
        t_memory = nbytes / self.bytes_rate
        if self.ep > 1:  # data-parallel attention: no TP all-reduce; a dispatch and a combine per MoE layer
            t_comm = self.moe_layers * EP_ALL2ALL[self.all2all].seconds(self, tokens, prefill_tokens)
            step = o.maximum(t_compute, t_memory) + t_comm + self.kernel_s + self.host_s
            if self.overlap is not None and not whole:
                on = self.overlap.splits(self, o, decode_seqs, prefill_tokens, prefill_chunk)
                if on is not False:
                    return self._overlapped(on, (step, t_compute, t_memory, t_comm, flops), decode_seqs, decode_ctx,
                                            prefill_tokens, prefill_ctx, prefill_local_ctx, prefill_prior,
                                            prefill_chunk)
        elif self.tp > 1:
            t_comm = 2 * self.layers * tp_allreduce_time(tokens * self.act_bytes, self.tp, self.ar_bw, self.ar_alpha)
            step = o.maximum(t_compute, t_memory) + t_comm + self.kernel_s + self.host_s
        else:  # no all-reduce: the same sum without its zero term
            t_comm = tokens * 0.0
            step = o.maximum(t_compute, t_memory) + self.kernel_s + self.host_s
        return step, t_compute, t_memory, t_comm, flops

    def _overlapped(self, on, unsplit: tuple, decode_seqs, decode_ctx, prefill_tokens, prefill_ctx,
                    prefill_local_ctx, prefill_prior, prefill_chunk) -> tuple:
        """(step, compute, memory, comm, flops) of an expert-parallel step under two-batch overlap (``overlap``,
        ``BATCH_OVERLAP``) where ``on`` (the engine splits it: ``BatchOverlap.splits``), ``unsplit``'s terms elsewhere.
        Each rank runs its step as two micro-batches of half its sequences and tokens (SGLang: half the decodes, an
        extend batch at half its tokens' sum; vLLM: half the tokens), each timed as a step of its own (``_terms``,
        whole): its GEMMs at the half batch's rows and tiles, every weight it touches read again (the cost the post's
        decode ablation shows: "-27% at 32 tokens/device ... small decode batch sizes hinder kernel efficiency"), its
        exchange at half the tokens. Per MoE layer one micro-batch's dispatch and combine run while the other computes
        (SGLang's operations: attention, yield, dispatch + MLP, yield, combine), so a pair of micro-batches takes
        2 c + max(0, 2 e - 2 c) a layer -- c a half step's roofline (max(compute, memory)) a layer, e its exchange a
        MoE layer: the exposed exchange = max(0, exchange - overlappable compute) over the pair, the overlappable
        compute the MoE layers' share (``moe_layers`` / ``layers``) of both halves' roofline (the dense layers
        exchange nothing), its hidden part less the compute's slowdown on the SMs the exchange's kernels hold
        (``prompt_slow``: DeepEP's normal kernels on a prompt step, planner.model.moe ``comm_sm_slowdown``, training's
        rule; the post's prefill breakdown: TBO's kernels slower than no-TBO's at the same batch, "reduced streaming
        multiprocessors (SMs) with TBO"). The kernels run twice (each micro-batch launches its own: 2 x ``kernel_s``); the host's
        time once. The pipeline's fill (the first micro-batch's first stage alone) is left out. Vectorised."""
        def half(x):
            return None if x is None else x / 2
        _, c_h, m_h, e_h, _ = self._terms(half(decode_seqs), half(decode_ctx), half(prefill_tokens), half(prefill_ctx),
                                          half(prefill_local_ctx), half(prefill_prior), half(prefill_chunk),
                                          whole=True)
        roof = 2 * ew.maximum(c_h, m_h)
        slow = ew.where(ew.f64(prefill_tokens) > 0, self.prompt_slow, 0.0)
        exposed = 2 * e_h - ew.minimum(2 * e_h, roof * (self.moe_layers / self.layers)) * (1.0 - slow)
        if self.overlap.decode_windows:
            exposed = ew.where(ew.f64(prefill_tokens) > 0, exposed,
                               self._decode_windows(half(decode_seqs), half(decode_ctx)))
        step = roof + exposed + 2 * self.kernel_s + self.host_s
        s0, c0, m0, t0, flops = unsplit
        return (ew.where(on, step, s0), ew.where(on, 2 * c_h, c0), ew.where(on, 2 * m_h, m0),
                ew.where(on, exposed, t0), flops)

    def _decode_windows(self, seqs, ctx):
        """Seconds of a two-batch-overlapped decode step's exchange left exposed where the engine hides each DeepEP
        low-latency kernel only behind what it schedules while that kernel is in flight (``BatchOverlap
        .decode_windows``), for a micro-batch of ``seqs`` decodes at ``ctx`` context in all. SGLang's decode strategy
        (python/sglang/srt/operations_strategy.py ``_compute_moe_deepseek_blog_decode``, ``tbo_delta_stages=2``) runs
        a layer as five stages -- [attention prepare], [attention core, gate, top-k], [dispatch send, shared experts],
        [dispatch receive, experts, combine send], [combine receive] -- the second micro-batch two stages behind the
        first (two_batch_overlap.py ``execute_overlapped_operations``), so a micro-batch's dispatch is in flight over
        its own shared experts and the other's layer output and attention prepare, and its combine over the other's
        attention core; its experts overlap nothing. Each kernel (``deepep_ll_kernels``) waits out what its window
        does not cover, for each micro-batch and MoE layer: 2 x moe_layers x (max(0, dispatch - w_dense) + max(0,
        combine - w_attn)), w_dense the micro-batch's non-routed linears a layer (its roofline of the dense GEMMs and
        weight reads over ``layers``: the attention projections, the shared experts, the dense layers' MLPs spread
        over every layer) and w_attn its attention core a layer (the roofline of its attention FLOPs and KV read).
        The post (lmsys.org/blog/2025-05-05-large-scale-ep, "Detail Breakdown") saw both: "dispatch spends
        significant time busy-waiting for data" (~0.17 ms a layer), the combine "2x slower than DeepSeek's due to
        shorter attention computation, causing communication kernels to busy-wait". Until ll53 every kernel was
        hidden behind the MoE layers' share of both micro-batches' roofline. Vectorised."""
        def window(part):
            _, c, m, _, _ = part._terms(seqs, ctx, 0.0, 0.0, None, 0.0, None, whole=True)
            return ew.maximum(c, m) / self.layers
        dispatch, combine = deepep_ll_kernels(self, seqs)
        return 2 * self.moe_layers * (ew.maximum(dispatch - window(self._dense_part), 0.0)
                                      + ew.maximum(combine - window(self._attention_part), 0.0))

    @cached_property
    def _attention_part(self) -> "IterationModel":
        """This model with only its attention core: no linear FLOPs or weights (``_decode_windows``)."""
        return replace(self, lin_flops=0.0, lin_flops_replicated=0.0, routed_flops=0.0, prior_flops=0.0,
                       dense_bytes=0.0, expert_bytes=0.0, overlap=None)

    @cached_property
    def _dense_part(self) -> "IterationModel":
        """This model with only its non-routed linears: no attention, KV read or experts (``_decode_windows``)."""
        return replace(self, lin_flops=self.lin_flops - self.routed_flops, routed_flops=0.0, attn_flops=0.0,
                       attn_flops_decode=0.0, kv_bytes=0.0, expert_bytes=0.0, overlap=None)

    def _busiest(self, o, decode_seqs, prefill_tokens, prefill_chunk, tokens) -> tuple:
        """An expert-parallel step as its busiest rank runs it (the DP ranks step together, vLLM's Data Parallel
        Deployment page: the step is the slowest rank's): (its decode sequences over the mean rank's, its prompt tokens
        over the mean rank's, its dense GEMM rows padded to tiles x ep, its routed pairs over the mean rank's, the
        replica's experts as the busiest rank's touched ones x ep). vLLM's front end sends each request to the DP
        engine with the least ``waiting x 4 + running`` (vllm/v1/engine/core_client.py
        ``DPLBAsyncMPClient.get_core_engine_for_request``), so the ranks' running counts differ by one at most (taken
        so here; on the counts it sees, published every 100 ms, they may differ more: the simulation's, serve51): the
        busiest holds ceil(B / ep) of the step's B decodes (their contexts at the mean). A prompt is one engine's:
        each DP engine runs its own scheduler and ``max_num_batched_tokens`` (vllm/v1/engine/core.py
        ``DPEngineCoreProc``), and one with nothing scheduled steps a one-token dummy forward so the MoE collectives
        stay whole (vllm/v1/worker/gpu_worker.py ``execute_dummy_batch``: ``_dummy_run(1, uniform_decode=True)``),
        so the busiest rank runs whole prompt chunks of c = ``prefill_chunk`` tokens, ceil(T / (ep c)) of them, at
        most the step's T (serveep49b; the mean share T / ep until then): a prefill-heavy step waits for a whole chunk
        on one rank, not an eighth of it. Its chunk's attention pairs, MLA prior and KV writes go with its tokens.
        Each engine's prompt tokens are within its own budget (the replica's room ep x budget - B,
        ``replica_token_budget``; the simulation passes its busiest engine's prompt tokens as c, serveep50). Its experts run the
        routed pairs of every rank's tokens (the exchange too: ``tokens``, the replica's): ``busiest_rank_pairs`` and
        ``busiest_rank_experts`` (uniform routing). Vectorised."""
        dec = o.f64(decode_seqs)
        busy = o.ceil(dec / self.ep - TILE_SLACK)  # whole sequences a rank
        dec_share = ew.div0(busy * self.ep, dec)
        pf = o.f64(prefill_tokens)
        if prefill_chunk is None:  # the step's prompt tokens are one engine's
            own = pf
        else:  # whole chunks a rank, at most the step's
            c = o.f64(prefill_chunk)
            own = o.minimum(pf, o.ceil(ew.div0(pf, c * self.ep) - TILE_SLACK) * c)
        pf_share = ew.div0(own * self.ep, pf)
        rows_dense = o.ceil((busy + own) / self.tile_rows - TILE_SLACK) * self.tile_rows * self.ep
        if not self.moe_layers:
            return dec_share, pf_share, rows_dense, 1.0, 0.0
        mean = tokens * self.top_k / self.ep
        expert_share = ew.div0(busiest_rank_pairs(tokens, self.ep, self.experts, self.top_k), mean)
        expert_share = ew.where(mean > 0, expert_share, 1.0)
        return dec_share, pf_share, rows_dense, expert_share, self.ep * busiest_rank_experts(tokens, self.ep, self.experts,
                                                                                   self.top_k)

    def time(self, decode_seqs=0.0, decode_ctx=0.0, prefill_tokens=0.0, prefill_ctx=0.0, prefill_local_ctx=None,
             prefill_prior=0.0, prefill_chunk=None):
        """Seconds of one step with this batch composition (see the class docstring and :meth:`parts`)."""
        return self._terms(decode_seqs, decode_ctx, prefill_tokens, prefill_ctx, prefill_local_ctx, prefill_prior,
                           prefill_chunk)[0]


def option_iteration(m, s: ServingSpec, hw, tp: int) -> IterationModel:
    """The iteration model of one serving option: model ``m`` on ``hw`` with ``tp`` GPUs per replica at
    ``s``'s precision, KV precision and engine at its release (``job_efficiency``). ``plan_serving`` builds it once
    per (hardware, TP, precision) and passes it to everything that times that option (``llm_option``,
    ``screen_concurrency``, ``offline_run``, the simulations' ``replica_spec``), which built it again each (up to 14
    times an option); the functions below still build it themselves when called without it (tests, the app)."""
    sp = replica_split(s, tp)
    return IterationModel.build(m, hw, tp, s.precision, s.kv_precision, s.engine, job_efficiency(s), ep=sp.ep,
                                all2all=sp.all2all, overlap=sp.overlap)


def _llm_iteration(m, s: ServingSpec, hw, tp: int, B: np.ndarray, prefilling: Optional[np.ndarray] = None,
                   im: Optional[IterationModel] = None) -> dict:
    """Steady-state iteration at batch B (vectorised over B): every slot decoding at the mean context
    ``P + O/2``, and B/O sequences finishing (and starting) per iteration, so ``B x N/O`` prompt tokens
    are prefilled in each (P prompt, O output tokens; N = P - H new tokens after the H tokens the
    prefix cache serves, ``shared_prefix``; causal: each new token attends to H + N/2 keys on
    average). Decode reads each sequence's whole KV, the shared prefix's included. ``prefilling``: the
    slots whose next prompts share the iteration (default all B; ``llm_tpot``: the B - 1 others). ``im``: the
    option's iteration model where the caller has it (``option_iteration``)."""
    return steady_iteration(im or option_iteration(m, s, hw, tp), s, B, prefilling)


def steady_iteration(im: IterationModel, s: ServingSpec, B, prefilling=None, biased=0.0, chunk=None,
                     one_engine: bool = False, busiest_share=1.0) -> dict:
    """``_llm_iteration`` on an iteration model already built (``offline_run`` times many batches on one).
    ``biased``: how many of the B decoding slots are at their mean context as the engine's steps see it, P + O (1 +
    cv^2) / 2 (cv: the outputs' spread, ``ServingSpec.output_cv``, 0 for one-token outputs, which the simulation does not spread,
    ``length_kind``), the others at P + O / 2: a slot that turns its requests over holds each for its O steps, so a
    step finds the long ones in proportion to their length (the inspection paradox; a renewal process's mean age is E
    O^2 / (2 E O), Cox, Renewal Theory, 1962, §5.2) -- 208 tokens at 128 / 128 (cv 0.5) where the simulated steps of a
    backlog hold 208, 811 at 500 / 500 (811); a request's own context is its own length's (``llm_tpot``).
    ``chunk``: on an expert-parallel replica, the most prompt tokens one DP engine takes in a step (its own budget's room,
    ``lumped_parts``), where a prompt is longer (None: whole prompts a rank, ``prompt_prefill``). ``one_engine``: the
    step's prompt tokens are all one DP engine's, up to ``chunk`` (SGLang's prefill batch: the engine's own prompts on
    its own rank, ``alternating_terms``), not spread a prompt a rank (sglsim53); ``busiest_share`` (with ``one_engine``):
    the share of them that is the busiest engine's batch where several engines' share the step, each on its own rank
    (screen53)."""
    P, O = s.prompt_tokens, s.output_tokens
    H = shared_prefix(s)
    N = P - H
    B = np.asarray(B, dtype=np.float64)
    prompts = (B if prefilling is None else np.asarray(prefilling, dtype=np.float64)) / O  # a step's, Little's law
    cv = s.output_cv if O > 1 else 0.0
    ctx = B * (P + O / 2.0) + np.asarray(biased, dtype=np.float64) * (O / 2.0 * cv * cv)
    pre = im.prompt_prefill(float(H), N, prompts)
    if chunk is not None and im.ep > 1:
        pre["prefill_chunk"] = np.minimum(pre["prefill_tokens"] * busiest_share if one_engine else float(N), chunk)
    return im.parts(decode_seqs=B, decode_ctx=ctx, **pre)


def replica_token_budget(im: IterationModel, budget):
    """The tokens one step of a replica carries at most at the engine setting ``budget`` (vLLM's
    ``max_num_batched_tokens``; vectorised): the budget, or on an expert-parallel replica ``ep`` x it. Each of its ep DP
    engines runs its own scheduler with its own budget (vllm/v1/engine/core.py ``DPEngineCoreProc``) and they step
    together, so with the replica's B decodes balanced over them (``IterationModel._busiest``) each has its budget
    less B / ep for prompt chunks, ep x budget - B in all, where one pooled budget left budget - B (serveep50: the
    simulation gives each engine its budget, planner/simulate/serving.py ``Engine._prefills``). The screen's rooms
    (``lumped_parts``, ``llm_ttft``, ``budget_decodes``) are taken at this; a step's busiest rank still runs whole
    prompt chunks (``prompt_prefill``)."""
    return budget * im.ep


def engine_room(im: IterationModel, room):
    """The prompt tokens one engine takes a step out of a replica's ``room`` (its budget less its decodes; vectorised):
    the room, or on an expert-parallel replica its 1 / ep, each DP engine's own (``replica_token_budget``), the most
    of a prompt one step prefills there."""
    return room / im.ep


def lumped_iteration(im: IterationModel, s: ServingSpec, B, budget, prefilling=None) -> np.ndarray:
    """The mean step at batch B as the engine runs it (vectorised over B / ``prefilling``): the prompt work comes in
    lumps, not spread evenly over the steps as ``steady_iteration`` has it. vLLM V1's scheduler (and the simulation's,
    planner/simulate/serving.py) puts a finished slot's next prompt into the next step whole, or in chunks of the
    ``budget`` (``max_num_batched_tokens``) the B decodes leave, so compute-bound steps with prompt tokens come among
    memory-bound decode-only ones, and with the roofline's max per step the mean step is over the step at the mean
    composition (Jensen; Sarathi-Serve's "generation stalls", Agrawal et al. OSDI 2024). With p = ``prefilling``
    slots' next prompts (default all B) each finishing with probability 1/O a step:

        lam  = p / O                                    prompts a step (Little's law), lam x N prompt tokens
        f    = min(1, max(1 - (1 - 1/O)^p,              the share of steps after at least one finish,
                          lam x N / (budget - B)))      or that the budget needs to fit the prompt tokens
        step = f x t(B decodes, lam x N / f prompt tokens) + (1 - f) x t(B decodes)

    (N = P - H new tokens, ``shared_prefix``.) ``lumped`` is the mean over the lump's prompt tokens, not the step at
    their mean (capgap34): a lump is the next prompts of the K slots that finished, K prompts of the lognormal lengths
    (``lump_cv``, ``lump_grid``), and the step is convex in its tokens (the roofline's max, GEMM rows padded to whole
    128-row tiles), so its mean is over the step at the mean (Jensen); where the budget binds the lumps are whole
    chunks of the room, no spread. The decoding slots' context is length-biased (``steady_iteration``'s ``biased``).
    One output token: f = 1, the steady step. Measured (cap32,
    benchmarks/capacity_gap.py; llama3.1-8b, one H100, B = 64, budget 2,048, lognormal cv 0.5): the simulated mean
    step 10.19 / 45.03 / 13.39 ms at 128 / 128, 2,000 / 128 and 500 / 500 tokens where ``steady_iteration`` has 9.56 /
    41.30 / 11.82; this puts the throughput B / (O x step) within 5% of the simulated backlog's steady part.
    Term by term (capgap34, the same backlogs' middle 60% of steps; simulated / analytic): f 0.390 / 0.395, 0.596 /
    0.504, 0.117 / 0.120; the step carrying prompts 11.09 / 11.37 ms (10.17 at the mean tokens, until capgap34), 63.99 /
    76.83, 23.40 / 23.77 (24.06); the decode-only step 9.62 / 9.62 (9.56 at the unbiased context), 17.06 / 17.21, 12.07
    / 12.07 (11.82); the mean step 10.19 / 10.31, 45.03 / 47.26, 13.39 / 13.48; the throughput 48.48 / 10.58 / 9.50
    req/s against the simulated backlog's 47.96 / 10.77 / 9.34 (51.0 / 10.59 / 9.63 before: 6% over, 2% under, 3%
    over). At 2,000 / 128 the budget binds (chunked prompts) and two parts cancel: fewer, fuller lumps than the engine
    runs (the last chunk of a prompt shares its step with nothing when no other prompt waits: 1,602 tokens a lumped
    step, not 1,984), and a slot waits through its prompt's chunks without decoding (62.5 of 64 decode a step), which B
    / (O x step) does not count.
    ``llm_tpot`` keeps the step at the mean composition; the screen's batch is sized by the p99 over requests of the
    TPOT these steps make (planner/workloads/serving.py ``tpot_quantile``, from ``lumped_parts``)."""
    f, lumped, bare = lumped_parts(im, s, B, budget, prefilling)
    return f * lumped + (1.0 - f) * bare


#: the z edges of ``lump_grid``'s bins (standard normal; the mean step needs no far tail)
LUMP_Z_EDGES = np.linspace(-4.0, 4.5, 25)
LUMP_Z_MID = (LUMP_Z_EDGES[:-1] + LUMP_Z_EDGES[1:]) / 2.0
LUMP_Z_WEIGHTS = np.diff([0.0, *(NormalDist().cdf(z) for z in LUMP_Z_EDGES[1:-1]), 1.0])


def lump_cv(lam, finish, O: int, cv: float):
    """The spread (coefficient of variation) of the prompt tokens one lumped step carries where the prompts fit a
    step: the next prompts of the K slots that finished in the step before, K ~ Binomial(p, 1 / O) given K >= 1 (the
    finishes ``lumped_parts`` counts: mean lam = p / O, P(K >= 1) = ``finish``), each prompt a lognormal length of
    spread ``cv`` (the prompts', ``ServingSpec.prompt_cv``, as the simulation draws them). A random sum (Feller, An Introduction to
    Probability Theory Vol. 1, 3rd ed. 1968, §XII.1): Var X / (E X)^2 = cv^2 / E K + Var K / (E K)^2, E K = lam /
    finish, E K^2 = (lam (1 - 1 / O) + lam^2) / finish. Vectorised.

    >>> round(float(lump_cv(0.5, 1 - (1 - 1 / 128) ** 64, 128, 0.5)), 3)  # llama3.1-8b 128 / 128 at B = 64
    0.612
    >>> float(lump_cv(1e-9, 1e-9, 128, 0.5))  # rare finishes: one prompt a lump, its own spread
    0.5
    """
    lam, finish = np.asarray(lam, dtype=np.float64), np.asarray(finish, dtype=np.float64)
    ok = (lam > 0) & (finish > 0)
    fi = np.where(ok, finish, 1.0)
    ek = np.where(ok, lam / fi, 1.0)
    var = np.where(ok, (lam * (1.0 - 1.0 / O) + lam * lam) / fi - ek * ek, 0.0)
    return np.sqrt(cv * cv / ek + np.maximum(var, 0.0) / (ek * ek))


def lump_grid(cv):
    """(x, w): a lumped step's prompt tokens over their mean, a lognormal of spread ``cv`` (vectorised: x is
    cv's shape plus one axis) matched to the random sum's mean and variance (Fenton, "The sum of log-normal
    probability distributions in scatter transmission systems", IRE Trans. Commun. Syst. 8(1), 1960), one value per
    bin of ``LUMP_Z_EDGES`` at its midpoint, scaled so the weighted mean is exactly 1 (the tokens a step carries are
    lam x N whatever their spread). cv 0: 1 everywhere.

    >>> x, w = lump_grid(0.5); round(float((x * w).sum()), 12), round(float(x.min()), 3), round(float(x.max()), 3)
    (1.0, 0.147, 6.885)
    """
    s2 = np.log1p(np.square(np.asarray(cv, dtype=np.float64)))[..., None]
    x = np.exp(-s2 / 2.0 + np.sqrt(s2) * LUMP_Z_MID)
    return x / (x * LUMP_Z_WEIGHTS).sum(axis=-1, keepdims=True), LUMP_Z_WEIGHTS


#: the counts (batches, requests in flight) the screen prices a curve over 1 .. n at, at most (``screen_points``)
SCREEN_POINTS = 256


def screen_points(n: int) -> np.ndarray:
    """The counts in 1 .. ``n`` the screen prices a per-count curve at (a float array, ascending, 1 and n in it): every
    one where n <= ``SCREEN_POINTS``, else the first SCREEN_POINTS / 2 and SCREEN_POINTS / 2 more spaced geometrically
    to n, the rest read off by linear interpolation (``np.interp``) between them. Why (srvb51): the slot chain's W(n)
    (``slot_service``) and the running iteration's steps over the others in flight (``llm_ttft``) were priced at
    every count, ``lumped_parts`` over (count x ``lump_grid``'s 24 bins), so a fixed fleet with ``serving.max_batch``
    4,096 or 65,536 (a tiny MoE model whose KV pool holds that many sequences) ran past 25 CPU s in the screen where
    the default 64 took ~1 s (fuzz51). Past 256 neighbouring points are at most (n / 128)^(1 / 128) apart (1.6% at
    1,024, 5% at 65,536); the steps are piecewise linear in the count (the roofline's max, 128-row GEMM tiles), so the
    interpolation smooths their kinks: ``slot_service``'s W(n) within 2.0% of every n priced (llama3-8b 128 / 128 on
    H100 TP1 / TP4, batch 1,024 and 4,096), the screen's figures unchanged at batches up to 256 (every README example).

    >>> len(screen_points(64)), len(screen_points(65536)), screen_points(65536)[[0, 127, 128, -1]].tolist()
    (64, 256, [1.0, 128.0, 134.0, 65536.0])
    """
    n = max(int(n), 0)
    if n <= SCREEN_POINTS:
        return np.arange(1, n + 1, dtype=np.float64)
    half = SCREEN_POINTS // 2
    tail = np.unique(np.round(np.geomspace(half, n, half + 1)))
    return np.concatenate([np.arange(1, half + 1, dtype=np.float64), tail[tail > half]])


def lumped_parts(im: IterationModel, s: ServingSpec, B, budget, prefilling=None) -> tuple:
    """(f, lumped step, decode-only step) of ``lumped_iteration`` (vectorised over B / ``prefilling``): the share of
    steps that carry prompt tokens, the step that carries them (B decodes and lam x N / f prompt tokens on average, the
    mean over their spread, ``lump_cv``; a lump over the room is priced as one step of its tokens, where the engine
    would chunk it over two: the roofline is linear in tokens there, the second step's fixed part not counted) and the
    step that does not (B decodes alone), both with the p turning-over slots at their length-biased context; the mean
    step is f x lumped + (1 - f) x bare. An engine that never mixes the two (SGLang): ``alternating_parts``."""
    if im.batching == "prefill_first":
        return alternating_parts(im, s, B, budget, prefilling)
    O = s.output_tokens
    N = s.prompt_tokens - shared_prefix(s)
    B = np.asarray(B, dtype=np.float64)
    p = B if prefilling is None else np.asarray(prefilling, dtype=np.float64)
    lam = p / O
    room = np.maximum(np.asarray(budget, dtype=np.float64) - B, 1.0)
    finish = -np.expm1(p * np.log1p(-1.0 / O)) if O > 1 else np.ones_like(p)
    f = np.minimum(np.maximum(finish, lam * N / room), 1.0)
    f = np.where(p > 0, f, 1.0)  # nothing to prefill: the decode-only step either way
    # the lumped step's prompt tokens: lam x N / f on average, spread as K prompts of the lognormal lengths where each
    # lump is the prompts of one step's finishes (``lump_cv``); where the budget binds (chunks of the whole room) the
    # lumps are the room each, no spread
    cv = np.where(finish >= lam * N / room, lump_cv(lam, finish, O, s.prompt_cv), 0.0)
    x, w = lump_grid(cv)  # (..., g): a lump's tokens over their mean, and the weights
    Bb, pf = np.broadcast_arrays(B, p / np.where(f > 0, f, 1.0))
    # the p slots that turn their requests over hold them length-biased (``steady_iteration``); a request's own slot
    # (``tpot_quantile``, ``screen_concurrency``: p = b - 1) is at its own length's context
    pb = np.broadcast_to(p, Bb.shape)
    # an expert-parallel replica: each DP engine chunks a prompt to its own room, 1 / ep of the replica's
    # (``replica_token_budget``)
    chunk = engine_room(im, np.broadcast_to(room, Bb.shape)[..., None]) if im.ep > 1 else None
    steps = steady_iteration(im, s, Bb[..., None], prefilling=pf[..., None] * x, biased=pb[..., None],
                             chunk=chunk)["step"]
    lumped = (steps * w).sum(axis=-1)
    bare = steady_iteration(im, s, B, prefilling=0.0, biased=p)["step"]
    return f, lumped, bare


def alternating_parts(im: IterationModel, s: ServingSpec, B, budget, prefilling=None) -> tuple:
    """``lumped_parts`` for an engine that never puts prompt and decode tokens in one batch (``IterationModel.batching``
    "prefill_first": SGLang, ``serving_efficiency.SGLANG_BATCHING``: ``get_next_batch_to_run`` runs a prefill batch
    whenever one can be formed, else the decode batch; ``--enable-mixed-chunk`` off). Each DP engine schedules its own
    batch (a TP replica: one engine; SGLang's DP attention, scheduler_dp_attn_mixin.py ``prepare_mlp_sync_batch``: each
    rank's local batch is its own prefill or decode batch, the ranks step together, a rank with nothing runs an idle
    batch). With e = ``im.ep`` engines, p = ``prefilling`` turning-over slots, B / e and p / e an engine's:

        lam = p / (e O)                              an engine's prompts a round (Little's law), lam x N tokens
        f_e = min(1, max(1 - (1 - 1/O)^(p/e),        the share of its rounds with a prefill batch (at least one
                         lam x N / room))            finish), or that its room needs; room = its whole budget
        k   = e f_e / (1 - (1 - f_e)^e)              engines prefilling in a step that holds any (``prefilling_engines``)
        t_pf = t(k lumps of lam x N / f_e prompt tokens, each on its own rank up to its room, the other
                 engines' B (e - k) / e decodes beside them)
        q = 1 - (1 - f_e)^(e - 1)                    another engine prefills in a step this one decodes in
        interval = (1 - q) t(B decodes) + (q + f_e) t_pf

    the mean time between two of a request's tokens: its engine's decode step (a replica step; its length t_pf where
    another engine prefills in it) and f_e of its own prefill batches (its decodes wait through them). A prefill
    batch's budget is the engine's whole ``chunked_prefill_size``: no decode takes any of it. The lump's prompts are
    spread as ``lumped_parts`` has them (``lump_cv``). Returned as (f, lumped, bare) with f = 1 - (1 - f_e)^e, the
    share of intervals holding a prefill batch, and lumped the interval that does, so f x lumped + (1 - f) x bare is
    the interval; one engine (e = 1): f = f_e and lumped = t_pf + t(B decodes), a prefill batch then a decode batch.
    A ``deepep`` exchange runs normal kernels on a step with any prompt tokens, low-latency ones on a decode-only
    step (``deepep_auto_exchange_time``). The simulation's ``policy="prefill_first"`` runs the same rule, each DP
    engine pausing only its own decodes (sglsim53). Vectorised over B / ``prefilling``."""
    f, lumped, bare, _, _ = alternating_terms(im, s, B, budget, prefilling)
    return f, lumped, bare


def prefilling_engines(fe, e: int):
    """The mean number of DP engines whose prefill batches share a step that holds at least one (vectorised over the
    share ``fe`` of an engine's rounds with a prefill batch): each of the ``e`` engines runs its own scheduler (SGLang
    scheduler.py ``get_next_batch_to_run`` on each DP attention rank: a prefill batch whenever its own queue forms one),
    so the count in a step is binomial (e, f_e), and given at least one its mean is e f_e / (1 - (1 - f_e)^e); 1 at
    one engine or where none prefills. DeepSeek-V3 EP16 at 32 / 8 a rank (2,000 / 500): 1.55 / 1.13, the simulation's
    mixed steps 1.50 / 1.13 (sglsim53's count; screen53)."""
    fe = np.asarray(fe, dtype=np.float64)
    anyone = -np.expm1(e * np.log1p(-np.minimum(fe, 1.0 - 1e-12)))
    return np.where(fe > 0, e * fe / np.where(anyone > 0, anyone, 1.0), 1.0)


def busiest_lump_weights(w, fe, e: int):
    """``lump_grid``'s weights ``w`` (its bins ascending) for the largest of the lumps in a step that holds at least one
    prefill batch, where each of ``e`` engines holds one with probability ``fe`` (``prefilling_engines``): the largest of
    J lumps is under a bin's top with probability F^J (F: ``w``'s running sum), and over J given at least one that is
    the binomial's generating function G(F) = ((1 - f_e + f_e F)^e - (1 - f_e)^e) / (1 - (1 - f_e)^e); a bin's weight
    is G's step across it. One engine, or f_e 0 or 1 at e = 1: ``w``. The DP ranks step together (SGLang
    scheduler_dp_attn_mixin.py ``prepare_mlp_sync_batch``), so the step is the busiest rank's (``_busiest``)."""
    fe = np.asarray(fe, dtype=np.float64)[..., None]
    F = np.minimum(np.cumsum(w, axis=-1), 1.0)
    none = (1.0 - fe) ** e
    G = ((1.0 - fe + fe * F) ** e - none) / np.where(none < 1.0, 1.0 - none, 1.0)
    G = np.where(none < 1.0, G, F)
    return np.diff(G, axis=-1, prepend=0.0)


def alternating_terms(im: IterationModel, s: ServingSpec, B, budget, prefilling=None) -> tuple:
    """(f, lumped, bare, f_e, t_pf) of ``alternating_parts`` (its docstring): with the share f_e of an engine's rounds
    that hold its own prefill batch and that batch's step t_pf, the stall a request's own engine's prompts make
    (``stall_parts``)."""
    O, e = s.output_tokens, im.ep
    N = s.prompt_tokens - shared_prefix(s)
    B = np.asarray(B, dtype=np.float64)
    p = B if prefilling is None else np.asarray(prefilling, dtype=np.float64)
    lam = p / (O * e)
    room = np.maximum(engine_room(im, np.asarray(budget, dtype=np.float64)), 1.0)
    finish = -np.expm1(p / e * np.log1p(-1.0 / O)) if O > 1 else np.ones_like(p)
    fe = np.minimum(np.maximum(finish, lam * N / room), 1.0)
    fe = np.where(p > 0, fe, 1.0)  # nothing to prefill: no prefill batch (t_pf then the others' decodes alone)
    cv = np.where(finish >= lam * N / room, lump_cv(lam, finish, O, s.prompt_cv), 0.0)
    x, w = lump_grid(cv)
    f = np.where(p > 0, 1.0 - (1.0 - fe) ** e, 1.0)
    k = prefilling_engines(fe, e)
    w = busiest_lump_weights(w, fe, e)  # the busiest of the step's lumps, where its rank sets the step
    Bb, pf, kb = np.broadcast_arrays(B, p / e / np.where(fe > 0, fe, 1.0), k)
    others = Bb * (e - kb) / e
    chunk = np.broadcast_to(room, Bb.shape)[..., None] if e > 1 else None
    lumps = pf[..., None] * (x + kb[..., None] - 1.0)  # the busiest lump and the k - 1 others' mean ones
    t_pf = (steady_iteration(im, s, others[..., None], prefilling=lumps,
                             biased=(np.broadcast_to(p, Bb.shape) * (e - kb) / e)[..., None], chunk=chunk,
                             one_engine=True, busiest_share=x / (x + kb[..., None] - 1.0))["step"]
            * w).sum(axis=-1)
    bare = steady_iteration(im, s, B, prefilling=0.0, biased=p)["step"]
    t_pf = np.where(p > 0, t_pf, 0.0)
    q = 1.0 - (1.0 - fe) ** (e - 1)
    interval = (1.0 - q) * bare + (q + fe) * t_pf
    lumped = np.where(p > 0, (interval - (1.0 - f) * bare) / np.where(f > 0, f, 1.0), bare)
    return f, lumped, bare, np.where(p > 0, fe, 0.0), t_pf


def stall_parts(im: IterationModel, s: ServingSpec, B: float, budget, prefilling: float) -> tuple:
    """(f, lumped, bare, f_u, u, e_u): ``lumped_parts``' three (the mean interval f x lumped + (1 - f) x bare) and the
    unit in which ``serving_queue.tpot_tail`` spreads a request's count of stalls: the share f_u of its intervals that
    hold a stall its own engine's prompts make, that stall's time u and the engines e_u a replica's prompts spread
    over. A chunked engine (``lumped_parts``): f, lumped - bare, one engine (an EP replica's DP engines' prompts taken
    at the replica's, as before). SGLang's (``alternating_terms``): its own engine's prefill batches, f_e of its
    rounds, each a step of t_pf, over ``ep`` engines; the other engines' prefill batches, which lengthen its decode
    steps (q of them, to t_pf), are the mean's, not the spread's: at 32 engines q is near 1, nearly every step holds
    one. Until dec53 the spread was in units of lumped - bare at f, which narrows as the decode-only step grows, so a
    slower decode-only step lowered the p99 (ll53's SGLang TBO windows: 40 QPS EP32 104.2 -> 100.9 ms)."""
    if im.batching == "prefill_first":
        f, lumped, bare, fe, t_pf = (float(x) for x in alternating_terms(im, s, B, budget, prefilling))
        return f, lumped, bare, fe, t_pf, max(int(im.ep), 1)
    f, lumped, bare = (float(x) for x in lumped_parts(im, s, B, budget, prefilling))
    return f, lumped, bare, f, lumped - bare, 1


def longest_interval(im: IterationModel, s: ServingSpec, B: float, budget) -> float:
    """The longest time between two of a request's tokens that ``lumped_parts`` / ``alternating_parts`` price at batch
    ``B`` and the replica's token ``budget`` (``replica_token_budget``): every step holds as many prompt tokens as its
    room takes (the budget less the decodes; an expert-parallel replica's engines each their own, ``engine_room``). A
    chunked engine's step: B decodes and a full room of prompt tokens; SGLang's (prefill-first) interval where every
    engine prefills a full room: its decode step beside the others' prefill batches and its own engine's prefill batch
    (``alternating_parts`` at q = f_e = 1), or one engine's prefill batch then its decode step. No request's TPOT, a
    mean of such intervals, passes it (``serving_queue.tpot_tail``, dec53). Lumps over the room are priced as one step
    of their tokens by ``lumped_parts``, so its ``lumped`` may pass this; the caller takes the larger. SGLang's room
    is one engine's prefill batch on its own rank (``steady_iteration(one_engine=True)``, as ``alternating_terms``
    prices it; until screen53 it was spread a prompt a rank)."""
    O, e = s.output_tokens, im.ep
    N = max(s.prompt_tokens - shared_prefix(s), 1)
    if im.batching == "prefill_first":
        room = max(float(engine_room(im, np.asarray(budget, dtype=np.float64))), 1.0)
        others = B * (e - 1.0) / e
        t_pf = float(steady_iteration(im, s, others, prefilling=room * O / N, biased=(B - 1.0) * (e - 1.0) / e,
                                      chunk=room if e > 1 else None, one_engine=True)["step"])
        bare = float(steady_iteration(im, s, B, prefilling=0.0, biased=B - 1.0)["step"])
        return 2.0 * t_pf if e > 1 else t_pf + bare
    room = max(float(budget) - B, 1.0)
    chunk = engine_room(im, room) if im.ep > 1 else None
    return float(steady_iteration(im, s, B, prefilling=room * O / N, biased=B - 1.0, chunk=chunk)["step"])


def llm_tpot(m, s: ServingSpec, hw, tp: int, B: np.ndarray, im: Optional[IterationModel] = None) -> np.ndarray:
    """TPOT at batch B as the simulation measures one request (``request_tpot``: (finish - first token) /
    (O - 1), ``vllm bench serve``'s definition): its O - 1 decode iterations, each with the B slots decoding
    and the prompts of the *other* B - 1 slots' next requests prefilled in it ((B - 1) x N/O tokens). The
    request's own prefill comes before its first token (TTFT), so at batch 1 nothing is prefilled while it
    decodes and TPOT is the bare decode step; a one-token request has no TPOT (0, as the simulation counts it).
    ``im``: the option's iteration model, where the caller has it built. A steady-state mean: since tpot33 the
    screen sizes the batch by the p99 over requests (planner/workloads/serving.py ``screen_tpot``), which is this
    at batch 1 and over it above (the chat example's L4 TP2 at batch 12: 49.9 ms here, p99 57.7, simulated 58.1)."""
    B = np.asarray(B, dtype=np.float64)
    O = s.output_tokens
    it = _llm_iteration(m, s, hw, tp, B, prefilling=B - 1, im=im)
    return request_tpot(0.0, (O - 1) * it["step"], O)


def prefill_time(m, s: ServingSpec, hw, tp: int, im: Optional[IterationModel] = None) -> float:
    """One prompt prefilled alone (no decodes in the step): its N = P - H new tokens (H: the tokens the
    prefix cache serves, ``shared_prefix``), each attending to the H cached keys and, causally, the new
    ones before it: N x H + N^2/2 (query, key) pairs. Reading the cached prefix's KV is not counted (a
    prefill is compute-bound). ``im``: the option's iteration model where the caller has it."""
    P = s.prompt_tokens
    H = shared_prefix(s)
    N = P - H
    im = im or option_iteration(m, s, hw, tp)
    return float(im.time(**im.prompt_prefill(float(H), N)))
