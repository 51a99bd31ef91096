"""Protocol x variant x fold as independent jobs: in this process, in local worker processes, or on a Dask cluster.

Every job runs with the same number of torch threads (``threads_per_job``) whichever way it runs, so one
job after another and many at once give bit-identical results. Local workers are a ``dask.distributed``
``LocalCluster`` of single-threaded processes; with G GPUs each local worker sees one GPU through
``CUDA_VISIBLE_DEVICES`` (``jobs_per_gpu`` workers per GPU). ``scheduler`` sends the same tasks to a running
Dask cluster instead; workers that declare a ``GPU`` resource get the GPU jobs, one per ``GPU=1``.

Workers read the feature store from the on-disk cache (``build_feature_store`` is a cache hit there) and keep
the last one in memory for the next job; the store is never sent with a job. Each job appends its log lines
to ``<fold>/train.log``.

One writer per fold: a job creates ``<fold>/LOCK`` with ``O_CREAT | O_EXCL`` (holding host, pid and start
time), touches it after every log line (every epoch) and removes it when it ends, finished or failed. A lock
is stale, and taken over, when its process is gone (same host: ``os.kill(pid, 0)`` fails) or when it was not
touched for ``LOCK_STALE_S`` seconds (another host). A live lock makes the job fail as busy; nothing waits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from tsin_nb.core import TSINConfig, show_progress
from tsin_nb.features import FeatureStore
from tsin_nb.runs.folds import Fold
from tsin_nb.runs.locks import acquire_lock, release_lock

LOG = "train.log"
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT_S = 5.0

#: Job function: ``fn(job, manifest, log) -> results row``.
JobFn = Callable[["Job", pd.DataFrame, Callable[[str], None]], dict[str, Any]]

_STORES: dict[str, FeatureStore] = {}  # the feature store this process trained on last, by key
_ONE_JOB_AT_A_TIME = threading.Lock()  # torch threads and RNGs are per process: never two jobs at once


@dataclass(frozen=True)
class Job:
    """One protocol x variant x fold: what a worker needs to fit and save it (no feature tensors)."""

    protocol: str
    variant: str
    fold: Fold
    fold_dir: str
    cfg: TSINConfig  # the run's config; the store's widths are applied in the worker
    meta: dict[str, Any]  # written into metrics.json
    cache_dir: str
    device: str
    store_key: str  # equal keys train on the same feature store, kept in memory between jobs
    per_fold_store: bool = False  # onehot: the vocabulary comes from this fold's training part
    content: dict[str, Any] | None = None  # content.fold_content: the data this fold trains and tests on

    @property
    def name(self) -> str:
        """``SesI tsin Session1``."""
        return f"{self.protocol} {self.variant} {self.fold.name}"


@dataclass(frozen=True)
class Plan:
    """How the jobs of one run are executed."""

    workers: int  # job slots on this machine; 1 runs the jobs in this process
    threads: int  # torch CPU threads of every job
    scheduler: str | None = None  # a Dask scheduler address or file: run there instead
    gpus: tuple[str, ...] = ()  # CUDA_VISIBLE_DEVICES of the local workers, round robin
    resources: dict[str, float] | None = None  # Dask resources every task asks for

    def describe(self) -> str:
        """One line for the log."""
        where = (f"on the Dask cluster at {self.scheduler}" if self.scheduler else
                 "in this process" if self.workers == 1 else
                 f"in {self.workers} local worker processes" + (f" over GPUs {','.join(self.gpus)}" if self.gpus else ""))
        return f"jobs run {where}, {self.threads} torch thread{'s' * (self.threads > 1)} each"


class JobsFailed(RuntimeError):
    """Some jobs failed; every other job finished and was saved."""

    def __init__(self, failures: list[tuple[Job, str]], rows: list[dict[str, Any]]) -> None:
        self.failures = failures
        self.rows = rows
        lines = "\n".join(f"  {job.name} ({job.fold_dir}): {msg}" for job, msg in failures)
        super().__init__(
            f"{len(failures)} of {len(failures) + len(rows)} jobs failed; the others finished and are kept, and a "
            f"rerun retries only the failed ones (each fold's train.log has the traceback):\n{lines}")


# ------------------------------------------------------------ machine ---


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus(device: str) -> tuple[str, ...]:
    """The CUDA devices jobs may use as ``CUDA_VISIBLE_DEVICES`` entries; empty on CPU."""
    if device == "cpu" or not torch.cuda.is_available():
        return ()
    dev = torch.device("cuda" if device == "auto" else device)
    if dev.type != "cuda":
        return ()
    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    ids = (listed or [str(i) for i in range(count)])[:count]
    return (ids[dev.index],) if dev.index is not None and dev.index < len(ids) else tuple(ids)


def _count(name: str, value: Any, low: int, meaning: str) -> int:
    """``value`` as an int of at least ``low``, else a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be {meaning}, got {value!r}")
    return value


