"""Re-run every command shown in a Markdown file and paste its real output under it.

In a fenced code block, a line starting with ``$ `` is a command; the lines after it, up to the next
``$ `` line or the end of the fence, are its output and get replaced. Commands run from the
repository root through the shell (pipes such as ``| head -20`` are part of the command and show
the reader exactly what was cut), with a fixed terminal width so rich tables are stable.

    python docs/refresh_outputs.py README.md
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: str) -> list[str]:
    env = {**os.environ, "COLUMNS": "130", "TERM": "dumb", "NO_COLOR": "1"}
    p = subprocess.run(cmd, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    text = (p.stdout + p.stderr).rstrip("\n")
    return [ln.rstrip() for ln in text.splitlines()]


def refresh(lines: list[str]) -> list[str]:
    out, in_fence, i = [], False, 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            in_fence = not in_fence
            out.append(ln)
            i += 1
            continue
        if in_fence and ln.startswith("$ "):
            out.append(ln)
            print(ln, file=sys.stderr)
            out.extend(run(ln[2:]))
            i += 1
            while i < len(lines) and not lines[i].startswith("```") and not lines[i].startswith("$ "):
                i += 1  # drop the old output
            continue
        out.append(ln)
        i += 1
    return out


if __name__ == "__main__":
    for name in sys.argv[1:]:
        p = Path(name)
        p.write_text("\n".join(refresh(p.read_text().splitlines())) + "\n")
