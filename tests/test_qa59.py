"""QA pass 59: `recommend --emit`, reserved and committed prices, on-prem buy inputs, `framework: auto` under
constraints and `--scaling`, walked as a lead signing a budget; each defect found with the check that failed before
its fix (docs/qa_log.md, "QA 59")."""
from __future__ import annotations

import json

from conftest import write_job

SCALED = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 512, precision: bf16, tokens: 2.0e11}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB], max_gpus: 128, deadline_hours: 100%s}
"""


def test_scaling_says_the_node_counts_the_constraints_left_out(cli, tmp_path):
    """Llama-3-8B on p5.48xlarge under a 100 h deadline: `--scaling` listed 8 and 16 nodes only; 1, 2 and 4 nodes
    fit (30.1, 15.0 and 7.5 d) but miss the deadline, and the table read as if the search had not tried them. A
    $39.8k budget also drops 16 nodes ($40.0k). The text says each count left out and why; --json
    `scaling_left_out`."""
    job = write_job(tmp_path, SCALED % ", budget_usd: 39800")
    code, out, err = cli("recommend", job, "--no-simulate", "--scaling", "--top", "1")
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("node counts of aws:p5.48xlarge with no plan within the constraints, left out of the table — 1: its "
            "fastest plan takes 30.1 d, over the 100 h (4.2 d) deadline; 2: its fastest plan takes 15.0 d") in flat, flat[-900:]
    assert "16: its cheapest plan costs $40.0k, over the $39.8k budget" in flat, flat[-900:]
    code, out, err = cli("recommend", job, "--no-simulate", "--scaling", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [r["nodes"] for r in d["scaling"]] == [8], d["scaling"]
    assert [c["nodes"] for c in d["scaling_left_out"]] == [1, 2, 4, 16], d["scaling_left_out"]


def test_recommend_shows_the_committed_figure_its_stale_warning_names(cli, tmp_path):
    """A spot job on p5.48xlarge: recommend warned "stale price: aws:p5.48xlarge capacity-block commitment is dated
    2024" and "prices dated" named it, while its text showed no committed figure (only --json's cost.committed). The
    winner's committed prices are now printed as estimate's row gives them."""
    code, out, err = cli("recommend", write_job(tmp_path, SCALED % ", spot: true"), "--no-simulate", "--top", "1")
    assert code == 0, err
    assert "capacity-block commitment is dated 2024" in err, err
    flat = " ".join(out.split())
    assert ("committed (not ranked on): capacity-block: $28.4k for this run's hours at 39.33 $/node-h, the block to "
            "buy bills $30.2k") in flat, flat[-1500:]


RACKS = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.0e11}
cluster: {gpu: GB200, nodes: 2, price_usd_hr: 300}
"""


def test_non_slurm_launch_specs_say_what_the_nvlink_domains_need(cli, tmp_path):
    """Llama-3-70B on 2 GB200 NVL72 racks plans 2 NVLink domains of 16 trays (--segment=16). The sbatch script asks
    for them; the k8s PyTorchJob (32 pods), torchrun and SkyPilot specs said nothing, so a run launched from them
    reaches the other trays over the network while the plan's step assumed NVLink. Each now says what its launch
    needs: a ComputeDomain per domain (k8s; written since launch41, tests/test_launch41.py), or each 16 consecutive
    node ranks on one rack's domain with IMEX."""
    job = write_job(tmp_path, RACKS)
    for fmt, words in (("k8s", "each domain has its ComputeDomain (resource.nvidia.com/v1beta1, spec.numNodes 16)"),
                       ("torchrun", "launch each group of 16 consecutive node ranks on the hosts of one rack's NVLink"),
                       ("skypilot", "launch each group of 16 consecutive node ranks")):
        code, out, err = cli("recommend", job, "--no-simulate", "--emit", fmt)
        assert code == 0, err
        assert "the plan is priced on 2 NVLink domains of 16 hosts (64 GB200-B200s each)" in out, (fmt, out[:1500])
        assert words in out, (fmt, out[:1500])


AUTO = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 512, precision: bf16, tokens: 2.0e11, framework: auto}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB], max_gpus: 64, deadline_hours: 200, budget_usd: 45000}
"""


def test_the_stack_table_says_which_constraint_a_stack_missed(cli, tmp_path):
    """`framework: auto` under a 200 h deadline and a $45k budget: DeepSpeed's and HF Trainer's rows read "no plan
    within the constraints (budget, deadline, or 365 days without a deadline)", which of the three unsaid. Both miss
    the budget alone (cheapest $50.4k and $49.0k -- $50.6k until rec56 let recommend sync each micro-batch
    (``sync_each_batch``, ``defer_fsdp_grad_sync: false``) where the deferred sync does not fit; $50.1k until hf56 held the Trainer's unsharded bf16 gradients
    across its 16-32 micro-batches (no_sync, ``defer_fsdp_grad_sync``), so its HSDP z3/8 plans at 74 GiB no longer fit
    and the cheapest is DP 64 on 8 nodes; $49.3k before auto53's FSDP2 copy-in; DeepSpeed's $51.3k until stack48 stopped its recompute early, as
    transformers' checkpoint does; HF Trainer's $50.4k until hf47 priced transformers' RoPE in fp32
    under its autocast, $51.7k until hffsdp47 kept that fp32 RoPE under FSDP's bf16 gather too, where the stream is
    bf16): the rows say so, in --json's stacks too."""
    job = write_job(tmp_path, AUTO)
    code, out, err = cli("recommend", job, "--no-simulate", "--json")
    assert code == 0, err
    rows = {s["framework"]: s for s in json.loads(out)["stacks"]}
    assert rows["deepspeed"]["reason"] == "its cheapest plan costs $50.4k, over the $45.0k budget", rows["deepspeed"]
    assert rows["hf-trainer"]["reason"] == "its cheapest plan costs $49.0k, over the $45.0k budget", rows["hf-trainer"]
