"""The README against what the code does today (the readme38 audit); tests/test_docs22.py checks the field
reference's defaults and choices against the schema, this file the rest a newcomer leans on:

* the contents list at the top names every ``##`` / ``###`` heading, in order, with the anchor GitHub gives it;
* the two set-up commands are the lines ``.ci/run`` runs (they said ``pip install``, CI ran ``python -m pip
  install -q``);
* every flag ``planner X --help`` lists is in the "Commands" table's row for X (or the paragraph under it that
  gives ``--catalog`` / ``--profile`` to every planning command);
* the field reference names no field the schema refuses (the reverse of test_docs22's check);
* every scalar constant the parameter table names (``physics.ATTN_S_HALF``, ``offload.PCIE_EFF``, ...) has its
  code value written in its row, as written (``0.8``, ``5%``, ``32 GB/s``, ``24.75 us``, ``5e8``).
"""
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import planner
from planner.cli import click_command

from conftest import github_headings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
LINES = TEXT.splitlines()


def _section(title: str, level: str = "## ") -> str:
    start = TEXT.index(f"\n{level}{title}\n") + 1
    nxt = re.compile(rf"^#{{2,{len(level) - 1}}} ", re.M)
    m = nxt.search(TEXT, start + len(level) + len(title))
    return TEXT[start:m.start() if m else len(TEXT)]


# --- contents ---------------------------------------------------------------------------------------------------

def _headings() -> list[tuple[int, str, str]]:
    """(level, text, GitHub anchor) of the README's ``##`` to ``######`` headings (``github_headings``)."""
    return [h for h in github_headings(LINES) if h[0] >= 2]


def _contents() -> list[tuple[int, str, str]]:
    start = next((i for i, ln in enumerate(LINES) if ln.startswith("Contents (")), None)
    assert start is not None, "README has no contents list (a line starting 'Contents (' above the list)"
    out = []
    for ln in LINES[start + 2:]:
        if not ln.startswith("- "):
            break
        for k, (text, anchor) in enumerate(re.findall(r"\[(.+?)\]\(#([^)]+)\)(?= · |: \[|$)", ln[2:])):
            out.append((2 if k == 0 else 3, text, anchor))
    return out


def test_contents_lists_every_section_and_subsection_in_order():
    want = [h for h in _headings() if h[0] <= 3]
    got = _contents()
    assert len(want) > 50
    assert got == want, "README contents and headings differ:\n" + "\n".join(
        f"contents {g!r} vs heading {w!r}" for g, w in zip(got + [None] * len(want), want + [None] * len(got))
        if g != w)


def test_contents_anchor_rule_matches_github():
    # GitHub's anchors: lower case, punctuation but '-' and '_' dropped, each blank a '-', repeats numbered
    anchors = {a for *_, a in _headings()}
    assert {"simulator-planner-simulate", "the-preprocessing-tax-re-run-or-cache-by-hashinputs-code",
            "serving-simulated-tail-latency-replicas-for-the-qps--per-million-requests"} <= anchors


# --- set-up -----------------------------------------------------------------------------------------------------

def test_setup_commands_are_what_ci_runs():
    block = re.search(r"```bash\n(.*?)```", _section("Set-up"), re.S).group(1).strip().splitlines()
    assert len(block) == 2 and block[1] == "python -m pytest"
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    for cmd in block:
        assert cmd in ci, f"README set-up runs {cmd!r}; .ci/run does not (it runs the README's lines verbatim)"


# --- commands ---------------------------------------------------------------------------------------------------

def _leaves(cmd, path=()):
    if getattr(cmd, "commands", None):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            yield from _leaves(sub, path + (name,))
    else:
        yield path, cmd


COMMON = ("--catalog", "--profile")  # the paragraph under the table gives them to every planning command


