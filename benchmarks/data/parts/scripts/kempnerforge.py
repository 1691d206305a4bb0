"""Build benchmarks/data/kempnerforge_runs.csv (validate.kempnerforge): the two step-time benchmark reports of the
Kempner Institute's KempnerForge (Harvard; a PyTorch FSDP2 + DTensor-TP + torch.compile trainer) on its H200
cluster, 4 x H200 141 GB a node -- Llama-3-shaped 7B (= Llama-3-8B), 13B and 70B models, bf16, full activation
checkpointing, seq 4096:

* ``benchmarks/mfu_scaling/mfu_scaling_2026-04-05.md`` (git 01b461a): 14 runs, 1-32 GPUs, single GPU, FSDP, TP and
  TP x FSDP; its driver ``mfu_bench.sh`` holds each run's exact command line;
* ``benchmarks/weak_scaling_160gpu/README.md`` (2026-06-30, git 3ad9d9a): 11 runs of TP 4 x FSDP 2..40, 8-160 GPUs;
  driver ``weak_scaling_160gpu_bench.sh`` + ``run_one.sbatch``; its logs (``results/*.log``) print the parsed config;
* ``benchmarks/175b_360gpu/README.md`` (2026-07-03, git 5666d0d; kf52): one 175B run, TP 4 x FSDP 90 on 360 GPUs,
  batch 8 x accumulation 1; driver ``175b_360gpu_bench.sh``; its log ``results/175b-360gpu.log`` prints the config.

Every value is typed in from the report (``quote``: the table row as printed) and the driver (``layout_source``);
what neither states is said in ``notes`` / ``interconnect``. Both reports print the step time (``Step Time`` /
``Step s``), taken as the measured value (metric ``iteration_time_s``); their tok/s (all GPUs) is kept in
``cross_check`` and equals global batch tokens / step time to the step's two printed decimals (tests check 1%).
The memory column (``Mem/GPU``, peak per GPU as the trainer logs it) is stored, not scored.
Columns are parts_csv.OPEN_REPORTS_COLUMNS (validate.open_reports_case maps them) plus ``sequence_parallel`` (the
TP plan's SequenceParallel, on for every TP > 1 row: the logs print ``sequence_parallel=True``), ``mem_per_gpu_gb``
and ``nvlink_topology`` (how a node's GPUs are wired, ``NODE_WIRING``: the switchless 4-GPU board, kfnode52).
Run: python benchmarks/data/parts/scripts/kempnerforge.py"""
from pathlib import Path

from parts_csv import OPEN_REPORTS_COLUMNS, write_csv

OUT = Path(__file__).resolve().parents[2] / "kempnerforge_runs.csv"
READ = "2026-12-06"
URL = "https://github.com/KempnerInstitute/KempnerForge"
cols = OPEN_REPORTS_COLUMNS + ("sequence_parallel", "mem_per_gpu_gb", "nvlink_topology")

MFU_LOC = ("KempnerInstitute/KempnerForge benchmarks/mfu_scaling/mfu_scaling_2026-04-05.md @9f3f03a0 (report of "
           "git 01b461a), 'Full Results Table'; header: '8 nodes, 4x NVIDIA H200 (141 GB) per node, NVLink intra-node, "
           "InfiniBand inter-node', 'bf16 mixed precision, activation checkpointing (full), fused AdamW', 'steady-state "
           "MFU averaged over last 5 steps'; 'All experiments used seq_len=4096 with torch.compile=true (except "
           "experiment 08 which used compile=false)'")
MFU_DRIVER = "benchmarks/mfu_scaling/mfu_bench.sh @9f3f03a0"
WEAK_LOC = ("KempnerInstitute/KempnerForge benchmarks/weak_scaling_160gpu/README.md @e9f91892 (report of git 3ad9d9a, "
            "2026-06-30), 'Results'; header: 'up to 40 nodes, 4x NVIDIA H200 (141 GB) per node, NVLink intra-node, "
            "InfiniBand inter-node', 'steady state = median over the back half of each run', 'bf16 mixed precision, "
            "activation checkpointing (full), fused AdamW, cosine LR, seq_len=4096', 'TP=4 intra-node (NVLink) x FSDP "
            "across nodes'")
