"""QA 38 leftovers: what the stacks really run of ``parallel.schedule``, ``sequence_parallel`` at TP 1, and MoE-only
stack options on a dense model. Each check fails on the code before its fix."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import answered, refused, write_job

L8 = {"preset": "llama3-8b"}
H100 = {"gpus": ["H100"], "clouds": ["aws"], "max_gpus": 32}


def _train(**kw) -> dict:
    return {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, **kw}


@pytest.mark.parametrize("framework", ["megatron-core", "nemo", "megatron-bridge", "megatron-deepspeed", "hf-trainer"])
def test_gpipe_is_refused_on_stacks_without_it(tmp_path, cli, framework):
    """Megatron-Core's get_forward_backward_func has no GPipe (no pipelining, 1F1B, interleaved), DeepSpeed's
    pipeline engine runs its 1F1B TrainSchedule, the HF code no pipeline at all: ``schedule: gpipe`` was estimated
    on all of them."""
    job = {"model": L8, "training": _train(micro_batch=1, recompute="none", framework=framework),
           "parallel": {"schedule": "gpipe", "pp": 1 if framework == "hf-trainer" else 2},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: parallel.schedule: "), line
    assert "GPipe" in line


def test_gpipe_is_estimated_on_torchtitan_and_searched_only_there(tmp_path, cli):
    """torchtitan runs torch's ScheduleGPipe; ``recommend`` with the stack open plans GPipe only there (it ranked
    deepspeed and megatron-core GPipe plans)."""
    job = {"model": L8, "training": _train(micro_batch=1, recompute="none", framework="torchtitan"),
           "parallel": {"schedule": "gpipe", "pp": 2}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    assert answered(cli("estimate", write_job(tmp_path, job), "--json"))["config"]["schedule"] == "gpipe"
    job = {"model": L8, "training": _train(framework="auto"), "parallel": {"schedule": "gpipe"}, "constraints": H100}
    ranked = answered(cli("recommend", write_job(tmp_path, job, "open.yaml"), "--json", "--no-simulate"))["ranked"]
    assert ranked and {r["stack"]["name"] for r in ranked} == {"torchtitan"}, [r["stack"]["name"] for r in ranked]
    job["training"]["framework"] = "megatron-core"
    line = refused(cli("recommend", write_job(tmp_path, job, "mcore.yaml"), "--no-simulate"))
    assert line.startswith("error: parallel.schedule: "), line


def test_sequence_parallel_at_tp_1_is_off_and_said(tmp_path, cli):
    """``sequence_parallel: true`` at TP 1 was planned and printed as ``sp: true``; sequence parallelism has no TP group
    to shard over there, and Megatron-LM's validate_args turns it off ("if args.tensor_model_parallel_size == 1:
    args.sequence_parallel = False"). ``estimate`` and ``recommend`` both run it off and say so."""
    job = {"model": L8, "training": _train(micro_batch=1, recompute="none"),
           "parallel": {"tp": 1, "sequence_parallel": True}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    est = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert est["config"]["sp"] is False
    assert any(a.startswith("parallel.sequence_parallel: true taken as false at TP 1") for a in est["assumptions"])
    job = {"model": L8, "training": _train(), "parallel": {"tp": 1, "sequence_parallel": True}, "constraints": H100}
    rec = answered(cli("recommend", write_job(tmp_path, job, "rec.yaml"), "--json", "--no-simulate"))
    assert rec["ranked"] and all(r["config"]["sp"] is False for r in rec["ranked"])
    assert any(a.startswith("parallel.sequence_parallel: true taken as false at TP 1") for a in rec["assumptions"])


@pytest.mark.parametrize("option,value", [("moe_dispatcher", "deepep"), ("moe_a2a_overlap", True),
                                          ("moe_fused_mlp", True)])
def test_an_moe_only_option_on_a_dense_model_is_said_to_change_nothing(tmp_path, cli, option, value):
    """``moe_dispatcher: deepep`` (or the all-to-all overlap, the fused expert MLP) on Llama-3-8B was accepted without a
    word; like ``fp8_recipe`` under bf16 and ``moe_shared_expert_overlap`` without shared experts, it is said."""
    job = {"model": L8, "training": _train(micro_batch=1, recompute="none",
                                           framework={"name": "megatron-core", option: value}),
           "parallel": {"tp": 2}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    said = [a for a in answered(cli("estimate", write_job(tmp_path, job), "--json"))["assumptions"]
            if a.startswith(f"training.framework.{option} ")]
    assert said and "changes nothing: llama3-8b has no MoE layers" in said[0], said


@pytest.mark.parametrize("option,value", [("moe_dispatcher", "deepep"), ("moe_a2a_overlap", True),
                                          ("moe_fused_mlp", True)])
def test_an_moe_only_option_is_not_in_a_dense_models_stack_line(tmp_path, cli, option, value):
    """The same jobs' "training stack:" line (``Stack.describe``) still read "moe_dispatcher=deepep,
    moe_a2a_overlap=off" (or "moe_fused_mlp=on") beside the note that the option changes nothing; on an MoE model
    the option is listed."""
    framework = {"name": "megatron-core", option: value}
    job = {"model": L8, "training": _train(micro_batch=1, recompute="none", framework=framework),
           "parallel": {"tp": 2}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    line = answered(cli("estimate", write_job(tmp_path, job), "--json"))["inputs"]["training_stack"]
    assert line.startswith("training stack: megatron-core (") and "moe_" not in line, line
    moe_job = {**job, "model": {"preset": "mixtral-8x7b"}, "parallel": {"tp": 2, "ep": 2}}  # a2a overlap needs EP
    moe = answered(cli("estimate", write_job(tmp_path, moe_job, "moe.yaml"), "--json"))
    assert option in moe["inputs"]["training_stack"], moe["inputs"]["training_stack"]


def test_the_progress_bar_says_the_ranking():
    """The ranking after the last hardware option (37 s of the 173 s search of a 65K-token Nemotron-3-Nano over
    every instance) ran under a bar that said "done"; it says how many plans it ranks."""
    from planner.search.recommend import recommend
    from planner.spec.load import load_job_dict

    seen = []
    job = load_job_dict({"model": L8, "training": _train(micro_batch=1, recompute="none"),
                         "parallel": {"tp": 8, "pp": 1}, "constraints": {**H100, "max_gpus": 16}})
    rec = recommend(job, progress=lambda done, total, desc: seen.append(desc))
    assert seen[-1] == f"ranking {rec.fits_memory:,} plans", seen[-3:]


def test_space_chunks_expands_only_whole_dp_heads(monkeypatch):
    """``space_chunks`` enumerated the whole product (69.3M rows for a 65K-token Nemotron-3-Nano over every instance,
    41.9M with a whole DP) and let ``_layouts`` drop the rows whose tp*pp*cp does not divide the GPUs; now those heads
    are never expanded, and the layouts out are the same, in the same order."""
    from planner.hardware.options import option_from_cluster
    from hardware_catalog.catalog import load_catalog
    from planner.search import space
    from planner.spec.load import load_job_dict

    job = load_job_dict({"model": L8, "training": _train(seq_len=32768, global_batch=96),
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 3}})
    hw = option_from_cluster(job.cluster, load_catalog(), None, "bf16")
    grids, real = [], space._layouts
    monkeypatch.setattr(space, "_layouts", lambda job, g, grid: grids.append(grid) or real(job, g, grid))
    rows = space.Candidates.concat(list(space.space_chunks(job, hw)))
    n_, tp, _etp, pp, cp = (np.concatenate([g[i] for g in grids]) for i in range(5))
    assert ((n_ * hw.gpus_per_node) % (tp * pp * cp) == 0).all()
    monkeypatch.setattr(space, "_layouts", real)
    whole = space._layouts(job, hw.gpus_per_node, _product(job, hw))
    for k in ("tp", "pp", "cp", "dp", "ep", "vpp", "zero", "mb", "rc", "nodes"):
        assert np.array_equal(getattr(rows, k), getattr(whole, k)), k


def _product(job, hw):
    """Every row of ``hw``'s layout product, as ``_layouts`` takes a chunk of it (the (tp, etp) pair axis split), less
    the deeper interleavings at the pipeline degrees they do not split (vpp58: ``space.vpp_kept``, axes 2 and 5)."""
    from planner.search import space
    axes, tp_of, etp_of = space._grid(job, hw)
    idx = np.unravel_index(np.arange(int(np.prod([len(a) for a in axes]))), tuple(len(a) for a in axes))
    kept = space.vpp_kept(space.open_degrees(job, hw.gpus_per_node)["vpp_more"], axes[2][idx[2]], axes[5][idx[5]])
    idx = tuple(i[kept] for i in idx)
    n_, pair, *rest = (a[i] for a, i in zip(axes, idx))
    return [n_, tp_of[pair], etp_of[pair], *rest]
