"""Hostile input where the fuzzers had not been (fuzz47), end to end through the CLI: a job file's *structure* (nesting
of every kind to 100,000 levels, alias bombs, duplicate keys, keys of the wrong type at every level, YAML 1.1 tags,
non-UTF-8 bytes, UTF-16 / UTF-32, BOM, CRLF, a second document) under ``estimate``; a catalog override CSV read by
``catalog instances`` (encodings, BOMs, duplicate / blank / odd headers, NaN / inf / negative / 1e308 / 5e-324 prices
and other hostile cells, CR and CRLF line ends, 20,001 rows); ``report -o`` to names holding non-UTF-8 bytes, line ends
and escapes beside an existing report, chart folder or chart; and ``calibrate --storage`` on a file larger than a
quick run reads. Fuzz 43-46 drew a job's *values* and a catalog's *cells*, not these.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left behind, nothing of the user's replaced without --force).

Found by it (fixed at the root, pinned below): a YAML file nested ~50,000 levels deep (``model:`` and 50,000 ``[``,
100 KB) killed the process with a segmentation fault, exit -11, no message -- PyYAML 6.0.3's C composer recurses on
the C stack -- the CLI and the app's upload alike (``hardware_catalog.files._check_events`` now checks depth and size
on the parser's events before composing); ``report -o`` to a name whose bytes are not UTF-8 was an internal error
(UnicodeEncodeError in the Markdown chart links: ``present.report._link`` percent-encodes the name's bytes); and
``calibrate --storage FILE`` read the whole file, a 100 GB shard in a one-minute quick run (its first
``storage_bytes`` now). docs/qa_log.md "Fuzz 47"."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT  # noqa: E402
from test_fuzz_cli import ERROR_LINE, HANG_S, check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

JOB = ("model: {preset: gpt2}\n"
       "training: {seq_len: 1024, global_batch: 32, tokens: 1.0e9, framework: {name: megatron-core}}\n"
       "cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 8}\n"
       "parallel: {tp: 1, pp: 1, dp: 8}\n")
DEEP = 100_000


def _nest(kind: str, n: int, leaf: str = "1") -> str:
    """A value ``n`` levels deep: flow lists, flow mappings, or compact block lists (``- - - 1``, one line)."""
    if kind == "flow-seq":
        return "[" * n + leaf + "]" * n
    if kind == "flow-map":
        return "{a: " * n + leaf + "}" * n
    return "\n" + "  " + "- " * n + leaf


# ---------------------------------------------------------------------------------------------- deep nesting
@pytest.mark.parametrize("kind", ["flow-seq", "flow-map", "block-seq"])
@pytest.mark.parametrize("cmd", ["estimate", "catalog"])
def test_a_yaml_file_nested_past_the_stack_is_one_line_not_a_crash(tmp_path, kind, cmd):
    """A process of its own: until fuzz47 PyYAML's C composer recursed once a level and ``model: [[[...`` 50,000 deep
    (or ``- - - ...``) was a segmentation fault, exit -11, nothing said; the app's upload reads through the same
    ``parse_yaml``. Now the parser's events are checked first: the one line of the 64-level limit."""
    p = tmp_path / ("job.yaml" if cmd == "estimate" else "over.yaml")
    p.write_text(("model: " if cmd == "estimate" else "instances: ") + _nest(kind, DEEP) + "\n")
    args = ["estimate", str(p)] if cmd == "estimate" else ["catalog", "gpus", "--catalog", str(p)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="150")
    env.pop("PLANNER_DEBUG", None)
    r = subprocess.run([sys.executable, "-c", "import sys; from planner.cli import main; sys.argv[0] = 'planner'; main()",
                        *args], capture_output=True, text=True, timeout=HANG_S, cwd=tmp_path, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    line = r.stderr.strip()
    assert "\n" not in line and ERROR_LINE.match(line) and line.endswith("nested more than 64 levels deep"), line
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]


