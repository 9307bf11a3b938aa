"""Which rows of a batch provably pass every heuristic filter, decided column-wise.

`filter_reason`'s time on an Alpaca-like example is nearly all about ten Python calls a row, each a cheap
statistic of a short text. Here a batch's ASCII texts are joined into one buffer, one
`bytes.translate` classifies its bytes, and the statistics the checks cut on are counted for all texts at
once (numpy over token edges and the texts' offsets; RE2 for the refusal hints). A row passes only when
every check is on its passing side by the per-example code's own arithmetic, or by a bound that is never
below its statistic (the repeated-bigram share, from 8-byte token keys). Every other row (non-ASCII,
past the statistics' 20k-character head, empty, near a bound, a field that raises) goes through
`filter_reason` itself, so each reason is the per-example one by construction
(tests/preprocess/test_filter_batch.py). A check that the cheap test leaves open for a row (a refusal
hint, a tail that may be cut off, a repeated line) is decided by that one per-example statistic.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from sft_select.core.normalize import ASCII_CONTROLS
from sft_select.core.record import Example
from sft_select.preprocess.config import FilterConfig
from sft_select.preprocess.shingles import mix64
from sft_select.textstats import signals

_HEAD = signals._HEAD  # past it the per-example statistics read a head or a tail: those rows go exact
# Rows screened together. Python's per-call overhead is small against 1k rows, and their temporaries
# stay on the heap: with 2k-4k rows glibc often gave them back to the OS after each chunk and the next
# chunk faulted them in afresh; smaller chunks pay the per-call overhead (docs/benchmarks.md).
CHUNK = 1024


# Each ASCII byte's classes, as bits (one bytes.translate classifies the whole buffer):
_WORD, _OTHER, _CONTROL = 1, 2, 4  # in a token (signals.tokens); what text_ratio counts against; what
_CLASS = bytes((_WORD if chr(b).isalnum() or b == 95 else 0)  # words_of deletes, joining two tokens
               | (_OTHER if not (chr(b).isalnum() or chr(b).isspace()) else 0)
               | (_CONTROL if b in ASCII_CONTROLS else 0) if b < 128 else 0 for b in range(256))
_TERMINAL = np.array([b < 128 and chr(b) in signals._TERMINAL for b in range(256)])
_OPENING = np.array([chr(b) in ",:;-(" for b in range(256)])  # a tail ending on one looks cut off
# Every match of is_boilerplate_refusal contains one of these, lowercased (for ASCII text)
_REFUSAL_HINTS = ("an ai", "language model", "artificial", *signals._DECLINING)
_PREFIX = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)  # k low bytes


def passes(examples: Sequence[Example], cfg: FilterConfig) -> np.ndarray:
    """True where `filter_reason(example, cfg)` is certainly None; False says nothing (ask it)."""
    ok = np.zeros(len(examples), dtype=bool)
    for s in range(0, len(examples), CHUNK):
        try:
            ok[s:s + CHUNK] = _passes(examples[s:s + CHUNK], cfg)
        except Exception:  # noqa: BLE001 - an odd row: its chunk takes the per-example path, which names it
            pass
    return ok


def _count(positions: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """How many of the sorted `positions` lie in each text's [start, end)."""
    return np.searchsorted(positions, end) - np.searchsorted(positions, start)


