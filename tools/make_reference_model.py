"""Build models/reference_geometric: a hand-written (not learned) ONNX policy used until the
distilled student ships. It steers on the arc through the route's target point, slows down for
curvature and stops at the route's end, names the road option in its reasoning, and lowers its confidence
when the image is dark (a dead camera). It exercises the whole model contract so the runtime can be tested end to end.

    python tools/make_reference_model.py [--out models/reference_geometric]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

POINTS, DT_S, HISTORY = 10, 0.5, 2
HEIGHT, WIDTH = 128, 256
CRUISE_MPS = 8.0
VOCAB = [
    "<pad>",
    "<eos>",
    "following",
    "the",
    "lane",
    "turning",
    "left",
    "right",
    "at",
    "junction",
    "going",
    "straight",
    "changing",
    "lanes",
    "to",
]
SENTENCES = [  # in the order of the road-option one-hot (LEFT, RIGHT, STRAIGHT, LANEFOLLOW, CLL, CLR)
    "turning left at the junction",
    "turning right at the junction",
    "going straight at the junction",
    "following the lane",
    "changing lanes to the left",
    "changing lanes to the right",
]
MAX_TOKENS = 8


def token_table() -> np.ndarray:
    table = np.zeros((len(SENTENCES), MAX_TOKENS), np.int64)
    for row, sentence in enumerate(SENTENCES):
        ids = [VOCAB.index(w) for w in sentence.split()] + [VOCAB.index("<eos>")]
        table[row, : len(ids)] = ids
    return table


def build_graph() -> onnx.ModelProto:
    c = lambda name, value: numpy_helper.from_array(np.asarray(value), name)  # noqa: E731
    inits = [
        c("i0", np.array([0], np.int64)),
        c("i1", np.array([1], np.int64)),
        c("i2", np.array([2], np.int64)),
        c("i8", np.array([8], np.int64)),
        c("i9", np.array([9], np.int64)),
        c("axis1", np.array(1, np.int64)),
        c("five", np.float32(5.0)),
        c("zero", np.float32(0.0)),
        c("three", np.float32(3.0)),
        c("two", np.float32(2.0)),
        c("half", np.float32(0.5)),
        c("eps", np.float32(1e-3)),
        c("kmax", np.float32(0.2)),
        c("kmin", np.float32(-0.2)),
        c("cruise", np.float32(CRUISE_MPS)),
        c("slow_gain", np.float32(8.0)),
        c("one", np.float32(1.0)),
        c("dt", np.float32(DT_S)),
        c("ramp", np.minimum(1.0, (np.arange(1, POINTS + 1) * DT_S) / 2.0).astype(np.float32)[None]),
        c("bright_gain", np.float32(20.0)),
        c("bright_ref", np.float32(0.05)),
        c("tokens", token_table()),
        c("ids_shape", np.array([1, MAX_TOKENS], np.int64)),
        c("conf_shape", np.array([1], np.int64)),
    ]
    n = helper.make_node
    nodes = [
        n("Slice", ["nav", "i0", "i1", "i1"], ["tx"]),
        n("Slice", ["nav", "i1", "i2", "i1"], ["ty"]),
        n("Slice", ["nav", "i2", "i8", "i1"], ["onehot"]),
        n("Mul", ["tx", "tx"], ["tx2"]),
        n("Mul", ["ty", "ty"], ["ty2"]),
        n("Add", ["tx2", "ty2"], ["d2a"]),
        n("Add", ["d2a", "eps"], ["d2"]),
        n("Mul", ["ty", "two"], ["ty_2"]),
        n("Div", ["ty_2", "d2"], ["k_raw"]),
        n("Clip", ["k_raw", "kmin", "kmax"], ["k"]),  # [1, 1] curvature of the arc through the target
        n("Abs", ["k"], ["k_abs"]),
        n("Mul", ["k_abs", "slow_gain"], ["k_g"]),
        n("Add", ["k_g", "one"], ["k_den"]),
        n("Div", ["cruise", "k_den"], ["v_curve"]),
        # stop at the route's end: v ≤ sqrt(2 · 1.5 m/s² · (distance to the end − 5 m))
        n("Slice", ["nav", "i8", "i9", "i1"], ["to_end"]),
        n("Sub", ["to_end", "five"], ["to_stop"]),
        n("Max", ["to_stop", "zero"], ["to_stop_pos"]),
        n("Mul", ["to_stop_pos", "three"], ["v2_stop"]),
        n("Sqrt", ["v2_stop"], ["v_stop"]),
        n("Min", ["v_curve", "v_stop"], ["v_target"]),
        n("Sub", ["v_target", "ego"], ["dv"]),
        n("Mul", ["dv", "ramp"], ["dv_ramp"]),
        n("Add", ["ego", "dv_ramp"], ["speed"]),  # [1, T]: from the current speed to the target in 2 s
        n("CumSum", ["speed", "axis1"], ["s_sum"]),
        n("Mul", ["s_sum", "dt"], ["s"]),
        n("Mul", ["s", "s"], ["s2"]),
        n("Mul", ["k", "half"], ["k_half"]),
        n("Mul", ["s2", "k_half"], ["y"]),
        n("Unsqueeze", ["s", "conf_shape_neg"], ["x3"]),
        n("Unsqueeze", ["y", "conf_shape_neg"], ["y3"]),
        n("Concat", ["x3", "y3"], ["trajectory"], axis=2),
        n("ArgMax", ["onehot"], ["option"], axis=1, keepdims=0),
        n("Gather", ["tokens", "option"], ["ids_g"], axis=0),
        n("Reshape", ["ids_g", "ids_shape"], ["reasoning_ids"]),
        n("ReduceMean", ["image_front"], ["bright"], keepdims=0),
        n("Sub", ["bright", "bright_ref"], ["b0"]),
        n("Mul", ["b0", "bright_gain"], ["b1"]),
        n("Sigmoid", ["b1"], ["conf0"]),
        n("Reshape", ["conf0", "conf_shape"], ["confidence"]),
    ]
    inits.append(c("conf_shape_neg", np.array([-1], np.int64)))
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "reference_geometric",
        inputs=[
            helper.make_tensor_value_info("image_front", f, [1, HISTORY, 3, HEIGHT, WIDTH]),
            helper.make_tensor_value_info("nav", f, [1, 9]),
            helper.make_tensor_value_info("ego", f, [1, 1]),
        ],
        outputs=[
            helper.make_tensor_value_info("trajectory", f, [1, POINTS, 2]),
            helper.make_tensor_value_info("speed", f, [1, POINTS]),
            helper.make_tensor_value_info("reasoning_ids", TensorProto.INT64, [1, MAX_TOKENS]),
            helper.make_tensor_value_info("confidence", f, [1]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vehicle_runtime")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def write(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_graph().SerializeToString()
    (out_dir / "model.onnx").write_bytes(data)
    (out_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    manifest = {
        "name": "reference_geometric",
        "version": "0.1.0",
        "model_file": "model.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "opset": 17,
        "cameras": [
            {
                "camera": "front",
                "input": "image_front",
                "history": HISTORY,
                "fov_deg": 90.0,
                "image": {
                    "width": WIDTH,
                    "height": HEIGHT,
                    "colour_order": "rgb",
                    "crop": {"top": 0.25, "bottom": 0.1},
                    "interpolation": "linear",
                    "scale": 1 / 255,
                    "mean": [0.0, 0.0, 0.0],
                    "std": [1.0, 1.0, 1.0],
                },
            }
        ],
        "nav": {
            "input": "nav",
            "features": ["target_point_ego_m", "road_option_one_hot", "distance_to_route_end_m"],
            "route_points": 10,
        },
        "ego": {"input": "ego", "features": ["speed_mps"]},
        "outputs": {
            "trajectory": {"name": "trajectory", "points": POINTS, "dt_s": DT_S},
            "speed_profile": {"name": "speed"},
            "reasoning": {"name": "reasoning_ids", "kind": "token_ids", "max_tokens": MAX_TOKENS},
            "confidence": {"name": "confidence"},
        },
        "tokenizer": "vocab.txt",
        "latency_budget_ms": 20.0,
        "provenance": {
            "teacher": "none: hand-written geometric policy (placeholder until the distilled student)",
            "tool": "tools/make_reference_model.py",
        },
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "reference_geometric"
    )
    print(write(parser.parse_args().out))
