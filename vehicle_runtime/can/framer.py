"""Gate output → the three command frames of one control period (opendbc's carcontroller role)."""

from __future__ import annotations

from typing import List

import can

from ..safety.state_machine import SafetyState
from ..types import ActuatorCommand
from .codec import Packer

STEER_RANGE_RAD = 1.5  # DBC range of STEER_ANGLE_CMD
ACCEL_RANGE_MPS2 = 10.0


def command_frames(packer: Packer, state: SafetyState, cmd: ActuatorCommand) -> List[can.Message]:
    enable = 1 if cmd.engaged else 0
    steer = min(max(cmd.steer_rad, -STEER_RANGE_RAD), STEER_RANGE_RAD)
    accel = min(max(cmd.accel_mps2, -ACCEL_RANGE_MPS2), ACCEL_RANGE_MPS2)
    t = cmd.stamp_s
    return [
        packer.pack("STEERING_CMD", {"STEER_ANGLE_CMD": steer, "ENABLE": enable}, t),
        packer.pack("LONGITUDINAL_CMD", {"ACCEL_CMD": accel, "ENABLE": enable, "BRAKE_HOLD": int(cmd.brake_hold)}, t),
        packer.pack("HEARTBEAT", {"STATE": int(state), "HAZARD_REQUEST": int(cmd.hazard)}, t),
    ]
