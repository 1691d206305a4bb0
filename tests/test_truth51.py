"""truth51: the peft truth's weights told by identity everywhere, and the HF Trainer's FSDP version as an input.

* tests/make_peft_truth.py ``_blocks_saves`` split the unsharded runs' saves by shape (a save shaped as its module's
  weight or the transpose was a weight): GPT-2's ``c_fc`` ``lora_B`` input, 2 x 128 tokens x r 16, is its 256 x 16
  weight's shape, so 8,192 B a layer of activations read as weights (loraf51 fixed it under FSDP2 only). Now every run
  tells a weight by where it came from (tests/make_hf_common.py ``WeightCopies``: the parameters, their per-call
  casts, copies and views), and the JSON was regenerated.
* ``training.framework.fsdp_version`` (hf-trainer: accelerate's FSDP plugin): unset was 2 on a bf16 base with peft's
  fp32 adapters and accelerate's default 1 elsewhere (since fsdp52 unset is 2, the HF Trainer's, everywhere); a bad
  version is refused in one line; the memory reads the version (FSDP2 casts each block's input to ``param_dtype``).
  (1 on a bf16-base LoRA was refused from QA 103 to qlora54b: tests/test_qlora54b.py measures it running.)
"""
from __future__ import annotations

import pytest
from conftest import PEFT_TRUTH, lora_job, refused, write_job

AMP = PEFT_TRUTH["amp_families"]


def _unsharded_runs():
    for fam, rec in sorted(AMP.items()):
        for case, c in sorted(rec["cases"].items()):
            if not c.get("fsdp2"):
                yield from ((f"{fam}-{case}", c["precision"], run) for run in c["runs"])
    for case, rec in sorted(PEFT_TRUTH["stream"].items()):
        if not rec.get("fsdp2"):
            yield from ((f"llama-{case}", rec["precision"], run) for run in rec["runs"])


def test_no_unsharded_adapter_save_is_a_weight():
    """Unsharded, peft's adapters are trainable leaves: autograd saves them as themselves (the parameter, not
    counted) or their autocast casts, which carry a ``grad_fn`` and are counted apart (``param_casts``), so no save of
    a ``lora_A`` / ``lora_B`` module is a weight; and a pure-bf16 model casts nothing per call, so it saves no weight
    at all. The shape split broke both (GPT-2's ``c_fc`` ``lora_B`` input in three cases: pure bf16 16,384 B)."""
    seen = 0
    for name, precision, run in _unsharded_runs():
        weights = [s for s in run["layer_saves"] if s[-1] == "weight"]
        assert not [s for s in weights if ".lora_" in "." + s[0]], name
        assert run["weight_saves_bytes"] + run["blocks_activation_bytes"] == run["blocks_saved_bytes"], name
        if precision == "bf16":
            assert run["weight_saves_bytes"] == 0, name
        seen += 1
    assert seen == 2 * (3 * 3 + 4)  # GPT-2 / BERT / Mixtral x 3 cases, the tiny Llama's 4 unsharded bases; gc or not


def test_the_fp32_base_under_fsdp2_is_recorded():
    c = AMP["bert"]["cases"]["fp32_base_fsdp2"]
    assert c["fsdp2"] and c["base"] == "fp32" and [r["gradient_checkpointing"] for r in c["runs"]] == [False, True]


@pytest.mark.parametrize("base,given,runs", [("bf16", None, 2), ("fp32", None, 2), ("bf16", 2, 2), ("fp32", 2, 2),
                                             ("fp32", 1, 1)])
