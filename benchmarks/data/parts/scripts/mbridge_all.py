"""Builder of ``benchmarks/data/mbridge_all_runs.csv``: every stored version of Megatron-Bridge's
published pre-training performance tables (``docs/performance-summary.md`` and
``docs/performance-summary-archive.md`` in NVIDIA-NeMo/Megatron-Bridge and its forks), one row per
distinct measurement, minus the 14 rows already in ``published_runs_2.csv`` (source ``mbridge``).

Run: ``python benchmarks/data/parts/scripts/mbridge_all.py`` (rewrites the CSV).

The tables are kept verbatim in ``raw/mbridge/<section>.md``, one file per distinct version of a
release's section (``## <release> NeMo Container`` to the next release heading), transcribed from
the snapshot named first in ``SECTIONS``; the other snapshots listed there print the same numbers
(checked by reading each one: they differ only in layout -- "System:" vs "Model:" grouping -- in how
the FSDP column writes Megatron-FSDP on, "1" or the shard-group size "64"/"8", in row labels such as
"(tokendrop)" / "(w/o MTP)", or in translated headers). Where two snapshots of one release print
different numbers (25.11, 26.02, 26.04.01) each version is its own section.

Checks (``rows``): the layout multiplies out (TP x PP x CP x DP = GPUs, GBS a multiple of DP x MBS,
GA = GBS / (DP x MBS) where the table prints GA: where it does not, a parenthesised variant takes the GA-implied
MBS, a row printed on its own keeps its MBS and notes the GA cell), the rows whose layout cells are another row's
are corrected to their workload config (``LAYOUT_MISPRINTS``, with the reason in the row's notes), and each row's printed TFLOP/s over its printed
tokens/s (model FLOPs per token) agrees within 3% with the median of the same model and sequence
length across all releases, or within its own release (DeepSeek-V3 with and without its MTP module
apart: 4% fewer FLOPs without; Megatron-Bridge's FLOP counter for gpt-oss-120b moved +20% at 26.06): a mis-copied or mis-printed cell shows there (see
``EXCLUDED``). Step time = GBS x seq / (tokens/s/GPU x GPUs) is what ``validate.pr2_rows`` computes
from the ``tokens_per_s_per_gpu`` metric; ``step_time_s`` carries it for the data test.

Dedupe: a measurement is (release, system, model, precision, GPUs, GBS, MBS, seq, FSDP on/off, TP,
PP, CP, VP, EP, tokens/s). The first section holding it gives ``provenance``/``commit``; every other
section's snapshots go to ``also_at``. A later version of a release that reprints a row with a
different TFLOP/s but the same tokens/s keeps one row (noted).

The 25.09 "(tokendrop)" MoE rows are kept, with their own ids (``<preset>-tokendrop``) and notes: capacity
factor 1.0 padded to capacity, not force-balanced, alltoall dispatcher (``TOKENDROP``).

Left out (listed in ``LEFT_OUT`` with the reason; the builder prints the counts):

* models the planner has no preset for: Nemotron 3 Ultra (LatentMoE, MTP: no authoritative config in
  the code index), DeepSeek-V4 Flash (Nemotron 3 Nano, 3 Super and 3.5 Lightning are in, as presets
  nemotron-3-nano-30b-a3b, nemotron-3-super-120b-a12b, nemotron-3.5-lightning-30b-a3b);
* the 26.06 SFT and LoRA tables (fine-tuning on a dataset whose packing/lengths the page does not state);
* parenthesised variants with no tokens/s of their own (25.09 H100 DeepSeek-V3 "338 (330)");
* rows whose own footnote says the print is a known regression (``REGRESSION_FOOTNOTES``: 26.06.01's GB300 / GB200
  GPT-OSS 120B MXFP8, cudnn-frontend issue #256). Every other footnote a row carries goes into its notes.
"""
from __future__ import annotations

import re
from pathlib import Path

from dgxc import nvl72_segment_gpus
from parts_csv import write_csv

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw" / "mbridge"
DATA = Path(__file__).resolve().parents[2]
READ = "2026-11-30"
URL = "https://github.com/{repo}/blob/{commit}/{path}"
SUMMARY, ARCHIVE = "docs/performance-summary.md", "docs/performance-summary-archive.md"

