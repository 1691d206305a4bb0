"""Goodput under node failures at checkpoint-interval granularity (a second, coarser SimPy model).

The step-level engine (engine.py) simulates failures too, but a realistic MTBF is hours to days of
training — millions of steps. Failures and checkpoints do not interact with the inside of a step,
so once the engine has given the steady-state step time, one *segment* (``interval_steps`` steps
plus a checkpoint) is the natural event:

* the job runs segments of ``interval_steps * step_s`` seconds, each followed by a blocking pause
  ``block_s``; the checkpoint becomes durable ``persist_s`` after the pause ends (0 for a blocking
  write; the background write time for an asynchronous one);
* node failures arrive as a Poisson process of rate ``1 / mtbf_s`` (the job's MTBF: per-node MTBF
  divided by the node count), during work or a checkpoint pause (a restart is not interrupted);
  between failures everything is deterministic, so the model has one event per failure;
* a failure loses everything since the last durable checkpoint and costs ``restart_s`` before
  work resumes.

Goodput = useful training seconds / wall seconds. The classic first-order optimum is Young's
``tau = sqrt(2 * delta * MTBF)`` (Young 1974, "A first order approximation to the optimum
checkpoint interval", CACM 17(9)) with Daly's refinement ``sqrt(2 delta M) - delta`` (Daly 2006,
FGCS 22(3), Eq. 37 first-order form), delta the blocking checkpoint cost.

    >>> r = simulate_goodput(step_s=1.0, interval_steps=100, block_s=10, persist_s=0,
    ...                      mtbf_s=float("inf"), restart_s=60, horizon_s=1.1e4)
    >>> round(r["goodput"], 4)      # no failures: 100 s of work per 110 s
    0.9091
"""
from __future__ import annotations

import math

import numpy as np
import simpy

from planner.defaults import PUBLISHED_NODE_MTBF_HOURS


def young_daly_interval_s(block_s, mtbf_s):
    """Young's optimum checkpoint interval ``sqrt(2 * delta * MTBF)`` in seconds of work: a float, or an array where
    an argument is one (the spot model's candidates, ``interruptions``). ``np.sqrt`` is IEEE 754's correctly rounded
    square root, as ``math.sqrt`` is, so an array gives each row's float bit for bit."""
    r = np.sqrt(2.0 * np.asarray(block_s, dtype=np.float64) * mtbf_s)
    return float(r) if np.ndim(r) == 0 else r


def expected_goodput(interval_s: float, block_s: float, mtbf_s: float, restart_s: float,
                     persist_s: float = 0.0) -> float:
    """Closed-form goodput of the same model (the test oracle of ``simulate_goodput``).

    Blocking checkpoints: a cycle of length ``c = tau + delta`` succeeds with probability ``p = exp(-c/M)``;
    each failed attempt costs the time to the failure (mean ``M - c p/(1-p)`` given it is < c) plus ``R``, and
    the number of failures before a success is geometric, so the expected time per cycle is
    ``c + (1/p - 1)(M - c p/(1-p) + R) = (exp(c/M) - 1)(M + R)`` and goodput ``tau / that``
    (the renewal argument of Daly 2006 §3, without failures during the restart).

    An asynchronous save is durable ``persist_s`` after its pause ends. Renew at the moments a checkpoint
    becomes durable: the next one is ``c`` of running away, but after a failure the restarted life reaches its
    first durable checkpoint only ``c + persist`` after it starts. So the expected time between durable points
    is ``M (1 - p) + (1 - p)(R + (exp((c + persist)/M) - 1)(M + R)) = (exp(c/M) - 1)(M + R) exp(persist/M)``:
    the blocking goodput times ``exp(-persist/M)``. The segment simulation agrees within 0.001 at persist 0 to
    3,000 s, M = 10 h (tests/test_qa17.py); the estimate left the persist out."""
    return float(expected_goodput_rows(interval_s, block_s, mtbf_s, restart_s, persist_s))


