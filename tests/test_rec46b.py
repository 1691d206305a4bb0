"""rec46's loose ends around ``training.framework.fp8_recipe: auto`` (README "Choosing the fp8 recipe"):

* the what-if app asks the job's stack whether it runs a partial full recompute at the stack's default recipe: the
  recipe search made ``from_training`` refuse, and the recompute method / layers inputs vanished;
* recommend's ranked table and the ``--by`` tables have an "fp8 recipe" column where the search chose recipes that
  differ between the rows (the CSV's ``fp8_recipe`` column, in the terminal);
* ``auto`` folds as the names beside it do (``framework: AUTO``, ``fp8_recipe: Auto``) and a refusal lists it."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from planner.errors import InputError
from planner.spec import load_job_dict

from conftest import ROOT, refused, write_job

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

#: one 8-GPU node, layout pinned: the app's search is one layout per recipe
APP_JOB = b"""model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 64, micro_batch: 1, steps: 10, recompute: full, precision: fp8,
           framework: {name: megatron-core, fp8_recipe: auto}}
parallel: {tp: 1, pp: 1, dp: 8, zero: 1}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}
"""


def test_partial_recompute_asks_the_stack_at_its_default_recipe():
    base = wi.parse_upload("job.yaml", APP_JOB)
    assert wi.partial_recompute(base)  # Megatron-Core's --recompute-method, whatever the recipe
    # a search over stacks still has no one stack to ask
    assert not wi.partial_recompute(wi.parse_upload("job.yaml", APP_JOB.replace(b"name: megatron-core", b"name: auto")))


def test_app_shows_the_recompute_inputs_under_a_recipe_search():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.file_uploader(key="upload").set_value(("job.yaml", APP_JOB, "application/x-yaml")).run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert {"w_recompute_method", "w_recompute_num_layers"} <= {w.key for w in at.selectbox}
    assert "rc:full(block" in at.success[0].value, at.success[0].value


def _job(tmp_path, fw: dict, gpus=("H100-SXM-80GB", "B200"), name="job.yaml", objective="cost"):
    raw = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "tokens": 2e10, "precision": "fp8", "framework": fw},
           "constraints": {"clouds": ["aws"], "gpus": list(gpus), "max_gpus": 32, "deadline_hours": 2000,
                           "objective": objective}}
    return write_job(tmp_path, raw, name)


def _table_rows(out: str, title: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and the body rows' cells of the table under ``title`` (a wide terminal: one line a row)."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if title in ln)
    grid = [ln for ln in lines[start:] if ln.startswith(("┃", "│"))]
    cells = [[c.strip() for c in ln.strip("┃│").split("┃" if ln.startswith("┃") else "│")] for ln in grid]
    head_end = next(i for i, ln in enumerate(grid) if ln.startswith("│"))
    body = []
    for ln, c in zip(grid[head_end:], cells[head_end:]):
        if not ln.startswith("│"):
            break
        body.append(c)
    return cells[0], body


WIDE = {"COLUMNS": "220"}


def test_ranked_and_by_gpu_tables_name_each_rows_recipe(cli, tmp_path):
    # torchtitan offers rowwise, tensorwise and mxfp8: the fastest B200 plan takes mxfp8, an H100 has no MX GEMMs and
    # runs tensorwise, its faster per-tensor kernels (until tfp59 torchtitan had no tensorwise and the H100 ran
    # rowwise, the cheapest plans differing by GPU; now both GPUs' cheapest are tensorwise: fastest here)
    path = _job(tmp_path, {"name": "torchtitan", "fp8_recipe": "auto"}, objective="time")
    code, out, err = cli("recommend", path, "--no-simulate", "--top", "6", env=WIDE)
    assert code == 0, err
    head, rows = _table_rows(out, "feasible configuration")
    col = head.index("fp8 recipe")
    assert head[col - 1] == "layout"
    by_hw = {(r[head.index("hardware")], r[col]) for r in rows}
    assert by_hw == {("aws:p6-b200.48xlarge", "mxfp8"), ("aws:p6-b200.48xlarge", "tensorwise"),
                     ("aws:p5.48xlarge", "tensorwise")}
    code, out, err = cli("recommend", path, "--no-simulate", "--by", "gpu", env=WIDE)
    assert code == 0, err
    head, rows = _table_rows(out, "best plan per")
    assert {r[0]: r[head.index("fp8 recipe")] for r in rows} == {"B200-SXM-180GB": "mxfp8", "H100-SXM-80GB": "tensorwise"}


def test_by_framework_table_names_each_stacks_recipe(cli, tmp_path):
    path = _job(tmp_path, {"name": "auto", "fp8_recipe": "auto"}, gpus=("H100-SXM-80GB",))
    code, out, err = cli("recommend", path, "--no-simulate", "--by", "framework", env=WIDE)
    assert code == 0, err
    head, rows = _table_rows(out, "best plan per framework")
    recipe = {r[0]: r[head.index("fp8 recipe")] for r in rows}
    # the faster of its code's two recipes on an H100 (stack_rules FP8_RECIPES; rowwise, its only one until tfp59)
    assert recipe["torchtitan"] == "tensorwise"
    assert recipe["megatron-core"] in ("tensorwise", "delayed", "blockwise")


def test_no_recipe_column_without_a_recipe_search(cli, tmp_path):
    path = _job(tmp_path, {"name": "torchtitan"})  # one recipe, the stack's own: the stack line names it
    code, out, err = cli("recommend", path, "--no-simulate", "--top", "6", env=WIDE)
    assert code == 0, err
    assert "fp8 recipe" not in _table_rows(out, "feasible configuration")[0]
    code, out, err = cli("recommend", path, "--no-simulate", "--by", "gpu", env=WIDE)
    assert code == 0, err
    assert "fp8 recipe" not in _table_rows(out, "best plan per")[0]


def _training(fw) -> dict:
    return {"model": {"preset": "llama3-8b"}, "training": {"precision": "fp8", "framework": fw}}


@pytest.mark.parametrize("fw, field, value", [
    ("AUTO", "name", "auto"),
    ({"name": " Auto", "fp8_recipe": "AUTO"}, "fp8_recipe", "auto"),
    ({"name": "Megatron-Core", "fp8_recipe": "Delayed"}, "fp8_recipe", "delayed"),
])
def test_auto_folds_as_the_names_beside_it(fw, field, value):
    assert getattr(load_job_dict(_training(fw)).training.framework, field) == value


@pytest.mark.parametrize("fw, field", [({"name": "automatic"}, "name"),
                                       ({"name": "megatron-core", "fp8_recipe": "automatic"}, "fp8_recipe")])
def test_a_refusal_lists_auto(fw, field):
    with pytest.raises(InputError) as e:
        load_job_dict(_training(fw))
    assert e.value.field == f"training.framework.{field}"
    assert ", auto, got 'automatic'" in e.value.message, e.value.message


def test_fp4_with_a_folded_auto_is_nvfp4(cli, tmp_path):
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"precision": "fp4", "framework": {"name": "megatron-core", "fp8_recipe": "AUTO"}}})
    assert (job.training.precision, job.training.framework.fp8_recipe) == ("fp8", "nvfp4")
    # and the refusal of one that contradicts fp4 names it as written
    path = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {
        "precision": "fp4", "framework": {"name": "megatron-core", "fp8_recipe": "Delayed"}}})
    assert refused(cli("estimate", path)).startswith("error: training.framework.fp8_recipe: 'Delayed' contradicts")
