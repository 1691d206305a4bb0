"""hfep52: which modules transformers 5.23.0 splits how under (tp, ep) -- ``_resolve_parallel_plans`` on tiny meta-device
models and ``DistributedConfig``'s mesh checks, no process group needed. Run in an env with the ``truth`` extra:
``python tests/make_hf_ep_plans.py > tests/data/hf_ep_plans.json`` (~10 s on CPU)."""
import json, torch, re
import transformers
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.distributed.configuration_utils import DistributedConfig
cfgs = {
 "qwen3_moe": dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_experts=8, num_experts_per_tok=2, vocab_size=128, head_dim=16),
 "qwen2_moe": dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, shared_expert_intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_experts=8, num_experts_per_tok=2, vocab_size=128),
 "mixtral": dict(hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, vocab_size=128),
 "gpt_oss": dict(hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, vocab_size=128, head_dim=16, layer_types=["sliding_attention","full_attention"]),
 "deepseek_v3": dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, n_group=1, topk_group=1, vocab_size=128, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8),
}
out = {"transformers": transformers.__version__}
for fam, kw in cfgs.items():
    cfg = AutoConfig.for_model(fam, **kw)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    res = {}
    for tp, ep, fsdp in ((2, 1, 1), (2, 2, 1), (1, 4, 4), (2, 4, 2)):
        dc = DistributedConfig(tp_size=tp, ep_size=ep, fsdp_size=fsdp)
        model.init_parallel_plans() if hasattr(model, "init_parallel_plans") else None
        try:
            tpp, epp, _ = model._resolve_parallel_plans(dc)
            gen = lambda p: sorted({re.sub(r"\.\d+\.", ".*.", k) + "=" + v for k, v in p.items()
                                   if not k.endswith((".weight", ".bias"))})  # the modules, not each parameter
            res[f"tp{tp}_ep{ep}"] = {"tp_plan": gen(tpp), "ep_plan": gen(epp)}
        except Exception as e:
            res[f"tp{tp}_ep{ep}"] = {"error": f"{type(e).__name__}: {e}"[:200]}
    for tp, ep in ((4, 2), (2, 3)):
        try:
            DistributedConfig(tp_size=tp, ep_size=ep, fsdp_size=4)
            res[f"cfg_tp{tp}_ep{ep}"] = "ok"
        except Exception as e:
            res[f"cfg_tp{tp}_ep{ep}"] = str(e)
    out[fam] = res
out["recorded"] = f"{__import__('datetime').date.today()}, transformers {transformers.__version__}, torch {torch.__version__}, tests/make_hf_ep_plans.py"
print(json.dumps(out, indent=1))
