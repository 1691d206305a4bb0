"""Record the Hugging Face modelling code's parameter count for every config in data/hf_configs/.

Run by hand when a config is added (needs ``transformers``; the tests only read the JSON)::

    python tests/make_hf_params.py

Each model is built on the meta device (no memory, no download) and counted with
``sum(p.numel() for p in model.parameters())`` — ``parameters()`` yields a tied weight once,
which is the convention of ``planner.spec.params.count_params``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

HERE = Path(__file__).parent / "data"
ENCODERS = {"bert"}  # built with their MLM head, as planner's encoder family assumes


def count(path: Path) -> dict:
    raw = json.loads(path.read_text())
    cfg = AutoConfig.for_model(**raw)
    auto = AutoModelForMaskedLM if raw["model_type"] in ENCODERS else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(cfg)
    return {"model_type": raw["model_type"], "class": type(model).__name__,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    out = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "models": {}}
    for p in sorted((HERE / "hf_configs").glob("*.json")):
        out["models"][p.stem] = count(p)
        print(f"{p.stem:32s} {out['models'][p.stem]['class']:28s} {out['models'][p.stem]['params']:>16,d}")
    (HERE / "hf_params.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
