"""The step-time model's error on published runs of a plan's kind (planner.model.accuracy): how a plan is
classified, which cut of the validation table it takes, and the range it turns into. That the shipped table is
the current validation table: tests/test_validation.py::test_shipped_accuracy_bands_are_the_validation_table."""
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from planner.model import accuracy
from planner.model.accuracy import Band, _wquantile, apply_band, band_for, bands_table, run_kind
from conftest import ROOT, answered


def band(arch, fam, rows, q10=-0.2, q50=-0.05, q90=0.1):
    return Band(arch, fam, rows, 1, q10, q50, q90, abs(q50), ("s",))


DENSE = NS(family="decoder", moe=None, hybrid_pattern=None)
MOE = NS(family="moe", moe=object(), hybrid_pattern=None)
HYBRID = NS(family="moe", moe=object(), hybrid_pattern="M*M-")
CNN = NS(family="generic", moe=None, hybrid_pattern=None)


def test_run_kind_by_architecture_and_generation():
    assert run_kind(DENSE, "A100-SXM-80GB") == {"arch": "dense", "gpu_family": "Ampere"}
    assert run_kind(HYBRID, "GB300-B300") == {"arch": "hybrid", "gpu_family": "Blackwell"}  # hybrid before MoE
    assert run_kind(MOE, "H800-SXM-80GB")["gpu_family"] == "Hopper"  # an export SKU takes its die's generation
    assert run_kind(CNN, "MI300X-192GB") == {"arch": "generic", "gpu_family": "AMD Instinct"}
    assert run_kind(DENSE, "L4-24GB")["gpu_family"] == "other"
    assert run_kind(DENSE, "TPU-v6e")["gpu_family"] == "TPU v6e" and run_kind(MOE, "TPU-v5p")["gpu_family"] == "TPU v5p"
    assert run_kind(DENSE, "Trainium2")["gpu_family"] == "other"


def test_tpu_v6e_plans_take_the_maxtext_band_and_other_tpus_do_not():
    """The shipped bands hold a dense TPU v6e cut (the maxtext source's v6e runs); a v5p plan falls back to every
    dense run and says none of them were on its TPU."""
    shipped = accuracy.load_bands()
    v6e = band_for(DENSE, "TPU-v6e", shipped)
    assert v6e.gpu_family == "TPU v6e" and v6e.source_names == ("maxtext",) and v6e.rows >= accuracy.MIN_ROWS
    v5p = band_for(DENSE, "TPU-v5p", shipped)
    assert v5p.gpu_family == "*" and accuracy.coverage(v5p, DENSE, "TPU-v5p", shipped) == "none on TPU v5p"


def test_band_falls_back_to_coarser_cuts():
    bands = (band("moe", "Hopper", accuracy.MIN_ROWS - 1, q50=-0.9), band("moe", "*", 40, q50=-0.3),
             band("dense", "Hopper", 100, q50=0.01), band("*", "*", 500, q50=0.0))
    assert band_for(DENSE, "H100-SXM-80GB", bands).q50 == 0.01  # specific cut, enough rows
    assert band_for(MOE, "H100-SXM-80GB", bands).q50 == -0.3  # too few MoE Hopper rows: MoE on any GPU
    assert band_for(CNN, "A100-SXM-80GB", bands).q50 == 0.0  # no generic cut: every run
    assert band_for(CNN, "A100-SXM-80GB", (band("moe", "*", 40),)) is None


def test_range_inverts_the_signed_error():
    """err = predicted / measured - 1, so a real run takes predicted / (1 + err): a model 20% fast (err -0.2) means
    the real step is 1.25x the prediction; 10% slow (err +0.1) means 1/1.1 of it."""
    a = apply_band(band("dense", "Hopper", 100, q10=-0.2, q90=0.1), 10.0, 100.0, 1000.0)
    assert a["step_time_s_range"] == pytest.approx([10 / 1.1, 10 / 0.8])
    assert a["hours_range"] == pytest.approx([100 / 1.1, 125.0]) and a["cost_usd_range"] == pytest.approx([1000 / 1.1, 1250.0])
    assert apply_band(band("dense", "Hopper", 100), 1.0, 1.0, None)["cost_usd_range"] is None


