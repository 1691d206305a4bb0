"""The one type of every user-fixable error: ``InputError(field, message)``.

It lives here, in the lowest layer, because the catalog reads user files too and must not import
``planner`` (planner imports the catalog, never the other way round); ``planner.errors`` re-exports
it and ``CatalogError`` derives from it, so a shell catches one type and prints
``error: <field>: <message>``.
"""
from __future__ import annotations

import datetime
import functools
import re
import unicodedata

#: Longest piece of user input quoted back in a message: an error never echoes unbounded input.
ECHO_CHARS = 80
#: Longest message an error carries (whatever a formatter quoted into it is cut here, the last guard).
MESSAGE_CHARS = 300
#: of those, the end a cut message keeps (a reason and its remedy: "exists; refusing to replace it (give --force to
#: replace it, or another name)" is 76)
MESSAGE_TAIL_CHARS = 100
#: the least of a parenthesised aside that ``fit_message`` keeps when it shortens one: fewer and the aside is dropped
#: whole: "(Megatron-LM…)" names no file, "(Megatron-LM megatron…)" (20 inside) starts to
ASIDE_MIN_CHARS = 20


#: significant digits of an echoed whole number past which it is written in scientific form: a double's DBL_DIG, the
#: digits a number that came through a float keeps (YAML's ``1e308`` is text that pydantic reads through float to
#: the int 1000000000000000010979063629...; the digits past the 15th are the float's, not the user's)
ECHO_DIGITS = 15


def _echo(value) -> str:
    """``repr`` of ``value``, a whole number of more than ``ECHO_DIGITS`` digits as ``ECHO_DIGITS`` significant digits
    in scientific form (``1e+308``, as Python writes the float ``1e308``). Until qa65 ``global_batch: 1e308`` was
    refused as "got 100000000000000001097906362944045541740492309677311846336810682903157585404911491…". ``None`` and
    the booleans as YAML writes them: ``null``, ``true``, ``false`` (a non-nullable bool given ``null`` read "got None").
    A date or a date and time as YAML writes them (ISO 8601, YAML 1.1's timestamp): a key ``2020-01-01:`` was refused
    as "a field name must be text, got the key datetime.date(2020, 1, 1)" (fuzz47).

    >>> _echo(None), _echo(True), _echo("true")
    ('null', 'true', "'true'")
    >>> _echo(datetime.date(2020, 1, 1)), _echo(datetime.datetime(2020, 1, 1, 10, 0))
    ('2020-01-01', '2020-01-01 10:00:00')
    """
    if value is None or isinstance(value, bool):  # as the job file spells them, not Python's None / True (session 44)
        return "null" if value is None else str(value).lower()
    if isinstance(value, datetime.date):  # (a datetime is a date too)
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** ECHO_DIGITS:
        from decimal import Context

        ctx = Context(prec=ECHO_DIGITS)  # (an int of any size: no float, no str() digit limit)
        return f"{ctx.create_decimal(value).normalize(ctx):g}"
    return repr(value)


def clip(value, limit: int = ECHO_CHARS) -> str:
    """``repr`` of ``value`` (``_echo``: a long whole number in scientific form) cut to ``limit`` characters, control
    characters escaped by repr.

    >>> clip("x" * 200)[:12], len(clip("x" * 200))
    ("'xxxxxxxxxxx", 81)
    >>> clip(int(1e308)), clip(12345678901234567890), clip(123456789012345)
    ('1e+308', '1.23456789012346e+19', '123456789012345')
    """
    text = _echo(value)
    return text if len(text) <= limit else text[:limit] + "…"


def shown_path(path) -> str:
    r"""A path as a message quotes it: as given, or, where it holds a control or format character (a newline, a tab, an
    escape, a right-to-left override), as Python's ``repr`` writes it (``'/tmp/a\nb.yaml'``). A message is one line
    (planner.present.safe ``clean_line``): a newline read as a space, so ``/tmp/a<newline>b.yaml`` was shown as
    "/tmp/a b.yaml", a file that is not there (qa68). Every path a refusal quotes goes through here.

    >>> shown_path("/tmp/a b.yaml"), shown_path("/tmp/a\nb.yaml")
    ('/tmp/a b.yaml', "'/tmp/a\\nb.yaml'")
    """
    text = str(path)
    return repr(text) if any(unicodedata.category(c)[0] == "C" for c in text) else text


