"""Content negotiation for the prediction routes: JSON (today's answer), FHIR R4 or DICOM SR.

The caller says what it wants with ``Accept`` (RFC 9110 section 12.5.1: media ranges with
q-values; the most specific range that matches an offer gives its q; q=0 refuses) or with
``?_format=`` (FHIR's override, which wins over ``Accept``: ``fhir``, ``fhir+json`` or
``application/fhir+json``). Without either, or with ``*/*``, the answer is medserve JSON, exactly
as before. Ties (same q, same specificity) go to the range the caller listed first, then to the
route's order of offers (JSON first). ``Accept: application/fhir+json; fhirVersion=4.0`` is honoured;
another ``fhirVersion`` does not match (we write R4 only). Nothing acceptable -> 406
(:class:`medserve.errors.NotAcceptable`); a malformed media range is ignored, as if not sent.

``_format=json`` is ambiguous (FHIR reads it as FHIR JSON, medserve as its own JSON): it leaves
the choice to ``Accept``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medserve.errors import NotAcceptable

__all__ = [
    "DICOM",
    "FHIR_CONTENT_TYPE",
    "FHIR_JSON",
    "JSON",
    "MediaRange",
    "choose",
    "include_inputs",
    "parse_accept",
    "requested",
    "wants_fhir",
]

JSON = "application/json"
FHIR_JSON = "application/fhir+json"
DICOM = "application/dicom"
FHIR_CONTENT_TYPE = "application/fhir+json; fhirVersion=4.0"
FHIR_VERSION = "4.0"
# The DSTU2-era name some FHIR clients still send: read as application/fhir+json.
_ALIASES = {"application/json+fhir": FHIR_JSON}

_FORMAT_FHIR = frozenset({"fhir", "fhir+json", "application/fhir+json", "application/json+fhir"})
# A query string's "+" may arrive decoded as a space.
_FORMAT_FHIR |= {v.replace("+", " ") for v in _FORMAT_FHIR}
_FORMAT_DEFER = frozenset({"json", ""})  # see the module docstring
_INCLUDE_INPUTS = frozenset({"inputs", "riskassessment:basis"})

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_RANGE = re.compile(rf"^\s*({_TCHARS})/({_TCHARS})\s*$")
_PARAM = re.compile(rf'^\s*({_TCHARS})\s*=\s*({_TCHARS}|"(?:[^"\\]|\\.)*")\s*$')
_QVALUE = re.compile(r"^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$")


@dataclass(frozen=True)
class MediaRange:
    type: str  # lower case; "*" for a wildcard
    subtype: str
    params: tuple[tuple[str, str], ...]  # lower-cased names, unquoted values (q excluded)
    q: float
    position: int  # where the caller listed it

    def specificity(self, offer: str) -> int | None:
        """How specifically this range names ``offer`` (None: it does not match it)."""
        otype, _, osub = offer.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != otype:
            return None
        if self.subtype == "*":
            return 1
        if self.subtype != osub:
            return None
        params = dict(self.params)
        if offer == FHIR_JSON and "fhirversion" in params:
            return 3 if params["fhirversion"].startswith(FHIR_VERSION) else None
        return 2


def _split(header: str, sep: str) -> list[str]:
    """``header`` split at ``sep`` outside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in header:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_accept(header: str) -> list[MediaRange]:
    """The well-formed media ranges of an ``Accept`` value, in the caller's order."""
    ranges: list[MediaRange] = []
    for position, item in enumerate(_split(header, ",")):
        if not item.strip():
            continue
        head, *raw_params = _split(item, ";")
        match = _RANGE.match(head)
        if match is None:
            continue
        mtype, subtype = match.group(1).lower(), match.group(2).lower()
        if mtype == "*" and subtype != "*":
            continue  # "*/json" is no media range
        full = _ALIASES.get(f"{mtype}/{subtype}", f"{mtype}/{subtype}")
        mtype, _, subtype = full.partition("/")
        q, params, valid = 1.0, [], True
        for raw in raw_params:
            pm = _PARAM.match(raw)
            if pm is None:
                valid = False
                break
            name, value = pm.group(1).lower(), pm.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if name == "q":
                if not _QVALUE.match(value):
                    valid = False
                    break
                q = float(value)
            else:
                params.append((name, value))
        if valid:
            ranges.append(MediaRange(mtype, subtype, tuple(params), q, position))
    return ranges


def choose(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer the caller prefers (``offers`` in the route's order of preference), or None
    when ``accept`` allows none of them. No ``Accept`` (or none well formed): the first offer."""
    ranges = parse_accept(accept) if accept else []
    if not ranges:
        return offers[0] if offers else None
    best: tuple[float, int, int, int] | None = None
    chosen: str | None = None
    for rank, offer in enumerate(offers):
        matches = [(r.specificity(offer), r) for r in ranges]
        matches = [(s, r) for s, r in matches if s is not None]
        if not matches:
            continue
        # The most specific matching range decides the offer's quality (RFC 9110 12.5.1).
        spec, rng = max(matches, key=lambda m: (m[0], -m[1].position))
        if rng.q <= 0:
            continue
        key = (rng.q, spec, -rng.position, -rank)
        if best is None or key > best:
            best, chosen = key, offer
    return chosen


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _query(query: Mapping[str, str] | None, name: str) -> str | None:
    return (query or {}).get(name)


def requested(
    headers: Mapping[str, str] | None, query: Mapping[str, str] | None, offers: Sequence[str]
) -> str:
    """The media type to answer with, from ``offers`` (route preference order, JSON first).

    Raises :class:`NotAcceptable` (406) when the caller accepts none of them.
    """
    fmt = _query(query, "_format")
    if fmt is not None and fmt.strip().lower() not in _FORMAT_DEFER:
        if fmt.strip().lower() in _FORMAT_FHIR and FHIR_JSON in offers:
            return FHIR_JSON
        raise NotAcceptable(
            "_format must be fhir (or application/fhir+json); this route answers " + ", ".join(offers),
            [{"field": "_format", "issue": "unsupported format"}],
        )
    accept = _header(headers, "accept")
    chosen = choose(accept, offers)
    if chosen is None:
        raise NotAcceptable(
            "the Accept header allows none of the media types this route answers: " + ", ".join(offers),
            [{"field": "Accept", "issue": "no acceptable media type"}],
        )
    return chosen


def wants_fhir(headers: Mapping[str, str] | None, query: Mapping[str, str] | None) -> bool:
    """Whether an answer to this request (an error included) should be FHIR. Never raises."""
    try:
        return requested(headers, query, (JSON, FHIR_JSON)) == FHIR_JSON
    except NotAcceptable:
        return False


def include_inputs(query: Mapping[str, str] | None) -> bool:
    """``?_include=inputs`` (or ``RiskAssessment:basis``): add the inputs as Observations."""
    value = _query(query, "_include") or ""
    return any(v.strip().lower() in _INCLUDE_INPUTS for v in value.split(","))
