"""DeepEP's low-latency kernels against the planner's price of them (ll53): the published table
(parts/moe_profiles.csv ``deepep_v1_ll_*``, deepseek-ai/DeepEP docs/legacy.md) as transcribed, each kernel priced by
``serving_iteration.deepep_ll_kernel_time`` (benchmarks/deepep_ll.py), and the exchange as the two kernels."""
import pytest

from benchmarks.deepep_ll import COPY_BYTES, compare
from benchmarks.parts_data import load
from planner.workloads.serving_iteration import deepep_ll_exchange_time, deepep_ll_kernel_time


@pytest.fixture(scope="module")
def priced():
    return compare()


def test_table_bandwidth_is_its_copies_over_its_latency():
    """DeepEP prints a latency and an RDMA bandwidth a kernel; its test (tests/test_low_latency.py) counts the
    bandwidth as every copy a rank sends (128 tokens x 8 experts at ``COPY_BYTES``) over the kernel's time, so the two
    columns must agree to their rounding (a transcription check of all 12 cells, and of the byte count)."""
    rows = {(r["ep"], r["component"], r["metric"]): r for r in load("moe_profiles") if r["kind"] == "ep_comm_latency"}
    assert len(rows) == 24
    for (ep, comp, metric), r in rows.items():
        if metric == "latency_us":
            bw = rows[(ep, comp, "rdma_bw_gbps")]["value"]
            implied = r["tokens_per_rank"] * r["top_k"] * COPY_BYTES[comp] / (r["value"] * 1e-6) / 1e9
            assert implied == pytest.approx(bw, rel=0.03), (ep, comp)


def test_planner_prices_each_published_kernel_across_nodes(priced):
    """At EP 16 .. 256 (2 .. 32 nodes) each kernel within 15% of DeepEP's latency: the busiest rank's copies, the
    off-node share over its GPU's own 400 Gb/s NIC, one kernel at a time. The one-node EP 8 row (NVLink, 1.25-1.5x
    the planner's) is not asserted: ll53's left item."""
    across = [x for x in priced if x["ep"] >= 16]
    assert len(across) == 10 and len(priced) == 12
    for x in across:
        assert 0.85 <= x["ratio"] <= 1.15, x
    # the combine's bf16 copies take ~2x the dispatch's fp8 ones, as published at every EP across nodes
    by = {(x["ep"], x["component"]): x for x in priced}
    for ep in (16, 32, 64, 128, 256):
        assert 1.5 < by[(ep, "combine")]["planner"] / by[(ep, "dispatch")]["planner"] < 2.0


def test_exchange_is_dispatch_then_combine():
    """A MoE layer's low-latency exchange is the dispatch kernel then the combine kernel, each with its own fixed
    cost, on one node and across nodes."""
    for args in ((256.0, 8, 256, 8, 3.6e11), (128.0 * 32, 32, 256, 8, 3.6e11, 8, 4.25e10, 1.4e-5)):
        d = deepep_ll_kernel_time(*args[:4], 7392.0, *args[4:])
        c = deepep_ll_kernel_time(*args[:4], 14336.0, *args[4:])
        assert float(deepep_ll_exchange_time(*args[:4], 7392.0, 14336.0, *args[4:])) == pytest.approx(float(d + c))
        assert float(c) > float(d)


def _sglang_ep72(overlap):
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec, load_job_dict
    from planner.workloads.serving_iteration import IterationModel
    from planner.workloads.serving_memory import served_model
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}, "cluster": {"gpu": "H100-SXM-80GB"},
                                    "serving": {"p99_latency_ms": 100, "engine": "sglang"}}).model)
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=9, fabric="IB-NDR"))
    return IterationModel.build(m, hw, 72, "fp8", "fp8", "sglang", ep=True, all2all="deepep", overlap=overlap)


def test_sglang_decode_tbo_hides_each_kernel_only_in_its_window():
    """SGLang's decode TBO (operations_strategy.py ``_compute_moe_deepseek_blog_decode``): a micro-batch's dispatch is
    in flight over the non-routed linears (its shared experts, the other's attention prepare), its combine over the
    other's attention core; each waits out the rest, every MoE layer and micro-batch. EP72, 256 a rank: each window
    is shorter than the kernel it covers, so the step's exposed exchange is 2 x 58 x (dispatch - w_dense + combine -
    w_attn). Before ll53 the whole exchange hid behind the MoE layers' share of both halves' roofline (9.1 ms exposed
    of 59 ms unsplit here; now 25.8)."""
    from dataclasses import replace
    on = _sglang_ep72(True)
    seqs, ctx = 72 * 128.0, 72 * 128 * 2000.0  # one micro-batch of the 256-a-rank step

    def window(im):
        p = im.parts(decode_seqs=seqs, decode_ctx=ctx)
        return max(p["compute"], p["memory"]) / on.layers
    w_attn = window(replace(on, lin_flops=0.0, lin_flops_replicated=0.0, routed_flops=0.0, dense_bytes=0.0,
                            expert_bytes=0.0, overlap=None))
    w_dense = window(replace(on, lin_flops=on.lin_flops - on.routed_flops, routed_flops=0.0, attn_flops=0.0,
                             attn_flops_decode=0.0, kv_bytes=0.0, expert_bytes=0.0, overlap=None))
    d = float(deepep_ll_kernel_time(seqs, 72, 256, 8, on.dispatch_bytes, on.ar_bw, 8, on.nic_bw, on.inter_alpha))
    c = float(deepep_ll_kernel_time(seqs, 72, 256, 8, on.combine_bytes, on.ar_bw, 8, on.nic_bw, on.inter_alpha))
    assert 0 < w_attn < c and 0 < w_dense < d
    got = on.parts(decode_seqs=2 * seqs, decode_ctx=2 * ctx)["comm"]
    assert got == pytest.approx(2 * 58 * (d - w_dense + c - w_attn), rel=1e-9)
    assert got > 0.02


def test_sglang_decode_tbo_breaks_even_between_64_and_128():
    """The post's decode ablation (lmsys.org/blog/2025-05-05-large-scale-ep, "Two-batch Overlap"): TBO's speed-up
    turns positive at "a threshold between 64 and 128 tokens" a device (EP72, 2,000-token inputs; not fitted, not a
    row the windows were read from). Before ll53 the planner had it gaining at 64 already (+11.6%); now -3% / +30%."""
    from benchmarks.sglang_tbo import predicted
    row = dict(phase="decode", ep="72", nodes="9", gpu="H100-SXM-80GB", context_tokens="2000")
    assert predicted(dict(row, tokens_per_rank="64"))[0] < 0 < predicted(dict(row, tokens_per_rank="128"))[0]
