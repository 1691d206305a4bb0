"""Published per-component MoE measurements (benchmarks/data/parts/moe_profiles.csv) against the
planner's own price for the same shape: which part of an MoE layer the step-time model under-prices.

Row kinds compared:
* ``moe_layer_time``: one Megatron-Core MoE layer, forward + backward, measured alone. The planner's
  MoE block for the row's shape: ``moe.moe_layer`` as ``layer_ops.layer_terms`` calls it (captured
  from that call, so the GEMM timer, links and stack are the step-time model's), split into the expert
  and router GEMMs, the EP all-to-alls (dispatch + combine, forward and backward), the memory-bound
  traffic (token permutation, the all-to-all dispatcher's chunk sort, the routed SwiGLU; the backward
  at ``layer_ops.BWD_MEMBOUND_FACTOR``), the dispatcher's sync, and the host (op count x launch), each
  pass costing max(host, GPU) as in the step model. Two harnesses: marin's mirror of Megatron-LM's moe_perf
  (issues #4311 / #3666: Qwen3 shapes, one axis at a time, three dispatchers, bf16) and Megatron-LM's own moe_perf
  regression baselines (baseline.json: Mixtral / DeepSeek proxies, bf16 and fp8 blockwise, forward printed apart,
  ``fwd_ms``). The rows whose layer is not a Qwen3 MoE name the preset whose router / shared expert they take
  (``proxy``: ``layer_preset``). Printed per harness and dispatcher: the median ratio and, over a sweep, the
  least-squares line measured = slope x the planner's GPU work + intercept (``layer_fit``): a term in the right
  units gives slope ~1, intercept ~0.
* ``ep_comm_bandwidth``: EP dispatch / combine bandwidth. The planner's rate under the row's own
  definition: NVLink "algorithm"/"logical" bandwidth counts every token once per rank it reaches, the
  rank itself included (DeepEP tests/test_hybrid_ep.py), so the planner's rate is those bytes over its
  ``comm.a2a_time`` of the off-GPU share (``moe.dispatch_bytes`` with per-node deduplication); a
  "bottleneck" NVLink rate is the off-GPU bytes over the same time; RDMA / IB rates are compared with
  the planner's per-GPU NIC rate (``HardwareOption.inter_bw_per_gpu``, 400 Gb/s per GPU).
* ``permute_kernel``: a token-permutation kernel alone; the planner moves its bytes at the streaming HBM
  fraction (``Efficiency.memory_time``: ``hbm_bw x eff.hbm``).
* ``step_ablation`` rows naming a ``planner_row`` (an mbridge_all row of the same recipe): a dispatcher A/B; the
  planner's step for that row with each dispatcher (``validate.MBRIDGE_MOE_RECIPES`` patched, the recipe's other
  settings kept), as a ratio of the two steps against the measured throughput ratio.
* ``step_time`` rows: a whole step of a later, tuned run of a recipe the tables score; the planner's step for
  ``planner_row`` (a published_runs_2.csv / mbridge_all row of that recipe: the same GPUs, batch and layout) at the
  row's own precision (``recipe_variant_step``). ``ratio`` = measured / planner (above 1: the planner too fast).
* other ``step_ablation`` / ``share`` / ``kernel_count`` rows: printed for the record (a step-level before/after of
  one optimisation: the share of the step it removed), not priced.

``ratio`` = measured / planner for rates (below 1: the planner assumes it faster than measured) and
measured time / planner time for ``moe_layer_time`` (above 1: the planner predicts it too fast).

Run: ``PYTHONPATH=$PWD python benchmarks/validate_moe_profile.py``
"""
from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.parts_data import load  # noqa: E402
from benchmarks.validate import hw_option  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.model import moe as moe_mech  # noqa: E402
from planner.model import stacks  # noqa: E402
from planner.model import layer_ops, step_time as st  # noqa: E402
from planner.model.comm import a2a_time  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402

#: GPUs per NVLink domain of each system a row names (GB200 NVL72: the rack)
NVL_DOMAIN = {"GB200-B200": 72}
NIC_GBPS_PER_GPU = 400  # CX7 / the sources' 400 Gb/s per GPU
#: bytes per element of a dispatched token: BF16, and FP8 with one fp32 scale per 128 (test_hybrid_ep.py)
EL_BYTES = {"bf16": 2.0, "fp8": 1.0 + 4 / 128}


def _f(x) -> float:
    return float(np.asarray(x, dtype=np.float64).ravel()[0])


def _hw(cat, gpu: str, ranks: int):
    g = NVL_DOMAIN.get(gpu, 8)
    return hw_option(cat, gpu, g, NIC_GBPS_PER_GPU * g)


