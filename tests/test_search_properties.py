"""Properties of ``recommend`` that must hold for any constraint set (issue: the search's result
assembly once indexed per-option batches by the option's position among *all* options, so a
skipped option shifted every later row onto the wrong layout: IndexError, unfitting rows, a
"recommended" plan that was not the first ranked one).

For random constraint sets: best == first ranked; every ranked plan fits; the ranking follows the
objective; the ranked rows, the table (what ``--csv`` writes) and the emitted launch spec describe
the same plans."""
import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.search.rank import COST_TIE
from planner.workloads.training import recommend
from planner.spec import load_job_dict
from conftest import answered, planned_once

pytestmark = pytest.mark.slow  # ~29 CPU s in 4 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

LAYOUT = ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "zero")


def _job(preset, seq, gb, clouds, gpus, max_gpus, spot, objective):
    con = {"max_gpus": max_gpus, "spot": spot, "objective": objective}
    if clouds:
        con["clouds"] = clouds
    if gpus:
        con["gpus"] = gpus
    return {"model": {"preset": preset}, "training": {"seq_len": seq, "global_batch": gb, "tokens": 2e10},
            "constraints": con}


jobs = st.builds(
    _job,
    preset=st.sampled_from(["llama3-8b", "gpt2-xl", "mixtral-8x7b"]),
    seq=st.sampled_from([2048, 4096, 8192]),
    gb=st.sampled_from([64, 256, 512]),
    clouds=st.lists(st.sampled_from(["aws", "gcp", "azure", "lambda", "runpod"]), unique=True, max_size=3),
    gpus=st.lists(st.sampled_from(["L4", "A10G", "H100", "A100", "H200", "B200", "L40S"]), unique=True, max_size=3),
    # up to two 8-GPU nodes: multi-node plans and skipped options without 64-GPU searches of every cloud's every
    # GPU (a mixtral draw at 64 was 6.4 s of the test's 27 s CPU; suite48)
    max_gpus=st.sampled_from([1, 2, 4, 8, 16]),
    spot=st.booleans(),
    objective=st.sampled_from(["cost", "time", "tokens_per_dollar"]),
)


def _key(row: dict) -> tuple:
    hw, c = row["hardware"], row["config"]
    return (hw["name"], hw["nodes"], *(c[k] for k in LAYOUT), c["micro_batch"], c["recompute"], c["offload"],
            _reshard(row["stack"]))


def _reshard(stack: dict) -> bool | None:
    """The plan's reshard_after_forward: its record's, or None where the record leaves it out, as the table's empty
    cell: a stack with no such switch (since QA 32: MaxText, DeepSpeed) or a plan that does not use it (since qa65: a
    plan below ZeRO-3, a Megatron-FSDP one; stacks.LAYOUT_USES)."""
    return stack.get("reshard_after_forward")


def _table_key(r) -> tuple:
    offload = "+".join(k for k in ("optimizer", "activation") if r[f"{k}_offload"]) or "none"
    return (r["hardware"], int(r["nodes"]), *(int(r[k]) for k in LAYOUT), int(r["micro_batch"]), r["recompute"],
            offload, None if pd.isna(r["reshard_after_forward"]) else bool(r["reshard_after_forward"]))


def _usd(row, spot):
    """The price a plan is ranked on: a spot plan's expected cost with interruptions."""
    return row["cost"].price(spot)


def _hours(row, spot):
    """The wall hours a plan is ranked on: a spot plan's expected hours with interruptions."""
    risk = row["cost"].get("spot_risk") if spot else None
    return risk["expected_hours"] if risk else row["cost"]["hours"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=jobs)
def test_recommend_properties_hold_for_random_constraints(raw):
    from hardware_catalog import load_catalog

    job = load_job_dict(raw)
    try:
        res = recommend(job, load_catalog(), top=5, simulate=False)
    except InputError as e:  # an infeasible constraint set is an answer, not a crash
        assert e.field and e.message
        return
    ranked, table, spot = res["ranked"], res["table"], res["spot"]
    assert res["best"] is ranked[0]
    for r in ranked:
        mem = r["memory_per_gpu_bytes"]
        assert r["fits"] and mem["total"] <= mem["capacity"]
        assert r["hardware"]["gpus"] <= raw["constraints"]["max_gpus"]
        if "clouds" in raw["constraints"]:
            assert r["hardware"]["cloud"] in raw["constraints"]["clouds"]
    assert (table["mem_gib"] <= table["mem_capacity_gib"] + 1e-9).all()

    # the ranked rows are the table's first row per (hardware, nodes), in the table's order
    shown = table.drop_duplicates(["hardware", "nodes"]).head(len(ranked))
    assert [_key(r) for r in ranked] == [_table_key(r) for _, r in shown.iterrows()]
    # and each carries the numbers its table row has
    for r, (_, t) in zip(ranked, shown.iterrows()):
        assert r["step_time_s"] == pytest.approx(t["step_time_s"], rel=1e-9)
        assert _hours(r, spot) == pytest.approx(t["train_hours"], rel=1e-9)
        if np.isfinite(t["cost"]):
            assert _usd(r, spot) == pytest.approx(t["cost"], rel=1e-9)

    # ranked in objective order (costs within the tie bucket go to the faster plan)
    hours = [_hours(r, spot) for r in ranked]
    if res["objective"] == "time":
        assert hours == sorted(hours)
    else:
        per = (lambda r: _usd(r, spot) / r["cost"]["tokens"] * 1e12) if res["objective"] == "tokens_per_dollar" \
            else (lambda r: _usd(r, spot))
        vals = [per(r) for r in ranked]
        if all(v is not None and np.isfinite(v) for v in vals):
            assert _in_cost_order(vals, hours)


