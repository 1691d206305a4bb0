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
