"""Collective benchmarks over ``torch.distributed``: all-reduce, all-gather, reduce-scatter,
all-to-all and send/recv over message sizes, NCCL on GPUs and gloo on CPU.

Entry points:

* ``torchrun --nproc_per_node=N -m calibration.collectives [--sizes ...] [-o rows.json [--force]]`` — any
  topology torchrun can launch, including several nodes (``--nnodes``); rank 0 writes the rows by the
  output rules of ``planner.outputs`` (a new file, or an existing one replaced only with ``--force``;
  a temporary file renamed into place); a bad ``-o`` or ``--sizes`` is one line ``error: <field>: ...``
  and exit 2 on every rank, before the process group starts;
* ``run_local(nproc, device, sizes)`` — what ``run_calibration`` uses: spawns ``nproc`` local
  processes (``torch.multiprocessing``) and returns the rows.

``bytes`` in a row is the full buffer N of ``planner.model.comm`` (all-reduce: the reduced tensor;
all-gather: the gathered output; reduce-scatter: the input; all-to-all: what one rank sends;
send/recv: the message). ``busbw`` follows nccl-tests (factor (n-1)/n, 2(n-1)/n for all-reduce).
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist

warnings.filterwarnings("ignore", message=".*all_gather_into_tensor.*deprecated")

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
BUS_FACTOR = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n,
              "reduce_scatter": lambda n: (n - 1) / n, "all_to_all": lambda n: (n - 1) / n,
              "send_recv": lambda n: 1.0}


def _op(kind: str, nbytes: int, device: str):
    """A closure running one collective on a buffer of ``nbytes`` (full-buffer convention)."""
    n, rank = dist.get_world_size(), dist.get_rank()
    el = max(n, nbytes // 4 // n * n)  # float32 elements, divisible by n
    buf = torch.ones(el, device=device)
    if kind == "all_reduce":
        return lambda: dist.all_reduce(buf)
    if kind == "all_gather":
        part = torch.ones(el // n, device=device)
        return lambda: dist.all_gather_into_tensor(buf, part)
    if kind == "reduce_scatter":
        out = torch.empty(el // n, device=device)
        if dist.get_backend() == "gloo":  # gloo has no reduce_scatter_tensor: reduce, keep a shard
            return lambda: (dist.all_reduce(buf), out.copy_(buf[rank * (el // n):(rank + 1) * (el // n)]))
        return lambda: dist.reduce_scatter_tensor(out, buf)
    if kind == "all_to_all":
        out = torch.empty_like(buf)
        return lambda: dist.all_to_all_single(out, buf)
    if kind == "send_recv":  # ranks 0 -> 1 (the others idle), one message
        def f():
            if rank == 0:
                dist.send(buf, 1)
            elif rank == 1:
                dist.recv(buf, 0)
        return f
    raise ValueError(kind)


def _time(fn, device: str, min_s: float) -> float:
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
        dist.barrier()
    fn(); fn(); sync()
    t0 = time.perf_counter(); fn(); sync()
    one = time.perf_counter() - t0
    # every rank must run the same count: rank 0 decides
    reps = torch.tensor([max(1, min(200, int(min_s / max(one, 1e-6))))], dtype=torch.int64)
    if device == "cuda":
        reps = reps.cuda()
    dist.broadcast(reps, 0)
    out = []
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        for _ in range(int(reps.item())):
            fn()
        sync()
        out.append((time.perf_counter() - t0) / int(reps.item()))
    return statistics.median(out)


def measure(sizes, device: str, min_s: float = 0.02, ops=OPS) -> list[dict]:
    """Rows for every op and size, on the already initialised process group."""
    n = dist.get_world_size()
    rows = []
    for kind in ops:
        if kind == "all_to_all" and dist.get_backend() == "gloo" and device == "cuda":
            continue
        for nbytes in sizes:
            try:
                t = _time(_op(kind, nbytes, device), device, min_s)
            except RuntimeError as e:  # backend without this collective
                rows.append(dict(op=kind, bytes=nbytes, error=str(e)[:200]))
                break
            rows.append(dict(op=kind, bytes=nbytes, seconds=t, busbw=BUS_FACTOR[kind](n) * nbytes / t))
    return [r for r in rows if "seconds" in r]


def _init(device: str):
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend, timeout=timedelta(seconds=120))
    return backend


def _worker(rank: int, world: int, port: int, device: str, sizes, out_path: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    backend = _init(device)
    try:
        rows = measure(sizes, device)
        if rank == 0:
            with open(out_path, "w") as fh:
                json.dump(dict(backend=backend, world_size=world, nodes=1, device=device, rows=rows), fh)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_local(nproc: int, device: str, sizes) -> dict:
    """Spawn ``nproc`` local ranks, measure, and return rank 0's result."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "rows.json")
        mp.start_processes(_worker, args=(nproc, _free_port(), device, list(sizes), out), nprocs=nproc,
                           join=True, start_method="spawn" if device == "cuda" else "fork")
        with open(out) as fh:
            return json.load(fh)


def main(argv=None) -> int:
    """torchrun entry point: ranks come from the environment torchrun sets."""
    from calibration.bench import DEVICES

    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(prog="python -m calibration.collectives")
    ap.add_argument("--device", default="auto", type=DEVICES.canonical, choices=DEVICES.names)
    ap.add_argument("--sizes", default="", help="comma-separated byte counts (default 4 KiB .. 256 MiB)")
    ap.add_argument("-o", "--out", default="collectives.json", help="where rank 0 writes the rows (a new file)")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists (planner.outputs)")
    a = ap.parse_args(argv)
    from planner.errors import InputError
    from planner.outputs import COLLECTIVES, output_target, write_text
    from planner.present.safe import clean_line

    try:  # every rank checks (the same answer on each): none starts the process group to wait for a rank that quit
        output_target(a.out, "--out", force=a.force, kind=COLLECTIVES)
        sizes = _sizes(a.sizes)
    except InputError as e:
        print(f"error: {clean_line(e)}", file=sys.stderr)
        return 2
    device = "cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device)
    backend = _init(device)
    world = dist.get_world_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    rows = measure(sizes, device)
    code = 0
    if dist.get_rank() == 0:
        for r in rows:
            print(f"{r['op']:>15} {r['bytes']:>11} B  {r['seconds'] * 1e6:10.1f} us  busbw {r['busbw'] / 1e9:8.2f} GB/s")
        try:
            write_text(a.out, json.dumps(dict(backend=backend, world_size=world, nodes=max(1, world // local),
                                              device=device, rows=rows), indent=1), "--out", a.force)
        except InputError as e:  # the path changed while measuring (made by someone else, its folder removed, disk full)
            print(f"error: {clean_line(e)}", file=sys.stderr)
            code = 2
    dist.destroy_process_group()
    return code


def _sizes(text: str) -> list[int]:
    """``--sizes``: comma-separated positive byte counts; empty = 4 KiB .. 256 MiB in steps of 4x."""
    from planner.errors import InputError, clip

    out = []
    for x in text.split(","):
        x = x.strip()
        if not x:
            continue
        try:
            n = int(x)
        except ValueError:
            raise InputError("--sizes", f"not a byte count: {clip(x)}") from None
        if not 1 <= n <= 1 << 40:
            raise InputError("--sizes", f"{n} is outside 1 .. 2^40 bytes")
        out.append(n)
    return out or [1 << p for p in range(12, 29, 2)]


if __name__ == "__main__":
    sys.exit(main())
