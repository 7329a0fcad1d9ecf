"""An S3 bucket that is private, encrypted, TLS-only, access-logged and versioned, or an existing bucket by name.

Versioned because a bug or a wrong key must not destroy inputs, manifests or images: an overwritten or
deleted object stays recoverable for `noncurrent_version_days`, then expires (partial gradients are
82 MB each and are deleted after every run)."""

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
        noncurrent_version_days: int = 30,
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
            versioned=True,
            lifecycle_rules=[
                # partial gradients are transient; abandoned multipart uploads cost money while invisible
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(2)),
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    expired_object_delete_marker=True,  # a delete marker with nothing left under it
                ),
            ],
            **common,
        )
