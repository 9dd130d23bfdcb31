"""Parameter tables generated from the schemas, for the docs (Autoware's package READMEs): one row per
parameter with its type, allowed values, the shipped default and the description.

    python -m vehicle_runtime.schema.tables [--write FILE ... | --check FILE ...]

Documents mark a table with `<!-- params:NAME -->` … `<!-- /params -->`. NAME: a schema of this package
(e.g. policy) or a path from the share directory without `.schema.json` (sim_bridge/embedded/scenario).
`<!-- params:NAME:PATTERNS -->` keeps only some rows: comma-separated fnmatch patterns over the dotted
names, `!` in front excludes (`vehicle_interface:can_*,dbc_path`); a pattern that matches nothing is an error.
Without options, prints every schema's table; --write rewrites the marked tables of each FILE in place;
--check names the files whose tables differ from the schemas and exits 1 (tests/test_readmes.py).
Nested objects are flattened (`outputs.trajectory.dt_s`, `cameras[].image.width`); local `$ref`s resolved.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Iterator, List, Tuple

from . import load_schema

MARKED = re.compile(
    r"(<!-- params:(?P<name>[\w/.-]+)(?::(?P<keys>[^\s>]+))? -->\n)(?P<body>.*?)(?P<end><!-- /params -->)", re.S
)
# the shipped values shown as defaults; any other schema NAME: config/NAME.param.yaml if there is one
DEFAULT_FILES = {
    "vehicle_profile": "config/vehicles/generic_sedan.param.yaml",
    "carla_bridge": "config/carla_hil.param.yaml",
}
JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "NoneType": "null",
    "list": "array",
    "dict": "object",
}
HEADER = ["| parameter | type | allowed | default | description |", "|---|---|---|---|---|"]


def schema_names() -> List[str]:
    return sorted(
        p.name[: -len(".schema.json")]
        for p in resources.files(__package__).iterdir()
        if p.name.endswith(".schema.json")
    )


def _resolve(prop, root: dict) -> dict:
    """A local `$ref` (#/$defs/x) replaced by its target, sibling keys kept; `true` (anything) as {}."""
    prop = prop if isinstance(prop, dict) else {}
    while isinstance(prop.get("$ref"), str) and prop["$ref"].startswith("#/"):
        target = root
        for part in prop["$ref"][2:].split("/"):
            target = target[part]
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(v) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _allowed(prop: dict, root: dict) -> str:
    prop = _resolve(prop, root)
    if "enum" in prop:
        return " | ".join(_value(v) for v in prop["enum"])
    if "const" in prop:
        return f"= {_value(prop['const'])}"
    if prop.get("type") == "array":
        item = _resolve(prop.get("items", {}), root)
        inner = _allowed(item, root) if item and item.get("type") != "object" else ""
        low, high = prop.get("minItems"), prop.get("maxItems")
        size = (
            ""
            if low is None and high is None
            else f"≥ {low} items"
            if high is None
            else f"≤ {high} items"
            if low is None
            else f"{low} items"
            if low == high
            else f"{low}..{high} items"
        )
        return ", ".join(p for p in (size, f"each {inner}" if inner else "") if p)
    bounds = [
        f"{word} {prop[key]}"
        for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if key in prop
    ]
    if prop.get("minLength"):
        bounds.append("not empty")
    if "pattern" in prop:
        bounds.append(f"matches `{prop['pattern']}`")
    return ", ".join(bounds)


def _type(prop: dict, root: dict) -> str:
    prop = _resolve(prop, root)
    if "enum" in prop:
        return " or ".join(sorted({JSON_TYPES.get(type(v).__name__, "any") for v in prop["enum"]}))
    if prop.get("type") == "array":
        item = _resolve(prop.get("items", {}), root)
        return f"{_type(item, root) if item else 'any'}[]"
    kind = prop.get("type")
    if kind is None:  # anyOf / oneOf of typed alternatives
        kinds = [_type(alt, root) for alt in prop.get("anyOf", prop.get("oneOf", []))]
        return " or ".join(dict.fromkeys(k for k in kinds if k)) or "any"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def rows(schema: dict, root: dict | None = None, prefix: str = "") -> Iterator[Tuple[str, dict, bool]]:
    """(dotted name, property, required) for every property, nested objects flattened after their parent."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, root)
        name = prefix + key
        yield name, prop, key in required
        if prop.get("type") == "object" or "properties" in prop:
            yield from rows(prop, root, name + ".")
            extra = prop.get("additionalProperties")
            if isinstance(extra, dict) and extra:  # a map: one row for its values
                yield name + ".<name>", _resolve(extra, root), False
                yield from rows(extra, root, name + ".<name>.")
        elif prop.get("type") == "array":
            item = _resolve(prop.get("items", {}), root)
            if item.get("type") == "object" or "properties" in item:
                yield from rows(item, root, name + "[].")


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        out[prefix + key] = value
        if isinstance(value, dict):
            out.update(_flatten(value, prefix + key + "."))
    return out


def defaults(name: str, share: Path) -> dict:
    """The shipped parameter file's values by dotted name ({} when the schema has no parameter file)."""
    import yaml

    path = share / DEFAULT_FILES.get(name, f"config/{name}.param.yaml")
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    section: dict = next(iter(doc.values()), {}) if isinstance(doc, dict) else {}
    return _flatten((section or {}).get("ros__parameters", {}) or {})


def render(schema: dict, shipped: dict, patterns: str = "") -> str:
    """The Markdown table of `schema` with the `shipped` values ({dotted name: value}) as defaults."""
    wanted = [p for p in patterns.split(",") if p and not p.startswith("!")]
    unwanted = [p[1:] for p in patterns.split(",") if p.startswith("!")]
    kept, used = list(HEADER), set()
    for key, prop, required in rows(schema):
        hits = {p for p in wanted + unwanted if fnmatch.fnmatchcase(key, p)}
        used |= hits
        if (wanted and not hits & set(wanted)) or hits & set(unwanted):
            continue
        given = key in shipped and not (isinstance(shipped[key], dict) and "properties" in prop)  # rows below
        default = (
            _value(shipped[key])
            if given
            else _value(prop["default"])
            if "default" in prop
            else ""
            if required
            else "(optional)"
        )
        kept.append(
            f"| `{key}` | {_cell(_type(prop, schema))} | {_cell(_allowed(prop, schema))} | "
            f"{_cell(default)} | {_cell(prop.get('description', ''))} |"
        )
    stale = [p for p in wanted + unwanted if p not in used]
    if stale:
        raise ValueError(f"pattern(s) {', '.join(stale)} match no parameter of {schema.get('title', 'the schema')}")
    return "\n".join(kept) + "\n"


def table(name: str, share: Path | None = None, patterns: str = "") -> str:
    from ..paths import share_dir

    share = share or share_dir()
    schema = json.loads((share / f"{name}.schema.json").read_text()) if "/" in name else load_schema(name)
    return render(schema, defaults(name, share), patterns)


def rewrite(text: str, share: Path | None = None) -> str:
    return MARKED.sub(
        lambda m: m.group(1) + table(m.group("name"), share, m.group("keys") or "") + m.group("end"), text
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write", nargs="+", metavar="FILE", help="rewrite the marked tables of these files")
    group.add_argument("--check", nargs="+", metavar="FILE", help="exit 1 if a marked table is out of date")
    args = ap.parse_args(argv)
    if not (args.write or args.check):
        for name in schema_names():
            print(f"## {name}\n\n{table(name)}")
        return 0
    status = 0
    for f in args.write or args.check:  # every file, even after a bad one
        path = Path(f)
        try:
            text = path.read_text()
            fresh = rewrite(text)
        except (ValueError, OSError) as exc:  # a stale row pattern, a missing file or schema: one line
            print(f"{f}: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.write and fresh != text:
            path.write_text(fresh)
        elif args.check and fresh != text:
            print(
                f"{f}: parameter table differs from the schema (run: python -m vehicle_runtime.schema.tables "
                f"--write {f})",
                file=sys.stderr,
            )
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
