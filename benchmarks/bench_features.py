"""Feature throughput: speech utterances/s, MiniLM words/s, cold vs warm ``build_feature_store``.

Usage:
    python benchmarks/bench_features.py                       # synthesize 1000 utterances under build/
    python benchmarks/bench_features.py --corpus PATH         # any IEMOCAP folder or manifest
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from tsin_nb.core import TSINConfig  # noqa: E402
from tsin_nb.data import load_audio  # noqa: E402
from tsin_nb.features import TextEmbedder, build_feature_store, logmel_features, split_words  # noqa: E402


def load(args: argparse.Namespace):
    """The manifest of ``--corpus``, or of a synthetic corpus made under ``--root``."""
    from tsin_nb.data import load_corpus

    if args.corpus:
        return load_corpus(args.corpus)
    from tsin_nb.data import make_synthetic_corpus

    return load_corpus(make_synthetic_corpus(args.root, n_utterances=args.n))


def main() -> None:
    """Run the three measurements and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=None, help="existing corpus (IEMOCAP folder or manifest)")
    p.add_argument("--root", default="build/bench_corpus", help="where to synthesize when --corpus is absent")
    p.add_argument("--n", type=int, default=1000, help="synthetic utterances")
    p.add_argument("--preset", default="cpu", choices=["cpu", "paper", "tiny"])
    p.add_argument("--text-model", default="minilm")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    manifest = load(args)
    cfg = TSINConfig.preset(args.preset)
    n_utt = len(manifest)
    load_start = os.getloadavg()[0]
    rows: list[tuple[str, str]] = [("utterances", f"{n_utt}"), ("preset", args.preset),
                                   ("torch threads", f"{torch.get_num_threads()}")]

    t0 = time.perf_counter()
    seconds = 0.0
    for wav in manifest["wav_path"]:
        y = load_audio(wav, sr=cfg.sample_rate)
        seconds += len(y) / cfg.sample_rate
        logmel_features(y, cfg)
    dt = time.perf_counter() - t0
    rows += [("speech: load + log-Mel + deltas", f"{n_utt / dt:.1f} utt/s ({seconds / dt:.0f}x real time)")]

    words = [split_words(t)[: cfg.n_words] for t in manifest["text"]]
    n_words = sum(len(w) for w in words)
    t0 = time.perf_counter()
    emb = TextEmbedder(args.text_model, batch_size=args.batch_size).load()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    emb.embed_words(words)
    dt = time.perf_counter() - t0
    rows += [(f"text: {args.text_model} load", f"{load_s:.2f} s"),
             (f"text: {args.text_model} embeddings", f"{n_words / dt:.0f} words/s ({n_utt / dt:.1f} utt/s)")]

    cache = Path(tempfile.mkdtemp(prefix="bench_features_cache_"))
    try:
        t0 = time.perf_counter()
        build_feature_store(manifest, cfg, cache, text_model=args.text_model, progress=False)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        store = build_feature_store(manifest, cfg, cache, text_model=args.text_model, progress=False)
        warm = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in cache.iterdir()) / 2**20
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows += [("build_feature_store, cold cache", f"{cold:.2f} s"),
             ("build_feature_store, warm cache", f"{warm:.2f} s ({cold / warm:.0f}x faster)"),
             ("cache size", f"{size:.0f} MiB, speech {tuple(store.speech.shape)}, text {tuple(store.text.shape)}")]

    rows += [("load average (1 min), start / end", f"{load_start:.1f} / {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")]
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")


if __name__ == "__main__":
    main()
