"""Fine-tuning modes against real peft / bitsandbytes runs on tiny Llama and Mixtral
(tests/data/peft_truth.json, made by tests/make_peft_truth.py): trainable parameters, FLOPs of a
frozen-base step, weight storage (fp32 base + adapters; NF4 with double quantisation) and AdamW
state, each within 5% (most are exact)."""
import json
from pathlib import Path

import pytest

from planner.model.finetune import (adapter_params, finetune_step_flops, frozen_storage_bytes,
                                    trainable_params)
from planner.model.memory import OPTIMIZER_STATE
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.hf import hf_config_to_fields

DATA = Path(__file__).parent / "data"
PEFT = json.loads((DATA / "peft_truth.json").read_text())["families"]
TOL = 0.05
def _variants():
    for fam, rec in sorted(PEFT.items()):
        for name, v in sorted(rec["variants"].items()):
            yield pytest.param(fam, name, v, id=f"{fam}-{name}")


def _job(fam, v, precision="fp32"):
    m = ModelSpec(**hf_config_to_fields(PEFT[fam]["config"]))
    lo = v["lora"]
    if lo is None:
        return m, TrainingSpec(mode="full_finetune", precision=precision)
    targets = lo["target_modules"]
    mode = "qlora" if lo.get("qlora") else "lora"
    # the measurements are peft's: priced on a stack running peft (finetune.EXPERT_ADAPTERS "hf", mlora47)
    return m, TrainingSpec(mode=mode, precision=precision, base_weights=lo.get("base_dtype"), framework=_PEFT_STACK,
                           lora=dict(rank=lo["r"], alpha=lo["lora_alpha"], targets=targets))


_PEFT_STACK = {"name": "hf-trainer"}


def _stream(t, zero=0):
    """Whether the job's residual stream is fp32 at ZeRO ``zero`` (``Stack.fp32_stream``: the rule step and memory
    read)."""
    from planner.model.stacks import from_training
    return bool(from_training(t).fp32_stream(t, zero))


@pytest.mark.parametrize("fam,name,v", _variants())
def test_trainable_params(fam, name, v):
    m, t = _job(fam, v)
    assert trainable_params(m, t) == pytest.approx(v["trainable_params"], rel=TOL)


@pytest.mark.parametrize("fam,name,v", _variants())
def test_step_flops(fam, name, v):
    """Forward and forward+backward FLOPs of one step (eager attention, batch 2 x 64). QLoRA's
    4-bit forward is a bitsandbytes custom op FlopCounterMode misses: compare with
    ``flops_with_gemm_4bit``, which adds it (README)."""
    m, t = _job(fam, v)
    meas = v.get("flops_with_gemm_4bit") or v["flops"]
    f = (finetune_step_flops(m, t, meas["seq"], meas["batch"], 0, flash=False, micro_batch=meas["batch"])
         if v["lora"] else None)
    if f is None:
        from planner.model.flops import step_flops
        f = step_flops(m, meas["seq"], meas["batch"], "none", flash=False)
    assert float(f["fwd"]) == pytest.approx(meas["fwd"], rel=TOL)
    assert float(f["model"]) == pytest.approx(meas["fwd_bwd"], rel=TOL)


@pytest.mark.parametrize("fam,name,v", _variants())
def test_weight_storage_and_optimizer_state(fam, name, v):
    """Stored weights: frozen base (fp32 here, or NF4 + fp32 rest for QLoRA) + fp32 adapters;
    AdamW after one step: two moments per trainable parameter in its dtype (fp32)."""
    m, t = _job(fam, v)
    n_train = trainable_params(m, t)
    if v["lora"] is None:
        stored = 4 * n_train
    else:
        stored = frozen_storage_bytes(m, t) + 4 * adapter_params(m, t)
    assert stored == pytest.approx(v["weight_storage_bytes"]["total"], rel=TOL)
    opt = next(o for o in v["optimizer"] if o["param_dtype"] in ("fp32", "as_loaded"))  # qlora: fp32 adapters
    assert OPTIMIZER_STATE["adamw"] * n_train == pytest.approx(opt["state_bytes"], rel=TOL)


