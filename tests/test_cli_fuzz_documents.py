"""Fuzz the documents a user points the CLI at: a scenario (drive --scenario), a model manifest
(selftest --model), CARLA parameters (carla-bridge --carla-params). Each field of the document gets values
its schema refuses (wrong type, out of range) and, once the loader checks them, NaN and ±inf; every one
must be refused as tests/cli_check.py says."""

import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_check import assert_refused
from vehicle_runtime import cli
from vehicle_runtime.paths import share_dir
from vehicle_runtime.schema import load_schema

# --- documents: scenario, model manifest, CARLA parameters -------------------------------------------


def leaves(doc, path=()):
    """Every scalar in a document with its path."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaves(v, path + (i,))
    else:
        yield path, doc


def subschema(schema, path):
    """The schema of the value at `path`, or None where the schema does not say (then nothing is fuzzed)."""
    for key in path:
        if schema is None:
            return None
        if isinstance(key, int):
            items = schema.get("prefixItems", [])
            schema = items[key] if key < len(items) else schema.get("items")
        else:
            schema = schema.get("properties", {}).get(key)
    return schema if isinstance(schema, dict) and ("type" in schema or "enum" in schema) else None


def bad_leaf_values(spec):
    kind = spec.get("type")
    if "enum" in spec:
        yield "bogus-value"
    if kind in ("number", "integer"):
        yield "abc"
        if "minimum" in spec:
            yield spec["minimum"] - 1
        if "exclusiveMinimum" in spec:
            yield spec["exclusiveMinimum"]
        if "maximum" in spec:
            yield spec["maximum"] * 1e6 + 1
    elif kind == "string":
        yield [1]
    elif kind == "boolean":
        yield "maybe"


def set_at(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def document_cases(doc, schema):
    return [
        (path, value) for path, _ in leaves(doc) if (spec := subschema(schema, path)) for value in bad_leaf_values(spec)
    ]


SCENARIO = yaml.safe_load(
    (Path(cli.__file__).parents[1] / "sim_bridge" / "embedded" / "scenarios" / "lead_braking.yaml").read_text()
)
SCENARIO_SCHEMA = json.loads(
    (Path(cli.__file__).parents[1] / "sim_bridge" / "embedded" / "scenario.schema.json").read_text()
)
MANIFEST = json.loads((share_dir() / "models" / "distilled_student" / "manifest.json").read_text())
CARLA = yaml.safe_load((share_dir() / "config" / "carla_hil.param.yaml").read_text())["/**"]["ros__parameters"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(document_cases(SCENARIO, SCENARIO_SCHEMA)))
def test_generated_bad_scenario_fields_are_refused(case, places):
    path, value = case
    doc = json.loads(json.dumps(SCENARIO))
    set_at(doc, path, value)
    file = places["tmp"] / "scenario.yaml"
    file.write_text(yaml.safe_dump(doc))
    assert_refused(
        ["drive", "--policy=expert", f"--scenario={file}", "--duration=0.05", f"--out={places['tmp']}/r", "--json"],
        [str(file)],
        True,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(document_cases(MANIFEST, load_schema("model_manifest"))))
def test_generated_bad_manifest_fields_are_refused(case, places):
    path, value = case
    model = places["tmp"] / "model"
    if not model.exists():
        shutil.copytree(share_dir() / "models" / "distilled_student", model)
    doc = json.loads(json.dumps(MANIFEST))
    set_at(doc, path, value)
    (model / "manifest.json").write_text(json.dumps(doc))
    assert_refused(["selftest", f"--model={model}", "--frames=1", "--json"], [str(model)], True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(document_cases(CARLA, load_schema("carla_bridge"))))
def test_generated_bad_carla_parameters_are_refused(case, places):
    path, value = case
    doc = {"/**": {"ros__parameters": json.loads(json.dumps(CARLA))}}
    set_at(doc["/**"]["ros__parameters"], path, value)
    file = places["tmp"] / "carla_hil.param.yaml"
    file.write_text(yaml.safe_dump(doc))
    assert_refused(
        [
            "carla-bridge",
            f"--carla-params={file}",
            "--carla-host=127.0.0.1",
            "--carla-port=2",
            "--carla-timeout=0.5",
            "--json",
        ],
        [str(file), "carla_hil.param.yaml"],
        True,
    )


def numeric_leaves(doc, schema):
    return [p for p, _ in leaves(doc) if (s := subschema(schema, p)) and s.get("type") in ("number", "integer")]


def _scenario_argv(doc, places):
    file = places["tmp"] / "scenario.yaml"
    file.write_text(yaml.safe_dump(doc))
    return ["drive", "--policy=expert", f"--scenario={file}", "--duration=0.05", f"--out={places['tmp']}/r"], str(file)


def _manifest_argv(doc, places):
    model = places["tmp"] / "model"
    if not model.exists():
        shutil.copytree(share_dir() / "models" / "distilled_student", model)
    (model / "manifest.json").write_text(json.dumps(doc))
    return ["selftest", f"--model={model}", "--frames=1"], str(model)


def _carla_argv(doc, places):
    file = places["tmp"] / "carla_hil.param.yaml"
    file.write_text(yaml.safe_dump({"/**": {"ros__parameters": doc}}))
    return [
        "carla-bridge",
        f"--carla-params={file}",
        "--carla-host=127.0.0.1",
        "--carla-port=2",
        "--carla-timeout=0.5",
    ], str(file)


def _loader_refuses_nan(kind: str) -> bool:
    """Whether the loader of that document already refuses NaN (the JSON schema's bounds let it pass)."""
    from sim_bridge.carla.params import load_bridge_params
    from sim_bridge.embedded.scenario import load_scenario
    from vehicle_runtime.student.manifest import load_manifest

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            if kind == "scenario":
                (tmp / "s.yaml").write_text(yaml.safe_dump({**SCENARIO, "target_speed_mps": math.nan}))
                load_scenario(str(tmp / "s.yaml"))
            elif kind == "manifest":
                shutil.copytree(share_dir() / "models" / "distilled_student", tmp / "m")
                (tmp / "m" / "manifest.json").write_text(json.dumps({**MANIFEST, "latency_budget_ms": math.nan}))
                load_manifest(tmp / "m")
            else:
                (tmp / "c.yaml").write_text(
                    yaml.safe_dump({"/**": {"ros__parameters": {**CARLA, "timeout_s": math.nan}}})
                )
                load_bridge_params(tmp / "c.yaml")
        except Exception:  # noqa: BLE001 -- any refusal counts
            return True
    return False


DOCUMENTS = {
    "scenario": (SCENARIO, SCENARIO_SCHEMA, _scenario_argv),
    "manifest": (MANIFEST, load_schema("model_manifest"), _manifest_argv),
    "carla": (CARLA, load_schema("carla_bridge"), _carla_argv),
}


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            k,
            marks=pytest.mark.xfail(
                not _loader_refuses_nan(k),
                run=False,
                strict=True,
                reason=f"the {k} loader lets NaN / inf through the JSON schema's bounds; "
                "the finite check belongs to the validation work of issue 17",
            ),
        )
        for k in DOCUMENTS
    ],
)
def test_non_finite_document_fields_are_refused(kind, places):
    doc0, schema, argv_for = DOCUMENTS[kind]
    for path in numeric_leaves(doc0, schema):
        for value in (math.nan, math.inf, -math.inf):
            doc = json.loads(json.dumps(doc0))
            set_at(doc, path, value)
            argv, name = argv_for(doc, places)
            assert_refused(argv, [name, "carla_hil.param.yaml"], False)
