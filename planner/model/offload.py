"""Offload to host memory: what ``activation_offload`` and ``optimizer_offload`` (training stack
options, planner.model.stacks) take off the GPU, what they cost in host RAM, and the step time they
add. Vectorised over candidates like the rest of the time and memory model.

Optimizer offload — DeepSpeed ZeRO-Offload (Ren et al. 2021, "ZeRO-Offload: Democratizing
Billion-Scale Model Training", USENIX ATC, arXiv 2101.06840, §4.1 and Fig. 5: fp32 master weights
and Adam moments on the CPU, gradients streamed to the host during backward, the Adam step on the
CPU, the updated 16-bit parameters copied back), Megatron-Core ``--optimizer-cpu-offload``
(``megatron/core/optimizer/cpu_offloading/hybrid_optimizer.py`` ``HybridDeviceOptimizer``, CPU
optimizer ``torch.optim.AdamW``), FSDP2 ``CPUOffloadPolicy`` (the optimizer step runs on the
CPU's copy); the CPU Adam rate is ``CPU_ADAM``:

* GPU memory: the rank's optimizer shard (fp32 master + moments) leaves HBM; Megatron's gradient
  buffer stays (it keeps ``main_grad`` on the GPU and copies it out at the step); DeepSpeed's
  gradient partition leaves too, its reduce buckets and one buffer of the largest parameter stay
  (it streams the partition out bucket by bucket: planner.model.stacks ``ZERO_OFFLOAD_ROWS``, read
  from its stage_1_and_2.py / stage3.py; until zoff46, 2026-12-06, the whole partition was counted).
* Host memory: master + moments + a 4-byte fp32 gradient copy per parameter of the shard
  (HybridDeviceOptimizer's pinned ``cpu_copy_map_grad``; DeepSpeed's fp32 gradient partition).
* Time: the gradient copy device-to-host overlaps the last micro-batch's backward (DeepSpeed
  ``overlap_comm``: each reduced bucket is copied out as it is ready): only what exceeds that
  backward is exposed; then the CPU Adam step, then the 16-bit parameters host-to-device
  (DeepSpeed ``stage_1_and_2.py`` copies the updated fp32 partition into the 16-bit one after
  the CPU step). All ranks of a node step their shards on the node's cores at once. FSDP2's
  ``CPUOffloadPolicy`` keeps the sharded parameters themselves on the host and copies them in before
  every all-gather and each reduced gradient shard out after every reduce-scatter: ``fsdp2_copies_exposed``.
  DeepSpeed's gradient accumulation under offload copies each micro-batch's 16-bit gradients through the host
  (16-bit in and out per micro-batch at ZeRO-2 / 3, the boundary's copy in at ZeRO-1: planner.model.stacks
  ``ZERO_OFFLOAD_ROWS``): ``partition_copies_exposed``, hidden under the backward only on DeepSpeed's reduction
  stream (``overlap_comm``). Until 2026-12-06 (offload47) they were not priced.

Activation offload — Megatron-Core ``--cpu-offloading`` (TE ``get_cpu_offload_context``,
``AsyncDoubleBufferGroupOffloadHandler``): the saved activations of each finished layer are
copied to pinned host memory on a side stream during forward and prefetched back one layer ahead
of its backward, double-buffered. Megatron-Core accepts at most ``num_layers - 1`` offloaded layers
and refuses it with pipeline parallelism or with activation recomputation
(``transformer_config.py``: "Currently there is no support for Pipeline parallelism with CPU
offloading", "CPU offloading does not work when activation recomputation is enabled") —
``valid_mask``. GPU memory keeps the layers not offloaded (``resident_layers``); the copies cost only
what exceeds the forward (out) and the backward (back) they overlap.

How many layers: ``Stack.activation_offload_layers`` (Megatron-Core ``--cpu-offloading-num-layers``), else every
layer but the last (``offloaded_layers``). TE's handler spreads the N offload groups over the model's L layers
(transformer_engine/pytorch/cpu_offload.py ``AsyncDoubleBufferGroupOffloadHandler``: ``layer_window_map``, group
i's copy must be done by layer (i + 1) x L / N - 1, where the compute stream waits on the D2H stream and frees the
group's GPU copies; the reload of a group is prefetched one window ahead of its backward), so N layers' copies
overlap the whole pass: exposed = max(N x c - t_fwd, 0) + max(N x c - t_bwd, 0), c = one layer's saved bytes over
the host link (``activation_exposed_mb``). The tensors moved are the layer's saved activations
(``activation_layer_bytes``: TE marks what its modules save, Megatron-Core runs the whole layer's forward inside
the offload context; the weights stay, ``cpu_offloading_weights`` False). GPU memory keeps the L - N layers not
offloaded and no more (``resident_layers``; ``RESIDENT_EXTRA`` = 0): TE's offload since its refactor (TE PR #1762,
transformer_engine/pytorch/cpu_offload.py ``OffloadSynchronizer._default_offload_sync_init``, the default path; the
old handler is behind ``NVTE_CPU_OFFLOAD_V1=1``) offloads layers 0 .. N - 1, makes layer i's copy finish before layer
L - N + i's forward (where its GPU copies are dropped) and starts its reload at layer L - 1 - N + i's backward, "so
that ... peak memory usage of saving activations is (num_layers - num_offloaded_layers) * T": at the end of layer k's
forward (k >= L - N) layers 0 .. k hold saves and k - (L - N) + 1 of them are gone, L - N left; in the backward of
layer j, the kept layers N .. j and the reloads started for layers j - L + 1 + N .. N - 1, L - N again
(tests/test_mbmem38.py re-enacts the schedule). Until 2026-12-05 the GPU kept L - N + 2 (``RESIDENT_LAYERS`` = 3 at
N = L - 1: the last layer and the old handler's "two groups of the double buffer"), one more than even the old
``AsyncDoubleBufferGroupOffloadHandler`` holds (its group i freed at layer ``layer_window_map[i]`` = (i + 1) L / N
- 1, the last group at layer L - 1: L - N + 1 at the end of the forward), which the Megatron-Bridge performance
recipes do not select (they set ``NVTE_CPU_OFFLOAD_V1`` only with fine-grained activation offloading).

Host link: the GPU's link to host memory from the catalog (``hardware_catalog.GPU.host_bw``: the row's
``host_link_gbps_per_dir`` where that is not PCIe — GH200, GB200, GB300: NVLink-C2C to the Grace CPU, sourced in
their rows — else its PCIe link, ``pcie_gbps_per_dir``, nominal per direction), at ``PCIE_EFF`` of nominal; each
GPU is assumed to have its own x16 link to the host. HGX / DGX B200 runs it at Gen5 (the catalog row: Gen5 host
board and CPUs behind the B200's Gen6-capable part; until 2026-12-04 the row said Gen6, 128 GB/s).

PCIe contention (``pcie_contention_mb``): on an HGX board each GPU sits behind a host-board PCIe switch with its
ConnectX NICs (``nvidia-smi topo -m`` of a B200 node: GPU0 / GPU1 ``PIX`` to NIC0 / NIC1), so
its one x16 link carries both the offload copies and the NIC's GPUDirect RDMA reads and writes of GPU memory --
the inter-node share of the ZeRO-3 / FSDP gathers and reduce-scatters (comm.nic_bytes). TE launches a layer's copy
at a layer boundary (``OffloadSynchronizer.fwd_step``, transformer_engine/pytorch/cpu_offload.py, the reloads by
its ``start_reload_map`` in the backward; the older ``AsyncDoubleBufferGroupOffloadHandler`` at its group commits),
where FSDP's pre-forward / pre-backward hooks also issue the next unit's gather, so the two meet on the link.
While they do, the NIC's traffic moves at ``PCIE_SHARE`` of the link (an assumption: an even split); the copies
last ``copy / (link x t_pass - nic)`` of the pass. Gen5 x16 at ``PCIE_EFF`` is 51 GB/s, so a 400 Gb/s
NIC (42.5 GB/s achieved) drops to 26 GB/s while a copy runs; a Gen6 link's half (51 GB/s) would outrun it (no
contention) and NVLink-C2C (GH200 / GB200 / GB300) keeps the copies off PCIe. The extra time joins the collectives
(step_time ``offload_contention``), so it shows only where they outlast the compute, plus NCCL's SM share while
they run. Together AI's Llama 3.1 70B FP8 Megatron-FSDP runs on DGX B200 (5 layers offloaded, micro-batch 1,
together_b200_baselines.csv) at 64 / 128 / 256 / 512 / 592 GPUs: -7.8 / -6.2 / -9.0 / -15.3 / -11.9% before,
-6.7 / -5.0 / -7.7 / -10.7 / -7.9% with it; no other validation row moves. The rest of their drift with DP
(measured +20% from 64 to 592 GPUs, predicted +15% before, +18% now) is not this mechanism's: the copies and the
NIC bytes per GPU do not grow with DP; the collectives' ring latency does (planner.model.comm).

DeepSpeed's activation checkpointing (``Stack.cpu_checkpointing``, ``Stack.partition_activations``: Megatron-DeepSpeed
``--checkpoint-in-cpu`` / ``--partition-activations``, the DeepSpeed config's ``activation_checkpointing`` section),
read in deepspeedai/DeepSpeed deepspeed/runtime/activation_checkpointing/checkpointing.py ``CheckpointFunction``: on
the full-recompute rows each checkpointed layer's input goes to host memory in the forward and comes back before the
layer's recompute. With ``partition_activations`` (the DeepSpeed team's 10B ZeRO-Offload config sets both) the
rank's 1/tp slice is cut, ``.clone()``-d and copied into a CPU tensor (``partition.cpu()``, or ``copy_`` into the
``contiguous_memory_optimization`` buffers, made with ``new_empty(..., device='cpu')``: pageable, not pinned), and
``backward`` copies it back (``t.saved_data.to(t.device)``) before the TP all-gather: blocking copies on the compute
stream, so the forward's D2H and the backward's H2D are priced whole at the host link (``activation_exposed_mb``).
Without partitioning the 2021-2025 versions copy the same way (``copy_to_device(args, device=torch.device('cpu'))``,
``move_to_device`` back); the newest (``_ActivationOffloadEngine``, keep-last 1) copies asynchronously, which is not
modelled (the conservative side). GPU memory keeps ``CPU_CHECKPOINT_RESIDENT`` inputs; the host all of them
(``offloaded_layers``, per micro-batch in flight one: the pipeline's other in-flight micro-batches' host copies are not
counted). The partitioned input's clone, re-assembly and TP all-gather are planner.model.layer_ops'
(``partitioned_checkpoint_bytes``); not priced: the pageable copies' rate below pinned ones (``PCIE_EFF`` for both).

Parameter offload -- DeepSpeed ZeRO-3 ``zero_optimization.offload_param: {device: cpu}`` (ZeRO-Infinity, Rajbhandari
et al. 2021, "ZeRO-Infinity: Breaking the GPU Memory Wall for Extreme Scale Deep Learning", SC21, arXiv 2104.07857;
``Stack.param_offload``), read in deepspeedai/DeepSpeed deepspeed/runtime/zero (stored 2025-26 versions):

* Where the parameters live: stage3.py ``_create_fp16_partitions_with_defragmentation`` keeps the partitions on the
  GPU only ``if not self.offload_param``; otherwise ``_create_param_groups_fp16_flat_cpu_memory`` allocates one
  pinned host buffer per parameter group (``get_accelerator().pin_memory(torch.empty(flat_buffer_size,
  dtype=self.dtype))``) and ``_move_to_flat_buffer`` points every ``ds_tensor`` into it: the rank's 16-bit partition
  leaves the GPU for host RAM, its bytes in the module's dtype (planner.model.memory ``param_offload``). The gathered
  parameters in flight (``stage3_max_live_parameters``' window, memory.py ``ds_zero3_live_elems``) and the persistent
  small ones (``stage3_param_persistence_threshold``) stay on the GPU as before.
* The fetch: partition_parameters.py ``all_gather_coalesced`` hands the collective ``param_ds_tensor.to(
  get_accelerator().current_device_name())``, a host-to-device copy of the rank's partition of the module's
  parameters, issued by partitioned_param_coordinator.py ``__all_gather_params`` on the coordinator's all-gather
  stream (parameter_offload.py ``__allgather_stream``: its own stream under ``overlap_comm``, the default one
  without) ahead of the gather itself. So every ZeRO-3 gather pass (the forward's, the backward's: DeepSpeed
  reshards after forward) copies the whole partition in once, serialised with the gathers on their stream and
  prefetched as they are: ``param_fetch_s`` seconds a pass, added to the gathers' time by planner.model.step_time
  ``zero_exposure`` (hidden under the compute with them, exposed with them beyond it). Releasing a module frees
  its gathered copy without writing back (the parameters do not change within a step): no copy out.
* The step: stage3.py ``_reassign_or_swap_out_partitioned_parameters`` copies each updated fp32 partition into the
  16-bit one (``fp16_partitioned_groups_flat[i].data.copy_(fp32_partitioned_groups_flat[i].data)``). With the
  optimizer offloaded too both are host tensors (a host copy, the link idle), so the 16-bit parameters' trip back
  to the GPU that optimizer offload alone makes (``optimizer_terms``) is gone; with the optimizer on the GPU the
  fp32 partition is copied out to the host buffer after the GPU step, exposed (``param_update_s``).
* Not modelled: the H2D copies' share of a PCIe link the NIC's GPUDirect traffic uses for the same gathers
  (``pcie_contention_mb`` prices it for activation offload only). NVMe (``device: nvme``): below.

NVMe -- DeepSpeed ZeRO-Infinity (Rajbhandari et al. 2021, arXiv 2104.07857) ``offload_optimizer.device: nvme`` /
``offload_param.device: nvme`` (``Stack.offload_device``), read in deepspeedai/DeepSpeed (stored 2025-26 versions):
deepspeed/runtime/zero/offload_config.py, stage3.py, swap_tensor/pipelined_optimizer_swapper.py:

* ZeRO-3 only: the swappers are built by stage3.py (``_configure_tensor_swapping``, its folder ``zero_stage_3``;
  ``offload_param`` is "Valid only with stage 3"), so ``valid_masks`` refuses other stages (nvme49).
* Optimizer: stage3.py sets ``swap_optimizer`` when the device is nvme. Per sub-group of the rank's partition
  (``sub_group_size``, 1e9 elements by default) the swapper reads the fp32 parameter, both Adam moments and the fp32
  gradient (``_swap_in_optimizer_state``: ``len(param_info.tensors) + 1`` buffers, the gradients swapped out during
  the backward, ``swap_out_gradients``), the CPU Adam steps it, and the state is written back
  (``_swap_out_optimizer_state``): 16 B read and 12 B written a parameter, 4 B of gradient written in the backward
  (``NVME_OPT_READ_B`` / ``NVME_OPT_WRITE_B`` / ``HOST_GRAD_BYTES``). The defaults ``pipeline_read`` /
  ``pipeline_write`` are false, so the default ``PartitionedOptimizerSwapper`` reads, steps and writes each sub-group
  in turn: the NVMe time adds to the CPU step (``nvme_optimizer_s``; the pipelined swapper's overlap is not
  modelled: the slow side). The gradient writes are asynchronous (``AsyncTensorSwapper``) beside the backward: exposed
  beyond the last one. Host memory keeps ``buffer_count`` (4) pinned buffers of the largest sub-group in fp32 instead
  of the master, moments and gradient (``nvme_optimizer_host_bytes``); the NVMe holds those 16 B a parameter.
* Parameters: the 16-bit partition's first ``max_in_cpu`` (1e9) elements stay in pinned host memory (stage3.py
  ``_create_param_groups_fp16_flat_cpu_memory``), the rest is swapped (``AsyncPartitionedParameterSwapper``,
  ``buffer_count`` 5 pinned buffers of ``buffer_size`` 1e8 elements). Each gather pass reads the swapped part from NVMe
  ahead of its host-to-device copy (the coordinator prefetches NVMe partitions): two stages of one pipeline, so a pass
  takes the slower of the two (``param_fetch_s``); the step writes the updated swapped part back (``param_update_s``).
* The NVMe: every rank of a node swaps to the node's local NVMe at once, sharing one file system's read and write rate
  (``nvme_node_bps``): ``nvme_path`` is one directory, so it is one drive's (``NVME_DRIVE_BPS``, the DeepSpeed
  maintainer's "Read/write speeds of a single NVMe device is ~3 GB/sec", deepspeedai/DeepSpeed#2034, 2022-08-29),
  the default, as DeepSpeed's docs take one device; or, under ``nvme_stripe: drives``, a RAID-0 / LVM stripe the user
  built over the node's drives (the catalog's ``local_nvme_drives``: 8 on p4d / p5 / p6), whose sequential rate is
  taken as the drives' sum (a stripe spreads each large request over every member); or ``nvme_gbps``, a rate the user
  measured (e.g. DeepSpeed's ``ds_nvme_tune`` / ``ds_io``), which replaces both. Capacity: the catalog's ``local_nvme_tb`` per instance must hold the node's
  swapped bytes (``nvme_fits``); a bare-GPU cluster (no instance row) is taken to have enough.

MaxText's remat offload (``Stack.remat_policy``, planner.model.stacks ``MAXTEXT_REMAT_POLICIES``): the tensors a
policy names ``offload`` leave the layer's ``jax.checkpoint`` for pinned host memory
(``save_and_offload_only_these_names(..., offload_src="device", offload_dst="pinned_host")``, MaxText/layers/
decoders.py ``get_remat_policy``) and come back for its backward (JAX "Memories and Host Offloading",
docs.jax.dev notebooks/host-offloading, "Activation offloading"). XLA compiles them into the step as asynchronous
host transfers scheduled beside the layers' compute, as TE's copies are spread over the pass: priced with the same
overlap, exposed only beyond the forward (out) and the backward (back) -- an assumption, no TPU profile measured. Every
layer's offloaded tensors move (``remat_moved_bytes``) and sit on the host at the forward's end (memory.py counts them
against ``host_limit``). The link: the chip's host link from the catalog (``host_link_bps``; TPU v6e: its PCIe row).
"""
from __future__ import annotations

