"""The recommender's core on the bundled model: fold-in against its definition, ONNX top-k against
numpy, the safety exclusions, explanations that add up, cold start and the card checks."""

import json
import shutil

import numpy as np
import pytest
from medserve.errors import InvalidInput, ModelIntegrityError, PayloadTooLarge
from medserve.recommend.model import Factors, RecommendModel, contributions, fold_in
from medserve.recommend.predict import plan, recommend, recommend_many
from medserve.recommend.types import parse_query
from medserve.serving.registry import BUNDLED_DIR, BundledModels, Registry
from medserve.serving.runtime import sha256_file

from training import recommend_als

NAME = "treatment-recommender-demo"


@pytest.fixture(scope="module")
def model() -> RecommendModel:
    return RecommendModel.load(Registry(), NAME)


def query(**raw):
    return parse_query(raw)


def random_histories(model, n, seed=7):
    """Histories as the cohort makes them: 1-5 items, no two in conflict."""
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(c.items)) for c in model.spec.conflicts}
    out = []
    for _ in range(n):
        chosen: list[str] = []
        for i in rng.permutation(model.n_items)[: rng.integers(1, 6)]:
            item = model.item_ids[i]
            if not any(tuple(sorted((item, c))) in pairs for c in chosen):
                chosen.append(item)
        out.append([{"item": item, "value": float(rng.integers(1, 13))} for item in chosen])
    return out


# --- fold-in -------------------------------------------------------------------------------------
def test_implicit_fold_in_solves_the_weighted_least_squares_it_claims(model):
    f = model.factors
    items = np.array([model.index["metformin"], model.index["lisinopril"]])
    values = np.array([6.0, 1.0])
    fold = fold_in(f, items, values)
    # The definition, spelt out densely: minimise sum_i c_i (p_i - u.v_i)^2 + lambda |u|^2 over ALL items.
    c = np.ones(model.n_items)
    p = np.zeros(model.n_items)
    c[items] = 1.0 + f.alpha * values
    p[items] = 1.0
    v = f.item_factors
    u = np.linalg.solve(v.T @ (c[:, None] * v) + f.lam * np.eye(f.dim), v.T @ (c * p))
    np.testing.assert_allclose(fold.user, u, rtol=1e-9, atol=1e-12)


def test_explicit_fold_in_is_ridge_regression_on_the_history():
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=(12, 4)), np.ones(12)])  # explicit: a constant column
    f = Factors(x, rng.normal(3, 0.5, 12), np.zeros(12), "explicit", lam=2.0, alpha=0.0)
    items, ratings = np.array([1, 4, 7]), np.array([5.0, 2.0, 4.0])
    fold = fold_in(f, items, ratings)
    # (V_H^T V_H + lambda I)^-1 V_H^T r, as an augmented least-squares problem.
    design = np.vstack([x[items], np.sqrt(2.0) * np.eye(5)])
    target = np.concatenate([ratings - f.item_bias[items], np.zeros(5)])
    expected = np.linalg.lstsq(design, target, rcond=None)[0]
    np.testing.assert_allclose(fold.user, expected, rtol=1e-9, atol=1e-12)


def test_serving_fold_in_is_the_training_user_step(model):
    f = model.factors
    row = np.full((1, model.n_items), np.nan)
    row[0, [model.index["apixaban"], model.index["bisoprolol"], model.index["atorvastatin"]]] = [
        3.0,
        2.0,
        12.0,
    ]
    trained = recommend_als._user_step(f.item_factors, row, f.item_bias, f.feedback, f.lam, f.alpha)[0]
    items = np.flatnonzero(~np.isnan(row[0]))
    np.testing.assert_allclose(fold_in(f, items, row[0, items]).user, trained, rtol=1e-9, atol=1e-12)


# --- ONNX -----------------------------------------------------------------------------------------
def test_onnx_top_k_equals_numpy(model):
    rng = np.random.default_rng(11)
    users = rng.normal(size=(64, model.factors.dim + 2))
    masks = rng.random((64, model.n_items)) < 0.3
    k = 7
    scores, items = model.top_k(users, masks, k)
    expected = np.where(masks, -np.inf, users @ model.factors.matrix())
    order = np.argsort(-expected, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(items, order)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, order, axis=1), rtol=1e-9)
    assert not masks[np.arange(64)[:, None], items].any()


def test_a_factors_file_that_disagrees_with_the_graph_is_refused(tmp_path):
    target = tmp_path / NAME
    shutil.copytree(BUNDLED_DIR / NAME, target)
    with np.load(target / "factors.npz") as npz:
        arrays = dict(npz)
    arrays["item_factors"] = arrays["item_factors"] * 1.01
    np.savez(target / "factors.npz", **arrays)
    card = json.loads((target / "card.json").read_text())
    card["extra_artifacts"][0]["sha256"] = sha256_file(target / "factors.npz")  # a consistent card
    (target / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="disagree"):
        RecommendModel.load(Registry(bundled=BundledModels(tmp_path)), NAME)


