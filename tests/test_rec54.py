"""rec54: ``recommend`` searches accelerate's FSDP version where the job leaves ``training.framework.fsdp_version``
open (planner.search.space ``stack_variants``): under the HF Trainer's default FSDP2 a QLoRA base's uint8 Params4bit
stay whole on every rank (qlora54), so Llama-3.1-70B QLoRA fits 4 x A10G only under FSDP1; a version the job sets is
kept (docs/qa_log.md "rec54")."""
from __future__ import annotations

import json

from conftest import write_job

QLORA_70B_G5 = """
model: {preset: llama3.1-70b}
training: {mode: qlora, lora: {rank: 16, alpha: 32, targets: all-linear}, seq_len: 1024, global_batch: 16,
           precision: bf16, recompute: full, dataset_samples: 50000, mean_example_tokens: 700, packing: packed,
           epochs: 3%s}
constraints: {instances: [aws:g5.12xlarge], max_gpus: 4, objective: cost}
"""


def test_open_fsdp_version_finds_the_fsdp1_plan_and_says_why(cli, tmp_path):
    """Left open, the search tries FSDP1 beside the Trainer's FSDP2 and plans FSDP1 (before: nothing fit, the
    nearest FSDP2 layout 43.8 GiB a GPU); the JSON records the value as searched, the plan says why."""
    code, out, err = cli("recommend", write_job(tmp_path, QLORA_70B_G5 % ""), "--no-simulate", "--json")
    assert code == 0, err
    res = json.loads(out)
    stack = res["best"]["stack"]
    assert stack["fsdp_version"] == 1 and "fsdp_version" in stack["searched"], stack
    why = [a for a in res["assumptions"] if a.startswith("training.framework.fsdp_version 1 (searched")]
    assert len(why) == 1 and "fsdp_version 2, the default, does not fit" in why[0], res["assumptions"]


def test_fsdp_version_2_set_is_kept_and_refused_for_memory(cli, tmp_path):
    """A version the job sets is never changed: under FSDP2 nothing fits, refused with the memory reason."""
    job = write_job(tmp_path, QLORA_70B_G5 % ",\n           framework: {name: hf-trainer, fsdp_version: 2}")
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 2 and err.startswith("error: memory: no configuration fits in GPU memory"), err
    assert "Traceback" not in err


def test_fsdp_version_1_set_is_kept_and_not_listed_as_searched(cli, tmp_path):
    """Set by the job, the version is the job's: the plan runs it and the record does not list it as searched."""
    job = write_job(tmp_path, QLORA_70B_G5 % ",\n           framework: {name: hf-trainer, fsdp_version: 1}")
    code, out, err = cli("recommend", job, "--no-simulate", "--json")
    assert code == 0, err
    stack = json.loads(out)["best"]["stack"]
    assert stack["fsdp_version"] == 1 and "fsdp_version" not in stack["searched"], stack


def test_a_searched_version_prices_its_mechanisms():
    """``Stack.with_options(fsdp_version=...)`` (how a search variant is built) sets the version's mechanisms as
    ``from_training`` does; before, FSDP1 named on an FSDP2 stack kept ``fsdp2_dp`` and was priced as FSDP2."""
    from planner.model.stacks import resolve
    from planner.model.finetune import bnb_ignored_by_fsdp2

    st = resolve("hf-trainer", fsdp_version=2)
    one = st.with_options(fsdp_version=1)
    assert (one.fsdp_version, one.fsdp2_dp, one.fsdp1_no_sync) == (1, False, True)
    assert not bnb_ignored_by_fsdp2(one)


def test_the_table_says_which_plans_run_which_version():
    """Plans of a search that tried both versions get a column naming each plan's ("-": a ZeRO-0/1 plan, no FSDP);
    before, no column said it (a QLoRA 70B search over A100-40GB and H100 ranked FSDP1 and DDP rows side by side)."""
    from planner.search.explain import plan_searched_columns

    plans = [{"stack": {"name": "hf-trainer", "fsdp_version": 1, "searched": ["fsdp_version"]}},
             {"stack": {"name": "hf-trainer", "searched": []}},
             {"stack": {"name": "hf-trainer", "fsdp_version": 2, "searched": ["fsdp_version"]}}]
    assert plan_searched_columns(plans).get("fsdp") == ["FSDP1", "-", "FSDP2 (default)"]  # (hfcp54: the default said)
