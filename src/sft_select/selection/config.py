"""The `select` config section: how much to keep, and by which strategy.

Size limits (`n`, `fraction`, `threshold`, `budget_tokens`) apply to every strategy; the strategy decides
the order in which candidates are offered and which ones it refuses (too similar, quota full).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SelectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    strategy: Literal["auto", "top", "random", "quota", "greedy", "facility", "coverage", "active",
                      "stratified"] = Field(
        "auto", description="auto: top with a target, stratified for labelled data, coverage by "
        "diversity cluster otherwise (selection/auto.py); top: highest combined score first; random: seeded uniform sample (a baseline); "
        "quota: per-group shares (quota_by); greedy: score order, skipping near-duplicates of taken ones "
        "(tau_div); facility: facility-location coverage over embeddings, mixed with the score (fl_mix); "
        "coverage: per-group quotas after dropping flagged label errors and each group's lowest scores "
        "(group_trim), facility location within each group; active: margin sampling with the labels known "
        "(labelled data only): a classifier fit on S picks the rows nearest its decision boundary, batch by "
        "batch, skipping flagged rows and rows whose label it finds unlikely (active_*); stratified: a seeded random "
        "sample stratified by class and diversity cluster, flagged rows left out (the guard's fallback)")
    n: int | None = Field(None, ge=1, description="keep at most N examples")
    fraction: float | None = Field(None, gt=0, le=1, description="keep this share of the scored pool")
    threshold: float | None = Field(None, ge=0, le=1, description="keep examples with combined score >= τ")
    budget_tokens: int | None = Field(
        None, ge=1, description="keep at most this many tokens of prompt+response (counted with `tokenizer`)")
    tokenizer: str = Field(
        "smollm2", description="token counter for budget_tokens: smollm2 (the proxy LM's tokenizer), regex "
        "(words and punctuation, no model), or a transformers tokenizer path")

    quota_by: Literal["label", "cluster"] = Field(
        "label", description="quota groups: the class label, or the diversity view's `diversity_cluster`")
    quota: Literal["proportional", "equal"] = Field(
        "proportional", description="quota, coverage, active: proportional keeps the pool's group shares; "
        "equal balances the groups")
    min_per_group: int = Field(0, ge=0, description="quota: every group gets at least this many (or all it has)")

    tau_div: float = Field(0.9, ge=-1, le=1, description="greedy: skip an example whose cosine similarity to "
                           "one already taken exceeds this")
    greedy_scope: Literal["global", "cluster"] = Field(
        "global", description="greedy: global compares each candidate with everything taken so far; cluster "
        "runs the greedy within each diversity cluster (`diversity_cluster`) and merges by score, so the "
        "Ray engine can run the clusters in parallel")
    fl_mix: float = Field(0.5, ge=0, le=1, description="facility: 0 = pure coverage, 1 = pure combined score")
    cover_mix: float = Field(0.0, ge=0, le=1, description="coverage: like fl_mix, within each group (0: the "
                             "score only decides what group_trim leaves out; on 20news-noisy 0.2 already "
                             "traded coverage for easy examples and lost accuracy)")
    group_order: str | None = Field(
        None, description="coverage: offer each group's kept rows (after the flagged rows and group_trim) by this "
        "view's normalized score, highest first, instead of covering the group by facility location; e.g. "
        "difficulty_margin: hardest first among the rows whose label the trim trusts, as data-pruning work "
        "keeps hard examples when the budget is not tiny. The view must be among the views in use")
    drop_flagged: bool = Field(True, description="top, stratified, coverage, active: leave out rows a view flagged as a likely "
                               "error (`<view>_issue`, e.g. quality_label's cleanlab flag)")
    group_trim: float = Field(0.3, ge=0, lt=1, description="coverage: within each group, leave out this share "
                              "of the lowest combined scores (after flagged rows) before covering it")
    # active (selection/active.py). Defaults fixed on the case study's validation splits (docs/benchmarks.md,
    # "Selection case study", run 5): the variants differed by less than the split's standard error.
    active_seed: float = Field(0.2, gt=0, le=1, description="active: share of N drawn first as a seeded random "
                               "sample (per group, as the quotas), so the first classifier has every class")
    active_batch: float = Field(0.03, gt=0, le=1, description="active: share of the candidates added per "
                                "refit (0.03: about 6 refits for a 20% selection)")
    active_score: Literal["margin", "label"] = Field(
        "margin", description="active: which rows the classifier fit on S asks for first: margin = smallest "
        "gap between its two most probable classes (uncertainty sampling); label = lowest probability of "
        "the given label (up to 4 points below margin on 8 of the case study's 9 validation figures)")
    active_skip: float = Field(0.5, ge=0, le=1, description="active: skip a row while the classifier gives its "
                               "label less than this times its top class's probability (a likely flipped "
                               "label; 0: never skip, 1: only rows whose given label is already its top class)")
    active_C: float = Field(1.0, gt=0, description="active: inverse regularization of the logistic regression "
                            "on the embeddings")
    knn: int = Field(20, ge=1, le=1000, description="facility: neighbours per example in the sparse similarity "
                     "graph (memory grows as pool size × knn)")

    @model_validator(mode="after")
    def _one_size(self) -> "SelectConfig":
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either n or fraction, not both")
        return self

    def has_size(self) -> bool:
        return any(v is not None for v in (self.n, self.fraction, self.threshold, self.budget_tokens))
