"""An S3 bucket that is private, encrypted, TLS-only and access-logged, or an existing bucket by name.

With `noncurrent_version_days` it is also versioned, for data a bug or a wrong key must not destroy
(inputs, manifests, images): an overwritten or deleted object stays recoverable that many days, then
expires, so transient objects (82 MB partial gradients, deleted after every run) do not pile up."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge


class SecureBucket(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_bucket_name: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        noncurrent_version_days: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if existing_bucket_name:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Existing", existing_bucket_name)
            return
        common = dict(
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            versioned=False,  # logs are only appended
            **common,
        )
        acknowledge(self.access_logs, "AwsSolutions-S1", "this bucket receives the access logs of its sibling; logging it would recurse")
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="access-logs/",
            versioned=noncurrent_version_days is not None,
            lifecycle_rules=[
                # partial gradients are transient; abandoned multipart uploads cost money while invisible
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(2)),
                *([s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    expired_object_delete_marker=True,  # a delete marker with nothing left under it
                )] if noncurrent_version_days is not None else []),
            ],
            **common,
        )
