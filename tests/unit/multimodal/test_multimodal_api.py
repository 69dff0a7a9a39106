"""MultimodalFunction's route through its handler: the card's example, missing modalities, Shapley
values that add up, each part validated by its modality's rules, limits, and member pinning."""

import base64
import json
import math

import pytest
from medserve.multimodal.fusion import FusionModel, combine_ood, shapley_values
from medserve.services import Services, get_services, set_services
from medserve.serving.registry import BundledModels, Registry, derive_model

from tests.helpers import REPO, call, http_event, lambda_context, stack

PATH = "/v1/multimodal/predict"
FUSION = "multimodal-fusion-demo"
DIRS = {
    "breast-cancer-risk": REPO / "layers/model/medserve/bundled/breast-cancer-risk",
    "cxr-nodule-phantom": REPO / "layers/model/medserve/bundled/cxr-nodule-phantom",
    "note-specialty": REPO / "models/note-specialty",
    FUSION: REPO / "models" / FUSION,
}
EXAMPLE = json.loads((DIRS[FUSION] / "card.json").read_text())["multimodal"]["example"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    # The bundled members, the registry's text model and the fusion head, served as one bundle
    # (tests/integration and tests/local serve the registry models from S3).
    root = tmp_path_factory.mktemp("mm-models")
    for name, directory in DIRS.items():
        (root / name).symlink_to(directory)
    return root


@pytest.fixture(autouse=True)
def _registry(models):
    set_services(Services(registry=Registry(bundled=BundledModels(models))))


@pytest.fixture(scope="module")
def app():
    return stack().module("MultimodalFunction")


@pytest.fixture(scope="module")
def context():
    return lambda_context("MultimodalFunction")


def post(app, context, body, **kwargs):
    return call(app, http_event("POST", PATH, body, **kwargs), context)


def without(*keys):
    return {k: v for k, v in EXAMPLE.items() if k not in keys}


# -- the fusion head, alone --------------------------------------------------------------------------


def test_shapley_values_are_exact_on_a_known_game():
    # v(S) = sum of the members' own worth + 1 when a and b are together (split evenly)
    worth = {"a": 1.0, "b": 2.0, "c": -0.5}

    def v(s):
        return sum(worth[p] for p in s) + (1.0 if {"a", "b"} <= s else 0.0)

    players = ["a", "b", "c"]
    subsets = [frozenset(x for i, x in enumerate(players) if mask >> i & 1) for mask in range(8)]
    phi = shapley_values(players, {s: v(s) for s in subsets})
    assert phi == pytest.approx({"a": 1.5, "b": 2.5, "c": -0.5})
    assert sum(phi.values()) == pytest.approx(v(frozenset(players)) - v(frozenset()))


def test_a_missing_modality_is_the_heads_learned_term_not_a_zero():
    model = FusionModel.load(get_services().registry, FUSION)
    rows = model.rows([{"tabular": 1.5, "text": -0.5}])
    assert rows.tolist() == [[1.5, 0.0, -0.5, 0.0, 1.0, 0.0]]  # imaging flagged missing
    _, missing = model.run([{"tabular": 1.5, "text": -0.5}])
    _, zero = model.run([{"tabular": 1.5, "imaging": 0.0, "text": -0.5}])
    head = json.loads((DIRS[FUSION] / "card.json").read_text())["head"]
    # the difference is exactly the learned missing term of imaging (z_img = 0 contributes nothing)
    assert missing[0] - zero[0] == pytest.approx(head["weights"]["missing_imaging"], abs=1e-4)
    assert head["weights"]["missing_imaging"] != 0.0


def test_combined_ood_is_out_when_any_member_is_out():
    inside = {"score": 1.0, "threshold": 2.0, "in_distribution": True, "method": "mahalanobis"}
    outside = {**inside, "in_distribution": False}
    unknown = {"score": None, "threshold": None, "in_distribution": None, "method": "none"}
    assert combine_ood({"tabular": inside, "text": inside})["in_distribution"] is True
    assert combine_ood({"tabular": inside, "imaging": outside})["in_distribution"] is False
    assert combine_ood({"tabular": inside, "imaging": unknown})["in_distribution"] is None
    block = combine_ood({"tabular": inside})
    assert block["method"] == "members" and block["members"] == {"tabular": inside}


def test_a_changed_member_is_refused_at_load(tmp_path, models):
    # the same tabular artifact republished as 1.0.1: the head was trained on 1.0.0's outputs
    root = tmp_path / "models"
    root.mkdir()
    for name in DIRS:
        if name != "breast-cancer-risk":
            (root / name).symlink_to(models / name)
    derive_model(DIRS["breast-cancer-risk"], root / "breast-cancer-risk", version="1.0.1")
    set_services(Services(registry=Registry(bundled=BundledModels(root))))
    status, body = post(stack().module("MultimodalFunction"), lambda_context("MultimodalFunction"), EXAMPLE)
    assert status == 502 and body["error"]["code"] == "MODEL_INTEGRITY_ERROR"
    assert "breast-cancer-risk" in body["error"]["message"] and "1.0.1" in body["error"]["message"]


# -- the route -------------------------------------------------------------------------------------


def test_the_cards_example_answers_with_three_contributions_that_add_up(app, context):
    status, body = post(app, context, EXAMPLE)
    assert status == 200, body
    assert body["request_id"] and body["model"]["name"] == FUSION and len(body["model"]["sha256"]) == 64
    assert body["intended_use"].startswith("Demonstration only, not for clinical use")
    assert body["modalities"] == {"used": ["tabular", "imaging", "text"], "missing": []}
    (prediction,) = body["predictions"]
    assert prediction["label"] in {"condition_absent", "condition_present"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction["ood"]["method"] == "members"
    assert set(prediction["ood"]["members"]) == {"tabular", "imaging", "text"}
    (explanation,) = body["explanations"]
    assert explanation["method"] == "shapley-exact" and explanation["space"] == "log-odds"
    assert explanation["coalitions"] == 8
    contributions = {c["modality"]: c["contribution"] for c in explanation["contributions"]}
    assert set(contributions) == {"tabular", "imaging", "text"}
    total = sum(contributions.values())
    assert total == pytest.approx(
        explanation["output"]["log_odds"] - explanation["baseline"]["log_odds"], abs=1e-4
    )
    assert explanation["output"]["log_odds"] == pytest.approx(prediction["log_odds"], abs=1e-5)
    p = 1 / (1 + math.exp(-prediction["log_odds"]))
    assert p == pytest.approx(prediction["probability"], abs=1e-5)
    # each member's own explanation, by its own method
    methods = {m["modality"]: m["explanation"]["method"] for m in body["members"]}
    text_method = json.loads((DIRS["note-specialty"] / "card.json").read_text())["explanation"]["method"]
    assert methods == {"tabular": "shapley-permutation", "imaging": "occlusion", "text": text_method}
    pinned = {
        m["name"]: m for m in json.loads((DIRS[FUSION] / "card.json").read_text())["multimodal"]["members"]
    }
    for member in body["members"]:
        assert member["model"]["sha256"] == pinned[member["model"]["name"]]["sha256"]


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (("text",), ["text"]),
        (("image_base64",), ["imaging"]),
        (("tabular",), ["tabular"]),
        (("tabular", "text"), ["tabular", "text"]),
    ],
)
def test_a_dropped_modality_still_answers_and_is_listed_missing(app, context, drop, missing):
    status, body = post(app, context, without(*drop))
    assert status == 200, body
    assert body["modalities"]["missing"] == missing
    assert len(body["modalities"]["used"]) == 3 - len(missing)
    explanation = body["explanations"][0]
    assert {c["modality"] for c in explanation["contributions"]} == set(body["modalities"]["used"])
    assert explanation["coalitions"] == 2 ** len(body["modalities"]["used"])
    total = sum(c["contribution"] for c in explanation["contributions"])
    assert total == pytest.approx(
        explanation["output"]["log_odds"] - explanation["baseline"]["log_odds"], abs=1e-4
    )


