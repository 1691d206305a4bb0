"""segment40: the NVLink domain a GB200 NVL72 job asks for (Slurm --segment), a job input recommend searches."""
import numpy as np
import pytest
from conftest import answered, refused

from planner.hardware.options import option_from_cluster, search_segments
from planner.spec import load_job_dict
from planner.spec.schema import ClusterSpec
from planner.workloads.training import estimate_job

RACK_TRAYS, TRAY_GPUS = 18, 4  # DGX GB200 NVL72: 18 compute trays of 4 GPUs (hardware_catalog/data/systems.csv)


def place_segments(trays: int, segments: int) -> list[int]:
    """Slurm topology/block placed by hand: fill each rack tray by tray with whole segments of ``trays`` trays (a
    segment never spans two racks); the trays of every rack the job opens, used or not."""
    racks, free = [], 0
    for _ in range(segments):
        if free < trays:
            racks.append(0)
            free = RACK_TRAYS
        racks[-1] += trays
        free -= trays
    return racks


@pytest.mark.parametrize("trays", range(1, RACK_TRAYS + 1))
def test_each_segment_size_is_its_nvlink_domain_and_pays_for_the_trays_no_segment_can_use(trays):
    """A segment of s trays is an s x 4-GPU NVLink domain; a rack price spread over the floor(18 / s) segments a rack
    holds charges each rack's idle trays (counted by placing segments tray by tray) to the job. Before segment40
    ``cluster.segment`` was no field and every GB200 domain was the 72-GPU rack."""
    hw = option_from_cluster(ClusterSpec(gpu="GB200-B200", segment=trays, price_usd_hr=720.0))
    per_rack = place_segments(trays, 1000)[0] // trays  # segments in a full rack
    assert hw.gpus_per_node == trays * TRAY_GPUS
    assert hw.idle_gpus_per_rack == (RACK_TRAYS - per_rack * trays) * TRAY_GPUS
    racks = len(place_segments(trays, 6 * per_rack))  # a job of whole racks
    assert 6 * per_rack * hw.price_ondemand == pytest.approx(racks * 720.0)
    assert hw.inter_node_bw == pytest.approx(trays * TRAY_GPUS * 400e9 / 8)  # one 400 Gb/s NIC a GPU


def test_the_searched_segments_are_the_rack_and_the_64_gpu_segment():
    """Powers of two and the rack, less those a multiple of them beats on GPUs used: 16 trays (64 GPUs) and 18."""
    assert search_segments(option_from_cluster(ClusterSpec(gpu="GB200-B200")).reference) == [16, 18]


def _dsv3(**cluster):
    return load_job_dict({
        "model": {"preset": "deepseek-v3"},
        "training": {"seq_len": 4096, "global_batch": 4608, "micro_batch": 1, "tokens": 1e12, "recompute": "selective",
                     "framework": {"name": "megatron-core", "moe_dispatcher": "alltoall"}},
        "parallel": {"tp": 1, "pp": 1, "ep": 64, "etp": 1, "dp": 576, "zero": 1},
        "cluster": {"gpu": "GB200-B200", **cluster}})


def test_a_segment_prices_the_job_as_a_node_of_its_gpus():
    """DeepSeek-V3 EP 64 on nine 16-tray segments is priced as on 64-GPU nodes (every EP group on one domain), not as
    on 72-GPU racks, where 7 of 9 groups straddle two (ep40)."""
    seg, node64 = estimate_job(_dsv3(segment=16, nodes=9)), estimate_job(_dsv3(gpus_per_node=64, nodes=9))
    rack = estimate_job(_dsv3(nodes=8))
    assert seg.step_time_s == pytest.approx(node64.step_time_s, rel=1e-9)
    assert rack.step_time_s > 2 * seg.step_time_s
    assert seg.hardware.segment_trays == 16 and seg.hardware.idle_gpus_per_rack == 8 and seg.hardware.gpus == 576
    assert rack.hardware.segment_trays == 18 and rack.hardware.idle_gpus_per_rack == 0  # the default: the rack


DS_YAML = ("model: {preset: deepseek-v3}\n"
           "training: {seq_len: 4096, global_batch: 4608, micro_batch: 1, precision: fp8, tokens: 1.5e13,"
           " recompute: selective, framework: {name: megatron-core, moe_dispatcher: alltoall}}\n"
           "parallel: {tp: 1, ep: 64, etp: 1}\n")


def test_recommend_searches_the_segment_and_says_why(cli, tmp_path):
    """``recommend`` on DeepSeek-V3 EP 64 over eight GB200 racks with the segment left open: its best plan was on
    whole racks at 27.4 s a step (the all-to-all 70% of it); it now runs in 64-GPU segments (8 GPUs of each rack
    idle) and says so, with the rack plan ranked below it."""
    p = tmp_path / "ds.yaml"
    p.write_text(DS_YAML + "cluster: {gpu: GB200-B200, gpus_per_node: 72, nodes: 8}\n")
    rec = answered(cli("recommend", str(p), "--json"))
    best = rec["best"]
    assert best["hardware"]["segment_trays"] == 16 and best["hardware"]["gpus_per_node"] == 64
    assert best["hardware"]["idle_gpus_per_rack"] == 8
    rack = next(r for r in rec["ranked"] if r["hardware"]["gpus_per_node"] == 72)
    assert best["step_time_s"] < 0.5 * rack["step_time_s"]
    line = next(a for a in best["advice"] if a.startswith("MoE:"))
    assert "64-GPU Slurm segments (--segment=16" in line and "cross a 72-GPU rack boundary" in line
    assert any("NVLink domain: 64 GPUs (Slurm --segment=16" in n for n in rec["notes"])