def plan_jobs(jobs: int = 1, threads_per_job: int = 1, scheduler: str | os.PathLike | None = None,
              jobs_per_gpu: int = 1, device: str = "auto") -> Plan:
    """Check the parallel settings and decide how many jobs run at once (a scheduler is contacted now)."""
    jobs = _count("jobs", jobs, 0, "0 (as many as this machine runs well) or a positive number of folds at once")
    threads = _count("threads_per_job", threads_per_job, 1, "at least 1 (torch CPU threads of each job)")
    per_gpu = _count("jobs_per_gpu", jobs_per_gpu, 1, "at least 1 (jobs sharing one GPU)")
    if scheduler:
        if per_gpu != 1:
            raise ValueError("jobs_per_gpu applies to jobs on this machine; on a Dask cluster start K worker "
                             "processes per GPU instead (dask worker ADDRESS --nworkers K --nthreads 1 --resources GPU=1)")
        if jobs > 1:
            warnings.warn(f"jobs={jobs} is ignored with a scheduler: its workers decide how many folds run at once",
                          stacklevel=2)
        with connect(scheduler) as client:  # fails within seconds when nothing answers, before anything is written
            info = client.scheduler_info(n_workers=-1)["workers"]
        if not info:
            warnings.warn(f"the Dask scheduler at {scheduler} has no workers yet; the jobs wait for them", stacklevel=2)
        gpu_workers = any(w.get("resources", {}).get("GPU", 0) > 0 for w in info.values())
        return Plan(workers=0, threads=threads, scheduler=str(scheduler),
                    resources={"GPU": 1} if gpu_workers and device != "cpu" else None)

    cores = cpu_cores()
    if threads > cores:
        warnings.warn(f"threads_per_job={threads} exceeds the {cores} CPU cores here; using {cores}", stacklevel=2)
        threads = cores
    gpus = visible_gpus(device)
    if per_gpu != 1 and not gpus:
        raise ValueError(f"jobs_per_gpu={per_gpu} needs a CUDA GPU, but device={device!r} finds none here; "
                         "on CPU leave jobs_per_gpu at 1 and set jobs (0: one job per CPU core)")
    limit = cores // threads
    if gpus:
        limit = min(limit, len(gpus) * per_gpu)
    workers = jobs or limit
    if workers > limit:
        why = (f"{len(gpus)} GPU(s) x jobs_per_gpu={per_gpu}" if gpus and limit < cores // threads else
               f"{cores} CPU cores / threads_per_job={threads}")
        warnings.warn(f"jobs={jobs} is more than this machine runs well ({why}); running {limit} at once, as "
                      "oversubscribed torch threads slow every job down", stacklevel=2)
        workers = limit
    return Plan(workers=max(1, workers), threads=threads, gpus=gpus)


# -------------------------------------------------------------- stores ---


def manifest_key(manifest: pd.DataFrame) -> str:
    """A digest of the manifest's rows and of each wav's size and modification time."""
    from tsin_nb.features import hash_key

    cols = [c for c in ("utt_id", "wav_path", "text", "label", "words") if c in manifest.columns]
    rows = pd.util.hash_pandas_object(manifest[cols].astype(str), index=False).tolist()
    stamps = []
    for wav in manifest["wav_path"].astype(str):
        try:
            st = os.stat(wav)
            stamps.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return hash_key({"rows": rows, "wavs": stamps})


