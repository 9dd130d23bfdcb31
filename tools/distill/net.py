"""The student network: a small CNN on three frames of the last 0.5 s + an MLP on route and ego features.

Heads: a speed profile (as a change from the current speed), the path as the route read at the
distances that speed profile covers plus a learned residual (so the geometry is exact on the route and
the network learns when to leave it), and the reasoning as a phrase (one of the templates seen in
training) with its number from a number head: a speed
(the measured speed plus a learned residual) or a gap. The graph writes the phrase's token ids itself,
so the output is the contract's token ids and a phrase never has a hole.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from . import spec

NAV_TARGET, NAV_ONEHOT, NAV_END, NAV_ROUTE = slice(0, 2), slice(2, 8), slice(8, 9), slice(9, 9 + 2 * spec.ROUTE_POINTS)


P, GRID = spec.PATCH_SIDE, spec.PATCH_GRID
USED = len(spec.FRAMES_USED)
PATCH = USED * spec.FRAME_PATCH  # one patch of every frame read: (frame, channel, dy, dx)


def patchify(image: torch.Tensor) -> torch.Tensor:
    """[B, HISTORY, C, H, W] → [B, H/P, W/P, PATCH] of the frames read, the layout training batches are built in."""
    b = image.shape[0]
    x = image[:, list(spec.FRAMES_USED)].reshape(b, USED * spec.IMAGE.channels, GRID[0], P, GRID[1], P)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, GRID[0], GRID[1], PATCH)


class StudentNet(nn.Module):
    # buffers (register_buffer): declared so that they read as tensors, not modules
    template_ids: torch.Tensor
    slot_position: torch.Tensor
    slot_step: torch.Tensor
    positions: torch.Tensor
    segment_index: torch.Tensor
    min_along_m: torch.Tensor

    def __init__(self, vocab: Sequence[str], templates: Sequence[str], width: int = 256):
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
        self.template_head = nn.Linear(width, len(templates))
        self.number_head = nn.Linear(width, 2)  # [speed residual (m/s), gap (10 m units around 20 m)]
        # training only (not in the exported graph): the lead's exact gap and speed relative to the ego, which
        # the expert's following, its phrases and their gap number all depend on
        self.lead_head = nn.Linear(width, 2)
        self.templates = list(templates)
        for head in (self.path_head, self.number_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        table, slot, step = spec.template_table(templates, vocab)
        self.register_buffer("template_ids", torch.from_numpy(table))
        self.register_buffer("slot_position", torch.from_numpy(slot))
        self.register_buffer("slot_step", torch.from_numpy(step))
        self.register_buffer("positions", torch.arange(spec.MAX_TOKENS))
        self.zero_id = list(vocab).index("0")
        self.max_number = len(spec.NUMBERS) - 1
        self.register_buffer("segment_index", torch.arange(spec.ROUTE_POINTS, dtype=torch.float32))
        self.register_buffer("min_along_m", torch.arange(1, spec.POINTS + 1, dtype=torch.float32))

    def forward(self, image: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor):
        """The runtime's inputs: image [B, HISTORY, C, H, W] in [0, 1]."""
        return self.forward_patches(patchify(image) - 0.5, nav, ego)

    def forward_patches(self, patches: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor):
        """patches: [B, H/P, W/P, PATCH], centred on 0 (image - 0.5)."""
        return self.heads(self.embed(patches, nav, ego), nav, ego)

    def lead(self, h: torch.Tensor) -> torch.Tensor:
        """[B, 2]: the lead's gap (m) and its speed relative to the ego (m/s), from the trunk's features."""
        raw = self.lead_head(h)
        return torch.cat((20.0 + 20.0 * raw[:, 0:1], 5.0 * raw[:, 1:2]), dim=1)

    def embed(self, patches: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor) -> torch.Tensor:
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
        return self.trunk(torch.cat((self.encoder(x), self.features(scaled)), dim=1))

    def heads(self, h: torch.Tensor, nav: torch.Tensor, ego: torch.Tensor):
        b, speed_now = h.shape[0], ego[:, 0:1]
        speeds = torch.relu(speed_now + 4.0 * self.speed_head(h))
        trajectory = self._along_route(nav[:, NAV_ROUTE].reshape(b, spec.ROUTE_POINTS, 2), speed_now, speeds)
        trajectory = trajectory + 0.5 * self.path_head(h).reshape(b, spec.POINTS, 2)
        template_logits = self.template_head(h)
        raw = self.number_head(h)
        numbers = torch.cat((speed_now + raw[:, 0:1], 20.0 + 10.0 * raw[:, 1:2]), dim=1)  # [B, 2]: speed, gap
        return trajectory, speeds, template_logits, numbers

    def reasoning_ids(self, template_logits: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """[B, MAX_TOKENS] token ids: the likeliest phrase with its number rounded to the phrase's step."""
        t = torch.argmax(template_logits, dim=-1)
        step = self.slot_step[t]
        value = torch.where(step > 1.0, numbers[:, 1], numbers[:, 0])
        step = torch.clamp(step, min=1.0)
        value = torch.clamp(torch.round(value / step) * step, 0.0, float(self.max_number))
        number_id = self.zero_id + value.to(torch.int64)
        at_slot = self.positions.unsqueeze(0) == self.slot_position[t].unsqueeze(1)
        return torch.where(at_slot, number_id.unsqueeze(1), self.template_ids[t])

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
        trajectory, speeds, template_logits, numbers = self.net(image_front, nav, ego)
        ids = self.net.reasoning_ids(template_logits, numbers)
        # the probability of the chosen phrase: low when the scene is unlike the training data
        confidence = torch.softmax(template_logits, dim=-1).max(dim=-1).values
        return trajectory, speeds, ids, confidence
