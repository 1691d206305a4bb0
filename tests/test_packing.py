"""Packed fine-tuning rows whose attention runs per example (``flops.attention_span``,
``Stack.doc_masking``): the FLOPs against FlopCounterMode on the computation a variable-length
kernel does (each example its own causal attention: the examples as separate rows of a batch, the
block-diagonal of the packed row), and the step time only where the stack masks per example."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import stacks
from planner.model.flops import attention_span, step_flops
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

torch = pytest.importorskip("torch")

from torch.utils import flop_counter as fc  # noqa: E402

from calibration.reference_models import build_model, register_cpu_flash_flops  # noqa: E402
from tiny_models import GPT, LLAMA  # noqa: E402

register_cpu_flash_flops()


def _counted(spec, rows, tokens):
    """FlopCounterMode's count of one forward + backward of ``rows`` x ``tokens`` token ids."""
    torch.manual_seed(0)
    model = build_model(spec, attn_impl="sdpa").train()
    idx = torch.randint(0, spec.vocab, (rows, tokens))
    with fc.FlopCounterMode(display=False) as counter:
        model(idx, idx).backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("spec", [LLAMA, GPT], ids=["llama", "gpt"])
@pytest.mark.parametrize("example", [32, 64])
def test_packed_attention_flops_match_a_per_example_run(spec, example):
    """A 256-token row packing 256/L examples of L tokens: a varlen kernel attends within each
    example, i.e. computes what 256/L separate L-token rows compute. The planner's step FLOPs
    with ``attn_span=L`` equal FlopCounterMode's count of that run; without it they equal the
    whole 256-token row's (the two counts differ, so the check can tell them apart)."""
    seq = 256
    per_example = _counted(spec, seq // example, example)
    whole_row = _counted(spec, 1, seq)
    assert per_example < 0.95 * whole_row
    # FlopCounterMode's count: the full score matrix of each causal call (causal_kernel=False)
    packed = float(step_flops(spec, seq, 1, recompute="none", flash=True, attn_span=example,
                              causal_kernel=False)["hardware"])
    unpacked = float(step_flops(spec, seq, 1, recompute="none", flash=True, causal_kernel=False)["hardware"])
    assert packed == pytest.approx(per_example, rel=0.01)
    assert unpacked == pytest.approx(whole_row, rel=0.01)


def _training(**kw):
    base = dict(seq_len=4096, global_batch=32, micro_batch=1, precision="bf16", recompute="none",
                packing="packed", mean_example_tokens=200.0)
    return TrainingSpec(**{**base, **kw})


def test_attention_span_rules():
    st = stacks.resolve("megatron-core")
    assert attention_span(_training(), True) == 200.0
    assert attention_span(_training(mean_example_tokens=9000.0), True) == 4096.0  # truncated to the row
    assert attention_span(_training(), False) == 4096.0  # the stack attends over the whole row
    assert attention_span(_training(flash_attention=False), True) == 4096.0  # masked softmax: every score
    assert attention_span(_training(packing="padded"), True) == 4096.0
    assert attention_span(_training(mean_example_tokens=None), True) == 4096.0
    # which stacks hand their kernel the example boundaries
    assert st.doc_masking and stacks.resolve("nemo").doc_masking and stacks.resolve("hf-trainer").doc_masking
    assert not stacks.resolve("torchtitan").doc_masking and not stacks.resolve("llm-foundry").doc_masking


def _time(stack, t, m=None):
    m = m or ModelSpec(**PRESETS["llama2-7b"])
    c = Candidates(tp=np.array([1]), pp=1, dp=8, cp=1, ep=1, vpp=1, zero=1, mb=1, rc=0, sp=False, schedule=0,
                   gpus_per_node=8, nodes=1)
    from hardware_catalog import load_catalog
    from planner.hardware.options import HardwareOption, efficiency_for

    gpu = load_catalog().gpu("H100-SXM-80GB")
    hw = HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=8, inter_node_bw=400e9, intra_bw=gpu.intra_node_bw,
                        eff=efficiency_for(gpu))
    return step_time(m, t, c, hw, framework=stack)


def test_packed_step_time_changes_only_attention_where_the_stack_masks_per_example():
    packed, whole = _training(), _training(mean_example_tokens=None)
    mc = stacks.resolve("megatron-core")
    a, b = _time(mc, packed), _time(mc, whole)
    # attention: FLOPs scale by 200/4096 and the kernel runs at its short-sequence rate
    assert float(a["compute_attention"][0]) < 0.25 * float(b["compute_attention"][0])
    for k in ("compute_gemm", "compute_memory_bound", "comm_dp", "optimizer"):
        assert float(a[k][0]) == pytest.approx(float(b[k][0]), rel=1e-9), k
    # model FLOPs: the attention term of 4096 keys per query replaced by 200
    m = ModelSpec(**PRESETS["llama2-7b"])
    att = 3 * 4 * m.layers * m.q_dim * 32 * 4096  # 3 x forward, full-count convention, per key
    assert float(b["model_flops"][0] - a["model_flops"][0]) == pytest.approx(att * (4096 - 200), rel=1e-9)
    # a stack whose kernels see the whole row: nothing changes
    tt = stacks.resolve("torchtitan")
    assert float(_time(tt, packed)["step_time_s"][0]) == float(_time(tt, whole)["step_time_s"][0])


def test_concatenated_rows_attend_over_the_whole_row_and_cost_the_same_steps():
    """``packing: concatenated`` (examples run together, attention across the row: pre-training
    loaders) keeps the packed row count but not the per-example attention; the output says which."""
    from planner.model.cost import dataset_sequences
    from planner.search.evaluate import packed_attention_note
    from planner.spec import load_job_dict

    def job(packing):
        return load_job_dict({"model": {"preset": "llama3-8b"},
                              "training": {"seq_len": 4096, "global_batch": 8, "packing": packing,
                                           "mean_example_tokens": 512, "epochs": 1, "dataset_samples": 8000}})

    packed, concat = job("packed"), job("concatenated")
    mc = stacks.resolve("megatron-core")
    assert attention_span(packed.training, mc.doc_masking) == 512
    assert attention_span(concat.training, mc.doc_masking) == 4096
    assert dataset_sequences(packed) == dataset_sequences(concat) == pytest.approx(8000 * 512 / 4096)
    assert "attend per example (~512 of 4,096" in packed_attention_note(packed.training, mc)
    assert packed_attention_note(concat.training, mc) == ""
    assert "whole row" in packed_attention_note(packed.training, stacks.resolve("torchtitan"))
