"""What the part-table scripts of this folder share: a row over a fixed column list, and the CSV writer. Imported by
name (each script runs as ``python benchmarks/data/parts/scripts/<name>.py``, so this folder is on ``sys.path``)."""
import csv


def new_row(cols, read_date, **cells) -> dict:
    """A row of ``cols``: the given ``cells``, every other column empty, ``read_date`` stamped."""
    r = {c: "" for c in cols}
    r.update(cells)
    r["read_date"] = read_date
    return r


def write_csv(path, rows, cols, **dialect) -> None:
    """``rows`` (dicts) under the header ``cols`` to ``path`` (UTF-8; ``dialect``: csv.DictWriter's keywords,
    e.g. ``lineterminator``). A key outside ``cols`` raises, as csv.DictWriter does."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, **dialect)
        w.writeheader()
        w.writerows(rows)
