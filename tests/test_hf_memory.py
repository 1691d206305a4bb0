"""Live tensor memory of one HF training step (planner/model/activations_hf.py ``hf_step_memory``)
against the tensor-level counts recorded from real transformers 5.23 runs
(tests/data/hf_activations.json, ``live_*``: parameters and inputs excluded, allocator caching
not visible on CPU; see tests/data/README.md). No torch needed."""
import json
from pathlib import Path

import pytest

from planner.model.activations_hf import hf_step_memory
from planner.spec import ModelSpec
from planner.spec.hf import hf_config_to_fields

DATA = Path(__file__).parent / "data"
ACTS = json.loads((DATA / "hf_activations.json").read_text())["families"]
FLOPS = json.loads((DATA / "hf_flops.json").read_text())["families"]
MOE_EAGER_LOOP = {"mixtral", "qwen3_moe", "deepseek_v3", "deepseek_v2", "gpt_oss"}


def _spec(fam) -> ModelSpec:
    fields = hf_config_to_fields(FLOPS[fam]["resolved_config"])
    if fam == "llama4_text":
        fields["moe"]["all_experts_compute"] = True  # the recorded HF kernel (tests/test_families.py)
    return ModelSpec(**fields)


def _errors(fam, checkpointing):
    m = _spec(fam)
    mt = FLOPS[fam]["resolved_config"]["model_type"]
    out = {"after": [], "peak_forward": [], "peak_step": [], "grads": []}
    for c in ACTS[fam]["cases"]:
        if c["gradient_checkpointing"] != checkpointing:
            continue
        r = hf_step_memory(m, mt, c["seq"], c["batch"], c["precision"], c["attn_implementation"], checkpointing)
        out["after"].append(r.after_forward / c["live_after_forward_bytes"] - 1)
        out["peak_forward"].append(r.peak_forward / c["live_peak_forward_bytes"] - 1)
        out["peak_step"].append(r.peak_step / c["live_peak_fwd_bwd_bytes"] - 1)
        out["grads"].append(r.grads / c["grad_bytes"] - 1)
    return {k: max(v, key=abs) for k, v in out.items()}


def _peak_errors():
    """The worst relative error of the forward and step peaks per (family, quantity, attention,
    precision, checkpointing) class over the recorded shapes."""
    worst = {}
    for fam in sorted(ACTS):
        m = _spec(fam)
        mt = FLOPS[fam]["resolved_config"]["model_type"]
        for c in ACTS[fam]["cases"]:
            gc = c["gradient_checkpointing"]
            r = hf_step_memory(m, mt, c["seq"], c["batch"], c["precision"], c["attn_implementation"], gc)
            for q, got, truth in (("peak_forward", r.peak_forward, c["live_peak_forward_bytes"]),
                                  ("peak_step", r.peak_step, c["live_peak_fwd_bwd_bytes"])):
                key = (fam, q, c["attn_implementation"], c["precision"], gc)
                e = got / truth - 1
                if key not in worst or abs(e) > abs(worst[key]):
                    worst[key] = e
    return worst


WORST = _peak_errors()

#: classes of case (family, quantity, attention, precision, checkpointing) whose peak the
#: liveness walk misses by more than 5%: the measured worst error and why (README "Measured
#: errors"); each is a strict xfail below, and may not get worse than recorded (+0.5%)
_MLA = "DeepSeek-V2 AMP sdpa under checkpointing: the forward's working set (math path under autocast, fp32 latent norm) is overestimated"
_L4 = "Llama 4 AMP under checkpointing: the dense expert bmm's autocast copies (repeated input, 3-D weights) in the forward and backward are not itemised"
_GEMMA = "Gemma 3 eager AMP under checkpointing: its attention backward (q/k norms, fp32 RoPE'd q/k) is overestimated"
KNOWN_MISSES: dict[tuple, tuple[float, str]] = {
    ("deepseek_v2", "peak_forward", "sdpa", "amp_bf16", True): (0.075, _MLA),
    ("gemma3_text", "peak_step", "eager", "amp_bf16", True): (0.051, _GEMMA),
    ("llama4_text", "peak_forward", "eager", "amp_bf16", True): (0.099, _L4),
    ("llama4_text", "peak_step", "eager", "amp_bf16", True): (-0.058, _L4),
    ("llama4_text", "peak_step", "sdpa", "amp_bf16", True): (-0.097, _L4),
    ("mixtral", "peak_forward", "eager", "fp32", True): (
        -0.065, "uniform routing: at batch 1 x 64 tokens two consecutive experts got 45 and 40 of 32 "
                "(recorded ``routing``), and the checkpointed MoE forward's peak holds both"),
}


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_step_memory_without_checkpointing(fam):
    """Everything the forward leaves alive (saved tensors, AMP weight copies, logits, the
    DynamicCache) within 5% for every family, precision and attention; the gradients exactly."""
    e = _errors(fam, False)
    assert abs(e["grads"]) < 1e-9
    assert abs(e["after"]) < 0.05, e


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_step_memory_with_checkpointing(fam):
    """Under gradient checkpointing what outlives the forward (the blocks' inputs, the head's
    saves, the head's AMP weight copy) within 5%."""
    e = _errors(fam, True)
    assert abs(e["after"]) < 0.05, e


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_peaks_within_5_percent(fam):
    """The forward's and the whole step's peak (``hf_step_memory``'s liveness walk) within 5% of
    the recorded live-tensor peaks for every case of the family: fp32/bf16/AMP, eager/sdpa,
    with and without gradient checkpointing, 4 shapes — but the KNOWN_MISSES, which may not get
    worse than recorded."""
    bad = {}
    for key, e in WORST.items():
        if key[0] != fam:
            continue
        if key in KNOWN_MISSES:
            assert abs(e) <= abs(KNOWN_MISSES[key][0]) + 0.005, (key, e)
        elif abs(e) >= 0.05:
            bad[key] = round(e, 4)
    assert not bad, bad