from dataclasses import dataclass

from types import SimpleNamespace

import numpy as np

from planner.layout import distinct_rows
from planner.model.activations import (mean_layer_activation_bytes, remat_host_layer_bytes, saved_softmax_fp32,
                                       stack_remat, stack_table_kw)
from planner.model.stacks import DS_CHECKPOINT_OPTIONS, recompute_modules
from planner.vocab import RECOMPUTE


@dataclass(frozen=True)
class CpuAdam:
    """Adam steps per second of one host (parameters/s) with ``ref_vcpus`` hardware threads."""

    params_per_s: float
    ref_vcpus: float
    source: str


#: CPU Adam throughput, one figure for every stack: DeepSpeed PR #735 (R. Yazdani Aminabadi,
#: ZeRO-Offload co-author, 2021-02): DeepSpeedCPUAdam "reduces the optimizer time from 56 seconds
#: to 8.2 seconds [for] an 11.6B parameter GPT2 model" (56 s: torch.optim.Adam on the CPU, PyTorch
#: 1.7's single-tensor loop; DeepSpeed's feature page: 5.1x-6.5x over torch Adam at 1-10B). The
#: host is taken to be the ZeRO-Offload paper's testbed, a DGX-2 (2 x Xeon Platinum 8168: 48
#: cores, 96 threads) — an assumption, the PR does not name it — and the rate is scaled to an
#: instance by its vCPUs. The 56 s figure is not used for the stacks that step with torch's AdamW
#: (Megatron-Core's HybridDeviceOptimizer imports ``from torch.optim import AdamW as CPUAdam``;
#: FSDP2 CPU offload): current PyTorch runs it far faster than 1.7 did — on one thread of this
#: repository's 2-vCPU development VM, torch 2.13 AdamW steps 77 M params/s single-tensor and
#: 150 M/s foreach (100M fp32 params, 2026-11-30), against 14.7 M/s per thread implied here — so
#: the one published figure is a conservative (slow) rate for all; a measured host replaces it.
CPU_ADAM = CpuAdam(11.6e9 / 8.2, 96.0, "DeepSpeedCPUAdam, DeepSpeed PR #735: 11.6B params in 8.2 s (96-thread host assumed)")

