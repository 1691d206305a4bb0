"""Hardware: options (instance or GPU x nodes) selected by the constraints, efficiency priors, calibration profiles
and the data-pipeline rates they measured (``data_rates``), the software an accelerator runs (``platform``)."""
