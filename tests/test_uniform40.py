"""Uniform recompute chunk by chunk, its search, and block recompute at the fullest share (uniform40, 2026-12-05).

Megatron-Core builds each model chunk as its own TransformerBlock (transformer_block.py ``TransformerBlock.__init__``:
``num_layers_per_pipeline_rank = len(self.layers)``) and ``_checkpointed_forward`` loops over that chunk's own
layers: uniform ``while layer_idx < num_layers_per_pipeline_rank: checkpoint(custom(layer_idx, layer_idx + g));
layer_idx += g`` (``custom_forward``: ``for index in range(start, end): layer = self._get_layer(index)``, i.e.
``self.layers[index]``), block ``for layer_idx in range(num_layers_per_pipeline_rank): checkpoint if layer_idx < N``.
``_megatron_loop`` below is that loop written out over a list of layers, the truth the tests hold the planner to:
the layer inputs each chunk keeps, its plain layers, the largest group it rebuilds -- and the IndexError of a
uniform group that does not divide a chunk.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import one_rank_group
from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.model.pipeline import chunk_inflight, split_runtime
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from planner.vocab import SCHEDULE


def _megatron_loop(chunk: int, method: str, n: int):
    """``_checkpointed_forward`` over one chunk of ``chunk`` layers: (inputs kept, plain layers, largest rebuilt
    group); raises IndexError where Megatron-Core's ``self.layers[index]`` does."""
    layers = list(range(chunk))
    kept = plain = largest = 0
    if method == "uniform":
        idx = 0
        while idx < chunk:
            group = [layers[i] for i in range(idx, idx + n)]  # custom(idx, idx + n): self._get_layer(index)
            kept += 1  # the checkpoint keeps the group's input
            largest = max(largest, len(group))
            idx += n
    else:
        for idx in range(chunk):
            if idx < n:
                kept += 1
                largest = max(largest, 1)
            else:
                plain += 1
    return kept, plain, largest


