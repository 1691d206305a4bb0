"""Megatron-DeepSpeed's ``pp_partition_method`` "uniform" and "parameters" (DeepSpeed PipelineModule's own default),
checked against DeepSpeed's algorithms re-implemented here from their source (deepspeed/runtime/utils.py
``partition_uniform`` / ``partition_balanced``, deepspeed/runtime/pipe/module.py ``_partition_layers`` /
``_count_layer_params``) over GPTModelPipe's spec list with its per-TP-rank parameter counts written out by hand
from Megatron's modules (bigscience-workshop/Megatron-DeepSpeed megatron/model/gpt_model.py, transformer.py,
language_model.py), not through planner.spec.params."""
from __future__ import annotations

import re

import numpy as np
import pytest

from planner.model.pipeline import pipeline_split, split_per_row, split_runtime, stage_layer_ends, runtime_at
from planner.model.stacks import from_training
from planner.spec import ModelSpec, load_job_dict
from planner.workloads.training import estimate_job
from conftest import write_job


# ---- DeepSpeed, as its source writes it -----------------------------------------------------------------------------

def ds_partition_uniform(num_items, num_parts):
    parts = [0] * (num_parts + 1)
    if num_items <= num_parts:
        for p in range(num_parts + 1):
            parts[p] = min(p, num_items)
        return parts
    chunksize = num_items // num_parts
    residual = num_items - (chunksize * num_parts)
    parts = np.arange(0, (num_parts + 1) * chunksize, chunksize)
    for i in range(residual):
        parts[i + 1:] += 1
    return parts.tolist()


def ds_partition_balanced(weights, num_parts):
    n, m = len(weights), num_parts
    if n <= m:
        return ds_partition_uniform(n, m)
    dp_max = np.full((n + 1, m + 1), np.inf)
    dp_min = np.full((n + 1, m + 1), np.inf)
    dp_cost = np.full((n + 1, m + 1), np.inf)
    position = np.zeros((n + 1, m + 1), dtype=int)
    prefix_sum = np.zeros((n + 1))
    prefix_sum[1:] = np.cumsum(weights)
    dp_max[0, 0] = 0
    dp_cost[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, min(i, m) + 1):
            for k in range(i):
                max_sum = max(dp_max[k, j - 1], prefix_sum[i] - prefix_sum[k])
                min_sum = min(dp_min[k, j - 1], prefix_sum[i] - prefix_sum[k])
                cost = max_sum - min_sum
                if dp_cost[i, j] >= cost:
                    dp_cost[i, j] = cost
                    dp_max[i, j] = max_sum
                    dp_min[i, j] = min_sum
                    position[i, j] = k
    parts = [n]
    for i in reversed(range(1, m + 1)):
        parts.append(position[parts[-1], i])
    parts.reverse()
    return parts


# ---- GPTModelPipe's specs, by hand: (name, parameters on one TP rank) ------------------------------------------------

def gpt_pipe(layers, h, vocab, tp, positions=0):
    """A GPT (LayerNorm, biases, 4h GeLU MLP, tied embedding) as GPTModelPipe lists it. Per TP rank: QKV and
    dense_h_to_4h are column-parallel (weight and bias split), dense and dense_4h_to_h row-parallel (weight split,
    bias whole), both LayerNorms whole; VocabParallelEmbedding holds padded_vocab / tp rows (Megatron pads to a
    multiple of 128 x tp), the learned position table (torch.nn.Embedding) is whole."""
    padded = -(-vocab // (128 * tp)) * 128 * tp
    embed = padded // tp * h + positions * h
    layer = (3 * h * h + 3 * h) // tp + h * h // tp + h + (4 * h * h + 4 * h) // tp + 4 * h * h // tp + h + 2 * 2 * h
    return ([("_to_float16", 0), ("EmbeddingPipe", embed), ("<lambda>", 0)]
            + [("ParallelTransformerLayerPipe", layer)] * layers
            + [("undo", 0), ("LayerNorm", 2 * h), ("EmbeddingPipe", embed), ("float16_to_fp32", 0)])


def ds_layers_per_stage(specs, method, pp):
    """``PipelineModule._partition_layers`` over ``specs``, then the transformer layers each stage builds."""
    if method == "uniform":
        parts = ds_partition_uniform(len(specs), pp)
    elif method == "parameters":
        parts = ds_partition_balanced([p for _, p in specs], pp)
    else:
        rx = re.compile(method.split(":")[1], re.IGNORECASE)
        parts = ds_partition_balanced([1 if rx.search(n) else 0 for n, _ in specs], pp)
    return tuple(sum(n == "ParallelTransformerLayerPipe" for n, _ in specs[parts[s]:parts[s + 1]]) for s in range(pp))


def _gpt(layers, h, heads, vocab, positions):
    return dict(family="decoder", layers=layers, hidden=h, heads=heads, ffn_hidden=4 * h, vocab=vocab, mlp="gelu",
                norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                **({"position": "learned", "max_positions": positions} if positions else {"position": "none"}))


GPT3 = _gpt(96, 12288, 96, 50257, 2048)
BLOOM = _gpt(70, 14336, 112, 250880, 0)  # ALiBi: no position table
GPT2 = _gpt(12, 768, 12, 50257, 1024)  # the embedding weighs 5.5 layers


def _stack(method):
    return from_training(load_job_dict({
        "model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9,
                                                   "framework": {"name": "megatron-deepspeed",
                                                                 "pp_partition_method": method}},
        "parallel": {"pp": 2, "tp": 1, "dp": 1}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1,
                                                               "gpus_per_node": 8}}).training)


