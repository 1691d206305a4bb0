"""PyTorch DataLoader model for one data-parallel replica (data_pipeline.md §1.5).

Semantics taken from ``torch/utils/data/dataloader.py``:

* each worker builds one *whole* batch at a time (fetch + decode/augment + collate);
* at most ``prefetch_factor * num_workers`` batches are outstanding (queued, being built, or
  finished but not yet consumed): a credit is returned when the trainer takes a batch;
* batches are dispatched round-robin and, with ``in_order=True`` (default), delivered in order —
  a slow batch holds back finished later ones (head-of-line blocking);
* one pin-memory thread pins batches one after another; ``num_workers=0`` loads in the trainer.

Storage reads (``Storage.read_delay``): small files cost one request per sample that misses the
cache; shards cost one request per shard opened, samples are streamed from it. A cache holds
``cache_fraction`` of the samples (or shards) with a never-evict policy, so the hit rate equals the
cached fraction (Mohan et al. VLDB'21 Eq. 1-2, MinIO). ``read_fraction`` scales the bytes read
(filtering pushed down to storage: only the needed partition/columns are read).
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from planner.simulate.config import LoaderConfig
from planner.simulate.resources import CACHE_PROFILE, CpuPool, RateLimiter


class Draws:
    """Pre-drawn random numbers in blocks (one numpy call per 4096 draws)."""

    def __init__(self, rng: np.random.Generator, kind: str, block: int = 4096):
        self.rng, self.kind, self.block = rng, kind, block
        self.buf, self.i = self._fill(), 0

    def _fill(self):
        if self.kind == "normal":
            return self.rng.standard_normal(self.block).tolist()
        if self.kind == "exponential":
            return self.rng.standard_exponential(self.block).tolist()
        return self.rng.random(self.block).tolist()

    def __call__(self) -> float:
        if self.i >= self.block:
            self.buf, self.i = self._fill(), 0
        self.i += 1
        return self.buf[self.i - 1]


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with the given mean and coefficient of variation."""
    s2 = math.log1p(cv * cv)
    return math.log(mean) - s2 / 2, math.sqrt(s2)


