"""A user's mistakes, one per test: each gets one line naming the argument or file, and exit status 2 (issue 21)."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from corpora import UTTS, build, write_corpus

from tsin_nb import cli, cli_checks
from tsin_nb.data import load_corpus, load_iemocap, probe_audio

UID = "Ses01F_impro01_F000"


def cli_run(*argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``tsin-nb argv`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            if not isinstance(stop.code, int) and stop.code is not None:
                print(stop.code, file=err)
    return code, out.getvalue(), err.getvalue()


def one_line(argv: list[str], *words: str) -> str:
    """Run ``argv``: assert exit status 2, one line on stderr, no traceback, holding every one of ``words``."""
    code, _, err = cli_run(*argv)
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def wav_of(root: Path, uid: str = UID) -> Path:
    return root / f"Session{int(uid[3:5])}" / "sentences" / "wav" / uid.rsplit("_", 1)[0] / f"{uid}.wav"


def tree(tmp_path: Path, utts=UTTS[:3]) -> Path:
    return build(tmp_path / "iemocap", utts)


def load(root: Path):
    with pytest.warns(UserWarning):  # the small trees have only some sessions
        return load_iemocap(root, progress=False)


def reasons(manifest) -> dict[str, str]:
    return {s["utt_id"]: s["reason"] for s in manifest.attrs["skipped"]}


# --- synth ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-5", "39"])
def test_synth_size_out_of_range(tmp_path, size):
    one_line(["synth", str(tmp_path / "c"), "--size", size], "--size", size, "between 40 and")
    assert not (tmp_path / "c").exists()  # nothing written, no .tsin_synth.partial


def test_synth_negative_seed_names_seed(tmp_path):
    one_line(["synth", str(tmp_path / "c"), "--seed", "-1"], "--seed -1")


def test_synth_root_is_a_file(tmp_path):
    (tmp_path / "f").write_text("mine")
    one_line(["synth", str(tmp_path / "f"), "--size", "40"], "is a file")


def test_synth_of_another_seed_is_one_line(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / ".tsin_synth.json").write_text(json.dumps({"seed": 1, "n_utterances": 40, "version": 1}))
    one_line(["synth", str(root), "--size", "40"], "already holds a synthetic corpus")


def test_synth_never_deletes_the_users_files(tmp_path):
    """The data-loss case: a leftover marker of other settings, then the user's Session folders and a note."""
    root = tmp_path / "c"
    (root / "Session1" / "dialog").mkdir(parents=True)
    (root / "Session1" / "dialog" / "mine.txt").write_text("my data")
    (root / "note.txt").write_text("my note")
    (root / ".tsin_synth.partial").write_text(json.dumps({"seed": 0, "n_utterances": 10, "version": 1}))
    one_line(["synth", str(root), "--size", "120", "--seed", "5"], ".tsin_synth.partial", "nothing was deleted")
    (root / ".tsin_synth.partial").write_text(json.dumps({"seed": 5, "n_utterances": 120, "version": 1,
                                                          "cues": "four"}))
    one_line(["synth", str(root), "--size", "120", "--seed", "5"], "Session1/dialog/mine.txt")
    assert (root / "Session1" / "dialog" / "mine.txt").read_text() == "my data"
    assert (root / "note.txt").read_text() == "my note"


# --- run, features, table: folders and values -------------------------------------------------------------


@pytest.fixture
def manifest_csv(tmp_path) -> Path:
    audio = tmp_path / "audio"
    audio.mkdir()
    df = write_corpus(audio, lambda label: f"this is {label}", per_speaker=4)
    path = tmp_path / "corpus.csv"
    df.drop(columns=["words", "dialog", "start", "end"]).to_csv(path, index=False)
    return path


def test_run_out_is_a_file(tmp_path, manifest_csv):
    (tmp_path / "out").write_text("x")
    one_line(["run", "--corpus", str(manifest_csv), "--out", str(tmp_path / "out")], "--out", "is a file")


def test_run_out_read_only(tmp_path, manifest_csv, monkeypatch):
    monkeypatch.setattr(cli_checks, "_writable", lambda folder: False)  # root ignores permission bits
    (tmp_path / "ro").mkdir()
    one_line(["run", "--corpus", str(manifest_csv), "--out", str(tmp_path / "ro")], "--out", "cannot be written")


@pytest.mark.parametrize("where", ["/", "~"])
def test_run_out_root_or_home_needs_a_folder(manifest_csv, where):
    one_line(["run", "--corpus", str(manifest_csv), "--out", where], "--out", "give a folder inside it")


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--folds", "0"), ("--jobs", "-1"),
                                         ("--threads-per-job", "0"), ("--seed", "-1")])