#: achieved share of the nominal PCIe x16 rate for large pinned copies: CUDA bandwidthTest reaches
#: ~25 of 32 GB/s on Gen4 and ~53-55 of 64 GB/s on Gen5 (the 20-25 GB/s Gen4 figure the data
#: pipeline model uses, planner.simulate.config.H2D_BW)
PCIE_EFF = 0.8
#: share of the GPU's PCIe link the NIC's GPUDirect RDMA traffic keeps while an offload copy runs on the same link
#: in the same direction: two streams, one link, an even split -- an assumption (the arbitration between the copy
#: engine's writes and the NIC's reads of GPU memory is not published); ``pcie_contention_mb``
PCIE_SHARE = 0.5
#: a GPU with no host link in the catalog (TPU, Trainium2: neither PCIe nor NVLink-C2C figure): Gen4 x16 nominal
PCIE_FALLBACK_BPS = 32e9
#: bytes per parameter of the fp32 gradient copy an offloaded optimizer keeps on the host (DeepSpeed's
#: ``single_partition_of_fp32_groups[i].grad``, Megatron-Core's ``cpu_copy_map_grad``); FSDP2's host gradient shard is
#: in its parameter's dtype instead (planner.model.memory ``optimizer_offload``, ds47: 2 B for 16-bit parameters)
HOST_GRAD_BYTES = 4.0
#: layers' activations the GPU holds under activation offload beyond the L - N not offloaded: none under TE's
#: ``OffloadSynchronizer`` (module docstring; the last layer is never offloaded, ``cpu_offloading_num_layers <
#: num_layers``, so at least one stays)
RESIDENT_EXTRA = 0.0
#: checkpointed layer inputs the GPU holds under DeepSpeed's ``cpu_checkpointing``: the one copied back before its
#: layer's recompute (``CheckpointFunction.backward``: ``t.data = t.saved_data.to(t.device)``, freed with the layer's
#: backward); in the forward each input is emptied on the GPU once its host copy is made (``arg.data =
#: torch.empty([])``), so the layer running holds its own and no other
CPU_CHECKPOINT_RESIDENT = 1.0
#: share of the host's RAM a plan may fill with offloaded state, or a dataset cache in RAM
#: (planner.simulate.answers ``cache_worth_it``); the rest: OS, data loaders, the framework's pinned
#: staging buffers — an assumption
HOST_RAM_USABLE = 0.8
#: host RAM per GPU of a bare-GPU cluster (``cluster.gpu``: no instance row to read it from) whose GPU has no
#: reference system in the catalog (``HardwareOption.reference``, else that system's RAM per GPU): AWS
#: p5.48xlarge's 2,048 GiB for 8 GPUs; the catalog's other 8-GPU A100-B200 training instances have
#: 1,152-3,968 GiB (NVIDIA DGX H100: 2 TB) — an assumption, so that an offload plan cannot park terabytes
#: per GPU on a host of unknown size (Llama-3.1-405B TP8 ZeRO-3 activation offload wanted 977 GiB per GPU)
REF_HOST_RAM_PER_GPU = 2048 * 2**30 / 8
#: DeepSpeed ZeRO-Infinity's NVMe swap (module docstring "NVMe"), the defaults of deepspeedai/DeepSpeed
#: deepspeed/runtime/zero/offload_config.py (``offload_optimizer.buffer_count`` 4, ``offload_param.buffer_count`` 5,
#: ``buffer_size`` 1e8, ``max_in_cpu`` 1e9) and zero/config.py (``sub_group_size`` 1e9)
NVME_OPT_BUFFERS = 4.0
NVME_SUB_GROUP = 1e9
NVME_PARAM_BUFFERS = 5.0
NVME_PARAM_BUFFER_ELEMS = 1e8
NVME_MAX_IN_CPU = 1e9
#: bytes per element of the optimizer swapper's pinned buffers (stage3.py ``_configure_tensor_swapping``: the master
#: weights' and gradients' dtype, fp32)
NVME_OPT_BUFFER_B = 4.0
#: one local NVMe drive's read and write rate, bytes/s: "Read/write speeds of a single NVMe device is ~3 GB/sec"
#: (DeepSpeed maintainer tjruwase, deepspeedai/DeepSpeed#2034, 2022-08-29) -- an assumption, no measured ZeRO-Infinity
#: run here, and no catalog row has a per-drive rate with a source (AWS / Azure publish drive counts, not sequential
#: rates); ``nvme_node_bps`` multiplies it by the drives a stripe spans
NVME_DRIVE_BPS = 3e9
#: where the assumption line says the drive rate comes from
NVME_DRIVE_SOURCE = "one NVMe drive ~3 GB/s read and write, DeepSpeed#2034"


