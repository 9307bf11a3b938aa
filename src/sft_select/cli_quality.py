"""`sft-select train-quality`: fit the quality_model view's classifier on good and bad examples.

Either two files (`--good FILE --bad FILE`, every row of one kind) or one file whose rows carry a 0/1
field (`--data FILE --label-field FIELD`). The model is saved without pickle (see views/quality_model.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import typer

from sft_select import progress
from sft_select.errors import ConfigError, InputError
from sft_select.record import Example

_TRUE = {True, 1, "1", "true", "good", "yes"}
_FALSE = {False, 0, "0", "false", "bad", "no"}


def _flag(value: Any) -> bool | None:
    if isinstance(value, (list, dict)):
        return None
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, float) and key in (0.0, 1.0):
        key = int(key)
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def split_by_field(examples: Sequence[Example], field: str) -> tuple[list[Example], list[Example]]:
    """Good and bad examples by a 0/1 (or true/false, good/bad) field of each original row."""
    good, bad = [], []
    for ex in examples:
        if field not in ex.original:
            raise InputError(ex.source, f"row {ex.row} has no field '{field}'", field=field)
        flag = _flag(ex.original[field])
        if flag is None:
            raise InputError(ex.source, f"row {ex.row}: expected 0/1 or true/false, got {ex.original[field]!r}",
                             field=field)
        (good if flag else bad).append(ex)
    return good, bad


def train_quality(*, good: Path | None, bad: Path | None, data: Path | None, label_field: str | None, out: Path,
                  embedder: str, fmt: str | None, C: float, seed: int) -> dict[str, Any]:
    from sft_select.io.load import load
    from sft_select.views.quality_model import train_quality_model

    if data is not None:
        if good is not None or bad is not None or not label_field:
            raise ConfigError("give either --good FILE --bad FILE, or --data FILE --label-field FIELD")
        good_ex, bad_ex = split_by_field(load([data], fmt=fmt).examples, label_field)
    else:
        if good is None or bad is None or label_field:
            raise ConfigError("give either --good FILE --bad FILE, or --data FILE --label-field FIELD")
        good_ex, bad_ex = load([good], fmt=fmt).examples, load([bad], fmt=fmt).examples
    model = train_quality_model(good_ex, bad_ex, embedder=embedder, C=C, seed=seed)
    model.meta["trained_on"] = [str(p) for p in (good, bad, data) if p is not None]
    model.store(out)
    return model.meta


def register(app: typer.Typer, guarded) -> None:
    @app.command("train-quality")
    @guarded
    def train_quality_cmd(
            good: Optional[Path] = typer.Option(None, "--good", help="Examples of good quality (every row)."),
            bad: Optional[Path] = typer.Option(None, "--bad", help="Examples of bad quality (every row)."),
            data: Optional[Path] = typer.Option(None, "--data", help="One file with a 0/1 field per row."),
            label_field: Optional[str] = typer.Option(None, "--label-field", help="The 0/1 field of --data."),
            out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model to."),
            embedder: str = typer.Option("static-minilm", "--embedder", help="Embedding model of the features."),
            fmt: Optional[str] = typer.Option(None, "--format", help="Input format, if detection fails."),
            C: float = typer.Option(1.0, "--C", help="Inverse regularization of the logistic regression."),
            seed: int = typer.Option(0, "--seed")) -> None:
        """Train the quality_model view's classifier; use it with views.settings.quality_model.params.path."""
        meta = train_quality(good=good, bad=bad, data=data, label_field=label_field, out=out,
                             embedder=embedder, fmt=fmt, C=C, seed=seed)
        cv = meta["cv"]
        progress.info(f"Trained on {meta['good']} good and {meta['bad']} bad examples: "
                      f"{cv['folds']}-fold AUC {cv['auc']:.3f}, accuracy {cv['accuracy']:.3f} → {out}")
