"""Job specification: the pydantic schema, loading YAML / JSON / bare models / HF config.json, presets."""
