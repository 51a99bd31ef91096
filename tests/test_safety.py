"""No silent data loss, no writes outside the output folders, no stale results; every bad file named."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest
import soundfile as sf
import torch

from tsin_nb import cli
from tsin_nb.core import EMOTIONS
from tsin_nb.data import inspect, load_corpus
from tsin_nb.runs import NOTEBOOKS, REPO, load_results, make_folds

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = {"ang": "no stop that now", "hap": "great fun today yes", "sad": "sorry so alone", "neu": "the table is here"}
SESSIONS = ("Ses01", "Ses02", "Ses03")


def write_corpus(root: Path, sessions=SESSIONS, speakers=("F", "M"), extra: list[dict] | None = None) -> Path:
    """A manifest CSV: each session x speaker says one utterance per class (0.3 s of noise, 16-bit PCM)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for s, session in enumerate(sessions):
        for g, spk in enumerate(speakers):
            speaker = f"{session}{spk}" if spk in ("F", "M") else f"{spk}{s}"
            for k, label in enumerate(EMOTIONS):
                utt = f"u{s}{g}{k}"
                sf.write(root / f"{utt}.wav", (0.1 * (1 + k) * rng.standard_normal(4800)).astype(np.float32), 16000)
                rows.append({"utt_id": utt, "wav_path": f"{utt}.wav", "text": WORDS[label], "label": label,
                             "speaker": speaker, "session": session})
    rows += extra or []
    csv = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def run(csv: Path, out: Path, *more: str) -> int:
    """``tsin-nb run`` on the tiny preset: one fold of SesI, the Text model, one epoch."""
    args = ["run", "--corpus", str(csv), "--protocol", "SesI", "--variants", "text", "--preset", "tiny",
            "--epochs", "1", "--folds", "1", "--text-model", "random:16", "--out", str(out),
            "--cache", str(out.parent / "cache"), *more]
    return cli.main(args)


def edit_manifest(csv: Path, fn) -> None:
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    fn(df)
    df.to_csv(csv, index=False)


# ------------------------------------------------------------------ 1. stale results ---


def relabel(csv: Path) -> None:
    """Rotate the labels of the Ses01 rows (the held-out test session of fold 1)."""
    def fn(df: pd.DataFrame) -> None:
        rows = df["session"] == "Ses01"
        df.loc[rows, "label"] = [EMOTIONS[(EMOTIONS.index(x) + 1) % 4] for x in df.loc[rows, "label"]]
    edit_manifest(csv, fn)


def retext(csv: Path) -> None:
    edit_manifest(csv, lambda df: df.__setitem__("text", df["text"].where(df["utt_id"] != "u000", "quite other words")))


def reaudio(csv: Path) -> None:
    wav = csv.parent / "u010.wav"
    sf.write(wav, 0.01 * np.sin(np.arange(8000, dtype=np.float32)), 16000)  # all zeros would be dropped as silent


@pytest.mark.parametrize("change, message", [
    (relabel, r"labels of 8 utterance\(s\) changed, e\.g\. u000 \(ang -> hap\)"),
    (retext, r"transcripts of 1 utterance\(s\) changed, e\.g\. u000"),
    (reaudio, r"wav files \(size or modification time\) of 1 utterance\(s\) changed, e\.g\. u010"),
])
def test_a_finished_fold_of_other_content_is_refused(tmp_path, capsys, change, message) -> None:
    csv, out = write_corpus(tmp_path / "corpus"), tmp_path / "out"
    assert run(csv, out) == 0
    assert run(csv, out) == 0 and "done before, skipped" in capsys.readouterr().out  # same content: reused
    change(csv)
    assert run(csv, out) == 2  # refused before anything runs
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert str(out / "SesI" / "text" / "Session1") in err and "delete that folder" in err
    m = json.loads((out / "SesI" / "text" / "Session1" / "metrics.json").read_text())
    assert len(m["content"]["digest"]) == 16 and m["content"]["n_utterances"] == 24


