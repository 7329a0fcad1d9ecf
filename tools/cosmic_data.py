"""A synthetic AstroMAE dataset for a deployed FmiStack's data bucket (uses your AWS credentials).

    hpcx data cosmic --bucket <DataBucket> [--key inputs/...] [--samples 1024]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cosmicai_synthetic.json"


def default_key() -> str:
    """The data_key of the example input, so the example runs as it is."""
    return json.loads(EXAMPLE.read_text())["data_key"]


def upload(bucket: str, key: str, samples: int, s3=None) -> str:
    """Make `samples` synthetic samples and upload them as one TensorDataset .pt; returns its S3 URL."""
    from workloads.cosmic.dataset import save_dataset, synthetic_dataset

    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.pt"
        save_dataset(synthetic_dataset(samples, seed=0), path)
        s3.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


if __name__ == "__main__":
    from hpcx.main import cli

    sys.exit(cli(["data", "cosmic", *sys.argv[1:]], prog_name="python -m tools.cosmic_data"))
