"""qlora54: QLoRA (a bitsandbytes NF4 base) under the HF Trainer's FSDP, as the code runs it.

* FSDP2 (``fsdp_version`` 2, the Trainer's default): accelerate's ``fsdp2_prepare_model`` leaves the uint8
  ``Params4bit`` out of ``fully_shard`` (``ignored_params``, accelerate PR #3987): whole on every rank, at any CP, and
  never gathered;
* FSDP1 with a float ``bnb_4bit_quant_storage`` (the FSDP-QLoRA path): the packed weights are FlatParameter elements,
  sharded and gathered at 0.5 B a parameter; each layer's ``QuantState`` is an attribute, no parameter, so it stays
  whole on every rank; the Trainer wraps peft's adapters as units of their own (``update_fsdp_plugin_peft``:
  peft ``fsdp_auto_wrap_policy``), so the block's FlatParameter is all frozen and carries no gradient.

bitsandbytes is not installed here: the FSDP1 facts are measured on torch 2.13's own FSDP1 (CPU, fake process group)
over a torch-only stand-in of ``Linear4bit`` laid out as bitsandbytes 0.50.2 stores it (the packed bytes as a
``(n / 2 / itemsize, 1)`` bf16 parameter, the quantisation state a plain attribute). Each test fails on the code
before qlora54."""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
from test_fsdp1mem52 import MODEL, TRUTH
from test_mem53 import WORLD, _fake_group

from conftest import write_job
from planner.layout import Candidates
from planner.model.finetune import bitsandbytes_gather_bytes, bitsandbytes_layer_bytes, quantized_bytes
from planner.model.memory import memory_per_gpu
from planner.spec import TrainingSpec
from planner.spec.params import count_params


def _qlora(version):
    return TrainingSpec(mode="qlora", lora={"rank": 4, "alpha": 8, "targets": "all-linear"}, precision="bf16",
                        optimizer="adamw", seq_len=TRUTH["shape"][1], global_batch=64,
                        framework={"name": "hf-trainer", "fsdp_version": version})


def _linears():
    """(fan_in, fan_out) of the tiny Llama's block linears (q, k, v, o, gate, up, down)."""
    c = TRUTH["config"]
    h, f, kv = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
    kvw = kv * c["num_key_value_heads"]
    return [(h, h), (h, kvw), (h, kvw), (h, h), (h, f), (h, f), (f, h)]


def peft_trainable_leaf(module) -> bool:
    """peft 0.21.2 utils/other.py ``fsdp_auto_wrap_policy``'s ``lambda_policy_fn``: a leaf module whose weight trains
    is an FSDP unit of its own (each LoRA ``lora_A`` / ``lora_B``)."""
    return (len(list(module.named_children())) == 0 and getattr(module, "weight", None) is not None
            and module.weight.requires_grad)


