"""Command line: ``planner estimate | recommend | simulate | calibrate | catalog | presets | report``.

Every user error (``InputError``) prints one line, ``error: <field>: <message>``, and exits 2 —
no traceback, nothing written. Set ``PLANNER_DEBUG=1`` to see tracebacks of internal errors.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import replace
import sys
from pathlib import Path
from typing import List, Optional

import typer
from hardware_catalog.errors import reword
from hardware_catalog.files import NUL_IN_NAME, os_reason
from planner.defaults import PLAN_EVENT_BOUND, PLAN_EVENT_BOUND_RANGE, TOP_MAX
from planner.errors import InputError, clip, one_of, shown_path
from planner.outputs import PROFILE, TIMELINE, creation_error, output_target, write_stream, write_text
from planner.present.safe import PIPED_COLUMNS, SafeConsole as Console, clean_line, columns, esc

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="GPU capacity planner and training cost/throughput simulator.")
out = Console(soft_wrap=False)
if not out.is_terminal:  # piped or captured: wide enough that tables stay on one line per row
    out = Console(soft_wrap=False, width=columns() or PIPED_COLUMNS)
err = Console(stderr=True)


def _print_version(value: bool):
    """``planner --version``: the installed distribution's version (pyproject's ``version``), then exit 0."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("planner")
        except PackageNotFoundError:  # run from a source tree that was never installed
            shown = "(not installed)"
        out.print(f"planner {shown}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the planner's version and exit.")):
    """The command group; its one option is ``--version`` (typer runs this before any command)."""


