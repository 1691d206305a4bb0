"""Hostile input for what session 45 changed, end to end through the CLI (fuzz45): every numeric field of a job under
every YAML scalar style and number spelling (qa69's quoted-number refusal, ``planner.spec.schema._number_text``), JSON
jobs, catalog overrides' bool cells (``catalog.bool_cell``) with invisible and look-alike characters,
``benchmarks/inverted_pairs.py`` on hostile CSVs (``read_table``'s ``numbers``) and interleaved pipeline layouts at
the schema's limits (the list scheduler's ``_sweep`` and the in-flight replay).

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``). The reference for a number is YAML 1.2's core
schema (yaml.org/spec/1.2.2 section 10.3.2), restated here (``_yaml12``), not imported from the loader.

Found by it (fixed at the root, each pinned below): PyYAML's YAML 1.1 numbers were read without a word where YAML 1.2
reads another number or text (``global_batch: 0100`` was the octal 64, ``1:04`` the sexagesimal 64, ``6_4`` 64,
``!!float 1_0.5`` 10.5): the loader now resolves YAML 1.2's numbers (hardware_catalog.files ``_PLAIN_INT`` /
``_PLAIN_FLOAT``, ``yaml12_number`` for ``-.5``, ``0o17``, ``089``); a quoted (or ``!!str``, or JSON) ``"1e5"`` read
as the number (``files.QuotedText`` marks it); ``６４``, ``٦٤`` and ``6_4`` were refused as "quoted: write the number
unquoted", advice that still reads text; and an interleaved layout's in-flight replay built an (m v x v) table, so
``global_batch: 67108864`` (the field's limit) at PP8 VPP12 was killed for memory (77 GB) and 10^6 took 48 s
(``pipeline._interleaved_replay`` in closed form)."""
from __future__ import annotations

import json
import math
import re

import pytest
import yaml

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import ERROR_LINE, check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

from planner.spec import schema as S  # noqa: E402
from test_fuzz44 import _block  # block YAML of a drawn job, one writer for both fuzzers
from test_qa69 import _pairs_main  # inverted_pairs.main in-process: (code, stdout, stderr)

BASE = {"model": {"preset": "gpt2"}, "training": {"seq_len": "1024", "global_batch": "64", "tokens": "1.0e9"},
        "cluster": {"gpu": "H100", "nodes": "1"}}
NEEDS = {("model", "moe"): {"experts": "8", "top_k": "2"}}

# ---------------------------------------------------------------------------- YAML 1.2's numbers, restated
_INT12 = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT12 = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _yaml12(text: str):
    """What YAML 1.2's core schema reads a plain scalar ``text`` as: an int, a float, or None (text)."""
    if _INT12.fullmatch(text):
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return math.inf if len(text) > 300 else int(text[2:] if base != 10 else text, base)  # (past a float: inf)
    if _FLOAT12.fullmatch(text):
        return float(text)
    specials = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    return specials.get(text.lower())


def _numeric_fields(cls=S.JobSpec, path=()) -> list[tuple[tuple[str, ...], bool]]:
    """Every field of a job that takes numbers only (not text, not a bool): (path, takes a list)."""
    from hardware_catalog.errors import _model_in

    out = []
    for name, f in cls.model_fields.items():
        key = path + (f.alias or name,)
        if S._takes(f.annotation, (int, float)) and not S._takes(f.annotation, (str, bool)):
            out.append((key, S._takes(f.annotation, (list,)) or "list" in str(f.annotation)))
        sub = _model_in(f.annotation)
        if sub is not None:
            out.extend(_numeric_fields(sub, key))
    return out


NUMERIC = _numeric_fields()
SPELLINGS = ["64", "+64", "0x40", "0o100", "0100", "089", "64.", "64.0", ".5", "-.5", "+.5", "6.4e1", "640e-1", "1e5",
             "1E5", "1_000", "6_4", "1:04", "0b1", ".inf", "-.inf", ".nan", "nan", "inf", "9" * 5000, "1" + "0" * 400,
             "１", "６４", "٦٤", "\u00a064", "64\u200b", "1e5x", "0x", "-0x40", "abc", ""]
STYLES = ["plain", "single", "double", "literal", "folded", "anchor", "alias", "tag-str", "tag-int", "tag-float",
          "list"]