#: GH200 / GB200 / GB300 read their NVLink-C2C host link from the catalog (``host_link_gbps_per_dir``: 450 / 225 /
#: 225 GB/s a direction); until 2026-12-03 they fell back to ``PCIE_FALLBACK_BPS`` (32 GB/s), 7-14x too slow for
#: Megatron-Bridge's GB200 / GB300 offload recipes, and until 2026-12-04 the figures sat here, matched by GPU name
#: prefix, so a catalog override row of such a part could not state its own link.


def host_link_bps(hw) -> float:
    """Achieved bytes/s per direction between one GPU and host memory: the catalog's host link
    (``GPU.host_bw``: NVLink-C2C on a superchip, else PCIe), else ``PCIE_FALLBACK_BPS``; at ``PCIE_EFF`` of
    nominal."""
    return (hw.gpu.host_bw or PCIE_FALLBACK_BPS) * PCIE_EFF


def cpu_adam_params_per_s(hw) -> float:
    """Adam parameter updates per second of one node's CPUs (``CPU_ADAM`` scaled by vCPUs; the
    reference host when the catalog gives none)."""
    vcpus = hw.vcpus_per_node or CPU_ADAM.ref_vcpus
    return CPU_ADAM.params_per_s * vcpus / CPU_ADAM.ref_vcpus


#: why a layout cannot run an offload option, by option (``valid_mask``)
WHY_REFUSED = {
    "activation_offload": "Megatron-Core's activation offload (--cpu-offloading) runs with pp = 1 and recompute none "
                          "only (transformer_config.py)",
    "cpu_checkpointing": "DeepSpeed's cpu_checkpointing (--checkpoint-in-cpu) moves the checkpointed layers' inputs: "
                         "recompute full only (the layers deepspeed.checkpointing.checkpoint wraps)",
    "partition_activations": "DeepSpeed's partition_activations (--partition-activations) splits the checkpointed "
                             "layers' inputs: recompute full only (the layers deepspeed.checkpointing.checkpoint wraps)",
    "offload_device": "DeepSpeed swaps to NVMe from ZeRO-3 only (stage3.py _configure_tensor_swapping, folder "
                      "zero_stage_3; offload_param 'Valid only with stage 3'): zero 3 only",
    "param_offload": "DeepSpeed's offload_param moves the ZeRO-3 parameter partitions (deepspeed/runtime/zero/config.py "
                     "offload_param: 'Valid only with stage 3'; stage3.py alone reads it): zero 3 only",
    "optimizer_offload": "an offloaded optimizer is a sharded one (Megatron --optimizer-cpu-offload needs "
                         "--use-distributed-optimizer; DeepSpeed offload_optimizer needs ZeRO stage >= 1): zero >= 1 "
                         "when there is more than one data-parallel replica, and on Megatron with one too",
}


def valid_masks(stack, c) -> dict:
    """Per offload option the stack has on, the rows of candidates ``c`` that can run it."""
    out = {}
    if stack.activation_offload:
        out["activation_offload"] = (c.pp == 1) & (c.rc == 0)
    for k in DS_CHECKPOINT_OPTIONS:  # DeepSpeed's CheckpointFunction acts on the checkpointed layers only
        if getattr(stack, k, False):
            out[k] = c.rc == RECOMPUTE.code["full"]
    if stack.optimizer_offload:
        # with one replica ZeRO shards nothing, but the stage its launch writes is still the plan's
        # (Stack.optimizer_offload_zero: Megatron's offload needs its distributed optimizer, ZeRO-1)
        one = int(getattr(stack, "optimizer_offload_zero", 0))
        out["optimizer_offload"] = (c.zero >= max(1, one)) | ((c.dp * c.cp == 1) & (c.zero >= one))
    if getattr(stack, "param_offload", False):
        out["param_offload"] = c.zero >= 3
    if getattr(stack, "offload_device", "cpu") == "nvme":
        out["offload_device"] = c.zero >= 3
    return out