def test_weighted_quantile():
    x = np.array([3.0, 1.0, 2.0])
    assert _wquantile(x, np.ones(3), 0.5) == 2.0
    # one row weighted as much as the other two together pulls the median to it
    assert _wquantile(np.array([0.0, 0.0, 10.0]), np.array([1.0, 1.0, 2.0]), 0.6) > 5.0


def test_sources_capped_so_one_big_source_does_not_decide():
    """A source counts at most SOURCE_CAP rows: 1,000 rows at -0.5 against 100 rows at +0.1 from two other sources
    give a median between them, not -0.5 (and, unweighted, it would be -0.5)."""
    rows = pd.DataFrame({"source": ["big"] * 1000 + ["a"] * 50 + ["b"] * 50, "arch": "dense",
                         "gpu_family": "Hopper", "err": [-0.5] * 1000 + [0.1] * 100})
    t = bands_table(rows).set_index(["arch", "gpu_family"])
    assert t.loc[("dense", "Hopper"), "rows"] == 1100 and t.loc[("dense", "Hopper"), "sources"] == 3
    assert t.loc[("dense", "Hopper"), "q50"] > 0.0 and np.median(rows["err"]) == -0.5
    assert t.loc[("*", "*"), "q50"] == t.loc[("dense", "Hopper"), "q50"]


def test_shipped_bands_have_provenance_and_every_level():
    text = accuracy.BANDS_CSV.read_text()
    assert text.startswith("# ") and "benchmarks/validate.py --bands" in text.splitlines()[0]
    bands = accuracy.load_bands()
    assert any(b.arch == "*" and b.gpu_family == "*" for b in bands)
    assert all(b.q10 <= b.q50 <= b.q90 and b.rows >= 1 for b in bands)


def test_estimate_prints_and_returns_the_range(cli):
    plan = answered(cli("estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", "--json"))
    a = plan["accuracy"]
    b = band_for(NS(family="decoder", moe=None, hybrid_pattern=None), plan["hardware"]["gpu"])
    assert a["rows"] == b.rows and a["p10_signed_err"] == b.q10
    assert a["step_time_s_range"] == pytest.approx([plan["step_time_s"] / (1 + b.q90), plan["step_time_s"] / (1 + b.q10)])
    assert a["cost_usd_range"][1] == pytest.approx(plan["cost"]["cost_ondemand_usd"] / (1 + b.q10))
    code, text, _ = cli("estimate", ROOT / "examples" / "llama3-8b-estimate.yaml")
    assert "accuracy: on " in text and "runs it has not seen have missed by more" in " ".join(text.split())


def test_report_names_the_likely_range(cli, tmp_path):
    out = tmp_path / "r.md"
    # the budget example on the cloud of its winner (RunPod): the same kind of report at a tenth of the whole
    # catalog's search
    job = tmp_path / "budget-runpod.yaml"
    job.write_text((ROOT / "examples" / "llama2-13b-budget.yaml").read_text() + "  clouds: [runpod]\n")
    code, _, err = cli("report", job, "-o", out, "--no-simulate")
    assert code == 0, err
    md = out.read_text()
    assert "likely range (model error)" in md and "- Model error: on " in md


CKPT_JOB = """model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw, recompute: selective,
           tokens: 1.0e12}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
checkpoint: {every_steps: EVERY, write_gbps: 2, asynchronous: false, mtbf_hours_per_node: MTBF, restart_minutes: 20}
"""


