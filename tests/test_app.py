"""The what-if app through ``streamlit.testing.v1.AppTest`` (no browser), and the logic under it
(planner/interactive.py): it runs with defaults, inputs change the numbers, bad uploads are one error
message and never a traceback. Every widget moved once: tests/test_app_widgets.py; the serving view:
tests/test_app_serving.py (files of their own, so that ``--dist loadfile`` spreads the app's CPU over the workers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner import interactive as wi
from planner.errors import InputError
from conftest import EXAMPLES, ROOT

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
HF = ROOT / "tests" / "data" / "hf_configs"


def _app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _charts(at) -> list:
    """altair charts on the page (AppTest has no typed accessor for them)."""
    def walk(n):
        for c in getattr(n, "children", {}).values():
            yield c
            yield from walk(c)
    return [e for e in walk(at.main) if getattr(e, "type", None) == "vega_lite_chart"]


@pytest.fixture(scope="module")
def started():
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_runs_with_defaults(started):
    at = started
    assert not at.error, [e.value for e in at.error]
    m = _metrics(at)
    assert {"time to train", "step time", "MFU / HFU", "GPUs"} <= set(m)
    assert all(v and v != "-" for v in m.values()), m
    assert at.success, "no recommendation shown"
    # the recommendation the app shows is the search's: same job, same numbers
    job = wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), _inputs_of(at))
    rec = wi.search(job, wi.cached_catalog(), None, top=10)
    assert m["GPUs"] == f"{rec['best']['hardware']['gpus']:,}"
    assert rec["best"]["hardware"]["name"] in at.success[0].value
    # the model's own error on runs of this kind, with the range it implies (planner.model.accuracy)
    assert any(i.value.startswith("accuracy: on ") and f"{rec['best']['accuracy']['rows']:,} published" in i.value
               for i in at.info), [i.value for i in at.info]
    assert len(at.get("download_button")) == 1
    # memory, step time, cost vs time, timeline, sensitivity
    assert len(_charts(at)) >= 5


def _inputs_of(at) -> wi.WhatIf:
    s = at.session_state
    return wi.WhatIf(seq_len=s["w_seq_len"], global_batch=s["w_global_batch"], micro_batch=s["w_micro_batch"],
                     precision=s["w_precision"], optimizer=s["w_optimizer"], recompute=s["w_recompute"],
                     tokens=s["w_tokens_b"] * 1e9, tp=s["w_tp"], pp=s["w_pp"], cp=s["w_cp"], zero=s["w_zero"],
                     gpus=s["w_gpus"], clouds=s["w_clouds"], instance=wi.field_value(s["w_instance"]),
                     nodes=wi.field_value(s["w_nodes"]),
                     spot=s["w_spot"], max_gpus=s["w_max_gpus"], budget_usd=s["w_budget_musd"] * 1e6 or None,
                     deadline_hours=s["w_deadline_days"] * 24 or None, objective=s["w_objective"],
                     inter_node_gbps=s["w_inter_node_gbps"] or None)


def _narrow(at, cloud: str = "gcp"):
    """One GPU type (H100 SXM) on one cloud, set before the next run: a check of what the page says about its plan,
    not of which hardware wins, searched at about a sixth of the CPU (test_app_widgets does the same)."""
    at.multiselect(key="w_gpus").set_value(["H100-SXM-80GB"])
    at.multiselect(key="w_clouds").set_value([cloud])


def test_long_context_mfu_says_what_it_counts_as_the_cli_does():
    """At 131072 tokens the masked half of causal attention is most of llama3-8b's model FLOPs: the app showed
    "MFU" alone (~60%, up to ~80% at long context). It shows MFU / HFU as ``planner estimate`` does, and under the
    metrics the CLI's own advice line on what MFU counts (explain.causal_count_lines), said once on the page."""
    from planner.search.explain import causal_count_lines, mfu_hfu_values

    at = _app()
    # the default 8192 tokens: the masked half is under a quarter, no advice line (the CLI's cell note at most)
    short = [c.value for c in at.caption if "(PaLM convention); the causal kernel skips" in c.value]
    assert not short, short
    # the long-context plan on one GPU type on one cloud (_narrow): the MFU / HFU words are the plan's, whatever the
    # hardware searched, at about a sixth of the search over the preset's three types on every cloud
    _narrow(at)
    at.select_slider(key="w_seq_len").set_value(131072).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "gcp:" in at.success[0].value, at.success[0].value  # the narrowing holds
    job = wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), _inputs_of(at))
    best = wi.search(job, wi.cached_catalog(), None, top=10)["best"]
    assert best["hfu"] < best["mfu"]
    assert _metrics(at)["MFU / HFU"] == mfu_hfu_values(best)
    (line,) = causal_count_lines(job, best)
    assert line.startswith(f"MFU {best['mfu']:.0%} counts causal attention in full (PaLM convention)")
    assert [c.value for c in at.caption if c.value == line] == [line]
    assert not any(line in md.value for md in at.markdown)  # not repeated as advice in the expander


