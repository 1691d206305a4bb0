"""QA pass 26: the data-bound side (the input-pipeline simulator's answers, tabular jobs) and the what-if app —
each defect with the check that failed before its fix."""
from __future__ import annotations

import math

import pytest

from planner.simulate.config import LoaderConfig, PipelineConfig, SimConfig
from planner.simulate.engine import simulate
from planner.simulate.resources import STORAGE_PROFILES
from conftest import STORAGE_REFUSALS, answered, storage_refusal_case


# ---- 1. storage_read_Bps left out read_fraction -------------------------------------------------------------------

def test_storage_read_rate_counts_only_the_filtered_bytes():
    """With filtering at storage (``data.read_fraction``) each loader reads that share of a sample's bytes, and the
    storage's ceiling counts it; the reported read rate (JSON ``storage_read_Bps``) counted the whole sample: 361 MB/s
    for a ResNet-50 files job reading a quarter of each image, whose loaders read 90 MB/s. Every request of a files job
    reads one sample, so the rate over the request rate is the bytes the loaders booked per request."""
    ld = LoaderConfig(workers=4, decode_s=0.0005, decode_cv=0.0, format="files", sample_bytes=110_000,
                      read_fraction=0.25, storage=STORAGE_PROFILES["object_store"])
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32, dp=2), loader=ld)
    r = simulate(cfg, steps=60, seed=0).data
    booked = r["storage_bytes_read"] / r["storage_requests"]
    assert booked == pytest.approx(110_000 * 0.25)
    assert r["storage_read_Bps"] / r["storage_requests_per_s"] == pytest.approx(booked, rel=1e-9)


# ---- 2. the first-order worker count left out the worker's own storage reads ---------------------------------------

def test_first_order_workers_count_the_batch_reads():
    """``W >= t_batch / t_gpu`` (data_pipeline.md §1.5) with ``t_batch`` the whole batch build, reads included; the
    estimate used the decode alone, so a loader whose workers wait on 50 ms GETs was told 2 workers where the
    simulation needs 64 (and the ResNet-50 shards job 25 where it needs 32). Now it is the hand-computed
    32 x (1 ms decode + 50 ms latency + 110 kB / 88 MB/s) / 30 ms, and the simulated answer is the grid's next count."""
    from planner.simulate.answers import WORKER_GRID, workers_needed

    ld = LoaderConfig(workers=1, decode_s=0.001, decode_cv=0.0, format="files", sample_bytes=110_000,
                      storage=STORAGE_PROFILES["object_store"])
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32), loader=ld)
    a = workers_needed(cfg, steps=100)
    by_hand = math.ceil(32 * (0.001 + 0.05 + 110_000 / 88e6) / 0.03)
    assert a["first_order_workers"] == by_hand == 56
    assert a["workers_needed"] == min(w for w in WORKER_GRID if w >= by_hand)


# ---- 3. tabular.max_bin was accepted and ignored ------------------------------------------------------------------

def test_tabular_max_bin_prices_the_split_search(cli, tmp_path):
    """``tabular.max_bin`` passed the schema and every job was priced at the profile's 256 bins: the per-tree
    model's split-search term (features x bins x 2^depth) is per bin, so 100k rows x 200 features at depth 10 and 32
    bins took 4x the time it models. The CPU time now follows the bins, and the header says the job's count."""

    def best_cpu_s(bins):
        f = tmp_path / f"t{bins}.yaml"
        f.write_text(f"tabular: {{rows: 1.0e5, features: 200, trees: 100, depth: 10, max_bin: {bins}}}\n"
                     "constraints: {instances: [aws:c7i.12xlarge]}\n")
        plan = answered(cli("recommend", str(f), "--json"))
        assert plan["max_bin"] == bins
        return plan["best"]["seconds_per_run"]

    from planner.model.gbdt import predict_tree_s
    from planner.workloads.tabular import load_gbdt_profile
    prof = load_gbdt_profile()
    t32, t256 = (float(predict_tree_s(prof, 1e5, 200, 10, b)) for b in (32, 256))
    sketch = prof["s_sketch_s_per_row_feature"] * 1e5 * 200
    ratio = (sketch + 100 * t256) / (sketch + 100 * t32)
    assert ratio > 2
    assert best_cpu_s(256) / best_cpu_s(32) == pytest.approx(ratio, rel=1e-9)
    code, out, _ = cli("recommend", str(tmp_path / "t32.yaml"))
    assert "depth 10, max_bin 32, 100 trees" in out


