"""AstroMAE inference for one rank: its own contiguous slice, metrics, and the run's combined record.

The course version had every rank load and infer the whole file (more ranks = duplicated work); here rank
r of W infers only `rank_range(N, r, W)` and rank 0 gathers the small per-rank records and dz arrays to
write the combined record. The lead's Lambda handler downloads weights and data, opens the communicator
from the payload and calls `run_rank`; nothing here touches AWS.

CPU speed without changing the arithmetic (all fp32, results equal to the plain model up to rounding):
BatchNorm folded into the convolutions, channels-last tensors for the CNN branch (PyTorch's pooling and
oneDNN convolutions are much faster there), fused scaled-dot-product attention, `inference_mode`,
micro-batches of 128-256 (activations stay in cache), one thread per available core, no DataLoader.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from workloads.cosmic.astromae import AstroMAE, Attention, ConvBlock, Mlp, build_model, load_weights
from workloads.cosmic.dataset import AstroData, rank_range
from workloads.cosmic.metrics import combine_records, delta_z, rank_record


def default_batch(threads: int) -> int:
    """Micro-batch that keeps activations in cache: 128 on one core, 256 when GEMMs are split over more
    (measured best on AVX-512 Xeons; the course's 512 is slower on both)."""
    return 128 if threads <= 1 else 256


class Gathering(Protocol):
    rank: int
    world_size: int

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None: ...


class SoloComm:
    """Stands in for a communicator when one process does the whole job."""

    rank, world_size = 0, 1

    def gather(self, obj: Any, root: int = 0) -> list[Any]:
        return [obj]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def optimize_for_cpu(model: AstroMAE, batch_hint: int = 128) -> nn.Module:
    """A copy of `model` for eval only: BatchNorm folded into each conv, channels-last weights, the
    linear layers that meet with no activation between them multiplied into one, and (where oneDNN is
    available) every linear layer replaced by a pre-packed oneDNN one with its GELU/ReLU fused."""
    fast = copy.deepcopy(model).eval()
    for module in fast.modules():
        if isinstance(module, ConvBlock) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    _merge_linear_chains(fast)
    if PackedLinear.available():
        _pack_linears(fast, batch_hint)
    return fast.to(memory_format=torch.channels_last)


class PackedLinear(nn.Module):
    """y = act(x W^T + b) in one oneDNN call, with W reordered once for the CPU's GEMM kernels.

    The separate GELU after the MLP's first layer costs nearly as much as the GEMM itself on CPU;
    fused, it is applied while the output tile is still in cache. fp32 throughout; the GELU is the exact
    (erf) one."""

    def __init__(self, linear: nn.Linear, activation: str, batch_hint: int) -> None:
        super().__init__()
        self.activation = activation  # "none" | "relu" | "gelu"
        self.out_features = linear.out_features
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), batch_hint))
        self.register_buffer("bias", linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        y = torch.ops.mkldnn._linear_pointwise(flat, self.weight, self.bias, self.activation, [], "none")
        return y.reshape(*x.shape[:-1], self.out_features)

    @staticmethod
    @torch.no_grad()
    def available() -> bool:
        """oneDNN's packed linear exists in this build and agrees with nn.Linear (else: plain layers)."""
        if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
            return False
        try:
            probe = nn.Linear(16, 8)
            x = torch.randn(4, 3, 16)
            want = torch.nn.functional.gelu(probe(x))
            return bool(torch.allclose(PackedLinear(probe, "gelu", 12)(x), want, atol=1e-5))
        except (RuntimeError, AttributeError):
            return False


@torch.no_grad()
def _pack_linears(model: nn.Module, batch_hint: int) -> None:
    """Swap every nn.Linear for a PackedLinear, absorbing an activation module that directly follows it."""
    for module in list(model.modules()):
        if isinstance(module, Mlp):
            module.fc1 = PackedLinear(module.fc1, "gelu", batch_hint * 17)
            module.act = nn.Identity()
            module.fc2 = PackedLinear(module.fc2, "none", batch_hint * 17)
        elif isinstance(module, Attention):
            module.qkv = PackedLinear(module.qkv, "none", batch_hint * 17)
            module.proj = PackedLinear(module.proj, "none", batch_hint * 17)
        elif isinstance(module, nn.Sequential):
            children = list(module)
            for i, child in enumerate(children):
                if isinstance(child, nn.Linear):
                    follows = children[i + 1] if i + 1 < len(children) else None
                    fused = "relu" if isinstance(follows, nn.ReLU) else "none"
                    module[i] = PackedLinear(child, fused, batch_hint)
                    if fused == "relu":
                        module[i + 1] = nn.Identity()


def _compose(outer: nn.Linear, inner: nn.Linear) -> nn.Linear:
    """outer(inner(x)) as one layer: W = Wo Wi, b = Wo bi + bo (computed in float64)."""
    merged = nn.Linear(inner.in_features, outer.out_features)
    wo, wi = outer.weight.double(), inner.weight.double()
    merged.weight.data = (wo @ wi).float()
    merged.bias.data = (wo @ inner.bias.double() + outer.bias.double()).float()
    return merged


@torch.no_grad()
def _merge_linear_chains(m: AstroMAE) -> None:
    """head -> vit_block[0], and the last layer of each branch -> the first layer of concat_block:
    3.5 M fewer multiply-adds per sample; the same function up to float rounding."""
    m.vit_block[0] = _compose(m.vit_block[0], m.head)
    m.head = nn.Identity()
    concat = m.concat_block[0]
    tails = (m.vit_block, m.inception_model.vis_inception, m.inception_model.magnitude_block)
    weight, bias = concat.weight.double(), concat.bias.double().clone()
    parts, start = [], 0
    for branch in tails:
        tail = branch[-1]
        block = weight[:, start : start + tail.out_features]
        parts.append(block @ tail.weight.double())
        bias += block @ tail.bias.double()
        start += tail.out_features
        branch[-1] = nn.Identity()
    merged = nn.Linear(sum(p.shape[1] for p in parts), concat.out_features)
    merged.weight.data = torch.cat(parts, dim=1).float()
    merged.bias.data = bias.float()
    m.concat_block[0] = merged


class Predictor:
    """Redshift predictions for arbitrarily many samples, in micro-batches."""

    def __init__(self, model: AstroMAE, batch_size: int = 128, optimize: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.batch_size = batch_size
        self.optimized = optimize
        self.model = optimize_for_cpu(model, batch_size) if optimize else model.eval()

    def predict(self, images: torch.Tensor, magnitudes: torch.Tensor,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        n = images.shape[0]
        out = np.empty(n, dtype=np.float32)
        layout = torch.channels_last if self.optimized else torch.contiguous_format
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                stop = min(n, start + self.batch_size)
                batch = images[start:stop].contiguous(memory_format=layout)
                out[start:stop] = self.model(batch, magnitudes[start:stop]).reshape(-1).numpy()
                if progress is not None:
                    progress(stop, n)
        return out


@dataclass(frozen=True)
class InferenceSettings:
    batch_size: int | None = None  # None: default_batch(threads)
    threads: int | None = None  # None: every core this process may use
    weights_path: str | None = None  # a state_dict file; None: deterministic random weights (seed)
    seed: int = 0


def load_model(settings: InferenceSettings) -> tuple[AstroMAE, str]:
    """The model and a description of its weights for the record."""
    model = build_model(settings.seed)
    if settings.weights_path is None:
        return model, f"random-init(seed={settings.seed})"
    load_weights(model, Path(settings.weights_path))
    return model, f"state_dict:{Path(settings.weights_path).name}"


def run_rank(data: AstroData, settings: InferenceSettings, run_id: str, comm: Gathering | None = None,
             data_load_s: float = 0.0, model: AstroMAE | None = None,
             part_offset: int | None = None) -> dict[str, Any]:
    """Infer this rank's slice of `data` (the whole dataset every rank sees) and combine at rank 0.
    With `part_offset`, `data` is already this rank's own part (e.g. its own files), starting at that
    global sample index.

    Returns {"rank": record, "combined": record or None (None except at rank 0)}.
    """
    comm = comm or SoloComm()
    t_start = time.perf_counter()
    threads = settings.threads or available_cores()
    torch.set_num_threads(threads)
    if part_offset is None:
        start, stop = rank_range(len(data), comm.rank, comm.world_size)
        part = data.slice(start, stop)
    else:
        start, stop, part = part_offset, part_offset + len(data), data

    t = time.perf_counter()
    if model is None:
        model, weights = load_model(settings)
    else:
        weights = "given"
    batch_size = settings.batch_size or default_batch(threads)
    predictor = Predictor(model, batch_size)
    model_load_s = time.perf_counter() - t

    t = time.perf_counter()
    pred = predictor.predict(part.images, part.magnitudes)
    inference_s = time.perf_counter() - t

    z = part.redshifts.numpy()
    timing = {"data_load": data_load_s, "model_load": model_load_s, "inference": inference_s,
              "communication": 0.0, "total": data_load_s + time.perf_counter() - t_start}
    record = rank_record(run_id=run_id, rank=comm.rank, world_size=comm.world_size, sample_range=(start, stop),
                         pred=pred, z=z, batch_size=batch_size, threads=threads, weights=weights,
                         timing_s=timing, input_bits=part.input_bits)

    t = time.perf_counter()
    gathered = comm.gather({"record": record, "delta_z": delta_z(pred, z)}, root=0)
    record["timing_s"]["communication"] = time.perf_counter() - t
    record["timing_s"]["total"] = data_load_s + time.perf_counter() - t_start
    combined = None
    if gathered is not None:
        gathered[comm.rank]["record"] = record  # with its final timings
        combined = combine_records([g["record"] for g in gathered], [g["delta_z"] for g in gathered])
    return {"rank": record, "combined": combined}
