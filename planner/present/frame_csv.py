"""``recommend --csv``'s text, byte for byte what ``DataFrame.to_csv(index=False)`` writes, formatting each column's
distinct values once.

Why: pandas formats every cell (``ndarray.astype(str)`` per float chunk) and hands every row to the ``csv`` module;
on the search table that was most of a ``--csv`` run: Qwen3-30B-A3B's 679,994 rows x 35 columns took 17.3 of the
command's 34.0 CPU seconds in ``to_csv`` (8.2 s ``csv.writer.writerows``, 7.0 s ``astype``), against 12.8 s for
the whole search. The table's columns repeat a few values (hardware, degrees, flags: 1-48 distinct values in 2.7M
rows) or hold floats that are mostly distinct; either way a column is factorized once (``pandas.factorize``, O(n)),
its distinct values are formatted with the very calls pandas makes (``astype(str)`` for floats, ``str`` for integers
and flags, the ``csv`` module's own quoting for strings), and the rows are joined from the codes in blocks.
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


def _column_text(s) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, texts)`` of one column: ``texts[codes]`` is each row's field as ``to_csv`` writes it (a
    missing value empty, the ``na_rep`` default); None for a dtype ``to_csv`` is left to format."""
    import pandas as pd

    dtype = s.dtype
    numpy_kind = dtype.kind if isinstance(dtype, np.dtype) else None
    is_string = isinstance(dtype, pd.StringDtype)
    if numpy_kind not in ("f", "i", "u", "b") and not is_string:
        return None
    if numpy_kind == "f":
        # by bit pattern: factorize takes -0.0 for 0.0, which to_csv writes apart
        values = s.to_numpy()
        codes, bits = pd.factorize(values.view(f"i{values.dtype.itemsize}"))
        uniques = np.asarray(bits).view(values.dtype)
        texts = uniques.astype(str)  # what pandas' get_values_for_csv writes for a float block
        texts[np.isnan(uniques)] = ""  # its na_rep
        return codes, np.array(texts.tolist(), dtype=object)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)  # missing values: code -1
    uniques = np.asarray(uniques, dtype=object if is_string else dtype)
    if is_string:
        texts = _quoted(uniques.tolist())
    else:  # integers and flags go to the csv module as Python ints / bools: str() of each
        texts = [str(v) for v in uniques.tolist()]
    return codes, np.array(texts + [""], dtype=object)  # code -1 reads the last entry: ""


def frame_csv(df) -> str:
    """``df.to_csv(index=False)``, the same text (``tests/test_frame_csv.py`` holds it to pandas' on every dtype
    the search table has, missing values, quoting, and on tables of shipped examples)."""
    if len(df.columns) < 2 or not df.columns.is_unique:
        return df.to_csv(index=False)
    cols = [_column_text(df.iloc[:, i]) for i in range(len(df.columns))]
    if any(c is None for c in cols):
        return df.to_csv(index=False)
    end = os.linesep  # to_csv's default line terminator
    head = io.StringIO()
    csv.writer(head, lineterminator=end).writerow(list(df.columns))
    parts = [head.getvalue()]
    for start in range(0, len(df), BLOCK_ROWS):
        block = [texts[codes[start:start + BLOCK_ROWS]].tolist() for codes, texts in cols]
        parts.append(end.join(map(",".join, zip(*block))) + end)
    return "".join(parts)