CASES = [(GPT3, 8, 1), (GPT3, 8, 8), (GPT3, 12, 8), (GPT3, 16, 4), (BLOOM, 12, 4), (BLOOM, 8, 1), (BLOOM, 5, 2),
         (GPT2, 4, 1), (GPT2, 3, 2), (GPT2, 5, 1)]
METHODS = {"type:transformer": "type:transformer", "type:transformer+embedding": "type:transformer|embedding",
           "uniform": "uniform", "parameters": "parameters"}


@pytest.mark.parametrize("model, pp, tp", CASES)
@pytest.mark.parametrize("method", list(METHODS))
def test_split_is_deepspeeds_partition_of_gptmodelpipe(model, pp, tp, method):
    m = ModelSpec(**model)
    specs = gpt_pipe(m.layers, m.hidden, m.vocab, tp, m.max_positions if m.position == "learned" else 0)
    want = ds_layers_per_stage(specs, METHODS[method], pp)
    runtime = runtime_at(split_runtime(_stack(method), m), tp)
    assert pipeline_split(m.layers, pp, 1, runtime)[1] == want
    n0, n1, nl = stage_layer_ends(m.layers, np.array([pp]), np.array([1]), split_runtime(_stack(method), m),
                                  np.array([tp]))
    assert (n0[0], n1[0], nl[0]) == (want[0], want[1], want[-1])


def test_uniform_and_parameters_differ_as_deepspeed_cuts_them():
    """Spot values: BLOOM's 77 specs on PP12 uniform are 7 x 5, 6 x 7 (4 layers beside the embedding, 2 beside the
    head); GPT-2's embedding (39M of 124M) leaves its stage fewer layers than type:transformer's even 3 a stage."""
    bloom, gpt2 = ModelSpec(**BLOOM), ModelSpec(**GPT2)
    assert pipeline_split(70, 12, 1, split_runtime(_stack("uniform"), bloom))[1] == (4,) + (7,) * 4 + (6,) * 6 + (2,)
    params = pipeline_split(12, 4, 1, split_runtime(_stack("parameters"), gpt2))[1]
    plain = pipeline_split(12, 4, 1, split_runtime(_stack("type:transformer"), gpt2))[1]
    assert plain == (3, 3, 3, 3) and params[0] < plain[0] and sum(params) == 12


def test_parameters_split_depends_on_tp():
    """The counts are a rank's own: the position table and the norms stay whole as TP splits the matrices, so the
    embedding weighs more against a layer at higher TP."""
    m = ModelSpec(**_gpt(24, 1024, 16, 50257, 2048))
    rt = split_runtime(_stack("parameters"), m)
    splits = {tp: pipeline_split(24, 4, 1, runtime_at(rt, tp))[1] for tp in (1, 8)}
    for tp, got in splits.items():
        assert got == ds_layers_per_stage(gpt_pipe(24, 1024, 50257, tp, 2048), "parameters", 4)
    assert splits[1] == (4, 8, 8, 4) and splits[8] == (3, 9, 9, 3)


