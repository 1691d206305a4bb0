"""Megatron-Core's shared-expert overlap (``--moe-shared-expert-overlap``, the Megatron stacks' option
``moe_shared_expert_overlap``): what it hides (fc1 beside the dispatch, fc2 beside the combine, through the same
``moe.shared_stream_hidden`` as NeMo AutoModel's stream), what Megatron refuses with it, the flag --emit writes, and a
plan's stack record read back as ``training.framework``."""
from __future__ import annotations

from dataclasses import replace

import pytest

from planner.errors import InputError
from planner.model import moe, stack_rules
from planner.model.stacks import STACKS, record_options, resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec, load_job_dict
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job
from test_step_time import cands, hw_for

T4K = TrainingSpec(seq_len=4096, global_batch=256, micro_batch=1, precision="bf16")
KEEP = 1 - moe.A2A_COMM_SMS / (132 - moe.A2A_COMM_SMS)  # H100: the GEMMs run on the SMs the dispatcher leaves
MEGATRON = moe.SHARED_STREAM_SCHEDULES["moe_shared_expert_overlap"]
AUTOMODEL = moe.SHARED_STREAM_SCHEDULES["moe_shared_stream"]


# ------------------------------------------------------------------ what it hides
def test_fc1_hides_only_the_dispatch_and_fc2_only_the_combine():
    """Megatron-Core launches fc1 beside the dispatch all-to-all and fc2 beside the combine: a long fc1 cannot cover
    the combine (AutoModel's whole-MLP launch can), a short fc2 hides only itself."""
    assert moe.shared_stream_hidden(1.0, 1.5, 0.3, 132, MEGATRON) == pytest.approx((1.0 + 0.3) * KEEP)
    assert moe.shared_stream_hidden(1.0, 1.5, 0.3, 132, AUTOMODEL) == pytest.approx(1.8 * KEEP)
    assert moe.shared_stream_hidden(1.0, 3.0, 3.0, 132, MEGATRON) == pytest.approx(2.0 * KEEP)  # both all-to-alls
    assert moe.shared_stream_hidden(1.0, 0.0, 0.0, 132, MEGATRON) == 0.0


def test_the_schedule_is_the_stacks_switch():
    """One table says which stack runs which placement: AutoModel always, the Megatron stacks only when asked."""
    assert moe.shared_stream_schedule(STACKS["nemo-automodel"]) == AUTOMODEL
    for name in ("megatron-core", "nemo", "megatron-bridge"):
        assert moe.shared_stream_schedule(STACKS[name]) is None  # Megatron-Core's default: off
        assert moe.shared_stream_schedule(resolve(name, moe_shared_expert_overlap=True)) == MEGATRON


def _dsv3(catalog, on: bool, preset="deepseek-v3", rc=0, sched=None):
    """One 16-GPU EP-16 all-to-all job on megatron-core with the overlap on or off."""
    m = ModelSpec(**PRESETS[preset])
    st = resolve("megatron-core", moe_shared_expert_overlap=on)
    if sched is not None:  # the same stack with AutoModel's placement instead (Stack fields, not options)
        st = replace(st, moe_shared_expert_overlap=False, moe_shared_stream=True)
    return step_time(m, T4K, cands(dp=16, ep=16, zero=1, nodes=2, rc=rc), hw_for(catalog), framework=st)


@pytest.mark.parametrize("rc", [0, 2])
def test_the_overlap_hides_ep_time_and_nothing_else(catalog, rc):
    """DeepSeek-V3 (one shared expert): the step saves exposed EP time only, less than there was, and no more than
    AutoModel's placement of the same GEMMs would; the GEMMs themselves still run."""
    off, on = _dsv3(catalog, False, rc=rc), _dsv3(catalog, True, rc=rc)
    saved = off["step_time_s"][0] - on["step_time_s"][0]
    assert 0 < saved < off["comm_ep"][0]
    assert off["comm_ep"][0] - on["comm_ep"][0] == pytest.approx(saved, rel=1e-6)
    assert on["compute_gemm"][0] == off["compute_gemm"][0]
    whole = _dsv3(catalog, False, rc=rc, sched="automodel")
    assert whole["step_time_s"][0] <= on["step_time_s"][0]


def test_a_model_without_shared_experts_is_unchanged(catalog):
    off, on = (_dsv3(catalog, x, preset="qwen3-235b-a22b") for x in (False, True))
    assert on["step_time_s"][0] == off["step_time_s"][0]


