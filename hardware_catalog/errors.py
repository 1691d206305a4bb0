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