def layer_preset(r) -> str:
    """The planner preset whose other MoE fields (router score function and groups, shared expert) a
    ``moe_layer_time`` row's layer takes: the row's ``proxy`` (Megatron-LM's moe_perf proxies: DeepSeek-V3's
    router and shared expert, Mixtral's plain top-2), else the Qwen3 MoE of its width (the marin rows: Qwen3's
    softmax top-k, no shared expert, at every width the sweep sets)."""
    return r.get("proxy") or ("qwen3-235b-a22b" if r["hidden"] == 4096 else "qwen3-30b-a3b")


def moe_block(cat, r) -> dict:
    """The planner's MoE block (forward + backward of one MoE layer on one rank) for a ``moe_layer_time`` row,
    by component (seconds); ``fwd`` is the forward pass alone (the rows that print it: ``fwd_ms``)."""
    kw = dict(PRESETS[layer_preset(r)])
    kw.update(hidden=r["hidden"], ffn_hidden=r["ffn_hidden"], moe=dict(kw["moe"], experts=r["experts"], top_k=r["top_k"]))
    m = ModelSpec(**kw)
    t = TrainingSpec(seq_len=r["tokens_per_rank"], global_batch=r["ep"], micro_batch=1, precision=r["precision"])
    hw = _hw(cat, r["gpu"], r["ep"])
    recipe = {"fp8_recipe": r["fp8_recipe"]} if r.get("fp8_recipe") else {}
    fw = stacks.resolve("megatron-core", moe_dispatcher=r["dispatcher"], **recipe)
    seen = {}
    real = moe_mech.moe_layer

    def spy(*a, **k):
        seen["ml"] = real(*a, **k)
        return seen["ml"]

    with mock.patch.object(moe_mech, "moe_layer", spy):
        layer_ops.layer_terms(m, t, hw, fw, 1, 1, r["ep"], 1, False, 0, 0.0, True, etp=1)
    ml, eff, hbm = seen["ml"], hw.eff, hw.gpu.hbm_bw
    T = float(r["tokens_per_rank"])
    # the routed SwiGLU: ``layer_ops.elementwise`` counts one copy per token in the layer's elementwise bytes and the other
    # top_k - 1 in ``membound_bytes``; read 2f, write f
    act = T * 3 * st.ACT_BYTES[r["precision"]] * m.ffn_hidden
    mem_f = _f(eff.memory_time(ml.membound_bytes + act, hbm))
    perm_f = _f(eff.memory_time(moe_mech.permute_bytes(T, m.moe.top_k, m.hidden, st.ACT_BYTES[r["precision"]]), hbm))
    host_f = _f(ml.host_ops) * eff.launch_s
    gemm_f, gemm_b, a2a, extra = _f(ml.fwd_mlp), _f(ml.bwd_mlp), _f(ml.a2a), _f(ml.a2a_extra)
    gpu_f = gemm_f + 2 * a2a + extra + mem_f + _f(ml.sync_s)  # HybridEP's extras (moe.dispatch_extra_time) with the forward
    gpu_b = gemm_b + 2 * a2a + layer_ops.BWD_MEMBOUND_FACTOR * mem_f
    host_b = layer_ops.BWD_HOST_FACTOR * host_f
    return dict(gemm=gemm_f + gemm_b, a2a=4 * a2a + extra, membound=(1 + layer_ops.BWD_MEMBOUND_FACTOR) * mem_f,
                permute=(1 + layer_ops.BWD_MEMBOUND_FACTOR) * perm_f, sync=_f(ml.sync_s), host=host_f + host_b,
                fwd=max(gpu_f, host_f), total=max(gpu_f, host_f) + max(gpu_b, host_b))


def ep_rate(cat, r) -> float:
    """The planner's EP dispatch/combine rate (GB/s) under the row's definition (see the module docstring)."""
    hw = _hw(cat, r["gpu"], r["ep"])
    metric, ep = r["metric"], float(r["ep"])
    if "rdma" in metric or "_ib_" in metric:
        return hw.inter_bw_per_gpu / 1e9
    g = min(ep, float(NVL_DOMAIN.get(r["gpu"], 8)))
    experts = r["experts"] or 8 * int(ep)
    nvl, _ = moe_mech.dispatch_bytes(r["tokens_per_rank"], r["top_k"], r["hidden"], EL_BYTES[r["precision"]], ep, g,
                                     True, experts)
    t = a2a_time(nvl, 0.0, ep, g, hw.intra_bw_eff, hw.inter_bw_per_gpu, hw.eff.intra_alpha_s, hw.eff.inter_alpha_s)
    moved = nvl if metric.startswith("bottleneck") else nvl * g / max(g - 1.0, 1.0)  # self included
    return _f(moved / t) / 1e9


def permute_rate(cat, r) -> float:
    gpu = cat.gpu(r["gpu"])
    hw = hw_option(cat, r["gpu"], 8, NIC_GBPS_PER_GPU * 8)
    return gpu.hbm_bw * hw.eff.hbm / 1e12


