"""Names and tables the code honours (session 46 review's list, code47): one vocabulary of price bases that the code
reads, and no table or field that nothing reads."""
import ast
from pathlib import Path

from planner import vocab
from planner.vocab import RATE_NAMES
from planner.present.terminal import PRICE_WORDS
from planner.search import rank

ROOT = Path(__file__).resolve().parents[1]


def _compared_literals(words: set) -> list[str]:
    """``path:line`` of every comparison in planner/ with one of ``words`` as a literal operand (alone or in a
    tuple / list / set)."""
    hits = []
    for path in sorted((ROOT / "planner").rglob("*.py")):
        for n in ast.walk(ast.parse(path.read_text())):
            if not isinstance(n, ast.Compare):
                continue
            for c in (n.left, *n.comparators):
                elts = c.elts if isinstance(c, (ast.Tuple, ast.List, ast.Set)) else [c]
                if any(isinstance(e, ast.Constant) and e.value in words for e in elts):
                    hits.append(f"{path.relative_to(ROOT)}:{n.lineno}")
    return hits


def test_price_bases_are_one_vocabulary_the_code_reads():
    """The price bases live in planner.vocab (search.rank.PRICE_BASES listed them and only comments cited it: the code
    compared literals): the tables keyed on a basis hold each of its names, and no comparison in planner/ spells "spot"
    or "cluster.price_usd_hr" as a literal ("on-demand" is also the basis' name in words, which RATE_NAMES' values and
    rate_after's output are compared to, so it is not scanned)."""
    assert vocab.PRICE_BASIS.names == (vocab.ON_DEMAND, vocab.SPOT, vocab.JOB_RATE)
    assert set(RATE_NAMES) == set(PRICE_WORDS) == set(vocab.PRICE_BASIS)
    assert not hasattr(rank, "PRICE_BASES")
    assert _compared_literals({vocab.SPOT, vocab.JOB_RATE}) == []


def test_recompute_modules_are_documented_where_the_code_reads_them():
    """activations.RECOMPUTE_MODULE_ROWS was a dict of prose no code read (the ``SavedTensor.modules`` tags decide what a
    module frees): it is the module docstring's "Recompute modules" list now, one bullet per vocabulary name."""
    from planner.model import activations

    assert not hasattr(activations, "RECOMPUTE_MODULE_ROWS")
    section = activations.__doc__.split("Recompute modules:", 1)[1]
    bullets = [line[2:].split(":", 1)[0] for line in section.splitlines() if line.startswith("* ") and ":" in line]
    assert [b for b in bullets if b in vocab.RECOMPUTE_MODULES] == sorted(vocab.RECOMPUTE_MODULES)


def test_pipeline_timing_and_param_count_fields_are_read():
    """Every field of ``PipelineTiming`` and ``ParamCount`` is read as an attribute somewhere in planner/
    (``last_bwd_end`` and ``moe_layer_active`` were written and never read until code47)."""
    from dataclasses import fields

    from planner.model.pipeline import PipelineTiming
    from planner.spec.params import ParamCount

    read = {n.attr for path in (ROOT / "planner").rglob("*.py") for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load)}
    unread = [f"{cls.__name__}.{f.name}" for cls in (PipelineTiming, ParamCount) for f in fields(cls) if f.name not in read]
    assert unread == []


def test_one_helper_says_why_a_recompute_list_is_refused():
    """space._list_refusal: the one place the search asks ``stacks.recompute_modules`` under ``except InputError``
    (``_recipe_refusal``, ``recompute_module_lists`` and ``_with_module_lists`` each had their own try until code47):
    Megatron-Core's refusal as its message, None where the list runs."""
    from planner.model.stacks import resolve
    from planner.search import space
    from planner.spec import load_job_dict

    def training(**kw):
        return load_job_dict({"model": {"preset": "qwen3-30b-a3b"},
                              "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e9,
                                           "recompute": "selective", **kw},
                              "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})

    job = training(recompute_modules=["moe_act"], precision="fp8")
    assert space._list_refusal(job.training, resolve("megatron-core"), job.model) is None
    why = space._list_refusal(job.training, resolve("megatron-core", fp8_recipe="delayed"), job.model)
    assert "delayed" in why
    assert not hasattr(space, "_list_runs")


def test_no_stack_field_is_named_like_a_planner_module():
    """``Stack.layer_ops`` (host ops a layer's forward dispatches) shared its name with planner/model/layer_ops.py until
    code47 (now ``layer_host_ops``): no field of ``Stack`` names a module or package of planner/."""
    from dataclasses import fields

    from planner.model.stacks import Stack

    planner = ROOT / "planner"
    modules = {p.stem for p in planner.rglob("*.py")} | {p.name for p in planner.rglob("*") if p.is_dir()}
    names = {f.name for f in fields(Stack)}
    assert "layer_host_ops" in names
    assert sorted(names & modules) == []
