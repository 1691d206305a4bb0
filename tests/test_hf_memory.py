"""Live tensor memory of one HF training step (planner/model/activations_hf.py ``hf_step_memory``)
against the tensor-level counts recorded from real transformers 5.23 runs
(tests/data/hf_activations.json, ``live_*``: parameters and inputs excluded, allocator caching
not visible on CPU; see tests/data/README.md). No torch needed."""
import json
from pathlib import Path

import pytest

from planner.model.activations_hf import hf_attn_impl, hf_step_memory, hf_table_precision
from planner.spec import ModelSpec
from planner.spec.hf import hf_config_to_fields

DATA = Path(__file__).parent / "data"
ACTS = json.loads((DATA / "hf_activations.json").read_text())["families"]
FLOPS = json.loads((DATA / "hf_flops.json").read_text())["families"]
MOE_EAGER_LOOP = {"mixtral", "qwen3_moe", "deepseek_v3", "deepseek_v2", "gpt_oss"}


def _spec(fam) -> ModelSpec:
    fields = hf_config_to_fields(FLOPS[fam]["resolved_config"])
    if fam == "llama4_text":
        fields["moe"]["all_experts_compute"] = True  # the recorded HF kernel (tests/test_families.py)
    return ModelSpec(**fields)


def _errors(fam, checkpointing):
    m = _spec(fam)
    mt = FLOPS[fam]["resolved_config"]["model_type"]
    out = {"after": [], "peak_forward": [], "peak_step": [], "grads": []}
    for c in ACTS[fam]["cases"]:
        if c["gradient_checkpointing"] != checkpointing:
            continue
        r = hf_step_memory(m, mt, c["seq"], c["batch"], c["precision"], c["attn_implementation"], checkpointing)
        out["after"].append(r.after_forward / c["live_after_forward_bytes"] - 1)
        out["peak_forward"].append(r.peak_forward / c["live_peak_forward_bytes"] - 1)
        out["peak_step"].append(r.peak_step / c["live_peak_fwd_bwd_bytes"] - 1)
        out["grads"].append(r.grads / c["grad_bytes"] - 1)
    return {k: max(v, key=abs) for k, v in out.items()}


def _peak_errors():
    """The worst relative error of the forward and step peaks per (family, quantity, attention,
    precision, checkpointing) class over the recorded shapes."""
    worst = {}
    for fam in sorted(ACTS):
        m = _spec(fam)
        mt = FLOPS[fam]["resolved_config"]["model_type"]
        for c in ACTS[fam]["cases"]:
            gc = c["gradient_checkpointing"]
            r = hf_step_memory(m, mt, c["seq"], c["batch"], c["precision"], c["attn_implementation"], gc)
            for q, got, truth in (("peak_forward", r.peak_forward, c["live_peak_forward_bytes"]),
                                  ("peak_step", r.peak_step, c["live_peak_fwd_bwd_bytes"])):
                key = (fam, q, c["attn_implementation"], c["precision"], gc)
                e = got / truth - 1
                if key not in worst or abs(e) > abs(worst[key]):
                    worst[key] = e
    return worst


WORST = _peak_errors()

#: classes of case (family, quantity, attention, precision, checkpointing) whose peak the
#: liveness walk misses by more than 5%: the measured worst error and why (README "Measured
#: errors"); each is a strict xfail below, and may not get worse than recorded (+0.5%). None
#: left: the last six (DeepSeek-V2/V3 AMP forward, Llama 4 AMP, Gemma 3 eager AMP step, Mixtral's
#: uneven routing) were itemised against live-storage traces of the real runs
KNOWN_MISSES: dict[tuple, tuple[float, str]] = {}


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_step_memory_without_checkpointing(fam):
    """Everything the forward leaves alive (saved tensors, AMP weight copies, logits, the
    DynamicCache) within 5% for every family, precision and attention; the gradients exactly."""
    e = _errors(fam, False)
    assert abs(e["grads"]) < 1e-9
    assert abs(e["after"]) < 0.05, e


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_step_memory_with_checkpointing(fam):
    """Under gradient checkpointing what outlives the forward (the blocks' inputs, the head's
    saves, the head's AMP weight copy) within 5%."""
    e = _errors(fam, True)
    assert abs(e["after"]) < 0.05, e


