"""QA pass 40: a user's journeys through recommend / estimate / compare / report; each defect found with the check
that failed before its fix (docs/qa_log.md, "QA 40")."""
from __future__ import annotations

from tests.conftest import write_job

LORA = """
model: {preset: llama3-8b}
training: {mode: lora, seq_len: 4096, global_batch: 64, tokens: 2.0e9, lora: {rank: 16}}
cluster: {instance: aws:p5.48xlarge}
constraints: {budget_usd: %s, deadline_hours: %s}
"""


def _one_line(cli, tmp_path, budget, deadline) -> str:
    code, out, err = cli("recommend", write_job(tmp_path, LORA % (budget, deadline)), "--no-simulate")
    assert code == 2, out
    line = err.strip()
    assert "\n" not in line, err
    return line


def test_a_missed_deadline_is_not_blamed_on_the_budget(cli, tmp_path):
    """A $3,000 budget every plan meets and a 6-minute deadline none does: it read "error: constraints.budget_usd:
    ... nearest: cheapest fitting plan costs $280.29 ... vs budget $3.00k; fastest plan takes ..." -- the budget named
    and a plan within it given as its miss."""
    line = _one_line(cli, tmp_path, 3000, 0.1)
    assert line.startswith("error: constraints.deadline_hours: no configuration meets"), line
    assert "vs budget" not in line and "vs deadline 0.1 h" in line, line


def test_a_budget_no_plan_meets_is_named(cli, tmp_path):
    line = _one_line(cli, tmp_path, 50, 48)
    assert line.startswith("error: constraints.budget_usd: ") and "vs budget $50.00" in line, line
    assert "vs deadline" not in line, line  # every plan meets 48 h


def test_constraints_met_alone_but_not_together_say_so(cli, tmp_path):
    """The cheapest plan (4 nodes, 76 min, $280.29) misses a 1 h deadline; the plans within 1 h cost more than the
    budget: each constraint is met by some plan, none meets both; both are named with the plan nearest each."""
    line = _one_line(cli, tmp_path, 280.5, 1)
    assert line.startswith("error: constraints.budget_usd, constraints.deadline_hours: "), line
    assert "each is met alone, never both by one plan: within budget $280.50 the fastest plan takes" in line, line
    assert "within the deadline the cheapest costs" in line, line
