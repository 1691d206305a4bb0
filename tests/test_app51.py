"""app51: the what-if app's missing controls. The fabric control offers only the links the accelerators left can carry
(planner.hardware.platform ``FABRICS_CARRIED``); Megatron-Core's ``cp_comm_type`` and the transformers stacks'
``mixed_precision`` and ``use_reentrant`` are sidebar controls; the stack controls' value filter tries the degrees
the search tries (planner.search.space ``open_degrees``), not 1 and 2 only. Each test fails on the code before app51."""
from __future__ import annotations

import pytest

from app_page import open_page, page_text

pytestmark = pytest.mark.slow  # ~10 CPU s in 4 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)


def test_the_fabric_control_offers_what_the_accelerators_carry():
    """A TPU slice carries no NIC the job picks (only the instance's own network), Trainium EFA only, an H100 every
    link; a link the sidebar chose is dropped once the hardware cannot carry it, the job's own kept for the planner's
    one-line refusal."""
    from planner import interactive as wi

    cat = wi.cached_catalog()
    assert wi.fabric_choices(cat, None, ["TPU-v6e"]) == (wi.INSTANCE_FABRIC,)
    assert set(wi.fabric_choices(cat, None, ["Trainium2"])[1:]) == {"EFA-v2-p5", "EFA-p4d"}
    every = wi.fabric_choices(cat, None, ["H100-SXM-80GB"])
    assert {"IB-NDR", "RoCE-400", "EFA-v2-p5", "Ethernet-100G"} <= set(every) and every == wi.fabric_choices(cat)
    assert "IB-NDR" in wi.fabric_choices(cat, None, ["TPU-v6e", "H100-SXM-80GB"])  # (the search keeps the H100s)
    assert wi.fabric_choices(cat, "IB-NDR", ["TPU-v6e"]) == (wi.INSTANCE_FABRIC,)
    assert wi.fabric_choices(cat, "IB-NDR", ["TPU-v6e"], own="IB-NDR") == (wi.INSTANCE_FABRIC, "IB-NDR")


def test_the_value_filter_tries_the_searchs_degrees():
    """Megatron-Core's MoE all-to-all overlap at a fixed PP 4 needs virtual stages (rule a2a-overlap-pp-vpp), which the
    search tries (recommend plans Mixtral-8x7B on it at TP1 PP4 DP8 EP8 v4): offered there, as at PP 1."""
    from planner import interactive as wi

    base = wi.preset_base("mixtral-8x7b")
    for pp in (None, 4):
        c = {c.option: c for c in wi.stack_controls(base, "megatron-core", parallel={"tp": None, "pp": pp, "cp": None,
                                                                                       "zero": None})}
        assert True in c["moe_a2a_overlap"].choices, (pp, c["moe_a2a_overlap"].choices)


def test_a_per_layer_cp_comm_type_is_the_jobs_own_choice():
    """A job file's per-layer ``cp_comm_type`` (one type a layer) is a choice beside the four types, said in runs, and
    written back as the job's list; a type chosen over it is written as that type."""
    from planner import interactive as wi

    layers = ["p2p"] * 16 + ["a2a"] * 16
    base = {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 32768, "framework": {"name": "megatron-core", "cp_comm_type": layers}}}
    c = {c.option: c for c in wi.stack_controls(base, "megatron-core")}["cp_comm_type"]
    assert c.choices[:5] == ("auto", "p2p", "all_gather", "a2a", "a2a+p2p") and c.value == tuple(layers)
    assert c.word(c.value) == "per layer: 16 x p2p, 16 x a2a"
    w = wi.inputs_from_job(wi.build_job(base, None)).replace(framework="megatron-core")
    assert wi.build_job(base, w.replace(stack_options={"cp_comm_type": c.value})).training.framework.cp_comm_type == layers
    assert wi.build_job(base, w.replace(stack_options={"cp_comm_type": "a2a"})).training.framework.cp_comm_type == "a2a"


def _assumptions(at) -> str:
    return page_text(" ".join(m.value for m in at.markdown))


def test_the_page_sets_cp_comm_type_mixed_precision_use_reentrant_and_drops_a_fabric_a_tpu_cannot_carry():
    """The default page (Megatron-Core) draws cp_comm_type at auto; a2a at CP 2 is the plan's CP exchange. On HF Trainer
    mixed_precision and use_reentrant start at the stack's (amp, off) and, set, are the plan's stack line. IB-NDR
    chosen, then TPU v6e: the control is back at the instance's own network and the TPU plans (the page refused it:
    "cluster.fabric: no searched instance can carry it: TPU-v6e (Google TPUs (XLA) carry no infiniband fabric ...)")."""
    at = open_page()
    cp = at.selectbox(key="w_stackopt_cp_comm_type")
    assert list(cp.options) == ["auto", "p2p", "all_gather", "a2a", "a2a+p2p"] and cp.value == "auto"
    at.selectbox(key="w_instance").set_value("aws:p5.48xlarge")
    at.selectbox(key="w_nodes").set_value(1)
    at.select_slider(key="w_seq_len").set_value(32768)
    at.select_slider(key="w_cp").set_value(2)
    cp.set_value("a2a").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "CP2 exchange: Ulysses all-to-alls" in _assumptions(at) and "(TE cp_comm_type a2a)" in _assumptions(at)

    at.select_slider(key="w_cp").set_value(1)
    at.select_slider(key="w_seq_len").set_value(4096)
    at.select_slider(key="w_recompute").set_value("full")
    at.selectbox(key="w_framework").set_value("hf-trainer").run()
    mp, re = at.selectbox(key="w_stackopt_mixed_precision"), at.selectbox(key="w_stackopt_use_reentrant")
    assert (list(mp.options), mp.value, list(re.options), re.value) == (["amp", "bf16"], "amp", ["on", "off"], False)
    mp.set_value("bf16")
    re.set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    line = next(a for a in at.markdown if a.value.startswith("- training stack: hf-trainer")).value
    assert "mixed_precision=bf16" in line and "use_reentrant=on" in line, line

    at.selectbox(key="w_fabric").set_value("IB-NDR").run()
    at.selectbox(key="w_instance").set_value("auto")
    at.multiselect(key="w_gpus").set_value(["TPU-v6e"])
    at.selectbox(key="w_framework").set_value("default").run()
    assert not at.exception, [e.value for e in at.exception]
    fabric = at.selectbox(key="w_fabric")
    assert (list(fabric.options), fabric.value) == (["instance default"], "instance default")
    assert not at.error and "tpu-v6e" in at.success[0].value, [e.value for e in at.error]
