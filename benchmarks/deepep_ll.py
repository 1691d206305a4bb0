"""DeepEP's published low-latency kernel times against the planner's (ll53).

Data: benchmarks/data/parts/moe_profiles.csv ``deepep_v1_ll_*`` (built by parts/scripts/moe_profiles.py from
deepseek-ai/DeepEP docs/legacy.md "Low-latency kernels with pure RDMA"): H800 with one CX7 400 Gb/s NIC a GPU, 128
tokens a rank, hidden 7168, top-8, fp8 dispatch / bf16 combine, EP 8 .. 256; each kernel's latency. Each row is priced
by ``serving_iteration.deepep_ll_kernel_time`` on the planner's H800 option at the row's EP (8 GPUs a node over
InfiniBand NDR: ``HardwareOption.inter_bw_per_gpu``, the GPU's 400 Gb/s NIC at the fabric's efficiency), the links and
latency as ``IterationModel.build`` passes them, a copy at the bytes DeepEP's tests/test_low_latency.py counts
(``COPY_BYTES``), 256 experts routed uniformly. Not fitted: nothing here is tuned to these rows.

Also printed: the planner's dispatch kernel for the micro-batch of SGLang's decode profile (lmsys.org/blog/
2025-05-05-large-scale-ep, "Detail Breakdown": "Both DeepSeek and SGLang show dispatch times of ~0.17ms per layer";
SGLang's decode at 256 sequences a rank with two-batch overlap, so 128 tokens a micro-batch, EP72 on H100 + InfiniBand),
the figure tbo53 compared with the planner's whole exchange (dispatch + combine) at 256 tokens.

Run: ``python benchmarks/deepep_ll.py``.
"""
from __future__ import annotations

from benchmarks.parts_data import load
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec
from planner.workloads.serving_iteration import deepep_ll_kernel_time, replica_link_bw

HIDDEN = 7168
#: bytes a (token, expert) copy carries as DeepEP counts them (tests/test_low_latency.py ``num_fp8_bytes``,
#: ``num_bf16_bytes``: hidden + a 4-byte scale per 128 channels + a 16-byte header holding the source index, the
#: kernel's message, csrc/kernels/internode_ll.cu ``num_bytes_per_msg``; bf16 combine: hidden x 2)
COPY_BYTES = {"dispatch": HIDDEN + HIDDEN / 128 * 4 + 16, "combine": HIDDEN * 2.0}
#: SGLang's decode dispatch a layer in its profile (the post's "Detail Breakdown", seconds) and its conditions
POST_DISPATCH_S, POST_TOKENS, POST_EP = 0.17e-3, 128, 72


def kernel_time(gpu: str, ep: int, tokens_per_rank: float, component: str, experts: int = 256, top_k: int = 8) -> float:
    """The planner's seconds for one DeepEP low-latency kernel on ``ep`` GPUs of ``gpu`` (8 a node, InfiniBand NDR)."""
    hw = option_from_cluster(ClusterSpec(gpu=gpu, gpus_per_node=8, nodes=max(1, ep // 8), fabric="IB-NDR"))
    across = ep > hw.gpus_per_node
    return float(deepep_ll_kernel_time(tokens_per_rank * ep, ep, experts, top_k, COPY_BYTES[component],
                                       replica_link_bw(hw, ep)[0], hw.gpus_per_node if across else None,
                                       hw.inter_bw_per_gpu if across else 0.0,
                                       hw.eff.inter_alpha_s if across else 0.0))


def compare() -> list[dict]:
    """One dict a published kernel latency: ep, component, published and planner microseconds, their ratio."""
    out = []
    for r in load("moe_profiles"):
        if r["kind"] == "ep_comm_latency" and r["metric"] == "latency_us":
            p = kernel_time(r["gpu"], int(r["ep"]), r["tokens_per_rank"], r["component"], int(r["experts"]),
                            int(r["top_k"])) * 1e6
            out.append(dict(ep=int(r["ep"]), component=r["component"], published=r["value"], planner=p,
                            ratio=r["value"] / p))
    return out


def main() -> None:
    print("DeepEP V1 low-latency kernels, H800 + CX7 400 Gb/s, 128 tokens a rank (us): published vs planner")
    print(f"{'EP':>4} {'kernel':9} {'published':>9} {'planner':>8} {'ratio':>6}")
    for x in compare():
        print(f"{x['ep']:>4} {x['component']:9} {x['published']:>9.0f} {x['planner']:>8.0f} {x['ratio']:>6.2f}")
    d = kernel_time("H100-SXM-80GB", POST_EP, POST_TOKENS, "dispatch") * 1e3
    print(f"SGLang decode profile, EP{POST_EP} H100, {POST_TOKENS} tokens a micro-batch: dispatch "
          f"~{POST_DISPATCH_S * 1e3:.2f} ms published, planner {d:.3f} ms")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
