#!/usr/bin/env python3
"""Composition root: configuration from context -> stacks. Nothing else."""

import os

from stacks.node_runtime import prefer_venv_node

prefer_venv_node()  # before aws_cdk starts jsii

import aws_cdk as cdk  # noqa: E402

from stacks.automon.coordinator_stack import AutoMonCoordinatorStack  # noqa: E402
from stacks.automon.nodes_stack import AutoMonNodesStack, results_bucket_template  # noqa: E402
from stacks.config import AppConfig  # noqa: E402
from stacks.cosmic.stack import FmiStack  # noqa: E402
from stacks.hybrid_ray.stack import HybridRayStack  # noqa: E402
from stacks.lsrtm.stack import BatchStack  # noqa: E402
from stacks.nag import add_nag_checks  # noqa: E402


def build(app: cdk.App) -> dict[str, cdk.Stack]:
    config = AppConfig.from_context(app.node.try_get_context)
    automon = config.automon
    # explicit regions (synth needs no credentials); the account stays unresolved unless the CLI gives one
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    automon_nodes = AutoMonNodesStack(
        app,
        "AutoMonNodesStack",
        config=config,
        stack_name=config.name("automon-nodes"),
        env=cdk.Environment(account=account, region=automon.nodes_region),
        cross_region_references=True,
        description="AutoMon nodes (Fargate), results bucket and the experiment state machine",
    )
    stacks: dict[str, cdk.Stack] = {
        "BatchStack": BatchStack(
            app,
            "BatchStack",
            config=config,
            stack_name=config.name("batch"),
            description="Serverless seismic imaging (LS-RTM): network, storage and Batch compute",
        ),
        "AutoMonNodesStack": automon_nodes,
        "AutoMonCoordinatorStack": AutoMonCoordinatorStack(
            app,
            "AutoMonCoordinatorStack",
            config=config,
            node_addresses=automon_nodes.network.nat_public_ips,
            results_bucket_template=results_bucket_template(config),
            results_prefix=automon_nodes.results_prefix,
            launcher_principals=[automon_nodes.launcher_principal],
            stack_name=config.name("automon-coordinator"),
            env=cdk.Environment(account=account, region=automon.coordinator_region),
            cross_region_references=True,
            description="AutoMon coordinator (EC2 or Fargate), reachable on its port from the nodes only",
        ),
        "HybridRayStack": HybridRayStack(
            app,
            "HybridRayStack",
            config=config,
            stack_name=config.name("hybrid-ray"),
            description="Hybrid HPC/cloud Ray testbed: two peered VPCs, login/worker/cloud nodes, EFS share",
        ),
        "FmiStack": FmiStack(
            app,
            "FmiStack",
            config=config,
            stack_name=config.name("fmi"),
            description="Cosmic AI inference on Lambda ranks with FMI-style collectives; TCPunch rendezvous on Fargate",
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