def breaks_line(text: str) -> bool:
    """Whether ``text`` holds a character a terminal does not show as text on one line: Unicode's categories C* (a
    control character such as a line end, a tab or an escape; a format character such as a right-to-left override;
    a surrogate, an unassigned or private code point: the characters ``shown_path`` escapes) and the line and
    paragraph separators Zl / Zp (U+2028, U+2029, which ``str.splitlines`` breaks at).

    >>> breaks_line("p5.48xlarge"), breaks_line("x\\ny"), breaks_line("x\\u202ey"), breaks_line("x\\u2028y")
    (False, True, True, True)
    """
    return any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in text)


#: what a spreadsheet reads a cell beginning with as a formula (OWASP "CSV Injection"; CWE-1236): ``=``, ``+``, ``-``
#: and ``@`` (a tab or a carriage return, the other two OWASP lists, are control characters a name already refuses
#: and a CSV cell's surrounding white space is stripped)
FORMULA_STARTS = ("=", "+", "-", "@")


def formula_error(text: str) -> str | None:
    """Why ``text``, a catalog cell the planner writes back into a CSV (``planner catalog ... --csv``, a plan's
    ``hardware`` / ``cloud`` / ``gpu`` columns in ``recommend --csv`` and ``serve --csv``), cannot be taken, or None:
    a cell that begins with one of ``FORMULA_STARTS`` is run as a formula by Excel, LibreOffice and Google Sheets
    when the CSV is opened (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``; OWASP "CSV Injection"). Refused where the
    text enters, so every CSV the planner writes holds only what it can show as text (qa59: an override instance
    named ``+x8`` on a cloud ``=cmd`` was written to ``recommend --csv`` as the cells ``=cmd:+x8`` and ``=cmd``).

    >>> formula_error("p5.48xlarge") is None, formula_error("=cmd")
    (True, "must not begin with '=' (a spreadsheet opening a CSV the planner writes runs a cell beginning with =, +, - or @ as a formula)")
    """
    if text[:1] in FORMULA_STARTS:
        return (f"must not begin with {text[0]!r} (a spreadsheet opening a CSV the planner writes runs a cell "
                f"beginning with {', '.join(FORMULA_STARTS[:-1])} or {FORMULA_STARTS[-1]} as a formula)")
    return None


def one_of(choices, value, note: str = "") -> str:
    """The one wording of a value outside its choices, for every field and option (a job field, a CLI option, a
    script's argparse choice): ``must be one of <choices><note>, got <value>``.

    >>> one_of(["cost", "time"], "speed")
    "must be one of cost, time, got 'speed'"
    >>> one_of(["poisson", "mmpp"], "x", " (or give --trace)")
    "must be one of poisson, mmpp (or give --trace), got 'x'"
    """
    return f"must be one of {', '.join(map(str, choices))}{note}, got {clip(value)}"


def cut_middle(message: str, room: int = MESSAGE_CHARS) -> str:
    """``message`` in ``room`` characters, its middle given way: the start names the input, the end (a third of the
    room, ``MESSAGE_TAIL_CHARS`` of the full cap) says what is wrong with it and what to do. Cut at the end, a
    300-character output path left "error: --out: /tmp/rrr…rrr…" and no reason (its "File name too long", QA 64).

    >>> cut_middle("a" * 10 + "b" * 10, 9)
    'aaaaa…bbb'
    """
    if len(message) <= room:
        return message
    tail = room * MESSAGE_TAIL_CHARS // MESSAGE_CHARS
    return message[:max(room - tail - 1, 0)] + "…" + message[len(message) - tail:]


