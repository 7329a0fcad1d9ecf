"""AstroMAE photometric-redshift model (Fathkouhi & Fox), defined in our code so no pickle is needed.

Three branches, concatenated (3216 features) into Linear 1024 -> ReLU -> Linear 1:
1. a frozen MAE ViT encoder: patch embedding Conv2d(5 -> 192, kernel 8, stride 8) on 32x32 images
   (16 patches), cls token and position embedding (17 x 192), 12 transformer blocks (3 heads, MLP x4),
   mean of the patch tokens, LayerNorm, Linear(192, 192), then 192 -> 1096 -> 1096;
2. an Inception CNN: 1x1 conv 5 -> 32, average pool, five Inception blocks (the last uses three of its
   four branches), flatten to 192, 192 -> 1096 -> 1096;
3. a magnitude MLP: 5 -> 1024 and four Linear(1024, 1024).

Module names mirror the course's `ViT_Astro` / `Input_Mix_Model` (including its 1x1 conv registered twice),
so a state_dict exported from the course model maps key for key where the architectures agree.
Parameter count: 15,801,513, of which 10,398,057 outside the ViT encoder. The reference gives
10,398,057 trainable (identical) and 15,899,433 in total: its encoder blocks ("NormalCell", from ViTAE)
hold 97,920 parameters more than the standard MAE blocks defined here (the MAE definition in the
course repository), and their exact layout is not public. A checkpoint with those extra tensors is
refused by `load_weights` (strict loading) rather than silently half-loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

IMAGE_SHAPE = (5, 32, 32)  # u, g, r, i, z; 64x64 cut-outs centre-cropped to 32x32
MAGNITUDES = 5
EMBED_DIM = 192
PATCH = 8
DEPTH = 12
HEADS = 3
REFERENCE_PARAMETERS = 15_899_433
REFERENCE_TRAINABLE = 10_398_057


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int = IMAGE_SHAPE[0], dim: int = EMBED_DIM, patch: int = PATCH) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int = EMBED_DIM, heads: int = HEADS) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # softmax(q k^T / sqrt(d)) v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int = EMBED_DIM, hidden: int = 4 * EMBED_DIM) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm 0.4.12 `Block`, as MAE uses it)."""

    def __init__(self, dim: int = EMBED_DIM, heads: int = HEADS) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=kernel, padding=padding)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    """1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | maxpool -> 1x1, concatenated; `reduced` drops the 5x5 branch
    from the output (its weights still exist, as in the course model)."""

    def __init__(self, cin: int, width: int, reduced: bool = False) -> None:
        super().__init__()
        self.reduced = reduced
        self.branch1 = ConvBlock(cin, width, 1)
        self.branch2 = nn.Sequential(ConvBlock(cin, width, 1), ConvBlock(width, width, 3, padding=1))
        self.branch3 = nn.Sequential(ConvBlock(cin, width, 1), ConvBlock(width, width, 5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), ConvBlock(cin, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch4) if self.reduced else (
            self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class InceptionMagnitudeModel(nn.Module):
    """The course's `Input_Mix_Model(5, 32, 192, Inception_only=False, magnitude=True, uk_paper=False)`."""

    def __init__(self, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.conv2d_init = nn.Conv2d(IMAGE_SHAPE[0], 32, kernel_size=1)
        self.avgpool = nn.AvgPool2d(2, 2)
        self.avgpool2 = nn.AvgPool2d(2, 2)
        hidden = [nn.Linear(MAGNITUDES, 1024)]
        for _ in range(4):
            hidden += [nn.ReLU(), nn.Linear(1024, 1024)]
        self.magnitude_block = nn.Sequential(*hidden)
        self.vis_inception = nn.Sequential(
            self.conv2d_init,  # 32 x 32 -> 32 ch   (same module twice, as in the course model)
            self.avgpool,  # 16 x 16
            InceptionBlock(32, 16),  # 64 ch
            InceptionBlock(64, 16),  # 64 ch
            nn.AvgPool2d(2),  # 8 x 8
            InceptionBlock(64, 8),  # 32 ch
            InceptionBlock(32, 8),  # 32 ch
            nn.AvgPool2d(2),  # 4 x 4
            InceptionBlock(32, 4, reduced=True),  # 12 ch -> 12 * 4 * 4 = 192
            nn.Flatten(),
            nn.Linear(embed_dim, 1096),
            nn.ReLU(),
            nn.Linear(1096, 1096),
        )

    def forward(self, images: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.vis_inception(images), self.magnitude_block(magnitudes.float())), dim=1)


class AstroMAE(nn.Module):
    """forward(images [B, 5, 32, 32], magnitudes [B, 5]) -> redshift [B, 1]."""

    def __init__(self, embed_dim: int = EMBED_DIM, depth: int = DEPTH, heads: int = HEADS) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, embed_dim)
        self.inception_model = InceptionMagnitudeModel(embed_dim)
        patches = (IMAGE_SHAPE[1] // PATCH) * (IMAGE_SHAPE[2] // PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_pos_embed(embed_dim, int(math.isqrt(patches))), requires_grad=False)
        self.blocks = nn.ModuleList(Block(embed_dim, heads) for _ in range(depth))
        self.patch_embed = PatchEmbed(IMAGE_SHAPE[0], embed_dim, PATCH)
        self.vit_block = nn.Sequential(nn.Linear(embed_dim, 1096), nn.ReLU(), nn.Linear(1096, 1096))
        self.concat_block = nn.Sequential(nn.Linear(3216, 1024), nn.ReLU(), nn.Linear(1024, 1))
        self.freeze_encoder()

    def freeze_encoder(self) -> None:
        """The pretrained MAE encoder is frozen during fine-tuning (the trainable count depends on it)."""
        for module in (self.patch_embed, self.blocks):
            for p in module.parameters():
                p.requires_grad = False
        self.cls_token.requires_grad = False
        self.pos_embed.requires_grad = False

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.vit_block(self.head(self.fc_norm(x[:, 1:, :].mean(dim=1))))

    def forward(self, images: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
        features = torch.cat((self.encode(images), self.inception_model(images, magnitudes)), dim=1)
        return self.concat_block(features)


def sincos_pos_embed(dim: int, grid: int) -> torch.Tensor:
    """MAE's fixed 2-D sine-cosine position embedding with a zero row for the cls token: [1, 1+grid^2, dim]."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                            indexing="ij")

    def embed(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat((angles.sin(), angles.cos()), dim=1)

    table = torch.cat((embed(xs), embed(ys)), dim=1)  # MAE: width coordinate first
    return torch.cat((torch.zeros(1, dim, dtype=torch.float64), table)).float().unsqueeze(0)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable), each shared tensor counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def build_model(seed: int = 0) -> AstroMAE:
    """A deterministic randomly initialised model in eval mode (for tests and synthetic runs)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AstroMAE()
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def load_weights(model: AstroMAE, source: str | Path | Mapping[str, torch.Tensor]) -> AstroMAE:
    """Load a state_dict (a file saved with torch.save(model.state_dict()) or a mapping), strictly.

    Only tensors are unpickled (`weights_only=True`); a `module.` prefix from nn.DataParallel is dropped.
    A pickled whole model (the course's checkpoint format) is refused: export its state_dict first.
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        try:
            state = torch.load(str(source), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{source}: not a state_dict of tensors (a pickled model must be exported with "
                             f"torch.save(model.module.state_dict(), path) first): {exc}") from exc
    if not isinstance(state, Mapping):
        raise ValueError(f"{source}: expected a state_dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"state_dict does not match AstroMAE: missing {sorted(missing)[:8]} "
                         f"({len(missing)}), unexpected {sorted(unexpected)[:8]} ({len(unexpected)})")
    return model.eval()
