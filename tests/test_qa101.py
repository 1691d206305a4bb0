"""QA 101: small items noticed by QA 99 / QA 100 (docs/qa_log.md "QA 101"). Each test fails on the code before it."""
from __future__ import annotations

import pytest

from hardware_catalog.catalog import load_catalog


# -- 1. p3dn.24xlarge / p3 network: AWS publishes the bandwidth, the catalog read it as unsourced ------------------
@pytest.mark.parametrize("key, gbps, fabric, where", [
    ("aws:p3dn.24xlarge", 100, "efa", "optimizing-deep-learning-on-p3-and-p3dn-with-efa"),
    ("aws:p3.16xlarge", 25, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
    ("aws:p3.8xlarge", 10, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
])
def test_p3_family_network_is_the_published_one_and_clusters(key, gbps, fabric, where):
    row = load_catalog().instance(key)
    assert row.network_bw == pytest.approx(gbps * 1e9 / 8)
    assert (row.fabric, row.cluster) == (fabric, True)
    assert where in row.source and f"{gbps} Gbps" in row.network_source


# -- 2. every subcommand's help names what an option takes: "<str>" stood for paths, hours and event counts -----------
def test_no_option_help_says_str(cli):
    """``serve --help`` showed --trace, --deadline-hours and --plan-event-bound (and calibrate --storage, the choice
    options) as ``<str>``: options taken as text for the planner's own checks now carry a metavar."""
    from planner.cli import click_command

    group = click_command()
    names = [(n,) for n in group.commands if n != "catalog"]
    names += [("catalog", n) for n in group.commands["catalog"].commands]
    assert len(names) > 10
    for argv in names:
        code, out, _ = cli(*argv, "--help", env={"COLUMNS": "200"})
        assert code == 0, argv
        assert "<str>" not in out, (argv, [line for line in out.splitlines() if "<str>" in line])
    code, out, _ = cli("serve", "--help", env={"COLUMNS": "200"})
    for flag, metavar in (("--trace", "<path>"), ("--deadline-hours", "<hours>"), ("--plan-event-bound", "<int>")):
        assert next(line for line in out.splitlines() if flag in line).split(flag)[1].split()[0] == metavar, flag


# -- 3. one --top bound on every command that takes it ---------------------------------------------------------------
def test_report_top_takes_what_recommend_and_serve_take():
    """``report --top`` stopped at 100 where ``recommend --top`` and ``serve --top`` take 1,000: one bound,
    ``TOP_MAX``, for the three (read off the click parameters, not a run: a 1,000-row report is not a fast test)."""
    from planner.cli import click_command
    from planner.defaults import TOP_MAX

    group = click_command()
    bounds = {}
    for name in ("recommend", "serve", "report"):
        top = next(p for p in group.commands[name].params if p.name == "top")
        bounds[name] = (top.min, top.max)
    assert set(bounds.values()) == {(1, TOP_MAX)}, bounds