def _asides(message: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level parenthesised aside of ``message``, ``end`` past its ')'; a ')' that closes
    nothing is text, an aside left open is none."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(message):
        if ch == "(":
            start = i if depth == 0 else start
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append((start, i + 1))
    return out


def _shorten_aside(message: str, start: int, end: int, room: int) -> str | None:
    """``message`` in ``room`` characters with its aside ``message[start:end]`` cut short with an ellipsis inside its
    parentheses, at a word's end (not "(Megatron-Core's ow…)") and never inside a nested aside, which would be left
    open; None where fewer than ``ASIDE_MIN_CHARS`` of it would stay."""
    inner = message[start + 1:end - 1]
    keep = max(len(inner) - (len(message) - room) - 1, 0)
    depth, opened = 0, keep
    for i, ch in enumerate(inner[:keep]):
        opened = i if ch == "(" and depth == 0 else opened
        depth += (ch == "(") - (ch == ")" and depth > 0)
    cut = opened if depth else keep
    # mid-word: back to the word's start; where that leaves too little the aside goes whole (until qa58 it was cut
    # mid-word there: "(or leave training.framew…)")
    word = inner.rfind(" ", 0, cut) if inner[cut:cut + 1].strip() else cut
    kept = inner[:max(word, 0)].rstrip(" ,;:(")
    if len(kept) < ASIDE_MIN_CHARS:
        return None
    return f"{message[:start + 1]}{kept}…{message[end - 1:]}"


def without_asides(message: str) -> str:
    """``message`` with every top-level parenthesised aside taken out: the least ``fit_message`` can shorten it to
    before it cuts the text itself.

    >>> without_asides("needs 9 GiB (80 GiB GPU memory, 5% headroom) per GPU (ZeRO-1)")
    'needs 9 GiB per GPU'
    """
    for start, end in reversed(_asides(message)):
        message = (message[:start].rstrip() + message[end:]).strip()
    return message


def fit_message(message: str, room: int = MESSAGE_CHARS) -> str:
    """The one rule for fitting a refusal into the one-line cap (``room``, ``MESSAGE_CHARS`` unless the message shares
    its line): the text outside parentheses -- what is refused, the plan's numbers, what to do ("microbatch_group_size
    5, 6 or 10 runs it", "no node count searched ... lands within min_gpus=...") -- stays; the parenthesised asides
    (a rule's source quote, which the planner writes last, then its explanations) give way, the last first: cut short
    with an ellipsis to what fits, dropped whole where less than ``ASIDE_MIN_CHARS`` of it would stay. Only where the
    text outside them is itself too long is its middle cut (``cut_middle``, InputError's own last guard).

    >>> fit_message("X refuses a (why a) with b: the plan has 2 (source)", 34)
    'X refuses a with b: the plan has 2'
    >>> fit_message("X refuses a (why a) with b (Megatron-LM arguments.py: 'no')", 56)
    'X refuses a (why a) with b (Megatron-LM arguments.py…)'
    >>> fit_message("X refuses a (why a) with b (Megatron-LM arguments.py: 'no')", 48)
    'X refuses a (why a) with b'
    """
    while len(message) > room:
        asides = _asides(message)
        if not asides:
            break
        start, end = asides[-1]
        short = _shorten_aside(message, start, end, room)
        message = short if short is not None else (message[:start].rstrip() + message[end:]).strip()
    return cut_middle(message, room)


class InputError(ValueError):
    """A user-fixable problem with an input; ``field`` is a dotted path such as ``model.layers``."""

    def __init__(self, field: str, message: str):
        field, message = str(field), str(message)
        if len(field) > ECHO_CHARS:
            field = field[:ECHO_CHARS] + "…"
        # the last guard: the middle gives way (``cut_middle``); a refusal with a source to quote is fitted before
        # (``fit_message``), where its asides give way first
        message = cut_middle(message)
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


def _bound(x) -> str:
    """A bound as a person reads it: ``1000000000000000`` -> ``1,000,000,000,000,000``, ``0.5`` -> ``0.5``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e16):
        return f"{int(x):,}"
    return f"{x:g}"


def _choices(expected) -> str:
    """pydantic's ``expected`` ("'bf16', 'fp16' or 'fp8'") as the project lists choices: ``bf16, fp16, fp8``."""
    names = re.findall(r"'([^']*)'", str(expected))
    return ", ".join(names) if names else str(expected)


#: pydantic's error types in the project's words, with the bound or the choices: the one translation of a field's type
#: and range errors (until 2026-12-03 every type without a caller's template read pydantic's own sentence, "Input
#: should be greater than 0"). A caller's ``templates`` take precedence (a catalog cell's "is empty; give a value").
#: The offending input follows as ", got <input>" (``from_validation``).
PYDANTIC_WORDS = {
    "greater_than": "must be more than {gt}", "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "int_parsing_size": "is too large for a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number", "finite_number": "must be a finite number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "string_type": "must be text", "string_too_short": "must be at least {min_length} character(s) long",
    "string_too_long": "must be at most {max_length} characters long", "string_pattern_mismatch": "must match {pattern}",
    "list_type": "must be a list", "tuple_type": "must be a list", "set_type": "must be a list",
    "too_short": "must have at least {min_length} item(s)", "too_long": "must have at most {max_length} item(s)",
    "dict_type": "must be a mapping (key: value lines)", "model_type": "must be a section of fields (key: value lines)",
    "model_attributes_type": "must be a section of fields (key: value lines)",
    "literal_error": "must be one of {expected}", "enum": "must be one of {expected}",
    "none_required": "must be left empty (null)", "missing": "is required",
}


def pydantic_words(kind: str, ctx: dict | None, templates: dict | None = None) -> str | None:
    """The message of pydantic error type ``kind`` with context ``ctx`` in the project's words (``templates``, then
    ``PYDANTIC_WORDS``), or None for a type neither has (a validator's own message).

    >>> pydantic_words("less_than_equal", {"le": 10 ** 15})
    'must be at most 1,000,000,000,000,000'
    >>> pydantic_words("literal_error", {"expected": "'bf16', 'fp16' or 'fp8'"})
    'must be one of bf16, fp16, fp8'
    """
    template = (templates or {}).get(kind) or PYDANTIC_WORDS.get(kind)
    if template is None:
        return None
    ctx = dict(ctx or {})
    if "expected" in ctx:
        ctx["expected"] = _choices(ctx["expected"])
    try:
        return template.format(**{k: _bound(v) if k in ("gt", "ge", "lt", "le", "multiple_of") else v
                                  for k, v in ctx.items()})
    except (KeyError, IndexError, ValueError):  # a context without the key the words need: pydantic's own sentence
        return None


def _number(text: str):
    """A bound read back from pydantic's sentence ("1", "0.5") as a number, so ``_bound`` writes it as every bound."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@functools.cache
def _sentences() -> tuple:
    """pydantic's own sentence of each ``PYDANTIC_WORDS`` type as a pattern (its context values captured), the most
    specific first: "Input should be greater than or equal to 1" is ``greater_than_equal`` with ge 1, not
    ``greater_than``. Built from pydantic-core's message of each type, so the table stays ``PYDANTIC_WORDS``."""
    from pydantic_core import PydanticKnownError

    out = []
    for kind, words in PYDANTIC_WORDS.items():
        keys = re.findall(r"\{(\w+)\}", words)
        try:
            text = PydanticKnownError(kind, {k: f"\x00{k}\x00" for k in keys} or None).message()
        except (TypeError, KeyError):  # a type whose sentence needs more context than its words (too_short's field_type)
            continue
        fixed = re.sub("\x00\\w+\x00", "", text)
        pattern = re.escape(text)
        for k in keys:
            pattern = pattern.replace(re.escape(f"\x00{k}\x00"), f"(?P<{k}>.+?)")
        out.append((len(fixed), kind, re.compile(pattern)))
    return tuple((kind, rx) for _, kind, rx in sorted(out, key=lambda row: -row[0]))


def reword(sentence: str) -> str | None:
    """pydantic's sentence for one of the ``PYDANTIC_WORDS`` types, as another tool passes it on without the type
    (typer's option bounds: "Input should be greater than or equal to 1"), in the project's words; None for any
    other sentence.

    >>> reword("Input should be greater than or equal to 1"), reword("Input should be a valid integer")
    ('must be at least 1', 'must be a whole number')
    """
    for kind, rx in _sentences():
        m = rx.fullmatch(sentence)
        if m:
            return pydantic_words(kind, {k: _number(v) for k, v in m.groupdict().items()})
    return None


#: pydantic's tag for a union branch of a bare type (``Union[float, list[float]]`` reports under ``float`` and
#: ``list[float]``): no field of the job, catalog or profile schemas has one of these names. Until fuzz46
#: ``tabular.early_stopping.best_iteration: abc`` was refused as ``best_iteration.float``, a field none can write
_SCALAR_BRANCHES = frozenset({"int", "float", "str", "bool", "bytes", "none"})


def _is_branch(part) -> bool:
    """A location part that names a union branch (``literal[...]``, ``list[str]``, ``float``), not a field."""
    return isinstance(part, str) and ("[" in part or part in _SCALAR_BRANCHES)


def _plain_loc(err) -> list[str]:
    """The error's location as job-file field names: root and union-branch parts dropped."""
    return [str(x) for x in err.get("loc", ()) if x != "__root__" and not _is_branch(x)]


#: how alike an unknown field name must be to a known one to be offered instead (difflib's ratio; 0.6 is its own
#: default: ``requests_per_s`` -> ``requests``, ``qsp`` -> ``qps``), and the most known names listed where none is
SUGGEST_CUTOFF = 0.6
LIST_FIELDS_AT_MOST = 16


def _model_in(annotation):
    """The pydantic model class an annotation holds (``Optional[ServingSpec]``, ``list[Row]``), or None."""
    import typing

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def known_fields(root, loc) -> list[str]:
    """The field names (aliases where a field has one) of the model reached from pydantic model class ``root`` along
    the field names ``loc`` (list indices skipped); [] where the path leaves the models (a free-form mapping).

    >>> from pydantic import create_model
    >>> S = create_model("S", qps=(float, 1.0))
    >>> J = create_model("J", serving=(S | None, None))
    >>> known_fields(J, ["serving"])
    ['qps']
    >>> known_fields(J, ["serving", "qps"])  # a number, not a section
    []
    """
    cls = root
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            continue
        info = getattr(cls, "model_fields", {}).get(part)
        cls = _model_in(info.annotation) if info is not None else None
        if cls is None:
            return []
    return [f.alias or k for k, f in getattr(cls, "model_fields", {}).items()]


def unknown_field_words(root, loc, synonyms: dict | None = None) -> str:
    """``unknown field``, with the known name it stands for (``synonyms``: another tool's name for it, where the
    section has that field) or most resembles (``did you mean qps?``), or, where none is close, the names the section
    takes (at most ``LIST_FIELDS_AT_MOST``): a misspelt key named only as unknown sent the user to the README."""
    import difflib

    names = known_fields(root, loc[:-1]) if root is not None and loc else []
    meant = (synonyms or {}).get(str(loc[-1]).lower().replace("-", "_")) if loc else None
    close = [meant] if meant in names else (
        difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=SUGGEST_CUTOFF) if names else [])
    if close:
        return f"unknown field: did you mean {close[0]}?"
    if names and len(names) <= LIST_FIELDS_AT_MOST:
        return "unknown field (known here: " + ", ".join(sorted(names)) + ")"
    return "unknown field"