def _fsdp1_qlora_block(norm_dtype: str = "bfloat16"):
    """One decoder block of stand-in ``Linear4bit`` layers with peft-style adapters under torch FSDP1 as the HF
    Trainer sets it for QLoRA (FULL_SHARD, ``use_orig_params``, ``param_dtype`` = the bf16 quant storage, peft's
    auto-wrap: every trainable leaf a unit of its own, the block one): what its FlatParameter holds and what stays
    beside it, after a forward and backward. ``norm_dtype``: the block's norms' (bf16 as the run loads them; fp32 as
    ``prepare_model_for_kbit_training`` would cast them, which FSDP1 refuses to flatten: qlora54b)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy, transformer_auto_wrap_policy
    import functools

    class Linear4bit(nn.Module):  # bitsandbytes nn/modules.py: Params4bit(quant_storage=bf16) + QuantState attribute
        def __init__(self, i, o):
            super().__init__()
            n = i * o
            self.shape = (o, i)
            self.weight = nn.Parameter(torch.zeros(math.ceil(n / 2) // 2, 1, dtype=torch.bfloat16), requires_grad=False)
            blocks = math.ceil(n / 64)
            self.quant_state = types.SimpleNamespace(  # double quantisation: 8-bit absmax, fp32 per 256, codes
                absmax=torch.zeros(blocks, dtype=torch.uint8), nested_absmax=torch.ones(math.ceil(blocks / 256)),
                offset=torch.zeros(1), nested_code=torch.zeros(256), code=torch.zeros(16))

        def forward(self, x):  # dequantise (a bf16 weight the size of this linear, freed after the matmul)
            w = self.weight.float().mean() + torch.ones(self.shape, dtype=x.dtype)
            return x @ w.t()

    class Lora(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.base_layer = Linear4bit(i, o)
            self.lora_A, self.lora_B = nn.Linear(i, 4, bias=False), nn.Linear(4, o, bias=False)

        def forward(self, x):
            return self.base_layer(x) + self.lora_B(self.lora_A(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            h = TRUTH["config"]["hidden_size"]
            self.n1, self.n2 = (nn.RMSNorm(h, dtype=getattr(torch, norm_dtype)) for _ in range(2))
            self.n1.requires_grad_(False)
            self.n2.requires_grad_(False)
            self.lins = nn.ModuleList(Lora(i, o) for i, o in _linears())

        def forward(self, x):
            y = self.n1(x)
            q, k, v = (self.lins[j](y) for j in range(3))
            x = x + self.lins[3](q + torch.cat([k, v], -1))
            y = self.n2(x)
            return x + self.lins[6](self.lins[4](y) * self.lins[5](y))

    dist = _fake_group(torch)
    try:
        root = nn.Sequential(Block())
        block = root[0]
        states = [lin.base_layer.quant_state for lin in block.lins]
        policy = functools.partial(_or_policy, policies=[
            functools.partial(lambda_auto_wrap_policy, lambda_fn=peft_trainable_leaf),
            functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={Block})])
        model = FSDP(root, sharding_strategy=ShardingStrategy.FULL_SHARD, device_id=torch.device("cpu"),
                     auto_wrap_policy=policy, use_orig_params=True,
                     mixed_precision=MixedPrecision(param_dtype=torch.bfloat16))
        x = torch.randn(2, 8, TRUTH["config"]["hidden_size"], dtype=torch.bfloat16, requires_grad=True)
        model(x).float().sum().backward()
        units = [u for u in model.modules() if isinstance(u, FSDP) and u._handle is not None]
        blk = next(u for u in units if isinstance(u.module, Block))
        flat = blk._handle.flat_param
        return dict(
            numel=flat._unpadded_unsharded_size.numel(), itemsize=flat.element_size(),
            local=flat._local_shard.numel(), requires_grad=flat.requires_grad, grad=flat.grad,
            adapter_units=sum(isinstance(u.module, nn.Linear) for u in units),
            state_bytes=sum(t.numel() * t.element_size() for s in states for t in vars(s).values()),
            absmax_whole=all(s.absmax.numel() == math.ceil(i * o / 64) for s, (i, o) in zip(states, _linears())))
    finally:
        dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")
def test_fsdp1_shards_and_gathers_the_packed_weights_not_the_quant_state():
    """The block's FlatParameter is the packed weights (bf16 elements, four 4-bit values each) and the norms: at the
    planner's gather width (``bitsandbytes_gather_bytes`` over the blocks: 0.5 B a quantised parameter, the norms at
    2 B) it is exactly the run's unsharded unit, 1/WORLD of it a rank; the QuantStates stay whole beside it; the
    adapters are units of their own, so the frozen block has no gradient (fsdp1mem52's flat gradient does not reach
    a bitsandbytes base). Until qlora54 the planner gathered each block at the base's mean stored bytes (0.50 ->
    0.62 B a parameter on this model: the fp32 rest and the quantisation state averaged in)."""
    run = _fsdp1_qlora_block()
    block_params = (count_params(MODEL).total - count_params(MODEL).embedding - count_params(MODEL).lm_head
                    - count_params(MODEL).final_norm) / TRUTH["config"]["num_hidden_layers"]
    want = bitsandbytes_gather_bytes(MODEL, _qlora(1), False, 2.0, blocks=True) * block_params
    assert run["numel"] * run["itemsize"] == pytest.approx(want, rel=1e-12), (run, want)
    assert run["local"] == math.ceil(run["numel"] / WORLD)
    assert run["absmax_whole"] and run["adapter_units"] == 2 * len(_linears())
    assert run["requires_grad"] is False and run["grad"] is None
    # the stand-in's state is bitsandbytes' layout, as the planner stores it (checked on bnb 0.50.2: peft_truth.json)
    assert run["state_bytes"] == sum(quantized_bytes(i * o, o, "nf4") - math.ceil(i * o / 2) for i, o in _linears())


def _weights(version, dp):
    c = dict(tp=1, pp=1, dp=dp, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
             nodes=1)
    return float(memory_per_gpu(MODEL, _qlora(version), Candidates(**{k: np.atleast_1d(v) for k, v in c.items()}))
                 ["weights"][0])


def test_fsdp1_keeps_each_quant_state_whole_a_rank():
    """FSDP1 ZeRO-3 weights are A + B / dp (the shard and ``_mp_shard`` shrink with DP): the part that does not
    shrink, A, is the two gathered blocks at 0.5 B a quantised parameter, the root unit at 2 B and the quantisation
    state whole (``bitsandbytes_layer_bytes(state_only=True)``). Until qlora54 the state was sharded with the packed
    weights (A without it)."""
    share, state_b = bitsandbytes_layer_bytes(MODEL, _qlora(1), state_only=True)
    pc = count_params(MODEL)
    ends = pc.embedding + pc.lm_head + pc.final_norm
    q_params = sum(i * o for i, o in _linears()) * TRUTH["config"]["num_hidden_layers"]
    layer = (pc.total - ends) / TRUTH["config"]["num_hidden_layers"]
    whole = 2 * layer * bitsandbytes_gather_bytes(MODEL, _qlora(1), False, 2.0, blocks=True) + ends * 2.0
    w2, w4 = _weights(1, 2), _weights(1, 4)
    a = (2 * w2 - 4 * w4) / (2 - 4)
    assert share * count_params(MODEL).total == q_params and state_b * q_params > 0
    assert a == pytest.approx(whole + state_b * q_params, rel=1e-9), (a, whole, state_b * q_params)


QLORA_8B = """
model: {preset: llama3.1-8b}
training: {mode: qlora, seq_len: 4096, global_batch: 16, micro_batch: 1, precision: bf16, recompute: full, steps: 10,
           framework: %s}