def test_estimate_range_names_the_checkpointed_time_it_brackets(cli, tmp_path):
    """estimate's table prints the uninterrupted time; the range is around the expected time with the
    checkpoint pauses and failures: the line says which figures it is around (it read as a range of the
    table's 78 days that did not contain them)."""
    job = tmp_path / "ck.yaml"
    job.write_text(CKPT_JOB.replace("EVERY", "100").replace("MTBF", "50"))
    plan = answered(cli("estimate", job, "--json"))
    a, cf = plan["accuracy"], plan["cost"]["checkpoint_failures"]
    assert a["hours"] == pytest.approx(cf["expected_hours"]) and a["hours"] > plan["cost"]["hours"] * 1.1
    assert a["cost_usd"] == pytest.approx(cf["expected_cost_ondemand_usd"])
    assert a["quoted"] == "on-demand, with checkpoint pauses and node failures"
    code, text, _ = cli("estimate", job)
    text = " ".join(text.split())
    assert code == 0 and f"(predicted {a['hours'] / 24:.1f} d, $" in text
    assert "on-demand, with checkpoint pauses and node failures)" in text


def test_estimate_of_a_run_that_never_finishes_prints_no_inf(cli, tmp_path):
    job = tmp_path / "inf.yaml"
    job.write_text(CKPT_JOB.replace("EVERY", "100000").replace("MTBF", "1"))
    code, text, _ = cli("estimate", job)
    assert code == 0
    text = " ".join(text.split())
    assert "inf" not in text.replace("info", "")
    assert "the run never finishes" in text and "a failure every 30.0 min" in text
    assert answered(cli("estimate", job, "--json"))["accuracy"]["hours_range"] == [None, None]


def test_a_band_from_other_generations_says_none_were_this_chip():
    """A TPU (or MI300X, with too few AMD rows) takes the every-GPU cut: the record and the line say how
    many of its runs were on this chip's generation, so GPU runs are not read as measured on a TPU."""
    from planner.present.terminal import accuracy_line

    bands = (band("dense", "Hopper", 20), band("dense", "AMD Instinct", 4), band("dense", "*", 30))
    assert accuracy.coverage(band_for(DENSE, "H100-SXM-80GB", bands), DENSE, "H100-SXM-80GB", bands) == ""
    b = band_for(DENSE, "MI300X-192GB", bands)
    assert b.gpu_family == "*" and accuracy.coverage(b, DENSE, "MI300X-192GB", bands) == "4 on AMD Instinct"
    assert accuracy.coverage(b, DENSE, "TPU-v5p", bands) == "none on TPU v5p"
    assert accuracy.coverage(b, DENSE, "Trainium2", bands) == "none on Trainium2"
    assert accuracy.coverage(b, DENSE, "V100-SXM2-32GB", bands) == "none on Volta"
    rec = apply_band(b, 1.0, 10.0, 100.0, "on-demand, uninterrupted", "none on TPU-v5p")
    assert "(1 source; none on TPU-v5p)" in accuracy_line(rec)


def test_one_source_is_singular():
    from planner.present.terminal import accuracy_line

    one = apply_band(band("generic", "*", 12), 1.0, 10.0, None, "uninterrupted", "none on Hopper")
    assert "(1 source; none on Hopper)" in accuracy_line(one)
    two = apply_band(Band("dense", "*", 12, 2, -0.1, 0.0, 0.1, 0.05, ("a", "b")), 1.0, 10.0, None)
    assert "(2 sources)" in accuracy_line(two)


def test_generic_band_does_not_call_a_vit_a_non_transformer(cli):
    """vit-b16 is a generic model (params and FLOPs given); its band was labelled "non-transformer runs"."""
    assert band("generic", "*", 12).label == "generic-model (params and FLOPs given) runs"
    vit = answered(cli("estimate", ROOT / "examples" / "vit-b16-objectstore-shards.yaml", "--json"))
    assert "non-transformer" not in vit["accuracy"]["runs"]


