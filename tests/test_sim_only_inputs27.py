"""Inputs only the serving simulation reads (``SIM_ONLY_INPUTS``: --seed, --arrivals / serving.arrivals,
--plan-event-bound / serving.plan_event_bound) given to an analytic plan (--no-simulate) are said to be unused, in
text and JSON, and only when given: the defaults, never asked for, are not mentioned."""
from pathlib import Path

import pytest

from conftest import answered, flat, write_job

CHAT = {"p99_latency_ms": 40, "ttft_ms": 800, "prompt_tokens": 512, "output_tokens": 128, "max_batch": 128, "qps": 40}


def _job(tmp_path, **serving):
    return write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "constraints": {"instances": ["aws:p5.48xlarge"]},
                                "serving": {**CHAT, **serving}})


def _unused(result: tuple) -> list[str]:
    """The "not used" assumptions of a ``cli`` run that must answer with JSON."""
    return [a for a in answered(result)["assumptions"] if "not used" in a]


@pytest.mark.parametrize("args, field, said", [
    (("--seed", "7"), {}, "--seed 7 not used: the plan is analytic (not simulated), so nothing random was drawn"),
])
def test_a_simulation_only_input_with_no_simulation_is_said_to_be_unused(tmp_path, cli, args, field, said):
    p = _job(tmp_path, **field)
    notes = _unused(cli("serve", p, "--no-simulate", "--json", *args))
    assert len(notes) == 1 and notes[0].startswith(said), notes
    code, out, err = cli("serve", p, "--no-simulate", *args)
    assert code == 0 and said.split(" not used")[0] + " not used" in flat(out)


def test_the_flag_over_the_field_and_several_at_once(tmp_path, cli):
    p = _job(tmp_path, arrivals="poisson")
    notes = _unused(cli("serve", p, "--no-simulate", "--json", "--seed", "0", "--arrivals", "mmpp",
                        "--plan-event-bound", "5000"))
    # --seed 0 is the default's value, but it was given; the flag's name is said, not the job field it overrode.
    # --arrivals mmpp is used: the analytic screen is sized at the burst rate (trace40)
    assert [n.split(" not used")[0] for n in notes] == ["--plan-event-bound 5,000", "--seed 0"]


@pytest.mark.parametrize("args, field", [(("--arrivals", "mmpp"), {}), ((), {"arrivals": "mmpp"})])
def test_bursty_arrivals_size_an_analytic_plan(tmp_path, cli, args, field):
    """Since trace40 the analytic screen of a job with serving.qps holds its p99s at an mmpp burst's rate: the
    arrival process is used without a simulation (it read "--arrivals mmpp not used" while the screen took the mean),
    and the bursts it was sized for are said."""
    plan = answered(cli("serve", _job(tmp_path, **field), "--no-simulate", "--json", *args))
    assert not [a for a in plan["assumptions"] if "not used" in a], plan["assumptions"]
    assert any(a.startswith("arrivals: mmpp (bursty), 91.4 QPS") for a in plan["assumptions"]), plan["assumptions"]


def test_defaults_never_given_are_not_mentioned(tmp_path, cli):
    assert _unused(cli("serve", _job(tmp_path), "--no-simulate", "--json")) == []


def test_a_negative_seed_is_still_refused(tmp_path, cli):
    code, out, err = cli("serve", _job(tmp_path), "--no-simulate", "--seed", "-1")
    assert code == 2 and "--seed" in err + out


@pytest.mark.parametrize("simulate", [True, False])
def test_an_arrival_process_on_an_offline_job_is_said_unused(cli, simulate):
    """An offline (batch) backlog queues every request at the start: --arrivals changed nothing, simulated or not,
    and was ignored unsaid when simulated; now one line says so (and only one: not also the analytic-plan note)."""
    plan = answered(cli("serve", Path(__file__).parents[1] / "examples/serving-batch-llama3-8b.yaml",
                        "--arrivals", "mmpp", "--json", *(() if simulate else ("--no-simulate",))))
    notes = [a for a in plan["assumptions"] if "--arrivals mmpp" in a]
    assert notes == ["--arrivals mmpp not used: an offline backlog queues every request at the start, so no arrival "
                     "process applies"]
