"""Infrastructure of image models: the pixel-input check and resizing learned position tables."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_pixels(pixel_values: torch.Tensor, channels: int) -> None:
    """A clear error unless ``pixel_values`` is (B, channels, H, W)."""
    if pixel_values.ndim != 4 or pixel_values.shape[1] != channels:
        raise ValueError(f"pixel_values must be (batch, {channels}, height, width), not {tuple(pixel_values.shape)}")


def interpolate_positions(table: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Position embeddings (1, 1 + n*n, D) of a square patch grid, resized bicubically to ``grid``
    (rows, columns) patches as transformers' ``interpolate_pos_encoding`` does (ViT, CLIP); the first
    (class) position is kept as it is."""
    side, dim = int((table.shape[1] - 1) ** 0.5), table.shape[-1]
    if grid == (side, side):
        return table
    patches = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=grid, mode="bicubic", align_corners=False)
    return torch.cat((table[:, :1], patches.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)
