"""Recorder: `record(topic, msg, t_s)` encodes a message with our CDR codec (the bytes the DDS transport
puts on the wire) into a reused per-topic buffer and hands those raw bytes to a sink: a BagWriter, or
a MemorySink when replay collects a build's outputs. Nothing is serialised twice.

Cameras are stored as they arrived (sensor_msgs/Image, lossless) unless `jpeg_quality` is set: then as
CompressedImage JPEG, and the loss is measured (PSNR against the original, every 10th frame) and stored
in the bag's metadata as `camera_jpeg_psnr_db_mean/min`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..transport.cdr import CdrWriter
from ..transport.msgs import Msg
from ..types import CameraFrame
from . import convert
from .background import BackgroundWriter
from .topics import camera_topic, topic_info
from .writer import BagWriter, WriterOptions

PSNR_EVERY = 10  # frames: a PSNR costs a decode (~2 ms at 720p), not worth paying on every frame


def t_ns(t_s: float) -> int:
    return int(round(t_s * 1e9))


class MemorySink:
    """Outputs kept in memory as CDR bytes, per topic: what replay compares."""

    def __init__(self) -> None:
        self.messages: Dict[str, List[Tuple[int, bytes]]] = {}
        self.types: Dict[str, str] = {}

    def add_topic(self, name: str, typename: str, profile: str = "default") -> None:
        self.types.setdefault(name, typename)
        self.messages.setdefault(name, [])

    def write(self, name: str, data, t: int) -> None:
        self.messages[name].append((t, bytes(data)))

    def close(self) -> None:
        pass


class Recorder:
    def __init__(
        self,
        sink,
        identity: Optional[Dict[str, str]] = None,
        jpeg_quality: Optional[int] = None,
        camera_info: Optional[Tuple[int, int, float]] = None,
        lockstep_dt_s: Optional[float] = None,
        topics: Optional[set] = None,
    ):
        self.sink = sink
        self.jpeg_quality = jpeg_quality
        self.camera_info = camera_info  # (width, height, fx) of the front camera, when known
        self.only = topics  # None: every topic
        self._buffers: Dict[str, CdrWriter] = {}
        self._sizes: Dict[str, int] = {}  # last encoded size per topic: picks a pooled buffer that fits
        self._psnr: List[float] = []
        self._jpeg_frames = 0
        self.custom_data = dict(identity or {})
        # a lockstep simulator's clock is step × dt: replay rebuilds those exact floats from it
        self.custom_data["clock"] = f"lockstep:{lockstep_dt_s!r}" if lockstep_dt_s else "wall"
        self.custom_data["camera_storage"] = f"jpeg:{jpeg_quality}" if jpeg_quality else "raw (lossless)"

    @classmethod
    def to_bag(cls, path: Path, identity: Dict[str, str], options: Optional[WriterOptions] = None, **kw) -> "Recorder":
        rec = cls(None, identity, **kw)
        options = options or WriterOptions()
        options.custom_data = {**rec.custom_data, **options.custom_data}
        rec.custom_data = options.custom_data
        rec.sink = BackgroundWriter(BagWriter(path, options))  # the step only copies; a thread writes
        return rec

    def wants(self, topic: str) -> bool:
        return self.only is None or topic in self.only

    def record(self, topic: str, msg: Msg, t_s: float) -> None:
        if not self.wants(topic):
            return
        buf = self._buffers.get(topic)
        if buf is None:
            info = topic_info(topic)
            self.sink.add_topic(topic, info.type, info.qos)
            buf = self._buffers[topic] = CdrWriter()
        if hasattr(self.sink, "write_msg"):  # a writer thread: encode straight into its pooled buffer
            self._sizes[topic] = self.sink.write_msg(topic, msg, t_ns(t_s), self._sizes.get(topic, 0))
            return
        self.sink.write(topic, buf.encode(msg._type, msg, align_to=4), t_ns(t_s))

    def camera(self, frame: CameraFrame, t_s: float) -> None:
        if self.jpeg_quality is None or frame.compressed:
            topic = camera_topic(frame.camera, frame.compressed)
            if frame.compressed:
                self.record(
                    topic, convert.compressed(frame.stamp_s, frame.camera, frame.encoding, bytes(frame.data)), t_s
                )
            else:
                self.record(topic, convert.image(frame), t_s)
            return
        topic = camera_topic(frame.camera, True)
        if not self.wants(topic):
            return
        img = _pixels(frame)
        bgr = img if frame.encoding != "rgb8" else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
        if not ok:
            raise RuntimeError(f"JPEG encoding of a {frame.width}x{frame.height} {frame.encoding} frame failed")
        if self._jpeg_frames % PSNR_EVERY == 0:
            back = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
            if back is None:
                raise RuntimeError(f"JPEG decoding of a {frame.width}x{frame.height} frame just encoded failed")
            self._psnr.append(_psnr(bgr, back.reshape(bgr.shape)))
        self._jpeg_frames += 1
        self.record(topic, convert.compressed(frame.stamp_s, frame.camera, "jpeg", jpeg.tobytes()), t_s)

    def loss(self) -> Dict[str, str]:
        if not self._psnr:
            return {}
        return {
            "camera_jpeg_psnr_db_mean": f"{float(np.mean(self._psnr)):.2f}",
            "camera_jpeg_psnr_db_min": f"{float(np.min(self._psnr)):.2f}",
        }

    def close(self) -> None:
        self.custom_data.update(self.loss())
        self.sink.close()


def _pixels(frame: CameraFrame) -> np.ndarray:
    channels = 1 if frame.encoding == "mono8" else 3
    step = frame.step or frame.width * channels
    flat = np.frombuffer(frame.data, np.uint8) if not isinstance(frame.data, np.ndarray) else frame.data.reshape(-1)
    rows = flat[: step * frame.height].reshape(frame.height, step)[:, : frame.width * channels]
    return np.ascontiguousarray(rows.reshape(frame.height, frame.width, channels) if channels == 3 else rows)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def for_run(
    path: Path,
    cfg,
    model_path: Optional[Path] = None,
    policy: str = "student",
    jpeg_quality: Optional[int] = None,
    camera_info: Optional[Tuple[int, int, float]] = None,
    lockstep_dt_s: Optional[float] = None,
    auto_engage: bool = True,
    options: Optional[WriterOptions] = None,
) -> Recorder:
    """A bag recorder for one run of the runtime, its metadata naming the build and how it ran."""
    from .identity import build_identity

    identity = build_identity(cfg, model_path)
    identity.update(policy=policy, auto_engage=str(auto_engage).lower())
    return Recorder.to_bag(
        Path(path), identity, options, jpeg_quality=jpeg_quality, camera_info=camera_info, lockstep_dt_s=lockstep_dt_s
    )
