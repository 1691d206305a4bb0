"""16-bit end layers (``Stack.lp_bf16_layers``, Megatron-Core ``--first-last-layers-bf16
--num-layers-at-end-in-bf16 N``) priced on the pipeline stage that holds them, not spread over every stage."""
import numpy as np
import pytest

from planner.model import physics
from planner.model.stacks import resolve
from planner.model.step_time import slowest_stage, step_time
from planner.spec import TrainingSpec
from planner.vocab import SCHEDULE
from test_step_time import LLAMA, cands, hw_for


def megatron_lp16_layers_per_stage(layers, pp, v, first, last):
    """16-bit layers per pipeline rank as Megatron-Core places them, enumerated layer by layer: a layer's
    global number is transformer_layer.py ``get_transformer_layer_offset`` (``vp_stage * (L / v) + pp_rank *
    (L / pp / v)``, plus the local index), and fp8_utils.py ``is_first_last_bf16_layer`` keeps it 16-bit when
    ``layer_no < num_layers_at_start_in_bf16`` or ``layer_no >= num_layers - num_layers_at_end_in_bf16``."""
    per_chunk = layers // (pp * v)
    out = [0] * pp
    for rank in range(pp):
        for vp_stage in range(v):
            offset = vp_stage * (layers // v) + rank * per_chunk
            out[rank] += sum(offset + i < first or offset + i >= layers - last for i in range(per_chunk))
    return out


def planner_lp16_layers_per_stage(layers, pp, v, first, last):
    """pipeline.lp16_layers over the planner's Megatron split, summed per rank (virtual stage s on rank s % pp)."""
    from planner.model.pipeline import lp16_layers, pipeline_split

    counts = pipeline_split(layers, pp, v, "megatron")[1]
    return np.bincount(np.arange(len(counts)) % pp, lp16_layers(layers, counts, first, last), minlength=pp)


@pytest.mark.parametrize("layers,pp,v,n16", [
    (88, 2, 1, 14), (32, 2, 1, 6), (32, 4, 1, 8), (32, 2, 4, 6), (32, 2, 4, 16), (48, 4, 3, 10), (96, 4, 2, 30),
    (32, 8, 2, 1), (126, 1, 1, 5),
])
def test_end_layers_land_where_megatron_puts_them(layers, pp, v, n16):
    """The last stage, and (virtual pipeline) the last chunks of the stages before it, hold what Megatron-Core's
    own layer numbering keeps 16-bit."""
    want = megatron_lp16_layers_per_stage(layers, pp, v, 0, n16)
    assert planner_lp16_layers_per_stage(layers, pp, v, 0, n16).tolist() == pytest.approx(want)  # every rank
    assert sum(want) == n16


def test_slowest_stage_carries_the_end_layers():
    """pp = 2, 88 layers, 14 kept 16-bit at 0.5 more each: the last stage (44 layers + head) holds all 14; with
    pp = 1 the one stage holds them; none kept leaves the old split."""
    n, head, b16 = slowest_stage(88, np.array([2.0, 1.0]), 1.0, 2.0, 14, 0.5)
    assert b16.tolist() == [14.0, 14.0] and head.tolist() == [1.0, 1.0]
    assert slowest_stage(88, np.array([2.0]), 1.0, 2.0)[2] == 0.0
    # 88 layers on pp 4, a light head: the plain split's last stage (22 layers + head) paces, and holds all 8
    n, head, b16 = slowest_stage(88, np.array([4.0]), 1.0, 0.1, 8, 0.5)
    assert (n.tolist(), head.tolist(), b16.tolist()) == ([22.0], [1.0], [8.0])
    # a middle stage paces while holding end layers: Llama-3.1-405B's 126 layers on pp 16 with the embedding and
    # loss accounted (u = 8: middle stages 8 layers, the last 7 + head); of the last 9 layers the last stage holds
    # 7 (119-125) and stage 14 the other 2 (117, 118): 8 + 2 x 0.1 = 8.2 > 7 + 0.1 + 7 x 0.1 = 7.8
    n, head, b16 = slowest_stage(126, np.array([16.0]), 1.0, 0.1, 9, 0.1)
    assert (n.tolist(), head.tolist(), b16.tolist()) == ([8.0], [0.0], [2.0])


def _gemm_pass_delta(hw, m, T, stack, extra=()):
    """Seconds one dense layer's four linears (QKV, out-projection, gated fc1, fc2) take more in 16 bits than
    under ``recipe``, forward + dgrad + wgrad, written from the GEMM shapes: 16-bit GEMMs at the 16-bit peak
    with 2-byte operands; the recipe's at its peak x gemm_rel with 1-byte operands plus its quantisation
    traffic (``extra``: more (M, N, K) forward shapes; input forward, the weight too where the stack re-quantises it every micro-batch, output gradient
    backward; ``cast_bytes`` per element)."""
    eff, hbm, recipe = hw.eff, hw.gpu.hbm_bw, stack.recipe
    p16 = physics.reachable_peak(hw, "bf16")
    p8 = physics.reachable_peak(hw, recipe.peak) * recipe.gemm_rel
    w = 1.0 if recipe.weight_casts == "microbatch" and not stack.caches_fp8_weights else 0.0
    h, q, kv, f = m.hidden, m.q_dim, m.kv_dim, m.ffn_hidden
    total = 0.0
    for M, N, K in [(T, q + 2 * kv, h), (T, h, q), (T, 2 * f, h), (T, h, f), *extra]:
        shapes = [(M, N, K), (M, K, N), (K, N, M)]  # forward, dgrad, wgrad
        t16 = sum(float(eff.gemm_time(*s, p16, hbm, 2.0)) for s in shapes)
        t8 = sum(float(eff.gemm_time(*s, p8, hbm, 1.0)) for s in shapes)
        t8 += float(eff.memory_time((M * K + w * K * N) * recipe.cast_bytes, hbm))
        t8 += float(eff.memory_time(M * N * recipe.cast_bytes, hbm))
        total += t16 - t8
    return total


@pytest.mark.parametrize("pp,v,on_last", [(1, 1, 6), (2, 1, 6), (2, 4, 4)])
def test_end_layers_slow_the_stage_that_holds_them(catalog, pp, v, on_last):
    """Llama-3-8B shapes (32 layers), MXFP8 with its last 6 layers 16-bit, TP 1, one micro-batch of 4 x 8192
    tokens, 8 micro-batches: the step grows by (m + (pp - 1) / v) x (the 16-bit layers on the pacing stage) x
    (one layer's 16-bit GEMMs minus its MXFP8 ones, from the GEMM shapes) -- Narayanan et al. 2021's step is
    the slowest stage's time over m micro-batches plus the bubble -- on the interleaved schedule; on 1F1B the
    lighter stages fill and drain at their own pace (step_time ``fill_excess``), so only the m steady passes of the
    pacing stage grow. pp = 1: all 6 on the one stage; pp = 2: all 6 on the last stage (spread evenly, 3 a stage,
    it would be half that); pp = 2 with 4 model chunks: the last stage's last chunk holds layers 28-31 (4 of them),
    stage 0's last chunk 26-27."""
    m_micro, mb, seq = 8, 4, 8192
    t = TrainingSpec(seq_len=seq, global_batch=m_micro * mb, micro_batch=mb, precision="fp8")
    hw = hw_for(catalog, "B200")
    c = cands(tp=1, pp=pp, dp=1, vpp=v, mb=mb, zero=0, nodes=1,
              schedule=SCHEDULE.code["interleaved" if v > 1 else "1f1b"])

    def step(n16):
        st = resolve("megatron-core", fp8_recipe="mxfp8", lp_bf16_layers=n16)
        return float(step_time(LLAMA, t, c, hw, framework=st, overlap_grad_reduce=False)["step_time_s"][0])

    want = (m_micro + (pp - 1) / v * (v > 1)) * on_last * _gemm_pass_delta(hw, LLAMA, mb * seq, resolve("megatron-core", fp8_recipe="mxfp8"))
    assert want > 0
    assert step(6) - step(0) == pytest.approx(want, rel=1e-6)


def test_mtp_module_kept_16_bit_on_the_last_stage(catalog):
    """A plain model's MTP module (one depth: eh_proj, a decoder layer, the head) sits on the last stage;
    ``lp_bf16_mtp`` (Megatron-Core ``--keep-mtp-spec-in-bf16``) runs its eh_proj (M, N, K) = (T, h, 2h) and its
    layer's linears 16-bit: the step grows by m x their GEMM-shape difference (the pacing stage's steady passes;
    the lighter first stage fills and drains at its own pace, step_time ``fill_excess``)."""
    m_micro, mb, seq, pp = 8, 4, 8192, 2
    model = LLAMA.model_copy(update={"mtp_layers": 1})
    t = TrainingSpec(seq_len=seq, global_batch=m_micro * mb, micro_batch=mb, precision="fp8")
    hw = hw_for(catalog, "B200")
    c = cands(tp=1, pp=pp, dp=1, mb=mb, zero=0, nodes=1)

    def step(keep):
        st = resolve("megatron-core", fp8_recipe="mxfp8", lp_bf16_mtp=keep)
        return float(step_time(model, t, c, hw, framework=st, overlap_grad_reduce=False)["step_time_s"][0])

    T = mb * seq
    want = m_micro * _gemm_pass_delta(hw, model, T, resolve("megatron-core", fp8_recipe="mxfp8"),
                                                 extra=[(T, model.hidden, 2 * model.hidden)])
    assert step(True) - step(False) == pytest.approx(want, rel=1e-6)


def test_all_layers_16bit_is_the_bf16_run_also_where_the_host_bounds(catalog):
    """A host-bound MoE layout (Qwen3-30B-A3B on 8 B200s, EP 8, micro-batch 1: the multi-stream grouped GEMM's
    per-expert set-up bounds the pass): with every decoder layer kept 16-bit an MXFP8 job's layers are the bf16
    job's, including the set-up of their bf16 expert GEMMs (moe.GROUPED_GEMM_SCALING: per-tensor, not
    block-scaled), so the step equals the bf16 step up to the head's quantisation; with some layers 16-bit it
    lies strictly between."""
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    hw = hw_for(catalog, "B200-SXM-180GB")
    c = cands(tp=1, pp=1, dp=8, ep=8, etp=1, mb=1)

    def step(precision, n16=0):
        t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision=precision)
        fw = resolve("megatron-core", fp8_recipe="mxfp8", lp_bf16_layers=n16) if precision == "fp8" else resolve("megatron-core")
        return float(step_time(m, t, c, hw, framework=fw)["step_time_s"][0])

    bf16, fp8, all16, some16 = step("bf16"), step("fp8"), step("fp8", m.layers), step("fp8", 8)
    assert fp8 > bf16  # host-bound: MXFP8 saves no GPU time that shows, and pays the block-scaled set-up
    assert all16 == pytest.approx(bf16, rel=0.01)
    assert bf16 < some16 < fp8 or fp8 < some16 < bf16


