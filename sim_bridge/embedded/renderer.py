"""Camera renderer: a pinhole camera, mounted anywhere on the car and looking any way (from the camera
rig), drawing sky, ground, road surface, lane markings and other road users as boxes (with brake lamps) with OpenCV.
Frames go into a small ring of preallocated buffers."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from vehicle_runtime.camera_rig import CameraSpec
from vehicle_runtime.geometry import world_to_ego
from vehicle_runtime.types import Pose2D

from .actors import ActorState
from .road import RoadNetwork, offset_polyline

NEAR_M, FAR_M = 0.8, 150.0
SKY, GROUND, ROAD, MARK = (135, 180, 235), (84, 110, 64), (92, 92, 96), (235, 235, 235)
DASH_ON_M, DASH_OFF_M, MARK_WIDTH_M = 3.0, 6.0, 0.15
BOX_HEIGHT_M = 1.5
# brake lamps: lit while a vehicle decelerates harder than this (a lift-off is not braking) or stands (held on
# the brake); an overexposed lamp reads near-white, as a real camera sees one. Two lamps at the rear corners:
# (inset, width, bottom, top) in m.
BRAKE_LAMP_ACCEL_MPS2 = -1.0
BRAKE_LAMP_STANDING_MPS = 0.1
BRAKE_LAMP_RGB = (255, 215, 195)
BRAKE_LAMP_M = (0.08, 0.42, 0.8, 1.05)
# what the renderer draws, stored with recorded training frames: frames drawn otherwise are another input
RENDERER_VERSION = 2  # 2: brake lamps


@dataclass(frozen=True)
class CameraModel:
    width: int
    height: int
    hfov_deg: float
    mount_x_m: float
    mount_height_m: float
    pitch_deg: float
    rate_hz: float
    mount_y_m: float = 0.0  # left of the centre line
    yaw_deg: float = 0.0  # positive looks left

    @classmethod
    def from_spec(cls, spec: CameraSpec) -> "CameraModel":
        return cls(
            width=spec.width,
            height=spec.height,
            hfov_deg=spec.hfov_deg,
            mount_x_m=spec.mount_x_m,
            mount_height_m=spec.mount_height_m,
            pitch_deg=spec.pitch_deg,
            rate_hz=spec.rate_hz,
            mount_y_m=spec.mount_y_m,
            yaw_deg=spec.yaw_deg,
        )

    def view_pose(self, ego: Pose2D) -> Pose2D:
        """The pose of the camera's footprint on the ground, looking along the camera's heading."""
        c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
        return Pose2D(
            ego.x_m + c * self.mount_x_m - s * self.mount_y_m,
            ego.y_m + s * self.mount_x_m + c * self.mount_y_m,
            ego.yaw_rad + math.radians(self.yaw_deg),
        )

    @property
    def fx(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def cx(self) -> float:
        return self.width / 2

    @property
    def cy(self) -> float:
        return self.height / 2

    def ego_to_camera(self, pts_ego: np.ndarray) -> np.ndarray:
        """(N, 3) ego-frame points (x fwd, y left, z up) → camera frame (x right, y down, z fwd)."""
        dx, dy = pts_ego[:, 0] - self.mount_x_m, pts_ego[:, 1] - self.mount_y_m
        cy, sy = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        x, y = cy * dx + sy * dy, -sy * dx + cy * dy  # into the camera's heading
        z = pts_ego[:, 2] - self.mount_height_m
        p = math.radians(self.pitch_deg)  # pitched down by p
        zc = x * math.cos(p) - z * math.sin(p)
        yc = -(x * math.sin(p) + z * math.cos(p))
        return np.stack((-y, yc, zc), axis=1)

    def project(self, pts_ego: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and a mask of the points in front of the camera."""
        c = self.ego_to_camera(pts_ego)
        front = c[:, 2] > NEAR_M
        z = np.where(front, c[:, 2], 1.0)
        f = self.fx  # square pixels
        return np.stack((f * c[:, 0] / z + self.cx, f * c[:, 1] / z + self.cy), axis=1), front


