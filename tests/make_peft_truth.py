"""LoRA / QLoRA truth from ``peft`` (and ``bitsandbytes``) on tiny Llama and Mixtral models.

Run by hand (needs ``transformers``, ``peft``, ``bitsandbytes``; the tests only read
tests/data/peft_truth.json)::

    python tests/make_peft_truth.py          # about a minute on 2 CPU cores (15+ on a shared machine)
    python tests/make_peft_truth.py stream   # only the ``stream`` section, into the JSON as it is
    python tests/make_peft_truth.py stream bf16_base_fsdp2   # only those ``stream`` cases
    python tests/make_peft_truth.py amp_families   # only the ``amp_families`` section (loramem50)
    python tests/make_peft_truth.py amp_families bf16_base_fsdp2   # only those cases (loraf51)
    python tests/make_peft_truth.py amp_families fp32_base_fsdp2   # (truth51)
    python tests/make_peft_truth.py amp_moe   # only the ``amp_moe`` section (lora52), ~1 min
    python tests/make_peft_truth.py grouped_moe   # only the ``grouped_moe`` section (hfmoe52), ~1 min

Variants per family (make_hf_common.FAMILIES "llama" and "mixtral", same seed and weights):

* ``full``: no LoRA, every parameter trainable (the baseline);
* ``lora_r{8,16}_{qkvo,all_linear}``: ``LoraConfig(r, lora_alpha=2*r, lora_dropout=0,
  target_modules=["q_proj","k_proj","v_proj","o_proj"] or "all-linear")``; base frozen. For
  Mixtral, peft's "all-linear" also wraps the router (``mlp.gate``) and the experts' 3-D
  parameters (``gate_up_proj``, ``down_proj`` through peft's parameter wrapper): see ``targets``;
* ``lora_r16_{qkvo,all_linear}_bf16_base``: the base cast to bf16 *before* ``get_peft_model``, so
  the adapters are fp32 (peft's ``autocast_adapter_dtype``) — peft's default on a bf16 checkpoint;
  activations and AdamW state "as_loaded" only;
* ``qlora_r16_all_linear``: the model saved locally and reloaded with
  ``BitsAndBytesConfig(load_in_4bit, nf4, double quant, compute bf16)``, then
  ``prepare_model_for_kbit_training(use_gradient_checkpointing=False)`` (casts the non-4-bit
  parameters to fp32) and LoRA r16 all-linear. bitsandbytes runs its 4-bit Linear on CPU (its
  optional CPU kernel package ``kernels`` is absent; it falls back to dequantize + matmul).

``other_families_all_linear``: LoRA r8 "all-linear" on tiny Qwen3-MoE, DeepSeek-V3, gpt-oss,
Llama 4, Phi-3 and GPT-2 (trainable/total params, targets, FLOPs): where peft's resolution of
"all-linear" differs (its transformers-5 MoE conversion, or none; fused linears: Phi-3's
``qkv_proj`` / ``gate_up_proj``, GPT-2's ``Conv1D`` ``c_attn``). For the fused families
(``FUSED_FAMILIES``) also the saved activations of the LoRA model and of the same model fully
trained (``full_activations``), fp32 and pure bf16, with and without checkpointing, at ACT_SHAPES.

Per variant: ``trainable_params`` / ``total_params`` (peft's ``get_nb_trainable_parameters``, which
counts a packed 4-bit weight at its unpacked size), ``targets`` (module paths given LoRA, layer
index dropped), ``weight_storage_bytes`` (every parameter storage plus, for 4-bit weights, their
quant-state tensors, each storage once), FLOPs of one fwd and fwd+bwd at FLOPS_SHAPE
(FlopCounterMode, as make_hf_flops.py; fp32 except QLoRA), saved activations as in
make_hf_activations.py for ACT_SHAPES x precisions x checkpointing (QLoRA: as loaded and under
``torch.autocast(bf16)``), and the optimizer state after
one ``torch.optim.AdamW`` step on the trainable parameters (``sum(t.nbytes)`` over every state
tensor: exp_avg, exp_avg_sq, step), for fp32 and pure-bf16 parameters.

``stream`` (lora48): the residual stream's dtype of LoRA r16 all-linear on the tiny Llama per frozen
base (``STREAM_CASES``: fp32, bf16, int8 -- ``BitsAndBytesConfig(load_in_8bit=True)``, bitsandbytes'
``Linear8bitLt`` runs on CPU -- and nf4, the bitsandbytes ones through
``prepare_model_for_kbit_training``) with the forward under ``torch.autocast(bf16)`` (HF Trainer
``bf16=True``: accelerate wraps ``model.forward`` in autocast), as the model is (DDP replicates it) and
under FSDP2 (``fully_shard`` of each decoder layer and the root, ``MixedPrecisionPolicy(param_dtype=bf16,
reduce_dtype=fp32)``, gloo, one CPU rank: the gather that hands the forward its parameters, accelerate's
FSDP plugin under ``mixed_precision=bf16``). Per case and checkpointing at (2, 128): the embedding's
output dtype and each decoder layer's input dtype (forward hooks), the saved bytes by dtype and the
blocks' saved bytes (``training_step``, saved_tensors_hooks deduplicated by storage).
loraamp49: under CUDA autocast's op lists (``make_hf_common.CudaAutocastPolicy``, "amp_bf16_cuda": the GPU's
truth; the tiny Llama's tensors are byte for byte those of CPU autocast), with the int8 base on bitsandbytes' GPU
autograd path (``_gpu_int8``: ``MatMul8bitLt``, whose ``ctx.tensors`` hold the layer's input outside
``save_for_backward``, packed into the count; peft's bitsandbytes layers see autocast on as on a GPU,
``_autocast_seen``), and per run ``weight_saves_bytes`` (saved weights told by identity, ``make_hf_common.WeightCopies``:
autocast's uncached bf16 casts of a frozen fp32 weight, FSDP2's gathered parameters; apart from the activations), ``blocks_activation_bytes`` (the blocks less those) and ``layer_saves`` (the last decoder
layer's saves: [module, dtype, shape, bytes], the weights marked).
"""
from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from make_hf_common import FAMILIES, batch, build, training_step

