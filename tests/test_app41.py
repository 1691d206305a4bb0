"""The what-if app's inputs for this session's job fields (app41), through ``streamlit.testing.v1.AppTest``: the GPUs'
power limit (``cluster.power_limit_w``, README "GPUs held at a power limit"), an NVL72 rack's Slurm segment
(``cluster.segment``) and a serving job's arrivals shape (``serving.arrivals``, serve41). Each input exists, moves the
numbers the planner gives for the same job, and a value the planner refuses is one error naming the field."""
from __future__ import annotations

import pytest
import yaml

from planner import interactive as wi
from planner.errors import InputError
from planner.units import fmt_time
from conftest import EXAMPLES
from test_app import _app, _charts, _metrics

pytestmark = pytest.mark.slow  # ~20 CPU s in 5 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

H100_NODE = dict(gpus=["H100-SXM-80GB"], clouds=["aws"], instance="aws:p5.48xlarge", nodes=1, tp=1, pp=1, cp=1)


def _pin_h100_node(at):
    """One p5.48xlarge at TP1 PP1 CP1: the search keeps the hardware and the degrees, so a power limit moves the step of
    one layout (and searches a few hundred layouts, not every GPU on every cloud)."""
    at.multiselect(key="w_gpus").set_value(H100_NODE["gpus"])
    at.multiselect(key="w_clouds").set_value(H100_NODE["clouds"])
    at.selectbox(key="w_instance").set_value(H100_NODE["instance"])
    at.selectbox(key="w_nodes").set_value(H100_NODE["nodes"])
    for k in ("tp", "pp", "cp"):
        at.select_slider(key=f"w_{k}").set_value(1)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def _rec(at, limit):
    """The search the page ran for its inputs, at power limit ``limit`` (cached: the same object)."""
    w = wi.inputs_from_job(wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), None)).replace(
        **H100_NODE, power_limit_w=limit, seq_len=at.session_state["w_seq_len"],
        global_batch=at.session_state["w_global_batch"])
    return wi.search(wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), w), wi.cached_catalog(), None, top=10)


