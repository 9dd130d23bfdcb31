"""ONNX Runtime session with an explicit provider preference, warm-up and IO binding.

Providers are filtered by `get_available_providers()` before creation and checked with
`session.get_providers()` after it: unsupported graphs silently fall back to CPU otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True)
class SessionConfig:
    providers: Sequence[str] = DEFAULT_PROVIDERS
    intra_op_threads: int = 1  # small: the control loop must not be starved
    io_binding: bool = True
    trt_fp16: bool = True
    trt_cache_dir: Optional[str] = None  # engine + timing cache (first build can take minutes)
    provider_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class ProviderError(RuntimeError):
    pass


class ModelSession:
    def __init__(self, model_path: str, config: SessionConfig = SessionConfig()):
        available = ort.get_available_providers()
        chosen = [p for p in config.providers if p in available]
        if not chosen:
            raise ProviderError(
                f"none of the requested providers {list(config.providers)} is available "
                f"(this onnxruntime has {available})"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.intra_op_threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers = [(p, dict(self._provider_options(p, config))) for p in chosen]
        self.session = ort.InferenceSession(str(model_path), opts, providers=providers)
        self.requested_providers = tuple(chosen)
        self.active_providers = tuple(self.session.get_providers())
        self.provider = self.active_providers[0]
        if self.provider != chosen[0]:
            log.warning("requested %s but the session runs on %s", chosen[0], self.provider)
        self.io_binding = config.io_binding
        self._binding = self.session.io_binding() if config.io_binding else None
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()

    @staticmethod
    def _provider_options(provider: str, config: SessionConfig) -> Mapping[str, str]:
        opts = dict(config.provider_options.get(provider, {}))
        if provider == "TensorrtExecutionProvider":
            opts.setdefault("trt_fp16_enable", "True" if config.trt_fp16 else "False")
            if config.trt_cache_dir:
                opts.setdefault("trt_engine_cache_enable", "True")
                opts.setdefault("trt_engine_cache_path", config.trt_cache_dir)
                opts.setdefault("trt_timing_cache_enable", "True")
                opts.setdefault("trt_timing_cache_path", config.trt_cache_dir)
        return opts

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run with `feeds`; results are written into the preallocated `outputs` arrays."""
        if self._binding is None:
            results = self.session.run(list(outputs), dict(feeds))
            for (_name, buf), value in zip(outputs.items(), results):
                np.copyto(buf, value.reshape(buf.shape), casting="unsafe")
            return outputs
        b = self._binding
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        keep_alive = []  # contiguous copies must outlive the run
        for name, arr in feeds.items():
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
                keep_alive.append(arr)
            b.bind_input(name, "cpu", 0, arr.dtype, arr.shape, arr.ctypes.data)
        for name, arr in outputs.items():
            b.bind_output(name, "cpu", 0, arr.dtype, arr.shape, arr.ctypes.data)
        self.session.run_with_iobinding(b)
        return outputs
