"""Record the Hugging Face modelling code's parameter count for every config in data/hf_configs/.

Run by hand when a config is added (needs ``transformers``; the tests only read the JSON)::

    python tests/make_hf_params.py

Each model is built on the meta device (no memory, no download) and counted with
``sum(p.numel() for p in model.parameters())`` — ``parameters()`` yields a tied weight once,
which is the convention of ``planner.spec.params.count_params``.

Besides the total, every model gets

* ``components``: the same parameters grouped by what they are (from their names):
  ``embedding`` (token/position/type embeddings), ``lm_head`` (untied output head, BERT's MLM
  head transform and bias), ``attention`` (q/k/v/o and MLA low-rank projections, their biases,
  gpt-oss attention sinks), ``attention_norm`` (q_norm/k_norm, MLA q_a/kv_a layernorms),
  ``dense_mlp`` (a non-MoE feed-forward), ``experts`` (routed experts), ``shared_experts``
  (always-on experts and Qwen2-MoE's shared-expert gate), ``router`` (the routing gate's weight
  and bias), ``layer_norm`` (norms inside the blocks), ``final_norm`` (norms outside the blocks:
  the last norm, BERT's embedding LayerNorm), ``mtp`` (multi-token-prediction modules), ``other``.
  The values sum to ``params``.
* ``layer_kinds``: the blocks grouped by identical per-component counts (and, where the config
  has ``layer_types``, by layer type): e.g. DeepSeek-V3's 3 dense + 58 MoE layers.
* ``notes``: e.g. that the HF class does not build the MTP module a config declares.

Configs hold the published config.json values (sources in data/README.md); a few fields that the
installed ``transformers`` rejects in their historical form are listed in FIXUPS below.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

HERE = Path(__file__).parent / "data"
ENCODERS = {"bert"}  # built with their MLM head, as planner's encoder family assumes
# keys that are bookkeeping, not architecture; kept in the file, dropped before building
DROP = {"quantization_config", "auto_map"}

LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|layer)\.(\d+)\.")


def category(name: str, n_layers: int) -> tuple[int | None, str]:
    """(layer index or None, component) for one parameter name."""
    m = LAYER_RE.search(name)
    layer = int(m.group(1)) if m else None
    rest = name[m.end():] if m else name
    if layer is None:
        if re.search(r"(embed_tokens|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings)\.", name):
            return None, "embedding"
        if name.startswith("lm_head") or name.startswith("cls.predictions"):
            return None, "lm_head"
        if re.search(r"(norm|LayerNorm|ln_f)", name):
            return None, "final_norm"
        if "mtp" in name or "nextn" in name:
            return None, "mtp"
        return None, "other"
    if layer >= n_layers or re.search(r"(mtp|eh_proj|enorm|hnorm|shared_head)", rest):
        return layer, "mtp"
    if re.search(r"(^|\.)shared_expert", rest):
        return layer, "shared_experts"
    if re.search(r"(^|\.)experts\.", rest):
        return layer, "experts"
    if re.search(r"(^|\.)(mlp|feed_forward|block_sparse_moe)\.(gate|router)\.", rest):
        return layer, "router"
    if re.search(r"(q_norm|k_norm|q_a_layernorm|kv_a_layernorm|q_layernorm|k_layernorm)", rest):
        return layer, "attention_norm"
    if re.search(r"(norm|LayerNorm|ln_\d)", rest):
        return layer, "layer_norm"
    if re.search(r"(^|\.)(self_attn|attn|attention)\.", rest):
        return layer, "attention"
    if re.search(r"(^|\.)(mlp|feed_forward|intermediate|output)\.", rest):
        return layer, "dense_mlp"
    return layer, "other"


def ranges(idx: list[int]) -> list[list[int]]:
    """[0, 1, 2, 5] -> [[0, 2], [5, 5]] (inclusive runs of block indices)."""
    runs: list[list[int]] = []
    for i in idx:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def breakdown(model, cfg) -> tuple[dict, list]:
    n_layers = cfg.num_hidden_layers
    comps: dict[str, int] = {}
    per_layer: dict[int, dict[str, int]] = {}
    for name, p in model.named_parameters():
        layer, cat = category(name, n_layers)
        comps[cat] = comps.get(cat, 0) + p.numel()
        if layer is not None:
            d = per_layer.setdefault(layer, {})
            d[cat] = d.get(cat, 0) + p.numel()
    layer_types = getattr(cfg, "layer_types", None)
    kinds: dict[tuple, dict] = {}
    for i in sorted(per_layer):
        lt = layer_types[i] if layer_types and i < len(layer_types) else None
        key = (lt, tuple(sorted(per_layer[i].items())))
        k = kinds.setdefault(key, {"layer_type": lt, "count": 0, "layers": [], "params": dict(key[1])})
        k["count"] += 1
        k["layers"].append(i)
    out = []
    for k in kinds.values():
        if k["layer_type"] is None:
            del k["layer_type"]
        k["params_per_layer"] = sum(k["params"].values())
        k["layers"] = ranges(k["layers"])
        out.append(k)
    return dict(sorted(comps.items())), out


def count(path: Path) -> dict:
    raw = json.loads(path.read_text())
    cfg = AutoConfig.for_model(**{k: v for k, v in raw.items() if k not in DROP})
    auto = AutoModelForMaskedLM if raw["model_type"] in ENCODERS else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(cfg)
    total = sum(p.numel() for p in model.parameters())
    comps, kinds = breakdown(model, cfg)
    assert sum(comps.values()) == total, (path.stem, comps, total)
    rec = {"model_type": raw["model_type"], "class": type(model).__name__, "params": total,
           "components": comps, "layer_kinds": kinds}
    notes = []
    nextn = raw.get("num_nextn_predict_layers") or 0
    if nextn and "mtp" not in comps:
        notes.append(f"config declares num_nextn_predict_layers={nextn} but {type(model).__name__} "
                     f"(transformers {transformers.__version__}) builds no MTP module: params exclude it "
                     "(the checkpoint's extra layer is dropped on load)")
    if getattr(model.config, "tie_word_embeddings", False) and "lm_head" not in comps:
        notes.append("lm_head tied to the token embedding (counted once, under embedding)")
    if notes:
        rec["notes"] = notes
    return rec


def main() -> None:
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "models": {}}
    for p in sorted((HERE / "hf_configs").glob("*.json")):
        out["models"][p.stem] = count(p)
        print(f"{p.stem:32s} {out['models'][p.stem]['class']:28s} {out['models'][p.stem]['params']:>16,d}")
    (HERE / "hf_params.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