def test_run_values_out_of_range(tmp_path, manifest_csv, flag, value):
    one_line(["run", "--corpus", str(manifest_csv), "--out", str(tmp_path / "o"), flag, value], flag)
    assert not (tmp_path / "o").exists()


def test_run_unknown_protocol_is_status_2(tmp_path, manifest_csv):
    one_line(["run", "--corpus", str(manifest_csv), "--out", str(tmp_path / "o"), "--protocol", "Foo"], "protocol")


def test_table_on_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    one_line(["table", str(tmp_path / "f")], "is a file")


def model_folder(tmp_path: Path, config: str | None, weights: dict[str, object] | None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    for name, obj in (weights or {}).items():
        torch.save(obj, folder / name)
    return folder


class Payload:
    """Any Python object: torch.load(weights_only=True) refuses to unpickle it."""


@pytest.mark.parametrize("config, weights, words", [
    ("{not json", None, "config.json is not readable JSON"),
    ("[1, 2]", None, "not a JSON object"),
    ('{"model_type": "bert"}', None, "holds no weights"),
    ('{"model_type": "bert"}', {"pytorch_model.bin": {"x": Payload()}}, "cannot be loaded safely"),
])
def test_text_model_folders(tmp_path, manifest_csv, config, weights, words):
    folder = model_folder(tmp_path, config, weights)
    one_line(["features", str(manifest_csv), "--cache", str(tmp_path / "cache"), "--text-model", str(folder)],
             "--text-model", words)


def test_full_disk_under_cache(tmp_path, manifest_csv, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("tsin_nb.core.utils.atomic_write_bytes", full)
    monkeypatch.setattr("tsin_nb.data.drops.atomic_write_bytes", full)
    monkeypatch.setattr("tsin_nb.features.cache.atomic_write_bytes", full)
    one_line(["features", str(manifest_csv), "--cache", str(tmp_path / "cache"), "--text-model", "random"],
             "no space left", "--cache")


def test_a_bug_says_so_and_where_the_log_is(tmp_path, monkeypatch):
    def broken(path, progress=True):
        raise KeyError("boom")

    monkeypatch.setattr("tsin_nb.data.inspect", broken)
    code, _, err = cli_run("inspect", str(tmp_path))
    last = err.strip().splitlines()[-1]
    assert code == 1 and "Traceback" in err and "a bug in tsin-nb" in last
    log = Path(last.split("saved in ", 1)[1].split(";", 1)[0])
    assert "KeyError" in log.read_text()
    log.unlink()


# --- the IEMOCAP tree -------------------------------------------------------------------------------------


def test_emoevaluation_time_names_file_and_line(tmp_path):
    root = tree(tmp_path)
    emo = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    emo.write_text(emo.read_text().replace("[1.5000 - 3.2500]", "[7.6.842 - 9.9794]"))
    code, out, _ = cli_run("inspect", str(root))
    assert code == 0 and "7.6.842" in out and f"{emo}:3" in out
    assert UID in reasons(load(root))


def test_hostile_id_never_names_a_path_outside(tmp_path):
    outside = tmp_path / "secret.wav"
    sf.write(outside, 0.1 * np.ones(800, np.float32) * np.sin(np.arange(800)), 16000)
    root = tree(tmp_path)
    emo = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    bad = "Ses01F_impro01/../../../../../secret_F000"
    emo.write_text(emo.read_text().replace(UID, bad, 1))
    m = load(root)
    assert bad not in set(m["utt_id"]) and "not an IEMOCAP utterance id" in reasons(m)[bad]
    assert not any("secret" in w for w in m["wav_path"])


def test_session_09_inside_session1(tmp_path):
    root = tree(tmp_path)
    emo = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    emo.write_text(emo.read_text() + "[9.0 - 10.0]\tSes09F_impro01_F000\tneu\t[2, 2, 2]\n")
    m = load(root)
    assert set(m["session"]) == {"Ses01"} and "wrong place" in reasons(m)["Ses09F_impro01_F000"]


def test_empty_session5_is_named(tmp_path):
    root = tree(tmp_path)
    (root / "Session5").mkdir()
    with pytest.warns(UserWarning, match="Session5 empty"):
        m = load_iemocap(root, progress=False)
    assert any("Session5" in n for n in m.attrs["notes"])


def test_conflicting_and_repeated_transcription_lines(tmp_path):
    root = tree(tmp_path)
    t = root / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    lines = t.read_text().splitlines()
    t.write_text("\n".join(lines + [lines[0], lines[1].replace("forms", "papers")]) + "\n")
    m = load(root)
    assert "Ses01F_impro01_F000" in set(m["utt_id"])  # repeated word for word: read once, noted
    assert any("repeat an earlier line" in n for n in m.attrs["notes"])
    assert reasons(m)["Ses01F_impro01_M000"].startswith("conflicting transcription lines")


@pytest.mark.parametrize("samples, words", [
    (np.zeros(1), "too short"), (0.1 * np.ones(96), "too short"),  # 1 sample; 6 ms
    (np.zeros(8000), "silent"), (0.25 * np.ones(8000), "constant"),
])
def test_degenerate_audio_dropped(tmp_path, samples, words):
    root = tree(tmp_path)
    sf.write(wav_of(root), samples.astype(np.float32), 16000)
    assert words in reasons(load(root))[UID]


def test_header_claiming_1_hz_refused_before_decoding(tmp_path):
    root = tree(tmp_path)
    data = bytearray(wav_of(root).read_bytes())
    data[24:28] = struct.pack("<I", 1)  # the fmt chunk's sample rate
    wav_of(root).write_bytes(bytes(data))
    assert "sample rate of 1 Hz" in probe_audio(wav_of(root))
    assert "outside 4-192 kHz" in reasons(load(root))[UID]


def test_duration_limit_is_configurable(tmp_path, monkeypatch):
    root = tree(tmp_path)
    monkeypatch.setenv("TSIN_MAX_AUDIO_SECONDS", "0.01")
    assert "beyond the 0 s limit" in reasons(load(root))[UID]


@pytest.mark.parametrize("kind, words", [("folder", "is a folder"), ("fifo", "FIFO"), ("loop", "symlink loop")])
def test_wav_path_that_is_no_file(tmp_path, kind, words):
    root = tree(tmp_path)
    wav = wav_of(root)
    wav.unlink()
    if kind == "folder":
        wav.mkdir()
    elif kind == "fifo":
        os.mkfifo(wav)
    else:
        os.symlink(wav.name, wav)
    assert words in reasons(load(root))[UID]


@pytest.mark.parametrize("content, words", [
    ("", "no word rows"), ("garbage\n\x00\x01 not a table\n", "cannot be read"),
    (" SFrm EFrm SegAScr Word\n 0 9 -1 <s>\n abc 29 -2 EXCUSE\n 30 49 -2 ME\n", "cannot be read"),
    (" SFrm EFrm SegAScr Word\n 0 9 -1 <s>\n 10 29\n", "cannot be read"),
    (" SFrm EFrm SegAScr Word\n 0 9 -1 <s>\n 10 29 -2 ELEPHANTS\n 30 49 -2 DANCING\n", "do not match the transcript"),
])
def test_damaged_wdseg_reported_for_its_row(tmp_path, content, words):
    root = tree(tmp_path)
    wdseg = root / "Session1/sentences/ForcedAlignment/Ses01F_impro01" / f"{UID}.wdseg"
    wdseg.write_text(content)
    m = load(root)
    assert m.set_index("utt_id").loc[UID, "words"] is None
    assert [d["utt_id"] for d in m.attrs["damaged"] if words in d["reason"]] == [UID]
    code, out, _ = cli_run("inspect", str(root))
    assert code == 0 and words in out


# --- manifests --------------------------------------------------------------------------------------------


def test_manifest_with_two_label_columns(tmp_path, manifest_csv):
    text = manifest_csv.read_text().splitlines()
    bad = tmp_path / "two.csv"
    bad.write_text("\n".join([text[0] + ",label"] + [r + ",ang" for r in text[1:]]) + "\n")
    code, out, _ = cli_run("inspect", str(bad))
    assert code == 2 and "'label' is columns" in out


def test_semicolon_manifest_names_the_delimiter(tmp_path, manifest_csv):
    bad = tmp_path / "semi.csv"
    bad.write_text(manifest_csv.read_text().replace(",", ";"))
    code, out, _ = cli_run("inspect", str(bad))
    assert code == 2 and "separated by ';'" in out


def test_utf16_manifest_is_read(tmp_path, manifest_csv):
    good = load_corpus(manifest_csv, progress=False)
    wide = tmp_path / "wide.csv"
    wide.write_bytes(manifest_csv.read_text().encode("utf-16"))
    assert load_corpus(wide, progress=False)["utt_id"].tolist() == good["utt_id"].tolist()
    nobom = tmp_path / "nobom.csv"
    nobom.write_bytes(manifest_csv.read_text().encode("utf-16-le"))
    code, out, _ = cli_run("inspect", str(nobom))
    assert code == 2 and "NUL bytes" in out
