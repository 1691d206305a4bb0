"""Megatron-Core's loss kernels as one stack option, ``training.framework.cross_entropy_fusion`` (tece37):

* none: no ``--cross-entropy-loss-fusion``: tensor_parallel.vocab_parallel_cross_entropy (an fp32 copy worked in place;
  the unfused pricing of ``layer_ops.cross_entropy_bytes``, "megatron_ce" memory);
* native: megatron/core/fusions/fused_cross_entropy.py, the same steps under ``jit_fuser`` (torch.compile), whose
  backward graph scatters into the saved softmax, so Inductor writes a fresh fp32 gradient ("megatron_ce_fused");
* te: ``--cross-entropy-fusion-impl te``, Transformer Engine's ``parallel_cross_entropy``: the gradient written over
  the 16-bit logits ("te_parallel_ce").

Which one runs is language_module.py ``compute_language_model_loss`` (Megatron-Core 0.16.1, installed here). Each is
measured on CPU: the allocator's running peak (calibration.loop.cpu_alloc_peak) of the forward + backward with the
logits dropped by the caller before the backward, as GPTModel.forward returns the loss alone."""
import sys

import pytest

from conftest import ROOT, one_rank_group
from planner.errors import InputError
from planner.model.activations import LOSS_TRANSIENT_BYTES, logits_bytes
from planner.model.memory import GiB, memory_per_gpu
from planner.model.stacks import STACKS, resolve
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from test_left19 import _job, _spec_flags
from test_memory_validation import _compiled_peak_bytes, _logits_case, _peak_bytes
from test_step_time import LLAMA, cands, hw_for
from te_cross_entropy_cpu import te_cross_entropy

MC = "megatron-core"


def _entry(code, act=2.0):
    b = LOSS_TRANSIENT_BYTES[code][0]
    return b(act) if callable(b) else b


def _code(impl):
    return resolve(MC, cross_entropy_fusion=impl).loss_code


@pytest.fixture
def mcore_group(tmp_path):
    """A 1-rank gloo group with Megatron-Core's model-parallel state (the installed megatron.core)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("megatron.core")
    with one_rank_group(tmp_path, megatron=True) as parallel_state:
        yield torch, parallel_state.get_tensor_model_parallel_group()


def test_native_fused_loss_as_core_compiles_it(mcore_group):
    """The installed Megatron-Core's ``fused_vocab_parallel_cross_entropy`` on 16-bit logits: compiled (its
    ``jit_fuser`` is torch.compile) it peaks at 10 B a logit, the saved fp32 softmax + Inductor's fresh fp32 gradient
    + the bf16 gradient; with the compiler off 6, as the unfused loss (``vocab_parallel_cross_entropy``). The entry
    the native impl prices is the compiled figure."""
    torch, tp = mcore_group
    import torch._dynamo
    from megatron.core.fusions.fused_cross_entropy import fused_vocab_parallel_cross_entropy
    from megatron.core.tensor_parallel import vocab_parallel_cross_entropy

    n, v, x, w, labels = _logits_case(torch)

    def fused():  # the caller keeps the loss only (GPTModel.forward returns it; the logits go out of scope)
        return fused_vocab_parallel_cross_entropy((x @ w.t()).view(n, 1, v), labels.view(n, 1), tp).sum()

    def unfused():
        return vocab_parallel_cross_entropy((x @ w.t()).view(n, 1, v), labels.view(n, 1)).sum()

    assert _code("native") == "megatron_ce_fused" and _code("none") == "megatron_ce"
    torch._dynamo.reset()
    torch._dynamo.config.disable = True  # the same function with the compiler off (before anything is compiled)
    try:
        eager = _peak_bytes(lambda: fused().backward()) / (n * v)
    finally:
        torch._dynamo.config.disable = False
    assert eager == pytest.approx(_entry("megatron_ce") + 4, rel=0.02)
    torch._dynamo.reset()
    compiled = _compiled_peak_bytes(lambda: fused().backward())
    assert compiled / (n * v) == pytest.approx(_entry("megatron_ce_fused") + 4, rel=0.02)
    assert _peak_bytes(lambda: unfused().backward()) / (n * v) == pytest.approx(_entry("megatron_ce") + 4, rel=0.02)


def test_te_impl_holds_the_logits_alone():
    """TE's ``CrossEntropyFunction`` as Megatron-Core calls it (``parallel_cross_entropy(logits, labels, 0.0, False,
    tp_group)``: no reduction, so a per-token ``grad_output`` and the backward's in-place scaling), re-implemented row
    block by row block with the kernels' writes (transformer_engine/pytorch/triton/cross_entropy.py: the online-softmax
    pass saves 3 fp32 numbers a row, the gradient is written over the 16-bit input, ``save_for_backward(_input, ...)``)
    : 2 B a logit at the peak, the logits themselves, where the native impl holds 10."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)
    TECrossEntropy = te_cross_entropy(torch, n, per_token_grad=True, save_stats=True)

    # the bf16 logits (2 B each) are made before the measured window: the CPU matmul that makes them may hold a
    # workspace of its own while its output exists (oneDNN packing the head: +0.25 B a logit on an AVX-512 Xeon
    # without native bf16 (this session's machine), none where the suite passed before), the matmul's, not the loss's
    logits = (x @ w.t()).detach().requires_grad_()

    def loss():  # compute_language_model_loss's [s, b] loss, transposed and summed by the caller
        return TECrossEntropy.apply(logits, labels).view(n, 1).transpose(0, 1).sum()

    assert _code("te") == "te_parallel_ce"
    held = _peak_bytes(lambda: loss().backward()) / (n * v) + 2  # + the logits already allocated
    assert held == pytest.approx(_entry("te_parallel_ce") + 4, abs=0.15)


