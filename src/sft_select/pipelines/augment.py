"""Augmentation of a selected set: word-level edits for classification text, LM paraphrase for instructions.

Classification (EDA-style): swap random word pairs, delete random words, insert words drawn from the
corpus vocabulary of the same label (so an insertion rarely carries another class's cue). The result is
compared with the original (word-level difference ratio); above `max_change` the edit rate is halved and
tried again, and after a few tries the example is left without an augmented copy (back-off).

Instructions: the smallest proxy LM rewrites the user request; a rewrite that is empty, identical, or
far shorter or longer than the original is dropped.

Every augmented row is the original row with the text replaced and three marker fields added:
`augmented: true`, `augmented_from` (the source example id) and `augmentation` (what was done).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Sequence

import numpy as np

from sft_select.core.errors import InputError
from sft_select.core.progress import progress_bar
from sft_select.core.record import Example, Turn, content_hash


@dataclass
class AugmentStats:
    made: int = 0
    backed_off: int = 0


def change_ratio(a: Sequence[str], b: Sequence[str]) -> float:
    """0 = same word sequence, 1 = nothing in common."""
    return 1.0 - SequenceMatcher(None, list(a), list(b), autojunk=False).ratio()


def label_vocab(examples: Sequence[Example], min_count: int = 2) -> dict[str | None, tuple[list[str], np.ndarray]]:
    """Per label, the words seen in at least `min_count` of its examples, with frequency weights."""
    per: dict[str | None, Counter] = {}
    for ex in examples:
        per.setdefault(ex.label, Counter()).update(set(re.findall(r"[A-Za-z]{3,}", ex.content.lower())))
    out = {}
    for label, counts in per.items():
        words = sorted(w for w, c in counts.items() if c >= min_count) or sorted(counts)
        freq = np.array([counts[w] for w in words], dtype=float)
        out[label] = (words, freq / freq.sum() if freq.sum() else freq)
    return out


def eda(words: list[str], rng: np.random.Generator, vocab: tuple[list[str], np.ndarray],
        p: float) -> tuple[list[str], str]:
    out = list(words)
    n = len(out)
    k = max(1, int(round(p * n)))
    for _ in range(k if n > 1 else 0):
        i, j = rng.integers(0, len(out), 2)
        out[i], out[j] = out[j], out[i]
    kept = [w for w in out if rng.random() >= p]
    deleted = len(out) - len(kept)
    out = kept or [out[int(rng.integers(0, len(out)))]]
    inserted = 0
    if vocab[0]:
        for _ in range(k):
            out.insert(int(rng.integers(0, len(out) + 1)), vocab[0][int(rng.choice(len(vocab[0]), p=vocab[1]))])
            inserted += 1
    return out, f"eda swap={k if n > 1 else 0} delete={deleted} insert={inserted}"


def augment_text(text: str, rng: np.random.Generator, vocab, *, p: float, max_change: float,
                 tries: int = 4) -> tuple[str, str] | None:
    words = text.split()
    if not words:
        return None
    for _ in range(tries):
        new, how = eda(words, rng, vocab, p)
        ratio = change_ratio(words, new)
        if 0 < ratio <= max_change:
            return " ".join(new), f"{how} change={ratio:.2f}"
        p /= 2  # back off: gentler edits next time
    return None


def _find_leaf(obj: Any, want: str, path: tuple = ()) -> tuple | None:
    """Path to the first string value in `obj` equal to `want` (row order)."""
    if isinstance(obj, str):
        return path if obj == want else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        found = _find_leaf(v, want, path + (k,))
        if found is not None:
            return found
    return None


def _string_leaves(obj: Any, path: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(obj, str):
        return [(path, obj)]
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    return [leaf for k, v in items for leaf in _string_leaves(v, path + (k,))]


def _copy_with(obj: Any, path: tuple, value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {k: (_copy_with(v, rest, value) if k == head else v) for k, v in obj.items()}
    return [(_copy_with(v, rest, value) if i == head else v) for i, v in enumerate(obj)]


def marked_row(ex: Example, path: tuple, new_text: str, how: str) -> dict:
    row = _copy_with(dict(ex.original), path, new_text)
    row.update({"augmented": True, "augmented_from": ex.id, "augmentation": how})
    return row


def _new_example(ex: Example, row: dict, text: str | None, turns=()) -> Example:
    new_id = content_hash(tuple(turns), text, ex.label) + "~aug"
    return Example(id=new_id, source=ex.source, row=ex.row, format=ex.format, original=row,
                   turns=tuple(turns), text=text, label=ex.label)


def augment_classification(examples: Sequence[Example], *, per_example: int = 1, p: float = 0.1,
                           max_change: float = 0.3, seed: int = 0,
                           vocab_from: Sequence[Example] | None = None) -> tuple[list[Example], AugmentStats]:
    """`per_example` edited copies of each labelled example (fewer where back-off gave up)."""
    vocabs = label_vocab(vocab_from if vocab_from is not None else examples)
    rng = np.random.default_rng(seed)
    out, stats = [], AugmentStats()
    with progress_bar("word-level augmentation", total=len(examples)) as advance:
        for ex in examples:
            if ex.text is None:
                raise InputError(ex.source, "word-level augmentation is for text/label data; use paraphrase "
                                 "for instruction data", line=ex.row + 1)
            path = _find_leaf(ex.original, ex.text)
            if path is None:
                raise InputError(ex.source, "cannot find the text field in the original row", line=ex.row + 1)
            vocab = vocabs.get(ex.label, ([], np.zeros(0)))
            for _ in range(per_example):
                res = augment_text(ex.text, rng, vocab, p=p, max_change=max_change)
                if res is None:
                    stats.backed_off += 1
                    continue
                text, how = res
                out.append(_new_example(ex, marked_row(ex, path, text, how), text))
                stats.made += 1
            advance(1)
    return out, stats


def _request_leaf(ex: Example) -> tuple[tuple, str] | None:
    """The string field of the original row that holds the user's request (last user turn)."""
    users = [t.content for t in ex.prompt_turns if t.role == "user"]
    if not users:
        return None
    want = users[-1]
    path = _find_leaf(ex.original, want)
    if path is not None:
        return path, want
    # Alpaca: the user turn is instruction + input; rewrite the instruction, the first part in row order.
    for path, value in _string_leaves(ex.original):
        if value.strip() and value in want:
            return path, value
    return None


