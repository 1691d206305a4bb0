"""Hostile input for what session 44 changed, end to end through the CLI (fuzz44): every bool field of a job under
YAML 1.2's booleans (qa68) in every scalar style (plain, quoted, block, anchored, merged, aliased, explicitly tagged,
in a list), catalog overrides' bool columns, paths quoted in refusals (``hardware_catalog.errors.shown_path``: control
and format characters, NUL, bytes that are no UTF-8, very long names) for every path a user gives,
``training.framework.gradient_accumulation_fusion`` against every ZeRO stage / Megatron stack / ``megatron_fsdp``
(the stack line, the JSON record and the launch agree: ``stacks.LAYOUT_FORCES``), ``--emit k8s`` under random power
limits (k8s44: the restore sidecar first, with its startupProbe) and ``benchmarks/precision_pairs.py`` on hostile CSVs.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``): exit 0 with strict JSON (or the launch asked for),
or exit 2 and one line ``error: <field>: <message>``; never a traceback or an internal error, nothing written
half-way, no user file replaced. Examples are derandomised (``fuzz_settings``); ``FUZZ_EXAMPLES`` scales them.

Found by it (fixed at the root, each pinned below): an explicit YAML tag on text that is no value of it was an internal
error (``!!bool maybe`` KeyError, ``!!float x`` ValueError, ``!!int ''`` IndexError, ``!!timestamp x``
AttributeError), ``!!int x`` read "too large: a whole number of 0 digits", and ``!!bool yes`` / ``!!bool on`` were
true where plain ``yes`` is text since qa68 (now refused by the loader, with the line and the field:
hardware_catalog.files ``_tag_refusal``); a control character in a YAML file read "malformed YAML: malformed YAML";
a NUL in a path (a job's ``serving.trace: "t\\0.csv"``, ``model.hf_config``, any option in-process) was an internal
error (ValueError "embedded null byte"); a 256-character job, ``--trace`` or ``--storage`` name was an internal error
(OSError ENAMETOOLONG from ``Path.is_dir`` / ``is_file`` / ``exists``: files ``entry_mode``); a catalog override's
refusal quoted a 3,000-character path whole (its line unbounded: now ``ECHO_CHARS``, its middle given way); and
precision_pairs.py met an empty, binary or unclosed-quote CSV, a missing column, a step time ``abc`` or 0 and a
header-only file with a traceback (``script_args.read_table``)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import unicodedata

import pytest
import yaml

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT  # noqa: E402
from test_fuzz_cli import ERROR_LINE, check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

from hardware_catalog.files import YAML12_BOOLS  # noqa: E402
from planner.spec import schema as S  # noqa: E402

BASE = {"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "tokens": "1.0e9"},
        "cluster": {"gpu": "H100", "nodes": 1}}


def _bool_fields(cls=S.JobSpec, path=()) -> list[tuple[str, ...]]:
    """Every bool field of a job (the schema walked, so a field added later is fuzzed too)."""
    from hardware_catalog.errors import _model_in

    out = []
    for name, f in cls.model_fields.items():
        key = path + (f.alias or name,)
        if S._takes(f.annotation, (bool,)) and not S._takes(f.annotation, (int, float, str)):
            out.append(key)
        sub = _model_in(f.annotation)
        if sub is not None:
            out.extend(_bool_fields(sub, key))
    return out


BOOL_FIELDS = _bool_fields()
#: the sections a field's path needs that BASE lacks (an MoE field needs its section's required fields)
NEEDS = {("model", "moe"): {"experts": "8", "top_k": "2"}}


def _block(tree: dict, indent: int = 0) -> str:
    """``tree`` as block YAML, each leaf the raw text drawn (a value spanning lines is indented under its key)."""
    out, pad = [], " " * indent
    for k, v in tree.items():
        if isinstance(v, dict):
            out.append(f"{pad}{k}:\n{_block(v, indent + 2)}")
        else:
            out.append(f"{pad}{k}: " + str(v).replace("\n", "\n" + pad + "  ") + "\n")
    return "".join(out)


def _job(field: tuple[str, ...], raw: str, holder: str | None = None) -> dict:
    job = json.loads(json.dumps(BASE))
    if holder is not None:  # the anchor an alias names, on a bool field written before every other
        job["model"] = {"preset": "gpt2", "tied_embeddings": holder, **{k: v for k, v in job["model"].items() if k != "preset"}}
    node = job
    for i, k in enumerate(field[:-1]):
        node = node.setdefault(k, dict(NEEDS.get(tuple(field[:i + 1]), {})))
    node[field[-1]] = raw
    return job


SPELLINGS = list(YAML12_BOOLS) + ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "tRUE", "0", "1",
                                  "1.0", "2", "-1", "maybe", "truee", ""]
#: how a spelling is written: (style, template); ``{v}`` is the spelling, ``{tag}`` a tag
STYLES = ["plain", "single", "double", "literal", "folded", "anchor", "merge", "alias", "list", "tag-bool",
          "tag-bool-quoted", "tag-verbatim", "tag-str", "tag-int", "tag-float", "tag-timestamp", "tag-python", "local-tag"]


def _written(style: str, v: str) -> str:
    e = v or "''"  # an empty spelling, written as the empty text
    return {"plain": e, "single": f"'{v}'", "double": f'"{v}"', "literal": f"|\n{v or 'x'}",
            "folded": f">-\n{v or 'x'}", "anchor": f"&a {v or '~'}", "alias": "*h", "list": f"[{v or '~'}]",
            "tag-bool": f"!!bool {e}", "tag-bool-quoted": f"!!bool '{v}'", "tag-verbatim": f"!<tag:yaml.org,2002:bool> {e}",
            "tag-str": f"!!str {e}", "tag-int": f"!!int {e}", "tag-float": f"!!float {e}",
            "tag-timestamp": f"!!timestamp {e}", "tag-python": f"!!python/bool {e}", "local-tag": f"!yes {e}"}.get(style, v)


def _bool_value(style: str, v: str):
    """What a YAML 1.2 reader makes of the drawn scalar: True/False, None, or "not a bool" (text, a list, a number,
    or a tag refused)."""
    plainish = style in ("plain", "anchor", "merge", "alias", "tag-bool", "tag-verbatim", "tag-bool-quoted")
    if plainish and v in YAML12_BOOLS:
        return v.lower() == "true"
    if style in ("anchor", "merge", "alias") and v == "":  # (written ~: null; a plain empty spelling is written '')
        return None
    return "not a bool"


@fuzz_settings(250)
@given(field=st.sampled_from(BOOL_FIELDS), spelling=st.sampled_from(SPELLINGS), style=st.sampled_from(STYLES))
def test_fuzz_every_bool_field_in_every_scalar_style(tmp_path_factory, field, spelling, style):
    """A bool field takes YAML 1.2's six spellings, unquoted or under ``!!bool``, and nothing else: any other
    spelling, quoted text, a block scalar, a number, a list or another tag is refused in one line naming the field
    (the schema's "must be true or false", or the loader's line for a tag: ``line N: <field>: !!bool 'yes' is not
    true or false``); a tag no safe loader builds (``!!python/bool``, a local ``!yes``) is refused at its line and field
    (fuzz47b; malformed YAML before)."""
    d = tmp_path_factory.mktemp("bool")
    raw = _written(style, spelling)
    holder = None
    if style == "alias":  # the anchor sits on model.tied_embeddings, the first field read: a refusal names it
        holder = "&h " + (spelling or "~")
        if field == ("model", "tied_embeddings"):  # the field is the anchor's own: it holds the anchored value (its
            raw, holder = holder, None             # alias would name an anchor the field itself overwrote)
    job = _job(field, raw, holder)
    if style == "merge":  # ``<<: {field: v}``: the key reaches its mapping through the merge
        parent = job
        for k in field[:-1]:
            parent = parent[k]
        parent.pop(field[-1])
        parent["<<"] = "{" + field[-1] + ": " + (spelling or "~") + "}"
    p = d / "job.yaml"
    p.write_text(_block(job), encoding="utf-8")
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    name = ".".join(field) if holder is None or field == ("model", "tied_embeddings") else "model.tied_embeddings"
    value = _bool_value(style, spelling)
    if style in ("tag-python", "local-tag"):  # (until fuzz47b "malformed YAML ... could not determine a constructor")
        assert line is not None and line.startswith(f"error: job: {p}: line ") \
            and f": {name}: the tag " in line and " is not read here " in line, line
    elif value == "not a bool":
        assert line is not None, f"{name}: {raw!r} was taken"
        said = (line.startswith(f"error: {name}: ") and "true or false" in line) or \
            re.match(rf"error: job: {re.escape(str(p))}: line \d+: {re.escape(name)}: !!\w+ .* is not ", line)
        assert said, (raw, line)
    elif line is not None and value is not None:  # a true/false taken by the field (the job may be refused otherwise;
        # null is the field left out where it is optional, else refused as no true or false)
        assert "true or false" not in line, (raw, line)
    assert stray(d, {p.name}) == []


#: explicit tags on a number, a text and a date field: built where the text is of the tag's type, else the line and
#: the field of the loader's refusal; never an internal error
TAGGED = ["!!int x", "!!int ''", "!!int 1.5", "!!int 0x", "!!int 64", "!!float x", "!!float ''", "!!float .", "!!float 64",
          "!!timestamp x", "!!timestamp 2026-13-01", "!!timestamp 2026-12-01", "!!bool maybe", "!!bool 1", "!!null x",
          "!!str 64", "!!binary aGVsbG8=", "!!binary xx", "!!set {a}", "!!omap [a: 1]", "!!pairs [1]", "!!map [1]",
          "!!seq {a: 1}", "!!python/name:os.system", "!!python/object/apply:os.system [echo]", "!!merge x",
          "!!value x", "!<tag:yaml.org,2002:int> x"]
TAG_FIELDS = [("training", "global_batch"), ("training", "seq_len"), ("model", "name"), ("cluster", "gpu"),
              ("constraints", "max_price_per_gpu_hour")]


@fuzz_settings(80)
@given(field=st.sampled_from(TAG_FIELDS), raw=st.sampled_from(TAGGED), in_list=st.booleans())
def test_fuzz_explicit_tags_on_any_field(tmp_path_factory, field, raw, in_list):
    """Until fuzz44 ``!!bool maybe``, ``!!float x``, ``!!int ''`` and ``!!timestamp x`` were internal errors, exit 1."""
    d = tmp_path_factory.mktemp("tag")
    job = _job(field, f"[{raw}]" if in_list else raw)
    p = d / "job.yaml"
    p.write_text(_block(job), encoding="utf-8")
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    if line is not None and " is not " in line and line.startswith(f"error: job: {p}: line "):
        where = ".".join(field) + ("[0]" if in_list else "")
        assert f": {where}: !!" in line or f": {where}: the tag " in line, line  # (fuzz47b: a tag not read here)
    assert stray(d, {p.name}) == []


@pytest.mark.parametrize("raw, said", [
    ("!!bool yes", "line 3: training.dropout: !!bool 'yes' is not true or false (YAML 1.2's spellings: true, True"),
    ("!!bool on", "line 3: training.dropout: !!bool 'on' is not true or false"),
    ("!!bool maybe", "line 3: training.dropout: !!bool 'maybe' is not true or false"),
    ("!!float x", "line 3: training.dropout: !!float 'x' is not a number"),
    ("!!int ''", "line 3: training.dropout: !!int '' is not a whole number"),
    ("!!int x", "line 3: training.dropout: !!int 'x' is not a whole number"),
    ("!!timestamp x", "line 3: training.dropout: !!timestamp 'x' is not a date"),
])
def test_a_tag_on_text_of_another_type_is_refused_at_its_line_and_field(tmp_path, raw, said):
    """Found by test_fuzz_every_bool_field_in_every_scalar_style / test_fuzz_explicit_tags_on_any_field: PyYAML's
    constructors read ``!!bool`` by YAML 1.1's table (``yes``/``on`` true, ``maybe`` a KeyError) and raised what they
    met on other text (ValueError, IndexError, AttributeError): internal errors, exit 1; ``!!int x`` read "too large:
    a whole number of 0 digits"."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: gpt2}\ncluster: {gpu: H100, nodes: 1}\n"
                 f"training: {{seq_len: 1024, global_batch: 64, tokens: 1.0e9, dropout: {raw}}}\n")
    code, out, err = run_cli("estimate", p, "--json")
    line = err.strip()
    assert code == 2 and ERROR_LINE.match(line) and "\n" not in line, err
    assert line.startswith(f"error: job: {p}: {said}"), line


