"""Guards against silent data loss, stray writes and stale results, shared by the commands and the layers.

- Fold folder names made from data (sessions, speakers) are safe: no separator, no ``..``, never absolute.
- Every dropped utterance is counted per reason and listed in a CSV (``dropped.csv``).
- A fold is tied to the content it was trained and tested on (labels, transcripts, wav stamps, feature
  settings): ``content.json.gz`` beside its checkpoint, a digest in ``metrics.json``; a rerun on other
  content is refused, naming what changed.
- Damaged checkpoints and ``metrics.json`` files are set aside (renamed ``*.corrupt-N``) and named.
- ``reproduce`` parameter files: YAML errors name the line; unknown names and wrong types are refused.
"""

from __future__ import annotations

import ast
import difflib
import gzip
import hashlib
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Per-fold record of the content a fold was trained and tested on (beside ``checkpoint.pt``).
CONTENT_FILE = "content.json.gz"
#: The full list of dropped utterances written by ``features`` (in the cache) and ``run`` (in --out).
DROPPED_FILE = "dropped.csv"
#: Store settings left out of the content digest: corpus statistics and machine-specific paths / file times.
VOLATILE_SETTINGS = ("stats", "text_model_path", "text_identity")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASHED = re.compile(r"-[0-9a-f]{8}$")

Log = Callable[[str], None]


