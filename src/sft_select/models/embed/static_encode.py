"""Fast encoding with a model2vec static model: tokenize each distinct word once, not every occurrence.

A static model's sentence vector is the mean of its tokens' vectors, and a BERT WordPiece tokenizer
(BertNormalizer + BertPreTokenizer) never lets a token cross whitespace. So a text's tokens are the
concatenation of the tokens of its whitespace-separated chunks, and a chunk tokenizes the same wherever
it occurs. Real text repeats a small vocabulary of chunks, so this encoder:

1. splits the whole batch on whitespace and looks its chunks up in a bounded chunk -> cache row dict:
   an ASCII batch is split and its distinct chunks numbered by Arrow, so each distinct chunk is looked
   up once; other batches take one `str.split` and one lookup per occurrence (in C through `map`);
2. tokenizes only the chunks it has not seen (the model's own Hugging Face tokenizer, batched); the
   cache keeps their token ids as flat arrays, so numpy gathers the ids of every occurrence in one go;
3. sums token vectors with one sparse product (texts × vocabulary counts) @ embeddings.

This is ~15× faster than `StaticModel.encode` on Alpaca-sized rows (the Rust tokenizer's per-text
normalization dominates there) and gives the same vectors up to float rounding: checked against
`StaticModel.encode` in tests/models/test_static_encode.py. Texts longer than the model's `max_length`
tokens, where the tokenizer truncates, go through `StaticModel.encode` itself so truncation matches.
"""
from __future__ import annotations

import itertools
import re
from typing import Callable, Sequence

import numpy as np

# Characters str.split() treats as whitespace but BertNormalizer deletes as control characters
# ("a\x1cb" is one chunk "ab" for BERT); they are deleted first so the chunks agree.
_SPLIT_NOT_BERT = re.compile("[\x1c-\x1f\x85]")
_SEP_CHUNK = "\x00"
_SEPARATOR = f" {_SEP_CHUNK} "
CACHE_LIMIT = 500_000  # distinct chunks remembered across batches (~100 MB); cleared when full


def _splits_unlike_bert(text: str) -> bool:
    """Whether `text` holds a character str.split and BERT disagree on. In ASCII text only \x1c-\x1f can
    be one: four str.find-like scans instead of a regex over every row."""
    if text.isascii():
        return "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text
    return _SPLIT_NOT_BERT.search(text) is not None


def _splits_like_arrow(text: str) -> bool:
    """Whether Arrow's `ascii_split_whitespace` gives the text's str.split() chunks: ASCII text where
    str.split and BERT agree (no \x1c-\x1f, which str.split alone splits on)."""
    return text.isascii() and not _splits_unlike_bert(text)


class StaticParts:
    """What `StaticEncoder` reads of a model2vec folder, read the way `StaticModel.from_pretrained` reads it
    (model2vec 0.7: `persistence.load_pretrained` and `StaticModel.__init__`) but without importing
    model2vec: its import pulls in huggingface_hub, httpx and the model card code, a large share of a
    run's serial start, to read two files. The StaticModel itself is loaded only if a text is long enough
    to need the model's own truncation (`encode`). tests/models/test_static_encode.py checks the vectors
    against `StaticModel.encode`."""

    def __init__(self, path):
        import json
        from pathlib import Path

        import safetensors
        from tokenizers import Tokenizer

        self.path = Path(path)
        with safetensors.safe_open(str(self.path / "model.safetensors"), framework="numpy") as tensors:
            names = set(tensors.keys())
            self.embedding = tensors.get_tensor("embeddings")
            self.weights = tensors.get_tensor("weights") if "weights" in names else None
            self.token_mapping = tensors.get_tensor("mapping") if "mapping" in names else None
        config = json.loads((self.path / "config.json").read_text())
        self.max_length = config.get("max_length", 512)
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        padding = self.tokenizer.padding
        if padding is not None:  # StaticModel stops the tokenizer from padding, keeping its pad token
            self.tokenizer.enable_padding(pad_id=padding["pad_id"], pad_token=padding["pad_token"],
                                          pad_type_id=padding["pad_type_id"], length=0)
        unk = getattr(self.tokenizer.model, "unk_token", None)  # WordPiece, BPE, WordLevel
        self.unk_token_id = self.tokenizer.token_to_id(unk) if unk is not None else None
        vocab = self.tokenizer.get_vocab()
        self.median_token_length = int(np.median([len(token) for token in vocab]))
        self.dim = int(self.embedding.shape[1])
        self._model = None

    def encode(self, texts, **kwargs) -> np.ndarray:
        if self._model is None:
            from model2vec import StaticModel

            self._model = StaticModel.from_pretrained(str(self.path))
        return self._model.encode(texts, **kwargs)


