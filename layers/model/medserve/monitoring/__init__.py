"""Production monitoring: capture without PHI, Model Monitor-schema baselines, drift and quality.

- :mod:`~medserve.monitoring.baseline` - ``statistics.json`` / ``constraints.json`` writers and the
  loaded :class:`~medserve.monitoring.baseline.Baseline` (bucket edges capture bins against);
- :mod:`~medserve.monitoring.capture` - the sampled per-request record, written to S3;
- :mod:`~medserve.monitoring.drift` - L-infinity (Simple/Robust), PSI, chi-square, MMD in numpy;
- :mod:`~medserve.monitoring.performance` - AUC, calibration error, confusion from ground truth;
- :mod:`~medserve.monitoring.job` - the scheduled job writing Model Monitor's outputs.

Types at the bottom (baseline, drift, performance import only numpy), then capture (cards,
settings, S3 arguments), then the job; nothing here imports the API or ``medserve.services``.
"""
