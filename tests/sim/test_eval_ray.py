"""`vehicle-runtime eval` on a real local Ray runtime (started and stopped here, 2 CPUs): the same rows as the
in-process pool, a worker killed mid-run retried and counted once, resume after an interruption, and a
two-node cluster made by `ray start --head` + `ray start --address` on local ports (~25 s of it here)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is the extra 'ray': pip install 'vehicle_runtime[ray]'")

from sim_bridge.embedded.eval_grid import plan  # noqa: E402
from sim_bridge.embedded.eval_ray import OBJECT_STORE_BYTES  # noqa: E402
from sim_bridge.embedded.eval_results import ResultsFile  # noqa: E402
from sim_bridge.embedded.eval_run import execute  # noqa: E402
from sim_bridge.embedded.eval_tasks import pack_build  # noqa: E402

DURATION_S = 1.0
JOBS = plan(["cut_in", "lead_braking"], [1000, 1001], ["student", "expert"], duration_s=DURATION_S)


def _same(row):
    return {k: v for k, v in row.items() if k != "wall_time_s"}  # the one field that is the run's cost


@pytest.fixture(scope="module")
def local_ray():
    from sim_bridge.embedded import eval_ray

    eval_ray.STALL_S = 120.0  # a stuck cluster fails the test in two minutes instead of hanging the suite
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    import logging

    ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    assert not ray.is_initialized()
    for sig, handler in handlers.items():  # ray.init leaves its own SIGTERM handler in this process
        signal.signal(sig, handler)


@pytest.fixture(scope="module")
def blob():
    return pack_build()


@pytest.fixture(scope="module")
def pool_rows(tmp_path_factory, blob):
    return execute(
        JOBS, blob, ResultsFile(tmp_path_factory.mktemp("pool") / "r.jsonl"), "pool", workers=2, progress=False
    )


def test_ray_gives_the_rows_of_the_in_process_pool(local_ray, blob, pool_rows, tmp_path):
    rows = execute(JOBS, blob, ResultsFile(tmp_path / "r.jsonl"), "auto", workers=2, progress=False)
    assert len(rows) == len(JOBS) == 8
    assert sorted(map(_same, rows), key=lambda r: r["key"]) == sorted(map(_same, pool_rows), key=lambda r: r["key"])
    assert {r["policy"] for r in rows} == {"student", "expert"} and all(
        r["token_positions"] for r in rows if r["policy"] == "student"
    )


def test_a_killed_worker_is_retried_and_its_run_counted_once(local_ray, blob, pool_rows, tmp_path):
    marker = str(tmp_path / "killed")
    victim = JOBS[1].key

    def crash_once(job, blob):  # nested: cloudpickle ships it by value to the worker
        import os as os_
        import signal

        from sim_bridge.embedded.eval_tasks import run_job

        if job.key == victim and not os_.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(str(os_.getpid()))
            os_.kill(os_.getpid(), signal.SIGKILL)  # the worker process dies mid-task
        row = run_job(job, blob)
        row["pid"] = os_.getpid()
        return row

    from sim_bridge.embedded.eval_ray import ray_stream

    results = ResultsFile(tmp_path / "r.jsonl")
    for _job, row in ray_stream(JOBS, blob, "auto", 2, task=crash_once):
        results.add(row)
    results.close()
    lines = [json.loads(ln) for ln in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert Path(marker).exists(), "the victim task never ran"
    killed_pid = int(Path(marker).read_text())
    assert [r["key"] for r in lines].count(victim) == 1 and len(lines) == len(JOBS)
    retried = next(r for r in lines if r["key"] == victim)
    assert retried["pid"] != killed_pid  # the retry ran in another worker process
    with pytest.raises(ProcessLookupError):
        os.kill(killed_pid, 0)
    expected = {r["key"]: _same(r) for r in pool_rows}
    assert all({k: v for k, v in _same(r).items() if k != "pid"} == expected[r["key"]] for r in lines)


def test_ray_resumes_an_interrupted_evaluation(local_ray, blob, tmp_path):
    path = tmp_path / "r.jsonl"
    execute(JOBS[:3], blob, ResultsFile(path), "auto", workers=2, progress=False)
    ran = []
    rows = execute(
        JOBS, blob, ResultsFile(path), "auto", workers=2, progress=False, on_result=lambda r: ran.append(r["key"])
    )
    assert sorted(ran) == sorted(j.key for j in JOBS[3:])
    assert len(rows) == len(JOBS) and len(path.read_text().splitlines()) == len(JOBS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(args, env, temp_dir):
    """`ray start ... --block` in a process group of its own: ended by its id, not by `ray stop` (which
    would stop every Ray on the machine)."""
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_cli is None:
        pytest.skip("Ray's command line `ray` is not on PATH (pip install 'vehicle_runtime[ray]')")
    return subprocess.Popen(
        [
            ray_cli,
            "start",
            "--block",
            "--num-cpus",
            "1",
            "--node-ip-address",
            "127.0.0.1",
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--disable-usage-stats",
            "--temp-dir",
            temp_dir,
            *args,
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


WAIT_FOR_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
deadline = time.monotonic() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
    time.sleep(0.2)
print(len([n for n in ray.nodes() if n["Alive"]]))
"""


