"""``POST /v1/tabular/predict``: records in, risk, label and contributions out."""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import json
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve.api.responses import (
    fhir_response,
    json_response,
    negotiated,
    negotiation_check,
    request_id,
)
from medserve.api.schemas import (
    FHIR_CONTENT,
    JSON_BODY,
    AcceptedJob,
    PredictEnvelope,
    TabularPredictRequest,
    error_responses,
    split_subjects,
)
from medserve.config import settings
from medserve.errors import PayloadTooLarge, UpstreamError
from medserve.interop import fhir
from medserve.interop.negotiation import FHIR_JSON, JSON, include_inputs
from medserve.monitoring.capture import capture_tabular
from medserve.observability import Stopwatch, logger, model_dimensions, record_prediction, tracer
from medserve.security.auth import caller
from medserve.services import get_services
from medserve.serving import offload
from medserve.tabular import predict as tabular
from medserve.tabular.model import refuse_out_of_scope, validate_records
from medserve.triggers import async_jobs as offload_jobs

router = APIGatewayHttpRouter()
OFFERS = (JSON, FHIR_JSON)


_ERRORS = {
    400: "malformed JSON",
    404: "unknown model",
    406: "the Accept header (or _format) allows neither JSON nor FHIR",
    413: "too many records",
    415: "not application/json",
    422: "invalid records (INVALID_INPUT) or records outside the model's intended use (OUT_OF_SCOPE)",
    429: "the model endpoint is throttling",
    502: "an upstream (S3, SageMaker) failed",
    503: "the model's SageMaker endpoint is not configured",
    504: "the model endpoint timed out",
}


@router.post(
    "/v1/tabular/predict",
    summary="risk prediction for tabular records",
    description=(
        "Accept: application/fhir+json (or ?_format=fhir) answers a FHIR R4 Bundle: one RiskAssessment "
        "per record (subject from the record's optional `subject`), Device, model card, Provenance; "
        "?_include=inputs adds the inputs as contained Observations. Errors are then OperationOutcomes. "
        "See docs/fhir.md."
    ),
    tags=["tabular"],
    responses={
        200: {
            "description": "predictions (JSON), or a FHIR R4 Bundle of RiskAssessments when negotiated",
            "content": {"application/json": {"model": PredictEnvelope}, **FHIR_CONTENT},
        },
        202: {
            "description": "accepted as an asynchronous job (a model placed on sagemaker-async)",
            "content": {"application/json": {"model": AcceptedJob}},
        },
        **error_responses(_ERRORS),
    },
    **{**JSON_BODY, "middlewares": [negotiation_check(OFFERS), *JSON_BODY["middlewares"]]},
)
@tracer.capture_method(capture_response=False)  # responses carry patient-derived values
def tabular_predict(request: Annotated[TabularPredictRequest, Body()]):
    """``Accept: application/fhir+json`` (or ``?_format=fhir``): a FHIR Bundle, one RiskAssessment
    per record (see medserve.interop.fhir.tabular_bundle); ``?_include=inputs`` adds the inputs."""
    clock = Stopwatch()
    answer_as = negotiated(router, OFFERS)
    with_inputs = answer_as == FHIR_JSON and include_inputs(router.current_event.query_string_parameters)
    if with_inputs and len(request.records) > fhir.MAX_RECORDS_WITH_INPUTS:
        raise PayloadTooLarge(
            f"with _include=inputs at most {fhir.MAX_RECORDS_WITH_INPUTS} records per request "
            "(the Bundle would exceed the 6 MB response limit)"
        )
    records, subjects = split_subjects(request.records)
    services = get_services()
    card, _ = services.registry.resolve(request.model, modality="tabular")
    model_dimensions(card.name, card.version)

    # Validated here whatever runs the model: a bad record costs no endpoint call.
    validated = validate_records(card, records)
    clock.lap("validate")
    endpoint_body = b""
    if card.placement != "lambda":
        endpoint_body = json.dumps({"records": records, "explain": request.explain}).encode()
    where = offload.route(card, len(endpoint_body), services.offload)

    if where.placement == "lambda":
        model = tabular.load(card.name)
        model_ref = model.loaded.envelope()
        scored = tabular.score(
            model, validated.matrix, validated.warnings, explain=request.explain, clock=clock
        )
        predictions, explanations = scored.predictions, scored.explanations
        refuse_out_of_scope(card, validated.matrix, [p["ood"] for p in predictions])
    elif where.placement == "sagemaker-realtime":
        answer = _endpoint_answer(services.sagemaker.invoke(where.endpoint or "", endpoint_body))
        model_ref, predictions, explanations = answer["model"], answer["predictions"], answer["explanations"]
        clock.lap("inference")
        clock.lap("explain")
    else:  # sagemaker-async: accepted now, answered by GET /v1/jobs/{id}
        uploads_bucket = settings().uploads_bucket
        owner = caller(router.current_event).key
        job_id = offload_jobs.submit(services, where, "tabular", endpoint_body, uploads_bucket, owner)
        logger.info(
            "tabular job submitted", extra={"model": card.name, "version": card.version, "job_id": job_id}
        )
        accepted = {
            "request_id": request_id(router),
            "job_id": job_id,
            "status": "running",
            "job_url": f"/v1/jobs/{job_id}",
            "model": card.ref(),
            "placement": where.placement,
            "ran_on": where.describe(),
            "intended_use": card.intended_use,
        }
        if answer_as == FHIR_JSON:  # FHIR's asynchronous pattern: 202, Content-Location, an outcome
            outcome = fhir.information_outcome(f"accepted as job {job_id}: GET /v1/jobs/{job_id}")
            return fhir_response(202, outcome, {"Content-Location": f"/v1/jobs/{job_id}"})
        return json_response(202, accepted)
    timing = clock.timing_ms()
    record_prediction(
        "tabular prediction",
        count=len(predictions),
        total_ms=timing["total"],
        model=card.name,
        version=card.version,
        placement=where.placement,
        records=len(predictions),
        explain=request.explain,
    )
    rid = request_id(router)
    # Inference ids for ground truth: "<request_id>:<index>" (medserve.monitoring.capture).
    capture_tabular(
        services.capture(),
        services.registry,
        card,
        route="POST /v1/tabular/predict",
        status=200,
        latency_ms=timing["total"],
        request_id=rid,
        rows=validated.matrix.tolist(),
        predictions=predictions,
    )
    body = {
        "request_id": rid,
        "model": model_ref,
        "placement": where.placement,
        "ran_on": where.describe(),
        "predictions": predictions,
        "explanations": explanations,
        "timing_ms": timing,
        "intended_use": card.intended_use,
    }
    if answer_as == FHIR_JSON:
        inputs = validated.matrix.tolist() if with_inputs else None
        builder = fhir.BundleBuilder(request_id(router), card, model_ref)
        return fhir_response(200, fhir.tabular_bundle(builder, predictions, explanations, subjects, inputs))
    return json_response(200, body)


def _endpoint_answer(raw: bytes) -> dict:
    """The endpoint's JSON, checked for the fields we pass on (a malformed answer is upstream's fault)."""
    try:
        answer = json.loads(raw)
        if not isinstance(answer.get("predictions"), list) or not isinstance(answer.get("model"), dict):
            raise ValueError("missing fields")
    except (ValueError, AttributeError) as e:
        raise UpstreamError("the SageMaker endpoint answered with an unexpected body") from e
    answer.setdefault("explanations", [])
    return answer
