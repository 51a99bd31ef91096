"""The synthetic corpus: IEMOCAP layout and formats, determinism, caching, word timings, emphasis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tsin_nb.core import EMOTIONS
from tsin_nb.data import (
    EVENT_WORD,
    SMOKE_SIZE,
    EspeakError,
    espeak,
    make_synthetic_corpus,
    synthesize,
    synthesize_events,
)

TINY = 40  # the smallest size: enough for determinism checks

EMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
UTT_RE = re.compile(r"^(?P<dialog>Ses0[1-5][FM]_(?:impro0\d[ab]?|script0\d_\d[ab]?))_(?P<spk>[FM])\d{3}$")
BLOCK_RE = re.compile(
    r"^\[(?P<start>\d+\.\d{4}) - (?P<end>\d+\.\d{4})\]\t(?P<id>\S+)\t(?P<code>[a-z]{3})\t"
    r"\[\d\.\d{4}, \d\.\d{4}, \d\.\d{4}\]$"
)
CAT_RE = re.compile(r"^C-E\d:\t(?:[A-Z][a-z]+; )*[A-Z][a-z]+;\t\(.*\)$")
DIM_RE = re.compile(r"^A-E\d:\tval [1-5]; act [1-5]; dom  [1-5];\t\(.*\)$")
TRANS_RE = re.compile(r"^(?P<id>\S+) \[(?P<start>\d{3,}\.\d{4})-(?P<end>\d{3,}\.\d{4})\]: (?P<text>.+)$")
WDSEG_HEADER = " SFrm  EFrm    SegAScr Word"
WDSEG_ROW = re.compile(r"^\s*(?P<s>\d+)\s+(?P<e>\d+)\s+(?P<score>-?\d+)\s+(?P<word><s>|</s>|<sil>|[A-Z']+(?:\(\d\))?)$")
WDSEG_TOTAL = re.compile(r"^ Total score: (?P<total>-?\d+)$")


def parse_emo(path: Path) -> dict[str, tuple[float, float, str]]:
    """utt_id -> (start, end, code), checking every line of the file against IEMOCAP's format."""
    lines = path.read_text().split("\n")
    assert lines[0] == EMO_HEADER and lines[1] == ""
    out: dict[str, tuple[float, float, str]] = {}
    blocks = "\n".join(lines[2:]).strip("\n").split("\n\n")
    for block in blocks:
        head, *evals = block.split("\n")
        m = BLOCK_RE.match(head)
        assert m, f"{path}: bad block header {head!r}"
        assert evals and all(CAT_RE.match(x) or DIM_RE.match(x) for x in evals), evals
        assert any(CAT_RE.match(x) for x in evals) and any(DIM_RE.match(x) for x in evals)
        out[m["id"]] = (float(m["start"]), float(m["end"]), m["code"])
    return out


def parse_trans(path: Path) -> dict[str, tuple[float, float, str]]:
    """utt_id -> (start, end, text)."""
    out = {}
    for line in path.read_text().splitlines():
        m = TRANS_RE.match(line)
        assert m, f"{path}: bad line {line!r}"
        out[m["id"]] = (float(m["start"]), float(m["end"]), m["text"])
    return out


def parse_wdseg(path: Path) -> tuple[list[tuple[int, int, int, str]], int]:
    """Rows (start frame, end frame, score, word) and the total score."""
    lines = path.read_text().splitlines()
    assert lines[0] == WDSEG_HEADER
    total = WDSEG_TOTAL.match(lines[-1])
    assert total, lines[-1]
    rows = []
    for line in lines[1:-1]:
        m = WDSEG_ROW.match(line)
        assert m, f"{path}: bad row {line!r}"
        rows.append((int(m["s"]), int(m["e"]), int(m["score"]), m["word"]))
    return rows, int(total["total"])


def plain_words(text: str) -> list[str]:
    """The transcription's words without punctuation."""
    return re.findall(r"[A-Za-z']+", text)