def valid_mask(stack, c) -> np.ndarray:
    """Rows of candidates ``c`` the stack can run with its offload options (``WHY_REFUSED``)."""
    ok = np.ones(len(c), dtype=bool)
    for m in valid_masks(stack, c).values():
        ok &= m
    return ok


def offloaded_layers(layers, stack):
    """Layers (of the stage's ``layers``; activation offload runs with pp = 1 only) whose activations go to the
    host: ``Stack.activation_offload_layers`` (``--cpu-offloading-num-layers``), else all but the last; none
    without activation offload. Under DeepSpeed's ``cpu_checkpointing`` (full-recompute rows only, ``valid_masks``)
    every checkpointed layer's input (module docstring, "DeepSpeed")."""
    if getattr(stack, "cpu_checkpointing", False):
        return np.asarray(layers, dtype=np.float64)
    if not stack.activation_offload:
        return np.zeros_like(np.asarray(layers, dtype=np.float64))
    n = np.asarray(layers, dtype=np.float64) - 1.0
    if stack.activation_offload_layers is not None:
        n = np.minimum(n, float(stack.activation_offload_layers))
    return np.maximum(n, 0.0)


def resident_layers(layers, stack):
    """Layers whose activations the GPU holds at the peak (all of them without offload): the layers not offloaded
    (``RESIDENT_EXTRA`` more, none under TE's ``OffloadSynchronizer``), at most ``layers``."""
    if getattr(stack, "cpu_checkpointing", False):  # the one input back on the GPU for its layer's recompute
        return np.minimum(layers, CPU_CHECKPOINT_RESIDENT)
    if not stack.activation_offload:
        return layers
    return np.minimum(layers, layers - offloaded_layers(layers, stack) + RESIDENT_EXTRA)


def offloaded_params(optimizer_bytes, state_bytes_per_param: float):
    """Parameters of an offloaded optimizer shard that takes ``optimizer_bytes`` on the GPU (master + moments at
    ``state_bytes_per_param``, per candidate or one for all); 0 where there is no state."""
    state = np.asarray(state_bytes_per_param, dtype=np.float64)
    return np.where(state > 0, optimizer_bytes / np.where(state > 0, state, 1.0), 0.0)


def host_optimizer_bytes(optimizer_bytes, state_bytes_per_param: float, wrapper_bytes_per_param=0.0,
                         grad_bytes_per_param=HOST_GRAD_BYTES):
    """Host bytes of an offloaded optimizer shard that takes ``optimizer_bytes`` on the GPU
    (master + moments at ``state_bytes_per_param``), plus its gradient copy (``grad_bytes_per_param``: fp32,
    ``HOST_GRAD_BYTES``, for DeepSpeed and Megatron-Core; FSDP2's gradient shard is in its sharded parameter's
    dtype, planner.model.memory ``optimizer_offload``) and the optimizer wrapper's own host buffers per parameter of
    the shard (``wrapper_bytes_per_param``: ``stacks.ZeroStageStates.host_bit16_bytes``, DeepSpeed's 16-bit partition
    copy)."""
    n = offloaded_params(optimizer_bytes, state_bytes_per_param)
    return n * (state_bytes_per_param + grad_bytes_per_param + wrapper_bytes_per_param)


def activation_layer_bytes(m, t, c, act_bytes: float, stack=None):
    """Saved activation bytes of one layer and micro-batch per candidate, as memory.memory_per_gpu
    counts them (planner.model.activations.mean_layer_activation_bytes) under ``stack``."""
    return mean_layer_activation_bytes(
        m, t.seq_len, c.mb, tp=c.tp, cp=c.cp, sp=c.sp.astype(bool), flash=t.flash_attention, dropout=t.dropout,
        act_bytes=act_bytes, recompute=c.rc,
        fp32_softmax=saved_softmax_fp32(stack, m, t.seq_len, c.mb, c.tp, c.cp, act_bytes),
        **stack_table_kw(stack, t.precision, recompute_modules(t, stack, m), m))


def remat_moved_bytes(stack, m, t, c, act_bytes: float, layers):
    """Bytes per micro-batch MaxText's remat policy copies to pinned host memory in the forward (and back in the
    backward): every layer's offloaded tensors (activations.remat_host_layer_bytes) on the ``recompute: full`` rows
    (the layers under jax.checkpoint); 0 without a policy that offloads."""
    remat = stack_remat(stack)
    rows = np.shape(np.asarray(c.tp))  # the candidates' row shape (c may be a Candidates or a bare namespace of columns)
    if remat is None or not m.is_transformer:
        return np.zeros(rows, dtype=np.float64)
    per = remat_host_layer_bytes(m, t.seq_len, c.mb, c.tp, c.cp, np.asarray(c.sp, dtype=bool), act_bytes, remat)
    return np.where(np.asarray(c.rc) == 2, np.asarray(layers, dtype=np.float64) * per, 0.0) * np.ones(rows)


def activation_moved_bytes(stack, m, t, c, act_bytes: float, layers):
    """Bytes per micro-batch the activation offload copies out in the forward (and back in the backward):
    ``offloaded_layers`` layers' saved activations (``activation_layer_bytes``); 0 without it. MaxText's remat
    offload apart: ``remat_moved_bytes``."""
    if not (stack.activation_offload and m.is_transformer):
        return np.zeros(len(c), dtype=np.float64)
    keys, inv = distinct_rows(c.tp, c.cp, c.sp, c.mb, c.rc)  # a few hundred keys per search
    layer_bytes = activation_layer_bytes(m, t, SimpleNamespace(**dict(zip(("tp", "cp", "sp", "mb", "rc"), keys))),
                                         act_bytes, stack)[inv]
    return offloaded_layers(layers, stack) * layer_bytes


def checkpoint_moved_bytes(stack, m, t, c, act_bytes: float, layers):
    """Bytes per micro-batch DeepSpeed's ``cpu_checkpointing`` copies to the host in the forward (and back before
    the recomputes): every checkpointed layer's input (``offloaded_layers``) as the rank keeps it
    (``activation_layer_bytes`` at full recompute: its 1/tp slice under ``partition_activations``); 0 without it."""
    if not (getattr(stack, "cpu_checkpointing", False) and m.is_transformer):
        return np.zeros(np.shape(np.asarray(c.tp)), dtype=np.float64)  # (c may be a bare namespace of columns)
    keys, inv = distinct_rows(c.tp, c.cp, c.sp, c.mb, c.rc)
    layer_bytes = activation_layer_bytes(m, t, SimpleNamespace(**dict(zip(("tp", "cp", "sp", "mb", "rc"), keys))),
                                         act_bytes, stack)[inv]
    return offloaded_layers(layers, stack) * layer_bytes


def activation_exposed_mb(stack, m, t, c, hw, act_bytes: float, layers, t_fwd_mb, t_bwd_mb):
    """Seconds per micro-batch the activation copies add: ``offloaded_layers`` layers out during the forward and
    back during the backward, each exposed only beyond the pass it overlaps (module docstring: TE spreads the
    copies over the pass's layer windows); likewise MaxText's remat offload (``remat_moved_bytes``, module
    docstring "MaxText"). DeepSpeed's ``cpu_checkpointing`` copies (``checkpoint_moved_bytes``) are blocking: whole,
    out and back (module docstring, "DeepSpeed")."""
    bw = host_link_bps(hw)
    moved = (activation_moved_bytes(stack, m, t, c, act_bytes, layers)
             + remat_moved_bytes(stack, m, t, c, act_bytes, layers)) / bw
    blocking = 2.0 * checkpoint_moved_bytes(stack, m, t, c, act_bytes, layers) / bw
    return np.maximum(moved - t_fwd_mb, 0.0) + np.maximum(moved - t_bwd_mb, 0.0) + blocking


