"""A run against a CARLA server: connect, load the town, synchronous mode, spawn the ego with its
sensors, plan the route, tick, and clean up on every exit path (errors and Ctrl-C included).

Lockstep (`drive --sim carla`): each 50 ms CARLA tick is followed by five 10 ms control periods of the
in-process runtime and the gateway on simulation time. Real time (`carla-bridge`, HIL): the gateway
steps every 10 ms of wall time and CARLA ticks every fifth step, while the box runs on its own clock.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional

import numpy as np

from vehicle_runtime.camera_rig import CameraSpec, load_camera_rig
from vehicle_runtime.can import BusConfig, Codec, open_bus
from vehicle_runtime.config import ConfigError, RuntimeConfig, load_runtime_config
from vehicle_runtime.realtime import PeriodicLoop

from ..embedded.drive import DriveResult
from ..gateway import ByWireGateway, GatewayParams
from . import convert
from .bridge import BridgeCore, TickInput, collision_kind
from .connection import CarlaUnavailable, connect, import_carla, load_town
from .control import ControlMapper, max_steer_rad
from .params import BridgeParams
from .route import TopologyPlanner
from .sensor_sync import SensorSync
from .sync import SynchronousMode

log = logging.getLogger(__name__)
CONTROL_DT_S = 0.01
DEG_PER_M = 1.0 / 111_111.0  # latitude degrees per metre (GNSS noise attributes are in degrees)
_channels = itertools.count()


class _Events:
    """Collision / lane-invasion callbacks (client threads) → per-tick lists, taken by frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: List[tuple] = []

    def add(self, item) -> None:
        with self._lock:
            self._items.append(item)

    def take(self, frame: int) -> list:
        with self._lock:
            now = [x for x in self._items if x[0] <= frame]
            self._items = [x for x in self._items if x[0] > frame]
        return now


@dataclass
class Spawned:
    ego: Any  # a carla.Vehicle (the client library has no type information)
    sensors: list
    sync: SensorSync
    collisions: _Events
    invasions: _Events


def camera_sensor_name(camera: str) -> str:
    return f"camera:{camera}"


def spawn_ego(carla, world, params: BridgeParams, cfg: RuntimeConfig, cameras: Mapping[str, CameraSpec]) -> Spawned:
    """The ego with one rgb sensor per camera (the model's, sized and mounted as in the rig), IMU, GNSS,
    collision and lane-invasion sensors."""
    library = world.get_blueprint_library()
    points = world.get_map().get_spawn_points()
    for name in ("spawn_index", "goal_index"):
        if getattr(params, name) >= len(points):
            raise ConfigError(
                f"carla_hil.param.yaml: {name} {getattr(params, name)} is out of range "
                f"(map '{world.get_map().name}' has {len(points)} spawn points)"
            )
    try:
        bp = library.find(params.vehicle_blueprint)
    except (IndexError, RuntimeError):
        raise ConfigError(f"carla_hil.param.yaml: no vehicle blueprint '{params.vehicle_blueprint}'") from None
    bp.set_attribute("role_name", "hero")
    ego = world.try_spawn_actor(bp, points[params.spawn_index])
    if ego is None:
        raise CarlaUnavailable(f"spawn point {params.spawn_index} is occupied; choose another spawn_index")
    sensors: list = []
    sync = SensorSync((*map(camera_sensor_name, cameras), "imu", "gnss"))
    collisions, invasions = _Events(), _Events()
    try:
        rear = cfg.vehicle.wheelbase_m / 2.0  # the transform is the vehicle's centre; the runtime's is the rear axle
        mounted = []
        for name, spec in cameras.items():
            cam = library.find("sensor.camera.rgb")
            attrs, (x, y, z), (pitch, yaw) = convert.camera_sensor(spec, rear)
            for key, value in attrs.items():
                cam.set_attribute(key, value)
            mounted.append(
                (
                    camera_sensor_name(name),
                    cam,
                    carla.Transform(carla.Location(x=x, y=y, z=z), carla.Rotation(pitch=pitch, yaw=yaw)),
                )
            )
        imu = library.find("sensor.other.imu")
        for axis in "xyz":
            imu.set_attribute(f"noise_accel_stddev_{axis}", str(params.imu_noise_accel_std_mps2))
            imu.set_attribute(f"noise_gyro_stddev_{axis}", str(params.imu_noise_gyro_std_radps))
        gnss = library.find("sensor.other.gnss")
        gnss.set_attribute("noise_lat_stddev", str(params.gnss_noise_std_m * DEG_PER_M))
        gnss.set_attribute("noise_lon_stddev", str(params.gnss_noise_std_m * DEG_PER_M))
        centre = carla.Transform()
        for name, blueprint, where in (*mounted, ("imu", imu, centre), ("gnss", gnss, centre)):
            actor = world.spawn_actor(blueprint, where, attach_to=ego)
            sensors.append(actor)
            actor.listen(sync.listener(name))
        for blueprint, events, item in (
            (
                "sensor.other.collision",
                collisions,
                lambda e: (e.frame, (e.other_actor.id, collision_kind(e.other_actor.type_id))),
            ),
            ("sensor.other.lane_invasion", invasions, lambda e: (e.frame, True)),
        ):
            actor = world.spawn_actor(library.find(blueprint), centre, attach_to=ego)
            sensors.append(actor)
            actor.listen(lambda e, events=events, item=item: events.add(item(e)))
    except Exception:
        destroy([*sensors, ego])
        raise
    return Spawned(ego, sensors, sync, collisions, invasions)


