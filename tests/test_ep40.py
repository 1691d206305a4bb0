"""ep40: expert-parallel groups that straddle an NVLink domain, priced (comm.ep_domain_members, moe.ep_link_bytes)."""
from itertools import product

import numpy as np
import pytest

from planner.model import moe
from planner.model.comm import ep_domain_members, members_per_node
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def megatron_ep_groups(etp: int, ep: int, world: int) -> list[list[int]]:
    """The EP groups of Megatron-Core's expert rank generator, order tp-cp-ep-dp-pp with cp = 1 (parallel_state.py
    ``RankGenerator``): a rank is t + etp (i + ep (d + edp p)) over the sizes [etp, ep, edp, pp] (inner first),
    and an EP group varies i with the others fixed (edp and pp folded into one outer index here)."""
    outer = world // (etp * ep)
    return [[t + etp * (i + ep * d) for i in range(ep)] for d in range(outer) for t in range(etp)]


def direct_count(etp, ep, world, g):
    """(fewest, most, domains) by placing every rank on domain rank // g and counting each rank's group members on
    its own domain; and, for an all-to-all that sends ``per_peer`` bytes to every other member, the most bytes any
    rank sends over NVLink (peers on its domain) and over its NIC (peers off it)."""
    fewest, most, doms, nvl, nic = ep, 0, 0, 0, 0
    for grp in megatron_ep_groups(etp, ep, world):
        dom = [r // g for r in grp]
        doms = max(doms, len(set(dom)))
        for d in dom:
            same = dom.count(d)
            fewest, most = min(fewest, same), max(most, same)
            nvl, nic = max(nvl, same - 1), max(nic, ep - same)
    return fewest, most, doms, nvl, nic


CASES = [(etp, ep, k * etp * ep, g)
         for etp, ep, g in product((1, 2, 4, 8), (2, 4, 8, 16, 32, 64), (4, 8, 16, 64, 72))
         for k in (1, 2, 3, 5, 9)
         if g % etp == 0 or etp % g == 0]


def test_ep_domain_members_match_a_direct_count_of_megatrons_rank_layout():
    """The vectorised (fewest, most, domains) equal, case by case, the counts over every rank of every EP group of
    Megatron's layout placed on domains in rank order: 8-GPU nodes, 4 / 16-GPU blocks, 64-GPU segments and 72-GPU
    NVL72 racks, etp 1-8, jobs of 1-9 expert grids. Before ep40 there was one number, min(ep, g / etp)."""
    etp, ep, world, g = (np.array(c) for c in zip(*CASES))
    lo, hi, k = ep_domain_members(ep, etp, world, g)
    for i, case in enumerate(CASES):
        assert (lo[i], hi[i], k[i]) == direct_count(*case)[:3], case
    # where the groups tile the domains it is members_per_node, so those layouts' prices do not move
    tiles = (g % (ep * etp) == 0) | ((ep * etp) % g == 0) | (world <= g)
    assert np.array_equal(lo[tiles], members_per_node(ep, etp, g)[tiles])
    assert (lo < members_per_node(ep, etp, g)).sum() > 50  # and the straddling ones are many


def test_the_priced_all_to_all_bytes_are_the_worst_ranks_of_each_link_class():
    """The all-to-all dispatcher sends every (token, expert) copy: per peer total / ep. Counted rank by rank, the
    busiest NIC is the rank with the fewest peers on its domain, the busiest NVLink the one with the most;
    ``ep_link_bytes`` at the vectorised placement gives both. EP 64 on 72-GPU racks, 128 ranks: 56 of 64 copies
    over the NIC (the old price: none); EP 16 over two 8-GPU H100 nodes: half, as before (one formula)."""
    tokens, top_k, hidden, el = 4096.0, 8, 7168, 2.0
    total = tokens * top_k * hidden * el
    for etp, ep, world, g in CASES:
        dom = ep_domain_members(ep, etp, world, g)
        nvl, nic = moe.ep_link_bytes(tokens, top_k, hidden, el, ep, etp, g, dom, False, 256)
        _, _, _, nvl_peers, nic_peers = direct_count(etp, ep, world, g)
        assert float(nvl) == pytest.approx(total / ep * nvl_peers, rel=1e-12), (etp, ep, world, g)
        assert float(nic) == pytest.approx(total / ep * nic_peers, rel=1e-12), (etp, ep, world, g)
    _, nic72 = moe.ep_link_bytes(tokens, top_k, hidden, el, 64, 1, 72, ep_domain_members(64, 1, 128, 72), False, 256)
    _, nic_old = moe.dispatch_bytes(tokens, top_k, hidden, el, 64, members_per_node(64, 1, 72), False, 256)
    assert float(nic72) == pytest.approx(total * 56 / 64) and float(nic_old) == 0.0
    _, nic16 = moe.ep_link_bytes(tokens, top_k, hidden, el, 16, 1, 8, ep_domain_members(16, 1, 256, 8), False, 256)
    assert float(nic16) == pytest.approx(total / 2)


def test_deduplicating_dispatchers_send_a_token_once_to_the_other_domain():
    """DeepEP / HybridEP send a token once to each remote domain holding one of its experts: the rank with 8 of its
    64 peers on its rack reaches the one other domain (56 ranks) for nearly every token, not 7 domains of 8."""
    row = 4096.0 * 7168 * 2
    dom = ep_domain_members(64, 1, 128, 72)
    _, nic = moe.ep_link_bytes(4096.0, 8, 7168, 2.0, 64, 1, 72, dom, True, 256)
    assert 0.99 * row < np.ravel(nic)[0] <= row
    # tiling layouts: the same bytes as the uniform price
    tiled = moe.ep_link_bytes(4096.0, 8, 7168, 2.0, 64, 1, 8, ep_domain_members(64, 1, 256, 8), True, 256)
    uniform = moe.dispatch_bytes(4096.0, 8, 7168, 2.0, 64, 8, True, 256)
    assert all(np.array_equal(a, b) for a, b in zip(tiled, uniform))


def _dsv3(gpus_per_node, nodes, dispatcher="alltoall"):
    return load_job_dict({
        "model": {"preset": "deepseek-v3"},
        "training": {"seq_len": 4096, "global_batch": 4608, "micro_batch": 1, "tokens": 1e12, "recompute": "selective",
                     "framework": {"name": "megatron-core", "moe_dispatcher": dispatcher}},
        "parallel": {"tp": 1, "pp": 1, "ep": 64, "etp": 1, "dp": 576, "zero": 1},
        "cluster": {"gpu": "GB200-B200", "gpus_per_node": gpus_per_node, "nodes": nodes}})


def test_deepseek_v3_ep64_on_nvl72_racks_pays_for_the_straddle_and_64_gpu_segments_do_not():
    """576 GB200s, EP 64: on eight 72-GPU racks 7 of the 9 groups straddle two racks (the worst rank 8 peers on its
    rack); in nine 64-GPU segments none does. The step priced both at 11.2 s (EP all-to-all 2.23 s) until ep40; the
    racks now pay the NIC (all-to-all dispatcher 28.1 s, 19.2 s of it EP; HybridEP 12.3 s, 3.7 s)."""
    rack, seg = estimate_job(_dsv3(72, 8)), estimate_job(_dsv3(64, 9))
    assert rack.breakdown_s.comm_ep > 5 * seg.breakdown_s.comm_ep
    assert rack.step_time_s > 2 * seg.step_time_s
    h_rack, h_seg = estimate_job(_dsv3(72, 8, "hybridep")), estimate_job(_dsv3(64, 9, "hybridep"))
    assert 1.2 * h_seg.breakdown_s.comm_ep < h_rack.breakdown_s.comm_ep < rack.breakdown_s.comm_ep


def test_recommend_prices_and_says_the_straddle(cli, tmp_path):
    """``planner recommend`` on DeepSeek-V3 EP 64 over eight GB200 NVL72 racks: the advice said "priced as 64 ranks a
    node, but 7 of the 9 64-rank groups cross" beside an all-to-all "inside one node"; it now says the groups are
    priced with the worst rank's NIC, and the EP all-to-all's share of the step is what that costs."""
    from conftest import answered

    p = tmp_path / "ds.yaml"
    p.write_text("model: {preset: deepseek-v3}\n"
                 "training: {seq_len: 4096, global_batch: 4608, micro_batch: 1, precision: fp8, tokens: 1.5e13,"
                 " recompute: selective, framework: {name: megatron-core, moe_dispatcher: alltoall}}\n"
                 "parallel: {tp: 1, ep: 64, etp: 1}\n"
                 "cluster: {gpu: GB200-B200, gpus_per_node: 72, segment: 18, nodes: 8}\n")  # whole racks (segment40)
    best = answered(cli("recommend", str(p), "--json"))["best"]
    line = next(a for a in best["advice"] if a.startswith("MoE:"))
    assert "priced: the worst-placed rank has 8 of its 64 EP peers on its node" in line
    assert "inside one node" not in line and "400 Gb/s NIC" in line
    assert best["breakdown_s"]["comm_ep"] > 0.5 * best["step_time_s"]
