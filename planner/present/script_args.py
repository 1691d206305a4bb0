"""The argument parser of the script entry points (``python -m calibration[.loop|.gbdt|.collectives]``,
``python benchmarks/validate.py`` and the other benchmarks the README tells users to run).

argparse answers a bad option with its usage block and ``prog: error: argument --device: invalid choice: ...``
(three lines, another form); the ``planner`` CLI answers the same mistake with one line
``error: <field>: <message>`` and exit 2 (``planner.cli.main``). ``ScriptArgs`` is argparse with that answer, so a
user who runs both sees one form: an invalid choice, an unknown option, a missing value, a missing required
argument. ``-h`` still prints the help (argparse's own action, not an error). ``closed_pipe_quiet`` is the other
half of a script's entry: its output piped into ``head`` ends it quietly.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys

from planner.present.safe import clean_line

# argparse's messages (CPython Lib/argparse.py, 3.11-3.13), each as (pattern, field, the CLI's words).
# ``name`` is the option the message names; the CLI's wording is click's as planner.cli.usage_words rewords it.
_ARGUMENT = re.compile(r"^argument (?P<name>[^:]+): (?P<rest>.*)$", re.S)
# 3.11 quotes every choice ('auto', 'cuda'); 3.12.8+ prints them bare: both read the same
_CHOICE = re.compile(r"^invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)$", re.S)
_TOP_LEVEL = (
    (re.compile(r"^unrecognized arguments: (?P<name>\S+)"), "no such option"),
    (re.compile(r"^the following arguments are required: (?P<name>[^,\s]+)"), "missing"),
    (re.compile(r"^ambiguous option: (?P<name>\S+) could match (?P<rest>.*)$", re.S), "ambiguous: could be {rest}"),
)


def _field(name: str) -> str:
    """The option argparse names as ``-o/--out``: its long spelling, as the CLI names ``--out``."""
    names = name.split("/")
    return next((n for n in names if n.startswith("--")), names[0])


def usage_line(message: str) -> str:
    """argparse's error message as the CLI's one line ``error: <field>: <message>`` (no trailing newline).

    >>> usage_line("argument --device: invalid choice: 'gpux' (choose from 'auto', 'cuda', 'cpu')")
    "error: --device: must be one of auto, cuda, cpu, got 'gpux'"
    >>> usage_line("argument -o/--out: expected one argument")
    'error: --out: requires a value'
    >>> usage_line("unrecognized arguments: --bogus x")
    'error: --bogus: no such option'
    """
    m = _ARGUMENT.match(message)
    if m:
        field, rest = _field(m["name"]), m["rest"]
        choice = _CHOICE.match(rest)
        if choice:
            names = ", ".join(c.strip().strip("'\"") for c in choice["choices"].split(","))
            rest = f"must be one of {names}, got {choice['value']}"  # errors.one_of's wording (argparse quoted the value)
        elif rest.startswith("expected"):  # "expected one argument": the option was last, or met another option
            rest = "requires a value"
        return clean_line(f"error: {field}: {rest}")
    for pattern, words in _TOP_LEVEL:
        m = pattern.match(message)
        if m:
            return clean_line(f"error: {_field(m['name'])}: " + words.format(**m.groupdict()))
    return clean_line(f"error: arguments: {message}")  # a message this table lacks still leaves as one line


class ScriptArgs(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line ``error: <field>: <message>`` on stderr, exit 2."""

    def error(self, message: str):
        self.exit(2, usage_line(message) + "\n")

    @contextlib.contextmanager
    def input_errors(self):
        """The block's ``InputError`` (a script's input file refused: ``read_table``) as the CLI answers bad input:
        one line ``error: <field>: <message>``, exit 2 (gpu_pairs.py, precision_pairs.py, inverted_pairs.py)."""
        from planner.errors import InputError

        try:
            yield
        except InputError as e:
            self.exit(2, f"error: {clean_line(e)}\n")


