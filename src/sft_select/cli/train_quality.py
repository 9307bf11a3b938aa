"""`sft-select train-quality`: fit a quality view on the user's own labels.

`--view quality_model` (the default: the command writes what it always wrote) fits that view's classifier
on good and bad examples: two files (`--good FILE --bad FILE`, every row of one kind) or one file whose
rows carry a 0/1 field (`--data FILE --label-field FIELD`); saved without pickle (views/quality_model.py).

`--view quality_learned` fits a ranking model in the shipped quality_learned format
(views/quality_learned_fit.py) on graded rows (`--data FILE --label-field FIELD`, any numeric scale) or on
preference pairs (`--pairs FILE`: prompt / chosen / rejected, strings or message lists); `--pairs` alone
implies it. Two-valued labels teach one contrast only: both views warn, and say so in the model's meta.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from rich.markup import escape

from sft_select.core import progress
from sft_select.core.errors import ConfigError, InputError
from sft_select.core.record import ASSISTANT_ROLES, Example, Turn

# True == 1 and False == 0 in a set: the booleans stand for the numbers too
_TRUE = {True, "1", "true", "good", "yes"}
_FALSE = {False, "0", "false", "bad", "no"}


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


def grade(value: Any) -> float | None:
    """A numeric grade (any scale; true/false, good/bad count as 1/0), or None."""
    flag = _flag(value)
    if flag is not None:
        return float(flag)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def grades_by_field(examples: Sequence[Example], field: str) -> list[float]:
    out = []
    for ex in examples:
        if field not in ex.original:
            raise InputError(ex.source, f"row {ex.row + 1} has no field '{field}'", field=field)
        g = grade(ex.original[field])
        if g is None:
            raise InputError(ex.source, f"row {ex.row + 1}: expected a number (a grade; higher = better), "
                                        f"got {ex.original[field]!r}", field=field)
        out.append(g)
    return out


_PROMPT_FIELDS = ("prompt", "instruction", "question")


def _turns(value: Any, path: Path, raw: Any, field: str, default_role: str) -> list[Turn]:
    """A string (one turn of `default_role`) or a list of {role, content} / {from, value} messages."""
    from sft_select.io.readers import row_error

    if isinstance(value, str):
        return [Turn(default_role, value)]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise row_error(path, "expected a string or a non-empty list of messages", raw, field=field)
    turns = []
    for k, msg in enumerate(value):
        role = msg.get("role", msg.get("from")) if isinstance(msg, dict) else None
        content = msg.get("content", msg.get("value")) if isinstance(msg, dict) else None
        if not isinstance(role, str) or not isinstance(content, (str, type(None))):
            raise row_error(path, "expected messages with a string 'role' and 'content'", raw, field=f"{field}[{k}]")
        r = role.strip().lower()
        turns.append(Turn("assistant" if r in ASSISTANT_ROLES else "system" if r == "system" else "user",
                          content or ""))
    return turns


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(prompt, answer) of the chosen and the rejected answer of each preference row: `prompt` (or
    instruction / question; a string or messages) + `chosen` / `rejected` (strings, or message lists that
    may hold the prompt themselves, as in UltraFeedback); the answer is the last assistant turn."""
    from sft_select.io.readers import read_rows, row_error
    from sft_select.views.quality_learned_fit import last_turn

    chosen, rejected = [], []
    for raw in read_rows(path):
        row = raw.data
        if row is None:
            raise row_error(path, raw.error or "unreadable row", raw)
        head = next((f for f in _PROMPT_FIELDS + ("messages",) if row.get(f) is not None), None)
        prompt = _turns(row[head], path, raw, head, "user") if head else []
        for field, out in (("chosen", chosen), ("rejected", rejected)):
            if row.get(field) is None:
                raise row_error(path, "missing required field (preference rows: prompt, chosen, rejected)", raw,
                                field=field)
            answer = _turns(row[field], path, raw, field, "assistant")
            own = any(t.role != "assistant" for t in answer)  # a conversation that holds its prompt
            if not head and not own:
                raise row_error(path, "no prompt: give a 'prompt' field, or chosen/rejected as conversations "
                                      "(message lists with the user's turn)", raw, field="prompt")
            turns = answer if own else prompt + answer
            if turns[-1].role != "assistant":
                raise row_error(path, "the last message is not an assistant's answer", raw, field=field)
            out.append(last_turn(Example(id="", source=str(path), row=raw.index, format="pairs", original={},
                                         turns=tuple(turns))))
    if not chosen:
        raise InputError(path, "no preference pairs in the file")
    return chosen, rejected


def _warn(message: str) -> None:
    progress.info(f"[yellow]warning:[/yellow] {escape(message)}")


def learned_out(out: Path) -> Path:
    """--out for quality_learned: a .npz file, or a folder to put quality_learned.npz in."""
    return out / "quality_learned.npz" if out.is_dir() or not out.suffix else out