PROMPT = ("Rewrite the following request in different words. Keep its meaning and every detail. "
          "Reply with the rewritten request only.\n\n{text}")


def paraphrase_instructions(examples: Sequence[Example], *, model: str = "smollm2-135m", max_new_tokens: int = 160,
                            seed: int = 0) -> tuple[list[Example], AugmentStats]:
    """One LM rewrite of each example's request (greedy decoding: deterministic)."""
    import torch

    from sft_select.models.lm.loader import get_lm

    loaded = get_lm(model, "cpu", "float32", option="the paraphrase model (augment)")
    lm, tok = loaded.model, loaded.tokenizer
    torch.manual_seed(seed)
    out, stats = [], AugmentStats()
    with progress_bar(f"paraphrasing with {model}", total=len(examples)) as advance:
        for ex in examples:
            _paraphrase_one(ex, lm, tok, model, max_new_tokens, out, stats)
            advance(1)
    return out, stats


def _paraphrase_one(ex: Example, lm, tok, model: str, max_new_tokens: int, out: list[Example],
                    stats: AugmentStats) -> None:
    """One example's rewrite appended to `out`, or counted as backed off in `stats`."""
    import torch

    found = _request_leaf(ex) if ex.turns else None
    if found is None:
        stats.backed_off += 1
        return
    path, original = found
    msgs = [{"role": "user", "content": PROMPT.format(text=original)}]
    if getattr(tok, "chat_template", None):
        prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    else:
        prompt = f"User: {msgs[0]['content']}\nAssistant: "
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        gen = lm.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                          pad_token_id=tok.pad_token_id)
    text = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    ratio = len(text) / max(1, len(original))
    if not text or text.strip().lower() == original.strip().lower() or not 0.5 <= ratio <= 2.0:
        stats.backed_off += 1
        return
    turns, replaced = [], False
    for t in reversed(ex.turns):  # the last user turn gets the rewrite
        if not replaced and t.role == "user" and original in t.content:
            t, replaced = Turn(t.role, t.content.replace(original, text)), True
        turns.append(t)
    row = marked_row(ex, path, text, f"paraphrase model={model}")
    out.append(_new_example(ex, row, None, tuple(reversed(turns))))
    stats.made += 1
