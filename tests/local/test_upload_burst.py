"""bench/upload_burst.py with 20 images against the real template's local stack: every upload's
S3 notification invokes ImagingFunction and every result is written, none an error. No timing
assertions: how fast is the machine's business; that none is lost or fails in a burst is ours."""

from __future__ import annotations

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, load_bench


def test_a_burst_of_uploads_all_scored() -> None:
    burst = load_bench("upload_burst.py")
    # One worker: one cold start (test_serve covers deliveries to two workers at once).
    with LocalApi(Template.load(REPO / "template.yaml"), port=0, workers=1) as api:
        result = burst.run_burst(api, burst.sample_images(), 20, clients=4, stall=60)
    assert result["images"] == 20
    assert result["failures"] == 0 and result["dead_letters"] == 0, result
    assert result["succeeded"] == 20, result  # every result object exists, with one prediction
