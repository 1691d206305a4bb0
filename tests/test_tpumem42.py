"""A TPU plan's runtime reserve and MaxText's LM-head gradient (tpumem42, 2026-12-05).

``other`` on a TPU is the HBM the XLA runtime withholds from the program (the chip's capacity less JAX's
``bytes_limit``: 31.25 GiB usable of v6e's 32, vllm-project/vllm#16211's log), not a GPU's CUDA context, NCCL buffers
and caching-allocator reserve (``memory.RUNTIME_RESERVE``). MaxText's loss backward holds the output projection's
full-size bf16 gradient before its reduce-scatter, and its gathered kernel where a layer's would be
(``memory.scan_loss_weights``)."""
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.model import stacks
from planner.model.memory import (CUDA_CONTEXT_BYTES, RUNTIME_RESERVE, memory_per_gpu, runtime_reserve,
                                  scan_head_grad_transient, scan_loss_weights)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_maxmem42 import _case  # noqa: E402  (a maxtext_tpu_recipes row as validate.py runs it)
from test_maxtext37 import QKV_OFFLOAD, llama70b_case  # noqa: E402

GIB = 2**30


def test_v6e_other_is_the_hbm_xla_withholds():
    """GPT-3 175B on v6e-256: ``other`` = 32 GiB - 33550237696 B = 0.754 GiB, no NCCL groups, no fragmentation on the
    17 GiB of activations (was 1.85 GiB: CUDA's 0.75 + NCCL's + 5%), and the same with no part named (MaxText runs
    on TPUs only: ``Stack.platforms``)."""
    m, t, c, st = _case("maxtext_v6e_gpt3-175b_256")
    for gpu in ("TPU-v6e", None):
        got = memory_per_gpu(m, t, c, stack=st, gpu=gpu)
        assert float(got["other"][0]) == pytest.approx(32 * GIB - 33550237696, abs=1.0)
        assert float(got["outside_allocator"][0]) == float(got["other"][0])
    assert float(got["total"][0]) / GIB == pytest.approx(31.32, abs=0.01)


def test_reserve_per_platform_and_part():
    """Table lookups: a TPU part's own withheld HBM (v4 1.25 GiB, v5e 0.25, v5p none under the catalog's 95 GiB), a
    GPU part CUDA's, ROCm CUDA's allowances in its own words, a part the catalog does not know its stack's platform."""
    assert runtime_reserve("TPU-v4", None)[1] / GIB == pytest.approx(1.25, abs=0.01)
    assert runtime_reserve("TPU-v5e", None)[1] / GIB == pytest.approx(0.25)
    assert runtime_reserve("TPU-v5p", None)[1] == 0.0
    r, ctx = runtime_reserve("H100-SXM-80GB", stacks.resolve("megatron-core"))
    assert (r, ctx) == (RUNTIME_RESERVE["cuda"], CUDA_CONTEXT_BYTES) and r.fragmentation == 0.05
    assert runtime_reserve("MI300X", None)[0].per_group == RUNTIME_RESERVE["cuda"].per_group
    assert "RCCL" in runtime_reserve("MI300X", None)[0].words
    assert runtime_reserve("cuda:measured-part", stacks.resolve("maxtext"))[0] is RUNTIME_RESERVE["tpu"]
    # (no NCCL groups and no fragmentation on a TPU: test_v6e_other_is_the_hbm_xla_withholds, on memory_per_gpu)


def test_llama70b_head_gradient_at_the_loss():
    """Llama 3.1 70B v6e-256 (ZeRO-3, TP 1): the head's 128256 x 8192 unreduced bf16 gradient, 1.96 GiB, and its
    gathered bf16 kernel (1.96) in place of one gathered layer at the loss; the logits term grows by exactly what
    that adds beyond the rebuild."""
    m, t, c = llama70b_case()
    st = stacks.resolve("maxtext", remat_policy="custom", remat_tensors=QKV_OFFLOAD)
    assert float(scan_head_grad_transient(m, st, c, 2.0)[0]) / GIB == pytest.approx(128256 * 8192 * 2 / GIB)  # 1.957
    layer = 1.6 * GIB
    assert float(scan_loss_weights(m, st, c, 2.0, np.array([layer]), 2.0)[0]) == pytest.approx(
        2 * 128256 * 8192 * 2.0 - layer)
    got = memory_per_gpu(m, t, c, stack=st, gpu="TPU-v6e")
    assert float(got["total"][0]) / GIB < 32.0
    # the gradient only where gradients are sharded, the gathered kernel only at ZeRO-3, nothing on a torch stack
    assert float(scan_head_grad_transient(m, st, replace(c, zero=np.array([1])), 2.0)[0]) == 0.0
    z2 = scan_loss_weights(m, st, replace(c, zero=np.array([2])), 2.0, np.array([layer]), 2.0)
    assert float(z2[0]) == pytest.approx(128256 * 8192 * 2.0)
    assert float(scan_loss_weights(m, stacks.resolve("torchtitan"), c, 2.0, np.array([layer]), 2.0)[0]) == 0.0


def test_head_gradient_moves_the_logits_term():
    """The Llama 3.1 8B v6e-8 row: the loss's buffers exceed the rebuild, so the logits term grows by the head's
    gradient + its gathered kernel - one gathered layer (8B: 128256 x 4096 x 2 B = 0.98 GiB each)."""
    m, t, c, st = _case("maxtext_v6e_llama31-8b_8")
    got = memory_per_gpu(m, t, c, stack=st, gpu="TPU-v6e")
    plain = memory_per_gpu(m, t, c, stack=replace(st, scan_gathers=False), gpu="TPU-v6e")
    assert float(got["logits"][0]) > float(plain["logits"][0])
    assert float(scan_head_grad_transient(m, st, c, 2.0)[0]) / GIB == pytest.approx(128256 * 4096 * 2 / GIB)