def dispatcher_ab(cat, r) -> float:
    """The planner's step time with the row's dispatcher over its step with the baseline's (hybridep <-> alltoall)
    for the mbridge_all row ``r["planner_row"]``: compare with baseline_value / value (throughputs)."""
    from benchmarks import validate as V
    import pandas as pd
    runs = pd.read_csv(Path(__file__).resolve().parent / "data" / "mbridge_all_runs.csv")
    row = next(x for x in runs.itertuples() if x.id == r["planner_row"])
    key = next(k for k in V.MBRIDGE_MOE_RECIPES if k[0] in str(row.model).lower() and k[1] == V.pr2_gpu_kind(row)
               and (len(k) == 2 or k[2] == V.pr2_prec_kind(row)))
    other = "hybridep" if r["dispatcher"] == "alltoall" else "alltoall"
    steps = {}
    for disp in (r["dispatcher"], other):
        with mock.patch.dict(V.MBRIDGE_MOE_RECIPES, {key: dict(V.MBRIDGE_MOE_RECIPES[key], moe_dispatcher=disp)}):
            steps[disp] = V.mbridge_all(cat, ids=[r["planner_row"]]).set_index("id").predicted_s[r["planner_row"]]
    return steps[r["dispatcher"]] / steps[other]


#: the precision column a ``step_time`` row's precision maps to in published_runs_2.csv's vocabulary
#: (``validate.pr2_low_precision`` reads "fp8" / "mxfp8" / "nvfp4" in it; anything else is a 16-bit run)
PR2_PRECISION = {"bf16": "bf16", "fp8": "fp8 current-scaling (TE) + bf16", "mxfp8": "mxfp8 + bf16"}


def recipe_variant_step(cat, r) -> float:
    """The planner's step (s) for ``r["planner_row"]`` (published_runs_2.csv, else mbridge_all_runs.csv) with its
    precision set to ``r["precision"]``: the same recipe mapping (``validate.pr2_step``), so a later tuned run of
    a scored recipe is priced as the scored rows are."""
    from benchmarks import validate as V
    import pandas as pd
    data = Path(__file__).resolve().parent / "data"
    runs = pd.concat([pd.read_csv(data / "published_runs_2.csv"), pd.read_csv(data / "mbridge_all_runs.csv")])
    row = runs[runs["id"] == r["planner_row"]].iloc[0].copy()
    row["precision"] = PR2_PRECISION[r["precision"]]
    _, st = V.pr2_step(cat, next(pd.DataFrame([row]).itertuples()))
    return float(st["step_time_s"][0])


def compare(cat=None) -> list[dict]:
    """One dict per priced row: id, kind, measured, planner, ratio (and the block's components for layer rows)."""
    cat = cat or load_catalog()
    out = []
    for r in load("moe_profiles"):
        if r["kind"] == "moe_layer_time":
            b = moe_block(cat, r)
            out.append(dict(id=r["id"], kind=r["kind"], measured=r["value"], planner=1e3 * b["total"],
                            ratio=r["value"] / (1e3 * b["total"]), parts={k: 1e3 * v for k, v in b.items()},
                            measured_fwd=r["fwd_ms"], dispatcher=r["dispatcher"]))
        elif r["kind"] == "ep_comm_bandwidth" and r["ep"] and r["hidden"] and r["top_k"]:
            p = ep_rate(cat, r)
            out.append(dict(id=r["id"], kind=r["kind"], measured=r["value"], planner=p, ratio=r["value"] / p,
                            gpu=r["gpu"], measurement=r["measurement"], component=r["component"],
                            precision=r["precision"], link="nic" if ("rdma" in r["metric"] or "_ib_" in r["metric"]) else "nvl",
                            stack=r["stack"]))
        elif r["kind"] == "step_ablation" and r.get("planner_row"):
            p = dispatcher_ab(cat, r)
            meas = r["baseline_value"] / r["value"]  # step with the row's dispatcher / step with the other
            out.append(dict(id=r["id"], kind="dispatcher_ab", measured=meas, planner=p, ratio=meas / p))
        elif r["kind"] == "step_time":
            p = recipe_variant_step(cat, r)
            out.append(dict(id=r["id"], kind=r["kind"], measured=r["value"] / 1e3, planner=p, ratio=r["value"] / 1e3 / p))
        elif r["kind"] == "permute_kernel":
            p = permute_rate(cat, r)
            out.append(dict(id=r["id"], kind=r["kind"], measured=r["value"], planner=p, ratio=r["value"] / p,
                            tokens=r["tokens_per_rank"], stack=r["stack"]))
    return out


def gpu_ms(x) -> float:
    """The planner's GPU work in a layer row's block (ms): its parts less the host."""
    p = x["parts"]
    return p["gemm"] + p["a2a"] + p["membound"] + p["sync"]


