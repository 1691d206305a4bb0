"""The layout a newcomer can walk (README "Architecture"): the import-linter contracts hold, and the
shells stay thin."""
import ast
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_every_planner_module_is_in_a_layer():
    """The layers contract checks only the modules it names: planner/npfast.py and planner/alloc.py were in none, so
    nothing kept them below the model that imports them (README "Architecture" did not name them either)."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in cfg if c["type"] == "layers")
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    found = {f"planner.{p.stem if p.suffix else p.name}" for p in (ROOT / "planner").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert found - named == set(), sorted(found - named)


def _command_bodies(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command" for d in node.decorator_list):
            yield node


def test_cli_commands_are_thin_shells():
    """Each command: load, call a workload (or a present/report function), render — no planning
    logic (no loops over plans, no arithmetic on results)."""
    for fn in _command_bodies(ROOT / "planner" / "cli.py"):
        loops = [n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While, ast.ListComp, ast.DictComp))]
        assert not loops, f"planner.cli.{fn.name} loops: planning logic belongs in a workload"
        assert fn.end_lineno - fn.lineno < 45, f"planner.cli.{fn.name} is {fn.end_lineno - fn.lineno} lines"


def test_no_module_level_import_cycles_in_planner():
    """grimp's graph of planner: no package imports a package that imports it back (what the
    layers contract also says, checked here without import-linter's config)."""
    grimp = pytest.importorskip("grimp")
    g = grimp.build_graph("planner")
    pkgs = sorted(m for m in g.modules if m.count(".") == 1)
    for a in pkgs:
        for b in pkgs:
            if a < b and g.chain_exists(a, b, as_packages=True) and g.chain_exists(b, a, as_packages=True):
                pytest.fail(f"cycle between {a} and {b}")


LAYER_OPS = ("layer_context", "attention_projections", "dense_mlp_shapes", "mamba_block", "attention_core",
             "elementwise", "moe_block", "layer_gemms", "memory_bound", "tp_comm", "cp_comm", "sync_idle",
             "host_dispatch", "early_stop_skip", "selective_recompute", "lm_head", "mtp_projection")


