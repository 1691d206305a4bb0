"""A real torch DataLoader (PIL decode + RandomResizedCrop + flip + normalise over generated JPEGs,
0/1/2 workers, a fixed-cost consumer) against the simulator's prediction, at a small size.

The test machine is small and shared (other jobs' load changes from second to second), so the
tolerance is an honest 35% on throughput for 0 and 1 workers. With 2 workers on this 2-vCPU machine
the simulator over-predicts (it does not model the main process competing with both workers for
the two vCPUs while receiving batches): measured +40-50%, so 2 workers get a 60% bound and the
direction is checked. The benchmark prints the actual errors
(``python benchmarks/dataloader_real.py`` for the full-size table in the README, "Real DataLoader vs the simulator")."""
import importlib.util
import sys

import pytest

from conftest import ROOT

pytest.importorskip("torch")
pytest.importorskip("PIL")


def _bench():
    spec = importlib.util.spec_from_file_location("dataloader_real", ROOT / "benchmarks" / "dataloader_real.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dataloader_real"] = mod  # DataLoader workers pickle the dataset class by module
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(sys.platform != "linux", reason="reads CPU counters from /proc")
def test_real_dataloader_matches_simulator(capsys):
    rows = _bench().main(small=True)
    with capsys.disabled():
        print()
        for r in rows:
            print(f"  workers={r['workers']}: real {r['real_bps']:.1f} batches/s, simulated {r['sim_bps']:.1f} "
                  f"({r['err']:+.1%}); data wait real {r['real_wait']:.0%} simulated {r['sim_wait']:.0%}")
    assert [r["workers"] for r in rows] == [0, 1, 2]
    for r in rows[:2]:
        assert abs(r["err"]) < 0.35, r
        assert abs(r["sim_wait"] - r["real_wait"]) < 0.25, r
    two = rows[2]
    assert -0.2 < two["err"] < 0.6, two
    assert two["sim_bps"] > rows[1]["sim_bps"]  # a second worker helps, in the model and ...
    assert two["real_bps"] > 0.9 * rows[1]["real_bps"]  # ... (at least it does not hurt) for real
