"""Check that a manifest and its ONNX graph agree, naming the tensor and both shapes when not."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from .features import feature_width
from .manifest import Manifest, ManifestError

Shape = Tuple[Optional[int], ...]
_ORT_TYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32",
              "tensor(float16)": "float16"}


def expected_inputs(m: Manifest) -> Dict[str, Tuple[str, Shape]]:
    exp = {}
    for c in m.cameras:
        exp[c.input] = ("float32", (1, c.history, c.image.channels, c.image.height, c.image.width))
    for f in (m.nav, m.ego):
        if f is not None:
            try:
                width = feature_width(f.features, m.route_points)
            except ValueError as exc:
                raise ManifestError(f"manifest input '{f.input}': {exc}") from None
            exp[f.input] = ("float32", (1, width))
    for s in m.state:
        exp[s.input] = ("float32", s.shape)
    return exp


def expected_outputs(m: Manifest, vocab_size: Optional[int]) -> Dict[str, Tuple[str, Shape]]:
    o = m.outputs
    exp = {o.trajectory: ("float32", (1, o.trajectory_points, 2))}
    if o.speed_profile:
        exp[o.speed_profile] = ("float32", (1, o.trajectory_points))
    if o.reasoning:
        if o.reasoning_kind == "token_ids":
            exp[o.reasoning] = ("int64", (1, o.reasoning_max_tokens))
        else:
            exp[o.reasoning] = ("float32", (1, o.reasoning_max_tokens, vocab_size))
    if o.confidence:
        exp[o.confidence] = ("float32", (1,))
    for s in m.state:
        exp[s.output] = ("float32", s.shape)
    return exp


def check_against_graph(m: Manifest, graph_inputs: Sequence, graph_outputs: Sequence,
                        vocab_size: Optional[int] = None) -> None:
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
