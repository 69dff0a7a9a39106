"""devtools.local.template: CloudFormation YAML, local intrinsic resolution, FunctionSpec."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from devtools.local.template import (
    FunctionSpec,
    S3Trigger,
    Template,
    TemplateError,
    UnresolvableError,
    load_yaml,
    local_name,
)
from tests.helpers import REPO

SMALL = """
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Stage: {Type: String, Default: dev}
  NoDefault: {Type: String}
  Count: {Type: Number, Default: 3}
  Zones: {Type: CommaDelimitedList, Default: 'a,b,c'}
Mappings:
  Sizes:
    dev: {Memory: 256}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Count, 3]]
  Either: !Or [!Condition IsProd, !Equals [x, y]]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Table:
    Type: AWS::DynamoDB::Table
  Queue:
    Type: AWS::SQS::Queue
  FifoQueue:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Topic:
    Type: AWS::SNS::Topic
  Thing:
    Type: AWS::Custom::Thing
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
"""


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Template:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    path = tmp_path / "template.yaml"
    path.write_text(SMALL)
    return Template.load(path)


# ------------------------------------------------------------------------------------- YAML


def test_short_form_tags_become_long_form(tmp_path: Path) -> None:
    # GIVEN every shape of short-form tag: scalar, sequence, mapping, nested, dotted GetAtt
    path = tmp_path / "t.yaml"
    path.write_text(
        """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  R:
    Type: X
    Properties:
      A: !Ref P
      B: !GetAtt Res.Arn
      C: !Sub 'x-${P}'
      D: !Join ['-', [a, !Select [0, !Split [',', 'p,q']]]]
      E: !If [Cond, !Base64 yes, !Ref AWS::NoValue]
      F: !FindInMap [M, K, V]
      G: !ImportValue Shared
      H: !Condition Cond
      I: !GetAtt [Res, Name]
