"""What a ``--text-model`` spec names, checked before any work: a model folder, a cached name, or a built-in kind."""

from __future__ import annotations

import os
from pathlib import Path


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