OUT = Path(__file__).parent / "data" / "peft_truth.json"
FLOPS_SHAPE = (2, 64)
ACT_SHAPES = [(1, 64), (2, 128)]
SEED = 0
QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]


def variants() -> dict[str, dict | None]:
    v: dict[str, dict | None] = {"full": None}
    for r in (8, 16):
        v[f"lora_r{r}_qkvo"] = {"r": r, "lora_alpha": 2 * r, "target_modules": QKVO}
        v[f"lora_r{r}_all_linear"] = {"r": r, "lora_alpha": 2 * r, "target_modules": "all-linear"}
    v["qlora_r16_all_linear"] = {"r": 16, "lora_alpha": 32, "target_modules": "all-linear", "qlora": True}
    # peft's default on a 16-bit checkpoint: the base in bf16, the adapters upcast to fp32
    # (LoraConfig.autocast_adapter_dtype=True), so each adapter casts its input to fp32
    for tm, tag in ((QKVO, "qkvo"), ("all-linear", "all_linear")):
        v[f"lora_r16_{tag}_bf16_base"] = {"r": 16, "lora_alpha": 32, "target_modules": tm, "base_dtype": "bf16"}
    return v


BNB = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
       "bnb_4bit_compute_dtype": "bfloat16"}


def make(family: str, spec: dict | None):
    """A fresh (seeded) model for one variant; returns (model, lora config dict or None)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = build(family, "eager", seed=SEED)
    if spec is None:
        return model
    if spec.get("base_dtype") == "bf16":
        model.to(torch.bfloat16)  # before get_peft_model: the adapters are created in fp32
    if spec.get("qlora") or spec.get("int8"):
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig
        quant = {"load_in_8bit": True} if spec.get("int8") else {**BNB, "bnb_4bit_compute_dtype": torch.bfloat16}
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            model = AutoModelForCausalLM.from_pretrained(
                d, quantization_config=BitsAndBytesConfig(**quant),
                device_map="cpu", dtype=torch.bfloat16, attn_implementation="eager",
                **({"experts_implementation": "eager"} if family == "mixtral" else {}))
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    cfg = LoraConfig(r=spec["r"], lora_alpha=spec["lora_alpha"], target_modules=spec["target_modules"],
                     lora_dropout=0.0, task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    return model


def counts(model) -> tuple[int, int]:
    if hasattr(model, "get_nb_trainable_parameters"):
        return tuple(int(x) for x in model.get_nb_trainable_parameters())
    n = sum(p.numel() for p in model.parameters())
    return n, n


def targets(model) -> list[str]:
    import re
    out = set()
    for name, _ in model.named_parameters():
        if ".lora_A." in name:
            out.add(re.sub(r"\.layers\.\d+\.", ".layers.N.", name.split(".lora_A.")[0]).replace("base_model.model.", ""))
    return sorted(out)


def weight_storage(model) -> dict:
    """Bytes of every parameter storage, plus the quant-state tensors of 4-bit weights; once each."""
    seen: dict[int, int] = {}
    by_kind: dict[str, int] = {}

    def add(t, kind):
        s = t.untyped_storage()
        if s.data_ptr() in seen or s.nbytes() == 0:
            return
        seen[s.data_ptr()] = s.nbytes()
        by_kind[kind] = by_kind.get(kind, 0) + s.nbytes()

    n4 = 0
    for name, p in model.named_parameters():
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            n4 += 1
            add(p, "weight_4bit_packed")
            for attr in ("absmax", "code", "offset"):
                t = getattr(qs, attr, None)
                if isinstance(t, torch.Tensor):
                    add(t, f"quant_state.{attr}")
            s2 = getattr(qs, "state2", None)
            if s2 is not None:
                for attr in ("absmax", "code"):
                    t = getattr(s2, attr, None)
                    if isinstance(t, torch.Tensor):
                        add(t, f"quant_state.state2.{attr}")
        elif p.requires_grad:
            add(p, f"trainable_{str(p.dtype).replace('torch.', '')}")
        else:
            add(p, f"frozen_{str(p.dtype).replace('torch.', '')}")
    return {"total": sum(seen.values()), "by_kind": dict(sorted(by_kind.items())), "params_4bit": n4}


def _gemm_4bit_flops(a_shape, *args, out_shape=None, **kwargs) -> int:
    """bitsandbytes::gemm_4bit(A, packed B, ...): 2 * (output elements) * (A's inner dim)."""
    n = 1
    for d in out_shape:
        n *= d
    return 2 * n * a_shape[-1]


def flops(model, family: str, gemm_4bit: bool = False) -> dict:
    """FlopCounterMode counts of one forward and one forward+backward.

    On CPU bitsandbytes runs a 4-bit Linear's forward as the custom op ``bitsandbytes::gemm_4bit``,
    which FlopCounterMode does not know (its backward dequantizes and calls aten.mm, which it
    counts). With ``gemm_4bit`` the op is given the formula of a dense matmul through
    ``custom_mapping``.
    """
    inputs = batch(family, *FLOPS_SHAPE, seed=SEED)
    mapping = {torch.ops.bitsandbytes.gemm_4bit: _gemm_4bit_flops} if gemm_4bit else {}
    with FlopCounterMode(display=False, custom_mapping=mapping) as f:
        model(**inputs)
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False, custom_mapping=mapping) as fb:
        out = model(**inputs)
        out.loss.backward()
    op = lambda c: {str(k): int(v) for k, v in sorted(c.get_flop_counts()["Global"].items(), key=lambda kv: str(kv[0]))}
    return {"batch": FLOPS_SHAPE[0], "seq": FLOPS_SHAPE[1], "fwd": int(f.get_total_flops()),
            "fwd_bwd": int(fb.get_total_flops()), "bwd": int(fb.get_total_flops() - f.get_total_flops()),
            "fwd_by_op": op(f), "fwd_bwd_by_op": op(fb)}


