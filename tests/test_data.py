"""Corpus readers: IEMOCAP layout, manifest CSV/TSV, bad inputs, known counts and the inspect report."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
from corpora import UTTS, build, wdseg_text, write_wav  # noqa: F401

from tsin_nb.core import EMOTIONS
from tsin_nb.data import (
    EXCLUDED_CODES,
    MANIFEST_COLUMNS,
    CorpusError,
    check_known_counts,
    corpus_report,
    iemocap,
    inspect,
    load_corpus,
    load_iemocap,
    load_manifest,
    make_synthetic_corpus,
    parse_utt_id,
    read_wdseg,
)


def load(root: Path, **kw) -> pd.DataFrame:
    """load_iemocap without progress bars, ignoring the missing-session warning of small trees."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*session folder")
        return load_iemocap(root, progress=False, **kw)


def skip_of(m: pd.DataFrame, uid: str) -> dict:
    """The single skip record for ``uid``."""
    found = [s for s in m.attrs["skipped"] if s["utt_id"] == uid]
    assert len(found) == 1, found
    return found[0]


def wav_of(root: Path, uid: str) -> Path:
    return root / f"Session{int(uid[3:5])}" / "sentences" / "wav" / uid.rsplit("_", 1)[0] / f"{uid}.wav"


# --- well-formed tree -------------------------------------------------------------------------


def test_parses_well_formed_tree(tmp_path):
    m = load(build(tmp_path))
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    kept = sorted(u for u, c, _ in UTTS if c != "fru")
    assert m["utt_id"].tolist() == kept
    assert list(m.index) == list(range(len(kept)))
    assert set(m["label"]) <= set(EMOTIONS)
    row = m.set_index("utt_id").loc["Ses01F_impro05a_M003"]
    assert row["label"] == "hap"  # exc -> hap
    assert row["speaker"] == "Ses01M" and row["gender"] == "M" and row["session"] == "Ses01"
    assert row["dialog"] == "Ses01F_impro05a"
    assert row["text"] == "That is great news!"
    assert row["start"] == pytest.approx(1.5) and row["end"] == pytest.approx(3.25)
    second = m.set_index("utt_id").loc["Ses01F_impro01_M000"]
    assert second["start"] == pytest.approx(4.5) and second["end"] == pytest.approx(6.25)
    assert Path(row["wav_path"]).is_absolute() and Path(row["wav_path"]).is_file()
    assert row["wav_path"].endswith("Session1/sentences/wav/Ses01F_impro05a/Ses01F_impro05a_M003.wav")
    first = m.set_index("utt_id").loc["Ses01F_impro01_F000"]
    assert first["words"] == [("excuse", 0.10, 0.30), ("me", 0.35, 0.55)]
    assert m.attrs["kind"] == "iemocap" and m.attrs["root"] == str(tmp_path.resolve())
    assert m.attrs["skipped"] == [{
        "utt_id": "Ses01M_impro08b_F004",
        "file": str(tmp_path.resolve() / "Session1/dialog/EmoEvaluation/Ses01M_impro08b.txt"),
        "reason": "label 'fru' not in label map (excluded from the 4-class set)",
    }]
    assert not any("without an utterance id" in n for n in m.attrs["notes"])  # MXX0 lines are normal


@pytest.mark.parametrize(
    "utt_id, speaker, gender, dialog",
    [
        ("Ses01F_impro01_F000", "Ses01F", "F", "Ses01F_impro01"),
        ("Ses01F_impro01_M012", "Ses01M", "M", "Ses01F_impro01"),
        ("Ses03M_impro05a_F003", "Ses03F", "F", "Ses03M_impro05a"),
        ("Ses03M_impro05a_M003", "Ses03M", "M", "Ses03M_impro05a"),
        ("Ses02F_impro08b_M010", "Ses02M", "M", "Ses02F_impro08b"),
        ("Ses02M_impro08b_F010", "Ses02F", "F", "Ses02M_impro08b"),
        ("Ses04F_script01_1_M020", "Ses04M", "M", "Ses04F_script01_1"),
        ("Ses04M_script01_1_F020", "Ses04F", "F", "Ses04M_script01_1"),
        ("Ses05F_script01_1b_F031", "Ses05F", "F", "Ses05F_script01_1b"),
        ("Ses05M_script01_1b_M031", "Ses05M", "M", "Ses05M_script01_1b"),
        ("Ses01F_script02_2_M042", "Ses01M", "M", "Ses01F_script02_2"),
        ("Ses01M_script02_2_F042", "Ses01F", "F", "Ses01M_script02_2"),
    ],
)
def test_speaker_from_last_letter(utt_id, speaker, gender, dialog):
    parts = parse_utt_id(utt_id)
    assert parts == {"session": utt_id[:5], "speaker": speaker, "gender": gender, "dialog": dialog}