# snapshots (repo, commit, path) read with the search index's read_file
NV_DF02 = ("NVIDIA-NeMo/Megatron-Bridge", "df0289c180dd20ff26933455c7a0a11084f6a36f", SUMMARY)
NV_00B7 = ("NVIDIA-NeMo/Megatron-Bridge", "00b7660be0254ac6f95f44164ddd0c3e9cc798ed", SUMMARY)
NV_ARCH = ("NVIDIA-NeMo/Megatron-Bridge", "0a25f911b2ed6c6905a539504fdb8e5b40e3438b", ARCHIVE)
ONEL = ("onel/nvidia-Megatron-Bridge", "18170e98aae1c8ff0fc253f1d69a38941fbb79bc", SUMMARY)
ZIDANE = ("zidanehuang001/Megatron-Bridge", "8e0fe90db6d83e179c775922836921443fda0435", SUMMARY)
NANZ = ("nanz-nv/Megatron-Bridge", "e6015aa87982289629d2c5431e62aaaf84ce6286", SUMMARY)
PUFANYI_A = ("pufanyi/Megatron-Bridge", "21a2ced8106754c746d0bbde686f35554992e4be", SUMMARY)
PUFANYI_B = ("pufanyi/Megatron-Bridge", "21abe156c23fa8c1a1422b6007f8428e4c315eb5", SUMMARY)
PABLO = ("pablo-garay/Megatron-Bridge", "ea29906309181eeb508a1dd66dd076e87af1a376", SUMMARY)
BEARNECK = ("bearneck/megatron-bridge-docs-zh", "18ffc53ad1922da5cc7dda45d5dbf2f94c557b70", SUMMARY)
RADIX = ("radixark/Megatron-Bridge", "d063066b4d66853c4c9308caf321a9c5b8836915", SUMMARY)
RADIX_ARCH = ("radixark/Megatron-Bridge", "d063066b4d66853c4c9308caf321a9c5b8836915", ARCHIVE)
BASETEN = ("basetenlabs/Megatron-Bridge", "c3a49348d1670a080d2aade4fbab9a4abb7da45b", SUMMARY)
BASETEN_ARCH = ("basetenlabs/Megatron-Bridge", "c3a49348d1670a080d2aade4fbab9a4abb7da45b", ARCHIVE)
BALA = ("balasaajay/Megatron-Bridge", "a5b89bb042d0b312d395a3d1a00a8b3ec49a903d", SUMMARY)
SLIKHITE = ("slikhite-1/Megatron-Bridge", "7e5c47ff501929ad41152da458f814c0925d6787", SUMMARY)
SVC = ("svcnemo-autobot/Megatron-Bridge", "52dfa15285ade0d59fdbe7ec6779992df2e491fc", SUMMARY)
SVC_ARCH = ("svcnemo-autobot/Megatron-Bridge", "52dfa15285ade0d59fdbe7ec6779992df2e491fc", ARCHIVE)
KAIKO = ("kaiko-ai/Megatron-Bridge", "34d4b04601673d2afe19686bd9e4347fd2581adc", SUMMARY)
SWISS = ("swiss-ai/Megatron-Bridge", "1a2ac1527567e9ae359e3af8e1dd13a355f90a67", SUMMARY)
OKOGE = ("okoge-kaz/Megatron-Bridge", "2e09c234a3272285140224d0d698593418b55ba5", SUMMARY)
OKOGE_ARCH = ("okoge-kaz/Megatron-Bridge", "2e09c234a3272285140224d0d698593418b55ba5", ARCHIVE)
#: snapshots with no numbers: y-okochi/Megatron-Bridge @1db19e64 and @477638a9 (25.09 placeholders,
#: "*Performance tables will be added here*"). Read only in part (read_file's first 16,000-32,000
#: characters; every release section in that part is listed in SECTIONS, the rest of the file, older
#: releases printed again, was not compared): SVC_ARCH (16,000 of 40,346: 26.06, 26.04.01),
#: BASETEN_ARCH (16,000 of 26,671: 26.04, 26.02.01, 26.02 in part), OKOGE_ARCH (32,000 of 48,005:
#: 26.08, 26.06.01, 26.06, 26.04.01, 26.04, 26.02.01 in part), RADIX_ARCH (16,000 of 19,922: 26.02.01,
#: 26.02, 25.11 in part), BEARNECK (16,000 of 17,370: 26.02.01, 26.02, 25.11, 25.09 in part).

#: section file -> (release, snapshots printing it; the first is the one transcribed)
SECTIONS = {
    "s2509": ("25.09", [NV_DF02, NV_ARCH, ONEL, ZIDANE, NANZ, PUFANYI_A, PABLO]),
    # the first 25.11 table (GB300/GB200 Llama 70B/405B at GBS 128/64 with FSDP-vs-MX layouts)
    "s2511a": ("25.11", [PUFANYI_B, PUFANYI_A]),
    # the revised 25.11 table; NV_00B7 prints the same numbers with unlabelled DeepSeek-V3 rows and a
    # broken H100 Qwen3_235B row (GBS cell missing: "| 256 | FP8-CS | 1 | 4096 | 0 | 2 | ..."), fixed later
    "s2511c": ("25.11", [NV_DF02, NV_00B7, NV_ARCH, ONEL, ZIDANE, NANZ, RADIX_ARCH, BEARNECK]),
    # 26.02 as NVIDIA's page first printed it (later revised: s2602b)
    "s2602a": ("26.02", [NV_DF02]),
    "s2602b": ("26.02", [NV_ARCH, ONEL, ZIDANE, NANZ, RADIX_ARCH, BEARNECK]),  # + BASETEN_ARCH, read in part
    "s260201": ("26.02.01", [RADIX_ARCH, ZIDANE, NANZ, BASETEN_ARCH, BEARNECK]),  # + OKOGE_ARCH, read in part
    "s2604": ("26.04", [RADIX, BASETEN_ARCH, OKOGE_ARCH]),
    "s260401a": ("26.04.01", [BASETEN, SVC_ARCH, OKOGE_ARCH]),
    "s260401b": ("26.04.01", [BALA]),
    "s2606": ("26.06", [SLIKHITE, SVC_ARCH, OKOGE_ARCH]),
    "s260601": ("26.06.01", [SVC, KAIKO, OKOGE_ARCH]),
    "s2608": ("26.08", [SWISS, OKOGE_ARCH]),
    "s260801": ("26.08.01", [OKOGE]),
}