def _written(style: str, v: str) -> str:
    e = v or "''"
    return {"plain": e, "single": f"'{v}'", "double": f'"{v}"', "literal": f"|-\n{v or 'x'}",
            "folded": f">-\n{v or 'x'}", "anchor": f"&n {e}", "alias": "*n", "tag-str": f"!!str {e}",
            "tag-int": f"!!int {e}", "tag-float": f"!!float {e}", "list": f"[{e}]"}[style]


def _job(field: tuple[str, ...], raw: str, holder: str | None = None) -> dict:
    job = json.loads(json.dumps(BASE))
    if holder is not None:  # the anchor an alias names, on model.name (text), written first
        job["model"] = {"name": holder, **job["model"]}
    node = job
    for i, k in enumerate(field[:-1]):
        node = node.setdefault(k, dict(NEEDS.get(tuple(field[:i + 1]), {})))
    node[field[-1]] = raw
    return job


def _kind(style: str, v: str) -> str:
    """What the drawn scalar is to a numeric field: "number" (YAML 1.2 reads a number: the field's own bounds
    decide), "quoted" (text YAML 1.2 would read as a finite number unquoted), "no-yaml-number" (text Python reads as a
    finite number and YAML does not), "tag" (an explicit tag on text not of its type: the loader's refusal), or
    "other" (any other text, a special, a list where one number is due)."""
    quoted = style in ("single", "double", "literal", "folded", "tag-str")
    n = _yaml12(v)
    if style in ("tag-int", "tag-float"):
        ok = _INT12.fullmatch(v) if style == "tag-int" else n is not None
        return "number" if ok else "tag"
    if not quoted and n is not None:
        return "number"
    if quoted and n is not None:
        return "quoted" if math.isfinite(n) else "other"
    try:
        return "no-yaml-number" if math.isfinite(float(v)) else "other"
    except ValueError:
        return "other"


@fuzz_settings(200)
@given(field=st.sampled_from(NUMERIC), spelling=st.sampled_from(SPELLINGS), style=st.sampled_from(STYLES))
def test_fuzz_every_numeric_field_in_every_scalar_style(tmp_path_factory, field, spelling, style):
    """A numeric field takes a number as YAML 1.2 reads it, in any style that keeps it a number (plain, anchored,
    aliased, ``!!int`` / ``!!float`` on a number); quoted text that reads as a number is refused naming the field
    and the remedy ("quoted: write the number unquoted"), text Python reads as a number and YAML does not (look-alike
    digits, underscores, a no-break space) as no YAML number; never a traceback, nothing written."""
    (path, listed) = field
    d = tmp_path_factory.mktemp("num")
    raw = _written(style, spelling)
    if listed and style != "list":
        raw = f"[{raw}]" if "\n" not in raw else raw
    job = _job(path, raw, holder=("&n " + (spelling or "''")) if style == "alias" else None)
    if style == "alias":  # the anchor sits on model.name (text), the alias on the field
        job["model"]["name"] = "&n " + (f"'{spelling}'" if _yaml12(spelling) is not None or not spelling else spelling)
    p = d / "job.yaml"
    p.write_text(_block(job), encoding="utf-8")
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    kind = _kind({"anchor": "plain", "list": "plain", "alias": "plain" if _yaml12(spelling) is None and spelling
                  else "single"}.get(style, style), spelling)  # (the alias names a quoted text where it reads a number)
    name = ".".join(path)
    if kind == "quoted":
        assert line is not None and line.startswith(f"error: {name}") and "(quoted: write the number unquoted)" in line, \
            (raw, line)
    elif kind == "no-yaml-number":
        assert line is not None and line.startswith(f"error: {name}") and "YAML reads it as text" in line, (raw, line)
    elif kind == "tag":
        assert line is not None and re.match(rf"error: job: .*: line \d+: {re.escape(name)}(\[0\])?: !!\w+ ", line), (raw, line)
    if line is not None:
        assert "(quoted: write" not in line or kind == "quoted", (raw, line)
    assert stray(d, {p.name}) == []


