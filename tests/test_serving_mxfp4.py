"""serving.precision mxfp4: gpt-oss's released format -- MoE experts in MXFP4 (4-bit E2M1 + one E8M0 scale per
32, OCP Microscaling v1.0), everything else bf16, weight-only GEMMs (planner/workloads/serving.py WEIGHT_FORMATS)."""
import pytest

from planner.errors import InputError
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.serving import (MX_BLOCK, WEIGHT_FORMATS, IterationModel, expert_params, plan_serving,
                                       quantised_weight_bytes, weight_bytes)


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
