"""Hardware options: what one candidate runs on (a GPU in nodes of g, or a cloud instance type),
with its bandwidths, prices and the efficiencies (prior or measured) the time model uses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hardware_catalog import load_catalog
from planner import defaults as D
from hardware_catalog.catalog import GPU, NO_PEAK_WHY, Catalog, Instance, System, SystemPrice, builtin_gpu, mesh_links_words, wired_as
from planner.hardware.efficiency import UNMEASURED_PRIOR, Efficiency, gpu_family, prior_for
from planner.errors import InputError, clip
from planner.units import count_of, fmt_given
from planner.spec import ClusterSpec, ConstraintsSpec
from planner.vocab import JOB_RATE, ON_DEMAND, RATE_NAMES, SPOT
# (the platform table lives apart so that `planner catalog` can name devices without the planning modules)
from planner.hardware.platform import PLATFORMS, device_noun, fabric_refusal, platform_of
from planner.hardware.power import limit_error, searched_error, searched_limit
from planner.hardware.nvlink import DEFAULT_TOPOLOGY, MESH_LINKS, default_topology, topology_gpus

PRECISION_PEAK_KEY = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "fp32": "fp32"}

#: platforms whose accelerators ``planner calibrate`` measures: its benchmarks run on ``torch.cuda``, which is
#: torch's CUDA or ROCm (HIP) build; TPUs (XLA), Gaudi (HPU) and Trainium (Neuron) have no ``torch.cuda`` device
CALIBRATED_PLATFORMS = ("cuda", "rocm")


def calibrate_hint(gpu: "GPU | str", where: str = "on one of its nodes") -> str:
    """What to do about ``gpu``'s unmeasured efficiencies (a catalog GPU, or a shipped GPU's name): run ``planner
    calibrate`` there, or, on a platform it does not measure (``CALIBRATED_PLATFORMS``), say that the prior stays (it
    told TPU users to calibrate)."""
    if isinstance(gpu, str):
        try:
            gpu = builtin_gpu(gpu)
        except KeyError:  # a GPU only a user's catalog knows: no platform to tell
            gpu = None
    plat = platform_of(gpu)
    if plat is None or plat in CALIBRATED_PLATFORMS:
        return f"run `planner calibrate` {where} to measure them"
    return (f"`planner calibrate` measures CUDA / ROCm GPUs only (torch.cuda), not {PLATFORMS[plat]}, so this prior "
            "stays unmeasured")


def device_count(gpu: GPU, n: int) -> str:
    """``n`` of ``gpu`` in words: "1 GPU", "8 GPUs", "4 chips" (``device_noun``, plural unless one)."""
    return f"{n:,} {device_noun(gpu)}{'' if n == 1 else 's'}"


@dataclass
class HardwareOption:
    """One kind of node a job can run on."""

    name: str  # "aws:p5.48xlarge" or the GPU name for bare-GPU clusters
    gpu: GPU
    gpus_per_node: int
    inter_node_bw: float  # bytes/s per node (all NICs), line rate
    intra_bw: float  # bytes/s per GPU per direction (NVLink, or PCIe)
    eff: Efficiency
    instance: Optional[Instance] = None
    price_ondemand: Optional[float] = None  # USD per node-hour
    price_spot: Optional[float] = None
    vcpus_per_node: Optional[float] = None
    notes: list[str] = field(default_factory=list)
    #: the power limit the GPUs run at (W); None = the catalog row's (planner.model.physics)
    power_limit_w: Optional[float] = None
    #: False for an instance the catalog says cannot form a multi-node training cluster (no
    #: fabric, or none sourced): the search then tries one node only
    multi_node: bool = True
    #: the inter-node bandwidth is not the job's or the instance's own sourced figure: the reference
    #: fabric of the GPU (``reference_network``) or the catalog's default for an unknown fabric
    network_assumed: bool = False
    #: the one line that says which network was assumed and why ("" when none was); not in ``notes``: only a plan of
    #: more than one node reads it (``plan_notes``)
    network_note: str = ""
    #: the inter-node latency an instance's fabric gives its plans and where it comes from (``instance_latency``,
    #: fabric49; "" when none is said); like ``network_note``, only a plan of more than one node reads it
    latency_note: str = ""
    #: the job's ``cluster.fabric`` line (``StatedFabric.note``) and the one a plan of one node says in its place
    #: (``StatedFabric.unused``: nothing crosses nodes, so the fabric entered no number); "" without the field. Not in
    #: ``notes``: ``plan_notes`` picks one by the plan's nodes (QA 97: a one-node ``estimate`` said the fabric was used
    #: "in place of" the instance's network)
    fabric_note: str = ""
    fabric_unused_note: str = ""
    #: a bare-GPU cluster's reference system (``reference_network``: the best-networked clustered instance of its
    #: GPU), what a node is taken to be where the job does not say: its network, its host RAM (offload.host_fits)
    reference: Optional[Instance | System] = None
    #: the job's ``cluster.host_ram_gib`` in bytes (a node's host RAM as the job states it); None: the instance's row,
    #: else the reference system's per GPU (planner.model.offload ``host_ram``)
    host_ram_bytes: Optional[float] = None
    #: GPUs one OS host holds where that is fewer than a node's (a GB200 NVL72 "node" is its 72-GPU NVLink domain,
    #: 18 compute trays of 4): what launch specs count as a node (planner.present.emit); None: ``gpus_per_node``
    gpus_per_host: Optional[int] = None
    #: the most GPUs one cluster of this option may hold (a TPU ICI slice: ``System.max_chips``); None: no limit
    max_gpus: Optional[int] = None
    #: what a job wider than ``max_gpus`` can do instead (``multislice_hint``: the slice rows to name), said where
    #: the search refuses such a job (planner.search.space, which has no catalog to ask)
    past_max_hint: str = ""
    #: on a rack-scale NVLink system (GB200 / GB300 NVL72), the trays of the Slurm ``--segment`` that is the job's
    #: NVLink domain (``gpus_per_node`` GPUs), the rack's GPUs, and how many segments one rack holds
    #: (``rack_segment``); None on other hardware
    segment_trays: Optional[int] = None
    rack_gpus: Optional[int] = None
    segments_per_rack: int = 1
    #: the provider rate of the reference system that prices a bare-GPU plan where the job gives no
    #: ``cluster.price_usd_hr`` (``system_rate``; gbprice42): its provider, date and source go with the plan's cost
    price_quote: Optional[SystemPrice] = None
    #: the fabric family of the job's ``cluster.fabric`` link (``stated_fabric``), which replaces the instance's or
    #: reference row's; None where the job names no link
    fabric_stated: Optional[str] = None
    #: how the node's GPUs are wired (planner.hardware.nvlink ``NVLINK_TOPOLOGIES``): "switch" (every GPU at its full
    #: NVLink rate to any other: NVSwitch, the default) or a point-to-point mesh whose groups have only the links
    #: between their members ("hybrid-cube-mesh": DGX-1 V100, p3.16xlarge; "xgmi-full-mesh": 8 MI300X / MI325X;
    #: "nvlink4-quad-mesh": a 4-GPU HGX H100 / H200 board); the
    #: job's ``cluster.nvlink_topology``, else the instance row's, else the chip's platform's
    nvlink_topology: str = DEFAULT_TOPOLOGY

    @property
    def network_fabric(self) -> Optional[str]:
        """The fabric the inter-node bandwidth was priced on (instances.csv / systems.csv ``fabric``: efa,
        infiniband, roce, ethernet, ...): the job's ``cluster.fabric`` link's, else the instance's, or a bare GPU's
        reference row's where its network was assumed from it; None where none says (the job's own
        ``inter_node_gbps`` on a bare GPU, the default)."""
        if self.fabric_stated is not None:
            return self.fabric_stated
        if self.instance is not None:
            return self.instance.fabric or None
        return self.reference.fabric or None if self.network_reference else None

    def plan_notes(self, nodes: int) -> list[str]:
        """The notes of a plan of ``nodes`` nodes on this option: the assumed network's line only where a collective
        leaves the node. Until QA 89 the option carried the line in ``notes`` unless the job fixed ``cluster.nodes: 1``
        (QA 86), so ``estimate`` with the field unset (one node, defaulted) and ``recommend``'s one-node plans said
        their inter-node network was assumed, and a multi-node ``recommend`` said it twice (``ranking_caveats``).
        The job's ``cluster.fabric`` is said either way: applied, or not applied on one node (``fabric_note``)."""
        if nodes > 1:
            return self.notes + [n for n in (self.fabric_note, self.network_note, self.latency_note) if n]
        return self.notes + ([self.fabric_unused_note] if self.fabric_unused_note else [])

    @property
    def no_price_why(self) -> str:
        """Why a bare-GPU plan on a reference system has no price (``System.no_price_why``; "" where it has one)."""
        unpriced = self.price_ondemand is None and isinstance(self.reference, System)
        return self.reference.no_price_why if unpriced else ""

    @property
    def idle_gpus_per_rack(self) -> int:
        """GPUs of each rack no segment of this size can use (paid: ``rack_segment``); 0 off a rack-scale system."""
        return self.rack_gpus - self.segments_per_rack * self.gpus_per_node if self.rack_gpus else 0

    def billed_gpus(self, nodes: int) -> int:
        """The GPUs ``nodes`` nodes of this option rent, which ``constraints.max_gpus`` caps (cost42): on a rack-scale
        NVLink system the whole racks they open (``racks_billed``: one 64-GPU segment rents its 72-GPU rack, "each
        UltraServer corresponds to one Capacity Block"; CoreWeave deploys GB200 NVL72 instances "as full racks of 18
        Nodes", docs.coreweave.com/docs/platform/instances/gb200), else the nodes' GPUs. Until cost42 the cap counted
        the GPUs the plan runs on: a 64-GPU segment passed ``max_gpus: 64`` and billed 72."""
        if self.rack_gpus:
            return racks_billed(nodes, self.segments_per_rack) * self.rack_gpus
        return nodes * self.gpus_per_node

    @property
    def network_reference(self) -> bool:
        """The assumed network is the reference system's fabric, not the default for an unknown one."""
        return self.network_assumed and self.reference is not None

    @property
    def cloud(self) -> str:
        return self.instance.cloud if self.instance else "-"

    def peak(self, precision: str) -> float:
        return self.gpu.peak(PRECISION_PEAK_KEY[precision])

    def price(self, spot: bool) -> Optional[float]:
        return self.price_spot if spot else self.price_ondemand

    @property
    def inter_bw_per_gpu(self) -> float:
        """Achieved inter-node bandwidth per GPU when every GPU of the node talks at once."""
        return self.inter_node_bw * self.eff.inter_bw / self.gpus_per_node

    @property
    def intra_bw_eff(self) -> float:
        return self.intra_bw * self.eff.intra_bw


