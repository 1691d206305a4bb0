"""Training-stack options in the search, and what offload does (planner.model.offload).

The 70B cases use Llama-3-70B (70.6B parameters, Meta's model card) on one AWS p5.48xlarge
(8 x H100 80 GB, 2 TiB host RAM, 192 vCPUs: the catalog's AWS row): 16 bytes/param of model
state (ZeRO paper) = 1.13 TB, 141 GB per GPU under TP8 — more than 80 GB of HBM, so it fits only
with the optimizer state (12 of those 16 bytes) on the host."""
from types import SimpleNamespace

import numpy as np
import pytest

from planner.errors import InfeasibleError, InputError
from planner.model import offload
from planner.model.stacks import resolve
from planner.search.space import stack_variants
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.training import estimate_job, recommend

P5 = "aws:p5.48xlarge"


def _job(preset="llama3-70b", framework=None, parallel=None, **training):
    t = {"seq_len": 4096, "global_batch": 64, "tokens": 1e9, **training}
    if framework is not None:
        t["framework"] = framework
    job = {"model": {"preset": preset}, "training": t, "cluster": {"instance": P5, "nodes": 1}}
    if parallel is not None:
        job["parallel"] = parallel
    return load_job_dict(job)


# ZeRO-1: with one replica it shards nothing, but Megatron's optimizer offload runs only under its distributed
# optimizer, which the launch writes (Stack.optimizer_offload_zero; ZeRO-0 with it is refused since pp35)
FIXED = {"tp": 8, "pp": 1, "dp": 1, "zero": 1}


def test_70b_fits_one_node_only_with_optimizer_offload_and_pays_the_formula(catalog):
    kw = dict(parallel=FIXED, micro_batch=1, recompute="full")
    off = estimate_job(_job(framework={"name": "megatron-core", "optimizer_offload": False}, **kw), catalog)
    on = estimate_job(_job(framework={"name": "megatron-core", "optimizer_offload": True}, **kw), catalog)
    assert not off.fits and on.fits
    # the optimizer shard (fp32 master + two fp32 moments = 12 B/param of the TP8 shard) leaves HBM
    moved = off.memory_per_gpu_bytes.optimizer
    local = count_params(_job().model).total / 8
    assert moved == pytest.approx(12 * local, rel=0.01)
    assert on.memory_per_gpu_bytes.optimizer == 0
    assert off.memory_per_gpu_bytes.total - on.memory_per_gpu_bytes.total == pytest.approx(moved)
    assert on.memory_per_gpu_bytes.host == pytest.approx(moved * (1 + 4 / 12))  # + fp32 grad copy
    # slower by exactly: CPU Adam over the node's 8 shards at 11.6e9 params / 8.2 s per 96 vCPUs
    # (DeepSpeed PR #735) scaled to p5's 192 vCPUs, plus the fp32 gradients out beyond the last
    # backward and the bf16 weights back over PCIe Gen5 x16 (64 GB/s nominal, 0.8 achieved),
    # minus the GPU optimizer step it replaces
    cpu = local * 8 / (11.6e9 / 8.2 * 192 / 96)
    bw = 64e9 * 0.8
    link = max(local * 4 / bw - on.detail["t_bwd_mb"], 0.0) + local * 2 / bw
    assert on.breakdown_s.optimizer == pytest.approx(cpu, rel=0.01)
    assert on.breakdown_s.offload == pytest.approx(link, rel=0.01)
    assert on.step_time_s - off.step_time_s == pytest.approx(cpu + link - off.breakdown_s.optimizer, rel=0.01)
    assert on.config.offload == "optimizer" and off.config.offload == "none"


def test_cpu_adam_rate_is_the_published_figure():
    # DeepSpeed PR #735: DeepSpeedCPUAdam steps an 11.6B-parameter GPT-2 in 8.2 s (host: 96 threads)
    assert offload.CPU_ADAM.params_per_s * 8.2 == pytest.approx(11.6e9)
    hw = SimpleNamespace(vcpus_per_node=192)  # p5.48xlarge: twice the reference host's threads
    assert offload.cpu_adam_params_per_s(hw) == pytest.approx(2 * 11.6e9 / 8.2)