def _passes(exs: Sequence[Example], cfg: FilterConfig) -> np.ndarray:
    n = len(exs)
    chat = np.fromiter((ex.text is None for ex in exs), dtype=bool, count=n)
    # the response is the last turn when that is the assistant's (read inline: a property call per row
    # is a tenth of what the screen costs)
    bodies = [ex.text if ex.text is not None else
              t[-1].content if (t := ex.turns) and t[-1].role == "assistant" else ex.response for ex in exs]
    prompts = [ex.prompt if ex.text is None else "" for ex in exs]
    texts = prompts + bodies  # text j < n: row j's prompt; text n + j: its body
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=2 * n)
    plain = np.fromiter(map(str.isascii, texts), dtype=bool, count=2 * n) & (lens <= _HEAD)
    plain = plain[:n] & plain[n:]
    if not plain.any():
        return plain
    if not plain.all():  # the others are decided by filter_reason: keep them out of the buffer
        both = np.concatenate([plain, plain])
        texts = [t if k else "" for t, k in zip(texts, both.tolist())]
        lens[~both] = 0
    stripped = np.fromiter(map(len, map(str.strip, texts)), dtype=np.int64, count=2 * n)
    # \x00 between texts: no token, hint or fence runs from one into the next; 8 more at the end keep
    # every token's 8-byte window (_keys) inside the buffer
    buf = ("\x00" + "\x00".join(texts) + "\x00" * 8).encode("ascii")
    start = np.empty(2 * n, dtype=np.int64)
    start[0] = 1
    np.cumsum(lens[:-1] + 1, out=start[1:])
    start[1:] += 1
    end = start + lens
    cls = np.frombuffer(buf.translate(_CLASS), dtype=np.uint8)
    word = cls & _WORD
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1  # the buffer starts and ends outside a token:
    tokens = Tokens(edges[0::2], edges[1::2])  # starts and ends alternate
    toks = _count(tokens.start, start, end)
    other = _count(np.flatnonzero(cls & _OTHER), start, end)
    controls = cls & _CONTROL
    if np.count_nonzero(controls) == 2 * n + 8:  # only the separators
        controls = np.zeros(2 * n, dtype=np.int64)
    else:
        controls = _count(np.flatnonzero(controls), start, end)

    def bounds(j: slice, min_chars: int, max_chars: int, min_words: int, max_words: int) -> np.ndarray:
        # _bounds: an empty text is left to filter_reason (it may pass without the later checks)
        ok = (lens[j] <= max_chars) & (stripped[j] > 0) & (stripped[j] >= min_chars)
        if min_words > 0:
            ok &= toks[j] >= min_words  # ASCII: no emoji, so no exception for zero tokens
        return ok & ((lens[j] <= max_words) | (toks[j] <= max_words))

    def symbols(j: slice) -> np.ndarray:
        # the same float operations as signals.text_ratio (1.0 - other / len), so the same comparison
        ratio = 1.0 - np.divide(other[j], lens[j], out=np.zeros(n), where=lens[j] > 0)
        return (stripped[j] < cfg.text_ratio_min_chars) | ~(ratio < cfg.min_text_ratio)

    P, B = slice(0, n), slice(n, 2 * n)
    # An earlier assistant turn that is empty or holds a refusal hint: filters._earlier_turns decides
    plain &= np.fromiter((len(t := ex.turns) <= 2 or _earlier_turns_plain(t, cfg) for ex in exs), dtype=bool, count=n)
    ok = plain & bounds(B, cfg.min_response_chars, cfg.max_response_chars,
                        cfg.min_response_words, cfg.max_response_words) & symbols(B)
    chat_ok = (bounds(P, cfg.min_prompt_chars, cfg.max_prompt_chars, cfg.min_prompt_words, cfg.max_prompt_words)
               & symbols(P))
    low = buf.lower()
    first = np.cumsum(toks) - toks  # each text's first token
    if cfg.echo:
        chat_ok &= _not_echo(exs, chat & ok & chat_ok, lens, toks, controls, first, tokens, low)
    ok &= chat_ok | ~chat
    # Rows left to one per-example call: a hint of a refusal in the body (RE2 over the batch: one pass,
    # ~3x faster than a bytes.find per hint), or a body signals.truncation might flag (below).
    refusing = cut = np.zeros(n, dtype=bool)
    if cfg.refusal or cfg.truncated:
        import pyarrow as pa
        import pyarrow.compute as pc

        offsets = np.append(start[B], end[-1]).astype(np.int32)
        bodies_low = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(low)])
    if cfg.refusal:
        refusing = signals.containing(bodies_low, _REFUSAL_HINTS)
    if cfg.truncated:
        # With no backtick in the body (no fence, no inline code), truncation is None for a tail (the last
        # 2000 characters, rstripped) shorter than 40 characters or ending on terminal punctuation, and
        # for one that ends neither on ",:;-(" nor on a dangling word (which is then the body's last token)
        rstripped = np.fromiter(map(len, map(str.rstrip, texts[n:])), dtype=np.int64, count=n)
        tail = np.minimum(lens[B], 2000) - (lens[B] - rstripped)
        at = start[B] + np.maximum(rstripped, 1) - 1  # the body's last non-whitespace byte
        last = np.frombuffer(buf, dtype=np.uint8)[at]
        backtick = np.zeros(n, dtype=bool)
        if low.find(b"`", start[n]) >= 0:  # most batches have none: spare the pass over each body
            backtick = pc.match_substring(bodies_low, "`").to_numpy(zero_copy_only=False)
        cut = ~((tail < 40) | _TERMINAL[last])
        dangling = np.zeros(n, dtype=bool)
        on_word = np.flatnonzero(cut & ~backtick & (word[at] > 0))  # then the last word ends in the last token
        dangling[on_word] = np.isin(_keys(low, tokens, first[on_word + n] + toks[on_word + n] - 1), _DANGLING)
        cut = backtick | (cut & (_OPENING[last] | dangling))  # a fence is judged before the tail
    for i in np.flatnonzero((refusing | cut) & ok & chat).tolist():
        ok[i] = not ((refusing[i] and signals.is_boilerplate_refusal(bodies[i]))
                     or (cut[i] and signals.truncation(bodies[i])))
    long = np.flatnonzero(ok & (toks[B] >= cfg.repetition_min_words))
    if len(long):
        ok[long] = _no_repetition([bodies[i] for i in long.tolist()], first[long + n], toks[long + n],
                                  tokens, low, cfg)
    return ok


