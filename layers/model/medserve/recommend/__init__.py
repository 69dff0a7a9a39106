"""Treatment recommendation by matrix factorisation: query and result types (``types``), the
factors, fold-in and ONNX top-k (``model``), the one recommendation step used by the route and the
S3 scorer, with its safety exclusions and exact explanations (``predict``) and JSONL uploads
(``batch``)."""