@pytest.mark.parametrize("bad", ["Ses01F_impro01", "Ses1F_impro01_F000", "Ses01X_impro01_F000", "foo"])
def test_bad_utt_id_rejected(bad):
    with pytest.raises(ValueError, match="not an IEMOCAP utterance id"):
        parse_utt_id(bad)


def test_every_dialog_form_parsed_from_files(tmp_path):
    forms = ["impro01", "impro05a", "impro08b", "script01_1", "script01_1b", "script02_2"]
    utts = [(f"Ses03{o}_{f}_{g}00{i}", "neu", "Hello there.")
            for i, f in enumerate(forms) for o in "FM" for g in "FM"]
    m = load(build(tmp_path, utts))
    assert len(m) == len(utts)
    for _, r in m.iterrows():
        assert r["speaker"] == "Ses03" + r["utt_id"][-4]
        assert Path(r["wav_path"]).parent.name == r["dialog"] == r["utt_id"].rsplit("_", 1)[0]
        assert r["words"] == [("hello", 0.10, 0.30), ("there", 0.35, 0.55)]


def test_read_wdseg_strips_markers_and_variants(tmp_path):
    p = tmp_path / "x.wdseg"
    p.write_text(" SFrm  EFrm    SegAScr Word\n    0    4  -10 <s>\n    5   14  -20 EXCUSE(2)\n"
                 "   15   19  -3 <sil>\n   20   24  -4 ++BREATHING++\n   25   49  -5 ME\n"
                 "   50   59  -1 </s>\n Total score: -43\n")
    assert read_wdseg(p) == [("excuse", 0.05, 0.15), ("me", 0.25, 0.50)]


def test_words_none_without_wdseg(tmp_path):
    m = load(build(tmp_path, UTTS[:2], wdseg=False))
    assert m["words"].isna().all() and len(m) == 2
    assert any("no .wdseg" in n for n in m.attrs["notes"])


# --- bad input ------------------------------------------------------------------------------


