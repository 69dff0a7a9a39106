"""devtools.lambda_report: the emulator's REPORT line as `make test-sam` parses it."""

import json

from devtools.lambda_report import (
    Invocation,
    Report,
    container_to_response_ms,
    last_report,
    parse_report,
    render,
    summary,
)

# sam local invoke's stderr, captured verbatim (aws-sam-cli 1.170.0, the stand-in base image, a
# function with MemorySize 1769 whose module sleeps 0.2 s at import and whose handler sleeps 0.1 s).
CAPTURED = (
    "Mounting /tmp/sam2-capture/fn as /var/task:ro,delegated, inside runtime container\n"
    "SAM_CONTAINER_ID: 0acb935a069d027f021d05a491cc3801696f49c0e3862bd6a5becd0f065b539c\n"
    "START RequestId: 3756773c-6cf9-41e2-a4cc-56c774b49e76 Version: $LATEST\n"
    "END RequestId: 3756773c-6cf9-41e2-a4cc-56c774b49e76\n"
    "REPORT RequestId: 3756773c-6cf9-41e2-a4cc-56c774b49e76\tInit Duration: 0.08 ms\t"
    "Duration: 352.01 ms\tBilled Duration: 353 ms\tMemory Size: 1769 MB\tMax Memory Used: 1769 MB\t\n"
    "\n"
)


def test_the_captured_report_line():
    report = last_report(CAPTURED)
    assert report == Report(
        request_id="3756773c-6cf9-41e2-a4cc-56c774b49e76",
        duration_ms=352.01,
        billed_ms=353.0,
        init_ms=0.08,
        memory_mb=1769,
        max_memory_mb=1769,
    )


def test_a_warm_invoke_has_no_init_duration_and_other_lines_are_not_reports():
    warm = "REPORT RequestId: abc\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB"
    report = parse_report(warm)
    assert report is not None and report.init_ms is None and report.duration_ms == 2.5
    assert report.max_memory_mb == 60
    # "Billed Duration" must not be read as Duration when Duration is absent
    assert parse_report("REPORT RequestId: abc\tBilled Duration: 3 ms") is None
    assert parse_report("START RequestId: abc Version: $LATEST") is None
    assert last_report("no report here\n") is None


def test_container_to_response_from_stamped_lines():
    stamped = list(zip([10.0, 10.5, 11.0, 12.25, 12.25], CAPTURED.splitlines(keepends=True), strict=False))
    assert container_to_response_ms(stamped) == 1750.0  # SAM_CONTAINER_ID at 10.5 s, END at 12.25 s
    assert container_to_response_ms(stamped[:3]) is None  # no END: the function never answered


def test_summary_and_table_per_function():
    report = last_report(CAPTURED)
    invocations = [
        Invocation("ImagingFunction", "imaging_predict_png.json", report, 1750.0),
        Invocation(
            "ImagingFunction", "imaging_s3_upload.json", Report("r2", 500.0, 500.0, 0.1, 1769, 1769), 2250.0
        ),
        Invocation("TabularFunction", "tabular_predict.json", None, None),
    ]
    data = summary(invocations)
    json.dumps(data)  # JSON-ready, as invoke_events writes it
    assert data["ImagingFunction"]["median"] == {
        "init_ms": 0.09,
        "first_invoke_duration_ms": 426.0,
        "container_to_response_ms": 2000.0,
    }
    assert data["TabularFunction"]["median"]["first_invoke_duration_ms"] is None
    table = render(invocations)
    assert "ImagingFunction (Memory Size 1769 MB" in table and "TabularFunction" in table
    assert "imaging_s3_upload.json" in table and "median of 2" in table