def test_recommend_picks_offload_only_when_needed(catalog):
    big = recommend(_job(), catalog, simulate=False)  # 70B on one node: nothing fits without it
    assert big.best.stack["optimizer_offload"] and big.best.fits
    assert "optimizer_offload" in big.best.stack["searched"]
    small = recommend(_job("llama3-8b"), catalog, simulate=False)  # 8B fits one node as is
    assert not small.best.stack["optimizer_offload"] and not small.best.stack["activation_offload"]
    assert small.best.config.offload == "none"
    # offload rows exist only for layouts that do not fit without it (the recompute list, searched
    # since recompute is open on megatron-core, is part of the layout)
    key = ["nodes", "tp", "pp", "dp", "cp", "ep", "vpp", "zero", "micro_batch", "recompute", "recompute_modules",
           "reshard_after_forward", "megatron_fsdp"]
    t = small.table
    plain = t[~t["optimizer_offload"] & ~t["activation_offload"]]
    offl = t[t["optimizer_offload"] | t["activation_offload"]]
    assert len(offl) and not offl[key].merge(plain[key]).shape[0]
    assert not plain.duplicated(key).any()


def test_options_the_user_sets_are_kept(catalog):
    with pytest.raises(InfeasibleError):  # offload fixed off: the 70B does not fit one node
        recommend(_job(framework={"name": "megatron-core", "optimizer_offload": False}), catalog, simulate=False)
    fixed = recommend(_job("llama3-8b", framework={"name": "megatron-core", "optimizer_offload": True,
                                                   "reshard_after_forward": True}), catalog, simulate=False)
    assert fixed.table["optimizer_offload"].all() and fixed.best.stack["optimizer_offload"]
    assert "optimizer_offload" not in fixed.best.stack["searched"]
    assert "reshard_after_forward" not in fixed.best.stack["searched"]
    assert fixed.table["reshard_after_forward"].all()


def test_json_shows_the_chosen_options(catalog):
    out = recommend(_job(), catalog, simulate=False).to_json()
    best = out["best"]
    assert best["stack"]["name"] == "megatron-core" and best["stack"]["optimizer_offload"] is True
    assert best["config"]["offload"] == "optimizer"
    assert "host" in best["memory_per_gpu_bytes"] and "offload" in best["breakdown_s"]
    assert "optimizer_offload=on" in out["inputs"]["training_stack"]


def test_activation_offload_keeps_few_layers_and_needs_pp1_no_recompute(catalog):
    kw = dict(parallel={"tp": 8, "pp": 1, "dp": 1, "zero": 0}, micro_batch=4, recompute="none")
    off = estimate_job(_job("llama3-8b", framework={"name": "megatron-core"}, **kw), catalog)
    on = estimate_job(_job("llama3-8b", framework={"name": "megatron-core", "activation_offload": True}, **kw), catalog)
    # 32 layers held -> 3 (the last + the double buffer); the 29 others on the host
    act_off, act_on = off.memory_per_gpu_bytes.activations, on.memory_per_gpu_bytes.activations
    assert act_on < act_off / 5
    # the 29 offloaded layers go out over PCIe Gen5 x16 (64 GB/s nominal, 0.8 achieved) under the
    # forward and come back under the backward, each exposed beyond the pass it hides under
    moved = on.memory_per_gpu_bytes.host / (64e9 * 0.8)
    m = on.detail["num_microbatches"]
    exposed = m * (max(moved - on.detail["t_fwd_mb"], 0) + max(moved - on.detail["t_bwd_mb"], 0))
    assert exposed > 0 and on.breakdown_s.offload == pytest.approx(exposed, rel=1e-6)
    assert on.step_time_s - off.step_time_s == pytest.approx(exposed, rel=1e-6)
    with pytest.raises(InputError) as e:
        estimate_job(_job("llama3-8b", framework={"name": "megatron-core", "activation_offload": True},
                          parallel={"tp": 4, "pp": 2, "dp": 1, "zero": 0}, micro_batch=1, recompute="none"), catalog)
    assert e.value.field == "training.framework.activation_offload"
    with pytest.raises(InputError):  # torchtitan has no activation offload
        resolve("torchtitan", activation_offload=True)


