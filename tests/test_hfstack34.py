"""hfstack34: the Hugging Face training stacks priced as they run -- QA 43's modelling left-alones (docs/qa_log.md,
"QA 43"): transformers' expert parallelism (an all-to-all at 5.23, hfep52), accelerate's torch context parallelism takes no
per-example mask, the HF Trainer has no ZeRO-1 of its own, FSDP2 shards no bitsandbytes weight, and a padded
dataset's $ per 1M tokens is per real token. Each test fails on the code before the change."""
from __future__ import annotations

import csv
import json

from conftest import write_job

MOE_EP = """
model: {preset: qwen3-30b-a3b}
training: {mode: lora, seq_len: 8192, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: hf-trainer}
parallel: {tp: 4, ep: %d, etp: %d, dp: 4, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def test_hf_expert_parallelism_is_an_all_to_all(cli, tmp_path):
    """transformers 5.23 trains EP through AllToAllEP (distributed/expert_parallel.py ``AutoEP``; hfep52): Qwen3-30B-A3B
    LoRA at TP4 EP4 prices the dispatch (comm_ep > 0) and its TP term is the attention's all-reduce alone (the TP plan
    stays on it; the experts, whole a rank, have none): half the TP4 EP1 term, whose experts' ``moe_tp_experts``
    all-reduce is the other half. hfstack34 until hfep52 priced an older revision's all-reduce EP: no comm_ep and
    the experts' all-reduce in place of the attention's."""
    out = {}
    for ep in (1, 4):
        job = MOE_EP % (ep, 4 if ep == 1 else 1)  # ETP: TP without EP, 1 with it (rule hf-etp)
        code, text, err = cli("estimate", write_job(tmp_path, job, name=f"ep{ep}.yaml"), "--json")
        assert code == 0, err
        out[ep] = json.loads(text)["breakdown_s"]
    assert out[4]["comm_ep"] > 0.0, out[4]
    assert abs(out[4]["comm_tp"] - out[1]["comm_tp"] / 2) <= 1e-12 and out[1]["comm_tp"] > 0.0, (out[1], out[4])
    assert out[4]["compute_attention"] == out[1]["compute_attention"]


CP_PACKED = """
model: {preset: llama3.1-8b}
training: {mode: lora, seq_len: 32768, global_batch: 8, precision: bf16, dataset_samples: 5000,
           mean_example_tokens: 4000, packing: %s, epochs: 1, framework: hf-trainer}
parallel: {cp: 8, dp: 1, zero: 3}
cluster: {instance: azure:Standard_ND96amsr_A100_v4, nodes: 1}
"""


def test_packed_rows_at_cp_attend_over_the_whole_row_under_accelerate(cli, tmp_path):
    """accelerate's torch context parallelism runs SDPA with a causal mask only: packed rows at CP8 attend over the
    whole 32,768-token row, as a concatenated stream does. The step was priced per 4,000-token example (8.0 s where
    the whole row takes 13.5); the assumed stack line says so."""
    res = {}
    for packing in ("packed", "concatenated"):
        code, text, err = cli("estimate", write_job(tmp_path, CP_PACKED % packing, name=f"{packing}.yaml"), "--json")
        assert code == 0, err
        res[packing] = json.loads(text)
    assert abs(res["packed"]["step_time_s"] / res["concatenated"]["step_time_s"] - 1.0) < 1e-9
    # HFU counts the whole row the kernel runs; MFU the per-example attention the job needs
    assert res["packed"]["hw_flops_per_step"] > res["packed"]["flops_per_step"]
    line = next(a for a in res["packed"]["assumptions"] if "packed rows" in a)
    assert "packed rows at CP8 attend over the whole 32,768-token row, not per example" in line, line
    # without CP the HF Trainer's flash_attention_2 varlen path still attends per example (Stack.doc_masking)
    cp1 = CP_PACKED.replace("parallel: {cp: 8, dp: 1, zero: 3}", "parallel: {cp: 1, dp: 8, zero: 3}")
    step = {}
    for packing in ("packed", "concatenated"):
        code, text, err = cli("estimate", write_job(tmp_path, cp1 % packing, name=f"cp1{packing}.yaml"), "--json")
        assert code == 0, err
        step[packing] = json.loads(text)["step_time_s"]
    assert step["packed"] < 0.9 * step["concatenated"], step


HF_DP = """
model: {preset: llama3.1-8b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 64, precision: bf16, dataset_samples: 20000,
           mean_example_tokens: 2000, packing: packed, epochs: 1, framework: %s}
