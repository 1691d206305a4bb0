"""MaxText's scanned decoder holds one gathered layer at ZeRO-3, not FSDP's two (maxmem41): the layers run under
``nn.scan`` (base.yml ``scan_layers: True``), each iteration gathering its own layer's weights, and XLA prefetches no
next layer across the loop's iterations (AI-Hypercomputer/maxtext PR #4493: the gathers "lie exposed ... before every
layer's forward computation") unless a recipe's ``HOST_OFFLOAD_FLAGS`` pipeline the backward's
(``--xla_tpu_enable_ag_backward_pipelining=true``: option ``ag_backward_pipelining``)."""
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from planner.model import stacks
from planner.model.memory import gathered_blocks, memory_per_gpu
from planner.spec.params import count_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

GIB = 2**30


def _gpt3_row():
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV)
    return validate, next(r for r in d.itertuples() if r.id == "maxtext_v6e_gpt3-175b_256")


def test_gpt3_175b_holds_one_gathered_layer():
    """GPT-3 175B on v6e-256 (FSDP 256, weight_dtype float32): the weights are the fp32 shard (4 B a parameter over
    256 chips, 2.54 GiB) and one gathered bf16 layer (12 d^2 + biases, 3.38 GiB): 5.92 GiB, was 9.29 with two; the
    row's total 34.6 -> 31.2 GiB, under the chip's 32 (32.4 since maxmem42's unreduced gradient)."""
    validate, r = _gpt3_row()
    m, t, c, st = validate.maxtext_case(r, validate.MAXTEXT_HOST_CHIPS)
    got = memory_per_gpu(m, t, c, stack=st)
    layer = count_params(m).total / m.layers  # the largest unit: one decoder layer (the ends are few: 0.6B of 175B)
    shard = 4.0 * count_params(m).total / 256
    assert float(got["weights"][0]) == pytest.approx(shard + 2.0 * layer, rel=0.01)
    assert float(got["weights"][0]) / GIB == pytest.approx(5.92, abs=0.01)
    # 31.24 GiB with one gathered layer; since maxmem42 + 1.18 (its MLP matrix's unreduced bf16 gradient beside the
    # rebuild, 1.125, and that term's 5% allocator reserve): tests/test_maxmem42.py
    # 32.42 until tpumem42 priced a TPU's ``other`` as the 0.754 GiB XLA withholds, not a GPU's 1.85
    assert float(got["total"][0]) / GIB == pytest.approx(31.32, abs=0.01)


def test_backward_pipelining_holds_two_and_fsdp_keeps_its_two():
    """``ag_backward_pipelining: true`` holds the next layer beside the one in use (the GPT-3 row's weights + 3.38 GiB);
    a stack that is no scan (torchtitan's FSDP2) holds two whatever MaxText does."""
    validate, r = _gpt3_row()
    m, t, c, st = validate.maxtext_case(r, validate.MAXTEXT_HOST_CHIPS)
    piped = stacks.resolve("maxtext", remat_policy="full", ag_backward_pipelining=True)
    one, two = (float(memory_per_gpu(m, t, c, stack=s)["weights"][0]) for s in (st, piped))
    assert (two - one) / GIB == pytest.approx(3.38, abs=0.01)
    assert (gathered_blocks(st), gathered_blocks(piped), gathered_blocks(stacks.resolve("torchtitan"))) == (1, 2, 2)
    assert "ag_backward_pipelining=on" in piped.describe(precision="bf16", zero=3)
    assert piped.options()["ag_backward_pipelining"] is True


def test_recipes_with_host_offload_flags_pipeline():
    """The workloads whose XLA flags add HOST_OFFLOAD_FLAGS (Llama 3.1 8B / 70B / 405B, Mistral 7B) take the option;
    GPT-3, Llama 2 70B, Mixtral and Gemma3 do not."""
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV)
    piped = {r.id for r in d.itertuples() if validate.maxtext_xla_flags(r).get("ag_backward_pipelining")}
    assert piped == {i for i in d["id"] if "llama31" in i or "mistral" in i}
    assert all(w in set(d["workload"]) for w in validate.MAXTEXT_AG_BACKWARD_PIPELINING)


def test_option_refused_off_a_scanned_stack(cli, tmp_path):
    """The option names XLA's scanned-loop gathers: a torch stack (megatron-core) has none and refuses it."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e9,
                        "framework": {"name": "megatron-core", "ag_backward_pipelining": True}},
           "parallel": {"tp": 1, "dp": 8}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1, "gpus_per_node": 8}}
    f = tmp_path / "job.yaml"
    f.write_text(yaml.safe_dump(job))
    code, out, err = cli("estimate", str(f))
    assert code == 2
    assert err.strip().startswith("error: training.framework.ag_backward_pipelining: megatron-core has no scanned "
                                  "layers' all-gather pipelining")
    assert "(it runs on maxtext)" in err
    assert "\n" not in err.strip()