@contextlib.contextmanager
def closed_pipe_quiet():
    """A script's entry (``with closed_pipe_quiet(): main()``, every ``benchmarks/*.py``) whose stdout reader has
    gone (``python benchmarks/validate.py | head -1``) ends quietly with exit status 1, not a ``BrokenPipeError``
    traceback -- twice: print's own, then the interpreter's ``Exception ignored ... BrokenPipeError`` at the final
    flush. The idiom of the Python docs (library/signal.html, "Note on SIGPIPE"): flush stdout inside the entry, so
    the last buffered lines meet the closed pipe here, and on the error point stdout at devnull so the exit's flush
    has nowhere to fail. Not ``signal(SIGPIPE, SIG_DFL)``, which the same note warns off: a script that also writes a
    socket or a child's pipe (validate.py, sweep_consistency.py run subprocesses) would die silently there. Until
    cleanup54 every benchmark printed the traceback (each of the 31 that print within 45 s unargued, run through
    a closed pipe; gpu_pairs.py, precision_pairs.py, inverted_pairs.py given a table too)."""
    try:
        try:
            yield
        except SystemExit:  # ``sys.exit(main())``: its output is flushed before the status is kept
            sys.stdout.flush()
            raise
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def read_table(path, field: str, columns=(), positive=(), numbers=()):
    """A script's input table (``validate.py --csv`` output) as a pandas DataFrame, or one ``InputError`` naming
    ``field``: the file read as every user file is (``hardware_catalog.files.read_text``: a regular file, at most
    8 MiB, UTF-8), a CSV with a header line, the ``columns`` there, the ``positive`` columns positive finite
    numbers (each read as a number), and the ``numbers`` columns, where the file has them, numbers or blank (a row of
    another source leaves a layout column empty; ``_numbers``). Until fuzz44 ``benchmarks/precision_pairs.py`` handed
    the path to ``pd.read_csv`` and met an empty file (EmptyDataError), a binary one (UnicodeDecodeError), a quote left
    open (ParserError), a missing ``id`` column (KeyError), a step time ``abc`` (TypeError) or 0 (ZeroDivisionError)
    with a traceback; ``benchmarks/inverted_pairs.py`` did until qa69."""
    import io
    import math

    import pandas as pd

    from hardware_catalog.errors import clip, shown_path
    from hardware_catalog.files import read_text
    from planner.errors import InputError

    shown, text = shown_path(path), read_text(path, field)
    try:
        df = pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise InputError(field, f"{shown}: empty (no header line); give validate.py --csv output") from None
    except (pd.errors.ParserError, ValueError) as e:  # a quote left open, a row of too many cells
        raise InputError(field, f"{shown}: not a CSV table ({clip(str(e).strip().splitlines()[-1], 120)[1:-1]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(field, f"{shown}: no column {', '.join(missing)} (validate.py --csv writes it)")
    for c in positive:
        x = pd.to_numeric(df[c], errors="coerce")
        bad = [i for i, v in enumerate(x) if not (v > 0 and math.isfinite(v))]
        if bad:
            given = df[c].iloc[bad[0]]
            raise InputError(field, f"{shown}: row {bad[0] + 1}: {c} must be a positive number, got "
                                    f"{clip(given.item() if hasattr(given, 'item') else given)}")  # (numpy's repr: no)
        df[c] = x
    return _numbers(df, [c for c in numbers if c in df.columns], field, shown)


def _numbers(df, columns, field: str, shown: str):
    """``df`` with each of ``columns`` read as numbers, blanks kept blank (NaN); a cell of text refused in one line
    (``read_table``)."""
    import pandas as pd

    from hardware_catalog.errors import clip
    from planner.errors import InputError

    for c in columns:
        x = pd.to_numeric(df[c], errors="coerce")
        bad = [i for i, (v, given) in enumerate(zip(x, df[c])) if pd.isna(v) and not pd.isna(given)]
        if bad:
            given = df[c].iloc[bad[0]]
            raise InputError(field, f"{shown}: row {bad[0] + 1}: {c} must be a number or blank, got "
                                    f"{clip(given.item() if hasattr(given, 'item') else given)}")
        df[c] = x
    return df
