"""checkov on template.yaml: no failed check, and every skipped check says why next to its resource
(``Metadata: checkov: skip: [{id, comment}]``).

checkov pins an old boto3, so it lives in its own virtualenv (``.venv-checkov``, made by
``make .venv-checkov/.installed``; ``make test`` and ``make lint`` depend on it). Missing is a
failure, never a skip. ``--skip-download`` keeps the run offline (no Prisma Cloud guideline fetch).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TIMEOUT_S = 300  # a run takes ~5-10 s on a 2-core machine; parsing the SAM template dominates
NO_COMMENT = "No comment provided"  # what checkov records for a skip without a comment


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make .venv-checkov/.installed`")
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    elapsed = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON (exit {proc.returncode}, {elapsed:.0f} s):\n{proc.stderr[-3000:]}")
    # One framework gives one report; checkov answers a list when several ran.
    reports = data if isinstance(data, list) else [data]
    (cfn,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    return cfn


def test_checkov_scanned_the_template(report):
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    # A template checkov could not read would report 0 failed checks too.
    assert summary["resource_count"] >= 30
    assert summary["passed"] >= 50


def test_checkov_has_no_failed_check(report):
    failed = [
        f"{c['check_id']} {c['check_name']!r} on {c['resource']} ({c['file_line_range']})"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, (
        "checkov failed checks (fix them, or skip one next to its resource with a true reason):\n"
        + "\n".join(failed)
    )
    assert report["summary"]["failed"] == 0


def test_every_skipped_check_is_justified(report):
    skipped = report["results"]["skipped_checks"]
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment", "").strip()
        where = f"{check['check_id']} on {check['resource']}"
        assert comment and comment != NO_COMMENT, f"{where} is skipped without a justification"
        assert len(comment) >= 40, f"{where}: say why the check does not apply ({comment!r})"
