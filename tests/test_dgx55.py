"""benchmarks/tray_split.py: rack-scale rows split by whether their TP x CP group leaves one tray (dgx55)."""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import tray_split as ts  # noqa: E402


def _rows():
    # (id, source, gpu, measured, predicted): layouts from benchmarks/data (dgxc_runs.csv, mbridge_all_runs.csv)
    rows = [("dgxc_2504_llama31-405b-gb200_fp8_128", "dgxc GB200", "GB200-B200", 6.131, 5.279),  # TP 4 x CP 2
            ("dgxc_2504_nemotron4-340b-gb200_bf16_128", "dgxc GB200", "GB200-B200", 2.189, 2.002),  # TP 8
            ("mbridgeall_2511c_gb200_llama3.1-405b_fp8cs_256", "mbridge_all", "GB200-B200", 1.0, 0.99),  # TP 4
            ("mbridgeall_2509_gb200_llama3-70b_mxfp8_64", "mbridge_all", "GB200-B200", 1.0, 0.94),  # TP 2
            ("mbridgeall_2511a_gb300_llama3.1-405b_mxfp8_128", "mbridge_all", "GB300-B300", 1.0, 0.76),  # TP 4 x CP 2
            ("mbridgeall_2509_b200_llama3.1-405b_mxfp8_128", "mbridge_all", "B200-SXM-180GB", 1.0, 0.9),  # an HGX node
            ("vtrain_row", "vtrain_single", "A100-SXM-80GB", 1.0, 1.0)]  # no layout in the data files
    return pd.DataFrame([dict(id=i, source=s, gpu=g, measured_s=m, predicted_s=p) for i, s, g, m, p in rows])


def test_tray_is_the_rack_systems_host_and_no_hgx_node():
    assert ts.host_gpus("GB200-B200") == 4 and ts.host_gpus("GB300-B300") == 4
    assert ts.host_gpus("B200-SXM-180GB") is None and ts.host_gpus("H100-SXM-80GB") is None


def test_groups_spanning_a_tray_are_split_out():
    split = ts.tray_split(_rows()).set_index("id")
    assert sorted(split.index) == sorted(_rows()["id"][:5])  # the HGX B200 and the unknown row left out
    assert list(split["spans"]) == [True, True, False, False, True]
    r = split.loc["dgxc_2504_llama31-405b-gb200_fp8_128"]
    assert (r.tp, r.cp, r.host, r.trays) == (4, 2, 4, 2) and np.isclose(r.err, 5.279 / 6.131 - 1)
    assert tuple(split.loc["dgxc_2504_nemotron4-340b-gb200_bf16_128", ["tp", "trays"]]) == (8, 2)
    s = ts.summary(split).set_index(["gpu", "spans"])
    assert s.loc[("GB200-B200", True), "rows"] == 2 and s.loc[("GB200-B200", False), "rows"] == 2
    assert np.isclose(s.loc[("GB300-B300", True), "median"], -0.24)


def test_unreadable_csv_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "rows.csv"
    bad.write_text("id,source,gpu,measured_s,predicted_s\nx,s,GB200-B200,0,1\n")  # a zero measured step
    with pytest.raises(SystemExit) as ex:
        ts.main([str(bad)])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.startswith("error: csv: ") and len(err.strip().splitlines()) == 1
