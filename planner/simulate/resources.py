"""Small resource classes, one job each: a rate limiter, a processor-sharing CPU pool, storage.

Figures used as storage defaults come from /work/shared/reference/data_pipeline.md (§1.7, §2d),
each tagged there as verified [V] or unverified [U]; the tag is repeated next to the number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import simpy


class RateLimiter:
    """A FIFO server of fixed rate, kept as a virtual clock (no events of its own).

    ``reserve(amount)`` books ``amount / rate`` seconds after whatever is already booked and returns
    the delay until the booking ends — the fluid model of a shared bandwidth or a request-rate cap
    (token bucket with no burst). ``rate = inf`` never delays.

    >>> env = simpy.Environment(); bw = RateLimiter(env, rate=100.0)
    >>> bw.reserve(50.0), bw.reserve(50.0)
    (0.5, 1.0)
    """

    def __init__(self, env: simpy.Environment, rate: float):
        self.env, self.rate, self.free_at, self.total = env, rate, 0.0, 0.0

    def reserve(self, amount: float) -> float:
        self.total += amount
        if self.rate == float("inf") or amount <= 0:
            return 0.0
        start = max(self.env.now, self.free_at)
        self.free_at = start + amount / self.rate
        return self.free_at - self.env.now


class CpuPool:
    """``cores`` CPU cores shared by processor sharing (how the OS scheduler splits cores).

    ``work(cpu_seconds)`` returns an event that fires once the job has received that much CPU;
    ``hold(seconds)`` occupies a share for a fixed wall time (a busy-waiting main process). With
    n jobs active each progresses at ``min(1, cores / n)``. Every arrival or departure re-plans
    the next completion (one timeout per change; stale ones are ignored).

    >>> env = simpy.Environment(); cpu = CpuPool(env, cores=1)
    >>> a, b = cpu.work(1.0), cpu.work(1.0)
    >>> env.run(a); env.now
    2.0
    """

    def __init__(self, env: simpy.Environment, cores: float):
        self.env, self.cores = env, float(cores)
        self.jobs: dict[int, list] = {}  # id -> [remaining work or end time, event, is_hold]
        self._next_id = 0
        self._version = 0
        self._last = 0.0

    def _rate(self) -> float:
        n = len(self.jobs)
        return min(1.0, self.cores / n) if n else 0.0

    def _advance(self):
        dt = self.env.now - self._last
        if dt > 0 and self.jobs:
            r = self._rate()
            for job in self.jobs.values():
                if not job[2]:
                    job[0] -= r * dt
        self._last = self.env.now

    def _add(self, amount: float, hold: bool) -> simpy.Event:
        self._advance()
        ev = self.env.event()
        jid = self._next_id
        self._next_id += 1
        self.jobs[jid] = [self.env.now + amount if hold else amount, ev, hold]
        self._replan()
        return ev

    def work(self, cpu_seconds: float) -> simpy.Event:
        return self._add(max(cpu_seconds, 0.0), hold=False)

    def hold(self, seconds: float) -> simpy.Event:
        return self._add(max(seconds, 0.0), hold=True)

    def _replan(self):
        self._version += 1
        if not self.jobs:
            return
        r = self._rate()
        now = self.env.now
        t_next = min((j[0] - now) if j[2] else j[0] / r for j in self.jobs.values())
        v = self._version
        self.env.timeout(max(t_next, 0.0)).callbacks.append(lambda _ev, v=v: self._tick(v))

    def _tick(self, version: int):
        if version != self._version:
            return
        self._advance()
        now = self.env.now
        # done: what is left takes less than the clock can still tell apart at ``now`` (QA 56). With an absolute
        # 1e-12 s, a job left 1.62e-12 core-seconds at rate 0.5 and time 32,878 s (a decode-bound ResNet-50 loader on
        # 0.5 vCPUs a GPU, step 33) was re-planned 3.24e-12 s ahead, which the float clock rounds to ``now`` (its
        # spacing there is 7.3e-12 s): nothing advanced and the tick repeated forever, so `planner simulate` hung
        tol = max(1e-12, 4.0 * math.ulp(now))
        r = self._rate()
        done = [k for k, j in self.jobs.items() if (j[0] <= now + tol if j[2] else j[0] <= max(1e-12, r * tol))]
        for k in done:
            self.jobs.pop(k)[1].succeed()
        self._replan()


@dataclass(frozen=True)
class StorageProfile:
    """Per-request latency, per-connection and aggregate bandwidth (bytes/s), request-rate cap."""

    latency_s: float
    conn_bw: float
    aggregate_bw: float
    max_requests_per_s: float


# Defaults per storage kind (data_pipeline.md §1.7 and table 2d). Override any of them from the
# job's ``data`` section (storage_gbps, request_latency_ms, max_requests_per_s).
STORAGE_PROFILES = {
    # NVMe: 2 GB/s sequential (Intel P3600, Plumber §5.2 [V]); ~0.1 ms latency, 500k IOPS [U]
    "local_nvme": StorageProfile(1e-4, 2e9, 2e9, 5e5),
    # network filesystem: 10-40 Gb/s cloud network (Mohan §6.2 [V]); 1 ms, 500 MB/s per stream,
    # 50k requests/s [U]
    "network_fs": StorageProfile(1e-3, 5e8, 10e9 / 8, 5e4),
    # object store (S3): tens of ms median small-object latency, 100-200 ms first byte [V];
    # 85-90 MB/s per connection [V]; 5,500 GET/s per prefix [V]; up to 100 Gb/s per instance [V]
    "object_store": StorageProfile(0.05, 88e6, 100e9 / 8, 5500.0),
    # already in host memory (page cache / RAM disk): memcpy-class bandwidth [U]
    "memory": StorageProfile(0.0, 1e10, 1e11, float("inf")),
}

CACHE_PROFILE = STORAGE_PROFILES["memory"]  # a hit in the local cache is served from RAM


class Storage:
    """One storage system shared by every loader worker of the job.

    A read of ``nbytes`` in ``nreq`` sequential requests by one worker (one connection) takes

        t = nreq * latency + nbytes / conn_bw            (the worker's own connection)

    but no sooner than the aggregate-bandwidth and request-rate servers allow (``RateLimiter``):
    ``delay = max(t, bw.reserve(nbytes), req.reserve(nreq))`` — a fluid approximation in which
    concurrent workers pipeline their requests (Little's law: in-flight = rate x latency).
    """

    def __init__(self, env: simpy.Environment, profile: StorageProfile):
        self.env, self.p = env, profile
        self.bw = RateLimiter(env, profile.aggregate_bw)
        self.req = RateLimiter(env, profile.max_requests_per_s)
        self.bytes_read = 0.0
        self.requests = 0.0

    def read_delay(self, nbytes: float, nreq: float) -> float:
        return self.read_sequence([(nbytes, nreq)])

    def read_sequence(self, reads) -> float:
        """The delay of one worker's reads ``[(nbytes, nreq), ...]`` done one after another (a batch that
        spans several shards): its connection's times add up, while the shared servers' bookings queue
        behind each other, so the last one ends when they all do. Summing each read's own ``read_delay``
        counted the backlog ahead once per shard: a batch of 256 samples from 1 MB shards (28 reads) on
        local NVMe loaded at 2,686 samples/s against 18,168 from individual files."""
        own = shared = 0.0
        for nbytes, nreq in reads:
            if nbytes <= 0 and nreq <= 0:
                continue
            self.bytes_read += nbytes
            self.requests += nreq
            own += nreq * self.p.latency_s + nbytes / self.p.conn_bw
            shared = max(shared, self.bw.reserve(nbytes), self.req.reserve(nreq))
        return max(own, shared)
