"""Hostile input for what sessions 42-43 added, end to end through the CLI (fuzz43): ``training.framework.
gradient_accumulation_fusion`` (gaf43), ``cluster.power_limit_w`` with ``recommend --emit`` and ``--csv`` to a path,
``constraints.max_price_per_gpu_hour`` / ``max_gpus`` (cost42), catalog override files' ``system_prices`` rows
(gbprice42), serving jobs' SLO fields, and YAML's odd scalars (``1e-9``, ``.inf``, ``.nan``, ``0x10``, ``1_000``), very
long strings, deeply nested mappings and duplicate keys in those sections.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``): exit 0 with strict JSON (or the launch spec / file
asked for), or exit 2 and one line ``error: <field>: <message>``; never a traceback or an internal error, nothing left
half-written, no user file replaced without ``--force``. Jobs are written as YAML text with the drawn scalars verbatim,
so the loader reads ``1e-9`` as it reads a user's file: a YAML-1.2-style float read as a number or refused in one line
both pass (another helper, qa67, changes how the loader reads it). Examples are derandomised (``fuzz_settings``);
``FUZZ_EXAMPLES`` scales them.

Found by it (fixed at the root): a power limit the GPU cannot be held at was quoted rounded to whole watts, so
``power_limit_w: 700.4`` read "700 W is above H100-SXM-80GB's rated 700 W", 199.6 "200 W is below ... minimum power
limit, 200 W" and ``1e-9`` "held at 0 W" (planner.hardware.power ``limit_error``; now the value as given,
``units.fmt_given``); and a catalog override's refusal ran past the one-line cap (300 characters a message,
``hardware_catalog.errors.MESSAGE_CHARS``): ``CatalogError`` wrote the message as given into its line, not the one
``InputError`` had capped, so a GB200 rack rate under the price floor (10 $/rack-h: a per-GPU slip) was a 446-character
message (a 517-character line), 524 with an 80-character provider name; the floor refusal is now fitted
(``fit_message``: its asides give way, the remedies "give the price per node-hour" and "name its cloud onprem" stay)
and every override refusal capped."""
from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import ERROR_LINE, check_outcome, fuzz_settings, run_cli, stray  # noqa: E402

RACK = "nvidia:DGX-GB200-NVL72"
MEGATRON = ["megatron-core", "nemo", "megatron-bridge", "megatron-lm"]
OTHERS = ["torchtitan", "deepspeed", "hf-trainer", "llm-foundry", "pytorch-ddp", "nemo-automodel"]
LONG = "'" + "x" * 20_000 + "'"
NESTED = "{a: " * 80 + "1" + "}" * 80  # past the loader's 64 levels
#: YAML scalars as a user types them: the odd forms (YAML 1.1 hex, octal and underscores, 1.2 exponent floats,
#: special floats), wrong types, a 400-digit integer, a 20,000-character string and an 80-deep mapping
ODD = ["1e-9", "1.0e-9", ".inf", "-.inf", ".nan", ".NaN", "0x10", "0o17", "1_000", "-5", "0", "-0.0", "1e300",
       "true", "'500'", "null", "[1]", "{a: 1}", "9" * 400, LONG, NESTED]


def _mostly(good, bad=ODD):
    """A value from ``good`` three times in four, else an odd scalar."""
    return st.integers(0, 3).flatmap(lambda i: st.sampled_from(bad) if i == 0 else st.sampled_from(good))


