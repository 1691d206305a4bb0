"""Current model families (Qwen3, Qwen3-MoE, DeepSeek-V2/V3, Llama 4, Gemma 2/3, gpt-oss, OLMo 2,
Phi-3, and the older ones) against real ``transformers`` runs recorded in tests/data/hf_flops.json
and hf_activations.json (made by tests/make_hf_flops.py / make_hf_activations.py; see
tests/data/README.md). The tests need neither torch nor transformers.

Each tiny model is rebuilt through the same HF mapper a user's config.json goes through, from
the ``resolved_config`` transformers itself used, so a mapping error shows up here too.
"""
import json
from pathlib import Path

import pytest

from planner.model.flops import moe_layer_macs, step_flops
from planner.spec import ModelSpec
from planner.spec.hf import hf_config_to_fields
from planner.spec.params import count_params

DATA = Path(__file__).parent / "data"
FLOPS = json.loads((DATA / "hf_flops.json").read_text())["families"]


def _spec(rec) -> ModelSpec:
    fields = hf_config_to_fields(rec["resolved_config"])
    routing = (rec["cases"][0].get("routing") or {}).values()
    if any("computed_tokens_per_expert" in r for r in routing):
        # the recorded kernel ran every expert on every token (Llama-4's HF experts)
        fields["moe"]["all_experts_compute"] = True
    return ModelSpec(**fields)


def _eager_cases():
    for fam, rec in sorted(FLOPS.items()):
        for c in rec["cases"]:
            # CPU sdpa's attention kernel is invisible to FlopCounterMode (README): eager only
            if c["attn_implementation"] == "eager":
                yield pytest.param(fam, c, id=f"{fam}-b{c['batch']}-s{c['seq']}")


@pytest.mark.parametrize("fam", sorted(FLOPS))
def test_tiny_params_exact(fam):
    assert count_params(_spec(FLOPS[fam])).total == FLOPS[fam]["params"]


@pytest.mark.parametrize("fam,case", _eager_cases())
def test_flops_match_flopcounter(fam, case):
    """Forward and forward+backward FLOPs within 1% of FlopCounterMode (eager attention, eager
    experts: only routed tokens are computed). The sliding-window layers compute the full masked
    matrix there (README), hence ``windowed=False``."""
    m = _spec(FLOPS[fam])
    f = step_flops(m, case["seq"], case["batch"], "none", flash=False, windowed=False)
    assert float(f["fwd"]) == pytest.approx(case["fwd"], rel=0.01)
    assert float(f["model"]) == pytest.approx(case["fwd_bwd"], rel=0.01)


@pytest.mark.parametrize("fam,case", [p for p in _eager_cases() if p.values[1].get("routing")])
def test_moe_routing_is_what_the_planner_assumes(fam, case):
    """The real router sent each token to top_k experts (dropless; Llama-4's HF kernel computes
    every expert for every token): the expert tokens the planner charges equal the recorded ones,
    block by block."""
    m = _spec(FLOPS[fam])
    e = m.moe
    routed = e.experts if e.all_experts_compute else e.top_k
    blocks = case["routing"]
    assert len(blocks) == m.moe_layers
    for blk in blocks.values():
        computed = blk.get("computed_tokens_per_expert") or blk["tokens_per_expert"]
        assert sum(computed) == routed * case["tokens"]
    # and the expert part of the measured forward equals the planner's per-token expert MACs
    mlp_w = (3 if m.gated else 2) * m.hidden
    assert moe_layer_macs(m) >= routed * mlp_w * m.ffn_hidden


PRESET_CONFIGS = {
    "qwen3-8b": "qwen3-8b", "qwen3-32b": "qwen3-32b", "qwen3-30b-a3b": "qwen3-30b-a3b",
    "qwen3-235b-a22b": "qwen3-235b-a22b", "deepseek-v3": "deepseek-v3", "deepseek-v2-lite": "deepseek-v2-lite",
    "kimi-k2": "kimi-k2", "llama4-scout": "llama4-scout-17b-16e-text", "gemma2-9b": "gemma2-9b",
    "gemma3-12b": "gemma3-12b-text", "gpt-oss-20b": "gpt-oss-20b", "gpt-oss-120b": "gpt-oss-120b",
    "olmo2-7b": "olmo2-7b", "phi3-mini": "phi3-mini-4k",
}
HF_PARAMS = json.loads((DATA / "hf_params.json").read_text())["models"]


