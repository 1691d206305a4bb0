"""planner: GPU capacity planner and training cost/throughput simulator."""
__version__ = "0.1.0"
