"""QA 51: MoE pre-training and fine-tuning at scale (docs/qa_log.md "QA 51")."""
import pytest

from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _mixtral(imbalance, ep=1, tp=4, dp=4):
    return load_job_dict({
        "model": {"preset": "mixtral-8x7b", "moe": {"imbalance": imbalance}},
        "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11, "recompute": "full"},
        "parallel": {"tp": tp, "pp": 1, "ep": ep, "dp": dp, "zero": 1},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}})


def test_imbalance_above_experts_over_top_k_is_refused(cli, tmp_path):
    """A token picks an expert at most once, so the busiest of Mixtral's 8 experts (top-2) takes at most 4x the mean
    load. `imbalance: 10` was planned (a 2.3-minute step, 4.1% MFU)."""
    from conftest import refused

    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: mixtral-8x7b, moe: {imbalance: 10}}\n"
                 "parallel: {tp: 4, ep: 1, dp: 4}\ncluster: {gpu: H100-SXM-80GB, nodes: 2}\n")
    line = refused(cli("estimate", str(p)))
    assert line.startswith("error: model.moe.imbalance:") and "experts / top_k = 4" in line
    _mixtral(4.0)  # the bound itself is a valid statement


def test_imbalance_does_not_slow_a_rank_that_holds_every_expert():
    """At EP 1 every rank holds all 8 experts and computes exactly the T k routed rows, however unevenly they fall.
    A stated imbalance of 3 made the expert GEMMs 2.7x (13.06 -> 35.29 s a step) and the ETP token gather 2.7x."""
    base, skew = estimate_job(_mixtral(1.0)), estimate_job(_mixtral(3.0))
    assert skew.breakdown_s.compute_gemm == pytest.approx(base.breakdown_s.compute_gemm, rel=1e-9)
    assert skew.breakdown_s.comm_ep == pytest.approx(base.breakdown_s.comm_ep, rel=1e-9)


def test_imbalance_on_a_rank_is_capped_by_the_ep_groups_rows():
    """At EP 2 a rank holds 4 of 8 experts: its rows are at most the group's, twice its mean, whatever the busiest
    expert's load (3x stated); at EP 8 (one expert a rank) the busiest rank is the busiest expert."""
    from planner.model.moe import rank_load
    from planner.spec.schema import MoESpec

    e = MoESpec(experts=8, top_k=2, imbalance=3.0)
    assert list(rank_load(e, [1, 2, 4, 8])) == [1.0, 2.0, 3.0, 3.0]
    drop = MoESpec(experts=8, top_k=2, imbalance=3.0, dropless=False, capacity_factor=1.5)
    assert list(rank_load(drop, [1, 8])) == [1.0, 1.5]
    pad = MoESpec(experts=8, top_k=2, dropless=False, capacity_factor=1.5, pad_to_capacity=True)
    assert list(rank_load(pad, [1, 8])) == [1.5, 1.5]  # padding rows are computed wherever the experts sit
    ep2 = estimate_job(_mixtral(3.0, ep=2, tp=1, dp=16)).breakdown_s.compute_gemm
    ep2_two = estimate_job(_mixtral(2.0, ep=2, tp=1, dp=16)).breakdown_s.compute_gemm
    assert ep2 == pytest.approx(ep2_two, rel=1e-9)


KIMI_NVL72 = ("model: {preset: kimi-k2}\n"
              "training: {seq_len: 4096, global_batch: 4608, micro_batch: 1, precision: fp8, tokens: 1.55e13,"
              " recompute: selective, recompute_modules: [mla_up_proj, moe_act, layernorm],"
              " framework: {name: megatron-core, moe_dispatcher: hybridep}}\n"
              "parallel: {tp: 1, pp: 8, ep: 64, etp: 1, dp: 576, zero: 1}\n"
              "cluster: {gpu: GB200-B200, gpus_per_node: GPN, nodes: NODES}\n")


