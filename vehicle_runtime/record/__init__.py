"""Record and replay: every drive as a rosbag2 (MCAP storage), replayed through a candidate build.

topics.py    the recorded topics (name, type, QoS, role) and the replay gate table
canframe.py  CAN frames as can_msgs/msg/Frame (ros2_socketcan's type), both directions
convert.py   runtime types → standard ROS 2 messages (what the bag holds)
identity.py  the build's identity (bundle version, model sha256, config hash) for bag metadata
writer.py    BagWriter: rosbag2 directory of MCAP files (mcap library), split, flushed, metadata.yaml
background.py  the writer thread and its bounded pool of warm buffers (the step only encodes)
repair.py    a bag cut by a power loss or SIGKILL made readable again up to its last chunk
recorder.py  Recorder: encodes messages with our CDR codec, raw bytes into the bag
tap.py       RecordingRuntime: records an OnboardRuntime's inputs and outputs as it runs
reader.py    reading a bag back (rosbags), messages decoded with our codec
replay.py    feeds a bag's inputs to a build, in recorded order, and collects its outputs
compare.py   per-topic differences between two sets of outputs
gate.py      thresholds → verdict (a dict, for `bundle create`'s build info)
report.py    the HTML report of a gate run
mapping.py   topic remapping for bags recorded by other stacks
live.py      recording beside a running runtime (DDS transport or rclpy), raw wire bytes
"""
