"""Builder of ``benchmarks/data/gaudi_runs.csv`` (``validate.gaudi``): Intel's published Gaudi 2 LLM training
throughputs, each with the run configuration Intel's own training repository gives for that model, card count and
precision. No Gaudi step time was in the development data before (README "Still missing": the Gaudi priors,
planner/hardware/efficiency.py ``mamf_prior``, are matmul ceilings scaled by H100's in-step fraction); these rows
check them, they fit nothing.

Sources (read 2026-12-06 via the search index):

* Intel, "Model Performance Data for Intel Gaudi 2 AI Accelerators" (TRAINING tab), intel.com/content/www/us/en/
  developer/platform/gaudi/model-performance-gaudi2-training.html, the version "measured using the latest SynapseAI
  software release version 1.18.0" (PyTorch 2.4.0; "HLS-Gaudi2 with eight Intel Gaudi 2 platform HL-225H mezzanine
  cards, two Intel Xeon Platinum 8380 CPUs ..., and 1 TB of system memory"), table "Large Language Model (LLM)
  Throughput: Intel Gaudi 2 Accelerator": Model | # HPU | Sequence Length | Precision | Batch Size | Throughput
  (tokens/sec). The throughput is the job's, all cards together (per card it would be 2.8 PFLOP/s for Llama 2 7B,
  3x the FP8 peak). Only that table is used; the page's other table (time-to-train benchmark results) is not used
  for anything. A later version of the page (software 1.19.0, PyTorch 2.5.1) lists the same five configurations at
  70523 / 59397 / 54614 / 37440 / 43332 tokens/s (+3.0 / +1.9 / +0.6 / +3.1 / -0.8%): quoted in the notes, not scored.
* The configuration: the page names no framework, parallel layout or micro-batch. Intel's training code for LLaMA
  on Gaudi at that release is HabanaAI/Megatron-DeepSpeed, branch 1.18.0 (README @470cc029: "Validated on Gaudi 2,
  Intel Gaudi software 1.18.0, PyTorch 2.4.0"; changelog 1.18.0 "Added Llama 3.1 support"), whose README gives an FP8
  recipe for four of the five: "Run LLaMA 2 7B on 8 HPUs with FP8 precision", "LLaMA 2 13B on 16 HPUs with FP8",
  "LlaMA 3.1 8B on 8 HPUs with BF16 & FP8", "LlaMA 3.1 70B on 64 HPUs with BF16 & FP8", each run through
  scripts/run_llama.sh (@470cc029), whose defaults fill the rest (Llama 2: GBS 1024, seq 4096; Llama 3.1: seq 8192;
  micro-batch 1; sequence parallel on, ``HL_SEQ_PARALLEL`` 1; FusedSDPA flash attention, ``HL_USE_FUSED_SDPA`` 1;
  ``--no-gradient-accumulation-fusion``; bf16 with DeepSpeed's engine). Intel's other fork, HabanaAI/Megatron-LM,
  had at 1.18.0 its initial release with LLaMA 2 BF16 recipes only (examples/llama/README.md @96dcae4a) and LLaMA
  3.1 from 1.19.0 (its README @004966d2, changelog): no FP8 LLaMA recipe of 1.18.0 is in it. The fifth row, LLaMA 2
  70B on 64 HPUs (GBS 1024, 54274 tokens/s), has no recipe at 64 cards (the README's FP8 one is 32 HPUs, PP 4 TP 8
  DP 1): its layout is not stated anywhere found, so it is left out.
* The page's batch is the global batch in sequences (Llama 2 7B's 1024 is run_llama.sh's Llama 2 default; the
  13B's 256 and Llama 3.1's 128 are not the script's defaults, 1024 / 2048, so the benchmark set ``HL_GBS``).

Run: ``python benchmarks/data/parts/scripts/gaudi.py`` (rewrites the CSV). tests/test_gaudi_data.py checks each row's
step time against the printed throughput, the layout products and the provenance, and that every row runs.
"""
import sys
from pathlib import Path

from parts_csv import PR2_COLUMNS, write_csv

OUT = Path(__file__).resolve().parents[2] / "gaudi_runs.csv"
PAGE = "https://www.intel.com/content/www/us/en/developer/platform/gaudi/model-performance-gaudi2-training.html"
MDS = "https://github.com/HabanaAI/Megatron-DeepSpeed/blob/470cc029c8df028891f1a38e162da459d36dc0ae/"
HLS2_NET = ("HLS-Gaudi2: 8 x Gaudi 2 HL-225H, 21 x 100 GbE RoCE scale-up ports each (all-to-all); 3 x 100 GbE "
            "scale-out ports a chip = 2400 Gb/s per box (Intel Gaudi docs, Network Configuration)")
