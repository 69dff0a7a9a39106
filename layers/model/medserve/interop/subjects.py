"""Whom a result is about, as a caller names it (``subject``): the wire model and its check.

Shared by the API (per record, per image, per note) and the S3 batch (a JSONL row's ``subject``
object, or a CSV ``subject`` column holding a reference).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medserve.errors import InvalidInput
from medserve.interop.fhir import Subject

__all__ = [
    "SUBJECT",
    "SUBJECT_SCHEMA",
    "IdentifierIn",
    "SubjectIn",
    "parse_subject",
    "publish_subject",
    "refuse_null",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# A FHIR reference to the Patient or Group a result is about: relative ("Patient/123"), absolute
# ("https://ehr.example/fhir/Patient/123") or a urn:uuid of a Bundle the caller is building.
_SUBJECT_REFERENCE = (
    r"^((https?://[^\s/]+(/[^\s/]+)*/)?(Patient|Group)/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?"
    r"|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


class IdentifierIn(_Wire):
    system: str = Field(min_length=1, max_length=1024, description="the identifier's namespace (a URI)")
    value: str = Field(min_length=1, max_length=256)


class SubjectIn(_Wire):
    """Whom a record is about, for FHIR answers (``RiskAssessment.subject``): a reference or an
    identifier, exactly one. Plain JSON answers ignore it (it is never echoed, logged or stored)."""

    reference: str | None = Field(default=None, max_length=1024, pattern=_SUBJECT_REFERENCE)
    identifier: IdentifierIn | None = None
    display: str | None = Field(default=None, max_length=256)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        # The published schema has no nulls: an explicit null is refused, not read as absent.
        if isinstance(value, dict) and any(v is None for v in value.values()):
            raise ValueError("null is not a value here: leave the key out")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> SubjectIn:
        if (self.reference is None) == (self.identifier is None):
            raise ValueError("give exactly one of reference and identifier")
        return self

    def subject(self) -> Subject:
        identifier = self.identifier.model_dump() if self.identifier is not None else None
        return Subject(reference=self.reference, identifier=identifier, display=self.display)

    def __repr__(self) -> str:
        return "SubjectIn(<redacted>)"  # an identifier is patient data

    __str__ = __repr__


SUBJECT = "subject"
# Published by hand: pydantic's schema of SubjectIn would $ref definitions the document lacks.
SUBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "whom the result is about, for FHIR answers: {reference} (Patient/<id>, Group/<id>, "
    "an absolute URL to one, or urn:uuid:) or {identifier: {system, value}}, exactly one; ignored by "
    "plain JSON answers",
    "additionalProperties": False,
    "properties": {
        "reference": {"type": "string", "maxLength": 1024, "pattern": _SUBJECT_REFERENCE},
        "identifier": {
            "type": "object",
            "additionalProperties": False,
            "required": ["system", "value"],
            "properties": {
                "system": {"type": "string", "minLength": 1, "maxLength": 1024},
                "value": {"type": "string", "minLength": 1, "maxLength": 256},
            },
        },
        "display": {"type": "string", "maxLength": 256},
    },
    "oneOf": [{"required": ["reference"]}, {"required": ["identifier"]}],
}


def publish_subject(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a request's optional ``subject`` field: the schema above, no null."""
    schema.clear()
    schema.update(SUBJECT_SCHEMA)


def refuse_null(value: Any) -> Any:
    """A ``mode="before"`` field validator: an explicit ``"subject": null`` is refused (the
    published schema has no null); leaving the key out is how to say "no subject"."""
    if value is None:
        raise ValueError("null is not a value here: leave the key out")
    return value


def parse_subject(value: Any, field: str) -> Subject | None:
    """A request's optional ``subject`` (None when absent); 422 naming ``field`` when invalid."""
    if value is None:
        return None
    try:
        return SubjectIn.model_validate(value).subject()
    except ValidationError as e:
        issues = []
        for err in e.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err.get("loc", ()))
            issues.append(
                {"field": field + (f".{where}" if where else ""), "issue": err.get("msg", "invalid")}
            )
        raise InvalidInput("subject is not a FHIR reference or identifier", issues) from e
