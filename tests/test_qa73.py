"""QA 73 (docs/qa_log.md): a demanding user's walk through catalog, calibrate, simulate and the app. Each test fails
on the code before.

- A calibration profile whose every field is within its bounds (<= 1) priced GEMMs past its measured grid at up to 3x
  the GPU's peak (``Efficiency._table_correction`` carried the edge shape's measured / predicted ratio to every larger
  shape): Llama-3-8B on 2 p5.48xlarge read "MFU 114%".
- ``planner simulate`` played a job's checkpoint pauses with no word of the save's size, the write rate (the schema's
  default) or that no node failure was counted, which ``estimate``'s line says; and that line read "about 1 failures".
- A job fixing ``cluster.instance`` beside a ``constraints.gpus`` list (the app's default GPUs with a picked instance)
  read "left out: H200-SXM-141GB: no bf16 peak".
"""
from __future__ import annotations

import json

from planner.hardware.efficiency import PRIORS
from conftest import ROOT, invoke_main

CKPT_JOB = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw, recompute: selective,
           tokens: 1.0e12}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 16}
checkpoint: {every_steps: 200}
"""


def test_a_gemm_past_the_measured_grid_is_no_faster_than_the_profile_says():
    """A 1024^3 row at 0.6 of peak under the analytic curve's 128 x 128 tiles (0.48 of the H100's SMs busy) and
    k_half 2048 gave a ratio of ~5, carried to an 8k x 4k x 14k GEMM: 3.0 of peak. The measured shape is still
    reproduced; the large one stops at gemm_max."""
    e = PRIORS["H100"].with_(gemm_max=0.7, gemm_k_half=2048.0, gemm_table=((1024.0, 1024.0, 1024.0, 0.6),))
    assert abs(float(e.gemm_efficiency(1024, 1024, 1024)) - 0.6) < 1e-12
    assert float(e.gemm_efficiency(8192, 4096, 14336)) <= 0.7 + 1e-12
    # a row faster than the fitted ceiling is the bound where it is higher
    e = PRIORS["H100"].with_(gemm_max=0.1, gemm_k_half=8192.0, gemm_table=((1024.0, 1024.0, 1024.0, 0.42),))
    assert float(e.gemm_efficiency(8192, 4096, 14336)) <= 0.42 + 1e-12


def test_estimate_with_a_bounded_h100_profile_stays_under_the_peak(tmp_path):
    """The shipped CPU example relabelled as an H100 measurement with fits inside every bound: MFU was 114%."""
    prof = json.loads((ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_text())
    prof["fingerprint"].update(device="cuda", device_name="NVIDIA H100 80GB HBM3", catalog_gpu="H100-SXM-80GB")
    prof["fitted"].update(primary_dtype="bf16", sm_count=132, gemm_max=0.7, gemm_k_half=2048.0, by_dtype=None,
                          gemm_table=[[1024, 1024, 1024, 0.6]], attn_fwd=0.5, attn_bwd=0.4, hbm=0.87, hbm_bw=2.9e12,
                          hbm_peak_bw=2.9e12, intra_busbw=360e9, intra_alpha_s=1e-5, launch_s=4e-6)
    path = tmp_path / "h100.json"
    path.write_text(json.dumps(prof))
    code, out, err = invoke_main("estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", "--profile", path, "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["mfu"] < 0.7 and plan["hfu"] < 0.7, (plan["mfu"], plan["hfu"])


def test_simulate_says_what_its_checkpoint_pauses_assume(tmp_path):
    """The simulated pauses (44.97 s every 200 steps) now come with estimate's line: the save's 112.4 GB at the
    default 20 Gb/s, no node failures counted (0.7 expected failures: "about 1 failure" until QA 75), in the text and in --json."""
    job = tmp_path / "ck.yaml"
    job.write_text(CKPT_JOB)
    code, out, err = invoke_main("simulate", job, "--steps", "400", "--no-answers")
    assert code == 0, err
    text = " ".join(out.split())
    assert "each save 112.4 GB written at 20 Gb/s (checkpoint.write_gbps's default)" in text, text
    assert "no node failures counted" in text and "this run would see 0.7 expected failures)" in text, text
    code, out, err = invoke_main("simulate", job, "--steps", "400", "--no-answers", "--json")
    assert code == 0, err
    cf = json.loads(out)["checkpoint_failures"]
    assert cf["checkpoint_write_gbps_default"] is True and abs(cf["checkpoint_block_s"] - 44.97) < 0.01


def test_a_fixed_instance_leaves_no_listed_gpu_out_for_a_peak_it_has(tmp_path):
    """H200 and A100 have bf16 peaks; beside cluster.instance the list does not choose the hardware."""
    job = tmp_path / "inst.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 1024, tokens: 1.6e11}\n"
                   "parallel: {tp: 1, pp: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 2}\n"
                   "constraints: {gpus: [H100, H200, A100-SXM-80GB]}\n")
    code, out, err = invoke_main("recommend", job, "--json", "--top", "1")
    assert code == 0, err
    assumptions = json.loads(out)["assumptions"]
    assert not [a for a in assumptions if "no bf16 peak" in a], assumptions
