"""QA pass 24: ``planner serve`` for models other than plain dense GQA (MoE, MLA, sliding-window / chunked local
attention, long context), the KV-cache and weight arithmetic checked by hand against vLLM's own sizing — each
defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from planner.spec import load_job_dict
from planner.workloads.serving import plan_serving

GiB = 2**30


def _serve(model: str, gpus=("H200-SXM-141GB",), **serving):
    base = dict(p99_latency_ms=200, ttft_ms=20000, qps=1, prompt_tokens=4096, output_tokens=256,
                precision="fp8", kv_precision="fp8")
    return load_job_dict({"model": {"preset": model}, "serving": {**base, **serving},
                          "constraints": {"gpus": list(gpus), "clouds": ["aws"]}})


# ---- defect 1: DeepSeek-V3's MTP module served as part of the model ------------------------------------------------
# vLLM's DeepseekV2ForCausalLM.load_weights skips every tensor of the MTP layer ("skip spec decode layers for main
# model"): it is loaded only as a speculative-decoding draft. serve counted its 11.6B parameters in the weights (HBM),
# in the bytes every decode step reads and in the FLOPs every token does: 682.6B params, 637.6 GiB in fp8 (79.7 GiB
# per GPU at TP8) -> 671.0B, 626.8 GiB (78.3).
def test_deepseek_v3_served_without_mtp():
    res = plan_serving(_serve("deepseek-v3"), simulate=False)
    assert res["params"] == pytest.approx(671.0e9, rel=2e-3)
    assert res["weights_gib"] == pytest.approx(626.8, rel=2e-3)
    tp8 = [r for r in res["options"] if r["tp"] == 8]
    assert tp8 and tp8[0]["weights_gib_per_gpu"] == pytest.approx(626.8 / 8, rel=2e-3)
