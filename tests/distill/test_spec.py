"""The student's vocabulary and reason encoding (tools/distill/spec.py)."""

from tools.distill import spec


def test_vocabulary_is_deterministic_and_holds_every_word():
    reasons = ["following the lane at 8 m/s", "lead vehicle braking 15 m ahead: slowing down"]
    a, b = spec.build_vocab(reasons), spec.build_vocab(list(reversed(reasons)))
    assert a == b
    assert a[:3] == ["<pad>", "<eos>", "<unk>"]
    assert {"ahead:", "braking", "m/s", "15", "60"} <= set(a)
    assert len(a) == len(set(a))


def test_encode_ends_with_eos_pads_and_maps_unknown_words():
    vocab = spec.build_vocab(["following the lane at 8 m/s"])
    ids = spec.encode("following the lane at 8 m/s", vocab)
    assert len(ids) == spec.MAX_TOKENS
    assert [vocab[i] for i in ids[:7]] == ["following", "the", "lane", "at", "8", "m/s", "<eos>"]
    assert set(ids[7:]) == {vocab.index("<pad>")}
    assert vocab[spec.encode("following a ghost", vocab)[1]] == "<unk>"
    long = " ".join(["lane"] * 30)
    assert spec.encode(long, vocab)[-1] == vocab.index("<eos>")


def test_a_reason_is_a_phrase_with_at_most_one_number_slot():
    assert spec.template_of("following the lane at 12 m/s") == ("following the lane at {} m/s", 12)
    assert spec.template_of("lead vehicle braking 15 m ahead: slowing down") == (
        "lead vehicle braking {} m ahead: slowing down",
        15,
    )
    assert spec.template_of("turning left at the junction") == ("turning left at the junction", None)
    assert spec.slot_step("following the lane at {} m/s") == spec.SPEED_STEP
    assert spec.slot_step("following the lead vehicle {} m ahead") == spec.GAP_STEP
    assert spec.slot_step("turning left at the junction") == 0
    reasons = ["following the lane at 8 m/s", "following the lane at 12 m/s", "turning left at the junction"]
    assert spec.build_templates(reasons) == ["following the lane at {} m/s", "turning left at the junction"]


def test_template_table_holds_each_phrase_and_where_its_number_goes():
    reasons = ["following the lane at 8 m/s", "following the lead vehicle 15 m ahead", "stopping"]
    vocab, templates = spec.build_vocab(reasons), spec.build_templates(reasons)
    ids, pos, step = spec.template_table(templates, vocab)
    assert ids.shape == (len(templates), spec.MAX_TOKENS)
    for k, t in enumerate(templates):
        words = [vocab[i] for i in ids[k]]
        assert words[: words.index("<eos>")] == ["0" if w == spec.SLOT else w for w in t.split()]
        if spec.SLOT in t:
            assert t.split()[pos[k]] == spec.SLOT and step[k] == spec.slot_step(t)
        else:
            assert pos[k] == -1 and step[k] == 0


def test_the_students_input_barely_depends_on_the_cameras_resolution():
    """A 640x360 and a 1280x720 render of the same scenes, through the student's preprocessing: area
    interpolation gives nearly the same input (and closer than bilinear, which aliases differently at each size)."""
    import math
    from dataclasses import replace

    import numpy as np

    from sim_bridge.embedded.cameras import camera_model
    from sim_bridge.embedded.renderer import Renderer
    from sim_bridge.embedded.scenario import load_scenario
    from sim_bridge.embedded.world import World
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.preprocess import Preprocessor
    from vehicle_runtime.types import CameraFrame, Pose2D

    scenario = load_scenario("junction_right")  # a turn: lane edges at every angle
    world = World(scenario, load_runtime_config().vehicle)
    route = world.route.points_xy_m
    poses = [  # along the route, the turn included
        Pose2D(*route[i], math.atan2(*(route[i + 1] - route[i])[::-1])) for i in range(0, len(route) - 1, 12)
    ]
    big = camera_model("front")
    small = replace(big, width=big.width // 2, height=big.height // 2)
    renderers = [Renderer(big, scenario.network), Renderer(small, scenario.network)]
    gap = {}
    for interpolation in (spec.IMAGE.interpolation, "linear"):
        pre = Preprocessor(replace(spec.IMAGE, interpolation=interpolation))
        diffs = []
        for pose in poses:
            inputs = []
            for r in renderers:
                img = r.render(pose, world.actor_states)
                out = np.empty((spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width), np.float32)
                pre.process(CameraFrame("front", 0.0, "rgb8", img, r.camera.width, r.camera.height), out)
                inputs.append(out)
            diffs.append(float(np.abs(inputs[0] - inputs[1]).mean()) * 255)
        gap[interpolation] = float(np.mean(diffs))
    assert spec.IMAGE.interpolation == "area"
    assert gap["area"] < 0.9 * gap["linear"], gap  # 0.80 vs 0.97 grey levels when written
    assert gap["area"] < 1.5, gap  # grey levels of 255, on average over the image