def test_a_tampered_factors_file_fails_its_sha256(tmp_path):
    target = tmp_path / NAME
    shutil.copytree(BUNDLED_DIR / NAME, target)
    with (target / "factors.npz").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="integrity"):
        RecommendModel.load(Registry(bundled=BundledModels(tmp_path)), NAME)


# --- safety ---------------------------------------------------------------------------------------
def test_history_exclusions_and_conflicts_are_never_recommended(model):
    q = query(
        history=[{"item": "lisinopril"}, {"item": "warfarin", "value": 4}],
        exclude=["metformin"],
        k=model.spec.max_k,
    )
    result = recommend(model, q)
    rules = {e.item: (e.rule, e.conflicts_with) for e in result.excluded}
    assert rules["lisinopril"] == ("history", None) and rules["warfarin"] == ("history", None)
    assert rules["metformin"] == ("request", None)
    assert rules["losartan"] == ("conflict", "lisinopril")
    assert rules["sacubitril_valsartan"] == ("conflict", "lisinopril")
    assert rules["apixaban"] == ("conflict", "warfarin") and rules["ibuprofen"] == ("conflict", "warfarin")
    recommended = {r.item for r in result.recommendations}
    assert not recommended & set(rules)
    assert len(result.recommendations) == model.spec.max_k
    scores = [r.score for r in result.recommendations]
    assert scores == sorted(scores, reverse=True) and [r.rank for r in result.recommendations] == list(
        range(1, len(scores) + 1)
    )


def test_no_random_history_is_ever_offered_a_forbidden_item(model):
    conflicts = [set(c.items) for c in model.spec.conflicts]
    rng = np.random.default_rng(5)
    for history in random_histories(model, 200):
        exclude = list(rng.choice(model.item_ids, size=rng.integers(0, 4), replace=False))
        result = recommend(model, query(history=history, exclude=exclude, k=model.spec.max_k))
        held = {h["item"] for h in history}
        forbidden = held | set(exclude) | {i for c in conflicts if c & held for i in c}
        assert {e.item for e in result.excluded} == forbidden
        assert not {r.item for r in result.recommendations} & forbidden
        assert len(result.recommendations) == min(model.spec.max_k, model.n_items - len(forbidden))


def test_when_fewer_items_remain_than_k_only_those_are_returned_with_a_warning(model):
    exclude = [i for i in model.item_ids if i not in ("amlodipine", "metformin")]
    result = recommend(model, query(history=[{"item": "amlodipine"}], exclude=exclude, k=5))
    assert [r.item for r in result.recommendations] == ["metformin"]
    assert any("only 1 item" in w for w in result.warnings)


# --- explanations ---------------------------------------------------------------------------------
def test_explanations_add_up_to_score_minus_baseline(model):
    for history in random_histories(model, 50, seed=13):
        result = recommend(model, query(history=history, explain=True, k=5))
        assert len(result.explanations) == len(result.recommendations)
        for rec, expl in zip(result.recommendations, result.explanations, strict=True):
            assert expl["item"] == rec.item and expl["score"] == rec.score
            total = sum(c["contribution"] for c in expl["contributions"])
            assert total == pytest.approx(rec.score - expl["baseline"], rel=1e-9, abs=1e-12)
            assert {c["item"] for c in expl["contributions"]} == {h["item"] for h in history}
            parts = [c["contribution"] for c in expl["contributions"]]
            assert parts == sorted(parts, reverse=True)
            assert (
                expl["raised_most_by"]
                == [c["item"] for c in expl["contributions"] if c["contribution"] > 0][:3]
            )


def test_contribution_matrix_rows_sum_to_the_linear_score(model):
    f = model.factors
    items = np.array([model.index["sertraline"], model.index["paracetamol"]])
    fold = fold_in(f, items, np.array([2.0, 8.0]))
    targets = np.arange(model.n_items)
    np.testing.assert_allclose(
        contributions(f, fold, targets).sum(axis=1), f.item_factors @ fold.user, rtol=1e-9
    )


def test_feature_explanations_add_up(model):
    assert model.spec.cold_start == "features"
    features = {f.name: f.baseline for f in model.card.inputs.features}
    features.update({"hba1c": 75.0, "egfr": 50.0})
    result = recommend(model, query(patient=features, explain=True))
    assert result.basis == "features" and result.personalised
    for rec, expl in zip(result.recommendations, result.explanations, strict=True):
        total = sum(c["contribution"] for c in expl["contributions"])
        assert total == pytest.approx(rec.score - expl["baseline"], rel=1e-9, abs=1e-12)


# --- cold start -----------------------------------------------------------------------------------
def test_no_history_and_no_features_is_a_popularity_ranking_flagged_not_personalised(model):
    result = recommend(model, query(k=5))
    assert result.basis == "popularity" and result.personalised is False
    expected = [model.item_ids[i] for i in np.argsort(-model.factors.popularity, kind="stable")[:5]]
    assert [r.item for r in result.recommendations] == expected
    assert result.excluded == []


