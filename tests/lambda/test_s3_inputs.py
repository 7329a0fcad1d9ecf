"""adapters.s3_inputs: what S3 (or botocore) says about an input's bucket and key becomes InvalidInput naming
the field; errors that are not the input's fault propagate for the caller to retry or report."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from adapters.s3_inputs import require_objects
from workloads.common.execution_input import InvalidInput


def _answering(code: str, status: int):
    client = boto3.client("s3", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("head_object", service_error_code=code, http_status_code=status)
    stub.activate()
    return client


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("404", 404, "not found: data_key s3://b/in.pt"),
        ("NoSuchBucket", 404, "data_key s3://b/in.pt: the bucket does not exist"),
        # S3 answers 403 for a missing key when the role may not list the bucket (the cosmicai validator's)
        ("403", 403, "not readable (missing, or this workflow's role may not read it): data_key s3://b/in.pt (403)"),
        ("InvalidBucketName", 400, "data_key s3://b/in.pt: S3 refuses it (InvalidBucketName)"),
    ],
)
def test_s3_answers_about_the_input_become_invalid_input(code, status, message):
    with pytest.raises(InvalidInput) as err:
        require_objects(_answering(code, status), "b", {"data_key": "in.pt"})
    assert str(err.value) == message


def test_what_botocore_refuses_to_send_is_invalid_input():
    client = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(InvalidInput, match="model.key s3://b/: not a valid S3 bucket name and key"):
        require_objects(client, "b", {"model.key": ""})


def test_errors_that_are_not_the_inputs_fault_propagate():
    with pytest.raises(ClientError, match="SlowDown"):
        require_objects(_answering("SlowDown", 503), "b", {"data_key": "in.pt"})
