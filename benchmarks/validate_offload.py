"""Predicted vs measured step time of training runs that offload to host memory (README "Still missing": offload).

Two kinds of rows:

* ``data/parts/offload.csv`` (builder ``data/parts/scripts/offload.py``, its sources and what was searched and not
  usable): each row's stated inputs written as a job and run through ``planner estimate --json`` (the CLI, in
  process), as a user would. By the row's ``metric``:

  - ``tflops_per_gpu`` (the ZeRO-Offload paper's 40 TFLOP/s on one V100): the measured step is the planner's hardware
    FLOPs per step (with the recomputed forward) over the printed rate; the prediction is ``step_time_s``.
  - ``added_s`` (NeMo RL PR #3628's Megatron-Core optimizer offload, on - off): the prediction is the step with
    ``optimizer_offload`` less the same job without it. The source does not print its batch, so the job is also run
    at 4x the global batch; ``batch_spread_s`` is how much the predicted difference moves with it (the check that
    the row does not hinge on the batch taken).

* The validation set's rows whose recipe turns Megatron-Core's activation offload on (``--cpu-offloading``,
  ``cpu_offloading_num_layers``; validate.py ``MBRIDGE_CPU_OFFLOAD``): Megatron-Bridge Llama 3 70B / 3.1 405B
  Megatron-FSDP on GB200 / GB300 (``mbridge_all``) and Together AI's Llama 3.1 70B FP8 on DGX B200 (``together B200
  baselines``), as validate.py predicts them. ``--no-validation`` leaves them out (they take ~20 s).

Run: ``python benchmarks/validate_offload.py [--csv out.csv] [--no-validation]``: every row, then per group the
median and p90 absolute error and the mean signed error (``err`` = predicted / measured - 1).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.parts_data import load  # noqa: E402
from benchmarks.validate import error_stats  # noqa: E402

#: the group each offload.csv row is summarised under (by its ``stack`` and ``offloaded``)
GROUPS = {("megatron-deepspeed", "optimizer"): "optimizer offload: DeepSpeed ZeRO-Offload (V100)",
          ("megatron-core", "optimizer"): "optimizer offload: Megatron-Core HybridDeviceOptimizer (H100, added s)"}
#: validate.py's sources whose rows may run Megatron-Core's activation offload, and their group names
VALIDATION = (("mbridge_all", "activation offload: Megatron-Bridge GB200 / GB300 (validation rows)"),
              ("together_baselines", "activation offload: Together AI DGX B200 (validation rows)"))


def job(r: dict, offload: bool = True, batch_scale: int = 1) -> dict:
    """The ``estimate`` job of an offload.csv row: its model, layout, precision, stack and GPUs as stated (the row's
    ``assumptions`` say what was taken where the source is silent) with its stack options (``framework_json``);
    ``offload`` False: the same job without it."""
    fw = {"name": r["stack"], **json.loads(r.get("framework_json") or "{}"), f"{r['offloaded']}_offload": bool(offload)}
    return {"model": json.loads(r["model_json"]),
            "training": {"seq_len": r["seq_len"], "global_batch": r["global_batch"] * batch_scale,
                         "micro_batch": r["micro_batch"], "precision": r["precision"], "recompute": r["recompute"],
                         "optimizer": "adamw", "framework": fw},
            "parallel": {"tp": 1, "pp": 1, "dp": r["num_gpus"], "zero": r["zero"]},
            "cluster": {"gpu": r["gpu"], "gpus_per_node": r["gpus_per_node"],
                        "nodes": max(1, r["num_gpus"] // r["gpus_per_node"]),
                        # the testbed's host RAM where the row states it (a bare GPU otherwise takes its reference
                        # instance's RAM per GPU: the one-GPU DGX-2 run held the host's whole 1.5 TB)
                        **({"host_ram_gib": r["host_ram_gib"]} if r.get("host_ram_gib") else {})}}


def estimate(job_dict: dict) -> dict:
    """``planner estimate --json`` of a job (written to a temporary YAML file), run in process; raises on a refusal
    (every row must be answered)."""
    import yaml
    from typer.testing import CliRunner

    from planner.cli import app

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "job.yaml"
        path.write_text(yaml.safe_dump(job_dict))
        res = CliRunner().invoke(app, ["estimate", str(path), "--json"])
    if res.exit_code != 0:
        raise RuntimeError(f"estimate refused {job_dict}: {res.stderr or res.stdout}")
    return json.loads(res.stdout)


def tflops_row(r: dict) -> dict:
    """A ``tflops_per_gpu`` row: measured step = the planner's hardware FLOPs / the printed rate."""
    out = estimate(job(r))
    measured = out["hw_flops_per_step"] / (r["value"] * 1e12 * r["num_gpus"])
    return dict(measured_s=measured, predicted_s=out["step_time_s"], offload_s=_offload_s(out),
                batch_spread_s=np.nan, fits=out["fits"])