# ---- Megatron-Core's first layers too (--num-layers-at-start-in-bf16; the switch alone: 1 first + 1 last)

@pytest.mark.parametrize("layers,pp,v,first,last", [
    (32, 1, 1, 1, 1), (32, 2, 1, 2, 2), (32, 4, 1, 3, 0), (32, 2, 4, 6, 1), (48, 4, 3, 10, 5), (8, 1, 1, 6, 6),
])
def test_first_layers_land_where_megatron_puts_them(layers, pp, v, first, last):
    """pipeline.lp16_layers over the planner's split, summed per rank, is Megatron-Core's layer-by-layer count
    (a layer in both ranges once)."""
    from planner.model.pipeline import lp16_rank_layers

    want = megatron_lp16_layers_per_stage(layers, pp, v, first, last)
    assert planner_lp16_layers_per_stage(layers, pp, v, first, last).tolist() == want
    r0, rl = lp16_rank_layers(layers, np.array([pp]), np.array([v]), first, last)
    assert (r0.tolist(), rl.tolist()) == ([want[0]], [want[-1]])


def test_switch_alone_keeps_megatrons_one_and_one():
    """--first-last-layers-bf16 with no counts is Megatron-Core's 1 first + 1 last (TransformerConfig defaults); a
    count left out beside the switch is 1; a count alone is that count and no other (Nemotron 3 Super's last 14)."""
    st = resolve("megatron-core", first_last_layers_bf16=True)
    assert (st.lp_bf16_first_layers, st.lp_bf16_layers, st.first_last_layers_bf16) == (1, 1, True)
    st = resolve("megatron-core", first_last_layers_bf16=True, lp_bf16_first_layers=2)
    assert (st.lp_bf16_first_layers, st.lp_bf16_layers) == (2, 1)
    st = resolve("megatron-bridge", fp8_recipe="mxfp8", lp_bf16_layers=14)
    assert (st.lp_bf16_first_layers, st.lp_bf16_layers, st.first_last_layers_bf16) == (0, 14, True)


