"""QA 80: the app's decimal number inputs as the browser draws them (through ``streamlit.testing.v1.AppTest``).

QA 77 saw "training tokens (billions)" read 160.60522496 in Chromium: Streamlit's number_input formats in the browser
with its sprintf.js fork, where a bare ``%g`` is every digit of the double (``interactive.NUMBER_FORMAT``)."""
from __future__ import annotations

import re

from planner import interactive as wi
from test_app import _app


def browser_text(fmt: str, value: float) -> str:
    """What Streamlit's sprintf.js fork (its bundled ``sprintfjs`` module) draws for ``value`` under a ``%g`` format:
    ``%g`` is ``String(parseFloat(v))``, ``%.<p>g`` ``String(Number(v.toPrecision(p)))`` (JavaScript's shortest
    digits, no trailing zeros: Python's ``repr`` for these values, an integral one without ".0")."""
    m = re.fullmatch(r"%(?:\.(\d+))?g", fmt)
    assert m, f"{fmt!r} is not a %g format: Streamlit's default %0.2f drew a 1 h deadline as 0.04 days (QA 58)"
    x = float(f"{value:.{int(m[1]) - 1}e}") if m[1] else float(value)
    return str(int(x)) if x == int(x) else repr(x)


def test_every_decimal_input_reads_as_people_write_it():
    """The training page's decimal inputs (tokens, network, budget, deadline, host RAM) draw four significant digits: the
    default preset's 160.60522496 billion tokens read "160.6", not every digit, and its value keeps every digit (the
    format is only what is drawn: the job is unchanged)."""
    # the emulation against values worked by hand from the fork's code
    assert browser_text("%g", 160.60522496) == "160.60522496"
    assert [browser_text("%.4g", v) for v in (160.60522496, 15000.0, 0.0004, 1 / 24, 2.0)] == \
        ["160.6", "15000", "0.0004", "0.04167", "2"]
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    tokens = at.number_input(key="w_tokens_b")
    assert tokens.value != round(tokens.value, 1)  # the preset's own count, not a rounded one
    assert browser_text(tokens.proto.format, tokens.value) == f"{tokens.value:.4g}" == "160.6"
    # (whole-number inputs -- the LoRA rank, QA 96's integer stack options -- draw no decimals)
    decimal = [n for n in at.number_input if n.proto.data_type == n.proto.FLOAT]
    assert {n.key for n in decimal} == {"w_tokens_b", "w_inter_node_gbps", "w_budget_musd", "w_deadline_days",
                                        "w_host_ram_gib"}  # (app52's host RAM)
    assert {n.key: n.proto.format for n in decimal} == dict.fromkeys((n.key for n in decimal), wi.NUMBER_FORMAT)
