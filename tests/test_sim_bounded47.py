"""``planner simulate`` stays bounded on a job of many small micro-batches (QA 81: ViT-B/16 reading S3 files at
estimate's micro-batch of 1, 16 replicas x 256 micro-batches a step, ran 15 minutes at ``--steps 20`` with the answers
and printed nothing): the work each simulation plans is counted before it runs (``engine.planned_work``), the answers'
simulations share one bound (``workloads.simulation.answers_bound``), and a run over it simulates its micro-batches'
data in groups (``engine.group_for``, ``SimConfig.microbatch_group``), said in its result."""
from dataclasses import replace

import pytest

import planner.simulate.engine as E
import planner.workloads.simulation as WS
from planner.simulate import answers as A
from planner.simulate.config import LoaderConfig, PipelineConfig, SimConfig
from planner.simulate.resources import STORAGE_PROFILES
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from conftest import EXAMPLES, answered, flat, write_job

#: QA 81's job (/tmp/qa81/j8-dataload.yaml)
VIT = {"model": {"preset": "vit-b16"},
       "training": {"global_batch": 4096, "precision": "bf16", "epochs": 30, "dataset_samples": 14_000_000},
       "data": {"storage": "object_store", "format": "files", "sample_bytes": 150_000, "decode_ms_per_sample": 6},
       "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 2}}


def _small_vit(**pipe):
    """A ViT-shaped run small enough to simulate whole in a test: micro-batch 1, many micro-batches a step, files
    read from object storage, decode-bound workers."""
    p = dict(t_fwd_mb=0.0003, t_bwd_mb=0.0006, m=32, dp=2, micro_batch=1) | pipe
    return SimConfig(PipelineConfig(**p), loader=LoaderConfig(workers=4, decode_s=0.006, decode_cv=0.3,
                                                              sample_bytes=150_000, format="files",
                                                              storage=STORAGE_PROFILES["object_store"]))


def test_group_is_the_smallest_divisor_within_the_bound():
    cfg = _small_vit()  # 2 replicas x 32 micro-batches: 64 units a step
    assert E.group_for(cfg, 100, 6_400) == 1  # within: untouched
    assert E.group_for(cfg, 100, 3_200) == 2
    assert E.group_for(cfg, 100, 1_000) == 8  # 16 x 100 = 1,600 at 4 is over; 8 x 100 = 800
    assert E.group_for(cfg, 100, 10) == 32  # none fits: one loader batch per replica a step
    assert E.group_for(_small_vit(m=7), 100, 1_000) == 7  # a prime count: only the whole step divides it
    assert E.group_for(replace(cfg, loader=None), 100, 10) == 1  # no loader: no batch per micro-batch to group
    assert E.planned_work(replace(cfg, microbatch_group=8), 100) == 100 * 2 * 4


def test_grouped_run_keeps_the_steady_rate_and_says_so():
    """Groups of 8 micro-batches: the steady-state rate and data wait of one batch per micro-batch (the loaders'
    rate per sample is the same), an eighth of the loader batches, and a note; a group that does not divide m is
    refused."""
    cfg = _small_vit()
    one = E.simulate(cfg, steps=300)
    grouped = E.simulate(replace(cfg, microbatch_group=8), steps=300)
    assert one.microbatch_group == 1 and not any(n.startswith("bounded:") for n in one.notes)
    assert grouped.microbatch_group == 8
    assert grouped.steady_samples_per_s == pytest.approx(one.steady_samples_per_s, rel=0.01)
    assert grouped.data["steady_data_wait_share"] == pytest.approx(one.data["steady_data_wait_share"], abs=0.01)
    assert grouped.events < one.events / 4
    assert any("32 micro-batches a step simulated as 4 loader batches of 8" in n for n in grouped.notes)
    with pytest.raises(ValueError, match="does not divide"):
        E.simulate(replace(cfg, microbatch_group=5), steps=10)


def test_vit_answers_plan_within_the_bound(monkeypatch):
    """QA 81's job: its answers planned 56.7 million replica micro-batches (29 simulations of up to 300+ steps of
    4,096 loader batches). At the shipped PLANNED_WORK_BOUND its answers run in groups of 32 (``answers_bound``, no
    simulation needed to say so). Every answer simulation's planned work is counted before it runs, and together
    they stay within the bound; the answers still come out (the storage binds the loader question: S3's request
    rate). That half runs under a bound lowered to 250,000 (groups of 256, 221,312 planned: about 3 s on one core
    against 20 s for the shipped bound's 1.77 million; the counting and the bound do not depend on its value)."""
    job = load_job_dict(VIT)
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    p = cfg.pipeline
    assert (p.dp, p.m, p.micro_batch) == (16, 256, 1)
    _, b = WS.answers_bound(cfg)
    assert b["planned_work_ungrouped"] == 56_655_872 and b["microbatch_group"] == 32
    assert b["planned_work"] == 56_655_872 // 32 <= E.PLANNED_WORK_BOUND < 56_655_872 // 16
    assert "in groups of 32 (8 loader batches a step" in b["words"]

    for mod in (E, WS):
        monkeypatch.setattr(mod, "PLANNED_WORK_BOUND", 250_000)
    planned, real = [], A.simulate

    def counted(c, steps=1000, **kw):
        planned.append(E.planned_work(c, steps))
        assert sum(planned) <= E.PLANNED_WORK_BOUND, "an answer simulation started past the bound"
        return real(c, steps=steps, **kw)

    monkeypatch.setattr(A, "simulate", counted)
    ans = WS.job_answers(job, cfg, result=None)
    b = ans["bound"]
    assert b["planned_work_ungrouped"] == 56_655_872 and b["microbatch_group"] == 256
    assert sum(planned) <= b["planned_work"] <= E.PLANNED_WORK_BOUND and len(planned) >= 20
    assert ans["workers"]["bound"] == "storage" and ans["shards"]["best_shard_mb"] is not None
    assert "in groups of 256 (1 loader batches a step" in b["words"]


def test_within_the_bound_nothing_is_grouped():
    """The ResNet-50 example's answers plan under the bound: no group, no words (its numbers are the ungrouped ones:
    tests/test_left19.py and the README's simulate block pin them)."""
    from planner.spec import load_job

    job = load_job(EXAMPLES / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    grouped, b = WS.answers_bound(cfg)
    assert grouped.microbatch_group == 1 and b["words"] == "" and b["not_simulated"] == []
    assert b["planned_work"] == b["planned_work_ungrouped"] < E.PLANNED_WORK_BOUND


def test_run_and_answers_over_a_lowered_bound(monkeypatch, tmp_path, cli):
    """With the bound lowered to 10,000 the ResNet-50 files example's run (368 planned steps x 8 replicas x 4
    micro-batches) is simulated in groups of 2, and its answers, over the bound even at one batch per replica a step,
    leave the loader questions out: the JSON and the text say both."""
    for mod in (E, WS):
        monkeypatch.setattr(mod, "PLANNED_WORK_BOUND", 10_000)
    job = EXAMPLES / "resnet50-objectstore-files.yaml"
    res = answered(cli("simulate", str(job), "--json"))
    assert res["microbatch_group"] == 2 and any("4 micro-batches a step simulated as 2 loader batches of 2" in n
                                                 for n in res["notes"])
    b = res["answers"]["bound"]
    assert b["not_simulated"] == ["loader workers", "caching", "shard size"] and "workers" not in res["answers"]
    code, out, err = cli("simulate", str(job))
    assert code == 0, err
    text = flat(out)
    assert "bounded: the answers' simulations plan" in text
    assert "the loader questions (workers, caching, shard size) are not simulated" in text
