"""cosmicai last step: read every rank's record back from S3 and write the execution's summary.

Event: the run (validate's output). Lists runs/<execution>/ranks/ page by page (the CAI summarizer's
single unpaginated call stopped at 1,000 records), checks one record per rank and, for inference, that
rank 0's combined record is the exact sum of them, writes runs/<execution>/summary.json and returns it.
Raises ResultsIncomplete / ResultsInconsistent (the execution fails with the reason).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from adapters.s3_store import S3Store
from workloads.cosmic.job import ResultsInconsistent, combined_key, ranks_prefix, summarize, summary_key

logger = Logger(service="cosmic-summary")


def rank_records(store: S3Store, prefix: str) -> dict[int, dict]:
    records: dict[int, dict] = {}
    for key in store.list(ranks_prefix(prefix)):  # every page, not just the first 1,000 records
        record = store.read_json(key)
        rank = record.get("rank") if isinstance(record, dict) else None
        if not isinstance(rank, int) or rank in records:
            raise ResultsInconsistent(f"s3://{store.bucket}/{key} is not one rank's record")
        records[rank] = record
    return records


def handler(event: dict, context: object) -> dict:
    run = event
    bucket, prefix = run["results_bucket"], run["results_prefix"]
    store = S3Store(bucket)
    records = rank_records(store, prefix)
    combined = store.read_json(combined_key(prefix)) if run["mode"] == "inference" else None
    summary = summarize(run, records, combined)
    store.put_json(summary_key(prefix), summary)
    logger.info("run summarized", extra={"run_id": run["run_id"], "world_size": run["world_size"]})
    return {**{k: v for k, v in summary.items() if k != "rank_keys"}, "summary_key": summary_key(prefix)}
