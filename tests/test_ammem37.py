"""NeMo AutoModel's MoE models train on 16-bit parameters with no fp32 master (``Stack.params_16bit``): the loop's
``Checkpointer.load_base_model`` calls ``model.initialize_weights()``, whose default ``dtype=torch.bfloat16`` casts
the (FSDP2-sharded) model to bf16, so torch's Adam builds its moments ``zeros_like(p)`` in bf16 -- until
NVIDIA-NeMo/Automodel PR #1896 (2026-04), which every row of its performance summary predates. The moment dtype is
measured here on a real torch optimizer step (CPU); the planner's model states follow."""
import sys
from dataclasses import replace

import pandas as pd
import pytest

from planner.model.memory import memory_per_gpu, model_state_bytes_per_param
from planner.model.stacks import STACKS, from_training, resolve
from planner.spec import TrainingSpec
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from planner.spec import ModelSpec

from conftest import ROOT, one_rank_group
from test_step_time import LLAMA, cands

sys.path.insert(0, str(ROOT / "benchmarks"))
AM = "nemo-automodel"
QWEN_MOE = ModelSpec(**PRESETS["qwen3-30b-a3b"])


@pytest.mark.parametrize("opt", ["adam", "adamw"])
def test_torch_adam_keeps_its_moments_in_the_parameter_dtype(opt):
    """torch.optim Adam / AdamW on bf16 parameters (as AutoModel's ``initialize_weights`` leaves them): one step's
    state is 2 + 2 bytes a parameter (bf16 ``exp_avg``, ``exp_avg_sq``), what the planner now prices (4), not 8."""
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.randn(1024, 64, dtype=torch.bfloat16))
    o = (torch.optim.Adam if opt == "adam" else torch.optim.AdamW)([p], lr=1e-4, foreach=True)
    p.grad = torch.randn_like(p)
    o.step()
    moments = [v for v in o.state[p].values() if torch.is_tensor(v) and v.numel() == p.numel()]
    measured = sum(v.element_size() for v in moments)
    t = TrainingSpec(seq_len=4096, global_batch=64, precision="bf16", optimizer=opt)
    st = from_training(t, AM, QWEN_MOE)
    assert model_state_bytes_per_param(t, 2048, st) == (2.0, 4.0, 0.0, float(measured)) == (2.0, 4.0, 0.0, 4.0)
    # the 16-bit + fp32-master convention the entry priced before: master 4 + fp32 moments 8
    assert model_state_bytes_per_param(t, 2048) == (2.0, 4.0, 4.0, 8.0)


def test_only_automodel_moe_models_hold_16bit_parameters():
    t = TrainingSpec(seq_len=4096, global_batch=64, precision="bf16")
    assert STACKS[AM].params_16bit
    assert from_training(t, AM, QWEN_MOE).params_16bit
    assert not from_training(t, AM, LLAMA).params_16bit  # the dense HF path: not walked, kept as it was
    for other in ("megatron-core", "torchtitan", "hf-trainer", "fsdp"):
        assert not STACKS[other].params_16bit