def destroy(actors) -> None:
    for a in actors:
        try:
            if hasattr(a, "stop") and a.type_id.startswith("sensor."):
                a.stop()
            a.destroy()
        except RuntimeError as exc:  # the server went away
            log.warning("could not destroy %s: %s", a, exc)


def run_carla(
    params: BridgeParams,
    make_sink: Callable,
    policy: str,
    realtime: bool = False,
    cfg: Optional[RuntimeConfig] = None,
    cameras: Optional[Mapping[str, CameraSpec]] = None,
    gateway_bus: Optional[BusConfig] = None,
    progress: Optional[Callable[[float, float], None]] = None,
) -> DriveResult:
    """One run; `make_sink(cfg, compute_bus_config, params, cameras)` builds where the runtime's inputs go.
    `cameras`: name → rig camera, the model's first camera first (default: the rig's front camera)."""
    carla = import_carla()
    cfg = cfg or load_runtime_config()
    client, world = connect(params.endpoint)
    world = load_town(client, world, params.town)
    carla_map = world.get_map()
    bus_cfg = gateway_bus or BusConfig("virtual", f"carla-{next(_channels)}")
    vehicle_bus = open_bus(bus_cfg)
    cameras = dict(cameras) if cameras else {"front": load_camera_rig(cfg.camera_rig_path)["front"]}
    sink = make_sink(cfg, bus_cfg, params, cameras)
    wall0 = time.monotonic()
    spawned: Optional[Spawned] = None
    sim_s = 0.0
    try:
        with SynchronousMode(world, client.get_trafficmanager(), params.fixed_delta_s, params.take_over) as sync:
            spawned = spawn_ego(carla, world, params, cfg, cameras)
            points = carla_map.get_spawn_points()
            route = TopologyPlanner(carla_map).plan(
                points[params.spawn_index].location, points[params.goal_index].location
            )
            mapper = ControlMapper(
                max_steer_rad(spawned.ego.get_physics_control()), params.calibration, params.steer_lag_s
            )
            from vehicle_runtime.security import gateway_end, security_config

            gateway = ByWireGateway(
                vehicle_bus,
                Codec(),
                GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05, rate_from_arrival=realtime),
                secoc=gateway_end(security_config(cfg.config_dir)),
            )  # keyed as the box is
            core = BridgeCore(
                sink,
                gateway,
                mapper,
                route.points_xy_m,
                cfg.vehicle.wheelbase_m / 2.0,
                spawned.ego.bounding_box.extent.x,
                camera=next(iter(cameras)),
            )
            sim_s = _loop(carla, world, carla_map, sync, spawned, core, params, realtime, progress, cameras)
    finally:
        if spawned is not None:
            destroy([*spawned.sensors, spawned.ego])
        sink.shutdown(time.monotonic() if realtime else sim_s + CONTROL_DT_S)  # MRM / disengage frames
        vehicle_bus.shutdown()
    return core.result(f"carla-{carla_map.name.split('/')[-1]}", policy, sim_s, wall0)


