"""GET /v1/openapi.json describes every function's routes, and the committed document is current."""

import subprocess
import sys

from tests.helpers import REPO, call, http_event

ROUTES = {
    "/v1/health",
    "/v1/models",
    "/v1/models/{name}",
    "/v1/tabular/predict",
    "/v1/imaging/predict",
    "/v1/imaging/deidentify",
    "/v1/uploads",
    "/v1/jobs/{id}",
    "/v1/text/predict",
    "/v1/text/deidentify",
    "/v1/monitoring/ground-truth",
    "/v1/recommend/treatment",
    "/v1/multimodal/predict",
}


def test_committed_document_matches_the_routes():
    done = subprocess.run(
        [sys.executable, "-m", "devtools.openapi", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_served_document_covers_every_function(tabular_app, lambda_context):
    status, doc = call(tabular_app, http_event("GET", "/v1/openapi.json"), lambda_context)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == ROUTES
