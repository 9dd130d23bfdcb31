"""Node parameters as ROS 2 parameters, declared from the JSON schemas (the one source of truth).

Each node declares the parameters of the files it uses, with the schema's description and range, the
values of our parameter files as defaults and whatever the launch file or `--ros-args -p` overrides on
top; the effective values then pass the same schema validation as on the DDS transport. Every
parameter is read-only: a live change of a safety limit, a timeout or the model under a running gate is
not safe, so `ros2 param set` is refused and a change means a restart (as Autoware's vehicle_cmd_gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..schema import load_schema

# the parameter files each node reads, with the prefix its parameters get on that node: the policy node runs
# the fusion in-process, and both files name a `lookahead_min_m` (the tracker's and the target point's)
NODE_SCHEMAS = {
    "fusion": (("fusion", ""),),
    "policy": (("policy", ""), ("fusion", "fusion.")),
    "vehicle_interface": (("vehicle_interface", ""),),
}
READ_ONLY_REASON = "read-only: restart the node to change it (a live change under a running gate is not safe)"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # bool | integer | double | string | double_array | integer_array | string_array
    description: str
    range: Optional[Tuple[float, float]]  # inclusive bounds where the schema gives both


def _kind(prop: dict) -> str:
    t: str = prop.get("type") or ""
    if "enum" in prop:
        t = "string" if all(isinstance(v, str) for v in prop["enum"]) else t
    if t == "array":
        item = prop.get("items", {})
        inner = (
            "string"
            if ("enum" in item or item.get("type") == "string")
            else ("integer" if item.get("type") == "integer" else "double")
        )
        return f"{inner}_array"
    return {"boolean": "bool", "integer": "integer", "number": "double", "string": "string"}.get(t, "string")


def _range(prop: dict) -> Optional[Tuple[float, float]]:
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    return (low, high) if low is not None and high is not None else None


def _description(prop: dict) -> str:
    parts = [prop.get("description", "")]
    if "enum" in prop:
        parts.append("one of " + ", ".join(map(str, prop["enum"])))
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in prop:
            parts.append(f"{word} {prop[key]}")
    return "; ".join(p for p in parts if p)


def specs(schema_name: str) -> List[ParamSpec]:
    props = load_schema(schema_name).get("properties", {})
    return [ParamSpec(name, _kind(prop), _description(prop), _range(prop)) for name, prop in props.items()]


def declare(
    node, schema_name: str, defaults: dict, forced: Optional[dict] = None, prefix: str = ""
) -> Dict[str, object]:
    """Declare every parameter of `schema_name` that our file gives on the rclpy `node` (the file's value as
    default, a launch override winning, a `forced` value winning over both) and return the effective values."""
    from rcl_interfaces.msg import ParameterDescriptor

    forced = forced or {}
    out = {}
    for spec in specs(schema_name):
        if spec.name not in defaults and spec.name not in forced:
            continue  # an optional parameter the file leaves out keeps its code default
        name = prefix + spec.name
        if not node.has_parameter(name):
            descriptor = ParameterDescriptor(
                description=spec.description,
                read_only=True,
                dynamic_typing=True,
                additional_constraints=READ_ONLY_REASON,
            )
            value = forced.get(spec.name, defaults.get(spec.name))
            node.declare_parameter(name, value, descriptor, ignore_override=spec.name in forced)
        value = node.get_parameter(name).value
        out[spec.name] = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
    return out


def declare_node(
    node, node_name: str, file_params: Dict[str, dict], forced: Optional[Dict[str, dict]] = None
) -> Dict[str, dict]:
    """`file_params` ({'policy': {...}, ...}) with this node's schemas replaced by its effective ROS values;
    `forced` ({schema: {parameter: value}}, the command line's flags) wins everywhere."""
    forced = forced or {}
    out = {schema: {**values, **forced.get(schema, {})} for schema, values in file_params.items()}
    for schema_name, prefix in NODE_SCHEMAS[node_name]:
        out[schema_name] = {
            **out[schema_name],
            **declare(node, schema_name, file_params[schema_name], forced.get(schema_name), prefix),
        }
    return out
