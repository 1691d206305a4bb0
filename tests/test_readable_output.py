"""What a person reads at a 100-column terminal and in the report (qa9): numbers at one precision per
column, no cell cut with an ellipsis, and the same plan quoted with the same figures."""
import io
import re

import pytest

from conftest import EXAMPLES, answered


def _console(width):
    from planner.present.safe import SafeConsole

    buf = io.StringIO()
    return SafeConsole(file=buf, width=width, soft_wrap=False), buf


def test_numbers_keep_their_trailing_zeros():
    """"0.13" beside "0.182", "2" beside "1.96", "13 to 15.2 s",
    "0%" for a 0.4% MFU and "rc:ful" were what Python's g / .0% formats and a three-letter cut printed."""
    from planner.units import config_str, fmt_pct, fmt_rate, fmt_sig

    assert (fmt_rate(0.13), fmt_rate(2.0), fmt_rate(0.0338), fmt_rate(1234.5)) == ("0.130", "2.00", "0.0338", "1,234")
    assert (fmt_sig(13.02), fmt_sig(15.17), fmt_sig(99.96), fmt_sig(30.1, 4)) == ("13.0", "15.2", "100", "30.10")
    assert (fmt_pct(0.004), fmt_pct(0.075), fmt_pct(0.53), fmt_pct(None)) == ("0.4%", "7.5%", "53%", "-")
    cfg = dict(tp=1, pp=1, dp=1, zero=0, micro_batch=2, recompute="full")
    assert config_str(cfg).endswith("rc:full")
    from planner.units import hardware_str  # "512 x aws:p5.48xlarge (4096 x H100-SXM-80GB)" beside "4,461,544 tokens/s"
    assert hardware_str(dict(nodes=512, gpus=4096, gpu="H100-SXM-80GB", name="aws:p5.48xlarge")) == \
        "512 x aws:p5.48xlarge (4,096 x H100-SXM-80GB)"


def _column(text: str, col: int) -> list[str]:
    """A rich table's column ``col`` (0-based), a row's folded lines joined: one string per row."""
    out = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0]:  # a new row (its number)
            out.append(cells[col])
        elif out:
            out[-1] += cells[col]
    return out


@pytest.fixture(scope="module")
def azure_plan(catalog):
    """Llama-3-8B (1e11 tokens) recommended on Azure, top 10, as JSON: the long instance names the two table tests
    below print (one search for both; until suite51 each searched it, ~1.6 CPU s)."""
    from planner.results import jsonable
    from planner.spec.load import load_job_dict
    from planner.workloads.training import recommend

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e11},
                         "constraints": {"clouds": ["azure"]}})
    return jsonable(recommend(job, catalog, simulate=False, top=10))


def test_recommend_table_names_every_instance_at_100_columns(azure_plan):
    """At 100 columns the hardware column printed "aws:p5.4…", "lambda:g…" (three different Lambda
    instances alike), and at 130 "azure:Standard_ND96is…" hid whether a row was H100, H200 or MI300X:
    a name is folded onto more lines, never cut."""
    from planner.present.terminal import render_recommendation

    res = azure_plan
    names = [r["hardware"]["name"] for r in res["ranked"]]
    assert any(len(n) > 20 for n in names), names  # the check needs a long name
    con, buf = _console(100)
    render_recommendation(con, res, 10)
    table = buf.getvalue().split("recommended:")[0]
    assert "…" not in table
    assert _column(table, 1) == names


def test_recommend_table_keeps_names_on_one_line_where_the_table_fits(azure_plan):
    """At 130 columns "runpod:8x_MI300X_SECURE" folded its last character ("...SECUR" / "E") although the layout
    column could wrap instead: a name stays on one line wherever rich can still give every other column its
    longest word (no header cut to "mem/lim…"), and folds only where it cannot."""
    from planner.present.terminal import render_recommendation

    res = azure_plan
    names = [r["hardware"]["name"] for r in res["ranked"]]
    longest = max(map(len, names))
    whole = {}
    for width in (100, 120, 134, 150):
        con, buf = _console(width)
        render_recommendation(con, res, 10)
        table = buf.getvalue().split("recommended:")[0]
        assert "…" not in table, width  # no header or cell cut
        assert all(len(line) <= width for line in table.splitlines()), width
        assert _column(table, 1) == names, width
        rows = [ln for ln in table.splitlines() if ln.startswith("│")]
        whole[width] = all(any(n in ln for ln in rows) for n in names)  # each name whole on one line
    assert whole[134] and whole[150] and not whole[100], whole  # 134: folded before (the layout now wraps)
    assert longest > 25  # the check needs a name the narrow tables must fold


