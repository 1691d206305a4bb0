"""MaxText's remat policies as a maxtext stack option (``training.framework.remat_policy`` / ``remat_tensors``): what
each keeps on the chip and offloads to host, the GEMMs its recompute skips, the host copies, the stack line, the
--emit refusal's MaxText keys, and the tpu-recipes rows' mapping (benchmarks/validate.py ``maxtext_remat``)."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputError
from planner.layout import Candidates
from planner.model import offload, stacks
from planner.model.memory import memory_per_gpu
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from planner.vocab import RECOMPUTE, SCHEDULE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

GIB = 2**30
QKV_OFFLOAD = {"decoder_layer_input": "offload", "query_proj": "offload", "key_proj": "offload",
               "value_proj": "offload"}


def llama70b_case(mb=5, chips=256, rc="full"):
    """Llama 3.1 70B on v6e-256 at 8K, FSDP over every chip, the tpu-recipes row's per-device batch 5."""
    m = ModelSpec(**dict(PRESETS["llama3.1-70b"], name="l70"))
    t = TrainingSpec(seq_len=8192, global_batch=chips * mb, micro_batch=mb, precision="bf16", weights="amp",
                     grad_dtype="same", optimizer="adamw", flash_attention=True, dropout=False, recompute=rc)
    c = Candidates(tp=np.array([1]), pp=1, dp=chips, cp=1, ep=1, vpp=1, zero=3, mb=mb, rc=RECOMPUTE.code[rc],
                   sp=False, schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=1)
    return m, t, c


@pytest.fixture(scope="module")
def v6e():
    import validate
    cat = validate.load_catalog()
    return validate.hw_option(cat, "TPU-v6e", 8, validate.MAXTEXT_ICI_GBPS_PER_CHIP * 8)


def test_named_policies_read_as_maxtext_decoders_py():
    loc = stacks.remat_locations
    assert set(loc(stacks.resolve("maxtext")).values()) == {"device", "remat"}  # full: the layer input only
    assert [k for k, v in loc(stacks.resolve("maxtext")).items() if v == "device"] == ["decoder_layer_input"]
    qkv = loc(stacks.resolve("maxtext", remat_policy="qkv_proj_offloaded"))
    assert {k for k, v in qkv.items() if v == "offload"} == {"query_proj", "key_proj", "value_proj"}
    minimal = loc(stacks.resolve("maxtext", remat_policy="minimal"))
    assert minimal["mlpwo"] == minimal["mlpwi_0"] == minimal["out_proj"] == "device" and minimal["context"] == "remat"
    # custom: base.yml's defaults (layer input on the chip, the rest rematerialised) under the job's keys
    custom = loc(stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD))
    assert custom["decoder_layer_input"] == "offload" and custom["out_proj"] == "remat"


@pytest.mark.parametrize("stack, opts, words", [
    ("megatron-core", dict(remat_policy="full"), "MaxText remat policy"),
    ("maxtext", dict(remat_policy="save_everything"), "known: full"),
    ("maxtext", dict(remat_tensors={"query_proj": "offload"}), "remat_policy: custom only"),
    ("maxtext", dict(remat_policy="custom", remat_tensors={"qk_proj": "offload"}), "'qk_proj'"),
    ("maxtext", dict(remat_policy="custom", remat_tensors={"query_proj": "disk"}), "'disk'"),
])
def test_bad_remat_options_are_refused(stack, opts, words):
    with pytest.raises(InputError) as e:
        stacks.resolve(stack, **opts)
    assert words in str(e.value) and "training.framework.remat_" in str(e.value)


def test_offloaded_layer_inputs_and_qkv_leave_the_chip_for_the_host():
    """Llama 3.1 70B, micro-batch 5 x 8K: the layer inputs (80 x 40,960 tokens x 8,192 x 2 B = 50.0 GiB) leave the
    chip; the host holds them and q / k / v (8,192 + 1,024 + 1,024 wide): 80 x 40,960 x 18,432 x 2 B = 112.5 GiB."""
    m, t, c = llama70b_case()
    full = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext"))
    off = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD))
    tokens = 5 * 8192
    assert full["activations"][0] - off["activations"][0] == pytest.approx(80 * tokens * 8192 * 2)
    assert full["host"][0] == 0.0
    assert off["host"][0] == pytest.approx(80 * tokens * (8192 + 8192 + 1024 + 1024) * 2)
    assert off["host"][0] / GIB == pytest.approx(112.5)
    # the same tensors kept on the chip (save_qkv_proj) add q / k / v to full's layer input, nothing to the host
    dev = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", remat_policy="save_qkv_proj"))
    assert dev["activations"][0] - full["activations"][0] == pytest.approx(80 * tokens * (8192 + 2048) * 2)
    assert dev["host"][0] == 0.0


