"""The MoE all-to-all overlap option is held by the stacks whose ``Stack.has_moe_a2a_overlap`` says so.

dead46 found the gate in ``stacks.OPTION_HOLDERS`` read ``has_cuda_graphs`` (the same three Megatron-Core stacks
today, so no plan changed); a stack with CUDA graphs but without Megatron-Core's
``--overlap-moe-expert-parallel-comm`` would have been offered the overlap.
"""
import dataclasses

import pytest

from planner.errors import InputError
from planner.model.stacks import STACKS, check_option, holds


def test_the_gate_reads_the_overlap_field_not_cuda_graphs():
    mcore = STACKS["megatron-core"]
    assert mcore.has_cuda_graphs and mcore.has_moe_a2a_overlap and holds(mcore, "moe_a2a_overlap")
    graphs_only = dataclasses.replace(mcore, has_moe_a2a_overlap=False)
    assert not holds(graphs_only, "moe_a2a_overlap")
    with pytest.raises(InputError, match="training.framework.moe_a2a_overlap"):
        check_option(graphs_only, "moe_a2a_overlap", True)
    overlap_only = dataclasses.replace(mcore, has_cuda_graphs=False)
    assert holds(overlap_only, "moe_a2a_overlap")


def test_every_stack_holding_the_overlap_has_the_field():
    for stack in STACKS.values():
        assert holds(stack, "moe_a2a_overlap") == stack.has_moe_a2a_overlap
