"""Hostile input on the surfaces the fuzzers had not reached (fuzz46), end to end through the CLI: the *contents* of a
serving trace (``serve --trace``: cells huge, tiny, signed, special, spelled in other digits, quoted, short or long
rows, BOM / CRLF / reordered / duplicated headers), the free-form workload sections validated by their own modules
(``tabular:`` and ``campaign:``, planner/workloads/tabular.py and campaign.py) under ``recommend`` and ``report -o``, and calibration profiles' structure (BOM, CRLF, duplicate keys, deep nesting, a top-level list,
UTF-16, a lone surrogate). Fuzz 44 reached a trace's *path* only; test_fuzz_cli.py's job sections drew tabular and
campaign fields mostly plausible, and its profile test edits fitted values of a well-formed file.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left behind); a plan printed as text carries no ``nan`` / ``inf``
(test_fuzz45b's ``SPECIAL``).

Found by it (fixed at the root, pinned below): a trace's token cell past int64 (30 digits) was an internal error
(OverflowError) and one of 2^63 - 1 wrote numpy's cast warning on stderr beside the refusal (a trace cell is held to
``schema.MAX_REQUEST_TOKENS``, serving.prompt_tokens' limit); a trace of two requests 1e-300 s apart was sized for 2e300
QPS and refused with a 300-digit rate (its rate is held to ``schema.MAX_QPS``, serving.qps's ceiling, as it was to the
floor); ``tabular.measured_rows_per_s: {cpu_per_core: 1e-300}`` wrote numpy's overflow warning and ranked every
instance "never for $inf" ("+nan% cost"): the measured rates take ``MIN_RATE["rows_per_s"]``; and a GBDT cost past
$1e12 was written to the cent ("$24,791,666,666,666.66"; ``units.fmt_usd_cents`` now takes ``fmt_usd``'s form)."""
from __future__ import annotations

import json
import math

import pytest
import yaml

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import gpu_profile_dict  # noqa: E402
from test_fuzz45b import SPECIAL  # noqa: E402
from test_fuzz_cli import ERROR_LINE, check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 1.0, "p99_latency_ms": 100.0, "prompt_tokens": 128, "output_tokens": 32},
         "constraints": {"clouds": ["aws"]}}
HEAD = ["arrival_s", "prompt_tokens", "output_tokens"]



def _refusal(code, out, err) -> str:
    """The one line of a refusal outside a hypothesis test (``check_outcome`` records hypothesis events)."""
    line = err.strip()
    assert code == 2 and "Traceback" not in out + err and "\n" not in line and ERROR_LINE.match(line), (code, err)
    return line


# ---------------------------------------------------------------------------- trace contents
GOOD_TIME = st.sampled_from(["0", "0.5", "1", "2.25", "10"])
GOOD_TOKENS = st.sampled_from(["1", "20", "100", "800"])
ODD_CELL = st.sampled_from(
    ["", " ", "-1", "-0", "0", "+5", " 7 ", "1_0", "\u0661\u0662", "\uff17", "7.0", "1e3", "0x10", "nan", "NaN", "inf",
     "-inf", "Infinity", "1e-300", "5e-324", "1e300", "9" * 30, str(2 ** 63 - 1), str(2 ** 63), str(1 << 24),
     str((1 << 24) + 1), "9" * 5000, "abc", "é", "\u202e5", '"5"', "5\n", "true"]
    + ["9" * 30, str(2 ** 64), "1e-300"] * 2)  # (past int64 and a rate past the ceiling: what fuzz46 found, drawn more)


ROW = st.tuples(GOOD_TIME, GOOD_TOKENS, GOOD_TOKENS)


@st.composite
def traces(draw) -> str:
    """A trace CSV's text: the header in some order (now and then with an extra or a repeated column, or upper case),
    2-4 good rows, one of which (in most traces) has a hostile cell, a cell too many or one too few (one damage a
    trace, so that it, not an earlier one, decides), a BOM or CRLF line ends."""
    head = list(draw(st.permutations(HEAD)))
    extra = draw(st.sampled_from([None] * 6 + ["note", "arrival_s", "ARRIVAL_S"]))
    if extra == "ARRIVAL_S":
        head = [h.upper() if h == "arrival_s" else h for h in head]
    elif extra:
        head.append(extra)
    rows = [dict(zip(HEAD, r)) for r in draw(st.lists(ROW, min_size=2, max_size=4))]
    damage, at = draw(st.sampled_from(["cell", "cell", "cell", "none", "none", "over", "short"])), draw(st.integers(0, 1))
    if damage == "cell":
        rows[at][draw(st.sampled_from(HEAD))] = draw(ODD_CELL)
    lines = [",".join(head)]
    for i, cells in enumerate(rows):
        out = [cells.get(h.lower(), "x") for h in head]
        out = out + ["9"] if (damage, i) == ("over", at) else out[:-1] if (damage, i) == ("short", at) else out
        lines.append(",".join(f'"{c}"' if ("," in c or "\n" in c or '"' in c) and not c.startswith('"') else c
                              for c in out))
    end = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    return draw(st.sampled_from(["", "", "\ufeff"])) + end.join(lines) + end