@pytest.mark.parametrize("fam", sorted(ACTS))
def test_peaks_within_5_percent(fam):
    """The forward's and the whole step's peak (``hf_step_memory``'s liveness walk) within 5% of
    the recorded live-tensor peaks for every case of the family: fp32/bf16/AMP, eager/sdpa,
    with and without gradient checkpointing, 4 shapes — but the KNOWN_MISSES, which may not get
    worse than recorded."""
    bad = {}
    for key, e in WORST.items():
        if key[0] != fam:
            continue
        if key in KNOWN_MISSES:
            assert abs(e) <= abs(KNOWN_MISSES[key][0]) + 0.005, (key, e)
        elif abs(e) >= 0.05:
            bad[key] = round(e, 4)
    assert not bad, bad


@pytest.mark.parametrize("key", sorted(KNOWN_MISSES), ids=lambda k: "-".join(map(str, k)))
@pytest.mark.xfail(strict=True, reason="KNOWN_MISSES: the liveness walk misses these by more than 5%")
def test_known_peak_misses(key):
    """Each recorded miss still misses (strict): one that is fixed must leave KNOWN_MISSES (none
    are left: every class is within 5%, ``test_peaks_within_5_percent``)."""
    assert abs(WORST[key]) < 0.05, (key, WORST[key], KNOWN_MISSES[key][1])


def test_busiest_expert_bound_against_simulated_routing():
    """The busiest expert's load the checkpointed MoE forward takes (``busiest_expert_tokens``,
    a sub-gamma maximal inequality) against an independent figure: the mean busiest load of
    simulated uniform top-k routing (each token k distinct experts at random). It bounds it, and
    by no more than 15%."""
    import numpy as np

    from planner.model.activations_hf import busiest_expert_tokens

    rng = np.random.default_rng(0)
    for k, E, T in ((2, 4, 64), (2, 8, 128), (1, 16, 256), (8, 64, 1024)):
        busiest = [np.bincount(np.argsort(rng.random((T, E)), axis=1)[:, :k].ravel(), minlength=E).max()
                   for _ in range(400)]
        sim = float(np.mean(busiest))
        bound = busiest_expert_tokens(k, E, T)
        assert k * T / E < sim <= bound <= 1.15 * sim, (k, E, T, sim, bound)


def test_walk_can_fail():
    """The peaks are compared with the truth, not with themselves: a walk that forgets the
    loss' vocab-wide gradients misses the no-checkpointing step peak of the dense families."""
    c = next(c for c in ACTS["llama"]["cases"] if not c["gradient_checkpointing"])
    r = hf_step_memory(_spec("llama"), "llama", c["seq"], c["batch"], c["precision"], c["attn_implementation"])
    assert abs((r.peak_step - r.loss_transient) / c["live_peak_fwd_bwd_bytes"] - 1) > 0.05


def test_amp_changes_memory_like_the_truth():
    """Pure bf16 vs AMP, same model and shape: AMP adds the fp32 stream, the per-linear bf16
    copies and the weight casts; the planner's difference has the measured sign and size (±5%)."""
    m = _spec("llama")
    cases = {(c["precision"]): c for c in ACTS["llama"]["cases"]
             if c["attn_implementation"] == "sdpa" and not c["gradient_checkpointing"]
             and (c["batch"], c["seq"]) == (2, 128)}
    bf16 = hf_step_memory(m, "llama", 128, 2, "bf16", "sdpa")
    amp = hf_step_memory(m, "llama", 128, 2, "amp_bf16", "sdpa")
    truth = cases["amp_bf16"]["live_after_forward_bytes"] - cases["bf16"]["live_after_forward_bytes"]
    assert amp.after_forward - bf16.after_forward == pytest.approx(truth, rel=0.05)
    assert amp.weight_casts == cases["amp_bf16"]["param_casts_bytes"]


def _hf_job(mixed_precision, framework="hf-trainer", recompute="none"):
    from planner.spec import load_job_dict

    fw = {"name": framework}
    if mixed_precision:
        fw["mixed_precision"] = mixed_precision
    return load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9,
                     "recompute": recompute, "framework": fw},
        "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})


