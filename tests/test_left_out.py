"""What a quoted time leaves out is said beside it (qa9): estimate's analytic step without the job's input
pipeline, and the simulated step recommend re-ranks with against simulate's own."""
import re

from conftest import EXAMPLES


def test_estimate_says_what_its_time_leaves_out(cli):
    """estimate printed ResNet-50 read from S3 files at 44.4 min and $40.68 with no word of its data
    section, while recommend (simulated: the GPUs wait for data 93% of each step) quoted the same
    plan at 10.0 h and $552.63; the evaluation passes are in the time and cost, and said so with their numbers
    (they were left out, "in simulate's wall time" only)."""
    code, out, err = cli("estimate", EXAMPLES / "resnet50-eval-cadence.yaml")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "assumed: the input pipeline keeps up: the job's data section is not simulated here" in flat
    assert re.search(r"assumed: evaluation: 360 passes x [\d.]+ s = [\d.]+ min \([\d.]+% of the run\), in the time and cost "
                     r"\(every 39 steps", flat)
    assert "evaluation left out" not in flat
    code, out, err = cli("recommend", EXAMPLES / "resnet50-eval-cadence.yaml", "--no-simulate")
    assert code == 0, err
    assert "the input pipeline keeps up" in " ".join(out.split())
    code, out, err = cli("recommend", EXAMPLES / "resnet50-eval-cadence.yaml")
    flat = " ".join(out.split())
    assert code == 0, err
    assert "the input pipeline keeps up" not in flat and "evaluation: 360 passes x" in flat
    # the re-ranking's step (300 steps) and simulate's (1,000 by default) differ: the note says so
    assert "(300 simulated steps, seed 0, steady state where reached; `planner simulate` runs --steps 1,000" in flat
    code, out, err = cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml")
    assert code == 0 and "keeps up" not in out and "evaluation" not in out


def test_simulate_shows_the_steady_step_and_an_unbroken_title(cli):
    """The narrow cause table wrapped its own title ("(critical" / "path)"), and the mean step (2.520 s)
    stood beside recommend's 2.568 s with no steady-state figure to explain it."""
    code, out, err = cli("simulate", EXAMPLES / "resnet50-objectstore-files.yaml", "--no-answers", "--steps", "400")
    assert code == 0, err
    assert "where the time goes (critical path)" in out
    assert re.search(r"steady state \d+\.\d{3} s", out)
