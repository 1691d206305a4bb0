"""``training.framework.pp_layout`` (a Megatron-Core option) with ``framework: auto``: recommend searches only the
stacks that hold the option, the others shown as refused with the option's own reason, the chosen plan runs the
layout; where no stack that holds it can run the job, one line says why each was refused."""

from conftest import answered, write_job

LAYOUT = "Et*8|t*8|t*8|t*8L"  # Llama-3-8B's 32 layers on 4 virtual stages


def _job(gpus, cloud="aws"):
    return {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 4096, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11,
                         "framework": {"name": "auto", "pp_layout": LAYOUT}},
            "constraints": {"clouds": [cloud], "gpus": gpus, "max_gpus": 32, "objective": "cost"}}


def test_auto_searches_only_the_stacks_that_hold_the_layout(tmp_path, cli):
    d = answered(cli("recommend", write_job(tmp_path, _job(["H100-SXM-80GB"])), "--json"))
    by = {s["framework"]: s for s in d["stacks"]}
    assert by["megatron-core"]["status"] == "chosen"
    others = [s for n, s in by.items() if n != "megatron-core"]
    assert others and all(s["status"] == "refused" and s["reason"].startswith("training.framework.pp_layout: ")
                          for s in others), others
    cfg = d["best"]["config"]
    assert cfg["pp_layout"] == LAYOUT and cfg["pp"] * max(cfg["vpp"], 1) == 4
    assert sum(cfg["rank_layers"]) == 32


def test_auto_with_no_stack_that_can_run_the_layout_is_refused_in_one_line(tmp_path, cli):
    # TPUs only: Megatron-Core does not run there, and MaxText (the TPUs' stack) has no such layout
    code, out, err = cli("recommend", write_job(tmp_path, _job(["TPU-v5p"], cloud="gcp")))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training.framework: ") and "Traceback" not in err
    assert "and none runs this job" in lines[0]