%s
"""


def test_hf_trainer_has_no_zero1_of_its_own(cli, tmp_path):
    """The HF Trainer's data parallelism is DDP or FSDP (shard_grad_op / full_shard / hybrid_shard): ZeRO-1 is
    DeepSpeed's. hf-trainer searched and estimated ZeRO-1 (its launch spec runs NO_SHARD); it now refuses it, names the
    deepspeed stack, and defaults to DDP (ZeRO-0); the deepspeed stack keeps ZeRO-1."""
    est = "parallel: {dp: 8, zero: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 1}"
    code, out, err = cli("estimate", write_job(tmp_path, HF_DP % ("hf-trainer", est), name="z1.yaml"))
    assert code == 2 and err.startswith("error: parallel.zero: ") and "deepspeed" in err, err
    assert "\n" not in err.strip() and "Traceback" not in err
    code, out, err = cli("estimate", write_job(tmp_path, HF_DP % ("deepspeed", est), name="ds.yaml"))
    assert code == 0, err
    code, out, err = cli("estimate", write_job(tmp_path, HF_DP % ("hf-trainer", est.replace(", zero: 1", "")),
                                               name="dflt.yaml"), "--json")
    assert code == 0, err
    assert json.loads(out)["config"]["zero"] == 0
    rec = "constraints: {instances: [aws:p5.48xlarge], max_gpus: 16, objective: cost}"
    out_csv = tmp_path / "plans.csv"
    code, out, err = cli("recommend", write_job(tmp_path, HF_DP % ("hf-trainer", rec), name="rec.yaml"),
                         "--no-simulate", "--csv", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(open(out_csv)))
    assert rows and "1" not in {r["zero"] for r in rows if int(r["dp"]) * int(r["cp"]) > 1}, {r["zero"] for r in rows}


def test_fsdp2_under_cp_leaves_the_bitsandbytes_base_whole(cli, tmp_path):
    """accelerate's CP runs under FSDP2, whose fully_shard shards no bitsandbytes Params4bit (accelerate #3987 leaves
    them out, whole on every rank): QLoRA Llama-3.1-8B at CP8 held 1/8 of its nf4 linears per GPU (1.32 GiB of
    weights); every GPU now holds them all (4.70 GiB). At CP 1 (FSDP1 with bnb_4bit_quant_storage, named: unset is
    the HF Trainer's FSDP2 since fsdp52) they shard; FSDP1's root unit, the bf16 embedding and head, stays gathered
    beside them as FSDP2's does (fsdp52b)."""
    from planner.model.finetune import _bitsandbytes_part
    from planner.spec import load_job

    qlora = CP_PACKED.replace("mode: lora", "mode: qlora") % "packed"
    path = write_job(tmp_path, qlora)
    code, out, err = cli("estimate", path, "--json")
    assert code == 0, err
    job = load_job(path)
    q_bytes = _bitsandbytes_part(job.model, job.training)[0]
    assert json.loads(out)["memory_per_gpu_bytes"]["weights"] > q_bytes
    dp8 = qlora.replace("parallel: {cp: 8, dp: 1, zero: 3}", "parallel: {cp: 1, dp: 8, zero: 3}").replace(
        "framework: hf-trainer", "framework: {name: hf-trainer, fsdp_version: 1}")
    code, out, err = cli("estimate", write_job(tmp_path, dp8, name="dp8.yaml"), "--json")
    assert code == 0, err
    root = (2 * 128_256 * 4096 + 4096) * 2
    assert json.loads(out)["memory_per_gpu_bytes"]["weights"] < q_bytes / 2 + root


PADDED = """
model: {preset: qwen3-8b}
training: {mode: qlora, lora: {rank: 64, alpha: 128, targets: all-linear}, seq_len: 2048, global_batch: 16,
           precision: bf16, dataset_samples: 20000, mean_example_tokens: 600, packing: padded, epochs: 2}
constraints: {instances: [aws:g6.xlarge], max_gpus: 1, objective: cost}
"""


def test_padded_dataset_is_priced_per_real_token(cli, tmp_path):
    """Qwen3-8B QLoRA on one L4, 600-token examples padded to 2,048: 81.92M tokens and $0.305 per 1M counted the
    padding (71%); the run is 24.0M real tokens, $1.04 per 1M, and the time-to-train line says so."""
    code, out, err = cli("recommend", write_job(tmp_path, PADDED), "--no-simulate", "--json")
    assert code == 0, err
    best = json.loads(out)["best"]
    cost = best["cost"]
    assert cost["tokens"] == 2 * 20000 * 600, cost["tokens"]
    assert abs(cost["padding_share"] - (1 - 600 / 2048)) < 1e-12
    assert abs(cost["usd_per_million_tokens"] - cost["ranked"]["cost_usd"] / 24.0) < 1e-9
    est = PADDED.replace("constraints: {instances: [aws:g6.xlarge], max_gpus: 1, objective: cost}",
                         "parallel: {dp: 1, zero: 0}\ncluster: {instance: aws:g6.xlarge, nodes: 1}").replace(
                         "epochs: 2}", "epochs: 2, micro_batch: 1, recompute: full}")
    code, out, err = cli("estimate", write_job(tmp_path, est, name="est.yaml"))
    assert code == 0, err
    assert "24.00M tokens real, padding excluded: 71% of the rows' positions" in " ".join(out.split()), out
