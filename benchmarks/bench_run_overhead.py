"""The time a run spends outside training: per fold, and per set of jobs, side by side with the way it was before.

Two parts, on the embedded corpus of a finished ``make reproduce`` (``build/data`` and ``build/cache``):

1. **Per fold.** Each deep fold pooled every utterance's frames before training, and each linear baseline
   computed its utterance statistics; both depend on the features only. A worker keeps its feature store
   from job to job, and the store now keeps them (``FeatureStore.derived``): the first fold computes them,
   every later fold of that worker reads them. Printed: the milliseconds of computing them against reading
   them back.
2. **Per set of jobs.** ``Workbook.train_seeds`` trained one seed after another, each seed as its own set of
   jobs (a local cluster started, feature stores loaded, the last folds waiting for the slowest); it now
   trains all seeds as one set (``Workbook.train_many``), the slowest variants first. Printed: the wall
   time of both on the same folds (short training, ``--epochs``), the folds' own time, and what is left
   over (wall - fold time / workers).

Every fold gives the same numbers either way (``tests/test_jobs.py``, ``tests/test_train.py``).

    python benchmarks/bench_run_overhead.py            # after `make reproduce`; about 6 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.model import build_model  # noqa: E402
from tsin_nb.runs import cpu_cores, cpu_info  # noqa: E402
from tsin_nb.train import (  # noqa: E402
    baseline_features,
    feature_tensors,
    pool_once,
    speech_statistics,
    store_tensors,
    text_statistics,
)
from tsin_nb.workbook import Workbook  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def per_fold(wb: Workbook, repeats: int) -> None:
    torch.set_num_threads(1)  # what each training job uses
    store = wb.store()
    model = build_model(wb.model_cfg(), "tsin")
    cpu = torch.device("cpu")
    rows = store.index(wb.fold("SesI", 0).train)
    store_tensors(model, store, cpu)  # computed once, as the worker's first fold does
    baseline_features(store, rows, "lin_fusion")
    print(f"Per fold ({len(store)} utterances, {wb.preset} preset, 1 thread):")
    print(f"  {'work':<42} {'computed (ms)':>14} {'kept (ms)':>10} {'saved per fold (ms)':>20}")
    for name, fresh, kept in (
        ("frames pooled for a deep fold", lambda: pool_once(model, feature_tensors(store, cpu)),
         lambda: store_tensors(model, store, cpu)),
        ("utterance statistics for lin_fusion", lambda: (speech_statistics(store, rows), text_statistics(store, rows)),
         lambda: baseline_features(store, rows, "lin_fusion")),
    ):
        a, b = median_ms(fresh, repeats), median_ms(kept, repeats)
        print(f"  {name:<42} {a:>14.1f} {b:>10.2f} {a - b:>20.1f}")


def fold_seconds(folders: list[Path]) -> float:
    """The summed ``wall_s`` (training time) of every fold under ``folders``."""
    return sum(json.loads(p.read_text())["wall_s"] for d in folders for p in d.glob("*/*/*/metrics.json"))


def per_set(build: Path, variants: str, seeds: int, folds: int, epochs: int, jobs: int) -> None:
    ways = {}
    for way in ("one set per seed (before)", "one set for all seeds (now)"):
        with tempfile.TemporaryDirectory(prefix="tsin-overhead-") as tmp:
            for name in ("data", "cache"):  # the corpus and its features, read from the finished build
                (Path(tmp) / name).symlink_to((build / name).resolve())
            wb = Workbook.from_params(epochs=epochs, jobs=jobs, build_dir=tmp, fig_dir=str(Path(tmp) / "figures"))
            t0 = time.perf_counter()
            if way.startswith("one set per seed"):
                for k in range(seeds):
                    wb.train(variants, folds=folds, tag=wb.seed_tag(k), seed=wb.seed + k)
            else:
                wb.train_seeds(variants, seeds, folds=folds)
            wall = time.perf_counter() - t0
            ways[way] = (wall, fold_seconds(wb.seed_folders(seeds)), len(wb.status))
    workers = jobs or cpu_cores()
    print(f"\nPer set of jobs ({seeds} seeds x {folds} SesI folds x {len(variants.split(','))} variants, "
          f"{epochs} epoch(s), {workers} workers):")
    print(f"  {'':<30} {'folds':>6} {'wall (s)':>9} {'fold time (s)':>14} {'left over (s)':>14}")
    left = {}
    for way, (wall, fold_s, n) in ways.items():
        left[way] = wall - fold_s / workers
        print(f"  {way:<30} {n:>6} {wall:>9.1f} {fold_s:>14.1f} {left[way]:>14.1f}")
    before, now = ways["one set per seed (before)"][0], ways["one set for all seeds (now)"][0]
    print(f"  wall before / now: {before / now:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build folder of `make reproduce`")
    ap.add_argument("--variants", default="speech,text,no_ta,no_si,tsin,lin_speech,lin_text,lin_fusion")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1, help="short training: the overhead is the same")
    ap.add_argument("--jobs", type=int, default=0, help="folds at once (0: one per core)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    build = Path(args.build)
    if not (build / "cache").is_dir():
        raise SystemExit(f"{build}/cache not found: run `make reproduce` first (or pass --build)")
    cpu = cpu_info()
    print(f"torch {torch.__version__}; {cpu['model']}, {cpu['cores']} cores, AVX-512: {cpu['avx512']}")
    wb = Workbook.from_params(build_dir=str(build), fig_dir=str(build / "figures-unused"), jobs=1)
    per_fold(wb, args.repeats)
    per_set(build, args.variants, args.seeds, args.folds, args.epochs, args.jobs)


if __name__ == "__main__":
    main()
