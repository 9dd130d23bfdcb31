"""The student model: contract (manifest), ONNX Runtime session, inputs and decoding."""

from .manifest import Manifest, ManifestError, load_manifest
from .model import Student
from .session import ModelSession, ProviderError, SessionConfig

__all__ = ["Manifest", "ManifestError", "load_manifest", "Student", "ModelSession", "ProviderError", "SessionConfig"]
