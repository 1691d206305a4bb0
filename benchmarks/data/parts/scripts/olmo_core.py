"""Build benchmarks/data/olmo_core_runs.csv (validate.olmo_core): the throughput table of Ai2's OLMo-core README,
"Official training scripts" -- tokens per second per device on H100 for the OLMo 2 1B / 7B / 13B / 32B and a
Llama-3-8B shape, bf16 and bf16 + float8, each row naming the training script it ran. Every value is typed in
from the README (``quote``: the table cell) and the script it names (``layout_source``); what neither states is
the documented default, said in ``notes``. Columns are open_reports.csv's (validate.open_reports_case maps them)
plus ``qk_norm``, ``quote`` and ``date``. The only arithmetic is ``measured_step_s`` = global batch tokens /
(tokens/s/GPU x GPUs), which tests/test_olmo_core_data.py recomputes.
Run: python benchmarks/data/parts/scripts/olmo_core.py"""
from pathlib import Path

from parts_csv import OPEN_REPORTS_COLUMNS, write_csv

OUT = Path(__file__).resolve().parents[2] / "olmo_core_runs.csv"
READ = "2026-12-06"
URL = "https://github.com/allenai/OLMo-core"
cols = OPEN_REPORTS_COLUMNS

#: the README version read (search-index file 47201541904: the table with the 32B rows and the OLMo2-*.py script
#: names; commit not resolved); an earlier version (file 4383758896, scripts OLMo-*.py, no 32B) prints the same
#: numbers for 1B-13B, and the first one (file 18260292444) 44,000 TPS for the 1B and 10,000 / 13,000 for the 7B
README_LOC = ("allenai/OLMo-core README.md 'Official training scripts' table (search-index file 47201541904, "
              "commit not resolved): 'Throughput numbers from these scripts with various different configuration "
              "settings are reported below, measured on a cluster with NVIDIA H100 GPUs.' Footnote 1: 'Throughput "
              "reported in tokens per second per device.' Footnote 2 (BF16/FP8): 'In this setup most matrix "
              "multiplications are computed in float8, everything else is in bfloat16.'")
DATE = "undated (README version naming OLMo2-*.py; OLMo 2 32B released 2025-03-13, OLMo 2 7B/13B 2024-11)"
#: not stated by the README: the launch default. olmo_core/internal/common.py build_launch_config(num_nodes=1,
#: num_gpus=8) (search-index file 9555460676) -- the table's "Commandline overrides" column changes only float8
ONE_NODE = ("not stated: the scripts' launch default, olmo_core/internal/common.py build_launch_config num_nodes=1, "
            "num_gpus=8 (one node of 8 H100; the table's overrides column changes only float8); inter-node rate unused "
            "at one node (3200 Gb/s written, Ai2's Jupiter H100 cluster: not stated)")
STACK_AS_RUN = ("OLMo-core: PyTorch FSDP2 (fully_shard per transformer block, bf16 params, fp32 reduce), torch.compile "
                "of every block (compile_model=True), PyTorch SDPA attention (use_flash off under compile), fused AdamW, "
                "compiled / fused cross-entropy with z-loss")
OLMO2 = dict(mlp="swiglu", norm="rmsnorm", position="rope", tied_embeddings=False, parallel_residual=False, qk_norm="full")
#: (id stem, model, preset, layers, hidden, heads, kv, ffn, bf16 TPS, fp8 TPS, script, gbs, mb, layout source)
RUNS = [
    ("1b", "OLMo 2 1B (OLMo-1124)", "", 16, 2048, 16, 16, 8192, 55000, 65000, "OLMo2-1B.py / OLMo-1B.py", 1024, 4,
     "OLMo-1B.py (search-index file 34939216466, the 1B script the 55,000 TPS version of the table names): "
     "TransformerConfig.olmo_1B, compile=True, FSDP (param bf16, reduce fp32), rank_microbatch_size 4 * 4096, "
     "global_batch_size 1024 * 4096, no activation checkpointing"),
    ("7b", "OLMo 2 7B (OLMo-1124)", "olmo2-7b", 32, 4096, 32, 32, 11008, 10000, 13000, "OLMo2-7B.py / OLMo-7B.py", 1024, 2,
     "OLMo-7B.py @0164b605 (search-index file 47397966700; the first table's 10,000 / 13,000 TPS name it; that "
     "version builds TransformerConfig.llama2_7B, the later OLMo2-7B.py olmo2_7B: the README's 'OLMo-1124' arch "
     "taken), compile=True, FSDP (param bf16, reduce fp32), "
     "global_batch_size 1024 sequences, microbatch_size 2, sequence_length 4096, no activation checkpointing"),
    ("8b", "Llama 3 8B shape (dolma2 vocab)", "", 32, 4096, 32, 8, 14336, 9500, 12500, "Llama3-8B.py / Llama-8B.py", 1024, 2,
     "Llama-8B.py @73b70c67 (search-index file 47708657572) and Llama3-8B.py @274fd6ae (file 9105600299): "
     "TransformerConfig.llama3_8B(vocab_size=dolma2 padded 100352), compile=True, FSDP / HSDP (param bf16, reduce "
     "fp32), rank_microbatch_size 2 * 4096, global_batch_size 1024 * 4096, no activation checkpointing"),
    ("13b", "OLMo 2 13B (OLMo-1124)", "", 40, 5120, 40, 40, 13824, 4600, 5500, "OLMo2-13B.py / OLMo-13B.py", 2048, 1,
     "OLMo2-13B.py @31ed7021 (search-index file 47461783307) and OLMo-13B.py @09bcd205 (file 34628792930): "
     "TransformerConfig.olmo2_13B, compile_model=True, HSDP / FSDP (param bf16, reduce fp32), rank_microbatch_size "
     "1 * 4096, global_batch_size 2048 * 4096, no activation checkpointing"),
]