def profile_matches(profile, gpu: GPU) -> bool:
    return profile is not None and profile.fingerprint.catalog_gpu == gpu.name


def efficiency_for(gpu: GPU, profile=None, precision: str | None = None) -> Efficiency:
    """Measured efficiencies when a profile measured on this GPU type is given or shipped, else
    the datasheet prior. A given profile of another GPU type does not apply to this one."""
    from planner.hardware.profile import efficiency_from_profile, shipped_profile_for  # lazy: optional

    base = prior_for(gpu.name)
    unmeasured = UNMEASURED_PRIOR.get(platform_of(gpu))
    if unmeasured and gpu_family(gpu.name) is None:  # a TPU / Trainium: the generic prior, said to be unmeasured
        base = base.with_(sources={"*": unmeasured})
    prof = profile if profile_matches(profile, gpu) else shipped_profile_for(gpu.name)
    if prof is None:
        return base
    return efficiency_from_profile(prof, base, gpu, precision)


def check_profile_applies(profile, gpus: list[GPU]) -> None:
    """A profile given on the command line must have been measured on a GPU the job can use."""
    if profile is None or any(profile_matches(profile, g) for g in gpus):
        return
    where = profile.fingerprint.catalog_gpu or f"{profile.fingerprint.device_name} (not a catalog GPU)"
    names = ", ".join(sorted({g.name for g in gpus})[:4])
    raise InputError("--profile", f"profile was measured on {where}; this job runs on {names}")


#: what one rate of an inter-node link row (interconnects.csv ``per``) is for: one NIC, which clusters built for
#: multi-node training give every GPU (DGX H100 / B200: 8 x 400 Gb/s ConnectX-7; Azure ND H100 v5 "8x400 Gigabit
#: NDR", the IB-NDR row's source), or a node's aggregate (EFA-v2-p5's 3,200 Gb/s, RoCE-3200's 8 x 400G)
LINK_RATE_PER = {"nic": "per NIC, one per GPU", "node": "per node"}


def inter_node_links(catalog: Catalog | None = None) -> dict[str, dict]:
    """The catalog's inter-node links (interconnects.csv rows of ``kind`` inter_node: IB-NDR, RoCE-400, EFA-v2-p5, ...)
    by name, in the table's order: what ``cluster.fabric`` may name (``stated_fabric``; the app's fabric control)."""
    return {k: r for k, r in (catalog or load_catalog()).interconnects.items() if r.get("kind") == "inter_node"}


def link_latency(row: dict) -> tuple[float | None, str]:
    """An inter-node link row's latency in µs and its source (interconnects.csv ``latency_us``, ``latency_source``);
    None where the row's cell is empty: no source gives one, and the comm model's prior stands (the source says why).

    The rule every row follows (one, by transport): NCCL's own cost of a network step of the Simple-protocol ring
    (NVIDIA/nccl src/graph/tuning.cc @b6475625 ``hwLat[NET][Ring][Simple]`` 14.0 µs plus twice the transport's reported
    latency, which NCCL's IB verbs transport, InfiniBand and RoCE alike, leaves at 0: 14 µs), where the transport's
    latency is its own code's; the prior where it is not (aws-ofi-nccl's 75 / 35 µs for EFA are tuner settings,
    not measurements) or was not read (sockets, GPUDirect-TCPX / TCPXO)."""
    cell = str(row.get("latency_us") or "").strip()
    return (float(cell) if cell else None), str(row.get("latency_source") or "")


def cited(source: str) -> str:
    """A link row's ``latency_source`` cut to what it cites, for an assumption line (the text before its first ": ";
    ``planner catalog links --json`` prints it whole)."""
    return source.split(": ", 1)[0]


def family_latency(family: str, catalog: Catalog | None = None) -> tuple[float | None, str]:
    """The inter-node latency (µs, source) of a fabric family (instances.csv ``fabric``: infiniband, roce, efa,
    ethernet): its first inter-node link row's (``link_latency``; the rows of one family agree, the rule being per
    transport, tests/test_fabric49.py); (None, "") for a family no link row has (tpu-dcn, none)."""
    rows = [r for r in inter_node_links(catalog).values() if r.get("fabric") == family]
    return link_latency(rows[0]) if rows else (None, "")


def with_inter_latency(eff: Efficiency, latency_us: float | None, head: str, said: str,
                       prior_why: str) -> tuple[Efficiency, str]:
    """``eff`` with ``latency_us`` as the comm model's per-step inter-node alpha (``Efficiency.inter_alpha_s``: the
    ``(k - 1) alpha`` of every collective across k nodes and each inter-node send, planner.model.comm), and the words
    that say which alpha the plan takes: a calibration profile's measured alpha is kept (a measurement of the
    cluster over any stated or sourced figure), and the prior where ``latency_us`` is None (``prior_why``).
    ``head`` names where the latency came from in the option's source, ``said`` it in words."""
    if str(eff.sources.get("inter_alpha_s", "")).startswith("measured"):
        return eff, (f"the profile's measured inter-node alpha, {eff.inter_alpha_s * 1e6:g} µs"
                     + (f", not {said}" if said else ""))
    if latency_us is None:
        return eff, f"the comm model's inter-node alpha, {eff.inter_alpha_s * 1e6:g} µs (prior; {prior_why})"
    words = f"{said} as the comm model's inter-node alpha (its prior: {eff.inter_alpha_s * 1e6:g} µs)"
    return eff.with_(inter_alpha_s=latency_us * 1e-6,
                     sources={**eff.sources, "inter_alpha_s": f"stated: {head} latency {latency_us:g} µs"}), words


@dataclass(frozen=True)
class StatedFabric:
    """The job's ``cluster.fabric`` as the option it replaces the network of reads it (``stated_fabric``)."""

    inter_node_bw: float  # bytes/s per node, line rate
    family: str  # the fabric family (vocab NETWORK_FABRIC), which the MoE dispatchers' needs read
    eff: Efficiency  # the option's efficiencies with the link's latency as the comm model's inter-node alpha
    note: str  # the assumption line that says all of it
    head: str  # how the line names the fabric ("cluster.fabric IB-NDR", "cluster.fabric (the job's figures)")

    @property
    def unused(self) -> str:
        """The line a one-node plan says in place of ``note``: no collective leaves the node, so the fabric entered
        no number (as serving's replicas within one node say, planner.workloads.serving ``_fabric_note``)."""
        return (f"{self.head} not applied: the plan runs on one node, so no collective crosses nodes and no "
                "inter-node network entered the answer")


def fabric_link(link: str, catalog: Catalog | None = None) -> tuple[str, dict]:
    """The catalog's inter-node link row ``cluster.fabric`` names (its key as the catalog spells it, and the row)."""
    links = inter_node_links(catalog)
    key = next((k for k in links if k.casefold() == link.strip().casefold()), None)
    if key is None:
        raise InputError("cluster.fabric", f"{clip(link)} is not an inter-node link of the catalog; choices: "
                         f"{', '.join(links)} (`planner catalog links`), or give the network's figures "
                         "({gbps_per_gpu or gbps_per_node, family, latency_us}) or cluster.inter_node_gbps")
    return key, links[key]


def fabric_family(cluster: ClusterSpec, catalog: Catalog | None = None) -> str | None:
    """The fabric family of the job's ``cluster.fabric`` (its link row's ``fabric``, or its figures' ``family``)."""
    spec = cluster.fabric
    if spec is None:
        return None
    return fabric_link(spec.link, catalog)[1]["fabric"] if spec.link is not None else spec.family


def stated_fabric(cluster: ClusterSpec, g: int, eff: Efficiency, catalog: Catalog | None = None,
                  replaces: str = "", gpu: GPU | None = None) -> StatedFabric | None:
    """The job's ``cluster.fabric`` on ``g``-GPU nodes whose efficiencies are ``eff``, in place of the instance's or
    reference row's network (``replaces``: what that was, in words); None where the job names none. Refused where
    nodes of accelerator ``gpu`` cannot carry its family (planner.hardware.platform ``fabric_refusal``, QA 97).

    Named, it is an inter-node link of ``planner catalog links`` (interconnects.csv, folded as catalog names are): its
    line rate per NIC times the node's ``g`` GPUs or per node (``LINK_RATE_PER``), its ``fabric`` family and its
    latency (``link_latency``: sourced, or the prior where the row has none). Given as figures (schema
    ``FabricSpec``), the same three: ``gbps_per_gpu`` or ``gbps_per_node``, ``family``, ``latency_us``. The latency
    becomes the comm model's per-step inter-node alpha (``with_inter_latency``); a calibration profile's measured
    alpha is kept, and so is the prior where figures give no latency. Plans without ``cluster.fabric`` on an
    instance take its fabric family's latency (``instance_latency``)."""
    spec = cluster.fabric
    if spec is None:
        return None
    if gpu is not None and (why := fabric_refusal(gpu, fabric_family(cluster, catalog))):
        raise InputError("cluster.fabric", f"{gpu.name}: {why}")
    if spec.link is not None:  # (with cluster.inter_node_gbps beside it: refused by the schema, ClusterSpec)
        key, r = fabric_link(spec.link, catalog)
        gbps, per, family = float(r["gbps_per_dir"]), r["per"], r["fabric"]
        latency_us, source = link_latency(r)
        head, origin = f"cluster.fabric {key}", f"; source: {r['source']}"
        said = f"the row's {latency_us:g} µs ({cited(source)})" if latency_us is not None else ""
        why = f"the row has no sourced latency, `planner catalog links` says why"
    else:
        per = "nic" if spec.gbps_per_gpu is not None else "node"
        gbps = spec.gbps_per_gpu if per == "nic" else spec.gbps_per_node
        family, latency_us, head, origin = spec.family, spec.latency_us, "cluster.fabric (the job's figures)", ""
        said = f"the job's {latency_us:g} µs" if latency_us is not None else ""
        why = "give latency_us"
    rate = gbps * 1e9 / 8
    inter = rate * g if per == "nic" else rate
    eff, latency = with_inter_latency(eff, latency_us, head, said, why)
    note = (f"{head}: {gbps:,g} Gb/s {LINK_RATE_PER[per]} ({inter * 8 / 1e9:,g} Gb/s per {g}-GPU node, {family}"
            f"{origin})" + (f", in place of {replaces}" if replaces else "") + f"; latency: {latency}")
    return StatedFabric(inter, family, eff, note, head)


