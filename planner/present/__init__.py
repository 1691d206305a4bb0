"""Presentation: terminal tables, charts, the budget-review report, launch specs (``emit``), the simulation, serving,
tabular and campaign renderers, user text made safe (``safe``). Files are written through planner.outputs."""