def test_frozen_base_is_about_4n_per_token():
    """The issue's rule of thumb on a full-size model: a LoRA step costs ~4N FLOPs per token
    (2N forward + 2N input gradients) against 6N for full training."""
    m = ModelSpec(**hf_config_to_fields(json.loads((DATA / "hf_configs" / "llama3-8b.json").read_text())))
    t = TrainingSpec(mode="lora", lora=dict(rank=16, targets="qkvo"), seq_len=512)
    from planner.model.flops import step_flops
    full = float(step_flops(m, 512, 1, "none", flash=False)["model"])
    lora = float(finetune_step_flops(m, t, 512, 1, 0, flash=False)["model"])
    assert 0.64 < lora / full < 0.70


#: how each recorded activation precision maps to the planner's: (hf_saved_bytes precision,
#: adapter bytes). "bf16" runs cast the whole peft model (adapters too) to bf16; "as_loaded" is
#: QLoRA's fp32 residual stream (prepare_model_for_kbit_training), or a bf16 base with peft's
#: fp32 adapters (the *_bf16_base variants)
RUN_PRECISION = {"fp32": ("fp32", 4), "bf16": ("bf16", 2)}


def _run_precision(v, a):
    if a["precision"] == "as_loaded":
        return ("bf16", 4) if v["lora"].get("base_dtype") == "bf16" else ("fp32", 4)
    return RUN_PRECISION.get(a["precision"])  # None: amp_bf16 (QLoRA under autocast), tested apart


def _act_cases():
    for fam, rec in sorted(PEFT.items()):
        full = {(a["precision"], a["gradient_checkpointing"], a["batch"], a["seq"]): a
                for a in rec["variants"]["full"]["activations"]}
        for name, v in sorted(rec["variants"].items()):
            for a in v["activations"] if v["lora"] else ():
                if _run_precision(v, a) is None:
                    continue
                prec, ab = _run_precision(v, a)
                ref = full[(prec, a["gradient_checkpointing"], a["batch"], a["seq"])]
                case = f"{a['precision']}-{'gc' if a['gradient_checkpointing'] else 'nogc'}-b{a['batch']}s{a['seq']}"
                yield pytest.param(fam, v, prec, ab, a, ref, id=f"{fam}-{name}-{case}")


@pytest.mark.parametrize("fam,v,prec,ab,meas,full", _act_cases())
def test_frozen_base_saved_activations(fam, v, prec, ab, meas, full):
    """What a frozen base with adapters saves, against peft runs: the difference to full training
    of the same model (``frozen_saved_delta``: frozen linears keep no inputs, adapters keep their
    rank-r intermediates, ParamWrapper keeps W + delta, frozen norms/embedding/head keep less)
    within 0.5% of the whole; the total (``hf_saved_bytes`` + delta) within 5%."""
    from planner.model.finetune import frozen_saved_delta, lora_saved_bytes

    m, t = _job(fam, v, prec)
    b, s, gc = meas["batch"], meas["seq"], meas["gradient_checkpointing"]
    a = {"fp32": 4, "bf16": 2}[prec]
    delta = frozen_saved_delta(m, t, s, b, a, gc, weight_bytes=4 if t.mode == "qlora" else a, adapter_bytes=ab)
    assert delta == pytest.approx(meas["saved_bytes"] - full["saved_bytes"], abs=0.005 * meas["saved_bytes"])
    total = lora_saved_bytes(m, t, fam, s, b, prec, "eager", gc, adapter_bytes=ab)
    assert total == pytest.approx(meas["saved_bytes"], rel=TOL)


