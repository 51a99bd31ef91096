"""Many folds at once: local worker processes and a Dask cluster give the serial run's results, bit for bit;
failed jobs are reported while the others finish; a dead worker's fold is retried; bad settings are refused."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import torch
from corpora import write_corpus
from distributed import Client, LocalCluster

from tsin_nb.cli import main
from tsin_nb.runs import (
    CONNECT_TIMEOUT_S,
    LOCK,
    LOCK_STALE_S,
    TRIM_SETTING,
    FoldBusy,
    Plan,
    acquire_lock,
    connect,
    experiment,
    fold_status,
    local_cluster,
    longest_first,
    plan_jobs,
    prepare_experiment,
    release_lock,
    run_experiment,
    run_fold,
    run_prepared,
)
from tsin_nb.runs import jobs as jobs_mod

WORDS = {"ang": "no stop that now", "hap": "great fun today yes", "sad": "sorry so alone", "neu": "the table is here"}
RUN = dict(protocols="SesI", variants=("tsin", "speech", "lin_fusion"), preset="tiny", epochs=2, folds=2,
           text_model="random:16", progress=False, log=None)
FOLDS = [(v, f) for v in RUN["variants"] for f in ("Session1", "Session2")]
DEEP = ("tsin", "speech")  # the linear baseline has no history or checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest CSV: 3 sessions x 2 speakers x 8 utterances (2 per class) of 0.3 s noise."""
    root = tmp_path_factory.mktemp("corpus")
    df = write_corpus(root, WORDS.get)
    df.assign(wav_path=[Path(w).name for w in df["wav_path"]])[  # relative paths, as users write them
        ["utt_id", "wav_path", "text", "label", "speaker", "session", "gender"]].to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def serial(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial")
    run_experiment(corpus, out, **RUN, jobs=1)
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real two-worker Dask cluster, as `dask scheduler` + `dask worker --nthreads 1` would give."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         scheduler_kwargs={"dashboard_address": ":0"}, memory_limit=0) as c:
        yield c


def assert_same_folds(a: Path, b: Path, folds: list[tuple[str, str]] = FOLDS) -> None:
    """Metrics, history, predictions, outputs and checkpoint tensors of two runs are identical."""
    for variant, fold in folds:
        da, db = a / "SesI" / variant / fold, b / "SesI" / variant / fold
        assert (db / "DONE").exists(), f"{db} not finished"
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (da, db))
        for key in ("wa", "ua", "confusion", "n_test", "config", "fold_digest", "selected_epoch"):
            assert ma[key] == mb[key], (variant, fold, key)
        assert (da / "predictions.csv").read_bytes() == (db / "predictions.csv").read_bytes()
        with np.load(da / "outputs.npz") as za, np.load(db / "outputs.npz") as zb:
            assert za.files == zb.files
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{variant} {fold} {k}")
        if variant not in DEEP:
            continue
        ha, hb = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (da, db))
        pd.testing.assert_frame_equal(ha, hb, check_exact=True)
        ca, cb = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (da, db))
        for k, t in ca["model"].items():
            assert torch.equal(t, cb["model"][k]), (variant, fold, k)
        for i, st in ca["optimizer"]["state"].items():
            assert all(torch.equal(v, cb["optimizer"]["state"][i][n]) for n, v in st.items() if torch.is_tensor(v))


# ------------------------------------------------------ same results ---


def test_two_local_jobs_equal_one_after_another(corpus: Path, serial: Path, tmp_path: Path) -> None:
    logged: list[str] = []
    df = run_experiment(corpus, tmp_path, **{**RUN, "log": logged.append}, jobs=2)
    assert any("in 2 local worker processes" in line for line in logged)
    assert df[["variant", "fold"]].values.tolist() == [list(f) for f in FOLDS]
    assert_same_folds(serial, tmp_path)
    log = (tmp_path / "SesI" / "tsin" / "Session1" / "train.log").read_text()
    assert "epoch   2/2" in log and "test WA" in log and "1 torch thread" in log  # per-epoch lines per fold
    assert not list(tmp_path.glob("SesI/*/*/LOCK"))  # every lock released


def test_a_dask_cluster_gives_the_serial_results(corpus: Path, serial: Path, tmp_path: Path,
                                                 cluster: LocalCluster) -> None:
    run_experiment(corpus, tmp_path, **RUN, scheduler=cluster.scheduler_address)
    assert_same_folds(serial, tmp_path)
    log = (tmp_path / "SesI" / "tsin" / "Session1" / "train.log").read_text()
    assert "started on" in log and f"(pid {os.getpid()}," not in log  # it ran in a worker process


