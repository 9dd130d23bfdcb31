"""The closed loop: simulator → camera / route / odometry → onboard runtime (fusion, policy, tracker,
safety gate) → CAN frames on a python-can `virtual` bus → by-wire gateway → simulator.

The ego moves only because of the CAN frames the gateway accepts. Lockstep by default (10 ms steps,
deterministic for a seed); `realtime=True` paces the loop to the wall clock and measures latency.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import can
import cv2
import numpy as np

from vehicle_runtime.can import BusConfig, Codec, load_dbc, open_bus
from vehicle_runtime.config import RuntimeConfig, load_runtime_config
from vehicle_runtime.control import TrajectoryTracker
from vehicle_runtime.latency import LatencyStats
from vehicle_runtime.pipeline import Pipeline, Policy, validator_for
from vehicle_runtime.realtime import PeriodicLoop
from vehicle_runtime.runtime import OnboardRuntime
from vehicle_runtime.security import compute_end, gateway_end, security_config
from vehicle_runtime.types import CameraFrame, Observation, PolicyOutput, Route

from ..faults import PLAUSIBILITY_FAULTS, corrupt
from ..gateway import ByWireGateway, GatewayParams, VehicleMeasurement
from ..injector import FaultInjector, TamperingBus
from .cameras import CameraSet, camera_model  # noqa: F401  (camera_model: the front camera, for dds_sim and tests)
from .expert import Expert
from .metrics import DriveMetrics
from .outcome import runtime_outcome
from .scenario import load_scenario
from .sensors import brightness_at, measured_odometry
from .variation import vary
from .world import World

if TYPE_CHECKING:
    from vehicle_runtime.record.recorder import Recorder
    from vehicle_runtime.record.tap import RecordingRuntime

DT_S = 0.01
_channels = itertools.count()


@dataclass
class DriveOptions:
    scenario: str = "curvy_road"
    policy: str = "expert"  # expert | student
    seed: int = 0
    duration_s: Optional[float] = None  # default: the scenario's
    realtime: bool = False
    odometry_noise: float = 1.0  # scale of the odometry's noise (sensors.py); 0: ground truth
    brake_lamps: bool = True  # False: no vehicle's brake lamps light (broken lamps; training data)
    inject: Sequence[Tuple[str, float]] = ()
    can_log: Optional[Path] = None
    model_path: Optional[Path] = None
    camera_rig: Optional[Path] = None  # default: the config folder's camera_rig.yaml
    snapshot_every_s: float = 4.0
    progress: Optional[Callable[[float, float], None]] = None  # (sim time, duration)
    stop: Optional[Callable[[], bool]] = None  # true: end the run now, cleanly (SIGINT / SIGTERM)
    # builds the policy from the privileged expert and the config (training data collection, eval)
    policy_factory: Optional[Callable[[Expert, RuntimeConfig], "Policy"]] = None
    recorder: Optional["Recorder"] = None  # vehicle_runtime.record Recorder: the run as a rosbag2 (drive --record)


@dataclass
class DriveResult:
    scenario: str
    policy: str
    metrics: dict
    safety_state_final: str
    frames: int
    sim_time_s: float
    wall_time_s: float
    timeline: Dict[str, list]
    transitions: list
    reasoning: List[Tuple[float, str]]
    snapshots: List[Tuple[float, np.ndarray]]
    latency_ms: Dict[str, dict]
    e2e_latency_ms: List[float] = field(default_factory=list)
    deadline_misses: int = 0
    world: Optional[World] = None
    injected: Sequence[Tuple[str, float]] = ()
    route_xy_m: Optional[np.ndarray] = None  # when there is no embedded world (CARLA runs)
    outcome: dict = field(default_factory=dict)  # policy outputs, rejected frames, failure (outcome.py)
    policy_record: list = field(default_factory=list)  # (output, ego speed, validator verdict) per output
    validator_status: dict = field(default_factory=dict)


class _FaultyPolicy:
    """Puts the model-level faults between the runtime and the real policy."""

    def __init__(self, policy, injector: FaultInjector):
        self.policy, self.injector = policy, injector
        self.cameras, self.latency = policy.cameras, policy.latency

    def infer(self, obs: Observation) -> PolicyOutput:
        mode = self.injector.model_mode
        if mode == "exception":
            raise RuntimeError("onnxruntime session.run failed (injected)")
        out = self.policy.infer(obs)
        if mode == "nan":
            return replace(out, trajectory_ego_xy_m=np.full_like(out.trajectory_ego_xy_m, np.nan))
        if mode == "out_of_envelope":
            traj = out.trajectory_ego_xy_m.copy()
            traj[:, 1] += 25.0 * np.sign(math.sin(obs.stamp_s))  # a sharp swerve, far too fast
            return replace(out, trajectory_ego_xy_m=traj, speed_profile_mps=np.full(len(traj), 40.0))
        if mode in PLAUSIBILITY_FAULTS:
            return corrupt(mode, out, obs.ego.speed_mps)
        return out

    def reset(self) -> None:
        self.policy.reset()


class _ExpertPolicy:
    cameras = ("front",)

    def __init__(self, expert: Expert):
        self.expert = expert
        self.latency: Dict[str, LatencyStats] = {}

    def infer(self, obs):
        return self.expert.infer(obs)

    def reset(self):
        pass


def _close(*buses) -> None:
    for bus in buses:
        if bus is not None:
            bus.shutdown()


def run_drive(opts: DriveOptions, cfg: Optional[RuntimeConfig] = None) -> DriveResult:
    cfg = cfg or load_runtime_config()
    scenario = vary(load_scenario(opts.scenario), opts.seed)
    duration = opts.duration_s or scenario.duration_s
    world = World(scenario, cfg.vehicle)
    channel = f"drive-{id(world)}-{next(_channels)}"
    compute_bus, vehicle_bus = (open_bus(BusConfig("virtual", channel)) for _ in range(2))
    # a virtual bus copies every frame to each other bus on the channel: open the log tap and the
    # injector's own bus only when a run uses them
    tap = open_bus(BusConfig("virtual", channel)) if opts.can_log else None
    injector_bus = open_bus(BusConfig("virtual", channel)) if opts.inject else None
    codec = Codec(load_dbc(cfg.dbc_path))
    tx = TamperingBus(compute_bus)
    # SecOC on the simulated link: both ends keyed from the configured provisioning path (on a simulated
    # or bench configuration a dev key is generated there when missing); a simulated car lives one run,
    # so its trip counters stay in memory
    sec = security_config(cfg.config_dir)
    gateway = ByWireGateway(
        vehicle_bus, codec, GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05), secoc=gateway_end(sec)
    )
    injector = FaultInjector(gateway, tx, injector_bus)
    expert = Expert(world)
    try:
        if opts.policy_factory is not None:
            policy = opts.policy_factory(expert, cfg)
        elif opts.policy == "expert":
            policy = _ExpertPolicy(expert)
        else:
            policy = Pipeline.from_config(cfg, opts.model_path).policy
        # every camera the policy reads, from the rig; a model whose camera or fov the rig lacks, or a rig file
        # that is not one, is refused here
        cameras = CameraSet(
            policy.cameras,
            scenario.network,
            DT_S,
            opts.camera_rig or cfg.camera_rig_path,
            _manifest_of(policy),
            brightness=scenario.camera.get("brightness", 1.0),
            noise_std=scenario.camera.get("noise_std", 0.0),
            seed=opts.seed,
            brake_lamps=opts.brake_lamps,
        )
    except BaseException:  # refused before the first step: the buses opened above close with it
        _close(compute_bus, vehicle_bus, tap, injector_bus)
        raise
    pipeline = Pipeline(
        _FaultyPolicy(policy, injector),
        TrajectoryTracker(cfg.vehicle, cfg.tracker),
        validator_for(cfg),
        cfg.route_corridor_m,
    )
    pipeline.record = []
    runtime: Union[OnboardRuntime, RecordingRuntime] = OnboardRuntime(
        cfg,
        pipeline,
        tx,
        codec,
        safety=replace(cfg.safety, auto_engage=True),
        secoc=compute_end(sec, persist_trip=False),
    )
    if opts.recorder is not None:  # inputs, outputs and CAN frames into the bag as the runtime sees them
        from vehicle_runtime.record.tap import RecordingRuntime

        runtime = RecordingRuntime(runtime, opts.recorder)
    metrics = DriveMetrics(world.route.length_m, dt_s=DT_S)
    rng = np.random.default_rng(opts.seed)
    camera_every = cameras.policy_every
    pending = sorted(opts.inject, key=lambda x: x[1])
    timeline: Dict[str, list] = {
        k: [] for k in ("t", "x", "y", "speed", "steer", "steer_cmd", "accel", "accel_cmd", "state", "lateral")
    }
    snapshots: List[Tuple[float, np.ndarray]] = []
    e2e: List[float] = []
    frames = 0
    last_output_seen = None
    logger = can.Logger(str(opts.can_log)) if opts.can_log else None
    wall0 = time.monotonic()
    state: Dict[str, Any] = {"k": 0, "done": False, "stopped_after_end_s": 0.0}
    fired: List[Tuple[str, float]] = []  # the faults that fired, at their time

    def step(now_wall: float) -> None:
        nonlocal frames, last_output_seen
        k = state["k"]
        t = (now_wall - wall0) if opts.realtime else k * DT_S
        while pending and pending[0][1] <= t + 1e-9:
            fired.append((pending.pop(0)[0], t))
            injector.activate(fired[-1][0], t)
        stamp = t + injector.clock_offset_s
        ego = world.ego.state
        due = list(cameras.due(k))
        if due and not injector.withholds("camera"):
            bright = brightness_at(t, cameras.brightness, scenario.camera.get("brightness_change", ()))
            for name, renderer in due:
                cam = renderer.camera
                img = renderer.render(world.ego_pose, world.actor_states, bright)
                frames += name == cameras.reference
                runtime.on_camera(CameraFrame(name, stamp, "rgb8", img, cam.width, cam.height), t)
                if name == cameras.reference and (
                    not snapshots or t - snapshots[-1][0] >= opts.snapshot_every_s - 1e-9
                ):
                    snapshots.append(
                        (t, cv2.resize(img, (cam.width // 4, cam.height // 4), interpolation=cv2.INTER_AREA))
                    )
        if k % 2 == 0 and not injector.withholds("odometry"):
            runtime.on_odometry(measured_odometry(stamp, ego, rng, opts.odometry_noise), t)
        if k % 100 == 0 and injector.route_withdrawn:
            runtime.on_route(Route(stamp, np.zeros((0, 2))), t)
        elif k % 100 == 0 and not injector.withholds("route"):
            runtime.on_route(Route(stamp, world.route.points_xy_m), t)
        if k % camera_every == 0 and injector.model_mode != "hang":
            runtime.step_policy(t)
        status = runtime.tick(t, DT_S) if injector.control_runs(t) else None
        if opts.realtime and runtime.last_output is not None and runtime.last_output is not last_output_seen and status:
            e2e.append((time.monotonic() - wall0 - (runtime.last_output.stamp_s - injector.clock_offset_s)) * 1e3)
            last_output_seen = runtime.last_output
        act = gateway.step(t, VehicleMeasurement(ego.speed_mps, ego.accel_mps2, ego.yaw_rate_radps, ego.steer_rad))
        world.step(DT_S, act.steer_rad, act.accel_mps2)
        _drain(tap, logger, t if not opts.realtime else None)
        s_centre, lateral = world.route_position()
        lead = world.lead(s_centre)
        hits = [(a.id, a.kind) for a in world.colliding_with()]
        corners = world.ego_corners()
        off_road = not bool(world.scenario.network.on_road(corners).all())
        half_lane = world.scenario.network.lanes[world.route.lane_at(s_centre)].width_m / 2
        invading = abs(lateral) + cfg.vehicle.width_m / 2 > half_lane + 0.2 and not _in_lane_change(world, s_centre)
        metrics.update(
            s_centre, lateral, hits, off_road, invading, lead.gap_m if lead else None, world.ego.state.accel_mps2
        )
        if k % 10 == 0:
            _record(timeline, t, world, act, runtime, lateral)
        if opts.progress and k % 50 == 0:
            opts.progress(t, duration)
        state["k"] = k + 1
        # the run ends at the duration, or once the route is done and the car has stopped
        if metrics.completed and world.ego.state.speed_mps < 0.05:
            state["stopped_after_end_s"] += DT_S
        state["done"] = t >= duration - 1e-9 or state["stopped_after_end_s"] >= 1.0

    def finished() -> bool:
        return state["done"] or bool(opts.stop and opts.stop())

    loop = PeriodicLoop(DT_S)
    if opts.realtime:
        loop.run(step, until=finished)
    else:
        while not finished():
            step(wall0)
    wall = time.monotonic() - wall0
    runtime.shutdown(state["k"] * DT_S)
    _drain(tap, logger, state["k"] * DT_S if not opts.realtime else None)
    if logger:
        logger.stop()
    _close(compute_bus, vehicle_bus, tap, injector_bus)
    lat = {k: v.summary() for k, v in pipeline.latency.items() if v.count}
    return DriveResult(
        scenario=scenario.name,
        policy=opts.policy,
        metrics=metrics.summary(),
        safety_state_final=runtime.gate.sm.state.name,
        frames=frames,
        sim_time_s=state["k"] * DT_S,
        wall_time_s=wall,
        timeline=timeline,
        transitions=list(runtime.gate.sm.transitions),
        reasoning=list(runtime.events.reasoning),
        snapshots=snapshots,
        latency_ms=lat,
        e2e_latency_ms=e2e,
        deadline_misses=loop.deadline_misses,
        world=world,
        injected=tuple(fired),
        outcome=runtime_outcome(runtime, bool(opts.inject)),
        policy_record=pipeline.record,
        validator_status=pipeline.validator.status.as_dict() if pipeline.validator else {},
    )


def _manifest_of(policy):
    """The student's manifest when the policy is (or wraps) a student, else None."""
    while policy is not None:
        student = getattr(policy, "student", None)
        if student is not None:
            return student.manifest
        policy = getattr(policy, "policy", None)
    return None


