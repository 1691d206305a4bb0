"""nar21 (Narayanan et al. 2021 Table 1) at its authors' launch: validate.NAR21_TABLE1_LAUNCH against
NVIDIA/Megatron-LM examples/sc21/run_table_1.sh @cf547dea, transcribed below (the script's README:
"run_table_1.sh: Table 1 showing weak-scaling throughput for GPT models ranging from 1 billion to 1 trillion
parameters"). Table 1 and the paper's text give no micro-batch, interleaving or DDP; before nar42 the loader ran
micro-batch 1 everywhere (the 18.4B / 76.1B rows then took Megatron's softmax fallback, +33.8 / +8.8%)."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

# run_table_1.sh, one `elif [ ${MODEL_SIZE} == ... ]` block a size: TP, PP, MBS, GBS, NLS, HS, NAH, DDP, NNODES and
# MEGATRON_EXTRA_PARAMS' --num-layers-per-virtual-pipeline-stage (None where the block sets none)
SCRIPT = {
    "1.7B": (1, 1, 16, 512, 24, 2304, 24, "torch", 4, None),
    "3.6B": (2, 1, 16, 512, 30, 3072, 32, "torch", 8, None),
    "7.5B": (4, 1, 16, 512, 36, 4096, 32, "torch", 16, None),
    "18B": (8, 1, 8, 1024, 40, 6144, 48, "torch", 32, None),
    "39B": (8, 2, 4, 1536, 48, 8192, 64, "local", 64, None),
    "76B": (8, 4, 2, 1792, 60, 10240, 80, "local", 128, 5),
    "145B": (8, 8, 2, 2304, 80, 12288, 96, "local", 192, 5),
    "310B": (8, 16, 1, 2160, 96, 16384, 128, "local", 240, 3),
    "530B": (8, 35, 1, 2520, 105, 20480, 128, "local", 315, 1),
    "1T": (8, 64, 1, 3072, 128, 25600, 160, "local", 384, None),
}
# the script's size names -> the data set's row ids (Table 1's parameter counts)
ROW = {"1.7B": "1p7b", "3.6B": "3p6b", "7.5B": "7p5b", "18B": "18p4b", "39B": "39p1b", "76B": "76p1b",
       "145B": "145p6b", "310B": "310p1b", "530B": "529p6b", "1T": "1008p0b"}


def _rows():
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dev_published_runs.csv")
    return d[d["id"].str.startswith("nar21_t1_")].set_index("id")


def test_launch_table_is_the_script():
    """Each script block is a Table 1 row (same TP, PP, global batch, layers, hidden, heads, 8 GPUs a node), and
    the loader's launch table is the block's micro-batch, layers per virtual stage and DDP."""
    import validate as V
    rows = _rows()
    assert sorted(rows.index) == sorted(f"nar21_t1_{v}" for v in ROW.values())
    for size, (tp, pp, _mbs, gbs, nls, hs, nah, _ddp, nodes, _lpv) in SCRIPT.items():
        r = rows.loc[f"nar21_t1_{ROW[size]}"]
        assert (r.tp, r.pp, r.global_batch_seqs, r.layers, r.hidden, r.heads, r.num_gpus) == \
            (tp, pp, gbs, nls, hs, nah, 8 * nodes), size
    assert set(V.NAR21_TABLE1_LAUNCH) == set(ROW.values())
    for size, (_tp, _pp, mbs, _gbs, _nls, _hs, _nah, ddp, _nodes, lpv) in SCRIPT.items():
        assert V.NAR21_TABLE1_LAUNCH[ROW[size]] == (mbs, lpv, ddp), size


def test_launch_maps_to_a_schedule_megatron_accepts():
    """Virtual stages = layers / pp / layers per virtual stage; micro-batches gb / (mb dp) whole, and for the
    interleaved rows a multiple of pp (Megatron's interleaved schedule asserts it); local DDP does not overlap."""
    import validate as V
    rows = _rows()
    got = {}
    for rid, r in rows.iterrows():
        launch = V.nar21_launch(rid, int(r.layers), int(r.pp))
        got[rid.removeprefix("nar21_t1_")] = launch["vpp"]
        m, rem = divmod(int(r.global_batch_seqs), launch["mb"] * int(r.dp))
        assert rem == 0, rid
        assert launch["vpp"] == 1 or m % int(r.pp) == 0, rid
        assert launch["overlap_grad_reduce"] == (int(r.tp) * int(r.pp) <= 8), rid  # torch DDP up to 18B
    assert got == {"1p7b": 1, "3p6b": 1, "7p5b": 1, "18p4b": 1, "39p1b": 1, "76p1b": 3, "145p6b": 2, "310p1b": 2,
                   "529p6b": 3, "1008p0b": 1}


def test_validation_rows_run_the_scripts_micro_batch_and_the_fused_kernel():
    """The error table's nar21 rows carry the script's micro-batch (1 everywhere before), so the 18.4B (6 heads a
    TP-8 rank x 8) and 76.1B (10 x 2) rows run Megatron's fused softmax kernel, not its torch fallback."""
    import validate as V
    from planner.model import stack_kernels, stacks
    d = V.published(V.load_catalog())
    nar = d[d["source"] == "nar21"].set_index("model")
    want = {f"GPT {r.params_b:.1f}B": SCRIPT[s][2] for s, rid in ROW.items()
            for _, r in _rows().loc[[f"nar21_t1_{rid}"]].iterrows()}
    assert nar["mb"].to_dict() == want
    fw = stacks.resolve("megatron-lm")
    rows = _rows()
    for rid in ("nar21_t1_18p4b", "nar21_t1_76p1b"):
        r = rows.loc[rid]
        batches = want[f"GPT {r.params_b:.1f}B"] * r.heads / r.tp
        assert stack_kernels.softmax_fallback(fw, np.array([batches]), 2048.0, 2048.0, 2.0).tolist() == [0.0], rid
