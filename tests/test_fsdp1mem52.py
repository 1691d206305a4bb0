"""torch FSDP1 under the HF Trainer (``training.framework.fsdp_version: 1``), priced against what a real run holds
(tests/data/fsdp1_truth.json, tests/make_fsdp1_truth.py: a tiny Llama under accelerate's FSDP1 settings, gloo on CPU,
world size 2, 2 micro-batches a step, the first under ``no_sync`` as transformers' Trainer runs them):

* ``_mp_shard``: each all-gather reads a 16-bit copy of the rank's shard of the unit gathered, one at a time
  (planner.model.memory ``fsdp1_mp_shard_bytes``);
* under ``no_sync`` every unit keeps its unsharded gradient in ``param_dtype`` (bf16) until the last micro-batch's
  backward reduce-scatters it (``accumulates_unsharded``), whatever the sharding strategy;
* the Trainer's own FSDP version, 2, where the job names none (``defaults.TRAINER_FSDP_VERSION``).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.hf import hf_config_to_fields
from planner.spec.params import count_params

TRUTH = json.loads((Path(__file__).parent / "data" / "fsdp1_truth.json").read_text())
CASES = TRUTH["cases"]
MODEL = ModelSpec(**hf_config_to_fields(TRUTH["config"]))


def _job(version=1, micro_batches=1, precision="bf16"):
    return TrainingSpec(mode="full_finetune", precision=precision, weights="amp", grad_dtype="fp32",
                        optimizer="adamw", seq_len=TRUTH["shape"][1],
                        global_batch=TRUTH["shape"][0] * micro_batches * 4,  # (at DP 4: below)
                        framework={"name": "hf-trainer", **({} if version is None else {"fsdp_version": version})})


def _mem(t, dp, zero):
    c = dict(tp=1, pp=1, dp=dp, cp=1, ep=1, vpp=1, zero=zero, mb=TRUTH["shape"][0], rc=0, sp=False, schedule=0,
             gpus_per_node=8, nodes=1)
    return memory_per_gpu(MODEL, t, Candidates(**{k: np.atleast_1d(v) for k, v in c.items()}))


def test_mp_shard_is_the_gathered_units_shard():
    """At each all-gather exactly the gathered unit's 16-bit shard is live (``_mp_shard``, freed after the gather),
    and the planner's FSDP1 ZeRO-3 weights at DP 2 hold the largest of them beside the fp32 shard and two gathered
    layers; without it (until fsdp52) 36,992 B short. The run's model is the one priced: its parameters, and its
    largest unit a decoder layer."""
    case = CASES["FULL_SHARD"]
    assert case["params"] == count_params(MODEL).total == 106_816
    assert max(u["unsharded_numel"] for u in case["units"]) == 36_992
    for case in CASES.values():
        for g in case["gathers"]:
            assert g["input_dtype"] == "bfloat16" and g["mp_shard_live"] == g["input_bytes"] > 0
    mp_shard = max(g["mp_shard_live"] for g in CASES["FULL_SHARD"]["gathers"])
    n, layer = count_params(MODEL).total, 36_992
    root = CASES["FULL_SHARD"]["micro_batches"][0]["after_forward"][0]["full_param_padded"]  # (fsdp52b)
    w = float(_mem(_job(1), dp=2, zero=3)["weights"][0])
    assert w == pytest.approx(4 * n / 2 + 2 * layer * 2 + mp_shard + root)


@pytest.mark.parametrize("case", ["FULL_SHARD", "FULL_SHARD+frozen"])
def test_root_unit_stays_gathered(case):
    """FSDP1's root unit (embedding, final norm, LM head: what the transformer auto-wrap leaves outside the decoder
    blocks) keeps its unsharded bf16 flat parameter after every forward, where each block's is freed
    (``_post_forward_reshard``: ``not state._is_root``): 2 B an element of the root, the model's parameters outside
    its blocks. The planner's FSDP1 ZeRO-3 weights hold it beside the two gathered blocks, as FSDP2's root
    (``fsdp2_root_gather_params`` "embed_head"); until fsdp52b not at all (65,664 B short at DP 2)."""
    units = CASES[case]["units"]
    root_elems = units[0]["unsharded_numel"]
    h, v = TRUTH["config"]["hidden_size"], TRUTH["config"]["vocab_size"]
    assert root_elems == 2 * v * h + h  # embedding, LM head (untied), final norm
    for mb in CASES[case]["micro_batches"]:
        root, *blocks = mb["after_forward"]
        assert root["full_param_padded"] == 2 * root_elems and all(b["full_param_padded"] == 0 for b in blocks)
    one = float(_mem(_job(1), dp=2, zero=3)["weights"][0])
    four = float(_mem(_job(1), dp=4, zero=3)["weights"][0])
    n = count_params(MODEL).total
    assert one - four == pytest.approx(4 * n / 2 - 4 * n / 4 + 36_992 * 2 / 2 - 36_992 * 2 / 4)  # only shards move
    fsdp2 = float(_mem(_job(2), dp=2, zero=3)["weights"][0])
    assert one - fsdp2 == pytest.approx(36_992)  # FSDP2: the same root, no _mp_shard (one layer's bf16 shard)


@pytest.mark.parametrize("strategy,zero", [("FULL_SHARD", 3), ("SHARD_GRAD_OP", 2)])
def test_no_sync_holds_the_unsharded_gradient(strategy, zero):
    """After the non-syncing micro-batch every unit holds its unsharded bf16 gradient, the whole model's 2 B a
    parameter (independent of the world size), into the next micro-batch; the planner's gradients at DP 4 with 2
    micro-batches a step are those bytes (until fsdp52 the fp32 shard, 4 B / 4 a parameter: half of them), and at one
    micro-batch a step the fp32 shard the syncing backward leaves (the run's after its last backward, at DP 2)."""
    first, last = CASES[strategy]["micro_batches"]
    assert not first["sync"] and last["sync"]
    assert all(h["grad_unsharded"] and h["grad_dtype"] == "bfloat16" for h in first["after_backward"])
    assert all(h["grad_unsharded"] for h in last["after_forward"])  # still held through the next forward
    held = sum(h["grad_bytes"] for h in first["after_backward"])
    assert held == 2 * count_params(MODEL).total
    assert float(_mem(_job(1, micro_batches=2), dp=4, zero=zero)["grads"][0]) == pytest.approx(held)
    shard = sum(h["grad_bytes"] for h in last["after_backward"])
    assert all(h["grad_dtype"] == "float32" and not h["grad_unsharded"] for h in last["after_backward"])
    assert float(_mem(_job(1, micro_batches=1), dp=2, zero=zero)["grads"][0]) == pytest.approx(shard)
    # SHARD_GRAD_OP keeps the unsharded parameters from the first forward through the non-syncing backward: one
    # all-gather a unit a step, where FULL_SHARD gathers each micro-batch's forward and backward (the root once)
    units = len(CASES[strategy]["units"])
    per_step = units if strategy == "SHARD_GRAD_OP" else TRUTH["micro_batches"] * (1 + 2 * (units - 1))
    assert len(CASES[strategy]["gathers"]) == per_step


def test_unset_is_the_trainers_version_2():
    """Unset, the HF Trainer runs FSDP2 (transformers 5.23 ``_process_fsdp_args``: ``fsdp_config.get("version",
    2)``), said in the stack line; until fsdp52 the planner took accelerate's plugin default, 1."""
    from planner.model.stacks import from_training

    st = from_training(_job(None))
    assert st.fsdp_version == 2 and st.fsdp2_dp and not st.fsdp1_no_sync
    assert "fsdp_version=2 (unset: the HF Trainer's default" in st.describe(zero=3)
    given = from_training(_job(2))
    assert given.fsdp_version == 2 and "unset" not in given.describe(zero=3)
    assert from_training(_job(1)).fsdp1_no_sync


def test_frozen_base_blocks_hold_their_whole_flat_gradient_under_the_transformer_wrap():
    """A frozen base under FSDP1 wrapped by decoder layer alone (``use_orig_params``: each block one FlatParameter,
    frozen elements and trained alike): after the non-syncing backward each block holds its whole unsharded gradient
    in bf16, 2 B an element, the all-frozen root none; after the syncing one the rank's fp32 shard of the whole block.
    The HF Trainer does not run this wrap for a peft model (its adapters are units of their own, no block gradient:
    tests/test_qlora54b.py); fsdp52b to qlora54b priced it there."""
    case = CASES["FULL_SHARD+frozen"]
    assert case["trainable"] < case["params"]
    first, last = case["micro_batches"]
    root, blocks = case["units"][0], case["units"][1:]
    assert first["after_backward"][0]["grad_bytes"] == last["after_backward"][0]["grad_bytes"] == 0
    for u, held, synced in zip(blocks, first["after_backward"][1:], last["after_backward"][1:]):
        assert held["grad_unsharded"] and held["grad_dtype"] == "bfloat16"
        assert held["grad_bytes"] == 2 * u["unsharded_numel"]
        assert not synced["grad_unsharded"] and synced["grad_dtype"] == "float32"
        assert synced["grad_bytes"] == 4 * u["shard_numel"] == 4 * u["unsharded_numel"] / case["world_size"]
