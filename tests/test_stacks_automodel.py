"""The ``nemo-automodel`` stack entry (planner.model.stacks): NVIDIA NeMo AutoModel as its own registry entry, each
field pinned to what its source runs (nemo_automodel/components/moe/parallelizer.py, moe/fsdp_mixin.py,
moe/experts.py, models/common BackendConfig, recipes/llm/benchmark.py), where it differs from Megatron-Core; the
job file names it (``training.framework: nemo-automodel``); its one option of its own (``fsdp_defer_sync``, AutoModel's
``enable_fsdp_optimizations``) moves the FSDP2 collectives from every micro-batch to once per step; the validation
rows of its performance summary run on it."""
import sys

import numpy as np
import pytest

from planner.errors import InputError
from planner.model import stack_rules
from planner.model.stacks import RUNS_ON, STACKS, resolve
from planner.spec import load_job_dict
from planner.vocab import FRAMEWORK

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
AM = "nemo-automodel"


def test_registered_and_named_by_the_job_file():
    assert AM in FRAMEWORK.names and AM in STACKS and RUNS_ON[AM] == ("cuda",)
    assert "Automodel" in STACKS[AM].sources and stack_rules.runtime(STACKS[AM]) == "automodel"
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10,
                                      "framework": {"name": AM, "fsdp_defer_sync": True}},
                         "cluster": {"gpu": "H100", "nodes": 1}})
    assert job.training.framework.name == AM and job.training.framework.fsdp_defer_sync is True


def test_fields_pinned_to_the_source():
    st, mc = STACKS[AM], STACKS["megatron-core"]
    # moe/parallelizer.py apply_ac: ptd_checkpoint_wrapper(block, preserve_rng_state=True) -- torch's non-reentrant
    # checkpoint with its default early stop (Megatron-Core's CheckpointFunction is reentrant)
    assert st.torch_checkpoint and st.recompute_early_stop and not mc.torch_checkpoint
    # parallelize_model(..., reshard_after_forward=False): the MoE path keeps blocks gathered forward to backward
    assert st.reshard_after_forward is False and mc.reshard_after_forward is True
    # torch.distributed.pipelining's backward_maybe_with_nosync / AutoModel's patched_backward_maybe_with_nosync
    assert st.pp_fsdp_unsharded and not mc.pp_fsdp_unsharded
    # BackendConfig(linear="te", rms_norm="te"): TE linears, the norm a module of its own (no LayerNormLinear)
    assert st.te_linears and not st.fused_norm_linear and mc.fused_norm_linear
    # GroupedExpertsDeepEP: grouped_gemm gmm experts, routing weights inside the activation; "torch" or DeepEP dispatch
    assert st.moe_grouped_gemm and st.moe_probs_in_experts and st.moe_dispatchers == ("alltoall", "deepep")
    # none of Megatron-Core's own machinery: no TE userbuffers, no combined-1F1B overlap, no CUDA graphs, no
    # per-module recompute, no Megatron-FSDP; the HF config's vocabulary, eager
    assert (st.tp_overlap, st.tp_bwd_async, st.compile, st.vocab_pad) == ("none", False, False, 0)
    assert not (st.has_moe_a2a_overlap or st.has_cuda_graphs or st.module_recompute or st.has_megatron_fsdp)
    assert st.has_fsdp_defer_sync and not st.fsdp_defer_sync  # BackendConfig.enable_fsdp_optimizations = False


def test_deferred_sync_is_automodels_only():
    assert resolve(AM, fsdp_defer_sync=True).fsdp_defer_sync
    for other in ("megatron-core", "torchtitan"):
        with pytest.raises(InputError, match="fsdp_defer_sync"):
            resolve(other, fsdp_defer_sync=True)
    with pytest.raises(InputError, match="hybridep"):
        resolve(AM, moe_dispatcher="hybridep")
    with pytest.raises(InputError, match="moe_a2a_overlap"):
        resolve(AM, moe_a2a_overlap=True)


