"""AutoMon image for real: automon_validate_input (workflow Lambda image) plans one centralization item on
synthetic streams; a coordinator container and three node containers run it to completion over ZeroMQ on
127.0.0.1 and upload their results to moto's S3; automon_gather_results and automon_report check and
report them. The coordinator launcher and the node clean-up (ECS/SSM/STS, not in moto's server here) run
too and may answer with their error."""

from __future__ import annotations

import json

from localcloud.services.moto_server import free_port
from tools.images.session import Session, SmokeFailed

LAMBDA = "workflow_lambdas"
BUCKET = "smoke-automon-results"
NODE_TYPE, NUM_NODES = "quadratic", 3
# shorter than the node type's default run: enough rounds for every window to fill and updates to flow
ITERATIONS = "40"


def smoke(session: Session, say) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    functions = session.functions(LAMBDA)

    def env(handler: str, **local: str) -> dict[str, str]:
        values = {k: v if isinstance(v, str) else f"smoke-{k.lower()}" for k, v in functions[handler].items()}
        return {**values, **({"RESULTS_BUCKET": BUCKET} if "RESULTS_BUCKET" in values else {}), **local}

    handler = "automon_validate_input.handler.handler"
    counts = json.dumps({NODE_TYPE: NUM_NODES})
    with session.lambda_function(LAMBDA, handler, env(handler, NODE_COUNTS=counts)) as invoke:
        run = invoke({"input": {"algorithm": "centralization", "node_types": [NODE_TYPE], "synthetic": True},
                      "execution": "smoke-automon"}).body
        refused = invoke({"input": {"algorithm": "nope"}, "execution": "smoke-bad"}, expect_ok=False).body
    (item,) = run["items"]
    say(f"automon_validate_input planned {item['key']} with {item['num_nodes']} nodes; "
        f"refused a bad input with {refused['errorType']}")

    port = free_port()
    common = {**session.aws_env, **item["env"], "RESULTS_BUCKET": BUCKET, "ITERATIONS": ITERATIONS}
    image = session.tags["automon"]
    coordinator = session.engine.start(image, ["coordinator", "--bind", "127.0.0.1", "--port", str(port)], common)
    nodes = [session.engine.start(image, ["node", "--node-idx", str(i), "--host", "127.0.0.1", "--port", str(port)],
                                  common) for i in range(NUM_NODES)]
    try:
        codes = [n.wait(600) for n in nodes] + [coordinator.wait(120)]
    finally:
        for container in (coordinator, *nodes):
            container.stop()
    if any(codes):
        outputs = "\n".join(c.output[-1500:] for c in (coordinator, *nodes))
        raise SmokeFailed(f"automon containers exited {codes}:\n{outputs}")
    say(f"automon coordinator and {NUM_NODES} nodes exited 0; coordinator said: "
        f"{coordinator.output.strip().splitlines()[-1][:200]}")

    handler = "automon_gather_results.handler.handler"
    with session.lambda_function(LAMBDA, handler, env(handler)) as invoke:
        summary = invoke({"run_id": run["run_id"], "bucket": BUCKET, "item": item}).body
    say(f"automon_gather_results: {json.dumps(summary)[:300]}")

    handler = "automon_report.handler.handler"
    with session.lambda_function(LAMBDA, handler, env(handler)) as invoke:
        report = invoke({"run_id": run["run_id"], "bucket": BUCKET, "results_prefix": run["results_prefix"],
                         "outcomes": [{"key": item["key"], "outcome": {"status": "SUCCEEDED", "summary": summary}}]}).body
    if report.get("failed") != 0:
        raise SmokeFailed(f"automon_report counts a failure: {report}")
    say(f"automon_report: {json.dumps(report)[:200]}")

    for handler, event in (("automon_coordinator.handler.handler", {"action": "stop", "run_id": run["run_id"], "item": item}),
                           ("automon_clean_up.handler.handler", {"item": item})):
        with session.lambda_function(LAMBDA, handler, env(handler)) as invoke:
            invoke(event, expect_ok=False)
        say(f"{handler.split('.')[0]}: {session.invoked[handler]}")
