"""The IAM evaluator the local cloud authorizes every call with (localcloud/services/iam_policy.py)."""

from __future__ import annotations

import pytest

from localcloud.services.iam_policy import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    denial_message,
    evaluate,
    unsupported_operators,
)

BUCKET = "arn:aws:s3:::data"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


RUNS_ONLY = policy(allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET}/runs/*"))


@pytest.mark.parametrize(("action", "resource", "outcome"), [
    ("s3:PutObject", f"{BUCKET}/runs/a/b.npy", ALLOWED),
    ("s3:putobject", f"{BUCKET}/runs/a/b.npy", ALLOWED),  # actions are case-insensitive
    ("s3:PutObject", f"{BUCKET}/examples/a.segy", IMPLICIT_DENY),  # a prefix the role cannot write
    ("s3:DeleteObject", f"{BUCKET}/runs/a", IMPLICIT_DENY),  # an action not granted
    ("s3:PutObject", "arn:aws:s3:::data-other/runs/x", IMPLICIT_DENY),
    ("s3:PutObject", f"{BUCKET}/RUNS/x", IMPLICIT_DENY),  # resources are case-sensitive
])
def test_action_and_resource_wildcards(action, resource, outcome):
    assert evaluate([RUNS_ONLY], action, resource).outcome == outcome


def test_question_mark_matches_one_character_and_dots_are_literal():
    p = policy(allow("sqs:Send?essage", "arn:aws:sqs:us-east-1:1:q.fifo"))
    assert evaluate([p], "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q.fifo").allowed
    assert not evaluate([p], "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:qxfifo").allowed


def test_an_explicit_deny_wins_over_any_allow_in_any_policy():
    deny = policy({"Effect": "Deny", "Action": "s3:*", "Resource": f"{BUCKET}/runs/secret/*"})
    assert evaluate([RUNS_ONLY, deny], "s3:GetObject", f"{BUCKET}/runs/secret/x").outcome == EXPLICIT_DENY
    assert evaluate([RUNS_ONLY, deny], "s3:GetObject", f"{BUCKET}/runs/open/x").outcome == ALLOWED


def test_not_action_and_not_resource():
    p = policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/private/*"})
    assert evaluate([p], "s3:GetObject", f"{BUCKET}/x").allowed
    assert not evaluate([p], "iam:PassRole", "arn:aws:iam::1:role/r").allowed
    assert not evaluate([p], "s3:GetObject", f"{BUCKET}/private/x").allowed


def test_string_like_condition_on_the_request_context():
    p = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["runs/*"]}}))
    assert evaluate([p], "s3:ListBucket", BUCKET, {"s3:prefix": "runs/e2e/"}).allowed
    assert not evaluate([p], "s3:ListBucket", BUCKET, {"s3:prefix": "examples/"}).allowed
    assert not evaluate([p], "s3:ListBucket", BUCKET, {}).allowed  # no prefix: the key is missing


def test_arn_equals_null_and_if_exists():
    cluster = "arn:aws:ecs:us-east-2:1:cluster/nodes"
    p = policy(allow("ecs:StopTask", "*", Condition={"ArnEquals": {"ecs:cluster": cluster}}))
    assert evaluate([p], "ecs:StopTask", "arn:aws:ecs:us-east-2:1:task/nodes/1", {"ecs:cluster": cluster}).allowed
    assert not evaluate([p], "ecs:StopTask", "t", {"ecs:cluster": cluster + "-other"}).allowed
    tagged = policy(allow("batch:TerminateJob", "*", Condition={"Null": {"aws:ResourceTag/run_id": "false"}}))
    assert evaluate([tagged], "batch:TerminateJob", "j", {"aws:ResourceTag/run_id": "r1"}).allowed
    assert not evaluate([tagged], "batch:TerminateJob", "j", {}).allowed
    lenient = policy(allow("s3:ListBucket", BUCKET, Condition={"StringLikeIfExists": {"s3:prefix": "runs/*"}}))
    assert evaluate([lenient], "s3:ListBucket", BUCKET, {}).allowed


def test_an_unknown_operator_never_grants_and_is_reported():
    p = policy(allow("s3:GetObject", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}))
    assert not evaluate([p], "s3:GetObject", f"{BUCKET}/x", {"aws:CurrentTime": "2030-01-01"}).allowed
    assert unsupported_operators([p]) == {"DateGreaterThan"}


def test_an_unknown_resource_is_checked_on_the_action_alone():
    p = policy(allow("ec2:DescribeInstances", "arn:aws:ec2:us-west-2:1:instance/*"))
    assert evaluate([p], "ec2:DescribeInstances", None).allowed
    assert not evaluate([p], "ec2:TerminateInstances", None).allowed


def test_no_policy_means_implicit_deny_and_the_message_reads_like_aws():
    decision = evaluate([], "logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s")
    assert decision.outcome == IMPLICIT_DENY
    message = denial_message("arn:aws:sts::1:assumed-role/FnRole/local", "logs:PutLogEvents",
                             "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s", decision)
    assert message == ("User: arn:aws:sts::1:assumed-role/FnRole/local is not authorized to perform: "
                       "logs:PutLogEvents on resource: arn:aws:logs:us-east-1:1:log-group:g:log-stream:s "
                       "because no identity-based policy allows the logs:PutLogEvents action")
