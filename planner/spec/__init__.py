"""Job specification: the pydantic schema (``schema``), loading YAML / JSON / bare models / HF
config.json with defaults filled in (``load``, ``hf``), a layer's weight matrices (``shapes``), a spec's exact
parameter count (``params``), and the shipped presets (``presets``)."""
from planner.spec.hf import hf_config_to_fields, load_hf_config, looks_like_hf_config
from planner.spec.load import load_job, load_job_dict, parse_yaml_text, read_yaml
from planner.spec.schema import (CheckpointSpec, ClusterSpec, ConstraintsSpec, DataSpec, EvaluationSpec, JobSpec,
                                 ModelSpec, MoESpec, ParallelSpec, ServingSpec, TrainingSpec, validate_section)

__all__ = ["CheckpointSpec", "ClusterSpec", "ConstraintsSpec", "DataSpec", "EvaluationSpec", "JobSpec", "ModelSpec",
           "MoESpec", "ParallelSpec", "ServingSpec", "TrainingSpec", "hf_config_to_fields", "load_hf_config",
           "load_job", "load_job_dict", "looks_like_hf_config", "parse_yaml_text", "read_yaml", "validate_section"]
