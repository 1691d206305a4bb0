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
