"""FSDP2's per-rank memory (``Stack.fsdp2_dp``: torchtitan, NeMo AutoModel), counted by hand from torch's
torch/distributed/fsdp/_fully_shard (planner.model.memory ``fsdp2_reduce_buffer_bytes``):

* the sharded parameter is the fp32 original's shard (the optimizer term's master): no 16-bit shard is kept, the
  16-bit weights are the all-gathered units alone (the one in use and the one prefetched at ZeRO-3);
* the units in backward hold their unsharded gradient (bf16, the MixedPrecisionPolicy's param dtype) and the
  previous unit's reduce-scatter input (the reduce dtype, fp32 with ``grad_dtype: fp32``) beyond the fp32 gradient
  shards."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import fsdp2_reduce_buffer_bytes, memory_per_gpu
from planner.spec import load_job_dict
from planner.spec.params import count_params

#: Llama 3 8B: all parameters, and one decoder layer (2 h^2 + 2 h kv d + 3 h ffn + 2 h, tests/test_memory.py)
N8B, LAYER8B = 8_030_261_248, 218_112_000
#: torchtitan's [norm, output] unit (Stack.fsdp2_root "head"): final norm + LM head
HEAD8B = 128_256 * 4096 + 4096


def _head_excess(m) -> float:
    """What the head unit's gradient buffers (bf16 gradient + fp32 reduce-scatter input, held while the last block
    computes its gradients) exceed a layer's by, beyond the loss's share of the peak (``logits``): the two are never
    live together (memory_per_gpu). Since losspeak38 the loss's share is only what its buffers exceed the last layer's
    rebuild by (1.48 GB here, 3.15 GB before), so 0.36 GB of the head's 1.84 GB excess shows in the gradients."""
    return max((HEAD8B - LAYER8B) * (2 + 4) - float(m["logits"][0]), 0.0)


def _job(framework, grad_dtype="fp32", preset="llama3-8b"):
    return load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "megatron", "grad_dtype": grad_dtype, "optimizer": "adamw",
        "framework": {"name": framework}}})


def _mem(job, **kw):
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8, nodes=1)
    base.update(kw)
    return memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}))


def test_counts_are_the_architectures():
    job = _job("torchtitan")
    assert count_params(job.model).total == N8B


def test_fsdp2_zero3_keeps_no_16bit_shard():
    """ZeRO-3 on 8 ranks: the weights are the two gathered layers (bf16) alone -- the old convention added the
    2/8 bytes per parameter of a bf16 shard FSDP2 never allocates; the fp32 master is the optimizer term's 12/8."""
    m = _mem(_job("torchtitan"))
    # + the [norm, output] unit gathered beside the prefetched last layer (Stack.fsdp2_root "head", titanroot)
    head = 128_256 * 4096 + 4096
    assert m["weights"][0] == pytest.approx(2 * LAYER8B * 2 + (head - LAYER8B) * 2)
    assert m["optimizer"][0] == pytest.approx(12 * N8B / 8)


def test_fsdp2_holds_the_unsharded_gradient_and_the_reduce_scatter_input():
    """Gradients: the fp32 shard (4/8 B a parameter) + one layer's bf16 unsharded gradient (2 B) + one layer's fp32
    reduce-scatter input (4 B), at ZeRO-3 and at FSDP2's ZeRO-2 (reshard_after_forward=False, the same reduce), + what
    the head unit's buffers exceed them and the loss's share by (``_head_excess``)."""
    for zero in (2, 3):
        m = _mem(_job("torchtitan"), zero=zero)
        assert _head_excess(m) == pytest.approx(363_323_392)
        assert m["grads"][0] == pytest.approx(4 * N8B / 8 + LAYER8B * (2 + 4) + _head_excess(m)), zero
    # ZeRO-2: every layer gathered from its forward to its backward (2 B a parameter), no shard of its own either
    assert _mem(_job("torchtitan"), zero=2)["weights"][0] == pytest.approx(2 * N8B)


def test_reduce_dtype_follows_grad_dtype():
    """``grad_dtype: same``: the reduce-scatter runs in bf16 (2 B input); the shard stays fp32 (the parameter's
    dtype: foreach_reduce casts the reduced shard back)."""
    m = _mem(_job("torchtitan", grad_dtype="same"))
    assert m["grads"][0] == pytest.approx(4 * N8B / 8 + LAYER8B * (2 + 2))


def test_tensor_parallel_splits_the_unit():
    """A rank's unit is its TP slice of the largest layer (planner.model.memory_stages.largest_unit_params)."""
    one, tp4 = _mem(_job("torchtitan")), _mem(_job("torchtitan"), tp=4, dp=2, sp=True)
    buf = fsdp2_reduce_buffer_bytes(LAYER8B, 2.0, 4.0)
    assert buf == pytest.approx(6 * LAYER8B)
    # fp32 shard of the TP slice over DP 2, plus a quarter of the layer's buffers
    assert tp4["grads"][0] == pytest.approx(4 * N8B / 4 / 2 + buf / 4, rel=1e-3)
    assert one["grads"][0] > tp4["grads"][0]