class Loader:
    """The DataLoader of one replica: worker processes, credits, in-order delivery, pinning."""

    def __init__(self, run, rank: int, gen: int, batch: int, rng: np.random.Generator):
        c: LoaderConfig = run.loader_cfg  # the job's loader, its per-batch collate scaled to a group (engine._Run)
        self.run, self.env, self.c, self.rank, self.gen, self.B = run, run.env, c, rank, gen, batch
        self.storage = run.storage
        self.normal, self.unif, self.expo = Draws(rng, "normal"), Draws(rng, "uniform"), Draws(rng, "exponential")
        self.rng = rng
        # shards are split across all workers of all replicas; a worker without one idles
        w = c.workers_reading(run.cfg.pipeline.dp)
        self.W = w
        # credits: prefetch_factor x workers, but never more than the batches the run can consume
        # (identical behaviour — a credit for a batch past the run's end is never used — and the
        # work stays linear in the steps simulated: 1024 workers x prefetch 1024 built a million
        # batches per replica before the first step)
        self.C = min(c.prefetch_factor * w, run.steps * run.batches + w)
        need = w + (1 if c.trainer_holds_core else 0)
        self.cpu = CpuPool(self.env, c.cores) if c.cores is not None and c.cores < max(need, 1) else None
        self.pin = RateLimiter(self.env, 1.0)  # single pin thread, a FIFO of seconds
        self.copy = RateLimiter(self.env, 1.0)  # one H2D copy engine (side stream)
        self.samples_per_shard = max(1.0, c.shard_bytes / c.sample_bytes)
        # batch-level CPU time: sum of B lognormal samples ~ lognormal(mean B*mu, CV cv/sqrt(B))
        mean_b = batch * c.decode_s
        self.mean_batch = mean_b + c.collate_s
        self.ln_batch = lognormal_params(mean_b, c.decode_cv / math.sqrt(batch)) if mean_b > 0 and c.decode_cv > 0 else None
        self.ln_sample = lognormal_params(c.decode_s, c.decode_cv) if c.decode_s > 0 and c.decode_cv > 0 else None
        self.consumed = 0
        self.next_seq = 0  # any-order dispatch
        self.ready: dict[int, simpy.Event] = {}
        self.done: deque = deque()
        self.any_waiter = None
        self.credit_waiters: dict[int, simpy.Event] = {}
        self.blocked_s = 0.0  # worker time spent waiting for a credit (buffer full)
        self.shard_left = [0.0] * max(w, 1)  # samples left in each worker's current shard
        self.shard_hit = [False] * max(w, 1)
        for i in range(w):
            self.env.process(self.worker(i))

    # ---- cost draws --------------------------------------------------------------------
    def cpu_time(self) -> float:
        c = self.c
        if c.decode_s <= 0:
            return c.collate_s
        if c.batch_time_dist == "exponential":
            return self.mean_batch * self.expo()
        if self.ln_batch is None or c.batch_time_dist == "deterministic":
            return self.mean_batch
        mu, s = self.ln_batch
        return math.exp(mu + s * self.normal()) + c.collate_s

    def sample_cpu_times(self) -> np.ndarray:
        c = self.c
        if self.ln_sample is None:
            return np.full(self.B, c.decode_s)
        mu, s = self.ln_sample
        return self.rng.lognormal(mu, s, self.B)

    def fetch_plan(self, wid: int, n: int) -> list[tuple[float, float, bool]]:
        """The storage reads for n samples: a list of (bytes, requests, from_cache)."""
        c, x = self.c, self.c.cache_fraction
        per = c.sample_bytes * c.read_fraction
        if c.storage.latency_s == 0 and c.storage.conn_bw >= 1e10 and x == 0:
            return [(n * per, 0.0, True)]  # already in memory
        if c.format == "files":
            hits = int(self.rng.binomial(n, x)) if 0 < x < 1 else (n if x >= 1 else 0)
            return [(hits * per, 0.0, True), ((n - hits) * per, float(n - hits), False)]
        plan, left = [], n
        while left > 0:
            if self.shard_left[wid] <= 0:
                self.shard_left[wid] = self.samples_per_shard
                self.shard_hit[wid] = self.unif() < x
                opened = 1.0
            else:
                opened = 0.0
            take = min(left, self.shard_left[wid])
            self.shard_left[wid] -= take
            left -= take
            plan.append((take * per, 0.0 if self.shard_hit[wid] else opened, self.shard_hit[wid]))
        return plan

    def fetch_delay(self, plan) -> float:
        """Cache hits at RAM speed, then the misses as one worker's sequence of storage reads
        (``Storage.read_sequence``: their shared-server queueing counted once, not once per shard)."""
        hits = sum(nbytes for nbytes, _, cached in plan if cached) / CACHE_PROFILE.conn_bw
        return hits + self.storage.read_sequence([(nbytes, nreq) for nbytes, nreq, cached in plan if not cached])

    # ---- processes ---------------------------------------------------------------------
    def _credit(self, seq: int):
        """Event that fires when batch ``seq`` may be dispatched (seq < consumed + C)."""
        need = seq - self.C + 1
        if self.consumed >= need:
            return None
        ev = self.credit_waiters.get(need)
        if ev is None:
            ev = self.credit_waiters[need] = self.env.event()
        return ev

    def build(self, wid: int):
        """Fetch + decode one batch (a generator; used by workers and by num_workers=0)."""
        env, c, run = self.env, self.c, self.run
        if run.sample_level:
            for i, cpu_s in enumerate(self.sample_cpu_times()):
                d = self.fetch_delay(self.fetch_plan(wid, 1))
                if d > 0:
                    yield env.timeout(d)
                yield self.cpu.work(cpu_s) if self.cpu else env.timeout(cpu_s)
            if c.collate_s:
                yield self.cpu.work(c.collate_s) if self.cpu else env.timeout(c.collate_s)
            return
        d = self.fetch_delay(self.fetch_plan(wid, self.B))
        cpu_s = self.cpu_time()
        if self.cpu is None:
            yield env.timeout(d + cpu_s)
        else:
            if d > 0:
                yield env.timeout(d)
            yield self.cpu.work(cpu_s)

    def worker(self, wid: int):
        env, run = self.env, self.run
        seq = wid
        while True:
            if not self.c.in_order:
                seq = self.next_seq
            ev = self._credit(seq)
            if ev is not None:
                t0 = env.now
                yield ev
                self.blocked_s += env.now - t0
                if run.gen != self.gen:
                    return
                if not self.c.in_order and self.next_seq != seq:
                    continue  # another worker took that index
            if not self.c.in_order:
                self.next_seq += 1
            t0 = env.now
            yield from self.build(wid)
            if run.gen != self.gen:
                return
            run.record(self.rank * run.pp, "data", "load", t0, env.now)
            self.deliver(seq)
            seq += self.W

    def deliver(self, seq: int):
        """Hand a built batch to the pin thread (and the side-stream copy when overlapped)."""
        env, c = self.env, self.c
        d = self.pin.reserve(c.pin_s(self.B))
        if c.h2d_overlap:
            self.copy.free_at = max(self.copy.free_at, env.now + d)
            d = self.copy.reserve(c.h2d_s(self.B))
        if not c.in_order:
            env.timeout(d).callbacks.append(lambda _e, s=seq: self._arrive_any(s))
            return
        ev = self.ready.get(seq)
        if ev is None:
            self.ready[seq] = env.timeout(d)
        else:  # the trainer is already waiting on this batch
            env.timeout(d).callbacks.append(lambda _e, ev=ev: ev.succeed())

    def _arrive_any(self, seq):
        self.done.append(seq)
        if self.any_waiter is not None and not self.any_waiter.triggered:
            self.any_waiter.succeed()

    # ---- trainer side ------------------------------------------------------------------
    def next_batch(self):
        """Event for the next batch in consumption order (None if it is already there)."""
        if not self.c.in_order:
            if self.done:
                return None
            self.any_waiter = self.env.event()
            return self.any_waiter
        seq = self.consumed
        ev = self.ready.get(seq)
        if ev is None:
            ev = self.ready[seq] = self.env.event()
            return ev
        return None if ev.processed else ev

    def take(self):
        """The trainer takes the next batch: return its credit."""
        if self.c.in_order:
            self.ready.pop(self.consumed, None)
        else:
            self.done.popleft()
        self.consumed += 1
        ev = self.credit_waiters.pop(self.consumed, None)
        if ev is not None:
            ev.succeed()
