"""rec58: ``recommend`` searches the remaining memory-for-fit trades a job leaves open, each a fallback tried only where
the default does not fit (planner.search.space ``stack_variants``):

* Megatron-DeepSpeed's DeepSpeed checkpointing, ``partition_activations`` / ``cpu_checkpointing``, on the
  full-recompute rows (the layers ``deepspeed.checkpointing.checkpoint`` wraps);
* MaxText's ``num_vocab_tiling``: one tile, then 2, 4, 8, 16, a chain (each count only where the one before does not
  fit or does not split the rank's tokens);
* Megatron-Core's ``activation_offload_layers`` where the job fixes recompute none: a quarter, a half, three quarters
  of the layers, then Megatron's default (all but the last), each only where the count before does not fit.

Each case below had a worse plan or none on the old code.
"""
import json

import numpy as np

from planner.layout import Candidates
from planner.search.space import VOCAB_TILE_CHOICES, offload_layer_counts, stack_variants
from planner.spec.load import load_job_dict

from conftest import write_job

JOB = """
model: {preset: %s}
training: {seq_len: %d, global_batch: %d, micro_batch: 1, precision: bf16, tokens: 1.0e8, recompute: full,
           framework: {name: %s%s}}
parallel: {%s}
cluster: {instance: %s, nodes: 1}
"""


def _run(cli, path, command="recommend"):
    args = (command, str(path), "--json") + (("--no-simulate",) if command == "recommend" else ())
    code, out, err = cli(*args)
    return code, (json.loads(out) if code == 0 else err)


def _searched(cli, tmp_path, stack, seq, option, value, parallel, instance, model="llama3-8b", batch=8):
    """The open job's plan: it chose ``option`` = ``value`` (its record, ``searched``, the explanation, the stack
    line), and ``estimate`` of its layout with that value agrees on the step and the memory."""
    code, d = _run(cli, write_job(tmp_path, JOB % (model, seq, batch, stack, "", parallel, instance)))
    assert code == 0, d
    best = d["best"]
    assert best["stack"][option] == value and option in best["stack"]["searched"], best["stack"]
    assert any(a.startswith(f"training.framework.{option} {json.dumps(value)} (searched, left open: {option} ")
               and "the default, does not fit" in a for a in d["assumptions"]), d["assumptions"]
    line = next(a for a in d["assumptions"] if a.startswith(f"training stack: {stack}"))
    word = f"{option}={value}" if not isinstance(value, bool) else f"{option}=on"
    assert word in line and "only for layouts that do not fit without it" in line, line
    cfg = best["config"]
    fixed = ", ".join(f"{k}: {cfg[k]}" for k in ("tp", "pp", "dp", "cp", "zero"))
    fw = f", {option}: {json.dumps(value)}" + (", megatron_fsdp: " + json.dumps(best["stack"]["megatron_fsdp"])
                                               if "megatron_fsdp" in best["stack"] else "")
    code, one = _run(cli, write_job(tmp_path, JOB % (model, seq, batch, stack, fw, fixed, instance), "e.yaml"),
                     "estimate")
    assert code == 0, one
    assert abs(one["step_time_s"] - best["step_time_s"]) < 1e-9 * best["step_time_s"]
    assert one["memory_per_gpu_bytes"]["total"] == best["memory_per_gpu_bytes"]["total"]
    return d


def test_megatron_deepspeed_at_160k_fits_without_offload_with_cpu_checkpointing(cli, tmp_path):
    """Llama-3-8B at 163,840 tokens on 8 x A100-40GB, TP 8, CP 1: the checkpointed layer inputs keep the plan without
    offload at 40.9 GiB, so main offloaded the optimizer (261.68 s); both DeepSpeed options fit (35.8 and 36.3 GiB),
    and the host copies (259.15 s) beat partitioning (its TP all-gathers, 260.36 s)."""
    d = _searched(cli, tmp_path, "megatron-deepspeed", 163840, "cpu_checkpointing", True, "tp: 8, cp: 1",
                  "p4d.24xlarge")
    assert d["best"]["config"]["offload"] == "none" and d["best"]["stack"]["partition_activations"] is False


