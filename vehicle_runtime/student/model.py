"""The student: manifest + checked ONNX session + frame histories + features + recurrent state.

Cameras are preprocessed by the caller straight into `slot(camera)`, then `commit(camera)`;
`run(obs)` feeds the K newest frames of every camera, the features and the recurrent state, and
decodes the outputs into a PolicyOutput.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..types import Observation, PolicyOutput
from .contract import check_against_graph, expected_outputs
from .features import FeatureWriter
from .history import FrameHistory
from .manifest import Manifest, ManifestError, load_manifest
from .session import ModelSession, SessionConfig
from .tokenizer import Tokenizer, phrase_complete


class Student:
    def __init__(self, manifest: Manifest, config: SessionConfig = SessionConfig()):
        self.manifest = manifest
        tokenizer_path = manifest.tokenizer_path
        self.tokenizer = Tokenizer(tokenizer_path) if tokenizer_path else None
        vocab = self.tokenizer.vocab_size if self.tokenizer else None
        self.session = ModelSession(str(manifest.model_path), config)
        check_against_graph(manifest, self.session.inputs, self.session.outputs, vocab)
        self.histories: Dict[str, FrameHistory] = {
            c.camera: FrameHistory(c.history, (c.image.channels, c.image.height, c.image.width), c.dtype)
            for c in manifest.cameras
        }
        self._nav = (
            FeatureWriter(manifest.nav.features, manifest.route_points, manifest.nav.dtype) if manifest.nav else None
        )
        self._ego = FeatureWriter(manifest.ego.features, dtype=manifest.ego.dtype) if manifest.ego else None
        # Recurrent state: two buffers per state, swapped after every call (no copies).
        self._state = {
            s.input: [np.zeros(s.shape, np.dtype(s.dtype)), np.zeros(s.shape, np.dtype(s.dtype))]
            for s in manifest.state
        }
        self._outputs = _allocate_outputs(manifest, self.session.outputs, vocab)
        self.last_latency_s = 0.0
        self.reasoning_dropped = 0  # decoded phrases not emitted (undecodable, or a number without its unit)

    @classmethod
    def load(cls, path: str | Path, config: SessionConfig = SessionConfig()) -> "Student":
        return cls(load_manifest(path), config)

    @property
    def provider(self) -> str:
        return self.session.provider

    def slot(self, camera: str) -> np.ndarray:
        return self.histories[camera].next_slot()

    def commit(self, camera: str) -> None:
        self.histories[camera].commit()

    def reset(self) -> None:
        """Forget frame history and recurrent state (after a stall, before engaging)."""
        for h in self.histories.values():
            h.reset()
        for pair in self._state.values():
            pair[0][:] = 0.0

    def feeds(self, obs: Optional[Observation]) -> Dict[str, np.ndarray]:
        m = self.manifest
        feeds = {c.input: self.histories[c.camera].window() for c in m.cameras}
        if self._nav is not None and m.nav is not None:  # (set together)
            feeds[m.nav.input] = self._nav.write(obs) if obs is not None else self._nav.buffer
        if self._ego is not None and m.ego is not None:
            feeds[m.ego.input] = self._ego.write(obs) if obs is not None else self._ego.buffer
        for s in m.state:
            feeds[s.input] = self._state[s.input][0]
        return feeds

    def run_raw(self, obs: Optional[Observation]) -> Dict[str, np.ndarray]:
        """One session call; the returned arrays are reused by the next call."""
        m = self.manifest
        outputs = self._outputs
        for s in m.state:  # the new state goes into the spare buffer
            outputs[s.output] = self._state[s.input][1]
        t0 = time.perf_counter()
        self.session.run(self.feeds(obs), outputs)
        self.last_latency_s = time.perf_counter() - t0
        for s in m.state:
            pair = self._state[s.input]
            pair[0], pair[1] = pair[1], pair[0]
        return outputs

    def run(self, obs: Observation) -> PolicyOutput:
        out = self.run_raw(obs)
        return self.decode(obs, out)

    def decode(self, obs: Observation, out: Dict[str, np.ndarray]) -> PolicyOutput:
        o = self.manifest.outputs
        ids: tuple = ()
        text = ""
        if o.reasoning:
            raw = out[o.reasoning][0]
            ids = tuple(int(i) for i in (raw if o.reasoning_kind == "token_ids" else raw.argmax(axis=-1)))
            if self.tokenizer is not None:
                try:
                    text = self.tokenizer.decode(ids)
                except ValueError:  # ids outside the vocabulary; reasoning is never on the control path
                    text = ""
                    self.reasoning_dropped += 1
                if text and not phrase_complete(text):  # a number or its unit missing: no phrase at all
                    text = ""
                    self.reasoning_dropped += 1
        return PolicyOutput(
            stamp_s=obs.stamp_s,
            ego_pose_at_stamp=obs.ego.pose,
            trajectory_ego_xy_m=out[o.trajectory][0].astype(np.float64),
            dt_s=o.dt_s,
            speed_profile_mps=out[o.speed_profile][0].astype(np.float64) if o.speed_profile else None,
            reasoning_text=text,
            reasoning_token_ids=ids,
            confidence=float(out[o.confidence].reshape(-1)[0]) if o.confidence else 1.0,
            latency_s=self.last_latency_s,
        )

    def warm_up(self, runs: int = 3) -> float:
        """Run on the current (blank) buffers so that lazy initialisation happens before engaging;
        returns the slowest run in seconds. The recurrent state is reset afterwards."""
        worst = 0.0
        for _ in range(runs):
            self.run_raw(None)
            worst = max(worst, self.last_latency_s)
        self.reset()
        return worst


def _allocate_outputs(m: Manifest, graph_outputs, vocab: Optional[int]) -> Dict[str, np.ndarray]:
    """Output buffers in the graph's rank (the contract allows confidence as [1] or [1, 1]). A size the
    manifest leaves open (the vocabulary of reasoning logits without a tokenizer) is the graph's."""
    by_name = {a.name: a for a in graph_outputs}
    buffers = {}
    for name, (dtype, want) in expected_outputs(m, vocab).items():
        graph_shape = tuple(d if isinstance(d, int) else None for d in by_name[name].shape)
        if len(graph_shape) != len(want):
            want = tuple(1 if d is None else d for d in graph_shape)
        shape = tuple(w if w is not None else g for w, g in zip(want, graph_shape))
        sizes = [d for d in shape if d is not None]
        if len(sizes) != len(shape):
            raise ManifestError(
                f"model '{m.name}': output '{name}' has a size neither the manifest nor the graph fixes "
                f"({list(by_name[name].shape)}); reasoning logits need a tokenizer or a fixed vocabulary dimension"
            )
        buffers[name] = np.zeros(sizes, np.dtype(dtype))
    return buffers