def expected_goodput_rows(interval_s, block_s, mtbf_s, restart_s, persist_s=0.0) -> np.ndarray:
    """``expected_goodput`` (its formula and its cut) over arrays, bit for bit what the scalar formula gives each row:
    the sums, products and quotients in the same order in float64 (IEEE 754 rounds each alike in numpy and Python),
    ``expm1`` and ``exp`` through the ``math`` module (the C library's, as the scalar formula called them; numpy's own
    loops may take SIMD versions that differ in the last bit, and ``goodput_array``, which does, agrees only within
    1e-12). The spot model prices every candidate with it three times (``interruptions``); through ``np.vectorize``
    that was ~1/4 of a spot search's CPU time (speed47)."""
    interval_s, block_s, mtbf_s, restart_s, persist_s = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (interval_s, block_s, mtbf_s, restart_s, persist_s)))
    c = interval_s + block_s
    out = np.zeros(c.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # exp overflows (OverflowError): a cycle ~700 MTBFs long almost never completes (goodput 0)
        run = ~((c + persist_s) / mtbf_s > 700.0)
        m, n = mtbf_s[run], int(np.count_nonzero(run))
        grow = np.fromiter(map(math.expm1, (c[run] / m).tolist()), dtype=np.float64, count=n)
        lag = np.fromiter(map(math.exp, (-persist_s[run] / m).tolist()), dtype=np.float64, count=n)
        out[run] = interval_s[run] / (grow * (m + restart_s[run])) * lag
    return out


def run_segments(interval_s, block_s, whole_s):
    """(seconds of work between durable checkpoints, blocking pause per checkpoint, whether the cadence is
    beyond the run) of a run of ``whole_s``
    seconds of work that saves every ``interval_s`` with a ``block_s`` pause, as arrays: a cadence longer
    than the run takes no save before the run ends, so a failure loses all the work done (the whole run is
    one segment, as without a checkpoint) and no pause is paid. The renewal formula charged a segment that
    never exists: a save every 10,000 steps on a 4,000-step run (15.8 h of work, job MTBF 5 h) read goodput
    0.3% and 231 days where restarting from zero takes 4.8 days (goodput 13.6%). Node failures
    (``overhead_arrays``) and spot interruptions (``interruptions``) both cut their interval here."""
    interval_s, block_s, whole_s = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64)
                                                         for x in (interval_s, block_s, whole_s)))
    beyond = interval_s > whole_s
    return np.where(beyond, whole_s, interval_s), np.where(beyond, 0.0, block_s), beyond


def work_per_step_s(step_s, compute_hours, eval_hours=0.0):
    """Seconds of work a training step stands for between two checkpoints: the step plus its share of the run's
    evaluation passes (``eval_hours`` of the ``compute_hours``), as arrays. Checkpoints fall every ``every_steps``
    training steps and the evaluation passes between them lengthen the segment a failure can lose, so a segment is
    ``every_steps x step x compute / (compute - eval)`` seconds of work and the run takes ``steps / every_steps``
    saves, as ``planner simulate`` plays them (``engine.simulate``: ``steps // every_steps`` pauses). Until QA 57
    the segment was ``every_steps x step`` over the whole compute time, evaluation included: the run was charged
    ``(train + eval) / (every x step)`` saves, one more per ``every_steps`` steps' worth of evaluation (Llama-3-8B,
    16 H100, 100B tokens, 7.6 h of evaluation in 195.9 h, a save every 100 of 47,684 steps: 496 pauses for 476).
    The mean segment stands for all of them: a pass lands in one segment of every ``eval.every / ck.every``, and
    the renewal formula is taken at their mean length."""
    step_s, compute_hours, eval_hours = (np.asarray(x, dtype=np.float64) for x in (step_s, compute_hours, eval_hours))
    train = compute_hours - eval_hours
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((eval_hours > 0) & (train > 0), step_s * compute_hours / np.where(train > 0, train, 1.0), step_s)


