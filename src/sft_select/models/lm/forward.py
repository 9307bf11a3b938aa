"""Batched forward passes of a causal LM: the mean loss of each sequence's scored tail.

Three savings over one sequence per forward pass, none of which changes a number:
- length buckets: sequences sorted by length and packed so that a batch holds at most `batch_tokens`
  padded tokens, so little compute goes to padding;
- a shared prefix (the chat frame's system turn, the same in every sequence) runs once, and its
  key/value cache is copied into each batch;
- the vocabulary projection (a fifth of SmolLM2's compute per token) runs only at positions that
  predict a scored token.
Padding goes on the right, with an attention mask: in a causal model a real token never attends to the
padding after it and keeps its positions, so a batched score equals the one-by-one score (tests/views_lm
checks this to 1e-4 in float32 against each sequence alone through the model's own forward).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

HEAD_CHUNK = 1024  # positions per vocabulary projection: bounds the logits tensor to ~200 MB at 49k vocab


def length_batches(lengths: Sequence[int], batch_tokens: int, max_rows: int = 256) -> list[list[int]]:
    """Indices grouped longest first so that rows x longest length stays within `batch_tokens`."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and ((len(current) + 1) * lengths[current[0]] > batch_tokens or len(current) >= max_rows):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


_CAPABILITIES: dict[int, tuple[bool, bool]] = {}
MIN_SHARED = 4  # shorter common prefixes are not worth a cache copy per batch


def capabilities(model) -> tuple[bool, bool]:
    """(split head, prefix cache): whether the decoder followed by the output projection at chosen
    positions, and a reused key/value cache of a shared prefix, give the model's own logits. Checked
    once per model on a short input; false for models that post-process logits or cache differently."""
    import torch

    if id(model) not in _CAPABILITIES:
        ids = torch.arange(1, 9, device=model.device)[None]
        with torch.inference_mode():
            full = model(input_ids=ids).logits.float()

            tol = 1e-3 if model.dtype == torch.float32 else 5e-2  # half precision differs between kernels

            def same(other) -> bool:
                return other.shape == full.shape and bool(torch.allclose(other.float(), full, rtol=tol, atol=tol))

            try:
                split = same(model.get_output_embeddings()(model.get_decoder()(input_ids=ids)[0]))
            except Exception:  # no separable decoder/head: use the plain forward
                split = False
            try:
                cache = model(input_ids=ids[:, :4], use_cache=True).past_key_values
                cache.batch_repeat_interleave(2)
                rest = model(input_ids=ids[:, 4:].repeat(2, 1), attention_mask=torch.ones_like(ids).repeat(2, 1),
                             past_key_values=cache).logits
                cached = all(same(torch.cat([full[:, :4], rest[i:i + 1]], dim=1)) for i in range(2))
            except Exception:  # a cache without batch expansion: recompute prefixes
                cached = False
        _CAPABILITIES[id(model)] = (split, cached)
    return _CAPABILITIES[id(model)]


def shared_prefix_length(seqs: Sequence[tuple[list[int], int]]) -> int:
    """Tokens every sequence starts with (the chat frame's system turn, typically), stopping before the
    first scored position, so they can be run once and their key/value cache reused by every batch."""
    first = seqs[0][0]
    n = min(context for _, context in seqs) - 1
    for ids, _ in seqs:
        n = min(n, len(ids))
        while n > 0 and ids[:n] != first[:n]:
            n -= 1
    return n if n >= MIN_SHARED else 0


def _logits(head, hidden):
    return hidden if head is None else head(hidden)


def sequence_losses(model, seqs: Sequence[tuple[list[int], int]], *, pad_id: int, batch_tokens: int,
                    share_prefix: bool = True, advance: Callable[[int], None] | None = None) -> np.ndarray:
    """Mean next-token loss over each sequence's tokens from `context` on, for (ids, context) pairs.
    `advance(tokens)` is called after each forward batch with its sequences' lengths summed (a progress bar)."""
    import copy

    import torch
    import torch.nn.functional as F

    out = np.full(len(seqs), np.nan)
    if not seqs:
        return out
    split, cacheable = capabilities(model)
    shared = shared_prefix_length(seqs) if share_prefix and cacheable else 0
    device = model.device
    with torch.inference_mode():
        prefix = model(input_ids=torch.tensor([seqs[0][0][:shared]], device=device),
                       use_cache=True).past_key_values if shared else None
    for batch in length_batches([len(s[0]) - shared for s in seqs], batch_tokens):
        width = len(seqs[batch[0]][0]) - shared
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        rows, cols = [], []
        for r, k in enumerate(batch):
            seq, context = seqs[k]
            ids[r, : len(seq) - shared] = torch.tensor(seq[shared:])
            mask[r, shared:len(seq)] = 1
            cols.extend(range(context - 1 - shared, len(seq) - 1 - shared))  # position p predicts token p + 1
            rows.extend([r] * (len(seq) - context))
        if not rows:
            if advance is not None:
                advance(sum(len(seqs[k][0]) for k in batch))
            continue
        ids, mask = ids.to(device), mask.to(device)
        rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
        targets = ids[rows_t, cols_t + 1]
        with torch.inference_mode():
            extra = {}
            if prefix is not None:
                extra["past_key_values"] = copy.deepcopy(prefix)
                extra["past_key_values"].batch_repeat_interleave(len(batch))
            if split:  # the vocabulary projection only where a response token is predicted
                hidden = model.get_decoder()(input_ids=ids, attention_mask=mask, **extra)[0][rows_t, cols_t]
                head = model.get_output_embeddings()
            else:  # `hidden` already holds the logits
                hidden = model(input_ids=ids, attention_mask=mask, **extra).logits[rows_t, cols_t]
                head = None
            nll = torch.cat([F.cross_entropy(_logits(head, hidden[a:a + HEAD_CHUNK]).float(), targets[a:a + HEAD_CHUNK],
                                             reduction="none") for a in range(0, len(rows), HEAD_CHUNK)])
        sums = np.bincount(rows, weights=nll.double().cpu().numpy(), minlength=len(batch))
        counts = np.bincount(rows, minlength=len(batch))
        for r, k in enumerate(batch):
            out[k] = sums[r] / counts[r] if counts[r] else np.nan
        if advance is not None:
            advance(sum(len(seqs[k][0]) for k in batch))
    return out
