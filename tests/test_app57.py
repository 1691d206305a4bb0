"""app57: the what-if app's training-stack options follow the inputs that pick them, through ``streamlit.testing.v1``
``AppTest``: the sidebar's training mode picks the default stack (a QLoRA job runs on the HF Trainer), and an option
the user did not move follows its start value when the precision moves it (the fp8 recipe: nvfp4 at fp4,
tensorwise at fp8). Until app57 the gpt2 preset's page at qlora read "training.framework.tp_overlap: hf-trainer has
no te tp_overlap", and at fp8 after fp4 "H100-SXM-80GB: nvfp4 needs FP4 tensor cores" (docs/qa_log.md "app57")."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from app_page import checked, open_page

pytestmark = pytest.mark.slow  # ~20 CPU s: gpt2's searches


def _stack_options(at) -> dict:
    return {k: at.session_state[f"w_stackopt_{k}"] for k in at.session_state["_stack_drawn"]}


def test_qlora_draws_its_own_stacks_options_and_plans():
    """At qlora the page draws the HF Trainer's options (mixed precision, reentrant checkpoint), not Megatron-Core's
    TP overlap, and plans: the job it builds runs on the stack whose options it drew."""
    at = open_page()
    checked(at.selectbox(key="preset").set_value("gpt2").run())
    assert "tp_overlap" in _stack_options(at)  # pretraining: Megatron-Core's
    checked(at.selectbox(key="w_mode").set_value("qlora").run())
    drawn = _stack_options(at)
    assert "tp_overlap" not in drawn and {"mixed_precision", "use_reentrant"} <= set(drawn)
    assert at.metric and at.success
    checked(at.selectbox(key="w_mode").set_value("pretrain").run())
    assert "tp_overlap" in _stack_options(at)


def test_an_unmoved_fp8_recipe_follows_the_precision():
    """The fp8 recipe first drawn at fp4 starts at nvfp4; at fp8 (the user never moved it) it is the fp8 start,
    and the page plans on the H100s rather than refusing every GPU for FP4 tensor cores."""
    at = open_page()
    checked(at.selectbox(key="preset").set_value("gpt2").run())
    at.selectbox(key="w_precision").set_value("fp4").run()
    assert _stack_options(at)["fp8_recipe"] == "nvfp4"
    checked(at.selectbox(key="w_precision").set_value("fp8").run())
    assert _stack_options(at)["fp8_recipe"] not in ("nvfp4", "mxfp4")
    assert at.metric and at.success


def test_a_moved_option_is_kept_when_its_start_moves():
    """``restarts``: a control held at last run's start follows a new start; one the user moved keeps its value;
    one drawn anew, or holding a value no longer offered, takes its start."""
    c = wi.StackControl("fp8_recipe", "fp8 recipe", ("tensorwise", "delayed", "nvfp4"), "tensorwise", "tensorwise")
    assert wi.restarts(c, "nvfp4", "nvfp4")  # left at fp4's start: follows
    assert not wi.restarts(c, "delayed", "nvfp4")  # moved by the user: kept
    assert not wi.restarts(c, "tensorwise", "tensorwise")  # the start did not move
    assert wi.restarts(c)  # drawn anew
    assert wi.restarts(c, "mxfp8", "tensorwise")  # not offered any more


def test_with_mode_asks_the_stack_at_the_sidebar_mode():
    """``with_mode`` writes the mode and the length a fine-tune needs; the controls then are the QLoRA stack's."""
    base = wi.preset_base("gpt2")
    assert not wi.stack_controls(wi.with_mode(base, "qlora"), None)  # no length: the loader refuses, no controls
    options = {c.option for c in wi.stack_controls(wi.with_mode(base, "qlora", 1e9), None)}
    assert "mixed_precision" in options and "tp_overlap" not in options
    assert "lora" not in wi.with_mode({"training": {"mode": "lora", "lora": {"rank": 8}}}, "pretrain")["training"]


def test_a_stack_that_runs_on_none_of_the_gpus_is_refused_in_whole_words():
    """maxtext on the preset's NVIDIA GPUs: the page's one line says to leave the stack out, and the stacks it lists
    are whole names (the list gives way at a word's end, ``fit_message``). Until app57 the 352-character line was cut
    in its middle, "megatron-…ndry", the advice lost."""
    from planner.model.stacks import STACKS

    at = open_page()
    at.selectbox(key="w_framework").set_value("maxtext").run()
    (err,) = [e.value for e in at.error]
    assert "every GPU it lists is left out" in err and "leave training.framework out" in err, err
    listed = err.split("for them: ", 1)[1].rstrip(")").rstrip("…").split(", ")
    assert listed and all(n in STACKS for n in listed), listed


def test_a_rerun_where_nothing_fits_does_not_search_again(monkeypatch):
    """A page where nothing fits (Llama-3-70B at TP1 PP1 ZeRO-0 on one p4de.24xlarge) rerun with the job unchanged
    neither searches nor estimates the pinned configuration again (``search`` keeps the refusal), and shows the same
    error and charts. Until app57 each such rerun ran the whole search again (1.4 CPU-s for the preset under a $1
    budget, against 0.2 for a rerun of a plan)."""
    from test_app import _charts, _no_fit_app

    at = _no_fit_app()
    before = ([e.value for e in at.error], len(_charts(at)))
    assert before[1] == 2 and not at.exception
    calls = {"recommend": 0, "estimate": 0}

    def counted(name, fn):
        return lambda *a, **k: calls.__setitem__(name, calls[name] + 1) or fn(*a, **k)
    monkeypatch.setattr(wi, "recommend", counted("recommend", wi.recommend))
    monkeypatch.setattr(wi, "estimate_job", counted("estimate", wi.estimate_job))
    at.run()
    assert calls == {"recommend": 0, "estimate": 0}, calls
    assert ([e.value for e in at.error], len(_charts(at))) == before
    at.select_slider(key="w_zero").set_value(1).run()  # another job: searched
    assert calls["recommend"] == 1