def goodput_array(interval_s, block_s, mtbf_s, restart_s, persist_s=0.0) -> np.ndarray:
    """``expected_goodput`` over arrays (the search's candidates), with ``mtbf_s = inf`` meaning no
    failures (goodput ``tau / (tau + delta)``): the same renewal formula
    ``tau / (expm1((tau + delta) / M) (M + R)) x exp(-persist / M)`` and the same cut (0 beyond 700 MTBFs
    per cycle). ``tests/test_recommend_checkpoint.py`` holds it to ``expected_goodput`` within 1e-12."""
    interval_s, block_s, mtbf_s, restart_s, persist_s = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (interval_s, block_s, mtbf_s, restart_s, persist_s)))
    c = interval_s + block_s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = c / mtbf_s
        late = np.where(np.isinf(mtbf_s), 1.0, np.exp(-persist_s / mtbf_s))  # an asynchronous save's durability lag
        g = np.where(np.isinf(mtbf_s), interval_s / c,
                     np.where(x + persist_s / mtbf_s > 700.0, 0.0,
                              interval_s / (np.expm1(np.minimum(x, 700.0)) * (mtbf_s + restart_s)) * late))
    return g


#: below this goodput the expected wall time is more than 1,000 x the uninterrupted time: such a run is
#: treated as never finishing (goodput 0), as the 700-MTBF cut of ``goodput_array`` is. Without a
#: checkpoint a failure rolls a run back to its start, so a run of many job MTBFs has a finite but
#: astronomical expectation (a 1,882 h run at a 25 h job MTBF: e^75 restarts); the planner used to plan
#: it. The horizon is a stated choice, not a measured one: no one waits 1,000 times the run's length.
MIN_GOODPUT = 1e-3


def finishing(goodput):
    """``goodput`` with every value under ``MIN_GOODPUT`` taken as 0 (never finishes): the one cut node failures
    (``overhead_arrays``) and spot interruptions (``interruptions``) both apply."""
    return np.where(goodput < MIN_GOODPUT, 0.0, goodput)