def _stop(node: subprocess.Popen) -> bool:
    """SIGTERM to `ray start --block` alone: it drains its node through the head's GCS and ends its processes
    (~1 s). The whole group at once would kill the GCS first, and each node would then wait out the 30 s drain
    timeout (RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S). Anything left in the group afterwards is killed.
    True: the node ended by itself with nothing left behind."""
    node.send_signal(signal.SIGTERM)
    clean = True
    try:
        node.wait(timeout=60)
    except subprocess.TimeoutExpired:
        clean = False
    try:
        os.killpg(node.pid, signal.SIGKILL)
        clean = False
    except ProcessLookupError:  # the group is empty
        pass
    node.wait()
    return clean


@pytest.mark.slow
def test_two_node_cluster_from_ray_start(blob, pool_rows, tmp_path):
    """docs/evaluation.md's recipe: a head and a second node on this machine (`ray start --head --port P`,
    `ray start --address 127.0.0.1:P`), the eval CLI sent to it through RAY_ADDRESS."""
    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # loopback only: Ray's token authentication (on by default for `ray start`) is off here; a real cluster keeps
    # it on and gives every node and the driver the token (docs/evaluation.md)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's unix sockets live under it
    nodes = [_ray_start(["--head", "--port", str(port), "--include-dashboard", "false"], env, temp_dir)]
    try:
        nodes.append(_ray_start(["--address", address], env, temp_dir))
        alive = subprocess.run(
            [sys.executable, "-c", WAIT_FOR_NODES, address], env=env, capture_output=True, text=True, timeout=180
        )
        assert alive.stdout.strip().splitlines()[-1:] == ["2"], alive.stderr[-2000:]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "vehicle_runtime.cli",
                "eval",
                "--scenarios",
                "cut_in,lead_braking",
                "--seeds",
                "1000-1001",
                "--duration",
                str(DURATION_S),
                "--results",
                str(tmp_path / "r.jsonl"),
                "--json",
            ],
            env=dict(env, RAY_ADDRESS=address),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1])["cluster"] == address
        rows = [json.loads(ln) for ln in (tmp_path / "r.jsonl").read_text().splitlines()]
        assert sorted(map(_same, rows), key=lambda r: r["key"]) == sorted(map(_same, pool_rows), key=lambda r: r["key"])
        stopped = [_stop(node) for node in reversed(nodes)]  # the second node first, while the head's GCS can drain it
        nodes = []
        assert stopped == [True, True], "a node did not end on SIGTERM by itself"
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp_dir, ignore_errors=True)