@pytest.mark.parametrize("raw, value", [("!!bool true", True), ("!!bool 'FALSE'", False),
                                        ("!<tag:yaml.org,2002:bool> True", True)])
def test_a_bool_tag_on_yaml12_text_is_the_bool(tmp_path, raw, value):
    """The guard: ``!!bool`` on YAML 1.2's spellings (quoted or not) is that boolean."""
    from hardware_catalog.files import parse_yaml

    assert parse_yaml(f"a: {raw}", "job", "j.yaml") == {"a": value}


def test_a_control_character_in_yaml_is_named_with_its_line(tmp_path):
    """Found by test_fuzz_explicit_tags_on_any_field's neighbours: a control character in a YAML file read
    "malformed YAML: malformed YAML" (PyYAML's ReaderError has no problem and no mark)."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, name: 'a\x07'}\n")
    code, out, err = run_cli("estimate", p, "--json")
    assert code == 2 and err.strip() == (f"error: job: {p}: malformed YAML at line 2: the control character #x07 (YAML "
                                         "takes none; in double quotes write it \\x07)"), err


# ---------------------------------------------------------------------------- catalog overrides' bool columns
CELLS = ["true", "false", "True", "yes", "on", "1", "0", "2", "maybe", "", "'false'", "[true]", "!!bool maybe",
         "!!bool on", "!!float x", "!!timestamp x", "!!int x", "&a on", "|\n  true"]


@fuzz_settings(20)
@given(cell=st.sampled_from(CELLS), fmt=st.sampled_from(["csv", "yaml"]))
def test_fuzz_catalog_override_bool_column(tmp_path_factory, cell, fmt):
    """``instances[].cluster`` in a CSV cell (text: true / false in any case since qa69, ``catalog.bool_cell``) or a
    YAML override (the job's loader): the row added, or one line naming the override and the column (or the tag's line
    and field)."""
    d = tmp_path_factory.mktemp("catbool")
    row = {"cloud": "onprem", "name": "x8", "gpu": "H100", "gpu_count": "8", "price_ondemand_usd_hr": "20",
           "source": "quote"}
    if fmt == "csv":
        text = ",".join([*row, "cluster"]) + "\n" + ",".join([*row.values(), json.dumps(cell) if "\n" in cell or "," in cell
                                                              else cell]) + "\n"
    else:
        text = "instances:\n  - " + _block({**row, "cluster": cell}, 4).lstrip()
    cat = d / f"over.{fmt}"
    cat.write_text(text, encoding="utf-8")
    code, out, err = run_cli("catalog", "instances", "--catalog", cat)
    line = check_outcome(code, out, err, json_out=False)
    if line is not None:
        assert line.startswith(f"error: catalog override {cat.name}: "), line
        assert "instances[0].cluster" in line, line
    assert stray(d, {cat.name}) == []


# ---------------------------------------------------------------------------- paths quoted in refusals
PIECES = ["a", "b.yaml", " ", "\n", "\t", "\x1b[31m", "\u202e", "\u200b", "\x00", "\udcff", "\u00e9", "x" * 300,
          "/".join(["y" * 200] * 15), "..", "-", ""]
PATH = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)
#: each option that names a path: the command run with the drawn path there
PATH_OPTIONS = {
    "job": ("estimate", "{path}", "--json"),
    "--catalog": ("catalog", "gpus", "--catalog", "{path}"),
    "--csv": ("recommend", "{job}", "--no-simulate", "--csv", "{path}"),
    "--profile": ("estimate", "{job}", "--json", "--profile", "{path}"),
    "--trace": ("serve", "{serve}", "--json", "--trace", "{path}"),
    "--out": ("report", "{job}", "-o", "{path}"),
    "serving.trace": ("serve", "{trace_job}", "--json"),
    "model.hf_config": ("estimate", "{hf_job}", "--json"),
}


def _printable(line: str) -> bool:
    """One line a terminal shows as written: no control or format character (``shown_path`` escapes them), no
    surrogate (a name's non-UTF-8 bytes, which a UTF-8 stream cannot write)."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c)[0] == "C" for c in line)


@fuzz_settings(150)
@given(path=PATH, option=st.sampled_from(sorted(PATH_OPTIONS)), exists=st.booleans())
def test_fuzz_hostile_paths_in_every_option(tmp_path_factory, path, option, exists):
    """Every path a user names, holding control and format characters, NUL, non-UTF-8 bytes (surrogate escapes, as
    Python reads them on Linux) or a very long name, absent or (where it can be made) present: one printable line or
    a plan; until fuzz44 a NUL was an internal error ("embedded null byte") and a 256-character job, --trace or
    --storage name another ("File name too long")."""
    d = tmp_path_factory.mktemp("paths")
    job = d / "job.yaml"
    job.write_text(_block(BASE))
    serve = d / "serve.yaml"
    serve.write_text("model: {preset: gpt2}\nserving: {qps: 1.0, p99_latency_ms: 1000.0, prompt_tokens: 64, "
                     "output_tokens: 16}\nconstraints: {clouds: [aws], gpus: [H100]}\n")
    (d / "trace_job.yaml").write_text(serve.read_text().replace("output_tokens: 16", f"output_tokens: 16, trace: {json.dumps(path)}"))
    (d / "hf_job.yaml").write_text(_block(BASE).replace("preset: gpt2", f"hf_config: {json.dumps(path)}"))
    before = set(stray(d))
    made = None
    if exists and "\x00" not in path and path not in ("", "-"):
        try:  # a file of that name, where the system allows one (a job, a catalog, a profile, a trace)
            made = d / path
            made.parent.mkdir(parents=True, exist_ok=True)
            made.write_bytes(b"a,b\n1,2\n")
        except (OSError, UnicodeEncodeError):
            made = None
    before = set(stray(d))
    target = path if path.startswith("/") or path in ("", "-") else str(d / path)
    args = [a.format(path=target, job=job, serve=serve, trace_job=d / "trace_job.yaml", hf_job=d / "hf_job.yaml")
            for a in PATH_OPTIONS[option]]
    code, out, err = run_cli(*args, cwd=d)
    line = check_outcome(code, out, err, json_out=option not in ("--csv", "--out", "--catalog"))
    if line is not None:
        assert _printable(line), repr(line)
        assert len(line) < 500, len(line)
    else:
        assert _printable(out.replace("\n", " ").replace("\t", " ")), repr(out[:300])
    if code != 0:
        assert set(stray(d)) == before, set(stray(d)) ^ before  # a refusal writes nothing
    if made is not None and option != "--csv":
        assert made.read_bytes() == b"a,b\n1,2\n"  # an input is never written over


@pytest.mark.parametrize("option, args", [
    ("job", ("estimate", "{long}.yaml", "--json")),
    ("--trace", ("serve", "{serve}", "--trace", "{long}.csv")),
    ("--storage", ("calibrate", "-o", "{d}/p.json", "--storage", "{long}")),
    ("job", ("estimate", "a\x00b.yaml")),
    ("serving.trace", ("serve", "{nul_job}")),
    ("--csv", ("recommend", "{serve}", "--csv", "o\x00.csv")),
])
def test_nul_and_over_long_names_are_one_line(tmp_path, option, args):
    """Found by test_fuzz_hostile_paths_in_every_option: ``Path.is_dir`` / ``is_file`` / ``exists`` raise on a name
    the system refuses (ENAMETOOLONG: pathlib ignores four errnos only) and ``os.open`` / ``os.lstat`` raise
    ValueError on a NUL: internal errors, exit 1, until fuzz44."""
    serve = tmp_path / "serve.yaml"
    serve.write_text("model: {preset: gpt2}\nserving: {qps: 1.0, p99_latency_ms: 1000.0, prompt_tokens: 64, "
                     "output_tokens: 16}\nconstraints: {clouds: [aws], gpus: [H100]}\n")
    nul_job = tmp_path / "nul.yaml"
    nul_job.write_text(serve.read_text().replace("output_tokens: 16", 'output_tokens: 16, trace: "t\\0.csv"'))
    long = str(tmp_path / ("x" * 256))
    code, out, err = run_cli(*(a.format(long=long, serve=serve, d=tmp_path, nul_job=nul_job) for a in args))
    line = err.strip().splitlines()[-1] if err.strip() else ""
    assert code == 2 and ERROR_LINE.match(line), err
    assert line.startswith(f"error: {option}: "), line
    assert line.endswith(("name too long", "a NUL character in the name (no file can be named so)")), line
    assert list(tmp_path.iterdir()) == sorted([serve, nul_job]) or set(tmp_path.iterdir()) == {serve, nul_job}


def test_a_catalog_override_refusal_caps_the_file_name(tmp_path):
    """Found by test_fuzz_hostile_paths_in_every_option: ``CatalogError`` put the override's file name in its line
    whole, beside a message of up to 300 characters (a 240-character name made a 539-character line); the name is
    cut to ``ECHO_CHARS``, its middle given way."""
    from hardware_catalog.errors import ECHO_CHARS

    name = "y" * 240 + ".yaml"  # (the override is named by its file name: 255 characters the most a system takes)
    (tmp_path / name).write_text("cluster: 1\n")
    code, out, err = run_cli("catalog", "gpus", "--catalog", name, cwd=tmp_path)
    line = err.strip()
    assert code == 2 and "\n" not in line, err
    head = line.split(": cluster: ")[0]
    assert head.startswith("error: catalog override y") and head.endswith(".yaml") and "…" in head, line
    assert len(head) <= len("error: catalog override ") + ECHO_CHARS, (len(head), line)


# ---------------------------------------------------------------------------- gradient-accumulation fusion
MEGATRON = ["megatron-core", "nemo", "megatron-bridge", "megatron-lm"]


def _fusion_job(d, stack, zero, mfsdp, gaf):
    fw = {"name": stack}
    if mfsdp is not None:
        fw["megatron_fsdp"] = mfsdp
    if gaf is not None:
        fw["gradient_accumulation_fusion"] = gaf
    par = {"tp": 2, "pp": 1, "dp": 8, **({} if zero is None else {"zero": zero})}
    job = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1,
                                                          "tokens": 1e11, "framework": fw},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}, "parallel": par}
    p = d / "job.yaml"
    p.write_text(yaml.safe_dump(job))
    return p


