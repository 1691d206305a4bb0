"""code42: the one-rank torch.distributed world is one helper (tests/one_rank.py ``one_rank_group``) for the tests
(through conftest) and the Megatron-Core truth scripts run by hand (tests/make_mcore_glu_activations.py,
make_mcore_recompute_activations.py), which set it up by hand until code42. A script imports it without pytest."""
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # ~11 CPU s in 1 test: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

SCRIPT = """
import sys
sys.modules["pytest"] = None  # a script run by hand: importing pytest would fail
sys.path.insert(0, "tests")
import torch.distributed as dist
from one_rank import one_rank_group
with one_rank_group() as ps:
    assert ps is None and dist.is_initialized() and dist.get_world_size() == 1
    dist.all_reduce(t := __import__("torch").ones(1))
    assert float(t) == 1.0
assert not dist.is_initialized()
import make_mcore_glu_activations, make_mcore_recompute_activations  # their one-rank world: this helper
assert make_mcore_glu_activations.one_rank_group is one_rank_group is make_mcore_recompute_activations.one_rank_group
print("ok")
"""


def test_a_truth_script_gets_its_one_rank_world_without_pytest():
    pytest.importorskip("torch")
    pytest.importorskip("megatron.core")
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