@pytest.mark.parametrize("fam,v,prec,ab,meas,full", _act_cases())
def test_memory_model_per_layer_activations(fam, v, prec, ab, meas, full):
    """What the memory model charges for the layers of a lora/qlora plan (L x
    ``frozen_layer_activation_bytes``: without checkpointing, the blocks' saved sets; with it,
    their inputs — the RoPE tables and masks included) against what the peft run saved inside
    its blocks (``by_module`` ``layers.*``) — within 5%."""
    from planner.model.finetune import (PARAM_BYTES, adapter_weight_casts, frozen_layer_activation_bytes,
                                        frozen_saves_precision)

    m, t = _job(fam, v, prec)
    t = t.model_copy(update={"flash_attention": False})  # the runs are eager
    b, s, gc = meas["batch"], meas["seq"], meas["gradient_checkpointing"]
    blocks = sum(n for k, n in meas["by_module"].items() if ".layers." in k)
    keep, rebuild = frozen_layer_activation_bytes(m, t, s, b, 2 if gc else 0, _stream(t), adapter_bytes=ab)
    # peft's ParamWrapper copies of the experts' fp32 adapters over a bf16 base, which the plan keeps with every layer
    # without checkpointing (lora58c) and the recording files apart (``param_casts``)
    base = PARAM_BYTES[frozen_saves_precision(t, _stream(t))]
    casts = 0.0 if gc else sum(adapter_weight_casts(m, t, ab, False, base_bytes=base))
    assert m.layers * float(keep) - casts == pytest.approx(blocks, rel=TOL)
    if gc:  # backward rebuilds one block: its saved set without checkpointing and (hfblk57) the gradients in flight
        # at the walked block backward's peak (``hf_block_rebuild``; tests/test_hfblk57.py measures it), above the saves
        saves = float(frozen_layer_activation_bytes(m, t, s, b, 0, _stream(t), adapter_bytes=ab)[0])
        assert float(rebuild) > saves


def _qlora_amp_cases():
    for fam, rec in sorted(PEFT.items()):
        v = rec["variants"]["qlora_r16_all_linear"]
        for a in v["activations"]:
            if a["precision"] == "amp_bf16" and a["gradient_checkpointing"]:
                yield pytest.param(fam, v, a, id=f"{fam}-gc-b{a['batch']}s{a['seq']}")


@pytest.mark.parametrize("fam,v,meas", _qlora_amp_cases())
def test_qlora_under_autocast_keeps_fp32_checkpoints(fam, v, meas):
    """QLoRA as HF Trainer's bf16=True runs it (torch.autocast over the fp32 non-4-bit weights,
    gradient checkpointing): each checkpointed layer keeps its fp32 input — 4 bytes per hidden
    element, the residual stream stays fp32 — as the memory model charges. (The layer rebuilt
    in backward is charged from the fp32 table: README, measured errors.)"""
    from planner.model.finetune import frozen_layer_activation_bytes

    m, t = _job(fam, v, "bf16")
    b, s = meas["batch"], meas["seq"]
    t = t.model_copy(update={"flash_attention": False})  # the runs are eager
    layer1 = sum(n for k, n in meas["by_module"].items() if ".layers.1." in k + ".")
    assert layer1 == 4 * m.hidden * b * s
    blocks = sum(n for k, n in meas["by_module"].items() if ".layers." in k)  # + RoPE tables, mask
    keep = float(frozen_layer_activation_bytes(m, t, s, b, 2, _stream(t))[0])
    assert m.layers * keep == pytest.approx(blocks, rel=TOL)


OTHER = json.loads((DATA / "peft_truth.json").read_text())["other_families_all_linear"]


def _other_job(v, precision="fp32"):
    m = ModelSpec(**hf_config_to_fields(v["config"]))
    lo = v["lora"]
    return m, TrainingSpec(mode="lora", precision=precision, framework=_PEFT_STACK,
                           lora=dict(rank=lo["r"], alpha=lo["lora_alpha"], targets=lo["target_modules"]))


@pytest.mark.parametrize("fam,v", [pytest.param(f, v, id=f) for f, v in sorted(OTHER.items())])
def test_all_linear_other_families(fam, v):
    """peft's "all-linear" where it resolves differently: through its transformers-5 MoE
    conversion (Qwen3-MoE, DeepSeek-V3: router + fused experts by parameter, no adapters on the
    shared experts or DeepSeek's dense first layer), without it (gpt-oss: attention only; Llama 4:
    attention, shared expert and its nn.Linear router), on fused linears (Phi-3's qkv_proj and
    gate_up_proj, GPT-2's Conv1D c_attn: one adapter each, ``HF_MODULES``) — trainable parameters
    and FLOPs of one step, exact. peft's adapted Llama 4 cannot run (its router returns a tuple):
    parameters only."""
    m, t = _other_job(v)
    assert trainable_params(m, t) == v["trainable_params"]
    f = v.get("flops")
    if f is None:
        assert fam == "llama4_text" and "tuple" in v["forward_error"]
        return
    got = finetune_step_flops(m, t, f["seq"], f["batch"], 0, flash=False, micro_batch=f["batch"])
    assert float(got["fwd"]) == f["fwd"]
    assert float(got["model"]) == f["fwd_bwd"]


