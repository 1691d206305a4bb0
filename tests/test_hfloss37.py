"""hfloss37: the walked HF step prices what HF Trainer's loop holds (the model output freed before ``backward``),
and transformers' flash attention implementations are refused on the GPUs their kernel packages do not run on."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job
from test_hf_memory import ACTS, FLOPS, _spec
from test_memory_validation import _logits_case, _peak_bytes

from planner.model.activations_hf import hf_activations, hf_step_memory


def _for_causal_lm_loss(torch, logits, labels, vocab):
    """transformers loss/loss_utils.py ``ForCausalLMLoss`` (5.x): the upcast, labels padded and shifted, mean."""
    import torch.nn.functional as F

    logits = logits.float()
    labels = F.pad(labels, (0, 1), value=-100)[..., 1:].contiguous()
    return F.cross_entropy(logits.view(-1, vocab), labels.view(-1), ignore_index=-100)


def _measured_loops(torch):
    """Allocator peaks (bytes) of one step run two ways, with a model whose output carries the logits and a cache
    tensor nothing autograd saves (the DynamicCache's pre-``repeat_kv`` k), and their sizes. ``harness``: tests/
    make_hf_common.py ``training_step`` (``out = model(**inputs)``, ``out.loss.backward()``, ``out`` read after);
    ``trainer``: transformers trainer.py ``training_step`` -> ``compute_loss`` (``outputs = model(**inputs)``,
    ``return loss``), ``del inputs``, ``accelerator.backward(loss)``."""
    n, v, x, w, labels = _logits_case(torch, n=256, v=2048)
    wk = torch.randn(64, 64, dtype=torch.bfloat16, requires_grad=True)

    def model(ids, lab):
        k = ids @ wk.t()  # the cache keeps k as projected; attention saves its repeated copy
        kr = k.repeat(1, 4)
        logits = (ids @ w.t()).view(1, n, v) + 0 * kr.sum()
        return {"loss": _for_causal_lm_loss(torch, logits, lab.view(1, n), v), "logits": logits,
                "past_key_values": k}

    def harness():
        out = model(x, labels)
        out["loss"].backward()
        assert out["logits"].shape == (1, n, v)  # the harness reads the output after the backward

    def compute_loss(inputs):
        outputs = model(**inputs)
        return outputs["loss"]

    def trainer():
        inputs = {"ids": x, "lab": labels}
        loss = compute_loss(inputs)
        del inputs
        loss.backward()

    return _peak_bytes(harness), _peak_bytes(trainer), n * v, 2 * n * v, 2 * n * 64


def test_trainer_loop_frees_the_output_before_backward_as_the_walk_prices_it():
    """Measured on CPU with the Trainer's sequence of calls: the loss's backward peaks at 12 B a logit (the saved
    fp32 log-softmax, the fp32 NLL gradient and log-softmax gradient) where the harness's, holding the output, peaks
    at 14 B a logit plus the cache; the walk's vocab-wide part at its loss (``HFStepMemory.vocab``, plus the
    log-softmax it counts among the saves) is 12 B a logit under ``output_held=False`` and 14 B held."""
    torch = pytest.importorskip("torch")
    harness, trainer, logits, logit_bytes, cache = _measured_loops(torch)
    assert trainer / logits == pytest.approx(12.0, rel=0.02)
    assert harness - trainer == pytest.approx(logit_bytes + cache, rel=0.02)
    m = _spec("llama")
    tok, V = 128 * 2, m.vocab
    for held, per_logit in ((False, trainer / logits), (True, (harness - cache) / logits)):
        s = hf_step_memory(m, "llama", 128, 2, "bf16", "sdpa", output_held=held)
        assert (s.vocab + 4.0 * V * tok) / (V * tok) == pytest.approx(per_logit, rel=0.02)


@pytest.mark.parametrize("fam", ["llama", "mixtral", "gemma3_text"])
def test_the_walk_frees_the_logits_and_the_cache_from_the_backward_on(fam):
    """Under ``output_held=False`` the forward and what it leaves are the harness's; the backward starts without the
    logits and the DynamicCache, so the step's peak falls by exactly their bytes wherever it is in the backward."""
    mt = FLOPS[fam]["resolved_config"]["model_type"]
    c = next(c for c in ACTS[fam]["cases"] if c["precision"] == "amp_bf16" and not c["gradient_checkpointing"]
             and c["attn_implementation"] == "eager")
    held = hf_step_memory(_spec(fam), mt, c["seq"], c["batch"], "amp_bf16", "eager")
    drop = hf_step_memory(_spec(fam), mt, c["seq"], c["batch"], "amp_bf16", "eager", output_held=False)
    assert held.kv_cache > 0 and held.logits > 0
    assert (drop.after_forward, drop.peak_forward) == (held.after_forward, held.peak_forward)
    assert drop.peak_step == pytest.approx(held.peak_step - held.logits - held.kv_cache)