def _tiny_job(fam, case, mixed_precision, framework="hf-trainer", zero=0, dp=1, accumulate=1, pp=1):
    """A job on the tiny model whose HF runs are recorded, at a recorded case's shape (an MoE model with the eager
    expert loop the cases ran: transformers' default is grouped_mm, tests/test_hfmoe52.py)."""
    from planner.spec import load_job_dict

    experts = {"experts_implementation": "eager"} if fam in MOE_EAGER_LOOP else {}

    return load_job_dict({
        "model": hf_config_to_fields(FLOPS[fam]["resolved_config"]),
        "training": {"seq_len": case["seq"], "global_batch": case["batch"] * dp * accumulate,
                     "micro_batch": case["batch"], "tokens": 1e6,
                     "recompute": "full" if case["gradient_checkpointing"] else "none",
                     "flash_attention": case["attn_implementation"] == "sdpa",
                     "framework": {"name": framework, "mixed_precision": mixed_precision, **experts}},
        "parallel": {"tp": 1, "pp": pp, "dp": dp, "zero": zero},
        "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1, "gpus_per_node": dp * pp}})


def _walked(fam, case, **kw):
    """``hf_step_memory``'s walked peak (forward or step, the larger) for a recorded case. By default with the model
    output held through ``backward``, as the recording harness holds it (``out`` read after ``out.loss.backward()``,
    make_hf_common.training_step): what the ``live_*`` truth measures; ``output_held=False`` is what the hf-trainer
    and deepspeed stacks price (HF Trainer's ``compute_loss`` returns the loss alone: the logits and the
    DynamicCache are freed before the backward)."""
    mt = FLOPS[fam]["resolved_config"]["model_type"]
    r = hf_step_memory(_spec(fam), mt, case["seq"], case["batch"], case["precision"],
                       case["attn_implementation"], case["gradient_checkpointing"], **kw)
    return max(r.peak_forward, r.peak_step), r


@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-gc", "gc"])
@pytest.mark.parametrize("precision", ["bf16", "amp_bf16"])
@pytest.mark.parametrize("fam", ["llama", "mixtral", "gpt2"])
def test_estimate_on_hf_trainer_is_the_walked_peak(fam, precision, checkpointing):
    """``planner estimate`` of the tiny recorded models on hf-trainer (one micro-batch per step:
    autograd keeps the ``.grad`` tensors, autocast its weight copies — as in the recorded runs):
    activations + logits is the walk's peak under the Trainer's loop (the model output freed before the
    backward); the same walk with the output held, as the recording harness holds it, is within 5% of the measured
    ``live_peak_fwd_bwd_bytes`` (which leaves out the parameters and inputs, as the plan's
    weight term holds the parameters), and the Trainer's is below it by at most the logits and the DynamicCache
    (``HFStepMemory.logits`` + ``kv_cache``); the AMP weight term is the fp32 storage alone (4 bytes per
    parameter: autocast's copies are in the walk); the gradient term DDP's bucket on two ranks,
    nothing on one (no DDP wrapper in one process: the ``.grad`` tensors are the walk's)."""
    from planner.spec.params import count_params
    from planner.workloads.training import estimate_job

    mp = {"bf16": "bf16", "amp_bf16": "amp"}[precision]
    n = count_params(_spec(fam)).total
    cases = [c for c in ACTS[fam]["cases"]
             if c["precision"] == precision and c["gradient_checkpointing"] == checkpointing]
    assert len(cases) == 8  # 4 shapes x eager/sdpa
    for c in cases:
        mem = estimate_job(_tiny_job(fam, c, mp)).memory_per_gpu_bytes
        # the plan's table: GPT-2 under a GPU's autocast lists (hfmem48), the recorded CPU-autocast one elsewhere; its
        # attention a GPU's (GPT-2's sdpa: the fused kernel, the CPU's math path not, sdpa49)
        planned = dict(c, precision=hf_table_precision(precision, True, FLOPS[fam]["resolved_config"]["model_type"]),
                       attn_implementation=hf_attn_impl(_spec(fam), True, c["attn_implementation"]))
        walked, _ = _walked(fam, planned, output_held=False)
        harness, h = _walked(fam, c)
        got = mem.activations + mem.logits
        assert got == pytest.approx(walked, rel=1e-12)
        assert abs(harness / c["live_peak_fwd_bwd_bytes"] - 1) < 0.05, (c["seq"], c["batch"], c["attn_implementation"])
        if planned["precision"] == precision:  # (GPT-2's GPU table keeps more than the recorded CPU run)
            assert harness - h.logits - h.kv_cache <= got <= harness
        assert mem.weights == pytest.approx(n * (4 if precision == "amp_bf16" else 2))
        assert mem.grads == 0.0  # one process: no DDP reducer buckets
        ddp = estimate_job(_tiny_job(fam, c, mp, dp=2)).memory_per_gpu_bytes
        assert ddp.activations + ddp.logits == pytest.approx(walked, rel=1e-12)
        assert ddp.grads == pytest.approx(n * 4)  # DDP's buckets (fp32 gradient accumulation)


def test_walked_gradients_and_weight_copies_follow_the_stack():
    """Which gradients and autocast copies the walk keeps (memory_activations._hf_walk_arrays): DDP keeps the
    ``.grad`` tensors besides its buckets (with accumulation all of them, from the first
    micro-batch on); ZeRO-2 reduces and frees each gradient; at ZeRO-2/3 FSDP gathers the weights in bf16, so no
    autocast copies and a bf16 stream: the bf16 module's walk (``Stack.fp32_stream``, hffsdp47; until then ZeRO-2 kept
    the copies, and both the fp32 stream). The walks are the Trainer loop's (the model output freed before the
    backward)."""
    from planner.workloads.training import estimate_job

    c = next(c for c in ACTS["llama"]["cases"] if c["precision"] == "amp_bf16"
             and not c["gradient_checkpointing"] and c["attn_implementation"] == "sdpa" and c["batch"] == 2)

    def walked(job):
        mem = estimate_job(job).memory_per_gpu_bytes
        return mem.activations + mem.logits

    kept, r = _walked("llama", c, output_held=False)
    passed, _ = _walked("llama", c, output_held=False, keep_grads=False)
    bare, _ = _walked("llama", c, output_held=False, keep_grads=False, weight_casts=False)
    assert bare < passed < kept + r.grads
    cb = next(x for x in ACTS["llama"]["cases"] if x["precision"] == "bf16" and x["seq"] == c["seq"]
              and x["batch"] == c["batch"] and x["attn_implementation"] == "sdpa" and not x["gradient_checkpointing"])
    ds_passed, ds = _walked("llama", cb, output_held=False, keep_grads=False)[0], _walked("llama", cb, output_held=False)[1]
    assert ds_passed < bare
    assert walked(_tiny_job("llama", c, "amp", zero=0, dp=2)) == pytest.approx(kept)
    assert walked(_tiny_job("llama", c, "amp", zero=0, dp=2, accumulate=4)) == pytest.approx(passed + r.grads)
    assert walked(_tiny_job("llama", c, "amp", zero=2, dp=2)) == pytest.approx(ds_passed)
    assert walked(_tiny_job("llama", c, "amp", zero=3, dp=2)) == pytest.approx(ds_passed)
    # the deepspeed stack (bf16 engine): no autocast, pure-bf16 rows. Its ZeRO-1 keeps the gradients
    # whatever overlap_comm says (engine.py forces overlap_comm off at stage 1: no reduce-and-remove
    # hooks), so with accumulation all of them from the first micro-batch on, as DDP's; ZeRO-2 removes them
    assert walked(_tiny_job("llama", cb, "bf16", framework="deepspeed", zero=1, dp=2)) == pytest.approx(
        _walked("llama", cb, output_held=False)[0])
    assert walked(_tiny_job("llama", cb, "bf16", framework="deepspeed", zero=1, dp=2, accumulate=4)) == pytest.approx(
        ds_passed + ds.grads)
    assert walked(_tiny_job("llama", cb, "bf16", framework="deepspeed", zero=2, dp=2, accumulate=4)) == pytest.approx(
        ds_passed)
    # bf16 ZeRO-0 is BF16_Optimizer: the bf16 .grad outlive the step (cleared when the next backward starts), so
    # held through every forward even without accumulation
    assert walked(_tiny_job("llama", cb, "bf16", framework="deepspeed", zero=0, dp=2)) == pytest.approx(
        ds_passed + ds.grads)


def test_frozen_base_hf_plans_keep_their_tables_and_pipelines_are_refused():
    """LoRA (finetune.frozen_layer_activation_bytes: peft's saves, no base gradients — the walk
    makes every weight's gradient) keeps the table's pieces: the head/loss term stays the HF
    table's. A pipelined plan on an HF-code stack is refused (planner.model.stack_rules "hf-pp":
    the transformers model is one module, accelerate has no pipeline axis)."""
    from planner.errors import InputError

    from planner.model.activations_hf import hf_activations
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    m = _spec("llama")
    c = next(c for c in ACTS["llama"]["cases"] if c["precision"] == "bf16" and not c["gradient_checkpointing"]
             and c["attn_implementation"] == "sdpa")
    r = hf_activations(m, c["seq"], c["batch"], "bf16", "sdpa", False, "llama", output_held=False)
    with pytest.raises(InputError, match="parallel.pp"):
        estimate_job(_tiny_job("llama", c, "bf16", pp=2, dp=1, accumulate=4))
    job = _tiny_job("llama", c, "bf16").model_dump()
    job["training"]["mode"] = "lora"
    lora = estimate_job(load_job_dict(job)).memory_per_gpu_bytes
    assert lora.logits == pytest.approx(r.outside + r.logits_transient)
    assert lora.activations + lora.logits != pytest.approx(_walked("llama", c, output_held=False)[0])


def test_recommend_winner_on_hf_trainer_fits_by_the_walked_peak():
    """The recommended plan of a Llama-3-8B job on hf-trainer (AMP) fits with the walked step
    memory: its activations + logits are the walk under the winner's micro-batch, recompute and
    ZeRO stage (the bf16 module's at ZeRO-2/3), and its total is within the plan's memory limit."""
    from hardware_catalog import load_catalog
    from planner.model.activations_hf import hf_step_memory
    from planner.spec import ModelSpec, load_job_dict
    from planner.spec.presets import PRESETS
    from planner.workloads.training import recommend

    job = load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e9,
                     "framework": {"name": "hf-trainer", "mixed_precision": "amp"}},
        "cluster": {"gpu": "H100-SXM-80GB"}, "constraints": {"max_gpus": 8}})
    best = recommend(job, load_catalog(), simulate=False).best
    cfg, mem = best.config, best.memory_per_gpu_bytes
    assert best.fits and mem.total <= mem.limit
    assert cfg.pp == 1 and cfg.offload == "none"
    m = ModelSpec(**PRESETS["llama3-8b"])
    keep = cfg.zero == 0 or (cfg.zero == 1 and not best.stack["overlap_grad_reduce"])
    accumulate = cfg.num_microbatches > 1
    # FSDP (ZeRO-2/3 on the HF Trainer) gathers bf16 weights: no autocast copies, a bf16 stream (hffsdp47)
    fsdp = cfg.zero >= 2
    r = hf_step_memory(m, "llama", 2048, cfg.micro_batch, "bf16" if fsdp else "amp_bf16", "sdpa",
                       cfg.recompute == "full", keep_grads=keep and not accumulate, weight_casts=not fsdp,
                       output_held=False, fused_ce=bool(best.stack.get("fused_cross_entropy", False)))
    walked = max(r.peak_forward, r.peak_step) + (r.grads if keep and accumulate else 0.0)
    assert mem.activations + mem.logits == pytest.approx(walked / (cfg.tp * cfg.cp))


