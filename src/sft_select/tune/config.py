"""The `tune` config section: how the closed loop searches view weights and the threshold τ."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="`run --validation FILE` tunes first; false (or --no-tune) skips it")
    rounds: int = Field(2, ge=1, le=10, description="alternations of weight search and τ sweep")
    trials: int = Field(12, ge=0, le=1000, description="weight candidates per round, besides the single views "
                        "and the equal mix tried in round one")
    search: Literal["dirichlet", "optuna"] = Field(
        "dirichlet", description="dirichlet: seeded random search on the simplex, narrowing around the best "
        "each round; optuna: TPE sampler (seeded)")
    concentration: float = Field(1.0, gt=0, description="Dirichlet α of round one (1 = uniform on the simplex)")
    sweep: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0],
                               description="τ sweep points as shares of N: τ is set where S_τ has that size")
    holdout: float = Field(0.3, ge=0, lt=1, description="share of the validation file kept out of tuning, "
                           "used only to report f on data the search never saw")
    choose: Literal["best", "one_se"] = Field(
        "one_se", description="best: the highest f on the tune part; one_se: among the points within one standard "
        "error of the best f (binomial, accuracy-like metrics only), the largest S, then the weights closest to "
        "the equal mix: a guard against picking noise when the tune part is small")
    trims: list[float] = Field(default_factory=list, description="select.strategy coverage: coverage.trim values "
                               "tried at the tuned weights and τ (e.g. [0, 0.15, 0.3]); how much of each class "
                               "to leave out depends on how noisy the labels are, which only the validation "
                               "file can tell. Empty: the configured coverage.trim stays")
    cover_mixes: list[float] = Field(default_factory=list, description="select.strategy coverage: coverage.mix "
                                     "values tried with the trims (grid), e.g. [0, 0.1, 0.3, 1]; 1 is the "
                                     "score order within each class after the flagged rows are dropped (the "
                                     "quota order). Empty: the configured coverage.mix stays")
    group_orders: list[str | None] = Field(
        default_factory=list, description="select.strategy coverage: coverage.order values tried with the trims "
        "(null = facility location), e.g. [null, difficulty_margin]. Empty: the configured coverage.order stays")
    strategies: list[str] = Field(default_factory=list, description="selection strategies tried last, at the "
                                  "tuned weights and τ, against select.strategy (e.g. [coverage, active] for "
                                  "labelled data); the one with the best f on the tune part is written to the "
                                  "tuned config. Empty: the configured strategy stays")
    # active's settings (tune/params.py, one search for every strategy's settings): every combination of the
    # listed values (a field not listed keeps select's value) is tried when active is select.strategy or among
    # `strategies`. Empty by default: each combination costs one active selection and one proxy fit.
    active_seeds: list[float] = Field(default_factory=list, description="select.strategy active: active.seed "
                                      "values tried (share of N drawn first at random), e.g. [0.1, 0.2]")
    active_batches: list[float] = Field(default_factory=list, description="select.strategy active: active.batch "
                                        "values tried (share of the candidates added per refit), e.g. [0.01, 0.03]")
    active_skips: list[float] = Field(default_factory=list, description="select.strategy active: active.skip "
                                      "values tried (0: never skip a doubted label; 1: keep only rows whose label "
                                      "is the classifier's top class), e.g. [0, 0.5, 1]")
    active_Cs: list[float] = Field(default_factory=list, description="select.strategy active: active.C values "
                                   "tried (the ordering classifier's inverse regularization), e.g. [0.3, 1, 3]")
    active_scores: list[Literal["margin", "label"]] = Field(
        default_factory=list, description="select.strategy active: active.score values tried, e.g. [margin, label]")
    random_seeds: int = Field(3, ge=1, le=20, description="random subsets of the same size, for the baseline")
    min_rows_weights: int = Field(500, ge=0, description="validation rows (the tune part) below which the weights "
                                  "are not searched, only τ and the strategy's settings: each weight is a free "
                                  "parameter a small validation file cannot pay for")
    guard: bool = Field(True, description="compare the tuned S, the configured S and a stratified random sample "
                        "with random subsets of the same size on the holdout (paired bootstrap); write the first "
                        "that beats random, else the stratified sample (tune/guard.py). Needs holdout > 0")

    @field_validator("sweep")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < x <= 1 for x in v):
            raise ValueError("sweep: give shares of N in (0, 1]")
        return sorted(set(v))

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        # The names are checked against the registry by the whole Config (config/schema.py): this section,
        # a schema leaf, does not import the strategies.
        return list(dict.fromkeys(v))

    @field_validator("trims")
    @classmethod
    def _trims(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x < 1 for x in v):
            raise ValueError("trims: give shares in [0, 1)")
        return sorted(set(v))

    @field_validator("cover_mixes", "active_skips")
    @classmethod
    def _unit_values(cls, v: list[float], info) -> list[float]:
        if any(not 0 <= x <= 1 for x in v):
            raise ValueError(f"{info.field_name}: give values in [0, 1]")
        return sorted(set(v))

    @field_validator("active_seeds", "active_batches")
    @classmethod
    def _active_shares(cls, v: list[float], info) -> list[float]:
        if any(not 0 < x <= 1 for x in v):
            raise ValueError(f"{info.field_name}: give shares in (0, 1]")
        return sorted(set(v))

    @field_validator("active_Cs")
    @classmethod
    def _active_Cs(cls, v: list[float]) -> list[float]:
        if any(not x > 0 for x in v):
            raise ValueError("active_Cs: give values > 0")
        return sorted(set(v))

    @field_validator("active_scores")
    @classmethod
    def _active_scores(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    def active_grid(self) -> dict[str, list]:
        """active's lists keyed by the select setting each one sets (empty lists left out)."""
        return self.grid_for("active")

    def grid_for(self, strategy: str) -> dict[str, list]:
        """The values to try for each setting of `strategy` (its sub-section in select) that has a list here,
        keyed by the setting's dotted path; settings with no values listed are left out (they keep select's
        value). The lists cover exactly what each strategy declares tunable (selection.strategies.TUNABLE; a
        test keeps the two equal)."""
        return {path: list(getattr(self, name)) for path, name in GRID_LISTS.items()
                if path.startswith(strategy + ".") and getattr(self, name)}

    def grids(self, strategies) -> dict[str, dict[str, list]]:
        """`grid_for` of each strategy that has a grid."""
        return {s: g for s in dict.fromkeys(strategies) if (g := self.grid_for(s))}


