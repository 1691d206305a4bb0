"""small32 leftovers. Each check fails on the code before."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. MOE_ONLY_OPTIONS is vocabulary: planner.vocab, not the job loader -------------------------------------------
def test_moe_only_options_live_in_the_vocabulary():
    """The stack registry (planner.model.stacks) imported the table from the job loader (planner.spec.load): a model
    module reaching into the loader for a vocabulary table. It is vocabulary, in the foundations layer both import."""
    from planner import vocab
    from planner.spec import load

    assert set(vocab.MOE_ONLY_OPTIONS) == {"moe_dispatcher", "moe_a2a_overlap", "moe_fused_mlp"}
    assert vocab.MOE_ONLY_OPTIONS["moe_dispatcher"][0] in vocab.MOE_DISPATCHER
    assert load.MOE_ONLY_OPTIONS is vocab.MOE_ONLY_OPTIONS  # the loader's notes read the one table
    tree = ast.parse((ROOT / "planner" / "model" / "stacks.py").read_text())
    froms = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "planner.spec.load" not in froms, froms
    assert "MOE_ONLY_OPTIONS = " not in (ROOT / "planner" / "spec" / "load.py").read_text()
