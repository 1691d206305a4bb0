"""acc50: NVIDIA DeepLearningExamples' PyTorch BERT as its own stack (``dle-bert``): torch 1.11's addmm bias copy on
every biased linear (``Stack.addmm_bias_copy``, layer_ops ``addmm_bias_copy_bytes``) and NVFuser's residual dropout
fused into its add (``Stack.fused_residual_dropout``); validate's ``bert (DLE)`` rows run it."""
import sys

import numpy as np
import pytest

from conftest import ROOT
from planner.layout import Candidates
from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stacks
from planner.model.layer_ops import addmm_bias_copy_bytes, eager_hf_layer_bytes
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS


def _addmm_elements_per_token(spec, seq=16, batch=2):
    """Output elements per token of one layer's ``aten.addmm`` calls (a biased ``nn.Linear`` on a contiguous
    input: the op whose torch <= 1.11 CUDA kernel copies the bias into its output first), forward only, counted
    with a TorchDispatchMode on the reference BERT layout (calibration/reference_models.py); one layer is the
    difference between a 2-layer and a 1-layer model (the MLM head's and pooler's linears are paid once)."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from calibration.reference_models import build_model

    def count(layers):
        model = build_model(spec.model_copy(update={"layers": layers}), attn_impl="math").train()
        n = [0]

        class Ops(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func is torch.ops.aten.addmm.default:
                    n[0] += out.numel()
                return out

        idx = torch.randint(0, spec.vocab, (batch, seq))
        with Ops():
            model(idx, idx)
        return n[0]

    return (count(2) - count(1)) / (batch * seq)


def test_addmm_bias_copy_bytes_cover_every_biased_linear():
    """One write (the bias copy) and one read (the GEMM's beta-1 read) of 2-byte elements for every output element
    of the layer's biased linears -- q / k / v, the output projection, the MLP up and down -- as a real torch
    model's addmm calls count them; a model without biases pays none."""
    from tiny_models import MODELS

    bert = MODELS["bert"]
    real = _addmm_elements_per_token(bert)
    assert real == 9 * bert.hidden  # q, k, v, output (h each), MLP up (4h), down (h)
    assert addmm_bias_copy_bytes(bert, 2.0, 1.0, 1.0) == 2.0 * 2.0 * real
    no_bias = bert.model_copy(update={"qkv_bias": False, "linear_bias": False})
    assert addmm_bias_copy_bytes(no_bias, 2.0, 1.0, 1.0) == 0.0


def test_dle_bert_prices_the_bias_copy_and_fuses_the_forward_dropout(catalog):
    """BERT-large, 256 x 128 tokens on an A100: ``dle-bert``'s forward is the same stack's without its two DLE
    fields plus exactly memory_time(tokens x layers x (bias copy - the residual dropouts' own pass)); its backward
    is unchanged (the dropout's backward kernel kept, the bias copy forward only)."""
    from dataclasses import replace

    bert = ModelSpec(**PRESETS["bert-large"])
    g = catalog.gpu("A100-SXM-80GB")
    hw = HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=1600e9 / 8, intra_bw=g.intra_node_bw,
                        eff=efficiency_for(g))
    mb = 256
    t = TrainingSpec(seq_len=128, global_batch=mb, micro_batch=mb, precision="fp16", weights="megatron",
                     grad_dtype="same", flash_attention=False, dropout=True)
    one = np.array([1])
    c = Candidates(tp=one, pp=one, dp=one, cp=1, ep=1, vpp=one, zero=0 * one, mb=mb * one, rc=0 * one,
                   sp=np.array([False]), schedule=0 * one, gpus_per_node=8, nodes=1)
    dle = stacks.resolve("dle-bert")
    plain = replace(dle, addmm_bias_copy=False, fused_residual_dropout=False)
    a, b = (step_time(bert, t, c, hw, framework=s) for s in (dle, plain))
    drop_f = eager_hf_layer_bytes(bert, 2.0, True)[0]
    extra = addmm_bias_copy_bytes(bert, 2.0, 1.0, 1.0) - drop_f
    assert extra == 2.0 * 2.0 * 9 * 1024 - 8.0 * 1024  # 36 B a hidden element copied, 8 B of dropout pass saved
    tokens = mb * 128 * bert.layers
    assert float(a["t_fwd_mb"][0] - b["t_fwd_mb"][0]) == pytest.approx(
        hw.eff.memory_time(tokens * extra, hw.gpu.hbm_bw), rel=1e-9)
    assert float(a["t_bwd_mb"][0]) == pytest.approx(float(b["t_bwd_mb"][0]), rel=1e-12)


def test_dle_bert_is_hf_trainer_as_dle_launches_it_and_only_it_copies():
    """The stack carries the mapping validate's rows used on hf-trainer (fused 16-bit softmax, the module cast to
    16 bits, one DDP bucket) and the two DLE fields, which no other registry entry sets; validate names it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate as V

    assert V.BERT_DLE_STACK == "dle-bert"
    st, hf = stacks.resolve("dle-bert"), stacks.resolve("hf-trainer")
    assert (st.explicit_softmax, st.mixed_precision, st.overlap_grad_reduce) == ("unread", "bf16", False)
    assert (st.eager_fp32_ops, st.kernels_layer, st.layer_host_ops) == (hf.eager_fp32_ops, hf.kernels_layer,
                                                                        hf.layer_host_ops)
    assert {n for n, s in stacks.STACKS.items() if s is not None and (s.addmm_bias_copy or s.fused_residual_dropout)
            } == {"dle-bert"}
    assert stacks.RUNS_ON["dle-bert"] == ("cuda",)
