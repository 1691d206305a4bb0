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

from planner.simulate.answers import best_shard_size, cache_worth_it, checkpoint_interval_sweep, workers_needed

__all__ = [
    "SimConfig", "PipelineConfig", "LoaderConfig", "EvalConfig", "CheckpointConfig",
    "FailureConfig", "SimResult", "simulate", "STORAGE_PROFILES", "StorageProfile",
    "workers_needed", "cache_worth_it", "best_shard_size", "checkpoint_interval_sweep",
]
