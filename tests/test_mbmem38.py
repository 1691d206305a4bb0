"""Megatron-Bridge rows over their GPU's memory, term by term (mbmem38, 2026-12-05).

Megatron-Core's ``--cpu-offloading-num-layers`` N runs Transformer Engine's activation offload, whose default path since
TE PR #1762 is ``OffloadSynchronizer`` (transformer_engine/pytorch/cpu_offload.py ``_default_offload_sync_init``):
layers 0 .. N - 1 go to the host, layer i's copy finishes (and its GPU tensors are dropped) before layer L - N + i's
forward, its reload starts at layer L - 1 - N + i's backward, "so that ... peak memory usage of saving activations is
(num_layers - num_offloaded_layers) * T". The planner kept two more layers (the old handler's double buffer).
Re-enacted here with real torch autograd on the CPU (saved-tensor hooks, the host copies outside the counted
tensors), and the Llama 3 70B Megatron-FSDP FP8-CS rows on GB300 that the extra layers put over the GPU.
"""
import sys
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from planner.model import offload
from planner.model.memory import GiB, memory_per_gpu
from planner.model.stacks import STACKS
from test_liger36 import _LiveBytes  # the live-bytes counter under a TorchDispatchMode

sys.path.insert(0, str(ROOT / "benchmarks"))

L, B, D, F = 8, 64, 64, 256
#: one layer's saved bytes below (fp32): its input, the first matmul's output (silu's input), silu's output
LAYER = B * (D + 2 * F) * 4