def test_changing_inputs_changes_numbers():
    at = _app()
    before = _metrics(at)
    at.select_slider(key="w_seq_len").set_value(8192).run()
    assert not at.exception and not at.error
    after = _metrics(at)
    assert after["step time"] != before["step time"], (before, after)
    # pin a small cluster: the GPU count follows
    at.selectbox(key="w_instance").set_value("aws:p5.48xlarge")
    at.selectbox(key="w_nodes").set_value(2).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    pinned = _metrics(at)
    assert pinned["GPUs"] == "16"
    assert "aws:p5.48xlarge" in at.success[0].value
    # the sensitivity view follows its chosen input
    at.radio(key="sens_input").set_value("micro_batch").run()
    assert not at.exception
    assert any("micro-batch" in df.value.columns[0] for df in at.dataframe)


def _no_fit_app():
    """The page with Llama-3-70B set to TP1 PP1 ZeRO-0 on one p4de.24xlarge, which does not fit."""
    at = _app()
    at.selectbox(key="preset").set_value("llama3-70b").run()
    at.selectbox(key="w_instance").set_value("aws:p4de.24xlarge")
    at.selectbox(key="w_nodes").set_value(1)
    at.select_slider(key="w_tp").set_value(1)
    at.select_slider(key="w_pp").set_value(1)
    at.select_slider(key="w_zero").set_value(0).run()
    return at


def test_nothing_fits_shows_why_with_the_memory_chart():
    at = _no_fit_app()
    assert not at.exception
    assert at.error and "memory" in at.error[0].value and "GiB" in at.error[0].value
    assert [h.value for h in at.subheader] == ["the configuration as set"]
    assert len(_charts(at)) == 2  # memory against capacity, and the step time


@pytest.fixture(scope="module")
def uploads():
    """One page for the bad uploads: each replaces the one before and is refused before any input is read, so a
    page per file (each first planning the default preset) checked nothing more."""
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("name,data,words", [
    ("bad.yaml", b"model: {preset: llama3-8b\ntraining: [", ["malformed YAML"]),
    ("schema.yaml", b"model: {preset: llama3-8b}\ntraining: {seq_len: -5}\n", ["training.seq_len"]),
    ("typo.yaml", b"model: {preset: llama3-8b}\ntrainig: {seq_len: 4096}\n", ["trainig"]),
    ("unknown.yaml", b"model: {preset: not-a-model}\n", ["model.preset", "unknown preset"]),
    ("local.yaml", b"model: {hf_config: /etc/passwd}\n", ["model.hf_config", "upload the config.json"]),
    ("list.json", b"[1, 2, 3]", ["mapping"]),
    ("bin.yaml", b"\xff\xfe\x00garbage", ["UTF-8"]),
    ("huge.yaml", b"# " + b"x" * (wi.MAX_UPLOAD_BYTES + 1), ["MiB"]),
    ("python.yaml", b"model: !!python/object/apply:os.system ['echo pwned']\n",
     ["line 1: model: the tag !!python/object/apply:os.system is not read here"]),
])
def test_bad_upload_shows_an_error_not_a_traceback(uploads, name, data, words):
    at = uploads
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error, "no error shown"
    msg = at.error[0].value
    assert name in msg and "Traceback" not in msg
    for w in words:
        assert w in msg, msg
    assert not at.metric  # nothing computed from a bad file


