"""Builder of ``benchmarks/data/dlperf_megatron_runs.csv``: OneFlow's DLPerf benchmark of NVIDIA Megatron-LM GPT
pre-training on 1-4 nodes of 8 x V100-SXM2-16GB, one row per test case (``validate.dlperf_megatron``).

Run: ``python benchmarks/data/parts/scripts/dlperf_megatron.py`` (rewrites the CSV). The numbers below are typed from
Oneflow-Inc/DLPerf ``Megatron-LM/README.md`` (@248fcd8d; @01e43de4 prints the same tables), read 2026-12-06:

* "测试用例" (test cases): group, case, nodes, GPUs a node, data / tensor / pipeline parallel size, micro-batch,
  micro-batch x DP, accumulation steps, global batch, hidden size, attention heads, layers;
* "测试结果" (results): per case "lantency" [sic] in ms and "memory" in MiB;
* "测试日志" (logs): the log file each case's numbers come from (on OneFlow's OSS bucket, not read here).

The environment is the README's: Megatron-LM @8aa4619f (NVIDIA/Megatron-LM), container nvcr.io/nvidia/pytorch:20.12-py3,
"Tesla V100-SXM2-16GB x 8" a node, "InfiniBand 100 Gb/sec (4X EDR), Mellanox Technologies MT27700 Family" with one
HCA (``mlx5_0``) in the node's ``nvidia-smi topo -m`` (so 100 Gb/s a node), the GPUs' NV1 / NV2 NVLink mesh of that
topology. The run flags are the README's launch scripts' (``Megatron-LM/scripts/mutil_perf_pretrain_gpt_dp_mp_pp.sh``
@10f79798 and ``mutil_perf_pretrain_gpt_dp_mp_pp_1536_16_16.sh`` @80718877, the same training flags): seq 2048,
``--checkpoint-activations``, ``--fp16``, GPT-2 BPE vocabulary, no ``--DDP-impl`` (Megatron's default ``local``), no
``--accumulate-allreduce-grads-in-fp32``, no virtual pipeline stages.

Cross-check (``CHECK_SEQ_PER_S``): Oneflow-Inc/DLPerf ``reports/GPT/dlperf_gpt_test_report_210512.md`` (@4bdc37d9),
the English summary of the same runs, prints Megatron-LM's sequences/s per case; each is the case's global batch / its
latency to the printed two decimals (asserted below and in tests/test_dlperf_megatron_data.py). That report also says
"All models use a vocabulary size of 51,200"; Megatron-LM pads the 50,257 GPT-2 tokens to a multiple of 128 x TP
(``--make-vocab-size-divisible-by`` 128, ``_vocab_size_with_padding``): 51,200 at TP 8 and 16, ``vocab_padded``
per row here.
"""
from __future__ import annotations

import math
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[2] / "dlperf_megatron_runs.csv"
README = "https://github.com/Oneflow-Inc/DLPerf/blob/248fcd8d7e58e159ebee8396ebb03d0f2676ab03/Megatron-LM/README.md"
SCRIPT = ("https://github.com/Oneflow-Inc/DLPerf/blob/10f797983758738c95f10a4a3b1ecc00af1bd7ef/Megatron-LM/scripts/"
          "mutil_perf_pretrain_gpt_dp_mp_pp.sh")
REPORT = ("https://github.com/Oneflow-Inc/DLPerf/blob/4bdc37d90ada39b7f6639b19234181dc097f2dba/reports/GPT/"
          "dlperf_gpt_test_report_210512.md")
GPT2_VOCAB = 50257
VOCAB_DIVISOR = 128  # Megatron-LM --make-vocab-size-divisible-by default

