"""QA 53: this session's new options end to end (docs/qa_log.md "QA 53")."""
from conftest import answered, refused

# Megatron-Core's precision-aware optimizer, an option Intel's core_r0.9.0 fork (megatron-core-gaudi) lacks
PA_8B = """model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, precision: bf16, optimizer: adamw, tokens: 1.0e11,
           framework: {name: megatron-core, precision_aware_optimizer: true, exp_avg_dtype: bf16,
                       exp_avg_sq_dtype: bf16}}
"""


def test_precision_aware_over_h100_and_gaudi_plans_the_h100_and_says_why_gaudi_is_out(cli, tmp_path):
    """megatron-core over H100 and Gaudi 2 is two code bases (stacks.PORTS): upstream on the H100, Intel's fork on the
    Gaudi, which has no precision-aware optimizer. The fork's refusal failed the whole search (exit 2) though the H100
    runs the job; now the Gaudi is left out with that reason and the H100 planned."""
    p = tmp_path / "pa.yaml"
    p.write_text(PA_8B + "constraints: {gpus: [Gaudi2-96GB, H100-SXM-80GB], max_gpus: 8, objective: cost}\n")
    d = answered(cli("recommend", str(p), "--json", "--no-simulate"))
    assert {r["hardware"]["gpu"] for r in d["ranked"]} == {"H100-SXM-80GB"}
    assert d["best"]["stack"]["precision_aware_optimizer"] is True
    out = [c for c in d["caveats"] if "Gaudi2-96GB" in c]
    assert len(out) == 1 and "megatron-core-gaudi" in out[0] and "no precision-aware optimizer" in out[0], out
    assert "does not run on Intel Gaudi" not in out[0], out  # (megatron-core does, as Intel's fork)


def test_precision_aware_on_gaudi_alone_names_the_fork_the_job_did_not_name(cli, tmp_path):
    """On a Gaudi alone the refusal read "megatron-core-gaudi has no precision-aware optimizer ...: leave it out (it
    runs on megatron-core, ...)" for a job naming megatron-core: now it says megatron-core there is Intel's fork,
    whole inside the error's length limit."""
    p = tmp_path / "pa.yaml"
    p.write_text(PA_8B + "parallel: {tp: 1, pp: 1, zero: 1}\ncluster: {gpu: Gaudi3-128GB, gpus_per_node: 8, nodes: 1}\n")
    for cmd in ("estimate", "recommend"):
        line = refused(cli(cmd, str(p)))
        assert line.startswith("error: training.framework.precision_aware_optimizer: megatron-core on Gaudi3-128GB is "
                               "megatron-core-gaudi, Intel's fork HabanaAI/Megatron-LM, which has no precision-aware "
                               "optimizer"), line
        assert "…" not in line, line


# Llama-3-8B at 128K on 16 H100s, CP16: Megatron's per-layer --cp-comm-type (cpmem37)
CP_8B = """model: {{preset: llama3-8b}}
training: {{seq_len: 131072, global_batch: 32, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e10,
           framework: {{name: megatron-core, cp_comm_type: {types}}}}}
parallel: {{tp: 1, pp: 1, cp: 16, zero: 1, sequence_parallel: false}}
cluster: {{instance: aws:p5.48xlarge, nodes: 2}}
"""


def test_uniform_cp_list_of_another_length_is_refused_as_megatron_refuses_it(cli, tmp_path):
    """Megatron reads a one-entry --cp-comm-type as that type (arguments.py: len(args.cp_comm_type) == 1) and asserts
    any longer list's length at CP > 1 (TransformerConfig: 'Length of cp_comm_type ... should equal to the total
    number of transformer layers'). A list of one type repeated was read as that type whatever its length: [p2p, p2p]
    on a 32-layer model was priced (113.36 s), a job Megatron refuses."""
    p = tmp_path / "cp.yaml"
    p.write_text(CP_8B.format(types="[p2p, p2p]"))
    line = refused(cli("estimate", str(p)))
    assert line.startswith("error: training.framework.cp_comm_type: Megatron refuses a per-layer cp_comm_type list")
    assert "2 types for 32 layers at CP16" in line, line
    p.write_text(CP_8B.format(types="[all_gather]"))  # one entry: that type, as Megatron reads it
    one = answered(cli("estimate", str(p), "--json"))
    p.write_text(CP_8B.format(types="[" + ", ".join(["all_gather"] * 32) + "]"))  # the whole list: the same price
    whole = answered(cli("estimate", str(p), "--json"))
    assert one["config"]["cp_comm_type"] == "all_gather" and whole["config"]["cp_comm_type"] == ["all_gather"] * 32
    assert whole["step_time_s"] == one["step_time_s"]


