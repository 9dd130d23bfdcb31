"""Replaying a bag recorded by another stack: a YAML file maps its topic names onto ours.

    topics:                                   # their name: our name (docs/record_replay.md)
      /sensing/camera/front/image_raw/compressed: /camera/image_raw/compressed
      /planning/route: /navigation/route
      /localization/kinematic_state: /navigation/odometry

Only standard types are accepted on the mapped topics: sensor_msgs/Image or CompressedImage for a
camera, nav_msgs/Path for the route, nav_msgs/Odometry for odometry (and ackermann drive status
optionally). Topics not mapped and not already ours are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Set

import yaml

from .topics import COMPRESSED, IMAGE, TOPICS, camera_topic

ACCEPTED = {
    "/navigation/route": {"nav_msgs/msg/Path"},
    "/navigation/odometry": {"nav_msgs/msg/Odometry"},
    "/vehicle/status/drive": {"ackermann_msgs/msg/AckermannDriveStamped"},
}


class MappingError(ValueError):
    """A mapping file that names an unknown target or maps a topic of the wrong type."""


def load(path: Optional[Path]) -> Dict[str, str]:
    if path is None:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: {exc}") from None
    topics = doc.get("topics") if isinstance(doc, dict) else None
    if not isinstance(topics, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in topics.items()):
        raise MappingError(f"{path}: expected 'topics:' with 'their/topic: our/topic' entries")
    return {("/" + k.lstrip("/")): ("/" + v.lstrip("/")) for k, v in topics.items()}


def check(mapping: Dict[str, str], bag_topics: Dict[str, str]) -> None:
    """Every mapped topic must be in the bag and of a type the target accepts."""
    for theirs, ours in mapping.items():
        if theirs not in bag_topics:
            raise MappingError(f"mapped topic {theirs} is not in the bag (it has {sorted(bag_topics)})")
        typename = bag_topics[theirs]
        want: Optional[Set[str]]
        if ours.startswith("/camera/") and "image_raw" in ours:
            want = {COMPRESSED} if ours.endswith("/compressed") else {IMAGE}
            if typename in (IMAGE, COMPRESSED) and typename not in want:  # the type decides, not the name
                continue
        else:
            want = ACCEPTED.get(ours)
        if want is None:
            raise MappingError(
                f"{theirs} → {ours}: replay cannot feed {ours} (targets: cameras, {', '.join(ACCEPTED)})"
            )
        if typename not in want:
            raise MappingError(f"{theirs} is {typename}; {ours} needs {' or '.join(sorted(want))}")


def target(topic: str, typename: str, mapping: Dict[str, str]) -> Optional[str]:
    """Our name for a bag topic, or None when replay ignores it."""
    ours = mapping.get(topic)
    if ours is None:
        return topic if topic in TOPICS or topic.startswith("/camera/") else None
    if ours.startswith("/camera/") and typename in (IMAGE, COMPRESSED):
        parts = ours.strip("/").split("/")
        camera = "front" if parts[1] == "image_raw" else parts[1]
        return camera_topic(camera, typename == COMPRESSED)
    return ours
