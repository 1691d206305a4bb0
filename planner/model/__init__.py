"""The analytic model, each formula once and cited: params, FLOPs, activations, memory, communication, pipeline schedules, step time, cost."""
