"""Fail unless every finished fold under a results folder recorded a CUDA device (used by the GPU workflow).

Usage: python .github/scripts/check_devices.py build/gpu/results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def check(results: Path) -> list[str]:
    """Problems found: folds whose metrics.json records another device, unreadable files, or no fold at all."""
    files = sorted(results.rglob("metrics.json"))
    if not files:
        return [f"no metrics.json under {results}: did the notebooks train anything?"]
    problems = []
    for path in files:
        try:
            device = str(json.loads(path.read_text()).get("device", ""))
        except (OSError, ValueError) as err:
            problems.append(f"{path}: cannot be read ({err})")
            continue
        if device != "cuda" and not device.startswith("cuda:"):
            problems.append(f"{path}: device {device!r}, not cuda")
    return problems


def main(argv: list[str]) -> int:
    """Print one line per problem and return 1, or say how many folds ran on cuda and return 0."""
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    results = Path(argv[0])
    problems = check(results)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"all {len(list(results.rglob('metrics.json')))} folds under {results} ran on cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