def fabric_fields(stated: StatedFabric | None) -> dict:
    """The ``HardwareOption`` fields the job's ``cluster.fabric`` sets (``stated_fabric``; their defaults without it)."""
    if stated is None:
        return {}
    return dict(fabric_stated=stated.family, fabric_note=stated.note, fabric_unused_note=stated.unused)


def instance_latency(inst: Instance | System, eff: Efficiency, catalog: Catalog | None = None) -> tuple[Efficiency, str]:
    """An instance's own fabric's inter-node latency as the comm model's alpha (``family_latency`` of its
    instances.csv ``fabric``: InfiniBand and RoCE 14 µs by NCCL's model, EFA and Ethernet the prior), and the
    assumption line that says it ("" for a fabric no link row has: a TPU slice's data-center network). Also a bare-GPU
    plan's whose network is borrowed from a reference instance or system (``reference_network``, option_from_cluster:
    until QA 91 it kept the prior whatever that fabric)."""
    us, source = family_latency(inst.fabric or "", catalog)
    if us is None and not source:
        return eff, ""
    head = f"{inst.key}'s {inst.fabric}"
    said = f"{us:g} µs for {inst.fabric} ({cited(source)})" if us is not None else ""
    eff, words = with_inter_latency(eff, us, head, said,
                                    f"no sourced latency for {inst.fabric}, `planner catalog links` says why")
    return eff, f"{inst.key}: inter-node latency: {words}"


def option_from_cluster(cluster: ClusterSpec, catalog: Catalog | None = None, profile=None,
                        precision: str | None = None) -> HardwareOption:
    """The single hardware option a fully specified ``cluster`` section names."""
    cat = catalog or load_catalog()
    if cluster.instance:
        inst = cat.instance(cluster.instance)
        return option_from_instance(inst, cluster, profile, precision, cat)
    if not cluster.gpu:
        raise InputError("cluster", "name a gpu or an instance (or use `planner recommend` to search)")
    gpu = cat.gpu(cluster.gpu)
    check_profile_applies(profile, [gpu])
    ref = reference_network(cat, gpu)
    # where the job does not say, a node is a reference system's (NVL72: one 72-GPU NVLink domain); an
    # instance row lends only its fabric per GPU (the catalog's A10G reference, g5.24xlarge, has 4 GPUs
    # where the 8-GPU g5.48xlarge is the larger node)
    system = ref[1] if ref is not None and isinstance(ref[1], System) else None
    g = cluster.gpus_per_node or (system.gpu_count if system else D.GPUS_PER_NODE)
    notes = []
    note = ""
    ici = system is not None and system.fabric == "tpu-ici"  # hosts of one ICI slice, no NIC between them
    seg = rack_segment(cluster, system, gpu)  # (trays, segments a rack) on an NVL72 rack, else None
    if seg is not None:
        g = seg[0] * system.gpus_per_host
    if ici and cluster.nodes and system.max_chips and cluster.nodes * g > system.max_chips:
        raise InputError("cluster.nodes", f"{cluster.nodes} x {g} {gpu.name} chips = {cluster.nodes * g:,} exceeds the "
                         f"largest {gpu.name} ICI slice ({system.max_chips:,} chips, {system.key}); "
                         + multislice_hint(cat, gpu))
    stated, latency = None, ""
    eff = efficiency_for(gpu, profile, precision)
    if cluster.inter_node_gbps:
        inter = cluster.inter_node_gbps * 1e9 / 8
    else:
        if ici:
            inter = ref[0] * g
            note = (f"{gpu.name}: a node is one {g}-chip host of an ICI slice ({system.key}; source: `planner catalog "
                    f"systems`): hosts exchange over ICI at the chips' {ref[0] * 8 / 1e9:g} Gb/s each per direction, "
                    f"as inside a catalog slice row, not over a NIC; one slice holds at most {system.max_chips:,} chips; "
                    "set cluster.inter_node_gbps for another fabric")
        elif ref is not None:
            per_gpu, inst = ref
            inter = per_gpu * g
            what = (f"its reference system {inst.key} (no priced instance row carries this GPU; source: "
                    "`planner catalog systems`)" if system else
                    f"the best-networked training instance with this GPU in the catalog ({inst.key}; its source: "
                    "`planner catalog instances`)")
            noun = device_noun(gpu)
            note = (f"{gpu.name}: inter-node network not stated — assumed {per_gpu * 8 / 1e9:g} Gb/s per {noun} "
                    f"({inter * 8 / 1e9:g} Gb/s per {g}-{noun} node), {what}"
                    + scale_out_clause(inst, g) + "; set cluster.inter_node_gbps")
        else:
            inter = D.DEFAULT_NETWORK_GBPS * 1e9 / 8
            note = network_assumption(gpu.name)
        stated = stated_fabric(cluster, g, eff, cat, replaces=(f"{ref[1].key}'s {ref[1].fabric or 'network'} "
                                                               f"({inter * 8 / 1e9:,g} Gb/s a node)" if ref else ""),
                               gpu=gpu)
        latency = ""
        if stated is not None:  # the job's link: nothing assumed
            inter, eff, note = stated.inter_node_bw, stated.eff, ""
        elif ref is not None and not ici:  # the borrowed fabric's latency too, by an instance's rule (QA 91)
            eff, latency = instance_latency(ref[1], eff, cat)
    host = None
    if system is not None and not ici and not cluster.gpus_per_node and g != D.GPUS_PER_NODE and (
            seg is None or g == system.gpu_count):  # (a smaller segment: segment_note says what its node is)
        host = system.gpus_per_host if system.gpus_per_host < g else None
        link = "NVLink" if platform_of(gpu) in (None, "cuda") else gpu.intra_node_link
        noun = device_noun(gpu)
        notes.append(f"{gpu.name}: a node is taken as {system.key}'s {g} {noun}s, one {link} domain"
                     + (f" of {g // host} hosts with {host} {noun}s each (launch specs count hosts)" if host else "")
                     + "; cluster.nodes counts these domains, and cluster.price_usd_hr and inter_node_gbps are per "
                       "domain; set cluster.gpus_per_node for another node")
    intra = cluster.intra_node_gbps * 1e9 if cluster.intra_node_gbps else (gpu.intra_node_bw or gpu.pcie_bw or D.INTRA_NODE_FALLBACK_BPS)
    topology = node_topology(cluster, None, g, gpu)
    name = gpu.name
    price, quote = system_rate(cluster, system, g, seg)
    if seg is not None:
        trays, per_rack = seg
        host = system.gpus_per_host  # the launcher's node is a tray whatever the domain (planner.present.emit)
        if g < system.gpu_count:  # a domain smaller than the rack: its own option, named by the sbatch flag
            name = f"{gpu.name} --segment={trays}"
        notes.append(segment_note(system, trays, per_rack, cluster.nodes))
    if quote is not None:
        notes.append(quote_note(quote, system))
    elif price is None and system is not None and system.no_price_why:
        notes.append(f"{gpu.name}: no price: {system.no_price_why}; set cluster.price_usd_hr (per node)")
    return HardwareOption(
        name=name, gpu=gpu, gpus_per_node=g, inter_node_bw=inter, intra_bw=intra,
        eff=eff, price_ondemand=price, notes=notes + topology_notes(topology),
        network_assumed=not (cluster.inter_node_gbps or stated), network_note=note, latency_note=latency or "",
        reference=ref[1] if ref else None,
        **fabric_fields(stated), gpus_per_host=host, max_gpus=system.max_chips if ici else None,
        past_max_hint=multislice_hint(cat, gpu) if ici else "",
        segment_trays=seg[0] if seg else None, rack_gpus=system.gpu_count if seg else None,
        segments_per_rack=seg[1] if seg else 1, power_limit_w=fixed_limit(cluster, gpu), host_ram_bytes=stated_host_ram(cluster), price_quote=quote,
        nvlink_topology=topology,
    )


def system_rate(cluster: ClusterSpec, system, g: int, seg: tuple[int, int] | None
                ) -> tuple[float | None, SystemPrice | None]:
    """(USD per node-hour, the provider rate it comes from) of a bare-GPU plan of ``g``-GPU nodes on ``system`` (its
    reference system; ``seg``: ``rack_segment``'s (trays, segments a rack)). The job's ``cluster.price_usd_hr`` first
    (a rack's on a rack-scale system), else the cheapest provider rate of the whole system (``System.quote``,
    ``system_prices.csv``: CoreWeave's GB200 NVL72 at 756 $/rack-h; gbprice42) where the node is that system or a
    segment of its rack; a segment pays its share of the whole racks it opens (``segment_price``). None where neither
    prices it (a node of another size than the system's: a rack's rate prices no 8-GPU node)."""
    rack, quote = cluster.price_usd_hr, None
    whole = system is not None and (seg is not None or g == system.gpu_count)
    if rack is None and whole and system.quote is not None:
        rack, quote = system.quote.price, system.quote
    if rack is None or seg is None:
        return rack, quote
    return segment_price(rack, seg[1], cluster.nodes), quote  # whole racks billed (racks_billed)


def quote_record(quote: SystemPrice | None) -> dict | None:
    """``quote`` as a plan's ``Hardware.price_quote`` (what the JSON, the cost's price dates and the report read)."""
    if quote is None:
        return None
    return dict(provider=quote.provider, system=quote.system, region=quote.region or None,
                usd_per_system_hour=quote.price, price_date=quote.price_date, read=quote.read, source=quote.source,
                what=quote.what)


