"""The student network's structure and its ONNX export into the runtime's model contract."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the `train` extra (PyTorch) is not installed")

from tools.distill import spec  # noqa: E402
from tools.distill.export import export  # noqa: E402
from tools.distill.net import StudentNet  # noqa: E402
from vehicle_runtime.pipeline import StudentPolicy  # noqa: E402
from vehicle_runtime.student import Student  # noqa: E402
from vehicle_runtime.types import (  # noqa: E402
    CameraFrame,
    EgoState,
    NavigationState,
    Observation,
    Pose2D,
    RoadOption,
)


def _straight_route(b: int, curve: float = 0.0):  # a [b, 2 * ROUTE_POINTS] tensor
    s = spec.ROUTE_SPACING_M * torch.arange(1, spec.ROUTE_POINTS + 1, dtype=torch.float32)
    pts = torch.stack((s, curve * s * s), dim=1)
    return pts.reshape(1, -1).repeat(b, 1)


def test_trajectory_is_the_route_read_at_the_distances_of_the_speed_profile():
    vocab = spec.build_vocab(["following the lane at 8 m/s"])
    net = StudentNet(vocab, spec.build_templates(["following the lane at 8 m/s"]))
    route = _straight_route(1).reshape(1, spec.ROUTE_POINTS, 2)
    speed_now = torch.tensor([[6.0]])
    speeds = torch.full((1, spec.POINTS), 6.0)
    traj = net._along_route(route, speed_now, speeds)[0]
    expected_x = 6.0 * spec.DT_S * torch.arange(1, spec.POINTS + 1)
    assert torch.allclose(traj[:, 0], expected_x, atol=1e-5) and torch.allclose(traj[:, 1], torch.zeros(spec.POINTS))
    stopped = net._along_route(route, torch.zeros(1, 1), torch.zeros(1, spec.POINTS))[0]
    assert torch.allclose(stopped[:, 0], torch.arange(1, spec.POINTS + 1, dtype=torch.float32))  # >= 1 m per point
    far = net._along_route(route, torch.tensor([[40.0]]), torch.full((1, spec.POINTS), 40.0))[0]
    assert float(far[-1, 0]) == pytest.approx(spec.ROUTE_POINTS * spec.ROUTE_SPACING_M)  # clamped at the route's end


def _observation() -> Observation:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    s = spec.ROUTE_SPACING_M * np.arange(1, spec.ROUTE_POINTS + 1)
    nav = NavigationState(
        route_ego_xy_m=np.stack((s, 0.002 * s * s), axis=1),
        target_point_ego_m=(12.0, 0.3),
        road_option=RoadOption.LEFT,
        distance_to_route_end_m=70.0,
    )
    ego = EgoState(stamp_s=1.0, pose=Pose2D(0.0, 0.0, 0.0), speed_mps=7.0, yaw_rate_radps=0.05, accel_mps2=0.3)
    frame = CameraFrame("front", 1.0, "rgb8", img, 1280, 720)
    return Observation(stamp_s=1.0, frames={"front": frame}, ego=ego, nav=nav, ages_s={})


def test_export_loads_in_the_runtime_and_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    reasons = ["following the lane at 8 m/s", "following the lead vehicle 15 m ahead", "turning left at the junction"]
    vocab = spec.build_vocab(reasons)
    net = StudentNet(vocab, spec.build_templates(reasons))
    out = export(net, vocab, tmp_path / "student", {"test": True})
    student = Student.load(out)  # manifest schema, sha256, graph contract
    assert (
        student.manifest.route_points == spec.ROUTE_POINTS and student.manifest.route_spacing_m == spec.ROUTE_SPACING_M
    )
    policy = StudentPolicy(student)
    obs = _observation()
    result = policy.infer(obs)
    feeds = student.feeds(obs)
    with torch.no_grad():
        traj, speeds, template_logits, numbers = net(
            torch.from_numpy(feeds["image_front"]), torch.from_numpy(feeds["nav"]), torch.from_numpy(feeds["ego"])
        )
    np.testing.assert_allclose(result.trajectory_ego_xy_m, traj[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(result.speed_profile_mps, speeds[0].numpy(), atol=1e-4)
    assert list(result.reasoning_token_ids) == net.reasoning_ids(template_logits, numbers)[0].tolist()
    probs = torch.softmax(template_logits[0], dim=-1)
    assert result.confidence == pytest.approx(float(probs.max()), abs=1e-5)
    # the untrained number head reads the measured speed (7 m/s) into a speed phrase's slot
    phrase = net.templates[int(template_logits[0].argmax())]
    if spec.slot_step(phrase) == spec.SPEED_STEP:
        assert result.reasoning_text == phrase.replace(spec.SLOT, "7")


def _net_with_phrase(reasons, choose: str):
    vocab = spec.build_vocab(reasons)
    net = StudentNet(vocab, spec.build_templates(reasons))
    logits = torch.full((1, len(net.templates)), -5.0)
    logits[0, net.templates.index(choose)] = 5.0
    return net, vocab, logits


@pytest.mark.parametrize(
    "speed_mps, gap_m, phrase, text",
    [
        (11.6, 0.0, "following the lane at {} m/s", "following the lane at 12 m/s"),
        (0.2, 0.0, "following the lane at {} m/s", "following the lane at 0 m/s"),
        (75.0, 0.0, "following the lane at {} m/s", "following the lane at 60 m/s"),  # the vocabulary's last number
        (3.0, 23.4, "following the lead vehicle {} m ahead", "following the lead vehicle 25 m ahead"),
        (3.0, -4.0, "following the lead vehicle {} m ahead", "following the lead vehicle 0 m ahead"),
        (3.0, 12.0, "turning left at the junction", "turning left at the junction"),
    ],
)
def test_the_graph_fills_the_chosen_phrase_with_its_number_rounded_to_the_phrase_step(speed_mps, gap_m, phrase, text):
    reasons = ["following the lane at 8 m/s", "following the lead vehicle 15 m ahead", "turning left at the junction"]
    net, vocab, logits = _net_with_phrase(reasons, phrase)
    ids = net.reasoning_ids(logits, torch.tensor([[speed_mps, gap_m]]))[0].tolist()
    words = [vocab[i] for i in ids]
    assert words[: words.index("<eos>")] == text.split()
    assert set(words[words.index("<eos>") + 1 :]) <= {"<pad>"}


def _training_set(rng: np.random.Generator, n: int, lead_gap_m: float = np.nan):
    from tools.distill.data import TrainingSet, frame_patches

    images = rng.integers(0, 256, (n, spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width), dtype=np.uint8)
    ts = TrainingSet(
        image=frame_patches(images),
        run_start=np.zeros(n, np.int64),
        nav=rng.normal(size=(n, 9 + 2 * spec.ROUTE_POINTS)).astype(np.float32),
        ego=rng.normal(size=(n, len(spec.EGO_FEATURES))).astype(np.float32),
        trajectory=np.zeros((n, spec.POINTS, 2), np.float32),
        speed=np.zeros((n, spec.POINTS), np.float32),
        tokens=np.zeros((n, spec.MAX_TOKENS), np.int64),
        reasons=np.array(["stopping"] * n),
        template=np.zeros(n, np.int64),
        number=np.full(n, np.nan, np.float32),
        lead_gap_m=np.full(n, lead_gap_m, np.float32),
        lead_speed_mps=np.full(n, 3.0 if np.isfinite(lead_gap_m) else np.nan, np.float32),
        vocab=spec.build_vocab(["stopping"]),
        templates=spec.build_templates(["stopping"]),
    )
    return ts, images


def test_the_lead_head_learns_only_where_a_lead_was_seen_and_stays_out_of_the_exported_graph(tmp_path):
    """The auxiliary lead head (exact gap, relative speed: privileged labels) shapes the trunk in training;
    frames without a lead give it no gradient, and the runtime's graph does not carry it."""
    onnx = pytest.importorskip("onnx")
    from tools.distill.train import batch, loss_terms

    rng = np.random.default_rng(4)
    torch.manual_seed(0)
    for gap_m, learns in ((12.0, True), (np.nan, False), (80.0, False)):  # 80 m: beyond the phrases' range
        ts, _ = _training_set(rng, 6, gap_m)
        net = StudentNet(ts.vocab, ts.templates)
        sum(loss_terms(net, batch(ts, np.arange(6)))).backward()
        assert (net.lead_head.weight.grad.abs().sum() > 0) == learns, gap_m
    export(net, ts.vocab, tmp_path, {})
    names = {i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.initializer}
    assert not any("lead_head" in n for n in names) and any("speed_head" in n for n in names)


def test_training_batches_in_patch_layout_give_the_runtime_forward_pass():
    """Training feeds frames pre-cut into patches (`forward_patches`); the exported graph takes the
    runtime's [B, HISTORY, C, H, W] image: both must compute the same function."""
    from tools.distill.train import batch

    rng = np.random.default_rng(3)
    ts, images = _training_set(rng, 14)
    vocab, templates = ts.vocab, ts.templates
    idx = np.array([13, 0, 7])  # a full history, the run's first frame, one reaching back before the run
    patches, nav, ego = batch(ts, idx)[:3]
    # the runtime's window: HISTORY frames, oldest first, the run's first frame repeated before it
    window = [images[ts.back(idx, spec.HISTORY - 1 - k)] for k in range(spec.HISTORY)]
    history = np.stack(window, axis=1).astype(np.float32) / 255.0
    torch.manual_seed(0)
    net = StudentNet(vocab, templates).eval()
    with torch.no_grad():
        for a, b in zip(net.forward_patches(patches, nav, ego), net(torch.from_numpy(history), nav, ego)):
            assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(
        net.forward_patches(patches, nav, ego)[1], net.forward_patches(patches.flip(1), nav, ego)[1]
    )
