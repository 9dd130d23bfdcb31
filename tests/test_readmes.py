"""Every room has a README in Autoware's shape, and its parameter tables are what the schemas say now.

A README marks a generated table with `<!-- params:NAME -->` … `<!-- /params -->`; when a schema or a
shipped parameter file changes, `python -m vehicle_runtime.schema.tables --write <README>` brings it back.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

from vehicle_runtime.schema import load_schema, tables

ROOT = Path(__file__).resolve().parents[1]
ROOMS = (
    "vehicle_runtime/safety",
    "vehicle_runtime/can",
    "vehicle_runtime/student",
    "vehicle_runtime/transport",
    "vehicle_runtime/bundle",
    "vehicle_runtime/validation",
    "vehicle_runtime/control",
    "vehicle_runtime/record",
    "ros_nodes",
    "sim_bridge/gateway",
    "sim_bridge/embedded",
    "sim_bridge/carla",
    "tools/distill",
)
SECTIONS = ("Purpose", "Inputs / Outputs", "Parameters", "Assumptions / Known limits")
READMES = [ROOT / room / "README.md" for room in ROOMS]
FIX = "run: python -m vehicle_runtime.schema.tables --write {}"


def _text(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text()


@pytest.mark.parametrize("room", ROOMS)
def test_room_has_readme_with_the_four_sections_in_order(room):
    text = _text(ROOT / room / "README.md")
    assert text.startswith("# "), f"{room}/README.md: no title"
    headings = re.findall(r"^## (.+?)\s*$", text, re.M)
    found = [h for h in headings if h in SECTIONS]
    assert found == list(SECTIONS), f"{room}/README.md: sections {found}, expected {list(SECTIONS)} in this order"
    prose = tables.MARKED.sub("", text)  # generated tables grow with the schemas; the prose should not
    assert len(prose.splitlines()) <= 110, f"{room}/README.md: keep it to a screen or two; depth goes to docs/"


@pytest.mark.parametrize("readme", READMES, ids=ROOMS)
def test_parameter_tables_agree_with_the_schemas(readme):
    text = _text(readme)
    opened, closed = text.count("<!-- params:"), text.count("<!-- /params -->")
    marked = list(tables.MARKED.finditer(text))
    assert opened == closed == len(marked), f"{readme.relative_to(ROOT)}: unbalanced params markers"
    try:
        fresh = tables.rewrite(text, ROOT)
    except (ValueError, FileNotFoundError) as exc:  # a row pattern that matches nothing, a schema that is gone
        pytest.fail(f"{readme.relative_to(ROOT)}: {exc}")
    for old, new in zip(marked, tables.MARKED.finditer(fresh)):
        assert old.group("body") == new.group("body"), (
            f"{readme.relative_to(ROOT)}: table params:{old.group('name')} differs from the schema; "
            + FIX.format(readme.relative_to(ROOT))
        )


def test_record_readme_lists_the_replay_gates_thresholds_as_the_code_has_them():
    """The thresholds are code defaults, not a schema: the README's table is checked against them."""
    from vehicle_runtime.record.gate import DEFAULT_THRESHOLDS

    text = _text(ROOT / "vehicle_runtime/record/README.md")
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", text, re.M))
    assert {k: float(v) for k, v in rows.items()} == {k: float(v) for k, v in DEFAULT_THRESHOLDS.items()}


def test_node_readme_lists_every_node_parameter():
    """The node README carries the nodes' whole parameter files; rooms show the subsets they use."""
    names = {
        m.group("name") for m in tables.MARKED.finditer(_text(ROOT / "ros_nodes/README.md")) if not m.group("keys")
    }
    assert {"fusion", "policy", "vehicle_interface", "vehicle_profile"} <= names


# --- the generator ------------------------------------------------------------------------------


def _count_properties(node, root) -> int:
    """Rows a schema must give, counted apart from the generator: every key under `properties`, through
    nested objects, array items, maps (`additionalProperties` with a schema: one row) and local `$ref`s.
    Conditionals (`if` / `then`, `allOf`) constrain listed parameters and add none."""
    if not isinstance(node, dict):
        return 0
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    extra = node.get("additionalProperties")
    count = len(props) + sum(_count_properties(v, root) for v in props.values())
    count += _count_properties(node.get("items"), root)
    if isinstance(extra, dict) and extra:
        count += 1 + _count_properties(extra, root)
    return count


