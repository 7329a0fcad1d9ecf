"""`hpcx data ...`: make a dataset and upload it to a deployed stack's bucket (tools/seismic_data.py,
tools/cosmic_data.py). Credentials and the bucket are checked before any shot is modelled."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hpcx.errors import Failure, remember_region
from hpcx.options import Shape, json_option
from hpcx.paths import OUT

POSITIVE = click.IntRange(min=1)
H5 = click.Path(exists=True, dir_okay=False, path_type=Path)
MANIFEST_NAME = "bp2004_inputs.sha256"  # in --workdir, beside the converted files


@click.group()
def data() -> None:
    """Datasets for the deployed stacks (uses your AWS credentials).

    \b
    Example:
      hpcx data synthetic --bucket <DataBucket output of BatchStack> --shots 16
    """


def _region_option(f):
    return click.option("--region", help="the bucket's region (default: the profile's)")(f)


def _session(region: str | None):
    """A session whose credentials and region are checked by the caller's first call (require_bucket)."""
    import boto3

    remember_region(click.get_current_context(), region)
    return boto3.Session(region_name=region)


def _print_input(execution_input: dict, as_json: bool) -> None:
    click.echo(json.dumps(execution_input, indent=None if as_json else 2))
    if not as_json:
        click.echo("start the LSRTM-SGD state machine with this input (saved with --json > input.json)", err=True)


@data.command()
@click.option("--bucket", required=True, help="the deployed BatchStack's DataBucket output")
@click.option("--prefix", default="examples/synthetic/", help="S3 prefix of the dataset")
@click.option("--shots", type=POSITIVE, default=16, help="shots to model")
@click.option("--shape", type=Shape(), default="161x61", help="model grid points")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=OUT / "synthetic")
@_region_option
@json_option
def synthetic(bucket, prefix, shots, shape, workdir, region, as_json) -> None:
    """Model a synthetic dataset (layers and salt) and upload it; prints the execution input.

    \b
    Example:
      hpcx data synthetic --bucket hpcx-batch-databucket-abc123 --shots 16 --shape 161x61
    """
    from tools.aws_errors import require_bucket
    from tools.seismic_data import prepare_and_upload

    session = _session(region)
    require_bucket(session, bucket)  # before modelling: a missing credential or bucket costs nothing
    _print_input(prepare_and_upload("synthetic", session.client("s3"), bucket, prefix, workdir,
                                    shape=shape, shots=shots), as_json)


@data.command()
@click.option("--bucket", required=True, help="the deployed BatchStack's DataBucket output")
@click.option("--velocity-h5", type=H5, required=True, help="bp_synthetic_2004_velocity.h5 (key 'm')")
@click.option("--water-h5", type=H5, help="bp_synthetic_2004_water_bottom.h5 (key 'wb')")
@click.option("--shots-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="the folder of BP 2004 SEG-Y shots")
@click.option("--prefix", default="bp2004/", help="S3 prefix of the dataset")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=OUT / "bp2004")
@click.option("--checksums", type=H5, help="a SHA-256 manifest (sha256sum format) the inputs must match, e.g. "
              "the bp2004_inputs.sha256 an earlier conversion wrote; refuses on any difference")
@_region_option
@json_option
def bp2004(bucket, velocity_h5, water_h5, shots_dir, prefix, workdir, checksums, region, as_json) -> None:
    """Convert the BP 2004 model (HDF5) and shots (SEG-Y) the seed used and upload them; prints the execution
    input. Where the files come from: README, "BP 2004 data". Writes the SHA-256 of every input to
    WORKDIR/bp2004_inputs.sha256 first (no published checksums are known); --checksums checks them.

    \b
    Example:
      hpcx data bp2004 --bucket <DataBucket> --velocity-h5 bp_synthetic_2004_velocity.h5 \\
          --water-h5 bp_synthetic_2004_water_bottom.h5 --shots-dir bp_synthetic_2004/ \\
          --checksums bp2004_inputs.sha256
    """
    from tools.aws_errors import require_bucket
    from tools.seismic_data import prepare_and_upload

    session = _session(region)
    require_bucket(session, bucket)  # before converting every shot
    _check_inputs([velocity_h5, *([water_h5] if water_h5 else []), *_bp2004_shots(shots_dir)], workdir, checksums)
    _print_input(prepare_and_upload("bp2004", session.client("s3"), bucket, prefix, workdir, velocity_h5=velocity_h5,
                                    water_h5=water_h5, shots_dir=shots_dir), as_json)


def _bp2004_shots(shots_dir: Path) -> list[Path]:
    from workloads.seismic.datasets import bp2004_shot_files

    try:
        return bp2004_shot_files(shots_dir)
    except FileNotFoundError as exc:
        raise Failure(str(exc)) from None


def _check_inputs(inputs: list[Path], workdir: Path, checksums: Path | None) -> None:
    """Hash every input, write the manifest, and refuse (one line, exit 2) if --checksums disagrees."""
    from tools import checksums as sums
    from workloads.seismic.datasets import progress_bar

    try:
        expected = sums.read_manifest(checksums) if checksums else None  # a bad file fails before hashing GBs
        with progress_bar() as bar:
            task = bar.add_task("SHA-256 of the inputs", total=len(inputs))
            actual = sums.digests(inputs, advance=lambda: bar.advance(task))
        if expected is not None:  # before writing: the manifest given may be the one in workdir
            sums.verify(actual, expected, checksums)
            click.echo(f"every input matches {checksums}", err=True)
        manifest = sums.write_manifest(workdir / MANIFEST_NAME, actual)
        click.echo(f"SHA-256 of the {len(actual)} input files: {manifest}", err=True)
    except sums.ChecksumError as exc:
        raise Failure(str(exc)) from None


@data.command()
@click.option("--bucket", required=True, help="the deployed FmiStack's DataBucket output")
@click.option("--key", default=None, help="object key (default: the example input's data_key)")
@click.option("--samples", type=POSITIVE, default=1024, help="synthetic samples")
@_region_option
@json_option
def cosmic(bucket, key, samples, region, as_json) -> None:
    """Upload a synthetic AstroMAE dataset (TensorDataset .pt) for the cosmicai state machine.

    \b
    Example:
      hpcx data cosmic --bucket <DataBucket output of FmiStack> --samples 1024
    """
    from tools import cosmic_data
    from tools.aws_errors import require_bucket

    session = _session(region)
    require_bucket(session, bucket)
    key = key or cosmic_data.default_key()
    url = cosmic_data.upload(bucket, key, samples, s3=session.client("s3"))
    click.echo(json.dumps({"data_key": key, "url": url}) if as_json else url)
