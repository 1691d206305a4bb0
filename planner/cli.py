"""Command line: ``planner estimate | recommend | simulate | calibrate | catalog | presets | report``.

Every user error (``InputError``) prints one line, ``error: <field>: <message>``, and exits 2 —
no traceback, nothing written. Set ``PLANNER_DEBUG=1`` to see tracebacks of internal errors.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from planner.errors import InputError, clip
from planner.present.safe import SafeConsole as Console, clean_line, esc
from planner.vocab import OBJECTIVE
from planner.present.write import output_target, write_text

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="GPU capacity planner and training cost/throughput simulator.")
out = Console(soft_wrap=False)
if not out.is_terminal:  # piped or captured: wide enough that tables stay on one line per row
    out = Console(soft_wrap=False, width=int(os.environ.get("COLUMNS", "150")))
err = Console(stderr=True)


def _fail(e: Exception, code: int = 2):
    msg = clean_line(e)  # the user's text: no markup, no control codes, one line
    err.print(f"[bold red]error:[/] {esc(msg)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _run(fn, *a, **kw):
    """Call ``fn``, turning input errors into the one-line contract."""
    try:
        return fn(*a, **kw)
    except InputError as e:
        _fail(e)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail(Exception("interrupted"), 130)
    except Exception as e:  # an internal error: still one line unless debugging
        if os.environ.get("PLANNER_DEBUG"):
            raise
        _fail(Exception(f"internal error ({e.__class__.__name__}): {e} — rerun with PLANNER_DEBUG=1 for a traceback"), 1)


def _set_objective(job, objective: Optional[str]):
    """``--objective`` overrides the job's constraints.objective (recommend, report)."""
    if objective is None:
        return
    if objective not in OBJECTIVE:
        raise InputError("--objective", f"must be {', '.join(OBJECTIVE)} (got {clip(objective)})")
    job.constraints.objective = objective


def _load(job_path: Path, catalog: Optional[List[Path]], profile: Optional[Path]):
    from hardware_catalog import load_catalog
    from planner.spec import load_job

    job = load_job(job_path)
    cat = load_catalog(catalog or None)
    prof = None
    if profile is not None:
        from planner.hardware.profile import load_profile

        prof = load_profile(profile, "--profile")
    return job, cat, prof


CatalogOpt = typer.Option(None, "--catalog", help="extra catalog YAML/CSV file(s) adding or overriding rows")
ProfileOpt = typer.Option(None, "--profile", help="calibration profile JSON (planner calibrate -o ...)")


