"""torch.distributed.pipelining's forward receive buffers, mem54b: every stage but the first allocates one buffer of
its input per micro-batch and holds them all step (``memory_stages.fwd_recv_buffers``); a micro-batch in flight runs
on its buffer (the first layer's saved input, counted there), the others are priced. Checked against a real gloo step
(tests/make_pipelining_truth.py, tests/data/pipelining_truth.json). NeMo AutoModel builds the same torch stages
(``Stack.pp_recv_per_microbatch``)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from planner.model import stacks
from planner.model.memory_stages import fwd_recv_buffers, grad_recv_buffers
from planner.vocab import SCHEDULE

TRUTH = json.loads((Path(__file__).parent / "data" / "pipelining_truth.json").read_text())


def _cols(pp, v, sched):
    return SimpleNamespace(pp=np.array([pp]), vpp=np.array([v]), schedule=np.array([SCHEDULE.code[sched]]))


def test_forward_receive_buffers_are_torchs():
    """With nothing in flight the price is every buffer torch holds after a step (rank 0 and the last rank, 1F1B and
    interleaved), and every one of them was the storage a forward of its stage ran on."""
    last = str(TRUTH["world"] - 1)
    for name in ("1f1b", "interleaved"):
        t0, tl = TRUTH["ranks"]["0"][name], TRUTH["ranks"][last][name]
        c = _cols(TRUTH["world"], t0["stages"], name)
        f0, _, fl = fwd_recv_buffers(stacks.resolve("torchtitan"), c, t0["microbatches"], t0["boundary_bytes"],
                                     (0, 0, 0))
        assert (float(f0[0]), float(fl[0])) == (t0["fwd_bytes"], tl["fwd_bytes"])
        for t in (t0, tl):
            assert t["fwd_on_buffer"] == t["fwd_buffers"]


def test_forward_receive_buffers_leave_out_those_in_flight():
    """1F1B pp 4, 16 micro-batches: the last rank holds 16 buffers, one micro-batch in flight (its saved input): 15
    priced; a middle rank (rank 1, 3 in flight) 13; rank 0 none. Megatron-Core: nothing."""
    c = _cols(4, 1, "1f1b")
    f0, f1, fl = fwd_recv_buffers(stacks.resolve("torchtitan"), c, 16, 1.0, (4, 3, 1))
    assert (float(f0[0]), float(f1[0]), float(fl[0])) == (0.0, 13.0, 15.0)
    assert fwd_recv_buffers(stacks.resolve("megatron-core"), c, 16, 1.0, (4, 3, 1)) == (0.0, 0.0, 0.0)


def test_nemo_automodel_prices_torchs_receive_buffers():
    """NeMo AutoModel's AutoPipeline builds torch's PipelineStage (functional.py), its recv pool off by default:
    both kinds of receive buffer priced as on torchtitan."""
    c = _cols(4, 2, "interleaved")
    auto, titan = stacks.resolve("nemo-automodel"), stacks.resolve("torchtitan")
    assert grad_recv_buffers(auto, c, 8, 1.0) == grad_recv_buffers(titan, c, 8, 1.0)
    assert float(grad_recv_buffers(auto, c, 8, 1.0)[0][0]) == 16.0
    assert float(fwd_recv_buffers(auto, c, 8, 1.0, (5, 4, 4))[2][0]) == 8.0
