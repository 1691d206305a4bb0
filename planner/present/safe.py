"""Text from users reaches the terminal as text: never as rich markup, never as control codes.

Model names, preset names, catalog rows, calibration-profile device names and command-line values
are the user's. Printed through rich they would be parsed as markup (``[/]`` raises
``MarkupError``; ``[link=...]`` makes a hyperlink) and their control characters (ESC, OSC, BEL)
would reach the terminal, where ``ESC ] 0 ; ... BEL`` sets the window title and ``ESC [`` moves the
cursor or recolours the rest of the screen.

* ``clean(s)``: control characters shown as escapes (``\\x1b``), so the text stays readable and inert;
* ``esc(s)``: ``clean`` and rich-markup escaping, for a user string put into a markup string;
* ``SafeConsole``: the console the CLI prints through. Every text segment it writes is cleaned
  (the escape sequences rich itself emits for styles and the progress bar are not text segments,
  so they survive), and a string whose markup does not parse is printed literally instead of
  raising — a backstop for a call site that forgot ``esc``. The ``COLUMNS`` it lays text out at is
  read by ``columns`` (fuzz46b: ``COLUMNS=0`` printed nothing at all, an error included).
"""
from __future__ import annotations

import json as _json
import math
import os
import re

from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape as _markup_escape
from rich.segment import Segment
from rich.text import Text

from hardware_catalog.files import number_cell

# C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi overrides/isolates
# (which reorder what the terminal shows: "Trojan Source", CVE-2021-42574)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _show(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _json_escape(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def clean(s) -> str:
    """``s`` as a string with every control character replaced by its visible escape."""
    return _CONTROL.sub(_show, str(s))


def clean_line(s) -> str:
    """``clean`` and newlines/tabs as spaces: one line (error messages)."""
    return clean(s).replace("\n", " ").replace("\t", " ")


def esc(s) -> str:
    """A user string made safe to interpolate into rich markup."""
    return _markup_escape(clean(s))


#: the marked lines printed under a result: each line's prefix and style (rich markup around the escaped text)
MARKS = {"advice": "[yellow]advice:[/] {}", "note": "[dim]note: {}[/]", "assumed": "[dim]assumed: {}[/]"}


def print_marked(con, mark: str, lines) -> None:
    """Each of ``lines`` on its own line, marked as ``MARKS[mark]`` says; the text escaped (``esc``): a plan's
    advice, notes and assumptions hold the user's names."""
    for line in lines:
        con.print(MARKS[mark].format(esc(line)))


#: the narrowest width text is laid out at, whatever ``COLUMNS`` says: at 1 rich's table layout failed (an internal
#: error, AssertionError "Sum of ratios must be > 0", from ``estimate``), and below ~20 a table cell is a letter wide
MIN_COLUMNS = 20
#: the width output is laid out at where it is piped or captured and ``COLUMNS`` gives none: wide enough that tables
#: stay on one line per row
PIPED_COLUMNS = 150


def columns(environ=os.environ) -> int | None:
    """The width ``COLUMNS`` asks for, held at ``MIN_COLUMNS`` at least; None where it is unset or gives none.
    POSIX (XBD 8.3, "Other Environment Variables"): COLUMNS is "a decimal integer > 0" and, unset or null, the
    implementation determines the width; a value that is none is read so here (it is a number as a CSV cell's is,
    ``files.number_cell``). Until fuzz46b the CLI read it with ``int()``: ``COLUMNS=abc``, ``1e3`` or an empty one
    was a traceback at import, and rich took ``0`` as a width of 0 and printed nothing, an ``--json`` plan and an
    error line alike, exit 0 or 2 with empty output.

    >>> [columns({"COLUMNS": v}) for v in ("80", " 80 ", "0", "-5", "1", "abc", "", "1e3")], columns({})
    ([80, 80, None, None, 20, None, None, 1000], None)
    """
    raw = environ.get("COLUMNS")
    try:
        n = number_cell(raw, whole=True)
    except ValueError:  # (٨٠, 8_0: no number)
        return None
    return max(n, MIN_COLUMNS) if isinstance(n, int) and n > 0 else None


