"""Collective communication time: alpha-beta models of NCCL's ring algorithms, vectorised.

For n ranks, message of N bytes (the full buffer), link bandwidth B (bytes/s, per direction, as
achieved), per-step latency alpha (Thakur, Rabenseifner & Gropp 2005, "Optimization of collective
communication operations in MPICH", §4; the same factors NCCL's nccl-tests use for "bus bandwidth"):

    all-reduce      2 (n-1)/n * N / B + 2 (n-1) alpha
    reduce-scatter    (n-1)/n * N / B +   (n-1) alpha
    all-gather        (n-1)/n * N / B +   (n-1) alpha
    all-to-all        (n-1)/n * N / B +   (n-1) alpha      (N = what one rank sends in total)
    send/recv                   N / B +           alpha

A group that spans nodes is priced in phases (NCCL's tree over NVLink then the NIC): the
intra-node phase at NVLink speed on the whole buffer, the inter-node phase on 1/g of it per GPU at
the GPU's share of the node's network bandwidth (every GPU of a node communicates at once, since
all groups of the same kind run concurrently) -- except a large all-reduce over more than 2 nodes, which
NCCL runs as a flat ring: every NIC carries 2 (n - 1) / n of the buffer, pipelined with the NVLink hops, of which a
GPU carries (m - 1) / m with m of the ring's ranks on its node (``network_bytes``, ``placed_collective_time``; xn54;
``flat_ring_nvlink_share``, prod56).

Latency across nodes: NCCL runs all-gather and reduce-scatter only as rings, and a ring over k
nodes is one flat ring through all n ranks: its latency is ``(n - k) * intraLat + (k - 1) *
interLat`` (NVIDIA/nccl src/graph/tuning.cc ``ncclTopoTuneModel``: ``nsteps = nRanks - 1``,
``nInterSteps = nNodes - 1``), i.e. n - k intra-node hops, not the g - 1 of the hierarchical
decomposition (whose f (k - 1) / k x N / g a NIC is the ring's f (n - 1) / n x N / g only at many
nodes; the gap at 2-4 nodes is left for all-gather / reduce-scatter, ``network_bytes``). At 512
ranks in 64 nodes that is 448 intra-node hops per collective; FSDP/ZeRO-3 issues three per layer,
so this latency grows with the DP degree while the bytes per GPU do not
(llm-foundry's tables: tokens/s/GPU falls 6-10% from 128 to 512 GPUs at fixed micro-batch).
All-reduce keeps the hierarchical latency (NCCL picks its tree across nodes where latency matters, whose
latency grows as log2 of the node count), its flat ring over more than 2 nodes included: the ring wins only
where the bytes dominate. The hop latency is the generic ``intra_alpha_s`` (8 us); NCCL's own tuning table gives
a Simple-protocol NVLink ring hop 3.4 us (``hwLat``), which, tried for the flat ring's extra hops (2026-12-03),
turns Together AI's B200 Megatron-FSDP rows at 512 / 592 GPUs from +5.7 / +8.4% to -12.7 / -12.2% and costs
llm-foundry A100 0.4 points of median (5.3 -> 5.7%): not taken.

Group placement follows Megatron-LM's rank order (tp innermost, then cp, ep within dp, dp, pp
outermost): a group whose inner stride is s has min(n, gpus_per_node // s) members per node.
"""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

from planner.hardware.nvlink import group_link_share, meshed

KIND_FACTOR = {"all_reduce": 2.0, "reduce_scatter": 1.0, "all_gather": 1.0, "all_to_all": 1.0}
#: collectives NCCL runs only as a flat ring across nodes (module docstring)
FLAT_RING_KINDS = ("all_gather", "reduce_scatter")


def ring_time(kind: str, nbytes, n, bw, alpha):
    """Flat ring collective on one link type. ``n == 1`` costs nothing."""
    n = np.asarray(n, dtype=np.float64)
    f = KIND_FACTOR[kind]
    t = f * (n - 1) / np.maximum(n, 1) * np.asarray(nbytes, dtype=np.float64) / np.asarray(bw) + f * (n - 1) * alpha
    return np.where(n > 1, t, 0.0)


