"""Partial full recompute (Megatron ``--recompute-granularity full --recompute-method block|uniform
--recompute-num-layers N``; ``training.recompute_method`` / ``recompute_num_layers``).

Megatron-Core transformer_block.py ``_checkpointed_forward``: block checkpoints layers ``l < N`` of each model chunk
and runs the rest plain; uniform checkpoints each group of N layers as one call. The planner prices block as the
chunk's recomputed share (planner.model.pipeline.recomputed_fraction) at full-recompute terms and the rest at none,
in time, hardware FLOPs and memory; checked here against both ends, between the batch and the one-plan paths, the
launch flags, the refusals, and what ``torch.utils.checkpoint`` really keeps for block N of L layers."""
import json

import numpy as np
import pytest

from planner.errors import InputError
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.pipeline import recomputed_fraction, uniform_groups
from planner.model.step_time import step_time
from planner.present.emit import emit_launch_spec
from planner.spec import load_job_dict
from planner.vocab import RECOMPUTE
from planner.workloads.training import estimate_job, recommend, resolve_single
from planner.search.evaluate import evaluate, row_result

FULL = RECOMPUTE.code["full"]


def _job(pp=1, vpp=1, **training):
    t = {"seq_len": 8192, "global_batch": 128, "micro_batch": 1, "precision": "bf16", "steps": 10,
         "framework": {"name": "megatron-core", "cross_entropy_fusion": "none"}, **training}
    par = {"tp": 1, "pp": pp, "dp": 8 // pp, "cp": 1, "zero": 1}
    if vpp > 1:
        par["vpp"] = vpp
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": t, "parallel": par,
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


def _rows(job, catalog, rcs_rns):
    """the job's layout once per (recompute code, block N), as one batch"""
    from planner.hardware.options import option_from_cluster
    hw = option_from_cluster(job.cluster, catalog, None, job.training.precision)
    c, _ = resolve_single(job, hw)
    n = len(rcs_rns)
    b = c.take(np.zeros(n, dtype=np.intp))
    b.rc = np.array([r for r, _ in rcs_rns])
    b.rn = np.array([k for _, k in rcs_rns])
    return b, hw


def test_fraction_follows_megatrons_block_loop():
    # 32 layers, pp 1: N of 32; N at or above the chunk is every layer (the loop clamps); other codes nothing
    assert recomputed_fraction(FULL, 5, 32) == pytest.approx(5 / 32)
    assert recomputed_fraction(FULL, 32, 32) == recomputed_fraction(FULL, 40, 32) == recomputed_fraction(FULL, 0, 32) == 1
    assert recomputed_fraction(RECOMPUTE.code["selective"], 5, 32) == recomputed_fraction(0, 5, 32) == 0
    # per virtual stage when interleaved: 32 / (4 x 2) = 4 layers a chunk
    assert recomputed_fraction(FULL, 3, 32, pp=4, vpp=2) == pytest.approx(3 / 4)
    assert recomputed_fraction(FULL, 3, 32, pp=4) == pytest.approx(3 / 8)
    kept, g = uniform_groups(32, 4)
    assert kept * 32 == 8 and g == 4
    kept, g = uniform_groups(30, 4)  # groups of 4, 4, ..., 2: the last group is shorter (8 inputs)
    assert kept * 30 == 8 and g == 4


@pytest.mark.parametrize("pp,vpp", [(1, 1), (4, 1), (4, 2)])
def test_time_flops_memory_interpolate_between_none_and_full(catalog, pp, vpp):
    job = _job(pp, vpp, recompute="full")
    chunk = 32 // (pp * vpp)
    ns = list(range(1, chunk + 1))
    c, hw = _rows(job, catalog, [(0, 0), (FULL, 0)] + [(FULL, n) for n in ns] + [(FULL, chunk + 3)])
    st = step_time(job.model, job.training, c, hw)
    mem = memory_per_gpu(job.model, job.training, c, gpu=hw.gpu.name)
    t0, t2, tn = st["step_time_s"][0], st["step_time_s"][1], st["step_time_s"][2:]
    h0, h2, hn = st["hw_flops"][0], st["hw_flops"][1], st["hw_flops"][2:]
    f = np.array(ns + [chunk + 3], dtype=float).clip(max=chunk) / chunk
    # the recompute's share of the time and of the hardware FLOPs grows with N in proportion, N = chunk is full
    assert tn[-2] == pytest.approx(t2, rel=1e-12) and tn[-1] == pytest.approx(t2, rel=1e-12)
    assert tn == pytest.approx(t0 + f * (t2 - t0), rel=2e-3)  # the step composes per-layer terms (bubble, DP)
    assert hn == pytest.approx(h0 + f * (h2 - h0), rel=1e-12)
    assert np.all(np.diff(tn[:-1]) > 0) and t0 < tn[0]
    assert np.all(st["mfu"][2:] == pytest.approx(st["mfu"][0] * t0 / tn))  # model FLOPs do not move
    # activations: N of the chunk's layers at full recompute, the rest at none; extrapolated to N = 0, none
    a0, a2, an = mem["activations"][0], mem["activations"][1], mem["activations"][2:-1]
    assert an[-1] == pytest.approx(a2, rel=1e-12) and mem["activations"][-1] == pytest.approx(a2, rel=1e-12)
    slope = np.diff(an)
    # falling below the chunk; at N = chunk the last layer's rebuild costs what keeping its saves did (its input
    # more: pp 1 keeps no other micro-batch to gain on), so the last step may rise by about that
    assert np.all(slope[:-1] < 0) and a2 < an[0] < a0
    assert slope[-1] < 0 or slope[-1] <= 2 * 8192 * 4096 * 2
    if pp == 1:  # one stage: linear in N below the chunk (the rebuilt layer fits in the freed plain layers' room)
        assert slope[:-1] == pytest.approx(slope[0], rel=1e-9)
        assert an[0] - slope[0] == pytest.approx(a0, rel=1e-9)  # extrapolated to N = 0: no recompute


def test_batch_path_equals_one_plan_path(catalog):
    """a batch of mixed rows (none, full, block N at several pp/vpp) gives each row what it gives alone, and the
    estimate's plan (row_result) the same numbers"""
    from planner.hardware.options import option_from_cluster
    job = _job(recompute="full")
    hw = option_from_cluster(job.cluster, catalog, None, "bf16")
    rows = [(1, 1, 0, 0), (1, 1, FULL, 0), (1, 1, FULL, 5), (2, 1, FULL, 3), (4, 2, FULL, 2), (4, 2, 0, 0),
            (2, 1, RECOMPUTE.code["selective"], 0), (4, 1, FULL, 8), (4, 1, FULL, 1)]
    c = Candidates(tp=np.ones(len(rows), dtype=int), pp=np.array([r[0] for r in rows]),
                   dp=np.array([8 // r[0] for r in rows]), cp=1, ep=1, vpp=np.array([r[1] for r in rows]), zero=1,
                   mb=1, rc=np.array([r[2] for r in rows]), sp=False,
                   schedule=np.array([1 if r[1] > 1 else 0 for r in rows]), gpus_per_node=8, nodes=1,
                   rn=np.array([r[3] for r in rows]))
    ev = evaluate(job, c, hw)
    for i in range(len(rows)):
        one = evaluate(job, c.take(np.array([i])), hw)
        for k in ("step_time_s", "hw_flops", "mfu", "hfu", "t_bwd_mb"):
            assert ev["time"][k][i] == pytest.approx(one["time"][k][0], rel=1e-12), (rows[i], k)
        for k in ("total", "activations"):
            assert ev["mem"][k][i] == pytest.approx(one["mem"][k][0], rel=1e-12), (rows[i], k)
        plan = row_result(job, c, hw, ev, i)
        assert plan.hw_flops_per_step == pytest.approx(ev["time"]["hw_flops"][i], rel=1e-12)
        assert plan.hfu == pytest.approx(ev["time"]["hfu"][i], rel=1e-12)
        assert (plan.config.recompute_num_layers or 0) == (rows[i][3] if rows[i][2] == FULL else 0)


def test_estimate_reads_the_fields_and_says_so(catalog):
    full = estimate_job(_job(recompute="full"), catalog)
    none = estimate_job(_job(recompute="none"), catalog)
    b5 = estimate_job(_job(recompute="full", recompute_num_layers=5), catalog)
    assert b5.config.recompute_method == "block" and b5.config.recompute_num_layers == 5
    assert none.step_time_s < b5.step_time_s < full.step_time_s
    assert full.memory_per_gpu_bytes.activations < b5.memory_per_gpu_bytes.activations \
        < none.memory_per_gpu_bytes.activations
    j = b5.to_json()["config"]
    assert j["recompute_method"] == "block" and j["recompute_num_layers"] == 5
    assert "recompute_method" not in full.to_json()["config"]
    # uniform: every layer re-run (full's time), fewer inputs kept but a whole group rebuilt
    u4 = estimate_job(_job(recompute="full", recompute_method="uniform", recompute_num_layers=4), catalog)
    u1 = estimate_job(_job(recompute="full", recompute_method="uniform", recompute_num_layers=1), catalog)
    assert u4.step_time_s == pytest.approx(full.step_time_s, rel=1e-12) == u1.step_time_s
    assert u1.memory_per_gpu_bytes.total == pytest.approx(full.memory_per_gpu_bytes.total, rel=1e-12)
    assert u4.config.recompute_method == "uniform" and u4.config.recompute_num_layers == 4


@pytest.mark.parametrize("cfg,flags", [
    ({"recompute": "full", "recompute_num_layers": 5}, "--recompute-method block --recompute-num-layers 5"),
    ({"recompute": "full", "recompute_method": "uniform", "recompute_num_layers": 2},
     "--recompute-method uniform --recompute-num-layers 2"),
    ({"recompute": "full"}, "--recompute-method uniform --recompute-num-layers 1"),
])
def test_launch_flags(catalog, cfg, flags):
    job = _job(**cfg)
    best = estimate_job(job, catalog)
    spec = " ".join(emit_launch_spec(job, best, "torchrun").replace("\\\n", " ").split())
    assert "--recompute-granularity full " + flags in spec


def test_recommend_picks_the_smallest_block_that_fits(catalog):
    """recompute full with N open: the search takes the smallest N whose plan fits, and N - 1 does not fit"""
    job = _job(recompute="full")
    rec = recommend(job, catalog, simulate=False)
    best = rec.best
    n = best.config.recompute_num_layers
    assert best.config.recompute_method == "block" and 1 <= n < 32 and best.fits
    at = estimate_job(_job(recompute="full", recompute_num_layers=n), catalog)
    below = estimate_job(_job(recompute="full", recompute_num_layers=n - 1), catalog) if n > 1 else None
    assert at.fits and at.step_time_s == pytest.approx(best.step_time_s, rel=1e-9)
    assert at.memory_per_gpu_bytes.total == pytest.approx(best.memory_per_gpu_bytes.total, rel=1e-9)
    assert below is None or not below.fits
    assert best.step_time_s < estimate_job(job, catalog).step_time_s  # faster than every layer
    assert int(rec.table.iloc[0]["recompute_num_layers"]) == n
    from planner.workloads.sensitivity import pinned_job  # the plan's JSON pinned back into a job: the same plan
    pinned = estimate_job(pinned_job(job, best.to_json()), catalog)
    assert pinned.config.recompute_num_layers == n and pinned.step_time_s == pytest.approx(best.step_time_s, rel=1e-9)
    # a fixed N is kept by the search as the job sets it
    fixed = recommend(_job(recompute="full", recompute_num_layers=30), catalog, simulate=False).best
    assert fixed.config.recompute_num_layers == 30


def _deep_job(**training):
    """Llama 3 70B on 64 H100s at TP2 PP8 v2 mb4: every layer checkpointed on its own does not fit (8 chunks' inputs
    of 5 layers in flight on the first stage), uniform groups of 5 do (the one group above 1 that divides its
    5-layer chunks: Megatron-Core's uniform loop indexes past a chunk's layers on any other, uniform40; until then
    the search took groups of 2, a launch that stops at its first forward)"""
    t = {"seq_len": 8192, "global_batch": 512, "micro_batch": 4, "precision": "bf16", "steps": 10,
         "framework": {"name": "megatron-core", "cross_entropy_fusion": "none"}, **training}
    return load_job_dict({"model": {"preset": "llama3-70b"}, "training": t,
                          "parallel": {"tp": 2, "pp": 8, "dp": 4, "vpp": 2, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 8}})


def test_recommend_takes_uniform_groups_where_every_layer_does_not_fit(catalog):
    """recompute full, method and N open, and no block N fits (block N >= 1 keeps more than every layer): the search
    takes Megatron's uniform method at the smallest group that fits, priced as estimate prices it, at full
    recompute's step time (uniform re-runs every layer), emitted as Megatron's flags"""
    job = _deep_job(recompute="full")
    rec = recommend(job, catalog, simulate=False)
    best = rec.best
    g = best.config.recompute_num_layers
    assert best.config.recompute_method == "uniform" and g >= 2 and best.fits
    at = estimate_job(_deep_job(recompute="full", recompute_method="uniform", recompute_num_layers=g), catalog)
    assert at.fits and at.step_time_s == pytest.approx(best.step_time_s, rel=1e-9)
    assert at.memory_per_gpu_bytes.total == pytest.approx(best.memory_per_gpu_bytes.total, rel=1e-9)
    assert g == 5  # the chunks' 5 layers: groups of 2 to 4 do not run (stack rule uniform-groups)
    assert not estimate_job(_deep_job(recompute="full"), catalog).fits  # uniform 1 is the plain full recompute
    for smaller in range(2, g):
        with pytest.raises(InputError, match="uniform-groups|does not divide"):
            estimate_job(_deep_job(recompute="full", recompute_method="uniform", recompute_num_layers=smaller), catalog)
    assert best.step_time_s == pytest.approx(estimate_job(_deep_job(recompute="full"), catalog).step_time_s, rel=1e-9)
    row = rec.table.iloc[0]
    assert row["recompute_method"] == "uniform" and int(row["recompute_num_layers"]) == g
    from planner.units import config_str
    assert f"rc:full(uniform {g})" in config_str(best.to_json()["config"])
    spec = " ".join(emit_launch_spec(job, best, "torchrun").replace("\\\n", " ").split())
    assert f"--recompute-granularity full --recompute-method uniform --recompute-num-layers {g}" in spec
    # a job that fixes the method to block is not given uniform groups: it offloads the optimizer, slower
    blk = recommend(_deep_job(recompute="full", recompute_method="block"), catalog, simulate=False).best
    # (every layer checkpointed: the job's block over the stage's every layer, which the plan names since session 34)
    from planner.model.pipeline import chunk_layers
    every = int(chunk_layers(job.model.layers, blk.config.pp, blk.config.vpp))
    assert (blk.config.recompute_method, blk.config.recompute_num_layers) == ("block", every)
    assert blk.config.offload == "optimizer"
    assert blk.step_time_s > best.step_time_s
    assert recommend(_deep_job(recompute="full", recompute_method="uniform"), catalog,
                     simulate=False).best.config.recompute_num_layers == g


def test_uniform_search_takes_the_smallest_group_that_fits(catalog):
    """smallest_uniform_group against trying every group Megatron-Core runs (one dividing every chunk of the row's
    split: pipeline_split written out per row) on every full-recompute row of a Llama 3.1 405B space that does not
    fit at every layer: the same g on each row (and rows it leaves out fit at no such g)"""
    from planner.hardware.options import option_from_cluster
    from planner.model.pipeline import chunk_layers, pipeline_split
    from planner.model.stacks import from_training
    from planner.search.evaluate import fits_memory, memory_limit
    from planner.search.recommend import smallest_uniform_group
    from planner.search.space import space_chunks
    job = load_job_dict({"model": {"preset": "llama3.1-405b"},
                         "training": {"seq_len": 8192, "global_batch": 4096, "precision": "bf16", "steps": 10,
                                      "framework": "megatron-core", "recompute": "full"},
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}})
    hw = option_from_cluster(job.cluster, catalog, None, "bf16")
    stack, (limit, _) = from_training(job.training), memory_limit(job, hw)
    m, t = job.model, job.training
    chosen = 0
    for cv in space_chunks(job, hw):
        cv = cv.take(np.flatnonzero(cv.rc == FULL))
        mem = memory_per_gpu(m, t, cv, stack=stack, gpu=hw.gpu.name)
        fits = fits_memory(job, hw, mem, limit)
        out, mem2, fits2 = smallest_uniform_group(job, t, cv, fits, mem, stack, hw, limit)
        chunk = chunk_layers(m.layers, cv.pp, cv.chunks).astype(int)
        sizes = [{x for x in pipeline_split(m.layers, int(p), int(v))[1] if x} for p, v in zip(cv.pp, cv.chunks)]
        runs = np.array([[g > 1 and all(x % g == 0 for x in s) for g in range(int(chunk.max()) + 1)] for s in sizes])
        want = np.zeros(len(cv), dtype=int)
        for g in range(2, int(chunk.max()) + 1):
            r = np.flatnonzero(~fits & runs[:, g] & (want == 0))
            p = cv.take(r)
            p.rg = np.full(len(r), g)
            want[r[fits_memory(job, hw, memory_per_gpu(m, t, p, stack=stack, gpu=hw.gpu.name), limit)]] = g
        np.testing.assert_array_equal(out.rg, want)
        assert (fits2 == (fits | (want > 0))).all()
        chosen += int((want > 0).sum())
        assert (out.rg[want > 2] > 2).all()
    assert chosen > 0


def _cli(main_cli, tmp_path, training):
    doc = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "steps": 10, **training},
           "parallel": {"tp": 1, "pp": 1, "dp": 8}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    return main_cli("estimate", p)


@pytest.mark.parametrize("training,field,words", [
    ({"recompute": "selective", "recompute_num_layers": 4}, "training.recompute_num_layers", "only with recompute: full"),
    ({"recompute": "none", "recompute_method": "block"}, "training.recompute_method", "only with recompute: full"),
    ({"recompute": "full", "recompute_num_layers": 4, "framework": "torchtitan"}, "training.recompute_num_layers",
     "megatron-core"),
    ({"recompute": "full", "recompute_method": "block"}, "training.recompute_num_layers", "required"),
    ({"recompute": "full", "recompute_num_layers": 0}, "training.recompute_num_layers", ""),
    ({"recompute": "full", "recompute_method": "interleaved", "recompute_num_layers": 2}, "training.recompute_method",
     ""),
])
def test_refusals(main_cli, tmp_path, training, field, words):
    code, out, err = _cli(main_cli, tmp_path, training)
    assert code == 2, out + err
    line = (out + err).strip().splitlines()
    assert len(line) == 1 and line[0].startswith(f"error: {field}:") and words in line[0], line


def test_validation_row_runs_the_recipes_block_recompute():
    """published_runs_2.csv mbridge2511_h100_llama3_8b_8: the recipe's recompute_num_layers=5 (full, block)"""
    import pandas as pd
    from benchmarks.validate import PR2_CSV, pr2_case
    from hardware_catalog import load_catalog
    d = pd.read_csv(PR2_CSV)
    r = next(x for x in d.itertuples() if x.id == "mbridge2511_h100_llama3_8b_8")
    case = pr2_case(load_catalog(), r)
    assert int(case.candidates.rc[0]) == FULL and int(case.candidates.rn[0]) == 5
    assert case.training.recompute_method == "block" and case.training.recompute_num_layers == 5
    other = next(x for x in d.itertuples() if x.id.startswith("mbridge") and x.id != r.id)
    assert int(pr2_case(load_catalog(), other).candidates.rn[0]) == 0


# ---------------------------------------------------------------------------------------------- real checkpointing
torch = pytest.importorskip("torch")


def _saved(spec, layers, **kw):
    from calibration.reference_models import SavedTensors, build_model
    model = build_model(spec.model_copy(update=dict(layers=layers)), dtype=torch.bfloat16, **kw).train()
    torch.manual_seed(1)
    idx = torch.randint(0, spec.vocab, (2, 128))
    tgt = torch.randint(0, spec.vocab, (2, 128))
    with SavedTensors(model, exclude=[idx, tgt]) as st:
        model(idx, tgt)
    return st.bytes


def test_block_and_uniform_saved_bytes_match_torch_checkpoint():
    """A 6-layer Llama-style stack on CPU, torch.utils.checkpoint applied Megatron's way (block: the first N layers
    one by one; uniform: groups of N), the bytes autograd keeps counted with saved_tensors_hooks (SavedTensors),
    against the planner's per-layer saves (memory_activations._partial_recompute_saves through memory_per_gpu's
    formulas: pipeline.recomputed_fraction / uniform_groups of the none and full per-layer bytes)."""
    from planner.model.activations import FULL as A_FULL, NONE as A_NONE, layer_activation_bytes
    from planner.model.memory_activations import _partial_recompute_saves
    from tiny_models import MODELS
    spec, L = MODELS["llama"], 6
    none_b = float(layer_activation_bytes(spec, 128, 2, act_bytes=2))
    full_b = float(layer_activation_bytes(spec, 128, 2, recompute=A_FULL, act_bytes=2))
    one = Candidates(tp=np.array([1]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=2, rc=FULL, sp=False, schedule=0,
                     gpus_per_node=1, nodes=1)
    m = spec.model_copy(update=dict(layers=L))
    base = _saved(spec, L, recompute="full", recompute_method="block", recompute_num_layers=L)  # every layer
    for n in range(0, L + 1):
        got = _saved(spec, L, recompute="full", recompute_method="block", recompute_num_layers=n) - base
        c = one.take(np.array([0]))
        c.rn = np.array([n]) if n else np.array([0])
        c.rc = np.array([FULL if n else 0])
        per, _ = _partial_recompute_saves(m, _training(), c, np.array([full_b if n else none_b]), np.zeros(1),
                                          lambda: (np.array([none_b]), np.zeros(1)))
        want = L * float(per[0]) - L * full_b
        assert got == pytest.approx(want, rel=0.02, abs=64), (n, got, want)
    for g in (2, 3, 4):
        got = _saved(spec, L, recompute="full", recompute_method="uniform", recompute_num_layers=g)
        u = one.take(np.array([0]))
        u.rg = np.array([g])  # Megatron's uniform groups of g (Candidates.rg)
        per, _ = _partial_recompute_saves(m, _training(recompute_method="uniform", recompute_num_layers=g), u,
                                          np.array([full_b]), np.zeros(1), lambda: (np.array([none_b]), np.zeros(1)))
        assert got - base == pytest.approx(L * float(per[0]) - L * full_b, abs=64), g
    assert A_NONE == 0


def _training(**kw):
    from planner.spec import TrainingSpec
    return TrainingSpec(seq_len=128, global_batch=2, recompute="full", **kw)


def _titan_job(pp=1, **framework):
    """Llama 3 8B under torchtitan with recompute selective, the stack options ``framework``"""
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 8192, "global_batch": 64, "micro_batch": 1, "precision": "bf16",
                                       "steps": 10, "recompute": "selective",
                                       "framework": {"name": "torchtitan", **framework}},
                          "parallel": {"tp": 1, "pp": pp, "dp": 8 // pp, "zero": 3 if pp == 1 else 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


def test_layer_sac_frequency_spans_none_to_full(catalog):
    """torchtitan layer SAC every n-th layer (training.framework.ac_freq): n = 1 checkpoints every layer (full
    recompute's time and memory), n above the rank's layers none (no recompute's), and in between the time falls
    and the activations grow with n; 2 is the default"""
    def est(**kw):
        return estimate_job(_titan_job(selective="layer", **kw), catalog)

    def titan(recompute):
        j = _titan_job()
        j.training.recompute = recompute
        return estimate_job(j, catalog)

    full, none = titan("full"), titan("none")
    one, above = est(ac_freq=1), est(ac_freq=33)
    assert one.step_time_s == pytest.approx(full.step_time_s, rel=1e-9)
    assert one.memory_per_gpu_bytes.activations == pytest.approx(full.memory_per_gpu_bytes.activations, rel=1e-9)
    assert above.step_time_s == pytest.approx(none.step_time_s, rel=1e-9)
    assert above.memory_per_gpu_bytes.activations == pytest.approx(none.memory_per_gpu_bytes.activations, rel=1e-9)
    runs = [est(ac_freq=n) for n in (1, 2, 3, 4, 8)]
    times = [r.step_time_s for r in runs]
    acts = [r.memory_per_gpu_bytes.activations for r in runs]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    assert acts == sorted(acts) and len(set(acts)) == len(acts)
    assert est().step_time_s == runs[1].step_time_s  # torchtitan's configs: "2"
    # the share is floor(K / n) of the rank's K layers: 16 of 16 per rank at pp 2 with n = 1, 5 of 16 with n = 3
    assert float(recomputed_fraction(1, 0, 32, pp=2, every=3)) == pytest.approx(5 / 16)
    # the stack line says which
    assert "selective=layer ac_freq=3" in " ".join(est(ac_freq=3).assumptions)


def test_layer_sac_hfu_counts_the_rebuilt_layers(catalog):
    """HFU counts the layers torchtitan layer SAC rebuilds in the backward (MFU, model FLOPs, does not): at n = 1
    every layer, full recompute's hardware FLOPs; at n the share floor(K / n) of the rank's K layers of full
    recompute's extra over none (the recomputed_fraction the step time reads); the step times do not move. Until
    2026-12-03 every n counted the attention-core recompute (the same HFU at n 1, 2, 4)."""
    def est(recompute="selective", **kw):
        j = _titan_job(**kw)
        j.training.recompute = recompute
        return estimate_job(j, catalog)

    full, none = est("full"), est("none")
    runs = {n: est(selective="layer", ac_freq=n) for n in (1, 2, 4)}
    assert runs[1].hw_flops_per_step == pytest.approx(full.hw_flops_per_step, rel=1e-12)
    assert runs[1].hfu == pytest.approx(full.hfu, rel=1e-9)
    extra = full.hw_flops_per_step - none.hw_flops_per_step
    for n, r in runs.items():
        share = (32 // n) / 32
        assert r.hw_flops_per_step == pytest.approx(none.hw_flops_per_step + share * extra, rel=1e-12)
        assert r.flops_per_step == none.flops_per_step  # MFU's count is the model's
        assert r.hfu / r.mfu == pytest.approx(r.hw_flops_per_step / r.flops_per_step, rel=1e-9)  # one count, two places
    # the rebuilt share rises from n = 4 to n = 1, and HFU with it over MFU
    ratio = [runs[n].hfu / runs[n].mfu for n in (4, 2, 1)]
    assert ratio == sorted(ratio) and len(set(ratio)) == 3


@pytest.mark.parametrize("framework,words", [
    ({"selective": "layer", "ac_freq": 0}, "must be at least 1"),
    ({"selective": "layer", "ac_freq": "two"}, ""),
    ({"selective": "layer", "ac_freq": 2.5}, ""),
    ({"selective": "op", "ac_freq": 2}, "only with selective: layer"),
    ({"ac_freq": 2}, "only with selective: layer"),
])
def test_layer_sac_frequency_refusals(main_cli, tmp_path, framework, words):
    doc = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "steps": 10, "recompute": "selective",
                        "framework": {"name": "torchtitan", **framework}},
           "parallel": {"tp": 1, "pp": 1, "dp": 8}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    code, out, err = main_cli("estimate", p)
    assert code == 2, out + err
    line = (out + err).strip().splitlines()
    assert len(line) == 1 and line[0].startswith("error: training.framework.ac_freq:") and words in line[0], line


def test_layer_sac_saved_bytes_match_torch_checkpoint():
    """torchtitan's layer SAC on a 6-layer Llama-style CPU stack: its ``_apply_layer_sac`` loop (a counter from 1,
    ``ptd_checkpoint_wrapper`` where count % n == 0) applied to the blocks, the bytes autograd keeps counted with
    saved_tensors_hooks, against the planner's per-layer saves (memory_activations._partial_recompute_saves with the stack's
    ``ac_freq``: pipeline.recomputed_fraction's floor(L / n) / L of the full per-layer bytes, the rest at none)"""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
    from calibration.reference_models import SavedTensors, build_model
    from planner.model.activations import FULL as A_FULL, layer_activation_bytes
    from planner.model.memory_activations import _partial_recompute_saves
    from tiny_models import MODELS
    spec, L = MODELS["llama"], 6
    m = spec.model_copy(update=dict(layers=L))
    none_b = float(layer_activation_bytes(spec, 128, 2, act_bytes=2))
    full_b = float(layer_activation_bytes(spec, 128, 2, recompute=A_FULL, act_bytes=2))
    sel = Candidates(tp=np.array([1]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=2, rc=RECOMPUTE.code["selective"],
                     sp=False, schedule=0, gpus_per_node=1, nodes=1)

    def saved(n):
        model = build_model(m, dtype=torch.bfloat16).train()
        for count, i in enumerate(range(len(model.blocks)), start=1):
            if count % n == 0:
                model.blocks[i] = checkpoint_wrapper(model.blocks[i], preserve_rng_state=False)
        torch.manual_seed(1)
        idx, tgt = torch.randint(0, spec.vocab, (2, 128)), torch.randint(0, spec.vocab, (2, 128))
        with SavedTensors(model, exclude=[idx, tgt]) as st:
            with torch.utils.checkpoint.set_checkpoint_early_stop(False):
                model(idx, tgt)
        return st.bytes

    base = saved(1)  # every layer checkpointed
    for n in (1, 2, 3, 4, 7):
        per, _ = _partial_recompute_saves(m, _training(), sel, np.array([full_b]), np.zeros(1),
                                          lambda: (np.array([none_b]), np.zeros(1)), n)
        assert saved(n) - base == pytest.approx(L * float(per[0]) - L * full_b, rel=0.02, abs=64), n
