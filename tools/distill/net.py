"""The student network: a small CNN on the newest two frames + an MLP on route and ego features.

Heads: a speed profile (as a change from the current speed), the path as the route read at the
distances that speed profile covers plus a learned residual (so the geometry is exact on the route and
the network learns when to leave it), and reasoning tokens predicted position by position.
"""

from __future__ import annotations

import torch
from torch import nn

from . import spec

NAV_TARGET, NAV_ONEHOT, NAV_END, NAV_ROUTE = slice(0, 2), slice(2, 8), slice(8, 9), slice(9, 9 + 2 * spec.ROUTE_POINTS)


P, GRID = spec.PATCH_SIDE, spec.PATCH_GRID
PATCH = spec.HISTORY * spec.FRAME_PATCH  # one patch of every frame: (frame, channel, dy, dx)


def patchify(image: torch.Tensor) -> torch.Tensor:
    """[B, HISTORY, C, H, W] → [B, H/P, W/P, PATCH], the layout training batches are built in."""
    b = image.shape[0]
    x = image.reshape(b, spec.HISTORY * spec.IMAGE.channels, GRID[0], P, GRID[1], P)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, GRID[0], GRID[1], PATCH)


class StudentNet(nn.Module):
    segment_index: torch.Tensor  # buffers (register_buffer): declared so that they read as tensors, not modules
    min_along_m: torch.Tensor

    def __init__(self, vocab_size: int, width: int = 256):
        super().__init__()
        # The stem is a linear map of non-overlapping 4x4 patches (a stride-4 convolution, written as a matrix
        # product): on 2 cores its backward pass was 4x cheaper than the convolution's, the biggest cost of
        # training. Same initialisation as the convolution (fan-in = PATCH).
        self.stem = nn.Linear(PATCH, 16)
        self.encoder = nn.Sequential(
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * (spec.IMAGE.height // 16) * (spec.IMAGE.width // 16), 128),
            nn.ReLU(),
        )
        nav_in = 9 + 2 * spec.ROUTE_POINTS + len(spec.EGO_FEATURES)
        self.features = nn.Sequential(nn.Linear(nav_in, 128), nn.ReLU())
        self.trunk = nn.Sequential(nn.Linear(256, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.speed_head = nn.Linear(width, spec.POINTS)
        self.path_head = nn.Linear(width, 2 * spec.POINTS)
        self.token_head = nn.Linear(width, spec.MAX_TOKENS * vocab_size)
        self.vocab_size = vocab_size
        nn.init.zeros_(self.path_head.weight)
        nn.init.zeros_(self.path_head.bias)
        self.register_buffer("segment_index", torch.arange(spec.ROUTE_POINTS, dtype=torch.float32))
        self.register_buffer("min_along_m", torch.arange(1, spec.POINTS + 1, dtype=torch.float32))

    def forward(self, image: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor):
        """The runtime's inputs: image [B, HISTORY, C, H, W] in [0, 1]."""
        return self.forward_patches(patchify(image) - 0.5, nav, ego)

    def forward_patches(self, patches: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor):
        """patches: [B, H/P, W/P, PATCH], centred on 0 (image - 0.5)."""
        b = patches.shape[0]
        x = torch.relu(self.stem(patches)).permute(0, 3, 1, 2)
        speed_now = ego[:, 0:1]
        scaled = torch.cat(
            (
                nav[:, NAV_TARGET] / 20.0,
                nav[:, NAV_ONEHOT],
                torch.clamp(nav[:, NAV_END], max=100.0) / 50.0,
                nav[:, NAV_ROUTE] / 20.0,
                speed_now / 10.0,
                ego[:, 1:2],
                ego[:, 2:3] / 3.0,
                ego[:, 3:4] * 5.0,
            ),
            dim=1,
        )
        h = self.trunk(torch.cat((self.encoder(x), self.features(scaled)), dim=1))
        speeds = torch.relu(speed_now + 4.0 * self.speed_head(h))
        trajectory = self._along_route(nav[:, NAV_ROUTE].reshape(b, spec.ROUTE_POINTS, 2), speed_now, speeds)
        trajectory = trajectory + 0.5 * self.path_head(h).reshape(b, spec.POINTS, 2)
        logits = self.token_head(h).reshape(b, spec.MAX_TOKENS, self.vocab_size)
        return trajectory, speeds, logits

    def _along_route(self, route: torch.Tensor, speed_now: torch.Tensor, speeds: torch.Tensor) -> torch.Tensor:
        """The route (points every ROUTE_SPACING_M from the closest point on) read at the distances
        the speed profile covers (trapezoids), at least 1 m per point as the expert does."""
        start = 2.0 * route[:, 0:1] - route[:, 1:2]  # the closest route point, one spacing back
        segments = route - torch.cat((start, route[:, :-1]), dim=1)  # [B, N, 2]
        previous = torch.cat((speed_now, speeds[:, :-1]), dim=1)
        along = torch.cumsum(0.5 * (previous + speeds) * spec.DT_S, dim=1)
        along = torch.maximum(along, self.min_along_m)
        fraction = torch.clamp(along.unsqueeze(2) / spec.ROUTE_SPACING_M - self.segment_index, 0.0, 1.0)
        return start + torch.matmul(fraction, segments)


class ExportWrapper(nn.Module):
    """The graph the runtime runs: batch 1, token ids and a confidence instead of logits."""

    def __init__(self, net: StudentNet):
        super().__init__()
        self.net = net

    def forward(self, image_front, nav, ego):
        trajectory, speeds, logits = self.net(image_front, nav, ego)
        probs = torch.softmax(logits, dim=-1)
        ids = torch.argmax(logits, dim=-1)
        # mean probability of the chosen tokens: low when the scene is unlike the training data
        confidence = probs.max(dim=-1).values.mean(dim=1)
        return trajectory, speeds, ids, confidence
