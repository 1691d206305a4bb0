"""MaxText's layer backward holds a weight's full-size bf16 gradient before its reduce-scatter (maxmem42): the weight is
sharded over the fsdp axis and the batch too, so each chip computes the whole matrix's partial sum and reduce-scatters
it (jax-ml/scaling-book training.md, FSDP: ``dW[F, D] {U_X}`` then ``ReduceScatter``), one matrix at a time (XLA's
latency-hiding scheduler: ``reduce_scatter_overlap_limit = 1``). Priced beside the layer's rebuild, where the backward
scan runs it: the largest array (a dense matrix, or an MoE layer's stacked experts) at the compute dtype's 2 B."""
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.model import stacks
from planner.model.memory import memory_per_gpu
from planner.model.memory_activations import scan_grad_transient, scan_unreduced_grad_elems

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

GIB = 2**30


def _case(row_id):
    import validate
    d = pd.read_csv(validate.MAXTEXT_CSV)
    r = next(r for r in d.itertuples() if r.id == row_id)
    return validate.maxtext_case(r, validate.MAXTEXT_HOST_CHIPS)


def _gib(got, k):
    return float(got[k][0]) / GIB


def test_gpt3_175b_holds_its_mlp_matrix_gradient():
    """GPT-3 175B on v6e-256: the largest matrix is the MLP's 12288 x 49152 (MaxText gpt3: one ``wi``, one ``wo``),
    603.98M elements, 1.125 GiB in bf16, beside the layer's rebuild: activations 15.89 -> 17.02 GiB (the transient and
    its 5% allocator reserve in ``other``), total 31.24 -> 32.42 GiB."""
    m, t, c, st = _case("maxtext_v6e_gpt3-175b_256")
    assert float(scan_unreduced_grad_elems(m, c.tp, c.etp, c.ep)[0]) == 12288 * 49152
    assert float(scan_grad_transient(m, st, c, 2.0)[0]) / GIB == pytest.approx(1.125, abs=1e-9)
    got = memory_per_gpu(m, t, c, stack=st)
    assert _gib(got, "activations") == pytest.approx(15.89 + 1.125, abs=0.01)
    assert _gib(got, "logits") == 0.0
    # 32.42 until tpumem42 priced a TPU's ``other`` as the HBM XLA withholds (0.754 GiB, not a GPU's 1.85)
    assert _gib(got, "total") == pytest.approx(31.32, abs=0.01)


def test_moe_layer_holds_the_stacked_experts_gradient():
    """Mixtral 8x7B (no expert parallelism on the recipe): MaxText keeps each of ``wi_0`` / ``wi_1`` / ``wo`` as one
    [experts, hidden, mlp] array, so the unreduced gradient is all 8 experts' (8 x 4096 x 14336, 0.875 GiB), not one
    expert's 0.109 GiB; under EP 8 a rank's own expert only."""
    m, t, c, st = _case("maxtext_v6e_mixtral-8x7b_256")
    assert float(scan_unreduced_grad_elems(m, c.tp, c.etp, c.ep)[0]) == 8 * 4096 * 14336
    assert float(scan_unreduced_grad_elems(m, c.tp, c.etp, np.array([8]))[0]) == 4096 * 14336
    assert float(scan_grad_transient(m, st, c, 2.0)[0]) / GIB == pytest.approx(0.875, abs=1e-9)


def test_beside_the_rebuild_not_the_loss():
    """Llama 3.1 8B on v6e-8 (base.yml's one vocabulary tile: its logits' loss peak exceeds a layer's rebuild): the
    transient moves 0.109 GiB (4096 x 14336 in bf16) from the loss's excess into the rebuild, the total unchanged --
    the backward scan runs after the loss's buffers are freed (``loss_beside_rebuild``)."""
    m, t, c, st = _case("maxtext_v6e_llama31-8b_8")
    got = memory_per_gpu(m, t, c, stack=st)
    moved = 4096 * 14336 * 2 / GIB
    assert _gib(got, "activations") == pytest.approx(4.03 + moved, abs=0.01)
    # + the head's unreduced gradient and gathered kernel in place of a gathered layer at the loss (tpumem42:
    # 2 x 0.98 - 0.41 GiB, memory.scan_loss_weights); the total also at v6e's own runtime reserve
    assert _gib(got, "logits") == pytest.approx(8.27 - moved + 1.55, abs=0.01)
    assert _gib(got, "total") == pytest.approx(30.38, abs=0.01)


def test_only_sharded_gradients_on_a_scanned_stack():
    """Below ZeRO-2 the gradient term holds the gradients whole already, and a torch stack (no ``scan_gathers``) prices
    its own buffers (FSDP2's ``fsdp2_reduce_buffer_bytes``): no transient there."""
    m, t, c, st = _case("maxtext_v6e_gpt3-175b_256")
    assert float(scan_grad_transient(m, st, replace(c, zero=np.array([1])), 2.0)[0]) == 0.0
    assert float(scan_grad_transient(m, stacks.resolve("torchtitan"), c, 2.0)[0]) == 0.0
    assert float(scan_grad_transient(m, st, c, 2.0)[0]) > 0.0