@pytest.mark.parametrize("pp,first,last,on_pacing,on_others", [(1, 1, 1, 2, 0), (2, 6, 6, 6, 6), (2, 6, 0, 0, 6)])
def test_first_layers_priced_on_the_stage_that_holds_them(catalog, pp, first, last, on_pacing, on_others):
    """Llama-3-8B shapes, MXFP8, TP 1, 8 micro-batches of 4 x 8192 tokens: the step grows by m x (the 16-bit layers
    on the pacing stage) plus, once each, those on the lighter stages that fill and drain the 1F1B pipeline
    (step_time ``fill_excess``), x (one layer's 16-bit GEMMs minus its MXFP8 ones). pp = 1: the first and the last
    layer, both on the one stage; pp = 2 with 6 + 6: 6 on each stage, the last (with the head) paces: (m + 1) x 6;
    pp = 2 with the first 6 only: they sit on stage 0, which still paces below the head's stage: 1 x 6 (the fill)."""
    m_micro, mb, seq = 8, 4, 8192
    t = TrainingSpec(seq_len=seq, global_batch=m_micro * mb, micro_batch=mb, precision="fp8")
    hw = hw_for(catalog, "B200")
    c = cands(tp=1, pp=pp, dp=1, mb=mb, zero=0, nodes=1)

    def step(**opts):
        st = resolve("megatron-core", fp8_recipe="mxfp8", **opts)
        return float(step_time(LLAMA, t, c, hw, framework=st, overlap_grad_reduce=False)["step_time_s"][0])

    per_layer = _gemm_pass_delta(hw, LLAMA, mb * seq, resolve("megatron-core", fp8_recipe="mxfp8"))
    want = (m_micro * on_pacing + on_others) * per_layer
    delta = step(first_last_layers_bf16=True, lp_bf16_first_layers=first, lp_bf16_layers=last) - step()
    assert delta == pytest.approx(want, rel=1e-6, abs=1e-9)
    if pp == 1:
        assert step(first_last_layers_bf16=True) == step(lp_bf16_first_layers=1, lp_bf16_layers=1)