def test_an_unfinished_fold_of_other_content_is_refused(tmp_path, capsys) -> None:
    csv, out = write_corpus(tmp_path / "corpus"), tmp_path / "out"
    assert run(csv, out, "--epochs", "2") == 0
    fold = out / "SesI" / "text" / "Session1"
    (fold / "DONE").unlink()  # as if killed after its last checkpoint
    relabel(csv)
    capsys.readouterr()
    assert run(csv, out, "--epochs", "2") == 1  # that fold's job fails; the others are reported
    err = capsys.readouterr().err
    assert re.search(r"unfinished fold trained on other data \(labels of 8 utterance", err), err


def test_the_content_digest_follows_the_feature_settings(tmp_path) -> None:
    from tsin_nb.runs import content_changes, content_record

    stamps = {"u1": ["ang", "aa", "1:2"], "u2": ["hap", "bb", "3:4"]}
    a = content_record(stamps, ["u2", "u1"], {"n_mels": 40, "stats": {"x": 1}, "text_model_path": "/a"})
    b = content_record(stamps, ["u1", "u2"], {"n_mels": 40, "stats": {"x": 2}, "text_model_path": "/b"})
    c = content_record(stamps, ["u1", "u2"], {"n_mels": 64})
    assert a["digest"] == b["digest"] != c["digest"]  # statistics and paths do not count, settings do
    assert content_changes(a, c) == ["feature settings changed (n_mels: 40 != 64)"]


# ------------------------------------------------------------------ 2. folder names ---


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_hostile_session_and_speaker_values_stay_inside_out(tmp_path, capsys) -> None:
    sessions = ("../../../esc_ses", str(tmp_path / "abs_ses"), "a/b")
    speakers = ("../../../esc_spk", str(tmp_path / "abs_spk"))
    csv = write_corpus(tmp_path / "corpus", sessions=sessions, speakers=speakers)
    before = files_under(tmp_path)
    out, cache = tmp_path / "work" / "out", tmp_path / "work" / "cache"
    assert cli.main(["run", "--corpus", str(csv), "--protocol", "SesI,SpkI", "--variants", "text", "--preset",
                     "tiny", "--epochs", "1", "--text-model", "random:16", "--out", str(out),
                     "--cache", str(cache)]) == 0
    new = files_under(tmp_path) - before
    outside = sorted(str(p) for p in new if out not in p.parents and cache not in p.parents)
    assert not outside, f"written outside --out and --cache: {outside}"
    assert not (tmp_path / "esc_ses").exists() and not (tmp_path / "abs_ses").exists()
    folds = sorted(d.name for d in (out / "SesI" / "text").iterdir())
    assert len(folds) == 3 and all("/" not in f and not f.startswith(".") for f in folds)
    capsys.readouterr()
    assert cli.main(["table", str(out)]) == 0
    table = capsys.readouterr().out
    assert "SesI 3/3" in table and "SpkI 6/6" in table  # every fold found by `table`, none hidden in sub-folders
    found = load_results(out).groupby("protocol")["fold"].apply(set).to_dict()
    assert found == {"SesI": set(sessions), "SpkI": {f"{spk}{s}" for spk in speakers for s in range(3)}}


def test_safe_fold_dirname() -> None:
    from tsin_nb.core import check_fold_dirnames, safe_fold_dirname

    for plain in ("Session1", "Ses01M", "Group10", "spk_1.a-b"):
        assert safe_fold_dirname(plain) == plain
    hostile = ["../../x", "/abs", "a/b", "a_b", "..", ".", "", "a\\b", "a_b-" + safe_fold_dirname("a/b")[-8:]]
    names = [safe_fold_dirname(h) for h in hostile]
    assert len(set(names)) == len(hostile)  # collision-free
    for n in names:
        assert n and "/" not in n and "\\" not in n and not n.startswith(".") and not os.path.isabs(n)
        assert Path(n).name == n and ".." not in Path(n).parts
    assert re.fullmatch(r"a_b-[0-9a-f]{8}", safe_fold_dirname("a/b"))
    check_fold_dirnames(["a/b", "a_b"])  # distinct folders


