"""Serving: does a model meet a latency and memory budget on a GPU, how many GPUs per replica,
how many replicas for the QPS, and what a million requests cost — ``planner serve job.yaml``.

**LLMs** (decoder / MoE) are served with continuous batching (Orca, Yu et al. OSDI 2022) and a
paged KV cache (vLLM, Kwon et al. SOSP 2023) with chunked prefill mixed into decode iterations
(Sarathi-Serve, Agrawal et al. OSDI 2024). One replica is ``tp`` GPUs of one node (tensor
parallel, Megatron-style: weights and KV heads split ``tp`` ways, two all-reduces per layer, timed
as vLLM's custom all-reduce, ``tp_allreduce_time``).

Each iteration of a replica running ``B`` sequences is a roofline (Williams et al. 2009; applied
to LLM inference in "LLM Inference Unveiled: Survey and Roofline Model Insights", Yuan et al.
2024, §3): ``max(FLOPs / (peak x gemm_eff), bytes / (HBM x hbm_eff))`` plus the TP all-reduces
and a GPU-side gap per kernel (CUDA graphs remove host launch cost in decode), at the GPU class's
priors times the serving engine's efficiency (``serving.engine``; planner/model/serving_efficiency.py:
achieved HBM fraction, prefill compute factor, reachable FP8 speed-up, host time per step, GEMM rows
in 64-row tiles, 16-row for the weight-only int4 kernels):

* decode: each of the B sequences adds one token: FLOPs = 2 x weights-per-token FLOPs + the
  attention core over its context (4 x ctx x q_dim per layer); bytes = the weights once (MoE: only
  the experts some sequence routes to, E x (1 - (1 - k/E)^B) per layer) + each sequence's KV cache;
* prefill (chunked, steady state): at full batch B/O sequences finish per iteration (O = output
  tokens), so B x P/O prompt tokens (P = prompt tokens) are prefilled in each iteration —
  compute-bound work added to the same iteration (causal attention: P/2 context on average).

KV cache per token (NVIDIA, "Mastering LLM Techniques: Inference Optimization", 2023):
``2 (K and V) x layers x kv_heads x head_dim x bytes`` — GQA-aware; with tp > kv_heads each GPU
keeps one whole KV head (vLLM replicates KV heads). Weights: a quantised checkpoint (fp8, int8,
int4 AWQ / GPTQ) stores only the transformer blocks' linear weights in its format — fp8 / int8 1 B
(int8 + one fp32 scale per output row), int4 0.5 B + an fp16 scale and a 4-bit zero per group of
128 — and keeps the embedding table, the LM head and the norms in 16 bits, as vLLM, ModelOpt /
TensorRT-LLM and the AWQ / GPTQ quantisers do (``weight_bytes``, ``quantised_params``).
GEMMs run at the bf16 peak x the engine's reachable FP8 speed-up for W8A8 fp8/int8 (not the
catalog's 2x); int4 is weight-only (W4A16: bf16 math, 4-bit
reads) and so is fp8 on a GPU with no fp8 units (vLLM's Marlin FP8 path on Ampere); weight-only
GEMMs pad the batch to 16-row tiles (Marlin's), not 64 (serving_efficiency.WEIGHT_ONLY_TILE_ROWS),
so a small-batch int4 decode is memory-bound, as Marlin measures it. MXFP4 experts under vLLM below
compute capability 9 (A100, Ada) run through Marlin at its padded dims (``mxfp4_expert_pad``: stored,
read and multiplied, gpt-oss 1.09x); on Hopper too up to vLLM 0.11.0, which did not install triton_kernels
(``ServingEfficiency.mxfp4_native``; a plan prices the current release). Attention runs at the engine kernel's rate for the model's head
dim (``ServingEfficiency.attn_kernel``; FA3 at head dim 64 on H100/H200: 0.77 of its head-dim-128 rate).

**Definitions.** TPOT p99 := the p99 over requests of one request's time per output token as the simulation
counts it (``request_tpot``; ``tpot_quantile``): the mean of its decode iterations, every one of the B slots full
at mean context (prompt + output/2), a share of them carrying the other B - 1 slots' next prompts as the engine
schedules them (``lumped_parts``; its own prefill is in its TTFT), binomial over its output length's steps -- at the
token budget that keeps it least (``screen_tpot``; until tpot33 the steady state ``llm_tpot`` was used as the p99);
throughput uses the iteration with all B slots' prefill share as the engine runs it, the prompts in lumps
(``lumped_iteration``: steps after a finish carry the next prompts, the others decode only). The engine's batch
(``max_num_seqs``) is the largest B whose full-batch p99 TPOT meets the target; with a QPS the TPOT the plan states
is at the load a replica of the analytic size sees (``screen_concurrency``: Little's law, B = 1 + the requests in
flight, capped at the batch), a full batch only at full load. Offline jobs are sized by the time their requests take
(``offline_run``). TTFT := at the load a replica sees (``llm_ttft``): the
iteration running when the request arrives, if the replica is busy (probability 1 - e^-L, L in flight), then its
prompt's prefill beside the others' decodes (chunked prefill, vLLM V1; over several steps when it is longer than the
token budget): about one prefill at low load; with the queues for a batch slot and for the prefill budget at the
replica's rate (Erlang C / Allen-Cunneen, ``queue_wait``), none stated at or past a capacity. The TTFT stated and
judged against ``serving.ttft_ms`` (a p99 target) is the p99 (``TTFT_QUANTILE``, ``ttft_quantile``: the p99
prompt's prefill, the queues' exponential tails); the mean serves Little's law. The batch
is sized with the p99 TTFT of a full batch (L = B). Memory: the KV cache of B sequences at
full context (prompt + output) must fit in ``gpu_memory_utilization`` x HBM - weights.

**Sliding-window and chunked local attention** (``model.local_layers`` with ``sliding_window``:
Gemma 2/3, gpt-oss, Llama 4, Phi-3): a local layer's query sees at most its window of w tokens, so
its KV beyond the window is dead. vLLM V1's hybrid KV cache manager frees it: a sequence at context
c keeps the global layers' KV of c tokens and the local layers' of min(c, w) (``KVLayout``; each
engine's rule is ``ServingEfficiency.local_kv``, planner/model/serving_efficiency.py: SGLang splits
two fixed pools for the architectures it lists (Llama 4, gpt-oss) and keeps the others whole, TensorRT-LLM keeps
every layer whole). That sets the memory-limited batch, the
KV capacity (in tokens of sequences at the job's context), the simulation's blocks per sequence,
and — for every engine, since the attention kernel skips keys outside the window — the decode
step's KV read and attention FLOPs (the local layers' min(ctx, w) keys,
``planner.model.flops.local_keys``). ``kv_bytes_per_token`` keeps its meaning: every layer, whole
context. MLA models keep their one latent per layer whole (unchanged).

**Shared prompt prefix** (``serving.shared_prefix_tokens`` = P_s: a system prompt, few-shot examples
every request starts with): the engine's prefix cache (vLLM V1 automatic prefix caching, on by default;
SGLang RadixAttention; TensorRT-LLM KV cache reuse) finds the prefix's whole blocks — H tokens,
``shared_prefix``, the engine's granularity ``ServingEfficiency.prefix`` — already computed, so (1) a
prefill computes only its N = P - H new tokens (attending to all P keys: N x H + N^2/2 pairs), in TTFT
and in the prefill share of every iteration; (2) the prefix's KV is held once per replica, not per
sequence (``kv_prefix_bytes``; the rest ``kv_bytes_per_sequence(..., shared=H)``), which sets the
memory-limited batch and the KV capacity; for a model with local layers only the whole-context
layers' prefix is counted once (the local layers keep their window per sequence: an upper bound);
(3) decode still reads every sequence's whole KV, the prefix included (paged attention reads each
sequence's blocks; vLLM's FlashAttention cascade attention, which can read a common prefix once per
batch, is not modelled). The simulation holds the prefix's blocks once per engine (Engine ``_share``).

A replica serves ``B / (O x iteration)`` requests/s (Little's law; the lumped iteration, ``llm_option``);
replicas = ceil(QPS / that), raised until the
queued p99 TTFT and TPOT at QPS / replicas meet the targets (``queue_replicas``; the simulation then searches down and up
from it), all at the token budget of the three that needs the fewest replicas (``budget_replicas``, serve45).
$ per million requests = replicas' $/h / (QPS x 3600) x 1e6 (real-time, provisioned for the QPS);
batch (offline) inference has no latency target and runs on spot when the job allows it; a job of
``serving.requests`` is sized by the time they take (``offline_run``): each replica's share at min(the
memory-limited batch, that share), the fewest replicas that meet the deadline, their nodes filled (a cloud bills whole
instances: ``ServingLimits.fill``), priced and ranked as billed, nodes x hours x the node's $/h. A serving-only job's constraints hold the plan (``ServingLimits``): ``max_gpus`` caps
replicas x GPUs per replica, ``min_gpus`` raises the replicas to a floor, and an offline job's
``budget_usd`` caps its total $ and ``deadline_hours`` is its deadline (``serving.deadline_hours``).

**Generic models** (``fwd_flops_per_sample``): dynamic batching on one GPU; a batch of B takes
``max(B x fwd_flops / (peak x eff), (weights + B x input) / HBM)``; a request waits for the running
batch then runs in the next: p99 latency := 2 x batch time.

**Where each part lives.** This module plans: the options, the limits, the simulations' refinement of the analytic
size, the ranking and the notes. One option's analytic size (the batch, the token budget, the throughput, the replicas
and the p99 TTFT / TPOT at its load: ``llm_option``, ``generic_option``, ``queue_replicas``, ``llm_ttft``,
``burst_parts``, ``offline_run``) is planner/workloads/serving_screen.py (here until split46c); a plan's month, year,
likely range and what-ifs are planner/workloads/serving_budget.py; the queues' waits and the p99s over requests are
planner/workloads/serving_queue.py. The simulation settings and the workloads they draw are
planner/workloads/serving_settings.py (``SimSettings``, ``settings_for``, ``length_dists``, ``sim_workload``); the time
of one engine step is planner/workloads/serving_iteration.py (``IterationModel``, ``llm_tpot``, ``prefill_time``); the
bytes of the weights and the KV cache are planner/workloads/serving_memory.py (``weight_bytes_per_gpu``,
``kv_bytes_per_token``, ``KVLayout``, ``shared_prefix``). Each imports nothing above it (pyproject.toml's serving
layers contract).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from itertools import chain, count
from statistics import NormalDist
from typing import Callable, Iterator, Optional

import numpy as np

from planner.errors import InfeasibleError, InputError, clip
from planner.hardware.options import cluster_options, gpu_hour_rate, rent_basis, spot_above_rate, unmatched_gpus
from planner.search.recommend import left_out_lines
from planner.hardware.platform import PLATFORMS, platform_of
from planner.hardware.efficiency import gpu_family
from planner.model.cost import at_price_words, billed_hours, buy_power_assumption, price_region, rate_price_dates
from planner.model.serving_efficiency import engine_efficiency, engine_refusal, job_efficiency
from planner.model.physics import power_limit_words
from planner.results import LatencyPoint, ServingOption, ServingPlan, ServingSimulation, ServingTargets
from planner.spec.params import count_params
from planner.defaults import DP_LB_REFRESH_S, PLAN_EVENT_BOUND, TP_DEGREES  # one list of TP degrees (a replica: tp GPUs, one node)
from planner.spec.schema import MAX_DISAGG_REPLICAS, MAX_QPS, MAX_REASONABLE, MIN_RATE
from planner.spec import JobSpec, ServingSpec
from planner.simulate.serving import ArrivalSpec, EngineConfig, ServingSimConfig, cut_words, simulate_serving
from planner.simulate import serving as simulator  # its EVENT_BOUND read at plan time (a test may lower it)
from hardware_catalog import load_catalog
from hardware_catalog.skypilot import spot_rate_words
from planner.units import count_of, fmt_given, fmt_rate, fmt_run_time, fmt_usd
from planner.vocab import FLEET_QPS_BY, ON_DEMAND, SERVE_ALL2ALL, SERVE_OVERLAP, SPOT
from planner.workloads.serving_memory import (WEIGHT_BYTES, GiB, KVLayout, expert_params, kv_bytes_per_token,
                                              kv_layout, nodes_per_replica, replica_nodes, replicas_per_node, split_nodes,
                                              served_model, shared_prefix, weight_bytes)
from planner.workloads.serving_iteration import (BATCH_OVERLAP, EP_ALL2ALL, COMPUTE_DTYPE, IterationModel,
                                                 option_iteration, overlap_refusal, peak_refusal, rate_words)
from planner.workloads.serving_budget import (billed_nodes, billed_usd, budget_accuracy, fleet_bound, offline_budget,
                                              offline_range, serving_budget)
from planner.workloads.serving_screen import (BUDGET_BY_SCREEN, BUDGET_BY_SIMULATION, DisaggSize, OfflineRun,
                                              ScreenMemo, ServeTarget, SplitSide, disagg_size, engine_seats, prefill_budget,
                                              replica_seats, throughput_at, generic_option, llm_option, offline_run,
                                              offline_token_budget, replica_spec, screen_point)
from planner.workloads.serving_settings import (LENGTH_CLIP, REALTIME_TOKEN_BUDGET, SimSettings, arrival_spec, arrivals_words,
                                                backlog_arrivals, draw_workload, length_words, offline_deadline,
                                                settings_for, sim_workload, unused_sim_inputs)

#: the most GPUs one serving plan deploys (replicas x GPUs per replica) when ``constraints.max_gpus`` is open: the
#: largest ``max_gpus`` a job may set (2^20). ``qps: 1e9`` sized 60 million replicas; an option past this is shown,
#: not recommended, and a job that needs more from every option has no plan (``_hold``, ``_nothing_within``)
DEPLOYMENT_GPUS = MAX_REASONABLE["gpus"]
#: the field a job past ``DEPLOYMENT_GPUS`` changes, and what to do instead
PAST_DEPLOYMENT = {"serving.qps": "split the load into several services and plan each",
                   "serving.replicas": "plan a part of the fleet (fewer replicas) and scale the QPS it carries",
                   "serving.deadline_hours": "allow more time, or split the requests into several jobs"}
#: the weight precisions ``generic_option`` models for a generic model (a CNN, given by params and FLOPs): the math
#: runs at that dtype's catalog peak (TensorRT's fp16 / int8 / fp8 engines quantise convolutions and GEMMs alike).
#: The rest are refused, each with why: ``int4: precision`` on resnet50 planned 0.5-byte weights at bf16 speed.
GENERIC_PRECISIONS = ("bf16", "fp16", "fp8", "int8")
GENERIC_UNMODELLED = {
    "int4": "weight-only int4 (W4A16: AWQ / GPTQ / Marlin) has kernels for an LLM's linear layers, not convolutions",
    "mxfp4": "mxfp4 quantises an MoE LLM's experts only",
}
#: the serving fields only an LLM's model reads (tokens, KV cache, the LLM engine's efficiency): a generic model
#: given one is refused by name, not planned around unsaid
LLM_ONLY_SERVING = ("ttft_ms", "prompt_tokens", "output_tokens", "shared_prefix_tokens", "kv_precision", "engine")
#: the values of the other ``parallel`` fields a serving-only job may state, as they change nothing: a replica is
#: ``tp`` GPUs on one node (vLLM's tensor_parallel_size) or, for an MoE model, ``ep`` GPUs of expert parallelism;
#: pipeline and context parallel serving are not modelled
SERVING_PARALLEL_TRIVIAL = {"pp": 1, "cp": 1, "ep": 1, "vpp": 1, "schedule": "1f1b"}


def split_refusal(m) -> Optional[str]:
    """Why served model ``m`` takes no prefill-decode split (``serving.disaggregation``), or None: a generic model has
    no prompt prefill nor token decode to put on replicas of their own."""
    return None if m.is_transformer else "splits an LLM's prefill and decode; a generic model has neither (leave it off)"


def serving_splits(job: JobSpec, m) -> tuple[tuple[int, bool], ...]:
    """The (GPUs per replica, expert parallel) layouts ``serve`` sizes (``serving_memory.ReplicaSplit``): each of
    ``TP_DEGREES`` (or the job's ``parallel.tp`` where a serving-only job fixes it) tensor parallel and, for an MoE
    model, expert parallel over the same GPUs (data-parallel attention; not at one GPU, where both are TP1).
    ``serving.expert_parallel`` true / false keeps one of the two; a serving-only job's ``parallel.ep: n`` fixes
    expert parallelism over n GPUs (``parallel.tp`` then 1, as vLLM's ``--data-parallel-size n
    --enable-expert-parallel`` runs it, or n). Refused: expert parallelism for a dense model, and a serving-only job's
    other ``parallel`` fields (``SERVING_PARALLEL_TRIVIAL`` aside): the replicas follow from the QPS. On a job with a
    training section ``parallel`` is the training's layout and serving searches every degree. Until QA 34 no serving
    code read the section: ``parallel: {tp: 4}`` on Llama-3-70B recommended TP2, and ``pp: 2`` went unsaid."""
    s = job.serving
    ep_asked = bool(s.expert_parallel)
    ep = None
    tps = TP_DEGREES
    if "training" not in job.model_fields_set:
        p = job.parallel
        for f in (f for f in type(p).model_fields if f in p.model_fields_set and f not in ("tp", "ep")):
            v = getattr(p, f)
            if v is None or SERVING_PARALLEL_TRIVIAL.get(f) == v:  # None: left open, as the app's forms write it
                continue
            why = ("the replicas follow from serving.qps (each option's replicas column)" if f in ("dp", "dp_shard")
                   else "serve splits a replica over tensor parallelism (parallel.tp: its GPUs on one node, vLLM's "
                   "tensor_parallel_size) or an MoE model's experts (parallel.ep); pipeline and context parallel "
                   "serving and training's sharding and schedule are not modelled")
            raise InputError(f"parallel.{f}", f"{why}: leave it out of a serving job")
        ep = p.ep if "ep" in p.model_fields_set and p.ep not in (None, 1) else None
        tps = TP_DEGREES if p.tp is None else (p.tp,)
        if ep is not None:
            if p.tp is not None and p.tp not in (1, ep):
                raise InputError("parallel.tp", f"an expert-parallel replica runs attention data-parallel at TP 1 over "
                                                f"its ep = {ep} GPUs (vLLM --data-parallel-size {ep} "
                                                f"--enable-expert-parallel): set tp 1 or leave it out")
            if s.expert_parallel is False:
                raise InputError("serving.expert_parallel", f"false contradicts parallel.ep: {ep}; leave one out")
            tps, ep_asked = (ep,), True
    if m.moe is None:
        if ep_asked:
            field = "parallel.ep" if ep is not None else "serving.expert_parallel"
            raise InputError(field, f"expert parallelism spreads an MoE model's experts over a replica's GPUs; "
                                    f"{m.name} is dense (no model.moe): leave it out")
        return tuple((tp, False) for tp in tps)
    if ep_asked and all(tp == 1 for tp in tps):
        raise InputError("serving.expert_parallel", "expert parallelism spreads the experts over 2 or more GPUs; "
                                                    "parallel.tp: 1 leaves one (it is TP1)")
    modes = (False, True) if s.expert_parallel is None and ep is None else (ep_asked,)
    return tuple((tp, e) for tp in tps for e in modes if not (e and tp == 1))


#: the nodes an expert-parallel replica is searched over where no one-node layout holds the model (``wide_ep_layouts``):
#: vLLM's wide-EP deployments run DP attention + EP over 2-4 nodes and more (docs.vllm.ai "Expert Parallel
#: Deployment": multi-node with ``--data-parallel-size-local``; LMSYS 2025-05, "Deploying DeepSeek with PD
#: Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs": decode on 4 nodes, EP32); ``parallel.ep`` fixes
#: any multiple of a node
EP_SPAN_NODES = (2, 4)


def replica_fits_nodes(gpus: int, ep: bool, hw) -> bool:
    """Whether a replica of ``gpus`` GPUs can run on hardware option ``hw``: within one node, or, expert parallel
    (``ep``), over whole nodes of an instance that forms a cluster (``HardwareOption.multi_node``; serveep49: vLLM's
    ``--data-parallel-size`` across nodes, ``--data-parallel-size-local`` each node's GPUs). A TP replica stays on one
    node (vLLM's custom all-reduce is single-node; TP across nodes is not modelled)."""
    g = hw.gpus_per_node
    return gpus <= g or (ep and hw.multi_node and gpus % g == 0)


def wide_ep_layouts(splits, hw, fits_one: list) -> Iterator[tuple[int, bool]]:
    """The expert-parallel layouts over ``EP_SPAN_NODES`` whole nodes of ``hw`` beside the searched ``splits``:
    generated after those (a generator, read once they are sized), and only where none of them held the model on one
    node (``fits_one[0]``, which the search sets) and EP is searched without a fixed size (``parallel.ep`` gives its
    own). One node is cheaper and faster when it holds the model: no NIC in every MoE layer."""
    if len(splits) == 1 or not any(ep for _, ep in splits):
        return
    for k in EP_SPAN_NODES:
        if not fits_one[0] and hw.multi_node:
            yield k * hw.gpus_per_node, True


def all2all_backends(s: ServingSpec, hw, m) -> tuple[str, ...]:
    """The token exchanges ``serve`` sizes an expert-parallel option of model ``m`` on ``hw`` with: the job's
    ``serving.all2all_backend`` where set, else each of ``vocab.SERVE_ALL2ALL`` that ``hw``'s GPU runs for ``m``
    (``serving_iteration.EP_ALL2ALL``: DeepEP's low-latency kernels on Hopper and later with NVLink, hidden <= 8,192)."""
    names = (s.all2all_backend,) if s.all2all_backend else SERVE_ALL2ALL.names
    return tuple(n for n in names if EP_ALL2ALL[n].refusal(n, hw.gpu, m, s.engine) is None)


def _check_all2all(s: ServingSpec, splits, hws, m) -> None:
    """Refuse ``serving.all2all_backend`` where it cannot apply: no expert-parallel option is searched (a dense model,
    ``expert_parallel: false``), or no hardware option's GPU runs it (the first one's reason)."""
    b = s.all2all_backend
    if b is None:
        return
    if not any(ep for _, ep in splits):
        raise InputError("serving.all2all_backend", "it is an expert-parallel replica's token exchange; this job "
                                                    "sizes no expert-parallel option (a dense model, or "
                                                    "serving.expert_parallel: false): leave it out")
    if EP_ALL2ALL[b].engine_refusal(b, s.engine):
        raise InputError("serving.all2all_backend", f"{EP_ALL2ALL[b].engine_refusal(b, s.engine)}; leave it out, or set "
                                                    f"serving.engine: {EP_ALL2ALL[b].engines[0]}")
    why = [r for r in (EP_ALL2ALL[b].refusal(b, hw.gpu, m) for hw in hws) if r is not None]
    if hws and len(why) == len(hws):
        raise InputError("serving.all2all_backend", f"{why[0]}; leave it out, or choose hardware that runs it")


def batch_overlaps(s: ServingSpec, backend: Optional[str]) -> tuple[Optional[str], ...]:
    """The two-batch overlaps ``serve`` sizes an option exchanging tokens by ``backend`` with (``vocab.SERVE_OVERLAP``;
    None for a TP option, ``backend`` None): the job's ``serving.batch_overlap`` where set, else none and, where the
    engine runs it over ``backend`` (``serving_iteration.BATCH_OVERLAP``: SGLang over its DeepEP, vLLM over DeepEP's
    low-latency kernels), two_batch; an overlap the engine cannot run over ``backend`` is not sized."""
    if backend is None:
        return (None,)
    names = (s.batch_overlap,) if s.batch_overlap else SERVE_OVERLAP.names
    return tuple(n for n in names if n == SERVE_OVERLAP.names[0] or overlap_refusal(s.engine, backend) is None)


def _check_overlap(s: ServingSpec, splits, hws, m) -> None:
    """Refuse ``serving.batch_overlap: two_batch`` where it cannot apply: no expert-parallel option is searched, the
    engine has none (``overlap_refusal``), the job's ``serving.all2all_backend`` is one it does not run over, or no
    hardware option's GPU runs an exchange it does (``all2all_backends``: DeepEP needs compute capability 9.0)."""
    if s.batch_overlap != SERVE_OVERLAP.names[1]:
        return
    if not any(ep for _, ep in splits):
        raise InputError("serving.batch_overlap", "two_batch splits an expert-parallel replica's steps; this job sizes "
                                                  "no expert-parallel option (a dense model, or "
                                                  "serving.expert_parallel: false): leave it out")
    if s.engine not in BATCH_OVERLAP:
        raise InputError("serving.batch_overlap", f"{overlap_refusal(s.engine, None)}; leave it out, or set "
                                                  f"serving.engine: {' or '.join(BATCH_OVERLAP)}")
    if s.all2all_backend and overlap_refusal(s.engine, s.all2all_backend):
        raise InputError("serving.batch_overlap", f"{overlap_refusal(s.engine, s.all2all_backend)}; leave it out, or "
                                                  f"set serving.all2all_backend: "
                                                  f"{' / '.join(BATCH_OVERLAP[s.engine].backends)}")
    rule = BATCH_OVERLAP[s.engine]
    if hws and not any(overlap_refusal(s.engine, b) is None for hw in hws for b in all2all_backends(s, hw, m)):
        b = rule.backends[0]
        raise InputError("serving.batch_overlap", f"{s.engine}'s {rule.flag} runs over {' / '.join(rule.backends)}, "
                                                  f"which no option here runs ({EP_ALL2ALL[b].refusal(b, hws[0].gpu, m)})"
                                                  "; leave it out, or choose hardware that runs it")


def _overlap_note(s: ServingSpec, options: list[ServingOption]) -> list[str]:
    """The assumed line of the recommended option's two-batch overlap where ``serve`` chose it (``batch_overlaps``:
    searched where the job leaves ``serving.batch_overlap`` out): which it runs, the engine's flag, and when the engine
    splits a step (``BATCH_OVERLAP``)."""
    best = options[0] if options else None
    if best is None or best.overlap is None or s.batch_overlap is not None or len(batch_overlaps(s, best.all2all)) < 2:
        return []
    rule = BATCH_OVERLAP[s.engine]
    if best.overlap == SERVE_OVERLAP.names[0]:
        return [f"serving.batch_overlap: none chosen (searched: {s.engine}'s {rule.flag} off, its default; two_batch "
                f"ranked no better on {replica_layout(best)})"]
    when = (f"decode-only steps of at least {rule.decode_min} tokens a DP rank and steps with prompts of at least "
            f"{rule.prompt_min}" + (", the ranks splitting together" if rule.mixed else "")
            if rule.decode_min else
            "every step whose DP ranks all decode, or all prefill" + (
                f" (over {' / '.join(rule.prompt_backends)} only)" if rule.prompt_backends else ""))
    return [f"serving.batch_overlap: two_batch chosen (searched): {s.engine} {rule.flag}, each DP rank's step split "
            f"into two micro-batches, one's token exchange under the other's compute, on {when}"]


@dataclass(frozen=True)
class ServingLimits:
    """The job's constraints a serving plan holds to (``serving_limits``). ``max_gpus`` caps the whole deployment,
    replicas x GPUs per replica; ``min_gpus`` is a floor (redundancy) the replicas are raised to; ``budget_usd`` caps an
    offline job's total $ for its requests; ``deadline_hours`` is an offline job's (``serving.deadline_hours`` or
    ``constraints.deadline_hours``, one value). An option that meets the targets but breaks one is shown, not
    recommended (``_hold``). On a job with a training section the constraints are the training search's: only
    ``serving.deadline_hours`` here."""

    max_gpus: Optional[int] = None
    min_gpus: Optional[int] = None
    budget_usd: Optional[float] = None
    deadline_hours: Optional[float] = None
    #: where ``deadline_hours`` came from, the name a refusal over it gives (``deadline_field``); until QA 39 a
    #: deadline set by ``--deadline-hours`` or ``constraints.deadline_hours`` was refused as serving.deadline_hours
    deadline_field: str = "serving.deadline_hours"

    def cap(self, tp: int) -> Optional[int]:
        """The most TP``tp`` replicas ``max_gpus`` allows (0 when one replica is over it); None: no cap."""
        return self.max_gpus // tp if self.max_gpus else None

    def floor(self, tp: int, replicas: int) -> int:
        """``replicas`` raised to hold at least ``min_gpus`` GPUs (whole replicas: ceil(min_gpus / tp))."""
        return max(replicas, -(-self.min_gpus // tp)) if self.min_gpus else replicas

    def offline_replicas(self, tp: int, replica_hours: "float | Callable[[int], float]",
                         requests: Optional[float] = None, per_node: int = 1) -> int:
        """Replicas an offline job runs on: the fewest that finish within the deadline, else (no deadline) the most
        ``max_gpus`` allows — the finishing time follows — never more than the job's ``requests`` (a replica with no
        request to serve does nothing: 5 requests under max_gpus 512 got "512 replicas"), then raised to ``min_gpus``
        (a floor the user set; ``serving_notes`` says what it raised), then the nodes they take filled
        (``fill``: ``per_node`` replicas a node). With none of the limits: one node's worth, filled. Not capped at
        ``max_gpus`` here: ``_hold`` says when the deadline needs more than the cap. ``replica_hours``: the hours
        ``r`` replicas take, a function of ``r`` (``offline_run``: each replica's share at its own batch), or one
        replica's hours split evenly."""
        hours = replica_hours if callable(replica_hours) else (lambda r: replica_hours / r)
        if self.deadline_hours:
            top = math.ceil(requests) if requests else math.ceil(hours(1) / self.deadline_hours)
            lo, need = 0, top  # hours(r) never grows with r: the fewest that meet it, by bisection
            while need - lo > 1:
                mid = (lo + need) // 2
                if hours(mid) <= self.deadline_hours:
                    need = mid
                else:
                    lo = mid
        elif self.max_gpus:
            need = self.cap(tp)
        else:
            need = 1
        if requests:
            need = min(need, math.ceil(requests))
        return self.fill(tp, self.floor(tp, max(1, need)), per_node, requests)

    def fill(self, tp: int, replicas: int, per_node: int, requests: Optional[float] = None) -> int:
        """``replicas`` raised to fill the nodes they take (``per_node`` TP``tp`` replicas a node), unless
        ``max_gpus`` or the job's ``requests`` hold them under it (then the last node runs with GPUs idle; never
        below ``replicas``). A cloud bills whole instances (``serving_budget.billed_nodes``), so a node's idle GPUs
        cost as much as busy ones: more replicas on the same nodes share the requests and finish sooner for the
        same $/h, and the job's billed $ (nodes x hours x the node's $/h) is never more, as more replicas never take
        longer (``offline_run``). Until offline47 a job with no limit ran on one replica: the batch example's TP1
        replica on an 8-GPU aws:g6e.48xlarge took 9.6 d billed $1.05k, its node filled 1.2 d at about $132 (QA 84)."""
        full = -(-replicas // per_node) * per_node
        cap = self.cap(tp)
        if cap is not None:
            full = min(full, max(cap, replicas))
        if requests:
            full = min(full, max(math.ceil(requests), replicas))
        return full


def _costs(row: ServingOption, s: ServingSpec, qps: float | None, spot: bool,
           lim: ServingLimits = ServingLimits(), run: Optional[Callable[[int], OfflineRun]] = None) -> ServingOption:
    """Replicas and nodes for the QPS (raised to ``lim.min_gpus``), $/h and $ per million requests (real-time and
    offline); offline, the replicas and hours of a job with a deadline or a GPU floor / cap
    (``ServingLimits.offline_replicas``). A $0 rate (a cluster of one's own) is a price: its costs are $0, not left
    out as "no price" (serve43c: ``price / g if price else None`` here took $0 for none, against
    ``hardware.options.gpu_hour_rate``)."""
    if not row.meets_latency:
        return row
    per_node = replicas_per_node(row.tp, row.gpus_per_node)
    price_gpu = gpu_hour_rate(row.price_usd_hr, row.gpus_per_node)
    spot_gpu = gpu_hour_rate(row.price_spot_usd_hr, row.gpus_per_node)
    new = {}
    if qps:
        new.update(_sized(row, lim.floor(row.tp, _load_replicas(row, qps)), qps))
    # real-time at full utilisation (the floor of the provisioned figure) vs offline batch
    if price_gpu is not None:
        new["usd_per_million_requests_full"] = price_gpu * row.tp / (row.requests_per_s_per_replica * 3600) * 1e6
        at_spot = spot and spot_gpu is not None
        off_price = spot_gpu if at_spot else price_gpu
        new["usd_per_million_requests_offline"] = off_price * row.tp / (row.requests_per_s_offline * 3600) * 1e6
        new["offline_price"] = SPOT if at_spot else ON_DEMAND
        if s.requests:
            hours = s.requests / (row.requests_per_s_offline * per_node) / 3600  # one node (one replica's nodes)
            span = nodes_per_replica(row.tp, row.gpus_per_node)
            new["offline_node_hours"] = hours * span
            new["offline_usd"] = hours * span * (off_price * row.gpus_per_node)
    node_usd_hr = off_price * row.gpus_per_node if price_gpu is not None else None
    if s.requests and s.mode == "batch" and run is not None:
        new.update(_offline_plan(row, s, lim, run, node_usd_hr))
    elif s.requests and s.mode == "batch":
        replica_hours = s.requests / row.requests_per_s_offline / 3600
        reps = lim.offline_replicas(row.tp, replica_hours, s.requests, per_node)
        hours = _offline_hours(row, replica_hours, reps, s)
        new.update(offline_replicas=reps, offline_hours=hours, **_offline_billed(row, s, reps, hours, node_usd_hr))
    return replace(row, **new)


def _offline_billed(row: ServingOption, s: ServingSpec, replicas: int, hours: float,
                    node_usd_hr: Optional[float]) -> dict:
    """An offline fleet's node-hours and $ as billed (``serving_budget.billed_usd``: its nodes whole for ``hours``)
    and the $ per million requests the options are ranked by (``rank_key``): one figure, the job's $ (offline47;
    until then the table ranked by the replicas' GPU share of their nodes while the job was billed whole, QA 84)."""
    if node_usd_hr is None:  # no price: nothing billed (serve43c)
        return {}
    usd = billed_usd(row, replicas, hours, node_usd_hr)
    return dict(offline_node_hours=billed_nodes(row, replicas)[0] * billed_hours(hours), offline_usd=usd,
                usd_per_million_requests_offline=usd / s.requests * 1e6)


def _offline_plan(row: ServingOption, s: ServingSpec, lim: ServingLimits, run: Callable[[int], OfflineRun],
                  node_usd_hr: Optional[float]) -> dict:
    """An LLM offline job of ``s.requests`` sized by the time its requests really take (``offline_run``): r replicas
    each serve ceil(requests / r) at min(memory-limited batch, that share); the replicas are the fewest that meet
    the deadline (``ServingLimits.offline_replicas``: more replicas never take longer, and each one more runs
    emptier batches, so the fewest is the cheapest), else one or the GPU cap / floor, then their nodes filled
    (``ServingLimits.fill``). The fleet is held until its slowest replica finishes and its nodes are billed whole:
    $ = nodes x hours x the node's $/h (``_offline_billed``). The option's offline batch, rate and $ per million are
    this plan's (they were the memory-limited batch's at full throughput)."""
    alone = one_request_s(row, s.output_tokens) or 0.0

    def share(r: int) -> OfflineRun:
        return run(math.ceil(s.requests / r))

    def hours(r: int) -> float:  # never less than one request alone (TTFT + O - 1 decode steps at batch 1)
        return max(share(r).seconds, alone) / 3600

    r = lim.offline_replicas(row.tp, hours, s.requests, replicas_per_node(row.tp, row.gpus_per_node))
    x, h = share(r), hours(r)
    new = dict(batch_offline=x.batch, requests_per_s_offline=x.requests / (h * 3600),
               tokens_per_s_offline=x.requests * s.output_tokens / (h * 3600), offline_replicas=r, offline_hours=h,
               **_offline_billed(row, s, r, h, node_usd_hr))
    cap = lim.cap(row.tp)
    if cap and r > cap:  # what the GPUs the cap holds would take (``_over_cap`` says it)
        new["offline_hours_at_cap"] = hours(cap)
    return new


def _offline_hours(row: ServingOption, replica_hours: float, replicas: int, s: ServingSpec) -> float:
    """How long ``replicas`` take for an offline job of ``replica_hours``: the work split evenly, but never less than
    one request served alone (``one_request_s``): 5 requests of 256 output tokens on 5 replicas "finish in 0.06 s"
    at the full batch's throughput, while each replica's one request decodes for ~1.8 s."""
    alone = one_request_s(row, s.output_tokens)
    return max(replica_hours / replicas, (alone or 0.0) / 3600)


def _sized(row: ServingOption, replicas: int, qps: float) -> dict:
    """Nodes, GPUs, $/h, utilisation and $ per million requests of ``replicas`` replicas at ``qps``
    (the analytic size in ``_costs``, the simulated one in ``_resize``)."""
    nodes = replica_nodes(replicas, row.tp, row.gpus_per_node)
    hourly = nodes * row.price_usd_hr if row.price_usd_hr is not None else None  # $0 is a price (``_costs``)
    return dict(replicas=replicas, nodes=nodes, gpus=replicas * row.tp, usd_per_hr=hourly,
                utilisation=qps / (replicas * row.requests_per_s_per_replica),
                usd_per_million_requests=hourly / (qps * 3600) * 1e6 if hourly is not None else None)


def _options(job: JobSpec, catalog, profile):
    """Hardware options: the cluster named in the job, else catalog GPU instances (of ``cluster.gpu`` where named)
    under the constraints (cheapest first), by recommend's rule (``cluster_options``). An instance or GPU the
    constraints rule out is refused as recommend refuses it (serve planned on it without a word until 2026-12-03);
    the node count is not serve's (``_nodes_note``), so not held to the GPU caps here."""
    return cluster_options(job.cluster, job.constraints, catalog, profile, hold_nodes=False)


#: a TPOT where a request has one output token: its one token is its first (TTFT), with no decode step after it, so
#: there is no time per output token (``null`` in the JSON); it printed "TPOT 0.0 ms" until QA 37b
NO_TPOT = "n/a (one output token)"


def tpot_words(ms: Optional[float]) -> str:
    """A TPOT in words: "8.9 ms", or ``NO_TPOT`` where there is none (``None``)."""
    return NO_TPOT if ms is None else f"{ms:.1f} ms"


def objective_refusal(objective: str) -> str:
    """Why a serving plan takes no objective but cost: options are ranked by what they cost (real-time: $/h for the
    QPS; offline: $ per million requests) among those meeting the latency targets or the deadline."""
    return (f"{objective} ranks training plans; a serving plan is the cheapest option that meets its latency targets "
            "(real-time) or its deadline (offline): set serving.p99_latency_ms / ttft_ms or serving.deadline_hours "
            "to ask for a faster one")


def deadline_field(job: JobSpec, sim: "SimSettings") -> str:
    """The name of an offline job's deadline as the user gave it: ``constraints.deadline_hours`` where the job sets it
    (``offline_deadline``: the flag or serving field then equals it), else ``--deadline-hours`` where the flag
    overrode the job's ``serving.deadline_hours``, else that field."""
    s = job.serving
    if offline_deadline(job, None) is not None:
        return "constraints.deadline_hours"
    return "serving.deadline_hours" if sim.deadline_hours == s.deadline_hours else "--deadline-hours"


def serving_limits(job: JobSpec, sim: "SimSettings", qps: Optional[float]) -> ServingLimits:
    """The :class:`ServingLimits` of a serving-only job (a job with a training section keeps its constraints for
    ``recommend``: only its serving deadline here), each refused in one line where it cannot hold: a total budget or a deadline on a real-time
    service (it runs without an end, sized for its QPS), a GPU floor with no load to size replicas for, a budget or
    deadline on an offline job that does not say how many requests it has."""
    con, s = job.constraints, job.serving
    if "training" in job.model_fields_set:  # the serving deadline still holds (``serving.deadline_hours``)
        return ServingLimits(deadline_hours=sim.deadline_hours if s.mode == "batch" else None,
                             deadline_field=deadline_field(job, sim))
    if con.objective != "cost":  # ranked by nothing else; it was ignored without a word until 2026-12-03
        raise InputError("constraints.objective", objective_refusal(con.objective))
    if s.mode == "realtime":
        if con.budget_usd is not None:
            raise InputError("constraints.budget_usd", "a real-time service runs without an end, so a total budget "
                             "has no duration to cover; cap its $/h through its GPUs (constraints.max_gpus), or plan "
                             "a job of a known size offline (serving.mode: batch, serving.requests)")
        if con.deadline_hours is not None:
            raise InputError("constraints.deadline_hours", "a real-time service is sized for serving.qps and has no "
                             "end to meet; a deadline applies to offline jobs (serving.mode: batch)")
        if con.min_gpus is not None and not qps:
            raise InputError("constraints.min_gpus", "a floor on the replicas sized for serving.qps; this job gives "
                             "no serving.qps to size them for")
        return ServingLimits(max_gpus=con.max_gpus, min_gpus=con.min_gpus)
    deadline = sim.deadline_hours if sim.deadline_hours is not None else offline_deadline(job, None)
    if not s.requests:
        for field, v in (("constraints.budget_usd", con.budget_usd), ("constraints.min_gpus", con.min_gpus),
                         ("constraints.deadline_hours" if con.deadline_hours else "serving.deadline_hours", deadline)):
            if v is not None:
                raise InputError(field, "holds an offline job of a known size to it; set serving.requests (how many "
                                        "requests the job has)")
    return ServingLimits(max_gpus=con.max_gpus, min_gpus=con.min_gpus, budget_usd=con.budget_usd,
                         deadline_hours=deadline, deadline_field=deadline_field(job, sim))


def _load_replicas(row: ServingOption, qps: float) -> int:
    """The replicas a real-time option needs for ``qps`` before the ``min_gpus`` floor: the simulation's where it
    sized the option, else ceil(QPS / one replica's requests/s)."""
    return ((row.simulated or {}).get("replicas")
            or max(1, math.ceil(qps / row.requests_per_s_per_replica), row.queue_replicas or 0))


#: a fixed fleet's analytic QPS (``fleet_row``) is bisected until its bracket is this narrow (relative): each step is
#: one screen of the option (~0.14 s for llama3-8b on one L40S), ~8 of them from the first bracket
FLEET_QPS_TOLERANCE = 0.01
#: the simulated QPS (``_confirm_fleet``) to this bracket: each step is a simulation run
FLEET_SIM_TOLERANCE = 0.05
#: the least QPS ``highest_rate`` halves down to, as a share of its start (the fleet's full-load rate): an option that
#: carries none of it is reported as missing the targets rather than searched further
FLEET_QPS_FLOOR = 1e-4


def highest_rate(carries: Callable[[float], bool], start: float, tol: float, ceiling: float = MAX_QPS,
                 ahead: Callable[[list], None] = lambda qs: None) -> Optional[float]:
    """The highest QPS that ``carries`` takes, within ``tol`` (relative) under the true one: from ``start`` doubled
    while carried (up to ``ceiling``) or halved while not (down to ``FLEET_QPS_FLOOR`` x ``start``), then bisected on
    a log scale. ``carries`` is taken to hold at every QPS under one it holds at (more load never lowers a p99 or the
    replicas it needs); None where not even the floor is carried. ``ahead(qs)``: told the QPS it may ask next before
    it asks them (the next ``RATE_AHEAD_LEVELS`` doubling and halving steps, or levels of bisection midpoints,
    ``_rate_bisection_points``), so the caller can price them at once (``fleet_row``: ``ScreenMemo.prefetch``); the
    calls and the answer are the same with it or without.

    >>> round(highest_rate(lambda q: q <= 37.0, 10.0, 0.01), 1)
    36.9
    >>> highest_rate(lambda q: q <= 37.0, 10.0, 0.01, ceiling=20.0), highest_rate(lambda q: False, 10.0, 0.01)
    (20.0, None)
    """
    q = min(start, ceiling)
    floor = max(MIN_RATE["qps"], FLEET_QPS_FLOOR * start)
    ahead([q, *_rate_steps(q, lambda x: min(ceiling, 2 * x)), *_rate_steps(q, lambda x: x / 2)])
    lo = hi = None
    if carries(q):
        lo = q
        for j in count(1):
            if hi is not None or lo >= ceiling:
                break
            if j % RATE_AHEAD_LEVELS == 0:
                ahead(_rate_steps(lo, lambda x: min(ceiling, 2 * x)))
            nxt = min(ceiling, 2 * lo)
            lo, hi = (nxt, None) if carries(nxt) else (lo, nxt)
        if hi is None:
            return lo
    else:
        hi = q
        for j in count(1):
            if lo is not None:
                break
            if hi / 2 < floor:
                return None
            if j % RATE_AHEAD_LEVELS == 0:
                ahead(_rate_steps(hi, lambda x: x / 2))
            lo, hi = (hi / 2, hi) if carries(hi / 2) else (None, hi / 2)
    for depth in count():
        if not hi > lo * (1 + tol):
            break
        if depth % RATE_AHEAD_LEVELS == 0:
            ahead(_rate_bisection_points(lo, hi, tol, RATE_AHEAD_LEVELS))
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if carries(mid) else (lo, mid)
    return lo


#: doubling / halving steps, or levels of bisection midpoints (2^4 - 1 = 15 QPS), ``highest_rate`` tells its caller
#: at once: ``ScreenMemo.prefetch`` prices them in one vectorised fixed point a token budget (fleet56)
RATE_AHEAD_LEVELS = 4


def _rate_steps(q: float, step: Callable[[float], float]) -> list:
    """The next ``RATE_AHEAD_LEVELS`` QPS from ``q`` by ``step`` (doubling or halving), as ``highest_rate`` takes them."""
    out = []
    for _ in range(RATE_AHEAD_LEVELS):
        q = step(q)
        out.append(q)
    return out


def _rate_bisection_points(lo: float, hi: float, tol: float, levels: int) -> list:
    """The log-scale midpoints bisecting (lo, hi) may ask over its next ``levels`` steps, whichever way each goes, each
    computed as ``highest_rate`` computes it (the same floats), none past a bracket ``tol`` narrow.

    >>> [round(q, 2) for q in _rate_bisection_points(1.0, 4.0, 0.01, 2)]
    [2.0, 1.41, 2.83]
    """
    out, spans = [], [(lo, hi)]
    for _ in range(levels):
        nxt = []
        for a, b in spans:
            if b > a * (1 + tol):
                mid = math.sqrt(a * b)
                out.append(mid)
                nxt += [(a, mid), (mid, b)]
        spans = nxt
    return out


def _target_at(target: ServeTarget, sim: SimSettings, qps: float) -> ServeTarget:
    """``target`` at a mean of ``qps``, with the bursts of mmpp arrivals at that rate as ``plan_serving`` sets them."""
    bursty = sim.arrivals == "mmpp" and not sim.trace
    return replace(target, qps=qps, bursts=tuple((share, rate / qps, sojourn) for share, rate, sojourn
                                                 in arrival_spec(sim, qps).states()) if bursty else ())


def fleet_row(m, s: ServingSpec, hw, tp: int, target: ServeTarget, im: IterationModel, replicas: int,
              sim: SimSettings, spot: bool, lim: ServingLimits) -> ServingOption:
    """A fixed fleet (``serving.replicas``) of ``replicas`` TP``tp`` replicas on ``hw``: the highest QPS it carries
    within the p99 targets by the analytic screen, bisected on the QPS (``highest_rate``): a QPS is carried where the
    screen's option at it (``llm_option``: the batch, TTFT and TPOT at that load, each token budget) meets the targets
    on at most ``replicas`` replicas (``_load_replicas``: its throughput's and its queue's count), the question
    ``plan_serving`` answers the other way round for a ``serving.qps``. The row is that option at that QPS on the whole
    fleet (``_sized``: its $/h, utilisation and $ per million requests at the QPS), ``fleet_qps_by`` "analytic";
    ``_confirm_fleet`` checks it in simulation. A fleet over ``constraints.max_gpus`` breaks it."""
    full = llm_option(m, s, hw, tp, target, im)  # no QPS: the latency-bound batch at full load
    if not full.meets_latency:
        return full
    if lim.max_gpus and replicas * tp > lim.max_gpus:
        return replace(full, constraint_broken="constraints.max_gpus",
                       reason=f"the fleet's {_reps(replicas, full.layout)} take {_gpus(replicas * tp)}, over max_gpus "
                              f"({lim.max_gpus:,})")
    rows: dict = {}
    asked: list = []
    memo = ScreenMemo.of(m, s, hw, tp, im, target, full.batch_memory_limit)

    def at(q: float) -> ServingOption:
        if q not in rows:
            rows[q] = llm_option(m, s, hw, tp, _target_at(target, sim, q), im, memo)
        return rows[q]

    def carries(q: float) -> bool:
        asked.append(q)
        if memo.least_replicas(q) > replicas:  # every budget's throughput alone needs more: the screen's count would
            return False
        r = at(q)
        return bool(r.meets_latency) and _load_replicas(r, q) <= replicas

    def ahead(qs: list) -> None:
        memo.prefetch([q for q in qs if memo.least_replicas(q) <= replicas])

    q = highest_rate(carries, replicas * full.requests_per_s_per_replica, FLEET_QPS_TOLERANCE, ahead=ahead)
    if q is None:
        low = FLEET_QPS_FLOOR * replicas * full.requests_per_s_per_replica
        return replace(full, meets_latency=False,
                       reason=f"misses the targets on {_reps(replicas, full.layout)} even at {fmt_rate(low)} QPS: "
                              + (at(min(asked)).reason or "its queue needs more replicas"))
    row = _costs(at(q), s, q, spot, lim)
    return replace(row, **_sized(row, replicas, q), fleet_qps=q, fleet_qps_by=FLEET_QPS_BY.names[0])


def _offline_fleet(row: ServingOption) -> tuple[Optional[int], Optional[float], Optional[float]]:
    """(replicas, hours, $) of an offline option for the job's requests: the simulated backlog's where simulated,
    else the analytic ones; None where not worked out (no deadline or GPU limit: no replicas; no price: no $). The $
    is its nodes as billed (``_offline_billed``: whole instances), what the budget is held to and the options are
    ranked by."""
    if row.refined:
        d = row.simulated or {}
        return d.get("replicas"), d.get("hours"), d.get("usd")
    return row.offline_replicas, row.offline_hours, row.offline_usd


def _gpus(n: int) -> str:
    return count_of(n, "GPU")


def _reps(n: int, layout: str) -> str:
    """"2 TP8 replicas", "1 EP8 replica": ``layout`` a ``ServingOption.layout``."""
    return count_of(n, f"{layout} replica")


def one_request_s(row: ServingOption, output_tokens: int) -> Optional[float]:
    """One request served alone, the least time any number of replicas takes for a job of requests: an LLM's TTFT
    plus O - 1 decode steps at batch 1 (``llm_tpot``), a generic model's batch of one (half its p99 latency, which
    waits for the running batch first). None where the option has no batch-1 figures (it does not fit)."""
    if row.tpot_batch1_ms is None:
        return None
    if row.generic:
        return row.tpot_batch1_ms / 2e3
    return ((row.ttft_batch1_ms or 0.0) + max(output_tokens - 1, 0) * row.tpot_batch1_ms) / 1e3


def _hold(row: ServingOption, lim: ServingLimits, qps: Optional[float], requests: Optional[float],
          output_tokens: int = 0) -> ServingOption:
    """``row`` held to the job's limits: one that meets the targets but needs more GPUs than ``max_gpus`` (real-time:
    the replicas for the QPS; offline: the replicas the deadline needs, or one replica over the cap) or costs an
    offline job more than ``budget_usd`` gets ``constraint_broken`` and a ``reason`` saying what the limit reaches.
    The figures are the simulated ones where the option was simulated (its size and $ stand in for the analytic)."""
    if not row.meets_latency or row.constraint_broken:
        return row
    why = _over_cap(row, lim, qps, requests) if lim.max_gpus else None
    if why:
        return replace(row, constraint_broken="constraints.max_gpus", reason=why)
    over = _over_deployment(row, lim, qps, requests)
    if over:
        return replace(row, constraint_broken=over[0], reason=over[1])
    alone = one_request_s(row, output_tokens) if (not row.replicas and requests and lim.deadline_hours) else None
    if alone is not None and alone > lim.deadline_hours * 3600:
        # replicas split the requests, not one request: 1 request under a 0.36 ms deadline got "169 replicas finish
        # in <0.001 s"; the job takes at least this long (offline_hours), however many replicas run it
        return replace(row, constraint_broken="serving.deadline_hours", offline_hours=alone / 3600,
                       reason=f"one request alone takes {fmt_run_time(alone / 3600)} (TTFT + output tokens at batch 1), "
                              f"past the {fmt_run_time(lim.deadline_hours)} deadline; more replicas do not shorten it")
    hours = _offline_fleet(row)[1] if row.refined else None
    if hours is not None and lim.deadline_hours and hours > lim.deadline_hours:  # the simulation is the judge
        return replace(row, constraint_broken="serving.deadline_hours",
                       reason=f"the simulated backlog of {_reps(_offline_fleet(row)[0], row.layout)} takes "
                              f"{fmt_run_time(hours)}, past the {fmt_run_time(lim.deadline_hours)} deadline")
    if lim.budget_usd is not None and requests:
        usd = _offline_fleet(row)[2]
        if usd is None or usd > lim.budget_usd:
            why = ("no price to hold the budget to (set cluster.price_usd_hr)" if usd is None else
                   f"costs {fmt_usd(usd)} for the job's {fmt_given(requests)} requests, over the "
                   f"{fmt_usd(lim.budget_usd)} budget (budget_usd)")
            return replace(row, constraint_broken="constraints.budget_usd", reason=why)
    return row


def _over_deployment(row: ServingOption, lim: ServingLimits, qps: Optional[float],
                     requests: Optional[float]) -> Optional[tuple[str, str]]:
    """(the field to change, why) where ``row`` needs more GPUs than one plan deploys (``DEPLOYMENT_GPUS``; a set
    ``max_gpus``, never above it, is ``_over_cap``'s): real-time, the replicas for ``serving.qps``; offline, the
    replicas the deadline needs; a fixed fleet (``fleet_qps`` set), its ``serving.replicas`` (until fuzz49 it named
    serving.qps, which such a job leaves out, and the QPS the fleet carries as if asked for)."""
    if row.fleet_qps is not None:
        gpus, field, what = row.gpus, "serving.replicas", "as serving.replicas asks"
    elif row.replicas:
        gpus, field, what = row.gpus, "serving.qps", f"for {fmt_rate(qps)} QPS"
    else:
        reps = _offline_fleet(row)[0]
        if not (requests and reps and lim.deadline_hours):
            return None
        gpus, field, what = reps * row.tp, "serving.deadline_hours", (f"to finish {fmt_given(requests)} requests in "
                                                                      f"{fmt_run_time(lim.deadline_hours)}")
    if gpus <= DEPLOYMENT_GPUS:
        return None
    return field, (f"needs {_gpus(gpus)} ({_reps(gpus // row.tp, row.layout)}) {what}, over the {DEPLOYMENT_GPUS:,} GPUs "
                   "one plan deploys")


def _over_cap(row: ServingOption, lim: ServingLimits, qps: Optional[float], requests: Optional[float]) -> Optional[str]:
    """Why ``row`` needs more GPUs than ``lim.max_gpus``, in one phrase that says what the cap reaches (real-time: the
    QPS its GPUs serve; offline: the time the job takes on them), or None when it does not."""
    cap, tp = lim.cap(row.tp), row.tp
    if cap == 0:
        return f"one {row.layout} replica needs {_gpus(tp)}, over max_gpus ({lim.max_gpus:,})"
    # what the cap holds, in whole replicas: "16 GPUs (max_gpus)", or fewer where TP does not divide it
    held = (f"{_gpus(lim.max_gpus)} (max_gpus)" if cap * tp == lim.max_gpus else
            f"{_gpus(cap * tp)} ({_reps(cap, row.layout)}, the most within max_gpus {lim.max_gpus:,})")
    floored = lambda reps: (f"min_gpus {lim.min_gpus:,} takes {_reps(reps, row.layout)} ({_gpus(reps * tp)}), "  # noqa: E731
                            f"over max_gpus ({lim.max_gpus:,})")
    if row.replicas:  # real-time, sized for the QPS
        if row.gpus <= lim.max_gpus:
            return None
        if _load_replicas(row, qps) <= cap:  # the floor, in whole replicas, is what goes over
            return floored(row.replicas)
        # the load a replica was sized at: the simulation's where simulated, else full load (Little's law)
        sim = row.simulated or {}
        per = qps / sim["replicas"] if sim.get("replicas") else row.requests_per_s_per_replica
        return (f"needs {_gpus(row.gpus)} ({_reps(row.replicas, row.layout)}) for {fmt_rate(qps)} QPS; "
                f"{held} serve about {fmt_rate(cap * per)} QPS")
    reps, hours, _ = _offline_fleet(row)  # offline: the replicas the deadline (or the floor) needs
    if not (requests and reps and reps > cap):
        return None
    # the hours the capped fleet takes: each replica's larger share at its batch (``_offline_plan``), else even split
    capped = row.offline_hours_at_cap if row.offline_hours_at_cap is not None else hours * reps / cap
    if lim.deadline_hours and capped > lim.deadline_hours:
        return (f"needs {_gpus(reps * tp)} ({_reps(reps, row.layout)}) to finish {fmt_given(requests)} requests in "
                f"{fmt_run_time(lim.deadline_hours)}; {held} take {fmt_run_time(capped)}")
    return floored(reps)


def _nothing_within(rows, lim: ServingLimits) -> InfeasibleError:
    """No option that meets the targets holds to the job's limits: the nearest in one line, as the training search
    says it (planner.search.recommend ``_nothing_meets``: "no configuration meets the constraints; nearest: ...").
    Nearest: the least over its limit — GPUs needed / max_gpus, or $ / budget_usd."""
    def over(r) -> float:
        if r.constraint_broken == "constraints.budget_usd":
            usd = _offline_fleet(r)[2]
            return usd / lim.budget_usd if usd is not None else math.inf
        if r.constraint_broken == "serving.deadline_hours" and r.refined:  # the simulated backlog missed it
            return _offline_fleet(r)[1] / lim.deadline_hours
        if r.constraint_broken == "serving.deadline_hours" and r.reason.startswith("one request alone"):
            return r.offline_hours / lim.deadline_hours  # the fastest single request is the nearest
        cap = lim.max_gpus if r.constraint_broken == "constraints.max_gpus" else DEPLOYMENT_GPUS
        if r.replicas:  # real-time, sized for the QPS
            return r.gpus / cap
        return max(_offline_fleet(r)[0] or 1, 1) * r.tp / cap

    near = min((r for r in rows if r.constraint_broken), key=over)
    # the deadline under the name the user gave it (``ServingLimits.deadline_field``)
    field = lim.deadline_field if near.constraint_broken == "serving.deadline_hours" else near.constraint_broken
    if near.constraint_broken in PAST_DEPLOYMENT and "one plan deploys" in near.reason:  # past the deployment limit
        return InfeasibleError(field, f"no plan: even the option needing the fewest GPUs, "
                               f"{near.hardware} {near.layout} ({near.precision}), {near.reason}; "
                               + PAST_DEPLOYMENT[near.constraint_broken])
    return InfeasibleError(field, f"no option meets the constraints; nearest: {near.hardware} "
                                                   f"{near.layout} ({near.precision}): {near.reason}")


def _limit_lines(lim: ServingLimits, job: JobSpec, sim: "SimSettings", options, rejected, realtime: bool,
                 qps: Optional[float]) -> tuple[tuple[str, ...], list[str]]:
    """(the limits the plan held to, one line each, printed beside the answer — ``ServingPlan.constraints``; the
    assumption a ``min_gpus`` floor adds where it raised replicas above what the load or deadline needs)."""
    b, s = options[0], job.serving
    sized = len(options) + sum(1 for r in rejected if r.constraint_broken)  # the options that meet the targets
    over = lambda field: sum(1 for r in rejected if r.constraint_broken == field)  # noqa: E731
    reps, hours, usd = (b.replicas, None, None) if realtime else _offline_fleet(b)
    fleet = (f"{_reps(reps, b.layout)} ({_gpus(reps * b.tp)})"
             + (f" finish{'es' if reps == 1 else ''} in {fmt_run_time(hours)}" if hours else "")) if reps else ""
    def counted(n: int, verb: str, rest: str) -> str:
        """"no option that meets the targets needs more", "1 of 4 options that meet the targets needs more"; offline
        there are no targets to meet: the options are the ones that run."""
        s = "s" if not n else ""  # "no option that meets", "options that meet"
        kind = f"meet{s} the targets" if realtime else f"run{s}"
        return f"{f'{n} of {sized} options' if n else 'no option'} that {kind} {verb}{'s' if n <= 1 else ''} {rest}"

    lines, notes = [], []
    if lim.max_gpus:
        n = over("constraints.max_gpus")
        if realtime and qps:
            what = "the whole deployment (replicas x GPUs per replica)"
        elif realtime:
            what = "one replica: with no serving.qps there are no replicas to size"
        else:
            what = "the job's replicas at once" + ("" if lim.deadline_hours else
                                                   ": with no deadline, the replicas are the most it allows (at most one "
                                                   "per request) and the finishing time follows")
        lines.append(f"constraints.max_gpus: at most {_gpus(lim.max_gpus)} for {what}; "  # "at most 1 GPUs" until QA 42
                     + counted(n, "need", "more to meet the deadline" if not realtime and lim.deadline_hours else "more")
                     # an offline deadline's line says the recommended fleet
                     + (f"; the recommended one: {fleet}" if fleet and (realtime or not lim.deadline_hours) else ""))
    if lim.min_gpus:
        lines.append(f"constraints.min_gpus: at least {_gpus(lim.min_gpus)}, the replicas raised to it where "
                     + ("the load" if realtime else "the deadline" if lim.deadline_hours else "the job")
                     + f" needs fewer; the recommended one: {fleet}")
        bare = replace(lim, min_gpus=None)

        def need(r) -> int:  # the replicas without the floor
            if realtime:
                return _load_replicas(r, qps)
            return bare.offline_replicas(r.tp, (_offline_fleet(r)[1] or 0.0) * (_offline_fleet(r)[0] or 0),
                                         s.requests, replicas_per_node(r.tp, r.gpus_per_node))
        raised = [r for r in options if (r.replicas if realtime else _offline_fleet(r)[0] or 0) > need(r)]
        if raised:
            notes.append(f"constraints.min_gpus ({lim.min_gpus:,}) raised the replicas of {len(raised)} of the "
                         f"{len(options)} options above what " + ("the load" if realtime else "the job")
                         + " needs" + (f" (the recommended one from {need(b):,} to {_reps(reps, b.layout)})"
                                       if b in raised else ""))
    if lim.budget_usd is not None:
        lines.append(f"constraints.budget_usd: the job's {fmt_given(s.requests)} requests within "
                     f"{fmt_usd(lim.budget_usd)}; " + counted(over("constraints.budget_usd"), "cost", "more")
                     + (f"; the recommended one costs {fmt_usd(usd)}" if usd is not None else ""))
    if lim.deadline_hours and not realtime:
        lines.append(f"{lim.deadline_field}: the job's {fmt_given(s.requests)} requests within {fmt_run_time(lim.deadline_hours)}"
                     + (f"; the recommended one: {fleet}" if fleet else ""))
    return tuple(lines), notes


def _nodes_note(job: JobSpec) -> list[str]:
    """``cluster.nodes`` on a serving job: the replicas set the nodes, so the plan says the field is not applied
    (``{instance: aws:p5.48xlarge, nodes: 4}`` was planned on 1 node without a word; "nodes: 1" beside a GPU is a
    common way to name the hardware, so it is said, not refused)."""
    if job.cluster.nodes is None:
        return []
    # an offline job's replicas follow its requests and deadline, not a QPS it does not have
    sized = ("serving.replicas, the fixed fleet (each option's nodes column)" if job.serving.replicas else
             "serving.qps (each option's nodes column)" if job.serving.mode != "batch" else
             "the job's requests"
             + (" and its deadline" if offline_deadline(job, job.serving.deadline_hours) is not None else "")
             + " (each option's replicas column; constraints.max_gpus caps them)")
    return [f"cluster.nodes ({job.cluster.nodes:,}) not applied: the nodes follow from the replicas sized for {sized}"]


def _fabric_note(job: JobSpec, options: list[ServingOption]) -> list[str]:
    """``cluster.fabric`` / ``cluster.inter_node_gbps`` on a serving job none of whose options has a replica across
    nodes: the replicas of a fleet exchange nothing (each serves its own requests), so only an expert-parallel replica
    of whole nodes (``nodes_per_replica`` > 1, serveep49) reads the network; the plan says the stated one did not enter
    the answer, as training's one-node plans drop the assumed network's line (``HardwareOption.plan_notes``, QA 89).
    Until QA 93 the field was taken without a word."""
    stated = [f for f, v in (("cluster.fabric", job.cluster.fabric), ("cluster.inter_node_gbps",
                                                                       job.cluster.inter_node_gbps)) if v is not None]
    if not stated or any(nodes_per_replica(o.tp, o.gpus_per_node) > 1 for o in options):
        return []
    return [f"{stated[0]} not applied: every option's replica runs within one node (replicas exchange nothing), so no "
            "inter-node network entered the answer"]


def _host_ram_note(job: JobSpec) -> list[str]:
    """``cluster.host_ram_gib`` on a serving job: the serving model holds the weights and the KV cache in GPU memory
    only (planner.workloads.serving_memory; no KV offload or ``--cpu-offload-gb``) and the simulation preempts by
    recompute, vLLM V1's only mode (planner.simulate.serving ``EngineConfig.preemption``: V0's swap to host is not
    what a plan runs), so the stated host RAM sizes nothing; said, not refused, as ``cluster.nodes`` and the fabric
    are (``_nodes_note``, ``_fabric_note``). Until QA 103 ``serve`` took the field without a word."""
    if job.cluster.host_ram_gib is None:
        return []
    return [f"cluster.host_ram_gib ({job.cluster.host_ram_gib:,g} GiB) not applied: the serving plan keeps the weights "
            "and the KV cache in GPU memory and recomputes a preempted request (no KV offload or CPU swap space), so "
            "host RAM did not enter the answer"]


def _ep_spread_note(options: list[ServingOption], simulated: bool) -> list[str]:
    """Where an expert-parallel option is listed, the assumption its DP engines rest on: the screen spreads a replica's
    batch evenly over them (ceil(B / N) decodes a rank, ``IterationModel._busiest``), and the simulation gives each
    engine its own ceil(B / N) seats, KV pool and token budget as vLLM does (one ``Scheduler`` a ``DPEngineCoreProc``,
    servekv50), routing each request to the engine with the least waiting x 4 + running as vLLM's front end sees them
    (the counts its DP coordinator published, every ``EngineConfig.lb_refresh_s`` = 100 ms, plus its own sends since:
    serve51; exact counts before); what the front end does not see (one engine's longer contexts filling its pool
    first) is left to the simulation. Unsaid before servekv50."""
    eps = sorted({o.ep for o in options if (o.ep or 1) > 1})
    if not eps:
        return []
    n = "/".join(f"EP{e}" for e in eps)
    sim = (", in simulation each with its own ceil(B / N) max_num_seqs, KV pool (its GPU's) and token budget, "
           "requests routed to the engine with the least waiting x 4 + running as vLLM's front end sees them: the "
           f"counts its DP coordinator published, every {DP_LB_REFRESH_S * 1e3:g} ms, plus its own sends since"
           if simulated else "")
    return [f"expert-parallel replicas ({n}): the screen spreads a replica's batch B evenly over its N data-parallel "
            f"engines (ceil(B / N) decodes each){sim}"]


def _seats_words(b: ServingOption) -> str:
    """``max_num_seqs`` as the recommendation says it: an expert-parallel replica's per DP engine (the seats the
    simulation gives each, ``_sim_config``) beside its batch (servekv50: the batch alone read as the flag before)."""
    ep = b.ep or 1
    return f"{b.batch}" if ep == 1 else f"{engine_seats(b.batch, ep)} a DP engine, {b.batch} a replica"


def _whole_node_note(job_cost: Optional[dict], realtime: bool, max_gpus: Optional[int] = None) -> list[str]:
    """Where an offline fleet leaves GPUs of its nodes idle (``offline_budget``'s ``share_usd``), what the job's $
    pays for and what holds the replicas under the nodes' GPUs: ``constraints.max_gpus``, or a job of fewer requests
    than the nodes have replica slots. The job's $ is its nodes held for the run (``serving_budget.billed_usd``: a
    cloud bills whole instances); the used GPUs' share of it is said beside it. A fleet fills its nodes otherwise
    (``ServingLimits.fill``): until offline47 every job without a limit ran one replica, so this line stood under
    the batch example's 1 TP1 replica on an 8-GPU aws:g6e.48xlarge ($1.05k billed, $131.82 the share; QA 84)."""
    if realtime or not job_cost or not job_cost.get("share_usd"):
        return []
    b, reps = job_cost, job_cost["replicas"]
    slots = b["nodes"] * b["gpus_per_node"]
    held = (f"constraints.max_gpus ({max_gpus:,}) holds the replicas under what fills "
            f"{'it' if b['nodes'] == 1 else 'them'}" if max_gpus is not None and max_gpus < slots else
            f"the job's {fmt_given(b['requests'])} requests give no more replicas work")
    return [f"offline cost: the job's {fmt_usd(b['usd'])} is {count_of(b['nodes'], 'node')} of {b['hardware']} held "
            f"for the run, billed whole (a cloud rents whole instances), though {count_of(reps, 'replica')} "
            f"use{'s' if reps == 1 else ''} {_gpus(b['gpus_used'])} of {slots:,}: {held}; the used GPUs' share of "
            f"the node price is {fmt_usd(b['share_usd'])}, the idle GPUs' {fmt_usd(b['usd'] - b['share_usd'])}"]


def _drain_s(s: ServingSpec, target: ServeTarget) -> float:
    """Seconds a run goes on after the last arrival: 60, or long enough for the longest simulated
    request (``LENGTH_CLIP`` x the mean output, the lengths' clip) to decode at the TPOT target after its TTFT. A
    request that meets the targets has finished by then, so one still running is a miss, not an
    artefact of stopping (2,000-token outputs at a 200 ms TPOT need up to 1,600 s: with 60 s the
    last arrivals never finished, every confirmation failed and the search added replicas to its cap)."""
    if target.tpot_s is None:
        return 60.0
    return max(60.0, LENGTH_CLIP * s.output_tokens * target.tpot_s + (target.ttft_s or 0.0))


def _sim_config(m, s, hw, tp, batch, budget, replicas, target: ServeTarget, sim: SimSettings, warmup,
                im: Optional[IterationModel] = None):
    spec = replica_spec(m, s, hw, tp, im=im)
    # ``max_num_seqs`` and the token budget are one engine's (vLLM's flags): an expert-parallel replica's ``batch``
    # spread over its DP engines, ceil(batch / ep) seats each, as the screen's busiest rank holds (servekv50)
    seats = engine_seats(batch, spec.iteration.ep)
    # the engine's step composition (SGLang: a prefill batch or a decode batch, ``ServingEfficiency.batching``), as
    # the screen's steps have it (``lumped_parts``)
    return ServingSimConfig(spec, EngineConfig(max_num_seqs=seats, max_num_batched_tokens=max(budget, seats),
                                               policy=spec.iteration.batching),
                            replicas=replicas, slo_ttft_s=target.ttft_s, slo_tpot_s=target.tpot_s,
                            warmup_s=warmup, drain_s=_drain_s(s, target), seed=sim.seed)


def _sim_summary(res, replicas, budget, batch) -> dict:
    """The JSON-ready simulated answer: percentiles in ms and a <= 200-point queue/KV timeline."""
    d = res.summary()
    tl = res.timeline
    step = max(1, len(tl["t"]) // 200)
    d.update(replicas=replicas, max_num_batched_tokens=budget, max_num_seqs=batch,
             timeline={k: [float(x) for x in v[::step]] for k, v in tl.items()},
             preemption_events=[list(e) for e in res.preemption_events[:100]])
    return _finite(d)


def _finite(x):
    """inf/nan -> None, recursively (JSON has no infinity; ``unfinished`` says why)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class PlanBoundReached(Exception):
    """The plan's simulations have run ``SimBudget.bound`` engine events: no further run starts."""


class SimBudget:
    """One plan's simulation work, bounded and counted: every run goes through ``run``, which starts it only while
    the plan has used fewer than ``bound`` engine events and gives it at most the events left (``max_events``: min of
    the per-run ``EVENT_BOUND`` and what is left, so a run the plan bound cuts says so in its ``cut``, as one the run
    bound cuts). The plan's simulations thus run at most ``bound + DRAIN_EVENTS`` events together. Once it is spent
    ``run`` raises ``PlanBoundReached``: the option being simulated keeps its analytic size and the rest are not
    simulated (``plan_serving`` says which)."""

    def __init__(self, bound: Optional[int] = None):
        self.bound = PLAN_EVENT_BOUND if bound is None else int(bound)
        self.used = 0  # engine events the plan's runs took
        self.runs = 0
        self.reached = ""  # what the bound left unsimulated, in words ("" while it holds)

    def left(self) -> int:
        return max(0, self.bound - self.used)

    def run(self, cfg, wl, **kw):
        if self.used >= self.bound:
            raise PlanBoundReached()
        res = simulate_serving(cfg, wl, max_events=min(simulator.EVENT_BOUND, self.left()), **kw)
        self.used += res.engine_events
        self.runs += 1
        return res

    def words(self) -> str:
        """Where the plan stands against its bound, for the progress bar."""
        return f"{self.used:,} of {self.bound:,} plan events"


def budget_for(sim: SimSettings, runs: Optional[SimBudget] = None) -> SimBudget:
    """The simulation budget a plan, a refinement or a latency curve runs under: ``runs`` where the caller shares one
    (a plan's options share the plan's; the app's curve shares its plan's), else a fresh one of
    ``sim.plan_event_bound`` events. The one place a ``SimBudget`` is defaulted."""
    return runs if runs is not None else SimBudget(sim.plan_event_bound)


def capacity_backlog(batch: int) -> int:
    """Requests in ``_capacity``'s backlog: 40 per slot (10 until drain33: see ``_capacity``), at least 500 (a rate
    from 300 finishes between its quantiles) and at most 8,000."""
    return int(min(8000, max(40 * batch, 500)))


def _engine_settings(row: ServingOption, sim: SimSettings, first: Optional[int] = None) -> list[tuple[int, int]]:
    """The (token budget, max_num_seqs) settings ``_refine_realtime`` tries for a real-time option, in its order: each
    of ``sim.token_budgets`` at the analytic batch B, then the first budget at min(2B, the memory limit) where that is
    over B (the analytic B assumes every slot full at mean context, a bound the simulation may beat). ``first``: the
    budget to start from instead of ``sim.token_budgets[0]`` (a fixed fleet's, ``_confirm_fleet``: the screen's, the
    one its analytic QPS is at)."""
    first = sim.token_budgets[0] if first is None else first
    out = [(budget, row.batch) for budget in (first, *(b for b in sim.token_budgets if b != first))]
    b2 = min(row.batch_memory_limit, 2 * row.batch)
    return out + [(first, b2)] if b2 > row.batch else out


def _cached_capacity(cache: dict, m, s, hw, tp: int, k: tuple[int, int], sim: SimSettings,
                     im: Optional[IterationModel], runs: Optional[SimBudget]) -> float:
    """``_capacity`` at setting ``k`` (token budget, max_num_seqs), once per plan: ``cache`` is the plan's simulation
    cache, shared by ``_refine_realtime``'s stable counts and ``plan_serving``'s tie bound (``_tie_cannot_beat``)."""
    ck = ("capacity", replica_spec(m, s, hw, tp, im=im), k)
    if ck not in cache:
        cache[ck] = _capacity(m, s, hw, tp, k[1], k[0], sim, im, runs)
    return cache[ck]


def _capacity(m, s, hw, tp, batch, budget, sim: SimSettings, im: Optional[IterationModel] = None,
              runs: Optional[SimBudget] = None) -> float:
    """Saturated throughput (req/s) of one replica: a backlog (``capacity_backlog``) keeps every one of ``batch`` slots
    busy, and its steady rate is measured, completions between the 20% and 80% finish quantiles over that time
    (``steady_rate``, ``ServingSimResult.steady_rps``): no start-up, no drain tail.

    Until drain33 it was completions over the whole run of a backlog of 10 per slot (500 to 2,000), so the drain tail (the last
    requests finishing with the batch emptying, about the last 20% of the run) was in it and it read under the
    engine's steady saturated rate at long outputs (cap32, benchmarks/capacity_gap.py, llama3.1-8b on one H100, B =
    64, budget 2,048, lognormal cv 0.5): 41.7 req/s at 128 / 128 tokens, 10.38 at 2,000 / 128, 8.52 at 500 / 500,
    where 10,240-request backlogs (seeds 0 / 1) serve 48.6 / 49.1, 10.65 / 10.79 and 9.45 / 9.56 in their steady part
    (48.2 / 48.7, 10.68 / 10.77, 9.42 / 9.52 over the whole run). The steady part of the 640-request backlog alone
    read over those, 49.9 / 10.85 / 9.75 (seed 0): its batch has not yet filled with the long requests a batch
    holds in steady state (length-biased), so the backlog is 40 per slot: 47.96 / 10.77 / 9.34 (2,560 requests, seed
    0; 48.6 / 10.66 / 9.46 on seed 1), within 1.3% of the long run's steady part, under it but for 2,000 / 128 seed 0
    (+1.1%). It sets the stable floor (``sim.max_utilisation``: offered load at most 95% of it, 93.8% / 96.1% / 93.8%
    of the long run's steady rate, 81-86% with the old one at long outputs; a replica at the new floor stays stable
    over 120,000 Poisson requests, its queue flat, drain33) and benchmarks/ttft_grid.py's utilisations. The analytic
    throughput (``llm_option``, the lumped step, cap33: 51.0 / 10.59 / 9.63 req/s) was 6% over it, 2% under, 3% over;
    since capgap34 (the lumped step the mean over its prompts' spread, the decodes' context length-biased) 48.48 /
    10.58 / 9.50, 1.1% over, 1.8% under, 1.7% over.
    A capacity run costs ~4,000 engine events at B = 64 (3,233 / 3,982 / 4,483; ~1,000 at 640 requests) of a plan's
    1,000,000. benchmarks/sim_vs_analytic_replicas.py: the same counts (61 simulated, 51 kept / 5 added / 5 removed / 0
    missed, every simulated count unchanged), 275 simulation runs (265 before). Plans the old floor held a replica
    over size lower, each met over 120,000 requests (tests/test_serving_constraints.py, tests/test_serving.py)."""
    wl = draw_workload(s, ArrivalSpec("burst", count=capacity_backlog(batch)), sim, m.context_length, sim.seed)
    cfg = _sim_config(m, s, hw, tp, batch, budget, 1, ServeTarget(None, None, None), sim, 0.0, im)
    runs = budget_for(sim, runs)
    res = runs.run(replace(cfg, drain_s=1e7), wl, monitor=False)
    # a backlog too small to have two distinct finish times in its middle (one request): the whole run's rate
    return res.steady_rps if res.steady_rps is not None else res.throughput_rps


#: a fleet larger than this is simulated as a slice of it (``_fleet_slice``)
MAX_SIM_REPLICAS = 32


def _fleet_slice(replicas: int) -> float:
    """How many replicas one simulated replica stands for: 1 up to ``MAX_SIM_REPLICAS``, else the
    fleet is simulated as ~``MAX_SIM_REPLICAS`` replicas at that share of the QPS. Each replica's
    queue sees only its share of the load, so the slice has the same per-replica load and latency;
    it pools less under least-outstanding balancing than the whole fleet, so it errs high (a
    conservative size), and a simulated replica stands for ``slice`` real ones (sizes in steps of
    1/``MAX_SIM_REPLICAS`` of the fleet). Without it, 10,000 QPS (478 replicas) took 27 s, 100,000
    QPS ran for minutes and 1e9 QPS (4e7 engine processes) was killed for memory; and the search's
    8,000 requests spread over 478 replicas gave each ~17, too few to show a queue."""
    return max(1.0, replicas / MAX_SIM_REPLICAS)


def _slice_replicas(replicas: int, fleet: float) -> int:
    """The replicas simulated for a fleet of ``replicas`` when each stands for ``fleet`` (``_fleet_slice``)."""
    return max(1, round(replicas / fleet))


def _replica_cap(r_sl: int, sim: SimSettings) -> int:
    """The most replicas ``_refine_realtime`` tries for a slice of ``r_sl`` analytic replicas: two over it, or
    ``sim.max_replica_factor`` times it where that is more (an option needing more misses its targets)."""
    return max(r_sl + 2, int(math.ceil(r_sl * sim.max_replica_factor)))


#: misses in a row after which ``_refine_realtime`` tries the replica cap once before growing further
FAIL_FAST_AFTER = 2


def setting_ladder(settings: list, search: Callable, better: Callable) -> list[tuple]:
    """The engine settings (token budget, max_num_seqs; ``_engine_settings``) a simulation searched, each with its
    answer, as (answer, setting), each rung beating the one before: the first setting is searched from the analytic
    size (``search(k, None)``, None where it has no answer) and each later one only where one run says it beats the
    answer in hand (``better(k, answer)``), then searched from there (``search(k, answer)``). One rule for both
    questions: the fewest replicas for a QPS (``_refine_realtime``) and the highest QPS a fixed fleet carries
    (``_confirm_fleet``, serve48b: until then a fleet was simulated at the screen's budget and batch alone)."""
    ladder: list[tuple] = []
    for k in settings:
        if not ladder:
            x = search(k, None)
            if x is not None:
                ladder.append((x, k))
        elif better(k, ladder[-1][0]):
            ladder.append((search(k, ladder[-1][0]), k))
    return ladder


def settled_setting(ladder: list[tuple], answer, setting, reached: Callable, holds: Callable):
    """The setting kept for ``answer``, the one its confirmation gave (a longer run on a new seed, which may step
    back from the search's): the first setting on ``ladder`` (``setting_ladder``: the default first) whose search
    answer already ``reached(its answer, answer)`` and whose confirmation ``holds(setting)`` there, else ``setting``.
    QA 90: a fleet's 2B batch passed the 180 s search at 23.7 QPS, missed the 600 s confirmation and stepped back to
    the 22.6 the screen's setting had carried, and the plan kept 2B: a setting changed for no QPS gained. The same
    for a QPS's replicas (``_refine_realtime``, QA 91: ``reached`` is got <= the confirmed count)."""
    for got, k in ladder:
        if k == setting:
            return setting
        if reached(got, answer) and holds(k):
            return k
    return setting


def _refine_realtime(row: ServingOption, m, s, hw, target, sim: SimSettings, qps: float,
                     cache: Optional[dict] = None, lim: ServingLimits = ServingLimits(),
                     note: Optional[Callable[[str], None]] = None,
                     im: Optional[IterationModel] = None, runs: Optional[SimBudget] = None) -> ServingOption:
    """The fewest replicas — and the engine settings: token budget (``sim.token_budgets``) and
    ``max_num_seqs`` (the analytic latency-bound batch B, then min(2B, the memory limit): the
    analytic B assumes every slot full at mean context, a bound the simulation may beat) — whose
    simulated p99 TTFT/TPOT meet the targets with ``sim.margin`` at utilisation <=
    ``sim.max_utilisation``. The first setting starts at the analytic size (or the stable count where that is
    higher): a pass bisects down to the stable count, a miss grows until it passes and bisects back; each other
    setting is tried only where it saves a replica. After
    ``FAIL_FAST_AFTER`` misses one run at the replica cap decides whether a setting can pass at all,
    and once one setting missed there the next ones try the cap first. The winner is confirmed on a
    new seed over a longer run (growing by 1, 1, 2, 4, ... replicas if the confirmation fails, then
    bisecting back). Every shortcut relies on what the bisection does: more replicas never raise a
    p99, so the sizes are those of a one-at-a-time search (tests/test_serving.py checks it against
    one). The option comes back with ``simulated`` and its replicas, nodes and $ at the simulated size. ``runs``:
    the plan's simulation budget (``SimBudget``; it raises ``PlanBoundReached`` once spent)."""
    runs = budget_for(sim, runs)
    B = row.batch
    r_an = row.replicas
    fleet, qps_all = _fleet_slice(r_an), qps
    qps = qps_all / fleet  # below: the simulated slice of the fleet (all of it up to MAX_SIM_REPLICAS)
    wl = sim_workload(s, qps, sim.search_s, sim.search_requests, sim, sim.seed, m)
    warm = min(30.0, wl.span_s / 6)  # the first sixth (at most 30 s) fills the batch: not measured
    r_sl = _slice_replicas(r_an, fleet)
    cap = _replica_cap(r_sl, sim)
    trials = 0
    settings = _engine_settings(row, sim)
    mu: dict = {}
    # one plan's simulations by (config, workload): options on two instances of the same GPU (g6.24xlarge
    # and g6.48xlarge: 4 x L4) run the same search, simulation for simulation; the second is looked up
    cache = {} if cache is None else cache

    def stable(k) -> int:  # fewer replicas would run over max_utilisation
        if k not in mu:
            mu[k] = _cached_capacity(cache, m, s, hw, row.tp, k, sim, im, runs)
        return max(1, math.ceil(qps / (sim.max_utilisation * mu[k])))

    cut_runs = 0  # this option's runs the event bound cut (EVENT_BOUND): stated with its answer

    def ok(r, k, workload=wl, w=warm):
        nonlocal trials, cut_runs
        trials += 1
        if note:  # ``note(what)``: the progress bar's description of the run in hand
            note(f"{'confirming' if workload is not wl else 'trying'} {math.ceil(r * fleet)} replicas "
                 f"(run {trials}, token budget {k[0]}, {k[1]} sequences)")
        cfg = _sim_config(m, s, hw, row.tp, k[1], k[0], r, target, sim, w, im)
        search = workload is wl
        ck = (cfg, "search" if search else "confirm", qps)
        ttft = target.ttft_s if target.ttft_s is not None else sim.default_ttft_s
        if ck not in cache:
            # a search run only answers pass/fail: it stops once a p99 is sure to miss (MissWatch; the thresholds
            # ``meets`` applies), a run that passes runs whole. Confirmations run whole: their numbers are shown
            miss = (None if ttft is None else ttft * (1 - sim.margin),
                    None if target.tpot_s is None else target.tpot_s * (1 - sim.margin)) if search else None
            # a search run's queue / KV samples are never shown: no monitor (the same request times, bit for bit)
            cache[ck] = runs.run(cfg, workload, miss=miss, monitor=not search)
        res = cache[ck]
        cut_runs += res.cut is not None
        return res.meets(ttft, target.tpot_s, sim.margin), res

    missed_cap = []  # settings that missed the targets at the cap

    def smallest(k, hi=None):
        r0 = stable(k)
        # lo: known to fail (or 0). The first try is the analytic size where it is over the stable count (it meets
        # the TTFT with its queue, ``queue_replicas``): a pass there bisects down to the stable count, a miss grows
        # from it, so the search goes down as well as up from the analytic count
        lo, r = r0 - 1, min(cap, max(r0, r_sl))
        fails = 0
        if hi is None and missed_cap and r0 < cap and not ok(cap, k)[0]:
            # another setting of this option missed at the cap already: this one is likely hopeless too, and
            # one run at the cap settles it first (a setting that passes pays that run once on top of its growth)
            missed_cap.append(k)
            return None
        while hi is None:
            if ok(r, k)[0]:
                hi = r
            else:
                lo = r
                fails += 1
                if r >= cap:
                    missed_cap.append(k)
                    return None
                # after FAIL_FAST_AFTER misses, one run at the cap decides whether growing can pass at all: the
                # bisection below already takes more replicas never to raise a p99, so a miss at the cap is a miss
                # at every size under it (a hopeless setting cost a run per 1.3x step up to the cap: 7 of its 25
                # runs, 4 settings x 7 runs of up to 96 replicas, most of a 7-minute plan)
                if fails == FAIL_FAST_AFTER and r < cap and not ok(cap, k)[0]:
                    missed_cap.append(k)
                    return None
                r = min(cap, max(r + 1, int(math.ceil(r * 1.3))))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if mid >= 1 and ok(mid, k)[0]:
                hi = mid
            else:
                lo = mid
        return hi

    # (replicas, (budget, max_num_seqs)): another setting is searched where it saves at least one replica; at one
    # replica there is none to save, and its capacity run (``stable``, ~2,300 engine events at batch 64) is not
    # needed (serve43: 3 of the 5 runs of each low-QPS option ran for this)
    ladder = setting_ladder(settings, lambda k, r: smallest(k, None if r is None else r - 1),
                            lambda k, r: r > 1 and r > stable(k) and ok(r - 1, k)[0])
    best = ladder[-1] if ladder else None
    if best is None:
        return replace(row, refined=True, simulated=None, meets_latency=False,
                       reason=f"simulated p99s miss the targets even with {math.ceil(cap * fleet)} replicas ({trials} runs)")
    r, k = best
    wl2 = sim_workload(s, qps, sim.confirm_s, sim.confirm_requests, sim, sim.seed + 1, m)
    w2 = min(60.0, wl2.span_s / 10)
    # a confirmation that misses grows by 1, 1, 2, 4, ... replicas, then bisects back to the fewest that pass:
    # the size one-at-a-time growth finds (more replicas never raise a p99, as above) in O(log cap) of these,
    # the plan's longest runs (30,000 requests), where it took up to cap - r of them
    lo, misses = r - 1, 0
    while True:
        passed, res = ok(r, k, wl2, w2)
        if passed or r >= cap:
            break
        misses += 1
        lo, r = r, min(cap, r + (1 if misses <= 2 else 2 ** (misses - 2)))
    while passed and r - lo > 1:
        mid = (lo + r) // 2
        p, got = ok(mid, k, wl2, w2)
        if p:
            r, res = mid, got
        else:
            lo = mid
    if passed:  # an earlier setting (the screen's first) whose search size the confirmation grew back to (QA 91)
        k0, k = k, settled_setting(ladder, r, k, lambda got, want: got <= want, lambda kk: ok(r, kk, wl2, w2)[0])
        if k != k0:
            res = ok(r, k, wl2, w2)[1]
    r_all = r if fleet == 1 else math.ceil(r * fleet)
    d = _sim_summary(res, r_all, k[0], k[1])
    d.update(qps=qps_all, saturated_rps_per_replica=mu[k], utilisation=qps_all / (r_all * mu[k]),
             trials=trials, meets_targets=bool(passed))
    if cut_runs:
        d["runs_cut"] = cut_runs  # of ``trials``, the runs the event bound cut (their tails estimated from fewer)
    if fleet > 1:  # what was simulated: a slice of the fleet at its share of the QPS
        d["fleet_slice"] = dict(replicas=r, qps=qps, replicas_per_simulated=fleet)
    # the screen's figures re-stated at the simulation's budget and count, beside its p99s (serve44 / serve45)
    row = replace(_at_budget(row, m, s, hw, target, im or option_iteration(m, s, hw, row.tp), k[0], r_all), refined=True,
                  analytic_replicas=r_an, simulated=d)
    if not passed:
        row = replace(row, meets_latency=False, reason=f"simulated p99s miss the targets with {r_all} replicas")
    return _resize(row, qps_all, lim)


#: simulations a disaggregated split's confirmation runs at most (each grows P or D by one after a miss)
DISAGG_SIM_TRIES = 8


def replica_layout(row: ServingOption) -> str:
    """An option's replica as the split's lines name it: EPn (n GPUs of expert parallelism, DP attention) or TPn."""
    return f"EP{row.ep}" if (row.ep or 1) > 1 else f"TP{row.tp}"


#: the decode side of a split where it runs another option's layout (``_disagg_option``): (its option, its serving
#: spec, its iteration model); None: the prefill option's
DecodeOption = Optional[tuple[ServingOption, ServingSpec, IterationModel]]


def _decode_side(dec: DecodeOption) -> Optional[SplitSide]:
    """The screen's view of a split's decode option (``disagg_size``'s ``decode``)."""
    return None if dec is None else SplitSide(dec[0].tp, dec[2], dec[0].batch_memory_limit)


def _disagg_run(m, s, hw, tp: int, size: DisaggSize, target: ServeTarget, sim: SimSettings,
                im: IterationModel, runs: SimBudget, qps: float, dec: DecodeOption = None):
    """One simulation of ``size``'s split (planner/simulate/serving.py ``disaggregate``) at ``qps``, on the confirmation
    workload the colocated plan confirms on; the KV link at the screen's rate (``kv_link``); the prefill engines at the
    screen's token budget raised to the longest drawn prompt (``prefill_budget``) and the decode batch's seats, the
    limits the screen's prefill steps take (``prefill_batch``); the decode replicas ``dec``'s layout where given
    (its own KV pool and DP engines' seats, ``_sim_config``)."""
    wl = sim_workload(s, qps, sim.confirm_s, sim.confirm_requests, sim, sim.seed + 1, m)
    budget = prefill_budget(size.prefill_budget, int(wl.prompt.max()))
    warm = min(60.0, wl.span_s / 10)
    cfg = _sim_config(m, s, hw, tp, size.decode_batch, budget, 1, target, sim, warm, im)
    cfg = replace(cfg, disaggregate=(size.prefill, size.decode), kv_link_bw=size.link_bytes_per_s)
    if dec is not None:
        dcfg = _sim_config(m, dec[1], hw, dec[0].tp, size.decode_batch, budget, 1, target, sim, warm, dec[2])
        cfg = replace(cfg, decode_replica=dcfg.replica, decode_engine=dcfg.engine)
    return runs.run(cfg, wl, monitor=False)


def _split_usd_hr(row: ServingOption, size: DisaggSize, dec: DecodeOption = None) -> Optional[float]:
    """$/h of a split's replicas on option ``row`` (its decode replicas ``dec``'s layout where given, on the same
    hardware): whole nodes at its rate (``split_nodes``), as the colocated fleet (``_sized``)."""
    nodes = split_nodes(size.prefill, row.tp, size.decode, row.tp if dec is None else dec[0].tp, row.gpus_per_node)
    return nodes * row.price_usd_hr if row.price_usd_hr is not None else None


def _split_gpus(row: ServingOption, size: DisaggSize, dec: DecodeOption = None) -> int:
    return size.prefill * row.tp + size.decode * (row.tp if dec is None else dec[0].tp)


def _past_split_cap(size: DisaggSize) -> bool:
    """Whether a side of split ``size`` has more replicas than a split takes (``MAX_DISAGG_REPLICAS``: each is an
    engine of the split's simulation; ``auto`` at 1e5 QPS of llama3-70b sized 40,133 + 53,548, fuzz52)."""
    return max(size.prefill, size.decode) > MAX_DISAGG_REPLICAS


def _disagg_option(s: ServingSpec, options, where: list, target: ServeTarget, m) -> tuple[int, int]:
    """Which options a split runs on, (prefill, decode): the recommended one for a split the job fixed; for ``auto`` the
    pair whose screened split (``disagg_size``) is within ``MAX_DISAGG_REPLICAS`` a side and costs least (then fewer
    GPUs): a split may run narrower replicas than the colocated best (two TP-4 replicas in one node, the KV over
    NVLink, against one TP-8 replica). A pair is an option with itself, or two expert-parallel options on the same
    hardware in the same precision (disaggep52: each side its own EP / DP-attention layout, as DeepSeek's deployment
    runs prefill EP32 and decode EP144 -- arXiv 2412.19437 §3.4; a DP rank's requests keep their KV whole, so a
    prefill rank's KV is a decode rank's whatever the two widths). Expert-parallel options were refused until
    disaggep52 (every option expert-parallel: DeepSeek-V3 with ``serving.expert_parallel: true``)."""
    if s.disaggregation.split is not None:
        return 0, 0

    def paired(j: int, i: int) -> bool:
        a, b = options[j], options[i]
        return i == j or ((a.ep or 1) > 1 and (b.ep or 1) > 1 and a.hardware == b.hardware
                          and a.precision == b.precision)

    def cost(pair: tuple[int, int]) -> tuple:
        j, i = pair
        row, (hw, sp, im) = options[j], where[j]
        dec = _decode_option(options, where, j, i)
        size = disagg_size(m, sp, hw, row.tp, target, im, row.batch_memory_limit,
                           budget=row.token_budget or REALTIME_TOKEN_BUDGET, decode=_decode_side(dec))
        usd = _split_usd_hr(row, size, dec)
        return (_past_split_cap(size), math.inf if usd is None else usd, _split_gpus(row, size, dec), j, i)

    pairs = [(j, i) for j in range(len(options)) for i in range(len(options)) if paired(j, i)]
    return min(pairs, key=cost)


def _decode_option(options, where: list, j: int, i: int) -> DecodeOption:
    """The decode side of a split on options ``j`` (prefill) and ``i`` (decode): None where both are ``j``."""
    return None if i == j else (options[i], where[i][1], where[i][2])


#: simulations ``auto`` runs past a confirmed split to try a smaller one (one replica fewer a try, prefill first)
DISAGG_SHRINK_TRIES = 3


def _disagg_sim(m, s: ServingSpec, hw, tp: int, size: DisaggSize, target: ServeTarget, sim: SimSettings,
                im: IterationModel, runs: SimBudget, dec: DecodeOption = None) -> dict:
    """One simulated split (``_disagg_run``) as the plan states it: its replicas, p99s and whether each target holds."""
    res = _disagg_run(m, s, hw, tp, size, target, sim, im, runs, float(target.qps), dec)
    ttft = target.ttft_s if target.ttft_s is not None else sim.default_ttft_s
    ok_ttft, ok_tpot = res.meets(ttft, None, sim.margin), res.meets(None, target.tpot_s, sim.margin)
    return dict(prefill=size.prefill, decode=size.decode, ttft_p99_ms=_finite(res.ttft.p99 * 1e3),
                tpot_p99_ms=_finite(res.tpot.p99 * 1e3), meets_targets=ok_ttft and ok_tpot, cut=res.cut,
                meets_ttft=ok_ttft, meets_tpot=ok_tpot)


def _sim_words(got: dict) -> dict:
    """A simulated split as the plan's JSON keeps it (``_disagg_sim`` less its per-target flags)."""
    return {k: v for k, v in got.items() if k not in ("meets_ttft", "meets_tpot")}


def _shrink_split(m, s: ServingSpec, hw, tp: int, size: DisaggSize, met: dict, grown: tuple, target: ServeTarget,
                  sim: SimSettings, im: IterationModel, runs: SimBudget,
                  restate: Callable[[int, int], DisaggSize], dec: DecodeOption = None) -> tuple[DisaggSize, dict, list]:
    """``auto``'s smaller splits (disagg52): from a split the simulation confirmed (``met``), one prefill replica fewer,
    then one decode replica fewer, each kept while its simulation still meets both targets, at most
    ``DISAGG_SHRINK_TRIES`` simulations in all; a side the confirmation grew (``grown``: its one-smaller split
    missed) is not tried. The screen states each side conservatively (``prefill_ttft``: each part of the wait at its
    own tail; ``disagg_tpot``: the p99 batch) and the confirmation only grows, so without this a split the
    simulation over-meets stood. ``restate(P, D)``: the split as the screen states it (its KV link: a smaller split
    may fit one node). (split, its simulation, the splits tried as their simulations)."""
    tried = []
    for side, was_grown in zip(("prefill", "decode"), grown):
        while not was_grown and getattr(size, side) > 1 and len(tried) < DISAGG_SHRINK_TRIES:
            fewer = side == "prefill"
            smaller = restate(size.prefill - fewer, size.decode - (not fewer))
            try:
                got = _disagg_sim(m, s, hw, tp, smaller, target, sim, im, runs, dec)
            except PlanBoundReached:  # the plan's events are spent: the confirmed split stands
                return size, met, tried
            tried.append(got)
            if not got["meets_targets"]:
                break
            size, met = smaller, got
    return size, met, tried


def _disaggregation(row: ServingOption, best: ServingOption, m, s: ServingSpec, hw, target: ServeTarget,
                    im: IterationModel, sim: SimSettings, simulate: bool, runs: SimBudget,
                    dec: DecodeOption = None) -> dict:
    """``serving.disaggregation`` on the recommended option (pd51): the screen's split (``disagg_size``: sized for
    ``auto``, the job's {prefill, decode} as given), then, with ``simulate``, the simulation of that split, growing
    the prefill replicas after a TTFT miss and the decode replicas after a TPOT miss (at most ``DISAGG_SIM_TRIES``
    runs), as the colocated plan's replicas grow after a miss; for ``auto`` a confirmed split then tries smaller ones
    (``_shrink_split``, disagg52). Its $/h is whole nodes at the option's rate, as the colocated fleet's
    (``_sized``); ``cheaper`` compares the two at the SLOs. ``dec``: the decode replicas' own option (disaggep52)."""
    split = s.disaggregation.split
    side = _decode_side(dec)

    def restate(p: int, d_: int) -> DisaggSize:  # a grown or smaller split: its own link (one node or two)
        return disagg_size(m, s, hw, row.tp, target, im, row.batch_memory_limit, (p, d_),
                           budget=row.token_budget or REALTIME_TOKEN_BUDGET, decode=side)

    size = disagg_size(m, s, hw, row.tp, target, im, row.batch_memory_limit, split,
                       budget=row.token_budget or REALTIME_TOKEN_BUDGET, decode=side)
    if _past_split_cap(size):  # (a job's own split is held to the cap by the schema)
        raise InputError("serving.disaggregation", f"auto sizes {size.prefill:,} prefill + {size.decode:,} decode "
                         f"{replica_layout(row)} replicas of {row.hardware} for {fmt_given(target.qps)} QPS, past the "
                         f"{MAX_DISAGG_REPLICAS:,} a side a split is screened and simulated at (a service this size "
                         "is the colocated plan's scale); leave serving.disaggregation off, or split the load into "
                         "several services and plan each")
    d = dict(mode="auto" if split is None else "split", screen_prefill=size.prefill, screen_decode=size.decode,
             prefill_ms=size.prefill_s * 1e3, prefill_budget=size.prefill_budget, prefill_batch=size.prefill_batch,
             prefill_step_ms=size.prefill_step_s * 1e3, decode_batch=size.decode_batch,
             decode_step_ms=size.decode_step_s * 1e3, kv_mib_per_request_per_gpu=size.kv_bytes / 2**20,
             screen_ttft_ms=size.ttft_s * 1e3, screen_tpot_ms=size.tpot_s * 1e3, simulated=None, tried_smaller=[])
    if simulate:
        start, got = (size.prefill, size.decode), None
        for i in range(DISAGG_SIM_TRIES):
            try:
                got = _disagg_sim(m, s, hw, row.tp, size, target, sim, im, runs, dec)
            except PlanBoundReached:  # the plan's events are spent (until disagg52 an internal error): said, not run
                d["bound_reached"] = True
                if got is not None:  # the split last simulated, not the unsimulated one grown after it
                    size = restate(got["prefill"], got["decode"])
                break
            if got["meets_targets"] or split is not None or i == DISAGG_SIM_TRIES - 1:  # a fixed split: stated
                break
            # grown at its own link: past one node the KV crosses the NIC (until disagg52 the screen's link stayed)
            size = restate(size.prefill + (not got["meets_ttft"]), size.decode + (not got["meets_tpot"]))
        if got is not None and got["meets_targets"] and split is None:
            grown = (size.prefill > start[0], size.decode > start[1])
            size, got, d["tried_smaller"] = _shrink_split(m, s, hw, row.tp, size, got, grown, target, sim, im, runs,
                                                          restate, dec)
        d["simulated"] = _sim_words(got) if got is not None else None
        d["tried_smaller"] = [_sim_words(t) for t in d["tried_smaller"]]
    d.update(link=size.link, link_gb_per_s_per_gpu=size.link_bytes_per_s / 1e9, kv_transfer_ms=size.kv_transfer_s * 1e3)
    drow = row if dec is None else dec[0]
    d.update(prefill=size.prefill, decode=size.decode, tp=row.tp, ep=row.ep or 1, layout=replica_layout(row),
             decode_tp=drow.tp, decode_ep=drow.ep or 1, decode_layout=replica_layout(drow),
             gpus=_split_gpus(row, size, dec),
             usd_per_hr=_split_usd_hr(row, size, dec), colocated_tp=best.tp, colocated_layout=replica_layout(best),
             colocated_replicas=best.replicas, colocated_usd_per_hr=best.usd_per_hr)
    d["meets_targets"] = _split_meets(size, d["simulated"], target)
    if d["usd_per_hr"] is not None and best.usd_per_hr is not None:
        # at the SLOs: a split that misses them saves nothing, whatever its $/h (qa59: a job's 1 + 1 split at 40 QPS,
        # its simulated TTFT unbounded, read "$13.76/h against the colocated ... $20.64/h: disaggregated is cheaper")
        d["cheaper"] = ("colocated" if split_misses(d) else
                        "disaggregated" if d["usd_per_hr"] < best.usd_per_hr else
                        "colocated" if d["usd_per_hr"] > best.usd_per_hr else "neither (the same nodes)")
    return d


def _split_meets(size: DisaggSize, simulated: Optional[dict], target: ServeTarget) -> bool:
    """Whether a prefill-decode split meets the targets: its simulation's verdict where one ran, else the screen's
    p99s against them (an overloaded prefill side's TTFT is infinite there: ``prefill_ttft``)."""
    if simulated is not None:
        return bool(simulated["meets_targets"])
    return all(want is None or got <= want for got, want in ((size.ttft_s, target.ttft_s), (size.tpot_s, target.tpot_s)))


def split_misses(d: dict) -> bool:
    """Whether a plan's prefill-decode split (``_disaggregation``'s dict) misses the targets (``_split_meets``: its
    simulation's verdict, else the screen's p99s)."""
    return not d.get("meets_targets", True)


def _cost_words(d: dict) -> str:
    """The split's $/h beside the colocated fleet's and which is cheaper (of the fleets that hold the targets)."""
    if not d.get("cheaper"):
        return "no price"
    n = d["colocated_replicas"]
    head = (f"${d['usd_per_hr']:,.2f}/h against the colocated {count_of(n, d['colocated_layout'] + ' replica')} "
            f"({count_of(n * d['colocated_tp'], 'GPU')}) ${d['colocated_usd_per_hr']:,.2f}/h")
    if split_misses(d):
        return f"{head}: the split misses the targets, so the colocated fleet is the plan that meets them"
    return f"{head}: {d['cheaper']} is cheaper"


def disagg_words(d: dict, hardware: str) -> list[str]:
    """The ``assumed:`` lines of a plan's prefill-decode split (``_disaggregation``)."""
    sim_ = d["simulated"]
    # None (a simulated request never finished) or infinite (the screen's overloaded side: "p99 TTFT inf ms")
    ms = lambda x, f: "unbounded" if x is None or not math.isfinite(x) else f"{x:{f}} ms"  # noqa: E731
    got = (f"simulated p99 TTFT {ms(sim_['ttft_p99_ms'], '.0f')}, TPOT {ms(sim_['tpot_p99_ms'], '.1f')}"
           + ("" if sim_["meets_targets"] else " (misses the targets)")
           + (f" ({cut_words(sim_['cut'])})" if sim_.get("cut") else "") if sim_ else "not simulated")
    if d.get("bound_reached"):
        got += " (the plan's simulation event bound, serving.plan_event_bound, was spent before the split's runs ended)"

    cost = _cost_words(d)
    tried = d.get("tried_smaller") or []
    engine = f" on each of a replica's {d['ep']} DP engines" if d["ep"] > 1 else ""
    smaller = ("; smaller splits simulated: " + ", ".join(
        f"{t['prefill']} + {t['decode']} {'meets' if t['meets_targets'] else 'misses'} (p99 TTFT "
        f"{ms(t['ttft_p99_ms'], ',.0f')}, TPOT {ms(t['tpot_p99_ms'], ',.1f')})" for t in tried)) if tried else ""
    sides = (f"{d['prefill']} prefill + {d['decode']} decode {d['layout']} replicas"
             if d["decode_layout"] == d["layout"] else
             f"{d['prefill']} prefill {d['layout']} + {d['decode']} decode {d['decode_layout']} replicas")
    return [f"serving.disaggregation {d['mode']} on {hardware}: {sides} "
            f"({count_of(d['gpus'], 'GPU')}; screen {d['screen_prefill']} + {d['screen_decode']}, p99 TTFT {ms(d['screen_ttft_ms'], '.0f')}, "
            f"TPOT {ms(d['screen_tpot_ms'], '.1f')} at a decode batch of up to {d['decode_batch']:,}), {got}{smaller}; {cost}",
            f"serving.disaggregation prefill steps: up to {d['prefill_batch']:,} "
            f"{'prompt' if d['prefill_batch'] == 1 else 'whole prompts'} a step{engine} (token budget "
            f"{d['prefill_budget']:,}, vLLM's max_num_batched_tokens{', each engine its own' if engine else ''}), {d['prefill_step_ms']:.1f} ms a step at "
            "the screen's load",
            f"serving.disaggregation KV transfer: {d['kv_mib_per_request_per_gpu']:.1f} MiB a request per GPU"
            f"{' (its DP rank holds it whole)' if d['ep'] > 1 else ''} over "
            f"{d['link']} at {d['link_gb_per_s_per_gpu']:.1f} GB/s per GPU = {d['kv_transfer_ms']:.1f} ms, in TTFT "
            + ("(prefill and decode replicas share one node)" if d["link"] != "NIC" else
               "(prefill and decode replicas on different nodes: the catalog's NIC rate)")]


def _confirm_fleet(row: ServingOption, m, s: ServingSpec, hw, target: ServeTarget, sim: SimSettings,
                   cache: dict, im: Optional[IterationModel], runs: SimBudget) -> ServingOption:
    """A fixed fleet's analytic QPS (``fleet_row``) judged in simulation, as ``_refine_realtime`` judges a size: the
    fleet (a slice of it past ``MAX_SIM_REPLICAS``, ``_fleet_slice``) at each engine setting ``_refine_realtime``
    tries (``_engine_settings``: each token budget at the screen's batch B, then min(2B, the memory limit); chosen by
    ``setting_ladder``, the same rule), its p99 TTFT and TPOT ``sim.margin`` under the targets and the QPS at most
    ``sim.max_utilisation`` of the fleet's simulated saturated rate at that setting (``_capacity``). The first setting
    searches from the analytic QPS (``highest_rate``, ``FLEET_SIM_TOLERANCE``); another is searched only where one
    run at the QPS in hand x (1 + that tolerance) passes, its capacity run only then. The winner is confirmed on a new
    seed over the longer run, stepping down by that tolerance while it misses (at most 3 times). The answer is a QPS
    the fleet is shown to carry; it may pass the analytic one where another setting carries more (as
    ``_refine_realtime`` may size under the analytic count). ``runs``: the plan's simulation budget
    (``PlanBoundReached`` once spent)."""
    replicas = row.replicas
    fleet = _fleet_slice(replicas)
    r_sl = _slice_replicas(replicas, fleet)
    ttft = target.ttft_s if target.ttft_s is not None else sim.default_ttft_s
    trials = 0
    found: dict = {}

    def ceiling(k) -> float:  # the fleet's QPS at ``sim.max_utilisation`` of its saturated rate at setting ``k``
        return sim.max_utilisation * replicas * _cached_capacity(cache, m, s, hw, row.tp, k, sim, im, runs)

    def passes(q: float, k, confirm: bool = False) -> bool:
        nonlocal trials
        if (q, k, confirm) not in found:
            trials += 1
            seconds, cap, seed = ((sim.confirm_s, sim.confirm_requests, sim.seed + 1) if confirm else
                                  (sim.search_s, sim.search_requests, sim.seed))
            wl = sim_workload(s, q / fleet, seconds, cap, sim, seed, m)
            warm = min(60.0, wl.span_s / 10) if confirm else min(30.0, wl.span_s / 6)
            cfg = _sim_config(m, s, hw, row.tp, k[1], k[0], r_sl, _target_at(target, sim, q), sim, warm, im)
            miss = None if confirm else (None if ttft is None else ttft * (1 - sim.margin),
                                         None if target.tpot_s is None else target.tpot_s * (1 - sim.margin))
            found[q, k, confirm] = runs.run(cfg, wl, miss=miss, monitor=confirm)
        return found[q, k, confirm].meets(ttft, target.tpot_s, sim.margin)

    def search(k, q0: Optional[float]) -> Optional[float]:
        top = ceiling(k)
        start = min(row.fleet_qps, top) if q0 is None else q0 * (1 + FLEET_SIM_TOLERANCE)
        return highest_rate(lambda q: passes(q, k), start, FLEET_SIM_TOLERANCE, ceiling=top)

    def better(k, q0: float) -> bool:  # one search run first: the capacity run only for a setting that passes
        q = q0 * (1 + FLEET_SIM_TOLERANCE)
        return passes(q, k) and q <= ceiling(k)

    ladder = setting_ladder(_engine_settings(row, sim, row.token_budget or sim.token_budgets[0]), search, better)
    passed = False
    q, k = ladder[-1] if ladder else (None, None)
    for _ in range(3 if q is not None else 0):
        passed = passes(q, k, confirm=True)
        if passed:
            break
        q /= 1 + FLEET_SIM_TOLERANCE
    if passed:  # an earlier setting (the screen's first) where the one kept stepped back to a QPS it reached too
        k = settled_setting(ladder, q, k, lambda got, want: got >= want, lambda kk: passes(q, kk, confirm=True))
    if not passed:
        return replace(row, refined=True, simulated=None, meets_latency=False,
                       reason=f"simulated p99s miss the targets on {_reps(replicas, row.layout)} at every QPS tried "
                              f"({trials} runs)")
    mu = _cached_capacity(cache, m, s, hw, row.tp, k, sim, im, runs)
    d = _sim_summary(found[q, k, True], replicas, k[0], k[1])
    d.update(qps=q, saturated_rps_per_replica=mu, utilisation=q / (replicas * mu), trials=trials, meets_targets=True)
    if fleet > 1:
        d["fleet_slice"] = dict(replicas=r_sl, qps=q / fleet, replicas_per_simulated=fleet)
    # the screen's figures re-stated at the budget and QPS the simulation kept, beside the simulated p99s (as
    # ``_at_budget`` re-states a sized option's)
    row = replace(throughput_at(row, s, im or option_iteration(m, s, hw, row.tp), k[0]),
                  token_budget_by=BUDGET_BY_SIMULATION)
    conc, _, ttft_s, tpot = screen_point(m, s, hw, row.tp, _target_at(target, sim, q), row.batch, replicas,
                                         row.requests_per_s_per_replica, im, k[0])
    return replace(row, refined=True, analytic_replicas=replicas, simulated=d, fleet_qps=q,
                   fleet_qps_by=FLEET_QPS_BY.names[1], concurrency=conc,
                   ttft_ms=ttft_s * 1e3 if math.isfinite(ttft_s) else None,
                   tpot_ms=None if row.tpot_ms is None else tpot() * 1e3, **_sized(row, replicas, q))


def latency_vs_qps(job: JobSpec, row: ServingOption, qps_values, sim: Optional[SimSettings] = None,
                   catalog=None, profile=None, runs: Optional[SimBudget] = None) -> list[LatencyPoint]:
    """Simulated latency percentiles of one simulated option (``row`` from ``plan_serving``: its
    hardware, TP, precision, batch, token budget and replicas) at each offered QPS — the data of a
    latency-vs-QPS chart. One point per QPS: ``qps``, ``ttft_ms``/``tpot_ms``/``e2e_ms`` (p50, p90,
    p99, mean; None where requests did not finish), ``goodput``, ``unfinished``, ``utilisation``
    (QPS / (replicas x simulated saturated throughput) when known). A QPS at or over the replicas' saturated
    throughput (utilisation >= 1) is an unstable queue: the point says so (``unstable``, latencies None) at once
    instead of simulating a backlog that only grows. The curve's runs share one bound (``runs``, a ``SimBudget``:
    by default ``sim.plan_event_bound`` events): the points past it are not simulated (``not_simulated``, latencies
    None)."""

    sim = sim or settings_for(job)
    d = row.get("simulated")
    if not d or "replicas" not in d or "max_num_batched_tokens" not in d:
        raise InputError("row", "latency_vs_qps needs an option plan_serving simulated (row['simulated'])")
    hw = next((h for h in _options(job, catalog or load_catalog(), profile) if h.name == row["hardware"]), None)
    if hw is None:
        raise InputError("row.hardware", f"{row['hardware']} is not among the job's hardware options")
    s = job.serving.model_copy(update={"precision": row["precision"]})
    m = served_model(job.model)
    target = ServeTarget(s.p99_latency_ms / 1e3 if s.p99_latency_ms else None,
                         s.ttft_ms / 1e3 if s.ttft_ms else None, None)
    out = []
    runs = budget_for(sim, runs)
    fleet = _fleet_slice(d["replicas"])  # a large fleet as its slice, as plan_serving sized it
    im = option_iteration(m, s, hw, row["tp"])  # once for every point
    for q in qps_values:
        if not q > 0:
            raise InputError("qps", "every QPS must be > 0")
        mu = d.get("saturated_rps_per_replica")
        util = q / (d["replicas"] * mu) if mu else None
        if util is not None and util >= 1.0:  # arrivals outpace service: the backlog grows for as long as one runs
            none = dict(p50=None, p90=None, p99=None, mean=None)
            out.append(LatencyPoint(qps=float(q), ttft_ms=none, tpot_ms=dict(none), e2e_ms=dict(none), goodput=None,
                                    unfinished=None, utilisation=util, unstable=True))
            continue
        wl = sim_workload(s, float(q) / fleet, sim.search_s, sim.search_requests, sim, sim.seed, m)
        try:
            res = runs.run(_sim_config(m, s, hw, row["tp"], d["max_num_seqs"], d["max_num_batched_tokens"],
                                       _slice_replicas(d["replicas"], fleet), target, sim, min(30.0, wl.span_s / 6),
                                       im), wl)
        except PlanBoundReached:  # the curve's bound is spent: this point and the rest are said, not simulated
            none = dict(p50=None, p90=None, p99=None, mean=None)
            out.append(LatencyPoint(qps=float(q), ttft_ms=none, tpot_ms=dict(none), e2e_ms=dict(none), goodput=None,
                                    unfinished=None, utilisation=util, not_simulated=runs.words()))
            continue
        lat = res.summary()  # its TPOT null where no request had a second token (one output token: NO_TPOT)
        out.append(LatencyPoint(**_finite(dict(qps=float(q), ttft_ms=lat["ttft_ms"], tpot_ms=lat["tpot_ms"],
                                                e2e_ms=lat["e2e_ms"], goodput=res.goodput, unfinished=res.unfinished,
                                                utilisation=util))))
    return out


#: the most requests a simulated offline backlog holds: a replica's larger share is run as this many and its rate
#: extrapolated (the steady state dominates a share that large)
OFFLINE_SIM_REQUESTS = 2000
#: draws of an offline share every option gets (seeds ``seed``, ``seed + 1``, ...; ``_refine_offline``): each is one
#: replica's share of requests with its own lengths. A share that runs whole is drawn again, one draw per replica,
#: while the option's share of the plan's bound allows (``offline_draw_allowance``), up to the whole fleet
OFFLINE_DRAWS = 3
#: at most this many draws an option: a run costs ~4-15 ms beyond its engine events (measured: 10-event runs of a
#: 200-replica fleet's 10-request shares), which the event bound does not count, so 256 tiny runs stay within ~3 s.
#: A larger fleet is judged on the expected slowest of all its replicas (``expected_slowest``)
OFFLINE_FLEET_RUNS = 256


#: re-sizings of an offline fleet whose simulated time misses the deadline (``_refine_offline``): each is simulated
#: again, so an option simulates at most 1 + this many fleet sizes
OFFLINE_RESIZES = 2


def offline_draw_allowance(left: int, candidates: int) -> float:
    """Engine events one simulated fleet size's share draws past the first ``OFFLINE_DRAWS`` may run: an even share
    of what the plan's bound has left (``SimBudget.left``) among the sizes still to simulate, ``candidates`` options
    (``SimSettings.candidates``) x (1 + ``OFFLINE_RESIZES``) sizes each, so one large fleet's draws spend the bound
    without leaving a re-sizing or the next option none (each share is of what the ones before it left).

    >>> offline_draw_allowance(1_200_000, 4)
    100000.0
    """
    return left / (max(1, candidates) * (1 + OFFLINE_RESIZES))


def expected_slowest(times: list[float], n: int) -> float:
    """The expected slowest of ``n`` replicas' times, from ``times``, a few of them drawn (at least two): the draws'
    mean + their sample standard deviation x the expected largest of ``n`` standard normals, by Blom's approximation
    z_n = Phi^-1((n - 0.375) / (n + 0.25)) (G. Blom, "Statistical Estimates and Transformed Beta-Variables", 1958;
    the plotting position of the largest of n). A replica's share time is a sum over hundreds of requests, so near
    normal; with three draws the spread is itself rough, which the words say.

    >>> round(expected_slowest([9.0, 10.0, 11.0], 100), 2)  # 10 + 1 x 2.499
    12.5
    """
    mean = sum(times) / len(times)
    sd = math.sqrt(sum((t - mean) ** 2 for t in times) / (len(times) - 1))
    return mean + sd * NormalDist().inv_cdf((n - 0.375) / (n + 0.25))


#: what an offline fleet's time (``simulated.hours``, and the deadline judged on it) is, by case (``simulated.draws``
#: ``fleet_time``; ``_offline_draws_effect``)
FLEET_TIME = {
    "slowest share": "every replica's share simulated: the slowest of them",
    "expected slowest": "not every share simulated: the expected slowest of all the replicas (``expected_slowest``), "
                        "never under the slowest drawn",
    "first draw's rate": "a share too large to run whole: at the first draw's rate",
}


def _offline_draws_effect(k: int, reps: int, whole: bool, share: int, rates: list[float], seconds: float) -> dict:
    """What an offline option's fleet time is (``fleet_time``, a ``FLEET_TIME`` key) and how much it rests on which
    shares were drawn (``_refine_offline``). A share too large to run whole is timed at the first draw's rate: the
    other draws' rates say how far another draw would have moved it (``moves_answer``, a share of the time). A fleet
    of more replicas than draws is held by its slowest replica, which ``k`` draws do not see: its time is the
    expected slowest of all ``reps`` (``slowest_of_fleet_s``, ``expected_slowest``), never under the slowest drawn
    (``seconds``, ``slowest_drawn_s``); ``over_slowest_drawn``: how much above it."""
    if not whole:
        return dict(fleet_time="first draw's rate", moves_answer=max(abs(rates[0] / r - 1) for r in rates))
    if reps <= k:
        return dict(fleet_time="slowest share")
    slowest = max(seconds, expected_slowest([share / r for r in rates], reps))
    return dict(fleet_time="expected slowest", slowest_drawn_s=seconds, slowest_of_fleet_s=slowest,
                over_slowest_drawn=slowest / seconds - 1)


def _offline_draws_words(k: int, reps: int, share: int, rates: list[float], effect: dict, stop: str) -> str:
    """What an offline option's draws simulated, which time its answer is and how much that may move it
    (``_offline_draws_effect``), in one line (``_refine_offline``); ``stop``: what kept the draws short of the fleet."""
    lo, hi = min(rates), max(rates)
    spread = f"{lo:.3g}-{hi:.3g} req/s per replica over the {k} draws"
    if effect["fleet_time"] == "first draw's rate":
        return (f"one replica's share ({share:,} requests) at the rate of a {OFFLINE_SIM_REQUESTS:,}-request draw, "
                f"the first of {k} ({spread}: another draw moves the time by up to {effect['moves_answer']:.1%}; "
                "a share this large varies less from replica to replica than that)")
    if effect["fleet_time"] == "slowest share":
        return ("every replica's share simulated (" + (f"{reps} of the {k} draws" if reps < k else f"{k} draws")
                + f", {count_of(share, 'request')} each), the slowest holding the fleet ({spread})")
    return (f"{k} of the {reps:,} replicas' shares simulated ({count_of(share, 'request')} each; {stop}), the slowest of them "
            f"{fmt_run_time(effect['slowest_drawn_s'] / 3600)}; the fleet's time and its deadline are judged on the "
            f"expected slowest of all {reps:,}, {fmt_run_time(effect['slowest_of_fleet_s'] / 3600)}, "
            f"+{effect['over_slowest_drawn']:.1%} (the draws' mean and spread, normal order statistics; {spread})")


def _refine_offline(row: ServingOption, m, s, hw, sim: SimSettings,
                    lim: ServingLimits = ServingLimits(), im: Optional[IterationModel] = None,
                    runs: Optional[SimBudget] = None) -> ServingOption:
    """Offline: one replica's share of the job (ceil(requests / replicas), the analytic plan's replicas, their nodes
    filled) queued at once on one simulated replica at the plan's batch gives the time the fleet takes (up to
    ``OFFLINE_SIM_REQUESTS`` requests; a larger share at that run's rate). ``OFFLINE_DRAWS`` shares are drawn (seeds
    ``sim.seed`` on); where the share runs whole each draw stands for one replica, and more are drawn, one per
    replica up to the whole fleet (at most ``OFFLINE_FLEET_RUNS``), while the next draw (at the draws' mean events)
    fits the option's share of the plan's bound (``offline_draw_allowance``). The fleet is held until its slowest
    replica finishes: its time is the slowest draw where every share was simulated, else the expected slowest of all
    its replicas (``expected_slowest``; conservative: a deadline between the slowest of a few draws and the whole
    fleet's time was met on paper and missed when simulated). A larger share keeps the first draw's rate (the answer
    of ``sim.seed``) and the others give its spread (``simulated.draws`` says which: ``fleet_time``). The simulation
    is the judge: where the fleet's time misses the deadline, the replicas are re-sized on the analytic times scaled
    by simulated / analytic and simulated again (``OFFLINE_RESIZES`` times at most; ``_hold`` rejects a fleet that
    still misses). Without a job size, a backlog of ``OFFLINE_SIM_REQUESTS`` gives the rate. ``im``: the option's
    iteration model (``option_iteration``); ``runs``: the plan's simulation budget (``SimBudget``)."""
    im = im or option_iteration(m, s, hw, row.tp)
    runs = budget_for(sim, runs)
    alone = one_request_s(row, s.output_tokens) or 0.0
    per_node = replicas_per_node(row.tp, row.gpus_per_node)

    def simulate(reps: int):
        share = math.ceil(s.requests / reps) if s.requests else OFFLINE_SIM_REQUESTS
        n = min(share, OFFLINE_SIM_REQUESTS)
        batch = min(row.batch_memory_limit, share)
        cfg = _sim_config(m, s, hw, row.tp, batch, offline_token_budget(im, s, batch), 1,
                          ServeTarget(None, None, None), sim, 0.0, im)
        # whole shares: a draw per replica, up to the fleet, while the option's share of the plan's bound lasts
        fleet_draws = min(reps, OFFLINE_FLEET_RUNS) if s.requests and n == share else 0
        allow = offline_draw_allowance(runs.left(), sim.candidates)
        draws, spent, stop = [], 0, ""
        while len(draws) < OFFLINE_DRAWS or (len(draws) < fleet_draws and all(w for _, w, _ in draws)):
            if len(draws) >= OFFLINE_DRAWS and spent + spent / len(draws) > allow:
                stop = f"the option's share of the plan bound, {allow:,.0f} engine events, allowed no more"
                break
            k = len(draws)
            wl = draw_workload(s, ArrivalSpec("burst", count=n), sim, m.context_length, sim.seed + k)
            res = runs.run(replace(cfg, drain_s=1e7), wl)
            spent += res.engine_events
            # the whole share ran: its makespan; a larger one, or one the event bound stopped, at the run's rate
            whole = n == share and res.cut is None
            seconds = res.simulated_s if whole else share / res.throughput_rps
            draws.append((max(seconds, alone), whole, res))
        if not stop and len(draws) < reps:
            stop = f"at most {OFFLINE_FLEET_RUNS} draws an option"
        whole = bool(s.requests) and all(w for _, w, _ in draws)
        # whole shares: each draw is a replica, the slowest of the fleet's holds it; else the first draw's rate
        fleet = draws[:min(reps, len(draws))] if whole else draws[:1]
        seconds, _, res = max(fleet, key=lambda x: x[0])
        rates = [share / t if s.requests else r.throughput_rps for t, _, r in draws]
        effect = _offline_draws_effect(len(draws), reps, whole, share, rates, seconds)
        seconds = effect.get("slowest_of_fleet_s", seconds)  # not every share drawn: the expected slowest (judged)
        info = dict(count=len(draws), seeds=[sim.seed + k for k in range(len(draws))], requests_per_s=rates,
                    whole_share=whole, fleet_draws=len(fleet), events=spent, **effect,
                    what=_offline_draws_words(len(draws), reps, share, rates, effect, stop))
        return res, batch, share, seconds, info

    reps = row.offline_replicas or 1
    res, batch, share, seconds, info = simulate(reps)
    for _ in range(OFFLINE_RESIZES):
        if not (s.requests and lim.deadline_hours and seconds > lim.deadline_hours * 3600 and reps < s.requests):
            break
        ratio = seconds / max(offline_run(im, s, share, batch).seconds, alone)
        need = lim.offline_replicas(row.tp, lambda r: ratio * max(
            offline_run(im, s, math.ceil(s.requests / r), row.batch_memory_limit).seconds, alone) / 3600, s.requests,
            per_node)
        reps = need if need > reps else lim.fill(row.tp, reps + 1, per_node, s.requests)
        res, batch, share, seconds, info = simulate(reps)
    d = _sim_summary(res, 1, offline_token_budget(im, s, batch), batch)
    d["requests_per_s_per_replica"] = share / seconds if s.requests else res.throughput_rps
    d["draws"] = info
    if s.requests:
        replica_hours = reps * seconds / 3600  # the fleet is held until its slowest replica finishes
        d["replica_hours"] = replica_hours
        d.update(replicas=reps, nodes=billed_nodes(row, reps)[0], hours=seconds / 3600)
        rate = row.price_spot_usd_hr if row.offline_price == SPOT else row.price_usd_hr
        if rate is not None:  # its nodes billed whole for the fleet's time (``_offline_billed``)
            d["usd"] = billed_usd(row, reps, seconds / 3600, rate)
            d["usd_per_million_requests"] = d["usd"] / s.requests * 1e6
    return replace(row, refined=True, simulated=d)


def _at_budget(row: ServingOption, m, s: ServingSpec, hw, target: ServeTarget, im: IterationModel,
               budget: int, replicas: Optional[int] = None) -> ServingOption:
    """``row`` re-stated at the token budget ``budget`` the simulation picked (``_refine_realtime``): its throughput
    (``throughput_at``) and its p99 TTFT and TPOT, the screen's at that budget for the load of ``replicas`` (the
    simulated count the row states, serve45; the analytic count by default, as serve44 did) (``screen_point``). Until serve44 the TPOT stayed the screen's at its own least budget (512 on the chat and RAG
    jobs of benchmarks/burst_screen.py, 47-59 ms) beside a simulation run at 2,048 (53-76 ms): the screen at 2,048
    reads 65-72 ms there (README "Bursty arrivals"); until serve45 the TTFT stayed at 2,048 whatever the budget."""
    same = budget == row.token_budget and replicas in (None, row.queue_replicas)
    row = replace(throughput_at(row, s, im, budget), token_budget_by=BUDGET_BY_SIMULATION)
    if same or not row.batch or not target.qps or not row.queue_replicas:
        return row
    conc, _, ttft, tpot = screen_point(m, s, hw, row.tp, target, row.batch, replicas or row.queue_replicas,
                                       row.requests_per_s_per_replica, im, budget)
    return replace(row, concurrency=conc, ttft_ms=ttft * 1e3 if math.isfinite(ttft) else None,
                   tpot_ms=None if row.tpot_ms is None else tpot() * 1e3)


def _resize(row: ServingOption, qps, lim: ServingLimits = ServingLimits()) -> ServingOption:
    """Nodes, GPUs and $ at the simulated replica count, raised to ``lim.min_gpus``."""
    return replace(row, **_sized(row, lim.floor(row.tp, row.simulated["replicas"]), qps))


def _serving_precisions(m, s: ServingSpec, precisions: Optional[list[str]]) -> list[str]:
    """The precisions a serving plan searches (``precisions``, else the job's ``serving.precision``), each checked
    against the model, refused naming where it was asked: known weight formats; MXFP4 only on a model with routed
    experts; a generic model only what is modelled for it, and none of the LLM-only serving fields (``s``)."""
    precs = list(dict.fromkeys(precisions or [s.precision]))
    bad = [p for p in precs if p not in WEIGHT_BYTES]
    if bad:
        raise InputError("precisions", f"unknown precision {bad[0]!r}; one of {', '.join(WEIGHT_BYTES)}")
    where = "precisions" if precisions else "serving.precision"
    if m.is_transformer and "mxfp4" in precs:  # refused naming where it was asked (--precisions mxfp4 blamed the job)
        expert_params(m, where)
    if not m.is_transformer:
        unmodelled = [p for p in precs if p not in GENERIC_PRECISIONS]
        if unmodelled:
            raise InputError(where,
                             f"{unmodelled[0]} is not modelled for a generic model ({m.name}): "
                             f"{GENERIC_UNMODELLED[unmodelled[0]]}; use {', '.join(GENERIC_PRECISIONS)}")
        llm_only = [f for f in LLM_ONLY_SERVING if f in s.model_fields_set]
        if llm_only:  # they were planned around unsaid (a CNN with only ttft_ms set had no latency target at all)
            raise InputError(f"serving.{llm_only[0]}", f"applies to LLMs only; {m.name} is a generic model, served "
                                                       "as whole samples (p99_latency_ms is one request's latency): "
                                                       "leave it out")
    return precs


def _no_layout_held(job: JobSpec, m, hws) -> InputError:
    """Why no option was sized where every (GPUs per replica, expert parallel) layout ``serving_splits`` gives was
    one no hardware option holds: only expert-parallel layouts can be (a TP1 one is held by any node, a fixed
    ``parallel.tp`` past every node is refused before the search), so ``serving.expert_parallel: true`` or
    ``parallel.ep`` asked for them where the model has one expert or every node one GPU. Until fuzz49 such a job ended
    in an internal error (ValueError: min() of an empty sequence)."""
    most = max((hw.gpus_per_node for hw in hws), default=0)
    why = (f"{m.name} has {m.moe.experts} expert" if m.moe is not None and m.moe.experts < 2 else
           f"every option's node has {most} GPU" + ("s" if most != 1 else ""))
    field = "parallel.ep" if job.parallel.ep not in (None, 1) and "training" not in job.model_fields_set else \
        "serving.expert_parallel"
    return InputError(field, "no option holds an expert-parallel replica: expert parallelism spreads the experts over "
                             f"2 or more GPUs, one expert a GPU at least; {why}: leave it out")


def _no_option_meets(rows: list, where: list, target: ServeTarget) -> InfeasibleError:
    """Why no serving option is usable, none breaking a constraint: the model fits none (naming the nearest), or the
    latency target none meets even at batch 1. ``where``: each row's (hardware, serving spec, iteration model)."""
    fit = [r for r in rows if r.fits]
    if not fit:
        # the nearest is the one whose weights take the smallest share of its usable memory: the least
        # weights per GPU named the 24 GB L4 node "best" for DeepSeek-V3 beside 80 GB H100s at the same TP8
        near = rows[min(range(len(rows)), key=lambda i: (
            rows[i].weights_gib_per_gpu * GiB / (where[i][0].gpu.memory_bytes * where[i][1].gpu_memory_utilization),
            rows[i].tp))]
        spec = where[rows.index(near)][1]
        default = type(spec).model_fields["gpu_memory_utilization"].default  # vLLM's
        if (spec.gpu_memory_utilization < default and near.weights_gib_per_gpu * GiB
                < where[rows.index(near)][0].gpu.memory_bytes * default):
            # the job's own memory share is what leaves no room (0.001 read "quantise, or allow larger GPUs": QA 39)
            return InfeasibleError("serving.gpu_memory_utilization", (
                f"{spec.gpu_memory_utilization:g} of GPU memory leaves no option room for the model: {near.reason} "
                f"(best: {near.hardware} {near.layout}); vLLM's default {default:g} would"
                " hold its weights there"))
        return InfeasibleError("serving", f"the model does not fit any option: {near.reason} "
                               f"(best: {near.hardware} {near.layout}) — quantise (serving.precision), or allow larger GPUs or "
                               "nodes (constraints.gpus): a replica is one node's GPUs at most"
                               + (f", EP up to {EP_SPAN_NODES[-1]} nodes (parallel.ep: more)"
                                  if any((r.ep or 1) > r.gpus_per_node for r in rows) else ""))
    # the target no option meets even at batch 1 is the one to name: TPOT (or a generic model's
    # latency) when none meets it, else TTFT when none meets that; else each target is met by
    # some option but none meets both (or the simulation rejected every one)
    tpot_ok = [r for r in fit if target.tpot_s is None or r.tpot_batch1_ms <= target.tpot_s * 1e3]
    ttft_ok = [r for r in tpot_ok if target.ttft_s is None or r.ttft_batch1_ms is None
               or r.ttft_batch1_ms <= target.ttft_s * 1e3]
    if not tpot_ok:
        field, what, near = "serving.p99_latency_ms", "the latency target", min(fit, key=lambda r: r.tpot_batch1_ms)
    elif not ttft_ok:
        field, what, near = "serving.ttft_ms", "the TTFT target", min(tpot_ok, key=lambda r: r.ttft_batch1_ms)
    else:
        field, what, near = "serving", "the latency targets", min(fit, key=lambda r: r.tpot_batch1_ms)
    return InfeasibleError(field, f"no option meets {what}; fastest is {near.hardware} {near.layout}: {near.reason}")


def _engine_words(off: dict[str, dict[str, None]]) -> list[str]:
    """The GPUs ``serving.engine`` runs no option on (``engine_refusal``), one phrase per rule: "tensorrt-llm runs fp8
    from compute capability 8.9: A10G-24GB (8.6), A100-SXM-80GB (8.0)"."""
    return [f"{rule}: {', '.join(gpus)}" for rule, gpus in off.items()]


def _unmeasured_platform_note(options, hws) -> list[str]:
    """The options on an accelerator no published serving run measured, said where the ranking is (QA 52: Llama-3-70B
    ranked Gaudi 2 first, then MI300X, with no word that the engine parameters were fitted on NVIDIA runs only and
    those parts' GEMM / HBM / attention fractions are unmeasured priors, where ``recommend`` says so of a training
    plan). First in the ranking first; a calibration profile's measured options are not named."""
    from planner.workloads.serving_budget import THROUGHPUT_ERROR_PLATFORM

    by_name = {hw.name: hw for hw in hws}
    gpus, plats = [], []
    for o in options:
        hw = by_name.get(o.hardware)
        plat = platform_of(hw.gpu) if hw is not None else None
        if plat in (None, THROUGHPUT_ERROR_PLATFORM) or o.gpu in gpus:
            continue
        if any(str(v).startswith("measured") for v in hw.eff.sources.values()):
            continue
        gpus.append(o.gpu)
        if PLATFORMS[plat] not in plats:
            plats.append(PLATFORMS[plat])
    if not gpus:
        return []
    return [f"{', '.join(gpus)}: serving efficiencies are priors, not measured: no published serving run is on "
            f"{', '.join(plats[:-1]) + ' or ' if len(plats) > 1 else ''}{plats[-1]} (the engine's parameters were fitted on {PLATFORMS[THROUGHPUT_ERROR_PLATFORM]} "
            "only, benchmarks/validate_serving.py), so these options rank on datasheet peaks at the prior's fractions"]


def _profile_note(hws) -> list[str]:
    """Which calibration profile priced which options (``profile.PROFILE_KEY`` in their efficiencies' sources): until
    QA 46 ``serve --profile h100.json`` moved the H100 options' TTFT (36.6 -> 35.8 ms at batch 1) without a word."""
    from planner.hardware.profile import PROFILE_KEY

    by: dict[str, list[str]] = {}
    for hw in hws:
        src = hw.eff.sources.get(PROFILE_KEY)
        if src and hw.gpu.name not in by.setdefault(src, []):
            by[src].append(hw.gpu.name)
    return [f"calibration profile {src}: its measured efficiencies replace the priors on the {', '.join(gpus)} "
            "options; the others run on priors" for src, gpus in by.items()]


def _at_basis(row: ServingOption, basis: str, realtime: bool, cat) -> ServingOption:
    """``row`` with the rate its costs are at: ``price_basis`` (``hardware.options.rent_basis``: the job's
    ``cluster.price_usd_hr`` replaces the on-demand rate), its ``offline_price`` named so where it was the on-demand
    one (spot stays spot), and ``price_dates``, the date of that rate (``rate_price_dates``: real-time at the
    on-demand side, offline at ``offline_price``; none for the job's rate, which has no catalog date). Until QA 61 a
    job's $30 rate was dated as the catalog's p5.48xlarge on-demand row and called on-demand throughout."""
    offline = basis if row.offline_price == ON_DEMAND else row.offline_price
    rate = basis if realtime else offline or basis
    return replace(row, price_basis=basis if row.price_usd_hr is not None else None, offline_price=offline,
                   price_dates=rate_price_dates(cat, row.hardware, rate))


def _trace_qps(wl) -> float:
    """The rate a replayed trace brings (requests / last arrival_s), held to serving.qps's bounds (``MIN_RATE`` and
    ``MAX_QPS``), refused as ``trace`` where it has none or is outside them."""
    if len(wl) < 2 or wl.span_s <= 0:
        # the rate is requests over the last arrival time: every arrival at 0 s read as 3.0e+09 QPS and
        # sized 396 million replicas
        raise InputError("trace", (f"its {len(wl):,} requests " if len(wl) != 1 else "its one request ")
                         + (("arrives" if len(wl) == 1 else "all arrive") + " at 0 s" if wl.span_s <= 0
                            else "gives no arrival rate")
                         + ": the replicas are sized for the trace's rate (requests / last arrival_s), so it needs "
                         "at least two requests spread over time")
    qps = len(wl) / wl.span_s
    if qps < MIN_RATE["qps"]:
        # serving.qps's floor, for the same reason: two requests at 0 s and 1e18 s planned TP8 at "$7.6e+21 per
        # 1M requests", every smaller option "missing" its p99s (a decode step lost in the float at 1e18 s)
        raise InputError("trace", f"its {len(wl):,} requests over {wl.span_s:.3g} s arrive at {qps:.3g} QPS, below "
                                  f"the {MIN_RATE['qps']:g} QPS floor serving.qps holds to (a request every "
                                  f"~{1 / MIN_RATE['qps'] / 86400:.1f} days): replay a trace of real arrival times")
    if qps > MAX_QPS:
        # and its ceiling: two requests 1e-300 s apart were sized for 2e300 QPS, refused as "needs 693,780,041,...
        # QPS" (a 300-digit rate cut by the message cap, fuzz46)
        raise InputError("trace", f"its {len(wl):,} requests over {wl.span_s:.3g} s arrive at {qps:.3g} QPS, above "
                                  f"the {MAX_QPS:.0e} QPS ceiling serving.qps holds to: replay a trace of real "
                                  "arrival times (in seconds)")
    return qps


def plan_serving(job: JobSpec, catalog=None, profile=None, simulate: bool = True,
                 sim: Optional[SimSettings] = None, precisions: Optional[list[str]] = None,
                 progress: Optional[Callable[[int, int, str], None]] = None,
                 runs: Optional[SimBudget] = None) -> ServingPlan:
    """Every (hardware, TP, precision) option with its batch, latency, replicas and $; the best first.

    The analytic model sizes every option (a first guess at ~100% utilisation, no queueing). With
    ``simulate`` (the default) the cheapest ``sim.candidates`` LLM options are then simulated
    (planner/simulate/serving.py): the replica count and token budget are searched until the
    simulated p99 TTFT and TPOT meet the targets with ``sim.margin``; offline jobs get their
    throughput from a simulated backlog. ``precisions`` (default: the job's) are searched too.

    Ranking: options that meet the latency target, by $/h for the QPS (or $ per million requests
    when no QPS is given; offline, per million requests); ties (``rank_key``) by more headroom, then fewer GPUs. After a
    simulation, #1 is the cheapest option it confirmed and the rest go by cost (the simulated
    size's where simulated), each with ``sized_by``; ``ranking`` says so in one line.

    ``runs``: the simulation budget (``SimBudget``) to run under, where the caller shares one with more runs (the app's
    latency curve after the plan); by default one of ``sim.plan_event_bound`` events (``budget_for``).
    """

    s = job.serving
    if s is None:
        raise InputError("serving", "the job has no serving section")
    m = served_model(job.model)  # without MTP modules: vLLM loads them only as a draft model
    if m is None:
        raise InputError("model", "serving needs a model")
    if not s.disaggregation.off and split_refusal(m):
        raise InputError("serving.disaggregation", split_refusal(m))
    sim = sim or settings_for(job)
    cat = catalog or load_catalog()
    realtime = s.mode == "realtime"
    if realtime and s.p99_latency_ms is None and s.ttft_ms is None:
        raise InputError("serving.p99_latency_ms", "real-time serving needs a latency target (or mode: batch)")
    target = ServeTarget(tpot_s=s.p99_latency_ms / 1e3 if (realtime and s.p99_latency_ms) else None,
                         ttft_s=s.ttft_ms / 1e3 if (realtime and s.ttft_ms) else None, qps=s.qps)
    precs = _serving_precisions(m, s, precisions)
    qps = s.qps
    fleet = s.replicas if realtime else None  # a fixed fleet: the QPS it carries is the answer (``fleet_row``)
    if fleet and not m.is_transformer:
        raise InputError("serving.replicas", "a fixed fleet's QPS is planned for LLMs (decoder / MoE); size a generic "
                                             "model's replicas for serving.qps")
    if fleet and sim.trace:
        raise InputError("serving.replicas", "a replayed trace brings its own rate, which a fixed fleet's QPS would "
                                             "replace; leave the trace out to find the QPS the fleet carries")
    trace_lengths = {}  # a replayed trace's mean prompt and output lengths, which the analytic screen is sized at
    if sim.trace and not (realtime and simulate):
        # a trace the plan does not replay is still read and checked (QA 61: `--trace missing.csv --no-simulate`
        # planned with exit 0 and "trace 'missing.csv' not replayed ... drop --no-simulate", which then failed)
        sim_workload(s, 1.0, 1.0, 1, sim, 0, m)
    if realtime and simulate and sim.trace:  # a trace brings its own rate: size for it
        wl = sim_workload(s, 1.0, 1.0, 1, sim, 0, m)
        qps = _trace_qps(wl)
        # the screen's load too (its Little's-law concurrency and the TPOT / TTFT at it): the replicas and $ were at
        # the trace's 7.88 QPS while each option's "at concurrency 1.81" was the job's 2 QPS (QA 37)
        target = replace(target, qps=qps)
        # and its lengths: the screen sized each option at the job's prompt_tokens / output_tokens while the
        # simulation replayed the trace's, so a trace of 100 + 25-token requests (the job's 800 + 200) was screened
        # at 8x its work: g6e.xlarge at 2 replicas where the simulation kept 1, and every option left analytic (#2
        # on, the cheapest the simulation may confirm) priced at the job's lengths (QA 57). The mean is the first
        # guess's length, as serving.prompt_tokens is; the simulation replays each request's own
        trace_lengths = {"prompt_tokens": max(1, round(float(np.mean(wl.prompt)))),
                         "output_tokens": max(1, round(float(np.mean(wl.output))))}
        # and their spread: the screen's TTFT p99 (its prompt-length grid), TPOT stalls and length-biased context took
        # serving.length_cv (0.5) while the example trace's prompts spread 0.61 and its outputs 0.80 (trace40)
        trace_lengths["prompt_length_cv"], trace_lengths["output_length_cv"] = wl.spread
        if m.is_transformer and s.shared_prefix_tokens:
            # the job's shared prefix as the trace's requests take it: each shares at most its prompt less one token
            # (the simulation's ``_sh``: a prompt shorter than the prefix shares less), so the screen's mean shared
            # part stays below its mean prompt (the job's 2,048-token prefix beside the example trace's 804-token
            # mean prompt refused every option as "KV of one sequence and of the shared prefix exceed ...")
            trace_lengths["shared_prefix_tokens"] = round(float(np.mean(np.minimum(s.shared_prefix_tokens,
                                                                                    wl.prompt - 1))))
    bursty = realtime and bool(qps) and not sim.trace and sim.arrivals == "mmpp"
    if bursty:
        # bursty arrivals (serving.arrivals' burst shape): the screen's p99s are the mixture over the burst and the
        # time between, each at its own rate (``burst_parts``: the pointwise stationary approximation). Until serve41
        # it held them at the burst rate (trace40: target.qps the peak), as if bursts never ended: the chat example's
        # p99 TTFT 670 ms against a simulated 361, and the budget's qps and QPS growth read the peak (91.4 QPS for
        # the job's 40). The replicas and costs are at the mean QPS
        target = replace(target, bursts=tuple((share, rate / qps, sojourn)
                                              for share, rate, sojourn in arrival_spec(sim, qps).states()))
    lim = serving_limits(job, sim, qps if realtime else None)
    sim = replace(sim, deadline_hours=lim.deadline_hours)  # constraints.deadline_hours is the same deadline
    # every option, and the (hardware, serving spec with its precision, iteration model or None) it ran on
    rows, where = [], []
    hws = _options(job, cat, profile)
    splits = serving_splits(job, m)
    _check_all2all(s, splits, hws, m)
    _check_overlap(s, splits, hws, m)
    tps = sorted({tp for tp, _ in splits})
    if m.is_transformer and len(tps) == 1 and hws and all(not replica_fits_nodes(tps[0], e, hw)
                                                          for hw in hws for _, e in splits):
        field = "parallel.ep" if all(e for _, e in splits) and job.parallel.ep not in (None, 1) else "parallel.tp"
        raise InputError(field, f"{field.split('.')[1]}={tps[0]} exceeds the GPUs of every option's node (at most "
                                f"{max(hw.gpus_per_node for hw in hws)}): a replica is one node's GPUs at most"
                         + (", an expert-parallel one whole nodes of a clustered instance" if field == "parallel.ep"
                            else ""))
    # GPUs constraints.gpus asks for that no instance here carries (MI300X, Gaudi: no priced row): said, not dropped
    left_out = [] if (job.cluster.instance or job.cluster.gpu) else unmatched_gpus(cat, job.constraints, hws, s.precision,
                                                                                    job.cluster.power_limit_w)
    off_engine: dict[str, dict[str, None]] = {}  # why serving.engine runs no option on a GPU: rule -> the GPUs
    span_refused: dict[str, str] = {}  # an EP exchange that cannot span an option's nodes: backend -> why
    no_peak: dict[str, dict[str, None]] = {}  # GPUs whose catalog row has no peak for the precision: rule -> GPUs
    for hw in hws:
        for prec in precs:
            sp = s.model_copy(update={"precision": prec, **trace_lengths})
            why = engine_refusal(s.engine, hw.gpu, prec) if m.is_transformer else None
            if why:  # an option the engine does not serve is no option (QA 88: TensorRT-LLM on a TPU was ranked)
                off_engine.setdefault(why[0], {})[why[1]] = None
                continue
            why = peak_refusal(hw.gpu, prec)
            if why:  # a user's GPU row with no peak to compute at: no option, as recommend leaves it out (qa59)
                no_peak.setdefault(why[0], {})[why[1]] = None
                continue
            if m.is_transformer:
                if m.family == "encoder":
                    raise InputError("model.family", "serving models decoder/MoE LLMs and generic models; "
                                     "describe an encoder as a generic model (params, fwd_flops_per_sample)")
                # an EP layout once per token exchange the GPU runs (all2all_backends), a TP one once; EP over
                # whole nodes only where no one-node layout holds the model (``wide_ep_layouts``) or parallel.ep asks
                fits_one = [False]
                # (and once per two-batch overlap the engine runs over that exchange: batch_overlaps)
                layouts = ((tp, ep, b, ov) for tp, ep in chain(splits, wide_ep_layouts(splits, hw, fits_one))
                           for b in (all2all_backends(s, hw, m) if ep else (None,)) for ov in batch_overlaps(s, b))
                unfit = set()  # (tp, ep, backend) layouts whose memory fails: no overlap makes them fit, said once
                for tp, ep, backend, ov in layouts:
                    # TP splits the heads; EP spreads whole experts, attention data-parallel (every rank needs one)
                    if not replica_fits_nodes(tp, ep, hw) or (m.moe.experts < tp if ep else m.heads % tp):
                        continue
                    if (tp, ep, backend) in unfit:
                        continue
                    if tp > hw.gpus_per_node and EP_ALL2ALL[backend].span_refusal(backend, hw):
                        span_refused[backend] = EP_ALL2ALL[backend].span_refusal(backend, hw)
                        continue
                    # the option's layout and exchange (replica_split)
                    sp = sp.model_copy(update={"expert_parallel": ep, "all2all_backend": backend, "batch_overlap": ov})
                    im = option_iteration(m, sp, hw, tp)  # once per option: every timing below and its simulations
                    opt = (fleet_row(m, sp, hw, tp, target, im, fleet, sim, job.constraints.spot, lim) if fleet else
                           llm_option(m, sp, hw, tp, target, im))
                    run = None
                    if not realtime and s.requests and opt.fits:  # offline: each replica's share at its own batch
                        run = (lambda n, im=im, sp=sp, b=opt.batch_memory_limit: offline_run(im, sp, n, b))
                    rows.append(_hold(_costs(opt, sp, qps if realtime else None, job.constraints.spot, lim, run),
                                      lim, opt.fleet_qps or qps, s.requests, sp.output_tokens))
                    where.append((hw, sp, im))
                    fits_one[0] = fits_one[0] or (opt.fits and tp <= hw.gpus_per_node)
                    if not opt.fits:
                        unfit.add((tp, ep, backend))
            else:
                rows.append(_hold(_costs(generic_option(m, sp, hw, target), sp, qps if realtime else None,
                                         job.constraints.spot, lim), lim, qps, s.requests, sp.output_tokens))
                where.append((hw, sp, None))
    if span_refused and s.all2all_backend and not any(r.fits for r in rows):  # only a wider replica would hold it
        raise InputError("serving.all2all_backend", f"an expert-parallel replica across nodes: {s.all2all_backend}: "
                         f"{span_refused[s.all2all_backend]}; leave it out, or choose hardware whose fabric runs it")
    if off_engine and not rows:
        raise InputError("serving.engine", "it runs no option here: " + "; ".join(_engine_words(off_engine))
                         + " (another serving.engine or serving.precision, or other GPUs: constraints.gpus)")
    if no_peak and not rows:
        raise InputError("serving.precision", "no option here has a peak to compute at: "
                         + "; ".join(_engine_words(no_peak)) + " (give the GPU's peaks in its catalog row)")
    if not rows and m.is_transformer:
        raise _no_layout_held(job, m, hws)
    key = rank_key(realtime, bool(s.qps), bool(fleet))
    # indices into ``rows``: a simulated option replaces its analytic one there, so the error
    # messages and the rejected list below see the simulation's verdict
    usable = lambda r: r.meets_latency and not r.constraint_broken  # noqa: E731
    ok = sorted((i for i, r in enumerate(rows) if usable(r)), key=lambda i: key(rows[i]))
    simulated = False
    sim_rejected: list[int] = []
    if simulate and m.is_transformer and ok and (not realtime or qps):
        floored = []
        if realtime and target.tpot_s is not None:
            # the simulation holds a p99 TPOT to the target less ``sim.margin`` (``_refine_realtime``), and no batch or
            # replica count brings a request's TPOT under the decode step at batch 1 (nothing else in its steps,
            # ``tpot_batch1_ms``): an option whose step alone is over that cannot be confirmed at any size. Said here,
            # where its search ran 6 runs up to 4x its replicas to find it (tpot33: the chat example's three L4 TP2
            # options, a 45.19 ms step against 50 ms less 10%, whose simulated p99 is 49.5 ms at 70 replicas)
            floor = target.tpot_s * (1.0 - sim.margin) * 1e3
            for i in ok:
                if rows[i].tpot_batch1_ms is not None and rows[i].tpot_batch1_ms > floor:
                    floored.append(i)
                    rows[i] = replace(rows[i], meets_latency=False, reason=(
                        f"TPOT {rows[i].tpot_batch1_ms:.2f} ms at batch 1, the least any batch or replica count "
                        f"gives, is over the {floor:g} ms the simulation holds the p99 to ({target.tpot_s * 1e3:g} ms "
                        f"less serving.margin {sim.margin:g}): not simulated"))
            ok = [i for i in ok if i not in floored]
        best_key = None
        sim_cache: dict = {}
        n_cand = min(sim.candidates, len(ok))
        runs = budget_for(sim, runs)  # the whole plan's simulations, bounded together
        for n_sim, i in enumerate(ok):
            # cheapest analytic first; stop after ``candidates`` or once the analytic cost cannot beat the best
            # simulated. The analytic size (the one whose queued TTFT meets the target) is at or below the simulated
            # one but for 5 of 61 options measured, each over by one replica (the comparison above ``_ranking``),
            # so an option stops the loop only when one replica fewer could not beat the best either
            least = _cost_floor(rows[i], key, qps, lim) if realtime else None
            if n_sim >= sim.candidates or (best_key is not None and realtime and _cannot_beat(least, best_key)):
                break
            hw, sp, im = where[i]
            capacity = (lambda k, sp=sp, hw=hw, im=im: _cached_capacity(sim_cache, m, sp, hw, rows[i].tp, k, sim, im,
                                                                          runs))
            # the simulations are a plan's long part (10-40 s): the bar advances per option and names each run
            label = f"simulating option {n_sim + 1} of {n_cand}: {rows[i].hardware} {rows[i].layout}"
            # the bar also says how much of the plan's simulation bound the runs have used (a long plan shows why)
            note = (lambda what, n=n_sim, label=label: progress(n, n_cand, f"{label}, {what}; {runs.words()}")
                    ) if progress else None
            if note:
                note("analytic size")
            try:
                if realtime and best_key is not None and _tie_cannot_beat(rows[i], least, best_key, qps, lim, sim,
                                                                        capacity):
                    continue  # at the best's $/h it cannot carry the best's rate: it keeps its analytic row
                if realtime:
                    # the simulation sizes for the load (no floor): ``_resize`` raises it to min_gpus after
                    rows[i] = _hold(_refine_realtime(_costs(rows[i], sp, qps, job.constraints.spot), m, sp, hw, target,
                                                     sim, qps, sim_cache, lim, note, im, runs), lim, qps, s.requests)
                    if rows[i].simulated and usable(rows[i]) and (best_key is None or key(rows[i]) < best_key):
                        best_key = key(rows[i])
                else:
                    rows[i] = _hold(_refine_offline(rows[i], m, sp, hw, sim, lim, im, runs), lim, qps, s.requests,
                                    sp.output_tokens)
            except PlanBoundReached:
                # the plan's bound is spent: this option keeps its analytic size (its row untouched) and the
                # cheaper-analytic ones after it are not simulated either
                left = n_cand - n_sim
                runs.reached = (f"the plan's simulations reached their {runs.bound:,}-engine-event bound after "
                                f"{runs.runs:,} runs, simulating option {n_sim + 1} of {n_cand} ({rows[i].hardware} "
                                f"{rows[i].layout}): {'it keeps' if left == 1 else f'it and {left - 1} more keep'} "
                                "the analytic size")
                break
        if progress:
            progress(n_cand, n_cand, "simulations done")
        simulated = True
        sim_rejected = floored + [i for i in ok if rows[i].meets_latency is False]
        ok = [i for i in ok if usable(rows[i])]
        # #1 is the cheapest option the simulation confirmed (an analytic size is a lower bound
        # the simulation usually raises, so an unsimulated option is not known to meet the targets
        # at its cost); the rest by cost alone — the simulated size's where simulated, else the
        # analytic one's, a simulated option first at equal cost. Each option says which it is
        # (``sized_by``) and the plan says the rule (``ranking``).
        ok = _confirmed_first(ok, rows, key, realtime)
    if fleet and simulate and ok:
        # a fixed fleet: the cheapest ``sim.candidates`` options' analytic QPS judged in simulation (``_confirm_fleet``)
        runs, fleet_cache, n_cand = budget_for(sim, runs), {}, min(sim.candidates, len(ok))
        for n_sim, i in enumerate(ok[:n_cand]):
            hw, sp, im = where[i]
            if progress:
                progress(n_sim, n_cand, f"simulating option {n_sim + 1} of {n_cand}: {rows[i].hardware} {rows[i].layout} "
                                        f"at {fmt_rate(rows[i].fleet_qps)} QPS; {runs.words()}")
            try:
                rows[i] = _confirm_fleet(rows[i], m, sp, hw, target, sim, fleet_cache, im, runs)
            except PlanBoundReached:
                runs.reached = (f"the plan's simulations reached their {runs.bound:,}-engine-event bound after "
                                f"{runs.runs:,} runs, simulating option {n_sim + 1} of {n_cand} ({rows[i].hardware} "
                                f"{rows[i].layout}): it and the rest keep the analytic QPS")
                break
        simulated = True
        sim_rejected = [i for i in ok if rows[i].meets_latency is False]
        ok = _confirmed_first([i for i in ok if usable(rows[i])], rows, key, realtime)
    if not ok and any(r.constraint_broken for r in rows):
        raise _nothing_within(rows, lim)
    if not ok:
        raise _no_option_meets(rows, where, target)
    # what sets each real-time option's replicas (throughput, or a TPOT / TTFT target): which likely range applies
    # and how old the rate each option's cost is at is (QA 55b): real-time at on-demand, offline at its offline_price
    # the job's cluster.price_usd_hr is the rate every option's on-demand side is at (QA 61): no catalog date
    basis = rent_basis(job.cluster.price_usd_hr)
    options = tuple(replace(_at_basis(rows[i], basis, realtime, cat), sized_by="simulated" if rows[i].simulated else "analytic",
                            bound_by=fleet_bound(rows[i], qps) if realtime and qps and m.is_transformer else None)
                    for i in ok)
    # the rejected carry their rate's date as the options do (prices39: the "does not work" lines and serve --json's
    # rejected list priced an option, "over budget" at $x/h, without saying how old that rate was)
    rejected = tuple(_at_basis(r, basis, realtime, cat)
                     for r in [r for i, r in enumerate(rows) if not r.meets_latency and i not in sim_rejected]
                     + [rows[i] for i in sim_rejected] + [r for r in rows if r.constraint_broken])
    settings = (ServingSimulation(arrivals="trace" if sim.trace else sim.arrivals, trace=sim.trace, length_cv=sim.length_cv,
                                  margin=sim.margin, seed=sim.seed, search_s=sim.search_s, confirm_s=sim.confirm_s,
                                  deadline_hours=sim.deadline_hours, event_bound=simulator.EVENT_BOUND,
                                  plan_event_bound=runs.bound, plan_event_bound_from=sim.plan_event_bound_from,
                                  plan_events=runs.used, plan_runs=runs.runs,
                                  plan_bound_reached=runs.reached,
                                  trace_prompt_tokens=trace_lengths.get("prompt_tokens"),
                                  trace_output_tokens=trace_lengths.get("output_tokens"),
                                  trace_shared_prefix_tokens=trace_lengths.get("shared_prefix_tokens"),
                                  trace_prompt_cv=trace_lengths.get("prompt_length_cv"),
                                  trace_output_cv=trace_lengths.get("output_length_cv"),
                                  **_drawn_shape(s, sim, trace_lengths))
                if simulated else None)
    limits, floor_notes = _limit_lines(lim, job, sim, options, rejected, realtime, qps)
    pc = count_params(m)
    # the engine's keeping of local (sliding-window / chunked) layers' KV: None for a model without them
    lay = kv_layout(m, s.kv_precision, 1, job_efficiency(s).local_kv) if m.is_transformer else None
    hw0, sp0, im0 = where[ok[0]]  # the recommended option's hardware, serving spec (its precision) and iteration model
    disagg = None
    if realtime and not s.disaggregation.off:  # the split on the option it runs on (``_disagg_option``), simulated
        kept = [where[i] for i in ok]
        j, i = _disagg_option(s, options, kept, target, m)
        hwj, spj, imj = kept[j]
        disagg = _disaggregation(options[j], options[0], m, spj, hwj, target, imj, sim, simulate, budget_for(sim, runs),
                                 _decode_option(options, kept, j, i))
        disagg["hardware"] = options[j].hardware
    # a fixed fleet's month at the QPS it carries (its bursts, under mmpp arrivals, drawn at that rate)
    budget = (serving_budget(m, options[0], sp0, _target_at(target, sim, options[0].fleet_qps) if fleet else target,
                             lim, lay is not None, lambda spec, tgt: _resized(m, options[0], hw0, spec, tgt, lim, im0),
                             catalog=cat, job_onprem=job.onprem, gpu=hw0.gpu, fixed_fleet=bool(fleet))
              if realtime else None)
    region = price_region(job.constraints, cat, options[0].hardware, job.cluster.price_usd_hr)
    if budget is not None and region:  # the region its price is for, where the job restricted regions (QA 61: unsaid)
        budget["price_region"] = region
    job_cost = None if realtime else offline_budget(m, options[0], sp0, lim.deadline_hours, lay is not None,
                                                   catalog=cat, job_onprem=job.onprem, gpu=hw0.gpu)
    if job_cost is not None and region:  # an offline job's cost names its region as the real-time month does (QA 63)
        job_cost["price_region"] = region
    return ServingPlan(
        model=m.name, params=int(pc.total), mode=s.mode, precision=s.precision, precisions=tuple(precs),
        kv_precision=s.kv_precision if m.is_transformer else None,
        engine=s.engine if m.is_transformer else None, engine_version=s.engine_version if m.is_transformer else None,
        weights_gib=weight_bytes(m, s.precision) / GiB,
        kv_bytes_per_token=kv_bytes_per_token(m, s.kv_precision) if m.is_transformer else None,
        targets=ServingTargets(tpot_ms=s.p99_latency_ms if realtime else None, ttft_ms=s.ttft_ms if realtime else None,
                               qps=s.qps, prompt_tokens=s.prompt_tokens, output_tokens=s.output_tokens,
                               shared_prefix_tokens=s.shared_prefix_tokens if m.is_transformer else 0,
                               requests=None if realtime else s.requests, replicas=fleet),
        best=options[0], options=options, rejected=rejected, simulated=simulated, simulation=settings,
        definitions=("TPOT p99 = the p99 over requests of one request's time per output token at the load a replica "
                     "sees: its batch is itself + the requests in flight (Little's law: QPS per replica x request latency, "
                     "capped at the batch; a full batch with no QPS), at mean context, the steps that carry the others' "
                     "next prompts included (a binomial share of its output length's steps, a chunked long prompt's in "
                     "runs of consecutive steps, at the token budget that keeps it least), its own prompt in TTFT; "
                     "TTFT p99 = at the same load, over the prompt lengths (lognormal, serving.length_cv or a trace's own "
                     "spread): the running "
                     "iteration if the replica is busy (1 - e^-L) + its prompt's prefill beside the others' decodes "
                     "(chunked prefill) + the queues for a batch slot and the prefill budget (their exponential tails); "
                     "the p99 prompt's prefill at low load"
                     if m.is_transformer else "p99 latency = 2 x batch time (wait for the running batch, then run)")
        + ("; simulated: p99 over requests of TTFT (first token - arrival) and TPOT ((finish - first token) / "
           "(output - 1)) in a discrete-event simulation with queueing, continuous batching and KV-cache limits"
           if simulated else ""),
        # training defaults the loader filled in do not apply to serving
        assumptions=tuple([a for a in job.assumptions if not a.startswith("training.")]
                          + [f"left out: {x}" for x in left_out]
                          + [f"left out (serving.engine): {x}" for x in _engine_words(off_engine)]
                          + [f"left out (serving.precision): {x}" for x in _engine_words(no_peak)]
                          + ([length_words(s, sim)] if simulated and not sim.trace else [])
                          + ([arrivals_words(qps, sim, simulated)] if bursty else
                             # a fixed fleet's screen and simulation draw the bursts at each QPS they try: said at the
                             # QPS the recommended fleet carries (until serve48b only a serving.qps job said them)
                             [arrivals_words(options[0].fleet_qps, sim, simulated, fixed_fleet=True)]
                             if fleet and sim.arrivals == "mmpp" else [])
                          + _max_batch_note(s, options, realtime) + floor_notes
                          + _nodes_note(job) + _fabric_note(job, options) + _host_ram_note(job)
                          + _ep_spread_note(options, simulated) + _overlap_note(s, options)
                          + _whole_node_note(job_cost, realtime, job.constraints.max_gpus)
                          + _profile_note(hws) + _unmeasured_platform_note(options, hws)
                          # constraints.spot on a real-time job: its $/h and $/1M req stayed on-demand without a word
                          + (["constraints.spot: the real-time $/h and $/1M req are "
                              + ("on-demand prices" if basis == ON_DEMAND else "at the job's rate (cluster.price_usd_hr)")
                              + " (a reclaimed spot replica drops its requests); spot prices only the offline $/1M req "
                              "batch column"]
                             if realtime and job.constraints.spot and any(o.price_usd_hr for o in options) else [])
                          + (spot_above_rate(job.cluster, hw0.instance) if job.constraints.spot else [])
                          # which zone's rate the spot column pays (qa89), for the recommended option's instance
                          + ([w for w in [spot_rate_words([hw0.instance])] if w]
                             if any(o.offline_price == SPOT for o in options[:1]) else [])
                          + ([] if lay is None else [lay.describe(s.prompt_tokens + s.output_tokens)])
                          + (disagg_words(disagg, disagg["hardware"]) if disagg else [])
                          + _compute_dtype_note(s, options) + _mxfp4_release_note(s, options, hws)
                          + _power_notes([where[i] for i in ok])
                          # the owned fleet's power, paid every wall hour at the node's maximum draw (QA 101: unsaid)
                          + [w for w in [buy_power_assumption((budget or job_cost or {}).get("buy"))] if w]
                          + _prefix_note(m, s, lay, sim.trace if simulated else None)
                          # a trace with --no-simulate (or a plan not simulated) was dropped unsaid: the plan was sized
                          # for serving.qps at the job's lengths, where a simulated one is sized for the trace's rate
                          + (_unreplayed_trace(sim.trace, simulate, m, qps) if realtime and not simulated else [])
                          # a bound, seed or arrival process given with --no-simulate changed nothing, unsaid: stated
                          # as the trace is above
                          # (the arrival process is the screen's too where it has a QPS to draw them at: Poisson,
                          # or sized at an mmpp burst's rate, trace40)
                          + ([] if simulated else unused_sim_inputs(sim, skip=("arrivals",) if not realtime or (
                              (qps or fleet) and not sim.trace) else (),
                                                                    why=_analytic_why(simulate, m, realtime, qps)))
                          + ([] if realtime else backlog_arrivals(sim))
                          + ([f"no TTFT target: the simulation still requires p99 TTFT <= {sim.default_ttft_s:g} s "
                              "(a bounded queue)"] if simulated and realtime and s.ttft_ms is None else [])
                          # one output token is the first token: no TPOT (request_tpot), so "meets TPOT 0.0 ms" read
                          # as a measured speed
                          + (["serving.output_tokens 1: a request's one token is its first (TTFT), so it has no TPOT "
                              f"(TPOT {NO_TPOT}, null in the JSON) and serving.p99_latency_ms holds no request"
                              + ("; the simulation draws every request's one token too" if simulated and not sim.trace
                                 else "")]
                             if m.is_transformer and realtime and s.output_tokens == 1 and s.p99_latency_ms else [])),
        why=_why(options[0], rejected, realtime, bool(sim.trace), m.is_transformer, s.p99_latency_ms, s.ttft_ms)
        + _fleet_words(options[0]),
        compute_rate=_compute_rates([where[i] for i in ok]),
        ranking=_fleet_ranking(fleet, simulated, sim.candidates) if fleet else _ranking(
                         options, realtime, bool(s.qps), simulated, sim.candidates,
                         why_not=("" if simulated or not simulate else
                                  "the serving simulation models LLMs, not a generic model" if not m.is_transformer else
                                  "no serving.qps to simulate arrivals at" if realtime and not qps else "")),
        # the instances constraints.spot / max_price_per_gpu_hour dropped before the options, recommend's lines
        # (launch42: serve applied both without naming what they dropped)
        caveats=tuple(f"constraints.gpus: left out — {x}" for x in left_out) + left_out_lines(cat, job),
        constraints=limits,
        accuracy="; ".join(([budget_accuracy(budget)] if budget else [])
                           + ([offline_range(job_cost)] if job_cost else [])
                           + ([LOCAL_ATTENTION_HELD_OUT] if lay is not None else [])),
        budget=budget,
        offline_budget=job_cost,
        kv_bytes_per_sequence=None if lay is None else float(lay.seq_bytes(s.prompt_tokens + s.output_tokens, 0)),
        disaggregation=disagg,
    )


def _confirmed_first(ok: list, rows: list, key, realtime: bool) -> list:
    """The indices ``ok`` into ``rows`` in a simulated plan's order: #1 the cheapest option the simulation confirmed
    (an analytic size is a lower bound the simulation usually raises, so an unsimulated option is not known to meet
    the targets at its cost), the rest by cost alone -- the simulated size's where simulated, else the analytic
    one's, a simulated option first at equal cost (real-time: ``key``; offline: the simulated backlog's $ per million
    requests where simulated)."""
    if realtime:
        ok = sorted(ok, key=lambda i: (key(rows[i])[0], rows[i].simulated is None, *key(rows[i])[1:]))
    else:
        ok = sorted(ok, key=lambda i: ((rows[i].simulated or {}).get("usd_per_million_requests")
                                       or rows[i].usd_per_million_requests_offline or math.inf,
                                       rows[i].simulated is None, rows[i].tp))
    first = next((i for i in ok if rows[i].simulated), None)
    if first is not None:
        ok.remove(first)
        ok.insert(0, first)
    return ok


def _drawn_shape(s: ServingSpec, sim: SimSettings, trace_lengths: dict) -> dict:
    """What the simulation drew, for ``ServingSimulation``: the mmpp burst shape (``sim.burst``, None for Poisson or
    a trace) and the requests' prompt / output length spreads (a trace's own, else the job's)."""
    shape = dict(zip(("burst_factor", "burst_share", "burst_s"), sim.burst)) if (
        sim.arrivals == "mmpp" and not sim.trace) else {}
    return dict(shape, prompt_cv=trace_lengths.get("prompt_length_cv", s.prompt_cv),
                output_cv=trace_lengths.get("output_length_cv", s.output_cv))


def _resized(m, best: ServingOption, hw, spec: ServingSpec, tgt: ServeTarget, lim: ServingLimits,
             im: Optional[IterationModel]) -> ServingOption:
    """The analytic screen and costs of the plan's option (its hardware, TP and precision) at another QPS or prompt:
    ``serving_budget``'s what-if rows. ``im``: the option's iteration model (``option_iteration``, built by
    ``plan_serving`` once per option), reused, as a longer prompt or a higher QPS changes no weight, KV or kernel."""
    row = (llm_option(m, spec, hw, best.tp, tgt, im or option_iteration(m, spec, hw, best.tp)) if m.is_transformer
           else generic_option(m, spec, hw, tgt))
    return _costs(row, spec, tgt.qps, False, lim)


#: what the held-out published runs of models with local attention layers showed (benchmarks/validate_serving.py
#: --swa; README "Held out: models with sliding-window / chunked attention"), said beside such a plan
LOCAL_ATTENTION_HELD_OUT = ("on held-out published runs of models like this one (gpt-oss on vLLM / TensorRT-LLM, "
                            "Llama 4 Scout on TensorRT-LLM: `python benchmarks/validate_serving.py --swa`) the model "
                            "over-predicted throughput by a median of about half: read this plan's throughput, replicas "
                            "and cost as optimistic")


def _unreplayed_trace(trace: Optional[str], simulate: bool, m, qps) -> list[str]:
    """The assumed line of a real-time trace the plan did not replay (it is sized for serving.qps instead), with the
    remedy: under --no-simulate, drop it; else why the plan is analytic (``_analytic_why``). QA 61: a generic model
    (ResNet-50) given a trace, no --no-simulate, was told to "simulate (drop --no-simulate)", and "at
    serving.prompt_tokens + output_tokens", which a CNN has none of."""
    if not trace:
        return []
    # under --no-simulate, dropping it replays the trace only where the simulation would run (an LLM with a QPS)
    why = None if (not simulate and m.is_transformer and qps) else _analytic_why(True, m, True, qps)
    return [f"trace {clip(os.path.basename(str(trace)))} not replayed: the plan is analytic (" + (why or "not simulated")
            + "), sized for serving.qps" + (" at serving.prompt_tokens + output_tokens" if m.is_transformer else "")
            + ("" if why else "; simulate (drop --no-simulate) to size it for the trace's own rate and lengths")]


def _analytic_why(simulate: bool, m, realtime: bool, qps) -> Optional[str]:
    """Why a plan asked to simulate is analytic, as the remedy the unused-input notes end with
    (``unused_sim_inputs``'s ``why``); None under --no-simulate (the notes' own "drop --no-simulate"). The
    simulation runs for LLMs with an option that meets the targets and, real-time, a rate (``plan_serving``)."""
    if not simulate:
        return None
    if not m.is_transformer:
        return "the simulation models LLM serving only: a generic model's plan is analytic"
    if realtime and not qps:
        return ("a real-time plan without serving.qps is sized at its batch alone, with no arrivals to simulate: "
                "give serving.qps")
    return "no option meets the targets analytically, so none was simulated"


def _prefix_note(m, s: ServingSpec, lay: Optional[KVLayout], trace: Optional[str] = None) -> list[str]:
    """A job with a shared prompt prefix: what the engine's prefix cache does with it (``shared_prefix``);
    ``lay`` the model's local-layer KV layout (``kv_layout``) or None."""
    if not s.shared_prefix_tokens or not m.is_transformer:
        return []
    pc = job_efficiency(s).prefix
    H = shared_prefix(s)
    unit = "token" if pc.block == 1 else f"{pc.block}-token block"
    held = f"its {H // pc.block:,} KV {unit}s" if pc.block > 1 else f"its {H:,} tokens' KV"
    out = (f"prefix caching: {s.shared_prefix_tokens:,} of {s.prompt_tokens:,} prompt tokens shared by every request "
           f"({pc.what}"
           + (f"; whole {pc.block}-token blocks only: {H:,} tokens cached, the other {s.shared_prefix_tokens - H:,} "
              "recomputed per request" if H != s.shared_prefix_tokens else "")
           + f"): prefilled once, {held} held once per replica"
           + (" (global layers; the local layers keep their window per sequence)" if lay is not None and lay.rule.rule != "full" else "")
           + "; decode still reads them per sequence (paged attention reads each sequence's blocks; vLLM's "
             "FlashAttention cascade attention, which can read a common prefix once per batch, is not modelled)")
    if H == 0:
        out = (f"prefix caching: {s.shared_prefix_tokens:,} of {s.prompt_tokens:,} prompt tokens shared by every request, "
               f"less than one {pc.block}-token block ({pc.what} caches whole blocks only): nothing is reused")
    if trace:
        out += (f"; the trace's requests are taken to share the first {H:,} tokens too (less for a prompt "
                "shorter than that: its whole blocks before its last token)")
    return [out]


def _max_batch_note(s: ServingSpec, options, realtime: bool) -> list[str]:
    """The default ``serving.max_batch`` (64) caps an option's batch below what its memory and latency
    allow: said, with how many options it caps (the batch column stopped at 64 with nothing saying why)."""
    if "max_batch" in s.model_fields_set:
        return []
    capped = [o for o in options if (o.batch if realtime else o.batch_offline) == replica_seats(s.max_batch, o.ep or 1)]
    if not capped:
        return []
    return [f"serving.max_batch defaulted to {s.max_batch}: it caps the batch of {len(capped)} of the {len(options)} "
            f"options{' (the recommended one too)' if capped[0] is options[0] else ''}; set it to let a replica "
            "run more sequences at once (it is vLLM's --max-num-seqs, one engine's: an expert-parallel replica seats "
            "it on each of its DP engines)"]


# How the simulation moved the analytic replicas (``queue_replicas``), measured 2026-12-04 (cap33: the throughput and
# the slot queue's service time at the step as the engine runs it, ``lumped_iteration``) by
# benchmarks/sim_vs_analytic_replicas.py over examples/serving-llama3-8b-chat.yaml's and serving-llama3-70b.yaml's
# options, every one simulated at the job's settings (64): kept 51, added replicas to 5 (p4de.24xlarge TP2 2 -> 3 on
# the chat job, g6e TP4 14 -> 16 x2, g6e TP8 9 -> 10, g5.48xlarge TP8 17 -> 28 on the 70b), removed one from 5 (p4de
# TP1 5 -> 4, the 70b's four H100 TP2 options 12 -> 11); the three L4 TP2 options miss at any count up to the cap (on
# their TPOT). Since tpot33 the batch is sized by the p99 TPOT over requests (``screen_tpot``): the counts are the
# same, the L4 TP2 options at batch 6 / 70 replicas (were 12 / 38, whose simulated p99 TPOT was 57.7 ms); the
# simulation's p99 there is 49.5 ms, meeting the 50 ms target, but it misses by its 10% margin (45 ms) at every count
# up to 280: their decode step alone is 45.19 ms. ``plan_serving`` now rejects such an option before simulating it
# (its batch-1 TPOT over the target less the margin): 61 simulated, kept 51 / added 5 / removed 5 / missed 0. Every
# simulated count is what it was before cap33 (serve32: kept 39, added to 22, removed from none, the analytic counts
# 62 replicas under the simulated ones in all; now 22 apart, 5 of them over). Since ttft33 a request that waits in the
# slot queue waits at its own replica (``jsq_extra_wait``): 51 / 5 / 5 / 0 still, the 70b's two g6e TP4 options 14 ->
# 15 analytic (16 simulated), 20 apart; the L4 TP2 options 70 -> 74 (the simulated fleet's TTFT p99 734 ms at 74, 4.1
# s at 70). One engine budget per option (the throughput and TTFT at the budget whose p99 TPOT sized the batch) was
# measured and not taken: 45 / 16 / 0 / 0, 37 apart, every analytic count at or under the simulated (g6e.xlarge TP1 7
# -> 5 at budget 512, simulated 7: the analytic throughput at 512 is 13% over the simulated backlog's, 8.51 vs 7.52
# req/s, at 2,048 8%, 6.52 vs 6.03). The batch-1 llama3-8b job at 2 QPS, 1 s TTFT (tests/test_serving.py), where the
# simulation used to remove replicas (12 analytic by the mean -> 10), is 9 analytic -> 10 simulated (11 -> 10 since
# ttft33). Since rag34 (the TPOT's chunked-prompt runs; the prefill budget's wait at the request's own replica) 51 / 5
# / 5 / 0 still, every count the same. The analytic size stays at or under the simulated one or one replica over it,
# which ``plan_serving``'s early stop leans on (``_cost_floor``); under it does not matter to the stop (the floor is
# then lower than the cost the simulation finds) and with long prompts it can be well under: QA 42's RAG job (16,000
# + 300 tokens, 5 QPS) sizes B200 TP4 at 6 and p6-b300 TP4 at 5 replicas, 7 simulated each (were 5 and 4: the TTFT at
# the fleet's load read under; the simulation's 10% margin on a p99 that falls slowly with replicas adds the rest).
# Since capgap34 (the lumped step the mean over its prompts' spread, the decodes' context length-biased: the full-batch
# throughput of llama3.1-8b on one H100 at B = 64 48.48 / 10.58 / 9.50 req/s at 128 / 128, 2,000 / 128, 500 / 500
# against the simulated 47.96 / 10.77 / 9.34, was 51.0 / 10.59 / 9.63) 51 / 5 / 5 / 0 still, every count the same, 20
# apart; benchmarks/ttft_grid.py's p99 within 25% 38 -> 41 of 60 (more than 25% under 14 -> 11). Since occup34 (the
# slot queue a birth-death chain over the occupancy, departures n / W(n): ``occupancy_wait``) 52 kept / 4 added / 5
# removed / 0 missed, 19 apart: the chat example's p4de.24xlarge TP2 2 -> 3 analytic, as simulated, every simulated
# count the same; ttft_grid 41 -> 42 of 60 (more than 25% under 11 -> 7). Session 35's ND H200 v5 rows add 3 options
# to the two examples, each kept: 55 / 4 / 5 / 0 of 64, 19 apart. srv44's re-run after serve44-46 (a row sized at its
# least budget, 512 where the TPOT is least): 48 / 16 / 0 / 0, 31 apart, 1.00x to 1.75x: the analytic size now at or
# under the simulated one everywhere (docs/serving_notes.md, srv44).
# The line under the plan's table (``_ranking``) says this in words, not these counts: they belong to those two jobs,
# not to the plan being printed (README serving section has them).


def _compute_rates(where) -> tuple[str, ...]:
    """The compute rate of each (GPU, power limit, precision) the options run on, the recommended one's first
    (``rate_words``): what serve prices prefill and decode GEMMs at, said beside the answer (serve40: the rate is
    training's reachable one, physics.reachable_peak, where it was the quoted peak unsaid)."""
    out = []
    for hw, sp, _ in where:
        w = rate_words(hw, sp.precision)
        if w not in out:
            out.append(w)
    return tuple(out)


def _power_notes(where) -> list[str]:
    """The power limit each (GPU, power limit) of the options runs at, once each, the recommended one's first
    (``physics.power_limit_words``: the clock ``cluster.power_limit_w`` leaves and the GEMM peak it reaches); none
    where the job sets no limit; without training's MFU clause (serving reports no MFU)."""
    return list(dict.fromkeys(w for hw, sp, _ in where
                              for w in [power_limit_words(hw, COMPUTE_DTYPE[sp.precision], mfu=False)] if w))


def _mxfp4_release_note(s: ServingSpec, options, hws) -> list[str]:
    """The options whose MXFP4 experts the engine runs at the checkpoint's dims only from a release on
    (``ServingEfficiency.mxfp4_native_since``: vLLM from 0.11.1, which installs triton_kernels; before it Marlin on
    Hopper, its padded dims stored and multiplied, ``serving_memory.mxfp4_expert_pad``), said once with the release the
    plan priced (``serving.engine_version``: latest, the current one, unless the job pins one): an older one holds more
    weight bytes and less KV room on those GPUs."""
    se = engine_efficiency(s.engine)  # the current release's rule: the GPUs a release moves are the ones it adds
    if s.precision != "mxfp4" or not se.mxfp4_native_since:
        return []
    by_name = {hw.name: hw for hw in hws}
    newer = set(se.mxfp4_native) - set(se.mxfp4_native_before)
    gpus = list(dict.fromkeys(o.gpu for o in options if o.hardware in by_name
                              and gpu_family(by_name[o.hardware].gpu.name) in newer))
    if not gpus:
        return []
    since = ".".join(str(v) for v in se.mxfp4_native_since)
    on = f"serving.precision mxfp4 on {', '.join(gpus)}"
    marlin = "at padded dims: more weight bytes, less KV room (serving_memory.mxfp4_expert_pad)"
    if s.engine_release is None:
        return [f"{on}: the MoE experts at the checkpoint's dims, through triton_kernels as {s.engine} {since} and "
                f"later run them (serving.engine_version {s.engine_version}); a {s.engine} without it (earlier "
                "releases, or a pip install that left it out: it is not on PyPI) runs Marlin there, "
                f"{marlin}; serving.engine_version pins a release"]
    if job_efficiency(s).mxfp4_native != se.mxfp4_native:
        return [f"{on}: serving.engine_version {s.engine_version}, before {since}: {s.engine} runs the MoE experts "
                f"through Marlin, {marlin}"]
    return [f"{on}: serving.engine_version {s.engine_version}: the MoE experts at the checkpoint's dims, through "
            f"triton_kernels as {s.engine} {since} and later run them; a build without it (it is not on PyPI) runs "
            f"Marlin there, {marlin}"]


def _compute_dtype_note(s: ServingSpec, options) -> list[str]:
    """The options whose GEMMs run in another dtype than ``serving.precision`` names (``compute_peak``: a part with no
    peak for it computes in bf16 / fp16 over the stored weights, weight-only), said once: QA 42 found a TPU v5e fp8
    option timed at its bf16 peak with only the JSON's ``compute_dtype`` saying so."""
    want = COMPUTE_DTYPE[s.precision]
    other = sorted({(o.hardware, o.compute_dtype) for o in options if o.compute_dtype and o.compute_dtype != want})
    if not other or want == "bf16":  # int4 / mxfp4 name bf16 math already (COMPUTE_DTYPE)
        return []
    shown = ", ".join(f"{h} ({d})" for h, d in other[:4]) + (f" and {len(other) - 4} more" if len(other) > 4 else "")
    return [f"serving.precision {s.precision}: {shown} {'has' if len(other) == 1 else 'have'} no {want} peak in the "
            f"catalog: {want} weights, GEMMs timed at the peak in brackets (weight-only)"]


def rank_key(realtime: bool, qps: bool, fleet: bool = False) -> Callable[[ServingOption], tuple]:
    """The order ``plan_serving`` ranks options in, cheapest first, in one place. Offline: $ per million requests as
    billed (``_offline_billed``: the fleet's nodes whole; the replicas' GPU share until offline47), then the sooner
    done, then fewer GPUs per replica; real-time without a QPS: $ per million requests at full load, then TP. Real-time
    with a QPS: $/h for the QPS, then, at equal $/h (both meeting the targets: the same nodes bought either way),
    the one with more headroom first -- the higher rate the fleet carries (``headroom``: replicas x requests/s a
    replica, the simulated saturated rate where simulated), then the lower p99 TPOT -- and only then fewer GPUs and
    TP. Until serve44 the tie went to fewer GPUs (QA 61: Llama-3-70B on two p5.48xlarge, TP2 x 5 replicas at a 57.5
    ms TPOT against a 60 ms target ranked over TP8 x 2 at 22.6 ms, $48/h each), which gave the same money's idle GPUs
    no say. An unpriced option (a bare ``cluster.gpu``) keeps fewest GPUs first: without a cost there is no tie.
    A fixed fleet (``fleet``, ``serving.replicas``): $ per million requests at the QPS the fleet carries, then the
    higher QPS a GPU (the order an unpriced fleet is ranked in), then TP."""
    if fleet:
        return lambda r: (r.usd_per_million_requests or math.inf, -_tied(r.fleet_qps or 0.0) / (r.gpus or 1),
                          p99_tpot(r), r.tp)
    if not realtime:  # at equal $ (a job under the billing minimum: cost.MIN_BILLED_S) the one done sooner (qa59b)
        return lambda r: (r.usd_per_million_requests_offline or math.inf, r.offline_hours or math.inf, r.tp)
    if not qps:
        return lambda r: (r.usd_per_million_requests_full or math.inf, p99_tpot(r), r.tp)

    def key(r: ServingOption) -> tuple:
        usd = r.usd_per_hr or math.inf
        return (usd, *(headroom(r) if math.isfinite(usd) else ()), r.gpus, r.tp)
    return key


def headroom(r: ServingOption) -> tuple[float, float]:
    """(-the requests/s the fleet carries, the p99 TPOT ms) of a real-time option, for ``rank_key``'s tie at equal
    $/h (smaller first): the fleet's rate replicas x requests/s a replica (the simulated saturated rate where the
    simulation sized it, ``saturated_rps_per_replica``), and the simulated p99 TPOT where simulated, else the
    screen's; inf where unknown (last)."""
    sim = r.simulated or {}
    rps = sim.get("saturated_rps_per_replica") or r.requests_per_s_per_replica
    return (-_tied((r.replicas or 0) * (rps or 0.0)), p99_tpot(r))


def p99_tpot(r: ServingOption) -> float:
    """An option's p99 TPOT in ms for ``rank_key``'s ties (smaller first): the simulated one where simulated, else
    the screen's; inf where unknown (last). Until qa107 a fixed fleet's and a no-QPS job's cost tie went to TP, then
    to list order (an expert-parallel option with and without two-batch overlap: the same TP)."""
    sim = r.simulated or {}
    tpot = ((sim.get("tpot_ms") or {}).get("p99") if sim else None) or r.tpot_ms
    return math.inf if tpot is None else tpot


def _tied(rate: float) -> float:
    """A request rate at ``RATE_TIE_DIGITS`` significant digits, so that rates apart by float noise tie in
    ``rank_key`` and the p99 TPOT decides (qa107: an SGLang EP8 option with and without two-batch overlap carried
    649.1757833014537 and 649.1757833013523 requests/s, the first ranked over the second's TPOT by the 1e-13)."""
    return float(f"{rate:.{RATE_TIE_DIGITS}g}")


#: the significant digits a fleet's request rate is compared at in ``rank_key`` (``_tied``): far above the screen's
#: accuracy, far below a float's noise
RATE_TIE_DIGITS = 6


def _cannot_beat(floor: tuple, best: tuple) -> bool:
    """Whether an option whose ``rank_key`` at one replica fewer is ``floor`` cannot rank over the best simulated
    ``best``: priced, its cost is over the best's (at equal cost it may still win on headroom, ``rank_key``, which
    one replica fewer does not bound: the simulation may keep more); unpriced, its key is at or over the best's."""
    return floor[0] > best[0] if math.isfinite(best[0]) else floor >= best


def _most_replicas_within(row: ServingOption, usd_hr: float, qps: float, lim: ServingLimits, sim: SimSettings) -> int:
    """The most replicas the simulation can give ``row`` (``_refine_realtime``'s cap, for the whole fleet where a
    slice of it is simulated, raised to ``lim.min_gpus`` as ``_resize`` raises it) at $/h at most ``usd_hr``, priced
    as ``_sized`` prices a fleet (whole nodes); 0 where even the least costs more."""
    fleet = _fleet_slice(row.replicas or 1)
    cap = _replica_cap(_slice_replicas(row.replicas or 1, fleet), sim)
    cap_all = cap if fleet == 1 else math.ceil(cap * fleet)
    per_node = replicas_per_node(row.tp, row.gpus_per_node)
    # $/h grows with whole nodes: the most replicas at or under usd_hr fill the nodes it buys (1e-9: a float's error)
    within = per_node * (int(usd_hr / row.price_usd_hr * (1 + 1e-9)) // nodes_per_replica(row.tp, row.gpus_per_node))
    return lim.floor(row.tp, min(cap_all, within)) if lim.floor(row.tp, 1) <= within else 0


def _tie_cannot_beat(row: ServingOption, floor: tuple, best: tuple, qps: float, lim: ServingLimits, sim: SimSettings,
                     capacity: Callable[[tuple[int, int]], float]) -> bool:
    """Whether an option whose cost floor ties the best simulated option's $/h (``_cannot_beat`` false) still cannot
    rank over it: at that $/h it ranks first only by carrying more (``rank_key``: the fleet's requests/s, replicas x
    the simulated saturated rate a replica, ``headroom``). The simulation gives it at most the replicas that $/h buys
    (``_most_replicas_within``), each at most the highest saturated rate of the settings it may pick
    (``_engine_settings``, their ``_capacity`` runs: ``capacity(k)``); an option that cannot carry the best's rate
    even so is not simulated. A bound, not the screen's guess: the simulation may add replicas at the same $/h (a
    multi-GPU node's spare GPUs), so the analytic fleet rate is no bound. The capacity runs are spent only where the
    screen's rate (``requests_per_s_per_replica``) already says it cannot (they are the option's own first runs,
    cached, should it be simulated after all). ``floor``: the option's ``_cost_floor``; ``best``: the best simulated
    ``rank_key`` ($/h, -its fleet rate, ...). Only a tie: a floor under the best's $/h may win on cost.

    serve44 simulated every tie (the app's plan on one p5.48xlarge: TP8 / TP4 / TP2 / TP1, 69,400 engine events);
    stopping at a tie outright dropped the test_serving ranking test's set-up: p4de TP2 (analytic 8 replicas, 7 at
    its floor, $54.9/h) ties the simulated p4de TP4 x 4 and can carry more on those two nodes (8 TP2 replicas), so it
    must be simulated; it is, and the simulation puts it at 9 replicas, $82.3/h."""
    if not (row.price_usd_hr and math.isfinite(best[0]) and len(best) > 1 and floor[0] >= best[0]):
        return False
    rate = -best[1]  # the best's fleet requests/s
    most = _most_replicas_within(row, best[0], qps, lim, sim)
    if most * (row.requests_per_s_per_replica or 0.0) >= rate:
        return False  # the screen's rate says it may carry more: simulate it, no capacity run spent on a bound
    return most * max(capacity(k) for k in _engine_settings(row, sim)) < rate


def _cost_floor(row: ServingOption, key, qps: float, lim: ServingLimits = ServingLimits()) -> tuple:
    """``key(row)`` (cost first) at one replica fewer than the analytic size: what the simulation could still bring a
    real-time option down to (the analytic size is over the simulated one by at most one replica where it is over at
    all: the measurement above), the bound ``plan_serving``'s early stop compares with the best simulated cost. The
    fleet is priced as ``_sized`` prices it (whole nodes, raised to ``lim.min_gpus``, as ``_resize`` sizes a simulated
    one). An option of one replica, or without a price, keeps its key. Until QA 42 the $/h was scaled by (r - 1) / r:
    the chat QA job's p4d.24xlarge TP2 (2 replicas on one node, $21.96/h) was simulated against a best of $13.76/h,
    though one replica is still the whole node at $21.96/h."""
    k = key(row)
    r = row.replicas or 1
    return k if r <= 1 or not math.isfinite(k[0]) else key(replace(row, **_sized(row, lim.floor(row.tp, r - 1), qps)))


def _ranking(options, realtime: bool, qps: bool, simulated: bool, candidates: int, why_not: str = "") -> str:
    """The order of ``options`` in one line (``ServingPlan.ranking``, printed under the table): by
    cost, the simulated size's where the simulation sized an option, else the analytic one's. ``why_not``:
    why a plan the user did not ask to leave unsimulated (--no-simulate) was not simulated. Where no option has a
    price (a bare ``cluster.gpu``) the sort keys' costs are all unknown and the order is their next key, the GPUs
    (with a QPS) or the TP: until QA 34 the line said "ranked by $/h for the QPS, cheapest first" beside a table
    with no $ column."""
    if not any(o.usd_per_hr is not None or o.usd_per_million_requests_offline is not None for o in options):
        what = ("the GPUs the QPS needs, fewest first" if realtime and qps else "GPUs per replica, fewest first")
        what += " (no option has a price: set cluster.price_usd_hr, per node, to rank by cost)"
        if not simulated:
            return f"ranked by {what} at the analytic size (not simulated{': ' + why_not if why_not else ''})"
        if not options or options[0].simulated is None:
            return f"ranked by {what}; no option was confirmed in simulation (sized: analytic)"
        return (f"#1 is the option with the fewest GPUs confirmed in simulation; the rest ranked by {what}. sized: sim = "
                "sized and confirmed in simulation; analytic = not simulated, its size usually a lower bound; the first "
                f"analytic options are simulated, at most {candidates}")
    what = ("$/1M requests offline" if not realtime else "$/h for the QPS" if qps else "$/1M requests at full load")
    if not simulated:
        return f"ranked by {what} at the analytic size (not simulated{': ' + why_not if why_not else ''})"
    if not options or options[0].simulated is None:
        return (f"ranked by {what}, cheapest first; no option was confirmed in simulation (sized: analytic, usually "
                "a lower bound on the size the simulation would give)")
    # offline, a simulated option's cost is its backlog's (the table's "$/1M req batch" shows that one) and
    # every one of the cheapest ``candidates`` is simulated (no early stop: plan_serving's loop)
    return (f"#1 is the cheapest option confirmed in simulation; the rest ranked by {what}"
            + (" (the simulated backlog's where simulated)" if not realtime else "") + ", cheapest first. "
            "sized: sim = sized and confirmed in simulation; analytic = not simulated, its cost usually a lower bound ("
            + ("the simulation keeps the analytic replicas or adds some, seldom removes any"
               if realtime else "the simulated backlog usually runs slower")
            + f"); the cheapest analytic options are simulated, at most {candidates}"
            + (", stopping once the next cannot beat the best simulated cost even one replica smaller"
               if realtime else "")
            # a sim row's latency cells are the screen's at the simulated count and budget (serve45), not the
            # simulation's p99s: the chat example's row read TTFT 272 ms above a simulated p99 of 408 ms (QA 99)
            + (". A sim row's TPOT and TTFT are the analytic screen's at its simulated replicas and token budget; its "
               "simulated p99s are in the simulated table (--json: the option's simulated)" if realtime else ""))


def _fleet_ranking(replicas: int, simulated: bool, candidates: int) -> str:
    """How a fixed fleet's options are ranked, one line (``ServingPlan.ranking``)."""
    return (f"fixed fleet of {count_of(replicas, 'replica')} (serving.replicas): each option's QPS is the highest its "
            "replicas carry within the p99 targets (fleet_qps); ranked by $/1M requests at that QPS, then QPS per GPU"
            + (f"; #1 is the best confirmed in simulation (at most {candidates} simulated, each QPS up to the "
               "analytic one; sized: sim), the rest at the analytic screen's QPS" if simulated else
               " (analytic screen, not simulated)"))


def _fleet_words(b: ServingOption) -> str:
    """The recommendation's fixed-fleet clause: the QPS it carries and how that was found (empty for other plans)."""
    if b.fleet_qps is None:
        return ""
    how = ("confirmed in simulation" if b.fleet_qps_by == FLEET_QPS_BY.names[1] else
           "analytic screen, not simulated")
    return f"; the fleet carries at most {fmt_rate(b.fleet_qps)} QPS within the targets ({how})"


#: how ``_why`` names the way a row's token budget was chosen (``ServingOption.token_budget_by``)
_BUDGET_BY_WORDS = {BUDGET_BY_SCREEN: "the one needing the fewest replicas", BUDGET_BY_SIMULATION: "the simulation's"}


def _budget_words(b: ServingOption) -> str:
    """"; token budget 512, the one needing the fewest replicas": the budget every figure of the row is at (serve45),
    empty where the row was not sized for a QPS."""
    by = _BUDGET_BY_WORDS.get(b.token_budget_by)
    return f"; token budget {b.token_budget:,}, {by}" if by and b.token_budget else ""


def _why(b: ServingOption, rejected, realtime: bool, trace: bool, llm: bool = True,
         tpot_target_ms: Optional[float] = None, ttft_target_ms: Optional[float] = None) -> str:
    """The recommendation in one line: the best option, its simulated check, and why a smaller
    TP on the same GPU does not work. A generic model (a CNN) has one request latency, not a time per
    output token: its line says "p99 latency", as its table column does.

    It says the option "meets" its figures only where each is within its target (``tpot_target_ms``:
    serving.p99_latency_ms, ``ttft_target_ms``: serving.ttft_ms): a simulated row states the analytic screen's
    figures at the simulation's token budget and replicas (``_at_budget``), which may read over a target the
    simulated p99s meet, and then the line names them as over and the simulated p99s as the check (srvb51: Llama-3-8B,
    8,000 / 64 tokens, 20 QPS on p5.48xlarge TP1 read "meets TPOT 66.7 ms / TTFT 1,661 ms" against 40 / 1,500 ms
    targets, its simulated p99s 22.1 / 1,219 ms)."""
    sim = b.simulated
    if not realtime:
        # a bare GPU has no price: "$nan per million requests" was printed; a spot job's figures are spot prices
        price = f" {at_price_words(b.offline_price)}" if b.offline_price else ""
        out = (f"offline: {b.hardware} {b.layout} ({b.precision}) at batch {b.batch_offline} "
               + (f"costs {fmt_usd(b.usd_per_million_requests_offline)} per million requests{price} (analytic)"
                  if b.usd_per_million_requests_offline is not None else
                  f"runs {b.requests_per_s_offline:.2f} req/s per replica (analytic; no price: a bare GPU has none, "
                  "set cluster.price_usd_hr)"))
        if b.offline_replicas and not sim:  # the analytic fleet (its nodes filled, or a limit's)
            out += (f"; {b.offline_replicas} replica{'s finish' if b.offline_replicas != 1 else ' finishes'} "
                    f"in {fmt_run_time(b.offline_hours)} (analytic)")
        if sim:
            out += (f"; simulated backlog: {sim['requests_per_s_per_replica']:.2f} req/s per replica"
                    + (f", {fmt_usd(sim['usd_per_million_requests'])} per million" if sim.get("usd_per_million_requests") else "")
                    + (f", {sim['replicas']} replica{'s finish' if sim['replicas'] != 1 else ' finishes'} in {fmt_run_time(sim['hours'])}"
                       if sim.get("hours") else "")
                    # what the draws simulated and which one the answer is (``_refine_offline``)
                    + (f" (simulated: {sim['draws']['what']})" if sim.get("draws") else "")
                    + (f" ({cut_words(sim['cut'])}; the backlog's time at that rate)" if sim.get("cut") else ""))
        return out
    unbounded = llm and b.concurrency is not None and not b.ttft_ms  # ``llm_option``: the analytic size at capacity
    over = [f"{n} target ({fmt_given(g)} ms)" for n, x, g in (
        ("TPOT" if llm else "p99 latency", b.tpot_ms, tpot_target_ms),
        ("TTFT", math.inf if unbounded else b.ttft_ms, ttft_target_ms)) if g is not None and x is not None and x > g]
    s = (f"{b.hardware} with {b.layout} ({b.precision}) per replica {'reads' if over else 'meets'} "
         f"{'TPOT' if llm else 'p99 latency'} {tpot_words(b.tpot_ms)}"
         + (f" / TTFT {b.ttft_ms:,.0f} ms" if b.ttft_ms else
            # ``llm_option`` states none where the analytic size is at a capacity (``llm_ttft``'s queues)
            " / TTFT unbounded (the analytic size is at its capacity: the queue grows)"
            if llm and b.concurrency is not None else "")
         # the load the screen's TPOT is at (``screen_concurrency``): a full batch only where the load fills it
         + (f" at concurrency {b.concurrency:.2f} per replica (Little's law; max_num_seqs {_seats_words(b)}"
            f"{_budget_words(b)}) (analytic)" if b.concurrency is not None else f" at batch {b.batch} (analytic)")
         + (f", over the {' and the '.join(over)}" + ("; the simulated p99s are the check" if sim else "")
            if over else ""))
    if sim:
        s += (f"; simulated at {fmt_rate(sim['qps'])} QPS{' (the trace)' if trace else ''} with {sim['replicas']} replica{'s' if sim['replicas'] != 1 else ''} "
              f"(analytic {b.analytic_replicas}), token budget {sim['max_num_batched_tokens']:,}: "
              f"p99 TTFT {sim['ttft_ms']['p99']:,.0f} ms, p99 TPOT {tpot_words(sim['tpot_ms']['p99'])}"
              + (f" ({cut_words(sim['cut'])})" if sim.get("cut") else ""))
    if b.replicas:
        s += f"; {b.replicas} replica{'s' if b.replicas != 1 else ''} on {b.nodes} node{'s' if b.nodes != 1 else ''}"
    smaller = [r for r in rejected if r.gpu == b.gpu and r.tp < b.tp and r.precision == b.precision and r.ep == b.ep]
    if smaller:
        r = max(smaller, key=lambda r: r.tp)
        s += f"; {r.layout} does not work: {r.get('reason', '')}"
    return s

