"""QA pass 43: the HF-stack claims checked against transformers / peft / bitsandbytes, and a user's fine-tuning
journeys through recommend / estimate / compare / report; each defect found with the check that failed before its
fix (docs/qa_log.md, "QA 43")."""
from __future__ import annotations

import csv

from conftest import write_job

QLORA_70B = """
model: {preset: llama3.1-70b}
training: {mode: qlora, lora: {rank: 16, alpha: 32, targets: all-linear}, seq_len: 2048, global_batch: 16,
           precision: bf16, dataset_samples: 50000, mean_example_tokens: 700, packing: packed, epochs: 3}
constraints: {instances: [aws:p4d.24xlarge], max_gpus: 8, objective: cost}
"""


def test_qlora_is_not_planned_with_tensor_parallelism_on_the_hf_code(cli, tmp_path):
    """transformers shards no bitsandbytes layer over TP (its bnb quantizers have no update_tp_plan): QLoRA
    Llama-3.1-70B on one p4d.24xlarge was ranked at TP4 DP2 ZeRO-3 on the HF Trainer ($165.92); every ranked
    layout is now TP 1 (FSDP-QLoRA), and an estimate at TP 4 is one line naming parallel.tp. FSDP-QLoRA is FSDP1
    (a float bnb_4bit_quant_storage): under the Trainer's default FSDP2 the base stays whole on every rank (qlora54),
    46.7 GiB a GPU, and nothing fits an A100-40GB."""
    job = write_job(tmp_path, QLORA_70B.replace("epochs: 3}", "epochs: 3,\n           "
                                                "framework: {name: hf-trainer, fsdp_version: 1}}"))
    out_csv = tmp_path / "plans.csv"
    code, out, err = cli("recommend", job, "--no-simulate", "--csv", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(open(out_csv)))
    assert rows and {r["tp"] for r in rows} == {"1"}, {r["tp"] for r in rows}
    est = write_job(tmp_path, QLORA_70B.replace("constraints: {instances: [aws:p4d.24xlarge], max_gpus: 8, "
                                                "objective: cost}",
                                                "parallel: {tp: 4, dp: 2, zero: 3}\n"
                                                "cluster: {instance: aws:p4d.24xlarge, nodes: 1}"), name="est.yaml")
    code, out, err = cli("estimate", est)
    assert code == 2 and err.startswith("error: parallel.tp: ") and "bitsandbytes" in err, err
    assert "\n" not in err.strip() and "Traceback" not in err


MOE_HF = """
model: {preset: qwen3-30b-a3b}
training: {mode: lora, seq_len: 8192, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: hf-trainer}
%s
"""


def test_hf_trainer_expert_parallelism_runs_on_the_tp_ranks(cli, tmp_path):
    """transformers lays its EP groups over the FSDP x TP ranks (5.23 DistributedConfig: ep_size a multiple of tp_size
    dividing fsdp_size x tp_size; each expert whole on one rank): the HF Trainer ranked EP 2-16 at any TP until QA 43,
    EP = TP only until hfep52. Every ranked layout has EP 1 (experts over TP) or EP a multiple of TP with ETP 1."""
    job = write_job(tmp_path, MOE_HF % "constraints: {instances: [aws:p5.48xlarge], max_gpus: 16, objective: cost}")
    out_csv = tmp_path / "plans.csv"
    code, out, err = cli("recommend", job, "--no-simulate", "--csv", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(open(out_csv)))
    assert rows
    for r in rows:
        tp, ep, etp = int(r["tp"]), int(r["ep"]), int(r["etp"])
        assert (ep == 1 and etp == tp) or (ep % tp == 0 and etp == 1), r
    est = write_job(tmp_path, MOE_HF % "parallel: {tp: 4, ep: 2, dp: 2, zero: 3}\ncluster: {instance: aws:p5.48xlarge, "
                                      "nodes: 1}", name="est.yaml")
    code, out, err = cli("estimate", est)
    assert code == 2 and err.startswith("error: parallel.ep: ") and "EP2 at TP4" in err, err


