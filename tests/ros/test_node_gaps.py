"""The nodes after an input gap: the policy node's requests with no valid plan yet, and the vehicle
interface's report of a control-loop gap (what ran in it)."""

import dataclasses
import time

import pytest

pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")

from vehicle_runtime.transport import convert  # noqa: E402
from vehicle_runtime.types import EgoState, Pose2D, Route  # noqa: E402


def test_with_no_valid_plan_yet_the_policy_node_follows_the_route_as_the_embedded_runtime_does(policy_on_channel):
    """After a reset (start-up, a simulator or camera restart) the pipeline has no valid plan until the
    validator accepts one. The requests go on from the route (braking to a stop along it) while the car is on
    it, as in the embedded runtime: with none, an engagement just before the reset ended in an MRM for an
    actuator request older than 100 ms (the 60-minute rclpy soak, junction_left seed 50)."""
    from vehicle_runtime import synthetic
    from vehicle_runtime.transport import command_channel

    policy = policy_on_channel(30)
    node, server = policy.node, policy.server
    node.on_control()  # connects
    server.poll()  # accepts
    route = synthetic.curved_route()
    node.on_route(convert.route_to_path(Route(time.time(), route.points_xy_m)))
    on_route = synthetic.odometry_along(route, 2.0, 8.0).pose
    node.on_odometry(convert.ego_to_odometry(EgoState(time.time(), on_route, 8.0)))
    node.pipeline.reset()
    assert node.pipeline.latest is None
    node.on_control()
    requests = [r for r in server.poll() if r.kind is command_channel.Kind.REQUEST]
    assert len(requests) == 1 and node.pipeline.following == "route", requests
    assert requests[0].c < 0.0  # the route is followed to a stop: braking at 8 m/s
    # off the route's corridor nothing is left to follow: no request, the gate's request watchdog decides
    off = Pose2D(on_route.x_m, on_route.y_m + 20.0, on_route.yaw_rad)
    node.on_odometry(convert.ego_to_odometry(EgoState(time.time(), off, 8.0)))
    node.on_control()
    assert not [r for r in server.poll() if r.kind is command_channel.Kind.REQUEST]
    assert node.pipeline.following == "none"


def test_after_a_simulator_restart_the_old_route_is_not_planned_on_while_the_new_one_is_on_its_way(
    policy_on_channel,
):
    """A restarted simulator's odometry and frames arrive before its route (20-100 ms in the soaks): a plan
    made on the old route, still held, became the validator's reference for the new drive and the next plans
    were refused for leaving it (plan_shift) until the MRM (60-minute rclpy soak, lane_change seed 65).
    Frames wait until a route passes the ego; none is lost."""
    from vehicle_runtime import synthetic
    from vehicle_runtime.transport import command_channel

    policy = policy_on_channel(31)
    node, server = policy.node, policy.server
    node.on_control()  # connects
    server.poll()  # accepts
    frames = synthetic.frames("front", 640, 360, 200, 20.0)

    def drive(stamp_s, pose):
        node.on_odometry(convert.ego_to_odometry(EgoState(stamp_s, pose, 8.0)))
        f = next(frames)
        node.on_image(convert.frame_to_image(type(f)("front", stamp_s, "rgb8", f.data, 640, 360)), camera="front")
        return [r for r in server.poll() if r.kind is command_channel.Kind.OUTPUT]

    old = synthetic.curved_route()
    node.on_route(convert.route_to_path(Route(time.time(), old.points_xy_m)))
    t0 = time.time() - 3.0
    assert len(drive(t0, synthetic.odometry_along(old, 1.0, 8.0).pose)) == 1
    new = Route(0.0, old.points_xy_m + [0.0, 100.0])  # the next drive, 100 m away
    start = synthetic.odometry_along(new, 0.5, 8.0).pose
    assert drive(t0 + 2.0, start) == []  # its first frame: no route through the ego yet
    assert "passes the ego" in node.fusion.waiting_for and node.errors["rejected"] == 0
    node.on_route(convert.route_to_path(Route(time.time(), new.points_xy_m)))
    observed = node.fusion.observations
    outputs = drive(t0 + 2.05, synthetic.odometry_along(new, 0.55, 8.0).pose)
    assert len(outputs) == 1 and node.fusion.observations == observed + 1
    assert outputs[0].a == pytest.approx(t0 + 2.05)  # the newest frame, planned on the new route
    assert node.pipeline.latest is not None and node.pipeline.validator.last_verdict.valid


