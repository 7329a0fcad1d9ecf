"""Nothing lost, nothing hangs: versioned data, each role writing only the objects it makes, dead-letter
queues and alarms on every asynchronous path of the LSRTM-SGD workflow."""

from __future__ import annotations

import pytest

from stacks.config import AppConfig
from tests.workloads.lsrtm.test_layout import iam_match
from workloads.lsrtm import layout


@pytest.fixture(scope="module")
def resources(synthesized) -> dict:
    return synthesized.templates["BatchStack"].to_json()["Resources"]


def _data_bucket(resources) -> str:
    (logical_id,) = [k for k, v in resources.items()
                     if v["Type"] == "AWS::S3::Bucket" and "LoggingConfiguration" in v["Properties"]]
    return logical_id


def _statements_of_role(resources, role_id: str) -> list[dict]:
    return [s for p in resources.values() if p["Type"] == "AWS::IAM::Policy"
            and {"Ref": role_id} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _object_patterns(resources, role_id: str, action: str) -> set[str]:
    """Key patterns of the data bucket `action` is allowed on ('*' for the whole bucket)."""
    bucket = _data_bucket(resources)
    out = set()
    for statement in _statements_of_role(resources, role_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action not in actions:
            continue
        for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
            if isinstance(resource, dict) and "Fn::Join" in resource:
                head, tail = resource["Fn::Join"][1]
                assert head == {"Fn::GetAtt": [bucket, "Arn"]}, resource
                out.add(tail.removeprefix("/"))
    return out


def _role_of_handler(resources, folder: str) -> str:
    (fn,) = [v for v in resources.values() if v["Type"] == "AWS::Lambda::Function"
             and v["Properties"].get("ImageConfig", {}).get("Command", [""])[0] == f"{folder}.handler.handler"]
    return fn["Properties"]["Role"]["Fn::GetAtt"][0]


def _job_role(resources) -> str:
    roles = {v["Properties"]["ContainerProperties"]["JobRoleArn"]["Fn::GetAtt"][0]
             for v in resources.values() if v["Type"] == "AWS::Batch::JobDefinition"
             and v["Properties"].get("Type") == "container"}
    (role,) = roles
    return role


def test_the_data_bucket_keeps_overwritten_and_deleted_objects_for_the_configured_days(resources):
    bucket = resources[_data_bucket(resources)]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    days = AppConfig.parse({}).batch.noncurrent_version_days
    assert {"NoncurrentVersionExpiration": {"NoncurrentDays": days}, "ExpiredObjectDeleteMarker": True,
            "Status": "Enabled"} in bucket["LifecycleConfiguration"]["Rules"]


# who writes which kinds of object: each component's real keys, from the layout's key functions
WRITES = {
    "job": [layout.partial_gradient_key("r", 1, 2), layout.partial_summary_key("r", 1, 2)],
    "lsrtm_validate_input": [layout.parameters_key("r")],
    "lsrtm_submit_gradient_job": [layout.manifest_key("r", 1)],
    "lsrtm_reduce_gradients": [layout.accumulator_key("r", 1), layout.image_key("r", 1), layout.result_key("r", 1)],
    "lsrtm_gradient_job_failed": [],
    "lsrtm_clean_up": [layout.report_key("r")],
}
EVERY_KEY = {"models/m.npz", "data/shot_0.segy", *(k for keys in WRITES.values() for k in keys)}


@pytest.mark.parametrize("writer", list(WRITES))
def test_each_role_may_write_the_keys_it_makes_and_no_other(resources, writer):
    role = _job_role(resources) if writer == "job" else _role_of_handler(resources, writer)
    patterns = _object_patterns(resources, role, "s3:PutObject")
    writable = {key for key in EVERY_KEY if any(iam_match(p, key) for p in patterns)}
    assert writable == set(WRITES[writer])


def test_clean_up_deletes_only_intermediate_objects(resources):
    patterns = _object_patterns(resources, _role_of_handler(resources, "lsrtm_clean_up"), "s3:DeleteObject")
    assert patterns == {layout.PARTIAL_PATTERN, layout.ACCUMULATOR_PATTERN}


def test_every_event_target_has_a_dead_letter_queue_and_its_function_an_on_failure_destination(resources):
    rules = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Events::Rule"
             and "LsrtmWorkflow" in str(v["Properties"]["Targets"])]
    assert len(rules) == 2
    invoke_configs = {v["Properties"]["FunctionName"]["Ref"]: v["Properties"] for v in resources.values()
                      if v["Type"] == "AWS::Lambda::EventInvokeConfig"}
    for rule in rules:
        (target,) = rule["Targets"]
        dead_letters = target["DeadLetterConfig"]["Arn"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        config = invoke_configs[target["Arn"]["Fn::GetAtt"][0]]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letters


def test_both_dead_letter_queues_alarm_on_their_first_message(resources):
    dlqs = {k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in v["Properties"]
            and ("dlq" in str(v["Properties"].get("QueueName", "")))}
    assert len(dlqs) == 2
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    watched = set()
    for alarm in alarms:
        if alarm.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"], "an alarm nobody hears"
        (dimension,) = alarm["Dimensions"]
        watched.add(dimension["Value"]["Fn::GetAtt"][0])
    assert watched == dlqs


def test_the_reducer_can_set_messages_aside_in_the_dead_letter_queue(resources):
    role = _role_of_handler(resources, "lsrtm_reduce_gradients")
    sends = [s for s in _statements_of_role(resources, role) if "sqs:SendMessage" in s["Action"]]
    assert sends and all("DeadLetters" in str(s["Resource"]) for s in sends)
