"""The AstroMAE model: parameter count, shapes, MAE position embedding, strict weight loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workloads.cosmic import astromae
from workloads.cosmic.astromae import AstroMAE, build_model, count_parameters, load_weights


@pytest.fixture(scope="module")
def model() -> AstroMAE:
    return build_model(seed=0)


def test_parameter_count(model: AstroMAE) -> None:
    total, trainable = count_parameters(model)
    assert trainable == astromae.REFERENCE_TRAINABLE == 10_398_057  # identical outside the encoder
    assert total == 15_801_513
    assert abs(total - astromae.REFERENCE_PARAMETERS) / astromae.REFERENCE_PARAMETERS < 0.007  # ~15.9 M
    encoder = sum(p.numel() for m in (model.patch_embed, model.blocks) for p in m.parameters())
    assert encoder + model.cls_token.numel() + model.pos_embed.numel() == total - trainable


def test_output_shape_and_determinism(model: AstroMAE) -> None:
    images, mags = torch.randn(3, 5, 32, 32), torch.randn(3, 5)
    with torch.inference_mode():
        out = model(images, mags)
        assert out.shape == (3, 1) and out.dtype == torch.float32
        assert torch.equal(out, model(images, mags))
        assert torch.allclose(model(images[:1], mags[:1]), out[:1], atol=1e-6)  # samples are independent
    assert torch.equal(build_model(seed=0).head.weight, model.head.weight)
    assert not torch.equal(build_model(seed=1).head.weight, model.head.weight)


def mae_reference_pos_embed(dim: int, grid: int) -> np.ndarray:
    """MAE's util/pos_embed.get_2d_sincos_pos_embed(dim, grid, cls_token=True), written out."""

    def one_d(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    g = np.stack(np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32)), axis=0)
    emb = np.concatenate([one_d(dim // 2, g[0]), one_d(dim // 2, g[1])], axis=1)
    return np.concatenate([np.zeros([1, dim]), emb], axis=0)


def test_position_embedding_is_maes(model: AstroMAE) -> None:
    assert model.pos_embed.shape == (1, 17, 192) and not model.pos_embed.requires_grad
    np.testing.assert_allclose(model.pos_embed[0].numpy(), mae_reference_pos_embed(192, 4), atol=1e-6)


def test_state_dict_round_trip_and_data_parallel_prefix(model: AstroMAE, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "weights.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    other = load_weights(build_model(seed=5), path)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert not other.training


def test_mismatched_or_pickled_checkpoints_are_refused(model: AstroMAE, tmp_path) -> None:  # noqa: ANN001
    state = model.state_dict()
    extra = {**state, "blocks.0.PCM.0.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected"):
        load_weights(build_model(), extra)
    missing = {k: v for k, v in state.items() if not k.startswith("concat_block")}
    with pytest.raises(ValueError, match="missing"):
        load_weights(build_model(), missing)
    pickled = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled module, like the course checkpoint
    with pytest.raises(ValueError, match="export"):
        load_weights(build_model(), pickled)
