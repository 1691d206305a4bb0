"""Memory per rank against its published anchors and its invariants."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu, model_state_bytes_per_param, zero_bytes_per_param
from planner.spec.params import count_params
from planner.spec import TrainingSpec, load_job_dict


@pytest.mark.parametrize("n", [1, 2, 8, 64, 1024])
def test_zero_paper_bytes_per_param(n):
    """Rajbhandari et al. 2020 (arXiv 1910.02054) Fig. 1: 16, 4+12/N, 2+14/N, 16/N with K=12."""
    w, g, master, opt = model_state_bytes_per_param(TrainingSpec(weights="megatron", grad_dtype="same", optimizer="adamw"))
    assert (w, g, master + opt) == (2, 2, 12)
    got = zero_bytes_per_param(np.arange(4), n, w, g, master + opt)
    np.testing.assert_allclose(got, [16, 4 + 12 / n, 2 + 14 / n, 16 / n])


def test_megatron_default_is_18_bytes():
    """Megatron's compute_weight_and_optimizer_memory: 18 B/param with fp32 main grads."""
    w, g, master, opt = model_state_bytes_per_param(TrainingSpec(weights="megatron", grad_dtype="fp32"))
    assert w + g + master + opt == 18


def one(job, **kw):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0,
                gpus_per_node=8, nodes=1)
    base.update(kw)
    base = {k: np.atleast_1d(v) for k, v in base.items()}
    return memory_per_gpu(job.model, job.training, Candidates(**base))


def test_model_states_match_param_count():
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"weights": "megatron", "grad_dtype": "same"}})
    m = one(job)
    n = count_params(job.model).total
    assert m["weights"][0] == pytest.approx(2 * n)
    assert m["grads"][0] == pytest.approx(2 * n)
    assert m["optimizer"][0] == pytest.approx(12 * n)


@settings(max_examples=40, deadline=None)
@given(dp=st.sampled_from([1, 2, 4, 8, 16, 64]), mult=st.sampled_from([2, 4]), tp=st.sampled_from([1, 2, 8]))
def test_more_dp_never_raises_memory_under_zero3(dp, mult, tp):
    job = load_job_dict({"model": {"preset": "llama3-70b"}, "training": {"seq_len": 4096, "global_batch": 1024}})
    a = one(job, dp=dp, zero=3, tp=tp, sp=tp > 1)["total"][0]
    b = one(job, dp=dp * mult, zero=3, tp=tp, sp=tp > 1)["total"][0]
    assert b <= a


def test_recompute_and_tp_reduce_activations():
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 8192, "global_batch": 64}})
    none, sel, full = (one(job, rc=r)["activations"][0] for r in (0, 1, 2))
    assert full < sel <= none
    assert one(job, tp=4, sp=True)["activations"][0] < one(job, tp=4, sp=False)["activations"][0] < none


def test_last_stage_holds_logits_first_stage_holds_inflight():
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256}})
    m = one(job, pp=4, dp=2)
    assert m["total"][0] > 0 and m["stage"][0] in (0, 1, 2)
    # a huge vocabulary shifts the peak to the last stage
    big = load_job_dict({"model": {"layers": 8, "hidden": 1024, "heads": 8, "vocab": 1_000_000},
                         "training": {"seq_len": 4096, "global_batch": 256}})
    mb = one(big, pp=4, dp=2, rc=2)
    assert mb["stage"][0] == 1 and mb["logits"][0] > mb["activations"][0]


def test_interleaving_and_gpipe_hold_more_activations():
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256}})
    a = one(job, pp=4, dp=2)["activations"][0]
    b = one(job, pp=4, dp=2, vpp=2, schedule=1)["activations"][0]
    c = one(job, pp=4, dp=2, schedule=2)["activations"][0]
    assert a < b < c


