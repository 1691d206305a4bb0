"""QA pass 41: a user's journeys through launch specs, checkpoints and failures, prices beyond on-demand, the tabular and
data-bound workloads and catalog override files; each defect found with the check that failed before its fix
(docs/qa_log.md, "QA 41")."""
from __future__ import annotations

import json

from conftest import write_job

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


def test_an_on_demand_price_under_the_kept_spot_rate_names_the_column_the_file_set(cli, tmp_path):
    """A one-column repricing (`aws,p5.48xlarge,10`) under the catalog's spot rate 16.9508 was refused as
    `instances[0].price_spot_usd_hr: spot 16.9508 exceeds on-demand 10.0`: a column the file never gave. It names
    price_ondemand_usd_hr and the way out; a row that gives both prices keeps the spot column's message."""
    low = tmp_path / "low.csv"
    low.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,10\n")
    code, out, err = cli("catalog", "instances", "--cloud", "aws", "--catalog", str(low))
    assert code == 2, out
    assert err.strip().startswith("error: catalog override low.csv: instances[0].price_ondemand_usd_hr: 10 is below "
                                  "aws:p5.48xlarge's spot rate 16.9508, which this row keeps"), err
    both = tmp_path / "both.csv"
    both.write_text("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\naws,p5.48xlarge,10,20\n")
    code, out, err = cli("catalog", "instances", "--cloud", "aws", "--catalog", str(both))
    assert code == 2 and "instances[0].price_spot_usd_hr: spot 20.0 exceeds on-demand 10.0" in err, err
    none = tmp_path / "none.csv"  # an empty spot cell: no spot offer, accepted
    none.write_text("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\naws,p5.48xlarge,10,\n")
    code, out, err = cli("catalog", "instances", "--cloud", "aws", "--catalog", str(none))
    assert code == 0 and "price_spot_usd_hr 16.9508 -> -" in err, err


def test_simulate_says_the_whole_run_at_its_simulated_pace(cli):
    """`simulate examples/resnet50-objectstore-files.yaml` printed "steps 1,000 ... wall 41.9 min" (the default
    --steps) and nothing of the job's 14,076 steps, beside estimate's "44.4 min" to train: read side by side they
    agree, while the data-bound run takes 2.517 s a step, 9.8 h. The simulation now says the run's length and its
    time at the simulated pace, beside estimate's."""
    code, out, err = cli("simulate", "examples/resnet50-objectstore-files.yaml", "--no-answers")
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("the run: 14,076 steps; this simulation played 1,000 (--steps); at its 2.517 s per step (wall / "
            "steps) the run takes 9.8 h, where estimate's 0.1889 s step gives 44.3 min (13.32x)") in flat, flat
    code, out, err = cli("simulate", "examples/resnet50-objectstore-files.yaml", "--no-answers", "--steps", "14076")
    assert code == 0 and "the run: " not in out, out  # the whole run simulated: its wall is the run's


def test_gbdt_says_a_dropped_named_instance_and_a_multi_gpu_one_billed_whole(cli, tmp_path):
    """`constraints.instances: [aws:p4d.24xlarge, aws:p5.48xlarge, gcp:tpu-v6e-8]` ranked 2 instances: the TPU the job
    named was dropped without a word (XGBoost's GPU backend is CUDA), each 8-GPU instance was timed on one GPU and
    priced whole, unsaid, and the output read "CPU rate: None" (no CPU option searched). A named TPU alone is refused
    by name (it read "no instance in the catalog matches the constraints")."""
    tab = "tabular: {library: xgboost, rows: 2.0e7, features: 100, trees: 500, depth: 8}\n"
    job = write_job(tmp_path, tab + "constraints: {instances: [aws:p4d.24xlarge, aws:p5.48xlarge, gcp:tpu-v6e-8]}\n")
    code, out, err = cli("recommend", job)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "left out: gcp:tpu-v6e-8 (TPU-v6e): XGBoost's GPU backend is CUDA" in flat, flat
    assert ("aws:p4d.24xlarge uses 1 of its 8 GPUs, aws:p5.48xlarge uses 1 of its 8 GPUs, billed for the whole "
            "instance") in flat, flat
    assert "CPU rate: None" not in flat and "CPU cores = vCPUs" not in flat, flat
    code, out, err = cli("recommend", write_job(tmp_path, tab + "cluster: {instance: gcp:tpu-v6e-8}\n", "tpu.yaml"))
    assert code == 2 and err.strip().startswith("error: cluster.instance: no instance named can run the job: "
                                                 "gcp:tpu-v6e-8 (TPU-v6e): XGBoost's GPU backend is CUDA"), err


def test_gbdt_report_heads_every_runs_totals_as_such(cli, tmp_path):
    """A tabular job with `runs: 3` reported "time per run 47.34 s" and "cost per run $0.0174": the three runs
    together (15.78 s each on aws:g6.xlarge, billed 3 x 60 s at 0.347 $/h spot; 16.04 s since the GPU per-tree fixed
    cost and sketch, gbdt34). The headings say the runs, a per-run time is added, and the price basis is named."""
    job = write_job(tmp_path, "tabular: {library: xgboost, rows: 2.0e6, features: 50, trees: 100, depth: 8, runs: 3}\n"
                              "constraints: {clouds: [aws], spot: true}\n")
    out_md = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", str(out_md))
    assert code == 0, err
    text = out_md.read_text()
    assert "| time per run | 16.04 s |" in text and "| time (3 runs) | 48.12 s |" in text, text
    assert "| cost (3 runs) | $0.0174 (spot) |" in text and "cost per run" not in text, text
    assert "| $/h (spot) | time (3 runs) | cost (3 runs) |" in text, text


def test_campaign_says_the_preprocessing_rate_and_that_spot_is_training_only(cli, tmp_path):
    """A spot LoRA job with a campaign priced training at its expected spot cost and the preprocessing stage (and each
    cache hit's fetch, $125.80 = 6.85 x 6 h x 2.856 + 33.15 x 5.3 min x 2.856 in preprocess-campaign.yaml) at the
    instance's on-demand rate; the sources line named the storage price and fetch bandwidth only."""
    job = write_job(tmp_path, """
model: {preset: llama3-8b}
training: {mode: lora, lora: {rank: 16}, seq_len: 4096, global_batch: 64, epochs: 2, dataset_samples: 100000}
constraints: {instances: [aws:p5.48xlarge], max_gpus: 16, spot: true}
campaign: {experiments_per_week: 5, weeks: 2, invalidation_rate: 0.3,
           preprocess: {hours: 2, instance: aws:c7i.16xlarge, output_gb: 50}}
""")
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("preprocessing: 1 x aws:c7i.16xlarge at 2.856 $/h on-demand (constraints.spot prices the training only), "
            "which each cache hit's artifact fetch is billed at too; storage $0.023/GB-month") in flat, flat
