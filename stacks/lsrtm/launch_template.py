"""Launch template for Batch instances: CPU topology set by user data, IMDSv2, encrypted root volume.

Batch requires MIME multipart user data (it appends its own part). The CPU script offlines sibling
threads, and cores beyond the configured count, before the ECS agent starts.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

CPU_TOPOLOGY_SCRIPT = Path(__file__).parent / "user_data" / "cpu_topology.sh"
ROOT_DEVICE = "/dev/xvda"  # ECS-optimized Amazon Linux 2023


def render_cpu_topology_script(*, online_cpus: int, threads_per_core: int) -> str:
    if threads_per_core not in (1, 2) or online_cpus < 1:
        raise ValueError(f"bad CPU topology: online_cpus={online_cpus}, threads_per_core={threads_per_core}")
    return (
        CPU_TOPOLOGY_SCRIPT.read_text()
        .replace("__ONLINE_CPUS__", str(online_cpus))
        .replace("__THREADS_PER_CORE__", str(threads_per_core))
    )


class WorkerLaunchTemplate(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        online_cpus: int,
        threads_per_core: int,
        root_volume_gib: int = 100,
    ) -> None:
        super().__init__(scope, construct_id)
        script = ec2.UserData.for_linux()
        self.cpu_script = render_cpu_topology_script(online_cpus=online_cpus, threads_per_core=threads_per_core)
        script.add_commands(self.cpu_script)
        user_data = ec2.MultipartUserData()
        user_data.add_part(ec2.MultipartBody.from_user_data(script))

        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            launch_template_name=name,
            user_data=user_data,
            require_imdsv2=True,
            # containers get credentials from the ECS agent, never from the instance role
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        root_volume_gib, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
