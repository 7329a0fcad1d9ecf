"""Encrypted EFS scratch space for multi-node MPI jobs, mounted at /efs with TLS and IAM authorization."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from constructs import Construct

MOUNT_PATH = "/efs"
SCRATCH_PATH = "/scratch"
WORKER_UID = "1000"  # the non-root user of the worker image (containers/gradient_worker/Dockerfile)


class SharedScratch(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> None:
        super().__init__(scope, construct_id)
        self.file_system = efs.FileSystem(
            self,
            "FileSystem",
            vpc=vpc,
            vpc_subnets=subnets,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            lifecycle_policy=efs.LifecyclePolicy.AFTER_7_DAYS,
            allow_anonymous_access=False,
            enable_automatic_backups=False,  # scratch space: inputs live in S3, outputs go back to S3
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Jobs see only /scratch, as the worker's uid, whatever the image's user table says.
        self.access_point = self.file_system.add_access_point(
            "Scratch",
            path=SCRATCH_PATH,
            posix_user=efs.PosixUser(uid=WORKER_UID, gid=WORKER_UID),
            create_acl=efs.Acl(owner_uid=WORKER_UID, owner_gid=WORKER_UID, permissions="750"),
        )