def test_maxtext_at_40k_on_v6e_fits_only_with_loss_tiles(cli, tmp_path):
    """Llama-3-8B at 40,960 tokens on a v6e-64 slice, TP and CP 1: one tile's logits keep every layout over the 30.4
    GiB a chip allows (main: no plan, nearest 35.0 GiB); two tiles fit (the chain stops at the first count that fits:
    more tiles cost the same, a head re-run), and at 65,536 tokens four."""
    d = _searched(cli, tmp_path, "maxtext", 40960, "num_vocab_tiling", 2, "tp: 1, cp: 1", "gcp:tpu-v6e-64",
                  batch=64)
    assert d["best"]["config"]["dp"] == 64
    code, d = _run(cli, write_job(tmp_path, JOB % ("llama3-8b", 65536, 64, "maxtext", "", "tp: 1, cp: 1",
                                                   "gcp:tpu-v6e-64"), "l.yaml"))
    assert code == 0 and d["best"]["stack"]["num_vocab_tiling"] == 4, d


def test_megatron_core_without_recompute_at_32k_offloads_half_the_layers(cli, tmp_path):
    """Llama-3-8B at 32,768 tokens on 8 x H100, TP 2, the job fixing recompute none: main offloaded every layer's
    activations but the last (Megatron's default ``--cpu-offloading-num-layers``), 48.14 s; now the chain off, 8, 16,
    24, all but the last stops at 16 layers, ZeRO-3, 38.20 s (fewer layers copy less). The record and the stack line
    name the count; estimate of that layout agrees; with recompute open the chain is not built."""
    code, d = _run(cli, write_job(tmp_path, JOB.replace("recompute: full", "recompute: none")
                                  % ("llama3-8b", 32768, 64, "megatron-core", "", "tp: 2, pp: 1, cp: 1",
                                     "p5.48xlarge")))
    assert code == 0, d
    best = d["best"]
    assert best["stack"]["activation_offload_layers"] == 16 and best["stack"]["activation_offload"] is True
    assert "activation_offload_layers" in best["stack"]["searched"] and best["step_time_s"] < 40.0, best
    line = next(a for a in d["assumptions"] if a.startswith("training stack: megatron-core"))
    assert "activation_offload=on layers=16" in line, line
    cfg = best["config"]
    fixed = ", ".join(f"{k}: {cfg[k]}" for k in ("tp", "pp", "dp", "cp", "zero"))
    fw = ", activation_offload: true, activation_offload_layers: 16, megatron_fsdp: " + json.dumps(
        best["stack"]["megatron_fsdp"])
    code, one = _run(cli, write_job(tmp_path, JOB.replace("recompute: full", "recompute: none")
                                    % ("llama3-8b", 32768, 64, "megatron-core", fw, fixed, "p5.48xlarge"), "e.yaml"),
                     "estimate")
    assert code == 0, one
    assert abs(one["step_time_s"] - best["step_time_s"]) < 1e-9 * best["step_time_s"]
    assert one["memory_per_gpu_bytes"]["total"] == best["memory_per_gpu_bytes"]["total"]
    assert offload_layer_counts(32) == (8, 16, 24)
    # at 4,096 tokens nothing is offloaded: the record leaves the unset count out of ``searched``, so pasted back as
    # the job's stack it is taken (listed yet null, the job refuses it)
    code, d = _run(cli, write_job(tmp_path, JOB.replace("recompute: full", "recompute: none")
                                  % ("llama3-8b", 4096, 64, "megatron-core", "", "tp: 2, pp: 1, cp: 1", "p5.48xlarge"),
                                  "s.yaml"))
    assert code == 0 and d["best"]["stack"]["activation_offload"] is False, d
    assert "activation_offload_layers" not in d["best"]["stack"]["searched"], d["best"]["stack"]
    back = {k: v for k, v in d["best"]["stack"].items()}
    cfg = d["best"]["config"]
    code, one = _run(cli, write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                                               "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                            "precision": "bf16", "tokens": 1.0e8, "recompute": "none",
                                                            "framework": back},
                                               "parallel": {k: cfg[k] for k in ("tp", "pp", "dp", "cp", "zero")},
                                               "cluster": {"instance": "p5.48xlarge", "nodes": 1}}, "b.yaml"),
                     "estimate")
    assert code == 0 and abs(one["step_time_s"] - d["best"]["step_time_s"]) < 1e-9 * one["step_time_s"], one
    open_ = stack_variants(_job({"name": "megatron-core"}, pp=1))
    assert {v.values["activation_offload"] for v in open_} == {False, True}  # (recompute open: no count links)


