"""How a node's GPUs are wired to each other: the share of a GPU's NVLink bandwidth a collective over a group of them
can use.

On a switched node (NVSwitch: DGX A100 / H100 / B200, HGX) every GPU reaches every other through the switch at its
full NVLink rate, so a ring over any subset runs at the per-GPU rate the catalog gives (``intra_node_gbps_per_dir``).
On a node without a switch the GPUs are joined point to point, and a group only has the links between its members.

NVIDIA DGX-1 with Tesla V100 ("hybrid cube-mesh"; NVIDIA, "NVIDIA DGX-1 With Tesla V100 System Architecture", white
paper WP-08437-002, 2017, §"DGX-1 NVLink Network Topology for Efficient Application Scaling"): each V100 has six
NVLinks of 25 GB/s a direction; the eight GPUs sit on the corners of a cube whose twelve edges are NVLinks, some
doubled, with two faces' diagonals linked too, "three interwoven rings of single NVLink connections". The per-pair
link counts (``DGX1_V100_LINKS``) are the ``nvidia-smi topo -m`` matrix OneFlow printed for its DLPerf nodes
(Oneflow-Inc/DLPerf Megatron-LM/README.md @248fcd8d, "NV1" / "NV2" = a bonded set of 1 / 2 NVLinks); the Apache
MXNet design page "Single machine All Reduce Topology-aware Communication" (cwiki.apache.org, Figure 3 "Link topology
of p3.16xlarge instance": double NVLink 50 GB/s, single 25 GB/s, PCIe + CPU otherwise) draws the same mesh for AWS's
p3.16xlarge.

NCCL runs a collective inside a node as rings through every member of the group (NCCL 2.8 src/graph/search.cc: each
channel is one ring of the group's GPUs over NVLink, a link's bandwidth shared by the channels that cross it; no
path through a GPU outside the group). A ring uses, in each direction, one link out of and one into every member, so
a member drives in each direction as many links as there are link-disjoint rings through the group (each ring run
both ways: NCCL builds the reverse ring too), or, for a pair, every link between the two. ``ring_links`` counts them by
search: the eight-GPU mesh holds three disjoint rings (all six links: the full 150 GB/s, as a switched node); a
four-GPU quad of it (GPUs 0-3) two (four links, 100 GB/s); a pair one or two links (25 / 50 GB/s); the strided
four {0, 2, 4, 6} one ring (two links). Fractional ring packings do not beat these: each is capped by its least-linked
member's link count over two.

AMD Instinct MI300X / MI325X platforms (8 OAMs on one baseboard) join their GPUs by Infinity Fabric (xGMI) with no
switch either: "Each AMD Instinct MI300X system GPU is connected to its seven peer GPUs via xGMI links, forming a fully
connected mesh", one link of 64 GB/s a direction per pair (ROCm blog "Understanding RCCL Bandwidth and xGMI
Performance on AMD Instinct MI300X", 2025-03-02, ROCm/rocm-blogs blogs/software-tools-optimization/mi300x-rccl-xgmi
@0e81c2ca; ``XGMI_FULL_MESH_LINKS``). RCCL spreads its channels over every link a group has: the blog's 8-GPU
all_reduce_perf reaches 316-319 GB/s bus bandwidth, seven links at the slowest one's 45.2 GB/s, and RCCL's own topology
print for a 4-GPU MI300X system reads "maxBw 48.0 totalBw 144.0", three 48 GB/s links a GPU (ROCm/rccl issue #1210,
2024-06-12). So a group of k GPUs of the mesh drives its k - 1 links (a complete group: ``ring_links``), 1/7 of the
8-GPU rate for a pair, 3/7 for four: "When using less than 8 GPUs, one can only achieve a fraction of the potential
bandwidth on the system" (ROCm/rccl README, PR #1270, "Improving performance on MI300 when using less than 8 GPUs").
The integer ring search above would leave a complete group of even size one link short (K_8 holds three disjoint
Hamiltonian rings and a perfect matching: 6 of 7 links), which the blog's seven-link 8-GPU rate refutes.

Four Hopper GPUs on one board (``nvlink4-quad-mesh``: NVIDIA HGX H100 / H200 4-GPU, the 4-GPU SXM nodes of academic
clusters such as Harvard's Kempner AI cluster) have no switch either: NVIDIA lists NVSwitch on its 8-GPU baseboards
only ("Platform Support for NVIDIA NVSwitch: NVIDIA HGX B300 / B200 / H200 / H100 / H800 / A100 8-GPU baseboard",
NVIDIA AI Enterprise docs, "NVIDIA NVSwitch", docs.nvidia.com/ai-enterprise/release-8/8.0/infra-software/vgpu/
features/nvswitch.html, read 2026-12-07), and the 4-GPU board joins its GPUs each to each ("HGX A100 4-GPU connected
with NVLink", NVIDIA developer blog "Introducing NVIDIA HGX A100", 2020: the board generation before; the H200 NVL's
"2- or 4-way NVIDIA NVLink bridge", NVIDIA H200 product page, a 4-GPU mesh too). A Hopper GPU has 18 NVLink 4 links
(900 GB/s: gpus.csv ``NVLink4`` 450 GB/s a direction); each to each among four is three peers, 6 links a pair if the
links split evenly (the board's per-pair count is not printed in a source found here: the even split is the symmetric
wiring, as the MI300X's one link to each of seven). So a pair has 1/3 of a GPU's NVLink bandwidth and a group of g
of the four (g - 1)/3: TP 2 a third, TP 4 all of it, the complete-group rule above (NCCL's rings over the group's
links only; ``ring_links``).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from hardware_catalog.chips import model_number

#: NVLinks between each pair of a DGX-1 V100's GPUs (module docstring): six a GPU, 1 or 2 to four neighbours
DGX1_V100_LINKS = (
    (0, 1, 1, 2, 2, 0, 0, 0),
    (1, 0, 2, 1, 0, 2, 0, 0),
    (1, 2, 0, 2, 0, 0, 1, 0),
    (2, 1, 2, 0, 0, 0, 0, 1),
    (2, 0, 0, 0, 0, 1, 1, 2),
    (0, 2, 0, 0, 1, 0, 2, 1),
    (0, 0, 1, 0, 1, 2, 0, 2),
    (0, 0, 0, 1, 2, 1, 2, 0),
)

#: xGMI links between each pair of an 8-GPU MI300X / MI325X platform (module docstring): one to each of the 7 peers
XGMI_FULL_MESH_LINKS = tuple(tuple(int(i != j) for j in range(8)) for i in range(8))

#: NVLinks between each pair of a 4-GPU Hopper board's GPUs (module docstring): 18 a GPU, 6 to each of its 3 peers
NVLINK4_QUAD_LINKS = tuple(tuple(6 * int(i != j) for j in range(4)) for i in range(4))

#: a node's NVLink wiring by name (``vocab.NVLINK_TOPOLOGY``: instances.csv / job ``cluster.nvlink_topology``): None where every GPU reaches the
#: others at its full rate (NVSwitch; also the default, and a PCIe node's shared switch), else the per-pair link
#: counts of the node's GPUs in rank order
NVLINK_TOPOLOGIES: dict[str, tuple[tuple[int, ...], ...] | None] = {
    "switch": None,
    "hybrid-cube-mesh": DGX1_V100_LINKS,
    "xgmi-full-mesh": XGMI_FULL_MESH_LINKS,
    "nvlink4-quad-mesh": NVLINK4_QUAD_LINKS,
}
DEFAULT_TOPOLOGY = "switch"

#: a mesh's link fabric, what its links are called, and what its groups get (the line a plan on it prints: options
#: ``topology_notes``)
MESH_LINKS = {
    "hybrid-cube-mesh": ("NVLink", "NVLinks",
                         "on a DGX-1 V100 a TP-2 pair has 1-2 of a GPU's 6 links, a TP-4 quad 4, all 8 GPUs 6"),
    "xgmi-full-mesh": ("xGMI", "xGMI links",
                       "on an MI300X / MI325X node a pair has 1 of a GPU's 7 links, a group of four 3, the whole node 7"),
    "nvlink4-quad-mesh": ("NVLink", "NVLinks",
                          "on a 4-GPU HGX H100 / H200 board a TP-2 pair has 6 of a GPU's 18 links, all four GPUs 18"),
}

#: the wiring a chip's platform always has, by model number (hardware_catalog.chips ``model_number``): where neither the
#: job nor an instance row names one, a node of these GPUs is taken as wired so (``default_topology``). MI300X and
#: MI325X sit on the same 8-OAM baseboard, fully connected by xGMI (module docstring; the MI325X datasheet's 7 x 128 GB/s
#: Infinity Fabric links, the catalog's 448 GB/s a direction, as MI300X's).
CHIP_TOPOLOGY = {"MI300X": "xgmi-full-mesh", "MI325X": "xgmi-full-mesh"}


def default_topology(gpu_name: str) -> str:
    """How a node of ``gpu_name`` GPUs is wired where nothing names it: its chip's platform wiring (``CHIP_TOPOLOGY``),
    else a switch."""
    return CHIP_TOPOLOGY.get(model_number(gpu_name) or "", DEFAULT_TOPOLOGY)


def meshed(topology: str) -> bool:
    """Whether the wiring joins the node's GPUs point to point (a group has only its members' links), not a switch."""
    return NVLINK_TOPOLOGIES.get(topology) is not None


def topology_gpus(topology: str) -> int | None:
    """GPUs the wiring joins (8 for the DGX-1 mesh); None for a switch, which joins any number."""
    links = NVLINK_TOPOLOGIES[topology]
    return None if links is None else len(links)


@lru_cache(maxsize=None)
def ring_links(topology: str, members: tuple[int, ...]) -> int:
    """Links each member of ``members`` (GPU indices of one node) drives in each direction in NCCL's rings over the
    group (module docstring): for a pair, the links between them; for more, the most link-disjoint rings through all
    members. 0 where no NVLink ring exists (the group then crosses PCIe / the CPUs)."""
    links = NVLINK_TOPOLOGIES[topology]
    if len(members) < 2:
        return 0
    if len(members) == 2:
        return links[members[0]][members[1]]
    pair_links = {links[a][b] for a in members for b in members if a < b}
    if len(pair_links) == 1:
        # a complete group (every pair joined alike): the channels spread over all its Hamiltonian rings, so each
        # member drives every link to the others (module docstring: RCCL's seven-link 8-GPU MI300X rate)
        return pair_links.pop() * (len(members) - 1)
    first, rest = members[0], members[1:]
    # every ring through the members once, as its edges (each undirected ring once: rest[0] before rest[-1])
    rings = []
    for order in permutations(rest):
        if order[0] > order[-1]:
            continue
        path = (first, *order, first)
        rings.append(tuple(sorted((min(a, b), max(a, b)) for a, b in zip(path, path[1:]))))

    def most(cap: dict, start: int) -> int:
        best = 0
        for i in range(start, len(rings)):
            if all(cap[e] >= rings[i].count(e) for e in rings[i]):
                for e in rings[i]:
                    cap[e] -= 1
                best = max(best, 1 + most(cap, i))
                for e in rings[i]:
                    cap[e] += 1
        return best

    cap = {(a, b): links[a][b] for a in members for b in members if a < b}
    return 2 * most(cap, 0)  # each ring runs both ways (a link is full duplex)


def path_links(topology: str, members: tuple[int, ...], a: int, b: int) -> tuple[int, int]:
    """(links, hops) of NCCL's point-to-point path from GPU ``a`` to GPU ``b`` of a group ``members`` (GPU indices of
    one node): the links between them where they are joined, else the best relay through one other member, its
    narrower hop's links, 2 hops (NVIDIA/nccl src/graph/paths.cc @04cdb808 ``ncclTopoSetPaths``: a breadth-first
    search keeping each GPU's widest path, "Set 1 hop NVLink as NVB": one intermediate GPU over NVLink, no more
    (``pathMaxLength``), the path's bandwidth the lesser link's; ``ncclTopoCheckP2p`` takes P2P up to PATH_PXB, NVB
    included, and sends through the ``intermediateRank``). The topology NCCL searches is the communicator's GPUs,
    so only members relay. (0, 0) where neither exists: the pair goes through the host (PATH_PHB / SYS, no P2P)."""
    links = NVLINK_TOPOLOGIES[topology]
    if links[a][b]:
        return links[a][b], 1
    relay = max((min(links[a][c], links[c][b]) for c in members if c not in (a, b)), default=0)
    return (relay, 2) if relay else (0, 0)


@lru_cache(maxsize=None)
def a2a_links(topology: str, members: tuple[int, ...]) -> float:
    """Links' worth of bandwidth each member of ``members`` drives in an all-to-all over the group, in each direction:
    NCCL and RCCL run an all-to-all as one send and one receive per peer, all grouped (NCCL docs, "Point-to-point
    communication" / all-to-all example: ``ncclGroupStart``, ``ncclSend`` / ``ncclRecv`` to every peer,
    ``ncclGroupEnd``; RCCL's ``ncclAllToAll`` runs its own kernel, or with ``RCCL_ALLTOALL_KERNEL_DISABLE=1`` the same
    wrapper of ncclSend / ncclRecv: ROCm/rccl, "Add alltoallv API and implementation"), so each member's chunk c to
    each peer runs concurrently on that pair's path (``path_links``).
    The exchange ends with the slower of two bounds: the narrowest path, c / (its links x one link's rate), and the
    group's links together, every ordered pair's chunk on each hop of its path over the links among the members,
    c x sum hops / (sum links x rate). The member moves (m - 1) c in that time:

        a2a_links = (m - 1) / max(max over pairs 1 / links(a, b), sum over pairs hops(a, b) / sum over pairs links)

    A full mesh of one link a pair (MI300X's xGMI: ``XGMI_FULL_MESH_LINKS``) gives m - 1: one link per peer, the
    whole node's seven for EP 8 (the 8-GPU rate), 3 of 7 for a group of four. The DGX-1 V100's eight GPUs: each
    reaches four peers directly (1-2 links) and three through a relay, 80 hops on 48 links: 4.2 of 6 links.
    The shared bound takes the group's links as one pool (NCCL's channels spread evenly over them); a relay's second
    hop shares a link with that member's own sends, which the pool counts but no per-link schedule checks. No
    all-to-all measurement on a mesh was found (the ROCm blog's figures read here are its all_reduce_perf runs), so
    this rests on the link map and the per-pair sends. 0 where a pair has no NVLink path (through the host)."""
    pairs = [(a, b) for a in members for b in members if a != b]
    paths = [path_links(topology, members, a, b) for a, b in pairs]
    if not pairs or min(n for n, _ in paths) == 0:
        return 0.0
    links = NVLINK_TOPOLOGIES[topology]
    narrowest = max(1.0 / n for n, _ in paths)
    shared = sum(h for _, h in paths) / sum(links[a][b] for a, b in pairs)
    return (len(members) - 1) / max(narrowest, shared)


@lru_cache(maxsize=None)
def p2p_links(topology: str, members: tuple[int, ...]) -> int:
    """Links of the slowest send in a ring of sends over ``members`` (member i to member i + 1, the last to the
    first: Transformer Engine's CP ring, the pipeline's stage-to-stage sends): ``path_links`` of each neighbouring
    pair, the least. A pair only: its own path. 0 where one has no NVLink path. A pipeline without virtual stages
    sends nothing from its last stage to its first; that pair is counted anyway, and on every Megatron-order group
    of 2, 4 or 8 of the two meshes here the chain's slowest pair is the ring's (checked pair by pair, mesh49)."""
    if len(members) < 2:
        return 0
    return min(path_links(topology, members, a, b)[0] for a, b in zip(members, members[1:] + members[:1]))


#: a collective's shape -> the links each member of a group drives in it (``group_link_share``): NCCL's rings
#: (all-reduce, all-gather, reduce-scatter), an all-to-all of per-pair sends, a ring of sends to the next member
SHAPE_LINKS = {"ring": ring_links, "all_to_all": a2a_links, "p2p": p2p_links}


@lru_cache(maxsize=None)
def group_link_share(topology: str, members: int, stride: int, gpus_per_node: int, shape: str = "ring") -> float:
    """The share of a GPU's NVLink bandwidth (its links, all of them) that the slowest of a node's groups of
    ``members`` GPUs at rank stride ``stride`` can use (Megatron's rank order: group j of the node holds ranks
    b + s i, i < members), as the links its ``shape`` drives (``SHAPE_LINKS``) over the GPU's own link count; 1.0 on
    a switch or for one member. A group with no NVLink path: 0.0 (the caller prices it elsewhere)."""
    links = NVLINK_TOPOLOGIES[topology]
    if links is None or members < 2:
        return 1.0
    per_gpu = sum(links[0])
    g = min(gpus_per_node, len(links))
    ranks = np.arange(g)
    group = (ranks // (stride * members)) * stride + ranks % stride
    shares = [SHAPE_LINKS[shape](topology, tuple(int(r) for r in ranks[group == j])) / per_gpu
              for j in np.unique(group) if (group == j).sum() == members]
    return min(shares) if shares else 1.0