def _job(layers, pp, vpp, layout, recompute="full", **tr):
    t = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "recompute": recompute,
         "tokens": 1e10, "framework": {"name": "megatron-core", "pp_layout": layout}, **tr}
    return load_job_dict({"model": {"preset": "llama3-8b", "layers": layers}, "training": t,
                          "parallel": {"tp": 1, "pp": pp, "vpp": vpp, "dp": 4, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


def _cands(pp, vpp, rn=0, rg=0):
    return Candidates(tp=np.array([1]), pp=pp, dp=4, cp=1, ep=1, vpp=vpp, zero=1, mb=1, rc=2, sp=False,
                      schedule=SCHEDULE.code["interleaved" if vpp > 1 else "1f1b"], gpus_per_node=8, nodes=1,
                      rn=np.array([rn]), rg=np.array([rg]))


FULL, NONE = 1.0, 3.0  # a layer's saves under full recompute (its input) and without


def _stage(j, c, per_layer, mm=64.0):
    """(first, last) stage activations of one row at a checkpointed layer FULL, a plain layer NONE, no rebuild"""
    one = np.array([1.0])
    got = MA.rank_activations(j.model, from_training(j.training), c, np.array([mm]), np.array([mm]),
                              per_layer * one, 0 * one, 0 * one, None, lambda: ({"": FULL * one}, {"": NONE * one}))
    return got.first, got.last


@pytest.mark.parametrize("counts,pp,vpp", [((4, 4, 3, 3, 4, 4, 3, 3), 2, 4), ((8, 4), 2, 1), ((6, 2, 4, 4), 2, 2),
                                           ((5, 0, 7), 3, 1)])
def test_chunk_counts_are_the_megatron_loop(counts, pp, vpp):
    """``_chunk_rebuilt_counts``' kept and plain layers per chunk of every rank are the loop's, block at every N and
    uniform at every g the loop runs (it runs only where g divides each chunk)"""
    lk, names = ("",) * sum(counts), ("",)
    for method in ("block", "uniform"):
        for n in range(1, max(counts) + 2):
            got = MA._chunk_kind_table(lk, names, pp, vpp, counts, n, method == "uniform")
            for s, c_ in enumerate(counts):
                j, r = divmod(s, pp)
                try:
                    kept, plain, _ = _megatron_loop(c_, method, n)
                except IndexError:
                    assert method == "uniform" and c_ % n
                    continue
                assert got[0][0, j, r] == c_ and got[1][0, j, r] == kept, (method, n, s)
                g0 = MA._chunk_rebuilt_counts(lk, names, pp, vpp, counts, n, max(counts), method == "uniform")
                plain_all = g0[0][2] if r == 0 else (g0[1][2] if r == pp - 1 else None)
                if plain_all is not None:
                    assert plain_all[0, j] == plain, (method, n, s)


def test_uniform_keeps_each_ranks_own_groups():
    """1F1B, the explicit layout ``Et*8|t*4L`` (12 layers, PP2: ranks of 8 and 4, the fullest share 6), uniform
    groups of 4: rank 0 keeps 8 / 4 = 2 inputs x its 2 micro-batches in flight, the last rank 1 x 1. The fullest
    share's ceil(6 / 4) / 6 a layer priced rank 0 at 8 x 2 / 6 x 2 = 5.33."""
    j = _job(12, 2, 1, "Et*8|t*4L", recompute_method="uniform", recompute_num_layers=4)
    c = _cands(2, 1, rg=4)
    mix = np.ceil(6 / 4) / 6 * FULL  # the mean layer's figure (_partial_recompute_saves), replaced per rank
    first, last = _stage(j, c, mix)
    want = [_megatron_loop(n, "uniform", 4)[0] * FULL * held for n, held in ((8, 2), (4, 1))]
    assert want == [4.0, 1.0]
    assert first[0] == pytest.approx(want[0]) and last[0] == pytest.approx(want[1])


def test_uniform_interleaved_chunks_at_their_held_micro_batches():
    """PP2 VPP2 on ``Et*4|t*2|t*4|t*2L`` (rank 0's chunks 4 and 4, rank 1's 2 and 2; the fullest share 3), groups of
    2: each chunk keeps C / 2 inputs x the micro-batches it holds at the rank's peak (``chunk_inflight``, the
    schedule's replay): rank 0 max over its count vectors of 2 h0 + 2 h1. The fullest share's ceil(3 / 2) / 3 a
    layer gave 8 / 3 a chunk."""
    layout, counts = "Et*4|t*2|t*4|t*2L", (4, 2, 4, 2)
    j = _job(12, 2, 2, layout, recompute_method="uniform", recompute_num_layers=2)
    c = _cands(2, 2, rg=2)
    first, last = _stage(j, c, np.ceil(3 / 2) / 3 * FULL)
    want = []
    for r in (0, 1):
        h = chunk_inflight(2, 64, 2, r)
        kept = [_megatron_loop(counts[v * 2 + r], "uniform", 2)[0] * FULL for v in range(2)]
        want.append(max(float(row @ np.array(kept)) for row in h))
    assert first[0] == pytest.approx(want[0]) and last[0] == pytest.approx(want[1])


def _rebuild(j, c, rws=10.0, pl0=3.0, full_layer=1.0):
    """``_partial_recompute_saves``' rebuild peak on the split the job launches (a layer's rebuild 10, its plain
    saves 3)"""
    one = np.array([1.0])
    st = from_training(j.training)
    return MA._partial_recompute_saves(j.model, j.training, c, full_layer * one, rws * one,
                                       lambda: [pl0 * one, 2.0 * one], 0, split_runtime(st, j.model))[1][0]


def test_uniform_rebuilds_the_largest_chunks_group():
    """PP3 on ``Et*6||t*6L`` (12 layers; the fullest share ceil(12 / 3) = 4, the chunks 6, none, 6): groups of 6 (the
    loop runs: 6 divides 6) rebuild 6 layers at once, the working set plus 5 layers' saves (10 + 5 x 3); the fullest
    share capped the group at 4 (10 + 3 x 3)."""
    j = _job(12, 3, 1, "Et*6||t*6L", recompute_method="uniform", recompute_num_layers=6)
    largest = _megatron_loop(6, "uniform", 6)[2]  # both non-empty chunks hold 6
    assert largest == 6
    assert _rebuild(j, _cands(3, 1, rg=6)) == pytest.approx(10.0 + (largest - 1) * 3.0)


def test_block_at_the_fullest_share_frees_the_plain_layers():
    """The same layout at block N 4 (= the fullest share, f 1): each 6-layer chunk runs 2 layers plain, which free
    their saves before the backward rebuilds its first 4, so the rebuild adds max(2, 10 - 2 x 3) = 4 (the fewest
    plain layers of any non-empty chunk); taken as full's every layer, 10."""
    j = _job(12, 3, 1, "Et*6||t*6L", recompute_method="block", recompute_num_layers=4)
    plain = _megatron_loop(6, "block", 4)[1]  # both non-empty chunks hold 6
    assert plain == 2
    assert _rebuild(j, _cands(3, 1, rn=4)) == pytest.approx(max(2.0, 10.0 - plain * 3.0))


def test_search_takes_the_smallest_group_the_loop_runs(catalog):
    """smallest_uniform_group against every group tried in turn on small explicit layouts, at limits between the
    groups' totals: the smallest g the loop runs on every chunk (no IndexError) whose plan fits, or none."""
    from planner.hardware.options import option_from_cluster
    from planner.search.evaluate import fits_memory
    from planner.search.recommend import smallest_uniform_group

    for layers, pp, vpp, layout in ((24, 2, 1, "Et*16|t*8L"), (24, 2, 2, "Et*8|t*4|t*8|t*4L"),
                                    (24, 2, 1, "Et*12|t*12L")):
        j = _job(layers, pp, vpp, layout, micro_batch=4)
        hw = option_from_cluster(j.cluster, catalog, None, "bf16")
        st = from_training(j.training)
        chunks = [x for x in (int(s) for s in layout.replace("E", "").replace("L", "").replace("t*", "").split("|"))
                  if x]
        groups = [g for g in range(2, max(chunks) + 1)
                  if all(_runs(c_, g) for c_ in chunks)]
        c = _cands(pp, vpp)
        at = {g: M.memory_per_gpu(j.model, j.training, _with(c, rg=g), stack=st, gpu=hw.gpu.name)["total"][0]
              for g in groups}
        base = M.memory_per_gpu(j.model, j.training, c, stack=st, gpu=hw.gpu.name)
        for limit in sorted(set(at.values()) | {min(at.values()) - 1.0, base["total"][0] - 1.0}):
            fits = fits_memory(j, hw, base, limit)
            if fits[0]:
                continue
            out, _, fits2 = smallest_uniform_group(j, j.training, c, fits, base, st, hw, limit)
            want = next((g for g in groups if fits_memory(j, hw, {"total": np.array([at[g]]),
                                                                  "host": base["host"]}, limit)[0]), 0)
            assert int(out.rg[0]) == want, (layout, limit, at)
            assert bool(fits2[0]) == (want > 0)


def _runs(chunk, g):
    try:
        _megatron_loop(chunk, "uniform", g)
        return True
    except IndexError:
        return False


def _with(c, **cols):
    out = c.take(np.arange(len(c)))
    for k, v in cols.items():
        setattr(out, k, np.array([v]))
    return out


def test_megatron_core_uniform_loop_runs_only_whole_groups(tmp_path):
    """Megatron-Core 0.16.1's own TransformerBlock (local spec, CPU) under ``recompute_method="uniform"``: 4 layers
    at g 2 checkpoint 2 groups (``tensor_parallel.checkpoint`` called twice, each group's input kept) and run; at g 3
    the second group ``custom(3, 6)`` indexes ``self.layers[4]``: IndexError in the first forward, as
    ``_megatron_loop`` says and the stack rule uniform-groups refuses."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("megatron.core")

    import make_mcore_activations as mk
    from megatron.core import tensor_parallel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer.transformer_block import TransformerBlock
    from megatron.core.transformer.transformer_config import TransformerConfig

    with mk.cpu_safe(), one_rank_group(tmp_path, megatron=True):
        calls = []
        real = tensor_parallel.checkpoint

        def counted(fn, distribute, *args):
            calls.append(1)
            return real(fn, distribute, *args)

        def run(g):
            cfg = TransformerConfig(num_layers=4, hidden_size=64, num_attention_heads=4, ffn_hidden_size=128,
                                    use_cpu_initialization=True, hidden_dropout=0.0, attention_dropout=0.0,
                                    bias_dropout_fusion=False, masked_softmax_fusion=False,
                                    recompute_granularity="full", recompute_method="uniform",
                                    recompute_num_layers=g)
            block = TransformerBlock(cfg, get_gpt_layer_local_spec()).train()
            x = torch.randn(8, 1, 64, requires_grad=True)
            mask = torch.triu(torch.ones(8, 8), diagonal=1).bool()[None, None]
            calls.clear()
            tensor_parallel.checkpoint = counted
            try:
                block(x, mask).sum().backward()
            finally:
                tensor_parallel.checkpoint = real
            return len(calls)

        assert run(2) == _megatron_loop(4, "uniform", 2)[0] == 2
        with pytest.raises(IndexError):
            _megatron_loop(4, "uniform", 3)
        with pytest.raises(IndexError):
            run(3)
