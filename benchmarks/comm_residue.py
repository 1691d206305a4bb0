"""How far each row's exposed collectives would have to stretch for its measured step: the factor on their price.

A row's step is priced as compute + exposed communication (``step_time``'s ``comm_tp`` / ``comm_dp`` / ``comm_pp``).
Taking the rest of the row as exact, the TP all-reduces would have to cost ``k_tp`` = (measured - (predicted -
comm_tp)) / comm_tp times their price to give the measured step (``residue_factor``; 1 = priced right, NaN where the
part is nil), the DP reduce ``k_dp`` likewise. Listed beside where each group sits (``tp_nodes`` / ``dp_nodes``: the
nodes one group spans in Megatron's rank order, ``planner.model.comm.members_per_node``), so a residue can be told
apart by whether it rides on a collective that leaves the node, and whether it is the same on every cluster: tp55
found DLPerf's V100 rows (one EDR HCA a node) need ``k_tp`` 1.7-2.3 where vTrain's A100 TP 16 rows (also across 2
nodes) need 0.99-1.12 (docs/accuracy_log.md "tp55").

Run::

    python benchmarks/comm_residue.py [--source dlperf_megatron|vtrain_multi|all]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate  # noqa: E402
from planner.model.comm import members_per_node  # noqa: E402

#: the loaders that return their rows with ``validate.PART_COLUMNS`` (``parts=True``)
LOADERS = {"dlperf_megatron": lambda cat: validate.dlperf_megatron(cat, parts=True),
           "vtrain_multi": lambda cat: validate.vtrain(cat, "multi", parts=True)}


def residue_factor(measured, predicted, part):
    """The factor on ``part`` (seconds a step, priced inside ``predicted``) that makes the step ``measured``, the rest
    of the row taken as exact (vectorised; NaN where the part is nil)."""
    part = np.asarray(part, dtype=np.float64)
    rest = np.asarray(predicted, dtype=np.float64) - part
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(part > 0, (np.asarray(measured, dtype=np.float64) - rest) / part, np.nan)


def group_nodes(n, stride, gpus_per_node):
    """Nodes one group of ``n`` ranks at inner stride ``stride`` spans (Megatron's rank order; vectorised)."""
    n = np.asarray(n, dtype=np.float64)
    return n / members_per_node(n, stride, gpus_per_node)


def residue_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per row (a loader's ``parts=True`` frame): signed error (%), where the TP and DP groups sit, and the factor
    their exposed collectives would need (``residue_factor``)."""
    d = rows.copy()
    d["err_pct"] = 100 * (d["predicted_s"] / d["measured_s"] - 1)
    d["tp_nodes"] = group_nodes(d["tp"], 1, d["node_gpus"])
    d["dp_nodes"] = group_nodes(d["dp"], d["tp"], d["node_gpus"])
    d["k_tp"] = residue_factor(d["measured_s"], d["predicted_s"], d["comm_tp"])
    d["k_dp"] = residue_factor(d["measured_s"], d["predicted_s"], d["comm_dp"])
    cols = ["source", "model", "gpus", "tp", "pp", "dp", "mb", "measured_s", "predicted_s", "err_pct",
            "comm_tp", "tp_nodes", "k_tp", "comm_dp", "dp_nodes", "k_dp", "comm_pp"]
    return d[cols]


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    from hardware_catalog import load_catalog

    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=[*LOADERS, "all"], default="all")
    args = ap.parse_args(argv)
    cat = load_catalog()
    names = list(LOADERS) if args.source == "all" else [args.source]
    table = pd.concat([residue_table(LOADERS[n](cat)) for n in names], ignore_index=True)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    print(table.round(3).to_string(index=False))
    return table


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
