"""V100 is its own GPU family (efficiency.PRIORS["V100"]): its GEMM and HBM fractions come from public V100
microbenchmarks stored in benchmarks/data/parts (gemm_efficiency.csv, memory_bandwidth.csv), not from step
times. Each check compares the prior with a stored measurement: the cells that set a value reproduce it,
the other sizes of the same table and the A100 rows of the same bandwidth harness check it."""
import numpy as np
import pytest

from benchmarks.parts_data import load
from hardware_catalog import load_catalog
from planner.hardware.efficiency import PRIORS, gpu_family, prior_for

V100 = PRIORS["V100"]


@pytest.fixture(scope="module")
def v100():
    return load_catalog().gpu("V100-SXM2-16GB")


def _gemm(prec, size):
    (r,) = [r for r in load("gemm_efficiency") if r["id"] == f"torchperf_v100_sxm2_16gb_{prec}_{size}x{size}x{size}"]
    return r["tflops"] * 1e12


def _bw(row_id):
    (r,) = [r for r in load("memory_bandwidth") if r["id"] == row_id]
    return r["gbps"] / r["datasheet_gbps"]


def test_v100_is_its_own_family(v100):
    for name in ("V100-SXM2-16GB", "V100-SXM2-32GB"):
        assert gpu_family(name) == "V100" and prior_for(name) is V100
    assert V100.sm_count == 80  # GV100 as shipped in Tesla V100: 80 of 84 SMs
    # the datasheet peaks the fractions are taken against (catalog)
    assert v100.peak("fp16") == pytest.approx(125e12) and v100.peak("fp32") == pytest.approx(15.7e12)
    assert v100.hbm_bw == pytest.approx(900e9)


def test_tensor_core_gemm_reproduces_the_measured_table(v100):
    """gemm_max was set from the fp16 8192^3 cell (97.36 of 125 TFLOP/s); the 4096^3 and 2048^3 cells of
    the same run check the shape curve (wave quantisation on 80 SMs, the k ramp), and the generic prior
    (0.70) misses all three by more."""
    peak = v100.peak("fp16")
    assert V100.gemm_efficiency(8192, 8192, 8192) * peak == pytest.approx(_gemm("fp16", 8192), rel=0.01)
    for size, tol in ((4096, 0.08), (2048, 0.05)):
        model = float(V100.gemm_efficiency(size, size, size)) * peak
        generic = float(PRIORS["generic"].gemm_efficiency(size, size, size)) * peak
        measured = _gemm("fp16", size)
        assert model == pytest.approx(measured, rel=tol), size
        assert abs(model - measured) < abs(generic - measured), size


def test_simt_gemm_fraction_is_the_measured_sgemm(v100):
    """fp32 on Volta runs on the CUDA cores (no TF32): SGEMM reaches 0.916 of the fp32 peak at 8192^3
    (which set simt_gemm_max) and 0.88-0.92 from 4096 up, above the tensor-core fraction of its own peak."""
    peak = v100.peak("fp32")
    assert V100.simt_max == pytest.approx(_gemm("fp32", 8192) / peak, abs=0.002)
    for size in (4096, 10240):
        assert V100.simt_max == pytest.approx(_gemm("fp32", size) / peak, rel=0.05), size
    assert V100.simt_max > _gemm("fp16", 8192) / v100.peak("fp16") + 0.1
    # parts without a measured SIMT fraction keep their tensor-core one
    assert PRIORS["A100"].simt_max == PRIORS["A100"].gemm_max and PRIORS["generic"].simt_gemm_max is None


def test_hbm_fraction_is_the_triad_statistic_the_a100_prior_also_matches():
    """hbm = the mean of the Float32 and Float64 triad fractions on a V100-SXM2-32GB (0.798, 0.892); the
    same harness's A100-SXM4-40GB rows give 0.855, within 0.01 of the A100 prior (0.85): one method for both."""
    lo, hi = (_bw(f"juliagpuperf_v100_sxm2_32gb_triad_{t}") for t in ("f32", "f64"))
    assert lo < V100.hbm < hi
    assert V100.hbm == pytest.approx((lo + hi) / 2, abs=0.001)
    a100 = np.mean([_bw(f"juliagpuperf_a100_sxm4_40gb_triad_{t}") for t in ("f32", "f64")])
    assert a100 == pytest.approx(PRIORS["A100"].hbm, abs=0.01)
    assert V100.hbm > PRIORS["generic"].hbm + 0.05  # the generic 0.75 sits below both V100 triad figures


def test_fp32_transformer_gemms_take_the_simt_fraction_too():
    """fp32 matmuls run on the CUDA cores (PyTorch leaves TF32 off for matmuls), so a transformer layer's fp32 GEMMs
    take Efficiency.simt_max as the fp32 convolutions do: halving the SIMT fraction doubles the GEMM time of an fp32
    job and leaves a bf16 job's unchanged."""
    from dataclasses import replace

    from planner.hardware.options import option_from_cluster
    from planner.model.step_time import step_time
    from planner.search.space import Candidates
    from planner.spec import ClusterSpec, ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["llama3-8b"])
    hw = option_from_cluster(ClusterSpec(gpu="V100-SXM2-32GB", nodes=1, gpus_per_node=1))
    c = Candidates(tp=np.array([1]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0,
                   gpus_per_node=1, nodes=1)
    half = replace(hw, eff=hw.eff.with_(simt_gemm_max=hw.eff.simt_max / 2))
    for prec, ratio in (("fp32", 2.0), ("fp16", 1.0)):
        t = TrainingSpec(seq_len=1024, global_batch=1, micro_batch=1, precision=prec, recompute="none")
        g0, g1 = (float(step_time(m, t, c, h)["compute_gemm"][0]) for h in (hw, half))
        assert g1 / g0 == pytest.approx(ratio, rel=0.02), prec


def test_a_measured_fp32_fit_reaches_the_simt_gemms():
    """A calibration profile's fp32 GEMM fit measured the CUDA-core matmul, so it replaces the prior's SIMT fraction
    (fp32 GEMMs and convolutions read Efficiency.simt_max); a bf16 fit does not touch it."""
    from planner.hardware.options import efficiency_for
    from planner.hardware.profile import Profile

    g = load_catalog().gpu("V100-SXM2-32GB")
    fp = dict(catalog_gpu=g.name, device="cuda", device_name="Tesla V100", created="2026-01-01", torch_version="2.5",
              hostname="x")
    prof = Profile.model_validate(dict(schema_version=1, fingerprint=fp,
                                       fitted=dict(primary_dtype="fp16", gemm_max=0.75, by_dtype={"fp32": dict(gemm_max=0.60)})))
    assert efficiency_for(g, prof, "fp32").simt_max == pytest.approx(0.60)
    assert efficiency_for(g, prof, "fp16").simt_max == pytest.approx(V100.simt_gemm_max)
    assert efficiency_for(g, prof, "fp16").gemm_max == pytest.approx(0.75)
