"""`vehicle-runtime eval` on a real local Ray runtime (started and stopped here, 2 CPUs): the same rows as the
in-process pool, a worker killed mid-run retried and counted once, resume after an interruption, and a
two-node cluster made by `ray start --head` + `ray start --address` on local ports (slow)."""
import json
import os
import shutil
import socket
import subprocess
import sys
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
    import logging

    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def blob():
    return pack_build()


@pytest.fixture(scope="module")
def pool_rows(tmp_path_factory, blob):
    return execute(JOBS, blob, ResultsFile(tmp_path_factory.mktemp("pool") / "r.jsonl"), "pool", workers=2,
                   progress=False)


def test_ray_gives_the_rows_of_the_in_process_pool(local_ray, blob, pool_rows, tmp_path):
    rows = execute(JOBS, blob, ResultsFile(tmp_path / "r.jsonl"), "auto", workers=2, progress=False)
    assert len(rows) == len(JOBS) == 8
    assert sorted(map(_same, rows), key=lambda r: r["key"]) == sorted(map(_same, pool_rows), key=lambda r: r["key"])
    assert {r["policy"] for r in rows} == {"student", "expert"} and all(r["token_positions"] for r in rows
                                                                        if r["policy"] == "student")


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
    rows = execute(JOBS, blob, ResultsFile(path), "auto", workers=2, progress=False,
                   on_result=lambda r: ran.append(r["key"]))
    assert sorted(ran) == sorted(j.key for j in JOBS[3:])
    assert len(rows) == len(JOBS) and len(path.read_text().splitlines()) == len(JOBS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_node_cluster_from_ray_start(blob, pool_rows, tmp_path):
    """docs/evaluation.md's recipe: a head and a second node on this machine, the eval CLI through RAY_ADDRESS."""
    if ray.is_initialized():
        ray.shutdown()
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    address = f"127.0.0.1:{port}"
    start = [ray_cli, "start", "--num-cpus", "1", "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats"]
    try:
        subprocess.run(start + ["--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                                "--include-dashboard", "false"], check=True, env=env, capture_output=True, timeout=120)
        subprocess.run(start + ["--address", address, "--node-ip-address", "127.0.0.1"], check=True, env=env,
                       capture_output=True, timeout=120)
        out = subprocess.run([sys.executable, "-m", "vehicle_runtime.cli", "eval", "--scenarios", "cut_in,lead_braking",
                              "--seeds", "1000-1001", "--duration", str(DURATION_S), "--results", str(tmp_path / "r.jsonl"),
                              "--json"], env=dict(env, RAY_ADDRESS=address), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["cluster"] == address
        nodes = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address='{address}', logging_level='ERROR');"
                                "print(len([n for n in ray.nodes() if n['Alive']]))"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert nodes.stdout.strip().splitlines()[-1] == "2"
        rows = [json.loads(ln) for ln in (tmp_path / "r.jsonl").read_text().splitlines()]
        assert sorted(map(_same, rows), key=lambda r: r["key"]) == sorted(map(_same, pool_rows), key=lambda r: r["key"])
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