#: the README's "测试用例" rows: case -> (nodes, GPUs a node, DP, TP, PP, micro-batch, accumulation steps, global
#: batch, hidden, heads, layers)
CASES = {
    "DP_1x1x1_2_1536x16": (1, 1, 1, 1, 1, 2, 1, 2, 1536, 16, 16),
    "DP_8x1x1_16_1536x16": (1, 8, 8, 1, 1, 2, 1, 16, 1536, 16, 16),
    "DP_16x1x1_32_1536x16": (2, 8, 16, 1, 1, 2, 1, 32, 1536, 16, 16),
    "DP_32x1x1_64_1536x16": (4, 8, 32, 1, 1, 2, 1, 64, 1536, 16, 16),
    "MP_1x1x1_8_768x12": (1, 1, 1, 1, 1, 8, 1, 8, 768, 12, 12),
    "MP_1x8x1_16_1536x16": (1, 8, 1, 8, 1, 16, 1, 16, 1536, 16, 16),
    "MP_1x16x1_16_3072x16": (2, 8, 1, 16, 1, 16, 1, 16, 3072, 32, 16),
    "MP_1x32x1_16_3072x32": (4, 8, 1, 32, 1, 16, 1, 16, 3072, 32, 32),
    "2D_8x1x1_16_1536x16": (1, 8, 8, 1, 1, 2, 1, 16, 1536, 16, 16),
    "2D_1x8x1_16_1536x16": (1, 8, 1, 8, 1, 16, 1, 16, 1536, 16, 16),
    "2D_2x4x1_16_1536x16": (1, 8, 2, 4, 1, 8, 1, 16, 1536, 16, 16),
    "2D_4x2x1_16_1536x16": (1, 8, 4, 2, 1, 4, 1, 16, 1536, 16, 16),
    "2D_2x8x1_16_2304x24": (2, 8, 2, 8, 1, 8, 1, 16, 2304, 24, 24),
    "2D_4x8x1_32_2304x24": (4, 8, 4, 8, 1, 8, 1, 32, 2304, 24, 24),
    "DP_PP_8x1x4_512_1536x16": (4, 8, 8, 1, 4, 2, 32, 512, 1536, 16, 16),
    "MP_PP_1x8x4_512_2304x24": (4, 8, 1, 8, 4, 16, 32, 512, 2304, 24, 24),
    "2D_PP_2x4x4_512_2304x24": (4, 8, 2, 4, 4, 8, 32, 512, 2304, 24, 24),
    "2D_PP_2x8x2_512_2304x24": (4, 8, 2, 8, 2, 8, 32, 512, 2304, 24, 24),
}
#: the README's "测试结果" rows: case -> (latency ms, memory MiB), as printed
RESULTS = {
    "DP_1x1x1_2_1536x16": (464.12, 14362), "DP_8x1x1_16_1536x16": (480.96, 14938),
    "DP_16x1x1_32_1536x16": (664.46, 14508), "DP_32x1x1_64_1536x16": (683.51, 14508),
    "MP_1x1x1_8_768x12": (611.2, 9810), "MP_1x8x1_16_1536x16": (692.44, 12684),
    "MP_1x16x1_16_3072x16": (5610.23, 12150), "MP_1x32x1_16_3072x32": (13037.85, 8834),
    "2D_8x1x1_16_1536x16": (480.22, 14938), "2D_1x8x1_16_1536x16": (664.64, 12684),
    "2D_2x4x1_16_1536x16": (576.48, 9104), "2D_4x2x1_16_1536x16": (593.68, 9642),
    "2D_2x8x1_16_2304x24": (1313.52, 14928), "2D_4x8x1_32_2304x24": (1508.48, 15004),
    "DP_PP_8x1x4_512_1536x16": (4893.55, 7130), "MP_PP_1x8x4_512_2304x24": (22166.85, 14204),
    "2D_PP_2x4x4_512_2304x24": (15331.23, 10018), "2D_PP_2x8x2_512_2304x24": (16281.51, 10554),
}
#: the README's "测试日志" cells: the log each case's numbers come from (the run's own naming)
LOGS = {
    "DP_1x1x1_2_1536x16": "perf_test_logs/megatron_lm_perf_1n1g_dp1_mp1_pp1_mbs2_gbs2_pretrain_0.log",
    "DP_8x1x1_16_1536x16": "perf_test_logs/megatron_lm_perf_1n8g_dp8_mp1_pp1_mbs2_gbs16_pretrain_0.log",
    "DP_16x1x1_32_1536x16": "perf_test_logs/megatron_lm_perf_2n8g_dp16_mp1_pp1_mbs2_gbs32_pretrain_[0-1].log",
    "DP_32x1x1_64_1536x16": "perf_test_logs/megatron_lm_perf_4n8g_dp32_mp1_pp1_mbs2_gbs64_pretrain_[0-3].log",
    "MP_1x1x1_8_768x12": "megatron_perf_logs/megatron_pretrain_gpt_1n1d_dp1_mp1_pp1_mbz8_gbz8_s2048_l12_h768_nh12_rank0.log",
    "MP_1x8x1_16_1536x16": "perf_test_logs/megatron_lm_perf_1n8g_dp1_mp8_pp1_mbs16_gbs16_pretrain_0.log",
    "MP_1x16x1_16_3072x16": "perf_test_logs/megatron_lm_perf_2n8g_dp1_mp16_pp1_mbs16_gbs16_MP_1x16x1_16_3072x16_[0-1].log",
    "MP_1x32x1_16_3072x32": "perf_test_logs/megatron_lm_perf_4n8g_dp1_mp32_pp1_mbs16_gbs16_pretrain_[0-3].log",
    "2D_8x1x1_16_1536x16": "megatron_perf_logs/megatron_pretrain_gpt_1n8d_dp8_mp1_pp1_mbz2_gbz16_s2048_l16_h1536_nh16_rank0.log",
    "2D_1x8x1_16_1536x16": "megatron_perf_logs/megatron_pretrain_gpt_1n8d_dp1_mp8_pp1_mbz16_gbz16_s2048_l16_h1536_nh16_rank0.log",
    "2D_2x4x1_16_1536x16": "megatron_perf_logs/megatron_pretrain_gpt_1n8d_dp2_mp4_pp1_mbz8_gbz16_s2048_l16_h1536_nh16_rank0.log",
    "2D_4x2x1_16_1536x16": "megatron_perf_logs/megatron_pretrain_gpt_1n8d_dp4_mp2_pp1_mbz4_gbz16_s2048_l16_h1536_nh16_rank0.log",
    "2D_2x8x1_16_2304x24": "megatron_perf_logs/megatron_pretrain_gpt_2n8d_dp2_mp8_pp1_mbz8_gbz16_s2048_l24_h2304_nh24_rank[0-1].log",
    "2D_4x8x1_32_2304x24": "megatron_perf_logs/megatron_pretrain_gpt_4n8d_dp4_mp8_pp1_mbz8_gbz32_s2048_l24_h2304_nh24_rank[0-3].log",
    "DP_PP_8x1x4_512_1536x16": "oneflow_perf_logs/megatron_lm_perf_4n8g_dp8_mp1_pp4_mbs2_gbs512_pretrain_1536_16_16_[0-3].log",
    "MP_PP_1x8x4_512_2304x24": "oneflow_perf_logs/megatron_lm_perf_4n8g_dp1_mp8_pp4_mbs16_gbs512_pretrain_[0-3].log",
    "2D_PP_2x4x4_512_2304x24": ("oneflow_perf_logs/megatron_pretrain_gpt_4n8d_dp2_mp4_pp4_mbz8_gbz512_s2048_l24_h2304_nh24_rank[0-3].log; "
                                "oneflow_perf_logs/megatron_lm_perf_4n8g_dp2_mp4_pp4_mbs8_gbs512_pretrain_[0-3].log"),
    "2D_PP_2x8x2_512_2304x24": ("oneflow_perf_logs/megatron_pretrain_gpt_4n8d_dp2_mp8_pp2_mbz8_gbz512_s2048_l24_h2304_nh24_rank[0-3].log; "
                                "oneflow_perf_logs/megatron_lm_perf_4n8g_dp2_mp8_pp2_mbs8_gbs512_pretrain_[0-3].log"),
}
#: the summary report's Megatron-LM column (sequences/s), the cross-check of each latency
CHECK_SEQ_PER_S = {
    "DP_1x1x1_2_1536x16": 4.31, "DP_8x1x1_16_1536x16": 33.27, "DP_16x1x1_32_1536x16": 48.16,
    "DP_32x1x1_64_1536x16": 93.63, "MP_1x1x1_8_768x12": 13.09, "MP_1x8x1_16_1536x16": 23.11,
    "MP_1x16x1_16_3072x16": 2.85, "MP_1x32x1_16_3072x32": 1.23, "2D_8x1x1_16_1536x16": 33.32,
    "2D_1x8x1_16_1536x16": 24.07, "2D_2x4x1_16_1536x16": 27.75, "2D_4x2x1_16_1536x16": 26.95,
    "2D_2x8x1_16_2304x24": 12.18, "2D_4x8x1_32_2304x24": 21.21, "DP_PP_8x1x4_512_1536x16": 104.63,
    "MP_PP_1x8x4_512_2304x24": 23.10, "2D_PP_2x4x4_512_2304x24": 33.40, "2D_PP_2x8x2_512_2304x24": 31.45,
}
NOTES = ("The results table's latency is the step of one global batch (its summary report's sequences/s = global batch / "
         "latency for every case); how many iterations it averages is not stated (520 iterations a run, logged every "
         "10). The two 8-GPU DP-only and the two 8-GPU TP-only cases are separate runs of one configuration (DP and 2D "
         "groups): 480.96 / 480.22 ms and 692.44 / 664.64 ms. memory_mib is not scored: how it was read is not "
         "stated (per-GPU use, as nvidia-smi shows it, would hold the CUDA context and the caching allocator's reserve)")
