"""QA 99: a budget owner's first hour with the README's commands (docs/qa_log.md "QA 99"); each test fails on the code
before its fix."""
from __future__ import annotations

import io

from rich.console import Console


def _text(table, width: int) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    con.print(table)
    return con.file.getvalue()


# ---- 1. `planner catalog onprem` at 100 columns left its unit column out ------------------------------------------------
# the table was 70 columns wide: a column that wraps (unit, payment) was counted at its longest cell, so "150" (USD per kW
# per month) and "10.2" (kW per node) were shown without units; the commitments table hid payment ("upfront reservation
# fee" vs "no upfront") the same way
def test_a_wrapping_column_is_kept_where_its_words_fit():
    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_commitments_table, format_onprem_table

    cat = load_catalog()
    onprem = format_onprem_table(cat, width=100)
    assert [c.header for c in onprem.columns] == ["key", "value", "unit", "basis", "price date"]
    text = _text(onprem, 100)
    assert "USD per kW per" in text and max(len(line) for line in text.splitlines()) <= 100
    # narrower, the price date goes before the unit: a value without its unit says nothing
    assert [c.header for c in format_onprem_table(cat, width=80).columns] == ["key", "value", "unit", "basis"]
    heads = [c.header for c in format_commitments_table(cat, width=100).columns]
    assert "payment" in heads, heads
