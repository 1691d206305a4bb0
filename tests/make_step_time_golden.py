"""Reference outputs of the analytic core for tests/test_step_time_batch.py (``test_matches_stored_reference``).

Run by hand, from the repository root, when the model's numbers change on purpose (and say so in the commit)::

    python tests/make_step_time_golden.py      # seconds; writes tests/data/step_time_golden.npz

It evaluates ``step_time`` and ``memory_per_gpu`` on the fixed candidate sets of ``CASES`` (seeded, built by
``candidates``) and stores every float output. The stored file was made at commit 99e4656 (before the speed
work on distinct_rows / step_time's key-level terms, which changed no number); regenerated on the mamba branch
(2026-12-02) for ssm.SSD_ROOFLINE_FACTOR: only the hybrid case (nemotron-3-nano-pretrain) moved, 28 of 574 arrays;
regenerated on the left branch (2026-12-02) for memory._mixed_stage_params (each pipeline stage of an MoE model with
dense layers holds its own layers): only deepseek-v3-pretrain moved, 42 of 574 arrays (memory total x0.93-1.05, step
time x0.93-1.05 through the DP reduce of the stage's dense parameters); regenerated on the pipe2 branch (2026-12-02) for
memory_stages.stage_layer_microbatches (the activations of the peak pipeline rank, each rank its own layers x its own
micro-batches in flight): memory only, deepseek-v3-pretrain (61 layers) and nemotron-3-nano-pretrain (52) where pp does
not divide the layers, 20 of 574 arrays (activations x0.80-0.98, total x0.88-1.0); no step-time array. The file as
committed before it was already stale in nemotron-3-nano-pretrain (22 arrays: one row's bubble x1.43 and step time
x1.17-1.19 since the interleaved-pipeline change, qa21), which this regeneration also takes up; regenerated on the qa23
branch (2026-12-02) for the FP8 parameter all-gather at 1 B under --fp8-param-gather (step_time._dp_terms,
LowPrecisionRecipe.param_gather_bytes) and the 16-bit weights + cached FP8 copy at ZeRO-0 (memory,
stack_kernels.fp8_weights_as_stored): only the two fp8 megatron-core cases moved (llama3-70b case 1, nemotron-3-nano-pretrain),
44 of 574 arrays: ZeRO-1/2 rows' exposed parameter gather x0.06-0.51, step time x0.85-1.0, ZeRO-0 rows' weights x1.5
and memory total x1.01-1.06.
Also regenerated on the
qa22 branch (2026-12-02), 38 of 574 arrays: torchtitan's ZeRO-2 timed as the FSDP2 reshard_after_forward=False it
launches (Stack.fsdp2_dp; llama3-70b/torchtitan, the 12 ZeRO-2 rows: with PP the phantom per-micro-batch
reduce-scatters gone, step time x0.78-0.99 on p5 and x0.35-0.99 on g6; without PP a gather per micro-batch, x1.02-1.15),
and ZeRO-3's gather buffer as a rank's share of the largest layer (memory_stages.largest_unit_params: its local experts,
not all of them; the experts not split by TP at expert-TP 1): mixtral-8x7b, deepseek-v3-pretrain and
nemotron-3-nano-pretrain ZeRO-3 rows' weights x0.16-3.5, totals x0.55-1.43; no other step-time array.
Regenerated again on main after merging left3 (one pipeline split for launch and price: 16 arrays, memory
only) and qa22 (the above). Regenerated on the fsdpmem branch (2026-12-02) for FSDP2's memory (Stack.fsdp2_dp: no
16-bit weight shard beside the fp32 master, a layer's bf16 unsharded gradient + reduce-scatter input held:
memory.fsdp2_reduce_buffer_bytes): only llama3-70b/torchtitan moved, 8 of 574 arrays (mem weights, grads, total,
total_last on both instances): ZeRO-3 rows' weights x0.046-1.0, ZeRO-2/3 rows' grads x1.0-10.3, totals x0.92-1.07;
no step-time array. Regenerated on the titanroot branch (2026-12-02) for torchtitan's [norm, output] FSDP2 unit
gathered beside the prefetched last layer (Stack.fsdp2_root "head", memory.fsdp2_root_gather_params): only
llama3-70b/torchtitan moved, 6 of 574 arrays (mem weights, total, total_last on both instances): ZeRO-3 rows' weights
x1.0-1.11, totals x1.0-1.002; no step-time array.
Regenerated on the left5 branch (2026-12-02) for a hybrid model's stages on the launched split, VPP included
(memory_stages._hybrid_stage_params, and step_time._dp_terms on the same split): only nemotron-3-nano-pretrain moved, 18
of its 64 rows (interleaved ones) on both instances, 42 of 574 arrays: weights/grads/optimizer x0.995-1.31, memory total x0.997-1.23
(one row's peak moved to the first stage), optimizer and DP reduce x0.99-1.29 (comm_dp x1.47 on g6), step time
x1.0-1.13 (p5) and x1.0-1.24 (g6).
Regenerated on the left6 branch (2026-12-02) for the --fp8-param-gather all-gather moving the embedding, final norm
and LM head at 16 bits (step_time.fp8_param_gather_bytes): only the two fp8 megatron-core cases moved (llama3-70b
case 1, nemotron-3-nano-pretrain), 32 of 574 arrays: exposed parameter gather x1.02-1.48, step time x1.0-1.002.
Regenerated again on left6 for the pipeline pace on the launched split (step_time.slowest_stage: each rank's layers as
pipeline.pipeline_split places them, VPP chunks included, not the better of ceil(L/pp) and the accounted split): only
nemotron-3-nano-pretrain (52 blocks) moved, 38 of 574 arrays: step time x0.875-0.987, compute terms x0.68-1.17.
Regenerated on the accscale branch (2026-12-03) for the overlapped interleaved schedule's warm-up / cool-down sends
(step_time ``pp_fill``: 2 (pp vpp - 1) sends at their links, pipeline.path_sends): 14 new ``t_pp_hop`` arrays (588
in all) and 60 of the 574 moved, the interleaved megatron-core rows of every case but torchtitan / hf-trainer:
comm_pp from 0, step time x1.0-1.027 (llama3-70b), up to x1.056 (nemotron-3-nano-pretrain on g6), MFU/HFU/tokens
the inverse; nothing else.
Regenerated on the fixes24 branch (2026-12-03) for torchtitan's per-op SAC priced and counted from one number
(flops.op_sac_recompute_flops_per_token: every second mm of a block re-run, wo and w3 under 0.3's fused QKV, not half
the GEMM time; HFU counts it instead of the attention core): only llama3-70b/torchtitan moved, 22 of 574 arrays:
selective rows' step time x0.966-1.0, hw_flops x1.0-1.081, hfu x1.0-1.119; no memory array.
Regenerated on main after merging accscale and fixes24 (2026-12-03): both changes together, nothing else.
Regenerated on the opsacmem branch (2026-12-03) for torchtitan's per-op SAC memory read off the same policy as its
recompute FLOPs (flops.op_sac_block; activations.op_sac_saved_tensors: 0.3's fused QKV saves wqkv's output, the
row-parallel w2 output is the full width on each TP rank, each row-parallel reduce-scatter output is kept under SP):
only llama3-70b/torchtitan's memory moved, 24 of 64 rows (the selective ones), 5 arrays on each instance:
activations x1.006-2.17 (x2.17 at TP 8 + SP), other (its fragmentation allowance on the activations) x1.002-1.83,
total x1.001-2.04, the last stage's other/total x1.001-1.25; no step-time array.
Regenerated on the fsdpscale branch (2026-12-03) for ZeRO-3's compute slowdown under NCCL's SMs no longer added on top
of the collectives' excess where they outlast the compute (physics.nccl_slowdown_exposed): the ZeRO-3 rows that are
communication-bound moved, 84 of 588 arrays (every case, both instances: comm_zero3 x0.52-1.0, step time x0.77-1.0,
mfu / hfu / tokens_per_s x1.0-1.29); no memory array.
Regenerated on the fp8gather branch (2026-12-03) for ZeRO-3's gathers at the --fp8-param-gather width (step_time
._dp_terms: Megatron-FSDP gathers its FP8 weight buffers): only the two fp8 megatron-core cases' ZeRO-3 rows moved,
24 of 588 arrays (llama3-70b 12 rows, nemotron-3-nano-pretrain 17, both instances: comm_zero3 x0.15-0.95, step time
x0.67-1.0, mfu / hfu / tokens_per_s up likewise); no memory array (none of the cases offloads activations).
Regenerated on the fp8keep30 branch (2026-12-04) for the --fp8-param-gather all-gather moving the layers kept 16-bit
at 2 bytes (step_time.fp8_param_gather_bytes): only the two llama3-70b fp8 megatron-core cases with kept layers moved
(cases 1 and 7), 36 of 588 arrays on both instances: comm_zero3 x1.0-1.36, t_param_gather_exposed x1.02-2.37,
comm_dp / t_dp_tail x1.0-1.10, step time x1.0-1.077, mfu / hfu / tokens_per_s down likewise; no memory array.
Regenerated on the small31b branch (2026-12-04) for FSDP1 SHARD_GRAD_OP with a bf16 param_dtype handing autocast no
fp32 weights (Stack.fsdp_zero2_param_dtype): only llama3-70b/hf-trainer's ZeRO-2 rows moved, 15 of 64 rows, 21 of 672
arrays (both instances): compute_memory_bound x0.72-0.97, step time x0.94-0.99, t_fwd_mb / t_bwd_mb / bubble down,
mfu / hfu / tokens_per_s x1.006-1.068; on g6 3 rows' comm_dp / t_dp_tail x1.02-1.07 and t_param_gather_exposed
x1.06-1.28 (a shorter backward hides less); no memory array.
Regenerated on the hfsp34 branch (2026-12-04) for the HF code's activations under tensor parallelism without sequence
parallelism (memory_activations.hf_tp_share: a rank keeps the residual stream and the column layers' inputs whole) and its
gathered logits (lm_head colwise_gather_output, whole at any TP): only llama3-70b/hf-trainer (case 3) moved, memory
only, 20 of 672 arrays (both instances): 31 of 64 rows' total x1.0-2.16, logits x2 and up from 0 where the peak stage
became the last one (4 rows' ``stage``, their weights x1.0000002-1.0000009, activations x0.36-8.0 with it); no
step-time array (the case's candidates carry their own ``sp``).
Regenerated on the pp35 branch (2026-12-05) for ZeRO-3 gathered per micro-batch under a pipeline in the bubble's stage
time (pipeline.step_composition ``in_stage``: the fill's and drain's micro-batches gather too, as the simulator's list
schedule has them): only ZeRO-3 rows with pp > 1 that do not hold the stage gathered moved (not torchtitan's, case 2),
84 of 672 arrays, every other case on both instances: bubble x1.0-38.4 (where the gathers outlast the compute), step
time x1.0-1.22, mfu / hfu / tokens_per_s down likewise; no memory array.
Regenerated on the pp35b branch (2026-12-05) for Megatron-Core's ZeRO-1/2 parameter all-gather waited on by every
pipeline stage's first forward on the 1F1B schedule (Stack.param_gather_stage_lazy, step_time ``compose_step``
``pg_lead``: the forward pre-hook dispatches the first bucket there, unaligned without VPP): 32 new arrays
(``t_pp_lead``, and ``t_zero3_step`` for AutoModel's resharded PP stage, zero in every case) and 96 of the 672 moved,
the megatron-core cases' ZeRO-1/2 rows with pp > 1 and no VPP (not torchtitan's or hf-trainer's, cases 2 and 3), on
both instances: t_param_gather_exposed x1-8 (pp of them), comm_dp x1.0-3.6, t_dp_tail x0.008-1.0 (the waits leave the
simulator's tail for its list schedule), step time x1.0-1.33 (mixtral-8x7b on g6 the most; p5 x1.0-1.11), mfu / hfu
/ tokens_per_s down likewise; no memory array.
Regenerated on main after merging pplayout35 (2026-12-05) for the balanced Megatron-Core pipeline split where the job
leaves it open (pipeline.BalancedSplit: the last rank's LM head and MTP module counted in layers, the pacing stage
least; Megatron's own split where the balanced one does not fit): only deepseek-v3-pretrain moved (its MTP layer and
head), 65 of 704 arrays on both instances: step time x0.89-1.006, compute_gemm x0.82-1.0, mfu / hfu / tokens_per_s
x0.99-1.12, the ranks' layers (``stage``) and memory with them (activations x1.0-2.16 on the first rank, totals
x0.98-1.006, the last rank's x0.88-1.0).
Regenerated on main (2026-12-05, session 35) for the expert collectives a stage without expert parameters no longer
runs (step_time._dp_terms ``has_exp``: a zero-byte collective_time is its latency, which every dense row's DP gather,
reduce and HSDP all-reduce paid once more): only the dense llama3-70b cases moved, 114 of 704 arrays on both
instances: comm_dp / t_dp_comm x0.995-1.0, step time x0.998-1.0, mfu / hfu / tokens_per_s up likewise; no memory array.
Regenerated on the pipe36 branch (2026-12-05) for Megatron-Core's balanced split at VPP > 1, launched as a
``--pipeline-model-parallel-layout`` (and torchtitan's split as ``generate_llm_fqn_per_model_part`` builds it): only
deepseek-v3-pretrain's VPP cases moved, step time x0.893-1.0, memory x0.928-1.0.
Regenerated on main after merging qa49 (2026-12-05, session 36) for the HF Trainer's context parallelism priced as
accelerate's default K/V all-gather before the kernel, exposed (``Stack.cp_exchange`` "allgather"), not Megatron-Core's
overlapped ring: only the llama3-70b hf-trainer case moved (29 arrays on both instances): compute_attention x1.07-1.10 on
its CP rows (the calls' work-weighted keys), comm_cp x3.5-5.3 (was 0 on some rows), step time and the rates with them.
Regenerated on the hfloss37 branch (2026-12-05) for the walked HF step under the Trainer's loop (the logits and the
DynamicCache freed before the backward, ``Stack.loop_holds_output``): only the llama3-70b hf-trainer case moved, 12 of
704 arrays, memory only: logits x0.80-0.86, activations x0.994-1.037 (the vocab part taken out of a forward-side
peak), total x0.914-1.0; no step-time array.
Regenerated on the p2pmem37 branch (2026-12-05) for TE's K/V ring CP buffers (Megatron-Core cp_comm_type p2p, a2a+p2p:
every hop's K/V and every step's output alive at the forward's end, activations.cp_p2p_transient, added once to the
peak): the megatron-core cases' CP > 1 rows moved (llama3-70b 0, 1, 7, mixtral-8x7b, deepseek-v3-pretrain,
nemotron-3-nano-pretrain), 60 of 704 arrays on both instances, memory only: activations x1.0006-1.52, other
x1.0001-1.04, total x1.0001-1.02; no step-time array.
Regenerated on the deepep37 branch (2026-12-05) for the MoE dispatcher's own buffers (DeepEP / HybridEP, allocated once
outside PyTorch's allocator: memory.moe_comm_buffers, a new ``comm_buffers`` array per case, 0 where the dispatcher is
the all-to-all): only nemotron-3-nano-pretrain (HybridEP, EP 8) moved, 10 of 704 arrays on both instances plus 16 new
``comm_buffers`` arrays, memory only: other and outside_allocator x1.0-2.31, total x1.0-1.28 (up to 1.97 GiB of
HybridEP buffers at the rows' largest micro-batch); no step-time array.
Regenerated on the tece37 branch (2026-12-05) for Megatron-Core's native fused cross-entropy as core 0.16.1 compiles it
("megatron_ce_fused": the saved fp32 softmax, Inductor's fresh fp32 gradient and the bf16 gradient, 10 B a logit where
"megatron_ce" held 6; ``Stack.cross_entropy_fusion``): the megatron-core cases moved (llama3-70b 0, 1, 7, mixtral-8x7b,
deepseek-v3-pretrain, nemotron-3-nano-pretrain), 120 of 704 arrays on both instances, memory only: logits x1.40 and
up, total x1.0-1.49 (the most loaded stage is the last one on more rows, so its weights / grads / optimizer /
activations terms move with it, x0.26-1.09); no step-time array.
Regenerated on main after merging deepep37 and tece37 (2026-12-05): both moved memory arrays only (the dispatcher's
buffers, the native fused loss's 10 B a logit); the file holds both.
Regenerated on the a2aperm37 branch (2026-12-05) for the all-to-all dispatcher's permute / all-to-all copies
(activations.moe_a2a_transient, at EP > 1): 20 of 720 arrays, memory only (mixtral-8x7b, deepseek-v3-pretrain:
activations x1.00-1.12 / x1.00-1.39, total x1.00-1.02 / x1.00-1.05, other / other_last by the fragmentation share);
no step-time array.
Regenerated on the losspeak38 branch (2026-12-05) for the loss's buffers and the last layer's rebuild never live
together in the PyTorch stacks either (memory_activations.loss_logits: the logits term is what the loss exceeds the rebuild by, or
the held logits): every case but hf-trainer's (its walked step) moved, 120 of 720 arrays on both instances, memory
only: logits x0-1.0, total x0.885-1.0, total_last x0.85-1.0 (the most loaded stage flips to the first on some rows, so
its weights / grads / optimizer / activations move with it, x0.98-3.9); no step-time array.
Regenerated on the dsdense38 branch (2026-12-05) for a dense layer of an MoE model keeping its MLP rows at its own
width (activations.layer_saved_tensors at ``ModelSpec.dense_width``: DeepSeek-V3's first three layers 18432, not the
experts' 2048): only deepseek-v3-pretrain moved, 10 of 720 arrays on both instances, memory only: activations
x1.000-1.010, other / other_last x1.000-1.010 (the fragmentation share), total / total_last x1.000-1.008; no
step-time array.
Regenerated on the stagekinds38 branch (2026-12-05) for each pipeline rank's activations summed over its own layers'
kinds (memory_activations.stage_kind_bytes; the MTP depth at its own blocks), not the mean layer: only the two models whose layers
differ moved, 20 of 720 arrays on both instances, memory only: deepseek-v3-pretrain activations x0.960-1.012, total
x0.975-1.005, total_last x1.000-1.007; nemotron-3-nano-pretrain activations x0.964-1.119, total x0.986-1.088,
total_last x0.989-1.015 (other / other_last with them, the fragmentation share); no step-time array.
Regenerated on the chunk39 branch (2026-12-05) for the interleaved schedule's per-chunk micro-batch counts
(memory_activations.chunk_activations, pipeline.chunk_inflight: each chunk's own layers x the micro-batches that chunk holds, the
MTP depth on the last chunk): only the two models whose chunks differ moved, 20 of 720 arrays on both instances, memory
only: deepseek-v3-pretrain activations x1.013-1.023, total x1.000-1.003, total_last x0.971-1.000;
nemotron-3-nano-pretrain activations x0.973-1.059, total x0.993-1.051, total_last x0.957-1.006 (other / other_last
with them, the fragmentation share); no step-time array.
Regenerated on the logits40 branch (2026-12-05) for torchtitan's compiled loss under loss parallel at its measured
act + 4 B a shard logit (activations.TITAN_TP_COMPILED_CE_BYTES; 12 before): only llama3-70b/torchtitan moved, 20 of 720
arrays on both instances, memory only: the TP rows' logits x0.00-0.64 (where the first stage is now the fullest, it
reports that stage: stage, weights, grads, optimizer, activations x1.79-3.35 with it), total x0.936-0.995, total_last
x0.895-0.995 (other / other_last with them); no step-time array. (The step time's head taking its count from
activations.rank_logits on the same branch moved no array, bit for bit.)
Regenerated on the acc41c branch (2026-12-05) for the pipelined FSDP stage's reduce-scatter exposed whole, issued after
the stage's backward (step_time.reduce_overlaps_backward): only llama3-70b/torchtitan's PP rows moved, 14 of 720
arrays on both instances (comm_dp x1.2-16.8, step_time_s, t_dp_tail, mfu, hfu, tokens_per_s); no memory array.
Regenerated on the ep41 branch (2026-12-05) for DeepSeek-V3's MTP layer priced as the MoE layer Megatron-Core builds
it from (step_time.mtp_layer_block; it was the mean layer, 3 dense : 58 MoE) on the last stage, term by term: only
deepseek-v3-pretrain moved, 38 of 736 arrays, step time x1.0-1.0036 (the rows whose last stage paces; on g6 some
rows' pacing stage changes, so their breakdown terms move x0.88-1.05); no memory array. The expert-TP placement of
the same branch (comm.placed_collective_time) moves no case (no case's etp straddles a node).
Regenerated on the step42 branch (2026-12-05) for each pipeline rank priced by the layer kinds it holds
(step_time.pace_rank / rank_mix: a mixed model's rank at its dense / MoE layers, a hybrid's at its blocks, not every
layer the mean layer) and each rank's own paired all-to-all share (A2AShare.at): only deepseek-v3-pretrain (step time
on 37 / 35 of 64 rows, x1.0-1.04, the pacing stage's terms x0.97-1.19) and nemotron-3-nano-pretrain (48 / 46 rows,
step time x0.98-1.15, breakdown terms up to x2.04 where another rank now paces) moved, 84 of 736 arrays; no memory array.
Regenerated on the mem43 branch (2026-12-05) for the memory's "first" stage as the larger of rank 0's and the heaviest
middle rank's own totals (memory.peak_rank_class; it paired the heaviest rank's states by parameters with the peak of
both ranks' activations): only deepseek-v3-pretrain (24 of 64 rows, total x0.940-1.000) and nemotron-3-nano-pretrain
(22 rows, total x0.926-0.998; 4 rows' peak moved to the last stage) moved, 32 of 736 arrays, memory only (weights,
grads, optimizer, activations, logits, other, total, stage); no step-time array.
Regenerated on the hfwalk44 branch (2026-12-06) for a TP rank's peak of the walked HF step taken moment by moment
(activations_hf.hf_rank_peak: each moment's layers' part at hf_tp_share, the vocabulary-wide tensors whole, the weight
gradients live then at hf_grad_share; it split the peak's total as if all logits and all gradients were live at it):
only llama3-70b/hf-trainer moved, its 7 TP > 1 rows of 64 (none checkpointed) on both instances, 10 of 736 arrays,
memory only: activations x0.989-0.996, total / total_last x0.991-0.998, other / other_last (the fragmentation share)
with them; TP 1 rows bit for bit; no step-time array.
Regenerated on the hfvocab44 branch (2026-12-06) for each tensor of the walked HF step at the share a TP rank holds it
at (activations_hf hf_step_walk's moments): the loss's saved fp32 log-softmax whole with the vocabulary-wide part,
autocast's bf16 weight copies at the weights' share with the gradients (they were in the layers' part, at
hf_tp_share): only llama3-70b/hf-trainer moved, 12 of its TP > 1 rows on both instances, 10 of 736 arrays, memory only:
activations x0.256-1.159, total / total_last x0.617-1.054 (down where the copies weigh: ZeRO 0-2, checkpointed rows
most, share 1 there; up where the log-softmax does: the ZeRO-3 rows, no copies), other / other_last with them; TP 1
rows bit for bit; no step-time array.
Regenerated on the hfcp44 branch (2026-12-06) for a CP rank's weight-sized tensors of the walked HF step whole
(activations_hf.hf_rank_peak, memory_activations._hf_walk_arrays' added gradients: CP splits the sequence, not the weights; they
were over cp): only llama3-70b/hf-trainer moved, its 5 single-stage CP2 rows with a walk whose peak holds weight-sized
bytes (rows 7, 10, 45 at TP 8/2/8; rows 20, 53 at TP 1; row 55, ZeRO-3, not) on both instances, 10 of 736 arrays,
memory only: activations x1.176-1.945, total / total_last x1.064-1.169, other / other_last x1.146-1.829 with them;
CP 1 rows bit for bit; no step-time array.
Regenerated on the mem45 branch (2026-12-06) for the tokens' tensors outside the blocks of the walked HF step whole on a
TP rank (activations_hf hf_step_walk's second column: the final norm's saves, the head's input, ids and labels, the
gradient the head hands the final norm; they were in the layers' part, at hf_tp_share) and for bf16-gathered weights
freeing no expert-slice copies (no MoE case here): only llama3-70b/hf-trainer moved, 8 of its 64 rows (TP > 1: a share
below 1) on both instances, 10 of 736 arrays, memory only: activations x1.0014-1.0220, total / total_last
x1.0006-1.0081, other / other_last x1.0012-1.0110 with them; no step-time array.
Regenerated on the hf47 branch (2026-12-06) for the HF Trainer's eager details: transformers' RoPE priced as its own
op chain, fp32 under autocast over fp32 weights (stack_kernels.EAGER_FP32_BYTES "rope_rotate_half_amp" 44 B a q / k
element, was "rope" 24), and hf-trainer's recompute stopping early under transformers 5's non-reentrant checkpoint
(Stack.recompute_early_stop on): only llama3-70b/hf-trainer (case 3) moved, all 64 rows on both instances, 32 of 752
arrays, step time only: compute_memory_bound x1.026-1.149, compute_gemm x0.931-0.937 on the full-recompute rows (the
down projection not re-run), step_time_s x0.965-0.992 there and x1.000-1.026 elsewhere, the step's other terms with
them; no memory array.

Regenerated on the hffsdp47 branch (2026-12-06): the HF Trainer's residual stream is bf16 where FSDP gathers bf16
weights (ZeRO-2/3, ``Stack.fp32_stream``), so its RoPE is the 24 B form there and the HF memory walks / tables the bf16
module's tensors: only llama3-70b/hf-trainer (case 3) moved, 47 of 752 arrays on both instances: step_time_s
x0.974-0.996 on the ZeRO-2/3 rows, activations x0.165-0.838, weights x1.5 on the walked ZeRO-2 rows (FSDP's unsharded
bf16 flat parameter, where the walk held autocast's copies), total memory x0.80-0.99.
z2f51 (2026-12-06) prices FSDP1's SHARD_GRAD_OP fp32 flat parameter sharded beside the whole bf16 gathered model
(memory.fsdp_amp_keys; it was fp32 whole): only llama3-70b/hf-trainer (case 3) moved, 12 of its 64 rows (ZeRO-2),
6 of 768 arrays (mem weights, total, total_last on both instances): weights x0.34-0.67, totals x0.42-0.98; no
step-time array.
dsamp52 (2026-12-07) prices FSDP1's FULL_SHARD under AMP as its fp32 shard and the gathered blocks, no 2/N autocast
copy (memory.fsdp_amp_keys at ZeRO-3 too): only llama3-70b/hf-trainer (case 3) moved, its 12 ZeRO-3 rows at PP > 1
(not walked: the walk's rule took the copy off the PP 1 rows already), 6 of 768 arrays (mem weights, total,
total_last on both instances): weights x0.68-0.94; no step-time array.
fsdp52 (2026-12-07): hf-trainer's unset ``fsdp_version`` is 2, the HF Trainer's (it was accelerate's 1), so
llama3-70b/hf-trainer (case 3) is priced as FSDP2 at ZeRO-2/3: only case 3 moved, 30 of 768 arrays (15 on each
instance): comm_dp / t_dp_comm / t_dp_tail / t_param_gather_exposed -> 0 and comm_zero3 from 0 on 12 rows (FSDP2's
ZeRO-2 gathers per micro-batch), step_time_s x0.994-1.11, mfu / tokens_per_s x0.90-1.02, bubble x1.005-1.61, weights
x0.70-1.43 (15 rows), grads x1.02-10.3 (30 rows: FSDP2's unit buffers), totals x0.92-1.07. The two were
regenerated together on merging (session 52): under FSDP2, dsamp52's FSDP1 rule no longer reaches case 3.
auto53 (2026-12-07) prices the pass that folds each micro-batch's gradient into the gradients held unsharded between
micro-batches (step_time.held_grad_accum_bytes: FSDP2's fp32 upcast, then fp32 += bf16 a micro-batch): only
llama3-70b/torchtitan (case 2) moved, its 27 PP rows whose stage is held gathered, 9 of 768 arrays a instance (18 in
all, step time only): compute_memory_bound x1.10-2.51, t_bwd_mb x1.009-1.14, bubble x1.007-1.11, step_time_s
x1.007-1.10, mfu / tokens_per_s x0.91-0.99; no memory array. Then FSDP2's reduce-scatter copy-in on the compute
stream (step_time.fsdp_copy_in_bytes), regenerated on the same branch: llama3-70b/torchtitan (case 2) 32 of its 64
rows (step_time_s x1.00-1.047, compute_memory_bound up to x1.93, comm_zero3 x0.86-1.01 on 3 rows: a longer backward
hides more) and llama3-70b/hf-trainer (case 3, FSDP2 since fsdp52) 23-29 rows (step_time_s x1.004-1.03), 10 arrays a
case and instance; no memory array.
kf54 (2026-12-07) hides ZeRO-3 / FSDP's per-micro-batch collectives pass by pass (step_time.forward_gathers: the
forward's gathers under the forward alone, FSDP2's one-unit-ahead prefetch) and the deferred sync's last-backward
reduce-scatter under the part of that backward its gathers leave free (step_time.last_backward_gathers): 60 of 768
arrays (step time only: comm_zero3, bubble, step_time_s, mfu, hfu, tokens_per_s[_per_gpu]), the ZeRO-3 rows whose
forward is shorter than its gathers -- llama3-70b cases 0-3 and 7 on g6 / p5 (17 rows), deepseek-v3-pretrain and
nemotron-3-nano-pretrain (one row each): step_time_s x1.002-1.19; no memory array.
mem54 (2026-12-07) prices PyTorch's context_parallel ring backward's buffers on torchtitan's CP rows
(activations.cp_torch_ring_transient, Stack.torch_cp_ring): only llama3-70b/torchtitan (case 2) moved, 7 memory arrays a
instance (14 in all): its CP > 1 rows' rebuild grows (activations up to x1.27 on 21 rows; logits, where the loss
exceeds the rebuild, down by as much on 4), totals x1.00-1.026 on 19 rows; no step-time array. Then torch.distributed.
pipelining's gradient receive buffers, one a micro-batch on each stage before the last (memory_stages.grad_recv_buffers,
Stack.pp_recv_per_microbatch): again case 2 alone, its 53 PP rows, 10 memory arrays a instance (weights / grads /
optimizer 1 row at 2e-7, the peak rank class's), totals up to x4.6 where one schedule run holds 256-1024 micro-batches
(torchtitan's emitted launch with PP runs the replica's whole batch as one pipeline pass, emit.titan_local_batch:
that many buffers); no step-time array.
mem54b (2026-12-07) prices the forward receive buffers too (memory_stages.fwd_recv_buffers: one a micro-batch on each
stage after the first, less the micro-batches in flight, whose buffer is the first layer's saved input): case 2 alone,
5 memory arrays a instance (activations, other, other_last, total, total_last): totals x1.01-1.38 on 25 rows (median
x1.19), the last rank's x1.002-3.69 on its 53 PP rows (median x1.35), the same 256-1024 micro-batch passes; no
step-time array.
mem56 (2026-12-07): compiled torchtitan blocks keep no w2 output under per-op SAC at TP 1 or under SP
(activations.COMPILED_DEAD_SAVES): case 2 alone, 5 memory arrays a instance (activations x0.48-1.0, other x0.56-1.0,
total x0.51-1.0 -- TP 4-8 + SP selective rows, where w2's full-width partial output was the largest save --, other_last,
total_last x0.79-1.0); and a new ``pool_free_last`` memory array in every case (the loss's free block in the pool, not
in any total); no step-time array.
hf56 (2026-12-07): the HF Trainer's FSDP2 syncs gradients on a step's last micro-batch (accelerate's no_sync as
``set_requires_gradient_sync(False)``, Stack.defer_fsdp_grad_sync) and accelerate's FSDP reduces in bf16
(stacks.fsdp_reduce_bytes): only llama3-70b/hf-trainer (case 3) moved, 30 of its 64 rows (ZeRO-2/3), 16 of 784 arrays
on each instance: comm_zero3 x0.12-0.90, comm_dp / t_dp_comm / t_dp_tail from 0 on 6 rows (the last micro-batch's
reduce-scatter), step_time_s x0.51-1.00, mfu / tokens_per_s x1.00-1.96, mem grads x0.50-19.7 (the held unsharded bf16
gradient where more than one micro-batch), total x0.95-1.66.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "step_time_golden.npz"
#: (example, precision override, stack name and options)
CASES = (
    ("llama3-70b", None, None, {}),
    ("llama3-70b", "fp8", "megatron-core", {"lp_bf16_layers": 2}),
    ("llama3-70b", None, "torchtitan", {}),
    ("llama3-70b", None, "hf-trainer", {}),
    ("mixtral-8x7b", None, None, {}),
    ("deepseek-v3-pretrain", None, None, {}),
    ("nemotron-3-nano-pretrain", None, None, {}),
    # Megatron-Core's switch with 3 first layers (and its default 1 last): 16-bit layers on both end stages
    ("llama3-70b", "fp8", "megatron-core", {"first_last_layers_bf16": True, "lp_bf16_first_layers": 3}),
)
HARDWARE = ("aws:p5.48xlarge", "aws:g6.48xlarge")
ROWS = 64


def candidates(n: int, rng: np.random.Generator, moe: bool):
    """Layouts spread over every column the core groups by (ZeRO 0-3, interleaving, SP, CP, EP, expert-TP), drawn
    from ``rng`` (also tests/test_step_time_batch.py's candidate sets)."""
    from planner.layout import Candidates

    tp = rng.choice([1, 2, 4, 8], n)
    pp = rng.choice([1, 2, 4, 8], n)
    cp = rng.choice([1, 1, 2], n)
    nodes = rng.choice([1, 2, 16, 64], n)
    dp = np.maximum(nodes * 8 // (tp * pp * cp), 1)
    return Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=rng.choice([1, 2, 8], n) if moe else 1, vpp=rng.choice([1, 2], n),
                      zero=rng.integers(0, 4, n), mb=rng.choice([1, 2, 4], n), rc=rng.integers(0, 3, n),
                      sp=rng.random(n) < 0.5, schedule=rng.integers(0, 2, n), gpus_per_node=8, nodes=nodes,
                      etp=np.where(rng.random(n) < 0.5, tp, 1) if moe else None)


def evaluate_cases(catalog) -> dict:
    """``{"<case>|<hardware>|<st or mem>|<key>": float array}`` over CASES x HARDWARE."""
    from planner.hardware.options import option_from_instance
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import resolve
    from planner.model.step_time import step_time
    from planner.spec import load_job

    out = {}
    for i, (example, precision, stack, options) in enumerate(CASES):
        job = load_job(ROOT / "examples" / f"{example}.yaml")
        if precision:
            job = job.model_copy(update={"training": job.training.model_copy(update={"precision": precision})})
        fw = resolve(stack, **options) if stack else None
        c = candidates(ROWS, np.random.default_rng(100 + i), job.model.moe is not None)
        for name in HARDWARE:
            hw = option_from_instance(catalog.instance(name))
            st = step_time(job.model, job.training, c, hw, framework=fw)
            mem = memory_per_gpu(job.model, job.training, c, stack=fw, gpu=hw.gpu.name)
            for part, res in (("st", st), ("mem", mem)):
                for k, v in res.items():
                    v = np.asarray(v)
                    if v.dtype.kind in "fi" and v.ndim <= 1:
                        out[f"{i}:{example}|{name}|{part}|{k}"] = np.broadcast_to(v, (ROWS,)).astype(np.float64)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from hardware_catalog import load_catalog

    res = evaluate_cases(load_catalog())
    np.savez_compressed(OUT, **res)
    print(f"{OUT.relative_to(ROOT)}: {len(res)} arrays of {ROWS} rows")
