"""QA 107: session 53's serving and app leftovers -- the app's two-batch overlap control (``serving.batch_overlap``,
tbo53), through streamlit's ``AppTest`` on a two-layer MoE served by SGLang on one custom H100 node (a plan and its
simulations in a few seconds)."""
from __future__ import annotations

import pytest

from planner import interactive as wi
from planner.workloads.serving_iteration import overlap_refusal
from test_app import _app

#: a two-layer MoE (8 experts, top-2) at 5 QPS of 100 + 20 tokens on one custom H100 node: its EP options are sized
#: with and without SGLang's two-batch overlap when the job leaves it out
MOE = b"""model: {family: moe, layers: 2, hidden: 512, heads: 8, kv_heads: 8, ffn_hidden: 256, vocab: 1000,
        moe: {experts: 8, top_k: 2}}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1, price_usd_hr: 10.0}
serving: {qps: 5, p99_latency_ms: 100, prompt_tokens: 100, output_tokens: 20, engine: ENGINE}
"""


def _upload(data: bytes, name: str = "moe.yaml"):
    at = _app()
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def _overlap_lines(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("serving.batch_overlap")]


def test_the_serving_page_sets_two_batch_overlap_and_shows_serves_line_of_it():
    """An SGLang MoE job: the control starts at auto (the field left out: `planner serve` sizes each EP option with
    and without it) and the page shows serve's ``assumed:`` line of the one it chose, as the plan holds it; two_batch
    writes ``serving.batch_overlap`` (every EP option then runs it, no line: the job chose). Until qa107 only a job
    file set it (no ``o_overlap`` control)."""
    job = MOE.replace(b"ENGINE", b"sglang")
    at = _upload(job)
    assert at.selectbox(key="o_overlap").value == wi.AUTO and not at.selectbox(key="o_overlap").disabled
    said = wi.overlap_lines(wi.serving_view(wi.parse_upload("moe.yaml", job))["plan"])
    assert len(said) == 1 and _overlap_lines(at) == said
    at.selectbox(key="o_overlap").set_value("two_batch").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    plan = wi.serving_view(wi.with_batch_overlap(wi.parse_upload("moe.yaml", job), "two_batch"))["plan"]
    assert {o.get("overlap") for o in plan["options"] if o.get("ep")} - {None} == {"two_batch"}
    assert not _overlap_lines(at)


def test_the_control_is_drawn_only_for_expert_parallel_jobs_and_disabled_where_the_engine_has_none():
    """TensorRT-LLM runs no two-batch overlap: the control is drawn disabled with the CLI's reason as its help; a
    dense model sizes no expert-parallel option: no control (``overlap_control`` decides both)."""
    trt = wi.overlap_control(wi.parse_upload("t.yaml", MOE.replace(b"ENGINE", b"tensorrt-llm")))
    assert trt.drawn and trt.refused == overlap_refusal("tensorrt-llm", None)
    dense = MOE.replace(b"family: moe", b"family: decoder").replace(b"        moe: {experts: 8, top_k: 2}", b"")
    assert not wi.overlap_control(wi.parse_upload("d.yaml", dense.replace(b"ENGINE", b"sglang"))).drawn
    off = MOE.replace(b"engine: ENGINE", b"engine: sglang, expert_parallel: false")
    assert not wi.overlap_control(wi.parse_upload("o.yaml", off)).drawn
    at = _upload(MOE.replace(b"ENGINE", b"tensorrt-llm"), "trt.yaml")
    box = at.selectbox(key="o_overlap")
    assert box.disabled and box.help == trt.refused
