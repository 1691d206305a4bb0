"""srvspeed44: the serving simulation's per-event cost cut without changing an answer. The roofline
(``IterationModel.parts`` / ``time``) picks its elementwise operations once a call (``planner.model.ew.ops``):
on plain numbers the builtins, on arrays numpy, the same values either way; and a seeded run's event count and
p99s are pinned to what the code before the change computed (commit 60912df2)."""
import numpy as np
import pytest

from planner.hardware.options import option_from_cluster
from planner.model import ew
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ServingSimConfig, make_workload,
                                      simulate_serving)
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_screen import replica_spec

H100 = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))


def _spec(preset: str, tp: int):
    job = load_job_dict({"model": {"preset": preset}, "serving": {"p99_latency_ms": 100}})
    return replica_spec(job.model, job.serving, H100, tp)


def test_ops_is_scalar_only_when_every_argument_is_a_plain_number():
    assert ew.ops(1, 2.5, 0) is ew.SCALAR
    assert ew.ops(1.0, np.float64(2.0)) is ew.ARRAY
    assert ew.ops(3.0, np.arange(3.0)) is ew.ARRAY
    assert ew.SCALAR.ceil(2.0000001) == 3.0 and type(ew.SCALAR.ceil(2.5)) is float
    assert ew.ARRAY.maximum(np.array([1.0, 4.0]), 2.0).tolist() == [2.0, 4.0]


# dense TP1 / TP2 (the all-reduce term), local layers (gemma3's window), MoE (the touched experts)
@pytest.mark.parametrize("preset,tp", [("llama3-8b", 1), ("llama3-8b", 2), ("gemma3-12b", 2), ("mixtral-8x7b", 4)])
def test_the_roofline_on_plain_numbers_is_its_value_on_arrays(preset, tp):
    """The simulator's scalar call and the screen's array call give the same step, bit for bit, and ``time`` is
    ``parts``' step (it builds no dict since srvspeed44)."""
    im = _spec(preset, tp).iteration
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 300))
        ctx = float(n * rng.integers(1, 9000))
        tok = int(rng.integers(0, 4096))
        pctx = float(tok * rng.integers(1, 9000))
        prior = int(rng.integers(0, 9000))
        ploc = float(pctx / 3) if im.window else None
        plain = im.time(n, ctx, tok, pctx, ploc, prior)
        arr = im.time(np.array([n], dtype=np.float64), np.array([ctx]), tok, pctx,
                      None if ploc is None else np.array([ploc]), prior)
        assert type(plain) is float or type(plain) is np.float64
        assert plain == float(arr[0])
        assert plain == im.parts(n, ctx, tok, pctx, ploc, prior)["step"]


# (preset, TP, replicas, QPS) -> (engine events, iterations, p99 TTFT s, p99 TPOT s), computed at 60912df2
PINNED = {
    ("llama3-8b", 1, 2, 12.0): (2082, 12811, 0.06891275772366612, 0.011266771972258413),
    ("mixtral-8x7b", 4, 1, 4.0): (643, 5544, 0.03844911533286677, 0.012932928637505623),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_a_seeded_run_answers_as_before(key):
    preset, tp, replicas, qps = key
    wl = make_workload(ArrivalSpec("poisson", qps, 60), LengthDist("lognormal", 512, 0.6),
                       LengthDist("lognormal", 200, 0.6), seed=3)
    res = simulate_serving(ServingSimConfig(_spec(preset, tp), EngineConfig(max_num_seqs=32, max_num_batched_tokens=2048),
                                            replicas=replicas, drain_s=30), wl)
    assert (res.engine_events, res.iterations, res.ttft.p99, res.tpot.p99) == PINNED[key]
    assert res.unfinished == 0
