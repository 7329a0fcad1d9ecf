"""Summing partial gradients as their messages arrive (SQS FIFO event source), exactly once per shot.

lambda/lsrtm_reduce_gradients hands each batch of deliveries here, with the AWS side as `Ports`
(the object store, task-token answers, the dead-letter queue).

Records are grouped by message group (= run + iteration) and each group is reduced with a single
conditional accumulator write (workloads/lsrtm/reduction.py explains why that is exactly-once). When a
group's sum is complete: SGD update, iteration result, and the waiting execution is told (task token).

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
from workloads.lsrtm.messages import InvalidMessage, PartialGradientMessage
from workloads.lsrtm.reduction import apply_update, load_manifest, reduce_messages

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
    messages: list[PartialGradientMessage] = []
    delivery_of: dict[int, Delivery] = {}  # id(message) -> its delivery, to set a rejected one aside
    set_aside: list[tuple[Delivery, InvalidMessage]] = []
    for delivery in deliveries:
        try:
            message = PartialGradientMessage.parse(delivery.body, group_id)
        except InvalidMessage as exc:
            set_aside.append((delivery, exc))
            continue
        messages.append(message)
        delivery_of[id(message)] = delivery
    store = ports.store_for(messages[0].bucket if messages else ports.default_bucket)
    complete = None
    if messages:
        complete, rejected = _reduce(store, messages, ports)
        set_aside += [(delivery_of[id(message)], invalid) for message, invalid in rejected]
    for delivery, invalid in set_aside:
        _set_aside(store, group_id, delivery, invalid, ports)
    if complete is not None and not set_aside:
        _finish(store, *complete, ports)


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


def _set_aside(store: ObjectStore, group_id: str, delivery: Delivery, invalid: InvalidMessage, ports: Ports) -> None:
    """Keep the message where a person (and the alarm) sees it, and fail its iteration now."""
    ports.set_aside(delivery, invalid.describe())
    answered = _fail_iteration(store, invalid.run_id, invalid.iteration, INVALID, invalid.describe(), ports)
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
                    ports: Ports) -> bool:
    if run_id is None or iteration is None:
        return False  # nothing says which execution waits; the dead-letter queue's alarm tells a person
    try:
        manifest = load_manifest(store, run_id, iteration)
    except (ObjectNotFound, ValueError):
        return False  # no such iteration: nothing waits on it
    return ports.fail(manifest.task_token, error, cause)
