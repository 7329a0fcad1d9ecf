"""A Lambda Runtime API server on 127.0.0.1, so an image's own runtime interface client (awslambdaric)
answers invocations exactly as it does in Lambda: it polls GET .../invocation/next, then POSTs the
handler's result to .../<id>/response or its exception to .../<id>/error (or .../init/error when the
handler cannot even be imported). Each queued event is handed out once; the answers are kept by id.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


@dataclass
class Answer:
    ok: bool
    body: object  # the handler's result, or the error document {"errorType", "errorMessage", ...}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A container stopped in the middle of its long poll resets the connection: expected, not news."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    def __init__(self, function_name: str, timeout_s: float = 120.0) -> None:
        self.function_name = function_name
        self.timeout_s = timeout_s
        self._events: queue.Queue[tuple[str, dict]] = queue.Queue()
        self._answers: dict[str, Answer] = {}
        self._answered = threading.Condition()
        self.init_error: dict | None = None
        self._pending = ""
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """The value for AWS_LAMBDA_RUNTIME_API (host:port, no scheme)."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events_put(self, event: dict) -> None:
        """Queue one event for the client; poll_answer() then gives its answer."""
        self._pending = str(uuid.uuid4())
        self._events.put((self._pending, event))

    def poll_answer(self, timeout: float) -> Answer | None:
        """The pending event's answer (or the init error), or None if none came within timeout seconds."""
        with self._answered:
            self._answered.wait_for(lambda: self._pending in self._answers or self.init_error is not None,
                                    timeout=timeout)
            if self._pending in self._answers:
                return self._answers[self._pending]
            return Answer(False, self.init_error) if self.init_error is not None else None

    def _answer(self, request_id: str | None, answer: Answer) -> None:
        with self._answered:
            if request_id is None:
                self.init_error = answer.body
            else:
                self._answers[request_id] = answer
            self._answered.notify_all()

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection open between calls

            def log_message(self, *args) -> None:  # quiet: the smoke run prints what matters
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                request_id, event = api._events.get()  # long poll, as Lambda's is
                deadline_ms = int((time.time() + api.timeout_s) * 1000)
                self._reply(200, json.dumps(event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{api.function_name}",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(f"{PREFIX}/").split("/")
                document = json.loads(body) if body else None
                if parts == ["init", "error"]:
                    api._answer(None, Answer(False, document))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api._answer(parts[1], Answer(parts[2] == "response", document))
                else:
                    return self._reply(404)
                self._reply(202, b'{"status": "OK"}')

        return Handler