def test_every_cli_flag_is_in_the_commands_table():
    section = _section("Commands")
    rows = [ln for ln in section.splitlines() if ln.startswith("| `planner ")]
    after = section[section.index("\n\n", section.index(rows[-1])):]
    problems = []
    for path, cmd in _leaves(click_command()):
        head = f"| `planner {path[0]}"
        row = next((r for r in rows if r.startswith(head + " ") or r.startswith(head + "`")), None)
        if row is None:
            problems.append(f"planner {' '.join(path)}: no row")
            continue
        if len(path) > 1 and path[1] not in row:
            problems.append(f"planner {' '.join(path)}: its subcommand is not in the row")
        for p in cmd.params:
            flags = [o for o in p.opts + p.secondary_opts if o.startswith("-")]
            if not flags or "--help" in flags:
                continue
            where = after if set(flags) & set(COMMON) else row
            # any of its spellings (`-o` for `--out`) documents the option
            if not any(re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", where) for f in flags):
                problems.append(f"planner {' '.join(path)} {'/'.join(flags)}: not in the README's Commands section")
    assert not problems, "\n".join(problems)


# --- field reference, the other way round ----------------------------------------------------------------------

def test_field_reference_names_no_field_the_schema_refuses():
    sys.path.insert(0, str(Path(__file__).parent))
    import test_docs22 as docs22
    fields = {}
    for section, name, *_ in docs22.CASES:
        fields.setdefault(section, set()).add(name)
    sections = set(fields)
    sub = {s.rsplit(".", 1)[-1] for s in sections if s}
    problems = []
    for section, row in docs22._reference_rows().items():
        if section not in sections:
            problems.append(f"section {section}: not in the schema")
        for name in re.findall(r"(?:^|; )`(\w+)` = ", row):
            if name not in fields.get(section, set()) and name not in sub:
                problems.append(f"{section}.{name}: listed, but the schema refuses it")
    assert not problems, "\n".join(problems)


# --- parameter table --------------------------------------------------------------------------------------------

def _modules() -> dict:
    mods = {}
    for info in pkgutil.walk_packages(planner.__path__, "planner."):
        if info.name.startswith(("planner.__main__",)):
            continue
        mods[info.name] = importlib.import_module(info.name)
    return mods


def _numbers(v):
    """The numbers in a constant: a scalar, or the numeric leaves of a flat tuple / dict (None: not numeric)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return [float(v)]
    if isinstance(v, (tuple, list)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return [float(x) for x in v]
    if isinstance(v, dict) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v.values()):
        return [float(x) for x in v.values()]
    return None


# a number as the table writes it: "1/3", "x1.138", "5e8", "0.8", "5%", "32 GB/s", "24.75 us" (not the 100 of "H100")
NUM = re.compile(r"(?<![\d.A-Za-wyz_])(?:(\d+)/(\d+)(?![\d.])|(\d[\d,]*(?:\.\d+)?)(?:e([+-]?\d+))?(\s*%|\s*GB/s|\s*us\b)?)")


def _written(row: str):
    """(value, half a unit of its last digit) of every number the row writes, in the constant's own unit."""
    for m in NUM.finditer(row):
        if m.group(1):
            yield int(m.group(1)) / int(m.group(2)), 1e-3
            continue
        digits, exp, unit = m.group(3).replace(",", ""), int(m.group(4) or 0), (m.group(5) or "").strip()
        dec = len(digits.split(".")[1]) if "." in digits else 0
        scale = {"%": 1e-2, "GB/s": 1e9, "us": 1e-6}.get(unit, 1.0) * 10.0 ** exp
        yield float(digits) * scale, 0.5 * 10.0 ** -dec * scale


# matmul ceilings (TFLOP/s) the row's fractions of peak are derived from, written in its "what it is" / source cells
QUOTED_INPUTS = {"MAMF_BF16_TFLOPS", "MAMF_FP8_TFLOPS"}


def _table_constants():
    text = _section("Parameters and where their values come from", "### ")
    mods = _modules()
    for row in text.splitlines():
        if not row.startswith("| `"):
            continue
        first, rest = row.split(" | ", 1)
        for name in re.findall(r"`([\w.]+)`", first):
            mod, _, const = name.rpartition(".")
            if not re.fullmatch(r"[A-Z][A-Z0-9_]+", const):
                continue
            hits = {repr(vars(m)[const]): vars(m)[const] for n, m in mods.items()
                    if const in vars(m) and (not mod or n.endswith("." + mod))}
            # the value(s) cell; measured inputs the row turns into its values are quoted in the cells after it
            yield name, list(hits.values()), rest if const in QUOTED_INPUTS else rest.split(" | ", 1)[0]


CONSTANTS = list(_table_constants())


def test_the_table_names_constants_the_code_has():
    missing = [name for name, values, _ in CONSTANTS if not values]
    assert len(CONSTANTS) > 30
    assert not missing, f"the parameter table names constants planner/ does not define: {missing}"


@pytest.mark.parametrize("name,values,row", [c for c in CONSTANTS if len(c[1]) == 1 and _numbers(c[1][0])],
                         ids=[c[0] for c in CONSTANTS if len(c[1]) == 1 and _numbers(c[1][0])])
def test_each_scalar_constant_in_the_parameter_table_has_its_code_value(name, values, row):
    written = list(_written(row))
    for v in _numbers(values[0]):
        assert any(abs(x - v) <= tol + 1e-12 * abs(v) for x, tol in written), (
            f"README parameter table: {name} = {v:g} in the code; the row writes none of "
            f"{sorted({round(x, 6) for x, _ in written})}")


def _recipe_rows():
    text = _section("Parameters and where their values come from", "### ")
    for row in text.splitlines():
        m = re.match(r"\| `RECIPES\[\*\]\.(\w+)`[^|]*\| ([^|]*) \|", row)
        if m:
            yield m.group(1), m.group(2)


def _recipe_value_ok(cell: str, names: list[str], recipe: str, v: float) -> bool:
    """A recipe's value is written beside its name -- after it (`tensorwise 6`, `tensorwise, delayed, blockwise 1`,
    `rowwise (torchao's, ...) 2`) or before it (`0.85 rowwise`, `1.03125 (mxfp8; blockwise: ...)`) -- or, for a
    recipe the cell does not name, it is the cell's first figure (the default) or the figure after `others`."""
    def same(s):
        return any(abs(x - v) <= tol + 1e-12 for x, tol in _written(s))
    alt = "|".join(names)
    num = r"(\d[\d.]*)"
    hits = list(re.finditer(rf"(?<![\w-])({alt})(?![\w-])", cell))
    if not any(h.group(1) == recipe for h in hits):
        first = next(iter(_written(cell)), None)
        others = re.search(r"others (\S+)", cell)
        return bool(first and abs(first[0] - v) <= first[1] + 1e-12) or bool(others and same(others.group(1)))
    for h in (h for h in hits if h.group(1) == recipe):
        after = re.match(rf"(?:,\s*(?:{alt}))*(?:\s*\([^)]*\))?\s+{num}", cell[h.end():])
        before = re.search(rf"{num}\s+\(?\s*(?:(?:{alt})[;,]\s*)*$", cell[:h.start()])
        if (after and same(after.group(1))) or (before and same(before.group(1))):
            return True
    return False


def test_each_recipe_field_in_the_parameter_table_gives_every_recipes_value():
    from planner.model.stack_kernels import RECIPES
    names = sorted(RECIPES, key=len, reverse=True)
    rows = dict(_recipe_rows())
    assert {"cast_bytes", "param_gather_bytes", "saved_bytes", "gemm_rel", "transpose_bytes"} <= set(rows)
    problems = [f"RECIPES[{r!r}].{field} = {getattr(rec, field):g}: the row's `{cell}` does not say so"
                for field, cell in rows.items() for r, rec in RECIPES.items()
                if not _recipe_value_ok(cell, names, r, float(getattr(rec, field)))]
    assert not problems, "\n".join(problems)


# --- figures quoted in prose ------------------------------------------------------------------------------------

def _advice(preset, recompute, parallel, cluster, key, **training):
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job
    t = dict(seq_len=2048, global_batch=256, micro_batch=1, precision="bf16", recompute=recompute, tokens=1e10)
    plan = estimate_job(load_job_dict({"model": {"preset": preset}, "training": {**t, **training},
                                       "parallel": parallel, "cluster": cluster}))
    return [a for a in plan.advice if a.startswith(key)]


def test_the_advice_lines_the_readme_quotes_are_what_estimate_prints():
    """"A first run" quotes two `advice:` lines (tests/test_advice.py's plans); they had gone stale (50.3 GiB for
    52.4; 105.2 s and -43% for 91.44 s and -34%)."""
    text = " ".join(_section("A first run").split())
    [rc] = _advice("llama3-8b", "full", {"tp": 2, "pp": 1}, {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2},
                   "recompute=none", seq_len=8192)
    [mb] = _advice("gpt3-175b", "full", {"tp": 1, "pp": 1, "zero": 3},
                   {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 48, "inter_node_gbps": 1600}, "micro_batch",
                   micro_batch=2, global_batch=1536, framework="deepspeed")
    assert f'"{rc}"' in text
    assert f'"{mb}"' in text


# --- where things are -------------------------------------------------------------------------------------------

def test_the_architecture_block_names_every_planner_module():
    """README "Architecture" is the map a newcomer reads the code by: every module of planner/ is on it (frame_csv,
    script_args and __main__ were not)."""
    block = re.search(r"```\n(shells .*?)```", _section("Architecture"), re.S).group(1)
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "planner").rglob("*.py"))
               if p.name != "__init__.py" and not re.search(rf"(?<![\w]){re.escape(p.stem)}(?![\w])", block)]
    assert not missing, f"README Architecture names no {missing}"