def _fail(e: Exception, code: int = 2):
    msg = clean_line(e)  # the user's text: no markup, no control codes, one line
    err.print(f"[bold red]error:[/] {esc(msg)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


# The planning modules (the specs' pydantic models, numpy, the model, the search) load when a command first needs
# them, not when the CLI starts: ``planner --help`` and ``planner catalog`` never do.
def _plan(name: str, job, ctx, objective: Optional[str] = None):
    """``planner.workloads.plan``, imported on first use; ``objective``: the ``--objective`` given (``_objective_flag``)"""
    from planner import workloads

    with _objective_flag(objective):
        return workloads.plan(name, job, ctx)


@contextmanager
def _objective_flag(objective: Optional[str]):
    """A refusal of the job's ``constraints.objective`` (one the job kind cannot rank by: ``tokens_per_dollar`` on a
    tabular job) named after the ``--objective`` flag where the flag set it: the user never wrote the field."""
    try:
        yield
    except InputError as e:
        if objective is None or e.field != "constraints.objective":
            raise
        raise InputError("--objective", e.message) from None


def jsonable(x):
    """``planner.results.jsonable``, imported on first use"""
    from planner.results import jsonable as to_json

    return to_json(x)


def _path_or_empty(value: str):
    """typer's parser for an output path: "" stays "" (typer made it the path ".", refused as "a directory" or for
    its suffix, "got ''"), so ``output_target`` refuses it as an empty path; a path ending in "/" stays text too, which
    ``output_target`` reads as a folder's name (``Path`` drops the slash: ``--csv out/`` wrote a file named ``out``
    until QA 64)."""
    return value if value == "" or value.endswith(("/", os.sep)) else Path(value)


def _run(fn, *a, **kw):
    """Call ``fn``, turning input errors into the one-line contract."""
    _OVERRIDE_NOTES.clear()
    try:
        done = fn(*a, **kw)
        _say_overrides()
        return done
    except InputError as e:
        _OVERRIDE_NOTES.clear()
        _fail(e)
    except typer.Exit:
        raise
    except KeyboardInterrupt as e:  # Ctrl-C, or a kill / hang-up during a write (outputs.Terminated: its signal)
        signum = getattr(e, "signum", None)
        _fail(Exception("interrupted" + (f" ({e})" if signum else "")), 128 + (signum or 2))
    except Exception as e:  # an internal error: still one line unless debugging
        if os.environ.get("PLANNER_DEBUG"):
            raise
        _fail(Exception(f"internal error ({e.__class__.__name__}): {e} — rerun with PLANNER_DEBUG=1 for a traceback"), 1)


def _context(job_path: Path, catalog: Optional[List[Path]], profile: Optional[Path], objective: Optional[str] = None,
             **options):
    """Load the job, the catalog (with overrides) and a profile; ``--objective`` overrides the
    job's ``constraints.objective``."""
    from planner.spec import load_job
    from planner.vocab import OBJECTIVE
    from planner.workloads import Context

    job_path, catalog, profile = _given_inputs(job_path, catalog, profile)
    job = load_job(job_path)
    if objective is not None:
        objective = OBJECTIVE.canonical(objective)  # any case, as constraints.objective takes it
        if objective not in OBJECTIVE:
            # the job fields' words (constraints.objective: "must be one of cost, ..., got 'x'"); it read "must be cost,
            # time, tokens_per_dollar (got 'x')"
            raise InputError("--objective", one_of(OBJECTIVE, objective))
        job = job.model_copy(update={"constraints": job.constraints.model_copy(update={"objective": objective})})
    prof, cat = None, _load_catalog(catalog)
    if profile is not None:
        from planner.hardware.profile import load_profile

        prof = load_profile(profile, "--profile", cat)  # its catalog_gpu read in the job's catalog (QA 46)
    return job, Context(catalog=cat, profile=prof, **options)


def _load_catalog(catalog: Optional[List[Path]]):
    """The catalog with ``$PLANNER_CATALOG`` and then the ``--catalog`` files on top; each override row's
    change is said on stderr ("catalog override ok.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr
    55.04 -> 40"), so a plan priced from a user's file says so (the text or JSON on stdout unchanged)."""
    from hardware_catalog import load_catalog

    catalog = [given_path(c, "--catalog", "a catalog YAML or CSV file") for c in catalog or ()]
    cat = load_catalog(catalog or None)
    _OVERRIDE_NOTES[:] = cat.overrides
    from hardware_catalog.price_checks import flagged_rates

    _PRICE_FLAGS.clear()
    _PRICE_FLAGS.update(flagged_rates(cat))
    return cat


#: the loaded catalog's override notes, said on stderr once the command has succeeded (``_run``): a
#: command that then fails still prints its one ``error:`` line alone
_OVERRIDE_NOTES: list[str] = []
#: the loaded catalog's rates outside its price checks (``hardware_catalog.price_checks.flagged_rates``), said on
#: stderr where a plan is priced from one (``_say_price_checks``)
_PRICE_FLAGS: dict[tuple[str, str], str] = {}


def _say_overrides() -> None:
    notes, _OVERRIDE_NOTES[:] = list(_OVERRIDE_NOTES), []
    for note in notes[:20]:
        err.print(f"catalog override {note}", markup=False, highlight=False, soft_wrap=True)
    if len(notes) > 20:
        err.print(f"catalog override: ... and {len(notes) - 20:,} more rows", markup=False, highlight=False)


def _with_override_notes(payload: dict) -> dict:
    """A JSON answer priced from override files carries what each changed (``catalog_overrides``: the lines stderr
    says, "ok.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 40"), every one of them: a script that
    keeps only stdout kept no record of the files that priced it (QA 46's left-alone). Absent with no override."""
    if _OVERRIDE_NOTES:
        payload["catalog_overrides"] = list(_OVERRIDE_NOTES)
    return payload


def _say_stale_prices(result, spot_whatif: bool = False) -> None:
    """One stderr line where a price the plan used is stale (``present.terminal.stale_price_warning``; buy36): a
    training plan's cost, a recommendation's winner's, or a serving plan's budget. ``spot_whatif``: the output shows
    a real-time fleet's spot what-if (the report's "Spot:" line), whose rate is dated apart (``budget.spot``): a line
    for it too. stdout unchanged."""
    from planner.present.terminal import field_of as get  # a result record or its JSON dict (report_for_job's)
    from planner.present.terminal import stale_price_warning

    # a serving plan's: its month's budget or its offline job's
    priced = (get(result, "cost") or get(get(result, "best"), "cost") or get(result, "budget")
              or get(result, "offline_budget"))
    whatif = get(get(get(result, "budget"), "spot"), "price_dates") if spot_whatif else None
    for line in dict.fromkeys(stale_price_warning(d) for d in (get(priced, "price_dates"), whatif)):
        if line:
            err.print(line, markup=False, highlight=False, soft_wrap=True)
    _say_price_checks(result, priced, spot_whatif)


def _say_price_checks(result, cost, spot_whatif: bool = False) -> None:
    """One stderr line per rate the plan is priced from that sits outside the catalog's price checks
    (``present.terminal.result_price_check_lines``: a training plan's or a serving plan's, with a real-time fleet's
    spot what-if where the output shows it), pointing at the row's ``price_check``. stdout unchanged."""
    from planner.present.terminal import result_price_check_lines

    lines = result_price_check_lines(_PRICE_FLAGS, result, cost, spot_whatif)
    for line in lines:
        err.print(f"{line}; why the catalog keeps it: its price_check (planner catalog instances --csv)",
                  markup=False, highlight=False, soft_wrap=True)


def _show(planned, as_json: bool, top: int = 10, options_csv: bool = False) -> None:
    """JSON (strict: no NaN), tables, or (``options_csv``: ``serve --csv``) a serving plan's options table as CSV
    (``present.serving.options_frame``, written as ``catalog --csv`` writes its frames)."""
    # on stderr: stdout is the JSON, the CSV or the tables alone. The JSON and the tables ("spot:", serveep50) carry a
    # real-time fleet's spot what-if (``budget.spot``): its rate is dated and checked too (QA 94: serve --json said
    # neither); the options CSV does not
    _say_stale_prices(planned.result, spot_whatif=not options_csv)
    if options_csv:
        from planner.present.serving import options_frame

        _frame_out(lambda: options_frame(planned.result, top), True, False)
    elif as_json:
        from planner.present.terminal import top_cut

        payload = top_cut(jsonable(planned.result), planned.workload, top)  # --top cuts the JSON as the table
        if planned.campaign:
            payload["campaign"] = jsonable(planned.campaign)
        out.print_json(json.dumps(_with_override_notes(payload), allow_nan=False))
    else:
        from planner.present.terminal import render

        render(out, planned, top)


@contextmanager
def _progress(what: str):
    """A progress bar on stderr for long work (search over hardware options, simulation); the
    workload calls ``progress(done, total, description)``. Gone when the work ends."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # not on a terminal (a pipe, a file, CI) the bar draws nothing useful and rich still ends it with a
    # newline: an error then came out as a blank line plus the `error:` line instead of one line
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(what, total=1)
        yield lambda done, total, desc: bar.update(task, completed=done, total=total, description=clip(desc)[1:-1])


# metavar: the help printed the Python type, "<list[Path]>"; an option taken as text and checked by the planner
# (its error then names the flag in the field's words) printed "<str>" for a path or a number (QA 101); every path,
# argument or option, says PATH_METAVAR: the job argument and --csv / --timeline / -o printed typer's "<Path>" beside
# --catalog's "<path>" (QA 102)
PATH_METAVAR, CHOICE_METAVAR, LIST_METAVAR = "<path>", "<choice>", "<list>"
# parser: typer made an empty path ("", an unset shell variable) the path ".", refused as "is a directory";
# ``_given_inputs`` refuses it as an empty path
CatalogOpt = typer.Option(None, "--catalog", metavar=PATH_METAVAR, parser=_path_or_empty,
                          help="extra catalog YAML/CSV file(s) adding or overriding rows (repeat for more)")
ProfileOpt = typer.Option(None, "--profile", metavar=PATH_METAVAR, parser=_path_or_empty,
                          help="calibration profile JSON (planner calibrate -o ...)")
#: what ``recommend --top`` cuts (the same list in the table and the JSON: ``present.terminal.TOP_LISTS``)
TOP_HELP = "ranked plans (a tabular job's instances) in the table and the JSON; --csv writes every ranked candidate"
# the default said (QA 99: the help named the choices only, not that the job's own objective holds without the flag)
ObjectiveOpt = typer.Option(None, "--objective", metavar=CHOICE_METAVAR, help="cost | time | tokens_per_dollar (default: the job's "
                                                      "constraints.objective, else cost)")
ForceOpt = typer.Option(False, "--force", help="replace an output file that already exists (planner.outputs)")


@app.command()
def estimate(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML, bare model YAML, or HF config.json"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    """Params, FLOPs, memory per rank, step time, MFU and cost of one fully specified job."""
    def go():
        job, ctx = _context(job_path, catalog, profile)
        _show(_plan("estimate", job, ctx), as_json)
    _run(go)


@app.command()
def recommend(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML (fields of parallel/cluster left out are searched)"),
    top: int = typer.Option(10, "--top", min=1, max=TOP_MAX, help=TOP_HELP),
    objective: Optional[str] = ObjectiveOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", parser=_path_or_empty, metavar=PATH_METAVAR, help="write the ranked feasible candidates as CSV"),
    emit: Optional[str] = typer.Option(None, "--emit", metavar="<launcher[:style]>", help="torchrun | slurm | skypilot | k8s: print a launch spec for the winner; add :megatron, :fsdp, :automodel, :script or :dle-bert to pick the launcher style"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
    no_simulate: bool = typer.Option(False, "--no-simulate", help="skip re-ranking the top candidates with the simulator"),
    by: Optional[str] = typer.Option(None, "--by", metavar=CHOICE_METAVAR, help="gpu | cloud | hardware | framework (auto): also show the best plan of each, side by side"),
    scaling: bool = typer.Option(False, "--scaling", help="also show the best layout at each node count of the winner's hardware"),
    force: bool = ForceOpt,
):
    """Search instance types, node counts and parallel layouts; rank by cost, time or tokens/$."""
    def go():
        group = _check_by(by)  # before the search, not after
        if emit is not None:  # the launch spec is printed alone: --json, --by and --scaling were dropped unsaid
            from planner.present.emit import check_emit_format

            check_emit_format(emit, alone_with={"--json": as_json, "--by": by is not None, "--scaling": scaling})
        if csv_path is not None:
            output_target(csv_path, "--csv", _inputs(job_path, catalog, profile), force)  # fails before the search
        with _progress("searching") as progress:
            job, ctx = _context(job_path, catalog, profile, objective, top=top, simulate=not no_simulate,
                                progress=progress)
            planned = _plan("recommend", job, ctx, objective)
        if emit is not None and planned.workload != "training":
            raise InputError("--emit", f"only for training plans, not {planned.workload}")
        if csv_path is not None and planned.workload not in ("training", "tabular"):
            raise InputError("--csv", f"only for training and tabular plans, not {planned.workload}")
        spec = None
        if emit is not None:  # before the CSV is written: a launcher that refuses the plan leaves nothing behind
            from planner.present.emit import emit_launch_spec

            spec = emit_launch_spec(job, planned.result.best, emit, ctx.catalog)
        if csv_path is not None:
            _write_ranked_csv(csv_path, planned, force, ctx.catalog, job.cluster.power_limit_w)
        if spec is not None:
            sys.stdout.write(spec)  # verbatim: rich would wrap
            return
        _show_with_views(planned, as_json, top, group, scaling, _noun_of(ctx.catalog), ctx.catalog,
                         job.cluster.power_limit_w)
    _run(go)


def _write_ranked_csv(path, planned, force: bool, catalog=None, power_limit_w=None) -> None:
    """``recommend --csv``: a training plan's feasible configurations, every one in rank order (the whole ranked
    table), or a tabular job's ranked instances."""
    if planned.workload == "tabular":  # its ranked instances, as a training plan's rows (refused until QA 37)
        from planner.present.tabular import tabular_csv

        return write_text(path, tabular_csv(planned.result, catalog), "--csv", force)
    write_stream(path, _ranked_csv_parts(planned.result, catalog, power_limit_w), "--csv", force)