def layer_fit(xs) -> tuple[float, float, float]:
    """Least-squares measured = slope x GPU work + intercept (ms) over layer rows, and the correlation: a layer
    priced in the right units has slope ~1 and intercept ~0; a floor the GPU work does not move shows as a large
    intercept and a small slope."""
    g = np.array([gpu_ms(x) for x in xs])
    y = np.array([x["measured"] for x in xs])
    slope, icpt = np.linalg.lstsq(np.vstack([g, np.ones_like(g)]).T, y, rcond=None)[0]
    return float(slope), float(icpt), float(np.corrcoef(g, y)[0, 1])


#: the moe_layer_time rows by harness: marin's mirror of moe_perf (bf16 dummy GEMM) and Megatron-LM's own baselines
LAYER_SOURCES = {"marin (issues #3666 / #4311)": ("marin",), "Megatron-LM moe_perf baseline.json": ("mlm_moe_perf",)}


def print_layers(res) -> None:
    layers = [x for x in res if x["kind"] == "moe_layer_time"]
    print("MoE layer forward + backward (ms): measured vs the planner's block, and its parts")
    for x in layers:
        p = x["parts"]
        fwd = f"  fwd {x['measured_fwd']:5.2f}/{p['fwd']:5.2f}" if x["measured_fwd"] else ""
        print(f"  {x['id']:<52} meas {x['measured']:6.2f}  pred {x['planner']:5.2f}  x{x['ratio']:.2f}{fwd}  | gemm "
              f"{p['gemm']:.2f} a2a {p['a2a']:.2f} membound {p['membound']:.2f} (permute {p['permute']:.2f}) "
              f"host {p['host']:.2f}")
    print("\nBy harness and dispatcher: measured / planner (median, range); over a sweep, measured = slope x planner GPU "
          "work + intercept")
    for name, prefixes in LAYER_SOURCES.items():
        for disp in ("alltoall", "deepep", "hybridep"):
            xs = [x for x in layers if x["id"].startswith(prefixes) and x["dispatcher"] == disp]
            rr = np.array([x["ratio"] for x in xs])
            # a fit only over a sweep (the marin rows: one axis at a time); moe_perf has two shapes x two precisions
            fit = "slope {:5.2f} intercept {:6.2f} ms  corr {:5.2f}".format(*layer_fit(xs)) if len(xs) >= 6 else ""
            print(f"  {name:<36} {disp:<9} n={len(xs):2d}  x{np.median(rr):.2f} ({rr.min():.2f}-{rr.max():.2f})  {fit}")


def main() -> int:
    cat = load_catalog()
    res = compare(cat)
    print_layers(res)
    print("\nEP dispatch / combine bandwidth (GB/s): median measured / planner by group (n; range)")
    groups: dict = {}
    for x in (x for x in res if x["kind"] == "ep_comm_bandwidth"):
        key = (x["gpu"], x["link"], x["stack"], x["measurement"], x["component"], x["precision"])
        groups.setdefault(key, []).append(x)
    for key, xs in sorted(groups.items()):
        rr = np.array([x["ratio"] for x in xs])
        print(f"  {' / '.join(map(str, key)):<70} n={len(xs):2d}  meas {np.median([x['measured'] for x in xs]):6.1f}  "
              f"planner {np.median([x['planner'] for x in xs]):6.1f}  ratio {np.median(rr):.2f} ({rr.min():.2f}-{rr.max():.2f})")
    print("\nToken-permutation kernels (TB/s): measured vs the planner's streaming HBM rate")
    for x in (x for x in res if x["kind"] == "permute_kernel"):
        print(f"  {x['id']:<52} meas {x['measured']:5.2f}  planner {x['planner']:4.2f}  ratio {x['ratio']:.2f}")
    print("\nDispatcher A/B on one recipe (step with the row's dispatcher / step with the other)")
    for x in (x for x in res if x["kind"] == "dispatcher_ab"):
        print(f"  {x['id']:<52} measured {x['measured']:.3f}  planner {x['planner']:.3f}")
    print("\nWhole steps of later tuned runs of a scored recipe (measured s / planner s at the row's precision)")
    for x in (x for x in res if x["kind"] == "step_time"):
        print(f"  {x['id']:<52} measured {x['measured']:.3f}  planner {x['planner']:.3f}  ratio {x['ratio']:.3f}")
    print("\nStep-level ablations (share of the step each change removed, 1 - before/after; not priced)")
    for r in load("moe_profiles"):
        if r["kind"] == "step_ablation" and r["baseline_value"]:
            print(f"  {r['id']:<28} {r['component'][:60]:<60} {1 - r['baseline_value'] / r['value']:.3f}")
        elif r["kind"] == "step_ablation":
            print(f"  {r['id']:<28} {r['component']:<60} {1 - 1 / r['value']:.3f}")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
