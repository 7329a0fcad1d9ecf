"""Synthetic data, the course's file format, per-rank slices, and inference across ranks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from workloads.cosmic.astromae import AstroMAE, build_model
from workloads.cosmic.communicator import Communicator
from workloads.cosmic.dataset import AstroData, load_dataset, rank_range, save_dataset, synthetic_dataset
from workloads.cosmic.inference import InferenceSettings, Predictor, run_rank
from workloads.cosmic.metrics import validate_record
from workloads.cosmic.rendezvous_server import ServerThread


@pytest.fixture(scope="module")
def model() -> AstroMAE:
    return build_model(seed=0)


def test_synthetic_dataset_shapes_ranges_and_seed() -> None:
    d = synthetic_dataset(50, seed=4)
    assert d.images.shape == (50, 5, 32, 32) and d.magnitudes.shape == (50, 5) and d.redshifts.shape == (50,)
    assert d.images.dtype == d.magnitudes.dtype == d.redshifts.dtype == torch.float32
    assert 0.01 <= float(d.redshifts.min()) and float(d.redshifts.max()) <= 0.8
    assert 12 < float(d.magnitudes.min()) and float(d.magnitudes.max()) < 28
    # brighter (smaller magnitude) galaxies carry more flux in their images
    r_flux = d.images[:, 2].sum(dim=(1, 2))
    assert np.corrcoef(d.magnitudes[:, 2].numpy(), np.log(np.clip(r_flux.numpy(), 1e-3, None)))[0, 1] < -0.5
    assert torch.equal(synthetic_dataset(50, seed=4).images, d.images)
    assert not torch.equal(synthetic_dataset(50, seed=5).images, d.images)
    assert d.input_bits == 50 * (5 * 32 * 32 + 5) * 32
    assert len(synthetic_dataset(0)) == 0


def test_course_file_format_round_trip(tmp_path) -> None:  # noqa: ANN001
    d = synthetic_dataset(6)
    save_dataset(d, tmp_path / "data.pt")
    back = load_dataset(tmp_path / "data.pt")
    assert all(torch.equal(a, b) for a, b in zip((d.images, d.magnitudes, d.redshifts),
                                                  (back.images, back.magnitudes, back.redshifts), strict=True))
    torch.save({"images": d.images, "magnitudes": d.magnitudes, "redshifts": d.redshifts.reshape(-1, 1)},
               tmp_path / "dict.pt")
    assert torch.equal(load_dataset(tmp_path / "dict.pt").redshifts, d.redshifts)
    big = torch.zeros(2, 5, 64, 64)
    big[:, :, 16:48, 16:48] = 1.0  # the centre survives the crop, the border does not
    torch.save(TensorDataset(big, torch.zeros(2, 5), torch.zeros(2)), tmp_path / "big.pt")
    assert bool((load_dataset(tmp_path / "big.pt").images == 1.0).all())
    torch.save((torch.zeros(2, 3, 32, 32), torch.zeros(2, 5), torch.zeros(2)), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="images must be"):
        load_dataset(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="magnitudes"):
        AstroData(torch.zeros(2, 5, 32, 32), torch.zeros(3, 5), torch.zeros(2))


def test_ranks_loading_datasets_in_threads_at_once_all_succeed(tmp_path) -> None:  # noqa: ANN001
    """Local runs start ranks as threads; a dataset load must not depend on another thread's torch state."""
    path = tmp_path / "data.pt"
    save_dataset(synthetic_dataset(4, seed=0), path)
    errors: list[str] = []

    def load_many() -> None:
        for _ in range(30):
            try:
                load_dataset(path)
            except Exception as exc:  # noqa: BLE001 - collect, then report every failure
                errors.append(repr(exc)[:200])

    threads = [threading.Thread(target=load_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("n", [0, 1, 7, 1253, 5113])
def test_rank_ranges_cover_every_sample_once(n: int) -> None:
    for world in (1, 2, 3, 8, 130):
        ranges = [rank_range(n, r, world) for r in range(world)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        sizes = [b - a for a, b in ranges]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        rank_range(10, 3, 3)


def test_optimized_predictor_matches_the_plain_model(model: AstroMAE) -> None:
    d = synthetic_dataset(21, seed=2)
    with torch.inference_mode():
        plain = model(d.images, d.magnitudes).reshape(-1).numpy()
    fast = Predictor(model, batch_size=8).predict(d.images, d.magnitudes)  # 8 + 8 + 5
    np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-5)
    unoptimized = Predictor(model, batch_size=5, optimize=False).predict(d.images, d.magnitudes)
    np.testing.assert_allclose(unoptimized, plain, rtol=1e-5, atol=1e-6)
    assert isinstance(model.head, torch.nn.Linear)  # the original model is left as it was


def test_single_process_run(model: AstroMAE) -> None:
    d = synthetic_dataset(10, seed=3)
    out = run_rank(d, InferenceSettings(batch_size=4, threads=1), "solo-run", model=model)
    rank, combined = validate_record(out["rank"]), validate_record(out["combined"])
    assert rank["sample_ranges"] == [[0, 10]] and rank["batches"] == 3 and rank["threads"] == 1
    assert combined["metrics"] == rank["metrics"] and combined["metrics"]["nmad"] is not None
    assert rank["throughput"]["samples_per_s"] > 0
    own_part = run_rank(d, InferenceSettings(batch_size=4, threads=1), "solo-run", model=model, part_offset=100)
    assert own_part["rank"]["sample_ranges"] == [[100, 110]] and own_part["rank"]["samples"] == 10


def test_ranks_infer_disjoint_slices_and_rank0_combines(model: AstroMAE, server: ServerThread) -> None:
    d = synthetic_dataset(23, seed=9)
    settings = InferenceSettings(batch_size=4, threads=1)
    solo = run_rank(d, settings, "run", model=model)["combined"]
    results: list = [None] * 3

    def rank(r: int) -> None:
        with Communicator(r, 3, "infer-test-", "127.0.0.1", server.port, timeout_s=60) as comm:
            results[r] = run_rank(d, settings, "run", comm=comm, model=model)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [res["rank"]["sample_ranges"] for res in results] == [[[0, 8]], [[8, 16]], [[16, 23]]]
    assert results[1]["combined"] is None and results[2]["combined"] is None
    combined = validate_record(results[0]["combined"])
    assert combined["ranks"] == [0, 1, 2] and combined["samples"] == 23 and combined["threads"] == 3
    for key, value in solo["metrics"].items():
        assert combined["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
