"""Score-first, diversity-aware greedy: take examples in combined-score order, skipping any whose cosine
similarity to an example already taken exceeds `greedy.tau_div`.

This is the cheap answer to "top-N keeps only the easiest, most uniform examples": it keeps the ranking
but never lets one kind of example fill S. The check is exact (no approximate index), done block by
block: each block of candidates is compared with everything taken before it in one matrix product, then
within the block in order. Cost is O(candidates × |S| × dim) time and O(|S| × dim) memory.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sft_select.selection.base import Context, Selection, Strategy, Walk
from sft_select.selection.config import SelectConfig

BLOCK = 512


def select_greedy(table: pd.DataFrame, cfg: SelectConfig, seed: int = 0, ctx: Context | None = None) -> Selection:
    ctx = ctx or Context()
    walk = Walk(table, cfg, ctx)
    order = walk.order
    ids = table["id"].to_numpy()[order]
    X = ctx.embeddings(ids.tolist(), "strategy greedy") if len(order) else np.zeros((0, 1), np.float32)
    taken_vecs: list[np.ndarray] = []
    taken_ids: list[np.ndarray] = []
    for start in range(0, len(order), BLOCK):
        if walk.full:
            walk.rest_not_selected(order[start:], start)
            break
        block = X[start:start + BLOCK]
        if taken_vecs:
            before = block @ np.vstack(taken_vecs).T
            before_best = before.argmax(axis=1)
            before_max = before[np.arange(len(block)), before_best]
            before_ids = np.concatenate(taken_ids)
        inner = block @ block.T
        local: list[int] = []
        for k in range(len(block)):
            pos, rank = int(order[start + k]), start + k
            if walk.full:
                walk.rest_not_selected(order[rank:start + len(block)], rank)
                break
            sim, near = -np.inf, None
            if taken_vecs:
                sim, near = float(before_max[k]), before_ids[before_best[k]]
            if local:
                j = int(np.argmax(inner[k, local]))
                if inner[k, local[j]] > sim:
                    sim, near = float(inner[k, local[j]]), ids[start + local[j]]
            if sim > cfg.greedy.tau_div:
                walk.refuse(pos, f"too_similar: cos {sim:.3f} to {near} > τ_div={cfg.greedy.tau_div}")
            elif walk.offer(pos, rank):
                local.append(k)
        taken_vecs.append(block[local])
        taken_ids.append(ids[start:start + len(block)][local])
    return walk.result()


STRATEGY = Strategy(select_greedy, reads_embeddings=True)