def test_explicit_attention_past_the_fused_softmax_keeps_fp32_probabilities():
    """Megatron-Core's fused softmax takes at most 4096 keys (stack_kernels.MCORE_FUSED_SOFTMAX_KEYS, stack_kernels.softmax_fallback);
    beyond it the torch fallback keeps the softmax in fp32 (measured on Megatron-Core's local spec,
    tests/test_mcore_activations.py): a non-flash plan at 8192 tokens holds those rows, at 4096 not."""
    from planner.model.activations import layer_activation_bytes, stack_table_kw
    from planner.model.stacks import from_training

    def acts(seq):
        job = load_job_dict({"model": {"preset": "llama3-8b"},
                             "training": {"seq_len": seq, "global_batch": 64, "flash_attention": False}})
        m = job.model
        kw = stack_table_kw(from_training(job.training), job.training.precision)  # the job's stack's rows
        got = one(job, rc=0)["activations"][0]
        plain = layer_activation_bytes(m, seq, 1, flash=False, act_bytes=2, **kw) * m.layers
        fp32 = layer_activation_bytes(m, seq, 1, flash=False, act_bytes=2, fp32_softmax=True, **kw) * m.layers
        return got, plain, fp32

    got, plain, fp32 = acts(8192)
    assert fp32 > plain and got >= fp32  # the fp32 rows are held (without them got ~ plain)
    got4, plain4, fp32_4 = acts(4096)
    assert plain4 <= got4 < fp32_4  # within the kernel's range: the 16-bit rows only


def test_sequence_parallel_shards_the_head_saves():
    """Under sequence parallelism the final norm and the LM head's saved input are split over the TP
    ranks (Megatron-Core tensor_parallel/layers.py saves the input before the all-gather)."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 8192, "global_batch": 64}})
    assert one(job, tp=4, sp=True)["logits"][0] < one(job, tp=4, sp=False)["logits"][0]


def _mfsdp(preset, **kw):
    job = load_job_dict({"model": {"preset": preset}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "megatron", "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": {"name": "megatron-core", "megatron_fsdp": True}}})
    return one(job, **kw)


def llama3_layer(h, kv, ffn, heads):
    """One Llama 3 decoder layer counted from the architecture: q and o (h x h), k and v (h x kv_heads x
    head_dim), gate/up/down (3 x h x ffn), two RMSNorm weights."""
    head_dim = h // heads
    return 2 * h * h + 2 * h * kv * head_dim + 3 * h * ffn + 2 * h


def test_megatron_fsdp_memory_is_the_sharding_rule_plus_its_window():
    """Megatron-FSDP (Megatron-Core 0.16.1 megatron_fsdp/param_and_grad_buffer.py), counted by hand. Shards:
    optim_grads_params (ZeRO-3) keeps 1/dp of the bf16 weights (2 B), fp32 main grads (4 B) and fp32 main
    weights + Adam moments (12 B); optim_grads (ZeRO-2) the whole bf16 weights. Beyond them, with the
    default window of 1e9 elements: the all-gather prefetch reaches units until 5e8 elements are prefetched
    (all_gather_params), and the reduce-scatter queue frees a gradient bucket only once it holds more than
    1e9 elements (wait_for_previous_grad_reduce). Llama 3 8B (8.03e9 parameters, 32 layers of 218,112,000):
    ZeRO-3 on 8 ranks holds the layer in use + 3 prefetched (654M >= 5e8) and 5 layers of fp32 gradients
    (4 x 218M = 872M <= 1e9, so a fifth is queued); at TP2 layers are 109M: 1 + 5 and 10."""
    n = 8_030_261_248
    layer = llama3_layer(4096, 8, 14336, 32)
    assert layer == 218_112_000
    m = _mfsdp("llama3-8b", dp=8, zero=3)
    assert m["weights"][0] == pytest.approx(2 * n / 8 + 4 * layer * 2)
    assert m["grads"][0] == pytest.approx(4 * n / 8 + 5 * layer * 4)
    assert m["optimizer"][0] == pytest.approx(12 * n / 8)
    m = _mfsdp("llama3-8b", dp=4, tp=2, zero=3, sp=True)
    # TP2: embedding and head split over TP too (vocab-parallel), every layer halved
    assert m["weights"][0] == pytest.approx(2 * n / 2 / 4 + 6 * layer / 2 * 2)
    assert m["grads"][0] == pytest.approx(4 * n / 2 / 4 + 10 * layer / 2 * 4)
    # ZeRO-2 (optim_grads): whole weights; gradient buckets of Megatron-LM's default max(4e7, 1e6 x dp) =
    # 4e7 parameters, 26 of them queued (25 x 4e7 = 1e9 is not more than the window)
    m = _mfsdp("llama3-8b", dp=8, zero=2)
    assert m["weights"][0] == pytest.approx(2 * n)
    assert m["grads"][0] == pytest.approx(4 * n / 8 + 26 * 4e7 * 4)
    assert m["optimizer"][0] == pytest.approx(12 * n / 8)
    # Llama 3 70B layers (855,654,400) exceed half the window: the window is two layers, one prefetched and
    # three gradient buckets (floor(2) + 1)
    big = llama3_layer(8192, 8, 28672, 64)
    assert big == 855_654_400
    n70 = count_params(load_job_dict({"model": {"preset": "llama3-70b"}}).model).total
    m = _mfsdp("llama3-70b", dp=64, zero=3)
    assert m["weights"][0] == pytest.approx(2 * n70 / 64 + 2 * big * 2)
    assert m["grads"][0] == pytest.approx(4 * n70 / 64 + 3 * big * 4)


def test_megatron_fsdp_off_keeps_the_fsdp2_zero3_memory():
    """The option defaults off: the Megatron stacks' ZeRO-3 stays FSDP2's (current and one prefetched layer)."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "megatron", "grad_dtype": "fp32"}})
    m = one(job, dp=8, zero=3)
    n, layer = 8_030_261_248, 218_112_000
    assert m["weights"][0] == pytest.approx(2 * n / 8 + 2 * layer * 2)
    assert m["grads"][0] == pytest.approx(4 * n / 8)


