"""The `preprocess` config section: one sub-section per step, every bound a named field.

Defaults are chosen not to drop good data: heuristic filters cut only what is clearly broken (empty,
echoed, boilerplate refusals, cut off mid-sentence, degenerate repetition, symbol soup), and exact and
near dedup are on. Semantic dedup and the language filter are off: they change what users expect.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FilterConfig(_Section):
    """Heuristic filters. For labelled text (`text_label`), the response bounds apply to the text and the
    prompt, echo, refusal and truncation filters do not run. "Words" are tokens as `signals.tokens`
    counts them: runs of letters and digits, and each CJK character."""

    enabled: bool = Field(True, description="false: no heuristic filter runs")
    min_prompt_chars: int = Field(1, ge=0, description="prompt shorter than this (stripped) is dropped")
    max_prompt_chars: int = Field(400_000, ge=1, description="about 100k tokens: long-context prompts pass")
    min_prompt_words: int = Field(0, ge=0, description="prompt with fewer words is dropped")
    max_prompt_words: int = Field(100_000, ge=1, description="prompt with more words is dropped")
    min_response_chars: int = Field(1, ge=0, description="'Paris.' and '4' are answers: only empty is cut")
    max_response_chars: int = Field(100_000, ge=1, description="response longer than this is dropped")
    min_response_words: int = Field(1, ge=0, description="a response with no word or number at all is cut")
    max_response_words: int = Field(25_000, ge=1, description="response with more words is dropped")
    echo: bool = Field(True, description="drop a response that only repeats the prompt")
    refusal: bool = Field(True, description="drop boilerplate refusals ('As an AI language model…')")
    truncated: bool = Field(True, description="drop responses cut off mid-sentence or inside a code block")
    repetition_min_words: int = Field(50, ge=1, description="repetition filters only judge longer texts")
    # Repetition bounds are far looser than Gopher's web-text ones: SFT answers are often templated lists
    # ("X is a type of bread." x 7) that Gopher's bounds drop. Calibrated on dolly, GPTeacher and
    # text-davinci-001/2/3 answers (about 1 in 1,000 flagged, each a real loop) against base davinci's
    # (most flagged): see docs/benchmarks.md.
    max_duplicate_line_chars: float = Field(
        0.7, ge=0, le=1, description="share of characters in lines that repeat an earlier line (Gopher: 0.2)")
    max_top_ngram_chars: dict[int, float] = Field(
        default_factory=lambda: {2: 0.7, 3: 0.7, 4: 0.7},
        description="n -> max share of characters covered by the most frequent word n-gram (Gopher: .2/.18/.16)")
    max_duplicate_ngram_chars: dict[int, float] = Field(
        default_factory=lambda: {10: 0.85},
        description="n -> max share of characters in word n-grams that repeat (Gopher: 5: .15 ... 10: .10)")
    min_text_ratio: float = Field(
        0.2, ge=0, le=1, description="min share of letters, digits and whitespace (symbol soup, binary junk)")
    text_ratio_min_chars: int = Field(20, ge=1, description="the text-ratio filter only judges longer texts")
    lang: list[str] | None = Field(
        None, description="ISO 639-1 codes to keep (e.g. [en]); unset: no language filter (lingua, offline)")
    lang_min_confidence: float = Field(
        0.5, ge=0, le=1, description="drop when the kept languages' summed confidence is below this")
    lang_min_letters: int = Field(40, ge=1, description="texts with fewer letters of running text (stretches of "
                                  "4+ words; code stripped) are kept, not judged")

    @model_validator(mode="after")
    def _ngram_keys(self) -> "FilterConfig":
        for name in ("max_top_ngram_chars", "max_duplicate_ngram_chars"):
            for n, v in getattr(self, name).items():
                if not 1 <= n <= 20 or not 0 <= v <= 1:
                    raise ValueError(f"{name}: n must be 1..20 and the share 0..1, got {n}: {v}")
        return self


class NearConfig(_Section):
    """MinHash-LSH near-duplicate dedup (rensa), every candidate verified by exact Jaccard."""

    enabled: bool = Field(True, description="false: near duplicates stay")
    field: Literal["content", "prompt", "response"] = Field(
        "content", description="what is compared: prompt+response, or one of them")
    # SFT examples are short: with 5-grams, two edited words in a 40-word example already pull Jaccard
    # under 0.6; with 3-grams it stays near 0.75. 0.7 is also Self-Instruct's duplicate bar (ROUGE-L).
    ngram: int = Field(3, ge=1, le=50, description="word n-gram size of the shingles")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations")
    threshold: float = Field(0.7, gt=0, lt=1, description="exact Jaccard at or above which two examples link")
    bands: int | None = Field(None, ge=1, description="LSH bands (must divide num_perm); unset: chosen for recall")
    seed: int = Field(0, description="MinHash seed")

    @model_validator(mode="after")
    def _bands_divide(self) -> "NearConfig":
        if self.bands is not None and self.num_perm % self.bands:
            raise ValueError(f"bands ({self.bands}) must divide num_perm ({self.num_perm})")
        return self


class SemanticConfig(_Section):
    """SemDeDup-style: cosine similarity of embeddings, searched within k-means clusters (faiss)."""

    enabled: bool = Field(False, description="true: link examples whose embeddings are nearly the same")
    field: Literal["content", "prompt", "response"] = Field(
        "content", description="what is embedded: prompt+response, or one of them")
    threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity at or above which two link")
    clusters: int | None = Field(None, ge=1, description="k-means clusters; unset: about sqrt(n)")
    model: str | None = Field(None, description="embedder spec; unset: the run's embedding.model")
    seed: int = Field(0, description="k-means seed")


class DecontamConfig(_Section):
    """Drop pool examples that share a long word n-gram with a benchmark / evaluation file."""

    files: list[Path] = Field(default_factory=list, description="eval files (jsonl, json, csv, parquet, txt)")
    ngram: int = Field(13, ge=3, le=100, description="n-gram size (13 as in GPT-3's decontamination)")
    min_words: int = Field(8, ge=1, description="an eval item shorter than `ngram` words but at least this long "
                                               "is matched as a whole; shorter ones cannot be checked")


class PreprocessConfig(_Section):
    filters: FilterConfig = Field(default_factory=FilterConfig, description="heuristic filters")
    decontaminate: DecontamConfig = Field(default_factory=DecontamConfig, description="benchmark decontamination")
    exact_dedup: bool = Field(True, description="link repeats of the same normalized example")
    near: NearConfig = Field(default_factory=NearConfig, description="near-duplicate dedup (MinHash-LSH)")
    semantic: SemanticConfig = Field(default_factory=SemanticConfig, description="semantic dedup (embeddings)")
    keep: str = Field("best", pattern="^(best|first)$",
                      description="which member of a duplicate cluster stays: best combined score, or first")
