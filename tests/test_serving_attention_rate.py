"""The serving iteration's attention rate at the model's head dim: the engine's attention kernel
(``ServingEfficiency.attn_kernel``) at head dim 64 runs at its measured fraction of the head-dim-128 rate on
H100/H200 (planner.model.physics.attention_head_dim_rel, FA3 paper Fig. 5: FA3 0.77), the one ratio training
uses too; nothing changes at head dim >= 128 or on a GPU family with no measured ratio (A100)."""
import pytest

from planner.hardware.options import option_from_cluster
from planner.model.physics import ATTN_HEAD_DIM_REL, attention_efficiency, attention_head_dim_rel
from planner.model.serving_efficiency import ATTN_KERNEL_SOURCES, ENGINES
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel, prefill_time


def _job(preset, precision="bf16", engine="vllm", P=32000):
    return load_job_dict({"model": {"preset": preset}, "serving": {"precision": precision, "engine": engine,
                                                                 "prompt_tokens": P, "output_tokens": 100}})


def _hw(gpu):
    return option_from_cluster(ClusterSpec(gpu=gpu, gpus_per_node=1))


def test_head_dim_ratio_is_the_measured_one_and_one_where_none_is_measured():
    assert attention_head_dim_rel("fa3", "H100-SXM-80GB", 64) == ATTN_HEAD_DIM_REL["fa3"]["H100"][64] == (0.77, 0.845)
    assert attention_head_dim_rel("fa3", "H200-SXM-141GB", 96) == pytest.approx((0.885, 0.9225))  # linear in d
    assert attention_head_dim_rel("fa3", "H100-SXM-80GB", 128) == (1.0, 1.0)
    assert attention_head_dim_rel("fa3", "H100-SXM-80GB", 256) == (1.0, 1.0)
    assert attention_head_dim_rel("fa3", "A100-SXM-80GB", 64) == (1.0, 1.0)  # not measured off Hopper
    # training's attention_efficiency reads the same ratio (one formula)
    f64, b64 = attention_efficiency("fa3", "H100-SXM-80GB", 16384, 0.55, 0.4, head_dim=64)
    f128, b128 = attention_efficiency("fa3", "H100-SXM-80GB", 16384, 0.55, 0.4, head_dim=128)
    assert (f64 / f128, b64 / b128) == pytest.approx((0.77, 0.845))


def test_every_engine_names_a_kernel_with_its_source():
    for name, eff in ENGINES.items():
        assert eff.attn_kernel in ATTN_HEAD_DIM_REL
        assert ATTN_KERNEL_SOURCES[name].startswith(eff.attn_kernel)


@pytest.mark.parametrize("engine", ["vllm", "tensorrt-llm", "sglang"])
def test_head_dim_64_attention_runs_at_the_kernels_fraction_on_hopper(engine):
    """gpt-oss (head dim 64) on an H100: the attention core at 0.77 of the head-dim-128 rate (the old
    model ran it at the full rate); its GEMMs and bytes are unchanged."""
    m = _job("gpt-oss-20b", "mxfp4", engine).model
    hw = _hw("H100-SXM-80GB")
    im = IterationModel.build(m, hw, 1, "mxfp4", "bf16", engine)
    base = hw.gpu.peak_flops["bf16"] * hw.eff.attn_fwd * ENGINES[engine].compute
    assert im.attn_rate == pytest.approx(base * 0.77)
    plain = IterationModel.build(m, hw, 1, "mxfp4", "bf16", engine, eff=ENGINES[engine].with_(attn_kernel="none"))
    assert plain.attn_rate == pytest.approx(base)
    assert (im.flops_rate, im.bytes_rate, im.lin_flops) == (plain.flops_rate, plain.bytes_rate, plain.lin_flops)


def test_head_dim_128_and_ampere_are_unchanged():
    for preset, gpu in (("llama3.1-8b", "H100-SXM-80GB"), ("gpt-oss-20b", "A100-SXM-80GB")):
        m = _job(preset).model
        hw = _hw(gpu)
        im = IterationModel.build(m, hw, 1, "bf16", "bf16", "vllm")
        assert im.attn_rate == pytest.approx(hw.gpu.peak_flops["bf16"] * hw.eff.attn_fwd * ENGINES["vllm"].compute)


def test_long_prompt_prefill_of_gpt_oss_is_slower_by_its_attention_share():
    """A 32k-token prompt of gpt-oss-20b on an H100: the attention core is a third of the prefill's time, so
    the prefill takes longer than at the head-dim-128 rate, by less than 1/0.77."""
    job = _job("gpt-oss-20b", "mxfp4", "vllm", P=32000)
    hw = _hw("H100-SXM-80GB")
    t = prefill_time(job.model, job.serving, hw, 1)
    im = IterationModel.build(job.model, hw, 1, "mxfp4", "bf16", "vllm",
                              eff=ENGINES["vllm"].with_(attn_kernel="none"))
    P = 32000
    t_old = float(im.time(prefill_tokens=P, prefill_ctx=P * P / 2.0, prefill_local_ctx=im.local_pairs(0.0, P)))
    assert 1.05 < t / t_old < 1 / 0.77
