"""No test's outcome may depend on which tests ran before it on its pytest worker (iso39): under ``pytest -n 2``
the split and the order change with every added test. Each test here checks one piece of process-wide state that
a test of this suite changed and left changed, so it fails when run after that test (``-n0``, the leaking test
first) unless the leak is closed:

* tests/test_losspeak38.py ``test_megatron_core_gptmodel_under_full_recompute`` ran
  tests/make_mcore_activations.py's CPU adaptations, which patched ``torch.cuda.current_device``, Megatron's
  ``CudaRNGStatesTracker.fork`` / ``_get/_set_cuda_rng_state`` and ``WrappedTorchNorm.__new__`` for the rest of the
  worker, and importing that module left a stand-in ``transformers`` module in ``sys.modules`` (now
  ``make_mcore_activations.cpu_safe``, a context manager, and the stand-in removed after its one import);
* tests/test_dataloader_real.py's ``calibrate`` / ``run_real`` left torch at one intra-op thread and its RNG at seed
  0, and tests/test_activations.py / test_flops.py / test_mbmem38.py seed torch's RNG (tests/conftest.py
  ``_process_state`` puts torch's state back after every test);
* a test that fails between ``init_process_group`` and its ``finally`` leaves the group up, and so do one that sets
  an environment variable, changes directory or inserts into ``sys.path`` without undoing it: the leaking test of
  that kind is below (``test_a_test_that_leaks_and_fails``, an expected failure) and the test after it checks.
"""
import importlib.util
import os
import random
import sys

import pytest


torch = pytest.importorskip("torch")

#: torch's process-wide settings on this worker after collection (tests/conftest.py ``BASELINE``): what every test
#: starts from; read when a test runs, as the collection hook fills it after this module is imported
from conftest import BASELINE as COLLECTED  # noqa: E402


def test_torch_intra_op_threads_are_the_workers():
    """benchmarks/dataloader_real.py ``calibrate`` sets one thread (its per-sample cost is one core's) and does not
    set it back: every later test on the worker ran torch on one core, its reductions split otherwise."""
    assert torch.get_num_threads() == COLLECTED["threads"]


def test_torch_default_dtype_and_determinism_are_the_workers():
    assert torch.get_default_dtype() == COLLECTED["dtype"]
    assert torch.are_deterministic_algorithms_enabled() == COLLECTED["deterministic"]


def test_torch_rng_seed_is_the_workers():
    """``torch.manual_seed(0)`` in a test (test_activations, test_flops, test_mbmem38, test_liger36, test_a2aperm37,
    the Megatron model builds, dataloader_real ``run_real``) reseeded the generator every later unseeded
    ``torch.randn`` on the worker drew from: what it drew depended on which test ran last."""
    assert torch.initial_seed() == COLLECTED["seed"]


def test_torch_cuda_current_device_is_torchs():
    """``make_mcore_activations``'s CPU adaptation answers "cpu"; torch's own refuses on a torch without CUDA."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA torch answers a device index")
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        torch.cuda.current_device()


def test_megatron_rng_tracker_forks_only_a_state_it_was_given():
    """Megatron's ``CudaRNGStatesTracker.fork`` refuses a state never added; the CPU adaptation's no-op fork, left
    in place, let a later test's dropout run outside the model-parallel RNG stream without a word."""
    pytest.importorskip("megatron.core")
    from megatron.core.tensor_parallel import random as mrandom

    with pytest.raises(Exception, match="model-parallel-rng is not added"):
        with mrandom.CudaRNGStatesTracker().fork():
            pass
    assert mrandom._set_cuda_rng_state.__module__ == mrandom._get_cuda_rng_state.__module__ == mrandom.__name__


def test_megatron_torch_norm_refuses_sequence_parallel():
    """torch_norm.py: ``WrappedTorchNorm`` asserts sequence parallelism off (its weight gradients would miss the SP
    all-reduce); the CPU adaptation's ``__new__`` built it with a config copy that says off."""
    pytest.importorskip("megatron.core")
    from megatron.core.transformer.torch_norm import WrappedTorchNorm
    from megatron.core.transformer.transformer_config import TransformerConfig

    cfg = TransformerConfig(num_layers=1, hidden_size=8, num_attention_heads=2, tensor_model_parallel_size=2,
                            sequence_parallel=True, use_cpu_initialization=True)
    with pytest.raises(AssertionError, match="sequence parallel not supported"):
        WrappedTorchNorm(cfg, 8)


def test_transformers_is_installed_or_absent():
    """Importing make_mcore_activations where transformers is not installed put a stand-in module without a spec in
    ``sys.modules``: ``find_spec("transformers")`` then raised ValueError instead of answering None, and
    ``import transformers`` found a package with no models."""
    spec = importlib.util.find_spec("transformers")
    if spec is None:
        assert "transformers" not in sys.modules
    else:
        assert getattr(sys.modules.get("transformers"), "__spec__", spec) is not None


#: what ``test_a_test_that_leaks_and_fails`` found before it changed anything, for the test after it (empty where
#: xdist ran the two on different workers: the second then has nothing to compare)
_BEFORE: dict = {}


@pytest.mark.xfail(raises=RuntimeError, strict=True, reason="the test fails half-way, after it changed everything")
def test_a_test_that_leaks_and_fails(tmp_path):
    """Changes each piece of process-wide state tests/conftest.py ``_process_state`` restores, as the tests of this
    suite did (by hand here: the leaks of the real tests are closed), then fails before it could undo any."""
    _BEFORE.update(env=dict(os.environ), cwd=os.getcwd(), path=list(sys.path), py_rng=random.getstate())
    os.environ["NVTE_FLASH_ATTN"] = "0"  # Megatron's _set_attention_backend for a local-backend model
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", "29614"  # the truth scripts' workers
    os.chdir(tmp_path)
    sys.path.insert(0, str(tmp_path))
    random.seed(0)  # dataloader_real run_real
    np = sys.modules.get("numpy")
    if np is not None:
        _BEFORE["np_rng"] = np.random.get_state()[1].copy()
        np.random.seed(0)
    import torch.distributed as dist

    _BEFORE["torch"] = (torch.get_num_threads(), torch.get_default_dtype(), torch.initial_seed())
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    if dist.is_available() and not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
        _BEFORE["pg"] = True
    raise RuntimeError("a test that fails between its set-up and its finally")


def test_b_the_next_test_starts_clean(tmp_path):
    """Runs after ``test_a_test_that_leaks_and_fails`` (file order): nothing it left is in force."""
    if not _BEFORE:
        pytest.skip("the leaking test ran on another worker (or not at all)")
    pytest_own = "PYTEST_CURRENT_TEST"  # pytest's, set per phase
    assert {k: v for k, v in os.environ.items() if k != pytest_own} == \
        {k: v for k, v in _BEFORE["env"].items() if k != pytest_own}
    assert os.getcwd() == _BEFORE["cwd"]
    assert sys.path == _BEFORE["path"]
    assert random.getstate() == _BEFORE["py_rng"]
    if "np_rng" in _BEFORE:
        assert (sys.modules["numpy"].random.get_state()[1] == _BEFORE["np_rng"]).all()
    if "torch" in _BEFORE:
        import torch.distributed as dist

        assert (torch.get_num_threads(), torch.get_default_dtype(), torch.initial_seed()) == _BEFORE["torch"]
        if _BEFORE.get("pg"):
            assert not dist.is_initialized()  # the next test's init_process_group is not refused
            dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
            dist.destroy_process_group()