def test_ep_groups_that_straddle_the_nvl72_domain_are_said(cli, tmp_path):
    """Megatron's rank order lays EP 64 groups end to end; on 72-GPU NVL72 domains 56 of the job's 72 groups cross
    into a second domain (the worst with 8 ranks on one). The advice read "all-to-all inside one node over NVLink5"
    with nothing more; in 64-GPU blocks (Slurm segments) the groups do stay inside one, and nothing is added."""
    from conftest import answered

    def advice(gpn, nodes):
        p = tmp_path / f"k{gpn}.yaml"
        p.write_text(KIMI_NVL72.replace("GPN", str(gpn)).replace("NODES", str(nodes)))
        return next(a for a in answered(cli("estimate", str(p), "--json"))["advice"] if a.startswith("MoE:"))

    line = advice(72, 64)
    assert "56 of the 72 64-rank groups cross a 72-GPU node boundary" in line and "worst with 8 ranks" in line
    assert "cross a" not in advice(64, 72)


def test_an_moe_models_stack_line_names_the_default_dispatcher(cli, tmp_path):
    """Mixtral-8x22B on Megatron-Core with the dispatcher left out read "training stack: megatron-core (compile=off,
    tp_overlap=te, overlap_grad_reduce=on, overlap_param_gather=on)": the all-to-all dispatcher (no per-node
    deduplication, no overlap), which moves the EP all-to-all and is not searched, went unsaid. A dense model's line
    and a stack with one dispatcher (torchtitan) name none."""
    from conftest import answered

    def line(model, framework, ep, zero=1):
        p = tmp_path / f"{model}_{framework}.yaml"
        p.write_text(f"model: {{preset: {model}}}\ntraining: {{seq_len: 4096, global_batch: 1024, micro_batch: 1,"
                     f" tokens: 1e12, recompute: full, framework: {framework}}}\n"
                     f"parallel: {{tp: 2, pp: 4, ep: {ep}, etp: 1, dp: 32, zero: {zero}}}\n"
                     "cluster: {instance: aws:p5.48xlarge, nodes: 32}\n")
        return answered(cli("estimate", str(p), "--json"))["inputs"]["training_stack"]

    assert "moe_dispatcher=alltoall, moe_a2a_overlap=off" in line("mixtral-8x22b", "megatron-core", 8)
    assert "moe_" not in line("llama3-70b", "megatron-core", 1)
    assert "moe_dispatcher" not in line("mixtral-8x22b", "torchtitan", 8, zero=3)


def test_ep1_advice_names_the_etp_gather_it_books_as_comm_ep(cli, tmp_path):
    """Mixtral-8x7B TP4 EP1 (ETP = TP = 4): 2.01 s of an 18.63 s step in the breakdown's "expert-parallel all-to-all"
    row (the routed rows' all-gather / reduce-scatter over the ETP group) beside advice that read "replicated on every
    rank (EP=1): no all-to-all"."""
    from conftest import answered

    p = tmp_path / "m.yaml"
    p.write_text("model: {preset: mixtral-8x7b}\ntraining: {seq_len: 4096, global_batch: 256, micro_batch: 1,"
                 " tokens: 1e11, recompute: full}\nparallel: {tp: 4, pp: 1, ep: 1, dp: 4, zero: 1}\n"
                 "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2}\n")
    out = answered(cli("estimate", str(p), "--json"))
    share = out["breakdown_s"]["comm_ep"] / out["step_time_s"]
    assert share > 0.05
    line = next(a for a in out["advice"] if a.startswith("MoE:"))
    assert "split over ETP=4" in line and f"{share:.0%} of the step" in line and "replicated" not in line


def _m22(**moe):
    return load_job_dict({
        "model": {"preset": "mixtral-8x22b", "moe": moe},
        "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "tokens": 1e12, "recompute": "selective"},
        "parallel": {"tp": 2, "pp": 4, "ep": 8, "etp": 1, "dp": 32, "zero": 1},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 32}})