def corpus_files(root: Path) -> dict[str, bytes]:
    """Every text file of a corpus (meta, transcriptions, EmoEvaluation, wdseg) by relative path."""
    paths = [root / "synthetic_meta.csv"] + sorted(root.glob("Session*/dialog/*/*.txt"))
    paths += sorted(root.glob("Session*/sentences/ForcedAlignment/*/*.wdseg"))
    return {str(p.relative_to(root)): p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One smoke-size corpus shared by the module."""
    return make_synthetic_corpus(tmp_path_factory.mktemp("synth") / "corpus", SMOKE_SIZE, seed=0, progress=False)


@pytest.fixture(scope="module")
def meta(corpus: Path) -> pd.DataFrame:
    """The corpus's synthetic_meta.csv."""
    return pd.read_csv(corpus / "synthetic_meta.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def parsed(corpus: Path) -> dict[str, dict]:
    """Labels, transcriptions and dialogs parsed from the corpus files with the regexes above."""
    labels, texts, dialogs = {}, {}, {}
    for s in range(1, 6):
        sdir = corpus / f"Session{s}"
        for emo in sorted((sdir / "dialog" / "EmoEvaluation").glob("*.txt")):
            got = parse_emo(emo)
            labels.update(got)
            dialogs[emo.stem] = s
            trans = parse_trans(sdir / "dialog" / "transcriptions" / emo.name)
            assert set(trans) == set(got), emo.name
            texts.update(trans)
    return {"labels": labels, "texts": texts, "dialogs": dialogs}


def test_layout_and_wavs(corpus: Path, parsed: dict) -> None:
    assert sorted(p.name for p in corpus.glob("Session*")) == [f"Session{s}" for s in range(1, 6)]
    for name in ("Ses01F_impro01", "Ses01M_impro05a", "Ses02F_script01_1b", "Ses03M_script02_2"):
        assert name in parsed["dialogs"], name
    for uid in parsed["labels"]:
        m = UTT_RE.match(uid)
        assert m, uid
        sdir = corpus / f"Session{int(uid[3:5])}" / "sentences"
        wav = sdir / "wav" / m["dialog"] / f"{uid}.wav"
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert (sdir / "ForcedAlignment" / m["dialog"] / f"{uid}.wdseg").is_file()
    n_wav = len(list(corpus.glob("Session*/sentences/wav/*/*.wav")))
    assert n_wav == len(parsed["labels"]) > SMOKE_SIZE  # extra (non 4-class) utterances are written too


def test_dialog_prefix_is_not_the_speaker(parsed: dict) -> None:
    pairs = {(UTT_RE.match(u)["dialog"][5], UTT_RE.match(u)["spk"]) for u in parsed["labels"]}
    assert pairs == {("F", "F"), ("F", "M"), ("M", "F"), ("M", "M")}


def test_turns_alternate_and_times_match_wavs(corpus: Path, parsed: dict) -> None:
    by_dialog: dict[str, list[tuple[float, float, str]]] = {}
    for uid, (start, end, _) in parsed["labels"].items():
        assert parsed["texts"][uid][:2] == (start, end)
        by_dialog.setdefault(UTT_RE.match(uid)["dialog"], []).append((start, end, uid))
        wav = corpus / f"Session{int(uid[3:5])}" / "sentences" / "wav" / uid.rsplit("_", 1)[0] / f"{uid}.wav"
        assert end - start == pytest.approx(sf.info(str(wav)).duration, abs=2e-4)
    for turns in by_dialog.values():
        turns.sort()
        assert all(a[1] < b[0] for a, b in zip(turns, turns[1:]))  # no overlap, increasing
        speakers = [uid[-4] for _, _, uid in turns]
        switches = sum(a != b for a, b in zip(speakers, speakers[1:]))
        assert switches >= min(speakers.count("F"), speakers.count("M")) * 2 - 1


def test_wdseg_timings(corpus: Path, parsed: dict) -> None:
    for uid, (_, _, text) in parsed["texts"].items():
        sdir = corpus / f"Session{int(uid[3:5])}" / "sentences"
        dialog = uid.rsplit("_", 1)[0]
        rows, total = parse_wdseg(sdir / "ForcedAlignment" / dialog / f"{uid}.wdseg")
        n_frames = sf.info(str(sdir / "wav" / dialog / f"{uid}.wav")).frames // 160
        assert rows[0][0] == 0 and rows[0][3] == "<s>" and rows[-1][3] == "</s>"
        assert rows[-1][1] < n_frames  # inside the wav
        assert all(s <= e for s, e, _, _ in rows)
        assert all(b[0] == a[1] + 1 for a, b in zip(rows, rows[1:]))  # contiguous and monotonic
        assert sum(r[2] for r in rows) == total
        words = [re.sub(r"\(\d\)$", "", w) for _, _, _, w in rows if w not in ("<s>", "</s>", "<sil>")]
        assert words == [w.upper() for w in plain_words(text)]


def test_meta_matches_files(meta: pd.DataFrame, parsed: dict) -> None:
    assert {"utt_id", "label_code", "cue", "emotion_word", "salient_index", "salient_word",
            "voice", "rate", "pitch", "range", "volume"} <= set(meta.columns)
    assert sorted(meta.utt_id) == sorted(parsed["labels"])
    for r in meta.itertuples():
        text = parsed["texts"][r.utt_id][2]
        assert parsed["labels"][r.utt_id][2] == r.label_code
        assert plain_words(text)[r.salient_index] == r.salient_word
        if r.cue in ("text", "both"):
            assert r.emotion_word == r.salient_word
        if r.cue == "voice":
            assert r.emotion_word == ""
    four = meta[meta.label_code.isin(["ang", "hap", "exc", "sad", "neu"])]
    assert len(four) == SMOKE_SIZE
    shares = four.cue.value_counts(normalize=True)
    assert all(shares[c] == pytest.approx(0.25, abs=0.1) for c in ("text", "voice", "both", "focus"))  # 120: coarse
    assert set(meta.label_code) - set(four.label_code) >= {"xxx", "fru"}


def test_every_session_has_both_speakers_and_all_classes(parsed: dict) -> None:
    seen: dict[str, set[str]] = {}
    for uid, (_, _, code) in parsed["labels"].items():
        label = {"exc": "hap"}.get(code, code)
        if label in EMOTIONS:
            seen.setdefault(uid[:5] + uid[-4], set()).add(label)
    assert sorted(seen) == sorted(f"Ses0{s}{g}" for s in range(1, 6) for g in "FM")
    assert all(v == set(EMOTIONS) for v in seen.values()), seen


def test_voices_differ_by_speaker(meta: pd.DataFrame) -> None:
    voices = meta.groupby("speaker").voice.unique()
    assert all(len(v) == 1 for v in voices) and len({v[0] for v in voices}) == 10


def test_held_out_sessions_meet_new_emotion_words() -> None:
    from tsin_nb.data import plan_corpus

    plan = plan_corpus(1200, seed=0)
    words: dict[str, set[str]] = {}
    for u in plan:
        if u.cue in ("text", "both"):
            words.setdefault(u.session, set()).add(u.emotion_word)
    for s, w in words.items():
        others = set().union(*(v for k, v in words.items() if k != s))
        assert len(w - others) >= 5, s  # synonyms a model trained on the other sessions never saw


def test_espeak_events_point_at_words() -> None:
    text = "We had a long day at the office and nobody came."
    y, sr, events = synthesize_events(text, "en-us+f2")
    assert sr == 22050 and y.dtype == np.float32 and len(y) > sr
    words = [e for e in events if e.type == EVENT_WORD]
    starts = [m.start() for m in re.finditer(r"[A-Za-z]+", text)]
    assert [e.text_position for e in words] == starts
    assert [e.length for e in words] == [len(w) for w in plain_words(text)]
    samples = [e.sample for e in words]
    assert samples == sorted(samples) and samples[-1] < len(y)
    for e in words:
        assert abs(e.sample - e.audio_ms * sr / 1000) <= sr / 1000 * 1.5


def test_espeak_missing_library_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import espeakng_loader

    saved = espeak._STATE
    monkeypatch.setattr(espeak, "_STATE", None)
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(EspeakError, match="cannot load libespeak-ng"):
        synthesize("hello")
    monkeypatch.setattr(espeak, "_STATE", saved)
    with pytest.raises(EspeakError, match="unknown espeak voice"):
        synthesize("hello", voice="no-such-voice")


def test_salient_word_is_emphasized(corpus: Path, meta: pd.DataFrame) -> None:
    """Against the same sentence spoken without <emphasis>, the salient word lasts longer."""
    ratios = []
    for r in meta.itertuples():
        words = plain_words(r.text)
        if r.salient_index in (0, len(words) - 1):
            continue
        wdseg = corpus / f"Session{int(r.utt_id[3:5])}" / "sentences" / "ForcedAlignment" / r.dialog / f"{r.utt_id}.wdseg"
        rows = [x for x in parse_wdseg(wdseg)[0] if x[3] not in ("<s>", "</s>", "<sil>")]
        emphasized = (rows[r.salient_index + 1][0] - rows[r.salient_index][0]) / 100  # seconds
        ssml = f"<speak>{r.text}</speak>"
        _, sr, events = synthesize(ssml, r.voice, r.rate, r.pitch, r.range, r.volume, ssml=True)
        start = {pos - len("<speak>"): sample for pos, _, sample in events}
        spans = [m.start() for m in re.finditer(r"[A-Za-z']+", r.text)]
        a, b = spans[r.salient_index], spans[r.salient_index + 1]
        if a in start and b in start:
            ratios.append(emphasized / ((start[b] - start[a]) / sr))
    assert len(ratios) > 50
    assert np.mean(ratios) > 1.04, np.mean(ratios)


def test_cached_call_is_a_noop(corpus: Path) -> None:
    files = [p for p in corpus.rglob("*") if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    assert make_synthetic_corpus(corpus, SMOKE_SIZE, seed=0, progress=False) == corpus
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert sorted(p for p in corpus.rglob("*") if p.is_file()) == sorted(files)
    marker = json.loads((corpus / ".tsin_synth.json").read_text())
    assert (marker["seed"], marker["n_utterances"]) == (0, SMOKE_SIZE) and "version" in marker


def test_mismatching_marker_is_a_clear_error(corpus: Path) -> None:
    with pytest.raises(ValueError, match="choose another folder or delete"):
        make_synthetic_corpus(corpus, SMOKE_SIZE, seed=1, progress=False)
    with pytest.raises(ValueError, match="n_utterances"):
        make_synthetic_corpus(corpus, TINY, seed=0, progress=False)


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = make_synthetic_corpus(tmp_path / "a", TINY, seed=3, progress=False)
    b = make_synthetic_corpus(tmp_path / "b", TINY, seed=3, progress=False)
    c = make_synthetic_corpus(tmp_path / "c", TINY, seed=4, progress=False)
    fa, fb, fc = corpus_files(a), corpus_files(b), corpus_files(c)
    assert fa == fb
    wav = sorted(a.glob("Session1/sentences/wav/*/*.wav"))[0]
    assert wav.read_bytes() == (b / wav.relative_to(a)).read_bytes()
    assert fa["synthetic_meta.csv"] != fc["synthetic_meta.csv"]
    assert [k for k in fa if "transcriptions" in k] != [k for k in fc if "transcriptions" in k] or any(
        fa[k] != fc.get(k) for k in fa if "transcriptions" in k
    )


def test_interrupted_folder_is_regenerated(tmp_path: Path) -> None:
    root = make_synthetic_corpus(tmp_path / "c", TINY, seed=0, progress=False)
    good = corpus_files(root)
    (root / ".tsin_synth.json").unlink()  # as if interrupted before completion
    (root / ".tsin_synth.partial").write_text(json.dumps({"seed": 0, "n_utterances": TINY, "version": 1, "cues": "four"}))
    half = next(iter(root.glob("Session2/dialog/transcriptions/*.txt")))
    half.write_text("truncated")
    (half.parent / f".{half.name}.abc123.tmp").write_text("a crash's temporary file")
    stray = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro09.txt"
    stray.write_text("not written by synth")
    with pytest.raises(ValueError, match="Ses01F_impro09.txt, which the synthetic corpus does not write"):
        make_synthetic_corpus(root, TINY, seed=0, progress=False)
    assert stray.read_text() == "not written by synth"  # nothing of the user's is deleted
    stray.unlink()
    make_synthetic_corpus(root, TINY, seed=0, progress=False)
    assert corpus_files(root) == good
    assert (root / ".tsin_synth.json").is_file() and not (root / ".tsin_synth.partial").exists()


def test_foreign_corpus_is_never_overwritten(tmp_path: Path) -> None:
    real = tmp_path / "IEMOCAP_full_release" / "Session1" / "dialog"
    real.mkdir(parents=True)
    with pytest.raises(ValueError, match="did not write"):
        make_synthetic_corpus(tmp_path / "IEMOCAP_full_release", TINY, progress=False)
    assert sorted(p.name for p in (tmp_path / "IEMOCAP_full_release").iterdir()) == ["Session1"]


def test_too_small_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        make_synthetic_corpus(tmp_path / "x", 10, progress=False)


def test_parses_with_load_iemocap(corpus: Path, meta: pd.DataFrame) -> None:
    from tsin_nb.data import load_iemocap

    manifest = load_iemocap(corpus, progress=False)
    assert len(manifest) == SMOKE_SIZE
    assert sorted(manifest.label.unique()) == sorted(EMOTIONS)
    assert manifest.session.nunique() == 5 and manifest.speaker.nunique() == 10
    assert len(manifest.attrs["skipped"]) == len(meta) - SMOKE_SIZE
    row = manifest.iloc[0]
    assert len(row.words) == len(plain_words(row.text))