def test_option_without_rows_does_not_shift_later_options(catalog):
    """The reported case: L4 and A10G nodes yield no fitting row, H100 does (was IndexError)."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 8192, "global_batch": 256},
                         "constraints": {"clouds": ["aws"], "gpus": ["L4", "A10G", "H100"], "max_gpus": 8,
                                         "instances": ["aws:g6.xlarge", "aws:g5.xlarge", "aws:p5.48xlarge"]}})
    # (max_gpus was 4: then H100 meant 4 x p5.4xlarge, a 1-GPU VM with no cluster fabric, which is
    # now single-node only; one 8-GPU p5.48xlarge keeps the case: no-row options before a fitting one)
    res = recommend(job, catalog, simulate=False)
    assert res["best"]["hardware"]["gpu"].startswith("H100")
    assert all(r["fits"] for r in res["ranked"])


def _in_cost_order(vals, hours) -> bool:
    """Rows in cost order, a cheaper row below a dearer one only as a tie (rank.cost_bucket: the dearer within
    COST_TIE of it and no slower). The tie groups are a set function of the costs searched together, so they are
    not recomputed on the shown rows (a subset): the pairwise consequence is checked instead."""
    return all(vals[i] <= vals[i + 1] or (vals[i] <= vals[i + 1] * (1 + COST_TIE) and hours[i] <= hours[i + 1] + 1e-9)
               for i in range(len(vals) - 1))


def test_first_row_is_the_recommendation_and_every_row_fits(catalog):
    """The second reported case: a slower, dearer plan was shown first and an unfitting one listed."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 512},
                         "constraints": {"clouds": ["gcp"], "max_gpus": 16}})
    res = recommend(job, catalog, simulate=False)
    costs = [r["cost"]["cost_ondemand_usd"] for r in res["ranked"]]
    assert _in_cost_order(costs, [r["cost"]["hours"] for r in res["ranked"]])
    for r in res["ranked"]:
        assert r["memory_per_gpu_bytes"]["total"] <= r["memory_per_gpu_bytes"]["capacity"]


def test_cli_table_json_csv_and_emit_describe_the_same_plans(cli, tmp_path):
    job = tmp_path / "job.yaml"
    # GPUs only: since the TPU v6e slices were priced (2026-12-01) a v6e-8 is gcp's cheapest plan, and --emit
    # writes torchrun launches of CUDA / ROCm stacks, not MaxText
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 512}\n"
                   "constraints: {clouds: [gcp], gpus: [B200, A100, L4], max_gpus: 16}\n")
    out_csv = tmp_path / "plans.csv"
    from planner.workloads import training

    # one search, printed by each command's own presenter (``conftest.planned_once``; suite55: three searches of
    # ~1.5 CPU s each until then): what is checked is that the JSON, the CSV, the table and the launch agree (the
    # --emit at --top 5 too, the one search's arguments: a launch is the best plan's at any --top)
    with planned_once(training, "recommend") as made:
        res = answered(cli("recommend", job, "--no-simulate", "--json", "--top", "5", "--csv", out_csv))
        code, text, _ = cli("recommend", job, "--no-simulate", "--top", "5")
        # Megatron style forced: the default picks the FSDP (torchtitan) style when the best plan is ZeRO 2/3
        code_spec, spec, _ = cli("recommend", job, "--no-simulate", "--top", "5", "--emit", "torchrun:megatron")
    assert len(made) == 1
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    first = rows[0]
    best = res["best"]
    assert (first["hardware"], int(first["nodes"])) == (best["hardware"]["name"], best["hardware"]["nodes"])
    assert all(int(first[k]) == best["config"][k] for k in LAYOUT)
    assert int(first["micro_batch"]) == best["config"]["micro_batch"]
    assert code == 0
    table_first = next(line for line in text.splitlines() if line.startswith("│  1 │") or line.startswith("│ 1 │"))
    assert best["hardware"]["name"] in table_first
    assert code_spec == 0
    c = best["config"]
    assert f"--tensor-model-parallel-size {c['tp']}" in spec
    assert f"--pipeline-model-parallel-size {c['pp']}" in spec
    assert f"--micro-batch-size {c['micro_batch']}" in spec
    assert f"--nnodes={best['hardware']['nodes']}" in spec
