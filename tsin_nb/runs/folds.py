"""Folds of the paper's three splitting standards (Section IV-A-2, Table I): SesI, SpkI, SpkD."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from tsin_nb.core import EMOTIONS, PROTOCOLS
from tsin_nb.data import blank_cells

#: Number of random folds of the speaker/session-dependent protocol.
SPKD_FOLDS = 10

_IEMOCAP_SPEAKER_RE = re.compile(r"^Ses(\d+)([MF])$")
_IEMOCAP_SESSION_RE = re.compile(r"^Ses(\d+)$")


@dataclass
class Fold:
    """One cross-validation fold: utterance ids for training, validation (from training) and test."""

    name: str
    protocol: str
    train: list[str]
    val: list[str]
    test: list[str]

    def __repr__(self) -> str:
        return (f"Fold({self.name!r}, {self.protocol}, train={len(self.train)}, "
                f"val={len(self.val)}, test={len(self.test)})")


def _natural_key(s: str) -> list[object]:
    """Sort key that orders ``Ses2`` before ``Ses10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def session_fold_name(session: str) -> str:
    """``Ses01`` -> ``Session1`` (Table I); other session names are kept."""
    m = _IEMOCAP_SESSION_RE.match(session)
    return f"Session{int(m.group(1))}" if m else session


def speaker_order_key(speaker: str) -> tuple[object, ...]:
    """Table I order: Ses01M, Ses01F, Ses02M, ...; other speaker names follow, naturally sorted."""
    m = _IEMOCAP_SPEAKER_RE.match(speaker)
    if m:
        return (0, int(m.group(1)), 0 if m.group(2) == "M" else 1)
    return (1, _natural_key(speaker))


