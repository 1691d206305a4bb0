"""The checkpointed backward's phases, measured: where the step's peak falls on tiny Hugging Face models (hfblk57).

Run by hand (needs ``transformers`` and ``peft``; the tests only read tests/data/hfblk57_truth.json)::

    python tests/make_hfblk57_truth.py      # about a minute on 2 CPU cores

For the tiny llama, qwen2, mistral and gpt2 of make_hf_common.FAMILIES, gradient checkpointing on (non-reentrant,
transformers' default), eager and sdpa, batch x seq in SHAPES, the model output dropped before ``backward`` (the HF
Trainer's ``compute_loss`` returns the loss alone), one training step is run on CPU under make_hf_common's
``LiveTensors`` (every storage an aten op makes, tracked until freed; parameters and inputs excluded) in four
variants:

* ``full_bf16``: every parameter trained, ``model.to(bfloat16)`` (pure bf16);
* ``full_amp``: every parameter trained, fp32 weights under ``torch.autocast("cpu", bfloat16)`` (HF Trainer
  ``bf16=True``);
* ``lora_amp``: peft LoRA r2 "all-linear" (lora_dropout 0) over the fp32 base, under autocast (a LoRA over an fp32
  base: the stream fp32). Rank 2 over hidden 64 keeps the adapters as small beside the block as r16 - r64 over a
  4,096-wide model (r16 over 64, a quarter of the width, made the adapters' weights, their autocast copies and their
  gradients in flight a fifth of the block's backward: nothing a real plan holds at that scale);
* ``lora_bf16``: the same over a bf16 base (cast before ``get_peft_model``: peft's fp32 adapters), under autocast
  (the stream bf16).

The backward is cut into phases by forward pre-hooks on each checkpointed block's submodules (non-reentrant
checkpointing reruns the block's ``forward`` on the first unpack of its saves: torch/utils/checkpoint.py; transformers
5 checkpoints ``forward``, the block's own hooks outside, its submodules' inside): ``head``, from
the start of ``backward`` to the last block's recompute (the loss's and the head's backward), then one phase per
block, from its recompute to the next block's (block 0's to the end of the step, the embedding's backward
included). Per phase: ``start`` (the live bytes when it begins) and ``peak`` (the largest live bytes in it), both
less the parameter gradients accumulated so far (``register_post_accumulate_grad_hook``: a plan prices the
gradients in their own term) -- so ``peak - start`` of a block's phase is what its rebuild and backward add on top
of what was alive when the gradient reached it. ``after_forward``: live bytes once the output is dropped;
``step_peak``: the step's largest live bytes, gradients included; ``grad_bytes``: the gradients at the end.

``moe_cases`` (lora58): the LoRA variants alone on the tiny Mixtral and Qwen3-MoE (``MOE_FAMILIES``), whose routed
experts -- fused 3-D parameters -- peft's "all-linear" adapts through ``ParamWrapper``, under transformers' eager
expert loop and under ``grouped_mm`` (``experts``), recorded the same way.

lora58b: at the step's peak (the largest live bytes less the gradients, over the backward's phases) each case also
records ``peak_adapter_casts`` (the live bytes of the copies an aten ``_to_copy`` made of a peft ``lora_`` parameter:
autocast's bf16 casts of the fp32 adapters) and ``peak_embedding_out`` (the live bytes of the input embedding
module's output, ``embedding_is_block_input``: whether that storage is block 0's input). ``nogc_cases``: the tiny
llama and gpt2, eager, ``lora_amp`` / ``lora_bf16`` / ``full_amp``, without gradient checkpointing (peft's
``enable_input_require_grads`` is then not called: transformers calls it from ``gradient_checkpointing_enable``).
"""
from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import torch
from torch.multiprocessing.reductions import StorageWeakRef
import transformers

sys.path.insert(0, str(Path(__file__).parent))
from make_hf_common import LiveTensors, _is_gc_layer, _local, batch, build  # noqa: E402

