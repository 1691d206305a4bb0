"""The leave-one-source-out refit (benchmarks/validate.py ``loso``) moves every prior derived from the one fitted
parameter, ``efficiency.H100_IN_STEP_GEMM``, through the same derivation the shipped priors are built with
(``efficiency.in_step_gemm_max``). Until loso46 it moved only H100 / H200 / B200 / B300: the GPUs priced from their
measured matmul ceiling (``mamf_gemm_max``: MI300X ... Gaudi 3) kept the 0.60-derived fraction at every trial value,
so their sources' held-out errors were flat over the grid."""
import sys
import types

import pytest

from conftest import ROOT
from hardware_catalog import load_catalog
from planner.hardware import efficiency
from planner.hardware.efficiency import H100_IN_STEP_GEMM, PRIORS

sys.path.insert(0, str(ROOT / "benchmarks"))

NAME = "H100_IN_STEP_GEMM"
#: ml-engineering's MAMF BF16 table rows (TFLOP/s; stas00/ml-engineering compute/accelerator/README.md), copied as
#: data independent of efficiency.MAMF_BF16_TFLOPS
MAMF = {"H100-SXM-80GB": 794.5, "MI300X-192GB": 668.4, "Gaudi2-96GB": 418.7}


def trial_gemm_max(monkeypatch, gpu_name: str, value: float) -> float:
    """``gemm_max`` of the efficiency a validation row on ``gpu_name`` is priced with while ``loso`` tries ``value``."""
    import validate

    monkeypatch.setitem(validate._OVERRIDE, NAME, value)
    return validate.hw_option(load_catalog(), gpu_name, 8, 400).eff.gemm_max


@pytest.mark.parametrize("gpu", ["MI300X-192GB", "Gaudi2-96GB"])
def test_refit_at_050_moves_the_matmul_ceiling_priors_by_their_ratio(monkeypatch, gpu):
    """At a trial 0.50 an MI300X / Gaudi 2 row is priced at 0.50 x its ceiling ratio to H100's (0.5 x 0.637 =
    0.318, 0.5 x 1.207 = 0.604), where the old refit left 0.382 / 0.724 (0.60's) in place."""
    cat = load_catalog()
    frac = {g: MAMF[g] * 1e12 / cat.gpu(g).peak("bf16") for g in (gpu, "H100-SXM-80GB")}
    ratio = frac[gpu] / frac["H100-SXM-80GB"]
    at_050, at_060 = trial_gemm_max(monkeypatch, gpu, 0.50), trial_gemm_max(monkeypatch, gpu, 0.60)
    assert at_050 == pytest.approx(0.50 * ratio, abs=1e-4)
    assert at_060 == PRIORS[efficiency.gpu_family(gpu)].gemm_max
    assert at_050 / at_060 == pytest.approx(0.50 / 0.60, rel=1e-3)


def test_trial_priors_at_the_shipped_value_are_efficiencys_own():
    """At 0.60 the refit's {family: gemm_max} is the shipped priors' exactly, for every family it names."""
    import validate

    trial = validate.trial_values(NAME, H100_IN_STEP_GEMM)
    assert {"H100", "H200", "B200", "B300", "MI300X", "MI325X", "MI350X", "MI355X", "GAUDI2", "GAUDI3"} <= set(trial)
    assert trial == {fam: PRIORS[fam].gemm_max for fam in trial}


def efficiency_built_at(value: float) -> types.ModuleType:
    """planner/hardware/efficiency.py executed with its fitted constant set to ``value`` (a fresh module)."""
    path = ROOT / "planner/hardware/efficiency.py"
    src = path.read_text()
    line = f"{NAME} = {H100_IN_STEP_GEMM:.2f}\n"
    assert src.count(line) == 1
    mod = types.ModuleType("efficiency_loso46")
    sys.modules[mod.__name__] = mod  # dataclasses resolve the module by name
    try:
        exec(compile(src.replace(line, f"{NAME} = {value}\n"), str(path), "exec"), mod.__dict__)
    finally:
        del sys.modules[mod.__name__]
    return mod


def test_refit_reaches_exactly_the_priors_the_shipped_value_reaches():
    """Building the priors with the constant itself at 0.50 moves the same families, to the same values, as the
    refit's trial 0.50: no derived prior is left out of the refit, none is moved that the constant does not move."""
    import validate

    built = efficiency_built_at(0.50).PRIORS
    moved = {fam: p.gemm_max for fam, p in built.items() if p.gemm_max != PRIORS[fam].gemm_max}
    assert validate.trial_values(NAME, 0.50) == moved
