"""The preprocessing steps, in the order every engine runs them:

  filters → decontaminate → exact_dedup → near_dedup → semantic_dedup

A step is a small object: its name (the manifest's `steps` entry), whether the config turns it on, and
its work, of one of two kinds:
- a *drop* step gives a reason for each example it removes (`filter_*`, `decontaminated: <file>`); a
  dropped example is seen by no later step, nor scored. Both engines call the same `drop` function: the
  in-memory pipeline over the pool, the streaming engine over each chunk.
- a *link* step joins duplicates into clusters; which member stays is decided after scoring
  (`clusters.resolve`). Linking compares the whole pool: the in-memory pipeline calls `link`. A streamed
  run cannot hold the pool, so the step also declares itself split in two (`Streamed`): `keep`, per
  chunk, arrays about the chunk's live examples, saved with the chunk; `link`, after the pass, over
  every chunk's arrays (`saved.SavedRows`). The streaming engine reads both from the declaration and
  refuses a link step without one.
Steps after exact dedup compare one member per exact-duplicate cluster: identical contents add nothing
but work.

Adding a step: a module with its functions, and one `Step(...)` line in STEPS naming them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from sft_select.core.record import Example
from sft_select.preprocess import stream_links
from sft_select.preprocess.clusters import DuplicateClusters
from sft_select.preprocess.config import PreprocessConfig
from sft_select.preprocess.saved import SavedRows


@dataclass
class StepInputs:
    """What a run gives its steps beside the config: the decontamination files the command named (added
    to the config's), the run's embedder, its executor, and per-example results computed while the input
    was read (`known`: "filters" -> {position: reason or None}, "dedup_keys" -> a key per example)."""

    extra_eval_files: Sequence[str | Path] = ()
    embedder: str = "static-minilm"
    executor: Any = None
    known: dict[str, Any] = field(default_factory=dict)
    _evals: dict[tuple, list] = field(default_factory=dict)

    def eval_files(self, cfg: PreprocessConfig) -> list[Path]:
        return [Path(f) for f in (*cfg.decontaminate.files, *self.extra_eval_files)]

    def evals(self, cfg: PreprocessConfig) -> list:
        """The evaluation files' n-gram tables, read once per run (a streaming run asks once per chunk)."""
        from sft_select.preprocess.decontam import eval_ngrams

        key = (tuple(self.eval_files(cfg)), cfg.decontaminate.model_dump_json())
        if key not in self._evals:
            self._evals[key] = [eval_ngrams(f, cfg.decontaminate) for f in self.eval_files(cfg)]
        return self._evals[key]


# drop(examples, positions, cfg, inputs) -> ({position: reason} of the dropped, details for the manifest)
DropFn = Callable[[Sequence[Example], Sequence[int], PreprocessConfig, StepInputs], tuple[dict[int, str], dict]]
# link(examples, positions, clusters, cfg, inputs) -> details for the manifest; `positions`: the examples
# to compare (one per exact-duplicate cluster once exact dedup has run)
LinkFn = Callable[[Sequence[Example], Sequence[int], DuplicateClusters, PreprocessConfig, StepInputs], dict]
# keep(examples, positions, cfg, inputs) -> {name: array}: a chunk's arrays for the global half, about the
# live examples at `positions` (one row each, or any shape the step's `link` reads back)
KeepFn = Callable[[Sequence[Example], Sequence[int], PreprocessConfig, StepInputs], dict[str, Any]]
# link(saved, cfg, inputs) -> details for the manifest, after the pass
SavedLinkFn = Callable[[SavedRows, PreprocessConfig, StepInputs], dict]


@dataclass(frozen=True)
class Streamed:
    """A link step split for a streamed run: `keep` per chunk, `link` after the pass (saved.py)."""

    keep: KeepFn
    link: SavedLinkFn
    # `keep` runs after the chunk's views are scored, so it can reuse the embeddings they made
    after_views: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    enabled: Callable[[PreprocessConfig, StepInputs], bool]
    drop: DropFn | None = None
    link: LinkFn | None = None
    streamed: Streamed | None = None  # a link step's split for a streamed run
    # A link step whose clusters later link steps take one member of (exact dedup: identical contents);
    # its streamed `link` sets `SavedRows.distinct_rows`.
    narrows: bool = False
    # A link step that compares pairs: nothing to do with fewer than two examples.
    pairs: bool = False

    @property
    def kind(self) -> str:
        return "drop" if self.drop is not None else "link"


def _filters(examples, positions, cfg, inputs):
    from sft_select.preprocess.filters import apply_filters, reason_counts

    drops = apply_filters(examples, positions, cfg.filters, known=inputs.known.get("filters"))
    return drops, {"dropped": reason_counts(drops)}


def _decontaminate(examples, positions, cfg, inputs):
    from sft_select.preprocess.decontam import contaminated

    evals = inputs.evals(cfg)
    names = contaminated([examples[p].content for p in positions], evals, cfg.decontaminate)
    stats = {"files": {e.name: {"items": e.items, "too_short_to_check": e.unchecked,
                                "dropped": sum(1 for n in names if n == e.name)} for e in evals}}
    drops = {p: f"decontaminated: {n}" for p, n in zip(positions, names) if n}
    return drops, {"ngram": cfg.decontaminate.ngram, **stats}


def _exact(examples, positions, clusters, cfg, inputs):
    from sft_select.preprocess.exact import link_exact

    link_exact(examples, clusters, positions, inputs.executor, known=inputs.known.get("dedup_keys"))
    return {}


def _near(examples, positions, clusters, cfg, inputs):
    from sft_select.preprocess.fields import field_text
    from sft_select.preprocess.near import link_near

    near = link_near([field_text(examples[p], cfg.near.field) for p in positions], positions, clusters, cfg.near,
                     inputs.executor)
    return {"threshold": cfg.near.threshold, "ngram": cfg.near.ngram, "num_perm": cfg.near.num_perm, **near.stats()}


def _semantic(examples, positions, clusters, cfg, inputs):
    from sft_select.preprocess.semantic import link_semantic

    sem = link_semantic(examples, positions, clusters, cfg.semantic, inputs.embedder)
    return {"threshold": cfg.semantic.threshold, "model": cfg.semantic.model or inputs.embedder, **sem.stats()}


STEPS: tuple[Step, ...] = (
    Step("filters", lambda cfg, inputs: cfg.filters.enabled, drop=_filters),
    Step("decontaminate", lambda cfg, inputs: bool(inputs.eval_files(cfg)), drop=_decontaminate),
    Step("exact_dedup", lambda cfg, inputs: cfg.exact_dedup, link=_exact, narrows=True,
         streamed=Streamed(stream_links.keep_keys, stream_links.link_keys)),
    Step("near_dedup", lambda cfg, inputs: cfg.near.enabled, link=_near, pairs=True,
         streamed=Streamed(stream_links.keep_bands, stream_links.link_bands)),
    Step("semantic_dedup", lambda cfg, inputs: cfg.semantic.enabled, link=_semantic, pairs=True,
         streamed=Streamed(stream_links.keep_semantic, stream_links.link_semantic, after_views=True)),
)


def enabled_steps(cfg: PreprocessConfig, inputs: StepInputs) -> list[Step]:
    """The steps this config runs, in order."""
    return [step for step in STEPS if step.enabled(cfg, inputs)]
