"""QA 96: the app's sidebar takes the training-stack options that are no choice (free numbers, lists, free text: every
such option of the registry, read off its job-file field) as number and text inputs, where the chosen stack has them;
the selectboxes' values are filtered at the sidebar's ZeRO stage and precision too (the search's own whole-job checks
and the stack rules). Each test fails on the code before QA 96."""
from __future__ import annotations

import pytest

DS = b"""model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 64, steps: 10, framework: {name: deepspeed, optimizer_offload: true}}
parallel: {zero: 3}
"""
OPEN = {"tp": None, "pp": None, "cp": None}


def _controls(base, name, options=None, **kw):
    from planner import interactive as wi

    return {c.option: c for c in wi.stack_controls(base, name, options, **kw)}


def test_the_typed_options_are_read_off_the_registry_and_the_job_files_fields():
    """Every registry option whose field is a number, a list, a mapping or free text, with the field's bounds."""
    from planner import interactive as wi
    from planner.model.stacks import OPTIONS

    assert {"nvme_gbps", "cuda_graph_scope", "pp_layout", "ce_chunk_size", "remat_tensors"} <= set(wi.TYPED_OPTIONS)
    assert set(wi.TYPED_OPTIONS) <= set(OPTIONS) and not set(wi.TYPED_OPTIONS) & set(wi.STACK_OPTION_LABELS)
    assert [wi.option_input(o) for o in ("nvme_gbps", "ce_chunk_size", "cuda_graph_scope", "pp_layout")] == \
        ["number", "number", "text", "text"]
    assert wi.option_input("compile") is None and wi.option_input("cp_comm_type") is None  # choices
    assert wi.option_range("ce_chunk_size") == (1, 1 << 24) and wi.option_range("nvme_gbps") == (0.001, 1e4)


def test_inputs_where_the_stack_has_them_and_the_job_takes_their_values():
    """Megatron-Core's CUDA-graph scope and pipeline layout; NeMo AutoModel's chunk size (the chunked loss offered once
    it is given); DeepSpeed's NVMe rate once the sidebar turns NVMe on. The job reads the text as a job file does."""
    from planner import interactive as wi

    base = wi.preset_base("llama3-8b")
    mcore = _controls(base, None)
    assert (mcore["cuda_graph_scope"].kind, mcore["pp_layout"].kind) == ("text", "text")
    assert "ce_chunk_size" not in mcore and "nvme_gbps" not in mcore
    assert _controls(base, "nemo-automodel")["ce_chunk_size"].kind == "number"
    assert "masked_ce_chunked" in _controls(base, "nemo-automodel", {"ce_chunk_size": 4096})["loss_fn"].choices
    ds = wi.parse_upload("job.yaml", DS)
    assert "nvme_gbps" not in _controls(ds, "deepspeed")
    assert _controls(ds, "deepspeed", {"offload_device": "nvme"})["nvme_gbps"].kind == "number"
    w = wi.inputs_from_job(wi.build_job(base, None)).replace(
        stack_options={"cuda_graph_impl": "transformer_engine", "cuda_graph_scope": "[attn, mlp]"})
    assert wi.build_job(base, w).training.framework.cuda_graph_scope == ["attn", "mlp"]


def test_the_value_filter_reads_the_zero_stage_and_precision():
    """Megatron-FSDP and optimizer offload at ZeRO-0 are refused by the search before any layout: not offered there,
    offered at ZeRO-3; the fp8 recipe is a control once the sidebar's precision is fp8."""
    from planner import interactive as wi

    base = wi.preset_base("llama3-8b")
    zero0 = _controls(base, None, parallel={**OPEN, "zero": 0})
    assert True not in zero0["megatron_fsdp"].choices and True not in zero0["optimizer_offload"].choices
    zero3 = _controls(base, None, parallel={**OPEN, "zero": 3})
    assert True in zero3["megatron_fsdp"].choices and True in zero3["optimizer_offload"].choices
    assert "fp8_recipe" not in _controls(base, None) and "mxfp8" in _controls(base, None, precision="fp8")["fp8_recipe"].choices


def test_the_page_draws_the_inputs_and_refuses_a_bad_value_in_one_line():
    """One page run of the default preset, then (no search: the job is refused) a list that names no CUDA-graph part at
    ZeRO-0: the loader's one line on the page, no traceback, and Megatron-FSDP no longer offered."""
    from app_page import open_page

    at = open_page()
    numbers = {w.key for w in at.number_input if (w.key or "").startswith("w_stackopt_")}
    texts = {w.key for w in at.text_input if (w.key or "").startswith("w_stackopt_")}
    assert "w_stackopt_microbatch_group_size" in numbers and {"w_stackopt_cuda_graph_scope",
                                                              "w_stackopt_pp_layout"} <= texts, (numbers, texts)
    at.text_input(key="w_stackopt_cuda_graph_scope").set_value("[attn, bogus]")
    at.select_slider(key="w_zero").set_value(0)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**training.framework.cuda_graph_scope") and "bogus" in errors[0]
    assert "\n" not in errors[0]
    # (at ZeRO-0 the search does not try Megatron-FSDP: the unset choice is the stack's default since nemo58)
    assert list(at.selectbox(key="w_stackopt_megatron_fsdp").options) == ["stack default (off)", "off"]