# ------------------------------------------------------------------------------------------ DeepSpeed model states
#: bytes per parameter of 16-bit weights + gradients + master/moments (Adam, K = 12) on N ranks, read from
#: DeepSpeed's source (planner.model.stacks ``ZERO_STATES``), without the reduce buckets (per rank, not per
#: parameter) and ZeRO-3's gathered layers: (stack table, precision, zero) -> f(N)
DEEPSPEED_BYTES = {
    # BF16_Optimizer: bf16 params whole (2), bf16 .grad whole (2), fp32 gradient accumulation buffer the size of
    # the whole flat group (fp32_groups_gradients_flat, 4), fp32 master + moments of its partition only (12/N)
    ("megatron-deepspeed", "bf16", 0): lambda n: 2 + 2 + 4 + 12 / n,
    ("megatron-deepspeed", "bf16", 1): lambda n: 2 + 2 + 4 + 12 / n,  # the pipeline engine's bf16 ZeRO-1: the same
    # FP16_Optimizer: fp16 params and .grad whole, fp32 master (fp32_groups_flat) and moments whole
    ("megatron-deepspeed", "fp16", 0): lambda n: 2 + 2 + 12,
    # DeepSpeedZeroOptimizer stage 1: no hooks at stage 1 (overlap_comm forced off), .grad whole until the boundary
    ("megatron-deepspeed", "fp16", 1): lambda n: 2 + 2 + 12 / n,
    # stage 2: the contiguous 16-bit partition (grads_in_partition); stage 3: everything partitioned
    ("megatron-deepspeed", "bf16", 2): lambda n: 2 + 2 / n + 12 / n,
    ("megatron-deepspeed", "fp16", 2): lambda n: 2 + 2 / n + 12 / n,
}


def _ds_one(framework, precision, zero, dp=8, **kw):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 2048, "global_batch": 64, "precision": precision, "weights": "megatron", "grad_dtype": "fp32",
        "framework": {"name": framework, **kw}}})
    return job, one(job, dp=dp, zero=zero, rc=2)


