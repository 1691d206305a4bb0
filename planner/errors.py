"""Input errors that the CLI turns into one line and exit code 2.

Every error a user can cause by what they feed the planner (a job file, a catalog override, a
calibration profile, an upload in the app) is an ``InputError`` naming the field at fault. The CLI
prints ``error: <field>: <message>`` and exits 2; nothing else ever reaches the user as a traceback.
"""
from __future__ import annotations


class InputError(ValueError):
    """A user-fixable problem with an input. ``field`` is a dotted path such as ``model.layers``."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class InfeasibleError(InputError):
    """The request is well formed but nothing satisfies it (memory, budget, deadline)."""


def read_json_object(path, field: str, what: str = "") -> dict:
    """Read a JSON file that must hold an object; every failure is one InputError naming ``field``.
    ``what`` is appended to the invalid-JSON message (e.g. " — corrupt profile?")."""
    import json
    from pathlib import Path

    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(field, f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(field, f"cannot read {p}: {e.__class__.__name__}") from None
    except json.JSONDecodeError as e:
        raise InputError(field, f"{p} is not valid JSON (line {e.lineno}: {e.msg}){what}") from None
    if not isinstance(raw, dict):
        raise InputError(field, f"{p} must hold a JSON object")
    return raw