ASSUMPTIONS = ("Stated: GPU, nodes, layout, micro-batch, global batch, model shape, seq 2048, fp16, full activation "
               "checkpointing, Megatron-LM commit and container, one 100 Gb/s EDR HCA a node. From Megatron-LM's "
               "defaults (flags not passed): local DDP (gradients all-reduced after the whole backward), fp16 "
               "gradients (no --accumulate-allreduce-grads-in-fp32), hidden / attention dropout 0.1, Adam, the "
               "non-interleaved 1F1B schedule, vocabulary padded to 128 x TP, learned positions and tied embeddings "
               "(Megatron's GPT). Assumed: the catalog's NVLink2 150 GB/s a direction for the node's NV1 / NV2 mesh; "
               "NCCL over IB verbs (the DLPerf page installs the IB driver in the container so that NCCL does not fall "
               "back to sockets)")
COLS = ["id", "case", "group", "model", "layers", "hidden", "heads", "vocab", "vocab_padded", "seq_len", "num_nodes",
        "gpus_per_node", "num_gpus", "dp", "tp", "pp", "micro_batch", "grad_accum", "global_batch_seqs", "precision",
        "recompute", "gpu", "node_gpus", "inter_node_gbps", "interconnect", "stack_as_run", "latency_ms", "memory_mib",
        "check_seq_per_s", "log", "source_url", "script_url", "check_url", "date", "notes", "assumptions", "read_date"]


