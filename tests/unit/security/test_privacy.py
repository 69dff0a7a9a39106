"""No patient values in logs or metrics: requests carrying recognisable values leave none behind."""

import json

from tests.helpers import call, http_event

MARKER = 13.579135  # a value no log line would contain by chance


def test_logs_and_metrics_carry_no_feature_values(tabular_app, lambda_context, record, emitted):
    good = dict(record, mean_radius=MARKER)
    bad = dict(record, mean_radius=-MARKER, worst_area="PATIENT-SMITH-4711")
    for body in ({"records": [good], "explain": True}, {"records": [bad]}, '{"records": [PATIENT-SMITH-4711'):
        call(tabular_app, http_event("POST", "/v1/tabular/predict", body), lambda_context)
    text = emitted()
    # logging did happen, with its structured keys
    assert '"message":"tabular prediction"' in text and '"error_code":"INVALID_INPUT"' in text
    assert '"Predictions"' in text  # and metrics
    for secret in (str(MARKER), "13.579", "PATIENT-SMITH", "4711"):
        assert secret not in text


def test_error_bodies_do_not_echo_values(tabular_app, lambda_context, record):
    bad = dict(record, mean_radius=-MARKER, worst_area="PATIENT-SMITH-4711")
    _, got = call(tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [bad]}), lambda_context)
    assert "13.579" not in json.dumps(got) and "SMITH" not in json.dumps(got)