def _ranked_csv_parts(rec, catalog=None, power_limit_w=None):
    """The training table's CSV text a block of ranked rows at a time (``RankedRows.blocks``): the file's bytes are
    the whole table's ``to_csv`` (each block's rows as the whole table's, the header once), and only one block's
    rows are held (a 12.2M-plan table was built whole, ~0.55 KB a plan, and its text beside it). The price every
    row's cost is at (--json's price_basis) is the last column, so that no column moves: a spot job's `cost` is the
    expected spot cost, a job's cluster.price_usd_hr replaces on-demand, and the file alone did not say which.
    Before it, ``price_date``: the date of the rate each row's cost is at (``model.cost.rate_date``: the row's
    instance's on-demand or spot rate's own date), empty where no catalog rate prices it (a job's
    cluster.price_usd_hr, a bare GPU) or its row gives none. QA 55b: a budget sheet built from the file could not
    say how old a row's price is; rows of a GCP bound at most 765 days back sat beside AWS's 319 unmarked.
    Where the job sets ``cluster.power_limit_w``, a ``power_limit_w`` column before those two: the watts each row's
    GPUs were priced at (``power.searched_limit``: the lower of the job's limit and the GPU's rated one), as the
    table's "at 500 W" and --json's ``power_limit_w`` say them; a job without a limit keeps the file's columns (QA 63:
    the file had no word of the limit, so a 500 W H100 row read as a 700 W one).
    (to_csv's text, each column's distinct values formatted once: planner.present.frame_csv)"""
    import pandas as pd

    from planner.hardware.power import searched_limit
    from planner.model.cost import rate_date
    from planner.present.frame_csv import frame_csv

    dates: dict = {}  # hardware -> its rate's date, looked up once (a few distinct values in millions of rows)
    watts: dict = {}  # GPU -> the watts it was searched at (the same few values)

    def dated(block):
        hw = block["hardware"]
        for h in hw.unique():
            if h not in dates:
                dates[h] = rate_date(catalog, h, rec.price_basis) or pd.NA
        if power_limit_w is not None and catalog is not None:
            for g in block["gpu"].unique():
                if g not in watts:
                    watts[g] = searched_limit(catalog.gpus.get(g), power_limit_w)
            block = block.assign(power_limit_w=block["gpu"].map(watts).astype("Float64"))
        return block.assign(price_date=hw.map(dates).astype("string"), price_basis=rec.price_basis)

    head = None
    for block in rec.rows.blocks():
        text = frame_csv(dated(block))
        if head is None:
            head = frame_csv(dated(block.iloc[:0]))  # the header line
            yield text
        else:
            if not text.startswith(head):  # every block has the table's columns and dtypes (RankedRows.take)
                raise RuntimeError("recommend --csv: a block's header differs from the first block's")
            yield text[len(head):]


def _noun_of(cat):
    """``noun_of(accelerator name)`` for the catalog's accelerators: "GPU", or "chip" for a TPU or Trainium
    (planner.hardware.options ``device_noun``); "GPU" for a name it does not know."""
    from planner.hardware.platform import device_noun

    def noun_of(name: str) -> str:
        try:
            return device_noun(cat.gpu(name))
        except InputError:  # CatalogError: a name the catalog does not know reads "GPU"
            return "GPU"
    return noun_of


