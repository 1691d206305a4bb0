"""The torchao float8 PAIR table (f8ratio46): for every source with same-config bf16 and torchao-float8 runs, the
measured fp8 / bf16 throughput ratio against the planner's (bf16 step time over fp8 step time), by model and recipe.

Pairs (each mapped as its source's loader maps it; nothing here is fitted):
* ``olmo_core`` (benchmarks/data/olmo_core_runs.csv, ``validate.olmo_core``): OLMo 2 1B / 7B / 13B / 32B and a
  Llama-3-8B shape on H100, compiled, torchao tensorwise (OLMo-core's Float8Config).
* ``titan`` (published_runs_2.csv, ``validate.pr2_rows``): torchtitan's 2024-12 Llama 3.1 8B tables 1 and 3
  (8 / 128 H100, compiled bf16 vs compiled float8) and the docs' 405B on 128 H100 (bf16 vs float8, no async TP).
* ``torchao_readme`` (parts/peak_memory.csv ``titan25_ao_*``, mapped by ``validate_memory.titan_case``; the
  throughputs in parts/fp8_gemm.csv ``torchao_readme_*``): torchao's own torchtitan Llama3-8B runs on 8 H100
  (tensorwise with float8 all-gather, rowwise) and 8 MI300X (tensorwise, rowwise_with_gw_hp -- priced as rowwise,
  the planner has no gw_hp recipe -- and rowwise).

Run: ``python benchmarks/fp8_pairs.py``."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import validate as V  # noqa: E402
from benchmarks import validate_memory as VM  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402

FP8_GEMM_CSV = V.DATA / "parts" / "fp8_gemm.csv"
OLMO_SIZES = ("1b", "7b", "8b", "13b", "32b")
TITAN_PAIRS = (("titan24_t1_8b_8_fsdp_torchcompile", "titan24_t1_8b_8_fsdp_torchcompile_float8"),
               ("titan24_t3_8b_128_fsdp_torchcompile", "titan24_t3_8b_128_fsdp_torchcompile_float8"),
               ("titan_doc_405b_128_none", "titan_doc_405b_128_float8"))
#: the catalog GPU rows of torchao's README runs (validate.PR2_GPU keys): torchtitan's Meta H100 cluster as the
#: titan24 rows (96 GB, 500 W), MI300X as mi300x_runs.csv
AO_GPU = {"h100": "H100-SXM 96GB HBM2e (500W power limit)",
          "mi300x": "MI300X-192GB (8 x AMD Instinct MI300X, one node)"}


def _pair(source, pair, recipe, measured, modelled) -> dict:
    return dict(source=source, pair=pair, recipe=recipe, measured=measured, modelled=modelled)


def olmo_pairs(cat) -> list:
    d = V.olmo_core(cat).set_index("id")
    out = []
    for m in OLMO_SIZES:
        b, f = d.loc[f"olmocore_{m}_bf16"], d.loc[f"olmocore_{m}_fp8"]
        out.append(_pair("olmo_core", m, "tensorwise", b.measured_s / f.measured_s, b.predicted_s / f.predicted_s))
    return out


def titan_pairs(cat) -> list:
    d = V.pr2_rows(cat).set_index("id")
    return [_pair("titan", f, "tensorwise", d.loc[b].measured_s / d.loc[f].measured_s,
                  d.loc[b].predicted_s / d.loc[f].predicted_s) for b, f in TITAN_PAIRS]


def ao_step(cat, r) -> float:
    """Predicted step time of one ``titan25_ao_*`` row: its memory mapping, the recipe the row names."""
    r = r._replace(gpu=AO_GPU[r.id.split("_")[2]])
    model, tr, c, st = VM.titan_case(cat, r)
    if "rowwise" in r.id:
        st = replace(st, fp8_recipe="rowwise")
    return float(step_time(model, tr, c, V.pr2_case(cat, r).hw, framework=st)["step_time_s"][0])


def ao_pairs(cat) -> list:
    rows = [r for r in pd.read_csv(VM.DATA).itertuples() if r.id.startswith("titan25_ao_")]
    step = {r.id: ao_step(cat, r) for r in rows}
    meas = pd.read_csv(FP8_GEMM_CSV).set_index("id")["speedup_low"]
    out = []
    for rid, s in step.items():
        g, _, rec = rid.removeprefix("titan25_ao_").partition("_fp8_")
        if rec:
            key = f"torchao_readme_{g}_llama3_8b_{rec.replace('gw_hp', 'with_gw_hp')}"
            out.append(_pair("torchao_readme", f"{g} 8b", rec, float(meas[key]), step[f"titan25_ao_{g}_bf16"] / s))
    return out


def pairs(cat=None) -> pd.DataFrame:
    cat = cat or load_catalog()
    df = pd.DataFrame(olmo_pairs(cat) + titan_pairs(cat) + ao_pairs(cat))
    df["err_pct"] = (df["modelled"] / df["measured"] - 1) * 100
    return df


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        print(pairs().to_string(index=False, float_format="%.3f"))
