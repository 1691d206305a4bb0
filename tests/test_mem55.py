"""torchtitan's LM head saves its all-gathered input (mem55).

torchtitan's ``apply_tp`` (torchtitan/parallelisms/parallelize_llama.py, 2024) plans the final norm as
``SequenceParallel()`` and the head as ``"output": ColwiseParallel(input_layouts=Shard(1), output_layouts=Shard(-1)
if loss_parallel else Replicate(), use_local_output=not loss_parallel)``, plain ColwiseParallel even under its float8
TP plans (those cover the blocks' linears). ColwiseParallel redistributes the sequence shard to ``Replicate`` (the
all-gather) and the head's ``aten.mm`` saves that gathered tensor for its weight gradient: the whole sequence, in
16 bits, alive until the head's backward, i.e. beside the loss's peak. The planner kept it on the shard
(``activations.logits_bytes``: the head's input row / tp under SP). Measured here on a fake 2-rank process group with
``saved_tensors_hooks`` (the same plan on a bf16 ``nn.RMSNorm`` + ``nn.Linear``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.model import stacks
from planner.model.activations import logits_bytes
from planner.model.memory_activations import loss_logits
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS

HEAD = ModelSpec(family="decoder", layers=2, hidden=256, heads=8, kv_heads=2, vocab=1000, ffn_hidden=704)
SEQ, MB, TP = 128, 2, 2


def _head_saved_input_bytes():
    """The bytes of the storage the head's mm saves for its weight gradient under torchtitan's head plan, TP 2
    (rank 0 of a fake group), the norm's input a (MB, SEQ / TP, h) bf16 sequence shard."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch import nn
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor.parallel import ColwiseParallel, SequenceParallel, parallelize_module
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=TP)
    try:
        mesh = init_device_mesh("cpu", (TP,))
        model = nn.ModuleDict({"norm": nn.RMSNorm(HEAD.hidden, dtype=torch.bfloat16),
                               "output": nn.Linear(HEAD.hidden, HEAD.vocab, bias=False, dtype=torch.bfloat16)})
        parallelize_module(model, mesh, {"norm": SequenceParallel(), "output": ColwiseParallel(
            input_layouts=Shard(1), output_layouts=Shard(-1), use_local_output=False)})
        x = DTensor.from_local(torch.randn(MB, SEQ // TP, HEAD.hidden, dtype=torch.bfloat16, requires_grad=True),
                               mesh, [Shard(1)])
        saved = {}

        def pack(t):
            local = t.to_local() if isinstance(t, DTensor) else t
            saved[local.untyped_storage().data_ptr()] = (local.untyped_storage().nbytes(), tuple(local.shape))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model["output"](model["norm"](x))
        weight_shard = HEAD.vocab // TP * HEAD.hidden * 2
        # the mm's saved input: the 16-bit (tokens, h) storage that is not the weight shard
        return [n for n, shape in saved.values() if shape == (MB * SEQ, HEAD.hidden) and n != weight_shard]
    finally:
        dist.destroy_process_group()


def test_head_saves_the_gathered_input_as_measured():
    """The plan's mm keeps the whole (tokens, h) bf16 input, twice its SP shard at TP 2; the planner's head row under
    ``gathered_head`` is that storage where it was its shard."""
    got = _head_saved_input_bytes()
    whole = MB * SEQ * HEAD.hidden * 2
    assert got == [whole]
    added = float(logits_bytes(HEAD, SEQ, MB, TP, sp=True, gathered_head=True) - logits_bytes(HEAD, SEQ, MB, TP, sp=True))
    assert added == pytest.approx(whole - whole / TP)


def test_gathered_head_moves_nothing_without_sp_or_tp():
    """Without SP the head's input is whole already; at TP 1 there is no gather."""
    for tp, sp in ((2, False), (1, True), (1, False)):
        assert float(logits_bytes(HEAD, SEQ, MB, tp, sp=sp, gathered_head=True)) == float(
            logits_bytes(HEAD, SEQ, MB, tp, sp=sp))


@pytest.mark.parametrize("name, gathered", [("torchtitan", True), ("megatron-core", False)])
def test_loss_peak_carries_the_gathered_head_where_the_stack_saves_it(name, gathered):
    """Llama-3.1-70B TP 8 + SP, 16 x 8,192 tokens (the torchtitan 2024-12 2D rows): torchtitan's loss-side buffers hold
    the head's gathered bf16 input, (1 - 1/8) x 16 x 8,192 x 8,192 x 2 B = 1.75 GiB more than with its flag off;
    Megatron-Core's ColumnParallelLinear saves the shard (nothing more)."""
    m = ModelSpec(**PRESETS["llama3.1-70b"])
    st = stacks.resolve(name)
    keys = (np.array([8.0]), np.array([1.0]), np.array([1]), np.array([16.0]))
    zero, inv = np.zeros(1), np.array([0])
    on = float(loss_logits(m, st, 8192, keys, 2.0, zero, inv)[0])
    off = float(loss_logits(m, replace(st, tp_saves_gathered_inputs=False), 8192, keys, 2.0, zero, inv)[0])
    assert on - off == pytest.approx(16 * 8192 * 8192 * 2 * (1 - 1 / 8) if gathered else 0.0)


def _lora_activations(preset, seq, cp, ring=True):
    """A LoRA row's activations under the HF Trainer (CP ``cp``, TP 1, ZeRO-3, checkpointed, one sequence), with the
    torch CP ring priced or (``ring`` False) not."""
    import sys
    from pathlib import Path

    from planner.model import memory as M
    from planner.spec import load_job_dict
    sys.path.insert(0, str(Path(__file__).parent))
    from test_hfwalk44 import _row

    job = load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": seq, "global_batch": 8, "tokens": 1e10, "mode": "lora", "framework": {"name": "hf-trainer"}}})
    st = stacks.resolve("hf-trainer")
    if not ring:
        st = replace(st, torch_cp_ring=False)
    mem = M.memory_per_gpu(job.model, job.training, _row(1, tp=1, dp=1, cp=cp, zero=3, mb=1, rc=2), stack=st,
                           gpu="H100-SXM-80GB")
    return float(mem["activations"][0])


def test_lora_rows_take_the_torch_cp_ring():
    """hfcp54 priced the ring on the HF table's and walk's rows; a frozen base (LoRA) runs the same attention under
    accelerate's ``context_parallel`` and now carries it too: Llama-2-7B (MHA, K = Q = 4,096 tokens x 4,096 x 2 B =
    32 MiB a rank at 32,768 tokens, CP 8), (2 x 8 + 20) K + 3 Q = 1,248 MiB beside one layer's backward; nothing at
    CP 1. On the code before, the frozen rows read no ring (0 difference)."""
    ring = _lora_activations("llama2-7b", 32768, 8) - _lora_activations("llama2-7b", 32768, 8, ring=False)
    assert ring == pytest.approx(1248 * 2.0 ** 20, rel=1e-9)
    assert _lora_activations("llama2-7b", 4096, 1) == _lora_activations("llama2-7b", 4096, 1, ring=False)
