"""sgl55: SGLang keeps the KV of local (sliding-window / chunked) layers in its SWA memory pool only for the architectures
``model_config.is_hybrid_swa_model`` lists -- of the planner's families Llama 4 and gpt-oss; Gemma 2 / 3 and Phi-3 keep
one pool, every layer's whole context (planner/model/serving_efficiency.py SGLANG_HYBRID_SWA, LocalKV.for_model)."""
import pytest

from planner.hardware.options import option_from_cluster
from planner.model.serving_efficiency import ENGINES, LocalKV
from planner.spec import ClusterSpec, load_job_dict
from planner.spec.schema import ModelSpec
from planner.workloads.serving import plan_serving
from planner.workloads.serving_memory import kv_bytes_per_sequence, kv_bytes_per_token, kv_layout
from planner.workloads.serving_screen import ServeTarget, llm_option

SGLANG = ENGINES["sglang"].local_kv
H100 = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=1))


def _job(model: dict, engine="sglang", **serving):
    return load_job_dict({"model": model, "serving": {"engine": engine, "p99_latency_ms": 200, "prompt_tokens": 3072,
                                                      "output_tokens": 1024, "max_batch": 4096, **serving}})


@pytest.mark.parametrize("preset", ["gemma2-9b", "gemma3-12b", "phi3-mini"])
def test_sglang_keeps_every_layer_whole_outside_its_hybrid_swa_list(preset):
    """Gemma2ForCausalLM, Gemma3ForCausalLM and Phi3ForCausalLM are not in is_hybrid_swa_model: every layer keeps the
    whole context (the old code gave them the 0.8 pool); vLLM's hybrid manager still keeps only the window."""
    m = _job({"preset": preset}).model
    lay = kv_layout(m, "bf16", 1, SGLANG)
    assert lay.rule.rule == "full" and "is none of the architectures it pools" in lay.rule.what
    assert kv_bytes_per_sequence(m, "bf16", 4000, local_kv=SGLANG) == kv_bytes_per_token(m, "bf16") * 4000
    assert kv_layout(m, "bf16", 1, ENGINES["vllm"].local_kv).rule.rule == "window"


@pytest.mark.parametrize("preset,arch", [("gpt-oss-20b", "GptOssForCausalLM"),
                                         ("llama4-scout", "Llama4ForConditionalGeneration")])
def test_sglang_pools_the_architectures_it_lists(preset, arch):
    """gpt-oss and Llama 4 keep the pool (0.8 x the full layers' tokens), and the assumption line names the
    architecture SGLang pools them as (the old line named none)."""
    m = _job({"preset": preset}).model
    rule = kv_layout(m, "bf16", 1, SGLANG).rule
    assert rule.rule == "pool_ratio" and rule.ratio == 0.8 and arch in rule.what
    assert kv_bytes_per_sequence(m, "bf16", 20000, local_kv=SGLANG) < kv_bytes_per_token(m, "bf16") * 20000


def test_an_hf_config_model_is_keyed_on_its_stated_model_type():
    """A spec from a config.json states its ``hf_model_type`` and may carry any name (``_name_or_path``): a Gemma 3
    named "my-finetune" keeps every layer whole under SGLang, a gpt-oss one is pooled; a spec stating no type is read
    by its name and structure (planner.model.activations_hf ``spec_model_type``)."""
    gemma = _job({"preset": "gemma3-12b"}).model
    named = ModelSpec(**{**gemma.model_dump(), "name": "my-finetune", "hf_model_type": "gemma3_text"})
    assert kv_layout(named, "bf16", 1, SGLANG).rule.rule == "full"
    oss = _job({"preset": "gpt-oss-20b"}).model
    custom = ModelSpec(**{**oss.model_dump(), "name": "my-finetune", "hf_model_type": "gpt_oss"})
    assert kv_layout(custom, "bf16", 1, SGLANG).rule.rule == "pool_ratio"


def test_an_unlisted_model_fits_the_batch_of_full_attention():
    """Gemma 3 under SGLang fits as many 4K sequences as the same model with no local layer (every layer keeps the
    context), where vLLM's window fits more; the old code's pool fitted more under SGLang too."""
    local, full = _job({"preset": "gemma3-12b"}), _job({"preset": "gemma3-12b", "local_layers": 0})
    target = ServeTarget(None, None, None)
    limit = {name: llm_option(j.model, j.serving, H100, 1, target).batch_memory_limit
             for name, j in (("local", local), ("full", full))}
    assert limit["local"] == limit["full"] > 0
    vllm = _job({"preset": "gemma3-12b"}, engine="vllm")
    assert llm_option(vllm.model, vllm.serving, H100, 1, target).batch_memory_limit > limit["full"]


def test_the_serve_assumption_line_says_which_rule_applied():
    """The plan's KV line says the engine keeps the whole context and why (the old line described the 0.8 pool)."""
    job = load_job_dict({"model": {"preset": "gemma3-12b"},
                         "serving": {"engine": "sglang", "p99_latency_ms": 200, "qps": 1, "prompt_tokens": 6144,
                                     "output_tokens": 2048},
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 1}})
    plan = plan_serving(job, simulate=False)
    line = next(a for a in plan.assumptions if a.startswith("KV cache:"))
    assert "the engine's KV cache keeps the whole context" in line and "SGLang without its SWA memory pool" in line
    assert "gemma3_text is none of the architectures it pools" in line


def test_a_rule_without_families_holds_for_every_model():
    """``families`` () (vLLM, TensorRT-LLM, a rule given by hand) keeps ``for_kind``'s rule whatever the family
    (its first check holds on the old code too; the method is new)."""
    m = _job({"preset": "gemma3-12b"}).model
    assert kv_layout(m, "bf16", 1, LocalKV("pool_ratio", ratio=0.5)).rule.ratio == 0.5
    assert LocalKV("window").for_model("sliding", "gemma3_text") == LocalKV("window")
