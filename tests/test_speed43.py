"""speed43: a mixed MoE model's MTP block is its "E" kind's block (step_time.mtp_layer_block, layer_kinds), so a
search's memo runs the layer model once for both. Until speed43 the block was memoised under its own name ("mtp")
and DeepSeek-V3's `recommend` ran `layer_terms` 96 more times on the same layer keys (482 runs, 386 now)."""
import numpy as np

from planner.hardware.options import option_from_instance
from planner.model import layer_ops, step_time as S
from planner.model.stacks import STACKS
from planner.spec import ModelSpec, load_job
from planner.spec.presets import PRESETS

from conftest import EXAMPLES
from make_step_time_golden import candidates


def _runs(monkeypatch, job, hw, memo, sets):
    """the ``layer_terms`` runs of one ``step_time`` call on each candidate set, and the results"""
    names, orig = [], layer_ops.layer_terms

    def spy(m, *a, **k):
        names.append(m.layers)
        return orig(m, *a, **k)
    monkeypatch.setattr(S, "layer_terms", spy)
    out = [S.step_time(job.model, job.training, c, hw, memo=memo) for c in sets]
    monkeypatch.setattr(S, "layer_terms", orig)
    return names, out


def test_mixed_moe_mtp_block_is_the_moe_kind_block():
    """DeepSeek-V3 (3 dense, 58 MoE layers, one MTP depth): the MTP block is the "E" kind's model, graph parts and
    memo name; a hybrid's "*E" MTP block keeps its own name (it is no kind of the pattern)."""
    m, fw = ModelSpec(**PRESETS["deepseek-v3"]), STACKS["megatron-core"]
    blk, n, parts, name = S.mtp_layer_block(m, fw)
    kind = S.layer_kinds(m, S.cuda_graph_parts(fw, m))["E"].block
    assert (blk, parts, name) == kind and n == 1.0
    hybrid = ModelSpec(**{**PRESETS["nemotron-3-nano-30b-a3b"], "mtp_layers": 1})
    kinds = {kk.block[2] for kk in S.layer_kinds(hybrid, frozenset()).values()}
    assert S.mtp_layer_block(hybrid, fw)[3] == "mtp" and "mtp" not in kinds and len(kinds) > 1


def test_deepseek_v3_search_runs_the_layer_model_once_per_block(monkeypatch, catalog):
    """With a search's memo, DeepSeek-V3's layer model runs three times a layer-key set (the mean layer, the dense
    and the MoE kind; the MTP block reads the MoE kind's rows), four until speed43; the step times are the bits of
    the memo-less call."""
    job = load_job(EXAMPLES / "deepseek-v3-pretrain.yaml")
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    rng = np.random.default_rng(43)
    sets = [candidates(40, rng, True) for _ in range(2)]
    runs, got = _runs(monkeypatch, job, hw, S.LayerMemo(), sets)
    assert runs.count(job.model.layers) == 2 and runs.count(1) == 2 * 2  # per set: the mean layer; dense, MoE
    for c, g in zip(sets, got):
        ref = S.step_time(job.model, job.training, c, hw)
        for k, v in ref.items():
            if np.asarray(v).dtype.kind == "f":
                assert np.array_equal(np.asarray(v).view(np.uint64), np.asarray(g[k]).view(np.uint64)), k