@pytest.mark.parametrize("gpu,zero,per_param", [("B200", 1, 1.0), ("B200", 0, -1.0), ("H100", 0, -1.0)])
def test_16bit_layers_hold_16bit_weights(catalog, gpu, zero, per_param):
    """Memory of the most loaded rank: a 16-bit layer's weights are 2 bytes with no FP8 copy. Without
    --fp8-param-gather (ZeRO 0) an FP8 layer holds 2 + 1 (the cached FP8 copy): one byte less per parameter
    of the kept layers; with it (ZeRO 1, tensorwise) Blackwell stores the FP8 linears at 1 byte (no transposed
    copy): one byte more. Llama-3-8B at TP 1 PP 1, switch alone (2 layers): 2 x 218,112,000 parameters."""
    from planner.model.memory import memory_per_gpu
    from planner.spec.params import count_params

    t = TrainingSpec(seq_len=8192, global_batch=8, micro_batch=1, precision="fp8")
    c = cands(tp=1, pp=1, dp=8, mb=1, zero=zero, nodes=1)
    gpu_name = hw_for(catalog, gpu).gpu.name

    def weights(**opts):
        st = resolve("megatron-core", fp8_recipe="tensorwise", **opts)
        return float(memory_per_gpu(LLAMA, t, c, stack=st, gpu=gpu_name)["weights"][0])

    pc = count_params(LLAMA)
    layer = pc.layers_total / LLAMA.layers
    assert weights(first_last_layers_bf16=True) - weights() == pytest.approx(2 * layer * per_param, rel=1e-9)