# ---------------------------------------------------------------------------------------------- job structure
def _bomb(levels: int, width: int) -> str:
    out = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    out += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(out) + "\n"


KEYS = ["1", "~", "true", "1.5", "2020-01-01", "''", "!!binary aGk=", "[a]", "{a: 1}", "!!python/name:os.system",
        "\"\\x1b[31m\"", "\"\\u202e\"", "x" * 300]
VALUES = ["!!set {a}", "!!omap [{a: 1}]", "!!pairs [[a, 1]]", "!!binary aGk=", "2020-01-01", "2020-13-01",
          "!!python/object/apply:os.system [echo]", "*nope", "&x [*x]", "[]", "{}", "~", "'1e5'", "!!float .nan"]
SECTIONS = ["", "model", "training", "training.framework", "cluster", "parallel"]


@st.composite
def hostile_jobs(draw) -> bytes:
    """A job's text with one structural damage: a value nested 1 to 100,000 levels, an alias bomb beside it, a duplicate
    key, a key of another type (or a tag) at any level, a YAML 1.1 tag as a value, then encoded as UTF-8 (with BOM, CRLF,
    a stray non-UTF-8 byte) or UTF-16 / UTF-32, or followed by a second document."""
    text = JOB
    damage = draw(st.sampled_from(["nest", "nest", "bomb", "dup", "key", "key", "value", "value", "none"]))
    where = draw(st.sampled_from(SECTIONS))
    lines = text.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if where and ln.startswith(where.split(".")[0] + ":")), len(lines))
    if damage == "nest":
        n = draw(st.sampled_from([1, 63, 64, 65, 66, 200, 5000, DEEP]))
        text += f"{where.split('.')[-1] or 'model'}x: {_nest(draw(st.sampled_from(['flow-seq', 'flow-map', 'block-seq'])), n)}\n"
    elif damage == "bomb":
        text = _bomb(draw(st.integers(2, 9)), draw(st.sampled_from([2, 9, 100]))) + text
    elif damage == "dup":
        text = text if at == len(lines) else text + lines[at]
    elif damage in ("key", "value"):
        piece = draw(st.sampled_from(KEYS if damage == "key" else VALUES))
        entry = f"{piece}: 1" if damage == "key" else f"bogus: {piece}"
        if where in ("", "model") or at == len(lines):
            text += ("? " + piece + "\n: 1\n") if damage == "key" and piece.startswith(("[", "{")) else entry + "\n"
        else:
            lines[at] = lines[at].rstrip("\n").rstrip("}") + f", {entry}}}\n"
            text = "".join(lines)
    if draw(st.integers(0, 5)) == 0:
        text += "---\nmodel: {preset: gpt2}\n"
    enc = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "crlf", "utf-16", "utf-32", "stray-byte"]))
    if enc == "crlf":
        return text.replace("\n", "\r\n").encode()
    if enc == "stray-byte":
        data = text.encode()
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\x85", b"\xed\xa0\x80"])) + data[cut:]
    return text.encode(enc)


@fuzz_settings(30)
@given(data=hostile_jobs())
def test_fuzz_job_file_structure(tmp_path_factory, data):
    """Any structure: a plan (strict JSON) or one line, naming the job file where the file itself is refused."""
    d = tmp_path_factory.mktemp("jobstruct")
    p = d / "job.yaml"
    p.write_bytes(data)
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    if line is not None and ("nested more than" in line or "too large: expands" in line or "UTF-8" in line):
        assert line.startswith(f"error: job: {p}: "), line
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------------------------- catalog CSV
HEAD = ["cloud", "name", "gpu", "gpu_count", "price_ondemand_usd_hr", "source"]
ROW = {"cloud": "onprem", "name": "x8", "gpu": "H100", "gpu_count": "8", "price_ondemand_usd_hr": "20", "source": "q"}
PRICES = ["20", "nan", "NaN", "inf", "-inf", "-5", "0", "-0", "1e308", "1e309", "5e-324", "1e-300", "", " 20 ", "２０",
          "0x14", "\"20\"", "2_0", "20\u00a0", "1e5", "100001", "9" * 400, "\"1,000\"", "$20", "20 USD", "true"]


