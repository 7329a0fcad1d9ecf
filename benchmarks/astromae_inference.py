"""AstroMAE inference: samples/s per core, ours vs a baseline written the way the course ran it.

Fixed sizes: 2,048 synthetic samples ([5, 32, 32] images + 5 magnitudes), the same random weights for both.
Baseline (the course's `inference.py`, 2025 version): timm-0.4.12 attention (explicit q k^T, softmax, v),
BatchNorm unfused, NCHW, a DataLoader over a TensorDataset with batch 512, `torch.no_grad()`, the whole
loop under `torch.profiler.profile(activities=[CPU], profile_memory=True)` and `gc.collect()` after
every batch. Ours: `workloads.cosmic.inference.Predictor` (folded BN, channels-last CNN, fused attention,
inference_mode, micro-batches of 128 on one thread, 256 on more). Both are timed by wall clock,
interleaved, best of three rounds, first with one thread (per core) and then with every core (divided by
the cores).

Metrics: samples/s per core for both and `samples_per_s_ratio` = ours / baseline (target >= 2), plus
the largest difference between the two sets of predictions (both fp32: rounding only).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workloads.cosmic import astromae  # noqa: E402
from workloads.cosmic.dataset import synthetic_dataset  # noqa: E402
from workloads.cosmic.inference import Predictor, available_cores, default_batch  # noqa: E402

SAMPLES = 2048
COURSE_BATCH = 512
ROUNDS = 3


class CourseAttention(astromae.Attention):
    """timm 0.4.12's Attention.forward, as the course's pickled model ran it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class CourseModel(torch.nn.Module):
    """Called as `model([image, magnitude])`, like ViT_Astro."""

    def __init__(self, model: astromae.AstroMAE) -> None:
        super().__init__()
        for block in model.blocks:
            block.attn.__class__ = CourseAttention
        self.model = model

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.model(x[0], x[1])


def course_baseline(model: CourseModel, data: TensorDataset) -> tuple[float, torch.Tensor]:
    """The course loop; returns (wall seconds, predictions)."""
    loader = DataLoader(data, batch_size=COURSE_BATCH)
    outputs = []
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True), torch.no_grad():
        for batch in loader:
            image = batch[0].to("cpu")
            magnitude = batch[1].to("cpu")
            outputs.append(model([image, magnitude]))
            gc.collect()
    return time.perf_counter() - start, torch.cat(outputs).reshape(-1)


def ours(predictor: Predictor, images: torch.Tensor, mags: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    pred = predictor.predict(images, mags)
    return time.perf_counter() - start, torch.from_numpy(pred)


def measure(threads: int, baseline_model: CourseModel, predictor: Predictor, data: TensorDataset) -> dict:
    torch.set_num_threads(threads)
    predictor.batch_size = default_batch(threads)
    images, mags = data.tensors[0], data.tensors[1]
    course_baseline(baseline_model, TensorDataset(*(t[:COURSE_BATCH] for t in data.tensors)))  # warm-up
    predictor.predict(images[:256], mags[:256])
    best_base = best_ours = float("inf")
    for r in range(ROUNDS):
        t_base, pred_base = course_baseline(baseline_model, data)
        t_ours, pred_ours = ours(predictor, images, mags)
        best_base, best_ours = min(best_base, t_base), min(best_ours, t_ours)
        print(f"  threads={threads} round {r + 1}/{ROUNDS}: baseline {SAMPLES / t_base:.1f} samples/s, "
              f"ours {SAMPLES / t_ours:.1f} samples/s", flush=True)
    base_rate, our_rate = SAMPLES / best_base / threads, SAMPLES / best_ours / threads
    return {
        "our_batch": predictor.batch_size,
        "baseline_samples_per_s_per_core": round(base_rate, 1),
        "ours_samples_per_s_per_core": round(our_rate, 1),
        "samples_per_s_ratio": round(our_rate / base_rate, 3),
        "max_abs_prediction_diff": float((pred_base - pred_ours).abs().max()),
    }


def main() -> int:
    cores = available_cores()
    print(f"AstroMAE inference: {SAMPLES} synthetic samples, {cores} cores, torch {torch.__version__}", flush=True)
    data = synthetic_dataset(SAMPLES, seed=7)
    tensors = TensorDataset(data.images, data.magnitudes, data.redshifts)
    model = astromae.build_model(seed=0)
    predictor = Predictor(model)  # optimizes a copy: the baseline below keeps the plain model
    baseline_model = CourseModel(model).eval()
    one = measure(1, baseline_model, predictor, tensors)
    metrics = {"samples": SAMPLES, "course_batch": COURSE_BATCH, **one}
    if cores > 1:
        every = measure(cores, baseline_model, predictor, tensors)
        metrics.update({f"{k}_{cores}threads": v for k, v in every.items() if k != "max_abs_prediction_diff"})
    print(json.dumps({"benchmark": "astromae_inference", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
