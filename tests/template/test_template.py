"""Checks of template.yaml: cfn-lint is clean, and the properties that matter for privacy, least
privilege, access control, audit and the product contract hold (runtime, encryption, TLS, routes and
their scopes, triggers, failure path, logs, concurrency). Does not import medserve (that the
functions check the same scopes is tests/unit/security/test_auth.py's). checkov runs in
test_template_checkov.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

DATA_KEY_REFS = ({"Fn::GetAtt": ["DataKey", "Arn"]}, {"Ref": "DataKey"})

TABULAR_ROUTES = {
    ("GET", "/v1/health"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{name}"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/tabular/predict"),
}

# Actions that AWS only authorizes with Resource "*" (no resource-level permissions). An Allow
# statement may use "*" only when all of its actions are listed here. None is needed today (SAM's
# AWSXrayWriteOnlyAccess managed policy covers X-Ray; metrics go out as EMF through the logs).
ACTIONS_REQUIRING_STAR = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",  # the SageMaker execution role's registry login
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # cfn-lint's loader understands the short-form tags (!Ref, !Sub, !GetAtt, !Join, ...) and
    # returns them in their long form ({"Ref": ...}, {"Fn::Join": ...}).
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], rtype: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == rtype}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def references(node: Any, logical_id: str) -> bool:
    """True when node refers to logical_id through Ref, GetAtt or a ${...} in Sub."""
    for item in walk(node):
        if not isinstance(item, dict):
            continue
        if item.get("Ref") == logical_id:
            return True
        getatt = item.get("Fn::GetAtt")
        if getatt is not None:
            target = getatt[0] if isinstance(getatt, list) else str(getatt).split(".")[0]
            if target == logical_id:
                return True
        sub = item.get("Fn::Sub")
        if sub is not None:
            text = sub[0] if isinstance(sub, list) else sub
            if "${" + logical_id + "}" in text or "${" + logical_id + "." in text:
                return True
    return False


# ---------------------------------------------------------------------------------------------------
# cfn-lint
# ---------------------------------------------------------------------------------------------------


def test_cfn_lint_is_clean():
    # The console entry point (cfn-lint has no __main__), run the way `make lint` runs it: errors and
    # warnings both fail.
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", TEMPLATE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"cfn-lint found problems:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip() == ""


# ---------------------------------------------------------------------------------------------------
# Runtime and layer
# ---------------------------------------------------------------------------------------------------


def test_runtime_is_python313_x86_64(template, resources):
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    fn_globals = template["Globals"]["Function"]
    assert fn_globals["Runtime"] == "python3.13"
    assert fn_globals["Architectures"] == ["x86_64"]
    assert fn_globals["Tracing"] == "Active"
    assert fn_globals["MemorySize"] == 1769
    functions = of_type(resources, "AWS::Serverless::Function")
    assert "TabularFunction" in functions
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props.get("Runtime", "python3.13") == "python3.13", name
        assert props.get("Architectures", ["x86_64"]) == ["x86_64"], name
        assert {"Ref": "ModelLayer"} in props.get("Layers", []), name


def test_shared_environment(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "medserve"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "medserve"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["MEDSERVE_MODEL_ALIAS"] == {"Ref": "ModelAlias"}
    assert env["MODELS_BUCKET"] == {"Ref": "ModelsBucket"}
    assert env["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert "UPLOADS_BUCKET" in env


def test_model_layer(resources):
    layer = resources["ModelLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    props = layer["Properties"]
    assert props["ContentUri"] == "layers/model/"
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["x86_64"]
    assert props["RetentionPolicy"] in ("Retain", "Delete")
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    # `sam build` runs `make build-ModelLayer` with the Makefile in ContentUri.
    makefile = (ROOT / "layers" / "model" / "Makefile").read_text()
    assert "\nbuild-ModelLayer:" in makefile


# ---------------------------------------------------------------------------------------------------
# Encryption, TLS, data stores
# ---------------------------------------------------------------------------------------------------


def test_data_key(resources):
    key = resources["DataKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    logs_principal = {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}
    logs = [s for s in statements if s.get("Principal", {}).get("Service") == logs_principal]
    assert len(logs) == 1 and "kms:EncryptionContext:aws:logs:arn" in logs[0]["Condition"]["ArnLike"]
    assert resources["DataKeyAlias"]["Properties"]["TargetKeyId"] == {"Ref": "DataKey"}


# S3 server access log delivery supports SSE-S3 default encryption on its target bucket (and no
# Object Lock there): the one bucket not encrypted with DataKey.
ACCESS_LOG_TARGETS = {"AccessLogsBucket"}


def test_every_bucket_is_private_versioned_kms_and_tls_only(resources):
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert {"UploadsBucket", "ModelsBucket", "AuditBucket", "AccessLogsBucket"} <= set(buckets)
    policies = of_type(resources, "AWS::S3::BucketPolicy")
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if name in ACCESS_LOG_TARGETS:
            assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}, name
            assert "LoggingConfiguration" not in props, name  # a log target does not log itself
        else:
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
            assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] in DATA_KEY_REFS, name
            assert rule["BucketKeyEnabled"] is True, name
            # Server access logs of every data bucket go to the log target, under their own prefix.
            logging = props["LoggingConfiguration"]
            assert logging["DestinationBucketName"]["Ref"] in ACCESS_LOG_TARGETS, name
            assert logging["LogFilePrefix"].endswith("/"), name
        assert props["VersioningConfiguration"]["Status"] == "Enabled", name
        pab = props["PublicAccessBlockConfiguration"]
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            assert pab[flag] is True, (name, flag)
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name

        mine = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": name}]
        assert len(mine) == 1, f"{name} needs exactly one bucket policy"
        tls = [
            s
            for s in mine[0]["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        ]
        assert tls, f"{name} has no TLS-only statement"
        covered = as_list(tls[0]["Resource"])
        assert {"Fn::GetAtt": [name, "Arn"]} in covered, name  # the bucket (List...)
        assert {"Fn::Sub": "${" + name + ".Arn}/*"} in covered, name  # and its objects
        assert tls[0]["Principal"] == "*" and tls[0]["Action"] == "s3:*", name


def test_uploads_lifecycle(resources):
    rules = resources["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expire = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert expire and expire[0]["ExpirationInDays"] == {"Ref": "UploadsExpirationInDays"}
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)
    assert all(r["Status"] == "Enabled" for r in rules)


def test_uploads_bucket_name_expression_is_identical_and_short(template, resources):
    """The function refers to the uploads bucket by a name expression (circular dependency
    avoidance): every copy of it must be the same, and the name must fit S3's 63 characters."""
    joins = [
        node["Fn::Join"]
        for node in walk(template)
        if isinstance(node, dict)
        and "Fn::Join" in node
        and isinstance(node["Fn::Join"][1], list)
        and node["Fn::Join"][1][:1] == ["medserve-uploads"]
    ]
    assert len(joins) >= 4  # bucket name, UPLOADS_BUCKET, two policy resources
    assert all(j == joins[0] for j in joins), "the uploads bucket name expressions differ"
    assert resources["UploadsBucket"]["Properties"]["BucketName"] == {"Fn::Join": joins[0]}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["UPLOADS_BUCKET"] == {"Fn::Join": joins[0]}

    sep, parts = joins[0]
    longest = {"AWS::AccountId": 12, "AWS::Region": 14, "AWS::StackId": 8}  # 8 = first uuid group
    length = len(sep) * (len(parts) - 1)
    for part in parts:
        if isinstance(part, str):
            assert part == part.lower()
            length += len(part)
        else:
            pseudo = [n["Ref"] for n in walk(part) if isinstance(n, dict) and "Ref" in n]
            assert len(pseudo) == 1 and pseudo[0] in longest, part
            length += longest[pseudo[0]]
    assert length <= 63