#: table model label (row label stripped of "(...)") -> planner preset and the public architecture
#: columns (the presets'; the table does not restate them)
MODELS = {
    "LLAMA3_8B": dict(preset="llama3-8b", model="Llama 3 8B", params_b=8.03, layers=32, hidden=4096, heads=32,
                      kv_heads=8, ffn_hidden=14336, vocab=128256),
    "LLAMA3_70B": dict(preset="llama3-70b", model="Llama 3 70B", params_b=70.6, layers=80, hidden=8192, heads=64,
                       kv_heads=8, ffn_hidden=28672, vocab=128256),
    "LLAMA3.1_405B": dict(preset="llama3.1-405b", model="Llama 3.1 405B", params_b=405.9, layers=126, hidden=16384,
                          heads=128, kv_heads=8, ffn_hidden=53248, vocab=128256),
    "DeepSeekV3": dict(preset="deepseek-v3", model="DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)", params_b=671,
                       layers=61, hidden=7168, heads=128, kv_heads=128, ffn_hidden=2048, vocab=129280,
                       moe_experts=256, moe_topk=8),
    "GPT OSS 120B": dict(preset="gpt-oss-120b", model="gpt-oss-120b (head_dim 64, alternating 128-token "
                         "sliding-window/full attention, attention sinks)", params_b=117, layers=36, hidden=2880,
                         heads=64, kv_heads=8, ffn_hidden=2880, vocab=201088, moe_experts=128, moe_topk=4),
    "Qwen3_30B_a3B": dict(preset="qwen3-30b-a3b", model="Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)",
                          params_b=30.5, layers=48, hidden=2048, heads=32, kv_heads=4, ffn_hidden=768, vocab=151936,
                          moe_experts=128, moe_topk=8),
    # hybrid Mamba-Transformer MoE (planner ModelSpec.hybrid_pattern): the HF config.json of
    # nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 (tests/data/hf_configs_ssm); heads / kv_heads / ffn_hidden
    # are the 6 attention layers' and the experts' (1856; shared expert 3712)
    "Nemotron_3_Nano": dict(preset="nemotron-3-nano-30b-a3b", model="Nemotron 3 Nano 30B-A3B (hybrid: 23 Mamba-2 + "
                            "23 MoE + 6 attention layers, hybrid_pattern)", params_b=31.6, layers=52, hidden=2688,
                            heads=32, kv_heads=2, ffn_hidden=1856, vocab=131072, moe_experts=128, moe_topk=6),
    # Nemotron 3 Super: LatentMoE (moe.latent_size 1024) + 2 repeated "*E" MTP depths (the recipe's
    # mtp_use_repeated_layer), planner preset nemotron-3-super-120b-a12b
    "Nemotron_3_Super": dict(preset="nemotron-3-super-120b-a12b", model="Nemotron 3 Super 120B-A12B (hybrid: 40 "
                             "Mamba-2 + 40 LatentMoE + 8 attention layers, 2 repeated MTP depths)", params_b=120.7,
                             layers=88, hidden=4096, heads=32, kv_heads=2, ffn_hidden=2688, vocab=131072,
                             moe_experts=512, moe_topk=22),
    # Nemotron 3.5 Lightning: the Nano shape + 2 repeated "*E" MTP depths (Megatron-Bridge
    # recipes/nemotronh/nemotron_3_5_lightning.py)
    "Nemotron_3_5_Lightning": dict(preset="nemotron-3.5-lightning-30b-a3b", model="Nemotron 3.5 Lightning 30B-A3B "
                                   "(the 3 Nano 30B-A3B shape + 2 repeated MTP depths)", params_b=31.6, layers=52,
                                   hidden=2688, heads=32, kv_heads=2, ffn_hidden=1856, vocab=131072, moe_experts=128,
                                   moe_topk=6),
    "Qwen3_235B_a22B": dict(preset="qwen3-235b-a22b", model="Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)",
                            params_b=235, layers=94, hidden=4096, heads=64, kv_heads=4, ffn_hidden=1536, vocab=151936,
                            moe_experts=128, moe_topk=8),
    # Kimi K2: the tables' footnote "Muon optimizer was used for pre-training Kimi-K2." -- the rows carry
    # it (``MUON``): optimizer muon, Megatron-Bridge's ``dist_muon`` (LayerWiseDistributedOptimizer)
    "Kimi_K2": dict(preset="kimi-k2", model="Kimi K2 (MLA, 384 experts + 1 shared, 1 dense layer)", params_b=1026,
                    layers=61, hidden=7168, heads=64, kv_heads=64, ffn_hidden=2048, vocab=163840, moe_experts=384,
                    moe_topk=8),
}
#: models the tables' footnote says were trained with Muon: the row's note and sharding say so
#: (validate.pr2_case reads the optimizer from the note; Megatron-Bridge's Kimi-K2 recipe
#: src/megatron/bridge/recipes/kimi/kimi_k2.py: ``distributed_muon_with_cosine_annealing``,
#: ``cfg.ddp.use_distributed_optimizer = False  # Muon needs this to be False``)
MUON = {"Kimi_K2": ("Muon optimizer (table footnote: 'Muon optimizer was used for pre-training Kimi-K2.'): "
                    "Megatron-Bridge dist_muon, Megatron-Core LayerWiseDistributedOptimizer",
                    "DDP + Muon layer-wise distributed optimizer (dist_muon; FSDP=0)")}
