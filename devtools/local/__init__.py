"""Local development of the medserve stack, without AWS and without Docker.

Never shipped in the Lambda layer: it emulates what SAM and AWS do around the handlers.

* ``template``: load ``template.yaml`` (CloudFormation short-form tags included) into
  :class:`FunctionSpec` objects and resolve intrinsic functions with local semantics.
* ``invoke``: ``sam local invoke`` without Docker (:class:`Invoker`, :func:`invoke_function`).
* ``embedded``: an in-process moto server with the template's buckets, tables, queues and topics,
  and S3 upload notifications delivered to the functions (:class:`EmbeddedAWS`).
* ``server``: ``sam local start-api`` for HTTP API routes, payload format 2.0 (:class:`LocalApi`).

Submodules are imported lazily (moto and http.server are only needed by ``serve``).
"""

from __future__ import annotations

from devtools.local.template import FunctionSpec, S3Trigger, Template, TemplateError, local_name

__all__ = ["FunctionSpec", "S3Trigger", "Template", "TemplateError", "local_name"]
