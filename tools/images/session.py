"""What every smoke run shares: the engine, the built tags, moto's S3/SQS on the host, the synthesized
templates (where each Lambda's command and environment come from), and a Lambda function started from
an image against a local Runtime API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tools.images.runtime_api import Answer, RuntimeApi

REGION = "us-east-1"
# errors that mean the handler never ran: the image lacks a module, or names a handler it does not carry
NOT_RUN = {"Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.UserCodeSyntaxError",
           "Runtime.MalformedHandlerName", "Runtime.Unknown"}


class SmokeFailed(RuntimeError):
    pass


@dataclass
class Session:
    engine: object
    tags: dict[str, str]
    moto_url: str
    cdk_out: Path
    asset_hashes: dict[str, str]
    invoked: dict[str, str] = field(default_factory=dict)  # handler -> what it answered

    @property
    def aws_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def client(self, service: str):
        """A boto3 client of moto's server, with the same fake credentials the containers get."""
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def functions(self, image: str) -> dict[str, dict]:
        """handler command -> environment variables (template values) of every function built from the image."""
        found = {}
        for template in sorted(self.cdk_out.glob("*.template.json")):
            for resource in json.loads(template.read_text())["Resources"].values():
                props = resource.get("Properties", {})
                if resource["Type"] != "AWS::Lambda::Function" or self.asset_hashes[image] not in json.dumps(props.get("Code")):
                    continue
                (command,) = props["ImageConfig"]["Command"]
                found[command] = props.get("Environment", {}).get("Variables", {})
        return found

    @contextmanager
    def lambda_function(self, image: str, handler: str, env: dict[str, str]) -> Iterator[Invoker]:
        name = handler.split(".")[0]
        with RuntimeApi(name) as api:
            full_env = {**self.aws_env, "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": name,
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                        "POWERTOOLS_SERVICE_NAME": name, **env}
            with self.engine.start(self.tags[image], [handler], full_env) as running:
                yield Invoker(self, api, running, handler)


@dataclass
class Invoker:
    session: Session
    api: RuntimeApi
    running: object
    handler: str

    def __call__(self, event: dict, *, expect_ok: bool = True, wait_s: float = 300.0) -> Answer:
        """Invoke once. A handler that raises still ran (fine when expect_ok is False); one that could not be
        imported, or a container that died, fails the smoke run."""
        deadline = time.monotonic() + wait_s
        answer = None
        self.api.events_put(event)
        while answer is None:
            answer = self.api.poll_answer(timeout=2.0)
            if answer is None and self.running.process.poll() is not None:
                raise SmokeFailed(f"{self.handler}: the container ended without answering:\n{self.running.stop()[-3000:]}")
            if answer is None and time.monotonic() > deadline:
                raise SmokeFailed(f"{self.handler}: no answer within {wait_s:.0f} s")
        kind = (answer.body or {}).get("errorType") if not answer.ok else None
        if not answer.ok and (expect_ok or kind in NOT_RUN or self.api.init_error is not None):
            raise SmokeFailed(f"{self.handler}: {json.dumps(answer.body)[:1500]}\n{self.running.stop()[-3000:]}")
        self.session.invoked[self.handler] = "ok" if answer.ok else f"ran, raised {kind}: " \
            f"{str((answer.body or {}).get('errorMessage'))[:90]}"
        return answer