def _earlier_turns_plain(turns, cfg: FilterConfig) -> bool:
    """Every assistant turn before the last is non-empty and, where refusals are filtered, free of every
    refusal hint (so `filters._earlier_turns` passes it); False says nothing."""
    last = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=-1)
    for t in turns[:max(last, 0)]:
        if t.role != "assistant":
            continue
        if not t.content.strip():
            return False
        if cfg.refusal and (not t.content.isascii() or any(h in t.content.lower() for h in _REFUSAL_HINTS)):
            return False
    return True


class Tokens(NamedTuple):
    start: np.ndarray  # each token's first byte in the buffer, tokens in buffer order
    end: np.ndarray  # one past its last byte


def _keys(low: bytes, tokens: Tokens, at: np.ndarray) -> np.ndarray:
    """A 64-bit key of each token `at` (lowercased): its first 8 bytes and its length, mixed. Equal tokens
    get equal keys; two tokens that only share 8 bytes and a length may too, which every use here allows."""
    window = np.ndarray((len(low) - 7,), dtype="<u8", buffer=low, strides=(1,))  # the 8 bytes at each position
    return _key(window[tokens.start[at]], tokens.end[at] - tokens.start[at])


def _key(head8: np.ndarray, length: np.ndarray) -> np.ndarray:
    length = length.astype(np.uint64)
    return mix64((head8 & _PREFIX[np.minimum(length, 8)]) ^ (length << np.uint64(56)))


_DANGLING = _key(np.array([int.from_bytes(w.encode()[:8].ljust(8, b"\0"), "little") for w in signals._DANGLING_WORDS],
                          dtype=np.uint64), np.array([len(w) for w in signals._DANGLING_WORDS]))