def test_hf_stacks_drop_the_output_and_their_plans_price_it():
    """hf-trainer and deepspeed run HF Trainer's ``training_step``: the registry says their loop drops the model
    output, and a plan's logits term is the Trainer walk's (12 B a logit for Llama's eager loss at bf16 through the
    HF table, 14 before)."""
    from planner.model.stacks import STACKS

    assert not STACKS["hf-trainer"].loop_holds_output and not STACKS["deepspeed"].loop_holds_output
    m = _spec("llama")
    tok, V = 128 * 2, m.vocab
    for held, b in ((True, 14.0), (False, 12.0)):
        r = hf_activations(m, 128, 2, "bf16", "sdpa", False, "llama", output_held=held)
        head = r.outside - 4.0 * V * tok  # the saves outside the blocks but the fp32 log-softmax
        assert (r.outside - head + r.logits_transient) / (V * tok) == pytest.approx(b)


def _fa_job(gpu, attn, **constraints):
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e9,
                        "framework": {"name": "hf-trainer", "attn_implementation": attn}},
           "constraints": {"max_gpus": 8, **constraints}}
    if gpu:
        job["cluster"] = {"gpu": gpu}
    return job


@pytest.mark.parametrize("gpu,attn,words", [
    ("B200-SXM-180GB", "flash_attention_3", "is 10.0"),
    ("GB300-B300", "flash_attention_3", "is 10.3"),
    ("MI300X-192GB", "flash_attention_3", "AMD GPUs (ROCm)"),
    ("V100-SXM2-32GB", "flash_attention_3", "is 7.0"),
    ("T4-16GB", "flash_attention_2", "is 7.5"),
])
def test_flash_attention_refused_where_its_package_has_no_kernels(tmp_path, cli, gpu, attn, words):
    """flash_attn_3 (hopper/setup.py: sm_80 and sm_90a cubins, nvcc only) has no kernel for a Blackwell part, none
    below compute capability 8.0 and no ROCm build; flash_attn refuses below 8.0 (flash_api.cpp). One line."""
    line = refused(cli("estimate", write_job(tmp_path, _fa_job(gpu, attn)), "--json"))
    assert line.startswith("error: training.framework.attn_implementation:") and words in line, line


