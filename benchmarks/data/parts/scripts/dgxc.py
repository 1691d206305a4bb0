"""Builder of ``benchmarks/data/dgxc_runs.csv``: NVIDIA DGX Cloud Benchmarking recipes
(github.com/NVIDIA/dgxc-benchmarking), the measured training step times their workload READMEs
print, one row per (container, model, precision, GPU count).

Run: ``python benchmarks/data/parts/scripts/dgxc.py`` (rewrites the CSV). The tables below are the
READMEs' "Training step time (seconds per step)" rows copied verbatim, with the same tables'
"Throughput in tokens per second" and "Model flops utilization" rows kept as checks: the builder
asserts tokens/s = seq x GBS / step (0.5%) and MFU = GBS x (README FLOP formula) / step / GPUs /
peak (0.5 points), so a mis-copied cell fails here. Where two commits print the same table (same
container), the row is kept once and ``also_at`` names the other commit.

Included: the NeMo-Launcher-era READMEs (GSW 25.01 / 25.02, containers nemo:24.09 and nemo:24.12,
DGX H100), and the GSW 25.05 READMEs of NeMo 2's ``scripts.performance`` era: ``nemotron/README.md``
(commit dc1028f6, nemo:25.04.00: GB200 NVL72 Nemotron-4 340B weak- and strong-scaling tables and H100
rows) and ``llama3.1/README.md`` (commit 1f6d9f40, nemo:25.04.01: GB200 NVL72 Llama 3.1 405B weak
scaling and H100 rows). Not included: the NeMo 2 llama3.1 tables at commit 741c8860
(nemo:25.02.01; the 405B proxies there split 30 and 62 layers over PP4 x VP8 = 32 chunks, unevenly, and
the run settings live in that container's NeMo scripts, not in the index); the later READMEs
(Megatron-Bridge, B200/GB200/GB300) print layouts only, no measurements (llama3.1/README.md @db1b14c4).
The NeMo 2 tables' MFU uses a different (GQA-aware) FLOP formula than the 2024 READMEs; only their
tokens/s is checked here.
"""
from __future__ import annotations

from pathlib import Path

from parts_csv import write_csv
from together_reruns import average, mean_run, runs_of

READ = "2026-11-30"
REPO = "https://github.com/NVIDIA/dgxc-benchmarking/blob/{commit}/{path}"
C143 = "143b90dd91f9be958fed4773ae95d941a3356a82"
CE6A = "e6afea3aea32cdbe8c7fdc4f5c385d11272152a3"
C8F5 = "8f5cbb3799ea8cc031ed2c2cee1cbdbc15b240ad"
C0B7 = "0b71cfda5163540778e2a3d2db59858bf62f96f7"
C35A = "35a9aecc8d5b17d99d80f52f38c75ade0dbab7ae"

# architecture (the READMEs' FLOP notes and the launcher configs they run)
ARCH = {
    "Llama 3.1 8B": dict(layers=32, hidden=4096, heads=32, kv_heads=8, ffn_hidden=14336, vocab=128256, seq_len=8192),
    "Llama 3.1 70B": dict(layers=80, hidden=8192, heads=64, kv_heads=8, ffn_hidden=28672, vocab=128256, seq_len=8192),
    "Llama 3.1 405B": dict(layers=126, hidden=16384, heads=128, kv_heads=16, ffn_hidden=53248, vocab=128256, seq_len=8192),
    "Nemotron-4 15B": dict(layers=32, hidden=6144, heads=48, kv_heads=8, ffn_hidden=24576, vocab=256000, seq_len=4096),
    "Nemotron-4 340B": dict(layers=96, hidden=18432, heads=96, kv_heads=8, ffn_hidden=73728, vocab=256000, seq_len=4096),
}
PEAK = {"bf16": 989e12, "fp8": 1979e12}  # the READMEs' H100 peaks


def readme_flops(model, layers, seq):
    """Model FLOPs per sequence as the README's Notes section writes them (no causal halving)."""
    a = ARCH[model]
    h, f, V, g, n = a["hidden"], a["ffn_hidden"], a["vocab"], a["kv_heads"], a["heads"]
    if model.startswith("Llama"):  # 12 l h^2 (1 + g/a + s/h) + 18 l f h + 6 V h
        return seq * (12 * layers * h * h * (1 + g / n + seq / h) + 18 * layers * f * h + 6 * V * h)
    # Nemotron: 24 l h^2 + 12 l h s + 48 l h^2 + 6 V h
    return seq * (24 * layers * h * h + 12 * layers * h * seq + 48 * layers * h * h + 6 * V * h)


