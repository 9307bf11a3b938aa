"""Scorers of examples ("views"), one module per view; `registry.BUILTIN` lists the built-in ones."""
from sft_select.views.base import View, ViewResult
from sft_select.views.registry import build, register, registered, resolve_names

__all__ = ["View", "ViewResult", "build", "register", "registered", "resolve_names"]