@app.command()
def estimate(
    job_path: Path = typer.Argument(..., help="job YAML, bare model YAML, or HF config.json"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    """Params, FLOPs, memory per rank, step time, MFU and cost of one fully specified job."""
    def go():
        from planner.workloads.training import estimate_job
        from planner.present.terminal import render_estimate

        job, cat, prof = _load(job_path, catalog, profile)
        res = estimate_job(job, cat, prof)
        camp = _campaign_for(job, cat, res["cost"]["hours"], res["cost"]["cost_ondemand_usd"] or 0.0)
        if as_json:
            out.print_json(json.dumps({**res, **({"campaign": camp} if camp else {})}, default=float))
        else:
            render_estimate(out, res)
            _render_campaign(camp)
    _run(go)


@app.command()
def recommend(
    job_path: Path = typer.Argument(..., help="job YAML (fields of parallel/cluster left out are searched)"),
    top: int = typer.Option(10, "--top", min=1, max=1000, help="rows to show"),
    objective: Optional[str] = typer.Option(None, "--objective", help="cost | time | tokens_per_dollar"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="write the ranked feasible candidates as CSV"),
    emit: Optional[str] = typer.Option(None, "--emit", help="torchrun | slurm | skypilot | k8s: print a launch spec for the winner"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
    no_simulate: bool = typer.Option(False, "--no-simulate", help="skip re-ranking the top candidates with the simulator"),
):
    """Search instance types, node counts and parallel layouts; rank by cost, time or tokens/$."""
    def go():
        from planner.present.terminal import render_recommendation
        from planner.search.recommend import recommend as do_recommend

        if csv_path is not None:
            output_target(csv_path, "--csv")  # a bad path fails before the search, not after
        job, cat, prof = _load(job_path, catalog, profile)
        _set_objective(job, objective)
        if job.tabular is not None:  # a non-neural workload: CPU and GPU instances alike
            from planner.workloads.tabular import plan_tabular, render_tabular

            res = plan_tabular(job, cat)
            camp = _campaign_for(job, cat, res["best"]["hours"], res["best"]["cost_usd"])
            if as_json:
                out.print_json(json.dumps({**res, **({"campaign": camp} if camp else {})}, default=float))
            else:
                render_tabular(out, res, top)
                _render_campaign(camp)
            return
        res = do_recommend(job, cat, prof, top=top, simulate=not no_simulate)
        if csv_path is not None:
            write_text(csv_path, res["table"].to_csv(index=False), "--csv")
        if emit:
            from planner.present.emit import emit_launch_spec

            text = emit_launch_spec(job, res["best"], emit)
            sys.stdout.write(text)  # verbatim: rich would wrap long command lines
            return
        camp = _campaign_for(job, cat, res["best"]["cost"]["hours"], _cost_of_best(res))
        if as_json:
            payload = {k: v for k, v in res.items() if k != "table"}
            if camp:
                payload["campaign"] = camp
            out.print_json(json.dumps(payload, default=float))
        else:
            render_recommendation(out, res, top)
            _render_campaign(camp)
    _run(go)


def _cost_of_best(res: dict) -> float:
    c = res["best"]["cost"]
    return (c["cost_spot_usd"] if res.get("spot") else c["cost_ondemand_usd"]) or 0.0


def _campaign_for(job, cat, train_hours: float, train_usd: float):
    """The preprocessing-tax comparison when the job has a ``campaign`` section (planner/campaign.py)."""
    if job.campaign is None:
        return None
    from planner.workloads.campaign import plan_campaign

    return plan_campaign(job, {"hours": train_hours, "usd": train_usd}, cat)


def _render_campaign(camp):
    if camp:
        from planner.workloads.campaign import render_campaign

        render_campaign(out, camp)


@app.command()
def serve(
    job_path: Path = typer.Argument(..., help="job YAML with a model and a serving section"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    top: int = typer.Option(12, "--top", min=1, max=1000, help="rows to show"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    """Serving: GPUs per replica, batch, TTFT/TPOT, replicas for the QPS and $ per million requests."""
    def go():
        from planner.workloads.serving import plan_serving, render_serving

        job, cat, prof = _load(job_path, catalog, profile)
        res = plan_serving(job, cat, prof)
        if as_json:
            out.print_json(json.dumps(res, default=float))
        else:
            render_serving(out, res, top)
    _run(go)


@app.command()
def simulate(
    job_path: Path = typer.Argument(..., help="job YAML (fully specified, as for estimate)"),
    steps: int = typer.Option(1000, "--steps", min=1, max=100_000_000, help="training steps to simulate"),
    seed: int = typer.Option(0, "--seed", min=0, help="random seed (same seed, same result)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    timeline: Optional[Path] = typer.Option(None, "--timeline", help="write the event timeline (.csv or .json)"),
    no_answers: bool = typer.Option(False, "--no-answers", help="skip the workers/cache/shard/eval/checkpoint questions"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
):
    """Discrete-event simulation of the training steps: data pipeline, pipeline schedule, DP sync,
    evaluation, checkpoints, failures; where the time goes and what to change."""
    def go():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from planner.workloads.training import estimate_job
        from planner.present.simulation import format_answers, format_result, run_simulate_command, timeline_text

        if timeline is not None:
            if timeline.suffix.lower() not in (".csv", ".json"):
                raise InputError("--timeline", f"must end in .csv or .json (got {timeline.name!r})")
            output_target(timeline, "--timeline")
        job, cat, prof = _load(job_path, catalog, profile)
        est = estimate_job(job, cat, prof)
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("simulating", total=1)
            res, ans = run_simulate_command(
                job, est, steps=steps, seed=seed, timeline=timeline is not None, answers=not no_answers,
                progress=lambda done, total, what: bar.update(task, completed=done, total=total, description=what))
        if timeline is not None:
            write_text(timeline, timeline_text(res, timeline.suffix.lower().lstrip(".")), "--timeline")
        if as_json:
            payload = res.to_dict()
            payload["answers"] = ans
            out.print_json(json.dumps(payload, default=float))
        else:
            out.print(format_result(res))
            for part in format_answers(ans):
                out.print(part)
    _run(go)


@app.command()
def calibrate(
    out_path: Path = typer.Option(..., "-o", "--out", help="where to write the profile JSON"),
    quick: bool = typer.Option(False, "--quick", help="small grid: <= 60 s on one GPU or this CPU"),
    device: str = typer.Option("auto", "--device", help="auto | cuda | cpu"),
    storage: Optional[Path] = typer.Option(None, "--storage", help="a file or folder whose read throughput to measure"),
):
    """Run microbenchmarks on this machine and write a calibration profile."""
    def go():
        try:
            from calibration.bench import run_calibration
        except ImportError as e:
            raise InputError("calibrate", f"needs the calibrate extra (pip install -e '.[calibrate]'): {e}") from None
        output_target(out_path, "--out")  # before minutes of measuring, not after
        if storage is not None and not storage.exists():
            raise InputError("--storage", f"{storage} does not exist")
        prof = run_calibration(device=device, quick=quick, out_path=out_path, storage_path=storage, progress=True)
        f = prof.fitted
        out.print(f"[green]wrote[/] {esc(out_path)}: {esc(prof.fingerprint.device_name)}"
                  + (f" (catalog GPU {esc(prof.fingerprint.catalog_gpu)})" if prof.fingerprint.catalog_gpu else "")
                  + f"; gemm_max {f.gemm_max:.2f}" if f.gemm_max else "")
    _run(go)


@app.command()
def report(
    job_path: Path = typer.Argument(..., help="job YAML, bare model YAML, or HF config.json"),
    out_path: Path = typer.Option(..., "-o", "--out", help="report.html (self-contained) or report.md (+ report_files/)"),
    top: int = typer.Option(10, "--top", min=1, max=100, help="alternatives to list"),
    objective: Optional[str] = typer.Option(None, "--objective", help="cost | time | tokens_per_dollar"),
    catalog: Optional[List[Path]] = CatalogOpt,
    profile: Optional[Path] = ProfileOpt,
    no_simulate: bool = typer.Option(False, "--no-simulate", help="skip re-ranking the top candidates with the simulator"),
):
    """Budget-review report: recommendation, alternatives, cost (rent/spot/buy), charts, risks, assumptions."""
    def go():
        from planner.present.report import report_for_job, report_format, write_report

        report_format(out_path)  # a wrong suffix or folder fails before the search runs
        output_target(out_path, "--out")
        job, cat, prof = _load(job_path, catalog, profile)
        _set_objective(job, objective)
        rep, _ = report_for_job(job, cat, prof, top=top, simulate=not no_simulate, job_name=job_path.name)
        files = write_report(rep, out_path)
        out.print(f"[green]wrote[/] {', '.join(esc(f) for f in files[:1])}"
                  + (f" and {len(files) - 1} chart files" if len(files) > 1 else ""))
    _run(go)


catalog_app = typer.Typer(help="Print the hardware catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("gpus")
def catalog_gpus(catalog: Optional[List[Path]] = CatalogOpt,
                 as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table")):
    """Accelerators with memory, bandwidth and dense peaks."""
    def go():
        from hardware_catalog import format_gpus_table, load_catalog

        cat = load_catalog(catalog or None)
        if as_csv:
            sys.stdout.write(cat.gpus_df().to_csv(index=False))
        else:
            out.print(format_gpus_table(cat))
    _run(go)


@catalog_app.command("instances")
def catalog_instances(cloud: Optional[str] = typer.Option(None, "--cloud", help="aws | gcp | azure | lambda | runpod"),
                      catalog: Optional[List[Path]] = CatalogOpt,
                      as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a table")):
    """Cloud instances with GPUs, network and prices."""
    def go():
        from hardware_catalog import format_instances_table, load_catalog

        cat = load_catalog(catalog or None)
        if cloud and cloud.lower() not in {i.cloud for i in cat.instances.values()}:
            raise InputError("--cloud", f"unknown cloud {cloud!r}; known: {', '.join(sorted({i.cloud for i in cat.instances.values()}))}")
        if as_csv:
            sys.stdout.write(cat.instances_df(cloud).to_csv(index=False))
        else:
            out.print(format_instances_table(cat, cloud))
    _run(go)


@app.command()
def presets():
    """List the shipped model presets."""
    def go():
        from rich.table import Table

        from planner.spec.params import count_params
        from planner.spec.presets import PRESETS
        from planner.spec import ModelSpec

        tab = Table(title="model presets")
        for col in ("preset", "family", "params", "layers", "hidden", "heads/kv", "vocab"):
            tab.add_column(col, justify="right" if col not in ("preset", "family") else "left")
        for name, fields in PRESETS.items():
            m = ModelSpec(**fields)
            n = count_params(m).total
            tab.add_row(name, m.family, f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M",
                        str(m.layers or "-"), str(m.hidden or "-"),
                        f"{m.heads}/{m.kv_heads}" if m.heads else "-", str(m.vocab or "-"))
        out.print(tab)
    _run(go)


def main():  # console-script entry point
    """Run the CLI; a usage error (bad option value, unknown option, missing argument) is one line
    and exit 2, like every other input error, instead of the boxed help panel."""
    try:
        rv = app(standalone_mode=False)
    except typer.Abort:
        err.print("[bold red]error:[/] interrupted", highlight=False)
        sys.exit(130)
    except Exception as e:
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):  # not a usage error
            raise
        param = getattr(e, "param", None)
        opts = getattr(param, "opts", None) if param is not None else None
        name = opts[0] if opts else getattr(param, "name", None)
        msg = " ".join(e.format_message().split())
        err.print(f"[bold red]error:[/] {esc(name + ': ' if name else '')}{esc(msg)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    # without standalone mode the framework returns a command's exit code instead of exiting
    if isinstance(rv, int) and not isinstance(rv, bool):
        sys.exit(rv)


if __name__ == "__main__":
    main()
