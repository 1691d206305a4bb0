"""The what-if app's serving controls of app53: prefill-decode disaggregation (``serving.disaggregation``, pd51), a
job file's only until then, through ``streamlit.testing.v1.AppTest``. A small job (one H100 cloud, 2 QPS of short
requests) keeps each page's plan and simulations about a second."""
from __future__ import annotations

import yaml

from planner import interactive as wi
from planner.errors import InputError
from planner.spec import load_job_dict
from test_app import _app, _charts, _metrics

#: Llama-3-8B at 2 QPS of 256 + 32 tokens on aws's H100s: one TP1 replica colocated
SMALL = b"""model: {preset: llama3-8b}
serving:
  p99_latency_ms: 50
  ttft_ms: 1000
  qps: 2
  prompt_tokens: 256
  output_tokens: 32
  max_batch: 16
constraints:
  clouds: [aws]
  gpus: [H100-SXM-80GB]
"""
SPLIT_LABELS = ("prefill replicas", "decode replicas", "KV hand-over", "$/h split / colocated")


def _upload(data: bytes, name: str = "small.yaml"):
    at = _app()
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _split_lines(at) -> list[str]:
    return [c.value.replace("\\$", "$") for c in at.caption if c.value.startswith("serving.disaggregation ")]


def test_serving_page_sets_the_prefill_decode_split_and_shows_it_as_serve_prints_it():
    """The serving page's disaggregation control (off / auto / prefill + decode, with the two replica counts) writes
    ``serving.disaggregation``: the split's sides, GPUs, KV hand-over link and $/h beside the colocated fleet's are on
    the page, with a chart of the two fleets' p99s and $/h, and `planner serve`'s three ``assumed:`` lines of it (the
    plan's assumptions, which the CLI prints). Until app53 only a job file could ask for a split."""
    at = _upload(SMALL)
    assert at.selectbox(key="d_mode").value == "off" and at.number_input(key="d_prefill").disabled
    assert not set(SPLIT_LABELS) & set(_metrics(at)) and not _split_lines(at)
    at.selectbox(key="d_mode").set_value(wi.DISAGG_SPLIT).run()
    at.number_input(key="d_decode").set_value(2).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    view = wi.serving_view(wi.with_disaggregation(yaml.safe_load(SMALL), wi.DISAGG_SPLIT, 1, 2))
    d = view["plan"]["disaggregation"]
    assert (d["mode"], d["prefill"], d["decode"]) == ("split", 1, 2)
    m = _metrics(at)
    assert m["prefill replicas"] == f"1 x {d['layout']}" and m["decode replicas"] == f"2 x {d['decode_layout']}"
    assert m["KV hand-over"].startswith(d["link"]) and f"${d['usd_per_hr']:,.2f}/h" in m["$/h split / colocated"]
    said = [a for a in view["plan"]["assumptions"] if a.startswith("serving.disaggregation ")]
    assert len(said) == 3 and _split_lines(at) == said
    chart = [c for c in _charts(at) if "prefill-decode split" in str(c.spec)]
    assert len(chart) == 1 and "split: 1 prefill + 2 decode" in str(chart[0].spec)


def test_a_jobs_own_split_starts_the_control_and_auto_sizes_one():
    """An uploaded job's ``serving.disaggregation`` starts the control at its own split; auto then sizes one (the
    plan's mode auto), and off takes the split section away."""
    own = SMALL.replace(b"  max_batch: 16\n", b"  max_batch: 16\n  disaggregation: {prefill: 2, decode: 1}\n")
    at = _upload(own, "own.yaml")
    assert (at.selectbox(key="d_mode").value, at.number_input(key="d_prefill").value,
            at.number_input(key="d_decode").value) == (wi.DISAGG_SPLIT, 2, 1)
    assert _metrics(at)["prefill replicas"].startswith("2 x ")
    at.selectbox(key="d_mode").set_value("auto").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _split_lines(at)[0].startswith("serving.disaggregation auto on ")
    at.selectbox(key="d_mode").set_value("off").run()
    assert "prefill replicas" not in _metrics(at) and not _split_lines(at)


def test_a_split_the_job_file_refuses_is_the_clis_one_line_error():
    """An offline (mode: batch) job has no latency target to split for: the page shows the job loader's one line
    (`planner serve` prints it as ``error: serving.disaggregation: ...``), not a traceback."""
    batch = SMALL.replace(b"  qps: 2\n", b"  mode: batch\n  requests: 2000\n").replace(b"  p99_latency_ms: 50\n  ttft_ms: 1000\n", b"")
    at = _upload(batch, "batch.yaml")
    assert not at.error, [e.value for e in at.error]
    at.selectbox(key="d_mode").set_value("auto").run()
    assert not at.exception
    try:
        load_job_dict(wi.with_disaggregation(yaml.safe_load(batch), "auto", 1, 1))
    except InputError as e:
        cli = e
    assert cli.field == "serving.disaggregation"
    assert [e.value for e in at.error] == [f"**{cli.field}**: {cli.message}"]
