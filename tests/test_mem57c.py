"""mem57c: what current torchtitan and NeMo AutoModel keep of the pipeline's last-stage outputs (nothing: both run
``return_outputs=False``), and the two output lifetimes the truth file measures beside ``output_chunks``."""
import json
from pathlib import Path

from planner.model import stacks

TRUTH = json.loads((Path(__file__).parent / "data" / "pp_outputs_truth.json").read_text())
LAST = TRUTH["ranks"]["1"]


def test_without_return_outputs_one_output_lives_through_its_backward():
    """``return_outputs=False``: when each of the 8 micro-batches' backward reaches the stage input, exactly one
    output (its own, from ``fwd_cache``) is alive; with torch's default all earlier ones are too (1..8). The first
    entry is the stage's shape-inference pass."""
    m = LAST["no_return_outputs"]["microbatches"]
    assert LAST["no_return_outputs"]["alive_in_backward"][-m:] == [1] * m
    assert LAST["return_outputs"]["alive_in_backward"][-m:] == list(range(1, m + 1))


def test_merged_return_is_a_second_copy_of_every_output():
    """``step``'s return on the last stage is a new tensor of all m outputs beside ``output_chunks``; none without."""
    kept = LAST["return_outputs"]
    assert kept["merged_is_new"] and kept["merged_bytes"] == kept["microbatches"] * kept["output_bytes"]
    assert kept["held_bytes_after"] == kept["merged_bytes"]
    assert LAST["no_return_outputs"]["merged_bytes"] == 0 and not LAST["no_return_outputs"]["merged_is_new"]
    assert TRUTH["ranks"]["0"]["return_outputs"]["merged_bytes"] == 0


def test_current_stacks_keep_no_outputs_only_the_2024_rows_do():
    """The stacks model today's code (both pass ``return_outputs=False``); the 2024-12 torchtitan rows alone keep
    fp32 logits, scoped by validate_memory."""
    from benchmarks.validate_memory import TITAN_PP_OUTPUTS
    for name in ("torchtitan", "nemo-automodel"):
        assert stacks.resolve(name).pp_kept_output_bytes == 0.0
    assert TITAN_PP_OUTPUTS == {"titan24": 4.0}