# what each model's recipe runs (launcher config named per row in ``config``)
RECIPE = {
    "Llama 3.1 8B": dict(
        tp=1, cp=2, mbs=1, recompute="none", tp_overlap="none", zero="mcore distributed optimizer",
        config="NeMo-Framework-Launcher launcher_scripts/conf/training/llama/llama3_1_8b.yaml (copied into $STAGE_PATH/cfg "
               "by the recipe's setup.sh): activations_checkpoint_granularity null, sequence_parallel false, "
               "ub_tp_comm_overlap false, optim mcore_distributed_optim (overlap_grad_sync/param_sync true)"),
    "Llama 3.1 70B": dict(
        tp=4, cp=2, mbs=1, recompute="none; sequence parallel", tp_overlap="te", zero="distributed optimizer (distributed_fused_adam)",
        config="NeMo-Framework-Launcher llama3_1_70b.yaml: activations_checkpoint_granularity null, sequence_parallel true, "
               "ub_tp_comm_overlap true (ub_cfg_h100_h8192_tp4_mbs1_seqlen8192), overlap_p2p_comm true, "
               "optim distributed_fused_adam (overlap_grad_sync/param_sync true); README fixes TP4 PP4 CP2 VP5"),
    "Llama 3.1 405B": dict(
        tp=8, cp=2, mbs=1, recompute="none; sequence parallel", tp_overlap="te", zero="distributed optimizer (distributed_fused_adam)",
        config="NeMo-Framework-Launcher llama3_1_405b.yaml: activations_checkpoint_granularity null, sequence_parallel true, "
               "ub_tp_comm_overlap true (ub_cfg_h100_bf16_h16384_tp8_cp2_mbs1_seqlen8192; configure.sh sets fp8_buf for fp8), "
               "optim distributed_fused_adam; configure.sh: proxies 32 GPUs 7 layers PP1, 96 GPUs 21 layers PP3, "
               "192 GPUs 42 layers PP3 (the README's Layers/PP/VP rows)"),
    "Nemotron-4 15B": dict(
        tp=4, cp=1, mbs=4, recompute="none; sequence parallel", tp_overlap="te", zero="mcore distributed optimizer",
        config="dgxc-benchmarking nemotron/nemotron4-15b-synth.yaml @8f5cbb37 (the run config; README @0b71cfda points at "
               "NeMo-Framework-Launcher 24.12 nemotron_15b.yaml): activations_checkpoint_granularity null, sequence_parallel "
               "true, ub_tp_comm_overlap true, optim mcore_distributed_optim, MBS 4 (README)"),
    # the yaml says ub_tp_comm_overlap False, but the recipe's configure.sh (@35a9aecc, the README's
    # commit, and @8f5cbb37) appends model.ub_tp_comm_overlap=True to CONFIG_OVERRIDES for every
    # model size, and for 340b sets the userbuffers env (NVTE_UB_SPLIT_AG, LN SM margins): the run
    # had TE's TP comm overlap on
    "Nemotron-4 340B": dict(
        tp=8, cp=1, mbs=1, recompute="selective (attention core); sequence parallel", tp_overlap="te",
        zero="distributed optimizer (distributed_fused_adam, grad_sync_dtype bf16)",
        config="dgxc-benchmarking nemotron/nemotron4-340b-synth.yaml @8f5cbb37: activations_checkpoint_granularity "
               "selective, sequence_parallel true, ub_tp_comm_overlap False (overridden: nemotron/configure.sh "
               "@35a9aecc CONFIG_OVERRIDES 'model.ub_tp_comm_overlap=True', with NVTE_UB_SPLIT_AG and "
               "NVTE_FWD/BWD_LAYERNORM_SM_MARGIN for 340b, overlap_p2p_comm=True, batch_p2p_comm=False), optim "
               "distributed_fused_adam with grad_sync_dtype bf16, TP8 PP8 VP12 MBS1 (README)",
        attn="TE flash-attn backend (nemotron/configure.sh @35a9aecc sets NVTE_FUSED_ATTN=0 for 340b; not "
             "modelled: the megatron-core stack's attention kernel is cuDNN fused attention)"),
}
#: the attention backend the recipe's configure.sh selects (RECIPE ``attn`` overrides it)
ATTN = "TE cuDNN fused attention (configure.sh NVTE_FUSED_ATTN=1, NVTE_FLASH_ATTN=0)"
FP8 = ("fp8 (TE hybrid E4M3/E5M2, delayed scaling: fp8_amax_history_len 1024, fp8_amax_compute_algo max; "
       "configure.sh model.fp8=true fp8_hybrid=true)")

# (container, gsw, model, precision, commit, also_at, path, table title, columns)
# columns: list of (gpus, layers, pp, vp, gbs, step_s, tokens_per_s, mfu_pct)
def weak(gpus, step, tok, mfu, layers, pp, vp, gbs_fn):
    return [(g, layers, pp, vp, gbs_fn(g), s, t, m) for g, s, t, m in zip(gpus, step, tok, mfu)]


G8 = [8, 16, 32, 64, 128]
G70 = [64, 128, 256, 512, 1024, 2048]
G15 = [16, 32, 64, 128, 256, 512, 1024, 2048]
G340 = [128, 256, 512, 1024, 2048]
L405 = dict(gpus=[32, 96, 192, 576, 1152, 2304], layers=[7, 21, 42, 126, 126, 126], gbs=[126, 126, 252, 252, 504, 1008],
            pp=[1, 3, 3, 9, 9, 9], vp=[None, 7, 7, 7, 7, 7])


def l405(step, tok, mfu):
    L = L405
    return [(g, l, p, v, b, s, t, m) for g, l, p, v, b, s, t, m in
            zip(L["gpus"], L["layers"], L["pp"], L["vp"], L["gbs"], step, tok, mfu)]


