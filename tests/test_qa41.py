"""QA pass 41: a user's journeys through launch specs, checkpoints and failures, prices beyond on-demand, the tabular and
data-bound workloads and catalog override files; each defect found with the check that failed before its fix
(docs/qa_log.md, "QA 41")."""
from __future__ import annotations

import json

from tests.conftest import write_job

P5_CKPT = """
model: {preset: llama3-8b}
training: {tokens: 1e11}
cluster: {instance: aws:p5.48xlarge, nodes: 4}
checkpoint: {every_steps: 200, mtbf_hours_per_node: 5000, restart_minutes: 20%s}
"""


def test_checkpoint_line_says_the_save_size_and_the_write_rate_and_whose_it_is(cli, tmp_path):
    """"a 44.97 s pause every 200 steps" was a 112.4 GB checkpoint (8.03B parameters x 14 B on Megatron-Core) at
    checkpoint.write_gbps's default 20 Gb/s (112.4 GB x 8 / 20 Gb/s = 44.97 s): neither figure, nor that the rate was a
    default, was printed by estimate, recommend or the report, so a user with faster storage could not see the pause
    to correct."""
    code, out, err = cli("estimate", write_job(tmp_path, P5_CKPT % ""))
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("a 44.97 s pause every 200 steps; each save 112.4 GB written at 20 Gb/s (checkpoint.write_gbps's "
            "default); 0.1 expected failures") in flat, flat
    code, out, err = cli("estimate", write_job(tmp_path, P5_CKPT % ", write_gbps: 400, asynchronous: true"), "--json")
    assert code == 0, err
    cf = json.loads(out)["cost"]["checkpoint_failures"]
    assert cf["checkpoint_write_gbps"] == 400 and not cf["checkpoint_write_gbps_default"], cf
    assert cf["checkpoint_asynchronous"] and abs(cf["checkpoint_bytes"] / 1e9 - 112.42) < 0.01, cf
    code, out, err = cli("estimate", write_job(tmp_path, P5_CKPT % ", write_gbps: 400, asynchronous: true"))
    flat = " ".join(out.split())
    assert "each save 112.4 GB snapshotted, then written in the background at 400 Gb/s; 0.1" in flat, flat
