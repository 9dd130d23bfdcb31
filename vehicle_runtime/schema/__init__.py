"""JSON schemas shipped with the package (model manifest, node parameters, vehicle profiles) and
one way to report what fails them: every problem, each naming its field."""

import functools
import json
import math
from importlib import resources
from typing import List

import jsonschema


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return _shared_enums(json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text()))


def _shared_enums(node):
    """`"x-enum": "can_interfaces"` becomes the one list the code keeps (can/bus.py), so a schema never repeats it."""
    if isinstance(node, dict):
        if node.get("x-enum") == "can_interfaces":
            from ..can.bus import SUPPORTED_INTERFACES

            node = {k: v for k, v in node.items() if k != "x-enum"}
            node["enum"] = list(SUPPORTED_INTERFACES)
        return {k: _shared_enums(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_shared_enums(v) for v in node]
    return node


def problems(instance, schema: dict, word: str = "field") -> List[str]:
    """All validation errors, e.g. "field 'cameras/0/history': 0 is less than the minimum of 1"."""
    validator = jsonschema.Draft202012Validator(schema)
    out = [
        f"{word} '{where}': {value!r} is not a finite number" if where else f"{value!r} is not a finite number"
        for where, value in non_finite(instance)
    ]
    for e in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in e.absolute_path)
        out.append(f"{word} '{where}': {e.message}" if where else e.message)
    return out


def non_finite(instance, where: str = ""):
    """(path, value) of every NaN or ±inf in a parsed document: JSON Schema bounds never refuse NaN
    (`nan <= 0` is false), and a NaN limit switches its guard off (`v >= nan` is never true)."""
    if isinstance(instance, float) and not math.isfinite(instance):
        yield where, instance
    elif isinstance(instance, dict):
        for key, value in instance.items():
            yield from non_finite(value, f"{where}/{key}" if where else str(key))
    elif isinstance(instance, (list, tuple)):
        for i, value in enumerate(instance):
            yield from non_finite(value, f"{where}/{i}" if where else str(i))
