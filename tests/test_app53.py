"""app53: the what-if app's controls for inputs a job file set alone until then, through ``streamlit.testing.v1``
``AppTest``: prefill-decode disaggregation on the serving page (``serving.disaggregation``, pd51; a small job, one
H100 cloud at 2 QPS of short requests, keeps each page's plan and simulations about a second) and the training-stack
options that move the step time or memory (``interactive.STACK_OPTION_LABELS``' app53 entries)."""
from __future__ import annotations

import pytest
import yaml

from planner import interactive as wi
from planner.errors import InputError
from planner.spec import load_job_dict
from app_page import checked, open_page, stack_line, upload
from test_app import _app, _charts, _metrics

pytestmark = pytest.mark.slow  # ~15 CPU s in 7 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

#: Llama-3-8B at 2 QPS of 256 + 32 tokens on aws's H100s: one TP1 replica colocated
SMALL = b"""model: {preset: llama3-8b}
serving:
  p99_latency_ms: 50
  ttft_ms: 1000
  qps: 2
  prompt_tokens: 256
  output_tokens: 32
  max_batch: 16
constraints:
  clouds: [aws]
  gpus: [H100-SXM-80GB]
"""
SPLIT_LABELS = ("prefill replicas", "decode replicas", "KV hand-over", "$/h split / colocated")


def _upload(data: bytes, name: str = "small.yaml"):
    at = _app()
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _split_lines(at) -> list[str]:
    return [c.value.replace("\\$", "$") for c in at.caption if c.value.startswith("serving.disaggregation ")]


def test_serving_page_sets_the_prefill_decode_split_and_shows_it_as_serve_prints_it():
    """The serving page's disaggregation control (off / auto / prefill + decode, with the two replica counts) writes
    ``serving.disaggregation``: the split's sides, GPUs, KV hand-over link and $/h beside the colocated fleet's are on
    the page, with a chart of the two fleets' p99s and $/h, and `planner serve`'s three ``assumed:`` lines of it (the
    plan's assumptions, which the CLI prints). Until app53 only a job file could ask for a split."""
    at = _upload(SMALL)
    assert at.selectbox(key="d_mode").value == "off" and at.number_input(key="d_prefill").disabled
    assert not set(SPLIT_LABELS) & set(_metrics(at)) and not _split_lines(at)
    at.selectbox(key="d_mode").set_value(wi.DISAGG_SPLIT).run()
    at.number_input(key="d_decode").set_value(2).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    view = wi.serving_view(wi.with_disaggregation(wi.parse_upload("small.yaml", SMALL), wi.DISAGG_SPLIT, 1, 2))
    d = view["plan"]["disaggregation"]
    assert (d["mode"], d["prefill"], d["decode"]) == ("split", 1, 2)
    m = _metrics(at)
    assert m["prefill replicas"] == f"1 x {d['layout']}" and m["decode replicas"] == f"2 x {d['decode_layout']}"
    assert m["KV hand-over"].startswith(d["link"]) and f"${d['usd_per_hr']:,.2f}/h" in m["$/h split / colocated"]
    said = [a for a in view["plan"]["assumptions"] if a.startswith("serving.disaggregation ")]
    assert len(said) == 3 and _split_lines(at) == said
    chart = [c for c in _charts(at) if "prefill-decode split" in str(c.spec)]
    assert len(chart) == 1 and "split: 1 prefill + 2 decode" in str(chart[0].spec)


def test_a_jobs_own_split_starts_the_control_and_auto_sizes_one():
    """An uploaded job's ``serving.disaggregation`` starts the control at its own split; auto then sizes one (the
    plan's mode auto), and off takes the split section away."""
    own = SMALL.replace(b"  max_batch: 16\n", b"  max_batch: 16\n  disaggregation: {prefill: 2, decode: 1}\n")
    at = _upload(own, "own.yaml")
    assert (at.selectbox(key="d_mode").value, at.number_input(key="d_prefill").value,
            at.number_input(key="d_decode").value) == (wi.DISAGG_SPLIT, 2, 1)
    assert _metrics(at)["prefill replicas"].startswith("2 x ")
    at.selectbox(key="d_mode").set_value("auto").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _split_lines(at)[0].startswith("serving.disaggregation auto on ")
    at.selectbox(key="d_mode").set_value("off").run()
    assert "prefill replicas" not in _metrics(at) and not _split_lines(at)


