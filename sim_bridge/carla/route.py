"""A route from the CARLA map's topology, without CARLA's `agents` package (not in the PyPI wheel).

`Map.get_topology()` gives lane segments (entry waypoint, exit waypoint). Segments are edges between
their end points (rounded locations), weighted by length; Dijkstra finds the shortest sequence from
the start's segment to the goal's. Each segment is sampled every `spacing_m` with `Waypoint.next`.
A goal on a lane that leads nowhere (no segment starts there) is reached by following that lane from
the segment that enters it. Segments inside a junction get LEFT / RIGHT / STRAIGHT from their heading
change, all others LANEFOLLOW (no lane changes are planned).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from vehicle_runtime.types import RoadOption

from .convert import location_to_xy

STRAIGHT_WITHIN_DEG = 35.0


class RouteError(ValueError):
    pass


@dataclass
class PlannedRoute:
    points_xy_m: np.ndarray  # runtime (REP 103) world frame
    options: List[RoadOption]  # one per point
    length_m: float


def _key(location) -> Tuple[int, int, int]:
    return (round(location.x * 10), round(location.y * 10), round(location.z * 10))


def _lane(wp) -> Tuple[int, int, int]:
    return (wp.road_id, wp.section_id, wp.lane_id)


def _sample(entry, until_location, spacing_m: float, start=None) -> list:
    """Waypoints from `start` (default: entry) along its lane up to `until_location` (exclusive)."""
    wp, out = start or entry, []
    for _ in range(100000):
        out.append(wp)
        if wp.transform.location.distance(until_location) <= spacing_m:
            return out
        nxt = wp.next(spacing_m)
        if not nxt:
            return out
        same = [n for n in nxt if _lane(n) == _lane(wp)]
        wp = (same or nxt)[0]
    raise RouteError("a lane segment did not reach its exit")


def _option(entry, exit_) -> RoadOption:
    if not entry.is_junction:
        return RoadOption.LANEFOLLOW
    turn = (exit_.transform.rotation.yaw - entry.transform.rotation.yaw + 180.0) % 360.0 - 180.0
    if abs(turn) < STRAIGHT_WITHIN_DEG:
        return RoadOption.STRAIGHT
    return RoadOption.RIGHT if turn > 0 else RoadOption.LEFT  # CARLA's yaw grows clockwise


class TopologyPlanner:
    def __init__(self, carla_map, spacing_m: float = 2.0):
        self.map, self.spacing_m = carla_map, spacing_m
        self.segments = list(carla_map.get_topology())
        if not self.segments:
            raise RouteError(f"map '{carla_map.name}' has no lane topology")
        self._edges: Dict[tuple, List[Tuple[float, int]]] = {}
        self._samples = [_sample(entry, exit_.transform.location, spacing_m) for entry, exit_ in self.segments]
        self._length: List[float] = []
        for i, (entry, _) in enumerate(self.segments):
            length = len(self._samples[i]) * spacing_m
            self._length.append(length)
            self._edges.setdefault(_key(entry.transform.location), []).append((length, i))

    def plan(self, start_location, goal_location) -> PlannedRoute:
        start = self.map.get_waypoint(start_location)
        goal = self.map.get_waypoint(goal_location)
        if start is None or goal is None:
            raise RouteError("start or goal is not on a driving lane")
        first = [i for i, (e, _) in enumerate(self.segments) if _lane(e) == _lane(start)]
        if not first:
            raise RouteError(f"no lane segment holds the start (road {start.road_id}, lane {start.lane_id})")
        # the goal's own segment, or (a dead-end lane) the segments whose exit is on the goal's lane
        into_goal = [i for i, (e, _) in enumerate(self.segments) if _lane(e) == _lane(goal)]
        onto_goal = [i for i, (_, x) in enumerate(self.segments) if _lane(x) == _lane(goal)]
        waypoints: List = []
        options: List[RoadOption] = []
        tail_from = start
        if not (_lane(start) == _lane(goal) and goal.s * _sign(start) >= start.s * _sign(start)):
            path = self._dijkstra(first[0], set(into_goal) | set(onto_goal))
            if path is None:
                raise RouteError("the goal cannot be reached from the start on this map's topology")
            # a last segment that holds the goal is only driven up to the goal (the tail, below)
            full = path[:-1] if path[-1] in into_goal else path
            for n, seg in enumerate(full):
                entry, exit_ = self.segments[seg]
                wps = (
                    _sample(entry, exit_.transform.location, self.spacing_m, start=start)
                    if n == 0
                    else self._samples[seg]
                )
                waypoints += wps
                options += [_option(entry, exit_)] * len(wps)
            tail_from = self.segments[path[-1]][0 if path[-1] in into_goal else 1]
            if path[-1] in into_goal and len(path) == 1:
                tail_from = start
        tail = _sample(tail_from, goal.transform.location, self.spacing_m)
        waypoints += tail
        options += [RoadOption.LANEFOLLOW] * len(tail)
        pts = np.array([location_to_xy(w.transform.location) for w in waypoints])
        return PlannedRoute(pts, options, float(np.sum(np.linalg.norm(np.diff(pts, axis=0), axis=1))))

    def _dijkstra(self, source: int, targets: set) -> Optional[List[int]]:
        """Shortest chain of segments from `source` to any of `targets` (both included)."""
        best = {source: self._length[source]}
        heap: List[Tuple[float, int, Tuple[int, ...]]] = [(self._length[source], source, (source,))]
        while heap:
            cost, seg, path = heapq.heappop(heap)
            if seg in targets:
                return list(path)
            if cost > best.get(seg, math.inf):
                continue
            for length, nxt in self._edges.get(_key(self.segments[seg][1].transform.location), []):
                c = cost + length
                if c < best.get(nxt, math.inf):
                    best[nxt] = c
                    heapq.heappush(heap, (c, nxt, path + (nxt,)))
        return None


def _sign(wp) -> int:
    """Driving direction along the road's s: lanes with negative ids follow it (right-hand traffic)."""
    return 1 if wp.lane_id < 0 else -1
