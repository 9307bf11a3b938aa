"""`sft-select init` writes the config schema itself: every field, its default, its description."""
from __future__ import annotations

import yaml
from pydantic import BaseModel

from sft_select.cli.init import EXAMPLES, example_config
from sft_select.config.schema import Config, build_config


def _paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out += _paths(field.annotation, f"{prefix}{name}.")
    return out


def test_the_example_parses_into_config_with_the_defaults_but_the_examples():
    data = yaml.safe_load(example_config())
    cfg = build_config(data)
    assert cfg.select.n == 1000 and cfg.views.settings["relevance_embedding"].params == {"k": 5}
    without = build_config({})
    for path in EXAMPLES:  # the examples aside, everything is the default
        section, _, field = path.rpartition(".")
        setattr(getattr(cfg, section), field, getattr(getattr(without, section), field))
    assert cfg == without


def test_every_schema_field_appears_in_it():
    data = yaml.safe_load(example_config())
    missing = []
    for path in _paths(Config):
        node = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    assert not missing, f"not in `sft-select init`'s config: {missing}"


def test_descriptions_become_comments():
    text = example_config()
    assert "# skip an example whose cosine similarity to one already taken exceeds this" in text
    assert all(len(line) <= 120 for line in text.splitlines())