WEAK_DRIVER = ("benchmarks/weak_scaling_160gpu/weak_scaling_160gpu_bench.sh and run_one.sbatch @e9f91892 (B13: "
               "batch_size=4, grad_accum_steps=4, compile_model=true; B70: batch_size=2, grad_accum_steps=4, "
               "compile_model=true; TRAIN: activation_checkpointing=full, optimizer.fused=true); results/"
               "13b_032gpu_tp4_fsdp8.log prints 'sequence_parallel=True', 'MixedPrecisionPolicy(param_dtype=torch."
               "bfloat16, reduce_dtype=torch.float32', 'Model: 14,840,386,560 parameters', partition kempner_h200")
STACK_AS_RUN = ("KempnerForge (kempnerforge/distributed/parallel.py, tensor_parallel.py): DTensor TP (q/k/v, gate/up "
                "colwise, o/down rowwise, SequenceParallel norms, vocab-split output head), full activation "
                "checkpointing per TransformerBlock (non-reentrant, torch's default early stop), FSDP2 fully_shard per "
                "block (param bf16, reduce fp32), torch.compile of the whole model, SDPA attention (sdpa_backend auto: "
                "cuDNN attention on its H200s), fused AdamW")
#: what KempnerForge's own code and profile say its kernels are, where they differ from the torchtitan entry's (kf52):
#: * ``recompute_early_stop``: parallel.py ``apply_ac`` @01b461a wraps each TransformerBlock in torch's
#:   ``checkpoint_wrapper(checkpoint_impl=CheckpointImpl.NO_REENTRANT)`` and passes no ``early_stop``, so torch's
#:   non-reentrant checkpoint keeps its default (torch/utils/checkpoint.py ``_checkpoint_without_reentrant_generator``
#:   ``early_stop=True``; ``set_checkpoint_early_stop`` "By default, non-reentrant checkpoint stops recomputation as
#:   soon as it has computed all needed Tensors"): the MLP down projection is not re-run. torchtitan's
#:   ``ptd_checkpoint_wrapper`` passes ``early_stop=ac_config.early_stop`` (default False), the registry entry's off.
#: * ``attn_kernel=cudnn``: model/attention.py ``Attention`` calls ``F.scaled_dot_product_attention(q, k, v,
#:   is_causal=True)`` under ``sdpa_backend="auto"`` (a no-op context: PyTorch's own backend choice), and the
#:   repository's H200 profile of its 13B (benchmarks/profiling/13b_24gpu_profiling.md @a7f83461, 2026-04-07, 'Top
#:   CUDA Kernels') lists ``aten::_cudnn_attention_backward`` (800 calls): cuDNN attention, where the torchtitan
#:   entry prices FlashAttention-2 (torchtitan 2024's SDPA flash backend: stacks.Stack.attn_kernel).
#: * ``fused_qkv=False``, ``tp_gather_per_linear=True`` (kf55): model/attention.py has separate ``q_proj`` / ``k_proj`` /
#:   ``v_proj`` (the torchtitan entry's default is 0.3's fused QKV), and distributed/tensor_parallel.py
#:   ``_build_block_tp_plan`` (@c29a0d65 and @0c4eba1e alike) puts ``ColwiseParallel(input_layouts=Shard(1))`` on each
#:   of q / k / v / gate / up with no ``PrepareModuleInput``: each linear all-gathers its own sequence-parallel input
#:   and reduce-scatters its own input gradient (counted on torch's DTensor: tests/test_kf55.py).
#: * ``loss_parallel=False`` (kf56): distributed/tensor_parallel.py ``apply_tensor_parallel`` (@0c4eba1e) plans the
#:   output head ``ColwiseParallel(input_layouts=Shard(1), output_layouts=Replicate())`` ("split vocab, gather to
#:   Replicate for loss computation") and training/loss.py runs ``F.cross_entropy`` on the whole logits, with no
#:   ``loss_parallel()`` context (training/loop.py ``text_step``): torchtitan's ``disable_loss_parallel`` layout, the
#:   16-bit T x V logits all-gathered over the TP ranks and the loss run on all of them on each.
#: * ``tp_embedding_replicated=True`` (kf56): the same ``apply_tensor_parallel`` leaves ``token_embedding`` out of the
#:   TP plan ("Token embedding: Replicated"; "The token embedding stays replicated because RowwiseParallel on
#:   nn.Embedding doesn't correctly redistribute output to Shard(1)"), wrapping its output ``Replicate()``, so FSDP2's
#:   root unit holds, gathers and reduce-scatters the whole V x h on each TP rank.
#: * ``loss_eager_16bit=True`` (kf56b): training/loss.py ``cross_entropy_loss`` runs ``F.cross_entropy`` on the bf16
#:   logits ``OutputHead`` returns (model/embedding.py: ``self.proj(x)``, no upcast), outside ``torch.compile(model)``,
#:   and ``text_step`` holds ``logits`` through ``backward``; torchtitan compiles an upcast loss and drops ``pred``.
KF_KERNELS = ("recompute_early_stop=True;attn_kernel=cudnn;fused_qkv=False;tp_gather_per_linear=True;"
              "loss_parallel=False;tp_embedding_replicated=True;loss_eager_16bit=True")