def expected_events(wall_hours, mtbf_s, restart_s):
    """Expected failures in ``wall_hours`` of a run whose failures arrive at rate ``1 / mtbf_s`` while it works or
    saves and never during a restart of ``restart_s`` (the model's assumption, module docstring; ``simulate_goodput``
    draws the next failure from when work resumes): the exposed time is the wall less the restarts, ``N = (wall - N
    R) / M`` by the renewal-reward argument, so ``N = wall / (M + R)`` -- the count the goodput formula's wall time
    holds (``(exp(c/M) - 1)`` failures a cycle of ``(exp(c/M) - 1)(M + R)`` seconds). Until qa58 the count was ``wall
    / M``, failures during the restarts included: a 128-node spot job at 0.0129 interruptions a node-day, 40 min a
    restart and capacity wait, said 46.6 expected interruptions for the 44.6 its 28.2 days hold, and 1,000 a
    node-day read 247,321 interruptions of ~30 min each inside 247 days. Arrays welcome; ``inf`` hours give ``inf``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(wall_hours, dtype=np.float64) * 3600.0 / (np.asarray(mtbf_s, dtype=np.float64) + restart_s)


def overhead_arrays(ck, step_s, compute_hours, mtbf_s, restart_s: float, eval_hours=0.0) -> dict:
    """The whole run's checkpoint and node-failure overhead for arrays of candidates (the formula
    ``run_overhead`` documents; ``run_overhead`` is this on one row).

    ``ck``: a ``CheckpointConfig`` (its ``n_gpus`` may be an array, for an asynchronous save's
    snapshot); ``step_s``, ``compute_hours``: arrays; ``mtbf_s``: the job MTBF per candidate
    (per-node MTBF / nodes; ``inf``: no failures); ``restart_s``: seconds per restart; ``eval_hours``: the
    evaluation passes inside ``compute_hours`` (``work_per_step_s``: they lengthen the segments between saves,
    they add none). Returns arrays: goodput, expected_hours (``inf`` where goodput is 0), overhead, checkpoint_block_s,
    expected_failures, checkpoint_beyond_run (the cadence is longer than the run: ``run_segments``). A goodput under ``MIN_GOODPUT`` (an expected time over 1,000 x the
    uninterrupted one) counts as 0: the run never finishes in practice."""
    step_s = np.asarray(step_s, dtype=np.float64)
    compute_hours = np.asarray(compute_hours, dtype=np.float64)
    whole = np.broadcast_to(compute_hours * 3600.0, np.broadcast(step_s, compute_hours).shape)
    if ck.every_steps:
        # an asynchronous save's wait is against the training steps' time, as the simulator plays it (engine.simulate)
        block, persist = ck.pause_s(ck.every_steps * step_s)
        work = work_per_step_s(step_s, compute_hours, eval_hours)
        interval, block, beyond = run_segments(ck.every_steps * work, block, whole)
        persist = np.where(beyond, 0.0, persist)  # an asynchronous save's write: durable that much after its pause
    else:  # no checkpoint: a failure rolls the run back to its start
        interval = whole
        block = np.zeros_like(interval)
        beyond = np.zeros(interval.shape, dtype=bool)
        persist = 0.0
    mtbf = np.broadcast_to(np.asarray(mtbf_s, dtype=np.float64), interval.shape)
    g = goodput_array(interval, block, mtbf, restart_s, persist)
    g = finishing(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        hours = np.where(g > 0, compute_hours / np.where(g > 0, g, 1.0), np.inf)
        overhead = np.where(compute_hours != 0, hours / np.where(compute_hours != 0, compute_hours, 1.0) - 1, 0.0)
        failures = np.where(np.isfinite(mtbf), expected_events(hours, mtbf, restart_s), 0.0)
        saves = (np.where(beyond | (interval <= 0), 0.0, whole / np.where(interval > 0, interval, 1.0))
                 if ck.every_steps else np.zeros(interval.shape))
    return dict(goodput=g, expected_hours=hours, overhead=overhead, checkpoint_block_s=block, expected_failures=failures,
                checkpoint_beyond_run=beyond, checkpoint_saves=saves)


def run_overhead(cfg, step_s: float, compute_hours: float, eval_hours: float = 0.0) -> dict | None:
    """The whole run's checkpoint and node-failure overhead, in closed form, for a job whose
    ``checkpoint`` section sets a cadence or an MTBF (``cfg``: its ``SimConfig``; None otherwise).

    The same model as ``simulate_goodput``/``expected_goodput``: work comes in intervals of
    ``every_steps x step_s`` followed by the blocking pause (``CheckpointConfig.pause_s``); failures
    arrive at the job MTBF (per-node MTBF / nodes) and cost ``restart_s`` plus the work since the
    last checkpoint. Without ``every_steps`` there is no checkpoint, so a failure rolls the run back
    to its start (interval = the whole run); nor with a cadence longer than the run (``run_segments``:
    ``checkpoint_beyond_run``). ``eval_hours``: the evaluation passes inside ``compute_hours``, which
    lengthen the segments between saves (``work_per_step_s``). Expected wall hours = compute hours / goodput. One row
    of ``overhead_arrays`` (the search prices its candidates with that, so the two cannot differ).

    >>> from types import SimpleNamespace as NS
    >>> ck = NS(every_steps=100, pause_s=lambda interval: (10.0, 0.0), bytes=25e9, write_bw=2.5e9, asynchronous=False)
    >>> run_overhead(NS(checkpoint=ck, failures=NS(enabled=False)), 1.0, 11.0)["goodput"]  # 100 s of work per 110 s
    0.9090909090909091
    """
    ck, fl = cfg.checkpoint, cfg.failures
    if not (ck.every_steps or fl.enabled):
        return None
    mtbf_s = fl.mtbf_s if fl.enabled else math.inf
    restart_s = fl.restart_s if fl.enabled else 0.0
    a = {k: float(v[0]) for k, v in overhead_arrays(ck, np.array([step_s]), np.array([compute_hours]),
                                                    mtbf_s, restart_s, np.array([eval_hours])).items()}
    return dict(goodput=a["goodput"], expected_hours=a["expected_hours"], overhead=a["overhead"],
                checkpoint_every_steps=ck.every_steps or None, checkpoint_block_s=a["checkpoint_block_s"],
                job_mtbf_hours=mtbf_s / 3600.0 if fl.enabled else None, restart_minutes=restart_s / 60.0,
                expected_failures=a["expected_failures"], checkpoint_beyond_run=bool(a["checkpoint_beyond_run"]),
                # the saves the pauses are paid on (training steps / every_steps) and the evaluation time between
                # them, so the line can say what the pauses and failures are taken over (QA 57)
                checkpoint_saves=a["checkpoint_saves"] if ck.every_steps else None,
                checkpoint_eval_hours=float(eval_hours) if eval_hours else None,
                # what the pause is made of, so the line that quotes it can say so (QA 41: "a 44.97 s pause" was
                # 112.4 GB at the 20 Gb/s default write rate, and nothing printed either figure)
                checkpoint_bytes=float(ck.bytes), checkpoint_write_gbps=float(ck.write_bw) * 8 / 1e9,
                checkpoint_asynchronous=bool(ck.asynchronous),
                # no MTBF given: no node failure is counted; what a published rate would add, so the line can say
                # what the goodput leaves out (QA 45: 4,096 H100 for 47 days read "goodput 96.5%" unqualified)
                **({} if fl.enabled or not math.isfinite(a["expected_hours"]) else {
                    "uncounted_failures": a["expected_hours"] * max(int(getattr(fl, "nodes", 1)), 1)
                    / PUBLISHED_NODE_MTBF_HOURS}))


def simulate_goodput(step_s: float, interval_steps: int, block_s: float, persist_s: float,
                     mtbf_s: float, restart_s: float, horizon_s: float, seed: int = 0) -> dict:
    """Run the segment-level model for ``horizon_s`` simulated seconds (see module docstring).

    One event per failure: between two failures the job runs identical cycles (a segment, then
    its checkpoint pause), so how many cycles complete and how many checkpoints become durable
    before the failure is counted exactly instead of simulated one by one. An asynchronous save
    that is still persisting when the next one is due makes that one wait (as ``ckpt_pause`` in
    the engine): the pause is ``max(block_s, persist_s - segment)``."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    seg = interval_steps * step_s
    block = max(block_s, persist_s - seg)
    cycle = seg + block
    st = {"useful": 0.0, "failures": 0, "lost_s": 0.0, "checkpoints": 0}

    def done_in(t: float) -> tuple[float, int, int]:
        """(work done, checkpoints completed, checkpoints durable) ``t`` seconds into a life."""
        n = int(t // cycle)
        work = n * seg + min(t - n * cycle, seg)
        durable = int((t - persist_s) // cycle) if t >= persist_s else 0
        return work, n, min(durable, n)

    def job():
        while env.now < horizon_s:
            life = rng.exponential(mtbf_s) if math.isfinite(mtbf_s) else math.inf
            if env.now + life >= horizon_s:  # the horizon comes first: all work so far counts
                work, n, _ = done_in(horizon_s - env.now)
                st["useful"] += work
                st["checkpoints"] += n
                yield env.timeout(horizon_s - env.now)
                return
            yield env.timeout(life)
            work, n, durable = done_in(life)
            st["failures"] += 1
            st["checkpoints"] += n
            st["useful"] += durable * seg
            st["lost_s"] += work - durable * seg
            # the restart itself is not interrupted (restart_s << MTBF); the Poisson process is
            # memoryless, so the next failure is drawn from when work resumes
            yield env.timeout(restart_s)

    env.process(job())
    env.run()
    wall = env.now
    return {"goodput": st["useful"] / wall if wall > 0 else 0.0, "wall_s": wall,
            "useful_s": st["useful"], "failures": st["failures"], "lost_s": st["lost_s"],
            "checkpoints": st["checkpoints"]}