def _said(text: str) -> str | None:
    m = re.search(r"gradient_accumulation_fusion=(on|off)", text)
    return m and m.group(1)


@fuzz_settings(30)
@given(stack=st.sampled_from(MEGATRON), zero=st.sampled_from([None, 0, 1, 2, 3]),
       mfsdp=st.sampled_from([None, True, False]), gaf=st.sampled_from([None, True, False]))
def test_fuzz_fusion_agrees_in_line_json_and_launch(tmp_path_factory, stack, zero, mfsdp, gaf):
    """One value of the fusion a plan runs (``stacks.option_at``), read alike by the stack line, the JSON record and
    the Megatron launch (``--no-gradient-accumulation-fusion`` exactly where it is off); ``true`` at FSDP2's ZeRO-3
    refused by the field; ``estimate`` and ``recommend`` of one layout refuse alike."""
    d = tmp_path_factory.mktemp("gaf")
    p = _fusion_job(d, stack, zero, mfsdp, gaf)
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    tcode, text, terr = run_cli("estimate", p)
    assert tcode == code and (code == 0 or terr.strip() == err.strip()), (terr, err)
    if zero == 3 and gaf is True and mfsdp is not True and stack != "megatron-lm":
        assert line is not None and line.startswith("error: training.framework.gradient_accumulation_fusion: "), line
    if code == 0:
        on = json.loads(out)["stack"]["gradient_accumulation_fusion"]
        assert _said(text) == ("on" if on else "off"), (on, _said(text))
        if gaf is not None and not (zero == 3 and mfsdp is not True):
            assert on is gaf
    rcode, rout, rerr = run_cli("recommend", p, "--no-simulate", "--json", "--top", "1")
    check_outcome(rcode, rout, rerr)
    ecode, eout, eerr = run_cli("recommend", p, "--no-simulate", "--emit", "slurm:megatron")
    check_outcome(ecode, eout, eerr, json_out=False)
    assert rcode == ecode
    if rcode == 0:
        best = json.loads(rout)["best"]["stack"]
        assert ("--no-gradient-accumulation-fusion" in eout) == (best["gradient_accumulation_fusion"] is False), best
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------- --emit k8s under power limits
POWER = st.one_of(st.floats(200, 700), st.floats(200, 700), st.floats(1e-6, 2e4), st.sampled_from([200, 700, 199.99, 200.0001, 699.9999999,
                                                                          700.0000001, 350.25, 1e9, 1e300]))