#: SERVE on one GPU type (L4: 1- to 8-GPU aws instances, so tensor parallelism still varies with the trace's rate): a
#: trace's cells are read, and refused, before any hardware is sized, and a planned trace sizes the same way on one type
#: as on aws's every type, at about a fifth of the CPU (0.19 s against 1.34 s a planned serve; suite48)
SERVE_ONE_GPU = dict(SERVE, constraints={"clouds": ["aws"], "gpus": ["L4"]})


@fuzz_settings(30)
@given(text=traces(), simulate=st.integers(0, 3).map(bool))
def test_fuzz_trace_contents(tmp_path_factory, text, simulate):
    """Any trace: planned (a simulated serve sizes for the trace's own rate) or refused in one line naming ``trace``
    / ``--trace``; never a traceback or a warning beside the line, nothing written next to the files."""
    d = tmp_path_factory.mktemp("trace")
    job, trace = d / "job.yaml", d / "t.csv"
    job.write_text(yaml.safe_dump(SERVE_ONE_GPU))
    trace.write_text(text, encoding="utf-8", newline="")
    code, out, err = run_cli("serve", job, "--json", "--top", "1", "--trace", trace,
                             *(() if simulate else ("--no-simulate",)))
    line = check_outcome(code, out, err)
    if line is not None and "trace" in line.split(":")[1]:
        assert line.startswith(("error: --trace: ", "error: serving.trace: ")), line
    assert stray(d, {job.name, trace.name}) == []


def _trace_serve(tmp_path, rows: str):
    job, trace = tmp_path / "job.yaml", tmp_path / "t.csv"
    job.write_text(yaml.safe_dump(SERVE))
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + rows)
    return run_cli("serve", job, "--json", "--top", "1", "--trace", trace)


@pytest.mark.parametrize("cell, said", [
    ("9" * 30, "prompt_tokens 1e+30 is over 16,777,216 tokens"),  # was an internal error (OverflowError)
    (str(2 ** 63 - 1), "prompt_tokens 9.22337203685478e+18 is over"),  # was numpy's cast warning beside the line
    (str((1 << 24) + 1), "prompt_tokens 16,777,217 is over 16,777,216 tokens, serving.prompt_tokens's limit"),
])
def test_a_trace_token_count_past_the_limit_is_refused_in_one_line(tmp_path, cell, said):
    line = _refusal(*_trace_serve(tmp_path, f"0,{cell},5\n1,10,5\n"))
    assert line is not None and line.startswith("error: --trace: too large: line 2: ") and said in line, err


def test_a_trace_at_a_token_count_of_the_limit_reaches_the_context_check(tmp_path):
    """At the limit the cell is read, and the model's context refuses the request as before."""
    code, out, err = _trace_serve(tmp_path, f"0,{1 << 24},5\n1,10,5\n")
    assert code == 2 and "exceed llama3-8b's 8,192-token context" in err, err


def test_a_trace_faster_than_the_qps_ceiling_is_refused(tmp_path):
    """Two requests 1e-300 s apart: 2e300 QPS, refused as serving.qps's ceiling refuses it (was "needs
    693,780,041,... QPS, over the 1,048,576 GPU ...", a 300-digit rate cut by the message cap)."""
    line = _refusal(*_trace_serve(tmp_path, "1e-300,10,5\n0,10,5\n"))
    assert line == ("error: --trace: its 2 requests over 1e-300 s arrive at 2e+300 QPS, above the 1e+09 QPS ceiling "
                    "serving.qps holds to: replay a trace of real arrival times (in seconds)"), line


def test_the_qps_ceiling_is_the_fields():
    from planner.spec import schema as S

    assert S.ServingSpec.model_fields["qps"].metadata[-1].le == S.MAX_QPS == 1e9


