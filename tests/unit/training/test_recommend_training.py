"""training/recommend_als.py on small data: the generated cohort keeps its clinical rules, a build
writes a publishable model directory whose card loads and serves, a caller's CSV builds the same
way, and the ACTG 175 check answers. (The bundled model itself is checked in tests/unit/recommend.)"""

import csv
import json

import numpy as np
import pytest
from medserve.errors import InvalidInput
from medserve.recommend.model import RecommendModel
from medserve.recommend.predict import recommend
from medserve.recommend.types import parse_query
from medserve.serving.cards import load_card
from medserve.serving.registry import BundledModels, Registry
from medserve.serving.runtime import sha256_file

from training import recommend_als as als

SMALL_GRID = [(4, 10.0, 0.5)]


@pytest.fixture(scope="module")
def cohort():
    return als.generate_cohort(n_patients=600, seed=5)


def test_the_cohort_never_co_prescribes_a_contraindicated_pair(cohort):
    ids = [i["id"] for i in cohort.items]
    observed = ~np.isnan(cohort.values)
    for conflict in cohort.conflicts:
        a, b = (ids.index(x) for x in conflict["items"])
        assert not (observed[:, a] & observed[:, b]).any(), conflict
    counts = observed.sum(axis=0)
    assert counts.max() > 8 * max(counts.min(), 1)  # popularity skew
    assert cohort.features.shape == (600, len(als.FEATURES))
    values = cohort.values[observed]
    assert values.min() >= 1 and values.max() <= 12


def test_a_build_writes_a_model_the_server_loads(tmp_path, cohort):
    card = als.build(tmp_path / "m", cohort, name="tiny-recommender", grid=SMALL_GRID, seed=5)
    loaded = load_card(tmp_path / "m")
    assert loaded.modality == "recommend" and loaded.recommend.feedback == "implicit"
    for spec in loaded.artifacts():
        assert sha256_file(tmp_path / "m" / spec.file) == spec.sha256
    assert "not for clinical use" in card["description"] and "Demonstration only" in card["intended_use"]
    held_out = card["metrics"]["held_out_patients"]
    assert set(held_out) == {"als", "popularity", "item_knn"}
    assert {"recall@5", "ndcg@5", "recall@10", "ndcg@10"} <= set(held_out["als"])
    assert card["metrics"]["hyperparameter_search"]["chosen"]["rank"] == 4
    model = RecommendModel.load(Registry(bundled=BundledModels(tmp_path)), "tiny-recommender")
    result = recommend(model, parse_query({"history": [{"item": "apixaban"}], "k": 5}))
    assert len(result.recommendations) == 5 and "warfarin" in {e.item for e in result.excluded}


def test_the_same_seed_gives_the_same_metrics(tmp_path, cohort):
    first = als.build(tmp_path / "a", cohort, name="tiny-recommender", grid=SMALL_GRID, seed=5)
    second = als.build(tmp_path / "b", cohort, name="tiny-recommender", grid=SMALL_GRID, seed=5)
    assert first["metrics"] == second["metrics"]


def test_a_callers_csv_builds_a_model_with_its_names_and_conflicts(tmp_path, cohort):
    ids = [i["id"] for i in cohort.items]
    with (tmp_path / "interactions.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id", "item", "value"])
        for u, i in zip(*np.nonzero(~np.isnan(cohort.values)), strict=True):
            writer.writerow([f"p{u:05d}", ids[i], int(cohort.values[u, i])])
    (tmp_path / "items.csv").write_text("id,label\n" + "".join(f"{i},Item {i.upper()}\n" for i in ids))
    (tmp_path / "conflicts.csv").write_text("item_a,item_b,reason\nmetformin,insulin_glargine,local rule\n")
    data = als.load_interactions(
        tmp_path / "interactions.csv", "implicit", tmp_path / "items.csv", tmp_path / "conflicts.csv"
    )
    assert data.values.shape == (len({u for u in np.nonzero(~np.isnan(cohort.values))[0]}), len(ids))
    card = als.build(tmp_path / "own", data, name="ward-recommender", demo=False, grid=SMALL_GRID, seed=5)
    assert (
        "not for clinical use" not in card["description"] and card["recommend"]["cold_start"] == "popularity"
    )
    assert json.loads((tmp_path / "own" / "card.json").read_text())["training_data"]["sha256"]
    model = RecommendModel.load(Registry(bundled=BundledModels(tmp_path)), "ward-recommender")
    assert model.labels["metformin"] == "Item METFORMIN"
    result = recommend(model, parse_query({"history": [{"item": "metformin"}], "k": 20}))
    assert {"item": "insulin_glargine", "rule": "conflict"}.items() <= next(
        e.as_dict() for e in result.excluded if e.item == "insulin_glargine"
    ).items()
    assert "insulin_glargine" not in {r.item for r in result.recommendations}


def test_the_actg175_check_answers_with_intervals():
    check = als.actg175_check(folds=2, boot=200)
    assert check["best_single_regimen"] in als.ACTG_ARMS
    low, high = check["difference_factorised_minus_best"]["ci95"]
    assert low <= check["difference_factorised_minus_best"]["mean"] <= high
    assert check["finding"].startswith("personalisation " + ("beats" if low > 0 else "does NOT"))


def test_an_explicit_ratings_model_serves_ratings_and_explains_them(tmp_path):
    data = als.generate_cohort(n_patients=600, seed=5, feedback="explicit")
    card = als.build(tmp_path / "r", data, name="tiny-ratings", grid=[(4, 10.0, 0.0)], seed=5)
    assert card["recommend"]["feedback"] == "explicit" and card["recommend"]["default_value"] is None
    assert set(card["metrics"]["held_out_patients"]["rmse"]) == {"als", "item_baseline"}
    model = RecommendModel.load(Registry(bundled=BundledModels(tmp_path)), "tiny-ratings")
    with pytest.raises(InvalidInput) as e:  # a rating needs its value
        recommend(model, parse_query({"history": [{"item": "metformin"}]}))
    assert e.value.details[0]["field"] == "history[0].value"
    history = [{"item": "metformin", "value": 5}, {"item": "ibuprofen", "value": 1}]
    result = recommend(model, parse_query({"history": history, "explain": True}))
    lo, hi = card["recommend"]["value_range"]
    for rec, expl in zip(result.recommendations, result.explanations, strict=True):
        assert lo - 2 <= rec.score <= hi + 2  # on the rating scale
        assert expl["baseline"] != 0.0  # the item's baseline rating
        assert sum(c["contribution"] for c in expl["contributions"]) == pytest.approx(
            rec.score - expl["baseline"], rel=1e-9, abs=1e-12
        )