def test_runs_trained_together_equal_each_run_trained_alone(corpus: Path, serial: Path, tmp_path: Path,
                                                             cluster: LocalCluster) -> None:
    """Two seeds as one set of jobs (what Workbook.train_seeds does): each run's folds as if trained alone."""
    alone = tmp_path / "alone_seed1"
    run_experiment(corpus, alone, **{**RUN, "seed": 1}, jobs=1)
    prep = {k: v for k, v in RUN.items() if k != "log"}
    stores: dict = {}
    prepared = [prepare_experiment(corpus, tmp_path / name, **{**prep, "seed": seed}, cache_dir=tmp_path / "cache",
                                   stores=stores) for name, seed in (("seed0", 0), ("seed1", 1))]
    assert len(stores) == 1  # the two seeds read one feature store
    assert [len(p.todo) for p in prepared] == [len(FOLDS)] * 2
    plan = plan_jobs(scheduler=cluster.scheduler_address)
    tables = run_prepared(prepared, plan, progress=False, log=None)
    assert_same_folds(serial, tmp_path / "seed0")
    assert_same_folds(alone, tmp_path / "seed1")
    for table in tables:
        assert table[["variant", "fold"]].values.tolist() == [list(f) for f in FOLDS]
        status = fold_status(table)
        assert len(status) == len(FOLDS) and set(status["status"]) == {"trained"} and status["wall_s"].notna().all()
    again = run_prepared([prepare_experiment(corpus, tmp_path / "seed1", **{**prep, "seed": 1},
                                             cache_dir=tmp_path / "cache")], plan,
                         progress=False, log=None)[0]
    assert set(fold_status(again)["status"]) == {"reused"}


def test_the_slowest_variants_are_sent_first_and_runs_of_two_corpora_are_refused(corpus: Path, tmp_path: Path) -> None:
    prep = {k: v for k, v in RUN.items() if k != "log"}
    runs = prepare_experiment(corpus, tmp_path / "a", **{**prep, "variants": ("lin_fusion", "text", "speech", "tsin")})
    order = [job.variant for job in longest_first(runs.todo)]
    assert order == ["tsin", "tsin", "speech", "speech", "text", "text", "lin_fusion", "lin_fusion"]
    assert [job.fold.name for job in longest_first(runs.todo)][:2] == ["Session1", "Session2"]  # order kept within
    manifest = pd.read_csv(corpus)
    other = prepare_experiment(manifest.iloc[:-4].assign(wav_path=[str(corpus.parent / w) for w in
                                                                   manifest["wav_path"].iloc[:-4]]),
                               tmp_path / "b", **prep)
    with pytest.raises(ValueError, match="share one manifest"):
        run_prepared([runs, other], Plan(workers=1, threads=1), progress=False, log=None)