def test_memory_prices_each_impl():
    """Llama-3-8B, 8 x 8192 tokens, FSDP 8: the logits term is 6 / 10 / 2 B a logit (none / native / te) where every
    Megatron-Core plan held 6."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    saved = float(logits_bytes(LLAMA, 8192, 1))
    for impl, total in (("none", 6.0), ("native", 10.0), ("te", 2.0)):
        mem = memory_per_gpu(LLAMA, t, c, stack=resolve(MC, cross_entropy_fusion=impl))
        assert (float(mem["logits"][0]) - saved) / (8192 * LLAMA.vocab) + 4 == pytest.approx(total, rel=1e-6), impl
    assert STACKS[MC].cross_entropy_fusion == "native"  # the registry entry: the fused loss NeMo / Bridge run


def test_time_prices_each_impl(catalog):
    """The loss moves 52 / 14 / 10 B a logit (none: the unfused pass by pass, as ``ce_unfused``; native: the fused
    figure; te: 3 + 2 act): none = the legacy unfused pricing exactly, te the fastest."""
    from dataclasses import replace

    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    c = cands(tp=1, pp=1, dp=8, zero=1, nodes=1)
    hw = hw_for(catalog, "H100-SXM-80GB")
    st = {k: float(step_time(LLAMA, t, c, hw, framework=resolve(MC, cross_entropy_fusion=k))["step_time_s"][0])
          for k in ("none", "native", "te")}
    assert st["te"] < st["native"] < st["none"]
    legacy = replace(resolve(MC), ce_unfused=True)
    assert float(step_time(LLAMA, t, c, hw, framework=legacy)["step_time_s"][0]) == pytest.approx(st["none"], rel=1e-12)
    T, V, micro_batches = 8192.0, LLAMA.vocab, 64 // 8
    d = hw.eff.memory_time(T * V * 14.0, hw.gpu.hbm_bw) - hw.eff.memory_time(T * V * 10.0, hw.gpu.hbm_bw)
    assert st["native"] - st["te"] == pytest.approx(micro_batches * float(d), rel=1e-3)


def test_the_option_its_refusals_and_the_stack_line():
    """The stack line says which kernel the plan priced; the Gaudi fork (core_r0.9.0, Intel TE) offers none and native;
    a stack without Megatron-Core's loss refuses the option; an unknown value is refused."""
    assert "cross_entropy_fusion=te" in resolve(MC, cross_entropy_fusion="te").describe(precision="bf16")
    assert "cross_entropy_fusion=native" in STACKS["megatron-bridge"].describe(precision="bf16")
    assert "cross_entropy_fusion" not in STACKS["torchtitan"].describe(precision="bf16")
    assert resolve(MC, cross_entropy_fusion="none").ce_runs_unfused and not STACKS[MC].ce_runs_unfused
    with pytest.raises(InputError, match="megatron-core-gaudi has no te cross_entropy_fusion"):
        resolve("megatron-core-gaudi", cross_entropy_fusion="te")
    with pytest.raises(InputError, match="torchtitan has no Megatron-Core cross-entropy fusion"):
        resolve("torchtitan", cross_entropy_fusion="native")
    with pytest.raises(InputError, match="'fast'; known: none, native, te"):
        resolve(MC, cross_entropy_fusion="fast")