#: NCCL's latency model of a small all-reduce, LL protocol (NVIDIA/nccl src/graph/tuning.cc @b6475625
#: ``ncclTopoTuneModel``): ``baseLat`` Tree / Ring LL 6.8 / 6.6 us; ``hwLat`` per step, Tree / Ring LL, NVLink 0.6 /
#: 0.6 us, PCI 1.0 / 1.0 us, network 5.0 / 2.7 us; a ring takes ``nsteps = 2 (nRanks - 1)`` steps, ``nInterSteps =
#: 2 nNodes`` of them on the network (``nNodes > 1``), each intra-node step at least the net post overhead
#: (``getNetOverhead``, 1 us); a tree 2 ((nRanks / nNodes - 1) intraLat + log2(nNodes) interLat). At a few bytes the
#: bandwidth term is nil and NCCL runs the algorithm of least latency (``ncclTopoGetAlgoTime``); the Simple
#: protocol's and NVLS's bases (8.4 / 23 us) are larger. Used only where the message is bytes, not a buffer
#: (``small_allreduce_time``).
NCCL_LL_BASE_S = {"tree": 6.8e-6, "ring": 6.6e-6}
NCCL_LL_HOP_S = {"nvlink": {"tree": 0.6e-6, "ring": 0.6e-6}, "pci": {"tree": 1.0e-6, "ring": 1.0e-6},
                 "net": {"tree": 5.0e-6, "ring": 2.7e-6}}
NCCL_NET_OVERHEAD_S = 1.0e-6


def small_allreduce_time(n, stride, gpus_per_node, link: str = "nvlink"):
    """Seconds of an all-reduce of a few bytes (a 4-byte amax) over a group of ``n`` ranks with inner stride
    ``stride`` placed by Megatron's rank order (vectorised; ``NCCL_LL_BASE_S``), the node's GPUs joined by ``link``
    ("nvlink" or "pci", NCCL's ``NCCL_HW_NVLINK`` / ``NCCL_HW_PCI``): NCCL's LL latency, the lesser of its ring and
    tree. Inside one NVLink domain 6.6 + 2 (n - 1) x 0.6 us: 7.8 us at n = 2, 15.0 us at n = 8. The bandwidth-regime
    ring of ``ring_time`` (``intra_alpha_s`` a step) prices buffers, not this."""
    n = np.asarray(n, dtype=np.float64)
    k = np.maximum(n / members_per_node(n, stride, gpus_per_node), 1.0)
    multi = k > 1
    hop, net = NCCL_LL_HOP_S[link], NCCL_LL_HOP_S["net"]
    inter = np.where(multi, 2.0 * k, 0.0)
    intra = np.where(multi, max(hop["ring"], NCCL_NET_OVERHEAD_S), hop["ring"])
    ring = NCCL_LL_BASE_S["ring"] + (2.0 * (n - 1) - inter) * intra + inter * net["ring"]
    tree = NCCL_LL_BASE_S["tree"] + 2.0 * ((n / k - 1) * hop["tree"] + np.log2(k) * net["tree"])
    return np.where(n > 1, np.minimum(ring, tree), 0.0)


def p2p_time(nbytes, bw, alpha):
    return np.asarray(nbytes, dtype=np.float64) / np.asarray(bw) + alpha