def _pods(manifest: str) -> list[dict]:
    out = []

    def walk(o):
        if isinstance(o, dict):
            if "initContainers" in o or "containers" in o:
                out.append(o)
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    for doc in yaml.safe_load_all(manifest):
        walk(doc)
    return out


@fuzz_settings(20)
@given(watts=POWER, emit=st.sampled_from(["k8s", "k8s:megatron", "k8s:fsdp"]))
def test_fuzz_k8s_power_limit(tmp_path_factory, watts, emit):
    """A drawn power limit on H100s (rated 700 W, least 200 W): a manifest that parses, each pod's init containers
    the restore sidecar first (``restartPolicy: Always``, a startupProbe) then ``power-limit`` setting the limit the
    plan priced, or one line naming ``cluster.power_limit_w``."""
    d = tmp_path_factory.mktemp("k8s")
    p = d / "job.yaml"
    p.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 256, micro_batch: 1, tokens: "
                 f"1.0e11, framework: {{name: megatron-core}}}}\ncluster: {{instance: aws:p5.48xlarge, nodes: 2, "
                 f"power_limit_w: {watts!r}}}\nparallel: {{tp: 2, pp: 1, dp: 8}}\n")
    code, out, err = run_cli("recommend", p, "--no-simulate", "--emit", emit)
    line = check_outcome(code, out, err, json_out=False)
    if not 200 * (1 - 1e-9) <= watts <= 700 * (1 + 1e-9):  # (power.limit_error's tolerance: a float's last bits)
        assert line is not None and line.startswith("error: cluster.power_limit_w: "), line
    if code == 0:
        pods = [s for s in _pods(out) if "containers" in s]
        assert pods
        for spec in pods:
            if watts >= 700:  # at the rated limit nothing is held: no init container (units.held_limit)
                assert "initContainers" not in spec
                continue
            init = spec["initContainers"]
            assert [c["name"] for c in init] == ["power-limit-restore", "power-limit"], init
            assert init[0]["restartPolicy"] == "Always" and "startupProbe" in init[0]
            set_to = re.search(r"nvidia-smi -pl (\S+) ", init[1]["command"][-1]).group(1)
            assert 200 <= float(set_to) <= 700 and abs(float(set_to) - watts) <= 1e-3 * watts, (set_to, watts)
    assert stray(d, {p.name}) == []


