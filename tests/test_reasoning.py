"""Reasoning text never shows a phrase with a hole: on the shipped student, over many frames (drives on
unseen seeds, and frames unlike anything it was trained on), every emitted phrase has each number
with its unit and each unit with its number; otherwise no phrase is emitted for that frame."""

import re

import numpy as np
import pytest

from conftest import REPO, make_observation
from sim_bridge.embedded.drive import DriveOptions, run_drive
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.pipeline import Pipeline, StudentPolicy
from vehicle_runtime.student import SessionConfig, Student
from vehicle_runtime.student.tokenizer import phrase_complete
from vehicle_runtime.types import CameraFrame, RoadOption

SHIPPED = REPO / "models" / "distilled_student"
UNITS = {"m", "m/s"}


def holes(text: str) -> list:
    """Independent of the runtime's check: the positions where a number or its unit is missing."""
    words = text.split()
    out = []
    for i, w in enumerate(words):
        if w in UNITS and (i == 0 or not re.fullmatch(r"\d+", words[i - 1])):
            out.append((i, w))
        if re.fullmatch(r"\d+", w) and (i + 1 == len(words) or words[i + 1] not in UNITS):
            out.append((i, w))
    return out


@pytest.mark.parametrize(
    "text, ok",
    [
        ("following the lead vehicle 15 m ahead", True),
        ("following the lane at 7 m/s", True),
        ("turning left at the junction", True),
        ("", True),
        ("following the lead vehicle m m ahead", False),
        ("following the lead vehicle m ahead", False),
        ("lead vehicle stopped 0 0 ahead: waiting", False),
        ("following the lead vehicle 15 m 15", False),
        ("m/s", False),
        ("slowing down for the 15 vehicle 15 m ahead", False),
    ],
)
def test_phrase_complete(text, ok):
    assert phrase_complete(text) is ok
    assert (not holes(text)) is ok


@pytest.fixture(scope="module")
def student():
    return Student.load(SHIPPED, SessionConfig(providers=("CPUExecutionProvider",)))


def test_a_phrase_with_a_missing_number_is_not_emitted(student):
    """The ids the student produced on a synthetic frame: "following the lead vehicle m m ahead"."""
    obs = make_observation({})
    out = dict(student._outputs)
    ids = student.tokenizer.encode("following the lead vehicle m m ahead <eos>")
    out["reasoning_ids"] = np.array([ids + [0] * (12 - len(ids))], np.int64)
    before = student.reasoning_dropped
    decoded = student.decode(obs, out)
    assert decoded.reasoning_text == "" and decoded.reasoning_token_ids[: len(ids)] == tuple(ids)
    assert student.reasoning_dropped == before + 1
    ids = student.tokenizer.encode("following the lead vehicle 15 m ahead <eos>")
    out["reasoning_ids"] = np.array([ids + [0] * (12 - len(ids))], np.int64)
    assert student.decode(obs, out).reasoning_text == "following the lead vehicle 15 m ahead"
    out["reasoning_ids"] = np.array([[99999] + [0] * 11], np.int64)  # outside the vocabulary: no text, no crash
    assert student.decode(obs, out).reasoning_text == ""


class _Recorder:
    """Records what the student emitted and what its raw ids decode to."""

    def __init__(self, policy):
        self.policy, self.cameras, self.latency = policy, policy.cameras, policy.latency
        self.emitted, self.raw = [], []

    def infer(self, obs):
        out = self.policy.infer(obs)
        self.emitted.append(out.reasoning_text)
        self.raw.append(self.policy.student.tokenizer.decode(out.reasoning_token_ids))
        return out

    def reset(self):
        self.policy.reset()


def test_numbers_always_filled_over_drives_on_unseen_seeds():
    recorders = []

    def factory(expert, cfg):
        recorders.append(_Recorder(Pipeline.from_config(cfg).policy))
        return recorders[-1]

    dropped_counts = []
    for scenario, seed in (("lead_braking", 2001), ("cut_in", 2002)):
        r = run_drive(
            DriveOptions(scenario=scenario, seed=seed, policy="student", duration_s=25.0, policy_factory=factory)
        )
        dropped_counts.append(r.outcome["reasoning_dropped"])
    emitted = [t for r in recorders for t in r.emitted]
    raw = [t for r in recorders for t in r.raw]
    assert len(emitted) > 900
    assert [t for t in emitted if holes(t)] == []
    with_numbers = [t for t in emitted if re.search(r"\d+ m\b", t)]
    assert len(with_numbers) > 200  # the lead-vehicle phrases with their gaps are there
    # the shipped student writes each phrase with its number in its graph (a phrase and a number slot):
    # nothing it says is broken, so nothing is held back (the check for other models: the test above)
    dropped = [r for r, e in zip(raw, emitted) if r and not e]
    assert [t for t in raw if holes(t)] == [] and dropped == []
    assert sum(dropped_counts) == 0  # the drive summary counts held-back phrases (reasoning_dropped)


def test_numbers_always_filled_on_frames_unlike_the_training_data(student):
    """Noise, black, white, stripes and inverted skies, with speeds, gaps and road options at random."""
    policy = StudentPolicy(student)
    rng = np.random.default_rng(7)
    emitted, raw = [], []
    w, h = 320, 180
    for k in range(240):
        kind = k % 4
        if kind == 0:
            img = rng.integers(0, 256, (h, w, 3), np.uint8)
        elif kind == 1:
            img = np.full((h, w, 3), 255 * (k % 8 == 1), np.uint8)
        elif kind == 2:
            img = np.zeros((h, w, 3), np.uint8)
            img[:, (np.arange(w) // rng.integers(2, 40)) % 2 == 0] = rng.integers(0, 256, 3)
        else:
            img = np.ascontiguousarray(rng.integers(0, 256, (h, w, 3), np.uint8)[::-1] // 2 + 100)
        frame = CameraFrame("front", float(k), "rgb8", img.tobytes(), w, h)
        option = list(RoadOption)[int(rng.integers(0, len(RoadOption)))]
        obs = make_observation(
            {"front": frame},
            stamp_s=float(k),
            target=tuple(rng.uniform(-20, 40, 2)),
            option=option,
            speed_mps=float(rng.uniform(0, 40)),
            to_end_m=float(rng.uniform(0, 500)),
        )
        out = policy.infer(obs)
        emitted.append(out.reasoning_text)
        raw.append(student.tokenizer.decode(out.reasoning_token_ids))
    assert [t for t in emitted if holes(t)] == []
    assert sum(bool(t) for t in emitted) > 120  # most frames still say something
    assert sum(bool(re.search(r"\d+ m", t)) for t in emitted) > 20  # with numbers in them
    assert all(holes(r) for r, e in zip(raw, emitted) if r and not e)


def test_shipped_config_uses_the_shipped_student():
    assert load_runtime_config().model_path.resolve() == SHIPPED.resolve()
