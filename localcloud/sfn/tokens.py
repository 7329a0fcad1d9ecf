"""Task tokens of `.waitForTaskToken` tasks: issued per task, answered by SendTaskSuccess/Failure/Heartbeat
(in process, or over HTTP through callback_server), awaited with TimeoutSeconds and HeartbeatSeconds."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from localcloud.sfn.errors import HEARTBEAT_TIMEOUT, TIMEOUT, Cancelled, StatesError
from localcloud.sfn.scope import Scope

PREFIX = "AQB"
MAX_TOKEN_LENGTH = 1024  # AWS API limits
MAX_ERROR_LENGTH = 256
MAX_CAUSE_LENGTH = 32_768


class TaskTokenError(Exception):
    """An API error of SendTask*: code is the AWS error type (InvalidToken, TaskDoesNotExist, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class _Pending:
    answered: threading.Event = field(default_factory=threading.Event)
    outcome: Any = None  # the parsed output, or a StatesError for a failure
    failed: bool = False
    last_heartbeat: float = field(default_factory=time.monotonic)


class TaskTokens:
    """Every token one or more state machines issued; thread-safe."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._closed: set[str] = set()
        self._lock = threading.Lock()

    def issue(self, execution_arn: str, state_name: str) -> str:
        body = json.dumps({"e": execution_arn, "s": state_name, "n": secrets.token_hex(16)}).encode()
        token = PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")
        with self._lock:
            self._pending[token] = _Pending()
        return token

    # --- the API a callback uses --------------------------------------------------------------------
    def send_task_success(self, token: str, output: str) -> None:
        if not isinstance(output, str):
            raise TaskTokenError("InvalidOutput", "output must be a JSON text (a string)")
        try:
            parsed = json.loads(output)
        except json.JSONDecodeError as exc:
            raise TaskTokenError("InvalidOutput", f"output is not valid JSON: {exc}") from None
        self._answer(token, parsed, failed=False)

    def send_task_failure(self, token: str, error: str | None = None, cause: str | None = None) -> None:
        if error is not None and len(error) > MAX_ERROR_LENGTH:
            raise TaskTokenError("ValidationException", f"error is longer than {MAX_ERROR_LENGTH} characters")
        if cause is not None and len(cause) > MAX_CAUSE_LENGTH:
            raise TaskTokenError("ValidationException", f"cause is longer than {MAX_CAUSE_LENGTH} characters")
        self._answer(token, StatesError(error or "", cause), failed=True)

    def send_task_heartbeat(self, token: str) -> None:
        with self._lock:
            pending = self._find(token)
            pending.last_heartbeat = time.monotonic()

    # --- the runner's side --------------------------------------------------------------------------
    def wait(self, token: str, *, deadline: float | None, heartbeat_s: float | None, scope: Scope) -> Any:
        """The output sent for `token`; raises the sent failure, States.Timeout, States.HeartbeatTimeout,
        or Cancelled. `deadline` is a time.monotonic() value."""
        with self._lock:
            pending = self._pending[token]
        try:
            with scope.wakes(pending.answered):
                while True:
                    scope.check()
                    if pending.answered.is_set():
                        break
                    now = time.monotonic()
                    limits = []
                    if deadline is not None:
                        if now >= deadline:
                            raise StatesError(TIMEOUT, "The task timed out waiting for its task token")
                        limits.append(deadline - now)
                    if heartbeat_s is not None:
                        beat_due = pending.last_heartbeat + heartbeat_s
                        if now >= beat_due:
                            raise StatesError(HEARTBEAT_TIMEOUT, f"No heartbeat within {heartbeat_s:g} s")
                        limits.append(beat_due - now)
                    pending.answered.wait(min(limits) if limits else None)
        except (StatesError, Cancelled):
            self.close(token)
            raise
        self.close(token)
        if pending.failed:
            raise pending.outcome
        return pending.outcome

    def close(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)
            self._closed.add(token)

    # --- internals ----------------------------------------------------------------------------------
    def _answer(self, token: str, outcome: Any, *, failed: bool) -> None:
        with self._lock:
            pending = self._find(token)
            if pending.answered.is_set():
                raise TaskTokenError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
            pending.outcome, pending.failed = outcome, failed
            pending.answered.set()

    def _find(self, token: str) -> _Pending:
        """Under the lock: the pending task, or the error AWS answers for this token."""
        if not _well_formed(token):
            raise TaskTokenError("InvalidToken", "Invalid Token: the task token is malformed")
        pending = self._pending.get(token)
        if pending is not None:
            return pending
        if token in self._closed:
            raise TaskTokenError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
        raise TaskTokenError("TaskDoesNotExist", "Task does not exist")


def _well_formed(token: Any) -> bool:
    if not isinstance(token, str) or not token.startswith(PREFIX) or not 1 <= len(token) <= MAX_TOKEN_LENGTH:
        return False
    body = token[len(PREFIX):]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and {"e", "s", "n"} <= decoded.keys()


def execution_of(token: str) -> str | None:
    """The ARN of the execution that issued a well-formed token (None otherwise)."""
    if not _well_formed(token):
        return None
    body = token[len(PREFIX):]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["e"]