def test_a_fractional_power_limit_is_shown_as_given(tmp_path):
    """Found by test_fuzz_k8s_power_limit: the launch's note read "holds every H100-SXM-80GB at 700 W (... rated 700 W)"
    and "stops the job if a GPU is above 700 W" beside ``nvidia-smi -pl 699.6``, the hardware line and the GEMM-rate
    note "at 700 W", and the server-power note "less 8 x 0 W": rounded to whole watts (now ``units.fmt_given``)."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 256, micro_batch: 1, tokens: "
                 "1.0e11, framework: {name: megatron-core}}\ncluster: {instance: aws:p5.48xlarge, nodes: 2, "
                 "power_limit_w: 699.6}\nparallel: {tp: 2, pp: 1, dp: 8}\n")
    code, out, err = run_cli("recommend", p, "--no-simulate", "--emit", "k8s")
    assert code == 0, err
    assert "holds every H100-SXM-80GB at 699.6 W (cluster.power_limit_w; rated 700 W)" in out
    assert "stops the job if a GPU is above 699.6 W" in out and "nvidia-smi -pl 699.6 " in out
    code, out, err = run_cli("estimate", p)
    assert code == 0, err
    text = " ".join(out.split())
    assert "at 699.6 W of H100-SXM-80GB's rated 700 W" in text and "at 699.6 W (cluster.power_limit_w)" in text
    assert "at 700 W" not in text


# ---------------------------------------------------------------------------- benchmarks/precision_pairs.py
sys.path.insert(0, str(ROOT / "benchmarks"))
import precision_pairs  # noqa: E402

HEAD = ["id", "gpu", "gpus", "tp", "pp", "dp", "mb", "measured_s", "predicted_s"]
PP_CELL = st.sampled_from(["1.0", "0.5", "2", "0", "-1", "abc", "", "nan", "inf", "1e-300", "\"1,5\"", "\"", "x_bf16",
                           "x_fp8", "H100", "8"])


def _pairs_main(path):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            precision_pairs.main([str(path)])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


@fuzz_settings(80)
@given(head=st.lists(st.sampled_from(HEAD + ["extra"]), min_size=0, max_size=10).map(lambda h: h or []),
       rows=st.lists(st.lists(PP_CELL, min_size=0, max_size=10), max_size=4), full_head=st.booleans(),
       raw=st.sampled_from([None, b"", b"\xff\xfe", b"\x00\x01", b"\"open\n", b"\n\n"]))
def test_fuzz_precision_pairs_csv(tmp_path_factory, head, rows, full_head, raw):
    """Any CSV: the summary (exit 0) or one line ``error: csv: ...``, exit 2, never a traceback."""
    d = tmp_path_factory.mktemp("pp")
    p = d / "rows.csv"
    if raw is not None:
        p.write_bytes(raw)
    else:
        cols = HEAD if full_head else head
        p.write_text("\n".join([",".join(cols)] + [",".join(r) for r in rows]) + "\n")
    code, out, err = _pairs_main(p)
    if code == 0:
        assert err == ""
    else:
        line = err.strip()
        assert code == 2 and "\n" not in line and line.startswith(f"error: csv: {p}: "), repr(err[-500:])


@pytest.mark.parametrize("text, said", [
    (b"", "empty (no header line)"),
    (b"\xff\xfe", "not UTF-8 text"),
    (b"a,b\n1,2\n", "no column id, gpu, gpus, tp, pp, dp, mb, measured_s, predicted_s"),
    (",".join(HEAD).encode() + b"\nx_bf16,H100,8,1,1,8,1,abc,1\n", "row 1: measured_s must be a positive number, got 'abc'"),
    (",".join(HEAD).encode() + b"\nx_bf16,H100,8,1,1,8,1,1,1\nx_fp8,H100,8,1,1,8,1,0,1\n",
     "row 2: measured_s must be a positive number, got 0"),
    (",".join(HEAD).encode() + b'\n"x_bf16,H100\n', "not a CSV table"),
])
def test_precision_pairs_refuses_a_bad_csv_in_one_line(tmp_path, text, said):
    """Found by test_fuzz_precision_pairs_csv: each of these was a traceback (EmptyDataError, UnicodeDecodeError,
    KeyError, TypeError, ZeroDivisionError, ParserError)."""
    p = tmp_path / "rows.csv"
    p.write_bytes(text)
    code, out, err = _pairs_main(p)
    assert code == 2 and err.strip().startswith(f"error: csv: {p}: {said}"), err


def test_precision_pairs_of_no_rows_is_an_empty_summary(tmp_path):
    """A header and no row (or no row with an id) is no pair: until fuzz44 a ValueError ("Columns must be same length
    as key")."""
    p = tmp_path / "rows.csv"
    p.write_text(",".join(HEAD) + "\n,H100,8,1,1,8,1,1,1\n")
    code, out, err = _pairs_main(p)
    assert code == 0 and err == "" and "Empty DataFrame" in out
