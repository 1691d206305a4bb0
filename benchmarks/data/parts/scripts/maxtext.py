"""Builder of ``benchmarks/data/maxtext_runs.csv`` (``validate.maxtext``): published MaxText training step times on
Google Cloud TPU v6e (Trillium), each with the run config printed beside it.

Source: AI-Hypercomputer/tpu-recipes ``training/trillium/*-MaxText/**/README.md``. Each README prints one MaxText
step line of a run ("From your workload logs, you should start seeing step time logs like the following:
completed step: N, seconds: S, TFLOP/s/device: F, Tokens/s/device: T, total_weights: W, loss: L") beside the
``MaxTextModel(...)`` workload of ``benchmarks/maxtext_trillium_model_configs.py`` the recipe launches (the README
copies it "as found in MaxText@tpu-recipes-v0.1.x"). Copied verbatim (read 2026-12-01 via the search index).
One logged step each, not an average.

What a row's columns mean (``validate.maxtext`` maps them to the planner; tests/test_maxtext_data.py checks them):

* ``step_s``: the line's ``seconds`` (the measured step). ``total_weights`` is the number of (non-padding) target
  tokens of the step's global batch: synthetic data, every position a target, so it is chips x
  per_device_batch_size x max_target_length, and Tokens/s/device x chips x seconds reproduces it (checked).
* ``per_device_batch``: the workload's ``per_device_batch_size``; gradient accumulation is MaxText's default 1, so
  the planner's micro-batch per chip is the same number and the global batch is chips x per_device_batch sequences.
  Where the README's config and its log line disagree, the log line's ``total_weights`` decides (``pdb_from``).
* Layout: ``ici_fsdp_parallelism: -1`` (and ``ici_fsdp_transpose_parallelism: -1``, the second FSDP mesh axis) puts
  every chip of the slice on FSDP axes: parameters, gradients and optimizer state sharded over all chips (ZeRO-3),
  no tensor parallelism, no pipeline. One slice (``num_slices=1``): every chip on ICI.
* ``remat_policy``: kept verbatim with the tensors it offloads; the planner's recompute is ``none`` / ``selective``
  (the attention core) / ``full``. The recipes' ``custom`` policies offload the decoder-layer input and the
  q/k/v (and o) projections to host memory and rematerialise every other tensor (MaxText ``remat_policy: custom``:
  a tensor not named ``device`` or ``offload`` is recomputed), and ``qkv_proj_offloaded`` does the same for q/k/v:
  the MLP GEMMs, the attention core and the norms run again in the backward -- a forward re-run short of the
  offloaded projections (q/k/v ~9% of a Llama 3.1 70B layer's forward FLOPs at 8K, with o ~16%; Llama 3.1 8B at 8K
  q/k/v/o ~17%). Mapped to ``full`` (the nearest of none/selective/full: ``selective`` re-runs only the attention
  core, ~7-13%; the over-count is at most the offloaded share of one forward, a few % of the step); the host-offload
  copies are not priced.
* ``weight_dtype``: MaxText keeps float32 parameters and computes in bfloat16 (``dtype``) by default -> the planner's
  ``amp``; a workload that sets ``weight_dtype: bfloat16`` -> ``pure``.

Run: ``python benchmarks/data/parts/scripts/maxtext.py`` (rewrites the CSV).

Left out (listed, not scored):
* Llama 3.1 405B (training/trillium/Llama3.1-405B-MaxText @21efcc21: 54.803 s, 2 x v6e-256 with dcn_fsdp 2) and
  Llama3-405B-MaxText 2x/4x/8x v6e-256 scripts, Gemma3-12B 2x/4x v6e-256: multislice over the data-center network,
  which the planner does not model (a TPU cluster is one ICI slice).
* Mixtral 8x22B v6e-256 (24.706 s, @03fb496c): its README names MaxText @261a8be0 and no config; the stored
  ``mixtral_8x22b_dropped`` (EP 4 x FSDP 64, custom_mesh hybrid_ring_64x4, bf16 weights) is a later version of
  that workload, not shown to be the run's.
* GPT3-175B fp8 (a quantised run: no planner precision for MaxText's fp8/int8 quantisation), Gemma3-12B v6e-256,
  Llama3.1-70B-MaxText-with-Storage: not read in the time available.
* The older Llama2-70B README (MaxText @e7292a3a / @2e1ebad7, libtpu 20241028, workload ``llama2_70b_4096``: "completed
  step: 17, seconds: 17.373, ... total_weights: 4194304"): it prints no config, and that workload at those commits
  is not in the index.
* MaxText docs/reference/models/tiering.md (@20a91e12): its v6e rows repeat these lines (Llama 3.1 8B 7,207 and 70B
  960 tokens/s/device, Mixtral 8x22B 1,326; Llama 2 70B "900" vs 905.021 here); its Llama 3.1 405B 256-chip
  (123 tokens/s/device), Mixtral 8x7B 3,899 and v5p rows (Llama 2 70B 512 chips 692, Mixtral 8x7B 2,909) point at
  config-file commits not in the index (92e59fdf, 5e6a7caf) or give no config: skipped.
* Every v5p / v5e README found (Llama2-7B, Mixtral-8X7B, GPT3-175B, DeepSeek3, Llama4) prints no step line.
"""
import csv
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "maxtext_runs.csv"
README = "https://github.com/AI-Hypercomputer/tpu-recipes/blob/{c}/{p}"
CFG = "https://github.com/AI-Hypercomputer/maxtext/blob/{tag}/benchmarks/maxtext_trillium_model_configs.py"
OFFLOAD_ALL = "custom (offload: decoder_layer_input, query_proj, key_proj, value_proj, out_proj; rest rematerialised)"
OFFLOAD_QKV = "custom (offload: decoder_layer_input, query_proj, key_proj, value_proj; rest rematerialised)"
SA2048 = "flash (Pallas splash attention, sa_block_* 2048, sa_use_fused_bwd_kernel)"
V014 = ("tpu-recipes-v0.1.4", "JAX 0.6.1 (jax-ai-image/tpu:jax0.6.1-rev1)")
V012 = ("tpu-recipes-v0.1.2", "JAX 0.5.2 (jax-stable-stack/tpu:jax0.5.2-rev1)")