def _flow(fields: dict) -> str:
    """A YAML flow mapping of ``fields``, each value the raw scalar text drawn (so the loader reads it, not us)."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def _write(d, text: str, name: str = "job.yaml"):
    p = d / name
    p.write_text(text, encoding="utf-8")
    return p


def _one_line(code, out, err, json_out=True):
    line = check_outcome(code, out, err, json_out)
    return line


# ---------------------------------------------------------------------------- gradient-accumulation fusion (gaf43)
GAF_VALUES = _mostly(["true", "false", "false", "True", "FALSE"], ["'yes'", "2", ".nan", "null", "[true]", "{a: 1}",
                                                                  LONG, "1e-9", "0x1"])
GAF_COMMANDS = {"estimate": ("estimate", "{job}", "--json"),
                "recommend": ("recommend", "{job}", "--json", "--no-simulate", "--top", "2"),
                "emit": ("recommend", "{job}", "--no-simulate", "--emit", "{emit}")}


@fuzz_settings(45)
@given(stack=st.sampled_from(MEGATRON * 2 + OTHERS + ["auto"]), value=GAF_VALUES, cmd=st.sampled_from(sorted(GAF_COMMANDS)),
       emit=st.sampled_from(["torchrun", "slurm", "skypilot", "k8s", "slurm:megatron", "k8s:fsdp"]),
       dup=st.integers(0, 9))
def test_fuzz_gradient_accumulation_fusion(tmp_path_factory, stack, value, cmd, emit, dup):
    """The switch on every stack and command: a bool on a stack without it (torchtitan, DeepSpeed, the HF stacks) is
    refused by that field; on a Megatron stack ``false`` reaches the Megatron launch as
    ``--no-gradient-accumulation-fusion``; anything else is one line or a plan."""
    d = tmp_path_factory.mktemp("gaf")
    fw = {"name": stack, "gradient_accumulation_fusion": value}
    dupe = ", gradient_accumulation_fusion: true" if dup == 0 else ""  # a duplicate key: refused by the loader
    job = ("model: {preset: llama3-8b}\n"
           f"training: {{seq_len: 4096, global_batch: 256, micro_batch: 1, tokens: 1.0e11, framework: "
           f"{_flow(fw)[:-1]}{dupe}}}}}\n"
           "cluster: {instance: aws:p5.48xlarge, nodes: 2}\nparallel: {tp: 2, pp: 1, dp: 8}\n")
    p = _write(d, job)
    code, out, err = run_cli(*(a.format(job=p, emit=emit) for a in GAF_COMMANDS[cmd]))
    line = _one_line(code, out, err, json_out=cmd != "emit")
    boolean = value.lower() in ("true", "false")
    if boolean and dup and stack in OTHERS:
        assert line is not None and line.startswith("error: training.framework.gradient_accumulation_fusion: "), line
    if dup == 0:
        assert line is not None and "duplicate key" in line, line
    if code == 0 and cmd == "emit" and value.lower() == "false" and stack in MEGATRON and ":" not in emit:
        assert "--no-gradient-accumulation-fusion" in out
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------- power limit, price cap, emit to a path
POWER = _mostly(["300", "500", "700", "700.4", "199.6", "1_000", "0x190"])
MAX_GPUS = _mostly(["8", "16", "0x10", "1_000"], ["0", "-1", "8.5", ".inf", "1e-9", "1048577", "true", "'8'", LONG])
PRICE_CAP = _mostly(["5", "10", "100", "1_000", "1e300"], ["0", "-1", "1e-9", ".inf", ".nan", "0x10", "true", "'4'",
                                                         LONG, NESTED])
TARGETS = ["out.csv", "existing.csv", "adir", "adir/", "ro/x.csv", "nope/x.csv", "a\nb.csv", "a b.csv",
           "\u00e9\u202e.csv", "x" * 300 + ".csv", "", "-", "/proc/planner-fuzz43.csv", None]
EMIT = ["torchrun", "slurm", "skypilot", "k8s", "slurm:megatron", "k8s:fsdp", "torchrun:automodel", "slurm:nope"]


def _folder(d):
    (d / "existing.csv").write_text("user data\n")
    (d / "adir").mkdir()
    (d / "adir" / "keep.txt").write_text("keep")
    (d / "ro").mkdir()
    os.chmod(d / "ro", 0o500)  # (root writes there all the same: then it is one more new path)
    return {"existing.csv", "adir", "adir/keep.txt", "ro"}


@fuzz_settings(45)
@given(power=st.one_of(st.none(), POWER), max_gpus=MAX_GPUS, cap=st.one_of(st.none(), PRICE_CAP),
       emit=st.sampled_from(EMIT), target=st.sampled_from(TARGETS), force=st.booleans(), spot=st.booleans())
def test_fuzz_power_price_cap_and_emit_to_a_path(tmp_path_factory, power, max_gpus, cap, emit, target, force, spot):
    """``recommend --emit`` with ``--csv`` to every kind of path under a drawn power limit, GPU cap and price cap: the
    launch is printed and the CSV written, or one line; an existing file is replaced only with --force, a folder
    never, and a refusal leaves the folder as it was."""
    d = tmp_path_factory.mktemp("emit")
    before = _folder(d)
    cluster = {} if power is None else {"power_limit_w": power}
    cons = {"clouds": "[aws]", "gpus": "[H100, A100]", "max_gpus": max_gpus, "spot": str(spot).lower()}
    if cap is not None:
        cons["max_price_per_gpu_hour"] = cap
    job = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
           f"cluster: {_flow(cluster)}\nconstraints: {_flow(cons)}\n")
    p = _write(d, job)
    args = ["recommend", p, "--no-simulate", "--emit", emit]
    path = None
    if target is not None:
        path = target if target.startswith("/") or target in ("", "-") else str(d / target)
        args += ["--csv", path] + (["--force"] if force else [])
    code, out, err = run_cli(*args, cwd=d)
    line = _one_line(code, out, err, json_out=False)
    assert (d / "adir" / "keep.txt").read_text() == "keep"
    replaced = code == 0 and target == "existing.csv"
    assert replaced == (code == 0 and target == "existing.csv" and force)  # never replaced without --force
    if not replaced:
        assert (d / "existing.csv").read_text() == "user data\n"
    if target in ("adir", "adir/", "nope/x.csv", "", "-"):
        assert line is not None and line.startswith("error: --csv: "), line
    if code == 0:
        assert out.strip() and "\x1b" not in out and "\x07" not in out
        if path is not None:
            assert os.path.isfile(path) and open(path, encoding="utf-8").readline().startswith("hardware,")
    new = set(stray(d, {p.name})) - before
    if code != 0 or path is None:
        assert new == set(), new  # a refusal, or no --csv: nothing written
    else:
        assert not [n for n in new if ".tmp" in n or n.startswith(".")], new


# ---------------------------------------------------------------------------- system_prices override rows (gbprice42)
PRICE_COLUMNS = ["system", "provider", "region", "price_ondemand_usd_hr", "price_date", "read", "source", "notes"]
CELL = {
    "system": _mostly([RACK, RACK.lower(), "NVIDIA:dgx-gb200-nvl72"], ["nvidia:DGX-H100", "", RACK + "\u202e", "gb200",
                                                                      "x" * 500, "5"]),
    "provider": _mostly(["coreweave", "lambda", "CoreWeave", "onprem"], ["", "x" * 200, "a,b", "\x1b[31m"]),
    "price_ondemand_usd_hr": _mostly(["700", "756", "1152", "1_000", "2e3"],
                                     ["-700", "0", "nan", "NaN", "inf", "-inf", "1e-9", "1e8", "0x10", "10", "", "7e2x"]),
    "price_date": _mostly(["2026-12-01", "2026-09", "", "2026-12-01 (a quote)"],
                          ["2999-01-01", "2026-13-01", "yesterday", "2099-12", "1970-01-01", "20261201"]),
    "region": st.sampled_from(["", "us-east", "\u00e9"]),
    "read": st.sampled_from(["", "first-hand"]),
    "source": _mostly(["quote", "https://example.com/p"], ["", "x" * 20_000]),
    "notes": st.sampled_from(["", "n", "a \"quoted\" note"]),
}
ROW = st.fixed_dictionaries({k: CELL[k] for k in PRICE_COLUMNS})
#: the raw CSV line's hostile shapes: a quote never closed, text after a closing quote, a cell too many or too few
CSV_BREAK = st.sampled_from([None] * 6 + ["open quote", "after quote", "extra cell", "short row", "bad column"])


def _csv(rows, brk) -> str:
    head = PRICE_COLUMNS + (["price_spot_usd_hr"] if brk == "bad column" else [])
    lines = [",".join(head)]
    for r in rows:
        cells = ['"' + str(r[k]).replace('"', '""') + '"' if any(c in str(r[k]) for c in ',"\n') else str(r[k])
                 for k in PRICE_COLUMNS] + (["300"] if brk == "bad column" else [])
        if brk == "open quote":
            cells[3] = '"' + cells[3]
        elif brk == "after quote":
            cells[3] = f'"{cells[3]}"x'
        elif brk == "extra cell":
            cells.append("extra")
        elif brk == "short row":
            cells = cells[:2]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _yaml(rows, brk) -> str:
    body = "".join("  - {" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in r.items() if v != "") + "}\n"
                   for r in rows)
    if brk == "open quote":  # a YAML scalar never closed
        body = body.replace(f'price_ondemand_usd_hr: "{rows[0]["price_ondemand_usd_hr"]}"', "price_ondemand_usd_hr: '7", 1)
    elif brk == "extra cell":
        body = body.replace("{system", "{system: x, system", 1)  # a duplicate key
    elif brk == "short row":
        body += "  - " + NESTED + "\n"
    elif brk == "bad column":
        body = "  - hello\n" + body
    return "system_prices:\n" + body


def _rate_rule(rows) -> bool:
    """Whether the rows break a rule the override must refuse by its row: a price not a finite positive number, or
    dated past tomorrow (a day's grace: time zones) in a form the date rule reads."""
    for r in rows:
        try:
            price = float(str(r["price_ondemand_usd_hr"]).replace("_", ""))
        except ValueError:
            continue
        if not (price > 0) or price == float("inf"):
            return True
        if r["price_date"][:4] in ("2999", "2099"):
            return True
    return False


@fuzz_settings(50)
@given(rows=st.lists(ROW, min_size=1, max_size=3), fmt=st.sampled_from(["csv", "csv", "yaml"]), brk=CSV_BREAK,
       cmd=st.sampled_from(["recommend", "recommend", "catalog"]))
def test_fuzz_system_price_rows(tmp_path_factory, rows, fmt, brk, cmd):
    """A user's provider rates for the GB200 NVL72 rack: a plan priced from them (dated, positive, finite), or the
    override refused in one line naming the file; a non-finite, non-positive or future-dated rate is always refused."""
    d = tmp_path_factory.mktemp("sysprice")
    cat = _write(d, _csv(rows, brk) if fmt == "csv" else _yaml(rows, brk), f"prices.{fmt}")
    p = _write(d, "model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 960, micro_batch: 1, "
                  "tokens: 1.0e11, recompute: selective, framework: {name: megatron-core}}\ncluster: {gpu: GB200-B200}\n")
    if cmd == "catalog":
        code, out, err = run_cli("catalog", "systems", "--catalog", cat)
    else:
        code, out, err = run_cli("recommend", p, "--json", "--no-simulate", "--top", "1", "--catalog", cat)
    line = _one_line(code, out, err, json_out=cmd != "catalog")
    if line is not None and line.startswith("error: catalog override"):
        assert line.startswith(f"error: catalog override {cat.name}: "), line
    if brk is None and _rate_rule(rows):
        assert line is not None and line.startswith(f"error: catalog override {cat.name}: "), line
    if code == 0 and cmd == "recommend":
        cost = json.loads(out)["best"]["cost"]
        assert cost["cost_ondemand_usd"] is None or 0 < cost["cost_ondemand_usd"] < float("inf")
    assert stray(d, {p.name, cat.name}) == []


# ---------------------------------------------------------------------------- serving SLO fields
SLO = {
    "p99_latency_ms": _mostly(["100", "50.0", "1e3", "1_000", "0.001"], ["0", "-1", ".inf", "1e8", "1e-9", "0x10", "null"]),
    "ttft_ms": _mostly(["500", "2000", "1e7", "0.5"], ["0", "-1", ".inf", ".nan", "1e-9", "1e300", "'fast'"]),
    "prompt_tokens": _mostly(["128", "512", "0x80", "1_024"], ["0", "-1", "1.5", "1e-9", "16777216", "16777217", LONG]),
    "output_tokens": _mostly(["32", "64"], ["0", "1e6", "1.5", "-0.0", "9" * 400]),
    "qps": _mostly(["1.0", "0.5", "2"], ["1e-6", "1e-7", "1e9", ".inf", "0", "1_000"]),
    "max_batch": _mostly(["8", "64"], ["0", "65537", "1.5", "true"]),
    "shared_prefix_tokens": _mostly(["0", "16"], ["127", "128", "-1", "1e-9"]),
    "mode": _mostly(["realtime"], ["batch", "'offline'", "[realtime]"]),
    "requests": st.sampled_from(["1000", "0", "1e-300", "1e16", ".nan"]),
    "deadline_hours": st.sampled_from(["1", "0", "-1", "1e6", ".inf"]),
}


@fuzz_settings(25)
@given(fields=st.lists(st.sampled_from(sorted(SLO)), min_size=1, max_size=3, unique=True).flatmap(
    lambda ks: st.fixed_dictionaries({k: SLO[k] for k in ks})), dup=st.integers(0, 11))
def test_fuzz_serving_slo_fields(tmp_path_factory, fields, dup):
    """Token budgets and latency targets at 0, negative, inf, huge and in YAML's odd forms: a serving plan whose
    numbers are finite, or one line naming the field (or the loader's line for a duplicate key)."""
    d = tmp_path_factory.mktemp("serve")
    serving = {"qps": "1.0", "p99_latency_ms": "100.0", "prompt_tokens": "128", "output_tokens": "32", **fields}
    text = _flow(serving)
    if dup == 0:
        text = text[:-1] + ", qps: 2}"
    p = _write(d, f"model: {{preset: llama3-8b}}\nserving: {text}\nconstraints: {{clouds: [aws], gpus: [H100]}}\n")
    code, out, err = run_cli("serve", p, "--json", "--top", "2")
    line = _one_line(code, out, err)
    if dup == 0 or "qps" in fields and fields["qps"] in ("0", ".inf", "1e-7"):
        assert line is not None, out[:300]
    if line is not None and dup:
        assert line.startswith(("error: serving.", "error: job: ", "error: model.")), line
    assert stray(d, {p.name}) == []


# ---------------------------------------------------------------------------- pinned examples
@pytest.mark.parametrize("value, fixed, said", [
    ("700.4", True, "700.4 W is above H100-SXM-80GB's rated 700 W"),
    ("199.6", True, "199.6 W is below H100-SXM-80GB's minimum power limit, 200 W"),
    ("1e-9", False, "no searched GPU can be held at 1e-09 W: 1e-09 W is below"),
    ("0.4", False, "no searched GPU can be held at 0.4 W: 0.4 W is below"),
])
def test_power_limit_refusal_quotes_the_value_given(tmp_path, value, fixed, said):
    """Found by test_fuzz_power_price_cap_and_emit_to_a_path: the refusal rounded the job's limit to whole watts, so it
    read "700 W is above ... rated 700 W", "200 W is below ... 200 W" and "held at 0 W" (``1e-9`` read as a number by
    a YAML-1.2-style loader; as text it is refused as no number, also by the field)."""
    cluster = "{power_limit_w: %s, gpu: H100, nodes: 1}" if fixed else "{power_limit_w: %s}"
    job = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
           f"cluster: {cluster % value}\nconstraints: {{clouds: [aws], gpus: [H100], max_gpus: 8}}\n")
    p = _write(tmp_path, job)
    code, out, err = run_cli(*(["estimate", p, "--json"] if fixed else ["recommend", p, "--json", "--no-simulate"]))
    line = err.strip()
    assert code == 2 and "\n" not in line and ERROR_LINE.match(line), err
    assert line.startswith("error: cluster.power_limit_w: "), line
    if "must be a number" not in line:  # (1e-9 as YAML 1.1 text)
        assert said in line, line


