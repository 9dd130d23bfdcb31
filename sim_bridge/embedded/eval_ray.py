"""The evaluation's jobs as Ray tasks, on a local Ray runtime ('auto') or an existing cluster (an address).

The build goes into the object store once (ray.put); every task gets the reference, so each node
fetches the bytes once and each worker unpacks them once (eval_tasks.unpack). A task whose worker
dies (killed, out of memory, node lost) is retried by Ray (max_retries); the results file counts a key
once, so a retry that races a finished attempt cannot count twice. Results stream back with ray.wait
as they finish; a bounded window of tasks in flight keeps the driver small for 10 000s of runs.
"""

from __future__ import annotations

import logging
import signal
from typing import Callable, Iterator, Sequence, Tuple

from .eval_grid import Job
from .eval_tasks import BuildBlob, run_job

MAX_RETRIES = 3  # attempts after a worker died; a Python exception in the run is not retried (it is the result)
WINDOW_PER_CPU = 4
OBJECT_STORE_BYTES = 256 * 2**20  # a local runtime's store: a build is a few MB, a result row < 1 kB


def connect(cluster: str, num_cpus: int) -> bool:
    """Starts a local runtime ('auto') or connects to an address; True when this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    if cluster == "auto":
        ray.init(
            address="local",
            _node_ip_address="127.0.0.1",  # a local runtime stays on loopback
            num_cpus=max(1, num_cpus),
            include_dashboard=False,
            object_store_memory=OBJECT_STORE_BYTES,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    else:
        ray.init(address=cluster, logging_level=logging.WARNING, log_to_driver=False)
    return True


STALL_S = 600.0  # longer than any one run (a full-length scenario takes 30-60 s on one core)


def ray_stream(
    jobs: Sequence[Job], blob: BuildBlob, cluster: str, workers: int, task: Callable[[Job, BuildBlob], dict] = run_job
) -> Iterator[Tuple[Job, dict]]:
    import ray

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = connect(cluster, workers)
    for sig, handler in handlers.items():  # ray.init installs its own SIGTERM handler: ours stop the evaluation
        signal.signal(sig, handler)
    try:
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(task)
        blob_ref = ray.put(blob)
        capacity = int(ray.cluster_resources().get("CPU", 1))
        window = max(2, WINDOW_PER_CPU * capacity)
        todo = iter(jobs)
        pending = {}

        def submit() -> None:
            for job in todo:
                pending[remote.remote(job, blob_ref)] = job
                if len(pending) >= window:
                    return

        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=STALL_S)
            if not done:  # no run finished for STALL_S: a stuck cluster ends the evaluation, never hangs it
                from .eval_run import RunFailed

                raise RunFailed(
                    f"no run finished on the cluster for {STALL_S:g} s ({len(pending)} in flight): "
                    "is every node up (ray status)?"
                )
            for ref in done:
                job = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    from .eval_run import RunFailed

                    raise RunFailed(f"run {job.key} failed on the cluster: {_first_line(exc)}") from exc
                yield job, row
            submit()
    finally:
        if started:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