def test_without_explain_there_is_no_explanation(app, context):
    status, body = post(app, context, {**EXAMPLE, "explain": False})
    assert status == 200 and body["explanations"] == []
    assert all("explanation" not in m for m in body["members"])


def test_nothing_at_all_is_a_422(app, context):
    status, body = post(app, context, {})
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT"
    status, body = post(app, context, {"explain": True})
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT"


def test_each_part_is_validated_by_its_modalitys_rules(app, context, emitted):
    record = dict(EXAMPLE["tabular"])
    record["mean_radius"] = "large"
    status, body = post(app, context, {**EXAMPLE, "tabular": record})
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT"
    assert {"field": "tabular.mean_radius", "issue": "not a number"} in body["error"]["details"]

    truncated = base64.b64encode(base64.b64decode(EXAMPLE["image_base64"])[:200]).decode()
    status, body = post(app, context, {**EXAMPLE, "image_base64": truncated})
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT"
    assert all(d["field"].startswith("image") for d in body["error"]["details"])

    status, body = post(app, context, {**EXAMPLE, "text": "   "})
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT"
    assert body["error"]["details"][0]["field"] == "text"

    status, body = post(app, context, {**EXAMPLE, "image_s3_uri": "s3://elsewhere/uploads/imaging/x.png"})
    assert status == 422 and body["error"]["details"][0]["field"].startswith("image")

    status, body = post(app, context, {**EXAMPLE, "surprise": 1})
    assert status == 422

    # no note text and no feature value in logs or error bodies
    logs = emitted()
    assert "Referral" not in logs and "woman seen" not in logs and "Follow-up visit" not in logs
    assert str(EXAMPLE["tabular"]["mean_area"]) not in logs


