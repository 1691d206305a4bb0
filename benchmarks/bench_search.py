"""Speed of the analytic core and of `planner recommend` (rates, not timed assertions).

Prints configurations evaluated per second by the vectorised memory + step-time model on one
hardware option (the hot path of the search), for a dense model and an MoE one (expert parallelism,
expert-tensor parallelism 1 or TP), and the end-to-end recommend time for the shipped Llama-3-70B
example (its stack options open, fixed, and the stack itself searched: ``training.framework: auto``) and
the MoE examples (Mixtral-8x7B, DeepSeek-V3: expert-TP searched), the bare-model example over the whole catalog, the
what-if app's first search (its default preset), and that preset over a private catalog of 200 instance rows on 6 kinds of hardware (gen_private_catalog.py). Run: ``python benchmarks/bench_search.py``.
It runs under the allocator policy the CLI sets (planner.alloc: freed numpy temporaries stay in the heap, numpy's
huge-page advice off since perf50);
``BENCH_DEFAULT_MALLOC=1`` runs it under glibc's default policy instead.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # gen_private_catalog

from hardware_catalog import load_catalog  # noqa: E402
from planner.alloc import keep_freed_memory  # noqa: E402
from planner.layout import Candidates  # noqa: E402
from planner.hardware.options import option_from_instance  # noqa: E402
from planner.model.memory import memory_per_gpu  # noqa: E402
from planner.workloads.training import recommend  # noqa: E402
from planner.spec import load_job  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402
from planner import defaults as D  # noqa: E402
from planner.model.stacks import SEARCHED, holds, resolve  # noqa: E402
from planner.spec.schema import FrameworkSpec  # noqa: E402
from gen_private_catalog import write as write_private_catalog  # noqa: E402


def random_candidates(n: int, rng) -> Candidates:
    tp = rng.choice([1, 2, 4, 8], n)
    pp = rng.choice([1, 2, 4, 8, 16], n)
    nodes = rng.choice([16, 32, 64, 128, 256], n)
    dp = np.maximum(nodes * 8 // (tp * pp), 1)
    return Candidates(tp=tp, pp=pp, dp=dp, cp=1, ep=1, vpp=rng.choice([1, 2], n), zero=rng.integers(0, 4, n),
                      mb=rng.choice([1, 2, 4], n), rc=rng.integers(0, 3, n), sp=tp > 1,
                      schedule=0, gpus_per_node=8, nodes=nodes)


def random_moe_candidates(n: int, rng) -> Candidates:
    """MoE layouts: EP over 1..8, expert-TP either TP or 1 (the two the search tries)."""
    c = random_candidates(n, rng)
    c.ep = rng.choice([1, 2, 4, 8], n)
    c.etp = np.where(rng.random(n) < 0.5, c.tp, 1)
    return c


def rates(job, c: Candidates, hw) -> str:
    """Memory and step-time evaluations per second over candidates ``c`` (caches warmed first)."""
    memory_per_gpu(job.model, job.training, c.take(np.arange(100)))  # warm caches
    n = len(c)
    t0 = time.perf_counter()
    memory_per_gpu(job.model, job.training, c)
    t1 = time.perf_counter()
    step_time(job.model, job.training, c, hw)
    t2 = time.perf_counter()
    return (f"memory {n / (t1 - t0):>12,.0f}/s   step time {n / (t2 - t1):>12,.0f}/s   "
            f"both {n / (t2 - t0):>12,.0f} configs/s")


def blocked_rate(job, c: Candidates, hw, block: int) -> str:
    """Memory + step time over ``c`` evaluated ``block`` rows at a time: one call on a million rows spent most
    of its time allocating and first-touching its temporaries (tens of MB each), blocks of ~10^5 rows reuse
    them; the search evaluates its layouts chunk by chunk (planner.search.space.CHUNK_ROWS before the layout
    rules, far fewer after). Since speed37 the models run a call on more than ``layout.EVAL_BLOCK`` rows in such
    blocks themselves (``layout.in_blocks``), so this line and the one-call line differ by the result columns
    (one set here per block, one for the whole call there)."""
    t0 = time.perf_counter()
    for s in range(0, len(c), block):
        cc = c.take(np.arange(s, min(s + block, len(c))))
        memory_per_gpu(job.model, job.training, cc)
        step_time(job.model, job.training, cc, hw)
    return f"both {len(c) / (time.perf_counter() - t0):>12,.0f} configs/s"


def timed_recommend(job, cat, what: str, tail: str = "") -> str:
    """One ``recommend`` end to end: configurations, instance types, seconds, rate."""
    t0 = time.perf_counter()
    res = recommend(job, cat, simulate=False)
    t1 = time.perf_counter()
    return (f"recommend {what}: {res['evaluated']:,} configurations over "
            f"{len(set(res['kept']['hardware']))} instance types in {t1 - t0:.2f} s "
            f"({res['evaluated'] / (t1 - t0):,.0f} configs/s end to end{tail})")


def main():
    # the allocator policy the CLI runs the search under (planner.alloc); BENCH_DEFAULT_MALLOC=1 leaves glibc's
    print(f"allocator: {'glibc default' if os.environ.get('BENCH_DEFAULT_MALLOC') else 'freed memory kept in the heap (planner.alloc): ' + str(keep_freed_memory())}")
    cat = load_catalog()
    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    hw = option_from_instance(cat.instance("aws:p5.48xlarge"))
    rng = np.random.default_rng(0)
    for n in (10_000, 100_000, 1_000_000):
        c = random_candidates(n, rng)
        if n == 1_000_000:  # before the one-call run below, so that it starts from the same state
            print(f"{n:>9,} candidates in blocks of 131,072: {blocked_rate(job, c, hw, 1 << 17)}")
        print(f"{n:>9,} candidates: {rates(job, c, hw)}")
        t3 = time.perf_counter()  # the HF-code stack: its step memory walked per (mb, rc, tp, cp)
        memory_per_gpu(job.model, job.training, c, stack=resolve("hf-trainer"))
        print(f"{'':>9}  hf-trainer memory {n / (time.perf_counter() - t3):>12,.0f}/s")
    moe_job = load_job(ROOT / "examples" / "mixtral-8x7b.yaml")
    for n in (100_000, 1_000_000):
        print(f"{n:>9,} MoE (Mixtral-8x7B, EP, ETP) candidates: {rates(moe_job, random_moe_candidates(n, rng), hw)}")
    # the stack options recommend searches (planner.search.space.stack_variants) left open, as in
    # the example, then fixed to the stack's defaults: the difference is the cost of searching them (those the stack
    # holds: a searched option of another stack's, AutoModel's loss_fn, is refused on it)
    fixed = job.model_copy(update={"training": job.training.model_copy(update={"framework": FrameworkSpec(
        name=D.FRAMEWORK, **{k: getattr(resolve(None), k) for k in SEARCHED if holds(resolve(None), k)})})})
    # training.framework auto: every stack of defaults.AUTO_FRAMEWORKS searched on the same layouts
    auto = job.model_copy(update={"training": job.training.model_copy(update={"framework": FrameworkSpec(name="auto")})})
    for label, j in (("stack options open", job), ("stack options fixed", fixed), ("framework auto", auto)):
        print(timed_recommend(j, cat, f"examples/llama3-70b.yaml, {label}", ", kept rows and top-10 details included"))
    for name in ("mixtral-8x7b", "deepseek-v3-pretrain"):  # MoE: EP and expert-TP searched
        print(timed_recommend(load_job(ROOT / "examples" / f"{name}.yaml"), cat, f"examples/{name}.yaml (MoE)"))
    # a file holding only a model: every GPU of the catalog searched (test_cli's and test_rope's bare-model
    # recommends), most of them CUDA parts the memory model cannot tell apart (memory.gpu_memory_key, speed46)
    print(timed_recommend(load_job(ROOT / "examples" / "bare-model.yaml"), cat,
                          "examples/bare-model.yaml (whole catalog)"))
    # the what-if app's first search: its default preset with the inputs as the page starts them (planner.interactive),
    # what a changed job costs a rerun (Megatron's block recompute N searched: its probes)
    from planner import interactive as wi
    app_job = wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), None)
    print(timed_recommend(app_job, cat, f"the app's default preset ({wi.DEFAULT_PRESET})"))
    # a private catalog of 200 instance rows on 6 kinds of hardware (benchmarks/gen_private_catalog.py; QA 46's
    # "Left": 59 s): each kind searched once, its instances priced from it (planner.search.recommend.hardware_key)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "acme200.csv"
        write_private_catalog(200, path)
        private = load_catalog([path])
    acme = app_job.model_copy(update={"constraints": app_job.constraints.model_copy(update={"clouds": ["acme"],
                                                                                         "max_gpus": 128})})
    print(timed_recommend(acme, private, "a private catalog of 200 instance rows on 6 kinds of hardware "
                                         f"({wi.DEFAULT_PRESET}, max_gpus 128)"))


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