def optimizer_state(family: str, spec, dtype: str) -> dict:
    model = make(family, spec)
    if dtype == "bf16":
        model.to(torch.bfloat16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    out = model(**batch(family, *FLOPS_SHAPE, seed=SEED))
    out.loss.backward()
    opt.step()
    by_key: dict[str, int] = {}
    by_dtype: dict[str, int] = {}
    for st in opt.state.values():
        for k, t in st.items():
            if isinstance(t, torch.Tensor):
                by_key[k] = by_key.get(k, 0) + t.nbytes
                d = str(t.dtype).replace("torch.", "")
                by_dtype[d] = by_dtype.get(d, 0) + t.nbytes
    return {"param_dtype": dtype, "optimizer": "torch.optim.AdamW (defaults, foreach)",
            "trainable_tensors": len(params), "trainable_params": sum(p.numel() for p in params),
            "state_bytes": sum(by_key.values()), "by_state": dict(sorted(by_key.items())),
            "by_dtype": dict(sorted(by_dtype.items()))}


#: families whose "all-linear" peft resolves differently (MoE conversion or its absence, fused
#: linears): parameters, targets and FLOPs only, LoRA r8 on the fp32 eager model
OTHER_FAMILIES = ("qwen3_moe", "deepseek_v3", "gpt_oss", "llama4_text", "phi3", "gpt2")
#: families whose HF code fuses projections into one linear: their saved activations too
FUSED_FAMILIES = ("phi3", "gpt2")


def activations(family: str, lora: dict | None) -> list[dict]:
    """Saved activations of one training step (make_hf_common.training_step) of the plain model
    (``lora`` None) or with LoRA, per precision x checkpointing x ACT_SHAPES."""
    from peft import LoraConfig, get_peft_model

    out = []
    for prec in ("fp32", "bf16"):
        for gc in (False, True):
            for b, s in ACT_SHAPES:
                m = build(family, "eager", seed=SEED)
                if lora:
                    m = get_peft_model(m, LoraConfig(lora_dropout=0.0, task_type="CAUSAL_LM", **lora))
                    m.train()
                r = training_step(m, batch(family, b, s, seed=SEED), prec, gc)
                out.append({"precision": prec, "gradient_checkpointing": gc, "batch": b, "seq": s,
                            "tokens": b * s, **r})
    return out


def other_families() -> dict:
    from peft import LoraConfig, get_peft_model

    out = {}
    for fam in OTHER_FAMILIES:
        model = get_peft_model(build(fam, "eager", seed=SEED), LoraConfig(
            r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0, task_type="CAUSAL_LM"))
        model.train()
        trainable, total = counts(model)
        out[fam] = {"config": FAMILIES[fam], "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
                    "trainable_params": trainable, "total_params": total, "targets": targets(model)}
        try:
            out[fam]["flops"] = flops(model, fam)
        except Exception as e:  # noqa: BLE001 - record why the adapted model cannot run
            out[fam]["forward_error"] = f"{type(e).__name__}: {e}"
        if fam in FUSED_FAMILIES:
            out[fam]["activations"] = activations(fam, out[fam]["lora"])
            out[fam]["full_activations"] = activations(fam, None)
        print(f"{fam:12s} all-linear r8 trainable {trainable:>7,d}/{total:>7,d}  targets {len(out[fam]['targets'])}")
    return out


#: (frozen base, FSDP2) per ``stream`` case: LoRA r16 all-linear on the tiny Llama under torch.autocast(bf16)
STREAM_CASES = {"fp32_base": ("fp32", False), "bf16_base": ("bf16", False), "int8_base": ("int8", False),
                "nf4_base": ("nf4", False), "fp32_base_fsdp2": ("fp32", True), "int8_base_fsdp2": ("int8", True),
                "nf4_base_fsdp2": ("nf4", True), "bf16_base_fsdp2": ("bf16", True)}
STREAM_SHAPE = (2, 128)


def _fully_shard(model) -> None:
    """FSDP2 over ``model`` on one gloo CPU rank, bf16 gathers (accelerate's FSDP2 under mixed_precision=bf16)."""
    import os

    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        dist.init_process_group("gloo", rank=0, world_size=1)
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in _blocks(model):
        fully_shard(layer, mp_policy=mp)
    fully_shard(model, mp_policy=mp)


def _blocks(model) -> list:
    """The decoder / encoder blocks (transformers' ``GradientCheckpointingLayer``s), in order."""
    from make_hf_common import _is_gc_layer

    return [mod for mod in model.modules() if _is_gc_layer(mod)]


class _gpu_int8:
    """bitsandbytes' int8 LoRA autograd as a GPU runs it, on CPU: ``bnb.matmul`` picks ``MatMul8bitFp`` (dequantise +
    ``F.linear``, so autocast makes its output bf16) for a CPU tensor in training and ``MatMul8bitLt`` on CUDA
    (bitsandbytes 0.50.2 autograd/_functions.py ``matmul``); here always ``MatMul8bitLt``, whose int8 kernels run on
    CPU too: its output is the input's dtype (``int8_scaled_mm(..., dtype=A.dtype)``, a custom op on no autocast
    list) and ``ctx.tensors = (CAt, subA, A)`` keeps the input for backward outside ``save_for_backward``, which
    saved_tensors_hooks never see: each is handed to the active pack hook (``SavedTensors``, deduplicated by
    storage) so the count holds what backward holds."""

    def __enter__(self):
        import bitsandbytes as bnb
        from bitsandbytes.autograd import _functions as f8

        self.saved = (bnb.matmul, f8.matmul, f8.MatMul8bitLt.forward)
        lt = f8.MatMul8bitLt.forward

        def forward(ctx, A, B, out=None, bias=None, state=None):
            res = lt(ctx, A, B, out, bias, state)
            hooks = torch._C._autograd._top_saved_tensors_default_hooks(False)
            for t in ctx.tensors if hooks else ():
                if isinstance(t, torch.Tensor) and t.numel():
                    hooks[0](t)
            return res

        def matmul(A, B, out=None, state=None, threshold=0.0, bias=None):
            state = state or f8.MatmulLtState()
            if threshold > 0.0:
                state.threshold = threshold
            return f8.MatMul8bitLt.apply(A, B, out, bias, state)

        f8.MatMul8bitLt.forward = staticmethod(forward)
        bnb.matmul = f8.matmul = matmul
        return self

    def __exit__(self, *exc):
        import bitsandbytes as bnb
        from bitsandbytes.autograd import _functions as f8

        bnb.matmul, f8.matmul, lt = self.saved
        f8.MatMul8bitLt.forward = staticmethod(lt)


class _autocast_seen:
    """``torch.is_autocast_enabled()`` (no device: CUDA's state) true while CPU autocast is on, as it is on a GPU
    under CUDA autocast: peft's bitsandbytes LoRA layers (tuners/lora/bnb.py ``Linear8bitLt`` / ``Linear4bit``
    ``forward``: ``requires_conversion = not torch.is_autocast_enabled()``) then skip the cast of their input to
    the adapter's dtype; on CPU they would make an fp32 copy that a GPU run never makes."""

    def __enter__(self):
        self.saved = torch.is_autocast_enabled
        orig = self.saved
        torch.is_autocast_enabled = lambda *dev: orig(*dev) if dev else orig("cpu") or orig()
        return self

    def __exit__(self, *exc):
        torch.is_autocast_enabled = self.saved


def _blocks_saves(model, r: dict) -> dict:
    """A ``training_step`` (``keep_tensors``) record's saves split by the blocks: all they keep, the weights apart
    (``weight_saves_bytes``: ``SavedTensors`` kind "param", told by identity -- FSDP2's gathered parameters, the
    parameters' per-call casts, ``WeightCopies``), the rest (``blocks_activation_bytes``) and the last block's
    breakdown. Until truth51 the unsharded runs told a weight by its shape (its module's weight or the transpose),
    which read a ``lora_B`` input (tokens x r) whose base has as many output features as the run has tokens as its
    weight (GPT-2's ``mlp.c_fc``, 4 x 64 = 256 = 2 x 128 tokens: 8,192 B a layer; loraf51 fixed it under FSDP2)."""
    names = {mod: n for n, mod in model.named_modules()}
    paths = [names[b] + "." for b in _blocks(model)]
    last = paths[-1]
    blocks = [(mod, dt, shape, nb, kind == "param")
              for mod, shape, dt, nb, kind in r["tensors"] if any((mod + ".").startswith(p) for p in paths)]
    return {"saved_bytes": r["saved_bytes"], "by_dtype": r["by_dtype"],
            "blocks_saved_bytes": sum(b[3] for b in blocks),
            "weight_saves_bytes": sum(b[3] for b in blocks if b[4]),
            "blocks_activation_bytes": sum(b[3] for b in blocks if not b[4]),
            "layer_saves": sorted([(mod + ".").split(last)[1].rstrip("."), dt, shape, nb] + (["weight"] if w else [])
                                  for mod, dt, shape, nb, w in blocks if (mod + ".").startswith(last))}


def stream_cases(only=None) -> dict:
    """The ``stream`` section (module docstring); ``only``: those case names."""
    import contextlib

    out = {}
    for name, (base, fsdp) in STREAM_CASES.items():
        if only and name not in only:
            continue
        spec = {"r": 16, "lora_alpha": 32, "target_modules": "all-linear",
                **({"base_dtype": "bf16"} if base == "bf16" else {"qlora": True} if base == "nf4"
                   else {"int8": True} if base == "int8" else {})}
        rec = {"base": base, "fsdp2": fsdp, "precision": "amp_bf16_cuda", "runs": []}
        for gc in (False, True):
            model = make("llama", spec)
            if fsdp:
                _fully_shard(model)
            try:
                model(**batch("llama", 1, 8, seed=SEED))
            except Exception as e:  # noqa: BLE001 - record why the wrapped model cannot run (int8 under FSDP2)
                rec["error"] = f"{type(e).__name__}: {e}"
                break
            seen: dict[str, str] = {}
            inner = model.get_base_model().model
            hooks = [inner.embed_tokens.register_forward_hook(
                lambda mod, a, o: seen.setdefault("embed_out", str(o.dtype).replace("torch.", "")) and None)]
            for i, layer in enumerate(inner.layers):
                hooks.append(layer.register_forward_pre_hook(
                    lambda mod, a, k, i=i: seen.setdefault(
                        f"layer{i}_in", str((a[0] if a else k["hidden_states"]).dtype).replace("torch.", "")) and None,
                    with_kwargs=True))
            # through the module's __call__: FSDP2's root pre-forward hook gathers the parameters
            with _gpu_int8() if base == "int8" else contextlib.nullcontext(), _autocast_seen():
                r = training_step(model, batch("llama", *STREAM_SHAPE, seed=SEED), "amp_bf16_cuda", gc,
                                  keep_tensors=True, wrap=lambda _forward, model=model: model)
            for h in hooks:
                h.remove()
            rec["runs"].append({"gradient_checkpointing": gc, "batch": STREAM_SHAPE[0], "seq": STREAM_SHAPE[1],
                                "embed_out": seen["embed_out"],
                                "layer_inputs": [seen[f"layer{i}_in"] for i in range(len(inner.layers))],
                                **_blocks_saves(model, r)})
        out[name] = rec
        print(f"stream {name:16s} {rec.get('error', '')}" + "  ".join(
            f"{'gc' if x['gradient_checkpointing'] else 'nogc'}: embed {x['embed_out']} blocks {x['blocks_saved_bytes']:,d} B"
            f" (weights {x['weight_saves_bytes']:,d})"
            for x in rec["runs"]))
    return out


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(2)
    import bitsandbytes
    import peft
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "peft_version": peft.__version__, "bitsandbytes_version": bitsandbytes.__version__,
           "device": "cpu", "seed": SEED, "bnb_config": BNB, "lora_dropout": 0.0, "families": {}}
    for fam in ("llama", "mixtral"):
        fam_entry = {"config": FAMILIES[fam], "variants": {}}
        for name, spec in variants().items():
            t0 = time.time()
            try:
                model = make(fam, spec)
            except Exception as e:  # noqa: BLE001 - record why a variant cannot be built
                fam_entry["variants"][name] = {"error": f"{type(e).__name__}: {e}"}
                continue
            trainable, total = counts(model)
            rec = {"lora": {k: v for k, v in (spec or {}).items()} or None,
                   "trainable_params": trainable, "total_params": total,
                   "targets": targets(model), "weight_storage_bytes": weight_storage(model),
                   "flops": flops(model, fam)}
            if spec and spec.get("qlora"):
                rec["flops"]["note"] = ("the 4-bit base layers' forward runs as bitsandbytes::gemm_4bit, "
                                        "not counted by FlopCounterMode; see flops_with_gemm_4bit")
                rec["flops_with_gemm_4bit"] = flops(model, fam, gemm_4bit=True)
                rec["quantized_modules"] = sorted({
                    n.replace("base_model.model.", "").split(".weight")[0]
                    for n, p in model.named_parameters() if getattr(p, "quant_state", None) is not None})
                rec["note"] = ("bitsandbytes quantizes nn.Linear only: Mixtral's experts (3-D nn.Parameters) "
                               "and router stay bf16" if fam == "mixtral" else
                               "prepare_model_for_kbit_training cast the non-4-bit parameters to fp32")
            acts = []
            # QLoRA as loaded (fp32 residual stream, no autocast) and under torch.autocast(bf16),
            # as HF Trainer's bf16=True runs it; a bf16 base with fp32 adapters as built
            precisions = (["as_loaded", "amp_bf16"] if spec and spec.get("qlora") else
                          ["as_loaded"] if spec and spec.get("base_dtype") else ["fp32", "bf16"])
            for prec in precisions:
                for gc in (False, True):
                    for b, s in ACT_SHAPES:
                        m = make(fam, spec)
                        r = training_step(m, batch(fam, b, s, seed=SEED), prec, gc)
                        acts.append({"precision": prec, "gradient_checkpointing": gc, "batch": b, "seq": s,
                                     "tokens": b * s, **r})
            rec["activations"] = acts
            if not (spec and (spec.get("qlora") or spec.get("base_dtype"))):
                rec["optimizer"] = [optimizer_state(fam, spec, "fp32"), optimizer_state(fam, spec, "bf16")]
            else:
                rec["optimizer"] = [optimizer_state(fam, spec, "as_loaded")]
            fam_entry["variants"][name] = rec
            a = next(x for x in acts if not x["gradient_checkpointing"])
            print(f"{fam:8s} {name:22s} trainable {trainable:>7,d}/{total:>7,d}  fwd+bwd {rec['flops']['fwd_bwd']:>11,d}"
                  f"  saved({a['precision']} b{a['batch']} s{a['seq']}) {a['saved_bytes']:>9,d} B"
                  f"  adam {rec['optimizer'][0]['state_bytes']:>9,d} B  ({time.time() - t0:.1f}s)")
        out["families"][fam] = fam_entry
    out["other_families_all_linear"] = other_families()
    out["stream"] = stream_cases()
    out["amp_families"] = amp_cases()
    out["amp_moe"] = amp_moe()
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


