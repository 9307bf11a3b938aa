"""The built-in link steps split for a streamed run (`steps.Streamed`): per chunk, `keep_*` returns the
arrays the global half needs of the live examples; after the pass, `link_*` links over every chunk's
arrays (`saved.SavedRows`) and returns the step's details for the manifest.

- exact dedup keeps each example's 128-bit key and links equal keys;
- near dedup keeps LSH band keys and word n-gram shingles, buckets the band keys and verifies the
  candidates' exact Jaccard on their shingles (preprocess/near_stream.py);
- semantic dedup keeps each example's embedding of its field and links as in memory.
Each gives the in-memory step's links (tests/pipelines/test_stream.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sft_select.core.record import Example
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.saved import SavedRows, by_shard, drop_pages


def keep_keys(examples: Sequence[Example], positions: Sequence[int], cfg: PreprocessConfig,
              inputs) -> dict[str, np.ndarray]:
    """Each example's 128-bit key: hashed while the chunk was read, or now in the run's worker processes
    when there are several."""
    from sft_select.executors import pool as parallel
    from sft_select.preprocess.exact import dedup_keys

    keyed = inputs.known.get("dedup_keys")
    keys = np.frombuffer(b"".join([keyed[p] for p in positions]) if keyed is not None else
                         b"".join(parallel.run_parts(dedup_keys, [examples[p] for p in positions])), dtype=np.uint64)
    return {"keys": keys.reshape(len(positions), 2) if len(positions) else np.zeros((0, 2), np.uint64)}


def link_keys(saved: SavedRows, cfg: PreprocessConfig, inputs) -> dict:
    """Equal keys; the rows left to compare are the first of each. The grouping runs on the executor (a
    hash shuffle on Ray)."""
    n = len(saved.alive)
    keys = saved.column("keys")
    if inputs.executor is not None:
        rep = inputs.executor.first_of_equal(keys)
    else:
        _, first, inverse = np.unique(keys.view(np.dtype((np.void, 16))).ravel(), return_index=True,
                                      return_inverse=True)
        rep = first[inverse.ravel()]
    dup = np.flatnonzero(rep != np.arange(n))
    saved.link(np.stack([rep[dup], dup], axis=1), "exact")
    saved.distinct_rows = np.flatnonzero(rep == np.arange(n))
    return {}


def keep_bands(examples: Sequence[Example], positions: Sequence[int], cfg: PreprocessConfig,
               inputs) -> dict[str, np.ndarray]:
    """Each example's LSH band keys, and its shingles to verify the candidate pairs."""
    from sft_select.preprocess.fields import field_text
    from sft_select.preprocess.near_stream import bands_for, shingles_and_band_keys

    near, executor = cfg.near, inputs.executor
    # the chunk's word hashes are kept for relevance_dsir's scoring of the same contents, which reads
    # them only where the views score in this process or its forks
    remember = near.field == "content" and (executor is None or executor.shares_memory)
    sh, bands = shingles_and_band_keys([field_text(examples[p], near.field) for p in positions], near,
                                       bands_for(near), remember=remember)
    return {"bands": bands, "shingles": sh.hashes, "shingle_offsets": sh.offsets}


def link_bands(saved: SavedRows, cfg: PreprocessConfig, inputs) -> dict:
    """Band buckets, then exact Jaccard on the candidates' shingles read back. With remote workers the
    executor builds the candidates from the all-bands matrix; otherwise one LSH band is bucketed at a
    time, to keep memory flat (the same kernel, the same pairs)."""
    from sft_select.preprocess.near import near_links
    from sft_select.preprocess.near_stream import candidate_pairs, verified

    chunks, executor = saved.chunks, inputs.executor

    def band_column(b: int) -> np.ndarray:
        return np.concatenate([np.asarray(c["bands"][:, b]) for c in chunks])

    valid = np.zeros(len(saved.alive), dtype=bool)
    valid[saved.distinct_rows] = True
    valid &= band_column(0) != 0  # documents without shingles
    n_bands = chunks[0]["bands"].shape[1]
    if executor is not None and executor.remote_workers:
        rows = np.flatnonzero(valid)
        matrix = np.stack([band_column(b)[rows] for b in range(n_bands)], axis=1)
        cand = rows[executor.band_pairs(matrix)] if len(rows) > 1 else np.zeros((0, 2), np.int64)
    else:
        cand = candidate_pairs(band_column, n_bands, valid)
    pairs, _ = verified(cand, _shingle_reader(chunks), cfg.near.threshold)
    saved.link(near_links(pairs), "near")  # rows in pool order: the in-memory run's grouping
    return {"candidates": len(cand), "verified": len(pairs)}


def _shingle_reader(chunks: list[dict[str, np.ndarray]]):
    """Shingles of rows (sorted row numbers) gathered from each chunk's memory map."""
    from sft_select.preprocess.shingles import Shingles

    sizes = [len(c["shingle_offsets"]) - 1 for c in chunks]

    def read(docs: np.ndarray) -> Shingles:
        parts, counts = [], []
        for s, local in by_shard(sizes, docs):
            offsets = np.asarray(chunks[s]["shingle_offsets"], dtype=np.int64)
            hashes = chunks[s]["shingles"]
            for i in local.tolist():
                parts.append(np.asarray(hashes[offsets[i]:offsets[i + 1]]))
                counts.append(offsets[i + 1] - offsets[i])
        offsets = np.zeros(len(counts) + 1, dtype=np.uint64)
        np.cumsum(counts, out=offsets[1:])
        return Shingles(np.concatenate(parts) if parts else np.zeros(0, np.uint64), offsets)

    return read


def keep_semantic(examples: Sequence[Example], positions: Sequence[int], cfg: PreprocessConfig,
                  inputs) -> dict[str, np.ndarray]:
    """Each example's embedding of its field (after the views: the content embeddings they made are
    reused)."""
    from sft_select.preprocess.semantic import embed_field

    sem = cfg.semantic
    live = [examples[p] for p in positions]
    return {"semantic": embed_field(live, sem.field, sem.model or inputs.embedder).astype(np.float32)}


def link_semantic(saved: SavedRows, cfg: PreprocessConfig, inputs) -> dict:
    from sft_select.preprocess.semantic import similar_pairs

    sem = cfg.semantic
    x = saved.rows("semantic", saved.distinct_rows)
    for c in saved.chunks:  # the shards' pages read for the gather would otherwise stay resident beside x
        drop_pages(c["semantic"])
    found = similar_pairs(x, sem.threshold, clusters=sem.clusters, seed=sem.seed)
    del x
    saved.link(saved.distinct_rows[found.pairs], "semantic")
    return {"threshold": sem.threshold, "model": sem.model or inputs.embedder, **found.stats()}
