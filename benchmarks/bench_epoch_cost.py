"""Two suspected costs of a training epoch, each beside its baseline: Eq. 11's pooling and the per-epoch checkpoint.

1. **Eq. 11's pooling.** Seconds per epoch of TSIN and "w/o TA" with ``mec_pool="mean"`` (Eq. 11 as printed)
   against ``"both"`` (the ``cpu`` preset), on fold 1 of SesI, one thread. The settings alternate, each fit runs
   ``--epochs`` epochs and its first epoch is left out; printed: the median over ``--repeats`` fits.
2. **The per-epoch checkpoint.** ``fit`` writes ``checkpoint.pt`` (the model, Adam's state, the best epoch's
   weights) after every epoch. The checkpoint of the TSIN fit above is written again ``--saves`` times, split
   into serialising it, writing it without ``fsync``, and the full atomic write that ``fit`` does.

    python benchmarks/bench_epoch_cost.py          # the embedded corpus of corpus seed 1; about 3 min on 2 cores
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_run_overhead import median_ms  # noqa: E402  (benchmarks/, this script's folder, is on sys.path)

from tsin_nb.core import TSINConfig, atomic_torch_save  # noqa: E402
from tsin_nb.data import load_corpus, make_synthetic_corpus  # noqa: E402
from tsin_nb.features import build_feature_store  # noqa: E402
from tsin_nb.model import build_model  # noqa: E402
from tsin_nb.runs import make_folds  # noqa: E402
from tsin_nb.train import CHECKPOINT, fit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (1: not the reported corpus)")
    ap.add_argument("--out", type=Path, default=Path("build/focus"), help="corpus and feature cache go here")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--saves", type=int, default=24)
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is left out)")
    torch.set_num_threads(1)
    root = make_synthetic_corpus(args.out / "data" / f"synthetic_four_n1000_s{args.seed}", seed=args.seed)
    corpus = load_corpus(root, progress=False)
    cfgs = {pool: TSINConfig.preset("cpu", epochs=args.epochs, mec_pool=pool) for pool in ("mean", "both")}
    store = build_feature_store(corpus, cfgs["both"], args.out / "cache", progress=False)
    fold = make_folds(corpus, "SesI", seed=0)[0]
    per_epoch: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for pool, cfg in cfgs.items():
                for variant in ("tsin", "no_ta"):
                    torch.manual_seed(0)
                    r = fit(build_model(cfg, variant), store, fold, cfg, out_dir=Path(tmp) / f"{pool}_{variant}",
                            progress=False, log=None)
                    epochs = [h["time_s"] for h in r.history[1:]]
                    per_epoch.setdefault((variant, pool), []).append(sum(epochs) / len(epochs))
        print(f"1. Seconds per epoch, fold {fold.name}, one thread, median of {args.repeats} fits")
        for variant in ("tsin", "no_ta"):
            mean, both = (statistics.median(per_epoch[(variant, p)]) for p in ("mean", "both"))
            print(f"   {variant:6s} mean {mean:.3f}  both {both:.3f}  both / mean {both / mean:.2f}")

        ck = torch.load(Path(tmp) / f"both_tsin/{CHECKPOINT}", weights_only=False)
        target = Path(tmp) / "again.pt"

        def serialise() -> bytes:
            buf = io.BytesIO()
            torch.save(ck, buf)
            return buf.getvalue()

        def write_no_fsync() -> None:
            (Path(tmp) / "again.tmp").write_bytes(serialise())
            os.replace(Path(tmp) / "again.tmp", target)

        size = len(serialise()) / 2**20
        s = median_ms(serialise, args.saves)
        w = median_ms(write_no_fsync, args.saves)
        a = median_ms(lambda: atomic_torch_save(ck, target), args.saves)
        print(f"2. TSIN's {CHECKPOINT} ({size:.1f} MB), median of {args.saves} writes")
        print(f"   serialise {s:.1f} ms  + write {w - s:.1f} ms  + fsync {a - w:.1f} ms  = {a:.1f} ms per epoch")


if __name__ == "__main__":
    main()