def _prepare(manifest: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and ids that folds need; return the rows sorted by ``utt_id``."""
    need = ["utt_id", "label", "session", "speaker"]
    missing = [c for c in need if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest lacks column(s) {missing}; make folds from tsin_nb.data.load_corpus output")
    if manifest.empty:
        raise ValueError("manifest is empty: no utterance to split (run `tsin-nb inspect` on the corpus)")
    dup = manifest["utt_id"][manifest["utt_id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"manifest has duplicate utt_id values, e.g. {dup[:3]}")
    df = manifest[need].astype(str)
    return df.sort_values("utt_id", kind="stable").reset_index(drop=True)


def check_blank_groups(manifest: pd.DataFrame, protocol: str) -> None:
    """ValueError naming the utterances whose session (SesI) or speaker (SpkI) is blank: never a fold of their own."""
    col = {"SesI": "session", "SpkI": "speaker"}.get(protocol)
    if col is None or col not in manifest.columns:
        return
    blank = blank_cells(manifest[col])
    if blank.any():
        ids = manifest.loc[blank, "utt_id"].astype(str).tolist() if "utt_id" in manifest.columns else []
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        raise ValueError(
            f"{protocol} holds out one {col} at a time, but {int(blank.sum())} utterance(s) have a blank {col}: "
            f"{', '.join(ids[:5])}{more}; fill their {col} cells in the manifest, or use "
            f"{' or '.join(p for p in PROTOCOLS if p != protocol)}"
        )


def _carve_val(ids: np.ndarray, labels: np.ndarray, val_fraction: float, rng: np.random.Generator
               ) -> tuple[list[str], list[str]]:
    """Split ``ids`` into (train, val), taking ``round(val_fraction * n_c)`` of each class c at random."""
    # Per-class sampling rather than sklearn's train_test_split: it also works when a class has one member.
    in_val = np.zeros(len(ids), dtype=bool)
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        k = int(round(val_fraction * len(idx)))
        if k:
            in_val[rng.choice(idx, size=k, replace=False)] = True
    return ids[~in_val].tolist(), ids[in_val].tolist()


def _group_folds(df: pd.DataFrame, protocol: str) -> list[tuple[str, np.ndarray]]:
    """(name, test mask) per held-out session (SesI) or speaker (SpkI)."""
    col, what = ("session", "sessions") if protocol == "SesI" else ("speaker", "speakers")
    groups = df[col].unique().tolist()
    if len(groups) < 2:
        hint = " (a manifest CSV needs a session column for SesI)" if protocol == "SesI" else ""
        raise ValueError(
            f"{protocol} holds out one of several {what}, but this manifest has {len(groups)}: "
            f"{groups}{hint}; use SpkD or a corpus with more {what}"
        )
    if protocol == "SesI":
        groups.sort(key=_natural_key)
        return [(session_fold_name(g), (df[col] == g).to_numpy()) for g in groups]
    groups.sort(key=speaker_order_key)
    return [(g, (df[col] == g).to_numpy()) for g in groups]


def _random_folds(df: pd.DataFrame, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, test mask) for SpkD: seeded stratified 10-fold split."""
    n = len(df)
    if n < SPKD_FOLDS:
        raise ValueError(f"SpkD needs at least {SPKD_FOLDS} utterances, this manifest has {n}")
    skf = StratifiedKFold(n_splits=SPKD_FOLDS, shuffle=True, random_state=seed)
    try:
        splits = list(skf.split(np.zeros(n), df["label"].to_numpy()))
    except ValueError as err:
        raise ValueError(f"SpkD cannot form {SPKD_FOLDS} stratified folds from this manifest: {err}") from err
    out = []
    for i, (_, test_idx) in enumerate(splits, 1):
        mask = np.zeros(n, dtype=bool)
        mask[test_idx] = True
        out.append((f"Group{i}", mask))
    return out


def check_fold(fold: Fold, manifest: pd.DataFrame) -> None:
    """Raise AssertionError when ``fold`` leaks (shared ids, sessions or speakers) or does not partition."""
    train, val, test = set(fold.train), set(fold.val), set(fold.test)
    for name, part, ids in (("train", train, fold.train), ("val", val, fold.val), ("test", test, fold.test)):
        if len(part) != len(ids):
            raise AssertionError(f"fold {fold.name}: {name} lists an utterance twice")
    for (a, sa), (b, sb) in ((("train", train), ("val", val)), (("train", train), ("test", test)),
                             (("val", val), ("test", test))):
        both = sa & sb
        if both:
            raise AssertionError(f"fold {fold.name}: {len(both)} utterance(s) in both {a} and {b}, "
                                 f"e.g. {sorted(both)[:3]}")
    everything = set(manifest["utt_id"])
    union = train | val | test
    if union != everything:
        raise AssertionError(
            f"fold {fold.name}: train/val/test do not partition the manifest "
            f"({len(everything - union)} missing, {len(union - everything)} unknown)"
        )
    if not test:
        raise AssertionError(f"fold {fold.name}: empty test set")
    col = {"SesI": "session", "SpkI": "speaker"}.get(fold.protocol)
    if col is not None:
        by_id = dict(zip(manifest["utt_id"], manifest[col]))
        held = {by_id[u] for u in test}
        seen = {by_id[u] for u in train | val}
        if held & seen:
            raise AssertionError(f"fold {fold.name}: {col}(s) {sorted(held & seen)} on both sides of the split")


def make_folds(manifest: pd.DataFrame, protocol: str, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    """Folds of ``protocol`` (SesI: 5, SpkI: 10, SpkD: 10 on IEMOCAP), each checked for leakage."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    check_blank_groups(manifest, protocol)
    df = _prepare(manifest)
    parts = _random_folds(df, seed) if protocol == "SpkD" else _group_folds(df, protocol)
    ids = df["utt_id"].to_numpy()
    labels = df["label"].to_numpy()
    folds = []
    for i, (name, in_test) in enumerate(parts):
        rng = np.random.default_rng([seed, i])
        train, val = _carve_val(ids[~in_test], labels[~in_test], val_fraction, rng)
        if not train:
            raise ValueError(f"fold {name}: nothing left to train on with val_fraction={val_fraction}")
        fold = Fold(name=name, protocol=protocol, train=train, val=val, test=ids[in_test].tolist())
        check_fold(fold, df)
        folds.append(fold)
    return folds


def fold_summary(folds: list[Fold], manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: sizes of train/val/test and the test set's class counts."""
    label = dict(zip(manifest["utt_id"], manifest["label"]))
    rows = []
    for f in folds:
        row = {"fold": f.name, "train": len(f.train), "val": len(f.val), "test": len(f.test)}
        test_labels = [label[u] for u in f.test]
        row.update({f"test_{e}": test_labels.count(e) for e in EMOTIONS})
        rows.append(row)
    return pd.DataFrame(rows)
