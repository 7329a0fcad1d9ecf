"""Entrypoint of the AutoMon image: ``python -m workloads.automon <args>``, then the results to S3.

The experiment state machine sets RESULTS_BUCKET and RESULTS_PREFIX (results/<execution>/<node_type>/
eps_<e>/); every file the run wrote under RESULTS_DIR goes to s3://RESULTS_BUCKET/RESULTS_PREFIX<path>,
whatever the run's status, so a failed run still leaves its evidence. Without those variables nothing
is uploaded (a local run). The exit code is the CLI's (0 completed, 1 ended early, 2 bad settings,
3 automon package missing, 4 data set missing), or EXIT_UPLOAD_FAILED when the upload fails, so a run
never looks complete without its results. The science package never imports boto3; this glue does.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

EXIT_UPLOAD_FAILED = 5
RUN_COMMANDS = ("coordinator", "node")

log = logging.getLogger("automon.task")


def upload_results(results_dir: Path, bucket: str, prefix: str, client=None) -> list[str]:
    """Put every file under results_dir to s3://bucket/prefix<relative path>; returns the keys written.
    A single PUT is atomic and idempotent: a retried task overwrites its own keys, never another's."""
    from adapters.s3_store import S3Store

    # the bucket may be in another region (the coordinator's results cross regions)
    store = S3Store(bucket, client, region=os.environ.get("RESULTS_BUCKET_REGION") or None)
    return store.put_tree(results_dir, prefix)


def main(argv: list[str]) -> int:
    from workloads.automon.cli import main as cli_main

    try:
        code = cli_main(argv)
    except SystemExit as stop:  # argparse: --help, or a usage error (exit 2)
        code = stop.code if isinstance(stop.code, int) else 2
    bucket, prefix = os.environ.get("RESULTS_BUCKET"), os.environ.get("RESULTS_PREFIX")
    if not (bucket and prefix and argv and argv[0] in RUN_COMMANDS):
        return code
    results_dir = Path(os.environ.get("RESULTS_DIR", "automon-results"))
    try:
        keys = upload_results(results_dir, bucket, prefix) if results_dir.is_dir() else []
    except Exception:  # any botocore error: say so in the log and in the exit code
        log.exception("uploading %s to s3://%s/%s failed", results_dir, bucket, prefix)
        return EXIT_UPLOAD_FAILED
    print(f"uploaded {len(keys)} result files to s3://{bucket}/{prefix}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
