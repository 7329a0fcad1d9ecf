"""What the execution-input validators of every workflow share: the error, the strict schema base, the
message format and the S3 key rule.

An execution input is JSON a user typed, so anything can arrive: 1e400 (valid JSON, read as inf), lone
surrogates ("\\ud800"), megabytes of text. The validators turn every bad input into one InvalidInput with
a short message that names the field; the state machines end such an execution at InputRejected.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

MAX_MESSAGE_CHARS = 600  # the execution's cause: enough for a few problems, never the input echoed back
MAX_ECHO_CHARS = 80  # an input value quoted in a message
MAX_PROBLEMS = 5  # schema problems listed; the rest are counted
S3_KEY_MAX_BYTES = 1024


class InvalidInput(ValueError):
    """The execution input cannot run; the message names the field(s). Longer messages are cut, so no
    rejection can echo a large input back into the execution history."""

    def __init__(self, message: str) -> None:
        super().__init__(shorten(message, MAX_MESSAGE_CHARS))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 15]}... ({len(text)} chars)"


def echo(value: object) -> str:
    """A value quoted in a message: its repr (surrogates and control characters escaped), at most 80 chars."""
    return shorten(repr(value), MAX_ECHO_CHARS)


class StrictInput(BaseModel):
    """Base of every execution-input schema: unknown fields are errors, and so are inf and NaN, which the
    next state could not read back (JSON has no inf: the stored parameters would hold null)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


def parse_input(model: type[M], raw: object, *, what: str = "execution input") -> M:
    """`raw` validated as `model`, or InvalidInput listing the first problems by field."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"the {what} must be a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"invalid {what}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """'field.path: problem' for the first MAX_PROBLEMS errors; field names come from the input, so each
    part is cut short too."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    problems = [
        f"{'.'.join(shorten(str(part), 40) for part in e['loc']) or '(input)'}: {shorten(e['msg'], 200)}"
        for e in errors[:MAX_PROBLEMS]
    ]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(problems)


def check_s3_key(key: str) -> str:
    """A key S3 can take: 1 to 1024 bytes of UTF-8 and no control characters (which S3's XML listings
    cannot carry). Anything else fails inside botocore (empty key, lone surrogate) or at S3."""
    if not key:
        raise ValueError("is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{echo(key)} is not valid Unicode text (a lone surrogate)") from None
    if size > S3_KEY_MAX_BYTES:
        raise ValueError(f"is {size} bytes long; S3 keys have at most {S3_KEY_MAX_BYTES}")
    if any(unicodedata.category(c) == "Cc" for c in key):
        raise ValueError(f"{echo(key)} contains a control character")
    return key


S3Key = Annotated[str, AfterValidator(check_s3_key)]
