"""gaudi37: Megatron-Core on Intel Gaudi is Intel's fork, HabanaAI/Megatron-LM (core_r0.9.0, Intel Transformer Engine).

QA 52 left it: a Gaudi 2 Llama-3-8B fine-tune was recommended at ``mfsdp:z2`` (Megatron-FSDP, Core 0.12+), fp8 priced as
TE's tensorwise recipe (``--fp8-recipe``, Core 0.12.0) and TP overlapped by TE userbuffers, none of which the fork has.
Now ``megatron-core`` on a Gaudi is the ``megatron-core-gaudi`` entry (planner.model.stacks ``PORTS``): the search tries
only its options, an option it lacks is one line, fp8 is delayed scaling, and the outputs name the fork.
"""
from __future__ import annotations

from conftest import answered, refused, write_job

GAUDI2 = {"gpu": "Gaudi2", "gpus_per_node": 8, "nodes": 1}
LLAMA8B = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 128, "micro_batch": 1, "tokens": 1e9,
                        "framework": {"name": "megatron-core"}},
           "parallel": {"tp": 2, "pp": 1, "dp": 4, "zero": 1}, "cluster": GAUDI2}


def _job(cluster=GAUDI2, precision="bf16", parallel=None, **framework) -> dict:
    t = {**LLAMA8B["training"], "precision": precision, "framework": {"name": "megatron-core", **framework}}
    return {**LLAMA8B, "training": t, "parallel": parallel or LLAMA8B["parallel"], "cluster": cluster}


def test_megatron_core_on_gaudi_is_intels_fork_with_delayed_fp8_and_no_tp_overlap(cli, tmp_path):
    """The stack record, the stack line and an assumption name the fork; fp8 is its one recipe (delayed scaling),
    TP is not overlapped, gradient reduce not overlapped (the fork's launch passes no --overlap-grad-reduce). The
    same job on an H100 stays upstream Megatron-Core (tensorwise, TE userbuffers)."""
    got = answered(cli("estimate", str(write_job(tmp_path, _job(precision="fp8"))), "--json"))
    st = got["stack"]
    assert st["name"] == "megatron-core-gaudi" and st["fp8_recipe"] == "delayed", st
    assert st["tp_overlap"] == "none" and st["overlap_grad_reduce"] is False, st
    said = " ".join(got["assumptions"])
    assert "training.framework megatron-core on Gaudi2-96GB (Intel Gaudi (SynapseAI)) is megatron-core-gaudi" in said
    assert "-- Intel's fork HabanaAI/Megatron-LM (Megatron-Core core_r0.9.0" in said, said
    h100 = answered(cli("estimate", str(write_job(tmp_path, _job({"gpu": "H100-SXM-80GB", "gpus_per_node": 8,
                                                                   "nodes": 1}, "fp8"), "h100.yaml")), "--json"))
    assert (h100["stack"]["name"], h100["stack"]["fp8_recipe"], h100["stack"]["tp_overlap"]) == \
        ("megatron-core", "tensorwise", "te")


#: how a refusal of an option the fork lacks starts, for a job that names megatron-core on a Gaudi 2 (QA 53)
FORK = "megatron-core on Gaudi2-96GB is megatron-core-gaudi, Intel's fork HabanaAI/Megatron-LM, which has no"


def test_options_the_fork_lacks_are_one_line_each(cli, tmp_path):
    """Megatron-FSDP, the tensorwise recipe, TE userbuffers and ZeRO-3 (no --use-torch-fsdp2 in core_r0.9.0) were
    all priced on a Gaudi; each is now refused on its own field, saying that megatron-core there is the fork (QA 53)."""
    cases = [
        (_job(parallel={"tp": 1, "pp": 1, "dp": 8, "zero": 2}, megatron_fsdp=True),
         "error: training.framework.megatron_fsdp: "
         f"{FORK} Megatron-FSDP"),
        (_job(precision="fp8", fp8_recipe="tensorwise"),
         "error: training.framework.fp8_recipe: "
         f"{FORK} tensorwise fp8_recipe (it offers delayed"),
        (_job(tp_overlap="te"), "error: training.framework.tp_overlap: "
         f"{FORK} te tp_overlap"),
        (_job(parallel={"tp": 1, "pp": 1, "dp": 8, "zero": 3}), "error: parallel.zero: "),
    ]
    for i, (job, start) in enumerate(cases):
        line = refused(cli("estimate", str(write_job(tmp_path, job, f"j{i}.yaml"))))
        assert line.startswith(start), line
    assert "Intel's Megatron-LM fork" in line, line  # the ZeRO-3 refusal says whose code lacks it


def test_recommend_on_gaudi_searches_only_the_forks_options(cli, tmp_path):
    """The QA 52 job: Llama-3-8B full fine-tune on Gaudi 2 with the stack left open was recommended at mfsdp:z2
    (28.10 s a step); now the fork's ZeRO-1 / TP layouts, no Megatron-FSDP searched, and the assumption says why."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"mode": "full_finetune", "seq_len": 8192, "global_batch": 128, "tokens": 1e9},
           "constraints": {"gpus": ["Gaudi2-96GB"]}}
    got = answered(cli("recommend", str(write_job(tmp_path, job)), "--json", "--no-simulate"))
    best = got["best"]
    assert best["stack"]["name"] == "megatron-core-gaudi", best["stack"]
    assert "megatron_fsdp" not in best["stack"]["searched"] and best["config"]["zero"] <= 1, best
    assert any("megatron-core there is megatron-core-gaudi, Intel's fork HabanaAI/Megatron-LM" in a
               for a in got["assumptions"]), got["assumptions"]


def test_emit_of_a_gaudi_plan_names_the_forks_launcher_not_upstream_flags(cli, tmp_path):
    """--emit wrote an upstream Megatron-LM launch (--fp8-recipe tensorwise, which core_r0.9.0 does not parse) for a
    Gaudi plan; gaudi37 refused it with the fork's launcher in one line; now (emitfork37) the launch runs the fork's
    examples/llama/pretrain_llama.sh with the plan's HL_ variables."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 128, "tokens": 1e9, "precision": "fp8"},
           "constraints": {"gpus": ["Gaudi2-96GB"]}}
    code, out, err = cli("recommend", str(write_job(tmp_path, job)), "--emit", "torchrun", "--no-simulate")
    assert code == 0, err
    assert "export HL_NUM_NODES=1\n" in out and "export HL_FP8=1\n" in out, out
    assert 'bash "$MEGATRON_LM_ROOT"/examples/llama/pretrain_llama.sh' in out and "--fp8-recipe" not in out, out
