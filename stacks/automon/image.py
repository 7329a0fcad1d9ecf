"""The AutoMon container image (containers/automon): one asset definition, built once per region it is used in."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

from stacks.constructs.image_context import PACKAGE_SOURCES
from workloads.automon.constants import AUTOMON_BUILD_ARG

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTOMON_DOCKERFILE = "containers/automon/Dockerfile"
# The build context is the repository root, narrowed to what the Dockerfile copies.
AUTOMON_CONTEXT = [*PACKAGE_SOURCES, "containers/automon"]
FETCH_DATA_BUILD_ARG = "AUTOMON_FETCH_DATA"
CONTAINER_NAME = "automon"


def automon_image(scope: Construct, construct_id: str, *, pip_spec: str, fetch_datasets: bool) -> ecr_assets.DockerImageAsset:
    """The image asset. Assets publish to their stack's region, so each region's stack makes its own;
    the same sources and build arguments give the same hash, i.e. the same image in both regions."""
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(REPO_ROOT),
        file=AUTOMON_DOCKERFILE,
        platform=ecr_assets.Platform.LINUX_AMD64,
        build_args={AUTOMON_BUILD_ARG: pip_spec, FETCH_DATA_BUILD_ARG: "1" if fetch_datasets else ""},
        ignore_mode=IgnoreMode.DOCKER,
        exclude=["*", *(f"!{p}" for p in AUTOMON_CONTEXT), "**/__pycache__", "**/*.pyc"],
    )
