"""The `tune` config section: how the closed loop searches view weights, the threshold τ, the strategy, and
each strategy's settings.

The values tried for a strategy's settings sit in `tune.grid.<strategy>`, mirroring `select.<strategy>`:
`tune.grid.coverage.trim` lists the values tried for `select.coverage.trim`. The flat lists of earlier
versions (`trims`, `cover_mixes`, `active_skips`, ...) still load into the grid, with a one-line note.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sft_select.core.progress import info


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _in(v: list[float], name: str, low: float, high: float, *, low_open: bool = False,
        high_open: bool = False) -> list[float]:
    """The values, each checked against the bounds, sorted and deduplicated."""
    for x in v:
        if (x <= low if low_open else x < low) or (x >= high if high_open else x > high):
            raise ValueError(f"{name}: give values in {'(' if low_open else '['}{low}, {high}"
                             f"{')' if high_open else ']'}")
    return sorted(set(v))


class CoverageGrid(_Section):
    """select.strategy coverage: the values of its settings tried at the tuned weights and τ (every
    combination; empty: the configured value stays)."""

    trim: list[float] = Field(default_factory=list, description="coverage.trim values, e.g. [0, 0.15, 0.3]; how "
                              "much of each class to leave out depends on how noisy the labels are, which only "
                              "the validation file can tell")
    mix: list[float] = Field(default_factory=list, description="coverage.mix values, e.g. [0, 0.1, 0.3, 1]; 1 is "
                             "the score order within each class after the flagged rows are dropped (the quota "
                             "order)")
    order: list[str | None] = Field(default_factory=list, description="coverage.order values (null = facility "
                                    "location), e.g. [null, difficulty_margin]")

    @field_validator("trim")
    @classmethod
    def _trim(cls, v: list[float]) -> list[float]:
        return _in(v, "trim", 0, 1, high_open=True)

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: list[float]) -> list[float]:
        return _in(v, "mix", 0, 1)


class ActiveGrid(_Section):
    """select.strategy active: the values of its settings tried at the tuned weights and τ, when active is
    select.strategy or among `strategies` (every combination; empty: the configured value stays). Empty by
    default: each combination costs one active selection and one proxy fit."""

    seed: list[float] = Field(default_factory=list, description="active.seed values (share of N drawn first at "
                              "random), e.g. [0.1, 0.2]")
    batch: list[float] = Field(default_factory=list, description="active.batch values (share of the candidates "
                               "added per refit), e.g. [0.01, 0.03]")
    skip: list[float] = Field(default_factory=list, description="active.skip values (0: never skip a doubted "
                              "label; 1: keep only rows whose label is the classifier's top class), e.g. [0, 0.5, 1]")
    C: list[float] = Field(default_factory=list, description="active.C values (the ordering classifier's inverse "
                           "regularization), e.g. [0.3, 1, 3]")
    score: list[Literal["margin", "label"]] = Field(default_factory=list, description="active.score values, e.g. "
                                                    "[margin, label]")

    @field_validator("seed", "batch")
    @classmethod
    def _shares(cls, v: list[float], info) -> list[float]:
        return _in(v, info.field_name, 0, 1, low_open=True)

    @field_validator("skip")
    @classmethod
    def _skip(cls, v: list[float]) -> list[float]:
        return _in(v, "skip", 0, 1)

    @field_validator("C")
    @classmethod
    def _C(cls, v: list[float]) -> list[float]:
        if any(not x > 0 for x in v):
            raise ValueError("C: give values > 0")
        return sorted(set(v))

    @field_validator("score")
    @classmethod
    def _score(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class GridConfig(_Section):
    """Per strategy, the values tried for each of its tunable settings (selection.strategies.TUNABLE)."""

    coverage: CoverageGrid = Field(default_factory=CoverageGrid, description="coverage's settings tried")
    active: ActiveGrid = Field(default_factory=ActiveGrid, description="active's settings tried")


# Flat lists of earlier versions -> (grid section, field).
LEGACY_KEYS: dict[str, tuple[str, str]] = {
    "trims": ("coverage", "trim"), "cover_mixes": ("coverage", "mix"), "group_orders": ("coverage", "order"),
    "active_seeds": ("active", "seed"), "active_batches": ("active", "batch"), "active_skips": ("active", "skip"),
    "active_Cs": ("active", "C"), "active_scores": ("active", "score"),
}
_noted: set[str] = set()


class TuneConfig(_Section):
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
    strategies: list[str] = Field(default_factory=list, description="selection strategies tried last, at the "
                                  "tuned weights and τ, against select.strategy (e.g. [coverage, active] for "
                                  "labelled data); the one with the best f on the tune part is written to the "
                                  "tuned config. Empty: the configured strategy stays")
    grid: GridConfig = Field(default_factory=GridConfig, description="each strategy's settings tried (tune/params.py: "
                             "one search for every strategy's settings, after the weights and τ)")
    random_seeds: int = Field(3, ge=1, le=20, description="random subsets of the same size, for the baseline")
    min_rows_weights: int = Field(500, ge=0, description="validation rows (the tune part) below which the weights "
                                  "are not searched, only τ and the strategy's settings: each weight is a free "
                                  "parameter a small validation file cannot pay for")
    guard: bool = Field(True, description="compare the tuned S, the configured S and a stratified random sample "
                        "with random subsets of the same size on the holdout (paired bootstrap); write the first "
                        "that beats random, else the stratified sample (tune/guard.py). Needs holdout > 0")

    @model_validator(mode="before")
    @classmethod
    def _into_grid(cls, data: Any) -> Any:
        """Move a flat list of earlier versions into `grid`, with a one-line note; the grid's other lists stay."""
        if not isinstance(data, dict) or not any(k in LEGACY_KEYS for k in data):
            return data
        data = dict(data)
        grid = data.get("grid")
        grid = grid.model_dump(exclude_unset=True) if isinstance(grid, BaseModel) else dict(grid or {})
        for key in [k for k in data if k in LEGACY_KEYS]:
            section, field = LEGACY_KEYS[key]
            sub = grid.get(section)
            sub = sub.model_dump(exclude_unset=True) if isinstance(sub, BaseModel) else dict(sub or {})
            sub[field] = data.pop(key)
            grid[section] = sub
            if key not in _noted:
                _noted.add(key)
                info(f"config: tune.{key} is deprecated; write tune.grid.{section}.{field}")
        data["grid"] = grid
        return data

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

    def grid_for(self, strategy: str) -> dict[str, list]:
        """The values to try for each setting of `strategy` that has values listed in `grid.<strategy>`, keyed
        by the setting's dotted path in select (`coverage.trim`); settings with no values listed are left out
        (they keep select's value)."""
        lists = getattr(self.grid, strategy, None)
        if lists is None:
            return {}
        return {f"{strategy}.{name}": list(values) for name, values in lists if values}

    def grids(self, strategies) -> dict[str, dict[str, list]]:
        """`grid_for` of each strategy that has a grid."""
        return {s: g for s in dict.fromkeys(strategies) if (g := self.grid_for(s))}


ACTIVE_GRID_KEYS = ("seed", "batch", "skip", "C", "score")


def parse_active_grid(text: str) -> dict[str, Any]:
    """`sft-select tune --active-grid "skip=0,0.5,1;C=0.3,1,3"` -> {"grid": {"active": {"skip": [0, 0.5, 1],
    ...}}}, tune overrides (keys seed, batch, skip, C, score, or select's old names active_seed, ...). Values are
    checked by TuneConfig when the overrides are merged."""
    from sft_select.core.errors import ConfigError

    out: dict[str, list] = {}
    for part in (p.strip() for p in text.replace(";", " ").split()):
        key, eq, values = part.partition("=")
        key = key.strip().removeprefix("active_").removeprefix("active.")
        if not eq or key not in ACTIVE_GRID_KEYS or not values.strip(","):
            raise ConfigError(f"--active-grid: '{part}' is not KEY=V1,V2 with KEY one of "
                              f"{', '.join(ACTIVE_GRID_KEYS)}")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if key != "score":
            try:
                items = [float(v) for v in items]
            except ValueError:
                raise ConfigError(f"--active-grid: {key} takes numbers, got '{values}'") from None
        out[key] = items
    return {"grid": {"active": out}}