#: Intel's Transformer Engine for Gaudi as run_llama.sh drives it with HL_USE_TRANSFORMER_ENGINE=1: hybrid E4M3/E5M2
#: with per-tensor scales from an amax history (--fp8-amax-history-len, --fp8-interval = GBS / MBS / DP), i.e.
#: delayed scaling, the amaxes reduced across ranks (HL_FP8_AMAX_REDUCE 1)
FP8 = ("fp8 (Intel Gaudi Transformer Engine, hybrid E4M3/E5M2, delayed scaling: run_llama.sh --transformer-impl "
       "transformer_engine --fp8-hybrid --fp8-amax-compute-algo max --fp8-amax-history-len = --fp8-interval = "
       "GBS/MBS/DP{ga}, --fp8-amax-reduce{cache})")
SELECTIVE = ("selective (HL_CKP_ACT=2: --deepspeed-activation-checkpointing --recompute-granularity=selective); "
             "sequence parallel (run_llama.sh default HL_SEQ_PARALLEL=1: --sequence-parallel)")
ZERO1 = "ZeRO-1 (HL_ZERO_STAGE=1: DeepSpeed zero_optimization stage 1)"
CACHE = "; HL_USE_CACHE_FP8_WEIGHT=1, HL_USE_CACHE_FP8_WEIGHT_FWD=1"
#: DeepSpeed ``data_types.grad_accum_dtype`` bf16 (HL_GRAD_ACCUM_DTYPE=bf16): the gradients accumulated and reduced
#: at the model's bf16 instead of fp32 (validate.pr2_case: ``grad_dtype`` "same")
BF16_ACCUM = "grad_accum_dtype=bf16"
rows = [
 dict(id="gaudi2_mds118_llama2-7b_fp8_8", model="Llama 2 7B", params_b=7, layers=32, hidden=4096, heads=32, kv_heads=32,
      ffn_hidden=11008, vocab=32000, seq_len=4096, global_batch_seqs=1024, micro_batch=1, tp=1, pp=1, dp=8, num_gpus=8,
      tok=68464, tok119=70523, precision=FP8.format(ga="=128", cache=CACHE),
      recipe="Run LLaMA 2 7B on 8 HPUs with FP8 precision",
      cmd=("HL_LLAMA_VER=2 HL_LLAMA_MODEL_SIZE=7 HL_PP=1 HL_TP=1 HL_DP=8 HL_CKP_ACT=2 HL_SEQ_LEN=4096 HL_ZERO_STAGE=1 "
           "HL_USE_FAST_SOFTMAX=1 HL_MICRO_BATCH=1 HL_GRAD_ACCUM_DTYPE=bf16 HL_USE_TRANSFORMER_ENGINE=1 "
           "HL_USE_CACHE_FP8_WEIGHT_FWD=1 HL_USE_CACHE_FP8_WEIGHT=1"), accum=True,
      extra="GBS 1024 = the page's batch and run_llama.sh's Llama 2 default. GA = 1024 / (8 x 1) = 128."),
 dict(id="gaudi2_mds118_llama2-13b_fp8_16", model="Llama 2 13B", params_b=13, layers=40, hidden=5120, heads=40,
      kv_heads=40, ffn_hidden=13824, vocab=32000, seq_len=4096, global_batch_seqs=256, micro_batch=2, tp=2, pp=2, dp=4,
      num_gpus=16, tok=58282, tok119=59397, precision=FP8.format(ga="=32", cache=CACHE),
      recipe="Run LLaMA 2 13B on 16 HPUs with FP8 precision",
      cmd=("HL_NUM_NODES=2 HL_LLAMA_VER=2 HL_LLAMA_MODEL_SIZE=13 HL_PP=2 HL_TP=2 HL_DP=4 HL_CKP_ACT=2 HL_SEQ_LEN=4096 "
           "HL_ZERO_STAGE=1 HL_USE_FAST_SOFTMAX=1 HL_MICRO_BATCH=2 HL_GRAD_ACCUM_DTYPE=bf16 HL_USE_TRANSFORMER_ENGINE=1 "
           "HL_USE_CACHE_FP8_WEIGHT_FWD=1 HL_USE_CACHE_FP8_WEIGHT=1"), accum=True,
      extra=("GBS 256 = the page's batch (the recipe sets none: run_llama.sh's default 1024 was overridden). 2 nodes. "
             "GA = 256 / (4 x 2) = 32 micro-batches through the DeepSpeed pipeline engine (PP 2).")),
 dict(id="gaudi2_mds118_llama31-8b_fp8_8", model="Llama 3.1 8B", params_b=8, layers=32, hidden=4096, heads=32, kv_heads=8,
      ffn_hidden=14336, vocab=128256, seq_len=8192, global_batch_seqs=128, micro_batch=1, tp=4, pp=1, dp=2, num_gpus=8,
      tok=36309, tok119=37440, precision=FP8.format(ga="=64", cache=CACHE),
      recipe="Run LlaMA 3.1 8B on 8 HPUs with BF16 & FP8 precision",
      cmd=("HL_USE_CACHE_FP8_WEIGHT_FWD=1 HL_USE_CACHE_FP8_WEIGHT=1 HL_USE_TRANSFORMER_ENGINE=1 "
           "HL_TOKENIZER_TYPE=Llama3Tokenizer HL_ZERO_STAGE=1 HL_CKP_ACT=2 HL_LLAMA_VER=3.1 HL_DP=2 HL_TP=4 HL_PP=1 "
           "HL_LLAMA_MODEL_SIZE=8"), accum=False,
      extra=("GBS 128 = the page's batch (run_llama.sh's Llama 3.1 default is 2048). Seq 8192 (the script's Llama 3.1 "
             "default, as the page). MBS 1 (script default). GA = 128 / (2 x 1) = 64. Llama 3 tokenizer (vocab 128256). "
             "Gradient accumulation dtype not set: DeepSpeed's default.")),
 dict(id="gaudi2_mds118_llama31-70b_fp8_64", model="Llama 3.1 70B", params_b=70, layers=80, hidden=8192, heads=64,
      kv_heads=8, ffn_hidden=28672, vocab=128256, seq_len=8192, global_batch_seqs=128, micro_batch=1, tp=8, pp=1, dp=8,
      num_gpus=64, tok=43677, tok119=43332, precision=FP8.format(ga="=16", cache=CACHE),
      recipe="Run LlaMA 3.1 70B on 64 HPUs with BF16 & FP8 precision",
      cmd=("HL_USE_CACHE_FP8_WEIGHT_FWD=1 HL_USE_CACHE_FP8_WEIGHT=1 HL_USE_TRANSFORMER_ENGINE=1 "
           "HL_TOKENIZER_TYPE=Llama3Tokenizer HL_ZERO_STAGE=1 HL_CKP_ACT=2 HL_NUM_NODES=8 HL_LLAMA_VER=3.1 HL_DP=8 "
           "HL_TP=8 HL_PP=1 HL_LLAMA_MODEL_SIZE=70"), accum=False,
      extra=("GBS 128 = the page's batch (script default 2048). 8 nodes. MBS 1. GA = 128 / (8 x 1) = 16. Gradient "
             "accumulation dtype not set: DeepSpeed's default.")),
]
cols = [*PR2_COLUMNS, "tokens_per_s_printed", "tokens_per_s_printed_1_19"]


