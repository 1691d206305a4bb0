"""Failure, goodput and spot-interruption text never shows "inf" or "nan": the simulator's refusal
said "about inf failures expected" once exp(work / MTBF) overflowed, and a spot plan that never
finishes (expected goodput 0) printed "inf years for $infM", "+inf%" and "expected inf interruptions"."""
import re

import pytest

from planner.simulate.engine import failures_text

NON_FINITE = re.compile(r"\b(inf|nan)\b|inf%|\$inf", re.I)

SIM_JOB = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 32, micro_batch: 4, tokens: 1e9}\n"
           "parallel: {tp: 1, pp: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 1}\n"
           "checkpoint: {mtbf_hours_per_node: MTBF}\n")
SPOT_JOB = ("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 64, tokens: 1e10}\n"
            "parallel: {tp: 1, pp: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 4}\n"
            "constraints: {spot: true, spot_interruptions_per_node_day: RATE}\ncheckpoint: {write_gbps: 0.001}\n")


def test_failures_text_reads_as_a_number_at_any_size():
    assert failures_text(4.0) == "about 10,000"
    assert failures_text(17.2) == "about 10^17"
    assert failures_text(1755.4) == "about 10^1755"
    assert failures_text(3.0e8) == "about 10^(3e+08)"


@pytest.mark.parametrize("mtbf,steps,count", [("1.0e-6", 1000, "about 10^1751"), ("1.0e-6", 300, "about 10^525"),
                                              ("1.0e-5", 100, "about 10^18")])
def test_simulator_refusal_gives_a_finite_count(cli, tmp_path, mtbf, steps, count):
    """1,000 steps of gpt2 (14.5 s of work, no checkpoints) against a 0.0036 s job MTBF: exp(4,033) failures,
    past a float's range; the count is written as a power of ten (log10 = 4,033 / ln 10 = 1,751; 1,755 until session 35 dropped the dense DP reduce's phantom expert latency)."""
    job = tmp_path / "job.yaml"
    job.write_text(SIM_JOB.replace("MTBF", mtbf))
    code, out, err = cli("simulate", job, "--steps", str(steps), "--no-answers")
    assert code == 2 and err.startswith("error: checkpoint.mtbf_hours_per_node: too large: "), err
    assert len(err.strip().splitlines()) == 1
    assert f"{count} failures expected" in err, err
    assert not NON_FINITE.search(err), err


@pytest.mark.parametrize("mtbf", ["0.03", "0.3", "100"])
def test_simulated_failures_and_checkpoint_answers_are_finite_text(cli, tmp_path, mtbf):
    job = tmp_path / "job.yaml"
    job.write_text(SIM_JOB.replace("MTBF", mtbf).replace("checkpoint: {", "checkpoint: {every_steps: 50, "))
    code, out, err = cli("simulate", job, "--steps", "200")
    assert code == 0, err
    assert "goodput" in out and not NON_FINITE.search(out + err), out


def test_spot_plan_that_never_finishes_is_refused_not_printed_as_inf(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(SPOT_JOB.replace("RATE", "10000"))
    for cmd in (("recommend", job, "--no-simulate"), ("report", job, "--no-simulate", "-o", tmp_path / "r.md")):
        code, out, err = cli(*cmd)
        assert code == 2 and err.startswith("error: constraints.spot_interruptions_per_node_day: no plan finishes on "
                                            "spot"), err
        assert len(err.strip().splitlines()) == 1 and not NON_FINITE.search(out + err)
    code, out, err = cli("estimate", job)
    assert code == 0 and not NON_FINITE.search(out), out
    assert "never finishes on spot" in " ".join(out.split())  # estimate prices the spot risk too (spot_model_for)
    # the likely range names why it has no range: spot interruptions, not "checkpoints and failures"
    assert "but the run never finishes (expected spot, with interruptions)" in " ".join(out.split())


def test_spot_plan_at_an_ordinary_rate_still_ranks(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(SPOT_JOB.replace("RATE", "0.05").replace("write_gbps: 0.001", "write_gbps: 20"))
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 0, err
    assert "spot: expected" in " ".join(out.split()) and not NON_FINITE.search(out)


LONG_DIGITS = re.compile(r"\d[\d,]{14,}")  # 12+ digits: 1,436,465,148,736,675,... years


def test_a_run_without_checkpoints_under_failures_prints_readable_numbers(cli, tmp_path):
    """every_steps 0 (no checkpoints) on a 78-day run with a 25 h job MTBF: e^75 restarts, finite. The
    checkpoint line, the likely range and the report printed 31-digit years, dollars, failure counts
    and percentages ("$1386133248600332617709112000512.00M"); then readable but astronomical figures. Such a
    run (over 1,000 x its uninterrupted time: failures.MIN_GOODPUT) now never finishes in practice: estimate
    says so, with no long or non-finite numbers, and report stops naming the field."""
    job = tmp_path / "j.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, micro_batch: 1, "
                   "tokens: 1.0e12}\nparallel: {tp: 2, pp: 1, zero: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 2}\n"
                   "checkpoint: {every_steps: 0, mtbf_hours_per_node: 50, restart_minutes: 20}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    text = " ".join(out.split())
    assert "the run never finishes in practice" in text
    assert not LONG_DIGITS.search(text), LONG_DIGITS.search(text).group()
    assert not NON_FINITE.search(text)
    md = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", md, "--no-simulate")
    assert code == 2 and (out + err).strip().startswith("error: checkpoint.mtbf_hours_per_node: ")
    assert not md.exists()


def test_spot_goodput_under_the_cut_counts_as_never_finishing():
    """A spot run whose expected time is over 1,000x its uninterrupted time never finishes, as under node failures
    (failures.MIN_GOODPUT): at 5,000 interruptions per node-day the search used to rank 117-year plans first."""
    import numpy as np

    from planner.simulate.failures import MIN_GOODPUT
    from planner.simulate.interruptions import _one

    args = dict(hours=np.array([100.0]), nodes=np.array([1.0]), step_s=np.array([10.0]), block_s=30.0,
                restart_s=2400.0, every_steps=0)  # 10 min restart + 30 min capacity wait
    g_hi = _one(5000 / 24.0, **args)[0][0]  # per node-hour
    g_lo = _one(20 / 24.0, **args)[0][0]
    assert g_hi == 0.0 and g_lo > MIN_GOODPUT
    # the raw renewal goodput at the high rate is positive but below the cut: the cut, not overflow, refuses it
    from planner.simulate.failures import expected_goodput, young_daly_interval_s
    mtbf = 3600.0 / (5000 / 24.0)
    raw = expected_goodput(max(young_daly_interval_s(30.0, mtbf), 10.0), 30.0, mtbf, 2400.0)
    assert 0.0 < raw < MIN_GOODPUT
