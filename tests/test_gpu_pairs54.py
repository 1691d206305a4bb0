"""benchmarks/gpu_pairs.py: rows of one model, precision and release on two GPUs pair up, and only those (bw54)."""
import sys

import numpy as np
import pandas as pd

from conftest import ROOT, invoke_script

sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_pairs as gp  # noqa: E402


def _rows():
    # (id, measured, predicted)
    rows = [("dgxc_2504_llama31-405b-gb200_bf16_128", 9.347, 8.69),
            ("dgxc_2504_llama31-405b-gb200_bf16_256", 9.484, 8.71),
            ("dgxc_2504_llama31-405b-h100_bf16_512", 19.81, 20.87),
            ("dgxc_2504_llama31-405b-gb200_fp8_128", 6.131, 5.32),  # no H100 fp8 row: unpaired
            ("mbridgeall_2509_gb200_llama3-8b_fp8cs_8", 1.0, 1.0),
            ("mbridgeall_2509_b200_llama3-8b_fp8cs_8", 1.1, 1.0),  # "b200" is its own tag, not gb200's
            ("mbridgeall_2509_h100_llama3-8b_fp8cs_8", 2.0, 2.5),
            ("vtrain_row", 1.0, 1.0)]  # no GPU tag
    return pd.DataFrame([dict(id=i, measured_s=m, predicted_s=p) for i, m, p in rows])


def test_pairs_across_gpus_by_id_without_tag_and_count():
    assert gp.split_id("dgxc_2504_llama31-405b-gb200_bf16_128") == ("dgxc_2504_llama31-405b-X_bf16", "gb200")
    assert gp.split_id("mbridgeall_2509_b200_llama3-8b_fp8cs_8") == ("mbridgeall_2509_X_llama3-8b_fp8cs", "b200")
    assert gp.split_id("vtrain_row") == (None, None)
    pairs = gp.gpu_pairs(_rows(), "h100").set_index("id")
    assert sorted(pairs.index) == ["dgxc_2504_llama31-405b-gb200_bf16_128", "dgxc_2504_llama31-405b-gb200_bf16_256",
                                   "mbridgeall_2509_b200_llama3-8b_fp8cs_8", "mbridgeall_2509_gb200_llama3-8b_fp8cs_8"]
    r = pairs.loc["dgxc_2504_llama31-405b-gb200_bf16_128"]
    assert r.ref_id == "dgxc_2504_llama31-405b-h100_bf16_512" and r.tag == "gb200"
    assert np.isclose(r.over, (9.347 / 8.69) / (19.81 / 20.87))
    assert np.isclose(pairs.loc["mbridgeall_2509_b200_llama3-8b_fp8cs_8", "over"], 1.1 / 0.8)


def test_summary_per_gpu_tag_and_other_reference():
    s = gp.summary(gp.gpu_pairs(_rows(), "h100")).set_index("tag")
    assert list(s.index) == ["b200", "gb200"] and s.loc["gb200", "pairs"] == 3
    assert np.isclose(s.loc["gb200", "hi"], 1.0 / 0.8) and s.loc["gb200", "lo"] < s.loc["gb200", "over"] < 1.25
    over_b200 = gp.gpu_pairs(_rows(), "b200")
    assert list(over_b200["tag"]) == ["gb200", "h100"] and np.isclose(over_b200["over"].iloc[0], 1.0 / 1.1)


def test_unreadable_csv_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "rows.csv"
    bad.write_text("id,measured_s,predicted_s\nx_h100_1,0,1\n")
    # in this process (``conftest.invoke_script``): the script's answer is what is checked, not the interpreter
    code, _, err = invoke_script("benchmarks/gpu_pairs.py", str(bad))
    assert code == 2 and err.startswith("error: csv: ") and len(err.strip().splitlines()) == 1, err
