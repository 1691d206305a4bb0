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
"""
from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from hardware_catalog.catalog import nvlink_joined

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

#: a node's NVLink wiring by name (``vocab.NVLINK_TOPOLOGY``: instances.csv / job ``cluster.nvlink_topology``): None where every GPU reaches the
#: others at its full rate (NVSwitch; also the default, and a PCIe node's shared switch), else the per-pair link
#: counts of the node's GPUs in rank order
NVLINK_TOPOLOGIES: dict[str, tuple[tuple[int, ...], ...] | None] = {
    "switch": None,
    "hybrid-cube-mesh": DGX1_V100_LINKS,
}
DEFAULT_TOPOLOGY = "switch"

def topology_gpus(topology: str) -> int | None:
    """GPUs the wiring joins (8 for the DGX-1 mesh); None for a switch, which joins any number."""
    links = NVLINK_TOPOLOGIES[topology]
    return None if links is None else len(links)


#: whether a part's GPUs (gpus.csv ``intra_node_link``) are joined by the links a mesh is made of, by mesh: a part
#: without them cannot be wired so (``wired_as``; the DGX-1 mesh's link shares were read off an L4's PCIe rate until
#: fuzz49)
MESH_JOINED = {"hybrid-cube-mesh": nvlink_joined}


def wired_as(topology: str, intra_node_link: str) -> bool:
    """Whether a node whose GPUs are joined by ``intra_node_link`` can be wired as ``topology``: a switch any (a PCIe
    node's shared switch too), a mesh only by its own links (``MESH_JOINED``)."""
    joined = MESH_JOINED.get(topology)
    return joined is None or joined(intra_node_link)


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


@lru_cache(maxsize=None)
def group_link_share(topology: str, members: int, stride: int, gpus_per_node: int) -> float:
    """The share of a GPU's NVLink bandwidth (its links, all of them) that the slowest of a node's groups of
    ``members`` GPUs at rank stride ``stride`` can use (Megatron's rank order: group j of the node holds ranks
    b + s i, i < members), as ``ring_links`` over the GPU's own link count; 1.0 on a switch or for one member. A group
    with no NVLink ring: 0.0 (the caller prices it elsewhere)."""
    links = NVLINK_TOPOLOGIES[topology]
    if links is None or members < 2:
        return 1.0
    per_gpu = sum(links[0])
    g = min(gpus_per_node, len(links))
    ranks = np.arange(g)
    group = (ranks // (stride * members)) * stride + ranks % stride
    shares = [ring_links(topology, tuple(int(r) for r in ranks[group == j])) / per_gpu
              for j in np.unique(group) if (group == j).sum() == members]
    return min(shares) if shares else 1.0
