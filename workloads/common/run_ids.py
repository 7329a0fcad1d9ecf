"""A run id from a Step Functions execution name: the S3 prefix and ECS tokens of one run carry it."""

from __future__ import annotations

import re

from workloads.common.execution_input import InvalidInput, echo

RUN_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")  # what S3 prefixes, ECS startedBy and file names all accept
MAX_RUN_ID = 80  # execution names may have 80 characters: a run id never needs to be cut


def run_id_of(execution: str) -> str:
    """The execution name with every other character replaced by '_'; InvalidInput if nothing is left."""
    run_id = RUN_ID_CHARS.sub("_", execution)[:MAX_RUN_ID]
    if not run_id.strip("_"):
        raise InvalidInput(f"execution name {echo(execution)} gives no usable run id")
    return run_id
