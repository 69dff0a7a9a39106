"""A tiny fake stack (template + two functions + a layer) for the devtools.local tests.

The fakes do not import medserve, so these tests exercise the local tooling, not the model code.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ECHO_APP = '''
"""Echo function: answers with what it received, as seen from inside Lambda."""
import json
import os
import pathlib
import time

import echo_layer_helper  # lives in the layer: proves the layer is on sys.path

CALLS = 0
ENV_KEYS = [
    "SHARED", "ONLY_GLOBAL", "STAGE", "DATA_BUCKET", "TABLE", "QUEUE", "OVERRIDDEN",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER", "AWS_SAM_LOCAL", "LAMBDA_TASK_ROOT",
]


def lambda_handler(event, context):
    global CALLS
    CALLS += 1
    print("noise on stdout from the handler")  # must never reach medserve invoke's stdout
    if event.get("raise") or event.get("rawPath") == "/v1/explode":
        raise ValueError("boom")
    if event.get("rawPath") == "/v1/items/slow":
        # Holds its execution environment until the test says so (a file appears), at most 30 s.
        flag = pathlib.Path(os.environ["OUT_DIR"]) / "release-slow"
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"statusCode": 200, "body": "slow done"}
    if "Records" in event:
        if any("explode" in r["s3"]["object"]["key"] for r in event["Records"]):
            raise RuntimeError("cannot read the object")  # as a handler whose GetObject fails
        out = pathlib.Path(os.environ["OUT_DIR"]) / "s3-events.jsonl"
        with out.open("a") as fh:
            fh.write(json.dumps(event) + "\\n")
        return {"delivered": len(event["Records"])}
    if event.get("rawPath") == "/v1/binary":
        return {
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-extra": "1"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "iVBORw0KGgo=",  # base64 of the PNG signature
            "isBase64Encoded": True,
        }
    if event.get("unserialisable"):
        return {"value": object()}
    answer = {
        "event": event,
        "calls": CALLS,
        "helper": echo_layer_helper.VALUE,
        "cwd": os.getcwd(),
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    if "requestContext" in event:
        headers = {"content-type": "application/json"}
        return {"statusCode": 200, "headers": headers, "body": json.dumps(answer)}
    return answer
'''

OTHER_APP = """
def lambda_handler(event, context):
    return {"statusCode": 200, "body": "other:" + __name__}
"""

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: python3.13
    Timeout: 30
    MemorySize: 512
    Environment:
      Variables:
        SHARED: from-globals
        ONLY_GLOBAL: !Sub '${{Stage}}-${{AWS::Region}}'
        STAGE: !Ref Stage
        DATA_BUCKET: !Join ['-', [data, !Ref AWS::AccountId, !Ref AWS::Region]]
Resources:
  DataBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Join ['-', [data, !Ref AWS::AccountId, !Ref AWS::Region]]
      VersioningConfiguration:
        Status: Enabled
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
      KeySchema: [{{AttributeName: id, KeyType: HASH}}]
      TimeToLiveSpecification: {{AttributeName: expiration, Enabled: true}}
  Queue:
    Type: AWS::SQS::Queue
  HelperLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.lambda_handler
      MemorySize: 1024
      Layers:
        - !Ref HelperLayer
        - arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:7
      Environment:
        Variables:
          SHARED: from-function
          TABLE: !Ref Table
          QUEUE: !GetAtt Queue.QueueName
          OVERRIDDEN: template
          OUT_DIR: {out_dir}
      Events:
        Predict:
          Type: HttpApi
          Properties: {{Method: POST, Path: /v1/echo/predict}}
        Item:
          Type: HttpApi
          Properties: {{Method: GET, Path: '/v1/items/{{id}}'}}
        SpecialItem:
          Type: HttpApi
          Properties: {{Method: GET, Path: /v1/items/special}}
        Files:
          Type: HttpApi
          Properties: {{Method: GET, Path: '/v1/files/{{path+}}'}}
        Binary:
          Type: HttpApi
          Properties: {{Method: GET, Path: /v1/binary}}
        Explode:
          Type: HttpApi
          Properties: {{Method: ANY, Path: /v1/explode}}
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref DataBucket
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {{Name: prefix, Value: uploads/echo/}}
                  - {{Name: suffix, Value: .csv}}
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: app.lambda_handler
      Events:
        Other:
          Type: HttpApi
          Properties: {{Method: get, Path: /v1/other}}
"""


def make_stack(root: Path) -> Path:
    """Write the fake stack under ``root``; return the template path."""
    for directory in ("echo", "other", "layer/python", "out", "events"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "echo" / "app.py").write_text(textwrap.dedent(ECHO_APP))
    (root / "other" / "app.py").write_text(textwrap.dedent(OTHER_APP))
    (root / "layer" / "echo_layer_helper.py").write_text("VALUE = 'from-layer'\n")
    (root / "events" / "echo_predict.json").write_text(
        '{"version": "2.0", "body": "{\\"records\\": [1, 2]}"}'
    )
    template = root / "template.yaml"
    template.write_text(TEMPLATE.format(out_dir=root / "out"))
    return template


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """Template path of a fresh fake stack."""
    return make_stack(tmp_path)
