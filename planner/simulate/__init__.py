"""Discrete-event simulation (SimPy) of a training job's steps: input pipeline, pipeline-parallel
GPU work, data-parallel synchronisation, evaluation, checkpoints and failures.

    >>> from planner.simulate import SimConfig, PipelineConfig, simulate
    >>> cfg = SimConfig(PipelineConfig(t_fwd_mb=0.1, t_bwd_mb=0.2, pp=2, m=4))
    >>> round(simulate(cfg, steps=20).step_time_s["mean"], 6)
    1.5

See README.md in this folder for the model and its limits.
"""
from planner.simulate.config import (CheckpointConfig, EvalConfig, FailureConfig, LoaderConfig,
                                     PipelineConfig, SimConfig)
from planner.simulate.engine import SimResult, simulate
from planner.simulate.resources import STORAGE_PROFILES, StorageProfile

__all__ = [
    "SimConfig", "PipelineConfig", "LoaderConfig", "EvalConfig", "CheckpointConfig",
    "FailureConfig", "SimResult", "simulate", "STORAGE_PROFILES", "StorageProfile",
    "format_result", "run_simulate_command", "write_timeline", "workers_needed",
    "cache_worth_it", "best_shard_size", "checkpoint_interval_sweep",
]


def __getattr__(name):  # report/answers import lazily (rich is only needed for the CLI)
    if name in ("format_result", "run_simulate_command", "write_timeline"):
        from planner.simulate import report
        return getattr(report, name)
    if name in ("workers_needed", "cache_worth_it", "best_shard_size", "checkpoint_interval_sweep"):
        from planner.simulate import answers
        return getattr(answers, name)
    raise AttributeError(name)
