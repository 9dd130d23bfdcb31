"""A reader that is not one of ours, as `rqt_image_view`, `ros2 topic echo` or a recorder would be: plain
cyclonedds readers with the ROS type names and no shared-memory tag, so our publishers put whole images on
the wire for it, and it decodes each sample in Python. Load for the graph runs.

    python -m sim_bridge.foreign_reader TOPIC[:TYPE] ... [--duration S]
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("topics", nargs="+", help="ROS topic names, each optionally :pkg/msg/Type (default Image)")
    ap.add_argument("--duration", type=float, default=3600.0)
    args = ap.parse_args()
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from vehicle_runtime.transport.dds import default_config_uri, idl_type, qos

    uri = default_config_uri()
    if uri:
        import os

        os.environ["CYCLONEDDS_URI"] = uri
    participant = DomainParticipant()
    readers = []
    for spec in args.topics:
        name, _, typename = spec.partition(":")
        typename = typename or "sensor_msgs/msg/Image"
        profile = "sensor" if typename.startswith("sensor_msgs/") or "odometry" in name else "default"
        topic = Topic(participant, "rt/" + name.lstrip("/"), idl_type(typename))
        readers.append(DataReader(participant, topic, qos=qos(profile, typename)))
    received = 0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        for reader in readers:
            received += len(reader.take(N=16))
        time.sleep(0.005)
    print(f"foreign reader: {received} samples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