#: (field, spellings that YAML 1.2 reads as the same number): an accepted one plans as the plain number
SAME = {("training", "global_batch"): ["64", "+64", "0x40", "0o100", "64.", "64.0", "6.4e1", "640e-1", "!!int 64",
                                       "!!float 64", "!!int 0x40", "&g 64"],
        ("training", "tokens"): ["1.0e9", "1e9", "1E9", "1000000000", "+1e9", "1.e9", "!!float 1e9", "0x3B9ACA00"],
        ("cluster", "nodes"): ["1", "0x1", "0o1", "01", "1.0", "+1", "1e0"]}


@fuzz_settings(16)
@given(case=st.sampled_from([(f, v) for f, vs in SAME.items() for v in vs]))
def test_fuzz_accepted_forms_plan_as_the_plain_number(tmp_path_factory, case):
    field, raw = case
    d = tmp_path_factory.mktemp("same")
    plain, written = d / "plain.yaml", d / "job.yaml"
    plain.write_text(_block(_job(field, SAME[field][0])))
    written.write_text(_block(_job(field, raw)))
    assert run_cli("estimate", written, "--json")[:2] == run_cli("estimate", plain, "--json")[:2]


JSON_VALUES = ["64", "1e5", "6.4e1", "0x40", "-.5", "0o100", " 64", "６４", "abc", "", 64, 64.0, 1e5]


@fuzz_settings(30)
@given(field=st.sampled_from([f for f, listed in NUMERIC if not listed]), value=st.sampled_from(JSON_VALUES))
def test_fuzz_json_job_numbers(tmp_path_factory, field, value):
    """A JSON job's string is quoted text: one that reads as a number is refused naming the field (JSON's ``"1e5"``
    read as 100000 until fuzz45); its numbers are numbers."""
    d = tmp_path_factory.mktemp("json")
    job = {"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
           "cluster": {"gpu": "H100", "nodes": 1}}
    node = job
    for i, k in enumerate(field[:-1]):
        node = node.setdefault(k, {kk: int(vv) for kk, vv in NEEDS.get(tuple(field[:i + 1]), {}).items()})
    node[field[-1]] = value
    p = d / "job.json"
    p.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    code, out, err = run_cli("estimate", p, "--json")
    line = check_outcome(code, out, err)
    if isinstance(value, str) and _yaml12(value.strip()) is not None:
        assert line is not None and line.startswith(f"error: {'.'.join(field)}: must be a number, got the text"), line
    assert stray(d, {p.name}) == []


@pytest.mark.parametrize("raw, said", [
    ("0100", "error: training.global_batch: global_batch=100 is not a multiple of micro_batch*dp = 1*8"),
    ("1:04", "error: training.global_batch: must be a whole number, got '1:04'"),
    ("6_4", "error: training.global_batch: must be a number, got the text '6_4' (YAML reads it as text: write the "
            "number in the digits 0-9, unquoted)"),
    ("0b1000000", "error: training.global_batch: must be a whole number, got '0b1000000'"),
    ("'1e5'", "error: training.global_batch: must be a number, got the text '1e5' (quoted: write the number unquoted)"),
    ("!!str 6.4e1", "error: training.global_batch: must be a number, got the text '6.4e1' (quoted: write the number "
                    "unquoted)"),
    ("'６４'", "error: training.global_batch: must be a number, got the text '６４' (YAML reads it as text: write the "
              "number in the digits 0-9, unquoted)"),
    ("!!float 1_0.5", "line 5: training.global_batch: !!float '1_0.5' is not a number"),
])
def test_yaml11_numbers_and_quoted_exponents_are_refused_or_read_as_yaml12(tmp_path, raw, said):
    """Found by test_fuzz_every_numeric_field_in_every_scalar_style: ``0100`` planned 64 sequences (YAML 1.1's octal),
    ``1:04`` and ``6_4`` 64, ``0b1000000`` 64; a quoted ``'1e5'`` or ``!!str 6.4e1`` read as the number; ``６４`` was
    called quoted."""
    p = tmp_path / "job.yaml"
    p.write_text(_block(_job(("training", "global_batch"), raw)))
    code, out, err = run_cli("estimate", p, "--json")
    assert code == 2 and err.strip().endswith(said) and ERROR_LINE.match(err.strip()), err