def quote_note(quote: SystemPrice, system) -> str:
    """The line that says which provider rate priced a bare-GPU plan, how it was read and which rates do not exist."""
    rack = "rack" if is_rack_system(system) else "node"
    return (f"price: {quote.provider}'s on-demand rate for {system.key}, {quote.price:,.2f} $/{rack}-h "
            f"({quote.price / system.gpu_count:.4g} $/GPU-h{'; ' + quote.region if quote.region else ''}; dated "
            f"{quote.price_date.split(' (')[0] or 'unknown'}; {quote.read.split(':')[0] or 'read first-hand'}; "
            "`planner catalog systems`), billed by whole racks; no spot or reserved rate is sourced for it; "
            "cluster.price_usd_hr (a rack's) overrides it")


def is_rack_system(system) -> bool:
    """A reference system whose NVLink domain spans several hosts (GB200 / GB300 NVL72: 18 trays of 4 GPUs), where
    a Slurm job asks for its domain with ``--segment``; not a TPU slice's host."""
    return (system is not None and system.fabric != "tpu-ici" and system.gpus_per_host < system.gpu_count
            and system.gpu_count % system.gpus_per_host == 0)


def refuse_instance_segment(cluster: ClusterSpec, what: str) -> None:
    """Refuse ``cluster.segment`` on catalog instances (``what``: the instance, or the searched ones): a segment is
    the trays of an NVL72 rack's NVLink domain (``rack_segment``), which only a bare rack-scale GPU is priced as
    (``option_from_cluster``); an instance row is a node at its own rate. QA 62: ``segment: 8`` beside
    ``instance: aws:p5.48xlarge`` planned the 8-GPU nodes as ever and said nothing of the segment, where a bare
    H100 with the same segment was refused."""
    if cluster.segment is not None:
        raise InputError("cluster.segment", f"a Slurm --segment of the trays of an NVL72 rack; {what} is priced per "
                                            "node, no rack-scale NVLink system: name the rack's GPU (cluster.gpu: "
                                            "GB200-B200 or GB300-B300, no cluster.instance, clouds or regions), or "
                                            "leave cluster.segment out")


def rack_segment(cluster: ClusterSpec, system, gpu) -> tuple[int, int] | None:
    """(trays, segments one rack holds) of the job's NVLink domain on a rack-scale NVLink system, or None where the
    node is no such rack (an 8-GPU HGX, a TPU host, or a ``gpus_per_node`` other than the rack's, which is a node of
    that many GPUs as before).

    Slurm's topology/block plugin (slurm.schedmd.com/topology.html "Block Topology"; sbatch ``--segment``: the job's
    nodes are allocated in segments of that many nodes, each segment inside one block) is how GB200 NVL72 clusters
    are scheduled, one block per rack's NVLink domain: a segment of s trays is an NVLink domain of s x 4 GPUs, a
    rack of 18 trays holds floor(18 / s) of them, and the trays left over (18 mod s) run no segment of this size.
    ``cluster.segment`` sets s; left out, the whole rack: what Megatron-Bridge's and NeMo's performance
    ``slurm_executor`` request for a job of whole racks (``--segment`` = the largest divisor <= 18 of the job's
    trays: 18; benchmarks/data/parts/scripts/dgxc.py ``nvl72_segment_gpus``). ``recommend`` searches the open
    segment (``search_segments``)."""
    if not is_rack_system(system) or cluster.gpus_per_node not in (None, system.gpu_count):
        if cluster.segment is not None:
            where = (f"cluster.gpus_per_node {cluster.gpus_per_node} already sets the node" if is_rack_system(system)
                     else f"{gpu.name} is no rack-scale NVLink system of several hosts (a GB200 / GB300 NVL72 rack)")
            raise InputError("cluster.segment", f"a Slurm --segment of the trays of an NVL72 rack; {where}")
        return None
    trays = system.gpu_count // system.gpus_per_host
    s = cluster.segment or trays
    if s > trays:
        raise InputError("cluster.segment", f"{s} trays: one {system.key} holds {trays} trays of "
                                            f"{system.gpus_per_host} GPUs, and a segment lies inside one rack")
    return s, trays // s


def rack_trays(cat: Catalog, gpu_name: str, gpus_per_node: int | None = None) -> int | None:
    """The trays of the rack-scale NVLink system a bare ``gpu_name`` cluster runs on (its reference system, as
    ``option_from_gpu`` takes it: GB200 NVL72, 18), or None where a ``cluster.segment`` means nothing there (no such
    system, or a ``gpus_per_node`` other than the rack's: ``rack_segment``)."""
    gpu = cat.gpu(gpu_name)
    ref = reference_network(cat, gpu)
    system = ref[1] if ref is not None and isinstance(ref[1], System) else None
    if not is_rack_system(system) or gpus_per_node not in (None, system.gpu_count):
        return None
    return system.gpu_count // system.gpus_per_host