def _tick_input(
    carla, world, carla_map, frame: int, t_s: float, spawned: Spawned, data: dict, cameras: Mapping[str, CameraSpec]
) -> TickInput:
    ego = spawned.ego
    transform, velocity = ego.get_transform(), ego.get_velocity()
    others = [a for a in world.get_actors().filter("vehicle.*") if a.id != ego.id]
    steer_deg = ego.get_wheel_steer_angle(carla.VehicleWheelLocation.FL_Wheel)
    on_road = carla_map.get_waypoint(transform.location, project_to_road=False, lane_type=carla.LaneType.Driving)
    return TickInput(
        frame=frame,
        t_s=t_s,
        image=None,
        images={c: data[camera_sensor_name(c)] for c in cameras},
        transform=transform,
        velocity=velocity,
        imu=convert.imu_reading(data["imu"]),
        steer_rad=-math.radians(steer_deg),
        collisions=[c for _, c in spawned.collisions.take(frame)],
        lane_invasion=bool(spawned.invasions.take(frame)),
        off_road=on_road is None,
        others_xy_m=np.array([convert.location_to_xy(a.get_location()) for a in others]).reshape(-1, 2),
        others_half_length_m=np.array([a.bounding_box.extent.x for a in others]),
    )


def _loop(
    carla,
    world,
    carla_map,
    sync: SynchronousMode,
    spawned: Spawned,
    core: BridgeCore,
    params: BridgeParams,
    realtime: bool,
    progress,
    cameras: Mapping[str, CameraSpec],
) -> float:
    n = params.substeps
    state = {"k": 0, "t0": None, "t": 0.0, "done": False, "control": carla.VehicleControl(brake=1.0)}

    def world_tick(now_s: Optional[float]) -> None:
        """Apply the last control, tick, sense; `now_s` None: the runtime runs on simulation time."""
        spawned.ego.apply_control(state["control"])
        frame = sync.tick()
        data = spawned.sync.collect(frame)
        elapsed = world.get_snapshot().timestamp.elapsed_seconds
        state["t0"] = elapsed if state["t0"] is None else state["t0"]
        state["t"] = elapsed - state["t0"]
        # lockstep: everything on simulation time; real time: the gateway on the monotonic clock, the
        # messages stamped with wall-clock time as ROS stamps are (the box compares them with its own)
        stamp_s = state["t"] if now_s is None else time.time()
        now_s = state["t"] if now_s is None else now_s
        core.sense(_tick_input(carla, world, carla_map, frame, state["t"], spawned, data, cameras), now_s, stamp_s)
        gnss = data["gnss"]
        if hasattr(core.sink, "on_gnss"):
            core.sink.on_gnss(stamp_s, gnss.latitude, gnss.longitude, gnss.altitude, params.gnss_noise_std_m)
        if progress:
            progress(state["t"], params.duration_s)

    if realtime:

        def step(now_s: float) -> None:
            if state["k"] % n == 0:
                world_tick(now_s)
                state["done"] = core.done(state["t"], params.duration_s, params.fixed_delta_s)
            state["control"] = core.actuate(now_s, CONTROL_DT_S)
            state["k"] += 1

        PeriodicLoop(CONTROL_DT_S, spin_s=0.0).run(step, until=lambda: state["done"])
    else:
        while not state["done"]:
            world_tick(None)
            for i in range(n):
                state["control"] = core.actuate(state["t"] + i * CONTROL_DT_S, CONTROL_DT_S)
            state["done"] = core.done(state["t"], params.duration_s, params.fixed_delta_s)
    return state["t"]