#: table labels the planner cannot represent, with why
#: printed rows whose layout cells are not the layout that ran, (section, system, table label, precision) -> the
#: cells taken and why. 26.02.01's DGX-GB300 LLAMA3_70B NVFP4 and MXFP8 rows print MBS 2, VP n/a and (NVFP4) PP 1 --
#: the FP8 row's micro-batch and VP cells beside them; TP 1 PP 1 without Megatron-FSDP cannot hold a 70B model's
#: states on a 288 GB GPU. The workload configs at the table's own snapshot (radixark/Megatron-Bridge @d063066b
#: scripts/performance/configs/llama/llama3_workload_base_configs.py ``LLAMA3_70B_PRETRAIN_CONFIG_GB300_NVFP4_V2`` /
#: ``..._FP8_MX_V2``: ``pipeline_model_parallel_size=4, virtual_pipeline_model_parallel_size=5``, micro-batch the
#: ``WorkloadBaseConfig`` default 1) and the same rows of 26.02, 26.04 and 26.04.01 print PP 4 VP 5 MBS 1.
LAYOUT_MISPRINTS = {
    ("s260201", "DGX-GB300", "LLAMA3_70B", prec): (
        {"MBS": "1", "PP": "4", "VP": "5"},
        f"printed MBS 2, PP {pp}, VP n/a (the FP8 row's cells); the cited config "
        f"LLAMA3_70B_PRETRAIN_CONFIG_GB300_{cfg}_V2 and the 26.02 / 26.04 / 26.04.01 tables: PP 4, VP 5, MBS 1: taken")
    for prec, pp, cfg in (("NVFP4", 1, "NVFP4"), ("MXFP8", 4, "FP8_MX"))
}

UNMODELLED = {
    "Nemotron_3_Ultra": "hybrid Mamba-Transformer LatentMoE with MTP: no authoritative config of it in the code "
                        "index (Megatron-Bridge builds it from the HF config.json by AutoBridge; no provider "
                        "class states hidden_size)",
    "DeepSeekV4 Flash": "no planner preset (DeepSeek-V4 attention/MoE; Megatron-Core dev branch)",
}

#: the table's system -> the GPU column (validate.PR2_GPU maps it to the catalog), the NVLink domain
#: (the planner's 'node') and the scale-out bandwidth per domain (Gb/s)
SYSTEMS = {
    "DGX-H100": ("H100-SXM5-80GB", 8, 8 * 400,
                 "DGX H100: NVLink4/NVSwitch (900GB/s/GPU) intra-node; 8x400Gb/s NDR InfiniBand per node (standard "
                 "DGX H100 spec, not restated in table)"),
    "DGX-B200": ("B200 (DGX B200, 180GB)", 8, 8 * 400,
                 "DGX B200: NVLink5/NVSwitch intra-node; 8x400Gb/s IB per node (standard spec, not restated)"),
    "DGX-B300": ("B300 (DGX B300, 288GB)", 8, 8 * 800,
                 "DGX B300: NVLink5/NVSwitch intra-node; 8 x 800 Gb/s ConnectX-8 per node (DGX B300 spec; AWS "
                 "p6-b300: 6400 Gbps; not restated in table)"),
    "DGX-GB200": ("GB200 (NVL72 rack)", None, 400,
                  "GB200 NVL72: the job's NVLink5 domains are {gpn} GPUs (the planner's 'node', as dgxc_runs.csv): "
                  "{trays} of a rack's 18 4-GPU compute trays, the --segment Megatron-Bridge's performance "
                  "slurm_executor requests for {nodes} trays; scale-out one 400 Gb/s ConnectX-7 NIC per GPU "
                  "(reference design; not restated in table) = {gpn} x 400 Gb/s per domain"),
    "DGX-GB300": ("GB300 (NVL72 rack)", None, 800,
                  "GB300 NVL72: the job's NVLink5 domains are {gpn} GPUs (the planner's 'node'): {trays} of a "
                  "rack's 18 4-GPU compute trays, the --segment Megatron-Bridge's performance slurm_executor "
                  "requests for {nodes} trays; scale-out one 800 Gb/s ConnectX-8 SuperNIC per GPU (reference "
                  "design; not restated in table) = {gpn} x 800 Gb/s per domain"),
}
#: the NVL72 systems' NVLink domain per job (None in ``SYSTEMS``): Megatron-Bridge's performance scripts launch
#: them 4 GPUs a node with a Slurm ``--segment`` (NVIDIA-NeMo/Megatron-Bridge scripts/performance/utils/
#: executors.py ``slurm_executor``: "add --segment flag to sbatch if job uses GB200", the job's node count up to
#: 18 trays, else its largest divisor <= 18), as NeMo's scripts do for dgxc_runs.csv (``dgxc.nvl72_segment_gpus``):
#: a 256-GPU job runs in four 64-GPU domains, not 72-GPU racks. Until ep40 every row said 72; the planner now
#: prices EP groups that straddle a domain (comm ``ep_domain_members``), where that difference is real.
SHORT_SYS = {"DGX-H100": "h100", "DGX-B200": "b200", "DGX-B300": "b300", "DGX-GB200": "gb200", "DGX-GB300": "gb300"}

