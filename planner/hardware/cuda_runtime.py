"""What the CUDA runtime itself holds on a device, by runtime era: the published figures (``CUDA_RUNTIME_FIGURES``) and
the context an eager-loading runtime holds beyond a lazy one (``EAGER_CONTEXT_EXTRA``), which
planner.model.memory ``runtime_reserve`` adds under ``Stack.cuda_module_loading`` "eager" (ctx51, 2026-12-06).

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
#: 2023-08, of today's "~300MB"; "around 400MB", #109888). The cuBLAS workspaces (rows 5-8) are
#: allocated from the caching allocator (CublasHandlePool.cpp ``getNewWorkspace``), so they sit in the allocator's
#: pool, not in the context, are at most 32 MiB + 32 MiB a handle and stream, and no era field moves them:
#: planner.model.memory ``CUDA_CONTEXT_BYTES`` holds today's, as before
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
    "cublas_ws_pre_hopper": RuntimeFigure(
        "torch after #83461 (2022-08), not sm90", "cuBLAS workspace a handle and stream, ':4096:2:16:8'",
        4096 * 1024 * 2 + 16 * 1024 * 8,
        "CublasHandlePool.cpp ``parseChosenWorkspaceSize`` @26a39059 (added by pytorch/pytorch#83461, 2022-08, "
        "'Explicitly set the workspace for cuBLAS handles'); discuss.pytorch.org 178671 (its 8519680 B block)"),
    "cublas_ws_sm90": RuntimeFigure(
        "torch after #83461, sm90", "cuBLAS workspace a handle and stream", 4096 * 8 * 1024,
        "CublasHandlePool.cpp ``parseChosenWorkspaceSize`` @26a39059 ('32MiB for Hopper')"),
    "cublaslt_ws": RuntimeFigure(
        "torch after #120925 (2024-03)", "cuBLASLt workspace: 1 MiB; 4 MiB on sm8x of >= 24 GiB; 32 MiB on sm >= 9",
        32 * 2**20,
        "pytorch/pytorch#120925 (2024-03, after the cuBLAS docs' cublasSetWorkspace: 4 MiB, Hopper 32 MiB); "
        "CUBLASLT_WORKSPACE_SIZE default 1024 KiB per #73328"),
}
#: the context an eager-loading runtime holds beyond a lazy one's (``Stack.cuda_module_loading`` "eager"). NVIDIA
#: publishes no saving as a figure; derived, not fitted: the 2022 HF page's eager context (1343 MiB, the same V100
#: and runtime as the memory rows it moves) less the lazy context PyTorch measured when it turned lazy loading on
#: (287,047,680 B, #86509) = 1.04 GiB. Assumed: today's planner.model.memory ``CUDA_CONTEXT_BYTES`` holds a lazy
#: context of that size. The other lazy figure would give 0.90 GiB (426 MiB, 2026), and #86509's own A/B 0.35 GiB (an
#: eager context half the page's, on a GPU it does not name)
EAGER_CONTEXT_EXTRA = (CUDA_RUNTIME_FIGURES["eager_context_hf"].nbytes
                       - CUDA_RUNTIME_FIGURES["lazy_context_pr"].nbytes)
