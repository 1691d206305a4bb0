"""The calibration loop, closed on real training steps: calibrate this machine (or load its
profile), predict the step time and peak memory of small real transformers with the planner's
own models (``planner.model.step_time.step_time``, ``planner.model.memory.memory_per_gpu``) on a
``HardwareOption`` built from the profile, run those steps with torch, and print the errors.

    python -m calibration.loop [--quick] [--profile p.json] [--device cpu|cuda] [--json rows.json [--force]]

``--json`` writes the rows by the output rules of ``planner.outputs`` (a new file, or an existing one
replaced only with ``--force``; written to a temporary name and renamed; a bad path is one line
``error: --json: ...`` and exit 2, before any measuring).

What a row runs (one device, tp = pp = dp = 1): the reference models of
``calibration/reference_models.py`` (GPT-2 style: learned positions, LayerNorm, biases, GELU, tied
embeddings; Llama style: RoPE, RMSNorm, GQA, SwiGLU), sdpa attention, no dropout, and one
optimizer step:

* fp32: fp32 weights, gradients and AdamW (``TrainingSpec(precision='fp32', weights='pure')``);
* bf16: Megatron-style mixed precision, bf16 weights and gradients with an fp32 master copy and
  fp32 Adam moments (``precision='bf16', weights='megatron', grad_dtype='same'`` = 16 B/param).

Gradient buffers persist across steps (``zero_grad(set_to_none=False)``), as Megatron's and DDP's
buffers do and as the memory model assumes.

Measured time: warm-up steps, then the median of several timed steps (CUDA: synchronised).
Measured memory: peak bytes allocated by tensors during one step. CUDA:
``torch.cuda.max_memory_allocated``. CPU: the bytes live before the step (parameters, gradients,
optimizer state, inputs: summed by storage) plus the running peak of the allocations the
profiler records during the step (``torch.profiler`` with ``profile_memory``).
Predicted memory is ``memory_per_gpu``'s weights + grads + optimizer + activations + logits: its
``other`` term (CUDA context, NCCL buffers, allocator fragmentation) is memory the allocator
reserves, not bytes allocated to tensors, so neither measurement sees it.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from planner.hardware.profile import Profile, load_profile, machine_option
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.spec import ModelSpec, TrainingSpec
from planner.model.step_time import step_time

GOAL_TIME, GOAL_MEMORY = 0.15, 0.10


def loop_models(seq: int) -> dict[str, ModelSpec]:
    """Small GPT-2-style and Llama-style models (a few million parameters)."""
    return {
        "gpt2-mini": ModelSpec(name="gpt2-mini", family="decoder", layers=2, hidden=256, heads=4, vocab=4096,
                               mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                               linear_bias=True, position="learned", max_positions=seq),
        "llama-mini": ModelSpec(name="llama-mini", family="decoder", layers=2, hidden=256, heads=4, kv_heads=2,
                                vocab=4096, mlp="swiglu", norm="rmsnorm", position="rope"),
    }


def loop_plan(quick: bool, device: str) -> dict:
    if device == "cuda":
        return dict(seq=1024, batches={"fp32": (1, 4), "bf16": (1, 4, 8)}, warmup=3, steps=10,
                    scale=dict(layers=4, hidden=1024, heads=16, kv_heads=4, vocab=32000))
    if quick:
        return dict(seq=128, batches={"fp32": (1, 4), "bf16": (2,)}, warmup=1, steps=3, scale=None)
    return dict(seq=256, batches={"fp32": (1, 2, 4, 8), "bf16": (1, 2)}, warmup=2, steps=5, scale=None)


@dataclass
class Row:
    model: str
    dtype: str
    batch: int
    seq: int
    params: int
    pred_s: float
    meas_s: float
    pred_mem: float
    meas_mem: float

    @property
    def err_s(self) -> float:
        return self.pred_s / self.meas_s - 1

    @property
    def err_mem(self) -> float:
        return self.pred_mem / self.meas_mem - 1


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------
def training_spec(seq: int, batch: int, dtype: str) -> TrainingSpec:
    weights = "pure" if dtype == "fp32" else "megatron"
    return TrainingSpec(seq_len=seq, global_batch=batch, micro_batch=batch, precision=dtype, weights=weights,
                        grad_dtype="same", optimizer="adamw", recompute="none", flash_attention=True,
                        dropout=False, steps=1)


def single_device(batch: int) -> Candidates:
    one = np.array([1])
    return Candidates(tp=one, pp=one, dp=one, cp=one, ep=one, vpp=one, zero=np.array([0]), mb=np.array([batch]),
                      rc=np.array([0]), sp=np.array([False]), schedule=np.array([0]),
                      gpus_per_node=one, nodes=one)


def predict(profile: Profile, m: ModelSpec, t: TrainingSpec) -> tuple[float, float, dict]:
    hw = machine_option(profile, t.precision)
    c = single_device(t.micro_batch)
    st = step_time(m, t, c, hw)
    mem = memory_per_gpu(m, t, c)
    allocated = sum(float(mem[k][0]) for k in ("weights", "grads", "optimizer", "activations", "logits"))
    return float(st["step_time_s"][0]), allocated, {k: float(v[0]) for k, v in st.items() if np.ndim(v)}


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------
class Trainer:
    """One model + optimizer in the precision convention of the row (see module docstring)."""

    def __init__(self, spec: ModelSpec, dtype: str, device: str):
        from calibration.reference_models import build_model

        tdt = torch.float32 if dtype == "fp32" else torch.bfloat16
        self.model = build_model(spec, attn_impl="sdpa", dtype=tdt, device=device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        for p in self.params:
            p.grad = torch.zeros_like(p)
        if dtype == "fp32":
            self.master = None
            self.opt = torch.optim.AdamW(self.params, lr=1e-4)
        else:
            self.master = [p.detach().float() for p in self.params]
            self.opt = torch.optim.AdamW(self.master, lr=1e-4)

    def step(self, idx, tgt):
        loss = self.model(idx, tgt)
        loss.backward()
        if self.master is None:
            self.opt.step()
        else:
            for mp, p in zip(self.master, self.params):
                mp.grad = p.grad.float()
            self.opt.step()
            with torch.no_grad():
                for mp, p in zip(self.master, self.params):
                    p.copy_(mp)
                    mp.grad = None
        self.opt.zero_grad(set_to_none=False) if self.master is None else [p.grad.zero_() for p in self.params]

    def state_bytes(self, extra=()) -> int:
        """Bytes of every tensor that lives across steps, one count per storage."""
        ts = list(self.model.parameters()) + list(self.model.buffers()) + [p.grad for p in self.params]
        ts += self.master or []
        for st in self.opt.state.values():
            ts += [v for v in st.values() if torch.is_tensor(v)]
        ts += list(self.model._rope.values() and [x for pair in self.model._rope.values() for x in pair])
        ts += list(self.model._mask.values()) + list(extra)
        seen = {}
        for t in ts:
            s = t.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
        return sum(seen.values())


def cpu_alloc_events(fn) -> list:
    """The CPU allocations and frees the torch profiler records while ``fn()`` runs: its ``[memory]`` events on
    the CPU (``Device Type`` 0) in allocation order, each ``args["Bytes"]`` signed (negative: a free)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "trace.json")
        prof.export_chrome_trace(f)
        with open(f) as fh:
            events = json.load(fh)["traceEvents"]
    return sorted((e for e in events if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type") == 0),
                  key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0)))