"""
    )
    # WHEN it is loaded
    props = load_yaml(path)["Resources"]["R"]["Properties"]
    # THEN each tag is its long-form dict, and the date stays a string as CloudFormation reads it
    assert props["A"] == {"Ref": "P"}
    assert props["B"] == {"Fn::GetAtt": ["Res", "Arn"]}
    assert props["C"] == {"Fn::Sub": "x-${P}"}
    assert props["D"] == {"Fn::Join": ["-", ["a", {"Fn::Select": [0, {"Fn::Split": [",", "p,q"]}]}]]}
    assert props["E"] == {"Fn::If": ["Cond", {"Fn::Base64": "yes"}, {"Ref": "AWS::NoValue"}]}
    assert props["F"] == {"Fn::FindInMap": ["M", "K", "V"]}
    assert props["G"] == {"Fn::ImportValue": "Shared"}
    assert props["H"] == {"Condition": "Cond"}
    assert props["I"] == {"Fn::GetAtt": ["Res", "Name"]}
    assert load_yaml(path)["AWSTemplateFormatVersion"] == "2010-09-09"


def test_missing_or_broken_template_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read"):
        Template.load(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("Resources: [unclosed")
    with pytest.raises(TemplateError, match="not valid YAML"):
        Template.load(tmp_path / "bad.yaml")


# ------------------------------------------------------------------------------- resolution


def test_ref_parameters_use_defaults_and_overrides(small: Template, tmp_path: Path) -> None:
    assert small.resolve({"Ref": "Stage"}) == "dev"
    assert small.resolve({"Ref": "NoDefault"}) == ""
    assert small.resolve({"Ref": "Count"}) == "3"  # parameter values are strings
    assert small.resolve({"Ref": "Zones"}) == ["a", "b", "c"]
    overridden = Template.load(tmp_path / "template.yaml", parameter_overrides={"Stage": "prod"})
    assert overridden.resolve({"Ref": "Stage"}) == "prod"
    assert overridden.condition("IsProd") is True


def test_ref_pseudo_parameters(small: Template, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert small.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert small.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert small.resolve({"Ref": "AWS::StackName"}) == "medserve-local"
    assert small.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert small.resolve({"Ref": "AWS::StackId"}) == (
        "arn:aws:cloudformation:eu-west-1:123456789012:stack/medserve-local/00000000-0000-0000-0000-000000000000"
    )


def test_ref_resources_give_local_names(small: Template) -> None:
    assert small.resolve({"Ref": "Bucket"}) == "medserve-local-bucket" == local_name("Bucket")
    assert small.resolve({"Ref": "Table"}) == "medserve-local-table"
    assert small.resolve({"Ref": "Thing"}) == "medserve-local-thing"
    # CloudFormation's Ref of a queue is its URL and of a topic its ARN: boto3 code needs those
    assert (
        small.resolve({"Ref": "Queue"})
        == "https://sqs.us-east-1.amazonaws.com/123456789012/medserve-local-queue"
    )
    assert small.resolve({"Ref": "Topic"}) == "arn:aws:sns:us-east-1:123456789012:medserve-local-topic"
    assert small.physical_name("FifoQueue") == "medserve-local-fifoqueue.fifo"
    with pytest.raises(TemplateError, match="unknown"):
        small.resolve({"Ref": "Nope"})


def test_local_names_are_valid_bucket_names() -> None:
    name = local_name("A" * 80)
    assert len(name) <= 63 and name == name.lower() and name.startswith("medserve-local-")
    assert local_name("A" * 80) != local_name("A" * 81)


def test_get_att(small: Template) -> None:
    assert small.resolve({"Fn::GetAtt": ["Bucket", "Arn"]}) == "arn:aws:s3:::medserve-local-bucket"
    assert small.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/medserve-local-table"
    )
    assert small.resolve({"Fn::GetAtt": ["Queue", "QueueName"]}) == "medserve-local-queue"
    assert small.resolve({"Fn::GetAtt": "Thing.Endpoint.Address"}) == "medserve-local-thing-endpoint-address"


def test_sub_both_forms(small: Template) -> None:
    assert small.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Bucket}"}) == (
        "medserve-local-dev-medserve-local-bucket"
    )
    assert small.resolve({"Fn::Sub": "${Bucket.Arn}/*"}) == "arn:aws:s3:::medserve-local-bucket/*"
    assert small.resolve({"Fn::Sub": "literal ${!NotAVariable}"}) == "literal ${NotAVariable}"
    assert small.resolve({"Fn::Sub": ["${Name}:${Stage}", {"Name": {"Ref": "Table"}}]}) == (
        "medserve-local-table:dev"
    )


def test_join_select_split(small: Template) -> None:
    stack_uuid = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    expression = {"Fn::Join": ["-", ["x", {"Fn::Select": [0, {"Fn::Split": ["-", stack_uuid]}]}]]}
    assert small.resolve(expression) == "x-00000000"
    assert small.resolve({"Fn::Select": ["1", {"Ref": "Zones"}]}) == "b"
    assert small.resolve({"Fn::Join": ["", [{"Ref": "Count"}, 1, True]]}) == "31true"


def test_conditions_and_if(small: Template) -> None:
    assert small.condition("IsProd") is False
    assert small.condition("IsDev") is True
    assert small.condition("Both") is True
    assert small.condition("Either") is False
    assert small.resolve({"Fn::If": ["IsDev", "yes", "no"]}) == "yes"
    # AWS::NoValue removes the key (or list item) it stands for
    value = {"A": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]}, "B": [1, {"Ref": "AWS::NoValue"}]}
    assert small.resolve(value) == {"B": [1]}
    # a resource whose condition is false is not created
    assert "ProdOnly" not in small.resources_of_type("AWS::S3::Bucket")


def test_find_in_map_base64_and_import_value(small: Template) -> None:
    assert small.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 256
    assert base64.b64decode(small.resolve({"Fn::Base64": "hi"})) == b"hi"
    with pytest.raises(UnresolvableError):
        small.resolve({"Fn::ImportValue": "SharedVpc"})


# -------------------------------------------------------------------------------- functions


def test_function_spec_fields(stack: Path) -> None:
    # GIVEN the fake stack (Globals + two functions, a layer, HttpApi and S3 events)
    template = Template.load(stack)
    # WHEN its functions are listed
    specs = template.functions()
    echo = specs["EchoFunction"]
    # THEN each field is resolved, Globals merged, paths absolute
    assert set(specs) == {"EchoFunction", "OtherFunction"}
    assert isinstance(echo, FunctionSpec)
    assert echo.handler == "app.lambda_handler"
    assert echo.code_uri == stack.parent / "echo" and echo.code_uri.is_absolute()
    assert (echo.runtime, echo.timeout, echo.memory_size) == ("python3.13", 30, 1024)
    assert specs["OtherFunction"].memory_size == 512  # from Globals
    assert echo.layers == [stack.parent / "layer"]
    assert echo.external_layers == [
        "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:7"
    ]
    assert ("POST", "/v1/echo/predict") in echo.http_routes
    assert ("GET", "/v1/items/{id}") in echo.http_routes
    assert ("ANY", "/v1/explode") in echo.http_routes
    assert specs["OtherFunction"].http_routes == [("GET", "/v1/other")]  # method upper-cased
    assert echo.s3_triggers == [
        S3Trigger("DataBucket", ("s3:ObjectCreated:*",), prefix="uploads/echo/", suffix=".csv")
    ]


def test_function_environment_merges_globals_and_maps_names(stack: Path) -> None:
    env = Template.load(stack).functions()["EchoFunction"].environment
    assert env["SHARED"] == "from-function"  # the function's own value wins over Globals
    assert env["ONLY_GLOBAL"] == "dev-us-east-1"
    assert env["STAGE"] == "dev"
    assert env["TABLE"] == "medserve-local-table"
    assert env["QUEUE"] == "medserve-local-queue"
    # the same expression as DataBucket's BucketName: locally, the bucket's local name
    assert env["DATA_BUCKET"] == "medserve-local-databucket"


def test_environment_value_equal_to_a_resolved_bucket_name_maps_too(tmp_path: Path) -> None:
    # GIVEN a bucket named with !Join and an env var spelling the same name with !Sub
    (tmp_path / "t.yaml").write_text(
        """
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Join ['-', [up, !Ref AWS::AccountId]]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          UPLOADS: !Sub 'up-${AWS::AccountId}'
          ELSEWHERE: !ImportValue Shared
