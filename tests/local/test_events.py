"""Every sample event in events/, invoked through template.yaml as `sam local invoke` would."""

import base64
import json

import pytest
import yaml

from devtools.event_checks import check_response
from devtools.local.embedded import EmbeddedAWS
from devtools.local.invoke import Invoker
from devtools.local.template import Template
from tests.helpers import REPO, medserve_invoke

MANIFEST = yaml.safe_load((REPO / "events" / "manifest.yaml").read_text())


def test_every_event_is_in_the_manifest():
    on_disk = {p.name for p in (REPO / "events").glob("*.json")}
    assert on_disk == set(MANIFEST)


@pytest.fixture(scope="module")
def stack():
    template = Template.load(REPO / "template.yaml")
    invoker = Invoker(template)
    with EmbeddedAWS(template, invoker) as aws:
        yield invoker, aws


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_event_through_the_template(stack, name):
    invoker, aws = stack
    spec = MANIFEST[name]
    event = json.loads((REPO / "events" / name).read_text())
    s3 = aws.client("s3")
    bucket = aws.buckets["UploadsBucket"]
    if "s3_object" in spec:
        # the event names the embedded uploads bucket; put the object it refers to there first
        assert event["Records"][0]["s3"]["bucket"]["name"] == bucket
        s3.put_object(
            Bucket=bucket, Key=spec["s3_object"]["key"], Body=(REPO / spec["s3_object"]["file"]).read_bytes()
        )
    result = invoker.invoke(spec["function"], event)
    problems = check_response(spec, result, lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert problems == [], problems
    if name == "imaging_deidentify.json":  # the planted sample identifiers are gone from the file
        assert b"DOE^JANE" not in base64.b64decode(result["body"])
    if spec.get("result_key", "").startswith("results/imaging-deid/"):
        written = json.loads(s3.get_object(Bucket=bucket, Key=spec["result_key"])["Body"].read())
        deidentified = s3.get_object(Bucket=bucket, Key=written["result_file"]["key"])["Body"].read()
        assert b"DOE^JANE" not in deidentified and b"MRN-0000-SAMPLE" not in deidentified


def test_medserve_invoke_cli_prints_the_200_response():
    # the acceptance command, exactly as a user types it (offline: embedded AWS by default)
    response, printed = medserve_invoke("TabularFunction", "events/tabular_predict.json")
    assert response["statusCode"] == 200 and '"message":"tabular prediction"' in printed  # logs on stderr
    body = json.loads(response["body"])
    assert body["predictions"][0]["probability"] >= 0 and body["explanations"][0]["contributions"]


def test_medserve_invoke_seeds_the_object_a_sample_s3_event_names():
    """The README's `medserve invoke TabularFunction --event events/s3_tabular_upload.json`: the
    object of events/manifest.yaml is in the embedded S3 first (before: it was not, and the
    invoke failed reading it)."""
    for function, event in (("TabularFunction", "events/s3_tabular_upload.json"),):
        response, _ = medserve_invoke(function, event)
        assert response["processed"] == 1 and response["outcomes"][0]["status"] == "succeeded", response