def test_the_optimizer_and_shard_terms_fall_by_the_master_and_moment_bytes():
    """Qwen3-30B-A3B on 8 GPUs, EP 8, FSDP 8, one micro-batch a step (no deferred gradients held): the optimizer term
    falls from 12 to 4 B per sharded parameter, the gradient shard from 4 (fp32 master's dtype) to 2, and the held
    weights gain the 16-bit shard (2 B) the fp32 master no longer stands in for."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1, ep=8)
    t = TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16", recompute="full", optimizer="adam")
    new = memory_per_gpu(QWEN_MOE, t, c, stack=resolve(AM))
    old = memory_per_gpu(QWEN_MOE, t, c, stack=replace(resolve(AM), params_16bit=False))
    o_new, o_old = float(new["optimizer"][0]), float(old["optimizer"][0])
    assert o_new == pytest.approx(o_old * 4 / 12, rel=1e-9)
    shard = o_old / 12  # parameters in this rank's shard
    assert float(old["grads"][0]) - float(new["grads"][0]) == pytest.approx(2 * shard, rel=1e-6)
    # reshard after forward off (the MoE path's default): the gathered weights and, now, the rank's 16-bit shard of
    # the FSDP-managed (dense) parameters; the experts EP 8 owns whole (ep_shard 1: ``ignored_params``) are one tensor
    pc = count_params(QWEN_MOE)
    experts = QWEN_MOE.moe.experts * pc.expert * pc.n_moe_layers / 8
    assert float(new["weights"][0]) - float(old["weights"][0]) == pytest.approx(2 * (shard - experts), rel=1e-6)
    assert float(new["activations"][0]) == float(old["activations"][0])


def test_ep_owned_experts_keep_16bit_gradients_when_the_sync_is_deferred():
    """Many micro-batches a step (``defer_fsdp_grad_sync``): FSDP2 accumulates the dense units' unsharded gradients in
    its fp32 reduce dtype, while the experts left out of FSDP (EP 8 over FSDP 8) keep autograd's bf16 ``.grad``."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1, ep=8)
    t = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16", recompute="full", optimizer="adam")
    new = float(memory_per_gpu(QWEN_MOE, t, c, stack=resolve(AM))["grads"][0])
    old = float(memory_per_gpu(QWEN_MOE, t, c, stack=replace(resolve(AM), params_16bit=False))["grads"][0])
    pc = count_params(QWEN_MOE)
    experts = QWEN_MOE.moe.experts * pc.expert * pc.n_moe_layers / 8
    assert old - new == pytest.approx(2 * experts, rel=1e-6)


def test_the_automodel_rows_lose_the_master_and_fp32_moments(catalog):
    """Each MoE row of the table (H100 80 GB runs that completed) falls by what the master and the fp32 moments held
    less the 16-bit shard now held beside the gathered weights; the dense Llama 3 70B row (HF path) is unchanged.
    Nano, Qwen3-30B-A3B, gpt-oss-20b, DeepSeek-V3 256 and Kimi K2, over 80 GiB before, are below it now
    (gpt-oss-120b, 96.4 -> 82.8 GiB, is not: its 43.3 GiB of activations without checkpointing are not walked here)."""
    import validate

    d = pd.read_csv(validate.AUTOMODEL_CSV).query("scored")
    for r in d.itertuples():
        case = validate.pr2_case(catalog, r)
        fw = validate.row_stack(case.stack, case.options)
        tot = {f: float(memory_per_gpu(case.model, case.training, case.candidates,
                                       stack=replace(fw, params_16bit=f))["total"][0]) / 2**30 for f in (False, True)}
        if "llama" in r.id:
            assert tot[True] == tot[False], r.id
        else:
            assert tot[True] < tot[False] - 3.0, r.id
        if any(k in r.id for k in ("qwen3", "deepseek-v3_bf16_256", "kimi", "nano", "gpt-oss-20b")):
            assert tot[False] > 80 > tot[True], r.id


def test_the_foreach_step_on_16bit_parameters_moves_half_the_bytes(catalog):
    """torch's foreach Adam over bf16 parameters, counted op by op on real torch ops (test_automodel_pipeline_optimizer's
    counter, here at bf16): 36 B a parameter where the fp32 lists move 72 (OPTIMIZER_BYTES_FOREACH); the optimizer
    term of an AutoModel MoE job halves (less the fixed launches); besides it only the EP-only experts' reduce-scatter
    copy-in, which the params_16bit path leaves out."""
    from test_automodel_pipeline_optimizer import _foreach_step_bytes
    from test_step_time import hw_for
    from planner.model.step_time import OPTIMIZER_BYTES_FOREACH, step_time

    torch = pytest.importorskip("torch")
    measured = _foreach_step_bytes("adam", dtype=torch.bfloat16)
    assert measured == OPTIMIZER_BYTES_FOREACH["adam"] / 2 == 36.0
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=2048, global_batch=8, micro_batch=1, precision="bf16", optimizer="adam")
    on = resolve(AM)
    c = cands(dp=8, zero=3, ep=8)
    a, b = (step_time(QWEN_MOE, t, c, hw, framework=s) for s in (replace(on, params_16bit=False), on))
    launches = 8 * hw.eff.launch_s
    assert (b["optimizer"][0] - launches) / (a["optimizer"][0] - launches) == pytest.approx(0.5, rel=1e-9)
    # ... and, on the params_16bit path that reads the experts EP alone places as outside FSDP (memory
    # ep_experts_unsharded, held_grad_widths), their gradients skip FSDP2's reduce-scatter copy-in (auto53,
    # step_time.fsdp_copy_in_bytes): the only other term that moves, memory-bound
    copy_in = a["compute_memory_bound"][0] - b["compute_memory_bound"][0]
    assert copy_in > 0.0
    assert a["step_time_s"][0] - b["step_time_s"][0] == pytest.approx(
        a["optimizer"][0] - b["optimizer"][0] + copy_in, rel=1e-9)



