"""QA 50: data pipeline, checkpoints and failures at scale (docs/qa_log.md "QA 50")."""
from rich.text import Text

from planner.present.simulation import format_answers


def _cache_line(ans):
    return " ".join(p.plain for p in format_answers(ans) if isinstance(p, Text) and p.plain.startswith("caching"))


def test_cache_answer_of_unknown_dataset_size_prints_no_question_mark():
    """A token-budgeted LLM job gives no data.dataset_samples: the caches are unsized. The line read
    "raw samples cached in RAM: 1.00x (? of host RAM per node)" beside the node's known 1,759 GB, and never said the
    variants took the whole dataset as cached."""
    rows = [{"variant": "as configured", "samples_per_s": 118.0, "cache_bytes": None},
            {"variant": "raw samples cached in RAM", "samples_per_s": 118.0, "cache_bytes": None},
            {"variant": "decoded samples cached in RAM", "samples_per_s": 118.0, "cache_bytes": None}]
    ans = {"cache": {"worth_it": False, "rows": rows, "raw_dataset_bytes": None, "cache_ram_bytes": 1.759e12,
                     "cache_ram_source": "aws:p5.48xlarge", "configured_fits": None}}
    line = _cache_line(ans)
    assert "?" not in line
    assert "dataset size unknown" in line and "1,759 GB per node" in line
