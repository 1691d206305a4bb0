"""benchmarks/mfu_envelope.py: the best plan ``recommend`` finds on a GPU must not ask for a FLOP rate
above what a published training step sustained on it (the best published HFU), and the published
figures the envelope cites must be the ones in the development data."""
import re
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def envelope():
    import mfu_envelope
    return mfu_envelope


def _lf_best(prefix: str, metric: str) -> float:
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dev_published_runs.csv")
    rows = d[d["id"].str.startswith(prefix)]
    return max(float(m.group(1)) / 100 for m in (re.search(rf"{metric} ([\d.]+)%", str(n)) for n in rows["notes"]) if m)


@pytest.mark.parametrize("gpu,prefix", [("A100-SXM-80GB", "lf_a100_80_"), ("H100-SXM-80GB", "lf_h100_")])
def test_cited_best_published_figures_are_the_development_data_maxima(envelope, gpu, prefix):
    assert envelope.PUBLISHED[gpu][0] == pytest.approx(_lf_best(prefix, "MFU"), abs=0.005)
    assert envelope.PUBLISHED_HFU[gpu][0] == pytest.approx(_lf_best(prefix, "HFU"), abs=0.0005)


@pytest.mark.parametrize("gpu", ["A100-SXM-80GB", "H100-SXM-80GB"])
def test_best_recommended_plan_stays_under_the_best_published_hfu(envelope, gpu):
    """Recommended plans run without recompute (MFU = HFU) at TP 1 with many micro-batches per
    step, a shape no published run has; what a published step shows is the rate the GPU sustains
    (llm-foundry full-recompute rows: A100 79.3%, H100 59.0% HFU). A plan above it would need
    the GPU to compute faster than any measured training step did."""
    from hardware_catalog import load_catalog

    mfu, desc = envelope.best_plan(load_catalog(), gpu)
    assert mfu is not None, desc
    assert 0.4 < mfu <= envelope.PUBLISHED_HFU[gpu][0]