def test_limits_413_and_504(app, context, monkeypatch):
    from medserve.api import multimodal as route

    status, body = post(app, context, {**EXAMPLE, "text": "x" * (route.MAX_REQUEST_BYTES + 1)})
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    status, body = post(app, context, {**EXAMPLE, "text": "word " * 5000})  # over the text member's limit
    assert status == 413 and body["error"]["details"][0]["field"] == "text"

    # A time budget already spent: the answer says which step it did not start.
    monkeypatch.setattr(route, "_LAMBDA_MARGIN_S", 10_000.0)
    status, body = post(app, context, EXAMPLE)
    assert status == 504 and body["error"]["code"] == "UPSTREAM_TIMEOUT"
    assert "time budget" in body["error"]["message"]


def test_unknown_model_and_wrong_media_type(app, context):
    status, body = post(app, context, {**EXAMPLE, "model": "no-such-model"})
    assert status == 404
    status, body = post(app, context, {**EXAMPLE, "model": "breast-cancer-risk"})
    assert status == 404  # a tabular model is not a fusion head
    status, _ = post(app, context, "text", headers={"content-type": "text/plain"})
    assert status == 415
    status, body = post(app, context, "{not json")
    assert status == 400 and body["error"]["code"] == "MALFORMED_REQUEST"


def test_the_scope_is_medserve_multimodal(app, context, monkeypatch):
    monkeypatch.setenv("MEDSERVE_REQUIRE_AUTH", "true")
    status, body = post(app, context, EXAMPLE, scopes=("medserve/tabular",))
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    status, _ = post(app, context, without("image_base64"), scopes=("medserve/multimodal",))
    assert status == 200


def test_the_s3_batch_scores_each_line(models):
    from medserve.multimodal.batch import score_multimodal_file
    from medserve.triggers.s3 import S3Upload

    lines = [
        json.dumps({"record_id": "a", **without("image_base64")}),
        json.dumps(
            {"record_id": "b", "tabular": EXAMPLE["tabular"], "image_base64": EXAMPLE["image_base64"]}
        ),
        json.dumps({"record_id": "c"}),
        "{not json",
    ]
    upload = S3Upload(
        bucket="b",
        key="uploads/multimodal/x.jsonl",
        version_id=None,
        body="\n".join(lines).encode(),
        metadata={},
    )
    result = score_multimodal_file(upload)
    assert result["summary"] == {"rows": 4, "succeeded": 2, "failed": 2}
    a, b, c, d = result["results"]
    assert a["record_id"] == "a" and a["modalities"]["missing"] == ["imaging"]
    assert b["modalities"]["missing"] == ["text"] and "probability" in b["prediction"]
    assert c["error"]["code"] == "INVALID_INPUT" and d["error"]["code"] == "MALFORMED_ROW"


@pytest.mark.parametrize("parallel", [False, True])
def test_members_in_threads_give_the_same_answer_and_error(app, context, monkeypatch, parallel):
    from medserve.multimodal import predict as fusion

    monkeypatch.setattr(fusion, "PARALLEL", parallel)
    status, body = post(app, context, {**EXAMPLE, "explain": False})
    assert status == 200 and body["modalities"]["missing"] == []
    # two invalid parts: the first in card order (tabular) is the answer, whatever finishes first
    status, body = post(app, context, {**EXAMPLE, "tabular": {}, "text": " "})
    assert status == 422 and all(d["field"].startswith("tabular.") for d in body["error"]["details"])