def test_quoted_figures_name_only_the_overheads_the_job_sets(cli, tmp_path):
    """A cadence without an MTBF has no node failures: the range and the report headline said "with
    checkpoint pauses and node failures" for it."""
    from planner.results import checkpoint_words

    assert checkpoint_words({"checkpoint_every_steps": 100, "job_mtbf_hours": None}) == "checkpoint pauses"
    assert checkpoint_words({"checkpoint_every_steps": 0, "job_mtbf_hours": 25.0}) == "node failures"
    assert checkpoint_words({"checkpoint_every_steps": 100, "job_mtbf_hours": 25.0}) == "checkpoint pauses and node failures"
    job = tmp_path / "async.yaml"
    job.write_text(CKPT_JOB.replace("EVERY", "100").replace(", mtbf_hours_per_node: MTBF", ""))
    assert answered(cli("estimate", job, "--json"))["accuracy"]["quoted"] == "on-demand, with checkpoint pauses"
    md = tmp_path / "r.md"
    code, _, err = cli("report", job, "-o", md, "--no-simulate")
    assert code == 0, err
    assert "(on-demand, with checkpoint pauses)." in md.read_text()


def test_simulated_data_stall_is_not_scaled_by_the_step_time_error():
    """A data-bound plan's step is mostly the simulator's data stall, which the step-time model's error does not
    describe: only the modelled part is scaled (ResNet-50 from S3 files: 93% of the step waits for data)."""
    b = band("generic", "*", 12, q10=-0.2, q50=0.0, q90=0.25)
    plain = apply_band(b, 10.0, 100.0, 1000.0)
    assert plain["step_time_s_range"] == pytest.approx([8.0, 12.5]) and plain["data_stall_share"] == 0.0
    stalled = apply_band(b, 10.0, 100.0, 1000.0, data_stall_s=9.0)  # 1 s modelled, 9 s waiting
    assert stalled["step_time_s_range"] == pytest.approx([9.8, 10.25])
    assert stalled["hours_range"] == pytest.approx([98.0, 102.5]) and stalled["cost_usd_range"] == pytest.approx([980, 1025])
    assert stalled["data_stall_share"] == pytest.approx(0.9)
    from planner.present.terminal import accuracy_line
    assert "the simulated data stall, 90% of the step, kept" in accuracy_line(stalled)


def test_a_median_that_rounds_to_zero_is_not_signed():
    """QA find: the budget-review report for examples/llama2-13b-budget.yaml said "median -0%" (a
    median signed error of -0.3%): a '-0' leak. A median that rounds to 0% prints "0%"."""
    from planner.present.terminal import accuracy_line

    for med in (-0.003, 0.0, 0.004):
        rec = apply_band(Band("dense", "*", 12, 2, -0.1, med, 0.1, 0.05, ("a", "b")), 1.0, 10.0, None)
        line = accuracy_line(rec)
        assert "median 0%)" in line and "-0%" not in line and "+0%" not in line, line
    rec = apply_band(Band("dense", "*", 12, 2, -0.1, -0.02, 0.1, 0.05, ("a", "b")), 1.0, 10.0, None)
    assert "median -2%)" in accuracy_line(rec)


def test_checkpoint_pauses_keep_their_seconds_across_the_range(cli, tmp_path):
    """The range's ends re-price the checkpoint pauses and failures at their own step times: a blocking save
    takes its seconds however fast the steps run, so where pauses are a large share of the wall time the
    range is narrower than the step time's (it scaled the whole expected time). Each end equals the closed-form
    overhead (`failures.run_overhead`) at that end's step time."""
    from planner.simulate.failures import run_overhead
    from planner.simulate import SimConfig
    from planner.spec import load_job
    from planner.workloads.training import estimate_job
    job = tmp_path / "ck.yaml"
    job.write_text(CKPT_JOB.replace("EVERY", "20").replace("MTBF", "200"))
    plan = answered(cli("estimate", job, "--json"))
    a, st = plan["accuracy"], plan["step_time_s"]
    lo, hi = (x / st for x in a["step_time_s_range"])
    assert lo < 1 < hi
    h_lo, h_hi = a["hours_range"]
    assert a["hours"] * lo < h_lo < a["hours"] < h_hi < a["hours"] * hi  # narrower than proportional
    spec = load_job(job)
    p = estimate_job(spec)
    cfg = SimConfig.from_estimate(p, spec)
    for f, h in ((lo, h_lo), (hi, h_hi)):
        assert h == pytest.approx(run_overhead(cfg, p.step_time_s * f, p.cost.hours * f)["expected_hours"])
    per_hour = a["cost_usd"] / a["hours"]
    assert a["cost_usd_range"] == pytest.approx([h_lo * per_hour, h_hi * per_hour])