parallel: {dp: 8, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""


@pytest.mark.parametrize("framework", ["hf-trainer", "{name: hf-trainer, fsdp_version: 2}"])
def test_fsdp2_leaves_the_quantised_linears_whole_at_cp_1(cli, tmp_path, framework):
    """accelerate's FSDP2 ignores the uint8 Params4bit at every CP, not only under context parallelism: Llama-3.1-8B
    QLoRA at DP 8 ZeRO-3 holds its 3.35 GiB of NF4 linears on every GPU (weights 2.27 -> 5.82 GiB: 1/8 of them), and
    its ZeRO-3 gathers move the 16-bit rest alone, faster than FSDP1's packed weights; the qlora advice line names
    FSDP1 as the way to shard them."""
    from planner.model.finetune import _bitsandbytes_part
    from planner.spec import load_job

    path = write_job(tmp_path, QLORA_8B % framework)
    code, out, err = cli("estimate", path, "--json")
    assert code == 0, err
    q_bytes = _bitsandbytes_part(*(lambda j: (j.model, j.training))(load_job(path)))[0]
    assert json.loads(out)["memory_per_gpu_bytes"]["weights"] > q_bytes
    v1 = write_job(tmp_path, QLORA_8B % "{name: hf-trainer, fsdp_version: 1}", name="v1.yaml")
    code, out1, err = cli("estimate", v1, "--json")
    assert code == 0, err
    assert json.loads(out1)["memory_per_gpu_bytes"]["weights"] < json.loads(out)["memory_per_gpu_bytes"]["weights"] - q_bytes / 2
    assert json.loads(out)["breakdown_s"]["comm_zero3"] < json.loads(out1)["breakdown_s"]["comm_zero3"]
    # and the advice says so, and how to shard it (not under FSDP1, which does)
    hint = "fsdp_version 1 with a float bnb_4bit_quant_storage shards them"
    assert any(hint in a for a in json.loads(out)["advice"]), json.loads(out)["advice"]
    assert not any(hint in a for a in json.loads(out1)["advice"])


def test_zero3_gathers_move_the_packed_weights():
    """The step's gathers of a bitsandbytes base (``bitsandbytes_gather_bytes`` over the base): Llama-3.1-70B NF4,
    16-bit rest, 0.545 B a parameter under FSDP1 (was 2 B: 4x the packed weights), 0.060 under FSDP2 (the
    embedding, head and norms alone)."""
    from planner.spec import load_job_dict

    j = load_job_dict({"model": {"preset": "llama3.1-70b"}, "training": {"mode": "qlora", "steps": 1}})
    assert bitsandbytes_gather_bytes(j.model, j.training, False, 2.0) == pytest.approx(0.5447, abs=1e-4)
    assert bitsandbytes_gather_bytes(j.model, j.training, True, 2.0) == pytest.approx(0.0596, abs=1e-4)
    assert bitsandbytes_gather_bytes(j.model, j.training, True, 2.0, blocks=True) == pytest.approx(0.0, abs=1e-3)