def test_no_circular_reference_from_function_to_uploads_bucket(template, resources):
    for name, fn in of_type(resources, "AWS::Serverless::Function").items():
        props = {k: v for k, v in fn["Properties"].items() if k != "Events"}
        assert not references(props, "UploadsBucket"), name
    assert not references(template["Globals"], "UploadsBucket")


def test_idempotency_table(resources):
    table = resources["IdempotencyTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS" and sse["KMSMasterKeyId"] in DATA_KEY_REFS
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_queues_and_topics_are_kms_encrypted(resources):
    for rtype, prop in (("AWS::SQS::Queue", "KmsMasterKeyId"), ("AWS::SNS::Topic", "KmsMasterKeyId")):
        for name, res in of_type(resources, rtype).items():
            assert res["Properties"].get(prop) in DATA_KEY_REFS, name
    dlq = resources["TabularDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


PHI_IDENTIFIERS = {
    # A sample of what must be masked; the mapping lists more (all from AWS's documented ARNs).
    "Name",
    "Address",
    "EmailAddress",
    "PhoneNumber-US",
    "Ssn-US",
    "DriversLicense-US",
    "HealthInsuranceClaimNumber-US",
    "MedicareBeneficiaryNumber-US",
    "NationalProviderId-US",
    "NationalDrugCode-US",
    "HealthInsuranceCardNumber-EU",
}


def test_log_data_protection_identifiers(template):
    identifiers = template["Mappings"]["LogDataProtection"]["aws"]["DataIdentifiers"]
    prefix = "arn:aws:dataprotection::aws:data-identifier/"
    assert all(i.startswith(prefix) for i in identifiers)
    names = [i.removeprefix(prefix) for i in identifiers]
    assert len(names) == len(set(names))
    assert PHI_IDENTIFIERS <= set(names)
    # The access log keeps the source IP on purpose (abuse investigation): never masked.
    assert "IpAddress" not in names


def test_every_log_group_is_encrypted_with_retention(resources):
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert {
        "HttpApiAccessLogGroup",
        "TabularFunctionLogGroup",
        "ImagingFunctionLogGroup",
        "TextFunctionLogGroup",
        "JobsFunctionLogGroup",
        "GatewayAuditFunctionLogGroup",
    } <= set(groups)
    identifiers = {"Fn::FindInMap": ["LogDataProtection", {"Ref": "AWS::Partition"}, "DataIdentifiers"]}
    for name, group in groups.items():
        props = group["Properties"]
        assert props.get("KmsKeyId") in DATA_KEY_REFS, name
        assert props.get("RetentionInDays") == {"Ref": "LogRetentionInDays"}, name
        # CloudWatch Logs data protection: an Audit and a Deidentify (mask) statement over the same
        # identifiers (AWS requires the two lists to match).
        policy = props["DataProtectionPolicy"]
        assert policy["Version"] == "2021-06-01", name
        operations = {next(iter(st["Operation"])): st for st in policy["Statement"]}
        assert set(operations) == {"Audit", "Deidentify"}, name
        assert operations["Deidentify"]["Operation"]["Deidentify"] == {"MaskConfig": {}}, name
        assert "FindingsDestination" in operations["Audit"]["Operation"]["Audit"], name
        for st in policy["Statement"]:
            assert st["DataIdentifier"] == identifiers, name
    # Every function has its own explicit (encrypted, expiring) log group.
    names = [g["Properties"].get("LogGroupName") for g in groups.values()]
    for fn in of_type(resources, "AWS::Serverless::Function"):
        assert {"Fn::Sub": "/aws/lambda/${" + fn + "}"} in names, fn


# ---------------------------------------------------------------------------------------------------
# IAM: every statement the template writes
# ---------------------------------------------------------------------------------------------------


def _statements(resources) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement this template writes (function inline policies and IAM resources).
    Key policies, bucket/queue/topic policies are resource policies and are checked elsewhere."""
    for name, fn in of_type(resources, "AWS::Serverless::Function").items():
        for policy in as_list(fn["Properties"].get("Policies", [])):
            if isinstance(policy, str):
                assert "FullAccess" not in policy and "Administrator" not in policy, (name, policy)
            elif "Statement" in policy:
                for st in as_list(policy["Statement"]):
                    if "Fn::If" in st:  # a statement present only under a condition (offload)
                        st = st["Fn::If"][1]
                    yield name, st
    for rtype in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, res in of_type(resources, rtype).items():
            props = res["Properties"]
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
            if "PolicyDocument" in props:
                docs.append(props["PolicyDocument"])
            for doc in docs:
                for st in as_list(doc["Statement"]):
                    yield name, st


def test_no_wildcard_resources_in_iam(resources):
    statements = list(_statements(resources))
    assert statements
    for name, st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = set(as_list(st["Action"]))
        assert not any(a == "*" or a.endswith(":*") for a in actions), (name, st)
        if "*" in as_list(st.get("Resource", [])):
            assert actions <= ACTIONS_REQUIRING_STAR, (name, st)


# ---------------------------------------------------------------------------------------------------
# The five model functions (HTTP routes and an S3 trigger each): code, routes, trigger, failure
# path, outputs, and the permissions they share. What only one of them has is checked below.
# ---------------------------------------------------------------------------------------------------

IMAGING_ROUTES = {
    ("POST", "/v1/imaging/predict"),
    ("POST", "/v1/imaging/deidentify"),
    ("POST", "/v1/uploads"),
    ("GET", "/v1/jobs/{id}"),
}


class ModelFunction(NamedTuple):
    name: str  # TabularFunction, functions/tabular/, uploads/tabular/, TabularDeadLetterQueue...
    default_model: str  # MEDSERVE_DEFAULT_<NAME>_MODEL
    routes: set[tuple[str, str]]
    prefixes: list[str]  # of its S3 triggers, in template order
    # Its IAM statement ids beyond the ones every model function has (None: not pinned here).
    extra_sids: set[str] | None = None
    also_reads: tuple[str, ...] = ()  # other functions' upload prefixes it may read

    @property
    def folder(self) -> str:
        return self.name.lower()

    @property
    def resource(self) -> str:
        return f"{self.name}Function"


MODEL_FUNCTIONS = [
    ModelFunction("Tabular", "breast-cancer-risk", TABULAR_ROUTES, ["uploads/tabular/"]),
    # Predictions and DICOM de-identification.
    ModelFunction(
        "Imaging", "cxr-nodule-phantom", IMAGING_ROUTES, ["uploads/imaging/", "uploads/imaging-deid/"]
    ),
    ModelFunction(
        "Text",
        "note-specialty",
        {("POST", "/v1/text/predict"), ("POST", "/v1/text/deidentify")},
        ["uploads/text/"],
        extra_sids=set(),
    ),
    ModelFunction(
        "Recommend",
        "treatment-recommender-demo",
        {("POST", "/v1/recommend/treatment")},
        ["uploads/recommend/"],
        extra_sids=set(),
    ),
    # Images named by image_s3_uri are read, never written.
    ModelFunction(
        "Multimodal",
        "multimodal-fusion-demo",
        {("POST", "/v1/multimodal/predict")},
        ["uploads/multimodal/"],
        extra_sids={"ReadImagingUploads"},
        also_reads=("imaging",),
    ),
]
each_function = pytest.mark.parametrize("fn", MODEL_FUNCTIONS, ids=lambda fn: fn.name)


@each_function
def test_function_code(resources, fn):
    props = resources[fn.resource]["Properties"]
    assert props["CodeUri"] == f"functions/{fn.folder}/"
    assert props["Handler"] == "app.lambda_handler"
    assert props["Layers"] == [{"Ref": "ModelLayer"}]
    assert props["Environment"]["Variables"][f"MEDSERVE_DEFAULT_{fn.name.upper()}_MODEL"] == fn.default_model
    assert (ROOT / "functions" / fn.folder / "app.py").is_file()


@each_function
def test_function_routes(resources, fn):
    events = resources[fn.resource]["Properties"]["Events"]
    http = [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"]
    assert {(e["Method"], e["Path"]) for e in http} == fn.routes
    assert len(http) == len(fn.routes)
    assert all(e["ApiId"] == {"Ref": "HttpApi"} for e in http)


@each_function
def test_function_s3_triggers(resources, fn):
    events = resources[fn.resource]["Properties"]["Events"]
    triggers = [e["Properties"] for e in events.values() if e["Type"] == "S3"]
    for s3 in triggers:
        assert s3["Bucket"] == {"Ref": "UploadsBucket"}
        assert as_list(s3["Events"]) == ["s3:ObjectCreated:*"]
        assert [r["Name"] for r in s3["Filter"]["S3Key"]["Rules"]] == ["prefix"]
    prefixes = [rule["Value"] for s3 in triggers for rule in s3["Filter"]["S3Key"]["Rules"]]
    assert prefixes == fn.prefixes
    # S3 refuses overlapping prefixes for one event type.
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)


@each_function
def test_function_failure_path_and_alarms(resources, fn):
    config = resources[fn.resource]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    queue = f"{fn.name}DeadLetterQueue"
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": [queue, "Arn"]},
    }
    dlq = resources[queue]["Properties"]
    assert dlq["KmsMasterKeyId"] in DATA_KEY_REFS and dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    policy = resources[f"{queue}Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    dlq_alarm = resources[f"{fn.name}DeadLetterAlarm"]["Properties"]
    assert dlq_alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
    errors = resources[f"{fn.name}ErrorsAlarm"]["Properties"]
    assert errors["MetricName"] == "Errors"
    assert errors["Dimensions"][0]["Value"] == {"Ref": fn.resource}
    # Its log group (encrypted, expiring): test_every_log_group_is_encrypted_with_retention.


@each_function
def test_function_outputs(template, fn):
    assert {f"{fn.name}FunctionName", f"{fn.name}DeadLetterQueueUrl"} <= set(template["Outputs"])


@each_function
def test_function_reads_its_uploads_writes_its_results(resources, fn):
    statements = {st["Sid"]: st for name, st in _statements(resources) if name == fn.resource}
    reads, writes = f"Read{fn.name}Uploads", f"Write{fn.name}Results"
    shared = {
        reads,
        writes,
        "ReadModels",
        "ListModels",
        "IdempotencyRecords",
        "WriteAuditRecords",
        "WriteMonitoringCapture",
        "UseDataKeyThroughServices",
    }
    assert shared <= set(statements)
    if fn.extra_sids is not None:
        assert set(statements) == shared | fn.extra_sids
    assert set(as_list(statements[reads]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statements[reads]["Resource"]["Fn::Sub"][0].endswith(f"/uploads/{fn.folder}/*")
    assert as_list(statements[writes]["Action"]) == ["s3:PutObject"]
    assert statements[writes]["Resource"]["Fn::Sub"][0].endswith(f"/results/{fn.folder}/*")
    assert statements["ReadModels"]["Resource"] == {"Fn::Sub": "${ModelsBucket.Arn}/models/*"}
    assert as_list(statements["ReadModels"]["Action"]) == ["s3:GetObject"]  # the registry is read-only here
    assert statements["IdempotencyRecords"]["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    kms = statements["UseDataKeyThroughServices"]
    assert set(as_list(kms["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert kms["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    # Nothing of another modality's prefixes, and no prefix of them all.
    others = {other.folder for other in MODEL_FUNCTIONS} - {fn.folder, *fn.also_reads}
    for sid, st in statements.items():
        resource = json.dumps(st["Resource"])
        assert not any(f"/{other}" in resource for other in others), (sid, resource)
        assert "/uploads/*" not in resource and "/results/*" not in resource, sid


# ---------------------------------------------------------------------------------------------------
# What one model function has and the others do not (ImagingFunction: its own section below)
# ---------------------------------------------------------------------------------------------------


def test_tabular_least_privilege(resources):
    statements = {st["Sid"]: st for name, st in _statements(resources) if name == "TabularFunction"}
    assert "Condition" not in statements["ListModels"]  # 404 (not 403) for a missing alias: see template
    assert set(as_list(statements["IdempotencyRecords"]["Action"])) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    all_actions = {a for st in statements.values() for a in as_list(st["Action"])}
    assert "cloudwatch:PutMetricData" not in all_actions  # metrics are EMF, written through logs


def test_text_memory(resources):
    props = resources["TextFunction"]["Properties"]
    assert 1769 <= props.get("MemorySize", 1769) <= 3008  # the encoder wants a whole vCPU


def test_multimodal_reads_imaging_uploads(resources):
    statements = {st["Sid"]: st for name, st in _statements(resources) if name == "MultimodalFunction"}
    # images named by image_s3_uri are read, never written
    assert set(as_list(statements["ReadImagingUploads"]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statements["ReadImagingUploads"]["Resource"]["Fn::Sub"][0].endswith("/uploads/imaging/*")


# ---------------------------------------------------------------------------------------------------
# API, alarms, outputs
# ---------------------------------------------------------------------------------------------------


def test_http_api(resources):
    api = resources["HttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    props = api["Properties"]
    assert props["StageName"] == "$default"
    assert "CorsConfiguration" not in props
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    dest = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"]
    assert resources[dest[0]]["Type"] == "AWS::Logs::LogGroup"
    log_format = props["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format and "$context.routeKey" in log_format
    # Privacy: no raw path (carries path parameters), query string or body in the access log.
    for leaky in ("$context.path", "$context.requestBody", "querystring"):
        assert leaky not in log_format


def test_alarms_notify_the_topic(resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    dlq = resources["TabularDeadLetterAlarm"]["Properties"]
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["TabularDeadLetterQueue", "QueueName"]}
    assert dlq["Threshold"] == 1 and dlq["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    errors = [a["Properties"] for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"]
    assert any(d["Value"] == {"Ref": "TabularFunction"} for a in errors for d in a["Dimensions"])
    integrity = [a["Properties"] for a in alarms.values() if "ModelIntegrityFailure" in str(a["Properties"])]
    assert len(integrity) == 1 and "medserve" in str(integrity[0])
    audit = resources["AuditWriteFailuresAlarm"]["Properties"]
    assert audit["Metrics"][0]["Expression"] == "SELECT SUM(AuditWriteFailures) FROM medserve"
    sub = resources["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail" and sub["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}


def test_parameters(template):
    params = template["Parameters"]
    for name in ("ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"):
        assert params[name]["Type"] == "Number" and params[name]["Default"] > 0, name
        assert params[name]["MinValue"] >= 1, name  # 0 would close the API, not throttle it
    assert params["ModelAlias"]["Default"] == "production"
    assert params["LogRetentionInDays"]["Default"] == 90
    assert 90 in params["LogRetentionInDays"]["AllowedValues"]
    assert params["UploadsExpirationInDays"]["Default"] == 7
    assert params["AlarmEmail"]["Default"] == ""


def test_outputs(template):
    expected = {
        "ApiUrl",
        "UploadsBucketName",
        "ModelsBucketName",
        "IdempotencyTableName",
        "TabularDeadLetterQueueUrl",
        "DataKeyArn",
        "AuditBucketName",
        "AccessLogsBucketName",
        "JwtIssuer",
        "JwtAudience",
    }
    assert expected <= set(template["Outputs"])
    assert references(template["Outputs"]["ApiUrl"], "HttpApi")


# ---------------------------------------------------------------------------------------------------
# ImagingFunction, the jobs table, and what every writer to the uploads bucket must send
# ---------------------------------------------------------------------------------------------------


def test_every_route_has_exactly_one_function(resources):
    # HTTP API routes are unique per API: two functions cannot both own GET /v1/health.
    seen: dict[tuple[str, str], str] = {}
    for name, fn in of_type(resources, "AWS::Serverless::Function").items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                route = (event["Properties"]["Method"], event["Properties"]["Path"])
                assert route not in seen, (route, seen.get(route), name)
                seen[route] = name


def test_imaging_knows_the_jobs_table(template, resources):
    env = resources["ImagingFunction"]["Properties"]["Environment"]["Variables"]
    assert env["JOBS_TABLE"] == {"Ref": "JobsTable"}
    assert "JobsTableName" in template["Outputs"]


def test_imaging_least_privilege(resources):
    statements = {st["Sid"]: st for name, st in _statements(resources) if name == "ImagingFunction"}

    def prefix(sid: str) -> str:
        return statements[sid]["Resource"]["Fn::Sub"][0].rsplit("}", 1)[1]

    assert set(as_list(statements["ReadImagingUploads"]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert prefix("ReadImagingUploads") == "/uploads/imaging/*"
    assert as_list(statements["PresignImagingUploads"]["Action"]) == ["s3:PutObject"]
    assert prefix("PresignImagingUploads") == "/uploads/imaging/*"
    assert as_list(statements["WriteImagingResults"]["Action"]) == ["s3:PutObject"]
    assert prefix("WriteImagingResults") == "/results/imaging/*"
    assert as_list(statements["ReadImagingResults"]["Action"]) == ["s3:GetObject"]
    assert prefix("ReadImagingResults") == "/results/imaging/*"
    assert set(as_list(statements["ReadDeidUploads"]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert prefix("ReadDeidUploads") == "/uploads/imaging-deid/*"
    assert as_list(statements["WriteDeidResults"]["Action"]) == ["s3:PutObject"]
    assert prefix("WriteDeidResults") == "/results/imaging-deid/*"
    assert as_list(statements["PresignDeidUploads"]["Action"]) == ["s3:PutObject"]
    assert prefix("PresignDeidUploads") == "/uploads/imaging-deid/*"
    assert as_list(statements["ReadDeidResults"]["Action"]) == ["s3:GetObject"]
    assert prefix("ReadDeidResults") == "/results/imaging-deid/*"
    assert set(as_list(statements["JobRecords"]["Action"])) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert statements["JobRecords"]["Resource"] == {"Fn::GetAtt": ["JobsTable", "Arn"]}
    kms = statements["UseDataKeyThroughServices"]
    assert set(as_list(kms["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    # Nothing of another modality's prefixes.
    text = str(statements)
    assert "tabular" not in text and "/uploads/*" not in text


def test_jobs_table(resources):
    table = resources["JobsTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    sse = props["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS" and sse["KMSMasterKeyId"] in DATA_KEY_REFS
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_writers_can_satisfy_the_uploads_bucket_policy(template, resources):
    """The bucket policy denies PutObject unless it asks for SSE-KMS with DataKey (IfExists: a missing
    header counts as another key). Functions are told the key so results and presigned PUTs name it."""
    statements = resources["UploadsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    other_key = next(s for s in statements if s["Sid"] == "DenyOtherKmsKey")
    required = other_key["Condition"]["StringNotEqualsIfExists"][
        "s3:x-amz-server-side-encryption-aws-kms-key-id"
    ]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DATA_KEY_ARN"] == required


# ---------------------------------------------------------------------------------------------------
# SageMaker offload: off by default, created from an image URI, IAM scoped to the endpoints
# ---------------------------------------------------------------------------------------------------


def test_offload_is_off_unless_configured(template, resources):
    params = template["Parameters"]
    for name in ("EndpointImageUri", "EndpointModelDataUrl", "RealtimeEndpointName", "AsyncEndpointName"):
        assert params[name]["Default"] == "", name
    conditions = template["Conditions"]
    assert conditions["CreateEndpoints"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EndpointImageUri"}, ""]}]}
    for name in (
        "SageMakerExecutionRole",
        "EndpointModel",
        "RealtimeEndpointConfig",
        "RealtimeEndpoint",
        "AsyncEndpointConfig",
        "AsyncEndpoint",
    ):
        assert resources[name]["Condition"] == "CreateEndpoints", name
    for name in ("AsyncSuccessTopic", "AsyncErrorTopic", "JobsFunction", "JobsFunctionLogGroup"):
        assert resources[name]["Condition"] == "HasAsync", name


def test_async_endpoint_writes_to_the_bucket_and_notifies_the_jobs_function(resources):
    config = resources["AsyncEndpointConfig"]["Properties"]
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert output["NotificationConfig"] == {
        "SuccessTopic": {"Ref": "AsyncSuccessTopic"},
        "ErrorTopic": {"Ref": "AsyncErrorTopic"},
    }
    assert output["KmsKeyId"] in DATA_KEY_REFS and config["KmsKeyId"] in DATA_KEY_REFS
    assert output["S3OutputPath"]["Fn::Sub"][0].endswith("/async-results/")
    events = resources["JobsFunction"]["Properties"]["Events"]
    assert {e["Properties"]["Topic"]["Ref"] for e in events.values() if e["Type"] == "SNS"} == {
        "AsyncSuccessTopic",
        "AsyncErrorTopic",
    }


def test_tabular_may_invoke_exactly_the_configured_endpoints(resources):
    props = resources["TabularFunction"]["Properties"]
    env = props["Environment"]["Variables"]
    assert env["MEDSERVE_REALTIME_ENDPOINT"]["Fn::If"][0] == "CreateEndpoints"
    assert env["MEDSERVE_ASYNC_ENDPOINT"]["Fn::If"][0] == "CreateEndpoints"
    conditional = {
        st["Fn::If"][1]["Sid"]: st["Fn::If"] for st in props["Policies"][0]["Statement"] if "Fn::If" in st
    }
    assert conditional["InvokeRealtimeEndpoint"][0] == "HasRealtime"
    assert conditional["InvokeAsyncEndpoint"][0] == "HasAsync"
    assert conditional["InvokeRealtimeEndpoint"][1]["Action"] == "sagemaker:InvokeEndpoint"
    arn = conditional["InvokeRealtimeEndpoint"][1]["Resource"]["Fn::Sub"][0]
    assert arn.endswith(":endpoint/${Name}")  # one endpoint, never endpoint/*
    assert conditional["StageAsyncInputs"][1]["Resource"]["Fn::Sub"][0].endswith("/async-inputs/tabular/*")


# ---------------------------------------------------------------------------------------------------
# Access control: JWT authorizer, per-route scopes, the Cognito issuer
# ---------------------------------------------------------------------------------------------------

_ALL_SCOPES = {
    "medserve/tabular",
    "medserve/imaging",
    "medserve/text",
    "medserve/recommend",
    "medserve/multimodal",
    "medserve/admin",
}
# A token needs ANY ONE of a route's scopes. GET /v1/health is the one open route.
ROUTE_SCOPES: dict[str, set[str]] = {
    "GET /v1/models": _ALL_SCOPES,
    "GET /v1/models/{name}": _ALL_SCOPES,
    "GET /v1/openapi.json": _ALL_SCOPES,
    "POST /v1/tabular/predict": {"medserve/tabular"},
    "POST /v1/imaging/predict": {"medserve/imaging"},
    "POST /v1/imaging/deidentify": {"medserve/imaging"},
    "POST /v1/uploads": {"medserve/imaging"},
    "GET /v1/jobs/{id}": {"medserve/imaging", "medserve/tabular"},
    "POST /v1/text/predict": {"medserve/text"},
    "POST /v1/text/deidentify": {"medserve/text"},
    "POST /v1/monitoring/ground-truth": {"medserve/admin"},
    "POST /v1/recommend/treatment": {"medserve/recommend"},
    "POST /v1/multimodal/predict": {"medserve/multimodal"},
}
OPEN_ROUTES = {"GET /v1/health"}


def _http_events(resources) -> dict[str, dict[str, Any]]:
    """Route key ("GET /v1/models") -> the HttpApi event's Properties, over every function."""
    routes: dict[str, dict[str, Any]] = {}
    for fn in of_type(resources, "AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                routes[f"{props['Method']} {props['Path']}"] = props
    return routes


def test_every_route_has_its_scopes(resources):
    routes = _http_events(resources)
    assert set(routes) == set(ROUTE_SCOPES) | OPEN_ROUTES
    for route in OPEN_ROUTES:
        assert routes[route]["Auth"] == {"Authorizer": "NONE"}, route
    for route, scopes in ROUTE_SCOPES.items():
        auth = routes[route]["Auth"]
        # Only scopes: the route uses the API's DefaultAuthorizer (never NONE, never another one).
        assert set(auth) == {"AuthorizationScopes"}, route
        assert len(auth["AuthorizationScopes"]) == len(scopes), route
        assert set(auth["AuthorizationScopes"]) == scopes, route


def test_http_api_jwt_authorizer(resources):
    auth = resources["HttpApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "MedserveJwt"
    assert set(auth["Authorizers"]) == {"MedserveJwt"}
    jwt = auth["Authorizers"]["MedserveJwt"]
    assert jwt["IdentitySource"] == "$request.header.Authorization"
    config = jwt["JwtConfiguration"]
    condition, cognito_issuer, external_issuer = config["issuer"]["Fn::If"]
    assert condition == "UseCognito"
    assert cognito_issuer == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"}
    assert external_issuer == {"Ref": "OidcIssuerUrl"}
    # Cognito access tokens have no aud: API Gateway then checks client_id against the audience.
    assert config["audience"] == [
        {"Fn::If": ["UseCognito", {"Ref": "UserPoolClient"}, {"Ref": "OidcAudience"}]}
    ]


def test_oidc_parameters_conditions_and_rules(template):
    params = template["Parameters"]
    assert params["OidcIssuerUrl"]["Default"] == "" and params["OidcAudience"]["Default"] == ""
    assert params["OidcIssuerUrl"]["AllowedPattern"] == "^$|^https://.+"
    conditions = template["Conditions"]
    assert conditions["UseCognito"] == {"Fn::Equals": [{"Ref": "OidcIssuerUrl"}, ""]}
    assert conditions["UseExternalIdp"] == {"Fn::Not": [{"Condition": "UseCognito"}]}
    # An external issuer without an audience would accept that issuer's tokens for any client.
    rule = template["Rules"]["ExternalIssuerNeedsAudience"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OidcIssuerUrl"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OidcAudience"}, ""]}]}
    assert assertion["AssertDescription"]


