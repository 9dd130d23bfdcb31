#!/usr/bin/env bash
# Run a command in a fresh network namespace whose only interface is a loopback that carries
# multicast, so python-can's udp_multicast never sends a packet off this machine.
#   unshare -n tools/in_loopback_netns.sh python -m sim_bridge.process_faults --fault gate_killed
set -euo pipefail
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
exec "$@"