#: loramem50: LoRA r16 all-linear as the HF Trainer runs it (``amp_bf16_cuda``: CUDA autocast's op lists) over an
#: fp32 base and over a bf16 base (cast before ``get_peft_model``: fp32 adapters), and pure bf16 (the model with its
#: adapters cast, ``model.to(bfloat16)``), on the LayerNorm families (GPT-2: peft on ``Conv1D``; BERT: ``nn.Linear``)
#: and Mixtral (attention, router and the experts' 3-D parameters through peft's ``ParamWrapper``).
#: loraf51: over a bf16 base under FSDP2 (``_fully_shard``: bf16 gathers, the ``stream`` case ``bf16_base_fsdp2`` of
#: the tiny Llama) on the LayerNorm families, through the module's ``__call__`` (FSDP2's root pre-forward hook gathers);
#: truth51: BERT over an fp32 base under FSDP2 (``training.framework.fsdp_version: 2``: the blocks' inputs cast too)
AMP_FAMILIES = ("gpt2", "bert", "mixtral")
#: case -> (precision, base dtype, FSDP2 families: those the case runs on under ``_fully_shard``, () for all unsharded)
AMP_CASES = {"fp32_base": ("amp_bf16_cuda", None, ()), "bf16_base": ("amp_bf16_cuda", "bf16", ()),
             "pure_bf16": ("bf16", None, ()), "bf16_base_fsdp2": ("amp_bf16_cuda", "bf16", ("gpt2", "bert")),
             "fp32_base_fsdp2": ("amp_bf16_cuda", None, ("bert",))}


