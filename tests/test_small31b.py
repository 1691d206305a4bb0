"""small31b leftovers: ``moe_shared_expert_overlap`` in the "training stack:" line of models without shared experts,
and autocast's fp32 weights under the FSDP stacks' mixed-precision policies. Each check fails on the code before."""
from __future__ import annotations

import pytest

from conftest import answered, write_job


def _job(model: dict, parallel: dict) -> dict:
    return {"model": model,
            "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "micro_batch": 1, "recompute": "none",
                         "framework": {"name": "megatron-core", "moe_shared_expert_overlap": True}},
            "parallel": parallel, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}}


@pytest.mark.parametrize("preset,parallel,listed", [
    ("llama3-8b", {"tp": 2}, False),                    # dense
    ("mixtral-8x7b", {"tp": 2, "ep": 2}, False),        # MoE, no shared experts
    ("deepseek-v3", {"tp": 1, "pp": 8, "ep": 8}, True),  # shared experts: the option acts
])
def test_shared_expert_overlap_is_in_the_stack_line_only_with_shared_experts(tmp_path, cli, preset, parallel, listed):
    """The load note said the option changes nothing on Llama-3-8B and Mixtral-8x7B while the stack line still
    read "moe_shared_expert_overlap=on"."""
    out = answered(cli("estimate", write_job(tmp_path, _job({"preset": preset}, parallel)), "--json"))
    line = out["inputs"]["training_stack"]
    assert line.startswith("training stack: megatron-core (")
    assert ("moe_shared_expert_overlap=on" in line) is listed, line
    said = [a for a in out["assumptions"] if "moe_shared_expert_overlap changes nothing" in a]
    assert bool(said) is not listed, said
