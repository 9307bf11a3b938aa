"""Per-example causal-LM statistics shared by the LM views: encoding, computing, caching.

For each instruction example we score the response tokens twice: after its prompt in the model's chat
template, and after the same template with an empty user turn ("the response alone"). The two mean
losses and the token counts serve difficulty_ifd, difficulty_loss and quality_fluency, so they are
cached by (example id, model fingerprint, max_tokens) in process and on disk (core/shard_cache.py): one forward pass per
example and context, whichever of the three views asks first. The batched forward passes themselves
are in `sft_select.models.lm.forward`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sft_select.core.cache import fingerprint, user_cache_dir
from sft_select.core.progress import debug, progress_bar
from sft_select.core.record import Example, Turn
from sft_select.core.shard_cache import ShardCache
from sft_select.models.lm.forward import sequence_losses
from sft_select.models.lm.loader import LoadedLM, get_lm

COLUMNS = ("loss_cond", "loss_resp", "n_response", "n_context", "truncated", "has_prompt")
STATS_VERSION = "1"  # bump when the statistics change for the same model: it is in the cache key
CHARS_PER_TOKEN = 12  # read at most this many characters per allowed token: a 1 MB text is cut before tokenizing
# Assumed CPU throughput of SmolLM2-135M, only used for the time estimate printed before a CPU run: an
# order of magnitude from docs/benchmarks.md "LM views", not a promise (a loaded machine is slower).
CPU_TOKENS_PER_S = 500


@dataclass
class Encoded:
    """Token ids of one example: the context before the response, with and without the prompt."""

    with_prompt: list[int]
    without_prompt: list[int]
    response: list[int]
    truncated: bool

    @property
    def has_prompt(self) -> bool:
        return self.with_prompt != self.without_prompt


def _messages(turns) -> list[dict[str, str]]:
    return [{"role": t.role, "content": t.content} for t in turns]


def _template(tokenizer, turns) -> str | None:
    """Chat-template text up to the assistant's answer, or None when the model has no template or the
    template rejects these turns (some refuse a system role); the caller then uses a plain format."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    try:
        return tokenizer.apply_chat_template(_messages(turns), tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja raises its own error types for turns a template does not accept
        return None


def encode(lm: LoadedLM, examples: Sequence[Example], max_tokens: int) -> list[Encoded | None]:
    """Token ids per example (None when there is no response), prompt and response capped at
    `max_tokens` each: the response keeps its head, the prompt its tail (the part next to the response).

    "Without prompt" is the same chat frame with an empty user turn, so the two contexts differ only in
    what the prompt says. Without a usable template the plain format is `<bos> prompt \n\n response`.
    """
    tok = lm.tokenizer
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    plain_start = [start] if start is not None else []
    bare_text = _template(tok, (Turn("user", ""),))
    cap = max_tokens * CHARS_PER_TOKEN
    texts, templated, cut, keep = [], [], [], []
    for i, ex in enumerate(examples):
        if not ex.response.strip():
            continue
        turns = ex.prompt_turns if ex.prompt.strip() else ()
        text = None if bare_text is None else (_template(tok, turns) if turns else bare_text)
        templated.append(text is not None)
        if text is None:  # plain format: the start token is added to the ids below
            text = "\n\n".join(t.content for t in turns if t.content) + "\n\n" if turns else ""
        cut.append(len(text) > cap or len(ex.response) > cap)
        texts.extend([text[-cap:], ex.response[:cap]])
        keep.append(i)
    ids = tok(texts + [bare_text or ""], add_special_tokens=False)["input_ids"] if keep else [[]]
    bare_ids = ids[-1]
    out: list[Encoded | None] = [None] * len(examples)
    for j, i in enumerate(keep):
        context, response = ids[2 * j], ids[2 * j + 1]
        if templated[j]:
            without = bare_ids
        else:
            context, without = plain_start + context, list(plain_start)
        truncated = cut[j] or len(context) > max_tokens or len(response) > max_tokens
        out[i] = Encoded(context[-max_tokens:], without, response[:max_tokens], truncated)
    return out


def token_count(encoded: Sequence[Encoded | None]) -> int:
    """Tokens the forward passes will read: both contexts plus the response twice."""
    return sum(len(e.with_prompt) + len(e.without_prompt) + 2 * len(e.response) for e in encoded if e)


def compute_stats(lm: LoadedLM, examples: Sequence[Example], *, max_tokens: int, batch_tokens: int) -> np.ndarray:
    """Rows of COLUMNS per example, computed now (no cache); NaN losses where there is no response."""
    encoded = encode(lm, examples, max_tokens)
    stats = np.full((len(examples), len(COLUMNS)), np.nan)
    seqs, where = [], []
    for i, e in enumerate(encoded):
        stats[i, 2:] = (len(e.response), len(e.with_prompt), e.truncated, e.has_prompt) if e else 0.0
        if e is None:
            continue
        seqs.append((e.with_prompt + e.response, max(1, len(e.with_prompt))))
        where.append((i, 0))
        if e.has_prompt:  # without a prompt both contexts are the same: score once
            seqs.append((e.without_prompt + e.response, max(1, len(e.without_prompt))))
            where.append((i, 1))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else (lm.tokenizer.eos_token_id or 0)
    # A bar over tokens, not examples: a batch of 512 examples can take minutes on CPU, and sequences run
    # longest first, so a count of sequences would promise too late an end.
    with progress_bar(f"LM forward passes of {len(examples)} examples, tokens",
                      total=sum(len(ids) for ids, _ in seqs)) as advance:
        # With and without the prompt apart: each group has its own shared prefix, computed once (the chat
        # frame's system turn for the first; the whole empty-prompt context for the second).
        for col in (0, 1):
            group = [j for j, (_, c) in enumerate(where) if c == col]
            if group:
                losses = sequence_losses(lm.model, [seqs[j] for j in group], pad_id=pad, batch_tokens=batch_tokens,
                                         advance=advance)
                for j, loss in zip(group, losses):
                    stats[where[j][0], col] = loss
    for i, e in enumerate(encoded):
        if e is not None and not e.has_prompt:
            stats[i, 1] = stats[i, 0]
    return stats


def stats_key(lm: LoadedLM, max_tokens: int) -> str:
    return fingerprint("lm-stats", STATS_VERSION, lm.fingerprint, max_tokens)


class LMStatsStore:
    """Statistics rows by (stats key, example id): in memory for the process, and on disk in the shared
    id-keyed shard cache (core/shard_cache.py: one shard per scored batch, written atomically, read
    without pickle) under `root/<stats key>/`. Shards another process writes meanwhile are picked up."""

    root: Path | None = None  # None: the user cache folder; tests point it at a temporary folder
    _memory: dict[str, dict[str, np.ndarray]] = {}
    _disk: dict[Path, ShardCache] = {}

    @classmethod
    def folder(cls, key: str) -> Path:
        return (cls.root or user_cache_dir() / "lm_stats") / key

    @classmethod
    def _cache(cls, key: str) -> ShardCache:
        folder = cls.folder(key)
        if folder not in cls._disk:
            cls._disk[folder] = ShardCache(folder, on_damaged=lambda path, exc: debug(
                f"lm stats: ignoring {path}: {exc}"))
        return cls._disk[folder]

    @classmethod
    def _rows(cls, key: str) -> dict[str, np.ndarray]:
        if key not in cls._memory:
            rows: dict[str, np.ndarray] = {}
            folder = cls.folder(key)
            # The npz shards earlier versions wrote (ids + stats in one file): still read, never written.
            for shard in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        rows.update(zip(data["ids"].tolist(), data["stats"]))
                except (OSError, ValueError, KeyError) as exc:  # a damaged shard is recomputed, not fatal
                    debug(f"lm stats: ignoring {shard}: {exc}")
            cls._memory[key] = rows
        return cls._memory[key]

    @classmethod
    def lookup(cls, key: str, ids: Sequence[str]) -> list[np.ndarray | None]:
        rows = cls._rows(key)
        missing = [i for i in dict.fromkeys(ids) if i not in rows]
        if missing:
            rows.update(cls._cache(key).get(missing))
        return [rows.get(i) for i in ids]

    @classmethod
    def put(cls, key: str, ids: Sequence[str], stats: np.ndarray) -> None:
        cls._rows(key).update(zip(ids, stats))
        try:
            cls._cache(key).put(ids, stats, dtype=np.float64)
        except OSError as exc:  # a read-only cache costs a recomputation next run, not this run
            debug(f"lm stats: cannot write under {cls.folder(key)}: {exc}")

    @classmethod
    def clear(cls) -> None:
        cls._memory.clear()
        cls._disk.clear()


def lm_stats(examples: Sequence[Example], *, model: str, max_tokens: int, batch_tokens: int,
             device: str = "auto", dtype: str = "auto") -> np.ndarray:
    """Rows of COLUMNS per example, from the cache where present, else computed and cached."""
    lm = get_lm(model, device, dtype)
    key = stats_key(lm, max_tokens)
    ids = [ex.id for ex in examples]
    found = LMStatsStore.lookup(key, ids)
    missing = [i for i, row in enumerate(found) if row is None]
    if missing:
        computed = compute_stats(lm, [examples[i] for i in missing], max_tokens=max_tokens,
                                 batch_tokens=batch_tokens)
        LMStatsStore.put(key, [ids[i] for i in missing], computed)
        for i, row in zip(missing, computed):
            found[i] = row
    return np.stack(found) if found else np.zeros((0, len(COLUMNS)))


def pending_tokens(examples: Sequence[Example], *, model: str, max_tokens: int, device: str = "auto",
                   dtype: str = "auto") -> tuple[int, int]:
    """(examples not cached yet, tokens their forward passes will read), for a time estimate."""
    lm = get_lm(model, device, dtype)
    found = LMStatsStore.lookup(stats_key(lm, max_tokens), [ex.id for ex in examples])
    todo = [ex for ex, row in zip(examples, found) if row is None]
    return len(todo), token_count(encode(lm, todo, max_tokens)) if todo else 0
