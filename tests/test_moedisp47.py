"""moedisp47: ``recommend`` searches the MoE token dispatcher (``training.framework.moe_dispatcher``) where the job
leaves it open and the stack offers several, only on the GPUs and fabrics each library runs on
(planner.model.moe ``DISPATCHER_NEEDS``), and ``estimate`` says what another dispatcher would do. QA 81 found
DeepSeek-V3 on B200 at EP 64 recommended at 7.9% MFU with the all-to-all 69% of the step, 12.3% with DeepEP, and
neither the search nor the advice tried it. Each test fails on the code before."""
from __future__ import annotations

from types import SimpleNamespace as G

from conftest import answered, write_job

from planner.model.moe import dispatcher_gpu_refusal, dispatcher_local_only

# DeepSeek-V3 on 64 B200 nodes at EP 64 (8 nodes an expert group), block-wise FP8 on Megatron-Bridge: QA 81's job with
# the layout fixed but for the micro-batch and recompute, so the search is small
_DS3 = {"model": {"preset": "deepseek-v3"},
        "training": {"seq_len": 4096, "global_batch": 4096, "micro_batch": 1, "precision": "fp8", "tokens": 1.0e12,
                     "framework": {"name": "megatron-bridge", "fp8_recipe": "blockwise"}},
        "parallel": {"tp": 1, "pp": 8, "ep": 64, "zero": 1},
        "cluster": {"gpu": "B200-SXM-180GB", "nodes": 64, "inter_node_gbps": 3200}}


def _job(**over):
    job = {k: dict(v) for k, v in _DS3.items()}
    for path, value in over.items():
        section, key = path.split(".")
        job[section] = {**job[section], key: value}
    return job


def test_recommend_searches_the_dispatcher_and_lists_it(cli, tmp_path):
    """The best plan runs a flex dispatcher (one copy per destination node across the network), its stack record lists
    ``moe_dispatcher`` under ``searched`` as fp8_recipe auto does, and an assumption line says what was tried. Before,
    the plan stayed on the all-to-all and nothing said the option existed."""
    d = answered(cli("recommend", write_job(tmp_path, _DS3), "--json"))
    stack = d["best"]["stack"]
    assert stack["moe_dispatcher"] in ("deepep", "hybridep"), stack
    assert "moe_dispatcher" in stack["searched"], stack
    line = next(a for a in d["assumptions"] if a.startswith("training.framework.moe_dispatcher open:"))
    assert "megatron-bridge tried alltoall, deepep, hybridep" in line, line
    fixed = answered(cli("recommend", write_job(tmp_path, _job(**{"training.framework": {
        **_DS3["training"]["framework"], "moe_dispatcher": "alltoall"}}), "fixed.yaml"), "--json"))
    assert fixed["best"]["stack"]["moe_dispatcher"] == "alltoall"
    assert "moe_dispatcher" not in fixed["best"]["stack"]["searched"]
    assert d["best"]["mfu"] > 1.2 * fixed["best"]["mfu"], (d["best"]["mfu"], fixed["best"]["mfu"])


def test_dispatchers_stay_off_hardware_their_libraries_do_not_run_on(cli, tmp_path):
    """On A100 HybridEP is never tried (TMA: compute capability 9.0 and up); on aws:p5.48xlarge (EFA: no IBGDA, no
    mlx5 NIC) neither flex dispatcher runs a group that leaves the node, so every EP 64 plan is the all-to-all's and
    the assumption line says where they were kept inside one node."""
    a100 = answered(cli("recommend", write_job(tmp_path, _job(**{"cluster.gpu": "A100-SXM-80GB",
                                                                 "training.precision": "bf16",
                                                                 "training.framework": {"name": "megatron-bridge"}}),
                                               "a100.yaml"), "--json", "--top", "20"))
    assert {p["stack"]["moe_dispatcher"] for p in a100["ranked"]} <= {"alltoall", "deepep"}
    line = next(a for a in a100["assumptions"] if a.startswith("training.framework.moe_dispatcher open:"))
    assert "hybridep not on A100-SXM-80GB (HybridEP (hybridep) needs an NVIDIA GPU of compute capability 9.0" in line
    efa = {k: dict(v) for k, v in _DS3.items()}
    efa["cluster"] = {"instance": "aws:p5.48xlarge", "nodes": 64}
    efa["training"] = {**efa["training"], "precision": "bf16", "framework": {"name": "megatron-bridge"}}
    d = answered(cli("recommend", write_job(tmp_path, efa, "efa.yaml"), "--json", "--top", "20"))
    assert {p["stack"]["moe_dispatcher"] for p in d["ranked"]} == {"alltoall"}
    line = next(a for a in d["assumptions"] if a.startswith("training.framework.moe_dispatcher open:"))
    assert "deepep, hybridep inside one node only on aws:p5.48xlarge" in line and "not efa" in line, line


