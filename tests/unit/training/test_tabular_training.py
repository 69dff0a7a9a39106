"""The bundled tabular model is reproducible in what holds across machines: a rebuild gives the
same metrics and the same coefficients within a stated tolerance, and the committed artifact is
the one its card names. Bit-identical bytes are not asserted: BLAS kernels differ between CPUs, so
the last bits of rebuilt floats (and so the sha256) may differ on another machine."""

import json
import subprocess
import sys

import numpy as np
import onnx
from medserve.serving.registry import BUNDLED_DIR
from medserve.serving.runtime import sha256_file
from onnx import numpy_helper

from tests.helpers import REPO

MODEL = BUNDLED_DIR / "breast-cancer-risk"
# Relative tolerance on rebuilt weights: far above float64 rounding differences between BLAS
# kernels (~1e-12), far below any change of the fit that would matter (the metrics are rounded to 4).
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-6
METRIC_TOLERANCE = 1e-3


def initializers(path) -> dict[str, np.ndarray]:
    graph = onnx.load(str(path)).graph
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def test_committed_artifact_is_the_one_its_card_names():
    card = json.loads((MODEL / "card.json").read_text())
    assert sha256_file(MODEL / card["artifact"]["file"]) == card["artifact"]["sha256"]


def test_rebuild_reproduces_metrics_and_weights(tmp_path):
    out = tmp_path / "breast-cancer-risk"
    subprocess.run(
        [sys.executable, str(REPO / "training" / "tabular_wdbc.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    built = json.loads((out / "card.json").read_text())
    bundled = json.loads((MODEL / "card.json").read_text())
    assert built["metrics"].keys() == bundled["metrics"].keys()
    for name, value in bundled["metrics"].items():
        if isinstance(value, int | float):
            assert abs(built["metrics"][name] - value) <= METRIC_TOLERANCE, name
    assert built["metrics"]["roc_auc"] >= 0.98
    assert built["inputs"] == bundled["inputs"]
    # The hand-written HTI-1 attributes and FHIR code survive a rebuild (training/cards/).
    assert built["transparency"] == bundled["transparency"]
    assert built["outputs"]["fhir_code"] == bundled["outputs"]["fhir_code"]
    # The build writes the monitoring baseline beside the card, identical to the committed one
    # up to the served model's floats.
    statistics = json.loads((out / "statistics.json").read_text())
    committed_stats = json.loads((MODEL / "statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == [f["name"] for f in committed_stats["features"]]
    assert statistics["dataset"] == committed_stats["dataset"]
    assert json.loads((out / "constraints.json").read_text()) == json.loads(
        (MODEL / "constraints.json").read_text()
    )
    rebuilt, committed = initializers(out / "model.onnx"), initializers(MODEL / "model.onnx")
    assert rebuilt.keys() == committed.keys()
    for name, weights in committed.items():
        if weights.dtype.kind == "f":
            np.testing.assert_allclose(
                rebuilt[name], weights, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL, err_msg=name
            )
        else:
            np.testing.assert_array_equal(rebuilt[name], weights, err_msg=name)
