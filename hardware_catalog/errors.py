"""The one type of every user-fixable error: ``InputError(field, message)``.

It lives here, in the lowest layer, because the catalog reads user files too and must not import
``planner`` (planner imports the catalog, never the other way round); ``planner.errors`` re-exports
it and ``CatalogError`` derives from it, so a shell catches one type and prints
``error: <field>: <message>``.
"""
from __future__ import annotations

#: Longest piece of user input quoted back in a message: an error never echoes unbounded input.
ECHO_CHARS = 80
#: Longest message an error carries (whatever a formatter quoted into it is cut here, the last guard).
MESSAGE_CHARS = 300


def clip(value, limit: int = ECHO_CHARS) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters, control characters escaped by repr.

    >>> clip("x" * 200)[:12], len(clip("x" * 200))
    ("'xxxxxxxxxxx", 81)
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class InputError(ValueError):
    """A user-fixable problem with an input; ``field`` is a dotted path such as ``model.layers``."""

    def __init__(self, field: str, message: str):
        field, message = str(field), str(message)
        if len(field) > ECHO_CHARS:
            field = field[:ECHO_CHARS] + "…"
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS] + "…"
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


def _is_branch(part) -> bool:
    """A location part that names a union branch (``literal[...]``, ``list[str]``), not a field."""
    return isinstance(part, str) and "[" in part


def _plain_loc(err) -> list[str]:
    """The error's location as job-file field names: root and union-branch parts dropped."""
    return [str(x) for x in err.get("loc", ()) if x != "__root__" and not _is_branch(x)]


def from_validation(exc, prefix: str = "", templates: dict | None = None, default: str = "input",
                    model_field: str | None = None) -> InputError:
    """The first problem of a pydantic ``ValidationError`` as one ``InputError`` naming the field
    (``prefix.loc``) — the one translation every schema (job, catalog rows, profiles) uses.

    ``templates`` maps pydantic error types to messages (``{"greater_than": "must be > {gt}"}``,
    formatted with the error's context). A model-level validator may name its own field at the
    head of its message (``"parallel.tp: tp=3 does not divide ..."``); that field wins. The
    offending input is quoted, clipped to ``ECHO_CHARS``. ``model_field`` names the field an error
    of the whole model (no location) is blamed on."""
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
    template = (templates or {}).get(kind)
    msg = template.format(**(err.get("ctx") or {})) if template else str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    field = ".".join(p for p in (prefix, *loc) if p)
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head and head.replace("_", "").replace(".", "").isalnum():
        field, msg = (head, rest) if "." in head else (".".join(p for p in (field, head) if p), rest)
    if kind == "extra_forbidden" and not template:
        msg = "unknown field"
    elif "input" in err and kind != "missing" and not isinstance(err["input"], dict) and not hasattr(err["input"], "model_fields"):
        # a mapping, or a validated model (an assignment's model validator: its repr is the whole section), is no input to quote
        msg += f", got {clip(err['input'])}"
    return InputError(field or default, msg)