def test_a_quoted_exponent_round_trips_through_safe_dump():
    """The guard: text a file quoted stays quoted through ``yaml.safe_dump`` (``QuotedText``'s representer), and a
    plain ``1e5`` (YAML 1.1's text) is dumped and read back plain; JSON's ``"1e5"`` is the same text."""
    from hardware_catalog.files import QuotedText, parse_json, parse_yaml

    doc = parse_yaml("a: '1e5'\nb: 1e5\nc: [\"-.5\", 0100, 0o17]\nname: 1e5\n", "job", "j.yaml")
    assert doc == {"a": "1e5", "b": "1e5", "c": ["-.5", 100, "0o17"], "name": "1e5"}
    assert type(doc["a"]) is QuotedText and type(doc["b"]) is str and type(doc["c"][0]) is QuotedText
    again = parse_yaml(yaml.safe_dump(doc), "job", "j.yaml")
    assert again == doc and [type(again[k]) for k in "ab"] == [QuotedText, str]
    assert type(parse_json('{"a": ["1e5"], "b": "x"}', "job", "j.json")["a"][0]) is QuotedText


def test_a_quoted_exponent_in_a_catalog_override_is_still_a_number(tmp_path):
    """The guard: a catalog override's cells are text by nature and keep reading numbers, quoted too."""
    cat = tmp_path / "o.yaml"
    cat.write_text("instances:\n  - {cloud: onprem, name: x8, gpu: H100, gpu_count: '8e0', price_ondemand_usd_hr: '2e1',"
                   " source: quote}\n")
    code, out, err = run_cli("catalog", "instances", "--catalog", cat)
    assert code == 0, err


# ---------------------------------------------------------------------------- catalog overrides' bool cells
BOOL_CELLS = ["\ufefftrue", "true\u00a0", "\u00a0false", "tr\u200bue", "True\n", "TRUE\r", "１", "ｔｒｕｅ", "true\x00",
              "x" * 5000, "t" * 200 + "rue", "\u202etrue", "\t", "true false", "\"true\"", "ture"]


@fuzz_settings(24)
@given(cell=st.sampled_from(BOOL_CELLS), fmt=st.sampled_from(["csv", "yaml"]))
def test_fuzz_catalog_override_hostile_bool_cells(tmp_path_factory, cell, fmt):
    """``instances[].cluster`` holding a byte-order mark, a no-break or zero-width space, a line end, full-width
    letters or digits, a NUL or 5,000 characters: the row added with true / false / unset, or one printable line
    naming the override and the column, its quote bounded."""
    d = tmp_path_factory.mktemp("cell")
    row = {"cloud": "onprem", "name": "x8", "gpu": "H100", "gpu_count": "8", "price_ondemand_usd_hr": "20",
           "source": "quote"}
    if fmt == "csv":
        text = ",".join([*row, "cluster"]) + "\n" + ",".join([*row.values(), json.dumps(cell, ensure_ascii=False)]) + "\n"
    else:
        text = yaml.safe_dump({"instances": [{**row, "cluster": cell}]}, allow_unicode=False)
    cat = d / f"over.{fmt}"
    cat.write_text(text, encoding="utf-8")
    code, out, err = run_cli("catalog", "instances", "--catalog", cat)
    line = check_outcome(code, out, err, json_out=False)
    if line is not None:
        assert len(line) < 600 and "\x00" not in line, line[:300]
        assert line.startswith(f"error: catalog override {cat.name}: "), line[:300]
        assert "instances[0].cluster" in line or "malformed" in line, line[:300]
    else:
        assert cell.strip().lower() in ("true", "false", ""), cell  # (str.strip: the no-break space, a line end)
    assert stray(d, {cat.name}) == []


# ---------------------------------------------------------------------------- benchmarks/inverted_pairs.py
IP_HEAD = ["source", "model", "gpus", "tp", "pp", "dp", "mb", "gb", "measured_s", "predicted_s"]
IP_CELL = st.sampled_from(["1", "2", "0", "-1", "0.5", "abc", "", "nan", "inf", "1e-300", "1e400", "\"1,5\"", "\"",
                           "s", "m/gb64", "８", "\u00a01", "x" * 300])


@fuzz_settings(60)
@given(head=st.lists(st.sampled_from(IP_HEAD + ["extra"]), max_size=11), full_head=st.booleans(),
       rows=st.lists(st.lists(IP_CELL, max_size=11), max_size=4),
       raw=st.sampled_from([None, None, None, b"", b"\xff\xfe", b"\x00\x01", b"\"open\n", b"\n\n", b"\xef\xbb\xbf"]),
       source=st.sampled_from(["s", "x", "", "\x1b[31m"]))