def test_megatron_keeps_the_fused_table_and_refuses_the_option():
    from planner.errors import InputError
    from planner.model.stacks import resolve

    with pytest.raises(InputError, match="mixed_precision"):
        resolve("megatron-core", mixed_precision="amp")
    with pytest.raises(InputError, match="mixed_precision"):
        resolve("hf-trainer", mixed_precision="fp16")
    assert resolve("megatron-core").mixed_precision is None
    assert resolve("deepspeed").mixed_precision == "bf16" and resolve("hf-trainer").mixed_precision == "amp"


def test_walked_and_table_rows_in_one_batch_match_row_by_row():
    """A search batch mixing walked rows (pp 1) with table rows (pp > 1) and ZeRO stages gives
    every row what it gets alone (the walk and the pieces are chosen per row)."""
    import numpy as np

    from planner.layout import Candidates
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import resolve

    job = _hf_job("amp")
    n = 8
    c = Candidates(tp=np.array([1, 1, 2, 1, 1, 2, 1, 1]), pp=np.array([1, 2, 1, 4, 1, 2, 1, 2]),
                   dp=np.array([8, 4, 4, 2, 8, 2, 8, 4]), cp=1, ep=1, vpp=1,
                   zero=np.array([0, 1, 2, 3, 3, 0, 1, 2]), mb=np.array([1, 2, 1, 1, 2, 1, 4, 1]),
                   rc=np.array([0, 2, 2, 0, 2, 0, 0, 2]), sp=False, schedule=0, gpus_per_node=8, nodes=1)
    st = resolve("hf-trainer")
    whole = memory_per_gpu(job.model, job.training, c, stack=st)
    for i in range(n):
        one = memory_per_gpu(job.model, job.training, c.take(np.array([i])), stack=st)
        for k in ("weights", "activations", "logits", "total"):
            assert whole[k][i] == pytest.approx(one[k][0]), (i, k)