def test_reshard_after_forward_is_searched_on_zero3_rows_only(catalog):
    job = _job("llama3-8b", framework={"name": "torchtitan", "optimizer_offload": False},
               parallel={"zero": 3, "tp": 1, "pp": 1})
    names = [tuple(v.values) for v in stack_variants(job)]
    assert names == [("reshard_after_forward",)] * 2
    rec = recommend(job, catalog, simulate=False)
    assert set(rec.table["reshard_after_forward"]) == {True, False}
    # without resharding every layer stays gathered to its backward: the ZeRO-2 weight bytes
    kw = dict(parallel={"tp": 1, "pp": 1, "dp": 8, "zero": 3}, micro_batch=1, recompute="full")
    on = estimate_job(_job("llama3-8b", framework={"name": "torchtitan", "reshard_after_forward": True}, **kw), catalog)
    no = estimate_job(_job("llama3-8b", framework={"name": "torchtitan", "reshard_after_forward": False}, **kw), catalog)
    pc = count_params(job.model)  # bf16 weights: 2 B/param gathered; FSDP2's shard is the fp32 master (optimizer)
    # resharded, the current and the prefetched layer are gathered (no 16-bit shard beside them:
    # tests/test_fsdpmem.py); not resharded, every layer is gathered and those two are among them
    window = 2 * 2 * max(pc.dense_layer, pc.moe_layer)
    # and, resharded, the [norm, output] unit beside the prefetched last layer (Stack.fsdp2_root "head", titanroot)
    window += 2 * max(pc.lm_head + pc.final_norm - max(pc.dense_layer, pc.moe_layer), 0)
    assert no.memory_per_gpu_bytes.weights - on.memory_per_gpu_bytes.weights == pytest.approx(
        2 * pc.total - window)
    assert no.step_time_s <= on.step_time_s


def test_host_ram_bounds_offload():
    hw = SimpleNamespace(instance=SimpleNamespace(ram_bytes=2048 * 2**30, key="test:node"), gpus_per_node=8)
    per_gpu = np.array([100, 204, 205]) * 2**30  # 8 x 205 GiB > 0.8 x 2 TiB
    assert offload.host_fits(per_gpu, hw).tolist() == [True, True, False]
    assert offload.host_ram(hw) == (2048 * 2**30, "test:node")
    # no RAM figure (a bare-GPU cluster): the reference node, p5.48xlarge's 2,048 GiB per 8 GPUs
    bare = SimpleNamespace(instance=None, gpus_per_node=8)
    assert offload.host_fits(per_gpu, bare).tolist() == [True, True, False]
    assert offload.host_ram(bare) == (2048 * 2**30, "256 GiB per GPU (assumed)")


def test_optimizer_offload_needs_a_sharded_optimizer_and_is_emitted(catalog):
    from planner.present.emit import launch_plan

    with pytest.raises(InputError) as e:  # zero 0 with two replicas: no stack offloads that
        estimate_job(_job("llama3-8b", framework={"name": "megatron-core", "optimizer_offload": True},
                          parallel={"tp": 4, "pp": 1, "dp": 2, "zero": 0}, micro_batch=1), catalog)
    assert e.value.field == "training.framework.optimizer_offload"
    rec = recommend(_job(), catalog, simulate=False)  # the 70B on one node: optimizer offload
    args = launch_plan(_job(), rec.best.to_json(), "megatron").program
    # Megatron-LM arguments.py: --optimizer-cpu-offload needs --use-precision-aware-optimizer,
    # which needs --use-distributed-optimizer
    for flag in ("--optimizer-cpu-offload", "--use-precision-aware-optimizer", "--use-distributed-optimizer"):
        assert flag in args
    assert args[args.index("--optimizer-offload-fraction") + 1] == "1.0"


