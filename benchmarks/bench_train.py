"""Training-step throughput (forward + backward + Adam step) per preset and variant, on random tensors.

Usage: ``python benchmarks/bench_train.py [--presets cpu,paper] [--variants all] [--devices auto]``.
Each figure is the median over ``--repeats`` timings of ``--steps`` steps, after ``--warmup`` steps.
On CUDA both fp32 and bf16 autocast are measured; on CPU plain fp32 (what ``tsin_nb.train.fit`` uses).
The paper preset on CPU (many seconds per step: a 500-frame LSTM of width 768) defaults to batch 2, one
warm-up step and one timed step per variant, so it ends in a few minutes; raise ``--paper-cpu-repeats`` for a median.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsin_nb.core import VARIANTS, TSINConfig  # noqa: E402
from tsin_nb.model import build_model, count_parameters  # noqa: E402


def random_batch(cfg: TSINConfig, batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """speech, speech_mask, text, text_mask, labels with lengths drawn between half and full."""
    g = torch.Generator().manual_seed(seed)
    speech = torch.randn(batch, cfg.n_frames, cfg.speech_dim, generator=g)  # (B, N, F)
    text = torch.randn(batch, cfg.n_words, cfg.text_dim, generator=g)  # (B, M, E)
    s_len = torch.randint(cfg.n_frames // 2, cfg.n_frames + 1, (batch,), generator=g)
    t_len = torch.randint(max(1, cfg.n_words // 2), cfg.n_words + 1, (batch,), generator=g)
    speech_mask = torch.arange(cfg.n_frames)[None, :] < s_len[:, None]  # (B, N)
    text_mask = torch.arange(cfg.n_words)[None, :] < t_len[:, None]  # (B, M)
    labels = torch.randint(0, cfg.num_classes, (batch,), generator=g)
    return tuple(t.to(device) for t in (speech, speech_mask, text, text_mask, labels))


def time_steps(cfg: TSINConfig, variant: str, batch: int, device: torch.device, bf16: bool,
               warmup: int, steps: int, repeats: int) -> tuple[float, int]:
    """Median seconds per training step, and the parameter count."""
    torch.manual_seed(0)
    model = build_model(cfg, variant).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    speech, speech_mask, text, text_mask, y = random_batch(cfg, batch, device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        with amp:
            logits = model(speech, speech_mask, text, text_mask).logits  # (B, C)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times), count_parameters(model)


def device_name(device: torch.device) -> str:
    """A readable name of the CPU or GPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="cpu,paper")
    p.add_argument("--variants", default="all", help="comma list of " + ",".join(VARIANTS) + " or all")
    p.add_argument("--devices", default="auto", help="auto (CPU, plus CUDA when present), cpu, cuda")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument("--paper-cpu-batch", type=int, default=2, help="batch of the paper preset on CPU")
    p.add_argument("--paper-cpu-steps", type=int, default=1, help="timed steps of the paper preset on CPU")
    p.add_argument("--paper-cpu-repeats", type=int, default=1, help="timings of the paper preset on CPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    presets = args.presets.split(",")
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = args.devices.split(",")

    print(f"torch {torch.__version__} | python {platform.python_version()} | CPU threads {torch.get_num_threads()}")
    rows = []
    for dev_name in devices:
        device = torch.device(dev_name)
        print(f"device {dev_name}: {device_name(device)}")
        modes = [("fp32", False), ("bf16", True)] if device.type == "cuda" else [("fp32", False)]
        for preset in presets:
            cfg = TSINConfig.preset(preset)
            paper_on_cpu = preset == "paper" and device.type == "cpu"
            batch = args.batch or (args.paper_cpu_batch if paper_on_cpu else cfg.batch_size)
            steps = args.paper_cpu_steps if paper_on_cpu else args.steps
            warmup = min(args.warmup, 1) if paper_on_cpu else args.warmup
            repeats = args.paper_cpu_repeats if paper_on_cpu else args.repeats
            for variant in variants:
                for mode, bf16 in modes:
                    sec, n_params = time_steps(cfg, variant, batch, device, bf16, warmup, steps, repeats)
                    rows.append((dev_name, preset, variant, mode, batch, n_params, 1000 * sec, batch / sec))
                    print(f"  {preset:5s} {variant:6s} {mode}  batch {batch:3d}  {1000 * sec:9.1f} ms/step  "
                          f"{batch / sec:9.1f} samples/s", flush=True)

    print()
    head = f"{'device':6s} {'preset':6s} {'variant':7s} {'dtype':5s} {'batch':>5s} {'params':>10s} " \
           f"{'ms/step':>9s} {'samples/s':>10s}"
    print(head)
    print("-" * len(head))
    for dev, preset, variant, mode, batch, n_params, ms, sps in rows:
        print(f"{dev:6s} {preset:6s} {variant:7s} {mode:5s} {batch:5d} {n_params:10,d} {ms:9.1f} {sps:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