def test_cognito_issuer(template, resources):
    cognito = {
        "UserPool": "AWS::Cognito::UserPool",
        "UserPoolResourceServer": "AWS::Cognito::UserPoolResourceServer",
        "UserPoolClient": "AWS::Cognito::UserPoolClient",
        "UserPoolDomain": "AWS::Cognito::UserPoolDomain",
    }
    for name, rtype in cognito.items():
        assert resources[name]["Type"] == rtype and resources[name]["Condition"] == "UseCognito", name

    pool = resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    password = pool["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(
        password[k] is True
        for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["DeletionProtection"] == "ACTIVE"

    server = resources["UserPoolResourceServer"]["Properties"]
    assert server["Identifier"] == "medserve"
    assert {s["ScopeName"] for s in server["Scopes"]} == {
        "tabular",
        "imaging",
        "text",
        "recommend",
        "multimodal",
        "admin",
    }
    full = {f"{server['Identifier']}/{s['ScopeName']}" for s in server["Scopes"]}
    assert full == _ALL_SCOPES

    client = resources["UserPoolClient"]
    props = client["Properties"]
    assert props["AllowedOAuthFlows"] == ["client_credentials"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True and props["GenerateSecret"] is True
    assert set(props["AllowedOAuthScopes"]) == _ALL_SCOPES
    assert "UserPoolResourceServer" in as_list(client["DependsOn"])  # scopes exist first
    minutes = {"minutes": 1, "hours": 60}[props["TokenValidityUnits"]["AccessToken"]]
    assert props["AccessTokenValidity"] * minutes <= 60  # short-lived tokens

    domain = resources["UserPoolDomain"]["Properties"]
    assert domain["UserPoolId"] == {"Ref": "UserPool"}
    sep, parts = domain["Domain"]["Fn::Join"]
    assert sep == "-" and parts[:2] == ["medserve", {"Ref": "AWS::AccountId"}]
    assert references(parts[2], "AWS::StackId")

    outputs = template["Outputs"]
    for name in ("UserPoolId", "UserPoolClientId", "TokenUrl"):
        assert outputs[name]["Condition"] == "UseCognito", name
    assert "/oauth2/token" in outputs["TokenUrl"]["Value"]["Fn::Sub"]
    assert outputs["JwtIssuer"]["Value"]["Fn::If"][0] == "UseCognito"


def test_functions_require_auth_and_know_the_audit_bucket(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MEDSERVE_REQUIRE_AUTH"] == "true"
    assert env["AUDIT_BUCKET"] == {"Ref": "AuditBucket"}


# ---------------------------------------------------------------------------------------------------
# Abuse resistance: concurrency caps
# ---------------------------------------------------------------------------------------------------


def test_every_function_has_reserved_concurrency(template, resources):
    functions = of_type(resources, "AWS::Serverless::Function")
    assert {"TabularFunction", "ImagingFunction", "TextFunction", "JobsFunction"} <= set(functions)
    params = template["Parameters"]
    for name, fn in functions.items():
        ref = fn["Properties"]["ReservedConcurrentExecutions"]["Ref"]
        assert params[ref]["Type"] == "Number", name
        assert 1 <= params[ref]["Default"] <= 100, name
        assert params[ref]["MinValue"] == 0, name  # 0 = stop the function (kill switch)
    assert functions["TabularFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "FunctionReservedConcurrency"
    }


# ---------------------------------------------------------------------------------------------------
# Audit trail: object-locked bucket, write-only for the functions
# ---------------------------------------------------------------------------------------------------


def test_audit_bucket_is_kms_versioned_tls_only_and_object_locked(template, resources):
    bucket = resources["AuditBucket"]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["ObjectLockEnabled"] is True
    lock = props["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": {"Ref": "AuditRetentionInDays"}}
    assert template["Parameters"]["AuditRetentionInDays"]["Default"] == 2192  # 6 years (HIPAA)
    expire = [r for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert [r["ExpirationInDays"] for r in expire] == [{"Ref": "AuditRetentionInDays"}]

    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "AuditBucket"}
    ]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    assert {"Fn::GetAtt": ["AuditBucket", "Arn"]} in tls["Resource"]
    # Same SSE-KMS rule as the uploads bucket: refuse a PutObject not asking for DataKey.
    other_key = statements["DenyOtherKmsKey"]["Condition"]["StringNotEqualsIfExists"]
    assert other_key["s3:x-amz-server-side-encryption-aws-kms-key-id"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    sse = statements["DenyOtherEncryption"]["Condition"]["StringNotEqualsIfExists"]
    assert sse["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert template["Outputs"]["AuditBucketName"]["Value"] == {"Ref": "AuditBucket"}


def test_functions_may_only_put_audit_records(resources):
    writers: dict[str, list[dict[str, Any]]] = {}
    for name, st in _statements(resources):
        if references(st.get("Resource"), "AuditBucket"):
            writers.setdefault(name, []).append(st)
    assert set(writers) == {
        "TabularFunction",
        "ImagingFunction",
        "TextFunction",
        "GatewayAuditFunction",
        "MonitorFunction",
        "RecommendFunction",
        "MultimodalFunction",
    }
    for name, statements in writers.items():
        (st,) = statements
        assert st["Effect"] == "Allow" and as_list(st["Action"]) == ["s3:PutObject"], name
        assert st["Resource"] == {"Fn::Sub": "${AuditBucket.Arn}/audit/*"}, name
        assert "Condition" not in st, name


def test_access_logs_bucket_takes_only_s3_log_delivery(resources):
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "AccessLogsBucket"}
    ]
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert len(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == 4  # uploads, models, audit, monitoring


def test_endpoint_container_has_no_network(resources):
    # SageMaker fetches the model and moves async inputs/outputs itself; the container needs none.
    assert resources["EndpointModel"]["Properties"]["EnableNetworkIsolation"] is True


def test_gateway_refusals_reach_the_audit_trail(resources):
    """The access log's 401/403 lines (requests no function saw) go to GatewayAuditFunction."""
    events = resources["GatewayAuditFunction"]["Properties"]["Events"]
    (subscription,) = events.values()
    assert subscription["Type"] == "CloudWatchLogs"
    assert subscription["Properties"]["LogGroupName"] == {"Ref": "HttpApiAccessLogGroup"}
    pattern = subscription["Properties"]["FilterPattern"]
    assert '$.status = "401"' in pattern and '$.status = "403"' in pattern
    # The fields medserve.security.gateway_audit reads are in the access log's format.
    fmt = resources["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    for field in ("requestId", "routeKey", "status", "integrationLatency", "clientId"):
        assert f'"{field}":' in fmt, field


def test_identifiers_found_in_any_log_group_page_someone(resources):
    """The data-protection policies' findings (LogEventsWithFindings) of every log group feed one
    alarm on the alarm topic."""
    alarm = resources["IdentifiersInLogsAlarm"]["Properties"]
    watched = {
        node["Ref"]
        for node in walk(alarm["Metrics"])
        if isinstance(node, dict) and isinstance(node.get("Ref"), str) and node["Ref"].endswith("LogGroup")
    }
    assert watched == set(of_type(resources, "AWS::Logs::LogGroup"))
    metrics = [n for n in walk(alarm["Metrics"]) if isinstance(n, dict) and n.get("MetricName")]
    assert metrics and all(
        m["Namespace"] == "AWS/Logs" and m["MetricName"] == "LogEventsWithFindings" for m in metrics
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["Threshold"] == 1