def test_fsdp2_over_bf16_parameters_holds_what_the_planner_prices(tmp_path):
    """A real FSDP2 step on CPU (gloo, one rank) as AutoModel runs it -- ``MixedPrecisionPolicy(param_dtype=bf16,
    reduce_dtype=fp32)`` (moe/parallelizer.py ``apply_fsdp``), the model cast to bf16 after ``fully_shard``
    (``initialize_weights``), the loop's ``set_requires_gradient_sync(False)`` before the last micro-batch: the
    parameters' ``orig_dtype`` is bf16 (``param_dtype`` clamped to None: no fp32 master to cast from), the deferred
    unsharded gradients accumulate in fp32, the reduced shard is bf16, Adam's moments bf16 -- the planner's bytes."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    from planner.model.memory import zero_stage_states

    if dist.is_initialized():
        pytest.skip("a process group is already up in this worker")
    with one_rank_group(tmp_path):
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        m = torch.nn.Sequential(torch.nn.Linear(64, 64, bias=False), torch.nn.Linear(64, 64, bias=False))
        mesh = init_device_mesh("cpu", (1,))
        for layer in m:
            fully_shard(layer, mesh=mesh, mp_policy=mp)
        fully_shard(m, mesh=mesh, mp_policy=mp)
        m.to(torch.bfloat16)
        x = torch.randn(8, 64, dtype=torch.bfloat16)
        m.set_requires_gradient_sync(False)
        m(x).sum().backward()
        fp = m[0]._get_fsdp_state()._fsdp_param_group.fsdp_params[0]
        held = fp.unsharded_accumulated_grad.element_size()
        m.set_requires_gradient_sync(True)
        m(x).sum().backward()
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)
        opt.step()
        moments = sum(v.element_size() for v in opt.state[m[0].weight].values() if v.dim() > 0)
        shard, orig, cast = m[0].weight.grad.element_size(), fp.orig_dtype, fp.param_dtype
    t = TrainingSpec(seq_len=4096, global_batch=64, precision="bf16", optimizer="adam")
    st = from_training(t, AM, QWEN_MOE)
    w, g, master, opt_b = model_state_bytes_per_param(t, 2048, st)
    assert (orig, cast, master) == (torch.bfloat16, None, 0.0)
    assert (held, moments) == (g, opt_b) == (4, 4)
    assert shard == w == float(zero_stage_states(st, t, g, w)[1][3]) == 2  # ZeRO-3's gradient shard


@pytest.mark.parametrize("preset,want", [("qwen3-30b-a3b", 6.0), ("llama3-8b", 14.0)])
def test_the_checkpoint_holds_the_16bit_states(preset, want):
    """The simulator's checkpoint (planner.simulate.config ``checkpoint_bytes``) sizes what the stack holds: an
    AutoModel MoE job's bf16 weights and two bf16 moments, 6 B a parameter (was 2 + 4 + 8 = 14); the dense path 14."""
    from planner.simulate.config import checkpoint_bytes
    from test_left19 import _job

    job = _job({"framework": {"name": AM}, "optimizer": "adam", "recompute": "full"},
               {"tp": 1, "pp": 1, "zero": 3}, model={"preset": preset})
    assert checkpoint_bytes({}, job) == pytest.approx(count_params(job.model).total * want)
