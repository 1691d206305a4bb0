"""``recommend`` searches Megatron-Core's per-module selective recompute (``training.recompute_modules``)
when the job leaves ``training.recompute`` open on a Megatron-Core stack (planner.search.space
``recompute_module_lists``, the lists in ``defaults.RECOMPUTE_MODULE_LISTS``).

The tight-memory cases run one p5.48xlarge node (8 x H100 80 GB) with the parallel layout fixed and
the offloads switched off (the MoE dispatcher fixed), so the only choice left is what to recompute; each claim of the search is
checked by ``estimate_job`` on the same layout (the estimate path, not the search's batches)."""
import pytest

from planner import defaults as D
from planner.errors import InputError
from planner.model.stacks import recompute_modules, resolve
from planner.present.emit import emit_launch_spec
from planner.search.space import recompute_module_lists, stack_variants
from planner.spec import load_job_dict
from planner.units import config_str
from planner.workloads.sensitivity import pinned_job
from planner.workloads.training import estimate_job, recommend

P5 = "aws:p5.48xlarge"
# (and the MoE dispatcher fixed, searched since moedisp47: the only choice left is what to recompute)
NO_OFFLOAD = {"name": "megatron-core", "optimizer_offload": False, "activation_offload": False, "moe_dispatcher": "alltoall",
              "moe_a2a_overlap": False}


def _job(preset, parallel, seq=4096, micro_batch=1, framework=NO_OFFLOAD, **training):
    t = {"seq_len": seq, "global_batch": 256, "tokens": 1e9, "micro_batch": micro_batch, **training}
    if framework is not None:
        t["framework"] = framework
    return load_job_dict({"model": {"preset": preset}, "training": t, "cluster": {"instance": P5, "nodes": 1},
                          "parallel": parallel})


def _with(job, **training):
    """``job`` with training fields set (as a user would write them in the job file)."""
    doc = job.model_dump(exclude_none=True, exclude={"assumptions"})
    doc["training"].update(training)
    return load_job_dict(doc)


# Qwen3-30B-A3B (MoE, no MLA) at TP2 EP8 ETP1, and DeepSeek-V2-Lite (MoE + MLA) at TP1 EP8, 9k tokens
# (tight: without recompute it does not fit; at 8k it does since the loss holds Megatron's in-place
# cross-entropy, 6 bytes per logit, not 10: activations.LOSS_TRANSIENT_BYTES). 10k until dsdense38 priced V2-Lite's
# dense layer's saved MLP rows at its own 10944, not the experts' 1408: there no module list fits any more (87.9 GiB
# without recompute), block recompute wins; at 9k 83.2 GiB without, a module list with mla_up_proj fits (72.9)
TIGHT = [("qwen3-30b-a3b", {"tp": 2, "pp": 1, "ep": 8, "etp": 1, "zero": 1}, 4096),
         ("deepseek-v2-lite", {"tp": 1, "pp": 1, "ep": 8, "zero": 1}, 9216)]


def test_tight_qwen_moe_prefers_block_recompute_to_the_module_lists(catalog):
    """Qwen3-30B-A3B at TP2 EP8: the fitting module list re-runs the MoE layer, the norms and the attention core on
    all 48 layers; Megatron's block recompute of 27 of them (``--recompute-method block``, searched since
    tests/test_precomp.py's change) re-runs less and fits, so it wins; the module lists are still searched."""
    rec = recommend(_job(*TIGHT[0]), catalog, simulate=False)
    best = rec.best
    assert best.config.recompute == "full" and best.config.recompute_method == "block" and best.fits
    assert 1 <= best.config.recompute_num_layers < 48
    sel = rec.table[rec.table["recompute"] == "selective"]
    assert len(sel) and tuple(sel.iloc[0]["recompute_modules"].split("+")) in D.RECOMPUTE_MODULE_LISTS
    assert best.step_time_s < sel["step_time_s"].min()