# ---- 4. the app's sensitivity table of a data-bound plan said nothing of being compute-bound -------------------------

def _app_on(monkeypatch, name: str, text: str):
    """The app run once on the job ``text`` as its starting document (``interactive.preset_base`` patched: the
    default preset's search, 20 s on this machine, is not what these tests check; the page is the same code)."""
    from streamlit.testing.v1 import AppTest

    from planner import interactive as wi
    from conftest import ROOT
    base = wi.parse_upload(name, text.encode())
    monkeypatch.setattr(wi, "preset_base", lambda _name: base)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def test_app_sensitivity_of_a_data_bound_plan_says_it_is_compute_bound(monkeypatch):
    """The ranked plans of a job with a data section are simulated (the metrics: 10.0 h for the ResNet-50 files job),
    the sensitivity rows are ``estimate_job``'s compute-bound figures ("1 (current)": 44.4 minutes): the report says
    so under its sensitivity tables, the app said nothing there (its chart and other tables had a caption). Now the
    sensitivity table carries the report's words, with the two step times it compares."""
    pytest.importorskip("streamlit.testing.v1")
    from conftest import EXAMPLES
    text = (EXAMPLES / "resnet50-objectstore-files.yaml").read_text().replace(
        "cluster: {instance: aws:p5.48xlarge}", "cluster: {instance: aws:p5.48xlarge, nodes: 1}")
    at = _app_on(monkeypatch, "files.yaml", text)
    step = next(m.value for m in at.metric if m.label == "step time")
    notes = [c.value for c in at.caption if c.value.startswith("Analytic (compute-bound) times")]
    assert len(notes) == 1, [c.value for c in at.caption]
    assert f"step {step} instead of 188.9 ms" in notes[0]  # 189.1 ms until session 35 dropped the dense DP reduce's phantom expert latency
    # the timeline's 3 steps start with cold loaders: their time by cause is not the ranked step's, and says so
    import re
    tl = next(c.value for c in at.caption if c.value.startswith("time by cause, of "))
    steps_s = float(re.match(r"time by cause, of ([0-9.]+) s simulated", tl).group(1))  # the causes' shares of it (QA 83)
    assert steps_s / 3 > 1.5 * 2.57
    said = re.search(r"the first 3 steps from cold loaders \(([0-9.]+) s a step", tl)
    assert said and float(said.group(1)) == pytest.approx(steps_s / 3, rel=0.01), tl  # the caption's 3 figures
    assert f"the plan's {step} step is the steady state" in tl
    # the current row of the table is the compute-bound step the caption names
    cur = next(df.value for df in at.dataframe if "nodes" in df.value.columns)
    # app34: a column with an empty cell is sent as the terminal's text ("0.189"), so read the figure back
    cell = cur.loc[cur["nodes"].astype(str).str.contains("current"), "step s"].iloc[0]
    assert float(str(cell).replace(",", "")) == pytest.approx(0.189, abs=5e-4)


# ---- 5. the workers answer blamed the storage when the dataset had fewer shards than workers ------------------------