def members_per_node(n, stride, gpus_per_node):
    """How many members of a group of size n with inner stride ``stride`` share a node."""
    n = np.asarray(n, dtype=np.float64)
    per = np.maximum(np.asarray(gpus_per_node, dtype=np.float64) // np.maximum(stride, 1), 1)
    return np.minimum(n, per)


def group_intra_bw(hw, n, stride, shape: str = "ring"):
    """The achieved per-GPU, per-direction NVLink bandwidth of a group of ``n`` ranks at inner stride ``stride``
    inside one node (vectorised), for a collective of ``shape`` (planner.hardware.nvlink ``SHAPE_LINKS``: "ring" the
    rings of an all-reduce / all-gather / reduce-scatter, "all_to_all" the per-pair sends of an all-to-all, "p2p" a
    ring of sends, the slowest pair's): ``hw.intra_bw_eff`` on a switched node (a plain float, as every caller
    had it), else that times the share of the GPU's links the node's slowest such group reaches
    (``group_link_share``, on the ``members_per_node`` each node holds): on a DGX-1 V100 a TP-2 pair of GPUs 0-1 has
    one of six NVLinks (25 of 150 GB/s), a quad two rings (100 GB/s), all eight the lot; an all-to-all over all eight
    4.2 links (105 GB/s), over four MI300X GPUs 3 of 7 xGMI links. The bytes it divides are the rank's bytes to
    its peers in the node (the all-to-all's (m - 1) / m of the buffer; ``a2a_time``'s NVLink bytes).
    A group with no NVLink path between its members runs over PCIe through the CPUs: the part's PCIe rate at the same
    efficiency (an assumption; no Megatron-order group of 2, 4 or 8 on the DGX-1 mesh has none)."""
    if not meshed(hw.nvlink_topology):
        return hw.intra_bw_eff
    g = int(hw.gpus_per_node)
    m, s = np.broadcast_arrays(members_per_node(n, stride, g), np.maximum(np.asarray(stride), 1))
    pairs = np.stack([m.ravel(), s.ravel()]).astype(np.int64)
    uniq, back = np.unique(pairs, axis=1, return_inverse=True)
    share = np.array([group_link_share(hw.nvlink_topology, int(a), int(b), g, shape)
                      for a, b in uniq.T])[back.ravel()]
    pcie = (hw.gpu.pcie_bw or 0.0) * hw.eff.intra_bw
    return np.where(share > 0, hw.intra_bw_eff * share, pcie).reshape(m.shape)


def collective_time(kind, nbytes, n, stride, gpus_per_node, intra_bw, inter_bw_per_gpu,
                    intra_alpha, inter_alpha):
    """Time of a collective over a group placed by Megatron's rank order (vectorised).

    Within one node: a flat ring on NVLink. Across nodes: hierarchical — ring within the node on
    the whole buffer, then a ring across the k = n/g nodes on N/g bytes per GPU (``placed_collective_time`` with
    g members on every one of the k domains).
    """
    n = np.asarray(n, dtype=np.float64)
    g = members_per_node(n, stride, gpus_per_node)
    k = np.maximum(n / g, 1.0)
    if kind == "all_to_all":
        # all-to-all does not decompose: the share of traffic leaving the node crosses the NIC
        intra = ring_time(kind, nbytes, g, intra_bw, intra_alpha)
        cross = (n - g) / np.maximum(n, 1)
        local = ring_time(kind, np.asarray(nbytes) * (1 - cross), g, intra_bw, intra_alpha)
        remote = np.asarray(nbytes, dtype=np.float64) * cross / inter_bw_per_gpu + (k - 1) * inter_alpha
        return np.where(n > 1, np.where(k > 1, local + remote, intra), 0.0)
    return placed_collective_time(kind, nbytes, n, g, g, k, intra_bw, inter_bw_per_gpu, intra_alpha, inter_alpha)


def placed_collective_time(kind, nbytes, n, fewest, most, domains, intra_bw, inter_bw_per_gpu, intra_alpha,
                           inter_alpha):
    """An all-reduce / all-gather / reduce-scatter over a group of ``n`` ranks whose members sit unevenly on the
    NVLink domains (vectorised): ``fewest`` / ``most`` members of the group on one domain, over ``domains`` domains
    (``ep_domain_members``; ``collective_time`` is the even case, g on each of n / g). The collective ends with its
    slowest link: every chunk a domain lacks enters it through the NICs of the members it holds, so the domain with
    the fewest members c carries f (n - c) / n x N on c NICs, f (n - c) / (n c) N a GPU (n = c k: the hierarchical
    ring's f (k - 1) / k x N / g); the NVLink ring inside the fullest domain runs on the whole buffer; one inter-node
    hop latency per domain crossed. The ring's flat hops (``FLAT_RING_KINDS``, module docstring) are the n - domains
    beyond the fullest domain's. Used for the expert-TP group of consecutive ranks, which a domain that is no
    multiple of it splits (ETP 16 on 72-GPU NVL72 racks: the fifth group of every rack 8 + 8), where the even price
    would put it all on NVLink."""
    n = np.asarray(n, dtype=np.float64)
    lo, hi = np.asarray(fewest, dtype=np.float64), np.asarray(most, dtype=np.float64)
    k = np.asarray(domains, dtype=np.float64)
    f = KIND_FACTOR[kind]
    intra = ring_time(kind, nbytes, hi, intra_bw, intra_alpha)
    # bandwidth: what a member's NIC carries (``network_bytes``); latency per domain crossed
    nic = network_bytes(kind, nbytes, n, lo, k) / np.asarray(inter_bw_per_gpu)
    hops = f * (k - 1) * inter_alpha
    flat = (n - k - (hi - 1)).clip(0) * intra_alpha if kind in FLAT_RING_KINDS else 0.0
    phased = intra + nic + hops + flat
    # NCCL's flat ring (an all-reduce over more than 2 nodes, ``network_bytes``) pipelines its chunks through every
    # hop at once, so the slower of a GPU's NVLink sends and its NIC's sets the pace (nccl-tests' bus bandwidth = the
    # bottleneck link's rate), not their sum; each hop carries f (n - 1) / n x N, and a GPU's send goes through
    # NVLink only in the channels where it does not leave the node (``flat_ring_nvlink_share``)
    ring = (f * (n - 1) / np.maximum(n, 1.0) * np.asarray(nbytes, dtype=np.float64) / np.asarray(intra_bw)
            * flat_ring_nvlink_share(hi))
    piped = np.maximum(ring, nic) + (intra - ring_time(kind, nbytes, hi, intra_bw, 0.0)) + hops
    across = np.where(flat_ring_allreduce(kind, k), piped, phased)
    return np.where(k > 1, across, intra)


def flat_ring_nvlink_share(members):
    """Share of a GPU's flat-ring sends that go over NVLink / Infinity Fabric when ``members`` of the ring sit on its
    node (vectorised): each channel's ring enters and leaves a node once, so of its ``members`` GPUs there the one
    that hands on to the next node sends through its NIC and the other m - 1 to a peer in the node; NCCL and RCCL
    spread the exit over the node's GPUs (one ring per NIC; RCCL's MI300X multi-node channels "repeated ... each
    repetition rotates the order by one", ROCm/rccl PR #1196), so a GPU's link carries (m - 1) / m of the ring's
    f (n - 1) / n x N, its NIC the rest (``network_bytes``' f (n - 1) / n x N / m). Checked (prod56) against the
    MI325X cluster of validate.mi300x's rows (AMD AAC11, 8 x 400 Gb/s RoCE a node; nccl_bandwidth.csv
    ``aac11_mi325x_*``, rccl-tests, Ring forced): 319 GB/s bus bandwidth in one node at 16 GiB, 350 on 4 and 8 nodes,
    above the one-node ring -- priced at the whole buffer over the links the 8-node all-reduce was 1.11x the measured
    time (Infinity Fabric-bound at 317 GB/s), with the share 1.03x (NIC-bound at 0.85 x 400). Where the links
    outrun the NICs (NVLink on H100 / H200 / B200 with 400 Gb/s a GPU) the NIC paced either way."""
    m = np.maximum(np.asarray(members, dtype=np.float64), 1.0)
    return (m - 1.0) / m


def flat_ring_allreduce(kind, domains):
    """Whether NCCL runs this collective across ``domains`` nodes as a flat ring whose NIC bytes are f (n - 1) / n
    (``network_bytes``): a large all-reduce over more than 2 nodes."""
    return (kind == "all_reduce") & (np.asarray(domains, dtype=np.float64) > 2)


def network_bytes(kind, nbytes, n, fewest, domains):
    """Bytes one member's NIC carries in each direction while a collective over ``n`` ranks crosses ``domains``
    NVLink domains (nodes), the fewest members of the group on one domain ``fewest`` (c; vectorised; 0 inside one
    domain). Two patterns (NVIDIA/nccl src/graph/tuning.cc ``ncclTopoTuneModel``, search.cc ``ncclTopoCompute``,
    read at v2.7.5):

    * NCCL's flat ring through all n ranks (``flat_ring_allreduce``: a large all-reduce over more than 2 nodes, where
      ncclTopoTuneModel prices ring and tree on the same inter-node speed, the tree's algorithm bandwidth 0.5 x 0.9 of
      the bus rate against the ring's n / (2 (n - 1)), so the ring wins the bandwidth regime). Every hop of a ring
      carries f (n - 1) / n of the buffer (Thakur et al. 2005, module docstring), the node's own chunks' round trip
      through the other nodes included, and each channel leaves a node once: a node's NICs carry f (n - 1) / n x N,
      f (n - 1) / n x N / c a member ("Ring: (S / N) x 2 (N - 1) ... Tree: S" on 2 nodes, NVIDIA/nccl issue #812,
      where NVIDIA's reply adds "as you scale out beyond two nodes, the same effect will not be present" and 192 GB/s
      all-reduce bus bandwidth on DGX A100's 8 x 200 Gb/s; nccl-tests issue #251: "if you run on 4 nodes you should
      be back to the 24GB/s you would expect", the NIC rate). Checked: nccl-tests all-reduce on 4 x 8 H200 (p5en,
      3,200 Gb/s EFA, NCCL 2.27.7; benchmarks/data/parts/nccl_bandwidth.csv ``stas_p5en_4n_ar_ring_*``) 365 GB/s
      bus bandwidth, the
      NIC rate at the generic 0.85 efficiency (340 GB/s) with ``placed_collective_time``'s pipelined ring, where the
      phased hierarchical price gave 202 GB/s (tests/test_xn54_ring.py).
    * everything else keeps the hierarchical decomposition's f (k - 1) / k x N / g (c = g; f (n - c) / n x N / c
      when uneven). For an all-reduce on 2 nodes that is NCCL's tree: "2 nodes is a special case. With Tree, on 2
      nodes ... we have 2x less traffic on the network than on the intra-node connections ... NCCL should use Tree
      on 2 nodes for large sizes" (S. Jeaugey, NVIDIA/nccl issue #946, 2023; search.cc's pass 2 "increase
      speedIntra for trees (2 nodes or collnet)", already in v2.7.5; nccl_bandwidth.csv: p4de 2 x 8 on 4 x 100
      Gb/s EFA 78 GB/s bus bandwidth at 2 GiB, 1.57x the node's 50 GB/s). All-gather / reduce-scatter are flat
      rings in NCCL too (f (n - 1) / n, twice the hierarchical bytes at 2 nodes), but priced so (xn54, not taken)
      the FSDP / distributed-optimizer rows went worse (OLMo 2 32B fp8, HSDP over 2-node shard groups, -5% ->
      +24%; dgxc's weak-scaling ladders' ranks), with no multi-node all-gather measurement here to decide."""
    n = np.asarray(n, dtype=np.float64)
    c = np.maximum(np.asarray(fewest, dtype=np.float64), 1.0)
    k = np.asarray(domains, dtype=np.float64)
    ring = flat_ring_allreduce(kind, k)
    share = np.where(ring, (n - 1) / np.maximum(n, 1.0), (n - c) / np.maximum(n, 1.0))
    b = KIND_FACTOR[kind] * share * np.asarray(nbytes, dtype=np.float64) / c
    return np.where(k > 1, b, 0.0)


def nic_bytes(kind, nbytes, n, stride, gpus_per_node):
    """Bytes one GPU's NIC carries in each direction during ``collective_time``'s inter-node phase
    (``network_bytes`` with g members on each of the k = n/g nodes); none for a group inside one node. The traffic
    planner.model.offload ``pcie_contention_mb`` puts on the GPU's PCIe link beside its host copies (GPUDirect
    RDMA)."""
    n = np.asarray(n, dtype=np.float64)
    g = members_per_node(n, stride, gpus_per_node)
    return network_bytes(kind, nbytes, n, g, np.maximum(n / g, 1.0))


def a2a_time(nvlink_bytes, nic_bytes, n, per_node, intra_bw, inter_bw_per_gpu, intra_alpha, inter_alpha,
             domains=None):
    """One rank's all-to-all given what it sends over NVLink and over its NIC
    (planner.model.moe.dispatch_bytes): the two links run concurrently (NCCL issues every
    peer's send/recv in one group; DeepEP pipelines its RDMA and NVLink forwarding), so the
    slower sets the time, plus one latency per peer node and per peer GPU in the node.
    ``domains``: the NVLink domains the group spans where its members are not ``per_node`` on each
    (``ep_domain_members``); default n / per_node."""
    n = np.asarray(n, dtype=np.float64)
    g = np.minimum(np.asarray(per_node, dtype=np.float64), n)
    k = np.maximum(n / np.maximum(g, 1.0), 1.0) if domains is None else np.asarray(domains, dtype=np.float64)
    t = (np.maximum(np.asarray(nvlink_bytes) / intra_bw, np.asarray(nic_bytes) / inter_bw_per_gpu)
         + (g - 1) * intra_alpha + (k - 1) * inter_alpha)
    return np.where(n > 1, t, 0.0)


def ep_domain_members(ep, etp, world, gpus_per_node):
    """(fewest, most, domains): the members of an expert-parallel group that share an NVLink domain with its
    worst-placed rank (the fewest any rank of the job has beside it), the most any rank has, and the most domains
    one group spans, over every EP group of a job of ``world`` ranks on domains of ``gpus_per_node`` GPUs
    (the catalog's node: 8 on a DGX / HGX, 72 on a GB200 / GB300 NVL72 rack -- one formula for all). Vectorised.

    Placement: Megatron-Core's expert rank generator (megatron/core/parallel_state.py ``initialize_model_parallel``:
    ``expert_decoder_rank_generator = RankGenerator(tp=expert_tensor_parallel_size, ep=expert_model_parallel_size,
    dp=expert_data_parallel_size, pp=pipeline_model_parallel_size, cp=1, order=order)``, default order
    ``tp-cp-ep-dp-pp``) puts etp innermost and ep next, so an EP group is ep ranks at stride etp inside a block of
    S = etp x ep consecutive ranks, the blocks laid end to end from rank 0 (edp, then pp, outermost), and the
    scheduler fills the domains in rank order. With etp dividing the domain (g' = g / etp blocks of etp ranks a
    domain) every member of group j = 0 .. world / S - 1 sits in a run of ep units starting at unit r_j = j ep mod
    g': its first domain holds min(ep, g' - r_j), then whole domains of g', then the rest. r_j repeats with period
    g' / gcd(ep, g'), so at most that many groups are looked at. With the domain dividing etp every member has its
    own domain (1, 1, ep). Where neither divides (TP 16 on 72-GPU domains), counted rank by rank over one period of the
    layout (``counted_members``; the uniform min(ep, g // etp) of ``members_per_node`` until ep41). The expert-TP
    group, etp consecutive ranks, is the case etp = 1: ``ep_domain_members(etp, 1, world, g)``.

    EP 64 on 72-GPU NVL72 domains, 128 ranks: the second group has 8 members on the first domain and 56 on the
    next: (8, 64, 2); in 64-GPU segments (8, 16 or 32-GPU ones too) every group tiles: (64, 64, 1); EP 16 on 8-GPU
    nodes: (8, 8, 2), as ``members_per_node``.

    >>> [tuple(int(x) for x in v) for v in zip(*ep_domain_members([64, 64, 16, 64], [1, 1, 1, 2], [128, 128, 64, 256], [72, 64, 8, 72]))]
    [(8, 64, 2), (64, 64, 1), (8, 8, 2), (8, 36, 3)]
    """
    ep, etp, world, g = (np.asarray(x, dtype=np.int64) for x in np.broadcast_arrays(ep, etp, world, gpus_per_node))
    shape = ep.shape
    ep, etp, world, g = (x.ravel() for x in (ep, etp, world, g))
    etp = np.maximum(etp, 1)
    units = g // etp  # the domain in blocks of etp ranks
    divides = (g % etp == 0)
    # the group's first unit modulo the domain, r_j = j ep mod g', over the distinct offsets the job has
    span = np.where(divides, units, 1)
    period = span // np.gcd(ep, span)
    groups = np.maximum(world // np.maximum(ep * etp, 1), 1)
    j = np.arange(int(np.max(np.minimum(period, groups), initial=1)))[None, :]
    live = j < np.minimum(period, groups)[:, None]
    e, u = ep[:, None], span[:, None]
    first = np.minimum(e, u - (j * e) % u)
    rest = e - first
    full, last = rest // u, rest % u
    big = np.iinfo(np.int64).max
    lo = np.minimum(first, np.minimum(np.where(full > 0, u, big), np.where(last > 0, last, big)))
    hi = np.maximum(first, np.maximum(np.where(full > 0, u, 0), last))
    k = 1 + full + (last > 0)
    lo = np.where(live, lo, big).min(axis=1)
    hi = np.where(live, hi, 0).max(axis=1)
    k = np.where(live, k, 0).max(axis=1)
    own = (etp >= g) & (etp % np.maximum(g, 1) == 0)  # a domain no wider than etp: each member on its own
    lo, hi, k = np.where(own, 1, lo), np.where(own, 1, hi), np.where(own, ep, k)
    odd = ~divides & ~own
    for i in np.flatnonzero(odd):
        lo[i], hi[i], k[i] = counted_members(int(ep[i]), int(etp[i]), int(world[i]), int(g[i]))
    return tuple(x.reshape(shape) for x in (lo, hi, k))


def counted_members(ep: int, etp: int, world: int, g: int) -> tuple[int, int, int]:
    """``ep_domain_members`` of one layout whose etp neither divides the domain nor is a multiple of it (TP 16 on
    72-GPU NVL72 racks), counted rank by rank: member i of the EP group at lane t of grid b is rank b S + t + etp i
    (S = etp x ep, Megatron-Core's expert ``RankGenerator``), on domain rank // g. The grids' offsets on the domains
    repeat every g / gcd(S, g) grids, so one such period is counted. Until ep41 these layouts took the uniform
    min(ep, g // etp) members a domain: ETP 16 x EP 8 on 72-GPU racks, 128 ranks, was 4 members on every domain
    where its groups split 5 + 3 or 4 + 4 between the two racks (fewest 3, most 5)."""
    span = etp * ep
    grids = max(min(world // span, g // gcd(span, g)), 1)
    rank = (np.arange(grids)[:, None, None] * span + np.arange(etp)[None, :, None]
            + etp * np.arange(ep)[None, None, :])
    dom = rank // g  # nondecreasing along each group's members
    same = (dom[..., :, None] == dom[..., None, :]).sum(axis=-1)
    doms = 1 + (np.diff(dom, axis=-1) > 0).sum(axis=-1)
    return int(same.min()), int(same.max()), int(doms.max())


def crosses_nodes(n, stride, gpus_per_node):
    return np.asarray(n) > members_per_node(n, stride, gpus_per_node)


def ring_hop_time(nbytes, n, stride, gpus_per_node, intra_bw, inter_bw_per_gpu, intra_alpha, inter_alpha):
    """One step of a point-to-point ring over a group placed by Megatron's rank order: every member
    sends ``nbytes`` to the next member and receives from the previous one at the same time
    (Transformer Engine ``flash_attn_p2p_communicate``: ``batch_isend_irecv`` to ``send_dst``
    and from ``recv_src``), so the step lasts as long as its slowest hop. A group inside one node
    hops on NVLink; a group that spans nodes has members whose neighbour is on the next node, and
    their whole chunk crosses that GPU's NIC (unlike an all-gather, a ring of sends cannot split
    the inter-node part into N/g pieces). ``n == 1``: no ring."""
    cross = crosses_nodes(n, stride, gpus_per_node)
    t = np.where(cross, p2p_time(nbytes, inter_bw_per_gpu, inter_alpha), p2p_time(nbytes, intra_bw, intra_alpha))
    return np.where(np.asarray(n) > 1, t, 0.0)


def torch_ring_calls(cp: int, load_balance: bool = True) -> list[tuple]:
    """The attention kernel calls of PyTorch's ring (torch.distributed.tensor.experimental
    ``_attention.py``, torch 2.5-2.6: ``_templated_ring_attention`` and its backward, both looping
    ``for i in range(size)`` with ``_is_causal_behavior``): one ``(rank, step, q_frac, k_frac,
    causal)`` per call, fractions of the rank's local tokens. Step 0 runs the local Q/K/V causal;
    with ``_cp_options.enable_load_balance`` (default True: round-robin, every rank holds chunks r
    and 2 cp - 1 - r) step i <= rank runs all queries on the first half of the received K/V and
    step i > rank the second half of the queries on all of it, both non-causal; without it, steps
    whose K/V come from a later rank are skipped. Forward and backward call the same shapes."""
    calls = []
    for rank in range(cp):
        for i in range(cp):
            if i == 0:
                calls.append((rank, i, 1.0, 1.0, True))
            elif load_balance:
                calls.append((rank, i, 1.0, 0.5, False) if i <= rank else (rank, i, 0.5, 1.0, False))
            elif (rank - i) % cp < rank:
                calls.append((rank, i, 1.0, 1.0, False))
    return calls


@lru_cache(maxsize=None)
def torch_ring_profile(cp: int) -> dict:
    """Per-rank means over PyTorch's load-balanced ring (``torch_ring_calls``) for one attention
    layer and pass: ``calls``; ``work`` in units of (local tokens)^2 (a causal call counts half);
    ``key_frac``: the work-weighted harmonic mean of keys per call, as a fraction of the local
    tokens (a flash kernel's time goes as work x (1 + s_half / keys), physics.attention_efficiency,
    so this one key count gives the same time as the calls' own); ``q_read`` / ``kv_read``: the
    calls' query / key shares summed over the steps (what the merges read of each step's partial
    output and dQ, and of its dK/dV)."""
    calls = torch_ring_calls(int(cp))
    n = float(cp)
    w = [q * k * (0.5 if c else 1.0) for _, _, q, k, c in calls]
    return dict(
        calls=len(calls) / n,
        work=sum(w) / n,
        key_frac=sum(w) / sum(wi / c[3] for wi, c in zip(w, calls)),
        q_read=sum(c[2] for c in calls) / n,
        kv_read=sum(c[3] for c in calls) / n,
    )


def torch_ring_columns(cp) -> dict:
    """``torch_ring_profile`` for an array of CP degrees: one array per entry (a search has a few
    distinct degrees)."""
    cp = np.asarray(cp, dtype=np.float64)
    keys = np.unique(cp)
    prof = [torch_ring_profile(int(c)) for c in keys]
    idx = np.searchsorted(keys, cp)
    # (the entries named by CP 1's profile, cached: an empty batch has no degree of its own, and prof[0] of nothing
    # raised IndexError on one, fuzz42)
    return {k: np.array([p[k] for p in prof], dtype=np.float64)[idx] for k in torch_ring_profile(1)}


def hierarchical_cp_a2a(cp, tp, gpus_per_node, heads: int, kv_heads: int):
    """The a2a degree of Megatron-Core's ``cp_comm_type="a2a+p2p"``: ``--hierarchical-context-parallel-sizes a2a
    p2p`` (megatron/training/arguments.py; the product must be CP), the first the inner sub-group of adjacent CP
    ranks (megatron/core/parallel_state.py ``_set_hierarchical_cp_groups``). Megatron takes the sizes from the user;
    the planner writes the largest divisor of CP whose a2a group stays inside a node (a2a x TP <= GPUs a node, its
    all-to-alls on NVLink, the ring across nodes) and divides the attention and KV heads of a TP rank (TE
    AttnFuncWithCPAndKVP2P's a2a step, as ``AttnFuncWithCPAndQKVOA2A``: 'The number of attention heads needs to be
    divisible by CP size!'). 1 where none does (the ring alone). Vectorised over ``cp`` / ``tp``."""
    cp, tp = np.asarray(cp, dtype=np.int64), np.asarray(tp, dtype=np.int64)
    g = np.asarray(gpus_per_node, dtype=np.int64)
    hq, hk = heads // np.maximum(tp, 1), (kv_heads or heads) // np.maximum(tp, 1)
    a = np.ones(np.broadcast(cp, tp, g).shape, dtype=np.int64)
    for d in range(2, int(np.max(cp, initial=1)) + 1):  # increasing (the last divisor that fits wins); 0 rows: none
        a = np.where((cp % d == 0) & (tp * d <= g) & (hq % d == 0) & (hk % d == 0), d, a)
    return a