def _drain(tap, logger, t: Optional[float]) -> None:
    while tap is not None and (msg := tap.recv(timeout=0.0)) is not None:
        if logger is not None:
            if t is not None:
                msg.timestamp = t
            msg.channel = 0  # one bus; the in-process channel name changes from run to run
            logger.on_message_received(msg)


def _in_lane_change(world: World, s_m: float) -> bool:
    r = world.route
    i = int(np.clip(np.searchsorted(r.s_m, s_m), 0, len(r.s_m) - 1))
    lo, hi = max(0, i - 12), min(len(r.s_m), i + 12)
    return bool(r.lane_change[lo:hi].any())


def _record(tl, t, world, act, runtime, lateral) -> None:
    s = world.ego.state
    cmd = runtime.vi.last_status.command if runtime.vi.last_status else None
    append_row(
        tl,
        t=t,
        x=s.x_m,
        y=s.y_m,
        speed=s.speed_mps,
        steer=s.steer_rad,
        steer_cmd=act.steer_rad,
        accel=s.accel_mps2,
        accel_cmd=cmd.accel_mps2 if cmd else 0.0,
        state=runtime.gate.sm.state.name,
        lateral=lateral,
    )


def append_row(timeline: Dict[str, list], **row) -> None:
    """One sample of every signal the report plots (the same keys for every simulator)."""
    for key, value in row.items():
        timeline[key].append(value)