def test_estimate_advises_the_faster_dispatcher(cli, tmp_path):
    """estimate keeps the stack's all-to-all (and prints it) where the job leaves the dispatcher open, and its advice
    gives DeepEP's step for the same plan: the all-to-all is ~70% of this step."""
    job = _job(**{"training.recompute": "full"})
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert d["stack"]["moe_dispatcher"] == "alltoall"
    line = next(a for a in d["advice"] if a.startswith("training.framework.moe_dispatcher=deepep also fits"))
    faster = float(line.split("takes ")[1].split(" s per step")[0])
    assert faster < 0.8 * d["step_time_s"], line
    assert "once per destination node" in line, line


def test_dispatcher_needs_table():
    """What each library needs: DeepEP SM80+, HybridEP SM90+, NVIDIA with NVLink between every pair of a node's GPUs,
    and InfiniBand / RoCE to cross nodes (a bare cluster's unstated fabric is taken as RDMA)."""
    def gpu(name, link, vendor="NVIDIA"):
        return G(name=name, vendor=vendor, intra_node_link=link)

    assert dispatcher_gpu_refusal("deepep", gpu("A100-SXM-80GB", "NVLink3")) is None
    assert dispatcher_gpu_refusal("hybridep", gpu("A100-SXM-80GB", "NVLink3")) is not None
    assert dispatcher_gpu_refusal("hybridep", gpu("B200-SXM-180GB", "NVLink5")) is None
    assert "NVLink" in dispatcher_gpu_refusal("deepep", gpu("L40S-48GB", "PCIe"))
    assert dispatcher_gpu_refusal("deepep", gpu("H100-NVL-94GB", "NVLink-bridge")) is not None
    assert dispatcher_gpu_refusal("deepep", gpu("MI300X-192GB", "InfinityFabric", "AMD")) is not None
    assert dispatcher_gpu_refusal("alltoall", gpu("L40S-48GB", "PCIe")) is None
    assert [dispatcher_local_only("deepep", f) is None for f in ("infiniband", "roce", None, "efa", "ethernet")] == \
        [True, True, True, False, False]


def test_dispatchers_the_job_rules_out_are_not_tried():
    """A job whose other options refuse the flex dispatchers keeps the all-to-all and searches nothing: CUDA graphs of
    the MoE layer (``cuda_graph_scope: [attn, moe]``, drop-and-pad) are the all-to-all's only (stacks.cuda_graph_parts);
    a dense model has no dispatcher to choose. Without this check the search priced DeepEP and its step raised."""
    from planner.search.space import dispatcher_choices, stack_variants
    from planner.spec import load_job_dict

    job = load_job_dict({"model": {"preset": "qwen3-30b-a3b",
                                   "moe": {"dropless": False, "capacity_factor": 1.0, "pad_to_capacity": True}},
                         "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11,
                                      "framework": {"name": "megatron-core", "cuda_graph_impl": "transformer_engine",
                                                    "cuda_graph_scope": ["attn", "moe"]}},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    base = stack_variants(job)[0]
    tried, left = dispatcher_choices(base.stack, job.model, job.training)
    assert tried == ("alltoall",) and set(left) == {"deepep", "hybridep"}, (tried, left)
    assert all("moe_dispatcher" not in v.values for v in stack_variants(job))
    open_job = load_job_dict({"model": {"preset": "qwen3-30b-a3b"},
                              "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e11},
                              "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    assert stack_variants(open_job)[0].values["moe_dispatcher"] == "alltoall"
    dense = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256,
                                                                          "tokens": 1e11}})
    assert all("moe_dispatcher" not in v.values for v in stack_variants(dense))
