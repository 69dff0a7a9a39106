"""The monitoring resources of template.yaml: the bucket, the scheduled MonitorFunction, least
privilege for capture and reports, and the alarms (medserve.monitoring)."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from tests.template.test_template import TEMPLATE, _statements, as_list, of_type, references


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


def _monitor_statements(resources) -> dict[str, dict[str, Any]]:
    return {st["Sid"]: st for name, st in _statements(resources) if name == "MonitorFunction"}


def test_the_drift_job_runs_on_the_schedule_parameter(template, resources):
    fn = resources["MonitorFunction"]["Properties"]
    assert fn["CodeUri"] == "functions/monitor/" and fn["Handler"] == "app.lambda_handler"
    schedules = [e for e in fn["Events"].values() if e["Type"] == "Schedule"]
    assert len(schedules) == 1
    assert schedules[0]["Properties"]["Schedule"] == {"Ref": "MonitorSchedule"}
    assert schedules[0]["Properties"]["Enabled"] is True
    parameter = template["Parameters"]["MonitorSchedule"]
    assert parameter["Type"] == "String" and parameter["Default"] == "rate(1 day)"
    assert fn["Environment"]["Variables"]["MONITOR_WINDOW_HOURS"] == {"Ref": "MonitorWindowHours"}
    assert template["Parameters"]["MonitorWindowHours"]["Default"] == 24  # = the default schedule
    assert fn["Timeout"] <= 900 and fn["ReservedConcurrentExecutions"] == {
        "Ref": "HelperFunctionReservedConcurrency"
    }
    assert {"Ref": "ModelLayer"} in fn["Layers"]


def test_the_ground_truth_route_is_an_admin_route(resources):
    events = resources["MonitorFunction"]["Properties"]["Events"]
    (route,) = [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"]
    assert (route["Method"], route["Path"]) == ("POST", "/v1/monitoring/ground-truth")
    assert route["Auth"] == {"AuthorizationScopes": ["medserve/admin"]}


def test_every_function_knows_the_monitoring_bucket(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MONITORING_BUCKET"] == {"Ref": "MonitoringBucket"}
    assert env["MEDSERVE_CAPTURE_SAMPLING"] == {"Ref": "CaptureSampling"}
    assert template["Parameters"]["CaptureSampling"]["Default"] == ""  # each card's own setting


def test_the_monitoring_bucket_expires_capture_and_labels(template, resources):
    bucket = resources["MonitoringBucket"]["Properties"]
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireCapture"]["Prefix"] == "monitoring/capture/"
    assert rules["ExpireCapture"]["ExpirationInDays"] == {"Ref": "MonitoringRetentionInDays"}
    assert rules["ExpireGroundTruth"]["Prefix"] == "monitoring/ground-truth/"
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "monitoring/"


def test_prediction_functions_may_only_put_capture(resources):
    writers: dict[str, list[dict[str, Any]]] = {}
    for name, st in _statements(resources):
        if references(st.get("Resource"), "MonitoringBucket"):
            writers.setdefault(name, []).append(st)
    predictors = {
        "TabularFunction",
        "ImagingFunction",
        "TextFunction",
        "RecommendFunction",
        "MultimodalFunction",
    }
    assert set(writers) == predictors | {"MonitorFunction"}
    for name in predictors:
        (st,) = writers[name]
        assert as_list(st["Action"]) == ["s3:PutObject"], name
        assert st["Resource"] == {"Fn::Sub": "${MonitoringBucket.Arn}/monitoring/capture/*"}, name


def test_the_monitor_reads_capture_and_writes_reports_only(resources):
    statements = _monitor_statements(resources)
    read = statements["ReadCaptureAndGroundTruth"]
    assert as_list(read["Action"]) == ["s3:GetObject"]
    assert {r["Fn::Sub"] for r in read["Resource"]} == {
        "${MonitoringBucket.Arn}/monitoring/capture/*",
        "${MonitoringBucket.Arn}/monitoring/ground-truth/*",
    }
    listing = statements["ListCaptureAndGroundTruth"]
    assert set(listing["Condition"]["StringLike"]["s3:prefix"]) == {
        "monitoring/capture/*",
        "monitoring/ground-truth/*",
    }
    assert statements["WriteReports"]["Resource"] == {
        "Fn::Sub": "${MonitoringBucket.Arn}/monitoring/reports/*"
    }
    assert as_list(statements["WriteReports"]["Action"]) == ["s3:PutObject"]
    kms = statements["UseDataKeyThroughServices"]
    assert set(as_list(kms["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    # Nothing of the uploads bucket: the job never sees an input.
    assert "medserve-uploads" not in str(statements)


def test_violations_and_capture_failures_page_the_alarm_topic(resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    drift = alarms["DriftViolationsAlarm"]["Properties"]
    assert drift["Metrics"][0]["Expression"] == "SELECT SUM(DriftViolations) FROM medserve"
    capture = alarms["CaptureFailuresAlarm"]["Properties"]
    assert capture["Metrics"][0]["Expression"] == "SELECT SUM(CaptureFailures) FROM medserve"
    for alarm in (drift, capture, alarms["MonitorErrorsAlarm"]["Properties"]):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_outputs_name_the_monitoring_bucket(template):
    assert template["Outputs"]["MonitoringBucketName"]["Value"] == {"Ref": "MonitoringBucket"}