def pcie_contention_mb(hw, copy_bytes, nic_fwd, nic_bwd, t_fwd_pass, t_bwd_pass):
    """Seconds per micro-batch the ZeRO-3 / FSDP collectives gain from sharing the GPU's PCIe link with the
    activation offload's copies (module docstring, "PCIe contention"): in each pass the collectives' NIC bytes
    (``nic_fwd``: the forward's gathers; ``nic_bwd``: the backward's gathers and reduce-scatters, per GPU and
    direction, comm.nic_bytes) that meet a copy (``copy_bytes`` out in the forward, back in the backward) move at
    ``PCIE_SHARE`` of the link instead of the NIC's rate. A copy meets the share of the pass it lasts, at what the
    collectives leave of the link over the pass (``t_fwd_pass`` / ``t_bwd_pass``: the pass as the step waits for
    it, the longer of its compute and its collectives):

        extra = nic x min(1, copy / (link x t_pass - nic)) x max(1 / (PCIE_SHARE x link) - 1 / nic_bw, 0)

    Zero where the host link is not PCIe (NVLink-C2C: GH200 / GB200 / GB300, ``GPU.host_link_bw``), without
    inter-node collectives, or where the link's share still outruns the NIC."""
    copy_bytes = np.asarray(copy_bytes, dtype=np.float64)
    if hw.gpu.host_link_bw is not None or not np.any(copy_bytes > 0):
        return np.zeros_like(copy_bytes)
    link = host_link_bps(hw)
    per_byte = max(1.0 / (PCIE_SHARE * link) - 1.0 / hw.inter_bw_per_gpu, 0.0)

    def one_pass(nic, t_pass):
        nic = np.asarray(nic, dtype=np.float64)
        spare = np.maximum(link * np.asarray(t_pass, dtype=np.float64) - nic, 1.0)
        return nic * np.minimum(1.0, copy_bytes / spare) * per_byte

    return one_pass(nic_fwd, t_fwd_pass) + one_pass(nic_bwd, t_bwd_pass)


def optimizer_terms(stack, hw, local_params, t_opt_gpu, t_bwd_mb, grad_bytes: float, param_bytes: float,
                    grad_out_hidden=True):
    """(optimizer seconds, exposed host-link seconds) per step. Without optimizer offload:
    the GPU step ``t_opt_gpu`` and nothing. With it: the CPU Adam step of the node's shards
    (``local_params`` per GPU, all GPUs of the node at once), the gradient copy out and the 16-bit parameter copy
    back (DeepSpeed, Megatron-Core; an FSDP2 stack, ``Stack.fsdp2_dp``, copies per all-gather and per reduce-scatter
    instead: ``fsdp2_copies_exposed``). The copy out counts beyond the last backward where it rides beside it
    (``grad_out_hidden``, per candidate), else whole: DeepSpeed copies each reduced bucket's fp32 partition out in
    ``reduce_ipg_grads`` on ``self.reduction_stream`` under ``overlap_comm`` and on the compute stream otherwise
    ("TODO: copy_grad_stream is disabled because of race with reduce. This hurts perf": deepspeedai/DeepSpeed
    deepspeed/runtime/zero/stage_1_and_2.py; stage3.py's ``reduce_and_partition_stream`` is the default stream
    without ``overlap_comm``), and at ZeRO-1 always after the backward (planner.model.step_time
    ``reduce_in_backward``). Until 2026-12-06 (ds47) it was taken as hidden everywhere. Under DeepSpeed's parameter
    offload (``Stack.param_offload``) the 16-bit partition is the host's, updated there: no copy back (stack48)."""
    if not stack.optimizer_offload:
        return t_opt_gpu, np.zeros_like(t_opt_gpu)
    if getattr(stack, "param_offload", False):  # the 16-bit partition is the host's: no copy back (param_update_s)
        param_bytes = 0.0
    bw = host_link_bps(hw)
    cpu = local_params * hw.gpus_per_node / cpu_adam_params_per_s(hw)
    if getattr(stack, "fsdp2_dp", False):  # FSDP2 copies per gather and per reduce: fsdp2_copies_exposed
        return cpu, np.zeros_like(cpu)
    d2h = local_params * grad_bytes / bw
    h2d = local_params * param_bytes / bw
    return cpu, np.where(grad_out_hidden, np.maximum(d2h - t_bwd_mb, 0.0), d2h) + h2d


def param_fetch_s(hw, local_params, param_bytes: float, stack=None):
    """Seconds per ZeRO-3 gather pass DeepSpeed's parameter offload (``Stack.param_offload``) copies the rank's
    parameter partition in (``local_params`` parameters at ``param_bytes``, the module's 16-bit dtype) over the host
    link before the all-gathers (module docstring, "Parameter offload"); 0 without it. Planner.model.step_time adds
    it to the gathers' time, on whose stream it runs. Where ``stack`` swaps the parameters to NVMe, the slower of
    that copy and the NVMe read of the swapped part (module docstring, "NVMe")."""
    h2d = np.asarray(local_params, dtype=np.float64) * param_bytes / host_link_bps(hw)
    if not nvme_swaps(stack, "param"):
        return h2d
    # under offload_device nvme the swapped part is read from NVMe ahead of the copy: the slower stage paces the pass
    return np.maximum(h2d, nvme_param_split(local_params, param_bytes)[0] / nvme_rank_bps(stack, hw))


def param_update_s(stack, hw, local_params, param_bytes: float):
    """Exposed seconds per step of DeepSpeed's parameter offload's write-back after the optimizer step: the updated
    partition copied out to the host 16-bit buffer after a GPU step (stage3.py
    ``_reassign_or_swap_out_partitioned_parameters``: fp32 on the GPU into the pinned 16-bit one, ``param_bytes`` a
    parameter; a host-to-host copy with the optimizer offloaded too: module docstring, "Parameter offload"), and under
    ``offload_device: nvme`` the swapped part written to NVMe; 0 without parameter offload."""
    local = np.asarray(local_params, dtype=np.float64)
    if not getattr(stack, "param_offload", False):
        return np.zeros(np.shape(local))
    out = np.zeros(np.shape(local)) if stack.optimizer_offload else local * param_bytes / host_link_bps(hw)
    if nvme_swaps(stack, "param"):
        out = out + nvme_param_split(local, param_bytes)[0] / nvme_rank_bps(stack, hw)
    return out


