"""One Ray node of the testbed: an EC2 instance booted by the generated script of its topology node.

Amazon Linux 2023 (from the public SSM parameter, so synth needs no lookup), IMDSv2 only, an encrypted
gp3 root volume sized for the node (the original's shared ``diskSize`` variable leaked the largest
size to every node), detailed monitoring, no key pair and no public address. A change to the boot
script replaces the instance, since user data runs only at first boot.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.nag import acknowledge

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023


class RayNode(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        instance_type: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        role: iam.IRole,
        boot_script: str,
        volume_gib: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.instance = ec2.Instance(
            self,
            "Instance",
            instance_name=name,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            role=role,
            user_data=ec2.UserData.custom(boot_script),
            user_data_causes_replacement=True,
            require_imdsv2=True,
            detailed_monitoring=True,
            associate_public_ip_address=False,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        volume_gib, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
                    ),
                )
            ],
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "testbed nodes are disposable by design (cdk destroy after an experiment); data lives on the EFS "
            "share, and termination protection would block the teardown",
        )