# ------------------------------------------------------------------ 3. dropped rows ---


def corpus_with_drops(root: Path) -> Path:
    return write_corpus(root, extra=[
        {"utt_id": "x1", "wav_path": "gone.wav", "text": "where", "label": "neu", "speaker": "Ses01F",
         "session": "Ses01"},
        {"utt_id": "x2", "wav_path": "u000.wav", "text": "what", "label": "surprise", "speaker": "Ses01F",
         "session": "Ses01"},
    ])


def test_every_command_names_what_it_dropped(tmp_path, capsys) -> None:
    csv = corpus_with_drops(tmp_path / "corpus")
    summary = "Dropped 2 of 26 utterances (1 label 'surprise' not in label map; 1 wav file missing)"

    assert cli.main(["inspect", str(csv)]) == 0
    assert summary in capsys.readouterr().out

    cache = tmp_path / "cache"
    assert cli.main(["features", str(csv), "--cache", str(cache), "--preset", "tiny", "--text-model", "random:16"]) == 0
    out = capsys.readouterr().out
    assert f"{summary}; full list in {(cache / 'dropped.csv').resolve()}" in out
    listed = pd.read_csv(cache / "dropped.csv")
    assert sorted(listed["utt_id"]) == ["x1", "x2"] and "wav file missing" in set(listed["reason"])

    res = tmp_path / "out"
    assert run(csv, res) == 0
    assert f"{summary}; full list in {(res / 'dropped.csv').resolve()}" in capsys.readouterr().out
    assert sorted(pd.read_csv(res / "dropped.csv")["utt_id"]) == ["x1", "x2"]
    assert json.loads((res / "SesI" / "text" / "Session1" / "metrics.json").read_text())["n_dropped"] == 2


# ------------------------------------------------------------------ 4. blank sessions ---


def test_blank_sessions_are_never_a_fold_of_their_own(tmp_path, capsys) -> None:
    csv = write_corpus(tmp_path / "corpus")
    edit_manifest(csv, lambda df: df.__setitem__("session", df["session"].where(~df["utt_id"].isin(["u000", "u011"]), "")))
    manifest = load_corpus(csv, progress=False)
    with pytest.raises(ValueError, match=r"SesI .* 2 utterance\(s\) have a blank session: u000, u011; fill"):
        make_folds(manifest, "SesI")
    capsys.readouterr()
    assert run(csv, tmp_path / "out") == 2 and "blank session: u000, u011" in capsys.readouterr().err
    assert any("2 row(s) have a blank session cell" in n for n in manifest.attrs["notes"])  # inspect shows it
    assert len(make_folds(manifest, "SpkI")) == 6  # protocols that do not need the session still run
    nan_speaker = manifest.assign(speaker=manifest["speaker"].where(manifest["utt_id"] != "u001", None))
    with pytest.raises(ValueError, match="blank speaker: u001"):
        make_folds(nan_speaker, "SpkI")


# ------------------------------------------------------------------ 5. no word ---


def test_transcripts_without_a_word_are_skipped_and_reported(tmp_path, capsys) -> None:
    csv = write_corpus(tmp_path / "corpus")
    edit_manifest(csv, lambda df: df.__setitem__("text", df["text"].mask(df["utt_id"] == "u000", "...")
                                                 .mask(df["utt_id"] == "u001", "?!")))
    manifest = load_corpus(csv, progress=False)
    assert "u000" not in set(manifest["utt_id"]) and "u001" not in set(manifest["utt_id"])
    reasons = {s["utt_id"]: s["reason"] for s in manifest.attrs["skipped"]}
    assert reasons["u000"] == "transcript has no word (only punctuation: '...')"
    assert cli.main(["inspect", str(csv)]) == 0
    assert "2 transcript has no word" in capsys.readouterr().out
    from tsin_nb.data import has_word
    from tsin_nb.features import split_words

    for text in ("...", "?!", "-- ,", "[LAUGHTER]", "ok.", "_", "it's", "a_b"):
        assert has_word(text) == bool(split_words(text)), text