# ------------------------------------------------------------------ refusals (Megatron-Core 0.16.1's)
def _job(framework: dict, preset="deepseek-v2-lite", recompute="selective", **training):
    return load_job_dict({
        "model": {"preset": preset},
        "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": recompute, "tokens": 1e10,
                     "framework": {"name": "megatron-core", **framework}, **training},
        "parallel": {"tp": 1, "pp": 1, "ep": 8, "zero": 1},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


@pytest.mark.parametrize("framework, extra, rule", [
    ({"moe_dispatcher": "deepep"}, {}, "shared-overlap-dispatcher"),
    ({"moe_dispatcher": "hybridep"}, {}, "shared-overlap-dispatcher"),
    ({"moe_a2a_overlap": True}, {}, "shared-overlap-a2a-overlap"),
    ({}, {"recompute_modules": ["shared_experts"]}, "shared-overlap-recompute"),
])
def test_megatron_refuses_the_overlap_where_its_config_does(framework, extra, rule):
    job = _job({"moe_shared_expert_overlap": True, **framework}, **extra)
    with pytest.raises(InputError) as e:
        estimate_job(job)
    assert next(r for r in stack_rules.RULES if r.name == rule).what in str(e.value)
    # the same job without the overlap runs (the rule, not something else, refused it)
    assert estimate_job(_job(framework, **extra)).step_time_s > 0


def test_latent_moe_refuses_the_overlap():
    """Nemotron 3 Super's LatentMoE: MoELayer.preprocess asserts the overlap off."""
    job = _job({"moe_shared_expert_overlap": True}, preset="nemotron-3-super-120b-a12b")
    rule = stack_rules.job_refusal(resolve("megatron-core", moe_shared_expert_overlap=True), job.model, job.training)
    assert rule is not None and rule.name == "shared-overlap-latent"
    assert stack_rules.job_refusal(resolve("megatron-core"), job.model, job.training) is None


def test_rules_agree_with_megatron_cores_own_config():
    """Megatron-Core 0.16.1's TransformerConfig refuses the pairings the rules name (where it is installed)."""
    pytest.importorskip("megatron.core")
    import warnings

    from megatron.core.transformer import TransformerConfig

    base = dict(num_layers=2, hidden_size=64, num_attention_heads=4, num_moe_experts=8,
                moe_shared_expert_intermediate_size=64, moe_shared_expert_overlap=True, bf16=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TransformerConfig(**base, moe_token_dispatcher_type="alltoall")  # accepted
        with pytest.raises(ValueError, match="only works with alltoall"):
            TransformerConfig(**base, moe_token_dispatcher_type="flex")
        with pytest.raises(ValueError, match="shared_experts recompute"):
            TransformerConfig(**base, moe_token_dispatcher_type="alltoall", recompute_granularity="selective",
                              recompute_modules=["shared_experts"])


def test_a_model_without_shared_experts_gets_a_note_not_a_refusal():
    job = _job({"moe_shared_expert_overlap": True}, preset="qwen3-30b-a3b")
    assert any("moe_shared_expert_overlap changes nothing" in n for n in job.assumptions)
    assert estimate_job(job).step_time_s > 0


def test_stacks_without_the_switch_refuse_it():
    with pytest.raises(InputError, match="Megatron-Core option"):
        resolve("torchtitan", moe_shared_expert_overlap=True)
    with pytest.raises(InputError, match="Megatron-Core option"):
        resolve("nemo-automodel", moe_shared_expert_overlap=True)


# ------------------------------------------------------------------ --emit and the stack record
def test_emit_writes_the_flag_only_when_asked():
    from planner.present.emit import emit_launch_spec
    from test_emit import _argv, _flags

    flags = {}
    for on in (False, True):
        job = _job({"moe_shared_expert_overlap": on})
        flags[on] = _flags(_argv(emit_launch_spec(job, estimate_job(job), "torchrun:megatron")))
    assert flags[True].get("--moe-shared-expert-overlap") is True
    assert "--moe-shared-expert-overlap" not in flags[False]
    assert flags[True]["--moe-token-dispatcher-type"] == "alltoall"


def test_megatron_accepts_the_emitted_overlap():
    """The emitted launch, with the flag, builds Megatron-Core 0.16.1's config (where it is installed)."""
    from test_launch_parsers import command_of, megatron_accepts, need, script_of, torchrun_accepts

    need("megatron.core")
    from planner.present.emit import emit_launch_spec

    job = _job({"moe_shared_expert_overlap": True})
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, estimate_job(job), "torchrun:megatron")))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 8, env)["cfg"]
    assert cfg.moe_shared_expert_overlap and cfg.moe_token_dispatcher_type == "alltoall"


def test_a_plans_stack_record_round_trips():
    """The record lists the option where the model uses it and reads back as the same stack, same step."""
    job = _job({"moe_shared_expert_overlap": True})
    best = estimate_job(job)
    st = resolve("megatron-core", moe_shared_expert_overlap=True)
    record = {"name": "megatron-core", **st.options(job.model, job.training)}
    assert record["moe_shared_expert_overlap"] is True
    again = _job(record_options(record))
    assert resolve("megatron-core", **record_options(record)) == st
    assert estimate_job(again).step_time_s == pytest.approx(best.step_time_s, rel=1e-12)
    assert best.step_time_s < estimate_job(_job({})).step_time_s  # and it was priced
    qwen = _job({}, preset="qwen3-30b-a3b")
    assert "moe_shared_expert_overlap" not in st.options(qwen.model, qwen.training)  # nothing to overlap: left out
