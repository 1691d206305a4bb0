"""moedisp47b: a MoE token dispatcher the job NAMES is held to the hardware its library runs on
(planner.model.moe ``DISPATCHER_NEEDS``), as the search holds the ones it tries: ``estimate`` / ``simulate`` refuse it
in one line (``training.framework.moe_dispatcher``), ``recommend`` leaves the GPU out (its "left out" lines) and keeps
the group inside a node on a fabric the library does not cross; and a bare cluster whose fabric was taken from its
reference instance says so where the dispatcher is kept inside a node. Before, estimate priced HybridEP on A100 and
DeepEP's EP 16 across two p5.48xlarge nodes over EFA. Each test fails on the code before."""
from __future__ import annotations

from conftest import answered, refused, write_job

_FIELD = "training.framework.moe_dispatcher"


def _qwen(dispatcher: str, cluster: dict, **parallel) -> dict:
    """Qwen3-30B-A3B on Megatron-Core with ``dispatcher`` named, a small fixed layout where ``parallel`` gives one."""
    job = {"model": {"preset": "qwen3-30b-a3b"},
           "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1.0e10,
                        "framework": {"name": "megatron-core", "moe_dispatcher": dispatcher}},
           "cluster": cluster}
    if parallel:
        job["parallel"] = parallel
    return job


def test_estimate_and_simulate_refuse_a_named_dispatcher_the_hardware_cannot_run(cli, tmp_path):
    """HybridEP on A100 (TMA: SM90 and up) and DeepEP's EP 16 group across two p5.48xlarge nodes (EFA: no IBGDA) are
    refused in one line naming the field; the same DeepEP inside one node, or across nodes over InfiniBand, runs."""
    a100 = write_job(tmp_path, _qwen("hybridep", {"gpu": "A100-SXM-80GB", "nodes": 1}, tp=1, pp=1, ep=8), "a100.yaml")
    line = refused(cli("estimate", a100))
    assert line.startswith(f"error: {_FIELD}: HybridEP (hybridep) needs an NVIDIA GPU of compute capability 9.0"), line
    assert "A100-SXM-80GB is 8.0" in line, line
    efa = write_job(tmp_path, _qwen("deepep", {"instance": "aws:p5.48xlarge", "nodes": 2}, tp=1, pp=1, ep=16), "efa.yaml")
    for command in ("estimate", "simulate"):
        line = refused(cli(command, efa))
        assert line.startswith(f"error: {_FIELD}: deepep's group (expert TP 1 x EP 16) spans nodes of 8 GPUs"), line
        assert "not efa" in line and "use alltoall" in line, line
    inside = write_job(tmp_path, _qwen("deepep", {"instance": "aws:p5.48xlarge", "nodes": 2}, tp=1, pp=1, ep=8), "in.yaml")
    assert answered(cli("estimate", inside, "--json"))["stack"]["moe_dispatcher"] == "deepep"
    ib = write_job(tmp_path, _qwen("deepep", {"instance": "azure:Standard_ND96isr_H100_v5", "nodes": 2}, tp=1, pp=1,
                                   ep=16), "ib.yaml")
    assert answered(cli("estimate", ib, "--json"))["stack"]["moe_dispatcher"] == "deepep"


def test_recommend_holds_a_named_dispatcher_to_its_hardware(cli, tmp_path):
    """recommend of a job naming HybridEP over A100 and H100 leaves A100 out with the reason (before: its plans were
    ranked); one naming DeepEP at EP 16 on H100 ranks no p5.48xlarge plan (its group would cross EFA) and says where
    the dispatcher was kept inside a node."""
    both = _qwen("hybridep", {})
    both.pop("cluster")
    both["constraints"] = {"gpus": ["A100-SXM-80GB", "H100-SXM-80GB"], "max_gpus": 16}
    d = answered(cli("recommend", write_job(tmp_path, both, "both.yaml"), "--json", "--top", "20"))
    assert {p["hardware"]["gpu"] for p in d["ranked"]} == {"H100-SXM-80GB"}, d["ranked"]
    assert any(a.startswith("left out: A100-SXM-80GB (HybridEP (hybridep: NVIDIA compute capability 9.0 and up")
               for a in d["assumptions"]), d["assumptions"]
    h100 = _qwen("deepep", {}, ep=16)
    h100.pop("cluster")
    h100["constraints"] = {"gpus": ["H100-SXM-80GB"], "max_gpus": 32}
    d = answered(cli("recommend", write_job(tmp_path, h100, "h100.yaml"), "--json", "--top", "20"))
    assert d["ranked"] and all(p["hardware"]["network_fabric"] in ("infiniband", "roce") for p in d["ranked"])
    line = next(a for a in d["assumptions"] if a.startswith(f"{_FIELD} deepep (the job's):"))
    assert "aws:p5.48xlarge (the internode kernels need InfiniBand / RoCE RDMA, not efa)" in line, line


