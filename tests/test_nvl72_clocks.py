"""GB200 NVL72's GPU is the B200 die at 1200 W whose datasheet peaks are quoted at a clock that power
does not sustain (physics.SUSTAINED_CLOCK_OF, physics.sustained_clock: the measured BF16 matmul ratio over
the HGX B200 at 1000 W, physics.MEASURED_CLOCK_GAIN; the clock law below its limit). The BF16 maxima set
the clock (their check is one of consistency); the FP8 maxima of the same table and the step-time ratio
Megatron-Bridge's tables print for the same dense configuration on both parts set nothing in it."""
import pytest

from planner.hardware.efficiency import gpu_family
from planner.model import physics
from conftest import cluster_option

#: ml-engineering MAMF v2 table ("Maximum Achievable Matmul FLOPS comparison table", stas00/ml-engineering
#: compute/accelerator/README.md, as mirrored at Mu-L/ml-engineering @330ebdd93ba8b41b6c8e11b6acd46d03d53ea1ec):
#: TFLOP/s, mean of 100 iterations at each part's best shape; B200 SXM torch 2.7.1+cu128, GB200 torch
#: 2.10.0.dev20250916+cu130
MAMF = {"bf16": {"B200-SXM-180GB": 1745.0, "GB200-B200": 1822.0},
        "fp8": {"B200-SXM-180GB": 3432.5, "GB200-B200": 3615.6}}


@pytest.mark.parametrize("dtype", ["bf16", "fp8"])
def test_gb200_over_b200_matmul_rate_is_the_measured_one(catalog, dtype):
    """Same die and same GEMM fractions (family B200): the modelled large-GEMM rate ratio is the
    sustained peaks' ratio, the measured BF16 one (1.044x; FP8 measures 1.053x). The datasheets' 1.111x
    is not within the tolerance: the check tells the two apart."""
    gb200, b200 = cluster_option(catalog, "GB200-B200", 72), cluster_option(catalog, "B200-SXM-180GB", 8)
    assert gpu_family(gb200.gpu.name) == gpu_family(b200.gpu.name) == "B200"
    m = n = k = 8192.0
    rate = {h.gpu.name: 2 * m * n * k / float(h.eff.gemm_time(m, n, k, physics.reachable_peak(h, dtype),
                                                               h.gpu.hbm_bw, 1.0)) for h in (gb200, b200)}
    model = rate["GB200-B200"] / rate["B200-SXM-180GB"]
    measured = MAMF[dtype]["GB200-B200"] / MAMF[dtype]["B200-SXM-180GB"]
    assert model == pytest.approx(measured, rel=0.03)
    datasheet = physics.datasheet_peak(gb200.gpu, dtype) / physics.datasheet_peak(b200.gpu, dtype)
    assert abs(datasheet / measured - 1.0) > 0.03


def test_gb200_at_the_hgx_power_is_the_hgx_part(catalog):
    """At its own 1200 W a GB200 runs at the measured matmul ratio over the HGX B200 (MAMF BF16 1822 / 1745),
    below the clock law's (1200/1000)^(1/3) (an upper bound: the law leaves static power out); held at the
    HGX B200's 1000 W it is the HGX B200 (the law from the reference die), and between the two limits never
    above its own sustained clock; the HGX parts keep their quoted clocks."""
    gb200, b200 = catalog.gpu("GB200-B200"), catalog.gpu("B200-SXM-180GB")
    hw = cluster_option(catalog, "GB200-B200", 72)
    own = physics.reachable_peak(hw, "bf16")
    assert own == pytest.approx(b200.peak("bf16") * MAMF["bf16"]["GB200-B200"] / MAMF["bf16"]["B200-SXM-180GB"])
    assert own < b200.peak("bf16") * (gb200.power_limit_w / b200.power_limit_w) ** (1 / 3)
    hw.power_limit_w = b200.power_limit_w
    assert physics.reachable_peak(hw, "bf16") == pytest.approx(b200.peak("bf16"))
    hw.power_limit_w = 800.0  # below the reference's limit: the reference's own clock law
    assert physics.reachable_peak(hw, "bf16") == pytest.approx(b200.peak("bf16") * (800.0 / 1000.0) ** (1 / 3))
    steps = []
    for w in (1000.0, 1050.0, 1100.0, 1150.0, 1200.0, 1400.0):
        hw.power_limit_w = w
        steps.append(physics.reachable_peak(hw, "bf16"))
    assert steps == sorted(steps) and steps[-1] == pytest.approx(own)  # monotone, capped at the sustained clock
    for name in ("B200-SXM-180GB", "B300-SXM-288GB", "H100-SXM-80GB"):
        assert physics.sustained_clock(catalog.gpu(name)) == 1.0
    # GB300's Blackwell Ultra gains are ratios measured over GB200 as it ran: it takes GB200's clock
    assert physics.sustained_clock(catalog.gpu("GB300-B300")) == physics.sustained_clock(gb200) < 0.97


def test_gb200_over_b200_step_time_near_the_measured_ratio(catalog):
    """Megatron-Bridge's tables print GB200 at 1.00-1.05x B200 on dense Llama at the same release,
    precision and layout (mbridge_all_runs.csv, 25.09-25.11: 8B FP8-CS / MXFP8 1.02-1.05x; 405B MXFP8
    TP4 PP8 0.90-0.93x); at the datasheet peaks the model printed 1.09x."""
    from test_blackwell_ultra import dense_pair_ratios

    n, measured, model = dense_pair_ratios(catalog, "gb200", "b200")
    assert n >= 5
    assert measured < 1.03
    assert model == pytest.approx(measured, rel=0.05)
