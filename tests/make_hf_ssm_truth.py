"""Truth for hybrid Mamba-Transformer models, from the Hugging Face modelling code (NemotronH).

Run by hand (needs ``torch`` and ``transformers`` >= 5.x with ``models/nemotron_h``; the tests only
read tests/data/hf_ssm_truth.json)::

    python -m venv /tmp/venv-mamba && /tmp/venv-mamba/bin/pip install torch==2.13.0 transformers
    /tmp/venv-mamba/bin/python tests/make_hf_ssm_truth.py

* ``params``: every config in data/hf_configs_ssm/ (published config.json files), and ``MAMBA2``
  through transformers' separate Mamba2 class, built on the meta device, ``sum(p.numel() for p in model.parameters())`` (buffers such as the router's
  ``e_score_correction_bias`` are not parameters), with the per-kind split of one layer.
* ``flops``: tiny random-weight NemotronH models (``TINY``: every layer kind, a chunk size that
  splits the sequence into several chunks, one sequence length that is not a multiple of the chunk)
  run forward, then forward + backward, on CPU in fp32 under ``FlopCounterMode``. With no
  ``mamba_ssm`` / ``causal_conv1d`` installed the mixer takes its PyTorch path
  (``NemotronHMamba2Mixer.torch_forward``): F.conv1d with ``d_conv - 1`` padding on both sides
  (the output sliced to the sequence) and the chunked SSD as einsums over B and C repeated to every
  head, the inter-chunk recurrence as an einsum over (chunks + 1)^2 chunk pairs, the sequence padded
  to a multiple of the chunk. Experts run ``experts_implementation="eager"`` (a per-expert loop of
  F.linear: FlopCounterMode counts it; the grouped default is not counted).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModelForCausalLM

HERE = Path(__file__).parent / "data"
OUT = HERE / "hf_ssm_truth.json"
SEED = 0
#: tiny models keeping each family's structure (NemotronH config keys)
TINY = {
    "nemotron_h_hybrid": dict(
        model_type="nemotron_h", vocab_size=512, hidden_size=96, hybrid_override_pattern="M*-EM", num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, intermediate_size=160, mlp_hidden_act="relu2", mamba_num_heads=6,
        mamba_head_dim=16, n_groups=2, ssm_state_size=24, conv_kernel=4, expand=2, chunk_size=16,
        n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=48, moe_shared_expert_intermediate_size=80,
        n_shared_experts=1, tie_word_embeddings=False, use_mamba_kernels=False),
    "nemotron_h_mamba_only": dict(
        model_type="nemotron_h", vocab_size=384, hidden_size=64, hybrid_override_pattern="MM", num_attention_heads=4,
        num_key_value_heads=4, head_dim=16, intermediate_size=128, mlp_hidden_act="relu2", mamba_num_heads=8,
        mamba_head_dim=16, n_groups=4, ssm_state_size=32, conv_kernel=4, expand=2, chunk_size=32,
        n_routed_experts=4, num_experts_per_tok=1, moe_intermediate_size=32, moe_shared_expert_intermediate_size=32,
        n_shared_experts=1, tie_word_embeddings=False, use_mamba_kernels=False),
    # LatentMoE (Nemotron 3 Super's ``moe_latent_size``): the experts at a latent width, the router and
    # the shared expert at the full one
    "nemotron_h_latent_moe": dict(
        model_type="nemotron_h", vocab_size=512, hidden_size=96, hybrid_override_pattern="ME*E", num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, intermediate_size=160, mlp_hidden_act="relu2", mamba_num_heads=6,
        mamba_head_dim=16, n_groups=2, ssm_state_size=24, conv_kernel=4, expand=2, chunk_size=16,
        n_routed_experts=8, num_experts_per_tok=3, moe_intermediate_size=48, moe_latent_size=40,
        moe_shared_expert_intermediate_size=80, n_shared_experts=1, tie_word_embeddings=False,
        use_mamba_kernels=False),
}
#: published shapes with no config.json in the code index, built on the meta device from the HF config
#: keys: Nemotron 3 Super 120B-A12B as Megatron-Bridge's Nemotron3SuperProvider (models/nemotronh/
#: nemotron_h_provider.py) and third-party copies of its config.json give it (no MTP: transformers builds none)
PUBLISHED = {"nemotron-3-super-120b-a12b": dict(
    model_type="nemotron_h", vocab_size=131072, hidden_size=4096,
    hybrid_override_pattern="MEMEMEM*EMEMEMEM*EMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEM*EMEMEMEME",
    num_attention_heads=32, num_key_value_heads=2, head_dim=128, intermediate_size=2688, mlp_hidden_act="relu2",
    mamba_num_heads=128, mamba_head_dim=64, n_groups=8, ssm_state_size=128, conv_kernel=4, expand=2, chunk_size=128,
    n_routed_experts=512, num_experts_per_tok=22, moe_intermediate_size=2688, moe_latent_size=1024,
    moe_shared_expert_intermediate_size=5376, n_shared_experts=1, tie_word_embeddings=False)}
#: a pure Mamba-2 model through transformers' own Mamba2 class (``modeling_mamba2.py``, a separate
#: implementation of the mixer): the state-spaces/mamba2-2.7b shape (64 layers, d_model 2560, 80 heads of
#: 64, 1 group, state 128, vocab 50277 padded to 50288, tied embeddings; published "2.7B")
MAMBA2 = {"mamba2-2.7b": dict(model_type="mamba2", hidden_size=2560, num_hidden_layers=64, num_heads=80, head_dim=64,
                              n_groups=1, state_size=128, expand=2, conv_kernel=4, vocab_size=50288,
                              tie_word_embeddings=True, use_bias=False, use_conv_bias=True)}
SHAPES = [(2, 64), (1, 72)]  # (batch, seq); 72 is not a multiple of either chunk size


def build(cfg: dict):
    torch.manual_seed(SEED)
    c = AutoConfig.for_model(**cfg)
    return AutoModelForCausalLM.from_config(c, attn_implementation="eager", experts_implementation="eager")


def count(fn) -> tuple[int, dict]:
    with FlopCounterMode(display=False) as fc:
        fn()
    by_op = {str(k): int(v) for k, v in sorted(fc.get_flop_counts().get("Global", {}).items(), key=lambda kv: str(kv[0]))}
    return int(fc.get_total_flops()), by_op


def main() -> None:
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__, "device": "cpu",
           "dtype": "float32", "seed": SEED, "counter": "torch.utils.flop_counter.FlopCounterMode (matmul-like aten "
           "ops incl. convolution and einsum's bmm, 2 FLOPs/MAC)", "params": {}, "flops": {}}
    for path in sorted((HERE / "hf_configs_ssm").glob("*.json")):
        raw = {k: v for k, v in json.loads(path.read_text()).items() if k not in ("auto_map", "quantization_config")}
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**raw))
        kinds = {}
        for blk, kind in zip(model.model.layers, model.config.layers_block_type):
            kinds.setdefault(kind, sum(p.numel() for p in blk.parameters()))
        out["params"][path.stem] = {"params": sum(p.numel() for p in model.parameters()), "per_layer_kind": kinds}
        print(path.stem, out["params"][path.stem])
    for name, cfg in PUBLISHED.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg))
        out["params"][name] = {"config": cfg, "params": sum(p.numel() for p in model.parameters())}
        print(name, out["params"][name]["params"])
    for name, cfg in MAMBA2.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg))
        out["params"][name] = {"config": cfg, "params": sum(p.numel() for p in model.parameters())}
        print(name, out["params"][name]["params"])
    for name, cfg in TINY.items():
        model = build(cfg)
        cases = []
        for b, s in SHAPES:
            ids = torch.randint(0, cfg["vocab_size"], (b, s), generator=torch.Generator().manual_seed(SEED))
            fwd, fwd_op = count(lambda: model(input_ids=ids, labels=ids, use_cache=False))
            model.zero_grad(set_to_none=True)
            fb, fb_op = count(lambda: model(input_ids=ids, labels=ids, use_cache=False).loss.backward())
            cases.append(dict(batch=b, seq=s, fwd=fwd, fwd_bwd=fb, fwd_by_op=fwd_op, fwd_bwd_by_op=fb_op))
            print(name, b, s, fwd, fb)
        out["flops"][name] = {"config": cfg, "params": sum(p.numel() for p in model.parameters()), "cases": cases}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
