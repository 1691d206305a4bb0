"""QA 91: three left-overs of session 49's merges -- a LoRA at ``precision: fp32`` over a bf16 frozen base priced as
bf16 GEMMs with fp32 adapters (finetune ``base_math_precision``); a ``serving.qps`` plan keeps the earliest engine
setting its confirmation grew back to (serving ``settled_setting``); a bare-GPU plan takes its borrowed fabric's
inter-node latency (options ``instance_latency``). Each test fails on the code before QA 91."""
from __future__ import annotations

import dataclasses
import types

import pytest

from planner.model.finetune import base_math_precision, frozen_saves_precision
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _lora(precision: str, base: str | None = "bf16"):
    t = {"mode": "lora", "seq_len": 1024, "global_batch": 8, "micro_batch": 1, "precision": precision,
         "steps": 10, "recompute": "full", "framework": {"name": "hf-trainer"}}
    if base:
        t["base_weights"] = base
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": t,
                          "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 0},
                          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})


def test_fp32_training_over_a_bf16_base_runs_the_base_in_bf16():
    """No autocast at ``precision: fp32``: the bf16 checkpoint's GEMMs run on bf16 tensor cores, only peft's fp32
    adapters in fp32 (on their own fp32 input copy). Until QA 91 the step priced the whole base as fp32 GEMMs on the
    CUDA cores (Llama-3-8B, 8 H100s, micro-batch 4 at 4,096: 21.9 s against 2.0 s at bf16), while the memory already
    read the bf16 table: one rule now for both."""
    job = _lora("fp32")
    assert base_math_precision(job.training) == "bf16"
    assert frozen_saves_precision(job.training, True) == "bf16"  # the memory's rule is the same one
    mixed, bf16, fp32 = estimate_job(job), estimate_job(_lora("bf16")), estimate_job(_lora("fp32", "fp32"))
    # the fp32 adapters cost something beyond the bf16 step, the base nothing: within 1.5x of bf16, far from fp32
    assert bf16.step_time_s < mixed.step_time_s < 1.5 * bf16.step_time_s
    assert fp32.step_time_s > 5 * mixed.step_time_s
    # MFU against the bf16 peak the base runs at (an fp32 peak would put it past 100%)
    assert mixed.mfu == pytest.approx(bf16.mfu * bf16.step_time_s / mixed.step_time_s, rel=1e-9)


@dataclasses.dataclass(frozen=True)
class _Row:  # the ServingOption fields _refine_realtime reads and writes
    batch: int = 8
    replicas: int = 10
    tp: int = 1
    refined: bool = False
    analytic_replicas: int | None = None
    simulated: dict | None = None
    meets_latency: bool = True
    reason: str = ""


def test_a_qps_plan_keeps_the_earlier_setting_its_confirmation_grew_back_to(monkeypatch):
    """``serving.qps``: the screen's setting (budget, B) needs 10 replicas, 2B 8 in the search; 2B's confirmation
    grows back to 10, where the screen's setting confirms too: the plan keeps the screen's (``settled_setting``, as a
    fixed fleet does since QA 90). Until QA 91 it kept 2B, an engine setting changed for no replica saved. The
    simulator is stood in for by the pass / fail table below (its sizing rules are tests/test_serving.py's)."""
    import planner.workloads.serving as S

    first, twice = (2048, 8), (2048, 16)
    need = {(first, False): 10, (twice, False): 8, (first, True): 10, (twice, True): 10}  # (setting, confirm) -> r

    class Res:
        cut = None

        def __init__(self, ok):
            self.ok = ok

        def meets(self, *a):
            return self.ok

    class Runs:
        def run(self, cfg, wl, miss=None, monitor=False):
            k, r = cfg
            return Res(r >= need[k, wl.confirm])

    sim = S.SimSettings()
    monkeypatch.setattr(S, "_engine_settings", lambda row, sim, first_=None: [first, twice])
    monkeypatch.setattr(S, "_cached_capacity", lambda *a: 100.0)
    monkeypatch.setattr(S, "sim_workload", lambda s, q, seconds, *a: types.SimpleNamespace(
        span_s=seconds, confirm=seconds == sim.confirm_s))
    monkeypatch.setattr(S, "_sim_config", lambda m, s, hw, tp, batch, budget, r, *a: ((budget, batch), r))
    monkeypatch.setattr(S, "_sim_summary", lambda res, r, budget, batch: {"replicas": r, "setting": (budget, batch)})
    monkeypatch.setattr(S, "_at_budget", lambda row, *a: row)
    monkeypatch.setattr(S, "_resize", lambda row, *a: row)
    target = types.SimpleNamespace(ttft_s=1.0, tpot_s=0.1)
    got = S._refine_realtime(_Row(), None, None, None, target, sim, 50.0, im=object(), runs=Runs())
    assert got.simulated["replicas"] == 10 and got.simulated["meets_targets"]
    assert got.simulated["setting"] == first
    # where the screen's setting misses the long run at 10, 2B stays
    need[first, True] = 11
    got = S._refine_realtime(_Row(), None, None, None, target, sim, 50.0, im=object(), runs=Runs())
    assert (got.simulated["replicas"], got.simulated["setting"]) == (10, twice)


def _bare(gpu: str, nodes: int = 2):
    from planner.hardware.options import option_from_cluster
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "precision": "bf16",
                                      "steps": 10},
                         "parallel": {"tp": 1, "pp": 1, "dp": 8 * nodes, "zero": 1},
                         "cluster": {"gpu": gpu, "nodes": nodes}})
    return option_from_cluster(job.cluster)


@pytest.mark.parametrize("gpu", ["A100-SXM4-80GB", "GB200"])
def test_a_bare_gpu_plan_takes_its_borrowed_fabrics_latency(gpu):
    """A bare-GPU plan whose network is a reference instance's or system's (InfiniBand here) takes that fabric's
    inter-node latency (NCCL's model, 14 us) as an instance does, and says so; until QA 91 it kept the 15 us prior
    whatever the fabric it borrowed."""
    from planner.hardware.options import family_latency
    o = _bare(gpu)
    us, _ = family_latency(o.reference.fabric)
    assert us is not None and o.network_reference
    assert o.eff.inter_alpha_s == pytest.approx(us * 1e-6)
    said = [n for n in o.plan_notes(2) if "inter-node latency" in n]
    assert len(said) == 1 and o.reference.key in said[0] and f"{us:g} µs" in said[0]
    assert not any("inter-node latency" in n for n in _bare(gpu, nodes=1).plan_notes(1))  # one node: no figure reads it


def test_an_efa_reference_keeps_the_prior_and_says_why():
    """EFA has no sourced latency (aws-ofi-nccl's figures are tuner settings): the prior stays, and the line says so."""
    from planner.hardware.options import family_latency
    o = _bare("H100-SXM-80GB")
    assert o.reference.fabric == "efa" and family_latency("efa")[0] is None
    said = [n for n in o.plan_notes(2) if "inter-node latency" in n]
    assert len(said) == 1 and "prior" in said[0]
