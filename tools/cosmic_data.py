"""A synthetic AstroMAE dataset for a deployed FmiStack's data bucket (uses your AWS credentials).

    python -m tools.cosmic_data --bucket <DataBucket> [--key inputs/...] [--samples 1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cosmicai_synthetic.json"


def upload(bucket: str, key: str, samples: int) -> str:
    """Make `samples` synthetic samples and upload them as one TensorDataset .pt; returns its S3 URL."""
    import boto3

    from workloads.cosmic.dataset import save_dataset, synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.pt"
        save_dataset(synthetic_dataset(samples, seed=0), path)
        boto3.client("s3").upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.cosmic_data",
                                description="upload a synthetic AstroMAE dataset to a deployed data bucket")
    p.add_argument("--bucket", required=True)
    p.add_argument("--key", default=json.loads(EXAMPLE.read_text())["data_key"])
    p.add_argument("--samples", type=int, default=1024)
    a = p.parse_args(argv)
    print(upload(a.bucket, a.key, a.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