def test_serve_table_fits_100_columns_without_cut_cells():
    """14 columns at 100 terminal columns printed "aws…", "$13.…" and "anal…" in every cell (and at 130
    "aws:p4d…" for p4d and p4de alike): columns no row fills are left out, then the optional ones, with
    a line naming them; every other cell is whole and every line fits."""
    from planner.present.serving import render_serving
    from planner.results import jsonable
    from planner.spec import load_job
    from planner.workloads.serving import plan_serving

    res = jsonable(plan_serving(load_job(EXAMPLES / "serving-resnet50.yaml"), simulate=False))
    for width in (100, 130):
        con, buf = _console(width)
        render_serving(con, res, 12)
        text = buf.getvalue()
        table = text.split("ranked by")[0]
        assert "…" not in table, width
        assert all(len(line) <= width for line in table.splitlines()), width
        assert "TTFT" not in table  # not an LLM: no time to first token in any row
        assert _column(table, 1) == [r["hardware"] for r in res["options"][:12]]
    assert "left out on this 100-column terminal" in text or width == 130


def test_report_alternatives_quote_the_step_as_recommend_does(tmp_path, cli):
    """The report's alternatives printed the step to three figures ("14.2", "102") where recommend's
    table prints two decimals ("14.21", "101.51") for the same plan."""
    path = tmp_path / "r.md"
    code, out, err = cli("report", EXAMPLES / "llama3-8b-estimate.yaml", "-o", path, "--no-simulate")
    assert code == 0, err
    step = answered(cli("recommend", EXAMPLES / "llama3-8b-estimate.yaml", "--json"))["best"]["step_time_s"]
    assert step >= 10
    md = path.read_text()
    alt = md.split("## Top alternatives")[1].split("\n\n## ")[0]
    assert f"| {step:,.2f} |" in alt
    # the memory row's margin is to the HBM, not to the limit beside it ("50.3 GiB of 76.0 allowed ...; margin 29.7")
    assert re.search(r"GiB allowed \(80 GiB GPU memory, [^|]*\); \d+\.\d GiB free of the 80 GiB GPU memory \|", md)


@pytest.mark.parametrize("which", ["gpus", "instances", "systems"])
def test_catalog_tables_fit_100_columns(catalog, which):
    """`planner catalog instances` at 100 columns printed "…" in every cell but the name and the GPU (11
    columns squeezed into 45 characters), and `catalog gpus` overran the terminal: columns are left out
    in a stated order until the rest fit whole, and the caption names them."""
    from hardware_catalog import tables

    table = {"gpus": lambda w: tables.format_gpus_table(catalog, width=w),
             "instances": lambda w: tables.format_instances_table(catalog, width=w),
             "systems": lambda w: tables.format_systems_table(catalog, width=w)}[which]
    con, buf = _console(100)
    con.print(table(100))
    text = buf.getvalue()
    assert "…" not in text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "Left out at 100 columns: " in " ".join(text.split())
    names = {"gpus": catalog.gpus, "instances": catalog.instances, "systems": catalog.systems}[which]
    for key in names:
        assert f"│ {key} " in text, key
    con, buf = _console(250)  # wide enough: every column, no caption about it
    con.print(table(250))
    assert "Left out" not in buf.getvalue()


@pytest.mark.parametrize("command", ["estimate", "recommend", "report", "serve", "simulate", "compare"])
def test_help_names_no_python_types(cli, command):
    """`--help` printed the --catalog option's type as Python spells it: "<list[Path]>"."""
    code, out, err = cli(command, "--help")
    assert code == 0, err
    assert "--catalog" in out and "list[" not in out and "Path]" not in out