def step(r) -> float:
    """The README's tokens/s per device as seconds per optimizer step at the row's batch and GPU count."""
    return int(r["global_batch_seqs"]) * int(r["seq_len"]) / (float(r["value"]) * int(r["num_gpus"]))


def _row(stem, model, preset, layers, hidden, heads, kv, ffn, tps, prec, script, gbs, mb, layout, gpus=8, shard="",
         recompute="none", interconnect=ONE_NODE, inter=3200, extra_note=""):
    fp8 = prec == "fp8"
    cell = f"| {'BF16/FP8' if fp8 else 'BF16'} | {tps:,} TPS | `{script.split(' / ')[0]}` |" + (
        " `--train_module.float8_config.enabled=true` |" if fp8 else " |")
    return dict(
        id=f"olmocore_{stem}_{prec}", model=model, preset=preset, layers=layers, hidden=hidden, heads=heads, kv_heads=kv,
        ffn_hidden=ffn, vocab=100352, **(OLMO2 if stem != "8b" else dict(OLMO2, qk_norm="none")),
        params_total="", seq_len=4096, global_batch_seqs=gbs, micro_batch=mb, grad_accum=gbs // (gpus * mb),
        train_iters="", num_gpus=gpus, gpu="H100-SXM-80GB", gpus_per_node=8, inter_node_gbps=inter,
        interconnect=interconnect, tp=1, pp=1, dp=gpus, ep=1, zero=3, dp_shard=shard, precision=prec,
        grad_reduce="fp32", recompute=recompute, recompute_modules="", flash_attention=True, stack="torchtitan",
        stack_options="compile=True;tp_overlap=none" + (";fp8_recipe=tensorwise" if fp8 else ""),
        stack_as_run=STACK_AS_RUN + ("; float8: torchao Float8Linear on the blocks' linears (OLMo-core Float8Config, "
                                     "torchao's default dynamic tensorwise scaling)" if fp8 else ""),
        metric="tokens_per_s_per_gpu", value=tps, flop_formula="", source_url=URL,
        source_loc=README_LOC, quote=f"row {model.split(' (')[0]}, context 4096: {cell}", date=DATE,
        layout_source=layout, read_date=READ, scored=True, not_scored_reason="", cross_check="",
        notes=("Stated: model, context 4096, precision, tokens/s/device, H100, the script. From the script: "
               "global batch, rank micro-batch, FSDP, compile, no activation checkpointing. Not stated, so assumed: "
               "the GPU count (the launch default), which stored script version ran; the README does not give a "
               "step time or MFU formula (tokens/s/device only, so no FLOP convention is needed)." + extra_note))


rows = []
for stem, model, preset, L, h, a, kv, f, bf16, fp8, script, gbs, mb, layout in RUNS:
    for prec, tps in (("bf16", bf16), ("fp8", fp8)):
        rows.append(_row(stem, model, preset, L, h, a, kv, f, tps, prec, script, gbs, mb, layout))

#: the 32B: OLMo2-32B.py hard-codes HSDP num_replicas = 64 // 2 ("common.launch.num_nodes // 2"), so it cannot
#: run on the one-node default: 64 nodes (512 GPUs), sharded over 2 nodes (16 GPUs), replicated 32 times; full
#: activation checkpointing; gs:// save folder (Ai2's Augusta cluster on Google Cloud, A3 Mega H100: 8 x 200 Gb/s
#: GPUDirect-TCPXO per node -- not stated in the script, the cluster's public machine type)
L32 = ("OLMo2-32B.py @016e4268 (search-index file 47508713847): TransformerConfig.olmo2_32B (64 layers, d_model 5120, "
       "40 heads, 8 KV heads, FFN 27648), compile=True with use_flash=not compile (SDPA), HSDP num_replicas=64 // 2 "
       "(comment: common.launch.num_nodes // 2), param bf16 / reduce fp32, ac_config full, rank_microbatch_size "
       "1 * 4096, global_batch_size 2048 * 4096")
NOTE32 = (" 32B: 64 nodes inferred from the script's hard-coded num_replicas (64 // 2 = 32 replicas of a 2-node shard "
          "group); the network is not stated: Augusta's A3 Mega 8 x 200 Gb/s assumed (gs:// save folder). Ai2's "
          "OLMo 2 32B announcement quotes the production run at 'over 1,800 tokens per second per GPU' (~38% MFU, "
          "as a news summary words it): the table's float8 row, so the production run's precision is not certain.")
for prec, tps in (("bf16", 1500), ("fp8", 1800)):
    rows.append(_row("32b", "OLMo 2 32B (OLMo-0325)", "", 64, 5120, 40, 8, 27648, tps, prec, "OLMo2-32B.py", 2048, 1, L32,
                     gpus=512, shard=16, recompute="full", inter=1600, extra_note=NOTE32,
                     interconnect="not stated: 64 nodes x 8 H100 (inferred from the script's HSDP num_replicas 64 // 2); "
                                  "GCP A3 Mega (Ai2 Augusta) 8 x 200 Gb/s GPUDirect-TCPXO per node assumed"))
for r in rows:
    r["measured_step_s"] = round(step(r), 4)
write_csv(OUT, rows, cols)
for r in rows:
    print(r["id"], r["measured_step_s"])