def store_key(manifest_digest: str, cfg: TSINConfig, cache_dir: str | os.PathLike,
              train_ids: Sequence[str] | None = None) -> str:
    """Names the feature store of one manifest, config and cache (and training part, for ``onehot``).

    Only the config's feature settings enter (``tsin_nb.features.FEATURE_FIELDS``): runs that differ in seed, model
    or training read the same store, and a worker keeps it in memory from one such job to the next.
    """
    from tsin_nb.features import feature_settings, hash_key

    return hash_key({"manifest": manifest_digest, "features": feature_settings(cfg),
                     "cache": str(Path(cache_dir).resolve()),
                     "train": hash_key(list(train_ids)) if train_ids is not None else None})


def cached_store(key: str, build: Callable[[], FeatureStore]) -> FeatureStore:
    """The feature store named ``key``: built (from the disk cache) once, then kept for the next job of this process."""
    if key not in _STORES:
        _STORES.clear()  # keep one store per process
        _STORES[key] = build()
    return _STORES[key]


# ------------------------------------------------------------- one job ---


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads, then restore the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute(fn: JobFn, job: Job, manifest: pd.DataFrame, threads: int,
            echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one job here: hold the fold's lock, use ``threads`` torch threads, log to its train.log (and ``echo``)."""
    with _ONE_JOB_AT_A_TIME:
        lock, note = acquire_lock(job.fold_dir)
        try:
            with open(Path(job.fold_dir) / LOG, "a", buffering=1) as f, torch_threads(threads):
                def log(msg: str) -> None:
                    f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
                    with contextlib.suppress(OSError):
                        os.utime(lock)  # heartbeat: the lock stays fresh while epochs finish
                    if echo is not None:
                        echo(msg)

                if note:
                    log(note)
                gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
                log(f"{job.name}: started on {socket.gethostname()} (pid {os.getpid()}, {threads} torch "
                    f"thread{'s' * (threads > 1)}{f', CUDA_VISIBLE_DEVICES={gpu}' if gpu is not None else ''})")
                try:
                    return fn(job, manifest, log)
                except Exception:
                    f.write(traceback.format_exc())
                    raise
        finally:
            release_lock(lock)


# ------------------------------------------------------------ many jobs ---


def connect(scheduler: str | os.PathLike, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of a scheduler address or scheduler file; a clear error within seconds otherwise."""
    from distributed import Client

    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    target = str(scheduler)
    path = Path(target).expanduser()
    if "://" in target:
        kw = {"address": target}
    elif path.is_file():
        kw = {"scheduler_file": str(path)}
    elif re.fullmatch(r"[\w.\-]+:\d+", target):
        kw = {"address": f"tcp://{target}"}
    else:
        raise ValueError(f"scheduler {target!r} is neither an address such as tcp://host:8786 nor an existing "
                         "scheduler file")
    try:
        return Client(**kw, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, KeyError) as err:
        raise ConnectionError(f"no Dask scheduler answered at {target} within {timeout:g} s ({err}); start one "
                              "(`dask scheduler`, see the README) or fix the address or scheduler file") from None


@contextlib.contextmanager
def local_cluster(plan: Plan, n: int) -> Iterator[Any]:
    """A client of ``n`` single-threaded local worker processes; with GPUs, each worker sees one of them."""
    import dask
    import distributed  # noqa: F401  (loads Dask's distributed defaults before one of them is changed)

    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which switches off glibc's dynamic mmap
    # threshold: every large tensor is then mapped and unmapped again, and torch training ran 2.4x slower per
    # job here. The workers of this cluster keep glibc's defaults (see the README for workers started by hand).
    # A nanny sets the variable in the process that hosts it, so an earlier cluster of this process may have
    # left it in os.environ, from where new workers would inherit it: it is held back while they start.
    held = os.environ.pop(MALLOC_TRIM, None)
    try:
        with dask.config.set({TRIM_SETTING: None}), _cluster(plan, n) as client:
            yield client
    finally:
        if held is not None:
            os.environ[MALLOC_TRIM] = held


#: The glibc variable, and the Dask setting that exports it to every worker a nanny starts.
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
TRIM_SETTING = f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM}"


@contextlib.contextmanager
def _cluster(plan: Plan, n: int) -> Iterator[Any]:
    """The local cluster of :func:`local_cluster`, under the Dask settings it sets."""
    from distributed import Client, LocalCluster, Nanny, Scheduler, SpecCluster

    if plan.gpus:  # one CUDA_VISIBLE_DEVICES per worker, as dask-cuda's LocalCUDACluster does
        workers = {f"gpu{plan.gpus[i % len(plan.gpus)]}-{i}": {"cls": Nanny, "options": {
            "nthreads": 1, "memory_limit": 0, "resources": {"GPU": 1}, "host": "127.0.0.1",
            "env": {"CUDA_VISIBLE_DEVICES": plan.gpus[i % len(plan.gpus)]}}} for i in range(n)}
        scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": False, "dashboard_address": ":0"}}
        cluster = SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)
    else:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},  # any free port
                               silence_logs=logging.ERROR)
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def _failure(err: BaseException) -> str:
    """A one-line reason for a failed job."""
    from distributed import KilledWorker

    if isinstance(err, KilledWorker):
        return f"the worker process died while running it, on every try (out of memory?): {err}"
    return f"{type(err).__name__}: {err}"


def run_jobs(jobs: Sequence[Job], manifest: pd.DataFrame, fn: JobFn, plan: Plan, progress: bool = True,
             log: Callable[[str], None] | None = print, done: int = 0,
             stores: dict[str, FeatureStore] | None = None) -> list[dict[str, Any]]:
    """Run ``fn(job, manifest, log)`` for every job as ``plan`` says; the rows of all, or JobsFailed naming the failed.

    ``done`` folds finished before count towards the one progress bar; ``stores`` are feature stores this
    process already holds, by key, for the jobs run here.
    """
    if log is print:
        log = tqdm.write  # keeps the bar intact
    say = log or (lambda _msg: None)
    rows: list[dict[str, Any]] = []
    failures: list[tuple[Job, str]] = []
    bar = tqdm(total=done + len(jobs), initial=done, disable=not show_progress(progress), desc="folds", unit="fold")

    def failed(job: Job, err: BaseException) -> None:
        failures.append((job, _failure(err)))
        say(f"{job.name}: FAILED ({failures[-1][1]})")

    try:
        if not jobs:
            return rows
        if plan.scheduler is None and (plan.workers == 1 or len(jobs) == 1):
            _STORES.update(stores or {})
            for job in jobs:
                try:
                    rows.append(execute(fn, job, manifest, plan.threads, echo=say))
                except Exception as err:
                    failed(job, err)
                bar.update(1)
        else:
            from distributed import as_completed

            if plan.gpus:  # each local worker sees one GPU, as cuda:0
                jobs = [j if j.device == "cpu" else dataclasses.replace(j, device="cuda") for j in jobs]
            n = min(plan.workers, len(jobs))
            say(Plan(n, plan.threads, plan.scheduler, plan.gpus, plan.resources).describe())
            with (connect(plan.scheduler) if plan.scheduler else local_cluster(plan, n)) as client:
                if plan.scheduler and not client.scheduler_info(n_workers=-1)["workers"]:
                    say(f"waiting for a Dask worker to join {plan.scheduler}")
                client.wait_for_workers(1)
                shared = client.scatter(manifest, broadcast=True, hash=False)
                futures = {client.submit(execute, fn, job, shared, plan.threads, pure=False, resources=plan.resources,
                                         key=f"tsin-{job.protocol}-{job.variant}-{job.fold.name}-{uuid.uuid4().hex[:8]}"):
                           job for job in jobs}
                for future in as_completed(futures, loop=client.loop):
                    job = futures[future]
                    try:
                        row = future.result()
                    except Exception as err:
                        failed(job, err)
                    else:
                        rows.append(row)
                        say(f"{job.name}: test WA {100 * row['wa']:.2f} UA {100 * row['ua']:.2f}")
                    bar.update(1)
    finally:
        bar.close()
        _STORES.clear()
    if failures:
        raise JobsFailed(failures, rows)
    return rows

