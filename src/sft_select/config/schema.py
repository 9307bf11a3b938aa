"""Typed configuration: one section per part, unknown keys are errors, YAML and CLI flags share fields.

The resolved config is saved in every run's manifest, and `sft-select run --config manifest-config.yaml`
reproduces the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sft_select.core.errors import ConfigError
from sft_select.core.textsafe import clip
from sft_select.evaluate.config import EvaluateConfig
from sft_select.preprocess.config import PreprocessConfig
from sft_select.selection.config import SelectConfig
from sft_select.tune.config import TuneConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(Strict):
    format: Literal["alpaca", "sharegpt", "openai", "prompt_completion", "text_label"] | None = Field(
        None, description="alpaca | sharegpt | openai | prompt_completion | text_label; unset: detected")
    fields: dict[str, str] = Field(default_factory=dict, description="canonical field -> input column, e.g. "
                                   "{instruction: question, output: answer}")
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="fail: stop at the first bad row (exit 2); skip: send it to rejected.jsonl")
    split: str = Field("train", description="the split read from a DatasetDict folder or a Hub dataset")


OUTPUT_FORMATS = ("same", "messages", "alpaca", "sharegpt", "prompt_completion", "text")


class OutputConfig(Strict):
    format: Literal["same", "messages", "alpaca", "sharegpt", "prompt_completion", "text"] = Field(
        "same", description="schema of the selected rows: same (the input's rows, as read), messages (TRL, "
        "axolotl chat_template), alpaca, sharegpt, prompt_completion or text")


class EmbeddingConfig(Strict):
    model: str = Field("static-minilm", description="static-minilm | hashing | sentence-transformers path")


class ViewSettings(Strict):
    weight: float | None = Field(None, ge=0, allow_inf_nan=False,
                                 description="unset: equal share of what the others leave")
    normalize: Literal["rank", "minmax", "zscore"] | None = Field(
        None, description="rank | minmax | zscore; unset: combine.normalize")
    floor: float | None = Field(None, ge=0, le=1, description="veto: normalized score below it is dropped")
    params: dict[str, Any] = Field(default_factory=dict, description="the view's own parameters (docs/views.md)")


class ViewsConfig(Strict):
    use: list[str] | None = Field(None, description="view names or groups; unset: the defaults for the data")
    settings: dict[str, ViewSettings] = Field(
        default_factory=dict, description="per view: weight, normalize, floor (a veto), params")


class CombineConfig(Strict):
    normalize: Literal["rank", "minmax", "zscore"] = Field(
        "rank", description="default normalization of raw view values to [0, 1]")
    weights: Literal["normalize", "strict"] = Field(
        "normalize", description="normalize: rescale weights to sum to 1; strict: reject if they do not")


class EngineConfig(Strict):
    name: Literal["local", "ray"] = Field("local", description="local: this machine's processes; ray: a Ray "
                                         "cluster (docs/engines.md)")
    ray_address: str | None = Field(None, description="ray: the cluster to join; unset: start a local one")
    chunk_size: int = Field(50_000, ge=1, description="examples per chunk of a streaming run")
    streaming: Literal["auto", "on", "off"] = Field(
        "auto", description="read the pool chunk by chunk instead of into memory; auto: when the inputs "
                            "exceed stream_above_mb")
    stream_above_mb: float = Field(256.0, ge=0, description="data size (MB, gzip and Parquet counted "
                                                            "decompressed) above which auto streams (~500k "
                                                            "Alpaca-sized rows)")
    fit_sample: int = Field(50_000, ge=1, description="examples the views are fit on in a streaming run "
                                                      "(a seeded sample; the whole pool if smaller)")
    workers: int | Literal["auto"] = Field(
        "auto", description="local engine: processes for the per-example steps (filters, shingling, "
                            "embedding, CPU views); auto: one per CPU. Pools under parallel_min run in one")
    parallel_min: int = Field(20_000, ge=2, description="local engine: examples below which a run uses one "
                                                        "process (starting workers has a fixed cost)")


class ReportConfig(Strict):
    enabled: bool = Field(True, description="write report.html and summary.json at the end of every run")
    max_points: int = Field(5000, ge=100, description="points on the embedding map (a stratified sample)")


class Config(Strict):
    seed: int = Field(0, description="all randomness (k-means, tie-breaks, proxy training) derives from it")
    input: InputConfig = Field(default_factory=InputConfig, description="how the input files are read")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig,
                                         description="filters and dedup, before any view scores")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig,
                                       description="the embedder shared by the views, strategies and proxies")
    views: ViewsConfig = Field(default_factory=ViewsConfig, description="which views score the pool, and how "
                               "each counts")
    combine: CombineConfig = Field(default_factory=CombineConfig, description="how the view scores become one")
    select: SelectConfig = Field(default_factory=SelectConfig, description="how much to keep, and by which "
                                 "strategy (each strategy's own settings in its sub-section)")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="where the work runs")
    report: ReportConfig = Field(default_factory=ReportConfig, description="report.html and summary.json")
    output: OutputConfig = Field(default_factory=OutputConfig, description="how the selected rows are written")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="the proxy that measures f(S) "
                                     "when tuning (run --validation, sft-select tune)")
    tune: TuneConfig = Field(default_factory=TuneConfig, description="the loop run with --validation")

    @model_validator(mode="after")
    def _views_named_exist(self) -> "Config":
        from sft_select.views.registry import registered

        unknown = set(self.views.settings) - set(registered())
        if unknown:
            raise ValueError(f"views.settings: unknown view(s) {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _strategies_named_exist(self) -> "Config":
        from sft_select.selection.strategies import REGISTRY

        if self.select.strategy != "auto" and self.select.strategy not in REGISTRY:
            raise ValueError(f"select.strategy: unknown '{self.select.strategy}'; choose from "
                             f"{['auto', *sorted(REGISTRY)]}")
        unknown = [s for s in self.tune.strategies if s not in REGISTRY]
        if unknown:
            raise ValueError(f"tune.strategies: unknown {unknown}; choose from {sorted(REGISTRY)}")
        return self


def _format_error(exc: ValidationError, source: str, labels: dict[str, str] | None = None) -> str:
    """One line per error: `source: location: message`. `labels` renames a location (a config key set by a
    command-line flag is named by the flag); a whole-config check's message that starts with a labelled key
    ("select.strategy: unknown …") is renamed the same way."""
    labels = labels or {}
    lines = []
    for err in exc.errors():
        loc = clip(".".join(str(p) for p in err["loc"]), 120) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else clip(err["msg"])
        if loc == "(top level)":
            body = msg.removeprefix("Value error, ")
            key = body.split(":", 1)[0]
            if key in labels:
                loc, msg = labels[key], body.split(":", 1)[1].strip()
        lines.append(f"{source}: {_label(loc, labels)}: {msg}")
    return "\n".join(lines)


def _label(loc: str, labels: dict[str, str]) -> str:
    """`loc` by its label, or by the label of the longest labelled key it lies under (`views.settings.q.weight`
    → `--weights (q.weight)`)."""
    if loc in labels:
        return labels[loc]
    under = [k for k in labels if loc.startswith(k + ".")]
    if not under:
        return loc
    key = max(under, key=len)
    return f"{labels[key]} ({loc[len(key) + 1:]})"


def build_config(data: dict[str, Any] | None = None, *, source: str = "config",
                 labels: dict[str, str] | None = None) -> Config:
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source, labels)) from None


# A config is a few hundred nodes. Aliases may repeat a part, but not blow it up: a 500-byte "billion
# laughs" config expands to 10^9 items, which anything walking it (validation, an error message quoting
# it) never finishes with. Limits: the nodes aliases add on expansion, and the nesting depth.
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 100


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a document whose aliases expand past MAX_ALIAS_EXPANSION nodes,
    aliases that contain themselves, and nesting deeper than MAX_DEPTH."""

    def compose_document(self):  # type: ignore[no-untyped-def]
        node = super().compose_document()
        _check_expansion(node, self.name)
        return node