def _not_echo(exs: Sequence[Example], rows, lens, toks, controls, first, tokens: Tokens, low: bytes) -> np.ndarray:
    """_echoes is False: the response is far longer than the prompt, or it has no token, or its tokens
    differ from the prompt's and the last user turn's in number or in the first one (tokens that equal
    words_of's where no control joins two; equal keys are left to filter_reason)."""
    n = len(exs)
    far = lens[n:] > 2 * lens[:n] + 16
    near = ~far & rows & (controls[:n] == 0) & (controls[n:] == 0)
    differ = near & ((toks[n:] == 0) | (toks[:n] != toks[n:]))
    same = np.flatnonzero(near & ~differ)
    differ[same] = _keys(low, tokens, first[same]) != _keys(low, tokens, first[same + n])
    for i in np.flatnonzero(differ & (toks[n:] > 0)).tolist():
        turns = exs[i].turns
        if len(turns) == 2 and turns[0].role == "user" and turns[1].role == "assistant":
            continue  # the last user turn is the prompt
        users = [t.content for t in exs[i].prompt_turns if t.role == "user"]
        if users:
            u = users[-1].encode("ascii") if users[-1].isascii() else b"\x00"  # \x00: a control, not proven
            differ[i] = (len(u.translate(None, ASCII_CONTROLS)) == len(u)
                         and len(u.translate(signals._WORD_BYTES).split()) != toks[n + i])
    return far | differ


def _no_repetition(bodies: list[str], first: np.ndarray, count: np.ndarray, tokens: Tokens, low: bytes,
                   cfg: FilterConfig) -> np.ndarray:
    """_repetition is None for these bodies (their tokens: count[k] from first[k]), each long enough for it
    to judge: no line repeats (or duplicate_line_chars is within its bound) and an upper bound of the
    repeated-bigram share, itself an upper bound of every n-gram share, is within every n-gram bound."""
    ok = np.fromiter(("\n" not in t or _no_repeated_line(t)
                      or signals.duplicate_line_chars(t) <= cfg.max_duplicate_line_chars for t in bodies),
                     dtype=bool, count=len(bodies))
    bounds = [*cfg.max_top_ngram_chars.values(), *cfg.max_duplicate_ngram_chars.values()]
    if not bounds:
        return ok
    if min([*cfg.max_top_ngram_chars, *cfg.max_duplicate_ngram_chars]) < 2:
        return np.zeros(len(bodies), dtype=bool)  # a unigram bound: the bigram share bounds nothing
    rows = np.repeat(np.arange(len(bodies)), count)
    at = np.arange(len(rows)) + np.repeat(first - (np.cumsum(count) - count), count)
    share = _bigram_share_bound(_keys(low, tokens, at), tokens.end[at] - tokens.start[at], rows, len(bodies))
    return ok & (share <= min(bounds))


def _no_repeated_line(text: str) -> bool:
    """No non-blank line (stripped) occurs twice, so duplicate_line_chars is 0 (C calls, no loop per line)."""
    lines = list(map(str.strip, text.split("\n")))
    blank = lines.count("")
    return len(set(lines)) - (blank > 0) == len(lines) - blank


def _bigram_share_bound(keys: np.ndarray, length: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """For each row, at least signals.repeated_bigram_share of its tokens (`keys`, in text order; `rows`
    says whose): a bigram is a 64-bit mix of its two keys and its row. Keys that collide only join
    distinct bigrams, which can only raise the share."""
    import pandas as pd

    same = np.flatnonzero(rows[:-1] == rows[1:])  # bigrams within one text
    pair = mix64(keys[same] ^ (rows[same].astype(np.uint64) << np.uint64(40))) + keys[same + 1]
    ids, _ = pd.factorize(pair)
    repeated = same[np.bincount(ids)[ids] > 1]
    covered = np.zeros(len(keys), dtype=bool)
    covered[repeated] = True
    covered[repeated + 1] = True
    chars = np.bincount(rows, weights=length, minlength=n_rows)
    return np.divide(np.bincount(rows[covered], weights=length[covered], minlength=n_rows), chars,
                     out=np.zeros(n_rows), where=chars > 0)