def _show_with_views(planned, as_json: bool, top: int, by: Optional[str], scaling: bool, noun_of=None,
                     catalog=None, power_limit_w=None) -> None:
    """The recommendation, plus the ``--by`` comparison and ``--scaling`` view when asked."""
    if (by or scaling) and planned.workload != "training":
        raise InputError("--by" if by else "--scaling", f"only for training plans, not {planned.workload}")
    views = _views(planned.result, by, scaling, catalog, power_limit_w) if (by or scaling) else {}  # before printing: an error here
    if as_json and (by or scaling):                                          # used to follow the whole table
        payload = jsonable(planned.result)
        payload.update(jsonable(views))  # an unpriced plan's cost is NaN in the view rows: null, as compare --json prints it
        if by:  # the groups without a plan, after the planned rows (as compare --json)
            payload["by"] = payload["by"] + _no_plan_rows(planned.result, by)
        if scaling:
            payload["scaling_left_out"] = list(_scaling_left_out(planned.result))
        _say_stale_prices(planned.result)  # (stderr: as _show says it)
        out.print_json(json.dumps(_with_override_notes(payload), allow_nan=False))
        return
    _show(planned, as_json, top)
    if by or scaling:
        from planner.present.terminal import render_views

        from planner.search.rank import scaling_left_out_note

        note = scaling_left_out_note(planned.result.nodes_cut, planned.result.best.hardware.name) if scaling else ""
        left = (note,) if note else ()
        render_views(out, views, by, planned.result.best.hardware.name, notes=(planned.result.views_note, *left),
                     noun_of=noun_of)


def _scaling_left_out(rec) -> tuple[dict, ...]:
    """The winner's node counts that fit in memory but have no plan within the constraints (``rank.scaling_left_out``):
    the ``--scaling`` table left them out unsaid (QA 58)."""
    from planner.search.rank import scaling_left_out

    return scaling_left_out(rec.nodes_cut, rec.best.hardware.name)


def _given_inputs(job_path, catalog, profile):
    """The job, ``--catalog`` and ``--profile`` paths, an empty one refused as such (``_path_or_empty`` kept it "",
    which typer had made ".", reported as "is a directory")."""
    return (given_path(job_path, "job", "a job YAML, model YAML or HF config.json", optional=False),
            [given_path(c, "--catalog", "a catalog YAML or CSV file") for c in catalog or ()] or None,
            given_path(profile, "--profile", "a calibration profile JSON"))


def _inputs(job_path, catalog, profile) -> list:
    """The files a command reads, which no output option may replace (planner.outputs.output_target): the job, the
    profile and every catalog override, ``$PLANNER_CATALOG``'s too (``report -o mine.csv --force`` replaced a
    ``PLANNER_CATALOG=mine.csv`` override until 2026-12-03), and the files the job names (``spec.load.job_files``:
    its HF config and serving trace, qa58)."""
    from hardware_catalog.catalog import override_paths
    from planner.spec.load import job_files

    job_path, catalog, profile = _given_inputs(job_path, catalog, profile)
    return [job_path, *job_files(job_path), *override_paths(catalog), profile]


def _check_by(by: Optional[str]) -> Optional[str]:
    """``--by`` as ``COMPARE_BY`` spells it (any case, ``Vocab.canonical``), or the one-line refusal."""
    from planner.search.rank import COMPARE_BY

    group = COMPARE_BY.canonical(by)
    if group is not None and group not in COMPARE_BY:
        raise InputError("--by", one_of(COMPARE_BY, by))
    return group


def _views(rec, by: Optional[str], scaling: bool, catalog=None, power_limit_w=None) -> dict:
    """The ``--by`` / ``--scaling`` view rows of ``rec``; ``power_limit_w``: the job's ``cluster.power_limit_w``,
    each row's GPU held at the lower of it and its rated limit (``power.searched_limit``, as the search priced it)."""
    from planner.hardware.power import searched_limit
    from planner.model.cost import rate_price_dates
    from planner.search.rank import best_per, scaling_view

    views = {}
    if by:
        views["by"] = best_per(rec.kept, by, rec.price_basis, rec.figures_include)
    if scaling:
        views["scaling"] = scaling_view(rec.kept, rec.best.hardware.name, rec.price_basis, rec.figures_include)
    for rows in views.values():  # a data-bound job's views are compute-bound: each row says so (--json too)
        for r in rows:
            if rec.views_note:
                r["note"] = rec.views_note
            # how old the rate the row's cost is priced at is (QA 55: a cloud comparison said it of no row)
            r["price_dates"] = rate_price_dates(catalog, r.get("hardware"), rec.price_basis)
            if power_limit_w is not None and catalog is not None:
                # the watts the row's GPUs ran at (QA 62: compare --json's rows said nothing of a limit that slowed
                # each of them, at its own share of its rated power)
                gpu = catalog.gpus.get(r.get("gpu"))
                r["power_limit_w"] = searched_limit(gpu, power_limit_w)
                # its rated limit beside it, so the table's hardware cell says "at 500 W" where the row is held below
                # it, as recommend's table does (QA 63: compare's table gave no row its watts)
                r["rated_power_limit_w"] = getattr(gpu, "power_limit_w", None)
    return views


def _row_notes(rec, rows) -> tuple[str, ...]:
    """``rec.notes`` that hold for ``rows`` (a ``--by`` view): those naming a row's hardware, and those naming no
    searched hardware (the search's own: ``cluster.power_limit_w``'s note). A note on hardware of recommend's top
    rows that is no row here (a TPU slice's network, a single-node instance) is left to recommend."""
    searched = set(rec.kept["hardware"]) if "hardware" in getattr(rec.kept, "columns", ()) else set()
    shown = {r.get("hardware") for r in rows}
    return tuple(n for n in rec.notes if any(h and h in n for h in shown) or not any(h in n for h in searched))


def _no_plan_rows(rec, by: str) -> list[dict]:
    """The ``--by`` view's groups that have no plan, as JSON rows after the planned ones: ``{<by>: name, "no_plan":
    true, "status", "reason"}``, the words of the text's lines. ``--by gpu``: each GPU constraints.gpus lists that has
    no ranked plan (``Recommendation.no_plan``: "left out" unsearched, or "no plan"); ``--by framework``: each stack
    auto searched without a plan (``Recommendation.stacks``: refused / outside the constraints / does not fit). QA 54:
    ``compare --json`` printed the planned rows alone, the text's "constraints.gpus: left out — Gaudi2-96GB: ..." and
    "training.framework auto: no plan — deepspeed: ..." lines nowhere in it. Cloud and instance views have none: a GPU
    left out is not a cloud's or an instance's row."""
    from planner.search.rank import COMPARE_BY, NO_PLAN_WORDS

    by = COMPARE_BY.canonical(by)
    if by == "gpu":
        return [{"gpu": d["gpu"], "no_plan": True, "status": d["status"], "reason": d["reason"]} for d in rec.no_plan]
    if by == "framework":
        return [{"framework": s["framework"], "no_plan": True, "status": NO_PLAN_WORDS[s["status"]],
                 "reason": s["reason"]} for s in rec.stacks if s.get("status") not in ("chosen", "feasible")]
    return []


