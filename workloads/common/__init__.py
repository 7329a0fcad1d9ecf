"""What the four experiments' workloads share: strict input models and InvalidInput
(execution_input.py), run ids from execution names (run_ids.py), and the object-store protocol the
handlers and workers write through (store.py; adapters/s3_store.py implements it on S3)."""
