"""The model-agnostic serving core: model cards (``cards``), the registry of bundled and S3 models
(``registry``), ONNX Runtime sessions (``runtime``) and placement on Lambda or a SageMaker
endpoint (``offload``). Nothing here knows a modality."""