def test_moe_tp_refused():
    """moe/parallelizer.py parallelize_model: 'Tensor parallelism not supported for custom MoE models'."""
    from types import SimpleNamespace

    rule = next(r for r in stack_rules.RULES if r.name == "automodel-moe-tp")
    c = SimpleNamespace(tp=np.array([1, 2, 8]))
    moe = SimpleNamespace(moe=object())
    assert rule.applies(STACKS[AM], moe, None) and not rule.applies(STACKS[AM], SimpleNamespace(moe=None), None)
    assert list(rule.refused(c, moe, None)) == [False, True, True]


def test_deferred_sync_moves_collectives_to_once_per_step(catalog):
    """With ``fsdp_defer_sync`` (and no reshard after forward) the ZeRO-3 gather and reduce-scatter run once per step,
    not per micro-batch (AutoModel's Nemotron 3 Nano benchmark config sets it; 16 micro-batches): no per-micro-batch
    FSDP term is left, and the step is faster than with the collectives every micro-batch."""
    import pandas as pd
    import validate

    from planner.model.step_time import step_time

    d = pd.read_csv(validate.AUTOMODEL_CSV)
    r = d[d.id == "automodel_2602_h100_nemotron-3-nano-30b-a3b_bf16_8"].copy()
    assert "fsdp_defer_sync=True" in r.stack_options.iloc[0]
    out = {}
    for flag in (True, False):
        r2 = r.copy()
        r2["stack_options"] = r.stack_options.iloc[0].replace("fsdp_defer_sync=True", f"fsdp_defer_sync={flag}")
        case = validate.pr2_case(catalog, next(r2.itertuples()))
        st = step_time(case.model, case.training, case.candidates, case.hw, **validate.pr2_time_kw(case.stack, case.options))
        out[flag] = st
    assert float(out[True]["comm_zero3"][0]) == 0.0 < float(out[False]["comm_zero3"][0])
    assert float(out[True]["step_time_s"][0]) < float(out[False]["step_time_s"][0])


def test_mamba_call_is_hugging_face_s_on_automodel_only():
    """models/nemotron_v3/layers.py NemotronV3Mamba2Mixer passes rmsnorm_weight / outproj_weight to the fused kernel
    (planner.model.ssm MAMBA_CALLS "hf"); Megatron-Core's MambaMixer does not."""
    assert STACKS[AM].mamba_call == "hf" and STACKS["megatron-core"].mamba_call == "megatron"
    assert STACKS["megatron-bridge"].mamba_call == "megatron"


