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
  no tensor parallelism, no pipeline. One slice (``num_slices=1``): every chip on ICI. Multislice rows
  (``MULTISLICE_RUNS``, added 2026-12-01): ``num_slices`` v6e-256 slices joined over the data-center network,
  ``chips`` = every chip of every slice; the workload's DCN axis in ``mesh`` (``dcn_fsdp_parallelism 2``: FSDP over
  both slices; none set: MaxText's default ``dcn_data_parallelism -1``, data parallelism across slices).
* ``tflops_attention``: how the release's TFLOP/s/device counts attention: ``full`` (s^2, tpu-recipes-v0.1.2 /
  v0.1.4) or ``causal half`` (v0.1.5, after MaxText PR #1988: the whole attention term halved).
* ``remat_policy``: kept verbatim with the tensors it offloads; the planner's recompute is ``none`` / ``selective``
  (the attention core) / ``full``. The recipes' ``custom`` policies offload the decoder-layer input and the
  q/k/v (and o) projections to host memory and rematerialise every other tensor (MaxText ``remat_policy: custom``:
  a tensor not named ``device`` or ``offload`` is recomputed), and ``qkv_proj_offloaded`` does the same for q/k/v:
  the MLP GEMMs, the attention core and the norms run again in the backward -- a forward re-run short of the
  offloaded projections (q/k/v ~9% of a Llama 3.1 70B layer's forward FLOPs at 8K, with o ~16%; Llama 3.1 8B at 8K
  q/k/v/o ~17%). benchmarks/validate.py ``maxtext_remat`` maps each to the maxtext stack's ``remat_policy`` (and, for
  ``custom``, ``remat_tensors``): what it offloads and keeps, the GEMMs it does not re-run and the host copies are
  priced (maxtext37; until then ``full``, the nearest of none/selective/full, the copies not priced).
* ``weight_dtype``: MaxText keeps float32 parameters and computes in bfloat16 (``dtype``) by default -> the planner's
  ``amp``; a workload that sets ``weight_dtype: bfloat16`` -> ``pure``.

Run: ``python benchmarks/data/parts/scripts/maxtext.py`` (rewrites the CSV).