@pytest.mark.parametrize("method", ["parameters", "uniform", None])
def test_split_per_row_gives_each_row_its_own_split(method):
    """The one walk over the candidates' distinct (pp, vpp[, tp]) rows (the memory model, the step time's pacing
    stage and the stack rules use it): every row lands in exactly one group, and the group's split is the row's own
    ``pipeline_split`` at its TP (only the "parameters" partition's depends on TP: there TP 1 and 8 rows with the
    same pp must not share a split)."""
    m = ModelSpec(**_gpt(24, 1024, 16, 50257, 2048))
    rt = split_runtime(_stack(method), m) if method else "megatron"
    rng = np.random.default_rng(0)
    pp, vpp, tp = rng.choice([1, 2, 4, 6], 200), rng.choice([0, 1, 2], 200), rng.choice([1, 2, 8], 200)
    seen = np.zeros(200, dtype=int)
    groups = list(split_per_row(m.layers, pp, vpp, tp, rt))
    for rows, (k, v, t), counts in groups:
        seen += rows
        for i in np.flatnonzero(rows):
            assert (pp[i], max(vpp[i], 1)) == (k, v)
            assert counts == pipeline_split(24, int(pp[i]), max(int(vpp[i]), 1), runtime_at(rt, int(tp[i])))[1]
    assert (seen == 1).all()
    n_keys = len({(a, max(b, 1)) + ((c,) if method == "parameters" else ()) for a, b, c in zip(pp, vpp, tp)})
    assert len(groups) == n_keys


def _job(model, pp, tp, dp, method, nodes):
    return {"model": model,
            "training": {"seq_len": 2048, "global_batch": 512, "micro_batch": 1, "precision": "bf16", "tokens": 1e10,
                         "framework": {"name": "megatron-deepspeed",
                                       **({"pp_partition_method": method} if method else {})}},
            "parallel": {"pp": pp, "tp": tp, "dp": dp, "cp": 1, "zero": 1, "sequence_parallel": False},
            "cluster": {"gpu": "A100-SXM-80GB", "nodes": nodes, "gpus_per_node": 8}}


@pytest.mark.parametrize("method", [None] + list(METHODS))
def test_estimate_runs_with_each_method(cli, tmp_path, method):
    code, out, err = cli("estimate", write_job(tmp_path, _job(BLOOM, 12, 4, 2, method, 12)))
    assert code == 0, out + err


def test_uneven_stage_moves_step_time_and_memory(catalog):
    """BLOOM on PP12: uniform's 7-layer stages pace the step (type:transformer's fullest holds 6) and rank 1 holds
    7 layers x 11 micro-batches in flight; GPT-2 on PP3: parameters' 8-layer middle stage (2, 8, 2) against 4 (on
    PP4 its 0, 6, 6, 0 is refused: tests/test_dspmem.py)."""
    def plan(model, pp, tp, dp, method, nodes):
        return estimate_job(load_job_dict(_job(model, pp, tp, dp, method, nodes)), catalog)
    base, uni = (plan(BLOOM, 12, 4, 2, meth, 12) for meth in (None, "uniform"))
    assert uni.step_time_s > base.step_time_s * 1.05
    assert uni.memory_per_gpu_bytes.activations > base.memory_per_gpu_bytes.activations
    assert plan(BLOOM, 12, 4, 2, "type:transformer", 12).step_time_s == base.step_time_s
    small, par = (plan(GPT2, 3, 1, 8, meth, 3) for meth in ("type:transformer", "parameters"))
    assert par.step_time_s > small.step_time_s


def test_bad_method_is_one_error_line(cli, tmp_path):
    code, out, err = cli("estimate", write_job(tmp_path, _job(BLOOM, 12, 4, 2, "type:transformer|embedding", 12)))
    lines = [x for x in (out + err).splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: training.framework.pp_partition_method:")
    job = _job(BLOOM, 12, 4, 2, "uniform", 12)
    job["training"]["framework"]["name"] = "megatron-core"
    code, out, err = cli("estimate", write_job(tmp_path, job))
    assert code == 2 and (out + err).strip().startswith("error: training.framework.pp_partition_method:")
