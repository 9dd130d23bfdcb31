"""Camera frame → model input: decode, crop, resize, colour order and normalisation, written into a
preallocated float32 or float16 (C, H, W) tensor slot. Every per-frame buffer is allocated once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .types import CameraFrame

RAW_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
COMPRESSED = ("jpeg", "png")
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
INTERPOLATION = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


class PreprocessError(ValueError):
    """A frame that cannot be turned into a model input; the message says why."""


@dataclass(frozen=True)
class ImageSpec:
    """How the model wants its image (from the manifest)."""

    width: int
    height: int
    colour_order: str  # rgb | bgr | gray
    crop_top: float = 0.0  # fractions of the source image removed on each side
    crop_bottom: float = 0.0
    crop_left: float = 0.0
    crop_right: float = 0.0
    scale: float = 1.0 / 255.0  # applied first: x * scale
    mean: Sequence[float] = (0.0, 0.0, 0.0)  # then (x - mean) / std, per model channel
    std: Sequence[float] = (1.0, 1.0, 1.0)
    # linear: bilinear (0.1 ms for 720p -> 256x128 here); area: anti-aliased, ~20x slower at
    # non-integer factors. The student must be trained with the same choice.
    interpolation: str = "linear"

    @property
    def channels(self) -> int:
        return 1 if self.colour_order == "gray" else 3


class Preprocessor:
    """One per camera. `process(frame, out)` writes the normalised image into `out` (C, H, W)."""

    def __init__(self, spec: ImageSpec):
        if spec.colour_order not in ("rgb", "bgr", "gray"):
            raise ValueError(f"unknown colour order '{spec.colour_order}' (rgb, bgr or gray)")
        for key in ("mean", "std"):
            if len(getattr(spec, key)) != spec.channels:
                raise ValueError(
                    f"{key} has {len(getattr(spec, key))} value(s) for {spec.channels} channel(s) ({spec.colour_order})"
                )
        if spec.crop_top + spec.crop_bottom >= 1.0 or spec.crop_left + spec.crop_right >= 1.0:
            raise ValueError("crop leaves no image: top + bottom and left + right must each be < 1")
        if spec.interpolation not in INTERPOLATION:
            raise ValueError(f"unknown interpolation '{spec.interpolation}' ({', '.join(INTERPOLATION)})")
        self._interpolation = INTERPOLATION[spec.interpolation]
        self.spec = spec
        c = spec.channels
        self._resized = {
            1: np.empty((spec.height, spec.width), np.uint8),
            3: np.empty((spec.height, spec.width, 3), np.uint8),
        }
        self._converted = np.empty((spec.height, spec.width, c) if c == 3 else (spec.height, spec.width), np.uint8)
        self._scratch = np.empty((c, spec.height, spec.width), np.float32)
        scale = np.asarray(spec.scale / np.asarray(spec.std, np.float32)[:c], np.float32)
        self._gain = scale.reshape(c, 1, 1)
        self._offset = (-np.asarray(spec.mean, np.float32)[:c] / np.asarray(spec.std, np.float32)[:c]).reshape(c, 1, 1)

    def process(self, frame: CameraFrame, out: np.ndarray) -> None:
        spec = self.spec
        if out.shape != (spec.channels, spec.height, spec.width) or out.dtype not in (np.float32, np.float16):
            raise ValueError(
                f"output slot must be float32 or float16 {(spec.channels, spec.height, spec.width)}, "
                f"got {out.dtype} {out.shape}"
            )
        image, order = decode(frame)
        image = self._crop(image)
        resized = self._resized[1 if image.ndim == 2 else 3]
        cv2.resize(image, (spec.width, spec.height), dst=resized, interpolation=self._interpolation)
        chw = self._to_model_order(resized, order)
        # float16 slots: the arithmetic in float32, rounded once (rounding after the multiply too lost 5 %
        # near zero, where (x - mean) / std cancels)
        work = out if out.dtype == np.float32 else self._scratch
        np.multiply(chw, self._gain, out=work)
        np.add(work, self._offset, out=work)
        if work is not out:
            np.copyto(out, work, casting="same_kind")

    def _crop(self, image: np.ndarray) -> np.ndarray:
        s = self.spec
        h, w = image.shape[:2]
        top, bottom = int(round(h * s.crop_top)), h - int(round(h * s.crop_bottom))
        left, right = int(round(w * s.crop_left)), w - int(round(w * s.crop_right))
        if bottom - top < 1 or right - left < 1:
            raise PreprocessError(f"crop leaves nothing of a {w}x{h} image")
        return image[top:bottom, left:right]

    def _to_model_order(self, hwc: np.ndarray, order: str) -> np.ndarray:
        """A (C, H, W) view in the model's colour order; converts only the small resized image."""
        want = self.spec.colour_order
        if want == "gray":
            if order != "gray":
                cv2.cvtColor(hwc, cv2.COLOR_RGB2GRAY if order == "rgb" else cv2.COLOR_BGR2GRAY, dst=self._converted)
                hwc = self._converted
            return hwc[None, :, :]
        if order == "gray":
            cv2.cvtColor(hwc, cv2.COLOR_GRAY2RGB, dst=self._converted)
            hwc, order = self._converted, "rgb"
        chw = hwc.transpose(2, 0, 1)
        return chw if order == want else chw[::-1]


