"""dsamp52: what FSDP1's FULL_SHARD and DeepSpeed's ZeRO wrapper hold under AMP (autocast over fp32 weights).

* FSDP1 with a 16-bit ``param_dtype`` (llm-foundry's Composer DEFAULT / PURE presets, accelerate's FSDP plugin) keeps
  the rank's fp32 FlatParameter shard and frees the 16-bit shard it casts for each all-gather: at ZeRO-3 4/N B a
  parameter plus the gathered units, no 2/N B autocast copy (planner.model.memory ``fsdp_amp_keys``), measured here on
  torch's own FSDP1 over a fake process group;
* DeepSpeed trains an fp32 module under autocast only through its ``torch_autocast`` config section (the HF
  Trainer's ``bf16=True`` enables its bf16 engine, which casts the module): at ZeRO 1-3 its wrapper over the fp32
  module keeps the fp32 flat parameters, an fp32 gradient partition, a cloned fp32 master partition and one reduce
  bucket per comm dtype (planner.model.stacks ``fp32_module_zero_rows``)."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.spec import load_job_dict

#: Llama 3 8B: all parameters, and one decoder layer (tests/test_fsdpmem.py)
N8B, LAYER8B = 8_030_261_248, 218_112_000


def _job(framework: dict, weights="amp"):
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": weights, "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": framework}})


def _mem(job, **kw):
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8, nodes=1)
    base.update(kw)
    return memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}))


def _block(torch):
    """A residual MLP block, the unit the FSDP1 runs below wrap one by one."""
    class Block(torch.nn.Module):
        def __init__(self, h):
            super().__init__()
            self.up, self.down = torch.nn.Linear(h, 4 * h), torch.nn.Linear(4 * h, h)

        def forward(self, x):
            return x + self.down(torch.relu(self.up(x)))

    return Block


def _fsdp1_held_bytes_per_param(strategy_name: str, world: int, frozen: bool = False) -> dict:
    """torch FSDP1 (FullyShardedDataParallel, per-block wrap, MixedPrecision(param_dtype=bf16), limit_all_gathers,
    use_orig_params: llm-foundry's FSDP config) over a fake ``world``-rank group on CPU: the bytes a parameter of each
    FlatParameter storage the rank still holds after a forward under autocast. ``frozen``: LoRA's layout, a frozen
    base with one trainable linear a block (each block's FlatParameter mixing frozen and trainable parameters)."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from torch.testing._internal.distributed.fake_pg import FakeStore

    Block = _block(torch)
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
    try:
        model = torch.nn.Sequential(*[Block(32) for _ in range(3)])
        n = sum(p.numel() for p in model.parameters())
        for name, p in model.named_parameters():
            p.requires_grad_(not frozen or ".down." in name)
        fsdp = FSDP(model, sharding_strategy=getattr(ShardingStrategy, strategy_name),
                    auto_wrap_policy=ModuleWrapPolicy({Block}), device_id=torch.device("cpu"), limit_all_gathers=True,
                    use_orig_params=True, mixed_precision=MixedPrecision(param_dtype=torch.bfloat16,
                                                                         reduce_dtype=torch.float32,
                                                                         buffer_dtype=torch.bfloat16))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fsdp(torch.randn(2, 32))
        held = {}
        for unit in fsdp.modules():
            if isinstance(unit, FSDP) and unit._handle is not None:
                for name in ("_local_shard", "_mp_shard", "_full_param_padded"):
                    t = getattr(unit._handle.flat_param, name, None)
                    if t is not None:
                        held[name] = held.get(name, 0) + t.untyped_storage().size()
        return {k: v / n for k, v in held.items()}
    finally:
        dist.destroy_process_group()


def test_fsdp1_full_shard_frees_its_16bit_shard():
    """FULL_SHARD: the fp32 shard (4 B / 4 ranks = 1 B a parameter), nothing 16-bit left after the forward;
    SHARD_GRAD_OP: the same shard and the whole model's bf16 unsharded parameters (2 B a parameter)."""
    full = _fsdp1_held_bytes_per_param("FULL_SHARD", 4)
    assert full["_local_shard"] == pytest.approx(1.0, rel=0.01)
    assert full.get("_mp_shard", 0) == 0 and full.get("_full_param_padded", 0) == 0
    grad_op = _fsdp1_held_bytes_per_param("SHARD_GRAD_OP", 4)
    assert grad_op["_local_shard"] == pytest.approx(1.0, rel=0.01)
    assert grad_op["_full_param_padded"] == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("framework", [{"name": "llm-foundry"},
                                       {"name": "hf-trainer", "fsdp_version": 1}])
def test_fsdp1_zero3_amp_holds_the_fp32_shard_and_two_gathered_layers(framework):
    """Llama-3-8B, 8 ranks, FULL_SHARD under AMP: 4/8 B a parameter + two bf16 layers (the one in use and the one
    prefetched), 4.55 GiB, on every FSDP1 stack alike. llm-foundry priced (4 + 2)/8 B a parameter, 6.42 GiB: the
    2/8 of an autocast copy FSDP1 never keeps (the HF Trainer's walked plan took it off already). Plus the one
    unit's 16-bit shard (``_mp_shard``, 2/8 B of a layer) live at each all-gather, priced on every FSDP1 stack since
    fsdp52 (measured: tests/data/fsdp1_truth.json); and on the HF Trainer the root unit (embedding, final norm, head)
    gathered from its forward to its backward (fsdp52b; on llm-foundry since fsdp52c: the test below)."""
    w = _mem(_job(framework))["weights"][0]
    root = (2 * 128_256 * 4096 + 4096) * 2
    assert w == pytest.approx(4 * N8B / 8 + 2 * LAYER8B * 2 + 2 * LAYER8B / 8 + root)


def _ds(zero: int, **fw):
    """Llama-3-8B on the deepspeed stack under ``mixed_precision: amp`` (DeepSpeed's torch_autocast section) at
    ``zero`` on 8 ranks."""
    return _mem(_job({"name": "deepspeed", "mixed_precision": "amp", **fw}), zero=zero)


def test_deepspeed_zero2_under_torch_autocast_keeps_the_master_partition_and_both_buckets():
    """ZeRO-2: 4 B a parameter of fp32 weights whole (the flat module parameters; autocast's bf16 copies are the HF
    walk's), 4/8 of fp32 gradient partition, 4/8 of cloned fp32 master + 8/8 of Adam moments, and one reduce bucket
    per comm dtype, two each with overlap_comm: 2 x 5e8 x (4 + 2) B. The paper's rows priced neither the master
    (3.74 GiB) nor the buckets (5.59 GiB)."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    m = _ds(2)
    assert m["optimizer"][0] == pytest.approx((4 + 8) * N8B / 8)
    assert m["grads"][0] == pytest.approx(4 * N8B / 8 + 2 * ZERO_REDUCE_BUCKET_ELEMS * (4 + 2))


def test_deepspeed_torch_autocast_rows_by_stage():
    """ZeRO-0 steps the client optimizer over the fp32 module (the paper's row, no master); ZeRO-1 and ZeRO-3 keep
    the cloned master partition too; without overlap_comm one bucket per dtype; the bf16 engine's rows are unchanged
    (no master beyond the convention's)."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    assert _ds(0)["optimizer"][0] == pytest.approx(8 * N8B)
    for zero in (1, 3):
        assert _ds(zero)["optimizer"][0] == pytest.approx(12 * N8B / 8)
    one = _ds(2, overlap_grad_reduce=False)
    assert one["grads"][0] == pytest.approx(4 * N8B / 8 + ZERO_REDUCE_BUCKET_ELEMS * (4 + 2))
    bf16 = _mem(_job({"name": "deepspeed"}, weights="megatron"), zero=2)
    assert bf16["optimizer"][0] == pytest.approx(12 * N8B / 8)


def test_megatron_deepspeed_torch_autocast_reduces_in_fp32_buckets_only():
    """Megatron's ColumnParallelLinear / RowParallelLinear are not ``nn.Linear`` (torch_autocast.py matches the exact
    class), so no parameter gets the bf16 comm dtype: one fp32 bucket, no bf16 one."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    m = _mem(_job({"name": "megatron-deepspeed"}), zero=2)
    assert m["grads"][0] == pytest.approx(4 * N8B / 8 + ZERO_REDUCE_BUCKET_ELEMS * 4)
    assert m["optimizer"][0] == pytest.approx(12 * N8B / 8)


def test_fsdp1_shard_grad_op_holds_a_frozen_base_as_full_training():
    """fsdp52c: SHARD_GRAD_OP over a frozen base (LoRA's layout) holds what it holds in full training -- the fp32
    shard (1 B a parameter at 4 ranks) and every unit's bf16 unsharded parameters after the forward (2 B) -- and the
    planner's FSDP1 LoRA over an fp32 base at ZeRO-2 (Llama-3-8B, 8 ranks) prices 4/8 + 2 B a base parameter,
    18.70 GiB, beside the adapters; until fsdp52c the base whole at 4 B, 29.91 GiB (``fsdp_frozen_base_gathers``).
    ZeRO-3 is unchanged: the fp32 shard and the gathered window, as full training. The adapters, flattened into the
    blocks' FlatParameters, the same 4/8 + 2 B since mem53 (tests/test_mem53.py; 4 B whole before)."""
    from planner.model.finetune import adapter_params

    held = _fsdp1_held_bytes_per_param("SHARD_GRAD_OP", 4, frozen=True)
    assert held["_local_shard"] == pytest.approx(1.0, rel=0.01)
    assert held["_full_param_padded"] == pytest.approx(2.0, rel=0.01)
    for framework in ({"name": "hf-trainer", "fsdp_version": 1}, {"name": "llm-foundry"}):
        job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
            "mode": "lora", "base_weights": "fp32", "steps": 10, "seq_len": 4096, "global_batch": 64, "weights": "amp",
            "grad_dtype": "fp32", "optimizer": "adamw", "framework": framework}})
        adapters = (4 / 8 + 2) * adapter_params(job.model, job.training)
        assert _mem(job, zero=2)["weights"][0] == pytest.approx(4 * N8B / 8 + 2 * N8B + adapters)


def test_composer_mpt_holds_its_tied_embedding_through_backward():
    """fsdp52c: llm-foundry's MPT under Composer's FSDP1 (``_fsdp_wrap`` on wte and norm_f: units of their own, the
    blocks by the wrap function; FULL_SHARD, bf16 ``param_dtype``, over a fake 4-rank group): the tied embedding,
    used again as the head, is resharded after the forward but, gathered at the head's backward, is still gathered at
    the last block's backward beside the two blocks in flight -- its post-backward waits for the embedding's use. The
    planner's llm-foundry ZeRO-3 weights hold the model's ends in bf16 beside the two blocks, as the HF Trainer's FSDP1
    root (Llama-3-8B, 8 ranks: +1.96 GiB); until fsdp52c none."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import CustomPolicy
    from torch.testing._internal.distributed.fake_pg import FakeStore

    class Shared(torch.nn.Embedding):  # llmfoundry/models/layers/custom_embedding.py SharedEmbedding
        def forward(self, x, unembed=False):
            return torch.nn.functional.linear(x, self.weight) if unembed else super().forward(x)

    Block = _block(torch)

    class MPT(torch.nn.Module):
        def __init__(self, v=512, h=32):
            super().__init__()
            self.wte, self.norm_f = Shared(v, h), torch.nn.LayerNorm(h)
            self.blocks = torch.nn.ModuleList(Block(h) for _ in range(3))
            self.wte._fsdp_wrap = self.norm_f._fsdp_wrap = True

        def forward(self, ids, probe):
            x = self.wte(ids)
            for b in self.blocks:
                x = b(x)
            x.register_hook(probe)  # runs at the last block's backward, after the head's
            return self.wte(self.norm_f(x), True)

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=4)
    try:
        model = MPT()
        policy = CustomPolicy(lambda mod: bool(getattr(mod, "_fsdp_wrap", False)) or isinstance(mod, Block))
        fsdp = FSDP(model, sharding_strategy=ShardingStrategy.FULL_SHARD, auto_wrap_policy=policy,
                    device_id=torch.device("cpu"), use_orig_params=True,
                    mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32))

        def gathered():
            return {n.split(".", 1)[-1]: u._handle.flat_param._full_param_padded.untyped_storage().size()
                    for n, u in fsdp.named_modules() if isinstance(u, FSDP) and u._handle is not None}

        seen = {}
        out = fsdp(torch.randint(0, 512, (2, 8)), lambda g: seen.update(gathered()))
        assert gathered()["wte"] == 0  # resharded after the forward
        out.float().sum().backward()
    finally:
        dist.destroy_process_group()
    assert seen["wte"] == 2 * 512 * 32 and seen["norm_f"] == 0
    assert sum(v > 0 for k, v in seen.items() if k.startswith("blocks")) == 2
    ends = 2 * 128_256 * 4096 + 4096
    full = _mem(_job({"name": "llm-foundry"}))["weights"][0]
    assert full == pytest.approx(4 * N8B / 8 + 2 * LAYER8B * 2 + 2 * LAYER8B / 8 + 2 * ends)