def _sha(obj: Any, n: int = 16) -> str:
    """Short sha256 of a JSON-able object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


# ------------------------------------------------------------------------------ fold folder names ---


def safe_fold_dirname(name: str) -> str:
    """A folder name for fold ``name``: itself when plain (letters, digits, ``._-``), else a slug + its hash.

    ``a/b`` -> ``a_b-<8 hex>``, ``../../x`` -> ``x-<8 hex>``, ``/abs`` -> ``abs-<8 hex>``. The result never holds
    a separator, never starts with a dot and is never empty; two different names never share a folder
    (a plain name ending like a hash suffix gets a suffix of its own).
    """
    name = str(name)
    slug = _UNSAFE.sub("_", name).strip("._-")[-60:].lstrip("._-")  # the end of a long path tells most
    if slug and slug == name and not _HASHED.search(name):
        return name
    return f"{slug or 'fold'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def check_fold_dirnames(names: Iterable[str]) -> None:
    """ValueError when two fold names would share a folder."""
    seen: dict[str, str] = {}
    for name in names:
        d = safe_fold_dirname(name)
        if d in seen and seen[d] != name:
            raise ValueError(f"folds {seen[d]!r} and {name!r} would share the folder {d!r}; rename one of them "
                             "in the corpus")
        seen[d] = name


def unsafe_names(values: Iterable[str]) -> list[str]:
    """``value -> folder`` for every value that is not a plain folder name (for ``inspect``'s notes)."""
    return [f"{v!r} -> {safe_fold_dirname(v)!r}" for v in sorted(set(map(str, values)))
            if safe_fold_dirname(v) != v]


# --------------------------------------------------------------------------- dropped utterances ---


def drop_kind(reason: str) -> str:
    """The reason without its details in brackets: ``wav: cannot be decoded (...)`` -> ``wav: cannot be decoded``."""
    return str(reason).split(" (", 1)[0]


def drop_summary(skipped: Sequence[Mapping[str, str]], n_kept: int, where: str | os.PathLike | None) -> str:
    """One line: how many utterances were dropped, how many per reason, and where the full list is."""
    total = n_kept + len(skipped)
    if not skipped:
        return f"Dropped 0 of {total} utterances."
    counts = Counter(drop_kind(s.get("reason", "")) for s in skipped)
    parts = "; ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    place = f"full list in {where}" if where is not None else "every one listed below"
    return f"Dropped {len(skipped)} of {total} utterances ({parts}); {place}."


def write_dropped(skipped: Sequence[Mapping[str, str]], path: str | os.PathLike) -> Path:
    """Write the dropped utterances (utt_id, reason, file) as CSV, atomically; an empty list writes the header."""
    from tsin_nb.utils import atomic_write_bytes

    df = pd.DataFrame(list(skipped), columns=["utt_id", "reason", "file"])
    atomic_write_bytes(path, df.to_csv(index=False).encode())
    return Path(path)


def report_drops(manifest: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write ``manifest.attrs['skipped']`` to ``path`` and return the one-line summary naming it."""
    skipped = list(manifest.attrs.get("skipped", []))
    write_dropped(skipped, path)
    return drop_summary(skipped, len(manifest), Path(path).resolve())


# -------------------------------------------------------------------------------- content records ---


def content_stamps(manifest: pd.DataFrame) -> dict[str, list[str]]:
    """``utt_id -> [label, sha of the transcript, wav size:mtime_ns]`` for every manifest row."""
    from tsin_nb.cache import _wav_stamp  # the feature cache's own wav stamp

    texts = manifest["text"].fillna("").astype(str)
    return {
        str(u): [str(lab), hashlib.sha256(t.encode()).hexdigest()[:12], ":".join(map(str, _wav_stamp(str(w))))]
        for u, lab, t, w in zip(manifest["utt_id"], manifest["label"], texts, manifest["wav_path"])
    }


def digest_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The feature settings that enter the content digest (no statistics, paths or file times)."""
    return {k: v for k, v in settings.items() if k not in VOLATILE_SETTINGS}


def content_record(stamps: Mapping[str, list[str]], ids: Iterable[str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Digest of what one fold sees: each id's label, transcript and wav stamp, and the feature settings."""
    ids = sorted(set(ids))
    missing = [u for u in ids if u not in stamps]
    if missing:
        raise ValueError(f"{len(missing)} fold ids are not in the manifest, e.g. {missing[:3]}")
    utts = {u: list(stamps[u]) for u in ids}
    settings = digest_settings(settings)
    fields = {
        "labels": _sha([(u, s[0]) for u, s in utts.items()]),
        "texts": _sha([(u, s[1]) for u, s in utts.items()]),
        "audio": _sha([(u, s[2]) for u, s in utts.items()]),
        "settings_digest": _sha(settings),
    }
    return {"digest": _sha([ids, fields]), **fields, "n_utterances": len(ids), "settings": settings, "utterances": utts}


def fold_content(manifest: pd.DataFrame, fold: Any, store: Any,
                 stamps: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The content record of ``fold`` (train, val and test ids) with ``store``'s feature settings."""
    stamps = content_stamps(manifest) if stamps is None else stamps
    return content_record(stamps, [*fold.train, *fold.val, *fold.test], store.settings)


def content_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The small part of a record kept in ``metrics.json`` (digests and count)."""
    return {k: record[k] for k in ("digest", "labels", "texts", "audio", "settings_digest", "n_utterances")}


def _examples(items: Sequence[str], k: int = 3) -> str:
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def content_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two content records (or a record and a ``metrics.json`` summary), in words."""
    if old.get("digest") == new.get("digest"):
        return []
    out: list[str] = []
    if old.get("settings_digest") != new.get("settings_digest"):
        a, b = old.get("settings"), new.get("settings")
        diff = [f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)] \
            if isinstance(a, Mapping) and isinstance(b, Mapping) else []
        out.append(f"feature settings changed ({'; '.join(diff)})" if diff else "feature settings changed")
    ou, nu = old.get("utterances"), new.get("utterances")
    if isinstance(ou, Mapping) and isinstance(nu, Mapping):
        common = sorted(set(ou) & set(nu))
        labels = [f"{u} ({ou[u][0]} -> {nu[u][0]})" for u in common if ou[u][0] != nu[u][0]]
        texts = [u for u in common if ou[u][1] != nu[u][1]]
        audio = [u for u in common if ou[u][2] != nu[u][2]]
        gone, new_ids = sorted(set(ou) - set(nu)), sorted(set(nu) - set(ou))
        for items, what in ((labels, "labels"), (texts, "transcripts"),
                            (audio, "wav files (size or modification time)")):
            if items:
                out.append(f"{what} of {len(items)} utterance(s) changed, e.g. {_examples(items)}")
        if gone:
            out.append(f"{len(gone)} utterance(s) no longer in the corpus, e.g. {_examples(gone)}")
        if new_ids:
            out.append(f"{len(new_ids)} utterance(s) new in the corpus, e.g. {_examples(new_ids)}")
    else:
        for key, what in (("labels", "labels"), ("texts", "transcripts"), ("audio", "wav files")):
            if old.get(key) != new.get(key):
                out.append(f"{what} changed")
    return out or ["content digest differs"]


def write_content(fold_dir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``content.json.gz`` into ``fold_dir`` atomically (no timestamp, so equal records give equal bytes)."""
    from tsin_nb.utils import atomic_write_bytes

    path = Path(fold_dir) / CONTENT_FILE
    atomic_write_bytes(path, gzip.compress(json.dumps(record, sort_keys=True).encode(), mtime=0))
    return path


def read_content(fold_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The content record of ``fold_dir``, or None when absent or unreadable."""
    path = Path(fold_dir) / CONTENT_FILE
    try:
        record = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError):
        return None
    return record if isinstance(record, dict) and "digest" in record else None


def check_finished_fold(fold_dir: str | os.PathLike, done: Mapping[str, Any], record: Mapping[str, Any],
                        log: Log | None = None) -> list[str]:
    """What changed since the finished fold in ``fold_dir`` was trained (empty when nothing did)."""
    summary = done.get("content")
    if not isinstance(summary, Mapping):
        if log:
            log(f"{fold_dir}: finished before content records were kept, so its labels, transcripts and audio "
                "cannot be checked; delete that folder to retrain it on the current data")
        return []
    if summary.get("digest") == record["digest"]:
        return []
    stored = read_content(fold_dir)
    return content_changes(stored if stored and stored.get("digest") == summary.get("digest") else summary, record)


def tie_fold_to_content(fold_dir: str | os.PathLike, record: Mapping[str, Any], log: Log | None = print) -> None:
    """Before training into ``fold_dir``: refuse a checkpoint of other content, set aside one of unknown content.

    Then write ``content.json.gz``, so a checkpoint left by a crash stays tied to the data it was trained on.
    """
    fold_dir = Path(fold_dir)
    ckpt = fold_dir / "checkpoint.pt"
    stored = read_content(fold_dir)
    if ckpt.exists() and stored is not None and stored["digest"] != record["digest"]:
        raise ValueError(
            f"{fold_dir} holds an unfinished fold trained on other data ({'; '.join(content_changes(stored, record))}); "
            "use another out_dir, or delete that folder to start this fold over"
        )
    if ckpt.exists() and stored is None:
        aside = set_aside(ckpt, "unverified")
        msg = (f"{ckpt} has no record of the data it was trained on; set aside as {aside.name}, "
               "training this fold from scratch")
        warnings.warn(msg, stacklevel=2)
        if log:
            log(msg)
    if stored is None or stored["digest"] != record["digest"]:
        write_content(fold_dir, record)


# ------------------------------------------------------------------------------- damaged files ---


def set_aside(path: str | os.PathLike, tag: str = "corrupt") -> Path:
    """Rename ``path`` to ``path.<tag>-N`` (the first free N) and return the new path."""
    path = Path(path)
    n = 1
    while path.with_name(f"{path.name}.{tag}-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.{tag}-{n}")
    os.replace(path, target)
    return target


def load_checkpoint_or_set_aside(path: str | os.PathLike, log: Log | None = print) -> dict[str, Any] | None:
    """A checkpoint's contents (tensors and plain types only), or None after setting a damaged one aside."""
    import torch

    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or not {"model", "optimizer", "epoch"} <= set(ck):
            raise ValueError("it is not a checkpoint written by tsin_nb.train.fit")
    except Exception as err:  # any damage: never fall back to weights_only=False
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights only" in reason.lower() or "weights_only" in reason:  # never pass on torch's unsafe advice
            reason = "it holds Python objects besides tensors and plain values, which are never unpickled here"
        aside = set_aside(path)
        msg = (f"checkpoint {path} cannot be read ({reason[:200]}); set aside as {aside.name}, "
               "training this fold from scratch")
        warnings.warn(msg, stacklevel=2)
        if log:
            log(msg)
        return None
    return ck


def read_metrics(path: str | os.PathLike, expect: Mapping[str, str] | None = None) -> tuple[dict[str, Any] | None, str]:
    """(metrics.json as a dict, "") or (None, why it cannot be used): unreadable, not JSON, or not its folder's."""
    path = Path(path)
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"{path} is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path} cannot be read as JSON ({err})"
    if not isinstance(m, dict) or not {"wa", "ua"} <= set(m):
        return None, f"{path} is not a metrics file of tsin-nb run (no wa / ua)"
    wrong = [f"{k} {m.get(k)!r} != {v!r}" for k, v in (expect or {}).items() if m.get(k) is not None and m.get(k) != v]
    if wrong:
        return None, f"{path} disagrees with its folder ({'; '.join(wrong)})"
    return m, ""


# ------------------------------------------------------------------------------- user options ---


def check_text_model(spec: str | None) -> None:
    """ValueError naming ``spec`` when it is a path that does not exist or a name not in the local cache."""
    if spec is None:
        return
    spec = str(spec)
    head, _, arg = spec.partition(":")
    if spec == "minilm" or head in ("onehot", "random"):
        return
    if head == "static":
        if not arg or not Path(arg).expanduser().is_file():
            raise ValueError(f"text model {spec!r}: the word-vector file {arg or '(none)'} does not exist; "
                             "give static:PATH of a GloVe / word2vec / fastText text file")
        return
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"text model folder {path} has no config.json; give a folder saved by "
                             "transformers (save_pretrained), or 'minilm'")
        return
    choices = "give an existing model folder, a Hugging Face name already in the local cache, or minilm, " \
              "onehot, random, static:PATH"
    if path.exists():
        raise ValueError(f"text model {spec!r} is a file, not a model folder; {choices}")
    looks_like_path = spec.startswith((".", "~", "/", os.sep)) or spec.count("/") > 1 or spec.endswith("/")
    if looks_like_path:
        raise ValueError(f"text model folder {path.resolve()} does not exist; {choices}")
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(spec, "config.json")
    except Exception:  # not a valid Hugging Face name either
        hit = None
    if not isinstance(hit, str):
        raise ValueError(f"text model {spec!r} is neither a local folder nor a name in the Hugging Face cache "
                         f"(nothing is downloaded at run time); {choices}")


def load_params_file(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML mapping of notebook parameters; SystemExit naming the file (and line) when it cannot be used."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"tsin-nb reproduce: parameter file {path} does not exist")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SystemExit(f"tsin-nb reproduce: {path}{where}: not valid YAML ({problem}); fix that line "
                         "(one 'name: value' per line)") from None
    except UnicodeDecodeError as err:
        raise SystemExit(f"tsin-nb reproduce: {path} is not UTF-8 text ({err})") from None
    if not isinstance(params, dict):
        raise SystemExit(f"tsin-nb reproduce: {path} must hold a mapping of parameter names to values")
    return params


def notebook_parameters(paths: Sequence[str | os.PathLike]) -> dict[str, list[tuple[str, Any]]]:
    """``name -> [(notebook, default value), ...]`` over the ``parameters`` cells of ``paths``."""
    import papermill as pm

    known: dict[str, list[tuple[str, Any]]] = {}
    for p in paths:
        for name, info in pm.inspect_notebook(str(p)).items():
            try:
                default = ast.literal_eval(info.get("default", "None"))
            except (ValueError, SyntaxError):
                default = None  # not a literal: any type is accepted
            known.setdefault(name, []).append((Path(p).stem, default))
    return known


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a list"}


def _type_ok(value: Any, default: Any) -> bool:
    """Whether ``value`` may replace ``default`` (ints for floats are fine; bools are not numbers here)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def validate_params(params: Mapping[str, Any], known: Mapping[str, list[tuple[str, Any]]], source: str) -> None:
    """SystemExit listing every unknown name (with the closest known ones) and every value of the wrong type."""
    errors = []
    for name, value in params.items():
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else \
                f"known parameters: {', '.join(sorted(known))}"
            errors.append(f"no notebook has a parameter {name!r} ({hint})")
        elif not any(_type_ok(value, d) for _, d in known[name]):
            nb, default = next((nb, d) for nb, d in known[name] if d is not None)
            kind = _KINDS.get(type(default), f"a {type(default).__name__}")
            errors.append(f"parameter {name!r} must be {kind} like its default {default!r} in {nb}, "
                          f"got {value!r} ({type(value).__name__})")
    if errors:
        raise SystemExit(f"tsin-nb reproduce: {source}: " + "; ".join(errors) + ". No notebook was run.")


def default_figures_dir(build: Path, repo: Path) -> Path:
    """The repository's ``figures/`` for the default build folder (``REPO/build``), else ``BUILD/figures``."""
    return repo / "figures" if build.resolve() == (repo / "build").resolve() else build / "figures"
