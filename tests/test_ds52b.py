"""ds52b: metaseq's fairscale FSDP under mixed precision, DeepSpeed's torch_autocast gradient reduce and stack line.

* metaseq wraps its fp32 model in fairscale's FSDP with ``mixed_precision=True`` and a 16-bit ``compute_dtype``: the
  rank keeps the fp32 flat shard (the master) and frees the 16-bit shard once each all-gather is issued, so under AMP
  its ZeRO-3 holds 4/N B a parameter plus the gathered units, its ZeRO-2 (``--no-reshard-after-forward``) 4/N B plus
  the 16-bit parameters whole: ``Stack.fsdp_zero2_param_dtype`` (planner.model.memory ``fsdp_amp_keys``);
* under DeepSpeed's ``torch_autocast`` section the ZeRO 1-3 wrappers reduce the tagged ``nn.Linear`` gradients in the
  autocast dtype and the rest in fp32 (``stacks.grad_reduce_bytes``);
* the deepspeed stack's stack line names the DeepSpeed config section its ``mixed_precision: amp`` is."""
import pytest

from planner.spec import load_job_dict
from planner.spec.params import count_params
from test_dsamp52 import LAYER8B, N8B, _job, _mem


@pytest.mark.parametrize("zero, expected", [(3, 4 * N8B / 8 + 2 * LAYER8B * 2 + 2 * LAYER8B / 8), (2, 4 * N8B / 8 + 2 * N8B)])
def test_metaseq_fairscale_fsdp_amp_keeps_the_fp32_shard_and_no_autocast_copy(zero, expected):
    """Llama-3-8B, 8 ranks, metaseq under AMP. ZeRO-3: 4/8 B a parameter of fp32 shard and two bf16 layers gathered
    (4.55 GiB, llm-foundry's FSDP1 figure) and the gathered unit's 16-bit shard (fairscale's ``_fp16_shard``, freed
    by ``_free_fp16_param_shard`` after each all-gather, as torch FSDP1's ``_mp_shard``: 2/8 B of a layer); ZeRO-2: the shard and the bf16 gathered parameters whole (18.70 GiB).
    Before: (4 + 2)/8 B a parameter at ZeRO-3 (6.42 GiB) and 6 B whole at ZeRO-2 (44.87 GiB)."""
    assert _mem(_job({"name": "metaseq"}), zero=zero)["weights"][0] == pytest.approx(expected)


def _amp_job(zero, options=None):
    """Llama-3-8B on the deepspeed stack under DeepSpeed's torch_autocast section (``mixed_precision: amp``,
    ``weights: amp``), DP 16 on two H100 nodes (tests/test_left6.py's layout)."""
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "weights": "amp", "tokens": 1e12,
                                       "framework": {"name": "deepspeed", "mixed_precision": "amp", **(options or {})}},
                          "parallel": {"pp": 1, "tp": 1, "cp": 1, "dp": 16, "zero": zero, "sequence_parallel": False},
                          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 2, "gpus_per_node": 8}})


@pytest.mark.parametrize("zero", [1, 2, 3])
def test_torch_autocast_reduces_the_linears_in_bf16_and_the_rest_in_fp32(zero):
    """ZeRO 1-3 reduce-scatter each parameter in its tagged comm dtype, whatever ``communication_data_type`` says:
    Llama-3-8B's nn.Linear parameters (all but the untied embedding and the norms) in bf16, the rest in fp32. Before,
    all of it in fp32 (4 B an element)."""
    from test_left6 import _coll, _dp

    job = _amp_job(zero)
    m = job.model
    n = float(count_params(m).total)
    fp32 = m.vocab * m.hidden + m.hidden * (2 * m.layers + 1)  # the embedding, two RMSNorms a layer, the final norm
    want = _coll("reduce_scatter", 2.0 * (n - fp32) + 4.0 * fp32, _dp(job, zero)[1])
    for options in (None, {"communication_data_type": "fp32"}):
        assert float(_dp(_amp_job(zero, options), zero)[0]["rs"][0]) == pytest.approx(want, rel=1e-6)


def test_torch_autocast_zero0_all_reduces_in_the_engines_comm_dtype():
    """ZeRO-0 reduces through the engine's ``communication_data_type`` (fp32 for an fp32 module): unchanged."""
    from test_left6 import _coll, _dp

    job = _amp_job(0)
    D, hw = _dp(job, 0)
    assert float(D["t_dp"][0]) == pytest.approx(_coll("all_reduce", 4.0 * float(count_params(job.model).total), hw),
                                                rel=1e-6)


def test_stack_line_and_launch_name_deepspeeds_torch_autocast_section():
    """``mixed_precision: amp`` on DeepSpeed is its torch_autocast section with bf16 / fp16 off: the stack line and the
    launch's note say which config (before: "mixed_precision=amp" alone, and no note); the HF Trainer's line keeps
    "amp"."""
    from planner.model.stacks import STACKS, from_training
    from planner.present.emit import emit_launch_spec
    from planner.workloads.training import estimate_job

    section = '"torch_autocast": {"enabled": true, "dtype": "bfloat16"}'
    job = _amp_job(2)
    assert f"mixed_precision=amp ({section}; bf16 / fp16 sections off)" in from_training(job.training).describe("bf16")
    assert "mixed_precision=amp," in STACKS["hf-trainer"].describe("bf16")
    script = emit_launch_spec(job, estimate_job(job), "torchrun")
    assert f"# note: the plan's AMP is DeepSpeed's {section} with the bf16 / fp16 sections off" in script


@pytest.mark.parametrize("preset", ["gpt2", "mixtral-8x7b"])
def test_torch_autocast_tags_only_nn_linear(preset):
    """GPT-2's projections are transformers' Conv1D, which DeepSpeed does not tag: only the (tied) LM head reduces in
    bf16. Mixtral's routed experts are 3-D parameters of its experts module: fp32, the dense part as Llama's."""
    from planner.model.stacks import autocast_reduce_bytes, from_training

    job = load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 1024, "global_batch": 64, "weights": "amp", "framework": {"name": "deepspeed",
                                                                          "mixed_precision": "amp"}}})
    m = job.model
    dense, experts = autocast_reduce_bytes(from_training(job.training), m, job.training)
    pc = count_params(m)
    if preset == "gpt2":
        head = m.vocab * m.hidden
        assert dense == pytest.approx((2.0 * head + 4.0 * (pc.total - head)) / pc.total)
    else:
        routed = m.moe.experts * pc.expert * pc.n_moe_layers
        fp32 = m.vocab * m.hidden + m.hidden * (2 * m.layers + 1)  # the untied embedding, two norms a layer, the last
        assert dense == pytest.approx((2.0 * (pc.total - routed - fp32) + 4.0 * fp32) / (pc.total - routed))
    assert experts == 4.0


def test_torch_autocast_lora_adapters_reduce_in_bf16():
    """Under a frozen base only peft's adapters reduce, and lora_A / lora_B are nn.Linear: 2 B an element."""
    from planner.model.stacks import autocast_reduce_bytes, from_training

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "mode": "lora", "seq_len": 1024, "global_batch": 64, "tokens": 1e8, "weights": "amp", "lora": {"rank": 16},
        "framework": {"name": "deepspeed", "mixed_precision": "amp"}}})
    assert autocast_reduce_bytes(from_training(job.training), job.model, job.training) == (2.0, 2.0)