# ---------------------------------------------------------------------------- tabular and campaign sections
HOSTILE = st.sampled_from([0, -1, 1e-300, 5e-324, 1e-9, 1e-3, 1e300, 2 ** 63, 10 ** 400, float("nan"), float("inf"),
                           "1e5", "abc", "", None, True, [], {}, [1, 2], [2, 1], {"a": 1}, 0.5, 1, 32, 1e6, 1e12,
                           "é" * 3000])
TABULAR = {"library": "xgboost", "rows": 2_000_000, "features": 50, "trees": 500, "depth": 8,
           "early_stopping": {"patience": 50, "best_iteration": [150, 350]}}
CAMPAIGN = {"experiments_per_week": 10, "weeks": 4, "cache": True, "invalidation_rate": 0.15,
            "preprocess": {"hours": 6, "instance": "aws:c7i.16xlarge", "nodes": 1, "output_gb": 400}}
FIELDS = {"tabular": ["rows", "features", "trees", "depth", "max_bin", "runs", "early_stopping.patience",
                      "early_stopping.best_iteration", "measured_rows_per_s.cpu_per_core", "measured_rows_per_s.gpu",
                      "measured_rows_per_s", "early_stopping", "library"],
          "campaign": ["experiments_per_week", "weeks", "cache", "invalidation_rate", "storage_usd_per_gb_month",
                       "fetch_gbps", "preprocess.hours", "preprocess.nodes", "preprocess.usd_per_hour",
                       "preprocess.output_gb", "preprocess.instance", "train.hours", "train.usd", "train"]}
PLAUSIBLE_FOR = {"measured_rows_per_s.cpu_per_core": [1e-3, 1e6, 1e300], "measured_rows_per_s.gpu": [1e-3, 1e9],
                 "runs": [1, 1_000_000], "trees": [1, 1_000_000], "rows": [1, 10 ** 12], "depth": [1, 32],
                 "weeks": [520], "experiments_per_week": [10_000], "preprocess.hours": [1e5],
                 "preprocess.nodes": [100_000], "train.hours": [1e6], "train.usd": [1e10]}
EDIT = st.sampled_from([(s, f) for s, fs in FIELDS.items() for f in fs]).flatmap(
    lambda sf: st.tuples(st.just(sf), st.one_of(HOSTILE, st.sampled_from(PLAUSIBLE_FOR.get(sf[1], [1])))))


def _set(job: dict, section: str, path: str, value) -> None:
    node = job[section]
    *up, leaf = path.split(".")
    for k in up:
        node = node.setdefault(k, {}) if isinstance(node.get(k, {}), dict) else {}
    node[leaf] = value


@fuzz_settings(60)
@given(edits=st.lists(EDIT, min_size=1, max_size=3), with_campaign=st.booleans(),
       cmd=st.sampled_from(["recommend", "recommend", "report"]), as_json=st.booleans())
def test_fuzz_tabular_and_campaign_sections(tmp_path_factory, edits, with_campaign, cmd, as_json):
    """Any value in a tabular or campaign field: a plan with finite numbers (no nan / inf in the text or the report,
    strict JSON), or one line naming the field; ``report -o`` writes only its own file."""
    d = tmp_path_factory.mktemp("work")
    job = {"tabular": json.loads(json.dumps(TABULAR)), "constraints": {"clouds": ["aws"]}}
    if with_campaign or any(s == "campaign" for (s, _), _ in edits):
        job["campaign"] = json.loads(json.dumps(CAMPAIGN))
    for (section, path), value in edits:
        _set(job, section, path, value)
    p = d / "job.yaml"
    p.write_text(yaml.safe_dump(job, allow_unicode=True))
    report = d / "r.md"
    args = {"recommend": ("recommend", p, "--top", "3"), "report": ("report", p, "-o", report)}[cmd]
    json_out = as_json and cmd != "report"
    code, out, err = run_cli(*args, *(("--json",) if json_out else ()))
    check_outcome(code, out, err, json_out=json_out)
    if code == 0 and not json_out:
        text = out + (report.read_text() if cmd == "report" else "")
        assert not SPECIAL.search(text.replace("inference", "")), SPECIAL.search(text)
    assert stray(d, {p.name} | ({report.name} if code == 0 and cmd == "report" else set())) == []


def _tabular(tmp_path, **rates):
    p = tmp_path / "job.yaml"
    tab = {k: v for k, v in TABULAR.items() if k != "early_stopping"}  # every tree grown
    p.write_text(yaml.safe_dump({"tabular": dict(tab, rows=1000, features=10, trees=1_000_000, runs=1_000_000,
                                                 measured_rows_per_s=rates), "constraints": {"clouds": ["aws"]}}))
    return p


