"""QA pass 36b: what QA pass 36 noticed and left alone -- each defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import refused, write_job


# ---- 1. megatron-lm (2021-22) planned top-2 and shared-expert MoE models -------------------------------------------
@pytest.mark.parametrize("preset", ["mixtral-8x7b", "deepseek-v2-lite"])
def test_the_2021_22_megatron_refuses_moe_it_never_had(tmp_path, cli, preset):
    """``training.framework: megatron-lm`` estimated Mixtral (top-2) at TP8 EP1 and recommended layouts for it: the
    legacy Megatron-LM's only MoE layer is the top-1 SwitchMLP (torch.max over the router), no top-k router, no shared
    experts -- those came with Megatron-Core's MoE."""
    job = {"model": {"preset": preset}, "training": {"tokens": 1e10, "framework": "megatron-lm"},
           "parallel": {"tp": 8, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework:") and "SwitchMLP" in line and "megatron-core" in line, line
    job.pop("parallel")
    job.pop("cluster")
    job["constraints"] = {"instances": ["aws:p5.48xlarge"], "max_gpus": 16}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: training.framework:") and "SwitchMLP" in line, line
    job["training"]["framework"] = "megatron-core"
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1")
    assert code == 0, err