@st.composite
def catalog_csvs(draw) -> bytes:
    head = list(HEAD)
    odd = draw(st.sampled_from([None] * 5 + ["dup", "blank", "upper", "spaced", "extra", "bom-twice"]))
    if odd == "dup":
        head.append(draw(st.sampled_from(HEAD)))
    elif odd == "blank":
        head.append("")
    elif odd == "upper":
        head = [h.upper() if h == "gpu" else h for h in head]
    elif odd == "spaced":
        head = [" cloud" if h == "cloud" else h for h in head]
    elif odd == "extra":
        head.append("notes")
    cells = dict(ROW, price_ondemand_usd_hr=draw(st.sampled_from(PRICES + ["20", "40.5", "1e2"] * 4)))
    if draw(st.booleans()):
        cells["name"] = draw(st.sampled_from(["x8", "é8", "x\u202e8", "\x1b[31mx8", "[bold]x8", "x" * 300]))
    rows = [[cells.get(h.strip().lower(), "z") for h in head]]
    many = draw(st.sampled_from([1] * 8 + [2, 20_001]))
    rows += [[c if h != "name" else f"x{i}" for h, c in zip(head, rows[0])] for i in range(1, many)]
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = (("\ufeff" if odd == "bom-twice" else "") + ",".join(head) + end
            + "".join(",".join(r) + end for r in rows))
    enc = draw(st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    return text.encode(enc, errors="replace")


@fuzz_settings(40)
@given(data=catalog_csvs())
def test_fuzz_catalog_override_csv(tmp_path_factory, data):
    """Any override CSV: the instance listed with a finite positive price, or one line naming the file."""
    d = tmp_path_factory.mktemp("catcsv")
    cat = d / "over.csv"
    cat.write_bytes(data)
    code, out, err = run_cli("catalog", "instances", "--catalog", cat, "--cloud", "onprem", "--json")
    line = check_outcome(code, out, err)
    if line is None:
        rows = json.loads(out)
        assert rows and all(0 < r["price_ondemand_usd_hr"] < float("inf") for r in rows), rows[:2]
    else:
        assert line.startswith("error: catalog override over.csv: ") or line.startswith("error: --cloud: "), line
    assert stray(d, {cat.name}) == []


# ---------------------------------------------------------------------------------------------- report -o names
REPORT_JOB = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
              "constraints: {clouds: [aws], gpus: [A100], max_gpus: 8}\n")
NAME = st.lists(st.sampled_from(["r", "\udcff", "\n", " ", "\x1b[31m", "\u202e", "é", "-", "(v2)", "#", "%41"]),
                min_size=1, max_size=3).map("".join)


def test_a_report_named_in_bytes_that_are_not_utf8_is_written_with_its_links(tmp_path):
    """``report -o $'\\xff.md'`` (a Linux name's bytes, held as a surrogate escape) was "internal error
    (UnicodeEncodeError)", exit 1, after the whole search; the chart links now carry the bytes percent-encoded."""
    (tmp_path / "job.yaml").write_text(REPORT_JOB)
    code, out, err = run_cli("report", tmp_path / "job.yaml", "--no-simulate", "-o", "\udcff.md", cwd=tmp_path)
    assert code == 0, err
    assert os.path.isfile(os.fsencode(tmp_path) + b"/\xff.md")
    text = (tmp_path / "\udcff.md").read_text()
    assert "](%FF_files/memory.svg)" in text and os.path.isfile(os.fsencode(tmp_path) + b"/\xff_files/memory.svg")
    assert out.strip() == "wrote '\\udcff.md' and 4 chart files", out  # quoted as a refusal quotes it (shown_path)