def test_power_limit_moves_the_step_by_the_clock_law_and_says_so():
    """The sidebar holds the GPUs at a power limit in the chosen GPU's own range (an H100 SXM: 200 to 700 W,
    planner.hardware.power); at 500 W the step shown is the search's at cluster.power_limit_w 500, whose clock is the
    clock law's (500 / 700)^(1/3) = 0.894: the step grows, by at most 1 / 0.894 (the memory-bound kernels and the
    links are not clocked). The assumption line is under the metrics, and the sensitivity view sweeps the limit."""
    at = _app()
    _pin_h100_node(at)
    power = at.select_slider(key="w_power_limit_w")
    assert power.options[0] == "rated" and power.options[1] == "200 W" and power.options[-1] == "700 W", power.options
    rated = _rec(at, None)["best"]
    assert _metrics(at)["step time"] == fmt_time(rated["step_time_s"])
    power.set_value(500.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rec = _rec(at, 500.0)
    best = rec["best"]
    assert best["hardware"]["power_limit_w"] == 500.0 and "at 500 W" in at.success[0].value
    clock = best["hardware"]["clock_at_power_limit"]
    assert clock == pytest.approx((500 / 700) ** (1 / 3), rel=1e-9)
    assert best["config"] == rated["config"]  # one layout at two limits
    assert 1.0 < best["step_time_s"] / rated["step_time_s"] <= 1 / clock + 1e-9
    assert _metrics(at)["step time"] == fmt_time(best["step_time_s"]) != fmt_time(rated["step_time_s"])
    line = wi.power_line(rec)
    assert line and line.startswith("GPUs at 500 W of H100-SXM-80GB's rated 700 W") and "0.894x" in line
    assert line in [c.value for c in at.caption]
    # the sweep: step time and cost against the limit, the plan's GPU from its minimum to its rated limit
    at.radio(key="sens_input").set_value("power_limit_w").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    sweep = next(d.value for d in at.dataframe if "power limit (W per GPU)" in d.value.columns)
    assert list(sweep["power limit (W per GPU)"]) == ["200", "300", "400", "500 (current)", "600", "700"]
    steps = list(sweep["step s"])
    assert steps == sorted(steps, reverse=True) and steps[3] == pytest.approx(best["step_time_s"], abs=1e-3)
    assert len(_charts(at)) >= 5


def test_a_power_limit_the_gpus_cannot_take_is_refused_in_one_line():
    """A limit the chosen GPU's range allows (150 W on an A100, whose minimum is 100 W) is kept when the GPU changes;
    the H100 refuses it (its minimum is 200 W): the planner's one line naming the field, no plan shown."""
    at = _app()
    at.multiselect(key="w_gpus").set_value(["A100-SXM-80GB"])
    at.multiselect(key="w_clouds").set_value(["aws"]).run()
    at.select_slider(key="w_power_limit_w").set_value(150.0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "at 150 W" in at.success[0].value
    at.multiselect(key="w_gpus").set_value(["H100-SXM-80GB"]).run()
    assert not at.exception
    assert "150 W" in at.select_slider(key="w_power_limit_w").options  # the job's value, kept to be refused
    assert len(at.error) == 1 and not at.success, [e.value for e in at.error]
    err = at.error[0].value
    assert err.startswith("**cluster.power_limit_w**:") and "below H100-SXM-80GB's minimum power limit, 200 W" in err


GB200_JOB = b"model: {preset: llama3-8b}\ntraining: {tokens: 1.0e10}\ncluster: {gpu: GB200-B200, nodes: 1}\n"


def test_nvl72_segment_is_offered_on_an_nvl72_rack_only():
    """A job on a GB200 NVL72 rack (``cluster.gpu: GB200-B200``) gets the segment input, auto (searched) or 1 to 18
    trays; 8 trays plans one 32-GPU NVLink domain, named as every output names it (``--segment=8``). On 8-GPU
    hardware there is no such input (a segment there is refused)."""
    at = _app()
    assert "w_segment" not in [w.key for w in at.select_slider]
    at.file_uploader(key="upload").set_value(("gb200.yaml", GB200_JOB, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    seg = at.select_slider(key="w_segment")
    assert seg.options == ["auto", *map(str, range(1, 19))] and seg.value is None
    seg.set_value(8).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "GB200-B200 --segment=8 (32 x GB200-B200)" in at.success[0].value
    assert _metrics(at)["GPUs"] == "32"


#: the chat example sized on aws's H100s only (a p5.4xlarge: 2 replicas, 4 under the bursts): the same page, arrivals
#: input and simulated sizing as on the example's 4 GPU types x 2 clouds (7 -> 14 replicas), in 6 s of plan and curve
#: simulations where those took 31 s (suite49)
CHAT_ON_H100 = yaml.safe_dump(dict(yaml.safe_load((EXAMPLES / "serving-llama3-8b-chat.yaml").read_text()),
                                   constraints={"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]})).encode()


def test_serving_arrivals_shape_is_an_input_and_bad_shapes_are_refused():
    """The serving page takes the arrivals' shape (serve41): mmpp bursts size the fleet for the bursts (the page's
    replicas and assumption line are `planner serve`'s for the same job), and a burst share of 1 is the loader's one
    line naming serving.arrivals.burst_share."""
    chat = CHAT_ON_H100
    at = _app()
    at.file_uploader(key="upload").set_value(("chat.yaml", chat, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="a_kind").value == "poisson" and at.number_input(key="a_burst_factor").disabled
    steady = _metrics(at)["replicas"]
    at.selectbox(key="a_kind").set_value("mmpp").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    base = wi.with_arrivals(wi.parse_upload("chat.yaml", chat), "mmpp", 4.0, 0.25, 10.0)
    view = wi.serving_view(base)  # the page's (cached on the job)
    assert view["job"].serving.arrivals.kind == "mmpp"
    assert [m.value for m in at.metric][:4] == [v for _, v in wi.serving_metrics(view)]
    assert int(_metrics(at)["replicas"]) > int(steady)  # sized for the bursts
    said = [m.value for e in at.expander for m in e.markdown]
    assert any("simulated arrivals: mmpp (bursty)" in s for s in said), said
    at.number_input(key="a_burst_share").set_value(1.0).run()
    assert not at.exception and len(at.error) == 1, [e.value for e in at.error]
    assert at.error[0].value.startswith("**serving.arrivals.burst_share**:")


def test_power_sweep_only_where_the_gpu_has_a_rated_limit():
    """The power-limit sweep applies to a plan whose GPU has a rated limit; a TPU row has none (no clock law), so the
    app does not offer it there and ``sensitivity`` refuses it in one line."""
    tpu = {"hardware": {"gpu": "TPU-v5e", "rated_power_limit_w": None}}
    assert "power_limit_w" not in wi.sweeps_for(tpu) and "nodes" in wi.sweeps_for(tpu)
    assert "power_limit_w" in wi.sweeps_for({"hardware": {"gpu": "H100-SXM-80GB", "rated_power_limit_w": 700.0}})
    with pytest.raises(InputError) as e:
        wi.sensitivity(None, tpu, "power_limit_w")
    assert e.value.field == "sensitivity" and "no rated power limit" in e.value.message
