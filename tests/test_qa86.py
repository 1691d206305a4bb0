"""QA pass 86: a platform engineer's planning jobs through recommend / estimate / simulate / report
(docs/qa_log.md, "QA 86"). Each test fails on the code before."""
from __future__ import annotations

import pytest
import torch

from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

#: gpt-oss-20b LoRA on the HF Trainer (gpt-oss runs eager attention only): one lambda H100 node of 8
GPT_OSS_LORA = {"model": {"preset": "gpt-oss-20b"},
                "training": {"mode": "lora", "seq_len": 4096, "global_batch": 64, "micro_batch": 8, "precision": "bf16",
                             "steps": 100, "recompute": "full", "framework": {"name": "hf-trainer"}},
                "parallel": {"tp": 1, "pp": 1, "dp": 8},
                "cluster": {"instance": "lambda:gpu_8x_h100_sxm5", "nodes": 1}}


def _job(spec, **over):
    raw = {k: dict(v) for k, v in spec.items()}
    for path, value in over.items():
        section, field = path.split(".")
        raw[section][field] = value
    return load_job_dict(raw)


def test_a_frozen_bf16_embedding_gives_autocast_a_bf16_stream():
    """The torch fact the fix rests on: nn.Embedding is on no autocast list, so a LoRA's frozen bf16 embedding hands
    the layers a bf16 residual stream under autocast (and a linear keeps it bf16); only fp32 weights give fp32."""
    emb16, emb32 = torch.nn.Embedding(16, 8).to(torch.bfloat16), torch.nn.Embedding(16, 8)
    lin = torch.nn.Linear(8, 8).to(torch.bfloat16)
    ids = torch.arange(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h16, h32 = emb16(ids), emb32(ids)
        assert h16.dtype == torch.bfloat16 and (h16 + lin(h16)).dtype == torch.bfloat16
        assert h32.dtype == torch.float32


@pytest.mark.parametrize("base, fp32", [("bf16", False), ("fp32", True), ("int8", True)])
def test_lora_stream_follows_the_frozen_base(base, fp32):
    """Stack.fp32_stream below FSDP (ZeRO-0) on the HF Trainer's amp: a LoRA over a bf16 base streams bf16 (it read
    fp32, as full training's fp32 master weights); an fp32 base, or a bitsandbytes one (prepare_model_for_kbit_training
    casts the embedding to fp32), keeps fp32."""
    from planner.model.stacks import from_training

    job = _job(GPT_OSS_LORA, **{"training.base_weights": base})
    stack = from_training(job.training, model=job.model)
    assert bool(stack.fp32_stream(job.training, 0)) is fp32
    full = _job(GPT_OSS_LORA, **{"training.mode": "pretrain"})
    assert bool(from_training(full.training, model=full.model).fp32_stream(full.training, 0))  # full training: fp32


def test_lora_eager_attention_costs_the_same_under_ddp_and_fsdp():
    """gpt-oss-20b LoRA, 8 sequences of 4,096 a GPU, eager attention: the attention kernels of a micro-batch do not
    depend on how the data-parallel ranks hold the frozen base. Under DDP (ZeRO-0) the step priced the eager softmax
    on an fp32 stream: 12.78 s of attention against FSDP's (ZeRO-2) 6.70 s; one H100 took 117.2 s a step for the
    8 GPUs' 8 x 8.59 s of work."""
    ddp = estimate_job(_job(GPT_OSS_LORA, **{"parallel.zero": 0})).to_json()
    fsdp = estimate_job(_job(GPT_OSS_LORA, **{"parallel.zero": 2})).to_json()
    assert ddp["breakdown_s"]["compute_attention"] == pytest.approx(fsdp["breakdown_s"]["compute_attention"], rel=1e-9)
    # the logits term is what the head and loss exceed the last block's rebuild by (loss_beside_rebuild; a frozen
    # base's too since hfblk57, measured in tests/test_hfblk57.py): DDP's fp32 stream rebuilds the larger block, so
    # its term is the smaller, by less than 2 % (was equal: the sum priced the head whole beside any rebuild)
    d, f = ddp["memory_per_gpu_bytes"]["logits"], fsdp["memory_per_gpu_bytes"]["logits"]
    assert 0.98 * f < d < f


def test_a_fine_tune_is_not_told_to_pad_its_checkpoints_widths():
    """A LoRA of gpt-oss-20b (hidden and MoE ffn 2,880) read "pad hidden to 2944" and "pad ffn_hidden to 2944": a
    fine-tune's widths are the released checkpoint's. Pre-training the same shape keeps the advice."""
    tuned = estimate_job(_job(GPT_OSS_LORA, **{"parallel.zero": 2})).to_json()["advice"]
    assert not [a for a in tuned if "tensor-core tiles" in a]
    pre = estimate_job(_job(GPT_OSS_LORA, **{"parallel.zero": 2, "training.mode": "pretrain"})).to_json()["advice"]
    assert any(a.startswith("model.hidden=2880 is not a multiple of 128") for a in pre)


#: Llama-3-8B pre-training at recompute full, TP 2, on two p5.48xlarge nodes: recommend picks the layers
RC_FULL = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 64, "micro_batch": 1, "precision": "bf16", "tokens": 1e10,
                        "recompute": "full", "framework": {"name": "megatron-core"}},
           "parallel": {"tp": 2, "pp": 1},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}


