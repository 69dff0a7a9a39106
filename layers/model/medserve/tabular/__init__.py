"""Tabular risk: record validation and the calibrated model (``model``), exact Shapley
contributions in log-odds (``shapley``), the one prediction used by the route and the S3 scorer
(``predict``) and CSV/JSONL uploads (``batch``)."""