# The tune list holding the values tried for each tunable select setting (its dotted path in `select`).
GRID_LISTS = {"coverage.trim": "trims", "coverage.mix": "cover_mixes", "coverage.order": "group_orders",
              "active.seed": "active_seeds", "active.batch": "active_batches", "active.skip": "active_skips",
              "active.C": "active_Cs", "active.score": "active_scores"}


ACTIVE_GRID_KEYS = {"seed": "active_seeds", "batch": "active_batches", "skip": "active_skips", "C": "active_Cs",
                    "score": "active_scores"}


def parse_active_grid(text: str) -> dict[str, list]:
    """`sft-select tune --active-grid "skip=0,0.5,1;C=0.3,1,3"` -> {"active_skips": [0, 0.5, 1], ...} (the tune
    fields above; keys seed, batch, skip, C, score, or the old select names active_seed, ...). Values are checked by
    TuneConfig when the overrides are merged."""
    from sft_select.core.errors import ConfigError

    out: dict[str, list] = {}
    for part in (p.strip() for p in text.replace(";", " ").split()):
        key, eq, values = part.partition("=")
        key = key.strip().removeprefix("active_")
        if not eq or key not in ACTIVE_GRID_KEYS or not values.strip(","):
            raise ConfigError(f"--active-grid: '{part}' is not KEY=V1,V2 with KEY one of "
                              f"{', '.join(ACTIVE_GRID_KEYS)}")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if key != "score":
            try:
                items = [float(v) for v in items]
            except ValueError:
                raise ConfigError(f"--active-grid: {key} takes numbers, got '{values}'") from None
        out[ACTIVE_GRID_KEYS[key]] = items
    return out
