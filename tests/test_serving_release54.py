"""srvrel54: ``serving.engine_version``, the serving engine's release as a job input. vLLM up to 0.11.0 runs Hopper's
MXFP4 experts through Marlin at padded dims (``ServingEfficiency.at_release``, srv54); until srvrel54 only
benchmarks/validate_serving.py could say so, and every plan priced the current release."""
from __future__ import annotations

import json

import pytest

from planner.errors import InputError
from planner.model.serving_efficiency import ENGINES, VLLM_MXFP4_NATIVE_BEFORE_0_11_1, job_efficiency
from planner.spec import load_job_dict
from planner.workloads.serving import plan_serving

#: gpt-oss-120b in its released MXFP4 on one H100, tensor-parallel only: one option, a fraction of a second
GPT_OSS = {"model": {"preset": "gpt-oss-120b"},
           "serving": {"p99_latency_ms": 100, "qps": 1, "prompt_tokens": 1024, "output_tokens": 1024,
                       "precision": "mxfp4", "max_batch": 256, "expert_parallel": False},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 1, "nodes": 1}}


def _job(version=None, doc=GPT_OSS):
    serving = dict(doc["serving"], **({} if version is None else {"engine_version": version}))
    return load_job_dict({**doc, "serving": serving})


def test_the_release_is_latest_unless_the_job_pins_one_and_newer_releases_take_the_newest_rule():
    s = _job().serving
    assert s.engine_version == "latest" and s.engine_release is None and job_efficiency(s) == ENGINES["vllm"]
    for given, release in (("0.10.2", (0, 10, 2)), ("v0.11.0", (0, 11, 0)), ("0.11.1rc1", (0, 11, 1)),
                           ("1.0.0", (1, 0, 0)), ("0.5.5.post1", (0, 5, 5)), ("0.10", (0, 10)),
                           (" LATEST ", None)):
        s = _job(given).serving
        assert s.engine_release == release, given
    assert _job("v0.11.0").serving.engine_version == "0.11.0"  # a git tag's "v" read past
    assert job_efficiency(_job("0.10.2").serving).mxfp4_native == VLLM_MXFP4_NATIVE_BEFORE_0_11_1
    # 0.11.1 and any later, well-formed release (unknown here) run the current release's kernels; 0.11.1-0.12.x keep
    # a chunked model's KV otherwise (VLLM_CHUNKED_HYBRID_OFF, tests/test_srv55.py), from 0.13.0 all is current
    for newer in ("0.11.1", "0.11.1rc1", "0.12.0"):
        assert job_efficiency(_job(newer).serving).mxfp4_native == ENGINES["vllm"].mxfp4_native, newer
    for newer in ("0.13.0", "2.0.0"):
        assert job_efficiency(_job(newer).serving) == ENGINES["vllm"], newer
    # an engine whose kernels did not change with a release keeps them at any
    s = load_job_dict({"model": {"preset": "gpt-oss-120b"}, "serving": {"engine": "tensorrt-llm",
                                                                       "engine_version": "0.9.0"}}).serving
    assert job_efficiency(s) == ENGINES["tensorrt-llm"]


@pytest.mark.parametrize("bad", ["nightly", "1", "0.10.2-beta", "0.10.2.1.5", "", 1.0, True, ["0.10.2"]])
def test_anything_but_latest_or_a_release_number_is_refused(bad):
    with pytest.raises(InputError) as e:
        _job(bad)
    assert e.value.field == "serving.engine_version"


