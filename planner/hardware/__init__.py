"""Hardware: options (instance or GPU x nodes) selected by the constraints, efficiency priors, calibration profiles."""
