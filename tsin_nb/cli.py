"""The ``tsin-nb`` command: synth, inspect, features, run, table, reproduce and report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tsin_nb.cli_checks import check_input, check_int, check_model_folder, check_out_folder, fail, guard
from tsin_nb.core import BASELINES, PROTOCOLS, VARIANTS

#: Largest seed numpy and torch both accept.
MAX_SEED = 2**32 - 1


def _split_list(value: str, valid: Sequence[str], what: str) -> tuple[str, ...]:
    """Parse ``a,b,c`` (or ``all``) against ``valid``, naming any unknown item."""
    items = tuple(valid) if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in items if v not in valid]
    if unknown or not items:
        fail("run", f"--{what}: unknown {what} {unknown or value!r}; choose from {', '.join(valid)} or 'all'")
    return items


def _text_model(args: argparse.Namespace) -> None:
    """Exit naming ``--text-model`` when it is neither a usable folder nor a known name."""
    from tsin_nb.features import check_text_model

    try:
        check_text_model(args.text_model)
    except ValueError as err:
        fail(args.command, f"--text-model: {err}")
    check_model_folder(args.command, args.text_model)


def _cmd_synth(args: argparse.Namespace) -> int:
    from tsin_nb.data import DEFAULT_SIZE, make_synthetic_corpus

    check_int("synth", "--size", args.size, 40, 1_000_000, "5 sessions x 4 classes x 2 speakers need 40 utterances "
              f"(omit --size for the default {DEFAULT_SIZE})")
    check_int("synth", "--seed", args.seed, 0, MAX_SEED)
    check_out_folder("synth", "ROOT", args.root, "./synthetic")
    root = make_synthetic_corpus(args.root, n_utterances=DEFAULT_SIZE if args.size is None else args.size,
                                 seed=args.seed, cues=args.cues)
    print(f"synthetic corpus ready at {root}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from tsin_nb.data import inspect

    report, code = inspect(args.root)
    print(report)
    return code


def _cmd_features(args: argparse.Namespace) -> int:
    from tsin_nb.features import features_main

    check_input("features", "ROOT", args.root, "an IEMOCAP folder or a manifest .csv/.tsv file")
    check_out_folder("features", "--cache", args.cache, "build/cache")
    _text_model(args)
    features_main(args.root, args.cache, preset=args.preset, text_model=args.text_model)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from tsin_nb.runs import JobsFailed, format_tables, run_experiment

    protocols = _split_list(args.protocol, PROTOCOLS, "protocol")
    variants = _split_list(args.variants, VARIANTS + BASELINES, "variants")
    for name, value, low in (("--epochs", args.epochs, 1), ("--folds", args.folds, 1), ("--jobs", args.jobs, 0),
                             ("--threads-per-job", args.threads_per_job, 1), ("--jobs-per-gpu", args.jobs_per_gpu, 1)):
        check_int("run", name, value, low)
    check_int("run", "--seed", args.seed, 0, MAX_SEED)
    check_input("run", "--corpus", args.corpus, "an IEMOCAP folder or a manifest .csv/.tsv file")
    check_out_folder("run", "--out", args.out, "build/results/mine")
    check_out_folder("run", "--cache", args.cache, "build/cache")
    _text_model(args)
    try:
        run_experiment(
            args.corpus,
            args.out,
            protocols=protocols,
            variants=variants,
            preset=args.preset,
            epochs=args.epochs,
            folds=args.folds,
            seed=args.seed,
            cache_dir=args.cache,
            text_model=args.text_model,
            device=args.device,
            jobs=args.jobs,
            threads_per_job=args.threads_per_job,
            scheduler=args.scheduler,
            jobs_per_gpu=args.jobs_per_gpu,
        )
    except JobsFailed as err:
        print(format_tables(args.out))
        print(f"tsin-nb run: {err}", file=sys.stderr)
        return 1
    except (ValueError, ConnectionError) as err:
        print(f"tsin-nb run: {err}", file=sys.stderr)
        return 2
    print(format_tables(args.out))
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tsin_nb.runs import format_tables

    folder = Path(args.dir)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        print(f"tsin-nb table: {folder} {what}; give the --out folder of `tsin-nb run` "
              "(e.g. one of build/results/cpu_e24-*)", file=sys.stderr)
        return 2
    text = format_tables(folder)
    print(text)
    return 1 if text.startswith("No finished folds") else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from tsin_nb.runs import reproduce

    check_input("reproduce", "--params", args.params, "a YAML file of notebook parameters")
    check_input("reproduce", "--corpus", args.corpus, "an IEMOCAP folder or a manifest .csv/.tsv file")
    check_out_folder("reproduce", "--build", args.build, "build")
    check_out_folder("reproduce", "--figures", args.figures, "build/figures")
    return reproduce(params_file=args.params, only=args.only, build_dir=args.build, corpus=args.corpus,
                     fig_dir=args.figures)


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tsin_nb.runs import load_summary
    from tsin_nb.show import readme_section, results_markdown, update_readme

    try:
        summary = load_summary(args.summary)
        readme = Path(args.readme)
        if args.check:
            if readme_section(readme.read_text()) != results_markdown(summary):
                print(f"tsin-nb report: {readme}'s results differ from {args.summary}; run `tsin-nb report`",
                      file=sys.stderr)
                return 1
            print(f"{readme}: results match {args.summary} (run {summary['run']['id']})")
            return 0
        changed = update_readme(readme, summary)
    except (OSError, ValueError) as err:
        print(f"tsin-nb report: {err}", file=sys.stderr)
        return 2
    print(f"{readme}: results {'rewritten' if changed else 'already'} from {args.summary} (run {summary['run']['id']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tsin-nb``."""
    p = argparse.ArgumentParser(prog="tsin-nb", description="TSIN workbook: data, features, training, tables.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the embedded synthetic corpus in IEMOCAP's layout")
    s.add_argument("root")
    s.add_argument("--size", type=int, default=None, help="number of four-class utterances")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cues", choices=("four", "four_near", "three"), default="four",
                   help="four: text, voice, both and focus (default); four_near: the same with the two focus "
                        "candidates next to each other; three: the corpus as first built, no focus")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("inspect", help="validate a corpus (IEMOCAP folder or manifest CSV/TSV)")
    s.add_argument("root")
    s.set_defaults(func=_cmd_inspect)

    s = sub.add_parser("features", help="compute (or load) the cached feature store of a corpus")
    s.add_argument("root")
    s.add_argument("--cache", required=True)
    s.add_argument("--preset", default="cpu", choices=["cpu", "paper", "tiny"])
    s.add_argument("--text-model", default=None, help="minilm (default), a Hugging Face name or a local path")
    s.set_defaults(func=_cmd_features)

    s = sub.add_parser("run", help="cross-validate variants over protocols and save every fold's results")
    s.add_argument("--corpus", required=True)
    s.add_argument("--protocol", default="SesI", help="SesI, SpkI, SpkD, a comma list or all")
    s.add_argument("--variants", default="tsin", help="tsin,speech,text,no_ta,no_si, the linear baselines lin_speech,lin_text,lin_fusion, or all")
    s.add_argument("--preset", default="cpu", choices=["cpu", "paper", "tiny"])
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--folds", type=int, default=None, help="run only the first K folds of each protocol")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cache", default=None, help="feature cache folder (default OUT/cache)")
    s.add_argument("--text-model", default=None)
    s.add_argument("--device", default="auto")
    s.add_argument("--jobs", type=int, default=1,
                   help="folds trained at once on this machine (0: one per CPU core, or --jobs-per-gpu per GPU)")
    s.add_argument("--threads-per-job", type=int, default=1,
                   help="torch CPU threads of each fold, whatever --jobs is (so results do not change)")
    s.add_argument("--jobs-per-gpu", type=int, default=1, help="at most this many folds share one GPU (default 1)")
    s.add_argument("--scheduler", default=None,
                   help="run the folds on a Dask cluster: its scheduler address (tcp://host:8786) or scheduler file")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("table", help="print Table I and Table V from a results folder")
    s.add_argument("dir")
    s.set_defaults(func=_cmd_table)

    s = sub.add_parser("reproduce", help="run every notebook headlessly with papermill")
    s.add_argument("--params", default=None, help="YAML of parameters passed to every notebook")
    s.add_argument("--only", default=None, help="run only notebooks whose name contains this")
    s.add_argument("--build", default="build", help="folder for executed notebooks and results")
    s.add_argument("--corpus", default=None, help="IEMOCAP root or manifest instead of the embedded corpus")
    s.add_argument("--figures", default=None,
                   help="folder for figures (default: the repository's figures/ for the default build folder, "
                        "else BUILD/figures)")
    s.set_defaults(func=_cmd_reproduce)

    s = sub.add_parser("report", help="write the README's results section from a run's summary.json")
    s.add_argument("--summary", default="figures/summary.json", help="the summary a reproduce run wrote")
    s.add_argument("--readme", default="README.md")
    s.add_argument("--check", action="store_true", help="only check that the README matches the summary")
    s.set_defaults(func=_cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    import warnings

    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda message, category, *_a, **_k: f"tsin-nb {args.command}: warning: {message}\n"
    return guard(args.command, args.func, args)


if __name__ == "__main__":
    sys.exit(main())
