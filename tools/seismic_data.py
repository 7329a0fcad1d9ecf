"""Seismic inputs for a deployed LSRTM-SGD stack: make a synthetic dataset or convert BP 2004, upload it.

  hpcx data synthetic --bucket BUCKET [--shots 16] [--shape 161x61]
  hpcx data bp2004 --bucket BUCKET --velocity-h5 bp_synthetic_2004_velocity.h5 \\
      --water-h5 bp_synthetic_2004_water_bottom.h5 --shots-dir bp_synthetic_2004/

Both print the execution input to start the LSRTM-SGD state machine with. The BP 2004 files are the
ones the original project used (the main README, "BP 2004 data", says where they come from); this
command does not download them. It writes their SHA-256 manifest and checks one given with --checksums.
(`python -m tools.seismic_data` takes the same arguments.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from adapters.seismic_upload import upload
from workloads.seismic.datasets import convert_bp2004, make_synthetic

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def prepare_and_upload(kind: str, s3, bucket: str, prefix: str, workdir: Path, *, shape=(161, 61), shots: int = 16,
                       velocity_h5: Path | None = None, water_h5: Path | None = None,
                       shots_dir: Path | None = None) -> dict:
    """Make (synthetic) or convert (bp2004) the dataset, upload it; returns the execution input."""
    if kind == "synthetic":
        dataset = make_synthetic(workdir, shape=tuple(shape), num_shots=shots)
    else:
        dataset = convert_bp2004(velocity_h5, water_h5, shots_dir, workdir)
    sections = upload(s3, bucket, prefix, dataset)
    example = EXAMPLES / ("lsrtm_synthetic.json" if kind == "synthetic" else "lsrtm_bp2004.json")
    return {**json.loads(example.read_text()), **sections}


if __name__ == "__main__":
    from hpcx.main import cli

    sys.exit(cli(["data", *sys.argv[1:]], prog_name="python -m tools.seismic_data"))