def cpu_alloc_peak(fn) -> int:
    """Running peak of the CPU allocations while ``fn()`` runs (``cpu_alloc_events``), above what was allocated
    before it started."""
    running = peak = 0
    for e in cpu_alloc_events(fn):
        running += e["args"]["Bytes"]
        peak = max(peak, running)
    return peak


def _peak_cpu(trainer: Trainer, idx, tgt) -> int:
    return trainer.state_bytes((idx, tgt)) + cpu_alloc_peak(lambda: trainer.step(idx, tgt))


def measure(spec: ModelSpec, dtype: str, batch: int, seq: int, device: str, warmup: int, steps: int):
    """(median step seconds, peak bytes allocated) of real training steps."""
    trainer = Trainer(spec, dtype, device)
    g = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.randint(0, spec.vocab, (batch, seq), generator=g).to(device)
    tgt = torch.randint(0, spec.vocab, (batch, seq), generator=g).to(device)
    for _ in range(warmup):
        trainer.step(idx, tgt)
    times = []
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.step(idx, tgt)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        trainer.step(idx, tgt)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _peak_cpu(trainer, idx, tgt)
    params = sum(p.numel() for p in trainer.params)
    del trainer
    return statistics.median(times), float(peak), params


# --------------------------------------------------------------------------------------------
def bf16_usable(device: str) -> bool:
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return True  # runs everywhere on CPU (emulated without AVX512-BF16/AMX: slow but correct)