def test_the_version_that_runs(base, given, runs):
    """Unset: 2, the HF Trainer's (transformers 5.23 ``TrainingArguments`` passes ``fsdp_config.get("version", 2)``
    to accelerate; until fsdp52 accelerate's plugin default 1 where FSDP1 could flatten the blocks: the fp32 base's
    unset case failed here); a version given is the one run. Said in the stack line where the plan shards
    (ZeRO-2/3)."""
    from planner.model.finetune import fsdp_version
    from planner.model.stacks import from_training

    m, t, _ = lora_job(AMP["bert"]["config"], base)
    if given is not None:
        t = t.model_copy(update={"framework": t.framework.model_copy(update={"fsdp_version": given})})
    st = from_training(t)
    assert fsdp_version(st) == st.fsdp_version == runs
    assert f"fsdp_version={runs}" in st.describe(zero=3) and "fsdp_version" not in st.describe(zero=0)


def test_other_stacks_have_no_version():
    from planner.model.finetune import fsdp_version
    from planner.model.stacks import from_training

    for name in ("deepspeed", "dle-bert", "torchtitan"):
        _, t, _ = lora_job(AMP["bert"]["config"], "bf16", name)
        assert fsdp_version(from_training(t)) is None


def _bert_lora(fsdp_version: int, base: str, framework: str = "hf-trainer") -> dict:
    return {"model": {"preset": "bert-large"},
            "training": {"mode": "lora", "precision": "bf16", "base_weights": base, "seq_len": 512,
                         "global_batch": 64, "micro_batch": 8, "steps": 10, "flash_attention": False,
                         "framework": {"name": framework, "fsdp_version": fsdp_version},
                         "lora": {"rank": 16, "alpha": 32, "targets": "all-linear"}},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3}}


def test_fsdp_version_is_read_and_checked(tmp_path, cli):
    """Over an fp32 base FSDP1 runs (over a bf16 one too: tests/test_qlora54b.py). A stack without accelerate's FSDP
    has no such option (its line names the one that has); a version that is neither 1 nor 2 is refused."""
    code, _, err = cli("estimate", write_job(tmp_path, _bert_lora(1, "fp32"), "fp32.yaml"), "--json")
    assert code == 0, err
    line = refused(cli("estimate", write_job(tmp_path, _bert_lora(2, "bf16", "deepspeed"), "ds.yaml"), "--json"))
    assert line.startswith("error: training.framework.fsdp_version: deepspeed has no accelerate FSDP"), line
    line = refused(cli("estimate", write_job(tmp_path, _bert_lora(3, "bf16"), "three.yaml"), "--json"))
    assert line.startswith("error: training.framework.fsdp_version: "), line


@pytest.mark.parametrize("gc", [False, True], ids=["nogc", "gc"])
def test_the_memory_reads_the_version(gc):
    """BERT LoRA over an fp32 base, gathered at ZeRO-3: under FSDP2 each block's input is cast to bf16 (torch 2.13
    ``_fsdp_state.py`` ``_cast_forward_inputs``) and q / k / v's adapters share it -- measured (``amp_families``
    ``fp32_base_fsdp2``, the GPU's 1 B dropout masks): exact, where the FSDP1 pricing it had before (no option)
    misses the checkpointed blocks by +100%; FSDP1 (``fsdp_version: 1``) keeps the fp32 inputs."""
    from conftest import LORA_TOL, lora_gpu_blocks
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_stream
    from planner.model.stacks import from_training

    c = AMP["bert"]["cases"]["fp32_base_fsdp2"]
    run = next(r for r in c["runs"] if r["gradient_checkpointing"] is gc)
    m, t, _ = lora_job(AMP["bert"]["config"], "fp32")
    jobs = {v: t.model_copy(update={"framework": t.framework.model_copy(update={"fsdp_version": v})}) for v in (1, 2)}
    keep = {v: float(frozen_layer_activation_bytes(m, tt, run["seq"], run["batch"], 2 if gc else 0,
                                                   frozen_stream(tt, st, 3), stack=st)[0])
            for v, tt in jobs.items() for st in (from_training(tt),)}
    truth = lora_gpu_blocks("bert", run, "blocks_saved_bytes" if gc else "blocks_activation_bytes")
    assert m.layers * keep[2] == pytest.approx(truth, rel=LORA_TOL)
    assert keep[1] > keep[2]
