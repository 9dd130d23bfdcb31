"""Parameter tables generated from the schemas, for the docs (Autoware's package READMEs): one row per
parameter with its type, allowed values, the shipped default and the description.

    python -m vehicle_runtime.schema.tables [--write FILE ...]

Documents mark a table with `<!-- params:NAME -->` … `<!-- /params -->` (NAME: a schema, e.g. policy).
Without --write, prints every table; with it, rewrites the marked tables of each FILE in place.
A test fails when a document's table and the schema disagree.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import load_schema

MARKED = re.compile(r"(<!-- params:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /params -->)", re.S)
DEFAULT_FILES = {"fusion": "config/fusion.param.yaml", "policy": "config/policy.param.yaml",
                 "vehicle_interface": "config/vehicle_interface.param.yaml",
                 "vehicle_profile": "config/vehicles/generic_sedan.param.yaml"}


def _allowed(prop: dict) -> str:
    if "enum" in prop:
        return " \\| ".join(map(str, prop["enum"]))
    if prop.get("type") == "array":
        item = prop.get("items", {})
        inner = _allowed(item) if item else ""
        size = f"{prop['minItems']}..{prop.get('maxItems', '')} items" if "minItems" in prop else ""
        return ", ".join(p for p in (size, f"each {inner}" if inner else "") if p)
    bounds = []
    for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in prop:
            bounds.append(f"{word} {prop[key]}")
    if prop.get("minLength"):
        bounds.append("not empty")
    return ", ".join(bounds)


def _type(prop: dict) -> str:
    if "enum" in prop:
        return "string"
    if prop.get("type") == "array":
        return f"{prop.get('items', {}).get('type', 'string')}[]"
    return str(prop.get("type", ""))


def _defaults(name: str, share: Path) -> dict:
    import yaml

    path = share / DEFAULT_FILES[name] if name in DEFAULT_FILES else None
    if path is None or not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    section = next(iter(doc.values()), {}) if isinstance(doc, dict) else {}
    return (section or {}).get("ros__parameters", {}) or {}


def table(name: str, share: Path | None = None) -> str:
    from ..paths import share_dir

    schema = load_schema(name)
    required = set(schema.get("required", []))
    defaults = _defaults(name, share or share_dir())
    rows = ["| parameter | type | allowed | default | description |", "|---|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        default = defaults.get(key, "" if key in required else "(optional)")
        desc = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{key}` | {_type(prop)} | {_allowed(prop)} | {default} | {desc} |")
    return "\n".join(rows) + "\n"


def rewrite(text: str, share: Path | None = None) -> str:
    return MARKED.sub(lambda m: m.group(1) + table(m.group("name"), share) + m.group(4), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", nargs="+", metavar="FILE", help="rewrite the marked tables of these files")
    args = ap.parse_args(argv)
    if args.write:
        for f in args.write:
            path = Path(f)
            path.write_text(rewrite(path.read_text()))
        return 0
    for name in ("fusion", "policy", "vehicle_interface", "vehicle_profile"):
        print(f"## {name}\n\n{table(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