def test_every_link_in_the_readme_reaches_a_file_and_heading():
    """Each relative link ([text](docs/x.md#anchor), [text](#anchor)) opens an existing file at an existing heading
    (anchors as GitHub makes them, the rule of the contents test)."""
    anchors = {}
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", TEXT):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        f = ROOT / (path or "README.md")
        if not f.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and f.suffix == ".md":
            if f not in anchors:
                anchors[f] = {a for *_, a in github_headings(f.read_text(encoding="utf-8").splitlines())}
            if anchor not in anchors[f]:
                problems.append(f"{target}: no heading with that anchor")
    assert not problems, "\n".join(problems)


def _param_row(name: str) -> str:
    text = _section("Parameters and where their values come from", "### ")
    return next(r for r in text.splitlines() if r.startswith(f"| `{name}`")).split(" | ")[1]


@pytest.mark.parametrize("field", ["overlap_grad_reduce", "overlap_param_gather"])
def test_the_stacks_a_default_is_off_for_are_named_in_its_row(field):
    """The row says "off for A, B, on otherwise" / "on: ...; off: ..."; every stack a user can name whose registry
    default is off is among the off ones (megatron-core-gaudi and neuronx-distributed were not)."""
    from planner.model.stacks import STACKS
    from planner.vocab import FRAMEWORK
    cell = _param_row(field)
    off_part = re.search(r"off(?: for|:) ([^|;]*?)(?:, on otherwise|$|;)", cell).group(1)
    off = {n for n in FRAMEWORK.names if n in STACKS and not getattr(STACKS[n], field)}
    named = set(re.findall(r"[\w-]+", off_part))
    assert off <= named, f"README {field}: off for {sorted(off - named)} too"


