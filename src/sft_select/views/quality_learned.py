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

Features of a (prompt, answer) pair: the static embedding of prompt + answer (the vector the run already
computes for the example, so it is read from the embedding store, not recomputed), its product with the
prompt's embedding, their cosine and the cosine of the answer's estimated part with the prompt, and
`STATS`, cheap text statistics of the answer (shares and densities; lexical overlap with the prompt;
signs of shuffled, repeated or cut text).

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
MODEL_VERSION = "alpaca-lc-syn-2"  # of the shipped file; bump it (and retrain) when features or data change
SHIPPED = Path(__file__).with_name("data") / "quality_learned.npz"
HEAD = 4000  # characters of an answer the statistics read (as many as the embedder reads)
STATS = ("digits", "upper", "non_ascii", "punct", "newlines", "list_lines", "heading_lines",
         "code_fence", "bold", "url", "word_chars", "words_per_sentence", "questions", "repetition",
         "refusal", "truncated", "echo", "empty",
         # relevance and fluency (alpaca-lc-syn-2): what the synthetic negatives of the training teach
         "prompt_cover", "answer_in_prompt", "adjacent_repeat", "lower_after_stop", "stop_word_end",
         "mid_caps", "open_end")
SCALARS = 2 + len(STATS)  # [cos(content, prompt), cos(answer part, prompt)] + STATS, between the blocks
_STOP = frozenset("a an the of to and or in on at for with by as is are was be that this it from "
                  "how what do i you your my me can which".split())
_NO_PUNCT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})
_LOWER_AFTER_STOP = re.compile(r"[.!?] +[a-z]")
_STOP_WORD_END = re.compile(r"\b(?:the|a|an|of|to|and|or|in|on|for|with|by|is|that)[.!?](?:\s|$)", re.IGNORECASE)
_MID_CAPS = re.compile(r"[a-z,;] +[A-Z][a-z]")
_DIGITS = bytes(range(48, 58))
_UPPER = bytes(range(65, 91))
_PUNCT = bytes(b for b in range(128) if not chr(b).isalnum() and not chr(b).isspace())
_LETTERS = bytes(b for b in range(128) if chr(b).isalpha())
_LIST_LINE = re.compile(r"^[ \t]*(?:[-*\u2022]|\d{1,3}[.)])\s", re.MULTILINE)
_HEADING_LINE = re.compile(r"^[ \t]*#", re.MULTILINE)
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
        # relevance: content words shared with the prompt; fluency: what shuffled, repeated or cut text shows
        aw = head.lower().translate(_NO_PUNCT).split()
        pw = set(prompt[-HEAD:].lower().translate(_NO_PUNCT).split()) - _STOP
        pw = {w for w in pw if len(w) > 2}
        aset = {w for w in aw if len(w) > 2} - _STOP
        cover = len(pw & aset) / len(pw) if pw else 0.0
        in_prompt = len(aset & pw) / len(aset) if aset else 0.0
        rep = sum(map(str.__eq__, aw, aw[1:])) / max(len(aw) - 1, 1)
        tail = answers[i].rstrip()[-300:]
        last = tail.rsplit("\n", 1)[-1].strip()
        open_end = float(bool(last) and (last[-1] in ",;-(" or (
            last[-1] not in _TERMINAL and len(last.split()) > 3
            and not last.startswith(("-", "*", "#", "|", ">", "\u2022")) and not last[:1].isdigit())))
        extra = (cover, in_prompt, rep, len(_LOWER_AFTER_STOP.findall(head)) / sentences,
                 len(_STOP_WORD_END.findall(head)) / sentences, min(len(_MID_CAPS.findall(head)) / nw, 1.0), open_end)
        out[i, len(STATS) - len(extra):] = extra
        out[i, :len(STATS) - len(extra)] = (_share(data, _DIGITS), _share(data, _UPPER),
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
        self.guard_ = None  # (weights, offset, slope): score += slope * min(0, guard), guard = weights . f + offset
        if "guard_coef" in model:
            g = model["guard_coef"] / model["scale"]
            self.guard_ = (g, float(-model["guard_threshold"][0] - g @ model["mean"]), float(model["guard_slope"][0]))
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
