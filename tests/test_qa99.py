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


# ---- 2. `planner recommend` at 100 columns folded the instance name and cut headers ------------------------------------
# Llama-3-8B's table printed "aws:p5.48" / "xlarge" on two lines; Qwen3-30B-A3B's (an "a2a overlap" column more) cut its
# header to "mem/l…" and folded "aws:p5." / "48xlarg" / "e" over three. The free and $/1M columns now give way first, and
# a line names them
def test_recommend_leaves_out_derivable_columns_before_it_folds_the_instance_name(cli, tmp_path):
    import json

    from conftest import write_job

    from planner.present.terminal import render_recommendation

    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e12},
                               "parallel": {"tp": 2, "pp": 1, "zero": 1},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    code, out, err = cli("recommend", job, "--json", "--no-simulate")
    assert code == 0, err
    res = json.loads(out)

    def shown(width: int) -> str:
        con = Console(file=io.StringIO(), width=width, color_system=None)
        render_recommendation(con, res, 10)
        return con.file.getvalue()

    narrow = shown(100)
    rows = [line for line in narrow.splitlines() if line.startswith("│")]
    assert "aws:p5.48xlarge" in rows[0], narrow[:1500]
    assert "left out on this 100-column terminal: free" in narrow
    assert "…" not in "".join(line for line in narrow.splitlines() if line.startswith("┃"))
    wide = shown(200)  # where everything fits, nothing is left out
    assert "┃ free ┃" in wide and "$/1M tok" in wide and "left out" not in wide