@pytest.mark.parametrize("provider", ["ab", "a,b", "x" * 80])
def test_a_system_rate_under_the_floor_is_refused_within_the_cap(tmp_path, provider):
    """Found by test_fuzz_system_price_rows: a GB200 rack rate under the floor (10 $/rack-h, 0.14 $/GPU-h) was refused in
    a 446-character message (524 with an 80-character provider), past the 300 every other refusal keeps to; the
    message now keeps the rate, the floor and both remedies, its asides given way (``fit_message``)."""
    cell = '"a,b"' if provider == "a,b" else provider
    cat = _write(tmp_path, f"system,provider,price_ondemand_usd_hr,price_date,source\n{RACK},{cell},10,2026-12-01,q\n",
                 "prices.csv")
    code, out, err = run_cli("catalog", "systems", "--catalog", cat)
    line = err.strip()
    assert code == 2 and "\n" not in line and ERROR_LINE.match(line), err
    head = "error: catalog override prices.csv: system_prices[0].price_ondemand_usd_hr: "
    assert line.startswith(head + "10 $/node-h is 0.1389 $/GPU-h on "), line
    message = line[len(head):]
    assert len(message) <= 300, (len(message), line)
    assert "below the floor of 1.05 $/GPU-h" in message, line
    assert message.endswith("; give the price per node-hour; for hardware you own at an internal rate, name its cloud "
                            "onprem"), line


def test_every_catalog_override_refusal_is_capped():
    """``CatalogError`` with a file to name keeps the message InputError capped (``MESSAGE_CHARS``, its middle given
    way), as every other refusal does; until fuzz43 its line was built from the message as given."""
    from hardware_catalog.catalog import CatalogError
    from hardware_catalog.errors import MESSAGE_CHARS

    e = CatalogError("instances[0].notes", "a" * 400 + " what to do", "mine.csv")
    assert len(e.message) == MESSAGE_CHARS and str(e) == f"catalog override mine.csv: instances[0].notes: {e.message}"
    assert str(e).endswith(" what to do")
