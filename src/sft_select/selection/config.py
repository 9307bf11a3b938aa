"""The `select` config section: how much to keep, and by which strategy, with each strategy's own settings.

Size limits (`n`, `fraction`, `threshold`, `budget_tokens`) apply to every strategy; the strategy decides
the order in which candidates are offered and which ones it refuses (too similar, quota full). Settings that
several strategies read (the quota groups, the flagged rows, the similarity graph) sit in the section itself;
a setting only one strategy reads sits in that strategy's sub-section (`select.greedy.tau_div`).

Every strategy's sub-section is present, not only the chosen one's: the tune loop tries other strategies in
the same run (`tune.strategies`), each at its own configured settings.

The flat keys of earlier versions (`tau_div`, `group_trim`, `active_skip`, ...) still load: they are moved
into their sub-section, with a one-line note.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sft_select.core.progress import info


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GreedySettings(_Section):
    tau_div: float = Field(0.9, ge=-1, le=1, description="skip an example whose cosine similarity to one already "
                           "taken exceeds this")
    scope: Literal["global", "cluster"] = Field(
        "global", description="global compares each candidate with everything taken so far; cluster runs the "
        "greedy within each diversity cluster (`diversity_cluster`) and merges by score, so the Ray engine can "
        "run the clusters in parallel")


class FacilitySettings(_Section):
    mix: float = Field(0.5, ge=0, le=1, description="0 = pure coverage, 1 = pure combined score")


class CoverageSettings(_Section):
    trim: float = Field(0.3, ge=0, lt=1, description="within each group, leave out this share of the lowest "
                        "combined scores (after flagged rows) before covering it")
    mix: float = Field(0.0, ge=0, le=1, description="like facility.mix, within each group (0: the score only "
                       "decides what trim leaves out; on 20news-noisy 0.2 already traded coverage for easy "
                       "examples and lost accuracy)")
    order: str | None = Field(
        None, description="offer each group's kept rows (after the flagged rows and trim) by this view's "
        "normalized score, highest first, instead of covering the group by facility location; e.g. "
        "difficulty_margin: hardest first among the rows whose label the trim trusts, as data-pruning work "
        "keeps hard examples when the budget is not tiny. The view must be among the views in use")


class ActiveSettings(_Section):
    # Defaults fixed on the case study's validation splits (docs/benchmarks.md, "Selection case study", run 5):
    # the variants differed by less than the split's standard error.
    seed: float = Field(0.2, gt=0, le=1, description="share of N drawn first as a seeded random sample (per "
                        "group, as the quotas), so the first classifier has every class")
    batch: float = Field(0.03, gt=0, le=1, description="share of the candidates added per refit (0.03: about 6 "
                         "refits for a 20% selection)")
    score: Literal["margin", "label"] = Field(
        "margin", description="which rows the classifier fit on S asks for first: margin = smallest gap between "
        "its two most probable classes (uncertainty sampling); label = lowest probability of the given label "
        "(up to 4 points below margin on 8 of the case study's 9 validation figures)")
    skip: float = Field(0.5, ge=0, le=1, description="skip a row while the classifier gives its label less than "
                        "this times its top class's probability (a likely flipped label; 0: never skip, 1: only "
                        "rows whose given label is already its top class)")
    C: float = Field(1.0, gt=0, description="inverse regularization of the logistic regression on the embeddings")


# Flat keys of earlier versions -> (sub-section, field).
LEGACY_KEYS: dict[str, tuple[str, str]] = {
    "tau_div": ("greedy", "tau_div"), "greedy_scope": ("greedy", "scope"), "fl_mix": ("facility", "mix"),
    "group_trim": ("coverage", "trim"), "cover_mix": ("coverage", "mix"), "group_order": ("coverage", "order"),
    "active_seed": ("active", "seed"), "active_batch": ("active", "batch"), "active_score": ("active", "score"),
    "active_skip": ("active", "skip"), "active_C": ("active", "C"),
}
_noted: set[str] = set()


class SelectConfig(_Section):
    # A name of selection/strategies.py's REGISTRY, or auto: checked there (by Config, which sits above the
    # registry), so adding a strategy is its module and one registry line.
    strategy: str = Field(
        "auto", description="auto: top with a target, stratified for labelled data, coverage by diversity cluster "
        "otherwise (selection/auto.py); top: highest combined score first; random: seeded uniform sample (a "
        "baseline); quota: per-group shares (quota_by); greedy: score order, skipping near-duplicates of taken "
        "ones (greedy.tau_div); facility: facility-location coverage over embeddings, mixed with the score "
        "(facility.mix); coverage: per-group quotas after dropping flagged label errors and each group's lowest "
        "scores (coverage.trim), facility location within each group; active: margin sampling with the labels "
        "known (labelled data only): a classifier fit on S picks the rows nearest its decision boundary, batch "
        "by batch, skipping flagged rows and rows whose label it finds unlikely (active.*); stratified: a seeded "
        "random sample stratified by class and diversity cluster, flagged rows left out (the guard's fallback)")
    n: int | None = Field(None, ge=1, description="keep at most N examples")
    fraction: float | None = Field(None, gt=0, le=1, description="keep this share of the scored pool")
    threshold: float | None = Field(None, ge=0, le=1, description="keep examples with combined score >= τ")
    budget_tokens: int | None = Field(
        None, ge=1, description="keep at most this many tokens of prompt+response (counted with `tokenizer`)")
    tokenizer: str = Field(
        "smollm2", description="token counter for budget_tokens: smollm2 (the proxy LM's tokenizer), regex "
        "(words and punctuation, no model), or a transformers tokenizer path")

    quota_by: Literal["label", "cluster"] = Field(
        "label", description="quota, coverage, active: the groups, by class label or by the diversity view's "
        "`diversity_cluster`")
    quota: Literal["proportional", "equal"] = Field(
        "proportional", description="quota, coverage, active: proportional keeps the pool's group shares; "
        "equal balances the groups")
    min_per_group: int = Field(0, ge=0, description="quota: every group gets at least this many (or all it has)")
    drop_flagged: bool = Field(True, description="top, stratified, coverage, active: leave out rows a view flagged "
                               "as a likely error (`<view>_issue`, e.g. quality_label's cleanlab flag)")
    knn: int = Field(20, ge=1, le=1000, description="facility, coverage: neighbours per example in the sparse "
                     "similarity graph (memory grows as pool size × knn)")

    greedy: GreedySettings = Field(default_factory=GreedySettings, description="greedy's settings")
    facility: FacilitySettings = Field(default_factory=FacilitySettings, description="facility's settings")
    coverage: CoverageSettings = Field(default_factory=CoverageSettings, description="coverage's settings")
    active: ActiveSettings = Field(default_factory=ActiveSettings, description="active's settings")

    @model_validator(mode="before")
    @classmethod
    def _into_sections(cls, data: Any) -> Any:
        """Move a flat key of earlier versions, or a dotted path (`coverage.trim`: how tune names the settings it
        writes), into its sub-section; the sub-section's other keys stay."""
        if not isinstance(data, dict) or not any(k in LEGACY_KEYS or "." in k for k in data):
            return data
        data = dict(data)
        for key in [k for k in data if k in LEGACY_KEYS or "." in k]:
            section, _, field = key.partition(".") if "." in key else (LEGACY_KEYS[key][0], "", LEGACY_KEYS[key][1])
            sub = data.get(section)
            sub = sub.model_dump(exclude_unset=True) if isinstance(sub, BaseModel) else dict(sub or {})
            sub[field] = data.pop(key)
            data[section] = sub
            if key in LEGACY_KEYS and key not in _noted:
                _noted.add(key)
                info(f"config: select.{key} is deprecated; write select.{section}.{field}")
        return data

    @model_validator(mode="after")
    def _one_size(self) -> "SelectConfig":
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either n or fraction, not both")
        return self

    def has_size(self) -> bool:
        return any(v is not None for v in (self.n, self.fraction, self.threshold, self.budget_tokens))

    def setting(self, path: str) -> Any:
        """A value by its dotted path (`coverage.trim`, `quota_by`): how tune names the settings it searches."""
        section, _, field = path.rpartition(".")
        return getattr(getattr(self, section) if section else self, field)

    def with_settings(self, settings: dict[str, Any]) -> "SelectConfig":
        """A copy with the values of `settings` (dotted paths) set; the other values stay, and are still given
        (`model_fields_set`) only where they were."""
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for path, value in settings.items():
            section, _, field = path.rpartition(".")
            if section:
                nested.setdefault(section, {})[field] = value
            else:
                top[path] = value
        for section, values in nested.items():
            top[section] = getattr(self, section).model_copy(update=values)
        return self.model_copy(update=top)
