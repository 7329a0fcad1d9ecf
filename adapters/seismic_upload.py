"""Uploading a local seismic dataset to S3 under the key layout the LSRTM-SGD execution input names."""

from __future__ import annotations

from workloads.seismic.datasets import Dataset, input_sections, progress_bar


def upload(s3, bucket: str, prefix: str, dataset: Dataset, *, show_progress: bool = True) -> dict:
    """Upload the dataset under `prefix`; returns the execution-input sections naming the keys."""
    sections = input_sections(prefix, dataset)
    uploads = [(dataset.model, sections["model"]["key"])]
    if dataset.water is not None:
        uploads.append((dataset.water, sections["model"]["water_key"]))
    uploads += [(p, f"{sections['data']['prefix']}{p.name}") for p in dataset.shots]
    total = sum(p.stat().st_size for p, _ in uploads)
    with progress_bar() as bar:
        task = bar.add_task(f"uploading to s3://{bucket}/{prefix}", total=total, visible=show_progress)
        for path, key in uploads:
            s3.upload_file(str(path), bucket, key, Callback=lambda n: bar.advance(task, n))
    return sections