def test_megatron_core_fsdp2_keeps_its_16bit_shard():
    """Megatron-Core's --use-torch-fsdp2 wraps an already-bf16 model (its optimizer holds the fp32 main params):
    not an fsdp2_dp stack, its ZeRO-3 is unchanged -- the bf16 shard, no FSDP2 reduce buffers."""
    m = _mem(_job("megatron-core"))
    assert m["weights"][0] == pytest.approx(2 * N8B / 8 + 2 * LAYER8B * 2)
    assert m["grads"][0] == pytest.approx(4 * N8B / 8)


def test_pipeline_held_stage_adds_the_buffers():
    """Under PP torchtitan keeps the stage gathered and accumulates unsharded fp32 gradients (pp_fsdp_unsharded):
    the last micro-batch's backward still holds a layer's bf16 gradient before accumulation and the previous unit's
    fp32 reduce-scatter input beside them. PP 4, the last stage (8 layers, final norm, LM head) the fuller one."""
    m = _mem(_job("torchtitan"), pp=4)
    assert m["stage"][0] == 1
    stage = 8 * LAYER8B + 4096 + 128256 * 4096
    assert m["grads"][0] == pytest.approx(4 * stage + LAYER8B * (2 + 4) + _head_excess(m))
    assert m["weights"][0] == pytest.approx(2 * stage)  # gathered all step, no shard besides


def _hf_trainer(version: int):
    """Llama 3 8B on the HF Trainer (autocast over fp32 weights, ``weights: amp``) with accelerate's FSDP ``version``."""
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "amp", "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": {"name": "hf-trainer", "fsdp_version": version}}})


def test_hf_trainer_fsdp_version_2_is_fsdp2():
    """accelerate's ``fsdp2_prepare_model`` (fsdp_version 2) shards each block and then the model with torch
    ``fully_shard``: at ZeRO-3 the root unit (embedding, final norm, LM head: 2 x 128,256 x 4,096 + 4,096) stays
    gathered in bf16 from the first forward to the end of backward -- FSDP1's root too (version 1, fsdp52b) --, and
    the units in backward hold a layer's bf16 unsharded gradient and its reduce-scatter input (2 + 2 B a parameter:
    accelerate reduces in bf16, hfrs56; 2 + 4 until then), which FSDP1 does not (fsdp2hf51; until then version 2 priced FSDP1's terms). At ZeRO-2 (no reshard after forward) FSDP2 holds the fp32 shard
    and the bf16 all-gather outputs, 4/8 + 2 B a parameter, as FSDP1's SHARD_GRAD_OP does (z2f51)."""
    one, two = _mem(_hf_trainer(1)), _mem(_hf_trainer(2))
    root = 2 * 128_256 * 4096 + 4096
    # (FSDP1 all-gathers each unit from a 16-bit copy of the rank's shard: one layer's / 8, fsdp52)
    assert two["weights"][0] - one["weights"][0] == pytest.approx(-LAYER8B / 8 * 2)
    # (8 micro-batches a step: FSDP1 under the Trainer's no_sync holds the whole bf16 unsharded gradient, fsdp52)
    assert one["grads"][0] == pytest.approx(2 * N8B)
    # ... and under FSDP2 since hf56 too (accelerate's no_sync is set_requires_gradient_sync(False)): the whole
    # unsharded gradient in accelerate's bf16 reduce dtype, and the units' reduce-scatter input bf16 (hfrs56; it was
    # the fp32 shard + LAYER8B x (2 + 4))
    assert two["grads"][0] == pytest.approx(2 * N8B + LAYER8B * (2 + 2))
    assert two["weights"][0] == pytest.approx(4 * N8B / 8 + 2 * LAYER8B * 2 + root * 2)
    assert _mem(_hf_trainer(2), zero=2)["weights"][0] == pytest.approx(4 * N8B / 8 + 2 * N8B)


def test_hf_trainer_fsdp1_zero2_shards_the_fp32_flat_parameter():
    """FSDP1's SHARD_GRAD_OP (accelerate's ZeRO-2, ``fsdp_version: 1``) shards the fp32 FlatParameter as FULL_SHARD
    does (torch _flat_param.py ``_local_shard``) and only skips the reshard after forward, so at the end of the forward
    a rank holds its fp32 shard (4 B / 8 a parameter) and the whole model's bf16 unsharded flat parameters (2 B a
    parameter, freed unit by unit in backward): 0.5 + 2 B x 8.03B = 18.70 GiB. Until z2f51 the fp32 weights were
    priced whole beside them, 4 + 2 B, 44.87 GiB. ZeRO-3 (FULL_SHARD) is unchanged: the fp32 shard and two layers
    gathered in bf16, and the root unit (embedding, final norm, head) gathered from its forward on (fsdp52b)."""
    z2, z3 = _mem(_hf_trainer(1), zero=2), _mem(_hf_trainer(1), zero=3)
    assert z2["weights"][0] == pytest.approx(4 * N8B / 8 + 2 * N8B)
    root = 2 * 128_256 * 4096 + 4096
    assert z3["weights"][0] == pytest.approx(4 * N8B / 8 + 2 * LAYER8B * 2 + LAYER8B / 8 * 2  # + _mp_shard (fsdp52)
                                             + root * 2)
