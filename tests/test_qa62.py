"""QA pass 62: training plans under the new cluster options (power limits, NVL72 segments), long context and MoE,
cross-checked between commands; each defect found with the check that failed before its fix (docs/qa_log.md,
"QA 62")."""
from __future__ import annotations

from conftest import answered, write_job

LONG_CONTEXT = """
model: {preset: llama3-70b}
training: {seq_len: 131072, global_batch: 64, precision: bf16, tokens: 5.0e10}
parallel: {tp: 8, pp: 2, cp: 8}
cluster: {instance: aws:p5.48xlarge, nodes: 16}
"""

POWER_SEARCH = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, precision: bf16, tokens: 2.0e11}
cluster: {power_limit_w: 300}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB, B300-SXM-288GB, A100-SXM-80GB], max_gpus: 64, deadline_hours: 500}
"""

SEGMENTS = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 288, precision: bf16, tokens: 1.0e11}
parallel: {tp: 1, pp: 1}
cluster: {gpu: GB200-B200, price_usd_hr: 300, segment: 8, nodes: 3}
"""


def test_a_context_parallel_layout_defaults_to_the_distributed_optimizer(cli, tmp_path):
    """Llama-3-70B at 128K on TP8 PP2 CP8 (DP1), parallel.zero left out: estimate took ZeRO-0 ("one replica") and
    held 49.3 GiB of Adam state a GPU (119.8 GiB, "does not fit"), where Megatron-Core's distributed optimizer
    shards over the data-parallel x context-parallel group, the 8 CP ranks here (6.2 GiB, 76.7 GiB), and the search
    already counted dp x cp replicas. The default is now ZeRO-1."""
    got = answered(cli("estimate", write_job(tmp_path, LONG_CONTEXT), "--json"))
    assert got["config"]["zero"] == 1, got["config"]
    assert "parallel.zero defaulted to 1" in got["assumptions"], got["assumptions"]
    assert round(got["memory_per_gpu_bytes"]["optimizer"] / 2**30, 2) == 6.16, got["memory_per_gpu_bytes"]
    assert got["memory_per_gpu_bytes"]["total"] / 2**30 < 80, got["memory_per_gpu_bytes"]


def test_compare_says_the_power_limit_its_rows_ran_at(cli, tmp_path):
    """`compare --by gpu` under cluster.power_limit_w 300 W priced each GPU at the lower of 300 W and its rated limit
    (an H100 at 300 of 700 W, sustained clock 0.75x) and left the B300 out (its minimum, 314 W, is above it), and
    said neither: no note under the table, no watts in the JSON rows. recommend prints the note; compare now prints
    the search's notes too, and each JSON row carries its GPU's power_limit_w."""
    job = write_job(tmp_path, POWER_SEARCH)
    code, out, err = cli("compare", job, "--by", "gpu")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "note: cluster.power_limit_w 300 W: each searched GPU held at the lower of it and its rated limit" in flat
    assert "left out: 300 W is below B300-SXM-288GB's minimum power limit" in flat, flat
    rows = answered(cli("compare", job, "--by", "gpu", "--json"))
    assert {r["gpu"]: r.get("power_limit_w") for r in rows if not r.get("no_plan")} == {
        "H100-SXM-80GB": 300.0, "A100-SXM-80GB": 300.0}, rows


def test_a_listed_gpu_the_power_limit_leaves_out_says_so(cli, tmp_path):
    """The same search: constraints.gpus lists the B300, which the 300 W limit leaves out; the ranking caveat, the
    assumptions and compare --json's no-plan row said "B300-SXM-288GB: no bf16 peak" (the B300 has one), beside the
    power note's true reason. Each now gives the power limit's."""
    job = write_job(tmp_path, POWER_SEARCH)
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "no bf16 peak" not in flat, flat
    assert ("constraints.gpus: left out — B300-SXM-288GB: cluster.power_limit_w: 300 W is below B300-SXM-288GB's "
            "minimum power limit, 314 W") in flat, flat
    rows = answered(cli("compare", job, "--by", "gpu", "--json"))
    lost = [r for r in rows if r.get("no_plan")]
    assert [r["gpu"] for r in lost] == ["B300-SXM-288GB"] and "cluster.power_limit_w: 300 W is below" in lost[0]["reason"]


def test_sensitivity_of_a_plan_on_nvl72_segments(catalog):
    """3 segments of 8 GB200 trays (96 GPUs, 2 racks billed): the report's and the app's sensitivity pinned the
    node's 32 GPUs beside the job's segment, which the loader refuses ("cluster.gpus_per_node 32 already sets the
    node"): every row, the current one too, was a refusal, and the report's risks read "this layout cannot scale
    beyond 3 nodes". The pinned job keeps the segment and leaves the node to it."""
    from planner.results import jsonable
    from planner.spec.load import load_job_dict
    from planner.workloads.sensitivity import sensitivity
    from planner.workloads.training import estimate_job

    import yaml

    job = load_job_dict(yaml.safe_load(SEGMENTS))
    best = estimate_job(job, catalog)
    df = sensitivity(job, jsonable(best), "nodes", catalog)
    cur = df[df["current"]].iloc[0]
    assert cur["note"] == "" and abs(cur["step_time_s"] - best["step_time_s"]) < 1e-9, cur.to_dict()
    one = df[df["value"] == 1].iloc[0]  # one segment, one rack: 32 GPUs at $300 an hour
    assert one["gpus"] == 32 and abs(one["cost_ondemand_usd"] - one["hours"] * 300) < 1e-6, one.to_dict()
    assert not df["note"].str.contains("already sets the node").any(), df["note"].tolist()


def test_the_report_prices_nvl72_segments_per_rack(cli, tmp_path):
    """The same plan's report read "$7.72k (200.00 $/node-h x 3 nodes x 12.9 h)": arithmetic that holds, at a rate
    the job never gave (its $300 is a rack's, and the 3 segments rent 2 whole racks). It now gives the rack's rate
    and the racks billed."""
    out = tmp_path / "r.md"
    code, _, err = cli("report", write_job(tmp_path, SEGMENTS), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "$7.72k (300.00 $/rack-h x 2 racks (3 segments of 8 trays) x 12.9 h)" in text, text[:3000]
    assert "200.00 $/node-h" not in text
    assert "already sets the node" not in text  # the risks' "Next:" and the sensitivity rows (the test above)


def test_a_segment_on_a_cloud_instance_is_refused(cli, tmp_path):
    """`cluster.segment: 8` beside `instance: aws:p5.48xlarge` planned 3 x 8 H100s as if no segment were given (no
    word in the text or the JSON, segment_trays null), and a search over H100 instances dropped it the same way,
    where a bare H100 with the same segment was refused. Both are now refused in one line."""
    fixed = SEGMENTS.replace("gpu: GB200-B200, price_usd_hr: 300", "instance: aws:p5.48xlarge")
    code, out, err = cli("estimate", write_job(tmp_path, fixed))
    assert code == 2 and err.strip().startswith("error: cluster.segment: a Slurm --segment of the trays of an NVL72 "
                                                "rack; aws:p5.48xlarge is priced per node"), (code, err)
    searched = ("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 288, tokens: 1.0e11}\n"
                "cluster: {segment: 16}\nconstraints: {gpus: [H100-SXM-80GB], max_gpus: 64}\n")
    code, out, err = cli("recommend", write_job(tmp_path, searched, "s.yaml"), "--no-simulate")
    assert code == 2 and "every searched catalog instance is priced per node" in err, (code, err)