def test_bad_value_is_one_line_exit_2(main_cli, tmp_path):
    """A value outside none | native | te: one line naming the choices, exit 2 (the field was unknown before)."""
    import json

    job = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 8192, "global_batch": 64, "tokens": 1e12,
           "precision": "bf16", "framework": {"name": "megatron-core", "cross_entropy_fusion": "fast"}},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    code, _, err = main_cli("estimate", p, cwd=tmp_path)  # in-process (suite55: a fresh interpreter was ~1.3 CPU s)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and err.startswith(
        "error: training.framework.cross_entropy_fusion: must be one of none, native, te, got 'fast'")


def test_emit_writes_megatrons_flags():
    """--emit: native is ``--cross-entropy-loss-fusion`` (impl native, Megatron's default, unsaid); te adds
    ``--cross-entropy-fusion-impl te``; none writes neither."""
    def flags(impl):
        fw = {"name": MC, **({"cross_entropy_fusion": impl} if impl else {})}
        f = _spec_flags(_job({"framework": fw}, {"tp": 1, "pp": 1, "zero": 1}))
        return ("--cross-entropy-loss-fusion" in f,
                f[f.index("--cross-entropy-fusion-impl") + 1] if "--cross-entropy-fusion-impl" in f else None)

    assert flags(None) == flags("native") == (True, None)
    assert flags("te") == (True, "te")
    assert flags("none") == (False, None)


def test_validate_maps_the_recipes_that_set_te():
    """Megatron-Bridge's Llama 3 (``_llama3_common``) and Qwen3 MoE recipes set ``cross_entropy_fusion_impl = "te"``:
    their rows run TE's loss; GPT-3 and gpt-oss (native) and the NeMo 2 rows keep the stack's native. The Llama 3 70B
    Megatron-FSDP GB200 row (micro-batch 2): 196.0 -> 187.7 GiB (logits 12.2 -> 4.4); 178.5 since mbmem38 (TE's
    offload keeps the L - N layers it does not offload, and the recipe's ``fsdp_double_buffer``: two gradient units)."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate
    from hardware_catalog import load_catalog

    d = pd.read_csv(validate.MBRIDGE_ALL_CSV)
    row = next(r for r in d.itertuples() if r.id == "mbridgeall_2602a_gb200_llama3-70b_fp8cs_64")
    assert validate.pr2_options(row, MC)["cross_entropy_fusion"] == "te"
    qwen = next(r for r in d.itertuples() if "qwen3-30b" in str(r.model).lower())
    assert validate.pr2_options(qwen, MC)["cross_entropy_fusion"] == "te"
    # DeepSeek-V3 and Kimi K2 run te since recipes37 (tests/test_recipes37.py); gpt-oss states native
    other = [r for r in d.itertuples() if "gpt3" in r.id.lower() or "gpt-oss" in str(r.model).lower()]
    assert other and all("cross_entropy_fusion" not in validate.pr2_options(r, MC) for r in other)
    case = validate.pr2_case(load_catalog(), row)
    mem = memory_per_gpu(case.model, case.training, case.candidates, stack=validate.row_stack(case.stack, case.options),
                         gpu=case.hw.gpu.name)
    assert float(mem["total"][0]) / GiB == pytest.approx(178.5, abs=0.1)
    assert float(mem["logits"][0]) / GiB == pytest.approx(4.41, abs=0.01)
