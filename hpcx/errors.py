"""How every hpcx command ends when it cannot go on: one line, exit code 2, nothing started.

`Failure` is the error a command raises itself; `HpcxGroup` turns the errors the delegated code raises
for bad input or a bad environment (an invalid execution input or plan, a missing deployment, botocore's
credential, region, network and service errors) into a Failure at one place, so no command prints a
traceback for something the user can fix. Anything else keeps its traceback: it is a bug.
"""

from __future__ import annotations

import click

USAGE_EXIT = 2  # what Click uses for bad parameters; a run that failed exits 1


class Failure(click.ClickException):
    """One line on stderr ("error: ..."), exit code 2."""

    exit_code = USAGE_EXIT

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def as_failure(exc: Exception, ctx: click.Context) -> Failure | None:
    """The Failure for an error a user can act on, or None."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tools.aws_errors import explain
    from workloads.common.execution_input import InvalidInput

    if isinstance(exc, InvalidInput):
        return Failure(str(exc))
    if isinstance(exc, BotoCoreError | ClientError):
        meta = ctx.find_root().meta
        line = explain(exc, region_option=meta.get("hpcx.region_option", False),
                       region_given=meta.get("hpcx.region_given", False))
        return Failure(line) if line else None
    from reproduce.outputs import DeploymentError
    from reproduce.plans import PlanError

    if isinstance(exc, PlanError | DeploymentError):
        return Failure(str(exc))
    return None


def one_line(text: str) -> str:
    """Messages that arrive with newlines (a validator listing problems) still print as one line."""
    return " ".join(text.split())


class HpcxGroup(click.Group):
    """A group whose commands' known errors become Failures (see the module docstring)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - narrowed by as_failure; the rest re-raised unchanged
            failure = as_failure(exc, ctx)
            if failure is None:
                raise
            raise Failure(one_line(failure.message)) from exc


def remember_region(ctx: click.Context, region: str | None) -> None:
    """Commands with --region call this so a missing-region message suggests it only when it helps."""
    meta = ctx.find_root().meta
    meta["hpcx.region_option"] = True
    meta["hpcx.region_given"] = region is not None