def test_hf_config_upload_runs_and_resets_inputs():
    at = _app()
    cfg = (HF / "qwen2.5-0.5b.json").read_bytes()
    at.file_uploader(key="upload").set_value(("config.json", cfg, "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("config.json" in c.value for c in at.caption)
    m = _metrics(at)
    assert m["MFU / HFU"].endswith("%")
    # defaults filled in for a bare config are the loader's (Chinchilla tokens for 0.49B params)
    n = json.loads(cfg)
    assert n["model_type"] == "qwen2"
    assert at.session_state["w_tokens_b"] == pytest.approx(20 * 494_032_768 / 1e9, rel=1e-6)


# ---- the logic under the app --------------------------------------------------------------------
def test_build_job_round_trips_and_auto_means_searched():
    base = wi.parse_upload("job.yaml", (EXAMPLES / "llama3-70b.yaml").read_bytes())
    w = wi.inputs_from_job(wi.build_job(base, None))
    assert w.gpus == ["H100-SXM-80GB", "A100-SXM-80GB", "H200-SXM-141GB"] and w.deadline_hours == 2160
    job = wi.build_job(base, w)
    assert job.training.seq_len == 8192 and job.parallel.tp is None  # left to the search
    job = wi.build_job(base, w.replace(tp=4, budget_usd=None, clouds=["aws"]))
    assert job.parallel.tp == 4 and job.constraints.clouds == ["aws"]
    with pytest.raises(InputError) as e:
        wi.build_job(base, w.replace(tp=3))  # 64 heads: tp=3 does not divide them
    assert e.value.field == "parallel.tp"


def test_sensitivity_matches_estimate_and_explains_impossible_points(catalog):
    from planner.workloads.training import estimate_job

    job = wi.build_job(wi.parse_upload("e.yaml", (EXAMPLES / "llama3-8b-estimate.yaml").read_bytes()), None)
    est = estimate_job(job, catalog)
    df = wi.sensitivity(job, est, "nodes", catalog, values=[1, 2, 3, 4])
    cur = df[df["current"]].iloc[0]
    assert cur["value"] == 2 and cur["step_time_s"] == pytest.approx(est["step_time_s"], rel=1e-12)
    assert cur["cost_ondemand_usd"] == pytest.approx(est["cost"]["cost_ondemand_usd"], rel=1e-12)
    # 3 nodes = 24 GPUs, DP 12: 256 sequences are not a multiple of 12 -> a row that says why
    three = df[df["value"] == 3].iloc[0]
    assert three["step_time_s"] != three["step_time_s"] and "global_batch" in three["note"]
    # more nodes, same layout: shorter step
    four = df[df["value"] == 4].iloc[0]
    assert four["step_time_s"] < cur["step_time_s"]
    net = wi.sensitivity(job, est, "inter_node_gbps", catalog)
    assert net["step_time_s"].is_monotonic_decreasing or net["step_time_s"].diff().dropna().le(1e-12).all()


def test_timeline_has_gpu_lanes_for_the_plan(catalog):
    from planner.workloads.training import estimate_job

    job = wi.build_job({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 64,
                        "micro_batch": 1, "recompute": "full", "tokens": 1e11},
                        "parallel": {"tp": 1, "pp": 4, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}, None)
    est = estimate_job(job, catalog)
    tl = wi.simulated_timeline(job, est, steps=2, max_ranks=4)
    if not tl["ok"] and "unavailable" in tl["message"]:
        pytest.skip(tl["message"])
    assert tl["ok"], tl["message"]
    t = tl["timeline"]
    assert {"forward", "backward"} <= set(t["activity"])  # pp > 1: per micro-batch ops
    assert set(t[t["rank"] >= 0]["rank"]) == {0, 1, 2, 3}
    assert 0 < tl["gpu_busy_share"] <= 1.0 + 1e-9
    assert (t["end"] > t["start"]).all()


def test_report_download_is_the_report_of_what_the_app_shows(catalog):
    job = wi.build_job(wi.parse_upload("e.yaml", (EXAMPLES / "llama3-8b-estimate.yaml").read_bytes()), None)
    rec = wi.search(job, catalog, None, top=3, simulate=False)
    html = wi.report_html(job, rec, catalog, None, "e.yaml")
    assert html.startswith("<!doctype html>") and "planner-summary" in html
    assert rec["best"]["hardware"]["name"] in html


def test_short_runs_are_readable_in_the_tables(catalog):
    """A 30-minute ResNet-50 run showed "days 0.0"/"days to train 0.02" and "$2" for $1.51."""
    from planner.spec import load_job_dict

    job = load_job_dict({"model": {"preset": "resnet50"}, "training": {"global_batch": 2048, "epochs": 1,
                         "dataset_samples": 1281167}, "constraints": {"clouds": ["aws"]}})
    rec = wi.search(job, catalog, None, top=5)
    assert rec["best"]["cost"]["hours"] < 2
    for df in (wi.ranked_display(rec), wi.scaling_display(rec), wi.comparison_display(rec),
               wi.sensitivity_display(wi.sensitivity(job, rec["best"], "micro_batch", catalog, None), "micro-batch")):
        # seconds or minutes (units.DURATION_UNITS: seconds when the longest entry is under two minutes)
        col = next((c for c in ("seconds to train", "minutes to train") if c in df.columns), None)
        assert col is not None and "days" not in df.columns, list(df.columns)
        assert df[col].dropna().min() >= 0.1
    ranked = wi.ranked_display(rec)
    assert ranked["on-demand $"].iloc[0] == round(rec["best"]["cost"]["cost_ondemand_usd"], 2)


def test_centuries_are_said_in_years():
    """With no deadline and 1e14 tokens the app showed "time to train 2212281.9 d"."""
    from planner.units import fmt_time

    assert fmt_time(2_212_281.9 * 86400) == "6,056.9 years"
    assert fmt_time(999 * 86400) == "999.0 d" and fmt_time(47.6 * 60) == "47.6 min"


def test_spot_metrics_are_the_expected_figures_the_plan_is_ranked_at():
    """With spot on, the recommendation line, the CLI and the likely range quote the expected time and
    cost with interruptions; the metrics showed the sticker spot price and the uninterrupted time."""
    from planner.results import ranked_hours, ranked_price
    from planner.units import fmt_time, fmt_usd

    at = _app()
    _narrow(at, "aws")  # a cloud with spot rates: the expected figures are the plan's, whichever hardware wins
    at.checkbox(key="w_spot").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "aws:" in at.success[0].value, at.success[0].value  # the narrowing holds
    job = wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), _inputs_of(at))
    best = wi.search(job, wi.cached_catalog(), None, top=10)["best"]
    cost = best["cost"]
    assert cost["spot_risk"]
    m = _metrics(at)
    assert m["time to train (expected)"] == fmt_time(ranked_hours(cost, True) * 3600)
    assert m["cost (spot, expected)"] == fmt_usd(ranked_price(cost, True))
    assert ranked_hours(cost, True) > cost["hours"]


