"""Folds: Table I names and order, no leakage, partitions, stratification and seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsin_nb.core import EMOTIONS
from tsin_nb.runs import Fold, check_fold, fold_summary, make_folds


def fake_manifest(n_per_speaker: int = 40, seed: int = 0) -> pd.DataFrame:
    """An IEMOCAP-shaped manifest (5 sessions x 2 speakers) with imbalanced labels; no audio needed."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, 6):
        for g in "FM":
            for k in range(n_per_speaker):
                rows.append({
                    "utt_id": f"Ses0{s}{g}_impro01_{g}{k:03d}",
                    "session": f"Ses0{s}",
                    "speaker": f"Ses0{s}{g}",
                    "label": rng.choice(EMOTIONS, p=[0.2, 0.3, 0.2, 0.3]),
                })
    return pd.DataFrame(rows).sample(frac=1, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    return fake_manifest()


def assert_clean(folds: list[Fold], m: pd.DataFrame, col: str | None) -> None:
    """No id on two sides, val from the non-test part, every id covered, held-out groups unseen."""
    everything = set(m["utt_id"])
    group = dict(zip(m["utt_id"], m[col])) if col else None
    for f in folds:
        tr, va, te = set(f.train), set(f.val), set(f.test)
        assert not (tr & va) and not (tr & te) and not (va & te)
        assert va <= everything - te
        assert tr | va | te == everything
        assert len(f.train) + len(f.val) + len(f.test) == len(everything)
        if group:
            assert not ({group[u] for u in te} & {group[u] for u in tr | va})


def test_sesi(manifest):
    folds = make_folds(manifest, "SesI")
    assert [f.name for f in folds] == [f"Session{i}" for i in range(1, 6)]
    assert all(f.protocol == "SesI" for f in folds)
    assert_clean(folds, manifest, "session")
    session = dict(zip(manifest["utt_id"], manifest["session"]))
    for i, f in enumerate(folds, 1):
        assert {session[u] for u in f.test} == {f"Ses0{i}"}
    assert sorted(u for f in folds for u in f.test) == sorted(manifest["utt_id"])


def test_spki_table_order(manifest):
    folds = make_folds(manifest, "SpkI")
    assert [f.name for f in folds] == [f"Ses0{s}{g}" for s in range(1, 6) for g in "MF"]
    assert_clean(folds, manifest, "speaker")
    speaker = dict(zip(manifest["utt_id"], manifest["speaker"]))
    for f in folds:
        assert {speaker[u] for u in f.test} == {f.name}


def test_spkd_stratified(manifest):
    folds = make_folds(manifest, "SpkD")
    assert [f.name for f in folds] == [f"Group{i}" for i in range(1, 11)]
    assert_clean(folds, manifest, None)
    tests = [u for f in folds for u in f.test]
    assert sorted(tests) == sorted(manifest["utt_id"])  # test folds partition the corpus
    overall = manifest["label"].value_counts(normalize=True)
    label = dict(zip(manifest["utt_id"], manifest["label"]))
    for f in folds:
        share = pd.Series([label[u] for u in f.test]).value_counts(normalize=True)
        assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.05
        assert abs(len(f.test) - len(manifest) / 10) <= 1


@pytest.mark.parametrize("protocol", ["SesI", "SpkI", "SpkD"])
def test_val_stratified_and_sized(manifest, protocol):
    label = dict(zip(manifest["utt_id"], manifest["label"]))
    for f in make_folds(manifest, protocol, val_fraction=0.2):
        rest = f.train + f.val
        assert abs(len(f.val) - 0.2 * len(rest)) <= len(EMOTIONS)
        for e in EMOTIONS:
            n_rest = sum(label[u] == e for u in rest)
            n_val = sum(label[u] == e for u in f.val)
            assert n_val == round(0.2 * n_rest)


@pytest.mark.parametrize("protocol", ["SesI", "SpkI", "SpkD"])
def test_seeded(manifest, protocol):
    a = make_folds(manifest, protocol, seed=3)
    b = make_folds(manifest.sample(frac=1, random_state=5), protocol, seed=3)  # row order does not matter
    assert a == b
    c = make_folds(manifest, protocol, seed=4)
    assert [f.val for f in a] != [f.val for f in c]
    if protocol == "SpkD":
        assert [f.test for f in a] != [f.test for f in c]
    else:
        assert [f.test for f in a] == [f.test for f in c]


def test_val_fraction_zero(manifest):
    folds = make_folds(manifest, "SesI", val_fraction=0.0)
    assert all(f.val == [] for f in folds)
    with pytest.raises(ValueError, match="val_fraction"):
        make_folds(manifest, "SesI", val_fraction=1.0)


def test_unknown_protocol(manifest):
    with pytest.raises(ValueError, match="unknown protocol 'LOSO'.*SesI, SpkI, SpkD"):
        make_folds(manifest, "LOSO")


def test_protocol_that_cannot_be_formed():
    m = pd.DataFrame({"utt_id": [f"u{i}" for i in range(44)], "session": "all", "speaker": "spk1",
                      "label": [EMOTIONS[i % 4] for i in range(44)]})
    with pytest.raises(ValueError, match="SpkI holds out one of several speakers.*has 1"):
        make_folds(m, "SpkI")
    with pytest.raises(ValueError, match="SesI holds out one of several sessions.*session column"):
        make_folds(m, "SesI")
    assert len(make_folds(m, "SpkD")) == 10
    with pytest.raises(ValueError, match="SpkD cannot form 10 stratified folds"):
        make_folds(m.head(30), "SpkD")  # no class reaches 10 members
    with pytest.raises(ValueError, match="SpkD needs at least 10 utterances"):
        make_folds(m.head(5), "SpkD")
    with pytest.raises(ValueError, match="duplicate utt_id"):
        make_folds(pd.concat([m, m.head(1)]), "SpkD")
    with pytest.raises(ValueError, match="manifest is empty"):
        make_folds(m.head(0), "SpkD")


def test_manifest_session_names_kept():
    m = pd.DataFrame({"utt_id": [f"u{i}" for i in range(24)],
                      "session": [["train_a", "day2", "day10"][i % 3] for i in range(24)],
                      "speaker": [f"p{i % 6}" for i in range(24)],
                      "label": [EMOTIONS[i % 4] for i in range(24)]})
    folds = make_folds(m, "SesI")
    assert [f.name for f in folds] == ["day2", "day10", "train_a"]
    assert [f.name for f in make_folds(m, "SpkI")] == [f"p{i}" for i in range(6)]
    assert_clean(folds, m, "session")


def test_check_fold_catches_leaks(manifest):
    good = make_folds(manifest, "SpkI")[0]
    check_fold(good, manifest)
    leak_id = Fold(good.name, "SpkI", good.train + good.test[:1], good.val, good.test)
    with pytest.raises(AssertionError, match="both train and test"):
        check_fold(leak_id, manifest)
    moved = good.train[0]
    leak_spk = Fold(good.name, "SpkI", good.train, good.val, good.test + [moved])
    leak_spk.train = good.train[1:]
    with pytest.raises(AssertionError, match="on both sides"):
        check_fold(leak_spk, manifest)
    short = Fold(good.name, "SpkI", good.train[1:], good.val, good.test)
    with pytest.raises(AssertionError, match="do not partition"):
        check_fold(short, manifest)


def test_fold_summary(manifest):
    folds = make_folds(manifest, "SesI")
    table = fold_summary(folds, manifest)
    assert table["fold"].tolist() == [f.name for f in folds]
    assert (table[[f"test_{e}" for e in EMOTIONS]].sum(axis=1) == table["test"]).all()
    assert (table["train"] + table["val"] + table["test"] == len(manifest)).all()
