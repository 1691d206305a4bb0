"""MaxText's rows over their chip's HBM, term by term (mxmem38): what the maxtext stack holds that the stored MaxText /
optax / XLA code does not -- autocast's 16-bit copy of the fp32 shard (flax casts per use inside the scanned layer),
fp32 Adam moments under ``weight_dtype: bfloat16`` (optax keeps them at the parameters' dtype) and the loss's logits
beside a layer's rebuild (one XLA program: never live together) -- and the vocabulary tiles MaxText refuses."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from planner.model import stack_rules, stacks
from planner.model.activations import logits_bytes
from planner.model.memory import memory_per_gpu, model_state_bytes_per_param

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_maxtext37 import QKV_OFFLOAD, llama70b_case  # noqa: E402

GIB = 2**30


def _mem(m, t, c, **opts):
    return {k: float(v[0]) for k, v in memory_per_gpu(m, t, c, stack=stacks.resolve("maxtext", **opts)).items()
            if np.ndim(v) == 1}


def test_no_16bit_copy_of_the_fp32_shard():
    """``weight_dtype: float32`` (``weights: amp``): 4 B a parameter of the shard, not 4 + autocast's 2; a torch stack
    under AMP keeps its 6."""
    m, t, c = llama70b_case()
    assert model_state_bytes_per_param(t, m.hidden, stacks.resolve("maxtext"))[0] == 4.0
    assert model_state_bytes_per_param(t, m.hidden, stacks.resolve("megatron-core"))[0] == 6.0
    got = _mem(m, t, c, remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    from planner.spec.params import count_params
    per_chip = count_params(m).total / 256
    gathered = got["weights"] - 4.0 * per_chip  # the fp32 shard and the gathered layer(s) (16-bit), no copy
    assert 0 < gathered < 2 * 2.0 * count_params(m).total / m.layers * 1.3


def test_optax_moments_follow_bf16_weights():
    """``weight_dtype: bfloat16`` (``weights: pure``): optax's mu (mu_dtype "" -> weight_dtype) and nu (params' dtype)
    are 2 B each: Llama 3.1 70B on v6e-32, 16.4 -> 8.2 GiB of moments a chip."""
    m, t, c = llama70b_case(mb=2, chips=32)
    t = t.model_copy(update=dict(weights="pure"))
    c.dp = np.array([32])
    assert model_state_bytes_per_param(t, m.hidden, stacks.resolve("maxtext"))[3] == 4.0
    assert model_state_bytes_per_param(t, m.hidden, stacks.resolve("torchtitan"))[3] == 8.0
    got = _mem(m, t, c, remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    from planner.spec.params import count_params
    assert got["optimizer"] / GIB == pytest.approx(count_params(m).total / 32 * 4.0 / GIB, rel=1e-3)
    # fp32 weights keep fp32 moments
    amp = t.model_copy(update=dict(weights="amp"))
    assert model_state_bytes_per_param(amp, m.hidden, stacks.resolve("maxtext"))[3] == 8.0


def test_logits_and_rebuild_are_not_held_together():
    """The 70B v6e-256 recipe row: the logits (fp32 exp_shifted, 19.6 GiB + the hidden rows, 20.8 in all) and one
    layer's rebuild (12.7 GiB) were summed; the peak holds the larger, so the logits term is what they exceed the
    rebuild by, and the activations (the embedding output and the rebuild) stay."""
    m, t, c = llama70b_case()
    st = stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    new = memory_per_gpu(m, t, c, stack=st)
    whole = float(logits_bytes(m, 8192, 5))  # + the "torch_ce_compiled" loss's 0 beyond
    assert whole / GIB == pytest.approx(20.82, abs=0.01)
    # the loss's backward also holds the head's gradient and gathered kernel in place of a layer (tpumem42)
    from planner.model.memory import scan_loss_weights
    from planner.spec.params import count_params
    layer = float(new["weights"][0]) - 4.0 * count_params(m).total / 256  # the one gathered bf16 layer
    rebuild = whole + float(scan_loss_weights(m, st, c, 2.0, np.array([layer]), 2.0)[0]) - float(new["logits"][0])
    # the layer's rebuild (12.67) and, since maxmem42, beside it the 8192 x 28672 MLP matrix's unreduced bf16
    # gradient before its reduce-scatter (0.44 GiB, memory_activations.scan_grad_transient)
    assert rebuild / GIB == pytest.approx(12.67 + 8192 * 28672 * 2 / GIB, abs=0.01)
    emb_out = 5 * 8192 * m.hidden * 2.0  # the rest of the activations: the embedding's output
    assert float(new["activations"][0]) == pytest.approx(rebuild + emb_out, rel=1e-6)
    # the run ran on v6e's 32 GiB; with the rebuild counted twice (the sum, until mxmem38) it would not have
    assert float(new["total"][0]) + rebuild > 32.0 * GIB > float(new["total"][0])


def test_recipe_rows_under_the_chip():
    """Every tpu-recipes row fits v6e's 32 GiB. GPT-3 175B (full remat: its 96 layer inputs on the chip) was 34.6 GiB
    until maxmem41 held one gathered layer, 32.4 under maxmem42's unreduced matrix gradient with ``other`` at a GPU's
    allowances (1.85 GiB), 31.32 since tpumem42 prices a TPU's ``other`` as the HBM the XLA runtime withholds (0.75 GiB:
    JAX's ``bytes_limit`` 33550237696 of 32 GiB); with the LM head's gradient and gathered kernel at the loss
    (tpumem42) the tightest, Llama 3.1 70B v6e-256, is 31.81."""
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV)
    for r in d.itertuples():
        g = validate.MAXTEXT_HOST_CHIPS if int(r.num_slices) == 1 else int(r.chips) // int(r.num_slices)
        m, t, c, st = validate.maxtext_case(r, g)
        got = memory_per_gpu(m, t, c, stack=st, gpu=r.tpu)
        assert float(got["total"][0]) / GIB < 32.0, r.id


def test_vocab_tiles_must_divide_a_chips_tokens(cli, tmp_path):
    """MaxText configs/types.py: 'Per device batch size times sequence length should be divisible by the number of
    vocab tiles.' -- 4,096 tokens in 3 tiles refused with the field, 3 x 4,096 taken."""
    rule = next(r for r in stack_rules.RULES if r.name == "maxtext-vocab-tiles")
    assert rule.field == "training.framework.num_vocab_tiling"
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "full", "tokens": 1e9,
                        "framework": {"name": "maxtext", "num_vocab_tiling": 3}},
           "parallel": {"tp": 1, "dp": 64, "zero": 3}, "cluster": {"instance": "gcp:tpu-v6e-64", "nodes": 1}}
    f = tmp_path / "job.yaml"
    f.write_text(yaml.safe_dump(job))
    code, out, err = cli("estimate", str(f))
    assert code == 2 and err.strip().startswith("error: training.framework.num_vocab_tiling: ")
    assert len(err.strip().splitlines()) == 1 and "vocab tiles" in err
    job["training"].update(micro_batch=3, global_batch=192)
    f.write_text(yaml.safe_dump(job))
    code, out, err = cli("estimate", str(f))
    assert code == 0, err
    # per_device_batch_size is global batch / chips: at TP 2 a micro-batch's 8,192 tokens are 4,096 a chip, so 8,192
    # tiles do not divide them (QA 54: taken until the rule divided by tp x cp) and 4,096 do
    job["training"].update(seq_len=8192, micro_batch=1, global_batch=32,
                           framework={"name": "maxtext", "num_vocab_tiling": 8192})
    job["parallel"].update(tp=2, dp=32)
    f.write_text(yaml.safe_dump(job))
    code, out, err = cli("estimate", str(f))
    assert code == 2 and "tp x cp = 2 chips in 8192 tiles" in err, err
    job["training"]["framework"]["num_vocab_tiling"] = 4096
    f.write_text(yaml.safe_dump(job))
    code, out, err = cli("estimate", str(f))
    assert code == 0, err


def test_optax_moments_halve_the_optimizer_pass():
    """The bf16 moments are read and written at 2 B too: the 70B v6e-32 row's optimizer pass moves 16 B a local
    parameter, not 32 (the time of at least 16 B a parameter of the shard at the chip's HBM peak saved)."""
    import validate
    cat = validate.load_catalog()
    hw = validate.hw_option(cat, "TPU-v6e", 8, validate.MAXTEXT_ICI_GBPS_PER_CHIP * 8)
    m, t, c = llama70b_case(mb=2, chips=32)
    t = t.model_copy(update=dict(weights="pure"))
    st = stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    from planner.model.step_time import step_time
    from planner.spec.params import count_params
    new = float(step_time(m, t, c, hw, framework=st)["step_time_s"][0])
    old = float(step_time(m, t, c, hw, framework=dataclasses.replace(st, moments_like_params=False))["step_time_s"][0])
    floor = count_params(m).total / 32 * 16.0 / hw.gpu.hbm_bw
    assert floor <= old - new <= 3 * floor