"""
    )
    spec = Template.load(tmp_path / "t.yaml").function("Fn")
    assert spec.environment == {"UPLOADS": "medserve-local-uploads"}
    assert spec.unresolved_environment == ["ELSEWHERE"]
    assert spec.code_uri == tmp_path  # no CodeUri: the template's directory


def test_unknown_function_names_the_known_ones(stack: Path) -> None:
    with pytest.raises(TemplateError, match="EchoFunction, OtherFunction"):
        Template.load(stack).function("Nope")


# ------------------------------------------------------------------------ the real template


@pytest.fixture
def real_template() -> Template:
    path = REPO / "template.yaml"
    if not path.exists():
        pytest.skip("template.yaml is not written yet")
    return Template.load(path)


def test_real_template_tabular_function(real_template: Template) -> None:
    spec = real_template.function("TabularFunction")
    assert ("POST", "/v1/tabular/predict") in spec.http_routes
    assert ("GET", "/v1/health") in spec.http_routes
    assert (spec.code_uri / "app.py").is_file()
    assert all(layer.is_dir() for layer in spec.layers)
    uploads = [t for t in spec.s3_triggers if t.prefix == "uploads/tabular/"]
    assert uploads and real_template.resource_type(uploads[0].bucket_logical_id) == "AWS::S3::Bucket"


def test_real_template_bucket_env_vars_name_the_local_buckets(real_template: Template) -> None:
    env: dict[str, Any] = real_template.function("TabularFunction").environment
    buckets = {real_template.physical_name(b) for b in real_template.resources_of_type("AWS::S3::Bucket")}
    for variable in ("UPLOADS_BUCKET", "MODELS_BUCKET"):
        if variable in env:
            assert env[variable] in buckets, variable
