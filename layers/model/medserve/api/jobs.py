"""``POST /v1/uploads`` and ``GET /v1/jobs/{id}``: inputs too large for the API, predicted from S3.

``POST /v1/uploads`` ``{"modality", "filename", "content_type", "model"?, "explain"?}`` creates a
``queued`` job and answers ``{"job_id", "upload_url", "headers", ...}``: a presigned S3 PUT for
``uploads/<modality>/<job_id>/<filename>`` valid for 15 minutes. The PUT must carry exactly the
returned headers: they are signed, and the uploads bucket refuses any object not encrypted with
the stack's KMS key (``x-amz-server-side-encryption*``). The S3 trigger then predicts the object
and ``GET /v1/jobs/{id}`` returns ``{"job_id", "status", "result"?, "error"?}``, with the result
document inlined once the job has ``succeeded`` (or its error once it has ``failed``).

``modality: "imaging-deid"`` uploads a DICOM file to de-identify (``application/dicom``, no
model): the job's result is the de-identification report, and ``download_url`` a presigned GET
(15 minutes) of the de-identified file under ``results/imaging-deid/``.
"""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from medserve.api.responses import json_response, request_id
from medserve.api.schemas import JSON_BODY, error_responses
from medserve.aws.errors import aws_errors, boto_errors
from medserve.aws.s3 import RESULTS_PREFIX, encryption_args, encryption_headers, upload_key
from medserve.config import settings
from medserve.errors import JobNotFound, NotConfigured, UpstreamError
from medserve.observability import logger
from medserve.security.auth import caller
from medserve.services import get_services
from medserve.triggers.jobs import JobStore, new_job_id
from medserve.triggers.s3 import MAX_OBJECT_BYTES

__all__ = ["UPLOAD_URL_SECONDS", "UploadRequest", "router"]

router = APIGatewayHttpRouter()

UPLOAD_URL_SECONDS = 900  # long enough for a slow link to send 50 MB, short enough to leak little
_QUEUED_GRACE_SECONDS = 300  # an upload finishing as its URL expires still gets picked up


class UploadRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # the published types, no coercion
        # Published for _deid_takes_dicom_only, which pydantic cannot express in the schema it generates.
        json_schema_extra={
            "if": {"properties": {"modality": {"const": "imaging-deid"}}, "required": ["modality"]},
            "then": {
                "properties": {"content_type": {"const": "application/dicom"}, "explain": {"const": False}},
                "not": {"required": ["model"]},
            },
        },
    )

    modality: Literal["imaging", "imaging-deid"] = Field(
        description="what the upload is for: imaging (predicted) or imaging-deid (a DICOM file de-identified)"
    )
    filename: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$",
        description="the object's name under uploads/<modality>/<job_id>/ (one path segment)",
    )
    content_type: Literal["image/png", "image/jpeg", "application/dicom"]
    model: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    explain: bool = Field(default=False, description="add an occlusion map to the result")
    format: Literal["json", "fhir"] = Field(
        default="json",
        description="fhir: FHIR NDJSON beside the JSON result (results/<modality>/<key>.ndjson)",
    )

    @model_validator(mode="after")
    def _deid_takes_dicom_only(self) -> "UploadRequest":
        if self.modality == "imaging-deid" and (
            self.content_type != "application/dicom" or "model" in self.model_fields_set or self.explain
        ):
            raise ValueError("imaging-deid uploads are application/dicom files, without model or explain")
        return self

    def __repr__(self) -> str:
        # Never the file name: callers name files after patients ("smith_john.dcm").
        return (
            f"UploadRequest(modality={self.modality!r}, model={self.model!r}, explain={self.explain}, "
            f"format={self.format!r})"
        )

    __str__ = __repr__


class UploadTicket(BaseModel):
    request_id: str
    job_id: str
    status: Literal["queued"]
    upload_url: str
    method: Literal["PUT"]
    headers: dict[str, str] = Field(description="send exactly these headers with the PUT (they are signed)")
    expires_in: int = Field(description="seconds the upload_url stays valid")
    max_bytes: int
    job_url: str


class JobView(BaseModel):
    request_id: str
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed", "timed_out"]
    modality: str
    created_at: str
    updated_at: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    download_url: str | None = Field(
        default=None, description="imaging-deid: a presigned GET of the de-identified file (15 minutes)"
    )


_ERRORS = {
    400: "malformed JSON",
    404: "unknown model or job",
    415: "not application/json",
    422: "invalid fields",
    502: "S3 or DynamoDB failed",
    503: "uploads are not configured in this deployment",
}