#: how Kempner's H200 nodes are wired (kfnode52, read 2026-12-07). Kempner's own pages state four SXM H200 a node on
#: NVLink: the Kempner Computing Handbook (KempnerInstitute/kempner-computing-handbook, kempner_computing_handbook/
#: s1_high_performance_computing/kempner_cluster/overview_of_kempner_cluster.md @06d9ca34: 'H200 141GB | Total GPUs
#: 384 | GPUs per Server 4 | CPU Cores per Server 64 | RAM per Server 1.5 TB', the H100 80GB column '384 | 4 | 96',
#: 'The GPU network is non-blocking for the H200 and RTX6000 partitions. The H100 partition is currently 2:1
#: oversubscribed'; gpu_types_and_use_cases.md @10753cd5: 'GPU-to-GPU link | NVLink' for the H100 and H200),
#: KempnerInstitute/hpc-agentic-recipes docs/hardware.md @2c4bc333 ('H200 | kempner_h200 | 96 [nodes] | 4 [GPUs per
#: node] | 143771 MiB | NVLink'; of the A100 nodes 'Its four GPUs are fully NVLink-connected') and KempnerForge's
#: 175B report ('90 nodes, 4x NVIDIA H200 SXM (141 GB) per node, NVLink intra-node, InfiniBand NDR inter-node',
#: B175_LOC). NVIDIA puts NVSwitch on its 8-GPU baseboards only (the NVSwitch platform list of the NVIDIA AI
#: Enterprise docs, 'NVIDIA NVSwitch': 'NVIDIA HGX H200 8-GPU baseboard', 'NVIDIA HGX H100 8-GPU baseboard', ...), so
#: four SXM H200 on NVLink are the switchless 4-GPU board: each GPU's 18 NVLink 4 links to its three peers
#: (planner.hardware.nvlink ``nvlink4-quad-mesh``; 6 a pair, the even split: printed in no source found, and a
#: pair's measured rate below, ``NVLINK_PAIR_MEASURED_GBS``, fits it).
#: Not found: the board's maker / model, and the NICs a node (count, model) in writing.
NODE_WIRING = "nvlink4-quad-mesh"
#: The network a GPU reaches across nodes, measured on the same cluster (kf53): the Kempner Institute's own
#: HPL-NVIDIA 25.4.0 run on two of its 4-GPU H100 nodes (KempnerInstitute/nvidia-hpc-benchmarks
#: p1_nvidia_hpl/runs/HPL_H100_2N_4GPUs_23154426.out @861a0b5d, 2025-07-06, holygpu8a15104 + holygpu8a15201; P 4 x Q 2
#: column-major, so each process column is one node and each row communicator pairs a GPU with its peer on the other
#: node). Its component test '**** ncclBcast( Row ) ****' prints 'avg = 43.32 ... min = 43.20 [rank 6 ...] max =
#: 43.42 GBS' over the 8 ranks -- every GPU of a node broadcasting to the other node at once at 43.2-43.4 GB/s, 0.87
#: of one 400 Gb/s NDR port (50 GB/s), 4 x 43.3 = 173 GB/s a node; its intra-node 'ncclAllGather( Col )' 346 GB/s.
#: That is 4 x 400 Gb/s a node, one NDR HCA a GPU, at the planner's inter-node efficiency
#: (``Efficiency.inter_bw`` 0.85: 42.5 GB/s a GPU, 2% under it). Measured on the H100 partition, taken for the H200
#: one: the handbook (overview_of_kempner_cluster.md @06d9ca34) calls the H200 GPU network non-blocking and the H100
#: partition 2:1 oversubscribed, so the H200 nodes are not slower across nodes. If HPL's component test ran the four
#: rows' broadcasts one at a time the figure bounds one GPU's path only (not stated in the output).
IB_MEASURED_GBS = 43.32
IB_MEASURED_LOC = ("KempnerInstitute/nvidia-hpc-benchmarks p1_nvidia_hpl/runs/HPL_H100_2N_4GPUs_23154426.out "
                   "@861a0b5d (2025-07-06)")
