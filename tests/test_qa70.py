"""QA 70 (docs/qa_log.md): a demanding user's walk through the product. Each test fails on the code before.

- A MaxText plan's stack line read ``remat_policy=full`` whatever the plan's recompute: beside a plan priced without
  recompute (MaxText's ``remat_policy: none``, which the launch keys said) and beside the planner's selective one.
- The budget-review report's alternatives, Pareto and scaling tables wrote each time to train in its own unit ("7.5 d"
  above "45.4 h" above "3.8 d"), where the sensitivity tables and the terminal keep one unit a column.
"""
from __future__ import annotations

import re

import pytest
import yaml

from planner.model import stacks
from planner.present.emit import maxtext_remat_keys
from planner.search.evaluate import stack_assumption
from planner.search.recommend import best_layout
from planner.spec.load import load_job_dict

TPU_JOB = """
model: {preset: llama2-13b}
training: {seq_len: 4096, global_batch: 1024, precision: bf16, tokens: 2.0e11}
constraints: {objective: cost, clouds: [gcp], gpus: [TPU-v6e]}
"""


@pytest.mark.parametrize("recompute, words", [("none", "remat_policy=none"), ("full", "remat_policy=full")])
def test_stack_line_names_the_policy_the_plan_runs(recompute, words):
    """The stack line's policy is the launch keys' (emit.maxtext_remat_keys): none without recompute."""
    st = stacks.resolve("maxtext")
    line = st.describe("bf16", recompute=recompute)
    assert words in line and line.count("remat_policy=") == 1
    assert maxtext_remat_keys(st, recompute) == words


def test_selective_names_no_policy():
    """The planner's selective recompute is no MaxText policy: the launch keys give none, and the stack line no
    longer says full."""
    st = stacks.resolve("maxtext", remat_policy="save_qkv_proj")
    assert "remat_policy" not in st.describe("bf16", recompute="selective")
    assert maxtext_remat_keys(st, "selective") == ""
    assert "remat_policy=save_qkv_proj" in st.describe("bf16", recompute="full")


def test_ranked_plan_layout_carries_its_recompute():
    """recommend's stack line reads the winner's recompute (best_layout), estimate's its own config."""
    job = load_job_dict(yaml.safe_load(TPU_JOB))
    plan = {"config": {"zero": 1, "pp": 1, "cp": 1, "ep": 1, "tp": 4, "recompute": "none"},
            "hardware": {"gpus_per_node": 64}}
    lay = best_layout(plan)
    assert lay["recompute"] == "none"
    line = stack_assumption(job, stacks.resolve("maxtext"), layout=lay)
    assert "remat_policy=none" in line and "remat_policy=full" not in line


def _column(md: str, caption: str, header: str) -> list[str]:
    """The cells of column ``header`` of the markdown table whose caption line (in *...*) holds ``caption``."""
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("*") and caption in ln)
    head = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    k = cols.index(header)
    rows = []
    for ln in lines[head + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")][k])
    return rows


@pytest.fixture(scope="module")
def tpu_report(tmp_path_factory):
    from typer.testing import CliRunner

    from planner.cli import app

    d = tmp_path_factory.mktemp("qa70")
    job, out = d / "tpu.yaml", d / "review.md"
    job.write_text(TPU_JOB)
    r = CliRunner().invoke(app, ["report", str(job), "-o", str(out), "--no-simulate"])
    assert r.exit_code == 0, r.output
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("caption, header", [
    ("best layout per (hardware, node count)", "time to train"),
    ("Pareto front", "time to train"),
    ("best layout per node count", "time to train"),
])
def test_report_time_columns_keep_one_unit(tpu_report, caption, header):
    """Llama-2-13B on TPU v6e: runs from 7.5 days down to hours, each column in the unit of its longest entry."""
    cells = _column(tpu_report, caption, header)
    assert len(cells) >= 3
    units = {re.fullmatch(r"[\d.,]+ (\w+)", c).group(1) for c in cells}
    assert units == {"d"}, cells


def test_report_stack_line_matches_the_winner(tpu_report):
    """The winner runs without recompute (the layout cell has no rc:), so MaxText's policy is none."""
    alt = _column(tpu_report, "best layout per (hardware, node count)", "layout")
    assert "rc:" not in alt[0]
    line = next(ln for ln in tpu_report.splitlines() if "training stack: maxtext" in ln)
    assert "remat_policy=none" in line and "remat_policy=full" not in line


# ---- the likely range's slow end against the job's budget and deadline, said beside the range everywhere ----------
LORA_JOB = """
model: {preset: llama3.1-8b}
training:
  mode: lora
  lora: {rank: 16, alpha: 32, targets: all-linear}
  seq_len: 4096
  global_batch: 32
  precision: bf16
  optimizer: adamw
  recompute: none
  micro_batch: 1
  dataset_samples: 200000
  mean_example_tokens: 1500
  packing: packed
  epochs: 2
parallel: {tp: 1, pp: 1, dp: 32, zero: 0}
cluster: {instance: aws:p4de.24xlarge, nodes: 4}
constraints: {budget_usd: %s, deadline_hours: %s}
"""


def test_slow_end_over_the_budget_is_said_beside_the_range():
    """Llama-3.1-8B LoRA on 4 x p4de.24xlarge: $88.99 predicted, up to ~$104 at the slow end; under a $95 budget the
    estimate's accuracy line (and --json's accuracy record) says the slow end is over it."""
    from planner.present.terminal import accuracy_line
    from planner.workloads.training import estimate_job

    plan = estimate_job(load_job_dict(yaml.safe_load(LORA_JOB % (95, 100))))
    acc = plan.accuracy
    assert acc["cost_usd_range"][0] < 95 < acc["cost_usd_range"][1]
    assert acc["hours_range"][1] < 100
    assert acc["slow_end_breaks"] == ["over the $95.00 budget (constraints.budget_usd)"]
    assert accuracy_line(acc).endswith("; at the slow end the run would be over the $95.00 budget "
                                       "(constraints.budget_usd)")
    # a deadline under the slow end's hours too; a budget above its cost is not named
    tight = estimate_job(load_job_dict(yaml.safe_load(LORA_JOB % (1000, acc["hours_range"][1] * 0.99)))).accuracy
    assert len(tight["slow_end_breaks"]) == 1 and tight["slow_end_breaks"][0].startswith("beyond the ")
    assert tight["slow_end_breaks"][0].endswith(" deadline (constraints.deadline_hours)")
    roomy = estimate_job(load_job_dict(yaml.safe_load(LORA_JOB % (1000, 100)))).accuracy
    assert roomy["slow_end_breaks"] == [] and "slow end" not in accuracy_line(roomy)
