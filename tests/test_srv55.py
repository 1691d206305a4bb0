"""srv55: vLLM 0.10.1-0.12.x turned its hybrid KV cache manager off for models with chunked local attention (Llama 4),
so every layer kept the whole context there (planner/model/serving_efficiency.py VLLM_CHUNKED_HYBRID_OFF: vLLM PR
#21761; VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE False in the 0.10.1.1-0.12.0 API docs, True in 0.16.0)."""
import pytest

from planner.hardware.options import option_from_cluster
from planner.model.serving_efficiency import engine_efficiency, job_efficiency
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_memory import kv_bytes_per_sequence, kv_bytes_per_token, kv_layout
from planner.workloads.serving_screen import replica_spec


def _job(preset, version=None):
    serving = {"p99_latency_ms": 1000, "engine": "vllm", "prompt_tokens": 18000, "output_tokens": 2000}
    if version is not None:
        serving["engine_version"] = version
    return load_job_dict({"model": {"preset": preset}, "serving": serving})


SCOUT = _job("llama4-scout").model  # 48 layers, 36 of them chunked (8,192-token chunks)


@pytest.mark.parametrize("release", [(0, 10, 1), (0, 11, 0), (0, 12, 0), (0, 12, 9)])
def test_vllm_0_10_1_to_0_12_keeps_every_layer_of_a_chunked_model_whole(release):
    local_kv = engine_efficiency("vllm", release).local_kv
    assert kv_layout(SCOUT, "bf16", 4, local_kv).rule.rule == "full"
    assert kv_bytes_per_sequence(SCOUT, "bf16", 20000, 4, local_kv) == kv_bytes_per_token(SCOUT, "bf16", 4) * 20000


@pytest.mark.parametrize("release", [None, (0, 10, 0), (0, 13, 0), (0, 16, 0)])
def test_other_vllm_releases_keep_only_the_current_chunk(release):
    """Before PR #21761 (0.10.0) and from the flip (priced from 0.13.0; 0.16.0's docs say True): the hybrid manager's
    ChunkedLocalAttentionManager, the 12 global layers whole and the 36 chunked ones at most one chunk."""
    local_kv = engine_efficiency("vllm", release).local_kv
    layer = kv_bytes_per_token(SCOUT, "bf16", 4) / 48
    assert kv_bytes_per_sequence(SCOUT, "bf16", 20000, 4, local_kv) == pytest.approx(layer * (12 * 20000 + 36 * 8192))


def test_sliding_window_models_keep_the_hybrid_manager_in_those_releases():
    """PR #21761 switches the manager off only where ``attention_chunk_size`` is set: gpt-oss (sliding windows) keeps
    its window rule under 0.11.0 (passes on the old code too: it pins the rule's scope)."""
    gpt_oss = _job("gpt-oss-20b").model
    for release in ((0, 11, 0), None):
        assert kv_layout(gpt_oss, "bf16", 1, engine_efficiency("vllm", release).local_kv).rule.rule == "window"


def test_a_job_pinned_to_0_11_0_sizes_a_llama4_replica_as_the_release_kept_it():
    """``serving.engine_version`` reaches the simulation's KV blocks (replica_spec -> kv_layout): at 20,000 tokens a
    0.11.0 sequence holds every layer's 1,250 blocks of 16 tokens, the current release's the 12 global layers' 1,250
    and the 36 chunked layers' 512 + 1 (a chunk and the block it may straddle): 60,000 against 33,468 layer-blocks,
    so the pinned replica fits 22 such sequences where the current one fits 40."""
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=4))

    def spec(version):
        job = _job("llama4-scout", version)
        return replica_spec(job.model, job.serving, hw, 4, eff=job_efficiency(job.serving))

    old, new = spec("0.11.0"), spec(None)
    layer_block = new.unit_bytes  # one layer's block of 16 tokens on one GPU
    assert old.blocks.held(20000, 16) * old.unit_bytes == 48 * 1250 * layer_block
    assert new.blocks.held(20000, 16) * new.unit_bytes == (12 * 1250 + 36 * 513) * layer_block
    assert old.num_blocks * old.unit_bytes == pytest.approx(new.num_blocks * new.unit_bytes, rel=1e-4)  # same memory
    assert (old.num_blocks // old.blocks.held(20000, 16), new.num_blocks // new.blocks.held(20000, 16)) == (22, 40)