def partition_copies_exposed(hw, local_params, m_micro, t_bwd_mb, mb_bytes, side_stream, grad_bytes: float):
    """Exposed seconds per step of the 16-bit gradient copies DeepSpeed's ZeRO-Offload makes in each micro-batch's
    backward besides the boundary's fp32 copy out (``stacks.ZeroStageStates.mb_copy_bytes``, read from
    stage_1_and_2.py ``async_accumulate_grad_in_cpu_via_gpu`` and stage3.py ``partition_grads``): ``mb_bytes`` =
    (one micro-batch a step; of more: the first, each middle one, the last) bytes per parameter of the rank's
    partition (``local_params``), both directions on one stream. On the reduction stream (``side_stream``: DeepSpeed
    ``overlap_comm``) each micro-batch's copies hide under its backward (``t_bwd_mb``) and the last one's share the
    stream with the fp32 gradient out (``grad_bytes`` a parameter, ``optimizer_terms``' ``d2h``, which it precedes):
    only what the pair adds beyond the backward counts here. On the compute stream they are exposed whole (and the
    fp32 copy out too, in ``optimizer_terms``)."""
    bw = host_link_bps(hw)
    p = np.asarray(local_params, dtype=np.float64) / bw
    single, first, middle, last = (np.asarray(b, dtype=np.float64) * p for b in mb_bytes)
    m = np.asarray(m_micro, dtype=np.float64)

    def exposed(secs):
        return np.where(side_stream, np.maximum(secs - t_bwd_mb, 0.0), secs)

    lead = np.where(m > 1, exposed(first) + np.maximum(m - 2.0, 0.0) * exposed(middle), 0.0)
    end, d2h = np.where(m > 1, last, single), p * grad_bytes
    tail = np.where(side_stream, np.maximum(end + d2h - t_bwd_mb, 0.0) - np.maximum(d2h - t_bwd_mb, 0.0), end)
    return lead + tail


def host_ram(hw) -> tuple[float, str]:
    """(bytes, where the figure comes from) of one node's host RAM: the job's ``cluster.host_ram_gib``, else the
    instance's catalog row; a node the
    catalog gives no RAM figure for (a bare-GPU cluster) is taken to have its reference system's RAM per GPU
    (``HardwareOption.reference``: the instance its network comes from), else ``REF_HOST_RAM_PER_GPU``."""
    stated = getattr(hw, "host_ram_bytes", None)
    if stated:  # the job's cluster.host_ram_gib: its nodes as they are, over any catalog row
        return float(stated), "cluster.host_ram_gib"
    ram = getattr(hw.instance, "ram_bytes", None) if hw.instance is not None else None
    if ram:
        return float(ram), hw.instance.key
    ref = getattr(hw, "reference", None)
    if ref is not None and ref.ram_bytes:
        return ref.ram_bytes / ref.gpu_count * hw.gpus_per_node, f"{ref.key}'s RAM per GPU (assumed)"
    from planner.hardware.platform import device_noun  # a TPU slice's is "per chip" (QA 54: it read "per GPU")

    noun = device_noun(hw.gpu) if getattr(hw, "gpu", None) is not None else "GPU"
    return REF_HOST_RAM_PER_GPU * hw.gpus_per_node, f"{REF_HOST_RAM_PER_GPU / 2**30:g} GiB per {noun} (assumed)"


def host_limit(hw) -> float:
    """Bytes per GPU a plan may offload: ``HOST_RAM_USABLE`` of the node's RAM (``host_ram``), shared by its GPUs."""
    return host_ram(hw)[0] * HOST_RAM_USABLE / hw.gpus_per_node


def host_fits(host_bytes_per_gpu, hw):
    """Rows whose offloaded state fits the node's RAM (``host_limit`` per GPU)."""
    return host_bytes_per_gpu <= host_limit(hw)


def nvme_swaps(stack, kind: str) -> bool:
    """Whether ``stack`` swaps its ``kind`` ("optimizer", "param") offload to NVMe (``Stack.offload_device``)."""
    return getattr(stack, "offload_device", "cpu") == "nvme" and bool(getattr(stack, f"{kind}_offload", False))


def swaps_to_nvme(stack) -> bool:
    """Whether ``stack`` swaps either offload to NVMe (``nvme_swaps``)."""
    return nvme_swaps(stack, "optimizer") or nvme_swaps(stack, "param")


@dataclass(frozen=True)
class NodeNvme:
    """One node's local NVMe as the catalog gives it (``node_nvme``); None where no source says."""
    #: bytes (the catalog's ``local_nvme_tb``); None: not said (a bare-GPU cluster: taken to have enough)
    capacity_bytes: float | None
    #: drives (the catalog's ``local_nvme_drives``); None: not said (a bare GPU, a row left blank)
    drives: int | None


def node_nvme(hw) -> NodeNvme:
    """The local NVMe of one node of ``hw``: its instance row's capacity and drives, neither said on a bare GPU.
    One getter since QA 95 (``nvme_drives`` / ``nvme_capacity`` read the same instance apart)."""
    inst = getattr(hw, "instance", None)
    return NodeNvme(getattr(inst, "local_nvme_bytes", None), getattr(inst, "local_nvme_drives", None))


def nvme_node_bps(stack, hw) -> float:
    """One node's NVMe read and write rate, bytes/s (module docstring "NVMe"): ``stack.nvme_gbps`` where stated, else
    ``NVME_DRIVE_BPS`` times the drives the file system spans -- one, or under ``nvme_stripe: drives`` the node's
    ``node_nvme`` drives (one where the catalog does not say)."""
    if getattr(stack, "nvme_gbps", None) is not None:
        return stack.nvme_gbps * 1e9
    striped = getattr(stack, "nvme_stripe", "one") == "drives"
    return NVME_DRIVE_BPS * ((node_nvme(hw).drives or 1) if striped else 1)


def nvme_rank_bps(stack, hw) -> float:
    """One rank's share of the node's NVMe rate (``nvme_node_bps``): every rank of the node swaps at once."""
    return nvme_node_bps(stack, hw) / hw.gpus_per_node


def nvme_rate_words(stack, hw) -> str:
    """The assumption line of the NVMe rate a plan swapping to NVMe was priced at (``nvme_node_bps``): what set it,
    the figure and its source; "" where ``stack`` swaps nothing to NVMe. ``estimate`` and ``recommend`` (its best
    plan) both print it (QA 94: recommend did not)."""
    if not swaps_to_nvme(stack):
        return ""
    gbps = nvme_node_bps(stack, hw) / 1e9
    head = f"training.framework.offload_device: nvme swapped at {gbps:g} GB/s read and write a node"
    if getattr(stack, "nvme_gbps", None) is not None:
        return f"{head} (nvme_gbps, as given)"
    drives = node_nvme(hw).drives
    if getattr(stack, "nvme_stripe", "one") == "drives":
        if drives is None:
            return (f"{head}: nvme_stripe drives, but the catalog gives no drive count for this hardware, so one drive "
                    f"({NVME_DRIVE_SOURCE})")
        return f"{head}: a stripe over the node's {drives} drives (catalog local_nvme_drives) x {NVME_DRIVE_SOURCE}"
    more = (f"; set nvme_stripe: drives where nvme_path is a RAID-0 over its {drives} drives, or nvme_gbps"
            if drives and drives > 1 else "; or nvme_gbps")
    return f"{head}: nvme_path on one drive (DeepSpeed's one device; {NVME_DRIVE_SOURCE}){more}"


def nvme_optimizer_split(params, state_bytes: float, grad_bytes: float = HOST_GRAD_BYTES):
    """(NVMe bytes, pinned host bytes) of an optimizer shard of ``params`` parameters swapped to NVMe: its fp32
    state (``state_bytes``: master + moments) and gradient on the NVMe, ``NVME_OPT_BUFFERS`` buffers of the largest
    sub-group (at most ``NVME_SUB_GROUP`` elements) in host memory (module docstring "NVMe")."""
    params = np.asarray(params, dtype=np.float64)
    return (params * (state_bytes + grad_bytes),
            np.where(params > 0, NVME_OPT_BUFFERS * np.minimum(params, NVME_SUB_GROUP) * NVME_OPT_BUFFER_B, 0.0))