TITAN_EP = """
model: {preset: mixtral-8x7b}
training: {seq_len: 4096, global_batch: 64, precision: bf16, tokens: 1.0e9, framework: torchtitan}
parallel: {tp: 2, pp: 2, dp: 2, ep: 4, vpp: 4, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""


def test_estimate_checks_the_expert_grid_at_the_etp_it_defaults_to(cli, tmp_path):
    """recommend ranks torchtitan's TP2 PP2 DP2 EP4 (ETP 1) for Mixtral on one p5.48xlarge; estimate of that layout
    without parallel.etp said "parallel.etp defaulted to 1" yet refused it by Megatron's ETP = TP: "error:
    parallel.ep: etp*ep = 2*4 must divide tp*cp*dp = 4"."""
    code, out, err = cli("estimate", write_job(tmp_path, TITAN_EP), "--json")
    assert code == 0, err
    import json
    d = json.loads(out)
    assert "parallel.etp defaulted to 1" in json.dumps(d)


DATASET = """
model: {preset: llama3.1-8b}
training: {mode: lora, seq_len: 4096, global_batch: 32, dataset_samples: 1000, epochs: 1%s}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
parallel: {dp: 8}
"""


def _estimate(cli, tmp_path, extra):
    import json
    code, out, err = cli("estimate", write_job(tmp_path, DATASET % extra), "--json")
    assert code == 0, err
    return json.loads(out)


def test_examples_without_a_mean_length_are_said_to_be_whole_rows(cli, tmp_path):
    """1,000 examples and no mean_example_tokens: each is priced as a whole 4,096-token row (32 steps), as long as a
    dataset of 500-token packed examples would take 4 -- the length that sizes the run, unsaid."""
    d = _estimate(cli, tmp_path, "")
    text = " ".join(d["assumptions"])
    assert "each taken as one whole 4,096-token row (no training.mean_example_tokens)" in text, text


def test_examples_longer_than_a_row_are_said_to_be_truncated_and_concatenated_rows_are_not(cli, tmp_path):
    """9,000-token examples at seq_len 4,096: padded (and packed) rows hold one example each, truncated -- 54% of the
    tokens never trained, unsaid; concatenated streams split them across rows, 2,197 rows (69 steps), but were
    truncated too (1,000 rows, 32 steps)."""
    d = _estimate(cli, tmp_path, ", mean_example_tokens: 9000, packing: padded")
    text = " ".join(d["assumptions"])
    assert "each example is truncated to 4,096 tokens (54% of the dataset's tokens not trained" in text, text
    c = _estimate(cli, tmp_path, ", mean_example_tokens: 9000, packing: concatenated")
    assert "truncated" not in " ".join(c["assumptions"])
    assert c["cost"]["steps"] == 69 and d["cost"]["steps"] == 32, (c["cost"]["steps"], d["cost"]["steps"])


GPT_OSS_QLORA = """
model: {hf_config: %s}
training: {mode: qlora, seq_len: 2048, global_batch: 8, dataset_samples: 5000, mean_example_tokens: 800, packing: packed,
           epochs: 1}
cluster: {instance: lambda:gpu_1x_gh200, nodes: 1}
"""


def test_a_qlora_base_says_what_bitsandbytes_leaves_unquantised(cli, tmp_path):
    """gpt-oss-20b's QLoRA base read "frozen base stored as nf4 with double quantisation: 75.8 GiB (3.89
    bytes/param)": the fused 3-D experts (19.1B of its 20.9B) are no nn.Linear, so bitsandbytes leaves them and peft
    casts them to fp32, which the line never said. It names the quantised part and the rest."""
    import json
    from pathlib import Path
    cfg = Path(__file__).parent / "data" / "hf_configs" / "gpt-oss-20b.json"
    code, out, err = cli("estimate", write_job(tmp_path, GPT_OSS_QLORA % cfg), "--json")
    assert code == 0, err
    line = next(a for a in json.loads(out)["advice"] if "frozen base stored as nf4" in a)
    assert "on its 637.01M nn.Linear parameters; the other 20.28B (the fused 3-D experts" in line, line
    assert "75.8 GiB (3.89 bytes/param)" in line, line


QLORA_32K = """
model: {preset: llama3.1-8b}
training: {mode: qlora, seq_len: 32768, global_batch: 8, dataset_samples: 2000, mean_example_tokens: 30000,
           packing: packed, epochs: 2}
constraints: {instances: [azure:Standard_ND96amsr_A100_v4], max_gpus: 8, objective: cost}
"""


