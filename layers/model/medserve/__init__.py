"""medserve: healthcare AI models served as AWS Lambda functions.

The shared model layer. Handlers in ``functions/<name>/app.py`` stay thin and call into this
package, one subpackage per concern: the serving core (``serving``: cards, registry, runtime,
offload), one per modality (``tabular``, ``imaging``, ``text``), AWS plumbing (``aws``), event
triggers (``triggers``), access control and audit (``security``), the HTTP API (``api``) and the
SageMaker container (``endpoint``); ``errors``, ``config``, ``observability`` and ``services``
(the composition root) at the top. The map: docs/architecture.md.
"""

__version__ = "0.1.0"
