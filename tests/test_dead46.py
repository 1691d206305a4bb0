"""dead46: arguments that did nothing are gone, so a caller that passes one hears so instead of being ignored."""
import pytest

from planner.simulate import answers as A
from planner.simulate import CheckpointConfig, FailureConfig, PipelineConfig, SimConfig


def test_checkpoint_sweep_has_no_horizon_argument():
    """``horizon_mtbf`` sized the segment-level simulation the sweep no longer runs (it is the closed form since):
    passing it was silently ignored; now it is a TypeError, and the sweep without it answers as before."""
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.1, t_bwd_mb=0.2),
                    checkpoint=CheckpointConfig(every_steps=100, bytes=60e9, write_bw=1e9),
                    failures=FailureConfig(mtbf_node_s=8 * 3600.0, nodes=2, restart_s=300))
    with pytest.raises(TypeError, match="horizon_mtbf"):
        A.checkpoint_interval_sweep(cfg, step_s=0.3, horizon_mtbf=2000)
    assert A.checkpoint_interval_sweep(cfg, step_s=0.3)["rows"]