def test_a_control_loop_gap_is_reported_with_the_garbage_collection_that_filled_it(caplog):
    """The control thread is held up for 80 ms, a full collection at its end (under the node's lock, as the
    executor's callbacks take it): the gap is recorded with that collection, and the diagnostics timer logs
    both; the soak's stderr then says whether a stall was the collector or something outside Python."""
    import gc
    import logging

    from ros_nodes.vehicle_interface_node import STALL_REPORT_S, VehicleInterfaceNode
    from vehicle_runtime import realtime
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    participant, executor = DdsParticipant(), Executor()
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, executor, "gap"), cfg, bus=open_bus(BusConfig("virtual", "gap"))
    )
    realtime.watch_collections()
    try:
        with node.lock:  # the control thread's next tick waits here
            held_s = time.monotonic()
            time.sleep(0.08)  # the fault: an 80 ms hold (not a wait for anything); the waiting tick starts in it
            gc.collect(2)  # after that tick started, so inside the gap the next tick measures
        deadline = time.monotonic() + 10
        while node.stall is None and time.monotonic() < deadline:
            time.sleep(0.01)
        gap_s, where, collection = node.stall
        # tick to tick: the tick that met the hold had started up to a period into it, so the gap is shorter
        assert gap_s > STALL_REPORT_S and "MainThread" in where
        assert collection is not None and collection.generation == 2 and collection.start_s >= held_s
        with caplog.at_level(logging.WARNING):
            node.on_diagnostics()
        assert "generation-2 garbage collection" in caplog.text and "control loop gap" in caplog.text
    finally:
        node.shutdown()
        participant.close()


def test_the_fusion_node_reports_a_camera_whose_rate_is_not_the_models(caplog):
    """A model trained on 20 Hz frames fed by a 30 Hz camera driver (the stamps say so): one error log and
    `camera_rate_front` in the diagnostics; a driver restarted at 20 Hz clears it."""
    import logging

    from ros_nodes.fusion_node import FusionNode
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.frame_rate import WINDOW_FRAMES
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    participant, executor = DdsParticipant(), Executor()
    try:
        node = FusionNode(
            DdsNode("fusion", participant, executor, "rate"), load_runtime_config(), {"front": 90.0}, {"front": 20.0}
        )
        with caplog.at_level(logging.ERROR):
            for k in range(WINDOW_FRAMES + 5):
                node.on_camera_info(convert.camera_info(100.0 + k / 30.0, 1280, 720, 640.0), camera="front")
        assert node.rate_mismatch == {"front": "camera rate 30.0 Hz, model 20.0 Hz"}
        assert caplog.text.count("camera rate 30.0 Hz") == 1  # once, not per frame
        got = []
        participant.subscribe("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", got.append, "default")
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            node.on_diagnostics()
            executor.spin_once(0.05)
        values = {kv.key: kv.value for st in got[0].status for kv in st.values}
        assert values["camera_rate_front"] == "camera rate 30.0 Hz, model 20.0 Hz"
        for k in range(WINDOW_FRAMES):  # the driver restarted (stamps went back), now at 20 Hz
            node.on_camera_info(convert.camera_info(50.0 + k / 20.0, 1280, 720, 640.0), camera="front")
        assert node.rate_mismatch == {}
    finally:
        participant.close()