TABLES = [
    # ---- nemo:24.09 (GSW 25.01)
    ("24.09", "25.01", "Llama 3.1 8B", "bf16", CE6A, "", "llama3.1/README_8b.md",
     "Llama 3.1 8b BF16 (TP=1, PP=1, CP=2, MBS=1, GA=32)",
     weak(G8, [12.91, 13.00, 13.05, 13.08, 13.10], [81222, 161319, 321403, 641331, 1280704],
          [59.37, 58.96, 58.73, 58.60, 58.51], 32, 1, None, lambda g: 16 * g)),
    ("24.09", "25.01", "Llama 3.1 8B", "fp8", CE6A, "", "llama3.1/README_8b.md",
     "Llama 3.1 8b FP8 (TP=1, PP=1, CP=2, MBS=1, GA=32)",
     weak(G8, [9.67, 9.73, 9.75, 9.80, 9.82], [108436, 215535, 430185, 855980, 1708474],
          [39.63, 39.39, 39.31, 39.10, 39.02], 32, 1, None, lambda g: 16 * g)),
    ("24.09", "25.01", "Llama 3.1 70B", "bf16", C143, CE6A, "llama3.1/README_70b.md",
     "Llama 3.1 70b 24.09 BF16 (TP=4, PP=4, CP=2, VP=5, MBS=1, GA=64)",
     weak(G70, [14.72, 14.73, 14.8, 14.89, 14.92, 14.98], [71235, 142373, 283399, 563372, 1124478, 2248957],
          [54.10, 54.06, 53.81, 53.48, 53.38, 53.38], 80, 4, 5, lambda g: 2 * g)),
    ("24.09", "25.01", "Llama 3.1 70B", "fp8", C143, CE6A, "llama3.1/README_70b.md",
     "Llama 3.1 70b 24.09 FP8 (TP=4, PP=4, CP=2, VP=5, MBS=1, GA=64)",
     weak(G70, [11.01, 10.93, 11.16, 11.18, 11.28, 11.39], [95239, 191871, 375834, 750323, 1487342, 2945955],
          [36.17, 36.43, 35.68, 35.62, 35.30, 34.96], 80, 4, 5, lambda g: 2 * g)),
    ("24.09", "25.01", "Llama 3.1 405B", "bf16", CE6A, "", "llama3.1/README_405b.md",
     "Llama 3.1 405b BF16 (TP=8, PP=9, CP=2, VP=7, MBS=1, GA=63)",
     l405([8.85, 8.75, 16.93, 17.20, 17.52, 17.62], [116632, 117965, 121936, 120022, 235660, 468646],
          [58.63, 56.17, 57.25, 55.78, 54.76, 54.45])),
    ("24.09", "25.01", "Llama 3.1 405B", "fp8", CE6A, "", "llama3.1/README_405b.md",
     "Llama 3.1 405b FP8 (TP=8, PP=9, CP=2, VP=7, MBS=1, GA=63)",
     l405([5.80, 5.71, 11.00, 11.24, 11.31, 12.35], [178118, 180674, 187740, 183664, 365055, 668626],
          [44.77, 43.01, 44.07, 42.71, 42.45, 38.87])),
    ("24.09", "25.02", "Nemotron-4 340B", "bf16", C35A, C8F5, "nemotron/README_340b.md",
     "Nemotron4 340b 24.11 BF16 (TP=8, PP=8, MBS=1, GA=16, VP=12)",
     weak(G340, [4.61, 4.67, 4.7, 4.73, 4.84], [28432, 56134, 111551, 221686, 433296],
          [55.38, 54.67, 54.32, 53.98, 52.75], 96, 8, 12, lambda g: g // 4)),
    ("24.09", "25.02", "Nemotron-4 340B", "fp8", C35A, C8F5, "nemotron/README_340b.md",
     "Nemotron4 340b 24.11 FP8 (TP=8, PP=8, MBS=1, GA=16, VP=12)",
     weak(G340, [3.16, 3.21, 3.26, 3.34, 3.49], [41478, 81665, 160825, 313945, 600903],
          [40.38, 39.75, 39.14, 38.20, 36.56], 96, 8, 12, lambda g: g // 4)),
    # ---- nemo:24.12 (GSW 25.02)
    ("24.12", "25.02", "Llama 3.1 8B", "bf16", C8F5, "", "llama3.1/README_8b.md",
     "Llama 3.1 8b BF16 (TP=1, PP=1, CP=2, MBS=1, GA=32)",
     weak(G8, [12.78, 12.99, 13.00, 13.00, 13.16], [82028, 161443, 322638, 645277, 1275155],
          [59.99, 59.03, 58.99, 58.99, 58.28], 32, 1, None, lambda g: 16 * g)),
    ("24.12", "25.02", "Llama 3.1 8B", "fp8", C8F5, "", "llama3.1/README_8b.md",
     "Llama 3.1 8b FP8 (TP=1, PP=1, CP=2, MBS=1, GA=32)",
     weak(G8, [9.44, 9.47, 9.60, 9.64, 9.73], [111054, 221358, 437088, 870639, 1725163],
          [40.59, 40.45, 39.94, 39.77, 39.41], 32, 1, None, lambda g: 16 * g)),
    ("24.12", "25.02", "Llama 3.1 70B", "bf16", C8F5, "", "llama3.1/README_70b.md",
     "Llama 3.1 70b BF16 (TP=4, PP=4, CP=2, VP=5, MBS=1, GA=64)",
     weak(G70, [14.61, 14.70, 14.72, 14.80, 14.86, 14.84], [71756, 142663, 284881, 566797, 1129246, 2260623],
          [54.52, 54.20, 54.12, 53.84, 53.63, 53.68], 80, 4, 5, lambda g: 2 * g)),
    ("24.12", "25.02", "Llama 3.1 70B", "fp8", C8F5, "", "llama3.1/README_70b.md",
     "Llama 3.1 70b FP8 (TP=4, PP=4, CP=2, VP=5, MBS=1, GA=64)",
     weak(G70, [10.46, 10.52, 10.75, 10.76, 10.83, 10.99], [100275, 199292, 390167, 779393, 1549142, 3053178],
          [38.08, 37.84, 37.04, 37.00, 36.77, 36.23], 80, 4, 5, lambda g: 2 * g)),
    ("24.12", "25.02", "Llama 3.1 405B", "bf16", C8F5, "", "llama3.1/README_405b.md",
     "Llama 3.1 405b BF16 (TP=8, PP=9, CP=2, VP=7, MBS=1, GA=63)",
     l405([9.00, 8.87, 17.30, 17.50, 17.60, 17.70], [114637, 116342, 119328, 117964, 234589, 466527],
          [57.65, 55.41, 56.03, 54.85, 54.54, 54.23])),
    ("24.12", "25.02", "Llama 3.1 405B", "fp8", C8F5, "", "llama3.1/README_405b.md",
     "Llama 3.1 405b FP8 (TP=8, PP=9, CP=2, VP=7, MBS=1, GA=63)",
     l405([5.75, 5.63, 10.8, 11.00, 11.10, 11.20], [179511, 183337, 191146, 187671, 371961, 737280],
          [45.12, 43.65, 44.87, 43.61, 43.22, 42.83])),
    ("24.12", "25.02", "Nemotron-4 15B", "bf16", C0B7, C8F5, "nemotron/README_15b.md",
     "Nemotron4 15b BF16 (TP=4, PP=1, MBS=4, GA=4)",
     weak(G15, [2.812, 2.824, 2.845, 2.859, 2.852, 2.875, 2.895, 2.887],
          [93223, 185654, 368568, 733526, 1470654, 2917777, 5795239, 11622595],
          [62.49, 62.23, 61.77, 61.47, 61.62, 61.12, 60.70, 60.87], 32, 1, None, lambda g: 4 * g)),
    ("24.12", "25.02", "Nemotron-4 15B", "fp8", C0B7, C8F5, "nemotron/README_15b.md",
     "Nemotron4 15b FP8 (TP=4, PP=1, MBS=4, GA=4)",
     weak(G15, [2.039, 2.046, 2.048, 2.059, 2.075, 2.12, 2.094, 2.12],
          [128565, 256250, 512000, 1018529, 2021351, 3956891, 8012042, 15827562],
          [43.07, 42.92, 42.88, 42.65, 42.32, 41.43, 41.94, 41.43], 32, 1, None, lambda g: 4 * g)),
]
CONTAINER_NOTE = {
    "24.09": "nvcr.io/nvidia/nemo:24.09 (NeMo Launcher, Megatron-Core GPT)",
    "24.12": "nvcr.io/nvidia/nemo:24.12 (NeMo Launcher, Megatron-Core GPT)",
}
COLS = ["id", "source", "table", "model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab",
        "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp",
        "zero_or_fsdp", "recompute", "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric", "value",
        "notes", "tp_overlap", "inter_node_gbps", "container", "gsw_version", "commit", "also_at", "provenance", "read_date",
        "tokens_per_s_printed", "mfu_pct_printed", "model_flops_per_seq_readme"]
SHORT = {"Llama 3.1 8B": "llama31-8b", "Llama 3.1 70B": "llama31-70b", "Llama 3.1 405B": "llama31-405b",
         "Nemotron-4 15B": "nemotron4-15b", "Nemotron-4 340B": "nemotron4-340b"}
PARAMS = {"Llama 3.1 8B": 8, "Llama 3.1 70B": 70, "Llama 3.1 405B": 405, "Nemotron-4 15B": 15, "Nemotron-4 340B": 340}


def rows():
    out = []
    for container, gsw, model, prec, commit, also, path, title, cols in TABLES:
        a, rc = ARCH[model], RECIPE[model]
        for gpus, layers, pp, vp, gbs, step, tok, mfu in cols:
            seq = a["seq_len"]
            tp, cp, mbs = rc["tp"], rc["cp"], rc["mbs"]
            dp = gpus // (tp * pp * cp)
            assert dp * tp * pp * cp == gpus and gbs % (dp * mbs) == 0, (model, gpus)
            assert abs(seq * gbs / step / tok - 1) < 0.005, (model, prec, gpus, seq * gbs / step, tok)
            fl = readme_flops(model, layers, seq)
            mfu_chk = gbs * fl / step / gpus / PEAK[prec] * 100
            assert abs(mfu_chk - mfu) < 0.5, (model, prec, gpus, mfu_chk, mfu)
            proxy = layers != a["layers"]
            rid = (f"dgxc_{container.replace('.', '')}_{SHORT[model]}{f'-{layers}l' if proxy else ''}_{prec}_{gpus}")
            notes = (f"Measured step time as printed ('Training step time (seconds per step)'; the README takes the last "
                     f"of 50 steps' train_step_timing). GA = {gbs // (dp * mbs)}. Recipe: {rc['config']}. "
                     f"Attention: {rc.get('attn', ATTN)}. "
                     "Network: DGX H100, 8 GPUs a node (README: 'N_GPUS_PER_NODE is 8 for DGX H100'); NICs not stated "
                     "in the recipe: DGX H100's 8 x 400 Gb/s InfiniBand taken.")
            if proxy:
                notes += f" PROXY config: {layers} of {a['layers']} layers (README: 'proxy configs are not realistic')."
            if gpus == 96 and model == "Llama 3.1 405B" and container == "24.09" and prec == "bf16":
                notes += " Step cell printed as '8.7  5' (typo): 8.75, confirmed by the printed 117965 tokens/s."
            out.append(dict(
                id=rid, source="NVIDIA/dgxc-benchmarking (DGX Cloud Benchmarking recipes), workload README 'Expected Performance'",
                table=title, model=model, params_b=PARAMS[model], layers=layers, hidden=a["hidden"], heads=a["heads"],
                kv_heads=a["kv_heads"], ffn_hidden=a["ffn_hidden"], vocab=a["vocab"], seq_len=seq, moe_experts="", moe_topk="",
                global_batch_seqs=gbs, micro_batch=mbs, tp=tp, pp=pp, dp=dp, cp=cp, vpp=vp or "",
                zero_or_fsdp=rc["zero"], recompute=rc["recompute"], precision=FP8 if prec == "fp8" else "bf16",
                gpu="H100-SXM5-80GB", num_gpus=gpus, gpus_per_node=8,
                interconnect="DGX H100: NVLink4/NVSwitch intra-node; 8 x 400 Gb/s InfiniBand per node (not stated in the recipe)",
                metric="iteration_time_s", value=step, notes=notes, tp_overlap=rc["tp_overlap"], inter_node_gbps=8 * 400,
                container=CONTAINER_NOTE[container], gsw_version=gsw, commit=commit, also_at=also,
                provenance=REPO.format(commit=commit, path=path), read_date=READ,
                tokens_per_s_printed=tok, mfu_pct_printed=mfu, model_flops_per_seq_readme=f"{fl:.6e}"))
    out += nemo2_rows()
    ids = [r["id"] for r in out]
    assert len(ids) == len(set(ids))
    return out


# ---- GSW 25.05 READMEs (NeMo 2 performance scripts): nemotron/README.md @dc1028f6 (nemo:25.04.00) and
# llama3.1/README.md @1f6d9f40 (GSW 25.05.04, nemo:25.04.01)
CDC1 = "dc1028f6747827b7bf4552de5a5000671aea6a24"
C1F6 = "1f6d9f40e4117d7c71b726f86074ac01c29f87f5"
NEMO2_RUN = {
    "nemotron": dict(
        commit=CDC1, path="nemotron/README.md", fw="25.04.00", gsw="25.05",
        config="dgxc-benchmarking nemotron/launch.sh @dc1028f6: FW_VERSION=25.04.00, runs NeMo "
               "scripts.performance.llm.pretrain_nemotron4_{size} with -tp/-pp/-cp/-gb/-mb/-vp as the row, '-fsdp 0 "
               "--cuda_graphs true' on GB200 (not modelled: the planner has no CUDA-graph option), GPUS_PER_NODE 4 (GB200 "
               "compute tray) / 8 (H100). NeMo recipe nemotron4_{size}.pretrain_recipe(performance_mode=True) (read at NeMo "
               "01d03c17 / 023dfbe6; the container's r2.3.0 commit 00b778eb named by nemotron/setup.sh @14fb6ae6 is not in "
               "the index): MegatronCommOverlapCallback(tp_comm_overlap=True), distributed_fused_adam (Megatron distributed "
               "optimizer), sequence parallel, no recompute{extra}; pretrain_nemotron4_340b.py sets the userbuffers "
               "userbuffers_*_b200_h18432_tp8_mbs1_seqlen4096 config for gb200."),
    "llama": dict(
        commit=C1F6, path="llama3.1/README.md", fw="25.04.01", gsw="25.05.04",
        config="dgxc-benchmarking llama3.1/launch.sh @1f6d9f40: FW_VERSION=25.04.01, runs NeMo "
               "scripts.performance.llm.pretrain_llama31_405b with -tp/-pp/-cp/-vp/-mb/-gb as the row and -fsdp 0, "
               "GPUS_PER_NODE 4 (GB200) / 8 (H100); CUDA graphs not set by launch.sh (the performance scripts' per-GPU "
               "config CSV decides; not modelled). NeMo recipe llama31_405b.pretrain_recipe(performance_mode=True) (read at "
               "NeMo 00aa2e12): MegatronCommOverlapCallback(tp_comm_overlap=True, ...), distributed_fused_adam, no "
               "recompute (Llama31Config405B sets none), fp32 gradient reduction in bf16 (not changed by the recipe){extra}."),
}
FP8_DS = ("fp8 (TE hybrid, per-tensor delayed scaling: NeMo scripts/performance argument_parser.py '--fp8_recipe' "
          "default 'ds' (choices ds/cs/mxfp8 in that era))")
NEMO2 = [
    # (run, gpu key, model, precision, table, scaling, [(gpus, gbs, step, tokens)])
    ("nemotron", "GB200", "Nemotron-4 340B", "bf16", "Nemotron 340b BF16 GB200", "weak",
     [(128, 32, 2.189, 59877), (256, 64, 2.19, 119700), (512, 128, 2.229, 235212)]),
    ("nemotron", "GB200", "Nemotron-4 340B", "fp8", "Nemotron 340b FP8 GB200", "weak",
     [(128, 32, 1.483, 88383), (256, 64, 1.517, 172804), (512, 128, 1.549, 338468)]),
    ("nemotron", "GB200", "Nemotron-4 340B", "bf16", "Nemotron 340b BF16 GB200 Strong Scaling", "strong",
     [(128, 512, 32.66, 64211), (256, 512, 16.58, 126486), (512, 512, 8.468, 247656)]),
    ("nemotron", "GB200", "Nemotron-4 340B", "fp8", "Nemotron 340b FP8 GB200 Strong Scaling", "strong",
     [(128, 512, 21.83, 96067), (256, 512, 11.21, 187078), (512, 512, 5.668, 369998)]),
    ("nemotron", "H100", "Nemotron-4 340B", "bf16", "Nemotron4 340b BF16 H100", "single", [(256, 64, 4.606, 56913)]),
    ("nemotron", "H100", "Nemotron-4 340B", "fp8", "Nemotron4 340b FP8 H100", "single", [(256, 64, 3.107, 84372)]),
    ("nemotron", "H100", "Nemotron-4 15B", "bf16", "Nemotron4 15b BF16 H100", "single", [(16, 64, 2.746, 95463)]),
    ("nemotron", "H100", "Nemotron-4 15B", "fp8", "Nemotron4 15b FP8 H100", "single", [(16, 64, 1.988, 131863)]),
    ("llama", "GB200", "Llama 3.1 405B", "bf16", "Llama3.1 405b BF16 (GB200 Performance)", "weak",
     [(128, 64, 9.347, 56092), (256, 128, 9.484, 110563), (512, 256, 9.508, 220567)]),
    ("llama", "GB200", "Llama 3.1 405B", "fp8", "Llama3.1 405b FP8 (GB200 Performance)", "weak",
     [(128, 64, 6.131, 85514), (256, 128, 6.183, 169590), (512, 256, 6.244, 335867)]),
    ("llama", "H100", "Llama 3.1 405B", "bf16", "Llama3.1 405b BF16 (H100 Performance)", "single", [(512, 256, 19.810, 105863)]),
    ("llama", "H100", "Llama 3.1 405B", "fp8", "Llama3.1 405b FP8 (H100 Performance)", "single", [(512, 256, 13.020, 161072)]),
]
#: launch.sh layouts per (GPU, model): tp, pp, cp, vp, mbs
NEMO2_LAYOUT = {("GB200", "Nemotron-4 340B"): (8, 4, 1, 12, 1), ("H100", "Nemotron-4 340B"): (8, 8, 1, 12, 1),
                ("H100", "Nemotron-4 15B"): (2, 1, 1, None, 2),
                ("GB200", "Llama 3.1 405B"): (4, 8, 2, 8, 1), ("H100", "Llama 3.1 405B"): (8, 8, 2, 8, 1)}
#: the systems: catalog GPU column text, GPUs per NVLink domain (None: ``nvl72_segment_gpus``), scale-out Gb/s
#: per GPU, fabric text
NEMO2_SYSTEM = {
    "H100": ("H100-SXM5-80GB", 8, 400,
             "DGX H100: NVLink4/NVSwitch intra-node; 8 x 400 Gb/s InfiniBand per node (not stated in the recipe)"),
    "GB200": ("GB200 (NVL72 rack)", None, 400,
              "GB200 NVL72: the job's NVLink5 domains are {gpn} GPUs (the planner's 'node'): {trays} of a rack's 18 4-GPU "
              "compute trays, the --segment the NeMo performance scripts' slurm_executor requests for {nodes} trays "
              "(launch.sh GPUS_PER_NODE=4); scale-out one 400 Gb/s ConnectX-7 InfiniBand NIC per GPU (GB200 NVL72 "
              "reference design; not stated in the recipe) = {gpn} x 400 Gb/s per domain"),
}
RACK_TRAYS, TRAY_GPUS = 18, 4  # GB200 NVL72: 18 compute trays of 4 GPUs


def nvl72_segment_gpus(gpus: int) -> int:
    """GPUs per NVLink domain of a GB200 job launched by NeMo's performance scripts: their Slurm executor
    (NVIDIA/NeMo scripts/performance/executors.py ``slurm_executor`` @03ee6d51, and helpers.py ``slurm_executor`` of
    the earlier layout: "add --segment flag to sbatch if job uses GB200 and goes beyond one rack") sets, for 4 GPUs
    a node and more than 18 nodes, ``segment`` = the largest divisor of the node count that is <= 18: Slurm then
    places the job in blocks of that many trays, one block per rack (two blocks of more than 9 trays cannot share
    an 18-tray rack). A job of at most 18 trays gets no segment: one rack."""
    nodes = -(-gpus // TRAY_GPUS)
    if nodes <= RACK_TRAYS:
        return gpus
    return TRAY_GPUS * next(s for s in range(RACK_TRAYS, 0, -1) if nodes % s == 0)


def nemo2_rows():
    out = []
    for run, gkey, model, prec, title, scaling, cols in NEMO2:
        a, R = ARCH[model], NEMO2_RUN[run]
        tp, pp, cp, vp, mbs = NEMO2_LAYOUT[(gkey, model)]
        gpu, gpn_fixed, nic_gbps, fabric_fmt = NEMO2_SYSTEM[gkey]
        for gpus, gbs, step, tok in cols:
            seq = a["seq_len"]
            gpn = gpn_fixed or nvl72_segment_gpus(gpus)
            fabric = fabric_fmt.format(gpn=gpn, trays=gpn // TRAY_GPUS, nodes=gpus // TRAY_GPUS)
            dp = gpus // (tp * pp * cp)
            assert dp * tp * pp * cp == gpus and gbs % (dp * mbs) == 0, (model, gpus)
            assert abs(seq * gbs / step / tok - 1) < 0.005, (model, prec, gpus, seq * gbs / step, tok)
            # bf16 gradient reduction: the 340B recipe's performance mode sets it for both precisions; the
            # performance scripts set it for every fp8 run (NeMo scripts/performance/helpers.py
            # ``set_precision_configs`` @02a0e6a5: under ``compute_dtype == "fp8"``,
            # ``recipe.trainer.plugins.grad_reduce_in_fp32 = False``; the same line in dgxc's own 25.02 run script,
            # llama3.1/pretrain_llama31.py @741c8860; MegatronStrategy copies the precision plugin's dtype config
            # onto the DDP config)
            extra = ""
            if model.endswith("340B"):
                extra = ", grad_reduce_in_fp32=False (bf16 gradient reduction)"
            elif prec == "fp8":
                extra = (", grad_reduce_in_fp32=False (bf16 gradient reduction) for fp8 (performance scripts' helpers.py "
                         "set_precision_configs)")
            cfg = R["config"].format(size=SHORT[model].split("-")[-1], extra=extra)
            notes = (f"Measured step time as printed (mean of iterations 11-44, parse_train_timing.sh). {scaling} "
                     f"scaling table; GA = {gbs // (dp * mbs)}. Recipe: {cfg}")
            rid = f"dgxc_2504_{SHORT[model]}-{gkey.lower()}{'-strong' if scaling == 'strong' else ''}_{prec}_{gpus}"
            out.append(dict(
                id=rid, source="NVIDIA/dgxc-benchmarking (DGX Cloud Benchmarking recipes), workload README 'Expected Performance'",
                table=title, model=model, params_b=PARAMS[model], layers=a["layers"], hidden=a["hidden"], heads=a["heads"],
                kv_heads=a["kv_heads"], ffn_hidden=a["ffn_hidden"], vocab=a["vocab"], seq_len=seq, moe_experts="", moe_topk="",
                global_batch_seqs=gbs, micro_batch=mbs, tp=tp, pp=pp, dp=dp, cp=cp, vpp=vp or "",
                zero_or_fsdp="distributed optimizer (distributed_fused_adam)", recompute="none; sequence parallel",
                precision=FP8_DS if prec == "fp8" else "bf16",
                gpu=gpu, num_gpus=gpus, gpus_per_node=gpn, interconnect=fabric, metric="iteration_time_s", value=step,
                notes=notes, tp_overlap="te", inter_node_gbps=gpn * nic_gbps,
                container=f"nvcr.io/nvidia/nemo:{R['fw']} (NeMo 2, Megatron-Core)",
                gsw_version=R["gsw"], commit=R["commit"], also_at="",
                provenance=REPO.format(commit=R["commit"], path=R["path"]),
                read_date=READ, tokens_per_s_printed=tok, mfu_pct_printed="", model_flops_per_seq_readme=""))
    return out


# ---- Together AI's runs of the same recipes on its B200 cluster (togethercomputer/together-dgxc-benchmarking)
CTOG = "d275be993eb252fc734b7477b19ad5b4ee49ba56"
TOG_REPO = "https://github.com/togethercomputer/together-dgxc-benchmarking/blob/{commit}/{path}"
TOG_RESULTS = "tests/b200/slurm/nemotron4-15b/results.md"
TOG_BF16 = "tests/b200/scripts/nemotron4_15b/REPORT_BF16.md"
TOG_SETUP = (
    "Together AI B200 Slurm cluster: 8 x B200 per node, ConnectX-7 InfiniBand 400 Gb/s, 8 HCAs per node "
    "(results.md header; CONTEXT.md: NVLS disabled, SHARP not available). Container nvidia+nemo+26.02.00 running "
    "NVIDIA dgxc-benchmarking's Nemotron4-15B recipe (its 25.09 NeMo 2 configs) through compat_runner.py; "
    "distributed Adam; recompute not stated (the dgxc Nemotron-4 15B recipes set none); seq 4096.")
#: (precision, gpus, gbs, tp, step_s, tflops_per_gpu printed, jobs, path, notes); repeats of one configuration
#: through together_reruns.mean_run, the rule the re-runs are averaged in by (``average``)
TOGETHER = [
    ("bf16", 64, 256, 1, 0.9302, 1570.4, "81054", TOG_BF16,
     "REPORT_BF16.md 'Avg step time' (steps 3-49); results.md rounds it to 0.930. CUDA graphs enabled (REPORT_BF16.md)."),
    ("bf16", 256, 1024, 1, 1.0149, 1439.4, "81056", TOG_BF16,
     "REPORT_BF16.md 'Avg step time' (steps 3-49); results.md: 1.015. CUDA graphs enabled."),
    ("fp8", 64, 256, 1, 0.763, 1916.0, "81053", TOG_RESULTS,
     "results.md 'FP8 Results - 64 GPUs'; CONTEXT.md: steady steps 0.76-0.79 s, CUDA graphs disabled (FP8 graph-replay bug)."),
    ("fp8", 256, 512, 1, *mean_run([(0.457, 1594), (0.456, 1601), (0.458, 1594)]), "81057/81058/81059", TOG_RESULTS,
     "results.md 'Baseline' x3 (0.457, 0.456, 0.458 s; 1594/1601/1594 TFLOP/s): their mean. CUDA graphs disabled (compat_runner.py)."),
    ("fp8", 256, 1024, 1, 0.813, 1798.0, "81060", TOG_RESULTS, "results.md 'exp1: GBS=1024'. CUDA graphs disabled."),
    ("fp8", 256, 2048, 1, *mean_run([(1.544, 1892), (1.535, 1904)]), "81069/81072", TOG_RESULTS,
     "results.md 'exp6: GBS=2048' and its rerun (1.544, 1.535 s; 1892/1904 TFLOP/s): their mean. CUDA graphs disabled."),
    ("fp8", 256, 2560, 1, 1.899, 1923.0, "81071", TOG_RESULTS, "results.md 'exp7: GBS=2560'. CUDA graphs disabled."),
    ("fp8", 256, 512, 2, 0.558, 1308.0, "81066", TOG_RESULTS,
     "results.md 'exp2: TP=2': TE userbuffer segfault, run with tp_comm_overlap off. CUDA graphs disabled."),
    ("fp8", 256, 1024, 2, 1.063, 1375.0, "81067", TOG_RESULTS,
     "results.md 'exp3: TP=2+GBS1024', tp_comm_overlap off. CUDA graphs disabled."),
]
#: left out: 'exp4: NVLS' (NCCL NVLink SHARP on: an NCCL algorithm the planner does not model) and the
#: two profiler runs (81068, 81070: 'Due to overhead while profiling' runs are not performance runs)


#: the fp8 runs reduce bf16 gradients: their configs are the ones NeMo's scripts/performance/llm/
#: pretrain_nemotron4_15b.py generates (CONTEXT.md's experiment names, ``pretrain_nemotron4_15b_{dtype}_gpus64_tp1_
#: pp1_cp1_vp1_mbs2_gbs256``, are that script's ``exp_name``), whose helpers.py ``set_precision_configs`` (@02a0e6a5)
#: sets ``use_precision_aware_optimizer = True`` under bf16 (CONTEXT.md: "BF16 has use_precision_aware_optimizer:
#: true (FP8 has false)") and ``grad_reduce_in_fp32 = False`` under fp8, as for dgxc's own NeMo 2 fp8 rows above.
#: The fp8 256-GPU run's own memory report agrees: 77.0 GB peak allocated (profiler report, job 81057-81059) is
#: below the 93.8 GB that bf16 weights (2 B) and an fp32 gradient buffer (4 B) of 15.63e9 parameters take alone.
#: The bf16 runs keep the plugin's default fp32 reduction (the helper sets none for bf16).
TOG_FP8_GRAD = (", grad_reduce_in_fp32=False (bf16 gradient reduction) for fp8 (performance scripts' helpers.py "
                "set_precision_configs)")


def together_rows():
    a = ARCH["Nemotron-4 15B"]
    out = []
    for prec, gpus, gbs, tp, step, tfl, jobs, path, note in TOGETHER:
        mbs, dp = 2, gpus // tp
        assert gbs % (dp * mbs) == 0
        if prec == "fp8":
            note = note + TOG_FP8_GRAD.replace(", ", " Recipe: ", 1) + "."
        rid = f"together_nemotron4-15b_{prec}_{gpus}_gbs{gbs}" + (f"_tp{tp}" if tp > 1 else "")
        # the 2026-04-15 and later (worklog/) re-runs of the same configuration, by the rule both Together sources share
        assert not (runs_of(rid) and "/" in jobs), rid  # the rule takes each run: a re-run row is one job here
        step, tfl, rerun_note = average(rid, step, tfl, f"job {jobs}")
        note += rerun_note
        out.append(dict(
            id=rid, source="Together AI runs of NVIDIA dgxc-benchmarking's Nemotron4-15B recipe (togethercomputer/together-dgxc-benchmarking)",
            table=("Nemotron4 15B - B200 Benchmark Results" if path == TOG_RESULTS else "Nemotron4 15B BF16 Benchmark Report"),
            model="Nemotron-4 15B", params_b=15, layers=a["layers"], hidden=a["hidden"], heads=a["heads"],
            kv_heads=a["kv_heads"], ffn_hidden=a["ffn_hidden"], vocab=a["vocab"], seq_len=a["seq_len"], moe_experts="",
            moe_topk="", global_batch_seqs=gbs, micro_batch=mbs, tp=tp, pp=1, dp=dp, cp=1, vpp="",
            zero_or_fsdp="distributed optimizer (distributed Adam)",
            recompute="none (not stated); sequence parallel" if tp > 1 else "none (not stated)",
            precision="fp8 (TE hybrid, tensorwise recipe: current scaling)" if prec == "fp8" else "bf16",
            gpu="B200 (DGX B200, 180GB)", num_gpus=gpus, gpus_per_node=8,
            interconnect="8 x B200 per node, NVLink5; 8 x 400 Gb/s ConnectX-7 InfiniBand per node",
            metric="iteration_time_s", value=step, notes=f"Job {jobs}. {note} {TOG_SETUP}",
            tp_overlap="none" if tp > 1 else "", inter_node_gbps=8 * 400,
            container="nvidia+nemo+26.02.00 (NeMo 2 / Megatron-Core, dgxc 25.09 configs via compat_runner.py)",
            gsw_version="", commit=CTOG, also_at="", provenance=TOG_REPO.format(commit=CTOG, path=path), read_date=READ,
            tokens_per_s_printed="", mfu_pct_printed="",
            model_flops_per_seq_readme="", tflops_per_gpu_printed=tfl))
    return out


def write(name, rs, cols):
    dest = Path(__file__).resolve().parents[2] / name
    write_csv(dest, rs, cols)
    print(f"{len(rs)} rows -> {dest}")


def main():
    write("dgxc_runs.csv", rows(), COLS)
    write("together_b200_runs.csv", together_rows(), COLS + ["tflops_per_gpu_printed"])


if __name__ == "__main__":
    main()