def _store() -> JobStore:
    store = get_services().jobs
    if store is None:
        raise NotConfigured("asynchronous jobs are not configured in this deployment (JOBS_TABLE)")
    return store


@router.post(
    "/v1/uploads",
    summary="a presigned S3 PUT for an input too large for the API (the S3 trigger processes it)",
    tags=["jobs"],
    responses={
        201: {"description": "the upload ticket", "content": {"application/json": {"model": UploadTicket}}},
        **error_responses(_ERRORS),
    },
    **JSON_BODY,
)
def create_upload(request: Annotated[UploadRequest, Body()]):
    services = get_services()
    bucket = settings().uploads_bucket
    if not bucket:
        raise NotConfigured("uploads are not configured in this deployment (UPLOADS_BUCKET)")
    store = _store()
    if request.model is not None:  # refuse an unusable model now, not when the job runs
        services.registry.resolve(request.model, modality=request.modality)

    job_id = new_job_id()
    key = upload_key(request.modality, job_id, request.filename)
    headers = {"content-type": request.content_type}
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ContentType": request.content_type}
    # The bucket policy refuses PutObject unless it asks for SSE-KMS with exactly the data key.
    params |= encryption_args()
    headers |= encryption_headers()
    metadata = {"explain": "true"} if request.explain else {}
    if request.format == "fhir":
        metadata["format"] = "fhir"
    if request.model is not None:
        metadata["model"] = request.model
    if metadata:
        params["Metadata"] = metadata
        headers |= {f"x-amz-meta-{k}": v for k, v in metadata.items()}

    store.create(
        job_id,
        modality=request.modality,
        deadline_in=UPLOAD_URL_SECONDS + _QUEUED_GRACE_SECONDS,
        owner=caller(router.current_event).key,
    )
    # Presigning is local: only missing credentials can fail here.
    with aws_errors("the upload URL could not be signed"):
        url = services.s3.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=UPLOAD_URL_SECONDS, HttpMethod="PUT"
        )
    logger.info("upload ticket issued", extra={"job_id": job_id, "modality": request.modality})
    ticket = {
        "request_id": request_id(router),
        "job_id": job_id,
        "status": "queued",
        "upload_url": url,
        "method": "PUT",
        "headers": headers,
        "expires_in": UPLOAD_URL_SECONDS,
        "max_bytes": MAX_OBJECT_BYTES,
        "job_url": f"/v1/jobs/{job_id}",
    }
    return json_response(201, ticket)


@router.get(
    "/v1/jobs/<id>",
    summary="status and result of an asynchronous job",
    tags=["jobs"],
    responses={
        200: {"description": "the job", "content": {"application/json": {"model": JobView}}},
        **error_responses({**_ERRORS, 422: "invalid job id"}, 404, 422, 502, 503),
    },
)
def get_job(id: Annotated[str, Path(max_length=64, description="the id POST /v1/uploads returned")]):
    # `id`, not `job_id`: powertools names the OpenAPI path parameter after it ({id}, as the contract).
    job = _store().get(id)
    if job is None or not job.visible_to(caller(router.current_event).key):
        raise JobNotFound("no job with this id (jobs are kept for 7 days)")
    body: dict[str, Any] = {"request_id": request_id(router), **job.public()}
    if job.result_location and job.status in ("succeeded", "failed"):
        document = _read_document(job.result_location)
        if job.status == "succeeded":
            body["result"] = document
            made = document.get("result_file")
            if isinstance(made, dict) and str(made.get("key", "")).startswith(f"{RESULTS_PREFIX}/"):
                body["download_url"] = _download_url(str(made.get("bucket", "")), str(made["key"]))
        elif isinstance(document.get("error"), dict):
            body["error"] = document["error"]  # with its details, as the API would have answered
    return json_response(200, body)


def _download_url(bucket: str, key: str) -> str:
    """A presigned GET of a file a job made (the de-identified DICOM), in the uploads bucket only."""
    if bucket != settings().uploads_bucket:
        raise UpstreamError("the job's result names another bucket")
    with aws_errors("the download URL could not be signed"):
        return get_services().s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=UPLOAD_URL_SECONDS,
            HttpMethod="GET",
        )


def _read_document(location: str) -> dict[str, Any]:
    """The JSON document at ``s3://bucket/key`` (a job's result or error)."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    try:
        raw = get_services().s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        document = json.loads(raw)
    except (*boto_errors(), ValueError) as e:
        raise UpstreamError("the job's result could not be read") from e
    if not isinstance(document, dict):
        raise UpstreamError("the job's result is not a JSON object")
    return document