@app.command()
def compare(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML (as for recommend)"),
    by: str = typer.Option("gpu", "--by", metavar=CHOICE_METAVAR, help="gpu | cloud | hardware | framework (auto)"),
    objective: Optional[str] = ObjectiveOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    """The best plan per GPU type (or cloud, or instance type), side by side: recommend --by without the ranked list."""
    def go():
        group = _check_by(by)
        with _progress("searching") as progress:
            job, ctx = _context(job_path, catalog, profile, objective, top=10, simulate=False, progress=progress)
            planned = _plan("compare", job, ctx, objective)
        if planned.workload != "training":
            raise InputError("compare", f"only for training plans, not {planned.workload}")
        views = _views(planned.result, group, False, ctx.catalog, job.cluster.power_limit_w)
        if as_json:  # the planned rows, then each group without a plan and why (the text's lines under the table)
            out.print_json(json.dumps(jsonable(views["by"]) + _no_plan_rows(planned.result, group), allow_nan=False))
            return
        from planner.present.terminal import render_views

        # the profile that priced the rows (QA 46: compare --profile said nothing of it; recommend's inputs line does)
        inp = planned.result.inputs or {}
        prof = ((f"inputs: calibration profile {inp['profile']}: measured {', '.join(inp['efficiencies_measured']) or 'none'}"
                 f" on {planned.result.best.hardware.gpu}; other GPUs' rows on priors",) if inp.get("profile") else ())
        # --by framework ranks the stacks that have a plan; one searched without one (refused, over memory, outside
        # the constraints) was left out unsaid (QA 49: the deepspeed stack at 128K under Ulysses' head rule)
        lost = tuple(f"training.framework auto: no plan — {s['framework']}: {s.get('lost') or s.get('reason')}"
                     for s in planned.result.stacks if group == "framework" and s.get("status") not in ("chosen", "feasible"))
        # the search's notes on the hardware of its rows and on the whole search, as recommend prints them (QA 62:
        # under cluster.power_limit_w compare said nothing of the watts each GPU's row ran at, nor of the GPUs the
        # limit left out)
        render_views(out, views, group, "", planned.result.caveats,
                     notes=(planned.result.views_note, *_row_notes(planned.result, views["by"]), *prof, *lost),
                     noun_of=_noun_of(ctx.catalog))
    _run(go)


def _serve_flags(arrivals: Optional[str], precisions: Optional[str], as_csv: bool = False,
                 as_json: bool = False) -> tuple[Optional[str], Optional[list[str]]]:
    """``serve``'s --arrivals checked against the vocabulary and --precisions split into the list searched
    (None: the job's serving.precision), each spelled as the vocabulary spells it (any case is taken, as in the job
    file: ``Vocab.canonical``); --csv with --json refused (before the plan: nothing runs for a refused pair)."""
    from planner.vocab import ARRIVALS, SERVE_PRECISION

    _csv_or_json(as_csv, as_json)
    arrivals = ARRIVALS.canonical(arrivals)
    if arrivals is not None and arrivals not in ARRIVALS:
        raise InputError("--arrivals", one_of(ARRIVALS, arrivals, " (or give --trace)"))
    wanted = precisions.replace(" ", "").strip(",").split(",") if precisions is not None else None
    if wanted == [""]:  # `--precisions ""` (an unset shell variable) planned the job's precision unsaid
        raise InputError("--precisions", "empty: give one or more weight precisions, e.g. bf16,fp8 "
                                         "(or leave --precisions out for serving.precision)")
    return arrivals, None if wanted is None else [SERVE_PRECISION.canonical(p) for p in wanted]


ServeCsvOpt = typer.Option(False, "--csv", help="print the options table as CSV (the JSON options' names; the --top best)")
#: ``serve --plan-event-bound``: taken as text and checked by ``settings_for`` against serving.plan_event_bound's bounds
#: (the schema's, one place), so "1e6" is taken as in the job file and a bad value is refused in the same words
PLAN_BOUND_HELP = (f"engine events all of the plan's simulations may run together, {PLAN_EVENT_BOUND_RANGE[0]:,} to "
                   f"{PLAN_EVENT_BOUND_RANGE[1]:,} (overrides serving.plan_event_bound; default {PLAN_EVENT_BOUND:,})")


@app.command()
def serve(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML with a model and a serving section"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"), as_csv: bool = ServeCsvOpt,
    top: int = typer.Option(12, "--top", min=1, max=TOP_MAX, help="options (per hardware, TP and precision) in the "
                                                                "table, the JSON's options and the CSV"),
    no_simulate: bool = typer.Option(False, "--no-simulate", help="analytic answer only (no queueing simulation)"),
    # None when not given (the default is SimSettings.seed): a seed given with --no-simulate is said to be unused
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="simulation seed (same seed, same answer)"),
    arrivals: Optional[str] = typer.Option(None, "--arrivals", metavar=CHOICE_METAVAR, help="simulated arrivals: poisson | mmpp (bursty); default: the job's serving.arrivals"),
    # str, not Path: typer makes "" the path ".", so an empty value (an unset shell variable) could not be told apart
    trace: Optional[str] = typer.Option(None, "--trace", metavar=PATH_METAVAR, help="CSV of arrival_s,prompt_tokens,output_tokens to simulate"),
    precisions: Optional[str] = typer.Option(None, "--precisions", metavar=LIST_METAVAR, help="weight precisions to search, e.g. bf16,fp8"),
    deadline_hours: Optional[str] = typer.Option(
        # no min/max here: settings_for holds the flag to serving.deadline_hours' bounds (the schema, one place);
        # a typer min=0.001 refused 0.0005 that the job field takes; text, not float: typer's own number check
        # answered "abc" in pydantic's words, the field's check says "must be a number of hours"
        None, "--deadline-hours", metavar="<hours>",
        help="offline jobs (serving.mode: batch): hours to finish serving.requests in, which sets the replicas "
             "(overrides serving.deadline_hours)"),
    plan_event_bound: Optional[str] = typer.Option(None, "--plan-event-bound", metavar="<int>", help=PLAN_BOUND_HELP),  # text (see there)
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    # one line: a newline in the docstring broke the help mid-sentence ("... $ per million requests" / "(analytic ...")
    """Serving: GPUs per replica, batch, TTFT/TPOT, replicas for the QPS and $ per million requests (analytic first guess, confirmed and refined in a discrete-event simulation)."""
    def go():
        from planner.workloads.serving_settings import settings_for

        arriving, wanted = _serve_flags(arrivals, precisions, as_csv, as_json)
        trace_path = given_path(trace, "--trace")
        job, ctx = _context(job_path, catalog, profile, top=top, simulate=not no_simulate)
        sim = settings_for(job, arrivals=arriving, trace=str(trace_path) if trace_path else None, seed=seed,
                           deadline_hours=deadline_hours, plan_event_bound=plan_event_bound)
        try:
            with _progress("simulating") as progress:
                planned = _plan("serve", job, replace(ctx, serving=dict(sim=sim, precisions=wanted),
                                                               progress=progress))
        except InputError as e:  # the planner names "trace"/"precisions": say which input the user gave them in
            given = "--trace" if trace is not None else "serving.trace"
            where = {"trace": given, "serving.trace": given, "precisions": "--precisions"}.get(e.field)
            if where is None:
                raise
            raise InputError(where, e.message) from None
        _show(planned, as_json, top, options_csv=as_csv)
    _run(go)