def added_row(r: dict) -> dict:
    """An ``added_s`` row: the step with the offload less the step without, at the row's batch and at 4x it."""
    on, off = estimate(job(r)), estimate(job(r, offload=False))
    on4, off4 = estimate(job(r, batch_scale=4)), estimate(job(r, offload=False, batch_scale=4))
    added = on["step_time_s"] - off["step_time_s"]
    return dict(measured_s=r["value"], predicted_s=added, offload_s=_offload_s(on),
                batch_spread_s=abs(on4["step_time_s"] - off4["step_time_s"] - added), fits=on["fits"])


def _offload_s(out: dict) -> float:
    """Seconds of the step in the optimizer (the CPU step under offload) and the host copies."""
    b = out["breakdown_s"]
    return float(b.get("optimizer", 0.0) + b.get("offload", 0.0))


METRICS = {"tflops_per_gpu": tflops_row, "added_s": added_row}


def csv_rows() -> pd.DataFrame:
    """Every offload.csv row with its prediction."""
    out = []
    for r in load("offload"):
        got = METRICS[r["metric"]](r)
        out.append(dict(group=GROUPS[(r["stack"], r["offloaded"])], id=r["id"], metric=r["metric"], **got))
    return pd.DataFrame(out)


def validation_rows() -> pd.DataFrame:
    """The validation set's activation-offload rows as validate.py predicts them (module docstring)."""
    from benchmarks import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    out = []
    for fn, group in VALIDATION:
        df = getattr(validate, fn)(cat)
        df = df[df["options"].fillna("").str.contains("activation_offload=True")]
        out.append(pd.DataFrame(dict(group=group, id=df["id"], metric="step_s", measured_s=df["measured_s"],
                                     predicted_s=df["predicted_s"])))
    return pd.concat(out, ignore_index=True)


def rows(with_validation: bool = True) -> pd.DataFrame:
    """Every row (offload.csv's, and the validation set's activation-offload ones) with ``err``."""
    df = csv_rows()
    if with_validation:
        df = pd.concat([df, validation_rows()], ignore_index=True)
    df["err"] = df["predicted_s"] / df["measured_s"] - 1
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per group: rows, median and p90 absolute error, mean signed error."""
    return pd.DataFrame([dict(group=group, rows=len(g), **error_stats(g["err"]))
                         for group, g in df.groupby("group", sort=False)])


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2

    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="write every row's prediction here")
    ap.add_argument("--no-validation", action="store_true", help="only offload.csv's rows")
    args = ap.parse_args(argv)
    df = rows(not args.no_validation)
    pd.set_option("display.width", 200)
    show = df[["group", "id", "measured_s", "predicted_s", "err"]].copy()
    show["err"] = (show["err"] * 100).map(lambda x: f"{x:+.1f}%")
    print(show.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print()
    tab = summary(df)
    fmt = tab.copy()
    for c in ("median_abs_err", "p90_abs_err", "mean_signed_err"):
        fmt[c] = (fmt[c] * 100).map(lambda x: f"{x:+.1f}%" if c == "mean_signed_err" else f"{x:.1f}%")
    print(fmt.to_string(index=False))
    if args.csv:
        df.to_csv(args.csv, index=False)
    return tab


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
