"""Developer tooling for medserve, never shipped in the Lambda layer: the ``medserve`` CLI
(``cli``), the local emulator of API Gateway, Lambda, S3, SageMaker and the authorizer
(``local``), the models CLI (``models_cli``), the de-identification evaluation (``deid_eval``) and
the OpenAPI builder (``openapi``). It imports ``medserve``; ``medserve`` never imports it."""
