"""serving.precision mxfp4: gpt-oss's released format -- MoE experts in MXFP4 (4-bit E2M1 + one E8M0 scale per
32, OCP Microscaling v1.0), everything else bf16, weight-only GEMMs (planner/workloads/serving_memory.py WEIGHT_FORMATS)."""
import pytest

from planner.errors import InputError
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.serving import plan_serving
from planner.workloads.serving_iteration import IterationModel
from planner.workloads.serving_memory import (MX_BLOCK, WEIGHT_FORMATS, expert_params, quantised_weight_bytes,
                                              weight_bytes)


def _model(preset):
    return load_job_dict({"model": {"preset": preset}}).model


def test_mxfp4_stores_the_experts_at_4_25_bits_and_the_rest_in_bf16():
    m = _model("gpt-oss-120b")
    pc = count_params(m)
    experts = pc.n_moe_layers * pc.expert * m.moe.experts
    assert quantised_weight_bytes("mxfp4") == 0.5 + 1 / MX_BLOCK == 0.53125
    assert expert_params(m) == (experts, pc.total - experts)
    assert weight_bytes(m, "mxfp4") == pytest.approx(experts * 0.53125 + (pc.total - experts) * 2.0, rel=1e-12)
    # gpt-oss-120b's released checkpoint is ~61 GiB (OpenAI: "fits a single 80 GB GPU"); int4 would
    # quantise the attention projections too
    assert 60 < weight_bytes(m, "mxfp4") / 2**30 < 62
    assert weight_bytes(m, "int4") < weight_bytes(m, "mxfp4") < weight_bytes(m, "fp8")


def test_mxfp4_gemms_are_weight_only_and_only_the_experts_shrink():
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec

    m = _model("gpt-oss-20b")
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", nodes=1))
    mx, bf = (IterationModel.build(m, hw, 1, p, "bf16") for p in ("mxfp4", "bf16"))
    assert mx.dtype == "bf16" and mx.tile_rows < bf.tile_rows  # bf16 math, weight-only tiles
    assert mx.dense_bytes == pytest.approx(bf.dense_bytes)  # attention, embeddings: bf16 either way
    assert mx.expert_bytes == pytest.approx(bf.expert_bytes * 0.53125 / 2.0)
    assert WEIGHT_FORMATS["mxfp4"].scope == "experts"


def test_a_dense_model_has_nothing_for_mxfp4_to_quantise(cli, tmp_path):
    with pytest.raises(InputError, match="mxfp4 quantises the MoE experts only"):
        weight_bytes(_model("llama3-8b"), "mxfp4")
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: llama3-8b}\nserving: {p99_latency_ms: 50, qps: 1, precision: mxfp4}\n"
                 "cluster: {gpu: H100-SXM-80GB, nodes: 1}\n")
    code, out, err = cli("serve", p, "--no-simulate")
    assert code == 2 and err.strip().startswith("error: serving.precision: mxfp4 quantises") and len(err.strip().splitlines()) == 1


def test_gpt_oss_120b_serves_on_one_h100_in_mxfp4():
    job = load_job_dict({"model": {"preset": "gpt-oss-120b"},
                         "serving": {"p99_latency_ms": 100, "qps": 1, "prompt_tokens": 1024, "output_tokens": 1024,
                                     "precision": "mxfp4", "max_batch": 256},
                         "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})
    plan = plan_serving(job, simulate=False)
    assert plan.best.tp == 1 and plan.best.fits and plan.precision == "mxfp4"
    bf16 = plan_serving(job.model_copy(update={"serving": job.serving.model_copy(update={"precision": "bf16"})}),
                        simulate=False)
    assert min(o.tp for o in bf16.options) >= 4  # 233 GB of bf16 weights need four H100s


def _hw(gpu):
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    return option_from_cluster(ClusterSpec(gpu=gpu, gpus_per_node=1))


def test_vllm_marlin_pads_mxfp4_experts_below_hopper():
    """vLLM runs MXFP4 MoE through Marlin below compute capability 9 and pads hidden to 256, the per-rank
    intermediate to 128 (mxfp4.py create_weights); Hopper's Triton path and other engines keep the
    checkpoint's dims."""
    from planner.model.serving_efficiency import ENGINES
    from planner.workloads.serving_memory import mxfp4_expert_pad

    m = _model("gpt-oss-120b")
    a100, h100 = _hw("A100-SXM-80GB").gpu, _hw("H100-SXM-80GB").gpu
    assert mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], a100) == pytest.approx(3072 / 2880 * 2944 / 2880)
    assert mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], a100, tp=2) == pytest.approx(3072 / 2880 * 1536 / 1440)
    assert mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], h100) == 1.0
    assert mxfp4_expert_pad(m, "mxfp4", ENGINES["sglang"], a100) == 1.0
    assert mxfp4_expert_pad(m, "bf16", ENGINES["vllm"], a100) == 1.0
    assert mxfp4_expert_pad(_model("llama3.1-8b"), "mxfp4", ENGINES["vllm"], a100) == 1.0  # no experts
    # vLLM's log on the Marlin path: "Model loading took 65.9651 GiB" (vllm-project/vllm issue #23278)
    pad = mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], a100)
    assert weight_bytes(m, "mxfp4", pad) / 2**30 == pytest.approx(65.9651, rel=0.005)
    assert weight_bytes(m, "mxfp4") / 2**30 == pytest.approx(60.7, abs=0.1)  # the checkpoint's size


