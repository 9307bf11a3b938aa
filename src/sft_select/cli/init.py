"""`sft-select init`: the example config, generated from the config schema so it cannot drift.

Every field of `Config` is written with its default (or the example value below), its description as the
comment above it, and each section's docstring above the section. Tests check that the text parses into
`Config` and that every schema field appears in it.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from sft_select.config.schema import Config
from sft_select.core.errors import RunDirError
from sft_select.io.atomic import atomic_open

HEADER = """\
# sft-select config, written by `sft-select init` from the config schema (sft_select/config/schema.py).
# Every key is optional and shown with its default unless marked "example"; unknown keys are errors.
# CLI flags override these values. The resolved config of a run is saved in its manifest.
"""

# Values that show how a section is used, where the default (empty, unset) would not.
EXAMPLES: dict[str, Any] = {
    "select.n": 1000,
    "views.settings": {"quality_heuristic": {"weight": 0.5}, "relevance_embedding": {"weight": 0.5,
                                                                                      "params": {"k": 5}}},
}

WIDTH = 116


def _flow(value: Any) -> str:
    """One value as inline YAML (`auto`, `null`, `[0.25, 0.5]`, `{k: 5}`)."""
    text = yaml.safe_dump([value], default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000)
    return text.strip()[1:-1]


def _comment(text: str, indent: str) -> list[str]:
    text = " ".join(text.split())
    return textwrap.wrap(text, WIDTH - len(indent) - 2, initial_indent=f"{indent}# ",
                         subsequent_indent=f"{indent}# ", break_on_hyphens=False)


def _lines(model: type[BaseModel], instance: BaseModel, prefix: str, depth: int) -> list[str]:
    indent = "  " * depth
    out: list[str] = []
    for name, field in type(instance).model_fields.items():
        path = f"{prefix}{name}"
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            out.append("")
            doc = field.description or (type(value).__doc__ or "")
            out += _comment(doc, indent) if doc.strip() else []
            out.append(f"{indent}{name}:")
            out += _lines(type(value), value, f"{path}.", depth + 1)
            out.append("")
            continue
        if field.description:
            out += _comment(field.description, indent)
        example = path in EXAMPLES
        shown = EXAMPLES[path] if example else (value.model_dump(mode="json") if isinstance(value, BaseModel)
                                                else _plain(value))
        out.append(f"{indent}{name}: {_flow(shown)}" + ("  # example" if example else ""))
    return out


def _plain(value: Any) -> Any:
    """A default as YAML writes it back (models and tuples as mappings and lists)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def example_config() -> str:
    """The commented example config: every field of `Config`, by section."""
    lines = _lines(Config, Config(), "", 0)
    text = "\n".join(lines).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return HEADER + "\n" + text + "\n"


def write_example_config(path: Path, *, force: bool = False) -> None:
    if path.exists() and not force:
        raise RunDirError(f"{path}: exists; pass --force to overwrite")
    with atomic_open(path) as fh:
        fh.write(example_config())