class _policy_through_backward:
    """``CudaAutocastPolicy`` left active through ``training_step``'s backward: checkpoint's recompute re-enters the
    autocast state it recorded, and without CUDA's lists there it would recompute GPT-2's tanh-GELU ``pow`` (fp32
    on CUDA's list) in bf16 where the forward saved fp32, which checkpoint refuses (and BERT's LayerNorm outputs,
    fp32 on CUDA's list, would be bf16). Outside autocast the policy's kernels only redispatch."""

    def __enter__(self):
        from make_hf_common import CudaAutocastPolicy

        self.saved = CudaAutocastPolicy.__exit__
        CudaAutocastPolicy.__exit__ = lambda self, *exc: None
        return self

    def __exit__(self, *exc):
        from make_hf_common import CudaAutocastPolicy

        CudaAutocastPolicy.__exit__ = self.saved
        CudaAutocastPolicy.active = False


def amp_cases(only=None, into: dict | None = None) -> dict:
    """The ``amp_families`` section (loramem50): per family and case, with and without gradient checkpointing at
    STREAM_SHAPE, the blocks' saves (``_blocks_saves``), the saved dropout masks (``dropout_masks``: their CPU bytes
    and elements, a GPU's mask 1 B an element), the loss and the logits' bytes. ``only``: those case names, added to
    the section ``into`` (the committed one) with every other key left as it is."""
    from peft import LoraConfig, get_peft_model

    out = into or {}
    for fam in AMP_FAMILIES:
        rec = out.setdefault(fam, {"config": FAMILIES[fam], "lora": {"r": 16, "lora_alpha": 32,
                                                                   "target_modules": "all-linear"}, "cases": {}})
        for case, (prec, base, fsdp) in AMP_CASES.items():
            if (only and case not in only) or (fsdp and fam not in fsdp):
                continue
            runs = []
            for gc in (False, True):
                m = build(fam, "eager", seed=SEED)
                if base == "bf16":
                    m.to(torch.bfloat16)  # before get_peft_model: the adapters are created in fp32
                m = get_peft_model(m, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0,
                                                 task_type=None if fam == "bert" else "CAUSAL_LM"))
                m.train()
                if fsdp:  # as ``stream_cases``: shard, one forward (FSDP2's lazy init), then the call itself
                    _fully_shard(m)
                    m(**batch(fam, 1, 8, seed=SEED))
                with _policy_through_backward():
                    r = training_step(m, batch(fam, *STREAM_SHAPE, seed=SEED), prec, gc, keep_tensors=True,
                                      gpu_masks=True, wrap=(lambda _forward, m=m: m) if fsdp else None)
                runs.append({"gradient_checkpointing": gc, "batch": STREAM_SHAPE[0], "seq": STREAM_SHAPE[1],
                             **_blocks_saves(m, r), "dropout_masks": r["dropout_masks"],
                             "loss": r["loss"], "logits_bytes": r["logits_bytes"], "by_module": r["by_module"]})
            rec["cases"][case] = {"precision": prec, "base": base or ("bf16" if prec == "bf16" else "fp32"),
                                  **({"fsdp2": True} if fsdp else {}), "runs": runs}
            print(f"amp {fam:8s} {case:10s} " + "  ".join(
                f"{'gc' if x['gradient_checkpointing'] else 'nogc'}: blocks {x['blocks_saved_bytes']:,d} B"
                f" (weights {x['weight_saves_bytes']:,d})" for x in runs))
    return out