def padded_vocab(tp: int) -> int:
    """Megatron-LM's ``_vocab_size_with_padding``: the GPT-2 vocabulary up to a multiple of 128 x TP."""
    m = VOCAB_DIVISOR * tp
    return math.ceil(GPT2_VOCAB / m) * m


def rows() -> list[dict]:
    out = []
    for case, (nodes, gpn, dp, tp, pp, mb, acc, gb, h, heads, layers) in CASES.items():
        ms, mib = RESULTS[case]
        assert dp * tp * pp == nodes * gpn and mb * dp * acc == gb, case
        assert abs(gb / (ms / 1e3) - CHECK_SEQ_PER_S[case]) <= 0.006, case  # the summary report's two decimals
        out.append(dict(
            id="dlperf_megatron_" + case.lower(), case=case, group=case.split("_")[0] if "_PP_" not in case else "PP",
            model=f"gpt-{layers}x{h}", layers=layers, hidden=h, heads=heads, vocab=GPT2_VOCAB, vocab_padded=padded_vocab(tp),
            seq_len=2048, num_nodes=nodes, gpus_per_node=gpn, num_gpus=nodes * gpn, dp=dp, tp=tp, pp=pp, micro_batch=mb,
            grad_accum=acc, global_batch_seqs=gb, precision="fp16", recompute="full", gpu="V100-SXM2-16GB", node_gpus=8,
            inter_node_gbps=100,
            interconnect="InfiniBand 100 Gb/sec (4X EDR), one Mellanox MT27700 HCA (mlx5_0) a node; NVLink NV1 / NV2 mesh",
            stack_as_run="NVIDIA Megatron-LM @8aa4619f in nvcr.io/nvidia/pytorch:20.12-py3 (NCCL 2.8.3)",
            latency_ms=ms, memory_mib=mib, check_seq_per_s=CHECK_SEQ_PER_S[case], log=LOGS[case], source_url=README,
            script_url=SCRIPT, check_url=REPORT, date="2021-05-12", notes=NOTES, assumptions=ASSUMPTIONS,
            read_date="2026-12-06"))
    return out


if __name__ == "__main__":
    write_csv(OUT, rows(), COLS)
