"""Predicted vs measured peak GPU memory per training run (``data/parts/peak_memory.csv``).

Each row of the data file is one published training run with its full configuration and the peak
memory its stack logged. Rows are mapped onto the planner's inputs the way ``benchmarks/validate.py``
maps the same sources for step time (its helpers are imported, not copied):

* torchtitan (``titan24_*``, ``titan25_*``): the rows carry ``published_runs_2.csv``'s columns (the
  ``titan24`` rows are the same runs as its rows of the same id), so ``validate.pr2_case`` maps them
  (model, layout, micro-batch, precision, recompute) and ``validate.pr2_options`` names the stack
  options (compile, float8 recipe, async TP, early stop); the loss code follows the torchtitan version
  the source ran (``TITAN_EAGER_LOSS``).
* HF Trainer (``hfdoc_*``): one GPU, no parallelism; the planner preset the row names, the Trainer's
  defaults (eager attention, dropout on, ``mixed_precision: amp`` under ``fp16=True``), the row's
  micro-batch, gradient accumulation, checkpointing and optimizer (``hf_case``).

What each source measured decides what the prediction is compared with (``metric``; like with like):

* ``max_reserved`` (torch.cuda ``reserved_bytes.all.peak``: torchtitan's logged ``memory``): the
  caching allocator's pool, i.e. the planner's total less the memory the allocator never sees (the CUDA
  context and NCCL's communicator buffers, ``memory_per_gpu``'s ``outside_allocator``); the planner's
  fragmentation allowance stays in, as reserved memory includes fragmentation;
* ``nvidia-smi`` (the process' device memory after training): the planner's total;
* ``max_allocated`` / ``max_active``: the total less ``other`` (context, NCCL, fragmentation).

Run: ``python benchmarks/validate_memory.py [--csv out.csv]``: every row's predicted and measured GiB
and the signed error, then per source the median and p90 absolute error.

Known residue, not modelled (nothing fitted; numbers as of the commit adding this file's sources):

* torchtitan 2024-12, eager vs compiled blocks: the same 8B runs log 82.4 / 67.0 GiB eager and 77.0 /
  62.0 compiled (5.4 / 5.0 GiB apart at 8 and 128 GPUs). Since mem56 (2026-12-07) the compiled blocks keep no w2
  output under per-op SAC (activations ``COMPILED_DEAD_SAVES``, measured on CPU Inductor: -4.2 GiB at 16K tokens a
  rank) and the eager loss's 16-bit logits' block, free in the pool at the loss's peak, is in the max_reserved and
  nvidia-smi figures (``comparable``: ``memory_per_gpu``'s ``pool_free_last``, +2 B a logit, not in ``total``): eager
  -7.0 / -6.6% -> -2.4 / -0.9%, compiled -0.5..+1.3% -> -1.0..+0.6%, 8B CP 1-8 -8% -> +0.6..+1.3%, 70B 2D -13.6 /
  -8.1% -> -8.6 / -2.7%. The MI300X rows (compiled loss, no free block) -2.6 -> -8.0%: not priced; their torch (ROCm
  6.4, 2025-08) ignored torchtitan's ``expandable_segments:True`` (ROCm support: pytorch/pytorch#177974, 2026), so
  their pool ran on default segments, the only torchtitan rows that did; a rough replay of that pool
  (benchmarks/titan_pool_replay.py) explains ~0.4 GiB of the 3 (docs/accuracy_log.md "mem56b").
* torchtitan 70B FSDP 32 x TP 8: 71.9 GiB without async TP, 67.6 with it; predicted 62.1 (-13.6% / -8.1%) since
  mem55 (2026-12-07) priced the LM head's all-gathered bf16 input (torchtitan's ``ColwiseParallel(input_layouts=
  Shard(1))`` head saves the whole sequence beside the loss's peak; activations ``logits_bytes`` ``gathered_head``;
  60.3 before). Left: the 4.3 GiB between the two rows (async TP's all-gathers in SymmetricMemory, outside the pool)
  and the rest of the pool at the loss (docs/accuracy_log.md "mem55").
* torchtitan 405B with PP (Tables 5-6): -8% to -22% after the PP unsharding (they were -52% to -59%).
  Since mem54 (2026-12-07) PyTorch's context_parallel ring backward's buffers are priced
  (``activations.cp_torch_ring_transient``: the all-gathered K/V of every CP rank beside fp32 gradient
  accumulators and the gradient ring's copies, (2 cp + 20) K + 3 Q, 3.4-4.9 GiB at CP 2-8 here), and
  torch.distributed.pipelining's gradient receive buffers, one a micro-batch on each stage before the last, held
  all step (``memory_stages.grad_recv_buffers``: 8 x 128 MiB on rank 0, twice that under interleaving): 1F1B
  -17.5 -> -16.3%, interleaved -6.4 -> -3.5%, CP 1 / 2 / 4 / 8 -9.6 / -10.4 / -11.8 / -19.9% -> -8.3 / -4.3 /
  -5.1 / -12.6%. Not explained: the measured step from CP 4 to CP 8 (+7.8 GiB at the same tokens a rank) and the
  9.8 GiB between the 1F1B and interleaved rows: at 8 micro-batches torch's ``ScheduleInterleaved1F1B`` warms rank
  0 up through all 16 of its chunk-forwards, as ``Schedule1F1B`` holds all 8 micro-batches of its one stage, and
  the planner prices rank 0's layer activations alike for both (18.5 GiB). The interleaved row's micro-batch count
  is not stated (mapped as validate.py does, local batch / PP: torchtitan 9dec370 defaults ``n_microbatches`` to the
  PP degree; pytorch/torchtitan#781, 2025-01-07, made it PP x stages a rank, after the runs). Since mem57 (2026-12-07)
  the last stage keeps every micro-batch's fp32 logits (torch.distributed.pipelining's ``output_chunks``, 15.7 GiB
  here; ``TITAN_PP_OUTPUTS``): the last rank now peaks, 1F1B -15.5 -> -8.5%, CP 1 / 2 / 4 / 8 -> +0.3 / -0.5 / -2.1 /
  -11.1%, interleaved -2.6 -> +15.4% -- its last rank was priced with both stages' fp32 gradient accumulators beside
  the warm-up's activations, where FSDP2 makes a chunk's accumulators at its first backward and frees them at its
  last; mem57b (2026-12-07) prices that order (``pipeline.accumulator_states``): interleaved +15.4 -> -0.6%.
* torchtitan's head / root FSDP unit (fsdpmem, 2026-12-02; modelled since titanroot, 2026-12-02: ``Stack.fsdp2_root``,
  ``TITAN_ROOT_UNIT``): FSDP2 never reshards the root after forward, and the 2024-12 torchtitan leaves the embedding,
  final norm and LM head in the root unit, gathered in bf16 all step (+1.96 GiB on Llama-3-8B); the 2025-08 runs'
  ``[norm, output]`` unit is gathered beside the prefetched last layer (+0.57 GiB). Still not modelled: the root's
  bf16 unsharded gradients of the 2024-12 layout (reduce-scattered only at the end of backward; 1.05 GB of head
  gradient from the head's backward on), and the embedding unit's re-gather at the end of backward. Tried and left
  out: since #1094 the head unit's own fp32 reduce-scatter input (525M x 4 B on 8B, held until the last layer's
  post-backward) beside the last layer's bf16 gradient, max(6 x layer, 4 x head + 2 x layer) = +1.15 GiB on 8B,
  moves the MI300X rows from 0.5 / 0.8% (median / p90) to 2.4 / 2.8%.
* Gradient shards at the loss peak (titanroot, 2026-12-02; looked at, not changed): torchtitan's train loop calls
  ``optimizers.zero_grad()`` (torch's ``set_to_none=True``) before each forward (train.py at 2024-12), so with one
  micro-batch (every non-PP row here) no fp32 gradient shard exists at the loss, where ``memory_per_gpu`` sums the
  states, activations and logits into one peak (3.74 GiB on 8B over 8 GPUs). Dropping them there makes every
  torchtitan source worse: 2024-12 median / p90 4.0 / 13.5% -> 6.0 / 13.5% (mean -5.0 -> -7.1%), torchao H100
  1.8 -> 6.1%, MI300X 0.5 -> 10.0%; the measured max_reserved (the caching allocator's pool, which keeps freed
  blocks) is at or above the sum with them.
* HF Trainer BERT (nvidia-smi): -9% to -17% on every row. bertmem50 priced the 2022 Trainer's gradients held
  through the forward (``HF_ZERO_GRAD_KEEPS``; the one-micro-batch rows were -17..-21%, then -8..-12%); head50
  priced the rows as the 2-label classifier they train (``HF_ROW_HEADS``), not the preset's MLM head, whose
  vocabulary-wide tensors and transform rows (0.1-0.8 GiB a row) they never made. ctx51 priced the page's runtime, which
  loads every kernel module at start (``HF_EAGER_MODULES``: +1.04 GiB of CUDA context, its measured 1343 MB less
  PyTorch's lazy context; -9..-17% -> -10..+8%). bert52 priced the page's torch 1.10 softmax, which keeps its input
  for the backward (``HF_SOFTMAX_KEEPS_INPUT``: +16 MiB a sequence and layer; the batch-4 rows -6..-10% and the ga-4
  rows +1..+8% -> every row +2..+8%). bert53 charged the eager runtime's context in place of today's 0.75 GiB, not on
  top of it (planner.hardware.cuda_runtime ``EAGER_CONTEXT_BYTES``: the page's 1343 MiB + cuBLAS's own 4 MiB pool on
  each of 2 handles = 1.32 GiB, was 1.79): every row -3.9..+2.6%. Left: the 5% reserve, where a replay of the runs'
  allocations through the allocator's rules leaves 0.12-0.18 GiB of the pool unallocated, 1.9-8.6% of the dynamic
  part (docs/accuracy_log.md "bert52", "bert53").
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validate import error_stats, gpt_model, pr2_case, pr2_options, report, row_stack  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.layout import Candidates  # noqa: E402
from planner.model import stacks  # noqa: E402
from planner.model.memory import GiB, allocator_reserve, memory_per_gpu  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.vocab import RECOMPUTE, SCHEDULE  # noqa: E402

DATA = Path(__file__).parent / "data" / "parts" / "peak_memory.csv"

def source_of(rid: str) -> str:
    """The per-source group of a row (one table of one stack)."""
    for prefix, name in SOURCES:
        if rid.startswith(prefix):
            return name
    raise KeyError(rid)


#: row-id prefix -> the per-source group of the error table
SOURCES = (("titan24_", "torchtitan llama3 H100 (2024-12)"), ("titan25_ao_h100", "torchao float8 README H100 (2025-03)"),
           ("titan25_ao_mi300x", "torchao float8 README MI300X (2025-08)"), ("hfdoc_", "HF Trainer bert-large V100 (docs)"),
           ("mcoreci_", "Megatron-Core CI 7B memory_speed (H100/A100)"))


def comparable(mem: dict, metric: str, rank: str = "max") -> float:
    """The planner's figure that is like the row's measured ``metric`` (module docstring), for the
    rank the source logged (``rank_logged``: "max" over all GPUs, or the "last" pipeline stage's)."""
    last = rank == "last"
    total = float(mem["total_last" if last else "total"][0])
    if metric in ("max_allocated", "max_active"):
        return total - float(mem["other_last" if last else "other"][0])
    # the pool also holds the free blocks the loss leaves on the last stage (``pool_free_last``), not in ``total``
    pooled = float(mem["total_last"][0]) + float(mem["pool_free_last"][0])
    pool = pooled if last else max(total, pooled)
    if metric == "max_reserved":
        return pool - float(mem["outside_allocator"][0])
    if metric == "nvidia-smi":
        return pool
    raise ValueError(metric)


#: torchtitan's loss code by the version a source ran (planner.model.activations.LOSS_TRANSIENT_BYTES):
#: torchtitan compiles its cross-entropy under ``--training.compile`` since PR #1033 (merged 2025-04-01,
#: ``build_loss_fn``; later ``compile.components``, default model and loss). The torchao README's MI300X
#: runs (torchtitan 2c8b5947, 2025-08, torch.compile on) come after it; its H100 runs (torch
#: 2.7.0a0+gitb98af95, published 2025-03-12) and the 2024-12 benchmark (9dec370) before: the stack's
#: own eager loss even with compiled blocks (``Stack.loss_compiles`` off for them)
TITAN_EAGER_LOSS = ("titan24", "titan25_ao_h100")


#: torchtitan's FSDP2 units outside the blocks by the version a source ran (``Stack.fsdp2_root``): PR #1094 (merged
#: 2025-07, after its "Rebase to merge" of 2025-07-29) wraps the embedding and ``[norm, output]`` apart; before it
#: (the 2024-12 benchmark at 9dec370, the torchao README's H100 runs of 2025-03) they are the root unit, kept gathered
#: all step ("embed_head"). The torchao README's MI300X runs (torchtitan 2c8b5947, torch nightly 2025-08-11) run the
#: stack's default, "head"
TITAN_ROOT_UNIT = ("titan24", "titan25_ao_h100")


#: torchtitan's pipelined runs whose last stage keeps every micro-batch's fp32 logits until the next step, by the
#: version a source ran (``Stack.pp_kept_output_bytes``, memory_activations ``pp_kept_outputs``): the 2024-12 benchmark
#: (torchtitan 9dec370 on torch 1963fc8): its ``Transformer.forward`` returns ``self.output(h).float()`` (4 B a logit),
#: train.py runs ``pp_schedule.step(target=labels, losses=losses)`` on the last stage, and torch's stage appends each
#: last-stage output to ``output_chunks`` for ``step``'s merged return (before ``return_outputs`` existed). torchtitan
#: since pytorch/torchtitan#1922 (2025-10-21) passes ``return_outputs=False`` and keeps none (the stack's default 0,
#: mem57c); the torchao rows do not pipeline. ``step``'s merged return (a ``torch.cat`` of them, discarded by train.py)
#: is priced with them (memory ``pp_merge_parts``, mem58): ~50 GiB on the 405B rows' last rank, below the step's 76
TITAN_PP_OUTPUTS = {"titan24": 4.0}


def titan_case(cat, r):
    """(model, training, candidates, stack) of a torchtitan row: ``validate.pr2_case`` on the row
    (its columns are published_runs_2.csv's), the stack with the options its source states, and the
    loss code, root unit and pipeline's kept outputs of the torchtitan version the source ran (``TITAN_EAGER_LOSS``,
    ``TITAN_ROOT_UNIT``, ``TITAN_PP_OUTPUTS``)."""
    case = pr2_case(cat, r)
    st = row_stack(case.stack, pr2_options(r, case.stack))
    if r.id.startswith(TITAN_EAGER_LOSS):
        st = replace(st, loss_compiles=False)
    if r.id.startswith(TITAN_ROOT_UNIT):
        st = replace(st, fsdp2_root="embed_head")
    kept = next((b for k, b in TITAN_PP_OUTPUTS.items() if r.id.startswith(k)), 0.0)
    if kept:
        st = replace(st, pp_kept_output_bytes=kept)
    return case.model, case.training, case.candidates, st


def mcore_case(cat, r):
    """(model, training, candidates, stack) of a Megatron-Core CI row: the GPT its arguments build
    (``validate.gpt_model``: LayerNorm, learned positions, GeLU, biases; here grouped-query attention
    and untied embeddings as the row says), Megatron's defaults for what the arguments leave out
    (dropout 0.1, TE attention, no sequence parallelism, no recompute), bf16 with fp32 gradient
    accumulation, the distributed optimizer (ZeRO-1 over DP), the interleaved schedule where a
    virtual pipeline is set; megatron-core without TP comm overlap (no ``--tp-comm-overlap``) and with the unfused
    loss (no ``--cross-entropy-loss-fusion``: Megatron-Core's default, ``cross_entropy_fusion`` none)."""
    m = gpt_model(r.layers, r.hidden, r.heads, r.vocab, r.seq_len, r.ffn_hidden)
    m = m.model_copy(update={"kv_heads": int(r.kv_heads), "tied_embeddings": False})
    vpp = int(r.vpp) if r.vpp == r.vpp and r.vpp else 1
    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=int(r.global_batch_seqs), micro_batch=int(r.micro_batch),
                      precision="bf16", weights="megatron", grad_dtype="fp32", flash_attention=True, dropout=True,
                      recompute="none")
    c = Candidates(tp=np.array([int(r.tp)]), pp=int(r.pp), dp=int(r.dp), cp=1, ep=1, vpp=vpp,
                   zero=1 if "distributed optimizer" in r.zero_or_fsdp else 0, mb=int(r.micro_batch),
                   rc=RECOMPUTE.code["none"], sp=False, schedule=SCHEDULE.code["interleaved" if vpp > 1 else "1f1b"],
                   gpus_per_node=int(r.gpus_per_node), nodes=1)
    return m, tr, c, stacks.resolve("megatron-core", tp_overlap="none", cross_entropy_fusion="none")


