"""words58: the stack line and the app say exactly what ``recommend`` searched.

* The stack line's parenthesis names the fallbacks the search tried (planner.search.evaluate ``fallback_note`` over
  the options its variants vary, planner.search.space ``stack_variants`` -> ``searched_options``; which are
  fallbacks: ``space.is_fallback``, the rule ``stack_variants`` links its variants by). Until words58 it began with
  "offload" on every search -- MaxText's, which offloads nothing, read "offload and the loss tiles only for layouts
  that do not fit without it" -- named no pipeline fallback (the stack's own split, the smaller passes), and put a
  parenthesis on a search that tried no fallback at all.
* The app's number / text inputs of the options the search tries (MaxText's ``num_vocab_tiling``, Megatron-Core's
  ``activation_offload_layers``) show "auto" when empty exactly where the search tries them on the job as the sidebar
  sets it, else the stack's default (``StackControl.placeholder``). MaxText's empty tile count read "1" while the
  search tried 1 to 16 tiles. And setting the tiles in the sidebar with the micro-batch open raised AttributeError
  (rule maxtext-vocab-tiles read a micro-batch column the app's layouts lack).
"""
from __future__ import annotations

from planner import interactive as wi
from planner.model.stacks import SEARCHED, resolve
from planner.search.evaluate import FALLBACK_WORDS, fallback_note, stack_assumption
from planner.search.space import is_fallback, searched_options, stack_variants
from planner.spec import load_job_dict

TAIL = " only for layouts that do not fit without it"


def _job(framework: dict, **training):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 8192, "global_batch": 64, "precision": "bf16", "tokens": 1e9,
                                       "framework": framework, **training}})


def _line(framework: dict, **training) -> str:
    job = _job(framework, **training)
    return stack_assumption(job, resolve(framework["name"]), searched_options(stack_variants(job)))


def test_maxtext_says_the_loss_tiles_not_offload():
    """MaxText offloads nothing the search varies: its line names the loss tiles alone (old: "offload and the loss
    tiles ...")."""
    line = _line({"name": "maxtext"})
    assert "searched, as training.framework leaves them open: num_vocab_tiling (the loss tiles" + TAIL + ")" in line
    assert "offload" not in line.split("searched,")[1], line


def test_the_pipeline_fallbacks_are_named():
    """torchtitan with PP open tries its own split and smaller pipeline passes only where the balanced split and the
    whole-step pass do not fit: the line says so (old: "offload only ...", neither named)."""
    job = _job({"name": "torchtitan"})
    searched = searched_options(stack_variants(job))
    assert {"pp_split", "pp_pass_microbatches", "optimizer_offload"} <= set(searched), searched
    line = stack_assumption(job, resolve("torchtitan"), searched)
    assert "(offload, the stack's own pipeline split and the smaller pipeline passes" + TAIL + ")" in line, line


def test_no_parenthesis_without_a_fallback():
    """A search that varied only options tried on every row (the CP exchange, Megatron-FSDP) has no fallback to name
    (old: "(offload only for layouts ...)"); the NVMe twin keeps its own clause."""
    assert fallback_note(("cp_comm_type", "megatron_fsdp")) == ""
    job = _job({"name": "megatron-core"})
    line = stack_assumption(job, resolve("megatron-core"), ("megatron_fsdp", "cp_comm_type"))
    assert line.split("searched, as training.framework leaves them open: ")[1].startswith(
        "megatron_fsdp, cp_comm_type") and TAIL not in line, line
    assert fallback_note(("optimizer_offload", "offload_device")) == (
        " (offload" + TAIL + ", the NVMe only where host memory does not hold the CPU offload)")


def test_every_searched_fallback_has_its_words():
    """Each option ``stack_variants`` links as a fallback has the line's words, and each worded option is one: the
    words follow the search's own rule (``is_fallback``), not a list of their own."""
    fallbacks = {k for k in SEARCHED if is_fallback(k)}
    assert fallbacks - {"activation_offload_layers"} <= set(FALLBACK_WORDS), fallbacks - set(FALLBACK_WORDS)
    assert all(is_fallback(k) for k in FALLBACK_WORDS)
    assert not is_fallback("cp_comm_type") and not is_fallback("megatron_fsdp") and is_fallback("num_vocab_tiling")


def _control(stack: str, option: str, options=None, **kw) -> wi.StackControl:
    return next(c for c in wi.stack_controls(wi.preset_base("llama3-8b"), stack, options, **kw) if c.option == option)


def test_the_tile_input_says_auto_where_searched():
    """MaxText's ``num_vocab_tiling`` left open: the search tries 1, 2, 4, 8, 16 tiles, so the empty input shows
    "auto" (old: "1", the stack's one tile); its help says the search tries its values."""
    c = _control("maxtext", "num_vocab_tiling")
    assert c.searched and c.placeholder == wi.AUTO and c.help.endswith("empty: the search tries its values")


def test_the_offloaded_layers_input_follows_the_search():
    """Megatron-Core's ``activation_offload_layers``: searched where the job fixes recompute none and leaves the
    activation offload open ("auto"); with recompute open, or the offload set on, the search keeps the stack's default
    count, and the input says "stack default"."""
    searched = _control("megatron-core", "activation_offload_layers", recompute="none")
    assert searched.searched and searched.placeholder == wi.AUTO
    for options, kw in ((None, {}), ({"activation_offload": True}, {"recompute": "none"})):
        c = _control("megatron-core", "activation_offload_layers", options, **kw)
        # (rec59: the placeholder names the count the default runs, "stack default (all but the last layer, 31)")
        assert not c.searched and c.placeholder.startswith(wi.STACK_KIND_DEFAULT) and "empty: the stack's default" in c.help


def test_setting_the_tiles_in_the_sidebar_draws_the_controls():
    """MaxText with 4 tiles set in the sidebar and the micro-batch open: the controls are drawn (old: AttributeError
    from rule maxtext-vocab-tiles on the app's layouts, which have no micro-batch column)."""
    cs = {c.option: c for c in wi.stack_controls(wi.preset_base("llama3-8b"), "maxtext", {"num_vocab_tiling": 4})}
    assert "num_vocab_tiling" in cs


def test_the_page_shows_auto_in_the_empty_tile_input():
    """The page on MaxText (the default preset's NVIDIA GPUs refuse it, a line on the page; the sidebar still draws its
    options): the empty ``num_vocab_tiling`` input's placeholder is "auto" (old: "1")."""
    from app_page import open_page

    at = open_page()
    at.selectbox(key="w_framework").set_value("maxtext").run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.number_input(key="w_stackopt_num_vocab_tiling")
    assert box.value is None and box.proto.placeholder == wi.AUTO, box.proto.placeholder
