"""Layout search: the space of candidates, ranking by the objective, explanations, sensitivity."""