#: HF Trainer rows whose Trainer zeroes the ``.grad`` tensors in place (``Stack.zero_grad_frees`` False): transformers'
#: "Efficient Training on a Single GPU" page ran transformers 4.16-era code on torch 1.10 (2022-01): its trainer.py
#: ``train`` calls ``model.zero_grad()`` after the step and torch before 2.0 defaults to ``set_to_none=False``
#: (pytorch/pytorch#92731; the Trainer passes ``set_to_none=True`` since huggingface/transformers#22136, 2023-03)
HF_ZERO_GRAD_KEEPS = ("hfdoc_",)

#: HF Trainer rows whose CUDA runtime loads every kernel module at start (``Stack.cuda_module_loading`` "eager"): the
#: "Efficient Training on a Single GPU" page ran torch 1.10 on CUDA 11.x (2022-01), before CUDA 11.7's lazy loading and
#: torch 1.13's ``CUDA_MODULE_LOADING=LAZY`` default (pytorch/pytorch#86509); the page measures that context, 1343 MB
#: (planner.hardware.cuda_runtime ``CUDA_RUNTIME_FIGURES``)
HF_EAGER_MODULES = ("hfdoc_",)

#: HF Trainer rows whose torch keeps each softmax's input for the backward (``Stack.softmax_keeps_input``): the
#: "Efficient Training on a Single GPU" page ran torch 1.10 (2022-01), before pytorch/pytorch#65242 (torch 1.11)
#: stopped ``SoftmaxBackward`` saving ``self``
HF_SOFTMAX_KEEPS_INPUT = ("hfdoc_",)