@pytest.mark.parametrize("key", sorted(DEEPSPEED_BYTES))
@pytest.mark.parametrize("dp", [2, 8, 64])
def test_deepspeed_model_states_per_stage_follow_its_optimizer_wrappers(key, dp):
    """Megatron-DeepSpeed (DeepSpeed's engine, never the HF walk): weights + gradients + optimizer state per
    parameter are the bytes DeepSpeed's wrapper allocates at each ZeRO stage (``DEEPSPEED_BYTES``), not the ZeRO
    paper's convention the other stacks keep (18 B at ZeRO-0 with fp32 gradients, 6 + 12/N at ZeRO-1)."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    fw, precision, zero = key
    job, m = _ds_one(fw, precision, zero, dp=dp)
    n = count_params(job.model).total
    bucket = ZERO_REDUCE_BUCKET_ELEMS * 2 if zero >= 2 else 0.0  # one bucket: the pipeline engine has no overlap
    got = (m["weights"][0] + m["grads"][0] - bucket + m["optimizer"][0]) / n
    assert got == pytest.approx(DEEPSPEED_BYTES[key](dp))


def test_deepspeed_zero3_keeps_a_16bit_gradient_partition_and_one_reduce_bucket():
    """stage3.py ``_setup_for_real_optimizer``: the gradient partition buffer is 16-bit (2/N, not the fp32
    convention's 4/N) and one contiguous reduce bucket of ``reduce_bucket_size`` (5e8) elements is held all run;
    master + moments 12/N."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    for fw in ("deepspeed", "megatron-deepspeed"):
        job, m = _ds_one(fw, "bf16", 3)
        n = count_params(job.model).total
        assert m["grads"][0] == pytest.approx(2 * n / 8 + ZERO_REDUCE_BUCKET_ELEMS * 2)
        assert m["optimizer"][0] == pytest.approx(12 * n / 8)


def test_deepspeed_zero2_reduce_buckets_double_with_overlap_comm():
    """stage_1_and_2.py ``backward``: ``ipg_buffer`` of ``reduce_bucket_size`` 16-bit elements, a second one ``if
    self.overlap_comm`` (the stack's overlapped gradient reduce)."""
    from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

    job, on = _ds_one("deepspeed", "bf16", 2)
    _, off = _ds_one("deepspeed", "bf16", 2, overlap_grad_reduce=False)
    n = count_params(job.model).total
    assert on["grads"][0] == pytest.approx(2 * n / 8 + 2 * ZERO_REDUCE_BUCKET_ELEMS * 2)
    assert off["grads"][0] == pytest.approx(2 * n / 8 + ZERO_REDUCE_BUCKET_ELEMS * 2)


def test_deepspeed_bf16_zero0_partitions_the_optimizer_and_holds_an_fp32_gradient_buffer():
    """The HF-code deepspeed stack at bf16 ZeRO-0 runs BF16_Optimizer (engine.py: bf16 without ZeRO accumulates in
    fp32): the fp32 buffer of the whole model (4 B) is the gradient term, master + moments are the rank's 12/N,
    and the bf16 ``.grad`` (2 B, never freed at the step) are in the walked activations even without gradient
    accumulation. bf16 ZeRO-1 is DeepSpeedZeroOptimizer (bf16 accumulation by default): no fp32 buffer, and its
    ``.grad`` are kept until the boundary (stage 1 registers no reduce-and-remove hooks)."""
    for gb in (8, 64):  # one micro-batch per step (8 / dp 8), and eight
        job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
            "seq_len": 2048, "global_batch": gb, "precision": "bf16", "framework": {"name": "deepspeed"}}})
        n = count_params(job.model).total
        z0, z1, z2 = (one(job, dp=8, zero=z, rc=2) for z in (0, 1, 2))
        assert z0["grads"][0] == pytest.approx(4 * n)
        assert z0["optimizer"][0] == pytest.approx(12 * n / 8)
        assert z1["grads"][0] == 0.0 and z1["optimizer"][0] == pytest.approx(12 * n / 8)
        # the bf16 .grad of the whole model (2 B/param) in the walk: BF16_Optimizer's at any accumulation
        assert z0["activations"][0] - z2["activations"][0] == pytest.approx(2 * n, rel=0.02)
        if gb > 8:  # ZeRO-1's from the second micro-batch on
            assert z1["activations"][0] - z2["activations"][0] == pytest.approx(2 * n, rel=0.02)


def test_stacks_without_a_zero_table_keep_the_paper_convention():
    """megatron-core (no ``Stack.zero_states``): 2 + 4 + 12 at ZeRO-0 with fp32 gradients, unchanged; a DeepSpeed
    stack off the 16-bit + fp32-master convention (fp8, or ``weights: pure``) keeps it too."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 2048, "global_batch": 64}})
    n = count_params(job.model).total
    m = one(job, dp=8, zero=0, rc=2)
    assert (m["weights"][0], m["grads"][0], m["optimizer"][0]) == pytest.approx((2 * n, 4 * n, 12 * n))
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 2048, "global_batch": 64, "weights": "pure", "framework": {"name": "megatron-deepspeed"}}})
    m = one(job, dp=8, zero=0, rc=2)
    assert (m["weights"][0], m["grads"][0], m["optimizer"][0]) == pytest.approx((2 * n, 2 * n, 8 * n))