@pytest.mark.parametrize("preset,parallel,seq", TIGHT[1:])
def test_tight_moe_picks_a_module_list_that_fits_where_core_attn_does_not(catalog, preset, parallel, seq):
    job = _job(preset, parallel, seq)
    rec = recommend(job, catalog, simulate=False)
    best = rec.best
    mods = best.config.recompute_modules
    assert best.config.recompute == "selective" and mods is not None and tuple(mods) in D.RECOMPUTE_MODULE_LISTS
    assert best.fits
    # the same layout with Megatron's default selective recompute (the attention core) does not fit ...
    core = estimate_job(_with(job, recompute="selective"), catalog)
    assert not core.fits
    assert best.memory_per_gpu_bytes.total < core.memory_per_gpu_bytes.total
    # ... and full recompute fits but is slower
    full = estimate_job(_with(job, recompute="full"), catalog)
    assert full.fits and full.step_time_s > best.step_time_s
    # round trip: the plan's list written into the job file and estimated gives the same step and memory
    again = estimate_job(_with(job, recompute="selective", recompute_modules=list(mods)), catalog)
    assert again.fits
    assert again.step_time_s == pytest.approx(best.step_time_s, rel=1e-9)
    assert again.memory_per_gpu_bytes.total == pytest.approx(best.memory_per_gpu_bytes.total, rel=1e-9)
    # and pinned from the JSON (``planner.workloads.sensitivity.pinned_job``, as sensitivity sweeps do)
    pinned = estimate_job(pinned_job(job, best.to_json()), catalog)
    assert pinned.step_time_s == pytest.approx(best.step_time_s, rel=1e-9)
    # the outputs say so: the layout string, the JSON's config, the assumptions
    assert f"rc:sel({'+'.join(mods)})" in config_str(best.config)
    assert best.to_json()["config"]["recompute_modules"] == list(mods)
    assert any("recompute_modules" in a and "[core_attn]" in a for a in rec.assumptions)


def test_the_mla_model_searches_a_recipe_list_with_mla_up_proj(catalog):
    """DeepSeek-V2-Lite at 9k tokens: the MLA up-projections (q, k, v rebuilt from the latents; the
    list DeepSeek-V3's and Kimi-K2's Blackwell recipes run) are searched and fit where core_attn
    does not. Which fitting list wins is close: V2-Lite has no q LoRA, so mla_up_proj re-runs the
    whole q_proj (h x H*192, Megatron-Core multi_latent_attention.py ``qkv_up_proj_and_rope_apply``)
    besides kv_up, about as long as re-running the experts' activation (moe_act); the pick is the
    fastest of them."""
    rec = recommend(_job(*TIGHT[1]), catalog, simulate=False)
    sel = rec.table[rec.table["recompute"] == "selective"]
    assert any("mla_up_proj" in x.split("+") for x in sel["recompute_modules"])
    assert rec.best.step_time_s == sel["step_time_s"].min()


def test_emitted_launch_spec_carries_the_list(catalog):
    job = _job(*TIGHT[1])
    best = recommend(job, catalog, simulate=False).best
    spec = emit_launch_spec(job, best, "torchrun")
    assert "--recompute-granularity selective" in spec
    assert "--recompute-modules " + " ".join(best.config.recompute_modules) in spec


MOE = {("moe_act",), ("layernorm", "moe_act"), ("moe", "layernorm", "core_attn", "moe_act")}
MLA_DENSE = {("mla_up_proj",), ("mlp",), ("mla_up_proj", "mlp")}