def test_recompute_full_with_the_layers_open_says_they_were_searched():
    """A job that sets recompute: full and no recompute_method was planned at rc:full(block N) -- fewer layers
    checkpointed than estimate prices for the same file -- with no assumption line; the plan's own recompute
    (recompute open) or a fixed method needs none."""
    from planner.workloads.training import recommend

    def lines(**over):
        rec = recommend(_job(RC_FULL, **over), top=1, simulate=False)
        return rec, [a for a in rec.assumptions if a.startswith("training.recompute full with")]

    rec, said = lines()
    assert rec.best.config["recompute_method"] == "block" and len(said) == 1
    assert "--recompute-method block" in said[0] and "recompute_num_layers: 1" in said[0]
    assert not lines(**{"training.recompute_method": "uniform", "training.recompute_num_layers": 1})[1]


def test_the_tpus_a_stack_does_not_run_on_share_one_line(catalog):
    """An llm-foundry / hf-trainer search over the whole catalog printed four "left out:" lines, the same words but
    for the TPU's name; the reasons are now one line naming the four (a different reason keeps its own line)."""
    from planner.errors import InputError
    from planner.model.stacks import check_platform
    from planner.search.recommend import off_platform_lines

    tpus = ("TPU-v5e", "TPU-v6e", "TPU-v5p", "TPU-v4")
    why = {}
    for name in tpus:
        with pytest.raises(InputError) as e:
            check_platform("llm-foundry", catalog.gpu(name))
        why[name] = e.value.message
    lines = off_platform_lines({**why, "X1": "auto's stack on X1 refuses the job: no"})
    assert len(lines) == 2
    assert lines[0].startswith("llm-foundry runs on NVIDIA GPUs (CUDA), AMD GPUs (ROCm), not on "
                               "TPU-v5e, TPU-v6e, TPU-v5p, TPU-v4 (Google TPUs (XLA)); stacks for it: maxtext")
    assert lines[1] == "auto's stack on X1 refuses the job: no"


def test_a_plan_over_its_deadline_at_the_fast_end_says_so(catalog):
    """estimate of a fixed plan that takes 75.8 d against a 10 d deadline and $61.7k against a $50k budget read
    "at the slow end the run would be beyond the 10.0 d deadline ... and over the $50.0k budget", as if the predicted
    run kept them; the whole likely range misses both, and the line says it of the fast end."""
    from planner.present.terminal import accuracy_line

    raw = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 512, "precision": "bf16", "tokens": 1e12},
           "parallel": {"tp": 2, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
           "constraints": {"budget_usd": 50000, "deadline_hours": 240}}
    acc = estimate_job(load_job_dict(raw), catalog).to_json()["accuracy"]
    assert acc["hours_range"][0] > 240 and acc["cost_usd_range"][0] > 50000
    assert acc["fast_end_breaks"] == acc["slow_end_breaks"] and len(acc["fast_end_breaks"]) == 2
    line = accuracy_line(acc)
    assert "; even at the fast end the run would be beyond the 10.0 d deadline" in line and "slow end" not in line
    roomy = estimate_job(load_job_dict({**raw, "constraints": {"budget_usd": 250000}}), catalog).to_json()["accuracy"]
    assert roomy["fast_end_breaks"] == [] and "fast end" not in accuracy_line(roomy)


@pytest.mark.parametrize("nodes, said", [(1, False), (2, True)])
def test_one_fixed_node_is_not_told_its_network_was_assumed(catalog, nodes, said):
    """A bare A100 node of 6 GPUs (cluster.nodes: 1) read "inter-node network not stated — assumed 200 Gb/s per GPU
    ... a cluster without them runs its inter-node collectives slower than planned": no collective leaves one node.
    Two nodes keep the note."""
    raw = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 240, "micro_batch": 1, "precision": "bf16", "tokens": 1e10},
           "parallel": {"tp": 2, "pp": 1},
           "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 6, "nodes": nodes}}
    res = estimate_job(load_job_dict(raw), catalog).to_json()
    assert any("inter-node network not stated" in a for a in res["assumptions"]) is said
