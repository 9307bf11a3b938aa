"""Registered views by name; `--views` picks them by name or by group."""
from __future__ import annotations

import importlib
from typing import Any, Iterable

from sft_select.core.errors import ConfigError
from sft_select.views.base import GROUPS, View

_REGISTRY: dict[str, type[View]] = {}

# The built-in views, one module each: adding a view is its module plus one line here. Imported by name
# on first use (not at import time), so `views` never imports its own package back.
BUILTIN = ("difficulty_margin", "diversity", "quality_heuristic", "quality_label", "quality_learned",
           "quality_model", "quality_reward", "relevance_dsir", "relevance_embedding", "relevance_learned",
           "lm_difficulty", "lm_quality")  # the LM views load torch lazily, in fit


def register(cls: type[View]) -> type[View]:
    """Class decorator: make a view available by its `name`."""
    if cls.group not in GROUPS:
        raise ValueError(f"{cls.__name__}.group must be one of {GROUPS}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two views are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    for module in BUILTIN:
        importlib.import_module(f"sft_select.views.{module}")  # its @register runs on import


def registered() -> dict[str, type[View]]:
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def resolve_names(selectors: Iterable[str]) -> list[str]:
    """Expand names and group names (`quality` = every quality scorer) into view names, in order."""
    views = registered()
    names: list[str] = []
    for sel in selectors:
        sel = sel.strip()
        if not sel:
            continue
        if sel in views:
            picked = [sel]
        elif sel in GROUPS:
            picked = [n for n, cls in views.items() if cls.group == sel]
        else:
            raise ConfigError(f"unknown view '{sel}'; known views: {', '.join(views)}; groups: {', '.join(GROUPS)}")
        names.extend(n for n in picked if n not in names)
    return names


def build(name: str, params: dict[str, Any] | None = None) -> View:
    """Construct a view from config; an unknown parameter is an error that names it."""
    cls = registered().get(name)
    if cls is None:
        raise ConfigError(f"unknown view '{name}'")
    params = dict(params or {})
    unknown = set(params) - set(cls.param_names())
    if unknown:
        raise ConfigError(f"views.settings.{name}.params: unknown key(s) {sorted(unknown)}; "
                          f"{name} takes {cls.param_names()}")
    params = _typed(cls, name, params)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"views.settings.{name}.params: {exc}") from None


def _typed(cls: type[View], name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Parameters checked against the constructor's annotations (pydantic, lax: "5" is 5, "five" is an
    error naming the key), so a wrong type fails here, not as a traceback deep inside scoring."""
    import typing

    from pydantic import TypeAdapter, ValidationError

    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve: leave the values to the constructor
        return params
    out = {}
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:
            out[key] = value
            continue
        try:
            out[key] = TypeAdapter(hint).validate_python(value)
        except ValidationError as exc:
            wanted = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            raise ConfigError(f"views.settings.{name}.params.{key}: {value!r} is not a valid {wanted} "
                              f"({exc.errors()[0]['msg']})") from None
    return out
