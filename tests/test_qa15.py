"""QA pass 15: `planner serve` checked by hand as a demanding user would (weights, KV per token, the
memory-limited batch, replicas x QPS, $/h and $/1M, table vs --json vs report) — each defect with the
check that failed before its fix."""
from __future__ import annotations

import re

import yaml


def _write(tmp_path, job: dict, name: str = "job.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(job))
    return p


_SMALL_BACKLOG = {"model": {"preset": "llama3-8b"},
                  "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 100, "output_tokens": 100,
                              "deadline_hours": 0.01},
                  "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}


def test_small_offline_backlog_time_is_not_zero_hours(cli, tmp_path):
    """1,000 offline requests at ~59 req/s (17 s): "1 replicas finish in 0.0 h" and a "replica-h 0.0"
    column; the report said "take 0.0 replica-hours"."""
    code, out, err = cli("serve", _write(tmp_path, _SMALL_BACKLOG))
    assert code == 0, err
    assert "0.0 h" not in out and "1 replicas" not in out
    assert re.search(r"1 replica finishes in [\d.]+ s", " ".join(out.split())), out
    assert "replica-h" not in out and re.search(r"replica-(s|min)", out), out
    md = tmp_path / "r.md"
    code, _, err = cli("report", _write(tmp_path, _SMALL_BACKLOG), "-o", md)
    assert code == 0, err
    text = md.read_text()
    assert "0.0 replica-hours" not in text and "1 replicas" not in text
    assert re.search(r"take [\d.]+ s of replica time", text), text
