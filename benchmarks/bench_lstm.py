"""One-direction ``MaskedLSTM``: unpacked (what ``forward`` runs) against packed (``packed_forward``), side by side.

Usage: ``python benchmarks/bench_lstm.py [--batch 64] [--repeats 30] [--threads 1]``.
The shapes are the ``cpu`` preset's two LSTMs: the speech encoder over 50 pooled steps of 240 features and the
fusion LSTM over 32 words. Each figure is the median time of a forward + backward pass;
the ratio is packed / unpacked. Lengths are drawn between half and all of the steps, as in a real batch. The
outputs of the two paths are compared too (largest absolute difference at real steps).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.model import MaskedLSTM  # noqa: E402

SHAPES = {"speech encoder, Eq. 1 (50 x 240 -> 48)": (50, 240, 48), "fusion, Eq. 10 (32 x 96 -> 48)": (32, 96, 48)}


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats + 2):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times[2:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a fold job uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}")
    print(f"{'LSTM':40s} {'unpacked ms':>12s} {'packed ms':>10s} {'packed / unpacked':>18s} {'max |diff|':>11s}")
    g = torch.Generator().manual_seed(0)
    for name, (length, d_in, d_out) in SHAPES.items():
        torch.manual_seed(0)
        lstm = MaskedLSTM(d_in, d_out)
        x = torch.randn(args.batch, length, d_in, generator=g)
        lengths = torch.randint(length // 2, length + 1, (args.batch,), generator=g)
        mask = torch.arange(length)[None, :] < lengths[:, None]
        with torch.no_grad():
            diff = float((lstm(x, mask) - lstm.packed_forward(x, mask)).abs().max())

        unpacked = _time(lambda m=lstm, x=x, mask=mask: m(x, mask).sum().backward(), args.repeats)
        packed = _time(lambda m=lstm, x=x, mask=mask: m.packed_forward(x, mask).sum().backward(), args.repeats)
        print(f"{name:40s} {1e3 * unpacked:12.2f} {1e3 * packed:10.2f} {packed / unpacked:18.2f} {diff:11.1e}")


if __name__ == "__main__":
    main()
