"""QA pass 48: an ML engineer fine-tuning 1B-70B models on 1-16 GPUs (full fine-tune, LoRA, QLoRA, gradient
checkpointing, packing, 8k-32k tokens) through estimate / recommend / compare / simulate / report; each defect found
with the check that failed before its fix (docs/qa_log.md, "QA 48")."""
from __future__ import annotations

import json

from conftest import write_job

# QLoRA of Llama-3.1-8B on one L40S, as a small team runs it (peft on the HF Trainer, gradient checkpointing)
QLORA_8B = """
model: {preset: llama3.1-8b}
training:
  mode: qlora
  lora: {rank: 16, alpha: 32, targets: TARGETS}
  seq_len: 4096
  global_batch: 16
  micro_batch: 1
  recompute: full
  dataset_samples: 10000
  mean_example_tokens: 1200
  epochs: 2
parallel: {tp: 1, pp: 1, dp: 1}
cluster: {instance: aws:g6e.xlarge}
"""


def _job(tmp_path, targets: str, name: str = "job.yaml"):
    return write_job(tmp_path, QLORA_8B.replace("TARGETS", targets), name)


def test_a_head_or_embedding_target_is_refused_as_unmodelled_not_as_absent(cli, tmp_path):
    """peft adapts ``lm_head`` (an nn.Linear) and ``embed_tokens`` (lora.Embedding) when a target list names them.
    ``[lm_head]`` read "adapt no linear of model ... (peft refuses it)", and ``[q_proj, v_proj, lm_head]`` was priced
    as q_proj and v_proj alone (6.82M adapters where peft trains 8.94M); both are now one line saying the planner
    does not model them, with their size, from estimate and recommend alike."""
    for targets in ("[lm_head]", "[q_proj, v_proj, lm_head]", "[embed_tokens, q_proj]"):
        job = _job(tmp_path, targets)
        for cmd in (("estimate", job), ("recommend", job, "--no-simulate")):
            code, out, err = cli(*cmd)
            assert code == 2, (targets, cmd, out)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: training.lora.targets: "), err
            assert "peft refuses" not in err and "outside the transformer blocks" in err, err
            assert "2,117,632 parameters" in err, err  # 16 x (128,256 + 4,096)
    # the blocks' own names are unchanged
    code, out, err = cli("estimate", _job(tmp_path, "[q_proj, v_proj]"), "--json")
    assert code == 0, err


def test_a_target_name_matching_nothing_beside_others_is_named(cli, tmp_path):
    """peft passes over a list entry that matches no module when another matches; the advice line listed it with the
    adapted ones ("rank 16, q_proj,v_proj,foo") as if it were trained. It now says which names matched nothing, in
    the text and the JSON; the adapter count is the others' (6.82M)."""
    code, out, err = cli("estimate", _job(tmp_path, "[q_proj, v_proj, foo]"), "--json")
    assert code == 0, err
    advice = " ".join(json.loads(out)["advice"])
    assert "6.82M adapter parameters" in advice, advice
    assert "foo matches no module of llama3.1-8b: only the other targets are adapted" in advice, advice
    code, out, err = cli("estimate", _job(tmp_path, "all-linear"), "--json")
    assert code == 0, err
    assert "matches no module" not in " ".join(json.loads(out)["advice"])


# a 1.24B Llama-3.2-1B-shaped full fine-tune on one L40S
FULL_1B = """
model: {family: decoder, layers: 16, hidden: 2048, heads: 32, kv_heads: 8, ffn_hidden: 8192, vocab: 128256,
        mlp: swiglu, tied_embeddings: true}
training:
  mode: full_finetune
  seq_len: 4096
  global_batch: 32
  micro_batch: 1
  optimizer: OPT
  recompute: full
  framework: FW
  dataset_samples: 20000
  mean_example_tokens: 1000
  epochs: 2
parallel: {tp: 1, pp: 1, dp: 1, zero: 0}
cluster: {instance: aws:g6e.xlarge}
"""


def test_torchtitan_refuses_an_optimizer_its_code_does_not_build(cli, tmp_path):
    """torchtitan's ``build_optimizers`` builds Adam and AdamW (Muon from its experiments) and raises
    NotImplementedError for any other name; adam8bit, Lion, Adafactor and SGD were priced on it (a 1.24B full
    fine-tune with 8-bit Adam: 7.90 s a step, 2 bytes of optimizer state a parameter). They are refused by name; the
    HF Trainer, whose ``optim`` builds them, still prices them, and ``framework: auto`` leaves torchtitan out."""
    for opt in ("adam8bit", "lion", "adafactor", "sgd", "sgd_momentum"):
        job = write_job(tmp_path, FULL_1B.replace("OPT", opt).replace("FW", "torchtitan"), f"{opt}.yaml")
        code, out, err = cli("estimate", job)
        assert code == 2, (opt, out)
        assert err.strip() == err.strip().splitlines()[0], err
        assert err.startswith(f"error: training.optimizer: torchtitan builds adamw, adam, muon only, not {opt} "), err
        code, out, err = cli("estimate", write_job(tmp_path, FULL_1B.replace("OPT", opt).replace("FW", "hf-trainer"),
                                                   f"hf-{opt}.yaml"), "--json")
        assert code == 0, (opt, err)
    code, out, err = cli("estimate", write_job(tmp_path, FULL_1B.replace("OPT", "adamw").replace("FW", "torchtitan"),
                                               "adamw.yaml"), "--json")
    assert code == 0, err
    code, out, err = cli("recommend", write_job(tmp_path, FULL_1B.replace("OPT", "adam8bit").replace("FW", "auto"),
                                                "auto.yaml"), "--no-simulate", "--json")
    assert code == 0, err
    titan = [s for s in json.loads(out)["stacks"] if s["framework"] == "torchtitan"]
    assert titan and titan[0]["status"] == "refused" and "not adam8bit" in titan[0]["reason"], titan