def test_refusals_name_the_option(tmp_path, cli):
    """One line each: the switch on a 16-bit run, on a stack without Megatron-Core's option, under delayed scaling,
    a count with the switch off."""
    p = tmp_path / "job.yaml"
    cases = [("bf16", "megatron-core", "first_last_layers_bf16: true", "first_last_layers_bf16", "only with precision"),
             ("fp8", "torchtitan", "first_last_layers_bf16: true", "first_last_layers_bf16", "Megatron-Core option"),
             ("fp8", "megatron-core", "fp8_recipe: delayed, lp_bf16_first_layers: 2", "lp_bf16_first_layers",
              "delayed"),
             ("fp8", "megatron-core", "first_last_layers_bf16: false, lp_bf16_first_layers: 2", "lp_bf16_first_layers",
              "first_last_layers_bf16 false")]
    for prec, name, opt, field, words in cases:
        p.write_text("model: {preset: llama3-8b}\n"
                     f"training: {{precision: {prec}, framework: {{name: {name}, {opt}}}}}\n"
                     "cluster: {gpu: H100, nodes: 2}\n")
        code, out, err = cli("estimate", p)
        line = err.strip()
        assert code == 2 and line.startswith(f"error: training.framework.{field}:") and words in line, line
        assert "\n" not in line


def test_first_layers_over_a_stage_are_refused(tmp_path, cli):
    """Megatron-Core: num_layers_at_start_in_bf16 at most a pipeline stage's layers (32 layers on pp 4: 8)."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: llama3-8b}\n"
                 "training: {precision: fp8, framework: {name: megatron-core, lp_bf16_first_layers: 9}}\n"
                 "parallel: {tp: 2, pp: 4, dp: 2}\ncluster: {gpu: H100, gpus_per_node: 8, nodes: 2}\n")
    code, out, err = cli("estimate", p)
    assert code == 2 and err.strip().startswith("error: training.framework.lp_bf16_first_layers:"), err


def test_emit_writes_both_counts():
    """--emit writes the switch and both counts (Megatron-Core defaults each to 1, so a 0 is written out)."""
    from planner.present.emit import emit_launch_spec
    from test_emit import _argv, _flags, _plan

    for fw, want in (({"first_last_layers_bf16": True}, ("1", "1")), ({"lp_bf16_layers": 3}, ("0", "3")),
                     ({"lp_bf16_first_layers": 2, "lp_bf16_layers": 1}, ("2", "1"))):
        tr = {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e10, "precision": "fp8",
              "framework": {"name": "megatron-core", **fw}}
        job, best = _plan({"tp": 2, "pp": 1, "zero": 1}, model={"preset": "llama3-8b"}, training=tr)
        argv = _argv(emit_launch_spec(job, best, "torchrun:megatron"))
        f = _flags(argv)
        assert "--first-last-layers-bf16" in argv
        assert (f["--num-layers-at-start-in-bf16"], f["--num-layers-at-end-in-bf16"]) == want
