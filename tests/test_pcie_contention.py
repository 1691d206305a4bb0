"""Activation offload's copies and the NIC's GPUDirect RDMA share the GPU's PCIe link on an HGX board
(planner.model.offload ``pcie_contention_mb``, offload31 pass, 2026-12-04): each with the check that failed before."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hardware_catalog import load_catalog
from planner.model import comm, offload
from planner.model.step_time import step_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import validate  # noqa: E402


def _hw(pcie=None, c2c=None, nic=42.5e9):
    return SimpleNamespace(gpu=SimpleNamespace(host_link_bw=c2c, host_bw=c2c or pcie), inter_bw_per_gpu=nic)


def test_nic_bytes_is_the_inter_node_ring_share():
    """A ring all-gather of N bytes over 64 ranks, 8 a node: each GPU's NIC carries (k - 1)/k x N/8 with k = 8
    nodes; a reduce-scatter the same; a group inside one node none."""
    n = 8e9
    assert float(comm.nic_bytes("all_gather", n, 64, 1, 8)) == pytest.approx(7 / 8 * n / 8)
    assert float(comm.nic_bytes("reduce_scatter", n, 64, 1, 8)) == pytest.approx(7 / 8 * n / 8)
    assert float(comm.nic_bytes("all_gather", n, 8, 1, 8)) == 0.0


def test_contention_needs_a_pcie_link_that_its_share_makes_slower_than_the_nic():
    """Gen5 x16 (51 GB/s achieved, half of it below a 400 Gb/s NIC): the NIC bytes that meet the copies pay the
    difference; a Gen6 link's half outruns the NIC and NVLink-C2C keeps the copies off PCIe: nothing."""
    copy, nic, t = np.array([10e9]), np.array([8e9]), np.array([0.7])
    gen5 = offload.pcie_contention_mb(_hw(pcie=64e9), copy, nic, nic, t, t)
    link = 64e9 * offload.PCIE_EFF
    want = 2 * 8e9 * min(1.0, 10e9 / (link * 0.7 - 8e9)) * (1 / (offload.PCIE_SHARE * link) - 1 / 42.5e9)
    assert float(gen5[0]) == pytest.approx(want) and want > 0.05
    assert float(offload.pcie_contention_mb(_hw(pcie=128e9), copy, nic, nic, t, t)[0]) == 0.0
    assert float(offload.pcie_contention_mb(_hw(c2c=225e9), copy, nic, nic, t, t)[0]) == 0.0
    assert float(offload.pcie_contention_mb(_hw(pcie=64e9), np.zeros(1), nic, nic, t, t)[0]) == 0.0


def test_hgx_b200_host_link_is_gen5():
    """The catalog's B200 row said PCIe Gen6 (128 GB/s a direction): the HGX B200 host side is Gen5."""
    g = load_catalog().gpu("B200-SXM-180GB")
    assert g.host_bw == 64e9 and g.host_link_bw is None


@pytest.fixture(scope="module")
def together_rows():
    cat = load_catalog()
    d = pd.read_csv(validate.TOGETHER_BL_CSV)
    out = {}
    for r in d[d.id.str.startswith("togetherbl_llama3.1-70b_fp8cs_")].itertuples():
        case = validate.pr2_case(cat, r)
        st = step_time(case.model, case.training, case.candidates, case.hw,
                       **validate.pr2_time_kw(case.stack, case.options))
        out[int(r.num_gpus)] = (float(st["step_time_s"][0]), float(r.value), float(st["comm_zero3"][0]))
    return out


def test_together_b200_offload_rows_pay_the_contention(together_rows):
    """Together AI's Llama 3.1 70B FP8 Megatron-FSDP runs on DGX B200 with 5 layers offloaded: -7.8 / -6.2 / -9.0 /
    -15.3 / -11.9% at 64 / 128 / 256 / 512 / 592 GPUs without the contention, -6.7 / -5.0 / -7.7 / -10.7 / -7.9%
    with it."""
    assert set(together_rows) == {64, 128, 256, 512, 592}
    for gpus, (pred, meas, _) in together_rows.items():
        assert pred / meas - 1 == pytest.approx(-0.08, abs=0.04), gpus  # 512: -15.3% before
    assert together_rows[592][0] / together_rows[64][0] > 1.16  # measured 1.20; 1.146 before
