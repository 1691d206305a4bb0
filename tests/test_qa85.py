"""QA 85: an inference platform lead's pass over ``planner serve`` / ``report`` (docs/qa_log.md "QA 85").

Each test fails on the code before:
- the screen's p99 TTFT priced prompts longer than the model's context (a 64,000-token RAG job on llama3.1-8b: its
  p99 prompt bin at ~171,000 tokens, past the 131,072-token context the simulation clips at and vLLM enforces);
- a target of 10,000 ms or more read "over the 1.5e+04 ms target" in a "does not work" line;
- the recommendation's analytic and simulated TTFTs and token budget had no thousands separators ("TTFT 15202 ms",
  "token budget 2048") beside the same paragraph's "16,303 ms" and "token budget 2,048".
"""
import re

from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel
from planner.workloads.serving_queue import TTFT_QUANTILE
from planner.workloads.serving_screen import llm_ttft
from planner.workloads.serving_settings import LENGTH_CLIP
from conftest import answered, invoke_app

H100 = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))


def _rag(prompt=64000, output=200, **serving):
    return load_job_dict({"model": {"preset": "llama3.1-8b"},
                          "serving": {"p99_latency_ms": 80, "ttft_ms": 15000, "qps": 1, "prompt_tokens": prompt,
                                      "output_tokens": output, "max_batch": 32, **serving},
                          "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}})


def test_screen_p99_ttft_prices_no_prompt_past_the_context():
    """No drawn prompt is over ``length_caps``' 130,663 tokens (the simulation's clip for the context), so the p99
    TTFT of a lone request cannot exceed the prefill of a 130,663-token prompt; it was priced at the 171,000-token
    p99 bin (LENGTH_CLIP x 64,000 = 256,000 the only clip), over the longest prompt the model takes."""
    job = _rag()
    m, s = job.model, job.serving
    assert m.context_length == 131072
    p_max = int(131072 * 64000 / 64200)  # the context split in the means' proportion (``length_dists``)
    assert p_max == 130663 < LENGTH_CLIP * s.prompt_tokens
    im = IterationModel.build(m, H100, 1, "bf16", "bf16", "vllm")
    p99 = float(llm_ttft(im, s, 0.0, 1, q=TTFT_QUANTILE))
    longest = _rag(prompt=p_max, length_cv=0).serving
    assert p99 <= float(llm_ttft(im, longest, 0.0, 1)) * 1.0001
    # where the context does not bind (a 2,000-token prompt) the grid is the job's lognormal as before
    short = _rag(prompt=2000).serving
    assert llm_ttft(im, short, 0.0, 1, q=TTFT_QUANTILE) == llm_ttft(IterationModel.build(
        m.model_copy(update={"context_length": None}), H100, 1, "bf16", "bf16", "vllm"), short, 0.0, 1, q=TTFT_QUANTILE)


def test_length_caps_are_the_simulations_clip():
    """``length_dists`` (the simulation's draws) and the screen take their clip from one ``length_caps``."""
    from planner.workloads.serving_settings import SimSettings, length_caps, length_dists
    s = _rag().serving
    pd, od = length_dists(s, SimSettings(), 131072)
    assert (pd.max, od.max) == length_caps(64000, 200, 131072) == (130663, 409)


def test_refusal_states_a_large_target_as_given_and_the_why_reads_thousands():
    """The 64,000-token job's H100 TP1 is refused at batch 1 against its 15,000 ms TTFT target: the line read
    "over the 1.5e+04 ms target". The recommendation's TTFTs and budget read with separators, as its other figures."""
    import tempfile
    from pathlib import Path
    import yaml
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rag.yaml"
        p.write_text(yaml.safe_dump({"model": {"preset": "llama3.1-8b"},
                                     "serving": {"p99_latency_ms": 80, "ttft_ms": 15000, "qps": 1,
                                                 "prompt_tokens": 64000, "output_tokens": 200, "max_batch": 32},
                                     "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}))
        out = answered(invoke_app("serve", p, "--json", "--no-simulate"))
    reasons = [r["reason"] for r in out["rejected"]]
    assert reasons and all("e+0" not in r for r in reasons), reasons
    assert any("over the 15,000 ms target" in r for r in reasons), reasons
    why = out["why"]
    ttfts = re.findall(r"TTFT ([0-9,]+) ms", why)
    assert ttfts and all(len(t.replace(",", "")) < 4 or "," in t for t in ttfts), why


def test_serving_target_and_engine_names_point_at_their_fields():
    """``tpot_ms`` (the natural name of the TPOT target) was answered "did you mean ttft_ms?", the other target; vLLM's
    own names for the batch cap and the KV dtype were answered "unknown field" or a near miss."""
    from planner.errors import InputError
    import pytest
    cases = {"tpot_ms": "p99_latency_ms", "max_num_seqs": "max_batch", "kv_cache_dtype": "kv_precision",
             "random_input_len": "prompt_tokens", "p99_ttft_ms": "ttft_ms"}
    for key, field in cases.items():
        with pytest.raises(InputError) as e:
            load_job_dict({"model": {"preset": "llama3.1-8b"}, "serving": {"qps": 5, key: 50}})
        assert f"serving.{key}: unknown field: did you mean {field}?" in str(e.value), str(e.value)