# (id, preset, chips, workload, line, readme path, readme commit, seq, pdb, fsdp, remat, weight_dtype, attention,
#  moe, maxtext tag, notes)
RUNS = [
    ("maxtext_v6e_llama31-8b_8", "llama3.1-8b", 8, "llama3_1_8b_8192_no_collective_matmul",
     "completed step: 14, seconds: 3.443, TFLOP/s/device: 413.433, Tokens/s/device: 7138.890, total_weights: 196608, loss: 2.136",
     "training/trillium/Llama3.1-8B-MaxText/v6e-8/README.md", "10ca5b92b479825ce36305c06e05aefdcb90541f",
     8192, 3, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014,
     "XLA flags add DISABLE_COLLECTIVE_MATMUL. The README runs it with gcluster on one v6e-8 host (2x4 topology)."),
    ("maxtext_v6e_llama31-8b_16", "llama3.1-8b", 16, "llama3_1_8b_8192_no_collective_matmul",
     "completed step: 14, seconds: 3.393, TFLOP/s/device: 419.485, Tokens/s/device: 7243.378, total_weights: 393216, loss: 3.974",
     "training/trillium/Llama3.1-8B-MaxText/v6e-16/README.md", "43e52ff572cdb3c71be1c4bae4494aa64f12f5b7",
     8192, 3, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014,
     "XLA flags add DISABLE_COLLECTIVE_MATMUL."),
    ("maxtext_v6e_llama31-8b_32", "llama3.1-8b", 32, "llama3_1_8b_8192_no_collective_matmul",
     "completed step: 14, seconds: 3.495, TFLOP/s/device: 407.225, Tokens/s/device: 7031.689, total_weights: 786432, loss: 5.864",
     "training/trillium/Llama3.1-8B-MaxText/v6e-32/README.md", "43e52ff572cdb3c71be1c4bae4494aa64f12f5b7",
     8192, 3, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014,
     "XLA flags add DISABLE_COLLECTIVE_MATMUL."),
    ("maxtext_v6e_llama31-8b_64", "llama3.1-8b", 64, "llama3_1_8b_8192_bs5",
     "completed step: 14, seconds: 5.652, TFLOP/s/device: 419.701, Tokens/s/device: 7247.111, total_weights: 2621440, loss: 8.534",
     "training/trillium/Llama3.1-8B-MaxText/v6e-64/README.md", "a9e09290174425595a0ef6ec5f765d5f04360423",
     8192, 5, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014, ""),
    ("maxtext_v6e_llama31-8b_128", "llama3.1-8b", 128, "llama3_1_8b_8192",
     "completed step: 14, seconds: 4.602, TFLOP/s/device: 412.319, Tokens/s/device: 7119.648, total_weights: 4194304, loss: 9.285",
     "training/trillium/Llama3.1-8B-MaxText/v6e-128/README.md", "a9e09290174425595a0ef6ec5f765d5f04360423",
     8192, 4, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014, ""),
    ("maxtext_v6e_llama31-8b_256", "llama3.1-8b", 256, "llama3_1_8b_8192",
     "completed step: 14, seconds: 4.546, TFLOP/s/device: 417.397, Tokens/s/device: 7207.336, total_weights: 8388608, loss: 10.131",
     "training/trillium/Llama3.1-8B-MaxText/v6e-256/README.md", "a9e09290174425595a0ef6ec5f765d5f04360423",
     8192, 4, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V014,
     "MaxText tiering.md (v6e Gold) lists this run: 256 chips, BF16, SL=8192, MFU 45.46%, 7,207 tokens/s/device."),
    ("maxtext_v6e_llama31-70b_32", "llama3.1-70b", 32, "llama3_1_70b_8192_bs2_bfloat16_no_collective_matmul",
     "completed step: 34, seconds: 17.790, TFLOP/s/device: 443.385, Tokens/s/device: 920.965, total_weights: 524288, loss: 11.457",
     "training/trillium/Llama3.1-70B-MaxText/v6e-32/README.md", "3596002ad03c04ae20d5f04c711e8a1d2557b7f8",
     8192, 2, "ici_fsdp_parallelism -1", OFFLOAD_QKV, "bfloat16", SA2048, "", V014,
     "weight_dtype bfloat16 (bf16 parameters and optimizer arithmetic); XLA flags add DISABLE_COLLECTIVE_MATMUL."),
    ("maxtext_v6e_llama31-70b_64", "llama3.1-70b", 64, "llama3_1_70b_8192_bs2",
     "completed step: 14, seconds: 18.688, TFLOP/s/device: 422.091, Tokens/s/device: 876.736, total_weights: 1048576, loss: 0.865",
     "training/trillium/Llama3.1-70B-MaxText/v6e-64/README.md", "3596002ad03c04ae20d5f04c711e8a1d2557b7f8",
     8192, 2, "ici_fsdp_parallelism -1", OFFLOAD_QKV, "float32 (default)", SA2048, "", V014, ""),
    ("maxtext_v6e_llama31-70b_128", "llama3.1-70b", 128, "llama3_1_70b_8192_bs4",
     "completed step: 14, seconds: 34.786, TFLOP/s/device: 453.500, Tokens/s/device: 941.976, total_weights: 4194304, loss: 4.174",
     "training/trillium/Llama3.1-70B-MaxText/v6e-128/README.md", "3596002ad03c04ae20d5f04c711e8a1d2557b7f8",
     8192, 4, "ici_fsdp_parallelism -1", OFFLOAD_QKV, "float32 (default)", SA2048, "", V014, ""),
    ("maxtext_v6e_llama31-70b_256", "llama3.1-70b", 256, "llama3_1_70b_8192",
     "completed step: 14, seconds: 42.656, TFLOP/s/device: 462.297, Tokens/s/device: 960.248, total_weights: 10485760, loss: 6.658",
     "training/trillium/Llama3.1-70B-MaxText/v6e-256/README.md", "3596002ad03c04ae20d5f04c711e8a1d2557b7f8",
     8192, 5, "ici_fsdp_parallelism -1", OFFLOAD_QKV, "float32 (default)", SA2048, "", V014,
     "MaxText tiering.md (v6e Gold) lists this run: 256 chips, BF16, SL=8192, MFU 50.33%, 960 tokens/s/device."),
    ("maxtext_v6e_llama2-70b_256", "llama2-70b", 256, "llama2_70b_4096_sc",
     "completed step: 16, seconds: 9.052, TFLOP/s/device: 402.274, Tokens/s/device: 905.021, total_weights: 2097152, loss: 1.104",
     "training/trillium/Llama2-70B-MaxText/README.md", "9e458c71883a862cb3ba0cd466a223b8a9cba426",
     4096, 2, "ici_fsdp_parallelism 1, ici_fsdp_transpose_parallelism -1, ici_tensor_parallelism 1",
     "qkv_proj_offloaded (offload: query_proj, key_proj, value_proj; rest rematerialised)", "float32 (default)",
     "flash (Pallas splash attention, sa_block_q 1024, sa_block_q_dkv/dq 2048)", "", V012,
     "INFERRED batch: the README's config says per_device_batch_size 3, but its log line's total_weights 2097152 = "
     "256 x 2 x 4096 and 905.021 x 256 x 9.052 = 2,097,198: the line is a per_device_batch_size 2 run; the line decides. "
     "MaxText tiering.md (v6e Gold) lists Llama 2 70B: 256, BF16, SL=4096, MFU 43.8%, 900 tokens/s/device."),
    ("maxtext_v6e_gpt3-175b_256", "gpt3-175b", 256, "gpt_3_175b_bf16",
     "completed step: 15, seconds: 17.182, TFLOP/s/device: 384.891, Tokens/s/device: 357.580, total_weights: 1572864, loss: 388.622",
     "training/trillium/GPT3-175B-MaxText/bf16/README.md", "c855fe6b669fb691ea98ca8ff7b2ea81d3d27f38",
     2048, 3, "ici_fsdp_parallelism -1", "full (every layer rematerialised)", "float32 (default)",
     "flash (Pallas splash attention, sa_block_q 1024, sa_block_q_dkv/dq 2048)", "", V012,
     "Sequence 2048: MaxText's gpt3-175b model config (the workload sets no max_target_length); total_weights "
     "1572864 = 256 x 3 x 2048. XLA flags add DISABLE_BUNDLE_AWARE_COST_MODEL. Model not a planner preset: 96 layers, "
     "d 12288, 96 heads, MLP 4d GELU, LayerNorm, biases, learned positions, vocab 50304, logits via the embedding "
     "(validate.MAXTEXT_MODELS; the printed TFLOP/s is its FLOP count to 0.01%, tests/test_maxtext_data.py)."),
    ("maxtext_v6e_mistral-7b_8", "mistral-7b", 8, "mistral_7b",
     "completed step: 6, seconds: 6.320, TFLOP/s/device: 431.981, Tokens/s/device: 7776.813, total_weights: 393216, loss: 7.378",
     "training/trillium/Mistral-7B-MaxText/README.md", "7f2f5e62e140401c1c2acf56dbc21cecf80512bd",
     8192, 6, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)", SA2048, "", V012,
     "XLA flags add DISABLE_COLLECTIVE_MATMUL. One v6e-8 host. The planner preset's mistral-7b (no sliding window)."),
    ("maxtext_v6e_mixtral-8x7b_256", "mixtral-8x7b", 256, "mixtral_8x7b_dropped",
     "completed step: 11, seconds: 13.484, TFLOP/s/device: 302.311, Tokens/s/device: 3645.203, total_weights: 12582912, loss: 10.546",
     "training/trillium/Mixtral-8x7B-MaxText/README.md", "e008533bc4a73f8f4246148a55f67c3bd3b9623c",
     4096, 12, "ici_fsdp_parallelism -1", OFFLOAD_ALL, "float32 (default)",
     "flash (Pallas splash attention, sa_block_q/dkv/dq 2048)",
     "token dropping: capacity_factor 1.25, megablox false, sparse_matmul false (dense dispatch einsums)", V012,
     "MoE experts FSDP-sharded (no expert axis). tiering.md's Mixtral 8X7B v6e row (3,899 tokens/s/device, 35.23%) is a "
     "later run than this line (3,645.203)."),
]


