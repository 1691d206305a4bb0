"""Hostile input on session 52's new fields (QA 106), end to end through the CLI in-process: transformers'
``experts_implementation`` on every kind of stack and model, ``cluster.nvlink_topology`` and ``cluster.host_ram_gib``
beside them and beside serving's ``disaggregation`` with expert parallelism; each drawn value hostile one time in four
(fuzz50's ``HOSTILE``), and the job text itself hostile (YAML anchors and aliases, duplicate keys, numbers in
Arabic-Indic or full-width digits). Written out with ``--csv`` / ``-o`` over a file that is already there (``--force``):
a refusal must leave it as it was.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left in the job's folder but what was asked for). The hand sweep of
QA 106 (docs/qa_log.md) found no failure on these fields, so these draw them for the next change, not to pin a fix."""
from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz51 import holds, hostile_or  # noqa: E402
from test_fuzz_cli import TINY_DENSE, TINY_MOE, check_outcome, fuzz_settings, job_file, run_cli, stray  # noqa: E402

TOPOLOGIES = ["switch", "nvlink4-quad-mesh", "nvlink4-quad-mesh", "hybrid-cube-mesh", "xgmi-full-mesh"]
NODES = [{"gpu": "H100", "gpus_per_node": 4}, {"gpu": "H100", "gpus_per_node": 8}, {"gpu": "V100", "gpus_per_node": 8},
         {"gpu": "MI300X", "gpus_per_node": 8}, {"gpu": "A100", "gpus_per_node": 8}]
MODELS = [TINY_MOE, TINY_MOE, TINY_DENSE, {"preset": "resnet50"}, {"preset": "bert-base"}]
STACKS = ["hf-trainer", "hf-trainer", "deepspeed", "megatron-core", "torchtitan", "dle-convnets", "pytorch-ddp"]


def _node(draw) -> dict:
    """A node, with the mesh and host RAM each drawn (hostile one time in four) or left out."""
    node = dict(draw(st.sampled_from(NODES)), nodes=1)
    if draw(st.booleans()):
        node["nvlink_topology"] = draw(hostile_or(TOPOLOGIES))
    if draw(st.booleans()):
        node["host_ram_gib"] = draw(hostile_or([1, 64, 2048]))
    return node


@st.composite
def training_jobs(draw):
    """``experts_implementation`` on the HF stacks and the others, MoE, dense, CNN and encoder models, on a fixed node
    (estimate) or a small search whose cluster section keeps the mesh and host RAM."""
    fw = {"name": draw(st.sampled_from(STACKS)), "experts_implementation": draw(hostile_or(["eager", "grouped_mm"]))}
    model = draw(st.sampled_from(MODELS))
    t = {"global_batch": 64, "steps": 10, "framework": fw, **({} if "preset" in model and model["preset"] == "resnet50"
                                                                else {"seq_len": 512})}
    job = {"model": model, "training": t, "cluster": _node(draw)}
    if draw(st.integers(0, 2)) == 0:  # a search: the GPU list chooses, the node's mesh and RAM stay
        gpu = job["cluster"].pop("gpu")
        job["cluster"].pop("nodes")
        job["constraints"] = {"max_gpus": 8, "gpus": [gpu]}
    return job


@fuzz_settings(14)
@given(job=training_jobs())
def test_fuzz_experts_implementation_mesh_and_host_ram(tmp_path_factory, job):
    holds(tmp_path_factory, "ei106", job)


SERVE = {"p99_latency_ms": 100.0, "ttft_ms": 2000.0, "prompt_tokens": 512, "output_tokens": 128, "qps": 4.0}
SPLITS = ["off", "auto", {"prefill": 1, "decode": 1}, {"prefill": 2, "decode": 1}, {"prefill": 1, "decode": 3}]


@st.composite
def serving_jobs(draw):
    """Prefill-decode disaggregation beside expert parallelism (each hostile one time in four), the node's mesh and
    host RAM, an all-to-all backend."""
    s = dict(SERVE, disaggregation=draw(hostile_or(SPLITS)), expert_parallel=draw(hostile_or([True, True, False])))
    if draw(st.booleans()):
        s["all2all_backend"] = draw(hostile_or(["allgather_reducescatter", "deepep_low_latency"]))
    return {"model": draw(st.sampled_from([TINY_MOE, TINY_MOE, TINY_DENSE])), "serving": s, "cluster": _node(draw)}


@fuzz_settings(10)
@given(job=serving_jobs())
def test_fuzz_disaggregation_with_expert_parallelism(tmp_path_factory, job):
    holds(tmp_path_factory, "pd106", job, "serve")


# ------------------------------------------------------------------------ the job text itself
BASE = """model: {name: tiny-moe, layers: 4, hidden: 512, heads: 8, vocab: 32000, moe: {experts: 8, top_k: 2}}
training:
  seq_len: 512
  global_batch: 64
  steps: 10
  framework: {name: hf-trainer, experts_implementation: EI}
cluster: {gpu: H100, gpus_per_node: 4, nodes: 1, nvlink_topology: TOPO, host_ram_gib: RAM}
"""
#: what each slot holds: a plain value (an anchor on it, for a later slot's alias) three times in four, else a hostile
#: writer's: an alias (of an anchor that may come later or not at all), a number in other digits, text, nan, overflow
SLOTS = {"EI": (["eager", "grouped_mm", "&a eager"], ["*t", "'١'", "''"]),
         "TOPO": (["nvlink4-quad-mesh", "&t nvlink4-quad-mesh", "&t switch"], ["*a", "''", "*r"]),
         "RAM": (["512", "&r 512", "1024"], ["٥١٢", "５１２", ".nan", "-.inf", "1e400", "0x200", "*a", "*t"])}


@st.composite
def job_texts(draw):
    """``BASE`` with each slot drawn from ``SLOTS`` (an alias may name an anchor that comes later or not at all), and
    one time in four a whole line repeated (a duplicate key)."""
    text = BASE
    for slot, (plain, hostile) in SLOTS.items():
        text = text.replace(slot, draw(st.sampled_from(hostile if draw(st.integers(0, 3)) == 3 else plain)))
    if draw(st.integers(0, 3)) == 3:
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        text = "\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]) + "\n"
    return text


@fuzz_settings(12)
@given(text=job_texts(), search=st.booleans())
def test_fuzz_job_text_over_an_existing_output(tmp_path_factory, text, search):
    """``estimate --json`` or ``recommend --csv out.csv --force`` over a file already there: an answer, or one
    ``error:`` line with the file as it was and nothing else written."""
    p = job_file(tmp_path_factory, "txt106", {})
    p.write_text(text.replace("cluster: {gpu: H100, gpus_per_node: 4, nodes: 1,",
                              "constraints: {max_gpus: 4, gpus: [H100]}\ncluster: {gpus_per_node: 4,")
                 if search else text)
    out_csv = p.parent / "out.csv"
    out_csv.write_text("KEEP")
    args = ("recommend", p, "--no-simulate", "--top", "1", "--csv", out_csv, "--force") if search else (
        "estimate", p, "--json")
    code, out, err = run_cli(*args)
    check_outcome(code, out, err, json_out=not search)
    if code:
        assert out_csv.read_text() == "KEEP"
    assert stray(p.parent, {p.name, out_csv.name}) == []
