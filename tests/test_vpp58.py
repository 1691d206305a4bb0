"""vpp58: `recommend` tries, at each pipeline degree, the interleaving depths that split the layers evenly as
Megatron launches them (planner.search.space ``more_vpps``), not only ``defaults.VPP``'s 1, 2, 4. Megatron-Bridge's
recipes run Llama-3-70B at PP 4 VPP 5 and Llama-3.1-405B at PP 8 VPP 8 (scripts/performance/configs/llama); qa58
found Llama-3-70B on 8 p5 at TP4 PP4 planned at VPP 4 where a deeper depth ran faster."""
from __future__ import annotations

import numpy as np

from hardware_catalog import load_catalog
from planner import defaults as D
from planner.search.space import more_vpps, open_degrees, space_for
from planner.spec import load_job_dict
from planner.workloads.training import recommend


def _job(**parallel):
    return load_job_dict({"model": {"preset": "llama3-70b"},
                          "training": {"seq_len": 8192, "global_batch": 128, "precision": "bf16",
                                       "optimizer": "adamw", "tokens": 1.5e13},
                          "parallel": {"tp": 4, "pp": 4, **parallel} if "pp" not in parallel else parallel,
                          "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}})


def test_recommend_finds_a_deeper_even_interleaving():
    """On 8 p5 at TP4 PP4 the best depth is one D.VPP lacks: 80 layers on PP4 x VPP10 (2-layer chunks, which
    Megatron-Bridge's Llama-3-70B H100 FP8 SFT recipe runs), faster than the best of VPP 1, 2, 4 (main: VPP 4,
    17.19 s). Fails on the old code (its best is VPP 4)."""
    cat = load_catalog()
    best = recommend(_job(), cat, simulate=False).best
    assert best.config.vpp in more_vpps(80, 4) and best.config.vpp not in D.VPP
    old = min((recommend(_job(vpp=v), cat, simulate=False).best for v in D.VPP), key=lambda p: p.step_time_s)
    assert best.step_time_s < old.step_time_s


def test_deeper_depths_only_at_the_pp_they_split():
    """The search's rows hold a deeper depth only at the pipeline degree it splits evenly: with PP open, VPP 10
    (80 layers: 2-layer chunks at PP4, 1-layer at PP8 since vpp59) at PP 4 and 8 only (PP2 tries its two shallowest,
    5 and 8), VPP 5 at PP 2, 4, 8 and 16 (8-, 4-, 2- and 1-layer chunks), and every D.VPP depth as before. Fails on
    the old code (no depth beyond 4)."""
    job = _job(tp=4, pp=None)
    deg = open_degrees(job, 8)
    assert {5, 10} <= set(deg["vpp"]) and deg["vpp_more"][4] == (5, 10) and deg["vpp_more"][8] == (5, 10)
    from planner.hardware.options import option_from_instance
    c = space_for(job, option_from_instance(load_catalog().instance("aws:p5.48xlarge")))
    pp, vpp = np.asarray(c.pp), np.asarray(c.vpp)
    assert set(np.unique(pp[vpp == 10]).tolist()) == {4, 8}
    assert set(np.unique(pp[vpp == 5]).tolist()) == {2, 4, 8, 16}
    assert (vpp == 4).any() and (vpp == 2).any()


def test_more_vpps_bounded():
    """At most D.VPP_MORE deeper depths a degree, chunks of at least D.VPP_MIN_CHUNK_LAYERS layers, counting the
    embedding and loss as layers (Llama-3.1-405B's 126 + 2 on PP8 x VPP8, Megatron-Bridge's H100 / B200 recipe)."""
    assert more_vpps(126, 8) == (8,)
    assert more_vpps(80, 2) == (5, 8)  # 10 and 20 (4- and 2-layer chunks) past the bound
    for layers in (32, 61, 80, 94, 126):
        for pp in D.PP_DEGREES:
            vs = more_vpps(layers, pp)
            assert len(vs) <= D.VPP_MORE and not set(vs) & set(D.VPP)
            assert all((layers + 2) // (pp * v) >= D.VPP_MIN_CHUNK_LAYERS for v in vs)
            assert all(v < D.VPP_THIN_PER_PP * pp or (layers + 2) // (pp * v) >= 2 for v in vs)  # (vpp59)
