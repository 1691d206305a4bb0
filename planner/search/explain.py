"""Words for numbers: what limits a configuration, and advice where a known pitfall applies."""
from __future__ import annotations

from planner.spec import JobSpec

LABELS = {
    "compute_gemm": "GEMM compute",
    "compute_attention": "attention compute",
    "compute_memory_bound": "memory-bound kernels (norms, activations, softmax, loss)",
    "comm_tp": "exposed tensor-parallel all-reduce",
    "comm_cp": "exposed context-parallel ring exchange",
    "comm_ep": "expert-parallel all-to-all",
    "comm_pp": "pipeline point-to-point sends",
    "comm_zero3": "exposed ZeRO-3/FSDP parameter gathers",
    "comm_dp": "exposed data-parallel gradient reduce",
    "bubble": "pipeline bubble",
    "optimizer": "optimizer step",
    "data_stall": "data-loading stall",
}
COMM_LINK = {"comm_tp": "intra", "comm_cp": "intra", "comm_ep": "inter", "comm_pp": "inter",
             "comm_zero3": "inter", "comm_dp": "inter"}


def bottleneck_line(res: dict, hw) -> str:
    """One line naming the largest non-GEMM cost, e.g. "exposed data-parallel gradient reduce on
    400 Gb/s network: 18% of the step" — or that compute dominates."""
    bd = {k: v for k, v in res["breakdown_s"].items() if k in LABELS}
    step = res["step_time_s"]
    if step <= 0:
        return ""
    top = max((k for k in bd if k != "compute_gemm"), key=lambda k: bd[k])
    share = bd[top] / step
    gemm_share = bd["compute_gemm"] / step
    if share < 0.05:
        return f"compute-bound: GEMMs {gemm_share:.0%} of the step; MFU {res['mfu']:.0%}"
    where = ""
    if top in COMM_LINK:
        if COMM_LINK[top] == "inter" and res["hardware"]["nodes"] > 1:
            where = f" on {hw.inter_node_bw * 8 / 1e9:.0f} Gb/s network"
        elif COMM_LINK[top] == "intra":
            where = f" over {hw.gpu.intra_node_link} ({hw.intra_bw / 1e9:.0f} GB/s per GPU)"
    return f"{LABELS[top]}{where}: {share:.0%} of the step (GEMMs {gemm_share:.0%})"


def advice(job: JobSpec, res: dict, hw) -> list[str]:
    """Known pitfalls that apply to this configuration."""
    m, cfg = job.model, res["config"]
    out = []
    if m.is_transformer:
        for name, val, mult in (("hidden", m.hidden, 128), ("head_dim", m.head_dim, 64),
                                ("vocab", m.vocab, 128), ("ffn_hidden", m.ffn_hidden, 128)):
            if val % mult:
                out.append(f"model.{name}={val} is not a multiple of {mult}: tensor-core tiles run "
                           f"partly empty (pad {name} to {((val + mult - 1) // mult) * mult})")
        tp = cfg["tp"]
        if (m.vocab // max(tp, 1)) % 64:
            out.append(f"vocab/tp = {m.vocab / tp:.0f} is not a multiple of 64: pad the vocabulary")
    mem = res["memory_per_gpu_bytes"]
    headroom = 1 - mem["total"] / mem["capacity"]
    if cfg["recompute"] != "none" and headroom > 0.45:
        out.append(f"recompute={cfg['recompute']} may be unnecessary: {headroom:.0%} of memory is free; "
                   "try recompute=none for up to ~25% less compute")
    if cfg["micro_batch"] == 1 and headroom > 0.5 and cfg["pp"] == 1 and cfg["recompute"] == "none":
        out.append("micro_batch=1 leaves over half the memory free: a larger micro-batch runs bigger GEMMs")
    if not res["fits"]:
        out.append(f"does not fit: needs {mem['total'] / 2**30:.1f} GiB of {mem['capacity'] / 2**30:.0f} GiB")
    bd = res["breakdown_s"]
    if bd["bubble"] / res["step_time_s"] > 0.15:
        out.append("pipeline bubble over 15%: more micro-batches (smaller micro-batch or larger global "
                   "batch) or interleaving (vpp > 1) shrink it")
    return out