def _nano(tmp_path, types) -> str:
    from planner.spec.presets import PRESETS
    pattern = PRESETS["nemotron-3-nano-30b-a3b"]["hybrid_pattern"]
    if callable(types):
        types = [types(k) for k in pattern]
    p = tmp_path / "nano.yaml"
    p.write_text(f"""model: {{preset: nemotron-3-nano-30b-a3b}}
training: {{seq_len: 65536, global_batch: 64, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e12,
           framework: {{name: megatron-bridge, cp_comm_type: {types!r}}}}}
parallel: {{tp: 1, pp: 1, cp: 4, ep: 4, zero: 1}}
cluster: {{gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2, inter_node_gbps: 3200}}
""".replace("'", ""))
    return str(p)


def test_hybrid_list_whose_attention_layers_run_one_type_prices_that_type(cli, tmp_path):
    """Nemotron 3 Nano's 52 layers hold 6 attention layers, the only ones with a CP exchange. A list giving them all
    all_gather and the Mamba / MoE layers p2p is a mixed list whose priced layers run one type: estimate failed with
    "internal error (ValueError): a per-layer cp_comm_type has one kind a layer" (exit 1). Now it is all_gather's
    price, and the other way round p2p's."""
    ag = answered(cli("estimate", _nano(tmp_path, "all_gather"), "--json"))
    p2p = answered(cli("estimate", _nano(tmp_path, "p2p"), "--json"))
    att_ag = answered(cli("estimate", _nano(tmp_path, lambda k: "all_gather" if k == "*" else "p2p"), "--json"))
    att_p2p = answered(cli("estimate", _nano(tmp_path, lambda k: "p2p" if k == "*" else "all_gather"), "--json"))
    assert att_ag["step_time_s"] == ag["step_time_s"] != p2p["step_time_s"] == att_p2p["step_time_s"]
    line = next(x for x in att_ag["assumptions"] if x.startswith("training stack"))
    assert "CP4 exchange: K/V all-gathered" in line, line


def test_recommend_with_a_per_layer_cp_list_ranks_and_writes_the_list(cli, tmp_path):
    """recommend of a job with a mixed cp_comm_type list put the stack's tuple in the ranked table as a column of
    its own, one type a row: any search with more rows in a batch than the model has layers failed with "internal
    error (IndexError): index 97 is out of bounds for axis 0 with size 32". Now it ranks, and --csv's column holds
    the whole list in Megatron's --cp-comm-type words on every row."""
    import pandas as pd
    types = ["all_gather"] * 16 + ["p2p"] * 16
    p = tmp_path / "cp.yaml"
    p.write_text(f"""model: {{preset: llama3-8b}}
training: {{seq_len: 32768, global_batch: 64, precision: bf16, tokens: 1.0e10,
           framework: {{name: megatron-core, cp_comm_type: [{', '.join(types)}]}}}}
constraints: {{gpus: [H100-SXM-80GB], max_gpus: 16, objective: cost}}
""")
    out = tmp_path / "ranked.csv"
    d = answered(cli("recommend", str(p), "--json", "--no-simulate", "--csv", str(out)))
    assert d["best"]["config"]["cp"] > 1 and d["best"]["config"]["cp_comm_type"] == types, d["best"]["config"]
    rows = pd.read_csv(out)
    assert len(rows) > 32 and set(rows["cp_comm_type"]) == {" ".join(types)}


def test_auto_says_which_stacks_it_compares_when_none_runs_the_job(cli, tmp_path):
    """``framework: auto`` with an option only a stack outside its comparison takes (``loss_fn``: nemo-automodel) read
    "no stack runs this job"; the line now leads with the stacks auto compares and says to name the stack."""
    import yaml

    from conftest import refused

    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e9, "precision": "bf16",
                        "framework": {"name": "auto", "loss_fn": "linear_ce"}},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(job))
    line = refused(cli("recommend", str(path), "--no-simulate"))
    assert "framework auto compares megatron-core, torchtitan" in line and "name the stack" in line, line
