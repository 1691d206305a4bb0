"""Ground truth for what torch FSDP1 holds when, under accelerate's FSDP1 plugin as the HF Trainer drives it.

    python tests/make_fsdp1_truth.py        # writes tests/data/fsdp1_truth.json (needs the ``truth`` extra)

A tiny Llama (tests/make_hf_common.py ``FAMILIES["llama"]``, 2 decoder layers) wrapped as accelerate 1.15's
FSDP1 path wraps it (``FullyShardedDataParallel``, transformer auto-wrap per ``LlamaDecoderLayer``,
``use_orig_params=True``, ``MixedPrecision(param_dtype=bf16, reduce_dtype=bf16, buffer_dtype=bf16)``, accelerate
``FullyShardedDataParallelPlugin.set_mixed_precision``), gloo on CPU at world size 2 (torch.multiprocessing), one
step of 2 micro-batches of gradient accumulation the way transformers 5.23's Trainer runs them (trainer.py: every
micro-batch but the last under ``accelerator.no_sync(model)``, FSDP1's ``no_sync``), for each sharding strategy
the Trainer's ``fsdp`` option names (FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2), and FULL_SHARD over a frozen
base with one trainable linear a block (``q_proj``: LoRA's layout, every block's flat parameter mixing frozen and
trainable parameters, the root's all frozen).

What it reads is FSDP1's own bookkeeping on each ``FlatParamHandle`` (torch 2.13 distributed/fsdp/_flat_param.py),
sizes of live storages (a freed one is ``resize_(0)``: 0 bytes):

* ``_mp_shard``: the 16-bit copy of the rank's fp32 shard, recorded at every all-gather FSDP1 issues
  (the unshard: ``_use_low_precision_shard`` fills it before, ``_free_low_precision_sharded_param`` frees it after);
* ``_full_param_padded``: the 16-bit unsharded flat parameter, after each forward and backward;
* ``flat_param.grad`` (its bytes, dtype and whether it is the unsharded shape) and ``_saved_grad_shard`` after each
  backward.

The sums over the handles are what the memory model's FSDP1 terms price (planner/model/memory.py
``fsdp1_mp_shard_bytes``, ``fsdp1_no_sync_grad_bytes``); tests/test_fsdp1mem52.py reads the JSON.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "fsdp1_truth.json"
WORLD = 2
SHAPE = (2, 32)  # micro-batch, sequence
MICRO_BATCHES = 2


def _storage_bytes(t) -> int:
    return 0 if t is None else t.untyped_storage().nbytes()


def _handles(model):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return [m._handle for m in FSDP.fsdp_modules(model) if m._handle is not None]


def _snapshot(model) -> dict:
    """Per handle (outermost first): the unsharded 16-bit parameter, the gradient and the saved shard, bytes."""
    out = []
    for h in _handles(model):
        fp = h.flat_param
        g = fp.grad
        out.append({"full_param_padded": _storage_bytes(getattr(fp, "_full_param_padded", None)),
                    "mp_shard": _storage_bytes(getattr(fp, "_mp_shard", None)),
                    "grad_bytes": 0 if g is None else g.numel() * g.element_size(),
                    "grad_dtype": None if g is None else str(g.dtype).replace("torch.", ""),
                    "grad_unsharded": g is not None and g.numel() >= fp._unpadded_unsharded_size.numel(),
                    "saved_grad_shard": _storage_bytes(getattr(fp, "_saved_grad_shard", None))})
    return out


def _run(rank: int, case: str, port: int, q) -> None:
    strategy, _, frozen = case.partition("+")
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    import functools

    sys.path.insert(0, str(HERE))
    from make_hf_common import FAMILIES
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.manual_seed(0)
    cfg = dict(FAMILIES["llama"])
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg), dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    if frozen:  # a frozen base with trainable parameters in every block (LoRA's layout): only q_proj trains
        for name, p in model.named_parameters():
            p.requires_grad_("q_proj" in name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mp = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16, buffer_dtype=torch.bfloat16)
    model = FSDP(model, sharding_strategy=ShardingStrategy[strategy], mixed_precision=mp, use_orig_params=True,
                 auto_wrap_policy=functools.partial(transformer_auto_wrap_policy,
                                                    transformer_layer_cls={LlamaDecoderLayer}),
                 device_id=torch.device("cpu"))
    # at each all-gather FSDP1 issues (_flat_param.py ``_all_gather_flat_param``: ``dist.all_gather`` into chunks of
    # the unsharded parameter on CPU, ``all_gather_into_tensor`` on an accelerator): the live ``_mp_shard`` bytes over
    # the handles, the input's bytes and dtype, the output's bytes
    gathers = []
    real = dist.all_gather

    def gather(tensor_list, tensor, *a, **k):
        gathers.append({"mp_shard_live": sum(_storage_bytes(getattr(h.flat_param, "_mp_shard", None))
                                             for h in _handles(model)),
                        "input_bytes": tensor.numel() * tensor.element_size(),
                        "input_dtype": str(tensor.dtype).replace("torch.", ""),
                        "output_bytes": sum(t.numel() * t.element_size() for t in tensor_list)})
        return real(tensor_list, tensor, *a, **k)

    dist.all_gather = gather

    g = torch.Generator().manual_seed(rank)
    steps = []
    for i in range(MICRO_BATCHES):
        ids = torch.randint(3, cfg["vocab_size"], SHAPE, generator=g)
        sync = i == MICRO_BATCHES - 1
        ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        nosync = model.no_sync() if not sync else torch.autograd.profiler.record_function("sync")
        with nosync:
            with ctx:
                loss = model(input_ids=ids, labels=ids).loss
            after_forward = _snapshot(model)
            loss.backward()
        steps.append({"sync": sync, "after_forward": after_forward, "after_backward": _snapshot(model)})
    # (sizes FSDP1 sets at its lazy init, the first forward)
    units = [{"unsharded_numel": h.flat_param._padded_unsharded_size.numel(),
              "shard_numel": h.flat_param._sharded_size.numel()} for h in _handles(model)]
    if rank == 0:
        q.put({"strategy": strategy, "world_size": WORLD, "params": n_params, "units": units,
               "trainable": trainable,
               "gathers": gathers, "micro_batches": steps})
    dist.destroy_process_group()


def main() -> None:
    import torch.multiprocessing as mp

    import accelerate
    import transformers

    ctx = mp.get_context("spawn")
    cases = {}
    for k, strategy in enumerate(("FULL_SHARD", "SHARD_GRAD_OP", "FULL_SHARD+frozen")):
        q = ctx.Queue()
        procs = [ctx.Process(target=_run, args=(r, strategy, 29631 + k, q)) for r in range(WORLD)]
        for p in procs:
            p.start()
        rec = q.get(timeout=180)
        for p in procs:
            p.join()
            assert p.exitcode == 0, (strategy, p.exitcode)
        cases[strategy] = rec
    sys.path.insert(0, str(HERE))
    from make_hf_common import FAMILIES

    OUT.write_text(json.dumps({
        "generator": "tests/make_fsdp1_truth.py", "config": FAMILIES["llama"],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "accelerate": accelerate.__version__},
        "shape": list(SHAPE), "micro_batches": MICRO_BATCHES, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
