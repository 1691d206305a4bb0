"""What fuzz47 left in reading files (fuzz47b, docs/qa_log.md "Fuzz 47b"), end to end through the CLI where a user meets
it: a YAML tag outside the plain types a job or catalog file holds (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``,
Python's, a local ``!x``) is refused at its line and field, naming the tag, where ``!!binary aGk=`` read as the text
``hi`` and ``!!set {A100}`` as a list; a UTF-16 / UTF-32 file is named so; a YAML catalog override past its 100,000
values says that a CSV holds more rows; an instance's cloud or name holding the key's ``:`` or a line end is refused.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2). Each pinned case fails on the code before fuzz47b."""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hardware_catalog import files  # noqa: E402
from test_fuzz_cli import check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

JOB = ("model: {preset: gpt2, name: NAME}\n"
       "training: {seq_len: 1024, global_batch: 32, tokens: 1.0e9}\n"
       "cluster: {gpu: A100-SXM-80GB, nodes: 1, gpus_per_node: 8}\n"
       "constraints: {gpus: GPUS}\n")
NOT_READ = "is not read here (a job or catalog file holds text, numbers, true/false, null, dates, lists and mappings)"


def _job(tmp_path, name="gpt2-run", gpus="[A100]", extra=""):
    p = tmp_path / "job.yaml"
    p.write_text(JOB.replace("NAME", name).replace("GPUS", gpus) + extra)
    return p


# ---------------------------------------------------------------------------------------------- tags
@pytest.mark.parametrize("name, gpus, extra, said", [
    ("!!binary aGk=", "[A100]", "", "line 1: model.name: the tag !!binary"),
    ("gpt2-run", "!!set {A100}", "", "line 4: constraints.gpus: the tag !!set"),
    ("gpt2-run", "!!omap [{A100: 1}]", "", "line 4: constraints.gpus: the tag !!omap"),
    ("gpt2-run", "!!pairs [{A100: 1}]", "", "line 4: constraints.gpus: the tag !!pairs"),
    ("gpt2-run", "[A100, !<tag:yaml.org,2002:binary> SDEwMA==]", "", "line 4: constraints.gpus[1]: the tag !!binary"),
    ("gpt2-run", "[A100]", "!!binary aGk=: 1\n", "line 5: aGk=: the tag !!binary"),
    ("gpt2-run", "[A100]", "bogus: !!python/name:os.system x\n", "line 5: bogus: the tag !!python/name:os.system"),
    ("!mine x", "[A100]", "", "line 1: model.name: the tag !mine"),
])
def test_a_tag_outside_the_plain_types_is_refused_at_its_field(tmp_path, name, gpus, extra, said):
    """Until fuzz47b ``name: !!binary aGk=`` planned a model named ``hi`` (pydantic's lax str of the bytes), ``gpus:
    !!set {A100}`` searched A100 (a set read as a list), the key ``!!binary aGk=`` was quoted back as ``b'hi'`` and
    ``!!python/...`` / ``!mine`` read "malformed YAML ... could not determine a constructor", naming no field."""
    p = _job(tmp_path, name, gpus, extra)
    code, out, err = run_cli("estimate", p, "--json")
    assert code == 2 and err.strip() == f"error: job: {p}: {said} {NOT_READ}", err


def test_dates_and_the_core_types_are_still_read(tmp_path):
    """The tags a file may hold (``files.TAKEN_TAGS``) build what they did: a catalog override's ``price_date`` read as
    a YAML date (QA 55) dates the row; ``!!str``, ``!!int``, ``!!float``, ``!!seq``, ``!!map`` and ``<<`` merge keys
    are read; a plain ``=`` is text, as YAML 1.2 reads it (YAML 1.1's ``!!value``, refused by its tag before)."""
    doc = files.parse_yaml("a: !!str 64\nb: !!int 64\nc: !!float 1\nd: !!seq [1]\ne: !!map {x: 1}\nf: {<<: {y: 2}}\n"
                           "g: 2026-11-15\nh: !!timestamp 2026-11-15\ni: =\n", "job", "j.yaml")
    assert doc["a"] == "64" and doc["b"] == 64 and doc["c"] == 1.0 and doc["d"] == [1] and doc["e"] == {"x": 1}
    assert doc["f"] == {"y": 2} and str(doc["g"]) == str(doc["h"]) == "2026-11-15" and doc["i"] == "="
    over = tmp_path / "o.yaml"
    over.write_text("instances:\n  - {cloud: onprem, name: x8, gpu: H100, gpu_count: 8, price_ondemand_usd_hr: 20,"
                    " source: quote, price_date: 2026-11-15}\n")
    code, out, err = run_cli("catalog", "instances", "--catalog", over, "--cloud", "onprem", "--json")
    assert code == 0, err
    assert [r["price_date"] for r in json.loads(out) if r["key"] == "onprem:x8"] == ["2026-11-15"]


