"""AWS glue shared by the Lambda handlers and the container entrypoints (boto3 lives here, not in workloads/)."""
