"""Input errors that the shells turn into one line and exit code 2.

Every error a user can cause by what they feed the planner (a job file, a catalog override, a
calibration profile, an upload in the app, an output path) is an ``InputError`` naming the field
at fault. The class itself is defined in ``hardware_catalog.errors`` — the lowest layer, because the
catalog reads user files too and must not import planner — and re-exported here. The CLI prints
``error: <field>: <message>`` and exits 2; nothing else reaches the user as a traceback.
"""
from __future__ import annotations

from hardware_catalog.errors import ECHO_CHARS, InputError, clip, one_of, shown_path
from hardware_catalog.files import read_json_object

__all__ = ["ECHO_CHARS", "InfeasibleError", "InputError", "NoPeakError", "TooLargeError", "clip", "one_of", "read_json_object", "shown_path"]


class InfeasibleError(InputError):
    """The request is well formed but nothing satisfies it (memory, budget, deadline)."""


class NoPeakError(InputError):
    """The job's low-precision recipe needs tensor cores this GPU lacks (NVFP4 or MXFP8 on Hopper): a search over
    several GPU types leaves the GPU out and says so, a fixed cluster is refused."""


class TooLargeError(InputError):
    """The request is well formed but exceeds a stated size limit; the message says "too large"."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message if message.startswith("too large") else f"too large: {message}")