def test_the_busiest_ranks_saved_rows_follow_its_load():
    """Mixtral-8x22B TP2 PP4 EP8 (one expert a rank): a stated imbalance of 1.5 slowed the expert GEMMs 1.41x but its
    busiest rank kept 31.97 GiB of activations, as balanced; dropping at capacity factor 0.5 halved the routed rows'
    FLOPs but kept their saves whole. The routed rows (the experts' fc1 / activation outputs, the dispatched input,
    the expert outputs) now follow ``moe.rank_load``: 43.79 and 20.16 GiB; padded to capacity 1.5 unchanged. Since
    a2aperm37 the balanced rank also holds the all-to-all dispatcher's copies (``moe_a2a_transient``, 2 x 2 x 4,096 x
    6,144 x 2 / TP 2 = 0.09 GiB): 32.07, the copies following the load as the saved rows do."""
    act = {k: estimate_job(_m22(**moe)).memory_per_gpu_bytes.activations / 2**30 for k, moe in {
        "balanced": {}, "skew": {"imbalance": 1.5}, "drop": {"dropless": False, "capacity_factor": 0.5}}.items()}
    assert act["balanced"] == pytest.approx(31.97 + 0.094, abs=0.01)
    routed = act["skew"] - act["balanced"]  # half the routed rows again
    assert routed > 0.25 * act["balanced"]
    # half of them fewer (to 1e-4: the dispatcher's transient, linear in the load, sits on the MoE layer's selective
    # rebuild in recompute_working_set, 0.37 MB on the balanced and dropping rows, none on the skewed one)
    assert act["balanced"] - act["drop"] == pytest.approx(routed, rel=1e-4)


def test_hf_ep_advice_names_its_all_to_all(cli, tmp_path):
    """transformers 5.23 trains EP through AllToAllEP (hfep52): DeepSeek-V3 LoRA on the HF Trainer at TP8 EP8 prices
    the dispatch and the advice names it. QA 51 (an older revision's all-reduce EP) said "no all-to-all" there."""
    from conftest import answered

    p = tmp_path / "hf.yaml"
    p.write_text("model: {preset: deepseek-v3}\ntraining: {seq_len: 4096, global_batch: 64, micro_batch: 1, tokens: 1e9,"
                 " mode: lora, recompute: full, framework: hf-trainer}\nparallel: {tp: 8, ep: 8, pp: 1, dp: 16, zero: 3}\n"
                 "cluster: {gpu: H200-SXM-141GB, gpus_per_node: 8, nodes: 16}\n")
    out = answered(cli("estimate", str(p), "--json"))
    assert out["breakdown_s"]["comm_ep"] > 0.0
    line = next(a for a in out["advice"] if a.startswith("MoE:"))
    assert "all-to-all" in line and "no all-to-all" not in line, line


def test_token_dropping_is_said_with_what_it_takes_from_the_flops(cli, tmp_path):
    """Mixtral-8x22B at capacity factor 0.5 (tokens dropped): its model FLOPs a step fell from 1.051e18 to 6.257e17
    (the dropped rows skip the experts, and MFU counts the kept ones) with nothing in the output saying a token was
    dropped. The advice names the capacity, the dropped share and the FLOPs it takes off; padded to capacity, the
    padding rows HFU counts; dropless, nothing."""
    from conftest import answered

    def advice(moe):
        p = tmp_path / f"m{abs(hash(moe))}.yaml"
        p.write_text(f"model: {{preset: mixtral-8x22b, moe: {moe}}}\ntraining: {{seq_len: 4096, global_batch: 1024,"
                     " micro_batch: 1, tokens: 1e12, recompute: selective}\n"
                     "parallel: {tp: 2, pp: 4, ep: 8, etp: 1, dp: 32, zero: 1}\n"
                     "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 32}\n")
        out = answered(cli("estimate", str(p), "--json"))
        return out, [a for a in out["advice"] if a.startswith("MoE token dropping")]

    out, lines = advice("{dropless: false, capacity_factor: 0.5}")
    dropless, none = advice("{dropless: true}")
    fewer = 1 - out["flops_per_step"] / dropless["flops_per_step"]
    assert len(lines) == 1 and "50% of the routed (token, expert) rows are dropped" in lines[0]
    assert f"({fewer:.0%} fewer FLOPs a token than dropless)" in lines[0] and fewer == pytest.approx(0.405, abs=0.005)
    assert none == []
    _, padded = advice("{dropless: false, capacity_factor: 1.5, pad_to_capacity: true}")
    assert "no row is dropped" in padded[0] and "50% more rows of padding (in HFU, not MFU)" in padded[0]
    assert "(imbalance 1.5) are dropped" in advice("{dropless: false, capacity_factor: 1.25, imbalance: 1.5}")[1][0]
    assert "stays under it: no row is dropped" in advice("{dropless: false, capacity_factor: 2.0, imbalance: 1.5}")[1][0]
