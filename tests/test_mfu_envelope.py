"""benchmarks/mfu_envelope.py: the best plan ``recommend`` finds on a GPU must not ask for a FLOP rate
above what a published training step sustained on it (the best published HFU), the published
figures the envelope cites must be the ones in the development data, and the published runs it
reads for H200/B200/MI300X (benchmarks/data/published_mfu.csv) must be sourced, outside the held-out
sources, and converted with a FLOP count that gives back each source's own printed figure."""
import re
import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def envelope():
    import mfu_envelope
    return mfu_envelope


def _lf_best(prefix: str, metric: str) -> float:
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dev_published_runs.csv")
    rows = d[d["id"].str.startswith(prefix)]
    return max(float(m.group(1)) / 100 for m in (re.search(rf"{metric} ([\d.]+)%", str(n)) for n in rows["notes"]) if m)


def _dgxc_best_h100_bf16_mfu() -> float:
    """The best bf16 MFU of the dgxc development rows on H100, at the planner's FLOP count (model
    FLOPs of the row's batch over the measured step time and the 989 TFLOP/s dense peak)."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    cat = load_catalog()
    best = 0.0
    for r in pd.read_csv(validate.DGXC_CSV).itertuples():
        if "H100" not in r.gpu or "fp8" in str(r.precision).lower():
            continue
        fl = float(step_flops(validate.pr2_case(cat, r).model, int(r.seq_len), int(r.global_batch_seqs))["model"])
        best = max(best, fl / (float(r.value) * int(r.num_gpus) * 989e12))
    return best


@pytest.mark.parametrize("gpu,prefix", [("A100-SXM-80GB", "lf_a100_80_"), ("H100-SXM-80GB", "lf_h100_")])
def test_cited_best_published_figures_are_the_development_data_maxima(envelope, gpu, prefix):
    """A100: llm-foundry's tables; H100: NVIDIA's dgxc rows (no recompute, so their MFU is also
    the best HFU), above llm-foundry's."""
    if gpu.startswith("H100"):
        best = _dgxc_best_h100_bf16_mfu()
        assert best > max(_lf_best(prefix, "MFU"), _lf_best(prefix, "HFU"))
        assert envelope.PUBLISHED[gpu][0] == pytest.approx(best, abs=0.0005)
        assert envelope.PUBLISHED_HFU[gpu][0] == pytest.approx(best, abs=0.0005)
        return
    assert envelope.PUBLISHED[gpu][0] == pytest.approx(_lf_best(prefix, "MFU"), abs=0.005)
    assert envelope.PUBLISHED_HFU[gpu][0] == pytest.approx(_lf_best(prefix, "HFU"), abs=0.0005)


@pytest.mark.parametrize("gpu", ["A100-SXM-80GB", "H100-SXM-80GB"])
def test_best_recommended_plan_stays_under_the_best_published_hfu(envelope, gpu):
    """Recommended plans run without recompute (MFU = HFU) at TP 1 with many micro-batches per
    step, a shape no published run has; what a published step shows is the rate the GPU sustains
    (llm-foundry's full-recompute A100 rows: 79.3% HFU; NVIDIA's dgxc H100 Llama 3.1 8B: 60.1%). A plan above it would need
    the GPU to compute faster than any measured training step did."""
    from hardware_catalog import load_catalog

    mfu, desc = envelope.best_plan(load_catalog(), gpu)
    assert mfu is not None, desc
    assert 0.4 < mfu <= envelope.PUBLISHED_HFU[gpu][0]


# --- published training runs on the GPUs the development sources lack (benchmarks/data/published_mfu.csv)

@pytest.fixture(scope="module")
def runs(envelope):
    return envelope.published_runs()


def test_published_runs_are_sourced_and_not_held_out(runs):
    from hardware_catalog import load_catalog
    from conftest import FORBIDDEN

    cat = load_catalog()
    ids = [r["id"] for r in runs]
    assert len(ids) == len(set(ids))
    for r in runs:
        for col in ("source", "provenance", "read_date", "date", "model", "precision", "stack", "reported_metric"):
            assert r[col].strip(), (r["id"], col)
        assert r["envelope"] in ("bf16", "fp8", "no"), r["id"]
        assert r["envelope"] != "bf16" or r["precision"] == "bf16", r["id"]
        assert r["envelope"] == "no" or r["scope"] == "full_model", r["id"]  # proxies never enter the envelope
        cat.gpu(r["gpu"])  # a catalog GPU: its dense bf16 peak is the MFU denominator
        text = " ".join(r[c] for c in ("source", "provenance", "notes"))
        for rx, what in FORBIDDEN:
            assert not rx.search(text), (r["id"], what)


