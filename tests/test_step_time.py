"""Step-time model: hand-computed cases from its sources, and properties."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from planner.layout import Candidates
from planner.vocab import SCHEDULE
from planner.model.cost import rent_cost
from planner.model.flops import narayanan_eq3
from planner.hardware.options import HardwareOption, efficiency_for
from planner.model.memory import memory_per_gpu
from planner.spec import ModelSpec, TrainingSpec
from planner.layout import distinct_rows as _distinct
from planner.model.step_time import step_time

LLAMA = ModelSpec(name="t", layers=32, hidden=4096, heads=32, kv_heads=8, ffn_hidden=14336, vocab=128256)


def hw_for(catalog, gpu="H100-SXM-80GB", inter_gbps=3200.0, **eff):
    g = catalog.gpu(gpu)
    e = efficiency_for(g)
    if eff:
        e = e.with_(**eff)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=inter_gbps * 1e9 / 8,
                          intra_bw=g.intra_node_bw, eff=e)


def cands(**kw):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, zero=1, mb=1, rc=0, sp=False, schedule=0,
                gpus_per_node=8, nodes=1)
    base.update(kw)
    n = max(len(np.atleast_1d(v)) for v in base.values())
    return Candidates(**{k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in base.items()})


@pytest.mark.parametrize("pp,v,m", [(4, 1, 8), (8, 1, 32), (4, 2, 8), (8, 4, 16)])
def test_bubble_fraction_is_p_minus_1_over_v_m(catalog, pp, v, m):
    """Narayanan et al. 2021 §2.2: bubble / ideal time = (p - 1) / (v m) for 1F1B (v = 1) and the
    interleaved schedule (v chunks per device, m a multiple of p), at the pacing stage's time; on 1F1B the stages
    lighter than it (all but the LM head's) fill and drain at their own pace, ``t_pp_fill_excess`` less
    (tests/test_fill_excess45.py)."""
    t = TrainingSpec(seq_len=4096, global_batch=m, micro_batch=1, precision="bf16")
    c = cands(tp=8, pp=pp, dp=1, vpp=v, schedule=SCHEDULE.code["interleaved" if v > 1 else "1f1b"],
              nodes=pp)
    out = step_time(LLAMA, t, c, hw_for(catalog))
    ideal = out["num_microbatches"][0] * (out["t_fwd_mb"][0] + out["t_bwd_mb"][0])
    assert out["num_microbatches"][0] == m
    assert (out["bubble"][0] + out["t_pp_fill_excess"][0]) / ideal == pytest.approx((pp - 1) / (v * m))
    assert (out["t_pp_fill_excess"][0] > 0) == (v == 1)


def test_narayanan_table1_row_by_eq3(catalog):
    """Narayanan 2021 Table 1, GPT 529.6B on 2520 A100s (TP 8, PP 35, DP 9, batch 2520, seq 2048,
    163 TFLOP/s/GPU by eq. 3): the step eq. 3 implies, 96Bslh^2(1+s/6h+V/16lh)/(163e12*2520),
    is predicted within 10% (validate.py's assumptions: micro-batch 1, full recompute, fp16)."""
    B, s, l, h, V = 2520, 2048, 105, 20480, 51200
    measured = narayanan_eq3(B, s, l, h, V) / (163e12 * 2520)
    assert measured == pytest.approx(54.08, rel=0.01)
    m = ModelSpec(name="gpt-530b", layers=l, hidden=h, heads=128, ffn_hidden=4 * h, vocab=V, mlp="gelu",
                  norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                  position="learned", max_positions=s)
    t = TrainingSpec(seq_len=s, global_batch=B, precision="fp16", weights="megatron", grad_dtype="fp32",
                     flash_attention=False, dropout=True, recompute="full")
    c = cands(tp=8, pp=35, dp=9, zero=0, rc=2, nodes=315)
    pred = step_time(m, t, c, hw_for(catalog, "A100-SXM-80GB", 1600.0))["step_time_s"][0]
    assert abs(pred / measured - 1) < 0.10


@settings(max_examples=40, deadline=None)
@given(dp=st.sampled_from([1, 2, 4, 8, 16, 32]), k=st.sampled_from([2, 4, 8]),
       tp=st.sampled_from([1, 2, 8]), mb=st.sampled_from([1, 2, 4]))
def test_more_dp_never_raises_memory_under_zero3(dp, k, tp, mb):
    t = TrainingSpec(seq_len=2048, global_batch=512, micro_batch=mb, precision="bf16")
    c = cands(tp=tp, dp=np.array([dp, dp * k]), zero=3, mb=mb)
    total = memory_per_gpu(LLAMA, t, c)["total"]
    assert total[1] <= total[0]


def test_cost_is_time_price_nodes():
    assert rent_cost(10.0, 4, 98.32) == pytest.approx(10.0 * 4 * 98.32)
    assert np.allclose(rent_cost(np.array([1.0, 2.0]), np.array([3, 5]), 2.0), [6.0, 20.0])


def test_cost_in_recommend_is_time_price_nodes(catalog):
    from planner.workloads.training import recommend
    from planner.spec import load_job
    from conftest import EXAMPLES

    # the example's search on one cloud: the same rule for every row at a third of the search's CPU
    job = load_job(EXAMPLES / "llama3-70b.yaml")
    job = job.model_copy(update={"constraints": job.constraints.model_copy(update={"clouds": ["aws"]})})
    res = recommend(job, catalog, simulate=False, top=3)
    df = res["table"].head(20)
    assert set(df["cloud"]) == {"aws"} and df["nodes"].nunique() > 1
    price = {h: catalog.instance(h).price_ondemand for h in set(df["hardware"])}
    expect = df["train_hours"] * df["nodes"] * df["hardware"].map(price)
    assert np.allclose(df["cost"], expect, rtol=1e-9)


@pytest.mark.parametrize("field,lower", [("gemm_max", 0.4), ("hbm", 0.3)])
def test_lower_efficiency_means_longer_step(catalog, field, lower):
    t = TrainingSpec(seq_len=4096, global_batch=256, micro_batch=2, precision="bf16", recompute="selective")
    c = cands(tp=np.array([1, 8]), dp=np.array([8, 1]), mb=2)
    fast = step_time(LLAMA, t, c, hw_for(catalog))["step_time_s"]
    slow = step_time(LLAMA, t, c, hw_for(catalog, **{field: lower}))["step_time_s"]
    assert np.all(slow > fast)


def test_host_floor_grows_with_layers_and_microbatches(catalog):
    """A tiny model at micro-batch 1 is host-bound: the step scales with layers x micro-batches
    at launch_s per op, and a slower host (larger launch_s) lengthens it."""
    tiny = ModelSpec(name="tiny", layers=12, hidden=256, heads=4, ffn_hidden=1024, vocab=1000)
    t = TrainingSpec(seq_len=128, global_batch=16, micro_batch=1, precision="bf16")
    hw = hw_for(catalog)
    a = step_time(tiny, t, cands(), hw)["step_time_s"][0]
    b = step_time(tiny.model_copy(update=dict(layers=24)), t, cands(), hw)["step_time_s"][0]
    assert 1.6 < b / a < 2.1
    slow = step_time(tiny, t, cands(), hw_for(catalog, launch_s=2 * hw.eff.launch_s))["step_time_s"][0]
    assert slow == pytest.approx(2 * a, rel=0.1)


def test_breakdown_sums_to_step(catalog):
    t = TrainingSpec(seq_len=4096, global_batch=512, micro_batch=1, precision="bf16")
    c = cands(tp=np.array([1, 4, 8]), pp=np.array([1, 2, 4]), dp=np.array([8, 4, 2]), zero=np.array([3, 1, 0]),
              rc=np.array([2, 1, 0]), sp=np.array([False, True, True]), nodes=np.array([1, 4, 8]))
    out = step_time(LLAMA, t, c, hw_for(catalog))
    keys = ("compute_gemm", "compute_attention", "compute_memory_bound", "comm_tp", "comm_cp", "comm_ep",
            "comm_pp", "comm_zero3", "comm_dp", "bubble", "optimizer", "data_stall")
    assert np.allclose(sum(out[k] for k in keys), out["step_time_s"], rtol=1e-9)


def test_distinct_keys_round_trip():
    rng = np.random.default_rng(1)
    a, b, c = rng.integers(0, 5, 1000), rng.integers(0, 3000, 1000), rng.integers(0, 2, 1000).astype(bool)
    (ua, ub, uc), inv = _distinct(a, b, c)
    assert np.array_equal(ua[inv], a) and np.array_equal(ub[inv], b) and np.array_equal(uc[inv].astype(bool), c)
    assert len(ua) == len({(x, y, z) for x, y, z in zip(a, b, c)})


def _autocast_casts(spec, recompute="none", dtype="float32", seq=48):
    """Elements ``torch.autocast(cpu, bf16)`` casts in one micro-batch of a real model
    (calibration/reference_models.py, weights in ``dtype``), counted as aten ``_to_copy`` calls by a
    TorchDispatchMode: (16-bit casts of parameters in the forward, the same in the backward, i.e.
    the recomputed blocks, fp32 casts of parameter-shaped 16-bit tensors: the weight gradients).
    The backward runs outside the autocast region, as training loops do."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from calibration.reference_models import build_model

    model = build_model(spec, recompute=recompute, dtype=getattr(torch, dtype)).train()
    ptrs = {p.data_ptr() for p in model.parameters()}
    shapes = {tuple(p.shape) for p in model.parameters()}
    n = {"w16": 0, "g32": 0}

    class Casts(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is torch.ops.aten._to_copy.default:
                x = args[0]
                if out.dtype == torch.bfloat16 and x.dtype != torch.bfloat16 and x.data_ptr() in ptrs:
                    n["w16"] += x.numel()
                elif x.dtype == torch.bfloat16 and out.dtype == torch.float32 and tuple(x.shape) in shapes:
                    n["g32"] += x.numel()
            return out

    idx = torch.randint(0, spec.vocab, (2, seq))
    tgt = torch.randint(0, spec.vocab, (2, seq))
    with Casts():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(idx, tgt)
        fwd = n["w16"]
        loss.backward()
    return fwd, n["w16"] - fwd, n["g32"]


@pytest.mark.parametrize("name", ["gpt", "llama", "moe", "bert"])
@pytest.mark.parametrize("recompute", ["none", "full"])
def test_autocast_cast_bytes_match_a_real_model(name, recompute):
    """AMP's weight casts per micro-batch (step_time.autocast_cast_bytes) are 6 B per element cast:
    the forward's 16-bit copies, the backward's fp32 gradient casts and, under full recompute,
    the recomputed blocks' copies, each counted on a real model under torch.autocast."""
    from planner.model.step_time import autocast_cast_bytes
    from tiny_models import MODELS

    spec = MODELS[name]
    fwd, recomputed, grads = _autocast_casts(spec, recompute)
    assert (recomputed > 0) == (recompute == "full")
    got_f, got_b = autocast_cast_bytes(spec, 2 if recompute == "full" else 0)
    assert float(got_f) == 6.0 * fwd
    assert float(got_b) == 6.0 * (grads + recomputed)


@pytest.mark.parametrize("rc", [0, 2])
def test_step_time_prices_autocast_casts_only_over_fp32_weights(catalog, rc):
    """weights='amp' adds the casts counted on a real model to each micro-batch (at the HBM rate
    reached); under ZeRO-3/FSDP the forward gets bf16 parameters (MixedPrecision param_dtype),
    where a real model under autocast casts no weight at all, and nothing is added."""
    from tiny_models import LLAMA as TINY

    fwd, recomputed, grads = _autocast_casts(TINY, "full" if rc == 2 else "none")
    # bf16 parameters: no weight cast in the forward or the recompute
    assert _autocast_casts(TINY, "full" if rc == 2 else "none", dtype="bfloat16")[:2] == (0, 0)
    hw = hw_for(catalog)
    out = {}
    for weights in ("amp", "pure"):
        t = TrainingSpec(seq_len=48, global_batch=4, precision="bf16", weights=weights, recompute="none")
        out[weights] = step_time(TINY, t, cands(dp=2, zero=[0, 3], mb=1, rc=rc), hw, framework="fsdp")
    d_f = out["amp"]["t_fwd_mb"] - out["pure"]["t_fwd_mb"]
    d_b = out["amp"]["t_bwd_mb"] - out["pure"]["t_bwd_mb"]
    want_f = hw.eff.memory_time(6.0 * fwd, hw.gpu.hbm_bw)
    want_b = hw.eff.memory_time(6.0 * (grads + recomputed), hw.gpu.hbm_bw)
    assert d_f == pytest.approx([want_f, 0.0], rel=1e-9, abs=1e-15)
    assert d_b == pytest.approx([want_b, 0.0], rel=1e-9, abs=1e-15)


def test_recompute_early_stop_skips_the_down_projection(catalog):
    """llm-foundry's full recompute (Composer ``checkpoint_wrapper``, non-reentrant; torch >= 2.1
    early stop) re-runs an MPT block only up to the down projection's saved input: of the block's
    forward GEMM FLOPs, QKV 3h^2 + out h^2 + up 4h^2 + down 4h^2 per token, the recompute runs
    8/12 = 2/3. Checked against that FLOP count on large shapes (equal GEMM efficiency), and against
    a full re-run where the checkpoint cannot stop early (torch 1.13, or an eager FP8 linear that
    saves its inputs after its GEMM)."""
    from dataclasses import replace

    from planner.model import stacks

    h = 8192
    m = ModelSpec(name="mpt", family="decoder", layers=8, hidden=h, heads=64, ffn_hidden=4 * h, vocab=50368,
                  mlp="gelu", norm="layernorm", position="learned", max_positions=2048)
    hw = hw_for(catalog)
    lf = stacks.resolve("llm-foundry")
    full = replace(lf, recompute_early_stop=False)

    def extra(stack, precision="bf16"):
        t = TrainingSpec(seq_len=2048, global_batch=64, precision=precision, weights="amp",
                         flash_attention=True, recompute="full")
        g = step_time(m, t, cands(dp=8, zero=3, mb=8, rc=[0, 2]), hw, framework=stack)["compute_gemm"]
        return g[1] - g[0]  # the recompute's GEMM time

    assert lf.recompute_early_stop and not stacks.resolve("megatron-lm").recompute_early_stop
    assert extra(lf) / extra(full) == pytest.approx(2 / 3, abs=0.03)
    assert extra(lf, "fp8") == pytest.approx(extra(full, "fp8"), rel=1e-12)


def test_recompute_early_stop_is_an_option_of_torch_checkpoint_stacks_only():
    """Early stop exists only in PyTorch's non-reentrant checkpoint: a job may set it on torchtitan
    (its activation_checkpoint.early_stop), and it changes a full-recompute step; Megatron's
    reentrant CheckpointFunction has none, so the option is refused there, one line."""
    from planner.errors import InputError
    from planner.model import stacks

    with pytest.raises(InputError) as e:
        stacks.resolve("megatron-core", recompute_early_stop=True)
    assert e.value.field == "training.framework.recompute_early_stop"
    assert stacks.resolve("torchtitan", recompute_early_stop=True).recompute_early_stop
    assert not stacks.resolve("torchtitan").recompute_early_stop  # today's torchtitan default


def _eager_layer_extra_elements(spec, seq=48, batch=2, frozen=False):
    """Elements per token of one layer that eager torch moves in the HF code's own dropout kernels and
    bias-gradient reductions, counted op by op with a TorchDispatchMode on a real model
    (calibration/reference_models.py: GPT-2 / BERT layout, residual-branch dropout as nn.Dropout after the
    output projection and the MLP, nn.Linear biases): (forward: ``native_dropout`` on the hidden, read +
    written; backward: ``native_dropout_backward`` on the hidden, read + written, plus every ``sum`` whose
    result has a bias's size (kept dims of 1), i.e. autograd reducing a bias gradient over the tokens, read). One layer is
    the difference between a 2-layer and a 1-layer model (the embedding's dropout and the MLM head's bias
    reduction are paid once, not per layer). ``frozen``: every parameter but the token embedding left without
    gradients, as a LoRA base (the backward still runs through the layers)."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from calibration.reference_models import build_model

    def count(layers):
        model = build_model(spec.model_copy(update={"layers": layers}), attn_impl="math", dropout=0.1).train()
        if frozen:
            for name, p in model.named_parameters():
                p.requires_grad_(name == "wte.weight")
        biases = {tuple(p.shape) for n, p in model.named_parameters() if p.dim() == 1 and "norm" not in n}
        n = {"fwd": 0, "bwd": 0}
        phase = ["fwd"]

        class Ops(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                x = args[0]
                hidden = isinstance(x, torch.Tensor) and x.dim() == 3 and x.shape[-1] == spec.hidden
                if func is torch.ops.aten.native_dropout.default and hidden:
                    n["fwd"] += 2 * x.numel()
                elif func is torch.ops.aten.native_dropout_backward.default and hidden:
                    n["bwd"] += 2 * x.numel()
                elif (func is torch.ops.aten.sum.dim_IntList and phase[0] == "bwd" and x.dim() >= 2
                      and out.numel() == out.shape[-1] and (out.shape[-1],) in biases):
                    n["bwd"] += x.numel()
                return out

        idx = torch.randint(0, spec.vocab, (batch, seq))
        with Ops():
            loss = model(idx, idx)
            phase[0] = "bwd"
            loss.backward()
        return n

    one, two = count(1), count(2)
    return {k: (two[k] - one[k]) / (batch * seq) for k in ("fwd", "bwd")}


@pytest.mark.parametrize("name", ["gpt", "bert"])
def test_eager_hf_layer_bytes_match_real_ops(name):
    """The eager HF code's per-layer dropout passes and bias-gradient reductions (layer_ops.eager_hf_layer_bytes)
    are what a real torch model runs: 2-byte activations times the elements its ``native_dropout`` (forward),
    ``native_dropout_backward`` and bias ``sum`` (backward) kernels read and write per token, with dropout on;
    without dropout only the bias reductions remain, and a model without biases pays the dropout alone."""
    from planner.model.layer_ops import eager_hf_layer_bytes
    from tiny_models import MODELS

    spec = MODELS[name]
    real = _eager_layer_extra_elements(spec)
    fwd, bwd = eager_hf_layer_bytes(spec, 2.0, True)
    assert (fwd, bwd) == (2.0 * real["fwd"], 2.0 * real["bwd"])
    assert real["fwd"] > 0 and real["bwd"] > real["fwd"]  # the count saw both kinds of kernel
    no_drop = eager_hf_layer_bytes(spec, 2.0, False)
    assert no_drop == (0.0, bwd - fwd)
    assert eager_hf_layer_bytes(spec.model_copy(update={"qkv_bias": False, "linear_bias": False}), 2.0, True) == (fwd, fwd)
    frozen = _eager_layer_extra_elements(spec, frozen=True)  # a frozen base: no bias gradients
    assert eager_hf_layer_bytes(spec, 2.0, True, bias_grads=False) == (2.0 * frozen["fwd"], 2.0 * frozen["bwd"]) == (fwd, fwd)


def test_eager_hf_layer_bytes_priced_only_on_the_eager_hf_stacks(catalog):
    """hf-trainer (eager HF code) pays the extra bytes at the HBM rate, per micro-batch: each pass grows by
    exactly memory_time(tokens x layers x bytes) over the same stack off the eager HF path (for a LayerNorm /
    GELU / learned-position model such as BERT-large nothing else depends on that path)."""
    from dataclasses import replace

    from planner.model import stacks
    from planner.model.layer_ops import eager_hf_layer_bytes
    from planner.spec.presets import PRESETS

    bert = ModelSpec(**PRESETS["bert-large"])
    hw = hw_for(catalog, "A100-SXM-80GB")
    mb = 256  # GPU-bound passes (a host-bound pass hides memory traffic under its dispatch)
    t = TrainingSpec(seq_len=128, global_batch=mb, micro_batch=mb, precision="fp16", weights="megatron",
                     grad_dtype="same", flash_attention=False, dropout=True)
    hf = stacks.resolve("hf-trainer", overlap_grad_reduce=False)
    plain = replace(hf, eager_fp32_ops=False)  # the same stack without the eager HF code path
    a, b = (step_time(bert, t, cands(mb=mb, zero=0), hw, framework=s) for s in (hf, plain))
    f, bw = eager_hf_layer_bytes(bert, 2.0, True)
    tokens = mb * 128 * bert.layers
    assert a["t_fwd_mb"] - b["t_fwd_mb"] == pytest.approx(hw.eff.memory_time(tokens * f, hw.gpu.hbm_bw), rel=1e-9)
    assert a["t_bwd_mb"] - b["t_bwd_mb"] == pytest.approx(hw.eff.memory_time(tokens * bw, hw.gpu.hbm_bw), rel=1e-9)


def test_layer_boundary_syncs_cost_one_gap_per_checkpoint_call(catalog):
    """``Stack.sync_each_layer`` (DeepSpeed's activation checkpoint with ``synchronize_checkpoint_boundary``, which
    GPT-NeoX's ``synchronize-each-layer`` sets): ``torch.cuda.synchronize()`` at both ends of each checkpointed
    layer's forward call and of its backward call (which re-runs the forward). Counted from that code, not from the
    planner: per micro-batch two calls per layer, each starting on a drained queue, the GPU idle for the wake and the
    next launch (``moe.MOE_SYNC_OPS`` launches). On a GPU-bound layer the step grows by exactly
    layers x micro-batches x 2 calls x that gap -- far less than host + GPU (the host still runs ahead inside a
    call: launches stay asynchronous) -- and not at all without full recompute (no DeepSpeed checkpoint call)."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.moe import MOE_SYNC_OPS

    neox = ModelSpec(name="neox-160m", layers=12, hidden=768, heads=12, ffn_hidden=3072, vocab=50304, mlp="gelu",
                     norm="layernorm")
    t = TrainingSpec(seq_len=2048, global_batch=8, micro_batch=4, precision="fp16", recompute="full")
    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    off = stacks.resolve("megatron-deepspeed")
    on = replace(off, sync_each_layer=True)
    c = cands(rc=np.array([2, 1, 0]), mb=4)
    a, b = (step_time(neox, t, c, hw, framework=s)["step_time_s"] for s in (off, on))
    m, gap = 2, MOE_SYNC_OPS * hw.eff.launch_s
    assert b[0] - a[0] == pytest.approx(neox.layers * m * 2 * gap, rel=1e-9)
    # host + GPU would add at least every layer op's launch of the forward and the re-run forward
    assert b[0] - a[0] < 0.2 * neox.layers * m * 2 * off.layer_host_ops * hw.eff.launch_s
    assert np.array_equal(a[1:], b[1:])


def test_serial_grad_checks_walk_every_tensor_of_the_stage_twice(catalog):
    """``Stack.serial_grad_checks`` (DeepSpeed 0.3-era fp16 ZeRO-1, GPT-NeoX's DeeperSpeed v1.0: stage1.py ``step``
    runs ``CheckOverflow.has_overflow_serial`` -- ``float(x.float().sum())`` per tensor -- then ``get_grad_norm`` --
    ``p.grad.data.float().norm(2).item()`` per tensor -- over every parameter the rank holds). Counted here from
    GPT-NeoX's module names, not from the planner: a layer holds input_layernorm.{weight,bias},
    attention.query_key_value.{weight,bias}, attention.dense.{weight,bias}, post_attention_layernorm.{weight,bias},
    mlp.dense_h_to_4h.{weight,bias}, mlp.dense_4h_to_h.{weight,bias}; the model adds word_embeddings.weight,
    final_layer_norm.{weight,bias} and the untied embed_out.weight. Each pass reads the fp16 gradient (2 B) and writes
    and reads its fp32 copy (8 B); each tensor ends in a host read (``moe.MOE_SYNC_OPS`` launches). The optimizer step
    grows by exactly that, the same at DP 8 and DP 64 (the walk is over the whole stage, not the ZeRO-1 partition),
    and not at all with the field off."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.moe import MOE_SYNC_OPS
    from planner.spec.params import count_params

    neox = ModelSpec(name="neox-410m", layers=24, hidden=1024, heads=16, ffn_hidden=4096, vocab=50304, mlp="gelu",
                     norm="layernorm", qkv_bias=True, linear_bias=True, tied_embeddings=False)
    layer_names = [f"{mod}.{p}" for mod in ("input_layernorm", "attention.query_key_value", "attention.dense",
                                             "post_attention_layernorm", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")
                   for p in ("weight", "bias")]
    tensors = neox.layers * len(layer_names) + len(["word_embeddings.weight", "final_layer_norm.weight",
                                                     "final_layer_norm.bias", "embed_out.weight"])
    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    off = replace(stacks.resolve("megatron-deepspeed"), grad_all_reduce="always")
    on = replace(off, serial_grad_checks=True)
    expect = (hw.eff.memory_time(2 * count_params(neox).total * (2.0 + 8.0), hw.gpu.hbm_bw)
              + 2 * tensors * MOE_SYNC_OPS * hw.eff.launch_s)
    for dp in (8, 64):
        t = TrainingSpec(seq_len=2048, global_batch=dp * 4, micro_batch=4, precision="fp16", recompute="full")
        a, b = (step_time(neox, t, cands(dp=dp, zero=1, mb=4), hw, framework=s) for s in (off, on))
        assert b["t_optimizer"][0] - a["t_optimizer"][0] == pytest.approx(expect, rel=1e-9)
        assert b["step_time_s"][0] - a["step_time_s"][0] == pytest.approx(expect, rel=1e-9)
    assert stacks.resolve("megatron-deepspeed").serial_grad_checks is False


def test_partitioned_checkpoint_costs_its_copies_once_per_layer_call(catalog):
    """``Stack.partition_activations`` (DeepSpeed's activation checkpoint with ``PARTITION_ACTIVATIONS``, GPT-NeoX's
    ``partition-activations``). Counted from checkpointing.py, not from the planner, at TP 1 (the slice is the whole
    input, T x h elements a layer call): forward ``item...narrow(...).clone()`` reads and writes it (2 x 2 B fp16);
    backward ``get_full_inputs`` writes a ``torch.zeros`` buffer (2 B) and ``copy_``s the saved input in (2 x 2 B):
    10 B per element in fp16; in bf16 ``fp32_comm`` adds ``part_i.float()`` (2 B read, 4 B written) and
    ``.to(item.dtype)`` (4 B read, 2 B written): 22 B. The checkpoint call's clone is not repeated by the re-run
    forward. On a GPU-bound layer the step grows by exactly layers x micro-batches x those bytes at the HBM rate, and
    not at all without full recompute (no DeepSpeed checkpoint call)."""
    from dataclasses import replace
    from planner.model import stacks

    neox = ModelSpec(name="neox-1b", layers=16, hidden=2048, heads=16, ffn_hidden=8192, vocab=50304, mlp="gelu",
                     norm="layernorm")
    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    off = replace(stacks.resolve("megatron-deepspeed"), grad_all_reduce="always")
    on = replace(off, partition_activations=True)
    c = cands(rc=np.array([2, 1, 0]), mb=8, dp=8)
    for prec, per_elem in (("fp16", 2 * 2 + 2 + 2 * 2), ("bf16", 2 * 2 + 2 + 2 * 2 + (2 + 4) + (4 + 2))):
        t = TrainingSpec(seq_len=2048, global_batch=64, micro_batch=8, precision=prec, recompute="full")
        a, b = (step_time(neox, t, c, hw, framework=s)["step_time_s"] for s in (off, on))
        T, m = 8 * 2048, 1
        expect = neox.layers * m * hw.eff.memory_time(T * neox.hidden * per_elem, hw.gpu.hbm_bw)
        assert b[0] - a[0] == pytest.approx(expect, rel=1e-9), prec
        assert np.array_equal(a[1:], b[1:])


def test_pipeline_engine_all_reduces_bf16_gradients_at_zero1(catalog):
    """``Stack.grad_all_reduce``: DeepSpeed's pipeline engine (megatron-deepspeed) reduces a bf16 job's gradients in
    ``_exec_reduce_grads`` -> ``_bf16_reduce_grads`` -> ``buffered_allreduce_fallback``, an all-reduce of every fp32
    gradient, although its bf16 optimizer shards the states (ZeRO <= 1); fp16 ZeRO-1 goes to the ZeRO-1 optimizer's
    own reduce. GPT-NeoX's pinned DeeperSpeed all-reduces at any precision ("always"). So at ZeRO-1 the DP reduce
    is ZeRO-0's all-reduce for bf16 on megatron-deepspeed, the reduce-scatter for fp16, and, exposed (the stack
    does not overlap it), the step grows by exactly the difference."""
    from dataclasses import replace
    from planner.model import stacks

    neox = ModelSpec(name="neox-1b", layers=16, hidden=2048, heads=16, ffn_hidden=8192, vocab=50304, mlp="gelu",
                     norm="layernorm")
    hw = hw_for(catalog, "A100-SXM-80GB", 1600.0)
    md = stacks.resolve("megatron-deepspeed")
    assert md.grad_all_reduce == "bf16"
    never, always = replace(md, grad_all_reduce="never"), replace(md, grad_all_reduce="always")
    c1, c0 = cands(dp=16, zero=1, mb=2), cands(dp=16, zero=0, mb=2)
    out = {}
    for prec in ("bf16", "fp16"):
        t = TrainingSpec(seq_len=2048, global_batch=64, micro_batch=2, precision=prec, recompute="full")
        out[prec] = {name: step_time(neox, t, c, hw, framework=s)
                     for name, s, c in (("md", md, c1), ("never", never, c1), ("always", always, c1), ("z0", md, c0))}
    bf, fp = out["bf16"], out["fp16"]
    assert bf["md"]["t_dp_comm"][0] == pytest.approx(bf["z0"]["t_dp_comm"][0], rel=1e-12)
    assert bf["md"]["t_dp_comm"][0] > 1.5 * bf["never"]["t_dp_comm"][0]  # ring all-reduce: twice the bytes
    assert bf["md"]["step_time_s"][0] - bf["never"]["step_time_s"][0] == pytest.approx(
        bf["md"]["t_dp_comm"][0] - bf["never"]["t_dp_comm"][0], rel=1e-9)
    assert fp["md"]["t_dp_comm"][0] == pytest.approx(fp["never"]["t_dp_comm"][0], rel=1e-12)
    assert fp["always"]["t_dp_comm"][0] == pytest.approx(fp["z0"]["t_dp_comm"][0], rel=1e-12)
    # ZeRO-1's parameter all-gather after the step stays (the optimizer still steps its partition)
    assert bf["md"]["t_param_gather_exposed"][0] == pytest.approx(bf["never"]["t_param_gather_exposed"][0], rel=1e-12)
    assert bf["md"]["t_param_gather_exposed"][0] > 0
    with pytest.raises(ValueError, match="grad_all_reduce"):
        stacks.all_reduces_grads(replace(md, grad_all_reduce="sometimes"), "bf16")


def _neox_attention_extra_elements(flash: bool, s=16, b=2, heads=4, hn=8, rot=2):
    """Elements per token that GPT-NeoX's attention code (megatron/model/transformer.py ``ParallelSelfAttention``
    of the Pythia / NeoX-20B releases) moves in its own re-joins and copies, counted op by op with a
    TorchDispatchMode on real torch ops: the mixed QKV output viewed ``[s, b, np, 3 hn]`` and split; q and k cut at
    ``rotary_ndims`` into rotated and passed slices, the rotated part through a rotary product, re-joined by
    ``torch.cat``; on the flash path q, k, v each ``transpose(0, 1).reshape(b * s, 1, np, hn)`` and packed by
    ``torch.concat(dim=1)`` for a packed-QKV kernel (a stand-in autograd function here: it writes its output and its
    packed input gradient, as the kernel does), its output viewed back ``[b, s, np, hn]`` and transposed; then
    the output's ``permute(2, 0, 1, 3).contiguous()``. Counted: reads + writes of the full-head-width ``cat`` and
    ``clone`` kernels (less the output permute's copy, which step_time's layout copy already is), and in the
    backward every full-width ``slice_backward`` (a zero-fill of the whole width, a copy of its part) and
    gradient sum (``add``: two reads, one write), and the output gradient's ``clone``. Not counted: the rotary
    arithmetic on the rotated part (step_time's RoPE bytes), the split's backward ``cat`` (any Megatron layer
    splits its mixed QKV) and the stand-in kernel's own ops."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    class Packed(torch.autograd.Function):  # the packed-QKV kernel's interface: [b*s, 3, np, hn] -> [b*s, np, hn]
        @staticmethod
        def forward(ctx, qkv):
            return qkv.sum(1)

        @staticmethod
        def backward(ctx, g):
            return g.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()

    def rotary(x, cos, sin):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def layer(mixed):
        q, k, v = torch.split(mixed.view(s, b, heads, 3 * hn), hn, dim=-1)
        cos, sin = torch.rand(s, 1, 1, rot), torch.rand(s, 1, 1, rot)
        q = torch.cat((rotary(q[..., :rot], cos, sin), q[..., rot:]), dim=-1)
        k = torch.cat((rotary(k[..., :rot], cos, sin), k[..., rot:]), dim=-1)
        if flash:
            q, k, v = (t.transpose(0, 1).reshape(b * s, 1, heads, hn) for t in (q, k, v))
            out = Packed.apply(torch.concat([q, k, v], dim=1)).view(b, s, heads, hn).transpose(1, 2)
        else:  # Megatron's baddbmm / bmm path takes transposed views of q, k, v: a stand-in product of them
            out = (q * k + v).permute(1, 2, 0, 3)
        return out.permute(2, 0, 1, 3).contiguous()

    n = {"fwd": 0, "bwd": 0}
    phase = ["fwd"]
    full = lambda t: isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[-1] == hn  # noqa: E731

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            x = args[0] if args else None
            if phase[0] == "fwd":
                if func is torch.ops.aten.cat.default and full(out) and out.shape[1] == b:  # the rotary re-joins
                    n["fwd"] += 2 * out.numel()
                elif func is torch.ops.aten.cat.default and full(out) and out.shape[1] == 3:  # the q/k/v pack
                    n["fwd"] += 2 * out.numel()
                elif func is torch.ops.aten.clone.default and full(out) and tuple(x.shape) == (b, s, heads, hn):
                    n["fwd"] += 2 * out.numel()  # the reshapes to batch-first rows
            else:
                if func is torch.ops.aten.slice_backward.default and full(out):
                    n["bwd"] += out.numel() + 2 * x.numel()
                elif func is torch.ops.aten.add.Tensor and full(out):
                    n["bwd"] += 3 * out.numel()
                elif func is torch.ops.aten.clone.default and full(out) and tuple(x.shape) == (b, s, heads, hn):
                    n["bwd"] += 2 * out.numel()  # the output gradient made contiguous for the kernel
            return out

    x = torch.randn(s, b, 3 * heads * hn, requires_grad=True)
    with Ops():
        y = layer(x)
        phase[0] = "bwd"
        y.backward(torch.ones_like(y))
    return {k: v / (s * b) for k, v in n.items()}


@pytest.mark.parametrize("flash", [True, False])
def test_neox_attention_bytes_match_real_ops(flash):
    """GPT-NeoX's partial-rotary re-joins and flash-path packing (layer_ops.neox_attention_bytes) are what the
    torch ops of that code move per token, with the flash path and without (the fused-softmax path keeps only the
    rotary re-joins); a model without RoPE has no re-joins."""
    from planner.model.layer_ops import neox_attention_bytes

    m = ModelSpec(name="neox-tiny", layers=1, hidden=32, heads=4, ffn_hidden=128, vocab=64, mlp="gelu",
                  norm="layernorm", position="rope")
    real = _neox_attention_extra_elements(flash)
    assert neox_attention_bytes(m, 1.0, flash) == (real["fwd"], real["bwd"])
    assert real["fwd"] > 0 and real["bwd"] > 0
    assert neox_attention_bytes(m, 2.0, flash, tp=2) == neox_attention_bytes(m, 1.0, flash)  # act_b x elements / tp
    learned = m.model_copy(update={"position": "learned"})
    assert neox_attention_bytes(learned, 1.0, False) == (0.0, 0.0)


def test_neox_attention_priced_only_on_its_rows(catalog):
    """``Stack.neox_attention`` adds exactly memory_time(tokens x layers x bytes) to each GPU-bound pass, the
    forward bytes to the forward (and again to the recomputed forward under full recompute) and the backward bytes
    to the backward; off, the stack's step is unchanged."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.layer_ops import neox_attention_bytes

    neox = ModelSpec(name="neox-160m", layers=12, hidden=768, heads=12, ffn_hidden=3072, vocab=50304, mlp="gelu",
                     norm="layernorm", position="rope")
    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    off = stacks.resolve("megatron-deepspeed")
    on = replace(off, neox_attention=True)
    for flash in (True, False):
        t = TrainingSpec(seq_len=2048, global_batch=16, micro_batch=16, precision="fp16", flash_attention=flash)
        a, b = (step_time(neox, t, cands(mb=16, zero=0), hw, framework=s) for s in (off, on))
        f, bw = neox_attention_bytes(neox, 2.0, flash)
        tokens = 16 * 2048 * neox.layers
        assert b["t_fwd_mb"] - a["t_fwd_mb"] == pytest.approx(hw.eff.memory_time(tokens * f, hw.gpu.hbm_bw), rel=1e-9)
        assert b["t_bwd_mb"] - a["t_bwd_mb"] == pytest.approx(hw.eff.memory_time(tokens * bw, hw.gpu.hbm_bw), rel=1e-9)


def _sink_rescale_elements(act_dtype, form="fp32_product", b=2, heads=4, s=64, hd=16):
    """Bytes per attention-output element that a FlexAttention sink rescale moves, forward and backward, counted
    with a TorchDispatchMode on real torch ops: every op but views, by the bytes of each tensor it reads or writes.
    ``fp32_product`` is NeMo AutoModel's ``FlexAttention.forward`` after the kernel (nemo_automodel/components/
    attention/flex_attention.py): ``torch.sigmoid(lse - w.view(1, -1, 1)).unsqueeze(-1)``, ``out * scale``,
    ``.to(q.dtype)``; ``scale_cast`` is torchtitan's gpt-oss ``Attention.forward`` (torchtitan/models/gpt_oss/
    model.py): the same scale, ``output * sink_scale.to(output.dtype)``. The kernel is a stand-in autograd function
    (its ops not counted), and the loss gradient is made outside the count."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    aten = torch.ops.aten
    views = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.expand.default,
             aten.detach.default, aten.alias.default, aten._unsafe_view.default}
    counting = [False]
    phase = ["fwd"]
    n = {"fwd": 0, "bwd": 0}

    class Kernel(torch.autograd.Function):  # flex_attention(..., return_lse=True): (out, fp32 lse)
        @staticmethod
        def forward(ctx, q):
            return q.clone(), q.float().sum(-1)

        @staticmethod
        def backward(ctx, g_out, g_lse):
            counting[0] = False
            return g_out + g_lse.unsqueeze(-1).to(g_out.dtype)

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if counting[0] and func not in views:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                n[phase[0]] += sum(x.numel() * x.element_size() for x in ts)
            return out

    dtype = getattr(torch, act_dtype)
    q = torch.randn(b, heads, s, hd, dtype=dtype, requires_grad=True)
    w = torch.randn(heads, requires_grad=True)  # the fp32 sink logits (GptOssFP32Parameter)
    with Ops():
        out, lse = Kernel.apply(q)
        counting[0] = True
        scale = torch.sigmoid(lse - w.view(1, -1, 1)).unsqueeze(-1)
        y = (out * scale).to(q.dtype) if form == "fp32_product" else out * scale.to(out.dtype)
        counting[0] = False
        g = torch.ones_like(y)
        phase[0], counting[0] = "bwd", True
        y.backward(g)
    # the sink weights' (heads,) reads are per call, not per element: taken off (4 B each, one read forward by
    # ``sub``, one write of the summed gradient backward)
    return {"fwd": (n["fwd"] - 4 * heads) / q.numel(), "bwd": (n["bwd"] - 4 * heads) / q.numel()}, hd


