"""Check that a manifest and its ONNX graph agree, naming the tensor and both shapes when not."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .features import feature_width
from .manifest import Manifest, ManifestError

Shape = Tuple[Optional[int], ...]
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(float16)": "float16",
}


def expected_inputs(m: Manifest) -> Dict[str, Tuple[str, Shape]]:
    exp: Dict[str, Tuple[str, Shape]] = {}
    for c in m.cameras:
        exp[c.input] = (c.dtype, (1, c.history, c.image.channels, c.image.height, c.image.width))
    for f in (m.nav, m.ego):
        if f is not None:
            try:
                width = feature_width(f.features, m.route_points)
            except ValueError as exc:
                raise ManifestError(f"manifest input '{f.input}': {exc}") from None
            exp[f.input] = (f.dtype, (1, width))
    for s in m.state:
        exp[s.input] = (s.dtype, s.shape)
    return exp


def expected_outputs(m: Manifest, vocab_size: Optional[int]) -> Dict[str, Tuple[str, Shape]]:
    o = m.outputs
    exp: Dict[str, Tuple[str, Shape]] = {o.trajectory: (o.trajectory_dtype, (1, o.trajectory_points, 2))}
    if o.speed_profile:
        exp[o.speed_profile] = (o.speed_profile_dtype, (1, o.trajectory_points))
    if o.reasoning:
        if o.reasoning_kind == "token_ids":
            exp[o.reasoning] = (o.reasoning_dtype, (1, o.reasoning_max_tokens))
        else:
            exp[o.reasoning] = (o.reasoning_dtype, (1, o.reasoning_max_tokens, vocab_size))
    if o.confidence:
        exp[o.confidence] = (o.confidence_dtype, (1,))
    for s in m.state:
        exp[s.output] = (s.dtype, s.shape)
    return exp


def check_against_graph(
    m: Manifest, graph_inputs: Sequence, graph_outputs: Sequence, vocab_size: Optional[int] = None
) -> None:
    """`graph_inputs/outputs` are onnxruntime NodeArg lists (name, type, shape). Raises ManifestError."""
    problems: List[str] = []
    problems += _compare("input", expected_inputs(m), graph_inputs, strict_extra=True)
    problems += _compare("output", expected_outputs(m, vocab_size), graph_outputs, strict_extra=False)
    if problems:
        raise ManifestError(f"model '{m.name}' {m.version}: manifest and graph disagree:\n  " + "\n  ".join(problems))


def _compare(kind: str, expected: Dict[str, Tuple[str, Shape]], graph: Sequence, strict_extra: bool) -> List[str]:
    problems = []
    by_name = {a.name: a for a in graph}
    for name, (dtype, shape) in expected.items():
        arg = by_name.get(name)
        if arg is None:
            problems.append(f"{kind} '{name}' is in the manifest but not in the graph (graph has {sorted(by_name)})")
            continue
        g_dtype = _ORT_TYPES.get(arg.type, arg.type)
        g_shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
        if g_dtype != dtype:
            problems.append(f"{kind} '{name}': manifest dtype {dtype}, graph dtype {g_dtype}")
        if not _shapes_match(shape, g_shape, squeeze_ok=(kind == "output" and len(shape) == 1)):
            problems.append(f"{kind} '{name}': manifest shape {_fmt(shape)}, graph shape {_fmt(tuple(arg.shape))}")
    if strict_extra:
        for name in by_name:
            if name not in expected:
                problems.append(f"graph {kind} '{name}' is not described by the manifest")
    return problems


def _shapes_match(want: Shape, got: Shape, squeeze_ok: bool) -> bool:
    if squeeze_ok and len(got) == 2 and got[1] in (1, None):  # confidence as [1, 1]
        got = got[:1]
    if len(want) != len(got):
        return False
    return all(g is None or w is None or g == w for w, g in zip(want, got))


def _fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


FOV_TOLERANCE_DEG = 2.0  # as the ROS fusion node checks camera_info


def check_fov(m: Manifest, camera_fov_deg: Mapping[str, float], source: str = "the camera configuration") -> None:
    """Every camera the model reads must exist in `camera_fov_deg` (name → horizontal fov) and, when the
    manifest states a fov, match it within FOV_TOLERANCE_DEG. One line naming the camera otherwise."""
    for c in m.cameras:
        if c.camera not in camera_fov_deg:
            raise ManifestError(
                f"model '{m.name}' reads camera '{c.camera}', which {source} does not have "
                f"(it has {', '.join(sorted(camera_fov_deg)) or 'none'})"
            )
        have = float(camera_fov_deg[c.camera])
        if c.fov_deg is not None and abs(have - c.fov_deg) > FOV_TOLERANCE_DEG:
            raise ManifestError(
                f"model '{m.name}' expects camera '{c.camera}' with a {c.fov_deg:g} deg field of view; "
                f"{source} gives {have:g} deg"
            )


RATE_TOLERANCE = 0.10  # relative: a history of 11 frames spans 0.5 s +- 50 ms


def check_rates(m: Manifest, camera_rate_hz: Mapping[str, float], source: str = "the camera configuration") -> None:
    """A model that states the frame rate its history was trained at must get that rate (within
    RATE_TOLERANCE) from every camera it reads: its history is consecutive frames, so another rate
    changes the time the history spans and every motion the model reads from it."""
    for c in m.cameras:
        if c.rate_hz is None or c.camera not in camera_rate_hz:
            continue  # an absent camera is check_fov's finding
        have = float(camera_rate_hz[c.camera])
        if not abs(have - c.rate_hz) <= RATE_TOLERANCE * c.rate_hz:
            raise ManifestError(
                f"model '{m.name}' expects camera '{c.camera}' at {c.rate_hz:g} Hz (its history of {c.history} "
                f"frames spans {(c.history - 1) / c.rate_hz:.2f} s); {source} gives {have:g} Hz"
            )
