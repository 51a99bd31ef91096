"""Every utterance id of every source ends up kept or dropped with a reason, never both (issue 21, item 1)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from corpora import UTTS, build, write_corpus

from tsin_nb.data import load_corpus, read_text

_LABEL_ID = re.compile(r"^\[[^\]]*\]\s+(\S+)")
_TRANS_ID = re.compile(r"^(Ses\d\d[FM]_[^\s:\[]+)")
_UTTERANCE = re.compile(r"^Ses\d\d[FM]_.+_[FM]\d+$")


def source_ids(root: Path) -> set[str]:
    """Every utterance id that any source of an IEMOCAP tree names (read independently of the reader)."""
    ids: set[str] = set()
    for session in root.glob("Session*"):
        for f in session.glob("dialog/EmoEvaluation/*.txt"):
            ids |= {m[1] for line in read_text(f)[0].splitlines() if (m := _LABEL_ID.match(line))}
        for f in session.glob("dialog/transcriptions/*.txt"):
            ids |= {m[1] for line in read_text(f)[0].splitlines()
                    if (m := _TRANS_ID.match(line.strip())) and _UTTERANCE.match(m[1])}
        for pattern, suffix in (("sentences/wav/*/*.wav", ".wav"), ("sentences/ForcedAlignment/*/*.wdseg", ".wdseg")):
            ids |= {os.path.basename(p)[: -len(suffix)] for p in map(str, session.glob(pattern))
                    if not os.path.basename(p).startswith(".")}
    return ids


def check_accounting(manifest: pd.DataFrame, ids: set[str]) -> None:
    """kept + dropped = all, no overlap, one drop record per id."""
    kept = set(manifest["utt_id"])
    dropped = [s["utt_id"] for s in manifest.attrs["skipped"] if s["utt_id"]]
    assert len(dropped) == len(set(dropped)), "an id dropped twice"
    assert not kept & set(dropped), f"kept and dropped: {sorted(kept & set(dropped))}"
    assert kept | set(dropped) == ids, (sorted(ids - kept - set(dropped)), sorted((kept | set(dropped)) - ids))
    assert len(manifest) == len(kept)
    damaged = {d["utt_id"] for d in manifest.attrs.get("damaged", [])}
    assert damaged <= kept


def damage(root: Path) -> None:
    """Damage a tree in every way the readers know: stray files, orphan ids, bad lines, bad audio."""
    s1 = root / "Session1"
    emo = s1 / "dialog/EmoEvaluation/Ses01F_impro01.txt"
    emo.write_text(emo.read_text() + "[1.0 - 2.0]\tSes01F_impro01_M000\tsad\t[1, 1, 1]\n"  # conflicting label
                   "[3.0.1 - 4.0]\tSes01F_impro01_F007\tneu\t[1, 1, 1]\n"  # bad time
                   "[5.0 - 6.0]\tSes09F_impro01_F001\tneu\t[1, 1, 1]\n"  # session 09 in Session1
                   "[5.0 - 6.0]\tSes01F_impro01_x/../../F002\tneu\t[1, 1, 1]\n")  # path segments
    wav_dir = s1 / "sentences/wav/Ses01F_impro01"
    sf.write(wav_dir / "Ses01F_impro01_F050.wav", np.zeros(800, np.float32), 16000)  # a wav with no label
    (s1 / "sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_M051.wdseg").write_text("x")  # orphan wdseg
    (wav_dir / "Ses01F_impro01_F000.wav").write_bytes(b"RIFF")  # truncated
    trans = s1 / "dialog/transcriptions/Ses01F_impro05a.txt"
    trans.write_text(trans.read_text() + "Ses01F_impro05a_F009 [1-2]: only here\n")  # no label line
    wdseg = next(s1.glob("sentences/ForcedAlignment/Ses01M_script01_1b/*.wdseg"))
    wdseg.write_text("")  # kept, its word timings damaged
    (root / "Session2/dialog/EmoEvaluation/Ses02F_impro08b.txt").unlink()  # a dialog without labels


def test_kept_plus_dropped_is_every_id_on_a_damaged_tree(tmp_path):
    root = build(tmp_path / "c", UTTS)
    ids_before = source_ids(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_accounting(load_corpus(root, progress=False), ids_before)
        damage(root)
        manifest = load_corpus(root, progress=False)
    check_accounting(manifest, source_ids(root))
    assert [d["utt_id"] for d in manifest.attrs["damaged"]] == ["Ses01M_script01_1b_F001"]


def test_manifest_accounting_with_repeated_and_differing_rows(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    df = write_corpus(audio, lambda label: f"feeling {label}", per_speaker=2)
    table = df.drop(columns=["words", "dialog", "start", "end"])
    table = pd.concat([table, table.iloc[:2], table.iloc[2:3].assign(label="sad")])  # repeated, then differing
    table.loc[len(table)] = ["", "Ses01", "Ses01F", "F", "ang", "x", "a.wav"]  # no id: dropped as "(no id)"
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    manifest = load_corpus(path, progress=False)
    check_accounting(manifest, set(table["utt_id"]) - {""})
    assert len(manifest) == len(df)