def test_the_slurm_launch_spec_asks_for_the_segment(cli, tmp_path):
    p = tmp_path / "ds.yaml"
    p.write_text(DS_YAML + "cluster: {gpu: GB200-B200, segment: 16, nodes: 8}\n")
    code, out, err = cli("recommend", str(p), "--emit", "slurm")
    assert code == 0, err
    assert "#SBATCH --segment=16" in out and "#SBATCH --gpus-per-node=4" in out


@pytest.mark.parametrize("cluster, says", [
    ("{gpu: GB200-B200, segment: 19, nodes: 8}", "cluster.segment: 19 trays"),
    ("{gpu: H100, segment: 2, nodes: 8}", "cluster.segment: a Slurm --segment"),
    ("{gpu: GB200-B200, gpus_per_node: 64, segment: 16, nodes: 8}", "cluster.segment: a Slurm --segment of the trays of an NVL72 rack; cluster.gpus_per_node 64"),
])
def test_a_segment_the_rack_cannot_take_is_refused(cli, tmp_path, cluster, says):
    p = tmp_path / "ds.yaml"
    p.write_text(DS_YAML + f"cluster: {cluster}\n")
    assert refused(cli("recommend", str(p))).startswith(f"error: {says}")


# ---- the dispatchers' own NVLink domains on NVL72 (moe.dispatcher_domain)


def largest_even_domain(span: int, g: int, world: int) -> int:
    """HybridEP's ranks a domain, counted: the largest R dividing the group (Megatron-Core's ``_hybrid_ep_num_nodes``
    asserts ``group.size() % ranks_per_nvlink_domain == 0``) such that every block of R consecutive ranks of every
    group, laid end to end from rank 0 (etp x ep grids, parallel_state.py), lies inside one g-GPU domain."""
    return max(r for r in range(1, span + 1) if span % r == 0 and all(
        (o + b) // g == (o + b + r - 1) // g for o in range(0, world, span) for b in range(0, span, r)))


@pytest.mark.parametrize("span, g", [(64, 72), (16, 72), (32, 72), (8, 72), (64, 64), (128, 72), (16, 8), (4, 8)])
def test_hybridep_runs_a_straddling_group_as_equal_domains(span, g):
    """EP 64 on 72-GPU racks (8 + 56 of a group on two racks) runs HybridEP as eight domains of 8, not the 64 one
    rack would hold, and its buffers are sized for that (before segment40: members_per_node, 64 a domain)."""
    from planner.model import moe

    r = largest_even_domain(span, g, 9 * 64 * 8)
    assert int(moe.dispatcher_domain("hybridep", span, 1, g)) == r
    buf = moe.dispatcher_buffer_bytes("hybridep", 7168, 256, 4096.0, span, 1, g)
    assert float(buf) == pytest.approx(float(sum(moe.hybridep_buffer_bytes(7168, 4096.0, span, r, 256 / span))))


def test_deepep_sends_between_its_8_rank_nodes_through_the_nic_on_an_nvl72_rack():
    """DeepEP's normal kernels: rdma_rank = rank / NUM_MAX_NVL_PEERS (8) and every token bound for another rdma_rank
    leaves through IBGDA. Counted over every 2-expert choice of 16 experts on EP 16 (one expert a rank): the share of
    tokens rank 0 must send to the other 8-rank node, one copy each; the NIC bytes priced on a 72-GPU rack equal it
    (before segment40: 0, the 16 ranks one NVLink domain)."""
    from itertools import combinations

    from planner.model import moe
    from planner.model.comm import ep_domain_members

    experts, k, ep, row = 16, 2, 16, 1000.0
    picks = list(combinations(range(experts), k))
    remote = sum(len({e // 8 for e in c} - {0}) for c in picks) / len(picks)  # other 8-rank nodes a token reaches
    g = moe.dispatcher_domain("deepep", ep, 1, 72)
    _, nic = moe.ep_link_bytes(row, k, 1, 1.0, ep, 1, g, None, True, experts)
    assert float(np.ravel(nic)[0]) == pytest.approx(row * remote)
    # the all-to-all dispatcher (NCCL) keeps the rack: the whole group on one NVLink domain, no NIC bytes
    _, nic_a2a = moe.ep_link_bytes(row, k, 1, 1.0, ep, 1, moe.dispatcher_domain("alltoall", ep, 1, 72),
                                   ep_domain_members(ep, 1, 64, 72), False, experts)
    assert float(np.ravel(nic_a2a)[0]) == 0.0
