"""quality_learned: a response-quality scorer trained on public judgments, shipped inside the package.

The shipped model (`views/data/quality_learned.npz`, rebuilt by `training/train_quality_learned.py`) was
fitted on AlpacaEval's per-answer judgments: an LLM judge's preference of an answer over a reference
answer to the same instruction. That judge prefers longer answers, and on other pools longer is not
better, so the fit is length-controlled: P(answer beats reference) = sigmoid(s(answer) - s(reference) +
g(length of answer) - g(length of reference) + annotator terms), and the score is s alone. g (a
piecewise-linear function of log length per judge) soaks up what the judge pays for length; s reads no
length (the features below are shares and densities, never counts) and is then decorrelated from the
log length it could still infer from the embedding. Held-out figures: bench/quality_learned_eval.py.

Every AlpacaEval answer is on topic and fluent, so the judgments alone never teach that an answer to
another question, or word salad, is bad (alpaca-lc-1 scored both above a good answer). A second linear
scorer over the same features, the guard g, is fitted on synthetic pairs made from training answers
only: each answer beats an answer to a different instruction given its prompt, a copy with its words
shuffled, a copy padded with a repeated fragment, a copy cut mid-sentence and a noisy word salad of it
(training/train_quality_learned.py `corrupt`). The score is s + slope * min(0, g - threshold), the
threshold a low quantile of g over the training answers: the guard only ever lowers a score, and leaves
the judge's order of ordinary answers alone (mixed into the judge's fit, the easy synthetic pairs took
the score over and its held-out judge agreement fell to chance).

The judgments never show a weak model's answer either (base GPT-3's rambles and empty answers), so the
judge's fit also takes Self-Instruct tier pairs (alpaca-lc-syn-3): on half of that set's instructions, each
stronger model's answer beats each weaker one's (training/train_quality_learned.py `with_tiers`; the other
half is held out for the evaluation's tier order).

Features of a (prompt, answer) pair: the static embedding of prompt + answer (the vector the run already
computes for the example, so it is read from the embedding store, not recomputed; the prompt's own vector
is not stored by a run and is encoded here), its product with the prompt's embedding, their cosine and
the cosine of the answer's estimated part with the prompt, and `STATS`, cheap text statistics of the
answer (shares and densities; lexical overlap with the prompt; signs of shuffled, repeated or cut text).
`text_stats` counts them over the whole batch (Arrow's RE2 for the patterns, bytes for the words);
`row_stats` is the one-answer reference it must equal.

Multi-turn: each assistant turn is scored with the turns since the previous assistant turn as its prompt,
and the example scores its weakest turn (the minimum): every assistant turn is trained on, so one bad turn
makes a bad example, and a mean would let good turns hide it. (The cost: a long conversation has more
chances to hold a weak turn than a short one.)
"""
from __future__ import annotations

import json
import math
import operator
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from sft_select.core.errors import ConfigError
from sft_select.core.normalize import scrub_surrogates
from sft_select.core.record import Example
from sft_select.textstats import signals, token_stats
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

FORMAT = "sft-select-quality-learned"
MODEL_VERSION = "alpaca-lc-syn-3"  # of the shipped file; bump it (and retrain) when features or data change
SHIPPED = Path(__file__).with_name("data") / "quality_learned.npz"
HEAD = 4000  # characters of an answer the statistics read (as many as the embedder reads)
STATS = ("digits", "upper", "non_ascii", "punct", "newlines", "list_lines", "heading_lines",
         "code_fence", "bold", "url", "word_chars", "words_per_sentence", "questions", "repetition",
         "refusal", "truncated", "echo", "empty",
         # relevance and fluency (alpaca-lc-syn-2): what the synthetic negatives of the training teach
         "prompt_cover", "answer_in_prompt", "adjacent_repeat", "lower_after_stop", "stop_word_end",
         "mid_caps", "open_end")
SCALARS = 2 + len(STATS)  # [cos(content, prompt), cos(answer part, prompt)] + STATS, between the blocks
_STOP_TEXT = ("a an the of to and or in on at for with by as is are was be that this it from "
              "how what do i you your my me can which")