def test_a_split_the_job_file_refuses_is_the_clis_one_line_error():
    """A generic model (ResNet-50) whose job file asks for a split has no prefill or decode to split: the page shows
    `planner serve`'s one line (``error: serving.disaggregation: ...``), not a traceback, with the control at the
    job's own auto, so that off plans it (qa107: a job that refuses any split and sets none is offered none, the
    control disabled with the line as its help, tests/test_qa107.py; an offline job's file that asks for one is
    refused at upload)."""
    generic = b"""model: {preset: resnet50}
serving: {qps: 2, p99_latency_ms: 50, disaggregation: auto}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
"""
    at = _app()
    at.file_uploader(key="upload").set_value(("generic.yaml", generic, "application/octet-stream")).run()
    assert not at.exception and at.selectbox(key="d_mode").value == "auto"
    try:
        wi.serving_view(wi.parse_upload("generic.yaml", generic))
    except InputError as e:
        cli = e
    assert cli.field == "serving.disaggregation"
    assert [e.value for e in at.error] == [f"**{cli.field}**: {cli.message}"]
    at.selectbox(key="d_mode").set_value("off").run()
    assert not at.exception and not at.error, [e.value for e in at.error]


# --------------------------------------------------------------------------------------------
# the training-stack options a job file set alone until app53 (interactive.STACK_OPTION_LABELS)
# --------------------------------------------------------------------------------------------
#: one pinned layout (a short search) on one aws:p5.48xlarge
PINNED = """
model: {{preset: {model}}}
training: {{seq_len: 4096, global_batch: 64, micro_batch: 1, precision: {precision}, recompute: full, tokens: 1.0e9,
           framework: {stack}}}
parallel: {{tp: {tp}, pp: 1, cp: 1, {ep}zero: {zero}}}
cluster: {{instance: aws:p5.48xlarge, nodes: 1}}
"""


@pytest.fixture(scope="module")
def page():
    return open_page()


def _set(at, **values):
    for option, value in values.items():
        at.selectbox(key=f"w_stackopt_{option}").set_value(value)
    return checked(at.run())


def test_megatron_cores_fusion_moe_fp8_and_precision_aware_optimizer_controls(page):
    """DeepSeek-V2-Lite (MoE with shared experts) at fp8 on Megatron-Core, EP8: gradient-accumulation fusion, the
    fused grouped MLP, shared-expert overlap, 16-bit first / last layers and the precision-aware optimizer's three
    dtypes (offered where it is on: not on the default page) are controls, each set one is on the plan's stack line as
    `planner estimate` prints it, and the step time and memory move (Megatron's --no-gradient-accumulation-fusion: a
    separate wgrad add; bf16 Adam states: 4 bytes a parameter fewer)."""
    assert page.selectbox(key="w_stackopt_precision_aware_optimizer").value is False
    assert not [b for b in page.selectbox if b.key == "w_stackopt_exp_avg_dtype"]
    job = PINNED.format(model="deepseek-v2-lite", precision="fp8", tp=1, ep="ep: 8, ", zero=1,
                        stack="{name: megatron-core, precision_aware_optimizer: true}")
    at = upload(page, "moe.yaml", job.encode())
    assert at.selectbox(key="w_stackopt_gradient_accumulation_fusion").value is True
    assert at.selectbox(key="w_stackopt_exp_avg_dtype").value == "fp32"
    step, mem = _metrics(at)["step time"], _metrics(at)["memory per GPU (of 76 GiB allowed)"]
    _set(at, gradient_accumulation_fusion=False, moe_fused_mlp=True, moe_shared_expert_overlap=True,
         first_last_layers_bf16=True, exp_avg_dtype="bf16", exp_avg_sq_dtype="bf16", main_params_dtype="fp16")
    line = stack_line(at)
    for said in ("gradient_accumulation_fusion=off", "moe_fused_mlp=on", "moe_shared_expert_overlap=on",
                 "lp_bf16_first_layers=1, lp_bf16_layers=1",
                 "precision_aware_optimizer=on (exp_avg bf16, exp_avg_sq bf16, main_params fp16)"):
        assert said in line, (said, line)
    assert _metrics(at)["step time"] != step
    assert float(_metrics(at)["memory per GPU (of 76 GiB allowed)"].split()[0]) < float(mem.split()[0])