def test_features_of_a_diabetic_patient_bring_diabetes_treatments_up(model):
    base = {f.name: f.baseline for f in model.card.inputs.features}
    diabetic = recommend(model, query(patient={**base, "hba1c": 90.0}, k=5))
    plain = recommend(model, query(patient=base, k=5))
    diabetes = {i.id for i in model.spec.items if i.category == "diabetes"}
    assert len({r.item for r in diabetic.recommendations} & diabetes) > len(
        {r.item for r in plain.recommendations} & diabetes
    )


def test_batch_answers_equal_single_answers(model):
    histories = random_histories(model, 20, seed=21)
    queries = [query(history=h, k=int(1 + i % 7)) for i, h in enumerate(histories)] + [query(k=3)]
    many = recommend_many(model, [plan(model, q) for q in queries])
    for q, answer in zip(queries, many, strict=True):
        single = recommend(model, q)
        assert [(r.item, r.rank) for r in answer.recommendations] == [
            (r.item, r.rank) for r in single.recommendations
        ]
        np.testing.assert_allclose(
            [r.score for r in answer.recommendations], [r.score for r in single.recommendations]
        )


# --- validation -----------------------------------------------------------------------------------
def test_unknown_items_are_named(model):
    with pytest.raises(InvalidInput) as e:
        plan(model, query(history=[{"item": "lisinopril"}, {"item": "unobtainium"}], exclude=["kryptonite"]))
    assert "unobtainium" in e.value.message and "kryptonite" in e.value.message
    first, second = e.value.details
    assert first == {"field": "history[1].item", "issue": "unknown item", "item": "unobtainium"}
    assert second["field"] == "exclude[0]" and second["item"] == "kryptonite"


def test_a_typo_gets_suggestions(model):
    with pytest.raises(InvalidInput) as e:
        plan(model, query(history=[{"item": "lisinoprill"}]))
    assert e.value.details[0]["did_you_mean"][0] == "lisinopril"


def test_an_unknown_item_that_is_not_shaped_like_an_id_is_named_by_position_only(model):
    # Free text in an item field may be patient data (a name): it is not quoted back.
    with pytest.raises(InvalidInput) as e:
        plan(model, query(history=[{"item": "Jane Q. Public, MRN 0048213"}]))
    assert "Jane" not in e.value.message and "0048213" not in str(e.value.details)
    assert "history[0].item" in e.value.message
    assert e.value.details[0] == {"field": "history[0].item", "issue": "unknown item"}


@pytest.mark.parametrize("k", [0, -1, 21, 10**6])
def test_k_out_of_range(model, k):
    with pytest.raises(InvalidInput) as e:
        plan(model, query(k=k))
    assert e.value.details == [{"field": "k", "issue": "out of range", "valid_range": [1, model.spec.max_k]}]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"history": [{"item": "lisinopril", "value": -1}]}, "history[0].value"),
        ({"history": [{"item": "lisinopril", "value": 1e9}]}, "history[0].value"),
        ({"history": [{"item": "lisinopril"}, {"item": "lisinopril"}]}, "history[1].item"),
    ],
)
def test_values_out_of_range_and_duplicates(model, raw, field):
    with pytest.raises(InvalidInput) as e:
        plan(model, parse_query(raw))
    assert [d["field"] for d in e.value.details] == [field]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"history": "lisinopril"}, "history"),
        ({"history": [["lisinopril"]]}, "history[0]"),
        ({"history": [{"value": 1}]}, "history[0].item"),
        ({"history": [{"item": "lisinopril", "value": "3"}]}, "history[0].value"),
        ({"history": [{"item": "lisinopril", "value": True}]}, "history[0].value"),
        ({"history": [{"item": "lisinopril", "dose": 3}]}, "history[0].dose"),
        ({"k": True}, "k"),
        ({"k": 2.5}, "k"),
        ({"explain": "yes"}, "explain"),
        ({"exclude": [1]}, "exclude"),
        ({"patient": [1]}, "patient"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_malformed_queries_name_the_field(raw, field):
    with pytest.raises(InvalidInput) as e:
        parse_query(raw)
    assert field in [d["field"] for d in e.value.details]


def test_oversized_history_is_413_before_anything_else(model):
    history = [{"item": "nonsense"}] * (model.spec.max_history + 1)
    with pytest.raises(PayloadTooLarge):
        parse_query({"history": history}, max_history=model.spec.max_history)


def test_patient_features_are_checked_against_the_card(model):
    base = {f.name: f.baseline for f in model.card.inputs.features}
    with pytest.raises(InvalidInput) as e:
        plan(model, query(patient={**base, "egfr": -5.0}))
    assert e.value.details[0]["field"] == "patient.egfr" and "-5" not in json.dumps(e.value.details)


def test_when_everything_is_withheld_nothing_is_recommended(model):
    exclude = [i for i in model.item_ids if i != "amlodipine"]
    result = recommend(model, query(history=[{"item": "amlodipine"}], exclude=exclude, explain=True))
    assert result.recommendations == [] and result.explanations == []
    assert len(result.excluded) == model.n_items and any("only 0 item" in w for w in result.warnings)
