"""rec59: the fallback search's fit screen reads the nearest memory it has (planner.search.recommend ``_chance``,
planner.search.space ``could_free``): a variant is screened against its nearest *evaluated* ancestor root, with what
both can free (before: rows its root had itself been screened out of went unscreened).

The screen is a necessary condition of the fit, so it must never drop a plan: a search's table with it equals the one
without any screen (every variant on every row its parents left) and the one under the old screen (the root's memory
alone), row for row, under each objective, with fewer rows evaluated. And (words58's leftover) the app's empty
``activation_offload_layers`` input names the count Megatron-Core runs by default."""
import numpy as np
import pandas as pd
import pytest

import planner.interactive as wi
import planner.search.recommend as R
from planner.model.memory import allocator_reserve
from planner.search.space import could_free, stack_variants
from planner.spec.load import load_job_dict
from planner.workloads.training import recommend

#: Llama-3-8B at 16,384 tokens, Megatron-Core, every stack option and layout open, on two kinds of node (A100-40GB,
#: L40S): module lists, both offloads, Megatron-FSDP and the pipeline split searched, most layouts over the memory
JOB = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 16384, "global_batch": 32, "precision": "bf16", "tokens": 1.0e9,
                    "framework": {"name": "megatron-core"}},
       "constraints": {"instances": ["aws:p4d.24xlarge", "aws:g6e.48xlarge"], "max_gpus": 16}}


def _unscreened(variants, var, roots, rows, limit, places):
    """No screen at all: every variant on every row its parents left."""
    return np.ones(len(rows), dtype=bool)


def _root_only(variants, var, roots, rows, limit, places):
    """The screen before rec59: the root's memory where the root evaluated the row, no screen elsewhere."""
    chance = np.ones(len(rows), dtype=bool)
    if var.root is not None and var.root in roots and rows.any():
        ridx, rmem = roots[var.root]
        chance[ridx] = var.could_fit(rmem, limit)
    return chance


def _search(job, monkeypatch, screen, objective: str):
    job = job.model_copy(update={"constraints": job.constraints.model_copy(update={"objective": objective})})
    with monkeypatch.context() as m:
        if screen is not None:
            m.setattr(R, "_chance", screen)
        res = recommend(job, None, simulate=False, top=10)
    return res["kept"].reset_index(drop=True), res["evaluated"]


@pytest.mark.parametrize("objective", ["cost", "time"])
def test_screens_keep_every_plan(monkeypatch, objective):
    """The screened search's table -- the best plan, the ranked rows, every column -- equals the unscreened one's and
    the root-only screen's, with fewer rows evaluated than either."""
    job = load_job_dict(JOB)
    assert {"optimizer_offload", "activation_offload", "megatron_fsdp"} <= {k for v in stack_variants(job)
                                                                            for k in v.values}
    new, n_new = _search(job, monkeypatch, None, objective)
    old, n_old = _search(job, monkeypatch, _root_only, objective)
    every, n_every = _search(job, monkeypatch, _unscreened, objective)
    assert n_new < n_old < n_every, (n_new, n_old, n_every)
    pd.testing.assert_frame_equal(new, every)
    pd.testing.assert_frame_equal(new, old)


def test_every_stack_keeps_its_fitting_rows(monkeypatch):
    """The example that searches every stack (llama3-8b-auto: Megatron-Core, torchtitan, DeepSpeed, the HF Trainer):
    as many rows fit and as many plans are feasible as under the root-only screen, the same table. (A screen against
    each parent by the option they differ in, tried in rec59, lost a fitting HF Trainer row here: the Trainer's walked
    memory holds its gradients in the activations term.)"""
    from conftest import EXAMPLES
    from planner.spec import load_job

    job = load_job(EXAMPLES / "llama3-8b-auto.yaml")
    runs = {}
    for name, screen in (("new", None), ("old", _root_only)):
        with monkeypatch.context() as m:
            if screen is not None:
                m.setattr(R, "_chance", screen)
            runs[name] = recommend(job, None, simulate=False)
    new, old = runs["new"], runs["old"]
    assert (new["fits_memory"], new["feasible"]) == (old["fits_memory"], old["feasible"])
    assert new["evaluated"] < old["evaluated"]
    pd.testing.assert_frame_equal(new["kept"], old["kept"])


def test_could_free_reads_the_rows_asked():
    """``could_free`` on rows ``at`` of a memory call is the whole call's screen at those rows (what ``_chance`` reads
    of a parent's batch), the activations and logits with their fragmentation allowance."""
    rng = np.random.default_rng(59)
    mem = {k: rng.uniform(0, 40e9, 50) for k in ("optimizer", "activations", "logits")}
    mem["total"] = sum(mem.values()) + 10e9
    at = np.array([3, 7, 11, 49])
    for frees in (("optimizer",), ("activations", "logits"), ("logits",)):
        assert np.array_equal(could_free(mem, frees, 60e9, at), could_free(mem, frees, 60e9)[at])
    one = {"total": np.array([50.0]), "logits": np.array([10.0])}
    edge = 50.0 - 10.0 - allocator_reserve(10.0)  # the least total the logits' removal can leave
    assert could_free(one, ("logits",), edge).all() and not could_free(one, ("logits",), edge * (1 - 1e-9)).any()


def test_the_offloaded_layers_input_names_megatrons_count():
    """words58's leftover: Megatron-Core's empty ``activation_offload_layers`` input where the search does not try
    counts (the offload set on) says the count the stack runs, all but the last layer (31 of Llama-3-8B's 32), in its
    placeholder and its help (old: "stack default" alone)."""
    c = next(c for c in wi.stack_controls(wi.preset_base("llama3-8b"), "megatron-core", {"activation_offload": True},
                                          recompute="none") if c.option == "activation_offload_layers")
    assert not c.searched
    assert c.placeholder == "stack default (all but the last layer, 31)", c.placeholder
    assert c.help.endswith("empty: the stack's default (all but the last layer, 31)"), c.help
