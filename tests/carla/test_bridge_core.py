"""The bridge's per-tick work without a server, with real parts: the shipped student in the in-process
runtime, a python-can virtual bus, the by-wire gateway, and the real `carla` types in and out. The
camera image is the embedded simulator's render of curvy_road, delivered as CARLA delivers it (BGRA)."""

import math

import numpy as np
import pytest

carla = pytest.importorskip("carla", reason="the CARLA client wheel (carla==0.9.16) is not installed")

from sim_bridge.carla.bridge import BridgeCore, RouteProgress, TickInput, collision_kind  # noqa: E402
from sim_bridge.carla.control import ControlMapper  # noqa: E402
from sim_bridge.carla.convert import ImuReading  # noqa: E402
from sim_bridge.carla.sinks import InProcessRuntime  # noqa: E402
from sim_bridge.embedded.drive import camera_model  # noqa: E402
from sim_bridge.embedded.renderer import Renderer  # noqa: E402
from sim_bridge.embedded.report import write_report  # noqa: E402
from sim_bridge.embedded.scenario import load_scenario  # noqa: E402
from sim_bridge.embedded.world import World  # noqa: E402
from sim_bridge.gateway import ByWireGateway, GatewayParams  # noqa: E402
from vehicle_runtime.can import BusConfig, Codec, open_bus  # noqa: E402
from vehicle_runtime.config import load_runtime_config  # noqa: E402

DT = 0.05


class BgraImage:
    """What a carla.Image offers the bridge (it has no public constructor)."""

    def __init__(self, rgb: np.ndarray):
        self.height, self.width = rgb.shape[:2]
        bgra = np.concatenate((rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)), axis=2)
        self.raw_data = memoryview(np.ascontiguousarray(bgra).tobytes())


@pytest.fixture
def rig(request):
    cfg = load_runtime_config()
    world = World(load_scenario("curvy_road"), cfg.vehicle)
    cam = camera_model()
    image = BgraImage(Renderer(cam, world.scenario.network).render(world.ego_pose, world.actor_states))
    channel = f"carla-core-{request.node.name}"
    compute, vehicle = open_bus(BusConfig("virtual", channel)), open_bus(BusConfig("virtual", channel))
    sink = InProcessRuntime(cfg, compute)
    from vehicle_runtime.security import gateway_end, security_config

    gateway = ByWireGateway(
        vehicle,
        Codec(),
        GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05),
        secoc=gateway_end(security_config(cfg.config_dir)),
    )  # the sink's runtime signs its frames
    rear = cfg.vehicle.wheelbase_m / 2
    core = BridgeCore(
        sink,
        gateway,
        ControlMapper(math.radians(70.0), steer_lag_s=0.1),
        world.route.points_xy_m,
        rear,
        cfg.vehicle.length_m / 2,
    )
    pose = world.ego_pose  # rear axle, REP 103 → the CARLA transform of the vehicle's centre
    centre = carla.Location(x=pose.x_m + rear * math.cos(pose.yaw_rad), y=-(pose.y_m + rear * math.sin(pose.yaw_rad)))
    transform = carla.Transform(centre, carla.Rotation(yaw=-math.degrees(pose.yaw_rad)))
    yield cfg, core, sink, transform, image
    for bus in (compute, vehicle):
        bus.shutdown()


def tick(frame, t, transform, image, **kw):
    return TickInput(
        frame=frame,
        t_s=t,
        image=image,
        transform=transform,
        velocity=carla.Vector3D(0, 0, 0),
        imu=ImuReading(0.0, 0.0, 0.0),
        steer_rad=0.0,
        **kw,
    )


def run_ticks(core, transform, image, start, count, sense=True):
    controls = []
    for k in range(start, start + count):
        t = k * DT
        if sense:
            core.sense(tick(k, t, transform, image), t)
        for i in range(5):
            controls.append((t + i * 0.01, core.actuate(t + i * 0.01, 0.01)))
    return controls


def test_the_student_engages_and_its_commands_reach_carla_control(rig):
    cfg, core, sink, transform, image = rig
    controls = run_ticks(core, transform, image, 0, 40)
    assert sink.safety_state == "ENGAGED"
    assert core.last_actuation.mode == "command"  # the gateway accepts the runtime's CAN frames
    last = controls[-1][1]
    assert isinstance(last, carla.VehicleControl)
    assert last.throttle > 0.0 and last.brake == 0.0  # standing at the start of the route: it drives off
    assert -1.0 <= last.steer <= 1.0
    assert sink.reasoning and sink.latency_ms


def test_stalled_sensors_end_in_braking_within_the_watchdog_timeout(rig):
    cfg, core, sink, transform, image = rig
    run_ticks(core, transform, image, 0, 40)
    assert sink.safety_state == "ENGAGED"
    stall_t = 40 * DT  # CARLA stops delivering: no more sense(), control keeps running
    controls = run_ticks(core, transform, image, 40, 20, sense=False)
    mrm = [tr.stamp_s for tr in sink.transitions if tr.after.name == "MRM"]
    assert mrm, "the runtime did not start a minimum risk manoeuvre"
    # the odometry watchdog (0.1 s) expires first; the gate sees it on its next control period
    assert mrm[0] - stall_t <= cfg.safety.timeouts_s["odometry"] + 0.02
    after = [(t, c) for t, c in controls if t > mrm[0] + 0.02]  # frames on the bus one period later
    throttles = [c.throttle for _, c in after]
    assert all(b <= a + 1e-6 for a, b in zip(throttles, throttles[1:]))  # the throttle only goes down
    braking = [t for t, c in after if c.brake > 0.0 and c.throttle == 0.0]
    assert braking, "no brake after the sensors stalled"
    # jerk-limited MRM: the positive acceleration is released, then the deceleration builds up past the
    # calibration's coasting band
    m = cfg.safety.mrm
    accel_at_stall = max(0.0, core.timeline["accel_cmd"][-1])
    expected_s = accel_at_stall / m.release_jerk_mps3 + 0.3 / m.jerk_mps3
    assert braking[0] - mrm[0] <= expected_s + 0.05
    assert sink.safety_state in ("MRM", "STOPPED")


