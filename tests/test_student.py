"""The student contract and session on real ONNX graphs whose outputs are known exactly."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from conftest import make_observation, uniform_frame
from model_factory import REASONING_IDS, VOCAB, H, W, two_camera_graph, two_camera_manifest, write_model
from vehicle_runtime.control import TrackerParams, TrajectoryTracker, VehicleProfile
from vehicle_runtime.pipeline import Pipeline, StudentPolicy
from vehicle_runtime.student import ManifestError, ProviderError, SessionConfig, Student, load_manifest
from vehicle_runtime.student.history import FrameHistory
from vehicle_runtime.student.tokenizer import Tokenizer
from vehicle_runtime.types import CameraFrame

CPU = SessionConfig(providers=("CPUExecutionProvider",))
PROFILE = VehicleProfile("t", 2.8, 15.0, 0.55, 0.6, 3.0, 8.0, 1.8, 4.6, 0.1, 0.3)
TRACKER = TrackerParams(5.0, 0.8, 0.3, 0.8, 0.1, 2.0)


def _pipeline(folder, io_binding=True):
    student = Student.load(folder, SessionConfig(providers=("CPUExecutionProvider",), io_binding=io_binding))
    return Pipeline(StudentPolicy(student), TrajectoryTracker(PROFILE, TRACKER))


def _step(pipe, value_a, value_b, stamp, target_x=10.0):
    frames = {
        "front": uniform_frame("front", value_a, W, H, stamp_s=stamp),
        "rear": uniform_frame("rear", value_b, W, H, encoding="mono8", stamp_s=stamp),
    }
    return pipe.infer(make_observation(frames, stamp_s=stamp, target=(target_x, 0.0)))


@pytest.mark.parametrize("io_binding", [True, False])
def test_two_cameras_history_order_and_recurrent_state(two_camera_dir, io_binding):
    pipe = _pipeline(two_camera_dir, io_binding)
    out = _step(pipe, 10, 100, 1.0)
    # first frame fills the whole history (no black frames)
    np.testing.assert_allclose(out.trajectory_ego_xy_m, [[10, 100]] * 3)
    np.testing.assert_allclose(out.speed_profile_mps, [10.0] * 3)  # target_x + state 0
    _step(pipe, 20, 110, 1.05)
    out = _step(pipe, 30, 120, 1.10, target_x=7.0)
    np.testing.assert_allclose(out.trajectory_ego_xy_m, [[10, 100], [20, 110], [30, 120]])  # oldest first
    np.testing.assert_allclose(out.speed_profile_mps, [7.0 + 2.0] * 3)  # state incremented twice before
    out = _step(pipe, 40, 130, 1.15)
    np.testing.assert_allclose(out.trajectory_ego_xy_m, [[20, 110], [30, 120], [40, 130]])
    assert out.reasoning_text == "lead braking slowing down"
    assert out.reasoning_token_ids == (2, 3, 4, 5, 1, 0)
    assert out.confidence == pytest.approx(0.5)
    assert out.latency_s > 0
    pipe.reset()
    out = _step(pipe, 50, 140, 1.20)
    np.testing.assert_allclose(out.trajectory_ego_xy_m, [[50, 140]] * 3)
    np.testing.assert_allclose(out.speed_profile_mps, [10.0] * 3)


def test_io_binding_inputs_are_the_history_buffer_without_copies(two_camera_dir):
    student = Student.load(two_camera_dir, CPU)
    window = student.histories["front"].window()
    assert np.shares_memory(window, student.histories["front"]._slots)
    assert window.flags.c_contiguous


def test_bad_frame_leaves_history_untouched(two_camera_dir):
    pipe = _pipeline(two_camera_dir)
    _step(pipe, 10, 100, 1.0)
    bad = {
        "front": uniform_frame("front", 99, W, H, stamp_s=1.05),  # good, processed first
        "rear": CameraFrame("rear", 1.05, "mono8", b"\0" * 5, width=W, height=H),
    }  # truncated
    with pytest.raises(ValueError, match="truncated"):
        pipe.infer(make_observation(bad, stamp_s=1.05))
    out = _step(pipe, 20, 110, 1.10)
    np.testing.assert_allclose(out.trajectory_ego_xy_m, [[10, 100], [10, 100], [20, 110]])


def test_mirrored_ring_buffer_order():
    h = FrameHistory(4, (1,))
    for i in range(11):
        h.next_slot()[:] = i
        h.commit()
        got = h.window()[0, :, 0]
        want = [max(0, j) for j in range(i - 3, i + 1)]
        np.testing.assert_array_equal(got, want)


def test_manifest_graph_shape_mismatch_names_tensor_and_shapes(tmp_path):
    folder = write_model(tmp_path / "m", two_camera_graph(cam_a_height=5))
    with pytest.raises(ManifestError) as err:
        Student.load(folder, CPU)
    msg = str(err.value)
    assert "input 'cam_a'" in msg and "manifest shape [1, 3, 3, 4, 6]" in msg and "graph shape [1, 3, 3, 5, 6]" in msg


def test_manifest_missing_and_extra_tensors(tmp_path):
    folder = write_model(tmp_path / "m", two_camera_graph(), recurrent_state=[])
    with pytest.raises(ManifestError, match="graph input 'state_in' is not described by the manifest"):
        Student.load(folder, CPU)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["recurrent_state"] = [{"input": "state_in", "output": "state_out", "shape": [1, 4]}]
    manifest["outputs"]["trajectory"]["name"] = "traj"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="output 'traj' is in the manifest but not in the graph"):
        Student.load(folder, CPU)


def test_feature_width_mismatch(tmp_path):
    folder = write_model(tmp_path / "m", two_camera_graph(), nav={"input": "nav", "features": ["target_point_ego_m"]})
    with pytest.raises(ManifestError, match=r"input 'nav': manifest shape \[1, 2\], graph shape \[1, 8\]"):
        Student.load(folder, CPU)


def _manifest_without_tokenizer(sha256: str) -> dict:
    manifest = two_camera_manifest(sha256)
    del manifest["tokenizer"]
    return manifest


def test_reasoning_logits_without_tokenizer_take_the_vocabulary_size_from_the_graph(tmp_path):
    folder = write_model(tmp_path / "m", two_camera_graph(), manifest_fn=_manifest_without_tokenizer)
    student = Student.load(folder, CPU)  # was a TypeError: the manifest leaves the vocabulary size open
    assert student.tokenizer is None
    assert student._outputs["reasoning_logits"].shape == (1, len(REASONING_IDS), len(VOCAB))


def test_sha256_and_schema_errors(tmp_path, two_camera_dir):
    (two_camera_dir / "model.onnx").write_bytes((two_camera_dir / "model.onnx").read_bytes() + b"x")
    with pytest.raises(ManifestError, match="sha256 .* does not match"):
        load_manifest(two_camera_dir)
    folder = write_model(tmp_path / "m", two_camera_graph(), latency_budget_ms=-1)
    with pytest.raises(ManifestError, match="field 'latency_budget_ms'"):
        load_manifest(folder)
    folder = write_model(tmp_path / "n", two_camera_graph(), colour="rgb")
    with pytest.raises(ManifestError, match="Additional properties"):
        load_manifest(folder)
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path / "missing")


def test_provider_preference_and_report(two_camera_dir):
    student = Student.load(two_camera_dir, SessionConfig())  # TensorRT → CUDA → CPU
    available = ort.get_available_providers()
    first = next(
        p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider") if p in available
    )
    assert student.session.requested_providers[0] == first
    assert student.provider in available
    with pytest.raises(ProviderError, match="none of the requested providers"):
        Student.load(two_camera_dir, SessionConfig(providers=("NoSuchExecutionProvider",)))


def test_warm_up_resets_state(two_camera_dir):
    student = Student.load(two_camera_dir, CPU)
    assert student.warm_up(3) > 0
    pipe = Pipeline(StudentPolicy(student), TrajectoryTracker(PROFILE, TRACKER))
    out = _step(pipe, 1, 1, 1.0, target_x=3.0)
    np.testing.assert_allclose(out.speed_profile_mps, [3.0] * 3)


def test_plain_and_hf_tokenizers(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<pad>\n<eos>\nturn\nleft\n")
    tok = Tokenizer(vocab)
    assert tok.decode([2, 3, 1, 2]) == "turn left"
    assert tok.encode("turn left") == [2, 3]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([7])
    from tokenizers import Tokenizer as HF
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    hf = HF(WordLevel({"<pad>": 0, "<eos>": 1, "slow": 2, "down": 3}, unk_token="<pad>"))
    hf.pre_tokenizer = Whitespace()
    hf.add_special_tokens(["<pad>", "<eos>"])
    hf.save(str(tmp_path / "tokenizer.json"))
    tok = Tokenizer(tmp_path / "tokenizer.json")
    assert tok.vocab_size == 4
    assert tok.decode([2, 3, 1, 0]) == "slow down"


def test_reference_model_behaviour(reference_model_dir):
    student = Student.load(reference_model_dir, CPU)
    pipe = Pipeline(StudentPolicy(student), TrajectoryTracker(PROFILE, TRACKER))
    from vehicle_runtime.types import RoadOption

    def infer(target, option, value=128):
        frames = {"front": uniform_frame("front", value, 320, 180)}
        return pipe.infer(make_observation(frames, target=target, option=option, speed_mps=4.0))

    left = infer((10.0, 3.0), RoadOption.LEFT)
    assert left.trajectory_ego_xy_m[-1, 1] > 1.0 and left.reasoning_text == "turning left at the junction"
    right = infer((10.0, -3.0), RoadOption.RIGHT)
    assert right.trajectory_ego_xy_m[-1, 1] < -1.0 and right.reasoning_text == "turning right at the junction"
    straight = infer((10.0, 0.0), RoadOption.LANEFOLLOW)
    assert abs(straight.trajectory_ego_xy_m[:, 1]).max() < 1e-6
    assert straight.speed_profile_mps[0] > 4.0 and straight.speed_profile_mps[-1] == pytest.approx(8.0)
    assert left.speed_profile_mps[-1] < straight.speed_profile_mps[-1]  # slows for the curve
    assert straight.confidence > 0.9
    near_end = pipe.infer(
        make_observation({"front": uniform_frame("front", 128, 320, 180)}, to_end_m=6.0, speed_mps=4.0)
    )
    assert near_end.speed_profile_mps[-1] == pytest.approx(np.sqrt(3.0), rel=1e-5)  # stops at the route's end
    pipe.reset()  # history of 2 frames: start the dark camera from a clean history
    assert infer((10.0, 0.0), RoadOption.LANEFOLLOW, value=0).confidence < 0.5  # dark camera


def test_shipped_reference_model_is_reproducible(tmp_path, reference_model_dir):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import make_reference_model

    make_reference_model.write(tmp_path)
    assert (tmp_path / "model.onnx").read_bytes() == (reference_model_dir / "model.onnx").read_bytes()
    assert json.loads((tmp_path / "manifest.json").read_text()) == json.loads(
        (reference_model_dir / "manifest.json").read_text()
    )