def whole_word_lookup(tokenizer) -> Callable[[str], int | None] | None:
    """For an uncased BERT WordPiece tokenizer: chunk -> its one token id, when the chunk is ASCII letters
    and digits only and its lowercase form is a vocabulary entry; else None (the tokenizer decides).
    Such a chunk is one pre-token (BertPreTokenizer splits on whitespace and punctuation only), the
    normalizer only lowercases it (accents and controls are not ASCII alphanumerics), and WordPiece's
    longest-match-first takes the whole word when the vocabulary holds it. None for any other tokenizer.
    tests/models/test_static_encode.py checks the ids against the tokenizer's."""
    norm, pre, model = tokenizer.normalizer, tokenizer.pre_tokenizer, tokenizer.model
    if (type(norm).__name__ != "BertNormalizer" or not norm.lowercase or type(pre).__name__ != "BertPreTokenizer"
            or type(model).__name__ != "WordPiece"):
        return None
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    longest = int(model.max_input_chars_per_word)
    # Added tokens (e.g. [CLS]) are matched before normalization: a chunk equal to one is not a word.
    special = {token.content for token in tokenizer.get_added_tokens_decoder().values()}

    def lookup(chunk: str) -> int | None:
        if not (chunk.isascii() and chunk.isalnum()) or len(chunk) > longest or chunk in special:
            return None
        return vocab.get(chunk.lower())

    return lookup


