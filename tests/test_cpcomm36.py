"""Megatron-Core's context-parallel exchange types (cpcomm36): ``training.framework.cp_comm_type`` (--cp-comm-type p2p,
all_gather, a2a, a2a+p2p), priced per Transformer Engine's context_parallel.py, refused where TE's Ulysses cannot
split the heads, searched by recommend where left open, said in the stack line and written by --emit."""
from __future__ import annotations

import json

from conftest import write_job

# Llama-3-8B (32 heads, 8 KV heads) at 128K tokens, CP16 over two 8-GPU H100 nodes, Megatron-Core, full recompute
JOB = """
model: {preset: MODEL}
training: {seq_len: 131072, global_batch: 32, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e10,
           framework: FW}
parallel: {tp: TP, pp: 1, cp: CP, zero: 1}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2}
"""


def _job(tmp_path, comm: str | None, cp: int = 16, tp: int = 1, model: str = "llama3-8b", fixed: bool = True):
    fw = "megatron-core" if comm is None else "{name: megatron-core, cp_comm_type: '%s'}" % comm
    text = JOB.replace("FW", fw).replace("MODEL", model).replace("TP", str(tp)).replace("CP", str(cp))
    if not fixed:
        text = text.replace("parallel: {tp: %d, pp: 1, cp: %d, zero: 1}" % (tp, cp), "parallel: {pp: 1, cp: %d}" % cp)
    return write_job(tmp_path, text, f"j-{comm}-{cp}-{tp}-{model}-{fixed}.yaml".replace("+", "_"))


def _estimate(cli, tmp_path, comm, **kw):
    code, out, err = cli("estimate", _job(tmp_path, comm, **kw), "--json")
    assert code == 0, err
    return json.loads(out)


def test_each_exchange_is_priced_as_te_runs_it(cli, tmp_path):
    """p2p: the ring's hops under each step's attention; all_gather: K/V gathered before the kernel, gathered again
    and dK/dV reduce-scattered in backward, exposed (TE: 'KV all-gather between CP ranks is exposed'); a2a+p2p:
    all-to-alls inside the node, the ring across the two nodes. Before, cp_comm_type was an unknown option."""
    p2p, ag, hier = (_estimate(cli, tmp_path, c) for c in ("p2p", "all_gather", "a2a+p2p"))
    cp = {k: d["breakdown_s"].get("comm_cp", 0.0) for k, d in (("p2p", p2p), ("ag", ag), ("hier", hier))}
    # all-gather's exposed collectives: forward one all-gather of the whole K/V (131,072 x 2 x 1,024 x 2 B), backward
    # two, over 32 layers and 32 micro-batches
    assert cp["ag"] > cp["p2p"] and cp["ag"] > 5.0, cp
    assert p2p["step_time_s"] != hier["step_time_s"] != ag["step_time_s"], cp
    # the ring of two nodes runs 2 steps of 65,536 keys a call: the attention kernel at its long-call rate
    assert hier["breakdown_s"]["compute_attention"] < p2p["breakdown_s"]["compute_attention"]


def test_default_is_megatron_cores_p2p(cli, tmp_path):
    """Left unset on estimate, the exchange is Megatron-Core's default, p2p (arguments.py default ["p2p"]): the
    same step as naming it, and the stack line says which type ran."""
    a, b = _estimate(cli, tmp_path, None), _estimate(cli, tmp_path, "p2p")
    assert a["step_time_s"] == b["step_time_s"]
    assert a["config"]["cp_comm_type"] == "p2p"
    line = next(x for x in a["assumptions"] if x.startswith("training stack"))
    assert "CP16 exchange: K/V ring" in line and "(TE cp_comm_type p2p)" in line, line


def test_a2a_refuses_cp_not_dividing_a_tp_ranks_heads(cli, tmp_path):
    """TE AttnFuncWithCPAndQKVOA2A asserts q and k heads divisible by the CP size (no KV repetition): Llama-3-8B's
    8 KV heads at CP16 are refused in one line; at CP8 TP1 (8 KV heads) it runs, with exposed all-to-alls."""
    code, out, err = cli("estimate", _job(tmp_path, "a2a"), "--json")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (out, err)
    assert lines[0].startswith("error: training.framework.cp_comm_type:"), err
    assert "CP16 with 32 heads and 8 KV heads a TP1 rank" in err
    ok = _estimate(cli, tmp_path, "a2a", cp=8)
    assert ok["breakdown_s"].get("comm_cp", 0.0) > 0.0


def test_unknown_type_and_other_stacks_refused(cli, tmp_path):
    """A value outside Megatron's four, and the option on a stack whose CP exchange is fixed (torchtitan's
    all-gather), each refused in one line naming what is known."""
    code, out, err = cli("estimate", _job(tmp_path, "ring"), "--json")
    assert code == 2 and err.startswith("error: training.framework.cp_comm_type:"), err
    assert "p2p, all_gather, a2a, a2a+p2p" in err, err
    job = write_job(tmp_path, JOB.replace("FW", "{name: torchtitan, cp_comm_type: p2p}").replace("MODEL", "llama3-8b")
                    .replace("TP", "1").replace("CP", "16"), "titan.yaml")
    code, out, err = cli("estimate", job, "--json")
    assert code == 2 and "cp_comm_type" in err and len(err.strip().splitlines()) == 1, err
    assert "runs on megatron-core, nemo, megatron-bridge" in err, err


def test_recommend_searches_it_and_emit_writes_it(cli, tmp_path):
    """Left open, recommend tries the four on the CP > 1 layouts; at CP16 over two nodes a2a+p2p (a2a over the 8
    GPUs of a node, the ring over the 2 nodes) beats the ring whose every hop crosses the NIC. --emit writes the
    type and the hierarchical sizes Megatron asserts are given."""
    job = _job(tmp_path, None)
    code, out, err = cli("recommend", job, "--json")
    assert code == 0, err
    best = json.loads(out)["best"]
    assert best["config"]["cp_comm_type"] == "a2a+p2p", best["config"]
    code, out, err = cli("recommend", job, "--emit", "torchrun")
    assert code == 0, err
    assert "--cp-comm-type a2a+p2p" in out and "--hierarchical-context-parallel-sizes 8 2" in out, out


def test_hierarchical_a2a_stays_in_the_node_and_divides_the_heads():
    from planner.model.comm import hierarchical_cp_a2a

    # CP16 TP2 on 8-GPU nodes: 4 CP ranks a node, and 4 KV heads a TP rank; TP8: one KV head, the ring alone
    assert hierarchical_cp_a2a([16, 16, 8], [2, 8, 1], 8, 32, 8).tolist() == [4, 1, 8]


def test_megatron_core_accepts_the_emitted_hierarchical_cp(tmp_path):
    """The emitted ``--cp-comm-type a2a+p2p --hierarchical-context-parallel-sizes 8 2`` through Megatron's argument
    rules and TransformerConfig (tests/test_launch_parsers.py's harness, on this CPU)."""
    from planner.present.emit import emit_launch_spec
    from planner.spec.load import load_job
    from planner.workloads.training import estimate_job
    from test_launch_parsers import command_of, megatron_accepts, script_of, torchrun_accepts

    job = load_job(_job(tmp_path, "a2a+p2p"))
    best = estimate_job(job)
    env, argv = command_of(script_of("torchrun", emit_launch_spec(job, best, "torchrun:megatron")))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 16, env)["cfg"]
    assert cfg.cp_comm_type == "a2a+p2p" and cfg.context_parallel_size == 16