@pytest.mark.parametrize("key", sorted(KNOWN_MISSES) or [None], ids=lambda k: "-".join(map(str, k)) if k else "none")
@pytest.mark.xfail(strict=True, reason="KNOWN_MISSES: the liveness walk misses these by more than 5%")
def test_known_peak_misses(key):
    if key is None:
        pytest.fail("no known misses")
    assert abs(WORST[key]) < 0.05, (key, WORST[key], KNOWN_MISSES[key][1])


def test_walk_can_fail():
    """The peaks are compared with the truth, not with themselves: a walk that forgets the
    loss' vocab-wide gradients misses the no-checkpointing step peak of the dense families."""
    c = next(c for c in ACTS["llama"]["cases"] if not c["gradient_checkpointing"])
    r = hf_step_memory(_spec("llama"), "llama", c["seq"], c["batch"], c["precision"], c["attn_implementation"])
    assert abs((r.peak_step - r.loss_transient) / c["live_peak_fwd_bwd_bytes"] - 1) > 0.05


def test_amp_changes_memory_like_the_truth():
    """Pure bf16 vs AMP, same model and shape: AMP adds the fp32 stream, the per-linear bf16
    copies and the weight casts; the planner's difference has the measured sign and size (±5%)."""
    m = _spec("llama")
    cases = {(c["precision"]): c for c in ACTS["llama"]["cases"]
             if c["attn_implementation"] == "sdpa" and not c["gradient_checkpointing"]
             and (c["batch"], c["seq"]) == (2, 128)}
    bf16 = hf_step_memory(m, "llama", 128, 2, "bf16", "sdpa")
    amp = hf_step_memory(m, "llama", 128, 2, "amp_bf16", "sdpa")
    truth = cases["amp_bf16"]["live_after_forward_bytes"] - cases["bf16"]["live_after_forward_bytes"]
    assert amp.after_forward - bf16.after_forward == pytest.approx(truth, rel=0.05)
    assert amp.weight_casts == cases["amp_bf16"]["param_casts_bytes"]


def _hf_job(mixed_precision, framework="hf-trainer", recompute="none"):
    from planner.spec import load_job_dict

    fw = {"name": framework}
    if mixed_precision:
        fw["mixed_precision"] = mixed_precision
    return load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9,
                     "recompute": recompute, "framework": fw},
        "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})


@pytest.mark.parametrize("recompute", ["none", "full"])
def test_estimate_takes_hf_stack_activations_from_the_hf_table(recompute):
    """``planner estimate`` of a Llama job on hf-trainer: the activation and head/loss memory are
    the HF table's (AMP: fp32 stream, per-linear bf16 copies; bf16: pure bf16), and AMP holds fp32
    weights + autocast's bf16 copies + fp32 gradients instead of bf16 weights + an fp32 master."""
    from planner.model.activations_hf import hf_activations
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS
    from planner.workloads.training import estimate_job

    m = ModelSpec(**PRESETS["llama3-8b"])
    gc = recompute == "full"
    mem = {}
    for mp, prec in (("amp", "amp_bf16"), ("bf16", "bf16")):
        p = estimate_job(_hf_job(mp, recompute=recompute))
        r = hf_activations(m, 2048, 1, prec, "sdpa", gc)
        emb_out = 2048 * m.hidden * 2  # the embedding's output, counted by memory_per_gpu for every stack
        assert p.memory_per_gpu_bytes.activations == pytest.approx(m.layers * r.per_layer + r.recompute + emb_out)
        assert p.memory_per_gpu_bytes.logits == pytest.approx(r.outside + r.logits_transient)
        mem[mp] = p.memory_per_gpu_bytes
        assert f"mixed_precision={mp}" in p.inputs["training_stack"]
    assert mem["amp"].activations > mem["bf16"].activations
    n = 8030261248
    assert mem["amp"].grads == pytest.approx(n * 4 / 8)  # fp32 gradients, ZeRO-3 over 8
    assert mem["bf16"].optimizer > mem["amp"].optimizer  # the fp32 master lives in the optimizer


def test_megatron_keeps_the_fused_table_and_refuses_the_option():
    from planner.errors import InputError
    from planner.model.stacks import resolve

    with pytest.raises(InputError, match="mixed_precision"):
        resolve("megatron-core", mixed_precision="amp")
    with pytest.raises(InputError, match="mixed_precision"):
        resolve("hf-trainer", mixed_precision="fp16")
    assert resolve("megatron-core").mixed_precision is None
    assert resolve("deepspeed").mixed_precision == "bf16" and resolve("hf-trainer").mixed_precision == "amp"
