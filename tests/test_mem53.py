"""mem53: what FSDP holds of a LoRA (a frozen base and its adapters) when it does not reshard after forward, and the
bytes of the unfused gradient accumulation under AMP -- each measured on torch 2.13 (CPU, a fake process group where
FSDP runs), then priced by the planner.

* FSDP2 ``fully_shard`` shards every parameter, frozen or not, and at ZeRO-2 (``reshard_after_forward=False``) keeps
  every unit's bf16 unsharded parameters from its forward to its backward: a frozen base at 4/N + 2 B a parameter,
  not 4 B whole (planner.model.memory ``fsdp_frozen_base_gathers``);
* FSDP1 (``use_orig_params=True``) flattens LoRA's adapters into their block's FlatParameter: sharded and gathered
  with the block, 4/N + 2 B at ZeRO-2, not 4 B whole (``adapter_states``);
* under AMP the parameters and their ``.grad`` stay fp32: an unfused accumulation reads and writes 4 B gradients
  (planner.model.step_time ``grad_accum_pass``).

The model is Llama-shaped (embedding, RMSNorm, q/k/v/o and gate/up/down projections, untied head) with adapters laid
out as peft's ``LoraLayer`` lays them (``base_layer`` frozen, ``lora_A`` / ``lora_B`` trainable linears beside it;
peft is not installed here, so the layout is written out)."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.finetune import adapter_params
from planner.model.memory import memory_per_gpu
from planner.spec import load_job_dict

#: Llama 3 8B: all parameters (tests/test_fsdpmem.py)
N8B = 8_030_261_248
WORLD = 4


def _lora_llama(torch, h=32, layers=2, vocab=64, r=4, base=None):
    """A tiny Llama-shaped model whose every block linear carries a peft-style LoRA adapter; only the adapters train;
    the frozen base in ``base`` ("bfloat16", ...) where given."""
    nn = torch.nn

    class Lora(nn.Module):  # peft tuners/lora/layer.py ``Linear``: base_layer + lora_A / lora_B
        def __init__(self, i, o):
            super().__init__()
            self.base_layer = nn.Linear(i, o, bias=False)
            self.lora_A, self.lora_B = nn.Linear(i, r, bias=False), nn.Linear(r, o, bias=False)

        def forward(self, x):
            return self.base_layer(x) + self.lora_B(self.lora_A(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = nn.RMSNorm(h), nn.RMSNorm(h)
            self.q, self.k, self.v, self.o = (Lora(h, h) for _ in range(4))
            self.gate, self.up, self.down = Lora(h, 2 * h), Lora(h, 2 * h), Lora(2 * h, h)

        def forward(self, x):
            y = self.n1(x)
            a = torch.softmax(self.q(y) @ self.k(y).transpose(-1, -2), -1) @ self.v(y)
            x = x + self.o(a)
            y = self.n2(x)
            return x + self.down(torch.nn.functional.silu(self.gate(y)) * self.up(y))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.norm, self.head = nn.Embedding(vocab, h), nn.RMSNorm(h), nn.Linear(h, vocab, bias=False)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))

        def forward(self, ids):
            x = self.embed(ids)
            for b in self.blocks:
                x = b(x)
            return self.head(self.norm(x))

    model = Model()
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
        if base is not None and not p.requires_grad:
            p.data = p.data.to(getattr(torch, base))
    return model, Block


def _fake_group(torch):
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=WORLD)
    return dist


def _fsdp2_zero2_held(base_dtype: str) -> dict:
    """FSDP2 as accelerate's ``fsdp2_prepare_model`` applies it at ZeRO-2 (``fully_shard`` per decoder block and on
    the root, ``reshard_after_forward=False``, ``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``) over the
    LoRA model with its base in ``base_dtype``: bytes a parameter of each unit's sharded and unsharded storages after a
    forward under autocast, frozen base and adapters apart."""
    torch = pytest.importorskip("torch")
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.fsdp._fully_shard._fsdp_state import _get_module_fsdp_state

    dist = _fake_group(torch)
    try:
        model, _ = _lora_llama(torch, base=base_dtype)
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for block in model.blocks:
            fully_shard(block, reshard_after_forward=False, mp_policy=mp)
        fully_shard(model, reshard_after_forward=False, mp_policy=mp)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(torch.randint(0, 64, (2, 8)))
        held, count = {}, {}
        for module in model.modules():
            state = _get_module_fsdp_state(module)
            if state is None or state._fsdp_param_group is None:
                continue
            for fp in state._fsdp_param_group.fsdp_params:
                kind = "adapter" if fp.sharded_param.requires_grad else "base"
                count[kind] = count.get(kind, 0) + fp._orig_size.numel()
                held[kind, "shard"] = held.get((kind, "shard"), 0) + fp._sharded_param_data.untyped_storage().nbytes()
                held[kind, "unsharded"] = held.get((kind, "unsharded"), 0) + sum(
                    t.untyped_storage().nbytes() for t in fp.all_gather_outputs)
        return {k: v / count[k[0]] for k, v in held.items()}
    finally:
        dist.destroy_process_group()


def _lora_job(framework: dict, base: str):
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "mode": "lora", "base_weights": base, "steps": 10, "seq_len": 4096, "global_batch": 8, "weights": "amp",
        "grad_dtype": "fp32", "optimizer": "adamw", "framework": framework}})


def _weights(job, zero: int) -> float:
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=zero, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                nodes=1)
    c = Candidates(**{k: np.atleast_1d(v) for k, v in base.items()})
    return float(memory_per_gpu(job.model, job.training, c)["weights"][0])


@pytest.mark.parametrize("base, shard", [("float32", 1.0), ("bfloat16", 0.5)])
def test_fsdp2_zero2_holds_a_frozen_base_sharded_and_gathered(base, shard):
    """FSDP2 at ZeRO-2 over a frozen base: every unit (blocks and root) keeps its own shard (4/4 or 2/4 B a base
    parameter; the fp32 adapters 4/4) and its bf16 all-gather output (2 B), frozen or not. The planner's HF Trainer
    (FSDP2 unset = 2) prices Llama-3-8B LoRA at DP 8 so: base 4/8 + 2 B (fp32) or 2/8 + 2 B (bf16), adapters 4/8 + 2 B;
    until mem53 the base whole at its own bytes and the adapters at 4 B (30.07 GiB over an fp32 base, now 18.80)."""
    held = _fsdp2_zero2_held(base)
    assert held["base", "shard"] == pytest.approx(shard)
    assert held["adapter", "shard"] == pytest.approx(1.0)
    assert held["base", "unsharded"] == pytest.approx(2.0) and held["adapter", "unsharded"] == pytest.approx(2.0)
    job = _lora_job({"name": "hf-trainer"}, "fp32" if base == "float32" else "bf16")
    ad = adapter_params(job.model, job.training)
    assert _weights(job, 2) == pytest.approx(shard * WORLD / 8 * N8B + 2 * N8B + (4 / 8 + 2) * ad)


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")  # torch says what it does
def test_fsdp1_flattens_the_adapters_into_their_blocks():
    """FSDP1 (``use_orig_params=True``, per-block wrap, SHARD_GRAD_OP, bf16 ``param_dtype``) puts each block's
    adapters in the block's FlatParameter beside its frozen base: the rank's fp32 ``_local_shard`` and the bf16
    ``_full_param_padded`` cover them (1.0 and 2.0 B a parameter, adapters included). The planner's FSDP1 LoRA over an
    fp32 base at ZeRO-2 (Llama-3-8B, DP 8, the HF Trainer's ``fsdp_version: 1`` and llm-foundry) prices the adapters
    4/8 + 2 B as the base; until mem53 4 B whole."""
    torch = pytest.importorskip("torch")
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    dist = _fake_group(torch)
    try:
        model, Block = _lora_llama(torch)
        adapters = {n for n, p in model.named_parameters() if p.requires_grad}
        fsdp = FSDP(model, sharding_strategy=ShardingStrategy.SHARD_GRAD_OP, auto_wrap_policy=ModuleWrapPolicy({Block}),
                    device_id=torch.device("cpu"), use_orig_params=True,
                    mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fsdp(torch.randint(0, 64, (2, 8)))
        flat = [u._handle.flat_param for u in fsdp.modules() if isinstance(u, FSDP) and u._handle is not None
                and isinstance(u.module, Block)]
        in_blocks = [f for fp in flat for f in fp._fqns if "lora_" in f]
        block_elems = sum(sum(fp._numels) for fp in flat)
        assert len(in_blocks) == len(adapters) and len(flat) == 2
        assert sum(fp._local_shard.untyped_storage().nbytes() for fp in flat) / block_elems == pytest.approx(1.0, 0.01)
        assert sum(fp._full_param_padded.untyped_storage().nbytes() for fp in flat) / block_elems == pytest.approx(
            2.0, 0.01)
    finally:
        dist.destroy_process_group()
    for framework in ({"name": "hf-trainer", "fsdp_version": 1}, {"name": "llm-foundry"}):
        job = _lora_job(framework, "fp32")
        ad = adapter_params(job.model, job.training)
        assert _weights(job, 2) == pytest.approx(4 * N8B / 8 + 2 * N8B + (4 / 8 + 2) * ad)


def test_unfused_accumulation_under_amp_reads_and_writes_fp32_grads():
    """Under bf16 autocast an fp32 ``nn.Linear`` gets an fp32 ``.grad`` and the next backward adds into it (torch 2.13
    CPU). Megatron-DeepSpeed under ``weights: amp`` at ZeRO-0 (the client optimizer, the paper's row) accumulates so:
    4 + 4 B read and 4 B written a parameter (12), the first micro-batch stealing the new gradient; until mem53 a 2 B
    new gradient into a separate accumulator, 10 B on every micro-batch."""
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(8, 8)
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = lin(torch.randn(4, 8))
        assert out.dtype == torch.bfloat16
        out.float().sum().backward()
        if _ == 0:
            first = lin.weight.grad.clone()
    assert lin.weight.dtype == lin.weight.grad.dtype == torch.float32 and not torch.equal(first, lin.weight.grad)

    from planner.model.stacks import from_training
    from planner.model.step_time import grad_accum_pass

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "amp", "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": {"name": "megatron-deepspeed"}}})
    bytes_, stolen = grad_accum_pass(from_training(job.training), job.training, job.model.hidden)
    assert bytes_[0] == 12.0 and bool(stolen[0])