def test_unpriced_hardware_shows_empty_cost_cells_and_says_why():
    """A bare GB300 cluster has no price: the app's "top alternatives" table raised TypeError (round(None)), and
    the other tables showed bare NaN / None cost cells with nothing to say why. (GB200 until gbprice42, which priced
    its NVL72 rack at CoreWeave's rate; no GB300 rate is known.)"""
    data = (b"model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 576, tokens: 1.0e+11}\n"
            b"cluster: {gpu: GB300-B300}\n")
    at = _app()
    at.file_uploader(key="upload").set_value(("gb200.yaml", data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    # the page's own plan (the job its inputs build, its catalog and top: wi.search's cache answers), not a second
    # search of the GB200 node counts
    rec = wi.search(wi.build_job(wi.parse_upload("gb200.yaml", data), _inputs_of(at)), wi.cached_catalog(), None, top=10)
    ranked = wi.ranked_display(rec)
    assert ranked["on-demand $"].isna().all() and ranked["spot $"].isna().all()
    cap = wi.unpriced_caption(rec)
    assert cap.startswith("empty cost cells: no price for GB300-B300") and "cluster.price_usd_hr" in cap
    # and why, as the CLI's note says it (cost43: no provider's GB300 NVL72 rate was found)
    assert "GB300-B300: no provider's GB300 NVL72 rate was found" in cap
    assert sum(c.value == cap for c in at.caption) == 4  # under sensitivity, scaling, per-GPU and alternatives


def test_every_priced_plan_needs_no_unpriced_caption(catalog):
    from planner.spec import load_job_dict

    job = load_job_dict({"model": {"preset": "resnet50"}, "training": {"global_batch": 2048, "epochs": 1,
                         "dataset_samples": 1281167}, "constraints": {"clouds": ["aws"]}})
    assert wi.unpriced_caption(wi.search(job, catalog, None, top=3)) == ""


def test_data_bound_job_says_the_chart_and_views_are_compute_bound():
    """For a job with a data pipeline the ranked plans are simulated, but the cost-vs-time chart (like the scaling
    and per-GPU tables) plots the analytic search's compute-bound points: the chart now carries the same caption."""
    data = (EXAMPLES / "resnet50-objectstore-files.yaml").read_bytes()
    at = _app()
    at.file_uploader(key="upload").set_value(("files.yaml", data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    notes = [c.value for c in at.caption if c.value.startswith("compute-bound figures")]
    assert len(notes) == 3 and len(set(notes)) == 1, [c.value for c in at.caption]  # chart, scaling, per-GPU


def test_uploaded_config_keeps_the_notes_the_cli_prints():
    """An uploaded config.json was turned into model fields and its notes dropped: a DeepSeek-V3 config planned
    671B parameters without the line `planner estimate config.json` prints, that its MTP module is left out, nor
    that the model came from a config.json. The page's job now carries the CLI's lines, through every path the
    app loads it (the upload check, the inputs, the serving view's loader)."""
    from planner.spec import load_job

    path = HF / "deepseek-v3.json"
    cli_notes = [a for a in load_job(path).assumptions if "config.json" in a or "mtp_layers" in a]
    assert len(cli_notes) == 2 and any("num_nextn_predict_layers" in a for a in cli_notes)
    base = wi.parse_upload("deepseek-v3.json", path.read_bytes())
    for job in (wi.build_job(base, None), wi.build_job(base, wi.inputs_from_job(wi.build_job(base, None)))):
        assert [a for a in job.assumptions if a in cli_notes] == cli_notes
    assert wi._load(base).assumptions[:2] == cli_notes  # serving_view's loader


def test_a_rerun_with_the_same_job_reuses_the_sweep_and_timeline(started, monkeypatch):
    """Streamlit reruns the script on every widget change: with the job unchanged the sweep and the simulated
    timeline are not made again (``wi.cached_view``), and the page is the same."""
    calls = {"sensitivity": 0, "timeline": 0}
    sens, timeline = wi.sensitivity, wi.simulated_timeline

    def counted(name, fn):
        return lambda *a, **k: calls.__setitem__(name, calls[name] + 1) or fn(*a, **k)
    monkeypatch.setattr(wi, "sensitivity", counted("sensitivity", sens))
    monkeypatch.setattr(wi, "simulated_timeline", counted("timeline", timeline))
    at = started
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == {"sensitivity": 1, "timeline": 1}
    page = lambda: (_metrics(at), [d.value.to_json() for d in at.dataframe], len(_charts(at)),  # noqa: E731
                    [c.value for c in at.caption])
    before = page()
    at.run()
    assert calls == {"sensitivity": 1, "timeline": 1}, "a rerun with the same job made the views again"
    assert page() == before


def test_cached_view_tells_jobs_by_content_and_other_inputs_by_identity():
    base = wi.preset_base(wi.DEFAULT_PRESET)
    w = wi.inputs_from_job(wi.build_job(base, None))
    seen = []
    fn = lambda *a, **k: seen.append(a) or len(seen)  # noqa: E731
    row = {"config": {"tp": 1}}
    assert wi.cached_view(fn, wi.build_job(base, w), row, 3) == 1
    assert wi.cached_view(fn, wi.build_job(base, w), row, 3) == 1  # the same job rebuilt, the same row
    assert wi.cached_view(fn, wi.build_job(base, w.replace(seq_len=2048)), row, 3) == 2  # another job
    assert wi.cached_view(fn, wi.build_job(base, w), dict(row), 3) == 3  # an equal row that is another object
    assert wi.cached_view(fn, wi.build_job(base, w), row, 4) == 4  # another value


def test_assumptions_say_how_old_the_prices_are(started):
    """The page's assumptions carry estimate's "prices dated" words for the best plan's cost (prices38): the
    built-in cloud prices are dated by a ``not before`` bound, which the page says as a bound, not as a date."""
    at = started
    job = wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), _inputs_of(at))
    rec = wi.search(job, wi.cached_catalog(), None, top=10)
    line = wi.prices_dated_line(rec["best"]["cost"])
    assert line and line.startswith("prices dated: ")
    shown = [md.value for md in at.markdown if "prices dated" in md.value]
    assert shown == [f"- {line}"], shown
    if rec["best"]["cost"]["price_dates"].get("oldest_kind") == "not-before":
        assert "not before" in line
    if rec["best"]["cost"]["price_dates"].get("oldest_kind") == "between":  # both ends (catalog40): an age range
        p = rec["best"]["cost"]["price_dates"]
        assert "between " in line and f"{p['age_floor_days']:,} to {p['age_days']:,} days old" in line
    assert wi.prices_dated_line(None) is None and wi.prices_dated_line({"price_dates": {}}) is None
