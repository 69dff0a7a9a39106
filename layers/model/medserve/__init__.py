"""medserve: healthcare AI models served as AWS Lambda functions.

The shared model layer. Handlers in ``functions/<modality>/app.py`` stay thin and call into this
package: the model registry (``registry``), ONNX Runtime sessions (``runtime``), model cards
(``cards``), per-modality pre/post-processing (``tabular``), explanations (``explain``), the HTTP
API (``api``), S3 batch processing (``batch``) and the error model (``errors``).
"""

__version__ = "0.1.0"
