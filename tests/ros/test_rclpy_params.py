"""Node parameters on real rclpy: declared from the schemas, loaded from the parameter files as the launch
file passes them, overridable with `-p`, listed / read / described through the standard parameter
services (what `ros2 param list|get|describe|dump` call), and `set` refused with the reason."""

import os
import random
import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("rclpy", reason="rclpy not installed (extra 'ros': ROS 2 Jazzy wheels)")

from vehicle_runtime.transport.ros_params import NODE_SCHEMAS, specs  # noqa: E402


def call(node, executor, srv_type, name, request, timeout_s=30.0, attempts=3):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=timeout_s), f"{name} never appeared"
    # DDS discovery race: the server can see the request before it has matched this client's reply reader, and
    # the reply is then lost (wait_for_service only proves the request side); ROS 2 clients re-send for this
    for _ in range(attempts):
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=timeout_s / attempts)
        if future.done():
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"{name} did not answer {attempts} requests in {timeout_s:g} s")


@pytest.fixture
def policy_process():
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(100, 200)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    # --model as the launch file passes its model_path argument: the ROS parameter shows it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ros_nodes.main",
            "policy",
            "--transport",
            "rclpy",
            "--model",
            "models/distilled_student",
            "--ros-args",
            "--params-file",
            str(REPO / "config" / "policy.param.yaml"),
            "-p",
            "warm_up_runs:=1",
            "-p",
            "fusion.sync_slop_s:=0.04",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc, env
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]


def test_parameters_are_listed_read_described_and_read_only(policy_process, monkeypatch):
    import rclpy
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
    from rclpy.executors import SingleThreadedExecutor

    proc, env = policy_process
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv(key, env[key])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("param_probe", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        names = call(node, executor, ListParameters, "/policy/list_parameters", ListParameters.Request()).result.names
        expected = {prefix + s.name for schema, prefix in NODE_SCHEMAS["policy"] for s in specs(schema)}
        assert expected <= set(names), sorted(expected - set(names))

        got = call(
            node,
            executor,
            GetParameters,
            "/policy/get_parameters",
            GetParameters.Request(names=["warm_up_runs", "fusion.sync_slop_s", "model_path"]),
        ).values
        assert got[0].integer_value == 1 and got[1].double_value == pytest.approx(0.04)  # -p overrides
        assert got[2].string_value == str(REPO / "models" / "distilled_student")  # the --model flag, absolute

        described = call(
            node,
            executor,
            DescribeParameters,
            "/policy/describe_parameters",
            DescribeParameters.Request(names=["intra_op_threads"]),
        ).descriptors[0]
        assert described.read_only and "<= 64" in described.description

        attempt = Parameter(
            name="model_path",
            value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="/tmp/other_model"),
        )
        result = call(
            node, executor, SetParameters, "/policy/set_parameters", SetParameters.Request(parameters=[attempt])
        ).results[0]
        assert not result.successful and "read-only" in result.reason
        got = call(
            node, executor, GetParameters, "/policy/get_parameters", GetParameters.Request(names=["model_path"])
        ).values
        assert got[0].string_value == str(REPO / "models" / "distilled_student")
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_an_override_the_schema_refuses_stops_the_node_with_one_line():
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(100, 200)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ros_nodes.main",
            "policy",
            "--transport",
            "rclpy",
            "--ros-args",
            "-p",
            "intra_op_threads:=500",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "intra_op_threads" in out.stderr and "Traceback" not in out.stderr


def test_without_overrides_every_node_runs_with_its_files_values(monkeypatch):
    """ROS parameters change nothing by themselves: the policy's tracker and its in-process fusion both have a
    `lookahead_min_m`; declared on one node without a prefix, the fusion ran with the tracker's 5 m."""
    import rclpy

    from vehicle_runtime.config import load_node_params
    from vehicle_runtime.transport.ros import RclpyNode

    monkeypatch.setenv("ROS_DOMAIN_ID", str(random.randint(100, 200)))
    files = load_node_params()
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        for name in NODE_SCHEMAS:
            handle = RclpyNode(name, context=context)
            assert handle.declare_parameters(name, files) == files, name
            handle.node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_every_schema_parameter_has_a_ros_type():
    for node, schemas in NODE_SCHEMAS.items():
        for schema, _prefix in schemas:
            for spec in specs(schema):
                assert spec.kind in (
                    "bool",
                    "integer",
                    "double",
                    "string",
                    "double_array",
                    "integer_array",
                    "string_array",
                ), (node, spec)