def test_flash_attention_refused_only_where_its_package_refuses(tmp_path, cli):
    """Over the whole catalog, flash_attention_3 is refused exactly on the parts flash_attn_3 has no kernels for
    (below compute capability 8.0, Blackwell's 10.x, anything not CUDA) and flash_attention_2 exactly below 8.0 and
    off CUDA / ROCm: flash_attn_3's sm_80 build runs on Ampere and Ada (ARCH_SWITCH 80 / 86 / 89), flash_attn on
    Blackwell (physics.FA2_BLACKWELL is measured there) and on ROCm (composable_kernel). The CLI answers there."""
    from hardware_catalog import load_catalog
    from planner.model.stack_kernels import attn_implementation_refusal

    gpus = load_catalog().gpus.values()
    fa3 = {g.name for g in gpus if attn_implementation_refusal("flash_attention_3", g)}
    fa2 = {g.name for g in gpus if attn_implementation_refusal("flash_attention_2", g)}
    below_8 = {"V100-SXM2-16GB", "V100-SXM2-32GB", "T4-16GB"}
    blackwell = {"B200-SXM-180GB", "GB200-B200", "B300-SXM-288GB", "GB300-B300"}
    not_cuda = {g.name for g in gpus if g.vendor != "NVIDIA"}
    not_cuda_rocm = {g.name for g in gpus if g.vendor not in ("NVIDIA", "AMD")}
    assert fa3 == below_8 | blackwell | not_cuda
    assert fa2 == below_8 | not_cuda_rocm
    assert all(attn_implementation_refusal(a, g) is None for g in gpus for a in ("sdpa", "eager", "flex_attention"))
    for gpu, attn in (("H100-SXM-80GB", "flash_attention_3"), ("A100-SXM-80GB", "flash_attention_3"),
                      ("B200-SXM-180GB", "flash_attention_2"), ("MI300X-192GB", "flash_attention_2")):
        assert answered(cli("estimate", write_job(tmp_path, _fa_job(gpu, attn)), "--json"))


def test_recommend_leaves_out_the_gpus_flash_attention_3_does_not_run_on(tmp_path, cli):
    """Over B200, H100 and MI300X only H100 plans are offered, the others left out with why; on B200 alone the
    search is refused in the estimate's words."""
    from hardware_catalog import load_catalog
    from planner.spec import load_job_dict
    from planner.workloads.training import recommend

    job = load_job_dict(_fa_job(None, "flash_attention_3",
                                gpus=["B200-SXM-180GB", "H100-SXM-80GB", "MI300X-192GB"]))
    res = recommend(job, load_catalog(), simulate=False)
    assert res.ranked and {p.hardware.gpu for p in res.ranked} == {"H100-SXM-80GB"}
    out = [a for a in res.assumptions if a.startswith("left out:") and "flash_attn_3" in a]
    assert out and "B200-SXM-180GB" in out[0] and "MI300X-192GB" in out[0], res.assumptions
    line = refused(cli("recommend", write_job(tmp_path, _fa_job("B200-SXM-180GB", "flash_attention_3")),
                       "--no-simulate"))
    assert line.startswith("error: training.framework.attn_implementation:") and "is 10.0" in line, line


def test_tensor_parallel_plans_hold_the_gathered_logits_of_the_trainer_loop():
    """transformers' ``lm_head`` plan gathers the logits on every rank (``colwise_rep`` = ``ColwiseParallel(
    output_layouts=Replicate())``, integrations/tensor_parallel.py; 5.x ``colwise_gather_output``) and the loss runs on
    them whole: a TP 2 plan's logits term is the whole Trainer-loop vocab part (``HFStepMemory.vocab`` at
    ``output_held=False``), as TP 1's, not half of it, nor the held 14 B a logit."""
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job
    from test_hf_memory import _tiny_job

    c = next(c for c in ACTS["llama"]["cases"] if c["precision"] == "amp_bf16" and not c["gradient_checkpointing"]
             and c["attn_implementation"] == "sdpa")
    s = hf_step_memory(_spec("llama"), "llama", c["seq"], c["batch"], "amp_bf16", "sdpa", output_held=False)
    one = _tiny_job("llama", c, "amp", dp=2).model_dump()
    two = _tiny_job("llama", c, "amp", dp=1).model_dump()
    two["parallel"]["tp"], two["cluster"]["gpus_per_node"] = 2, 2
    for job in (one, two):
        mem = estimate_job(load_job_dict(job)).memory_per_gpu_bytes
        assert mem.logits == pytest.approx(s.vocab)
