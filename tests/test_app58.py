"""app58 / nemo58: the what-if app's training-stack controls say "auto" only where ``recommend`` really searches the
option on the job as the sidebar sets it (planner.interactive ``stack_controls`` -> planner.search.space
``stack_variants`` / ``searched_options``, the one rule), else the stack's default; and the sidebar's token count is
one expression (review57). Until nemo58 the controls read the stack's registry alone (``stacks.searched_on``): NeMo
AutoModel's ``defer_fsdp_grad_sync`` read "auto (the search tries each)" under PP or beside the MoE
``fsdp_defer_sync``, and ``loss_fn`` on a masked-LM head, where the search keeps the stack's default."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT
from planner import interactive as wi
from planner.search.space import searched_options, stack_variants
from planner.spec import load_job_dict

LLAMA, BERT, MIXTRAL = "llama3-8b", "bert-large", "mixtral-8x7b"


def _controls(preset: str, options=None, **parallel) -> dict:
    par = {k: parallel.get(k) for k in ("tp", "pp", "cp", "zero")} if parallel else None
    return {c.option: c for c in wi.stack_controls(wi.preset_base(preset), "nemo-automodel", options, parallel=par)}


def _searched(preset: str, framework: dict, **parallel) -> tuple:
    """What ``recommend``'s search varies on the job (the rule the controls must follow)."""
    doc = wi.preset_base(preset)
    doc = {**doc, "training": {**(doc.get("training") or {}), "framework": {"name": "nemo-automodel", **framework}},
           "parallel": {**(doc.get("parallel") or {}), **parallel}}
    return searched_options(stack_variants(load_job_dict(doc)))


def test_the_deferred_sync_is_auto_only_where_the_search_tries_it():
    """Layout open: searched, the control starts at "auto". PP 2 (torch pipelining's hooks defer whatever the option)
    or ZeRO-1 (no FSDP sync to defer): the search keeps the stack's default, and the control offers on / off starting
    at its unset choice, "stack default (on)", its help naming the default. Before nemo58 both read "auto"."""
    assert "defer_fsdp_grad_sync" in _searched(LLAMA, {})
    assert _controls(LLAMA)["defer_fsdp_grad_sync"].value == wi.AUTO
    for parallel in ({"pp": 2}, {"zero": 1}):
        assert "defer_fsdp_grad_sync" not in _searched(LLAMA, {}, **parallel)
        c = _controls(LLAMA, **parallel)["defer_fsdp_grad_sync"]
        assert (c.choices, c.value) == ((wi.STACK_KIND_DEFAULT, True, False), wi.STACK_KIND_DEFAULT), (parallel, c)
        assert [c.word(v) for v in c.choices] == ["stack default (on)", "on", "off"] and not c.searched
        assert c.help.endswith("the stack's default: on")


def test_the_moe_deferral_and_a_masked_lm_head_keep_their_defaults():
    """Mixtral with AutoModel's MoE ``fsdp_defer_sync`` on: it holds the same gradients whatever the option, so the
    search does not try ``defer_fsdp_grad_sync``; BERT's masked-LM head: ``loss_fn`` is not tried (AutoModel's LLM
    recipes' loss, a causal LM's logits only). Neither control says "auto"."""
    assert "defer_fsdp_grad_sync" in _searched(MIXTRAL, {})
    assert "defer_fsdp_grad_sync" not in _searched(MIXTRAL, {"fsdp_defer_sync": True})
    assert _controls(MIXTRAL)["defer_fsdp_grad_sync"].value == wi.AUTO
    moe = _controls(MIXTRAL, {"fsdp_defer_sync": True})["defer_fsdp_grad_sync"]
    assert wi.AUTO not in moe.choices and moe.word(moe.value) == "stack default (on)" and not moe.searched
    assert "loss_fn" not in _searched(BERT, {}) and "loss_fn" in _searched(LLAMA, {})
    bert = _controls(BERT)["loss_fn"]
    assert wi.AUTO not in bert.choices and bert.word(bert.default) == "stack default (masked_ce)" and not bert.searched
    assert _controls(LLAMA)["loss_fn"].value == wi.AUTO


def test_a_typed_option_says_auto_only_where_searched():
    """``pp_pass_microbatches`` (a number input, empty = unset): the search tries passes only where PP can exceed 1,
    so its placeholder and help say "auto" / "the search tries its values" with PP open and the stack's default at
    PP 1. Before nemo58 the word came from ``stacks.SEARCHED`` and read "auto" at PP 1 too."""
    opened, pp1 = _controls(LLAMA)["pp_pass_microbatches"], _controls(LLAMA, pp=1)["pp_pass_microbatches"]
    assert "pp_pass_microbatches" in _searched(LLAMA, {}) and "pp_pass_microbatches" not in _searched(LLAMA, {}, pp=1)
    assert opened.word(opened.default) == wi.AUTO and "the search tries its values" in opened.help
    assert pp1.word(pp1.default) == wi.STACK_KIND_DEFAULT and "empty: the stack's default" in pp1.help


def test_the_sidebar_token_count_is_read_once():
    """review57: app.py computed the sidebar's tokens (billions x 1e9, None without a token count) in two places, for
    the stack's controls and the what-if; now one name holds it."""
    src = (ROOT / "app.py").read_text()
    assert len(re.findall(r'w_tokens_b"\]\s*\*\s*1e9', src)) == 1
    assert "stack_base = wi.with_mode(base, s[\"w_mode\"], tokens)" in src and "tokens=tokens," in src


@pytest.mark.slow  # ~30 CPU s: the default preset's searches
def test_the_page_offers_auto_only_where_the_search_tries_it():
    """The page on NeMo AutoModel: with the layout open the deferred-sync control offers "auto"; at PP 2 it offers on /
    off beside "stack default (on)", which it holds (what the search runs), and the page still plans."""
    from app_page import checked, open_page

    at = open_page()
    checked(at.selectbox(key="w_framework").set_value("nemo-automodel").run())
    box = at.selectbox(key="w_stackopt_defer_fsdp_grad_sync")
    assert wi.AUTO in box.options and box.value == wi.AUTO
    checked(at.select_slider(key="w_pp").set_value(2).run())
    box = at.selectbox(key="w_stackopt_defer_fsdp_grad_sync")
    assert list(box.options) == ["stack default (on)", "on", "off"], box.options
    assert box.value == wi.STACK_KIND_DEFAULT
    assert at.metric and at.success