def test_fused_modules_take_one_adapter_each():
    """Phi-3 (``modeling_phi3.py``): peft puts one A/B pair on qkv_proj (B: q + 2kv rows) and one
    on gate_up_proj (B: 2f rows) — the targets peft recorded — and the named set "qkvo" reaches
    the fused qkv_proj through its parts."""
    from planner.model.finetune import adapted

    v = OTHER["phi3"]
    m, t = _other_job(v)
    names = {L.name for *_, L, r in adapted(m, t) if r}
    assert names == {x.split(".")[-1] for x in v["targets"]} == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
    qkvo = t.model_copy(update={"lora": t.lora.model_copy(update={"targets": "qkvo"})})
    assert {L.name for *_, L, r in adapted(m, qkvo) if r} == {"qkv_proj", "o_proj"}
    r, h = t.lora.rank, m.hidden
    assert adapter_params(m, qkvo) == m.layers * r * ((h + m.q_dim + 2 * m.kv_dim) + (m.q_dim + h))


def _fused_act_cases():
    for fam, v in sorted(OTHER.items()):
        full = {(a["precision"], a["gradient_checkpointing"], a["batch"], a["seq"]): a
                for a in v.get("full_activations", ())}
        for a in v.get("activations", ()):
            case = f"{a['precision']}-{'gc' if a['gradient_checkpointing'] else 'nogc'}-b{a['batch']}s{a['seq']}"
            ref = full[(a["precision"], a["gradient_checkpointing"], a["batch"], a["seq"])]
            yield pytest.param(fam, v, a, ref, id=f"{fam}-{case}")


@pytest.mark.parametrize("fam,v,meas,full", _fused_act_cases())
def test_fused_families_saved_activations(fam, v, meas, full):
    """Saved activations of LoRA all-linear on the fused families (Phi-3; GPT-2 with LayerNorm,
    learned positions and the embedding dropout, ``LAYERNORM_INPUT``), fp32 and pure bf16 (the
    adapters cast with the model): the difference to full training exact, the memory model's
    blocks exact, the total within 0.01% (the full-training table's own residue)."""
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_saved_delta, lora_saved_bytes

    prec = meas["precision"]
    a = {"fp32": 4, "bf16": 2}[prec]
    m, t = _other_job(v, prec)
    b, s, gc = meas["batch"], meas["seq"], meas["gradient_checkpointing"]
    assert frozen_saved_delta(m, t, s, b, a, gc, weight_bytes=a, adapter_bytes=a) == meas["saved_bytes"] - full["saved_bytes"]
    total = lora_saved_bytes(m, t, fam, s, b, prec, "eager", gc, adapter_bytes=a)
    assert total == pytest.approx(meas["saved_bytes"], rel=1e-4)
    t = t.model_copy(update={"flash_attention": False})
    blocks = sum(n for k, n in meas["by_module"].items() if ".layers." in k or ".h." in k)
    keep, _ = frozen_layer_activation_bytes(m, t, s, b, 2 if gc else 0, _stream(t), adapter_bytes=a)
    assert m.layers * float(keep) == pytest.approx(blocks, rel=1e-9)


# ------------------------------------------------------------------------------ step time
class _FlopCounting:
    """Efficiency stand-in under which a GEMM takes one second per FLOP (2 m n k per batch
    member) and memory traffic nothing: ``step_time``'s ``compute_gemm`` then reads the GEMM
    work the time charges, in FLOPs."""

    @staticmethod
    def make(sm_count):
        import numpy as np
        from planner.hardware.efficiency import Efficiency

        class FlopCounting(Efficiency):
            def gemm_time(self, m, n, k, peak_flops, hbm_bw, bytes_per_el=2.0, batch=1.0, out_bytes=None):
                return 2 * np.asarray(m, float) * np.asarray(n, float) * np.asarray(k, float) * np.asarray(batch, float)

            def memory_time(self, nbytes, hbm_bw, kernels=0):
                return 0.0 * np.asarray(nbytes, float)

        return FlopCounting(sm_count=sm_count)


