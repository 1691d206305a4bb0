"""No test's outcome may depend on which tests ran before it on its pytest worker (iso39): under ``pytest -n 2``
the split and the order change with every added test. Each test here checks one piece of process-wide state that
a test of this suite changed and left changed, so it fails when run after that test (``-n0``, the leaking test
first) unless the leak is closed:

* tests/test_losspeak38.py ``test_megatron_core_gptmodel_under_full_recompute`` ran
  tests/make_mcore_activations.py's CPU adaptations, which patched ``torch.cuda.current_device``, Megatron's
  ``CudaRNGStatesTracker.fork`` / ``_get/_set_cuda_rng_state`` and ``WrappedTorchNorm.__new__`` for the rest of the
  worker, and importing that module left a stand-in ``transformers`` module in ``sys.modules`` (now
  ``make_mcore_activations.cpu_safe``, a context manager, and the stand-in removed after its one import).
"""
import importlib.util
import sys

import pytest

torch = pytest.importorskip("torch")


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