@pytest.mark.parametrize("name", tables.schema_names())
def test_every_schema_renders_one_row_per_property(name):
    schema = load_schema(name)
    body = tables.table(name, ROOT)
    rows = [line for line in body.splitlines()[2:] if line.startswith("| `")]
    assert len(rows) == _count_properties(schema, schema)
    for key in schema.get("properties", {}):
        assert f"| `{key}` |" in body
    for key, value in tables.defaults(name, ROOT).items():  # each shipped value shows up in its row
        if isinstance(value, dict):
            continue  # a nested section: its values are in the rows below it
        row = next(r for r in rows if r.startswith(f"| `{key}` |"))
        assert row.split(" | ")[3] == tables._cell(tables._value(value))


def test_nested_manifest_fields_are_flattened():
    body = tables.table("model_manifest", ROOT)
    for key in (
        "outputs.trajectory.dt_s",
        "cameras[].image.crop.top",
        "recurrent_state[].shape",
        "nav.route_spacing_m",
    ):
        assert f"| `{key}` |" in body, key
    assert "| `cameras[].history` | integer | ≥ 1, ≤ 16 |" in body


def test_refs_maps_alternatives_and_nested_defaults():
    schema = {
        "$defs": {"limit": {"type": "number", "exclusiveMinimum": 0, "description": "a | b"}},
        "type": "object",
        "required": ["timeouts_s"],
        "properties": {
            "timeouts_s": {
                "type": "object",
                "required": ["camera"],
                "properties": {"camera": {"$ref": "#/$defs/limit"}, "route": {"$ref": "#/$defs/limit"}},
            },
            "keys": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
            "mode": {"enum": ["road", "test_track"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "maybe": {"type": ["number", "null"], "maximum": 3},
            "cpu": {"type": "integer", "default": -1},
            "anything": True,
            "level": {"enum": [0, 1, "auto"]},
        },
        "if": {"properties": {"mode": {"const": "road"}}},
        "then": {"properties": {"either": {"const": 0}}},
    }
    body = tables.render(schema, tables._flatten({"timeouts_s": {"camera": 0.2}, "mode": "road"}))
    assert "| `timeouts_s` | object |  |  |  |" in body
    assert "| `timeouts_s.camera` | number | > 0 | 0.2 | a \\| b |" in body
    assert "| `timeouts_s.route` | number | > 0 | (optional) | a \\| b |" in body
    assert "| `keys.<name>` | string | matches `^[0-9a-f]{32}$` | (optional) |  |" in body
    assert "| `mode` | string | road \\| test_track | road |  |" in body
    assert "| `either` | integer or string |" in body
    assert "| `maybe` | number or null | ≤ 3 |" in body
    assert "| `cpu` | integer |  | -1 |  |" in body  # the schema's default where the file gives none
    assert "| `anything` | any |  | (optional) |  |" in body
    assert "| `level` | integer or string | 0 \\| 1 \\| auto |" in body
    assert len(re.findall(r"^\| `", body, re.M)) == _count_properties(schema, schema) == 11


def test_row_filters_and_stale_patterns():
    body = tables.table("vehicle_interface", ROOT, "can_*,!can_bitrate")
    names = re.findall(r"^\| `([^`]+)`", body, re.M)
    assert names and all(n.startswith("can_") for n in names) and "can_bitrate" not in names
    with pytest.raises(ValueError, match="no_such_param"):
        tables.table("vehicle_interface", ROOT, "can_*,no_such_param")


def test_a_drifted_table_is_caught_and_rewritten(tmp_path, capsys):
    doc = tmp_path / "README.md"
    doc.write_text("# x\n<!-- params:fusion -->\n" + tables.table("fusion", ROOT) + "<!-- /params -->\n")
    assert tables.main(["--check", str(doc)]) == 0
    doc.write_text(doc.read_text().replace("| 0.05 |", "| 0.5 |", 1))  # a default edited by hand
    assert tables.main(["--check", str(doc)]) == 1
    assert "differs from the schema" in capsys.readouterr().err
    tables.main(["--write", str(doc)])
    assert tables.main(["--check", str(doc)]) == 0
    stale = tmp_path / "stale.md"
    stale.write_text("<!-- params:fusion:sync_slop_s,no_such_param -->\n<!-- /params -->\n")
    assert tables.main(["--write", str(stale), str(doc)]) == 2  # one line naming the pattern; no traceback
    assert "no_such_param" in capsys.readouterr().err
    assert stale.read_text().count("|") == 0 and tables.main(["--check", str(doc)]) == 0


# --- hand-written tables and links that could drift ---------------------------------------------


def test_gateway_readme_lists_every_gateway_parameter_with_its_default():
    from sim_bridge.gateway.bywire import GatewayParams

    text = _text(ROOT / "sim_bridge/gateway/README.md")
    listed = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", text, re.M))
    expected = {f.name: str(f.default) for f in dataclasses.fields(GatewayParams)}
    assert listed == expected


def test_distill_readme_lists_every_command_line_flag():
    tree = ast.parse((ROOT / "tools/distill/__main__.py").read_text())
    flags = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "add_argument"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).startswith("--")
    }
    listed = set(re.findall(r"^\| `(--[\w-]+)`", _text(ROOT / "tools/distill/README.md"), re.M))
    assert flags and listed == flags