def _peak(n: int) -> int:
    """Peak live bytes of an L-layer MLP-block step with layers 0 .. n - 1 offloaded on TE's default schedule."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    w1 = [torch.nn.Parameter(torch.randn(D, F) * 0.05) for _ in range(L)]
    w2 = [torch.nn.Parameter(torch.randn(F, D) * 0.05) for _ in range(L)]
    offloaded = {i: i < n for i in range(L)}
    finish, reload = defaultdict(list), defaultdict(list)  # OffloadSynchronizer._default_offload_sync_init
    for i in range(n):
        finish[L - n + i].append(i)
        reload[L - 1 - n + i].append(i)
    s = dict(cur=-1, fwd=defaultdict(list), host={}, bwd={}, now=None)

    def fwd_step():  # before each layer's forward: the previous layer's copy starts, due copies finish
        if offloaded.get(s["cur"], False):  # host copies as numpy arrays: outside the counted (device) tensors
            s["host"][s["cur"]] = [t.detach().numpy().copy() for t in s["fwd"][s["cur"]]]
        s["cur"] += 1
        for i in finish[s["cur"]]:
            del s["fwd"][i]

    def bwd_step(k):  # before each layer's backward: the last reloaded group goes, due reloads start
        s["now"] = None
        for i in reload[k]:
            s["bwd"][i] = [torch.from_numpy(a).clone() for a in s["host"].pop(i)]
        if offloaded[k]:
            s["now"] = s["bwd"].pop(k)

    def pack(t):  # OffloadSynchronizer.push_tensor: parameters stay
        if not offloaded[s["cur"]] or isinstance(t, torch.nn.Parameter):
            return t
        s["fwd"][s["cur"]].append(t)
        return len(s["fwd"][s["cur"]]) - 1

    def unpack(x):
        return x if isinstance(x, torch.Tensor) else s["now"][x]

    live = _LiveBytes()
    with live.mode():
        h = torch.randn(B, D, requires_grad=True) * 1.0
        for k in range(L):
            fwd_step()
            with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
                y = torch.nn.functional.silu(h @ w1[k]) @ w2[k] + h
            y.grad_fn.register_prehook(lambda g, k=k: bwd_step(k))
            h = y
        loss = h.square().sum()
        del y
        h = None
        loss.backward()
    return live.peak


@pytest.mark.parametrize("n", [2, 4, 7])
def test_te_offload_schedule_keeps_only_the_layers_not_offloaded(n):
    """The peak falls by the N offloaded layers' saves (within a fifth of a layer: the backward's transients), as
    ``resident_layers`` says; it said two layers more (a fall of N - 2)."""
    saved = (_peak(0) - _peak(n)) / LAYER
    st = STACKS["megatron-core"].with_options(activation_offload=True, activation_offload_layers=n)
    assert saved == pytest.approx(L - float(offload.resident_layers(float(L), st)), abs=0.2)


@pytest.fixture(scope="module")
def rows():
    import validate

    return pd.read_csv(validate.MBRIDGE_ALL_CSV)


def _memory(r):
    import validate
    from hardware_catalog import load_catalog

    case = validate.pr2_case(load_catalog(), r)
    st = validate.row_stack(case.stack, case.options)
    return case, st, memory_per_gpu(case.model, case.training, case.candidates, stack=st, gpu=case.hw.gpu.name)


def _llama70b_fsdp_fp8cs(rows, gpu):
    sel = rows[rows.id.str.contains(f"_{gpu}_llama3-70b_fp8cs_64")]
    assert len(sel) >= 7
    return sel


def test_llama3_70b_gb300_megatron_fsdp_rows_fit(rows):
    """GB300, 20 of 80 layers offloaded, micro-batch 2: 264.0 GiB of 259.8 before, 256.3 now."""
    for r in _llama70b_fsdp_fp8cs(rows, "gb300").itertuples():
        case, _, mem = _memory(r)
        assert float(mem["total"][0]) <= case.hw.gpu.memory_bytes, r.id


def test_llama3_70b_gb200_megatron_fsdp_row_holds_its_40_kept_layers(rows):
    """GB200, 40 of 80 layers offloaded: the activations are the 40 kept layers and the embedding's output (152.7 GiB
    for 42 layers before, 145.4 now)."""
    from types import SimpleNamespace

    r = next(_llama70b_fsdp_fp8cs(rows, "gb200").itertuples())
    case, st, mem = _memory(r)
    c, t, m = case.candidates, case.training, case.model
    assert st.activation_offload_layers == 40
    layer = offload.activation_layer_bytes(m, t, SimpleNamespace(tp=c.tp, cp=c.cp, sp=c.sp, mb=c.mb, rc=c.rc), 2.0,
                                           st)[0]
    emb = t.seq_len * int(c.mb[0]) * m.hidden * 2.0
    assert float(mem["activations"][0]) == pytest.approx(40 * layer + emb, rel=1e-6)
    assert float(mem["activations"][0]) / GiB == pytest.approx(145.4, abs=0.05)


def test_megatron_fsdp_double_buffer_holds_two_units_of_gradients(rows):
    """The Llama 3 70B Megatron-Bridge config sets ``fsdp_double_buffer`` with Megatron-FSDP: the unsharded gradients
    from a fixed pool of two FSDP units (a TransformerLayer, 856M parameters), not the communication window's three;
    the gathered weights are two units either way. GB200 FP8-CS: gradients 6.83 -> 5.24 GiB."""
    from dataclasses import replace

    from planner.model.memory import mfsdp_unit_params

    r = next(_llama70b_fsdp_fp8cs(rows, "gb200").itertuples())
    case, st, mem = _memory(r)
    assert st.mfsdp_double_buffer and st.megatron_fsdp
    c = case.candidates
    plain = memory_per_gpu(case.model, case.training, c, stack=replace(st, mfsdp_double_buffer=False),
                           gpu=case.hw.gpu.name)
    unit = float(mfsdp_unit_params(case.model, c.tp, c.tp, c.ep)[0])
    assert unit == pytest.approx(856e6, rel=0.01)
    assert float(plain["grads"][0] - mem["grads"][0]) == pytest.approx(unit * 2.0, rel=1e-6)  # one bf16 unit fewer
    assert float(plain["weights"][0]) == pytest.approx(float(mem["weights"][0]), rel=1e-9)
    assert float(mem["grads"][0]) / GiB == pytest.approx(5.24, abs=0.01)