def train_learned(*, data: Path | None, label_field: str | None, pairs: Path | None, out: Path, embedder: str,
                  fmt: str | None, seed: int) -> dict[str, Any]:
    from sft_select.io.load import load
    from sft_select.views import quality_learned_fit as qlf

    if (data is None) == (pairs is None) or (data is not None and not label_field) or (pairs and label_field):
        raise ConfigError("--view quality_learned: give either --data FILE --label-field FIELD (graded labels) "
                          "or --pairs FILE (prompt, chosen, rejected)")
    if data is not None:
        examples = load([data], fmt=fmt).examples
        model = qlf.fit_graded(examples, grades_by_field(examples, label_field), embedder=embedder, seed=seed)
        model["meta"]["labels"]["field"] = label_field
    else:
        chosen, rejected = read_pairs(pairs)
        model = qlf.fit_preferences(chosen, rejected, embedder=embedder, seed=seed)
    model["meta"]["trained_on"] = [str(p) for p in (data, pairs) if p is not None]
    path = qlf.write_model(model, learned_out(out))
    return {**model["meta"], "path": str(path)}


def split_by_field(examples: Sequence[Example], field: str) -> tuple[list[Example], list[Example]]:
    """Good and bad examples by a 0/1 (or true/false, good/bad) field of each original row."""
    good, bad = [], []
    for ex in examples:
        if field not in ex.original:
            raise InputError(ex.source, f"row {ex.row + 1} has no field '{field}'", field=field)
        flag = _flag(ex.original[field])
        if flag is None:
            hint = " (graded labels: train --view quality_learned)" if grade(ex.original[field]) is not None else ""
            raise InputError(ex.source, f"row {ex.row + 1}: expected 0/1 or true/false, got {ex.original[field]!r}"
                             + hint, field=field)
        (good if flag else bad).append(ex)
    return good, bad


TWO_CLASSES = ("quality_model learns the contrast between the good and the bad examples only and will not "
               "order answers between them; to rank graded quality, train --view quality_learned on graded "
               "labels or preference pairs")


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
    model.meta["warning"] = TWO_CLASSES
    model.store(out)
    return model.meta


def register(app: typer.Typer, guarded) -> None:
    @app.command("train-quality")
    @guarded
    def train_quality_cmd(
            good: Optional[Path] = typer.Option(None, "--good", help="Examples of good quality (every row)."),
            bad: Optional[Path] = typer.Option(None, "--bad", help="Examples of bad quality (every row)."),
            data: Optional[Path] = typer.Option(None, "--data", help="One file whose rows carry --label-field."),
            label_field: Optional[str] = typer.Option(
                None, "--label-field", help="The label field of --data: 0/1 (quality_model), or a numeric grade, "
                                            "higher = better (quality_learned)."),
            pairs: Optional[Path] = typer.Option(
                None, "--pairs", help="Preference rows: prompt (or messages) + chosen + rejected, strings or "
                                      "message lists; trains quality_learned."),
            view: Optional[str] = typer.Option(
                None, "--view", help="quality_model (default; a good/bad classifier, --out DIR) or "
                                     "quality_learned (a ranking model, --out FILE.npz; the default with --pairs)."),
            out: Path = typer.Option(..., "--out", "-o", help="Where to write the model: a folder (quality_model), "
                                                              "a .npz file or a folder (quality_learned)."),
            embedder: str = typer.Option("static-minilm", "--embedder", help="Embedding model of the features."),
            fmt: Optional[str] = typer.Option(None, "--format", help="Input format, if detection fails."),
            C: float = typer.Option(1.0, "--C", help="quality_model: inverse regularization of its logistic "
                                                     "regression (quality_learned picks its own by CV)."),
            seed: int = typer.Option(0, "--seed")) -> None:
        """Train quality_model (good/bad) or quality_learned (graded labels or preference pairs) on your labels;
        use it with views.settings.<view>.params.path."""
        chosen = view or ("quality_learned" if pairs is not None else "quality_model")
        if chosen == "quality_learned":
            if good is not None or bad is not None:
                raise ConfigError("--good/--bad train quality_model; quality_learned takes --data FILE "
                                  "--label-field FIELD (graded) or --pairs FILE")
            meta = train_learned(data=data, label_field=label_field, pairs=pairs, out=out, embedder=embedder,
                                 fmt=fmt, seed=seed)
            if meta["warning"]:
                _warn(meta["warning"])
            cv, n = meta["cv"], meta["pairs"]["count"]
            how = (f"{cv['folds']}-fold held-out pair accuracy {cv['pair_accuracy']:.3f}"
                   + (f", Spearman with the grade {cv['spearman_grade']:+.3f}" if "spearman_grade" in cv else "")
                   if cv else "too few prompts to cross-validate")
            progress.info(f"Trained quality_learned on {n:,} pairs of {meta['answers']:,} answers: {how} → "
                          f"{escape(meta['path'])}\nUse it with views.settings.quality_learned.params.path: "
                          f"{escape(meta['path'])}")
            return
        if chosen != "quality_model":
            raise ConfigError(f"--view: expected quality_model or quality_learned, got '{chosen}'")
        if pairs is not None:
            raise ConfigError("--pairs trains quality_learned: use --view quality_learned (or leave --view out)")
        meta = train_quality(good=good, bad=bad, data=data, label_field=label_field, out=out,
                             embedder=embedder, fmt=fmt, C=C, seed=seed)
        _warn(TWO_CLASSES)
        cv = meta["cv"]
        progress.info(f"Trained on {meta['good']} good and {meta['bad']} bad examples: "
                      f"{cv['folds']}-fold AUC {cv['auc']:.3f}, accuracy {cv['accuracy']:.3f} → {out}")
