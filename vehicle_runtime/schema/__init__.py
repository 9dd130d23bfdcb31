"""JSON schemas shipped with the package (model manifest, node parameters, vehicle profiles)."""
import functools
import json
from importlib import resources


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text())
