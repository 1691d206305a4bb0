"""The real-DataLoader benchmark's machinery (benchmarks/dataloader_real.py), checked for what does
not depend on the machine's load: the real torch DataLoader runs over generated JPEGs and delivers
every batch with the right shape, its measured shares are shares, and the simulator's prediction
for the same setup is sane (bounded by the consumer, monotone in workers).

How *accurate* the prediction is against the real run is a wall-clock measurement on a shared
machine (0/1 workers within 35% and 2 workers within -20%..+60% in quiet runs; a busy neighbour
moved the ratio past any honest bound once in four runs), so it is a benchmark, not a test:
``python benchmarks/dataloader_real.py [--small] [--check]`` (README, "Real DataLoader vs the
simulator")."""
import importlib.util
import sys

import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dataloader_real", ROOT / "benchmarks" / "dataloader_real.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dataloader_real"] = mod  # DataLoader workers pickle the dataset class by module
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dataset(bench, tmp_path_factory):
    d = tmp_path_factory.mktemp("jpegs")
    return bench.JpegDataset(bench.make_jpegs(d, 12, size=64), out=32)


@pytest.mark.parametrize("workers", [0, 1])
def test_real_loader_delivers_every_batch(bench, dataset, workers):
    from torch.utils.data import DataLoader

    dl = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=workers, drop_last=True)
    labels = []
    for x, y in dl:
        assert tuple(x.shape) == (4, 3, 32, 32) and x.dtype == torch.float32
        assert torch.isfinite(x).all()
        labels += y.tolist()
    assert sorted(labels) == sorted(i % 10 for i in range(12))  # one epoch: every sample once


@pytest.mark.skipif(sys.platform != "linux", reason="reads CPU counters from /proc")
def test_real_run_measures_shares_and_rates(bench, dataset):
    r = bench.run_real(dataset, 1, batch=4, t_consumer=0.002, n_batches=8, warm=2)
    assert r["batches_per_s"] > 0
    assert 0.0 <= r["data_wait_share"] <= 1.0
    assert r["cores_left"] > 0  # (jiffy-granular counters: it can read a little over the core count)
    cal = bench.calibrate(dataset, batch=4, n=8)
    assert cal["decode_s"] > 0 and cal["decode_cv"] >= 0 and cal["collate_s"] >= 0


def test_crop_parameters_stay_inside_the_image(bench):
    import random

    rnd = random.Random(0)
    for w, h in ((256, 256), (300, 40), (17, 500), (1, 1)):
        for _ in range(200):
            x, y, cw, ch = bench.random_resized_crop_params(w, h, rnd=rnd)
            assert 0 <= x and 0 <= y and 0 < cw and 0 < ch and x + cw <= w and y + ch <= h


# a fixed calibration (no timing): 2 ms/sample, batches of 8, a 12 ms consumer
CAL = {"decode_s": 2e-3, "decode_cv": 0.3, "collate_s": 1e-3, "worker_batch_s": 8 * 2.2e-3 + 1e-3,
       "main_batch_s": 0.5e-3}


def test_prediction_is_monotone_in_workers_and_bounded_by_the_consumer(bench):
    preds = [bench.predict(CAL, w, batch=8, t_consumer=0.012, cores=4) for w in (0, 1, 2)]
    rates = [p["batches_per_s"] for p in preds]
    assert rates[0] < rates[1] <= rates[2] * 1.001, rates
    assert rates[2] <= 1 / 0.012 * 1.001  # the consumer binds at best
    for p in preds:
        assert 0.0 <= p["data_wait_share"] <= 1.0
    # 0 workers: the trainer loads each batch itself, then consumes it — serial, exactly
    serial = 1 / (8 * CAL["decode_s"] + CAL["collate_s"] + 0.012)
    assert rates[0] == pytest.approx(serial, rel=0.05)
    # fewer cores for the workers never speed them up
    tight = bench.predict(CAL, 2, batch=8, t_consumer=0.012, cores=0.5)["batches_per_s"]
    assert tight <= rates[2] * 1.001