Left out (listed, not scored):
* Llama3-405B-MaxText (the older README @b28e5994: "completed step: 5, seconds: 58.805, ..." on 2 x v6e-256,
  workload ``llama3_1_405b_8192_fsdp_dcn`` at MaxText @5c45ca38, earlier @e7292a3a): that commit's config is not in
  the index (the stored versions of the workload set ici_fsdp 64 x ici_tensor 4 x dcn_fsdp 2 with the
  hybrid_ring_64x4 custom mesh, not shown to be the run's); its 4x / 8x v6e-256 scripts print no step line.
  (Before 2026-12-01 every multislice run was left out: the planner had no data-center network between slices.
  Llama 3.1 405B @21efcc21 and Gemma3-12B 2x / 4x v6e-256 are now ``MULTISLICE_RUNS``.)
* Mixtral 8x22B v6e-256 (24.706 s, @03fb496c): its README names MaxText @261a8be0 and no config; the stored
  ``mixtral_8x22b_dropped`` (EP 4 x FSDP 64, custom_mesh hybrid_ring_64x4, bf16 weights) is a later version of
  that workload, not shown to be the run's.
* GPT3-175B fp8 (a quantised run: no planner precision for MaxText's fp8/int8 quantisation),
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
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[2] / "maxtext_runs.csv"
README = "https://github.com/AI-Hypercomputer/tpu-recipes/blob/{c}/{p}"
CFG = "https://github.com/AI-Hypercomputer/maxtext/blob/{tag}/benchmarks/maxtext_trillium_model_configs.py"
OFFLOAD_ALL = "custom (offload: decoder_layer_input, query_proj, key_proj, value_proj, out_proj; rest rematerialised)"
OFFLOAD_QKV = "custom (offload: decoder_layer_input, query_proj, key_proj, value_proj; rest rematerialised)"
SA2048 = "flash (Pallas splash attention, sa_block_* 2048, sa_use_fused_bwd_kernel)"
V014 = ("tpu-recipes-v0.1.4", "JAX 0.6.1 (jax-ai-image/tpu:jax0.6.1-rev1)")
V012 = ("tpu-recipes-v0.1.2", "JAX 0.5.2 (jax-stable-stack/tpu:jax0.5.2-rev1)")
V015 = ("tpu-recipes-v0.1.5", "JAX 0.7.0 (docker_build_dependency_image.sh MODE=stable JAX_VERSION=0.7.0)")
#: the Gemma3 recipes' README links the workload file at this MaxText commit (the tag's, "as found in
#: MaxText@tpu-recipes-v0.1.5")
GEMMA3_CFG = "https://github.com/AI-Hypercomputer/maxtext/blob/50bafeb98299458f73d853b1325787a6d241d10c/benchmarks/maxtext_trillium_model_configs.py"
GEMMA3_REMAT = ("custom (decoder_layer_input device, query_proj/key_proj/value_proj remat; every other tensor at "
                "base.yml's remat default: all rematerialised but the layer input)")
GEMMA3_SA = ("flash (Pallas splash attention, sa_block_q/kv/kv_compute 1024, sa_block_q_dkv 512, sa_block_kv_dkv 2048, "
             "sa_block_kv_dkv_compute 512, sa_block_q_dq/kv_dq 1024)")
GEMMA3_NOTES = ("num_vocab_tiling 16 (the loss over the 262,144-token vocabulary in 16 chunks; validate.maxtext_vocab_tiling "
                "maps it to the stack option); "
                "XLA flag CUSTOM_VMEM_LIMIT 122880; tokenizer gemma3; planner preset gemma3-12b (vocab 262,208 as "
                "Hugging Face's; MaxText's gemma3-12b.yml 262,144: 0.02% of the logits). MaxText at this tag counts "
                "causal attention at half (tflops_attention)")

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
    ("maxtext_v6e_gemma3-12b_256", "gemma3-12b", 256, "gemma3_12b_32768_v6e256",
     "completed step: 29, seconds: 7.318, TFLOP/s/device: 349.442, Tokens/s/device: 4477.768, total_weights: 8388608, loss: 10.495",
     "training/trillium/Gemma3-12B-MaxText/v6e-256/README.md", "f8456e2810329f5de304fb72390f1865201bee27",
     32768, 1, "ici_fsdp_parallelism -1", GEMMA3_REMAT, "float32 (default)", GEMMA3_SA, "", V015,
     "ADDED 2026-12-01 with the multislice rows: the one-slice run of the Gemma3 12B recipes (--num_slices=1). "
     + GEMMA3_NOTES),
]


#: multislice runs (Cloud TPU multislice: ``--num_slices`` v6e-256 slices joined over the data-center network),
#: the same tuple as ``RUNS`` with ``chips`` = every chip of every slice; the number of slices in ``NUM_SLICES``.
#: Llama 3.1 405B: FSDP over both slices (``dcn_fsdp_parallelism: 2``); Gemma3 12B: the workload sets no dcn_*
#: axis, so MaxText's base.yml default ``dcn_data_parallelism: -1`` puts pure data parallelism across the slices
#: (MaxText getting_started/Sharding.md: "These are the default values from base.yml ... Following sharding
#: values dictate how training will happen across multiple TPU Pods. dcn_data_parallelism: -1  # recommended DCN
#: axis to be auto-sharded"). The single-slice Gemma3 12B run of the same recipe set (tpu-recipes-v0.1.5, same
#: per-device batch and sequence) is a ``RUNS`` row: the 1 -> 2 -> 4 slice series.
MULTISLICE_RUNS = [
    ("maxtext_v6e_llama31-405b_2x256", "llama3.1-405b", 512, "llama3_1_405b_8192_pure_fsdp_ici",
     "completed step: 14, seconds: 54.803, TFLOP/s/device: 392.454, Tokens/s/device: 149.482, total_weights: 4194304, loss: 0.297",
     "training/trillium/Llama3.1-405B-MaxText/README.md", "21efcc212df0744372b3bbba53d016b2cc01bf2a",
     8192, 1, "ici_fsdp_parallelism 256, dcn_fsdp_parallelism 2",
     "custom (offload: decoder_layer_input; rest rematerialised)", "float32 (default)",
     "flash (Pallas splash attention, sa_block_q 1024, sa_block_q_dkv/dq 2048)", "", V012,
     "Two v6e-256 slices (benchmark_runner --num_slices=2) over the data-center network, FSDP across both "
     "(dcn_fsdp_parallelism 2 x ici_fsdp_parallelism 256). XLA flags DENSE_VMEM_LIMIT, CF_FOR_ALL_GATHER, "
     "HOST_OFFLOAD_FLAGS."),
    ("maxtext_v6e_gemma3-12b_2x256", "gemma3-12b", 512, "gemma3_12b_32768_2x_v6e256",
     "completed step: 29, seconds: 7.793, TFLOP/s/device: 328.139, Tokens/s/device: 4204.799, total_weights: 16777216, loss: 11.151",
     "training/trillium/Gemma3-12B-MaxText/2x-v6e-256/README.md", "20795240d939015330ed95a2f6f5e442c8b6bce4",
     32768, 1, "ici_fsdp_parallelism 1, ici_fsdp_transpose_parallelism -1; dcn_data_parallelism -1 (base.yml default)",
     GEMMA3_REMAT, "float32 (default)", GEMMA3_SA, "", V015,
     "Two v6e-256 slices (--num_slices=2) over the data-center network, data parallelism across them. " + GEMMA3_NOTES),
    ("maxtext_v6e_gemma3-12b_4x256", "gemma3-12b", 1024, "gemma3_12b_32768_4x_v6e256",
     "completed step: 29, seconds: 8.390, TFLOP/s/device: 304.788, Tokens/s/device: 3905.572, total_weights: 33554432, loss: 11.643",
     "training/trillium/Gemma3-12B-MaxText/4x-v6e-256/README.md", "5a49e2fb98167cc0e1aeff4d3d02ae55ea5cc78b",
     32768, 1, "ici_fsdp_parallelism 1, ici_fsdp_transpose_parallelism -1; dcn_data_parallelism -1 (base.yml default)",
     GEMMA3_REMAT, "float32 (default)", GEMMA3_SA, "", V015,
     "Four v6e-256 slices (--num_slices=4) over the data-center network, data parallelism across them. " + GEMMA3_NOTES),
]
NUM_SLICES = {"maxtext_v6e_llama31-405b_2x256": 2, "maxtext_v6e_gemma3-12b_2x256": 2, "maxtext_v6e_gemma3-12b_4x256": 4}


def parse(line: str) -> dict:
    parts = dict(p.split(": ", 1) for p in line.split(", "))
    return dict(step=int(parts["completed step"]), step_s=float(parts["seconds"]),
                tflops_per_device_printed=float(parts["TFLOP/s/device"]),
                tokens_per_s_per_device_printed=float(parts["Tokens/s/device"]), total_weights=int(parts["total_weights"]))


def main():
    rows = []
    for (rid, preset, chips, workload, line, path, commit, seq, pdb, fsdp, remat, wdt, attn, moe, (tag, jax), notes) in RUNS + MULTISLICE_RUNS:
        p = parse(line)
        ns = NUM_SLICES.get(rid, 1)
        cfg = GEMMA3_CFG if tag == V015[0] else CFG.format(tag=tag)
        rows.append(dict(
            id=rid, source="AI-Hypercomputer/tpu-recipes (Google Cloud TPU training recipes), README example step line",
            model=preset, tpu="TPU-v6e", chips=chips, slice=f"v6e-{chips // ns}", num_slices=ns, seq_len=seq,
            per_device_batch=pdb, config_per_device_batch=3 if rid == "maxtext_v6e_llama2-70b_256" else pdb, pdb_from="log total_weights" if p["total_weights"] != chips * pdb * seq or "INFERRED" in notes else "config",
            global_batch_seqs=chips * pdb, **p, metric="iteration_time_s", value=p["step_s"],
            mesh=fsdp, remat_policy=remat, weight_dtype=wdt, dtype="bfloat16", attention=attn, moe=moe,
            workload=workload, maxtext_version=tag, jax=jax, log_line=line,
            provenance=README.format(c=commit, p=path), config_provenance=cfg + f" ({workload}, as the README copies it)",
            tflops_attention="causal half" if tag == V015[0] else "full",
            notes=notes, read_date="2026-12-01"))
    write_csv(OUT, rows, list(rows[0]))
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