REFUSED_TAGS = ["!!binary aGk=", "!!set {a}", "!!omap [{a: 1}]", "!!pairs [[a, 1]]", "!!python/name:os.system x",
                "!!python/object/apply:os.system [echo]", "!mine x", "!!value x", "!!merge x", "!<tag:example.com,2000:x> 1",
                "!!binary xx", "!%21 x"]
#: the refused tags drawn as a key too (a tag on text: a collection or a tag with no text is no flow key)
KEYABLE = ["!!binary aGk=", "!mine x", "!!value x", "!<tag:example.com,2000:x> 1", "!!binary xx"]
TAKEN = ["!!str x", "!!int 7", "!!float 7", "!!bool true", "!!null ''", "!!seq [a]", "!!map {a: 1}", "!!timestamp 2026-12-01"]
BASE = {"model": {"preset": "gpt2"}, "training": {"seq_len": "1024", "global_batch": "32", "tokens": "1.0e9"},
        "cluster": {"gpu": "A100-SXM-80GB", "nodes": "1", "gpus_per_node": "8"}}
FIELDS = ["model.name", "training.seq_len", "cluster.gpu", "constraints.gpus", "bogus"]


@st.composite
def tagged_jobs(draw):
    """A job with one tagged piece at a drawn field: as the value, inside a one-item list, or (refused tags) as a key."""
    refused = draw(st.booleans())
    piece = draw(st.sampled_from(REFUSED_TAGS if refused else TAKEN))
    field = draw(st.sampled_from(FIELDS))
    where = draw(st.sampled_from(["value", "list", "key"] if piece in KEYABLE else ["value", "list"]))
    section, _, key = field.rpartition(".")
    value = {"value": piece, "list": f"[{piece}]", "key": "{" + f"{piece}: 1" + "}"}[where]
    job = {s: dict(fields) for s, fields in BASE.items()}
    if section:
        job.setdefault(section, {}).pop(key, None)
    lines = [f"{s}: {{" + ", ".join([f"{k}: {v}" for k, v in fields.items()]
                                    + ([f"{key}: {value}"] if s == section else [])) + "}" for s, fields in job.items()]
    lines += [] if section else [f"{key}: {value}"]
    path = field + ("[0]" if where == "list" else "")
    return "\n".join(lines) + "\n", piece, refused, path, where


@fuzz_settings(40)
@given(drawn=tagged_jobs())
def test_fuzz_tags_on_any_field(tmp_path_factory, drawn):
    """A refused tag anywhere (a value, a list's item, a key) is one line naming its field and the tag; a taken one is
    never refused for its tag."""
    text, piece, refused, path, where = drawn
    d = tmp_path_factory.mktemp("tag")
    p = d / "job.yaml"
    p.write_text(text)
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    if refused:
        tag = piece.split(" ")[0].replace("!<tag:yaml.org,2002:", "!!").replace("%21", "!")
        assert line is not None and re.match(rf"error: job: {re.escape(str(p))}: line \d+: ", line), line
        assert f" the tag {tag} {NOT_READ}" in line, line
        if where != "key":
            assert f": {path}: the tag " in line, line
    else:
        assert line is None or NOT_READ not in line, line
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("encoding, name, bom", [("utf-16", "UTF-16", "ff fe"), ("utf-16-be", "UTF-16", "fe ff"),
                                                 ("utf-32", "UTF-32", "ff fe 00 00"),
                                                 ("utf-32-be", "UTF-32", "00 00 fe ff")])