OUT = Path(__file__).parent / "data" / "hfblk57_truth.json"
FAMILIES = ["llama", "qwen2", "mistral", "gpt2"]
SHAPES = [(1, 64), (2, 128)]  # (batch, seq)
VARIANTS = ["full_bf16", "full_amp", "lora_amp", "lora_bf16"]
MOE_FAMILIES = ["mixtral", "qwen3_moe"]
MOE_EXPERTS = ["eager", "grouped_mm"]  # transformers' experts_implementation
NOGC_FAMILIES = ["llama", "gpt2"]  # lora58b: the steps without gradient checkpointing (eager attention)
SEED = 0
LORA_RANK = 2


class PhaseLive(LiveTensors):
    """``LiveTensors`` that also keeps, per phase (``mark``), the live bytes at its start and its peak, less the
    parameter gradients accumulated so far (``grads``)."""

    def __init__(self, exclude, adapters=frozenset()):
        super().__init__(exclude)
        self.grads = 0
        self.phases: list[dict] = []
        self.adapters = set(adapters)  # storage addresses of peft's lora_ parameters
        self.casts: list = []  # (weak reference, bytes) of each copy made of an adapter parameter
        self.embedding = None  # (weak reference, bytes) of the input embedding's output
        self.embedding_ptr = self.block_input = None  # its storage's address, block 0's input's (in the forward)
        self.top, self.at_top = -1, (0, 0)  # the step's peak less gradients, (adapter casts, embedding output) then

    def mark(self, name: str) -> None:
        self._prune()
        now = self.live - self.grads
        self.phases.append({"phase": name, "start": now, "peak": now})

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if (func.overloadpacket is torch.ops.aten._to_copy and isinstance(args[0], torch.Tensor)
                and _local(args[0]).untyped_storage().data_ptr() in self.adapters):
            s = out.untyped_storage()
            self.casts.append((StorageWeakRef(s), s.nbytes()))
        if self.phases:
            p = self.phases[-1]
            p["peak"] = max(p["peak"], self.live - self.grads)
            if self.live - self.grads > self.top:
                self.top = self.live - self.grads
                self.at_top = (sum(n for r, n in self.casts if not r.expired()),
                               self.embedding[1] if self.embedding and not self.embedding[0].expired() else 0)
        return out

    def embedding_out(self, t: torch.Tensor) -> None:
        s = t.untyped_storage()
        self.embedding, self.embedding_ptr = (StorageWeakRef(s), s.nbytes()), s.data_ptr()


def _model(family: str, attn: str, variant: str, experts: str = "eager"):
    model = build(family, attn, experts=experts, seed=SEED)
    if variant == "full_bf16":
        return model.to(torch.bfloat16)
    if variant.startswith("lora"):
        from peft import LoraConfig, get_peft_model
        if variant == "lora_bf16":
            model.to(torch.bfloat16)  # before get_peft_model: peft makes the adapters fp32
        model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, target_modules="all-linear",
                                                 lora_dropout=0.0, task_type="CAUSAL_LM"))
        model.train()
    return model


