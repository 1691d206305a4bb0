"""QA pass 77: which stack each searched plan ran, wherever the plans are shown side by side.

A search over stacks (``training.framework: auto``, or an open framework over GPUs and TPUs: each platform's own
stack) ranks plans of several stacks, but recommend's ranked table, the report's alternatives and the app's top
alternatives / best-per-GPU tables named the stack of none of their rows (only the winner's ``training stack:``
line did). Each now has a "framework" column where the rows' stacks differ, beside rec46b's "fp8 recipe" column,
from one helper (``explain.searched_column``)."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from planner.present.report import build_report
from planner.search.explain import plan_searched_columns, searched_column, view_searched_columns
from planner.spec import load_job_dict

from conftest import ROOT, write_job

#: Llama-3-8B on TPU v5p or H100 on GCP, the framework left open: MaxText on the TPU rows, Megatron-Core on the GPUs
#: (test_accelerator_stacks), the two among recommend's ranked plans
MIXED = {"model": {"preset": "llama3-8b"},
         "training": {"seq_len": 4096, "global_batch": 256, "tokens": 2e10, "precision": "bf16"},
         "constraints": {"gpus": ["TPU-v5p", "H100-SXM-80GB"], "clouds": ["gcp"], "max_gpus": 1024,
                         "objective": "cost", "deadline_hours": 4000}}
WIDE = {"COLUMNS": "240"}


@pytest.fixture(scope="module")
def mixed():
    job = load_job_dict(MIXED)
    return job, wi.search(job, top=30, simulate=False)


def test_the_helper_gives_a_column_only_where_a_searched_value_differs():
    assert searched_column(["a", "b"], False) is None and searched_column(["a", "a"], True) is None
    plans = [{"stack": {"name": "maxtext", "searched": []}}, {"stack": {"name": "megatron-core", "searched": []}}]
    assert plan_searched_columns(plans) == {"framework": ["maxtext", "megatron-core"]}
    assert plan_searched_columns(plans[:1] * 2) == {}
    rows = [{"framework": "torchtitan", "fp8_recipe": "rowwise"}, {"framework": "torchtitan", "fp8_recipe": "mxfp8"}]
    assert view_searched_columns(rows) == {"fp8 recipe": ["rowwise", "mxfp8"]}


def test_recommends_ranked_table_names_each_rows_stack(cli, tmp_path):
    code, out, err = cli("recommend", write_job(tmp_path, MIXED), "--no-simulate", "--top", "30", env=WIDE)
    assert code == 0, err
    lines = out.splitlines()
    head = next(ln for ln in lines if ln.startswith("┃") and "layout" in ln)
    heads = [c.strip() for c in head.strip("┃").split("┃")]
    assert heads[heads.index("layout") + 1] == "framework", heads
    rows = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines[lines.index(head):] if ln.startswith("│")]
    by_hw = {(r[1], r[heads.index("framework")]) for r in rows if r[1]}
    assert ("gcp:tpu-v5p-1024", "maxtext") in by_hw and ("gcp:a3-megagpu-8g", "megatron-core") in by_hw, by_hw
    assert {s for hw, s in by_hw if hw.startswith("gcp:tpu")} == {"maxtext"}


def test_one_stack_gets_no_column(cli, tmp_path):
    one = {**MIXED, "constraints": {**MIXED["constraints"], "gpus": ["H100-SXM-80GB"]}}
    code, out, err = cli("recommend", write_job(tmp_path, one), "--no-simulate", "--top", "5", env=WIDE)
    assert code == 0, err
    head = next(ln for ln in out.splitlines() if ln.startswith("┃") and "layout" in ln)
    assert "framework" not in head and "fp8 recipe" not in head


def test_the_reports_alternatives_name_each_rows_stack(mixed):
    job, rec = mixed
    report = build_report(job, rec, with_charts=False, sensitivity_inputs=())
    alt = next(s for s in report.sections if s.title == "Top alternatives")
    table = alt.blocks[0]
    col = table.columns.index("framework")
    assert table.columns[col - 1] == "layout"
    stacks = {(r[1], r[col]) for r in table.rows}
    assert ("gcp:tpu-v5p-1024", "maxtext") in stacks and ("gcp:a3-megagpu-8g", "megatron-core") in stacks, stacks


def test_the_apps_tables_name_each_rows_stack(mixed):
    _, rec = mixed
    ranked = wi.ranked_display(rec)
    assert list(ranked.columns).index("framework") == list(ranked.columns).index("layout") + 1
    tpu = ranked["hardware"].str.startswith("gcp:tpu")
    assert set(ranked.loc[tpu, "framework"]) == {"maxtext"} and set(ranked.loc[~tpu, "framework"]) == {"megatron-core"}
    per_gpu = wi.comparison_display(rec, "gpu")
    assert dict(zip(per_gpu["gpu"], per_gpu["framework"])) == {"TPU-v5p": "maxtext", "H100-SXM-80GB": "megatron-core"}
    # the winner's hardware runs one stack at every node count: no column repeating it
    assert "framework" not in wi.scaling_display(rec).columns


AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def test_the_sidebars_auto_selectboxes_show_auto():
    """Streamlit draws a selectbox whose value is None as no selection ("Choose an option", seen in Chromium): the
    instance type, nodes and recompute method / layers left to the search read so, not "auto". Each selectbox now
    has a selected option (AppTest's ``index``: None until QA 77), "auto" on those four, and the job is the same."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception and not at.error
    boxes = {b.key: b for b in at.selectbox}
    assert {"w_instance", "w_nodes", "w_recompute_method", "w_recompute_num_layers"} <= set(boxes)
    assert all(b.index is not None for b in boxes.values()), {k: b.index for k, b in boxes.items()}
    for k in ("w_instance", "w_nodes", "w_recompute_method", "w_recompute_num_layers"):
        assert boxes[k].value == wi.AUTO and boxes[k].options[boxes[k].index] == "auto", k
    # pinned and back: the page's plan follows, and "auto" searches again
    at.selectbox(key="w_instance").set_value("aws:p5.48xlarge")
    at.selectbox(key="w_nodes").set_value(2).run()
    assert at.success[0].value.startswith("**2 x aws:p5.48xlarge"), at.success[0].value
    at.selectbox(key="w_nodes").set_value(wi.AUTO).run()
    assert not at.exception and not at.error and "x aws:p5.48xlarge" in at.success[0].value
    assert at.selectbox(key="w_nodes").index == 0