def test_a_failing_job_is_reported_and_the_others_kept_then_a_rerun_finishes(
        corpus: Path, serial: Path, tmp_path: Path, cluster: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "SesI" / "tsin" / "Session2"
    bad.mkdir(parents=True)
    for name in ("checkpoint.pt", "content.json.gz"):  # another fold's unfinished training: this one cannot resume
        shutil.copy(serial / "SesI" / "tsin" / "Session1" / name, bad / name)
    argv = ["run", "--corpus", str(corpus), "--out", str(tmp_path), "--variants", "tsin,speech", "--preset", "tiny",
            "--epochs", "2", "--folds", "2", "--text-model", "random:16", "--scheduler", cluster.scheduler_address]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "1 of 4 jobs failed" in captured.err and "SesI tsin Session2" in captured.err
    assert not (bad / "DONE").exists() and not (bad / "LOCK").exists()
    assert "Traceback" in (bad / "train.log").read_text()
    others = [f for f in FOLDS if f != ("tsin", "Session2") and f[0] in DEEP]
    assert_same_folds(serial, tmp_path, others)
    assert "Table I" in captured.out  # the finished folds are still tabulated

    stamps = {f: (tmp_path / "SesI" / f[0] / f[1] / "DONE").stat().st_mtime_ns for f in others}
    for name in ("checkpoint.pt", "content.json.gz"):
        (bad / name).unlink()
    logged: list[str] = []
    run_experiment(corpus, tmp_path, **{**RUN, "log": logged.append}, scheduler=cluster.scheduler_address)
    assert sum("done before, skipped" in line for line in logged) == 3  # lin_fusion is new
    assert stamps == {f: (tmp_path / "SesI" / f[0] / f[1] / "DONE").stat().st_mtime_ns for f in others}
    assert_same_folds(serial, tmp_path)


def test_a_worker_that_dies_mid_fold_is_replaced_and_the_fold_retried(
        corpus: Path, serial: Path, tmp_path: Path, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "died-once"

    def die_after_first_epoch(job, manifest, log):  # the first try kills its worker after epoch 1 is saved
        def dying_log(msg: str) -> None:
            log(msg)
            if job.variant == "tsin" and job.fold.name == "Session1" and "epoch   1/2" in msg and not marker.exists():
                marker.touch()
                os._exit(1)
        return run_fold(job, manifest, dying_log)

    monkeypatch.setattr(experiment, "run_fold", die_after_first_epoch)  # the job, not the engine, is changed
    run_experiment(corpus, tmp_path, **RUN, scheduler=cluster.scheduler_address)
    assert marker.exists()
    log = (tmp_path / "SesI" / "tsin" / "Session1" / "train.log").read_text()
    assert "took over the stale lock" in log and "is gone" in log  # the dead worker's lock
    assert "resumed from" in log and "after epoch 1/2" in log  # the retry continued from the saved epoch
    assert_same_folds(serial, tmp_path)


# ------------------------------------------------------ bad settings ---


@pytest.mark.parametrize("kw, match", [
    ({"jobs": -1}, "jobs must be 0"), ({"threads_per_job": 0}, "threads_per_job must be at least 1"),
    ({"jobs": 1.5}, "jobs must be"), ({"scheduler": "no-such-scheduler.json"}, "neither an address"),
])
def test_bad_settings_are_refused_before_anything_is_written(corpus: Path, tmp_path: Path, kw: dict,
                                                             match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run_experiment(corpus, tmp_path / "out", **{**RUN, **kw})
    assert not (tmp_path / "out").exists()


def test_a_scheduler_that_does_not_answer_fails_within_seconds(corpus: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a free port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=f"no Dask scheduler answered at tcp://127.0.0.1:{port}"):
        run_experiment(corpus, tmp_path / "out", **RUN, scheduler=f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - t0 < 4 * CONNECT_TIMEOUT_S
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as refused:  # one line naming --jobs, before any work
        main(["run", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--jobs", "-2"])
    assert refused.value.code == 2 and not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_jobs_per_gpu_without_a_gpu_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs_per_gpu=2 needs a CUDA GPU"):
        plan_jobs(jobs=0, jobs_per_gpu=2, device="auto")


def test_jobs_and_threads_are_clamped_to_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_mod, "cpu_cores", lambda: 4)
    assert plan_jobs(jobs=0, device="cpu").workers == 4
    assert plan_jobs(jobs=0, threads_per_job=2, device="cpu").workers == 2
    with pytest.warns(UserWarning, match="running 2 at once"):
        assert plan_jobs(jobs=3, threads_per_job=2, device="cpu") == Plan(workers=2, threads=2)
    with pytest.warns(UserWarning, match="threads_per_job=8 exceeds the 4 CPU cores"):
        assert plan_jobs(jobs=1, threads_per_job=8, device="cpu") == Plan(workers=1, threads=4)


def test_local_gpu_workers_each_see_one_gpu() -> None:
    # the spread itself needs no GPU: each worker process gets its own CUDA_VISIBLE_DEVICES and a GPU resource
    with local_cluster(Plan(workers=4, threads=1, gpus=("0", "1")), 4) as client:
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        resources = {w["name"]: w["resources"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    assert sorted(seen.values()) == ["0", "0", "1", "1"]
    assert all(r == {"GPU": 1} for r in resources.values())


def test_local_workers_keep_the_malloc_defaults() -> None:
    # Dask's default MALLOC_TRIM_THRESHOLD_ switches off glibc's dynamic mmap threshold: torch ran 2.4x slower
    assert dask.config.get(TRIM_SETTING) is not None  # Dask sets it unless told otherwise
    for plan in (Plan(workers=2, threads=1), Plan(workers=2, threads=1, gpus=("0",))):
        with local_cluster(plan, 2) as client:
            seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(seen.values()) == [None, None]


# --------------------------------------------------------------- locks ---


def test_a_live_lock_makes_the_job_busy_and_a_dead_one_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "fold"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        folder.mkdir()
        lock = folder / LOCK
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": child.pid, "started": "then"}))
        with pytest.raises(FoldBusy, match=f"pid {child.pid}"):
            acquire_lock(folder)
    finally:
        child.kill()
        child.wait()
    path, note = acquire_lock(folder)  # the holder is gone now
    assert f"process {child.pid} on this host is gone" in note
    assert json.loads(path.read_text())["pid"] == os.getpid()
    release_lock(path)
    assert not path.exists()

    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": "then"}))
    with pytest.raises(FoldBusy, match="host elsewhere"):
        acquire_lock(folder)  # another host, touched just now
    old = time.time() - LOCK_STALE_S - 60
    os.utime(lock, (old, old))
    _, note = acquire_lock(folder)
    assert "not touched for 61 min" in note


def test_a_client_reaches_the_cluster_from_a_scheduler_file(cluster: LocalCluster, tmp_path: Path) -> None:
    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"address": cluster.scheduler_address}))
    with connect(path) as client:
        assert isinstance(client, Client) and client.scheduler_info(n_workers=-1)["workers"]