def test_a_measured_rate_under_the_floor_is_refused(tmp_path):
    """``cpu_per_core: 1e-300`` ranked every instance "never for $inf" with numpy's overflow warning on stderr."""
    assert _refusal(*run_cli("recommend", _tabular(tmp_path, cpu_per_core=1e-300))) == \
        "error: tabular.measured_rows_per_s.cpu_per_core: must be at least 0.001, got 1e-300"


def test_the_slowest_measured_rate_prices_finite_and_in_dollars_not_cents(tmp_path):
    """At the floor, both rates, the largest trees x runs: every time and cost finite, the costs past $1e12 in
    ``fmt_usd``'s form (was "$24,791,666,666,666.66")."""
    p = _tabular(tmp_path, cpu_per_core=1e-3, gpu=1e-3)
    code, out, err = run_cli("recommend", p, "--json")
    assert code == 0, err
    ranked = json.loads(out)["ranked"]
    assert ranked and all(math.isfinite(r["hours"]) and math.isfinite(r["cost_usd"]) for r in ranked)
    code, out, err = run_cli("recommend", p, "--top", "2")
    assert code == 0 and "$2.5e+13" in out and ",666.66" not in out and not SPECIAL.search(out), out


# ---------------------------------------------------------------------------- calibration profiles' structure
GOOD_PROFILE = json.dumps(gpu_profile_dict())
STRUCTURES = {
    "bom": ("\ufeff" + GOOD_PROFILE, 0), "crlf": (GOOD_PROFILE.replace(", \"", ",\r\n\"")[:200] + GOOD_PROFILE[200:], None),
    "list": ("[" + GOOD_PROFILE + "]", 2), "dup": (GOOD_PROFILE[:-1] + ', "fitted": {}}', 2),
    "deep": ("[" * 100_000 + "]" * 100_000, 2), "deep_obj": ('{"a":' * 5000 + "1" + "}" * 5000, 2),
    "null": ("null", 2), "empty": ("", 2), "trailing": (GOOD_PROFILE + "x", 2),
    "nan": (GOOD_PROFILE.replace('"fitted": {', '"fitted": {"x": NaN, '), 2),
    "digits": (GOOD_PROFILE.replace('"fitted": {', '"fitted": {"x": ' + "9" * 5000 + ", "), 2),
    "surrogate": (GOOD_PROFILE.replace('"fitted": {', '"fitted": {"\\ud800": 1, '), 2),
    "yaml": (yaml.safe_dump(gpu_profile_dict()), 2), "utf16": (None, 2),
}


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_profile_structure_is_read_or_refused_in_one_line(tmp_path, name):
    """Hostile structure around a good profile: read (a BOM is dropped) or one line naming ``--profile``."""
    text, want = STRUCTURES[name]
    p = tmp_path / "p.json"
    if text is None:
        p.write_bytes(GOOD_PROFILE.encode("utf-16"))
    else:
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 32,
                                   "tokens": 1e9}, "cluster": {"gpu": "A100-SXM-80GB", "nodes": 1}}))
    code, out, err = run_cli("estimate", job, "--json", "--profile", p)
    line = None if code == 0 else _refusal(code, out, err)
    assert want is None or code == want, (code, line)
    assert line is None or line.startswith("error: --profile"), line
    assert stray(tmp_path, {p.name, job.name}) == []


@pytest.mark.parametrize("value, said", [
    ("abc", "error: tabular.early_stopping.best_iteration: must be a number, got 'abc'"),
    ([1, "x"], "error: tabular.early_stopping.best_iteration.1: must be a number, got 'x'"),
    (float("nan"), "error: tabular.early_stopping.best_iteration: must be a finite number, got nan"),
])
def test_a_union_field_is_named_without_its_branch(tmp_path, value, said):
    """``best_iteration`` is ``Union[float, list[float]]``: pydantic names the branch ``float`` in the error's
    location, and until fuzz46 the line read ``best_iteration.float``, a field no job can write
    (``hardware_catalog.errors._SCALAR_BRANCHES``)."""
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump({"tabular": dict(TABULAR, early_stopping={"patience": 5, "best_iteration": value}),
                                 "constraints": {"clouds": ["aws"]}}))
    assert _refusal(*run_cli("recommend", p)) == said
