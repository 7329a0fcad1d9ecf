"""An AWS-style JSON API on 127.0.0.1, for the local emulators boto3 reaches through AWS_ENDPOINT_URL_<SERVICE>.

Each emulator gives a `dispatch(path, headers, body) -> payload`; this serves it. An ApiError becomes
the 400 response AWS sends ({"__type": code, "message"} and the x-amzn-ErrorType header), which boto3
raises as a ClientError with that code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Dispatch = Callable[[str, Mapping[str, str], dict], Any]


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LocalApiServer:
    def __init__(self, dispatch: Dispatch, content_type: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                try:
                    status, payload = 200, dispatch(self.path, self.headers, body)
                except ApiError as exc:
                    status, payload = 400, {"__type": exc.code, "message": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if status != 200:
                    self.send_header("x-amzn-ErrorType", payload["__type"])
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
