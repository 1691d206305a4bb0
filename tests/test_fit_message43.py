"""One rule fits a refusal into the one-line cap (hardware_catalog.errors ``fit_message``, msg43): the text outside
parentheses (what is refused, the plan's numbers, what to do) stays, the parenthesised asides give way, the last
first, cut short at a word's end or dropped whole. Until msg43 the stack rules cut their source, ``--emit`` dropped
asides whole and the outside-limits refusal gave each example an equal share of the cap, cutting "no node count
searched of ... lands within ..." before its limits."""
from __future__ import annotations

import random
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from hardware_catalog.errors import ASIDE_MIN_CHARS, MESSAGE_CHARS, InputError, fit_message
from planner.model import stack_rules as S

#: a plan's numbers and the remedy, as rule interleaved-m's detail says them
HINT = ": m = 6 micro-batches on pp = 4, N = 4; microbatch_group_size 5, 6 or 10 runs it"
SOURCE = ("Megatron-Core megatron/core/pipeline_parallel/schedules.py forward_backward_pipelining_with_interleaving: "
          "'The number of contiguous micro-batches in a virtual pipeline stage should range in [PP, M]'; " * 2)


def _plain(text: str) -> str:
    """``text`` without its top-level parenthesised asides, spaces folded."""
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    return re.sub(r"\s+", " ", "".join(out)).replace(" ,", ",").replace(" ;", ";").replace(" :", ":").strip()


def _takes_extra(rule) -> bool:
    return rule.sentence is None or "{extra}" in rule.sentence


@pytest.mark.parametrize("rule", S.RULES, ids=lambda r: r.name)
def test_every_rule_keeps_what_it_refuses_within_the_cap(rule):
    """No plan numbers: the message fits, and only the source gives way -- what is refused stays whole, its own
    asides too (remedies live there: "(set compile: false)"); rule megatron-zero2's 304 characters lost its remedy's
    "true"."""
    msg = rule.message()
    assert len(msg) <= MESSAGE_CHARS, msg
    assert InputError("f", msg).message == msg  # nothing left for the last guard to cut
    whole = rule.sentence.format(name=S.RUNTIME_NAMES[rule.runtime], source="", extra="") if rule.sentence else \
        f"{S.RUNTIME_NAMES[rule.runtime]} refuses {rule.what}"
    if rule.sentence is None:
        assert msg.startswith(whole), msg
    assert _plain(msg) == _plain(whole), msg


@pytest.mark.parametrize("rule", [r for r in S.RULES if _takes_extra(r)], ids=lambda r: r.name)
def test_every_rule_keeps_the_plans_numbers_and_remedy(rule):
    """With a plan's numbers and remedy (``HINT``) every message fits the cap and keeps its text outside parentheses
    whole, the remedy included; the asides (the source first) give way."""
    r = replace(rule, detail=lambda c, m, t: HINT, detail_stack=None)
    msg = r.message(SimpleNamespace())
    full = (r.sentence.format(name=S.RUNTIME_NAMES[r.runtime], source=r.source, extra=HINT) if r.sentence else
            f"{S.RUNTIME_NAMES[r.runtime]} refuses {r.what}{HINT} ({r.source})")
    assert len(msg) <= MESSAGE_CHARS and HINT in msg, msg
    assert _plain(msg) == _plain(full), msg


def test_the_three_callers_fit_one_string_alike(monkeypatch):
    """The same over-long refusal is fitted alike by a stack rule, ``--emit`` and the outside-limits refusal: each is
    ``fit_message`` of its line."""
    from planner.present import emit
    from planner.search import recommend

    what = "an interleaved pipeline (vpp > 1) whose micro-batches do not split into groups" + HINT
    rule = S.StackRule("t", "megatron", "training.global_batch", what, SOURCE, lambda st, m, t: True)
    line = f"Megatron refuses {what} ({SOURCE})"
    assert rule.message() == fit_message(line)
    assert HINT in rule.message() and rule.message() != line[:MESSAGE_CHARS]

    monkeypatch.setattr(emit, "style_refusal", lambda job, cfg, style: line if style == "megatron" else None)
    with pytest.raises(InputError) as e:
        emit.check_stack_rules(None, {}, "megatron")
    hint = emit.OTHER_STYLE_HINT["megatron"]
    assert e.value.message == f"{fit_message(line, MESSAGE_CHARS - len(hint) - 2)}; {hint}"
    assert HINT in e.value.message

    far = ("no node count searched of aws:p5.48xlarge (8 GPUs each: 1, 2, 3, 4, 6, 8, 12, 16, ... 131,072 nodes, up "
           "to max_gpus=1,048,576, the default) lands within min_gpus=1,000,001 and max_gpus=1,000,010")
    errors = [InputError("constraints.min_gpus", "aws:g6.xlarge is single-node only (1 GPU), below min_gpus=1000001"),
              InputError("constraints.min_gpus", far)]
    job = SimpleNamespace(constraints=SimpleNamespace(min_gpus=1_000_001, max_gpus=1_000_010))
    with pytest.raises(InputError) as e:
        recommend._raise_outside_limits(job, errors)
    head = ("none of the 2 hardware options searched makes a cluster of 1,000,001 to 1,000,010 GPUs (min_gpus to "
            "max_gpus); e.g. ")
    assert e.value.message == fit_message(head + "; ".join(x.message for x in errors))
    assert e.value.message.endswith("lands within min_gpus=1,000,001 and max_gpus=1,000,010"), e.value.message


def test_asides_give_way_last_first_at_a_words_end():
    msg = "X refuses a (why a is so) with b: the plan has 2 (Megatron-LM megatron/arguments.py validate_args)"
    assert fit_message(msg, len(msg)) == msg
    assert fit_message(msg, len(msg) - 10) == ("X refuses a (why a is so) with b: the plan has 2 (Megatron-LM "
                                               "megatron/arguments.py…)")
    # under ASIDE_MIN_CHARS left of the source: it goes whole, then the next aside
    assert fit_message(msg, 50) == "X refuses a (why a is so) with b: the plan has 2"
    assert fit_message(msg, 40) == "X refuses a with b: the plan has 2"
    # the text outside parentheses alone too long: its middle gives way, its end (the remedy) stays
    out = fit_message(msg, 30)
    assert len(out) == 30 and out.startswith("X refuses") and out.endswith("has 2") and "…" in out


def test_a_nested_aside_is_never_left_open():
    msg = "X refuses a (accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp) and more words here)"
    out = fit_message(msg, len(msg) - 20)
    assert out.count("(") == out.count(")"), out
    assert out == "X refuses a (accelerate ParallelismConfig…)"
    assert len(out) - len("X refuses a (…)") >= ASIDE_MIN_CHARS


def test_fit_message_never_passes_its_room():
    rnd = random.Random(43)
    words = ["refuses", "(", ")", "pp", "tp = 2", "; use bf16", ":", "Megatron-LM/arguments.py", "a" * 30, " "]
    for _ in range(2000):
        msg = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 60)))
        room = rnd.randint(8, 320)
        out = fit_message(msg, room)
        assert len(out) <= room, (msg, room, out)
        if len(msg) <= room:
            assert out == msg
