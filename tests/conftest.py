import contextlib
import csv
import datetime
import io
import json
import os
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from one_rank import one_rank_group  # noqa: F401  (the tests import it from here; the truth scripts from one_rank)

# no hypothesis example may fail for its wall time (its default 200 ms deadline is a timing assert, and the
# suite runs on busy machines and beside other workers); each test's example count is set where it is written
# Under CI (the `CI` variable set, as CI services and hypothesis's own "ci" profile read it) the examples are
# derived from each test's name, so a run that lands can be rerun example for example; elsewhere they are drawn
# fresh, so the suite's local runs together still reach the strategies' corners.
settings.register_profile("planner", deadline=None, derandomize=bool(os.environ.get("CI")), database=None
                          if os.environ.get("CI") else settings.default.database)
settings.load_profile("planner")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: QA 42's RAG job (docs/qa_log.md "QA 42"): Llama-3.1-70B fp8 (kv fp8), 16,000 + 300 tokens -- prompts of ~8
#: budget-2,048 chunks each -- at 5 QPS on B200 (tests/test_serving_tpot.py, tests/test_serving_long_prompts.py)
RAG_JOB = {"model": {"preset": "llama3.1-70b"},
           "serving": {"qps": 5, "p99_latency_ms": 60, "ttft_ms": 3000, "prompt_tokens": 16000, "output_tokens": 300,
                       "precision": "fp8", "kv_precision": "fp8"},
           "constraints": {"instances": ["lambda:gpu_8x_b200_sxm6"]}}

os.environ.setdefault("COLUMNS", "150")


