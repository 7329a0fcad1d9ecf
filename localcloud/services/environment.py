"""What every local runner sets up the same way: fake credentials, temporary environment variables, and
the names local buckets get."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

# boto3 must never reach a real account from a local run
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set os.environ entries for the duration of the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def local_bucket_name(logical_id: str) -> str:
    """A valid S3 bucket name for a template's bucket (its logical id, lower-cased)."""
    return re.sub(r"[^a-z0-9-]", "-", f"local-{logical_id.lower()}")[:63]