def test_serve_help_says_what_the_deadline_is(cli):
    """`planner serve --help` described --deadline-hours as "offline jobs: finish within" (within what?)."""
    code, out, err = cli("serve", "--help")
    assert code == 0, err
    assert "serving.requests" in " ".join(out.replace("│", " ").split())


def test_compare_help_lists_every_by_it_accepts(cli, tmp_path):
    """`compare --help` listed gpu | cloud | hardware, and compare --by framework runs (on an auto job)."""
    code, out, err = cli("compare", "--help")
    assert code == 0 and "framework" in out, err


def test_recommend_title_says_why_fewer_rows_than_asked(cli):
    """QLoRA Llama-3.1-70B printed "top 2 of 4 feasible configurations" under --top 10 with no word of
    why two feasible ones are not shown: the rows are one per hardware and node count."""
    code, out, err = cli("recommend", EXAMPLES / "qlora-llama3.1-70b.yaml", "--top", "10")
    assert code == 0, err
    title = " ".join(out.split("┏")[0].split())
    n, feasible = (int(x.replace(",", "")) for x in re.match(r"top (\d+) of ([\d,]+)", title).groups())
    assert n < min(10, feasible)
    assert "one row per hardware and node count, its best layout" in title


def test_dollars_between_1k_and_10k_keep_three_significant_figures():
    """$1,350 read "$1.4k" beside "$552.63" (two significant figures where every other range shows three or more)."""
    from planner.units import fmt_usd

    assert fmt_usd(1350) == "$1.35k" and fmt_usd(9994) == "$9.99k" and fmt_usd(10_040) == "$10.0k"
    assert fmt_usd(552.63) == "$552.63" and fmt_usd(2.5e6) == "$2.50M"


def test_gbdt_header_counts_runs_and_trees_in_words(cli):
    """The GBDT header printed '1 run(s)' and '2000 trees expected of 2000'."""
    from conftest import ROOT

    code, out, err = cli("recommend", ROOT / "examples" / "gbdt-large.yaml")
    assert code == 0, err
    text = " ".join(out.split())
    # no early stopping: "2,000 trees" (qa11: "2,000 trees expected of 2,000 (0 saved by early stopping)" said nothing)
    assert "run(s)" not in text and "2,000 trees, 20 runs;" in text


def test_offline_serve_table_shows_only_the_offline_cost():
    """An offline job's table printed the real-time full-load $/1M req ($160.12) beside the offline cost it is
    ranked by ($30.67): a second price for the same job. Offline, only "$/1M req batch" is shown."""
    from planner.present.serving import render_serving
    from planner.results import jsonable
    from planner.spec import load_job
    from planner.workloads.serving import plan_serving

    res = jsonable(plan_serving(load_job(EXAMPLES / "serving-batch-llama3-8b.yaml"), simulate=False))
    con, buf = _console(200)
    render_serving(con, res, 5)
    header = next(line for line in buf.getvalue().splitlines() if "hardware" in line)
    assert "$/1M req batch" in header and "$/1M req ┃" not in header.replace("$/1M req batch", ""), header


def test_calibrate_hint_is_offered_only_where_calibrate_measures():
    """`planner calibrate` runs on torch.cuda (CUDA or ROCm builds): a TPU, Gaudi or Trainium plan was told to "run
    `planner calibrate` on one of its nodes", which cannot measure it."""
    from planner.hardware.options import calibrate_hint

    assert calibrate_hint("H100-SXM-80GB") == "run `planner calibrate` on one of its nodes to measure them"
    assert calibrate_hint("MI300X-192GB", "on one node") == "run `planner calibrate` on one node to measure them"
    for gpu, platform in (("TPU-v6e", "Google TPUs (XLA)"), ("Gaudi2-96GB", "Intel Gaudi (SynapseAI)")):
        hint = calibrate_hint(gpu)
        assert "planner calibrate` measures CUDA / ROCm GPUs only" in hint and platform in hint, hint
    assert calibrate_hint("a-gpu-only-my-catalog-has").startswith("run `planner calibrate`")