def test_stated_rates_agree_with_stated_step_times(runs):
    """Where a row gives both, global batch x sequence / step time / GPUs is its tokens/s/GPU."""
    for r in runs:
        if r["step_time_s"] and r["tokens_per_s_per_gpu"] and r["global_batch"]:
            derived = int(r["global_batch"]) * int(r["seq_len"]) / float(r["step_time_s"]) / int(r["num_gpus"])
            assert derived == pytest.approx(float(r["tokens_per_s_per_gpu"]), rel=0.003), r["id"]


def test_planner_flop_count_reproduces_each_sources_own_figure(envelope, runs):
    """The conversion to MFU multiplies a stated rate by the planner's FLOPs per token; where the
    source also prints its own FLOP rate (NeMo / Megatron-Bridge 'TFLOP/s/GPU', halving causal
    attention) or MFU (NVIDIA dgxc-benchmarking, full attention over 989 TFLOP/s), the planner's
    count under the source's convention must give that figure back."""
    checked = 0
    for r in runs:
        if not r["tokens_per_s_per_gpu"] or r["reported_causal_half"] not in ("true", "false"):
            continue
        rate = float(r["tokens_per_s_per_gpu"]) * envelope.model_flops_per_token(r, r["reported_causal_half"] == "true")
        if r["reported_unit"] == "TFLOP/s/GPU":
            assert rate / 1e12 == pytest.approx(float(r["reported_value"]), rel=0.01), r["id"]
        else:
            assert r["reported_unit"] == "% MFU"
            assert rate / 989e12 == pytest.approx(float(r["reported_value"]) / 100, rel=0.01), r["id"]
        checked += 1
    assert checked >= 3


def test_b200_best_recommended_plan_stays_under_the_published_sustained_rate(envelope, runs):
    """B200 has no published HFU; a published bf16 step's MFU is a lower bound on the rate the GPU
    sustained (HFU >= MFU), and the best recommended plan must not ask for more than that."""
    from hardware_catalog import load_catalog

    cat = load_catalog()
    hfu, _, lower = envelope.published_hfu(cat, "B200-SXM-180GB", runs)
    assert lower and hfu is not None
    mfu, desc = envelope.best_plan(cat, "B200-SXM-180GB")
    assert mfu is not None, desc
    assert 0.4 < mfu <= hfu


def test_every_gpu_the_issue_names_has_an_envelope_row(envelope):
    """The README's envelope rows are the GPUs of ``PUBLISHED`` (issue #12: A100, H100, H200, B200, MI300X): a GPU
    whose published figure moved to published_mfu.csv keeps its row, and MI300X's bf16 figure is that file's."""
    from hardware_catalog import load_catalog

    assert set(envelope.PUBLISHED) >= {"A100-SXM-80GB", "H100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB",
                                       "MI300X-192GB"}
    mfu, text = envelope.published(load_catalog(), "MI300X-192GB")
    assert mfu == pytest.approx(0.249, abs=0.001) and "mi300x_tprimat_llama31_8b_bf16_8" in text


# --- A100: the best published MFU is the FlashAttention-2 paper's end-to-end run (published_mfu.csv)

FA2_ROW = "a100_fa2_gpt3_2p7b_s8192_8"


def test_a100_best_published_mfu_is_the_flashattention2_run_beside_the_development_figure(envelope, runs):
    """Dao 2023 (arXiv:2307.08691): GPT3-2.7B at 8k context on 8 A100 80GB, no activation checkpointing,
    225 TFLOP/s per GPU by a model-FLOP count with attention in full = 72.7% at the planner's count, above
    the development sources' best (llm-foundry 64.2%); the cell keeps the development figure in its text."""
    from hardware_catalog import load_catalog

    cat = load_catalog()
    mfu, text = envelope.published(cat, "A100-SXM-80GB", "bf16", runs)
    assert mfu == pytest.approx(0.727, abs=0.002)
    assert FA2_ROW in text and "llm-foundry" in text
    assert mfu > envelope.PUBLISHED["A100-SXM-80GB"][0]


def test_a100_8k_plan_sits_at_the_published_no_recompute_8k_run(envelope, runs):
    """The best A100 Llama-3-8B seq-8192 plan (one node, no recompute, TP 1) is the regime of the published
    FlashAttention-2 run: the step-time model predicts that run's step within 5%, and the plan's MFU is within
    three points of the run's measured MFU, so the plan does not claim an MFU the model cannot back on A100."""
    from hardware_catalog import load_catalog

    cat = load_catalog()
    row = next(r for r in runs if r["id"] == FA2_ROW)
    assert abs(envelope.run_error(cat, row)) < 0.05
    measured, _ = envelope.run_mfu(cat, row)
    plan = envelope.recommend(envelope.load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 8192, "global_batch": 1024, "precision": "bf16", "tokens": 1e12},
        "constraints": {"objective": "cost", "gpus": ["A100-SXM-80GB"]}}), catalog=cat, top=1).best
    assert plan.config.recompute == "none"
    assert abs(plan.mfu - measured) < 0.03
