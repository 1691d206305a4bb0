"""QA pass 13: defects found in recommend (constraints, --emit, --by/--scaling), simulate, compare,
tabular (GBDT) plans and the what-if app, each with the check that failed before its fix."""
from __future__ import annotations

import io

import pytest
from rich.console import Console


def _text(fn, *args, width: int = 200, **kw) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    fn(con, *args, **kw)
    return con.file.getvalue()


def _write(tmp_path, text: str, name: str = "job.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BUDGET_PAST_HORIZON = """
model: {preset: llama2-13b}
training: {seq_len: 4096, global_batch: 1024, precision: bf16, tokens: 1.0e12}
constraints: {instances: ["shadeform:denvr_Gaudi2x8", "runpod:8x_MI300X_SECURE"], budget_usd: 100000}
"""


def test_budget_error_does_not_quote_a_plan_under_budget(cli, tmp_path):
    """A $100k budget: "cheapest fitting plan costs $94.5k (... 447.5 d) vs budget $100.0k": a plan under
    the budget as the reason none meets it. It was dropped by the one-year cap without a deadline
    (defaults.HORIZON_HOURS), which the error did not say."""
    code, out, err = cli("recommend", _write(tmp_path, BUDGET_PAST_HORIZON), "--no-simulate")
    assert code == 2, out
    line = err.strip()
    assert line.startswith("error: constraints.budget_usd:") and "\n" not in line, err
    assert "within 365 days costs $127.1k" in line, line
    assert "run over 365 days (from $94.5k" in line and "constraints.deadline_hours" in line, line
    assert "…" not in line, line  # whole, not clipped at the message limit


def test_horizon_line_only_when_it_excludes_something(cli):
    """qlora-llama3.1-70b: "no deadline given: plans longer than 365 days (0 configurations) are excluded"."""
    code, out, err = cli("recommend", "examples/qlora-llama3.1-70b.yaml", "--no-simulate")
    assert code == 0, err
    assert "(0 configurations)" not in out