# ------------------------------------------------------------- offload under a frozen base (LoRA / QLoRA)
def _qlora_l40s(framework, rank=64, constraints=None):
    """QLoRA of Llama-2-70B at seq 512, micro-batch 1, gradient checkpointing on one L40S (48 GB): the QLoRA
    paper's setting (Dettmers et al. 2023: a 65B model fine-tuned on one 48 GB GPU, rank 64 on every linear,
    paged optimizer). Rank 64 all-linear is 828M fp32 adapter parameters: 3.1 GiB of weights, 3.1 GiB of
    gradients and 6.2 GiB of AdamW moments."""
    t = {"mode": "qlora", "lora": {"rank": rank, "alpha": 16, "targets": "all-linear"}, "seq_len": 512,
         "global_batch": 16, "precision": "bf16", "recompute": "full", "tokens": 1e7}
    if framework is not None:
        t["framework"] = framework
    job = {"model": {"preset": "llama2-70b"}, "training": t}
    if constraints is None:
        t["micro_batch"] = 1
        job["cluster"] = {"gpu": "L40S-48GB", "gpus_per_node": 1, "nodes": 1}
    else:
        job["constraints"] = constraints
    return load_job_dict(job)


def test_optimizer_offload_under_a_frozen_base_moves_the_adapter_state(catalog):
    """The adapters' AdamW moments are what an optimizer offload moves under LoRA/QLoRA (DeepSpeed
    ZeRO-Offload / FSDP CPUOffload hold the trainable parameters' state on the host); they used to stay
    on the GPU while the plan was charged the CPU Adam step (memory and time disagreed)."""
    from planner.model.finetune import adapter_params
    from planner.model.memory import OPTIMIZER_STATE

    off = estimate_job(_qlora_l40s({"name": "hf-trainer", "optimizer_offload": False}), catalog)
    on = estimate_job(_qlora_l40s({"name": "hf-trainer", "optimizer_offload": True}), catalog)
    adapters = adapter_params(off_job := _qlora_l40s(None).model, _qlora_l40s(None).training)
    assert off_job.layers == 80 and adapters == pytest.approx(828e6, rel=0.01)
    moved = off.memory_per_gpu_bytes.optimizer
    assert moved == pytest.approx(adapters * OPTIMIZER_STATE["adamw"], rel=1e-9)
    assert on.memory_per_gpu_bytes.optimizer == 0
    assert off.memory_per_gpu_bytes.total - on.memory_per_gpu_bytes.total == pytest.approx(moved)
    assert on.memory_per_gpu_bytes.host == pytest.approx(moved * (1 + 4 / 8))  # + the fp32 gradient copy
    assert on.step_time_s > off.step_time_s  # the CPU step is charged as before


def test_recommend_searches_optimizer_offload_under_a_frozen_base(catalog):
    """Rank 32 on one L40S: 43.7 GiB with the adapters' optimizer state on the GPU (42.5 allowed), so the
    search (optimizer offload left open) plans it with the state on the host; before, no plan fitted and
    the error suggested the offload the search had not tried. At rank 64 nothing fits even so, and the
    error no longer suggests recompute to a job that fixes recompute: full."""
    con = {"gpus": ["L40S-48GB"], "max_gpus": 1}
    best = recommend(_qlora_l40s(None, rank=32, constraints=con), catalog=catalog, top=1).best
    assert best.config.offload == "optimizer" and best.memory_per_gpu_bytes.optimizer == 0
    with pytest.raises(InfeasibleError) as e:
        recommend(_qlora_l40s(None, rank=64, constraints=con), catalog=catalog, top=1)
    assert "recompute" not in str(e.value).split("—")[-1]


def test_searched_offload_at_one_replica_is_tried_at_the_stage_it_launches(catalog):
    """Optimizer offload left open on a layout with one replica (70B at TP8 PP1 on one node: it fits only with it):
    the offload variant's one-replica rows are ZeRO-1 (Megatron's offload under its distributed optimizer, pp35) where
    its parent's are ZeRO-0, and it is tried where that twin did not fit (search.space ``one_replica_twins``); the
    plan reads z1 as its launch writes. Before, the same plan was labelled z0 (QA 45)."""
    rec = recommend(_job(parallel={"tp": 8, "pp": 1, "cp": 1}, micro_batch=1, recompute="full"), catalog,
                    simulate=False)
    best = rec.best
    assert best.stack["optimizer_offload"] and best.fits
    assert (best.config.dp, best.config.zero, best.config.offload) == (1, 1, "optimizer")