#: The same benchmark on one such node (``p1_nvidia_hpl/runs/HPL_H100_1N_4GPUs_23154422.out`` @861a0b5d, 2025-07-06,
#: holygpu8a13504; P 2 x Q 2 column-major, so each row communicator is a pair of the node's GPUs): 'ncclBcast( Row )'
#: 'avg = 113.94 ... min = 113.90 ... max = 113.99 GBS' -- a pair's broadcast over NVLink at 0.76 of 6 NVLink 4 links
#: (150 GB/s a direction), where a switched board gives a pair every link (the 2-node run's quad all-gather: 346 GB/s).
#: A measured check of kfnode52's 6-links-a-pair wiring (4 links could not carry it; the planner's pair rate, a third
#: of 450 GB/s at ``Efficiency.intra_bw`` 0.80, is 120 GB/s).
NVLINK_PAIR_MEASURED_GBS = 113.94
NVLINK_PAIR_MEASURED_LOC = ("KempnerInstitute/nvidia-hpc-benchmarks p1_nvidia_hpl/runs/HPL_H100_1N_4GPUs_23154422.out "
                            "@861a0b5d (2025-07-06)")
INTERCONNECT = ("'NVLink intra-node, InfiniBand inter-node' (stated; the 175B report: 'InfiniBand NDR'); the rate: "
                "4 x 400 Gb/s NDR a node (one HCA a GPU), as Kempner's own cross-node NCCL measurement gives it ("
                f"{IB_MEASURED_LOC}, HPL-NVIDIA 25.4.0 on two 4-GPU H100 nodes: 'ncclBcast( Row )' between the nodes "
                f"{IB_MEASURED_GBS} GB/s a GPU, every GPU at once, 0.87 of a 400 Gb/s port; the handbook: the H200 "
                "network non-blocking, the H100 one 2:1 oversubscribed; kf53; assumed until then); the node's NVLink "
                "wiring: 4 SXM H200 a node "
                "(Kempner Computing Handbook, 'GPUs per Server 4'; the 175B report, '4x NVIDIA H200 SXM') with no "
                "NVSwitch (NVIDIA's is on 8-GPU baseboards only): the 4-GPU board, 6 of a GPU's 18 NVLinks to each "
                "peer (nvlink_topology nvlink4-quad-mesh, kfnode52; the catalog's full H200 NVLink rate for every "
                f"group until then; measured on one of Kempner's 4-GPU nodes, {NVLINK_PAIR_MEASURED_LOC}: a pair's "
                f"'ncclBcast( Row )' {NVLINK_PAIR_MEASURED_GBS} GB/s, 0.76 of 6 links, kf53)")
NOTE = ("Stated: model shape, GPU count and nodes, TP / FSDP degrees, step time, tok/s, memory, seq 4096, bf16, full "
        "AC, compile; from the driver: micro-batch and grad accumulation. Not stated in the reports: the network rate, "
        "taken from Kempner's own cross-node NCCL measurement (interconnect; kf53). The parameters live in bf16 "
        "with no fp32 master (build_parallel_model casts the model to "
        "param_dtype before fully_shard, so AdamW's zeros_like moments are bf16): params_16bit=True (kf51; until "
        "then priced with an fp32 master copy and fp32 moments). Recompute early stop (checkpoint_wrapper with torch's "
        "default) and cuDNN attention (SDPA auto; the repository's H200 profile runs aten::_cudnn_attention_backward) "
        "as its code and profile say (kf52; until then priced as torchtitan's: no early stop, flash-attention 2).")
