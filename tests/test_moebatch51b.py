"""The MoE dispatcher twins' memory in one call (moebatch51b): ``layout.Candidates.dispatcher`` reaches memory's
dispatcher terms (memory ``moe_comm_buffers``, memory_activations ``layer_saves`` / ``layer_kind_saves``' layer keys:
the activation table's ``moe_a2a`` / ``fused_act_experts``, the all-to-all dispatcher's ep keys), so the search's tries
of the stack's other dispatchers (recommend ``_search_twins``) make one memory call per own variant and overlap rather
than one per twin -- the same numbers, bit for bit, as a call on each dispatcher's stack (the search's counts and
ranking: tests/test_moebatch51.py ``test_search_tries_share_step_time_and_memory_calls_and_rank_the_same``)."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import resolve
from planner.model.step_time import LayerMemo
from planner.spec import load_job

from conftest import EXAMPLES
from make_step_time_golden import candidates
from test_moebatch51 import _bits, _with_dispatcher


@pytest.mark.parametrize("example, framework", [("mixtral-8x7b.yaml", "megatron-core"),
                                                ("qwen3-30b-a3b.yaml", "nemo-automodel")])
def test_memory_of_rows_of_every_dispatcher_in_one_call_matches_each_stack(example, framework):
    """Layouts under each dispatcher the stack offers: one memory call on all of them (the last stack's, each row
    its column) gives every row the bits of the call on its own dispatcher's stack (DeepEP / HybridEP buffers, the
    all-to-all dispatcher's transient, NeMo AutoModel's DeepEP activation keeping only its input), with or without a
    shared layer memo, and again with the memo filled by the batched call."""
    job = load_job(EXAMPLES / example)
    c = candidates(24, np.random.default_rng(51), True)
    names = resolve(framework).moe_dispatchers
    stacks = [resolve(framework, moe_dispatcher=d) for d in names]
    alone = [memory_per_gpu(job.model, job.training, c, stack=st, gpu="H100-SXM-80GB") for st in stacks]
    both = Candidates.concat([_with_dispatcher(c, d) for d in names])
    memo = LayerMemo()
    batched = [memory_per_gpu(job.model, job.training, both, stack=stacks[-1], gpu="H100-SXM-80GB", memo=m)
               for m in (None, memo, memo)]
    keys = [k for k in alone[0] if np.asarray(alone[0][k]).dtype.kind == "f"]
    for k in ("activations", "total"):  # the dispatchers do differ here
        assert not np.array_equal(np.broadcast_to(alone[0][k], (len(c),)), np.broadcast_to(alone[1][k], (len(c),)))
    for d, ref in enumerate(alone):
        rows = slice(d * len(c), (d + 1) * len(c))
        for k in keys:
            want = _bits(np.broadcast_to(ref[k], (len(c),)))
            for got in (b[k] for b in batched):
                got = np.broadcast_to(got, (len(both),))[rows]
                assert np.array_equal(_bits(got), want), (names[d], k)
