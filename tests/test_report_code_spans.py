"""code42: the Markdown report writes a command the way its sections mean it, as a code span. Until code42 every
backtick was escaped (planner.present.report ``_md_text``), so the budget review's "run `planner calibrate` on one
node" came out as \\`planner calibrate\\`: literal backticks, and a visible backslash wherever the escape was not read.
The user's text (a model name, a catalog note) stays inert: HTML, links and a lone backtick are still escaped."""
from planner.present.report import _md_cell, _md_text, render_markdown, report_for_job
from planner.spec import load_job

from conftest import EXAMPLES


def test_a_real_report_writes_its_commands_as_code_spans():
    rep, _ = report_for_job(load_job(EXAMPLES / "llama3-8b-estimate.yaml"), top=3, simulate=False)
    md = render_markdown(rep, "x_files")[0]
    lines = [line for line in md.splitlines() if "planner calibrate" in line]
    assert lines and any(line.startswith("- ") for line in lines), lines  # a list item among them
    assert all("`planner calibrate`" in line for line in lines), lines
    assert "\\`" not in md


def test_user_text_around_a_code_span_is_still_escaped():
    assert _md_text("run `planner calibrate` on <b>[x](javascript:y)</b>") == \
        "run `planner calibrate` on &lt;b>\\[x\\](javascript:y)&lt;/b>"
    assert _md_text("a lone ` backtick & a\\") == "a lone \\` backtick &amp; a\\\\"
    assert _md_text("`<script>` & `[x](u)`") == "`<script>` &amp; `[x](u)`"  # inside a span: shown as it is
    assert _md_cell("`a|b` | c") == "`a\\|b` \\| c"  # GFM reads \\| in a cell's code span as |
    assert _md_text("> `q`") == "\\> `q`"