#: lora52: LoRA r16 on q/k/v/o over an fp32 MoE base under CUDA autocast's op lists (the HF Trainer's ``bf16=True``):
#: the weights LoRA leaves alone -- the routed experts (the eager loop's ``gate_up_proj[e]`` slices; Llama 4's
#: ``torch.bmm`` over the whole 3-D parameters), the router, the shared expert, a dense layer's MLP -- are cast to bf16
#: per call (autocast caches a cast only of a leaf that requires grad) and each cast is kept for its input's
#: gradient. Family -> ``build`` overrides: Llama 4 at ``interleave_moe_layer_step`` 2, its layer 0 dense and layer 1
#: MoE (``Llama4TextDecoderLayer.is_moe_layer``). Llama 4 runs q/k/v/o only: peft's "all-linear" wraps its router, an
#: ``nn.Linear`` whose forward returns a tuple (``other_families_all_linear``: the forward fails).
AMP_MOE_FAMILIES = {"mixtral": None, "qwen3_moe": None, "llama4_text": {"interleave_moe_layer_step": 2}}
#: a block's weights by part (planner.model.finetune ``BlockWeights``), by the dot-ended module path below a block:
#: the first pattern found in it names the part; none: a dense layer's MLP
AMP_MOE_PARTS = (("self_attn.", "attention"), ("shared_expert", "moe_block"), ("mlp.gate.", "moe_block"),
                 ("router.", "moe_block"), ("experts.", "experts"))


