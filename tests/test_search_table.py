"""recommend's table from per-batch label codes (``recommend.Labels``) is the table pandas builds from the decoded
strings: same values, same dtypes, same CSV."""
import numpy as np

from planner.search.recommend import Labels, _table
from planner.vocab import RECOMPUTE


def _parts(coded: bool):
    rng = np.random.default_rng(3)
    parts = []
    for b in range(7):
        n = 50 + 13 * b
        rc = rng.integers(0, len(RECOMPUTE.names), n)
        mods = "+".join(["core_attn", "mlp"][: 1 + b % 2])
        parts.append((n, dict(
            opt=b % 3, hardware=f"hw-{b % 3}", cloud="aws" if b % 2 else "gcp",
            recompute=Labels(rc, RECOMPUTE.names) if coded else RECOMPUTE.decode(rc),
            # a label column with a whole-batch string in some batches and a repeated name in the codes' list
            recompute_modules=("" if b == 4 else Labels(rc == 1, ("", mods)) if coded else np.where(rc == 1, mods, "")),
            dup=Labels(rc % 2, ("x", "x")) if coded else np.full(n, "x"),
            step_time_s=rng.random(n), flag=bool(b % 2),
            **({"cost_low": rng.random(n)} if b % 3 else {}),  # a column some batches lack: NaN there
        )))
    return parts


def test_labels_table_equals_decoded_strings():
    plain, coded = _table(_parts(False)), _table(_parts(True))
    assert list(plain.columns) == list(coded.columns)
    assert plain.dtypes.equals(coded.dtypes)
    assert plain.equals(coded)
    assert plain.to_csv(index=False) == coded.to_csv(index=False)
    assert set(coded["recompute"]) == set(RECOMPUTE.names)
    assert coded["cost_low"].isna().sum() == sum(n for b, (n, _) in enumerate(_parts(True)) if b % 3 == 0)
