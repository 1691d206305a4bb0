"""QA pass 37's leftovers: --top on every command, the --by framework column, objectives a tabular job cannot rank by,
a one-token serving TPOT, the utilisation line's rate -- each defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES, refused, write_job


# ---- 2. `recommend --by framework` headed its rows "gpu" --------------------------------------------------------------
# the rows are one per framework, yet the first column read "gpu" over "H100-SXM-80GB (megatron-core)": the stack rode in
# the accelerator cell. It now has a column of its own, first, headed "framework".
def test_by_framework_heads_its_rows_framework(cli):
    code, out, err = cli("recommend", EXAMPLES / "llama3-8b-auto.yaml", "--no-simulate", "--by", "framework", "--top", "1")
    assert code == 0, err
    table = out[out.index("best plan per framework"):]
    head = next(line for line in table.splitlines() if "hardware" in line)
    cells = [c.strip() for c in head.strip("┃ ").split("┃")]
    assert cells[:3] == ["framework", "gpu", "hardware"], cells
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in table.splitlines() if line.startswith("│")]
    assert {r[0] for r in rows} >= {"megatron-core", "torchtitan"} and all(r[1] == "H100-SXM-80GB" for r in rows), rows
