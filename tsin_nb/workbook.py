"""A notebook's setup in one object: seeds, device, folders, the corpus, the run's config, its feature store,
its results folder, and short calls that train variants or one fold with all of that filled in.

``wb = Workbook.from_params(corpus=corpus, preset=preset, epochs=epochs, ...)`` takes a notebook's parameters;
``wb.train(("tsin",), protocols="SesI")`` trains into ``wb.results_dir`` as :func:`tsin_nb.runs.run_experiment` does;
``wb.train_many([...])`` trains several such runs as one set of jobs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure

from tsin_nb.core import TSINConfig, get_device, listed, safe_fold_dirname, set_seed
from tsin_nb.data import DEFAULT_CUES, DEFAULT_SIZE, equal_segment_misses, read_synthetic_meta
from tsin_nb.features import FeatureStore, build_feature_store, config_for_store
from tsin_nb.model import prior_alignment
from tsin_nb.runs import (
    STATUS_COLUMNS,
    Fold,
    fold_content,
    fold_status,
    load_outputs,
    make_folds,
    plan_jobs,
    prepare_experiment,
    record,
    run_prepared,
    tie_fold_to_content,
    torch_threads,
)
from tsin_nb.show import (
    ALIGNED_ROW,
    NO_PRIOR_ROW,
    PRIOR_ONLY_ROW,
    AlignmentRecord,
    AlignmentRows,
    read_cues,
    records_from_arrays,
    save_figure,
    status_line,
)
from tsin_nb.train import FitResult, fit


@dataclass(frozen=True)
class Workspace:
    """Where a notebook reads and writes: build folder, figures, feature cache and results."""

    build: Path
    figures: Path
    device: torch.device

    @property
    def cache(self) -> Path:
        return self.build / "cache"

    def results(self, preset: str, epochs: int, tag: str = "") -> Path:
        """Results folder of one training setting, shared by the notebooks that read it.

        The name ends in a digest of the preset's settings (``cpu_e24-1a2b3c4d``), so a preset changed by a
        newer version of this package trains into a new folder and the earlier results stay where they were.
        """
        digest = hashlib.sha1(json.dumps(TSINConfig.preset(preset).legacy_dict(), sort_keys=True).encode()).hexdigest()[:8]
        return self.build / "results" / f"{preset}_e{epochs}-{digest}{('_' + tag) if tag else ''}"


def setup(build_dir: str = "", fig_dir: str = "", device: str = "auto", seed: int = 0) -> Workspace:
    """Seed everything, resolve the device (printed) and the folders (parameter, then $TSIN_BUILD / $TSIN_FIGURES)."""
    set_seed(seed)
    build = Path(build_dir or os.environ.get("TSIN_BUILD", "../build")).resolve()
    figures = Path(fig_dir or os.environ.get("TSIN_FIGURES", "../figures")).resolve()
    build.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    dev = get_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {dev} ({name}); torch {torch.__version__}; build: {build}; figures: {figures}")
    return Workspace(build=build, figures=figures, device=dev)


def corpus_path(ws: Workspace, corpus: str = "", corpus_size: int = DEFAULT_SIZE, seed: int = 0) -> Path:
    """The corpus to use: the parameter, else $TSIN_CORPUS, else the embedded synthetic corpus (built once)."""
    corpus = corpus or os.environ.get("TSIN_CORPUS", "")
    if corpus:
        path = Path(corpus).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"corpus {path} does not exist; pass an IEMOCAP root, a manifest CSV, or ''")
        return path
    from tsin_nb.data import make_synthetic_corpus

    folder = ws.build / "data" / f"synthetic_{DEFAULT_CUES}_n{corpus_size}_s{seed}"  # a new cue setting, a new folder
    return make_synthetic_corpus(folder, n_utterances=corpus_size, seed=seed)


def load(ws: Workspace, corpus: str = "", corpus_size: int = DEFAULT_SIZE, seed: int = 0) -> pd.DataFrame:
    """Locate (or build) the corpus and return its manifest."""
    from tsin_nb.data import load_corpus

    return load_corpus(corpus_path(ws, corpus, corpus_size, seed), progress=False)


@dataclass
class Workbook:
    """One notebook's run: its parameters, where it reads and writes, and what it has trained so far.

    The corpus, its manifest and the feature store are built on first use and kept. ``status`` gathers the
    per-fold status table of every :meth:`train` call, shown with :meth:`status_line`.
    """

    ws: Workspace
    corpus: str = ""
    corpus_size: int = DEFAULT_SIZE
    preset: str = "cpu"
    epochs: int | None = None
    seed: int = 0
    text_model: str | None = None
    jobs: int = 1
    scheduler: str = ""
    status: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(STATUS_COLUMNS)))

    @classmethod
    def from_params(cls, corpus: str = "", corpus_size: int = DEFAULT_SIZE, preset: str = "cpu",
                    epochs: int | None = None, seed: int = 0, device: str = "auto", jobs: int = 1,
                    scheduler: str = "", build_dir: str = "", fig_dir: str = "",
                    text_model: str | None = None) -> Workbook:
        """Seed, resolve device and folders (printed, see :func:`setup`) and keep the run's parameters."""
        ws = setup(build_dir, fig_dir, device, seed)
        return cls(ws, corpus, corpus_size, preset, epochs, seed, text_model, jobs, scheduler)

    @classmethod
    def from_notebook(cls, namespace: dict[str, Any]) -> Workbook:
        """:meth:`from_params` with the notebook's own parameters of those names (pass ``globals()``)."""
        names = inspect.signature(cls.from_params).parameters
        return cls.from_params(**{k: namespace[k] for k in names if k in namespace})

    # ------------------------------------------------------------ where ---

    @property
    def device(self) -> torch.device:
        return self.ws.device

    @property
    def figures(self) -> Path:
        return self.ws.figures

    @property
    def build(self) -> Path:
        return self.ws.build

    @property
    def cache(self) -> Path:
        return self.ws.cache

    @property
    def results_dir(self) -> Path:
        """The results folder of this preset and epochs (``build/results/cpu_e24-1a2b3c4d``)."""
        return self.results_for()

    def results_for(self, tag: str = "") -> Path:
        """The results folder of this preset and epochs, with ``tag`` for a run with changed settings."""
        return self.ws.results(self.preset, self.cfg.epochs if self.epochs is None else self.epochs, tag)

    # ------------------------------------------------------------ what ---

    @cached_property
    def root(self) -> Path:
        """The corpus folder or manifest file (the embedded synthetic corpus is built on first use)."""
        return corpus_path(self.ws, self.corpus, self.corpus_size, self.seed)

    @cached_property
    def manifest(self) -> pd.DataFrame:
        from tsin_nb.data import load_corpus

        return load_corpus(self.root, progress=False)

    @cached_property
    def cfg(self) -> TSINConfig:
        """The preset with this run's epochs, seed and text model."""
        changes: dict[str, Any] = {"seed": self.seed}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        if self.text_model is not None:
            changes["text_model"] = self.text_model
        return TSINConfig.preset(self.preset).replace(**changes)

    @property
    def corpus_name(self) -> str:
        """The corpus as the settings table names it."""
        return self.corpus or f"embedded synthetic corpus, {self.corpus_size} utterances"

    def settings(self) -> dict[str, Any]:
        """The run's own corpus, preset, epochs, seed and text model, for notes that name them."""
        return {"corpus": self.corpus_name, "preset": self.preset, "epochs": self.cfg.epochs, "seed": self.seed,
                "text_model": self.cfg.text_model}

    def store(self) -> FeatureStore:
        """The feature store of the manifest under ``cfg`` (computed once, then read from the cache)."""
        if "_store" not in self.__dict__:
            self.__dict__["_store"] = build_feature_store(self.manifest, self.cfg, self.cache,
                                                          text_model=self.cfg.text_model, progress=False)
        return self.__dict__["_store"]

    def model_cfg(self) -> TSINConfig:
        """``cfg`` with the widths of the features actually stored (text_dim etc.)."""
        return config_for_store(self.cfg, self.store())

    def fold(self, protocol: str, index: int) -> Fold:
        """Fold ``index`` (from 0) of ``protocol`` under this run's seed."""
        return make_folds(self.manifest, protocol, seed=self.seed)[index]

    def fold_dir(self, protocol: str, variant: str, fold: Fold, tag: str = "") -> Path:
        """The folder ``run_experiment`` uses for this fold (so one run reuses the other's)."""
        return self.results_for(tag) / protocol / variant / safe_fold_dirname(fold.name)

    # ------------------------------------------------------------ train ---

    def train(self, variants: str | Sequence[str], protocols: str | Sequence[str] = "SesI", folds: int | None = None,
              tag: str = "", text_model: str | None = None, progress: bool = False, seed: int | None = None,
              report: bool = False, **config_changes: Any) -> pd.DataFrame:
        """Train (or reuse) ``variants`` on ``protocols`` (the first ``folds`` folds, all when 0 or None).

        Settings in ``config_changes`` change the preset (e.g. ``align_loss=1.0``); such a run belongs in its own
        folder, named by ``tag``; so does a training ``seed`` other than the run's (the corpus stays the run's).
        Returns the results table; the status of each fold is added to ``status`` (printed with ``report``: see
        :meth:`status_line`).
        """
        run = {"variants": variants, "protocols": protocols, "folds": folds, "tag": tag, "text_model": text_model,
               "seed": seed, **config_changes}
        return self.train_many([run], progress=progress, report=report)[0]

    def train_many(self, runs: Sequence[Mapping[str, Any]], progress: bool = False,
                   report: bool = False) -> list[pd.DataFrame]:
        """Several :meth:`train` calls as one set of jobs; one results table per run, in order.

        Each run is a mapping of :meth:`train`'s arguments (``variants`` and, optionally, ``protocols``, ``folds``,
        ``tag``, ``text_model``, ``seed`` and config changes). Their folds run on one local cluster, the slowest
        variants first (:func:`tsin_nb.runs.run_prepared`), so no worker idles between runs; every fold trains
        exactly as in its own :meth:`train` call.
        """
        plan = plan_jobs(self.jobs, 1, self.scheduler or None, 1, str(self.device))  # before anything is written
        stores: dict[str, FeatureStore] = {}
        prepared = [prepare_experiment(self.root, **self._experiment_args(**run), cache_dir=self.cache,
                                       device=str(self.device), progress=progress, log=None, stores=stores)
                    for run in runs]
        tables = run_prepared(prepared, plan, progress=progress, log=None)
        parts = [df for df in (self.status, *map(fold_status, tables)) if len(df)]
        if parts:
            self.status = pd.concat(parts, ignore_index=True)
        if report:
            print(self.status_line())
        return tables

    def _experiment_args(self, variants: str | Sequence[str], protocols: str | Sequence[str] = "SesI",
                         folds: int | None = None, tag: str = "", text_model: str | None = None,
                         seed: int | None = None, **config_changes: Any) -> dict[str, Any]:
        """:func:`tsin_nb.runs.prepare_experiment`'s arguments for one :meth:`train` call (its folder, preset, seed)."""
        if (config_changes or (seed is not None and seed != self.seed)) and not tag:
            raise ValueError(f"settings {sorted(config_changes) or ['seed']} change the preset: give the run its own tag")
        preset = TSINConfig.preset(self.preset, **config_changes) if config_changes else self.preset
        return {"out_dir": self.results_for(tag), "protocols": listed(protocols), "variants": listed(variants),
                "preset": preset, "epochs": self.epochs, "folds": folds or None,
                "seed": self.seed if seed is None else seed, "text_model": text_model or self.text_model}

    def seed_folders(self, seeds: int) -> list[Path]:
        """The results folders of ``seeds`` training seeds: the run's own, then one per further seed."""
        return [self.results_for(self.seed_tag(k)) for k in range(seeds)]

    def seed_tag(self, k: int) -> str:
        """The tag of the ``k``-th training seed (0: the run's own folder, no tag)."""
        return f"seed{self.seed + k}" if k else ""

    def train_seeds(self, variants: str | Sequence[str], seeds: int = 1, protocols: str | Sequence[str] = "SesI",
                    folds: int | None = None, report: bool = False) -> pd.DataFrame:
        """:meth:`train` with ``seeds`` training seeds (the run's seed, then the next ones), on the same folds, as one
        set of jobs (:meth:`train_many`).

        The first seed's folds are the run's own (so other notebooks reuse them); the others go to the folders of
        :meth:`seed_folders`. Returns every seed's results in one table (``report``: print :meth:`status_line`).
        """
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        parts = self.train_many([{"variants": variants, "protocols": protocols, "folds": folds,
                                  "tag": self.seed_tag(k), "seed": self.seed + k} for k in range(seeds)], report=report)
        return pd.concat(parts, ignore_index=True)

    def record(self, section: str, value: Any) -> None:
        """Put ``value`` in the run's summary under ``section`` when ``tsin-nb reproduce`` runs this notebook.

        The README's results are generated from that summary, so what a notebook records is what the README says.
        A notebook run by hand records nothing. Returns None, so a cell that ends with it prints nothing.
        """
        record(self.build, section, {"settings": self.settings(), **value} if isinstance(value, dict) else value)

    def status_line(self) -> str:
        """One line from the status table: folds trained now, reused and failed, and where their logs are."""
        return status_line(self.status, self.build / "results")

    def save_figure(self, fig: Figure, name: str) -> Figure:
        """Write ``fig`` as ``name.png`` and ``name.pdf`` in the run's figures folder (:func:`tsin_nb.show.save_figure`)
        and return it, so a cell can end with the saved figure."""
        save_figure(fig, name, self.figures)
        return fig

    # ------------------------------------------------------------ look inside ---

    def cue_meta(self) -> pd.DataFrame | None:
        """The embedded corpus's ``synthetic_meta.csv`` (cue, salient and other word of each utterance) indexed by
        ``utt_id``; None for another corpus."""
        return read_synthetic_meta(self.root)

    def cues(self) -> pd.DataFrame | None:
        """``utt_id`` and ``cue`` of the embedded corpus's utterances that carry a cue (:func:`tsin_nb.show.read_cues`);
        None for another corpus."""
        return read_cues(self.root)

    def equal_segment_misses(self, cue: str = "focus") -> pd.DataFrame:
        """Where equal time segments (the "w/o TA" alignment) put the emphasised word of each ``cue`` utterance, with
        this run's frame limit (:func:`tsin_nb.data.equal_segment_misses`)."""
        return equal_segment_misses(self.root, cue=cue, n_frames=self.cfg.n_frames)

    def cue_utterances(self, cue: str) -> set[str]:
        """The ids of the embedded corpus's utterances of ``cue`` (``"focus"``); empty for another corpus."""
        meta = self.cue_meta()
        return set() if meta is None else set(meta.index[meta["cue"] == cue].astype(str))

    def alignment_records(self, variant: str, protocol: str = "SesI", fold_index: int = 0,
                          tag: str = "") -> list[AlignmentRecord]:
        """The alignment records (spectrogram, words, true spans, Eq. 4 alignment, Eq. 8 weights, label and
        prediction) of the test utterances of one trained fold of ``variant`` (of the run tagged ``tag``)."""
        out = load_outputs(self.results_for(tag), protocol, variant, fold_index)
        return records_from_arrays(out["ids"], out["labels"], out["preds"], out.get("alignments"),
                                   out.get("speech_weights"), out.get("text_weights"), self.store(),
                                   self.cfg.speech_stride)

    def alignment_rows(self, variants: str | Sequence[str], protocol: str = "SesI", fold_index: int = 0,
                       align_loss: float = 0.0, prior_rows: bool = False, report: bool = False) -> AlignmentRows:
        """Train (or reuse) ``variants`` on the first ``fold_index + 1`` folds and return the alignment records of
        fold ``fold_index``, one row per variant, and the rows beyond the paper that were asked for:

        - ``align_loss > 0``: TSIN trained with each Eq. 4 row pulled towards its word's true span (needs word
          timings; left out, with the reason, on a corpus without them);
        - ``prior_rows`` (when the preset has a word-order prior, ``align_prior > 0``): TSIN trained with Eq. 4
          as printed (no prior), and the prior alone (Eq. 4 with every score set to 0: no training, no timing).

        ``report`` prints :meth:`status_line` after the training.
        """
        folds, store = fold_index + 1, self.store()
        left_out: dict[str, str] = {}
        if align_loss > 0 and not store.settings.get("stats", {}).get("word_frames_known"):
            left_out[ALIGNED_ROW] = ("this corpus has no word timings: the alignment-loss row, which needs the true "
                                     "spans, is left out")
            align_loss = 0.0
        if prior_rows and self.cfg.align_prior <= 0:
            left_out[NO_PRIOR_ROW] = ("the preset has no word-order prior (align_prior = 0): the rows without it and "
                                      "of the prior alone are left out")
            prior_rows = False
        aligned_tag = f"align{align_loss:g}"
        where = {"protocols": protocol, "folds": folds}
        runs: list[dict[str, Any]] = [{"variants": variants, **where}]
        if align_loss > 0:
            runs.append({"variants": "tsin", **where, "tag": aligned_tag, "align_loss": align_loss})
        if prior_rows:
            runs.append({"variants": "tsin", **where, "tag": "noprior", "align_prior": 0.0, "align_anneal": 0})
        self.train_many(runs)  # one set of jobs
        records = {v: self.alignment_records(v, protocol, fold_index) for v in listed(variants)}
        if align_loss > 0:
            records[ALIGNED_ROW] = self.alignment_records("tsin", protocol, fold_index, aligned_tag)
        untrained: frozenset[str] = frozenset()
        if prior_rows:
            records[NO_PRIOR_ROW] = self.alignment_records("tsin", protocol, fold_index, "noprior")
            out = load_outputs(self.results_dir, protocol, "tsin", fold_index)
            rows = store.index(list(out["ids"]))
            prior = prior_alignment(store.speech_mask[rows], store.text_mask[rows], self.cfg.speech_stride,
                                    self.cfg.align_prior).numpy()  # (U, M, N')
            records[PRIOR_ONLY_ROW] = records_from_arrays(out["ids"], out["labels"], out["preds"], prior, None, None,
                                                          store, self.cfg.speech_stride)
            untrained = frozenset({PRIOR_ONLY_ROW})
        if report:
            print(self.status_line())
        return AlignmentRows(records, untrained, left_out, float(align_loss))

    def fit_fold(self, model: torch.nn.Module, fold: Fold, cfg: TSINConfig, protocol: str, variant: str) -> FitResult:
        """``fit`` one fold as a ``run_experiment`` job does (one thread, its folder tied to the fold's content),
        so the cross-validation notebook reuses it."""
        out_dir = self.fold_dir(protocol, variant, fold)
        tie_fold_to_content(out_dir, fold_content(self.manifest, fold, self.store()))  # other data is refused
        with torch_threads(1):
            return fit(model, self.store(), fold, cfg, out_dir=out_dir, resume=True, device=str(self.device), log=None)

