"""Where the CARLA bridge sends the runtime's inputs.

- `InProcessRuntime` (`vehicle-runtime drive --sim carla`): the onboard runtime in this process, in
  lockstep with the CARLA tick; its CAN frames go over a python-can bus to the bridge's gateway.
- `DdsTopics` (HIL, `vehicle-runtime carla-bridge`): camera/image_raw + camera_info (the reference camera;
  every other camera on camera/<name>/image_raw + camera_info), navigation/odometry,
  navigation/route and navigation/gnss on the ROS 2 topics (Cyclone DDS, ROS 2 wire format), for a
  compute box running `ros2 launch vehicle_runtime runtime.launch.py` or `vehicle-runtime up`; the
  box answers on the real CAN bus, to the gateway.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Tuple, Union

import can

from vehicle_runtime.can import Codec
from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.pipeline import Pipeline
from vehicle_runtime.runtime import OnboardRuntime
from vehicle_runtime.types import CameraFrame, EgoState, Route


class InProcessRuntime:
    """The runtime, stepped by the bridge: the model at camera rate, control every period."""

    def __init__(
        self,
        cfg: RuntimeConfig,
        bus: can.BusABC,
        model_path=None,
        pipeline: Optional[Pipeline] = None,
        owns_bus: bool = False,
    ):
        pipeline = pipeline or Pipeline.from_config(cfg, model_path)
        self.pipeline, self.bus, self.owns_bus = pipeline, bus, owns_bus
        from vehicle_runtime.security import compute_end, security_config

        self.runtime = OnboardRuntime(
            cfg,
            pipeline,
            bus,
            Codec(),
            safety=replace(cfg.safety, auto_engage=True),
            secoc=compute_end(security_config(cfg.config_dir), persist_trip=False),
        )
        self._new_frame = False

    def on_camera(self, frame: CameraFrame, now_s: float) -> None:
        self.runtime.on_camera(frame, now_s)
        self._new_frame = True

    def on_odometry(self, ego: EgoState, now_s: float) -> None:
        self.runtime.on_odometry(ego, now_s)

    def on_route(self, route: Route, now_s: float) -> None:
        self.runtime.on_route(route, now_s)

    def advance(self, now_s: float, dt_s: float) -> None:
        if self._new_frame:
            self.runtime.step_policy(now_s)
            self._new_frame = False
        self.runtime.tick(now_s, dt_s)

    def shutdown(self, now_s: float) -> None:
        self.runtime.shutdown(now_s)  # MRM / disengage frames first
        if self.owns_bus:
            self.bus.shutdown()

    @property
    def safety_state(self) -> str:
        return self.runtime.gate.sm.state.name

    @property
    def transitions(self) -> list:
        return list(self.runtime.gate.sm.transitions)

    @property
    def reasoning(self) -> List[Tuple[float, str]]:
        return list(self.runtime.events.reasoning)

    @property
    def latency_ms(self) -> Dict[str, dict]:
        return {k: v.summary() for k, v in self.pipeline.latency.items() if v.count}


class DdsTopics:
    """Publishes the runtime's inputs on the ROS 2 topics; the runtime runs elsewhere on its own clock."""

    def __init__(self, namespace: str, focal_length_px: Union[float, Mapping[str, float]], participant=None):
        """`focal_length_px`: name → fx per camera, the first being the reference camera (on camera/...);
        a single number: every frame goes to camera/... with that fx."""
        from vehicle_runtime.transport import convert  # the same messages the nodes read
        from vehicle_runtime.transport.dds import DdsParticipant

        self._convert = convert
        self.dds = participant or DdsParticipant()
        ns = (namespace.strip("/") + "/") if namespace.strip("/") else ""
        fx = focal_length_px if isinstance(focal_length_px, Mapping) else {None: float(focal_length_px)}
        self.fx = dict(fx)
        self._cameras = {}  # camera name (None: any) → (image publisher, camera_info publisher, fx)
        for i, (name, f) in enumerate(self.fx.items()):
            base = ns + ("camera/" if i == 0 else f"camera/{name}/")
            self._cameras[name] = (
                self.dds.publisher("sensor_msgs/msg/Image", base + "image_raw", "sensor"),
                self.dds.publisher("sensor_msgs/msg/CameraInfo", base + "camera_info", "sensor"),
                f,
            )
        self._route = self.dds.publisher("nav_msgs/msg/Path", ns + "navigation/route", "latched")
        self._odom = self.dds.publisher("nav_msgs/msg/Odometry", ns + "navigation/odometry", "sensor")
        self._gnss = self.dds.publisher("sensor_msgs/msg/NavSatFix", ns + "navigation/gnss", "sensor")

    def on_camera(self, frame: CameraFrame, now_s: float) -> None:
        image, info, fx = self._cameras.get(frame.camera) or self._cameras[None]
        image.publish(self._convert.frame_to_image(frame))
        info.publish(self._convert.camera_info(frame.stamp_s, frame.width, frame.height, fx))

    def on_odometry(self, ego: EgoState, now_s: float) -> None:
        self._odom.publish(self._convert.ego_to_odometry(ego))

    def on_route(self, route: Route, now_s: float) -> None:
        self._route.publish(self._convert.route_to_path(route))

    def on_gnss(self, stamp_s: float, lat_deg: float, lon_deg: float, alt_m: float, std_m: float) -> None:
        self._gnss.publish(self._convert.gnss(stamp_s, lat_deg, lon_deg, alt_m, std_m * std_m))

    def advance(self, now_s: float, dt_s: float) -> None:
        pass  # the box runs the runtime

    def shutdown(self, now_s: float) -> None:
        self.dds.close()
