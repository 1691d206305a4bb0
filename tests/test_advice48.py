"""advice48: estimate's advice names each stack option the plan's stack has and runs off where the model, re-evaluating
the plan with it on, says it saves at least 2% of the step (planner.search.explain ``STACK_ADVICE``,
planner.search.evaluate ``option_alternatives``), with the saving that re-evaluation gives; never an option the
stack lacks. Before, only the MoE token dispatcher was tried: a Megatron-Core MoE plan with 53% of its step in the
all-to-all was never told of ``moe_a2a_overlap``."""
from __future__ import annotations

import re

from conftest import answered, write_job

#: Qwen3-30B-A3B at EP 16 over two InfiniBand nodes: the all-to-all is about half the step
_QWEN = {"model": {"preset": "qwen3-30b-a3b"},
         "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1.0e10},
         "parallel": {"tp": 1, "pp": 1, "ep": 16},
         "cluster": {"instance": "azure:Standard_ND96isr_H100_v5", "nodes": 2}}
#: Llama-3-8B at TP 8 over four p5 nodes, Megatron-Core with its TP overlap switched off
_LLAMA = {"model": {"preset": "llama3-8b"},
          "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1.0e10},
          "parallel": {"tp": 8, "pp": 1, "zero": 1},
          "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}}


def _estimate(cli, tmp_path, base: dict, file: str, **framework) -> dict:
    job = {**base, "training": {**base["training"], "framework": framework}}
    return answered(cli("estimate", write_job(tmp_path, job, f"{file}.yaml"), "--json"))


def _option_line(plan: dict, option: str) -> str | None:
    return next((a for a in plan["advice"] if a.startswith(f"training.framework.{option}=")), None)


def _saving(line: str) -> tuple[float, float]:
    """(the step with the option, the plan's step) a line quotes."""
    got = re.search(r"takes ([\d.e+-]+) s per step instead of ([\d.e+-]+) s", line)
    return float(got.group(1)), float(got.group(2))


def test_moe_a2a_overlap_advised_with_the_saving_a_re_estimate_gives(cli, tmp_path):
    """Megatron-Core's plan is told of the all-to-all overlap with the step ``estimate`` gives with it on (9.50 s ->
    7.23 s); the job that sets it on is told nothing of it."""
    off = _estimate(cli, tmp_path, _QWEN, "off", name="megatron-core")
    on = _estimate(cli, tmp_path, _QWEN, "on", name="megatron-core", moe_a2a_overlap=True)
    line = _option_line(off, "moe_a2a_overlap")
    assert line is not None and line.startswith("training.framework.moe_a2a_overlap=true also fits"), off["advice"]
    with_it, plan = _saving(line)
    assert abs(with_it / on["step_time_s"] - 1) < 1e-3 and abs(plan / off["step_time_s"] - 1) < 1e-3, line
    assert on["step_time_s"] < 0.98 * off["step_time_s"]
    assert f"({on['step_time_s'] / off['step_time_s'] - 1:+.0%})" in line, line
    assert _option_line(on, "moe_a2a_overlap") is None, on["advice"]


def test_no_overlap_advice_for_a_stack_without_the_option(cli, tmp_path):
    """torchtitan has no all-to-all overlap: the same plan's all-to-all is about half its step and no line names the
    option (nor any option the stack lacks)."""
    from planner.model.stacks import STACKS, holds
    from planner.search.explain import STACK_ADVICE

    plan = _estimate(cli, tmp_path, {**_QWEN, "parallel": {**_QWEN["parallel"], "zero": 3}}, "titan", name="torchtitan")
    assert plan["breakdown_s"]["comm_ep"] > 0.3 * plan["step_time_s"]
    lacks = [k for k in STACK_ADVICE if not holds(STACKS["torchtitan"], k)]
    assert "moe_a2a_overlap" in lacks
    assert not [a for a in plan["advice"] for k in lacks if a.startswith(f"training.framework.{k}=")], plan["advice"]


def test_a_dense_option_is_advised_by_the_same_table(cli, tmp_path):
    """Megatron-Core at TP 8 with ``tp_overlap: none`` is told of Transformer Engine's overlap with the step estimate
    gives with ``tp_overlap: te``; a job on its default (te) is not told again."""
    off = _estimate(cli, tmp_path, _LLAMA, "none", name="megatron-core", tp_overlap="none")
    te = _estimate(cli, tmp_path, _LLAMA, "te", name="megatron-core")
    line = _option_line(off, "tp_overlap")
    assert line is not None and line.startswith("training.framework.tp_overlap=te also fits"), off["advice"]
    assert abs(_saving(line)[0] / te["step_time_s"] - 1) < 1e-3, (line, te["step_time_s"])
    assert _option_line(te, "tp_overlap") is None, te["advice"]