@pytest.mark.parametrize("preset,precision,recipe,expected", [
    ("qwen3-30b-a3b", "bf16", "tensorwise", MOE),  # every layer MoE: no "mlp"; no MLA
    ("qwen3-30b-a3b", "fp8", "delayed", set()),  # each MoE list has moe_act or layernorm
    ("deepseek-v2-lite", "fp8", "delayed", MLA_DENSE),  # one dense layer, MLA
    ("deepseek-v3", "bf16", "tensorwise", set(D.RECOMPUTE_MODULE_LISTS)),
    ("llama3-8b", "bf16", "tensorwise", {("mlp",)}),  # dense, TE-fused norms: "layernorm" frees nothing
    ("gpt-oss-20b", "fp8", "tensorwise", MOE),
])
def test_lists_megatron_refuses_are_never_proposed(preset, precision, recipe, expected):
    """Megatron-Core 0.16.1 TransformerConfig.__post_init__: mla_up_proj needs MLA, moe_act/layernorm are
    refused under FP8 delayed scaling; and "moe"/"moe_act" need MoE layers, "mlp" dense ones."""
    job = load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 4096, "global_batch": 64, "tokens": 1e9, "precision": precision,
        "framework": {"name": "megatron-core", "fp8_recipe": recipe}}, "cluster": {"instance": P5}})
    m = job.model
    lists = recompute_module_lists(job)
    assert set(lists) == expected
    stack = resolve("megatron-core", fp8_recipe=recipe)
    for mods in lists:
        assert mods in D.RECOMPUTE_MODULE_LISTS
        recompute_modules(job.training.model_copy(update={"recompute_modules": list(mods)}), stack, m, precision)
        if m.mla is None:
            assert "mla_up_proj" not in mods
        if m.moe is None:
            assert not {"moe", "moe_act"} & set(mods)
        if precision == "fp8" and recipe == "delayed":
            assert not {"moe_act", "layernorm"} & set(mods)
        if "mlp" in mods:
            assert m.moe is None or m.moe_layers < m.layers
    # and every variant the search builds runs a list from that set
    assert {v.modules for v in stack_variants(job)} - {None} == set(lists)


@pytest.mark.parametrize("training", [{"recompute": "selective"}, {"recompute": "full"}, {"recompute": "none"},
                                      {"recompute": "selective", "recompute_modules": ["core_attn"]},
                                      {"framework": {"name": "torchtitan"}}])
def test_nothing_is_searched_when_the_job_fixes_recompute_or_the_stack_has_no_module_recompute(catalog, training):
    job = _job("qwen3-30b-a3b", TIGHT[0][1], **{"framework": None, **training})
    assert recompute_module_lists(job) == ()
    assert all(v.modules is None for v in stack_variants(job))
    try:
        rec = recommend(job, catalog, simulate=False)
    except InputError:
        return  # (nothing fits this fixed layout with that choice: nothing searched either way)
    assert "recompute_modules" not in rec.table.columns
    assert not any("recompute_modules [" in a for a in rec.assumptions)
    mods = rec.best.config.recompute_modules
    assert mods == (tuple(training["recompute_modules"]) if "recompute_modules" in training else None)


def test_a_longer_list_is_never_faster_so_it_is_tried_only_where_its_sub_lists_do_not_fit(catalog):
    """What the search's pruning rests on (space._with_module_lists): over every layout of a DeepSeek-V3
    search on one instance type, a list's step time is at least each of its sub-lists' (each module's
    forward is re-run once more, planner.model.layer_ops._module_recompute) -- and the table never holds
    a list next to one of its sub-lists on the same layout and offloads."""
    from planner.hardware.options import options_for_search
    from planner.model.step_time import step_time
    from planner.model.stacks import DEFAULT_RECOMPUTE_MODULES
    from planner.search.space import space_for

    job = load_job_dict({"model": {"preset": "deepseek-v3"}, "training": {
        "seq_len": 4096, "global_batch": 4096, "tokens": 1e12, "micro_batch": 1},
        "cluster": {"instance": P5, "nodes": 64}, "parallel": {"pp": 16, "zero": 1}})
    hw = options_for_search(job.cluster, job.constraints, "bf16", catalog)[0]
    c = space_for(job, hw)
    c = c.take(c.rc == 1)
    lists = [DEFAULT_RECOMPUTE_MODULES, *recompute_module_lists(job)]
    times = {mods: step_time(job.model, job.training.model_copy(update={"recompute_modules": list(mods)}), c, hw)
             ["step_time_s"] for mods in lists}
    for sub in lists:
        for sup in lists:
            if set(sub) < set(sup):
                assert (times[sup] >= times[sub] * (1 - 1e-12)).all(), (sub, sup)
    t = recommend(job, catalog, simulate=False).table
    # (the pipeline split too: Megatron's own is a fallback where the balanced one does not fit, space.py pp_split)
    key = ["nodes", "tp", "pp", "dp", "cp", "ep", "etp", "vpp", "zero", "micro_batch", "optimizer_offload",
           "activation_offload", "pp_split"]
    sel = t[t["recompute"] == "selective"].fillna({"pp_split": ""})
    for _, g in sel.groupby(key):
        have = [set(x.split("+")) for x in g["recompute_modules"]]
        assert not any(a < b for a in have for b in have)