def test_deepspeed_attention_kernel_and_activation_checkpointing_controls(page):
    """Llama-3-8B on DeepSpeed (transformers' model code) under recompute full: the attention kernel (eager: the
    stack line's attn_implementation=eager, a slower step) and the recompute early stop; Megatron-DeepSpeed's
    --partition-activations and --checkpoint-in-cpu are offered under the sidebar's recompute full (they checkpoint
    what full recompute saves), each on its stack line; recompute none beside them is the CLI's one-line error."""
    at = upload(page, "ds.yaml", PINNED.format(model="llama3-8b", precision="bf16", stack="deepspeed", tp=1, ep="",
                                               zero=3).encode())
    step = _metrics(at)["step time"]
    assert at.selectbox(key="w_stackopt_recompute_early_stop").value is True
    _set(at, attn_implementation="eager", recompute_early_stop=False)
    assert "attn_implementation=eager" in stack_line(at) and _metrics(at)["step time"] != step

    at = upload(page, "mds.yaml", PINNED.format(model="llama3-8b", precision="bf16", stack="megatron-deepspeed", tp=2,
                                                ep="", zero=1).encode())
    _set(at, partition_activations=True, cpu_checkpointing=True)
    assert "partition_activations=on, cpu_checkpointing=on" in stack_line(at)
    # recompute none beside them: `planner recommend`'s one line naming the option, not a traceback
    at.select_slider(key="w_recompute").set_value("none").run()
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("**training.framework.partition_activations**: DeepSpeed's partition_activations")


def test_an_uploaded_option_the_layout_refuses_is_the_clis_one_line_error(page):
    """A job whose precision-aware optimizer is set at ZeRO-0 (Megatron needs its distributed optimizer): the page
    keeps the job's own value and shows `planner recommend`'s one line naming the option, not a traceback."""
    from planner.workloads.training import recommend

    job = PINNED.format(model="llama3-8b", precision="bf16", stack="{name: megatron-core, precision_aware_optimizer: "
                        "true}", tp=1, ep="", zero=0)
    page.file_uploader(key="upload").set_value(("pa.yaml", job.encode(), "application/octet-stream")).run()
    assert not page.exception and page.selectbox(key="w_stackopt_precision_aware_optimizer").value is True
    with pytest.raises(InputError) as cli:
        recommend(load_job_dict(yaml.safe_load(job)), wi.cached_catalog())
    assert cli.value.field == "training.framework.precision_aware_optimizer"
    assert [e.value for e in page.error] == [f"**{cli.value.field}**: {cli.value.message}"]


def test_maxtext_convnet_and_nemo_automodel_options_are_offered_where_their_stacks_hold_them():
    """MaxText's remat policy (minimal_offloaded lengthens a step 53.6% on GPT-2 large at one layout, docs/qa_log.md
    "app53"), the convnet stacks' channels-last memory format (ResNet-50 on dle-convnets: off, a step 49% longer) and
    NeMo AutoModel's two FSDP2 gradient-sync deferrals (the MoE one on an MoE model only) are controls of their stacks,
    at the stack's own value; before app53 only a job file set them. (Their TPU / convnet / AutoModel plans are not
    searched here: the offer is the helper the page draws from, as for every stack option.)"""
    def controls(preset, stack):
        return {c.option: c for c in wi.stack_controls(wi.preset_base(preset), stack)}

    remat = controls("llama3-8b", "maxtext")["remat_policy"]
    assert remat.value == wi.STACK_KIND_DEFAULT and {"minimal", "full", "save_qkv_proj"} <= set(remat.choices)
    assert controls("resnet50", "dle-convnets")["channels_last"].choices == (True, False)
    dense, moe = controls("llama3-8b", "nemo-automodel"), controls("mixtral-8x7b", "nemo-automodel")
    # (AutoModel's defer_fsdp_grad_sync is searched since rec57: its control starts at "auto", the search's choice)
    assert dense["defer_fsdp_grad_sync"].value == wi.AUTO and "fsdp_defer_sync" not in dense
    assert {True, False} <= set(dense["defer_fsdp_grad_sync"].choices)
    assert moe["fsdp_defer_sync"].value is False and moe["fsdp_defer_sync"].choices == (True, False)