def test_a_gpt_oss_120b_h100_plan_at_vllm_0_10_2_holds_marlins_padded_experts_and_less_kv():
    """vLLM 0.10.2 (GPUStack's gpt-oss-120b runs; vLLM issue #23278's H100 log: 65.97 GiB loaded) stores the experts
    padded (1.09x): ~5 GiB more weights on the GPU, half the KV room, a smaller batch and less throughput than the
    current release's ~60.7 GiB, which a release newer than any known prices the same."""
    old, new, future = (plan_serving(_job(v), simulate=False) for v in ("0.10.2", "latest", "0.12.0"))
    o, n = old.best, new.best
    assert (old.engine, old.engine_version, new.engine_version) == ("vllm", "0.10.2", "latest")
    assert o.weights_gib_per_gpu == pytest.approx(65.97, rel=0.005)
    assert n.weights_gib_per_gpu == pytest.approx(60.71, rel=0.005)
    assert o.kv_capacity_tokens < 0.6 * n.kv_capacity_tokens and o.batch < n.batch
    assert o.tokens_per_s_per_replica < 0.7 * n.tokens_per_s_per_replica
    assert o.tpot_batch1_ms > n.tpot_batch1_ms  # the padded experts are streamed too
    assert future.best.kv_capacity_tokens == n.kv_capacity_tokens and future.engine_version == "0.12.0"
    said = [a for a in old.assumptions if a.startswith("serving.precision mxfp4")]
    assert len(said) == 1 and "serving.engine_version 0.10.2, before 0.11.1" in said[0] and "Marlin" in said[0]
    said = next(a for a in new.assumptions if a.startswith("serving.precision mxfp4"))
    assert "serving.engine_version latest" in said


def test_serve_json_and_table_show_the_release_and_a_bad_one_is_one_line(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(json.dumps(_job_doc("0.10.2")))
    code, out, err = cli("serve", job, "--no-simulate", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert (res["engine"], res["engine_version"]) == ("vllm", "0.10.2")
    assert res["best"]["weights_gib_per_gpu"] == pytest.approx(65.97, rel=0.005)
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0 and "engine: vllm 0.10.2" in out
    code, out, err = cli("report", job, "-o", tmp_path / "plan.md", "--no-simulate")
    assert code == 0 and "| engine | vllm 0.10.2 |" in (tmp_path / "plan.md").read_text()
    for bad, why in (('"nightly"', "not a release"), ("0.10", "read this one as a number")):
        job.write_text(json.dumps(_job_doc("X")).replace('"X"', bad))
        code, out, err = cli("serve", job, "--no-simulate", "--json")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: serving.engine_version: ")
        assert why in lines[0] and not out.strip()


def _job_doc(version):
    return {**GPT_OSS, "serving": {**GPT_OSS["serving"], "engine_version": version}}


def test_the_serving_page_sets_the_release_as_the_job_file_does_and_refuses_what_it_refuses():
    """The app's serving page has a text input for ``serving.engine_version`` (srvrel54), starting at the job's own
    (``latest`` where it sets none); the release priced is on the page as `planner serve` prints it, and a text the job
    file refuses is the loader's one line."""
    from app_page import checked, open_page, upload

    small = b"""model: {preset: llama3-8b}
serving: {p99_latency_ms: 50, ttft_ms: 1000, qps: 2, prompt_tokens: 256, output_tokens: 32, max_batch: 16}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
"""
    at = upload(open_page(), "small.yaml", small)
    captions = lambda: [c.value for c in at.caption if c.value.startswith("engine: ")]  # noqa: E731
    assert at.text_input(key="r_version").value == "latest"
    assert captions() == ["engine: vllm latest (the current release; serving.engine_version pins one)"]
    at.text_input(key="r_version").set_value("0.10.2").run()
    assert captions() == ["engine: vllm 0.10.2"] and checked(at)
    at.text_input(key="r_version").set_value("nightly").run()
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "llama3-8b"}, "serving": {"engine_version": "nightly"}})
    assert [x.value for x in at.error] == [f"**serving.engine_version**: {e.value.message}"]


def test_the_simulations_replica_takes_the_release_as_the_screen_does():
    """``replica_spec`` (what every simulation of a plan runs) holds the release's weights in its KV blocks and its
    iteration model, built by itself as the tests and the app build it (until srvrel54 ``kv_free_bytes`` looked the
    engine up by name, so validate_serving's pre-0.11.1 rows padded the iteration model's weights but not the
    blocks)."""
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    from planner.workloads.serving_screen import replica_spec

    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=1))
    old, new = (replica_spec(j.model, j.serving, hw, 1) for j in (_job("0.10.2"), _job()))
    assert old.num_blocks < 0.6 * new.num_blocks
    assert old.iteration.expert_bytes > 1.05 * new.iteration.expert_bytes