@pytest.mark.parametrize("readme", READMES, ids=ROOMS)
def test_links_resolve_and_environment_variables_exist(readme):
    text = _text(readme)
    for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", text):
        if "://" in target:
            continue
        assert "shared" not in Path(target).parts, f"{readme.relative_to(ROOT)} links outside the repo: {target}"
        assert (readme.parent / target).resolve().exists(), f"{readme.relative_to(ROOT)}: broken link {target}"
    code = "".join(
        p.read_text(errors="replace")
        for d in ("vehicle_runtime", "ros_nodes", "sim_bridge", "tools", "config", "launch")
        for p in (ROOT / d).rglob("*")
        if p.is_file() and p.suffix in (".py", ".xml", ".yaml", ".service", ".sh")
    )
    for var in set(re.findall(r"`((?:VEHICLE_RUNTIME|ROS|CYCLONEDDS)_[A-Z_]+)", text)):
        assert var in code, f"{readme.relative_to(ROOT)} names {var}, which no code reads"


def test_the_schemas_are_json_the_generator_reads():
    for name in tables.schema_names():
        assert json.dumps(load_schema(name))  # a schema file that does not parse fails here, not in a README


QOS_WORDS = {"sensor": "sensor data", "default": "reliable", "latched": "latched", "command": "reliable, depth 1"}


@pytest.mark.parametrize("node", ("fusion", "policy", "vehicle_interface"))
def test_node_readme_topics_match_the_code(node):
    """Every topic a node publishes or subscribes with a literal name is in its README table, with its type
    (or "header only") and its QoS."""
    tree = ast.parse((ROOT / f"ros_nodes/{node}_node.py").read_text())
    endpoints = []
    for call in ast.walk(tree):
        kind = getattr(getattr(call, "func", None), "attr", "")
        if isinstance(call, ast.Call) and kind in ("publisher", "subscribe", "create_publisher", "create_subscription"):
            args = [a.value if isinstance(a, ast.Constant) else None for a in call.args] + [None] * 4
            args += [
                k.value.value
                for k in call.keywords
                if isinstance(k.value, ast.Constant) and k.arg in ("profile", "qos", "qos_profile")
            ]
            profile = args[2] if kind.endswith("publisher") else args[3]
            profile = profile if profile in QOS_WORDS else next((a for a in args[4:] if a in QOS_WORDS), None)
            if isinstance(args[1], str):
                endpoints.append((args[0], args[1], profile))
    assert endpoints
    section = _text(ROOT / "ros_nodes/README.md").split(f"**{node}**")[1].split("\n**")[0].split("\n## ")[0]
    for typename, topic, profile in endpoints:
        rows = [r for r in section.splitlines() if re.search(rf"[| ,]{re.escape(topic)}[ ,|]", r)]
        assert rows, f"ros_nodes/README.md, {node}: topic {topic} missing"
        short = typename.replace("/msg/", "/")
        qos = QOS_WORDS.get(profile, "")  # a profile the code computes is not checked
        assert any((short in r or "header only" in r) and qos in r for r in rows), (
            f"ros_nodes/README.md, {node}: {topic} should say {short} and QoS '{qos}'"
        )


def test_transport_readme_qos_depths_match_the_code():
    source = (ROOT / "vehicle_runtime/transport/dds.py").read_text()
    depths = ast.literal_eval(re.search(r"^QOS_DEPTH = (\{.*?\})", source, re.M).group(1))
    text = _text(ROOT / "vehicle_runtime/transport/README.md")
    listed = {name: int(depth) for name, depth in re.findall(r"^\| `(\w+)` \| [^|]+\| [^|]+\| (\d+) \|", text, re.M)}
    assert listed == depths