def test_the_wrote_line_quotes_a_name_with_a_line_end_as_one_line(tmp_path):
    """The success line printed the name as given: ``-o $'a\nb.md'`` read "wrote a" and "b.md and 4 chart files" on
    two lines; now as every refusal quotes a path (``shown_path``)."""
    (tmp_path / "job.yaml").write_text(REPORT_JOB)
    code, out, err = run_cli("report", tmp_path / "job.yaml", "--no-simulate", "-o", "a\nb.md", cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == "wrote 'a\\nb.md' and 4 chart files", out


@fuzz_settings(6)
@given(name=NAME, suffix=st.sampled_from([".md", ".md", ".html", ".MD"]),
       before=st.sampled_from(["none", "report", "folder", "chart", "folder-file"]), force=st.booleans())
def test_fuzz_report_names_beside_earlier_files(tmp_path_factory, name, suffix, before, force):
    """A report named with odd bytes and characters, beside an earlier report, chart folder (a user's file in it), chart
    or a file where the folder goes: written, or one line; nothing of the user's replaced without --force, a user's own
    file in the folder never touched, nothing left on a refusal."""
    d = tmp_path_factory.mktemp("rep")
    (d / "job.yaml").write_text(REPORT_JOB)
    stem = d / name
    target = stem.with_name(stem.name + suffix)
    folder = stem.with_name(stem.name + "_files")
    mine = {}
    if before == "report":
        mine[target] = b"my report"
    elif before in ("folder", "chart"):
        folder.mkdir()
        mine[folder / "mine.txt"] = b"mine"
        if before == "chart":
            mine[folder / "memory.svg"] = b"my chart"
    elif before == "folder-file":
        mine[folder] = b"a file"
    for p, data in mine.items():
        p.write_bytes(data)
    listed = set(stray(d))
    code, out, err = run_cli("report", d / "job.yaml", "--no-simulate", "-o", target, *(["--force"] if force else []),
                             cwd=d)
    check_outcome(code, out, err, json_out=False)
    for p, data in mine.items():
        replaced = code == 0 and force and (p == target or (p.name == "memory.svg" and suffix.lower() == ".md"))
        assert replaced or p.read_bytes() == data, p
    if code != 0:
        assert set(stray(d)) == listed
    assert not [x for x in d.rglob("*") if ".tmp" in x.name]


# ---------------------------------------------------------------------------------------------- calibrate --storage
def test_the_storage_read_stops_at_its_size_on_a_larger_file(tmp_path):
    """``calibrate --storage FILE`` read the file to its end: a 100 GB dataset shard in a one-minute quick run. Now its
    first ``nbytes`` (the folder case's size), here 1 MiB of a 64 MiB sparse file."""
    from calibration.datapipe import storage_rows

    p = tmp_path / "shard.bin"
    with open(p, "wb") as fh:
        fh.truncate(64 << 20)
    rows = storage_rows(p, nbytes=1 << 20, chunk=256 << 10)
    assert rows["bytes"] == 1 << 20
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 1000)
    assert storage_rows(small, nbytes=1 << 20)["bytes"] == 1000  # a smaller file: all of it, as before


# ---------------------------------------------------------------------------------------------- dates echoed
@pytest.mark.parametrize("text, shown", [
    ("training: {seq_len: 1024, framework: {name: megatron-core, 2020-01-01: x}}",
     "error: training.framework: a field name must be text, got the key 2020-01-01"),
    ("constraints: {gpus: [2020-01-01 10:00:00]}", "error: constraints.gpus.0: must be text, got 2020-01-01 10:00:00"),
])
def test_a_yaml_date_is_quoted_back_as_yaml_writes_it(tmp_path, text, shown):
    """YAML reads an unquoted ``2020-01-01`` as a date: a refusal quoted it as Python's ``datetime.date(2020, 1, 1)``."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: gpt2}\n" + text + "\n")
    code, out, err = run_cli("recommend", p, "--json", "--no-simulate")
    assert code == 2 and err.strip() == shown, err