@app.command()
def simulate(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML (fully specified, as for estimate)"),
    steps: int = typer.Option(1000, "--steps", min=1, max=100_000_000, help="training steps to simulate"),
    seed: int = typer.Option(0, "--seed", min=0, help="random seed (same seed, same result)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    timeline: Optional[Path] = typer.Option(None, "--timeline", parser=_path_or_empty, metavar=PATH_METAVAR,
                                            help="write the event timeline (.csv or .json)"),
    no_answers: bool = typer.Option(False, "--no-answers", help="skip the workers/cache/shard/eval/checkpoint questions"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
    force: bool = ForceOpt,
):
    """Discrete-event simulation of the training steps: data pipeline, pipeline schedule, DP sync, evaluation, checkpoints, failures; where the time goes and what to change."""
    def go():
        from planner.present.simulation import timeline_text

        if timeline is not None:
            output_target(timeline, "--timeline", _inputs(job_path, catalog, profile), force, kind=TIMELINE)
        with _progress("simulating") as progress:
            job, ctx = _context(job_path, catalog, profile, steps=steps, seed=seed, timeline=timeline is not None,
                                answers=not no_answers, progress=progress)
            planned = _plan("simulate", job, ctx)
        if timeline is not None:
            write_text(timeline, timeline_text(planned.result.result, TIMELINE.format_of(timeline, "--timeline")),
                       "--timeline", force)
        _show(planned, as_json)
        if timeline is not None and not as_json:  # it wrote the file without a word (report and calibrate say so)
            rows = len(planned.result.result.timeline or [])
            out.print(f"[green]wrote[/] {esc(shown_path(timeline))} ({rows:,} timeline rows)")
    _run(go)


def given_path(value, field: str, what: str = "a file", optional: bool = True) -> Optional[Path]:
    """A path option taken as text: None when left out, refused when given empty (``--storage ""``, an unset shell
    variable, was the path "." to typer and measured the working directory; ``--trace ""`` was taken as no trace)."""
    if value is None:
        return None
    if not str(value).strip():
        raise InputError(field, f"an empty path: give {what}" + (f" (or leave {field} out)" if optional else ""))
    return Path(value)


def storage_target(path: Path) -> None:
    """``calibrate --storage``: a folder (a temporary file is written there) or a non-empty regular file. A device or
    a pipe such as /dev/null passed the old existence check and was refused after the whole calibration, as
    "storage: no such file or folder: /dev/null"; an empty file was read in no time and its rate left out unsaid. The
    look is one ``os.stat``: ``Path.exists`` raised on a name too long, an "internal error (OSError)" until fuzz44."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("--storage", f"{shown_path(path)} does not exist") from None
    except OSError as e:
        raise InputError("--storage", f"{shown_path(path)}: {os_reason(e)}") from None
    except ValueError:  # a NUL in the name
        raise InputError("--storage", f"{shown_path(path)}: {NUL_IN_NAME}") from None
    if stat.S_ISDIR(st.st_mode):
        # the file is written there after the minute of measuring: a read-only folder was an "internal error
        # (OSError): [Errno 30] Read-only file system" then, exit 1 and no profile (qa57)
        if (e := creation_error(path)) is not None:
            raise InputError("--storage", f"{shown_path(path)}: {os_reason(e)}: a folder is measured through a file "
                                          "written there; give a file on that storage to measure its reads")
        return
    if not stat.S_ISREG(st.st_mode):
        raise InputError("--storage", f"{shown_path(path)} is not a regular file or a folder (a device, pipe or socket has no "
                                      "read throughput to measure); give a file on the storage, or a folder on it")
    if st.st_size == 0:
        raise InputError("--storage", f"{shown_path(path)} is empty: nothing to read; give a larger file, or a folder (a "
                                      "64 MiB file is written there)")


@app.command()
def calibrate(
    out_path: Path = typer.Option(..., "-o", "--out", parser=_path_or_empty, metavar=PATH_METAVAR, help="where to write the profile JSON"),
    quick: bool = typer.Option(False, "--quick", help="small grid: <= 60 s on one GPU or this CPU"),
    device: str = typer.Option("auto", "--device", metavar=CHOICE_METAVAR, help="auto (cuda where torch sees a GPU, else this CPU) | cuda | cpu"),
    storage_arg: Optional[str] = typer.Option(None, "--storage", metavar=PATH_METAVAR, help="a file or folder whose read throughput to measure"),
    force: bool = ForceOpt,
):
    """Run microbenchmarks on this machine and write a calibration profile."""
    def go():
        storage = given_path(storage_arg, "--storage", "a file or a folder on the storage to measure")
        try:
            from calibration.bench import DEVICES, resolve_device, run_calibration
        except ImportError as e:
            raise InputError("calibrate", f"needs the calibrate extra (pip install -e '.[calibrate]'): {e}") from None
        output_target(out_path, "--out", [storage], force, kind=PROFILE)  # before minutes of measuring, not after
        if storage is not None:  # what storage_rows can read, checked before the minute of measuring (not after it)
            storage_target(storage)
        dev = resolve_device(device)
        if dev == "cpu" and DEVICES.canonical(device) == "auto":  # it measured the CPU without a word; the profile fits no GPU type
            out.print("no CUDA device on this machine: measuring this CPU (a CPU profile; it applies to no GPU type)")
        prof = run_calibration(device=dev, quick=quick, out_path=out_path, storage_path=storage, progress=True,
                               force=force)
        f = prof.fitted
        out.print(f"[green]wrote[/] {esc(shown_path(out_path))}: {esc(prof.fingerprint.device_name)}"
                  + (f" (catalog GPU {esc(prof.fingerprint.catalog_gpu)})" if prof.fingerprint.catalog_gpu else "")
                  # a bare "gemm_max 0.07" did not say of what: the share of the profile's recorded peak
                  + (f"; the largest GEMMs reach {f.gemm_max:.0%} of the peak it records (gemm_max {f.gemm_max:.2f})"
                     if f.gemm_max else ""))
    _run(go)


@app.command()
def report(
    job_path: Path = typer.Argument(..., parser=_path_or_empty, help="job YAML, bare model YAML, or HF config.json"),
    out_path: Path = typer.Option(..., "-o", "--out", parser=_path_or_empty, metavar=PATH_METAVAR,
                                  help="report.html (self-contained) or report.md (+ report_files/)"),
    top: int = typer.Option(10, "--top", min=1, max=TOP_MAX,
                            help="alternatives to list (ranked plans, instances or serving options)"),
    objective: Optional[str] = ObjectiveOpt,
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
    no_simulate: bool = typer.Option(False, "--no-simulate", help="skip re-ranking the top candidates with the simulator"),
    force: bool = ForceOpt,
):
    """Budget-review report: recommendation, alternatives, cost (rent/spot/buy), charts, risks, assumptions."""
    def go():
        from planner.present.report import check_report_target, report_for_job, report_kind, write_report

        # a wrong suffix or a folder fails before the search runs (an empty path too, as itself, not typer's "."), and
        # so does a Markdown report's chart folder that takes no chart (qa59)
        check_report_target(out_path, force, _inputs(job_path, catalog, profile))
        job, ctx = _context(job_path, catalog, profile, objective)
        if objective not in (None, "cost") and report_kind(job) == "serving":  # the flag's own name, not the field's
            from planner.workloads.serving import objective_refusal

            raise InputError("--objective", objective_refusal(objective))
        with _objective_flag(objective):
            # the day the report's price-date cells count ages to, stated (build_report's ``today``; prices39)
            rep, result = report_for_job(job, ctx.catalog, ctx.profile, top=top, simulate=not no_simulate,
                                         job_name=job_path.name,
                                         today=datetime.datetime.now(datetime.timezone.utc).date())
        files = write_report(rep, out_path, force)
        _say_stale_prices(result, spot_whatif=True)  # after the write: a refused or failed write is its one error line alone
        out.print(f"[green]wrote[/] {', '.join(esc(shown_path(f)) for f in files[:1])}"
                  + (f" and {len(files) - 1} chart files" if len(files) > 1 else ""))
    _run(go)


catalog_app = typer.Typer(help="Print the hardware catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
CatalogJsonOpt = typer.Option(False, "--json", help="JSON (one object per row; missing values null) instead of a table")


def _csv_or_json(as_csv: bool, as_json: bool) -> None:
    """--csv and --json together refused: each replaces the table."""
    if as_csv and as_json:
        raise InputError("--json", "--json and --csv each replace the table: choose one")


def _frame_out(frame, as_csv: bool, as_json: bool, float_format: str | None = "%.10g") -> bool:
    """Write a catalog frame (``frame()``, built only then: a table needs no pandas) as CSV or as JSON records for
    scripts; False when neither was asked for. %.10g: A10G's 22.35 GiB, not its bytes round trip 22.34999999962747
    (JSON keeps 10 significant digits the same way)."""
    _csv_or_json(as_csv, as_json)
    if not (as_csv or as_json):
        return False
    df = frame()
    if as_csv:
        sys.stdout.write(df.to_csv(index=False, float_format=float_format))
    elif as_json:
        import pandas as pd

        df = df.copy()
        # a text column stays text: only a column with no value at all reads null. Every text column that parsed
        # as numbers was made numbers, so an override's instance named "8" or price_date "2025" read 8 and 2025
        # in JSON (its CSV: "8"); the link bandwidths it was for are numbers at their source (Catalog.links_df)
        for c in [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]:
            if df[c].replace("", None).isna().all():
                df[c] = None
        rows = json.loads(df.to_json(orient="records"))  # NaN -> null; through json: pandas escapes "/" in URLs
        rows = [{k: float(f"{v:.10g}") if isinstance(v, float) else v for k, v in r.items()} for r in rows]
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    return as_csv or as_json


def _listing(catalog, as_csv: bool, as_json: bool, frame, table, check=None) -> None:
    """One ``planner catalog`` listing: the catalog (with any override files) loaded, ``check(cat)`` (an option read
    against it; raises InputError), then ``frame(cat)`` as CSV or JSON for scripts (``_frame_out``) or ``table(cat)``
    printed, errors as one line (``_run``)."""
    def go():
        cat = _load_catalog(catalog)
        if check is not None:
            check(cat)
        if not _frame_out(lambda: frame(cat), as_csv, as_json):
            out.print(table(cat))
    _run(go)


@catalog_app.command("gpus")
def catalog_gpus(catalog: Optional[List[Path]] = CatalogOpt,
                 as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table"),
                 as_json: bool = CatalogJsonOpt):
    """Accelerators with memory, bandwidth and dense peaks."""
    from hardware_catalog import format_gpus_table

    from planner.model.physics import derived_fp8_peak

    _listing(catalog, as_csv, as_json, lambda cat: cat.gpus_df(),
             lambda cat: format_gpus_table(cat, width=out.width, derive_fp8=derived_fp8_peak))


@catalog_app.command("links")
def catalog_links(catalog: Optional[List[Path]] = CatalogOpt,
                  as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table (sources uncut)"),
                  as_json: bool = CatalogJsonOpt):
    """Interconnects (NVLink, InfiniBand, EFA, Ethernet …) with bandwidths, latencies and sources."""
    from hardware_catalog.tables import format_links_table

    # the README's `catalog ... [--csv]`: links had none, and its table cuts sources at 60 characters
    _listing(catalog, as_csv, as_json, lambda cat: cat.links_df(), format_links_table)


@catalog_app.command("systems")
def catalog_systems(catalog: Optional[List[Path]] = CatalogOpt,
                    as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table"),
                    as_json: bool = CatalogJsonOpt):
    """Reference systems: the unpriced node a bare-GPU cluster of a GPU without instance rows is taken to be."""
    from hardware_catalog.tables import format_systems_table

    _listing(catalog, as_csv, as_json, lambda cat: cat.systems_df(),  # 417.2 GiB, not 417.19999999925494
             lambda cat: format_systems_table(cat, width=out.width))


@catalog_app.command("instances")
def catalog_instances(cloud: Optional[str] = typer.Option(None, "--cloud", metavar=CHOICE_METAVAR, help="a cloud in the catalog: aws | gcp | azure | lambda | runpod | shadeform, or one a --catalog override adds"),
                      catalog: Optional[List[Path]] = CatalogOpt,
                      as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table"),
                      as_json: bool = CatalogJsonOpt):
    """Cloud instances: GPU nodes, and the CPU-only ones tabular (GBDT) jobs are planned on, with network and prices."""
    def check(cat):
        clouds = {i.cloud for i in cat.instances.values()}
        if cloud is not None and cloud.lower() not in clouds:
            # an empty one too (`--cloud "$CLOUD"` with the variable unset listed every cloud's instances)
            raise InputError("--cloud", f"unknown cloud {cloud!r}; known: {', '.join(sorted(clouds))}")

    def table(cat):
        from hardware_catalog import format_instances_table

        from planner.hardware.platform import device_noun  # (not .options: it loads the specs and numpy)

        return format_instances_table(cat, cloud, width=out.width, noun=device_noun)

    _listing(catalog, as_csv, as_json, lambda cat: cat.instances_df(cloud), table, check)


@catalog_app.command("commitments")
def catalog_commitments(catalog: Optional[List[Path]] = CatalogOpt,
                        as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table (sources and notes uncut)"),
                        as_json: bool = CatalogJsonOpt):
    """Commitment terms: 1-/3-year reserved or committed-use prices and AWS capacity blocks, per instance."""
    from hardware_catalog.tables import format_commitments_table

    _listing(catalog, as_csv, as_json, lambda cat: cat.commitments_df(),
             lambda cat: format_commitments_table(cat, width=out.width))


@catalog_app.command("onprem")
def catalog_onprem(catalog: Optional[List[Path]] = CatalogOpt,
                   as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table (sources and notes uncut)"),
                   as_json: bool = CatalogJsonOpt):
    """On-prem (buy vs rent) inputs: server prices, power, PUE, hosting, amortisation, utilisation, with sources."""
    from hardware_catalog.tables import format_onprem_table

    _listing(catalog, as_csv, as_json, lambda cat: cat.onprem_df(), lambda cat: format_onprem_table(cat, width=out.width))


@app.command()
def presets():
    """List the shipped model presets."""
    def go():
        from planner.present.terminal import presets_table
        from planner.spec.presets import preset_summaries

        out.print(presets_table(preset_summaries()))
    _run(go)


def usage_words(msg: str) -> str:
    """A usage error's message in the project's words: typer's option bounds and types come as "Invalid value for
    '--top': Input should be greater than or equal to 1" (the option twice, pydantic's sentence), read back to its
    type by ``hardware_catalog.errors.reword`` -- the job fields' table, ``PYDANTIC_WORDS``, so the two cannot drift
    (until 2026-12-03 a second table of regexes here said the same bounds).

    >>> usage_words("Invalid value for '--top': Input should be greater than or equal to 1")
    'must be at least 1'
    >>> usage_words("Invalid value for '--seed': Input should be a valid integer, unable to parse string as an integer")
    'must be a whole number'
    """
    msg = re.sub(r"^Invalid value for '[^']*': ", "", msg)
    return reword(msg) or msg


@functools.cache
def click_command():
    """The click command typer builds from ``app`` (``typer.main.get_command``), built once per process: ``app(...)``
    rebuilds it, every command's signature read again, on each call (12.6 ms of a fuzzed estimate's 86 ms in
    tests/test_fuzz_new_inputs.py, cProfile). Every command is registered at import and the command keeps no state
    between calls (click makes a new Context per call), so the one built first is the one typer would build again.
    ``app(...)`` also installs typer's exception hook; with ``pretty_exceptions_enable=False`` that hook hands every
    exception to Python's own, so calling the command directly prints the same traceback under PLANNER_DEBUG."""
    return _paths_named(typer.main.get_command(app))