def test_a_fitting_default_is_kept(cli, tmp_path):
    """Where the defaults fit (Llama-3-8B at 4,096 tokens), each stack's plan keeps them: the fallbacks were open but
    tried only on the layouts whose default does not fit."""
    for stack, instance, parallel, option, default in (
            ("megatron-deepspeed", "p4d.24xlarge", "tp: 8, cp: 1", "cpu_checkpointing", False),
            ("maxtext", "gcp:tpu-v6e-64", "tp: 1, cp: 1", "num_vocab_tiling", 1)):
        code, d = _run(cli, write_job(tmp_path, JOB % ("llama3-8b", 4096, 64, stack, "", parallel, instance),
                                      f"{stack}.yaml"))
        assert code == 0, d
        assert d["best"]["stack"][option] == default, (stack, d["best"]["stack"])
        assert not any(a.startswith(f"training.framework.{option} ") for a in d["assumptions"])


def _job(fw, recompute=None, **parallel):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 4096, "global_batch": 64, "precision": "bf16", "tokens": 1e9,
                                       "framework": fw, **({"recompute": recompute} if recompute else {})},
                          "parallel": parallel})


def test_the_variants_are_fallbacks():
    """Each new axis is a fallback: every variant off its default has a parent (its default twin, or for the tiles
    the count before it); the DeepSpeed options run on full-recompute rows only and
    are not offered where the job fixes another recompute; a job that sets the option keeps it."""
    ds = stack_variants(_job({"name": "megatron-deepspeed"}))
    both = [v for v in ds if v.values.get("partition_activations") and v.values.get("cpu_checkpointing")]
    for v in both:  # tried only where each one alone does not fit
        assert all(any(ds[q].values == {**v.values, k: False} for q in v.parents)
                   for k in ("partition_activations", "cpu_checkpointing")), v.values
    c = Candidates(tp=np.full(3, 8), pp=np.ones(3, int), dp=np.ones(3, int), cp=np.ones(3, int), ep=np.ones(3, int),
                   vpp=np.ones(3, int), zero=np.zeros(3, int), mb=np.ones(3, int), rc=np.arange(3), sp=True, schedule=0,
                   gpus_per_node=8, nodes=np.ones(3, int))
    on = [v for v in ds if v.values["partition_activations"] or v.values["cpu_checkpointing"]]
    assert len(on) == 6 and all(list(v.rows(c)) == [False, False, True] for v in on)  # rc full only
    # screened against the base: each can take off at most the activations (the checkpointed inputs)
    root = {k: np.array([v]) for k, v in dict(total=50.0, activations=10.0, logits=5.0, optimizer=20.0, weights=5.0,
                                               grads=5.0).items()}
    alone = [v for v in on if not v.values["optimizer_offload"]]
    assert all(v.root == 0 and v.could_fit(root, 42.0)[0] and not v.could_fit(root, 38.0)[0] for v in alone)
    assert list(ds[0].rows(c)) == [True] * 3
    assert all("partition_activations" not in v.values
               for v in stack_variants(_job({"name": "megatron-deepspeed"}, recompute="selective")))
    mx = stack_variants(_job({"name": "maxtext"}))
    tiles = [v.values["num_vocab_tiling"] for v in mx if "num_vocab_tiling" in v.values]
    assert tiles == [1, *VOCAB_TILE_CHOICES]
    for v in mx[1:]:
        if v.values.get("num_vocab_tiling", 1) > 1:
            before = VOCAB_TILE_CHOICES[VOCAB_TILE_CHOICES.index(v.values["num_vocab_tiling"]) - 1] \
                if v.values["num_vocab_tiling"] != VOCAB_TILE_CHOICES[0] else 1
            assert [mx[q].values["num_vocab_tiling"] for q in v.parents] == [before] and v.relay
    assert all("num_vocab_tiling" not in v.values
               for v in stack_variants(_job({"name": "maxtext", "num_vocab_tiling": 4})))


def test_the_unsearched_trades_say_why():
    """The four options rec58 searches left ``UNSEARCHED``; the trades still there say where each could win and why
    the search does not try it there (Megatron-Core's TE loss kernel: what its trial as a fallback cost)."""
    from planner.model.stacks import SEARCHED, STACKS, UNSEARCHED, searched_on

    for k in ("partition_activations", "cpu_checkpointing", "num_vocab_tiling", "activation_offload_layers"):
        assert k in SEARCHED and k not in UNSEARCHED
    assert searched_on(STACKS["megatron-deepspeed"], "cpu_checkpointing") and searched_on(STACKS["maxtext"],
                                                                                          "num_vocab_tiling")
    assert "17.8M" in UNSEARCHED["cross_entropy_fusion"] and not searched_on(STACKS["megatron-core"],
                                                                              "cross_entropy_fusion")
    for k in ("remat_policy", "ac_freq"):
        assert "only where" in UNSEARCHED[k] and "fits" in UNSEARCHED[k] and "rec58" in UNSEARCHED[k], UNSEARCHED[k]
