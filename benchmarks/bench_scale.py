"""Many folds at once: training throughput with 1 and N concurrent jobs, on CPU and (when present) on one GPU.

Usage: ``python benchmarks/bench_scale.py [--quick] [--reproduce] [--skip-cpu] [--skip-gpu]``.

CPU: ``run_experiment`` of the ``cpu`` preset on the embedded corpus (features cached first, not timed), once per
``--jobs`` value in a fresh results folder, side by side: wall time (worker start-up included), training
samples/s (training utterances x epochs over all folds / wall time), the ratio to the first value, and whether
metrics and predictions equal the first run's. ``--reproduce`` also times the training that ``make reproduce``
does (the ``run_experiment`` calls of notebooks 04-09 with their defaults) both ways.

GPU (``torch.cuda.is_available()``): 1, 2, 4, 8, 16 processes on one device, each stepping the ``paper`` preset
(TSIN, batch 64, bf16 autocast, Adam: the step of ``tsin_nb.train.fit``) on random padded batches, all started
together: total and per-job samples/s, peak memory per job (allocated and reserved by torch; the CUDA context,
about 0.5 GiB per process, comes on top), and the projected wall time of Tables I + V at IEMOCAP size (5,531
utterances, 5 variants x 25 folds, 80 epochs, a tenth of each training part held out for validation) at that
rate. TSIN's rate is used for every variant (the ablations are lighter, so this is an upper bound) and
evaluation passes are left out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import device_name, random_batch  # noqa: E402

from tsin_nb.core import TSINConfig  # noqa: E402

#: IEMOCAP's four-class size and the folds of Tables I and V: every utterance is tested once per protocol,
#: so the training parts of one protocol sum to (folds - 1) x 5531: 4 (SesI) + 9 (SpkI) + 9 (SpkD).
IEMOCAP_UTTERANCES = 5531
TRAIN_PARTS_PER_VARIANT = 4 + 9 + 9
PAPER_EPOCHS = 80
PAPER_VARIANTS = 5


def tables_one_and_five_samples(val_fraction: float = 0.1) -> float:
    """Training samples of Tables I + V at IEMOCAP size: 5 variants x 25 folds x 80 epochs."""
    return PAPER_VARIANTS * PAPER_EPOCHS * TRAIN_PARTS_PER_VARIANT * IEMOCAP_UTTERANCES * (1 - val_fraction)


# ------------------------------------------------------------------- CPU ---


def _fold_files(out: Path) -> dict[str, tuple]:
    """(wa, ua, confusion, predictions.csv bytes) of every finished fold under ``out``."""
    found = {}
    for done in sorted(out.glob("*/*/*/DONE")):
        m = json.loads((done.parent / "metrics.json").read_text())
        found[str(done.parent.relative_to(out))] = (m["wa"], m["ua"], m["confusion"],
                                                   (done.parent / "predictions.csv").read_bytes())
    return found


def _samples(out: Path) -> int:
    """Training utterances x epochs over every finished fold under ``out``."""
    return sum(json.loads(p.read_text())["n_train"] * json.loads(p.read_text())["epochs"]
               for p in out.glob("*/*/*/metrics.json"))


def _calls(args: argparse.Namespace) -> list[dict]:
    """The run_experiment calls to time: one workload, or the training of ``make reproduce``."""
    common = dict(preset=args.preset, epochs=args.epochs, seed=0)
    if not args.reproduce:
        return [dict(common, protocols=args.protocol, variants=args.variants, folds=args.folds or None)]
    return [  # notebooks 04/05 + 08 (Table I, Fig. 3), 06 (Table V, Fig. 4), 07 (Figs. 5-7), 09 (fold 1 of SesI)
        dict(common, protocols="SesI,SpkI,SpkD", variants="tsin", folds=args.folds or None),
        dict(common, protocols="SesI", variants="speech,text,no_ta,no_si,tsin", folds=args.folds or None),
        dict(common, protocols="SesI", variants="tsin", folds=args.folds or None, text_model="onehot", tag="onehot"),
        dict(common, protocols="SesI", variants="tsin", folds=args.folds or None, text_model="random", tag="random"),
        dict(common, protocols="SpkI,SpkD", variants="speech,text", folds=1),
    ]


def bench_cpu(args: argparse.Namespace) -> None:
    """run_experiment with each --jobs value on the same workload, side by side."""
    from tsin_nb.data import make_synthetic_corpus
    from tsin_nb.features import build_feature_store
    from tsin_nb.runs import cpu_cores, run_experiment

    build = Path(args.build).resolve()
    corpus = make_synthetic_corpus(build / "data" / f"synthetic_n{args.corpus_size}_s0", n_utterances=args.corpus_size)
    bench = build / "bench_scale"
    cache = bench / "cache"
    calls = _calls(args)
    from tsin_nb.data import load_corpus

    manifest = load_corpus(corpus, progress=False)
    for kind in sorted({c.get("text_model", "minilm") for c in calls} - {"onehot"}):  # onehot is per fold
        cfg = TSINConfig.preset(args.preset).replace(text_model=kind)
        build_feature_store(manifest, cfg, cache, text_model=kind, progress=False)  # not timed

    jobs_list = [int(j) for j in args.jobs.split(",")]
    print(f"CPU: {device_name(torch.device('cpu'))}, {cpu_cores()} cores | corpus {args.corpus_size} utterances | "
          f"preset {args.preset} | {'make reproduce training' if args.reproduce else _describe(calls[0])}")
    rows, first = [], None
    for jobs in jobs_list:
        out = bench / f"jobs{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        for call in calls:
            call = dict(call)
            tag = call.pop("tag", "")
            run_experiment(corpus, out / (tag or "main"), cache_dir=cache, device="cpu", progress=False, log=None,
                           jobs=jobs, threads_per_job=args.threads_per_job, **call)
        wall = time.perf_counter() - t0
        folds = {f"{tag}/{k}": v for tag in sorted(p.name for p in out.iterdir()) for k, v in _fold_files(out / tag).items()}
        samples = sum(_samples(p) for p in out.iterdir())
        same = "-" if first is None else ("yes" if folds == first else "NO")
        first = folds if first is None else first
        rows.append((jobs, len(folds), wall, samples / wall, same))
        print(f"  jobs {jobs}: {len(folds)} folds in {wall:.1f} s", flush=True)
    print()
    print(f"{'jobs':>4} {'threads/job':>11} {'folds':>5} {'wall s':>8} {'samples/s':>10} {'ratio':>6} {'same results':>12}")
    for jobs, n, wall, sps, same in rows:
        print(f"{jobs:4d} {args.threads_per_job:11d} {n:5d} {wall:8.1f} {sps:10.1f} {sps / rows[0][3]:6.2f} {same:>12}")
    print()


def _describe(call: dict) -> str:
    folds = call.get("folds") or "all"
    return f"{call['protocols']} x {call['variants']} x {folds} folds, {call.get('epochs') or 'preset'} epochs"


# ------------------------------------------------------------------- GPU ---


def _gpu_worker(rank: int, preset: str, variant: str, batch: int, warmup: int, steps: int,
                barrier: mp.synchronize.Barrier, results: mp.Queue) -> None:
    """One job: step the model ``warmup`` times, wait for the others, then time ``steps`` steps."""
    try:
        from tsin_nb.model import build_model, loss_fn

        torch.set_num_threads(1)
        device = torch.device("cuda")
        cfg = TSINConfig.preset(preset)
        torch.manual_seed(rank)
        model = build_model(cfg, variant).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        speech, speech_mask, text, text_mask, y = random_batch(cfg, batch, device, seed=rank)

        def step() -> None:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(speech, speech_mask, text, text_mask).logits  # (B, C)
            loss = loss_fn(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(warmup):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        barrier.wait()
        t0 = time.time()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        t1 = time.time()
        results.put((rank, t0, t1, torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved(), None))
    except Exception as err:  # reported by the parent
        barrier.abort()
        results.put((rank, 0.0, 0.0, 0, 0, f"{type(err).__name__}: {err}"))


def bench_gpu(args: argparse.Namespace) -> None:
    """k processes training at once on one GPU, for each k."""
    ctx = mp.get_context("spawn")
    total = tables_one_and_five_samples()
    mps = Path(os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps")).exists()
    print(f"GPU: {torch.cuda.get_device_name(0)} | preset {args.gpu_preset}, {args.gpu_variant}, batch {args.batch}, "
          f"bf16 | {args.steps} timed steps per job after {args.warmup} | CUDA MPS {'on' if mps else 'off'}")
    print(f"Tables I + V at IEMOCAP size: {total / 1e6:.1f} M training samples "
          f"({PAPER_VARIANTS} variants x 25 folds x {PAPER_EPOCHS} epochs)")
    rows = []
    for k in [int(c) for c in args.concurrency.split(",")]:
        barrier, results = ctx.Barrier(k), ctx.Queue()
        procs = [ctx.Process(target=_gpu_worker, args=(r, args.gpu_preset, args.gpu_variant, args.batch, args.warmup,
                                                      args.steps, barrier, results)) for r in range(k)]
        for p in procs:
            p.start()
        got = [results.get(timeout=900) for _ in procs]
        for p in procs:
            p.join()
        errors = [e for *_, e in got if e]
        if errors:
            print(f"  {k} jobs: failed ({errors[0]})", flush=True)
            rows.append((k, None, None, None, None, errors[0]))
            continue
        start, end = min(g[1] for g in got), max(g[2] for g in got)
        sps = k * args.steps * args.batch / (end - start)
        alloc = max(g[3] for g in got) / 2**30
        reserved = max(g[4] for g in got) / 2**30
        rows.append((k, sps, sps / k, alloc, reserved, None))
        print(f"  {k} jobs: {sps:.0f} samples/s", flush=True)
    print()
    print(f"{'jobs':>4} {'samples/s':>10} {'per job':>8} {'peak alloc GiB/job':>18} {'peak reserved GiB/job':>21} "
          f"{'Tables I+V (h)':>14}")
    for k, sps, per, alloc, reserved, err in rows:
        if err:
            print(f"{k:4d} failed: {err}")
            continue
        print(f"{k:4d} {sps:10.0f} {per:8.0f} {alloc:18.2f} {reserved:21.2f} {total / sps / 3600:14.2f}")
    print()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs, not a measurement")
    p.add_argument("--skip-cpu", action="store_true")
    p.add_argument("--skip-gpu", action="store_true")
    p.add_argument("--build", default=str(ROOT / "build"), help="build folder (corpus, caches, results)")
    cpu = p.add_argument_group("CPU")
    cpu.add_argument("--jobs", default="1,2", help="comma list of --jobs values")
    cpu.add_argument("--threads-per-job", type=int, default=1)
    cpu.add_argument("--corpus-size", type=int, default=1000)
    cpu.add_argument("--preset", default="cpu")
    cpu.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    cpu.add_argument("--protocol", default="SpkI", help="protocol(s) of the workload (SpkI: 10 folds)")
    cpu.add_argument("--variants", default="tsin")
    cpu.add_argument("--folds", type=int, default=0, help="0: every fold")
    cpu.add_argument("--reproduce", action="store_true", help="time the training of make reproduce instead")
    gpu = p.add_argument_group("GPU")
    gpu.add_argument("--concurrency", default="1,2,4,8,16", help="comma list of concurrent jobs on one GPU")
    gpu.add_argument("--gpu-preset", default="paper")
    gpu.add_argument("--gpu-variant", default="tsin")
    gpu.add_argument("--batch", type=int, default=64)
    gpu.add_argument("--warmup", type=int, default=5)
    gpu.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)
    if args.quick:
        args.corpus_size, args.epochs, args.folds, args.protocol = 120, 1, 2, "SesI"
        args.concurrency, args.warmup, args.steps = "1,2", 1, 2
        args.build = str(Path(args.build) / "bench_quick")

    print(f"torch {torch.__version__} | python {platform.python_version()}")
    if not args.skip_cpu:
        bench_cpu(args)
    if not args.skip_gpu:
        if torch.cuda.is_available():
            bench_gpu(args)
        else:
            print("GPU: none visible; the GPU table needs a CUDA device")
    return 0


if __name__ == "__main__":
    sys.exit(main())