def test_marlin_padding_costs_decode_bytes_flops_and_kv_memory_on_a100():
    from planner.model.serving_efficiency import ENGINES
    from planner.workloads.serving_screen import kv_free_bytes

    job = load_job_dict({"model": {"preset": "gpt-oss-120b"}, "serving": {"precision": "mxfp4", "engine": "vllm"}})
    m, hw = job.model, _hw("A100-SXM-80GB")
    pad = 3072 / 2880 * 2944 / 2880
    im = IterationModel.build(m, hw, 1, "mxfp4", "bf16", "vllm")
    plain = IterationModel.build(m, hw, 1, "mxfp4", "bf16", "vllm", eff=ENGINES["vllm"].with_(mxfp4_marlin=False))
    assert im.expert_bytes == pytest.approx(plain.expert_bytes * pad)
    assert im.dense_bytes == pytest.approx(plain.dense_bytes)
    pc = count_params(m)
    assert im.lin_flops - plain.lin_flops == pytest.approx(2 * pc.n_moe_layers * m.moe.top_k * pc.expert * (pad - 1))
    # the padding's ~5.3 GB comes out of the KV cache: about half of what the checkpoint's size leaves
    free = kv_free_bytes(m, job.serving, hw, 1)
    extra = weight_bytes(m, "mxfp4", pad) - weight_bytes(m, "mxfp4")
    assert 5.0e9 < extra < 5.8e9
    assert free + extra == pytest.approx(hw.gpu.memory_bytes * job.serving.gpu_memory_utilization
                                         - weight_bytes(m, "mxfp4") - 2**30)


def test_vllm_before_0_11_1_runs_hopper_mxfp4_experts_through_marlin():
    """vLLM installs triton_kernels only from 0.11.1 (PR #27370), so ``get_mxfp4_backend`` gave Hopper Marlin before
    (serving_efficiency.VLLM_MXFP4_NATIVE_BEFORE_0_11_1): the padded experts on H100 / H200, none on Blackwell
    (FlashInfer) or under the shipped (current) vLLM."""
    from planner.model.serving_efficiency import ENGINES, VLLM_MXFP4_NATIVE_BEFORE_0_11_1
    from planner.workloads.serving_memory import mxfp4_expert_pad

    m = _model("gpt-oss-120b")
    old = ENGINES["vllm"].with_(mxfp4_native=VLLM_MXFP4_NATIVE_BEFORE_0_11_1)
    pad = 3072 / 2880 * 2944 / 2880
    for gpu in ("H100-SXM-80GB", "H200-SXM-141GB", "A100-SXM-80GB"):
        assert mxfp4_expert_pad(m, "mxfp4", old, _hw(gpu).gpu) == pytest.approx(pad)
    assert mxfp4_expert_pad(m, "mxfp4", old, _hw("B200-SXM-180GB").gpu) == 1.0
    assert mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], _hw("H100-SXM-80GB").gpu) == 1.0
    # the padded experts are stored: gpt-oss-120b on H100 loads ~65.97 GiB on this path (vLLM issue #23278)
    assert weight_bytes(m, "mxfp4", pad) / 2**30 == pytest.approx(65.9651, rel=0.005)


def test_validate_serving_prices_each_row_with_its_release_kernels():
    """benchmarks/validate_serving.release_efficiency: GPUStack's gpt-oss runs (vLLM 0.10.2 / 0.11.0) take Marlin on
    Hopper; a 0.11.1 row, a TensorRT-LLM row and a row with no release number keep the shipped efficiency."""
    from benchmarks.validate_serving import release_efficiency
    from planner.model.serving_efficiency import ENGINES, VLLM_MXFP4_NATIVE_BEFORE_0_11_1

    for version in ("0.10.2", "0.11.0"):
        se = release_efficiency({"engine": "vllm", "engine_version": version})
        assert se.mxfp4_native == VLLM_MXFP4_NATIVE_BEFORE_0_11_1 and "H100" not in se.mxfp4_native
        assert se == ENGINES["vllm"].at_release(tuple(int(v) for v in version.split(".")))
    # 0.11.1 runs the current MXFP4 kernels (its KV rule for chunked layers is its own: tests/test_srv55.py)
    assert release_efficiency({"engine": "vllm", "engine_version": "0.11.1"}).mxfp4_native == ENGINES["vllm"].mxfp4_native
    assert release_efficiency({"engine": "vllm", "engine_version": "(build 9515)"}) == ENGINES["vllm"]
    assert release_efficiency({"engine": "tensorrt-llm", "engine_version": "0.9.0"}) == ENGINES["tensorrt-llm"]
    fitted = ENGINES["vllm"].with_(hbm=0.7)  # a fit's candidate keeps its values
    assert release_efficiency({"engine": "vllm", "engine_version": "0.11.0"}, fitted).hbm == 0.7


def test_an_mxfp4_plan_on_hopper_says_which_vllm_release_it_prices():
    """plan_serving's assumptions name the release the Hopper options' MXFP4 kernel holds from (vLLM 0.11.1,
    triton_kernels) and that older releases run Marlin there; an A100 plan (Marlin in every release) says nothing of
    it."""
    def plan(gpu):
        job = load_job_dict({"model": {"preset": "gpt-oss-20b"},
                             "serving": {"p99_latency_ms": 100, "qps": 1, "prompt_tokens": 1024, "output_tokens": 256,
                                         "precision": "mxfp4", "max_batch": 64},
                             "cluster": {"gpu": gpu, "nodes": 1, "gpus_per_node": 1}})
        return [a for a in plan_serving(job, simulate=False).assumptions if "runs Marlin there" in a]

    (line,) = plan("H100-SXM-80GB")
    assert "H100" in line and "vllm 0.11.1 and later" in line and "earlier releases" in line
    assert plan("A100-SXM-80GB") == []
