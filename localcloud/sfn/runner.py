"""The execution API: LocalStateMachine(definition, integrations).start(input) -> Execution, .wait() ->
ExecutionResult. Each execution runs on its own thread with its own scope, history and context object;
nothing is shared between executions except the registry of integrations and the task tokens."""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.sfn import definition as definition_checks
from localcloud.sfn.callback_server import CallbackAuthorizer, CallbackServer
from localcloud.sfn.errors import RUNTIME, TIMEOUT, Cancelled, DefinitionError, StatesError
from localcloud.sfn.history import History, HistoryEvent, Trail
from localcloud.sfn.integrations import Integrations
from localcloud.sfn.interpreter import run_graph
from localcloud.sfn.resources import PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION
from localcloud.sfn.runtime import ExecutionInfo, Options, RunContext, iso_now
from localcloud.sfn.scope import Scope
from localcloud.sfn.tokens import TaskTokens

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"
EventHook = Callable[[HistoryEvent], None]


class ExecutionAlreadyExists(ValueError):
    pass


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    name: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    input: Any
    output: Any  # the parsed JSON output (None unless SUCCEEDED)
    error: str | None
    cause: str | None
    events: list[HistoryEvent]
    start_date: datetime
    stop_date: datetime

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    def states_entered(self) -> list[str]:
        """Names of the states entered, in order (iterations and branches interleave)."""
        return [e.state_name for e in self.events if e.is_state_entered]

    def events_of(self, event_type: str) -> list[HistoryEvent]:
        return [e for e in self.events if e.type == event_type]