def _weight_part(path: str) -> str:
    """``AMP_MOE_PARTS``' part of the module at ``path``."""
    return next((part for pattern, part in AMP_MOE_PARTS if pattern in path), "dense_mlp")


def amp_moe() -> dict:
    """The ``amp_moe`` section (lora52): per family, with and without gradient checkpointing at STREAM_SHAPE, the
    blocks' saves (``_blocks_saves``) and their weight copies by part (``weight_saves_by_part``, summed over the
    blocks); ``full_blocks_saved_bytes``: the blocks' saves of the same model fully trained under the same autocast
    (no checkpointing), the baseline of the planner's LoRA delta (finetune ``frozen_delta_parts``)."""
    from peft import LoraConfig, get_peft_model

    out = {}
    for fam, overrides in AMP_MOE_FAMILIES.items():
        runs = []
        for gc in (False, True):
            m = build(fam, "eager", experts="eager", seed=SEED, overrides=overrides)
            m = get_peft_model(m, LoraConfig(r=16, lora_alpha=32, target_modules=QKVO, lora_dropout=0.0,
                                             task_type="CAUSAL_LM"))
            m.train()
            with _policy_through_backward():
                r = training_step(m, batch(fam, *STREAM_SHAPE, seed=SEED), "amp_bf16_cuda", gc, keep_tensors=True,
                                  gpu_masks=True)
            names = {mod: n for n, mod in m.named_modules()}
            paths = [names[b] + "." for b in _blocks(m)]
            by_part: dict[str, int] = {}
            for mod, _, _, nb, kind in r["tensors"]:
                block = next((p for p in paths if (mod + ".").startswith(p)), None)
                if block is not None and kind == "param":
                    part = _weight_part((mod + ".")[len(block):])
                    by_part[part] = by_part.get(part, 0) + nb
            runs.append({"gradient_checkpointing": gc, "batch": STREAM_SHAPE[0], "seq": STREAM_SHAPE[1],
                         **_blocks_saves(m, r), "weight_saves_by_part": by_part, "dropout_masks": r["dropout_masks"]})
        full = build(fam, "eager", experts="eager", seed=SEED, overrides=overrides)
        with _policy_through_backward():
            r = training_step(full, batch(fam, *STREAM_SHAPE, seed=SEED), "amp_bf16_cuda", False, keep_tensors=True,
                              gpu_masks=True)
        out[fam] = {"full_blocks_saved_bytes": _blocks_saves(full, r)["blocks_saved_bytes"],
                    "config": {**FAMILIES[fam], **(overrides or {})}, "experts_implementation": "eager",
                    "lora": {"r": 16, "lora_alpha": 32, "target_modules": QKVO}, "base": "fp32",
                    "precision": "amp_bf16_cuda", "runs": runs}
        print(f"amp_moe {fam:12s} " + "  ".join(
            f"{'gc' if x['gradient_checkpointing'] else 'nogc'}: blocks {x['blocks_saved_bytes']:,d} B"
            f" weights {x['weight_saves_by_part']}" for x in runs))
    return out


