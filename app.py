#!/usr/bin/env python3
"""Composition root: configuration from context -> stacks. Nothing else."""

from stacks.node_runtime import prefer_venv_node

prefer_venv_node()  # before aws_cdk starts jsii

import aws_cdk as cdk  # noqa: E402

from stacks.batch_stack import BatchStack  # noqa: E402
from stacks.config import AppConfig  # noqa: E402
from stacks.nag import add_nag_checks  # noqa: E402


def build(app: cdk.App) -> dict[str, cdk.Stack]:
    config = AppConfig.from_context(app.node.try_get_context)
    stacks: dict[str, cdk.Stack] = {
        "BatchStack": BatchStack(
            app,
            "BatchStack",
            config=config,
            stack_name=config.name("batch"),
            description="Serverless seismic imaging (LS-RTM): network, storage and Batch compute",
        ),
    }
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", config.prefix)
    add_nag_checks(app)
    return stacks


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
