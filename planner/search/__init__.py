"""Layout search: the space of candidates (``space``), evaluation (``evaluate``), ranking by the
objective and why (``rank``), the pure search (``recommend.recommend``), explanations (``explain``)."""