#: HF Trainer rows whose model is not their preset's head (``model.output_head``), by id prefix: the "Efficient
#: Training on a Single GPU" page trains ``AutoModelForSequenceClassification`` with 2 labels (its notes column), the
#: pooler and a 2-wide classifier where the bert-large preset has the MLM head over every token
HF_ROW_HEADS = {"hfdoc_": dict(output_head="classifier", num_labels=2)}


def hf_case(cat, r):
    """(model, training, candidates, stack) of an HF Trainer row on one GPU (module docstring); the row's head
    (``HF_ROW_HEADS``); the Trainer's ``zero_grad`` as its version ran it (``HF_ZERO_GRAD_KEEPS``); the runtime's
    module loading (``HF_EAGER_MODULES``)."""
    from planner.spec.presets import PRESETS

    head = next((v for k, v in HF_ROW_HEADS.items() if r.id.startswith(k)), {})
    model = ModelSpec(**PRESETS[r.preset], **head)
    fp16 = str(r.precision).startswith("fp16")
    rc = RECOMPUTE.code["full"] if str(r.recompute).startswith("full") else RECOMPUTE.code["none"]
    mb = int(r.micro_batch)
    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=int(r.global_batch_seqs), micro_batch=mb,
                      precision="fp16" if fp16 else "fp32", weights="amp", optimizer=r.optimizer,
                      flash_attention=False, dropout=True, recompute=RECOMPUTE.names[rc])
    c = Candidates(tp=np.array([1]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=mb, rc=rc, sp=False,
                   schedule=SCHEDULE.code["1f1b"], gpus_per_node=1, nodes=1)
    st = stacks.resolve("hf-trainer")
    if r.id.startswith(HF_EAGER_MODULES):
        st = replace(st, cuda_module_loading="eager")
    if r.id.startswith(HF_SOFTMAX_KEEPS_INPUT):
        st = replace(st, softmax_keeps_input=True)
    return model, tr, c, replace(st, zero_grad_frees=False) if r.id.startswith(HF_ZERO_GRAD_KEEPS) else st


#: each stack's mapping of a row onto the planner's inputs
CASES = {"torchtitan": titan_case, "hf-trainer": hf_case, "megatron-core": mcore_case}


def rows(path=None) -> pd.DataFrame:
    """Every row of the data file with its prediction (GiB) and signed error."""
    cat = load_catalog()
    d = pd.read_csv(path or DATA)
    out = []
    for r in d.itertuples():
        model, tr, c, st = CASES[r.stack](cat, r)
        mem = memory_per_gpu(model, tr, c, stack=st)
        pred = comparable(mem, r.metric, r.rank_logged) / GiB
        parts = {k: float(mem[k][0]) / GiB for k in ("weights", "grads", "optimizer", "activations", "logits", "other")}
        # the part of ``other`` that is the caching allocator's reserve (in a max_reserved or nvidia-smi prediction,
        # not in a max_allocated one)
        parts["allocator_reserve"] = float(allocator_reserve(mem["activations"][0] + mem["logits"][0])) / GiB
        out.append(dict(source=source_of(r.id), id=r.id, metric=r.metric, measured_gib=float(r.measured_gib),
                        predicted_gib=pred, **{f"{k}_gib": v for k, v in parts.items()}))
    df = pd.DataFrame(out)
    df["err"] = df["predicted_gib"] / df["measured_gib"] - 1
    return df


def error_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per source: rows, median and p90 absolute error, mean signed error, and the metric compared."""
    return pd.DataFrame([dict(source=src, rows=len(g), metric="/".join(sorted(set(g["metric"]))), **error_stats(g["err"]))
                         for src, g in df.groupby("source", sort=False)])


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="write every row's prediction here")
    args = ap.parse_args(argv)
    df = rows()
    pd.set_option("display.width", 200)
    show = df[["source", "id", "metric", "measured_gib", "predicted_gib", "err"]].copy()
    show["err"] = (show["err"] * 100).map(lambda x: f"{x:+.1f}%")
    print(show.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print()
    return report(error_table(df), df, args.csv)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