def from_validation(exc, prefix: str = "", templates: dict | None = None, default: str = "input",
                    model_field: str | None = None, root=None, synonyms: dict | None = None) -> InputError:
    """The first problem of a pydantic ``ValidationError`` as one ``InputError`` naming the field
    (``prefix.loc``) — the one translation every schema (job, catalog rows, profiles) uses.

    ``templates`` maps pydantic error types to messages (``{"greater_than": "must be > {gt}"}``,
    formatted with the error's context). A model-level validator may name its own field at the
    head of its message (``"parallel.tp: tp=3 does not divide ..."``); that field wins. The
    offending input is quoted, clipped to ``ECHO_CHARS``. ``model_field`` names the field an error
    of the whole model (no location) is blamed on; ``root``, the model class validated, lets an unknown field
    be answered with the known one it resembles or stands for (``synonyms``; ``unknown_field_words``)."""
    errors = exc.errors()
    err = errors[0]
    if any(_is_branch(x) for x in err.get("loc", ())):
        # a union's branches each report (pydantic names them in the location: "literal['qkvo','all-linear']",
        # "list[str]"): the branch that got furthest into the value says what is wrong with it
        # (``targets: [7]`` -> "targets.0: Input should be a valid string", not "should be 'qkvo'")
        head = _plain_loc(err)
        same = [e for e in errors if _plain_loc(e)[:len(head)] == head]
        err = max(same, key=lambda e: len(_plain_loc(e)))
    loc = _plain_loc(err) or ([model_field] if model_field else [])
    kind = err.get("type", "")
    if kind == "invalid_key":
        # a key that is no text (YAML ``1: 2``, ``true: x``, ``null: x``): pydantic's "1: Keys should be strings" named
        # the key as if it were a field, and ``true`` as 1; blame the mapping it is in, quote the key as written
        where = ".".join(p for p in (prefix, *loc[:-1]) if p) or default
        return InputError(where, f"a field name must be text, got the key {clip(err.get('input'))}")
    words = pydantic_words(kind, err.get("ctx"), templates)
    template = words is not None
    msg = words if template else str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    field = ".".join(p for p in (prefix, *loc) if p)
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head and head.replace("_", "").replace(".", "").isalnum():
        field, msg = (head, rest) if "." in head else (".".join(p for p in (field, head) if p), rest)
    if kind == "extra_forbidden" and not template:
        msg = unknown_field_words(root, loc, synonyms)
    elif "input" in err and kind != "missing" and not isinstance(err["input"], dict) and not hasattr(type(err["input"]), "model_fields"):
        # a mapping, or a validated model (an assignment's model validator: its repr is the whole section), is no input to quote
        msg += f", got {clip(err['input'])}"
    return InputError(field or default, msg)