_NOISE_FRAMES, _NOISE_MARGIN = 4, 32


class Renderer:
    def __init__(
        self,
        camera: CameraModel,
        network: RoadNetwork,
        buffers: int = 12,
        brightness: float = 1.0,
        noise_std: float = 0.0,
        seed: int = 0,
        brake_lamps: bool = True,  # False: lamps that never light, as on a car whose lamps are broken
    ):
        self.camera = camera
        # drawing happens in the camera's footprint frame (view_pose): culling "ahead" means ahead of the camera
        self._view = replace(camera, mount_x_m=0.0, mount_y_m=0.0, yaw_deg=0.0)
        # culling distances count from the car's reference point along the camera's axis (x in the view
        # frame + this), as they did when the front camera was the only one: its frames stay bit-identical
        yaw = math.radians(camera.yaw_deg)
        self._axis_offset_m = camera.mount_x_m * math.cos(yaw) + camera.mount_y_m * math.sin(yaw)
        self.network = network
        self.brightness = brightness
        self.noise_std = noise_std
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._buffers = [np.empty((camera.height, camera.width, 3), np.uint8) for _ in range(buffers)]
        self._next = 0
        self._background = self._draw_background()
        self._noise = self._noise_bank() if noise_std > 0 else None
        self._markings = self._marking_polylines()
        # all marking strips in two arrays, transformed together each frame (one numpy call, not one per dash)
        self._mark_left = np.concatenate([m[0] for m in self._markings]) if self._markings else np.zeros((0, 2))
        self._mark_right = np.concatenate([m[1] for m in self._markings]) if self._markings else np.zeros((0, 2))
        self._mark_bounds = np.cumsum([0] + [len(m[0]) for m in self._markings])
        self.brake_lamps = brake_lamps

    def _draw_background(self) -> np.ndarray:
        cam = self.camera
        img = np.empty((cam.height, cam.width, 3), np.uint8)
        horizon = int(round(cam.cy - cam.fx * math.tan(math.radians(cam.pitch_deg))))
        horizon = min(max(horizon, 0), cam.height)
        rows = np.linspace(0.75, 1.0, max(horizon, 1))[:, None, None]
        img[:horizon] = (np.array(SKY)[None, None, :] * rows).astype(np.uint8)[:horizon]
        img[horizon:] = GROUND
        return img

    def _marking_polylines(self) -> List[tuple]:
        """(left, right, centre) strips for every lane edge, computed once; an edge shared with a parallel lane is
        dashed and drawn once; lanes through a junction carry no markings."""
        edges = [e for lane in self.network.lanes.values() if not lane.turn for e in lane.boundaries()]
        out, duplicates = [], set()
        for i, edge in enumerate(edges):
            if i in duplicates:
                continue
            same = {
                j
                for j in range(i + 1, len(edges))
                if len(edges[j]) == len(edge) and float(np.mean(np.linalg.norm(edges[j] - edge, axis=1))) < 0.3
            }
            duplicates |= same
            out.extend(_marking_strips(edge, dashed=bool(same)))
        return out

    def render(self, ego: Pose2D, actors: Sequence[ActorState], brightness: Optional[float] = None) -> np.ndarray:
        img = self._buffers[self._next]
        self._next = (self._next + 1) % len(self._buffers)
        ego = self.camera.view_pose(ego)
        np.copyto(img, self._background)
        for lane in self.network.lanes.values():
            left, right = lane.boundaries()
            self._fill_strip(img, left, right, ego, ROAD)
        self._draw_markings(img, ego)
        self._draw_actors(img, ego, actors)
        b = self.brightness if brightness is None else brightness
        if b != 1.0 or self._noise is not None:
            self._effects(img, b)
        return img

    def _visible(self, world_xy: np.ndarray, ego: Pose2D) -> Tuple[np.ndarray, np.ndarray]:
        """The points in the ego frame and which of them are in view."""
        e = world_to_ego(world_xy, ego)
        x = e[:, 0] + self._axis_offset_m
        keep = (x > NEAR_M - 1.0) & (x < FAR_M) & (np.abs(e[:, 1]) < FAR_M)
        return e, keep

    def _fill_strip(self, img, left, right, ego, colour) -> None:
        le, keep_l = self._visible(left, ego)
        re, keep_r = self._visible(right, ego)
        keep = keep_l & keep_r
        for run in _runs(keep):
            if len(run) < 2:
                continue
            l3 = np.column_stack((le[run], np.zeros(len(run))))
            r3 = np.column_stack((re[run], np.zeros(len(run))))
            lp, lf = self._view.project(l3)
            rp, rf = self._view.project(r3)
            ok = lf & rf
            for sub in _runs(ok):
                if len(sub) < 2:
                    continue
                poly = np.vstack((lp[sub], rp[sub][::-1]))
                cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=4)

    def _draw_markings(self, img, ego: Pose2D) -> None:
        if not len(self._mark_left):
            return
        le, re = world_to_ego(self._mark_left, ego), world_to_ego(self._mark_right, ego)
        zeros = np.zeros((len(le), 1))
        lp, lf = self._view.project(np.hstack((le, zeros)))
        rp, rf = self._view.project(np.hstack((re, zeros)))
        in_range = (le[:, 0] + self._axis_offset_m < FAR_M) & (np.abs(le[:, 1]) < FAR_M)
        whole, partial = [], []
        b = self._mark_bounds
        for k in range(len(self._markings)):
            a, e = b[k], b[k + 1]
            if not in_range[a:e].any():
                continue
            front = lf[a:e] & rf[a:e]
            if front.all():
                whole.append(np.round(np.vstack((lp[a:e], rp[a:e][::-1])) * 16).astype(np.int32))
            elif front.any():
                partial.append(k)
        if whole:
            cv2.fillPoly(img, whole, MARK, lineType=cv2.LINE_AA, shift=4)
        for k in partial:  # straddles the near plane: clip the slow way
            self._fill_strip(img, self._markings[k][0], self._markings[k][1], ego, MARK)

    def _draw_actors(self, img, ego: Pose2D, actors: Sequence[ActorState]) -> None:
        boxes = []
        for a in actors:
            c, s = math.cos(a.yaw_rad), math.sin(a.yaw_rad)
            hl, hw = a.length_m / 2, a.width_m / 2
            base = np.array(
                [
                    [a.x_m + c * dx - s * dy, a.y_m + s * dx + c * dy]
                    for dx, dy in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw))
                ]
            )
            e = world_to_ego(base, ego)
            if e[:, 0].max() + self._axis_offset_m < NEAR_M or e[:, 0].min() + self._axis_offset_m > FAR_M:
                continue
            corners = np.vstack((np.column_stack((e, np.zeros(4))), np.column_stack((e, np.full(4, BOX_HEIGHT_M)))))
            px, front = self._view.project(corners)
            if not front.all():
                continue
            boxes.append((float(np.hypot(*e.mean(axis=0))), px, e, a))
        for _, px, e, a in sorted(boxes, key=lambda b: -b[0]):  # far first: painter's algorithm
            body = (200, 40, 40) if a.kind == "vehicle" else (230, 140, 30)
            shade = tuple(int(v * 0.7) for v in body)
            sides = sorted(
                [(0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
                key=lambda f: -float(np.hypot(*e[[f[0], f[1]]].mean(axis=0))),
            )
            for k, face in enumerate(sides):  # the nearest side last, in the body colour
                colour = body if k == len(sides) - 1 else shade
                cv2.fillConvexPoly(img, np.round(px[list(face)]).astype(np.int32), colour, lineType=cv2.LINE_AA)
            cv2.fillConvexPoly(img, np.round(px[[4, 5, 6, 7]]).astype(np.int32), shade, lineType=cv2.LINE_AA)
            if self.brake_lamps and brake_lamps_lit(a):
                self._draw_brake_lamps(img, ego, a, e)

    def _draw_brake_lamps(self, img, ego: Pose2D, a: ActorState, base_ego: np.ndarray) -> None:
        """Both lamps on the rear face, where the rear faces the camera (it is nearer than the front)."""
        rear, front = base_ego[[2, 3]].mean(axis=0), base_ego[[0, 1]].mean(axis=0)
        if float(np.hypot(*rear)) >= float(np.hypot(*front)):
            return
        inset, width, bottom, top = BRAKE_LAMP_M
        c, s = math.cos(a.yaw_rad), math.sin(a.yaw_rad)
        x, hw = -a.length_m / 2 - 0.01, a.width_m / 2  # just behind the rear face: drawn over it
        for y0, y1 in ((hw - inset - width, hw - inset), (-hw + inset, -hw + inset + width)):
            local = ((x, y0, bottom), (x, y1, bottom), (x, y1, top), (x, y0, top))
            world = np.array([[a.x_m + c * lx - s * ly, a.y_m + s * lx + c * ly] for lx, ly, _ in local])
            pts = np.column_stack((world_to_ego(world, ego), [p[2] for p in local]))
            px, ahead = self._view.project(pts)
            if ahead.all():
                cv2.fillConvexPoly(img, np.round(px).astype(np.int32), BRAKE_LAMP_RGB, lineType=cv2.LINE_AA)

    def _noise_bank(self) -> np.ndarray:
        """A few Gaussian noise frames with a margin, drawn once: a 720p cv2.randn per frame cost 16 ms,
        more than the whole rest of the rendering. A random bank frame at a random offset per frame gives
        thousands of different patterns for the price of one addition."""
        h, w = self.camera.height + _NOISE_MARGIN, self.camera.width + _NOISE_MARGIN
        # drawn from the renderer's seed: cv2.randn draws from OpenCV's process-wide generator, so the
        # frames of a run depended on how many renderers its process had made before
        rng = np.random.default_rng([self.seed, 1])
        bank = np.empty((_NOISE_FRAMES, h, w, 3), np.int16)
        for frame in bank:
            np.rint(rng.standard_normal(frame.shape, np.float32) * self.noise_std, out=frame, casting="unsafe")
        return bank

    def _noise_frame(self, noise: np.ndarray) -> np.ndarray:
        k, dy, dx = self._rng.integers(0, (_NOISE_FRAMES, _NOISE_MARGIN, _NOISE_MARGIN))
        return noise[k, dy : dy + self.camera.height, dx : dx + self.camera.width]

    def _effects(self, img: np.ndarray, brightness: float) -> None:
        cv2.convertScaleAbs(img, img, alpha=brightness)
        if self._noise is not None:
            cv2.add(img, self._noise_frame(self._noise), dst=img, dtype=cv2.CV_8U)


def brake_lamps_lit(a: ActorState) -> bool:
    """Whether the vehicle's brake lamps are lit."""
    return a.kind == "vehicle" and (a.accel_mps2 < BRAKE_LAMP_ACCEL_MPS2 or a.speed_mps < BRAKE_LAMP_STANDING_MPS)


def _marking_strips(edge: np.ndarray, dashed: bool) -> List[tuple]:
    """A painted line along `edge` as thin strips: one per dash, or pieces of 10 m when solid."""
    half = MARK_WIDTH_M / 2
    left, right = offset_polyline(edge, half), offset_polyline(edge, -half)
    s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(edge, axis=0), axis=1))))
    on = (s % (DASH_ON_M + DASH_OFF_M)) < DASH_ON_M if dashed else np.ones(len(s), bool)
    strips = []
    for run in _runs(on):
        for piece in np.array_split(run, max(1, int(np.ceil(len(run) / 10)))) if not dashed else [run]:
            if len(piece) >= 2:
                piece = np.append(piece, piece[-1] + 1) if not dashed and piece[-1] + 1 < len(s) else piece
                strips.append((left[piece], right[piece], edge[piece].mean(axis=0)))
    return strips


def _runs(mask: np.ndarray) -> List[np.ndarray]:
    """Index arrays of the consecutive True stretches of `mask`."""
    idx = np.nonzero(mask)[0]
    if len(idx) == 0:
        return []
    breaks = np.nonzero(np.diff(idx) > 1)[0] + 1
    return np.split(idx, breaks)