def test_the_offloads_row_names_the_stacks_without_any():
    from planner.model.stacks import STACKS
    from planner.vocab import FRAMEWORK
    cell = _param_row("offloads")
    none = {n for n in FRAMEWORK.names if n in STACKS and not STACKS[n].offloads}
    named = set(re.findall(r"[\w-]+", re.search(r"none \(([^)]*)\)", cell).group(1)))
    assert none == named


def test_the_simulate_run_note_quotes_todays_numbers():
    """"Simulator": the note for resnet50-objectstore-files.yaml quotes estimate's step (it read 0.1891 s, 44.4 min,
    13.31x, for 0.1889 s, 44.3 min, 13.32x); the simulated pace is the seeded simulation's, checked by its tests."""
    from planner.spec import load_job
    from planner.workloads.training import estimate_job
    plan = estimate_job(load_job(ROOT / "examples" / "resnet50-objectstore-files.yaml"))
    text = " ".join(_section("Simulator: `planner simulate`").split())
    m = re.search(r"at its ([\d.]+) s per step \(wall / steps\) the run takes [\d.]+ h, where estimate's ([\d.]+) s "
                  r"step gives ([\d.]+) min \(([\d.]+)x\)", text)
    sim_step, est_step, est_min, ratio = (float(g) for g in m.groups())
    steps = int(re.search(r"the run: ([\d,]+) steps", text).group(1).replace(",", ""))
    assert est_step == float(f"{plan.step_time_s:.4g}")
    assert est_min == round(steps * plan.step_time_s / 60, 1)
    assert ratio == round(sim_step / plan.step_time_s, 2)
