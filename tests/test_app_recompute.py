"""The what-if app's partial full recompute inputs (Megatron --recompute-method / --recompute-num-layers:
training.recompute_method / recompute_num_layers), through ``streamlit.testing.v1.AppTest``: shown only for stacks
that run it (``Stack.partial_recompute``), enabled only under recompute full or auto, and the plan follows them."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from conftest import ROOT

pytestmark = pytest.mark.slow  # ~9 CPU s in 4 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

#: a small pinned job (one 8-GPU node, layout fixed), so that each run is a fast search
JOB = b"""model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 64, micro_batch: 1, steps: 10, recompute: full, framework: %s}
parallel: {tp: 1, pp: 1, dp: 8, zero: %s}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}
"""


def _job(framework: str) -> bytes:
    return JOB % (framework.encode(), b"3" if framework == "torchtitan" else b"1")  # torchtitan: FSDP2


def _app(framework: str):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("job.yaml", _job(framework), "application/x-yaml")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _keys(at) -> set:
    return {w.key for w in at.selectbox}


def test_controls_set_the_plans_method_and_layers():
    at = _app("megatron-core")
    assert {"w_recompute_method", "w_recompute_num_layers"} <= _keys(at)
    # left open: the search picks block N (the layout says which)
    assert "rc:full(block" in at.success[0].value, at.success[0].value
    at.selectbox(key="w_recompute_method").set_value("uniform")
    at.selectbox(key="w_recompute_num_layers").set_value(4).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "rc:full(uniform 4)" in at.success[0].value, at.success[0].value
    # the app's job is the CLI's job with those fields
    s = at.session_state
    base = wi.parse_upload("job.yaml", _job("megatron-core"))
    job = wi.build_job(base, wi.inputs_from_job(wi.build_job(base, None)).replace(
        recompute_method=s["w_recompute_method"], recompute_num_layers=s["w_recompute_num_layers"]))
    assert (job.training.recompute_method, job.training.recompute_num_layers) == ("uniform", 4)


def test_controls_are_off_under_another_recompute():
    """recompute selective: the inputs are disabled and not written into the job (Megatron-Core refuses
    recompute_num_layers with selective), whatever they hold"""
    at = _app("megatron-core")
    at.selectbox(key="w_recompute_method").set_value("block")
    at.selectbox(key="w_recompute_num_layers").set_value(32)
    at.select_slider(key="w_recompute").set_value("selective").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="w_recompute_method").disabled and at.selectbox(key="w_recompute_num_layers").disabled
    assert all("recompute_num_layers" not in e.value for e in at.error), [e.value for e in at.error]
    base = wi.parse_upload("job.yaml", _job("megatron-core"))
    w = wi.inputs_from_job(wi.build_job(base, None)).replace(recompute="selective", recompute_method="block",
                                                             recompute_num_layers=32)
    t = wi.build_job(base, w).training
    assert t.recompute == "selective" and t.recompute_method is None and t.recompute_num_layers is None


def test_controls_absent_where_the_stack_has_no_partial_recompute():
    at = _app("torchtitan")
    assert not at.error, [e.value for e in at.error]
    assert not {"w_recompute_method", "w_recompute_num_layers"} & _keys(at)
    assert not wi.partial_recompute(wi.parse_upload("job.yaml", _job("torchtitan")))
    assert wi.partial_recompute(wi.parse_upload("job.yaml", _job("megatron-core")))


def test_tables_show_hfu_beside_mfu_as_the_cli_does():
    """The app's tables (ranked plans, scaling, comparison, sensitivity) showed "MFU %" alone; a full-recompute
    plan's HFU, which counts the recomputed forward, was in the CLI's "MFU / HFU" row and the app's metric only.
    Each table now has "HFU %" beside it, the step-time model's ``hfu`` the CLI prints (one formula)."""
    at = _app("megatron-core")
    assert not at.error, [e.value for e in at.error]
    tables = [df.value for df in at.dataframe if "MFU %" in df.value.columns]
    assert len(tables) >= 4, [list(t.columns) for t in at.dataframe]
    for t in tables:
        cols = list(t.columns)
        assert cols[cols.index("MFU %") + 1] == "HFU %", cols
    metric = next(m.value for m in at.metric if m.label == "MFU / HFU")  # explain.mfu_hfu_values: "41.2% / 54.9%"
    mfu, hfu = (float(v.rstrip("%")) for v in metric.split(" / "))
    ranked = next(t for t in tables if "#" in t.columns)
    # recompute full: HFU counts the recomputed forward (47.5% MFU, 52.6% HFU); the first row is the metric's plan
    assert ranked["HFU %"].iloc[0] > ranked["MFU %"].iloc[0] + 2
    assert (ranked["MFU %"].iloc[0], ranked["HFU %"].iloc[0]) == pytest.approx((mfu, hfu), abs=0.051)