def test_no_recompute_row_takes_no_policy():
    """recompute none is MaxText's remat_policy none: every tensor saved, nothing offloaded."""
    m, t, c = llama70b_case(mb=1, rc="none")
    base = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext"))
    off = memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD))
    assert off["activations"][0] == base["activations"][0] and off["host"][0] == 0.0


def test_saved_projections_are_not_rerun(v6e):
    """qkv_proj_offloaded's recompute skips the q / k / v GEMM; offloading only the layer input skips none."""
    m, t, c = llama70b_case()
    run = {p: step_time(m, t, c, v6e, framework=stacks.resolve("maxtext", **o))
           for p, o in [("full", {}), ("qkv", dict(remat_policy="qkv_proj_offloaded")),
                        ("input", dict(remat_policy="custom", remat_tensors={"decoder_layer_input": "offload"}))]}
    assert run["qkv"]["compute_gemm"][0] < run["full"]["compute_gemm"][0]
    assert run["input"]["compute_gemm"][0] == pytest.approx(run["full"]["compute_gemm"][0])
    # HFU counts the same skip: q / k / v forward FLOPs, 2 x 80 layers x 8,192 x (8,192 + 2 x 1,024) a token
    tokens = 256 * 5 * 8192
    assert run["full"]["hw_flops"][0] - run["qkv"]["hw_flops"][0] == pytest.approx(2 * 80 * 8192 * 10240 * tokens)
    assert run["input"]["hw_flops"][0] == pytest.approx(run["full"]["hw_flops"][0])
    # a 51 GB/s link moves the 112.5 GiB inside the passes: nothing exposed
    assert run["qkv"]["offload"][0] == 0.0


def test_host_copies_beyond_the_pass_are_exposed(v6e, monkeypatch):
    """Over a slow enough link the copies outlast the forward and the backward they overlap."""
    m, t, c = llama70b_case()
    st = stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    monkeypatch.setattr(offload, "host_link_bps", lambda hw: 1e9)
    out = step_time(m, t, c, v6e, framework=st)
    moved = 80 * 5 * 8192 * 18432 * 2 / 1e9
    fwd, bwd = out["t_fwd_mb"][0], out["t_bwd_mb"][0]
    assert moved > bwd
    assert out["offload"][0] == pytest.approx(max(moved - fwd, 0) + max(moved - bwd, 0), rel=1e-6)


def test_stack_line_and_emit_name_the_policy():
    st = stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    assert "remat_policy=custom (offload decoder_layer_input,query_proj,key_proj,value_proj)" in st.describe("bf16")
    from planner.present.emit import maxtext_remat_keys
    assert maxtext_remat_keys(st, "full") == ("remat_policy=custom decoder_layer_input=offload key_proj=offload "
                                              "query_proj=offload value_proj=offload")
    assert maxtext_remat_keys(st, "none") == "remat_policy=none"


def test_the_recipes_rows_map_their_remat_policy():
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV).set_index("id")
    got = {i: validate.maxtext_remat(r) for i, r in zip(d.index, d.itertuples())}
    assert got["maxtext_v6e_llama31-70b_256"] == dict(remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    assert got["maxtext_v6e_llama31-8b_8"]["remat_tensors"]["out_proj"] == "offload"
    assert got["maxtext_v6e_llama31-405b_2x256"] == dict(remat_policy="custom",
                                                         remat_tensors={"decoder_layer_input": "offload"})
    assert got["maxtext_v6e_llama2-70b_256"] == dict(remat_policy="qkv_proj_offloaded")
    assert got["maxtext_v6e_gpt3-175b_256"] == dict(remat_policy="full")
    assert got["maxtext_v6e_gemma3-12b_256"] == dict(remat_policy="custom")
    # every policy the rows map to is one MaxText names
    assert {g["remat_policy"] for g in got.values()} <= set(stacks.MAXTEXT_REMAT_POLICIES)
