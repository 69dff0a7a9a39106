"""The SageMaker serving container: SageMaker's container contract around the medserve package.

SageMaker starts the image with ``serve``; the server listens on port 8080, answers ``GET /ping``
(200 once the model is loaded) and ``POST /invocations`` (the same JSON the Lambda API takes for
the model's modality), and loads the model SageMaker unpacked into ``/opt/ml/model`` (a medserve
model directory: ``card.json`` + the ONNX artifact, sha256-checked). ONNX Runtime uses the CUDA
execution provider when the image and instance have a GPU, the CPU otherwise.
"""

from medserve.endpoint.server import EndpointModel, EndpointServer

__all__ = ["EndpointModel", "EndpointServer"]
