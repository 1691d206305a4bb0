"""QA pass 45: a team lead's large pre-training plans (Llama-3.1-70B / 405B, DeepSeek-V3, Qwen3-235B, Mixtral-8x22B on
512-8,192 GPUs) through recommend / estimate / compare / --scaling / report / simulate; each defect found with the check
that failed before its fix (docs/qa_log.md, "QA 45")."""
from __future__ import annotations

import json

from conftest import write_job

from planner.defaults import PUBLISHED_NODE_MTBF_HOURS

# 4,096 H100 for ~47 days with a checkpoint cadence but no node MTBF
CKPT_NO_MTBF = """
model: {preset: llama3.1-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.5e13}
cluster: {instance: aws:p5.48xlarge, nodes: 512}
parallel: {tp: 8, pp: 4, vpp: 5, dp: 128, zero: 1}
checkpoint: {every_steps: 1000, write_gbps: 100}
"""


def test_a_checkpoint_cadence_without_an_mtbf_says_no_node_failure_is_counted(cli, tmp_path):
    """A checkpoint section without ``mtbf_hours_per_node`` counts no node failure: 4,096 H100 for 47 days read
    "-> goodput 96.5%" with nothing saying failures were left out (Llama 3 405B's run saw one every ~3 h). The line
    now says so and how many a published per-node rate (419 in 54 days on 2,048 nodes) would add; the JSON has it."""
    job = write_job(tmp_path, CKPT_NO_MTBF)
    code, out, err = cli("estimate", job)
    assert code == 0, err
    line = " ".join(out.split())
    assert "no node failures counted (checkpoint.mtbf_hours_per_node not set" in line, line
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    cf = json.loads(out)["cost"]["checkpoint_failures"]
    assert cf["job_mtbf_hours"] is None and cf["expected_failures"] == 0
    assert abs(cf["uncounted_failures"] - cf["expected_hours"] * 512 / PUBLISHED_NODE_MTBF_HOURS) < 1e-6
    assert 80 < cf["uncounted_failures"] < 100, cf["uncounted_failures"]
    assert abs(PUBLISHED_NODE_MTBF_HOURS - 6335) < 1


def test_recommend_does_not_say_the_mtbf_moves_a_ranking_it_was_not_given(cli, tmp_path):
    """recommend's caveat read "ranked ... with the job's checkpoint pauses and node failures ... the per-node MTBF
    moves the ranking" on a job that gave no MTBF; it now says the pauses alone were counted."""
    job = write_job(tmp_path, CKPT_NO_MTBF.replace(
        "cluster: {instance: aws:p5.48xlarge, nodes: 512}\nparallel: {tp: 8, pp: 4, vpp: 5, dp: 128, zero: 1}\n",
        "constraints: {instances: [aws:p5.48xlarge], max_gpus: 1024, objective: cost}\n"))
    code, out, err = cli("recommend", job, "--no-simulate", "--top", "1")
    assert code == 0, err
    text = " ".join(out.split())
    assert "per-node MTBF moves the ranking" not in text, text
    assert "checkpoint pauses only" in text and "no node failures counted" in text
    with_mtbf = write_job(tmp_path, CKPT_NO_MTBF.replace(
        "cluster: {instance: aws:p5.48xlarge, nodes: 512}\nparallel: {tp: 8, pp: 4, vpp: 5, dp: 128, zero: 1}\n",
        "constraints: {instances: [aws:p5.48xlarge], max_gpus: 1024, objective: cost}\n").replace(
        "write_gbps: 100}", "write_gbps: 100, mtbf_hours_per_node: 6000}"), name="mtbf.yaml")
    code, out, err = cli("recommend", with_mtbf, "--no-simulate", "--top", "1")
    assert code == 0, err
    text = " ".join(out.split())
    assert "per-node MTBF moves the ranking" in text and "no node failures counted" not in text


GB200_BATCH = """
model: {preset: llama3.1-70b}
training: {seq_len: 8192, global_batch: %d, precision: fp4, tokens: 1.5e13}
cluster: {gpu: GB200-B200, price_usd_hr: 600%s}
constraints: {max_gpus: 4096, objective: time}
"""


def test_a_batch_the_nvl72_node_cannot_split_says_why_and_what_to_set(cli, tmp_path):
    """A bare GB200 cluster's node is the 72-GPU NVL72 rack, so every DP size carries a factor 9 unless TP x PP x CP
    takes it: Llama-3.1-70B at a global batch of 1,024 was refused as "not a multiple of micro_batch*dp = 1*72" with
    nothing saying why 72 or what to change. The error now names the factor and both ways out, and each plans."""
    # (segment40: a rack's Slurm segment is searched where the job leaves it open, so the job plans on 64-GPU
    # segments; named whole racks, segment 18, it is refused as before)
    code, out, err = cli("recommend", write_job(tmp_path, GB200_BATCH % (1024, ", segment: 18")), "--no-simulate")
    assert code == 2 and err.startswith("error: training.global_batch: ") and "\n" not in err.strip(), err
    assert "72-GPU nodes put a factor 9 in DP" in err and "1,152" in err and "cluster.segment (e.g. 16" in err
    assert "…" not in err  # within the 300 characters an error carries
    for body, name in ((GB200_BATCH % (1152, ""), "b1152.yaml"), (GB200_BATCH % (1024, ", gpus_per_node: 64"),
                                                                   "g64.yaml"), (GB200_BATCH % (1024, ""), "open.yaml"),
                       (GB200_BATCH % (1024, ", segment: 16"), "s16.yaml")):
        code, out, err = cli("recommend", write_job(tmp_path, body, name=name), "--no-simulate", "--top", "1")
        assert code == 0, err


