"""Training step with every batch padded to the store's full width, against the batch cut to its longest real row.

``tsin_nb.train`` cuts each batch after its longest real prefix of frames and words (``batches.cut_batch``); the
outputs at real steps do not depend on padding. This prints the time of one training step (forward, backward,
Adam) both ways on the same batches of the embedded corpus, and their ratio, per variant.

    python benchmarks/bench_batch_cut.py        # after `make reproduce` (uses build/data and build/cache)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import TSINConfig  # noqa: E402
from tsin_nb.data import (
    load_corpus,  # noqa: E402
    make_synthetic_corpus,  # noqa: E402
)
from tsin_nb.features import build_feature_store  # noqa: E402
from tsin_nb.model import (
    build_model,  # noqa: E402
    loss_fn,  # noqa: E402
)
from tsin_nb.train import cut_batch  # noqa: E402


def step_ms(cfg: TSINConfig, variant: str, batches: list[tuple[torch.Tensor, ...]], warmup: int) -> float:
    """Median milliseconds of one training step over ``batches`` (after ``warmup`` untimed steps)."""
    torch.manual_seed(0)
    model = build_model(cfg, variant)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    times = []
    for k, (speech, speech_mask, text, text_mask, y) in enumerate(batches):
        t0 = time.perf_counter()
        loss = loss_fn(model(speech, speech_mask, text, text_mask).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= warmup:
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build folder of `make reproduce`")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--variants", default="tsin,speech,text")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)  # what each training job uses
    cfg = TSINConfig.preset(args.preset)
    build = Path(args.build)
    root = make_synthetic_corpus(build / "data" / "synthetic_n1000_s0", seed=0)
    store = build_feature_store(load_corpus(root, progress=False), cfg, build / "cache", progress=False)
    data = (store.speech, store.speech_mask, store.text, store.text_mask, store.labels)
    g = torch.Generator().manual_seed(0)
    rows = [torch.randperm(len(store), generator=g)[: cfg.batch_size] for _ in range(args.steps + args.warmup)]
    full = [tuple(t[r] for t in data) for r in rows]
    cut = [cut_batch(data, r, torch.device("cpu"), cfg.speech_stride) for r in rows]
    kept = sum(b[0].shape[1] for b in cut) / sum(b[0].shape[1] for b in full)
    print(f"{args.preset} preset, batch {cfg.batch_size}, 1 thread; cut batches keep {100 * kept:.0f} % of the "
          f"frame columns on average")
    print(f"{'variant':<8} {'full (ms)':>10} {'cut (ms)':>10} {'full / cut':>11}")
    for variant in args.variants.split(","):
        a = step_ms(cfg, variant, full, args.warmup)
        b = step_ms(cfg, variant, cut, args.warmup)
        print(f"{variant:<8} {a:>10.1f} {b:>10.1f} {a / b:>10.2f}x")


if __name__ == "__main__":
    main()