class StaticEncoder:
    def __init__(self, model):
        self.model = model
        self.tokenizer = model.tokenizer
        self.embedding = np.asarray(model.embedding, dtype=np.float32)
        self.unk = model.unk_token_id
        self.max_length = getattr(model, "max_length", None) or 512
        # StaticModel.encode first cuts each text to max_length × the vocabulary's median token length
        # in characters; the same cut keeps the vectors identical for long texts.
        self.max_chars = self.max_length * int(getattr(model, "median_token_length", 1 << 20))
        if model.weights is not None or model.token_mapping is not None:
            raise ValueError("the fast path covers plain mean-pooled static models only")
        self._whole_words = whole_word_lookup(self.tokenizer)
        self._clear()

    def _clear(self) -> None:
        # The chunk cache as flat arrays (chunk row -> its token ids at _tokens[_starts[row]:+_lens[row]]),
        # so a batch gathers the token ids of all its chunks with numpy, not one array per chunk.
        self._index: dict[str, int] = {}
        self._starts = np.zeros(0, np.int64)
        self._lens = np.zeros(0, np.int64)
        self._tokens = np.zeros(0, np.int32)

    def _add(self, chunks: list[str]) -> None:
        """Tokenize `chunks` (distinct, not cached yet) in one batch and append them to the cache. A chunk
        that is one vocabulary word (`_whole_words`) takes its id from the vocabulary; the rest go to the
        tokenizer, which costs far more per chunk."""
        ids: list = [None] * len(chunks)
        rest = []
        whole = self._whole_words
        for i, chunk in enumerate(chunks):
            token = whole(chunk) if whole is not None else None
            if token is None:
                rest.append(i)
            else:
                ids[i] = (token,)
        if rest:
            encoded = self.tokenizer.encode_batch_fast([chunks[i] for i in rest], add_special_tokens=False)
            for i, enc in zip(rest, encoded):
                ids[i] = enc.ids
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        base = len(self._lens)
        self._starts = np.concatenate([self._starts, len(self._tokens) + np.cumsum(lens) - lens])
        self._lens = np.concatenate([self._lens, lens])
        self._tokens = np.concatenate([self._tokens, np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32,
                                                                 count=int(lens.sum()))])
        self._index.update(zip(chunks, range(base, base + len(chunks))))

    def _lookup(self, chunks: list[str]) -> np.ndarray:
        """Each chunk occurrence's row in the cache (one dict lookup per occurrence, in C through `map`),
        tokenizing the chunks not seen before; -2 for the separator chunk, which is never cached."""
        rows = np.fromiter(map(self._index.get, chunks, itertools.repeat(-1)), dtype=np.int64, count=len(chunks))
        missing = np.flatnonzero(rows < 0)
        if len(missing) == 0:
            return rows
        names = [chunks[i] for i in missing]
        new = [c for c in dict.fromkeys(names) if c != _SEP_CHUNK]
        if len(self._index) + len(new) > CACHE_LIMIT:
            self._clear()
            self._add([c for c in dict.fromkeys(chunks) if c != _SEP_CHUNK])
            return self._lookup(chunks)  # every chunk is cached now: only separators are missing
        if new:
            self._add(new)
        rows[missing] = np.fromiter(map(self._index.get, names, itertools.repeat(-2)), dtype=np.int64,
                                    count=len(names))
        return rows

    def _split(self, texts: list[str]) -> tuple[list[str], np.ndarray | None]:
        """The batch's whitespace chunks in order, and the text each belongs to: None when the chunks
        come from one str.split over the texts joined by a separator chunk (a control character, which
        BERT deletes, so no real chunk equals it), whose positions then say where each text ends. Per
        text when a text holds the separator or a character BERT and str.split disagree on."""
        joined = _SEPARATOR.join(texts)
        if joined.count(_SEP_CHUNK) == len(texts) - 1 and not _splits_unlike_bert(joined):
            return joined.split(), None
        per_text = [(_SPLIT_NOT_BERT.sub("", t) if _SPLIT_NOT_BERT.search(t) else t).split() for t in texts]
        lengths = np.fromiter((len(c) for c in per_text), dtype=np.int64, count=len(texts))
        return [c for chunks in per_text for c in chunks], np.repeat(np.arange(len(texts)), lengths)

    def _rows_by_arrow(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk occurrence's cache row and its text, for texts `_splits_like_arrow`: Arrow splits the
        batch and numbers its distinct chunks (C++), so the dict is asked once per distinct chunk instead
        of once per occurrence (several times as many lookups, which dominated this step).
        Leading or trailing whitespace gives an empty chunk, which has no tokens."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lists = pc.ascii_split_whitespace(pa.array(texts, pa.string()))
        numbered = pc.dictionary_encode(lists.flatten())
        distinct_rows = self._lookup(numbered.dictionary.to_pylist())
        rows = distinct_rows[numbered.indices.to_numpy(zero_copy_only=False)]
        text_rows = np.repeat(np.arange(len(texts)), np.diff(lists.offsets.to_numpy()))
        return rows, text_rows

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Mean token vector of each text (float32, not normalized; zeros for a text with no tokens)."""
        from scipy import sparse

        n = len(texts)
        out = np.zeros((n, self.embedding.shape[1]), dtype=np.float32)
        if n == 0:
            return out
        texts = [t if len(t) <= self.max_chars else t[:self.max_chars] for t in texts]
        if _splits_like_arrow("".join(texts)):
            rows, text_rows = self._rows_by_arrow(texts)
        else:
            safe = [i for i, t in enumerate(texts) if _splits_like_arrow(t)]
            if 0 < len(safe) < n:  # each group its own way: a text's vector does not depend on its batch
                rest = np.setdiff1d(np.arange(n), safe)
                out[safe] = self.encode([texts[i] for i in safe])
                out[rest] = self.encode([texts[i] for i in rest])
                return out
            chunks, text_rows = self._split(texts)
            if not chunks:
                return out
            rows = self._lookup(chunks)
        real = rows >= 0  # the separator chunks (and, in a per-text split, a "\x00" chunk: no tokens either)
        if text_rows is None:
            text_rows = np.cumsum(~real)
        if not real.all():
            rows, text_rows = rows[real], text_rows[real]
        counts = self._lens[rows]
        total = int(counts.sum())
        # the token ids of every chunk occurrence, in order, gathered from the flat cache in one go
        first = np.cumsum(counts) - counts
        all_ids = self._tokens[np.repeat(self._starts[rows] - first, counts) + np.arange(total)]
        owner = np.repeat(text_rows, counts)
        if self.unk is not None:  # unknown tokens dropped, as StaticModel.tokenize does
            known = all_ids != self.unk
            all_ids, owner = all_ids[known], owner[known]
        vocab = self.embedding.shape[0]
        # text x vocabulary token counts (duplicates summed when the COO entries become CSR)
        token_counts = sparse.csr_matrix((np.ones(len(all_ids), np.float32), (owner, all_ids)), shape=(n, vocab))
        # Sum each text's token vectors in vocabulary order, whatever else is in the batch: a text's
        # vector is then bit-identical in any batch (batch = one-by-one; the same ids on every engine).
        token_counts.sum_duplicates()
        token_counts.sort_indices()
        totals = np.asarray(token_counts.sum(axis=1)).ravel()
        out[:] = token_counts @ self.embedding
        nonzero = totals > 0
        out[nonzero] /= totals[nonzero, None]
        # The tokenizer truncates at max_length tokens (unknowns included): those texts go the model's way.
        n_tokens = np.bincount(text_rows, weights=counts, minlength=n)
        long = np.flatnonzero(n_tokens > self.max_length)
        if len(long):
            out[long] = np.asarray(self.model.encode([texts[i] for i in long], show_progress_bar=False,
                                                     normalize=False), dtype=np.float32)
        return out