def _time_cases():
    for fam, rec in sorted(PEFT.items()):
        for name, v in sorted(rec["variants"].items()):
            if v["lora"]:
                yield pytest.param(*_job(fam, v), v.get("flops_with_gemm_4bit") or v["flops"], id=f"{fam}-{name}")
    for fam, v in sorted(OTHER.items()):
        if v.get("flops"):
            yield pytest.param(*_other_job(v), v["flops"], id=f"{fam}-all_linear")


@pytest.mark.parametrize("m,t,meas", _time_cases())
def test_step_time_gemm_work_is_the_counted_flops(catalog, m, t, meas):
    """The GEMMs the step time charges a frozen-base micro-batch (base forward and input
    gradients, the adapters' forward and both gradients, peft's per-call ParamWrapper deltas —
    two baddbmm's per forward — and their factor gradients, the full weight gradient of the
    experts and router it wraps, less layer 0's skipped input gradients) equal the FLOPs
    FlopCounterMode counted on the peft run, less the attention core, within 1%. (Before the
    frozen-base GEMMs were charged the Mixtral all-linear r16 time missed 47% of them.) The runs' experts ran
    transformers' eager loop (one GEMM an expert at its rows): the stack runs it here; grouped_mm's one kernel pads
    each expert's rows to whole tiles (moe ``grouped_mm_time``, hfmoe53), work the counter does not see."""
    from dataclasses import replace

    from planner.model.finetune import finetune_flops_per_token
    from planner.model.stacks import resolve
    from planner.model.step_time import step_time
    from test_step_time import cands, hw_for

    b, s = meas["batch"], meas["seq"]
    t = t.model_copy(update=dict(seq_len=s, global_batch=b, micro_batch=b, flash_attention=False))
    hw = hw_for(catalog)
    hw = replace(hw, eff=_FlopCounting.make(hw.eff.sm_count))
    out = step_time(m, t, cands(mb=b), hw, framework=resolve("hf-trainer", experts_implementation="eager"))
    if m.moe is not None:  # the padded tiles of the grouped kernel only add work
        grouped = step_time(m, t, cands(mb=b), hw, framework="hf-trainer")
        assert float(grouped["compute_gemm"][0]) >= float(out["compute_gemm"][0])
    attention = 3 * finetune_flops_per_token(m, t, s)["attention_fwd"] * b * s
    assert float(out["compute_gemm"][0]) == pytest.approx(meas["fwd_bwd"] - attention, rel=0.01)
    # the eager attention core's batched GEMMs too (MLA: QK^T over d_nope + d_rope, PV over d_v)
    assert float(out["compute_gemm"][0] + out["compute_attention"][0]) == pytest.approx(meas["fwd_bwd"], rel=0.01)


def test_lora_plan_flops_use_the_searched_micro_batch(catalog):
    """peft's per-call delta FLOPs (Mixtral's experts through ParamWrapper) are paid once per
    micro-batch: the plan's FLOPs and MFU use the micro-batch the search picked, not
    ``training.micro_batch`` (unset here, which used to mean 1: 64 calls instead of 8 at mb 8,
    +11% FLOPs and MFU on this job)."""
    from planner.model import physics
    from planner.model.step_time import step_time
    from planner.search.recommend import recommend
    from planner.spec.load import load_job_dict
    from test_step_time import cands, hw_for

    job = load_job_dict({"model": {"preset": "mixtral-8x7b"},
                         "training": {"mode": "lora", "lora": {"rank": 16, "targets": "all-linear"}, "seq_len": 1024, "tokens": 1e9,
                                      "global_batch": 64, "precision": "bf16", "framework": {"name": "hf-trainer"}},
                         "constraints": {"gpus": ["H100-SXM-80GB"], "max_gpus": 8}})
    m, t = job.model, job.training
    assert t.micro_batch is None
    out = step_time(m, t, cands(mb=[1, 8], dp=1, nodes=1), hw_for(catalog))
    for i, mb in enumerate((1, 8)):
        assert float(out["model_flops"][i]) == float(finetune_step_flops(m, t, 1024, 64, 0, micro_batch=mb)["model"])
    assert out["model_flops"][0] > 1.1 * out["model_flops"][1]
    plan = recommend(job, catalog=catalog, top=1).best
    mb, rc = plan.config.micro_batch, 2 if plan.config.recompute == "full" else 0
    assert mb > 1
    assert plan.flops_per_step == float(finetune_step_flops(m, t, 1024, 64, rc, t.flash_attention, micro_batch=mb)["model"])
    peak = physics.datasheet_peak(catalog.gpu(plan.hardware.gpu), t.precision)
    assert plan.mfu == pytest.approx(plan.flops_per_step / (plan.step_time_s * plan.hardware.gpus * peak), rel=1e-9)


