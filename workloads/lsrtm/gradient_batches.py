"""Summing partial gradients as their messages arrive (SQS FIFO event source), exactly once per shot.

lambda/lsrtm_reduce_gradients hands each batch of deliveries here, with the AWS side as `Ports`
(the object store, task-token answers, the dead-letter queue).

Records are grouped by message group (= run + iteration) and each group is reduced with a single
conditional accumulator write (workloads/lsrtm/reduction.py explains why that is exactly-once). When a
group's sum is complete: SGD update, iteration result, and the waiting execution is told (task token).

With the exact step rule an iteration has two stages on the same queue and message group: the gradient
sum completes without an image update (the ComputeGradient state is told the sum's key and misfit), then
the curvature messages of the MeasureCurvature state's jobs are summed the same way
(workloads/lsrtm/line_search.py); when every shot's terms are in, the exact step is taken, the image and
the result written, and that state is told. Each stage answers its own task token.

Two kinds of failure, handled apart:
- a message that can never be summed (malformed, misfit null, another shot's key, a missing gradient)
  is set aside on its own: copied to the dead-letter queue (which alarms) and its iteration failed at
  once with a cause naming the shot. It is not returned to the queue, where it would block its FIFO
  group for five visibility timeouts and drag its group-mates to the dead-letter queue with it;
- anything else (S3 or the network) fails the group's records (partial batch response), so SQS
  redelivers them; on the last delivery before the dead-letter queue the iteration is failed too,
  rather than left waiting for its timeout.

Not Powertools' SqsFifoPartialProcessor: it handles one record at a time, which would rewrite the
accumulator (82 MB for BP 2004) once per message instead of once per batch.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workloads.common.store import ObjectNotFound, ObjectStore
from workloads.lsrtm import layout
from workloads.lsrtm.line_search import NOT_DESCENT, NotDescent, exact_step, reduce_curvature
from workloads.lsrtm.messages import CurvatureMessage, InvalidMessage, PartialGradientMessage, parse_message
from workloads.lsrtm.reduction import apply_update, load_accumulator, load_manifest, reduce_messages

INVALID = "InvalidGradientMessage"
REDUCTION_FAILED = "ReductionFailed"


@dataclass(frozen=True)
class Delivery:
    """One SQS record, as much of it as the reduction reads."""

    message_id: str
    body: str | None
    group_id: str  # the FIFO message group (= run + iteration), or the message id when there is none
    receive_count: int


@dataclass
class Ports:
    """What the reduction needs from outside: objects, answers to the waiting execution, the dead-letter
    queue, and a logger that takes `extra=` (Powertools' or the standard library's)."""

    store_for: Callable[[str], ObjectStore]  # bucket -> its store
    default_bucket: str
    succeed: Callable[[str, dict], bool]  # (task token, output) -> answered now
    fail: Callable[[str, str, str], bool]  # (task token, error, cause) -> answered now
    set_aside: Callable[[Delivery, str], None]  # (the delivery, why) -> kept in the dead-letter queue
    max_receive_count: int  # deliveries before SQS moves a message to the dead-letter queue (0: unknown)
    log: Any


def reduce_deliveries(deliveries: list[Delivery], ports: Ports) -> list[str]:
    """Reduce every message group of the batch; returns the message ids SQS should deliver again."""
    groups: OrderedDict[str, list[Delivery]] = OrderedDict()
    for delivery in deliveries:
        groups.setdefault(delivery.group_id, []).append(delivery)
    failures: list[str] = []
    for group, members in groups.items():
        try:
            reduce_group(group, members, ports)
        except Exception as exc:
            ports.log.exception("reduction failed; the group will be redelivered", extra={"group": group})
            _fail_on_last_delivery(group, members, exc, ports)
            failures.extend(d.message_id for d in members)
    return failures


def reduce_group(group_id: str, deliveries: list[Delivery], ports: Ports) -> None:
    gradients: list[PartialGradientMessage] = []
    curvatures: list[CurvatureMessage] = []
    delivery_of: dict[int, Delivery] = {}  # id(message) -> its delivery, to set a rejected one aside
    set_aside: list[tuple[Delivery, InvalidMessage]] = []
    for delivery in deliveries:
        try:
            message = parse_message(delivery.body, group_id)
        except InvalidMessage as exc:
            set_aside.append((delivery, exc))
            continue
        (curvatures if isinstance(message, CurvatureMessage) else gradients).append(message)
        delivery_of[id(message)] = delivery
    messages = [*gradients, *curvatures]
    store = ports.store_for(messages[0].bucket if messages else ports.default_bucket)
    complete = line_search = None
    if gradients:
        complete, rejected = _reduce(store, gradients, ports)
        set_aside += [(delivery_of[id(message)], invalid) for message, invalid in rejected]
    if curvatures:
        line_search, rejected = _reduce_curvature(store, curvatures, ports)
        set_aside += [(delivery_of[id(message)], invalid) for message, invalid in rejected]
    for delivery, invalid in set_aside:
        _set_aside(store, group_id, delivery, invalid, ports)
    if set_aside:
        return
    if complete is not None:
        _finish(store, *complete, ports)
    if line_search is not None:
        _finish_line_search(store, line_search, ports)


def _reduce(store: ObjectStore, messages: list[PartialGradientMessage], ports: Ports):
    """Sum the group's valid messages: ((manifest, accumulator) if the sum is now complete, else None;
    the (message, why) pairs that can never be summed)."""
    first = messages[0]
    manifest = load_manifest(store, first.run_id, first.iteration)
    result_key = layout.result_key(first.run_id, first.iteration)
    if store.exists(result_key):
        # the iteration is complete: a late duplicate, or a redelivery after a crash before the execution
        # was told. Answering again is harmless (a token answers once; later answers are ignored).
        answered = ports.succeed(manifest.task_token, json.loads(store.get(result_key)))
        ports.log.info("iteration already complete", extra={"group": first.group_id, "token_answered_now": answered})
        return None, []
    result, accumulator = reduce_messages(store, manifest, messages)
    ports.log.info(
        "reduced",
        extra={"run_id": result.run_id, "iteration": result.iteration, "added": result.added,
               "duplicates": result.skipped, "rejected": [invalid.shot for _, invalid in result.rejected],
               "done": result.shots_done, "expected": result.shots_expected, "write_attempts": result.write_attempts},
    )
    return ((manifest, accumulator) if result.complete else None), result.rejected


def _finish(store: ObjectStore, manifest, accumulator, ports: Ports) -> None:
    # Each step below is idempotent. The result is written before the execution is told, so whatever
    # runs next (the next iteration, the clean-up and its report) finds it; after a crash anywhere here
    # the redelivered messages add nothing to the sum and finish the iteration again.
    if manifest.step_rule == "exact":
        # no image yet: the step needs the curvature along the sum, which the next state measures
        outcome = {"iteration": manifest.iteration, "misfit": accumulator.misfit,
                   "gradient_key": layout.accumulator_key(manifest.run_id, manifest.iteration),
                   "shots": sorted(accumulator.shots)}
        answered = ports.succeed(manifest.task_token, outcome)
        ports.log.info("gradient sum complete", extra={**outcome, "token_answered_now": answered})
        return
    image_key = apply_update(store, manifest, accumulator)
    outcome = {
        "iteration": manifest.iteration,
        "misfit": accumulator.misfit,
        "image_key": image_key,
        "shots": sorted(accumulator.shots),
    }
    store.put(layout.result_key(manifest.run_id, manifest.iteration), json.dumps(outcome).encode())
    answered = ports.succeed(manifest.task_token, outcome)
    ports.log.info("iteration complete", extra={**outcome, "token_answered_now": answered})


def _reduce_curvature(store: ObjectStore, messages: list[CurvatureMessage], ports: Ports):
    """Sum the group's curvature terms: (the manifest if every shot's terms are now in, else None; the
    (message, why) pairs that can never be summed)."""
    first = messages[0]
    manifest = load_manifest(store, first.run_id, first.iteration)
    result_key = layout.result_key(first.run_id, first.iteration)
    if store.exists(result_key):  # the step was taken: a late duplicate or a redelivery after a crash
        answered = ports.succeed(_curvature_token(manifest), json.loads(store.get(result_key)))
        ports.log.info("step already taken", extra={"group": first.group_id, "token_answered_now": answered})
        return None, []
    result, sums = reduce_curvature(store, manifest, messages)
    ports.log.info("curvature reduced", extra={"run_id": first.run_id, "iteration": first.iteration,
                                               "added": result.added, "duplicates": result.skipped,
                                               "done": len(sums.terms), "expected": len(set(manifest.shots))})
    return ((manifest, sums) if result.complete else None), result.rejected


def _curvature_token(manifest) -> str:
    if manifest.curvature_token is None:  # the submit Lambda stores it before any curvature job runs
        raise ValueError(f"iteration {manifest.iteration} has curvature messages but no MeasureCurvature token")
    return manifest.curvature_token


def _finish_line_search(store: ObjectStore, complete, ports: Ports) -> None:
    """The exact step: image, result (misfit before, predicted after, step, alpha*), then the token; each
    idempotent as in _finish. A gradient that does not descend fails the iteration and moves nothing."""
    manifest, sums = complete
    token = _curvature_token(manifest)
    accumulator = load_accumulator(store, manifest.run_id, manifest.iteration)
    try:
        step = exact_step(accumulator.misfit, sums.c1, sums.c2, manifest.step_size)
    except NotDescent as exc:
        cause = f"iteration {manifest.iteration}: {exc}"
        answered = ports.fail(token, NOT_DESCENT, cause)
        ports.log.error("no descent", extra={"cause": cause, "answered": answered})
        return
    image_key = apply_update(store, manifest, accumulator, step.step)
    outcome = {"iteration": manifest.iteration, "misfit": accumulator.misfit, "image_key": image_key,
               "shots": sorted(accumulator.shots), "step_rule": "exact", **step.as_dict()}
    store.put(layout.result_key(manifest.run_id, manifest.iteration), json.dumps(outcome).encode())
    answered = ports.succeed(token, outcome)
    ports.log.info("exact step taken", extra={**outcome, "token_answered_now": answered})


def _set_aside(store: ObjectStore, group_id: str, delivery: Delivery, invalid: InvalidMessage, ports: Ports) -> None:
    """Keep the message where a person (and the alarm) sees it, and fail its iteration now."""
    ports.set_aside(delivery, invalid.describe())
    answered = _fail_iteration(store, invalid.run_id, invalid.iteration, INVALID, invalid.describe(), ports,
                               kind=invalid.kind)
    ports.log.error("message set aside", extra={"group": group_id, "reason": invalid.describe(), "answered": answered})


def _fail_on_last_delivery(group_id: str, deliveries: list[Delivery], exc: Exception, ports: Ports) -> None:
    """After this delivery the group's messages go to the dead-letter queue: fail the iteration now."""
    limit = ports.max_receive_count
    if not limit or max(d.receive_count for d in deliveries) < limit:
        return
    run_id, _, iteration = group_id.rpartition(".")
    if not iteration.isdigit():
        return
    cause = f"reducing iteration {iteration} failed on all {limit} deliveries, last with {exc!r}"
    try:
        _fail_iteration(ports.store_for(ports.default_bucket), run_id, int(iteration), REDUCTION_FAILED, cause, ports)
    except Exception:
        ports.log.exception("could not fail the iteration; the dead-letter queue alarm still fires")


def _fail_iteration(store: ObjectStore, run_id: str | None, iteration: int | None, error: str, cause: str,
                    ports: Ports, kind: str | None = None) -> bool:
    """Fail the token waiting on `kind` of message; with kind None, the iteration's latest state's token
    (MeasureCurvature's once it exists: the gradient state has then been answered)."""
    if run_id is None or iteration is None:
        return False  # nothing says which execution waits; the dead-letter queue's alarm tells a person
    try:
        manifest = load_manifest(store, run_id, iteration)
    except (ObjectNotFound, ValueError):
        return False  # no such iteration: nothing waits on it
    token = manifest.token_for(kind) if kind else (manifest.curvature_token or manifest.task_token)
    if token is None:
        return False
    return ports.fail(token, error, cause)
