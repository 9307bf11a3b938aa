"""The global steps on Ray Data: the rows are hash-shuffled so that rows that must meet land in one
group, and the local engine's numpy kernels (`executors.kernels`) run per group; the driver receives
only each step's final answer (an (n,) index array, the candidate pair list, the ranked indices).

- exact dedup (`first_of_equal`): rows are grouped by a shard number mixed from their 128-bit key
  (`groupby(shard).map_groups`, a hash shuffle); every shard finds the first row of each equal key.
  Grouping by a shard rather than by the key itself keeps Python calls per shard, not per distinct key.
- LSH buckets (`band_pairs`): one row per (document, band); shuffled by a hash of (band, bucket key);
  each shard emits the pairs of its buckets (`kernels.bucket_pairs`), then a second shuffle by the
  pair's first document drops the pairs that several bands proposed. Connected components over the
  verified pairs stay a union-find on the driver (`DuplicateClusters`): verified edges are few.
- ranking (`top_k`, thresholds): a filter then `Dataset.sort` on (score desc, id, position), a distributed
  range-partitioned sort, then `limit(k)`.
- per-group functions (`apply_by_group`, the diversity-aware greedy within clusters):
  `groupby(group).map_groups`; a group's rows are sorted by position before the function sees them.

Shuffles run with Ray Data's sort-based pull shuffle unless `RAY_DATA_DEFAULT_SHUFFLE_STRATEGY` says
otherwise: the default actor-based hash shuffle starts its aggregators for every groupby, which costs
far more than a small groupby itself (docs/engines.md). Rows are still partitioned by a hash of
their key, since the grouping column is that hash.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping

import numpy as np

from sft_select.executors import kernels

_EMPTY_PAIRS = np.zeros((0, 2), dtype=np.int64)


def _sort_shuffle(step: Callable) -> Callable:
    """Run `step` with the sort-based shuffle; a dataset copies the DataContext when it is created, so
    the setting must hold while the step builds its datasets, not only while they run."""
    @functools.wraps(step)
    def wrapped(*args, **kwargs):
        import ray.data

        ctx = ray.data.DataContext.get_current()
        if os.environ.get("RAY_DATA_DEFAULT_SHUFFLE_STRATEGY"):
            return step(*args, **kwargs)
        before = ctx.shuffle_strategy
        ctx.shuffle_strategy = "sort_shuffle_pull_based"
        try:
            return step(*args, **kwargs)
        finally:
            ctx.shuffle_strategy = before
    return wrapped


def _dataset(columns: Mapping[str, np.ndarray], blocks: int):
    """A Ray dataset from equal-length columns, cut into `blocks` input blocks so the map side runs in
    parallel; object-store puts only, no read task (see RayExecutor.map_batches)."""
    import pyarrow as pa
    import ray.data

    n = len(next(iter(columns.values())))
    cuts = np.linspace(0, n, max(1, min(blocks, n)) + 1).astype(int)
    tables = [pa.table({c: pa.array(np.asarray(v)[s:e]) for c, v in columns.items()})
              for s, e in zip(cuts[:-1], cuts[1:])]
    return ray.data.from_arrow(tables)


def _collect(ds, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Runs the dataset; its columns (`names`, or all), concatenated; no column at all when it has no rows."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        for c in names or list(batch):
            parts.setdefault(c, []).append(np.asarray(batch[c]))
    return {c: np.concatenate(v) for c, v in parts.items()}


# Group functions: module-level so they pickle by reference.

def _first_in_group(batch: dict, width: int) -> dict:
    keys = np.stack([batch[f"k{j}"].astype(np.uint64) for j in range(width)], axis=1)
    return kernels.first_of_equal(keys, batch["pos"].astype(np.int64))


def _pairs_in_group(batch: dict, shards: int) -> dict:
    pairs = kernels.band_pairs(batch["band"].astype(np.int64), batch["key"].astype(np.uint64),
                               batch["row"].astype(np.int64))
    return {"a": pairs[:, 0], "b": pairs[:, 1], "shard": pairs[:, 0] % shards}


def _distinct_in_group(batch: dict) -> dict:
    pairs = kernels.distinct_pairs(np.stack([batch["a"], batch["b"]], axis=1))
    return {"a": pairs[:, 0], "b": pairs[:, 1]}


def _ranked_block(batch: dict, threshold: float | None) -> dict:
    s = batch["score"]
    keep = ~np.isnan(s) if threshold is None else (~np.isnan(s)) & (s >= threshold)
    return {c: v[keep] for c, v in batch.items()}


def _apply_in_group(batch: dict, fn, shared_box: list) -> dict:
    import ray

    shared = ray.get(shared_box[0]) if shared_box else None
    order = np.argsort(batch["_pos"], kind="stable")
    cols = {c: v[order] for c, v in batch.items() if c not in ("_pos", "_group")}
    out = fn(cols, shared)
    return {"_pos": batch["_pos"][order], **{c: np.asarray(v) for c, v in out.items()}}


@_sort_shuffle
def first_of_equal(keys: np.ndarray, shards: int) -> np.ndarray:
    keys = kernels.key_columns(keys)
    n, width = keys.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cols = {f"k{j}": keys[:, j] for j in range(width)}
    cols.update(pos=np.arange(n, dtype=np.int64), shard=kernels.shard_of(keys, shards).astype(np.int64))
    ds = _dataset(cols, shards).groupby("shard", num_partitions=shards).map_groups(_first_in_group, fn_args=(width,),
                                                             batch_format="numpy")
    found = _collect(ds, ["pos", "first"])  # every row is in some group, so never empty here
    out = np.empty(n, dtype=np.int64)
    out[found["pos"].astype(np.int64)] = found["first"].astype(np.int64)
    return out


@_sort_shuffle
def band_pairs(band_keys: np.ndarray, shards: int) -> np.ndarray:
    band_keys = kernels.key_columns(band_keys)
    n, bands = band_keys.shape
    if n < 2 or bands == 0:
        return _EMPTY_PAIRS
    band = np.repeat(np.arange(bands, dtype=np.int64)[None, :], n, axis=0).ravel()
    key = band_keys.ravel()
    shard = kernels.shard_of(np.stack([key, band.astype(np.uint64)], axis=1), shards).astype(np.int64)
    cols = {"band": band, "key": key, "row": np.repeat(np.arange(n, dtype=np.int64), bands), "shard": shard}
    ds = (_dataset(cols, shards)
          .groupby("shard", num_partitions=shards).map_groups(_pairs_in_group, fn_args=(max(1, shards),),
                                                              batch_format="numpy")
          .groupby("shard", num_partitions=shards).map_groups(_distinct_in_group, batch_format="numpy"))
    found = _collect(ds, ["a", "b"])
    if not found or len(found["a"]) == 0:
        return _EMPTY_PAIRS
    pairs = np.stack([found["a"], found["b"]], axis=1).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]  # the final answer's order (shards are disjoint)


@_sort_shuffle
def top_k(scores: np.ndarray, k: int | None, ids: np.ndarray | None, threshold: float | None,
          shards: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0 or k == 0:
        return np.zeros(0, dtype=np.int64)
    cols: dict[str, Any] = {"score": scores, "pos": np.arange(len(scores), dtype=np.int64)}
    keys, descending = ["score", "pos"], [True, False]
    if ids is not None:
        cols["id"] = np.asarray(ids).astype(str)
        keys, descending = ["score", "id", "pos"], [True, False, False]
    ds = _dataset(cols, shards).map_batches(_ranked_block, fn_args=(threshold,), batch_format="numpy")
    ds = ds.sort(keys, descending=descending).select_columns(["pos"])
    if k is not None:
        ds = ds.limit(k)
    return _collect(ds, ["pos"]).get("pos", np.zeros(0)).astype(np.int64)


@_sort_shuffle
def apply_by_group(fn, groups: np.ndarray, columns: Mapping[str, np.ndarray], shared: Any,
                   shards: int) -> dict[str, np.ndarray]:
    import ray

    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return {}
    cols = {"_group": groups, "_pos": np.arange(n, dtype=np.int64), **columns}
    box = [ray.put(shared)] if shared is not None else []
    ds = _dataset(cols, shards).groupby("_group", num_partitions=shards).map_groups(_apply_in_group, fn_args=(fn, box),
                                                             batch_format="numpy")
    found = _collect(ds)
    out = {}
    for c in (c for c in found if c != "_pos"):
        col = np.empty(n, dtype=found[c].dtype)
        col[found["_pos"].astype(np.int64)] = found[c]
        out[c] = col
    return out