# ------------------------------------------------------------- LoRA on Megatron-Core's fused modules
def _llama2(name):
    from planner.spec.presets import PRESETS

    return ModelSpec(**PRESETS[name])


@pytest.mark.parametrize("name,n_adapter", [("llama2-7b", 32 * 32 * (4096 + 3 * 4096)),
                                            ("llama2-70b", 80 * 32 * (8192 + 8192 + 2 * 1024))])
@pytest.mark.parametrize("targets", [["attention_qkv"], ["linear_qkv"]])
def test_nemo_lora_qkv_adapter_parameters(name, n_adapter, targets):
    """NeMo's LoRA on ``attention_qkv`` (``LoraKQVAdapter``, a ``ParallelLinearAdapter``: linear_in
    hidden -> adapter_dim, linear_out adapter_dim -> q + 2 kv; megatron_gpt_finetuning_config.yaml
    ``adapter_dim: 32``): one A and one B per layer on the fused linear_qkv, counted by hand from
    those shapes (Llama-2-70B: 64 query heads, 8 KV heads of 128). peft's separate q/k/v
    adapters hold two more A's (3 x 32 x hidden) per layer."""
    m = _llama2(name)
    t = TrainingSpec(mode="lora", lora=dict(rank=32, targets=targets))
    assert adapter_params(m, t) == n_adapter
    peft = TrainingSpec(mode="lora", lora=dict(rank=32, targets=["q_proj", "k_proj", "v_proj"]))
    assert adapter_params(m, peft) - n_adapter == m.layers * 2 * 32 * m.hidden


def test_adapters_are_timed_by_the_adapter_timer():
    """``frozen_layer_gemms`` times the adapters' factors with ``adapter_gemm`` (16-bit: NeMo's
    ParallelLinearAdapter is megatron.core.tensor_parallel linears, outside TE's fp8) and only the
    frozen base's skipped layer-0 input gradient with the base timer."""
    from planner.model.finetune import frozen_layer_gemms

    m = _llama2("llama2-7b")
    t = TrainingSpec(mode="lora", lora=dict(rank=32, targets=["attention_qkv"]))
    base, adapter = [], []

    def rec(calls):
        def g(M, N, K, wg=None, batch=1.0):
            calls.append((N, K, wg))
            return 1.0, 1.0
        return g

    frozen_layer_gemms(m, t, False, 4096.0, 1.0, 1.0, 1.0, rec(base), rec(adapter))
    h, qkv = m.hidden, m.q_dim + 2 * m.kv_dim
    assert sorted(adapter) == sorted([(32, h, 1.0), (qkv, 32, 1.0), (32, h, 0.0)])  # A, B, layer 0's A dgrad
    assert base == [(qkv, h, 0.0)]  # layer 0's frozen QKV dgrad (no gradient into the embedding)


def test_qlora_with_the_stack_open_plans_on_hf_code():
    """Megatron-Core/NeMo run no bitsandbytes base, so an open training.framework with mode: qlora is
    the HF Trainer (defaults.FRAMEWORK_BY_MODE); LoRA keeps the default stack; a named stack is kept."""
    from planner.model.stacks import from_training
    from planner.spec import load_job_dict

    def stack(**t):
        return from_training(load_job_dict({"model": {"preset": "llama3-8b"},
                                            "training": {"seq_len": 2048, "global_batch": 8, "tokens": 1e9, **t}}).training).name

    assert stack(mode="qlora") == "hf-trainer"
    assert stack(mode="lora") == "megatron-core"
    assert stack(mode="qlora", framework="deepspeed") == "deepspeed"
