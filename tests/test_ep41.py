"""ep41: MoE parallelism priced where it is not uniform -- expert-TP groups (and the EP groups beside them) that a
domain which is no multiple of them splits, placed rank by rank (comm.placed_collective_time, comm.counted_members,
moe.etp_gather_time), and the MTP layer of a model with dense and MoE layers priced as the MoE layer Megatron-Core
builds on the last pipeline stage (step_time.mtp_layer_block)."""
from itertools import product

import numpy as np
import pytest

from planner.model import moe
from planner.model import step_time as S
from planner.model.comm import collective_time, ep_domain_members
from planner.model.stacks import STACKS
from planner.spec import ModelSpec, load_job_dict
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job
from test_ep40 import direct_count

LINKS = (900e9, 50e9, 8e-6, 20e-6)  # NVLink, NIC per GPU, their hop latencies


def test_placed_collective_is_the_hierarchical_price_where_the_group_tiles_the_domains():
    """g members on each of n / g domains: ``placed_collective_time`` is ``collective_time`` to the bit (it is the
    one formula both use), for every kind it prices."""
    from planner.model.comm import placed_collective_time
    for kind, (n, g) in product(("all_gather", "reduce_scatter", "all_reduce"), ((8, 8), (16, 8), (64, 8), (4, 72))):
        k = max(n / min(n, g), 1.0)
        per = min(n, g)
        assert placed_collective_time(kind, 3e8, n, per, per, k, *LINKS) == collective_time(kind, 3e8, n, 1, g, *LINKS)


def test_etp16_on_nvl72_racks_gathers_half_its_rows_through_the_nic():
    """ETP 16 on 72-GPU racks: every rack's fifth group (ranks 64-79) is 8 + 8 across two racks. Until ep41 its
    gather was priced on NVLink alone (min(16, 72) members a domain); the worst group now pays what crosses the
    NICs, ~2x here. Where 16 tiles the domain (64-GPU segments) or the domain divides it (8-GPU nodes) nothing moves."""
    nbytes = 4096 * 8 * 7168 * 2.0
    dom = ep_domain_members(16, 1, 128, 72)
    assert tuple(int(x) for x in dom) == (8, 16, 2)
    rack = moe.etp_gather_time(nbytes, 16, 72, LINKS, dom)
    nvlink_only = collective_time("all_gather", nbytes, 16, 1, 72, *LINKS)
    assert rack > 1.9 * nvlink_only
    for world, g in ((128, 64), (128, 8)):
        assert moe.etp_gather_time(nbytes, 16, g, LINKS, ep_domain_members(16, 1, world, g)) == pytest.approx(
            collective_time("all_gather", nbytes, 16, 1, g, *LINKS), rel=1e-12)


ODD = [(etp, ep, k * etp * ep, g) for etp, ep, g in product((16, 32, 48), (2, 4, 8, 16), (72, 12, 40))
       for k in (1, 2, 3, 5) if g % etp and etp % g]


def test_grids_whose_etp_neither_divides_nor_is_a_multiple_of_the_domain_are_placed():
    """The layouts ep40 left uniform (min(ep, g // etp) members a domain) are counted rank by rank over Megatron's
    expert grid: (fewest, most, domains) equal the direct count of test_ep40 for every one; ETP 16 x EP 8 on 72-GPU
    racks was 4 members on every rack, its groups split 5 + 3."""
    etp, ep, world, g = (np.array(c) for c in zip(*ODD))
    lo, hi, k = ep_domain_members(ep, etp, world, g)
    for i, case in enumerate(ODD):
        assert (lo[i], hi[i], k[i]) == direct_count(*case)[:3], case
    assert tuple(int(x) for x in ep_domain_members(8, 16, 128, 72)) == (3, 5, 2)


def _dsv3(tp, etp, ep, dp, g, nodes):
    return load_job_dict({
        "model": {"preset": "deepseek-v3"},
        "training": {"seq_len": 4096, "global_batch": 4608, "micro_batch": 1, "tokens": 1e12,
                     "recompute": "selective", "framework": {"name": "megatron-core", "moe_dispatcher": "alltoall"}},
        "parallel": {"tp": tp, "pp": 1, "ep": ep, "etp": etp, "dp": dp, "zero": 1},
        "cluster": {"gpu": "GB200-B200", "gpus_per_node": g, "nodes": nodes}})


def test_deepseek_v3_etp16_on_racks_pays_for_the_groups_that_straddle_them():
    """DeepSeek-V3 TP16 ETP16 EP8 on 1,152 GB200s: on sixteen 72-GPU racks the expert-TP gathers of the straddling
    groups and the EP groups with 1 of 8 members on a rack cross the NIC; in eighteen 64-GPU segments nothing does.
    Both were 34.2 s a step (EP 17.4 s) until ep41; the racks are now 49.1 s (EP 32.3 s), the segments 34.3 s."""
    rack, seg = estimate_job(_dsv3(16, 16, 8, 72, 72, 16)), estimate_job(_dsv3(16, 16, 8, 72, 64, 18))
    assert rack.breakdown_s.comm_ep > 1.5 * seg.breakdown_s.comm_ep
    assert rack.step_time_s > 1.3 * seg.step_time_s


def _layer_rows(monkeypatch, job):
    seen = []
    orig = S.layer_rows

    def spy(*a, **k):
        out = orig(*a, **k)
        seen.append(out)
        return out

    monkeypatch.setattr(S, "layer_rows", spy)
    estimate_job(job)
    return seen[-1]


def _pp_job(preset, **model):
    return load_job_dict({
        "model": {"preset": preset, **model},
        "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "tokens": 1e12, "recompute": "selective",
                     "framework": {"name": "megatron-core", "moe_dispatcher": "alltoall"}},
        "parallel": {"tp": 2, "pp": 16, "ep": 64, "etp": 1, "dp": 64, "zero": 1},
        "cluster": {"gpu": "H100-SXM", "gpus_per_node": 8, "nodes": 256}})


def test_mtp_layer_of_a_model_with_dense_layers_is_its_moe_layer(monkeypatch):
    """DeepSeek-V3's MTP layer is built from the last decoder layer's spec (Megatron-Core
    ``get_gpt_mtp_block_spec_for_backend``: ``spec.layer_specs[-1]``), an MoE layer; the last stage carried it as
    the mean layer (3 dense : 58 MoE) until ep41 (KL = 1 mean layer). It is now the MoE layer's own terms, term by
    term on the last stage: longer than the mean layer (the all-to-all and routed experts the dense share lacks)."""
    lr = _layer_rows(monkeypatch, _pp_job("deepseek-v3"))
    own = getattr(lr, "mtp", None)
    assert own is not None and lr.KL == 0.0 and lr.K == 1.0 and lr.K16 == 0.0
    assert np.all(own["fwd"] + own["bwd"] > 1.01 * (lr.L["fwd"] + lr.L["bwd"]))
    assert np.all(own["ep"] > lr.L["ep"])  # its all-to-all whole, not at 58 / 61
    blk, n, _, _ = S.mtp_layer_block(ModelSpec(**PRESETS["deepseek-v3"]), STACKS["megatron-core"])
    assert (blk.layers, blk.moe_layers, n) == (1, 1, 1.0)


def test_mtp_layer_of_a_model_of_one_layer_kind_stays_its_mean_layer(monkeypatch):
    """A model whose layers are all MoE (Mixtral with an MTP depth set) has no block apart: KL = K, as before."""
    assert S.mtp_layer_block(ModelSpec(**{**PRESETS["mixtral-8x7b"], "mtp_layers": 1}), STACKS["megatron-core"]) is None