def _paths_named(group):
    """Every path argument's type column says ``PATH_METAVAR``, as the path options' metavar does: typer prints an
    argument's Python type (``<Path>``) and reads no metavar for that column (typer.core ``TyperArgument.
    display_type_rich``; an argument's metavar renames its name column instead), so ``estimate --help`` read
    "job_path <Path>" over "--catalog <path>" (QA 102). Set on the one command ``click_command`` builds."""
    for cmd in getattr(group, "commands", {}).values():
        _paths_named(cmd)
    for p in getattr(group, "params", ()):
        desc = getattr(p, "type_descriptor", None)
        if p.param_type_name == "argument" and desc is not None and desc.annotation is Path:
            p.display_type_rich = lambda ctx: PATH_METAVAR
    return group


def main():  # console-script entry point
    """Run the CLI; a usage error (bad option value, unknown option, missing argument) is one line
    and exit 2, like every other input error, instead of the boxed help panel."""
    from planner.alloc import keep_freed_memory

    keep_freed_memory()  # the search's numpy temporaries reuse the heap (planner.alloc)
    try:
        rv = click_command()(standalone_mode=False, prog_name="planner")
    except typer.Abort:
        err.print("[bold red]error:[/] interrupted", highlight=False)
        sys.exit(130)
    except Exception as e:
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):  # not a usage error
            raise
        param = getattr(e, "param", None)
        opts = getattr(param, "opts", None) if param is not None else None
        name = opts[0] if opts else getattr(param, "name", None)
        msg = usage_words(" ".join(e.format_message().split()))
        if not msg:  # `planner` or `planner catalog` alone: the help is already printed; no empty "error:" line
            sys.exit(e.exit_code)
        if name is None:  # an unknown option or command names no parameter: name what the user typed
            name = getattr(e, "option_name", None)
            # the name up to its closing quote: the greedy '(.*)' took "gpuz'. Did you mean 'gpus" when click suggests one
            unknown = re.match(r"No such command '([^']*)'", msg)
            if name is None and unknown:
                name = unknown.group(1)
            if name is None and msg.startswith("Got unexpected extra argument"):
                name = "arguments"  # `planner estimate a.yaml b.yaml`: one line names what to fix, as every other error
        err.print(f"[bold red]error:[/] {esc(name + ': ' if name else '')}{esc(msg)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    # without standalone mode the framework returns a command's exit code instead of exiting
    if isinstance(rv, int) and not isinstance(rv, bool):
        sys.exit(rv)


if __name__ == "__main__":
    main()