def test_a_bare_cluster_says_which_fabric_it_assumed(cli, tmp_path):
    """A bare B200 cluster with no inter_node_gbps takes p6-b200's network, EFA, so DeepEP stays inside a node: the
    search's dispatcher line, estimate's refusal and recommend's say the fabric was assumed and how to state another
    (cluster.inter_node_gbps, which runs it)."""
    ds3 = {"model": {"preset": "deepseek-v3"},
           "training": {"seq_len": 4096, "global_batch": 4096, "micro_batch": 1, "precision": "fp8", "tokens": 1.0e12,
                        "framework": {"name": "megatron-bridge", "fp8_recipe": "blockwise"}},
           "parallel": {"tp": 1, "pp": 8, "ep": 64, "zero": 1},
           "cluster": {"gpu": "B200-SXM-180GB", "nodes": 64}}
    d = answered(cli("recommend", write_job(tmp_path, ds3, "ds3.yaml"), "--json"))
    line = next(a for a in d["assumptions"] if a.startswith(f"{_FIELD} open:"))
    assumed = ("B200-SXM-180GB's network assumed from aws:p6-b200.48xlarge; state yours with "
               "cluster.inter_node_gbps")
    assert "not efa; " + assumed in line, line
    bare = _qwen("deepep", {"gpu": "B200-SXM-180GB", "nodes": 2}, tp=1, pp=1, ep=16)
    line = refused(cli("estimate", write_job(tmp_path, bare, "bare.yaml")))
    assert line.startswith(f"error: {_FIELD}: deepep's group") and assumed in line, line
    line = refused(cli("recommend", write_job(tmp_path, {**bare, "parallel": {"ep": 16}}, "bare2.yaml")))
    assert line.startswith(f"error: {_FIELD}: ") and "layouts left need its group across nodes" in line, line
    assert assumed in line, line
    stated = {**bare, "cluster": {**bare["cluster"], "inter_node_gbps": 3200}}
    assert answered(cli("estimate", write_job(tmp_path, stated, "ib.yaml"), "--json"))["stack"]["moe_dispatcher"] == "deepep"


def test_recommend_tries_the_a2a_overlap_on_the_best_layouts(cli, tmp_path):
    """``moe_a2a_overlap`` left open is tried with the dispatchers on each option's best layouts
    (``recommend._try_dispatchers``), listed under ``searched`` with an assumption line; the plan that runs it is one
    Megatron-Core accepts (EP > 1, PP 1 or interleaved, no full recompute) and is faster than the same job with it
    off. Before, it was never searched: Qwen3-30B-A3B on 4 p5.48xlarge nodes kept it off."""
    job = {"model": {"preset": "qwen3-30b-a3b"}, "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1.0e10},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}}
    d = answered(cli("recommend", write_job(tmp_path, job), "--json"))
    best = d["best"]
    assert best["stack"]["moe_a2a_overlap"] is True and "moe_a2a_overlap" in best["stack"]["searched"], best["stack"]
    c = best["config"]
    assert c["ep"] > 1 and (c["pp"] == 1 or (c["vpp"] or 1) > 1) and c["recompute"] != "full", c
    assert any(a.startswith("training.framework.moe_a2a_overlap open: megatron-core tried it off (its default)")
               for a in d["assumptions"]), d["assumptions"]
    off = {**job, "training": {**job["training"], "framework": {"name": "megatron-core", "moe_a2a_overlap": False}}}
    fixed = answered(cli("recommend", write_job(tmp_path, off, "off.yaml"), "--json"))["best"]
    assert fixed["stack"]["moe_a2a_overlap"] is False and "moe_a2a_overlap" not in fixed["stack"]["searched"]
    assert best["step_time_s"] < fixed["step_time_s"], (best["step_time_s"], fixed["step_time_s"])


def test_a2a_overlap_is_not_tried_where_the_job_rules_it_out():
    """Tried on an MoE transformer only, and not where a job-wide Megatron rule refuses it (a hybrid Mamba model: no
    combined-1F1B schedule plan; the shared-expert overlap the job sets), each with the rule's words."""
    from planner.search.space import a2a_overlap_choices, stack_variants
    from planner.spec import load_job_dict

    def base(preset, **fw):
        t = {"seq_len": 4096, "global_batch": 256, "tokens": 1e10}
        if fw:
            t["framework"] = {"name": "megatron-core", **fw}
        job = load_job_dict({"model": {"preset": preset}, "training": t,
                             "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}})
        return job, stack_variants(job)[0]

    job, b = base("qwen3-30b-a3b")
    assert "moe_a2a_overlap" in b.values and a2a_overlap_choices(b.stack, job.model, job.training) == ((False, True), {})
    for preset, fw, words in (("nemotron-3-super-120b-a12b", {}, "hybrid (Mamba) model"),
                              ("deepseek-v3", {"moe_shared_expert_overlap": True}, "shared-expert overlap"),
                              ("llama3-8b", {}, None)):
        job, b = base(preset, **fw)
        tried, left = a2a_overlap_choices(b.stack, job.model, job.training)
        assert tried == (False,) and "moe_a2a_overlap" not in b.values, preset
        assert (words is None and not left) or words in left[True], left
