"""QA pass 49: a researcher extending Llama-3 / Qwen2.5 / Mixtral / DeepSeek-V2-Lite to 32k-1M tokens with context
parallelism on 8-512 GPUs through estimate / recommend / compare / simulate / report; each defect found with the
check that failed before its fix (docs/qa_log.md, "QA 49")."""
from __future__ import annotations

import json

from conftest import write_job

# Llama-3-8B at 128K tokens on 16 H100, CP8 under FSDP2 (ZeRO-3), full recompute
CP_128K = """
model: {preset: llama3-8b}
training: {seq_len: 131072, global_batch: 32, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e10,
           framework: STACK}
parallel: {tp: 1, pp: 1, cp: CP, zero: 3}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2}
"""


def _estimate(cli, tmp_path, stack: str, cp: int = 8, model: str = "llama3-8b"):
    job = write_job(tmp_path, CP_128K.replace("STACK", stack).replace("CP", str(cp)).replace("llama3-8b", model),
                    f"{stack}-{cp}-{model}.yaml")
    return cli("estimate", job, "--json")


def test_hf_trainer_context_parallelism_pays_its_all_gather(cli, tmp_path):
    """accelerate's torch CP (the HF Trainer's) is PyTorch's context_parallel with cp_comm_strategy "allgather" by
    default, as torchtitan's 2024 default; it was priced as Megatron-Core's overlapped p2p ring, so the step held no
    CP exchange at all (Llama-3-8B, 128K, CP8 on 16 H100: 160.33 s, now 165.87 s with 2.79 s exposed)."""
    code, out, err = _estimate(cli, tmp_path, "hf-trainer")
    assert code == 0, err
    bd = json.loads(out)["breakdown_s"]
    assert bd.get("comm_cp", 0.0) > 1.0, bd