def test_hf_trainer_context_parallelism_runs_under_fsdp(cli, tmp_path):
    """accelerate's torch context parallelism raises without FSDP2: QLoRA Llama-3.1-8B at 32K tokens was recommended
    at CP8 over plain DDP (ZeRO-0) on the HF Trainer. Every ranked CP layout now shards with FSDP (ZeRO-2/3)."""
    job = write_job(tmp_path, QLORA_32K)
    out_csv = tmp_path / "plans.csv"
    code, out, err = cli("recommend", job, "--no-simulate", "--csv", str(out_csv))
    assert code == 0, err
    rows = [r for r in csv.DictReader(open(out_csv)) if int(r["cp"]) > 1]
    assert rows and all(int(r["zero"]) >= 2 for r in rows), [(r["cp"], r["zero"]) for r in rows]


FULL_FT_ONE_L4 = """
model: {preset: llama3.1-8b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 16, dataset_samples: 10000, mean_example_tokens: 1000,
           epochs: 1}
constraints: {gpus: [L4-24GB], max_gpus: 1}
"""


def test_nothing_fits_under_a_gpu_cap_names_the_cap_that_left_bigger_instances_out(cli, tmp_path):
    """A full fine-tune of Llama-3.1-8B on L4s under max_gpus 1 was told "all 7 options searched are single-node only:
    a multi-node instance, or a larger-memory GPU"; the 4- and 8-L4 instances the cap left out are the fix (at
    max_gpus 8 it fits on one 8 x L4 node)."""
    code, out, err = cli("recommend", write_job(tmp_path, FULL_FT_ONE_L4), "--no-simulate")
    assert code == 2, out
    line = err.strip()
    assert line.startswith("error: memory: no configuration fits") and "\n" not in line, line
    assert "allow more GPUs (constraints.max_gpus: 3 bigger instances left out)" in line, line
    assert "multi-node instance" not in line and "…" not in line, line


def test_adapter_state_is_sharded_over_the_zero_group(cli, tmp_path):
    """QLoRA Llama-3.1-70B at DP8 ZeRO-3 on one p4d.24xlarge held each GPU's 207M fp32 adapters' whole gradients
    (0.77 GiB) and Adam state (1.54 GiB): FSDP shards the trainable parameters with the frozen base, ZeRO-1/2 their
    optimizer state and gradients. Now 1/8 of each. (ZeRO-1 is DeepSpeed's under the HF Trainer, rule
    hf-trainer-zero1: that row runs the deepspeed stack.)"""
    import json
    job = QLORA_70B.replace("constraints: {instances: [aws:p4d.24xlarge], max_gpus: 8, objective: cost}",
                            "parallel: {tp: 1, dp: 8, zero: %d}\ncluster: {instance: aws:p4d.24xlarge, nodes: 1}")
    job = job.replace("epochs: 3}", "epochs: 3, micro_batch: 2, recompute: full}")
    mem = {}
    for z in (0, 1, 2, 3):
        text = job % z if z != 1 else (job % z).replace("epochs: 3,", "epochs: 3, framework: deepspeed,")
        code, out, err = cli("estimate", write_job(tmp_path, text, name=f"z{z}.yaml"), "--json")
        assert code == 0, err
        mem[z] = json.loads(out)["memory_per_gpu_bytes"]
    adam = 207.09e6 * 8 / 2**30  # Adam's two fp32 moments per adapter parameter
    assert abs(mem[0]["optimizer"] / 2**30 - adam) < 0.01, mem[0]["optimizer"] / 2**30
    # DeepSpeed's engine casts the adapters bf16 and its optimizer keeps their fp32 master beside the moments
    # (Stack.casts_adapters; lorads50: until then Adam's 8 B alone)
    assert abs(mem[1]["optimizer"] / 2**30 - adam * 12 / 8 / 8) < 0.01, mem[1]["optimizer"] / 2**30
    # DeepSpeed's ZeRO-1 keeps the bf16 .grad whole (2 B), the HF Trainer's ZeRO-2 (FSDP) the fp32 shard (4 B / 8)
    g = 207.09e6 / 2**30
    assert abs(mem[1]["grads"] / 2**30 - 2 * g) < 0.01 and abs(mem[2]["grads"] / 2**30 - 4 * g / 8) < 0.01
    assert mem[3]["weights"] < mem[2]["weights"]