#: the table's precision label -> (CSV precision text, short id tag). FP8-CS / FP8 = Transformer Engine
#: per-tensor current scaling (Megatron-Bridge ``--fp8_recipe cs``; the 26.02+ tables write "FP8" for it,
#: the 26.02 first print "FP8-CS" for the same rows); FP8-MX / MXFP8 = MXFP8 1x32 block scaling; NVFP4
#: = TE NVFP4 block scaling
PRECISION = {
    "FP8-CS": ("fp8 current-scaling (TE tensorwise) + bf16", "fp8cs"),
    "FP8": ("fp8 current-scaling (TE tensorwise) + bf16", "fp8cs"),
    "FP8-MX": ("mxfp8 (TE MXFP8 1x32 block scaling) + bf16", "mxfp8"),
    "MXFP8": ("mxfp8 (TE MXFP8 1x32 block scaling) + bf16", "mxfp8"),
    "NVFP4": ("nvfp4 (TE NVFP4 block scaling) + bf16", "nvfp4"),
    "BF16": ("bf16", "bf16"),
}
#: 25.09 prints no precision column; its footnote says the parenthesised numbers are MXFP8-granularity
#: (32x32) runs on GB200/B200, so the main numbers are per-tensor FP8: current scaling, as the same
#: layouts are labelled "FP8-CS" in 25.11 (inferred)
PREC_2509 = ("FP8-CS", "FP8-MX")

COLS = ["id", "source", "table", "model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab",
        "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp",
        "zero_or_fsdp", "recompute", "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric", "value",
        "notes", "tp_overlap", "inter_node_gbps",
        # provenance
        "release", "system", "section", "repo", "commit", "path", "provenance", "also_at", "read_date",
        "tokens_per_s_printed", "tflops_per_gpu_printed", "ga_printed", "step_time_s"]


def _cell(s: str):
    """'661 (624)' -> ('661', '624'); footnote markers dropped; 'n/a' kept."""
    s = re.sub(r"\[\^[^\]]*\]", "", s).strip()
    m = re.fullmatch(r"(\S+?)\s*\((\S+)\)", s)
    return (m.group(1), m.group(2)) if m else (s, None)


#: table footnotes that say the printed number is not what the configuration runs at, (footnote name) -> why the
#: row is left out. 26.06.01's GPT-OSS 120B rows carry ``[^gpt-oss-note]``: "Performance regression in GPT-OSS
#: 120B pre-training is a known issue (https://github.com/NVIDIA/cudnn-frontend/issues/256). It will be resolved
#: with the next container release." (raw/mbridge/s260601.md; the same GB300 / GB200 configurations print 1.63x /
#: 1.58x its throughput at 26.06, 26.08 and 26.08.01). Every other footnote goes into the row's notes.
REGRESSION_FOOTNOTES = {
    "gpt-oss-note": "the table's own footnote marks the print a known performance regression "
                    "(cudnn-frontend issue #256, fixed in the next container): not the configuration's speed",
}