#: model stem -> (label, preset, layers, hidden, heads, kv_heads, ffn) -- ffn from ModelConfig.computed_ffn_hidden_dim
#: (256 * ceil(int(4 * dim * 2/3 * 1.3) / 256)): 7B 14,336, 13B 17,920 (the weak-scaling table prints 17,920)
MODELS = {
    "7b": ("KempnerForge 7B (Llama-3-8B shape)", "llama3-8b", 32, 4096, 32, 8, 14336),
    "13b": ("KempnerForge 13B (Llama-3 shape, 14.84B)", "", 40, 5120, 40, 8, 17920),
    "70b": ("KempnerForge 70B (Llama-3-70B shape)", "llama3-70b", 80, 8192, 64, 8, 28672),
    "175b": ("KempnerForge 175B (Llama-3 shape, 174.99B)", "", 96, 12288, 96, 8, 39680),
}
#: mfu_scaling rows as printed: (#, GPUs, nodes, model, parallelism, tok/s, MFU, Mem/GPU, Step Time) and the
#: driver's (batch_size, grad_accum_steps, tp, dp_shard, compile) for that experiment
MFU_RUNS = [
    ("1", 1, 1, "7b", "—", "10,471", "**57.8**", "80.7 GB", "3.13s", (2, 4, 1, 1, True)),
    ("2", 2, 1, "7b", "FSDP=2", "18,728", "51.7", "62.4 GB", "3.50s", (2, 4, 1, 2, True)),
    ("3", 2, 1, "7b", "TP=2", "13,163", "36.4", "57.8 GB", "2.49s", (4, 2, 2, 1, True)),
    ("4", 4, 1, "7b", "FSDP=4", "38,983", "**53.8**", "61.1 GB", "3.36s", (4, 2, 1, 4, True)),
    ("5", 4, 1, "7b", "TP=4", "25,135", "34.7", "39.4 GB", "1.30s", (4, 2, 4, 1, True)),
    ("6", 4, 1, "7b", "TP=2+FSDP=2", "25,980", "35.9", "45.9 GB", "2.52s", (4, 2, 2, 2, True)),
    ("7", 8, 2, "7b", "TP=4+FSDP=2", "44,299", "30.6", "32.7 GB", "1.48s", (4, 2, 4, 2, True)),
    ("8", 8, 2, "13b", "FSDP=8", "35,405", "**44.4**", "88.5 GB", "14.81s", (4, 4, 1, 8, False)),
    ("9", 8, 2, "13b", "TP=4+FSDP=2", "27,345", "34.3", "45.1 GB", "4.79s", (4, 4, 4, 2, True)),
    ("10", 16, 4, "7b", "TP=4+FSDP=4", "82,988", "28.6", "29.4 GB", "1.58s", (4, 2, 4, 4, True)),
    ("11", 16, 4, "13b", "TP=4+FSDP=4", "53,814", "**33.7**", "39.2 GB", "4.87s", (4, 4, 4, 4, True)),
    ("12", 32, 8, "7b", "TP=4+FSDP=8", "155,917", "26.9", "27.6 GB", "1.68s", (4, 2, 4, 8, True)),
    ("13", 32, 8, "13b", "TP=4+FSDP=8", "104,309", "**32.7**", "36.3 GB", "5.03s", (4, 4, 4, 8, True)),
    ("14", 32, 8, "70b", "TP=4+FSDP=8", "17,657", "25.4", "93.2 GB", "14.85s", (2, 4, 4, 8, True)),
]
#: weak_scaling rows as printed: (model, GPUs, parallelism, tok/s, MFU %, Mem/GPU GB, Step s, n); every run
#: TP 4, FSDP GPUs / 4, compiled; 13B batch 4 x accum 4, 70B batch 2 x accum 4 (B13 / B70) but where the run's
#: log says otherwise (``WEAK_AS_LOGGED``)
WEAK_RUNS = [
    ("13b", 8, "tp4_fsdp2", "29,860", "35.9", "45.0", "4.39", "1"),
    ("13b", 32, "tp4_fsdp8", "110,373", "33.2", "36.2", "4.75", "1"),
    ("13b", 64, "tp4_fsdp16", "216,507", "32.6", "34.8", "4.84", "1"),
    ("13b", 128, "tp4_fsdp32", "423,306", "31.8", "34.0", "4.95", "1"),
    ("13b", 160, "tp4_fsdp40", "534,644±1,138", "32.2±0.1", "33.9", "4.91", "2"),
    ("70b", 8, "tp4_fsdp2", "3,623", "20.6", "128.5", "18.09", "1"),
    ("70b", 32, "tp4_fsdp8", "18,688", "26.5", "93.2", "14.03", "1"),
    ("70b", 64, "tp4_fsdp16", "35,824", "25.4", "86.8", "14.63", "1"),
    ("70b", 96, "tp4_fsdp24", "52,190", "24.7", "84.6", "15.07", "1"),
    ("70b", 128, "tp4_fsdp32", "69,985", "24.8", "83.6", "14.98", "1"),
    ("70b", 160, "tp4_fsdp40", "85,571±43", "24.3±0.0", "82.9", "15.32", "2"),
]
WEAK_BATCH = {"13b": (4, 4), "70b": (2, 4)}
#: where a run's own log prints a config other than the driver's (kf51, 2026-12-06): the 70B 8-GPU row is the
#: pre-flight log results/preflight_70b_008gpu_tp4_fsdp2.log @17248f87, whose parsed config reads
#: 'TrainConfig(batch_size=1, seq_len=4096, max_steps=30, grad_accum_steps=8, ... compile_model=False' (no
#: 'Compiling model with torch.compile...' line follows), not B70's 2 x 4 compiled; its back-half median step
#: (steps 16-30) is the README's 18.09 s and its step 19 the README's 3,623 tok/s, so the README row is that run.
#: The 13B pre-flight log prints B13 as the driver says. (model, GPUs) -> (batch_size, grad_accum_steps, compile)
WEAK_AS_LOGGED = {("70b", 8): (1, 8, False)}
AS_LOGGED_NOTE = (" Batch, accumulation and compile are the run's log's, not the driver's: results/"
                  "preflight_70b_008gpu_tp4_fsdp2.log prints 'TrainConfig(batch_size=1, seq_len=4096, max_steps=30, "
                  "grad_accum_steps=8' and 'compile_model=False' (B70 says 2 x 4 compiled; the same tokens a step); "
                  "its back-half median step is the table's 18.09 s (kf51).")


