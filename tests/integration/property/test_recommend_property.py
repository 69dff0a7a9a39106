"""Hostile input to the recommender (as test_parsers_property.py does for the other parsers):
any body through RecommendFunction's handler gets a 200 that keeps the safety rules, or the error
envelope with a 4xx; any JSON Lines file under uploads/recommend/ gets one result per line or one
file-level 4xx error. An error quotes nothing that was sent, but an unknown item shaped like an
item id (a lowercase code: what a typo of one is), which the route names on purpose."""

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from medserve.serving.registry import BundledModels

from tests import helpers
from tests.helpers import http_event, s3_event
from tests.integration.conftest import UPLOADS
from tests.integration.property.test_parsers_property import (
    HUGE_INTS,
    JSON_VALUES,
    NAMES,
    SETTINGS,
    assert_contract,
    http_bodies,
    media_types,
    rarely,
)

ID_SHAPED = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
CARD = BundledModels().get("treatment-recommender-demo")[0]  # type: ignore[index]
ITEMS = [item.id for item in CARD.recommend.items]
CONFLICTS = [set(c.items) for c in CARD.recommend.conflicts]
FEATURES = {f.name: f.baseline for f in CARD.inputs.features}
VALUES = st.integers(0, 12) | st.floats() | HUGE_INTS | st.text(max_size=4) | st.none() | st.booleans()


@pytest.fixture(scope="module")
def app() -> Any:
    return helpers.stack().module("RecommendFunction")


@pytest.fixture(scope="module")
def context() -> Any:
    return helpers.lambda_context("RecommendFunction")


@st.composite
def items(draw: st.DrawFn) -> Any:
    return draw(st.sampled_from(ITEMS)) if not rarely(draw) else draw(NAMES | JSON_VALUES)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    history = []
    for _ in range(draw(st.integers(0, 5))):
        entry: dict[str, Any] = {"item": draw(items())}
        if draw(st.booleans()):
            entry["value"] = draw(st.integers(1, 12)) if not rarely(draw) else draw(VALUES)
        if rarely(draw, 1):
            entry.update(draw(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=1)))
        history.append(entry if not rarely(draw, 1) else draw(JSON_VALUES))
    if not rarely(draw, 1):
        body["history"] = history if not rarely(draw, 1) else draw(JSON_VALUES)
    if rarely(draw, 3):
        body["exclude"] = draw(st.lists(items(), max_size=3)) if not rarely(draw, 1) else draw(JSON_VALUES)
    if rarely(draw, 3):
        body["k"] = draw(st.integers(-2, 25)) if not rarely(draw) else draw(JSON_VALUES)
    if rarely(draw, 3):
        body["explain"] = draw(st.booleans()) if not rarely(draw) else draw(JSON_VALUES)
    if rarely(draw, 2):
        patient: dict[str, Any] = dict(FEATURES)
        for name in draw(st.lists(st.sampled_from(sorted(FEATURES)), max_size=2, unique=True)):
            patient[name] = draw(VALUES)
        body["patient"] = patient if not rarely(draw, 1) else draw(JSON_VALUES)
    if rarely(draw, 1):
        body["model"] = draw(st.sampled_from(["treatment-recommender-demo", "breast-cancer-risk"]) | NAMES)
    if rarely(draw, 1):
        body.update(draw(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2)))
    return body


def without_id_shaped_items(sent: Any) -> Any:
    """``sent`` minus what an error may name: item strings (history[].item, exclude[]) and the
    served model's name."""
    if not isinstance(sent, dict):
        return sent
    sent = copy.deepcopy(sent)
    if sent.get("model") == CARD.name:  # the API's own words: the card route names the model
        del sent["model"]
    if isinstance(sent.get("history"), list):
        for entry in sent["history"]:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("item"), str)
                and ID_SHAPED.fullmatch(entry["item"])
            ):
                entry["item"] = None
    if isinstance(sent.get("exclude"), list):
        sent["exclude"] = [x for x in sent["exclude"] if not (isinstance(x, str) and ID_SHAPED.fullmatch(x))]
    return sent


def assert_safe(answer: dict[str, Any], sent: dict[str, Any]) -> None:
    history = {e["item"] for e in sent.get("history") or []}
    forbidden = history | set(sent.get("exclude") or []) | {i for c in CONFLICTS if c & history for i in c}
    recs = answer["recommendations"]
    assert not {r["item"] for r in recs} & forbidden
    assert {e["item"] for e in answer["excluded"]} == forbidden
    assert [r["rank"] for r in recs] == list(range(1, len(recs) + 1))
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    assert answer["personalised"] == (answer["basis"] != "popularity")
    assert len(answer["explanations"]) == (len(recs) if sent.get("explain") is True else 0)
    for rec, expl in zip(recs, answer["explanations"], strict=False):
        total = sum(c["contribution"] for c in expl["contributions"])
        assert abs(total - (rec["score"] - expl["baseline"])) <= 1e-9 * max(1.0, abs(rec["score"]))


@settings(max_examples=250, **SETTINGS)
@given(data=st.data(), media=media_types())
def test_recommend_bodies(app, context, data, media):
    raw, is_base64, value = data.draw(http_bodies(queries()))
    headers = {"content-type": media} if media else {}
    request = http_event("POST", "/v1/recommend/treatment", raw, headers=headers, binary=is_base64)
    if not media:
        del request["headers"]["content-type"]
    body = assert_contract(app.lambda_handler(request, context), without_id_shaped_items(value), raw)
    if "recommendations" in body:
        assert_safe(body, value)


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[bytes, int]:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.integers(0, 4))
        if kind <= 2:
            query = draw(queries())
            query.pop("model", None)
            if draw(st.booleans()):
                query["record_id"] = draw(JSON_VALUES)
            line = json.dumps(query, ensure_ascii=draw(st.booleans()))
        elif kind == 3:
            line = json.dumps(draw(JSON_VALUES))
        else:
            line = draw(st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s))
        if line.strip():
            lines.append(line)
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n"]))).encode(), len(lines)


@pytest.fixture
def batch(app, context, aws, services):
    counter = iter(range(1_000_000))

    def score(body: bytes) -> dict[str, Any]:
        key = f"uploads/recommend/f{next(counter)}.jsonl"
        aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body)
        [result] = app.lambda_handler(s3_event(UPLOADS, key), context)["outcomes"]
        written = aws["s3"].get_object(Bucket=UPLOADS, Key=result["result_key"])["Body"].read()
        return json.loads(written)

    return score


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_jsonl_files_give_one_result_per_line(batch, data):
    body, lines = data.draw(jsonl_files())
    document = batch(body)
    if "error" in document:
        assert lines == 0 and document["error"]["code"] == "INVALID_INPUT"
        return
    results = document["results"]
    assert len(results) == lines and [r["row"] for r in results] == list(range(1, lines + 1))
    for r in results:
        assert ("recommendation" in r) != ("error" in r), r
        if "error" in r:
            assert r["error"]["code"] in {"INVALID_INPUT", "MALFORMED_ROW", "PAYLOAD_TOO_LARGE"}