@pytest.mark.parametrize("pp,v,runs", [(4, 1, 4), (4, 2, 4), (8, 1, 2)])
def test_a_schedule_run_per_accumulation_step_pays_a_bubble_per_run(catalog, pp, v, runs):
    """pp_pass_microbatches (AutoModel: schedule.step per gradient-accumulation step over its local batch): m
    micro-batches in runs of m / runs each fill and drain the pipeline, so the bubble is runs x that of one run of
    m / runs (Narayanan's (p - 1)/v stage times each); the steady part is the same; a run as long as the step (or
    longer) is the one-run step. On 1F1B each fill and drain runs at the lighter stages' pace (``t_pp_fill_excess``
    less than (p - 1) pacing-stage times: tests/test_fill_excess45.py), once per run too."""
    from dataclasses import replace

    from planner.model.step_time import step_time
    from planner.spec import TrainingSpec
    from planner.vocab import SCHEDULE
    from test_step_time import LLAMA, cands, hw_for

    m = 8 * runs
    c = cands(tp=8, pp=pp, dp=1, vpp=v, schedule=SCHEDULE.code["interleaved" if v > 1 else "1f1b"], nodes=pp)
    st = resolve(AM)
    out = {}
    for passes, gb in (("one", m), ("runs", m), ("short", m // runs), ("long", m)):
        t = TrainingSpec(seq_len=4096, global_batch=gb, micro_batch=1, precision="bf16")
        fw = replace(st, pp_pass_microbatches={"one": None, "runs": m // runs, "short": None, "long": 2 * m}[passes])
        out[passes] = step_time(LLAMA, t, c, hw_for(catalog), framework=fw)
    t_stage = out["one"]["t_fwd_mb"][0] + out["one"]["t_bwd_mb"][0]
    fill = out["one"]["t_pp_fill_excess"][0]  # the head's stage paces; the others fill (0 when interleaved)
    assert (fill > 0) == (v == 1)
    assert out["one"]["bubble"][0] == pytest.approx((pp - 1) / v * t_stage - fill)
    assert out["runs"]["bubble"][0] == pytest.approx(runs * out["short"]["bubble"][0])
    assert out["runs"]["step_time_s"][0] - out["one"]["step_time_s"][0] == pytest.approx(
        (runs - 1) * ((pp - 1) / v * t_stage - fill), rel=1e-6)
    assert out["long"]["step_time_s"][0] == out["one"]["step_time_s"][0]


def test_a_schedule_run_per_accumulation_step_syncs_the_held_stage_per_run_unless_deferred(catalog):
    """torch.distributed.pipelining's own backward_maybe_with_nosync reduce-scatters and reshards a held FSDP stage
    at the last backward of every schedule run, so with a run per gradient-accumulation step the stage's exposed
    reduce and gather come once per run; AutoModel's patched one (fsdp_defer_sync, enable_fsdp_optimizations)
    holds them to the optimizer step. A MoE model: the patch is MoEFSDPSyncMixin's, which a dense model lacks
    (autodense36: refused there)."""
    from planner.model.step_time import step_time
    from planner.spec import TrainingSpec
    from test_step_time import cands, hw_for

    moe = load_job_dict({"model": {"preset": "qwen3-30b-a3b"}}).model
    c = cands(tp=1, pp=4, dp=2, zero=3, nodes=1)
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16")  # m = 32: 4 runs of 8
    per_run, deferred = (step_time(moe, t, c, hw_for(catalog), framework=resolve(AM, pp_pass_microbatches=8,
                                                                                 fsdp_defer_sync=d))
                         for d in (False, True))
    assert deferred["comm_dp"][0] > 0
    assert per_run["comm_dp"][0] == pytest.approx(4 * deferred["comm_dp"][0])
    assert per_run["step_time_s"][0] - deferred["step_time_s"][0] == pytest.approx(3 * deferred["comm_dp"][0])


def test_resharded_after_forward_under_pp_gathers_each_backward(catalog):
    """AutoModel's apply_fsdp passes ``reshard_after_forward`` through under PP (torchtitan's policy turns it off there:
    Stack.pp_reshard_after_forward), and torch.distributed.pipelining's backward_maybe_with_nosync skips the reshard
    after backward and the reduce-scatter until the last backward: resharded after forward, each micro-batch's backward
    gathers the stage again (the next forward finds it gathered) and the gradients are reduce-scattered once. Until pp35
    the option was ignored under PP (the stage priced as kept gathered all step, the label "kept gathered"): Llama-3-8B
    PP2 DP8 ZeRO-3 on 2 p5.48xlarge 8.505 s either way, now 8.692 s resharded; simulate agrees."""
    from planner.workloads import Context, plan
    from planner.workloads.training import estimate_job

    def run(raf):
        raw = {"model": {"preset": "llama3-8b"},
               "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "full", "tokens": 1e10,
                            "framework": {"name": AM, "reshard_after_forward": raf}},
               "parallel": {"tp": 1, "cp": 1, "pp": 2, "dp": 8, "zero": 3},
               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
        est = estimate_job(load_job_dict(raw), catalog)
        sim = plan("simulate", load_job_dict(raw), Context(catalog=catalog, steps=20, answers=False)).result.result
        assert (sim.steady_step_time_s or sim.wall_s / 20) == pytest.approx(est.step_time_s, rel=1e-9)
        return est

    kept, resharded = run(False), run(True)
    assert kept.breakdown_s.comm_zero3 == 0 < resharded.breakdown_s.comm_zero3
    assert resharded.step_time_s > kept.step_time_s
    # the stage's gradients are reduce-scattered once a step either way (no per-micro-batch reduce)
    assert resharded.breakdown_s.comm_dp <= kept.breakdown_s.comm_dp
    assert STACKS[AM].reshard_label(3, 2) == "off (kept gathered under PP)"
    assert resolve(AM, reshard_after_forward=True).reshard_label(3, 2) == "on"
    assert resolve("torchtitan", reshard_after_forward=True).reshard_label(3, 2) == "off (kept gathered under PP)"
