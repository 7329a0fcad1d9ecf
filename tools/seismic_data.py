"""Seismic inputs for LSRTM-SGD: make a synthetic dataset, convert BP 2004, upload either to S3.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

BP2004_SPACING = (6.25, 6.25)  # m (reference/seismic_imaging.md §8)
BP2004_SHOTS = 1348
BP2004_SHOT_NAME = "bp_observed_data_"


@dataclass
class Dataset:
    """Local files of one dataset, and the names they get in the bucket."""

    model: Path  # background model (.npz of workloads.seismic.Model)
    water: Path | None  # water mask (.npy)
    shots: list[Path]
    shot_name: str = "shot_"
    first_shot: int = 0
    true_model: Path | None = None  # synthetic data only: the model the shots were made in


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def make_synthetic(
    workdir: Path, *, shape: tuple[int, int] = (161, 61), spacing: tuple[float, float] = (12.5, 12.5),
    num_shots: int = 12, record_ms: float = 1000.0, seed: int = 0, show_progress: bool = True,
) -> Dataset:
    """A layered model with salt, its smoothed background and shots modelled in the true model.

    Files are reused when a previous call made them with the same settings.
    """
    from workloads.seismic.model import water_mask
    from workloads.seismic.modelling import surface_acquisition, synthetic_shot
    from workloads.seismic.segy import write_shot
    from workloads.seismic.synthetic import smooth_model, synthetic_model

    workdir.mkdir(parents=True, exist_ok=True)
    settings = {"shape": list(shape), "spacing": list(spacing), "num_shots": num_shots, "record_ms": record_ms, "seed": seed}
    dataset = Dataset(
        model=workdir / "background.npz",
        water=workdir / "water.npy",
        shots=[workdir / f"shot_{i}.segy" for i in range(num_shots)],
        true_model=workdir / "true_model.npz",
    )
    stamp = workdir / "settings.json"
    if stamp.exists() and json.loads(stamp.read_text()) == settings and all(p.exists() for p in dataset.shots):
        return dataset

    true = synthetic_model(shape, spacing, seed=seed)
    true.save_npz(dataset.true_model)
    smooth_model(true).save_npz(dataset.model)
    np.save(dataset.water, water_mask(true))
    (x0, x1), _ = true.extent
    margin = 0.05 * (x1 - x0)
    sources = np.linspace(x0 + margin, x1 - margin, num_shots)
    with progress_bar() as bar:
        task = bar.add_task("modelling synthetic shots", total=num_shots, visible=show_progress)
        for path, sx in zip(dataset.shots, sources, strict=True):
            src, rec = surface_acquisition(true, float(sx))
            write_shot(path, synthetic_shot(true, src, rec, record_ms=record_ms))
            bar.advance(task)
    stamp.write_text(json.dumps(settings))
    return dataset


def convert_bp2004(velocity_h5: Path, water_h5: Path | None, shots_dir: Path, workdir: Path) -> Dataset:
    """BP 2004 as published: HDF5 key 'm' (squared slowness, nz x nx) and 'wb' (water mask), SEG-Y shots."""
    import h5py

    from workloads.seismic.model import Model

    workdir.mkdir(parents=True, exist_ok=True)
    with h5py.File(velocity_h5, "r") as f:
        m = np.asarray(f["m"], dtype=np.float32).T  # stored (nz, nx); the model is (nx, nz)
    model_path = workdir / "bp2004_background.npz"
    Model(m=m, spacing=BP2004_SPACING).save_npz(model_path)
    water_path = None
    if water_h5 is not None:
        with h5py.File(water_h5, "r") as f:
            water = np.asarray(f["wb"]).T.astype(bool)
        if water.shape != m.shape:
            raise ValueError(f"water mask {water.shape} does not match the model {m.shape}")
        water_path = workdir / "bp2004_water.npy"
        np.save(water_path, water)
    shots = [shots_dir / f"{BP2004_SHOT_NAME}{i}.segy" for i in range(1, BP2004_SHOTS + 1)]
    missing = [p.name for p in shots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} shot files missing in {shots_dir}, e.g. {missing[:3]}")
    return Dataset(model=model_path, water=water_path, shots=shots, shot_name=BP2004_SHOT_NAME, first_shot=1)


def upload(s3, bucket: str, prefix: str, dataset: Dataset, *, show_progress: bool = True) -> dict:
    """Upload the dataset under `prefix`; returns the execution-input sections naming the keys."""
    model_key = f"{prefix}models/{dataset.model.name}"
    uploads = [(dataset.model, model_key)]
    water_key = None
    if dataset.water is not None:
        water_key = f"{prefix}models/{dataset.water.name}"
        uploads.append((dataset.water, water_key))
    data_prefix = f"{prefix}data/"
    uploads += [(p, f"{data_prefix}{p.name}") for p in dataset.shots]
    total = sum(p.stat().st_size for p, _ in uploads)
    with progress_bar() as bar:
        task = bar.add_task(f"uploading to s3://{bucket}/{prefix}", total=total, visible=show_progress)
        for path, key in uploads:
            s3.upload_file(str(path), bucket, key, Callback=lambda n: bar.advance(task, n))
    model = {"key": model_key, **({"water_key": water_key} if water_key else {})}
    data = {"prefix": data_prefix, "name": dataset.shot_name, "num_shots": len(dataset.shots),
            "first_shot": dataset.first_shot}
    return {"model": model, "data": data}


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