#: the 175B report (kf52): its 'Results' table's step time, throughput and memory rows as printed, and the driver's
#: arguments (the log's config agrees: 'Starting training: step=0, max_steps=2000, batch_size=8, grad_accum=1,
#: world_size=360', 'tp_degree=4, layers=96, sequence_parallel=True', 'Compiling model with torch.compile...',
#: 'Model: 174,986,637,312 parameters')
B175_LOC = ("KempnerInstitute/KempnerForge benchmarks/175b_360gpu/README.md @b62d2e36 (report of git 5666d0d, 2026-07-03), "
            "'Results'; header: '90 nodes, 4x NVIDIA H200 SXM (141 GB) per node, NVLink intra-node, InfiniBand NDR "
            "inter-node', 'steady state = median over the back half of the run', 'PyTorch 2.11.0 + CUDA 12.8', "
            "'TP=4 intra-node (NVLink) x FSDP2 dp_shard=90 inter-node (InfiniBand)'; 'Training configuration': "
            "'Per-GPU batch | 8 sequences', 'Gradient accumulation | 1', 'Activation checkpointing | full (per "
            "TransformerBlock)', 'torch.compile | enabled', 'Optimizer | AdamW (fused)'")
B175_DRIVER = ("benchmarks/175b_360gpu/175b_360gpu_bench.sh @17248f87 (M175B: --model.dim=12288 --model.n_layers=96 "
               "--model.n_heads=96 --model.n_kv_heads=8 --model.vocab_size=128256 --model.ffn_hidden_dim=39680; B175: "
               "--train.batch_size=8 --train.seq_len=4096 --train.grad_accum_steps=1 --train.compile_model=true "
               "--distributed.tp=4 --distributed.dp_shard=90); results/175b-360gpu.log @17248f87 prints "
               "'batch_size=8, grad_accum=1, world_size=360', 'sequence_parallel=True', 'Model: 174,986,637,312 "
               "parameters'")
B175_QUOTE = ("| Throughput | **154,523 tokens/s** | ; | Step time | 19.09 s (global batch 2.95M tokens) | ; "
              "| Peak memory | 53.8 / 140 GB per GPU (86 GB headroom) |")
