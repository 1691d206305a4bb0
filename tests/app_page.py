"""What the app's QA tests share (tests/test_qa82.py, test_qa83.py, test_qa84.py; until code48 each wrote its own): one
page of the what-if app under streamlit's ``AppTest`` (no browser), a job uploaded to it, the page's text as one line,
and QA 83's job with a deadline and a budget, swept over nodes."""
from __future__ import annotations

import pytest
import yaml

from conftest import ROOT

# 8 x p5.48xlarge at one layout (a short search): the nodes sweep's 1, 2 and 4 nodes run past the 60 h deadline
# (361.6 h, 181.1 h, 90.9 h), its 32 and 64 nodes over the $20.5k budget ($20.99k, $22.14k)
LIMITED = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, tokens: 1.0e11}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 8}
constraints: {budget_usd: 20500, deadline_hours: 60}
"""


def open_page():
    """The app's page, run once with its defaults and no exception (a module's tests upload their jobs over it: a
    page per test first planned the preset each time). Skipped without streamlit."""
    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at, name: str, data: bytes):
    """``at`` with the job file ``data`` (named ``name``) uploaded and planned, with no exception nor error shown."""
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def checked(at):
    """``at`` after a run that showed no exception nor error (their texts as the failure's message)."""
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def stack_line(at) -> str:
    """The page's training-stack assumption line ("training stack: megatron-core (...)"), as one line."""
    return page_text(next(a for a in at.markdown if a.value.startswith("- training stack:")).value)


def page_text(text: str) -> str:
    """Text as one line of single spaces, the app's markdown escape of $ and a terminal table's rules undone."""
    return " ".join(text.replace("\\$", "$").replace("│", " ").replace("┃", " ").split())


def limited_nodes_sweep():
    """``LIMITED``'s job, its recommendation and the what-if sweep of its best plan over nodes
    (``interactive.sensitivity``)."""
    from hardware_catalog import load_catalog
    from planner import interactive as wi
    from planner.spec import load_job_dict
    from planner.workloads.training import recommend

    job = load_job_dict(yaml.safe_load(LIMITED))
    cat = load_catalog()
    rec = recommend(job, cat)
    return job, rec, wi.sensitivity(job, rec["best"], "nodes", cat)