def run_loop(profile: Profile, quick: bool = True, device: str | None = None, progress: bool = True) -> list[Row]:
    device = device or profile.fingerprint.device
    p = loop_plan(quick, device)
    models = loop_models(p["seq"])
    if p["scale"]:
        models = {k: v.model_copy(update={**p["scale"], "max_positions": p["seq"] if v.position == "learned" else None})
                  for k, v in models.items()}
    jobs = [(name, dt, b) for name in models for dt, bs in p["batches"].items()
            if dt != "bf16" or bf16_usable(device) for b in bs]
    rows = []
    for name, dt, b in jobs:
        spec = models[name]
        t = training_spec(p["seq"], b, dt)
        pred_s, pred_mem, _ = predict(profile, spec, t)
        meas_s, meas_mem, params = measure(spec, dt, b, p["seq"], device, p["warmup"], p["steps"])
        rows.append(Row(name, dt, b, p["seq"], params, pred_s, meas_s, pred_mem, meas_mem))
        if progress:
            print(f"  {name:<11} {dt:<5} b={b:<3} {meas_s * 1e3:8.1f} ms", file=sys.stderr)
    return rows


def error_table(rows: list[Row], profile: Profile) -> str:
    fp = profile.fingerprint
    cpu = (fp.model_extra or {}).get("cpu_model", "")
    head = (f"device: {fp.device_name} ({fp.device}, {fp.cpu_count} CPUs{', ' + cpu if cpu and fp.device == 'cuda' else ''}),"
            f" torch {fp.torch_version}, {torch.get_num_threads()} threads\n"
            "errors: predicted / measured - 1")
    lines = [head,
             f"{'model':<11} {'dtype':<5} {'batch':>5} {'seq':>5} {'params':>7} | {'pred ms':>8} {'meas ms':>8} {'err':>7} |"
             f" {'pred MiB':>8} {'meas MiB':>8} {'err':>7}",
             "-" * 100]
    for r in rows:
        lines.append(f"{r.model:<11} {r.dtype:<5} {r.batch:>5} {r.seq:>5} {r.params / 1e6:6.2f}M |"
                     f" {r.pred_s * 1e3:8.1f} {r.meas_s * 1e3:8.1f} {r.err_s * 100:+6.1f}% |"
                     f" {r.pred_mem / 2**20:8.1f} {r.meas_mem / 2**20:8.1f} {r.err_mem * 100:+6.1f}%")
    if rows:
        et = [abs(r.err_s) for r in rows]
        em = [abs(r.err_mem) for r in rows]
        lines.append("-" * 100)
        lines.append(f"step time: mean |err| {statistics.mean(et) * 100:.1f}%, max {max(et) * 100:.1f}%, "
                     f"{sum(e <= GOAL_TIME for e in et)}/{len(et)} within {GOAL_TIME:.0%}")
        lines.append(f"memory:    mean |err| {statistics.mean(em) * 100:.1f}%, max {max(em) * 100:.1f}%, "
                     f"{sum(e <= GOAL_MEMORY for e in em)}/{len(em)} within {GOAL_MEMORY:.0%}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from calibration.bench import DEVICES, resolve_device, run_calibration

    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(prog="python -m calibration.loop")
    ap.add_argument("--quick", action="store_true", help="CI size (< 60 s on a 2-core CPU)")
    ap.add_argument("--profile", default=None, help="use this profile instead of calibrating now")
    ap.add_argument("--device", default="auto", type=DEVICES.canonical, choices=DEVICES.names)
    ap.add_argument("--json", default=None, help="also write the rows here (a new file)")
    ap.add_argument("--force", action="store_true", help="replace --json if it exists (planner.outputs)")
    a = ap.parse_args(argv)
    from planner.errors import InputError
    from planner.outputs import LOOP_ROWS, output_target, write_text
    from planner.present.safe import clean_line

    try:
        if a.json is not None:  # before minutes of calibrating and measuring, not after
            output_target(a.json, "--json", [a.profile], a.force, kind=LOOP_ROWS)
        device = resolve_device(a.device)
        t0 = time.perf_counter()
        if a.profile:
            prof = load_profile(a.profile)
            if prof.fingerprint.device != device:
                raise InputError("profile.fingerprint.device", f"profile was measured on {prof.fingerprint.device}, loop runs on {device}")
        else:
            prof = run_calibration(device=device, quick=True, out_path=None, progress=sys.stderr.isatty())
        t_cal = time.perf_counter() - t0
        rows = run_loop(prof, quick=a.quick, device=device)
        print(error_table(rows, prof))
        print(f"(calibration {t_cal:.1f} s, loop {time.perf_counter() - t0 - t_cal:.1f} s)")
        if a.json is not None:
            write_text(a.json, json.dumps([asdict(r) | {"err_s": r.err_s, "err_mem": r.err_mem} for r in rows],
                                          indent=1), "--json", a.force)
    except InputError as e:
        print(f"error: {clean_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