class SafeConsole(Console):
    """A rich Console that cannot be driven by the text it prints (see the module docstring). Rich reads ``COLUMNS``
    (and its other variables) from the environment it is given: it is given ``COLUMNS`` as ``columns`` reads it."""

    def __init__(self, *args, **kwargs):
        env = dict(kwargs.pop("_environ", None) or os.environ)
        width = columns(env)
        env.pop("COLUMNS", None)
        super().__init__(*args, _environ=env | ({"COLUMNS": str(width)} if width else {}), **kwargs)

    def render_str(self, text: str, *args, **kwargs) -> Text:
        try:
            return super().render_str(text, *args, **kwargs)
        except MarkupError:
            kwargs["markup"] = False
            return super().render_str(text, *args, **kwargs)

    def print_json(self, json=None, *, data=None, indent=2, highlight: bool = True) -> None:
        """Strict JSON only: a non-finite number (which ``json.dumps`` writes as ``NaN``/``Infinity``,
        which no JSON parser accepts) is printed as ``null``, as the simulator's ``to_dict`` does; and a
        control character in a string (DEL, C1, bidi overrides: ``json.dumps`` writes them raw) is
        written as its JSON escape ``\\u0085``. Left raw, ``_render_buffer`` showed it as ``\\x85``,
        which is not a JSON escape: a model name with U+0085 made ``--json`` unparseable. The same
        bytes as rich's ``print_json`` otherwise."""
        from rich.highlighter import JSONHighlighter

        if json is not None:
            data = _json.loads(json)
        s = _json.dumps(_finite(data), indent=indent, ensure_ascii=False, allow_nan=False)
        # colour only where it shows: piped to a script or a file the styles are dropped anyway, and the JSON
        # highlighter's regex pass was ~80% of printing a large payload (3,000 rows: 2.8 -> 0.5 CPU-s)
        # and only on a real terminal: rich's ``is_terminal`` is true under FORCE_COLOR / TTY_COMPATIBLE, which CI
        # sets for coloured logs, and ``--json`` piped to a script was then ANSI codes around every key (fuzz46b)
        shown = highlight and self.is_terminal and self.color_system is not None and _isatty(self.file)
        s = _CONTROL.sub(_json_escape, s)
        if not shown:  # no styles: the text's segment as it is (see _Verbatim)
            self.print(_Verbatim(s), soft_wrap=True)
            return
        text = JSONHighlighter()(s)
        text.no_wrap, text.overflow = True, None
        self.print(text, soft_wrap=True)

    def _render_buffer(self, buffer) -> str:
        safe = [seg if seg.control else Segment(clean(seg.text), seg.style, seg.control) for seg in buffer]
        return super()._render_buffer(safe)


class _Verbatim:
    """Unstyled text printed as one segment and a newline: the bytes rich writes for a ``Text`` of it printed with
    ``soft_wrap`` and ``no_wrap`` (no fold, no crop, no justify; ``rstrip_end`` drops only whitespace past the width
    at a line's end, and an indented JSON line ends in a bracket, a quote, a digit, a literal or a comma), without
    rich building, wrapping and re-joining a ``Text`` per line: 69 ms of CPU per ``--json`` plan (74 prints, 5.1 of
    tests/test_fuzz_new_inputs.py's fuzz's CPU-s in cProfile). ``_render_buffer`` still cleans the segment."""

    def __init__(self, text: str):
        self.text = text

    def __rich_console__(self, console, options):
        yield Segment(self.text)
        yield Segment.line()


def _isatty(file) -> bool:
    """Whether ``file`` is a terminal itself (not one rich is told to treat as such)."""
    try:
        return file.isatty()
    except (AttributeError, ValueError, OSError):  # (no isatty, or a closed file)
        return False


def _finite(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
