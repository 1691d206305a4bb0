"""The analytic model, each formula once and cited: FLOPs, activations, memory, communication, pipeline schedules,
step time (with its MoE, Mamba, fine-tuning, offload and optimizer terms), the training stacks and what they refuse,
cost. Parameter counts are the spec's (planner.spec.params)."""
