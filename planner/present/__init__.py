"""Presentation: terminal tables, charts, the budget-review report, launch specs, output files."""