def notes(r) -> str:
    """What the row's numbers are and where each comes from."""
    step = r["global_batch_seqs"] * r["seq_len"] / r["tok"]
    accum = (f" {BF16_ACCUM} (HL_GRAD_ACCUM_DTYPE=bf16: DeepSpeed data_types.grad_accum_dtype)." if r["accum"] else "")
    return (f"Measured: Intel's page (software 1.18.0) 'LLaMA V{r['model'][6:]} | "
            f"{r['num_gpus']} | {r['seq_len']:,} | FP8 | {r['global_batch_seqs']:,} | {r['tok']:,}' tokens/sec, all cards: "
            f"step = {r['global_batch_seqs']} x {r['seq_len']} / {r['tok']} = {step:.3f} s. The 1.19.0 page: {r['tok119']:,}. "
            f"Framework and layout not on the page: HabanaAI/Megatron-DeepSpeed 1.18.0 README recipe '{r['recipe']}': "
            f"{r['cmd']} scripts/run_llama.sh (FusedSDPA flash attention, --no-gradient-accumulation-fusion, rope, "
            f"RMSNorm, SwiGLU, untied embeddings, fusedadamw).{accum} {r['extra']}")


out = [dict(
    id=r["id"], source="Intel Gaudi 2 model performance page (training, software 1.18.0)",
    table=f"{r['model']} fp8 (TP={r['tp']}, PP={r['pp']}, DP={r['dp']}, MBS={r['micro_batch']}, GBS={r['global_batch_seqs']}, "
          f"{r['num_gpus']} HPUs)",
    **{k: r[k] for k in ("model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "seq_len",
                         "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "precision", "num_gpus")},
    moe_experts="", moe_topk="", cp=1, vpp="", zero_or_fsdp=ZERO1, recompute=SELECTIVE,
    gpu="Gaudi2-96GB (Intel HLS-Gaudi2, HL-225H)", gpus_per_node=8, interconnect=HLS2_NET,
    metric="iteration_time_s", value=round(r["global_batch_seqs"] * r["seq_len"] / r["tok"], 4), notes=notes(r),
    tp_overlap="none", inter_node_gbps=2400, stack_options="fp8_recipe=delayed",
    container="Intel Gaudi software 1.18.0, PyTorch 2.4.0, HabanaAI/Megatron-DeepSpeed 1.18.0 + Intel Gaudi DeepSpeed",
    provenance=PAGE, config_provenance=MDS + "README.md", read_date="2026-12-06",
    tokens_per_s_printed=r["tok"], tokens_per_s_printed_1_19=r["tok119"]) for r in rows]
write_csv(sys.argv[1] if len(sys.argv) > 1 else OUT, out, cols)