def decode(frame: CameraFrame) -> tuple[np.ndarray, str]:
    """The frame as an (H, W[, 3]) uint8 array and its colour order; raw frames are not copied."""
    if frame.encoding in RAW_CHANNELS:
        return _raw_view(frame), {"rgb8": "rgb", "bgr8": "bgr", "mono8": "gray"}[frame.encoding]
    if frame.encoding in COMPRESSED:
        return _decode_compressed(frame)
    raise PreprocessError(
        f"camera '{frame.camera}': unsupported encoding '{frame.encoding}' "
        f"(raw: {', '.join(RAW_CHANNELS)}; compressed: {', '.join(COMPRESSED)})"
    )


def _raw_view(frame: CameraFrame) -> np.ndarray:
    c = RAW_CHANNELS[frame.encoding]
    w, h = frame.width, frame.height
    if w <= 0 or h <= 0:
        raise PreprocessError(f"camera '{frame.camera}': invalid size {w}x{h}")
    step = frame.step or w * c
    if step < w * c:
        raise PreprocessError(f"camera '{frame.camera}': step {step} is smaller than width×channels = {w * c}")
    buf = (
        np.frombuffer(frame.data, dtype=np.uint8) if not isinstance(frame.data, np.ndarray) else frame.data.reshape(-1)
    )
    expected = h * step
    if buf.size != expected:
        kind = "truncated" if buf.size < expected else "too long"
        raise PreprocessError(
            f"camera '{frame.camera}': {frame.encoding} data {kind}: {buf.size} bytes, "
            f"expected height×step = {h}×{step} = {expected}"
        )
    rows = buf.reshape(h, step)[:, : w * c]
    return rows.reshape(h, w) if c == 1 else rows.reshape(h, w, c)


def _decode_compressed(frame: CameraFrame) -> tuple[np.ndarray, str]:
    data = frame.data if isinstance(frame.data, np.ndarray) else np.frombuffer(frame.data, np.uint8)
    head = bytes(data[:8])
    start, end = (_JPEG_START, _JPEG_END) if frame.encoding == "jpeg" else (_PNG_START, _PNG_END)
    if not head.startswith(start):
        raise PreprocessError(f"camera '{frame.camera}': data is not {frame.encoding} (starts with {head[:4].hex()})")
    tail = bytes(data[-64:]).rstrip(b"\x00")  # some encoders pad JPEG with zeros
    if not tail.endswith(end):
        raise PreprocessError(
            f"camera '{frame.camera}': {frame.encoding} data truncated ({data.size} bytes, no end marker)"
        )
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise PreprocessError(f"camera '{frame.camera}': corrupt {frame.encoding} data ({data.size} bytes)")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        raise PreprocessError(
            f"camera '{frame.camera}': {image.dtype} {frame.encoding} images are not supported (8-bit only)"
        )
    return image, "gray" if image.ndim == 2 else "bgr"