@pytest.mark.parametrize("preset,config", sorted(PRESET_CONFIGS.items()))
def test_family_presets_match_transformers(preset, config):
    """Each preset counts what transformers builds from the published config (DeepSeek-V3's MTP
    module, which transformers does not build, apart)."""
    from planner.spec.presets import PRESETS
    pc = count_params(ModelSpec(**PRESETS[preset]))
    assert pc.total - pc.mtp == HF_PARAMS[config]["params"]


def test_deepseek_v3_mtp_module_size():
    """DeepSeek's README_WEIGHTS.md: the MTP module holds 11.5B unique parameters (embedding and
    head shared with the main model); the planner's count is within 1%."""
    from planner.spec.presets import PRESETS
    pc = count_params(ModelSpec(**PRESETS["deepseek-v3"]))
    assert pc.mtp == pytest.approx(11.5e9, rel=0.01)


def test_routing_imbalance_and_capacity_slow_the_step():
    """A stated imbalance (busiest expert 1.5x the mean) slows the expert GEMMs and the
    all-to-all; dropping at capacity factor 1.25 caps it there (Switch Transformer §2.2)."""
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    def run(**moe):
        job = load_job_dict({
            "model": {"preset": "qwen3-30b-a3b", "moe": dict(experts=128, top_k=8, **moe)},
            "training": {"seq_len": 4096, "global_batch": 1024, "tokens": 1e12, "micro_batch": 2},
            "parallel": {"tp": 1, "pp": 1, "ep": 8, "zero": 1}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 8}})
        p = estimate_job(job)
        return p.step_time_s, p.breakdown_s.comm_ep

    (t1, a1), (t15, a15), (tc, ac) = run(), run(imbalance=1.5), run(imbalance=1.5, dropless=False, capacity_factor=1.25)
    assert a15 == pytest.approx(1.5 * a1, rel=0.05)
    assert ac == pytest.approx(1.25 * a1, rel=0.05)
    assert t1 < tc < t15


ACTS = json.loads((DATA / "hf_activations.json").read_text())["families"]


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_hf_saved_activations_within_5_percent(fam):
    """Saved-tensor bytes of one forward (saved_tensors_hooks, by storage) for fp32, pure bf16 and
    AMP (bf16 autocast over fp32 weights), eager and sdpa, with and without gradient
    checkpointing, four shapes: every case within 5% (planner/model/activations_hf.py)."""
    from planner.model.activations_hf import hf_saved_bytes

    cfg = FLOPS[fam]["resolved_config"]
    m = _spec(FLOPS[fam])
    errs = {}
    for c in ACTS[fam]["cases"]:
        p = hf_saved_bytes(m, cfg["model_type"], c["seq"], c["batch"], c["precision"],
                           c["attn_implementation"], c["gradient_checkpointing"])
        key = (c["precision"], c["attn_implementation"], c["gradient_checkpointing"], c["batch"], c["seq"])
        errs[key] = p / c["saved_bytes"] - 1
    assert len(errs) >= 24
    worst = max(errs, key=lambda k: abs(errs[k]))
    assert abs(errs[worst]) < 0.05, (worst, errs[worst])


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_hf_autocast_weight_copies(fam):
    """AMP: autocast's cached bf16 copies of the fp32 weights (``param_casts_bytes``) are 2 bytes
    per linear/expert weight element; with checkpointing only the head's copy outlives the forward."""
    from planner.model.activations_hf import hf_param_cast_bytes

    m = _spec(FLOPS[fam])
    for c in ACTS[fam]["cases"]:
        if c["precision"] != "amp_bf16":
            continue
        p = hf_param_cast_bytes(m, FLOPS[fam]["resolved_config"]["model_type"], c["gradient_checkpointing"])
        assert p == pytest.approx(c["param_casts_bytes"], rel=0.05), c["gradient_checkpointing"]