@pytest.mark.parametrize("form", ["fp32_product", "scale_cast"])
@pytest.mark.parametrize("act_dtype", ["bfloat16", "float16"])
def test_sink_rescale_bytes_match_real_ops(act_dtype, form):
    """layer_ops.SINK_RESCALES are what the torch ops of each FlexAttention sink rescale move per output element:
    AutoModel's fp32 product (2 act_b + 8 + 20 / head_dim forward, 3 act_b + 28 + 32 / head_dim backward) and
    torchtitan's scale cast first (2 act_b + (20 + 2 act_b) / head_dim, 6 act_b + (28 + 3 act_b) / head_dim)."""
    from planner.model.layer_ops import SINK_RESCALES

    real, hd = _sink_rescale_elements(act_dtype, form)
    f, b = SINK_RESCALES[form](2.0, hd)
    assert (f, b) == pytest.approx((real["fwd"], real["bwd"]), rel=1e-12)


def test_torchtitan_prices_its_sink_rescale_only_uncompiled(catalog):
    """torchtitan's gpt-oss runs the sinks as an eager rescale after FlexAttention (scale cast to bf16 first):
    with compile off it adds exactly the scale_cast bytes to each pass; with its default per-block compile (the ops
    fused) nothing, and nothing on a model without sinks. Every registered stack names a known form."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.layer_ops import SINK_RESCALES, sink_rescale_cast_bytes
    from planner.spec.presets import PRESETS

    assert all(st.sink_rescale_form in SINK_RESCALES for st in stacks.STACKS.values())
    oss = ModelSpec(**PRESETS["gpt-oss-20b"])
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=4096, global_batch=16, micro_batch=2, precision="bf16")
    c = cands(mb=2, dp=8, ep=8, zero=3)
    titan = stacks.resolve("torchtitan")
    assert titan.compile and titan.sink_rescale_form == "scale_cast" and "fa2" in titan.sink_rescale_kernels
    eager = replace(titan, compile=False)
    a, b = (step_time(oss, t, c, hw, framework=s) for s in (replace(eager, sink_rescale_kernels=()), eager))
    f, bw = sink_rescale_cast_bytes(2.0, oss.q_dim / oss.heads)
    el = 2 * 4096 * oss.q_dim * oss.layers
    assert b["t_fwd_mb"][0] - a["t_fwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(el * f, hw.gpu.hbm_bw)), rel=1e-9)
    assert b["t_bwd_mb"][0] - a["t_bwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(el * bw, hw.gpu.hbm_bw)), rel=1e-9)
    x, y = (step_time(oss, t, c, hw, framework=s) for s in (replace(titan, sink_rescale_kernels=()), titan))
    assert x["step_time_s"][0] == y["step_time_s"][0]


def test_sink_rescale_priced_only_where_the_stack_runs_it(catalog):
    """nemo-automodel's ``sink_rescale_kernels`` (its FlexAttention path at FA2 rates) adds exactly memory_time(tokens
    x layers x q width x bytes) to each pass of a model with attention sinks (gpt-oss) and nothing under TE's kernel
    (cudnn: the sinks inside cuDNN's softmax), with the field emptied, or on a model without sinks."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.layer_ops import sink_rescale_bytes
    from planner.spec.presets import PRESETS

    oss = ModelSpec(**PRESETS["gpt-oss-20b"])
    assert oss.attention_sinks
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=4096, global_batch=16, micro_batch=2, precision="bf16")
    c = cands(mb=2, dp=8, ep=8, zero=3)
    flex = replace(stacks.resolve("nemo-automodel"), attn_kernel="fa2")  # as validate maps a FlexAttention row
    bare = replace(flex, sink_rescale_kernels=())
    a, b = (step_time(oss, t, c, hw, framework=s) for s in (bare, flex))
    f, bw = sink_rescale_bytes(2.0, oss.q_dim / oss.heads)
    el = 2 * 4096 * oss.q_dim * oss.layers
    assert b["t_fwd_mb"][0] - a["t_fwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(el * f, hw.gpu.hbm_bw)), rel=1e-9)
    assert b["t_bwd_mb"][0] - a["t_bwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(el * bw, hw.gpu.hbm_bw)), rel=1e-9)
    te = stacks.resolve("nemo-automodel")
    assert te.attn_kernel == "cudnn" and te.attn_kernel not in te.sink_rescale_kernels
    no_sinks = oss.model_copy(update={"attention_sinks": False})
    x, y = (step_time(no_sinks, t, c, hw, framework=s) for s in (bare, flex))
    assert x["step_time_s"][0] == y["step_time_s"][0]


def _megatron_ce_elements(tokens=6, vocab=40, act_dtype="float16"):
    """Bytes per logit that Megatron's vocab-parallel cross-entropy moves when the training script hands it an fp32
    copy of 16-bit logits (``vocab_parallel_cross_entropy(output.float(), labels)``), counted op by op with a
    TorchDispatchMode on real torch ops. The function is the one of megatron/mpu/cross_entropy.py
    ``_VocabParallelCrossEntropy`` at TP 1 (the all-reduces are identities on one rank): ``torch.max(dim=-1)``,
    ``sub_`` of the max, the target gather, ``torch.exp(out=)``, ``sum(dim=-1)``, ``div_`` saved for the
    backward, which adds -1 at the targets and ``mul_``s by the incoming gradient in place; the logits come out of a
    head GEMM (not counted: priced as a GEMM). Counted: every op
    whose input or output is logit-sized (reads of its logit-sized inputs, writes of its logit-sized output, or of
    its first argument when it works in place), by the bytes of each tensor's dtype; not the target gather and
    scatter (``index`` / ``index_put_``: one logit per token)."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    class VocabParallelCE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, target):
            logits_max = torch.max(logits, dim=-1)[0]
            logits.sub_(logits_max.unsqueeze(dim=-1))
            logits_2d = logits.view(-1, logits.size(-1))
            arange_1d = torch.arange(logits_2d.size(0))
            predicted = logits_2d[arange_1d, target.view(-1)].clone().view_as(target)
            exp_logits = logits
            torch.exp(logits, out=exp_logits)
            sum_exp = exp_logits.sum(dim=-1)
            loss = torch.log(sum_exp) - predicted
            exp_logits.div_(sum_exp.unsqueeze(dim=-1))
            ctx.save_for_backward(exp_logits, target)
            return loss

        @staticmethod
        def backward(ctx, grad_output):
            softmax, target = ctx.saved_tensors
            grad_input = softmax
            grad_2d = grad_input.view(-1, softmax.size(-1))
            grad_2d[torch.arange(grad_2d.size(0)), target.view(-1)] -= 1.0
            grad_input.mul_(grad_output.unsqueeze(dim=-1))
            return grad_input, None

    n = {"fwd": 0.0, "bwd": 0.0}
    phase = ["fwd"]
    size = tokens * vocab
    big = lambda t: isinstance(t, torch.Tensor) and t.numel() == size  # noqa: E731

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            views = (torch.ops.aten.view.default, torch.ops.aten._unsafe_view.default, torch.ops.aten.detach.default,
                     torch.ops.aten.alias.default, torch.ops.aten.unsqueeze.default)
            gathers = (torch.ops.aten.index.Tensor, torch.ops.aten.index_put_.default)  # one logit per token
            head = (torch.ops.aten.mm.default,)  # the LM head's GEMM (priced as a GEMM)
            out = func(*args, **(kwargs or {}))
            if func not in views + gathers + head:
                ins = [a for a in list(args) + list((kwargs or {}).values()) if big(a)]
                read = sum(a.numel() * a.element_size() for a in {id(a): a for a in ins}.values())
                outs = out if isinstance(out, (tuple, list)) else (out,)
                wrote = sum(o.numel() * o.element_size() for o in outs if big(o))
                n[phase[0]] += (read + wrote) / size
            return out

    dtype = getattr(torch, act_dtype)
    x = torch.randn(tokens, 8, dtype=dtype, requires_grad=True)
    w = torch.randn(8, vocab, dtype=dtype, requires_grad=True)
    target = torch.randint(0, vocab, (tokens,))
    with Ops():
        logits = x @ w  # the head's output, as the model hands it to the loss
        loss = VocabParallelCE.apply(logits.float(), target).sum()
        phase[0] = "bwd"
        loss.backward()
    return n


def test_cross_entropy_bytes_match_real_ops():
    """The unfused Megatron loss (layer_ops.cross_entropy_bytes, ``Stack.ce_unfused``) moves what the torch ops of
    that code move per logit, forward and backward, from 16-bit and from 32-bit logits; the fused / generic form
    stays at act_b + 12 in all."""
    from planner.model.layer_ops import cross_entropy_bytes

    for dtype, act_b in (("float16", 2.0), ("bfloat16", 2.0), ("float32", 4.0)):
        real = _megatron_ce_elements(act_dtype=dtype)
        assert cross_entropy_bytes(act_b, True) == (real["fwd"], real["bwd"]), dtype
    assert sum(cross_entropy_bytes(2.0, False)) == 14.0


def test_unfused_cross_entropy_on_the_legacy_megatron_stacks_only(catalog):
    """``Stack.ce_unfused`` is set on the 2021-23 Megatron stacks (megatron-lm, megatron-deepspeed and the
    pre-registry ``megatron``), not on Megatron-Core (NeMo / Megatron-Bridge set ``cross_entropy_loss_fusion``) or
    the others; on a pass the head dominates it adds exactly memory_time(tokens x vocab x the byte difference)."""
    from dataclasses import replace
    from planner.model import stacks
    from planner.model.layer_ops import cross_entropy_bytes

    assert {n for n, s in stacks.STACKS.items() if s is not None and s.ce_unfused} == {
        "megatron-lm", "megatron-deepspeed", "megatron"}
    m = ModelSpec(name="tiny-vocab", layers=1, hidden=512, heads=8, ffn_hidden=2048, vocab=50304, mlp="gelu",
                  norm="layernorm")
    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    t = TrainingSpec(seq_len=2048, global_batch=16, micro_batch=16, precision="fp16", flash_attention=True)
    off = replace(stacks.resolve("megatron-deepspeed"), ce_unfused=False)
    on = stacks.resolve("megatron-deepspeed")
    a, b = (step_time(m, t, cands(mb=16, zero=0), hw, framework=s) for s in (off, on))
    logits = 16 * 2048 * m.vocab
    (uf, ub), (gf, gb) = cross_entropy_bytes(2.0, True), cross_entropy_bytes(2.0, False)
    assert b["t_fwd_mb"] - a["t_fwd_mb"] == pytest.approx(hw.eff.memory_time(logits * (uf - gf), hw.gpu.hbm_bw), rel=1e-6)
    assert b["t_bwd_mb"] - a["t_bwd_mb"] == pytest.approx(hw.eff.memory_time(logits * (ub - gb), hw.gpu.hbm_bw), rel=1e-6)


def test_flash_kernels_built_for_fixed_head_dims_compute_the_padded_one(catalog):
    """``Stack.attn_hdim_tiles``: FlashAttention-1 dispatches ``d <= 32`` / ``<= 64`` / ``<= 128`` to kernels built for
    32 / 64 / 128 (fmha_api.cpp ``run_fmha_fwd``), the Triton kernel pads to the next power of two, at least 16
    (``BLOCK_HEADDIM``); a stack with such kernels prices the attention of a head dim in between at the padded
    width (Pythia-2.8B's 80 on FA1's 128 kernel: 1.6x), and a head dim the kernels are built for as before."""
    from dataclasses import replace
    from planner.model import physics, stack_kernels, stacks

    fa1, triton = stack_kernels.FA1_HEAD_DIM_TILES, stack_kernels.TRITON_FA_HEAD_DIM_TILES
    assert [physics.padded_head_dim(d, fa1) for d in (24, 32, 40, 64, 80, 128)] == [32.0, 32.0, 64.0, 64.0, 128.0, 128.0]
    assert [physics.padded_head_dim(d, triton) for d in (8, 24, 80, 112)] == [16.0, 32.0, 128.0, 128.0]
    assert physics.padded_head_dim(80, ()) == 80.0 and physics.padded_head_dim(256, fa1) == 256.0
    assert stacks.resolve("llm-foundry").attn_hdim_tiles == triton and stacks.resolve("megatron-lm").attn_hdim_tiles == ()

    hw = hw_for(catalog, "A100-SXM-40GB", 400.0)
    t = TrainingSpec(seq_len=2048, global_batch=8, micro_batch=8, precision="fp16", flash_attention=True)
    base = stacks.resolve("megatron-deepspeed")
    fa1_stack = replace(base, attn_hdim_tiles=fa1)
    for hidden, heads, ratio in ((2560, 32, 128 / 80), (2048, 16, 1.0)):  # head dims 80 and 128
        m = ModelSpec(name="hd", layers=4, hidden=hidden, heads=heads, ffn_hidden=4 * hidden, vocab=50304,
                      mlp="gelu", norm="layernorm")
        a, b = (step_time(m, t, cands(mb=8, zero=0), hw, framework=s)["compute_attention"] for s in (base, fa1_stack))
        assert b[0] == pytest.approx(ratio * a[0], rel=1e-9)
