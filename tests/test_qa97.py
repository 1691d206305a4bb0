"""QA 97: small left-overs of session 50. A one-node training plan's ``cluster.fabric`` said not applied (it printed
the fabric "in place of" the instance's network); a fabric the accelerator's nodes cannot carry refused (a TPU slice
took an InfiniBand link priced per GPU). Each test failed on the code before QA 97."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

TRAIN = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
         "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "bf16"}}


def _fabric_lines(d: dict) -> list[str]:
    return [a for a in d["assumptions"] if a.startswith("cluster.fabric")]


@pytest.mark.parametrize("cluster", [{"instance": "aws:p5.48xlarge", "nodes": 1, "fabric": "IB-NDR"},
                                     {"gpu": "H100-SXM-80GB", "fabric": "IB-NDR"}])
def test_a_one_node_plans_fabric_is_said_not_applied(tmp_path, cli, cluster):
    """Nothing crosses nodes on one node: the fabric entered no number, and the plan says so (as serving does)."""
    d = answered(cli("estimate", write_job(tmp_path, dict(TRAIN, cluster=cluster)), "--json"))
    assert d["hardware"]["nodes"] == 1
    lines = _fabric_lines(d)
    assert len(lines) == 1 and lines[0].startswith("cluster.fabric IB-NDR not applied: the plan runs on one node"), lines
    assert not [a for a in d["assumptions"] if "in place of" in a]


def test_a_two_node_plans_fabric_is_still_said_applied(tmp_path, cli):
    job = dict(TRAIN, cluster={"instance": "aws:p5.48xlarge", "nodes": 2, "fabric": "IB-NDR"})
    lines = _fabric_lines(answered(cli("estimate", write_job(tmp_path, job), "--json")))
    assert len(lines) == 1 and "in place of aws:p5.48xlarge's efa" in lines[0], lines


@pytest.mark.parametrize("cluster, said", [
    ({"gpu": "TPU-v6e", "nodes": 2, "fabric": "IB-NDR"}, "TPU-v6e: Google TPUs (XLA) carry no infiniband fabric"),
    ({"instance": "gcp:tpu-v6e-8", "nodes": 2, "fabric": "RoCE-400"}, "TPU-v6e: Google TPUs (XLA) carry no roce"),
    ({"gpu": "Trainium2", "nodes": 2, "fabric": {"gbps_per_node": 3200, "family": "roce"}},
     "carry no roce fabric, only efa")])
def test_a_fabric_the_accelerators_nodes_cannot_carry_is_refused(tmp_path, cli, cluster, said):
    line = refused(cli("estimate", write_job(tmp_path, dict(TRAIN, cluster=cluster)), "--json"))
    assert line.startswith("error: cluster.fabric: ") and said in line, line


def test_trainium_takes_efa(tmp_path, cli):
    job = dict(TRAIN, cluster={"gpu": "Trainium2", "nodes": 2, "fabric": {"gbps_per_node": 3200, "family": "efa"}})
    assert len(_fabric_lines(answered(cli("estimate", write_job(tmp_path, job), "--json")))) == 1


def test_a_search_leaves_out_the_chips_that_cannot_carry_the_fabric(tmp_path, cli):
    """recommend over GCP with an InfiniBand fabric: the TPU slices are left out, named once, the GPUs kept."""
    job = dict(TRAIN, cluster={"fabric": "IB-NDR"}, constraints={"clouds": ["gcp"]})
    d = answered(cli("recommend", write_job(tmp_path, job), "--json"))
    left = [n for n in d["notes"] if n.startswith("cluster.fabric: left out: ")]
    assert len(left) == 1 and "TPU-v6e" in left[0] and left[0].count("Google TPUs (XLA)") == 1, left
    assert d["ranked"] and not any("TPU" in p["hardware"]["gpu"] for p in d["ranked"])
    only = dict(job, constraints={"gpus": ["TPU-v6e"]})
    line = refused(cli("recommend", write_job(tmp_path, only, "tpu.yaml"), "--json"))
    assert line.startswith("error: cluster.fabric: no searched instance can carry it"), line


@pytest.mark.parametrize("stack, parallel, field", [("pytorch-ddp", {"tp": 2}, "parallel.tp"),
                                                    ("dle-convnets", {"cp": 2}, "parallel.cp")])
def test_plain_ddp_refuses_tensor_and_context_parallelism(tmp_path, cli, stack, parallel, field):
    """DDP keeps a whole replica on every rank: TP 2 on a transformer was planned as Megatron's split."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": stack}), parallel=parallel,
               cluster={"gpu": "H100-SXM-80GB", "nodes": 1})
    line = refused(cli("estimate", write_job(tmp_path, job), "--json"))
    assert line.startswith(f"error: {field}: PyTorch DDP refuses "), line


@pytest.mark.parametrize("stack, model", [("pytorch-ddp", None), ("dle-bert", "bert-large")])
def test_the_stack_line_prints_only_the_switches_the_stack_has(tmp_path, cli, stack, model):
    """DDP gathers no parameters and splits no layer: its line read "tp_overlap=none, overlap_param_gather=on"."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": stack}),
               cluster={"gpu": "H100-SXM-80GB", "nodes": 1})
    if model:
        job = dict(job, model={"preset": model}, training=dict(job["training"], precision="fp16", seq_len=512),
                   parallel={"zero": 0})
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    line = next(a for a in d["assumptions"] if a.startswith("training stack:"))
    assert f"training stack: {stack} (" in line and "overlap_grad_reduce=" in line, line
    assert "overlap_param_gather" not in line and "tp_overlap" not in line, line


def test_a_dle_bert_launch_has_no_from_pretrained_note(tmp_path, cli):
    """DLE's run_pretraining.py builds its own BertSelfAttention: no transformers attn_implementation to load with
    (Stack.attn_launch ""); the HF Trainer's launch keeps the note."""
    def notes(framework: str, model: str, precision: str) -> list[str]:
        job = {"model": {"preset": model}, "parallel": {"zero": 0}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1},
               "training": {"seq_len": 512, "global_batch": 64, "micro_batch": 8, "tokens": 1e8,
                            "precision": precision, "framework": {"name": framework}}}
        code, out, err = cli("recommend", write_job(tmp_path, job, f"{framework}.yaml"), "--emit", "torchrun")
        assert code == 0, err
        return [line for line in out.splitlines() if line.startswith("# note:")]
    assert notes("dle-bert", "bert-large", "fp16") and not [n for n in notes("dle-bert", "bert-large", "fp16")
                                                           if "from_pretrained" in n]
    assert [n for n in notes("hf-trainer", "llama3-8b", "bf16") if "from_pretrained(..., attn_implementation" in n]