QLORA_7B_8K = """
model: {preset: qwen2.5-7b}
training:
  mode: qlora
  lora: {rank: 64, alpha: 16, targets: all-linear}
  seq_len: 8192
  global_batch: 16
  dataset_samples: 20000
  mean_example_tokens: 1500
  epochs: 1
  # the eager loss: with Liger's fused cross-entropy searched (liger36) the A10G and L4 plans fit
  framework: {name: hf-trainer, fused_cross_entropy: false}
constraints: {gpus: [A10G-24GB, L4-24GB, L40S-48GB], max_gpus: 1}
"""


def test_a_listed_gpu_with_no_plan_is_named_with_its_nearest_layout(cli, tmp_path):
    """Qwen2.5-7B QLoRA r64 at 8,192 tokens on one GPU of three listed: only the L40S fits. recommend ranked, and
    compare showed, the L40S alone with no word of the A10G and L4 the user asked about; each is now named where the
    ranking is, with the nearest layout (34.1 GiB against 21.2 GiB allowed), in the text and recommend's JSON."""
    job = write_job(tmp_path, QLORA_7B_8K)
    code, out, err = cli("recommend", job, "--no-simulate", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {p["hardware"]["gpu"] for p in res["ranked"]} == {"L40S-48GB"}
    no_plan = [c for c in res["caveats"] if c.startswith("constraints.gpus: no plan — ")]
    assert len(no_plan) == 2, res["caveats"]
    for gpu, inst in (("A10G-24GB", "aws:g5."), ("L4-24GB", "aws:g6.")):
        line = next(c for c in no_plan if f"— {gpu}: " in c)
        assert "no layout fits in its memory (nearest: 1 x " + inst in line and "21.2 GiB allowed per GPU" in line, line
    code, out, err = cli("compare", job)
    assert code == 0, err
    text = " ".join(out.split())
    assert "no plan — A10G-24GB: no layout fits in its memory" in text and "no plan — L4-24GB:" in text, text
    # every listed GPU with a plan: no such line
    code, out, err = cli("recommend", write_job(tmp_path, QLORA_7B_8K.replace("A10G-24GB, L4-24GB, ", ""), "l40s.yaml"),
                         "--no-simulate", "--json")
    assert code == 0, err
    assert not [c for c in json.loads(out)["caveats"] if "no plan" in c]


def test_a_walked_full_fine_tune_says_its_gradients_are_in_activations(cli, tmp_path):
    """A full fine-tune on one HF Trainer process read "grads 0.00" beside 1.24B trainable parameters: the HF code's
    walked step holds autograd's fp32 .grad tensors (4.6 GiB) inside "activations", and the grads row is the stack's
    own buffers (none without DDP). The JSON says so (``grads_in_activations``) and the memory table's caption names
    it; a Megatron-Core plan and a LoRA plan, whose gradients are the grads row, do not."""
    job = write_job(tmp_path, FULL_1B.replace("OPT", "adamw").replace("FW", "hf-trainer"))
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    mem = json.loads(out)["memory_per_gpu_bytes"]
    assert mem["grads"] == 0.0 and mem["grads_in_activations"] is True, mem
    code, out, err = cli("estimate", job)
    assert code == 0, err
    assert "autograd's .grad tensors are in" in out and "walked peak" in " ".join(out.split()), out
    for other in (FULL_1B.replace("OPT", "adamw").replace("FW", "megatron-core"), QLORA_8B.replace("TARGETS", "all-linear")):
        code, out, err = cli("estimate", write_job(tmp_path, other, "other.yaml"), "--json")
        assert code == 0, err
        assert json.loads(out)["memory_per_gpu_bytes"]["grads_in_activations"] is False


def test_a_single_module_name_is_refused_with_the_list_it_needs(cli, tmp_path):
    """``targets: q_proj`` read "must be one of qkvo, all-linear, got 'q_proj'", naming no way to adapt one module;
    it now says a single module is a list of one, and ``[q_proj]`` is planned (4.19M adapters at rank 16)."""
    code, out, err = cli("estimate", _job(tmp_path, "q_proj"))
    assert code == 2, out
    assert err.strip() == ("error: training.lora.targets: must be one of qkvo, all-linear or a list of module names "
                           "(a single module is a list of one: [q_proj]), got 'q_proj'"), err
    code, out, err = cli("estimate", _job(tmp_path, "[q_proj]"), "--json")
    assert code == 0, err
    assert "4.19M adapter parameters" in " ".join(json.loads(out)["advice"])
