"""Seismic inputs for a deployed LSRTM-SGD stack: make a synthetic dataset or convert BP 2004, upload it.

  python -m tools.seismic_data synthetic --bucket BUCKET [--shots 16] [--shape 161x61]
  python -m tools.seismic_data bp2004 --bucket BUCKET --velocity-h5 bp_synthetic_2004_velocity.h5 \\
      --water-h5 bp_synthetic_2004_water_bottom.h5 --shots-dir bp_synthetic_2004/

Both print the execution input to start the LSRTM-SGD state machine with. The BP 2004 files are the
ones the original project published (see its README); this command does not download them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adapters.seismic_upload import upload
from workloads.seismic.datasets import convert_bp2004, make_synthetic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    syn = sub.add_parser("synthetic", help="make and upload a synthetic dataset")
    syn.add_argument("--bucket", required=True)
    syn.add_argument("--prefix", default="examples/synthetic/")
    syn.add_argument("--shots", type=int, default=16)
    syn.add_argument("--shape", default="161x61", help="nx x nz grid points")
    syn.add_argument("--workdir", type=Path, default=Path("out/synthetic"))
    bp = sub.add_parser("bp2004", help="convert and upload BP 2004")
    bp.add_argument("--bucket", required=True)
    bp.add_argument("--prefix", default="bp2004/")
    bp.add_argument("--velocity-h5", type=Path, required=True)
    bp.add_argument("--water-h5", type=Path)
    bp.add_argument("--shots-dir", type=Path, required=True)
    bp.add_argument("--workdir", type=Path, default=Path("out/bp2004"))
    args = parser.parse_args(argv)

    import boto3

    if args.command == "synthetic":
        nx, nz = (int(v) for v in args.shape.lower().split("x"))
        dataset = make_synthetic(args.workdir, shape=(nx, nz), num_shots=args.shots)
    else:
        dataset = convert_bp2004(args.velocity_h5, args.water_h5, args.shots_dir, args.workdir)
    sections = upload(boto3.client("s3"), args.bucket, args.prefix, dataset)
    example = Path("examples") / ("lsrtm_synthetic.json" if args.command == "synthetic" else "lsrtm_bp2004.json")
    execution_input = {**json.loads(example.read_text()), **sections}
    print(json.dumps(execution_input, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