B175_NOTE = (" The 175B run (kf52): its async checkpoints every 300 steps stall the step to 70-85 s (six of 2,000 "
             "steps), outside the back-half median; NCCL health checks every 50 steps; 'InfiniBand NDR' is stated, "
             "the HCA count a node is not.")


def _row(rid, stem, gpus, mb, accum, tp, dp, compiled, step, tok_s, mem, quote, loc, layout, date, extra=""):
    label, preset, layers, hidden, heads, kv, ffn = MODELS[stem]
    return dict(
        id=rid, model=label, preset=preset, layers=layers, hidden=hidden, heads=heads, kv_heads=kv, ffn_hidden=ffn,
        vocab=128256, mlp="swiglu", norm="rmsnorm", position="rope", tied_embeddings=False, parallel_residual=False,
        qk_norm="none", params_total="", seq_len=4096, global_batch_seqs=dp * mb * accum, micro_batch=mb,
        grad_accum=accum, train_iters="", num_gpus=gpus, gpu="H200-SXM-141GB", gpus_per_node=min(gpus, 4),
        inter_node_gbps=1600, interconnect=INTERCONNECT, tp=tp, pp=1, dp=dp, ep=1, zero=3, dp_shard="",
        precision="bf16", grad_reduce="fp32", recompute="full", recompute_modules="", flash_attention=True,
        stack="torchtitan", stack_options=(f"compile={compiled};tp_overlap=none;params_16bit=True;defer_fsdp_grad_sync=True;"
                                          f"{KF_KERNELS}"), stack_as_run=STACK_AS_RUN,
        metric="iteration_time_s", value=float(step), flop_formula="", measured_step_s=float(step), source_url=URL,
        source_loc=loc, quote=quote, date=date, layout_source=layout, read_date=READ, scored=True,
        not_scored_reason="", cross_check=f"tok/s (all GPUs) {tok_s} = global batch tokens / step time",
        notes=NOTE + extra, sequence_parallel=tp > 1, mem_per_gpu_gb=float(mem.split()[0]), nvlink_topology=NODE_WIRING)


rows = []
for n, gpus, nodes, stem, par, tok_s, mfu, mem, step, (mb, accum, tp, dp, compiled) in MFU_RUNS:
    quote = f"| {n} | {gpus} | {nodes} | {stem.upper()} | {par} | {tok_s} | {mfu} | {mem} | {step} |"
    extra = (" The report's batch table says 7B batch 4 x accum 2; the driver ran experiments 01 / 02 at batch 2 x "
             "accum 4 (the same tokens a step), taken." if n in ("1", "2") else "")
    rows.append(_row(f"kforge_mfu{int(n):02d}_{stem}_{gpus}gpu", stem, gpus, mb, accum, tp, dp, compiled,
                     step.rstrip("s"), tok_s, mem, quote, MFU_LOC, f"{MFU_DRIVER} experiment {int(n):02d}",
                     "2026-04-05", extra))
for stem, gpus, par, tok_s, mfu, mem, step, reps in WEAK_RUNS:
    mb, accum, compiled = WEAK_AS_LOGGED.get((stem, gpus), WEAK_BATCH[stem] + (True,))
    quote = f"| {stem} | {gpus} | {par} | {tok_s} | {mfu} | {mem} | {step} | {reps} |"
    extra = (" Mean of 2 repeats (n = 2)." if reps == "2" else "") + (
        " The 8-GPU points are the 2-node pre-flight runs (the driver's preflight_*_008gpu_tp4_fsdp2)."
        if gpus == 8 else "") + (AS_LOGGED_NOTE if (stem, gpus) in WEAK_AS_LOGGED else "")
    rows.append(_row(f"kforge_weak_{stem}_{gpus}gpu", stem, gpus, mb, accum, 4, gpus // 4, compiled, step, tok_s,
                     mem, quote, WEAK_LOC, WEAK_DRIVER, "2026-06-30", extra))
rows.append(_row("kforge_175b_360gpu", "175b", 360, 8, 1, 4, 90, True, "19.09", "154,523", "53.8 GB", B175_QUOTE,
                 B175_LOC, B175_DRIVER, "2026-07-03", B175_NOTE))
write_csv(OUT, rows, cols)
for r in rows:
    print(r["id"], r["measured_step_s"])