_STOP = frozenset(_STOP_TEXT.encode().split())  # as `_words` cuts them: bytes
_PUNCT_CHARS = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_NO_PUNCT_BYTES = bytes.maketrans((_PUNCT_CHARS + "\x1c\x1d\x1e\x1f").encode(), b" " * (len(_PUNCT_CHARS) + 4))
_SPACE = "[ \t\n\r\f]"  # spelled out: Python's \s also takes \v and \x1c-\x1f, RE2's does not
_STOP_WORDS = ("the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "with", "by", "is", "that")
# Counted per answer by RE2 over the whole batch (pyarrow) and by Python's re in `row_stats`; the patterns
# use only what both read alike (ASCII classes spelled out, \b as re.ASCII reads it, no case-folding flag).
# Arrow counts by searching again from the end of each match as if a new text began there, so a pattern
# anchored at a line start eats the rest of its line: the next search then starts on a newline.
PATTERNS = {
    "list_lines": "(?m)^[ \t]*(?:[-*\u2022]|[0-9]{1,3}[.)])" + _SPACE + "[^\n]*",
    "heading_lines": "(?m)^[ \t]*#[^\n]*",
    "lower_after_stop": "[.!?] +[a-z]",
    "stop_word_end": r"\b(?:" + "|".join("".join(f"[{c.upper()}{c}]" for c in w) for w in _STOP_WORDS)
                     + r")[.!?](?:" + _SPACE + "|$)",
    "mid_caps": "[a-z,;] +[A-Z][a-z]",
}
_COMPILED = {k: re.compile(p.replace("(?m)", ""), re.ASCII | (re.MULTILINE if p.startswith("(?m)") else 0))
             for k, p in PATTERNS.items()}
SUBSTRINGS = ("\n", "\n\n", ". ", "? ", "! ", "?", "**", "```", "http")  # counted in each answer's head
_DIGITS = bytes(range(48, 58))
_UPPER = bytes(range(65, 91))
_PUNCT = bytes(b for b in range(128) if not chr(b).isalnum() and not chr(b).isspace())
_LETTERS = bytes(b for b in range(128) if chr(b).isalpha())
_TERMINAL = frozenset(".!?)]}\"'`*:;>|\u3002\uff01\uff1f\u2026")


def _share(data: bytes, chars: bytes) -> float:
    """Share of the bytes of `data` in `chars`, counted by one bytes.translate in C."""
    return (len(data) - len(data.translate(None, chars))) / len(data) if data else 0.0


def turn_pairs(ex: Example) -> list[tuple[str, str]]:
    """(prompt, answer) of each assistant turn; the prompt is the turns since the previous assistant turn,
    so a single-turn example's pair joins to exactly `ex.content` (whose embedding the run has)."""
    pairs, since = [], []
    for turn in ex.turns:
        if turn.role == "assistant":
            pairs.append(("\n\n".join(since), turn.content))
            since = []
        elif turn.content:
            since.append(turn.content)
    return pairs or [(ex.prompt, "")]


def joined(prompt: str, answer: str) -> str:
    return "\n\n".join(part for part in (prompt, answer) if part)  # as Example.content joins them


def _open_end(answer: str) -> float:
    """Whether the answer's last line stops where a sentence or a list item cannot (a cut answer)."""
    last = answer.rstrip()[-300:].rsplit("\n", 1)[-1].strip()
    return float(bool(last) and (last[-1] in ",;-(" or (
        last[-1] not in _TERMINAL and len(last.split()) > 3
        and not last.startswith(("-", "*", "#", "|", ">", "\u2022")) and not last[:1].isdigit())))


def _words(text: str) -> bytes:
    """`text` lowercased, as UTF-8, with punctuation and characters 0x1c-0x1f (which str.split reads as
    spaces) made spaces: its words are what bytes.split cuts it into."""
    return scrub_surrogates(text).lower().encode().translate(_NO_PUNCT_BYTES)


def _overlap(head: str, prompt: str) -> tuple[float, float, float]:
    """Relevance and fluency from the words: the share of the prompt's content words (over two bytes, not
    in _STOP) the answer uses, the share of the answer's that are the prompt's, and the share of words
    equal to the word before them. (Bytes: cutting str words with str.translate and a table was the
    slowest part of the statistics.)"""
    aw, pw = _words(head).split(), _words(prompt[-HEAD:]).split()
    pset = {w for w in set(pw) - _STOP if len(w) > 2}  # the set first: the filter sees each word once
    aset = {w for w in set(aw) - _STOP if len(w) > 2}
    cover = len(pset & aset) / len(pset) if pset else 0.0
    in_prompt = len(aset & pset) / len(aset) if aset else 0.0
    return cover, in_prompt, sum(map(operator.eq, aw, aw[1:])) / max(len(aw) - 1, 1)


def _columns(head: str, data: bytes, counts: dict[str, float], dup: float, refused: bool, truncated: bool,
             overlap: Sequence[float], prompt: str, answer: str) -> tuple[float, ...]:
    """One row of STATS from what was counted in it (`counts`: PATTERNS and SUBSTRINGS; `overlap`: `_overlap`)."""
    n = max(len(data), 1)
    nw = max(len(head.split()), 1)
    nl = max(counts["\n"] + 1 - counts["\n\n"], 1)  # lines, blank ones left out (roughly)
    sentences = counts[". "] + counts["? "] + counts["! "] + counts["\n"] + 1
    stripped = head.strip()
    return (_share(data, _DIGITS), _share(data, _UPPER), (len(data) - len(head)) / n,  # bytes beyond one a character
            _share(data, _PUNCT), counts["\n"] / n * 100, min(counts["list_lines"] / nl, 1.0),
            min(counts["heading_lines"] / nl, 1.0), float(counts["```"] > 0), min(counts["**"] / nw, 1.0),
            float(counts["http"] > 0), min((n - len(data.translate(None, _LETTERS))) / nw, 20.0),
            math.log1p(nw / sentences), counts["?"] / sentences, dup, float(refused), float(truncated),
            float(bool(stripped) and stripped == prompt.strip()), float(not stripped),
            *overlap, counts["lower_after_stop"] / sentences, counts["stop_word_end"] / sentences,
            min(counts["mid_caps"] / nw, 1.0), _open_end(answer))


def row_stats(prompt: str, answer: str) -> np.ndarray:
    """STATS of one answer, counted in Python one statistic at a time: the reference `text_stats` (which
    counts a whole batch at once) must equal (tests/views/test_quality_learned.py)."""
    head = answer[:HEAD]
    counts = {k: len(rx.findall(head)) for k, rx in _COMPILED.items()}
    counts.update({s: head.count(s) for s in SUBSTRINGS})
    dup = signals.duplicate_ngram_ratio(signals.word_tokens(head))
    return np.array(_columns(head, head.encode("utf-8", "surrogatepass"), counts, dup, signals.is_refusal(head),
                             signals.truncation(answer) is not None, _overlap(head, prompt), prompt, answer))


def _batch_counts(heads: list[str]) -> dict[str, np.ndarray]:
    """PATTERNS and SUBSTRINGS counted in each head by Arrow, all heads in one call per pattern (RE2,
    C++): one Python regex pass per head and pattern was a third of the view's time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array([h if h.isascii() else scrub_surrogates(h) for h in heads], pa.large_string())
    out = {k: pc.count_substring_regex(arr, p) for k, p in PATTERNS.items()}
    out.update({s: pc.count_substring(arr, s) for s in SUBSTRINGS})
    return {k: v.to_numpy(zero_copy_only=False).tolist() for k, v in out.items()}


def text_stats(prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
    """(n, len(STATS)): shares and densities of each answer, none of which grows with its length; equal to
    `row_stats` of each, with the counting done over the batch."""
    heads = [a[:HEAD] for a in answers]
    out = np.zeros((len(heads), len(STATS)))
    if not heads:
        return out
    dup = np.zeros(len(heads))
    rows = token_stats.ascii_rows(heads)
    if len(rows):
        dup[rows] = token_stats.duplicate_ngram_ratios([heads[i] for i in rows])[1]
    refused = signals.refusals(heads)
    counts = _batch_counts(heads)
    keys = list(counts)
    for i, (head, prompt, answer) in enumerate(zip(heads, prompts, answers)):
        if not head.isascii():
            dup[i] = signals.duplicate_ngram_ratio(signals.word_tokens(head))
        mine = dict(zip(keys, (counts[k][i] for k in keys)))
        out[i] = _columns(head, head.encode("utf-8", "surrogatepass"), mine, dup[i], refused[i],
                          signals.truncation(answer) is not None, _overlap(head, prompt), prompt, answer)
    return out


def pair_features(prompts: Sequence[str], answers: Sequence[str], content_vecs: np.ndarray,
                  prompt_vecs: np.ndarray) -> np.ndarray:
    """The model's input: [content embedding, content * prompt embedding, their cosine, the cosine of the
    answer's part of the content vector with the prompt, STATS, prompt embedding]. The last block cancels in
    the fit (an answer and its reference share the prompt); it is there so the score can subtract what the
    prompt alone predicts of it (training). The content vector embeds prompt + answer (the run's vector);
    the answer's part is estimated as content - share * prompt, share = the prompt's share of the
    characters the embedder reads (a static embedder averages its tokens), so an answer to another
    question has a low cosine even though its content vector holds the prompt."""
    c = np.asarray(content_vecs, dtype=np.float64)
    p = np.asarray(prompt_vecs, dtype=np.float64)
    cos = np.einsum("ij,ij->i", c, p)  # einsum: the same bits in any batch
    share = np.array([min(len(q), HEAD) / max(min(len(q) + len(a) + 2, HEAD), 1) for q, a in zip(prompts, answers)])
    rest = c - share[:, None] * p
    cos_a = np.einsum("ij,ij->i", rest, p) / np.maximum(np.sqrt(np.einsum("ij,ij->i", rest, rest)), 1e-9)
    return np.hstack([c, c * p, cos[:, None], cos_a[:, None], text_stats(prompts, answers), p])


def load_model(path: str | Path) -> dict[str, np.ndarray | dict]:
    """The arrays of a model file, read without pickle, and its meta (a JSON string inside it)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"quality_learned.path: {path}: unreadable model: {exc}") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(f"quality_learned.path: {path} is not an sft-select quality_learned model")
    dim = arrays["coef"].shape[0]
    if any(arrays[k].shape != (dim,) for k in ("mean", "scale") + (("guard_coef",) if "guard_coef" in arrays else ())):
        raise ConfigError(f"quality_learned.path: {path}: array shapes do not agree")
    return {**arrays, "meta": meta}


@register
class QualityLearned(View):
    name = "quality_learned"
    group = "quality"
    version = f"1-{MODEL_VERSION}"  # the shipped model's version is part of the cache key
    needs = frozenset({"instruction"})
    default_on = False  # until its held-out figures are read (bench/quality_learned_eval.py)
    default_data = frozenset({"instruction"})

    def __init__(self, *, path: str | None = None):
        """`path`: a model file in this format; None = the shipped model (trained on AlpacaEval judgments)."""
        self.path = path

    def model_files(self) -> list[Path]:
        return [Path(self.path)] if self.path else []  # the shipped file is keyed by MODEL_VERSION

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "QualityLearned":
        from sft_select.models.embed.embedders import get_embedder

        model = load_model(self.path or SHIPPED)
        meta = model["meta"]
        if self.path is None and meta.get("model_version") != MODEL_VERSION:
            raise ConfigError(f"the shipped quality_learned model is {meta.get('model_version')}, the code "
                              f"expects {MODEL_VERSION}: rebuild it with training/train_quality_learned.py")
        probes = get_embedder(meta["embedder"]).encode(model["probe_texts"].tolist()).astype(np.float64)
        if np.einsum("ij,ij->i", probes, model["probe_vecs"]).min() < 0.99:
            raise ConfigError(f"quality_learned: the embedder '{meta['embedder']}' here gives other vectors "
                              "than the one the model was trained with; retrain it")
        self.embedder_ = meta["embedder"]
        self.coef_ = model["coef"] / model["scale"]  # standardizing folded into the weights
        self.offset_ = float(model["intercept"][0] - self.coef_ @ model["mean"])
        self.guard_ = None  # (weights, offset, slope): score += slope * min(0, guard), guard = weights . f + offset
        if "guard_coef" in model:
            g = model["guard_coef"] / model["scale"]
            self.guard_ = (g, float(-model["guard_threshold"][0] - g @ model["mean"]), float(model["guard_slope"][0]))
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        from sft_select.models.embed.embedders import embed_examples, get_embedder

        owner, prompts, answers = [], [], []
        for i, ex in enumerate(batch):
            if ex.text is None:
                for prompt, answer in turn_pairs(ex):
                    owner.append(i)
                    prompts.append(prompt)
                    answers.append(answer)
        owner = np.asarray(owner, dtype=np.int64)
        model = get_embedder(self.embedder_)
        content = np.empty((len(answers), model.dim), dtype=np.float32)
        texts = [joined(p, a) for p, a in zip(prompts, answers)]
        stored = [k for k, t in enumerate(texts) if t == batch[owner[k]].content]  # the run's vectors
        if stored:
            content[stored] = embed_examples([batch[owner[k]] for k in stored], self.embedder_)
        rest = sorted(set(range(len(texts))) - set(stored))
        if rest:
            content[rest] = model.encode([texts[k] for k in rest])
        vecs = model.encode(prompts) if prompts else np.zeros((0, model.dim), np.float32)
        feats = pair_features(prompts, answers, content, vecs)
        turn = np.einsum("ij,j->i", feats, self.coef_) + self.offset_
        if self.guard_ is not None:  # off topic, shuffled, repeated, cut: only ever lowers the score
            g, off, slope = self.guard_
            turn = turn + slope * np.minimum(0.0, np.einsum("ij,j->i", feats, g) + off)
        raw, reasons = np.full(len(batch), np.nan), [None] * len(batch)
        bounds = np.searchsorted(owner, np.arange(len(batch) + 1))  # owner is sorted: each example's turns
        for i in range(len(batch)):
            mine = np.arange(bounds[i], bounds[i + 1])
            if not len(mine):
                reasons[i] = "no prompt/response turns to score"
                continue
            worst = int(mine[np.argmin(turn[mine])])
            raw[i] = turn[worst]
            reasons[i] = (f"learned quality {raw[i]:+.2f}" if len(mine) == 1 else
                          f"learned quality {raw[i]:+.2f}, weakest of {len(mine)} turns: turn {worst - mine[0] + 1}")
        return ViewResult(raw, reasons)