#: hfmoe52: LoRA r16 on q/k/v/o over the tiny Mixtral and Qwen3-MoE under transformers' default experts kernel,
#: grouped_mm (integrations/moe.py: the input cast to the weights' dtype, on no autocast list), beside the eager loop:
#: over fp32 under CUDA autocast (the HF Trainer's bf16=True) and over a bf16 base (pure bf16), no checkpointing
GROUPED_MOE_FAMILIES = ("mixtral", "qwen3_moe")


def grouped_moe() -> dict:
    """The ``grouped_moe`` section (hfmoe52): per family, experts kernel and precision, the LoRA model's blocks' saves
    and weight copies (``_blocks_saves``) and the same model fully trained (``full_blocks_saved_bytes``)."""
    from peft import LoraConfig, get_peft_model

    out = {}
    for fam in GROUPED_MOE_FAMILIES:
        runs = []
        for experts in ("eager", "grouped_mm"):
            for prec in ("amp_bf16_cuda", "bf16"):
                models = []
                for lora in (True, False):
                    m = build(fam, "eager", experts=experts, seed=SEED)
                    if prec == "bf16":
                        m.to(torch.bfloat16)  # the base cast before get_peft_model: bf16 adapters' inputs
                    if lora:
                        m = get_peft_model(m, LoraConfig(r=16, lora_alpha=32, target_modules=QKVO, lora_dropout=0.0,
                                                         task_type="CAUSAL_LM"))
                    m.train()
                    with _policy_through_backward():
                        r = training_step(m, batch(fam, *STREAM_SHAPE, seed=SEED), prec, False, keep_tensors=True,
                                          gpu_masks=True)
                    models.append(_blocks_saves(m, r))
                runs.append({"experts_implementation": experts, "precision": prec,
                             "base": "fp32" if prec.startswith("amp") else "bf16", "batch": STREAM_SHAPE[0],
                             "seq": STREAM_SHAPE[1], "blocks_saved_bytes": models[0]["blocks_saved_bytes"],
                             "weight_saves_bytes": models[0]["weight_saves_bytes"],
                             "full_blocks_saved_bytes": models[1]["blocks_saved_bytes"]})
                print(f"grouped_moe {fam:10s} {experts:10s} {prec:14s} LoRA blocks {runs[-1]['blocks_saved_bytes']:,d}"
                      f" B, full {runs[-1]['full_blocks_saved_bytes']:,d}")
        out[fam] = {"config": FAMILIES[fam], "lora": {"r": 16, "lora_alpha": 32, "target_modules": QKVO},
                    "runs": runs}
    return out


def main_section(section: str, only=None) -> None:
    """Rewrite only ``section`` of the committed JSON ("stream", "amp_families": the cases ``only`` or all)."""
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(2)
    out = json.loads(OUT.read_text())
    if section == "stream":
        out["stream"] = {**out["stream"], **stream_cases(only)} if only else stream_cases()
    elif section == "amp_moe":
        out["amp_moe"] = amp_moe()
    elif section == "grouped_moe":
        out["grouped_moe"] = grouped_moe()
    else:
        out["amp_families"] = amp_cases(only, out["amp_families"]) if only else amp_cases()
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT, f"({section})")


if __name__ == "__main__":
    import sys

    main_section(sys.argv[1], sys.argv[2:]) if sys.argv[1:] else main()
