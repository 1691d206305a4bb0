"""QA pass 36b: what QA pass 36 noticed and left alone -- each defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import answered, refused, write_job


# ---- 1. megatron-lm (2021-22) planned top-2 and shared-expert MoE models -------------------------------------------
@pytest.mark.parametrize("preset", ["mixtral-8x7b", "deepseek-v2-lite"])
def test_the_2021_22_megatron_refuses_moe_it_never_had(tmp_path, cli, preset):
    """``training.framework: megatron-lm`` estimated Mixtral (top-2) at TP8 EP1 and recommended layouts for it: the
    legacy Megatron-LM's only MoE layer is the top-1 SwitchMLP (torch.max over the router), no top-k router, no shared
    experts -- those came with Megatron-Core's MoE."""
    job = {"model": {"preset": preset}, "training": {"tokens": 1e10, "framework": "megatron-lm"},
           "parallel": {"tp": 8, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework:") and "SwitchMLP" in line and "megatron-core" in line, line
    job.pop("parallel")
    job.pop("cluster")
    job["constraints"] = {"instances": ["aws:p5.48xlarge"], "max_gpus": 16}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: training.framework:") and "SwitchMLP" in line, line
    job["training"]["framework"] = "megatron-core"
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1")
    assert code == 0, err


# ---- 2. the refused-layouts note counted a layout under each rule it broke ------------------------------------------
def test_the_refused_layouts_note_counts_each_layout_once(tmp_path, cli):
    """Mixtral on megatron-core over 64 H100s said "372 layouts it refuses are excluded ... 129 ZeRO-3 with pipeline
    parallelism; 96 ZeRO-3 with expert parallelism; 81 ZeRO-2; 48 ZeRO-3 over part of the data-parallel group; 372 an
    interleaved pipeline ...": every layout left out broke "interleaved-m" (the Megatron-FSDP variant runs the other
    ZeRO-3 ones), so its count was the total and the rest summed past it. Now each layout is counted under the first
    rule it breaks and the counts sum to the total."""
    import re

    job = {"model": {"preset": "mixtral-8x7b"}, "training": {"tokens": 1e10, "framework": "megatron-core"},
           "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 64}}
    plan = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1"))
    note = next(a for a in plan["assumptions"] if "layouts it refuses are excluded" in a)
    total = int(re.search(r"([\d,]+) layouts it refuses", note).group(1).replace(",", ""))
    counts = [int(n.replace(",", "")) for n in re.findall(r"(?:— |; )([\d,]+) (?=[A-Za-z])", note)]
    inter = int(re.search(r"([\d,]+) an interleaved pipeline", note).group(1).replace(",", ""))
    assert len(counts) >= 2 and sum(counts) == total and 0 < inter < total, note
    assert "each layout under the first it breaks" in note, note


# ---- 4. a calibration profile's gemm_table efficiencies were only above 0 --------------------------------------------
@pytest.mark.parametrize("eff, words", [(1e-300, "at least 1e-07"), (5.0, "at most 1")])
def test_a_gemm_table_efficiency_is_bounded_like_gemm_max(tmp_path, eff, words):
    """``gemm_max`` and ``hbm`` took 0.001..1 since QA 36, a ``gemm_table`` row's efficiency anything above 0: 1e-300,
    and on a profile without a catalog GPU (the CPU example) 5.0, a GEMM at five times the peak it is a share of."""
    from conftest import ROOT

    from planner.errors import InputError
    from planner.hardware.profile import load_profile

    prof = json.loads((ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_text())
    assert not prof["fingerprint"].get("catalog_gpu")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof))
    assert load_profile(path).fitted.gemm_table  # the example's own table (0.09..0.96) is taken
    prof["fitted"]["gemm_table"][0][3] = eff
    path.write_text(json.dumps(prof))
    with pytest.raises(InputError) as e:
        load_profile(path, field="--profile")
    line = f"error: {e.value.field}: {e.value.message}"
    assert line.startswith("error: --profile.fitted.gemm_table") and words in line and "\n" not in line, line


# ---- 3. --by framework's "why not chosen" said each stack's bottleneck, not why it lost ------------------------------
def test_why_not_chosen_says_why_the_stack_lost(tmp_path, cli):
    """Llama-3-8B over up to 16 H100s with ``training.framework: auto``: the "why not chosen" column read "limits:
    attention compute: 12% of the step" for torchtitan (+9% cost) -- the chosen megatron-core row had the same kind of
    bottleneck. It now says how the stack lost in the ranking's terms (costlier by $, slower by %, refused, does not
    fit), the bottleneck in a column of its own."""
    from planner.search.explain import STACK_COLUMNS, stack_table_cells

    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10, "framework": "auto"},
           "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 16}}
    rec = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1"))
    rows = list(rec["stacks"])
    rows.append({"framework": "none-fits", "chosen": False, "status": "memory", "reason": "no layout fits in GPU memory",
                 "lost": "does not fit: no layout fits in GPU memory"})
    cols, cells = stack_table_cells(rows, rec["objective"])
    why, limits = cols.index("why not chosen"), cols.index("limits")
    assert STACK_COLUMNS[-1] == "limits"
    assert cells[0][why] == "chosen" and cells[0][limits] == rows[0]["limits"]
    for r, c in zip(rows[1:-1], cells[1:-1]):
        assert r["status"] == "feasible" and r["vs_chosen"]["cost"] > 0.005, r
        assert c[why].startswith("costlier by $") and "limits" not in c[why] and c[limits] == r["limits"], c
    assert cells[-1][why].startswith("does not fit:") and cells[-1][limits] == "-"
