"""Runs an evaluation's jobs on a backend and streams the results into the results file.

Backends: 'pool' (processes on this machine; the default, no extra needed), 'auto' (a local Ray
runtime started for this evaluation) or a Ray address ('ray://HOST:10001', 'HOST:6379'; RAY_ADDRESS
is read when --cluster is not given). Every backend runs the same task (eval_tasks.run_job), so the
same (scenario, seed, build) gives the same row wherever it ran.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, cast

from .eval_grid import Job
from .eval_results import ResultsFile
from .eval_tasks import BuildBlob, run_job

Stream = Iterator[Tuple[Job, dict]]


class RunFailed(RuntimeError):
    """A run raised (not a lost worker: that is retried). The results so far stay in the results file."""


def resolve_cluster(cluster: Optional[str]) -> str:
    """'pool' unless a cluster is asked for, by --cluster or RAY_ADDRESS."""
    cluster = cluster or os.environ.get("RAY_ADDRESS") or "pool"
    if cluster != "pool":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError(
                f"--cluster {cluster}: Ray is not installed (pip install 'vehicle_runtime[ray]')"
            ) from None
    return cluster


def _pool_stream(jobs: Sequence[Job], blob: BuildBlob, workers: int) -> Stream:
    if workers <= 1:
        for job in jobs:
            yield job, _guarded(run_job, job, blob)
        return
    # spawn, not fork: the calling process may hold threads (DDS, OpenCV's pool, a progress bar) whose locks a
    # forked worker would inherit taken; one did, and hung in cv2.setNumThreads for good
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_set_blob, initargs=(blob,), mp_context=spawn) as pool:
        pending = {}
        todo = iter(jobs)
        for job in todo:  # a bounded window: 10 000 jobs are not 10 000 futures at once
            pending[pool.submit(_run_with_blob, job)] = job
            if len(pending) >= 4 * workers:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                yield job, _guarded(lambda *_: fut.result(), job, blob)  # noqa: B023 -- called at once, inside the loop
                nxt = next(todo, None)
                if nxt is not None:
                    pending[pool.submit(_run_with_blob, nxt)] = nxt


def _guarded(fn, job: Job, blob: BuildBlob) -> dict:
    try:
        return fn(job, blob)
    except Exception as exc:  # noqa: BLE001 - any run's failure is reported with the run's key
        raise RunFailed(f"run {job.key} failed: {type(exc).__name__}: {exc}") from exc


_blob: Optional[BuildBlob] = None


def _set_blob(blob: BuildBlob) -> None:
    """Once per pool process: the build, and one CPU per run as Ray gives its tasks (OMP_NUM_THREADS=1);
    OpenCV's own thread pool in every worker oversubscribes the cores (measured: the pool 40 % slower)."""
    global _blob
    _blob = blob
    os.environ["OMP_NUM_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _run_with_blob(job: Job) -> dict:
    return run_job(job, cast(BuildBlob, _blob))  # cast: _set_blob ran first in this pool process


def execute(
    jobs: Sequence[Job],
    blob: BuildBlob,
    results: ResultsFile,
    cluster: str = "pool",
    workers: int = 1,
    progress: bool = True,
    on_result: Optional[Callable[[dict], None]] = None,
) -> List[dict]:
    """Runs the jobs whose key the results file does not hold yet; returns every row for `jobs`."""
    _refuse_other_runs(jobs, blob, results)
    todo = [j for j in jobs if j.key not in results.done()]
    bar = _bar(len(jobs), len(jobs) - len(todo), progress)
    try:
        stream: Stream
        if not todo:
            stream = iter(())  # everything is in the results file: no pool, no Ray start-up
        elif cluster == "pool":
            stream = _pool_stream(todo, blob, workers)
        else:
            from .eval_ray import ray_stream

            stream = ray_stream(todo, blob, cluster, workers)
        for _job, row in stream:  # RunFailed propagates; every row before it is in the results file
            if results.add(row) and on_result:
                on_result(row)
            if bar:
                bar.update(1)
    finally:
        if bar:
            bar.close()
        results.close()
    wanted = {j.key for j in jobs}
    return [r for r in results if r["key"] in wanted]


def _refuse_other_runs(jobs: Sequence[Job], blob: BuildBlob, results: ResultsFile) -> None:
    """A results file resumes the same evaluation only: rows of another build or duration would be mixed in."""
    for job in jobs:
        row = results.rows.get(job.key)
        if row is not None and (row.get("build"), row.get("duration_s")) != (blob.digest, job.duration_s):
            results.close()
            raise ValueError(
                f"{results.path} holds {job.key} from build {row.get('build')} with duration "
                f"{row.get('duration_s')}, not build {blob.digest} with duration {job.duration_s}: "
                "give another --results file"
            )


def _bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="run", desc="eval", file=sys.stderr, dynamic_ncols=True, disable=None
    )  # None: off when stderr is not a terminal
