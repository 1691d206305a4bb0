"""A batch of candidate configurations as numpy columns — the unit the analytic core works on.

Every formula in flops/memory/comm/step_time takes these arrays and returns arrays, so one call
evaluates one configuration (``planner estimate``) or a million (``planner recommend``) alike.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from planner.vocab import RECOMPUTE, SCHEDULE



@dataclass
class Candidates:
    """Columns of equal length; row i is one configuration."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    vpp: np.ndarray
    zero: np.ndarray
    mb: np.ndarray  # micro-batch (sequences or samples per GPU per forward/backward)
    rc: np.ndarray  # recompute code 0 none, 1 selective, 2 full
    sp: np.ndarray  # sequence parallel (bool)
    schedule: np.ndarray  # planner.vocab.SCHEDULE codes
    hw: np.ndarray  # index into the hardware option table (a GPU or instance type)
    gpus_per_node: np.ndarray
    nodes: np.ndarray

    def __post_init__(self):
        n = len(self.tp)
        for f in fields(self):
            v = np.asarray(getattr(self, f.name))
            if v.ndim == 0:
                v = np.full(n, v)
            setattr(self, f.name, v)

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def gpus(self) -> np.ndarray:
        return self.tp * self.pp * self.dp * self.cp

    def take(self, idx) -> "Candidates":
        return Candidates(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def layouts(tp, pp, dp, cp, ep, zero, gpus_per_node=1) -> "Candidates":
        """Candidates that carry only a parallel layout (one micro-batch, no recompute, 1F1B):
        for per-layout terms computed once per distinct key (model states, DP collectives)."""
        return Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=1, zero=zero, mb=1, rc=0, sp=False,
                          schedule=0, hw=0, gpus_per_node=gpus_per_node, nodes=1)

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        return Candidates(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Candidates)})

    def row(self, i: int) -> dict:
        d = {f.name: getattr(self, f.name)[i].item() for f in fields(self)}
        d["recompute"] = RECOMPUTE.names[d.pop("rc")]
        d["schedule"] = SCHEDULE.names[d["schedule"]]
        d["sp"] = bool(d["sp"])
        return d


def _compact(col):
    """Dense ranks of a non-negative integer column: (distinct values, rank of each row). O(n)
    through a presence table when the values are small, else a sort."""
    col = np.asarray(col)
    if col.dtype == bool:
        col = col.view(np.int8)
    hi = int(col.max())
    if hi < (1 << 22):
        present = np.zeros(hi + 1, dtype=bool)
        present[col] = True
        vals = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.int32) - 1
        return vals, rank[col]
    vals, inv = np.unique(col, return_inverse=True)
    return vals, inv.astype(np.int32)


def distinct_rows(*cols):
    """Distinct rows of small non-negative integer columns: (list of distinct columns, inverse).

    Each column is ranked densely (``_compact``), the ranks combine into one mixed-radix code
    whose range is the product of the per-column distinct counts, and a presence table over
    that range gives the distinct rows — O(n), no sort over the candidates."""
    n = len(cols[0])
    if n == 0:
        return [np.asarray(c)[:0] for c in cols], np.zeros(0, dtype=np.int64)
    comp = [_compact(c) for c in cols]
    radix = [len(v) for v, _ in comp]
    code = comp[0][1].astype(np.int64)
    for (_, r), k in zip(comp[1:], radix[1:]):
        code *= k
        code += r
    total = int(np.prod(radix, dtype=np.float64))
    if total <= (1 << 24):
        present = np.zeros(total, dtype=bool)
        present[code] = True
        keys = np.flatnonzero(present)
        inv = (np.cumsum(present, dtype=np.int32) - 1)[code]
    else:
        keys, inv = np.unique(code, return_inverse=True)
    out = []
    for (vals, _), k in zip(reversed(comp), reversed(radix)):
        out.append(vals[keys % k])
        keys = keys // k
    return out[::-1], inv