def test_metrics_count_a_contact_once_and_measure_the_gap(rig):
    cfg, core, sink, transform, image = rig
    route = core.route
    ahead = route.xy[np.searchsorted(route.s, 30.0)]
    for k in range(3):
        core.sense(
            tick(
                k,
                k * DT,
                transform,
                image,
                collisions=[(42, collision_kind("vehicle.tesla.model3"))],
                lane_invasion=True,
                others_xy_m=np.array([ahead]),
                others_half_length_m=np.array([2.0]),
            ),
            k * DT,
        )
    m = core.metrics.summary()
    assert m["collisions_vehicle"] == 1 and m["infraction_penalty"] == pytest.approx(0.6)
    assert m["lane_invasions"] == 1
    s0, _ = route.locate((transform.location.x, -transform.location.y))
    assert m["min_gap_m"] == pytest.approx(30.0 - s0 - cfg.vehicle.length_m / 2 - 2.0, abs=0.3)
    assert collision_kind("walker.pedestrian.0001") == "pedestrian" and collision_kind("static.prop.cone") == "static"


def test_route_progress_follows_a_route_that_crosses_itself():
    t = np.linspace(0, 2 * np.pi, 400)
    figure_eight = np.stack((40 * np.sin(t), 20 * np.sin(2 * t)), axis=1)  # crosses at the origin twice
    p = RouteProgress(figure_eight)
    along = [p.locate(xy)[0] for xy in figure_eight[::10]]
    assert all(b > a for a, b in zip(along, along[1:]))  # never jumps to the other branch at the crossing


def test_a_carla_run_gets_the_same_report(rig, tmp_path):
    cfg, core, sink, transform, image = rig
    run_ticks(core, transform, image, 0, 10)
    result = core.result("carla-Town01", "student", 0.5, 0.0)
    assert result.world is None and result.route_xy_m is not None
    report = write_report(result, tmp_path, {"scenario": result.scenario})
    assert "carla-Town01" in report.read_text() and (tmp_path / "summary.json").is_file()


def test_camera_sensor_mounting_in_carla_axes():
    from sim_bridge.carla.convert import camera_sensor
    from vehicle_runtime.camera_rig import load_camera_rig

    rig = load_camera_rig()
    attrs, location, rotation = camera_sensor(rig["front"], 1.4)
    assert attrs == {"image_size_x": "1280", "image_size_y": "720", "fov": "90.0"}
    assert location == pytest.approx((0.2, 0.0, 1.4)) and rotation == (-2.0, -0.0)  # CARLA pitch is positive up
    attrs, location, rotation = camera_sensor(rig["rear"], 1.4)
    assert attrs["fov"] == "120.0" and location == pytest.approx((-2.4, -0.0, 1.0))
    assert rotation == (-10.0, -180.0)  # looking back; CARLA's yaw turns clockwise


def test_two_camera_model_gets_a_frame_per_camera_and_engages(request, tmp_path):
    """The doc's two-camera student in the in-process runtime: both cameras' CARLA images become frames."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import doc_example
    from sim_bridge.embedded.cameras import CameraSet
    from vehicle_runtime.pipeline import Pipeline

    cfg = load_runtime_config()
    world = World(load_scenario("curvy_road"), cfg.vehicle)
    folder = doc_example.load().build(tmp_path / "m", "logits", "float16")
    cameras = CameraSet(["front", "front_narrow"], world.scenario.network, 0.01)
    images = {n: BgraImage(r.render(world.ego_pose, world.actor_states)) for n, r in cameras.renderers.items()}
    channel = f"carla-core-{request.node.name}"
    compute, vehicle = open_bus(BusConfig("virtual", channel)), open_bus(BusConfig("virtual", channel))
    sink = InProcessRuntime(cfg, compute, pipeline=Pipeline.from_config(cfg, folder))
    from vehicle_runtime.security import gateway_end, security_config

    gateway = ByWireGateway(
        vehicle,
        Codec(),
        GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05),
        secoc=gateway_end(security_config(cfg.config_dir)),
    )  # the sink's runtime signs its frames
    rear = cfg.vehicle.wheelbase_m / 2
    core = BridgeCore(
        sink,
        gateway,
        ControlMapper(math.radians(70.0), steer_lag_s=0.1),
        world.route.points_xy_m,
        rear,
        cfg.vehicle.length_m / 2,
        camera="front",
    )
    pose = world.ego_pose
    centre = carla.Location(x=pose.x_m + rear * math.cos(pose.yaw_rad), y=-(pose.y_m + rear * math.sin(pose.yaw_rad)))
    transform = carla.Transform(centre, carla.Rotation(yaw=-math.degrees(pose.yaw_rad)))
    try:
        for k in range(30):
            t = k * DT
            core.sense(tick(k, t, transform, None, images=images), t)
            for i in range(5):
                core.actuate(t + i * 0.01, 0.01)
        assert sink.runtime.fusion.rejected == {} and sink.runtime.events.policy_outputs == 30
        assert sink.safety_state == "ENGAGED" and core.frames == 30
    finally:
        for bus in (compute, vehicle):
            bus.shutdown()
