"""Validating what the layer builds against the R4B models of fhir.resources (a dev dependency)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

AIAST = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")
FHIR_TYPE = "application/fhir+json; fhirVersion=4.0"


def validate(resource: dict[str, Any]) -> Any:
    """The resource parsed by its R4B model (raises on any unknown, missing or mistyped element)."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def labelled(resource: dict[str, Any]) -> bool:
    return any(
        (s.get("system"), s.get("code")) == AIAST for s in (resource.get("meta") or {}).get("security", [])
    )


def check_bundle(bundle: dict[str, Any], result_types: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Assert the shape every prediction Bundle shares; its resources by type (with fullUrls)."""
    validate(bundle)
    assert bundle["type"] == "collection" and bundle["timestamp"] and bundle["identifier"]["value"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    urls = set()
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        urls.add(entry["fullUrl"])
        resource = entry["resource"]
        validate(resource)
        by_type.setdefault(resource["resourceType"], []).append({**resource, "_url": entry["fullUrl"]})
    assert len(urls) == len(bundle["entry"])
    assert {*result_types, "Device", "DocumentReference", "Provenance"} == set(by_type)
    results = [r for t in result_types for r in by_type[t]]
    assert all(labelled(r) for r in results)
    assert not any(labelled(r) for t in ("Device", "DocumentReference", "Provenance") for r in by_type[t])
    (device,) = by_type["Device"]
    (card,) = by_type["DocumentReference"]
    (provenance,) = by_type["Provenance"]
    assert {t["reference"] for t in provenance["target"]} == {r["_url"] for r in results}
    assert [a["who"]["reference"] for a in provenance["agent"]] == [device["_url"]]
    assert [e["what"]["reference"] for e in provenance["entity"]] == [card["_url"]]
    assert device["extension"][0]["valueReference"]["reference"] == card["_url"]
    return by_type