@pytest.mark.parametrize("cmd", ["estimate", "catalog"])
def test_a_utf16_or_utf32_file_is_named_so(tmp_path, encoding, name, bom, cmd):
    """Until fuzz47b Excel's "Unicode text" (UTF-16 with its byte-order mark) read "not UTF-8 text (byte 0xff at offset
    0)", naming no encoding; a big-endian UTF-32 file read "byte 0xfe at offset 2"."""
    if cmd == "estimate":
        p, args, field = tmp_path / "job.yaml", ("estimate",), "job"
        text = JOB.replace("NAME", "x").replace("GPUS", "[A100]")
    else:
        p, args, field = tmp_path / "o.csv", ("catalog", "instances", "--catalog"), "catalog override o.csv: file"
        text = "cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nonprem,x8,H100,8,20,q\n"
    p.write_bytes(("\ufeff" + text).encode(encoding) if encoding.endswith("-be") else text.encode(encoding))
    code, out, err = run_cli(*args, p)
    shown = p if cmd == "estimate" else ""
    want = f"error: {field}: {shown}{': ' if shown else ''}not UTF-8 text but {name} (its byte-order mark {bom} " \
           "starts the file); save it as UTF-8"
    assert code == 2 and err.strip() == want, err


# ---------------------------------------------------------------------------------------------- YAML override size
def _rows(n: int) -> str:
    return "instances:\n" + "".join(f"  - {{cloud: onprem, name: x{i}, gpu: H100, gpu_count: 8, "
                                    f"price_ondemand_usd_hr: 20, source: q}}\n" for i in range(n))


def test_a_yaml_override_past_its_values_points_to_csv(tmp_path):
    """A YAML override holds 100,000 values, ~7,700 six-column rows, under the 20,000 rows a CSV may hold: until fuzz47b
    its refusal said only "expands to more than 100,000 values (aliases are counted ...)", for a file with no alias."""
    over = tmp_path / "big.yaml"
    over.write_text(_rows(7_700))
    code, out, err = run_cli("catalog", "instances", "--catalog", over, "--cloud", "onprem")
    assert code == 2 and err.strip().endswith("; a YAML override holds ~7,700 rows of six columns: write more as CSV "
                                              "(up to 20,000 rows)"), err


def test_the_stated_yaml_row_count_is_the_limit():
    """~7,700: a six-column row is 13 values (its mapping, 6 keys, 6 values), 7,692 rows fit and 7,693 do not."""
    files._check_events(_rows(7_692), "yaml", "o.yaml")
    with pytest.raises(files.InputError, match="more than 100,000 values"):
        files._check_events(_rows(7_693), "yaml", "o.yaml")


# ---------------------------------------------------------------------------------------------- instance names
BREAKS = [":", "\n", "\r", "\t", "\x1b", "\u202e", "\u2028", "\u2029", "\x85", "\x00"]


@fuzz_settings(25)
@given(column=st.sampled_from(["cloud", "name"]), head=st.sampled_from(["x8", "é", "my box"]),
       breaker=st.sampled_from(BREAKS + [""]), tail=st.sampled_from(["", "y", "8x"]), fmt=st.sampled_from(["csv", "yaml"]))
def test_fuzz_instance_names_the_cli_cannot_show_or_read_back(tmp_path_factory, column, head, breaker, tail, fmt):
    """An instance's cloud or name with the key's ``:`` or a character that breaks a line is refused in one line
    naming the row's column; any other is listed under its key. Until fuzz47b ``onprem``, ``x8:y`` was listed as
    ``onprem:x8:y`` (which a bare ``x8:y`` never finds) and ``x8\\ny`` printed as two table rows."""
    d = tmp_path_factory.mktemp("names")
    text = head + breaker + tail
    row = {"cloud": "onprem", "name": "x8", "gpu": "H100", "gpu_count": 8, "price_ondemand_usd_hr": 20, "source": "q"}
    row[column] = text
    over = d / f"o.{fmt}"
    if fmt == "csv":
        cells = ['"' + v.replace('"', '""') + '"' if isinstance(v, str) else str(v) for v in row.values()]
        over.write_text(",".join(row) + "\n" + ",".join(cells) + "\n", newline="")
    else:
        over.write_text("instances:\n  - " + json.dumps(row) + "\n")
    code, out, err = run_cli("catalog", "instances", "--catalog", over, "--json")
    line = check_outcome(code, out, err)
    if breaker == "\x00" and fmt == "csv":  # (a NUL in a text file is refused as binary data first)
        assert line is not None and "binary data" in line, line
    elif breaker and breaker in text.strip():  # (a row's cells are stripped: "x8\n" is x8, as a padded " x8 " is)
        assert line is not None and line.startswith(f"error: catalog override {over.name}: instances[0].{column}: "
                                                    "must not hold "), line
    else:
        assert line is None, line
        keys = {r["key"] for r in json.loads(out)}
        assert (f"{text.strip().lower()}:x8" if column == "cloud" else f"onprem:{text.strip()}") in keys
    assert stray(d, {over.name}) == []
