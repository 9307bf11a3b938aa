"""quality_learned: a response-quality scorer trained on public judgments, shipped inside the package.

The shipped model (`views/data/quality_learned.npz`, rebuilt by `training/train_quality_learned.py`) was
fitted on AlpacaEval's per-answer judgments: an LLM judge's preference of an answer over a reference
answer to the same instruction. That judge prefers longer answers, and on other pools longer is not
better, so the fit is length-controlled: P(answer beats reference) = sigmoid(s(answer) - s(reference) +
g(length of answer) - g(length of reference) + annotator terms), and the score is s alone. g (a
piecewise-linear function of log length per judge) soaks up what the judge pays for length; s reads no
length (the features below are shares and densities, never counts) and is then decorrelated from the
log length it could still infer from the embedding. Held-out figures: bench/quality_learned_eval.py.

Features of a (prompt, answer) pair: the static embedding of prompt + answer (the vector the run already
computes for the example, so it is read from the embedding store, not recomputed), its product with the
prompt's embedding and their cosine, and `STATS`, cheap text statistics of the answer.

Multi-turn: each assistant turn is scored with the turns since the previous assistant turn as its prompt,
and the example scores its weakest turn (the minimum): every assistant turn is trained on, so one bad turn
makes a bad example, and a mean would let good turns hide it. (The cost: a long conversation has more
chances to hold a weak turn than a short one.)
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from sft_select import signals, token_stats
from sft_select.errors import ConfigError
from sft_select.record import Example
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import register

FORMAT = "sft-select-quality-learned"
MODEL_VERSION = "alpaca-lc-1"  # of the shipped file; bump it (and retrain) when features or data change
SHIPPED = Path(__file__).with_name("data") / "quality_learned.npz"
HEAD = 4000  # characters of an answer the statistics read (as many as the embedder reads)
STATS = ("digits", "upper", "non_ascii", "punct", "newlines", "list_lines", "heading_lines",
         "code_fence", "bold", "url", "word_chars", "words_per_sentence", "questions", "repetition",
         "refusal", "truncated", "echo", "empty")
_DIGITS = bytes(range(48, 58))
_UPPER = bytes(range(65, 91))
_PUNCT = bytes(b for b in range(128) if not chr(b).isalnum() and not chr(b).isspace())
_LETTERS = bytes(b for b in range(128) if chr(b).isalpha())
_LIST_LINE = re.compile(r"^[ \t]*(?:[-*\u2022]|\d{1,3}[.)])\s", re.MULTILINE)
_HEADING_LINE = re.compile(r"^[ \t]*#", re.MULTILINE)


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


def text_stats(prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
    """(n, len(STATS)): shares and densities of each answer, none of which grows with its length."""
    heads = [a[:HEAD] for a in answers]
    out = np.zeros((len(heads), len(STATS)))
    dup = np.zeros(len(heads))
    rows = token_stats.ascii_rows(heads)
    if len(rows):
        dup[rows] = token_stats.duplicate_ngram_ratios([heads[i] for i in rows])[1]
    refused = signals.refusals(heads)
    for i, (head, prompt) in enumerate(zip(heads, prompts)):
        data = head.encode("utf-8", "surrogatepass")
        n = max(len(data), 1)
        words = head.split()
        nw = max(len(words), 1)
        nl = max(head.count("\n") + 1 - head.count("\n\n"), 1)  # lines, blank ones left out (roughly)
        sentences = head.count(". ") + head.count("? ") + head.count("! ") + head.count("\n") + 1
        if not head.isascii():
            dup[i] = signals.duplicate_ngram_ratio(signals.word_tokens(head))
        out[i] = (_share(data, _DIGITS), _share(data, _UPPER),
                  (len(data) - len(head)) / n, _share(data, _PUNCT),  # bytes beyond one a character
                  head.count("\n") / n * 100,
                  min(len(_LIST_LINE.findall(head)) / nl, 1.0), min(len(_HEADING_LINE.findall(head)) / nl, 1.0),
                  float("```" in head), min(head.count("**") / nw, 1.0), float("http" in head),
                  min((n - len(data.translate(None, _LETTERS))) / nw, 20.0),
                  math.log1p(nw / sentences), head.count("?") / sentences, dup[i], float(refused[i]),
                  float(signals.truncation(answers[i]) is not None),
                  float(bool(head.strip()) and head.strip() == prompt.strip()), float(not head.strip()))
    return out


def pair_features(prompts: Sequence[str], answers: Sequence[str], content_vecs: np.ndarray,
                  prompt_vecs: np.ndarray) -> np.ndarray:
    """The model's input: [content embedding, content * prompt embedding, their cosine, STATS, prompt
    embedding]. The last block cancels in the fit (an answer and its reference share the prompt); it is
    there so the score can subtract what the prompt alone predicts of it (training: `residualize`)."""
    c = np.asarray(content_vecs, dtype=np.float64)
    p = np.asarray(prompt_vecs, dtype=np.float64)
    cos = np.einsum("ij,ij->i", c, p)[:, None]  # einsum: the same bits in any batch
    return np.hstack([c, c * p, cos, text_stats(prompts, answers), p])


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
    if any(arrays[k].shape != (dim,) for k in ("mean", "scale")):
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

    def fit(self, pool: Sequence[Example], target: Sequence[Example] | None = None) -> "QualityLearned":
        from sft_select.embed import get_embedder

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
        return self

    def score_batch(self, batch: Sequence[Example]) -> ViewResult:
        from sft_select.embed import embed_examples, get_embedder

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
        turn = np.einsum("ij,j->i", pair_features(prompts, answers, content, vecs), self.coef_) + self.offset_
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