# ------------------------------------------------------------------ 6. NaN audio ---


def test_audio_with_nan_samples_is_reported_and_skipped(tmp_path, capsys) -> None:
    csv = write_corpus(tmp_path / "corpus")
    y = np.full(4800, 0.1, dtype=np.float32)
    y[100], y[200] = np.nan, np.inf
    sf.write(tmp_path / "corpus" / "u002.wav", y, 16000, subtype="FLOAT")
    report, code = inspect(csv, progress=False)
    assert code == 0 and "u002: wav: contains NaN or infinite samples (2 of 4800)" in report
    assert cli.main(["features", str(csv), "--cache", str(tmp_path / "cache"), "--preset", "tiny",
                     "--text-model", "random:16"]) == 0
    assert "(1 wav: contains NaN or infinite samples); full list in" in capsys.readouterr().out
    assert run(csv, tmp_path / "out") == 0
    assert "u002" in set(pd.read_csv(tmp_path / "out" / "dropped.csv")["utt_id"])


# ------------------------------------------------------------------ 7-8. reproduce ---


@pytest.fixture
def no_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record the parameters papermill would run a notebook with, instead of running it."""
    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, parameters=None, **kw: calls.append(parameters))
    return calls


@pytest.mark.parametrize("text, message", [
    ("epoch: 1\n", r"params\.yaml: no notebook has a parameter 'epoch' \(did you mean 'epochs'\?\)"),
    ('epochs: "ten"\n', r"parameter 'epochs' must be an integer like its default \d+ in \w+, got 'ten' \(str\)"),
    ("preset: 3\nfolds: 2\n", r"parameter 'preset' must be a string like its default 'cpu'"),
])
def test_reproduce_refuses_unknown_or_mistyped_parameters(tmp_path, no_notebook_runs, text, message) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(SystemExit, match=message):
        cli.main(["reproduce", "--params", str(params), "--build", str(tmp_path / "build"), "--only", "00_"])
    assert no_notebook_runs == [] and not (tmp_path / "build").exists()


def test_reproduce_accepts_the_smoke_parameters(tmp_path, no_notebook_runs) -> None:
    assert cli.main(["reproduce", "--params", str(NOTEBOOKS / "smoke.yaml"), "--build", str(tmp_path / "b"),
                     "--only", "04_"]) == 0
    assert no_notebook_runs[0]["epochs"] == 2 and no_notebook_runs[0]["preset"] == "tiny"


def test_reproduce_writes_figures_where_the_user_says(tmp_path, no_notebook_runs) -> None:
    build = tmp_path / "trial"
    assert cli.main(["reproduce", "--build", str(build), "--only", "00_"]) == 0
    assert no_notebook_runs[-1]["fig_dir"] == str(build.resolve() / "figures")
    assert cli.main(["reproduce", "--build", str(build), "--only", "00_", "--figures", str(tmp_path / "f")]) == 0
    assert no_notebook_runs[-1]["fig_dir"] == str((tmp_path / "f").resolve())
    from tsin_nb.runs import default_figures_dir

    assert default_figures_dir(REPO / "build", REPO) == REPO / "figures"  # only the default run


# ------------------------------------------------------------------ 9. bad files named ---


class NotATensor:
    """An object a weights-only load refuses to unpickle."""


@pytest.mark.parametrize("damage", ["bytes", "pickle"])
def test_a_corrupt_checkpoint_is_set_aside_and_training_restarts(tmp_path, capsys, damage) -> None:
    csv, out = write_corpus(tmp_path / "corpus"), tmp_path / "out"
    assert run(csv, out) == 0
    fold = out / "SesI" / "text" / "Session1"
    (fold / "DONE").unlink()
    if damage == "bytes":
        (fold / "checkpoint.pt").write_bytes(b"not a checkpoint")
    else:
        torch.save({"model": NotATensor(), "optimizer": {}, "epoch": 1}, fold / "checkpoint.pt")
    bad = (fold / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"checkpoint .*checkpoint\.pt cannot be read .* set aside as "
                                         r"checkpoint\.pt\.corrupt-1, training this fold from scratch") as caught:
        assert run(csv, out) == 0
    assert (fold / "checkpoint.pt.corrupt-1").read_bytes() == bad
    said = capsys.readouterr().out + " ".join(str(w.message) for w in caught)
    assert (fold / "DONE").exists() and "weights_only" not in said and "set aside as" in said
    assert torch.load(fold / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_a_corrupt_metrics_file_is_named_by_table_and_run(tmp_path, capsys) -> None:
    csv, out = write_corpus(tmp_path / "corpus"), tmp_path / "out"
    assert run(csv, out, "--folds", "2") == 0
    broken = out / "SesI" / "text" / "Session2" / "metrics.json"
    broken.write_text("{not json")
    capsys.readouterr()
    assert cli.main(["table", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"Left out: {broken} cannot be read as JSON" in text and "SesI 1/3" in text
    shutil.copytree(out / "SesI" / "text" / "Session1", out / "SesI" / "text" / "Session1 copy")
    assert cli.main(["table", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Session1 copy/metrics.json disagrees with its folder (fold 'Session1')" in text and "SesI 1/3" in text
    shutil.rmtree(out / "SesI" / "text" / "Session1 copy")
    with pytest.warns(UserWarning, match=f"{re.escape(str(broken))} cannot be read as JSON.*running this fold again"):
        assert run(csv, out, "--folds", "2") == 0
    assert (broken.parent / "metrics.json.corrupt-1").read_text() == "{not json"
    assert json.loads(broken.read_text())["fold"] == "Session2"


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path, no_notebook_runs) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("epochs: 2\npreset: [tiny\n")
    with pytest.raises(SystemExit, match=rf"{re.escape(str(params))}, line 3, column 1: not valid YAML"):
        cli.main(["reproduce", "--params", str(params), "--build", str(tmp_path / "b")])


def test_a_missing_text_model_folder_is_named(tmp_path, capsys) -> None:
    csv = write_corpus(tmp_path / "corpus")
    missing = tmp_path / "no_such_model"
    with pytest.raises(SystemExit, match="2"):  # one line on stderr, exit status 2
        cli.main(["features", str(csv), "--cache", str(tmp_path / "c"), "--text-model", str(missing)])
    assert re.search(rf"--text-model: text model folder {re.escape(str(missing))} does not exist", capsys.readouterr().err)
    with pytest.raises(SystemExit, match="2"):
        run(csv, tmp_path / "out", "--text-model", str(missing))
    assert re.search("text model folder .*no_such_model does not exist", capsys.readouterr().err)
    with pytest.raises(SystemExit, match="2"):
        run(csv, tmp_path / "out", "--text-model", f"static:{missing}.txt")
    assert "static:PATH" in capsys.readouterr().err


def test_table_on_a_missing_folder_or_a_file_fails(tmp_path, capsys) -> None:
    assert cli.main(["table", str(tmp_path / "nothing")]) == 2
    assert f"{tmp_path / 'nothing'} does not exist" in capsys.readouterr().err
    (tmp_path / "file.csv").write_text("x\n")
    assert cli.main(["table", str(tmp_path / "file.csv")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert cli.main(["table", str(tmp_path)]) == 1
    assert "No finished folds" in capsys.readouterr().out


def test_content_record_round_trips(tmp_path) -> None:
    from tsin_nb.runs import CONTENT_FILE, content_record, read_content, write_content

    rec = content_record({"u1": ["ang", "aa", "1:2"]}, ["u1"], {"n_mels": 40})
    write_content(tmp_path, rec)
    assert read_content(tmp_path) == rec
    assert gzip.decompress((tmp_path / CONTENT_FILE).read_bytes())  # plain gzip, readable with any tool
    (tmp_path / CONTENT_FILE).write_bytes(b"garbage")
    assert read_content(tmp_path) is None