def test_layer_model_is_composed_of_op_functions():
    """layer_ops.layer_terms composes one function per op group (Calculon's per-layer ops, each owning its time,
    without its 2,400-line class): the composer and each op function stay short enough to read whole (the
    composer was one 425-line function until 2026-12-04)."""
    tree = ast.parse((ROOT / "planner" / "model" / "layer_ops.py").read_text())
    lines = {n.name: n.end_lineno - n.lineno + 1 for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert lines["layer_terms"] <= 120, f"layer_terms is {lines['layer_terms']} lines"
    for name in LAYER_OPS:
        assert name in lines, f"layer_ops.{name} is gone: the README's code walk names it"
        assert lines[name] <= 60, f"layer_ops.{name} is {lines[name]} lines"


def test_the_layer_ops_and_the_step_are_two_modules():
    """planner/model/step_time.py held the layer's ops and the step's composition in 3,336 lines until split46: the
    op functions and their ``LayerContext`` live in layer_ops.py only (step_time.py defines none of them, so the split
    cannot fold back), and layer_ops imports nothing from step_time (the import-linter contract says the same)."""
    def top_level(name):
        tree = ast.parse((ROOT / "planner" / "model" / f"{name}.py").read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        return defined, imported

    ops, ops_imports = top_level("layer_ops")
    step, step_imports = top_level("step_time")
    assert {"LayerContext", "layer_terms", *LAYER_OPS} <= ops
    assert ops & step == set(), sorted(ops & step)
    assert "planner.model.step_time" not in ops_imports
    # what step_time takes from layer_ops is layer_ops' public surface (it imported the private ``_layer_terms``
    # until code47)
    private = sorted(n for n in step_imports if n.startswith("planner.model.layer_ops._"))
    assert private == [], private



#: private names a planner module may still import from another, each with why (none: activations_hf's
#: ``saved_rows``, the last one, is public since the memory split merged)
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_uses(tree: ast.AST, me: str, modules: set) -> set:
    """``{"planner.x._name", ...}`` that ``me``'s source takes from another planner module: ``from planner.x import
    _name`` and ``m._name`` where ``m`` is a planner module (imported ``as m`` or ``from planner import x``)."""
    aliases, found = {}, set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "planner":
            for a in n.names:
                full = f"{n.module}.{a.name}"
                if full in modules:
                    aliases[a.asname or a.name] = full
                elif a.name.startswith("_") and n.module != me:
                    found.add(full)
        elif isinstance(n, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in n.names if a.name.split(".")[0] == "planner"})
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__"):
            owner = aliases.get(ast.unparse(n.value)) or ast.unparse(n.value)
            if owner in modules and owner != me:
                found.add(f"{owner}.{n.attr}")
    return found


def test_no_module_imports_a_private_name_from_another():
    """A leading underscore says "this module's own": a name another module needs is public (code47b renamed
    ``report.analytic_caveat``, ``params.norm_params``, ``schema.Strict``, ``serving_screen.throughput_at``,
    ``answers.data_only`` / ``steps_for`` / ``storage_ceiling``, ``config.checkpoint_bytes``, and load.py validates
    through ``schema.validate_section``, not ``_first_error``). Tests may still import private names to test them."""
    modules = _planner_modules()
    bad = sorted((me, use) for me, uses in _code_scan().private_uses for use in uses
                 if (me, use) not in PRIVATE_IMPORTS_ALLOWED)
    assert bad == [], bad
    # the scan sees both forms (a scan that found nothing would pass on anything)
    probe = ast.parse("from planner.spec.schema import _first_error\nfrom planner.simulate import answers as A\n"
                      "A._helper()\nimport planner.units\nplanner.units._x")
    assert _private_uses(probe, "app", modules) == {"planner.spec.schema._first_error", "planner.simulate.answers._helper",
                                                    "planner.units._x"}


#: what split46b moved from stacks.py into stack_kernels.py: the kernels' and numerics' tables the registry's entries
#: name by key, their dataclasses and the rules that read them
STACK_KERNELS = ("LowPrecisionRecipe", "RECIPES", "TE_B300_LAYER_MS", "AmaxReduction", "TE_AMAX_REDUCTIONS",
                 "TeRecompute", "TE_RECOMPUTES", "fp8_param_gather_on", "fp8_weights_as_stored", "te_cast_bytes",
                 "recipe_on", "fp8_linear_weight_bytes", "FA1_HEAD_DIM_TILES", "TRITON_FA_HEAD_DIM_TILES",
                 "MCORE_FUSED_SOFTMAX_KEYS", "AttnKernels", "ATTN_IMPLEMENTATION_KERNELS", "attn_implementation_refusal",
                 "fused_attention", "hf_attn_choice", "eager_sink_attention", "softmax_fallback",
                 "core_attention_fallback", "ExplicitSoftmax", "EXPLICIT_SOFTMAX", "UNREAD_FP32_KEYS",
                 "explicit_softmax_fp32", "explicit_softmax_extra", "EAGER_FP32_BYTES", "AUTOCAST_CAST_BYTES")


class CodeScan(NamedTuple):
    """What the tests below read of the code base's syntax: every ``from M import a, b`` (``(file, M, names)``, planner,
    benchmarks, tests and app.py) and each planner module's (and app.py's) private uses of another (``_private_uses``)."""
    import_froms: tuple[tuple[str, str, tuple[str, ...]], ...]
    private_uses: tuple[tuple[str, frozenset], ...]


def _planner_modules() -> set:
    return {_module_name(f) for f in [*(ROOT / "planner").rglob("*.py"), ROOT / "app.py"]}


@functools.cache
def _code_scan() -> CodeScan:
    """The code base parsed once for this file's tests: each split's test and the private-name test walked every file
    again (five parses of ~900 files, ~16 of the file's 20 CPU seconds; suite49)."""
    modules = _planner_modules()
    mine = {ROOT / "app.py", *(ROOT / "planner").rglob("*.py")}
    code = [*ROOT.glob("planner/**/*.py"), *ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("tests/*.py"), ROOT / "app.py"]
    froms, private = [], []
    for path in sorted(set(code)):
        tree = ast.parse(path.read_text())
        froms += [(str(path.relative_to(ROOT)), n.module, tuple(a.name for a in n.names))
                  for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        if path in mine:
            me = _module_name(path)
            private.append((me, frozenset(_private_uses(tree, me, modules))))
    return CodeScan(tuple(froms), tuple(private))


def _imported_through(module: str, names: set) -> list:
    """Every ``from <module> import X`` in the code base (planner, benchmarks, tests, app.py) with X one of ``names``:
    a moved name imported through the module it left (a split's tests require none)."""
    return [f"{path}: {a}" for path, m, imported in _code_scan().import_froms if m == module
            for a in imported if a in names]


def _top_level_names(path: Path) -> set:
    """The functions, classes and assigned names a module defines at its top level."""
    names = set()
    for n in ast.parse(path.read_text()).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            names |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
    return names


def test_the_registry_and_its_kernels_tables_are_two_modules():
    """planner/model/stacks.py held the registry (``Stack``, ``STACKS``, the option rules) and the kernels' and
    numerics' tables its entries name by key (recipes, amax reductions, attention kernels, softmax forms) in 3,488
    lines until split46b: those live in stack_kernels.py only (stacks.py defines none of them, so the split cannot
    fold back, and no module imports them through stacks), and stack_kernels imports nothing from stacks (the
    import-linter contract says the same)."""
    model = ROOT / "planner" / "model"
    kernels, registry = _top_level_names(model / "stack_kernels.py"), _top_level_names(model / "stacks.py")
    assert set(STACK_KERNELS) <= kernels
    assert {"Stack", "STACKS", "OPTIONS", "OPTION_HOLDERS", "check_option"} <= registry
    assert kernels & registry == set(), sorted(kernels & registry)
    tree = ast.parse((model / "stack_kernels.py").read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "planner.model.stacks" for n in ast.walk(tree))
    through = _imported_through("planner.model.stacks", kernels)
    assert through == [], through


#: what split46c moved from planner/workloads/serving.py into serving_screen.py: one option's analytic size before any
#: simulation (its batch, token budget, throughput, replicas and the p99 TTFT / TPOT at its load) with its tables
SERVING_SCREEN = ("ServeTarget", "burst_parts", "overload_tail", "overloaded_replicas", "burst_ttft", "burst_quantile",
                  "screen_point", "llm_ttft", "time_in_service", "slot_service", "budget_batch", "budget_decodes",
                  "OFFLINE_TOKEN_BUDGET", "OFFLINE_TOKEN_BUDGETS", "offline_token_budget", "OfflineRun", "offline_run",
                  "kv_free_bytes", "replica_spec", "llm_option", "BUDGET_BY_SCREEN", "BUDGET_BY_SIMULATION",
                  "BudgetSize", "budget_replicas", "replica_throughput", "throughput_at", "batch_allows",
                  "QUEUE_REPLICA_FACTOR", "queue_replicas", "TPOT_SCAN", "least_meeting", "AHEAD_LEVELS",
                  "_bisection_points", "CONCURRENCY_ITERATIONS", "screen_concurrency", "screen_concurrency_many",
                  "generic_option")


def test_the_serving_plan_and_its_analytic_screen_are_two_modules():
    """planner/workloads/serving.py held the plan (options, limits, the simulations' refinement, the ranking) and the
    analytic screen of one option in 3,158 lines until split46c: the screen lives in serving_screen.py only (serving.py
    defines none of it, so the split cannot fold back, and no module imports it through serving, where a monkeypatch
    would miss the screen's own calls), and serving_screen imports nothing from serving or serving_budget (the
    import-linter layers contract says the same)."""
    workloads = ROOT / "planner" / "workloads"
    screen, plan = _top_level_names(workloads / "serving_screen.py"), _top_level_names(workloads / "serving.py")
    assert set(SERVING_SCREEN) <= screen
    assert {"plan_serving", "ServingLimits", "_refine_realtime", "_refine_offline", "rank_key", "_at_budget"} <= plan
    assert screen & plan == set(), sorted(screen & plan)
    tree = ast.parse((workloads / "serving_screen.py").read_text())
    above = {"planner.workloads.serving", "planner.workloads.serving_budget"}
    assert not any(isinstance(n, ast.ImportFrom) and n.module in above for n in ast.walk(tree))
    through = _imported_through("planner.workloads.serving", screen)
    assert through == [], through


#: what split47 moved from planner/model/memory.py into memory_stages.py: what each pipeline stage holds -- its
#: parameters (the split the model states are priced on, the ends, MTP, the 16-bit kept copies, the largest gathered
#: unit) and its micro-batches in flight
MEMORY_STAGES = ("largest_unit_params", "StageSplit", "STATE_KEY", "split_blocks", "key_stage_split", "stage_params",
                 "_with_mtp_blocks", "stage_split", "_split_tables", "_split_stage_params", "layer_params",
                 "lp16_rank_params", "pipeline_end_params", "mtp_embedding_copy", "_with_pipeline_ends",
                 "mtp_stage_params", "_hybrid_stage_params", "inflight_microbatches", "combined_pair_layers",
                 "stage_layer_microbatches")


def test_the_memory_model_and_its_pipeline_stages_are_two_modules():
    """planner/model/memory.py held the memory model (model states, activations, the reserve, the rank classes) and
    what each pipeline stage holds (its parameters and micro-batches in flight) in 3,409 lines until split47: the
    stages live in memory_stages.py only (memory.py defines none of them, so the split cannot fold back, and no module
    imports them through memory), and memory_stages imports nothing from memory (the import-linter contract says the
    same)."""
    model = ROOT / "planner" / "model"
    stages, memory = _top_level_names(model / "memory_stages.py"), _top_level_names(model / "memory.py")
    assert set(MEMORY_STAGES) <= stages
    assert {"memory_per_gpu", "rank_memory", "state_context", "StateContext", "state_bytes"} <= memory
    assert stages & memory == set(), sorted(stages & memory)
    tree = ast.parse((model / "memory_stages.py").read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "planner.model.memory" for n in ast.walk(tree))
    through = _imported_through("planner.model.memory", stages)
    assert through == [], through


#: what split47b moved from planner/model/memory.py into memory_activations.py: the activations and logits of each
#: pipeline rank -- the per-layer saves (the HF table and walk among them), partial recompute, each rank's layers x its
#: micro-batches in flight chunk by chunk, the middle ranks, the loss and a scanned stack's transients, the assembly --
#: with the ``StateBytes`` record it reads
MEMORY_ACTIVATIONS = ("layer_matrix_elems", "scan_unreduced_grad_elems", "scan_grad_transient", "StateBytes",
                      "ActivationTerms", "layer_saves", "kind_rebuilds", "layer_kind_saves", "_kind_saves",
                      "_middle_reps", "_rank0_covers", "middle_settled", "_partial_rows", "_prune_middle",
                      "_middle_splits", "_find_middle_splits", "split_middle_reps", "_Signatures", "_SIGNATURES",
                      "_layer_signatures", "middle_groups", "middle_rank_of", "_middle_rank_rows",
                      "_layout_kind_shares", "stage_kind_bytes", "_row_splits", "_find_row_splits", "mtp_kinds",
                      "_layout_kinds_held", "stage_kind_rws", "offload_kind_bytes", "_chunk_kind_table",
                      "_chunk_kind_counts", "_chunk_rebuilt_counts", "_stacked_inflight", "_partial_keys",
                      "chunk_activations", "rank_block_activations", "_ranks_taken", "RankActivations",
                      "rank_activations", "cp_a2a_keys", "loss_logits", "loss_beside_rebuild", "held_logit_bytes",
                      "_unmixed_saves", "_rank_rebuilds", "middle_activations", "rows_of", "transformer_activations",
                      "sample_activations", "_fewest_plain", "_largest_chunk", "_partial_recompute_saves",
                      "hf_attention_saves_share", "hf_ep_rank_share", "hf_rank_share", "hf_rank_shares", "AUTOTP_MOE",
                      "hf_ep_rows", "hf_grad_share", "hf_tp_share", "_hf_activation_arrays", "_hf_walk_arrays",
                      "_WALKS", "_HF_TABLES", "_hf_table", "_walk")


def test_the_memory_model_and_its_activations_are_two_modules():
    """planner/model/memory.py held the model states, the reserve, the rank classes and the activations in 2,928
    lines until split47b: the activations live in memory_activations.py only (memory.py defines none of them, so the
    split cannot fold back, and no module imports them through memory, where a monkeypatch would miss the
    activations' own calls), and memory_activations imports nothing from memory (the import-linter contract says the
    same); the gradient codes both read are stacks' (``KEPT_*``, beside ``GRADS_KEPT``)."""
    model = ROOT / "planner" / "model"
    acts, memory = _top_level_names(model / "memory_activations.py"), _top_level_names(model / "memory.py")
    assert set(MEMORY_ACTIVATIONS) <= acts
    assert {"memory_per_gpu", "rank_memory", "state_bytes", "state_context", "zero_stage_states", "_hf_code",
            "held_training"} <= memory
    assert acts & memory == set(), sorted(acts & memory)
    tree = ast.parse((model / "memory_activations.py").read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "planner.model.memory" for n in ast.walk(tree))
    from planner.model import stacks

    kept = (stacks.KEPT_NONE, stacks.KEPT_ACCUMULATED, stacks.KEPT_PERSIST)
    assert kept == tuple(stacks.GRADS_KEPT.index(k) for k in ("none", "accumulated", "persist"))
    through = _imported_through("planner.model.memory", acts)
    assert through == [], through


def _function_lines(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    return {n.name: n.end_lineno - n.lineno + 1 for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_step_time_is_composed_of_stages():
    """step_time.step_time composes one function per stage of the step, in the order the numbers flow (candidate
    inputs, the slowest stage's layer rows / pacing / pipeline sends, the DP terms, the per-micro-batch passes,
    ZeRO exposure, offload, the step, the record): the composer and each stage stay short enough to read whole
    (step_time was one 387-line function until 2026-12-04)."""
    lines = _function_lines(ROOT / "planner" / "model" / "step_time.py")
    assert lines["step_time"] <= 40, f"step_time is {lines['step_time']} lines"
    stages = ("step_inputs", "stage_keys", "layer_rows", "pacing_stage", "pipeline_sends", "transformer_stage",
              "generic_stage", "dp_step_terms", "microbatch_extras", "zero_exposure", "offload_step", "compose_step",
              "step_record")
    for name in stages:
        assert name in lines, f"step_time.{name} is gone: the README's code walk names it"
        assert lines[name] <= 65, f"step_time.{name} is {lines[name]} lines"


def test_memory_and_search_are_composed_of_stages():
    """memory.memory_per_gpu composes one function per memory term and search.recommend.recommend one per search
    stage (README "Where to add"), each short enough to read whole: until 2026-12-04 they were one 317-line and one
    264-line function."""
    mem = _function_lines(ROOT / "planner" / "model" / "memory.py")
    assert mem["memory_per_gpu"] <= 90, f"memory_per_gpu is {mem['memory_per_gpu']} lines"
    for name in ("state_bytes", "state_context", "weight_storage", "state_weights", "state_grads", "state_optimizer",
                 "model_states", "autograd_grads", "adapter_states", "optimizer_offload", "comm_groups",
                 "fsdp2_head_buffers"):
        assert name in mem, f"memory.{name} is gone: the README's code walk names it"
        assert mem[name] <= 60, f"memory.{name} is {mem[name]} lines"
    acts = _function_lines(ROOT / "planner" / "model" / "memory_activations.py")  # (in memory.py until split47b)
    for name in ("layer_saves", "rank_activations", "transformer_activations", "sample_activations"):
        assert name in acts, f"memory_activations.{name} is gone: the README's code walk names it"
        assert acts[name] <= 60, f"memory_activations.{name} is {acts[name]} lines"
    rec = _function_lines(ROOT / "planner" / "search" / "recommend.py")
    assert rec["recommend"] <= 50, f"recommend is {rec['recommend']} lines"
    for name in ("_search_setup", "_search_option", "_tally_refusals", "_search_chunk", "_search_variant", "_frame",
                 "_ranked_table", "_assemble"):
        assert name in rec, f"recommend.{name} is gone: the README's code walk names it"
        assert rec[name] <= 60, f"recommend.{name} is {rec[name]} lines"


def test_every_serving_module_is_in_the_serving_layers():
    """planner/workloads/serving.py was one 2,954-line module until 2026-12-04; its parts (serving_*.py) sit in the
    serving layers contract (pyproject.toml), so none imports the planner above it and the split cannot fold back."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in cfg if c["type"] == "layers" and c.get("containers") == ["planner.workloads"])
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    found = {p.stem for p in (ROOT / "planner" / "workloads").glob("serving*.py")}
    assert found == named, (sorted(found - named), sorted(named - found))
    assert len(found) >= 2, sorted(found)


def test_tests_import_each_other_one_way():
    """pytest loads tests/conftest.py and every tests/test_*.py under its bare name (rootdir-relative prepend import, no
    tests/__init__.py); importing one as ``tests.<name>`` built a second copy of it (its own module state, imported
    again): ``tests.conftest`` in 82 files until session 34, ``tests.test_step_time`` / ``tests.test_app`` and nine
    others in 33 files until session 35."""
    pattern = re.compile(r"^\s*(from tests\.|import tests\.)", re.M)
    offenders = [p.name for p in sorted((ROOT / "tests").glob("*.py")) if pattern.search(p.read_text())]
    assert offenders == [], offenders