def nvme_param_split(params, param_bytes):
    """(NVMe bytes, pinned host bytes) of a 16-bit parameter partition of ``params`` parameters under
    ``offload_param.device: nvme``: the first ``NVME_MAX_IN_CPU`` elements in host memory, the rest on the NVMe,
    plus the swapper's ``NVME_PARAM_BUFFERS`` buffers of ``NVME_PARAM_BUFFER_ELEMS`` (module docstring "NVMe")."""
    params = np.asarray(params, dtype=np.float64)
    kept = np.minimum(params, NVME_MAX_IN_CPU)
    return ((params - kept) * param_bytes,
            np.where(params > 0, (kept + NVME_PARAM_BUFFERS * NVME_PARAM_BUFFER_ELEMS) * param_bytes, 0.0))


def nvme_fits(nvme_bytes_per_gpu, hw):
    """Rows whose swapped state (``nvme_bytes_per_gpu`` per rank, all ranks of a node on its NVMe) fits the node's
    local NVMe (``node_nvme``); every row where nothing is swapped or the capacity is unknown."""
    need = np.asarray(nvme_bytes_per_gpu, dtype=np.float64)
    cap = node_nvme(hw).capacity_bytes
    return (need <= 0) | (True if cap is None else need * hw.gpus_per_node <= cap)


def nvme_optimizer_s(stack, hw, local_params, state_bytes: float, t_bwd_mb, grad_out_hidden=True):
    """Exposed seconds per step of the optimizer's NVMe swap (``offload_device: nvme`` under optimizer offload): the
    default ``PartitionedOptimizerSwapper`` reads each sub-group's state and gradient, steps it and writes the state
    back in turn, so the reads and writes add to the CPU step; the gradients' writes in the backward count beyond the
    last backward where they ride beside it (``grad_out_hidden``, as ``optimizer_terms``' copy out). 0 otherwise."""
    local = np.asarray(local_params, dtype=np.float64)
    if not nvme_swaps(stack, "optimizer"):
        return np.zeros(np.shape(local))
    bw = nvme_rank_bps(stack, hw)
    grads = local * HOST_GRAD_BYTES / bw
    return (local * (2.0 * state_bytes + HOST_GRAD_BYTES) / bw
            + np.where(grad_out_hidden, np.maximum(grads - t_bwd_mb, 0.0), grads))


def fsdp2_copies_exposed(hw, local_params, shard_bytes, m_micro, gather_per_mb, gather_bwd, reduce_per_mb,
                         t_fwd_mb, t_bwd_mb, frozen_bytes=0.0):
    """Exposed seconds per step of FSDP2 ``CPUOffloadPolicy``'s host copies (torchtitan
    ``training.enable_cpu_offload``, NeMo AutoModel ``optimizer_offload`` on ZeRO-2/3), which are per collective,
    not per step. torch/distributed/fsdp/_fully_shard (pytorch/pytorch, read 2026-12-02):

    * ``FSDPParam.all_gather_inputs`` copies the unit's sharded parameter host-to-device
      (``sharded_param_data.to(self.device, non_blocking=True)``, in its own dtype: ``shard_bytes``, fp32 where
      the sharded parameter is the fp32 master) before every all-gather, on the all-gather copy-in stream, so
      each copy overlaps the compute of the pass that prefetches it. The rank's units together copy
      ``local_params`` x ``shard_bytes`` per gather pass; the optimizer updates the host copy in place, so there
      is no separate copy back after the step.
    * ``foreach_reduce`` copies each reduced gradient shard device-to-host (in the parameter's dtype, the
      reduce output cast back to it) -- ``non_blocking = pin_memory and not to_accumulate_grad``: the
      micro-batch whose shard has no gradient yet overlaps its copy with the backward (the other PCIe
      direction from the backward's gathers), but a micro-batch that accumulates copies synchronously ("the
      CPU add kernel depends on the copy result and we cannot run the add as a callback") and the CPU thread
      launches nothing until the copy is done: those copies are exposed whole. The CPU ``+=`` itself and the
      reduce-scatter that stalls with it are left out (no measured rate).

    Gathers and reduces are counted as the step time prices them: per micro-batch on ZeRO-3 rows
    (``gather_per_mb``; ``gather_bwd``: again in the backward under reshard_after_forward), else once a step
    (a stage held gathered: PP with ``Stack.pp_fsdp_unsharded``, the deferred sync); reduces per micro-batch where
    ``reduce_per_mb`` (ZeRO-2/3), else once under the last backward. An FSDP2 ZeRO-2 row is ZeRO-3 without
    reshard after forward (``reshard_after_forward=False``: the post-backward hook still frees the unsharded
    parameters, so every micro-batch's forward gathers, and copies in, again): step_time passes it as a ZeRO-3 row
    (its ``fsdp_z2``), a gather per micro-batch and none in the backward. Each pass' copies are exposed beyond the pass (``t_fwd_mb``, ``t_bwd_mb``):
    n_fwd x max(c - t_fwd, 0) + max(max(c_bwd, c) - t_bwd, 0) + (m - 1) x (max(c_bwd - t_bwd, 0) + [per-mb reduce] c),
    c = local x shard_bytes / link, c_bwd = c where gathered again in the backward.

    A frozen base (lora / qlora: ``frozen_bytes``, the rank's share of the base in its stored dtype) is offloaded
    and gathered like the rest -- ``FSDPParam._init_sharded_param`` moves every parameter's shard to the host under
    ``offload_to_cpu``, whatever its ``requires_grad`` -- but has no gradient to copy out
    (``FSDPParamGroup.post_backward`` reduces only the parameters whose unsharded gradient is set): the copies in
    are c_in = (local x shard_bytes + frozen_bytes) / link (c_in, c_in_bwd in the gathers' places above), the copies
    out c, ``local_params`` being the trainable ones. Until 2026-12-02 (amroot) the base was left out: Llama-3-70B
    LoRA on 8 H100, seq 512, ZeRO-3: 0.01 s where its 0.34 s bf16 shard per gather is mostly exposed. Until
    2026-12-02 (c8432b7) one fp32
    gradient copy out per step (beyond the last backward) and one 16-bit copy in (exposed) were priced: Llama-3-70B
    on 8 H100 ZeRO-3, 8 micro-batches: 0.35 s where the 7 accumulating micro-batches' copies are 4.8 s."""
    bw = host_link_bps(hw)
    c = np.asarray(local_params, dtype=np.float64) * shard_bytes / bw  # out: the trainable shards' gradients
    c_in = c + np.asarray(frozen_bytes, dtype=np.float64) / bw  # in: every parameter's shard
    m = np.asarray(m_micro, dtype=np.float64)
    c_bwd = np.where(gather_bwd, c_in, 0.0)
    n_fwd = np.where(gather_per_mb, m, 1.0)
    return (n_fwd * np.maximum(c_in - t_fwd_mb, 0.0) + np.maximum(np.maximum(c_bwd, c) - t_bwd_mb, 0.0)
            + (m - 1.0) * (np.maximum(c_bwd - t_bwd_mb, 0.0) + np.where(reduce_per_mb, c, 0.0)))
