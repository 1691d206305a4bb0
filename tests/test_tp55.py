"""tp55: benchmarks/comm_residue.py -- the factor a row's exposed collectives would need for its measured step, beside
where each group sits; and validate's ``parts=True`` loaders, which must carry the same prediction as the scored
rows."""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import comm_residue as cr  # noqa: E402
import validate  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402


@pytest.fixture(scope="module")
def dlperf():
    cat = load_catalog()
    return validate.dlperf_megatron(cat), validate.dlperf_megatron(cat, parts=True)


def test_residue_factor_is_the_stretch_that_gives_the_measured_step():
    # a 3 s step of which 1 s is the part: measured 5 s needs the part at 3 s (x3), measured 3 s at x1, 2.5 s at
    # x0.5; a row without the part has no factor
    k = cr.residue_factor([5.0, 3.0, 2.5, 4.0], [3.0, 3.0, 3.0, 3.0], [1.0, 1.0, 1.0, 0.0])
    assert np.allclose(k[:3], [3.0, 1.0, 0.5])
    assert np.isnan(k[3])


def test_group_nodes_follow_megatron_rank_order():
    # on 8-GPU nodes: TP 16 / 32 span 2 / 4 nodes, TP 8 one; a DP group at stride 8 (TP 8 inside) has one member a
    # node, so DP 2 / 4 span 2 / 4 nodes; DP 4 at stride 2 fits in one node; DP 16 at stride 1 spans 2
    got = cr.group_nodes(np.array([16, 32, 8, 2, 4, 4, 16]), np.array([1, 1, 1, 8, 8, 2, 1]), 8)
    assert np.array_equal(got, [2, 4, 1, 2, 4, 1, 2])


def test_dlperf_parts_carry_the_scored_prediction(dlperf):
    plain, parts = dlperf
    assert np.array_equal(plain["predicted_s"].to_numpy(), parts["predicted_s"].to_numpy())
    assert set(validate.PART_COLUMNS) <= set(parts.columns) and (parts["node_gpus"] == 8).all()
    # a TP all-reduce exactly where there is TP, a DP reduce exactly where there is DP
    assert ((parts["comm_tp"] > 0) == (parts["tp"] > 1)).all()
    assert ((parts["comm_dp"] > 0) == (parts["dp"] > 1)).all()
    assert ((parts["comm_pp"] > 0) == (parts["pp"] > 1)).all()


def test_residue_table_places_the_groups_and_prices_the_stretch(dlperf):
    _, parts = dlperf
    t = cr.residue_table(parts)
    tp = t.set_index("tp")
    # DLPerf's TP 16 / 32 rows (one group of all the GPUs) are the only ones whose TP group leaves a node
    assert list(t.loc[t["tp_nodes"] > 1, "tp"]) == [16, 32]
    assert tp.loc[32, "tp_nodes"] == 4 and tp.loc[16, "tp_nodes"] == 2
    # the factor is the stretch that reproduces the measured step, row by row
    stretched = t["predicted_s"] + (t["k_tp"] - 1) * t["comm_tp"]
    has = t["comm_tp"] > 0
    assert np.allclose(stretched[has], t.loc[has, "measured_s"])
    assert t.loc[~has, "k_tp"].isna().all()
    assert isinstance(t, pd.DataFrame) and "k_dp" in t