def test_the_interleaved_rounds_error_is_whole_and_names_megatrons_way_out(cli, tmp_path):
    """DeepSeek-V3's published layout (TP1 PP16 EP64, DP128) with VPP 2 at a global batch of 15,360 has 120
    micro-batches per replica, not a multiple of torch's 7 rounds: the error ran past the 300 characters an error
    carries and was cut mid-source ("...a multiple of the num…"), on a Megatron-Core job it cited only torch's schedule.
    It is now whole and names the Megatron-Core option (microbatch_group_size) with which the layout runs."""
    body = """
model: {preset: deepseek-v3}
training: {seq_len: 4096, global_batch: 15360, micro_batch: 1, precision: fp8, tokens: 1.48e13, recompute: selective,
           recompute_modules: [mla_up_proj, layernorm, moe_act]%s}
parallel: {tp: 1, pp: 16, vpp: 2, dp: 128, ep: 64, zero: 1}
cluster: {gpu: H800-SXM-80GB, nodes: 256}
"""
    code, out, err = cli("estimate", write_job(tmp_path, body % ""))
    assert code == 2 and err.startswith("error: parallel.vpp: ") and "…" not in err, err
    assert "120 micro-batches" in err and "7 rounds" in err and "training.framework.microbatch_group_size: 20" in err
    code, out, err = cli("estimate", write_job(tmp_path, body % ",\n           framework: {name: megatron-core, "
                                                                "microbatch_group_size: 20}", name="g.yaml"))
    assert code == 0, err


def test_a_capacity_block_past_182_days_is_bought_as_several(cli, tmp_path):
    """AWS sells a Capacity Block of 182 days at most (cost.BLOCK_MAX_H), and cost.capacity_block_hours already
    billed a longer run as back-to-back blocks; but Llama-3.1-405B on 32 p5.48xlarge (297 days, rc:full) read "the
    block to buy bills $9.09M" and the report "the block to buy is 266 days", a block AWS does not sell."""
    from planner.present.report import _block_days

    assert _block_days(96.0) == "the block to buy is 4 days"
    assert _block_days(6384.0) == ("the blocks to buy are 182 + 84 days back to back (266 days; AWS sells at most "
                                   "182 days a block)")
    job = write_job(tmp_path, """
model: {preset: llama3.1-405b}
training: {seq_len: 8192, global_batch: 2048, micro_batch: 1, precision: bf16, tokens: 1.0e12, recompute: full}
parallel: {tp: 8, pp: 16, dp: 2, zero: 1}
cluster: {instance: aws:p5.48xlarge, nodes: 32}
""")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    assert "blocks to buy (182 days at most each) bill" in " ".join(out.split())


def test_a_spot_estimate_says_its_checkpoint_goodput_leaves_the_interruptions_out(cli, tmp_path):
    """On a spot job recommend's checkpoint line says "(without spot interruptions)" (README "Checkpoints and
    failures"); estimate's read "goodput 96.5%" under a spot line of +34% time, unqualified."""
    job = write_job(tmp_path, CKPT_NO_MTBF + "constraints: {spot: true}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    text = " ".join(out.split())
    assert "spot: expected" in text and "(without spot interruptions)" in text, text
    code, out, err = cli("estimate", write_job(tmp_path, CKPT_NO_MTBF, name="od.yaml"))
    assert code == 0 and "(without spot interruptions)" not in " ".join(out.split())


def test_estimates_committed_row_names_the_capacity_block_instance_cap(cli, tmp_path):
    """The report said AWS allows at most 256 instances across Capacity Blocks; estimate's committed row priced 1,024
    p5.48xlarge at the block rate without a word of it."""
    body = CKPT_NO_MTBF.replace("nodes: 512}", "nodes: %d}").replace("dp: 128", "dp: %d")
    code, out, err = cli("estimate", write_job(tmp_path, body % (512, 128)))
    assert code == 0, err
    assert "fewer than these 512 nodes" in " ".join(out.split())
    code, out, err = cli("estimate", write_job(tmp_path, body % (32, 8), name="small.yaml"))
    assert code == 0, err
    assert "instances across Capacity Blocks" not in " ".join(out.split())
