"""The tiny real models the FLOPs and saved-activation tests build with torch (GPT-2-style,
Llama-style with GQA, MoE, BERT-style): one definition for both test files."""
from planner.spec import ModelSpec

GPT = ModelSpec(family="decoder", layers=2, hidden=128, heads=4, vocab=1000, mlp="gelu",
                norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                position="learned", max_positions=512)
LLAMA = ModelSpec(family="decoder", layers=2, hidden=128, heads=4, kv_heads=2, vocab=1000,
                  ffn_hidden=352)
MOE = ModelSpec(family="moe", layers=2, hidden=128, heads=4, kv_heads=2, vocab=1000, ffn_hidden=256,
                moe=dict(experts=4, top_k=2))
BERT = ModelSpec(family="encoder", layers=2, hidden=128, heads=4, vocab=1000, ffn_hidden=512,
                 mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                 linear_bias=True, position="learned", max_positions=512, type_vocab=2,
                 mlm_head=True)
MODELS = {"gpt": GPT, "llama": LLAMA, "moe": MOE, "bert": BERT}