def parse(line: str) -> dict:
    parts = dict(p.split(": ", 1) for p in line.split(", "))
    return dict(step=int(parts["completed step"]), step_s=float(parts["seconds"]),
                tflops_per_device_printed=float(parts["TFLOP/s/device"]),
                tokens_per_s_per_device_printed=float(parts["Tokens/s/device"]), total_weights=int(parts["total_weights"]))


def main():
    rows = []
    for (rid, preset, chips, workload, line, path, commit, seq, pdb, fsdp, remat, wdt, attn, moe, (tag, jax), notes) in RUNS:
        p = parse(line)
        rows.append(dict(
            id=rid, source="AI-Hypercomputer/tpu-recipes (Google Cloud TPU training recipes), README example step line",
            model=preset, tpu="TPU-v6e", chips=chips, slice=f"v6e-{chips}", num_slices=1, seq_len=seq,
            per_device_batch=pdb, config_per_device_batch=3 if rid == "maxtext_v6e_llama2-70b_256" else pdb, pdb_from="log total_weights" if p["total_weights"] != chips * pdb * seq or "INFERRED" in notes else "config",
            global_batch_seqs=chips * pdb, **p, metric="iteration_time_s", value=p["step_s"],
            mesh=fsdp, remat_policy=remat, weight_dtype=wdt, dtype="bfloat16", attention=attn, moe=moe,
            workload=workload, maxtext_version=tag, jax=jax, log_line=line,
            provenance=README.format(c=commit, p=path), config_provenance=CFG.format(tag=tag) + f" ({workload}, as the README copies it)",
            notes=notes, read_date="2026-12-01"))
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
