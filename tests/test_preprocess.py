"""Preprocessing against a direct numpy computation, and clear errors for bad frames."""

import cv2
import numpy as np
import pytest

from vehicle_runtime.preprocess import ImageSpec, PreprocessError, Preprocessor, decode
from vehicle_runtime.types import CameraFrame

RNG = np.random.default_rng(0)


def _frame(img, encoding, **kw):
    h, w = img.shape[:2]
    return CameraFrame("front", 1.0, encoding, img.tobytes(), width=w, height=h, **kw)


def _expected(rgb, spec):
    """Straight numpy/cv2 reference: crop, resize, colour order, (x*scale - mean)/std, CHW."""
    h, w = rgb.shape[:2]
    crop = rgb[
        round(h * spec.crop_top) : h - round(h * spec.crop_bottom),
        round(w * spec.crop_left) : w - round(w * spec.crop_right),
    ]
    small = cv2.resize(np.ascontiguousarray(crop), (spec.width, spec.height), interpolation=cv2.INTER_LINEAR).astype(
        np.float32
    )
    if spec.colour_order == "bgr":
        small = small[..., ::-1]
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
    return ((small * spec.scale - mean) / std).transpose(2, 0, 1)


@pytest.mark.parametrize("order", ["rgb", "bgr"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_raw_matches_numpy(order, encoding):
    rgb = RNG.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    src = rgb if encoding == "rgb8" else rgb[..., ::-1].copy()
    spec = ImageSpec(
        width=32,
        height=16,
        colour_order=order,
        crop_top=0.25,
        crop_bottom=0.125,
        crop_left=0.0625,
        scale=1 / 255,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
    out = np.empty((3, 16, 32), np.float32)
    Preprocessor(spec).process(_frame(src, encoding), out)
    np.testing.assert_allclose(out, _expected(rgb, spec), rtol=1e-5, atol=1e-5)


def test_row_padding_step_is_honoured():
    rgb = RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    padded = np.zeros((8, 40), np.uint8)
    padded[:, :30] = rgb.reshape(8, 30)
    frame = CameraFrame("front", 1.0, "rgb8", padded.tobytes(), width=10, height=8, step=40)
    image, order = decode(frame)
    assert order == "rgb"
    np.testing.assert_array_equal(image, rgb)


def test_mono_to_gray_and_rgb():
    gray = RNG.integers(0, 256, (20, 40), dtype=np.uint8)
    frame = CameraFrame("front", 1.0, "mono8", gray.tobytes(), width=40, height=20)
    out = np.empty((1, 20, 40), np.float32)
    Preprocessor(ImageSpec(width=40, height=20, colour_order="gray", scale=1.0, mean=(0,), std=(1,))).process(
        frame, out
    )
    np.testing.assert_array_equal(out[0], gray.astype(np.float32))
    out3 = np.empty((3, 20, 40), np.float32)
    Preprocessor(ImageSpec(width=40, height=20, colour_order="rgb", scale=1.0)).process(frame, out3)
    for ch in range(3):
        np.testing.assert_array_equal(out3[ch], gray.astype(np.float32))


def test_rgb_to_gray_uses_luma():
    rgb = RNG.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    out = np.empty((1, 20, 40), np.float32)
    Preprocessor(ImageSpec(width=40, height=20, colour_order="gray", scale=1.0, mean=(0,), std=(1,))).process(
        _frame(rgb, "rgb8"), out
    )
    np.testing.assert_array_equal(out[0], cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32))


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_decodes_to_rgb_order(fmt):
    rgb = np.zeros((32, 64, 3), np.uint8)
    rgb[..., 0] = 250  # pure red in rgb
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", rgb[..., ::-1])
    assert ok
    frame = CameraFrame("front", 1.0, fmt, buf.tobytes())
    out = np.empty((3, 16, 32), np.float32)
    Preprocessor(ImageSpec(width=32, height=16, colour_order="rgb", scale=1.0)).process(frame, out)
    assert out[0].mean() > 240 and out[1].mean() < 10 and out[2].mean() < 10


def test_wrong_encoding_is_named():
    frame = CameraFrame("front", 1.0, "yuv422", b"\0" * 100, width=10, height=5)
    with pytest.raises(PreprocessError, match="unsupported encoding 'yuv422'"):
        decode(frame)


@pytest.mark.parametrize("size,word", [(10 * 5 * 3 - 1, "truncated"), (10 * 5 * 3 + 7, "too long")])
def test_raw_size_mismatch(size, word):
    frame = CameraFrame("front", 1.0, "rgb8", b"\0" * size, width=10, height=5)
    with pytest.raises(PreprocessError, match=f"{word}: {size} bytes, expected height×step = 5×30 = 150"):
        decode(frame)


@pytest.mark.parametrize("fmt,ext", [("jpeg", ".jpg"), ("png", ".png")])
def test_truncated_compressed(fmt, ext):
    ok, buf = cv2.imencode(ext, RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = buf.tobytes()
    with pytest.raises(PreprocessError, match="truncated"):
        decode(CameraFrame("front", 1.0, fmt, data[: len(data) // 2]))


def test_compressed_with_wrong_magic():
    ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(PreprocessError, match="data is not jpeg"):
        decode(CameraFrame("front", 1.0, "jpeg", buf.tobytes()))


def test_corrupt_jpeg_body():
    ok, buf = cv2.imencode(".jpg", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = bytearray(buf.tobytes())
    data[2:40] = b"\x00" * 38  # destroy the headers, keep start and end markers
    with pytest.raises(PreprocessError):
        decode(CameraFrame("front", 1.0, "jpeg", bytes(data)))


def test_process_writes_into_given_slot_without_reallocating():
    rgb = RNG.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    pre = Preprocessor(ImageSpec(width=32, height=16, colour_order="rgb"))
    out = np.empty((3, 16, 32), np.float32)
    address = out.ctypes.data
    pre.process(_frame(rgb, "rgb8"), out)
    assert out.ctypes.data == address and np.isfinite(out).all()
    with pytest.raises(ValueError, match="output slot"):
        pre.process(_frame(rgb, "rgb8"), np.empty((3, 16, 31), np.float32))
