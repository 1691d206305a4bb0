"""Workloads: training, serving, tabular, campaign — each plans a job and returns a typed result."""