class Execution:
    def __init__(self, machine: LocalStateMachine, execution_input: Any, name: str,
                 on_event: EventHook | None) -> None:
        self.machine = machine
        self.name = name
        self.arn = (f"arn:aws:states:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:execution:"
                    f"{machine.name}:{name}")
        self.input = execution_input
        self.start_date = datetime.now(UTC)
        self._history = History(on_event)
        self._scope = Scope()
        self._lock = threading.Lock()
        self._halt: tuple[str, str, str] | None = None
        self._result: ExecutionResult | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sfn-execution-{name}")
        self._thread.start()

    # --- API ----------------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._result.status if self._result else RUNNING

    @property
    def events(self) -> list[HistoryEvent]:
        return self._history.snapshot()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """The result once the execution ends; TimeoutError if it is still running after `timeout` s."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"execution {self.name} still running after {timeout} s "
                               f"(last events: {[e.type for e in self.events[-5:]]})")
        assert self._result is not None
        return self._result

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """StopExecution: the execution ends ABORTED (running tasks are abandoned, waits cut short)."""
        self._request_halt(ABORTED, error or "", cause or "")

    # --- internals ----------------------------------------------------------------------------------
    def _request_halt(self, status: str, error: str, cause: str) -> None:
        with self._lock:
            if self._halt is not None or self._done.is_set():
                return
            self._halt = (status, error, cause)
        self._scope.cancel()

    def _run(self) -> None:
        machine = self.machine
        trail = Trail()
        rc = RunContext(
            info=ExecutionInfo(arn=self.arn, name=self.name, input=self.input,
                               start_time=iso_now(), state_machine_arn=machine.arn,
                               state_machine_name=machine.name, role_arn=machine.role_arn),
            options=machine.options, history=self._history, tokens=machine.tokens,
            integrations=machine.integrations, scope=self._scope, trail=trail,
        )
        rc.record("ExecutionStarted", input=self.input, roleArn=machine.role_arn)
        timer = None
        if "TimeoutSeconds" in machine.definition:
            timer = threading.Timer(machine.definition["TimeoutSeconds"] * machine.options.timeout_scale,
                                    self._request_halt, args=(TIMED_OUT, TIMEOUT, "The execution timed out"))
            timer.daemon = True
            timer.start()
        output, error, cause = None, None, None
        try:
            output = run_graph(machine.definition, self.input, rc)
            status = SUCCEEDED
        except Cancelled:
            status, error, cause = self._halt or (ABORTED, "", "")
        except StatesError as err:
            status, error, cause = FAILED, err.error, err.cause
        except DefinitionError as exc:  # AWS would have refused the definition; fail like a runtime error
            status, error, cause = FAILED, RUNTIME, str(exc)
        except Exception:  # a bug here, not in the workflow: say so, with the traceback
            status, error, cause = FAILED, "LocalRunner.InternalError", traceback.format_exc()
        finally:
            if timer is not None:
                timer.cancel()
        event_type = {SUCCEEDED: "ExecutionSucceeded", FAILED: "ExecutionFailed", TIMED_OUT: "ExecutionTimedOut",
                      ABORTED: "ExecutionAborted"}[status]
        if status == SUCCEEDED:
            rc.record(event_type, output=output)
        else:
            rc.record(event_type, error=error, cause=cause)
        with self._lock:
            self._result = ExecutionResult(
                execution_arn=self.arn, name=self.name, status=status, input=self.input, output=output,
                error=error, cause=cause, events=self._history.snapshot(), start_date=self.start_date,
                stop_date=datetime.now(UTC),
            )
            self._done.set()


class LocalStateMachine:
    """A state machine definition (JSONPath ASL, e.g. from localcloud.asl.state_machines_in_cdk_out) run here."""

    def __init__(
        self,
        definition: dict | str,
        integrations: Integrations | None = None,
        *,
        name: str = "LocalStateMachine",
        time_scale: float = 1.0,
        timeout_scale: float = 1.0,
        payload_limit_bytes: int | None = 262_144,
        tokens: TaskTokens | None = None,
        on_event: EventHook | None = None,
        require_integrations: bool = True,
    ) -> None:
        self.definition = json.loads(definition) if isinstance(definition, str) else definition
        self.integrations = integrations or Integrations()
        definition_checks.validate(self.definition, self.integrations if require_integrations else None)
        self.name = name
        self.arn = f"arn:aws:states:{PLACEHOLDER_REGION}:{PLACEHOLDER_ACCOUNT}:stateMachine:{name}"
        self.role_arn = f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/{name}Role"
        self.options = Options(time_scale=time_scale, timeout_scale=timeout_scale,
                               payload_limit_bytes=payload_limit_bytes)
        self.tokens = tokens or TaskTokens()
        self.on_event = on_event
        self._names: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_cdk_out(cls, outdir: str | Path, match: str, integrations: Integrations | None = None,
                     **options: Any) -> LocalStateMachine:
        """The one state machine in a cloud assembly whose '<Stack>/<LogicalId>' contains `match`."""
        from localcloud.asl import state_machines_in_cdk_out

        found = {k: v for k, v in state_machines_in_cdk_out(Path(outdir)).items() if match in k}
        if len(found) != 1:
            raise LookupError(f"{len(found)} state machines in {outdir} match {match!r}: {sorted(found)}")
        (key, definition), = found.items()
        options.setdefault("name", key.split("/")[-1])
        return cls(definition, integrations, **options)

    def start(self, execution_input: Any = None, name: str | None = None,
              on_event: EventHook | None = None) -> Execution:
        """StartExecution: returns at once; the execution runs on its own thread."""
        name = name or str(uuid.uuid4())
        execution_input = json.loads(json.dumps({} if execution_input is None else execution_input))  # JSON only
        with self._lock:
            if name in self._names:
                raise ExecutionAlreadyExists(f"Execution Already Exists: '{name}'")
            self._names.add(name)
        hooks = [h for h in (self.on_event, on_event) if h is not None]
        return Execution(self, execution_input, name,
                         (lambda event: [hook(event) for hook in hooks]) if hooks else None)

    def execute(self, execution_input: Any = None, name: str | None = None, timeout: float | None = None,
                on_event: EventHook | None = None) -> ExecutionResult:
        """start() then wait()."""
        return self.start(execution_input, name, on_event).wait(timeout)

    # the SendTask* API, in process
    def send_task_success(self, token: str, output: str) -> None:
        self.tokens.send_task_success(token, output)

    def send_task_failure(self, token: str, error: str | None = None, cause: str | None = None) -> None:
        self.tokens.send_task_failure(token, error, cause)

    def send_task_heartbeat(self, token: str) -> None:
        self.tokens.send_task_heartbeat(token)

    def callback_server(self, authorize: CallbackAuthorizer | None = None) -> CallbackServer:
        """An HTTP endpoint for this machine's tokens (use as a context manager; see .environment()).
        `authorize(headers, operation, token)` may refuse a caller (raise TaskTokenError)."""
        return CallbackServer(self.tokens, authorize=authorize)
