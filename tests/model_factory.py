"""Tiny ONNX models built with onnx.helper whose outputs are known exactly, with their manifests.

`two_camera_model`: two cameras (rgb history 3, gray history 3), nav + ego features and a
recurrent state. Outputs, by construction:
  trajectory[0, k] = (mean of cam_a frame k, mean of cam_b frame k)  -> shows the history order
  speed[0, k]      = nav[0, 0] + state_in[0, 0]                       -> shows the state is carried
  state_out        = state_in + 1
  reasoning logits = a constant table whose argmax is REASONING_IDS
  confidence       = [[0.5]] (a [1, 1] tensor; the contract accepts it for [1])
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HISTORY = 3
H, W = 4, 6
VOCAB = ["<pad>", "<eos>", "lead", "braking", "slowing", "down"]
REASONING_IDS = [2, 3, 4, 5, 1, 0]  # "lead braking slowing down" <eos> <pad>
STATE = 4
STUDENT = Path(__file__).resolve().parents[1] / "models" / "distilled_student"


def _logits() -> np.ndarray:
    logits = np.zeros((1, len(REASONING_IDS), len(VOCAB)), np.float32)
    for pos, tok in enumerate(REASONING_IDS):
        logits[0, pos, tok] = 5.0
    return logits


def two_camera_graph(cam_a_height: int = H) -> onnx.ModelProto:
    f = TensorProto.FLOAT
    c = lambda name, value: numpy_helper.from_array(np.asarray(value), name)  # noqa: E731
    n = helper.make_node
    nodes = [
        n("ReduceMean", ["cam_a", "axes_chw"], ["mean_a"], keepdims=0),  # [1, K]
        n("ReduceMean", ["cam_b", "axes_chw"], ["mean_b"], keepdims=0),
        n("Unsqueeze", ["mean_a", "minus1"], ["mean_a3"]),
        n("Unsqueeze", ["mean_b", "minus1"], ["mean_b3"]),
        n("Concat", ["mean_a3", "mean_b3"], ["trajectory"], axis=2),
        n("Slice", ["nav", "zero", "one", "one"], ["tx"]),
        n("Slice", ["state_in", "zero", "one", "one"], ["s0"]),
        n("Add", ["tx", "s0"], ["base"]),
        n("Expand", ["base", "speed_shape"], ["speed"]),
        n("Add", ["state_in", "one_f"], ["state_out"]),
        n("Identity", ["logits_c"], ["reasoning_logits"]),
        n("Mul", ["ego", "zero_f"], ["ego0"]),
        n("Sigmoid", ["ego0"], ["confidence"]),
    ]
    inits = [
        c("axes_chw", np.array([2, 3, 4], np.int64)),
        c("minus1", np.array([-1], np.int64)),
        c("zero", np.array([0], np.int64)),
        c("one", np.array([1], np.int64)),
        c("speed_shape", np.array([1, HISTORY], np.int64)),
        c("one_f", np.float32(1.0)),
        c("zero_f", np.float32(0.0)),
        c("logits_c", _logits()),
    ]
    graph = helper.make_graph(
        nodes,
        "two_camera_test",
        inputs=[
            helper.make_tensor_value_info("cam_a", f, [1, HISTORY, 3, cam_a_height, W]),
            helper.make_tensor_value_info("cam_b", f, [1, HISTORY, 1, H, W]),
            helper.make_tensor_value_info("nav", f, [1, 8]),
            helper.make_tensor_value_info("ego", f, [1, 1]),
            helper.make_tensor_value_info("state_in", f, [1, STATE]),
        ],
        outputs=[
            helper.make_tensor_value_info("trajectory", f, [1, HISTORY, 2]),
            helper.make_tensor_value_info("speed", f, [1, HISTORY]),
            helper.make_tensor_value_info("reasoning_logits", f, [1, len(REASONING_IDS), len(VOCAB)]),
            helper.make_tensor_value_info("confidence", f, [1, 1]),
            helper.make_tensor_value_info("state_out", f, [1, STATE]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def two_camera_manifest(sha256: str) -> dict:
    identity = {"scale": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    identity_gray = {"scale": 1.0, "mean": [0.0], "std": [1.0]}
    return {
        "name": "two_camera_test",
        "version": "1.0.0",
        "model_file": "model.onnx",
        "sha256": sha256,
        "cameras": [
            {
                "camera": "front",
                "input": "cam_a",
                "history": HISTORY,
                "image": {"width": W, "height": H, "colour_order": "rgb", **identity},
            },
            {
                "camera": "rear",
                "input": "cam_b",
                "history": HISTORY,
                "image": {"width": W, "height": H, "colour_order": "gray", **identity_gray},
            },
        ],
        "nav": {"input": "nav", "features": ["target_point_ego_m", "road_option_one_hot"]},
        "ego": {"input": "ego", "features": ["speed_mps"]},
        "recurrent_state": [{"input": "state_in", "output": "state_out", "shape": [1, STATE]}],
        "outputs": {
            "trajectory": {"name": "trajectory", "points": HISTORY, "dt_s": 0.1},
            "speed_profile": {"name": "speed"},
            "reasoning": {"name": "reasoning_logits", "kind": "logits", "max_tokens": len(REASONING_IDS)},
            "confidence": {"name": "confidence"},
        },
        "tokenizer": "vocab.txt",
        "latency_budget_ms": 5.0,
    }


def write_model(folder: Path, model: onnx.ModelProto, manifest_fn=two_camera_manifest, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    manifest = manifest_fn(hashlib.sha256(data).hexdigest())
    manifest.update(overrides)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def shifted_student(dst: Path, lateral_m: float) -> Path:
    """The shipped student with `lateral_m` added to every trajectory point's y (onnx.helper): from about
    1.5 m on, the trajectory validator refuses every plan (position_deviation)."""
    shutil.copytree(STUDENT, dst)
    m = onnx.load(dst / "model.onnx")
    g = m.graph
    for node in g.node:
        node.output[:] = ["trajectory_raw" if o == "trajectory" else o for o in node.output]
    g.initializer.append(numpy_helper.from_array(np.array([0.0, lateral_m], np.float32), "lateral_shift"))
    g.node.append(helper.make_node("Add", ["trajectory_raw", "lateral_shift"], ["trajectory"]))
    onnx.save(m, dst / "model.onnx")
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256((dst / "model.onnx").read_bytes()).hexdigest()
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst
