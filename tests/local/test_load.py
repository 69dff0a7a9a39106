"""bench/load.py in a few seconds against the real template's local stack: mixed routes from
several clients at once end in their expected answers, with zero errors and no 5xx. No timing
thresholds: how fast is this machine's business; that nothing fails under concurrency is ours."""

from __future__ import annotations

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, load_bench


def test_a_short_mixed_load_has_no_errors() -> None:
    load = load_bench("load.py")
    with LocalApi(Template.load(REPO / "template.yaml"), port=0) as api:
        result = load.run(
            api.url,
            api.issue_token(),
            clients=4,
            seconds=4,
            mix=load.parse_mix(load.DEFAULT_MIX),
            warmup=4,
            pid=None,
        )
    print(load.render(result))
    assert result["requests"] > 0
    assert result["errors"] == {} and result["server_5xx"] == 0, result
    assert {"health", "tabular", "text", "deidentify", "imaging"} <= set(result["routes"]), result["routes"]
