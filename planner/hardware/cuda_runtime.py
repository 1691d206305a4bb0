"""What the CUDA runtime itself holds on a device, by runtime era: the published figures (``CUDA_RUNTIME_FIGURES``) and
the whole context of a runtime that loads every kernel module at start (``EAGER_CONTEXT_BYTES``), which
planner.model.memory ``runtime_reserve`` charges in place of today's lazy context under ``Stack.cuda_module_loading``
"eager" (ctx51, 2026-12-06; bert53, 2026-12-07: in place of, no longer on top of).

Kept in the hardware layer, below planner.model: the memory model and the stack registry (which prints the figure in
its stack line) both read it, and the registry may not import the memory model."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeFigure:
    """One published figure of the CUDA runtime's own device memory in one runtime era: ``era`` the module loading
    (``planner.vocab.CUDA_MODULE_LOADING``) or the torch / GPU span of a cuBLAS workspace, ``what`` it measures,
    ``nbytes`` the figure, ``source`` where it is printed."""
    era: str
    what: str
    nbytes: float
    source: str


#: What the CUDA runtime holds on a device by runtime era (ctx51, 2026-12-06). Before CUDA 11.7 the runtime loaded every
#: kernel module of every library at initialisation; 11.7 loads a kernel at its first use, when ``CUDA_MODULE_LOADING=
#: LAZY`` (CUDA C Programming Guide, "Lazy Loading": the cuModuleGetFunction half in 11.7, the cudart module half in
#: 11.8); torch sets the variable to LAZY where the user has not since 1.13 (pytorch/pytorch#86509, "[1.13] Sets
#: CUDA_MODULE_LOADING to LAZY when not set by the user", 2022-10; #85692 on main); "Before CUDA 11.7, *all* kernels
#: were loaded into the context once the library was loaded, which took >1000MB" (ptrblck, pytorch/pytorch#107667,
#: 2023-08, of today's "~300MB"; "around 400MB", #109888). The cuBLAS workspaces: pytorch/pytorch#83461 (2022-08,
#: reverted) relanded as #85447 (commit 352d9264, 2022-10-11; pytorch/benchmark#1226: it "moves allocations that were
#: previously managed by cuBLAS to the CUDACachingAllocator"), first released in torch 2.0 (pytorch/pytorch#95668: the
#: 8519680 B block on a 2.0 nightly, "1.13 does not have this issue"): since then allocated from the caching allocator
#: (CublasHandlePool.cpp ``getNewWorkspace``), at most 32 MiB + 32 MiB a handle and stream, in planner.model.memory
#: ``CUDA_CONTEXT_BYTES`` with today's lazy context; before it cuBLAS allocated its own default pool, 4 MiB a handle,
#: outside the allocator: ``EAGER_CONTEXT_BYTES`` (bert53)
CUDA_RUNTIME_FIGURES = {
    "eager_context_hf": RuntimeFigure(
        "eager", "process device memory after torch.ones((1, 1)).to('cuda'), nvidia-smi (pynvml used // 1024**2)",
        1343 * 2**20, "huggingface/transformers docs perf_train_gpu_one.mdx @0016acf7 'GPU memory occupied: 1343 MB' "
                      "(torch 1.10, CUDA 11.x, Tesla V100-SXM2-16GB, 2022-01)"),
    "eager_context_pr": RuntimeFigure(
        "eager", "total - free after torch.randn(20, 16, 50, 100).cuda(), CUDA_MODULE_LOADING=DEFAULT", 666_632_192,
        "pytorch/pytorch#86509 (2022-10-07)"),
    "lazy_context_pr": RuntimeFigure(
        "lazy", "the same, CUDA_MODULE_LOADING=LAZY (torch 1.13's default)", 287_047_680,
        "pytorch/pytorch#86509 (2022-10-07)"),
    "lazy_context_2026": RuntimeFigure(
        "lazy", "nvidia-smi after torch.cuda.mem_get_info(0) (the context alone)", 426 * 2**20,
        "unslothai/unsloth-zoo#1053 (torch 2.10.0+cu130, RTX 6000 Ada, 2026-08)"),
    "cublas_ws_torch110": RuntimeFigure(
        "torch <= 1.10", "cuBLAS workspace torch sets: none (cuBLAS's own)", 0.0,
        "aten/src/ATen/cuda/CublasHandlePool.cpp @0002be30 (cublasCreate only); discuss.pytorch.org 178671 (torch "
        "1.10.0: no 8519680 B block)"),
    "cublas_default_pool": RuntimeFigure(
        "torch < 2.0 (before #85447)", "the workspace cuBLAS allocates itself a handle, outside torch's allocator",
        4 * 2**20,
        "cuBLAS docs ``cublasSetWorkspace``: 'the recommended size of user-provided workspace is at least 4MiB (to "
        "match cuBLAS' default workspace pool)', quoted in pytorch/pytorch#74159 (2022-09) and #120925 (2024-03); "
        "#83461 (2022-08): 'cuBLAS internally allocates a new workspace' where torch sets none"),
    "cublas_ws_pre_hopper": RuntimeFigure(
        "torch >= 2.0 (#85447, #83461 relanded), not sm90", "cuBLAS workspace a handle and stream, ':4096:2:16:8'",
        4096 * 1024 * 2 + 16 * 1024 * 8,
        "CublasHandlePool.cpp ``parseChosenWorkspaceSize`` @26a39059 (added by pytorch/pytorch#83461, 2022-08, "
        "'Explicitly set the workspace for cuBLAS handles'); discuss.pytorch.org 178671 (its 8519680 B block)"),
    "cublas_ws_sm90": RuntimeFigure(
        "torch >= 2.0 (#85447), sm90", "cuBLAS workspace a handle and stream", 4096 * 8 * 1024,
        "CublasHandlePool.cpp ``parseChosenWorkspaceSize`` @26a39059 ('32MiB for Hopper')"),
    "cublaslt_ws": RuntimeFigure(
        "torch after #120925 (2024-03)", "cuBLASLt workspace: 1 MiB; 4 MiB on sm8x of >= 24 GiB; 32 MiB on sm >= 9",
        32 * 2**20,
        "pytorch/pytorch#120925 (2024-03, after the cuBLAS docs' cublasSetWorkspace: 4 MiB, Hopper 32 MiB); "
        "CUBLASLT_WORKSPACE_SIZE default 1024 KiB per #73328"),
}
#: cuBLAS handles a training process driving one GPU holds: torch keeps one a thread and device
#: (aten/src/ATen/cuda/detail/DeviceThreadHandles.h ``DeviceThreadHandlePool``), and the autograd engine runs a CUDA
#: device's backward on that device's own thread (torch/csrc/autograd/engine.cpp ``start_device_threads``): the main
#: thread's (forward, optimizer) and the backward's
CUBLAS_HANDLES = 2
#: the whole device memory a runtime that loads every kernel module at start holds outside the caching allocator
#: (``Stack.cuda_module_loading`` "eager": CUDA < 11.7, or torch < 1.13 without ``CUDA_MODULE_LOADING=LAZY``), which
#: planner.model.memory ``RuntimeReserve.context_on`` charges in place of today's ``CUDA_CONTEXT_BYTES``: the context
#: the 2022 HF page measured (1343 MiB, torch 1.10, V100) -- every module of every library is in it from the start,
#: so no kernel loads into it later, as today's lazy runtime's do through a run -- plus the workspace cuBLAS allocates
#: for itself on each of the process's handles (``cublas_default_pool``: torch took none from its allocator before
#: pytorch/pytorch#85447, torch 2.0; cuDNN's workspaces come from the allocator in every era,
#: aten/src/ATen/native/cudnn/Conv_v7.cpp, so they are the dynamic part's). 1351 MiB = 1.32 GiB. Until bert53
#: (2026-12-07) ctx51's 1.04 GiB (1343 MiB less PyTorch's lazy context, 287,047,680 B, #86509) was added on top of
#: ``CUDA_CONTEXT_BYTES`` (0.75 GiB): 1.79 GiB, which counted the 0.48 GiB of today's figure beyond a bare lazy
#: context -- the kernels a lazy run loads as it goes and torch >= 2.0's workspaces, never measured apart -- again.
#: An eager run is torch < 1.13 unless forced (torch 1.13 made lazy the default), so before 2.0's allocator
#: workspaces. Assumed: a torch >= 2.0 run forced eager (``CUDA_MODULE_LOADING=EAGER``, or CUDA < 11.7) holds torch's
#: workspaces instead (2 x 8.5 MiB in its allocator before Hopper), within 0.01 GiB of this; no input names the torch
#: version apart from the module loading
EAGER_CONTEXT_BYTES = (CUDA_RUNTIME_FIGURES["eager_context_hf"].nbytes
                       + CUBLAS_HANDLES * CUDA_RUNTIME_FIGURES["cublas_default_pool"].nbytes)
