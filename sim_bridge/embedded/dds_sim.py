"""The embedded simulator as a separate process on the ROS 2 topics (Cyclone DDS) and a real CAN
bus: it publishes camera/image_raw + camera_info, navigation/route and navigation/odometry in real
time and moves the car only through the by-wire gateway on the CAN bus.

    vehicle-runtime sim [--scenario NAME] [--can-interface udp_multicast --can-channel default] [--json]

SIGINT / SIGTERM end the run cleanly: the bus and DDS are closed and the summary so far is printed,
exit status 130 / 143.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, List

import numpy as np

from vehicle_runtime import cli_types as T
from vehicle_runtime.can import SUPPORTED_INTERFACES, BusConfig, Codec, open_bus
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.realtime import PeriodicLoop
from vehicle_runtime.types import CameraFrame, Route

from ..gateway import ByWireGateway, GatewayParams, VehicleMeasurement
from .cameras import CameraSet, render_all
from .cli import scenario_arg
from .drive import DT_S
from .metrics import DriveMetrics
from .scenario import DEFAULT_SCENARIO, available, load_scenario
from .sensors import brightness_at, enu_to_geodetic, measured_odometry
from .variation import vary
from .world import World


def add_parser(sub) -> None:
    p = sub.add_parser("sim", help="run the embedded simulator on ROS 2 topics (DDS) and a CAN bus")
    p.add_argument(
        "--scenario",
        type=scenario_arg,
        default=DEFAULT_SCENARIO,
        help=f"one of {', '.join(available())}, or a YAML path",
    )
    p.add_argument("--duration", type=T.seconds, help="seconds, > 0 (default: the scenario's)")
    p.add_argument("--can-interface", type=T.choice_of(SUPPORTED_INTERFACES, "CAN interface"), default="udp_multicast")
    p.add_argument("--can-channel", type=T.non_empty, default="default")
    p.add_argument("--namespace", type=T.ros_namespace, default="")
    p.add_argument("--seed", type=T.seed, default=0, help=f"0..{T.MAX_SEED}")
    p.add_argument(
        "--camera-size",
        type=T.size_wxh,
        metavar="WxH",
        help="render the first camera at this size "
        "instead of the rig's, the others scaled alike (same fields of view), e.g. 640x360 on a small machine",
    )
    p.add_argument(
        "--model",
        type=T.file_or_dir,
        help="render the cameras this model lists (default: "
        "policy.param.yaml's model): the first on camera/image_raw, others on camera/<name>/image_raw",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    args.stop.polled = True  # a signal ends the loop; the summary so far is printed
    try:
        summary = simulate(
            args.scenario,
            args.duration,
            BusConfig(args.can_interface, args.can_channel),
            args.namespace,
            args.seed,
            args.camera_size,
            stop=args.stop,
            on_start=_started,
            model=args.model,
        )
    finally:
        args.stop.polled = False
    if args.stop:
        summary["interrupted"] = {"signal": args.stop.name, "at_s": round(summary["wall_time_s"], 3)}
    for k, v in summary.items():
        print(f"  {k:<20} {v}")
    if args.stop:
        print(
            f"sim: interrupted ({args.stop.name}) at {summary['wall_time_s']:.1f} s; partial summary above",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(summary))
    return args.stop.exit_code if args.stop else 0


def _started(camera_topic: str, duration_s: float) -> None:
    print(
        f"sim: running for {duration_s:g} s, camera on {camera_topic} (Ctrl-C ends it cleanly)",
        file=sys.stderr,
        flush=True,
    )


def simulate(
    scenario_name: str,
    duration_s,
    bus_config: BusConfig,
    namespace: str = "",
    seed: int = 0,
    camera_size=None,
    stop=None,
    on_start=None,
    model=None,
) -> dict:
    from vehicle_runtime.transport import convert  # the sim speaks the same messages as the nodes
    from vehicle_runtime.transport.dds import DdsParticipant, Restamped

    cfg = load_runtime_config()
    scenario = vary(load_scenario(scenario_name), seed)
    duration = duration_s or scenario.duration_s
    world = World(scenario, cfg.vehicle)
    from vehicle_runtime.student import load_manifest

    manifest = load_manifest(model or cfg.model_path)
    # the scenario's exposure and sensor noise (seed-varied), as the embedded drive renders them; camera_size
    # (w, h) or 'WxH': the first camera at this size, the others scaled alike
    cameras = CameraSet(
        [c.camera for c in manifest.cameras],
        scenario.network,
        DT_S,
        cfg.camera_rig_path,
        manifest=manifest,
        brightness=scenario.camera.get("brightness", 1.0),
        noise_std=scenario.camera.get("noise_std", 0.0),
        seed=seed,
        reference_size=T.size_wxh(camera_size) if isinstance(camera_size, str) and camera_size else camera_size or None,
    )
    bus = open_bus(bus_config)
    from vehicle_runtime.security import gateway_end, security_config

    gateway = ByWireGateway(
        bus,
        Codec(),
        GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05, rate_from_arrival=True),
        secoc=gateway_end(security_config(cfg.config_dir)),
    )  # keyed as the compute box is
    dds = DdsParticipant()
    ns = (namespace.strip("/") + "/") if namespace.strip("/") else ""
    pubs = {
        name: (
            dds.publisher("sensor_msgs/msg/Image", ns + image, "sensor"),
            dds.publisher("sensor_msgs/msg/CameraInfo", ns + info, "sensor"),
        )
        for name, (image, info) in convert.camera_topics(cameras.models).items()
    }
    pub_route = dds.publisher("nav_msgs/msg/Path", ns + "navigation/route", "latched")
    pub_odom = dds.publisher("nav_msgs/msg/Odometry", ns + "navigation/odometry", "sensor")
    pub_gnss = dds.publisher("sensor_msgs/msg/NavSatFix", ns + "navigation/gnss", "sensor")
    route = Restamped(pub_route, convert.route_to_path(Route(time.time(), world.route.points_xy_m)))
    metrics = DriveMetrics(world.route.length_m, dt_s=DT_S)
    rng = np.random.default_rng(seed)
    state: Dict[str, Any] = {"k": 0, "done": False, "stopped": 0.0, "engaged_s": None, "frames": 0, "mode": None}
    events: List[tuple] = []  # gateway mode changes: (time s, mode, faults)
    t0 = time.monotonic()

    def step(now_mono: float) -> None:
        k = state["k"]
        wall = time.time()
        ego = world.ego.state
        brightness = brightness_at(now_mono - t0, cameras.brightness, scenario.camera.get("brightness_change", ()))
        for name, cam, img in render_all(cameras, k, world.ego_pose, world.actor_states, brightness):
            pub_img, pub_info = pubs[name]
            pub_img.publish(convert.frame_to_image(CameraFrame(name, wall, "rgb8", img, cam.width, cam.height), name))
            pub_info.publish(convert.camera_info(wall, cam.width, cam.height, cam.fx, name))
            state["frames"] += name == cameras.reference
        if k % 2 == 0:
            pub_odom.publish(convert.ego_to_odometry(measured_odometry(wall, ego, rng)))
        if k % 10 == 0:  # GNSS at 10 Hz, 0.5 m noise
            lat, lon, alt = enu_to_geodetic(ego.x_m + rng.normal(0, 0.5), ego.y_m + rng.normal(0, 0.5))
            pub_gnss.publish(convert.gnss(wall, lat, lon, alt, 0.25))
        if k % 100 == 0:
            route.publish(wall)
        act = gateway.step(
            now_mono, VehicleMeasurement(ego.speed_mps, ego.accel_mps2, ego.yaw_rate_radps, ego.steer_rad)
        )
        if act.mode != state["mode"]:
            state["mode"] = act.mode
            faults = [k for k, v in vars(gateway.faults).items() if v]
            events.append((round(now_mono - t0, 3), act.mode, faults, dict(gateway.rejected)))
        if act.mode == "command" and state["engaged_s"] is None:
            state["engaged_s"] = now_mono - t0
        world.step(DT_S, act.steer_rad, act.accel_mps2)
        s, lateral = world.route_position()
        lead = world.lead(s)
        metrics.update(
            s,
            lateral,
            [(a.id, a.kind) for a in world.colliding_with()],
            not bool(scenario.network.on_road(world.ego_corners()).all()),
            False,
            lead.gap_m if lead else None,
            world.ego.state.accel_mps2,
        )
        state["k"] = k + 1
        if metrics.completed and world.ego.state.speed_mps < 0.05:
            state["stopped"] += DT_S
        state["done"] = (now_mono - t0) >= duration or state["stopped"] >= 1.0

    loop = PeriodicLoop(DT_S, spin_s=0.0)  # the simulator sleeps: its CPU belongs to the nodes under test
    if on_start:
        on_start(f"{ns}camera/image_raw", duration)
    try:
        loop.run(step, until=lambda: state["done"] or bool(stop and stop()))
    finally:
        ran_s = time.monotonic() - t0  # the last step: every input stops here
        bus.shutdown()
        dds.close()
    summary = metrics.summary()
    return {
        "scenario": scenario.name,
        "driving_score": summary["driving_score"],
        "route_completion": summary["route_completion"],
        "collisions": summary["collisions"],
        "min_gap_m": summary["min_gap_m"],  # to the lead (None: no lead): how near a miss was
        "off_road_events": summary["off_road_events"],
        "lateral_rms_m": summary["lateral_rms_m"],
        "frames": state["frames"],
        "engaged_after_s": state["engaged_s"],
        "gateway_rejected": dict(gateway.rejected),
        "gateway_events": events[:20],
        "wall_time_s": time.monotonic() - t0,
        "ran_s": ran_s,
        # when the inputs stopped, on the host's monotonic clock (one clock for every process on the box): a
        # caller in another process tells an MRM in the run from the one the silence after it causes
        "inputs_stopped_monotonic_s": t0 + ran_s,
        "deadline_misses": loop.deadline_misses,
        # its longest late start: a simulator held up for 100 ms sends no CAN feedback for as long, and the box
        # then rightly reports the feedback lost (FAULT) - the vehicle's stall, not the box's
        "max_late_ms": round(float(loop.jitter.values_s().max(initial=0.0)) * 1e3, 1),
    }
