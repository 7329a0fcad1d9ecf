"""Seismic inputs for LSRTM-SGD as local files: a synthetic dataset, or BP 2004 converted.

The local cloud's LSRTM runner makes the synthetic one; `hpcx data synthetic` and `hpcx data bp2004` make
one and upload it to a deployed stack's bucket (adapters.seismic_upload).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BP2004_SPACING = (6.25, 6.25)  # m, as published with the BP 2004 model
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


def progress_bar():
    """A rich progress bar (imported here: the worker images do not install rich)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def synthetic_files(workdir: Path, num_shots: int) -> Dataset:
    """Where make_synthetic puts its files (their names become the S3 keys: see input_sections)."""
    return Dataset(
        model=workdir / "background.npz",
        water=workdir / "water.npy",
        shots=[workdir / f"shot_{i}.segy" for i in range(num_shots)],
        true_model=workdir / "true_model.npz",
    )


def input_sections(prefix: str, dataset: Dataset) -> dict:
    """The execution input's `model` and `data` sections for the dataset uploaded under `prefix`."""
    model = {"key": f"{prefix}models/{dataset.model.name}"}
    if dataset.water is not None:
        model["water_key"] = f"{prefix}models/{dataset.water.name}"
    data = {"prefix": f"{prefix}data/", "name": dataset.shot_name, "num_shots": len(dataset.shots),
            "first_shot": dataset.first_shot}
    return {"model": model, "data": data}


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
    dataset = synthetic_files(workdir, num_shots)
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


def bp2004_shot_files(shots_dir: Path) -> list[Path]:
    """The published shots, bp_observed_data_1.segy ... _1348.segy; FileNotFoundError naming missing ones."""
    shots = [shots_dir / f"{BP2004_SHOT_NAME}{i}.segy" for i in range(1, BP2004_SHOTS + 1)]
    missing = [p.name for p in shots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} shot files missing in {shots_dir}, e.g. {missing[:3]}")
    return shots


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
    shots = bp2004_shot_files(shots_dir)
    return Dataset(model=model_path, water=water_path, shots=shots, shot_name=BP2004_SHOT_NAME, first_shot=1)
