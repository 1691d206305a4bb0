"""auto54: a weightless gate runs no router GEMM. NeMo AutoModel's benchmark gate (``FakeBalancedGate``, moe.routing
"round_robin") builds its routing weights from ``torch.ones`` and its expert ids from ``torch.arange``: no linear of the
hidden states, forward or backward (planner.model.moe ``GATELESS_ROUTINGS``). Megatron-Core's force-balanced router
("learned") still runs its gating GEMM before it replaces the logits, so it keeps it. Both tests fail on the code
before auto54, which priced the router GEMM whatever the routing."""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import moe as moe_mech
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec

from test_step_time import cands, hw_for

EXPERTS, HIDDEN, T = 16, 1024, 8192.0


def _model(routing: str) -> ModelSpec:
    return ModelSpec(family="moe", layers=4, hidden=HIDDEN, heads=8, ffn_hidden=512, vocab=32000,
                     moe=dict(experts=EXPERTS, top_k=2, routing=routing))


def _layer(routing: str):
    shapes = []

    def gemm(M, N, K, **kw):  # (forward, backward) in proportion to the FLOPs; records each shape priced
        shapes.append(tuple(float(np.ravel(x)[0]) for x in (M, N, K)))
        f = np.asarray(M, dtype=float) * N * K * 1e-15 * (kw.get("groups") or 1)
        return f, 2.0 * f
    one = np.array([1.0])
    out = moe_mech.moe_layer(_model(routing), np.array([T]), one, one, np.array([4.0]), 8.0, 2.0, gemm,
                             resolve("nemo-automodel"), (4e11, 5e10, 1e-6, 5e-6))
    return out, shapes


def test_the_weightless_gate_prices_no_router_gemm_and_the_learned_one_does():
    (rr, rr_shapes), (learned, learned_shapes) = _layer("round_robin"), _layer("learned")
    router = (T, float(EXPERTS), float(HIDDEN))
    assert router in learned_shapes and router not in rr_shapes
    gemm_f = T * EXPERTS * HIDDEN * 1e-15
    assert float(np.ravel(learned.fwd_mlp - rr.fwd_mlp)[0]) == pytest.approx(gemm_f)
    assert float(np.ravel(learned.bwd_mlp - rr.bwd_mlp)[0]) == pytest.approx(2 * gemm_f)


def test_the_step_s_gemm_time_drops_by_the_router_under_the_benchmark_gate(catalog):
    t = TrainingSpec(seq_len=4096, global_batch=16, micro_batch=1, precision="bf16", recompute="full")
    c = cands(tp=1, pp=1, dp=8, ep=4, zero=3, nodes=1)
    hw = hw_for(catalog)
    fw = resolve("nemo-automodel")
    g = {r: float(step_time(_model(r), t, c, hw, framework=fw)["compute_gemm"][0]) for r in ("round_robin", "learned")}
    assert g["round_robin"] < g["learned"]
