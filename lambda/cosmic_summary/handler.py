"""cosmicai last step: read every rank's record back from S3 and write the execution's summary.

Event: the run (validate's output). Lists runs/<execution>/ranks/ page by page (the CAI summarizer's
single unpaginated call stopped at 1,000 records), checks one record per rank and, for inference, that
rank 0's combined record is the exact sum of them, writes runs/<execution>/summary.json and returns it.
Raises ResultsIncomplete / ResultsInconsistent (the execution fails with the reason).
"""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.cosmic.job import ResultsInconsistent, combined_key, ranks_prefix, summarize, summary_key

logger = Logger(service="cosmic-summary")
PAGE_SIZE = 1000  # list_objects_v2's maximum page


def rank_records(s3, bucket: str, prefix: str) -> dict[int, dict]:
    records: dict[int, dict] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=ranks_prefix(prefix), PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        for obj in page.get("Contents", []):
            record = S3Store(bucket, s3).read_json(obj["Key"])
            rank = record.get("rank") if isinstance(record, dict) else None
            if not isinstance(rank, int) or rank in records:
                raise ResultsInconsistent(f"s3://{bucket}/{obj['Key']} is not one rank's record")
            records[rank] = record
    return records


def handler(event: dict, context: object) -> dict:
    run = event
    bucket, prefix = run["results_bucket"], run["results_prefix"]
    s3 = boto3.client("s3")
    records = rank_records(s3, bucket, prefix)
    combined = S3Store(bucket, s3).read_json(combined_key(prefix)) if run["mode"] == "inference" else None
    summary = summarize(run, records, combined)
    s3.put_object(Bucket=bucket, Key=summary_key(prefix), Body=json.dumps(summary, indent=2).encode())
    logger.info("run summarized", extra={"run_id": run["run_id"], "world_size": run["world_size"]})
    return {**{k: v for k, v in summary.items() if k != "rank_keys"}, "summary_key": summary_key(prefix)}