def _torch_state():
    """What a test may set process-wide in torch and never set back: the CPU RNG (``torch.manual_seed`` in a
    test or in Megatron's model build), the intra-op thread count (benchmarks/dataloader_real.py ``calibrate``
    sets 1), the default dtype, deterministic algorithms. None while torch is not imported (the fixture below
    imports nothing itself: most tests never load torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "get_rng_state"):
        return None
    return (torch.get_rng_state(), torch.get_num_threads(), torch.get_default_dtype(),
            torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())


def _set_torch_state(state) -> None:
    torch = sys.modules["torch"]
    rng, threads, dtype, det, warn_only = state
    torch.set_rng_state(rng)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.get_default_dtype() != dtype:
        torch.set_default_dtype(dtype)
    # only when changed: the first use_deterministic_algorithms call imports torch._inductor's config (2.3 s)
    if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != (
            det, warn_only):
        torch.use_deterministic_algorithms(det, warn_only=warn_only)


def _take_down_process_groups() -> None:
    """Megatron-Core's ``parallel_state`` groups and torch.distributed's default group, if a test left them up:
    one that fails between ``init_process_group`` and its ``finally`` (or has none) leaves them, and the next test
    on the worker that inits its own is refused ("trying to initialize the default process group twice")."""
    ps = sys.modules.get("megatron.core.parallel_state")
    if ps is not None and ps.model_parallel_is_initialized():
        ps.destroy_model_parallel()
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def _restored_process():
    """Gives back the process-wide state found on entry, so that which tests ran before a test on its xdist worker
    (that changes with every added test) cannot change its outcome:

    * ``os.environ`` whole: Megatron-Core's ``LanguageModule._set_attention_backend`` writes ``NVTE_FLASH_ATTN`` /
      ``NVTE_FUSED_ATTN`` / ``NVTE_UNFUSED_ATTN`` and asserts on them when the next model is built (a
      ``attention_backend=local`` build left them at 0 and test_losspeak38's ``auto`` model refused to build: CI
      failed so), ``parallel_state`` writes NCCL/UCX variables, the truth scripts' workers MASTER_ADDR/PORT;
    * the working directory and ``sys.path`` (a test's own insert, not the module-level ones of collection);
    * Python's and numpy's global RNG, and torch's state (``_torch_state``);
    * process groups left up (``_take_down_process_groups``).

    Objects a helper patches are the helper's to restore (tests/make_mcore_activations.py ``cpu_safe``)."""
    env, cwd, path = dict(os.environ), os.getcwd(), list(sys.path)
    py_rng = random.getstate()
    np_mod = sys.modules.get("numpy")
    np_rng = np_mod.random.get_state() if np_mod is not None else None
    torch_state = _torch_state()
    try:
        yield
    finally:
        _take_down_process_groups()
        if dict(os.environ) != env:
            for k in set(os.environ) - set(env) - {"PYTEST_CURRENT_TEST"}:  # pytest's own, set per phase
                del os.environ[k]
            for k, v in env.items():
                if k != "PYTEST_CURRENT_TEST" and os.environ.get(k) != v:
                    os.environ[k] = v
        if os.getcwd() != cwd:
            os.chdir(cwd)
        if sys.path != path:
            sys.path[:] = path
        random.setstate(py_rng)
        if np_rng is not None:
            np_mod.random.set_state(np_rng)
        if torch_state is not None:
            _set_torch_state(torch_state)


@pytest.fixture(autouse=True, scope="module")
def _module_process_state():
    """``_restored_process`` around a whole module: a module-scoped fixture runs before a test's own
    ``_process_state`` records what to give back, so what it changes (test_memory_validation's ``predicted``
    seeds torch building its truth models) outlived the module until this put it back (CI failed so: a later
    module's test found torch's seed 0)."""
    with _restored_process():
        yield


@pytest.fixture(autouse=True)
def _process_state():
    """``_restored_process`` around each test."""
    with _restored_process():
        yield


def _one_script_cache() -> None:
    """Every ``AppTest`` run on this worker reads app.py's bytecode from one ``ScriptCache``: streamlit's test runner
    (``streamlit.testing.v1.local_script_runner.LocalScriptRunner``) makes a fresh cache for each run, so each
    ``at.run()`` rewrote app.py with streamlit's magic and compiled it again (~30 ms of CPU a run, hundreds of runs in
    the app tests). The bytecode is keyed by the script's path and the scripts are not edited while the tests run: the
    same code runs. Installed once the test runner is imported (an app test module imports it; conftest imports no
    streamlit itself)."""
    lsr = sys.modules.get("streamlit.testing.v1.local_script_runner")
    if lsr is None or isinstance(lsr.ScriptCache, _SharedScriptCache):
        return
    lsr.ScriptCache = _SharedScriptCache(lsr.ScriptCache())


class _SharedScriptCache:
    """Called as ``ScriptCache()`` by the test runner: the one cache (``_one_script_cache``)."""

    def __init__(self, cache):
        self.cache = cache

    def __call__(self):
        return self.cache


#: the first search the app made on this worker (the default page's: every app test opens it first), kept here
_FIRST_SEARCH: dict = {}


@pytest.fixture(autouse=True)
def _first_app_search_kept():
    """The app's first search on this worker back in ``interactive.SEARCHES`` before each test where a module's
    uploads (more than its 8 entries) pushed it out: the next app module's first page found it gone and searched
    the default preset again, ~2.5 CPU s a module (QA suite50b). A cache hit returns the very result a search would
    (``interactive.search``), so no test sees anything else; the product's cache stays 8 (an entry is ~60 MB)."""
    _one_script_cache()
    wi = sys.modules.get("planner.interactive")
    if wi is not None and _FIRST_SEARCH:
        (k, v), = _FIRST_SEARCH.items()
        if k not in wi.SEARCHES:
            wi.SEARCHES.put(k, v)
    yield
    wi = sys.modules.get("planner.interactive")
    if wi is not None and not _FIRST_SEARCH and wi.SEARCHES:
        _FIRST_SEARCH.update([next(iter(wi.SEARCHES.items()))])


#: torch's process-wide settings on this worker once collection is done: every test starts from them (``_process_state``
#: puts them back after each test), so tests/test_isolation39.py checks against these. Not the values when that
#: module was imported: a module collected after it may set them at import (CI failed so on the seed, 0 against a
#: random initial seed)
BASELINE: dict = {}


def pytest_collection_finish(session):
    torch = sys.modules.get("torch")
    if torch is not None:
        BASELINE.update(threads=torch.get_num_threads(), dtype=torch.get_default_dtype(),
                        deterministic=torch.are_deterministic_algorithms_enabled(), seed=torch.initial_seed())


#: the markers of a file whose tests are long (``slow``: a real run; ``browser``: a server and Chromium): on an xdist
#: worker such a file is handed out first (``pytest_collection_modifyitems``). A file of few tests that takes ~10 CPU s
#: or more is marked ``slow`` whole (``pytestmark``; tests/test_speed54.py ``LONG_FEW_TEST_FILES``), else the count
#: order hands it out among the last (suite55: test_one_rank 592nd of 596 files, test_app41 395th)
HEAVY_MARKERS = ("slow", "browser")


def pytest_collection_modifyitems(config, items):
    """On an xdist worker, the files with a ``HEAVY_MARKERS`` test first, then the rest by test count, most first
    (xdist's own ``--loadscope-reorder``, which ``--no-loadscope-reorder`` in pyproject.toml turns off for this
    order); each file's tests in their own order. ``--dist loadfile`` hands files out in this order, so a long file
    no longer comes last: xdist's count order put test_app_widgets.py (one test, ~40 CPU s, every sidebar input moved)
    571st of 579 files, the other worker idle for most of it (speed54). Every worker sorts the same collection the
    same way (xdist checks they agree); a run without xdist keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    heavy = {f for f, its in files.items() if any(it.get_closest_marker(m) for it in its for m in HEAVY_MARKERS)}
    order = sorted(files, key=lambda f: (f not in heavy, -len(files[f])))  # (stable: collection order on ties)
    items[:] = [it for f in order for it in files[f]]


# Sources kept apart to judge the model independently: no data row may cite them.
FORBIDDEN = [
    (re.compile(r"mlperf", re.I), "MLPerf Training/Inference results"),
    (re.compile(r"megatron-lm[^,;]*readme", re.I), "Megatron-LM README performance table"),
    (re.compile(r"megascale", re.I), "MegaScale paper"),
    (re.compile(r"(llama ?3|herd of models|2407\.21783)[^;]*table ?4", re.I), "Llama 3 paper Table 4"),
    (re.compile(r"(narayanan|2104\.04473)[^;]*table ?2", re.I), "Narayanan et al. 2021 Table 2"),
    (re.compile(r"asynctp_", re.I), "torchtitan benchmarks/asyncTP_* files"),
    (re.compile(r"h200[^ ,;/]*trainy|trainy[^ ,;/]*h200", re.I), "*h200*trainy* files"),
]


#: a 2-node aws:p4de.24xlarge training job (Llama-3-8B, 1e10 tokens): the price-date passes' plan on a dated AWS row
#: (tests/test_buy36.py, test_prices38.py, test_prices39.py)
P4DE_JOB = """
model: {preset: llama3-8b}
training: {tokens: 1.0e10}
cluster: {instance: aws:p4de.24xlarge, nodes: 2}
"""
#: QA 40's and QA 58's job: a LoRA fine-tune of Llama-3-8B (2e9 tokens) on aws:p5.48xlarge under a budget (USD) and a
#: deadline (hours), filled with ``% (budget, deadline)`` (tests/test_qa40.py, test_qa58.py)
LORA_JOB = """
model: {preset: llama3-8b}
training: {mode: lora, seq_len: 4096, global_batch: 64, tokens: 2.0e9, lora: {rank: 16}}
cluster: {instance: aws:p5.48xlarge}
constraints: {budget_usd: %s, deadline_hours: %s}
"""


def p4de_override(tmp_path, price_date: str, spot: float | None = 12) -> Path:
    """A user's catalog override (``--catalog``), ``tmp_path / "p.csv"``, repricing aws:p4de.24xlarge at $30/h on
    demand (and ``spot`` $/h, None: no spot column) with ``price_date``: the price-date passes' refresh path for
    ``P4DE_JOB``."""
    cols, cells = ("price_spot_usd_hr,", f"{spot},") if spot is not None else ("", "")
    p = tmp_path / "p.csv"
    p.write_text(f"cloud,name,price_ondemand_usd_hr,{cols}price_date\naws,p4de.24xlarge,30,{cells}{price_date}\n")
    return p


def utc_today() -> datetime.date:
    """Today in UTC, the day the price-date checks age a row against (hardware_catalog.catalog's default)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def catalog_rows(name: str) -> list[dict]:
    """The shipped ``hardware_catalog/data/<name>.csv`` as its raw rows (every cell the text written)."""
    from hardware_catalog.catalog import DATA_DIR
    with (DATA_DIR / f"{name}.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_job(tmp_path, job: dict | str, name: str = "job.yaml") -> Path:
    """A job written under ``tmp_path``: a dict as YAML (the QA passes' by-hand jobs), YAML text as it is."""
    import yaml

    p = tmp_path / name
    p.write_text(job if isinstance(job, str) else yaml.safe_dump(job))
    return p


def gpus_csv_with(folder: Path, gpu: str, **fields) -> Path:
    """A copy of the shipped ``gpus.csv`` in ``folder`` with GPU row ``gpu``'s ``fields`` replaced (a user's edited
    catalog for ``--catalog``, as tests/test_catalog40.py and tests/test_serve40.py pass one)."""
    from hardware_catalog.catalog import DATA_DIR
    rows = list(csv.DictReader((DATA_DIR / "gpus.csv").open(newline="")))
    next(r for r in rows if r["name"] == gpu).update({k: str(v) for k, v in fields.items()})
    path = folder / "gpus.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


#: torch.cuda.get_device_name(), total memory and SM count on the catalog GPUs tests label profiles with
CUDA_DEVICES = {"A100-SXM-80GB": ("NVIDIA A100-SXM4-80GB", 85_100_000_000, 108),
                "H100-SXM-80GB": ("NVIDIA H100 80GB HBM3", 85_520_000_000, 132)}


def gpu_profile_dict(catalog_gpu: str = "A100-SXM-80GB", **fitted) -> dict:
    """A calibration profile as ``planner calibrate --device cuda`` writes one on ``catalog_gpu``: a CUDA fingerprint
    (torch's device name and memory for that GPU) and its SM count, with the shipped CPU example's raw rows and
    headline fits as its measurements (plausible fractions of a peak), ``fitted`` replacing some. The CPU's per-dtype
    fits are left out: its bf16 attention (1.35 of its emulated-bf16 GEMM rate) is no fraction of a datasheet peak.
    Until prof41 tests relabelled the CPU example itself (``device: cpu``) with a catalog GPU, now refused."""
    from planner.hardware.profile import PROFILES_DIR

    d = json.loads((PROFILES_DIR / "cpu-ci-example.json").read_text())
    name, memory, sms = CUDA_DEVICES[catalog_gpu]
    d["fitted"].update(sm_count=sms, by_dtype=None)
    d["fingerprint"] = {"device": "cuda", "device_name": name, "catalog_gpu": catalog_gpu, "gpu_memory_bytes": memory,
                        "torch_version": d["fingerprint"]["torch_version"], "cuda": "12.4", "driver": "550.54.15",
                        "created": d["fingerprint"]["created"]}
    d["fitted"].update(fitted)
    return d


def write_gpu_profile(tmp_path: Path, name: str = "p.json", catalog_gpu: str = "A100-SXM-80GB", **fitted) -> Path:
    """``gpu_profile_dict`` written as ``tmp_path / name``."""
    p = tmp_path / name
    p.write_text(json.dumps(gpu_profile_dict(catalog_gpu, **fitted)))
    return p


def cluster_option(catalog, gpu: str, gpus_per_node: int | None = None, **cluster):
    """The hardware option of a bare-GPU cluster of ``gpu`` (planner.hardware.options ``option_from_cluster``);
    ``gpus_per_node`` None is a job that does not say (the reference system's node, else 8)."""
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec

    return option_from_cluster(ClusterSpec(gpu=gpu, gpus_per_node=gpus_per_node, **cluster), catalog)


def github_headings(lines) -> list[tuple[int, str, str]]:
    """(level, text, GitHub anchor) of every markdown heading outside code fences: lower case, punctuation but '-' and
    '_' dropped, each blank a '-', a repeated anchor numbered -1, -2, ... over the headings of every level (the one
    rule of tests/test_readme38.py's contents and link checks and tests/test_readme_links42.py's)."""
    out, seen, fence = [], {}, False
    for ln in lines:
        if ln.startswith("```"):
            fence = not fence
            continue
        m = None if fence else re.match(r"(#{1,6}) (.+?)\s*$", ln)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(2).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.append((len(m.group(1)), m.group(2), slug if n == 0 else f"{slug}-{n}"))
    return out


#: the storage targets a ``--storage`` refusal test tries, with the words the refusal says (test_qa26: ``planner
#: calibrate``; test_qa57s: ``python -m calibration``)
STORAGE_REFUSALS = [("/dev/null", "is not a regular file or a folder"), ("empty", "is empty")]


def storage_refusal_case(tmp_path: Path, monkeypatch, target: str) -> tuple:
    """(the ``--storage`` target, the profile path) of a storage-refusal test: the calibration's measuring replaced by
    a failure (the check must come before it), ``"empty"`` made an empty file under ``tmp_path``."""
    import calibration.bench as bench

    def measured(*a, **k):
        raise AssertionError("measured before the --storage check")

    monkeypatch.setattr(bench, "run_calibration", measured)
    if target == "empty":
        target = tmp_path / "empty.bin"
        target.write_bytes(b"")
    return target, tmp_path / "p.json"


def one_error_line(err: str) -> str:
    """The CLI's stderr as the bad-input contract has it: one line ``error: <field>: <message>`` (returned)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def refused(result: tuple) -> str:
    """A CLI run ``(exit code, stdout, stderr)`` (the ``cli`` / ``main_cli`` fixtures) that must be a bad-input refusal:
    exit 2 and the one line ``error: <field>: <message>`` on stderr (``one_error_line``, returned)."""
    code, out, err = result
    assert code == 2, out
    return one_error_line(err)


def lora_refusal(cli, tmp_path, budget, deadline) -> str:
    """``recommend --no-simulate`` of ``LORA_JOB`` at ``budget`` / ``deadline`` (the ``cli`` fixture), which must be
    refused: its one error line (``refused``)."""
    return refused(cli("recommend", write_job(tmp_path, LORA_JOB % (budget, deadline)), "--no-simulate"))


def answered(result: tuple):
    """A CLI run ``(exit code, stdout, stderr)`` (the ``cli`` / ``main_cli`` fixtures) that must answer: exit 0 (stderr
    shown otherwise) and stdout one JSON document (``--json``), returned parsed. The answer-side twin of ``refused``."""
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def assert_cites_no_held_out_source(rows) -> None:
    """No row of a benchmarks/data CSV (a DataFrame), its cells read as one line, cites a source in ``FORBIDDEN``."""
    text = [" ".join(map(str, r)) for r in rows.itertuples(index=False)]
    for pat, what in FORBIDDEN:
        assert not any(pat.search(t) for t in text), what


def assert_layout_adds_up(rows) -> None:
    """A benchmarks/data CSV's layout columns agree: TP x PP x DP x CP is the GPU count, and the global batch is whole
    micro-batches on every data-parallel replica."""
    assert (rows["tp"] * rows["pp"] * rows["dp"] * rows["cp"] == rows["num_gpus"]).all()
    assert (rows["global_batch_seqs"] % (rows["dp"] * rows["micro_batch"]) == 0).all()


def flat(text: str) -> str:
    """CLI output with its line wrapping undone, for phrases a narrow terminal splits."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rows(request):
    """The benchmarks/data CSV a data-test module names as its ``CSV`` (a DataFrame, read once per module)."""
    import pandas as pd

    return pd.read_csv(request.module.CSV)


@pytest.fixture(scope="session")
def catalog():
    from hardware_catalog import load_catalog

    return load_catalog()


def invoke_app(*args, env=None):
    """``planner <args>`` in-process through the typer app (typer's CliRunner; usage errors take click's path, not
    main's one line): (exit code, stdout, stderr), stderr kept apart so a warning never lands in the JSON parsed.
    What the ``cli`` fixture runs; a module-scoped fixture, which cannot take that function-scoped one, or a helper
    without it calls ``answered(invoke_app(...))``."""
    from typer.testing import CliRunner

    from planner.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    return r.exit_code, r.stdout, r.stderr


def _reuse_click_command():
    """typer's CliRunner builds ``app``'s click command afresh on every ``invoke`` (``typer.testing._get_command``,
    12.6 ms a run): every CliRunner run of the planner app (``invoke_app``, the ``cli`` fixture, a test's own
    CliRunner) takes the one ``planner.cli.click_command`` built once, as ``planner.cli.main`` does, so a test runs
    the command the console script runs. Any other Typer app is built as typer builds it. Installed once, below."""
    import typer.testing

    build = typer.testing._get_command

    def get_command(typer_app):
        from planner.cli import app, click_command  # on first use: conftest itself imports no planner code

        return click_command() if typer_app is app else build(typer_app)

    typer.testing._get_command = get_command


_reuse_click_command()


@pytest.fixture
def cli():
    """Run the CLI in-process (``invoke_app``); returns (exit_code, stdout, stderr). A run that must answer with JSON
    is ``answered(cli(...))``, one that must be refused ``refused(cli(...))``."""
    return invoke_app


@contextlib.contextmanager
def planned_once(module, name: str):
    """``module.name`` (a planner: a job first, then its arguments) answered once per job and arguments while the block
    runs; yields the dict of what it planned. Two commands a test runs on one job (``serve --json`` and ``serve``, a
    report to .html and to .md) print the one plan, as the product would for the same input, at one plan's CPU. Each
    command loads the shipped catalog afresh (another object, the same files): an argument is keyed by its type, a
    keyword by its value (``progress``, a fresh callback each command, left out)."""
    made: dict = {}
    planner = getattr(module, name)

    def once(job, *a, **kw):
        key = (job.model_dump_json(), tuple(type(x).__name__ for x in a),
               repr(sorted((k, v) for k, v in kw.items() if k != "progress")))
        if key not in made:
            made[key] = planner(job, *a, **kw)
        return made[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, name, once)
        yield made


def _in_process(run, argv: list, cwd=None) -> tuple[int, str, str]:
    """``run()`` as a process's main in this one: ``sys.argv`` set to ``argv``, stdout and stderr captured, a
    ``SystemExit`` read as the exit code, in ``cwd`` where given; (exit code, stdout, stderr). ``sys.argv`` and the
    working directory are restored after."""
    out, err = io.StringIO(), io.StringIO()
    old_argv, old_dir = sys.argv, os.getcwd()
    sys.argv = argv
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_dir)
    return code, out.getvalue(), err.getvalue()


def invoke_main(*args, cwd=None):
    """``planner <args>`` in-process through the console entry point ``planner.cli.main`` (usage errors take main's
    one-line path): (exit code, stdout, stderr). ``sys.argv`` and the working directory are restored after."""
    from planner import cli as planner_cli

    return _in_process(planner_cli.main, ["planner", *map(str, args)], cwd)


def invoke_script(*args) -> tuple[int, str, str]:
    """``python <args>`` (``-m module ...`` or ``path/to/script.py ...``, relative to the repository) in this
    process, as the interpreter runs it: the module or file executed as ``__main__`` by ``runpy`` with ``sys.argv``
    its arguments and the repository the working directory; (exit code, stdout, stderr). For a script's own answers
    (its usage errors): a fresh interpreter cost ~1 CPU s of imports a call (suite56: tests/test_qa39d.py's eleven
    scripts, 12.7 -> 5.8 CPU s); a test about the process itself (exit through a closed pipe, ``-h``) starts one.
    ``sys.argv`` and the working directory are put back (``sys.path`` and the rest by ``_process_state``)."""
    import runpy
    import warnings

    module = args[0] == "-m"
    target, rest = (args[1], args[2:]) if module else (str(ROOT / args[0]), args[1:])

    def run():
        with warnings.catch_warnings():
            # runpy's note that a module already imported on this worker runs again as __main__ (as `python -m` does)
            warnings.simplefilter("ignore", RuntimeWarning)
            if module:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")

    return _in_process(run, [target, *map(str, rest)], ROOT)


@pytest.fixture
def main_cli():
    """Run the console entry point ``planner.cli.main`` in-process (``invoke_main``), as ``planner <args>`` does:
    usage errors take main's one-line path, which the ``cli`` fixture (the app without main) bypasses. Returns
    (exit_code, stdout, stderr). A fresh interpreter per call cost about 2 CPU-seconds of imports; the tests about
    the process itself (``python -m planner``, the console script, resource limits) still start one."""
    return invoke_main


def engine_events_counted(monkeypatch) -> list:
    """Every engine event the serving simulations run, counted where they run (``simulate_serving``'s results, not
    a plan's own tally): the list fills as the test runs."""
    import planner.workloads.serving as ws

    seen = []
    real = ws.simulate_serving

    def run(*a, **kw):
        res = real(*a, **kw)
        seen.append(res.engine_events)
        return res
    monkeypatch.setattr(ws, "simulate_serving", run)
    return seen


def load_parts_script(name: str):
    """A builder script of benchmarks/data/parts/scripts/, loaded from its file as module ``parts_<name>``. The folder
    is not put on sys.path (its ``grouped_gemm.py`` would shadow the package of that name Megatron-Core imports);
    the siblings the builders import by name, ``parts_csv`` (their shared CSV writer), ``together_reruns`` (the
    Together re-runs and their rule, dgxc.py's and together.py's) and ``dgxc`` (its NVL72 Slurm-segment rule,
    mbridge_all.py's), are loaded from their files under those names first."""
    import importlib.util
    import sys

    folder = ROOT / "benchmarks" / "data" / "parts" / "scripts"

    def load(module: str, filename: str):
        spec = importlib.util.spec_from_file_location(module, folder / filename)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    for shared in ("parts_csv", "together_reruns", "dgxc"):  # the siblings builders import by name (in that order)
        if shared not in sys.modules:
            sys.modules[shared] = load(shared, f"{shared}.py")
    return load(f"parts_{name}", f"{name}.py")


def trace_dp_reads(monkeypatch, classes) -> set:
    """The attribute names of ``classes`` (Stack, TrainingSpec) read inside the step time's DP terms (``_dp_terms``
    and its stage split ``_split_at_dp_keys``, every callee, properties included) from now on in the test: the set
    fills as ``step_time`` runs (test_speed47b, test_perf50b: which fields ``DP_FREE_STACK`` may leave out)."""
    from planner.model import step_time as S

    read, depth = set(), [0]
    for cls in classes:
        def traced(self, name, _get=cls.__getattribute__):
            if depth[0]:
                read.add(name)
            return _get(self, name)
        monkeypatch.setattr(cls, "__getattribute__", traced)
    for f in ("_dp_terms", "_split_at_dp_keys"):
        def inside(*a, _f=getattr(S, f), **k):
            depth[0] += 1
            try:
                return _f(*a, **k)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(S, f, inside)
    return read


def dp_memo_searches(monkeypatch, job, catalog, **whole_key) -> tuple:
    """``recommend(job, catalog)`` twice: with the step time's DP memo keyed as it ships, then with the ``step_time``
    attributes ``whole_key`` names (``DP_FREE_STACK``, ``DP_FREE_TRAINING``) set, so fewer fields are shared; returns
    (shared result, whole-key result, DP-term rows computed by each) (test_speed47b, test_perf50b)."""
    from planner.model import step_time as S
    from planner.workloads.training import recommend

    keys, dp = [], S._dp_terms
    monkeypatch.setattr(S, "_dp_terms", lambda m, t, hw, cols, *a, **k: keys.append(len(cols[0])) or dp(
        m, t, hw, cols, *a, **k))
    shared = recommend(job, catalog, simulate=False)
    n_shared, keys[:] = sum(keys), []
    for name, value in whole_key.items():
        monkeypatch.setattr(S, name, value)
    whole = recommend(job, catalog, simulate=False)
    return shared, whole, n_shared, sum(keys)


#: the peft truth (tests/make_peft_truth.py; peft 0.21.2, transformers 5.23.0, torch 2.13) the LoRA memory tests
#: read (test_loramem50, test_loraf51, test_lorads50, test_lorads50b, test_cpmem51, test_lora52)
PEFT_TRUTH = json.loads((ROOT / "tests" / "data" / "peft_truth.json").read_text())
#: the bar is 5% a case; every ``amp_families`` case is within 0.1% (BERT over a bf16 base -0.07%: its LayerNorms'
#: bf16 weight and bias cast to fp32 per call, 2 KB), so a drift of one activation tensor fails
LORA_TOL = 0.005
#: the blocks' module paths per ``amp_families`` family (peft's ``base_model.model.`` prefix)
PEFT_BLOCKS = {"gpt2": "base_model.model.transformer.h.", "bert": "base_model.model.bert.encoder.layer.",
               "mixtral": "base_model.model.model.layers."}


def lora_job(config: dict, base: str, framework: str = "hf-trainer", targets="all-linear"):
    """A measured tiny model's LoRA r16 job (the peft truth's; ``targets`` all-linear or a list of module names):
    ``(ModelSpec, TrainingSpec, Stack)`` over a ``base`` ("fp32", "bf16", "nf4") frozen base, bf16, eager attention,
    on ``framework``."""
    from planner.model.stacks import from_training
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.hf import hf_config_to_fields

    m = ModelSpec(**hf_config_to_fields(config))
    t = TrainingSpec(mode="lora", precision="bf16", base_weights=base, flash_attention=False,
                     framework={"name": framework}, lora=dict(rank=16, alpha=32, targets=targets))
    return m, t, from_training(t)


def lora_gpu_blocks(fam: str, run: dict, key: str = "blocks_saved_bytes") -> int:
    """An ``amp_families`` run's blocks' saves (``key``: all, or ``blocks_activation_bytes``, the weights apart) with
    each saved dropout mask at a GPU's 1 B an element (the CPU keeps the input's dtype)."""
    masks = [x for x in run["dropout_masks"] if x[0].startswith(PEFT_BLOCKS[fam])]
    return run[key] - sum(x[2] for x in masks) + sum(x[3] for x in masks)


def bert_large_job(framework: str, head: int | None, precision: str = "fp16") -> dict:
    """BERT-large on one 8 x A100 node, DP 8, micro-batch 8 at 512 (test_head50b, test_cpmem51): the job as a dict,
    with ``training.head_tokens_per_seq`` = ``head`` where given."""
    t = {"seq_len": 512, "global_batch": 64, "micro_batch": 8, "steps": 10, "framework": framework,
         "precision": precision, "flash_attention": False}
    if head is not None:
        t["head_tokens_per_seq"] = head
    return {"model": {"preset": "bert-large"}, "training": t,
            "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 0}}