def _check_expansion(root: yaml.Node | None, source: str) -> None:
    """Count the nodes of the document as constructed (every alias expanded) without expanding it:
    one pass over the distinct nodes, each node's expanded size memoized."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    distinct = 0
    # Iterative post-order walk: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    open_: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            continue
        if key in sizes:
            continue
        if key in open_:
            raise ConfigError(f"{source}: a YAML alias refers to a node that contains it (a recursive "
                              "structure); a config cannot hold one")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels; a config is never that deep")
        distinct += 1
        open_.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in open_:
                raise ConfigError(f"{source}: a YAML alias refers to a node that contains it (a recursive "
                                  "structure); a config cannot hold one")
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))
    expanded = sizes[id(root)]
    if expanded - distinct > MAX_ALIAS_EXPANSION:
        raise ConfigError(f"{source}: YAML aliases expand this config to {expanded:,} values (from {distinct:,} "
                          f"written); more than {MAX_ALIAS_EXPANSION:,} added by aliases is refused (an "
                          "alias bomb?)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_yaml(path: Path) -> Any:
    """A YAML file read with `_BoundedLoader` (safe: plain data only, aliases bounded)."""
    loader = _BoundedLoader(path.read_text(encoding="utf-8"))
    loader.name = str(path)  # errors and marks name the file, not "<unicode string>"
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML config (safe, aliases bounded) and apply CLI overrides given as nested dicts."""
    data: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        path = Path(path)
        source = str(path)
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder; --config takes a YAML file (`sft-select init` writes one)")
        try:
            loaded = load_yaml(path)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid YAML: {clip(exc, 500)}") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply to read; a config is never that deep") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping of sections")
        data = loaded
    merged = deep_merge(data, overrides or {})
    return build_config(merged, source=source)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
