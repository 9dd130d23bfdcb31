"""Vehicle interface node: safety gate + CAN sender / feedback receiver + decoded vehicle status.

The camera watchdog reads camera_info (header only) of every camera the model lists. The 100 Hz control
loop runs on a thread of its own (real-time priority, its own CPU and locked memory where the box allows),
never on the executor: message handling, publishing and diagnostics can be late without the gate or the CAN
frames being late. Subscriptions here decode headers only and hand the gate a
stamp under a short lock.

Actuator requests, the policy's output heartbeat and the route check arrive on the local command channel
(transport/command_channel.py), not on a DDS topic another host could write to; the measured drive state
goes back on it. The gate's clock is monotonic; message stamps only serve the clock-jump check. On
shutdown it sends MRM / disengage frames before the process exits.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from typing import Dict, Optional, Sequence

from vehicle_runtime.can import Codec, load_dbc, open_bus
from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.latency import LatencyStats
from vehicle_runtime.realtime import (
    PeriodicLoop,
    collection_between,
    isolate_control_thread,
    other_threads_at,
    reserve_heap,
)
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.sd_notify import notify
from vehicle_runtime.security import compute_end, engage_authority, security_config
from vehicle_runtime.transport import command_channel, convert
from vehicle_runtime.transport.command_channel import CommandServer, Kind, Record
from vehicle_runtime.transport.msgs import stamp_to_s
from vehicle_runtime.transport.node import NodeHandle
from vehicle_runtime.types import ActuatorRequest, EgoState, Pose2D
from vehicle_runtime.vehicle_interface import VehicleInterface

STATUS_RATE_HZ = 50.0  # vehicle/command, vehicle/status: observability, from the executor
STALL_REPORT_S = 0.04  # a tick-to-tick gap this long (4 periods) records where the other threads were


class VehicleInterfaceNode:
    def __init__(
        self,
        node: NodeHandle,
        cfg: RuntimeConfig,
        bus=None,
        safety=None,
        channel: CommandServer | None = None,
        cameras: Sequence[str] = ("front",),
    ):
        self.node, self.cfg = node, cfg
        # before the control thread locks the memory: the main thread's heap then grows into these pages
        if cfg.lock_memory and not reserve_heap():
            node.log().warning("heap not reserved (no glibc malloc): the locked heap grows with each restart")
        safety = safety or cfg.safety
        sec = security_config(cfg.config_dir)  # SecOC keys and who may engage (docs/security.md)
        authority = engage_authority(sec, auto_engage=safety.auto_engage)  # ConfigError: auto-engage on a vehicle
        self.bus = bus or open_bus(cfg.bus)
        self.channel = channel or CommandServer(command_channel.address(node.namespace))
        self.gate = SafetyGate(safety, clock_s=time.monotonic())
        self.vi = VehicleInterface(
            self.bus,
            self.gate,
            Codec(load_dbc(cfg.dbc_path)),
            cfg.max_command_age_s,
            secoc=compute_end(sec),
            engage_authority=authority,
        )
        self.engage_refusals, self._last_refusal_log_s = 0, -math.inf
        self.lock = threading.Lock()  # the gate between the control thread and the executor's callbacks
        self.loop = PeriodicLoop(1.0 / cfg.control_rate_hz)
        self._stop = threading.Event()
        self._tick = 0
        self._last_tick_s = math.inf
        self.stall: Optional[tuple] = None  # the longest gap over STALL_REPORT_S: (s, other threads, collection)
        self._stall_logged: Optional[tuple] = None
        self._logged_transitions = 0
        self.camera_to_can = LatencyStats()  # camera stamp → first CAN frame carrying a command from that frame
        self._new_source_stamp_s: Optional[float] = None
        self._last_source_stamp_s = -math.inf
        self.pub_cmd = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/command", "command")
        self.pub_status = node.publisher("nav_msgs/msg/Odometry", "vehicle/status", "default")
        self.pub_drive = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/status/drive", "default")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        # newest camera_info stamp per camera since the last feed
        self._camera_stamps: Dict[str, Optional[float]] = {c: None for c in cameras}
        for camera, (_image, info_topic) in convert.camera_topics(cameras).items():
            node.subscribe(
                "sensor_msgs/msg/CameraInfo",
                info_topic,
                functools.partial(self._camera_info, camera),
                "sensor",
                header_only=True,
            )
        node.subscribe(
            "nav_msgs/msg/Odometry",
            "navigation/odometry",
            lambda m: self._feed("odometry", stamp_to_s(m.header.stamp)),
            "sensor",
            header_only=True,
        )
        node.subscribe("std_msgs/msg/String", "vehicle/engage", self.on_engage, "default")
        node.timer(1.0 / STATUS_RATE_HZ, self.on_status)
        node.timer(1.0, self.on_diagnostics)
        self.thread = threading.Thread(target=self._run, name="control_loop", daemon=True)
        self.thread.start()

    # --- executor side ----------------------------------------------------------------------
    def _feed(self, name: str, stamp_s: float) -> None:
        with self.lock:
            self.gate.feed(name, time.monotonic(), stamp_s)

    def _camera_info(self, camera: str, m) -> None:
        self._camera(camera, stamp_to_s(m.header.stamp))

    def _camera(self, camera: str, stamp_s: float) -> None:
        """The camera watchdog is fed once every camera has delivered again (with the oldest of their stamps):
        one silent camera of several starves it."""
        stamps = self._camera_stamps
        stamps[camera] = stamp_s
        delivered = [v for v in stamps.values() if v is not None]
        if len(delivered) == len(stamps):
            self._feed("camera", min(delivered))
            for c in stamps:
                stamps[c] = None

    def on_engage(self, m) -> None:
        """A software request: executed only where the configuration allows software engage and the line is
        signed with the engage key, fresh and not a replay (safety/engage_authority.py); anyone on the ROS
        domain can publish here, so every refusal is counted in /diagnostics and logged once a second at most."""
        with self.lock:
            word = self.vi.request(m.data, time.time())  # wall clock: the signer's stamp is time.time()
        if word is None:
            self.engage_refusals += 1
            if time.monotonic() - self._last_refusal_log_s > 1.0:
                self._last_refusal_log_s = time.monotonic()
                self.node.log().warning(
                    "vehicle/engage: request refused (%d so far; reasons in /diagnostics)", self.engage_refusals
                )

    def on_status(self) -> None:
        with self.lock:
            status, fb = self.vi.last_status, self.gate.feedback
            transitions = self.gate.sm.transitions[self._logged_transitions :]
            self._logged_transitions += len(transitions)
            yaw_rate = self.vi.parser.yaw_rate_radps()
        for tr in transitions:
            self.node.log().info("safety state %s -> %s: %s", tr.before.name, tr.after.name, tr.reason)
        if status is None:
            return
        t = self.node.now_s()
        self.pub_cmd.publish(convert.command_to_ackermann(status.command, t, fb.speed_mps))
        if fb.valid:
            ego = EgoState(t, Pose2D(0.0, 0.0, 0.0), fb.speed_mps, yaw_rate, fb.accel_mps2, fb.steer_rad)
            self.pub_status.publish(convert.ego_to_odometry(ego, "base_link"))
            self.pub_drive.publish(convert.ego_to_drive_status(ego))

    def on_diagnostics(self) -> None:
        stall = self.stall
        if stall is not None and stall is not self._stall_logged:  # a new longest gap: say what ran meanwhile
            self._stall_logged = stall
            where = "; ".join(f"{name}: {at}" for name, at in stall[1].items())
            c = stall[2]
            collected = (
                f"a generation-{c.generation} garbage collection of {c.duration_s * 1e3:.1f} ms ran in it ({c.thread})"
                if c is not None
                else "no garbage collection ran in it"
            )
            self.node.log().warning(
                "control loop gap %.0f ms; %s; the other threads were at %s", stall[0] * 1e3, collected, where
            )
        with self.lock:
            status = self.vi.last_status
            extra = {
                "can_frames_sent": self.vi.frames_sent,
                "can_feedback_errors": dict(self.vi.parser.errors),
                "can_error_frames": self.vi.health.error_frames,
                "filters_active": ",".join(self.gate.last_filters),
                "command_channel_peers": len(self.channel.peers),
                "command_channel_refused_peers": self.channel.refused_peers,
                "command_channel_malformed": self.channel.malformed,
                "control_lateness_p99_ms": f"{self.loop.jitter.percentile_ms(99):.3f}"
                if self.loop.jitter.count
                else "",
                "control_deadline_misses": self.loop.deadline_misses,
                "control_gap_max_ms": f"{stall[0] * 1e3:.1f}" if stall is not None else "",
                **{f"security_{k}": v for k, v in self.vi.security_report().items()},
                **{
                    f"camera_to_can_{k}": f"{v:.3f}"
                    for k, v in self.camera_to_can.summary().items()
                    if k.endswith("_ms")
                },
            }
        if status is None:
            return
        self.pub_diag.publish(
            convert.diagnostics(self.node.now_s(), "vehicle_interface", status, dict(self.cfg.safety.timeouts_s), extra)
        )

    # --- control thread ---------------------------------------------------------------------
    def _run(self) -> None:
        for refused in isolate_control_thread(self.cfg.realtime_priority, self.cfg.control_cpu, self.cfg.lock_memory):
            self.node.log().warning(refused)
        self.loop.run(self.on_tick, stop=self._stop)

    def apply(self, record: Record, now_s: float) -> None:
        """A record from the policy (called with the lock held)."""
        if record.kind is Kind.REQUEST:
            if record.a > self._last_source_stamp_s:  # the first request computed from a newer camera frame
                self._new_source_stamp_s = self._last_source_stamp_s = record.a
            self.gate.set_request(ActuatorRequest(now_s, record.b, record.c, source_stamp_s=record.a), now_s)
        elif record.kind is Kind.OUTPUT:
            self.gate.policy_output(record.b > 0.5, now_s, record.a)
        elif record.kind is Kind.ROUTE:
            self.gate.feed("route", now_s, record.a)
        elif record.kind is Kind.FAULT:
            self.gate.model_fault("the trajectory validator refused the policy's plans beyond their horizon")

    def on_tick(self, now_s: float) -> None:
        gap_s, self._last_tick_s = now_s - self._last_tick_s, now_s
        if gap_s > STALL_REPORT_S and (self.stall is None or gap_s > self.stall[0]):
            # what held the GIL meanwhile, and a garbage collection in the gap (logged off this thread)
            self.stall = (gap_s, other_threads_at(), collection_between(now_s - gap_s, now_s))
        with self.lock:
            for record in self.channel.poll():
                self.apply(record, now_s)
            status = self.vi.tick(now_s)
            fb = self.gate.feedback
            if self._new_source_stamp_s is not None:  # camera stamps are wall-clock times of this host
                self.camera_to_can.add(time.time() - self._new_source_stamp_s)
                self._new_source_stamp_s = None
        self._tick += 1
        if self._tick % 2 == 0 and fb.valid:
            self.channel.send(Record(Kind.DRIVE, fb.speed_mps, fb.steer_rad, fb.accel_mps2))
        if self._tick == 1:
            notify("READY=1")
        if self._tick % 10 == 0:  # 10 Hz from the control loop itself: a hung loop stops the pings
            notify(f"WATCHDOG=1\nSTATUS={status.state.name}")

    def shutdown(self) -> None:
        self._stop.set()
        self.thread.join(1.0)
        with self.lock:
            self.vi.shutdown(time.monotonic())
        self.bus.shutdown()
        self.channel.close()
