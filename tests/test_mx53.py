"""mx53: Megatron-FSDP's FP8 gathers, priced as its hooks and buffers run them (NVIDIA/Megatron-LM
megatron/core/distributed/fsdp/src/megatron_fsdp/, read, not run: neither Megatron-Core nor TE is installed here).

* Full recompute under MXFP8: the re-run forward gathers the unit's row-wise ``model_weight_buffer`` and
  ``_post_forward`` keeps it (state ``PRE_BACKWARD``) while ``_pre_backward`` gathers the column-wise
  ``transpose_weight_buffer`` beside it: one more 1 B unit a rebuilt layer (a uniform group's layers all at once).
* Block-wise FP8 (and the per-tensor recipes on Hopper) keep no transpose buffer: the window gathers the row-wise
  uint8 payload (1 B) and the column-wise copy is built after the backward's gather for the unit in compute alone
  (``fp8_create_transpose_cache``), not 2 B on every gathered unit."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import mfsdp_unit_params, memory_per_gpu
from planner.model.stack_kernels import mfsdp_fp8_gather_bytes
from planner.model.stacks import from_training
from planner.spec import load_job_dict

H100, B200 = "H100-SXM-80GB", "B200"


def _job(recipe: str):
    return load_job_dict({"model": {"preset": "llama3-70b"}, "training": {
        "precision": "fp8", "seq_len": 8192, "global_batch": 256, "weights": "megatron", "optimizer": "adamw",
        "framework": {"name": "megatron-core", "megatron_fsdp": True, "fp8_recipe": recipe}}})


def _weights(recipe: str, gpu: str, rc, rg=0) -> np.ndarray:
    """Weight bytes a rank holds: Llama 3 70B on Megatron-FSDP (ZeRO-3) over 64 GPUs, FP8 parameters, one row per
    recompute code in ``rc``."""
    rc = np.atleast_1d(rc)
    base = dict(tp=1, pp=1, dp=64, cp=1, ep=1, vpp=1, zero=3, mb=1, sp=False, schedule=0, gpus_per_node=8, nodes=8)
    c = Candidates(rc=rc, rg=np.full(len(rc), rg), **{k: np.full(len(rc), v) for k, v in base.items()})
    job = _job(recipe)
    return memory_per_gpu(job.model, job.training, c, gpu=gpu)["weights"]


def _unit() -> float:
    one = np.ones(1)
    return float(mfsdp_unit_params(_job("mxfp8").model, one, one, one)[0])


def test_gathered_built_and_recomputed_bytes_by_recipe():
    """(gathered a pass, built for the unit in compute, recomputed) per FP8 recipe and part: one uint8 payload a
    pass everywhere; the transpose built where no buffer holds it (2 B stored less the 1 B gathered); MXFP8's own
    column-wise buffer beside a recomputed row-wise one."""
    st = lambda r: from_training(_job(r).training, None, _job(r).model)  # noqa: E731
    assert mfsdp_fp8_gather_bytes(st("mxfp8"), 2.0) == (1.0, 0.0, 1.0)
    assert mfsdp_fp8_gather_bytes(st("blockwise"), 2.0) == (1.0, 1.0, 0.0)
    assert mfsdp_fp8_gather_bytes(st("tensorwise"), 2.0) == (1.0, 1.0, 0.0)  # Hopper: TE's transpose
    assert mfsdp_fp8_gather_bytes(st("tensorwise"), 1.0) == (1.0, 0.0, 0.0)  # Blackwell: no transpose


def test_mxfp8_full_recompute_holds_the_rowwise_payload_beside_the_columnwise():
    """rc none / selective / full: full adds one unit's 1 B row-wise payload; selective re-runs no unit's forward.
    Under ``--recompute-method uniform --recompute-num-layers 4`` the re-run forward gathers four units first. The
    old pricing (one payload a pass whatever the recompute) gave none of it."""
    none, selective, full = _weights("mxfp8", B200, [0, 1, 2])
    unit = _unit()
    assert selective == pytest.approx(none)
    assert full - none == pytest.approx(unit * 1.0)
    assert _weights("mxfp8", B200, 2, rg=4)[0] - none == pytest.approx(4 * unit * 1.0)
    # the per-tensor recipes' backward reads the buffer the re-run forward gathered: nothing more
    t_none, t_full = _weights("tensorwise", B200, [0, 2])
    assert t_full == pytest.approx(t_none)


def test_blockwise_gathers_one_payload_and_builds_the_transpose_for_one_unit():
    """Block-wise FP8 stores 2 B a parameter like MXFP8, but has no transpose buffer: 1 B on every gathered unit plus
    the column-wise copy of the unit in compute (1 B), so it holds one unit more than MXFP8 (rc none) where the old
    pricing held the whole gathered window (two units) more at 2 B."""
    unit = _unit()
    assert _weights("blockwise", H100, 0)[0] - _weights("mxfp8", H100, 0)[0] == pytest.approx(unit * 1.0)
    assert _weights("blockwise", B200, 0)[0] == pytest.approx(_weights("blockwise", H100, 0)[0])


def test_the_gather_bytes_take_an_array_of_keys():
    """``memory._mfsdp_gather_bytes`` hands ``mfsdp_fp8_gather_bytes`` the stored bytes per key (an array): the
    ``built`` term was a Python ``max`` over it, an internal error on every search with a Megatron-FSDP FP8 row
    (found by test_stack_rules / test_qa102 / test_qa106 after the merge)."""
    import numpy as np

    from planner.model.stack_kernels import mfsdp_fp8_gather_bytes
    from planner.model.stacks import resolve

    st = resolve("megatron-core", megatron_fsdp=True, fp8_recipe="tensorwise")
    stored = np.array([1.0, 2.0])
    scalar = [mfsdp_fp8_gather_bytes(st, float(b)) for b in stored]
    arr = mfsdp_fp8_gather_bytes(st, stored)
    for i in range(3):
        assert np.allclose(np.broadcast_to(arr[i], stored.shape), [s[i] for s in scalar])