def test_a_fine_tuning_plan_says_how_many_runs_like_it_the_band_holds(catalog):
    """The range of a QLoRA plan came from dense pre-training runs and did not say so; now the accuracy record's
    coverage names how many of the band's runs were of the plan's training mode (the shipped bands' ``modes``:
    NeMo's 3 LoRA and 3 SFT rows on Hopper), and says nothing for pre-training."""
    from planner.spec import load_job
    from planner.workloads.training import estimate_job
    from conftest import EXAMPLES

    band = next(b for b in accuracy.load_bands() if (b.arch, b.gpu_family) == ("dense", "Hopper"))
    assert dict(band.modes)["lora"] >= 1 and "qlora" not in dict(band.modes)
    assert sum(n for _, n in band.modes) == band.rows
    import yaml

    from planner.spec import load_job_dict
    d = yaml.safe_load((EXAMPLES / "qlora-llama3.1-70b.yaml").read_text())
    d.pop("constraints", None)
    qlora = estimate_job(load_job_dict({**d, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}), catalog)
    assert "none of them QLoRA fine-tuning" in qlora.accuracy["coverage"]
    pre = estimate_job(load_job(EXAMPLES / "llama3-8b-estimate.yaml"), catalog)
    assert "of them" not in (pre.accuracy["coverage"] or "")
    lora = Band("dense", "Hopper", 12, 2, -0.1, 0.0, 0.1, 0.05, ("a", "b"), (("lora", 3), ("pretrain", 9)))
    model = load_job(EXAMPLES / "llama3-8b-estimate.yaml").model
    assert accuracy.coverage(lora, model, "H100-SXM-80GB", mode="lora") == "3 of them LoRA fine-tuning"
    assert accuracy.coverage(lora, model, "H100-SXM-80GB") == ""


def test_readme_cuts_are_the_shipped_bands():
    """README's "The cuts now" sentence quotes the shipped accuracy_bands.csv: each named cut's 10th / 50th / 90th
    percentile (whole percent) and run count. Regenerating the bands (``validate.py --bands``) without the sentence
    left it quoting an older table (session 37: dense on Blackwell read -18 / -7 / +9% against -14 / -7 / +10%)."""
    import re

    text = (ROOT / "README.md").read_text()
    start = text.index("The cuts now")
    sentence = text[start:text.index("These are development errors", start)]
    shipped = {(b.arch, b.gpu_family): b for b in accuracy.load_bands()}
    arch = {"dense": "dense", "MoE": "moe", "hybrid": "hybrid"}
    cuts = re.findall(r"(every run|(dense|MoE|hybrid) on ([A-Za-z0-9 ]+?)) ([-+]?\d+) / ([-+]?\d+) / ([-+]?\d+)%"
                      r"(?: \(([\d,]+))?", " ".join(sentence.split()))
    assert len(cuts) >= 8, sentence
    for whole, kind, family, q10, q50, q90, rows in cuts:
        b = shipped[("*", "*") if whole == "every run" else (arch[kind], family)]
        quoted = [int(q10), int(q50), int(q90)]
        assert quoted == [round(100 * q) for q in (b.q10, b.q50, b.q90)], (whole, quoted, b)
        if rows:
            assert int(rows.replace(",", "")) == b.rows, (whole, rows, b.rows)
