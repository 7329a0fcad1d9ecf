"""SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat over the Step Functions JSON protocol
(awsJson1_0, X-Amz-Target: AWSStepFunctions.<Operation>) on 127.0.0.1, so handler code calling
boto3.client("stepfunctions") reaches the local runner when AWS_ENDPOINT_URL_SFN points here."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localcloud.sfn.tokens import TaskTokenError, TaskTokens

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."


def _dispatch(tokens: TaskTokens, operation: str, body: dict[str, Any]) -> dict:
    if operation == "SendTaskSuccess":
        tokens.send_task_success(body.get("taskToken", ""), body.get("output"))
    elif operation == "SendTaskFailure":
        tokens.send_task_failure(body.get("taskToken", ""), body.get("error"), body.get("cause"))
    elif operation == "SendTaskHeartbeat":
        tokens.send_task_heartbeat(body.get("taskToken", ""))
    else:
        raise TaskTokenError("UnknownOperationException", f"{operation} is not served by the local runner")
    return {}


# (request headers, operation, task token) -> None, or TaskTokenError when the caller may not send it
CallbackAuthorizer = Callable[[Mapping[str, str], str, str], None]


class CallbackServer:
    def __init__(self, tokens: TaskTokens, host: str = "127.0.0.1", port: int = 0,
                 authorize: CallbackAuthorizer | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                target = self.headers.get("X-Amz-Target", "")
                try:
                    length = int(self.headers.get("Content-Length", 0))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if not target.startswith(TARGET_PREFIX) or not isinstance(body, dict):
                        raise TaskTokenError("UnknownOperationException", f"bad X-Amz-Target {target!r}")
                    operation = target[len(TARGET_PREFIX):]
                    if authorize is not None:
                        authorize(self.headers, operation, str(body.get("taskToken", "")))
                    status, payload = 200, _dispatch(tokens, operation, body)
                except TaskTokenError as exc:
                    status, payload = 400, {"__type": exc.code, "message": exc.message}
                except json.JSONDecodeError as exc:
                    status, payload = 400, {"__type": "SerializationException", "message": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="sfn-callbacks")
        self._started = False

    def environment(self) -> dict[str, str]:
        """What to put in os.environ so boto3's stepfunctions clients call this server."""
        return {"AWS_ENDPOINT_URL_SFN": self.url}

    def start(self) -> CallbackServer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def close(self) -> None:
        if self._started:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