def footnotes(section: str) -> dict:
    """The footnote definitions of one raw section file, ``[^name]: text`` -> {name: text}."""
    out = {}
    for line in (RAW / f"{section}.md").read_text().splitlines():
        m = re.match(r"\[\^([^\]]+)\]:\s*(.*)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def row_footnotes(rec) -> list:
    """The footnote names a printed row's cells carry (``[^name]`` markers, which ``_cell`` drops)."""
    return re.findall(r"\[\^([^\]]+)\](?!:)", rec["line"])


def parse(section: str):
    """Rows of one raw section file as dicts of the header's columns, with the task (pre-training,
    SFT, LoRA) and the heading (System: or Model:) they sit under."""
    task, head, cols, out = None, None, None, []
    for line in (RAW / f"{section}.md").read_text().splitlines():
        if line.startswith("### "):
            task = line[4:].strip()
        elif line.startswith("#### "):
            head, cols = line[5:].strip(), None
        elif line.startswith("|") and cols is None:
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
        elif line.startswith("|") and not set(line) <= set("|- "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append(dict(task=task, head=head, cols=cols, cells=cells, line=line))
    return out


def variants(rec, release):
    """The measurements in one printed row: the main numbers and, where cells carry a parenthesised
    alternative, the variant those give (another precision, and for 25.09/25.11 another layout)."""
    cols, cells = rec["cols"], rec["cells"]
    if len(cells) != len(cols):
        return [], f"malformed row ({len(cells)} cells for {len(cols)} columns)"
    d = dict(zip(cols, cells))
    head = rec["head"]
    system = d.get("System") or head.split(":", 1)[1].strip()
    label = d.get("Model") or head.split(":", 1)[1].strip()
    main, alt = {}, {}
    for k, v in d.items():
        a, b = _cell(v)
        main[k] = a
        alt[k] = b if b is not None else a
    if "Precision" not in d:  # 25.09
        main["Precision"], alt["Precision"] = PREC_2509
    has_alt = _cell(d["Tokens / sec / GPU"])[1] is not None
    return ([(system, label, main)] + ([(system, label, alt)] if has_alt else [])), None


def _int(x, default=None):
    return default if x in ("n/a", "", None) else int(x)


def published_mbridge():
    """(release, system, table model label, tokens/s) of the published_runs_2.csv mbridge rows."""
    import pandas as pd

    d = pd.read_csv(DATA / "published_runs_2.csv")
    d = d[d["id"].str.startswith("mbridge")]
    label = {"Llama 3 8B": "LLAMA3_8B", "Llama 3 70B": "LLAMA3_70B", "Llama 3.1 405B": "LLAMA3.1_405B"}
    out = set()
    for r in d.itertuples():
        rel = r.table.split()[0]
        sysm = re.search(r"DGX-(\w+)", r.table).group(1)
        lab = label.get(r.model) or next(k for k, v in MODELS.items() if v["model"] == r.model)
        out.add((rel, f"DGX-{sysm}", lab, int(r.value)))
    return out


def rows():
    seen, left_out, published = {}, [], published_mbridge()
    for section, (release, snaps) in SECTIONS.items():
        notes_of = footnotes(section)
        for rec in parse(section):
            if rec["task"] != "Pre-Training Performance":
                left_out.append((section, rec["line"], f"{rec['task']}: fine-tuning dataset/packing not stated"))
                continue
            marks = row_footnotes(rec)
            regressed = [REGRESSION_FOOTNOTES[k] for k in marks if k in REGRESSION_FOOTNOTES]
            if regressed:
                left_out.append((section, rec["line"], regressed[0]))
                continue
            vs, why = variants(rec, release)
            if why:
                left_out.append((section, rec["line"], why))
                continue
            for system, label, d in vs:
                base = re.sub(r"\s*\(.*", "", label).strip()
                tokendrop = "tokendrop" in label  # TOKENDROP: capacity factor 1.0, padded, not force-balanced
                if base in UNMODELLED:
                    left_out.append((section, rec["line"], UNMODELLED[base]))
                    continue
                m = MODELS[base]
                variant = d is not vs[0][2]  # a parenthesised variant of the printed row
                notes = [f"table footnote: '{notes_of[k]}'" for k in marks if k in notes_of]
                fix = LAYOUT_MISPRINTS.get((section, system, base, d["Precision"]))
                if fix:
                    d = {**d, **fix[0]}
                    notes.append(fix[1])
                gpus, gbs, mbs = int(d["#-GPUs"]), int(d["GBS"]), int(d["MBS"])
                tp, pp, cp = int(d["TP"]), int(d["PP"]), int(d["CP"])
                vp, ep = _int(d["VP"], 1), _int(d["EP"], 1)
                fsdp = _int(d.get("FSDP", "0"), 0) > 0
                seq, tok = int(d["Sequence Length"]), int(d["Tokens / sec / GPU"])
                tfl = int(d["Model TFLOP / sec / GPU"])
                prec_txt, prec = PRECISION[d["Precision"]]
                dp = gpus // (tp * pp * cp)
                assert dp * tp * pp * cp == gpus, (section, rec["line"])
                ga_printed = d.get("GA")
                if ga_printed is not None and not re.fullmatch(r"\d+", ga_printed):
                    notes.append(f"GA cell printed '{ga_printed}' (garbled)")
                    ga_printed = None
                if gbs % (dp * mbs):
                    left_out.append((section, rec["line"], f"GBS {gbs} not a multiple of DP {dp} x MBS {mbs}"))
                    continue
                if ga_printed is not None and int(ga_printed) != gbs // (dp * mbs) and not variant:
                    # a row printed on its own: its MBS cell is its own, the GA cell the odd one out (25.11's
                    # GB300 Qwen3_235B_a22B BF16 "MBS 2, GA 32" at GBS 8192 / DP 64: its config
                    # QWEN3_235B_A22B_PRETRAIN_CONFIG_GB300_BF16_V1 / _V2, qwen3_workload_base_configs.py at
                    # radixark/Megatron-Bridge @d063066b, sets micro_batch_size=2)
                    notes.append(f"printed GA {ga_printed} is not GBS / (DP x MBS) = {gbs // (dp * mbs)}: "
                                 f"the printed MBS {mbs} taken (the workload config's)")
                elif ga_printed is not None and int(ga_printed) != gbs // (dp * mbs):
                    # 25.09/25.11 "1 (16)": the MX variant's GA is for MBS 1 (GBS 128 / DP 8 / 16); the MBS
                    # column is not parenthesised (the printed row's): the GA-implied micro-batch is taken
                    implied = gbs // (dp * int(ga_printed))
                    if implied * dp * int(ga_printed) != gbs:
                        left_out.append((section, rec["line"], f"GA {ga_printed} inconsistent with GBS/DP/MBS"))
                        continue
                    notes.append(f"printed MBS {mbs} with GA {ga_printed} implies MBS {implied}: MBS {implied} taken")
                    mbs = implied
                key = (release, system, base, prec, gpus, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, tok)
                if (release, system, base, tok) in published:
                    continue  # already in published_runs_2.csv (source mbridge)
                if key in seen:
                    r0 = seen[key]
                    extra = [s for s in snaps if URL.format(repo=s[0], commit=s[1], path=s[2]) not in r0["_urls"]]
                    r0["_urls"] += [URL.format(repo=s[0], commit=s[1], path=s[2]) for s in extra]
                    if tfl != r0["tflops_per_gpu_printed"]:
                        r0["_notes"].append(f"section {section} reprints it with TFLOP/s {tfl}")
                    continue
                repo, commit, path = snaps[0]
                mtp = "w/o MTP" in label and "without the MTP module (row label 'w/o MTP')" or \
                      ("w/ MTP" in label and "with the MTP module (row label 'w/ MTP')")
                if base == "DeepSeekV3" and mtp:
                    notes.append(mtp)
                if base in MUON:
                    notes.append(MUON[base][0])
                if "(" in _cell_raw(rec, "Tokens / sec / GPU") and variant:
                    notes.append("parenthesised variant of the printed row")
                if base == "DeepSeekV3" and "w/o MTP" in label:
                    model_txt = m["model"] + " w/o MTP"
                else:
                    model_txt = m["model"]
                step = gbs * seq / (tok * gpus)
                gpu_txt, gpn, inter, fabric = SYSTEMS[system]
                if gpn is None:  # an NVL72 system: the domain is the job's Slurm segment (``SYSTEMS``)
                    gpn = nvl72_segment_gpus(gpus)
                    inter, fabric = gpn * inter, fabric.format(gpn=gpn, trays=gpn // 4, nodes=gpus // 4)
                rid = (f"mbridgeall_{release.replace('.', '')}{section[-1] if section[-1] in 'abc' else ''}_"
                       f"{SHORT_SYS[system]}_{m['preset']}{'-tokendrop' if tokendrop else ''}_{prec}_{gpus}")
                n = sum(1 for r in seen.values() if r["id"].startswith(rid))
                rid = rid + (f"_{n + 1}" if n else "")
                seen[key] = dict(
                    id=rid, source="NVIDIA-NeMo/Megatron-Bridge docs/performance-summary.md (all stored versions, "
                    "forks included; builder benchmarks/data/parts/scripts/mbridge_all.py)",
                    table=f"{release} NeMo Container / {rec['task']} / {rec['head']}",
                    model=model_txt, params_b=m["params_b"], layers=m["layers"], hidden=m["hidden"], heads=m["heads"],
                    kv_heads=m["kv_heads"], ffn_hidden=m["ffn_hidden"], vocab=m["vocab"], seq_len=seq,
                    moe_experts=m.get("moe_experts", ""), moe_topk=m.get("moe_topk", ""), global_batch_seqs=gbs,
                    micro_batch=mbs, tp=tp, pp=pp, dp=dp, cp=cp, vpp=vp if vp > 1 else "",
                    zero_or_fsdp=("Megatron-FSDP (FSDP column > 0: optim_grads_params)" if fsdp
                                  else MUON[base][1] if base in MUON else "DDP + distributed optimizer (FSDP=0)"),
                    recompute="not stated in table", precision=prec_txt, gpu=gpu_txt, num_gpus=gpus,
                    gpus_per_node=gpn, interconnect=fabric, metric="tokens_per_s_per_gpu", value=tok,
                    tp_overlap="", inter_node_gbps=inter, release=release, system=system, section=section,
                    repo=repo, commit=commit, path=path, provenance=URL.format(repo=repo, commit=commit, path=path),
                    read_date=READ, tokens_per_s_printed=tok, tflops_per_gpu_printed=tfl,
                    ga_printed=ga_printed or "", step_time_s=f"{step:.6g}",
                    _urls=[URL.format(repo=s[0], commit=s[1], path=s[2]) for s in snaps], _notes=notes,
                    _label=label, _ep=ep, _tokendrop=tokendrop)
    out = list(seen.values())
    # TFLOP/s per token: a mis-printed cell stands out against the same model's other rows, both over
    # all releases and within its own release (the counter's definition drifts between releases:
    # gpt-oss-120b counts 0.0272 TFLOP per token up to 26.04.01 and 0.0326 from 26.06 on)
    def medians(keyf):
        groups = {}
        for r in out:
            groups.setdefault(keyf(r), []).append(r["tflops_per_gpu_printed"] / r["tokens_per_s_printed"])
        return {k: sorted(v)[len(v) // 2] for k, v in groups.items()}

    by_model = medians(lambda r: (r["model"], r["seq_len"]))
    by_release = medians(lambda r: (r["model"], r["seq_len"], r["release"]))
    excluded = []
    for r in out:
        fpt = r["tflops_per_gpu_printed"] / r["tokens_per_s_printed"]
        dev = fpt / by_model[(r["model"], r["seq_len"])] - 1
        dev_rel = fpt / by_release[(r["model"], r["seq_len"], r["release"])] - 1
        if abs(dev) > 0.03 and abs(dev_rel) > 0.03:
            excluded.append((r, dev))
    for r, dev in excluded:
        out.remove(r)
        left_out.append((r["section"], r["_label"], f"TFLOP/s / tokens/s {dev * 100:+.0f}% off the model's median: "
                         f"mis-printed cell ({r['tokens_per_s_printed']} tokens/s, {r['tflops_per_gpu_printed']} TFLOP/s)"))
    for r in out:
        also = [u for u in r.pop("_urls") if u != r["provenance"]]
        r["also_at"] = "; ".join(also)
        ep = r.pop("_ep")
        notes = r.pop("_notes")
        r.pop("_label")
        tokendrop = r.pop("_tokendrop")
        head = (f"Megatron-Bridge {r['release']} table ({r['section']}), {r['system']}; printed "
                f"{r['tokens_per_s_printed']} tokens/s/GPU, {r['tflops_per_gpu_printed']} model TFLOP/s/GPU")
        if ep > 1:
            head += f"; EP={ep}"
        if r["ga_printed"]:
            head += f"; GA={r['ga_printed']}"
        moe = TOKENDROP if tokendrop else "MoE: force-balanced routing, token-dropless (table footnote)"
        r["notes"] = ". ".join([head] + notes + (
            [moe + ". ffn_hidden = per-expert (moe) intermediate size; architecture from the planner preset / "
             "public HF config"] if r["moe_experts"] else []))
    return out, left_out


def _cell_raw(rec, col):
    return dict(zip(rec["cols"], rec["cells"])).get(col, "")


#: what a "(tokendrop)" row ran (25.09 tables): the performance scripts' ``--use_tokendrop`` applies
#: ``apply_moe_token_drop(recipe.model)`` and sets ``moe_router_force_load_balancing = False``
#: (scripts/performance/utils/overrides.py ``set_user_overrides``); its defaults are
#: ``moe_expert_capacity_factor=1.0``, ``moe_pad_expert_input_to_capacity=True``, and it asserts the
#: alltoall dispatcher (src/megatron/bridge/training/utils/moe_token_drop.py). validate.pr2_model reads
#: the "token-dropping" phrase.
TOKENDROP = ("MoE: token-dropping (row label '(tokendrop)'): capacity factor 1.0, each expert's input padded to "
             "capacity, routing not force-balanced, alltoall dispatcher (Megatron-Bridge apply_moe_token_drop "
             "defaults)")


#: filled by ``main``: (section, printed row, reason) for every printed row not in the CSV
LEFT_OUT: list = []


def main():
    out, left = rows()
    LEFT_OUT[:] = left
    dest = DATA / "mbridge_all_runs.csv"
    write_csv(dest, out, COLS)
    print(f"{len(out)} rows -> {dest}")
    reasons = {}
    for _, _, why in left:
        k = why if not why.startswith("TFLOP") else "TFLOP/s per token off the model's median (mis-printed cell)"
        reasons[k] = reasons.get(k, 0) + 1
    for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  left out {v:3d}: {k}")
    for s, line, why in left:
        if why.startswith(("TFLOP", "malformed", "GA", "GBS")):
            print(f"    {s}: {line.strip()[:90]} -- {why}")


if __name__ == "__main__":
    main()