def test_fuzz_inverted_pairs_csv(tmp_path_factory, head, full_head, rows, raw, source):
    """Any CSV and any ``--source``: the table (exit 0) or one printable line ``error: csv: ...`` / ``error:
    --source: ...``, exit 2, never a traceback."""
    d = tmp_path_factory.mktemp("ip")
    p = d / "rows.csv"
    if raw is not None:
        p.write_bytes(raw)
    else:
        cols = IP_HEAD if full_head else head
        p.write_text("\n".join([",".join(cols)] + [",".join(r[:len(cols)] or ["s"]) for r in rows]) + "\n")
    code, out, err = _pairs_main(p, source)
    assert "Traceback" not in out + err
    if code:
        line = err.strip()
        assert code == 2 and "\n" not in line and ERROR_LINE.match(line), err
        assert line.startswith(("error: csv: ", "error: --source: ")), line
        assert "\x1b" not in line, line
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------- interleaved layouts at the limits
#: (pp, vpp, global batch, Megatron's micro-batch group): vpp a divisor of GPT-3 175B's 96 layers / pp (others are
#: refused before any schedule is built), the global batch up to the schema's 2^26
LAYOUTS = st.sampled_from([2, 3, 4, 8, 12, 24, 48, 96]).flatmap(lambda pp: st.tuples(
    st.just(pp), st.sampled_from([v for v in range(1, 49) if (96 // pp) % v == 0]),
    st.sampled_from([1, 2, 3, 5, 7, 8, 96, 1000, 4096, 1 << 20, 1 << 26]), st.sampled_from([None, pp, 2 * pp])))


@fuzz_settings(16)
@given(layout=LAYOUTS, cmd=st.sampled_from(["estimate", "simulate"]))
def test_fuzz_interleaved_layouts_at_the_limits(tmp_path_factory, layout, cmd):
    """pp up to 96 (GPT-3 175B's layers), vpp up to 48, a global batch up to the schema's 2^26 micro-batches and
    Megatron's explicit micro-batch group: a plan or one line, within ``HANG_S``. Until fuzz45 the interleaved
    in-flight replay built an (m v x v) table: 2^26 micro-batches at VPP12 asked 77 GB."""
    pp, vpp, gb, group = layout
    d = tmp_path_factory.mktemp("pp")
    fw = {"name": "megatron-core"} | ({"microbatch_group_size": group} if group else {})
    job = {"model": {"preset": "gpt3-175b"},
           "training": {"seq_len": 2048, "global_batch": gb, "micro_batch": 1, "tokens": 1e9, "framework": fw},
           "cluster": {"gpu": "H100", "nodes": max(1, pp // 8)},
           "parallel": {"pp": pp, "vpp": vpp, "tp": 8 // math.gcd(pp, 8), "dp": 1}}
    p = d / "job.yaml"
    p.write_text(yaml.safe_dump(job))
    code, out, err = run_cli(cmd, p, "--json")
    check_outcome(code, out, err)
    assert stray(d, {p.name}) == []


def test_the_interleaved_replay_at_the_global_batch_limit_is_bounded():
    """Found by test_fuzz_interleaved_layouts_at_the_limits: ``chunk_inflight`` built and summed an (m v x v) table,
    at 2^26 micro-batches PP8 VPP12 77 GB (killed); it now evaluates the steps it keeps (a few MB at 2^18, where the
    table was ~300 MB), and agrees with the small replay's docstring case and the limit's warm-up."""
    import tracemalloc

    from planner.model.pipeline import chunk_inflight, chunk_inflight_paired

    tracemalloc.start()
    try:
        chunk_inflight.__wrapped__(8, 1 << 18, 12, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak
    big = chunk_inflight.__wrapped__(8, 1 << 26, 12, 0)  # (42 states until mbgroup45 kept the turning ones only)
    assert big.shape == (22, 12) and set(big.sum(axis=1)) == {(8 - 1) * 2 + 11 * 8 + 1}  # (the warm-up + 1)
    assert chunk_inflight_paired.__wrapped__(8, 1 << 26, 12, 3).shape[1] == 13
    assert chunk_inflight.__wrapped__(4, 8, 2, 0).tolist() == [[7.0, 4.0], [8.0, 3.0]]