def test_workers_answer_names_the_shard_count_when_it_caps_the_workers():
    """Shards are split across every replica's workers, so past ``shards // dp`` workers per replica the extra ones
    idle and the rate goes flat. The answer read that flat line as "the storage binds" (ResNet-50 on 1 GB shards:
    138 shards, 17 reading workers per replica, 2 GET/s of S3's 5,500). Here 10 shards over 2 replicas leave 5
    reading workers each, with the storage far from its ceiling: the bound is the shard count, at 5 workers' rate."""
    from planner.present.simulation import format_answers
    from planner.simulate.answers import storage_ceiling, workers_needed

    ld = LoaderConfig(workers=2, decode_s=0.004, decode_cv=0.0, format="shards", sample_bytes=100_000,
                      shard_bytes=10e6, dataset_samples=1000, storage=STORAGE_PROFILES["local_nvme"])
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.005, t_bwd_mb=0.01, micro_batch=32, dp=2), loader=ld)
    a = workers_needed(cfg, steps=100)
    assert (a["bound"], a["shards_total"], a["workers_reading"]) == ("shards", 10, 5)
    five = next(r for r in a["rows"] if r["workers"] == 5)
    assert max(r["samples_per_s"] for r in a["rows"]) == pytest.approx(five["samples_per_s"], rel=0.02)
    assert five["samples_per_s"] < 0.2 * storage_ceiling(ld)  # not the storage
    said = str(format_answers({"workers": a})[0])
    assert "the shard count binds: 10 shards over 2 data-parallel replicas" in said and "storage binds" not in said


def test_recommend_limits_line_names_the_shard_count():
    """The same cap in ``recommend``'s limits line (``training.data_bound_line``): it told a plan whose loaders had
    idle workers (no shard left for them) that more workers per GPU and more GPUs help."""
    from planner.simulate.answers import storage_ceiling
    from planner.workloads.training import data_bound_line

    ld = LoaderConfig(workers=8, decode_s=0.004, decode_cv=0.0, format="shards", sample_bytes=100_000,
                      shard_bytes=10e6, dataset_samples=1000, storage=STORAGE_PROFILES["local_nvme"])
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.005, t_bwd_mb=0.01, micro_batch=32, dp=2), loader=ld)
    res = simulate(cfg, steps=100, seed=0)
    assert res.data["loader_workers"] == 5
    assert (res.steady_samples_per_s or res.samples_per_s) < 0.2 * storage_ceiling(ld)
    line = data_bound_line(cfg, res, 0.3, 0.015, 0.02)
    assert "the shard count binds (10 shards over 2 data-parallel replicas: 5 of each loader's 8 workers" in line
    assert "more loader workers or GPUs do not" in line and "more loader workers/vCPUs per GPU" not in line


# ---- 7. calibrate --storage took a device or an empty file, and said so after measuring, wrongly --------------------

@pytest.mark.parametrize("target, words", STORAGE_REFUSALS)
def test_calibrate_storage_target_is_checked_before_measuring(cli, tmp_path, monkeypatch, target, words):
    """``--storage /dev/null`` exists, so it passed the up-front check, the whole calibration ran, and then it
    failed as "error: storage: no such file or folder: /dev/null" (neither the option's name nor true); an empty file
    measured nothing and the profile silently had no storage rate. Both are now refused before anything runs."""
    target, out = storage_refusal_case(tmp_path, monkeypatch, target)
    code, _, err = cli("calibrate", "--quick", "--storage", target, "-o", out)
    assert code == 2 and err.startswith(f"error: --storage: {target} {words}"), err
    assert not out.exists()


# ---- 8. the app offered a sequence length for an image model ---------------------------------------------------------

def test_app_sequence_length_is_off_for_an_image_model(monkeypatch):
    """A ResNet-50 job showed "sequence length 4096" and "global batch (sequences)" in the sidebar, and moving the
    slider changed nothing on the page (the plan has no sequence length). The slider is now disabled with a reason,
    and the batch counts samples."""
    pytest.importorskip("streamlit.testing.v1")
    from conftest import EXAMPLES
    text = (EXAMPLES / "resnet50-objectstore-files.yaml").read_text().replace(
        "cluster: {instance: aws:p5.48xlarge}", "cluster: {instance: aws:p5.48xlarge, nodes: 1}")
    at = _app_on(monkeypatch, "files.yaml", text)
    seq = at.select_slider(key="w_seq_len")
    assert seq.disabled and "not token sequences" in seq.help
    assert at.select_slider(key="w_global_batch").label == "global batch (samples)"
    from planner import interactive as wi
    assert wi.takes_sequences({"model": {"preset": "llama3-8b"}})  # a language model keeps the slider