def search_segments(system) -> list[int]:
    """The segment sizes (trays) ``recommend`` searches where the job leaves ``cluster.segment`` open: the whole rack
    and each segment whose GPUs are a power of two (the TP / CP / EP degrees the search tries are powers of two:
    such a domain tiles every group up to its size), less any s that a larger candidate s' (s divides s') dominates
    by using at least as many of the rack's GPUs (every group that tiles s x 4 GPUs tiles s' x 4 too). NVL72 (18
    trays of 4): 16 (64 GPUs, 8 a rack idle) and 18 (72); 1, 2, 4 and 8 trays fall to those.

    >>> from types import SimpleNamespace as NS
    >>> search_segments(NS(gpu_count=72, gpus_per_host=4))
    [16, 18]
    """
    trays, host = system.gpu_count // system.gpus_per_host, system.gpus_per_host
    cands = sorted({trays} | {s for s in range(1, trays + 1) if (s * host) & (s * host - 1) == 0})

    def used(s):
        return (trays // s) * s

    return [s for s in cands if not any(t > s and t % s == 0 and used(t) >= used(s) for t in cands)]


def racks_billed(segments: int, per_rack: int) -> int:
    """Racks a job of ``segments`` NVLink segments rents, ``per_rack`` of them a rack: whole racks, the last one
    opened for fewer segments paid in full. AWS rents a GB200 NVL72 as one P6e-GB200 UltraServer through Capacity
    Blocks, "each UltraServer corresponds to one Capacity Block" (AWS EC2 User Guide, "How Capacity Blocks work",
    docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-how.html, read 2026-12-05): the rack, not its trays,
    is what is billed. Until cost41 3 segments of 8 trays (2 a rack) were billed as 1.5 racks.

    >>> racks_billed(3, 2), racks_billed(4, 2), racks_billed(9, 1)
    (2, 2, 9)
    """
    return -(-segments // per_rack)


def segment_price(rack_price: float, per_rack: int, segments: int | None) -> float:
    """A segment's share of ``rack_price`` (USD per rack-hour) such that ``segments`` of them pay the whole racks they
    open (``racks_billed``). Where the job leaves ``cluster.nodes`` open the search holds the segment counts to whole
    racks (planner.search.space ``_grid``), where each pays 1/``per_rack`` of a rack."""
    if not segments:
        return rack_price / per_rack
    return racks_billed(segments, per_rack) * rack_price / segments


def segment_note(system, trays: int, per_rack: int, segments: int | None = None) -> str:
    """The line that says which NVLink domain a rack-scale plan assumed, what its idle GPUs cost and, where the job
    fixes ``cluster.nodes``, what it launches against what it rents ("3 segments of 8 trays = 96 GPUs; billed: 2 racks
    (144 GPUs)"); on a segment smaller than the rack, what the GPU caps count (cost42: ``constraints.max_gpus`` the
    GPUs billed, ``HardwareOption.billed_gpus``; ``min_gpus`` the GPUs the plan runs on)."""
    host, rack = system.gpus_per_host, system.gpu_count
    g, idle = trays * host, rack - per_rack * trays * host
    if g == rack:
        return (f"NVLink domain: {g} GPUs (the whole rack: {trays} of {system.key}'s {rack // host} trays of {host}); "
                "cluster.nodes counts these domains; set cluster.segment (trays) for another")
    caps = "constraints.max_gpus counts the GPUs billed, min_gpus the GPUs the plan runs on"
    racks = racks_billed(segments, per_rack) if segments else None
    billed = (f"; {segments:,} segment{'s' if segments != 1 else ''} of {trays} trays = {segments * g:,} GPUs; billed: "
              f"{racks:,} rack{'s' if racks != 1 else ''} ({racks * rack:,} GPUs; {caps})" if segments else f"; {caps}")
    return (f"NVLink domain: {g} GPUs (Slurm --segment={trays}: {trays} of {system.key}'s {rack // host} trays of {host}, "
            f"{per_rack} a rack; {idle} GPUs of each rack idle and paid: cluster.price_usd_hr is a rack's, billed by "
            f"whole racks){billed}; cluster.nodes counts these domains; set cluster.segment (trays) for another")


#: reference-row fabrics whose bandwidth is scale-out NICs a host must have (RDMA: EFA, InfiniBand, RoCE), as the
#: catalog's fabric column names them; ethernet / tpu-* need no such note (plain TCP, or no NIC between hosts)
SCALE_OUT_FABRICS = {"efa": "EFA", "infiniband": "InfiniBand", "roce": "RoCE"}


def scale_out_clause(ref: Instance | System, g: int) -> str:
    """What the network a bare-GPU plan assumed from its reference row (``reference_network``) needs of the cluster
    it runs on: that rate over that row's RDMA scale-out NICs, which the row has (its source) and a cluster without
    them (hosts on plain Ethernet, ``DEFAULT_NETWORK_GBPS`` a node) does not, so its collectives run slower than
    planned (cost43: a multi-node bare-GPU plan said the bandwidth and the row, not that NICs carry it). "" for a
    fabric that is no NIC (``SCALE_OUT_FABRICS``)."""
    name = SCALE_OUT_FABRICS.get(ref.fabric)
    if name is None:
        return ""
    return (f": {name} scale-out NICs at that rate on every node, which {ref.key} has; a cluster without them (hosts "
            f"on plain Ethernet, {D.DEFAULT_NETWORK_GBPS:g} Gb/s a node) runs its inter-node collectives slower than "
            f"planned")


def reference_network(cat: Catalog, gpu: GPU) -> tuple[float, Instance | System] | None:
    """(inter-node bytes/s per GPU, instance) of the best-networked instance in the catalog that carries
    ``gpu``, forms multi-node clusters and states its network with a source; None when there is none.

    A job that names a bare GPU (``cluster: {gpu: H100, nodes: 512}``) describes a training cluster of
    that GPU without saying its fabric. Clusters built for multi-node training give every GPU its own
    RDMA NIC (DGX A100: 8 x 200 Gb/s HDR; DGX H100 / H200 / B200: 8 x 400 Gb/s ConnectX-7), which is what
    the best-networked rentable systems of each GPU carry (azure:Standard_ND96amsr_A100_v4 8 x 200 Gb/s,
    aws:p5.48xlarge 3,200 Gb/s, aws:p6-b300.48xlarge 6,400 Gb/s; each row's ``network_source``), not the
    100 Gb/s per node of a plain Ethernet host (``DEFAULT_NETWORK_GBPS``, kept for GPUs no such row
    carries). Per GPU, so that ``cluster.gpus_per_node`` scales it. A GPU no such row carries takes its
    reference system (``Catalog.systems``: DGX GB200 NVL72 72 x 400 Gb/s, GB300 NVL72 72 x 800 Gb/s, Azure
    ND MI300X v5 8 x 400 Gb/s, DeepSeek's H800 node 8 x 400 Gb/s; each row's source), which also gives the node's size
    and host RAM (where the source states it)."""
    # priced instance rows first; the reference systems only for a GPU none of them carries. A TPU slice row that
    # joins others over DCN (fabric tpu-dcn: its node is a whole slice) is no host: a bare TPU cluster stays hosts
    # of one ICI slice (its tpu-ici system), and multislice is asked for by naming the slice row
    for nodes in (cat.instances.values(), cat.systems.values()):
        ok = [n for n in nodes if n.gpu is not None and n.gpu.name == gpu.name and n.cluster and not n.network_is_default
              and n.fabric != "tpu-dcn"]
        if ok:
            best = max(ok, key=lambda n: n.network_bw / n.gpu_count)
            return best.network_bw / best.gpu_count, best
    return None


def slice_hosts(cat: Catalog, gpu_name: str, fabric: Optional[str], chips: int) -> Optional[int]:
    """The hosts of one TPU slice node (fabric ``tpu-dcn``, Cloud TPU multislice: the node is a whole slice): its
    chips over the chips per host of the chip's host row (``planner catalog systems``, fabric ``tpu-ici``: TPU v6e 8,
    Google's v6e page 'Chips per host 8', so gcp:tpu-v6e-256 is 32 hosts); None for any other node or a chip with
    no host row. What the spot line says a "node" is where it is a slice (QA 84)."""
    if fabric != "tpu-dcn":
        return None
    per = next((s.gpus_per_host for s in cat.systems.values()
                if s.fabric == "tpu-ici" and s.gpu is not None and s.gpu.name == gpu_name), None)
    return chips // per if per else None


def multislice_instances(cat: Catalog, gpu: GPU) -> list[Instance]:
    """The catalog's TPU slice rows of ``gpu`` that join other slices over the data-center network (fabric
    ``tpu-dcn``, Cloud TPU multislice), largest slice first."""
    return sorted((i for i in cat.instances.values() if i.gpu is not None and i.gpu.name == gpu.name
                   and i.fabric == "tpu-dcn" and i.cluster), key=lambda i: -i.gpu_count)


def multislice_hint(cat: Catalog, gpu: GPU) -> str:
    """What a job past one ICI slice of ``gpu`` can do: name a multislice slice row, where the catalog has one."""
    rows = multislice_instances(cat, gpu)
    if not rows:
        return "multislice training over the data-center network is modelled only through a slice row with fabric tpu-dcn, and the catalog has none for this chip"
    return (f"for multislice training over the data-center network name a slice row ({', '.join(i.key for i in rows)}; "
            f"cluster.instance, cluster.nodes = slices)")


def network_assumption(name: str) -> str:
    """The one line printed wherever the default for an unknown fabric is used."""
    return (f"{name}: inter-node network not sourced — assumed {D.DEFAULT_NETWORK_GBPS:g} Gb/s per node "
            "(defaults.DEFAULT_NETWORK_GBPS; set cluster.inter_node_gbps)")


def single_node_note(instances) -> str:
    """The one line for instances the catalog gives no multi-node cluster fabric (``Instance.cluster`` false), each
    named with its fabric: a search over nine such single-GPU instances printed nine lines (QA 88)."""
    names = ", ".join(f"{i.key} (fabric {i.fabric or 'not stated'})" for i in instances)
    them = "it" if len(instances) == 1 else "them"
    return (f"{names}: single node only — the catalog gives {them} no multi-node cluster fabric (a catalog override "
            "with cluster: true and network_gbps lifts this)")


def option_from_instance(inst: Instance, cluster: ClusterSpec | None = None, profile=None,
                         precision: str | None = None, catalog: Catalog | None = None) -> HardwareOption:
    if not inst.is_gpu:
        raise InputError("cluster.instance", f"{inst.key} has no GPU")
    cluster = cluster or ClusterSpec()
    refuse_instance_segment(cluster, inst.key)
    g = int(inst.gpu_count)
    if cluster.gpus_per_node and cluster.gpus_per_node != g:
        raise InputError("cluster.gpus_per_node", f"{inst.key} has {g} GPUs per node, not {cluster.gpus_per_node}")
    notes = []
    assumed, note, latency_note = False, "", ""
    if cluster.inter_node_gbps:
        inter = cluster.inter_node_gbps * 1e9 / 8
    else:
        inter = inst.network_bw_or_default
        assumed = inst.network_is_default
        if assumed and inst.cluster:
            note = network_assumption(inst.key)
    gpu = inst.gpu
    check_profile_applies(profile, [gpu])
    eff = efficiency_for(gpu, profile, precision)
    stated = stated_fabric(cluster, g, eff, catalog, replaces=f"{inst.key}'s {inst.fabric or 'network'} "
                                                              f"({inst.network_bw_or_default * 8 / 1e9:,g} Gb/s a node)",
                           gpu=gpu)
    if stated is not None:  # the job's link: nothing assumed
        inter, eff, assumed, note = stated.inter_node_bw, stated.eff, False, ""
    else:
        eff, latency_note = instance_latency(inst, eff, catalog)
    if inst.fabric == "tpu-dcn" and inst.cluster and not cluster.inter_node_gbps:
        notes.append(f"{inst.key}: a node is one {g}-chip ICI slice; slices exchange over the data-center network at "
                     f"{inst.network_bw / g * 8 / 1e9:g} Gb/s per chip ({inst.network_bw * 8 / 1e9:,.0f} Gb/s per slice; "
                     "source: `planner catalog instances`), chips inside a slice over ICI; a parallel group that "
                     "spans slices (MaxText puts only data / FSDP parallelism there) crosses the slower network")
    if not inst.cluster:
        notes.append(single_node_note([inst]))
    intra = cluster.intra_node_gbps * 1e9 if cluster.intra_node_gbps else (gpu.intra_node_bw or gpu.pcie_bw or D.INTRA_NODE_FALLBACK_BPS)
    price = cluster.price_usd_hr or inst.price_ondemand
    notes += spot_above_rate(cluster, inst)
    topology = node_topology(cluster, inst, g, gpu)
    return HardwareOption(
        name=inst.key, gpu=gpu, gpus_per_node=g, inter_node_bw=inter, intra_bw=intra,
        eff=eff, instance=inst, price_ondemand=price,
        price_spot=inst.price_spot, vcpus_per_node=inst.vcpus, notes=notes + topology_notes(topology),
        multi_node=bool(inst.cluster), network_assumed=assumed, network_note=note,
        latency_note=(latency_note or "") if inst.cluster else "",
        power_limit_w=fixed_limit(cluster, gpu), host_ram_bytes=stated_host_ram(cluster), **fabric_fields(stated), nvlink_topology=topology,
    )


def stated_host_ram(cluster: ClusterSpec) -> Optional[float]:
    """Bytes of host RAM a node has as the job states it (``cluster.host_ram_gib``, GiB as clouds print it), or None."""
    return cluster.host_ram_gib * 2**30 if cluster.host_ram_gib else None


def node_topology(cluster: ClusterSpec, inst: Instance | None, g: int, gpu: GPU) -> str:
    """How a node's ``g`` GPUs of ``gpu`` are wired (``HardwareOption.nvlink_topology``): the job's
    ``cluster.nvlink_topology``, else the instance row's, else the one ``gpu``'s platform always has
    (planner.hardware.nvlink ``default_topology``: the MI300X / MI325X xGMI mesh), else a switch. A mesh joins a fixed
    number of GPUs (planner.hardware.nvlink ``topology_gpus``: 8 on the DGX-1 V100's); a node of fewer holds the first
    ``g`` of them, a larger one is refused, and so is a mesh of links the part does not have (``wired_as``: the NVLink
    mesh on an L4 was read off its PCIe rate until fuzz49, on an A100's NVLink3 until QA 93). A row's mesh is refused as the row's (``cluster.instance``),
    where the job can change neither it nor the instance's GPUs per node."""
    name = cluster.nvlink_topology or (inst.nvlink_topology if inst is not None else None) or default_topology(gpu.name)
    most = topology_gpus(name)
    from_row = not cluster.nvlink_topology and inst is not None and inst.nvlink_topology
    field, said = ("cluster.instance", f"{inst.key}'s catalog row: ") if from_row else ("cluster.nvlink_topology", "")
    if not wired_as(name, gpu.intra_node_link):
        raise InputError(field, f"{said}{name} is a mesh of links {gpu.name} does not have (its GPUs are joined by "
                                f"{gpu.intra_node_link}, the mesh's by {mesh_links_words(name)}): leave it out (a switch: every GPU at the link's full rate), "
                                "or choose GPUs it joins")
    if most is not None and g > most:
        raise InputError(field, f"{said}{name} joins {most} GPUs; this node has {g} " + (
            "(its nvlink_topology: another topology, or blank for a switch)" if from_row else
            "(set cluster.gpus_per_node, or another topology)"))
    return name


def topology_notes(topology: str) -> list[str]:
    """The line a plan on a node without NVSwitch prints (none on a switch): its groups ring on their own links."""
    if topology_gpus(topology) is None:
        return []
    fabric, links, example = MESH_LINKS[topology]
    return [f"{fabric} {topology}: a TP / DP group rings only over the {links} between its members ({example}; "
            f"planner.hardware.nvlink); EP / CP all-to-alls and PP / CP sends go pair by pair on the {links} between "
            "each pair"]


def fixed_limit(cluster: ClusterSpec, gpu: GPU) -> Optional[float]:
    """The power limit the job's ``cluster.power_limit_w`` holds ``gpu`` at, refused in one line where the part
    cannot be held there (planner.hardware.power ``limit_error``: above its rated limit, below its minimum, or no
    rated limit in its catalog row); None where the job sets none (the catalog row's limit)."""
    limit = cluster.power_limit_w
    why = None if limit is None else limit_error(gpu, limit)
    if why:
        raise InputError("cluster.power_limit_w", why)
    return limit


def held_instances(cluster: ClusterSpec, insts: list[Instance]) -> tuple[list[Instance], str]:
    """The searched ``insts`` whose GPUs can be held at the job's power limit, and the note that says how it applies:
    a limit in watts means something per part, so each searched GPU runs at the lower of it and its rated limit
    (``power.searched_limit``); a part that cannot (its minimum above the limit, no rated limit in the catalog) is
    left out, and named. A GPU the job names (``cluster.gpu``) is held to its range as a fixed cluster's is."""
    limit = cluster.power_limit_w
    if limit is None:
        return insts, ""
    if cluster.gpu:
        for i in insts[:1]:
            fixed_limit(cluster, i.gpu)
    why = {i.gpu.name: searched_error(i.gpu, limit) for i in insts}
    kept = [i for i in insts if why[i.gpu.name] is None]
    lost = "; ".join(dict.fromkeys(w for w in why.values() if w))
    if not kept:
        raise InputError("cluster.power_limit_w", f"no searched GPU can be held at {fmt_given(limit)} W: {lost}")
    return kept, (f"cluster.power_limit_w {fmt_given(limit)} W: each searched GPU held at the lower of it and its rated limit"
                  + (f"; left out: {lost}" if lost else ""))


#: how each ``constraints`` list of catalog names is looked up: a GPU by name or alias, an instance by its key
CONSTRAINT_LOOKUPS = {"gpus": lambda cat, n: cat.gpu(n).name, "instances": lambda cat, n: cat.instance(n).key}


def constrained_names(cat: Catalog, con: ConstraintsSpec, field: str) -> set[str]:
    """The catalog names (GPU names, instance keys) ``constraints.<field>`` lists (``CONSTRAINT_LOOKUPS``); a name the
    catalog does not know is refused naming that field. The catalog's lookups name the job's own node
    (``cluster.gpu``, ``cluster.instance``): until qa58 ``constraints: {instances: [aws:p5.48xlarg]}`` was refused as
    "cluster.instance: unknown instance" in a job with no cluster.instance, and an estimate's ``constraints.gpus:
    [H999]`` as "cluster.gpu"."""
    look = CONSTRAINT_LOOKUPS[field]
    try:
        return {look(cat, n) for n in getattr(con, field) or ()}
    except InputError as e:
        raise InputError(f"constraints.{field}", e.message) from None


def select_instances(cat: Catalog, constraints: ConstraintsSpec, gpu_names=None, gpu_only: bool = True,
                     what: str = "GPU instance") -> list[Instance]:
    """The catalog instances a job's constraints allow (clouds, GPUs, spot price known, named
    instances, regions), cheapest first — the one filter the training, serving and tabular
    planners share. Nothing left is one ``InputError`` naming the constraint that emptied it."""
    con = constraints
    gpu_names = con.gpus if gpu_names is None else gpu_names
    known_clouds = {i.cloud for i in cat.instances.values()}
    for c in con.clouds or []:
        if c.lower() not in known_clouds:
            raise InputError("constraints.clouds", f"no instance in the catalog is on cloud {clip(c)}; "
                                                   f"known: {', '.join(sorted(known_clouds))}")
    for g in gpu_names or []:
        try:
            cat.gpu(g)
        except InputError as e:
            raise InputError("constraints.gpus" if con.gpus else "cluster.gpu", e.message) from None
    insts = cat.instances_for(clouds=con.clouds, gpu_names=gpu_names, spot=con.spot, gpu_only=gpu_only)
    if not insts:
        raise _nothing_matches(cat, con, gpu_names, gpu_only, what)
    if con.instances:
        wanted = constrained_names(cat, con, "instances")
        insts = [i for i in insts if i.key in wanted]
        if not insts:  # which constraint each named instance fails ("matches the other constraints" named none)
            raise InputError("constraints.instances", "none matches the other constraints: " + "; ".join(
                _instance_unmatched(cat, con, cat.instance(n), gpu_names, gpu_only) for n in con.instances))
    if con.regions:
        # case-folded, as clouds and instances are (`regions: [US-EAST-1]` found nothing), and a miss names the
        # regions the other constraints' instances are in
        wanted = {r.strip().lower() for r in con.regions}
        kept = [i for i in insts if (i.region or "").lower() in wanted]
        if not kept:
            there = sorted({i.region for i in insts if i.region})
            raise InputError("constraints.regions", f"no {what} in regions {', '.join(map(clip, con.regions))}"
                             + (f"; the instances the other constraints allow are in {', '.join(there[:12])}"
                                + (f" and {len(there) - 12} more" if len(there) > 12 else "") if there else ""))
        insts = kept
    return _under_price_cap(con, insts, what)


def gpu_hour_rate(price_node_hr: float | None, gpus_billed: float) -> float | None:
    """USD per GPU-hour of a node rented at ``price_node_hr`` for ``gpus_billed`` GPUs, what
    ``constraints.max_price_per_gpu_hour`` holds (cost42); None without a price or a GPU."""
    return price_node_hr / gpus_billed if price_node_hr is not None and gpus_billed else None


def instance_gpu_hour_rate(inst: Instance, spot: bool) -> float | None:
    """``inst``'s rate per GPU-hour at the basis a plan is priced at: its spot rate where ``spot``, else on demand."""
    return gpu_hour_rate(inst.price_spot if spot else inst.price_ondemand, inst.gpu_count)


def rent_basis(price_usd_hr) -> str:
    """What a plan's rent is at (a ``vocab.PRICE_BASIS`` name): the job's ``cluster.price_usd_hr`` where it gives one
    (it replaces the instance's on-demand rate, ``option_from_instance``), else the catalog's "on-demand" rate. One
    rule for a training plan's ``Cost.price_basis`` and a serving option's (QA 61)."""
    return JOB_RATE if price_usd_hr is not None else ON_DEMAND


def ranked_basis(spot: bool, price_usd_hr=None) -> str:
    """What the figures a plan is ranked at are priced at (a ``vocab.PRICE_BASIS`` name): "spot" where the job asks
    for spot and the spot rate prices it (``constraints.spot``), else its rent (``rent_basis``; a searched catalog
    instance, ``price_usd_hr`` None, at its on-demand rate). The one rule of ``Cost.ranked_price_basis`` (the rate
    of ``usd_per_million_tokens`` and of recommend's ``cost.ranked``), a search's ``Recommendation.price_basis`` and
    the rate ``constraints.max_price_per_gpu_hour`` holds (``over_price_cap``, ``price_cap_broken``): until QA 75
    a spot search's rows said only ``cost.price_basis: "on-demand"`` (the rent ``cost_ondemand_usd`` is at) beside
    spot $ per million tokens; until code48 the price cap's lines took a second copy of it (``rate_basis``) that
    named a job's own ``cluster.price_usd_hr`` "its on-demand rate"."""
    return SPOT if spot else rent_basis(price_usd_hr)


def cap_rate_words(spot: bool, price_usd_hr=None) -> str:
    """The rate a price cap holds a plan to, in words (``ranked_basis``'s, ``vocab.RATE_NAMES``): "its on-demand
    rate", "its spot rate", or "the job's rate (cluster.price_usd_hr)"."""
    basis = ranked_basis(spot, price_usd_hr)
    return RATE_NAMES[basis] if basis == JOB_RATE else f"its {RATE_NAMES[basis]} rate"


def over_price_cap(con: ConstraintsSpec, insts: list[Instance]) -> list[Instance]:
    """The GPU instances in ``insts`` whose rate per GPU-hour, at the basis the plan is priced at (spot where
    ``constraints.spot``, else on demand), is above ``constraints.max_price_per_gpu_hour``; [] without the cap. A
    CPU-only row (tabular work) has no GPU-hour and is not held to it."""
    cap = con.max_price_per_gpu_hour
    if cap is None:
        return []
    return [i for i in insts if i.gpu is not None
            and (instance_gpu_hour_rate(i, con.spot) or 0) > cap]


def _under_price_cap(con: ConstraintsSpec, insts: list[Instance], what: str) -> list[Instance]:
    """``insts`` less those over the job's price cap (``over_price_cap``); none left is one ``InputError`` naming
    the cheapest of them and its rate."""
    dear = over_price_cap(con, insts)
    if not dear:
        return insts
    kept = [i for i in insts if i not in dear]
    if kept:
        return kept
    cheapest = min(dear, key=lambda i: instance_gpu_hour_rate(i, con.spot))
    rate = instance_gpu_hour_rate(cheapest, con.spot)
    raise InputError("constraints.max_price_per_gpu_hour",
                     f"every {what} the other constraints allow ({len(dear):,}) rents above "
                     f"{con.max_price_per_gpu_hour:g} $/GPU-h at {cap_rate_words(con.spot)}; the cheapest is "
                     f"{cheapest.key} at {rate:.4g} $/GPU-h")


def price_cap_left_out(cat: Catalog, con: ConstraintsSpec, gpu_names=None, shown: int = 6) -> str | None:
    """The line saying which instances the other constraints allow that ``constraints.max_price_per_gpu_hour`` left
    out, each with its rate per GPU-hour, dearest last ("constraints.max_price_per_gpu_hour: 2 instances ... rent
    above 5 $/GPU-h on demand and are not ranked: aws:p5.48xlarge (6.88), ..."), or None: the same place as
    ``spot_left_out``'s, so a reviewer sees what the cap cost the search."""
    if con.max_price_per_gpu_hour is None:
        return None
    try:
        allowed = select_instances(cat, con.model_copy(update={"max_price_per_gpu_hour": None}), gpu_names)
    except InputError:
        return None
    gone = sorted((instance_gpu_hour_rate(i, con.spot), i.key) for i in over_price_cap(con, allowed))
    if not gone:
        return None
    more = f" and {len(gone) - shown} more" if len(gone) > shown else ""
    many = len(gone) != 1
    return (f"constraints.max_price_per_gpu_hour: {len(gone)} instance{'s' if many else ''} the other constraints "
            f"allow rent{'' if many else 's'} above {con.max_price_per_gpu_hour:g} $/GPU-h at {'their' if many else 'its'} "
            f"{RATE_NAMES[ranked_basis(con.spot)]} rate and "
            f"{'are' if many else 'is'} not ranked: " + ", ".join(f"{k} ({r:.4g})" for r, k in gone[:shown]) + more)


def _instance_unmatched(cat: Catalog, con: ConstraintsSpec, inst, gpu_names, gpu_only: bool) -> str:
    """Why instance ``inst``, named in constraints.instances, is not among those the other constraints allow
    (the tests of ``Catalog.instances_for``, in its order)."""
    if con.clouds and inst.cloud not in {c.lower() for c in con.clouds}:
        return f"{inst.key} is on {inst.cloud}, not constraints.clouds"
    if gpu_only and not inst.is_gpu:
        return f"{inst.key} has no GPU"
    if gpu_names and (inst.gpu is None or inst.gpu.name not in {cat.gpu(g).name for g in gpu_names}):
        return f"{inst.key} carries {inst.gpu.name if inst.gpu else 'no GPU'}, not one of " + (
            "constraints.gpus" if con.gpus else "cluster.gpu")
    if con.spot and inst.price_spot is None:
        return f"{inst.key} has no spot price in the catalog (constraints.spot)"
    return f"{inst.key} does not match"


def _gpu_unmatched(cat: Catalog, con: ConstraintsSpec, g: str, gpu_only: bool = True) -> InputError | None:
    """Why no instance the constraints allow carries GPU ``g`` (none in the catalog; none on the clouds
    asked), or None when one does."""
    name = cat.gpu(g).name
    if not cat.instances_for(gpu_names=[g], gpu_only=gpu_only):
        return InputError("constraints.gpus", f"no instance in the catalog has {clip(g)}"
                                              + (f" ({name})" if name != g else "")
                                              + "; use a bare-GPU cluster (cluster.gpu) or a catalog override")
    if con.clouds and not cat.instances_for(clouds=con.clouds, gpu_names=[g], gpu_only=gpu_only):
        where = sorted({i.cloud for i in cat.instances_for(gpu_names=[g], gpu_only=gpu_only)})
        return InputError("constraints.gpus", f"{clip(g)} is not offered on {', '.join(map(clip, con.clouds))} "
                                              f"in the catalog; it is on {', '.join(where)}")
    return None


def unmatched_gpus(cat: Catalog, con: ConstraintsSpec, opts, precision: str, power_limit_w=None) -> list[str]:
    """The GPUs ``constraints.gpus`` names that no searched option carries, each with why: a search over
    [Gaudi3, MI300X, TPU-v5p] answered with TPU plans only and said nothing of the other two (no priced
    instance carried them then)."""
    return [line for _, line in unmatched_gpu_lines(cat, con, opts, precision, power_limit_w)]


def unmatched_gpu_lines(cat: Catalog, con: ConstraintsSpec, opts, precision: str,
                        power_limit_w=None) -> list[tuple[str, str]]:
    """``unmatched_gpus`` with the catalog name of the GPU each line is about: (name, line) pairs, so a caller can
    say it against that GPU (``compare --json``'s no-plan rows) as well as print the line. ``power_limit_w``: the
    job's ``cluster.power_limit_w``, which leaves out a part it cannot hold (``held_instances``); until QA 62 such a
    GPU read "no bf16 peak" (a B300 under 300 W, its minimum 314 W) beside the power note's true reason."""
    have = {o.gpu.name for o in opts}
    out = []
    for g in con.gpus or []:
        name = cat.gpu(g).name
        if name in have:
            continue
        e = _gpu_unmatched(cat, con, g)
        out.append((name, e.message if e is not None else f"{name}: " + _unsearched_why(cat, con, g, precision,
                                                                                        power_limit_w)))
    return out


def _unsearched_why(cat: Catalog, con: ConstraintsSpec, g: str, precision: str, power_limit_w) -> str:
    """Why GPU ``g``, which the catalog offers within the constraints, has no searched option, in the order the
    search drops it: no spot rate (``select_instances``), a power limit it cannot be held at (``held_instances``),
    no peak for the precision (``options_for_search``)."""
    if con.spot and not cat.instances_for(clouds=con.clouds, gpu_names=[g], spot=True):
        return "no spot price in the catalog"
    offered = cat.instances_for(clouds=con.clouds, gpu_names=[g], spot=con.spot)
    if offered and len(over_price_cap(con, offered)) == len(offered):  # (cost42: it read "no bf16 peak")
        cheapest = min(instance_gpu_hour_rate(i, con.spot) for i in offered)
        return (f"constraints.max_price_per_gpu_hour: every instance of it rents above "
                f"{con.max_price_per_gpu_hour:g} $/GPU-h at {cap_rate_words(con.spot)} (the cheapest at {cheapest:.4g})")
    gpu = cat.gpu(g)
    held = None if power_limit_w is None else searched_error(gpu, power_limit_w)
    if held:
        return f"cluster.power_limit_w: {held}"
    if cat.instances_for(clouds=con.clouds, gpu_names=[g]):
        return f"no {precision} peak" if gpu.computes else NO_PEAK_WHY
    return "no instance matches the constraints"


def spot_left_out(cat: Catalog, con: ConstraintsSpec, gpu_names=None, gpu_only: bool = True, shown: int = 6) -> str | None:
    """The line saying which instances the other constraints allow that ``constraints.spot`` left out for having no
    spot rate in the catalog (on-demand only: Lambda's, Azure's ND rows), or None. Until QA 47 a spot job's
    ``compare --by cloud`` over H100 / H200 / B200 showed aws and gcp only, and nothing named the clouds it dropped."""
    if not con.spot or con.instances:
        return None
    gpu_names = con.gpus if gpu_names is None else gpu_names
    kept = {i.key for i in cat.instances_for(clouds=con.clouds, gpu_names=gpu_names, spot=True, gpu_only=gpu_only)}
    wanted = {r.strip().lower() for r in con.regions or []}
    gone = [i.key for i in cat.instances_for(clouds=con.clouds, gpu_names=gpu_names, gpu_only=gpu_only)
            if i.key not in kept and (not wanted or (i.region or "").lower() in wanted)]
    if not gone:
        return None
    clouds = sorted({k.split(":", 1)[0] for k in gone})
    more = f" and {len(gone) - shown} more" if len(gone) > shown else ""
    return (f"constraints.spot: {len(gone)} instance{'s' if len(gone) != 1 else ''} the other constraints allow "
            f"({', '.join(clouds)}) {'have' if len(gone) != 1 else 'has'} no spot rate in the catalog and "
            f"{'are' if len(gone) != 1 else 'is'} not ranked: {', '.join(gone[:shown])}{more} (leave constraints.spot "
            "off to rank them on demand)")


def _nothing_matches(cat: Catalog, con: ConstraintsSpec, gpu_names, gpu_only: bool, what: str) -> InputError:
    """The error naming the constraint value that matched nothing: each GPU on its own, then the
    clouds with it, then spot."""
    for g in gpu_names or []:
        e = _gpu_unmatched(cat, con, g, gpu_only)
        if e is not None:
            return e
    if con.spot and not cat.instances_for(clouds=con.clouds, gpu_names=gpu_names, gpu_only=gpu_only):
        return InputError("constraints.spot", f"no {what} matches clouds/gpus even on demand")
    if con.spot:
        return InputError("constraints.spot", f"no {what} on {', '.join(con.clouds or ['any cloud'])} "
                                              f"with {', '.join(gpu_names or ['any GPU'])} has a spot price in the catalog")
    bits = [f"{k}={v}" for k, v in (("clouds", con.clouds), ("gpus", gpu_names)) if v]
    return InputError("constraints", f"no {what} in the catalog matches {', '.join(bits) or 'the constraints'}")


def check_fixed_cluster(cluster: ClusterSpec, constraints: ConstraintsSpec, hw: HardwareOption, cat: Catalog) -> None:
    """A cluster the job fixes must sit within its constraints: a contradiction is one line naming it. The
    schema holds ``nodes x gpus_per_node`` to the GPU caps (``ConstraintsSpec.cluster_gpus_broken``), but an
    instance's GPUs per node are the catalog's (2 x p5.48xlarge = 16 GPUs passed as "2" under ``max_gpus: 8``,
    and recommend planned 16), and a fixed instance on another cloud than ``constraints.clouds`` was planned
    there without a word."""
    con = constraints
    if cluster.nodes:
        n = cluster.nodes * hw.gpus_per_node
        what = (f"{cluster.nodes:,} node{'' if cluster.nodes == 1 else 's'} x {device_count(hw.gpu, hw.gpus_per_node)}"
                f" = {device_count(hw.gpu, n)}")
        broken = con.cluster_gpus_broken(n, what, billed=hw.billed_gpus(cluster.nodes))
        if broken:
            raise InputError("cluster.nodes", broken)
    inst = hw.instance
    if inst is not None and cluster.instance:
        if con.clouds and inst.cloud not in {c.lower() for c in con.clouds}:
            raise InputError("constraints.clouds", f"cluster.instance {inst.key} is on {inst.cloud}, not "
                                                   f"{', '.join(con.clouds)}")
        if con.instances and inst.key not in constrained_names(cat, con, "instances"):
            raise InputError("constraints.instances", f"cluster.instance {inst.key} is not one of them")
        # a fixed instance outside constraints.regions was planned there without a word (as select_instances
        # filters the search: case-folded)
        if con.regions and (inst.region or "").lower() not in {r.strip().lower() for r in con.regions}:
            raise InputError("constraints.regions", f"cluster.instance {inst.key} is in {inst.region or 'no stated region'}, "
                                                    f"not {', '.join(map(clip, con.regions))}")
    if con.gpus and hw.gpu.name not in constrained_names(cat, con, "gpus"):
        raise InputError("constraints.gpus", f"the cluster's {hw.gpu.name} is not one of them")
    why = price_cap_broken(con, hw, cluster.nodes, cluster.price_usd_hr)
    if why:
        raise InputError("constraints.max_price_per_gpu_hour", why)
    if con.budget_usd and hw.instance is None and hw.price_ondemand is None:
        # a bare GPU no provider rate prices (its reference system has none, or the node is not that system): the
        # budget could not be checked (until gbprice42 refused in the job schema for every bare GPU, GB200 too)
        raise InputError("constraints.budget_usd", f"a bare cluster.gpu ({hw.name}) has no price to hold a budget to "
                         "(no provider rate for its node: `planner catalog systems`); set cluster.price_usd_hr, or "
                         "constraints.clouds/instances to price cloud instances")


def price_cap_broken(con: ConstraintsSpec, hw: HardwareOption, nodes: int | None = None,
                     price_usd_hr: float | None = None) -> str | None:
    """Why the fixed cluster ``hw`` (``nodes`` of it, where the job fixes them) breaks
    ``constraints.max_price_per_gpu_hour``: its rate per GPU billed (``HardwareOption.billed_gpus``: an NVL72 segment
    pays its whole rack, so the rack's rate over its 72 GPUs) at the plan's basis is above the cap, or it has no
    such rate to hold to the cap (a bare GPU without ``cluster.price_usd_hr``, as ``budget_usd`` is refused there);
    None when it holds. ``price_usd_hr``: the job's ``cluster.price_usd_hr``, which ``hw``'s on-demand price is and
    the line names (``cap_rate_words``)."""
    cap = con.max_price_per_gpu_hour
    if cap is None:
        return None
    n = nodes or hw.segments_per_rack  # open: a whole rack's segments (a node off a rack-scale system)
    price = hw.price(con.spot)
    rate = gpu_hour_rate(None if price is None else price * n, hw.billed_gpus(n))
    if rate is None:
        return (f"{hw.name} has no {RATE_NAMES[ranked_basis(con.spot, price_usd_hr)]} rate to hold the cap to; "
                "set cluster.price_usd_hr, or "
                "constraints.clouds / instances to search priced catalog instances")
    if rate <= cap:
        return None
    return (f"{hw.name} rents at {rate:.4g} $/GPU-h ({cap_rate_words(con.spot, price_usd_hr)} per GPU billed), above "
            f"{cap:g} $/GPU-h")


def spot_above_rate(cluster: ClusterSpec, inst) -> list[str]:
    """The note where the job's ``cluster.price_usd_hr`` is below the instance's catalog spot rate: the job's price
    replaces the on-demand rate only, the catalog's spot rate stays, and above the job's own rate it priced "spot"
    dearer than on-demand without a word ($556.04 spot beside $329.08 at $10/node-h). A training plan's hardware note;
    serve's assumed line where the job asks for spot (QA 61: an offline job at $10/node-h on spot was priced at
    p5.48xlarge's 16.95 unsaid)."""
    if not (cluster.price_usd_hr and inst is not None and inst.price_spot and inst.price_spot > cluster.price_usd_hr):
        return []
    return [f"cluster.price_usd_hr {cluster.price_usd_hr:g} $/node-h replaces {inst.key}'s on-demand rate only: its "
            f"catalog spot rate, {inst.price_spot:g} $/node-h, is above it, so a spot plan here costs more than this "
            "price (leave constraints.spot off)"]


def searches_catalog(cluster: ClusterSpec, constraints: ConstraintsSpec) -> bool:
    """Whether the job's hardware is the catalog instances its constraints allow (``cluster_options``), not one fixed
    option: no ``cluster.instance``, and no bare ``cluster.gpu`` without ``constraints.clouds``, ``instances`` or
    ``regions``."""
    places = constraints.clouds or constraints.instances or constraints.regions
    return not (cluster.instance or (cluster.gpu and not places))


def cluster_options(cluster: ClusterSpec, constraints: ConstraintsSpec, cat: Catalog, profile=None,
                    precision: str | None = None, hold_nodes: bool = True) -> list[HardwareOption]:
    """The hardware a job's ``cluster`` and ``constraints`` name together, the one rule ``recommend`` and ``serve``
    share: a ``cluster.instance``, or a bare ``cluster.gpu`` with none of ``constraints.clouds``, ``instances`` and
    ``regions``, is the one fixed option (held to the constraints: ``check_fixed_cluster``); otherwise the catalog instances the
    constraints allow, of ``cluster.gpu`` where one is named (``cluster: {gpu: H100}`` + ``clouds: [aws]`` is AWS's
    priced H100 instances, README "a bare cluster.gpu": a bare GPU has no catalog price). ``hold_nodes`` False leaves
    ``cluster.nodes`` out of the GPU caps (serve sizes its own replicas). Serve planned the unpriced bare GPU for
    ``gpu`` + ``clouds`` until 2026-12-03, while recommend searched the clouds' instances; ``gpu`` + ``regions``
    alone was the bare GPU in both, the regions unused without a word (a bare GPU has no region), until the same day."""
    if not searches_catalog(cluster, constraints):
        hw = option_from_cluster(cluster, cat, profile, precision)
        check_fixed_cluster(cluster if hold_nodes else cluster.model_copy(update={"nodes": None}), constraints, hw, cat)
        return [hw]
    insts = select_instances(cat, constraints, [cluster.gpu] if cluster.gpu else None)
    refuse_instance_segment(cluster, "every searched catalog instance")
    if cluster.price_usd_hr is not None:
        # one node's price; the searched instances differ in GPUs per node and each carries its own rate. Until QA 36
        # the search dropped it without a word (aws at $1/node-h was priced at the catalog's $113.93 while its JSON
        # said price_basis "cluster.price_usd_hr")
        kinds = ", ".join(i.key for i in insts[:3]) + (f" and {len(insts) - 3:,} more" if len(insts) > 3 else "")
        raise InputError("cluster.price_usd_hr", f"a price per node of one node type, but the search prices "
                         f"{count_of(len(insts), 'catalog instance')} ({kinds}) at their own rates: name the one "
                         "it is for in cluster.instance, or reprice catalog instances with a --catalog override "
                         "(`planner catalog instances --csv` writes one to edit)")
    # a profile of no GPU here is refused, not ignored without a word
    check_profile_applies(profile, [i.gpu for i in insts])
    # the job's link speeds and NVLink wiring replace every searched instance's (intra_node_gbps was dropped here
    # until QA 36: an NVLink at 1 GB/s per GPU searched as the catalog's 450; nvlink_topology until fuzz49: a job's
    # switch searched p3.16xlarge on its row's mesh)
    links = ClusterSpec(inter_node_gbps=cluster.inter_node_gbps, intra_node_gbps=cluster.intra_node_gbps,
                        fabric=cluster.fabric, nvlink_topology=cluster.nvlink_topology)
    insts, held = held_instances(cluster, insts)
    insts, cannot = fabric_instances(cluster, insts, cat)
    watts = {i.key: searched_limit(i.gpu, cluster.power_limit_w) for i in insts}  # each part's own (held_instances)
    opts = [option_from_instance(i, links.model_copy(update={"power_limit_w": watts[i.key]}),
                                 profile if profile_matches(profile, i.gpu) else None, precision, cat) for i in insts]
    for o in opts:
        o.notes.extend(n for n in (held, cannot) if n)
    return opts


def fabric_instances(cluster: ClusterSpec, insts: list[Instance], cat: Catalog) -> tuple[list[Instance], str]:
    """The searched ``insts`` whose nodes can carry the job's ``cluster.fabric`` (planner.hardware.platform
    ``fabric_refusal``), and the note naming those left out ("" where none is); none left: refused on the field."""
    family = fabric_family(cluster, cat)
    if family is None:
        return insts, ""
    why = {i.key: fabric_refusal(i.gpu, family) for i in insts}
    kept = [i for i in insts if why[i.key] is None]
    lost = "; ".join(f"{', '.join(dict.fromkeys(i.gpu.name for i in insts if why[i.key] == w))} ({w})"
                     for w in dict.fromkeys(w for w in why.values() if w))
    if not kept:
        raise InputError("cluster.fabric", f"no searched instance can carry it: {lost}")
    return kept, f"cluster.fabric: left out: {lost}" if lost else ""


def options_for_search(cluster: ClusterSpec, constraints: ConstraintsSpec, precision: str,
                       catalog: Catalog | None = None, profile=None) -> list[HardwareOption]:
    """Every hardware option ``recommend`` should consider under the constraints."""
    cat = catalog or load_catalog()
    opts = cluster_options(cluster, constraints, cat, profile, precision)
    if len(opts) == 1 and opts[0].segment_trays is not None and cluster.segment is None:
        # an NVL72 rack whose segment the job leaves open: one option a searched segment size (search_segments)
        sizes = search_segments(opts[0].reference)
        opts = [o for s in sizes for o in cluster_options(cluster.model_copy(update={"segment": s}), constraints,
                                                          cat, profile, precision)]
    out, lacking = [], []
    for o in opts:
        try:
            o.peak(precision)
        except InputError:
            lacking.append(o.gpu.name)  # this GPU cannot run this precision (no fp8 on A100, no peak known)
            continue
        out.append(o)
    if not out:
        if lacking and constraints.gpus and not cluster.gpu and not cluster.instance:
            # the job named the GPUs: each one it lists, and why it is left out
            raise InputError("constraints.gpus", "every GPU it lists is left out: "
                             + "; ".join(unmatched_gpus(cat, constraints, [], precision, cluster.power_limit_w))
                             + "; choose another precision or GPU")
        if lacking and not any(o.gpu.computes for o in opts):  # rows quoting no peak: the catalog is at fault
            raise InputError("training.precision", f"{', '.join(sorted(set(lacking))[:6])} {NO_PEAK_WHY}")
        if lacking:  # every GPU the cluster/constraints allow lacks the precision: the precision is at fault
            names = ", ".join(sorted(set(lacking))[:6])
            raise InputError("training.precision", f"{precision}: no {precision} peak on {names} (the GPUs the "
                                                   "cluster/constraints allow); choose another precision or GPU")
        raise InputError("constraints", "no hardware in the catalog matches the cluster/constraints and precision")
    return out
