"""``recommend --csv``'s text, byte for byte what ``DataFrame.to_csv(index=False)`` writes, formatting each column's
distinct values once.

Why: pandas formats every cell (``ndarray.astype(str)`` per float chunk) and hands every row to the ``csv`` module;
on the search table that was most of a ``--csv`` run: Qwen3-30B-A3B's 679,994 rows x 35 columns took 17.3 of the
command's 34.0 CPU seconds in ``to_csv`` (8.2 s ``csv.writer.writerows``, 7.0 s ``astype``), against 12.8 s for
the whole search. The table's columns repeat a few values (hardware, degrees, flags: 1-48 distinct values in 2.7M
rows) or hold floats that are mostly distinct; either way each block of rows of a column is factorized
(``pandas.factorize``, O(n)), its distinct values are formatted with the very calls pandas makes (``astype(str)``
for floats, ``str`` for integers and flags, the ``csv`` module's own quoting for strings), and the block's rows are
joined from the codes. (Factorizing whole columns first kept every column's codes and distinct strings alive: a
2,860,624-row ``--csv`` search peaked at 6.3 GB RSS that way, 4.4 GB block by block.)
Columns of any other dtype (object, datetimes, categoricals, nullable extension types) and one-column frames
(where the ``csv`` module quotes an empty field) go to ``to_csv`` itself, so the text is always pandas'.
"""
from __future__ import annotations

import csv
import io
import os

import numpy as np

#: rows joined per block: bounds the Python strings alive at once (a block's cells) on a 2.7M-row table
BLOCK_ROWS = 65_536


def _quoted(values) -> list[str]:
    """Each string as the ``csv`` module writes it as a field (``QUOTE_MINIMAL``, ``"`` doubled, the
    dialect ``to_csv`` uses): one two-field row per value, the trailing empty field and line end cut off."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True,
                   quoting=csv.QUOTE_MINIMAL)
    out = []
    for s in values:
        buf.seek(0)
        buf.truncate()
        w.writerow((s, ""))
        out.append(buf.getvalue()[:-2])
    return out


def _kind(dtype) -> str | None:
    """How ``_block_text`` formats a column of ``dtype``: "f" floats, "i" integers and flags, "s" strings; None for
    a dtype left to ``to_csv``."""
    import pandas as pd

    if isinstance(dtype, pd.StringDtype):
        return "s"
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return "f" if dtype.kind == "f" else "i"
    return None


def _block_text(values, kind: str) -> list[str]:
    """Each row's field of one column's block of rows (``values``: a numpy array, or pandas' string array), as
    ``to_csv`` writes it, a missing value empty (its ``na_rep`` default): the block is factorized and each distinct
    value formatted once."""
    import pandas as pd

    if kind == "f":
        # by bit pattern: factorize takes -0.0 for 0.0, which to_csv writes apart
        codes, bits = pd.factorize(values.view(f"i{values.dtype.itemsize}"))
        uniques = np.asarray(bits).view(values.dtype)
        texts = uniques.astype(str)  # what pandas' get_values_for_csv writes for a float block
        texts[np.isnan(uniques)] = ""
        texts = texts.tolist()
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # missing values: code -1
        uniques = np.asarray(uniques, dtype=object).tolist()
        # strings as the csv module quotes them; integers and flags go to it as Python ints / bools: str() of each
        texts = _quoted(uniques) if kind == "s" else [str(v) for v in uniques]
    return np.array(texts + [""], dtype=object)[codes].tolist()  # code -1 reads the last entry: ""


def frame_csv(df) -> str:
    """``df.to_csv(index=False)``, the same text (``tests/test_frame_csv.py`` holds it to pandas' on every dtype
    the search table has, missing values, quoting, and on a shipped example's table)."""
    kinds = [_kind(t) for t in df.dtypes]
    if len(df.columns) < 2 or not df.columns.is_unique or None in kinds:
        return df.to_csv(index=False)
    arrays = [df.iloc[:, i].array if k == "s" else df.iloc[:, i].to_numpy() for i, k in enumerate(kinds)]
    end = os.linesep  # to_csv's default line terminator
    head = io.StringIO()
    csv.writer(head, lineterminator=end).writerow(list(df.columns))
    parts = [head.getvalue()]
    for start in range(0, len(df), BLOCK_ROWS):  # a block at a time: the cells alive are one block's
        block = [_block_text(a[start:start + BLOCK_ROWS], k) for a, k in zip(arrays, kinds)]
        parts.append(end.join(map(",".join, zip(*block))) + end)
    return "".join(parts)