def test_wrong_root(tmp_path):
    with pytest.raises(CorpusError, match="does not exist.*Session1..Session5"):
        load_iemocap(tmp_path / "nope")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CorpusError, match="not a directory.*expected IEMOCAP's layout"):
        load_iemocap(f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no Session1..Session5 folder inside.*dialog/EmoEvaluation"):
        load_iemocap(tmp_path / "empty")


def test_wrong_root_suggests_subfolder(tmp_path):
    build(tmp_path / "IEMOCAP_full_release", UTTS[:1])
    with pytest.raises(CorpusError, match="did you mean .*IEMOCAP_full_release"):
        load_iemocap(tmp_path)


def test_missing_session_warns_and_goes_on(tmp_path):
    build(tmp_path, UTTS, sessions=(4, 5))
    with pytest.warns(UserWarning, match="Session3 missing"):
        m = load_iemocap(tmp_path, progress=False)
    assert len(m) == 7
    assert any("Session3" in n and "missing" in n for n in m.attrs["notes"])


def test_missing_emoevaluation_skips_dialog(tmp_path):
    build(tmp_path)
    emo = tmp_path / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    emo.unlink()
    m = load(tmp_path)
    assert "Ses01F_impro01_F000" not in set(m["utt_id"])
    for uid in ("Ses01F_impro01_F000", "Ses01F_impro01_M000"):
        s = skip_of(m, uid)
        assert s["reason"].startswith("no EmoEvaluation file for dialog Ses01F_impro01")
        assert s["file"].endswith("Ses01F_impro01.txt")
    assert not any(s["utt_id"].endswith("MXX0") for s in m.attrs["skipped"])


def test_missing_wav_skipped(tmp_path):
    build(tmp_path)
    wav_of(tmp_path, "Ses01F_impro01_F000").unlink()
    m = load(tmp_path)
    s = skip_of(m, "Ses01F_impro01_F000")
    assert s["reason"] == "wav file missing" and s["file"].endswith("Ses01F_impro01_F000.wav")
    assert len(m) == 6


def test_zero_length_wav_skipped(tmp_path):
    build(tmp_path)
    wav_of(tmp_path, "Ses01F_impro01_F000").write_bytes(b"")
    assert skip_of(load(tmp_path), "Ses01F_impro01_F000")["reason"] == "wav: zero-length file"


def test_corrupted_wav_skipped(tmp_path):
    build(tmp_path)
    wav_of(tmp_path, "Ses01F_impro01_F000").write_bytes(b"RIFF\x00\x01garbage" * 20)
    assert skip_of(load(tmp_path), "Ses01F_impro01_F000")["reason"].startswith("wav: cannot be decoded")


def test_stereo_kept_with_note(tmp_path):
    build(tmp_path)
    write_wav(wav_of(tmp_path, "Ses01F_impro01_F000"), channels=2)
    m = load(tmp_path)
    assert "Ses01F_impro01_F000" in set(m["utt_id"])
    assert any("Ses01F_impro01_F000" in n and "mono" in n for n in m.attrs["notes"])


def test_other_rates_kept_with_note(tmp_path):
    build(tmp_path)
    write_wav(wav_of(tmp_path, "Ses01F_impro01_F000"), sr=8000)
    write_wav(wav_of(tmp_path, "Ses01F_impro01_M000"), sr=44100)
    m = load(tmp_path)
    assert {"Ses01F_impro01_F000", "Ses01F_impro01_M000"} <= set(m["utt_id"])
    notes = " | ".join(m.attrs["notes"])
    assert "at 8000 Hz" in notes and "at 44100 Hz" in notes and "resamples them to 16 kHz" in notes


def test_non_utf8_transcription(tmp_path):
    build(tmp_path)
    t = tmp_path / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    t.write_bytes(t.read_bytes().replace(b"Excuse me.", "Excusé me.".encode("latin-1")))
    m = load(tmp_path)
    assert m.set_index("utt_id").loc["Ses01F_impro01_F000", "text"] == "Excusé me."
    assert any("Latin-1" in n and str(t.resolve()) in n for n in m.attrs["notes"])


def test_transcription_line_without_id(tmp_path):
    build(tmp_path)
    t = tmp_path / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    t.write_text(t.read_text() + "M: [BREATHING]\n")
    m = load(tmp_path)
    assert len(m) == 7
    assert any("1 transcription line(s) without an utterance id" in n and "Ses01F_impro01.txt:4" in n
               for n in m.attrs["notes"])


def test_unknown_label(tmp_path):
    m = load(build(tmp_path, [("Ses01F_impro01_F000", "abc", "Hi."), UTTS[1]]))
    assert skip_of(m, "Ses01F_impro01_F000")["reason"].startswith("label 'abc' not in label map")
    assert m["utt_id"].tolist() == ["Ses01F_impro01_M000"]


def test_excluded_codes(tmp_path):
    utts = [(f"Ses01F_impro01_F00{i}", c, "Hi.") for i, c in enumerate(EXCLUDED_CODES)] + [UTTS[1]]
    m = load(build(tmp_path, utts))
    assert len(m) == 1
    for i, c in enumerate(EXCLUDED_CODES):
        assert skip_of(m, f"Ses01F_impro01_F00{i}")["reason"] == (
            f"label '{c}' not in label map (excluded from the 4-class set)")


def test_custom_label_map(tmp_path):
    m = load(build(tmp_path), label_map={"fru": "ang", "neu": "neu"})
    assert sorted(m["label"]) == ["ang", "neu", "neu"]
    with pytest.raises(ValueError, match="label_map targets"):
        load(tmp_path, label_map={"fru": "frustrated"})


def test_empty_transcript(tmp_path):
    m = load(build(tmp_path, [("Ses01F_impro01_F000", "neu", ""), UTTS[1]]))
    s = skip_of(m, "Ses01F_impro01_F000")
    assert s["reason"] == "empty transcript" and s["file"].endswith("transcriptions/Ses01F_impro01.txt")


def test_missing_transcription_line(tmp_path):
    build(tmp_path)
    t = tmp_path / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    t.write_text("".join(line + "\n" for line in t.read_text().splitlines() if "_F000" not in line))
    assert skip_of(load(tmp_path), "Ses01F_impro01_F000")["reason"] == "no transcription line for this utterance"


def test_duplicate_id_keeps_first(tmp_path):
    build(tmp_path)
    emo = tmp_path / "Session1/dialog/EmoEvaluation"
    extra = emo / "Ses01F_impro01_copy.txt"
    extra.write_text("[1.0000 - 2.0000]\tSes01F_impro01_F000\tang\t[1, 1, 1]\n")
    (tmp_path / "Session1/dialog/transcriptions/Ses01F_impro01_copy.txt").write_text(
        "Ses01F_impro01_F000 [1.0-2.0]: Other.\n")
    m = load(tmp_path)
    assert m.set_index("utt_id").loc["Ses01F_impro01_F000", "label"] == "neu"
    assert not [s for s in m.attrs["skipped"] if s["utt_id"] == "Ses01F_impro01_F000"]  # kept, so never dropped
    note = next(n for n in m.attrs["notes"] if "copy(ies) of kept utterances" in n)
    assert "Ses01F_impro01_F000" in note and "Ses01F_impro01_copy.txt:1" in note


def test_macos_resource_files_ignored(tmp_path):
    build(tmp_path)
    junk = b"\x00\x05\x16\x07Mac OS X        \x00\x02\xff\xfe"
    for p in ["Session1/dialog/EmoEvaluation/._Ses01F_impro01.txt",
              "Session1/dialog/transcriptions/._Ses01F_impro01.txt",
              "Session1/sentences/wav/Ses01F_impro01/._Ses01F_impro01_F000.wav",
              "Session1/sentences/ForcedAlignment/Ses01F_impro01/._Ses01F_impro01_F000.wdseg"]:
        (tmp_path / p).write_bytes(junk)
    (tmp_path / "Session1/sentences/wav/._Ses01F_impro01").write_bytes(junk)
    (tmp_path / "._Session1").write_bytes(junk)
    m = load(tmp_path)
    assert len(m) == 7
    text = repr(m.attrs["skipped"]) + repr(m.attrs["notes"])
    assert "._" not in text and "Latin-1" not in text


# --- known counts ---------------------------------------------------------------------------


def test_check_known_counts_names_each_difference(tmp_path):
    m = load(build(tmp_path))
    fake = {"total": 7, "label": {"ang": 2, "hap": 2, "sad": 1, "neu": 2},
            "session": {"Ses01": 5, "Ses02": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_known_counts(m, fake) == []
    fake["label"] = {"ang": 3, "hap": 2, "sad": 1, "neu": 2}
    fake["session"] = {"Ses01": 5, "Ses02": 1, "Ses03": 1}
    with pytest.warns(UserWarning, match="known IEMOCAP counts") as rec:
        diffs = check_known_counts(m, fake)
    assert diffs == ["label ang 2 != 3", "session Ses02 2 != 1", "session Ses03 0 != 1"]
    assert "label ang 2 != 3" in str(rec[0].message)


def test_load_warns_on_count_mismatch_with_all_sessions(tmp_path, monkeypatch):
    build(tmp_path, UTTS, sessions=(3, 4, 5))
    with pytest.warns(UserWarning, match=r"total 7 != 5531.*label ang 2 != 1103.*session Ses01 5 != 1085"):
        m = load_iemocap(tmp_path, progress=False)
    assert any("total 7 != 5531" in n for n in m.attrs["notes"])
    monkeypatch.setattr(iemocap, "KNOWN_COUNTS", {"total": 7, "label": {"ang": 2, "hap": 2, "sad": 1, "neu": 2},
                                                  "session": {"Ses01": 5, "Ses02": 2}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*empty \(no dialog inside\)")  # Session3..5 are empty
        load_iemocap(tmp_path, progress=False)


def test_no_count_check_on_synthetic_corpus(tmp_path):
    build(tmp_path, UTTS, sessions=(3, 4, 5))
    (tmp_path / ".tsin_synth.json").write_text("{}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*empty \(no dialog inside\)")  # Session3..5 are empty
        load_iemocap(tmp_path, progress=False)


# --- manifest CSV/TSV ----------------------------------------------------------------------


def write_manifest(tmp_path: Path, sep: str = ",", ext: str = "csv") -> Path:
    for name in ("a", "b", "c", "d"):
        write_wav(tmp_path / "audio" / f"{name}.wav")
    abs_wav = tmp_path / "elsewhere" / "e.wav"
    write_wav(abs_wav)
    rows = [
        ["utt_id", "wav_path", "text", "label", "speaker", "session", "start"],
        ["u1", "audio/a.wav", "hello there", "Angry", "spk1", "s1", "1.5"],
        ["u2", "audio/b.wav", "so happy", "joy", "spk2", "s1", ""],
        ["u3", "audio/c.wav", "oh no", "SADNESS", "spk1", "s2", "2"],
        ["u4", str(abs_wav), "fine", "neutral", "spk2", "", "x"],
        ["u5", "audio/d.wav", "hmm", "surprise", "spk1", "s2", ""],
        ["u6", "audio/missing.wav", "where", "neu", "spk1", "s2", ""],
        ["u7", "audio/d.wav", "  ", "neu", "spk1", "s2", ""],
        ["u1", "audio/d.wav", "again", "neu", "spk1", "s2", ""],
        ["u8", "audio/d.wav", "excited", "excited", "spk2", "s2", ""],
    ]
    p = tmp_path / f"corpus.{ext}"
    p.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    return p


@pytest.mark.parametrize("sep, ext", [(",", "csv"), ("\t", "tsv")])
def test_load_manifest(tmp_path, sep, ext):
    p = write_manifest(tmp_path, sep, ext)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load_manifest(p, progress=False)
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m["utt_id"].tolist() == ["u1", "u2", "u3", "u4", "u8"]
    assert m["label"].tolist() == ["ang", "hap", "sad", "neu", "hap"]
    assert m["session"].tolist() == ["s1", "s1", "s2", "", "s2"]  # a blank cell stays blank (SesI refuses it)
    assert any("1 row(s) have a blank session cell" in n and f"corpus.{ext}:5" in n for n in m.attrs["notes"])
    assert (m["dialog"] == "").all() and m["words"].isna().all() and (m["gender"] == "").all()
    assert m["wav_path"][0] == str(tmp_path.resolve() / "audio" / "a.wav")
    assert m["wav_path"][3] == str(tmp_path / "elsewhere" / "e.wav")
    assert m["start"][0] == 1.5 and math.isnan(m["start"][1]) and math.isnan(m["start"][3])
    assert math.isnan(m["end"][0])
    reasons = {s["utt_id"]: s["reason"] for s in m.attrs["skipped"]}
    assert reasons["u5"] == "label 'surprise' not in label map (pass label_map to use it)"
    assert reasons["u6"] == "wav file missing"
    assert reasons["u7"] == "empty transcript"
    assert "u1" not in reasons  # kept from its first row; the later, different row is named in a note
    assert any(f"corpus.{ext}:9" in n and "differ from the first row" in n for n in m.attrs["notes"])
    assert m.attrs["kind"] == "manifest"


def test_load_manifest_root_and_label_map(tmp_path):
    p = write_manifest(tmp_path)
    moved = tmp_path / "lists"
    moved.mkdir()
    q = moved / "corpus.csv"
    q.write_text(p.read_text())
    m = load_manifest(q, root=tmp_path, progress=False, label_map={"angry": "ang", "surprise": "neu"})
    assert set(m["utt_id"]) == {"u1", "u5"}  # lookups are case-insensitive; other labels unmapped
    assert m.set_index("utt_id").loc["u5", "label"] == "neu"
    m = load_manifest(q, progress=False)  # relative paths now resolve under lists/ and are missing
    assert m["utt_id"].tolist() == ["u4"]  # its path is absolute
    assert {s["reason"] for s in m.attrs["skipped"] if s["utt_id"] in ("u2", "u3")} == {"wav file missing"}


def test_load_manifest_missing_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("utt_id,wav_path,emotion\nu1,a.wav,ang\n")
    with pytest.raises(CorpusError, match=r"m\.csv: missing required column\(s\) text, label, speaker"):
        load_manifest(p)


def test_load_corpus_dispatch(tmp_path):
    build(tmp_path / "iemo", UTTS[:2])
    with pytest.warns(UserWarning, match="Session2, Session3, Session4, Session5 missing"):
        assert load_corpus(tmp_path / "iemo", progress=False).attrs["kind"] == "iemocap"
    p = write_manifest(tmp_path)
    assert load_corpus(p, progress=False).attrs["kind"] == "manifest"
    other = tmp_path / "corpus.json"
    other.write_text("{}")
    with pytest.raises(CorpusError, match="not a folder nor a .csv/.tsv manifest"):
        load_corpus(other)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nothing.csv")
    assert callable(make_synthetic_corpus)


# --- report ---------------------------------------------------------------------------------


def test_corpus_report_and_inspect(tmp_path):
    build(tmp_path)
    wav_of(tmp_path, "Ses01F_impro01_F000").unlink()
    report, code = inspect(tmp_path, progress=False)
    assert code == 0
    for part in ("Usable utterances: 6", "Per class", "Per session", "Per speaker", "Ses01M",
                 "Ses01F_impro01_F000", "wav file missing", "Ses01M_impro08b_F004",
                 "label 'fru' not in label map", "Session3, Session4, Session5 missing"):
        assert part in report, part
    assert report.index("wav file missing") < report.index("Ses01M_impro08b_F004")  # problems first
    assert corpus_report(load(tmp_path)) in report


def test_inspect_exit_codes(tmp_path):
    report, code = inspect(tmp_path / "missing", progress=False)
    assert code == 2 and "does not exist" in report
    build(tmp_path, [("Ses01F_impro01_F000", "fru", "Hi.")])
    report, code = inspect(tmp_path, progress=False)
    assert code == 1 and "no usable utterance" in report and "Usable utterances: 0" in report