def step(family: str, attn: str, variant: str, b: int, s: int, experts: str = "eager", gc: bool = True) -> dict:
    """One training step of the variant (checkpointed unless ``gc`` is False), its backward cut into phases (module
    docstring); ``experts``: an MoE family's experts kernel."""
    model = _model(family, attn, variant, experts)
    if gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if variant.startswith("lora") and gc:
        model.enable_input_require_grads()  # what the HF Trainer does for a peft model under checkpointing
    inputs = batch(family, b, s, seed=SEED)
    pre = {_local(p).untyped_storage().data_ptr() for p in model.parameters()}
    pre |= {t.untyped_storage().data_ptr() for t in inputs.values()}
    live = PhaseLive(pre, {_local(p).untyped_storage().data_ptr() for n, p in model.named_parameters() if "lora_" in n})
    blocks = [(i, mod) for i, mod in enumerate(m for m in model.modules() if _is_gc_layer(m))]
    state = {"backward": False}

    def embedded(mod, args, out):  # the input embedding's output (peft's enable_input_require_grads hooks it too)
        live.embedding_out(out)

    def first_block(mod, args, kwargs):
        hs = args[0] if args else kwargs["hidden_states"]
        if not state["backward"] and live.block_input is None:
            live.block_input = hs.untyped_storage().data_ptr()

    def pre_hook(i):
        def hook(mod, args):  # the block's first submodule to run again opens its phase
            if state["backward"] and live.phases[-1]["phase"] != f"block{i}":
                live.mark(f"block{i}")
        return hook

    def grad_hook(p):
        live.grads += _local(p.grad).untyped_storage().nbytes()

    # (transformers 5 checkpoints the block's ``forward``, its own hooks outside: modeling_layers.py
    # ``GradientCheckpointingLayer``; its submodules' hooks run in the recompute)
    handles = [sub.register_forward_pre_hook(pre_hook(i)) for i, mod in blocks for sub in mod.modules() if sub is not mod]
    handles += [model.get_input_embeddings().register_forward_hook(embedded),
                blocks[0][1].register_forward_pre_hook(first_block, with_kwargs=True)]
    handles += [p.register_post_accumulate_grad_hook(grad_hook) for p in model.parameters() if p.requires_grad]
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if variant != "full_bf16" else contextlib.nullcontext()
    with live:
        with amp:
            out = model(**inputs)
        loss = out.loss
        del out  # the HF Trainer's loop: compute_loss returns the loss alone
        after = live.snapshot()
        state["backward"] = True
        live.mark("head")
        loss.backward()
    for h in handles:
        h.remove()
    grads = sum(_local(p.grad).untyped_storage().nbytes() for p in model.parameters() if p.grad is not None)
    return {"family": family, "attn_implementation": attn, "variant": variant, "batch": b, "seq": s,
            "layers": len(blocks), "after_forward": after, "step_peak": live.peak, "grad_bytes": grads,
            "phases": live.phases, "peak_adapter_casts": live.at_top[0], "peak_embedding_out": live.at_top[1],
            "embedding_is_block_input": live.embedding_ptr == live.block_input}


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    import peft
    cases = []
    for fam in FAMILIES:
        for attn in ("eager", "sdpa"):
            for variant in VARIANTS:
                for b, s in SHAPES:
                    c = step(fam, attn, variant, b, s)
                    cases.append(c)
                    ph = {p["phase"]: p for p in c["phases"]}
                    top = ph[f"block{c['layers'] - 1}"]
                    print(f"{fam:8s} {attn:5s} {variant:9s} b{b} s{s}: head {ph['head']['peak']:>9,d} B, last block "
                          f"{top['start']:>9,d} -> {top['peak']:>9,d} B")
    moe_cases = []
    for fam in MOE_FAMILIES:
        for experts in MOE_EXPERTS:
            for attn in ("eager", "sdpa"):
                for variant in ("lora_amp", "lora_bf16"):
                    for b, s in SHAPES:
                        c = dict(step(fam, attn, variant, b, s, experts), experts=experts)
                        moe_cases.append(c)
                        print(f"{fam:9s} {experts:10s} {attn:5s} {variant:9s} b{b} s{s}: step peak less gradients "
                              f"{max(p['peak'] for p in c['phases']):>9,d} B")
    nogc_cases = []
    for fam in NOGC_FAMILIES:
        for variant in ("lora_amp", "lora_bf16", "full_amp"):
            for b, s in SHAPES:
                c = step(fam, "eager", variant, b, s, gc=False)
                nogc_cases.append(c)
                print(f"{fam:8s} no gc {variant:9s} b{b} s{s}: step peak less gradients "
                      f"{max(p['peak'] for p in c['phases']):>9,d} B, adapter casts {c['peak_adapter_casts']:,d} B")
    OUT.write_text(json.dumps({"transformers_version": transformers.__version__, "peft_version": peft.__version__,
                               "torch_version": torch.__version__, "device": "cpu", "seed": SEED, "lora_rank": LORA_RANK,
                               "cases": cases, "moe_cases": moe_cases,
                               "nogc_cases": nogc_cases}, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
