"""The what-if app's serving view (a job with a ``serving`` section), through ``streamlit.testing.v1.AppTest``.

Its own file: pytest-xdist's ``--dist loadfile`` runs a file on one worker, and a serving plan simulates its
options (10-40 s), so these tests beside tests/test_app.py's kept one worker busy for the longest (its helpers)."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from conftest import EXAMPLES
from test_app import _app, _metrics

#: the chat example with a GPU cap, so that one page shows both the serving view and the "held to" lines
CHAT = (EXAMPLES / "serving-llama3-8b-chat.yaml").read_bytes().replace(b"constraints:\n", b"constraints:\n  max_gpus: 512\n")


@pytest.fixture(scope="module")
def chat():
    """The app with the chat job uploaded, and the calls to ``plan_serving`` it made: one page for the tests below
    (each upload of a serving job simulates its plan; two tests each uploading it doubled their time)."""
    from planner.workloads import serving

    calls = []
    plan = serving.plan_serving
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serving, "plan_serving", lambda *a, **k: calls.append(1) or plan(*a, **k))
        at = _app()
        at.file_uploader(key="upload").set_value(("chat.yaml", CHAT, "application/octet-stream")).run()
        assert not at.exception, [e.value for e in at.exception]
        yield at, calls


def test_serving_job_shows_simulated_latency_against_qps(chat):
    """A job with a serving section gets the serving view: the simulated size and p50/p99 TTFT and
    TPOT against offered load, with the targets (the issue's "app shows latency percentiles
    against QPS"). The app reruns its script on every widget change: the serving plan (10-40 s of
    simulation) is made once per job, not once per rerun."""
    at, calls = chat
    labels = {m.label for m in at.metric}
    assert {"hardware", "replicas", "p99 TTFT / TPOT", "$ per 1M requests"} <= labels
    at.run()  # a rerun (any widget) with the same job
    view = wi.serving_view(wi.parse_upload("chat.yaml", CHAT))
    assert len(calls) == 1, "the serving plan was made again for an unchanged job"
    assert [m.value for m in at.metric][:4] == [v for _, v in wi.serving_metrics(view)]
    curve = view["curve"]
    assert [p["qps"] for p in curve] == sorted(p["qps"] for p in curve) and len(curve) == len(wi.QPS_FACTORS)
    p99 = [p["ttft_ms"]["p99"] for p in curve if p["ttft_ms"]]
    assert p99[-1] >= p99[0]  # latency does not fall as load rises


def test_serving_view_says_the_constraints_the_plan_holds_to(chat):
    """A serving job's constraints (max_gpus, min_gpus, an offline budget or deadline) are printed beside the answer
    by `planner serve` ("held to ..."); the app showed only the recommendation line."""
    at, _ = chat
    assert not at.exception and not at.error, [e.value for e in at.error]
    held = [c.value[len("held to "):] for c in at.caption if c.value.startswith("held to ")]
    # the lines `planner serve` prints for the same job (its JSON's ``constraints``)
    assert held and any("max_gpus" in c and "512" in c for c in held), held


def test_serving_view_says_the_compute_rate_beside_the_answer(chat):
    """The FLOP/s per GPU the plan is priced at (its ``compute_rate``: training's reachable rate, serve40) is on the
    page as `planner serve` prints it, under the recommendation."""
    at, _ = chat
    view = wi.serving_view(wi.parse_upload("chat.yaml", CHAT))
    rates = [c.value for c in at.caption if c.value.startswith("compute rate: ")]
    assert rates == ["compute rate: " + "; ".join(view["plan"]["compute_rate"])]


def test_offline_serving_job_shows_the_backlog_numbers_the_cli_prints():
    """An offline (mode: batch) job's headline: the simulated backlog's requests/s per replica, p50 TPOT and $ per
    million requests, the numbers `planner serve` recommends with. The app showed "$ per 1M requests: -" (it read
    the real-time field) and a backlog's p99 TTFT (its queue: 351,533 ms) as a latency."""
    data = (EXAMPLES / "serving-batch-llama3-8b.yaml").read_bytes()
    at = _app()
    at.file_uploader(key="upload").set_value(("batch.yaml", data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    m = _metrics(at)
    sim = wi.serving_view(wi.parse_upload("batch.yaml", data))["plan"]["best"]["simulated"]
    assert m["$ per 1M requests"] not in ("-", "") and m["$ per 1M requests"] == wi.fmt_usd(sim["usd_per_million_requests"])
    assert m["requests/s per replica"] == f"{sim['requests_per_s_per_replica']:,.2f}"
    assert "p99 TTFT / TPOT" not in m


def test_serving_assumptions_say_how_old_the_prices_are(chat):
    """The serving view's assumptions end with serve's "prices dated:" line for its budget (prices38)."""
    at, _ = chat
    view = wi.serving_view(wi.parse_upload("chat.yaml", CHAT))
    res = view["plan"]
    line = wi.prices_dated_line(res.get("budget") or res.get("offline_budget"))
    shown = [md.value for md in at.markdown if "prices dated" in md.value]
    assert line and shown == [f"- {line}"], (line, shown)


def test_serving_page_says_which_options_do_not_work_and_why(chat):
    """QA 80: `planner serve` lists the options that miss the targets or break a job limit ("does not work: L4-24GB TP1:
    TPOT 88.3 ms over the 50 ms target ...") and how old their rates are; the app's serving page left them out, so a
    user comparing options there could not see why the cheaper ones were not recommended. The page shows the lines
    serve prints for the same plan (one source: ``present.serving.rejected_words``)."""
    import io

    from rich.console import Console

    from planner.present.serving import render_serving

    at, _ = chat
    res = wi.serving_view(wi.parse_upload("chat.yaml", CHAT))["plan"]
    out = io.StringIO()
    render_serving(Console(file=out, width=400, color_system=None), res)
    said = [ln for ln in out.getvalue().splitlines() if ln.startswith(("does not work", "prices dated (options"))]
    assert len(said) >= 2 and said[0].startswith("does not work: L4-24GB TP1: TPOT"), said
    assert "options that do not work" in [h.value for h in at.subheader]
    # (the options table's own "prices dated:" line is above them since QA 83)
    shown = [c.value.replace("\\$", "$") for c in at.caption
             if c.value.startswith(("does not work", "prices dated (options"))]
    assert shown == said


def test_serving_arrival_inputs_draw_four_significant_digits(chat):
    """The arrivals' decimal inputs share the training page's format (a bare %g drew every digit in the browser)."""
    at, _ = chat
    # (the split's replica counts, app53, are whole numbers: Streamlit's integer format)
    formats = {n.key: n.proto.format for n in at.number_input if n.key.startswith("a_")}
    assert formats == dict.fromkeys(("a_burst_factor", "a_burst_share", "a_burst_s"), wi.NUMBER_FORMAT), formats
